#!/bin/bash
# balancer_dns.sh -- edge-balancer is the pool's authoritative DNS: kdig gets
# every record type (SRV x3 with additional, A rotated, AAAA, per-node, SOA,
# NS+glue, ANY), NXDOMAIN vs NODATA, REFUSED, FORMERR/NOTIMP/BADVERS for
# hand-made packets, TCP (several queries per connection, idle timeout),
# truncation then TCP fallback, EDNS0, and rate limiting; with a real Redis
# and three real edge-nodes registering themselves, a SIGKILLed node and a
# drained one leave the A answers within 2 s (measured), all unhealthy fails
# open (logged once), SIGHUP reloads the zone, and --check-config names
# file:line: key. Addresses: 127.0.13.0/24.
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/redis.sh"
ep_setup balancer_dns
need_cmd kdig redis-server redis-cli /usr/bin/python3
need_bin edge-balancer edge-node
ep_certs
CTL=""
for c in "$EP_BIN/edgectl" "$EP_ROOT/bin/edgectl"; do [ -x "$c" ] && { CTL=$c; break; }; done
DNSQ="/usr/bin/python3 $EP_LIB/dnsq.py"
BAL=127.0.13.53   # the pool's balancer (Redis registry)
STA=127.0.13.54   # a balancer with 40 static nodes (nothing listens: fail open)
R=127.0.13.100:6391

# dig SERVER ARGS...: kdig's full answer (no retries: a lost answer is a failure)
dig_() { local s=$1; shift; kdig @"$s" -p 5353 +norec +time=2 +retry=0 "$@" 2>&1; }
status() { dig_ "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1; }
count() { # SERVER SECTION ARGS...: the section's count in kdig's header line
    local s=$1 sec=$2
    shift 2
    dig_ "$s" "$@" | sed -n "s/.* $sec: \([0-9]*\).*/\1/p" | head -1
}
addrs() { dig_ "$1" +short A sip.contoso.test | sort | paste -sd, -; }
addrs_are() { [ "$(addrs "$1")" = "$2" ]; } # SERVER LIST: for wait_until

# --- the configuration is checked, naming file:line: key ---------------------
"$EP_BIN/edge-balancer" --print-config >"$WORK/reference.conf" || fail "--print-config failed"
"$EP_BIN/edge-balancer" --check-config -c "$WORK/reference.conf" >"$WORK/check.out" 2>&1 ||
    fail "--print-config output is not a valid file: $(cat "$WORK/check.out")"
printf 'dns = {\n  zone = "contoso.test";\n  listen = "127.0.13.53";\n};\n' >"$WORK/bad1.conf"
"$EP_BIN/edge-balancer" --check-config -c "$WORK/bad1.conf" >"$WORK/bad1.out" 2>&1 && fail "a listen without port passed"
assert_match "bad1.conf:3: dns.listen: " "$(cat "$WORK/bad1.out")" "check-config of a bad dns.listen"
printf 'health = { check = "icmp"; };\nnodes = { static = [ "a@127.0.13.1",\n "b@nowhere" ]; };\n' >"$WORK/bad2.conf"
"$EP_BIN/edge-balancer" --check-config -c "$WORK/bad2.conf" >"$WORK/bad2.out" 2>&1 && fail "check icmp passed"
assert_match "bad2.conf:1: health.check: " "$(cat "$WORK/bad2.out")" "check-config of health.check"
sed -i 's/icmp/tcp/' "$WORK/bad2.conf"
"$EP_BIN/edge-balancer" --check-config -c "$WORK/bad2.conf" >"$WORK/bad2.out" 2>&1 && fail "b@nowhere passed"
assert_match "bad2.conf:3: nodes.static: " "$(cat "$WORK/bad2.out")" "check-config of nodes.static"
printf 'dns = { ttl = 5; bogus = 1; };\n' >"$WORK/bad3.conf"
"$EP_BIN/edge-balancer" --check-config -c "$WORK/bad3.conf" >"$WORK/bad3.out" 2>&1 && fail "an unknown key passed"
assert_match "bad3.conf:1: dns.bogus: unknown setting" "$(cat "$WORK/bad3.out")" "check-config of an unknown key"

# --- a pool: Redis, three edge-nodes registering, the balancer reading them ---
redis_start redis 127.0.13.100 6391
for i in 1 2 3; do
    node_conf node$i 127.0.13.$i 127.0.13.90:5070 "" "" "" "addr = \"$R\";"
    node_start node$i
done
redis_wait $R 10 SCARD ep:edgepool:nodes -- 3 || fail "the nodes did not register"

cat >"$WORK/balancer1.conf" <<CONF
balancer = { id = "balancer1"; log_level = "info"; };
vip = { enabled = false; };
admin = { listen = "$BAL:8081"; };
redis = { addr = "$R"; };
tls = { cert = "$EP_CERTS/contoso-edge.crt"; key = "$EP_CERTS/contoso-edge.key"; ca = "$EP_CERTS/ca.crt"; };
health = { check = "sip"; interval_ms = 500; timeout_ms = 1000; rise = 2; fall = 2; };
dns = { listen = "$BAL:5353"; ns = [ "ns1.contoso.test@$BAL" ]; ttl = 5; rrl_rate = 5000; };
CONF
"$EP_BIN/edge-balancer" --check-config -c "$WORK/balancer1.conf" >/dev/null 2>&1 || fail "balancer1.conf refused"
ep_spawn balancer1 "$EP_BIN/edge-balancer" -f -c "$WORK/balancer1.conf"
wait_tcp $BAL 5353 || fail "balancer1 does not listen"
wait_until 10 addrs_are $BAL "127.0.13.1,127.0.13.2,127.0.13.3" ||
    fail "sip.contoso.test does not list the 3 nodes: $(addrs $BAL)"
note "A sip.contoso.test: $(addrs $BAL) (SIP OPTIONS checks over mutual TLS)"
assert_no_log "$WORK/balancer1.log" "is down" "no node ever down"

# --- every record type ----------------------------------------------------------
for srv in _sipfederationtls._tcp _sip._tls _xmpp-server._tcp; do
    out=$(dig_ $BAL SRV $srv.contoso.test)
    port=5061
    [ $srv = _xmpp-server._tcp ] && port=5269
    assert_match "status: NOERROR" "$out" "SRV $srv status"
    assert_match "Flags: qr aa;" "$out" "SRV $srv flags (AA, no RA)"
    assert_match "$srv\.contoso\.test\.[[:space:]]+5[[:space:]]+IN[[:space:]]+SRV[[:space:]]+0 0 $port sip\.contoso\.test\." "$out" "SRV $srv record"
    assert_eq 3 "$(echo "$out" | grep -cE '^sip\.contoso\.test\..*IN[[:space:]]+A[[:space:]]')" "SRV $srv additional A records"
done
out=$(dig_ $BAL A sip.contoso.test)
assert_match "ANSWER: 3;" "$out" "A sip.contoso.test"
assert_match "sip\.contoso\.test\.[[:space:]]+5[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.13\.1" "$out" "A record with TTL 5"
firsts=""
for k in 1 2 3 4 5 6; do firsts="$firsts $(dig_ $BAL +short A sip.contoso.test | head -1)"; done
assert_cmp "$(echo $firsts | tr ' ' '\n' | sort -u | wc -l)" -ge 2 "distinct first A records over 6 answers ($firsts)"
assert_eq NOERROR "$(status $BAL AAAA sip.contoso.test)" "AAAA sip (v4-only nodes): NODATA status"
assert_eq 0 "$(count $BAL ANSWER AAAA sip.contoso.test)" "AAAA sip answers"
assert_eq 1 "$(count $BAL AUTHORITY AAAA sip.contoso.test)" "AAAA sip NODATA carries the SOA"
assert_eq "127.0.13.2" "$(dig_ $BAL +short A node2.contoso.test)" "A node2.contoso.test"
out=$(dig_ $BAL SOA contoso.test)
assert_match "contoso\.test\.[[:space:]]+5[[:space:]]+IN[[:space:]]+SOA[[:space:]]+ns1\.contoso\.test\. hostmaster\.contoso\.test\. [0-9]+ 3600 600 86400 5" "$out" "SOA"
out=$(dig_ $BAL NS contoso.test)
assert_match "IN[[:space:]]+NS[[:space:]]+ns1\.contoso\.test\." "$out" "NS"
assert_match "ns1\.contoso\.test\..*IN[[:space:]]+A[[:space:]]+$BAL" "$out" "NS glue"
out=$(dig_ $BAL ANY contoso.test)
assert_match "ANSWER: 1;" "$out" "ANY answered minimally (one RRset)"
# negative answers
out=$(dig_ $BAL A nothere.contoso.test)
assert_match "status: NXDOMAIN" "$out" "NXDOMAIN"
assert_match "AUTHORITY: 1;" "$out" "NXDOMAIN carries the SOA"
assert_match "contoso\.test\.[[:space:]]+5[[:space:]]+IN[[:space:]]+SOA" "$out" "negative TTL 5"
assert_eq NOERROR "$(status $BAL TXT sip.contoso.test)" "TXT sip: NODATA"
assert_eq NOERROR "$(status $BAL SRV _tcp.contoso.test)" "empty non-terminal _tcp: NODATA"
assert_eq 0 "$(count $BAL ANSWER SRV _tcp.contoso.test)" "empty non-terminal answers"
assert_eq REFUSED "$(status $BAL A www.example.com)" "outside the zone"
assert_eq REFUSED "$(status $BAL -c CH TXT version.bind)" "class CH"
assert_match "error 'REFUSED'" "$(dig_ $BAL +tcp AXFR contoso.test)" "AXFR refused"
# EDNS0
out=$(dig_ $BAL +edns +bufsize=4096 +dnssec A sip.contoso.test)
assert_match "Version: 0; flags: do; UDP size: 1232 B" "$out" "EDNS0 OPT echoed (our size, DO copied)"
assert_eq BADVERS "$(status $BAL +edns=1 A sip.contoso.test)" "EDNS version 1"
# TCP
out=$(dig_ $BAL +tcp SRV _sipfederationtls._tcp.contoso.test)
assert_match "status: NOERROR" "$out" "SRV over TCP"
assert_match "\(TCP\)" "$out" "kdig used TCP"
assert_eq "answers 25 ids-ok True" "$($DNSQ multi $BAL 5353 25 sip.contoso.test A)" "25 queries on one TCP connection"
assert_match "^rcode=0 .* an=3 " "$($DNSQ split $BAL 5353 sip.contoso.test A)" "a query written a byte at a time"

# --- malformed input: the prescribed answer, never a crash ---------------------
Q=$($DNSQ query $BAL 5353 sip.contoso.test A)
assert_match "^rcode=0 .* an=3 " "$Q" "a plain query"
# header id 0x4242, RD, qd=1, name "sip.contoso.test", A IN
GOOD=4242010000010000000000000373697007636f6e746f736f04746573740000010001
assert_match "^rcode=0 " "$($DNSQ raw $BAL 5353 $GOOD)" "raw good query"
assert_match "^rcode=1 .*id=0x4242" "$($DNSQ raw $BAL 5353 4242010000020000000000000373697007636f6e746f736f04746573740000010001)" "qdcount 2: FORMERR"
assert_match "^rcode=1 " "$($DNSQ raw $BAL 5353 4242010000010000000000000373697007636f6e746f736f047465)" "truncated name: FORMERR"
assert_match "^rcode=1 " "$($DNSQ raw $BAL 5353 424201000001000000000000c00c00010001)" "compression pointer in the question: FORMERR"
assert_match "^rcode=1 " "$($DNSQ raw $BAL 5353 4242010000010000000000000373697007636f6e746f736f04746573740000010001ffff)" "trailing garbage: FORMERR"
assert_match "^rcode=1 " "$($DNSQ raw $BAL 5353 4242010000010000000000014a697007636f6e746f736f04746573740000010001)" "bad label type: FORMERR"
assert_match "^rcode=4 " "$($DNSQ raw $BAL 5353 4242200000010000000000000373697007636f6e746f736f04746573740000010001)" "NOTIFY opcode: NOTIMP"
assert_eq noanswer "$($DNSQ raw $BAL 5353 4242)" "2 bytes: no answer"
assert_eq noanswer "$($DNSQ raw $BAL 5353 4242810000010000000000000373697007636f6e746f736f04746573740000010001)" "a response: no answer"
assert_match "^rcode=1 " "$($DNSQ raw $BAL 5353 4242010000010000000000000373697007636f6e746f736f047465 tcp)" "FORMERR over TCP too"
junk=$($DNSQ junk $BAL 5353 2000 7)
note "junk: $junk"
ep_alive balancer1 || fail "balancer1 died on junk"
assert_match "^rcode=0 .* an=3 " "$($DNSQ query $BAL 5353 sip.contoso.test A)" "answers after 2000 junk packets"
assert_log "$WORK/balancer1.log" "malformed \(FORMERR\) query from 127\.0\.0\.1" "malformed queries logged"
bad_lines=$(grep -c "malformed" "$WORK/balancer1.log")
assert_cmp "$bad_lines" -le 20 "log lines for 2000 bad packets (at most one a second)"
# an idle TCP connection is closed (dns.tcp_idle_timeout, 10 s by default: see below with 2 s)

# --- truncation then TCP: 40 static nodes, none listening (fail open: all 40) ---
cat >"$WORK/balancer_static.conf" <<CONF
vip = { enabled = false; };
admin = { listen = ""; };
nodes = { static = [ $(for i in $(seq 101 140); do printf '"s%d@127.0.13.%d", ' $i $i; done) "s141@127.0.13.141" ]; };
health = { interval_ms = 200; };
dns = { listen = "$STA:5353"; ns = [ "ns1.contoso.test@$STA" ]; rrl_rate = 20; rrl_slip = 2; tcp_idle_timeout = 2; };
CONF
ep_spawn balancer_static "$EP_BIN/edge-balancer" -f -c "$WORK/balancer_static.conf"
wait_tcp $STA 5353 || fail "balancer_static does not listen"
wait_log "$WORK/balancer_static.log" "no healthy node: answering sip.contoso.test with all 41 known node\(s\) \(fail open\)" 5 ||
    fail "no fail-open line"
out=$(dig_ $STA +ignore A sip.contoso.test)
assert_match "Flags: qr aa tc;" "$out" "41 A records over UDP/512: TC=1"
assert_match "ANSWER: 0;" "$out" "the truncated answer is empty"
out=$(dig_ $STA A sip.contoso.test)
assert_match "\(TCP\)" "$out" "kdig retried over TCP"
assert_match "ANSWER: 41;" "$out" "TCP carries all 41"
out=$(dig_ $STA +bufsize=1232 A sip.contoso.test)
assert_match "ANSWER: 41;" "$out" "EDNS 1232 carries all 41 over UDP"
assert_match "\(UDP\)" "$out" "... over UDP"
out=$(dig_ $STA +bufsize=1232 SRV _sip._tls.contoso.test)
assert_match "ANSWER: 1; AUTHORITY: 0; ADDITIONAL: 42" "$out" "SRV with 41 additional A (+OPT) in 1232"
out=$(dig_ $STA +ignore SRV _sip._tls.contoso.test)
assert_match "Flags: qr aa;.*ANSWER: 1; AUTHORITY: 0; ADDITIONAL: 0" "$(echo "$out" | tr '\n' ' ')" "SRV in 512: additional dropped, no TC"
assert_eq 1 "$(grep -c 'fail open' "$WORK/balancer_static.log")" "fail open logged once"
# rate limiting: 20/s per /24, slip 2
b=$($DNSQ blast $STA 5353 300 contoso.test SOA)
note "RRL burst: $b"
[[ $b =~ sent\ ([0-9]+)\ answered\ ([0-9]+)\ full\ ([0-9]+)\ truncated\ ([0-9]+) ]] || fail "blast output: $b"
answered=${BASH_REMATCH[2]} full=${BASH_REMATCH[3]} slipped=${BASH_REMATCH[4]}
assert_cmp "$full" -le 30 "full answers to 300 in a burst (20/s)"
assert_cmp "$full" -ge 1 "full answers within the rate"
assert_cmp "$slipped" -ge 100 "slipped (TC=1) answers"
assert_cmp "$answered" -le 200 "answered of 300 (the rest dropped)"
assert_log "$WORK/balancer_static.log" "rate limit: 127\.0\.0\.0/24 over 20 answers/s" "RRL logged"
assert_match "ANSWER: 41;" "$(dig_ $STA +tcp A sip.contoso.test)" "TCP not rate limited"
sleep 1.1
assert_eq NOERROR "$(status $STA SOA contoso.test)" "answers again after a second"
idle=$($DNSQ idle $STA 5353)
note "idle TCP connection closed after $idle s"
assert_match "^[23]\." "$idle" "idle TCP closed after dns.tcp_idle_timeout (2 s)"
ep_stop balancer_static || fail "balancer_static exit status $?"

# --- a node SIGKILLed leaves the A answers within 2 s ------------------------------
removal() { # NAME IP: seconds (ms precision) until IP leaves the A answers, or fail at 5 s
    local t0 t1 a
    t0=$(ep__now)
    while :; do
        a=$(addrs $BAL)
        [[ ",$a," != *",$2,"* ]] && break
        [ $(($(ep__now) - t0)) -gt 5000000 ] && fail "$1 ($2) still in the A answers after 5 s: $a"
        sleep 0.02
    done
    t1=$(ep__now)
    awk -v us=$((t1 - t0)) 'BEGIN { printf "%.3f", us / 1e6 }'
}
ep_kill node2 KILL
T_KILL=$(removal node2 127.0.13.2)
note "node2 SIGKILLed: out of the A answers after $T_KILL s: $(addrs $BAL)"
assert_cmp "$(awk -v t="$T_KILL" 'BEGIN { print int(t * 1000) }')" -lt 2000 "ms until a killed node leaves DNS"
assert_eq "127.0.13.1,127.0.13.3" "$(addrs $BAL)" "A after node2's death"
assert_match "127\.0\.13\.2" "$(dig_ $BAL +short A node2.contoso.test)" "node2 keeps its own name"
assert_log "$WORK/balancer1.log" "node node2 \(127\.0\.13\.2:5061\) is down: SIP OPTIONS check failed" "node2's down line"

# --- drained with edgectl: out of DNS; undrained: back ---------------------------
if [ -n "$CTL" ]; then
    t0=$(ep__now)
    "$CTL" --redis $R node drain node3 >"$WORK/drain.out" 2>&1 || fail "edgectl node drain: $(cat "$WORK/drain.out")"
    T_DRAIN=$(removal node3 127.0.13.3)
    note "node3 drained (edgectl): out of the A answers after $T_DRAIN s"
    assert_cmp "$(awk -v t="$T_DRAIN" 'BEGIN { print int(t * 1000) }')" -lt 2000 "ms until a drained node leaves DNS"
    assert_eq "127.0.13.1" "$(addrs $BAL)" "A with node3 drained"
    "$CTL" --redis $R node undrain node3 >>"$WORK/drain.out" 2>&1 || fail "edgectl node undrain"
    wait_until 3 addrs_are $BAL "127.0.13.1,127.0.13.3" || fail "node3 not back after undrain: $(addrs $BAL)"
else
    note "edgectl not built: drain by HSET + PUBLISH"
    rcli $R HSET ep:edgepool:node:node3 drain 1 >/dev/null
    rcli $R PUBLISH ep:edgepool:nodes "drain node3" >/dev/null
    T_DRAIN=$(removal node3 127.0.13.3)
    rcli $R HSET ep:edgepool:node:node3 drain 0 >/dev/null
    rcli $R PUBLISH ep:edgepool:nodes "undrain node3" >/dev/null
    wait_until 3 addrs_are $BAL "127.0.13.1,127.0.13.3" || fail "node3 not back after undrain"
fi

# --- all unhealthy: fail open (logged once), then back --------------------------
ep_kill node1 KILL
ep_kill node3 KILL
wait_log "$WORK/balancer1.log" "no healthy node: answering sip.contoso.test with all 3 known" 5 || fail "no fail-open line"
assert_eq "127.0.13.1,127.0.13.2,127.0.13.3" "$(addrs $BAL)" "all unhealthy: every node answered (fail open)"
sleep 4 # the alive keys expire too: still open, still said once
assert_eq "127.0.13.1,127.0.13.2,127.0.13.3" "$(addrs $BAL)" "fail open after the liveness expired"
assert_eq 1 "$(grep -c 'no healthy node' "$WORK/balancer1.log")" "fail open logged once"
ep_wait node1 5 >/dev/null
ep_wait node3 5 >/dev/null
node_start node1
wait_until 5 addrs_are $BAL "127.0.13.1" || fail "node1 restarted, not alone in A: $(addrs $BAL)"
assert_log "$WORK/balancer1.log" "1 healthy node\(s\) again" "recovery logged"

# --- SIGHUP reloads the zone settings; a bad file is refused ---------------------
sed -i 's/ttl = 5;/ttl = 7;/' "$WORK/balancer1.conf"
ep_kill balancer1 HUP
wait_until 5 eval '[[ "$(dig_ $BAL A sip.contoso.test)" =~ sip\.contoso\.test\.[[:space:]]+7[[:space:]] ]]' ||
    fail "TTL 7 not served after SIGHUP"
cp "$WORK/balancer1.conf" "$WORK/balancer1.good"
sed -i 's/ttl = 7;/ttl = "x";/' "$WORK/balancer1.conf"
ttl_line=$(grep -n 'ttl = "x"' "$WORK/balancer1.conf" | cut -d: -f1)
ep_kill balancer1 HUP
wait_log "$WORK/balancer1.log" "reload refused, keeping the running configuration: .*balancer1\.conf:$ttl_line: dns\.ttl: expected an integer" 5 ||
    fail "bad reload not refused"
assert_match "ANSWER: 1;" "$(dig_ $BAL A sip.contoso.test)" "still answering after a refused reload"
ep_kill balancer1 USR1
wait_log "$WORK/balancer1.log" "log level is now" 5 || fail "SIGUSR1 did not cycle the log level"

ep_stop balancer1 || fail "balancer1 exit status $?"
assert_log "$WORK/balancer1.log" "stopped" "clean stop"
pass "killed node out of DNS in $T_KILL s, drained node in $T_DRAIN s"
