# dns.sh -- start and stop a real NSD 4.6 on a loopback address for tests.
#
# Source it, then:
#   dns_start DIR ADDR PORT ZONEFILE...   serve the zones (the name of each is
#       its first $ORIGIN line, else the file name without .zone); returns
#       once NSD answers, non-zero with its log if it does not
#   dns_stop DIR                          stop that NSD (by the PID recorded)
# Everything NSD writes stays under DIR. Rate limiting is off (NSD's RRL
# drops answers beyond 200/s by default), so are privileges and chroot.
# ADDR must be a 127.0.0.0/8 address.

dns_zone_name() { # ZONEFILE -> zone name
    local origin
    origin=$(awk 'toupper($1) == "$ORIGIN" { print $2; exit }' "$1")
    if [ -n "$origin" ]; then
        printf '%s\n' "${origin%.}"
    else
        local b
        b=$(basename "$1")
        printf '%s\n' "${b%.zone}"
    fi
}

dns_start() { # DIR ADDR PORT ZONEFILE...
    local dir=$1 addr=$2 port=$3 z i
    shift 3
    case $addr in
    127.*) ;;
    *)
        echo "dns_start: $addr is not a loopback address" >&2
        return 1
        ;;
    esac
    if [ $# -eq 0 ]; then
        echo "dns_start: no zone file" >&2
        return 1
    fi
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    {
        echo "server:"
        echo "    ip-address: $addr@$port"
        echo "    server-count: 1"
        echo "    username: \"\""
        echo "    chroot: \"\""
        echo "    zonesdir: \"$dir\""
        echo "    pidfile: \"$dir/nsd.pid\""
        echo "    zonelistfile: \"$dir/zone.list\""
        echo "    xfrdfile: \"$dir/xfrd.state\""
        echo "    xfrdir: \"$dir\""
        echo "    database: \"$dir/nsd.db\""
        echo "    logfile: \"$dir/nsd.log\""
        echo "    verbosity: 1"
        echo "    rrl-ratelimit: 0"
        echo "    rrl-whitelist-ratelimit: 0"
        echo "remote-control:"
        echo "    control-enable: no"
        for z in "$@"; do
            echo "zone:"
            echo "    name: \"$(dns_zone_name "$z")\""
            echo "    zonefile: \"$(cd "$(dirname "$z")" && pwd)/$(basename "$z")\""
        done
    } >"$dir/nsd.conf"
    if ! nsd-checkconf "$dir/nsd.conf" >"$dir/checkconf.log" 2>&1; then
        echo "dns_start: bad nsd.conf:" >&2
        cat "$dir/checkconf.log" >&2
        return 1
    fi
    nsd -c "$dir/nsd.conf" -d >>"$dir/nsd.log" 2>&1 &
    echo $! >"$dir/nsd.bgpid"

    local first
    first=$(dns_zone_name "$1")
    for i in $(seq 1 100); do
        if ! kill -0 "$(cat "$dir/nsd.bgpid")" 2>/dev/null; then
            echo "dns_start: nsd exited:" >&2
            tail -20 "$dir/nsd.log" >&2
            return 1
        fi
        if kdig @"$addr" -p "$port" +time=1 +retry=0 +norecurse SOA "$first." 2>/dev/null |
            grep -q 'status: NOERROR'; then
            return 0
        fi
        sleep 0.1
    done
    echo "dns_start: nsd on $addr@$port does not answer for $first:" >&2
    tail -20 "$dir/nsd.log" >&2
    dns_stop "$dir"
    return 1
}

dns_stop() { # DIR
    local dir=$1 pid i p alive=
    [ -f "$dir/nsd.bgpid" ] || return 0
    pid=$(cat "$dir/nsd.bgpid")
    rm -f "$dir/nsd.bgpid"
    [ -n "$pid" ] || return 0
    # NSD's main process forks its server and xfrd: note them, by PID.
    local pids="$pid $(ps -o pid= --ppid "$pid" 2>/dev/null)"
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do
        alive=
        for p in $pids; do
            kill -0 "$p" 2>/dev/null && alive="$alive $p"
        done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for p in $alive; do
        kill -KILL "$p" 2>/dev/null
    done
    wait "$pid" 2>/dev/null
    return 0
}
