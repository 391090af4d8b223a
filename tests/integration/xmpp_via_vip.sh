# xmpp_via_vip.sh -- XMPP partners that reach the pool through the balancer's
# VIP (port 5269, PROXY protocol v2 on, as for SIP):
#  1. a stream through the VIP: the node reads the PROXY header before any
#     XML, logs the partner's address (not the balancer's), and the stream
#     goes on through STARTTLS and SASL EXTERNAL to a delivered stanza;
#  2. a PROXY header sent straight to the node from an address that is no
#     balancer: the stream is closed and logged, nothing parsed;
#  3. a malformed PROXY header from the balancer's address: closed, logged;
#  4. a partner connecting straight to the node (no header) is unaffected.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
ep_setup xmpp_via_vip
need_bin edge-node edge-balancer
need_cmd ss
PY=/usr/bin/python3
ep_certs

NODE=127.0.26.1
VIP=127.0.26.10
POLICY='
  access_edge = { allow_federated_users = true; enable_xmpp = true; };
  internal_domains = [ "contoso.test" ];
  xmpp_partners = ( { domain = "jabber.test"; } );'
NODE_LOG_LEVEL=debug node_conf node1 $NODE 127.0.26.60:5070 "" "$POLICY" \
    "xmpp = { listen = \"$NODE:5269\"; cert = \"$EP_CERTS/contoso-xmpp.crt\"; key = \"$EP_CERTS/contoso-xmpp.key\"; dialback_secret = \"s\"; };"
sed -i "s|^external = { listen = \"$NODE:5061\";|& proxy_protocol_from = [ \"$VIP\" ];|" "$WORK/node1.conf"
grep -q proxy_protocol_from "$WORK/node1.conf" || fail "could not set proxy_protocol_from"
node_start node1
wait_tcp $NODE 5269 || fail "node1 does not listen on 5269"
N=$WORK/node1.log

cat >"$WORK/balancer1.conf" <<CONF
balancer = { id = "balancer1"; };
vip = { listen = "$VIP"; ports = [ "5061", "5269" ]; proxy_protocol = true; };
nodes = { static = [ "node1@$NODE" ]; };
health = { check = "tcp"; interval_ms = 250; rise = 1; };
dns = { enabled = false; };
admin = { listen = "$VIP:8081"; };
CONF
ep_spawn balancer1 "$EP_BIN/edge-balancer" -f -c "$WORK/balancer1.conf"
wait_tcp $VIP 5269 || fail "balancer1 does not listen on $VIP:5269"
wait_log "$WORK/balancer1.log" "is up \(1 healthy\)" 10 || fail "balancer1 does not see node1 healthy"

TLS_JABBER=(--tls "$EP_CERTS/jabber-xmpp.crt" "$EP_CERTS/jabber-xmpp.key" "$EP_CERTS/ca.crt")

note "--- 1. through the VIP: PROXY header read, STARTTLS, SASL EXTERNAL, a stanza"
ep_run vip1 $PY "$EP_LIB/xmppraw.py" $VIP:5269 jabber.test contoso.test "${TLS_JABBER[@]}" --sasl \
    --send "<message from='bob@jabber.test' to='alice@contoso.test' type='chat' id='v1'><body>via the vip</body></message>" \
    --wait 2
assert_log "$WORK/vip1.log" "^features .*starttls" "stream features through the VIP"
assert_log "$WORK/vip1.log" "^sasl success" "SASL EXTERNAL through the VIP"
assert_no_log "$WORK/vip1.log" "stream-error" "no stream error through the VIP"
wait_log "$N" "through balancer $VIP:[0-9]+: partner 127\.0\.0\.1:[0-9]+ \(PROXY v2\)" 5 ||
    fail "node1 did not log the partner's address from the PROXY header"
wait_log "$N" "stanza in: <message> from bob@jabber.test to alice@contoso.test" 5 ||
    fail "the stanza sent through the VIP did not reach node1"
assert_no_log "$N" "not-well-formed" "no parse error on the PROXY header"

note "--- 2. a PROXY header straight to the node from a non-balancer address"
$PY - "$NODE" <<'PYX' >"$WORK/untrusted.out" 2>&1
import socket, struct, sys
sig = b"\r\n\r\n\x00\r\nQUIT\n"
hdr = sig + bytes([0x21, 0x11]) + struct.pack(">H", 12) + socket.inet_aton("192.0.2.7") + \
      socket.inet_aton("127.0.26.1") + struct.pack(">HH", 40000, 5269)
s = socket.create_connection((sys.argv[1], 5269), timeout=3)
s.sendall(hdr + b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='contoso.test' version='1.0'>")
try:
    data = s.recv(4096)
    print("received", len(data), data[:80])
except OSError as e:
    print("error", e)
PYX
assert_log "$WORK/untrusted.out" "^received 0 " "node1 closed the stream without a byte"
wait_log "$N" "refused: stream from 127\.0\.0\.1:[0-9]+: a PROXY header from an address that is not a balancer" 5 ||
    fail "the untrusted PROXY header was not logged"
assert_no_log "$N" "192\.0\.2\.7" "the untrusted header's address was never used"

note "--- 3. a malformed PROXY header from the balancer's address"
$PY - "$NODE" "$VIP" <<'PYX' >"$WORK/malformed.out" 2>&1
import socket, struct, sys
sig = b"\r\n\r\n\x00\r\nQUIT\n"
hdr = sig + bytes([0x21, 0x11]) + struct.pack(">H", 4) + b"\x01\x02\x03\x04"  # too short for AF_INET
s = socket.socket()
s.bind((sys.argv[2], 0))
s.settimeout(3)
s.connect((sys.argv[1], 5269))
s.sendall(hdr)
try:
    print("received", len(s.recv(4096)))
except OSError as e:
    print("error", e)
PYX
assert_log "$WORK/malformed.out" "^received 0" "node1 closed the malformed header's stream"
wait_log "$N" "stream from balancer $VIP:[0-9]+: bad PROXY v2 header" 5 || fail "the malformed header was not logged"

note "--- 4. straight to the node, no header: unaffected"
ep_run direct $PY "$EP_LIB/xmppraw.py" $NODE:5269 jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --wait 1
assert_log "$WORK/direct.log" "^sasl success" "a direct stream"
ep_alive node1 || fail "node1 died"
pass
