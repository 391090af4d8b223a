#!/bin/bash
# srv_second_target.sh -- a partner domain with two SRV targets, the first
# of which dies under outbound load, then comes back (RFC 2782 priorities).
#
# fabrikam.test (NSD) publishes _sipfederationtls._tcp SRV 10 -> sip1 and
# SRV 20 -> sip2, each a real Kamailio edge with mutual TLS (one certificate
# naming both, from tests/lib/leaf_cert.sh), each relaying to the partner's
# users (sip_responder.py, which logs which edge brought each request). Our
# internal side sends MESSAGEs at 100/s (SIPp over TCP) into one edge node.
#  1. before the failure every MESSAGE goes to sip1 (priority 10), none to
#     sip2;
#  2. sip1 SIGKILLed mid-load: time until the first MESSAGE reaches the
#     partner through sip2 (printed, < 1 s), the MESSAGEs that failed
#     (printed, bounded by the ones in flight at the kill) and the ones
#     delivered twice (in flight: delivered by sip1, its 200 lost, sent
#     again to sip2 by the node);
#  3. sip1 restarted: new connections return to it once the node's "marked
#     down" hold of the hop (2 s, node/conn/conn_pool.c) has passed: time
#     printed (< 3 s); after that nothing goes to sip2 any more.
# The node's failover to the next internal hop and the "marked down" hold are
# covered by tests/integration/sip_proxy_mechanics.sh (internal side); this
# is the federation side, under load, timed. Addresses: 127.0.25.0/24.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/leaf_cert.sh"
ep_setup srv_second_target
need_bin edge-node
need_cmd kamailio sipp nsd kdig openssl ss /usr/bin/python3
ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 || skip "kamailio-tls-modules not installed"
ep_certs
leaf_cert "$WORK/pki" fabrikam-srv sip1.fabrikam.test sip2.fabrikam.test

UAS=127.0.25.60 # fabrikam's users (behind both edges)
SIP1=127.0.25.21
SIP2=127.0.25.22
RATE=100
COUNT=1000
cat >"$WORK/fabrikam.zone" <<ZONE
\$ORIGIN fabrikam.test.
\$TTL 30
@ IN SOA ns.fabrikam.test. hostmaster.fabrikam.test. 1 3600 600 86400 30
@ IN NS ns.fabrikam.test.
ns IN A 127.0.0.1
_sipfederationtls._tcp IN SRV 10 0 5061 sip1.fabrikam.test.
_sipfederationtls._tcp IN SRV 20 0 5061 sip2.fabrikam.test.
sip1 IN A $SIP1
sip2 IN A $SIP2
ZONE
dns_start "$WORK/dns" 127.0.25.53 5300 "$WORK/fabrikam.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"
assert_eq "10 0 5061 sip1.fabrikam.test.,20 0 5061 sip2.fabrikam.test." \
    "$(kdig @127.0.25.53 -p 5300 +short SRV _sipfederationtls._tcp.fabrikam.test | sort | paste -sd, -)" \
    "fabrikam.test's SRV records"

ep_spawn uas /usr/bin/python3 "$EP_LIB/sip_responder.py" $UAS 5070 85
wait_tcp $UAS 5070 || fail "the partner's responder did not start"
partner() { # NAME ADDR
    KAM_SHM=256 kamailio_partner_start "$1" "$2" fabrikam.test "$WORK/pki/fabrikam-srv" \
        "sip:127.0.25.1:5061;transport=tls" $UAS:5070
}
partner sip1 $SIP1
partner sip2 $SIP2
node_conf node1 127.0.25.1 127.0.25.61:5070 127.0.25.53:5300
node_start node1

# requests that reached the partner's users through EDGE after epoch T
via() { awk -v t="$2" -v e="$1:" '$1 == "REQ" && $3 == "MESSAGE" && $2 > t && index($4, e) == 1' "$WORK/uas.log" | wc -l; }
# epoch of the first one through EDGE after T ("" if none)
first_via() { awk -v t="$2" -v e="$1:" '$1 == "REQ" && $3 == "MESSAGE" && $2 > t && index($4, e) == 1 { print $2; exit }' "$WORK/uas.log"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# ---- 1. load; priority 10 takes everything
T0=$EPOCHREALTIME
SIPP_TIMEOUT=40 SIPP_TRACE_MSG=0 sipp_spawn load uac_message.xml -t t1 -i 127.0.25.11 -s bob \
    -key to_domain fabrikam.test -key from_user alice -key from_domain contoso.test \
    -m $COUNT -r $RATE 127.0.25.1:5060
wait_until 10 eval '[ "$(via $SIP1 $T0)" -ge 200 ]' || fail "the load does not reach sip1 ($(via $SIP1 $T0) MESSAGEs)"
assert_eq 0 "$(via $SIP2 $T0)" "MESSAGEs through sip2 (priority 20) while sip1 lives"

# ---- 2. sip1 dies
BEFORE=$(via $SIP1 $T0)
PIDS=$(ep__tree "$(ep_pid sip1)") # Kamailio and its children, listed before the clock starts
T_KILL=$EPOCHREALTIME
kill -KILL $PIDS
ep_wait sip1 5 >/dev/null
note "sip1 SIGKILLed after $BEFORE MESSAGEs through it"
wait_until 5 eval '[ -n "$(first_via $SIP2 $T_KILL)" ]' || fail "nothing reached sip2 within 5 s of sip1's death"
MOVE_MS=$(ms_between "$T_KILL" "$(first_via $SIP2 $T_KILL)")
note "outbound traffic moved to sip2 $MOVE_MS ms after the kill"
assert_cmp "$MOVE_MS" -lt 1000 "time to move to the second target (ms)"
assert_log "$WORK/node1.log" "MESSAGE to sip1\.fabrikam\.test:5061 failed \(.*\): failing over to sip2\.fabrikam\.test:5061" \
    "the node logged its failover to the second SRV target"

# ---- 3. sip1 back: new connections return to it after the hop's hold
sleep 2.5 # sip1 stays dead for a while: the node keeps marking it down
wait_log "$WORK/node1.log" "sip1\.fabrikam\.test:5061 unreachable on every address: marked down" 1 ||
    fail "the node did not mark sip1 down"
T_RESTART=$EPOCHREALTIME
partner sip1 $SIP1
T_UP=$EPOCHREALTIME
wait_until 5 eval '[ -n "$(first_via $SIP1 $T_UP)" ]' || fail "nothing went back to sip1 within 5 s of its restart"
T_BACK=$(first_via $SIP1 $T_UP)
BACK_MS=$(ms_between "$T_UP" "$T_BACK")
note "sip1 listening again $(ms_between "$T_RESTART" "$T_UP") ms after its start; first MESSAGE through it $BACK_MS ms later"
assert_cmp "$BACK_MS" -lt 3000 "time to return to the first target (ms, the node's hold is 2 s)"

ep_wait load 40 >/dev/null
OK=$(sipp_ok load)
FAILED=$(sipp_failed load)
DOWN_SIP2=$(via $SIP2 $T_KILL)
LATE_SIP2=$(awk -v t="$T_BACK" -v e="$SIP2:" '$1 == "REQ" && $3 == "MESSAGE" && $2 > t + 0.5 && index($4, e) == 1' "$WORK/uas.log" | wc -l)
DUP=$(awk '$1 == "REQ" && $3 == "MESSAGE" { n[$6]++ } END { for (c in n) if (n[c] > 1) d++; print d + 0 }' "$WORK/uas.log")
BEFORE=$(($(via $SIP1 0) - $(via $SIP1 "$T_KILL")))
AFTER1=$(via $SIP1 "$T_KILL")
note "MESSAGEs: $OK answered 200, $FAILED failed of $COUNT at $RATE/s; through sip1 $BEFORE before the kill and $AFTER1 after its return, through sip2 $DOWN_SIP2 (while sip1 was away); delivered twice: $DUP"
assert_cmp "$((OK + FAILED))" -eq $COUNT "MESSAGEs accounted for"
assert_cmp "$FAILED" -le 5 "MESSAGEs failed across the move (in flight at the kill)"
assert_cmp "$DUP" -le 5 "MESSAGEs delivered twice (in flight at the kill)"
assert_cmp "$LATE_SIP2" -eq 0 "MESSAGEs through sip2 later than 0.5 s after sip1's return"
assert_cmp "$AFTER1" -gt 100 "MESSAGEs through sip1 after its return"
# every MESSAGE answered 200 reached the partner's users (once, but the ones delivered twice)
assert_cmp "$((BEFORE + AFTER1 + DOWN_SIP2))" -ge "$((OK + DUP))" "MESSAGEs that reached the partner's users"
assert_cmp "$((BEFORE + AFTER1 + DOWN_SIP2))" -le "$((COUNT + DUP))" "MESSAGEs that reached the partner's users"
# the partner edges' own logs agree (their EP-REQ line for each MESSAGE over TLS)
K2=$(grep -c "EP-REQ MESSAGE sip:bob@fabrikam.test from=tls:127.0.25.1:" "$WORK/sip2.log")
assert_cmp "$K2" -ge "$DOWN_SIP2" "MESSAGEs in sip2's log (>= those it delivered)"
assert_cmp "$K2" -le $((DOWN_SIP2 + 5)) "MESSAGEs in sip2's log (<= those it delivered + in flight)"

ep_stop node1 || fail "node1 exited with status $? on SIGTERM"
pass "moved to the SRV 20 target in $MOVE_MS ms, back to SRV 10 $BACK_MS ms after its restart; $FAILED of $COUNT MESSAGEs failed, $DUP delivered twice"
