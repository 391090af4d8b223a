# sentinel_failover_under_load.sh -- a Sentinel failover under SIP load that
# loses the master's last acknowledged writes, and the nodes putting them
# back. pool_sentinel_failover.sh proves the nodes follow a failover
# (registry, policy); this proves nothing already acknowledged is lost.
#
# Master + replica + one Sentinel; two edge nodes finding the master through
# the Sentinel; MESSAGEs and short calls (SIPp over TCP) through the nodes to
# fabrikam.test's Kamailio edge (mutual TLS) and sip_responder.py behind it.
# A Python driver holds calls of its own:
#   H  10 calls set up first, replicated normally;
#   B  30 calls set up in a burst just before the kill, while the replica
#      lags: it is SIGSTOPped and a 32 MB write fills the replication
#      stream's socket buffers first, so the burst's records, acknowledged
#      by the master, stay in the master's output buffer -- replication lag
#      made deterministic; the master is then SIGKILLed and the replica
#      resumed: Sentinel promotes a replica that never got them;
#   F   4 calls set up after the kill, before the promotion.
# Asserted: the replica was promoted and lacks the 32 MB key (the tail was
# really lost); each node follows the new master (time printed) and
# re-asserts its records, with at least the 30 burst records counted as ones
# "Redis had lost"; every H and B record is on the new master field for
# field as the old master acknowledged it, F's too; relaying never stops
# (SIPp 0 failed; largest gap between MESSAGEs measured); each H and B call's
# BYE, sent through the other node with the ep-peer stripped, is routed from
# the record on the new master and gets 200; no record is left at the end.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup sentinel_failover_under_load
need_bin edge-node
need_cmd redis-server redis-cli kamailio sipp nsd
ep_certs

M=127.0.21.140:6431 S=127.0.21.141:6432 SEN=127.0.21.142:26431
UAS=127.0.21.62
redis_start master 127.0.21.140 6431 --replica-announce-ip 127.0.21.140 --repl-diskless-sync-delay 0
redis_start replica 127.0.21.141 6432 --replica-announce-ip 127.0.21.141 --repl-diskless-sync-delay 0 \
    --replicaof 127.0.21.140 6431
ep_at_exit ep_kill replica CONT
sentinel_start sentinel 127.0.21.142 26431 mymaster 127.0.21.140 6431 1000
replica_ready() {
    rcli $S INFO replication | grep -q 'master_link_status:up' &&
        rcli $SEN SENTINEL replicas mymaster | grep -q 127.0.21.141
}
wait_until 20 replica_ready || fail "the replica did not sync, or Sentinel does not know it"

zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.21.60
dns_start "$WORK/dns" 127.0.21.153 5300 "$WORK/fabrikam.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"
export NODE_INTERNAL='record_route_host = "edge-int.contoso.test";'
for i in 1 2; do
    node_conf node$i 127.0.21.4$i 127.0.21.51:5070 127.0.21.153:5300 "" "" \
        "sentinels = \"$SEN\"; master_name = \"mymaster\";"
    node_start node$i
done
redis_wait $M 5 SCARD ep:edgepool:nodes -- 2 || fail "the nodes did not register on the master"
printf '127.0.21.41 sip.contoso.test\n' >"$WORK/hosts"
KAM_HOSTS=$WORK/hosts kamailio_partner_start fab 127.0.21.60 fabrikam.test fabrikam-edge \
    "sip:sip.contoso.test:5061;transport=tls" $UAS:5070
ep_spawn uas /usr/bin/python3 "$EP_LIB/sip_responder.py" $UAS 5070 85
wait_tcp $UAS 5070 || fail "the responder did not start"

now_s() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
log_time() { date -u -d "$(cut -d' ' -f1 <<<"$1")" +%s.%3N; }
# the driver's dialog records on Redis ADDR, one line each, sorted
records_of() { # ADDR FILE-of-Call-IDs
    rcli "$1" EVAL "local out = {}
        local want = {} for id in string.gmatch(ARGV[1], '%S+') do want[id] = true end
        for _, k in ipairs(redis.call('keys', 'ep:edgepool:dlg:*')) do
          local h = redis.call('hgetall', k) local f = {}
          for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
          if want[f.call_id] then
            local s = k
            for _, n in ipairs({'kind','call_id','from_tag','to_tag','peer','domain','internal','remote','node','created_ms'}) do
              s = s .. ' ' .. n .. '=' .. tostring(f[n]) end
            out[#out + 1] = s
          end
        end
        table.sort(out) return out" 0 "$(paste -sd' ' "$2")"
}
count_of() { records_of "$1" "$2" | grep -c . ; }

# ---- load through both nodes, ~20 s
SIPP_TIMEOUT=45 SIPP_TRACE_MSG=0 sipp_spawn msgs tests/sipp/uac_message.xml -t t1 -i 127.0.21.52 \
    -s bob -key to_domain fabrikam.test -key from_user alice -key from_domain contoso.test \
    -r 40 -m 800 127.0.21.41:5060
SIPP_TIMEOUT=45 SIPP_TRACE_MSG=0 sipp_spawn calls tests/sipp/uac_invite_bye.xml -t t1 -i 127.0.21.53 \
    -s carol -key to_domain fabrikam.test -key from_user dave -key from_domain contoso.test \
    -r 5 -m 100 -d 2000 127.0.21.42:5060

EP_PY_TIMEOUT=70 WORK=$WORK ep_py driver <<'PY' &
W = os.environ["WORK"]
NODES = ["127.0.21.41:5060", "127.0.21.42:5060"]
calls = Calls(NODES, "127.0.21.51")
conns, call, bye = calls.conns, calls.call, calls.bye

def wait_file(name, secs):
    sipc_wait_file(W, name, secs)

def save(name, ds):
    Calls.save(W, name, ds)

H = [call("h%d" % i, i % 2) for i in range(10)]
save("H.ids", H)
print("PHASE1 done", flush=True)
wait_file("go_burst", 20)
t = time.time()
B = [call("b%d" % i, i % 2) for i in range(30)]
save("B.ids", B)
print("PHASE2 done: burst of 30 calls in %d ms" % ((time.time() - t) * 1000), flush=True)
wait_file("go_f", 20)
F = [call("f%d" % i, i % 2) for i in range(4)]
save("F.ids", F)
print("PHASE3 done", flush=True)
wait_file("go_end", 30)
for d in H + B:
    bye(d, (d["node"] + 1) % 2, strip=True)
for d in F:
    bye(d, d["node"])
ok("PHASE4 done: 40 BYEs routed from the records on the new master, 4 ended normally")
PY
DRIVER=$!
wait_log "$WORK/driver.log" "PHASE1 done" 20 || fail "driver: $(tail -1 "$WORK/driver.log")"
wait_until 3 eval '[ "$(count_of $S "$WORK/H.ids")" = 10 ]' || fail "the 10 held calls' records did not reach the replica"

# ---- the replica lags: stopped, its socket buffers filled by a 32 MB write
head -c 33554432 /dev/zero >"$WORK/junk"
ep_kill replica STOP
T_STOP=$(now_s)
rcli $M -x SET ep:edgepool:junk <"$WORK/junk" >/dev/null
rm -f "$WORK/junk"
touch "$WORK/go_burst"
wait_log "$WORK/driver.log" "PHASE2 done" 10 || fail "driver, burst: $(tail -1 "$WORK/driver.log")"
note "$(grep -o 'burst of 30 calls in [0-9]* ms' "$WORK/driver.log")"
wait_until 2 eval '[ "$(count_of $M "$WORK/B.ids")" = 30 ]' || fail "the master does not have the 30 burst records"
cat "$WORK/H.ids" "$WORK/B.ids" >"$WORK/HB.ids"
records_of $M "$WORK/HB.ids" >"$WORK/HB.before"
assert_eq 40 "$(grep -c . "$WORK/HB.before")" "records on the master before the kill"
T_KILL=$(now_s)
ep_kill master KILL
ep_kill replica CONT
note "the replica was stopped for $(ms_between "$T_STOP" "$T_KILL") ms; the master SIGKILLed with 40 of the driver's records acknowledged"
touch "$WORK/go_f"
ep_wait master 5 >/dev/null
wait_log "$WORK/driver.log" "PHASE3 done" 10 || fail "driver after the kill: $(tail -1 "$WORK/driver.log")"

# what the replica holds once it has read what reached it, before Sentinel
# promotes it (a replica is read-only: the nodes do not write to it yet)
sleep 0.3
role=$(rcli $S ROLE | head -1)
B_ON_REPLICA=$(count_of $S "$WORK/B.ids")
H_ON_REPLICA=$(count_of $S "$WORK/H.ids")
[ "$role" = slave ] || note "(the replica was already promoted when looked at: $role)"
note "the replica, before its promotion, has $B_ON_REPLICA of the 30 burst records and $H_ON_REPLICA of the 10 earlier ones"
assert_cmp "$B_ON_REPLICA" -lt 30 "burst records that reached the replica (the master's tail must be lost)"

# ---- the promotion, the nodes on the new master
wait_until 20 eval '[ "$(rcli $S ROLE | head -1)" = master ]' || fail "the replica was not promoted"
note "replica promoted $(ms_between "$T_KILL" "$(now_s)") ms after the kill (down-after 1000 ms)"
assert_eq 0 "$(rcli $S EXISTS ep:edgepool:junk)" "the 32 MB key on the new master (the master's unreplicated tail lost)"
lost_total=0
for i in 1 2; do
    wait_log "$WORK/node$i.log" "Redis at 127.0.21.141:6432: re-asserted [0-9]+ record" 10 ||
        fail "node$i did not re-assert its records on the new master"
    up=$(grep "Redis at 127.0.21.141:6432 up" "$WORK/node$i.log" | head -1)
    line=$(grep "Redis at 127.0.21.141:6432: re-asserted" "$WORK/node$i.log" | head -1)
    lost=$(sed -n 's/.*(\([0-9]*\) Redis had lost.*/\1/p' <<<"$line")
    lost_total=$((lost_total + lost))
    note "node$i on the new master $(ms_between "$T_KILL" "$(log_time "$up")") ms after the kill, replay answered $(ms_between "$(log_time "$up")" "$(log_time "$line")") ms later: $(sed 's/.*Redis at [0-9.:]*: //' <<<"$line")"
done
assert_cmp "$lost_total" -ge $((30 - B_ON_REPLICA)) "records the promoted replica had lost, re-asserted by the nodes"
wait_until 2 eval '[ "$(count_of $S "$WORK/HB.ids")" = 40 ]' ||
    fail "on the new master: $(count_of $S "$WORK/HB.ids") of the 40 records acknowledged before the kill"
records_of $S "$WORK/HB.ids" >"$WORK/HB.after"
diff "$WORK/HB.before" "$WORK/HB.after" >"$WORK/HB.diff" ||
    fail "records differ on the new master (see ${WORK#"$EP_ROOT"/}/HB.diff)"
wait_until 2 eval '[ "$(count_of $S "$WORK/F.ids")" = 4 ]' ||
    fail "calls set up during the failover: $(count_of $S "$WORK/F.ids") of 4 records"
note "on the new master: 40 of 40 records acknowledged before the kill ($((30 - B_ON_REPLICA)) of them burst records the replica never got), field for field; 4 of 4 set up during the failover"
for i in 1 2; do
    redis_wait $S 3 EXISTS ep:edgepool:alive:node$i -- 1 || fail "node$i not alive on the new master"
done

# ---- in-dialog requests routed from the records on the new master
touch "$WORK/go_end"
wait $DRIVER || fail "driver at the end: $(tail -1 "$WORK/driver.log")"
routed=$(cat "$WORK"/node[12].log | grep -c "in-dialog BYE from inside without ep-peer: routed to sip.fabrikam.test from the pool's dialog record")
assert_eq 40 "$routed" "BYEs without ep-peer routed from the records"
ep_wait msgs 40 >/dev/null
ep_wait calls 40 >/dev/null
assert_sipp msgs 800 0
assert_sipp calls 100 0
redis_wait $S 5 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 0 ||
    fail "dialog records left at the end: $(rcli $S EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0)"

read -r during gap < <(awk -v a="$T_KILL" '
    $1 == "REQ" && $3 == "MESSAGE" {
        if ($2 >= a && $2 <= a + 5) n++
        if ($2 >= a - 1 && $2 <= a + 6) { if (p && $2 - p > g) g = $2 - p; p = $2 }
    } END { printf "%d %d\n", n, g * 1000 }' "$WORK/uas.log")
note "MESSAGEs relayed in the 5 s after the kill: $during; largest gap between MESSAGEs around the failover: ${gap} ms"
assert_cmp "$during" -gt 100 "MESSAGEs relayed in the 5 s after the kill"
assert_cmp "$gap" -lt 500 "largest gap between relayed MESSAGEs (ms)"
pass "Sentinel failover that lost the master's last writes: 40 acknowledged records ($((30 - B_ON_REPLICA)) never replicated) back on the new master, 4 made during the failover written; 800 MESSAGEs + 100 calls, 0 failed; 40 BYEs routed from the records"
