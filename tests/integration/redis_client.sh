#!/bin/bash
# redis_client.sh -- the shared Redis client (shared/redis.c, driven by
# ep-redis) against real redis-server and Sentinel processes on 127.0.9.0/24:
# replies of every type and pipelining; AUTH with requirepass and an ACL user,
# a wrong password refused with one clear line; TLS and mutual TLS with
# certificates made here; a killed server (commands fail at once, one "down"
# line, back within backoff_max, subscriptions restored); a stopped server
# (command timeout); a Sentinel failover and a killed master followed, timed.
. "${EP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
ep_setup redis_client
need_cmd redis-server redis-cli openssl
TOOL=${EP_BIN%/bin}/tools/ep-redis
[ -x "$TOOL" ] || fail "$TOOL is not built (make SAN=1 unit-bins)"

# ---- helpers ----

# san_check NAME: no sanitizer report in $WORK/NAME.log.
san_check() {
    if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$WORK/$1.log"; then
        grep -m 3 -E -A 12 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$WORK/$1.log" >&2
        fail "sanitizer report in $1.log"
    fi
}
# rtool NAME WANT_RC ARGS...: ep-redis in the foreground; its exit status must
# be WANT_RC (so a sanitizer's 86 fails), its output is $WORK/NAME.log.
rtool() {
    local name=$1 want=$2 rc
    shift 2
    ep_run "$name" "$TOOL" "$@"
    rc=$?
    san_check "$name"
    if [ "$rc" != "$want" ]; then
        tail -n 8 "$WORK/$name.log" >&2
        fail "$name: ep-redis exit status $rc, expected $want"
    fi
}
# rwait NAME [TIMEOUT]: a spawned ep-redis ended by itself with status 0.
rwait() {
    local rc
    ep_wait "$1" "${2:-30}"
    rc=$?
    san_check "$1"
    [ "$rc" = 0 ] || { tail -n 8 "$WORK/$1.log" >&2; fail "$1: ep-redis exit status $rc"; }
}
# rstop NAME: SIGTERM a spawned ep-redis; it must exit cleanly (status 0).
rstop() {
    local rc
    ep_stop "$1" 10
    rc=$?
    san_check "$1"
    [ "$rc" = 0 ] || { tail -n 8 "$WORK/$1.log" >&2; fail "$1: ep-redis exit status $rc after SIGTERM"; }
}
# redis_start NAME ADDR PORT [ARGS...]: a redis-server on ADDR:PORT (PORT is
# what we wait on: pass --port 0 --tls-port PORT in ARGS for TLS only).
redis_start() {
    local name=$1 addr=$2 port=$3
    shift 3
    ep_spawn "$name" redis-server --port "$port" --bind "$addr" --save '' --appendonly no \
        --daemonize no --dir "$WORK" --dbfilename "$name.rdb" "$@"
    wait_tcp "$addr" "$port" || fail "$name: redis-server does not listen on $addr:$port"
}
# count FILE REGEX: lines matching.  lines_ge FILE REGEX N: at least N of them.
count() { grep -cE -- "$2" "$1" 2>/dev/null; }
lines_ge() { [ "$(count "$1" "$2")" -ge "$3" ]; }
# first_ms FILE REGEX: the epoch-ms stamp of the first line matching.
first_ms() { grep -m1 -E -- "$2" "$1" | awk '{print $1}'; }
now_ms() { echo $(($(ep__now) / 1000)); }
numsub() { # ADDR PORT CHANNEL: subscribers of CHANNEL
    redis-cli -h "$1" -p "$2" PUBSUB NUMSUB "$3" 2>/dev/null | tail -n 1
}
numsub_is() { [ "$(numsub "$1" "$2" "$3")" = "$4" ]; }

# ---- replies, pipelining, re-entrancy ----
A=127.0.9.1:6390
redis_start plain 127.0.9.1 6390
rtool set 0 --addr $A cmd SET ep:s hello
assert_log "$WORK/set.log" '^status OK$' "SET"
rtool get 0 --addr $A cmd GET ep:s
assert_log "$WORK/get.log" '^string hello$' "GET: bulk string"
rtool nil 0 --addr $A cmd GET ep:missing
assert_log "$WORK/nil.log" '^nil$' "GET of a missing key: nil"
rtool int 0 --addr $A cmd INCRBY ep:n 41
assert_log "$WORK/int.log" '^integer 41$' "INCRBY: integer"
rtool nested 0 --addr $A cmd EVAL 'return {1, "two", {3, false}}' 0
assert_eq "array 3|  integer 1|  string two|  array 2|    integer 3|    nil" \
    "$(grep -vE '^[0-9]+ up|redis:' "$WORK/nested.log" | paste -sd'|')" "nested array reply"
rtool err 2 --addr $A cmd NOSUCHCOMMAND x
assert_log "$WORK/err.log" "^error ERR unknown command 'NOSUCHCOMMAND'" "error reply passed with its text"
rtool wrongtype 2 --addr $A cmd LPUSH ep:s x
assert_log "$WORK/wrongtype.log" '^error WRONGTYPE' "WRONGTYPE error reply"
rtool pipe 0 --addr $A pipe 2000
assert_log "$WORK/pipe.log" '^pipe: done, 0 bad' "2000 pipelined INCRs answered in order"
rtool db 0 --addr $A --db 5 cmd CLIENT INFO
assert_log "$WORK/db.log" ' db=5 ' "SELECT 5 at connect"
rtool reentry 0 --addr $A reentry
assert_log "$WORK/reentry.log" '^cb 6 shutting down$' "redis_command then redis_free from a callback"
assert_log "$WORK/reentry.log" '^down-cb redis down sync$' "while down, the callback runs inside redis_command"
assert_log "$WORK/reentry.log" '^state-cb up: freeing$' "redis_free from on_state"
assert_log "$WORK/reentry.log" '^message-cb ep-redis:reentry: freeing$' "redis_free from a message callback"
assert_log "$WORK/reentry.log" '^reentry: 6 callbacks, done$' "every callback called once"
rtool downcmd 2 --addr 127.0.9.1:6999 --wait-up-ms 0 cmd PING
assert_log "$WORK/downcmd.log" '^fail redis down sync$' "a command while down fails at once"
rtool refused 3 --addr 127.0.9.1:6999 --wait-up-ms 700 --backoff-max-ms 200 cmd PING
assert_eq 1 "$(count "$WORK/refused.log" 'warn redis: Redis 127.0.9.1:6999 (still )?down')" \
    "warnings for a refused connection retried for 700 ms"
assert_log "$WORK/refused.log" 'Redis 127.0.9.1:6999 down: connection refused; retrying in [0-9]+ ms' \
    "the down line"
rtool badhost 3 --addr no-such-host.invalid:6390 --wait-up-ms 1500 cmd PING
assert_log "$WORK/badhost.log" 'down: (cannot resolve no-such-host.invalid|connect timeout)' \
    "an unresolvable host name"

# ---- AUTH ----
B=127.0.9.2:6392
redis_start auth 127.0.9.2 6392 --requirepass s3cret \
    --user alice on '>alicepw' '~ep:*' '&*' '+@all'
rtool auth_pw 0 --addr $B --password s3cret cmd PING
assert_log "$WORK/auth_pw.log" '^status PONG$' "AUTH password (requirepass)"
rtool auth_user 0 --addr $B --user alice --password alicepw cmd ACL WHOAMI
assert_log "$WORK/auth_user.log" '^string alice$' "AUTH alice (ACL user)"
rtool auth_perm 2 --addr $B --user alice --password alicepw cmd SET other 1
assert_log "$WORK/auth_perm.log" '^error NOPERM' "the ACL applies to alice"
rtool auth_wrong 3 --addr $B --password wrong --wait-up-ms 1500 --backoff-max-ms 300 cmd PING
assert_log "$WORK/auth_wrong.log" \
    'warn redis: Redis 127.0.9.2:6392 down: authentication failed \(wrong user name or password\): WRONGPASS' \
    "wrong password: a clear line"
assert_eq 1 "$(count "$WORK/auth_wrong.log" 'authentication failed')" "wrong password logged once over its retries"
assert_no_log "$WORK/auth_wrong.log" '^[0-9]+ up |redis: .* up$' "wrong password never up"
rtool auth_none 3 --addr $B --wait-up-ms 600 cmd PING
assert_log "$WORK/auth_none.log" 'down: authentication required, no password configured: NOAUTH' \
    "no password configured"

# ---- TLS ----
P=$WORK/pki
mkdir -p "$P"
mkcert() { # NAME SUBJECT-CN EXTFILE-CONTENT: a P-256 key and a cert signed by ca
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" \
        -out "$P/$1.csr" -subj "/CN=$2" 2>>"$WORK/openssl.log" &&
        printf '%s\n' "$3" >"$P/$1.ext" &&
        openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
            -out "$P/$1.crt" -days 2 -extfile "$P/$1.ext" 2>>"$WORK/openssl.log"
}
for ca in ca rogue; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$ca.key" \
        -out "$P/$ca.crt" -days 2 -subj "/CN=edgepool test $ca" 2>>"$WORK/openssl.log" ||
        fail "openssl: cannot make the $ca CA"
done
mkcert server redis.test "$(printf 'subjectAltName=DNS:redis.test,IP:127.0.9.3,IP:127.0.9.4\nextendedKeyUsage=serverAuth')" ||
    fail "openssl: server certificate"
mkcert client edge-node "extendedKeyUsage=clientAuth" || fail "openssl: client certificate"
TLSSRV=(--tls-cert-file "$P/server.crt" --tls-key-file "$P/server.key" --tls-ca-cert-file "$P/ca.crt")
redis_start tls 127.0.9.3 6393 --port 0 --tls-port 6393 "${TLSSRV[@]}" --tls-auth-clients no
redis_start mtls 127.0.9.4 6394 --port 0 --tls-port 6394 "${TLSSRV[@]}" --tls-auth-clients yes

rtool tls_ip 0 --addr 127.0.9.3:6393 --tls --ca "$P/ca.crt" cmd PING
assert_log "$WORK/tls_ip.log" '^status PONG$' "TLS, the certificate's IP SAN checked"
rtool tls_name 0 --addr 127.0.9.3:6393 --tls --ca "$P/ca.crt" --server-name redis.test cmd PING
assert_log "$WORK/tls_name.log" '^status PONG$' "TLS, SNI and DNS name checked"
rtool tls_badname 3 --addr 127.0.9.3:6393 --tls --ca "$P/ca.crt" --server-name other.test --wait-up-ms 600 cmd PING
assert_log "$WORK/tls_badname.log" 'down: TLS: server certificate refused: hostname mismatch' \
    "a certificate for another name is refused"
rtool tls_badca 3 --addr 127.0.9.3:6393 --tls --ca "$P/rogue.crt" --wait-up-ms 600 cmd PING
assert_log "$WORK/tls_badca.log" 'down: TLS: server certificate refused: (unable to get local issuer|self-signed)' \
    "a certificate from an untrusted CA is refused"
rtool tls_plain 3 --addr 127.0.9.3:6393 --wait-up-ms 600 cmd PING
assert_log "$WORK/tls_plain.log" 'down: ' "plain TCP to a TLS port is never up"
rtool mtls_nocert 3 --addr 127.0.9.4:6394 --tls --ca "$P/ca.crt" --wait-up-ms 800 cmd PING
assert_log "$WORK/mtls_nocert.log" 'Redis 127.0.9.4:6394 down: ' "mutual TLS without a client certificate"
rtool mtls 0 --addr 127.0.9.4:6394 --tls --ca "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" cmd PING
assert_log "$WORK/mtls.log" '^status PONG$' "mutual TLS with our client certificate"
rtool tls_badkey 1 --addr 127.0.9.4:6394 --tls --ca "$P/ca.crt" --cert "$P/client.crt" --key "$P/server.key" cmd PING
assert_log "$WORK/tls_badkey.log" 'cannot load tls_key .*server.key' "a key that does not match is refused by redis_new"

# ---- a killed server: fail fast, one line, back within backoff_max, resubscribed ----
R=127.0.9.5:6395
redis_start restart 127.0.9.5 6395
ep_spawn watch "$TOOL" --addr $R --timeout-ms 500 --backoff-max-ms 1000 watch 7
ep_spawn sub "$TOOL" --addr $R --backoff-max-ms 1000 sub ep:chan 7
wait_log "$WORK/watch.log" ' first-ok ' 5 || fail "watch: no first reply"
wait_until 5 numsub_is 127.0.9.5 6395 ep:chan 1 || fail "sub: not subscribed"
redis-cli -h 127.0.9.5 -p 6395 PUBLISH ep:chan before-kill >/dev/null
wait_log "$WORK/sub.log" 'message ep:chan before-kill$' 3 || fail "sub: no message before the kill"
ep_kill restart KILL
ep_wait restart 5
sleep 1.5 # several reconnect attempts, none of them logged
t_restart=$(now_ms)
redis_start restart 127.0.9.5 6395
wait_until 5 lines_ge "$WORK/watch.log" '^[0-9]+ up ' 2 || fail "watch: not up again after the restart"
t_up=$(grep -E '^[0-9]+ up ' "$WORK/watch.log" | sed -n 2p | awk '{print $1}')
note "up again $((t_up - t_restart)) ms after the restart (backoff_max 1000 ms)"
assert_cmp $((t_up - t_restart)) -le 1600 "ms from the restart to up (backoff_max 1000 + connect)"
wait_until 5 numsub_is 127.0.9.5 6395 ep:chan 1 || fail "sub: not resubscribed after the restart"
redis-cli -h 127.0.9.5 -p 6395 PUBLISH ep:chan after-restart >/dev/null
wait_log "$WORK/sub.log" 'message ep:chan after-restart$' 3 || fail "sub: the message after the restart did not arrive"
rwait watch 15
rwait sub 15
assert_eq 1 "$(count "$WORK/watch.log" 'warn redis: Redis 127.0.9.5:6395 down:')" "'down' lines for one outage"
assert_eq 0 "$(count "$WORK/watch.log" 'warn redis: .* still down')" "warnings while still down"
assert_log "$WORK/watch.log" 'warn redis: Redis 127.0.9.5:6395 up$' "the recovery line"
sync_down=$(grep -oE 'down_sync=[0-9]+' "$WORK/watch.log" | cut -d= -f2)
async_down=$(grep -oE 'down_async=[0-9]+' "$WORK/watch.log" | cut -d= -f2)
assert_cmp "$sync_down" -ge 10 "commands failed at once (inside redis_command) while down"
assert_cmp "$async_down" -le 3 "commands failed later (only those in flight at the kill)"
assert_log "$WORK/watch.log" 'max_fail_ms=[0-2]$' "failing while down takes no time"
assert_eq 1 "$(count "$WORK/sub.log" 'message ep:chan after-restart')" "messages after the restart"

# ---- a stopped server: command timeout ----
ep_spawn stopped "$TOOL" --addr $R --timeout-ms 400 --backoff-max-ms 500 watch 5
wait_log "$WORK/stopped.log" ' first-ok ' 5 || fail "stopped: no first reply"
ep_kill restart STOP
sleep 2
ep_kill restart CONT
rwait stopped 15
assert_log "$WORK/stopped.log" '^[0-9]+ fail timeout$' "a command to a stopped server fails with \"timeout\""
assert_eq 1 "$(count "$WORK/stopped.log" 'warn redis: .* down: no reply within 400 ms')" "'down' lines for the stop"
assert_eq 2 "$(count "$WORK/stopped.log" '^[0-9]+ up ')" "up, then up again after SIGCONT"
assert_log "$WORK/stopped.log" 'stats .* timeouts=[1-9]' "timeouts counted"

# ---- Sentinel: find the master, follow a failover and a killed master ----
SENT=127.0.9.11:26400,127.0.9.12:26400,127.0.9.13:26400
REPL=(--repl-diskless-sync-delay 0)
redis_start master 127.0.9.20 6400 --replica-announce-ip 127.0.9.20 "${REPL[@]}"
redis_start replica 127.0.9.21 6401 --replica-announce-ip 127.0.9.21 "${REPL[@]}" --replicaof 127.0.9.20 6400
for i in 1 2 3; do
    cat >"$WORK/sentinel$i.conf" <<EOF
port 26400
bind 127.0.9.1$i
dir $WORK
sentinel announce-ip 127.0.9.1$i
sentinel monitor mymaster 127.0.9.20 6400 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 3000
EOF
    if command -v redis-sentinel >/dev/null; then
        ep_spawn sentinel$i redis-sentinel "$WORK/sentinel$i.conf"
    else
        ep_spawn sentinel$i redis-server "$WORK/sentinel$i.conf" --sentinel
    fi
done
for i in 1 2 3; do wait_tcp 127.0.9.1$i 26400 || fail "sentinel$i does not listen"; done
sentinels_ready() { # every sentinel knows the replica and the two other sentinels
    local i info
    for i in 1 2 3; do
        info=$(redis-cli -h 127.0.9.1$i -p 26400 SENTINEL master mymaster 2>/dev/null | paste -sd' ')
        [[ $info =~ num-slaves\ 1\  ]] && [[ $info =~ num-other-sentinels\ 2\  ]] || return 1
    done
    redis-cli -h 127.0.9.21 -p 6401 INFO replication | grep -q 'master_link_status:up'
}
wait_until 20 sentinels_ready || fail "the sentinels did not find each other and the replica in 20 s"
note "sentinels ready"

rtool sentinel_cmd 0 --sentinels $SENT cmd SET ep:where master
assert_log "$WORK/sentinel_cmd.log" 'sentinel 127.0.9.11:26400: master mymaster is at 127.0.9.20:6400' \
    "the master found through Sentinel"
rtool sentinel_badname 3 --sentinels $SENT --master nosuch --wait-up-ms 600 cmd PING
assert_log "$WORK/sentinel_badname.log" 'no sentinel gave its address .*does not know the master' \
    "an unknown master name"

ep_spawn follow "$TOOL" --sentinels $SENT --timeout-ms 500 --backoff-max-ms 1000 watch 40 INCR ep:writes
wait_log "$WORK/follow.log" 'first-ok 127.0.9.20:6400' 5 || fail "follow: no write on the master"
t0=$(now_ms)
redis-cli -h 127.0.9.12 -p 26400 SENTINEL failover mymaster >"$WORK/failover.out" 2>&1
wait_log "$WORK/follow.log" 'first-ok 127.0.9.21:6401' 15 || fail "the client did not follow the failover"
t1=$(first_ms "$WORK/follow.log" 'first-ok 127.0.9.21:6401')
failover_ms=$((t1 - t0))
note "SENTINEL failover: first write on the new master $failover_ms ms after the command"
assert_log "$WORK/follow.log" 'master mymaster switched to 127.0.9.21:6401' "+switch-master followed"
w1=$(redis-cli -h 127.0.9.21 -p 6401 GET ep:writes)
sleep 0.5
w2=$(redis-cli -h 127.0.9.21 -p 6401 GET ep:writes)
assert_cmp "$w2" -gt "$w1" "writes on the new master go on"

# The old master must be a synchronised replica before its new master dies.
# Sentinel reconfigures it only at its next INFO poll (10 s): do it now.
redis-cli -h 127.0.9.20 -p 6400 REPLICAOF 127.0.9.21 6401 >/dev/null
old_master_synced() { redis-cli -h 127.0.9.20 -p 6400 INFO replication | grep -q 'master_link_status:up'; }
wait_until 15 old_master_synced || fail "the old master did not become a synchronised replica"
t2=$(now_ms)
ep_kill replica KILL
wait_until 20 lines_ge "$WORK/follow.log" 'first-ok 127.0.9.20:6400' 2 ||
    fail "the client did not follow the master's death"
t3=$(grep -E 'first-ok 127.0.9.20:6400' "$WORK/follow.log" | sed -n 2p | awk '{print $1}')
kill_ms=$((t3 - t2))
note "master killed: first write on the promoted replica $kill_ms ms later (down-after 1000 ms)"
rstop follow
assert_log "$WORK/follow.log" 'stats .*failovers=[2-9]' "failovers counted"

pass "failover followed in $failover_ms ms (SENTINEL failover), $kill_ms ms (master killed)"
