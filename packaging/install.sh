#!/bin/sh
# Install Frontdesk from a plain binary as a systemd service:
#   sudo packaging/install.sh [path/to/frontdesk]
# Creates the frontdesk user and /var/lib/frontdesk (left alone if present),
# installs the binary to /usr/bin, the unit and /etc/default/frontdesk (kept
# if present), then enables and starts the service. Re-running upgrades.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../bin/frontdesk}
root=${DESTDIR:-}
[ -x "$bin" ] || { echo "install.sh: no executable at $bin (build it with make build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || [ -n "$root" ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }

previous=
[ -e "$root/usr/bin/frontdesk" ] && previous=installed
install -D -m 0755 "$bin" "$root/usr/bin/frontdesk"
install -D -m 0644 "$here/frontdesk.service" "$root/etc/systemd/system/frontdesk.service"
[ -e "$root/etc/default/frontdesk" ] || install -D -m 0644 "$here/default.env" "$root/etc/default/frontdesk"

if [ -z "$root" ]; then
    "$here/deb/postinst" configure "$previous"
else
    echo "installed into $root (user, data dir and service are set up by deb/postinst on the target)"
fi
