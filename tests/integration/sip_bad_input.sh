# sip_bad_input.sh -- malformed and hostile input on both listeners of a real
# edge-node (DESIGN "Bad input"): each case gets the answer its protocol
# prescribes and exactly one log line naming the peer, and after each case
# the node still relays a good MESSAGE from another client (a partner over
# mutual TLS -> node -> SIPp UAS next hop) and answers OPTIONS inside.
#
#   clients (tests/lib/sipc.py)  127.0.7.21-29, raw bytes over TCP or TLS
#   node1                        127.0.7.1: 5060 internal TCP, 5061 TLS
#   SIPp UAS (next hop)          127.0.7.11:5070
# Limits made small: max_message_size 4096, max_headers 20,
# max_connections_per_source 3, idle_timeout 5 s.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/sipc.sh"
ep_setup sip_bad_input
need_bin edge-node
need_cmd sipp
[ -x "$EP_PYTHON" ] || skip "$EP_PYTHON not installed"
ep_certs

# fabrikam.test: an allowed partner server (direct federation), so inbound
# requests need no DNS: its certificate names sip.fabrikam.test
POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
NODE_LOG_LEVEL=debug \
    NODE_LIMITS="max_message_size = 4096; max_headers = 20; max_connections_per_source = 3; idle_timeout = 5;" \
    node_conf node1 127.0.7.1 127.0.7.11:5070 "" "$POLICY"
node_start node1
export NODE_INT=127.0.7.1:5060 NODE_EXT=127.0.7.1:5061
NLOG=$WORK/node1.log

GOOD=0      # good MESSAGEs relayed to the UAS so far
GOOD_MAX=16 # the UAS's -m: one per good_traffic call below (start + 15 cases)
SIPP_TIMEOUT=85 sipp_spawn uas uas_message.xml -t t1 -i 127.0.7.11 -p 5070 -m $GOOD_MAX
wait_tcp 127.0.7.11 5070 || fail "UAS did not start"

# good_traffic AFTER: another client still gets through: a partner's MESSAGE
# over a fresh TLS connection (from 127.0.7.29) relayed to the UAS and its
# 200 back, and an OPTIONS from inside (127.0.7.28) answered by the node.
good_traffic() {
    ep_alive node1 || fail "node1 died after: $1"
    ep_py "good$GOOD" <<'PY' || fail "good traffic after $1: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.29")
r = Req("MESSAGE", "sip:bob@contoso.test", c)
c.send(r)
m = c.expect(200, what="the UAS's 200 for a good MESSAGE")
if "SIPpTag" not in m.get("To"):
    fail("the 200 did not come from the UAS: " + m.get("To"))
c.close()
i = tcp(NODE_INT, src="127.0.7.28")
i.send(Req("OPTIONS", "sip:127.0.7.1:5060", i, frm="sip:probe@contoso.test"))
i.expect(200, what="200 for OPTIONS to the node")
i.close()
PY
    GOOD=$((GOOD + 1))
    note "ok: after $1 the node still relays a MESSAGE and answers OPTIONS"
}

# case_begin NAME: remember where the node's log ends, so that the lines the
# case causes can be counted.
case_begin() {
    CASE=$1
    CASE_LINE=$(($(wc -l <"$NLOG") + 1))
    note "--- case: $CASE"
}
case__count() { tail -n +"$CASE_LINE" "$NLOG" | grep -cE -- "$1"; }
case__has() { [ "$(case__count "$1")" -ge 1 ]; }
# logged_n N REGEX: exactly N lines matching REGEX since case_begin (waits up
# to 3 s for the first); logged_once REGEX: N = 1.
logged_n() {
    wait_until 3 case__has "$2" || fail "$CASE: no log line matching /$2/"
    sleep 0.1
    local k
    k=$(case__count "$2")
    [ "$k" = "$1" ] || fail "$CASE: $k log lines match /$2/, expected $1"
    note "ok: $CASE logged ($1x): $(tail -n +"$CASE_LINE" "$NLOG" | grep -m1 -E -- "$2" | cut -d' ' -f2-)"
}
logged_once() { logged_n 1 "$1"; }

good_traffic "start"

# 1. A truncated message (the headers cut short), then the client closes:
#    nothing to answer; the node drops the bytes, closes, and says so.
case_begin "truncated message"
ep_py truncated <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test").text()
c.send(r[: len(r) // 2])
c.shutdown_write()
c.expect_nothing(1.0, "no answer to half a message")
t = c.wait_closed(3.0)
ok("closed %.2fs after the client's FIN, nothing answered" % t)
PY
logged_once 'edge-node info conn: internal TCP connection from 127\.0\.7\.21:[0-9]+ closed by the peer in the middle of a message'
good_traffic "$CASE"

# 2. Content-Length not a number: framing is lost: 400, then the node closes.
case_begin "non-numeric Content-Length (TCP)"
ep_py badcl <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test")
r.content_length = "abc"
c.send(r)
m = c.expect(400, what="400 for Content-Length: abc")
if m.get("Call-ID") != r.call_id or r.branch not in m.get("Via"):
    fail("the 400 does not answer our request: " + str(m))
ok("400 '%s'" % m.reason)
t = c.wait_closed(2.0)
ok("then closed (%.2fs)" % t)
PY
logged_once 'edge-node info sip: cannot frame the stream from internal 127\.0\.7\.21:[0-9]+ \(bad or missing Content-Length\): answered 400; connection closed'
good_traffic "$CASE"

# ... the same over TLS from the partner
case_begin "non-numeric Content-Length (TLS)"
ep_py badcl_tls <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.22")
r = Req("MESSAGE", "sip:bob@contoso.test", c)
r.content_length = "12x"
c.send(r)
m = c.expect(400, what="400 for Content-Length: 12x")
t = c.wait_closed(2.0)
ok("400 then closed (%.2fs)" % t)
PY
logged_once 'edge-node info sip: cannot frame the stream from external 127\.0\.7\.22:[0-9]+ \(bad or missing Content-Length\): answered 400; connection closed'
good_traffic "$CASE"

# ... and no Content-Length at all on a stream (RFC 3261 18.3: mandatory)
case_begin "missing Content-Length"
ep_py nocl <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("OPTIONS", "sip:127.0.7.1:5060", c, frm="sip:alice@contoso.test")
r.content_length = False
c.send(r)
c.expect(400, what="400 for a request without Content-Length")
c.wait_closed(2.0)
PY
logged_once 'cannot frame the stream from internal 127\.0\.7\.21:[0-9]+ \(bad or missing Content-Length\): answered 400'
good_traffic "$CASE"

# 3. Content-Length larger than what is sent, then the client closes.
case_begin "Content-Length larger than the body, then close"
ep_py shortbody <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test", body="only twenty bytes..")
r.content_length = 300
c.send(r)
c.expect_nothing(1.0, "no answer while the body is incomplete")
c.shutdown_write()
t = c.wait_closed(3.0)
ok("nothing answered; closed %.2fs after the client's FIN" % t)
PY
logged_once 'edge-node info conn: internal TCP connection from 127\.0\.7\.21:[0-9]+ closed by the peer in the middle of a message'
good_traffic "$CASE"

# 4. Oversized: over limits.max_message_size (4096) -> 513, then closed
#    (framing is lost: the node will not read the body). Three ways: the whole
#    body sent; only the headers sent (the Content-Length alone decides); the
#    headers themselves never ending within the limit.
case_begin "oversized message"
ep_py oversized <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test", body="x" * 5000)
c.send(r)
m = c.expect(513, what="513 for a 5 kB message")
c.wait_closed(2.0)
ok("513 '%s' then closed" % m.reason)
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test", body="")
r.content_length = 100000
c.send(r)
m = c.expect(513, what="513 for Content-Length: 100000 before its body")
c.wait_closed(2.0)
ok("513 on the Content-Length alone")
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test")
c.send(r.text().split(b"\r\n\r\n")[0] + b"\r\nX-Pad: " + b"p" * 5000)
m = c.expect(513, what="513 for headers longer than the limit")
c.wait_closed(2.0)
ok("513 for endless headers")
PY
logged_n 3 'edge-node info sip: cannot frame the stream from internal 127\.0\.7\.21:[0-9]+ \(message too large\): answered 513; connection closed'
good_traffic "$CASE"

# 5. Too many headers (over limits.max_headers = 20): 400; framing is intact,
#    so the connection stays usable.
case_begin "too many headers"
ep_py manyhdrs <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test")
for i in range(25):
    r.hdr("X-Pad-%d" % i, "v")
c.send(r)
m = c.expect(400, what="400 for 33 header lines")
ok("400 '%s'" % m.reason)
c.send(Req("OPTIONS", "sip:127.0.7.1:5060", c, frm="sip:alice@contoso.test"))
c.expect(200, what="200 for OPTIONS on the same connection")
PY
logged_once 'edge-node info sip: malformed request from internal 127\.0\.7\.21:[0-9]+: Bad Request \(too many headers\); answered 400'
good_traffic "$CASE"

# 6. Garbage: binary junk with bare LFs, junk with no line end at all (both
#    closed at the first byte: no SIP message starts that way), plaintext junk
#    at the TLS port (the handshake fails: "not TLS"), junk inside an
#    established TLS connection.
case_begin "garbage bytes"
ep_py garbage <<'PY' || fail "$CASE: $EP_PY_MSG"
import socket
junk = bytes((i * 37 + 11) % 256 for i in range(600)).replace(b"\r", b"\x00") + b"\n\x80"
c = tcp(NODE_INT, src="127.0.7.21")
c.send(junk)
c.expect_nothing(0.5, "no answer to junk")
c.wait_closed(2.0)
ok("junk with bare LFs: closed")
c = tcp(NODE_INT, src="127.0.7.21")
c.send(b"\xff\xfe\x00\x01" * 1100)
c.wait_closed(2.0)
ok("4.4 kB without a line end: closed")
c = tcp(NODE_EXT, src="127.0.7.22")
c.send(b"GARBAGE \x00\x01\x02 not TLS\r\n\r\n" * 4)
c.wait_closed(2.0)
ok("plaintext junk at the TLS port: closed")
c = tls(NODE_EXT, src="127.0.7.22")
c.send(junk)
c.wait_closed(2.0)
ok("junk inside TLS: closed")
PY
# junk is refused at its first byte (a SIP message starts with a letter)
logged_once 'edge-node info sip: junk from internal 127\.0\.7\.21:[0-9]+ \(first byte 0x0b\): connection closed'
logged_once 'edge-node info sip: junk from internal 127\.0\.7\.21:[0-9]+ \(first byte 0xff\): connection closed'
logged_once 'edge-node info tls: external TLS handshake from 127\.0\.7\.22:[0-9]+ failed: not TLS'
logged_once 'edge-node info sip: junk from external 127\.0\.7\.22:[0-9]+ \(first byte 0x0b\): connection closed'
good_traffic "$CASE"

# 7. A mandatory header missing (no Call-ID): a response could not be matched
#    by the client, so it is dropped (logged); the connection stays usable.
case_begin "missing Call-ID"
ep_py nocallid <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tcp(NODE_INT, src="127.0.7.21")
r = Req("MESSAGE", "sip:bob@fabrikam.test", c, frm="sip:alice@contoso.test").drop("Call-ID")
c.send(r)
c.expect_nothing(1.0, "no answer to a request without Call-ID")
c.send(Req("OPTIONS", "sip:127.0.7.1:5060", c, frm="sip:alice@contoso.test"))
c.expect(200, what="200 for OPTIONS on the same connection")
PY
logged_once 'edge-node info sip: malformed request from internal 127\.0\.7\.21:[0-9]+: Bad Request \(missing mandatory header\); dropped'
good_traffic "$CASE"

# 8. CSeq method differs from the request's method: 400.
case_begin "CSeq method mismatch"
ep_py cseq <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.22")
r = Req("MESSAGE", "sip:bob@contoso.test", c).set("CSeq", "1 INVITE")
c.send(r)
m = c.expect(400, what="400 for MESSAGE with CSeq: 1 INVITE")
ok("400 '%s'" % m.reason)
if not c.is_open(0.3):
    fail("the node closed the connection after a parse error that kept the framing")
PY
logged_once 'edge-node info sip: malformed request from external 127\.0\.7\.22:[0-9]+: Bad Request \(bad CSeq\); answered 400'
good_traffic "$CASE"

# 9. Max-Forwards 0: 483 for a request to relay (either side); an OPTIONS with
#    Max-Forwards 0 is answered by the node itself (200, RFC 3261 16.3 step 3).
case_begin "Max-Forwards 0"
ep_py mf0 <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.22")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c, mf=0))
c.expect(483, what="483 for an inbound MESSAGE with Max-Forwards: 0")
i = tcp(NODE_INT, src="127.0.7.21")
i.send(Req("MESSAGE", "sip:bob@fabrikam.test", i, frm="sip:alice@contoso.test", mf=0))
i.expect(483, what="483 for an outbound MESSAGE with Max-Forwards: 0")
c.send(Req("OPTIONS", "sip:bob@contoso.test", c, mf=0))
m = c.expect(200, what="200 from the node for OPTIONS with Max-Forwards: 0")
if "INVITE" not in (m.get("Allow") or "") or m.get("Server") != "edgepool":
    fail("the 200 for OPTIONS is not the node's own: " + str(m))
ok("483, 483, and the node's own 200 for OPTIONS")
PY
logged_once 'edge-node info sip: MESSAGE from external 127\.0\.7\.22:[0-9]+ .* answered 483 Too Many Hops'
logged_once 'edge-node info sip: MESSAGE from internal 127\.0\.7\.21:[0-9]+ .* answered 483 Too Many Hops'
good_traffic "$CASE"

# 10. A request coming back to the node (a Via of its own, with its branch
#     prefix, learned from what the UAS received): 482.
PREFIX=$(grep -m1 -oE 'Via: SIP/2\.0/TCP 127\.0\.7\.1:5060;branch=z9hG4bKE[0-9a-f]{8}' "$WORK/uas.msg" | sed 's/.*branch=//')
[ -n "$PREFIX" ] || fail "no Via of the node in $WORK/uas.msg"
case_begin "loop (our own Via) -> 482"
ep_py loop "$PREFIX" <<'PY' || fail "$CASE: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.22")
r = Req("MESSAGE", "sip:bob@contoso.test", c)
r.insert(1, "Via", "SIP/2.0/TCP 127.0.7.1:5060;branch=%sbeef" % sys.argv[1])
c.send(r)
c.expect(482, what="482 for a request carrying the node's own Via")
PY
logged_once 'edge-node info sip: MESSAGE from external 127\.0\.7\.22:[0-9]+ .* answered 482 Loop Detected'
good_traffic "$CASE"

# 11. CRLF keepalives (RFC 5626 4.4.1): a double CRLF gets a single CRLF pong,
#     a single CRLF nothing; the connection goes on; both listeners.
case_begin "CRLF keepalive"
ep_py keepalive <<'PY' || fail "$CASE: $EP_PY_MSG"
for c in (tcp(NODE_INT, src="127.0.7.21"), tls(NODE_EXT, src="127.0.7.22")):
    c.send(b"\r\n\r\n")
    pong = c.read_raw(1.0, want=2)
    if pong != b"\r\n":
        fail("%s: ping got %r, expected a single CRLF" % (c.name, pong))
    c.send(b"\r\n")
    c.expect_nothing(0.5, "no pong to a single CRLF")
    c.send(Req("OPTIONS", "sip:sip.contoso.test", c, frm="sip:alice@contoso.test"))
    c.expect(200, what="200 for OPTIONS after the keepalives")
    ok("%s: pong, then OPTIONS answered" % c.name)
PY
good_traffic "$CASE"

# 12. More than limits.max_connections_per_source (3) from one address: the
#     4th is closed at once (logged); another address is served meanwhile;
#     once one closes, the address may connect again.
case_begin "connections per source"
ep_py persource <<'PY' || fail "$CASE: $EP_PY_MSG"
held = [tcp(NODE_INT, src="127.0.7.23"), tcp(NODE_INT, src="127.0.7.23"),
        tls(NODE_EXT, src="127.0.7.23")]
for c in held:
    c.send(Req("OPTIONS", "sip:sip.contoso.test", c, frm="sip:alice@contoso.test"))
    c.expect(200, what="200 on each of the first three connections")
extra = tcp(NODE_INT, src="127.0.7.23")
t = extra.wait_closed(2.0, "the 4th connection from 127.0.7.23 to be refused")
ok("4th connection from 127.0.7.23 closed after %.2fs" % t)
o = tcp(NODE_INT, src="127.0.7.24")
o.send(Req("OPTIONS", "sip:sip.contoso.test", o, frm="sip:alice@contoso.test"))
o.expect(200, what="200 for another source meanwhile")
for c in held:
    if not c.is_open(0.1):
        fail("a held connection was closed")
held[0].close()
time.sleep(0.3)
again = tcp(NODE_INT, src="127.0.7.23")
again.send(Req("OPTIONS", "sip:sip.contoso.test", again, frm="sip:alice@contoso.test"))
again.expect(200, what="200 once a slot is free again")
PY
logged_once 'edge-node warn conn: internal connection from 127\.0\.7\.23:[0-9]+ refused: too many connections from this source'
good_traffic "$CASE"

# 13. Idle connections (TCP and TLS) closed after limits.idle_timeout = 5 s.
case_begin "idle timeout"
ep_py idle <<'PY' || fail "$CASE: $EP_PY_MSG"
a = tcp(NODE_INT, src="127.0.7.25")
b = tls(NODE_EXT, src="127.0.7.25")
t0 = time.monotonic()
ta = a.wait_closed(9.0, "the idle TCP connection to be closed")
tb = b.wait_closed(9.0 - ta, "the idle TLS connection to be closed")
ta, tb = ta, time.monotonic() - t0
ok("idle TCP closed after %.2fs, TLS after %.2fs" % (ta, tb))
for t in (ta, tb):
    if not 4.5 <= t <= 7.0:
        fail("closed after %.2fs, expected 5 s (4.5-7.0)" % t)
PY
logged_once 'edge-node debug conn: internal TCP connection 127\.0\.7\.25:[0-9]+ closed: idle timeout'
logged_once 'edge-node debug conn: external TLS connection 127\.0\.7\.25:[0-9]+ closed: idle timeout'
good_traffic "$CASE"

# every good MESSAGE reached the UAS; the node exits cleanly on SIGTERM
assert_eq "$GOOD_MAX" "$GOOD" "good_traffic rounds (GOOD_MAX must match)"
ep_wait uas 10 >/dev/null
assert_sipp uas "$GOOD" 0
assert_no_log "$NLOG" 'edge-node (error|warn) (sip|main)' "no errors while under bad input"
ep_stop node1
rc=$?
assert_eq 0 "$rc" "node1 exit status after SIGTERM"
pass "$GOOD rounds of good traffic between 13 kinds of bad input"
