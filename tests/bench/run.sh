#!/bin/bash
# run.sh -- `make bench`: edge-node against Kamailio, and the memory of an idle
# federated TLS connection (issue 2, "Performance"). Not part of `make test`.
#
# 1. MESSAGE transactions through one relay, the same SIPp load generator for
#    every line, the relay pinned to core 1 (taskset), the load generator
#    (SIPp UAC and UAS, stunnel) to core 0:
#      edge-node:      SIPp UAC -TCP-> stunnel (client cert fabrikam-edge)
#                      -mutual TLS-> edge-node :5061 (fabrikam.test an allowed
#                      partner server, edge sip.fabrikam.test; contoso.test
#                      ours) -TCP-> SIPp UAS (the internal next hop)
#      kamailio:       SIPp UAC -TCP-> Kamailio (tests/lib/kamailio-relay.cfg,
#                      t_relay over TCP) -TCP-> SIPp UAS
#      kamailio+tls:   SIPp UAC -TCP-> stunnel -mutual TLS-> Kamailio's own TLS
#                      listener (tests/bench/kamailio-relay-tls.cfg) -TCP-> UAS:
#                      the same ingress as edge-node's, a second reference.
#    With 2 cores the load generator may saturate before the relay, so the
#    figure compared is per core: successful transactions per CPU-second the
#    relay consumed (utime+stime of the relay process and all its children,
#    /proc/PID/stat, over the measured window); the raw rate is printed too.
#    Each line: a warm-up (connections up, first TLS handshake done), then
#    BENCH_CALLS MESSAGEs at BENCH_RATE/s for at most BENCH_CAP s.
# 2. Memory per idle federated TLS connection: a fresh edge-node, 20 warm-up
#    mutual-TLS connections (one-time allocations), VmRSS, then
#    BENCH_IDLE_CONNS more idle connections (tests/bench/tls_idle.py, a full
#    handshake each with the fabrikam-edge certificate), VmRSS again.
# 3. A summary block. Exit status 1 when a line could not be measured or a
#    transaction failed.
#
# Environment: BENCH_CALLS (20000), BENCH_RATE (calls/s, 8000), BENCH_CAP
# (s, 30), BENCH_WARM (1000), BENCH_IDLE_CONNS (1000), BENCH_ONLY (a
# space-separated subset of "edge kam kamtls idle dns vip"), KAM_SHM (MB, 1024: see
# TESTING-NOTES), KAM_CHILDREN (Kamailio TCP workers, 2), KAM_MEM (Kamailio's
# memory manager, fm; qm is the Debian default, about half as fast),
# BENCH_PROFILE (labels among "edge kam kamtls" whose relay is recorded by
# `perf record` during the measured run, at BENCH_PERF_FREQ Hz (2999) with
# BENCH_PERF_CG (-g; "--call-graph dwarf,8192" for stacks through -O2 code):
# $WORK/LABEL.perf.{data,txt}; the recording costs the relay CPU, so that
# line's figures are not clean), EP_BIN (directory of edge-node, default bin/:
# the optimized build, never the sanitizer one).
# Addresses: 127.0.8.0/24 only (the VIP part, tests/bench/vip.sh: 127.0.14.0/24). Work dir: tests/out/bench.d.

EP_ROOT=${EP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
EP_BIN=${EP_BIN:-$EP_ROOT/bin}
export EP_ROOT EP_BIN
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
BENCH_DIR=$EP_ROOT/tests/bench

BENCH_CALLS=${BENCH_CALLS:-20000}
BENCH_RATE=${BENCH_RATE:-8000}
BENCH_CAP=${BENCH_CAP:-30}
BENCH_WARM=${BENCH_WARM:-1000}
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
BENCH_ONLY=${BENCH_ONLY:-edge kam kamtls idle dns vip}
export KAM_SHM=${KAM_SHM:-1024}
export KAM_CHILDREN=${KAM_CHILDREN:-2}
# Kamailio's memory managers: Debian's build defaults to q_malloc with its
# debugging (DBG_SR_MEMORY), which doubles the relay's CPU per transaction
# here; f_malloc is the fast one a production relay runs, so the reference
# uses it (KAM_MEM=qm for the package default).
KAM_MEM=${KAM_MEM:-fm}
export NODE_LOG_LEVEL=${NODE_LOG_LEVEL:-warn}
EP_RUN_TIMEOUT=$((BENCH_CAP + 30))

ep_setup bench
need_bin edge-node
need_cmd sipp kamailio stunnel4 taskset /usr/bin/python3 ss
ep_certs
CLK_TCK=$(getconf CLK_TCK)
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

# --- cores ---------------------------------------------------------------
GEN_CORE=0
RELAY_CORE=1
NCORES=$(nproc)
if [ "$NCORES" -ge 2 ]; then
    taskset -cp "$GEN_CORE" $$ >/dev/null || fail "taskset on the bench shell failed"
    PINNED=1
    note "load generator (this shell, SIPp, stunnel, python) on core $GEN_CORE, relays on core $RELAY_CORE"
else
    PINNED=0
    note "only $NCORES core: nothing pinned, the figures share one core"
fi

# bench_pin NAME: NAME's process tree (every thread) onto the relay core.
bench_pin() {
    local p
    [ "$PINNED" = 1 ] || return 0
    for p in $(ep__tree "$(ep_pid "$1")"); do
        taskset -acp "$RELAY_CORE" "$p" >/dev/null || fail "cannot pin $1 (pid $p)"
    done
}

# bench_cpu NAME: "TICKS NS": utime+stime (clock ticks, /proc/PID/stat: the
# figure compared) and the scheduler's run time (ns, the sum of
# /proc/PID/task/*/schedstat: a finer cross-check) of NAME's process and all
# its descendants, every thread of each.
bench_cpu() {
    local p s sum=0 ns=0 f t
    for p in $(ep__tree "$(ep_pid "$1")"); do
        read -r s 2>/dev/null <"/proc/$p/stat" || continue
        s=${s##*) }
        read -r -a f <<<"$s"
        sum=$((sum + f[11] + f[12])) # fields 14 and 15 (utime, stime)
        for t in /proc/"$p"/task/*/schedstat; do
            read -r s _ 2>/dev/null <"$t" && ns=$((ns + s))
        done
    done
    echo "$sum $ns"
}

# bench_rss NAME: VmRSS of NAME's process in KiB.
bench_rss() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$(ep_pid "$1")/status"
}

# stunnel_start NAME ACCEPT_IP ACCEPT_PORT CONNECT_IP:PORT: a TLS client
# wrapper presenting fabrikam-edge's certificate, verifying the server's as
# sip.contoso.test against the test CA, leaving from ACCEPT_IP.
stunnel_start() {
    local name=$1 ip=$2 port=$3 connect=$4
    cat >"$WORK/$name.conf" <<CONF
foreground = yes
pid =
debug = 4
[sip]
client = yes
accept = $ip:$port
connect = $connect
local = $ip
cert = $EP_CERTS/fabrikam-edge.crt
key = $EP_CERTS/fabrikam-edge.key
CAfile = $EP_CERTS/ca.crt
verifyChain = yes
checkHost = sip.contoso.test
sni = sip.contoso.test
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
CONF
    ep_spawn "$name" stunnel4 "$WORK/$name.conf"
    wait_tcp "$ip" "$port" || fail "stunnel $name does not listen on $ip:$port (log ${WORK#"$EP_ROOT"/}/$name.log)"
}

# The edge-node's configuration: fabrikam.test a direct partner server.
BENCH_POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true;
                                 enable_public_cloud_access = true; } );'
bench_node() { # NAME ADDR NEXT_HOP
    node_conf "$1" "$2" "$3" "" "$BENCH_POLICY"
    sed -i 's/^limits = { /limits = { max_connections_per_source = 5000; max_connections = 20000; /' "$WORK/$1.conf"
    grep -q max_connections_per_source "$WORK/$1.conf" || fail "could not set the limits in $1.conf"
    node_start "$1"
    bench_pin "$1"
}

UAC_KEYS=(-s alice -key to_domain contoso.test -key from_user bob -key from_domain fabrikam.test)

# bench_message LABEL RELAY TARGET UAC_IP UAS_IP: one line of figures in
# R[LABEL_ok|failed|secs|tps|cpu|per_cpu|sched] (successful and failed
# transactions, wall seconds, raw rate, relay CPU seconds from utime+stime,
# transactions per CPU-second, CPU seconds from schedstat).
declare -A R=()
bench_message() {
    local label=$1 relay=$2 target=$3 uac_ip=$4 uas_ip=$5 c0 c1 n0 n1 t0 t1 ok
    SIPP_TRACE_MSG=0 SIPP_TIMEOUT=$((BENCH_CAP + 60)) sipp_spawn "${label}_uas" uas_message.xml \
        -t t1 -i "$uas_ip" -p 5070 -m $((BENCH_WARM + BENCH_CALLS))
    wait_tcp "$uas_ip" 5070 || fail "UAS ${label}_uas did not start"
    SIPP_TRACE_MSG=0 sipp_run "${label}_warm" uac_message.xml -t t1 -i "$uac_ip" "${UAC_KEYS[@]}" \
        -m "$BENCH_WARM" -r 1000 -rp 1000 "$target"
    ok=$(sipp_ok "${label}_warm")
    [ "$ok" = "$BENCH_WARM" ] || fail "$label warm-up: $ok of $BENCH_WARM MESSAGEs succeeded (${WORK#"$EP_ROOT"/}/${label}_warm.*)"
    ep_alive "$relay" || fail "$relay died during the warm-up"
    if [ -n "${BENCH_PROFILE:-}" ] && [[ " $BENCH_PROFILE " == *" $label "* ]]; then
        ep_spawn "perf_$label" perf record -F "${BENCH_PERF_FREQ:-2999}" ${BENCH_PERF_CG:--g} \
            -o "$WORK/$label.perf.data" -p "$(ep__tree "$(ep_pid "$relay")" | paste -sd, -)"
        sleep 0.5
    fi
    read -r c0 n0 <<<"$(bench_cpu "$relay")"
    t0=$(ep__now)
    SIPP_TRACE_MSG=0 SIPP_TIMEOUT=$BENCH_CAP sipp_run "$label" uac_message.xml -t t1 -i "$uac_ip" \
        "${UAC_KEYS[@]}" -m "$BENCH_CALLS" -r "$BENCH_RATE" -rp 1000 "$target"
    t1=$(ep__now)
    read -r c1 n1 <<<"$(bench_cpu "$relay")"
    ep_alive "$relay" || fail "$relay died during the run"
    if ep_alive "perf_$label" 2>/dev/null; then
        ep_kill "perf_$label" INT >/dev/null
        ep_wait "perf_$label" 30 >/dev/null
        perf report -i "$WORK/$label.perf.data" --stdio --no-children --percent-limit 0.5 \
            --sort dso,symbol -g none >"$WORK/$label.perf.txt" 2>/dev/null
        note "profile of $relay: ${WORK#"$EP_ROOT"/}/$label.perf.{data,txt}"
    fi
    ok=$(sipp_ok "$label")
    [[ $ok =~ ^[0-9]+$ ]] || ok=0
    ep_wait "${label}_uas" 10 >/dev/null || ep_stop "${label}_uas" >/dev/null
    local f
    for f in $(awk -v ok="$ok" -v n="$BENCH_CALLS" -v us=$((t1 - t0)) -v tk=$((c1 - c0)) \
        -v ns=$((n1 - n0)) -v hz="$CLK_TCK" 'BEGIN {
            s = us / 1e6; cpu = tk / hz
            printf("ok=%d failed=%d secs=%.2f tps=%.0f ", ok, n - ok, s, s > 0 ? ok / s : 0)
            printf("cpu=%.2f per_cpu=%.0f sched=%.2f\n", cpu, cpu > 0 ? ok / cpu : 0, ns / 1e9) }'); do
        R[${label}_${f%%=*}]=${f#*=}
    done
    note "$label: $ok/$BENCH_CALLS ok in ${R[${label}_secs]} s: ${R[${label}_tps]} tps;" \
        "relay CPU ${R[${label}_cpu]} s (schedstat ${R[${label}_sched]} s): ${R[${label}_per_cpu]} tx/CPU-s"
}

want() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }
BAD=0

# --- 1a. edge-node: TLS in (stunnel as the partner edge), TCP out ------------
if want edge; then
    note "== edge-node: SIPp -TCP-> stunnel -mTLS-> edge-node -TCP-> SIPp UAS"
    bench_node node1 127.0.8.1 127.0.8.11:5070
    stunnel_start tls_edge 127.0.8.2 5062 127.0.8.1:5061
    bench_message edge node1 127.0.8.2:5062 127.0.8.21 127.0.8.11
    grep -E ' (error|warn) ' "$WORK/node1.log" | head -5
    ep_stop tls_edge >/dev/null
    ep_stop node1 || note "node1 exit status $?"
fi

# --- 1b. Kamailio, plain TCP relay -------------------------------------------
if want kam; then
    note "== kamailio: SIPp -TCP-> Kamailio (t_relay) -TCP-> SIPp UAS"
    kamailio_relay_start kam 127.0.8.3 127.0.8.13:5070 -x "$KAM_MEM" -X "$KAM_MEM"
    bench_pin kam
    bench_message kam kam 127.0.8.3:5060 127.0.8.23 127.0.8.13
    ep_stop kam >/dev/null
fi

# --- 1c. Kamailio with the same TLS ingress -----------------------------------
if want kamtls; then
    note "== kamailio+tls: SIPp -TCP-> stunnel -mTLS-> Kamailio (tls.so, t_relay) -TCP-> SIPp UAS"
    kamailio__gen "$EP_LIB/kamailio-tls.cfg" "$WORK/kamtls-tls.cfg" \
        CERT="$EP_CERTS/contoso-edge.crt" KEY="$EP_CERTS/contoso-edge.key" CA="$EP_CERTS/ca.crt"
    kamailio__gen "$BENCH_DIR/kamailio-relay-tls.cfg" "$WORK/kamtls.cfg" \
        NAME=kamtls ADDR=127.0.8.4 NEXT_HOP=127.0.8.14:5070 TLSCFG="$WORK/kamtls-tls.cfg" \
        DEBUG="${KAM_DEBUG:-1}" CHILDREN="$KAM_CHILDREN" FR_TIMER="${KAM_FR_TIMER:-3000}"
    kamailio__start kamtls 127.0.8.4 "$WORK/kamtls.cfg" 5061 -- -x "$KAM_MEM" -X "$KAM_MEM"
    bench_pin kamtls
    stunnel_start tls_kam 127.0.8.5 5062 127.0.8.4:5061
    bench_message kamtls kamtls 127.0.8.5:5062 127.0.8.24 127.0.8.14
    ep_stop tls_kam >/dev/null
    ep_stop kamtls >/dev/null
fi

# --- 2. memory per idle federated TLS connection ------------------------------
if want idle; then
    note "== idle mutual-TLS connections to a fresh edge-node"
    bench_node node2 127.0.8.6 127.0.8.11:5070
    idle_args=(127.0.8.6 5061 127.0.8.31)
    idle_certs=("$EP_CERTS/fabrikam-edge.crt" "$EP_CERTS/fabrikam-edge.key" "$EP_CERTS/ca.crt" sip.contoso.test "$WORK/idle.stop" 120)
    rm -f "$WORK/idle.stop"
    ep_spawn idle_warm /usr/bin/python3 "$BENCH_DIR/tls_idle.py" "${idle_args[@]}" 20 "${idle_certs[@]}"
    wait_log "$WORK/idle_warm.log" '^opened ' 30 || fail "warm-up connections not opened"
    assert_log "$WORK/idle_warm.log" '^opened 20$' "20 warm-up connections"
    sleep 1
    RSS0=$(bench_rss node2)
    ep_spawn idle /usr/bin/python3 "$BENCH_DIR/tls_idle.py" "${idle_args[@]}" "$BENCH_IDLE_CONNS" "${idle_certs[@]}"
    wait_log "$WORK/idle.log" '^opened ' 90 || fail "idle connections not opened"
    assert_log "$WORK/idle.log" "^opened $BENCH_IDLE_CONNS\$" "$BENCH_IDLE_CONNS idle connections"
    sleep 2
    ESTAB=$(ss -Htn state established '( sport = :5061 )' src 127.0.8.6 | wc -l)
    RSS1=$(bench_rss node2)
    touch "$WORK/idle.stop"
    ep_wait idle 30 >/dev/null
    ep_wait idle_warm 30 >/dev/null
    IDLE_KIB=$(awk -v a="$RSS0" -v b="$RSS1" -v n="$BENCH_IDLE_CONNS" 'BEGIN { printf "%.1f", (b - a) / n }')
    note "edge-node VmRSS $RSS0 KiB with 20 connections, $RSS1 KiB with $((BENCH_IDLE_CONNS + 20)) ($ESTAB established on :5061)"
    ep_stop node2 || note "node2 exit status $?"
fi

# --- DNS: edge-balancer against NSD (tests/bench/dns.sh) ---------------------
. "$BENCH_DIR/dns.sh"
want dns && bench_dns

# --- VIP: edge-balancer against HAProxy (tests/bench/vip.sh) -----------------
. "$BENCH_DIR/vip.sh"
want vip && vip_bench

# --- 3. summary ----------------------------------------------------------------
line() { # LABEL TITLE
    local l=$1
    if [ -z "${R[${l}_ok]:-}" ]; then
        printf '  %-14s not measured\n' "$2"
        return
    fi
    printf '  %-14s %6s tps  %7s tx/CPU-s  (relay CPU %s s [schedstat %s s] over %s s; %s/%s ok, %s failed)\n' \
        "$2" "${R[${l}_tps]}" "${R[${l}_per_cpu]}" "${R[${l}_cpu]}" "${R[${l}_sched]}" "${R[${l}_secs]}" \
        "${R[${l}_ok]}" "$BENCH_CALLS" "${R[${l}_failed]}"
    [ "${R[${l}_failed]}" = 0 ] || BAD=1
}
ratio() { # A B: A/B per CPU-second
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'
}
echo
rev=$(git -C "$EP_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
echo "==================== edgepool bench ($(date -u +%Y-%m-%dT%H:%M:%SZ), $NCORES cores, tree $rev) ===================="
echo "MESSAGE transactions, $BENCH_CALLS at up to $BENCH_RATE/s (cap ${BENCH_CAP}s), relay on core $RELAY_CORE, SIPp/stunnel on core $GEN_CORE:"
line edge "edge-node"
line kam "kamailio"
line kamtls "kamailio+tls"
echo "  edge-node:    SIPp -TCP-> stunnel -mTLS-> edge-node -TCP-> SIPp (TLS terminated by the relay)"
echo "  kamailio:     SIPp -TCP-> kamailio (t_relay) -TCP-> SIPp (no TLS: the issue's reference; -x/-X $KAM_MEM, $KAM_CHILDREN TCP workers)"
echo "  kamailio+tls: SIPp -TCP-> stunnel -mTLS-> kamailio tls.so (t_relay) -TCP-> SIPp (same ingress as edge-node)"
if want edge || want kam; then
    printf 'MESSAGE relay  edge-node: %s tps, %s tx/CPU-s | kamailio: %s tps, %s tx/CPU-s | ratio %s (target >= 1.2) | failed: %s/%s\n' \
        "${R[edge_tps]:-n/a}" "${R[edge_per_cpu]:-n/a}" "${R[kam_tps]:-n/a}" "${R[kam_per_cpu]:-n/a}" \
        "$(ratio "${R[edge_per_cpu]:-}" "${R[kam_per_cpu]:-}")" "${R[edge_failed]:-n/a}" "${R[kam_failed]:-n/a}"
fi
if want kamtls; then
    printf 'MESSAGE relay  edge-node vs kamailio+tls (same TLS ingress): %s vs %s tx/CPU-s | ratio %s | failed: %s\n' \
        "${R[edge_per_cpu]:-n/a}" "${R[kamtls_per_cpu]:-n/a}" \
        "$(ratio "${R[edge_per_cpu]:-}" "${R[kamtls_per_cpu]:-}")" "${R[kamtls_failed]:-n/a}"
fi
want dns && dns_summary
want vip && vip_summary
if want idle; then
    echo "idle TLS connection: $IDLE_KIB KiB each ($BENCH_IDLE_CONNS connections; edge-node VmRSS $RSS0 -> $RSS1 KiB)"
fi
echo "========================================================================================="
for l in edge kam kamtls; do
    want "$l" || continue
    [ -n "${R[${l}_ok]:-}" ] || BAD=1
done
[ "$BAD" = 0 ] || fail "some transactions failed or a line was not measured (logs in ${WORK#"$EP_ROOT"/})"
pass "figures above"
