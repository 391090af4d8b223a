# internal_tls_listener.sh -- the internal side over mutual TLS, as Lync's
# front-end pool and Director speak to the Edge Server's internal 5061: a
# Kamailio front end (contoso.test) holding a certificate of the internal CA
# (not the public one partners use) sends an outbound MESSAGE and an INVITE
# dialog over TLS to the node's internal TLS listener (internal.tls_listen),
# on to a Kamailio partner edge (fabrikam.test, found by SRV); the responses
# come back to the front end over TLS, and so does the partner's BYE (through
# the TLS next hop); our Via and Record-Route toward the inside say TLS and
# the TLS listener's port; the other way, the partner's INVITE reaches the
# front end over TLS and the front end's BYE follows our inside Record-Route
# entry back over TLS to that port. Refused at the handshake, each logged
# with its reason and counted in /metrics: a certificate of the wrong
# (public) CA, no certificate, a name not in internal.tls_peers, plain SIP.
# SIGHUP reloads the internal certificate; /status lists the listener; a
# front end's connection with ";alias" is reused (RFC 5923).
#   node1 127.0.27.1 (TCP 5060, federation TLS 5061, internal TLS 5065,
#   admin 8080); front end 127.0.27.11 (its users' TCP 5060, TLS 5061), its
#   user 127.0.27.12; partner edge 127.0.27.31, its user 127.0.27.32:5070;
#   NSD 127.0.27.53:5300; handshake probes from 127.0.27.21-24; node2
#   127.0.27.2 with a front end reached by RFC 5923 reuse, 127.0.27.15 (fe2),
#   its partner 127.0.27.33 (tests/lib/sipc.py).
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/sipc.sh"
. "$EP_LIB/internal_pki.sh"
ep_setup internal_tls_listener
need_bin edge-node
need_cmd kamailio nsd openssl curl
[ -x "$EP_PYTHON" ] || skip "$EP_PYTHON not installed"
ep_certs

# the internal PKI: our internal side, the front end, a front end whose name
# internal.tls_peers does not list
PKI=$WORK/pki
internal_ca "$PKI"
internal_leaf "$PKI" edge-int edge1-int.contoso.test
internal_leaf "$PKI" fe fe.contoso.test
internal_leaf "$PKI" fe9 fe9.contoso.test
internal_leaf "$PKI" fe2 fe2.contoso.test

zone_write "$WORK/contoso.zone" contoso.test sip.contoso.test 127.0.27.1 "fe IN A 127.0.27.11" "fe2 IN A 127.0.27.15"
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.27.31
dns_start "$WORK/dns" 127.0.27.53 5300 "$WORK/contoso.zone" "$WORK/fabrikam.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

NODE_INTERNAL="tls_listen = \"127.0.27.1:5065\";
  tls_cert = \"$PKI/edge-int.crt\"; tls_key = \"$PKI/edge-int.key\"; tls_ca = \"$PKI/ca.crt\";
  tls_peers = [ \"fe.contoso.test\", \"dir.contoso.test\" ];" \
    node_conf node1 127.0.27.1 "fe.contoso.test:5061;transport=tls" 127.0.27.53:5300
"$EP_BIN/edge-node" --check-config -c "$WORK/node1.conf" >"$WORK/check.out" 2>&1 ||
    fail "--check-config: $(tail -1 "$WORK/check.out")"
"$EP_BIN/edge-node" --print-config >"$WORK/printed.conf" 2>&1 || fail "--print-config"
for k in tls_listen tls_cert tls_key tls_ca tls_crl tls_peers; do
    grep -q "^ *# *$k = \|^ *$k = " "$WORK/printed.conf" || fail "--print-config does not show internal.$k"
done
note "--check-config accepts the internal TLS keys, --print-config shows them"
# a bad peer name is refused with its line
sed 's/"dir.contoso.test"/"dir contoso"/' "$WORK/node1.conf" >"$WORK/bad.conf"
"$EP_BIN/edge-node" --check-config -c "$WORK/bad.conf" >"$WORK/bad.out" 2>&1 && fail "--check-config accepted a bad internal.tls_peers"
assert_log "$WORK/bad.out" 'internal.tls_peers: "dir contoso" is not a DNS name' "--check-config names the bad peer"
sed 's/tls_listen = "127.0.27.1:5065"/tls_listen = "127.0.27.1:5060"/' "$WORK/node1.conf" >"$WORK/bad2.conf"
"$EP_BIN/edge-node" --check-config -c "$WORK/bad2.conf" >"$WORK/bad2.out" 2>&1 && fail "--check-config accepted internal.tls_listen = internal.listen"
assert_log "$WORK/bad2.out" 'bad2.conf:[0-9]+: internal.tls_listen: "127.0.27.1:5060" is already the internal TCP listener.s address' "--check-config refuses a TLS listener on the TCP one's address, with its line"

node_start node1
wait_tcp 127.0.27.1 5065 || fail "no internal TLS listener"
assert_log "$WORK/node1.log" "listening for internal SIP over mutual TLS on 127.0.27.1:5065" "listener logged"
status=$(curl -s --max-time 5 --interface 127.0.27.1 http://127.0.27.1:8080/status)
assert_match '"internal_tls": ?"127\.0\.27\.1:5065"' "$status" "/status lists the internal TLS listener"

# the partner resolves our pool FQDN (its Record-Route) through its hosts file
printf '127.0.27.1 sip.contoso.test\n' >"$WORK/hosts"
KAM_HOSTS=$WORK/hosts kamailio_partner_start fab 127.0.27.31 fabrikam.test fabrikam-edge \
    "sip:sip.contoso.test:5061;transport=tls" 127.0.27.32:5070
# the front end: its users on TCP, everything for another domain over TLS to
# our internal TLS listener; it trusts the internal CA only
KAM_CA=$PKI/ca.crt kamailio_partner_start fe 127.0.27.11 contoso.test "$PKI/fe" \
    "sip:127.0.27.1:5065;transport=tls" 127.0.27.13:5070

# 1+2. MESSAGE and INVITE / ACK / BYE from the partner, the front end's user
# and the partner's user in one snippet (sipua: the partner's user)
ep_py dialog <<'PY' || fail "MESSAGE and dialog through the internal TLS listener: $EP_PY_MSG"
import re
from sipua import Endpoint
fab = Endpoint("127.0.27.32", 5070)
u = tcp("127.0.27.11:5060", src="127.0.27.12")
# MESSAGE out
r = Req("MESSAGE", "sip:bob@fabrikam.test", u, frm="sip:alice@contoso.test")
r.hdr("X-Edgepool-Trust", "source=Forged;verified")  # only the edge asserts trust
u.send(r)
pc, pm = fab.request(10, "MESSAGE")
if pm.get("X-Edgepool-Trust") is not None:
    fail("a trust header from inside reached the partner: %s" % pm.get("X-Edgepool-Trust"))
ok("the front end's trust header stripped, as on the TCP listener")
fab.reply(pc, pm, 200, to_tag="fabm1")
u.expect(200, 10, "200 to the MESSAGE back through the front end")
ok("MESSAGE answered")
# INVITE out
inv = Req("INVITE", "sip:bob@fabrikam.test", u, frm="sip:alice@contoso.test",
          body="v=0\r\no=- 1 1 IN IP4 127.0.27.12\r\ns=-\r\nc=IN IP4 127.0.27.12\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
u.send(inv)
pc, pm = fab.request(10, "INVITE")
rr = pm.values("Record-Route")
note("Record-Route at the partner's user: %s" % rr)
inner = [x for x in rr if "ep-peer=" in x and "5065" in x]
if not inner or "transport=tls" not in inner[0] or "127.0.27.1:5065" not in inner[0]:
    fail("no inside-facing Record-Route naming TLS and 127.0.27.1:5065: %s" % rr)
ok("inside-facing Record-Route: %s" % inner[0])
fab.reply(pc, pm, 200, to_tag="fabi1", contact="sip:bob@127.0.27.32:5070;transport=tcp",
          record_route=True, body="v=0\r\no=- 2 2 IN IP4 127.0.27.32\r\ns=-\r\nc=IN IP4 127.0.27.32\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n")
resp = None
while resp is None:
    m = u.recv(10)
    if m is None:
        fail("no 200 to the INVITE")
    if m.status and m.status >= 200:
        resp = m
if resp.status != 200:
    fail("INVITE answered %d" % resp.status)
if not any("transport=tls" in x and "127.0.27.1:5065" in x for x in resp.values("Record-Route")):
    fail("the 200's Record-Route has no TLS entry for 127.0.27.1:5065: %s" % resp.values("Record-Route"))
u.send(in_dialog("ACK", u, inv, resp, 1))
fab.request(10, "ACK")
ok("ACK reached the partner's user")
# BYE from the partner's user, along the route set it got (Record-Route as is)
contact = pm.get("Contact")
ruri = contact[contact.find("<") + 1:contact.find(">")]
bye = ["BYE %s SIP/2.0" % ruri,
       "Via: SIP/2.0/TCP 127.0.27.32:5070;branch=z9hG4bKfabbye1",
       "Max-Forwards: 70"]
bye += ["Route: " + x for x in rr]
bye += ["From: " + pm.get("To") + ";tag=fabi1", "To: " + pm.get("From"),
        "Call-ID: " + pm.get("Call-ID"), "CSeq: 2 BYE", "Content-Length: 0"]
pc.send("\r\n".join(bye) + "\r\n\r\n")
b = u.expect_request("BYE", 10)
vias = b.all("Via")
note("Via of the BYE at the front end's user: %s" % vias)
ours = [v for v in b.values("Via") if "z9hG4bKE" in v]
if not ours or not ours[0].startswith("SIP/2.0/TLS 127.0.27.1:5065;"):
    fail("our Via toward the inside does not say TLS 127.0.27.1:5065: %s" % ours)
ok("our Via toward the inside: %s" % ours[0])
lines = ["SIP/2.0 200 OK"] + ["Via: " + v for v in b.all("Via")]
lines += ["From: " + b.get("From"), "To: " + b.get("To"), "Call-ID: " + b.get("Call-ID"),
          "CSeq: " + b.get("CSeq"), "Content-Length: 0"]
u.send("\r\n".join(lines) + "\r\n\r\n")
deadline = time.time() + 10
while True:
    m = pc._frame()
    if m is not None and m.status == 200 and "BYE" in (m.get("CSeq") or ""):
        break
    if time.time() > deadline:
        fail("no 200 to the partner's BYE")
    pc._fill(time.monotonic() + 0.5)
ok("the partner's BYE answered 200")
PY
# 2b. the other way: the partner's INVITE reaches the front end's user over
#     our TLS next hop; the front end's BYE follows our inside Record-Route
#     entry (TLS, port 5065) back to us over TLS
ep_py inbound <<'PY' || fail "inbound dialog, the front end's BYE over TLS: $EP_PY_MSG"
from sipua import Endpoint
carol = Endpoint("127.0.27.13", 5070)
b = tcp("127.0.27.31:5060", src="127.0.27.32")
inv = Req("INVITE", "sip:carol@contoso.test", b, frm="sip:bob@fabrikam.test",
          body="v=0\r\no=- 1 1 IN IP4 127.0.27.32\r\ns=-\r\nc=IN IP4 127.0.27.32\r\nt=0 0\r\nm=audio 4004 RTP/AVP 0\r\n")
b.send(inv)
cc, cm = carol.request(10, "INVITE")
rr = cm.values("Record-Route")
note("Record-Route at the front end's user: %s" % rr)
if "<sip:127.0.27.1:5065;transport=tls;lr;ep-peer=sip.fabrikam.test>" not in rr:
    fail("no inside-facing Record-Route for TLS 127.0.27.1:5065: %s" % rr)
carol.reply(cc, cm, 200, to_tag="carol1", contact="sip:carol@127.0.27.13:5070;transport=tcp",
            record_route=True, body="v=0\r\no=- 2 2 IN IP4 127.0.27.13\r\ns=-\r\nc=IN IP4 127.0.27.13\r\nt=0 0\r\nm=audio 4006 RTP/AVP 0\r\n")
resp = None
while resp is None:
    m = b.recv(10)
    if m is None:
        fail("no 200 to the partner's INVITE")
    if m.status and m.status >= 200:
        resp = m
if resp.status != 200:
    fail("the partner's INVITE answered %d" % resp.status)
b.send(in_dialog("ACK", b, inv, resp, 1))
carol.request(10, "ACK")
contact = cm.get("Contact")
ruri = contact[contact.find("<") + 1:contact.find(">")]
bye = ["BYE %s SIP/2.0" % ruri, "Via: SIP/2.0/TCP 127.0.27.13:5070;branch=z9hG4bKcarolbye1",
       "Max-Forwards: 70"] + ["Route: " + x for x in rr]
bye += ["From: " + cm.get("To") + ";tag=carol1", "To: " + cm.get("From"),
        "Call-ID: " + cm.get("Call-ID"), "CSeq: 2 BYE", "Content-Length: 0"]
cc.send("\r\n".join(bye) + "\r\n\r\n")
m = b.expect_request("BYE", 10)
vias = m.values("Via")
note("Via of the front end's BYE at the partner's user: %s" % vias)
if not any(v.startswith("SIP/2.0/TLS 127.0.27.11:5061;") for v in vias):
    fail("the front end did not send its BYE over TLS: %s" % vias)
ok("the front end's BYE came to us over TLS")
lines = ["SIP/2.0 200 OK"] + ["Via: " + v for v in m.all("Via")]
lines += ["From: " + m.get("From"), "To: " + m.get("To"), "Call-ID: " + m.get("Call-ID"),
          "CSeq: " + m.get("CSeq"), "Content-Length: 0"]
b.send("\r\n".join(lines) + "\r\n\r\n")
deadline = time.monotonic() + 10
while True:
    r = cc._frame()
    if r is not None and r.status == 200 and "BYE" in (r.get("CSeq") or ""):
        break
    if time.monotonic() > deadline:
        fail("no 200 to the front end's BYE")
    cc._fill(time.monotonic() + 0.5)
ok("the front end's BYE answered 200")
PY
# what the front end received came over TLS from our internal TLS listener
# (responses) or from our TLS connection to it (the BYE), with our internal
# certificate
assert_log "$WORK/fe.log" "EP-REPLY 200 MESSAGE from=tls:127.0.27.1:5065 peer_cn=edge1-int.contoso.test" "front end got the MESSAGE's 200 over TLS"
assert_log "$WORK/fe.log" "EP-REPLY 200 INVITE from=tls:127.0.27.1:5065 peer_cn=edge1-int.contoso.test" "front end got the INVITE's 200 over TLS"
assert_log "$WORK/fe.log" "EP-REQ BYE .* from=tls:127.0.27.1:[0-9]+ peer_cn=edge1-int.contoso.test" "front end got the partner's BYE over TLS"
assert_log "$WORK/node1.log" "internal TLS from 127.0.27.11:[0-9]+ established: peer certificate fe.contoso.test" "the front end's connection, its certificate"
assert_log "$WORK/node1.log" "internal TLS to 127.0.27.11:5061 established: peer certificate fe.contoso.test" "our TLS next hop: the front end"
assert_log "$WORK/fab.log" "EP-REQ MESSAGE sip:bob@fabrikam.test from=tls:127.0.27.1:[0-9]+ peer_cn=sip.contoso.test" "the partner saw our public certificate"

# 3. refused at the handshake: wrong CA (the public test CA's certificate,
#    same name), no certificate, a name not in internal.tls_peers, plain SIP
export PKI EP_CERTS
ep_py refused <<'PY' || fail "refused front ends: $EP_PY_MSG"
import ssl
def attempt(src, cert, key, what):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.environ["PKI"] + "/ca.crt")
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(cert, key)
    s = socket.create_connection(("127.0.27.1", 5065), timeout=5, source_address=(src, 0))
    try:
        ss = ctx.wrap_socket(s)
        ss.sendall(b"OPTIONS sip:127.0.27.1:5065 SIP/2.0\r\nVia: SIP/2.0/TLS " + src.encode() +
                   b":5061;branch=z9hG4bKrefused\r\nFrom: <sip:fe@contoso.test>;tag=1\r\n"
                   b"To: <sip:127.0.27.1>\r\nCall-ID: refused@" + src.encode() +
                   b"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        data = ss.recv(4096)
        if data:
            fail("%s: answered %r" % (what, data[:40]))
        ok("%s: closed without an answer" % what)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        ok("%s: refused (%s)" % (what, e))
    finally:
        s.close()
C = os.environ["EP_CERTS"]; P = os.environ["PKI"]
attempt("127.0.27.21", C + "/contoso-internal.crt", C + "/contoso-internal.key", "wrong CA")
attempt("127.0.27.22", None, None, "no certificate")
attempt("127.0.27.23", P + "/fe9.crt", P + "/fe9.key", "fe9 not in internal.tls_peers")
c = tcp("127.0.27.1:5065", src="127.0.27.24")
c.send(Req("OPTIONS", "sip:127.0.27.1:5065", c, frm="sip:fe@contoso.test"))
t = c.wait_closed(5, "the node to close a plain SIP connection")
ok("plain SIP closed after %.2f s" % t)
PY
wait_log "$WORK/node1.log" "internal TLS handshake from 127.0.27.24:[0-9]+ failed" 5 || true
assert_log "$WORK/node1.log" "internal TLS handshake from 127.0.27.21:[0-9]+ failed: unable to get local issuer certificate( / [^;]*)?; connection closed" "wrong CA refused, reason logged"
assert_log "$WORK/node1.log" "internal TLS handshake from 127.0.27.22:[0-9]+ failed: no certificate presented( / [^;]*)?; connection closed" "no certificate refused, reason logged"
assert_log "$WORK/node1.log" "internal TLS handshake from 127.0.27.23:[0-9]+ failed: certificate names none of internal.tls_peers \(hostname mismatch\)( / [^;]*)?; connection closed" "name not in internal.tls_peers refused, reason logged"
assert_log "$WORK/node1.log" "refused client certificate from 127.0.27.23:[0-9]+: hostname mismatch .*CN ?= ?fe9.contoso.test" "the refused name logged"
assert_log "$WORK/node1.log" "internal TLS handshake from 127.0.27.24:[0-9]+ failed: not TLS: the client spoke plaintext to the TLS port" "plain SIP refused, logged"
curl -s --max-time 5 --interface 127.0.27.1 http://127.0.27.1:8080/metrics >"$WORK/metrics.txt" || fail "GET /metrics"
for r in unknown_ca no_certificate name_mismatch not_tls; do
    v=$(sed -n "s/^edgepool_tls_handshake_failures_total{side=\"internal\",direction=\"in\",reason=\"$r\"} \([0-9]*\)$/\1/p" "$WORK/metrics.txt")
    assert_eq 1 "${v:-0}" "internal handshake failures counted as $r"
done

# 4. SIGHUP reloads the internal certificate: a new serial on new connections
export PKI
serial() {
    ep_py "serial$1" <<'PY' >&2
import ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.environ["PKI"] + "/ca.crt")
ctx.load_cert_chain(os.environ["PKI"] + "/fe.crt", os.environ["PKI"] + "/fe.key")
ss = ctx.wrap_socket(socket.create_connection(("127.0.27.1", 5065), timeout=5,
                     source_address=("127.0.27.12", 0)), server_hostname="edge1-int.contoso.test")
print("SERIAL " + ss.getpeercert()["serialNumber"], flush=True)
ss.close()
PY
    sed -n 's/^SERIAL //p' "$WORK/serial$1.log"
}
s1=$(serial 1)
[ -n "$s1" ] || fail "no internal certificate serial before the reload: $(tail -2 "$WORK/serial1.log")"
internal_leaf "$PKI" edge-int edge1-int.contoso.test
mark=$(wc -l <"$WORK/node1.log")
ep_kill node1 HUP
wait_until 10 sh -c "tail -n +$((mark + 1)) '$WORK/node1.log' | grep -q 'reloaded: policy version'" || fail "no reload logged"
s2=$(serial 2)
[ -n "$s2" ] || fail "no internal certificate serial after the reload: $(tail -2 "$WORK/serial2.log")"
[ "$s1" != "$s2" ] || fail "SIGHUP did not reload the internal certificate (serial $s1 both times)"
note "internal certificate serial $s1 before SIGHUP, $s2 after"
# a broken internal certificate file: the reload is refused as a whole, the
# running certificate stays
cp "$PKI/edge-int.crt" "$PKI/edge-int.crt.good"
echo "not a certificate" >"$PKI/edge-int.crt"
mark=$(wc -l <"$WORK/node1.log")
ep_kill node1 HUP
wait_until 10 sh -c "tail -n +$((mark + 1)) '$WORK/node1.log' | grep -q 'reload failed, keeping the running configuration: internal TLS: '" ||
    fail "a broken internal certificate was not refused at the reload"
cp "$PKI/edge-int.crt.good" "$PKI/edge-int.crt"
s3=$(serial 3)
assert_eq "$s2" "$s3" "internal certificate serial after a refused reload"
# 5. RFC 5923 inside: node2's next hop fe2.contoso.test:5061 has no listener
#    (nothing on 127.0.27.15:5061); a front end holding fe2's certificate
#    connects to node2's internal TLS listener with ";alias" in its Via, and
#    the partner's MESSAGE for contoso.test reaches it over that connection
NODE_INTERNAL="tls_listen = \"127.0.27.2:5065\";
  tls_cert = \"$PKI/edge-int.crt\"; tls_key = \"$PKI/edge-int.key\"; tls_ca = \"$PKI/ca.crt\";" \
    node_conf node2 127.0.27.2 "fe2.contoso.test:5061;transport=tls" 127.0.27.53:5300
node_start node2
wait_tcp 127.0.27.2 5065 || fail "node2: no internal TLS listener"
ep_py alias <<'PY' || fail "RFC 5923 reuse of a front end's connection: $EP_PY_MSG"
import ssl
P = os.environ["PKI"]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(P + "/ca.crt")
ctx.load_cert_chain(P + "/fe2.crt", P + "/fe2.key")
ss = ctx.wrap_socket(socket.create_connection(("127.0.27.2", 5065), timeout=5,
                     source_address=("127.0.27.15", 0)), server_hostname="edge1-int.contoso.test")
fe = Conn(ss, "fe2 tls")
o = Req("OPTIONS", "sip:127.0.27.2:5065", fe, frm="sip:fe2@contoso.test")
o.headers[0][1] = "SIP/2.0/TLS fe2.contoso.test:5061;branch=z9hG4bK" + rand() + ";alias"
fe.send(o)
fe.expect(200, 5, "200 to the front end's OPTIONS")
p = tls("127.0.27.2:5061", src="127.0.27.33")
p.send(Req("MESSAGE", "sip:carol@contoso.test", p, frm="sip:bob@fabrikam.test"))
m = fe.expect_request("MESSAGE", 5)
v = m.values("Via")[0]
if not v.startswith("SIP/2.0/TLS 127.0.27.2:5065;"):
    fail("our Via on the reused connection: %s" % v)
lines = ["SIP/2.0 200 OK"] + ["Via: " + x for x in m.all("Via")]
lines += ["From: " + m.get("From"), "To: " + m.get("To") + ";tag=fe2", "Call-ID: " + m.get("Call-ID"),
          "CSeq: " + m.get("CSeq"), "Content-Length: 0"]
fe.send("\r\n".join(lines) + "\r\n\r\n")
p.expect(200, 5, "the front end's 200 back to the partner")
ok("the partner's MESSAGE went over the front end's own connection (Via %s)" % v)
PY
assert_no_log "$WORK/node2.log" "internal connect to 127.0.27.15" "node2 never connected to fe2 itself"

refused=$(grep -c "internal TLS handshake from .* failed" "$WORK/node1.log")
tls_in=$(grep -c "internal TLS from .* established" "$WORK/node1.log")
note "figures: $tls_in internal TLS connection(s) accepted, $refused refused at the handshake; the front end got $(grep -c 'EP-REPLY 200 .* from=tls:127.0.27.1:5065' "$WORK/fe.log") 200(s) and $(grep -c 'EP-REQ BYE .* from=tls:127.0.27.1' "$WORK/fe.log") BYE over TLS"
pass
