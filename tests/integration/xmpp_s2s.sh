#!/bin/bash
# xmpp_s2s.sh -- XMPP server-to-server federation against real Prosody 0.12
# servers: streams both ways with STARTTLS + SASL EXTERNAL (XEP-0178) and with
# Server Dialback (XEP-0220, verified through the authoritative server, the
# key shared by two processes of one pool); partners found by SRV and by the
# domain's address; every refusal (no STARTTLS, a bad certificate, a blocked
# domain, a domain not on the partner list, malformed XML, an oversized
# stanza, bad addressing, an old version) answered with its RFC 6120 stream
# error (or refused at the TLS handshake), logged once, others unaffected.
#
# Addresses (all 127.0.15.0/24): node1 .1 (xmpp 5269), ep-xmpp (the same s2s
# code driven alone, our outbound streams, until the SIP<->XMPP gateway sends
# them) .2, NSD .53 port 53, Prosody A .10 (jabber.test, blocked.test,
# stranger.test with test-CA certificates; badcert.test from an untrusted
# CA), Prosody B .11 (plain.test, notls.test: no TLS at all).
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/prosody.sh"
ep_setup xmpp_s2s
need_cmd prosody prosodyctl nsd kdig
need_bin edge-node
PY=/usr/bin/python3
$PY -c 'import slixmpp' 2>/dev/null || skip "python3-slixmpp not installed for $PY"
EP_XMPP=${EP_BIN%/bin}/tools/ep-xmpp
[ -x "$EP_XMPP" ] || skip "$EP_XMPP not built (make unit-bins)"
ep_certs

# --- DNS: SRV for every domain but plain.test, which has only an address ---
zone() { # DOMAIN ADDR [no-srv]
    {
        printf '$ORIGIN %s.\n$TTL 30\n' "$1"
        printf '@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 30\n@ IN NS ns.%s.\n' "$1" "$1" "$1"
        printf 'ns IN A 127.0.15.53\n'
        if [ "${3:-}" = no-srv ]; then
            printf '@ IN A %s\n' "$2"
        else
            printf '_xmpp-server._tcp IN SRV 0 0 5269 xmpp.%s.\nxmpp IN A %s\n' "$1" "$2"
        fi
    } >"$WORK/$1.zone"
}
zone contoso.test 127.0.15.1
for d in jabber blocked stranger badcert; do zone $d.test 127.0.15.10; done
zone notls.test 127.0.15.11
zone plain.test 127.0.15.11 no-srv
dns_start "$WORK/dns" 127.0.15.53 53 "$WORK"/*.zone || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

# --- Prosody A (TLS) and B (no TLS), users ---
prosody_conf pA 127.0.15.10 127.0.15.53 '' jabber.test=jabber-xmpp blocked.test=blocked-xmpp \
    stranger.test=stranger-xmpp badcert.test=otherca-xmpp
prosody_conf pB 127.0.15.11 127.0.15.53 's2s_require_encryption = false
s2s_allow_encryption = false' plain.test notls.test
for u in bob@jabber.test eve@blocked.test sam@stranger.test mal@badcert.test; do prosody_user pA $u pw; done
for u in carol@plain.test nick@notls.test; do prosody_user pB $u pw; done
prosody_start pA
prosody_start pB

# --- node1, and ep-xmpp with the same policy and dialback secret (one pool) ---
POLICY='
  access_edge = { allow_federated_users = true; enable_xmpp = true; };
  internal_domains = [ "contoso.test" ];
  blocked_domains = [ "blocked.test" ];
  xmpp_partners = ( { domain = "jabber.test"; }, { domain = "badcert.test"; }, { domain = "notls.test"; },
    { domain = "plain.test"; tls = "optional"; sasl = "not_supported"; dialback = "required"; } );'
XMPP="cert = \"$EP_CERTS/contoso-xmpp.crt\"; key = \"$EP_CERTS/contoso-xmpp.key\";
        dialback_secret = \"pool-secret\"; max_stanza_size = 16384; idle_timeout = 8;"
NODE_LOG_LEVEL=debug node_conf node1 127.0.15.1 127.0.15.1:5070 127.0.15.53:53 "$POLICY" \
    "xmpp = { $XMPP };"
NODE_LOG_LEVEL=debug node_conf tool 127.0.15.2 127.0.15.2:5070 127.0.15.53:53 "$POLICY" \
    "xmpp = { listen = \"127.0.15.2:5269\"; $XMPP };"
node_start node1
wait_tcp 127.0.15.1 5269 || fail "node1 does not listen on 5269"
N=$WORK/node1.log

client() { # NAME JID HOST ACTIONS... : run a slixmpp user in the foreground
    local name=$1 jid=$2 host=$3
    shift 3
    ep_run "$name" $PY "$EP_LIB/xmppc.py" "$jid" pw "$host:5222" - "$@"
}
raw() { # NAME ARGS...: the plain partner against node1
    local name=$1
    shift
    ep_run "$name" $PY "$EP_LIB/xmppraw.py" 127.0.15.1:5269 "$@"
}
TLS_JABBER=(--tls "$EP_CERTS/jabber-xmpp.crt" "$EP_CERTS/jabber-xmpp.key" "$EP_CERTS/ca.crt")
count() { grep -cE -- "$2" "$1" 2>/dev/null; }

note "--- inbound: STARTTLS + SASL EXTERNAL"
client bob1 bob@jabber.test 127.0.15.10 send alice@contoso.test "hello alice" wait 5
assert_log "$WORK/bob1.log" "^SENT alice@contoso.test" "bob logged in and sent"
wait_log "$N" "stanza in: <message> from bob@jabber.test/[^ ]+ to alice@contoso.test .*<body>hello alice</body>" 10 ||
    fail "bob's message did not reach node1"
assert_log "$N" "stream from jabber.test \(127\.[0-9.:]+\) authenticated: SASL EXTERNAL, certificate names jabber.test"
assert_log "$N" "stream 1 from jabber.test \(.*\): TLS TLSv1\.[23], peer certificate verified, names the partner"
# The gateway answers (here an error: alice's external access policy has no
# XMPP) on node1's own outbound stream: SRV, STARTTLS, SASL EXTERNAL.
assert_log "$N" "stream to jabber.test \(127\.0\.15\.10:5269\) ready: TLS, SASL EXTERNAL" "node1's outbound stream"
assert_log "$WORK/bob1.log" "^MESSAGE [a-z]+ alice@contoso.test bob@jabber.test/" "node1's answer reached bob"

note "--- outbound: STARTTLS + SASL EXTERNAL (SRV), delivered to bob's client"
ep_spawn bob2 $PY "$EP_LIB/xmppc.py" bob@jabber.test pw 127.0.15.10:5222 - wait 6
wait_log "$WORK/bob2.log" "^SESSION" 10 || fail "bob did not log in"
ep_run tool1 "$EP_XMPP" -c "$WORK/tool.conf" send contoso.test jabber.test \
    "<message from='alice@contoso.test' to='bob@jabber.test' type='chat' id='m1'><body>hi bob</body></message>" ||
    fail "ep-xmpp could not send to jabber.test (log ${WORK#"$EP_ROOT"/}/tool1.log)"
assert_log "$WORK/tool1.log" "stream to jabber.test \(127\.0\.15\.10:5269\) ready: TLS, SASL EXTERNAL"
ep_wait bob2 15
assert_log "$WORK/bob2.log" "^MESSAGE chat alice@contoso.test bob@jabber.test 'hi bob'" "bob received alice's message"

note "--- dialback both ways with plain.test (no TLS; found by its address, no SRV)"
client carol1 carol@plain.test 127.0.15.11 send alice@contoso.test "hello from carol" wait 3
wait_log "$N" "stanza in: <message> from carol@plain.test/[^ ]+ to alice@contoso.test .*hello from carol" 10 ||
    fail "carol's message did not reach node1"
assert_log "$N" "stream from plain.test \(.*\) authenticated for contoso.test: dialback$" \
    "key verified with plain.test's authoritative server"
assert_log "$N" "stream to plain.test \(127\.0\.15\.11:5269\) ready: no TLS, dialback"
assert_log "$N" "dialback: plain.test \(.*\) asked about our key for contoso.test -> plain.test: valid"
ep_spawn carol2 $PY "$EP_LIB/xmppc.py" carol@plain.test pw 127.0.15.11:5222 - wait 6
wait_log "$WORK/carol2.log" "^SESSION" 10 || fail "carol did not log in"
before=$(count "$N" "asked about our key for contoso.test -> plain.test: valid")
ep_run tool2 "$EP_XMPP" -c "$WORK/tool.conf" send contoso.test plain.test \
    "<message from='alice@contoso.test' to='carol@plain.test' type='chat' id='m2'><body>hi carol</body></message>" ||
    fail "ep-xmpp could not send to plain.test"
assert_log "$WORK/tool2.log" "stream to plain.test \(127\.0\.15\.11:5269\) authenticated: dialback"
ep_wait carol2 15
assert_log "$WORK/carol2.log" "^MESSAGE chat alice@contoso.test carol@plain.test 'hi carol'" "carol received alice's message"
assert_cmp "$(count "$N" "asked about our key for contoso.test -> plain.test: valid")" -gt "$before" \
    "node1 vouched for ep-xmpp's key (shared xmpp.dialback_secret)"

note "--- refused partners, inbound (Prosody's users writing to alice)"
client nick nick@notls.test 127.0.15.11 send alice@contoso.test "no tls" wait 3
client eve eve@blocked.test 127.0.15.10 send alice@contoso.test "blocked" wait 3
client sam sam@stranger.test 127.0.15.10 send alice@contoso.test "stranger" wait 3
client mal mal@badcert.test 127.0.15.10 send alice@contoso.test "bad cert" wait 3
refused() { # WHAT REGEX: exactly one WARN line in node1's log
    wait_log "$N" "$2" 10 || fail "$1: no refusal logged"
    assert_eq 1 "$(count "$N" "$2")" "$1: refusal log lines"
}
refused "no STARTTLS" "warn xmpp: stream from notls.test \(127[0-9.:]+\): <policy-violation/>: notls.test: TLS is required"
refused "blocked domain" "warn xmpp: stream from blocked.test \(127[0-9.:]+\): <policy-violation/>: blocked.test: blocked domain"
refused "not a partner" "warn xmpp: stream from stranger.test \(127[0-9.:]+\): <policy-violation/>: stranger.test: not an XMPP partner"
refused "bad certificate" "warn xmpp: refused: TLS handshake from badcert.test \(127[0-9.:]+\) failed: unable to get local issuer certificate"
assert_no_log "$N" "stanza in: .* from (nick|eve|sam|mal)@" "no refused partner's stanza got through"

note "--- bad input on an authenticated stream (a raw partner with jabber.test's certificate)"
rawcheck() { # NAME EXPECTED-OUTPUT-REGEX LOG-REGEX ARGS...
    local name=$1 out=$2 logre=$3
    shift 3
    raw "$name" "$@"
    assert_log "$WORK/$name.log" "$out" "$name: what the partner was told"
    [ -z "$logre" ] || refused "$name" "$logre"
}
rawcheck malformed "^stream-error not-well-formed mismatched tag" \
    "<not-well-formed/>: mismatched tag" \
    jabber.test contoso.test "${TLS_JABBER[@]}" --sasl \
    --send "<message from='x@jabber.test' to='alice@contoso.test'><body>oops</message>"
rawcheck oversized "^stream-error policy-violation element larger than the stanza size limit" \
    "<policy-violation/>: element larger than the stanza size limit" \
    jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --big 20000
raw sized jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --big 15000 --wait 1
assert_no_log "$WORK/sized.log" "stream-error" "a 15000-byte stanza under the 16384 limit"
wait_log "$N" "stanza in: <message> from x@jabber.test to alice@contoso.test" 5 || fail "the 15000-byte stanza did not arrive"
raw split jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --wait 1 \
    --send "<message from='x@jabber.test' to='alice@contoso.test'><body>spl" --send "it in two</body></message>"
wait_log "$N" "stanza in: <message> from x@jabber.test to alice@contoso.test .*split in two" 5 ||
    fail "a stanza split across two reads did not arrive"
rawcheck invalid-from "^stream-error invalid-from plain.test is not authenticated" "<invalid-from/>: plain.test" \
    jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --send "<message from='x@plain.test' to='alice@contoso.test'/>"
rawcheck improper-addressing "^stream-error improper-addressing" "<improper-addressing/>" \
    jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --send "<message to='alice@contoso.test'/>"
rawcheck host-unknown-stanza "^stream-error host-unknown other.test is not served here" "<host-unknown/>: other.test" \
    jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --send "<message from='x@jabber.test' to='a@other.test'/>"
rawcheck not-authorized "^stream-error not-authorized stanza before authentication" "<not-authorized/>: stanza before" \
    jabber.test contoso.test "${TLS_JABBER[@]}" --send "<message from='x@jabber.test' to='alice@contoso.test'/>"
rawcheck host-unknown "^stream-error host-unknown example.test is not served here" "<host-unknown/>: example.test" \
    jabber.test example.test
rawcheck unsupported-version "^stream-error unsupported-version" "<unsupported-version/>" \
    jabber.test contoso.test --version none
rawcheck restricted-xml "^stream-error restricted-xml XML comment" "<restricted-xml/>: XML comment" \
    jabber.test contoso.test "${TLS_JABBER[@]}" --sasl --send "<!-- hi -->"
raw db-cert jabber.test contoso.test "${TLS_JABBER[@]}" --wait 1 --show \
    --send "<db:result from='jabber.test' to='contoso.test'>not-checked</db:result>"
assert_log "$WORK/db-cert.log" "^received <db:result from='contoso.test' to='jabber.test' type='valid'/>" \
    "dialback accepted on a verified certificate naming the domain (XEP-0344)"
assert_log "$N" "stream from jabber.test \(.*\) authenticated for contoso.test: dialback, certificate names it"
raw wrongname jabber.test contoso.test --tls "$EP_CERTS/stranger-xmpp.crt" "$EP_CERTS/stranger-xmpp.key" \
    "$EP_CERTS/ca.crt" --sasl
assert_log "$WORK/wrongname.log" "^features dialback$" "no SASL EXTERNAL offered for a certificate naming stranger.test"
assert_log "$WORK/wrongname.log" "^sasl failure" "SASL EXTERNAL refused"
refused "wrong certificate name" "refused: SASL EXTERNAL from jabber.test \(127[0-9.:]+\): the certificate does not name the partner"

note "--- refused partners, outbound"
out_refused() { # NAME DOMAIN OUTPUT-REGEX LOG-REGEX
    ep_run "$1" "$EP_XMPP" -c "$WORK/tool.conf" send contoso.test "$2" \
        "<message from='alice@contoso.test' to='u@$2' id='x-$1'><body>hi</body></message>" &&
        fail "$1: ep-xmpp reported the stanza sent"
    assert_log "$WORK/$1.log" "$3" "$1: what the gateway is told"
    assert_eq 1 "$(count "$WORK/$1.log" "$4")" "$1: refusal log lines"
}
out_refused out-notls notls.test "^failed x-out-notls remote-server-not-found the partner offers no STARTTLS" \
    "warn xmpp: stream to notls.test \(127\.0\.15\.11:5269\): <policy-violation/>: the partner offers no STARTTLS"
out_refused out-badcert badcert.test "^failed x-out-badcert remote-server-not-found TLS handshake failed: unable to get local issuer certificate" \
    "warn xmpp: refused: TLS handshake to badcert.test \(127\.0\.15\.10:5269\) failed"
out_refused out-blocked blocked.test "^refused policy" "stanza from contoso.test to blocked.test refused: blocked domain"
out_refused out-stranger stranger.test "^refused policy" "stanza from contoso.test to stranger.test refused: not an XMPP partner"

note "--- SIGHUP: certificates and xmpp settings re-read, streams go on"
ep_kill node1 HUP
wait_log "$N" "info xmpp: reloaded: certificates and settings" 10 || fail "no xmpp reload on SIGHUP"

note "--- others unaffected: bob and carol still get through, node1 still up"
client bob3 bob@jabber.test 127.0.15.10 send alice@contoso.test "hello again" wait 2
wait_log "$N" "stanza in: <message> from bob@jabber.test/[^ ]+ to alice@contoso.test .*hello again" 10 ||
    fail "bob's second message did not reach node1"
client carol3 carol@plain.test 127.0.15.11 send alice@contoso.test "carol again" wait 2
wait_log "$N" "stanza in: <message> from carol@plain.test/[^ ]+ to alice@contoso.test .*carol again" 10 ||
    fail "carol's second message did not reach node1"
ep_alive node1 || fail "node1 died"

note "--- metrics (admin endpoint)"
$PY -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.15.1:8080/metrics").read().decode())' \
    >"$WORK/metrics.txt" || fail "cannot read node1's /metrics"
assert_log "$WORK/metrics.txt" '^edgepool_xmpp_stanzas_total\{direction="in",kind="message"\} [1-9]' "stanzas in"
assert_log "$WORK/metrics.txt" '^edgepool_xmpp_stanzas_total\{direction="out",kind="message"\} [1-9]' "stanzas out"
assert_log "$WORK/metrics.txt" '^edgepool_xmpp_stream_errors_total\{direction="in",condition="policy-violation"\} [1-9]' \
    "policy-violation counted"
assert_log "$WORK/metrics.txt" '^edgepool_xmpp_streams_open\{direction="in"\} [0-9]' "open streams gauge"

note "--- idle streams are closed (xmpp.idle_timeout = 8 s)"
wait_log "$N" "info xmpp: stream from (jabber|plain).test \(.*\) idle for [0-9]+ s: closed" 20 ||
    fail "no idle stream was closed"

ep_stop node1 || fail "node1 exited with status $?"
# ep-xmpp is the sanitizer build too, and not a node* (which cleanup scans)
for f in "$WORK"/tool*.log "$WORK"/out-*.log; do
    assert_no_log "$f" "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "sanitizers in ${f##*/}"
done
pass "s2s both ways (SASL EXTERNAL, dialback), refusals with their stream errors"
