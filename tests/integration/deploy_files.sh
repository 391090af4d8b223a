#!/bin/bash
# deploy_files.sh -- what an operator installs on real hosts works as shipped:
# - deploy/edge-node.conf and deploy/edge-balancer.conf pass --check-config,
#   show every key --print-config knows (group by group), and name no key it
#   does not know (commented ones included);
# - `make install DESTDIR=...` lays out binaries, units (paths rewritten),
#   sysusers/tmpfiles files, samples and docs; a second install keeps an
#   edited configuration; `make uninstall` removes binaries and units, not
#   configurations;
# - the installed units pass `systemd-analyze verify` (no warning) in that
#   tree, and `systemd-analyze security --offline` rates them (figures noted);
# - the installed edge-node runs as an unprivileged user without any
#   capability (as its unit) and writes its policy snapshot to its state
#   directory; the installed edge-balancer runs as an unprivileged user with
#   CAP_NET_BIND_SERVICE as its only capability (as its unit) and answers
#   DNS on port 53, and cannot bind 53 without it;
# - deploy/redis/*.example, with the site's addresses, ports, directories and
#   passwords replaced for loopback, start a real Redis master, a replica
#   (masteruser/masterauth) and three Sentinels (quorum 2) that find each
#   other; the node's ACL user cannot FLUSHALL, CONFIG, touch keys outside
#   ep:*, and anonymous clients get nothing; every command the node,
#   balancer and edgectl sources send is allowed for their users (ACL
#   DRYRUN); a node built from the sample
#   configuration registers and seeds its policy through the sentinels as
#   that user, the balancer sees it through the same user and serves its
#   address, edgectl works with its own user;
# - SITE.md's nftables example and the keepalived examples parse (nft -c,
#   keepalived -t), when those tools are installed;
# - every setting deploy/SITE.md names exists (--print-config).
# Addresses: 127.0.24.0/24.
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/redis.sh"
ep_setup deploy_files
need_cmd redis-server redis-cli kdig systemd-analyze setpriv make
need_bin edge-node edge-balancer
NODE=$EP_BIN/edge-node
BALC=$EP_BIN/edge-balancer

R1=127.0.24.5 R2=127.0.24.6 R3=127.0.24.7 # Redis hosts (Redis on R1, R2; a Sentinel on each)
N1=127.0.24.21                            # edge1
BAL=127.0.24.11                           # the balancer's own address (DNS :53, admin)
VIP=127.0.24.10
PW_NODE=node-pw-$RANDOM$RANDOM PW_CTL=ctl-pw-$RANDOM PW_SENT=sent-pw-$RANDOM PW_SCLI=scli-pw-$RANDOM
PW_REPL=repl-pw-$RANDOM PW_ADMIN=admin-pw-$RANDOM

# ---- the samples: valid, every key, no unknown key ---------------------------
# keys FILE: "group.key" for every `key = ` line, commented or not, nested
# groups joined with dots ("policy.access_edge.x"); several "a = 1; b = 2;"
# on one line all count.
keys() {
    awk '
    { line = $0; sub(/^[ \t#]*/, "", line) }
    line ~ /^[a-z_]+ = \{/ { g = substr(line, 1, index(line, " ") - 1); stack[++d] = g; next }
    line ~ /^\};/ { if (d > 0) d--; next }
    d > 0 {
        n = split(line, parts, ";")
        for (i = 1; i <= n; i++) {
            p = parts[i]; sub(/^[ \t]*/, "", p)
            if (p ~ /^[a-z_]+ = /) {
                k = substr(p, 1, index(p, " ") - 1); pre = ""
                for (j = 1; j <= d; j++) pre = pre stack[j] "."
                print pre k
            }
            if (i == 1 && p !~ /^[a-z_]+ = /) break
        }
    }' "$1" | sort -u
}
for s in node:"$NODE":deploy/edge-node.conf balancer:"$BALC":deploy/edge-balancer.conf; do
    IFS=: read -r what bin file <<<"$s"
    "$bin" --check-config -c "$file" >"$WORK/check-$what.out" 2>&1 ||
        fail "--check-config $file: $(tail -1 "$WORK/check-$what.out")"
    "$bin" --print-config >"$WORK/ref-$what.conf" || fail "$bin --print-config"
    keys "$WORK/ref-$what.conf" >"$WORK/ref-$what.keys"
    keys "$file" >"$WORK/sample-$what.keys"
    missing=$(comm -23 "$WORK/ref-$what.keys" "$WORK/sample-$what.keys" | tr '\n' ' ')
    [ -z "$missing" ] || fail "$file does not show: $missing"
    if [ "$what" = balancer ]; then # the node's policy group has list entries with keys of their own
        unknown=$(comm -13 "$WORK/ref-$what.keys" "$WORK/sample-$what.keys" | tr '\n' ' ')
        [ -z "$unknown" ] || fail "$file names keys --print-config does not know: $unknown"
    fi
    note "$file: --check-config ok, $(wc -l <"$WORK/ref-$what.keys") keys of --print-config all shown"
done
cat "$WORK"/ref-*.keys | sort -u >"$WORK/all.keys"

# ---- make install / uninstall --------------------------------------------------
ROOT=$WORK/root
EP_RUN_TIMEOUT=60 ep_run install make -C "$EP_ROOT" --no-print-directory install DESTDIR="$ROOT" ||
    fail "make install DESTDIR=$ROOT: $(tail -3 "$WORK/install.log")"
for f in usr/local/sbin/edge-node usr/local/sbin/edge-balancer usr/local/bin/edgectl; do
    [ -x "$ROOT/$f" ] || fail "make install: no executable /$f"
done
for f in usr/local/lib/systemd/system/edge-node@.service usr/local/lib/systemd/system/edge-balancer.service \
    usr/local/lib/sysusers.d/edgepool.conf usr/local/lib/tmpfiles.d/edgepool.conf \
    etc/edgepool/node-edge1.conf etc/edgepool/balancer.conf \
    etc/edgepool/edge-node.conf.example etc/edgepool/edge-balancer.conf.example \
    usr/local/share/doc/edgepool/SITE.md usr/local/share/doc/edgepool/redis.conf.example \
    usr/local/share/doc/edgepool/sentinel.conf.example usr/local/share/doc/edgepool/keepalived.conf.example; do
    [ -f "$ROOT/$f" ] || fail "make install: no /$f"
done
assert_eq 640 "$(stat -c %a "$ROOT/etc/edgepool/balancer.conf")" "balancer.conf mode (may hold the Redis password)"
assert_eq 750 "$(stat -c %a "$ROOT/etc/edgepool")" "/etc/edgepool mode"
assert_log "$ROOT/usr/local/lib/systemd/system/edge-node@.service" \
    '^ExecStart=/usr/local/sbin/edge-node -f -c /etc/edgepool/node-%i.conf$' "the node unit's ExecStart"
# the sysusers.d and tmpfiles.d files, applied to the installed tree as
# `make install` applies them to / (systemd-sysusers, systemd-tmpfiles)
systemd-sysusers --root="$ROOT" >"$WORK/sysusers.out" 2>&1 || fail "systemd-sysusers: $(tail -2 "$WORK/sysusers.out")"
assert_log "$ROOT/etc/passwd" '^edgepool:x:[0-9]+:[0-9]+:.*:/var/lib/edgepool:/usr/sbin/nologin$' "the edgepool system user (no login)"
systemd-tmpfiles --root="$ROOT" --create >"$WORK/tmpfiles.out" 2>&1 || fail "systemd-tmpfiles: $(tail -2 "$WORK/tmpfiles.out")"
ugid=$(awk -F: '$1 == "edgepool" { print $3 ":" $4 }' "$ROOT/etc/passwd")
assert_eq "0:${ugid#*:} 750" "$(stat -c '%u:%g %a' "$ROOT/etc/edgepool")" "/etc/edgepool root:edgepool 0750"
assert_eq "$ugid 750" "$(stat -c '%u:%g %a' "$ROOT/var/lib/edgepool")" "/var/lib/edgepool edgepool:edgepool 0750"
# PREFIX rewrites the units' paths
ep_run install_usr make -C "$EP_ROOT" --no-print-directory install DESTDIR="$WORK/root-usr" PREFIX=/usr ||
    fail "make install PREFIX=/usr: $(tail -3 "$WORK/install_usr.log")"
assert_log "$WORK/root-usr/usr/lib/systemd/system/edge-balancer.service" \
    '^ExecStart=/usr/sbin/edge-balancer -f -c /etc/edgepool/balancer.conf$' "PREFIX=/usr: the unit runs /usr/sbin/edge-balancer"
# an edited configuration survives a second install
echo '# edited by the operator' >>"$ROOT/etc/edgepool/node-edge1.conf"
ep_run install2 make -C "$EP_ROOT" --no-print-directory install DESTDIR="$ROOT" || fail "second make install"
assert_log "$ROOT/etc/edgepool/node-edge1.conf" '^# edited by the operator' "a second install keeps node-edge1.conf"
assert_log "$WORK/install2.log" 'kept .*node-edge1.conf' "the second install says it kept the file"
# uninstall in a copy: binaries and units go, configurations stay
cp -a "$ROOT" "$WORK/root-un"
ep_run uninstall make -C "$EP_ROOT" --no-print-directory uninstall DESTDIR="$WORK/root-un" || fail "make uninstall"
for f in usr/local/sbin/edge-node usr/local/sbin/edge-balancer usr/local/bin/edgectl \
    usr/local/lib/systemd/system/edge-node@.service usr/local/lib/systemd/system/edge-balancer.service; do
    [ ! -e "$WORK/root-un/$f" ] || fail "make uninstall left /$f"
done
[ -f "$WORK/root-un/etc/edgepool/node-edge1.conf" ] || fail "make uninstall removed /etc/edgepool/node-edge1.conf"
note "make install: $(find "$ROOT" -type f | wc -l) files; uninstall keeps /etc/edgepool"

# ---- systemd-analyze on the installed units -------------------------------------
mkdir -p "$ROOT/lib/systemd" && cp -a /lib/systemd/system "$ROOT/lib/systemd/" || fail "copying systemd's units"
systemd-analyze verify --root="$ROOT" edge-node@edge1.service edge-balancer.service >"$WORK/verify.out" 2>&1
rc=$?
[ "$rc" = 0 ] && [ ! -s "$WORK/verify.out" ] || fail "systemd-analyze verify (rc $rc): $(head -5 "$WORK/verify.out")"
for u in edge-node@edge1.service edge-balancer.service; do
    systemd-analyze security --offline=true --root="$ROOT" "$u" >"$WORK/security-$u.out" 2>&1
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' "$WORK/security-$u.out")
    [ -n "$score" ] || fail "systemd-analyze security $u: $(tail -2 "$WORK/security-$u.out")"
    note "systemd-analyze security $u: exposure $score ($(grep -c '✗' "$WORK/security-$u.out") items open)"
    assert_cmp "${score/./}" -le 20 "$u exposure level $score (at most 2.0)"
done
grep -q '^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$' "$ROOT/usr/local/lib/systemd/system/edge-balancer.service" ||
    fail "the balancer unit does not bound its capabilities to CAP_NET_BIND_SERVICE"

# ---- Redis, replica and three Sentinels from the examples ------------------------
# site2lo FILE OUT ADDR: the example with the site's addresses, directories and
# passwords replaced (what an operator edits), for one loopback host
site2lo() {
    local a=$3
    mkdir -p "$WORK/$a"
    sed -e "s/^bind 10\.0\.0\.5 127\.0\.0\.1/bind $a/" -e "s/10\.0\.0\.5/$R1/g" \
        -e "s|^dir /var/lib/redis|dir $WORK/$a|" -e 's/^supervised auto/supervised no/' \
        -e "s/CHANGE-ME-edgepool/$PW_NODE/" -e "s/CHANGE-ME-edgectl/$PW_CTL/" \
        -e "s/CHANGE-ME-sentinel/$PW_SENT/" -e "s/CHANGE-ME-replica/$PW_REPL/g" \
        -e "s/CHANGE-ME-admin/$PW_ADMIN/" -e 's/^maxmemory 1gb/maxmemory 64mb/' "$1" >"$2"
}
site2lo deploy/redis/redis.conf.example "$WORK/redis1.conf" $R1
site2lo deploy/redis/redis.conf.example "$WORK/redis2.conf" $R2
# on loopback every connection leaves from 127.0.0.1: each instance says
# which address is its own (on real hosts the source address is the host's)
echo "replica-announce-ip $R1" >>"$WORK/redis1.conf"
printf 'replicaof %s 6379\nreplica-announce-ip %s\n' $R1 $R2 >>"$WORK/redis2.conf"
grep -q "^[^#]*CHANGE-ME" "$WORK/redis1.conf" && fail "a CHANGE-ME password left in the Redis example after the substitutions"
adm() { redis-cli --raw -h "$1" -p "${2:-6379}" --user admin --pass "$PW_ADMIN" --no-auth-warning "${@:3}" 2>&1; }
up_admin() { [ "$(adm "$1" 6379 PING)" = PONG ]; }
ep_spawn redis1 redis-server "$WORK/redis1.conf"
ep_spawn redis2 redis-server "$WORK/redis2.conf"
wait_until 10 up_admin $R1 || fail "Redis from redis.conf.example did not answer: $(tail -3 "$WORK/redis1.log")"
wait_until 10 up_admin $R2 || fail "the replica did not answer: $(tail -3 "$WORK/redis2.log")"
assert_eq yes "$(adm $R1 6379 CONFIG GET appendonly | tail -1)" "appendonly"
assert_eq noeviction "$(adm $R1 6379 CONFIG GET maxmemory-policy | tail -1)" "maxmemory-policy"
linked() { adm $R2 6379 INFO replication | grep -q '^master_link_status:up'; }
wait_until 15 linked || fail "the replica did not sync as user replica: $(grep -i 'auth\|error' "$WORK/redis2.log" | tail -2)"

for h in $R1 $R2 $R3; do
    sed -e "s/^bind 10\.0\.0\.5 127\.0\.0\.1/bind $h/" -e "s/10\.0\.0\.5/$R1/g" \
        -e "s|^dir /var/lib/redis|dir $WORK/s-$h|" -e 's/^supervised auto/supervised no/' \
        -e "s/CHANGE-ME-sentinel/$PW_SENT/" -e "s/CHANGE-ME-client-sentinels/$PW_SCLI/g" \
        deploy/redis/sentinel.conf.example >"$WORK/sentinel-$h.conf"
    echo "sentinel announce-ip $h" >>"$WORK/sentinel-$h.conf"
    mkdir -p "$WORK/s-$h"
    ep_spawn "sentinel-$h" redis-server "$WORK/sentinel-$h.conf" --sentinel
done
sent() { redis-cli --raw -h "$1" -p 26379 -a "$PW_SCLI" --no-auth-warning "${@:2}" 2>&1; }
sfield() { sent "$1" SENTINEL MASTER edgepool | awk -v k="$2" 'p { print; exit } $0 == k { p = 1 }'; }
sentinels_ready() {
    [ "$(sfield $R1 num-other-sentinels)" = 2 ] && [ "$(sfield $R1 num-slaves)" = 1 ] &&
        [ "$(sfield $R3 num-other-sentinels)" = 2 ]
}
t0=$(ep__now)
wait_until 30 sentinels_ready ||
    fail "sentinels: others $(sfield $R1 num-other-sentinels), replicas $(sfield $R1 num-slaves), flags $(sfield $R1 flags)"
note "3 sentinels from sentinel.conf.example see each other and the replica in $((($(ep__now) - t0) / 1000)) ms"
assert_eq master "$(sfield $R1 flags)" "Sentinel's view of the master"
assert_eq 2 "$(sfield $R1 quorum)" "quorum"
assert_eq "$R1 6379" "$(sent $R2 SENTINEL get-master-addr-by-name edgepool | tr '\n' ' ' | sed 's/ $//')" "the master's address"
assert_match NOAUTH "$(redis-cli -h $R2 -p 26379 SENTINEL get-master-addr-by-name edgepool 2>&1)" \
    "the sentinels refuse a client without their password"

# the ACL: the node's user can do what a node does, nothing else
as_node() { redis-cli --raw -h $R1 -p 6379 --user edgepool --pass "$PW_NODE" --no-auth-warning "$@" 2>&1; }
for c in "FLUSHALL" "CONFIG GET maxmemory" "GET notours" "KEYS *" "SHUTDOWN" "REPLICAOF NO ONE" "CLIENT LIST" "BGSAVE" "ACL LIST" "SCRIPT FLUSH"; do
    read -ra argv <<<"$c"
    out=$(as_node "${argv[@]}")
    assert_match '^NOPERM' "$out" "user edgepool: $c refused"
done
# every command the code sends (string literals of Redis command names in the
# files that talk to Redis, the Lua scripts' redis.call included) is allowed
# for the user that sends it: ACL DRYRUN with arguments in ep:* (arity from
# COMMAND INFO). READONLY appears only as an error text the client reads.
adm $R1 6379 COMMAND LIST | tr a-z A-Z | grep -v '|' | sort >"$WORK/redis-commands"
dryrun_all() { # USER FILE...: every command found in FILE... allowed for USER
    local user=$1 c n ar args out bad="" count=0
    shift
    for c in $(cat "$WORK/redis-commands"); do
        [ "$c" = READONLY ] && continue
        # "INFO" in these files is SIP's INFO method (the gateway's typing
        # notifications); the daemons never send Redis INFO
        [ "$c" = INFO ] && ! grep -qE '(redis_command|pool_write)[^;]*"INFO' "$@" && continue
        grep -qE "\"$c( |\")|'$c'" "$@" || continue
        count=$((count + 1))
        ar=$(adm $R1 6379 COMMAND INFO "$c" | sed -n 2p)
        ar=${ar#-}
        case $c in
        EVAL | EVALSHA) args=("return 1" 1 ep:edgepool:k) ;;
        SELECT) args=(0) ;;
        AUTH) args=(edgepool x) ;;
        *) args=() && for ((n = 1; n < ar; n++)); do args+=(ep:edgepool:k); done ;;
        esac
        out=$(adm $R1 6379 ACL DRYRUN "$user" "$c" "${args[@]}")
        [ "$out" = OK ] || bad="$bad $c($out)"
    done
    [ -z "$bad" ] || fail "user $user may not run what the code sends:$bad"
    DRY_COUNT=$count
}
mapfile -t src < <(grep -rlE 'redis_command|redis\.call|pool_write|redis_subscribe|conn_sendf' node shared balancer --include=*.c | grep -v edgectl)
dryrun_all edgepool "${src[@]}"
note "ACL: the $DRY_COUNT Redis commands found in ${#src[@]} node/balancer sources all allowed for user edgepool"
mapfile -t src < <(grep -lE 'ctl_redis' node/edgectl/*.c)
dryrun_all edgectl "${src[@]}"
note "ACL: the $DRY_COUNT Redis commands found in edgectl's ${#src[@]} Redis sources all allowed for user edgectl"
assert_eq OK "$(as_node SET ep:deploytest:x 1)" "user edgepool writes an ep: key"
assert_match "NOPERM|can't access" "$(as_node EVAL "return redis.call('SET', 'other', '1')" 0)" "user edgepool: a script cannot write outside ep:*"
assert_match 'NOAUTH' "$(redis-cli --raw -h $R1 -p 6379 GET ep:deploytest:x 2>&1)" "anonymous client refused"
as_node DEL ep:deploytest:x >/dev/null

# as the units run the daemons: another user (nobody here, edgepool there), no
# new privileges, capabilities bounded to CAPS, ambient so they survive
unpriv() { # CAPS: UNPRIV=( setpriv ... ) running a command as nobody with only CAPS ("": none)
    UNPRIV=(setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs)
    if [ -n "$1" ]; then
        UNPRIV+=(--inh-caps="-all,+$1" --ambient-caps="+$1" --bounding-set="-all,+$1")
    else
        UNPRIV+=(--inh-caps=-all --bounding-set=-all)
    fi
}

# ---- the installed node from the sample, as nobody without any capability,
# through the sentinels as Redis user edgepool --------------------------------------
mkdir -p "$WORK/state" && chown nobody:nogroup "$WORK/state" && chmod 0750 "$WORK/state" && chmod o+rx "$WORK"
REDIS_GROUP="sentinels = \"$R1:26379,$R2:26379,$R3:26379\"; master_name = \"edgepool\";
  username = \"edgepool\"; password = \"$PW_NODE\"; sentinel_password = \"$PW_SCLI\"; pool = \"edgepool\"; snapshot = \"$WORK/state/edgepool-edge1.policy\";"
sed -e "s/127\.0\.0\.1:50\(6[01]\)/$N1:50\1/" -e "s/127\.0\.0\.1:8080/$N1:8080/" deploy/edge-node.conf >"$WORK/node-edge1.conf"
printf 'redis = {\n  %s\n};\n' "$REDIS_GROUP" >>"$WORK/node-edge1.conf"
chmod 0644 "$WORK/node-edge1.conf"
INODE=$ROOT/usr/local/sbin/edge-node
"$INODE" --check-config -c "$WORK/node-edge1.conf" >"$WORK/check-node1.out" 2>&1 ||
    fail "the node's site configuration: $(tail -1 "$WORK/check-node1.out")"
t0=$(ep__now)
unpriv ""
ep_spawn node-edge1 "${UNPRIV[@]}" "$INODE" -f -c "$WORK/node-edge1.conf"
registered() { [ "$(adm $R1 6379 EXISTS ep:edgepool:alive:edge1)" = 1 ]; }
wait_until 15 registered || fail "edge1 did not register through the sentinels: $(grep -i 'redis' "$WORK/node-edge1.log" | tail -3)"
note "edge1 (deploy/edge-node.conf + redis via 3 sentinels, ACL user edgepool) registered in $((($(ep__now) - t0) / 1000)) ms"
assert_eq "$N1:5061" "$(adm $R1 6379 HGET ep:edgepool:node:edge1 external)" "edge1's registered external address"
seeded() { [ "$(adm $R1 6379 HGET ep:edgepool:policy version)" -ge 1 ] 2>/dev/null; }
wait_until 10 seeded ||
    fail "edge1 did not seed the policy as user edgepool"
assert_no_log "$WORK/node-edge1.log" 'NOPERM' "no command of the node refused by the ACL"
pid=$(pgrep -u nobody -f "^$INODE -f -c" | head -1)
[ -n "$pid" ] || fail "no edge-node process of user nobody"
assert_eq 0000000000000000 "$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$pid/status")" "the node's effective capabilities: none"
for port in 5060 5061 5269 8080; do
    wait_tcp $N1 $port || fail "the node (nobody) does not listen on $N1:$port"
done
snap() { [ -s "$WORK/state/edgepool-edge1.policy" ]; }
wait_until 10 snap || fail "the node (nobody) wrote no policy snapshot in its state directory: $(grep -i snapshot "$WORK/node-edge1.log" | tail -2)"
note "installed edge-node as nobody, CapEff 0: listens on $N1:5060/5061/5269/8080, snapshot $(stat -c '%U %a' "$WORK/state/edgepool-edge1.policy") in the state directory"

# ---- the installed balancer: unprivileged, CAP_NET_BIND_SERVICE only, port 53 -----
sed -e "s/^  listen = \"127\.0\.0\.2\";/  listen = \"$VIP\";/" \
    -e "s/^  listen = \"127\.0\.0\.1:5353\";/  listen = \"$BAL:53\";/" \
    -e "s/^  listen = \"127\.0\.0\.1:8081\";/  listen = \"$BAL:8081\";/" \
    -e "s/ns1\.contoso\.test@127\.0\.0\.1/ns1.contoso.test@$BAL/" \
    -e "s/^  master_name = \"mymaster\";/  master_name = \"edgepool\"; sentinels = \"$R1:26379,$R2:26379,$R3:26379\";\n  username = \"edgepool\"; password = \"$PW_NODE\"; sentinel_password = \"$PW_SCLI\";/" \
    deploy/edge-balancer.conf >"$WORK/balancer.conf"
chmod 0644 "$WORK/balancer.conf"
IBAL=$ROOT/usr/local/sbin/edge-balancer
"$IBAL" --check-config -c "$WORK/balancer.conf" >"$WORK/check-bal.out" 2>&1 ||
    fail "the balancer's site configuration: $(tail -1 "$WORK/check-bal.out")"
# as the unit: another user, no new privileges, CAP_NET_BIND_SERVICE bounding and ambient only
unpriv ""
EP_RUN_TIMEOUT=10 ep_run balancer-nocap "${UNPRIV[@]}" "$IBAL" -f -c "$WORK/balancer.conf" &&
    fail "the balancer bound port 53 without CAP_NET_BIND_SERVICE"
assert_log "$WORK/balancer-nocap.log" "$BAL:53" "without the capability: the log names the address it could not bind"
unpriv net_bind_service
ep_spawn balancer1 "${UNPRIV[@]}" "$IBAL" -f -c "$WORK/balancer.conf"
wait_tcp $BAL 53 || fail "the balancer (nobody, CAP_NET_BIND_SERVICE) does not listen on $BAL:53: $(tail -3 "$WORK/balancer1.log")"
pid=$(pgrep -u nobody -f "^$IBAL -f -c $WORK/balancer.conf" | head -1)
[ -n "$pid" ] || fail "no edge-balancer process of user nobody"
capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$pid/status")
assert_eq 0000000000000400 "$capeff" "the balancer's effective capabilities: CAP_NET_BIND_SERVICE only"
answer() { kdig @$BAL -p 53 +short +time=1 +retry=0 sip.contoso.test A 2>/dev/null; }
t0=$(ep__now)
answered() { [ "$(answer)" = "$N1" ]; }
wait_until 10 answered || fail "the balancer's DNS on :53 does not answer $N1 for the pool (got '$(answer)')"
note "installed edge-balancer as nobody with CapEff=$capeff: kdig @$BAL:53 sip.contoso.test A -> $(answer) ($((($(ep__now) - t0) / 1000)) ms after listening)"
assert_no_log "$WORK/balancer1.log" 'NOPERM' "no command of the balancer refused by the ACL"

# ---- edgectl with its own user ------------------------------------------------------
CTL=$ROOT/usr/local/bin/edgectl
timeout 20 "$CTL" --sentinels "$R1:26379,$R2:26379,$R3:26379" --master edgepool --user edgectl \
    --password "$PW_CTL" --sentinel-password "$PW_SCLI" pool status >"$WORK/ctl-status.out" 2>&1 || fail "edgectl pool status as user edgectl: $(tail -2 "$WORK/ctl-status.out")"
assert_log "$WORK/ctl-status.out" 'edge1' "edgectl pool status lists edge1"
timeout 20 "$CTL" --sentinels "$R1:26379,$R2:26379,$R3:26379" --master edgepool --user edgectl \
    --password "$PW_CTL" --sentinel-password "$PW_SCLI" sessions >"$WORK/ctl-sessions.out" 2>&1 || fail "edgectl sessions as user edgectl: $(tail -2 "$WORK/ctl-sessions.out")"
timeout 20 "$CTL" -c "$WORK/node-edge1.conf" allowed add deploy.test >"$WORK/ctl-add.out" 2>&1 ||
    fail "edgectl -c node-edge1.conf (user edgepool) allowed add: $(tail -2 "$WORK/ctl-add.out")"
note "edgectl: pool status and sessions as user edgectl, a policy change as user edgepool (-c the node's file)"

# ---- the nftables and keepalived examples parse (when those tools are here:
# they are not test packages, so a machine without them only notes it) --------
if command -v nft >/dev/null; then
    awk '/^table inet edgepool/,/^}$/' deploy/SITE.md >"$WORK/node.nft"
    sed -e 's/^    #   //' "$WORK/node.nft" | grep -v '^    # .* only:$' >"$WORK/all-roles.nft"
    for f in node.nft all-roles.nft; do
        [ -s "$WORK/$f" ] || fail "no nftables example in deploy/SITE.md"
        nft -c -f "$WORK/$f" >"$WORK/$f.out" 2>&1 || fail "nft -c: SITE.md's example ($f): $(head -3 "$WORK/$f.out")"
    done
    note "nft -c accepts SITE.md's nftables example (node rules, and with the balancer/Redis lines uncommented)"
else
    note "nft not installed: SITE.md's nftables example not checked"
fi
if command -v keepalived >/dev/null; then
    for f in deploy/keepalived/*.example; do
        # keepalived -t reports each unknown keyword or bad value as "(FILE: Line N) ..."
        # (it ends by SIGTERM, exit 143, whatever it found; in the background so
        # that bash does not print "Terminated")
        timeout 10 keepalived -t -f "$EP_ROOT/$f" --log-console </dev/null >"$WORK/ka.out" 2>&1 &
        wait $!
        ! grep -E '^\(|rror|nknown' "$WORK/ka.out" >/dev/null || fail "keepalived -t $f: $(head -3 "$WORK/ka.out")"
    done
    note "keepalived -t: $(ls deploy/keepalived/*.example | wc -l) examples, no unknown keyword or bad value"
else
    note "keepalived not installed: the keepalived examples not checked"
fi

# ---- SITE.md names only settings that exist -------------------------------------------
bad=""
GROUPS_RE='(node|internal|external|tls|dns|limits|admin|xmpp|redis|policy|balancer|vip|health|nodes)'
for k in $(grep -oE "\`$GROUPS_RE\.[a-z_]+(\.[a-z_]+)?" deploy/SITE.md | tr -d '`' | sort -u); do
    case $k in *.conf | *.service | *.md | *.example | *.pem | *.key | *.crt | *.csr | *.cnf | *.sh) continue ;; esac
    grep -qx "$k" "$WORK/all.keys" || bad="$bad $k"
done
[ -z "$bad" ] || fail "deploy/SITE.md names settings --print-config does not know:$bad"
note "deploy/SITE.md: $(grep -oE "\`$GROUPS_RE\.[a-z_]+" deploy/SITE.md | sort -u | wc -l) setting names, all known"
# ---- README's configuration reference is what the binaries print
{
    "$EP_BIN/edge-node" --print-config | /usr/bin/python3 "$EP_LIB/config_reference.py" edge-node
    echo
    "$EP_BIN/edge-balancer" --print-config | /usr/bin/python3 "$EP_LIB/config_reference.py" edge-balancer
} >"$WORK/reference.want"
sed -n '/^<!-- config-reference:begin/,/^<!-- config-reference:end/p' README.md | sed '1d;$d' >"$WORK/reference.have"
diff -u "$WORK/reference.have" "$WORK/reference.want" >"$WORK/reference.diff" ||
    fail "README.md's configuration reference differs from --print-config (regenerate it with tests/lib/config_reference.py): $(head -c 600 "$WORK/reference.diff")"
note "README.md's configuration reference: $(grep -c '^| `' "$WORK/reference.want") keys, as the binaries print them"
pass
