# netns.sh -- a test's own multi-host pool in network namespaces, made by
# deploy/netns-pool.sh (read its header for the hosts, addresses and ports).
# Sourced after common.sh; root only (a test skips without it).
#
#   netns_pool_up PREFIX [VAR=VALUE...]
#       the pool with namespace prefix PREFIX (e.g. epft-nk-: one per test, so
#       tests and an operator's epn- pool never collide), state folder
#       $WORK/pool (configs, NAME.log of every daemon), the test PKI
#       ($EP_CERTS), the binaries of $EP_BIN; VAR=VALUE are more environment
#       for netns-pool.sh (EP_DNS_TTL=1 EP_PARTNER_TTL=1 ...). Registers
#       netns_pool_down with ep_at_exit. Fails the test if up fails.
#   netns_pool_down     stop it and delete its namespaces (idempotent)
#   netns_pool_check    netns_pool_down, then fail on a sanitizer report in a
#                       node or balancer log of the pool (these daemons are
#                       not ep_spawn'ed, so ep_cleanup does not see them)
#   nsx HOST CMD...     run CMD on HOST (redis, balancer, node1..3, partner,
#                       fe, legacy) of the test's pool
#   netns_pid NAME      PID of the pool's daemon NAME (netns-pool.sh pid)
#   netns_addr HOST     HOST's address
#   netns_sipp_spawn NAME HOST SCENARIO SIPP-ARGS...
#       sipp_spawn (common.sh: the same files in $WORK, the same counts with
#       sipp_ok / sipp_failed), run on HOST
#
# Traps:
# - The daemons are children of netns-pool.sh, not of the test: ep_kill and
#   ep_wait do not know them; signal them with kill "$(netns_pid NAME)".
# - They stay in the test's process group (no setsid), so tests/run.sh's
#   timeout still reaches them if the test hangs.

EP_NETNS_PREFIX=""
EP_NETNS_NET=10.77.0
declare -A EP_NETNS_OCTET=([node1]=1 [node2]=2 [node3]=3 [redis]=6 [partner]=20 [fe]=30 [legacy]=40 [balancer]=53 [vip]=54)

netns__pool() { # ARGS...: deploy/netns-pool.sh ARGS with this test's environment
    env EP_NS="$EP_NETNS_PREFIX" EP_NET="$EP_NETNS_NET" EP_STATE="$WORK/pool" EP_BIN="$EP_BIN" \
        EP_CERTS="$EP_CERTS" "$@"
}

netns_pool_up() {
    local t0
    EP_NETNS_PREFIX=$1
    shift
    [ "$(id -u)" = 0 ] || skip "network namespaces need root"
    t0=$(ep__now)
    ep_at_exit netns_pool_down
    if ! netns__pool "$@" timeout -k 5 60 "$EP_ROOT/deploy/netns-pool.sh" up >"$WORK/pool-up.log" 2>&1; then
        tail -n 30 "$WORK/pool-up.log" >&2
        fail "deploy/netns-pool.sh up failed (${WORK#"$EP_ROOT"/}/pool-up.log)"
    fi
    note "netns pool $EP_NETNS_PREFIX* up in $((($(ep__now) - t0) / 1000)) ms:"
    sed -n '/^DAEMON/,/^state/p' "$WORK/pool-up.log"
}

netns_pool_down() {
    [ -n "$EP_NETNS_PREFIX" ] || return 0
    netns__pool timeout -k 5 30 "$EP_ROOT/deploy/netns-pool.sh" down >>"$WORK/pool-down.log" 2>&1
}

netns_pool_check() {
    local f bad=0
    netns_pool_down
    note "netns pool down: $(tail -n 1 "$WORK/pool-down.log")"
    for f in "$WORK"/pool/node*.log "$WORK"/pool/balancer*.log; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f"; then
            echo "SANITIZER: report in ${f#"$EP_ROOT"/}:" >&2
            grep -m 3 -E -A 12 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f" | head -40 >&2
            bad=1
        fi
    done
    [ $bad = 0 ] || fail "sanitizer report in the pool's logs (above)"
    note "ok: no sanitizer report in the pool's node and balancer logs"
}

nsx() {
    local h=$1
    shift
    ip netns exec "$EP_NETNS_PREFIX$h" "$@"
}

netns_pid() { netns__pool "$EP_ROOT/deploy/netns-pool.sh" pid "$1"; }
netns_addr() { echo "$EP_NETNS_NET.${EP_NETNS_OCTET[$1]}"; }

netns_sipp_spawn() {
    local name=$1 h=$2
    shift 2
    ep__sipp_cmd "$name" "$@"
    ep_spawn "$name" ip netns exec "$EP_NETNS_PREFIX$h" "${EP_SIPP_CMD[@]}"
}
