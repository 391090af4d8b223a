#!/bin/bash
# node_kill_under_load.sh -- an edge node SIGKILLed under SIP load loses no
# established dialog, and the balancer's DNS drops it within 2 s.
#
# The pool runs on hosts of its own (deploy/netns-pool.sh through
# tests/lib/netns.sh: network namespaces epft-nk-*, state in $WORK/pool):
# Redis, the balancer (DNS), node1..3, fabrikam.test's Kamailio edge, our front
# end (a Kamailio in front of a SIPp UAS). Calls come from fabrikam.test: a
# SIPp UAC on the partner host over TCP to its Kamailio, which relays them
# over mutual TLS to sip.contoso.test resolved through our balancer's DNS
# (Kamailio's DNS cache and failover on: deploy/netns/kamailio-partner.cfg);
# INVITE/200/ACK, held 6 s, BYE from the partner side. While many dialogs are
# established through node1 (counted in Redis), node1 gets SIGKILL; then:
#  - every call whose 200 came (established) has its BYE answered 200: the
#    partner's Kamailio, refused by node1's address, fails over to the next A
#    record of sip.contoso.test (or has already re-resolved it without node1)
#    and node2/node3 route the BYE from its Route set; the BYEs of the
#    dialogs node1 held are checked one by one (the partner's log names the
#    node that answered each); node1 is killed while it takes the new
#    dialogs, i.e. first in the partner's cached answer, so the failover
#    itself is exercised (its count is printed);
#  - calls cut in their setup at the kill (INVITE in flight through node1)
#    are counted apart: the issue asks for no *established* dialog lost; at
#    most 5;
#  - the time until the balancer's answers (asked from the partner's host)
#    stop listing node1 is < 2 s;
#  - a legacy partner (a mutual-TLS client on the legacy host, reaching us
#    only through the balancer's VIP) pinned to node1 before the kill is
#    served by node2 or node3 on its next connection (an OPTIONS answered
#    200), and re-pinned there in Redis.
# Figures: calls total / established at the kill (all, through node1) / BYEs
# ok / failed (established then failed, setups cut), the partner's failovers,
# DNS removal time, time until the legacy partner is served again.
# The UAS (tests/sipp/uas_invite_fe.xml) answers 200 to a BYE that comes
# twice: a node killed while relaying its 200 makes the partner fail the BYE
# over to another node after its fr_timer (3 s).
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/netns.sh"
ep_setup node_kill_under_load
need_cmd ip sipp kamailio redis-server redis-cli nsd kdig
need_bin edge-node edge-balancer
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
ep_certs

CALLS=240 RATE=20 HOLD_MS=6000
N1_MIN=25 # dialogs node1 must hold when it is killed (about 40 at the steady state)
# the partner caches our A records 2 s at most, so the balancer's rotation
# spreads new dialogs over the three nodes within the first seconds
netns_pool_up epft-nk- EP_DNS_TTL=2 EP_PARTNER_TTL=2
N1=$(netns_addr node1) PAR=$(netns_addr partner) FE=$(netns_addr fe) BAL=$(netns_addr balancer)
VIP=$(netns_addr vip) LEG=$(netns_addr legacy)
rcl() { nsx redis redis-cli -h "$(netns_addr redis)" -p 6379 --raw "$@"; }

# the dialogs in Redis, one snapshot (one EVAL): "n <node>=<count>" per node,
# then "c <Call-ID>" for each dialog held by node ARGV[1]
LUA_DLG="local t, ids = {}, {} for _, k in ipairs(redis.call('keys', 'ep:edgepool:dlg:*')) do
  local n = redis.call('hget', k, 'node') or '?' t[n] = (t[n] or 0) + 1
  if n == ARGV[1] then ids[#ids + 1] = 'c ' .. (redis.call('hget', k, 'call_id') or '?') end end
  local r = {} for n, c in pairs(t) do r[#r + 1] = 'n ' .. n .. '=' .. c end
  for _, i in ipairs(ids) do r[#r + 1] = i end return r"
dlg_counts() { rcl EVAL "$LUA_DLG" 0 - | sed -n 's/^n //p' | sort | paste -sd' ' -; }
dlg_of() { # NODE: how many dialogs Redis says NODE holds
    local c
    c=$(dlg_counts | tr ' ' '\n' | sed -n "s/^$1=//p")
    echo "${c:-0}"
}
# node1 holds N1_MIN dialogs and takes the new ones (first in the partner's
# cached A records): the partner then tries node1's address first for every
# request (new INVITEs and BYEs alike) until its cache entry expires, so the
# kill makes it fail over across the A records, not only re-resolve
node1_holds_many() {
    local c1 c2
    c1=$(dlg_of node1)
    [ "$c1" -ge $N1_MIN ] || return 1
    sleep 0.15
    c2=$(dlg_of node1)
    [ "$c2" -gt "$c1" ]
}
# legacy_options N: an OPTIONS to the pool over a new mutual-TLS connection
# from the legacy host through the VIP; prints the answer's status line and
# how long connect, handshake and answer took ("SIP/2.0 200 OK 12ms")
legacy_options() {
    nsx legacy timeout 5 /usr/bin/python3 - "$VIP" "$LEG" "$1" "$EP_CERTS" <<'PY' 2>&1 | tail -n 1
import socket, ssl, sys, time
vip, src, n, certs = sys.argv[1:5]
t0 = time.monotonic()
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.check_hostname = False
ctx.load_cert_chain(certs + "/fabrikam-edge.crt", certs + "/fabrikam-edge.key")
s = ctx.wrap_socket(socket.create_connection((vip, 5061), timeout=3))
s.sendall(("OPTIONS sip:sip.contoso.test SIP/2.0\r\nVia: SIP/2.0/TLS %s:5061;branch=z9hG4bKlegacy%s\r\n"
           "From: <sip:ping@fabrikam.test>;tag=l%s\r\nTo: <sip:sip.contoso.test>\r\nCall-ID: legacy-%s\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (src, n, n, n)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
print("%s %dms" % (buf.split(b"\r\n")[0].decode(errors="replace") or "closed", (time.monotonic() - t0) * 1000))
PY
}
legacy_lines() { cat "$WORK"/pool/node[23].log | grep -c "external TLS from ${LEG//./\\.}:"; }
a_records() { nsx partner kdig @"$BAL" +short +time=1 +retry=0 A sip.contoso.test 2>/dev/null | sort | paste -sd, -; }

# --- a legacy partner pinned to node1 (as a balancer would have done) -------
rcl SET "ep:edgepool:pin:$LEG" node1 PX 600000 >/dev/null
L=$(legacy_options 1)
assert_match "^SIP/2.0 200 OK [0-9]+ms$" "$L" "the legacy partner's OPTIONS through the VIP"
assert_log "$WORK/pool/node1.log" "external TLS from ${LEG//./\\.}:[0-9]+ established: peer certificate sip\.fabrikam\.test" \
    "node1 served the legacy partner (its address from the PROXY header)"
LEGACY_BEFORE=$(legacy_lines)

# --- the load: a UAS behind our front end, the UAC at fabrikam.test ----------
SIPP_TIMEOUT=60 SIPP_RECV_TIMEOUT=15000 SIPP_TRACE_MSG=0 netns_sipp_spawn uas fe uas_invite_fe.xml \
    -t t1 -i "$FE" -p 5070 -key fe_contact "$FE:5060" -m $CALLS
wait_until 10 eval 'nsx fe ss -Hltn "sport = :5070" | grep -q 5070' || fail "the UAS does not listen"
SIPP_TIMEOUT=60 SIPP_RECV_TIMEOUT=10000 SIPP_TRACE_MSG=0 netns_sipp_spawn uac partner uac_invite_hold_bye.xml \
    -t t1 -i "$PAR" -p 5090 -s alice -key to_domain contoso.test -key from_user bob \
    -key from_domain fabrikam.test -m $CALLS -r $RATE -d $HOLD_MS "$PAR:5060"

# --- node1 killed once it holds many established dialogs ---------------------
wait_until 15 node1_holds_many || fail "node1 never held $N1_MIN dialogs: $(dlg_counts)"
N1_PID=$(netns_pid node1) || fail "node1 is not running before the kill"
SNAP=$(rcl EVAL "$LUA_DLG" 0 node1)
AT_KILL=$(sed -n 's/^n //p' <<<"$SNAP" | sort | paste -sd' ' -)
mapfile -t N1_CALLS < <(sed -n 's/^c //p' <<<"$SNAP")
kill -KILL "$N1_PID" || fail "cannot SIGKILL node1 (pid $N1_PID)"
T0=$(ep__now)
note "node1 (pid $N1_PID) SIGKILLed; dialogs in Redis at the kill: $AT_KILL"
# the legacy partner's next connection (at once: the VIP finds node1 refusing)
n=2
until [[ $(legacy_options $n) =~ ^SIP/2.0\ 200\ OK\ ([0-9]+)ms$ ]]; do
    [ $(($(ep__now) - T0)) -gt 5000000 ] && fail "the legacy partner not served through the VIP 5 s after node1's death"
    n=$((n + 1))
    sleep 0.05
done
VIP_MS=$((($(ep__now) - T0) / 1000))
note "the legacy partner served again through the VIP $VIP_MS ms after the kill (attempt $((n - 1)): ${BASH_REMATCH[1]} ms for it)"
while :; do
    A=$(a_records)
    [[ ",$A," != *",$N1,"* ]] && [ -n "$A" ] && break
    [ $(($(ep__now) - T0)) -gt 5000000 ] && fail "node1 ($N1) still in the A answers 5 s after SIGKILL: $A"
    sleep 0.02
done
DNS_MS=$((($(ep__now) - T0) / 1000))
note "A sip.contoso.test without node1 after $DNS_MS ms: $A"
ep_alive uac || note "the UAC had already ended at the DNS check"

# --- the calls end ----------------------------------------------------------
LEGACY_PIN=$(rcl GET "ep:edgepool:pin:$LEG")
ep_wait uac 70
rc=$?
note "SIPp UAC exit status $rc"
TOTAL=$(sipp_count uac 'OutgoingCall(C)')
OK=$(sipp_ok uac)
FAILED=$(sipp_failed uac)
EST=$(grep -c '^EST ' "$WORK/uac.actions" 2>/dev/null)
BYEOK=$(grep -c '^BYEOK ' "$WORK/uac.actions" 2>/dev/null)
# established calls whose BYE did not get its 200
EST_LOST=$(comm -23 <(sed -n 's/^EST //p' "$WORK/uac.actions" | sort -u) \
    <(sed -n 's/^BYEOK //p' "$WORK/uac.actions" | sort -u) | grep -c .)
CUT=$((TOTAL - EST))
# sends to node1's address refused after the kill, each followed by the next A record
FAILOVERS=$(grep -cF "tcp_send(): $N1:5061: connect failed" "$WORK/pool/partner.log")
N1_EST=0 N1_BYEOK=0 N1_VIA_OTHERS=0 N1_ENDED=0 OTHERS="$(netns_addr node2)|$(netns_addr node3)"
OTHERS=${OTHERS//./\\.}
for c in "${N1_CALLS[@]}"; do
    # a BYE answered by node1 itself went through in the few ms between the
    # snapshot and the kill: that dialog had ended, not one held at the kill
    if grep -F "callid=$c" "$WORK/pool/partner.log" | grep -qF "EP-REPLY 200 BYE from=tls:$N1:"; then
        N1_ENDED=$((N1_ENDED + 1))
        continue
    fi
    N1_EST=$((N1_EST + 1))
    grep -qxF "BYEOK $c" "$WORK/uac.actions" && N1_BYEOK=$((N1_BYEOK + 1))
    grep -F "callid=$c" "$WORK/pool/partner.log" | grep -qE "EP-REPLY 200 BYE from=tls:($OTHERS):" &&
        N1_VIA_OTHERS=$((N1_VIA_OTHERS + 1))
done
note "calls: total $TOTAL, established $EST (at the kill, in Redis: $AT_KILL), BYEs ok $BYEOK, failed $FAILED (established then lost $EST_LOST, setups cut at the kill $CUT)"
note "node1's $N1_EST dialogs at the kill: $N1_BYEOK BYEs answered 200, $N1_VIA_OTHERS of them through node2/node3 ($N1_ENDED more in Redis ended by node1 just before the kill)"
note "the partner's sends refused by node1's address, then sent to the next A record (DNS failover): $FAILOVERS"
note "DNS: node1 out of the balancer's A answers $DNS_MS ms after SIGKILL; legacy partner served by $LEGACY_PIN through the VIP $VIP_MS ms after it"
[ -n "$(sed -n 's/^EST //p' "$WORK/uac.actions" | head -1)" ] || fail "no EST line in the UAC's log: ${WORK#"$EP_ROOT"/}/uac.actions"

assert_eq $CALLS "$TOTAL" "calls placed"
assert_cmp "$N1_EST" -ge $N1_MIN "dialogs established through node1 at the kill"
assert_cmp "$EST_LOST" -eq 0 "established dialogs lost (BYE without 200)"
assert_eq "$N1_EST" "$N1_BYEOK" "node1's dialogs ended by a BYE answered 200"
assert_eq "$N1_EST" "$N1_VIA_OTHERS" "node1's dialogs whose BYE went through node2/node3"
assert_eq "$EST" "$BYEOK" "BYEs answered 200 = calls established"
assert_eq "$((TOTAL - CUT))" "$OK" "SIPp's successful calls = calls not cut in setup"
assert_cmp "$CUT" -le 5 "setups cut at the kill (INVITEs in flight through node1)"
assert_cmp "$DNS_MS" -lt 2000 "ms until the balancer's DNS drops the killed node"
assert_log "$WORK/pool/balancer.log" "node node1 .* is down" "the balancer saw node1 down"
assert_match "^node[23]$" "$LEGACY_PIN" "the legacy partner's pin after node1's death"
assert_cmp "$(legacy_lines)" -gt "$LEGACY_BEFORE" "connections from the legacy partner at node2/node3"
assert_log "$WORK/pool/$LEGACY_PIN.log" "external TLS from ${LEG//./\\.}:[0-9]+ established" "$LEGACY_PIN served the legacy partner"

ep_stop uas 5 >/dev/null
netns_pool_check
pass "$EST calls established ($N1_EST through node1 at its SIGKILL), 0 lost, $CUT setups cut; node1 out of DNS in $DNS_MS ms; legacy partner on $LEGACY_PIN via the VIP after $VIP_MS ms"
