# Frontdesk: `make run` builds and starts the server; `make test` installs what
# the tests need (Debian packages) and runs them all. `make bench` prints figures.

GO        ?= go
BIN       := bin/frontdesk
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# The default build is pure Go.
export CGO_ENABLED ?= 0

# Debian packages the end-to-end tests drive: real SIP phones (baresip),
# sipp (sip-tester), audio tools.
TEST_PACKAGES := baresip sip-tester sox espeak-ng

# Fuzz targets run briefly on every `make test`: package:FuzzName.
FUZZ_TARGETS := ./pbx/sipauth:FuzzVerify ./pbx:FuzzRegister ./media:FuzzReadWAV
FUZZTIME     ?= 15s

.PHONY: build run test test-deps vet unit fuzz bench clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/frontdesk

run: build
	./$(BIN) serve

test: test-deps vet unit fuzz

# Installs only what is missing; needs root or sudo.
test-deps:
	@missing=""; for p in $(TEST_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

unit:
	$(GO) test -count=1 -timeout 20m ./...

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

bench: test-deps
	$(GO) test -tags bench -run 'TestBench' -v -count=1 -timeout 30m ./cmd/frontdesk

clean:
	rm -rf bin
