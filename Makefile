# Frontdesk: `make run` builds and starts the server; `make test` installs what
# the tests need (Debian packages) and runs them all. `make bench` prints figures.

GO        ?= go
BIN       := bin/frontdesk
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# The default build is pure Go.
export CGO_ENABLED ?= 0

# Debian packages the end-to-end tests drive: real SIP phones (baresip),
# sipp (sip-tester), audio tools; debootstrap makes the Debian sid root the
# whisper engine is tested in and the .deb installed into; chromium runs the
# browser tests (cmd/frontdesk/e2e_browser_test.go, driven by chromedp);
# systemd brings systemd-analyze, which checks the unit.
TEST_PACKAGES := baresip sip-tester sox espeak-ng debootstrap chromium systemd

# Test artifacts (the browser tests' screenshots, one folder per test) go
# here; they are kept, and .gitignore'd.
export FRONTDESK_ARTIFACTS ?= $(CURDIR)/artifacts

# Packages with `whisper`-tagged code, tested in the sid root by test-whisper
# (a pattern that matches nothing yet is left out), and the end-to-end tests
# of ./cmd/frontdesk that test-whisper runs there too, against a server built
# with -tags whisper (the others need tools only the host has).
WHISPER_TEST_PKGS := ./media/whisper/... ./pbx/transcriber/...
WHISPER_E2E_TESTS := TestKillDuringDeposits

# Fuzz targets run briefly on every `make test`: package:FuzzName.
FUZZ_TARGETS := ./pbx/sipauth:FuzzVerify ./pbx:FuzzRegister ./pbx:FuzzParseInfoDigit ./media:FuzzReadWAV \
	./pbx:FuzzCheckOffer ./pbx:FuzzPlanOutbound ./pbx:FuzzMenuDigits ./pbx:FuzzParseHours ./store:FuzzSearchQuery \
	./ui:FuzzInboxQuery ./ui:FuzzGreetingUpload ./pbx:FuzzParseDestination ./pbx:FuzzParsePortRange \
	./pbx/notify:FuzzWebhookVerify ./pbx:FuzzSIPRequest
FUZZTIME     ?= 15s

.PHONY: build build-whisper run test test-deps vet unit fuzz test-whisper test-packaging deb deb-whisper bench bench-whisper bench-compare soak clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/frontdesk

run: build
	./$(BIN) serve

test: test-deps vet unit fuzz test-whisper test-packaging

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

# The transcription engine: cgo against Debian's libwhisper, which only sid
# has (built with sid's glibc), so it is built and tested in a Debian sid
# root. packaging/sidroot.sh makes that once (about a minute, 1.3 GB in
# /var/tmp/frontdesk-sid, or $FRONTDESK_SIDROOT) and reuses it afterwards.
# FRONTDESK_TEST_MODEL=/path/to/ggml-base.en.bin adds the accuracy test.
test-whisper:
	GO=$(GO) packaging/sidroot.sh sh -c 'pkgs=""; \
		for p in $(WHISPER_TEST_PKGS); do \
			[ -n "$$(go list -tags whisper $$p 2>/dev/null)" ] && pkgs="$$pkgs $$p"; \
		done; \
		echo "go test -tags whisper$$pkgs (in the Debian sid root)"; \
		go test -count=1 -timeout 20m -tags whisper $$pkgs && \
		echo "go test -tags whisper -run $(WHISPER_E2E_TESTS) ./cmd/frontdesk (in the Debian sid root)" && \
		go test -count=1 -timeout 20m -tags whisper -run "^($(WHISPER_E2E_TESTS))$$" ./cmd/frontdesk'

# A binary with the transcription engine, linked against Debian sid's
# libwhisper in the sid root: it runs where libwhisper1 is installed
# (Debian sid/forky), or inside that root.
#
# WHISPER_DIR=DIR builds on this machine instead, against a whisper.cpp
# checkout built with `cmake -B build && cmake --build build` in DIR (its
# headers and build/ libraries, through packaging/whisper-dir-pkg-config).
WHISPER_DIR ?=
build-whisper:
ifeq ($(WHISPER_DIR),)
	GO=$(GO) packaging/sidroot.sh sh -c 'go build -tags whisper -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)-whisper ./cmd/frontdesk'
	@echo "built $(BIN)-whisper (needs libwhisper1; run it with packaging/sidroot.sh $(BIN)-whisper ...)"
else
	WHISPER_DIR=$(abspath $(WHISPER_DIR)) PKG_CONFIG=$(CURDIR)/packaging/whisper-dir-pkg-config CGO_ENABLED=1 \
		$(GO) build -tags whisper -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)-whisper ./cmd/frontdesk
	@echo "built $(BIN)-whisper against $(WHISPER_DIR)"
endif

# Debian packages, built from Go by nfpm (v2.46 and later need modules the
# module proxy here doesn't serve). Versions count commits: 0.N+gHASH.
NFPM        := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
DEB_VERSION ?= 0.$(shell git rev-list --count HEAD 2>/dev/null || echo 0)+g$(shell git rev-parse --short HEAD 2>/dev/null || echo 0)
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)

deb:
	rm -rf dist/stage && mkdir -p dist/stage
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/stage/frontdesk ./cmd/frontdesk
	PKG_NAME=frontdesk CONFLICTS=frontdesk-whisper DEPENDS_WHISPER= VERSION='$(DEB_VERSION)' ARCH=$(DEB_ARCH) \
		$(NFPM) package -f packaging/nfpm.yaml -p deb -t dist/frontdesk_$(DEB_VERSION)_$(DEB_ARCH).deb

# The same with the transcription engine, for Debian releases that ship
# libwhisper1 (sid/forky): built in the sid root.
deb-whisper:
	rm -rf dist/stage && mkdir -p dist/stage
	GO=$(GO) packaging/sidroot.sh sh -c 'go build -tags whisper -trimpath -ldflags "$(LDFLAGS)" -o dist/stage/frontdesk ./cmd/frontdesk'
	PKG_NAME=frontdesk-whisper CONFLICTS=frontdesk DEPENDS_WHISPER=libwhisper1 VERSION='$(DEB_VERSION)' ARCH=$(DEB_ARCH) \
		$(NFPM) package -f packaging/nfpm.yaml -p deb -t dist/frontdesk-whisper_$(DEB_VERSION)_$(DEB_ARCH).deb

# The unit with systemd-analyze verify, the .deb with dpkg-deb, and an
# install, serve, upgrade and purge in a debootstrapped Debian 12 root.
test-packaging: deb
	packaging/check-deb.sh dist/frontdesk_$(DEB_VERSION)_$(DEB_ARCH).deb

bench: test-deps
	$(GO) test -tags bench -run 'TestBench' -skip 'TestBenchCompare' -v -count=1 -timeout 30m ./cmd/frontdesk
	$(MAKE) --no-print-directory bench-whisper
	$(MAKE) --no-print-directory bench-compare

# Frontdesk and Asterisk (Debian sid's package, installed into the sid root
# on first use) on this machine, with the same SIPp scenarios, extensions
# and voicemail box, alternating step by step: registrations per second,
# concurrent 30 s deposits held without loss, CPU per call, and the ratios.
SID_ASTERISK := asterisk asterisk-core-sounds-en-gsm
bench-compare: test-deps
	FRONTDESK_SID_EXTRA='$(SID_ASTERISK)' GO=$(GO) packaging/sidroot.sh asterisk -V
	$(GO) test -tags bench -run '^TestBenchCompare$$' -v -count=1 -timeout 60m ./cmd/frontdesk

# An hour (FRONTDESK_SOAK=1h, or another Go duration) of voicemail deposits
# at one call a second while the phones re-register: prints memory,
# goroutines and file descriptors as it goes, and fails on a lost message
# or on resources that do not come back after the calls.
soak: test-deps
	$(GO) test -tags bench -run '^TestSoak$$' -v -count=1 -timeout 3h ./cmd/frontdesk

# Transcription speed in the sid root: real-time factor for 30 s and 120 s
# messages next to Debian's whisper-cli (same libwhisper, model and threads),
# and hangup to transcript stored. The tiny generated model unless
# FRONTDESK_TEST_MODEL=/path/to/ggml-base.en.bin names a real one.
bench-whisper:
	GO=$(GO) packaging/sidroot.sh go test -tags 'bench whisper' -run TestBenchTranscription -v -count=1 -timeout 30m ./pbx/transcriber

clean:
	rm -rf bin dist
