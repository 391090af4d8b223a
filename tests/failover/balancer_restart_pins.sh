#!/bin/bash
# balancer_restart_pins.sh -- the VIP's pins survive the balancer: three edge
# nodes on one Redis (append-only file, so Redis itself may restart), seven
# partner sources (mutual TLS from their own addresses) pinned through the
# VIP 127.0.23.10.
#  1. six sources connected at once are spread over the three nodes (least
#     connections), each pin in Redis with the idle TTL; a seventh is pinned
#     and then stays away;
#  2. balancer1 SIGKILLed and restarted: the DNS answers (three nodes) and the
#     VIP are back within a measured time; the two sources of one node retry
#     from the moment it died (before the balancer has read the registry),
#     the others come later: every source reconnects to the node it was
#     pinned to; the pins of the reconnected sources are
#     refreshed to pin_ttl, the absent source's pin keeps running down (not
#     reset by the restart), none loses its TTL;
#  3. balancer1 SIGKILLed, balancer2 (its own DNS/admin address, the same
#     Redis) takes the VIP address, as keepalived moves it: the same nodes
#     for every source, times measured;
#  4. Redis stopped, balancer2 SIGKILLed and restarted while Redis is down:
#     it knows the pool's nodes from its registry cache (health.registry_cache,
#     written while Redis was up), so the VIP serves every source (local
#     pins) and the DNS lists the three nodes; once Redis is back, every
#     source on its Redis pin again (measured), no node flapping down while
#     the nodes rewrite their liveness keys; a balancer that also lists
#     the nodes in nodes.static keeps proxying with local pins; when Redis is
#     back the pins in Redis win again (measured).
# Addresses: 127.0.23.0/24.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup balancer_restart_pins
need_bin edge-node edge-balancer
need_cmd redis-server redis-cli kdig ss /usr/bin/python3
ep_certs
export WORK

R=127.0.23.100:6423
VIP=127.0.23.10
TTL=120 # vip.pin_ttl (s)
SOURCES="127.0.23.31 127.0.23.32 127.0.23.33 127.0.23.34 127.0.23.35 127.0.23.36"
ABSENT=127.0.23.39
redis_start redis 127.0.23.100 6423 --appendonly yes --appendfsync always

for i in 1 2 3; do
    node_conf node$i 127.0.23.$i 127.0.23.60:5070 "" "" "" "addr = \"$R\";"
    sed -i "s|^external = { listen = \"127.0.23.$i:5061\";|& proxy_protocol_from = [ \"$VIP\" ];|" \
        "$WORK/node$i.conf"
    grep -q proxy_protocol_from "$WORK/node$i.conf" || fail "could not set proxy_protocol_from in node$i.conf"
    node_start node$i
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register"

balancer_conf() { # NAME DNS_ADDR [MORE TOP-LEVEL SETTINGS]
    cat >"$WORK/$1.conf" <<CONF
balancer = { id = "$1"; log_level = "info"; };
vip = { listen = "$VIP"; ports = [ "5061" ]; proxy_protocol = true; pin_ttl = $TTL; };
redis = { addr = "$R"; };
health = { check = "tcp"; interval_ms = 250; timeout_ms = 500; rise = 2; fall = 2; };
dns = { listen = "$2:5353"; ns = [ "ns1.contoso.test@$2" ]; ttl = 5; };
admin = { listen = "$2:8081"; };
${3:-}
CONF
}
balancer_conf balancer1 127.0.23.11
balancer_conf balancer2 127.0.23.12
sed -i "s|^health = { |&registry_cache = \"$WORK/balancer2.nodes\"; |" "$WORK/balancer2.conf"
grep -q registry_cache "$WORK/balancer2.conf" || fail "could not set health.registry_cache"
dns_a() { kdig @"$1" -p 5353 +norec +time=1 +retry=0 +short A sip.contoso.test 2>/dev/null | sort | paste -sd, -; }
dns_full() { [ "$(dns_a "$1")" = 127.0.23.1,127.0.23.2,127.0.23.3 ]; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# balancer_up NAME DNS_ADDR: spawn it; measure until the VIP listens and the
# DNS lists the three nodes; sets UP_VIP_MS, UP_DNS_MS
balancer_up() {
    local t0=$EPOCHREALTIME
    ep_spawn "$1" "$EP_BIN/edge-balancer" -f -c "$WORK/$1.conf"
    wait_tcp $VIP 5061 10 || fail "$1 does not listen on $VIP:5061"
    UP_VIP_MS=$(ms_since "$t0")
    wait_until 10 dns_full "$2" || fail "$1's DNS does not list the 3 nodes: '$(dns_a "$2")'"
    UP_DNS_MS=$(ms_since "$t0")
    note "$1 started: VIP listening after $UP_VIP_MS ms, DNS answers the 3 nodes after $UP_DNS_MS ms"
}

# vipc.py: connections through the VIP, the node each reached (the node logs
# the partner's address and port, from the PROXY header)
cat >"$WORK/vipc.py" <<'PY'
import glob, os, re, subprocess, sys, time
sys.path.insert(0, os.environ["EP_LIB"])
from sipc import *

WORK = os.environ["WORK"]

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

# vipc.py VIP SRC...: one connection per source, all held until the last is
# up (least connections sees them), "VIPC SRC NODE" per line ("-" when the
# connection failed: refused, closed, handshake error); sipc's trace between.
# vipc.py --retry SECS RESFILE VIP SRC...: every source at once (a thread
# each), as a legacy partner whose VIP connection was cut: "TRYING SRC", then
# a new connection every 20 ms until one reaches a node and is answered,
# "VIPC SRC NODE MS TRIES" (MS since the start), or "VIPC SRC - MS TRIES"
# after SECS; these lines in RESFILE.
import threading

def one(vip, src):
    c = tls(vip + ":5061", src=src)
    n = node_of(src, c.local[1])
    c.send(Req("OPTIONS", "sip:sip.contoso.test", c))
    c.expect(200, 5, "the node's 200 to OPTIONS through the VIP")
    return c, n

if sys.argv[1] == "--retry":
    secs, res, vip, srcs = float(sys.argv[2]), open(sys.argv[3], "a"), sys.argv[4], sys.argv[5:]
    t0 = time.monotonic()
    out = threading.Lock()
    def say(line):  # results apart from sipc's trace (threads interleave it)
        with out:
            res.write(line + "\n")
            res.flush()
    def retry(src):
        tries = 0
        say("TRYING %s" % src)
        while time.monotonic() - t0 < secs:
            tries += 1
            try:
                c, n = one(vip, src)
                c.close()
                say("VIPC %s %s %d %d" % (src, n or "-", (time.monotonic() - t0) * 1000, tries))
                return
            except (OSError, ssl.SSLError, Closed, SystemExit):
                time.sleep(0.02)
        say("VIPC %s - %d %d" % (src, (time.monotonic() - t0) * 1000, tries))
    th = [threading.Thread(target=retry, args=(s,)) for s in srcs]
    for t in th:
        t.start()
    for t in th:
        t.join()
    sys.exit(0)

vip, srcs = sys.argv[1], sys.argv[2:]
held = []
for src in srcs:
    try:
        c, n = one(vip, src)
        held.append(c)
        print("VIPC %s %s" % (src, n or "-"), flush=True)
    except (OSError, ssl.SSLError, Closed, SystemExit) as e:
        print("VIPC %s - %s" % (src, e), flush=True)
for c in held:
    c.close()
PY
# through VIP OUTFILE SRC...: the nodes reached, "SRC NODE" lines in $WORK/OUTFILE
through() {
    local vip=$1 out=$2
    shift 2
    EP_LIB=$EP_LIB EP_CERTS=$EP_CERTS timeout -k 2 30 /usr/bin/python3 "$WORK/vipc.py" "$vip" "$@" \
        >"$WORK/$out.log" 2>&1
    sed -n 's/^VIPC //p' "$WORK/$out.log" >"$WORK/$out"
    note "through $vip: $(cut -d' ' -f1,2 "$WORK/$out" | paste -sd, -)"
}
# reconnecting OUTFILE SRC...: start the retrying partners (background, 10 s;
# "TRYING SRC" in $WORK/OUTFILE.res as a source starts trying)
reconnecting() {
    local out=$1
    shift
    EP_LIB=$EP_LIB EP_CERTS=$EP_CERTS ep_spawn "$out" /usr/bin/python3 "$WORK/vipc.py" --retry 10 "$WORK/$out.res" $VIP "$@"
}
# reconnected OUTFILE: wait for them; "SRC NODE" lines in $WORK/OUTFILE
reconnected() {
    ep_wait "$1" 20 || fail "the retrying partners ($1) failed: $(tail -1 "$WORK/$1.log")"
    sed -n 's/^VIPC //p' "$WORK/$1.res" | sort >"$WORK/$1.full"
    cut -d' ' -f1,2 "$WORK/$1.full" >"$WORK/$1"
    note "reconnected through $VIP (source node ms tries): $(paste -sd, "$WORK/$1.full")"
}
same_nodes() { # OUTFILE WHAT: every source on the node of pins0
    local src node want
    while read -r src node _; do
        want=$(awk -v s="$src" '$1 == s { print $2 }' "$WORK/pins0")
        [ "$node" = "$want" ] || fail "$2: $src went to '$node', was pinned to $want"
    done <"$WORK/$1"
    [ "$(wc -l <"$WORK/$1")" = "$(wc -l <"$WORK/pins0")" ] || fail "$2: not every source reconnected"
    note "ok: $2: every source on its node"
}
pttl() { rcli $R PTTL "ep:edgepool:pin:$1"; }

# ---- 1. pinned and spread
balancer_up balancer1 127.0.23.11
through $VIP pins0 $SOURCES
assert_eq 6 "$(awk '$2 ~ /^node[123]$/' "$WORK/pins0" | wc -l)" "sources through the VIP"
for n in node1 node2 node3; do
    assert_eq 2 "$(awk -v n=$n '$2 == n' "$WORK/pins0" | wc -l)" "sources on $n (least connections)"
done
while read -r src node; do
    assert_eq "$node" "$(rcli $R GET "ep:edgepool:pin:$src")" "pin of $src in Redis"
done <"$WORK/pins0"
through $VIP absent0 $ABSENT
ABSENT_NODE=$(awk '{ print $2 }' "$WORK/absent0")
assert_match '^node[123]$' "$ABSENT_NODE" "the absent source's node"
T_ABSENT=$EPOCHREALTIME
P_ABSENT=$(pttl $ABSENT)
assert_cmp "$P_ABSENT" -gt $(((TTL - 2) * 1000)) "the absent source's pin TTL (ms) when it left"

# ---- 2. balancer1 SIGKILLed and restarted
sleep 2 # let the pins run down a little: a refresh is then visible
ep_kill balancer1 KILL
ep_wait balancer1 5 >/dev/null
# the two partners on one node retry at once (their connections were cut),
# the others come back once the balancer is up
EARLY_NODE=$(awk '$1 == "127.0.23.31" { print $2 }' "$WORK/pins0")
EARLY=$(awk -v n="$EARLY_NODE" '$2 == n { print $1 }' "$WORK/pins0" | paste -sd' ')
LATE=$(awk -v n="$EARLY_NODE" '$2 != n { print $1 }' "$WORK/pins0" | paste -sd' ')
reconnecting restart_recon $EARLY
wait_until 10 eval '[ "$(grep -c "^TRYING" "$WORK/restart_recon.res" 2>/dev/null)" = 2 ]' ||
    fail "the retrying partners do not start: $(tail -3 "$WORK/restart_recon.log")"
t0=$EPOCHREALTIME
balancer_up balancer1 127.0.23.11
RESTART_VIP_MS=$UP_VIP_MS RESTART_DNS_MS=$UP_DNS_MS
assert_cmp "$UP_DNS_MS" -lt 3000 "DNS back after a restart (ms)"
reconnected restart_recon
RESTART_ALL_MS=$(awk -v m=0 '$3 > m { m = $3 } END { print m }' "$WORK/restart_recon.full")
early=$(grep -c "connect from 127\.0\.23\.[0-9]* to node $EARLY_NODE failed: node gone" "$WORK/balancer1.log")
note "the 2 retrying sources of $EARLY_NODE served within $RESTART_ALL_MS ms of their first try ($early of their tries came before the balancer had read the registry)"
through $VIP after_restart $LATE
cat "$WORK/restart_recon" "$WORK/after_restart" | sort >"$WORK/after_restart6"
same_nodes after_restart6 "after balancer1's restart"
for s in $SOURCES; do
    p=$(pttl "$s")
    assert_cmp "$p" -gt $(((TTL - 1) * 1000)) "pin TTL of $s after its reconnection (ms, refreshed to pin_ttl)"
done
p=$(pttl $ABSENT)
elapsed=$(ms_since "$T_ABSENT")
note "the absent source's pin: $P_ABSENT ms left when it left, $p ms now, $elapsed ms later"
assert_cmp "$p" -gt 0 "the absent source's pin still there with a TTL"
assert_cmp "$p" -le $((P_ABSENT - elapsed + 500)) "the absent source's pin TTL not reset by the restart (ms)"
assert_eq "$ABSENT_NODE" "$(rcli $R GET ep:edgepool:pin:$ABSENT)" "the absent source's pin"

# ---- 3. balancer2 takes the VIP (keepalived would move the address)
ep_kill balancer1 KILL
ep_wait balancer1 5 >/dev/null
reconnecting takeover_recon $SOURCES $ABSENT
balancer_up balancer2 127.0.23.12
TAKEOVER_VIP_MS=$UP_VIP_MS TAKEOVER_DNS_MS=$UP_DNS_MS
reconnected takeover_recon
grep -v "^$ABSENT " "$WORK/takeover_recon" >"$WORK/takeover_recon6"
same_nodes takeover_recon6 "through balancer2"
assert_eq "$ABSENT_NODE" "$(awk -v s=$ABSENT '$1 == s { print $2 }' "$WORK/takeover_recon")" \
    "the absent source, back through balancer2"
TAKEOVER_MS=$(awk -v m=0 '$3 > m { m = $3 } END { print m }' "$WORK/takeover_recon.full")
note "balancer2 took over: VIP after $TAKEOVER_VIP_MS ms, DNS after $TAKEOVER_DNS_MS ms, all 7 retrying sources on their nodes within $TAKEOVER_MS ms of balancer1's death"

# ---- 4. Redis down while the balancer restarts
redis_stop redis || fail "redis did not stop cleanly"
ep_kill balancer2 KILL
ep_wait balancer2 5 >/dev/null
t0=$EPOCHREALTIME
ep_spawn balancer2 "$EP_BIN/edge-balancer" -f -c "$WORK/balancer2.conf"
wait_tcp $VIP 5061 10 || fail "balancer2 does not listen on $VIP:5061 with Redis down"
note "balancer2 listens on the VIP $(ms_since "$t0") ms after its start, Redis down"
assert_log "$WORK/balancer2.nodes" "^node1 127\.0\.23\.1:5061 " "balancer2's registry cache names node1"
wait_until 5 dns_full 127.0.23.12 || fail "balancer2 restarted with Redis down: DNS A sip.contoso.test is '$(dns_a 127.0.23.12)', not the 3 cached nodes"
CACHE_DNS_MS=$(ms_since "$t0")
assert_log "$WORK/balancer2.log" "3 nodes from the registry cache" "balancer2 started from its registry cache"
through $VIP redis_down 127.0.23.31 127.0.23.32
assert_eq 2 "$(awk '$2 ~ /^node[123]$/' "$WORK/redis_down" | wc -l)" "VIP connections served with Redis down (nodes from the cache)"
assert_no_log "$WORK/balancer2.log" "refused: no node can take it" "no VIP connection refused with Redis down"
note "Redis down at the balancer's start: the 3 cached nodes in DNS $CACHE_DNS_MS ms after the start, the VIP serves every source (local pins)"

# Redis back (its append-only file kept the pins): served again, on the pins
# (sameagain: every source through the VIP on its pin of pins0)
sameagain() {
    through $VIP back $SOURCES >/dev/null 2>&1
    awk 'NR == FNR { p[$1] = $2; n++; next } p[$1] == $2 { ok++ } END { exit ok != n }' "$WORK/pins0" "$WORK/back"
}
# (not before every node is alive again in the registry: a node whose alive
# key Redis lost is "down" until it writes it again -- up to a registry read
# later -- and a source connecting then is re-pinned away; see the report)
off=$(($(wc -l <"$WORK/balancer2.log") + 1))
t0=$EPOCHREALTIME
redis_start redis 127.0.23.100 6423 --appendonly yes --appendfsync always
wait_until 15 sameagain || fail "15 s after Redis came back, balancer2 does not serve the sources on their pins: $(paste -sd, "$WORK/back")"
BACK_REG_MS=$(ms_since "$t0")
sleep 1 # the nodes' heartbeats rewrite their liveness keys
tail -n +$off "$WORK/balancer2.log" >"$WORK/balancer2.after_redis"
assert_no_log "$WORK/balancer2.after_redis" "is down" "no node taken down while Redis came back (grace of one liveness TTL)"
assert_no_log "$WORK/balancer2.after_redis" "re-pinned" "no source re-pinned while Redis came back"
assert_no_log "$WORK/balancer2.after_redis" "left the pool" "no node removed while Redis came back"
note "Redis back: balancer2 serves every source on its Redis pin $BACK_REG_MS ms after Redis's start, no node flapped"

# a balancer with the nodes also listed in nodes.static, started with Redis
# down: local pins
redis_stop redis || fail "redis did not stop cleanly"
balancer_conf balancer3 127.0.23.13 \
    "nodes = { static = [ \"node1@127.0.23.1\", \"node2@127.0.23.2\", \"node3@127.0.23.3\" ]; };"
ep_kill balancer2 KILL
ep_wait balancer2 5 >/dev/null
balancer_up balancer3 127.0.23.13
STATIC_DNS_MS=$UP_DNS_MS
through $VIP static1 $SOURCES
through $VIP static2 $SOURCES
assert_eq 6 "$(awk '$2 ~ /^node[123]$/' "$WORK/static1" | wc -l)" "sources served by balancer3 with Redis down"
cmp -s "$WORK/static1" "$WORK/static2" || fail "local pins: a source changed nodes between two connections"
moved=$(awk 'NR == FNR { p[$1] = $2; next } p[$1] != $2' "$WORK/pins0" "$WORK/static1" | wc -l)
note "Redis down: balancer3 (static nodes) answers the DNS after $STATIC_DNS_MS ms, serves all 6 sources with local pins, $moved of them on another node than their Redis pin"

# Redis back: the pool's pins win again
t0=$EPOCHREALTIME
redis_start redis 127.0.23.100 6423 --appendonly yes --appendfsync always
wait_until 15 sameagain || fail "15 s after Redis came back, sources still off their pins: $(paste -sd, "$WORK/back")"
BACK_MS=$(ms_since "$t0")
note "Redis back: every source through balancer3 on its Redis pin again $BACK_MS ms after Redis's start"
# and the balancer restarted with the Redis registry again finds everything
ep_kill balancer3 KILL
ep_wait balancer3 5 >/dev/null
redis_wait $R 5 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register again"
balancer_up balancer2 127.0.23.12
through $VIP final $SOURCES
same_nodes final "after Redis's return and a balancer restart"

ep_stop balancer2 || fail "balancer2 exited with status $? on SIGTERM"
pass "restart: VIP ${RESTART_VIP_MS} ms, DNS ${RESTART_DNS_MS} ms; takeover by balancer2: DNS ${TAKEOVER_DNS_MS} ms, all sources on their nodes ${TAKEOVER_MS} ms after the death; Redis down at start: served from the registry cache (DNS ${CACHE_DNS_MS} ms), Redis pins back ${BACK_REG_MS} ms after Redis returns, static nodes serve with local pins, Redis pins back ${BACK_MS} ms after Redis returns"
