# pool_dialog_failover.sh -- dialogs survive the loss of the node that set
# them up: three edge nodes on one Redis, fabrikam.test's Kamailio edge
# reaching our pool FQDN through its hosts file (the balancer's DNS, moved by
# hand when a node dies).
#  1. an outbound INVITE dialog through node1 whose BYE reaches node2 without
#     the ep-peer in our Route: node2 routes it from the pool's dialog record;
#  2. an inbound INVITE dialog through node1; node1 SIGKILLed; the partner's
#     BYE reaches node2 through the pool FQDN, is routed and answered 200;
#  3. an outbound subscription through node2 (SIPp notifier at the partner);
#     node2 SIGKILLed; the final NOTIFY reaches our subscriber through node3.
# Each dialog's record in Redis appears with it and goes with its end.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup pool_dialog_failover
need_bin edge-node
need_cmd redis-server redis-cli kamailio sipp nsd kdig
ep_certs

R=127.0.11.100:6392
redis_start redis 127.0.11.100 6392
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.11.20
zone_write "$WORK/contoso.zone" contoso.test sip.contoso.test 127.0.11.1
dns_start "$WORK/dns" 127.0.11.53 5300 "$WORK/fabrikam.zone" "$WORK/contoso.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

# the internal side's Record-Route names the pool too, so any node takes it
export NODE_INTERNAL='record_route_host = "edge-int.contoso.test";'
for i in 1 2 3; do
    node_conf node$i 127.0.11.$i 127.0.11.11:5070 127.0.11.53:5300 "" "" 'addr = "127.0.11.100:6392";'
    node_start node$i
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register"

# the partner resolves our pool FQDN through this file: rewritten in place
# (the bind mount follows the inode) when a node dies
pool_fqdn_is() { printf '%s sip.contoso.test\n' "$1" >"$WORK/hosts"; note "sip.contoso.test -> $1"; }
pool_fqdn_is 127.0.11.1
KAM_HOSTS=$WORK/hosts kamailio_partner_start fab 127.0.11.20 fabrikam.test fabrikam-edge \
    "sip:sip.contoso.test:5061;transport=tls" 127.0.11.22:5070

dialogs() { rcli $R --scan --pattern 'ep:edgepool:dlg:*' | grep -c . ; }
dlg_key() { rcli $R --scan --pattern 'ep:edgepool:dlg:*' | head -1; }

# ---- 1. BYE without ep-peer, to another node: the dialog record routes it
sipp_spawn fab_uas1 tests/sipp/uas_invite.xml -t t1 -i 127.0.11.22 -p 5070 -m 1
wait_tcp 127.0.11.22 5070 || fail "partner UAS did not start"
ep_py lookup <<'PY' || fail "BYE routed from the dialog record: $EP_PY_MSG"
import re, subprocess
sdp = "v=0\r\no=a 1 1 IN IP4 127.0.11.11\r\ns=-\r\nc=IN IP4 127.0.11.11\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
c1 = tcp("127.0.11.1:5060", src="127.0.11.11")
inv = Req("INVITE", "sip:bob@fabrikam.test", c1, frm="sip:alice@contoso.test", body=sdp)
c1.send(inv)
while True:
    m = c1.recv(10)
    if m is None:
        fail("no final answer to the INVITE")
    if m.status >= 200:
        break
if m.status != 200:
    fail("INVITE answered %d" % m.status)
c1.send(in_dialog("ACK", c1, inv, m, 1))
time.sleep(0.3)
key = subprocess.run(["redis-cli", "--raw", "-h", "127.0.11.100", "-p", "6392", "--scan",
                      "--pattern", "ep:edgepool:dlg:*"], capture_output=True, text=True).stdout.split()
if len(key) != 1:
    fail("expected one dialog record, got %r" % key)
rec = subprocess.run(["redis-cli", "--raw", "-h", "127.0.11.100", "-p", "6392", "HGETALL", key[0]],
                     capture_output=True, text=True).stdout.split("\n")
rec = dict(zip(rec[0::2], rec[1::2]))
note("dialog record %s: %r" % (key[0], rec))
for k, v in (("kind", "invite"), ("node", "node1"), ("peer", "sip.fabrikam.test"),
             ("domain", "fabrikam.test"), ("internal", "alice@contoso.test"),
             ("remote", "bob@fabrikam.test"), ("call_id", inv.call_id)):
    if rec.get(k) != v:
        fail("dialog record: %s = %r, expected %r" % (k, rec.get(k), v))
c2 = tcp("127.0.11.2:5060", src="127.0.11.11")
bye = in_dialog("BYE", c2, inv, m, 2)
for h in bye.headers:
    if h[0] == "Route":
        h[1] = re.sub(r";ep-peer=[^;>]*", "", h[1])
c2.send(bye)
c2.expect(200, 10, "200 to the BYE routed from the dialog record")
ok("BYE through node2 without ep-peer answered 200")
PY
assert_log "$WORK/node2.log" "in-dialog BYE from inside without ep-peer: routed to sip.fabrikam.test from the pool's dialog record" "node2 used the record"
ep_wait fab_uas1 10 >/dev/null
assert_sipp fab_uas1 1 0
redis_wait $R 3 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 0 || fail "dialog record left after the BYE"

# ---- 2. inbound INVITE through node1, node1 killed, BYE through node2
# (our side is sipua.py: SIPp aborts a call whose connection closed)
EP_PY_TIMEOUT=40 ep_py callee <<'PY' &
from sipua import *
ep = Endpoint("127.0.11.11", 5070)
sdp = "v=0\r\no=b 1 1 IN IP4 127.0.11.11\r\ns=-\r\nc=IN IP4 127.0.11.11\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
c, inv = ep.request(15, "INVITE")
ep.reply(c, inv, 200, to_tag="callee1", contact="sip:alice@127.0.11.11:5070;transport=tcp",
         record_route=True, body=sdp)
c, ack = ep.request(10, "ACK")
print("ACK received from %s" % ep.peer(c), flush=True)
c, bye = ep.request(25, "BYE")
print("BYE received from %s" % ep.peer(c), flush=True)
ep.reply(c, bye, 200)
ok("call ended by a BYE through %s" % ep.peer(c))
PY
CALLEE=$!
wait_tcp 127.0.11.11 5070 || fail "internal callee did not start"
SIPP_TIMEOUT=30 sipp_spawn fab_uac tests/sipp/uac_invite_bye.xml -t t1 -i 127.0.11.21 -s alice \
    -key to_domain contoso.test -key from_user bob -key from_domain fabrikam.test -m 1 -d 4000 \
    127.0.11.20:5060
wait_log "$WORK/callee.log" "ACK received from 127.0.11.1:" 10 || fail "the call was not set up through node1"
redis_wait $R 3 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 1 || fail "no dialog record for the call"
K=$(dlg_key)
assert_eq node1 "$(rcli $R HGET "$K" node)" "the call's node"
assert_eq alice@contoso.test "$(rcli $R HGET "$K" internal)" "the call's internal user"
assert_eq sip.fabrikam.test "$(rcli $R HGET "$K" peer)" "the call's partner edge"
ttl=$(rcli $R TTL "$K")
assert_cmp "$ttl" -gt 43000 "INVITE dialog TTL (s)"
ep_kill node1 KILL
ep_wait node1 5
pool_fqdn_is 127.0.11.2
wait $CALLEE || fail "callee: $(tail -1 "$WORK/callee.log")"
assert_log "$WORK/callee.log" "BYE received from 127.0.11.2:" "the BYE came through node2"
ep_wait fab_uac 30 >/dev/null
assert_sipp fab_uac 1 0
redis_wait $R 3 EXISTS "$K" -- 0 || fail "node2 left the dialog record after the BYE"

# ---- 3. subscription through node2, node2 killed, final NOTIFY through node3
SIPP_TIMEOUT=30 sipp_spawn fab_notify tests/sipp/uas_notify.xml -t t1 -i 127.0.11.22 -p 5070 -d 5000 -m 1
wait_tcp 127.0.11.22 5070 || fail "partner notifier did not start"
EP_PY_TIMEOUT=40 ep_py subscriber <<'PY' &
from sipua import *
ep = Endpoint("127.0.11.11", 5070)
c = tcp("127.0.11.2:5060", src="127.0.11.11")
r = Req("SUBSCRIBE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test")
r.set("Contact", "<sip:alice@127.0.11.11:5070;transport=tcp>").hdr("Event", "presence").hdr("Expires", "600")
c.send(r)
c.expect(200, 10, "200 to the SUBSCRIBE")
for i in (1, 2):
    x, m = ep.request(25, "NOTIFY")
    ep.reply(x, m, 200)
    st = m.get("Subscription-State", "")
    print("NOTIFY %d answered (%s) from %s" % (i, st, ep.peer(x)), flush=True)
if not st.startswith("terminated"):
    fail("second NOTIFY not terminated: %s" % st)
ok("both NOTIFYs answered")
PY
SUB=$!
wait_log "$WORK/subscriber.log" "NOTIFY 1 answered" 15 || fail "the first NOTIFY did not reach the subscriber"
assert_log "$WORK/subscriber.log" "NOTIFY 1 answered .* from 127.0.11.2:" "the first NOTIFY came through node2"
redis_wait $R 3 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 1 || fail "no record for the subscription"
K=$(dlg_key)
assert_eq subscribe "$(rcli $R HGET "$K" kind)" "the subscription's kind"
assert_eq node2 "$(rcli $R HGET "$K" node)" "the subscription's node"
ttl=$(rcli $R TTL "$K")
assert_cmp "$ttl" -le 660 "subscription TTL (Expires + 60 s)"
assert_cmp "$ttl" -gt 600 "subscription TTL (Expires + 60 s)"
ep_kill node2 KILL
ep_wait node2 5
pool_fqdn_is 127.0.11.3
wait $SUB || fail "subscriber: $(tail -1 "$WORK/subscriber.log")"
assert_log "$WORK/subscriber.log" "NOTIFY 2 answered \(terminated.* from 127.0.11.3:" "the final NOTIFY came through node3"
ep_wait fab_notify 15 >/dev/null
assert_sipp fab_notify 1 0
redis_wait $R 3 EXISTS "$K" -- 0 || fail "node3 left the subscription's record after the final NOTIFY"
pass "BYE and NOTIFY routed by another node after SIGKILL; records follow the dialogs"
