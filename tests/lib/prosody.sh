# prosody.sh -- Prosody 0.12 instances for the XMPP integration tests.
#
# Source after common.sh (and dns.sh: Prosody finds partners through the
# test DNS server). Each instance is an ep_spawn'ed process named NAME,
# listening for c2s on ADDR:5222 and s2s on ADDR:5269 only; everything it
# writes stays in $WORK (NAME.cfg.lua, NAME.data/, NAME.prosody.log with
# debug lines; NAME.log is its stdout).
#
#   prosody_conf NAME ADDR DNS_ADDR GLOBAL VHOST...   write $WORK/NAME.cfg.lua
#       DNS_ADDR  the test DNS server (port 53: resolv.conf has no port syntax)
#       GLOBAL    more global settings, verbatim (e.g. 's2s_allow_encryption = false')
#       VHOST     "domain" (no certificate: no TLS for it) or "domain=CERTNAME"
#                 ($EP_CERTS/CERTNAME.crt/.key)
#   prosody_user NAME JID PASSWORD    create a user (before or after the start)
#   prosody_start NAME                start it; returns once it listens
#
# Traps (found by running them here):
# - Prosody's resolver is libunbound (lua-unbound): it answers NXDOMAIN for
#   every .test name (a special-use local zone) unless the unbound options
#   say local-zone "test. transparent"; resolvconf may name a file, so the
#   test's own resolv.conf (pointing at the test DNS server) needs no mount
#   namespace.
# - Started as root it switches to the "prosody" user unless prosody_user is
#   root and run_as_root is set; here it stays root (its files are in $WORK).
# - A virtual host without a certificate still offers STARTTLS on c2s (and
#   fails the handshake): c2s gets a certificate of its own (any name: the
#   test clients do not check it); s2s TLS is what the tests are about.
# - Prosody tries _xmpps-server._tcp (direct TLS, XEP-0368) before
#   _xmpp-server._tcp; NXDOMAIN for the first is normal.
# - Its outgoing s2s connections leave from 127.0.0.1, not from ADDR.

prosody_conf() { # NAME ADDR DNS_ADDR GLOBAL VHOST...
    local name=$1 addr=$2 dns=$3 global=$4 v d c
    shift 4
    mkdir -p "$WORK/$name.data"
    echo "nameserver $dns" >"$WORK/$name.resolv.conf"
    {
        cat <<CFG
pidfile = "$WORK/$name.pid"
data_path = "$WORK/$name.data"
run_as_root = true
prosody_user = "root"
log = { { levels = { min = "debug" }, to = "file", filename = "$WORK/$name.prosody.log" } }
interfaces = { "$addr" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
admin_socket = "$WORK/$name.sock"
certificates = "$WORK/$name.nocerts"
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix"; "s2s_auth_certs" }
modules_disabled = { "s2s_bidi"; "offline" }
authentication = "internal_plain"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
use_ipv6 = false
s2s_secure_auth = false
unbound = { resolvconf = "$WORK/$name.resolv.conf"; hoststxt = false;
            options = { ["local-zone"] = "test. transparent" } }
c2s_ssl = { certificate = "$EP_CERTS/jabber-xmpp.crt"; key = "$EP_CERTS/jabber-xmpp.key" }
$global
CFG
        for v in "$@"; do
            d=${v%%=*}
            echo "VirtualHost \"$d\""
            if [ "$d" != "$v" ]; then
                c=${v#*=}
                echo "  ssl = { certificate = \"$EP_CERTS/$c.crt\"; key = \"$EP_CERTS/$c.key\"; cafile = \"$EP_CERTS/ca.crt\" }"
            fi
        done
    } >"$WORK/$name.cfg.lua"
    mkdir -p "$WORK/$name.nocerts"
}

prosody_user() { # NAME JID PASSWORD
    local out
    out=$(prosodyctl --config "$WORK/$1.cfg.lua" register "${2%@*}" "${2#*@}" "$3" 2>&1) ||
        fail "prosodyctl register $2 failed: $out"
}

prosody_start() { # NAME
    local name=$1 addr
    addr=$(sed -n 's/^interfaces = { "\(.*\)" }$/\1/p' "$WORK/$name.cfg.lua")
    ep_spawn "$name" prosody --config "$WORK/$name.cfg.lua" -F
    wait_until 15 prosody__up "$name" "$addr" ||
        fail "prosody $name did not start on $addr (log ${WORK#"$EP_ROOT"/}/$name.prosody.log)"
}
prosody__up() { # NAME ADDR
    ep_alive "$1" || { tail -n 20 "$WORK/$1.log" "$WORK/$1.prosody.log" >&2; fail "prosody $1 exited at start"; }
    ep__listening "$2" 5222 && ep__listening "$2" 5269
}
