# common.sh -- sourced by every integration test: a fresh work dir, the
# processes a test starts (tracked by PID, always cleaned up, sanitizer
# reports turned into failures), bounded waits, assertions, and SIPp runs
# whose final counts can be asserted.
#
# A test is `bash tests/integration/X.sh` from the repo root, with EP_ROOT (the
# repo root) and EP_BIN (directory of edge-node, default $EP_ROOT/build-san/bin);
# exit 0 = pass, 77 = skipped, anything else = failed. Skeleton:
#
#   . "${EP_ROOT:-.}/tests/lib/common.sh"
#   ep_setup federation_direct_partner     # $WORK = tests/out/NAME.d, traps set
#   need_cmd sipp kamailio; need_bin edge-node
#   ep_certs                               # $EP_CERTS: the test PKI
#   ep_spawn node1 "$EP_BIN/edge-node" ...   # (its own options)
#   wait_tcp 127.0.1.1 5061 || fail "node1 does not listen"
#   sipp_run uac uac_message.xml -t t1 -i 127.0.2.11 -s bob -m 5 127.0.2.1:5060
#   assert_sipp uac 5 0
#   pass
#
# Functions (details atop each):
#   ep_setup NAME                 work dir, EXIT/INT/TERM traps
#   ep_spawn NAME CMD...          background, output to $WORK/NAME.log
#   ep_run NAME CMD...            foreground (bounded), output to $WORK/NAME.log
#   ep_pid NAME / ep_alive NAME   PID / is it running
#   ep_kill NAME [SIG]            signal its process tree (default TERM)
#   ep_wait NAME [TIMEOUT]        wait for exit, return its exit status
#   ep_stop NAME [TIMEOUT]        TERM, wait, KILL if needed; exit status
#   ep_cleanup                    stop everything, scan node*/balancer* logs
#   ep_certs                      make the test PKI (once) in $EP_CERTS
#   wait_tcp ADDR PORT [T]        something listens on ADDR:PORT (ss -ltn)
#   wait_log FILE REGEX [T]       grep -E matches in FILE
#   wait_until T CMD...           CMD succeeds
#   assert_eq EXP ACT [WHAT]      assert_match REGEX STR [WHAT]
#   assert_cmp ACT OP N [WHAT]    OP: -eq -ne -lt -le -gt -ge
#   assert_log FILE REGEX [WHAT]  assert_no_log FILE REGEX [WHAT]
#   fail MSG / skip MSG / pass [MSG] / note MSG
#   need_cmd CMD... / need_bin NAME...   skip (77) when missing
#   sipp_run NAME SCENARIO ARGS... / sipp_spawn NAME SCENARIO ARGS...
#   sipp_count NAME COLUMN / sipp_ok NAME / sipp_failed NAME
#   assert_sipp NAME OK FAILED
#
# Traps:
# - Never call fail/skip/pass inside $(...) or a pipeline: they exit only
#   that subshell.
# - Processes stay in the test's process group on purpose (no setsid), so the
#   `timeout -k` of tests/run.sh still reaches them if the test hangs.
# - ASan writes its leak report only when the process exits by itself:
#   cleanup sends SIGTERM and waits (EP_TERM_TIMEOUT, default 10 s) before
#   SIGKILL, so a daemon must exit on SIGTERM for its leaks to be seen.
# - A PID is only signalled while it is still our child (or a descendant
#   seen then), so a recycled PID is never killed.

[ -n "${EP_COMMON_SH:-}" ] && return 0
EP_COMMON_SH=1

EP_ROOT=${EP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
EP_BIN=${EP_BIN:-$EP_ROOT/build-san/bin}
EP_LIB=$EP_ROOT/tests/lib
EP_SIPP_DIR=$EP_ROOT/tests/sipp
EP_CERTS=${EP_CERTS:-$EP_ROOT/tests/out/certs}
EP_TERM_TIMEOUT=${EP_TERM_TIMEOUT:-10}
export EP_ROOT EP_BIN
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

declare -A EP_PID=()    # name -> PID of the spawned command
declare -A EP_RC=()     # name -> exit status, once reaped
EP_NAMES=()             # names in spawn order
EP_TEST=""
WORK=""
EP_FAIL_MSG=""
EP_SKIP_MSG=""
EP_PASS_MSG=""
EP_T0=${EPOCHREALTIME//[!0-9]/}

# Microseconds since the epoch (bash 5, no fork).
ep__now() { echo "${EPOCHREALTIME//[!0-9]/}"; }

# note MSG: a progress line, stamped with seconds since the test began.
note() {
    local t=$(($(ep__now) - EP_T0))
    printf '[%3d.%03d] %s\n' $((t / 1000000)) $((t / 1000 % 1000)) "$*"
}

fail() {
    EP_FAIL_MSG="$*"
    echo "FAIL: $*" >&2
    exit 1
}
skip() {
    EP_SKIP_MSG="$*"
    exit 77
}
pass() {
    EP_PASS_MSG="$*"
    exit 0
}

need_cmd() { # CMD...: skip the test when one is not installed
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
    done
}
need_bin() { # NAME...: skip when $EP_BIN/NAME is not built yet
    local b
    for b in "$@"; do
        [ -x "$EP_BIN/$b" ] || skip "$EP_BIN/$b not built"
    done
}

# ep_setup NAME: fresh $WORK (= $EP_ROOT/tests/out/NAME.d), cwd = $EP_ROOT,
# cleanup on exit and on INT/TERM/HUP.
ep_setup() {
    EP_TEST=$1
    WORK=$EP_ROOT/tests/out/$1.d
    rm -rf "$WORK"
    mkdir -p "$WORK" || { echo "cannot create $WORK" >&2; exit 1; }
    cd "$EP_ROOT" || exit 1
    EP_T0=$(ep__now)
    trap 'ep__on_exit' EXIT
    trap 'EP_FAIL_MSG="interrupted (SIGINT)"; exit 130' INT
    trap 'EP_FAIL_MSG="interrupted (SIGTERM: a time limit?)"; exit 143' TERM
    trap 'EP_FAIL_MSG="interrupted (SIGHUP)"; exit 129' HUP
    note "test $EP_TEST, work dir ${WORK#"$EP_ROOT"/}"
}

# ep_certs: make the test PKI (tests/lib/make-certs.sh, only when stale) in
# $EP_CERTS (default tests/out/certs): $EP_CERTS/ca.crt, NAME.crt, NAME.key.
ep_certs() {
    "$EP_LIB/make-certs.sh" "$EP_CERTS" >"$WORK/make-certs.log" 2>&1 ||
        { cat "$WORK/make-certs.log" >&2; fail "make-certs.sh failed"; }
}

# ep__running PID: true while PID exists and is not a zombie.
ep__running() {
    local s
    read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    s=${s##*) }
    [ "${s%% *}" != Z ]
}
# ep__ours PID: PID is running and still a child of this shell.
ep__ours() {
    local s
    read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    s=${s##*) }
    set -- $s
    [ "$1" != Z ] && [ "$2" = "$BASHPID" ]
}
# ep__tree PID: PID and all its descendants, parents first.
ep__tree() {
    local c
    echo "$1"
    for c in $(pgrep -P "$1" 2>/dev/null); do ep__tree "$c"; done
}
# ep__reap NAME: collect the exit status of NAME's process if it has ended.
ep__reap() {
    local pid=${EP_PID[$1]:-}
    [ -n "$pid" ] && [ -z "${EP_RC[$1]:-}" ] || return 0
    ep__running "$pid" && return 0
    wait "$pid" 2>/dev/null
    EP_RC[$1]=$?
}

# ep_spawn NAME CMD...: start CMD in the background, stdin /dev/null, stdout
# and stderr appended to $WORK/NAME.log; remembered as NAME for ep_kill,
# ep_wait, ep_stop and cleanup. A NAME may be reused once its previous process
# has ended; the previous log is kept as NAME.N.log (still scanned).
ep_spawn() {
    local name=$1 n=1
    shift
    [ -n "$WORK" ] || fail "ep_spawn $name before ep_setup"
    if [ -n "${EP_PID[$name]:-}" ]; then
        ep__running "${EP_PID[$name]}" && fail "ep_spawn $name: already running (pid ${EP_PID[$name]})"
        ep__reap "$name"
        while [ -e "$WORK/$name.$n.log" ]; do n=$((n + 1)); done
        mv -f "$WORK/$name.log" "$WORK/$name.$n.log" 2>/dev/null
        unset 'EP_RC[$name]'
    else
        EP_NAMES+=("$name")
    fi
    "$@" </dev/null >>"$WORK/$name.log" 2>&1 &
    EP_PID[$name]=$!
    note "spawned $name (pid $!): $*"
}

# ep_run NAME CMD...: run CMD in the foreground, bounded by EP_RUN_TIMEOUT
# (default 30 s), output to $WORK/NAME.log (scanned like a spawned one's).
# Returns CMD's exit status (124 on timeout).
ep_run() {
    local name=$1 rc
    shift
    timeout --foreground -k 2 "${EP_RUN_TIMEOUT:-30}" "$@" </dev/null >>"$WORK/$name.log" 2>&1
    rc=$?
    note "ran $name: exit $rc"
    return $rc
}

ep_pid() { echo "${EP_PID[$1]:-}"; }
ep_alive() { [ -n "${EP_PID[$1]:-}" ] && ep__running "${EP_PID[$1]}"; }

# ep_kill NAME [SIG]: send SIG (default TERM) to NAME's process and all its
# descendants (a Kamailio's children, a SIGSTOP that must freeze them all).
# Does not wait; returns 1 when NAME is not running.
ep_kill() {
    local name=$1 sig=${2:-TERM} pid=${EP_PID[$1]:-}
    [ -n "$pid" ] && ep__ours "$pid" || { note "ep_kill $name: not running"; return 1; }
    kill -s "$sig" $(ep__tree "$pid") 2>/dev/null
    note "sent SIG$sig to $name (pid $pid)"
}

# ep_wait NAME [TIMEOUT]: wait up to TIMEOUT s (default 30) for NAME to end;
# returns its exit status, or 124 if it is still running.
ep_wait() {
    local name=$1 end=$(($(ep__now) + ${2:-30} * 1000000)) pid=${EP_PID[$1]:-}
    [ -n "$pid" ] || fail "ep_wait: no process named $name"
    while ep__running "$pid"; do
        [ "$(ep__now)" -ge "$end" ] && return 124
        sleep 0.05
    done
    ep__reap "$name"
    return "${EP_RC[$name]}"
}

# ep_stop NAME [TIMEOUT]: SIGTERM, wait up to TIMEOUT s (default
# EP_TERM_TIMEOUT), then SIGKILL the tree. Returns the exit status.
ep_stop() {
    local name=$1 rc
    ep_alive "$name" || { ep__reap "$name"; return "${EP_RC[$name]:-0}"; }
    ep_kill "$name" TERM
    ep_wait "$name" "${2:-$EP_TERM_TIMEOUT}"
    rc=$?
    if [ $rc = 124 ] && ep_alive "$name"; then
        note "$name ignored SIGTERM for ${2:-$EP_TERM_TIMEOUT}s: SIGKILL"
        ep_kill "$name" KILL
        ep_wait "$name" 5
        rc=$?
    fi
    return $rc
}

# ep_cleanup: SIGTERM every process still running (the spawned command only:
# it stops its own children), wait up to EP_TERM_TIMEOUT s, SIGKILL what is
# left of every tree, reap. Then the sanitizer check: a log of a process named
# node* or balancer* containing an ASan/UBSan/LSan report, or such a process
# that exited with 86 (ASAN_OPTIONS exitcode) or had to be SIGKILLed (its
# leak report never written), makes it return 1.
# ep_at_exit CMD...: run CMD at cleanup, before the spawned processes are
# stopped (e.g. dns_stop for an NSD started by dns_start).
EP_AT_EXIT=()
ep_at_exit() { EP_AT_EXIT+=("$*"); }

ep_cleanup() {
    local name pid f rc=0 end left trees=() cmd
    for cmd in "${EP_AT_EXIT[@]}"; do eval "$cmd" || true; done
    for name in "${EP_NAMES[@]}"; do
        pid=${EP_PID[$name]}
        ep__ours "$pid" || continue
        trees+=($(ep__tree "$pid"))
        kill -TERM "$pid" 2>/dev/null
    done
    end=$(($(ep__now) + EP_TERM_TIMEOUT * 1000000))
    while :; do
        left=()
        for pid in "${trees[@]}"; do ep__running "$pid" && left+=("$pid"); done
        [ ${#left[@]} = 0 ] && break
        if [ "$(ep__now)" -ge "$end" ]; then
            note "still running ${EP_TERM_TIMEOUT}s after SIGTERM, killed: $(IFS=,; ps -o pid=,comm= -p "${left[*]}" | tr -s ' \n' ' ')"
            for name in "${EP_NAMES[@]}"; do
                case $name in node* | balancer*) ;; *) continue ;; esac
                ep__running "${EP_PID[$name]}" || continue
                echo "SANITIZER: $name did not exit within ${EP_TERM_TIMEOUT}s of SIGTERM: killed, its leaks unchecked" >&2
                rc=1
            done
            kill -KILL "${left[@]}" 2>/dev/null
            sleep 0.1
            break
        fi
        sleep 0.05
    done
    for name in "${EP_NAMES[@]}"; do ep__reap "$name"; done

    for name in "${EP_NAMES[@]}"; do
        case $name in node* | balancer*) ;; *) continue ;; esac
        if [ "${EP_RC[$name]:-}" = 86 ]; then
            echo "SANITIZER: $name exited with status 86 (ASAN_OPTIONS exitcode)" >&2
            rc=1
        fi
    done
    for f in "$WORK"/node*.log "$WORK"/balancer*.log; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f"; then
            echo "SANITIZER: report in ${f#"$EP_ROOT"/}:" >&2
            grep -m 3 -E -A 12 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f" | head -40 >&2
            rc=1
        fi
    done
    return $rc
}

ep__on_exit() {
    local rc=$? f
    trap - EXIT INT TERM HUP
    if ! ep_cleanup; then
        [ $rc = 0 ] || [ $rc = 77 ] && rc=1
        EP_FAIL_MSG="sanitizer report (above)${EP_FAIL_MSG:+; $EP_FAIL_MSG}"
    fi
    if [ $rc = 0 ]; then
        echo "PASS: $EP_TEST${EP_PASS_MSG:+: $EP_PASS_MSG}"
    elif [ $rc = 77 ]; then
        echo "SKIP: $EP_TEST: ${EP_SKIP_MSG:-skipped}"
    else
        echo "--- last lines of the logs in ${WORK#"$EP_ROOT"/}:"
        for f in "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "--- ${f##*/}"
            tail -n 6 "$f" | cut -c1-300
        done
        echo "FAIL: $EP_TEST: ${EP_FAIL_MSG:-exit status $rc}"
    fi
    exit $rc
}

# wait_until TIMEOUT CMD...: run CMD every 50 ms until it succeeds (0) or
# TIMEOUT s pass (1).
wait_until() {
    local end=$(($(ep__now) + $1 * 1000000))
    shift
    until "$@"; do
        [ "$(ep__now)" -ge "$end" ] && return 1
        sleep 0.05
    done
}

ep__listening() { # ADDR PORT
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "sport = :$2" 2>/dev/null | awk '{print $4}' |
            grep -qxF -e "$1:$2" -e "0.0.0.0:$2" -e "*:$2" -e "[$1]:$2" -e "[::]:$2"
    else
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
    fi
}
# wait_tcp ADDR PORT [TIMEOUT]: a socket listens on ADDR:PORT (or the wildcard)
# within TIMEOUT s (default 10). Reads `ss -ltn` rather than connecting, so the
# server sees no stray connection. Returns 1 (with a note) on timeout.
wait_tcp() {
    wait_until "${3:-10}" ep__listening "$1" "$2" && return 0
    note "wait_tcp: nothing listens on $1:$2 after ${3:-10}s"
    return 1
}

# wait_log FILE REGEX [TIMEOUT]: a line of FILE matches the extended REGEX
# within TIMEOUT s (default 10). Returns 1 (with a note) on timeout.
wait_log() {
    wait_until "${3:-10}" grep -qE -- "$2" "$1" 2>/dev/null && return 0
    note "wait_log: no line matching /$2/ in ${1#"$EP_ROOT"/} after ${3:-10}s"
    return 1
}

assert_eq() { # EXPECTED ACTUAL [WHAT]
    [ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
    note "ok: ${3:-value} = '$2'"
}
assert_match() { # REGEX STRING [WHAT]
    [[ $2 =~ $1 ]] || fail "${3:-value}: '$2' does not match /$1/"
    note "ok: ${3:-value} matches /$1/"
}
assert_cmp() { # ACTUAL OP VALUE [WHAT], OP one of -eq -ne -lt -le -gt -ge
    case $2 in -eq | -ne | -lt | -le | -gt | -ge) ;; *) fail "assert_cmp: unknown operator '$2'" ;; esac
    [[ $1 =~ ^-?[0-9]+$ ]] || fail "${4:-value}: '$1' is not a number"
    test "$1" "$2" "$3" || fail "${4:-value}: $1 is not $2 $3"
    note "ok: ${4:-value} = $1 ($2 $3)"
}
assert_log() { # FILE REGEX [WHAT]
    grep -qE -- "$2" "$1" 2>/dev/null || fail "${3:-log}: no line matching /$2/ in ${1#"$EP_ROOT"/}"
    note "ok: ${3:-log} has /$2/"
}
assert_no_log() { # FILE REGEX [WHAT]
    ! grep -qE -- "$2" "$1" 2>/dev/null || fail "${3:-log}: unexpected line in ${1#"$EP_ROOT"/}: $(grep -m1 -E -- "$2" "$1")"
    note "ok: ${3:-log} has no /$2/"
}

# --- SIPp (sip-tester 3.6.1: no TLS; drive the internal side over TCP) ---
#
# sipp_run NAME SCENARIO SIPP-ARGS...: run sipp in the foreground; returns its
# exit status (0 all calls succeeded, 1 some failed, 99 none processed...).
# sipp_spawn NAME SCENARIO SIPP-ARGS...: the same in the background (a UAS),
# under ep_spawn; ep_wait NAME gives its status, sipp_ok/sipp_failed its
# counts once it has ended (start it with -m N so that it ends by itself).
#
# SCENARIO is a path or a file name in tests/sipp (".xml" optional). The caller
# gives transport, addresses, counts: e.g. -t t1 -i 127.0.2.11 -m 5 -r 50
# 127.0.2.1:5060. Added: -nostdin, -timeout ${SIPP_TIMEOUT:-20}s
# -timeout_error, -recv_timeout ${SIPP_RECV_TIMEOUT:-10000} (ms, per wait in a
# call), outer `timeout` SIPP_TIMEOUT+10 s; files in $WORK: NAME.log (screen),
# NAME.stat.csv (-trace_stat -fd 1), NAME.err (-trace_err), NAME.actions
# (-trace_logs), NAME.msg (-trace_msg; SIPP_TRACE_MSG=0 turns it off under
# load); for uac_message* scenarios -default_behaviors all,-bye unless the
# caller sets it. Defaults for the scenarios' keys, in effect only when the
# caller gives no -key of that name (SIPp keeps the first -key given):
# from_user=alice from_domain=example.test to_domain=example.test expect=200.
# SIPP_TIMEOUT / SIPP_RECV_TIMEOUT for longer runs: a UAS that must outlive a
# 20 s test, or calls held longer than 10 s.
ep__sipp_cmd() { # NAME SCENARIO ARGS... -> EP_SIPP_CMD array
    local name=$1 sc=$2 t=${SIPP_TIMEOUT:-20}
    shift 2
    [[ $sc == */* ]] || sc=$EP_SIPP_DIR/$sc
    [ -f "$sc" ] || sc=$sc.xml
    [ -f "$sc" ] || fail "SIPp scenario $2 not found"
    rm -f "$WORK/$name.stat.csv" "$WORK/$name.err" "$WORK/$name.actions" "$WORK/$name.msg"
    EP_SIPP_CMD=(timeout --foreground -k 2 $((t + 10)) sipp -sf "$sc" "$@"
        -nostdin -timeout "${t}s" -timeout_error -recv_timeout "${SIPP_RECV_TIMEOUT:-10000}"
        -trace_stat -stf "$WORK/$name.stat.csv" -fd 1
        -trace_err -error_file "$WORK/$name.err"
        -trace_logs -log_file "$WORK/$name.actions"
        -key from_user alice -key from_domain example.test -key to_domain example.test -key expect 200)
    [ "${SIPP_TRACE_MSG:-1}" = 0 ] || EP_SIPP_CMD+=(-trace_msg -message_file "$WORK/$name.msg")
    # SIPp sends a BYE for every aborted call, even a MESSAGE that got an
    # unexpected 408: stray BYEs to the first hop. Not for dialog-less ones.
    if [[ ${sc##*/} == uac_message* ]] && [[ " $* " != *" -default_behaviors "* ]]; then
        EP_SIPP_CMD+=(-default_behaviors all,-bye)
    fi
}
sipp_run() {
    local name=$1 rc
    ep__sipp_cmd "$@"
    note "sipp $name: ${*:2}"
    "${EP_SIPP_CMD[@]}" </dev/null >>"$WORK/$name.log" 2>&1
    rc=$?
    note "sipp $name: exit $rc, successful $(sipp_ok "$name"), failed $(sipp_failed "$name")"
    return $rc
}
sipp_spawn() {
    local name=$1
    ep__sipp_cmd "$@"
    ep_spawn "$name" "${EP_SIPP_CMD[@]}"
}

# sipp_count NAME COLUMN: the value of COLUMN (a header of SIPp's statistics
# CSV, e.g. "SuccessfulCall(C)", "FailedCall(C)", "OutgoingCall(C)") in the
# last line of $WORK/NAME.stat.csv, the final counts; "none" (status 1) when
# there is no such file or column.
sipp_count() {
    local f=$WORK/$1.stat.csv
    [ -s "$f" ] || { echo none; return 1; }
    awk -F';' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
        k { v = $k } END { if (!k || v == "") { print "none"; exit 1 } print v + 0 }' "$f"
}
sipp_ok() { sipp_count "$1" 'SuccessfulCall(C)'; }
sipp_failed() { sipp_count "$1" 'FailedCall(C)'; }

# assert_sipp NAME OK FAILED: SIPp run NAME ended with exactly OK successful
# and FAILED failed calls (a background one must have ended: ep_wait first).
assert_sipp() {
    local ok failed
    ok=$(sipp_ok "$1")
    failed=$(sipp_failed "$1")
    [ "$ok/$failed" = "$2/$3" ] ||
        fail "sipp $1: expected $2 successful / $3 failed calls, got $ok / $failed (${WORK#"$EP_ROOT"/}/$1.{log,err,msg})"
    note "ok: sipp $1: $ok successful, $failed failed"
}
