#!/bin/bash
# balancer_vip.sh -- the VIP pins legacy partners and fails over for them:
# three edge nodes on one Redis, two edge-balancers (VIPs 127.0.14.2 and
# 127.0.14.3 sharing the pins), partners reaching the pool only through a VIP.
#  1. new VIP connections from one source all go to the node it is pinned to,
#     the pin in Redis (ep:edgepool:pin:<ip>, idle TTL); through PROXY v2 the
#     node logs the partner's address, never the balancer's;
#  2. the two balancers agree on a source's pin, whichever it reaches first;
#     a balancer restart keeps every pin;
#  3. a draining node keeps its VIP connections; its sources' next ones go
#     elsewhere (re-pinned);
#  4. a node SIGKILLed: its VIP connections closed at once, the next
#     connection from its source re-pinned to a healthy node (< 2 s,
#     measured); Kamailio as a legacy partner that knows only the VIP keeps
#     federating (MESSAGE before and after its node's death);
#  5. a PROXY header from an address that is no balancer, and a malformed one
#     from a balancer address: refused and logged by the node;
#  6. 2000 connections at once from one source: all but the per-source limit
#     refused, another source served meanwhile; silent clients are held,
#     until the idle timeout;
#  7. a node that hangs (SIGSTOP): its VIP connections closed when its
#     liveness expires (no FIN ever comes from it);
#  8. Redis stopped: pins made locally, written to Redis when it is back;
#  9. a node whose connect hangs: after the connect timeout the connection
#     goes to another node, the partner's ClientHello and the PROXY header
#     carried (the TLS handshake completes there).
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup balancer_vip
need_bin edge-node edge-balancer
need_cmd redis-server redis-cli kamailio sipp ss
ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 || skip "kamailio-tls-modules not installed"
VIP_LOAD=${VIP_LOAD:-$EP_ROOT/build-san/tools/vip_load}
[ -x "$VIP_LOAD" ] || skip "$VIP_LOAD not built (make SAN=1 unit-bins)"
ep_certs
export WORK

R=127.0.14.100:6394
VIP1=127.0.14.2
VIP2=127.0.14.3
UAS=127.0.14.60 # our internal side (SIPp UAS)
redis_start redis 127.0.14.100 6394

# the nodes believe PROXY headers from the two VIP addresses only
POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true;
                                 enable_public_cloud_access = true; } );'
for i in 1 2 3; do
    node_conf node$i 127.0.14.1$i $UAS:5070 "" "$POLICY" "" "addr = \"$R\";"
    sed -i "s|^external = { listen = \"127.0.14.1$i:5061\";|& proxy_protocol_from = [ \"$VIP1\", \"$VIP2\" ];|" \
        "$WORK/node$i.conf"
    grep -q proxy_protocol_from "$WORK/node$i.conf" || fail "could not set proxy_protocol_from in node$i.conf"
    node_start node$i
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register"

balancer_conf() { # NAME VIP [MORE VIP SETTINGS]
    cat >"$WORK/$1.conf" <<CONF
balancer = { id = "$1"; log_level = "${BAL_LOG_LEVEL:-info}"; };
vip = { listen = "$2"; ports = [ "5061" ]; proxy_protocol = true; pin_ttl = 600;
        max_connections_per_source = 20; ${3:-} };
redis = { addr = "$R"; };
health = { check = "tcp"; interval_ms = 250; timeout_ms = 500; rise = 2; fall = 2; };
dns = { enabled = false; };
admin = { listen = "$2:8081"; };
CONF
}
balancer_start() { # NAME VIP
    ep_spawn "$1" "$EP_BIN/edge-balancer" -f -c "$WORK/$1.conf"
    wait_tcp "$2" 5061 || fail "$1 does not listen on $2:5061"
    # every node healthy (registry read and two TCP checks passed)
    wait_log "$WORK/$1.log" "is up \(3 healthy\)" 10 || fail "$1 does not see the 3 nodes healthy"
}
balancer_conf balancer1 $VIP1
balancer_conf balancer2 $VIP2 "idle_timeout = 5;"
balancer_start balancer1 $VIP1
balancer_start balancer2 $VIP2

# helpers for the Python snippets: a TLS connection through a VIP, and which
# node took it (the node logs the partner's address and port, known through
# the PROXY header)
cat >"$WORK/vipc.py" <<'PY'
import glob, os, re, subprocess, time
from sipc import *

WORK = os.environ["WORK"]
R = os.environ["R"]

def node_of(src, port, timeout=3.0):
    pat = re.compile(r"external TLS from %s:%d established" % (re.escape(src), port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in sorted(glob.glob(os.path.join(WORK, "node*.log"))):
            with open(f, errors="replace") as fh:
                if pat.search(fh.read()):
                    return os.path.basename(f).split(".")[0]
        time.sleep(0.05)
    return None

def via(vip, src):
    """(conn, node) of a new mutual-TLS connection from src through vip."""
    c = tls(vip + ":5061", src=src)
    n = node_of(src, c.local[1])
    if not n:
        fail("no node logged the TLS connection from %s:%d" % (src, c.local[1]))
    note("%s through %s -> %s" % (src, vip, n))
    return c, n

def redis(*args):
    h, p = R.split(":")
    return subprocess.run(["redis-cli", "--raw", "-h", h, "-p", p] + list(args),
                          capture_output=True, text=True).stdout.strip()

def pin(src):
    return redis("GET", "ep:edgepool:pin:" + src)
PY
export R
vip_py() { # NAME: ep_py with vipc's helpers
    local name=$1
    shift
    { printf 'sys.path.insert(0, os.environ["WORK"])\nfrom vipc import *\n'; cat; } | ep_py "$name" "$@"
}

# ---- 1. pinned, stored in Redis, the partner's own address at the node
vip_py pinning <<'PY' || fail "pinning: $EP_PY_MSG"
conns, nodes = [], set()
for i in range(4):
    c, n = via("127.0.14.2", "127.0.14.31")
    conns.append(c)
    nodes.add(n)
if len(nodes) != 1:
    fail("connections from one source went to %s" % sorted(nodes))
n = nodes.pop()
if pin("127.0.14.31") != n:
    fail("pin in Redis is %r, connections went to %s" % (pin("127.0.14.31"), n))
ttl = int(redis("PTTL", "ep:edgepool:pin:127.0.14.31"))
if not 590000 < ttl <= 600000:
    fail("pin's TTL %d ms, expected about 600 s" % ttl)
# the connection works end to end: an OPTIONS to the pool answered by the node
conns[0].send(Req("OPTIONS", "sip:sip.contoso.test", conns[0]))
conns[0].expect(200, 5, "the node's 200 to OPTIONS through the VIP")
ok("4 connections from 127.0.14.31 all on %s, pinned in Redis (TTL %d ms)" % (n, ttl))
PY
assert_no_log "$WORK/node1.log" "external TLS from 127\.0\.14\.[23]:" "node1 never sees a balancer's address"
assert_no_log "$WORK/node2.log" "external TLS from 127\.0\.14\.[23]:" "node2 never sees a balancer's address"
assert_no_log "$WORK/node3.log" "external TLS from 127\.0\.14\.[23]:" "node3 never sees a balancer's address"

# ---- 2. two balancers agree; a restart keeps the pins
vip_py agree <<'PY' || fail "agreement: $EP_PY_MSG"
first = {}
for s in range(32, 38):
    src = "127.0.14.%d" % s
    vip_a, vip_b = ("127.0.14.2", "127.0.14.3") if s % 2 else ("127.0.14.3", "127.0.14.2")
    ca, na = via(vip_a, src)
    cb, nb = via(vip_b, src)
    if na != nb or pin(src) != na:
        fail("%s: %s gave %s, %s gave %s, Redis says %s" % (src, vip_a, na, vip_b, nb, pin(src)))
    first[src] = na
    ca.close(); cb.close()
ok("6 sources, each on the same node through either VIP: %s" % first)
with open(os.path.join(WORK, "pins.txt"), "w") as f:
    for k, v in sorted(first.items()):
        f.write("%s %s\n" % (k, v))
PY
[ "$(sort -u -k2,2 "$WORK/pins.txt" | wc -l)" -ge 2 ] || fail "all six sources on one node: least connections did not spread them"
ep_stop balancer1 || fail "balancer1 exited with $? on SIGTERM"
balancer_start balancer1 $VIP1
vip_py restart <<'PY' || fail "restart: $EP_PY_MSG"
for line in open(os.path.join(WORK, "pins.txt")):
    src, n = line.split()
    c, got = via("127.0.14.2", src)
    if got != n:
        fail("after the restart %s went to %s, was pinned to %s" % (src, got, n))
    c.close()
ok("after balancer1's restart every source on its node")
PY

# ---- 3. drain: connections kept, the source's next connection elsewhere
vip_py drain <<'PY' || fail "drain: $EP_PY_MSG"
c, n = via("127.0.14.2", "127.0.14.38")
redis("HSET", "ep:edgepool:node:" + n, "drain", "1")
redis("PUBLISH", "ep:edgepool:nodes", "drain " + n)
time.sleep(1.0)
if not c.is_open(0.5):
    fail("the connection to draining %s was closed" % n)
c.send(Req("OPTIONS", "sip:sip.contoso.test", c))
c.expect(200, 5, "the draining node still answers on its connection")
c2, n2 = via("127.0.14.2", "127.0.14.38")
if n2 == n:
    fail("a new connection went to the draining node %s" % n)
if pin("127.0.14.38") != n2:
    fail("pin not moved to %s in Redis: %r" % (n2, pin("127.0.14.38")))
redis("HSET", "ep:edgepool:node:" + n, "drain", "0")
redis("PUBLISH", "ep:edgepool:nodes", "undrain " + n)
ok("draining %s kept its connection; 127.0.14.38 re-pinned to %s" % (n, n2))
PY
assert_log "$WORK/balancer1.log" "source 127\.0\.14\.38 re-pinned to node .* \(was .*: draining\)" "the re-pin logged"
sleep 1

# ---- 4. a node dies: Kamailio (legacy partner) and held connections. The
# partner's source and a second one are pinned to node1 beforehand, as
# another balancer would have done.
for s in 127.0.14.21 127.0.14.41; do
    rcli $R SET ep:edgepool:pin:$s node1 PX 600000 >/dev/null
done
kamailio_partner_start fab 127.0.14.21 fabrikam.test fabrikam-edge "sip:$VIP1:5061;transport=tls" 127.0.14.22:5070
SIPP_TIMEOUT=90 sipp_spawn uas tests/sipp/uas_message.xml -t t1 -i $UAS -p 5070 -m 6
wait_tcp $UAS 5070 || fail "internal UAS did not start"
MSG=(-t t1 -i 127.0.14.22 -s alice -key to_domain contoso.test -key from_user bob -key from_domain fabrikam.test)
sipp_run before uac_message.xml "${MSG[@]}" -m 3 -r 10 127.0.14.21:5060
assert_sipp before 3 0
assert_log "$WORK/node1.log" "external TLS from 127\.0\.14\.21:[0-9]+ established: peer certificate sip\.fabrikam\.test" \
    "node1 took the partner, logged with its own address (PROXY v2)"

vip_py kill "$(ep_pid node1)" <<'PY' || fail "node death: $EP_PY_MSG"
import signal
held = [via("127.0.14.2", "127.0.14.41") for _ in range(3)]
for c, n in held:
    if n != "node1":
        fail("127.0.14.41 is pinned to node1 in Redis but went to %s" % n)
t_kill = time.monotonic()
os.kill(int(sys.argv[1]), signal.SIGKILL)
for c, n in held:
    c.wait_closed(1.0, "the VIP to close a dead node's connection at once")
closed = time.monotonic() - t_kill
while True:
    try:
        c, n = via("127.0.14.2", "127.0.14.41")
        break
    except (OSError, ssl.SSLError) as e:
        note("retry: %s" % e)
        if time.monotonic() - t_kill > 5:
            fail("no connection through the VIP 5 s after node1's death")
        time.sleep(0.02)
took = time.monotonic() - t_kill
if n == "node1":
    fail("still node1")
if took >= 2.0:
    fail("re-pinned after %.3f s (>= 2 s)" % took)
if pin("127.0.14.41") != n:
    fail("Redis pin %r, expected %s" % (pin("127.0.14.41"), n))
print("FAILOVER closed=%.3f repinned=%.3f node=%s" % (closed, took, n))
ok("node1 killed: its 3 VIP connections closed within %.3f s, 127.0.14.41 on %s after %.3f s" % (closed, n, took))
PY
ep_wait node1 5 >/dev/null
note "$(grep FAILOVER "$WORK/kill.log")"
sleep 0.5
sipp_run after uac_message.xml "${MSG[@]}" -m 3 -r 10 127.0.14.21:5060
assert_sipp after 3 0
ep_wait uas 10 >/dev/null
NEW=$(rcli $R GET ep:edgepool:pin:127.0.14.21)
[[ $NEW == node[23] ]] || fail "the partner's pin is '$NEW' after node1's death"
assert_log "$WORK/$NEW.log" "external TLS from 127\.0\.14\.21:[0-9]+ established" "the partner reconnected to $NEW through the VIP"

# ---- 5. PROXY headers the node must refuse
vip_py proxyhdr <<'PY' || fail "PROXY refusals: $EP_PY_MSG"
import struct
def header(ver_cmd=0x21):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_aton("192.0.2.99") + socket.inet_aton("127.0.14.12") + struct.pack("!HH", 4444, 5061)
    return sig + bytes([ver_cmd, 0x11]) + struct.pack("!H", len(body)) + body
c = tcp("127.0.14.12:5061", src="127.0.14.61")
c.send(header())
c.wait_closed(2.0, "the node to refuse a PROXY header from a non-balancer")
c = tcp("127.0.14.12:5061", src="127.0.14.2")
c.send(header(0x11))
c.wait_closed(2.0, "the node to refuse a malformed PROXY header")
ok("both refused")
PY
assert_log "$WORK/node2.log" "external connection from 127\.0\.14\.61:[0-9]+ refused: a PROXY header from an address that is not a balancer" \
    "the untrusted PROXY header logged"
assert_log "$WORK/node2.log" "external connection from balancer 127\.0\.14\.2:[0-9]+: bad PROXY v2 header \(not version 2\): closed" \
    "the malformed header logged"
assert_no_log "$WORK/node2.log" "192\.0\.2\.99" "the address in a refused header is never used"

# ---- 6. one source opening 2000 at once; silent clients
ep_spawn flood "$VIP_LOAD" hold $VIP1:5061 127.0.14.51 2000 4
wait_log "$WORK/flood.log" "^opened " 10 || fail "the flood did not start"
vip_py other <<'PY' || fail "another source during the flood: $EP_PY_MSG"
c, n = via("127.0.14.2", "127.0.14.52")
c.send(Req("OPTIONS", "sip:sip.contoso.test", c))
c.expect(200, 5, "an OPTIONS from another source during the flood")
ok("127.0.14.52 served by %s during the flood" % n)
PY
ep_wait flood 20 || fail "the flood client failed"
assert_log "$WORK/flood.log" "^held 20 open, 1980 closed by the peer, 0 failed" "20 held (the limit), 1980 refused"
n_lines=$(grep -c "connection from 127.0.14.51 refused" "$WORK/balancer1.log")
assert_cmp "$n_lines" -le 6 "refusal lines for the flood (one a second)"

ep_spawn silent "$VIP_LOAD" hold $VIP1:5061 127.0.14.53 5 3
ep_spawn silent_idle "$VIP_LOAD" hold $VIP2:5061 127.0.14.54 2 7
ep_wait silent 10 || fail "silent client failed"
assert_log "$WORK/silent.log" "^held 5 open, 0 closed" "silent clients held open by balancer1"
ep_wait silent_idle 15 || fail "silent client failed"
assert_log "$WORK/silent_idle.log" "^held 0 open, 2 closed" "silent clients closed by balancer2's 5 s idle timeout"

# ---- 7. a node that hangs (SIGSTOP: its kernel still accepts, sends no FIN)
# is found dead when its liveness expires in the registry: the VIP closes
# its connections then, without waiting for their idle timeout
vip_py hang "$(ep_pid node3)" <<'PY' || fail "hung node: $EP_PY_MSG"
import signal
src = None
for s in range(70, 90):
    c, n = via("127.0.14.2", "127.0.14.%d" % s)
    if n == "node3":
        src = s
        break
    c.close()
if src is None:
    fail("no source went to node3")
os.kill(int(sys.argv[1]), signal.SIGSTOP)
t0 = time.monotonic()
took = c.wait_closed(8.0, "the VIP to close the hung node's connection")
c2, n2 = via("127.0.14.2", "127.0.14.%d" % src)
if n2 == "node3":
    fail("new connection went to the hung node3")
ok("node3 stopped: its VIP connection closed after %.1f s, 127.0.14.%d now on %s" % (took, src, n2))
PY
ep_kill node3 CONT
assert_log "$WORK/balancer1.log" "node node3 is no longer alive: closing its [0-9]+ VIP connection" \
    "balancer1 closed the hung node's connection"

# ---- 8. Redis away: local pins only, written to Redis once it is back
redis_stop redis
vip_py outage <<'PY' || fail "Redis outage: $EP_PY_MSG"
c, n = via("127.0.14.2", "127.0.14.90")
c2, n2 = via("127.0.14.2", "127.0.14.90")
if n2 != n:
    fail("with Redis down one source went to %s and %s" % (n, n2))
with open(os.path.join(WORK, "outage.txt"), "w") as f:
    f.write(n)
ok("Redis down: 127.0.14.90 pinned locally to %s" % n)
PY
redis_start redis 127.0.14.100 6394
redis_wait $R 10 GET ep:edgepool:pin:127.0.14.90 -- "$(cat "$WORK/outage.txt")" ||
    fail "the local pin of 127.0.14.90 was not written to Redis when it came back"
note "the local pin reached Redis once it was back"

# ---- 9. a node whose connect hangs (its accept queue full: SYNs dropped):
# after vip.connect_timeout_ms the connection goes on to the next node with
# what the partner sent so far (its TLS ClientHello) behind the PROXY header.
# A third balancer with static nodes and a slow check interval, so the stuck
# node stays "up"; on VIP2's address (trusted by the nodes), port 5062.
ep_spawn fake_node /usr/bin/python3 -c 'import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.14.99", 5061)); l.listen(0); time.sleep(120)'
wait_tcp 127.0.14.99 5061 || fail "the stuck node does not listen"
cat >"$WORK/balancer3.conf" <<CONF
balancer = { id = "balancer3"; log_level = "info"; };
vip = { listen = "$VIP2"; ports = [ "5062" ]; proxy_protocol = true; connect_timeout_ms = 300; };
nodes = { static = [ "stuck@127.0.14.99", "node2@127.0.14.12" ]; };
health = { check = "tcp"; interval_ms = 60000; timeout_ms = 200; rise = 1; fall = 2; };
dns = { enabled = false; };
admin = { listen = ""; };
CONF
ep_spawn balancer3 "$EP_BIN/edge-balancer" -f -c "$WORK/balancer3.conf"
wait_tcp $VIP2 5062 || fail "balancer3 does not listen on $VIP2:5062"
sleep 0.5 # its first check took the stuck node's one accept slot
vip_py stuck <<'PY' || fail "connect timeout and retry: $EP_PY_MSG"
for s in range(100, 104):
    src = "127.0.14.%d" % s
    t0 = time.monotonic()
    c = tls("127.0.14.3:5062", src=src)
    took = time.monotonic() - t0
    n = node_of(src, c.local[1])
    if n != "node2":
        fail("%s ended on %r" % (src, n))
    c.send(Req("OPTIONS", "sip:sip.contoso.test", c))
    c.expect(200, 5, "OPTIONS through the retried connection")
    if took >= 0.3:
        ok("%s: the stuck node timed out, handshake completed on node2 after %.3f s" % (src, took))
        break
    note("%s went to node2 directly (%.3f s)" % (src, took))
else:
    fail("no connection tried the stuck node first")
PY
assert_log "$WORK/balancer3.log" "connect from 127\.0\.14\.10[0-3] to node stuck failed: connect timeout" \
    "balancer3 gave up on the stuck node after its connect timeout"
ep_stop balancer3 || fail "balancer3 exited with status $? on SIGTERM"

for b in balancer1 balancer2; do
    ep_stop $b || fail "$b exited with status $? on SIGTERM"
done
pass "pins shared and kept, drain, failover $(grep -o 'repinned=[0-9.]*' "$WORK/kill.log") s, legacy partner, PROXY v2 trust, per-source limit, silent clients"
