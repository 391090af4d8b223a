# admin_balancer_page.sh -- the balancer's admin endpoint and live pool page
# (issue 7) on a running pool: Redis, three edge-nodes, one edge-balancer
# (DNS, VIP, health). /status names every node with its health, registry
# state, policy version, connections and pins, and the partner federated
# with (a partner edge holding a TLS connection through the VIP) with the
# node that holds it; /metrics parses as the Prometheus text format with DNS
# answers by type and rcode, VIP connections and pins per node, check
# latency; a source outside admin.allow gets 403. Headless Chromium loads
# the page, finds the three nodes healthy and the partner; a node is
# SIGKILLed and the page shows it unhealthy, with the failover listed.
# Screenshots: tests/out/admin_balancer_page.png (before) and
# tests/out/admin_balancer_page_down.png (after).
#
#   redis      127.0.17.100:6397
#   node1-3    127.0.17.31-33 (5060, 5061, admin 8080)
#   balancer   DNS 127.0.17.40:5353, admin 127.0.17.40:8081, VIP 127.0.17.42:5061
#   partner    127.0.17.21 (sipc over TLS through the VIP), UAS 127.0.17.60:5070
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup admin_balancer_page
export WORK
need_bin edge-node edge-balancer
need_cmd redis-server redis-cli sipp
[ -x "$EP_PYTHON" ] || skip "$EP_PYTHON not installed"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "$CHROMIUM not installed (Debian package chromium)"
ep_certs

R=127.0.17.100:6397
ADMIN=127.0.17.40:8081
VIP=127.0.17.42
export ADMIN NODE_EXT=$VIP:5061
redis_start redis 127.0.17.100 6397 || fail "redis did not start"

POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
for i in 1 2 3; do
    node_conf node$i 127.0.17.3$i 127.0.17.60:5070 "" "$POLICY" "" "addr = \"$R\";"
    node_start node$i
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register"

cat >"$WORK/balancer1.conf" <<CONF
balancer = { id = "balancer1"; };
vip = { listen = "$VIP"; ports = [ "5061" ]; proxy_protocol = false; pin_ttl = 600; };
redis = { addr = "$R"; };
health = { check = "tcp"; interval_ms = 250; timeout_ms = 500; rise = 2; fall = 2; };
dns = { listen = "127.0.17.40:5353"; };
admin = { listen = "$ADMIN"; allow = [ "127.0.0.1", "127.0.17.0/28" ]; };
CONF
# a bad allow entry is refused by --check-config, naming the key and line
sed 's|"127.0.17.0/28"|"127.0.17.0/28x"|' "$WORK/balancer1.conf" >"$WORK/bad.conf"
"$EP_BIN/edge-balancer" --check-config -c "$WORK/bad.conf" >"$WORK/bad.out" 2>&1
assert_eq 1 "$?" "--check-config with a bad admin.allow"
assert_log "$WORK/bad.out" 'bad\.conf:6: admin\.allow: "127\.0\.17\.0/28x"' "the bad entry named with its line"

ep_spawn balancer1 "$EP_BIN/edge-balancer" -f -c "$WORK/balancer1.conf"
wait_tcp 127.0.17.40 8081 || fail "the balancer's admin endpoint does not listen"
wait_log "$WORK/balancer1.log" "is up \(3 healthy\)" 10 || fail "the balancer does not see 3 healthy nodes"

# a partner edge holds a TLS connection through the VIP (pinned to one node)
sipp_spawn uas uas_message.xml -t t1 -i 127.0.17.60 -p 5070 -m 1
wait_tcp 127.0.17.60 5070 || fail "UAS did not start"
cat >"$WORK/partner.py" <<'PY'
import os, sys
sys.path.insert(0, os.environ["EP_LIB"])
from sipc import *
c = tls(NODE_EXT, src="127.0.17.21")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c, body="through the VIP"))
c.expect(200, 5, "200 through the VIP")
print("connected", flush=True)
time.sleep(120)
PY
EP_LIB=$EP_LIB EP_CERTS=$EP_CERTS ep_spawn partner "$EP_PYTHON" -u "$WORK/partner.py"
wait_log "$WORK/partner.log" "^connected" 10 || fail "the partner's MESSAGE did not get through the VIP"

ep_py status <<'PY' || fail "status: $EP_PY_MSG"
from adminc import *
import socket, struct
A = os.environ["ADMIN"]
# a DNS query for the federation SRV: counted by type and rcode
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
for label in "_sipfederationtls._tcp.contoso.test".split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", 33, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, ("127.0.17.40", 5353))
ans = s.recv(1500)
if ans[:2] != b"\x42\x42" or ans[3] & 0x0F != 0:
    fail("DNS answer: %r" % ans[:12])

def status():
    r = get(A, "/status", src="127.0.17.2")
    if r.status != 200 or r.headers.get("content-type") != "application/json":
        fail("/status: %s" % r)
    return r.json()

deadline = time.time() + 10
while True:
    s = status()
    nodes = {n["id"]: n for n in s["nodes"]}
    held = [p for p in s["partners"] if p["edge"] == "sip.fabrikam.test"]
    ready = (len(nodes) == 3 and all(n["healthy"] and n["registry"] for n in nodes.values())
             and held and sum(n["pins"] for n in nodes.values()) == 1)
    if ready or time.time() > deadline:
        break
    time.sleep(0.3)
if not ready:
    fail("/status never showed 3 healthy nodes, the partner and its pin: %r" % s)
for n in nodes.values():
    reg = n["registry"]
    if reg["state"] != "active" or reg["policy_version"] != 1 or not reg["admin"]:
        fail("registry data of %s: %r" % (n["id"], reg))
pinned = [n["id"] for n in nodes.values() if n["pins"] == 1][0]
holders = [h["node"] for h in held[0]["nodes"]]
if holders != [pinned] or held[0]["domains"] != ["fabrikam.test"]:
    fail("the partner is held by %r (domains %r), the pin says %s" % (holders, held[0]["domains"], pinned))
if nodes[pinned]["vip_connections"] != 1 or s["vip"]["pins"] != 1:
    fail("VIP connections / pins: %r %r" % (nodes[pinned], s["vip"]))
if s["redis"] != "up" or s["pool"] != "edgepool" or s["healthy_nodes"] != 3 or not s["serving"]:
    fail("/status summary: %r" % {k: s[k] for k in ("redis", "pool", "healthy_nodes", "serving")})
ok("partner sip.fabrikam.test held by %s, pinned there" % pinned)
open(os.environ["WORK"] + "/pinned", "w").write(pinned)

r = get(A, "/metrics", src="127.0.17.2")
try:
    m = prom_parse(r.text)
except ValueError as e:
    fail("/metrics is not the Prometheus text format: %s" % e)
for f in m.families.values():
    if f.type == "counter" and not f.name.endswith("_total"):
        fail("counter %s does not end in _total" % f.name)
checks = [
    (m.value("edgepool_balancer_dns_answers_total", 0, qtype="SRV", rcode="NOERROR") >= 1, "DNS SRV answers"),
    (m.value("edgepool_balancer_vip_connections_open", 0, node=pinned) == 1, "VIP connections of " + pinned),
    (m.value("edgepool_balancer_pins", 0, node=pinned) == 1, "pins of " + pinned),
    (m.value("edgepool_balancer_nodes", 0, health="healthy") == 3, "healthy nodes"),
    (all(m.value("edgepool_balancer_node_check_latency_seconds", 0, node=n) > 0 for n in nodes), "check latency"),
    (m.value("edgepool_balancer_health_changes_total", 0, node="node1", to="healthy") >= 1, "health changes"),
    (m.value("edgepool_balancer_redis_up") == 1, "Redis up"),
    (m.value("edgepool_balancer_vip_connections_accepted_total", 0) >= 1, "VIP accepted"),
]
for good, what in checks:
    if not good:
        fail("/metrics: %s wrong:\n%s" % (what, r.text))
ok("/metrics: %d families" % len(m.families))

# a source outside admin.allow; /health
if get(A, "/", src="127.0.17.100").status != 403 or get(A, "/status", src="127.0.17.100").status != 403:
    fail("a source outside admin.allow was served")
h = get(A, "/health", src="127.0.17.2")
if h.status != 200 or "3 healthy" not in h.text:
    fail("/health: %s" % h)
if post(A, "/log-level", src="127.0.17.2", body="level=debug").status != 403:
    fail("POST /log-level without a configured token was not refused 403")
PY
assert_log "$WORK/balancer1.log" 'warn admin: GET / from 127\.0\.17\.100:[0-9]+ refused 403: source address not in admin\.allow' "refusal logged"
PINNED=$(cat "$WORK/pinned")

# the page in headless Chromium: the DOM after the script has read /status
chromium_page() { # OUT.html [SCREENSHOT.png]
    local prof
    prof=$(mktemp -d "$WORK/chromium.XXXXXX")
    local args=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --disable-dev-shm-usage --user-data-dir="$prof" --virtual-time-budget=4000
        --window-size=1200,800)
    timeout 60 "$CHROMIUM" "${args[@]}" --dump-dom "http://$ADMIN/" >"$1" 2>>"$WORK/chromium.log"
    [ -n "${2:-}" ] && timeout 60 "$CHROMIUM" "${args[@]}" --screenshot="$2" "http://$ADMIN/" \
        >>"$WORK/chromium.log" 2>&1
    rm -rf "$prof"
    return 0
}
page_check() { # HTML PYTHON-CONDITION WHAT
    "$EP_PYTHON" - "$1" "$2" <<'PY'
import re, sys
html, cond = open(sys.argv[1]).read(), sys.argv[2]
rows = dict(re.findall(r'<tr data-node="([^"]+)" data-health="([^"]+)"', html))
partners = dict(re.findall(r'<tr data-partner="([^"]+)" data-nodes="([^"]*)"', html))
events = re.findall(r'<li data-node="([^"]+)" data-event="([^"]+)"', html)
state = re.search(r'<body data-state="([^"]+)"', html)
ok = eval(cond)
print("rows %r partners %r events %r state %s -> %s" % (rows, partners, events,
      state.group(1) if state else None, ok))
sys.exit(0 if ok else 1)
PY
}
chromium_page "$WORK/page1.html" "$EP_ROOT/tests/out/admin_balancer_page.png"
page_check "$WORK/page1.html" \
    "state and state.group(1) == 'ok' and rows == {'node1': 'healthy', 'node2': 'healthy', 'node3': 'healthy'} and partners.get('sip.fabrikam.test') == '$PINNED'" \
    >>"$WORK/page.log" || fail "the page does not show 3 healthy nodes and the partner on $PINNED: $(tail -1 "$WORK/page.log")"
note "page: $(tail -1 "$WORK/page.log")"

# a node dies (not the one holding the partner): the page shows it unhealthy
VICTIM=node1
[ "$PINNED" = node1 ] && VICTIM=node2
ep_kill $VICTIM KILL
wait_log "$WORK/balancer1.log" "node $VICTIM .* is down" 10 || fail "the balancer did not see $VICTIM die"
chromium_page "$WORK/page2.html" "$EP_ROOT/tests/out/admin_balancer_page_down.png"
page_check "$WORK/page2.html" \
    "rows.get('$VICTIM') == 'unhealthy' and sum(v == 'healthy' for v in rows.values()) == 2 and ('$VICTIM', 'down') in events and partners.get('sip.fabrikam.test') == '$PINNED'" \
    >>"$WORK/page.log" || fail "the page does not show $VICTIM down: $(tail -1 "$WORK/page.log")"
note "page: $(tail -1 "$WORK/page.log")"
[ -s "$EP_ROOT/tests/out/admin_balancer_page_down.png" ] || fail "no screenshot"
ep_wait $VICTIM 5 >/dev/null
ep_stop partner 5 >/dev/null
pass
