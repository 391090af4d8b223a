#!/bin/bash
# xmpp_gateway.sh -- the SIP<->XMPP gateway against a real Prosody 0.12 (the
# XMPP server of jabber.test, blocked.test and stranger.test) with a slixmpp
# user bob@jabber.test, and a SIP endpoint inside (alice@contoso.test, a
# python UA that is the node's next hop and also sends through the node):
#  - IM both ways (RFC 7572): bob -> alice arrives as a MESSAGE with the right
#    From/To/body/trust header; alice -> bob is delivered to bob's client and
#    answered 200 once his client's receipt comes back; errors mapped both
#    ways (SIP 404 -> <item-not-found/>, Prosody's <service-unavailable/> for
#    an unknown user -> 480);
#  - presence, XMPP user watching (RFC 7248/8048): subscribe -> SUBSCRIBE,
#    202 + NOTIFY pending (nothing yet) then NOTIFY active -> subscribed and
#    presence (dnd, away, offline from the PIDF), the gateway refreshing its
#    SUBSCRIBE before the Expires the notifier granted, unsubscribe ->
#    SUBSCRIBE Expires: 0;
#  - presence, internal user watching: SUBSCRIBE -> 200 + NOTIFY pending and a
#    subscription request to bob; bob approves -> NOTIFY active; bob's
#    available/away/dnd -> PIDF; a refresh gets the last state; Expires: 0 ->
#    terminated and XMPP unsubscribe; bob going offline -> PIDF closed;
#  - refusals: a user without XMPP access (both ways, IM and presence), a
#    blocked domain, a domain not on the partner list (both ways), groupchat,
#    an INVITE offering no IM stream (488; IM sessions: xmpp_gateway_session.sh).
# Addresses (127.0.16.0/24): node1 .1 (SIP 5060/5061, XMPP 5269), the UA .10
# (listening, next hop) and .11 (its connections to the node), Prosody .20,
# NSD .53 port 53.
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/sipc.sh"
. "$EP_LIB/prosody.sh"
ep_setup xmpp_gateway
need_cmd prosody prosodyctl nsd kdig
need_bin edge-node
PY=/usr/bin/python3
$PY -c 'import slixmpp' 2>/dev/null || skip "python3-slixmpp not installed for $PY"
ep_certs

zone() { # DOMAIN ADDR
    {
        printf '$ORIGIN %s.\n$TTL 30\n' "$1"
        printf '@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 30\n@ IN NS ns.%s.\n' "$1" "$1" "$1"
        printf 'ns IN A 127.0.16.53\n'
        printf '_xmpp-server._tcp IN SRV 0 0 5269 xmpp.%s.\nxmpp IN A %s\n' "$1" "$2"
    } >"$WORK/$1.zone"
}
zone contoso.test 127.0.16.1
for d in jabber blocked stranger; do zone $d.test 127.0.16.20; done
dns_start "$WORK/dns" 127.0.16.53 53 "$WORK"/*.zone || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

prosody_conf px 127.0.16.20 127.0.16.53 '' jabber.test=jabber-xmpp blocked.test=blocked-xmpp \
    stranger.test=stranger-xmpp
for u in bob@jabber.test eve@blocked.test sam@stranger.test; do prosody_user px $u pw; done
prosody_start px

POLICY='
  access_edge = { allow_federated_users = true; enable_xmpp = true; };
  internal_domains = [ "contoso.test" ];
  blocked_domains = [ "blocked.test" ];
  xmpp_partners = ( { domain = "jabber.test"; } );
  external_access_policies = (
    { name = "global"; enable_federation_access = true; enable_xmpp_access = true; },
    { name = "NoXmpp"; enable_federation_access = true; } );
  user_policies = ( { user = "mallory@contoso.test"; policy = "NoXmpp"; } );'
NODE_LOG_LEVEL=debug node_conf node1 127.0.16.1 127.0.16.10:5070 127.0.16.53:53 "$POLICY" \
    "xmpp = { cert = \"$EP_CERTS/contoso-xmpp.crt\"; key = \"$EP_CERTS/contoso-xmpp.key\"; };"
node_start node1
wait_tcp 127.0.16.1 5269 || fail "node1 does not listen on 5269"

# XMPP users: commands appended to NAME.cmd, events in NAME.log
xuser() { # NAME JID
    : >"$WORK/$1.cmd"
    ep_spawn "$1" $PY "$EP_LIB/xmpp_user.py" "$2" pw 127.0.16.20:5222 "$WORK/$1.cmd"
    wait_log "$WORK/$1.log" "^SESSION" 10 || fail "$2 did not log in"
}
xuser bob bob@jabber.test

EP_PY_TIMEOUT=200 ep_py scenario "$WORK" <<'PY' || fail "$EP_PY_MSG"
import re
from sipua import Endpoint

W = sys.argv[1]
BOB = W + "/bob.log"
NODE = W + "/node1.log"


def bob(cmd):
    with open(W + "/bob.cmd", "a") as f:
        f.write(cmd + "\n")
    note("bob: " + cmd)


def saw(regex, since, timeout=10, log=BOB):
    return wait_log(log, regex, timeout, since)


def check(cond, what):
    if not cond:
        fail(what)
    ok(what)


def pidf(basic, activity=None, text=None):
    person = ""
    if activity or text:
        person = "<dm:person id='p'>%s%s</dm:person>" % (
            "<rpid:activities><rpid:%s/></rpid:activities>" % activity if activity else "",
            "<dm:note>%s</dm:note>" % text if text else "")
    return ("<?xml version='1.0' encoding='UTF-8'?>"
            "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
            "xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' "
            "xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='pres:alice@contoso.test'>"
            "<tuple id='t1'><status><basic>%s</basic></status></tuple>%s</presence>" % (basic, person))


def uri_of(v):
    return v[v.find("<") + 1: v.find(">")] if "<" in v else v.split(";")[0]


ep = Endpoint("127.0.16.10", 5070)
cu = tcp("127.0.16.1:5060", src="127.0.16.11", name="alice's UA")


def next_req(timeout=10, method=None):
    c, m = ep.request(timeout)
    if method and m.method != method:
        fail("expected a %s from the node, got %s" % (method, m.start))
    return c, m


def notify(sub, to_tag, cseq, state, body=None, expect=200):
    """alice's NOTIFY in the dialog the gateway's SUBSCRIBE sub created."""
    r = Req("NOTIFY", uri_of(sub.get("Contact")), cu, frm="sip:alice@contoso.test",
            call_id=sub.get("Call-ID"), cseq=cseq, body=body or "")
    r.set("From", "<sip:alice@contoso.test>;tag=" + to_tag)
    r.set("To", sub.get("From"))
    r.set("Contact", "<sip:alice@127.0.16.10:5070>")
    r.hdr("Event", "presence").hdr("Subscription-State", state)
    if body:
        r.hdr("Content-Type", "application/pidf+xml")
    cu.send(r)
    cu.expect(expect, 5, "%d to NOTIFY %s" % (expect, state))


def body_of(m):
    return m.body.decode("utf-8")


# ---- IM: XMPP -> SIP ----
note("--- bob -> alice: a MESSAGE inside")
mark = log_mark(BOB)
bob("send alice@contoso.test hello alice, from XMPP")
c, m = next_req(10, "MESSAGE")
check(m.start == "MESSAGE sip:alice@contoso.test SIP/2.0", "Request-URI sip:alice@contoso.test")
check(re.match(r"<sip:bob@jabber\.test>;tag=", m.get("From")), "From <sip:bob@jabber.test>: " + m.get("From"))
check(m.get("To") == "<sip:alice@contoso.test>", "To <sip:alice@contoso.test>")
check(m.get("Content-Type", "").startswith("text/plain"), "text/plain body")
check(body_of(m) == "hello alice, from XMPP", "body: %r" % m.body)
check(re.search(r"source=XmppPartner;.*;verified;.*domain=jabber\.test", m.get("X-Edgepool-Trust", "")),
      "trust header: " + m.get("X-Edgepool-Trust", ""))
ep.reply(c, m, 200, to_tag="im1")

note("--- bob -> nobody: SIP 404 -> <item-not-found/>")
bob("send nobody@contoso.test are you there")
c, m = next_req(10, "MESSAGE")
check(m.start.startswith("MESSAGE sip:nobody@contoso.test "), "MESSAGE to nobody")
ep.reply(c, m, 404, "Not Found", to_tag="im2")
saw(r"^MESSAGE error nobody@contoso.test bob@jabber.test/\S+ .* item-not-found", mark)

# ---- IM: SIP -> XMPP ----
note("--- alice -> bob: delivered to bob's client; his receipt makes the 200")
r = Req("MESSAGE", "sip:bob@jabber.test", cu, frm="sip:alice@contoso.test", body="hi bob, from SIP")
cu.send(r)
cu.expect(200, 10, "200 (bob's client acknowledged with a receipt)")
saw(r"^MESSAGE chat alice@contoso.test bob@jabber.test(/\S+)? 'hi bob, from SIP'", mark)

note("--- alice -> an unknown jabber.test user: Prosody's <service-unavailable/> -> 480")
r = Req("MESSAGE", "sip:ghost@jabber.test", cu, frm="sip:alice@contoso.test", body="anyone?")
cu.send(r)
resp = cu.expect(480, 10, "480 for a user jabber.test does not have")

# ---- presence: bob watches alice ----
note("--- bob subscribes to alice: SUBSCRIBE inside, approval pending, then active")
mark = log_mark(BOB)
bob("subscribe alice@contoso.test")
c, sub = next_req(10, "SUBSCRIBE")
check(sub.start == "SUBSCRIBE sip:alice@contoso.test SIP/2.0", "SUBSCRIBE to alice")
check(sub.get("Event") == "presence", "Event: presence")
check("application/pidf+xml" in sub.get("Accept", ""), "Accept: application/pidf+xml")
check(re.match(r"<sip:bob@jabber\.test>;tag=", sub.get("From")), "From bob")
check("ep-xmpp" in sub.get("Contact", ""), "the gateway's Contact: " + sub.get("Contact", ""))
check(sub.get("Expires") == "3600", "Expires 3600")
# alice's side has to approve: 202 and a pending NOTIFY, nothing for bob yet
ep.reply(c, sub, 202, "Accepted", to_tag="a1", contact="sip:alice@127.0.16.10:5070",
         extra=["Expires: 8"])
notify(sub, "a1", 1, "pending;expires=8")
pidf_dnd = pidf("open", "busy", "In a meeting")
notify(sub, "a1", 2, "active;expires=8", pidf_dnd)
saw(r"^SUBSCRIBED alice@contoso.test", mark)
saw(r"^PRESENCE available alice@contoso.test dnd 'In a meeting'", mark)

note("--- the gateway refreshes its SUBSCRIBE before the 8 s granted run out")
c, ref = next_req(9, "SUBSCRIBE")
check(ref.get("Call-ID") == sub.get("Call-ID") and ";tag=a1" in ref.get("To"), "in the same dialog")
check(ref.start.startswith("SUBSCRIBE sip:alice@127.0.16.10:5070"), "to alice's Contact")
check(int(ref.get("CSeq").split()[0]) > int(sub.get("CSeq").split()[0]), "a higher CSeq")
ep.reply(c, ref, 200, to_tag="a1", contact="sip:alice@127.0.16.10:5070", extra=["Expires: 3600"])

note("--- alice away, then offline")
mark = log_mark(BOB)
notify(sub, "a1", 3, "active;expires=3600", pidf("open", "away", "Out to lunch"))
saw(r"^PRESENCE available alice@contoso.test away 'Out to lunch'", mark)
notify(sub, "a1", 4, "active;expires=3600", pidf("closed"))
saw(r"^PRESENCE unavailable alice@contoso.test", mark)
notify(sub, "a1", 5, "active;expires=3600", pidf("open"))
saw(r"^PRESENCE available alice@contoso.test  ''", mark)

note("--- bob unsubscribes: SUBSCRIBE Expires: 0 in the dialog")
bob("unsubscribe alice@contoso.test")
c, un = next_req(10, "SUBSCRIBE")
check(un.get("Expires") == "0" and un.get("Call-ID") == sub.get("Call-ID"), "Expires: 0 in the dialog")
ep.reply(c, un, 200, to_tag="a1", extra=["Expires: 0"])
notify(sub, "a1", 6, "terminated;reason=timeout")

# ---- presence: alice watches bob ----
note("--- alice subscribes to bob: 200, NOTIFY pending, bob is asked")
mark = log_mark(BOB)
s = Req("SUBSCRIBE", "sip:bob@jabber.test", cu, frm="sip:alice@contoso.test")
s.hdr("Event", "presence").hdr("Accept", "application/pidf+xml").hdr("Expires", "600")
cu.send(s)
ok200 = cu.expect(200, 5, "200 to alice's SUBSCRIBE")
check(ok200.get("Expires") == "600", "Expires 600 granted")
gw_tag = ok200.get("To").split("tag=")[1]
gw_contact = uri_of(ok200.get("Contact"))
c, n1 = next_req(10, "NOTIFY")
check(n1.get("Subscription-State").startswith("pending"), "NOTIFY pending: " + n1.get("Subscription-State"))
check(n1.get("Call-ID") == s.call_id and ("tag=" + s.from_tag) in n1.get("To"), "in alice's dialog")
check(n1.start.startswith("NOTIFY sip:alice@127.0.16.11:"), "to alice's Contact")
check("<basic>closed</basic>" in body_of(n1), "PIDF closed while unknown")
ep.reply(c, n1, 200)
saw(r"^SUBSCRIBE alice@contoso.test", mark)

note("--- bob approves: NOTIFY active, then his presence")
bob("approve alice@contoso.test")
seen_open = False
for i in range(4):
    c, n2 = next_req(10, "NOTIFY")
    ep.reply(c, n2, 200)
    check(n2.get("Subscription-State").startswith("active"), "NOTIFY active")
    if "<basic>open</basic>" in body_of(n2):
        seen_open = True
        break
check(seen_open, "bob's availability reached alice as PIDF open")

note("--- bob away, then busy: RPID activities and the note")
bob("presence away Walking the dog")
c, n3 = next_req(10, "NOTIFY")
ep.reply(c, n3, 200)
b = body_of(n3)
check("<basic>open</basic>" in b and "<rpid:away/>" in b and "Walking the dog" in b, "away: " + b)
bob("presence dnd Concentrating")
c, n4 = next_req(10, "NOTIFY")
ep.reply(c, n4, 200)
b = body_of(n4)
check("<rpid:busy/>" in b and "Concentrating" in b, "dnd -> busy")
check(int(n4.get("CSeq").split()[0]) > int(n3.get("CSeq").split()[0]), "NOTIFY CSeq grows")

note("--- alice refreshes: the last state comes again")
rf = Req("SUBSCRIBE", gw_contact, cu, frm="sip:alice@contoso.test", call_id=s.call_id, cseq=2)
rf.set("From", "<sip:alice@contoso.test>;tag=" + s.from_tag)
rf.set("To", ok200.get("To"))
rf.hdr("Event", "presence").hdr("Expires", "600")
cu.send(rf)
cu.expect(200, 5, "200 to the refresh")
c, n5 = next_req(10, "NOTIFY")
ep.reply(c, n5, 200)
check("<rpid:busy/>" in body_of(n5), "refresh NOTIFY carries the last state (busy)")

note("--- refusals")
mark = log_mark(BOB)
bob("send mallory@contoso.test hi mallory")
saw(r"^MESSAGE error mallory@contoso.test bob@jabber.test/\S+ .* forbidden", mark)
bob("subscribe mallory@contoso.test")
saw(r"^PRESENCE-ERROR mallory@contoso.test forbidden", mark)
r = Req("MESSAGE", "sip:bob@jabber.test", cu, frm="sip:mallory@contoso.test", body="no xmpp for me")
cu.send(r)
cu.expect(403, 5, "403: mallory's policy has no XMPP")
r = Req("SUBSCRIBE", "sip:bob@jabber.test", cu, frm="sip:mallory@contoso.test")
r.hdr("Event", "presence")
cu.send(r)
cu.expect(403, 5, "403 to mallory's SUBSCRIBE")
for dom in ("blocked.test", "stranger.test"):
    r = Req("MESSAGE", "sip:eve@" + dom, cu, frm="sip:alice@contoso.test", body="hi")
    cu.send(r)
    cu.expect(403, 5, "403 for a MESSAGE to " + dom)
bob("sendtype groupchat alice@contoso.test hello room")
saw(r"^MESSAGE error alice@contoso.test bob@jabber.test/\S+ .* feature-not-implemented", mark)
r = Req("INVITE", "sip:bob@jabber.test", cu, frm="sip:alice@contoso.test", body="v=0\r\n")
cu.send(r)
cu.expect(488, 5, "488 to an INVITE offering no IM stream (sessions: xmpp_gateway_session.sh)")

note("--- alice unsubscribes: NOTIFY terminated; bob is told")
mark = log_mark(BOB)
us = Req("SUBSCRIBE", gw_contact, cu, frm="sip:alice@contoso.test", call_id=s.call_id, cseq=3)
us.set("From", "<sip:alice@contoso.test>;tag=" + s.from_tag)
us.set("To", ok200.get("To"))
us.hdr("Event", "presence").hdr("Expires", "0")
cu.send(us)
cu.expect(200, 5, "200 to the unsubscribe")
c, n6 = next_req(10, "NOTIFY")
ep.reply(c, n6, 200)
check(n6.get("Subscription-State").startswith("terminated"), "NOTIFY terminated")
saw(r"^UNSUBSCRIBE alice@contoso.test", mark)

note("--- alice again (bob approves again: her unsubscribe cleared it); bob goes offline")
mark = log_mark(BOB)
s2 = Req("SUBSCRIBE", "sip:bob@jabber.test", cu, frm="sip:alice@contoso.test")
s2.hdr("Event", "presence").hdr("Expires", "600")
cu.send(s2)
cu.expect(200, 5, "200 to alice's second SUBSCRIBE")
c, p1 = next_req(10, "NOTIFY")
ep.reply(c, p1, 200)
saw(r"^SUBSCRIBE alice@contoso.test", mark)
bob("approve alice@contoso.test")
got_open = False
for i in range(4):
    c, p2 = next_req(10, "NOTIFY")
    ep.reply(c, p2, 200)
    if "<basic>open</basic>" in body_of(p2):
        got_open = True
        break
check(got_open, "bob available again")
bob("offline")
while True:
    c, p3 = next_req(10, "NOTIFY")
    ep.reply(c, p3, 200)
    if "<basic>closed</basic>" in body_of(p3):
        break
ok("bob offline -> PIDF closed")
PY

# the refused partners never got a stanza through (the s2s layer refuses
# their streams), with one log line each
xuser eve eve@blocked.test
xuser sam sam@stranger.test
echo "send alice@contoso.test from a blocked domain" >>"$WORK/eve.cmd"
echo "send alice@contoso.test from a stranger" >>"$WORK/sam.cmd"
wait_log "$WORK/node1.log" "stream from blocked.test .*blocked domain" 10 || fail "blocked.test's stream not refused"
wait_log "$WORK/node1.log" "stream from stranger.test .*not an XMPP partner" 10 || fail "stranger.test's stream not refused"
assert_no_log "$WORK/node1.log" "sent as MESSAGE .*(eve@blocked|sam@stranger)" "no MESSAGE from a refused domain"
echo quit >>"$WORK/eve.cmd"
echo quit >>"$WORK/sam.cmd"
assert_no_log "$WORK/node1.log" "stray [0-9]+ response" "every response found its transaction"
# what the gateway carried, on node1's /metrics
curl -s --max-time 3 http://127.0.16.1:8080/metrics >"$WORK/metrics.txt" || fail "node1's /metrics did not answer"
for d in to_xmpp to_sip; do
    v=$(sed -n "s/^edgepool_xmpp_gateway_messages_total{direction=\"$d\"} //p" "$WORK/metrics.txt")
    assert_cmp "${v:-0}" -ge 1 "edgepool_xmpp_gateway_messages_total{direction=$d}"
done
v=$(sed -n 's/^edgepool_xmpp_gateway_subscriptions_total //p' "$WORK/metrics.txt")
assert_cmp "${v:-0}" -ge 1 "edgepool_xmpp_gateway_subscriptions_total"
assert_log "$WORK/metrics.txt" "^# TYPE edgepool_xmpp_gateway_sessions_held gauge" "the sessions gauge"
pass "IM and presence both ways through Prosody; refusals mapped"
