#!/bin/bash
# xmpp_gateway_pool.sh -- presence subscriptions through the SIP<->XMPP
# gateway outlive the node that set them up: two nodes on one Redis, Prosody
# (jabber.test) reaching contoso.test by SRV (node1 first, node2 next), a
# slixmpp user bob and the internal python UA (alice).
#  1. through node1: bob watches alice (our SUBSCRIBE inward, granted 10 s)
#     and alice watches bob (her SUBSCRIBE, bob approves); both recorded in
#     Redis (ep:<pool>:xsub:<call-id>, the pair sets, the due set);
#  1b. alice's MESSAGE through node2 (its own stream to jabber.test): bob's
#     receipt comes back over Prosody's stream, i.e. to node1, which passes
#     it on through the pool: node2 answers 200 (not 202 after 3 s);
#  2. node1 SIGKILLed;
#  3. alice's NOTIFY (away) reaches node2: read from Redis, bob sees away;
#  4. node2 claims the due refresh of bob's subscription and sends it, in the
#     same dialog with a higher CSeq;
#  5. bob goes busy: Prosody's stream fails over to node2, which NOTIFYs
#     alice in her dialog, CSeq still growing; alice's refresh through node2
#     gets the last state;
#  6. both ended through node2: the records leave Redis.
# Addresses (127.0.16.0/24): node1 .1, node2 .2, the UA .10/.11, Prosody .20,
# NSD .53, Redis .100.
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/sipc.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/prosody.sh"
ep_setup xmpp_gateway_pool
need_cmd prosody prosodyctl nsd kdig redis-server redis-cli
need_bin edge-node
PY=/usr/bin/python3
$PY -c 'import slixmpp' 2>/dev/null || skip "python3-slixmpp not installed for $PY"
ep_certs

R=127.0.16.100:6393
redis_start redis 127.0.16.100 6393
{
    printf '$ORIGIN contoso.test.\n$TTL 30\n@ IN SOA ns hostmaster 1 3600 600 86400 30\n@ IN NS ns\n'
    printf 'ns IN A 127.0.16.53\n'
    printf '_xmpp-server._tcp IN SRV 0 0 5269 xmpp1\n_xmpp-server._tcp IN SRV 10 0 5269 xmpp2\n'
    printf 'xmpp1 IN A 127.0.16.1\nxmpp2 IN A 127.0.16.2\n'
} >"$WORK/contoso.test.zone"
{
    printf '$ORIGIN jabber.test.\n$TTL 30\n@ IN SOA ns hostmaster 1 3600 600 86400 30\n@ IN NS ns\n'
    printf 'ns IN A 127.0.16.53\n_xmpp-server._tcp IN SRV 0 0 5269 xmpp\nxmpp IN A 127.0.16.20\n'
} >"$WORK/jabber.test.zone"
dns_start "$WORK/dns" 127.0.16.53 53 "$WORK"/*.zone || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

prosody_conf px 127.0.16.20 127.0.16.53 '' jabber.test=jabber-xmpp
prosody_user px bob@jabber.test pw
prosody_start px

POLICY='
  access_edge = { allow_federated_users = true; enable_xmpp = true; };
  internal_domains = [ "contoso.test" ];
  xmpp_partners = ( { domain = "jabber.test"; } );
  external_access_policies = (
    { name = "global"; enable_federation_access = true; enable_xmpp_access = true; } );'
XMPP="xmpp = { cert = \"$EP_CERTS/contoso-xmpp.crt\"; key = \"$EP_CERTS/contoso-xmpp.key\";
               dialback_secret = \"pool-secret\"; };"
export NODE_INTERNAL='record_route_host = "edge-int.contoso.test";'
for i in 1 2; do
    NODE_LOG_LEVEL=debug node_conf node$i 127.0.16.$i 127.0.16.10:5070 127.0.16.53:53 "$POLICY" \
        "$XMPP" "addr = \"$R\";"
    node_start node$i
    wait_tcp 127.0.16.$i 5269 || fail "node$i does not listen on 5269"
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 2 || fail "the nodes did not register"

: >"$WORK/bob.cmd"
ep_spawn bob $PY "$EP_LIB/xmpp_user.py" bob@jabber.test pw 127.0.16.20:5222 "$WORK/bob.cmd"
wait_log "$WORK/bob.log" "^SESSION" 10 || fail "bob did not log in"

EP_PY_TIMEOUT=120 ep_py scenario "$WORK" "$R" <<'PY' &
import re, subprocess, time
from sipua import Endpoint

W, R = sys.argv[1], sys.argv[2]
BOB = W + "/bob.log"


def bob(cmd):
    with open(W + "/bob.cmd", "a") as f:
        f.write(cmd + "\n")
    note("bob: " + cmd)


def saw(regex, since, timeout=10):
    return wait_log(BOB, regex, timeout, since)


def check(cond, what):
    if not cond:
        fail(what)
    ok(what)


def redis(*args):
    h, p = R.split(":")
    return subprocess.run(["redis-cli", "--raw", "-h", h, "-p", p] + list(args),
                          capture_output=True, text=True).stdout.strip()


def pidf(basic, activity=None):
    act = ("<dm:person id='p'><rpid:activities><rpid:%s/></rpid:activities></dm:person>" % activity
           if activity else "")
    return ("<presence xmlns='urn:ietf:params:xml:ns:pidf' "
            "xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' "
            "xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='pres:alice@contoso.test'>"
            "<tuple id='t'><status><basic>%s</basic></status></tuple>%s</presence>" % (basic, act))


def cseq(m):
    return int(m.get("CSeq").split()[0])


ep = Endpoint("127.0.16.10", 5070)


def next_req(timeout, method):
    c, m = ep.request(timeout)
    if m.method != method:
        fail("expected a %s, got %s" % (method, m.start))
    return c, m


def notify(via, sub, n, state, body):
    r = Req("NOTIFY", "sip:edge-int.contoso.test:5060;transport=tcp;ep-xmpp", via,
            frm="sip:alice@contoso.test", call_id=sub.get("Call-ID"), cseq=n, body=body)
    r.set("From", "<sip:alice@contoso.test>;tag=a1").set("To", sub.get("From"))
    r.set("Contact", "<sip:alice@127.0.16.10:5070>")
    r.hdr("Event", "presence").hdr("Subscription-State", state)
    r.hdr("Content-Type", "application/pidf+xml")
    via.send(r)
    via.expect(200, 5, "200 to NOTIFY through %s" % via.name)


c1 = tcp("127.0.16.1:5060", src="127.0.16.11", name="UA->node1")

note("--- 1. through node1: bob watches alice")
mark = log_mark(BOB)
bob("subscribe alice@contoso.test")
c, sub = next_req(10, "SUBSCRIBE")
check(ep.peer(c).startswith("127.0.16.1:"), "SUBSCRIBE from node1")
ep.reply(c, sub, 200, to_tag="a1", contact="sip:alice@127.0.16.10:5070", extra=["Expires: 10"])
notify(c1, sub, 1, "active;expires=10", pidf("open"))
saw(r"^SUBSCRIBED alice@contoso.test", mark)
saw(r"^PRESENCE available alice@contoso.test  ''", mark)
key = "ep:edgepool:xsub:" + sub.get("Call-ID")
check(redis("HGET", key, "dir") == "x" and redis("HGET", key, "state") == "2", "bob's subscription in Redis, active")

note("--- 1. through node1: alice watches bob, bob approves")
s = Req("SUBSCRIBE", "sip:bob@jabber.test", c1, frm="sip:alice@contoso.test")
s.hdr("Event", "presence").hdr("Expires", "600")
c1.send(s)
ok200 = c1.expect(200, 5, "200 to alice's SUBSCRIBE")
c, n1 = next_req(10, "NOTIFY")
ep.reply(c, n1, 200)
saw(r"^SUBSCRIBE alice@contoso.test", mark)
bob("approve alice@contoso.test")
last = None
for i in range(4):
    c, n2 = next_req(10, "NOTIFY")
    ep.reply(c, n2, 200)
    last = n2
    if b"<basic>open</basic>" in n2.body:
        break
check(b"<basic>open</basic>" in last.body, "bob available, through node1")
akey = "ep:edgepool:xsub:" + s.call_id
check(redis("HGET", akey, "dir") == "s", "alice's subscription in Redis")
check(s.call_id in redis("SMEMBERS", "ep:edgepool:xpair:s:alice@contoso.test:bob@jabber.test"),
      "found by its pair")

note("--- 1b. a MESSAGE through node2; bob's receipt comes back through node1 (Prosody's stream)")
c2b = tcp("127.0.16.2:5060", src="127.0.16.11", name="UA->node2 (1b)")
t0 = time.monotonic()
r = Req("MESSAGE", "sip:bob@jabber.test", c2b, frm="sip:alice@contoso.test", body="via node2")
c2b.send(r)
c2b.expect(200, 2.5, "200 (bob's receipt, arrived at node1, reached node2 through the pool)")
t_receipt = time.monotonic() - t0
note("receipt through the other node: 200 after %.0f ms (202 would come at 3000 ms)" % (t_receipt * 1000))
c2b.close()

note("--- 2. node1 dies")
open(W + "/kill-node1", "w").close()
deadline = time.monotonic() + 10
while not os.path.exists(W + "/killed"):
    if time.monotonic() > deadline:
        fail("node1 was not killed")
    time.sleep(0.05)
c1.close()
c2 = tcp("127.0.16.2:5060", src="127.0.16.11", name="UA->node2")

note("--- 3. alice away, NOTIFY to node2: bob sees it")
mark = log_mark(BOB)
notify(c2, sub, 2, "active;expires=10", pidf("open", "away"))
saw(r"^PRESENCE available alice@contoso.test away", mark)

note("--- 4. node2 refreshes bob's subscription (claimed from the due set)")
c, ref = next_req(12, "SUBSCRIBE")
check(ep.peer(c).startswith("127.0.16.2:"), "the refresh comes from node2: " + ep.peer(c))
check(ref.get("Call-ID") == sub.get("Call-ID") and ";tag=a1" in ref.get("To"), "same dialog")
check(cseq(ref) > cseq(sub), "higher CSeq (%d > %d)" % (cseq(ref), cseq(sub)))
check(ref.start.startswith("SUBSCRIBE sip:alice@127.0.16.10:5070"), "to alice's Contact")
ep.reply(c, ref, 200, to_tag="a1", extra=["Expires: 600"])

note("--- 5. bob busy: Prosody fails over to node2, alice is notified in her dialog")
bob("presence dnd Busy now")
while True:
    c, n3 = next_req(15, "NOTIFY")
    ep.reply(c, n3, 200)
    if b"<rpid:busy/>" in n3.body:
        break
check(ep.peer(c).startswith("127.0.16.2:"), "NOTIFY from node2")
check(n3.get("Call-ID") == s.call_id and ("tag=" + s.from_tag) in n3.get("To"), "in alice's dialog")
check(cseq(n3) > cseq(last), "CSeq goes on from node1's (%d > %d)" % (cseq(n3), cseq(last)))
rf = Req("SUBSCRIBE", "sip:edge-int.contoso.test:5060;transport=tcp;ep-xmpp", c2,
         frm="sip:alice@contoso.test", call_id=s.call_id, cseq=2)
rf.set("From", "<sip:alice@contoso.test>;tag=" + s.from_tag).set("To", ok200.get("To"))
rf.hdr("Event", "presence").hdr("Expires", "600")
c2.send(rf)
c2.expect(200, 5, "node2 takes alice's refresh")
c, n4 = next_req(10, "NOTIFY")
ep.reply(c, n4, 200)
check(b"<rpid:busy/>" in n4.body and cseq(n4) > cseq(n3), "refresh NOTIFY: the last state, next CSeq")

note("--- 6. both ended through node2: the records go")
rf.set("CSeq", "3 SUBSCRIBE").set("Expires", "0")
rf.branch = "z9hG4bK" + rand()
rf.set("Via", "SIP/2.0/TCP %s:%d;branch=%s" % (c2.local[0], c2.local[1], rf.branch))
c2.send(rf)
c2.expect(200, 5, "200 to alice's unsubscribe")
c, n5 = next_req(10, "NOTIFY")
ep.reply(c, n5, 200)
check(n5.get("Subscription-State").startswith("terminated"), "NOTIFY terminated")
bob("unsubscribe alice@contoso.test")
c, un = next_req(10, "SUBSCRIBE")
check(un.get("Expires") == "0", "bob's unsubscribe: Expires 0")
ep.reply(c, un, 200, to_tag="a1", extra=["Expires: 0"])
deadline = time.monotonic() + 5
while time.monotonic() < deadline and (redis("EXISTS", key) != "0" or redis("EXISTS", akey) != "0"):
    time.sleep(0.1)
check(redis("EXISTS", key) == "0" and redis("EXISTS", akey) == "0", "both records deleted")
check(redis("ZCARD", "ep:edgepool:xdue") == "0", "nothing left due")
PY
SC=$!
# the scenario asks for node1's death through a file (the python side has no
# handle on our processes)
wait_until 60 test -e "$WORK/kill-node1" || true
if [ -e "$WORK/kill-node1" ]; then
    ep_kill node1 KILL
    ep_wait node1 5
    echo node1 >"$WORK/killed"
fi
wait $SC || fail "$(tail -n 1 "$WORK/scenario.log")"
assert_log "$WORK/node2.log" "xmpp-gw: .*presence available/away from alice@contoso.test to bob@jabber.test" \
    "node2 carried alice's presence"
pass "presence subscriptions went on through node2 after node1's death"
