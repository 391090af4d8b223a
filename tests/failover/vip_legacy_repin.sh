#!/bin/bash
# vip_legacy_repin.sh -- a legacy partner (OCS 2007 style: it knows only the
# VIP, not the pool's DNS) loses the node it is pinned to under SIP load.
#
# Three edge nodes on one Redis, one edge-balancer (VIP 127.0.22.10, DNS on
# it too), three partner edges (Kamailio, mutual TLS, each on its own
# address so each is its own pinned source) whose next hop for contoso.test
# is the VIP. Our internal side is sip_responder.py (it answers on any
# connection, so a dialog's BYE may come from another node).
#  1. the partners' first connections are spread over the nodes (least
#     connections); each pin is in Redis (ep:edgepool:pin:<source>);
#  2. partner A holds 10 INVITE dialogs and sends MESSAGEs at 100/s, B and C
#     at 25/s each; A's node is SIGKILLed mid-load;
#  3. measured and asserted: time from the kill to the first request of A
#     relayed by another node (re-pin time, < 2 s); A's MESSAGE failures
#     bounded to the ones in flight at the kill (sent before it); A's pin in
#     Redis names a live node; every dialog's BYE reaches our side through
#     another node and is answered 200 (the records leave Redis); B's and
#     C's pins and nodes unchanged (when not on the dead node), none of
#     their MESSAGEs failed; the DNS drops the dead node (time printed).
# Addresses: 127.0.22.0/24.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/redis.sh"
ep_setup vip_legacy_repin
need_bin edge-node edge-balancer
need_cmd redis-server redis-cli kamailio sipp kdig ss /usr/bin/python3
ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 || skip "kamailio-tls-modules not installed"
ep_certs

R=127.0.22.100:6422
VIP=127.0.22.10
UAS=127.0.22.60 # our internal side
FR=3000         # the partners' tm fr_timer (ms): a request lost in a dead connection gets 408 then
redis_start redis 127.0.22.100 6422

POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; },
                      { domain = "northwind.test"; edge_fqdn = "sip.northwind.test"; },
                      { domain = "hostedim.test"; edge_fqdn = "sip.hostedim.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true;
                                 enable_public_cloud_access = true; } );'
ep_spawn uas /usr/bin/python3 "$EP_LIB/sip_responder.py" $UAS 5070 85
wait_tcp $UAS 5070 || fail "the internal responder did not start"
for i in 1 2 3; do
    node_conf node$i 127.0.22.$i $UAS:5070 "" "$POLICY" "" "addr = \"$R\";"
    sed -i "s|^external = { listen = \"127.0.22.$i:5061\";|& proxy_protocol_from = [ \"$VIP\" ];|" \
        "$WORK/node$i.conf"
    grep -q proxy_protocol_from "$WORK/node$i.conf" || fail "could not set proxy_protocol_from in node$i.conf"
    node_start node$i
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register"

cat >"$WORK/balancer1.conf" <<CONF
balancer = { id = "balancer1"; log_level = "info"; };
vip = { listen = "$VIP"; ports = [ "5061" ]; proxy_protocol = true; pin_ttl = 600; };
redis = { addr = "$R"; };
health = { check = "tcp"; interval_ms = 250; timeout_ms = 500; rise = 2; fall = 2; };
dns = { listen = "$VIP:5353"; ns = [ "ns1.contoso.test@$VIP" ]; ttl = 5; };
admin = { listen = "$VIP:8081"; };
CONF
ep_spawn balancer1 "$EP_BIN/edge-balancer" -f -c "$WORK/balancer1.conf"
wait_tcp $VIP 5061 || fail "balancer1 does not listen on $VIP:5061"
wait_log "$WORK/balancer1.log" "is up \(3 healthy\)" 10 || fail "balancer1 does not see the 3 nodes healthy"
dns_a() { kdig @$VIP -p 5353 +norec +time=1 +retry=0 +short A sip.contoso.test 2>/dev/null | sort | paste -sd, -; }
wait_until 5 eval '[ "$(dns_a)" = 127.0.22.1,127.0.22.2,127.0.22.3 ]' || fail "DNS does not list the 3 nodes: $(dns_a)"

# the partners: fabrikam (A, under load, with dialogs), northwind (B),
# hostedim (C). They resolve our pool FQDN (their next hop and the
# Record-Route of our dialogs) to the VIP: legacy, no DNS load balancing.
printf '%s sip.contoso.test\n' $VIP >"$WORK/hosts"
PARTNERS=(fab:127.0.22.21:fabrikam nw:127.0.22.22:northwind hi:127.0.22.23:hostedim)
for p in "${PARTNERS[@]}"; do
    IFS=: read -r name addr dom <<<"$p"
    KAM_HOSTS=$WORK/hosts KAM_FR_TIMER=$FR KAM_SHM=256 kamailio_partner_start "$name" "$addr" "$dom.test" \
        "$dom-edge" "sip:sip.contoso.test:5061;transport=tls" "${addr%.*}.$((${addr##*.} + 20)):5070"
done
uac() { # NAME PARTNER_ADDR DOMAIN SIPP-ARGS...: MESSAGEs from the partner's internal side
    local name=$1 paddr=$2 dom=$3
    shift 3
    sipp_run "$name" uac_message.xml -t t1 -i "${paddr%.*}.$((${paddr##*.} + 10))" -s alice \
        -key to_domain contoso.test -key from_user bob -key from_domain "$dom.test" "$@" "$paddr:5060"
}
uac_spawn() {
    local name=$1 paddr=$2 dom=$3
    shift 3
    SIPP_TRACE_MSG=0 sipp_spawn "$name" uac_message.xml -t t1 -i "${paddr%.*}.$((${paddr##*.} + 10))" -s alice \
        -key to_domain contoso.test -key from_user bob -key from_domain "$dom.test" "$@" "$paddr:5060"
}

# ---- 1. first connections, one partner after the other: spread, pinned
declare -A PIN0=()
for p in "${PARTNERS[@]}"; do
    IFS=: read -r name addr dom <<<"$p"
    uac "warm_$name" "$addr" "$dom" -m 3 -r 10
    assert_sipp "warm_$name" 3 0
    PIN0[$addr]=$(rcli $R GET ep:edgepool:pin:$addr)
    assert_match '^node[123]$' "${PIN0[$addr]}" "pin of $name ($addr) in Redis"
done
distinct=$(printf '%s\n' "${PIN0[@]}" | sort -u | wc -l)
assert_cmp "$distinct" -ge 2 "nodes the 3 partners are pinned to (least connections)"
VICTIM=${PIN0[127.0.22.21]}
VADDR=127.0.22.${VICTIM#node}
note "partner A (fabrikam, 127.0.22.21) pinned to $VICTIM; B -> ${PIN0[127.0.22.22]}, C -> ${PIN0[127.0.22.23]}"
ttl=$(rcli $R PTTL ep:edgepool:pin:127.0.22.21)
assert_cmp "$ttl" -gt 590000 "A's pin TTL (ms, pin_ttl 600 s)"

# ---- 2. dialogs and load through A; its node killed mid-load
SIPP_TIMEOUT=30 sipp_spawn inv uac_invite_bye.xml -t t1 -i 127.0.22.44 -s alice -key to_domain contoso.test \
    -key from_user bob -key from_domain fabrikam.test -m 10 -r 20 -d 6000 127.0.22.21:5060
acks() { grep -c "^REQ [0-9.]* ACK .* fabrikam.test " "$WORK/uas.log"; }
wait_until 10 eval '[ "$(acks)" -ge 10 ]' || fail "10 dialogs not set up through A ($(acks) ACKs)"
redis_wait $R 3 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 10 || fail "no 10 dialog records in Redis"
grep "^REQ [0-9.]* INVITE " "$WORK/uas.log" | grep -v " $VADDR:" && fail "an INVITE of A went through another node than $VICTIM"
note "10 dialogs of A established through $VICTIM, recorded in Redis"

uac_spawn load_fab 127.0.22.21 fabrikam -m 600 -r 100
uac_spawn load_nw 127.0.22.22 northwind -m 200 -r 25
uac_spawn load_hi 127.0.22.23 hostedim -m 200 -r 25
msgs_a() { grep -c "^REQ [0-9.]* MESSAGE .* fabrikam.test " "$WORK/uas.log"; }
wait_until 10 eval '[ "$(msgs_a)" -ge 100 ]' || fail "A's load does not flow ($(msgs_a) MESSAGEs)"
T_KILL=$EPOCHREALTIME
kill -KILL "$(ep_pid "$VICTIM")" # one process, our child
ep_wait "$VICTIM" 5 >/dev/null
note "killed $VICTIM at $T_KILL (A's load had $(msgs_a) MESSAGEs through)"
others=$(for i in 1 2 3; do [ "node$i" != "$VICTIM" ] && printf '127.0.22.%s,' $i; done)
others=${others%,}
if wait_until 5 eval '[ "$(dns_a)" = "$others" ]'; then
    T_DNS=$EPOCHREALTIME
    DNS_MS=$(awk -v a="$T_KILL" -v b="$T_DNS" 'BEGIN { printf "%d", (b - a) * 1000 }')
    note "DNS dropped $VICTIM after $DNS_MS ms (answers: $others)"
    assert_cmp "$DNS_MS" -lt 2000 "DNS drop time (ms)"
else
    fail "the DNS still answers $(dns_a) 5 s after $VICTIM's death"
fi

for n in load_fab load_nw load_hi; do ep_wait $n 40 >/dev/null; done
ep_wait inv 30 >/dev/null

# ---- 3. the figures
# re-pin time: from the kill to the first request of A relayed by a live node
read -r first_t first_peer < <(awk -v k="$T_KILL" -v v="$VADDR:" \
    '$1 == "REQ" && $2 > k && $5 == "fabrikam.test" && index($4, v) != 1 { print $2, $4; exit }' "$WORK/uas.log")
[ -n "${first_t:-}" ] || fail "no request of A reached our side through another node after the kill"
REPIN_MS=$(awk -v a="$T_KILL" -v b="$first_t" 'BEGIN { printf "%d", (b - a) * 1000 }')
NEW_ADDR=${first_peer%:*}
NEW=node${NEW_ADDR##*.}
note "re-pin: A's first request after the kill came through $NEW after $REPIN_MS ms"
assert_cmp "$REPIN_MS" -lt 2000 "re-pin time (ms)"
NOW_PIN=$(rcli $R GET ep:edgepool:pin:127.0.22.21)
assert_eq "$NEW" "$NOW_PIN" "A's pin in Redis after the kill"
ep_alive "$NOW_PIN" || fail "A's pin names $NOW_PIN, not running"
late=$(awk -v k="$T_KILL" -v v="$VADDR:" '$1 == "REQ" && $2 > k + 0.05 && index($4, v) == 1' "$WORK/uas.log" | wc -l)
assert_cmp "$late" -eq 0 "requests relayed by the dead node after the kill"

# A's failures: each must be a MESSAGE in flight at the kill (its 408 comes
# fr_timer after it was sent: sent before the kill) -- none sent later
A_OK=$(sipp_ok load_fab)
A_FAIL=$(sipp_failed load_fab)
note "A's MESSAGEs: $A_OK answered 200, $A_FAIL failed (600 sent at 100/s across the kill)"
assert_cmp "$((A_OK + A_FAIL))" -eq 600 "A's MESSAGEs accounted for"
if [ "$A_FAIL" -gt 0 ]; then
    # SIPp's error file: one "... <epoch>: Aborting call ... received 'SIP/2.0 408" line per failure
    grep -o '[0-9]\{10\}\.[0-9]*: Aborting call' "$WORK/load_fab.err" | cut -d: -f1 >"$WORK/fail_times" || true
    note "failure times (epoch): $(paste -sd' ' "$WORK/fail_times")"
    for cid in $(grep -o "Aborting call on unexpected message for Call-Id '[^']*'" "$WORK/load_fab.err" | cut -d"'" -f2); do
        if awk -v c="$cid" '$6 == c { f = 1 } END { exit !f }' "$WORK/uas.log"; then
            note "failed $cid: delivered to our side, its 200 lost with the node"
        else
            note "failed $cid: lost in the node (never reached our side)"
        fi
    done
    inflight_ok=$(awk -v k="$T_KILL" -v fr="$FR" '{ if ($1 - fr / 1000 <= k + 0.1) n++ } END { print n + 0 }' "$WORK/fail_times")
    assert_eq "$A_FAIL" "$inflight_ok" "A's failed MESSAGEs that were in flight at the kill (sent before it)"
fi
assert_cmp "$A_FAIL" -le 10 "A's failed MESSAGEs (in flight at the kill, 100/s)"

# the dialogs: all 10 BYEs answered 200, through a live node, records gone
assert_sipp inv 10 0
byes=$(grep "^REQ [0-9.]* BYE .* fabrikam.test " "$WORK/uas.log")
assert_cmp "$(grep -c . <<<"$byes")" -eq 10 "BYEs that reached our side"
assert_cmp "$(grep -c " $VADDR:" <<<"$byes")" -eq 0 "BYEs through the dead node"
note "BYEs through: $(awk '{ print $4 }' <<<"$byes" | cut -d: -f1 | sort | uniq -c | paste -sd' ')"
redis_wait $R 3 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 0 || fail "dialog records left after the BYEs"

# B and C: pins and nodes unchanged unless they were on the dead node; no failures
for p in nw:127.0.22.22:northwind hi:127.0.22.23:hostedim; do
    IFS=: read -r name addr dom <<<"$p"
    assert_sipp "load_$name" 200 0
    pin=$(rcli $R GET ep:edgepool:pin:$addr)
    paddr=127.0.22.${PIN0[$addr]#node}
    after=$(awk -v k="$T_KILL" -v d="$dom.test" '$1 == "REQ" && $2 > k && $5 == d { split($4, a, ":"); print a[1] }' \
        "$WORK/uas.log" | sort | uniq -c | paste -sd' ')
    if [ "${PIN0[$addr]}" = "$VICTIM" ]; then
        [ "$pin" != "$VICTIM" ] && ep_alive "$pin" || fail "$name was on $VICTIM: its pin is now '$pin'"
        note "$name ($addr) was on $VICTIM: moved to $pin; after the kill through: $after"
    else
        assert_eq "${PIN0[$addr]}" "$pin" "$name's pin (not on the dead node)"
        assert_match "^ *[0-9]+ $paddr$" "$after" "$name's requests after the kill, all through its node"
    fi
done
assert_log "$WORK/balancer1.log" "source 127\.0\.22\.21 re-pinned to node $NEW \(was $VICTIM" "balancer1 logged A's re-pin"

ep_stop balancer1 || fail "balancer1 exited with status $? on SIGTERM"
pass "re-pin ${REPIN_MS} ms, DNS drop ${DNS_MS} ms, A: $A_FAIL of 600 MESSAGEs failed (in flight), 10/10 dialogs ended via $NEW"
