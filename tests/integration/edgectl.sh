#!/bin/bash
# edgectl.sh -- bin/edgectl against a real redis-server, NSD and TLS edges:
# every command, --json parsed, bad arguments refused (exit 2) before Redis
# is touched, Lync's conflict rules refused in the node's words (exit 1), the
# policy version counted up and PUBLISHed, concurrent edits all applied, a
# change and a drain obeyed by a real edge-node, sessions counted, diagnose
# right about a matching and a mismatching certificate; Sentinel, TLS to
# Redis and AUTH through the nodes' own Redis client.
#
#   127.0.10.1:6391   redis-server (the pool's Redis)
#   127.0.10.2:5061   openssl s_server, fabrikam-edge (sip.fabrikam.test), mutual TLS
#   127.0.10.3:5061   openssl s_server, wrongsan (sip.evil.test): the DNS name is sip.northwind.test
#   127.0.10.11       node1, an edge-node of pool t (internal :5060, TLS :5061)
#   127.0.10.53:5300  NSD: fabrikam.test, northwind.test
. "${EP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
ep_setup edgectl
need_bin edgectl edge-node
need_cmd redis-server redis-cli nsd nsd-checkconf kdig openssl
PY=/usr/bin/python3 # Debian's: the json module is all we need
[ -x $PY ] || skip "$PY not installed"
ep_certs
C=$EP_CERTS

R=127.0.10.1
RP=6391
POOL=t
RCLI=(redis-cli -h $R -p $RP)

ep_spawn redis redis-server --port $RP --bind $R --save '' --appendonly no
wait_tcp $R $RP || fail "redis-server did not start"

# --- helpers ---------------------------------------------------------------------
# ctl ARGS...: run edgectl on the test pool; stdout in $OUT, stderr in $ERR,
# exit status in $RC. A sanitizer report fails the test.
N=0
ctl() {
    N=$((N + 1))
    OUT=$WORK/ctl.$N.out
    ERR=$WORK/ctl.$N.err
    timeout -k 2 30 "$EP_BIN/edgectl" --redis $R:$RP --pool $POOL "$@" >"$OUT" 2>"$ERR" </dev/null
    RC=$?
    echo "[$N] edgectl $* -> $RC" >>"$WORK/ctl.log"
    if grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$ERR"; then
        cat "$ERR" >&2
        fail "edgectl $*: sanitizer report"
    fi
}
# run RC ARGS...: ctl, and the exit status must be RC.
run() {
    local want=$1
    shift
    ctl "$@"
    if [ "$RC" != "$want" ]; then
        echo "--- stdout:" >&2
        head -30 "$OUT" >&2
        echo "--- stderr:" >&2
        head -10 "$ERR" >&2
        fail "edgectl $*: exit $RC, expected $want"
    fi
}
# bad REGEX ARGS...: refused as bad arguments: exit 2, a one-line message
# matching REGEX and the usage on stderr, nothing on stdout.
bad() {
    local re=$1
    shift
    run 2 "$@"
    grep -qE -- "$re" "$ERR" || fail "edgectl $*: no /$re/ in: $(head -3 "$ERR")"
    [ -s "$OUT" ] && fail "edgectl $*: a usage error printed on stdout: $(head -3 "$OUT")"
    note "ok: refused (2): edgectl $*: $(head -1 "$ERR")"
}
# refused REGEX ARGS...: refused by a rule: exit 1 and REGEX on stderr.
refused() {
    local re=$1
    shift
    run 1 "$@"
    grep -qE -- "$re" "$ERR" || fail "edgectl $*: no /$re/ in: $(head -3 "$ERR")"
    note "ok: refused (1): edgectl $*: $(head -1 "$ERR")"
}
# jq EXPR: Python expression on the JSON document in $OUT (as d), printed.
# Only inside $(...); json_ok first proves the document parses.
jq() {
    $PY -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$OUT" "$1"
}
# json_ok: $OUT is exactly one valid JSON document.
json_ok() {
    $PY -c 'import json, sys; json.loads(open(sys.argv[1]).read())' "$OUT" 2>"$WORK/json.err" ||
        fail "not one JSON document ($(cat "$WORK/json.err" | tail -1)): $(head -c 300 "$OUT")"
}
version() { "${RCLI[@]}" HGET ep:$POOL:policy version; }

# --- help: every command answers --help -------------------------------------------
run 0 --help
grep -q 'diagnose DOMAIN' "$OUT" || fail "--help does not list diagnose"
for cmd in "policy show" "policy set-access-edge" "policy seed" "allowed add" "allowed remove" \
    "allowed list" "blocked add" "blocked remove" "blocked list" "internal-domain add" \
    "internal-domain remove" "internal-domain list" "provider add" "provider remove" \
    "provider enable" "provider disable" "provider list" "xmpp add" "xmpp remove" "xmpp list" \
    "access-policy set" "access-policy remove" "access-policy list" "user grant" "user revoke" \
    "user list" "pool status" "node drain" "node undrain" "sessions" "watch-list" "diagnose"; do
    run 0 $cmd --help
    grep -q "^usage: edgectl \[OPTIONS\] $cmd" "$OUT" || fail "$cmd --help: $(head -1 "$OUT")"
done
run 0 policy set-access-edge --help
grep -q 'outgoing_tls_count' "$OUT" || fail "set-access-edge --help does not list the settings"
run 0 provider --help
grep -q 'provider disable NAME' "$OUT" || fail "provider --help: $(cat "$OUT")"
note "ok: --help on every command"

# --- bad arguments: exit 2, nothing touched -----------------------------------------
bad 'no command given'
bad "unknown command 'frob'" frob
bad "unknown command 'allowed frob'" allowed frob
bad "'allowed' needs one of: add, remove, list" allowed
bad 'missing DOMAIN' allowed add
bad 'missing POLICY' user grant bob@contoso.test
bad "unexpected argument 'b.test'" allowed remove a.test b.test
bad "domain 'bad_domain!' is not a valid domain name" allowed add 'bad_domain!'
bad "--edge 'sip..fabrikam.test' is not a valid domain name" allowed add fabrikam.test --edge sip..fabrikam.test
bad "domain '192.0.2.1' is not a valid domain name" blocked add 192.0.2.1
bad 'unknown option --bogus' allowed add x.test --bogus
bad 'option --comment needs a value' blocked add x.test --comment
bad "unknown verification level 'bogus'" provider add X --fqdn sip.x.test --type hosting --verification bogus
bad '--type is required' provider add X --fqdn sip.x.test
bad '--fqdn is required' provider add X --type public
bad "unknown provider type 'cloud'" provider add X --fqdn sip.x.test --type cloud
bad "unknown --tls 'sometimes'" xmpp add jabber.test --tls sometimes
bad "unknown XMPP partner type" xmpp add jabber.test --type friendly
bad "--federation 'maybe': say on or off" access-policy set P --federation maybe
bad "outgoing_tls_count '9': a whole number 1..4" policy set-access-edge outgoing_tls_count 9
bad "unknown access-edge setting 'no_such_key'" policy set-access-edge no_such_key 1
bad "'allow_federated_users' has no value" policy set-access-edge allow_federated_users
bad "routing_method" policy set-access-edge routing_method by_magic
bad "user 'bob' is not a user@domain address" user grant bob NoFed
bad "not a valid domain name" user revoke 'bob@bad..test'
bad "--pool 'a:b'" --pool a:b policy show
bad "--partner 'x_y' is not a valid domain name" sessions --partner x_y
bad "domain 'no such.test' is not a valid domain name" diagnose 'no such.test'
bad "--port 'x'" diagnose fabrikam.test --port x
bad "--timeout" --timeout 0 policy show
run 2 --json allowed add 'bad!'
json_ok
assert_eq "[false, 2]" "$(jq '[d["ok"], d["exit"]]')" "--json usage error"
assert_eq 0 "$("${RCLI[@]}" EXISTS ep:$POOL:policy)" "the policy key after the bad arguments"

# --- Redis unreachable: exit 1, the address named ------------------------------------
N=$((N + 1))
timeout 20 "$EP_BIN/edgectl" --redis $R:6399 --timeout 1 allowed add x.test >"$WORK/down.out" 2>"$WORK/down.err"
assert_eq 1 $? "exit status with Redis unreachable"
assert_log "$WORK/down.err" "cannot reach Redis at $R:6399" "the unreachable address"
timeout 20 "$EP_BIN/edgectl" --redis $R:6399 --timeout 1 --json pool status >"$OUT" 2>/dev/null
json_ok
assert_eq false "$(jq 'd["ok"]')" "--json ok with Redis unreachable"

# --- the policy channel, watched from here on -------------------------------------
ep_spawn sub "${RCLI[@]}" SUBSCRIBE ep:$POOL:policy ep:$POOL:nodes
wait_log "$WORK/sub.log" "^ep:$POOL:nodes" 5 || fail "redis-cli subscribe did not start"
# published CHANNEL: the payloads seen on CHANNEL so far, one per line
published() { awk -v ch="$1" 'p == 2 { print; p = 0; next } p == 1 { p = ($0 == ch) ? 2 : 0; next } $0 == "message" { p = 1 }' "$WORK/sub.log"; }

# --- policy seed ------------------------------------------------------------------
cat >"$WORK/seed.conf" <<'EOF'
# a node configuration: only its policy group is seeded
node = { id = "edge1"; };
policy = {
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( "fabrikam.test" );
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );
};
EOF
cat >"$WORK/bad-seed.conf" <<'EOF'
policy = {
  allowed_domains = ( "fabrikam.test" );
  blocked_domains = ( "fabrikam.test" );
};
EOF
refused "bad-seed.conf:3: policy.blocked_domains\[0\]: fabrikam.test is already allowed" policy seed "$WORK/bad-seed.conf"
refused "has no policy group" policy seed /dev/null
run 0 --json policy seed "$WORK/seed.conf"
json_ok
assert_eq "1" "$(jq 'd["version"]')" "version after the seed"
assert_cmp "$(jq 'd["published_to"]')" -ge 1 "subscribers told of the seed"
refused "pool t already has a policy \(version 1" policy seed "$WORK/seed.conf"
run 0 policy seed --force "$WORK/seed.conf"
grep -q 'already so, policy version 1 unchanged' "$OUT" || fail "re-seeding the same policy: $(cat "$OUT")"

# --- edits: each a new version, published; Lync's rules refused ---------------------
edit() { # ARGS...: a change that must succeed and count the version up by one
    local before
    before=$(version)
    run 0 "$@"
    assert_eq $((before + 1)) "$(version)" "version after edgectl $*"
}
edit allowed add northwind.test
edit allowed add Tailspin.TEST. --edge SIP.tailspin.test --comment "direct partner"
edit blocked add spam.test --comment SPIM
v=$(version)
refused "refused: policy\.blocked_domains\[1\]: fabrikam\.test is already allowed \(a domain is allowed or blocked, once\)" blocked add fabrikam.test
refused "refused: policy\.allowed_domains\[3\]: spam\.test is already blocked \(a domain is allowed or blocked, once\)" allowed add spam.test
refused "already allowed" allowed add northwind.test
refused "sip\.tailspin\.test is the edge of allowed partner server tailspin\.test; an FQDN is a partner server or a provider, not both" provider add Hosted --fqdn sip.tailspin.test --type hosting
refused "contoso.test is one of our internal domains" allowed add contoso.test
assert_eq "$v" "$(version)" "version after the refused changes"
edit provider add LyncOnline --fqdn sipfed.online.lync.test --type hosting --verification AlwaysVerifiable --domain tenant.test --domain Tenant2.test
refused "provider LyncOnline already exists" provider add LyncOnline --fqdn other.lync.test --type hosting
edit provider add PIC --fqdn federation.messenger.msn.test --type public --disabled
edit provider enable PIC
edit provider disable PIC
run 0 --json provider disable PIC
json_ok
assert_eq false "$(jq 'd["changed"]')" "disabling a disabled provider changes nothing"
refused "no provider named Nope" provider remove Nope
edit xmpp add jabber.test --type federated --tls required --sasl optional --dialback not_supported --comment "Prosody"
edit access-policy set global --federation on --public-im on
edit access-policy set NoFed --federation off
edit user grant sip:Bob@Contoso.test NoFed
refused "fabrikam.test is not one of our internal domains" user grant carol@fabrikam.test NoFed
refused "no external access policy named 'Ghost'" user grant alice@contoso.test Ghost
refused "no external access policy named 'NoFed'" access-policy remove NoFed
edit policy set-access-edge enable_partner_discovery on DiscoveredPartnerStandardRate 10
refused "routing_method default_route needs default_route_fqdn" policy set-access-edge routing_method default_route
edit internal-domain add contoso2.test

# --- what is now in Redis, read back as JSON ----------------------------------------
run 0 --json policy show
json_ok
assert_eq "$(version)" "$(jq 'd["version"]')" "policy show version"
assert_eq "[true, 10, 4]" "$(jq '[d["access_edge"][k] for k in ("enable_partner_discovery", "discovered_partner_standard_rate", "outgoing_tls_count")]')" "access-edge settings"
assert_match '^edgectl ' "$(jq 'd["updated_by"]')" "updated_by"
run 0 --json allowed list
json_ok
assert_eq '["fabrikam.test", "northwind.test", "tailspin.test"]' "$(jq '[a["domain"] for a in d["allowed_domains"]]')" "allowed domains"
assert_eq '["partner_domain", "partner_domain", "partner_server"]' "$(jq '[a["kind"] for a in d["allowed_domains"]]')" "allowed kinds"
assert_eq "sip.tailspin.test|direct partner" "$(jq 'd["allowed_domains"][2]["edge_fqdn"] + "|" + d["allowed_domains"][2]["comment"]')" "partner server entry"
run 0 --json blocked list
json_ok
assert_eq '[{"domain": "spam.test", "comment": "SPIM"}]' "$(jq 'd["blocked_domains"]')" "blocked domains"
run 0 --json provider list
json_ok
assert_eq '["LyncOnline", "hosting", "always_verifiable", true, ["tenant.test", "tenant2.test"]]' \
    "$(jq '[d["providers"][0][k] for k in ("name", "type", "verification_level", "enabled", "domains")]')" "hosting provider"
assert_eq '["PIC", "public", false]' "$(jq '[d["providers"][1][k] for k in ("name", "type", "enabled")]')" "public provider"
run 0 --json xmpp list
json_ok
assert_eq '["jabber.test", "federated", "required", "optional", "not_supported"]' \
    "$(jq '[d["xmpp_partners"][0][k] for k in ("domain", "type", "tls", "sasl", "dialback")]')" "XMPP partner"
run 0 --json access-policy list
json_ok
assert_eq '[["global", true, true, false], ["NoFed", false, false, false]]' \
    "$(jq '[[p["name"], p["enable_federation_access"], p["enable_public_cloud_access"], p["enable_xmpp_access"]] for p in d["external_access_policies"]]')" "external access policies"
run 0 --json user list
json_ok
assert_eq '[{"user": "bob@contoso.test", "policy": "NoFed"}]' "$(jq 'd["user_policies"]')" "user grants"
run 0 --json internal-domain list
json_ok
assert_eq '["contoso.test", "contoso2.test"]' "$(jq 'd["internal_domains"]')" "internal domains"
run 0 policy show
grep -qE '^  tailspin.test +partner server, edge sip.tailspin.test  # direct partner' "$OUT" || fail "policy show: $(cat "$OUT")"
grep -qE '^  enable_partner_discovery +true' "$OUT" || fail "policy show settings: $(cat "$OUT")"

# policy show --text is a seed file: another pool gets the same policy from it
run 0 policy show --text
cp "$OUT" "$WORK/export.conf"
POOL=t2 run 0 policy seed "$WORK/export.conf"
POOL=t2 run 0 --json allowed list
json_ok
assert_eq '["fabrikam.test", "northwind.test", "tailspin.test"]' "$(jq '[a["domain"] for a in d["allowed_domains"]]')" "the exported policy seeded into pool t2"

# --- removals ------------------------------------------------------------------------
edit allowed remove NORTHWIND.test
edit blocked remove spam.test
edit xmpp remove jabber.test
edit provider remove PIC
edit user revoke bob@contoso.test
edit access-policy remove NoFed
edit internal-domain remove contoso2.test
refused "northwind.test is not an allowed domain" allowed remove northwind.test
refused "x.test is not a blocked domain" blocked remove x.test
run 0 user revoke bob@contoso.test
grep -q 'already so' "$OUT" || fail "revoking twice: $(cat "$OUT")"

# --- concurrent edits: WATCH/MULTI/EXEC retries, none lost ---------------------------
v=$(version)
pids=()
for i in 1 2 3 4 5 6; do
    "$EP_BIN/edgectl" --redis $R:$RP --pool $POOL allowed add "p$i.test" >"$WORK/par.$i.out" 2>&1 </dev/null &
    pids+=($!)
done
for i in 1 2 3 4 5 6; do
    wait "${pids[$((i - 1))]}" || fail "concurrent edit $i failed: $(cat "$WORK/par.$i.out")"
done
assert_eq $((v + 6)) "$(version)" "version after 6 concurrent edits"
run 0 --json allowed list
json_ok
assert_eq 6 "$(jq 'len([a for a in d["allowed_domains"] if a["domain"].startswith("p")])')" "domains added concurrently"

# every version was published on ep:t:policy, in order
sleep 0.2
final=$(version)
got=$(published ep:$POOL:policy | sort -n | uniq | tr '\n' ' ')
want=$(seq 1 "$final" | tr '\n' ' ')
assert_eq "$want" "$got" "versions published on ep:$POOL:policy"

# --- pool status and drain: a real edge-node in the pool, and a dead one's record ------
# node1 joins pool t (Redis holds a policy: it is not seeded from node1's file)
node_conf node1 127.0.10.11 127.0.10.12:5070 "" "" "" "addr = \"$R:$RP\"; pool = \"$POOL\";"
node_start node1
node_runs() { [ "$("${RCLI[@]}" HGET ep:$POOL:node:node1 policy_version)" = "$1" ]; }
wait_until 5 node_runs "$final" || fail "node1 does not report policy version $final: $("${RCLI[@]}" HGETALL ep:$POOL:node:node1 | paste -sd' ')"
now=$(date +%s%3N)
"${RCLI[@]}" SADD ep:$POOL:nodes edge2 >/dev/null
"${RCLI[@]}" HSET ep:$POOL:node:edge2 id edge2 fqdn edge2.contoso.test policy_version 1 \
    start_ms $((now - 3600000)) seen_ms $((now - 60000)) >/dev/null
run 0 --json pool status
json_ok
assert_eq "$final" "$(jq 'd["policy_version"]')" "pool status: the pool's policy version"
assert_eq '["edge2", false, "dead", false]' "$(jq '[d["nodes"][0][k] for k in ("id", "alive", "state", "policy_current")]')" "pool status: edge2"
assert_cmp "$(jq 'd["nodes"][0]["seen_age_ms"]')" -ge 60000 "edge2's age"
assert_eq '["node1", true, "active", true, false, "node1.contoso.test", "127.0.10.11:5060", "127.0.10.11:5061"]' \
    "$(jq '[d["nodes"][1][k] for k in ("id", "alive", "state", "policy_current", "drain", "fqdn", "internal", "external")]')" "pool status: node1"
assert_cmp "$(jq 'd["nodes"][1]["seen_age_ms"]')" -lt 3000 "node1's age"
run 0 pool status
grep -qE '^node1 +active +- ' "$OUT" || fail "pool status: $(cat "$OUT")"
grep -qE '^edge2 +DEAD .*1 \(behind\)$' "$OUT" || fail "pool status: $(cat "$OUT")"

# a change reaches the running node (it reports the version it runs)
edit blocked add junk.test
wait_until 3 node_runs "$(version)" || fail "node1 did not apply policy version $(version)"
note "ok: node1 runs policy version $(version)"

run 0 node drain node1
assert_eq 1 "$("${RCLI[@]}" HGET ep:$POOL:node:node1 drain)" "drain flag"
node_state() { [ "$("${RCLI[@]}" HGET ep:$POOL:node:node1 state)" = "$1" ]; }
wait_until 3 node_state drained || fail "node1 did not drain: $("${RCLI[@]}" HGET ep:$POOL:node:node1 state)"
run 0 --json pool status
assert_eq '[true, "drained"]' "$(jq '[d["nodes"][1]["drain"], d["nodes"][1]["state"]]')" "pool status: node1 drained"
run 0 --json node undrain node1
json_ok
assert_eq 0 "$("${RCLI[@]}" HGET ep:$POOL:node:node1 drain)" "drain flag after undrain"
wait_until 3 node_state active || fail "node1 did not undrain"
assert_log "$WORK/node1.log" 'drained \(edgectl: drain\)' "node1's log"
refused "pool t has no node ghost" node drain ghost
assert_eq "drain node1,undrain node1" "$(published ep:$POOL:nodes | paste -sd,)" "node events published"

# --- sessions and the watch list ---------------------------------------------------------
dlg() { # CALLID KIND DOMAIN INTERNAL REMOTE NODE
    "${RCLI[@]}" HSET "ep:$POOL:dlg:$1:ft:tt" kind "$2" call_id "$1" from_tag ft to_tag tt \
        peer "sip.$3" domain "$3" internal "$4" remote "$5" node "$6" created_ms $((now - 5000)) >/dev/null
}
dlg c1@x invite fabrikam.test alice@contoso.test bob@fabrikam.test edge1
dlg c2@x invite fabrikam.test carol@contoso.test dan@fabrikam.test edge2
dlg c3@x subscribe fabrikam.test alice@contoso.test erin@fabrikam.test edge1
dlg c4@x invite northwind.test alice@contoso.test nina@northwind.test edge2
"${RCLI[@]}" SET ep:t2:dlg:other:1:2 x >/dev/null # another pool's: not counted
run 0 --json sessions
json_ok
assert_eq 4 "$(jq 'd["total"]')" "sessions total"
assert_eq '[["fabrikam.test", 2, 1, 3], ["northwind.test", 1, 0, 1]]' \
    "$(jq '[[p["domain"], p["invite"], p["subscribe"], p["total"]] for p in d["partners"]]')" "sessions per partner"
assert_eq '["invite", "c1@x", "alice@contoso.test", "bob@fabrikam.test", "edge1"]' \
    "$(jq '[d["sessions"][0][k] for k in ("kind", "call_id", "internal", "remote", "node")]')" "first session"
run 0 --json sessions --partner NorthWind.test
json_ok
assert_eq '1 c4@x' "$(jq '"%d %s" % (d["total"], d["sessions"][0]["call_id"])')" "sessions of one partner"
run 0 --json sessions --node edge2 --counts
json_ok
assert_eq '2 None' "$(jq '"%d %s" % (d["total"], d.get("sessions"))')" "sessions of one node, counts only"
run 0 sessions
grep -qE '^fabrikam.test +2 +1 +3$' "$OUT" || fail "sessions: $(cat "$OUT")"
grep -qE '^subscribe +c3@x ' "$OUT" || fail "sessions list: $(cat "$OUT")"
"${RCLI[@]}" HSET ep:$POOL:watch spam.test "contacts|$((now - 9000))|$now|12|issuer=CN=x serial=01" >/dev/null
run 0 --json watch-list
json_ok
assert_eq '["spam.test", "contacts", 12]' "$(jq '[d["partners"][0][k] for k in ("domain", "reasons", "events")]')" "watch list"

# --- diagnose: NSD, and edges with a matching and a mismatching certificate ----------------
zone() { # DOMAIN HOST ADDR: a zone whose federation SRV names HOST at ADDR
    printf '$ORIGIN %s.\n$TTL 30\n@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 30\n' "$1" "$1" "$1"
    printf '@ IN NS ns.%s.\nns IN A 127.0.0.1\n' "$1"
    printf '_sipfederationtls._tcp IN SRV 0 0 5061 %s.\n%s. IN A %s\n' "$2" "$2" "$3"
}
zone fabrikam.test sip.fabrikam.test 127.0.10.2 >"$WORK/fab.zone"
zone northwind.test sip.northwind.test 127.0.10.3 >"$WORK/nw.zone"
dns_start "$WORK/dns" 127.0.10.53 5300 "$WORK/fab.zone" "$WORK/nw.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"
# -www: s_server answers without reading its stdin (at EOF it would hang up)
ep_spawn s_fab openssl s_server -accept 127.0.10.2:5061 -cert "$C/fabrikam-edge.crt" \
    -key "$C/fabrikam-edge.key" -CAfile "$C/ca.crt" -Verify 2 -www
ep_spawn s_evil openssl s_server -accept 127.0.10.3:5061 -cert "$C/wrongsan.crt" \
    -key "$C/wrongsan.key" -CAfile "$C/ca.crt" -Verify 2 -www
wait_tcp 127.0.10.2 5061 && wait_tcp 127.0.10.3 5061 || fail "openssl s_server did not start"
OURS=(--dns 127.0.10.53:5300 --ca "$C/ca.crt" --cert "$C/contoso-edge.crt" --key "$C/contoso-edge.key" --timeout 3)
edit allowed add northwind.test

run 0 --json diagnose fabrikam.test "${OURS[@]}"
json_ok
assert_eq '[true, "partner-domain", true, "OK", "sip.fabrikam.test"]' \
    "$(jq '[d["ok"], d["policy"]["class"], d["policy"]["need_srv"], d["srv"]["status"], d["srv"]["targets"][0]["target"]]')" "diagnose fabrikam.test"
assert_eq '["127.0.10.2:5061", ["sip.fabrikam.test"], true, true, true, true]' \
    "$(jq '[d["edges"][0]["addresses"][0]["address"]] + [d["edges"][0]["addresses"][0]["certificate"][k] for k in ("names", "name_match", "chain_ok", "eku_server_auth", "eku_client_auth")]')" "fabrikam's certificate"
assert_cmp "$(jq 'd["edges"][0]["addresses"][0]["certificate"]["days_left"]')" -gt 300 "days left on fabrikam's certificate"
run 0 diagnose fabrikam.test "${OURS[@]}"
grep -q 'verdict: federation with fabrikam.test would work' "$OUT" || fail "diagnose: $(cat "$OUT")"
grep -q '1. priority 0 weight 0 port 5061 sip.fabrikam.test' "$OUT" || fail "diagnose SRV: $(cat "$OUT")"

run 1 --json diagnose northwind.test "${OURS[@]}"
json_ok
assert_eq '[false, ["sip.evil.test"], false, true]' \
    "$(jq '[d["ok"]] + [d["edges"][0]["addresses"][0]["certificate"][k] for k in ("names", "name_match", "chain_ok")]')" "diagnose northwind.test (wrong principal)"
assert_match 'certificate names sip.evil.test, not sip.northwind.test' "$(jq 'd["problems"][0]')" "the mismatch explained"
run 1 diagnose northwind.test "${OURS[@]}"
grep -q 'sip.evil.test  -> does NOT match sip.northwind.test' "$OUT" || fail "diagnose: $(cat "$OUT")"

# no certificate of ours: the partner refuses us (mutual TLS)
run 1 --json diagnose fabrikam.test --dns 127.0.10.53:5300 --ca "$C/ca.crt" --timeout 3
json_ok
assert_eq 'true' "$(jq 'd["edges"][0]["addresses"][0]["peer_refused"]')" "diagnose without our certificate"
# a partner server (direct federation): the configured edge, not SRV
edit allowed add litware.test --edge sip.fabrikam.test
run 0 --json diagnose litware.test "${OURS[@]}"
json_ok
assert_eq '["partner-server", "sip.fabrikam.test", "configured edge", true]' \
    "$(jq '[d["policy"]["class"], d["policy"]["next_hop"], d["edges"][0]["source"], d["edges"][0]["ok"]]')" "diagnose a partner server"
# the policy refuses: blocked, and not allowed (discovery off)
edit policy set-access-edge enable_partner_discovery false
edit blocked add spam.test
run 1 --json diagnose spam.test "${OURS[@]}"
json_ok
assert_eq '"blocked"' "$(jq 'json.dumps(d["policy"]["class"])')" "diagnose a blocked domain"
run 1 diagnose unknown.test "${OURS[@]}"
grep -q 'unknown.test is not allowed and partner discovery is off' "$OUT" || fail "diagnose: $(cat "$OUT")"

# -c FILE: a node's configuration gives Redis, the pool, our certificate and DNS
cat >"$WORK/node.conf" <<EOF
node = { id = "edge1"; };
redis = { addr = "$R:$RP"; pool = "$POOL"; };
tls = { cert = "$C/contoso-edge.crt"; key = "$C/contoso-edge.key"; ca = "$C/ca.crt"; };
dns = { servers = "127.0.10.53:5300"; };
EOF
timeout 30 "$EP_BIN/edgectl" -c "$WORK/node.conf" --timeout 3 --json diagnose fabrikam.test >"$OUT" 2>"$WORK/c.err"
rc=$?
[ $rc = 0 ] || fail "edgectl -c node.conf diagnose: exit $rc: $(cat "$WORK/c.err") $(head -c 400 "$OUT")"
json_ok
assert_eq "$(version)" "$(jq 'd["policy"]["version"]')" "-c FILE: the pool's policy read through the node's redis group"

# --- the same client as the nodes: Sentinel, TLS, AUTH -----------------------------------
printf 'port 26391\nbind %s\ndir %s\nsentinel monitor mymaster %s %s 1\n' $R "$WORK" $R $RP \
    >"$WORK/sentinel.conf"
ep_spawn sentinel redis-server "$WORK/sentinel.conf" --sentinel
wait_tcp $R 26391 || fail "redis sentinel did not start"
OUT=$WORK/sentinel.out
timeout 30 "$EP_BIN/edgectl" --sentinels $R:26391 --master mymaster --pool $POOL --json \
    policy show >"$OUT" 2>"$WORK/sentinel.err"
assert_eq 0 $? "edgectl through Redis Sentinel: $(head -2 "$WORK/sentinel.err")"
json_ok
assert_eq "$(version)" "$(jq 'd["version"]')" "the policy version read through Sentinel"

ep_spawn redis_tls redis-server --port 0 --tls-port 6392 --bind $R --save '' --appendonly no \
    --tls-cert-file "$C/contoso-edge.crt" --tls-key-file "$C/contoso-edge.key" \
    --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients no
wait_tcp $R 6392 || fail "redis-server with TLS did not start"
TLSR=(--redis $R:6392 --tls --ca "$C/ca.crt")
OUT=$WORK/tls.out
timeout 30 "$EP_BIN/edgectl" "${TLSR[@]}" --tls-name sip.contoso.test --timeout 3 --json \
    allowed add fabrikam.test >"$OUT" 2>"$WORK/tls.err"
assert_eq 0 $? "edgectl over TLS to Redis: $(head -2 "$WORK/tls.err")"
json_ok
assert_eq 1 "$(jq 'd["version"]')" "a change over TLS"
timeout 30 "$EP_BIN/edgectl" "${TLSR[@]}" --tls-name sip.evil.test --timeout 1 policy show \
    >"$OUT" 2>"$WORK/tls2.err"
assert_eq 1 $? "edgectl over TLS, Redis's certificate naming another host"

"${RCLI[@]}" CONFIG SET requirepass 's3cret pw' >/dev/null
OUT=$WORK/auth.out
timeout 30 "$EP_BIN/edgectl" --redis $R:$RP --pool $POOL --timeout 1 policy show >"$OUT" 2>"$WORK/auth.err"
assert_eq 1 $? "edgectl without the password"
EDGEPOOL_REDIS_PASSWORD='s3cret pw' timeout 30 "$EP_BIN/edgectl" --redis $R:$RP --pool $POOL \
    --json policy show >"$OUT" 2>"$WORK/auth.err"
assert_eq 0 $? "edgectl with EDGEPOOL_REDIS_PASSWORD: $(head -2 "$WORK/auth.err")"
json_ok
timeout 30 "$EP_BIN/edgectl" --redis $R:$RP --pool $POOL --user default --password 's3cret pw' \
    policy show >"$OUT" 2>"$WORK/auth.err"
assert_eq 0 $? "edgectl with --user and --password: $(head -2 "$WORK/auth.err")"

pass "every edgectl command"
