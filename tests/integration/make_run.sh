#!/bin/bash
# make_run.sh -- `make run` / `make stop` (deploy/local-run.sh) on addresses
# of its own (EP_NET=127.0.19, run folder $WORK/run, the sanitizer build):
#  1. start returns once the pool answers: 6 daemons recorded and running
#     (redis, demo UA, node1..3, balancer1), 3 nodes registered in Redis;
#  2. every "$ ..." line it prints is run as printed and checked: kdig SRV
#     (3 nodes in the additional section) and A (3 nodes), edgectl pool
#     status (3 alive) and allowed list (the demo partner), the MESSAGE
#     through the VIP (send-message.py) and the openssl one straight to node1
#     (200 from the internal next hop, seen in its log), then the scale lines
#     (add-node: node4 in DNS; drain node2: out of DNS; remove-node node2:
#     stopped, out of the registry);
#  3. start again starts nothing: same PID file, same process count;
#  4. stop: none of its PIDs alive, no process left with its run folder or
#     addresses in its command line, and the decoys still run (a process
#     named edge-node, another redis-server, a python3: stop never kills by
#     name); a PID file naming a live process with another start time (a
#     recycled PID) makes stop signal nothing;
#  5. no sanitizer report in the daemons' logs.
# Addresses: 127.0.19.0/24.
. "$EP_ROOT/tests/lib/common.sh"
ep_setup make_run
need_bin edge-node edge-balancer edgectl
need_cmd redis-server redis-cli kdig ss openssl setsid flock /usr/bin/python3

LR=$EP_ROOT/deploy/local-run.sh
RUN=$WORK/run
export EP_RUN_DIR=$RUN EP_NET=127.0.19
ep_at_exit "$LR stop >>'$WORK/stop-at-exit.log' 2>&1"
# processes of this pool: its run folder or its addresses in the command line
# (the decoy redis on 127.0.19.200 aside)
ours() { pgrep -f -- "$RUN/|127\.0\.19\." | grep -vxF -e "$$" -e "$(ep_pid decoy_redis)" | sort -n; }
ours_count() { ours | grep -c .; }

# decoys: same names as the pool's processes, not started by local-run.sh
mkdir -p "$WORK/decoy"
cp /bin/sleep "$WORK/decoy/edge-node"
ep_spawn decoy_node "$WORK/decoy/edge-node" 120
ep_spawn decoy_redis redis-server --port 6398 --bind 127.0.19.200 --save '' --appendonly no --dir "$WORK/decoy"
ep_spawn decoy_py /usr/bin/python3 -c 'import time; time.sleep(120)'
wait_tcp 127.0.19.200 6398 || fail "the decoy redis did not start"
assert_cmp "$(ours_count)" -eq 0 "processes of the pool before start"

# ---- 1. start
T0=$EPOCHREALTIME
EP_RUN_TIMEOUT=60 ep_run start1 "$LR" start || fail "local-run.sh start: exit $? (log start1.log)"
START_MS=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
note "start returned after $START_MS ms; it printed:"
sed 's/^/    | /' "$WORK/start1.log"
assert_cmp "$(grep -c . "$RUN/pids")" -eq 6 "daemons recorded in run/pids"
for n in redis uas node1 node2 node3 balancer1; do
    pid=$("$LR" pid $n) || fail "$n is not running after start"
    note "$n: PID $pid"
done
assert_eq 3 "$(redis-cli --raw -h 127.0.19.100 -p 6379 SCARD ep:edgepool:nodes)" "nodes registered in Redis"
assert_eq "127.0.19.1,127.0.19.2,127.0.19.3" \
    "$(kdig @127.0.19.53 -p 5353 +short A sip.contoso.test | sort | paste -sd, -)" "DNS A at start"
assert_log "$WORK/start1.log" "^Stop it: EP_RUN_DIR=tests/out/make_run.d/run deploy/local-run.sh stop$" "the stop line"

# ---- 2. every printed command, as printed
mapfile -t CMDS < <(sed -n 's/^  \$ //p' "$WORK/start1.log")
assert_cmp "${#CMDS[@]}" -ge 9 "commands printed"
PRINTED_PIDS=$(cat "$RUN/pids")
PRINTED_COUNT=$(ours_count)
# 3 first (before the scale lines change the pool): start again
EP_RUN_TIMEOUT=30 ep_run start2 "$LR" start || fail "second start: exit $?"
assert_log "$WORK/start2.log" "already running .*nothing started" "second start says it runs"
assert_eq "$PRINTED_PIDS" "$(cat "$RUN/pids")" "PID file after a second start"
assert_eq "$PRINTED_COUNT" "$(ours_count)" "process count after a second start"

i=0
for c in "${CMDS[@]}"; do
    i=$((i + 1))
    out=$WORK/cmd$i.out
    timeout -k 2 30 bash -c "$c" >"$out" 2>&1
    rc=$?
    note "command $i (exit $rc): $c"
    sed 's/^/    | /' "$out" | head -20
    case $c in
    *"kdig "*" SRV "*)
        assert_eq 0 "$rc" "kdig SRV exit"
        assert_log "$out" "IN[[:space:]]+SRV[[:space:]]+0 0 5061 sip\.contoso\.test\." "SRV answer"
        assert_eq "127.0.19.1,127.0.19.2,127.0.19.3" \
            "$(awk '$4 == "A" { print $5 }' "$out" | sort | paste -sd, -)" "SRV additional A records"
        ;;
    *"kdig "*" A "*)
        assert_eq 0 "$rc" "kdig A exit"
        assert_eq "127.0.19.1,127.0.19.2,127.0.19.3" "$(sort "$out" | paste -sd, -)" "A answer"
        ;;
    *"edgectl "*" pool status")
        assert_eq 0 "$rc" "edgectl pool status exit"
        assert_log "$out" "pool edgepool: 3 nodes, 3 alive" "edgectl pool status"
        for n in 1 2 3; do assert_log "$out" "^node$n +active " "node$n in pool status"; done
        ;;
    *"edgectl "*" allowed list")
        assert_eq 0 "$rc" "edgectl allowed list exit"
        assert_log "$out" "fabrikam\.test +partner server, edge sip\.fabrikam\.test" "the demo partner allowed"
        ;;
    *send-message.py*)
        assert_eq 0 "$rc" "send-message.py exit"
        assert_log "$out" "^<<< SIP/2.0 200 OK" "MESSAGE through the VIP answered"
        assert_log "$RUN/uas.log" "^REQ [0-9.]+ MESSAGE 127\.0\.19\.[123]:[0-9]+ fabrikam\.test " "the internal UA got it from a node"
        pin=$(redis-cli --raw -h 127.0.19.100 -p 6379 GET ep:edgepool:pin:127.0.19.20)
        assert_match '^node[123]$' "$pin" "the demo partner's VIP pin"
        ;;
    *"openssl s_client"*)
        assert_eq 0 "$rc" "openssl s_client exit"
        assert_log "$out" "^SIP/2.0 200 OK" "MESSAGE over openssl answered"
        assert_cmp "$(grep -c ' MESSAGE 127\.0\.19\.1:' "$RUN/uas.log")" -ge 1 "MESSAGEs relayed by node1"
        ;;
    *" add-node"*)
        assert_eq 0 "$rc" "add-node exit"
        assert_log "$out" "node4 added on 127\.0\.19\.4: .*in the balancer's DNS answers after [0-9]+ ms" "add-node"
        note "add-node: $(grep -o 'listening after.*' "$out")"
        assert_match ",127\.0\.19\.4$" "$(kdig @127.0.19.53 -p 5353 +short A sip.contoso.test | sort | paste -sd, -)" \
            "DNS A after add-node"
        "$LR" pid node4 >/dev/null || fail "node4 not running after add-node"
        ;;
    *" drain node2"*)
        assert_eq 0 "$rc" "drain exit"
        assert_eq "127.0.19.1,127.0.19.3,127.0.19.4" \
            "$(kdig @127.0.19.53 -p 5353 +short A sip.contoso.test | sort | paste -sd, -)" "DNS A after drain node2"
        assert_eq 1 "$(redis-cli --raw -h 127.0.19.100 -p 6379 HGET ep:edgepool:node:node2 drain)" "node2's drain flag"
        ;;
    *" remove-node node2"*)
        N2=$(grep -o 'stopped (PID [0-9]*)' "$out" | grep -o '[0-9]*')
        assert_eq 0 "$rc" "remove-node exit"
        assert_log "$out" "node2 removed in [0-9]+ ms" "remove-node"
        [ -n "$N2" ] || fail "remove-node did not say which PID it stopped"
        ! ep__running "$N2" || ! grep -q edge-node "/proc/$N2/cmdline" || fail "node2 (PID $N2) still runs"
        assert_eq 0 "$(redis-cli --raw -h 127.0.19.100 -p 6379 SISMEMBER ep:edgepool:nodes node2)" "node2 in the registry"
        ! "$LR" pid node2 >/dev/null || fail "node2 still recorded"
        ;;
    *) fail "a printed command this test does not know: $c" ;;
    esac
done

# ---- 4. stop
ALL_PIDS=$(awk '{ print $1 }' "$RUN/pids" | sort -n | paste -sd' ' -)
BEFORE=$(ours | paste -sd' ' -)
note "pool processes before stop: $BEFORE (recorded: $ALL_PIDS)"
assert_eq "$ALL_PIDS" "$BEFORE" "the pool's processes are exactly the recorded ones"
EP_RUN_TIMEOUT=40 ep_run stop1 "$LR" stop || fail "local-run.sh stop: exit $?"
for p in $ALL_PIDS; do
    ! ep__running "$p" || fail "PID $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) still runs after stop"
done
assert_eq "" "$(ours | paste -sd' ' -)" "processes of the pool after stop"
for d in decoy_node decoy_redis decoy_py; do ep_alive $d || fail "stop killed $d"; done
note "ok: the decoys (edge-node, redis-server, python3 not started by local-run.sh) still run"
EP_RUN_TIMEOUT=20 ep_run stop2 "$LR" stop || fail "a second stop: exit $?"
assert_log "$WORK/stop2.log" "no local pool runs" "a second stop"

# a recycled PID: the file names the decoy's PID with another start time
echo "$(ep_pid decoy_node) 12345 node1" >"$RUN/pids"
EP_RUN_TIMEOUT=20 ep_run stop3 "$LR" stop || fail "stop with a recycled PID: exit $?"
ep_alive decoy_node || fail "stop signalled a recycled PID (the decoy)"
note "ok: a PID file entry whose start time differs is not signalled"

# ---- 5. sanitizers
for f in "$RUN"/node*.log "$RUN"/balancer*.log; do
    ! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f" ||
        fail "sanitizer report in ${f#"$EP_ROOT"/}: $(grep -m1 -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f")"
done
assert_log "$RUN/node1.log" "stopped" "node1 stopped on SIGTERM"
pass "start ${START_MS} ms, ${#CMDS[@]} printed commands ran, second start started nothing, stop left nothing"
