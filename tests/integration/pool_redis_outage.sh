# pool_redis_outage.sh -- Redis away and back under SIP load. A node keeps
# relaying calls (SIPp, bounded rate) with its cached policy while Redis is
# down, and says so; a node started during the outage runs the pool's policy
# from its snapshot (not its configuration file's); when Redis returns empty
# (no persistence) the nodes write back the policy they run, re-register,
# and dialog records appear again. Before that, subscriptions through the
# SIPp SUBSCRIBE/NOTIFY pair leave a record while they live.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup pool_redis_outage
need_bin edge-node
need_cmd redis-server redis-cli kamailio sipp nsd kdig
ep_certs

R=127.0.11.100:6392
redis_start redis 127.0.11.100 6392
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.11.20
printf '$ORIGIN tailspin.test.\n$TTL 30\n@ IN SOA ns hm 1 3600 600 86400 30\n@ IN NS ns\nns IN A 127.0.0.1\n' \
    >"$WORK/tailspin.zone"
dns_start "$WORK/dns" 127.0.11.53 5300 "$WORK/fabrikam.zone" "$WORK/tailspin.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = true; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( "fabrikam.test" );
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
for i in 1 2; do
    node_conf node$i 127.0.11.$i 127.0.11.11:5070 127.0.11.53:5300 "$POLICY" "" 'addr = "127.0.11.100:6392";'
    node_start node$i
done
printf '127.0.11.1 sip.contoso.test\n' >"$WORK/hosts"
KAM_HOSTS=$WORK/hosts kamailio_partner_start fab 127.0.11.20 fabrikam.test fabrikam-edge \
    "sip:sip.contoso.test:5061;transport=tls" 127.0.11.22:5070
dlg_count() { rcli $R EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0; }

# the pool's policy blocks tailspin.test (version 2): both nodes snapshot it
rcli $R HSET ep:edgepool:policy version 2 text "$POLICY blocked_domains = ( \"tailspin.test\" );" \
    updated_ms "$(date +%s%3N)" updated_by pool_redis_outage >/dev/null
rcli $R PUBLISH ep:edgepool:policy 2 >/dev/null
for i in 1 2; do
    redis_wait $R 3 HGET ep:edgepool:node:node$i policy_version -- 2 || fail "node$i did not apply version 2"
    assert_log "$WORK/node$i.policy" "tailspin.test" "node$i's snapshot"
done

# subscriptions (SIPp pair) through node1: a record each while they live
sipp_spawn fab_notify tests/sipp/uas_notify.xml -t t1 -i 127.0.11.22 -p 5070 -d 1500 -m 3
wait_tcp 127.0.11.22 5070 || fail "partner notifier did not start"
sipp_spawn our_sub tests/sipp/uac_subscribe.xml -t t1 -i 127.0.11.11 -p 5070 -s bob \
    -key to_domain fabrikam.test -key from_user alice -key from_domain contoso.test -m 3 \
    127.0.11.1:5060
redis_wait $R 5 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 3 || fail "no record for the 3 subscriptions"
K=$(rcli $R --scan --pattern 'ep:edgepool:dlg:*' | head -1)
assert_eq subscribe "$(rcli $R HGET "$K" kind)" "a subscription record"
ep_wait our_sub 15 >/dev/null
assert_sipp our_sub 3 0
ep_wait fab_notify 10 >/dev/null
redis_wait $R 3 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 0 || fail "subscription records left after the final NOTIFYs"

# node2 stops; calls through node1 at 10/s for 15 s, each held 1 s
ep_stop node2 || fail "node2 did not stop cleanly"
SIPP_TIMEOUT=40 SIPP_TRACE_MSG=0 sipp_spawn fab_uas tests/sipp/uas_invite.xml -t t1 -i 127.0.11.22 -p 5070 -m 150
wait_tcp 127.0.11.22 5070 || fail "partner UAS did not start"
SIPP_TIMEOUT=40 SIPP_TRACE_MSG=0 sipp_spawn load tests/sipp/uac_invite_bye.xml -t t1 -i 127.0.11.21 -s bob \
    -key to_domain fabrikam.test -key from_user alice -key from_domain contoso.test \
    -r 10 -m 150 -d 1000 127.0.11.1:5060
redis_wait $R 5 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 10 ||
    note "dialog records under load: $(dlg_count) (expected about 10)"
assert_cmp "$(dlg_count)" -gt 3 "dialog records under load"

sleep 2
redis_stop redis
wait_log "$WORK/node1.log" "Redis at 127.0.11.100:6392 down: relaying goes on with the cached policy \(version 2\)" 5 ||
    fail "node1 did not say Redis is down"

# a node started now runs the pool's policy from its snapshot
node_start node2
wait_log "$WORK/node2.log" "policy version 2 from the snapshot" 3 || fail "node2 did not start from its snapshot"
ep_py snapshot_policy <<'PY' || fail "node2 during the outage: $EP_PY_MSG"
c = tcp("127.0.11.2:5060", src="127.0.11.31")
c.send(Req("MESSAGE", "sip:bob@tailspin.test", c, frm="sip:alice@contoso.test"))
c.expect(403, 3, "403: tailspin.test is blocked by the snapshot's policy (the file would say 404)")
PY
wait_log "$WORK/node2.log" "Redis unreachable since start" 4 || fail "node2 did not say Redis is unreachable"

sleep 3
redis_start redis 127.0.11.100 6392
wait_log "$WORK/node1.log" "Redis at 127.0.11.100:6392 up again after" 5 || fail "node1 did not reconnect"
redis_wait $R 5 HGET ep:edgepool:policy version -- 2 || fail "the policy was not written back (version 2)"
assert_match 'tailspin.test' "$(rcli $R HGET ep:edgepool:policy text)" "the restored policy"
restored=$(cat "$WORK"/node[12].log | grep -c "restored policy version 2 from this node")
assert_eq 1 "$restored" "nodes that wrote the policy back"
redis_wait $R 3 SCARD ep:edgepool:nodes -- 2 || fail "the nodes did not register again"
redis_wait $R 5 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 10 ||
    note "dialog records after Redis returned: $(dlg_count)"
assert_cmp "$(dlg_count)" -gt 3 "dialog records after Redis returned (writes resumed)"

ep_wait load 40 >/dev/null
assert_sipp load 150 0
ep_wait fab_uas 10 >/dev/null
ep_alive node1 || fail "node1 is gone"
pass "150 calls through a Redis outage, none failed; snapshot start; policy restored; writes resumed"
