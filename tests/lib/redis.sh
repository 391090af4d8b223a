# redis.sh -- a real redis-server (and Sentinel) for the pool tests.
#
# Sourced after common.sh. Each instance is an ep_spawn'ed process named
# NAME (log $WORK/NAME.log), no persistence, bound to one loopback address.
#
#   redis_start NAME ADDR PORT [ARGS...]   start redis-server; returns once it
#                                          answers PING (10 s) or fails
#   rcli ADDR:PORT ARGS...                 redis-cli against ADDR:PORT (raw output)
#   redis_wait ADDR:PORT T CMD... -- EXPECTED   until CMD's output is EXPECTED
#   sentinel_start NAME ADDR PORT MASTER_NAME MASTER_ADDR MASTER_PORT [DOWN_MS]
#       one Sentinel (quorum 1, master down after DOWN_MS, default 1000 ms),
#       its config in $WORK/NAME.conf (Sentinel rewrites it)
#   redis_stop NAME                        SIGTERM and wait (ep_stop)

redis_start() { # NAME ADDR PORT [ARGS...]
    local name=$1 addr=$2 port=$3
    shift 3
    ! ep__listening "$addr" "$port" || fail "redis $name: something already listens on $addr:$port"
    ep_spawn "$name" redis-server --port "$port" --bind "$addr" --save '' --appendonly no \
        --dir "$WORK" --dbfilename "$name.rdb" "$@"
    wait_until 10 redis__up "$name" "$addr" "$port" || fail "redis $name did not answer on $addr:$port"
}
redis__up() { # NAME ADDR PORT
    ep_alive "$1" || { tail -n 20 "$WORK/$1.log" >&2; fail "redis $1 exited at start"; }
    [ "$(redis-cli -h "$2" -p "$3" PING 2>/dev/null)" = PONG ]
}

rcli() { # ADDR:PORT ARGS...
    local a=$1
    shift
    redis-cli --raw -h "${a%:*}" -p "${a##*:}" "$@" 2>&1
}

# redis_wait ADDR:PORT TIMEOUT CMD... -- EXPECTED: CMD's output equals EXPECTED
redis_wait() {
    local a=$1 t=$2 args=() exp
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    exp=${2:-}
    wait_until "$t" redis__is "$a" "$exp" "${args[@]}"
}
redis__is() { [ "$(rcli "$1" "${@:3}")" = "$2" ]; }

sentinel_start() { # NAME ADDR PORT MASTER_NAME MASTER_ADDR MASTER_PORT [DOWN_MS]
    local name=$1 addr=$2 port=$3 mname=$4 maddr=$5 mport=$6 down=${7:-1000}
    cat >"$WORK/$name.conf" <<CONF
port $port
bind $addr
dir $WORK
sentinel monitor $mname $maddr $mport 1
sentinel down-after-milliseconds $mname $down
sentinel failover-timeout $mname 5000
sentinel parallel-syncs $mname 1
CONF
    ep_spawn "$name" redis-server "$WORK/$name.conf" --sentinel
    wait_until 10 redis__up "$name" "$addr" "$port" || fail "sentinel $name did not answer on $addr:$port"
}

redis_stop() { ep_stop "$1"; }
