#!/bin/bash
# scale_add_drain.sh -- scaling the local pool (deploy/local-run.sh) with one
# command each, measured: EP_NET=127.0.20, run folder $WORK/run, the
# sanitizer build; the partner is raw SIP over mutual TLS (tests/lib/sipc.py
# with the demo PKI's fabrikam-edge certificate).
#  1. three partner sources hold a VIP connection each: least connections
#     spreads them over the three nodes (pins in Redis);
#  2. an INVITE dialog set up through node2 (its record in Redis names node2);
#  3. add-node: the time until node4 is in the balancer's DNS answers
#     (< 2 s) and until a new source gets a VIP pin to it (least connections
#     favours the empty node), both from the command's start;
#  4. drain node2: out of the DNS answers (< 2 s); new VIP sources, and the
#     source pinned to node2 connecting again, are pinned elsewhere; a new
#     INVITE straight to node2 gets 503;
#  5. remove-node node2: stopped, out of the registry and of DNS; the
#     dialog's BYE, sent where the DNS now points, reaches the internal UA
#     through another node and is answered 200; the dialog record leaves
#     Redis.
# Addresses: 127.0.20.0/24.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/sipc.sh"
ep_setup scale_add_drain
need_bin edge-node edge-balancer edgectl
need_cmd redis-server redis-cli kdig ss openssl setsid flock /usr/bin/python3

LR=$EP_ROOT/deploy/local-run.sh
RUN=$WORK/run
export EP_RUN_DIR=$RUN EP_NET=127.0.20
export EP_CERTS=$RUN/pki # sipc.py's tls(): ca.crt, fabrikam-edge.crt/.key
VIP=127.0.20.10:5061
ep_at_exit "touch '$WORK/stop.hold' '$WORK/go.B'; $LR stop >>'$WORK/stop-at-exit.log' 2>&1"
rc() { redis-cli --raw -h 127.0.20.100 -p 6379 "$@" 2>&1; }
dns_a() { kdig @127.0.20.53 -p 5353 +norec +time=1 +retry=0 +short A sip.contoso.test 2>/dev/null | sort -t. -k4,4n | paste -sd, -; }
dns_has() { [[ ,$(dns_a), == *,$1,* ]]; }
dns_lacks() { local a; a=$(dns_a) && [ -n "$a" ] && [[ ,$a, != *,$1,* ]]; }
pin() { rc GET "ep:edgepool:pin:$1"; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
dlg_keys() { rc --scan --pattern 'ep:edgepool:dlg:*' | grep -c .; }
dlg_keys_are() { [ "$(dlg_keys)" = "$1" ]; }

EP_RUN_TIMEOUT=60 ep_run start "$LR" start || fail "local-run.sh start: exit $? (log start.log)"
assert_eq "127.0.20.1,127.0.20.2,127.0.20.3" "$(dns_a)" "DNS A at start"

# hold.py STOPFILE GOFILE SRC...: once GOFILE exists ("-": at once), one VIP
# connection (mutual TLS) from each source, one after the other, held until
# STOPFILE exists (60 s at most)
cat >"$WORK/hold.py" <<'PY'
import os, sys, time
sys.path.insert(0, os.environ["EP_LIB"])
from sipc import *
stop, go = sys.argv[1], sys.argv[2]
end = time.monotonic() + 60
print("ready", flush=True)
while go != "-" and not os.path.exists(go) and time.monotonic() < end:
    time.sleep(0.01)
conns = []
for src in sys.argv[3:]:
    conns.append(tls(os.environ["VIP"], src=src))
    print("held %s" % src, flush=True)
while not os.path.exists(stop) and time.monotonic() < end:
    time.sleep(0.05)
PY
hold_spawn() { # NAME GOFILE SRC...: spawn a holder (python started, ready to connect)
    local name=$1
    shift
    ep_spawn "$name" env EP_LIB="$EP_LIB" EP_CERTS="$EP_CERTS" VIP=$VIP PYTHONDONTWRITEBYTECODE=1 \
        /usr/bin/python3 -u "$WORK/hold.py" "$WORK/stop.hold" "$@"
    wait_log "$WORK/$name.log" "^ready$" 10 || fail "$name did not start"
}
held() { # NAME SRC...: wait until every source is connected
    local name=$1
    shift
    wait_log "$WORK/$name.log" "^held ${*: -1}$" 10 || fail "$name: the VIP connections were not made"
}
hold() { # NAME SRC...: connect at once, return when held
    hold_spawn "$1" - "${@:2}"
    held "$@"
}
pin_set() { [ -n "$(pin "$1")" ]; }

# ---- 1. three sources spread over the nodes
hold holdA 127.0.20.21 127.0.20.22 127.0.20.23
declare -A PIN=()
for s in 127.0.20.21 127.0.20.22 127.0.20.23; do
    wait_until 3 pin_set $s || fail "no pin for $s in Redis"
    PIN[$s]=$(pin $s)
done
note "pins: .21 -> ${PIN[127.0.20.21]}, .22 -> ${PIN[127.0.20.22]}, .23 -> ${PIN[127.0.20.23]}"
assert_eq 3 "$(printf '%s\n' "${PIN[@]}" | sort -u | grep -c '^node[123]$')" "distinct nodes of the 3 held sources"
for s in "${!PIN[@]}"; do [ "${PIN[$s]}" = node2 ] && SRC_N2=$s; done

# ---- 2. an established INVITE dialog through node2
ep_py dlg_setup "$WORK/dialog.pickle" <<'PY' || fail "dialog through node2: $EP_PY_MSG"
import pickle
sdp = "v=0\r\no=b 1 1 IN IP4 127.0.20.30\r\ns=-\r\nc=IN IP4 127.0.20.30\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
c = tls("127.0.20.2:5061", src="127.0.20.30")
inv = Req("INVITE", "sip:alice@contoso.test", c, frm="sip:bob@fabrikam.test", body=sdp)
c.send(inv)
while True:
    m = c.recv(10)
    if m is None:
        fail("no final answer to the INVITE")
    if m.status >= 200:
        break
if m.status != 200:
    fail("INVITE answered %d" % m.status)
c.send(in_dialog("ACK", c, inv, m, 1))
pickle.dump((inv, m.raw), open(sys.argv[1], "wb"))
ok("dialog %s established through node2" % inv.call_id)
PY
wait_log "$RUN/uas.log" "^REQ [0-9.]+ ACK 127\.0\.20\.2:" 5 || fail "the ACK did not reach the internal UA through node2"
wait_until 3 dlg_keys_are 1 || fail "no dialog record in Redis"
DLG=$(rc --scan --pattern 'ep:edgepool:dlg:*')
assert_eq node2 "$(rc HGET "$DLG" node)" "the dialog record's node"

# ---- 3. add a node: DNS and a new pin (the new source's client already
# running, so that its start is not measured)
hold_spawn holdB "$WORK/go.B" 127.0.20.24
T0=$EPOCHREALTIME
EP_RUN_TIMEOUT=30 ep_run add "$LR" add-node || fail "add-node: exit $?"
wait_until 5 dns_has 127.0.20.4 || fail "node4 not in the DNS answers: $(dns_a)"
ADD_DNS_MS=$(ms_since "$T0")
note "add-node said: $(grep -o 'node4 added.*' "$WORK/add.log")"
note "node4 in the DNS answers $ADD_DNS_MS ms after add-node began: $(dns_a)"
assert_cmp "$ADD_DNS_MS" -lt 2000 "add-node to DNS (ms)"
assert_log "$RUN/balancer1.log" "node node4 \(127\.0\.20\.4:5061\) found in the registry" "the balancer learnt node4 from Redis"
touch "$WORK/go.B"
held holdB 127.0.20.24
wait_until 3 pin_set 127.0.20.24 || fail "no pin for the new source 127.0.20.24"
ADD_PIN_MS=$(ms_since "$T0")
assert_eq node4 "$(pin 127.0.20.24)" "the new source's pin (least connections: node4 has none)"
note "a new source pinned to node4 $ADD_PIN_MS ms after add-node began"
assert_cmp "$ADD_PIN_MS" -lt 2000 "add-node to a new VIP pin (ms)"
hold holdB2 127.0.20.25 127.0.20.26 127.0.20.27
B2=""
for s in 127.0.20.25 127.0.20.26 127.0.20.27; do
    wait_until 3 pin_set $s || fail "no pin for $s"
    B2+=" .${s##*.}->$(pin $s)"
done
note "three more sources:$B2"

# ---- 4. drain node2: out of DNS, no new pins, no new dialogs
T1=$EPOCHREALTIME
EP_RUN_TIMEOUT=30 ep_run drain "$LR" drain node2 || fail "drain: exit $?"
wait_until 5 dns_lacks 127.0.20.2 || fail "node2 still in the DNS answers: $(dns_a)"
DRAIN_DNS_MS=$(ms_since "$T1")
note "node2 out of the DNS answers $DRAIN_DNS_MS ms after drain began: $(dns_a)"
assert_cmp "$DRAIN_DNS_MS" -lt 2000 "drain to out of DNS (ms)"
hold holdC "$SRC_N2" 127.0.20.31 127.0.20.32 127.0.20.33 127.0.20.34
C=""
for s in "$SRC_N2" 127.0.20.31 127.0.20.32 127.0.20.33 127.0.20.34; do
    wait_until 3 pin_set "$s" || fail "no pin for $s"
    p=$(pin "$s")
    [ "$p" != node2 ] || fail "$s pinned to the drained node2"
    C+=" .${s##*.}->$p"
done
note "ok: new connections while node2 drains:$C (.${SRC_N2##*.} was pinned to node2)"
ep_py inv_drained <<'PY' || fail "a new INVITE to the drained node2: $EP_PY_MSG"
c = tls("127.0.20.2:5061", src="127.0.20.35")
inv = Req("INVITE", "sip:alice@contoso.test", c, frm="sip:carol@fabrikam.test", body="v=0\r\n")
c.send(inv)
m = c.expect(503, 5, "503 from the drained node")
ok("new INVITE to node2 answered: %s" % m.start)
PY
assert_eq 1 "$(dlg_keys)" "dialog records while node2 drains"

# ---- 5. remove node2; the dialog ends through another node
N2PID=$("$LR" pid node2) || fail "node2 not running before remove-node"
T2=$EPOCHREALTIME
EP_RUN_TIMEOUT=60 ep_run remove "$LR" remove-node node2 || fail "remove-node: exit $?"
REMOVE_MS=$(ms_since "$T2")
note "remove-node said: $(grep -o 'node2 removed.*' "$WORK/remove.log")"
! ep__running "$N2PID" || ! grep -q edge-node "/proc/$N2PID/cmdline" || fail "node2 (PID $N2PID) still runs"
assert_eq 0 "$(rc SISMEMBER ep:edgepool:nodes node2)" "node2 in the registry"
assert_eq "127.0.20.1,127.0.20.3,127.0.20.4" "$(dns_a)" "DNS A after remove-node"
assert_log "$RUN/node2.log" "drained \(0 transaction\(s\) left\): exiting" "node2 exited drained"
assert_eq 1 "$(dlg_keys)" "dialog records after node2 left"
BYE_TO=$(kdig @127.0.20.53 -p 5353 +short A sip.contoso.test | head -1)
note "the partner's BYE goes where sip.contoso.test resolves now: $BYE_TO"
T3=$EPOCHREALTIME
ep_py dlg_bye "$WORK/dialog.pickle" "$BYE_TO" <<'PY' || fail "the dialog's BYE: $EP_PY_MSG"
import pickle
inv, raw = pickle.load(open(sys.argv[1], "rb"))
c = tls(sys.argv[2] + ":5061", src="127.0.20.30")
c.send(in_dialog("BYE", c, inv, Msg(raw), 2))
while True:
    m = c.recv(10)
    if m is None:
        fail("no final answer to the BYE")
    if m.status >= 200:
        break
if m.status != 200:
    fail("BYE answered %s" % m.start)
ok("BYE through %s answered 200" % sys.argv[2])
PY
BYE_MS=$(ms_since "$T3")
assert_log "$RUN/uas.log" "^REQ [0-9.]+ BYE ${BYE_TO//./\\.}:[0-9]+ fabrikam\.test " "the BYE reached the internal UA through $BYE_TO"
wait_until 3 dlg_keys_are 0 || fail "the dialog record is still in Redis after the BYE"
note "ok: the dialog record left Redis"

touch "$WORK/stop.hold"
for h in holdA holdB holdB2 holdC; do ep_wait $h 5 >/dev/null; done
EP_RUN_TIMEOUT=40 ep_run stop "$LR" stop || fail "local-run.sh stop: exit $?"
for f in "$RUN"/node*.log "$RUN"/balancer*.log; do
    ! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f" ||
        fail "sanitizer report in ${f#"$EP_ROOT"/}: $(grep -m1 -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f")"
done
pass "add-node: in DNS ${ADD_DNS_MS} ms, new pin ${ADD_PIN_MS} ms; drain: out of DNS ${DRAIN_DNS_MS} ms; remove-node ${REMOVE_MS} ms; BYE via $BYE_TO ${BYE_MS} ms"
