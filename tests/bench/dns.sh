# dns.sh -- the "dns" part of `make bench` (BENCH_ONLY=dns runs it alone):
# queries per second of edge-balancer's authoritative DNS against NSD 4.6
# serving the same records (issue 4, "Performance"). Sourced by run.sh.
#
# The zone: contoso.test with SOA, NS (+glue), the three SRV records,
# sip.contoso.test with 4 A records, edge1..4 A. NSD reads it from a zone
# file (tests/lib/dns.sh: server-count 1, rrl-ratelimit 0); edge-balancer
# builds the same from 4 static nodes (nothing listens on their addresses:
# fail open, so all 4 are answered) with dns.rrl off. The query mix (both
# servers, same file): the three SRV (answers with 4 additional A), A and
# AAAA (NODATA) of the pool name, a node's A, SOA, NS, an NXDOMAIN.
#
# Each server alone on the relay core (taskset, every thread), dnsperf (one
# thread, BENCH_DNS_CLIENTS sockets, BENCH_DNS_OUTSTANDING queries in
# flight) on the generator core, BENCH_DNS_SECS seconds after a 1 s warm-up,
# BENCH_DNS_ROUNDS rounds alternating the two servers; the best round of
# each is kept (the machine may be shared). Compared: answers per CPU-second
# of the server (utime+stime of its process tree over the run), since one
# dnsperf thread may saturate its core before the server does; the raw
# rate is printed too. Addresses 127.0.8.50-59.

BENCH_DNS_SECS=${BENCH_DNS_SECS:-10}
BENCH_DNS_ROUNDS=${BENCH_DNS_ROUNDS:-2}
BENCH_DNS_CLIENTS=${BENCH_DNS_CLIENTS:-4}
BENCH_DNS_OUTSTANDING=${BENCH_DNS_OUTSTANDING:-200}
. "$EP_LIB/dns.sh"

dns__files() {
    local d=$WORK/dnsbench
    mkdir -p "$d"
    cat >"$d/contoso.zone" <<'ZONE'
$ORIGIN contoso.test.
$TTL 5
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. 1 3600 600 86400 5
@ IN NS ns1.contoso.test.
ns1 IN A 127.0.8.54
sip IN A 127.0.8.41
sip IN A 127.0.8.42
sip IN A 127.0.8.43
sip IN A 127.0.8.44
_sipfederationtls._tcp IN SRV 0 0 5061 sip.contoso.test.
_sip._tls IN SRV 0 0 5061 sip.contoso.test.
_xmpp-server._tcp IN SRV 0 0 5269 sip.contoso.test.
edge1 IN A 127.0.8.41
edge2 IN A 127.0.8.42
edge3 IN A 127.0.8.43
edge4 IN A 127.0.8.44
ZONE
    cat >"$d/queries.txt" <<'Q'
_sipfederationtls._tcp.contoso.test SRV
_sip._tls.contoso.test SRV
_xmpp-server._tcp.contoso.test SRV
sip.contoso.test A
sip.contoso.test AAAA
edge1.contoso.test A
contoso.test SOA
contoso.test NS
nothere.contoso.test A
Q
    cat >"$WORK/balancer_dns.conf" <<'CONF'
balancer = { id = "bench"; log_level = "warn"; };
vip = { enabled = false; };
admin = { listen = ""; };
nodes = { static = [ "edge1@127.0.8.41", "edge2@127.0.8.42", "edge3@127.0.8.43", "edge4@127.0.8.44" ]; };
health = { interval_ms = 1000; };
dns = { listen = "127.0.8.53:5353"; ns = [ "ns1.contoso.test@127.0.8.54" ]; rrl = false; };
CONF
}

# dns__pin PID: the process and its descendants onto the relay core, every thread.
dns__pin() {
    local p
    [ "$PINNED" = 1 ] || return 0
    for p in $(ep__tree "$1"); do taskset -acp "$RELAY_CORE" "$p" >/dev/null || fail "cannot pin pid $p"; done
}

# dns__cpu PID: utime+stime ticks of the process and its descendants.
dns__cpu() {
    local p s sum=0 f
    for p in $(ep__tree "$1"); do
        read -r s 2>/dev/null <"/proc/$p/stat" || continue
        s=${s##*) }
        read -r -a f <<<"$s"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}

# dns__run LABEL ADDR PID: one dnsperf run against the server whose process
# tree is PID's; sets R[LABEL_{qps,lost,cpu,per_cpu}] when it beats the
# previous round of LABEL (per CPU-second).
dns__run() {
    local label=$1 addr=$2 out c0 c1 qps lost sent per
    shift 2
    timeout 10 dnsperf -s "$addr" -p 5353 -d "$WORK/dnsbench/queries.txt" -l 1 \
        -c "$BENCH_DNS_CLIENTS" -q "$BENCH_DNS_OUTSTANDING" >"$WORK/${label}_warm.dnsperf" 2>&1
    c0=$(dns__cpu "$@")
    out=$(timeout $((BENCH_DNS_SECS + 20)) dnsperf -s "$addr" -p 5353 -d "$WORK/dnsbench/queries.txt" \
        -l "$BENCH_DNS_SECS" -c "$BENCH_DNS_CLIENTS" -q "$BENCH_DNS_OUTSTANDING" 2>&1)
    c1=$(dns__cpu "$@")
    echo "$out" >>"$WORK/$label.dnsperf"
    qps=$(echo "$out" | sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p')
    lost=$(echo "$out" | sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p')
    sent=$(echo "$out" | sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p')
    if [ -z "$qps" ] || [ -z "$sent" ]; then
        note "$label: dnsperf gave no figures (${WORK#"$EP_ROOT"/}/$label.dnsperf)"
        return
    fi
    per=$(awk -v n="$sent" -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { c = t / hz; printf("%.0f", c > 0 ? n / c : 0) }')
    note "$label: $qps qps, $sent answered, $lost lost; server CPU $(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }') s: $per answers/CPU-s"
    if [ -z "${R[${label}_per_cpu]:-}" ] || [ "$per" -gt "${R[${label}_per_cpu]}" ]; then
        R[${label}_qps]=$(printf '%.0f' "$qps")
        R[${label}_lost]=$lost
        R[${label}_cpu]=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
        R[${label}_per_cpu]=$per
    fi
}

bench_dns() {
    need_cmd dnsperf nsd kdig
    need_bin edge-balancer
    note "== DNS: dnsperf -> edge-balancer and NSD (rrl off), the same records, $BENCH_DNS_ROUNDS round(s) of ${BENCH_DNS_SECS}s each"
    dns__files
    "$EP_BIN/edge-balancer" --check-config -c "$WORK/balancer_dns.conf" >/dev/null 2>&1 ||
        fail "balancer_dns.conf refused"
    local round nsd
    ep_at_exit dns_stop "$WORK/dnsbench/nsd"
    for round in $(seq 1 "$BENCH_DNS_ROUNDS"); do
        ep_spawn balancer_dns "$EP_BIN/edge-balancer" -f -c "$WORK/balancer_dns.conf"
        wait_tcp 127.0.8.53 5353 || fail "edge-balancer does not listen on 127.0.8.53:5353"
        dns__pin "$(ep_pid balancer_dns)"
        [ "$(kdig @127.0.8.53 -p 5353 +short A sip.contoso.test | wc -l)" = 4 ] ||
            fail "edge-balancer does not answer 4 A records"
        dns__run dns_bal 127.0.8.53 "$(ep_pid balancer_dns)"
        ep_stop balancer_dns >/dev/null || note "balancer_dns exit status $?"

        dns_start "$WORK/dnsbench/nsd" 127.0.8.54 5353 "$WORK/dnsbench/contoso.zone" ||
            fail "NSD did not start"
        nsd=$(cat "$WORK/dnsbench/nsd/nsd.bgpid")
        dns__pin "$nsd"
        [ "$(kdig @127.0.8.54 -p 5353 +short A sip.contoso.test | wc -l)" = 4 ] ||
            fail "NSD does not answer 4 A records"
        dns__run dns_nsd 127.0.8.54 "$nsd"
        dns_stop "$WORK/dnsbench/nsd"
    done
}

# The summary lines; BAD=1 when a figure is missing.
dns_summary() {
    local l
    echo "DNS queries (dnsperf, 1 thread, $BENCH_DNS_CLIENTS sockets, $BENCH_DNS_OUTSTANDING in flight, ${BENCH_DNS_SECS}s, best of $BENCH_DNS_ROUNDS), server on core $RELAY_CORE:"
    for l in dns_bal dns_nsd; do
        if [ -z "${R[${l}_per_cpu]:-}" ]; then
            printf '  %-14s not measured\n' "$l"
            BAD=1
            continue
        fi
        printf '  %-14s %7s qps  %7s answers/CPU-s  (server CPU %s s; %s lost)\n' \
            "$([ $l = dns_bal ] && echo edge-balancer || echo nsd)" "${R[${l}_qps]}" \
            "${R[${l}_per_cpu]}" "${R[${l}_cpu]}" "${R[${l}_lost]}"
    done
    printf 'DNS            edge-balancer: %s qps, %s/CPU-s | nsd: %s qps, %s/CPU-s | ratio %s per CPU-s (target >= 1.0), %s raw\n' \
        "${R[dns_bal_qps]:-n/a}" "${R[dns_bal_per_cpu]:-n/a}" "${R[dns_nsd_qps]:-n/a}" "${R[dns_nsd_per_cpu]:-n/a}" \
        "$(ratio "${R[dns_bal_per_cpu]:-}" "${R[dns_nsd_per_cpu]:-}")" "$(ratio "${R[dns_bal_qps]:-}" "${R[dns_nsd_qps]:-}")"
}
