#!/bin/bash
# local-run.sh start|stop|status|add-node [N]|drain NODE|undrain NODE|remove-node NODE|pid NAME
# -- the local edgepool pool behind `make run` / `make stop` / `make scale-out`:
# a whole pool on loopback addresses, no root needed (root only installs
# packages, in the Makefile).
#
#   what               address (EP_NET=127.0.1)       ports
#   redis              .100                           6379 (EP_REDIS_PORT): pool state
#   node1..node3       .1 .2 .3 (added: .4 .. .9)     SIP/TCP 5060 (internal), SIP/TLS 5061
#                                                     (federation, mutual TLS), XMPP 5269,
#                                                     admin HTTP 8080
#   balancer1          .53 (DNS, admin), VIP .10      DNS 5353 (EP_DNS_PORT) udp+tcp,
#                                                     authoritative for contoso.test; VIP
#                                                     5061, 5269 (pins per source, PROXY v2
#                                                     to the nodes); admin HTTP 8081
#   internal next hop  .11                            5070 (EP_UAS_PORT): a demo UA that
#                                                     answers 200 (tests/lib/sip_responder.py)
#   demo partner       .20                            source address of the demo MESSAGE
#
# All of them share one pool name (EP_POOL, default edgepool) in the Redis.
# The demo PKI (deploy/local-pool/make-demo-pki.sh: a CA, the pool's
# certificate for sip.contoso.test naming node1..9.contoso.test, a partner's
# for sip.fabrikam.test) is made once under the run folder. The nodes seed
# the demo policy into Redis (their configuration's policy group: federation
# on, contoso.test ours, fabrikam.test an allowed partner whose edge is
# sip.fabrikam.test).
#
# start: makes the run folder, starts every daemon in the background (its own
# session, so closing the terminal leaves the pool running; logs NAME.log,
# configs NAME.conf, PIDs in pids: "PID STARTTIME NAME"), returns once the
# pool answers (nodes registered in Redis, the balancer's DNS answering with
# every node's A record) and prints what runs where and how to try it. A
# start while the pool runs starts nothing and says so; a failed start stops
# what it started. stop: SIGTERM to exactly the PIDs start recorded, each
# checked to be the same process (its start time), SIGKILL after
# EP_STOP_TIMEOUT s; nothing else is signalled.
# Scaling (the balancer learns nodes from the Redis registry):
#   add-node [N]      start node N (default: the lowest free of 1..9) on
#                     EP_NET.N; returns once the balancer's DNS lists it
#   drain NODE        edgectl node drain: out of DNS and VIP picks, new
#                     requests get 503 there; its dialogs go on
#   undrain NODE      the reverse
#   remove-node NODE  drain, wait until no transaction is open on it, stop
#                     it (SIGTERM, its PID checked), take it out of the
#                     registry; its dialogs continue through the other nodes
#                     (dialog records in Redis, Record-Route on shared names)
#
# Environment (start records it in the run folder; later commands on that
# folder read it back, so only EP_RUN_DIR needs repeating):
#   EP_RUN_DIR    run folder (default <repo>/run)
#   EP_NET        first three octets of the /24 used (default 127.0.1)
#   EP_BIN        directory of edge-node, edge-balancer, edgectl (default <repo>/bin)
#   EP_POOL       the pool's name in Redis keys (default edgepool)
#   EP_REDIS_PORT (6379)  EP_DNS_PORT (5353)  EP_UAS_PORT (5070)
#   EP_NODES      nodes at start (default 3, at most 9)
#   EP_LOG_LEVEL  daemons' log level (default info)
#   EP_DNS_TTL    TTL of the balancer's answers (default 5)
#   EP_HEALTH_MS  the balancer's check and registry-read interval (default 250)
#   EP_HEALTH_CHECK the balancer's check: tcp (default: silent in the nodes'
#                 logs), tls or sip (an OPTIONS over mutual TLS; each check
#                 is a line in the node's log at info)
#   EP_STOP_TIMEOUT seconds between SIGTERM and SIGKILL (default 10)
#   EP_PYTHON     python3 for the demo UA (default /usr/bin/python3)
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER_PWD=$PWD
RUN=${EP_RUN_DIR:-$ROOT/run}
[[ $RUN == /* ]] || RUN=$CALLER_PWD/$RUN
SETTINGS=(EP_NET EP_BIN EP_POOL EP_REDIS_PORT EP_DNS_PORT EP_UAS_PORT EP_LOG_LEVEL EP_DNS_TTL EP_HEALTH_MS
    EP_HEALTH_CHECK EP_PYTHON)

# settings: the environment's, or those of the pool running in the run
# folder (read back in main, then settings_derive again)
settings_derive() {
    EP_NET=${EP_NET:-127.0.1}
    EP_BIN=${EP_BIN:-$ROOT/bin}
    [[ $EP_BIN == /* ]] || EP_BIN=$CALLER_PWD/$EP_BIN
    EP_POOL=${EP_POOL:-edgepool}
    EP_REDIS_PORT=${EP_REDIS_PORT:-6379}
    EP_DNS_PORT=${EP_DNS_PORT:-5353}
    EP_UAS_PORT=${EP_UAS_PORT:-5070}
    EP_NODES=${EP_NODES:-3}
    EP_LOG_LEVEL=${EP_LOG_LEVEL:-info}
    EP_DNS_TTL=${EP_DNS_TTL:-5}
    EP_HEALTH_MS=${EP_HEALTH_MS:-250}
    EP_HEALTH_CHECK=${EP_HEALTH_CHECK:-tcp}
    EP_STOP_TIMEOUT=${EP_STOP_TIMEOUT:-10}
    EP_PYTHON=${EP_PYTHON:-/usr/bin/python3}
    VIP=$EP_NET.10
    UAS=$EP_NET.11
    PARTNER=$EP_NET.20
    BAL=$EP_NET.53
    RED=$EP_NET.100
    R=$RED:$EP_REDIS_PORT
}
settings_derive
PIDS=$RUN/pids
PKI=$RUN/pki
SIP_PORT=5060 TLS_PORT=5061 XMPP_PORT=5269 ADMIN_PORT=8080 BAL_ADMIN_PORT=8081
ZONE=contoso.test
POOL_FQDN=sip.$ZONE
RR_INTERNAL=edge-int.$ZONE

say() { echo "local-run: $*"; }
UNDO_ON_DIE="" UNDO_NODE=""
die() {
    echo "local-run: $*" >&2
    if [ -n "$UNDO_ON_DIE" ]; then # a failed start leaves nothing running, logs kept
        UNDO_ON_DIE=""
        echo "local-run: stopping what this start started (logs kept in $(rel "$RUN"))" >&2
        stop_all quiet "$EP_STOP_TIMEOUT"
    elif [ -n "$UNDO_NODE" ]; then # a failed add-node leaves the pool as it was
        local n=$UNDO_NODE
        UNDO_NODE=""
        echo "local-run: stopping $n (its log: $(rel "$RUN/$n.log"))" >&2
        stop_names quiet "$EP_STOP_TIMEOUT" "$n"
        forget "$n"
        deregister "$n"
    fi
    exit 1
}
# rel PATH: PATH relative to the caller's directory when inside it
rel() {
    case $1 in
    "$CALLER_PWD") echo . ;;
    "$CALLER_PWD"/*) echo "${1#"$CALLER_PWD"/}" ;;
    *) echo "$1" ;;
    esac
}
ME=$(rel "$ROOT/deploy/local-run.sh")
ms_now() { echo $((${EPOCHREALTIME/./} / 1000)); }

# ---- processes ---------------------------------------------------------------

. "$ROOT/deploy/lib/pidfile.sh"

# spawn NAME CMD...: CMD in the background in a session of its own (setsid
# execs it: same PID), stdin /dev/null, output appended to $RUN/NAME.log, the
# run folder's lock (fd 9) not inherited; its PID and start time recorded
spawn() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$RUN/$name.log" 2>&1 9>&- &
    record "$name" $!
}

# listening ADDR PORT [udp]: a socket bound to ADDR:PORT (or the wildcard)
listening() {
    local opt=-Hltn
    [ "${3:-}" = udp ] && opt=-Hlun
    ss $opt "sport = :$2" 2>/dev/null | awk '{ print $4 }' |
        grep -qxF -e "$1:$2" -e "0.0.0.0:$2" -e "*:$2" -e "[::]:$2"
}
# wait_for SECONDS NAME CMD...: until CMD succeeds; dies at once if NAME exited
wait_for() {
    local t=$1 name=$2 end=$(($(ms_now) + $1 * 1000))
    shift 2
    until "$@"; do
        alive "$name" || { tail -n 15 "$RUN/$name.log" >&2; die "$name exited (log $(rel "$RUN/$name.log"))"; }
        [ "$(ms_now)" -ge $end ] && { tail -n 15 "$RUN/$name.log" >&2; die "$name: '$*' still false after $t s"; }
        sleep 0.05
    done
}

# ---- the pool ----------------------------------------------------------------

node_addr() { echo "$EP_NET.${1#node}"; }
ctl() { "$EP_BIN/edgectl" --redis "$R" --pool "$EP_POOL" --timeout 3 "$@"; }
rcli() { redis-cli --raw -h "$RED" -p "$EP_REDIS_PORT" "$@" 2>/dev/null; }
redis_up() { [ "$(rcli PING)" = PONG ]; }
registered() { [ "$(rcli SCARD "ep:$EP_POOL:nodes")" = "$1" ]; } # N nodes in the registry
policy_in_redis() { ctl policy show >/dev/null 2>&1; }
# the balancer's A answer for the pool FQDN, sorted, comma-separated
dns_a() {
    kdig @"$BAL" -p "$EP_DNS_PORT" +norec +time=1 +retry=0 +short A "$POOL_FQDN" 2>/dev/null |
        grep -E '^[0-9.]+$' | sort -t. -k4,4n | paste -sd, -
}
dns_is() { [ "$(dns_a)" = "$1" ]; }
dns_has() { [[ ,$(dns_a), == *,$1,* ]]; }
dns_lacks() { local a; a=$(dns_a) && [ -n "$a" ] && [[ ,$a, != *,$1,* ]]; }
# the node names recorded and running, in order
nodes_running() {
    local n
    for n in $(recorded); do
        [[ $n == node[0-9] ]] && alive "$n" && echo "$n"
    done | sort -u
}
nodes_csv() { local n out=""; for n in "$@"; do out+=",$(node_addr "$n")"; done; echo "${out#,}"; }

write_node_conf() { # NAME
    local name=$1 a
    a=$(node_addr "$1")
    cat >"$RUN/$name.conf" <<CONF
# $name of the local pool (deploy/local-run.sh); every key: edge-node --print-config
node = { id = "$name"; pool_fqdn = "$POOL_FQDN"; fqdn = "$name.$ZONE"; log_level = "$EP_LOG_LEVEL"; };
# the internal Record-Route names the pool (any node takes a dialog's requests);
# a real front end resolves $RR_INTERNAL to the nodes
internal = { listen = "$a:$SIP_PORT"; next_hops = [ "$UAS:$EP_UAS_PORT" ];
             record_route_host = "$RR_INTERNAL"; };
external = { listen = "$a:$TLS_PORT"; proxy_protocol_from = [ "$VIP" ]; };
tls = { cert = "$PKI/contoso-edge.crt"; key = "$PKI/contoso-edge.key"; ca = "$PKI/ca.crt"; };
dns = { servers = "$BAL:$EP_DNS_PORT"; timeout_ms = 1000; };
limits = { transaction_timeout_ms = 8000; };
admin = { listen = "$a:$ADMIN_PORT"; allow = [ "127.0.0.0/8" ]; };
redis = { addr = "$R"; pool = "$EP_POOL"; snapshot = "$RUN/$name.policy"; seed_policy = true; };
xmpp = { enabled = true; listen = "$a:$XMPP_PORT"; dialback_secret = "local-pool-demo"; };
# the demo policy: written to Redis by the first node when the pool has none
# (edgectl changes it there afterwards)
policy = {
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "$ZONE" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test";
                        comment = "demo partner (certificate in $PKI/fabrikam-edge.crt)"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true;
                                 enable_public_cloud_access = true; } );
};
CONF
}

write_balancer_conf() {
    cat >"$RUN/balancer1.conf" <<CONF
# the balancer of the local pool (deploy/local-run.sh); every key: edge-balancer --print-config
balancer = { id = "balancer1"; log_level = "$EP_LOG_LEVEL"; };
vip = { enabled = true; listen = "$VIP"; ports = [ "$TLS_PORT", "$XMPP_PORT" ]; proxy_protocol = true; };
redis = { addr = "$R"; pool = "$EP_POOL"; };
tls = { cert = "$PKI/contoso-edge.crt"; key = "$PKI/contoso-edge.key"; ca = "$PKI/ca.crt"; };
health = { check = "$EP_HEALTH_CHECK"; interval_ms = $EP_HEALTH_MS; timeout_ms = 1000; rise = 2; fall = 2;
           registry_cache = "$RUN/balancer1.nodes"; };
dns = { listen = "$BAL:$EP_DNS_PORT"; zone = "$ZONE"; pool_fqdn = "$POOL_FQDN";
        ns = [ "ns1.$ZONE@$BAL" ]; ttl = $EP_DNS_TTL; soa_minimum = $EP_DNS_TTL; rrl_rate = 5000; };
admin = { listen = "$BAL:$BAL_ADMIN_PORT"; allow = [ "127.0.0.0/8" ]; };
CONF
}

# start_node NAME: config, spawn, both SIP listeners up
start_node() {
    local name=$1 a
    a=$(node_addr "$name")
    write_node_conf "$name"
    "$EP_BIN/edge-node" --check-config -c "$RUN/$name.conf" >"$RUN/$name.check" 2>&1 ||
        { cat "$RUN/$name.check" >&2; die "$RUN/$name.conf does not validate"; }
    rm -f "$RUN/$name.check"
    spawn "$name" "$EP_BIN/edge-node" -f -c "$RUN/$name.conf"
}
wait_node() {
    local a
    a=$(node_addr "$1")
    wait_for 20 "$1" listening "$a" $TLS_PORT
    wait_for 5 "$1" listening "$a" $SIP_PORT
}

# free_or_die ADDR PORT [udp]: nothing else may hold an address we bind
free_or_die() {
    ! listening "$@" || die "$1:$2${3:+/$3} is already in use by something this run folder did not start
(another pool? pick other addresses: EP_NET=127.0.X $ME start)"
}

check_tools() {
    local c
    for c in redis-server redis-cli kdig ss openssl setsid "$EP_PYTHON"; do
        command -v "$c" >/dev/null 2>&1 || die "$c is not installed (as root: make run installs it)"
    done
    for c in edge-node edge-balancer edgectl; do
        [ -x "$EP_BIN/$c" ] || die "$EP_BIN/$c is not built (make all, or set EP_BIN)"
    done
}

start() {
    local i n names=() t0
    case $EP_NODES in [1-9]) ;; *) die "EP_NODES must be 1..9" ;; esac
    if any_alive; then
        local dead=()
        for n in $(recorded); do alive "$n" || dead+=("$n"); done
        if [ ${#dead[@]} -gt 0 ]; then
            status
            die "a pool is partly running from $(rel "$RUN") (${dead[*]} not running): nothing started; $(stop_cmd) first"
        fi
        say "the local pool is already running (run folder $(rel "$RUN")): nothing started"
        describe
        return 0
    fi
    check_tools
    free_or_die "$RED" "$EP_REDIS_PORT"
    free_or_die "$BAL" "$EP_DNS_PORT" udp
    free_or_die "$BAL" "$EP_DNS_PORT"
    free_or_die "$BAL" $BAL_ADMIN_PORT
    free_or_die "$VIP" $TLS_PORT
    free_or_die "$VIP" $XMPP_PORT
    free_or_die "$UAS" "$EP_UAS_PORT"
    for ((i = 1; i <= EP_NODES; i++)); do
        for n in $SIP_PORT $TLS_PORT $XMPP_PORT $ADMIN_PORT; do free_or_die "$EP_NET.$i" "$n"; done
    done
    t0=$(ms_now)
    rm -f "$PIDS" "$RUN"/*.log "$RUN"/*.log.* "$RUN"/node*.conf "$RUN"/node*.policy
    {
        echo "# settings of the pool started here by $ME (read back by its later commands)"
        for n in "${SETTINGS[@]}"; do printf '%s=%q\n' "$n" "${!n}"; done
    } >"$RUN/settings"
    "$ROOT/deploy/local-pool/make-demo-pki.sh" "$PKI" >"$RUN/pki.log" 2>&1 ||
        { cat "$RUN/pki.log" >&2; die "the demo PKI could not be made"; }
    write_balancer_conf
    "$EP_BIN/edge-balancer" --check-config -c "$RUN/balancer1.conf" >"$RUN/balancer1.check" 2>&1 ||
        { cat "$RUN/balancer1.check" >&2; die "$RUN/balancer1.conf does not validate"; }
    rm -f "$RUN/balancer1.check"
    UNDO_ON_DIE=1
    mkdir -p "$RUN/redis"
    spawn redis redis-server --port "$EP_REDIS_PORT" --bind "$RED" --save '' --appendonly no \
        --dir "$RUN/redis" --dbfilename dump.rdb
    spawn uas "$EP_PYTHON" "$ROOT/tests/lib/sip_responder.py" "$UAS" "$EP_UAS_PORT" 315360000
    wait_for 10 redis redis_up
    for ((i = 1; i <= EP_NODES; i++)); do
        names+=("node$i")
        start_node "node$i"
    done
    spawn balancer1 "$EP_BIN/edge-balancer" -f -c "$RUN/balancer1.conf"
    for n in "${names[@]}"; do wait_node "$n"; done
    wait_for 10 uas listening "$UAS" "$EP_UAS_PORT"
    wait_for 10 balancer1 listening "$BAL" "$EP_DNS_PORT" udp
    wait_for 10 balancer1 listening "$VIP" $TLS_PORT
    wait_for 10 redis registered "${#names[@]}"
    wait_for 15 balancer1 dns_is "$(nodes_csv "${names[@]}")"
    wait_for 10 node1 policy_in_redis
    UNDO_ON_DIE=""
    say "started in $(($(ms_now) - t0)) ms"
    describe
}

stop_cmd() {
    if [ "$RUN" = "$ROOT/run" ]; then echo "make stop"; else echo "EP_RUN_DIR=$(rel "$RUN") $ME stop"; fi
}
# the prefix later commands need (the run folder when not the default one)
envp() { [ "$RUN" = "$ROOT/run" ] || printf 'EP_RUN_DIR=%s ' "$(rel "$RUN")"; }

describe() {
    local n ctlb pki first
    first=$(nodes_running | head -1)
    first=${first:-node1}
    ctlb="$(rel "$EP_BIN")/edgectl --redis $R"
    [ "$EP_POOL" = edgepool ] || ctlb+=" --pool $EP_POOL"
    pki=$(rel "$PKI")
    echo
    status
    cat <<MSG

Try it (each $ line runs as is from this directory):
  # the pool's DNS: the federation SRV (every healthy node in its additional A records), then A
  \$ kdig @$BAL -p $EP_DNS_PORT SRV _sipfederationtls._tcp.$ZONE
  \$ kdig @$BAL -p $EP_DNS_PORT +short A $POOL_FQDN
  # the pool as Redis sees it; the demo policy (edgectl --help for more)
  \$ $ctlb pool status
  \$ $ctlb allowed list
  # a MESSAGE from the demo partner fabrikam.test (mutual TLS with its certificate) through
  # the VIP to alice@$ZONE; the internal next hop answers 200 (its log: $(rel "$RUN")/uas.log)
  \$ $(rel "$ROOT/deploy/local-pool/send-message.py") --to $VIP:$TLS_PORT --src $PARTNER --pki $pki
  # the same with openssl, straight to $first
  \$ (printf 'MESSAGE sip:alice@$ZONE SIP/2.0\\r\\nVia: SIP/2.0/TLS $PARTNER;branch=z9hG4bK%s\\r\\nMax-Forwards: 70\\r\\nFrom: <sip:bob@fabrikam.test>;tag=%s\\r\\nTo: <sip:alice@$ZONE>\\r\\nCall-ID: %s@fabrikam.test\\r\\nCSeq: 1 MESSAGE\\r\\nContent-Type: text/plain\\r\\nContent-Length: 5\\r\\n\\r\\nhello' \$RANDOM \$RANDOM \$RANDOM; sleep 1) | openssl s_client -quiet -no_ign_eof -connect $(node_addr "$first"):$TLS_PORT -servername $POOL_FQDN -cert $pki/fabrikam-edge.crt -key $pki/fabrikam-edge.key -CAfile $pki/ca.crt 2>/dev/null
  # the live pool page: http://$BAL:$BAL_ADMIN_PORT/   a node's state: http://$(node_addr "$first"):$ADMIN_PORT/status
Scale it (the balancer learns nodes from the Redis registry):
  \$ $(envp)$ME add-node              # the next node (node4 on $EP_NET.4)$([ "$RUN" = "$ROOT/run" ] && echo "; or: make scale-out")
  \$ $(envp)$ME drain node2           # no new work for node2, its dialogs go on
  \$ $(envp)$ME remove-node node2     # drain, stop, deregister$([ "$RUN" = "$ROOT/run" ] && echo "; or: make scale-in NODE=node2")
Stop it: $(stop_cmd)
MSG
}

status() {
    local n pid a rc=0 what
    printf '  %-10s %-8s %-22s %s\n' DAEMON PID ADDRESS SERVES
    for n in $(recorded); do
        pid=$(pid_of "$n") || { pid="(dead)"; rc=1; }
        case $n in
        redis) a=$R what="pool state, keys ep:$EP_POOL:*" ;;
        uas) a=$UAS:$EP_UAS_PORT what="internal next hop: a demo UA answering 200" ;;
        balancer1)
            a=$BAL:$EP_DNS_PORT
            what="DNS for $ZONE (udp+tcp), VIP $VIP:$TLS_PORT,$XMPP_PORT, admin :$BAL_ADMIN_PORT"
            ;;
        node*)
            a=$(node_addr "$n")
            what="SIP/TCP :$SIP_PORT internal, SIP/TLS :$TLS_PORT federation, XMPP :$XMPP_PORT, admin :$ADMIN_PORT"
            ;;
        *) a=- what= ;;
        esac
        printf '  %-10s %-8s %-22s %s\n' "$n" "$pid" "$a" "$what"
    done
    if alive balancer1; then
        echo "  DNS A $POOL_FQDN: $(dns_a)"
    fi
    echo "  run folder $(rel "$RUN"): NAME.log, NAME.conf, pids, pki/ (demo CA, contoso-edge, fabrikam-edge)"
    return $rc
}

# ---- scaling -----------------------------------------------------------------

# deregister NAME: a stopped node's entry out of the Redis registry (the
# balancer forgets it at its next read)
deregister() {
    rcli SREM "ep:$EP_POOL:nodes" "$1" >/dev/null
    rcli DEL "ep:$EP_POOL:node:$1" "ep:$EP_POOL:alive:$1" >/dev/null
}

need_pool() {
    if ! alive redis || ! alive balancer1; then
        die "no local pool runs from $(rel "$RUN") (start it: make run, or $(envp)$ME start)"
    fi
}
need_node() { # NAME
    [[ $1 == node[1-9] ]] || die "node names are node1..node9, not '$1'"
    alive "$1" || die "$1 is not running in the pool of $(rel "$RUN")"
}

add_node() {
    local i name=${1:-} a t0 t_up t_dns
    need_pool
    check_tools
    if [ -z "$name" ]; then
        for i in 1 2 3 4 5 6 7 8 9; do alive "node$i" || { name=node$i; break; }; done
        [ -n "$name" ] || die "nine nodes already run: the demo PKI names node1..node9 only"
    fi
    [[ $name =~ ^[1-9]$ ]] && name=node$name
    [[ $name == node[1-9] ]] || die "node names are node1..node9, not '$name'"
    alive "$name" && die "$name already runs"
    a=$(node_addr "$name")
    for i in $SIP_PORT $TLS_PORT $XMPP_PORT $ADMIN_PORT; do free_or_die "$a" "$i"; done
    # a node removed earlier left its log: keep it aside
    [ -f "$RUN/$name.log" ] && mv -f "$RUN/$name.log" "$RUN/$name.log.$(date +%s)"
    forget "$name"
    t0=$(ms_now)
    UNDO_NODE=$name
    start_node "$name"
    wait_node "$name"
    t_up=$(($(ms_now) - t0))
    wait_for 10 "$name" dns_has "$a"
    t_dns=$(($(ms_now) - t0))
    UNDO_NODE=""
    say "$name added on $a: listening after $t_up ms, in the balancer's DNS answers after $t_dns ms"
    echo "  DNS A $POOL_FQDN: $(dns_a)"
    echo "  log $(rel "$RUN/$name.log"), config $(rel "$RUN/$name.conf")"
}

drain() { # NAME [on|off]
    local name=$1 on=${2:-on} a t0 out
    need_pool
    need_node "$name"
    a=$(node_addr "$name")
    t0=$(ms_now)
    if [ "$on" = on ]; then
        out=$(ctl node drain "$name" 2>&1) || die "edgectl node drain $name: $out"
        wait_for 10 "$name" dns_lacks "$a"
        say "$name drained: out of the DNS answers after $(($(ms_now) - t0)) ms, no new VIP pins; new requests there get 503, its dialogs go on"
    else
        out=$(ctl node undrain "$name" 2>&1) || die "edgectl node undrain $name: $out"
        wait_for 10 "$name" dns_has "$a"
        say "$name undrained: back in the DNS answers after $(($(ms_now) - t0)) ms"
    fi
    echo "  DNS A $POOL_FQDN: $(dns_a)"
}

remove_node() { # NAME
    local name=$1 a t0 others n load pid
    need_pool
    need_node "$name"
    others=0
    for n in $(nodes_running); do [ "$n" != "$name" ] && others=$((others + 1)); done
    [ $others -gt 0 ] || die "$name is the last node of the pool: stop the pool instead ($(stop_cmd))"
    a=$(node_addr "$name")
    t0=$(ms_now)
    if [ "$(rcli HGET "ep:$EP_POOL:node:$name" drain)" != 1 ] || ! dns_lacks "$a"; then
        drain "$name" on
    fi
    # no new work reaches it now; let what it has in flight finish (bounded)
    local end=$(($(ms_now) + 30000))
    while :; do
        load=$(rcli HGET "ep:$EP_POOL:node:$name" load)
        [ "${load:-0}" = 0 ] && break
        [ "$(ms_now)" -ge $end ] && { say "$name still has $load transaction(s) open after 30 s: stopping it anyway"; break; }
        sleep 0.2
    done
    pid=$(pid_of "$name")
    stop_names "" "$EP_STOP_TIMEOUT" "$name"
    alive "$name" && die "$name (PID $pid) did not stop"
    forget "$name"
    deregister "$name"
    local dlg
    dlg=$(rcli --scan --pattern "ep:$EP_POOL:dlg:*" | grep -c .)
    say "$name removed in $(($(ms_now) - t0)) ms: drained, stopped (PID $pid), out of the registry; its dialogs go on through the other nodes ($dlg dialog record(s) in Redis)"
    echo "  DNS A $POOL_FQDN: $(dns_a)"
}

# ---- main ----------------------------------------------------------------------

cmd=${1:-start}
case $cmd in
start | stop | status | add-node | drain | undrain | remove-node | pid) ;;
*)
    echo "usage: $0 start|stop|status|add-node [N]|drain NODE|undrain NODE|remove-node NODE|pid NAME" >&2
    exit 2
    ;;
esac
mkdir -p "$RUN" || die "cannot create $RUN"
RUN=$(cd "$RUN" && pwd)
PIDS=$RUN/pids
PKI=$RUN/pki
# one command at a time on a run folder
exec 9>"$RUN/.lock"
flock -w 60 9 || die "another $ME holds $RUN/.lock"
if any_alive && [ -f "$RUN/settings" ]; then
    # shellcheck disable=SC1091
    . "$RUN/settings"
    settings_derive
fi
case $cmd in
start) start ;;
stop)
    if any_alive; then
        stop_all "" "$EP_STOP_TIMEOUT"
        say "stopped (logs kept in $(rel "$RUN"))"
    else
        [ -f "$PIDS" ] && mv -f "$PIDS" "$PIDS.old"
        say "no local pool runs from $(rel "$RUN")"
    fi
    ;;
status)
    any_alive || { say "no local pool runs from $(rel "$RUN")"; exit 1; }
    status
    ;;
add-node) add_node "${2:-}" ;;
drain) drain "${2:?drain NODE}" on ;;
undrain) drain "${2:?undrain NODE}" off ;;
remove-node) remove_node "${2:?remove-node NODE}" ;;
pid) pid_of "${2:?pid NAME}" || exit 1 ;;
esac
