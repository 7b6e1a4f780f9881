#!/usr/bin/env bash
# Runs a command in a Debian sid root, where Debian's own libwhisper-dev and
# libggml-dev exist (Debian 12 has neither; sid's build needs sid's glibc).
# The `whisper`-tagged Go code is built and tested there, and benchmarked
# against Debian's whisper-cli (whisper.cpp-tools, which brings ffmpeg's
# libraries along):
#
#   packaging/sidroot.sh go test -tags whisper ./media/whisper/...
#   packaging/sidroot.sh            # an interactive shell in the root
#
# The root is made once with debootstrap (40 s to 90 s, 1.3 GB) and kept at
# /var/tmp/frontdesk-sid, or $FRONTDESK_SIDROOT; later runs reuse it. Each
# run happens in a private mount namespace: the repository is bind-mounted
# at /src and the host's Go at /usr/local/go (read-only), and everything
# mounted is unmounted on exit. Go's module and build caches live in the
# root, so they are warm from the second run on. If FRONTDESK_TEST_MODEL
# names a model file, it is mounted read-only in the root and the variable
# points there. FRONTDESK_SID_EXTRA="pkg ..." installs more Debian packages
# into the root if they are missing (`make bench-compare` adds asterisk
# this way) without making the root anew. Needs root (re-runs itself with
# sudo).
set -euo pipefail

# A change to this list changes the marker, so an existing root is made anew.
readonly PACKAGES="libwhisper-dev libggml-dev gcc g++ libc6-dev pkg-config ca-certificates espeak-ng whisper.cpp-tools"
readonly MIRROR="${FRONTDESK_SID_MIRROR:-http://deb.debian.org/debian}"
readonly STUB_DIR=/opt/frontdesk/lib   # inside the root: the empty libggml-cpu.a
readonly MODEL_DIR=/opt/frontdesk/model

self="$(readlink -f "$0")"
src="$(cd "$(dirname "$self")/.." && pwd)"
root="$(realpath -m "${FRONTDESK_SIDROOT:-/var/tmp/frontdesk-sid}")"
marker="etc/frontdesk-sidroot"
case "$root" in
/ | /usr | /var | /var/tmp | /tmp | "$src" | "$src"/*) echo "sidroot: refusing FRONTDESK_SIDROOT=$root" >&2; exit 1 ;;
esac

log() { echo "sidroot: $*" >&2; }
die() { log "$*"; exit 1; }

# mounted_under PATH: is anything mounted at or below PATH (in this namespace)?
mounted_under() {
	awk -v p="$1" '$5 == p || index($5, p "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Removes a directory tree, refusing if anything is mounted inside it.
remove_tree() {
	[ -e "$1" ] || return 0
	if mounted_under "$1"; then
		die "something is still mounted under $1; unmount it, then run again"
	fi
	rm -rf --one-file-system "$1"
}

want_marker() { printf 'packages: %s\nmirror: %s\n' "$PACKAGES" "$MIRROR"; }

root_complete() {
	[ -f "$root/$marker" ] && [ "$(cat "$root/$marker")" = "$(want_marker)" ] &&
		[ -f "$root/usr/include/whisper.h" ] && [ -x "$root/usr/bin/gcc" ]
}

# The bindings link -lggml-cpu; Debian ships the CPU code as plugins loaded
# at run time (ggml_backend_load_all), so an empty archive satisfies the linker.
make_stub() {
	[ -f "$1$STUB_DIR/libggml-cpu.a" ] && return 0
	mkdir -p "$1$STUB_DIR"
	chroot "$1" /usr/bin/ar rcs "$STUB_DIR/libggml-cpu.a"
}

create_root() {
	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
	fi
	local tmp="$root.new"
	remove_tree "$tmp"
	log "creating the Debian sid root at $root (debootstrap, about a minute)"
	local t0=$SECONDS
	# In its own mount namespace, so that a failed debootstrap cannot leave
	# /proc or /sys mounted inside the half-made tree.
	unshare --mount --propagation private -- \
		debootstrap --variant=minbase --include="${PACKAGES// /,}" sid "$tmp" "$MIRROR" >"$root.log" 2>&1 ||
		{ tail -n 20 "$root.log" >&2; die "debootstrap failed (full log: $root.log)"; }
	mkdir -p "$tmp$MODEL_DIR" "$tmp/src" "$tmp/usr/local/go"
	make_stub "$tmp"
	want_marker >"$tmp/$marker"
	remove_tree "$root"
	mv "$tmp" "$root"
	log "root ready in $((SECONDS - t0)) s ($(du -sh --one-file-system "$root" | cut -f1))"
}

# Installs the packages in FRONTDESK_SID_EXTRA that the root lacks. The
# mirror's Release file may be past its Valid-Until when the root is old;
# the packages are still signed, so only that date check is relaxed.
install_extra() {
	local missing=() p
	for p in ${FRONTDESK_SID_EXTRA:-}; do
		chroot "$root" dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	log "installing ${missing[*]} into the root"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
		'apt-get -o Acquire::Check-Valid-Until=false update -qq &&
		 apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends "$@" >/dev/null' sh "${missing[@]}" ||
		die "could not install ${missing[*]} into the root"
}

# ---------------------------------------------------------------------------
# Inside the private mount namespace: mount, run, unmount.
if [ "${1:-}" = "--in-namespace" ]; then
	shift
	mounts=()
	cleanup() {
		local i
		for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
			umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" || true
		done
	}
	trap cleanup EXIT
	bind() { # bind SRC DST [ro]
		mount --bind "$1" "$2"
		mounts+=("$2")
		if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
	}
	bind "$src" "$root/src"
	bind "$HOST_GOROOT" "$root/usr/local/go" ro
	mount -t proc proc "$root/proc"
	mounts+=("$root/proc")
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/host-ca.crt"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"

	model_env=()
	if [ -n "${FRONTDESK_TEST_MODEL:-}" ]; then
		[ -f "$FRONTDESK_TEST_MODEL" ] || die "FRONTDESK_TEST_MODEL=$FRONTDESK_TEST_MODEL: no such file"
		inner="$MODEL_DIR/$(basename "$FRONTDESK_TEST_MODEL")"
		mkdir -p "$root$MODEL_DIR"
		touch "$root$inner"
		bind "$(readlink -f "$FRONTDESK_TEST_MODEL")" "$root$inner" ro
		model_env=("FRONTDESK_TEST_MODEL=$inner")
	fi
	[ $# -gt 0 ] || set -- bash
	status=0
	chroot "$root" /usr/bin/env -i \
		PATH=/usr/local/go/bin:/root/go/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 TMPDIR=/tmp \
		GOROOT=/usr/local/go GOPATH=/root/go GOTOOLCHAIN=local GOFLAGS=-mod=mod \
		GOPROXY="$HOST_GOPROXY" GOSUMDB="$HOST_GOSUMDB" GONOSUMDB="$HOST_GONOSUMDB" \
		GOPRIVATE="$HOST_GOPRIVATE" GONOPROXY="$HOST_GONOPROXY" \
		SSL_CERT_FILE=/etc/host-ca.crt \
		CGO_ENABLED=1 CGO_LDFLAGS="-L$STUB_DIR" \
		"${model_env[@]}" \
		/bin/sh -c 'cd /src && exec "$@"' sh "$@" || status=$?
	exit "$status"
fi

# ---------------------------------------------------------------------------
# Outside: become root, make sure the root exists, enter a namespace.
go_bin="${GO:-go}"
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "needs root (or sudo) for debootstrap, chroot and mount"
	exec sudo --preserve-env=FRONTDESK_SIDROOT,FRONTDESK_TEST_MODEL,FRONTDESK_SID_MIRROR,FRONTDESK_SID_EXTRA,GO \
		env PATH="$PATH" "$self" "$@"
fi
command -v "$go_bin" >/dev/null || die "no Go on PATH (set GO=/path/to/go)"
goenv() { "$go_bin" env "$1"; }
export HOST_GOROOT HOST_GOPROXY HOST_GOSUMDB HOST_GONOSUMDB HOST_GOPRIVATE HOST_GONOPROXY
HOST_GOROOT="$(goenv GOROOT)"
HOST_GOPROXY="$(goenv GOPROXY)"
HOST_GOSUMDB="$(goenv GOSUMDB)"
HOST_GONOSUMDB="$(goenv GONOSUMDB)"
HOST_GOPRIVATE="$(goenv GOPRIVATE)"
HOST_GONOPROXY="$(goenv GONOPROXY)"

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9 # one creator at a time; a second `make test` waits, then reuses
if ! root_complete; then
	create_root
fi
make_stub "$root"
install_extra
flock -u 9

exec unshare --mount --propagation private -- "$self" --in-namespace "$@"
