# pool_sentinel_failover.sh -- nodes that find Redis through Sentinel follow a
# failover: the master is SIGKILLed, Sentinel promotes the replica, and each
# node's registry and liveness are written to the new master (measured from
# the kill), and a policy change made there reaches every node. The client's
# own Sentinel handling is proven in redis_client.sh; this is the node's.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup pool_sentinel_failover
need_bin edge-node
need_cmd redis-server redis-cli
ep_certs

M=127.0.11.100:6392 S=127.0.11.101:6393
redis_start master 127.0.11.100 6392 --replica-announce-ip 127.0.11.100 --repl-diskless-sync-delay 0
redis_start replica 127.0.11.101 6393 --replica-announce-ip 127.0.11.101 --repl-diskless-sync-delay 0 \
    --replicaof 127.0.11.100 6392
sentinel_start sentinel 127.0.11.102 26392 mymaster 127.0.11.100 6392 1000
replica_ready() {
    rcli $S INFO replication | grep -q 'master_link_status:up' &&
        rcli 127.0.11.102:26392 SENTINEL replicas mymaster | grep -q 127.0.11.101
}
wait_until 20 replica_ready || fail "the replica did not sync, or Sentinel does not know it"

POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
for i in 1 2; do
    node_conf node$i 127.0.11.$i 127.0.11.11:5070 "" "$POLICY" "" \
        'sentinels = "127.0.11.102:26392"; master_name = "mymaster";'
    node_start node$i
done
redis_wait $M 5 SCARD ep:edgepool:nodes -- 2 || fail "the nodes did not register on the master"
redis_wait $S 5 SCARD ep:edgepool:nodes -- 2 || fail "the registry did not reach the replica"

now_ms() { echo $(($(ep__now) / 1000)); }
t0=$(now_ms)
ep_kill master KILL
ep_wait master 5
# each node's liveness on the promoted replica, written after the kill
fresh_on_new_master() {
    local seen
    seen=$(rcli $S HGET ep:edgepool:node:$1 seen_ms)
    [[ $seen =~ ^[0-9]+$ ]] && [ "$seen" -gt "$t0" ] && [ "$(rcli $S EXISTS ep:edgepool:alive:$1)" = 1 ]
}
for i in 1 2; do
    wait_until 20 fresh_on_new_master node$i || fail "node$i does not write to the promoted replica"
    t=$(now_ms)
    note "MEASURED node$i registered on the new master $((t - t0)) ms after the master was killed (down-after 1000 ms)"
    eval "took$i=$((t - t0))"
done
assert_match 'master' "$(rcli $S ROLE | head -1)" "the replica was promoted"
for i in 1 2; do
    assert_log "$WORK/node$i.log" "Redis at 127.0.11.100:6392 down" "node$i saw the master go"
    wait_log "$WORK/node$i.log" "Redis at 127.0.11.101:6393 up" 5 || fail "node$i does not say it uses the new master"
done

# a change on the new master reaches both nodes
V=$(rcli $S HGET ep:edgepool:policy version)
rcli $S HSET ep:edgepool:policy version $((V + 1)) text "$POLICY blocked_domains = ( \"tailspin.test\" );" \
    updated_ms "$(date +%s%3N)" updated_by pool_sentinel_failover >/dev/null
rcli $S PUBLISH ep:edgepool:policy $((V + 1)) >/dev/null
for i in 1 2; do
    wait_log "$WORK/node$i.log" "policy version $((V + 1)) applied from Redis" 2 ||
        fail "node$i did not apply the change made on the new master"
done
grep -h "policy version $((V + 1)) applied" "$WORK"/node[12].log | sed 's/^/    /'
pass "nodes on the new master ${took1} ms / ${took2} ms after the master's SIGKILL"
