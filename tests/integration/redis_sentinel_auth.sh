# redis_sentinel_auth.sh -- a site's Sentinels that require a password
# (requirepass, as deploy/redis/sentinel.conf.example) in front of a master
# that requires one too:
#  1. a node with redis.password and redis.sentinel_password finds the
#     master through the sentinel and registers;
#  2. a node without sentinel_password is refused by the sentinel: its log
#     says so (authentication required, which setting), it does not register;
#  3. a node with a wrong sentinel_password: "authentication failed", not
#     registered;
#  4. edgectl through the same sentinel, with --sentinel-password and from
#     the node's configuration (-c), reads the pool; without it, refused.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/redis.sh"
ep_setup redis_sentinel_auth
need_bin edge-node edgectl
need_cmd redis-server redis-cli
ep_certs

M=127.0.29.100:6429 SEN=127.0.29.102:26429
redis_start master 127.0.29.100 6429
rcli $M CONFIG SET requirepass mpw >/dev/null # after redis_start, whose PING has no password
cat >"$WORK/sentinel.conf" <<CONF
port 26429
bind 127.0.29.102
dir $WORK
requirepass spw
sentinel monitor mymaster 127.0.29.100 6429 1
sentinel auth-pass mymaster mpw
sentinel down-after-milliseconds mymaster 1000
CONF
ep_spawn sentinel redis-server "$WORK/sentinel.conf" --sentinel
sentinel_up() { [ "$(redis-cli -h 127.0.29.102 -p 26429 -a spw --no-auth-warning PING 2>/dev/null)" = PONG ]; }
wait_until 10 sentinel_up || fail "the sentinel does not answer"
assert_match "NOAUTH" "$(redis-cli -h 127.0.29.102 -p 26429 SENTINEL get-master-addr-by-name mymaster 2>&1)" \
    "the sentinel refuses clients without its password"

POLICY='
  access_edge = { allow_federated_users = true; };
  internal_domains = [ "contoso.test" ];'
registered() { [ "$(redis-cli -h 127.0.29.100 -p 6429 -a mpw --no-auth-warning SISMEMBER ep:edgepool:nodes "$1")" = 1 ]; }

note "--- 1. both passwords: registered"
node_conf node1 127.0.29.1 127.0.29.11:5070 "" "$POLICY" "" \
    'sentinels = "127.0.29.102:26429"; master_name = "mymaster"; password = "mpw"; sentinel_password = "spw";'
node_start node1
wait_until 5 registered node1 || fail "node1 did not register through the password-protected sentinel"
assert_log "$WORK/node1.log" "sentinel 127\.0\.29\.102:26429: master mymaster is at 127\.0\.29\.100:6429" \
    "node1 asked the sentinel"

note "--- 2. no sentinel_password: refused, said why"
node_conf node2 127.0.29.2 127.0.29.11:5070 "" "$POLICY" "" \
    'sentinels = "127.0.29.102:26429"; master_name = "mymaster"; password = "mpw";'
node_start node2
wait_log "$WORK/node2.log" "authentication required, no redis\.sentinel_password configured" 5 ||
    fail "node2's log does not say the sentinel wants a password"
registered node2 && fail "node2 registered without the sentinel's password"

note "--- 3. a wrong sentinel_password: refused"
node_conf node3 127.0.29.3 127.0.29.11:5070 "" "$POLICY" "" \
    'sentinels = "127.0.29.102:26429"; master_name = "mymaster"; password = "mpw"; sentinel_password = "nope";'
node_start node3
wait_log "$WORK/node3.log" "authentication failed \(wrong user name or password\)" 5 ||
    fail "node3's log does not say its sentinel password was refused"
registered node3 && fail "node3 registered with a wrong sentinel password"
ep_alive node2 && ep_alive node3 || fail "a node refused by the sentinel exited (it must go on retrying)"

note "--- 4. edgectl"
CTL=$EP_BIN/edgectl
ep_run ctl1 "$CTL" --sentinels 127.0.29.102:26429 --password mpw --sentinel-password spw pool status ||
    fail "edgectl with --sentinel-password failed: $(tail -2 "$WORK/ctl1.log")"
assert_log "$WORK/ctl1.log" "^node1 +active" "edgectl lists node1"
ep_run ctl2 "$CTL" -c "$WORK/node1.conf" pool status || fail "edgectl -c node1.conf failed: $(tail -2 "$WORK/ctl2.log")"
assert_log "$WORK/ctl2.log" "^node1 +active" "edgectl -c takes both passwords from the node's configuration"
ep_run ctl3 "$CTL" --sentinels 127.0.29.102:26429 --password mpw --timeout 2 pool status &&
    fail "edgectl without the sentinel's password succeeded"
assert_log "$WORK/ctl3.log" "sentinel" "edgectl says the sentinel refused"
pass "sentinel AUTH: accepted with the password, refused and logged without or with a wrong one"
