#!/bin/bash
# node_host_down.sh -- an edge node's HOST vanishes under SIP load (its link
# goes down: no RST, no ICMP from it, the process stays alive but cannot be
# reached) and no established dialog is lost; the balancer drops it from DNS
# after `fall` timed-out checks; it comes back once its link is up again.
#
# Unlike node_kill_under_load.sh (SIGKILL: the node's host answers with RST,
# the partner's connect fails at once), here the node's namespace takes its
# only interface down (`ip link set eth0 down`): its peers get silence. The
# pool runs on hosts of its own (deploy/netns-pool.sh through
# tests/lib/netns.sh: namespaces epft-hd-*, state in $WORK/pool). Calls come
# from fabrikam.test: a SIPp UAC on the partner host over TCP to its Kamailio
# (deploy/netns/kamailio-partner.cfg: DNS cache, use_dns_failover, fr_timer
# 3 s), which relays them over mutual TLS to sip.contoso.test resolved through
# our balancer; INVITE/200/ACK, held 6 s, BYE from the partner side
# (tests/sipp/uac_invite_hold_bye_timed.xml: each step logged with its time).
# The DNS TTL and the partner's cache are 10 s: the partner keeps its first
# answer, so the dialogs all go to the node first in it (the victim, V) and
# the BYEs of V's dialogs come while the partner still lists V first -- it
# learns nothing from DNS, only from its own timeouts. Once V holds 80
# dialogs (Redis), its link goes down; then:
#  - the balancer's A answers (asked from the partner's host) stop listing V
#    within 3 s (health interval 500 ms, timeout 1000 ms, fall 2: two
#    timed-out checks, 1.5-2.5 s; and at least 1 s: not a refusal), the
#    balancer logs V down for a timeout, V's liveness key in Redis
#    (ep:edgepool:alive:V, 3 s TTL) expires;
#  - every established dialog's BYE gets 200, those of V's dialogs through the
#    other nodes (the partner's log names the node that answered each BYE).
#    What Kamailio 5.6 does (its log, tm's timer.c final_response_handler):
#    the BYE goes onto its open TLS connection to V, nothing answers and
#    nothing refuses; after fr_timer (3 s) tm, with use_dns_failover, adds a
#    branch to the next A record of the Route's host (within the transaction's
#    lifetime) and the 200 comes from there, so V's BYEs take about 3 s
#    (counted; asserted for at least one). Once 32 KB wait in the
#    connection's write queue (tcp_conn_wq_max) a send fails at once ("write
#    queue full"), Kamailio closes the connection and tm fails over at once;
#    the next connect to V times out (tcp_connect_timeout). This needs
#    tcp_async=yes (Kamailio's default; netns-pool.sh EP_PARTNER_TCP_ASYNC):
#    with the pool's default tcp_async=no a worker blocks in write() for
#    tcp_send_timeout (10 s) once the socket buffer to V is full, and that
#    worker also reads the UAC's connection -- every call stalls 10 s
#    ("tsend_stream: send timeout (p 10000)") and BYEs come too late (21 of
#    81 of V's dialogs lost in a run: SIPp's 10 s answer timeout);
#  - INVITEs V was relaying at the cut (100 came, the rest lost with V) are
#    counted apart as setups cut: at most 5; INVITEs sent to V after the cut
#    fail over after fr_timer too (counted);
#  - V's link up again: it refreshes its liveness key (< 4 s) and the balancer
#    puts it back in the A answers after `rise` (2) good checks (< 5 s).
# Figures: calls total / established / BYEs ok / failed, V's dialogs and how
# their BYEs went (after a timeout or at once, slowest), INVITEs failed over,
# time to DNS removal, to the balancer's "down" log, to the liveness key's
# expiry, and after the link is back: to the liveness key and the DNS answers.
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/netns.sh"
ep_setup node_host_down
need_cmd ip sipp kamailio redis-server redis-cli nsd kdig
need_bin edge-node edge-balancer
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
ep_certs

CALLS=200 RATE=20 HOLD_MS=6000
V_MIN=80 # dialogs the victim must hold when its host vanishes
# the balancer's TTL and the partner's cache 10 s: the partner keeps its first
# answer (one rotation of node1..3) for the first half of the calls, so every
# dialog goes to the node first in it (the victim, V below) and the BYEs of
# V's dialogs come while the partner still lists V first: it cannot learn of
# V's death from DNS, only from its own timeouts
netns_pool_up epft-hd- EP_DNS_TTL=10 EP_PARTNER_TTL=10 EP_PARTNER_TCP_ASYNC=yes
PAR=$(netns_addr partner) FE=$(netns_addr fe) BAL=$(netns_addr balancer)
rcl() { nsx redis redis-cli -h "$(netns_addr redis)" -p 6379 --raw "$@"; }

# the dialogs in Redis, one snapshot (one EVAL): "n <node>=<count>" per node,
# then "c <Call-ID>" for each dialog held by node ARGV[1]
LUA_DLG="local t, ids = {}, {} for _, k in ipairs(redis.call('keys', 'ep:edgepool:dlg:*')) do
  local n = redis.call('hget', k, 'node') or '?' t[n] = (t[n] or 0) + 1
  if n == ARGV[1] then ids[#ids + 1] = 'c ' .. (redis.call('hget', k, 'call_id') or '?') end end
  local r = {} for n, c in pairs(t) do r[#r + 1] = 'n ' .. n .. '=' .. c end
  for _, i in ipairs(ids) do r[#r + 1] = i end return r"
dlg_counts() { rcl EVAL "$LUA_DLG" 0 - | sed -n 's/^n //p' | sort | paste -sd' ' -; }
# the node holding the most dialogs, once it holds V_MIN
victim_holds_many() {
    local top
    top=$(dlg_counts | tr ' ' '\n' | sort -t= -k2,2nr | head -1)
    [ "${top#*=}" -ge $V_MIN ] 2>/dev/null || return 1
    V=${top%%=*}
}
a_records() { nsx partner kdig @"$BAL" +short +time=1 +retry=0 A sip.contoso.test 2>/dev/null | sort | paste -sd, -; }
v_alive() { [ "$(rcl EXISTS "ep:edgepool:alive:$V")" = 1 ]; }
since_ms() { echo $((($(ep__now) - $1) / 1000)); }

# --- the load: a UAS behind our front end, the UAC at fabrikam.test ----------
SIPP_TIMEOUT=60 SIPP_RECV_TIMEOUT=15000 SIPP_TRACE_MSG=0 netns_sipp_spawn uas fe uas_invite_fe.xml \
    -t t1 -i "$FE" -p 5070 -key fe_contact "$FE:5060" -m $CALLS
wait_until 10 eval 'nsx fe ss -Hltn "sport = :5070" | grep -q 5070' || fail "the UAS does not listen"
SIPP_TIMEOUT=60 SIPP_RECV_TIMEOUT=10000 SIPP_TRACE_MSG=0 netns_sipp_spawn uac partner uac_invite_hold_bye_timed.xml \
    -t t1 -i "$PAR" -p 5090 -s alice -key to_domain contoso.test -key from_user bob \
    -key from_domain fabrikam.test -m $CALLS -r $RATE -d $HOLD_MS "$PAR:5060"

# --- V's host vanishes once it holds many established dialogs ----------------
V=""
wait_until 15 victim_holds_many || fail "no node held $V_MIN dialogs: $(dlg_counts)"
VA=$(netns_addr "$V")
V_PID=$(netns_pid "$V") || fail "$V is not running before its host goes"
v_alive || fail "no liveness key for $V in Redis before the cut"
SNAP=$(rcl EVAL "$LUA_DLG" 0 "$V")
AT_CUT=$(sed -n 's/^n //p' <<<"$SNAP" | sort | paste -sd' ' -)
mapfile -t V_CALLS < <(sed -n 's/^c //p' <<<"$SNAP")
BAL_DOWN_BEFORE=$(grep -c "node $V .* is down" "$WORK/pool/balancer.log")
nsx "$V" ip link set eth0 down || fail "cannot take $V's link down"
T0=$(ep__now)
note "$V's host ($VA) cut off the LAN (eth0 down in epft-hd-$V; $V pid $V_PID still runs); dialogs in Redis at the cut: $AT_CUT"
DNS_MS="" ALIVE_MS="" LOG_MS="" A=""
while [ -z "$DNS_MS" ] || [ -z "$ALIVE_MS" ] || [ -z "$LOG_MS" ]; do
    if [ -z "$DNS_MS" ]; then
        A=$(a_records)
        [[ -n "$A" && ",$A," != *",$VA,"* ]] && DNS_MS=$(since_ms "$T0")
    fi
    [ -z "$ALIVE_MS" ] && ! v_alive && ALIVE_MS=$(since_ms "$T0")
    [ -z "$LOG_MS" ] && [ "$(grep -c "node $V .* is down" "$WORK/pool/balancer.log")" -gt "$BAL_DOWN_BEFORE" ] &&
        LOG_MS=$(since_ms "$T0")
    [ "$(since_ms "$T0")" -gt 6000 ] && break
    sleep 0.02
done
note "$V out of the balancer's A answers after ${DNS_MS:-(not within 6 s)} ms ($A), its 'down' log after ${LOG_MS:-(none)} ms, its liveness key expired after ${ALIVE_MS:-(not within 6 s)} ms"
kill -0 "$V_PID" 2>/dev/null || fail "$V's process died while its host was cut off"

# --- the calls end ($V still unreachable: its BYEs must go elsewhere) ---------
ep_wait uac 70
rc=$?
note "SIPp UAC exit status $rc"

# --- V's link comes back -------------------------------------------------------
nsx "$V" ip link set eth0 up || fail "cannot bring $V's link up"
T1=$(ep__now)
BACK_MS="" REALIVE_MS=""
while [ -z "$BACK_MS" ] || [ -z "$REALIVE_MS" ]; do
    if [ -z "$BACK_MS" ]; then
        A=$(a_records)
        [[ ",$A," == *",$VA,"* ]] && BACK_MS=$(since_ms "$T1")
    fi
    [ -z "$REALIVE_MS" ] && v_alive && REALIVE_MS=$(since_ms "$T1")
    [ "$(since_ms "$T1")" -gt 8000 ] && break
    sleep 0.02
done
note "$V's link up: its liveness key back after ${REALIVE_MS:-(not within 8 s)} ms, in the A answers again after ${BACK_MS:-(not within 8 s)} ms: $A"
kill -0 "$V_PID" 2>/dev/null || fail "$V's process died"

ACT=$WORK/uac.actions
TOTAL=$(sipp_count uac 'OutgoingCall(C)')
OK=$(sipp_ok uac)
FAILED=$(sipp_failed uac)
EST=$(grep -c '^EST ' "$ACT" 2>/dev/null)
BYEOK=$(grep -c '^BYEOK ' "$ACT" 2>/dev/null)
# established calls whose BYE did not get its 200
EST_LOST=$(comm -23 <(awk '$1 == "EST" {print $2}' "$ACT" | sort -u) \
    <(awk '$1 == "BYEOK" {print $2}' "$ACT" | sort -u) | grep -c .)
CUT=$((TOTAL - EST))
# per call: INVITE->200 and BYE->200 in ms (SIPp's clock)
awk '{t[$1 " " $2] = $3} END {for (k in t) { split(k, a, " ")
        if (a[1] == "BYEOK") print a[2], "bye", t[k] - t["BYE " a[2]]
        if (a[1] == "EST") print a[2], "inv", t[k] - t["INV " a[2]] } }' "$ACT" >"$WORK/latency"
SLOW_INV=$(awk '$2 == "inv" && $3 >= 2500' "$WORK/latency" | grep -c .)
OTHERS="$(netns_addr node1)|$(netns_addr node2)|$(netns_addr node3)"
OTHERS=${OTHERS//$VA|/} OTHERS=${OTHERS//|$VA/}
OTHERS=${OTHERS//./\\.}
V_EST=0 V_BYEOK=0 V_VIA_OTHERS=0 V_ENDED=0 V_BYE_SLOW=0 V_BYE_FAST=0 V_BYE_MAX=0
for c in "${V_CALLS[@]}"; do
    # a BYE answered by V itself went through in the few ms between the
    # snapshot and the cut: that dialog had ended, not one held at the cut
    if grep -F "callid=$c" "$WORK/pool/partner.log" | grep -qF "EP-REPLY 200 BYE from=tls:$VA:"; then
        V_ENDED=$((V_ENDED + 1))
        continue
    fi
    V_EST=$((V_EST + 1))
    grep -qE "^BYEOK $c " "$ACT" && V_BYEOK=$((V_BYEOK + 1))
    grep -F "callid=$c" "$WORK/pool/partner.log" | grep -qE "EP-REPLY 200 BYE from=tls:($OTHERS):" &&
        V_VIA_OTHERS=$((V_VIA_OTHERS + 1))
    ms=$(awk -v c="$c" '$1 == c && $2 == "bye" {print $3}' "$WORK/latency")
    [ -n "$ms" ] || continue
    if [ "$ms" -ge 2500 ]; then V_BYE_SLOW=$((V_BYE_SLOW + 1)); else V_BYE_FAST=$((V_BYE_FAST + 1)); fi
    [ "$ms" -gt "$V_BYE_MAX" ] && V_BYE_MAX=$ms
done
note "calls: total $TOTAL, established $EST (at the cut, in Redis: $AT_CUT), BYEs ok $BYEOK, failed $FAILED (established then lost $EST_LOST, setups cut $CUT)"
note "$V's $V_EST dialogs at the cut: $V_BYEOK BYEs answered 200, $V_VIA_OTHERS of them through the other nodes ($V_ENDED more in Redis ended by $V just before the cut)"
note "their BYEs: $V_BYE_SLOW answered after >= 2.5 s (sent to $V's silent connection, failed over after fr_timer), $V_BYE_FAST sooner (the send to $VA failed at once: write queue full or connect failed); slowest $V_BYE_MAX ms"
note "the partner's log: $(grep -c "write queue full" "$WORK/pool/partner.log") send(s) failed on a full write queue, $(grep -cF "connect $VA:5061 failed (timeout)" "$WORK/pool/partner.log") connect(s) to $VA timed out"
note "INVITEs answered after >= 2.5 s (sent to $V first, failed over after fr_timer): $SLOW_INV"
[ -n "$(awk '$1 == "EST"' "$ACT" | head -1)" ] || fail "no EST line in the UAC's log: ${ACT#"$EP_ROOT"/}"

assert_eq $CALLS "$TOTAL" "calls placed"
assert_cmp "$V_EST" -ge $V_MIN "dialogs established through $V at the cut"
assert_cmp "$EST_LOST" -eq 0 "established dialogs lost (BYE without 200)"
assert_eq "$V_EST" "$V_BYEOK" "$V's dialogs ended by a BYE answered 200"
assert_eq "$V_EST" "$V_VIA_OTHERS" "$V's dialogs whose BYE went through the other nodes"
assert_cmp "$V_BYE_SLOW" -gt 0 "BYEs of $V's dialogs failed over after a timeout on its silent connection"
assert_eq "$EST" "$BYEOK" "BYEs answered 200 = calls established"
assert_eq "$((TOTAL - CUT))" "$OK" "SIPp's successful calls = calls not cut in setup"
assert_cmp "$CUT" -le 5 "setups cut (INVITEs in flight through $V at the cut)"
assert_cmp "${DNS_MS:-99999}" -lt 3000 "ms until the balancer's DNS drops the unreachable node"
assert_cmp "${DNS_MS:-0}" -ge 1000 "ms until the DNS drop (two timed-out checks, not a refusal)"
assert_cmp "${LOG_MS:-99999}" -lt 3000 "ms until the balancer logs $V down"
assert_log "$WORK/pool/balancer.log" "node $V \\($VA:5061\\) is down: .*failed 2 time\\(s\\): timeout" "the balancer's reason: timed-out checks"
assert_cmp "${ALIVE_MS:-99999}" -le 3500 "ms until $V's liveness key (3 s TTL) expires"
assert_cmp "${REALIVE_MS:-99999}" -lt 4000 "ms until $V refreshes its liveness key after its link is back"
assert_cmp "${BACK_MS:-99999}" -lt 5000 "ms until $V is back in the A answers (rise 2)"

ep_stop uas 5 >/dev/null
netns_pool_check
pass "$EST calls established ($V_EST through $V when its host vanished, $V_BYE_SLOW of their BYEs failed over after fr_timer), 0 lost, $CUT setups cut; $V out of DNS in $DNS_MS ms, liveness expired in $ALIVE_MS ms, back in DNS $BACK_MS ms after its link"
