# redis_restart_under_load.sh -- the pool's Redis SIGKILLed and restarted
# empty (no persistence: the worst case) under SIP load; what
# pool_redis_outage.sh does not assert: nothing acknowledged is lost.
#
# Three edge nodes on one redis-server; outbound calls and MESSAGEs from our
# internal side (SIPp over TCP) through the nodes to fabrikam.test's Kamailio
# edge (mutual TLS), answered by sip_responder.py behind it. A Python driver
# holds dialogs of its own across the restart:
#   H  15 calls set up before the kill, held through it;
#   E   6 calls set up before the kill, ended while Redis is away (3 BYEs
#       through the node that set them up, 3 through another node);
#   C   6 calls set up while Redis is away.
# Asserted: relaying never stops (SIPp: 0 failed MESSAGEs and calls; the
# largest gap between MESSAGEs at the far end is measured), every node
# reconnects and re-asserts its records: the H records are back in the
# restarted Redis field for field as before the kill, the C records appear,
# the E records do not (not even a few seconds later, when a node that set
# one up has re-asserted it); every node's registry entry is back; after the
# restart each H call's BYE goes through another node than its own with the
# ep-peer stripped from its Route, so it is routed from the restored record,
# and gets 200; at the end no dialog record is left.
# Then a second SIGKILL with Redis restarted from its append-only file (fsync
# every second): 9 calls whose records were acknowledged just before the
# kill are all back field for field (however many the file had), and their
# BYEs are routed from them.
# Figures (note): outage length, per-node reconnection and replay, records
# before/after, messages relayed during the outage, the largest gap; what
# the AOF had.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
. "$EP_LIB/redis.sh"
. "$EP_LIB/sipc.sh"
ep_setup redis_restart_under_load
need_bin edge-node
need_cmd redis-server redis-cli kamailio sipp nsd curl
ep_certs

R=127.0.21.100:6421
UAS=127.0.21.22
redis_start redis 127.0.21.100 6421
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.21.20
dns_start "$WORK/dns" 127.0.21.53 5300 "$WORK/fabrikam.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

export NODE_INTERNAL='record_route_host = "edge-int.contoso.test";'
for i in 1 2 3; do
    node_conf node$i 127.0.21.$i 127.0.21.11:5070 127.0.21.53:5300 "" "" 'addr = "127.0.21.100:6421";'
    node_start node$i
done
redis_wait $R 5 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register"
printf '127.0.21.1 sip.contoso.test\n' >"$WORK/hosts"
KAM_HOSTS=$WORK/hosts kamailio_partner_start fab 127.0.21.20 fabrikam.test fabrikam-edge \
    "sip:sip.contoso.test:5061;transport=tls" $UAS:5070
ep_spawn uas /usr/bin/python3 "$EP_LIB/sip_responder.py" $UAS 5070 85
wait_tcp $UAS 5070 || fail "the responder did not start"

now_s() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }
ms_since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
# the driver's dialog records, one line each: key and its fields, sorted
records_of() { # FILE of Call-IDs
    local ids
    ids=$(paste -sd' ' "$1")
    rcli $R EVAL "local out = {}
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
        table.sort(out) return out" 0 "$ids"
}
count_of() { records_of "$1" | grep -c . ; }
dlg_total() { rcli $R EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0; }

# ---- load: MESSAGEs through node1, short calls through node2, for ~24 s
SIPP_TIMEOUT=45 SIPP_TRACE_MSG=0 sipp_spawn msgs tests/sipp/uac_message.xml -t t1 -i 127.0.21.12 \
    -s bob -key to_domain fabrikam.test -key from_user alice -key from_domain contoso.test \
    -r 40 -m 960 127.0.21.1:5060
SIPP_TIMEOUT=45 SIPP_TRACE_MSG=0 sipp_spawn calls tests/sipp/uac_invite_bye.xml -t t1 -i 127.0.21.13 \
    -s carol -key to_domain fabrikam.test -key from_user dave -key from_domain contoso.test \
    -r 5 -m 120 -d 2000 127.0.21.2:5060

# ---- the driver: H and E before the kill, E's BYEs and C during the
# outage, H's BYEs (through another node, without ep-peer) after it
EP_PY_TIMEOUT=70 WORK=$WORK ep_py driver <<'PY' &
import json
W = os.environ["WORK"]
NODES = ["127.0.21.%d:5060" % i for i in (1, 2, 3)]
calls = Calls(NODES, "127.0.21.11")
conns, call, bye = calls.conns, calls.call, calls.bye

def wait_file(name, secs):
    sipc_wait_file(W, name, secs)

def save(name, ds):
    Calls.save(W, name, ds)

H = [call("h%d" % i, i % 3) for i in range(15)]
E = [call("e%d" % i, i % 3) for i in range(6)]
save("H.ids", H)
save("E.ids", E)
print("PHASE1 done", flush=True)
wait_file("go2", 20)
for i, d in enumerate(E):  # 0..2 through their own node, 3..5 through the next one
    bye(d, d["node"] if i < 3 else (d["node"] + 1) % 3)
C = [call("c%d" % i, i % 3) for i in range(6)]
save("C.ids", C)
print("PHASE2 done", flush=True)
wait_file("go3", 30)
for d in H:
    bye(d, (d["node"] + 1) % 3, strip=True)
for d in C:
    bye(d, d["node"])
ok("PHASE3 done: 15 BYEs routed from restored records, 6 ended normally")
PY
DRIVER=$!
wait_log "$WORK/driver.log" "PHASE1 done" 20 || fail "driver: $(tail -1 "$WORK/driver.log")"
wait_until 3 eval '[ "$(count_of "$WORK/H.ids")" = 15 ] && [ "$(count_of "$WORK/E.ids")" = 6 ]' ||
    fail "the 21 driver dialogs are not all in Redis before the kill"
records_of "$WORK/H.ids" >"$WORK/H.before"
BEFORE=$(($(count_of "$WORK/H.ids") + $(count_of "$WORK/E.ids")))
note "records before the kill: $(dlg_total) dialog records in all, $BEFORE of the driver's (15 held + 6 to be ended)"

# ---- Redis SIGKILLed; restarted empty 3 s later
sleep 1
T_KILL=$(now_s)
ep_kill redis KILL
ep_wait redis 5 >/dev/null
touch "$WORK/go2"
for i in 1 2 3; do
    wait_log "$WORK/node$i.log" "Redis at 127.0.21.100:6421 down" 5 || fail "node$i did not see Redis go"
done
wait_log "$WORK/driver.log" "PHASE2 done" 15 || fail "driver during the outage: $(tail -1 "$WORK/driver.log")"
while [ "$(ms_since "$T_KILL")" -lt 3000 ]; do sleep 0.1; done
T_UP=$(now_s)
OUTAGE_MS=$(awk -v a="$T_KILL" -v b="$T_UP" 'BEGIN { printf "%d", (b - a) * 1000 }')
# started with an append-only file this time, for the second restart below
redis_start redis 127.0.21.100 6421 --appendonly yes --appendfsync everysec
note "Redis was away ${OUTAGE_MS} ms (SIGKILL, restarted without persistence)"
# a log line's time (UTC, ms) in epoch seconds
log_time() { date -u -d "$(cut -d' ' -f1 <<<"$1")" +%s.%3N; }
for i in 1 2 3; do
    wait_until 5 eval "[ \"\$(rcli $R EXISTS ep:edgepool:node:node$i)\" = 1 ]" ||
        fail "node$i did not register again"
    wait_log "$WORK/node$i.log" "re-asserted [0-9]+ record\(s\) of this node .* in [0-9]+ ms" 3 ||
        fail "node$i did not replay its records"
    up=$(grep "Redis at 127.0.21.100:6421 up again after" "$WORK/node$i.log" | tail -1)
    [ -n "$up" ] || fail "node$i does not say Redis is up again"
    line=$(grep "re-asserted [0-9]* record(s)" "$WORK/node$i.log" | tail -1)
    t_up=$(log_time "$up")
    t_re=$(log_time "$line")
    note "node$i reconnected $(awk -v a="$T_UP" -v b="$t_up" 'BEGIN { printf "%d", (b - a) * 1000 }') ms after Redis was restarted (its backoff), replay answered $(awk -v a="$t_up" -v b="$t_re" 'BEGIN { printf "%d", (b - a) * 1000 }') ms later: $(sed 's/.*Redis at [0-9.:]*: //' <<<"$line")"
done

# the same through the admin endpoint's metrics
metric() { # NODE-ADDR NAME[{LABELS}]
    curl -s "http://$1:8080/metrics" | awk -v m="$2" '$1 == m { print $2 + 0; f = 1 } END { if (!f) print "none" }'
}
for i in 1 2 3; do
    restored=$(metric 127.0.21.$i 'edgepool_pool_records_replayed_total{redis="restored"}')
    queued=$(metric 127.0.21.$i edgepool_pool_record_writes_queued_total)
    held=$(metric 127.0.21.$i edgepool_pool_records_held)
    note "node$i metrics: $restored record(s) restored by replays, $queued record write(s) made while Redis was down, $held held"
    assert_cmp "$restored" -gt 0 "node$i: records restored (metrics)"
done

# ---- the records: H as before, C there, E gone
H_BACK_MS=""
if wait_until 2 eval '[ "$(count_of "$WORK/H.ids")" = 15 ]'; then H_BACK_MS=$(ms_since "$T_UP"); fi
records_of "$WORK/H.ids" >"$WORK/H.after"
diff "$WORK/H.before" "$WORK/H.after" >"$WORK/H.diff" ||
    fail "the held dialogs' records differ after the restart (see ${WORK#"$EP_ROOT"/}/H.diff)"
[ -n "$H_BACK_MS" ] || fail "not all 15 held dialogs' records are back"
wait_until 2 eval '[ "$(count_of "$WORK/C.ids")" = 6 ]' ||
    fail "the calls set up during the outage: $(count_of "$WORK/C.ids") of 6 records"
assert_eq 0 "$(count_of "$WORK/E.ids")" "records of calls ended during the outage"
AFTER=$(($(count_of "$WORK/H.ids") + $(count_of "$WORK/C.ids")))
note "records after the restart: 15 of 15 held back ${H_BACK_MS} ms after Redis returned, field for field; 6 of 6 set up during the outage; 0 of 6 ended during it; $(dlg_total) dialog records in all"
while read -r k; do
    ttl=$(rcli $R TTL "$k")
    assert_cmp "$ttl" -gt 43000 "TTL of restored $k"
done < <(rcli $R --scan --pattern 'ep:edgepool:dlg:*' | head -5)
# a node that set up an E call may have re-asserted it at its reconnection
# before the ending node's deletion came: it must be gone for good (the
# second pass of such deletions runs 3 s after the reconnection)
sleep 3.5
assert_eq 0 "$(count_of "$WORK/E.ids")" "records of calls ended during the outage, 6.5 s after the restart"
assert_eq 15 "$(count_of "$WORK/H.ids")" "held records still there"
for i in 1 2 3; do
    assert_eq 1 "$(rcli $R SISMEMBER ep:edgepool:nodes node$i)" "node$i in the registry"
    assert_eq 1 "$(rcli $R EXISTS ep:edgepool:alive:node$i)" "node$i alive"
done

# ---- in-dialog requests of the held calls, routed from the restored records
touch "$WORK/go3"
wait $DRIVER || fail "driver after the restart: $(tail -1 "$WORK/driver.log")"
routed=$(cat "$WORK"/node[123].log | grep -c "in-dialog BYE from inside without ep-peer: routed to sip.fabrikam.test from the pool's dialog record")
assert_eq 15 "$routed" "BYEs without ep-peer routed from the restored records"

# ---- a second SIGKILL, Redis restarted from its append-only file (fsync
# every second): 9 more calls held, the kill right after their records were
# acknowledged; whatever the file lacks, the nodes put back
EP_PY_TIMEOUT=40 WORK=$WORK ep_py driver2 <<'PY' &
W = os.environ["WORK"]
NODES = ["127.0.21.%d:5060" % i for i in (1, 2, 3)]
calls = Calls(NODES, "127.0.21.11")
A = [calls.call("a%d" % i, i % 3) for i in range(9)]
Calls.save(W, "A.ids", A)
print("PHASE1 done", flush=True)
sipc_wait_file(W, "go_a", 25)
for d in A:
    calls.bye(d, (d["node"] + 1) % 3, strip=True)
ok("9 BYEs routed from the records after the AOF restart")
PY
DRIVER2=$!
wait_log "$WORK/driver2.log" "PHASE1 done" 15 || fail "driver2: $(tail -1 "$WORK/driver2.log")"
wait_until 2 eval '[ "$(count_of "$WORK/A.ids")" = 9 ]' || fail "the 9 calls' records are not in Redis"
records_of "$WORK/A.ids" >"$WORK/A.before"
T_KILL2=$(now_s)
ep_kill redis KILL
ep_wait redis 5 >/dev/null
redis_start redis 127.0.21.100 6421 --appendonly yes --appendfsync everysec
T_UP2=$(now_s)
IN_AOF=$(count_of "$WORK/A.ids")
wait_until 5 eval '[ "$(count_of "$WORK/A.ids")" = 9 ]' || fail "after the AOF restart: $(count_of "$WORK/A.ids") of the 9 records"
records_of "$WORK/A.ids" >"$WORK/A.after"
diff "$WORK/A.before" "$WORK/A.after" >"$WORK/A.diff" ||
    fail "records differ after the AOF restart (see ${WORK#"$EP_ROOT"/}/A.diff)"
note "AOF restart: Redis away $(ms_between "$T_KILL2" "$T_UP2") ms; right after loading it had $IN_AOF of the 9 records acknowledged just before the kill (a SIGKILL loses no AOF write the kernel has; a machine crash would lose up to 1 s); 9 of 9 back, field for field, $(ms_since "$T_UP2") ms after the restart"
replays() { grep -c "re-asserted [0-9]* record(s)" "$WORK/node$1.log"; }
for i in 1 2 3; do # the third replay: at start, after the first restart, after this one
    wait_until 5 eval "[ \$(replays $i) -ge 3 ]" || fail "node$i did not replay after the AOF restart"
    line=$(grep "re-asserted [0-9]* record(s)" "$WORK/node$i.log" | tail -1)
    note "node$i: $(sed 's/.*Redis at [0-9.:]*: //' <<<"$line")"
done
touch "$WORK/go_a"
wait $DRIVER2 || fail "driver2: $(tail -1 "$WORK/driver2.log")"
routed=$(cat "$WORK"/node[123].log | grep -c "in-dialog BYE from inside without ep-peer: routed to sip.fabrikam.test from the pool's dialog record")
assert_eq 24 "$routed" "BYEs without ep-peer routed from the records (15 + 9)"

ep_wait msgs 40 >/dev/null
ep_wait calls 40 >/dev/null
assert_sipp msgs 960 0
assert_sipp calls 120 0
redis_wait $R 5 EVAL "return #redis.call('keys', 'ep:edgepool:dlg:*')" 0 -- 0 ||
    fail "dialog records left at the end: $(dlg_total)"

# ---- figures from the far end: MESSAGEs during the outage, the largest gap
read -r during gap < <(awk -v a="$T_KILL" -v b="$T_UP" '
    $1 == "REQ" && $3 == "MESSAGE" {
        if ($2 >= a && $2 <= b) n++
        if ($2 >= a - 1 && $2 <= b + 1) { if (p && $2 - p > g) g = $2 - p; p = $2 }
    } END { printf "%d %d\n", n, g * 1000 }' "$WORK/uas.log")
note "MESSAGEs relayed while Redis was away: $during in ${OUTAGE_MS} ms; largest gap between MESSAGEs around the outage: ${gap} ms"
assert_cmp "$during" -gt $((OUTAGE_MS * 40 / 1000 / 2)) "MESSAGEs relayed during the outage"
assert_cmp "$gap" -lt 500 "largest gap between relayed MESSAGEs (ms)"
pass "Redis restarted empty, then from its AOF, under load: 960 MESSAGEs + 120 calls, 0 failed; 15 held dialog records re-asserted (${H_BACK_MS} ms), 6 made during the outage written, 6 ended gone; 15 BYEs routed from them; AOF restart: 9 of 9 records, 9 BYEs routed from them"
