#!/bin/bash
# resolver_nsd.sh -- the shared resolver against a real NSD on 127.0.3.1:5300:
# RFC 2782 order and weights, A/AAAA and CNAME, NXDOMAIN, NODATA, "." target,
# TCP after truncation, server failover, timeouts on dead and silent servers,
# cache hits without traffic (NSD stopped), TTL expiry and negative caching.
set -u
ROOT=${EP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${EP_BIN:-$ROOT/build-san/bin}
TOOL=${BIN%/bin}/tools/ep-resolve
ADDR=127.0.3.1
PORT=5300
DEAD=127.0.3.9 # nothing listens there
GOOD=_sipfederationtls._tcp.fabrikam.test

for p in nsd nsd-checkconf kdig; do
    command -v $p >/dev/null || {
        echo "skipped: $p is not installed"
        exit 77
    }
done
[ -x "$TOOL" ] || {
    echo "FAIL: $TOOL is not built"
    exit 1
}
. "$ROOT/tests/lib/dns.sh"

WORK=$(mktemp -d /tmp/ep-resolver-nsd.XXXXXX)
SILENT_PID=
TOOL_PID=
cleanup() {
    [ -n "$TOOL_PID" ] && kill "$TOOL_PID" 2>/dev/null
    [ -n "$SILENT_PID" ] && kill "$SILENT_PID" 2>/dev/null
    dns_stop "$WORK/nsd"
    [ -n "${KEEP:-}" ] || rm -rf "$WORK" # KEEP=1 keeps the outputs
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

# run_tool NAME WANT_RC ARGS...: runs ep-resolve, output in $WORK/NAME.out;
# the exit status must be WANT_RC (so a sanitizer's exit code fails).
run_tool() {
    local name=$1 want=$2 rc
    shift 2
    "$TOOL" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null
    rc=$?
    if [ "$rc" != "$want" ]; then
        echo "--- $name: ep-resolve $*"
        cat "$WORK/$name.out" "$WORK/$name.err"
        fail "$name: exit status $rc, expected $want"
    fi
    if grep -q -e AddressSanitizer -e LeakSanitizer -e 'runtime error' "$WORK/$name.err"; then
        cat "$WORK/$name.err"
        fail "$name: sanitizer report"
    fi
}

# expect NAME LINE...: NAME's result lines (not '#') are exactly these.
expect() {
    local name=$1 got want
    shift
    got=$(grep -v '^#' "$WORK/$name.out")
    want=$(printf '%s\n' "$@")
    [ "$got" = "$want" ] || fail "$name: got [$got], expected [$want]"
}

# header NAME N: the -v line of NAME's Nth lookup.
header() { grep -E '^# (srv|addr) ' "$WORK/$1.out" | sed -n "${2}p"; }

# ---- The zones ----
mkdir -p "$WORK/zones"
{
    cat <<'EOF'
$ORIGIN fabrikam.test.
$TTL 300
@       IN SOA ns.fabrikam.test. hostmaster.fabrikam.test. 1 3600 600 86400 30
@       IN NS   ns
ns      IN A    127.0.3.1
_sipfederationtls._tcp IN SRV 10 60 5061 sip1
_sipfederationtls._tcp IN SRV 10 30 5061 sip2
_sipfederationtls._tcp IN SRV 10 10 5061 sip3
_sipfederationtls._tcp IN SRV 20 0  5062 backup
_sipfederationtls._tcp IN SRV 30 5  5063 last
sip1    IN A    127.0.3.11
sip1    IN AAAA ::1
sip2    IN A    127.0.3.12
sip3    IN A    127.0.3.13
sip3    IN A    127.0.3.14
backup  IN AAAA ::ffff:127.0.3.15
last    IN A    127.0.3.16
alias   IN CNAME sip1
_sipfederationtls._tcp.closed  IN SRV 0 0 0 .
_sipfederationtls._tcp.txtonly IN TXT "no SRV here"
_sipfederationtls._tcp.short 2 IN SRV 10 0 5061 sip1
EOF
    # Enough targets to overflow a 1232-byte UDP answer: c-ares must retry over TCP.
    for i in $(seq -w 1 40); do
        echo "_sipfederationtls._tcp.big IN SRV 10 $i 5061 a-rather-long-target-name-number-$i.fabrikam.test."
    done
} >"$WORK/zones/fabrikam.test.zone"
cat >"$WORK/zones/contoso.test.zone" <<'EOF'
$ORIGIN contoso.test.
$TTL 300
@       IN SOA ns.contoso.test. hostmaster.contoso.test. 1 3600 600 86400 1
@       IN NS  ns
ns      IN A   127.0.3.1
EOF

dns_start "$WORK/nsd" $ADDR $PORT "$WORK/zones/fabrikam.test.zone" "$WORK/zones/contoso.test.zone" ||
    fail "NSD did not start"
S=(--server $ADDR:$PORT --timeout-ms 500 --tries 2)

# ---- RFC 2782 order: 1000 requests coalesced onto one query, each ordered afresh ----
run_tool order 0 -v "${S[@]}" burst 1000 srv $GOOD stats
awk -v want=1000 '
    /^# srv/ { if (n) check(); n = 0; blocks++; next }
    /^stats/ { next }
    { n++; prio[n] = $1; host[n] = $4; ttl[n] = $5 }
    function check() {
        if (n != 5) { print "block with " n " targets"; bad = 1 }
        for (i = 2; i <= n; i++) if (prio[i] < prio[i-1]) { print "priorities out of order"; bad = 1 }
        if (host[4] != "backup.fabrikam.test" || host[5] != "last.fabrikam.test") { print "tail " host[4] " " host[5]; bad = 1 }
        if (ttl[1] != 300) { print "ttl " ttl[1]; bad = 1 }
        first[host[1]]++
    }
    END {
        if (n) check()
        if (blocks != want) { print blocks " results, expected " want; bad = 1 }
        # Draw in [0, 100]: sip1 61/101, sip2 30/101, sip3 10/101 first.
        exp1 = want * 61 / 101; exp2 = want * 30 / 101; exp3 = want * 10 / 101
        d1 = first["sip1.fabrikam.test"] - exp1; d2 = first["sip2.fabrikam.test"] - exp2
        d3 = first["sip3.fabrikam.test"] - exp3
        if (d1 * d1 > 75 * 75 || d2 * d2 > 75 * 75 || d3 * d3 > 75 * 75) {
            printf "first targets sip1 %d sip2 %d sip3 %d, expected about %d %d %d\n",
                first["sip1.fabrikam.test"], first["sip2.fabrikam.test"], first["sip3.fabrikam.test"], exp1, exp2, exp3
            bad = 1
        }
        exit bad
    }' "$WORK/order.out" || fail "SRV order (see above)"
grep -q '^stats requests=1000 queries=1 cache_hits=0 negative_hits=0 coalesced=999 failures=0$' \
    "$WORK/order.out" || fail "order: $(grep ^stats "$WORK/order.out")"

# ---- Addresses: IPv4 first, port filled in, one family, CNAME, NODATA ----
run_tool addr 2 "${S[@]}" addr sip1.fabrikam.test 5061 addr4 sip3.fabrikam.test 5061 \
    addr6 sip2.fabrikam.test 5061 addr backup.fabrikam.test 5062 addr alias.fabrikam.test 443 \
    addr 127.0.3.77 80
expect addr "127.0.3.11 5061" "::1 5061" "127.0.3.13 5061" "127.0.3.14 5061" NODATA \
    "::ffff:127.0.3.15 5062" "127.0.3.11 443" "::1 443" "127.0.3.77 80"

# ---- NXDOMAIN, NODATA, "." ----
run_tool neg 2 "${S[@]}" srv _sipfederationtls._tcp.nothere.fabrikam.test addr nothere.fabrikam.test 1 \
    srv _sipfederationtls._tcp.txtonly.fabrikam.test srv _sipfederationtls._tcp.closed.fabrikam.test
expect neg NXDOMAIN NXDOMAIN NODATA NODATA

# ---- TCP after truncation ----
kdig @$ADDR -p $PORT +bufsize=1232 +ignore SRV _sipfederationtls._tcp.big.fabrikam.test |
    grep -qi 'flags:.* tc' || fail "the big SRV set is not truncated over UDP: the test proves nothing"
run_tool big 0 "${S[@]}" srv _sipfederationtls._tcp.big.fabrikam.test
[ "$(grep -c ' a-rather-long-target-name-number-' "$WORK/big.out")" = 40 ] ||
    fail "big: $(wc -l <"$WORK/big.out") lines, expected 40 targets"

# ---- Negative TTLs: SOA MINIMUM, negative_ttl_max; min_ttl floor ----
run_tool negttl_soa 2 -v "${S[@]}" srv nx.contoso.test sleep 1500 srv nx.contoso.test stats
header negttl_soa 2 | grep -q ' NXDOMAIN 0 network ' ||
    fail "contoso's NXDOMAIN (SOA minimum 1) cached beyond 1 s: $(header negttl_soa 2)"
run_tool negttl_cap 2 -v "${S[@]}" --negative-ttl-max 1 srv nx.fabrikam.test sleep 1500 \
    srv nx.fabrikam.test
header negttl_cap 2 | grep -q ' NXDOMAIN 0 network ' ||
    fail "NXDOMAIN cached beyond negative-ttl-max 1: $(header negttl_cap 2)"
run_tool negttl_kept 2 -v "${S[@]}" srv nx.fabrikam.test sleep 1500 srv nx.fabrikam.test
header negttl_kept 2 | grep -q ' NXDOMAIN 0 cache ' ||
    fail "NXDOMAIN (SOA minimum 30) not cached: $(header negttl_kept 2)"
run_tool minttl 0 -v "${S[@]}" --min-ttl 10 srv _sipfederationtls._tcp.short.fabrikam.test \
    sleep 2500 srv _sipfederationtls._tcp.short.fabrikam.test
header minttl 2 | grep -q ' OK 1 cache ' || fail "min-ttl 10 did not keep a TTL-2 answer: $(header minttl 2)"

# ---- Failover: the first server is dead, the second answers ----
run_tool failover 0 -v --server $DEAD:$PORT,$ADDR:$PORT --timeout-ms 300 --tries 2 srv $GOOD
[ "$(grep -vc '^#' "$WORK/failover.out")" = 5 ] || fail "failover: $(cat "$WORK/failover.out")"

# ---- Cache hits without traffic, TTL expiry, negative caching: NSD stopped midway ----
mkfifo "$WORK/ctl"
"$TOOL" -v "${S[@]}" --timeout-ms 300 --tries 1 \
    srv $GOOD addr sip1.fabrikam.test 5061 srv nx.fabrikam.test \
    srv _sipfederationtls._tcp.txtonly.fabrikam.test srv _sipfederationtls._tcp.closed.fabrikam.test \
    srv _sipfederationtls._tcp.short.fabrikam.test \
    wait \
    srv $GOOD addr sip1.fabrikam.test 5061 srv nx.fabrikam.test \
    srv _sipfederationtls._tcp.txtonly.fabrikam.test srv _sipfederationtls._tcp.closed.fabrikam.test \
    sleep 2500 srv _sipfederationtls._tcp.short.fabrikam.test srv never-asked.fabrikam.test stats \
    <"$WORK/ctl" >"$WORK/stop.out" 2>"$WORK/stop.err" &
TOOL_PID=$!
exec 7>"$WORK/ctl"
for i in $(seq 1 100); do
    grep -q '^# waiting' "$WORK/stop.out" && break
    sleep 0.1
done
grep -q '^# waiting' "$WORK/stop.out" || fail "stop: first half did not finish: $(cat "$WORK/stop.out")"
dns_stop "$WORK/nsd"
kdig @$ADDR -p $PORT +time=1 +retry=0 SOA fabrikam.test 2>&1 | grep -q 'status: NOERROR' &&
    fail "NSD still answers after dns_stop"
echo go >&7
exec 7>&-
wait $TOOL_PID
rc=$?
TOOL_PID=
[ $rc = 2 ] || {
    cat "$WORK/stop.out" "$WORK/stop.err"
    fail "stop: exit status $rc, expected 2"
}
grep -q -e AddressSanitizer -e 'runtime error' "$WORK/stop.err" && fail "stop: sanitizer report"
# before the wait: 6 results, then the headers after it, in order
h() { header stop "$1"; }
for k in 1 2 3 4 5 6; do
    h $k | grep -q ' network ' || fail "stop: lookup $k did not go to the network: $(h $k)"
done
h 7 | grep -q "^# srv $GOOD OK 5 cache " || fail "stop: SRV not from the cache: $(h 7)"
h 8 | grep -q '^# addr sip1.fabrikam.test OK 2 cache ' || fail "stop: addresses not from the cache: $(h 8)"
h 9 | grep -q ' NXDOMAIN 0 cache ' || fail "stop: NXDOMAIN not cached: $(h 9)"
h 10 | grep -q ' NODATA 0 cache ' || fail "stop: NODATA not cached: $(h 10)"
h 11 | grep -q ' NODATA 0 cache ' || fail "stop: \".\" target not cached: $(h 11)"
h 12 | grep -q ' TIMEOUT 0 network ' || fail "stop: TTL-2 answer outlived its TTL: $(h 12)"
h 13 | grep -q ' TIMEOUT 0 network ' || fail "stop: uncached name with NSD down: $(h 13)"
grep -q '^stats requests=15 queries=9 cache_hits=3 negative_hits=3 coalesced=0 failures=2$' \
    "$WORK/stop.out" || fail "stop: $(grep ^stats "$WORK/stop.out")"
# The cached SRV set is the same five targets, TTL counting down from 300.
awk '/^# (srv|addr) /{b++; next} /^#/{next} b==7 {print $4, ($5 <= 300 && $5 >= 290)}' "$WORK/stop.out" | sort |
    tr '\n' ' ' | grep -q '^backup.fabrikam.test 1 last.fabrikam.test 1 sip1.fabrikam.test 1 sip2.fabrikam.test 1 sip3.fabrikam.test 1 $' ||
    fail "stop: cached SRV set: $(cat "$WORK/stop.out")"

# ---- Timeouts: a dead server (refused at once) and a silent one (real timeout) ----
run_tool dead 2 -v --server $DEAD:$PORT --timeout-ms 200 --tries 2 srv $GOOD
h=$(header dead 1)
ms=${h##* }
ms=${ms%ms}
echo "$h" | grep -q ' TIMEOUT 0 network ' || fail "dead server: $h"
[ "$ms" -lt 3000 ] || fail "dead server: $ms ms"

PY=/usr/bin/python3
if [ -x $PY ]; then
    $PY -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("'$DEAD'", '$((PORT + 1))'))
print("bound", flush=True)
time.sleep(60)' >"$WORK/silent.log" 2>&1 &
    SILENT_PID=$!
    for i in $(seq 1 50); do
        grep -q bound "$WORK/silent.log" && break
        sleep 0.1
    done
    grep -q bound "$WORK/silent.log" || fail "silent server: $(cat "$WORK/silent.log")"
    run_tool silent 2 -v --server $DEAD:$((PORT + 1)) --timeout-ms 200 --tries 2 srv $GOOD
    h=$(header silent 1)
    ms=${h##* }
    ms=${ms%ms}
    echo "$h" | grep -q ' TIMEOUT 0 network ' || fail "silent server: $h"
    # c-ares waits 200 ms, then 400 ms on the second round
    [ "$ms" -ge 500 ] && [ "$ms" -lt 3000 ] || fail "silent server: TIMEOUT after $ms ms"
    kill "$SILENT_PID" 2>/dev/null
    SILENT_PID=
else
    echo "note: no $PY, silent-server timeout not exercised"
fi

echo "resolver_nsd: all checks passed"
exit 0
