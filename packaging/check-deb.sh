#!/usr/bin/env bash
# Checks a Frontdesk .deb the way an installer meets it:
#   packaging/check-deb.sh dist/frontdesk_VERSION_ARCH.deb
# 1. systemd-analyze verify passes on the unit, with no complaint at all;
# 2. dpkg-deb shows the files, the conffile and sound maintainer scripts;
# 3. it installs into a debootstrapped Debian 12 root (made once, kept at
#    /var/tmp/frontdesk-bookworm or $FRONTDESK_DEBROOT), on an overlay so
#    every run starts clean: the service user and private data dir appear,
#    the binary serves as that user (on loopback), a reinstall (upgrade)
#    leaves the data byte for byte, and remove and purge keep it.
# Needs root (re-runs itself with sudo).
set -euo pipefail

deb="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(realpath -m "${FRONTDESK_DEBROOT:-/var/tmp/frontdesk-bookworm}")"
mirror="${FRONTDESK_DEB_MIRROR:-http://deb.debian.org/debian}"
pass() { echo "check-deb: ok: $*"; }
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi

# 1. The unit. ExecStart must name an existing file for verify, so a copy
# points at /bin/true; everything else is verified as shipped.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed 's|^ExecStart=/usr/bin/frontdesk|ExecStart=/bin/true|' "$here/frontdesk.service" >"$tmp/frontdesk.service"
out="$(systemd-analyze verify --man=no "$tmp/frontdesk.service" 2>&1)" || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify complains: $out"
pass "systemd-analyze verify frontdesk.service"

# 2. The package's contents and scripts.
info="$(dpkg-deb --info "$deb")"
grep -q '^ Package: frontdesk' <<<"$info" || fail "no Package: frontdesk in $info"
grep -q '^ Depends:.*adduser' <<<"$info" || fail "does not depend on adduser"
contents="$(dpkg-deb --contents "$deb")"
for f in ./usr/bin/frontdesk ./lib/systemd/system/frontdesk.service ./etc/default/frontdesk; do
	grep -q " $f\$" <<<"$contents" || fail "$f missing from the package"
done
grep -q -- '-rwxr-xr-x root/root .* ./usr/bin/frontdesk$' <<<"$contents" || fail "/usr/bin/frontdesk is not root-owned 0755"
dpkg-deb --control "$deb" "$tmp/control"
grep -qx /etc/default/frontdesk "$tmp/control/conffiles" || fail "/etc/default/frontdesk is not a conffile"
for s in postinst prerm postrm; do
	[ -x "$tmp/control/$s" ] || fail "$s missing or not executable"
	sh -n "$tmp/control/$s" || fail "$s has a syntax error"
done
grep -q 'if \[ -n "\$created" \]' "$tmp/control/postinst" || fail "postinst would touch an existing data dir"
pass "dpkg-deb: files, conffile and maintainer scripts"

# 3. A real install in a Debian 12 root.
if [ ! -f "$root/etc/frontdesk-debroot" ]; then
	echo "check-deb: creating a Debian 12 root at $root (debootstrap, about a minute)"
	rm -rf --one-file-system "$root.new"
	unshare --mount --propagation private -- \
		debootstrap --variant=minbase --include=adduser,curl,ca-certificates bookworm "$root.new" "$mirror" >"$root.log" 2>&1 ||
		fail "debootstrap failed; see $root.log"
	echo bookworm >"$root.new/etc/frontdesk-debroot"
	rm -rf --one-file-system "$root"
	mv "$root.new" "$root"
fi
mkdir -p "$tmp/upper" "$tmp/work" "$tmp/merged"
cp "$deb" "$tmp/frontdesk.deb"
# The web port is the kernel's choice (read back from the log); the SIP
# port a random high one. Only tools of a base Debian system are used here:
# curl runs inside the root.
export SIP_PORT="$(shuf -i 40000-49999 -n 1)"
unshare --mount --propagation private -- bash -euo pipefail -c '
	tmp="$1"; root="$2"; here="$3"
	fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
	mount -t overlay overlay -o "lowerdir=$root,upperdir=$tmp/upper,workdir=$tmp/work" "$tmp/merged"
	m="$tmp/merged"
	mount -t proc proc "$m/proc"
	mount --bind /dev "$m/dev"
	cp "$tmp/frontdesk.deb" "$m/tmp/frontdesk.deb"
	inroot() { chroot "$m" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

	inroot dpkg -i /tmp/frontdesk.deb >/dev/null || fail "dpkg -i"
	inroot getent passwd frontdesk | grep -q ":/var/lib/frontdesk:/usr/sbin/nologin$" || fail "no frontdesk system user"
	[ "$(inroot stat -c "%U:%G %a" /var/lib/frontdesk)" = "frontdesk:frontdesk 750" ] || fail "data dir: $(inroot stat -c "%U:%G %a" /var/lib/frontdesk)"
	echo "check-deb: ok: installed; user frontdesk and /var/lib/frontdesk (0750) made"

	# Serve as the service user, on loopback, until /healthz answers.
	chroot --userspec=frontdesk:frontdesk "$m" /usr/bin/env -i HOME=/var/lib/frontdesk FRONTDESK_DATA=/var/lib/frontdesk \
		/usr/bin/frontdesk serve --sip-listen "127.0.0.1:$SIP_PORT" --http-listen 127.0.0.1:0 \
		--rtp-ports 31000-31099 >"$tmp/serve.log" 2>&1 &
	pid=$!
	healthy() {
		web="$(sed -n "s/.*HTTP listening\" address=\([0-9.:]*\).*/\1/p" "$tmp/serve.log" | head -n 1)"
		[ -n "$web" ] && inroot curl -fsS "http://$web/healthz" >/dev/null 2>&1
	}
	for _ in $(seq 100); do
		healthy && break
		sleep 0.1
	done
	healthy || { cat "$tmp/serve.log"; fail "the server did not come up as the service user"; }
	grep -q "one-time password" "$tmp/serve.log" || fail "no first-start admin password printed"
	kill -TERM "$pid"; wait "$pid" || fail "serve exited badly after SIGTERM: $(tail -5 "$tmp/serve.log")"
	[ "$(inroot stat -c %U /var/lib/frontdesk/frontdesk.db)" = frontdesk ] || fail "the database is not the service user'"'"'s"
	echo "check-deb: ok: serves as the frontdesk user, stops cleanly on SIGTERM"

	# Upgrade (reinstall) and removal never touch the data.
	echo kept >"$m/var/lib/frontdesk/marker"
	before="$(cd "$m/var/lib/frontdesk" && find . -type f -exec sha256sum {} + | sort)"
	inroot dpkg -i /tmp/frontdesk.deb >/dev/null || fail "dpkg -i (upgrade)"
	after="$(cd "$m/var/lib/frontdesk" && find . -type f -exec sha256sum {} + | sort)"
	[ "$before" = "$after" ] || fail "the upgrade changed the data dir"
	inroot dpkg -r frontdesk >/dev/null || fail "dpkg -r"
	[ -f "$m/var/lib/frontdesk/marker" ] || fail "remove deleted the data"
	inroot dpkg -P frontdesk >/dev/null || fail "dpkg -P"
	after="$(cd "$m/var/lib/frontdesk" && find . -type f -exec sha256sum {} + | sort)"
	[ "$before" = "$after" ] || fail "purge changed the data dir"
	echo "check-deb: ok: upgrade, remove and purge keep the data byte for byte"

	# The plain binary install over the same (kept) data.
	mkdir -p "$m/tmp/pkg"
	cp -r "$here/." "$m/tmp/pkg/"
	dpkg-deb --fsys-tarfile "$tmp/frontdesk.deb" | tar -xO ./usr/bin/frontdesk >"$m/tmp/frontdesk-bin"
	chmod 0755 "$m/tmp/frontdesk-bin"
	inroot /tmp/pkg/install.sh /tmp/frontdesk-bin >/dev/null || fail "install.sh"
	[ -f "$m/etc/systemd/system/frontdesk.service" ] || fail "install.sh did not install the unit"
	chroot --userspec=frontdesk:frontdesk "$m" /usr/bin/frontdesk version >/dev/null || fail "the installed binary does not run as frontdesk"
	after="$(cd "$m/var/lib/frontdesk" && find . -type f -exec sha256sum {} + | sort)"
	[ "$before" = "$after" ] || fail "install.sh changed the data dir"
	echo "check-deb: ok: install.sh installs the binary and unit and keeps the data"
' check-deb "$tmp" "$root" "$here"
pass "all checks"
