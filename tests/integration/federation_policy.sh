# federation_policy.sh -- every federation type and policy decision end to end:
# SIPp (inside) <-> edge-node (sanitizer build) <-> Kamailio partner edges over
# mutual TLS <-> SIPp, NSD serving the partner zones. Each case asserts the
# exact final response (and, for refusals, the node's log line), in both
# directions where that makes sense:
#   1 allowed partner server (direct federation, no SRV published)
#   2 allowed partner domain by SRV
#   3 discovered partner: discovery off -> 403 both ways; on -> both work
#   4 throttling of a discovered partner: rate (503) and contact cap (403,
#     watch list)
#   5 hosting provider (inbound From its domain over its edge, outbound to it;
#     its use_source_verification: unmarked -> unverified, its own marking
#     followed and stripped); 5b the same provider listing no domains
#   6 blocked domain, even with discovery on
#   7 federation off
#   8 per-user external access policy
#   9 SIGHUP reload: same PID, same connections, broken files refused
#  10 internal domain / foreign From domain from inside; our domain / another
#     domain from outside
# Policies are switched with SIGHUP (the policy group is in the node's file),
# one node process for the whole test; NSD is restarted once, when
# northwind.test turns from a partner server (no SRV) into a discovered partner.
# Kamailio's tm relays the node's 503 upstream as a 500 (RFC 3261 16.7): the
# 503s of the throttling case are counted where Kamailio received them.
#
# Addresses (127.0.6.0/24 only):
#   127.0.6.1   edge-node (internal TCP 5060, federation TLS 5061)
#   127.0.6.2   Kamailio fabrikam.test  (fabrikam-edge: sip.fabrikam.test)
#   127.0.6.3   Kamailio northwind.test (northwind-edge: sip.northwind.test)
#   127.0.6.4   Kamailio hosted.test, the hosting provider's edge
#               (hostedim-edge: sip.hostedim.test)
#   127.0.6.10  our SIPp UAC          127.0.6.11:5070 our SIPp UAS (next hop)
#   127.0.6.12  fabrikam's SIPp UAC, and its UAS on :5070
#   127.0.6.13  northwind's, 127.0.6.14 hosted.test's (same layout)
#   127.0.6.23:5300  NSD
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
# Another run of this test (or what is left of one) holds our addresses: say
# so before ep_setup wipes the work dir under it.
for a in 127.0.6.1:5060 127.0.6.1:5061 127.0.6.3:5061 127.0.6.2:5061 127.0.6.4:5061 \
    127.0.6.11:5070 127.0.6.23:5300; do
    ! ep__listening "${a%:*}" "${a#*:}" ||
        fail "$a is already in use (another run of federation_policy.sh?): $(ss -Hltnp "src $a" | grep -o 'users:.*')"
done
ep_setup federation_policy
need_bin edge-node
need_cmd kamailio sipp nsd kdig ss
ep_certs

NODE=127.0.6.1
DNS=127.0.6.23:5300
NLOG=$WORK/node1.log
RATE=5        # discovered_partner_standard_rate (Lync: 20)
MAX_CONTACTS=3

# ---- DNS --------------------------------------------------------------------
# A zone with only the records given (no federation SRV unless listed).
zone_plain() { # FILE DOMAIN RECORD...
    local f=$1 d=$2 r
    shift 2
    {
        printf '$ORIGIN %s.\n$TTL 30\n' "$d"
        printf '@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 30\n' "$d" "$d"
        printf '@ IN NS ns.%s.\nns IN A 127.0.0.1\n' "$d"
        for r in "$@"; do printf '%s\n' "$r"; done
    } >"$f"
}
zone_write "$WORK/contoso.zone" contoso.test sip.contoso.test $NODE
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.6.2
# northwind.test first as an allowed partner server: its edge's address, no SRV
zone_plain "$WORK/northwind.zone" northwind.test "sip IN A 127.0.6.3"
# the hosting provider's edge: an address, nothing else
zone_plain "$WORK/hostedim.zone" hostedim.test "sip IN A 127.0.6.4"
ZONES=("$WORK/contoso.zone" "$WORK/fabrikam.zone" "$WORK/northwind.zone" "$WORK/hostedim.zone")
dns_start "$WORK/dns" 127.0.6.23 5300 "${ZONES[@]}" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

srv_of() { # DOMAIN -> the SRV answer (empty when none)
    kdig @127.0.6.23 -p 5300 +time=1 +retry=1 +short SRV "_sipfederationtls._tcp.$1." 2>/dev/null
}

# ---- policies ---------------------------------------------------------------
P_ACCESS_POLICIES='
  external_access_policies = (
    { name = "global"; enable_federation_access = true; enable_public_cloud_access = true; },
    { name = "NoFederation"; enable_public_cloud_access = true; } );
  user_policies = ( { user = "bob@contoso.test"; policy = "NoFederation"; } );'
P_PROVIDER='
  providers = ( { name = "HostedIM"; fqdn = "sip.hostedim.test"; type = "hosting";
                  domains = [ "hosted.test" ]; } );'
# policy_body ACCESS_EDGE_SETTINGS ALLOWED_LIST [MORE]: the policy group's body
policy_body() {
    printf '\n  access_edge = { %s };\n  internal_domains = [ "contoso.test" ];\n' "$1"
    printf '  allowed_domains = ( %s );\n%s%s\n%s' "$2" "$P_PROVIDER" "$P_ACCESS_POLICIES" "${3:-}"
}
DISCOVERY_ON="allow_federated_users = true; enable_partner_discovery = true;
    discovered_partner_standard_rate = $RATE; max_contacts_per_discovered_partner = $MAX_CONTACTS;"
DISCOVERY_OFF="allow_federated_users = true; enable_partner_discovery = false;"
ALLOWED_BOTH='"fabrikam.test", { domain = "northwind.test"; edge_fqdn = "sip.northwind.test"; }'

POLICY_VERSION=1
# reload_policy BODY: rewrite the node's file with that policy, SIGHUP, wait
# for the new version.
reload_policy() {
    node_conf node1 $NODE 127.0.6.11:5070 $DNS "$1"
    POLICY_VERSION=$((POLICY_VERSION + 1))
    ep_kill node1 HUP >/dev/null
    wait_log "$NLOG" "reloaded: policy version $POLICY_VERSION\$" 5 ||
        fail "policy version $POLICY_VERSION not loaded after SIGHUP"
}

# ---- one MESSAGE, its final response and the node's log line ----------------
N_MSG=0
# expect_msg SIDE FROM TO CODE [LOG-REGEX]: a MESSAGE from FROM (user@domain)
# to TO, sent by SIDE's SIPp UAC (in: to the node; fab, nw, him: to that
# partner's Kamailio) must get CODE; the node must log LOG-REGEX meanwhile.
expect_msg() {
    local side=$1 from=$2 to=$3 want=$4 re=${5:-} ip hop name got mark
    case $side in
    in) ip=127.0.6.10 hop=$NODE:5060 ;;
    fab) ip=127.0.6.12 hop=127.0.6.2:5060 ;;
    nw) ip=127.0.6.13 hop=127.0.6.3:5060 ;;
    him) ip=127.0.6.14 hop=127.0.6.4:5060 ;;
    *) fail "expect_msg: unknown side $side" ;;
    esac
    N_MSG=$((N_MSG + 1))
    name=$(printf 'm%02d_%s' $N_MSG "$side")
    mark=$(wc -l <"$NLOG")
    sipp_run "$name" uac_message_expect.xml -t t1 -i $ip -m 1 -s "${to%@*}" \
        -key to_domain "${to#*@}" -key from_user "${from%@*}" -key from_domain "${from#*@}" \
        -key expect "$want" "$hop" >/dev/null
    got=$(sed -n 's/.*final response \([0-9]*\), expected.*/\1/p' "$WORK/$name.actions" 2>/dev/null | tail -1)
    [ "$(sipp_ok "$name")/$(sipp_failed "$name")" = 1/0 ] ||
        fail "$name: $from -> $to: expected $want, got ${got:-no final response} (${WORK#"$EP_ROOT"/}/$name.*)"
    if [ -n "$re" ]; then
        wait_until 3 nlog_since "$mark" "$re" >/dev/null ||
            fail "$name: $from -> $to answered $got but the node did not log /$re/"
        note "ok: $name: $from -> $to: $got, logged: $(nlog_since "$mark" "$re" | head -1 | cut -d' ' -f3- | cut -c1-200)"
    else
        note "ok: $name: $from -> $to: $got"
    fi
}
nlog_since() { # MARK REGEX: the node's log lines after line MARK matching REGEX
    tail -n +"$(($1 + 1))" "$NLOG" | grep -E -- "$2"
}
# the internal UAS saw a request carrying this trust header
expect_trust() { # REGEX WHAT
    wait_log "$WORK/our_uas.msg" "X-Edgepool-Trust: $1" 5 || fail "$2: no trust header /$1/ inside"
    note "ok: $2: X-Edgepool-Trust: $1"
}

# ---- processes --------------------------------------------------------------
node_conf node1 $NODE 127.0.6.11:5070 $DNS "$(policy_body "$DISCOVERY_OFF" "$ALLOWED_BOTH")"
node_start node1
NODE_PID=$(ep_pid node1)

printf '%s sip.contoso.test\n' $NODE >"$WORK/hosts"
export KAM_HOSTS=$WORK/hosts
kamailio_partner_start fab 127.0.6.2 fabrikam.test fabrikam-edge \
    "sip:sip.contoso.test:5061;transport=tls" 127.0.6.12:5070
kamailio_partner_start nw 127.0.6.3 northwind.test northwind-edge \
    "sip:sip.contoso.test:5061;transport=tls" 127.0.6.13:5070
kamailio_partner_start him 127.0.6.4 hosted.test hostedim-edge \
    "sip:sip.contoso.test:5061;transport=tls" 127.0.6.14:5070

# UASes answering 200 for the whole test (ended at cleanup)
SIPP_TIMEOUT=170 sipp_spawn our_uas uas_message.xml -t t1 -i 127.0.6.11 -p 5070
SIPP_TIMEOUT=170 sipp_spawn fab_uas uas_message.xml -t t1 -i 127.0.6.12 -p 5070
SIPP_TIMEOUT=170 sipp_spawn nw_uas uas_message.xml -t t1 -i 127.0.6.13 -p 5070
SIPP_TIMEOUT=170 sipp_spawn him_uas uas_message.xml -t t1 -i 127.0.6.14 -p 5070
for a in 11 12 13 14; do wait_tcp 127.0.6.$a 5070 || fail "SIPp UAS on 127.0.6.$a did not start"; done

# ---- 1. allowed partner server: northwind.test -> sip.northwind.test, no SRV
note "== 1. allowed partner server (direct federation)"
assert_eq "" "$(srv_of northwind.test)" "SRV of _sipfederationtls._tcp.northwind.test"
kdig @127.0.6.23 -p 5300 +short A sip.northwind.test | grep -qx 127.0.6.3 ||
    fail "NSD does not serve sip.northwind.test"
expect_msg in alice@contoso.test bob@northwind.test 200
assert_log "$WORK/nw.log" "EP-REQ MESSAGE sip:bob@northwind.test from=tls:$NODE:[0-9]+ peer_cn=sip.contoso.test" \
    "northwind's edge got it from us"
expect_msg nw bob@northwind.test alice@contoso.test 200
expect_trust "source=DirectPartner;edge=node1.contoso.test;verified;remote=sip.northwind.test;domain=northwind.test" \
    "inbound from the partner server"
# another edge may not speak for a partner server's domain
expect_msg fab mallory@northwind.test alice@contoso.test 403 \
    "northwind.test from 127.0.6.2:[0-9]+ \(certificate sip.fabrikam.test\) refused 403: Certificate does not match the partner's edge"

# ---- 2. allowed partner domain by SRV: fabrikam.test -------------------------
note "== 2. allowed partner domain (SRV)"
assert_match "sip.fabrikam.test" "$(srv_of fabrikam.test)" "SRV of fabrikam.test"
expect_msg in alice@contoso.test bob@fabrikam.test 200
expect_msg fab bob@fabrikam.test alice@contoso.test 200
expect_trust "source=AllowedPartnerDomain;edge=node1.contoso.test;verified;remote=sip.fabrikam.test;domain=fabrikam.test" \
    "inbound from the partner domain"
# a trust header of ours forged outside is dropped
sipp_run forged uac_message_hdr.xml -t t1 -i 127.0.6.12 -m 1 -s alice -key to_domain contoso.test \
    -key from_user bob -key from_domain fabrikam.test \
    -key extra_hdr "X-Edgepool-Trust: source=Internal;edge=forged.test;verified;remote=x;domain=contoso.test" \
    127.0.6.2:5060 >/dev/null
assert_sipp forged 1 0
assert_no_log "$WORK/our_uas.msg" "forged.test" "a forged X-Edgepool-Trust inside"

# ---- 5. hosting provider: sip.hostedim.test for hosted.test ------------------
note "== 5. hosting provider"
assert_eq "" "$(srv_of hosted.test)" "SRV of hosted.test"
# its verification level is use_source_verification (the default): what the
# provider marks, unmarked = unverified; its marking is stripped, ours added
expect_msg him carol@hosted.test alice@contoso.test 200
expect_trust "source=HostingProvider;edge=node1.contoso.test;unverified;remote=sip.hostedim.test;domain=hosted.test" \
    "inbound from the hosting provider, unmarked"
assert_no_log "$WORK/our_uas.msg" "edge=node1.contoso.test;verified;remote=sip.hostedim.test" "trust headers inside"
sipp_run marked uac_message_hdr.xml -t t1 -i 127.0.6.14 -m 1 -s alice -key to_domain contoso.test \
    -key from_user carol -key from_domain hosted.test \
    -key extra_hdr "ms-edge-proxy-message-trust: ms-source-type=DirectPartner;ms-ep-fqdn=sip.hostedim.test;ms-source-verified-user=verified" \
    127.0.6.4:5060 >/dev/null
assert_sipp marked 1 0
expect_trust "source=HostingProvider;edge=node1.contoso.test;verified;remote=sip.hostedim.test;domain=hosted.test" \
    "inbound from the hosting provider, marked verified by it"
assert_no_log "$WORK/our_uas.msg" "ms-edge-proxy-message-trust|ms-source-type" "the provider's own marking inside"
expect_msg in alice@contoso.test carol@hosted.test 200
assert_log "$WORK/him.log" "EP-REQ MESSAGE sip:carol@hosted.test from=tls:$NODE:[0-9]+ peer_cn=sip.contoso.test" \
    "outbound to hosted.test went to sip.hostedim.test"
# the provider lists its domains: it may not speak for another one
expect_msg him dave@tenant2.test alice@contoso.test 403 \
    "tenant2.test from 127.0.6.4:[0-9]+ \(certificate sip.hostedim.test\) refused 403: Domain is not served by this provider"
# and another edge may not speak for the provider's domain
expect_msg fab carol@hosted.test alice@contoso.test 403 \
    "hosted.test from 127.0.6.2:[0-9]+ \(certificate sip.fabrikam.test\) refused 403: Certificate does not match the provider's edge"

# ---- 8. per-user external access policy: bob has NoFederation ---------------
note "== 8. external access policy per user"
expect_msg in bob@contoso.test ted@fabrikam.test 403 \
    "request from sip:bob@contoso.test to fabrikam.test answered 403: Federation is not allowed for this user"
expect_msg fab ted@fabrikam.test bob@contoso.test 403 \
    "fabrikam.test from 127.0.6.2:[0-9]+ \(certificate sip.fabrikam.test\) refused 403: Federation is not allowed for this user"
expect_msg in alice@contoso.test ted@fabrikam.test 200
expect_msg fab ted@fabrikam.test alice@contoso.test 200

# ---- 10. inside to an internal domain / From not ours; outside the mirror ---
note "== 10. internal domain, foreign From"
expect_msg in alice@contoso.test carol@contoso.test 404 \
    "internal request for our own domain contoso.test reached the edge, answered 404"
expect_msg in alice@fabrikam.test ted@fabrikam.test 403 \
    "internal request From sip:alice@fabrikam.test: not one of our domains, answered 403"
expect_msg fab alice@contoso.test carol@contoso.test 403 \
    "contoso.test from 127.0.6.2:[0-9]+ \(certificate sip.fabrikam.test\) refused 403: From domain is ours"
expect_msg fab ted@fabrikam.test bob@northwind.test 404 \
    "request from 127.0.6.2:[0-9]+ \(fabrikam.test\) for northwind.test: not a domain of ours, answered 404"

# ---- 5b. a hosting provider that lists no domains ---------------------------
note "== 5b. hosting provider without a domain list"
P_PROVIDER_ANY='
  providers = ( { name = "HostedIM"; fqdn = "sip.hostedim.test"; type = "hosting"; } );'
P_PROVIDER_SAVED=$P_PROVIDER
P_PROVIDER=$P_PROVIDER_ANY
reload_policy "$(policy_body "$DISCOVERY_OFF" "$ALLOWED_BOTH")"
P_PROVIDER=$P_PROVIDER_SAVED
# its edge may speak for a domain listed nowhere...
expect_msg him dave@tenant2.test alice@contoso.test 200
expect_trust "source=HostingProvider;edge=node1.contoso.test;unverified;remote=sip.hostedim.test;domain=tenant2.test" \
    "inbound from the provider for an unlisted domain"
# ...but not for a partner server's, and there is no route to that domain
expect_msg him mallory@northwind.test alice@contoso.test 403 \
    "northwind.test from 127.0.6.4:[0-9]+ \(certificate sip.hostedim.test\) refused 403: Certificate does not match the partner's edge"
expect_msg in alice@contoso.test dave@tenant2.test 403 \
    "request from sip:alice@contoso.test to tenant2.test answered 403: Domain is not allowed"

# ---- 3. discovered partner: northwind.test unlisted, SRV published ----------
note "== 3. discovered partner"
zone_write "$WORK/northwind.zone" northwind.test sip.northwind.test 127.0.6.3
dns_stop "$WORK/dns"
dns_start "$WORK/dns" 127.0.6.23 5300 "${ZONES[@]}" || fail "NSD did not restart"
assert_match "sip.northwind.test" "$(srv_of northwind.test)" "SRV of northwind.test"
reload_policy "$(policy_body "$DISCOVERY_OFF" '"fabrikam.test"')"
expect_msg in alice@contoso.test bob@northwind.test 403 \
    "request from sip:alice@contoso.test to northwind.test answered 403: Domain is not allowed"
expect_msg nw bob@northwind.test alice@contoso.test 403 \
    "northwind.test from 127.0.6.3:[0-9]+ \(certificate sip.northwind.test\) refused 403: Domain is not allowed"
reload_policy "$(policy_body "$DISCOVERY_ON" '"fabrikam.test"')"
expect_msg in alice@contoso.test bob@northwind.test 200
expect_msg nw bob@northwind.test alice@contoso.test 200
# discovered_partner_verification_level use_source_verification, unmarked
expect_trust "source=AutoFederation;edge=node1.contoso.test;unverified;remote=sip.northwind.test;domain=northwind.test" \
    "inbound from the discovered partner"
# the certificate must name the discovered domain's SRV target
expect_msg fab mallory@northwind.test alice@contoso.test 403 \
    "northwind.test from 127.0.6.2:[0-9]+ \(certificate sip.fabrikam.test\) refused 403: no SRV target is a name of the certificate"

# ---- 6. blocked domain, discovery on ----------------------------------------
note "== 6. blocked domain"
reload_policy "$(policy_body "$DISCOVERY_ON" '"fabrikam.test"' '  blocked_domains = ( "northwind.test" );')"
expect_msg in alice@contoso.test bob@northwind.test 403 \
    "request from sip:alice@contoso.test to northwind.test answered 403: Domain is blocked"
expect_msg nw bob@northwind.test alice@contoso.test 403 \
    "northwind.test from 127.0.6.3:[0-9]+ \(certificate sip.northwind.test\) refused 403: Domain is blocked"

# ---- 4. throttling the discovered partner -----------------------------------
note "== 4. discovered partner throttled"
reload_policy "$(policy_body "$DISCOVERY_ON" '"fabrikam.test"')"
sleep 1.1 # a full bucket: RATE tokens
BURST=30
mark=$(wc -l <"$NLOG")
kmark=$(wc -l <"$WORK/nw.log")
t0=$(ep__now)
sipp_run burst uac_message_expect.xml -t t1 -i 127.0.6.13 -m $BURST -r 200 -rp 1000 -l $BURST \
    -s alice -key to_domain contoso.test -key from_user bob -key from_domain northwind.test \
    -key expect 200 127.0.6.3:5060 >/dev/null
secs_x10=$((($(ep__now) - t0) / 100000 + 1))
# The node answers 503; Kamailio's tm relays a 503 upstream as a 500 (RFC 3261
# 16.7), so the partner's UAC sees 500: the 503s are counted on the wire, where
# Kamailio received them from us.
n200=$(grep -c 'final response 200,' "$WORK/burst.actions")
n500=$(grep -c 'final response 500,' "$WORK/burst.actions")
n503=$(tail -n +$((kmark + 1)) "$WORK/nw.log" | grep -c "EP-REPLY 503 MESSAGE from=tls:$NODE:5061 peer_cn=sip.contoso.test")
n_ra=$(tail -n +$((kmark + 1)) "$WORK/nw.log" | grep -c "EP-RETRY-AFTER [0-9][0-9]* callid=")
note "burst of $BURST at 200/s in ~$((secs_x10 / 10)).$((secs_x10 % 10)) s: $n200 x 200, $n503 x 503 (relayed as $n500 x 500)"
assert_eq $BURST $((n200 + n500)) "200s + 500s at the partner's UAC"
assert_eq "$n500" "$n503" "503s from the node = 500s relayed by Kamailio"
assert_eq "$n503" "$n_ra" "503s with a Retry-After"
assert_cmp "$n503" -ge 1 "503s of the burst"
assert_cmp "$n200" -ge $RATE "200s of the burst (a full bucket)"
assert_cmp "$n200" -le $((RATE + RATE * secs_x10 / 10 + 1)) "200s of the burst (rate * seconds + burst)"
assert_eq "$n503" "$(nlog_since "$mark" "discovered partner northwind.test from 127.0.6.3:[0-9]+ .* throttled: over its message rate, answered 503" | wc -l)" \
    "node log lines for the 503s"

# contact cap: alice is its first contact; carol and dave make 3, erin is the 4th
sleep 1.1
expect_msg nw bob@northwind.test alice@contoso.test 200
expect_msg nw bob@northwind.test carol@contoso.test 200
expect_msg nw bob@northwind.test dave@contoso.test 200
expect_msg nw bob@northwind.test erin@contoso.test 403 \
    "discovered partner northwind.test from 127.0.6.3:[0-9]+ \(issuer=.*edgepool test CA.* serial=[0-9A-Fa-f]+ subject=.*sip.northwind.test.*\) throttled: over its contact limit \(watch list\), answered 403"
# on the watch list: refused from now on, even to a known contact
expect_msg nw bob@northwind.test alice@contoso.test 403 "throttled: over its contact limit"

# ---- 7. federation off ------------------------------------------------------
note "== 7. federation off"
reload_policy "$(policy_body "allow_federated_users = false;" '"fabrikam.test"')"
expect_msg in alice@contoso.test bob@fabrikam.test 403 \
    "request from sip:alice@contoso.test to fabrikam.test answered 403: Federation is disabled"
expect_msg fab bob@fabrikam.test alice@contoso.test 403 \
    "fabrikam.test from 127.0.6.2:[0-9]+ \(certificate sip.fabrikam.test\) refused 403: Federation is disabled"
expect_msg him carol@hosted.test alice@contoso.test 403 \
    "hosted.test from 127.0.6.4:[0-9]+ \(certificate sip.hostedim.test\) refused 403: Federation is disabled"

# ---- 9. SIGHUP: block fabrikam without a restart, refuse broken files -------
note "== 9. SIGHUP reload"
reload_policy "$(policy_body "$DISCOVERY_OFF" '"fabrikam.test"')"
expect_msg fab bob@fabrikam.test alice@contoso.test 200
expect_msg in alice@contoso.test bob@fabrikam.test 200
fab_conns() { # the established TCP connections between the node and fabrikam's edge
    ss -Htn state established "( sport = :5061 or dport = :5061 )" 2>/dev/null |
        awk -v n="$NODE" '($3 ~ "^" n ":" && $4 ~ /^127\.0\.6\.2:/) { print $3 "-" $4 }' | sort
}
CONNS=$(fab_conns)
[ "$(echo "$CONNS" | grep -c .)" -ge 2 ] || fail "expected an inbound and an outbound connection with fabrikam, got: $CONNS"
N_TLS=$(grep -c 'established: peer certificate sip.fabrikam.test' "$NLOG")

reload_policy "$(policy_body "$DISCOVERY_OFF" "" '  blocked_domains = ( "fabrikam.test" );')"
expect_msg fab bob@fabrikam.test alice@contoso.test 403 \
    "fabrikam.test from 127.0.6.2:[0-9]+ \(certificate sip.fabrikam.test\) refused 403: Domain is blocked"
expect_msg in alice@contoso.test bob@fabrikam.test 403 \
    "request from sip:alice@contoso.test to fabrikam.test answered 403: Domain is blocked"

# a file that does not parse: refused, the running policy kept
cp "$WORK/node1.conf" "$WORK/node1.good"
node_conf node1 $NODE 127.0.6.11:5070 $DNS "$(policy_body "$DISCOVERY_OFF" '"fabrikam.test"') oops"
mark=$(wc -l <"$NLOG")
ep_kill node1 HUP >/dev/null
wait_until 5 nlog_since "$mark" "reload refused, keeping the running configuration: .*node1.conf:[0-9]+" >/dev/null ||
    fail "a file that does not parse was not refused"
note "ok: refused: $(nlog_since "$mark" "reload refused" | cut -d' ' -f5- | cut -c1-200)"
expect_msg fab bob@fabrikam.test alice@contoso.test 403 "refused 403: Domain is blocked"
# a file that parses but whose policy is wrong (allowed and blocked at once):
# refused as a whole, its node settings too (here log_level debug)
NODE_LOG_LEVEL=debug node_conf node1 $NODE 127.0.6.11:5070 $DNS \
    "$(policy_body "$DISCOVERY_OFF" '"fabrikam.test"' '  blocked_domains = ( "fabrikam.test" );')"
mark=$(wc -l <"$NLOG")
ep_kill node1 HUP >/dev/null
wait_until 5 nlog_since "$mark" "reload refused, keeping the running configuration: .*node1.conf:[0-9]+: policy.blocked_domains\[0\]: fabrikam.test is already allowed" >/dev/null ||
    fail "a policy with fabrikam.test allowed and blocked was not refused"
note "ok: refused: $(nlog_since "$mark" "reload refused" | cut -d' ' -f5- | cut -c1-200)"
expect_msg fab bob@fabrikam.test alice@contoso.test 403 "refused 403: Domain is blocked"
expect_msg in alice@contoso.test bob@fabrikam.test 403 "answered 403: Domain is blocked"
! nlog_since "$mark" "^[^ ]+ edge-node debug " >/dev/null ||
    fail "the refused file's log_level debug was applied: $(nlog_since "$mark" " debug " | head -1)"
note "ok: the refused file's node settings were not applied (no debug lines)"

# unblock: works again over the very same connections
reload_policy "$(policy_body "$DISCOVERY_OFF" '"fabrikam.test"')"
expect_msg fab bob@fabrikam.test alice@contoso.test 200
expect_msg in alice@contoso.test bob@fabrikam.test 200
assert_eq "$NODE_PID" "$(ep_pid node1)" "node PID"
ep_alive node1 || fail "the node is gone"
assert_eq "$CONNS" "$(fab_conns)" "connections with fabrikam's edge across the reloads"
assert_eq "$N_TLS" "$(grep -c 'established: peer certificate sip.fabrikam.test' "$NLOG")" \
    "TLS handshakes with fabrikam's edge (no reconnection)"
assert_no_log "$NLOG" "SIGHUP.*(restart|exit)|stopped" "node log"

pass "all federation types and policy decisions"
