# internal_tls_next_hop.sh -- the internal next hop over TLS (a front end that
# speaks SIP over mutual TLS, as Lync's front-end pools do): the node
# resolves the next hop's FQDN, presents its certificate, and refuses a front
# end whose certificate does not name that FQDN (503 to the partner, the next
# hop tried in order). stunnel4 plays the front end's TLS in front of a SIPp
# UAS; the partner is tests/lib/sipc.py over mutual TLS.
#   node1 127.0.12.1, front ends fe.contoso.test -> 127.0.12.11 (good cert),
#   fe2.contoso.test -> 127.0.12.12 (wrong cert), NSD 127.0.12.53:5300
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/sipc.sh"
ep_setup internal_tls_next_hop
need_bin edge-node
need_cmd sipp stunnel4 nsd
[ -x "$EP_PYTHON" ] || skip "$EP_PYTHON not installed"
ep_certs

zone_write "$WORK/contoso.zone" contoso.test sip.contoso.test 127.0.12.1 \
    "fe IN A 127.0.12.11" "fe2 IN A 127.0.12.12"
dns_start "$WORK/dns" 127.0.12.53 5300 "$WORK/contoso.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

# stunnel FE ADDR CERT: TLS on ADDR:5071 (client certificate required, from
# the test CA) in front of the SIPp UAS on ADDR:5070
stunnel_fe() {
    cat >"$WORK/$1.conf" <<CONF
foreground = yes
pid =
debug = notice
[sip]
accept = $2:5071
connect = $2:5070
cert = $EP_CERTS/$3.crt
key = $EP_CERTS/$3.key
CAfile = $EP_CERTS/ca.crt
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.2
CONF
    ep_spawn "$1" stunnel4 "$WORK/$1.conf"
    wait_tcp "$2" 5071 || fail "stunnel $1 did not start"
}
stunnel_fe fe_tls 127.0.12.11 contoso-internal
stunnel_fe fe2_tls 127.0.12.12 wrongsan

POLICY='
  access_edge = { allow_federated_users = true; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
export NODE_EXT=127.0.12.1:5061

# 1. the good front end over TLS: a MESSAGE from the partner arrives
node_conf node1 127.0.12.1 "fe.contoso.test:5071;transport=tls" 127.0.12.53:5300 "$POLICY"
node_start node1
sipp_spawn uas tests/sipp/uas_message.xml -t t1 -i 127.0.12.11 -p 5070 -m 2
wait_tcp 127.0.12.11 5070 || fail "UAS did not start"
ep_py good <<'PY' || fail "good front end: $EP_PY_MSG"
c = tls(os.environ["NODE_EXT"], src="127.0.12.21")
for i in range(2):
    c.send(Req("MESSAGE", "sip:bob@contoso.test", c))
    c.expect(200, 5, "200 through the TLS front end")
PY
ep_wait uas 10 >/dev/null
assert_sipp uas 2 0
assert_log "$WORK/uas.msg" "Via: SIP/2.0/TLS 127.0.12.1:5060;branch=" "our Via says TLS toward the front end"
assert_log "$WORK/node1.log" "internal TLS to 127.0.12.11:5071 established: peer certificate fe.contoso.test" "TLS to the front end, its name checked"
ep_stop node1

# 2. a front end whose certificate names another host is refused at the
#    handshake; with it first in the list, the good one takes the request
node_conf node2 127.0.12.1 "fe2.contoso.test:5071;transport=tls,fe.contoso.test:5071;transport=tls" \
    127.0.12.53:5300 "$POLICY"
node_start node2
sipp_spawn uas2 tests/sipp/uas_message.xml -t t1 -i 127.0.12.11 -p 5070 -m 1
wait_tcp 127.0.12.11 5070 || fail "UAS did not start"
ep_py failover <<'PY' || fail "failover from the wrong front end: $EP_PY_MSG"
c = tls(os.environ["NODE_EXT"], src="127.0.12.21")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c))
c.expect(200, 8, "200 through the second front end")
PY
ep_wait uas2 10 >/dev/null
assert_sipp uas2 1 0
assert_log "$WORK/node2.log" "internal TLS handshake to 127.0.12.12:5071 expecting fe2.contoso.test failed" "wrong front end refused"
ep_stop node2

# 3. only the wrong front end: the partner gets 503 with Retry-After
node_conf node3 127.0.12.1 "fe2.contoso.test:5071;transport=tls" 127.0.12.53:5300 "$POLICY"
node_start node3
ep_py only_wrong <<'PY' || fail "wrong front end only: $EP_PY_MSG"
c = tls(os.environ["NODE_EXT"], src="127.0.12.21")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c))
m = c.expect(503, 8, "503 when no front end can be trusted")
if not m.get("Retry-After"):
    fail("503 without Retry-After")
PY
pass
