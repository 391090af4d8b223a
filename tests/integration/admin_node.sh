# admin_node.sh -- the edge node's admin endpoint (issue 7): /metrics parses
# as the Prometheus text format (every sample line follows the grammar, every
# family has HELP and TYPE, counters end in _total) and its counters move
# with real SIP traffic (OPTIONS answered by the node, MESSAGE relayed, a
# policy rejection, a plaintext client at the TLS port); /status JSON; the
# bearer token on state-changing calls (401 without, 403 wrong, applied
# with; a new token after SIGHUP); a source outside admin.allow refused 403
# and logged; /health 200, 503 after POST /drain, 200 after /undrain, 503
# while draining for SIGTERM; a bad admin.allow refused by --check-config.
#
#   node1      127.0.17.1: 5060 TCP, 5061 TLS, 8080 admin
#              (admin.allow 127.0.17.0/28, token "t0ken-1")
#   admin      127.0.17.2 (allowed), 127.0.17.100 (not allowed)
#   partner    127.0.17.21 (sipc over mutual TLS, fabrikam-edge certificate)
#   UAS        127.0.17.11:5070 (SIPp, the internal next hop)
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/sipc.sh"
ep_setup admin_node
need_bin edge-node
need_cmd sipp
[ -x "$EP_PYTHON" ] || skip "$EP_PYTHON not installed"
ep_certs

POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
export NODE_INT=127.0.17.1:5060 NODE_EXT=127.0.17.1:5061 ADMIN=127.0.17.1:8080
ADMIN_CONF='allow = [ "127.0.17.0/28" ]; token = "t0ken-1";'

# a bad allow entry is refused by --check-config, naming the key
NODE_ADMIN='allow = [ "127.0.17.0/33" ];' node_conf bad 127.0.17.1 127.0.17.11:5070 "" "$POLICY"
timeout 20 "$EP_BIN/edge-node" --check-config -c "$WORK/bad.conf" >"$WORK/bad.out" 2>&1
assert_eq 1 "$?" "--check-config with admin.allow 127.0.17.0/33"
assert_log "$WORK/bad.out" 'admin\.allow: "127\.0\.17\.0/33": the prefix length must be 0\.\.32' "the bad entry named"

NODE_TXN_TIMEOUT=3000 NODE_ADMIN="$ADMIN_CONF" node_conf node1 127.0.17.1 127.0.17.11:5070 "" "$POLICY"
node_start node1
wait_tcp 127.0.17.1 8080 || fail "the admin endpoint does not listen on 127.0.17.1:8080"
NLOG=$WORK/node1.log
assert_log "$NLOG" 'info admin: admin endpoint on http://127\.0\.17\.1:8080 .*state-changing calls need the bearer token' "start-up line"

sipp_spawn uas uas_message.xml -t t1 -i 127.0.17.11 -p 5070 -m 1
wait_tcp 127.0.17.11 5070 || fail "UAS did not start"

ep_py metrics "$NLOG" <<'PY' || fail "metrics: $EP_PY_MSG"
from adminc import *
A, SRC = os.environ["ADMIN"], "127.0.17.2"

def scrape(what):
    r = get(A, "/metrics", src=SRC)
    if r.status != 200 or not r.headers.get("content-type", "").startswith("text/plain; version=0.0.4"):
        fail("%s: /metrics: %s, Content-Type %r" % (what, r, r.headers.get("content-type")))
    try:
        m = prom_parse(r.text)
    except ValueError as e:
        fail("%s: /metrics is not the Prometheus text format: %s" % (what, e))
    for f in m.families.values():
        if f.type == "counter" and not f.name.endswith("_total"):
            fail("counter %s does not end in _total" % f.name)
    return m

m0 = scrape("before traffic")
ok("/metrics parses: %d families, %d series" % (len(m0.families), len(m0.series)))
for fam in ("edgepool_sip_requests_received_total", "edgepool_sip_responses_sent_total",
            "edgepool_policy_rejections_total", "edgepool_tls_handshake_failures_total",
            "edgepool_connections_open", "edgepool_tls_connections_open",
            "edgepool_dns_lookups_total", "edgepool_dns_cache_hits_total",
            "edgepool_discovered_partner_verdicts_total", "edgepool_watch_list_entries",
            "edgepool_sip_transactions_open", "edgepool_xmpp_streams_open",
            "edgepool_xmpp_stanzas_total", "edgepool_node_info", "edgepool_pool_configured"):
    if fam not in m0.families:
        fail("family %s missing" % fam)
if m0.value("edgepool_pool_configured") != 0 or m0.find("edgepool_redis_up"):
    fail("a lone node: no pool, no Redis series")

# traffic: OPTIONS to the node, a MESSAGE relayed inside, a MESSAGE from a
# domain that is not allowed (403), plaintext at the TLS port
c = tls(NODE_EXT, src="127.0.17.21")
c.send(Req("OPTIONS", "sip:sip.contoso.test:5061;transport=tls", c, frm="sip:ping@fabrikam.test"))
c.expect(200, 5, "the node's 200 for OPTIONS")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c, body="hello"))
c.expect(200, 5, "the UAS's 200 for MESSAGE")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c, frm="sip:eve@evil.test", body="hi"))
c.expect(403, 5, "403 for a domain that is not allowed")
p = tcp(NODE_EXT, src="127.0.17.22")
p.send(Req("OPTIONS", "sip:sip.contoso.test", p).text())
p.wait_closed(5, "the node to close a plaintext connection at the TLS port")
time.sleep(0.2)

m1 = scrape("after traffic")
def delta(name, want, **labels):
    d = m1.value(name, 0, **labels) - m0.value(name, 0, **labels)
    if d != want:
        fail("%s%r moved by %s, expected %s" % (name, labels, d, want))
    ok("%s%r +%d" % (name, labels, d))
delta("edgepool_sip_requests_received_total", 1, side="external", method="OPTIONS")
delta("edgepool_sip_requests_received_total", 2, side="external", method="MESSAGE")
delta("edgepool_sip_requests_relayed_total", 1, side="internal", method="MESSAGE")
delta("edgepool_sip_responses_received_total", 1, side="internal", method="MESSAGE", **{"class": "2xx"})
delta("edgepool_sip_responses_sent_total", 1, side="external", method="OPTIONS", origin="local", **{"class": "2xx"})
delta("edgepool_sip_responses_sent_total", 1, side="external", method="MESSAGE", origin="relayed", **{"class": "2xx"})
delta("edgepool_sip_responses_sent_total", 1, side="external", method="MESSAGE", origin="local", **{"class": "4xx"})
delta("edgepool_policy_rejections_total", 1, status="403", reason="Domain is not allowed")
delta("edgepool_tls_handshake_failures_total", 1, side="external", direction="in", reason="not_tls")
if m1.value("edgepool_tls_connections_open", 0, direction="in", peer="sip.fabrikam.test") != 1:
    fail("the partner's open TLS connection is not counted: %r" % m1.find("edgepool_tls_connections_open"))
if m1.value("edgepool_connections_open", 0, side="external", direction="in", state="open") < 1:
    fail("no external inbound connection counted open")
if m1.total("edgepool_connections_accepted_total") - m0.total("edgepool_connections_accepted_total") < 2:
    fail("accepted connections did not move")

# /status while the partner's connection is open
r = get(A, "/status", src=SRC)
if r.status != 200 or r.headers.get("content-type") != "application/json":
    fail("/status: %s %r" % (r, r.headers.get("content-type")))
s = r.json()
want = {"node": "node1", "version": None, "uptime_s": None, "state": "active", "redis": "none",
        "pool": None, "policy_version": 1, "draining": False, "drained": False, "serving": True}
for k, v in want.items():
    if k not in s:
        fail("/status lacks %s: %s" % (k, r.text))
    if v is not None and s[k] != v:
        fail("/status %s = %r, expected %r" % (k, s[k], v))
if s["connections"]["external_in"] < 1 or "open" not in s["transactions"]:
    fail("/status connections/transactions: %r %r" % (s["connections"], s["transactions"]))
fab = [p for p in s["partners"] if p["edge"] == "sip.fabrikam.test"]
if not fab or fab[0]["domains"] != ["fabrikam.test"] or fab[0]["connections_in"] != 1:
    fail("/status partners: %r" % s["partners"])
if s["sip"]["requests_received"] < 3 or s["listeners"]["admin"] != A:
    fail("/status sip/listeners: %r %r" % (s["sip"], s["listeners"]))
ok("/status: %s" % r.text.strip()[:300])
c.close()
PY
ep_wait uas 10 >/dev/null
assert_sipp uas 1 0

ep_py access "$NLOG" "$(ep_pid node1)" "$WORK" <<'PY' || fail "access: $EP_PY_MSG"
from adminc import *
import shutil, signal
A, SRC, log, pid, work = os.environ["ADMIN"], "127.0.17.2", sys.argv[1], int(sys.argv[2]), sys.argv[3]

# a source outside admin.allow: 403 on every path, logged with its address
mark = log_mark(log)
for path in ("/metrics", "/health", "/status"):
    r = get(A, path, src="127.0.17.100")
    if r.status != 403:
        fail("GET %s from 127.0.17.100: %s, expected 403" % (path, r))
wait_log(log, r"warn admin: GET /metrics from 127\.0\.17\.100:[0-9]+ refused 403: source address not in admin\.allow", 3, mark)
r = post(A, "/drain", src="127.0.17.100", token="t0ken-1")
if r.status != 403:
    fail("POST /drain with the token from 127.0.17.100: %s, expected 403" % r)
if get(A, "/health", src=SRC).status != 200:
    fail("/health is not 200 while serving")
ok("sources outside admin.allow refused")

# the token: missing 401 (with WWW-Authenticate), wrong 403, GET 405
r = post(A, "/drain", src=SRC)
if r.status != 401 or not r.headers.get("www-authenticate", "").startswith("Bearer"):
    fail("POST /drain without a token: %s %r" % (r, r.headers))
r = post(A, "/drain", src=SRC, token="t0ken-2")
if r.status != 403:
    fail("POST /drain with a wrong token: %s" % r)
r = post(A, "/log-level", src=SRC, body="level=debug")
if r.status != 401:
    fail("POST /log-level without a token: %s" % r)
r = get(A, "/drain", src=SRC)
if r.status != 405 or "POST" not in r.headers.get("allow", ""):
    fail("GET /drain: %s %r" % (r, r.headers))
if get(A, "/health", src=SRC).status != 200:
    fail("a refused /drain drained the node")
if get(A, "/nowhere", src=SRC).status != 404:
    fail("an unknown path is not 404")
ok("state-changing calls refused without the right token")

# with the token: the log level, then drain and undrain
mark = log_mark(log)
r = post(A, "/log-level", src=SRC, token="t0ken-1", body="level=debug")
if r.status != 200 or r.json() != {"log_level": "debug", "previous": "info"}:
    fail("POST /log-level: %s" % r)
wait_log(log, r"warn admin: log level is now debug \(was info\), set by 127\.0\.17\.2:[0-9]+", 3, mark)
r = post(A, "/log-level", src=SRC, token="t0ken-1", body="loud")
if r.status != 400:
    fail("POST /log-level loud: %s" % r)
r = post(A, "/log-level?level=info", src=SRC, token="t0ken-1")
if r.status != 200 or r.json()["log_level"] != "info":
    fail("POST /log-level?level=info: %s" % r)

r = post(A, "/drain", src=SRC, token="t0ken-1")
if r.status != 200 or r.json().get("state") != "drained":
    fail("POST /drain: %s" % r)
h = get(A, "/health", src=SRC)
if h.status != 503 or "drained" not in h.text:
    fail("/health after /drain: %s" % h)
s = get(A, "/status", src=SRC).json()
if s["state"] != "drained" or s["serving"]:
    fail("/status after /drain: %r" % s)
m = prom_parse(get(A, "/metrics", src=SRC).text)
if m.value("edgepool_node_serving") != 0 or m.value("edgepool_node_drain", state="drained") != 1:
    fail("metrics after /drain: serving %r" % m.value("edgepool_node_serving"))
c = tls(NODE_EXT, src="127.0.17.21")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c, body="while drained"))
r503 = c.expect(503, 5, "503 for a new request while drained")
if not r503.get("Retry-After"):
    fail("503 without Retry-After")
c.close()
r = post(A, "/undrain", src=SRC, token="t0ken-1")
if r.status != 200 or r.json().get("state") != "active":
    fail("POST /undrain: %s" % r)
if get(A, "/health", src=SRC).status != 200:
    fail("/health after /undrain is not 200")
ok("drain / undrain through the admin endpoint")

# SIGHUP with a new token and allow list: the old token is refused at once
conf = open(work + "/node1.conf").read()
open(work + "/node1.conf", "w").write(conf.replace("t0ken-1", "t0ken-2"))
mark = log_mark(log)
os.kill(pid, signal.SIGHUP)
wait_log(log, r"info main: reloaded", 5, mark)
if post(A, "/log-level", src=SRC, token="t0ken-1", body="level=info").status != 403:
    fail("the old token still works after SIGHUP")
if post(A, "/log-level", src=SRC, token="t0ken-2", body="level=info").status != 200:
    fail("the new token does not work after SIGHUP")
ok("SIGHUP applied the new token")
PY

# SIGTERM with a transaction open (a next hop that never answers): /health is
# 503 while the node drains, then the node exits 0
SIPP_TIMEOUT=30 sipp_spawn uas_mute uas_swallow.xml -t t1 -i 127.0.17.11 -p 5070 -d 30000
wait_tcp 127.0.17.11 5070 || fail "mute UAS did not start"
ep_py sigterm "$NLOG" "$(ep_pid node1)" <<'PY' || fail "SIGTERM: $EP_PY_MSG"
from adminc import *
import signal
A, SRC, log, pid = os.environ["ADMIN"], "127.0.17.2", sys.argv[1], int(sys.argv[2])
c = tls(NODE_EXT, src="127.0.17.21")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c, body="held"))
time.sleep(0.3)
m = prom_parse(get(A, "/metrics", src=SRC).text)
if m.value("edgepool_sip_transactions_open") != 1:
    fail("open transactions: %r" % m.value("edgepool_sip_transactions_open"))
mark = log_mark(log)
os.kill(pid, signal.SIGTERM)
wait_log(log, r"info main: draining", 3, mark)
h = get(A, "/health", src=SRC)
if h.status != 503 or "stopping" not in h.text:
    fail("/health while draining for SIGTERM: %s" % h)
s = get(A, "/status", src=SRC).json()
if not s["draining"] or s["state"] != "stopping" or s["listeners"]["up"]:
    fail("/status while draining: %r" % s)
ok("/health 503 while draining: %s" % h.text.strip())
c.expect(408, 6, "408 for the held MESSAGE")
PY
ep_wait node1 15
assert_eq 0 "$?" "node1 exit status after draining"
ep_stop uas_mute 5 >/dev/null
pass
