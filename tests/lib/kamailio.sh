# kamailio.sh -- start Kamailio 5.6 instances for the integration tests: a
# partner domain's federation edge (kamailio-partner.cfg, mutual TLS) and a
# plain TCP relay (kamailio-relay.cfg, the benchmark's reference). Sourced
# after common.sh; each instance is an ep_spawn'ed process named NAME, its
# generated files in $WORK (NAME.cfg, NAME-tls.cfg, NAME.run/), its log
# $WORK/NAME.log (the cfg's "EP-" lines are what tests grep for).
#
# Tunables (environment): KAM_SHM (MB, default 64; 1024 under load: per
# TESTING-NOTES the default fails above ~5k transactions/s), KAM_PKG (MB, 8),
# KAM_HOSTS (a hosts file bind-mounted over /etc/hosts in a private mount
# namespace, for names the partner must resolve), KAM_DEBUG (log level, 2 = notice: the EP- lines and errors), KAM_CHILDREN
# (TCP workers, 2), KAM_FR_TIMER (tm final-response timeout, ms, 3000: also
# how long a request toward a peer whose TLS handshake failed waits for its
# 408), KAM_CA (trust anchor, default $EP_CERTS/ca.crt).
#
# The command (foreground, one runtime dir and pid file per instance, so that
# several coexist):
#   kamailio -f $WORK/NAME.cfg -DD -E -m $KAM_SHM -M $KAM_PKG \
#       -Y $WORK/NAME.run -P $WORK/NAME.run/kamailio.pid -w $WORK/NAME.run [ARGS]
# -DD: the creator process stays in the foreground (its children fork as
# usual), so its PID is the one ep_spawn records and SIGTERM to it stops all;
# -E: log to stderr, i.e. $WORK/NAME.log.
#
# Traps:
# - A TLS handshake that fails toward the next hop (peer certificate refused,
#   either side) is not reported to tm: the request is answered 408 only when
#   fr_timer expires. Kamailio's own log says only "certificate verify
#   failed"; the reason (unknown CA, expired) is in the refused peer's log as
#   the alert it received ("tlsv1 alert unknown ca", "sslv3 alert certificate
#   expired").
# - Kamailio 5.6 does not check the peer's name against its certificate: a
#   test-CA certificate for another name (wrongsan) passes; only edge-node can
#   refuse it. It does check the EKU: a client certificate without clientAuth
#   (noclientauth) is refused by the server side, whose log says "certificate
#   verify failed" while the client's says "sslv3 alert unsupported
#   certificate".
# - Outgoing connections leave from 127.0.0.1 unless tcp_source_ipv4 is set
#   (the configs set it to the instance's address).
# - Each instance listens on its own address only (listen= in the cfg), never
#   the wildcard, so that instances and edge nodes on 127.0.x.y coexist.

# kamailio__gen TEMPLATE OUT KEY=VALUE...: copy TEMPLATE to OUT replacing
# every @KEY@ with VALUE (values may hold / : ; but not |).
kamailio__gen() {
    local tpl=$1 out=$2 kv expr=()
    shift 2
    for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${expr[@]}" "$tpl" >"$out" || fail "cannot write $out"
    ! grep -q '@[A-Z_]*@' "$out" || fail "$out: unreplaced $(grep -o '@[A-Z_]*@' "$out" | sort -u | tr '\n' ' ')"
}

# kamailio__start NAME ADDR CFG [PORT...] [-- KAMAILIO-ARGS...]: spawn it and
# wait until it listens on ADDR:PORT for each PORT (10 s), or fail showing
# its log.
kamailio__start() {
    local name=$1 addr=$2 cfg=$3 p ports=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do ports+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    mkdir -p "$WORK/$name.run"
    # KAM_HOSTS=FILE: run it in a mount namespace where FILE is /etc/hosts, so
    # it resolves the test names (e.g. our pool FQDN in a Record-Route) the way
    # a real partner resolves them through DNS, without touching the host.
    local pre=()
    [ -n "${KAM_HOSTS:-}" ] && pre=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$KAM_HOSTS")
    ep_spawn "$name" "${pre[@]}" kamailio -f "$cfg" -DD -E -m "${KAM_SHM:-64}" -M "${KAM_PKG:-8}" \
        -Y "$WORK/$name.run" -P "$WORK/$name.run/kamailio.pid" -w "$WORK/$name.run" "$@"
    for p in "${ports[@]}"; do
        if ! wait_until 10 kamailio__up "$name" "$addr" "$p"; then
            tail -n 20 "$WORK/$name.log" >&2
            fail "kamailio $name did not come up on $addr:$p (log ${WORK#"$EP_ROOT"/}/$name.log)"
        fi
    done
}
kamailio__up() { # NAME ADDR PORT: listening, or fail at once if it died
    ep_alive "$1" || { tail -n 20 "$WORK/$1.log" >&2; fail "kamailio $1 exited at start"; }
    ep__listening "$2" "$3"
}

# kamailio_partner_start NAME ADDR DOMAIN CERTNAME NEXT_HOP INTERNAL [KAMAILIO-ARGS...]
#   NAME      process name (log $WORK/NAME.log)
#   ADDR      its loopback address: TCP ADDR:5060 (internal side), TLS ADDR:5061
#             (federation); outgoing connections also leave from ADDR
#   DOMAIN    the partner's SIP domain, e.g. fabrikam.test
#   CERTNAME  its certificate, $EP_CERTS/CERTNAME.crt/.key (e.g. fabrikam-edge;
#             expired, otherca-fabrikam... for negative tests); with a "/",
#             a path without the .crt/.key (a test's own, leaf_cert.sh)
#   NEXT_HOP  federation peer for other domains, a SIP URI used as the
#             destination: sip:127.0.1.1:5061;transport=tls (a host name is
#             resolved by Kamailio's resolver: /etc/hosts, resolv.conf)
#   INTERNAL  ADDR:PORT of the partner's internal UAS, reached over TCP
#   extra args go to kamailio, e.g. -A WITH_NO_TLS_SOURCE
# Requires ep_certs first. Returns once both ports listen.
kamailio_partner_start() {
    local name=$1 addr=$2 domain=$3 cert=$4 next=$5 internal=$6
    shift 6
    [[ $cert == */* ]] || cert=$EP_CERTS/$cert # a path: a test's own (leaf_cert.sh)
    [ -f "$cert.crt" ] || fail "no certificate $cert.crt (ep_certs first?)"
    kamailio__gen "$EP_LIB/kamailio-tls.cfg" "$WORK/$name-tls.cfg" \
        CERT="$cert.crt" KEY="$cert.key" CA="${KAM_CA:-$EP_CERTS/ca.crt}"
    kamailio__gen "$EP_LIB/kamailio-partner.cfg" "$WORK/$name.cfg" \
        NAME="$name" ADDR="$addr" DOMAIN="$domain" NEXT_HOP="$next" INTERNAL="$internal" \
        TLSCFG="$WORK/$name-tls.cfg" DEBUG="${KAM_DEBUG:-2}" CHILDREN="${KAM_CHILDREN:-2}" \
        FR_TIMER="${KAM_FR_TIMER:-3000}"
    kamailio__start "$name" "$addr" "$WORK/$name.cfg" 5060 5061 -- "$@"
}

# kamailio_relay_start NAME ADDR NEXT_HOP [KAMAILIO-ARGS...]
#   a transaction-stateful relay: TCP in on ADDR:5060, every request t_relay'ed
#   to NEXT_HOP (ADDR:PORT) over TCP, no Record-Route, errors-only logging.
#   For load, KAM_SHM=1024 and more KAM_CHILDREN.
kamailio_relay_start() {
    local name=$1 addr=$2 next=$3
    shift 3
    kamailio__gen "$EP_LIB/kamailio-relay.cfg" "$WORK/$name.cfg" \
        NAME="$name" ADDR="$addr" NEXT_HOP="$next" DEBUG="${KAM_DEBUG:-1}" \
        CHILDREN="${KAM_CHILDREN:-2}" FR_TIMER="${KAM_FR_TIMER:-3000}"
    kamailio__start "$name" "$addr" "$WORK/$name.cfg" 5060 -- "$@"
}
