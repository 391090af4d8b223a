# pool_throttle.sh -- discovered partners are throttled for the pool, not per
# node: with discovered_partner_standard_rate = 5, a burst of 20 MESSAGEs
# from fabrikam.test spread over two nodes within one second gets 5 through
# (not 2 x 5); with max_contacts_per_discovered_partner = 3, the 4th
# distinct user reached, whichever node it comes through, is refused 403 and
# the domain goes on the pool's watch list; with Redis down each node falls
# back to its own throttle (2 x 5 through) and says so.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup pool_throttle
need_bin edge-node
need_cmd redis-server redis-cli sipp nsd kdig
ep_certs

R=127.0.11.100:6392
export WORK
redis_start redis 127.0.11.100 6392
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.11.20
zone_write "$WORK/northwind.zone" northwind.test sip.northwind.test 127.0.11.30
dns_start "$WORK/dns" 127.0.11.53 5300 "$WORK/fabrikam.zone" "$WORK/northwind.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = true;
                  discovered_partner_standard_rate = 5; max_contacts_per_discovered_partner = 3; };
  internal_domains = [ "contoso.test" ];
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
for i in 1 2; do
    node_conf node$i 127.0.11.$i 127.0.11.11:5070 127.0.11.53:5300 "$POLICY" "" 'addr = "127.0.11.100:6392";'
    node_start node$i
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 2 || fail "the nodes did not register"
SIPP_TIMEOUT=80 sipp_spawn our_uas tests/sipp/uas_message.xml -t t1 -i 127.0.11.11 -p 5070
wait_tcp 127.0.11.11 5070 || fail "internal UAS did not start"

# burst NAME CERT DOMAIN N USERS: N MESSAGEs from DOMAIN alternating over the
# two nodes, sent back to back early in a second of the wall clock (one rate
# window); USERS distinct recipients in turn. Prints "ok=A throttled=B refused=C".
cat >"$WORK/burst.py" <<'PY'
def burst(cert, domain, n, users, align=True):
    conns = [tls("127.0.11.%d:5061" % i, src="127.0.11.21", cert=cert) for i in (1, 2)]
    # the first request of a connection verifies the domain's SRV: not in the burst
    for c in conns:
        c.send(Req("OPTIONS", "sip:contoso.test", c, frm="sip:probe@%s" % domain))
        m = c.recv(5)
        note("warm-up on %s: %s" % (c.name, m and m.start))
    if align:
        while time.time() % 1.0 > 0.05:
            time.sleep(0.005)
        time.sleep(1.06 - time.time() % 1.0)
    t0 = time.time()
    for k in range(n):
        c = conns[k % 2]
        c.send(Req("MESSAGE", "sip:user%d@contoso.test" % (k % users), c,
                   frm="sip:carol@%s" % domain))
    sent = time.time()
    count = {}
    for k in range(n):
        c = conns[k % 2]
        m = c.recv(5)
        if m is None:
            fail("no answer to request %d" % k)
        count[m.status] = count.get(m.status, 0) + 1
    note("%d sent in %.0f ms from %.3f s into the second" % (n, (sent - t0) * 1000, t0 % 1.0))
    print("RESULT ok=%d throttled=%d refused=%d other=%d" % (
        count.get(200, 0), count.get(503, 0), count.get(403, 0),
        n - count.get(200, 0) - count.get(503, 0) - count.get(403, 0)), flush=True)
    return count
PY
result() { grep -o 'RESULT .*' "$WORK/$1.log" | tail -1; }

# 1. the rate, pool-wide: 5 of 20 through two nodes
ep_py rate <<'PY' || fail "rate burst: $EP_PY_MSG"
exec(open(os.path.join(os.environ["WORK"], "burst.py")).read())
burst("fabrikam-edge", "fabrikam.test", 20, 1)
PY
note "pool-wide: $(result rate)"
assert_match 'ok=5 throttled=15 refused=0 other=0' "$(result rate)" "20 requests over two nodes, pool rate 5/s"
assert_match '^rate\|' "$(rcli $R HGET ep:edgepool:watch fabrikam.test)" "fabrikam.test on the pool's watch list"
assert_log "$WORK/node1.log" "discovered partner fabrikam.test .* throttled \(pool-wide\)" "node1 throttled pool-wide"
assert_log "$WORK/node2.log" "discovered partner fabrikam.test .* throttled \(pool-wide\)" "node2 throttled pool-wide"

# 2. the contacts, pool-wide: users 0,1 through node1 and node2... the 4th distinct one is refused
ep_py contacts <<'PY' || fail "contacts: $EP_PY_MSG"
exec(open(os.path.join(os.environ["WORK"], "burst.py")).read())
burst("northwind-edge", "northwind.test", 4, 4)
PY
note "contacts: $(result contacts)"
assert_match 'ok=3 throttled=0 refused=1' "$(result contacts)" "a 4th distinct user over two nodes, cap 3"
assert_eq 3 "$(rcli $R SCARD ep:edgepool:contacts:northwind.test)" "northwind.test's contacts in Redis"
assert_match '^contacts\|' "$(rcli $R HGET ep:edgepool:watch northwind.test)" "northwind.test refused on the watch list"
ttl=$(rcli $R TTL ep:edgepool:contacts:northwind.test)
assert_cmp "$ttl" -gt 3500 "contacts set TTL (s)"

# 3. Redis down: each node throttles alone (5 + 5), and says so
redis_stop redis
for i in 1 2; do wait_log "$WORK/node$i.log" "Redis at .* down" 5 || fail "node$i did not notice Redis going"; done
ep_py local <<'PY' || fail "local burst: $EP_PY_MSG"
exec(open(os.path.join(os.environ["WORK"], "burst.py")).read())
burst("fabrikam-edge", "fabrikam.test", 20, 1)
PY
note "Redis down, per node: $(result local)"
assert_match 'ok=10 throttled=10 refused=0 other=0' "$(result local)" "20 requests over two nodes throttled locally"
for i in 1 2; do assert_log "$WORK/node$i.log" "local throttling" "node$i says it throttles locally"; done
pass "pool-wide: $(result rate); per node with Redis down: $(result local)"
