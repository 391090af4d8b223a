#!/bin/bash
# netns-pool.sh up|down|status|pid NAME -- a multi-host edgepool on one
# machine: every daemon on a host of its own (a Linux network namespace with
# its own address on a private LAN), so that failover is exercised across a
# network, not one process table. Root only.
#
#   host (namespace)  address (EP_NET=10.77.0)  runs
#   ${EP_NS}redis     .6                        redis-server :6379 (pool state)
#   ${EP_NS}balancer  .53, VIP .54              edge-balancer: DNS :53 for
#                                               contoso.test, VIP :5061/:5269,
#                                               admin :8081
#   ${EP_NS}node1..3  .1 .2 .3                  edge-node: internal SIP/TCP
#                                               :5060, federation SIP/TLS
#                                               :5061, XMPP :5269, admin :8080
#   ${EP_NS}partner   .20                       fabrikam.test's edge: Kamailio
#                                               (TCP :5060 inside, mutual TLS
#                                               :5061), NSD :53 for fabrikam.test
#   ${EP_NS}fe        .30                       our front end stand-in: Kamailio
#                                               :5060 -> a UA of yours on :5070
#   ${EP_NS}legacy    .40                       nothing: a host for clients of
#                                               the VIP (legacy partners)
#   ${EP_NS}lan       (no address)              the bridge br0 joining them
#
# The bridge lives in a namespace of its own with one veth pair per host, so
# nothing is added to the root namespace (no interface, address or route).
# Each host's /etc/netns/<ns>/resolv.conf names the balancer's DNS (the
# partner resolves sip.contoso.test and the SRV records through it, as a real
# partner would); the front end's /etc/netns/<ns>/hosts names the nodes'
# shared internal Record-Route host edge-int.contoso.test. The nodes resolve
# partner domains through the partner's NSD. The partner's Kamailio
# (deploy/netns/kamailio-partner.cfg) caches our A records and fails over
# across them when a node is gone; our front end (deploy/netns/
# kamailio-fe.cfg) relays to a UA you start on its host, e.g. SIPp with
# tests/sipp/uas_invite_fe.xml. tests/failover/node_kill_under_load.sh runs a
# pool of its own (EP_NS=epft-nk-) to kill a node under load.
#
# Environment:
#   EP_NS     namespace prefix (default epn-): pools with other prefixes coexist
#   EP_NET    first three octets of the LAN, a /24 (default 10.77.0)
#   EP_STATE  state folder: configs, certificates, logs, PIDs
#             (default <repo>/run/netns-pool)
#   EP_BIN    directory of edge-node and edge-balancer (default <repo>/bin)
#   EP_CERTS  a PKI made by tests/lib/make-certs.sh (default: made in
#             $EP_STATE/certs)
#   EP_DNS_TTL      TTL of the balancer's answers (default 5)
#   EP_PARTNER_TTL  longest the partner caches a DNS record (default 5)
#   EP_LOG_LEVEL    nodes' and balancer's log level (default info)
#   EP_PARTNER_TCP_ASYNC  the partner Kamailio's tcp_async (default no: see
#                   deploy/netns/kamailio-partner.cfg; yes for a node whose
#                   host goes silent, tests/failover/node_host_down.sh)
#
# up: creates the namespaces, writes configs under $EP_STATE, starts every
# daemon with `ip netns exec` (PIDs in $EP_STATE/pids, logs NAME.log), waits
# until the balancer's DNS lists the three nodes and every listener is up,
# prints what runs where. A second `up` while the pool runs starts nothing; an
# `up` after a partial one cleans it first. down: SIGTERM to exactly the PIDs
# up recorded (checked against their start time, so a recycled PID is never
# signalled), SIGKILL after 10 s, then deletes the namespaces and their
# /etc/netns entries; safe to repeat. pid NAME: the PID of a running daemon
# (redis, balancer, node1..3, partner, partner-dns, fe).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/deploy/netns
EP_NS=${EP_NS:-epn-}
EP_NET=${EP_NET:-10.77.0}
EP_STATE=${EP_STATE:-$ROOT/run/netns-pool}
EP_BIN=${EP_BIN:-$ROOT/bin}
EP_DNS_TTL=${EP_DNS_TTL:-5}
EP_PARTNER_TTL=${EP_PARTNER_TTL:-5}
EP_LOG_LEVEL=${EP_LOG_LEVEL:-info}
EP_PARTNER_TCP_ASYNC=${EP_PARTNER_TCP_ASYNC:-no}

HOSTS=(redis balancer node1 node2 node3 partner fe legacy)
declare -A OCTET=([node1]=1 [node2]=2 [node3]=3 [redis]=6 [partner]=20 [fe]=30 [legacy]=40 [balancer]=53)
LAN=${EP_NS}lan
VIP=$EP_NET.54
BAL=$EP_NET.${OCTET[balancer]}
RED=$EP_NET.${OCTET[redis]}
PAR=$EP_NET.${OCTET[partner]}
FE=$EP_NET.${OCTET[fe]}
PIDS=$EP_STATE/pids

ns() { echo "$EP_NS$1"; }
addr() { echo "$EP_NET.${OCTET[$1]}"; }
say() { echo "netns-pool: $*"; }
UNDO_ON_DIE=""
die() {
    echo "netns-pool: $*" >&2
    if [ -n "$UNDO_ON_DIE" ]; then # a failed up leaves nothing behind but its logs
        UNDO_ON_DIE=""
        echo "netns-pool: stopping what this up started (logs kept in $EP_STATE)" >&2
        down quiet
    fi
    exit 1
}

# ---- processes ---------------------------------------------------------------

. "$ROOT/deploy/lib/pidfile.sh"

# spawn NAME HOST CMD...: CMD in HOST's namespace, in the background, output to
# $EP_STATE/NAME.log; its PID (ip netns exec execs CMD: same PID) recorded.
spawn() {
    local name=$1 host=$2
    shift 2
    ip netns exec "$(ns "$host")" "$@" </dev/null >>"$EP_STATE/$name.log" 2>&1 &
    record "$name" $!
}
# listening HOST ADDR PORT: a TCP listener on ADDR:PORT in HOST's namespace
listening() {
    ip netns exec "$(ns "$1")" ss -Hltn "sport = :$3" 2>/dev/null | awk '{print $4}' |
        grep -qxF -e "$2:$3" -e "0.0.0.0:$3" -e "*:$3"
}
# wait_for SECONDS NAME CMD...: until CMD succeeds; fails at once if NAME died
wait_for() {
    local t=$1 end=$((SECONDS + $1)) name=$2
    shift 2
    until "$@"; do
        alive "$name" || { tail -n 15 "$EP_STATE/$name.log" >&2; die "$name exited (log $EP_STATE/$name.log)"; }
        [ $SECONDS -ge $end ] && { tail -n 15 "$EP_STATE/$name.log" >&2; die "$name: '$*' still false after $t s"; }
        sleep 0.1
    done
}

# ---- network -----------------------------------------------------------------

net_up() {
    local h n
    ip netns add "$LAN" || die "cannot create namespace $LAN"
    ip -n "$LAN" link set lo up
    ip -n "$LAN" link add br0 type bridge || die "cannot create the bridge in $LAN"
    ip -n "$LAN" link set br0 up
    for h in "${HOSTS[@]}"; do
        n=$(ns "$h")
        ip netns add "$n" || die "cannot create namespace $n"
        ip -n "$n" link set lo up
        # the pair is made inside the LAN namespace, its peer moved to the host's
        ip -n "$LAN" link add "v-$h" type veth peer name eth0 netns "$n" || die "veth for $h"
        ip -n "$LAN" link set "v-$h" master br0 up
        ip -n "$n" addr add "$(addr "$h")/24" dev eth0
        [ "$h" = balancer ] && ip -n "$n" addr add "$VIP/24" dev eth0
        ip -n "$n" link set eth0 up
        mkdir -p "/etc/netns/$n"
        printf '# written by deploy/netns-pool.sh: the pool balancer'"'"'s DNS\nnameserver %s\noptions timeout:1 attempts:2\n' \
            "$BAL" >"/etc/netns/$n/resolv.conf"
    done
    {
        printf '127.0.0.1 localhost\n'
        for h in node1 node2 node3; do printf '%s edge-int.contoso.test\n' "$(addr "$h")"; done
    } >"/etc/netns/$(ns fe)/hosts"
}

net_down() {
    local h n
    for h in "${HOSTS[@]}" lan; do
        n=$(ns "$h")
        [ -e "/run/netns/$n" ] && ip netns del "$n" 2>/dev/null
        rm -rf "/etc/netns/$n"
    done
    rmdir /etc/netns 2>/dev/null
    return 0
}

# ---- configuration -------------------------------------------------------------

write_configs() {
    local i a s=$EP_STATE
    for i in 1 2 3; do
        a=$(addr node$i)
        cat >"$s/node$i.conf" <<CONF
# node$i of the netns pool (deploy/netns-pool.sh)
node = { id = "node$i"; pool_fqdn = "sip.contoso.test"; fqdn = "node$i.contoso.test";
         log_level = "$EP_LOG_LEVEL"; };
internal = { listen = "$a:5060"; next_hops = [ "$FE:5060" ];
             record_route_host = "edge-int.contoso.test"; };
external = { listen = "$a:5061"; proxy_protocol_from = [ "$VIP" ]; };
tls = { cert = "$CERTS/contoso-edge.crt"; key = "$CERTS/contoso-edge.key"; ca = "$CERTS/ca.crt"; };
dns = { servers = "$PAR:53"; timeout_ms = 1000; };
limits = { transaction_timeout_ms = 8000; };
admin = { listen = "$a:8080"; allow = [ "$EP_NET.0/24", "127.0.0.1" ]; };
redis = { addr = "$RED:6379"; snapshot = "$s/node$i.policy"; };
xmpp = { dialback_secret = "netns-pool-dialback"; };
policy = {
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( "fabrikam.test" );
  external_access_policies = ( { name = "global"; enable_federation_access = true;
                                 enable_public_cloud_access = true; } );
};
CONF
    done
    cat >"$s/balancer.conf" <<CONF
# the balancer of the netns pool (deploy/netns-pool.sh)
balancer = { id = "balancer1"; log_level = "$EP_LOG_LEVEL"; };
vip = { enabled = true; listen = "$VIP"; ports = [ "5061", "5269" ]; proxy_protocol = true; };
admin = { listen = "$BAL:8081"; allow = [ "$EP_NET.0/24", "127.0.0.1" ]; };
redis = { addr = "$RED:6379"; };
tls = { cert = "$CERTS/contoso-edge.crt"; key = "$CERTS/contoso-edge.key"; ca = "$CERTS/ca.crt"; };
health = { check = "sip"; interval_ms = 500; timeout_ms = 1000; rise = 2; fall = 2;
           registry_cache = "$s/balancer.nodes"; };
dns = { listen = "$BAL:53"; zone = "contoso.test"; pool_fqdn = "sip.contoso.test";
        ns = [ "ns1.contoso.test@$BAL" ]; ttl = $EP_DNS_TTL; soa_minimum = $EP_DNS_TTL;
        rrl_rate = 5000; };
CONF
    # fabrikam.test's own DNS (the nodes check the partner's certificate
    # against its SRV target)
    mkdir -p "$s/partner-dns"
    cat >"$s/partner-dns/fabrikam.test.zone" <<ZONE
\$ORIGIN fabrikam.test.
\$TTL 30
@ IN SOA ns.fabrikam.test. hostmaster.fabrikam.test. 1 3600 600 86400 30
@ IN NS ns.fabrikam.test.
ns IN A $PAR
_sipfederationtls._tcp IN SRV 0 0 5061 sip.fabrikam.test.
sip IN A $PAR
ZONE
    cat >"$s/partner-dns/nsd.conf" <<CONF
server:
    ip-address: $PAR@53
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$s/partner-dns"
    pidfile: "$s/partner-dns/nsd.pid"
    zonelistfile: "$s/partner-dns/zone.list"
    xfrdfile: "$s/partner-dns/xfrd.state"
    xfrdir: "$s/partner-dns"
    database: ""
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "fabrikam.test"
    zonefile: "$s/partner-dns/fabrikam.test.zone"
CONF
    nsd-checkconf "$s/partner-dns/nsd.conf" || die "bad $s/partner-dns/nsd.conf"
    gen "$ROOT/tests/lib/kamailio-tls.cfg" "$s/partner-tls.cfg" \
        CERT="$CERTS/fabrikam-edge.crt" KEY="$CERTS/fabrikam-edge.key" CA="$CERTS/ca.crt"
    gen "$HERE/kamailio-partner.cfg" "$s/partner.cfg" NAME=partner ADDR="$PAR" DOMAIN=fabrikam.test \
        NEXT_HOP="sip:sip.contoso.test:5061;transport=tls" INTERNAL="$PAR:5070" \
        TLSCFG="$s/partner-tls.cfg" DEBUG=2 CHILDREN=4 FR_TIMER=3000 DNS_MAX_TTL="$EP_PARTNER_TTL" \
        TCP_ASYNC="$EP_PARTNER_TCP_ASYNC"
    gen "$HERE/kamailio-fe.cfg" "$s/fe.cfg" NAME=fe ADDR="$FE" UAS="$FE:5070" \
        EDGE_INT="edge-int.contoso.test:5060" DEBUG=2 CHILDREN=4 FR_TIMER=3000
}
# gen TEMPLATE OUT KEY=VALUE...: TEMPLATE with every @KEY@ replaced
gen() {
    local tpl=$1 out=$2 kv expr=()
    shift 2
    for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${expr[@]}" "$tpl" >"$out" || die "cannot write $out"
    ! grep -q '@[A-Z_]*@' "$out" || die "$out: unreplaced $(grep -o '@[A-Z_]*@' "$out" | sort -u | tr '\n' ' ')"
}

spawn_kamailio() { # NAME: Kamailio NAME (config $EP_STATE/NAME.cfg) on host NAME
    # -DD: the first process stays in the foreground (its PID is the one
    # recorded; SIGTERM to it stops its workers); -E: log to stderr
    mkdir -p "$EP_STATE/$1.run"
    spawn "$1" "$1" kamailio -f "$EP_STATE/$1.cfg" -DD -E -m 256 -M 16 -Y "$EP_STATE/$1.run" \
        -P "$EP_STATE/$1.run/kamailio.pid" -w "$EP_STATE/$1.run"
}
redis_answers() { [ "$(ip netns exec "$(ns redis)" redis-cli -h "$RED" PING 2>/dev/null)" = PONG ]; }
partner_dns_answers() {
    [ -n "$(ip netns exec "$(ns node1)" kdig @"$PAR" +short +time=1 +retry=0 A sip.fabrikam.test 2>/dev/null)" ]
}
dns_lists_nodes() { [ "$(dns_nodes)" = "$(addr node1),$(addr node2),$(addr node3)" ]; }

dns_nodes() { # the A answer for sip.contoso.test, seen from the partner
    ip netns exec "$(ns partner)" kdig @"$BAL" +short +time=1 +retry=0 A sip.contoso.test 2>/dev/null |
        sort | paste -sd, -
}

# ---- commands ------------------------------------------------------------------

up() {
    local i h
    [ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
    for h in kamailio redis-server nsd kdig ss; do
        command -v "$h" >/dev/null || die "$h is not installed"
    done
    for h in edge-node edge-balancer; do
        [ -x "$EP_BIN/$h" ] || die "$EP_BIN/$h is not built (make all, or set EP_BIN)"
    done
    if any_alive; then
        say "already running (state $EP_STATE); nothing started"
        status
        return 0
    fi
    # a partial or stopped earlier pool: clean what it left
    down quiet
    mkdir -p "$EP_STATE" || die "cannot create $EP_STATE"
    EP_STATE=$(cd "$EP_STATE" && pwd)
    PIDS=$EP_STATE/pids
    rm -f "$PIDS" "$EP_STATE"/*.log
    if [ -n "${EP_CERTS:-}" ]; then
        CERTS=$(cd "$EP_CERTS" && pwd) || die "no EP_CERTS folder $EP_CERTS"
    else
        CERTS=$EP_STATE/certs
        "$ROOT/tests/lib/make-certs.sh" "$CERTS" >"$EP_STATE/make-certs.log" 2>&1 ||
            { cat "$EP_STATE/make-certs.log" >&2; die "make-certs.sh failed"; }
    fi
    if [ ! -f "$CERTS/contoso-edge.crt" ] || [ ! -f "$CERTS/fabrikam-edge.crt" ]; then
        die "no contoso-edge/fabrikam-edge certificates in $CERTS"
    fi
    UNDO_ON_DIE=1
    net_up
    write_configs

    spawn redis redis redis-server --port 6379 --bind "$RED" --protected-mode no --save '' --appendonly no \
        --dir "$EP_STATE" --dbfilename redis.rdb
    spawn partner-dns partner nsd -d -c "$EP_STATE/partner-dns/nsd.conf"
    wait_for 10 redis redis_answers
    for i in 1 2 3; do
        spawn node$i node$i "$EP_BIN/edge-node" -f -c "$EP_STATE/node$i.conf"
    done
    spawn balancer balancer "$EP_BIN/edge-balancer" -f -c "$EP_STATE/balancer.conf"
    spawn_kamailio fe
    for i in 1 2 3; do
        wait_for 20 node$i listening node$i "$(addr node$i)" 5061
        wait_for 5 node$i listening node$i "$(addr node$i)" 5060
    done
    wait_for 10 balancer listening balancer "$BAL" 53
    wait_for 10 partner-dns partner_dns_answers
    wait_for 15 balancer dns_lists_nodes
    # the partner, once our DNS answers
    spawn_kamailio partner
    wait_for 10 partner listening partner "$PAR" 5061
    wait_for 10 partner listening partner "$PAR" 5060
    wait_for 10 fe listening fe "$FE" 5060
    wait_for 5 balancer listening balancer "$VIP" 5061
    UNDO_ON_DIE=""
    say "up"
    status
    cat <<MSG

Try it:
  ip netns exec $(ns partner) kdig @$BAL SRV _sipfederationtls._tcp.contoso.test
  ip netns exec $(ns partner) kdig @$BAL A sip.contoso.test
  ip netns exec $(ns redis) redis-cli -h $RED SMEMBERS ep:edgepool:nodes
  ip netns exec $(ns node1) curl -s http://$(addr node1):8080/status
  ip netns exec $(ns balancer) curl -s http://$BAL:8081/status
  # a call from fabrikam.test to alice@contoso.test: a UA behind the front end, then a UAC at the partner
  ip netns exec $(ns fe) sipp -sf $ROOT/tests/sipp/uas_invite_fe.xml -t t1 -i $FE -p 5070 -key fe_contact $FE:5060 -m 1 -bg
  ip netns exec $(ns partner) sipp -sf $ROOT/tests/sipp/uac_invite_bye.xml -t t1 -i $PAR -p 5090 -s alice \\
      -key to_domain contoso.test -key from_user bob -key from_domain fabrikam.test -m 1 $PAR:5060
Stop it: $0 down   (with the same EP_NS / EP_STATE)
MSG
}

down() {
    local quiet=${1:-}
    if [ -f "$PIDS" ]; then
        stop_all "$quiet" 10
        mv -f "$PIDS" "$PIDS.old"
    fi
    net_down
    [ -n "$quiet" ] || say "down (logs kept in $EP_STATE)"
    return 0
}

status() {
    local h name pid rc=0
    if ! any_alive; then
        echo "netns-pool: not running (prefix $EP_NS, state $EP_STATE)"
        return 1
    fi
    printf '%-12s %-16s %-26s %-8s %s\n' DAEMON NAMESPACE ADDRESS PID LISTENS
    for name in redis balancer node1 node2 node3 partner partner-dns fe; do
        case $name in
        partner-dns) h=partner ;;
        *) h=$name ;;
        esac
        pid=$(pid_of "$name") || { pid=-; rc=1; }
        local a ports
        a=$(addr "$h")
        case $name in
        redis) ports="$a:6379" ;;
        balancer) ports="DNS $a:53 udp+tcp, VIP $VIP:5061,5269, admin $a:8081" ;;
        node*) ports="SIP/TCP $a:5060 (internal), SIP/TLS $a:5061, XMPP $a:5269, admin $a:8080" ;;
        partner) ports="SIP/TCP $a:5060 (fabrikam inside), SIP/TLS $a:5061 (mutual TLS)" ;;
        partner-dns) ports="DNS $a:53 (fabrikam.test)" ;;
        fe) ports="SIP/TCP $a:5060 -> your UA at $a:5070" ;;
        esac
        [ "$a" = "$BAL" ] && a="$a, VIP $VIP"
        printf '%-12s %-16s %-26s %-8s %s\n' "$name" "$(ns "$h")" "$a" "$pid" "$ports"
    done
    printf '%-12s %-16s %-26s %-8s %s\n' "(legacy)" "$(ns legacy)" "$(addr legacy)" - "clients of the VIP"
    if [ -e "/run/netns/$(ns partner)" ] && [ -e "/run/netns/$(ns balancer)" ]; then
        echo "A sip.contoso.test from $(ns partner): $(dns_nodes)"
    fi
    echo "state, configs and logs: $EP_STATE"
    return $rc
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
pid)
    pid_of "${2:?pid NAME}" || exit 1
    ;;
*)
    echo "usage: $0 up|down|status|pid NAME" >&2
    exit 2
    ;;
esac
