#!/bin/bash
# xmpp_gateway_session.sh -- IM sessions through the SIP<->XMPP gateway, as
# Lync / Skype for Business opens them: an INVITE whose SDP offers
# `m=message 5060 sip null`, MESSAGEs and typing notifications inside the
# dialog, BYE at the end. Two nodes on one Redis, Prosody (jabber.test)
# reaching contoso.test by SRV (node1 first, node2 next), a slixmpp user bob
# (tests/lib/xmpp_chat_user.py: prints chat states and threads) and raw SIP
# from the internal side (alice's UA, tests/lib/sipc.py / sipua.py):
#  1. through node1: alice's INVITE (Record-Route of her front end, the first
#     message in Ms-Text-Format as Lync sends it) -> 200 with an SDP answer
#     `m=message <port> sip null` + a=accept-types:text/plain, our tag, the
#     pool Contact (;ep-xmpp), her Record-Route; ACK absorbed; the session
#     in Redis; the first message reaches bob;
#  2. three MESSAGEs in the dialog -> bob gets them in order (chat, <active/>,
#     thread = Call-ID), each 200; Lync's typing INFO -> <composing/>, an
#     RFC 3994 idle MESSAGE -> <paused/>;
#  3. bob's reply comes back inside the dialog (alice's Contact as
#     Request-URI, her Record-Route as Route, the tags swapped), his
#     <composing/> as Lync's typing INFO (KeyboardActivity) in it;
#  4. node1 SIGKILLed; alice's next MESSAGE reaches node2, which reads the
#     session from Redis and delivers it; bob's reply, failed over to node2,
#     is still inside the dialog with a higher CSeq;
#  5. BYE through node2 -> 200, bob sees <gone/>, the records leave Redis, a
#     MESSAGE after it gets 481;
#  6. bob writes first: alice takes sessions (she INVITEd before), so the
#     gateway INVITEs her (m=message 5060 sip null, our pool Contact, trust
#     header); she rings (180) past the 4 s transaction timeout; bob's
#     second stanza waits on that INVITE; after her 200 an
#     ACK, then both MESSAGEs in the dialog in order (CSeq 2, 3); her reply
#     and BYE inside it;
#  7. our INVITE answered 488 (an endpoint without IM sessions): ACKed, the
#     text sent page mode; answered 480: bob gets <recipient-unavailable/>;
#  8. refusals: a user without XMPP access (403), an audio call (488 with a
#     Warning), malformed SDP (400), a re-INVITE in no session (481);
#  9. xmpp.im_sessions changed on node2 by SIGHUP: "never" sends bob's text
#     to alice page mode although she takes sessions; "always" opens a
#     session toward carol, who never opened one;
# 10. with session_ring_timeout 5 (SIGHUP), our INVITE ringing is CANCELled
#     after 5 s; the callee's 200 crossing the CANCEL is ACKed and ended with
#     a BYE (RFC 3261 9.1), bob gets <recipient-unavailable/>.
# Prints the session's round trips (INVITE -> 200, MESSAGE -> 200 and
# -> bob) and the time node2 took over.
# Addresses (127.0.28.0/24): node1 .1, node2 .2, the UA .10 (listening, the
# nodes' next hop) and .11 (its connections to the nodes), Prosody .20, NSD
# .53, Redis .100.
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/sipc.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/prosody.sh"
ep_setup xmpp_gateway_session
need_cmd prosody prosodyctl nsd kdig redis-server redis-cli
need_bin edge-node
PY=/usr/bin/python3
$PY -c 'import slixmpp' 2>/dev/null || skip "python3-slixmpp not installed for $PY"
ep_certs

R=127.0.28.100:6394
redis_start redis 127.0.28.100 6394
{
    printf '$ORIGIN contoso.test.\n$TTL 30\n@ IN SOA ns hostmaster 1 3600 600 86400 30\n@ IN NS ns\n'
    printf 'ns IN A 127.0.28.53\n'
    printf '_xmpp-server._tcp IN SRV 0 0 5269 xmpp1\n_xmpp-server._tcp IN SRV 10 0 5269 xmpp2\n'
    printf 'xmpp1 IN A 127.0.28.1\nxmpp2 IN A 127.0.28.2\n'
} >"$WORK/contoso.test.zone"
{
    printf '$ORIGIN jabber.test.\n$TTL 30\n@ IN SOA ns hostmaster 1 3600 600 86400 30\n@ IN NS ns\n'
    printf 'ns IN A 127.0.28.53\n_xmpp-server._tcp IN SRV 0 0 5269 xmpp\nxmpp IN A 127.0.28.20\n'
} >"$WORK/jabber.test.zone"
dns_start "$WORK/dns" 127.0.28.53 53 "$WORK"/*.zone || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

prosody_conf px 127.0.28.20 127.0.28.53 '' jabber.test=jabber-xmpp
prosody_user px bob@jabber.test pw
prosody_start px

POLICY='
  access_edge = { allow_federated_users = true; enable_xmpp = true; };
  internal_domains = [ "contoso.test" ];
  xmpp_partners = ( { domain = "jabber.test"; } );
  external_access_policies = (
    { name = "global"; enable_federation_access = true; enable_xmpp_access = true; },
    { name = "NoXmpp"; enable_federation_access = true; } );
  user_policies = ( { user = "mallory@contoso.test"; policy = "NoXmpp"; } );'
XMPP="xmpp = { cert = \"$EP_CERTS/contoso-xmpp.crt\"; key = \"$EP_CERTS/contoso-xmpp.key\";
               dialback_secret = \"pool-secret\"; };"
export NODE_INTERNAL='record_route_host = "edge-int.contoso.test";'
for i in 1 2; do
    NODE_LOG_LEVEL=debug node_conf node$i 127.0.28.$i 127.0.28.10:5070 127.0.28.53:53 "$POLICY" \
        "$XMPP" "addr = \"$R\";"
    node_start node$i
    wait_tcp 127.0.28.$i 5269 || fail "node$i does not listen on 5269"
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 2 || fail "the nodes did not register"

: >"$WORK/bob.cmd"
ep_spawn bob $PY "$EP_LIB/xmpp_chat_user.py" bob@jabber.test pw 127.0.28.20:5222 "$WORK/bob.cmd"
wait_log "$WORK/bob.log" "^SESSION" 10 || fail "bob did not log in"

EP_PY_TIMEOUT=90 ep_py scenario "$WORK" "$R" <<'PY' &
import base64, re, subprocess, time
from sipua import Endpoint

W, R = sys.argv[1], sys.argv[2]
BOB = W + "/bob.log"
LYNC_SDP = ("v=0\r\no=- 0 0 IN IP4 127.0.28.11\r\ns=session\r\nc=IN IP4 127.0.28.11\r\nt=0 0\r\n"
            "m=message 5060 sip null\r\n"
            "a=accept-types:text/plain multipart/alternative image/gif text/rtf text/html "
            "application/x-ms-ink application/ms-imdn+xml text/x-msmsgsinvite\r\n")
FE_RR = "<sip:fe1.contoso.test:5061;transport=tls;lr>"


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


def cseq(m):
    return int(m.get("CSeq").split()[0])


def tag_of(v):
    return v.split(";tag=")[1].split(";")[0] if ";tag=" in v else ""


ep = Endpoint("127.0.28.10", 5070)


def next_req(timeout, method):
    c, m = ep.request(timeout)
    if m.method != method:
        fail("expected a %s, got %s" % (method, m.start))
    return c, m


def invite(c, frm, to, body, extra=()):
    r = Req("INVITE", to, c, frm=frm, body=body)
    for n, v in extra:
        r.hdr(n, v)
    c.send(r)
    return r


def refused(c, r, code, what):
    resp = c.expect(code, 5, what)
    c.send(r.ack(resp))
    return resp


class Dialog:
    """alice's side of the session: her requests in it, through conn c."""

    def __init__(self, inv, resp):
        self.inv, self.resp, self.cseq = inv, resp, inv.cseq

    def req(self, c, method, body="", ctype=None):
        self.cseq += 1
        r = in_dialog(method, c, self.inv, self.resp, self.cseq)
        r.drop("Content-Type")
        r.body = body
        if ctype:
            r.hdr("Content-Type", ctype)
        c.send(r)
        return r

    def message(self, c, text, code=200):
        t0 = time.monotonic()
        self.req(c, "MESSAGE", text, "text/plain; charset=UTF-8")
        c.expect(code, 5, "%d to MESSAGE %r" % (code, text))
        return time.monotonic() - t0


c1 = tcp("127.0.28.1:5060", src="127.0.28.11", name="UA->node1")

note("--- 1. alice opens an IM session with bob through node1 (Lync's INVITE)")
mark = log_mark(BOB)
first = "Hello Bob, from Lync"
t0 = time.monotonic()
inv = invite(c1, "sip:alice@contoso.test", "sip:bob@jabber.test", LYNC_SDP,
             [("Record-Route", FE_RR), ("Supported", "ms-text-format"),
              ("Ms-Text-Format", "text/plain; charset=UTF-8;msgr=WAAtAE0AUwA;ms-body="
               + base64.b64encode(first.encode()).decode())])
ok200 = c1.expect(200, 5, "200 to the IM INVITE")
t_invite = time.monotonic() - t0
ltag = tag_of(ok200.get("To"))
check(ltag != "", "our tag on To: " + ltag)
check(ok200.get("Content-Type") == "application/sdp", "an SDP answer")
sdp = ok200.body.decode()
note("answer:\n" + sdp.strip())
check(sdp.startswith("v=0\r\n") and "\r\nm=message 5060 sip null\r\n" in sdp
      and "\r\na=accept-types:text/plain\r\n" in sdp and "c=IN IP4 127.0.28.1\r\n" in sdp,
      "m=message 5060 sip null, accept-types text/plain, our address")
check(sdp.count("m=") == 1, "one m= line for the one offered")
check("edge-int.contoso.test" in ok200.get("Contact") and "ep-xmpp" in ok200.get("Contact"),
      "Contact names the pool: " + ok200.get("Contact"))
check(ok200.values("Record-Route") == [FE_RR], "alice's Record-Route copied")
check("MESSAGE" in ok200.get("Allow", "") and "INFO" in ok200.get("Allow", ""), "Allow lists MESSAGE, INFO")
d = Dialog(inv, ok200)
c1.send(in_dialog("ACK", c1, inv, ok200, inv.cseq))
c1.expect_nothing(0.3, "nothing answers the ACK")
key = "ep:edgepool:xsess:" + inv.call_id
check(redis("HGET", key, "ltag") == ltag and redis("HGET", key, "xmpp") == "bob@jabber.test",
      "the session in Redis")
check(redis("GET", "ep:edgepool:xspair:alice@contoso.test:bob@jabber.test") == inv.call_id,
      "found by its pair")
ttl = int(redis("TTL", key))
check(3500 < ttl <= 3600, "its TTL is the idle time (%d s)" % ttl)
saw(r"^MESSAGE chat alice@contoso.test '%s' %s active" % (first, re.escape(inv.call_id)), mark)

note("--- 2. three MESSAGEs and typing in the dialog")
rtts = []
for i in (1, 2, 3):
    rtts.append(d.message(c1, "message %d in the session" % i))
for i in (1, 2, 3):
    saw(r"^MESSAGE chat alice@contoso.test 'message %d in the session' %s active"
        % (i, re.escape(inv.call_id)), mark)
lines = [l for l in open(BOB).read().splitlines() if "in the session'" in l]
check([l.split("'")[1] for l in lines] == ["message %d in the session" % i for i in (1, 2, 3)],
      "bob got them in order")
mark = log_mark(BOB)
d.req(c1, "INFO", '<?xml version="1.0"?><KeyboardActivity><status status="type" /></KeyboardActivity>',
      "application/xml")
c1.expect(200, 5, "200 to Lync's typing INFO")
saw(r"^MESSAGE chat alice@contoso.test '' %s composing" % re.escape(inv.call_id), mark)
d.req(c1, "MESSAGE", "<?xml version='1.0' encoding='UTF-8'?><isComposing "
      "xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>idle</state></isComposing>",
      "application/im-iscomposing+xml")
c1.expect(200, 5, "200 to an RFC 3994 idle notification")
saw(r"^MESSAGE chat alice@contoso.test '' %s paused" % re.escape(inv.call_id), mark)
d.req(c1, "MESSAGE", "{\\rtf1 hi}", "text/rtf")
c1.expect(415, 5, "415 to a text/rtf MESSAGE (we answered text/plain)")

note("--- 3. bob's reply comes back inside the dialog")
t0 = time.monotonic()
bob("send alice@contoso.test Hi Alice, bob here")
c, m = next_req(10, "MESSAGE")
t_reply = time.monotonic() - t0
check(m.get("Call-ID") == inv.call_id, "same Call-ID")
check(tag_of(m.get("To")) == inv.from_tag and tag_of(m.get("From")) == ltag, "the dialog's tags")
check(m.start.startswith("MESSAGE sip:alice@127.0.28.11:"), "to alice's Contact: " + m.start)
check(m.get("Route") == FE_RR, "through her Record-Route")
check(m.body == b"Hi Alice, bob here", "the text")
first_cseq = cseq(m)
ep.reply(c, m, 200)
bob("state alice@contoso.test composing")
c, m = next_req(10, "INFO")
check(m.get("Call-ID") == inv.call_id and m.get("Content-Type") == "application/xml"
      and b'<status status="type" />' in m.body, "bob's <composing/> -> Lync's typing INFO in the dialog")
check(cseq(m) > first_cseq, "next CSeq (%d)" % cseq(m))
first_cseq = cseq(m)
ep.reply(c, m, 200)

note("--- 4. node1 dies; node2 carries the session on")
open(W + "/kill-node1", "w").close()
deadline = time.monotonic() + 10
while not os.path.exists(W + "/killed"):
    if time.monotonic() > deadline:
        fail("node1 was not killed")
    time.sleep(0.05)
t_kill = time.monotonic()
c1.close()
c2 = tcp("127.0.28.2:5060", src="127.0.28.11", name="UA->node2")
mark = log_mark(BOB)
rtts.append(d.message(c2, "message 4 after node1 died"))
saw(r"^MESSAGE chat alice@contoso.test 'message 4 after node1 died' %s active" % re.escape(inv.call_id),
    mark)
t_takeover = time.monotonic() - t_kill
bob("send alice@contoso.test still here")
c, m = next_req(20, "MESSAGE")
check(ep.peer(c).startswith("127.0.28.2:"), "bob's reply through node2: " + ep.peer(c))
check(m.get("Call-ID") == inv.call_id and tag_of(m.get("To")) == inv.from_tag, "inside the dialog")
check(cseq(m) > first_cseq, "CSeq goes on (%d > %d)" % (cseq(m), first_cseq))
ep.reply(c, m, 200)

note("--- 5. BYE through node2")
mark = log_mark(BOB)
d.req(c2, "BYE")
c2.expect(200, 5, "200 to BYE")
saw(r"^MESSAGE chat alice@contoso.test '' %s gone" % re.escape(inv.call_id), mark)
deadline = time.monotonic() + 5
while time.monotonic() < deadline and redis("EXISTS", key) != "0":
    time.sleep(0.05)
check(redis("EXISTS", key) == "0", "the session left Redis")
check(redis("EXISTS", "ep:edgepool:xspair:alice@contoso.test:bob@jabber.test") == "0", "and its pair")
d.req(c2, "MESSAGE", "too late", "text/plain")
c2.expect(481, 5, "481 to a MESSAGE after BYE")

note("--- 6. bob starts: alice takes sessions (she INVITEd), so the gateway INVITEs her")
t0 = time.monotonic()
bob("send alice@contoso.test are you there?")
bob("send alice@contoso.test second line")
c, oi = next_req(10, "INVITE")
t_out_invite = time.monotonic() - t0
offer = oi.body.decode()
check(oi.start.startswith("INVITE sip:alice@contoso.test ") and "m=message 5060 sip null\r\n" in offer
      and "a=accept-types:text/plain" in offer, "INVITE with m=message 5060 sip null")
check(tag_of(oi.get("From")) != "" and "bob@jabber.test" in oi.get("From"), "from bob, our tag")
check("ep-xmpp" in oi.get("Contact"), "our pool Contact: " + oi.get("Contact"))
check("X-Edgepool-Trust" in [n for n, _ in oi.headers], "with our trust header")
# alerted, as a Lync client is until its user opens the toast: the gateway
# waits past its 4 s transaction timeout, the second stanza queued meanwhile
c.send("SIP/2.0 180 Ringing\r\n" + "".join("Via: %s\r\n" % v for v in oi.all("Via"))
       + "From: %s\r\nTo: %s;tag=al1ce\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n"
       % (oi.get("From"), oi.get("To"), oi.get("Call-ID"), oi.get("CSeq")))
time.sleep(4.5)
ep.reply(c, oi, 200, to_tag="al1ce", contact="sip:alice@127.0.28.10:5070;transport=tcp",
         body=LYNC_SDP.replace("127.0.28.11", "127.0.28.10"))
c, ack = next_req(5, "ACK")
check(ack.get("Call-ID") == oi.get("Call-ID") and ack.start.startswith("ACK sip:alice@127.0.28.10:5070"),
      "ACK to alice's Contact")
c, m1 = next_req(5, "MESSAGE")
ep.reply(c, m1, 200)
c, m2 = next_req(5, "MESSAGE")
ep.reply(c, m2, 200)
check([m1.body, m2.body] == [b"are you there?", b"second line"], "both queued messages, in order")
check(all(x.get("Call-ID") == oi.get("Call-ID") and tag_of(x.get("To")) == "al1ce" for x in (m1, m2)),
      "inside the new dialog")
check((cseq(m1), cseq(m2)) == (2, 3), "CSeq 2, 3 after the INVITE's 1")
okey = "ep:edgepool:xsess:" + oi.get("Call-ID")
check(redis("HGET", okey, "dir") == "o", "our session in Redis (dir o)")
# alice answers inside it (From/To as the dialog has them), then hangs up
mark = log_mark(BOB)
od = Req("MESSAGE", "sip:edge-int.contoso.test:5060;transport=tcp;ep-xmpp", c2,
         frm="sip:alice@contoso.test", call_id=oi.get("Call-ID"), cseq=1, body="yes, here")
od.set("From", "<sip:alice@contoso.test>;tag=al1ce").set("To", oi.get("From"))
c2.send(od)
c2.expect(200, 5, "200 to alice's MESSAGE in the session we opened")
saw(r"^MESSAGE chat alice@contoso.test 'yes, here' %s active" % re.escape(oi.get("Call-ID")), mark)
od.method = "BYE"
od.branch = "z9hG4bK" + rand()
od.set("Via", "SIP/2.0/TCP %s:%d;branch=%s" % (c2.local[0], c2.local[1], od.branch))
od.set("CSeq", "2 BYE").drop("Content-Type")
od.body = ""
c2.send(od)
c2.expect(200, 5, "200 to alice's BYE")

note("--- 7. an INVITE refused 488 (an endpoint without IM sessions): page mode; 480: an error")
bob("send alice@contoso.test page mode then")
c, oi = next_req(10, "INVITE")
ep.reply(c, oi, 488, to_tag="x1")
c, ack = next_req(5, "ACK")
check(ack.get("Via").split("branch=")[1] == oi.get("Via").split("branch=")[1], "ACK of the 488, same branch")
c, m = next_req(10, "MESSAGE")
check(m.start.startswith("MESSAGE sip:alice@contoso.test ") and tag_of(m.get("To")) == ""
      and m.body == b"page mode then", "page mode after the 488")
ep.reply(c, m, 200)
mark = log_mark(BOB)
bob("send alice@contoso.test nobody home")
c, oi = next_req(10, "INVITE")
ep.reply(c, oi, 480, reason="Temporarily Unavailable", to_tag="x2")
next_req(5, "ACK")
saw(r"^MESSAGE error alice@contoso.test .* recipient-unavailable", mark)

note("--- 8. refusals")
r = invite(c2, "sip:mallory@contoso.test", "sip:bob@jabber.test", LYNC_SDP)
refused(c2, r, 403, "403: mallory has no XMPP access")
r = invite(c2, "sip:alice@contoso.test", "sip:bob@jabber.test",
           "v=0\r\no=- 1 1 IN IP4 127.0.28.11\r\ns=-\r\nc=IN IP4 127.0.28.11\r\nt=0 0\r\n"
           "m=audio 49170 RTP/AVP 0 8\r\nm=video 49172 RTP/AVP 96\r\n")
resp = refused(c2, r, 488, "488 to an audio/video call")
check(resp.get("Warning", "").startswith("304 "), "with a Warning: " + resp.get("Warning", ""))
r = invite(c2, "sip:alice@contoso.test", "sip:bob@jabber.test", "v=0\r\nm=message fivethousand sip null\r\n")
refused(c2, r, 400, "400 to malformed SDP")
r = invite(c2, "sip:alice@contoso.test", "sip:bob@jabber.test", "hello")
refused(c2, r, 400, "400 to a body that is not SDP")
re_inv = in_dialog("INVITE", c2, inv, ok200, 99)
re_inv.body = LYNC_SDP
re_inv.hdr("Content-Type", "application/sdp")
c2.send(re_inv)
c2.expect(481, 5, "481 to a re-INVITE of the ended session")
check(redis("KEYS", "ep:edgepool:xsess:*") == "", "no session records left")

note("--- 9. xmpp.im_sessions: never (page mode even for alice), always (a session for carol)")
def reload_node2(mode):
    open(W + "/reload-" + mode, "w").close()
    end = time.time() + 10
    while not os.path.exists(W + "/reloaded-" + mode):
        if time.time() > end:
            fail("the test did not reload node2 with im_sessions " + mode)
        time.sleep(0.05)
reload_node2("never")
bob("send alice@contoso.test no session please")
c, m = next_req(10, "MESSAGE")
check(m.start.startswith("MESSAGE sip:alice@contoso.test ") and tag_of(m.get("To")) == ""
      and m.body == b"no session please", "im_sessions never: page mode for alice, who takes sessions")
ep.reply(c, m, 200)
reload_node2("always")
bob("send carol@contoso.test hello carol")
c, oi = next_req(10, "INVITE")
check(oi.start.startswith("INVITE sip:carol@contoso.test ") and "m=message 5060 sip null" in oi.body.decode(),
      "im_sessions always: an INVITE session for carol, who never opened one")
ep.reply(c, oi, 200, to_tag="c4r0l", contact="sip:carol@127.0.28.10:5070;transport=tcp",
         body=LYNC_SDP.replace("127.0.28.11", "127.0.28.10"))
next_req(5, "ACK")
c, m = next_req(5, "MESSAGE")
check(m.body == b"hello carol" and tag_of(m.get("To")) == "c4r0l", "carol's text inside the session")
ep.reply(c, m, 200)

note("--- 10. our INVITE CANCELled after session_ring_timeout, answered 200 as the CANCEL crossed")
reload_node2("ring5")
mark = log_mark(BOB)
bob("send dave@contoso.test ring ring")
c, oi = next_req(10, "INVITE")
c.send("SIP/2.0 180 Ringing\r\n" + "".join("Via: %s\r\n" % v for v in oi.all("Via"))
       + "From: %s\r\nTo: %s;tag=d4ve\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n"
       % (oi.get("From"), oi.get("To"), oi.get("Call-ID"), oi.get("CSeq")))
t0 = time.monotonic()
c, cn = next_req(10, "CANCEL")
t_cancel = time.monotonic() - t0
check(4.5 < t_cancel < 7, "CANCEL after the 5 s session_ring_timeout (%.1f s)" % t_cancel)
ep.reply(c, cn, 200)
# the callee answered as the CANCEL crossed: a 200 to the INVITE, not a 487
ep.reply(c, oi, 200, to_tag="d4ve", contact="sip:dave@127.0.28.10:5070;transport=tcp",
         body=LYNC_SDP.replace("127.0.28.11", "127.0.28.10"))
c, ack = next_req(5, "ACK")
check(ack.start.startswith("ACK sip:dave@127.0.28.10:5070") and tag_of(ack.get("To")) == "d4ve"
      and ack.get("Call-ID") == oi.get("Call-ID"), "the late 200 ACKed")
c, bye = next_req(5, "BYE")
check(bye.get("Call-ID") == oi.get("Call-ID") and cseq(bye) == cseq(oi) + 1, "and ended with a BYE")
ep.reply(c, bye, 200)
saw(r"^MESSAGE error dave@contoso.test .* recipient-unavailable", mark)

note("figures: INVITE->200 %.1f ms; MESSAGE->200 %s ms; bob's reply->MESSAGE in dialog %.0f ms; "
     "node2 delivering after node1's death %.0f ms; bob's first message->our INVITE %.0f ms" % (
         t_invite * 1000, "/".join("%.1f" % (x * 1000) for x in rtts), t_reply * 1000,
         t_takeover * 1000, t_out_invite * 1000))
PY
SC=$!
wait_until 60 test -e "$WORK/kill-node1" || true
if [ -e "$WORK/kill-node1" ]; then
    ep_kill node1 KILL
    ep_wait node1 5
    echo node1 >"$WORK/killed"
fi
# step 9: node2's xmpp.im_sessions changed by SIGHUP when the scenario asks
for mode in never always ring5; do
    wait_until 40 test -e "$WORK/reload-$mode" || break
    if [ $mode = ring5 ]; then
        sed -i "s|^xmpp = { |xmpp = { session_ring_timeout = 5; |" "$WORK/node2.conf"
    else
        sed -i -e 's|im_sessions = "[a-z]*"; ||' -e "s|^xmpp = { |xmpp = { im_sessions = \"$mode\"; |" "$WORK/node2.conf"
    fi
    grep -qE "im_sessions = \"$mode\"|session_ring_timeout = 5" "$WORK/node2.conf" || fail "could not set $mode"
    ep_kill node2 HUP
    wait_log "$WORK/node2.log" "reload" 5 || true
    sleep 0.3
    touch "$WORK/reloaded-$mode"
done
wait $SC || fail "$(tail -n 1 "$WORK/scenario.log")"
grep '^# figures' "$WORK/scenario.log" | sed 's/^# //' | while read -r l; do note "$l"; done
assert_log "$WORK/node2.log" "xmpp-gw: MESSAGE in IM session .* sent as <message/>" \
    "node2 carried the session's MESSAGE"
assert_log "$WORK/node2.log" "IM session .* ended by BYE" "node2 ended it"
pass "IM sessions (INVITE m=message sip null) through the gateway, surviving node1's death"
