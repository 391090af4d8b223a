#!/bin/sh
# install-packages.sh PKG... -- install the Debian packages that are missing.
# As root it runs apt-get (update first); as another user it only says what is
# missing and fails, so a newcomer knows what to install.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Packaged daemons must not start on install (the tests and `make run` start
# their own instances): policy-rc.d answers "not allowed" for the duration,
# unless the machine already has one of its own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# installed by edgepool install-packages.sh for one apt-get run\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
# Debian starts some services on install; the tests start their own instances.
for s in nsd kamailio redis-server knot haproxy prosody stunnel4 keepalived; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then
        systemctl stop "$s" 2>/dev/null; systemctl disable "$s" 2>/dev/null
    fi
done
exit 0
