# vip.sh -- the VIP part of `make bench` (BENCH_ONLY=vip runs it alone):
# edge-balancer's VIP against HAProxy 2.6 in TCP mode with `stick on src`
# (leastconn, option redispatch), sourced by tests/bench/run.sh, whose
# helpers it uses (bench_pin, bench_cpu, want, R, GEN_CORE...).
#
# The same two backends for both (tests/tools/vip_load echo on
# 127.0.14.151:5061 and .152:5061), the same load generator (vip_load, from
# one source address: every connection pinned / stuck to one backend), the
# proxies one thread each on the relay core, backends and load on the
# generator core. Static nodes and no PROXY header on the balancer's side
# (the echo backends speak none), health checks TCP every
# BENCH_VIP_INTER ms with rise 2 / fall 2 on both sides.
#   rate      BENCH_VIP_CONC connections at a time, each connect, 5 bytes
#             there and back, close, for BENCH_VIP_SECS s
#   tput      4 connections streaming 16 KiB blocks through the echo
#   failover  a prober asks which backend serves it every 5 ms; that backend
#             is SIGKILLed; the time until another backend answers
# Each of rate and tput runs BENCH_VIP_ROUNDS times per proxy, alternating;
# the figure kept is the median per CPU-second of the proxy (utime+stime),
# the raw rate printed too. Addresses: 127.0.14.0/24.
#
# Environment: BENCH_VIP_SECS (5), BENCH_VIP_CONC (64), BENCH_VIP_ROUNDS (3),
# BENCH_VIP_INTER (500).

BENCH_VIP_SECS=${BENCH_VIP_SECS:-5}
BENCH_VIP_CONC=${BENCH_VIP_CONC:-64}
BENCH_VIP_ROUNDS=${BENCH_VIP_ROUNDS:-3}
BENCH_VIP_INTER=${BENCH_VIP_INTER:-500}
VLOAD=$EP_ROOT/build/tools/vip_load

vip_bench() {
    need_cmd haproxy
    make -C "$EP_ROOT" --no-print-directory build/tools/vip_load >"$WORK/vip_load.build.log" 2>&1 ||
        fail "cannot build vip_load (${WORK#"$EP_ROOT"/}/vip_load.build.log)"
    need_bin edge-balancer
    local gen=(taskset -c "$GEN_CORE") a
    [ "$PINNED" = 1 ] || gen=()
    for a in 151 152 202 203; do
        ! ep__listening 127.0.14.$a 5061 || fail "something already listens on 127.0.14.$a:5061"
    done

    ep_spawn vip_e1 "${gen[@]}" "$VLOAD" echo 127.0.14.151:5061 e1
    ep_spawn vip_e2 "${gen[@]}" "$VLOAD" echo 127.0.14.152:5061 e2
    wait_tcp 127.0.14.151 5061 && wait_tcp 127.0.14.152 5061 || fail "echo backends did not start"

    cat >"$WORK/balancer_vip.conf" <<CONF
balancer = { id = "bench"; log_level = "warn"; };
vip = { listen = "127.0.14.202"; ports = [ "5061" ]; proxy_protocol = false;
        max_connections_per_source = 100000; };
nodes = { static = [ "e1@127.0.14.151", "e2@127.0.14.152" ]; };
health = { check = "tcp"; interval_ms = $BENCH_VIP_INTER; timeout_ms = $BENCH_VIP_INTER;
           rise = 2; fall = 2; };
dns = { enabled = false; };
CONF
    cat >"$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 1800s
    timeout server 1800s
    retries 3
    option redispatch
listen vip
    bind 127.0.14.203:5061
    balance leastconn
    stick-table type ip size 100k expire 30m
    stick on src
    server e1 127.0.14.151:5061 check inter $BENCH_VIP_INTER rise 2 fall 2
    server e2 127.0.14.152:5061 check inter $BENCH_VIP_INTER rise 2 fall 2
CONF
    ep_spawn balancer_vip "$EP_BIN/edge-balancer" -f -c "$WORK/balancer_vip.conf"
    ep_spawn haproxy haproxy -db -f "$WORK/haproxy.cfg"
    wait_tcp 127.0.14.202 5061 || fail "edge-balancer's VIP does not listen"
    wait_tcp 127.0.14.203 5061 || fail "HAProxy does not listen"
    bench_pin balancer_vip
    bench_pin haproxy
    sleep $((BENCH_VIP_INTER * 3 / 1000 + 1)) # both see the backends up

    local r p name addr mode out c0 c1 t
    for p in bal hap; do # warm-up: pins, stick entries, first allocations
        addr=$([ $p = bal ] && echo 127.0.14.202 || echo 127.0.14.203)
        "${gen[@]}" "$VLOAD" rate $addr:5061 127.0.14.131 "$BENCH_VIP_CONC" 1 >>"$WORK/vip_warm.log" 2>&1
    done
    for r in $(seq 1 "$BENCH_VIP_ROUNDS"); do
        for mode in rate tput; do
            for p in bal hap; do
                name=$([ $p = bal ] && echo balancer_vip || echo haproxy)
                addr=$([ $p = bal ] && echo 127.0.14.202 || echo 127.0.14.203)
                read -r c0 _ <<<"$(bench_cpu "$name")"
                if [ $mode = rate ]; then
                    out=$("${gen[@]}" "$VLOAD" rate $addr:5061 127.0.14.131 "$BENCH_VIP_CONC" "$BENCH_VIP_SECS")
                else
                    out=$("${gen[@]}" "$VLOAD" tput $addr:5061 127.0.14.131 4 "$BENCH_VIP_SECS")
                fi
                read -r c1 _ <<<"$(bench_cpu "$name")"
                ep_alive "$name" || fail "$name died during the $mode run"
                echo "$p $mode round $r: $out (cpu $((c1 - c0)) ticks)" >>"$WORK/vip_runs.log"
                # "rate N conns in S s: R/s, E errors" / "tput B bytes back in S s: R MB/s, E errors"
                awk -v p=$p -v m=$mode -v tk=$((c1 - c0)) -v hz="$CLK_TCK" '{
                    n = $2; s = m == "tput" ? $6 : $5; err = $(NF - 1); cpu = tk / hz
                    if (m == "tput") n = n / 1e6
                    printf("%s %s %.1f %.1f %.2f %d\n", p, m, n / s, cpu > 0 ? n / cpu : 0, cpu, err) }' \
                    <<<"$out" >>"$WORK/vip_figures.txt"
                note "vip $p $mode round $r: $out, proxy CPU $((c1 - c0)) ticks"
            done
        done
    done

    # failover: the backend serving a fresh source is killed
    local src=140 who t_kill t_sw e
    for p in bal hap; do
        addr=$([ $p = bal ] && echo 127.0.14.202 || echo 127.0.14.203)
        src=$((src + 1))
        ep_spawn "vip_fo_$p" "${gen[@]}" "$VLOAD" failover $addr:5061 127.0.14.$src 15
        wait_log "$WORK/vip_fo_$p.log" "^serving " 10 || fail "failover probe ($p) found no backend"
        who=$(sed -n 's/^serving //p' "$WORK/vip_fo_$p.log")
        sleep 0.3
        t_kill=${EPOCHREALTIME//[!0-9]/}
        ep_kill "vip_$who" KILL
        ep_wait "vip_fo_$p" 20 >/dev/null
        t_sw=$(sed -n 's/^switched .* at \([0-9]*\) .*/\1/p' "$WORK/vip_fo_$p.log")
        if [ -n "$t_sw" ]; then
            R[vip_${p}_failover_ms]=$(((t_sw - t_kill) / 1000))
        else
            R[vip_${p}_failover_ms]="none"
        fi
        note "vip $p failover: $(tail -1 "$WORK/vip_fo_$p.log") (${R[vip_${p}_failover_ms]} ms after the kill)"
        ep_wait "vip_$who" 5 >/dev/null
        e=$([ "$who" = e1 ] && echo 151 || echo 152)
        ep_spawn "vip_$who" "${gen[@]}" "$VLOAD" echo 127.0.14.$e:5061 "$who"
        wait_tcp 127.0.14.$e 5061 || fail "echo $who did not restart"
        sleep $((BENCH_VIP_INTER * 3 / 1000 + 1))
    done
    ep_stop haproxy >/dev/null
    ep_stop balancer_vip || note "edge-balancer exit status $?"

    # medians per proxy and mode: raw rate, per CPU-second
    local col
    for p in bal hap; do
        for mode in rate tput; do
            for col in 3:raw 4:per_cpu; do
                R[vip_${p}_${mode}_${col#*:}]=$(awk -v p=$p -v m=$mode -v c="${col%%:*}" \
                    '$1 == p && $2 == m { print $c }' "$WORK/vip_figures.txt" | sort -n |
                    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
            done
            R[vip_${p}_${mode}_errors]=$(awk -v p=$p -v m=$mode '$1 == p && $2 == m { e += $6 } END { print e + 0 }' \
                "$WORK/vip_figures.txt")
        done
    done
}

vip_summary() {
    local ok=1
    printf 'VIP, edge-balancer vs HAProxy %s (TCP, stick on src, one thread each on core %s; echo backends and load on core %s; median of %s rounds of %s s):\n' \
        "$(haproxy -v 2>/dev/null | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p')" "$RELAY_CORE" "$GEN_CORE" \
        "$BENCH_VIP_ROUNDS" "$BENCH_VIP_SECS"
    printf '  new connections  edge-balancer %s/s, %s per CPU-s | haproxy %s/s, %s per CPU-s | ratio %s (target >= 1.0)\n' \
        "${R[vip_bal_rate_raw]:-n/a}" "${R[vip_bal_rate_per_cpu]:-n/a}" "${R[vip_hap_rate_raw]:-n/a}" \
        "${R[vip_hap_rate_per_cpu]:-n/a}" "$(ratio "${R[vip_bal_rate_per_cpu]:-}" "${R[vip_hap_rate_per_cpu]:-}")"
    printf '  throughput       edge-balancer %s MB/s, %s MB per CPU-s | haproxy %s MB/s, %s MB per CPU-s | ratio %s (target >= 1.0)\n' \
        "${R[vip_bal_tput_raw]:-n/a}" "${R[vip_bal_tput_per_cpu]:-n/a}" "${R[vip_hap_tput_raw]:-n/a}" \
        "${R[vip_hap_tput_per_cpu]:-n/a}" "$(ratio "${R[vip_bal_tput_per_cpu]:-}" "${R[vip_hap_tput_per_cpu]:-}")"
    printf '  failover         edge-balancer %s ms | haproxy %s ms (checks every %s ms, fall 2; target < 1000 ms)\n' \
        "${R[vip_bal_failover_ms]:-n/a}" "${R[vip_hap_failover_ms]:-n/a}" "$BENCH_VIP_INTER"
    printf '  errors           edge-balancer %s | haproxy %s (connections that failed during the rate/tput runs)\n' \
        "$((${R[vip_bal_rate_errors]:-0} + ${R[vip_bal_tput_errors]:-0}))" \
        "$((${R[vip_hap_rate_errors]:-0} + ${R[vip_hap_tput_errors]:-0}))"
    [ -n "${R[vip_bal_rate_per_cpu]:-}" ] && [ -n "${R[vip_hap_rate_per_cpu]:-}" ] || ok=0
    [[ ${R[vip_bal_failover_ms]:-none} =~ ^[0-9]+$ ]] || ok=0
    [ "${R[vip_bal_rate_errors]:-1}" = 0 ] && [ "${R[vip_bal_tput_errors]:-1}" = 0 ] || ok=0
    [ $ok = 1 ] || BAD=1
}
