# shellcheck shell=bash
# pidfile.sh -- the processes a launcher started, and nothing else: each is
# recorded in $PIDS as "PID STARTTIME NAME" (STARTTIME: field 22 of
# /proc/PID/stat, clock ticks since boot), so a PID reused by another process
# after ours died is never taken for ours, nor signalled. Sourced by
# deploy/local-run.sh and deploy/netns-pool.sh, which set PIDS and define
# say MSG (a line for the operator).
#
#   starttime PID            its start time; fails when gone or a zombie
#   record NAME PID          append NAME's line (PID just started)
#   pid_of NAME / alive NAME the recorded PID while it is still that process
#   recorded                 the names, in start order
#   any_alive                one of them still runs
#   forget NAME              drop NAME's line
#   proc_tree PID            PID and its descendants, parents first
#   stop_names QUIET TIMEOUT NAME...   SIGTERM to each (and remember its
#       descendants: a Kamailio's workers), wait up to TIMEOUT s for all of
#       them to end, SIGKILL what is left; QUIET non-empty: no lines
#   stop_all QUIET TIMEOUT   stop_names for every recorded name, newest first

starttime() {
    local s f
    read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    read -ra f <<<"${s##*) }"
    [ "${f[0]}" != Z ] || return 1
    echo "${f[19]}"
}
record() {
    local st
    st=$(starttime "$2") || st=0
    echo "$2 $st $1" >>"$PIDS"
}
pid_of() {
    local name pid st
    [ -f "$PIDS" ] || return 1
    while read -r pid st name; do
        [ "$name" = "$1" ] && [ "$(starttime "$pid")" = "$st" ] && { echo "$pid"; return 0; }
    done <"$PIDS"
    return 1
}
alive() { pid_of "$1" >/dev/null; }
recorded() { [ -f "$PIDS" ] && awk '{ print $3 }' "$PIDS"; }
any_alive() {
    local n
    for n in $(recorded); do alive "$n" && return 0; done
    return 1
}
forget() {
    local name pid st
    [ -f "$PIDS" ] || return 0
    while read -r pid st name; do
        [ "$name" = "$1" ] || echo "$pid $st $name"
    done <"$PIDS" >"$PIDS.new" && mv -f "$PIDS.new" "$PIDS"
}
proc_tree() {
    local c
    echo "$1"
    for c in $(pgrep -P "$1" 2>/dev/null); do proc_tree "$c"; done
}
stop_names() {
    local quiet=$1 timeout=$2 name pid c i
    shift 2
    local -A st=() who=()
    for name in "$@"; do
        pid=$(pid_of "$name") || continue
        for c in $(proc_tree "$pid"); do
            st[$c]=$(starttime "$c") || unset 'st[$c]'
            who[$c]=$name
        done
        kill -TERM "$pid" 2>/dev/null
        [ -n "$quiet" ] || say "SIGTERM to $name (PID $pid)"
    done
    for ((i = 0; i < timeout * 10; i++)); do
        for pid in "${!st[@]}"; do
            [ "$(starttime "$pid")" = "${st[$pid]}" ] || unset 'st[$pid]'
        done
        [ ${#st[@]} = 0 ] && break
        sleep 0.1
    done
    for pid in "${!st[@]}"; do
        [ "$(starttime "$pid")" = "${st[$pid]}" ] || continue
        say "${who[$pid]} (PID $pid) still running ${timeout} s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    done
    return 0
}
stop_all() {
    local names
    mapfile -t names < <(recorded | tac)
    [ ${#names[@]} -gt 0 ] && stop_names "${1:-}" "$2" "${names[@]}"
    return 0
}
