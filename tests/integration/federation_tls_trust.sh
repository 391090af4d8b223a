# federation_tls_trust.sh -- certificate and identity negatives against the
# real edge-node: partner edges (Kamailio over mutual TLS, openssl s_client)
# presenting bad certificates or speaking for domains their certificate does
# not name, outbound handshakes to a wrong principal or to nothing, direct
# partner servers; after all of it, good partners still federate both ways.
#
#   127.0.5.1      node1 (internal TCP :5060, federation TLS :5061)
#   127.0.5.2      fab    Kamailio, fabrikam-edge (sip.fabrikam.test), good
#   127.0.5.3      evil   Kamailio, wrongsan (sip.evil.test), domain fabrikam.test;
#                         also the address DNS gives for sip.fabrikam.test
#   127.0.5.4      nw     Kamailio, northwind-edge (sip.northwind.test), good
#   127.0.5.5..8   Kamailio with expired / selfsigned / otherca-fabrikam / noclientauth
#   127.0.5.9      sip.tailspin.test: nothing listens
#   127.0.5.11     our internal UAS (node1's next hop, :5070)
#   127.0.5.12     our internal UAC     127.0.5.13..19  partner-side SIPp
#   127.0.5.53     NSD :5300
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
ep_setup federation_tls_trust
need_bin edge-node
need_cmd kamailio sipp nsd kdig openssl
ep_certs

N=127.0.5.1
UAS=127.0.5.11
UAC=127.0.5.12

# --- DNS ----------------------------------------------------------------------
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.5.3
zone_write "$WORK/northwind.zone" northwind.test sip.northwind.test 127.0.5.4
zone_write "$WORK/tailspin.zone" tailspin.test sip.tailspin.test 127.0.5.9
zone_write "$WORK/contoso.zone" contoso.test sip.contoso.test $N
dns_start "$WORK/dns" 127.0.5.53 5300 "$WORK/fabrikam.zone" "$WORK/northwind.zone" \
    "$WORK/tailspin.zone" "$WORK/contoso.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

# --- node1 --------------------------------------------------------------------
# POLICY for node1; FAB_ENTRY is fabrikam.test's allowed_domains entry.
node1_policy() { # FAB_ENTRY
    printf '%s' '
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( '"$1"', "northwind.test", "tailspin.test" );
  external_access_policies = ( { name = "global"; enable_federation_access = true;
                                 enable_public_cloud_access = true; } );'
}
# a long transaction timeout, so that "504 at once" is told from Timer F
export NODE_TXN_TIMEOUT=8000
node_conf node1 $N $UAS:5070 127.0.5.53:5300 "$(node1_policy '"fabrikam.test"')"
node_start node1
NLOG=$WORK/node1.log

# Our internal side: one UAS for the whole test (it must never see a refused
# request; what it received is counted at the end).
SIPP_TIMEOUT=90 sipp_spawn our_uas uas_message.xml -t t1 -i $UAS -p 5070
wait_tcp $UAS 5070 || fail "internal UAS did not start"

# --- partners -----------------------------------------------------------------
NH="sip:$N:5061;transport=tls"
kamailio_partner_start fab 127.0.5.2 fabrikam.test fabrikam-edge "$NH" 127.0.5.14:5070
kamailio_partner_start evil 127.0.5.3 fabrikam.test wrongsan "$NH" 127.0.5.14:5070
kamailio_partner_start nw 127.0.5.4 northwind.test northwind-edge "$NH" 127.0.5.14:5070
# a refused handshake toward the node is a 408 at fr_timer in Kamailio
KAM_FR_TIMER=1500 kamailio_partner_start k_expired 127.0.5.5 fabrikam.test expired "$NH" 127.0.5.14:5070
KAM_FR_TIMER=1500 kamailio_partner_start k_self 127.0.5.6 fabrikam.test selfsigned "$NH" 127.0.5.14:5070
KAM_FR_TIMER=1500 kamailio_partner_start k_otherca 127.0.5.7 fabrikam.test otherca-fabrikam "$NH" 127.0.5.14:5070
KAM_FR_TIMER=1500 kamailio_partner_start k_noca 127.0.5.8 fabrikam.test noclientauth "$NH" 127.0.5.14:5070

# in_msg NAME SRC PARTNER_ADDR FROM_DOMAIN EXPECT [FROM_USER]: one MESSAGE from
# the partner's inside to alice@contoso.test, expecting final code EXPECT.
in_msg() {
    sipp_run "$1" uac_message_expect.xml -t t1 -i "$2" -s alice -key to_domain contoso.test \
        -key from_user "${6:-bob}" -key from_domain "$4" -key expect "$5" -m 1 "$3:5060"
}

# --- 1. inbound handshakes refused by the node ------------------------------
note "case 1: bad client certificates"
declare -A K_ADDR=([k_expired]=127.0.5.5 [k_self]=127.0.5.6 [k_otherca]=127.0.5.7 [k_noca]=127.0.5.8)
declare -A K_SRC=([k_expired]=127.0.5.15 [k_self]=127.0.5.16 [k_otherca]=127.0.5.17 [k_noca]=127.0.5.18)
for k in k_expired k_self k_otherca k_noca; do
    sipp_spawn "u_$k" uac_message_expect.xml -t t1 -i "${K_SRC[$k]}" -s alice \
        -key to_domain contoso.test -key from_user bob -key from_domain fabrikam.test \
        -key expect 408 -m 1 "${K_ADDR[$k]}:5060"
done
for k in k_expired k_self k_otherca k_noca; do
    ep_wait "u_$k" 20
    assert_sipp "u_$k" 1 0
done
# the node's one line saying why, naming the partner's address
re_refused='refused client certificate from'
assert_log "$NLOG" "$re_refused 127\.0\.5\.5:[0-9]+: certificate has expired" "expired refused"
assert_log "$NLOG" "$re_refused 127\.0\.5\.6:[0-9]+: self-signed certificate" "self-signed refused"
assert_log "$NLOG" "$re_refused 127\.0\.5\.7:[0-9]+: unable to get local issuer certificate" "other CA refused"
assert_log "$NLOG" "$re_refused 127\.0\.5\.8:[0-9]+: missing clientAuth EKU" "no clientAuth refused"
assert_log "$NLOG" "TLS handshake from 127\.0\.5\.5:[0-9]+ failed: certificate has expired" "expired handshake line"
# refused at the handshake: each partner got the TLS alert that says why
assert_log "$WORK/k_expired.log" "alert certificate expired" "k_expired got the alert"
assert_log "$WORK/k_self.log" "alert unknown ca" "k_self got the alert"
assert_log "$WORK/k_otherca.log" "alert unknown ca" "k_otherca got the alert"
assert_log "$WORK/k_noca.log" "alert unsupported certificate" "k_noca got the alert"

# No client certificate at all: a raw TLS client sends a MESSAGE anyway.
MSG=$'MESSAGE sip:alice@contoso.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bKnocert1\r\nMax-Forwards: 70\r\nFrom: <sip:bob@fabrikam.test>;tag=nc1\r\nTo: <sip:alice@contoso.test>\r\nCall-ID: nocert-1@fabrikam.test\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n'
for proto in tls1_3 tls1_2; do
    t0=$(ep__now)
    printf '%s' "$MSG" | timeout 8 openssl s_client -connect $N:5061 -CAfile "$EP_CERTS/ca.crt" \
        -servername sip.contoso.test -"$proto" -quiet >"$WORK/nocert_$proto.out" 2>"$WORK/nocert_$proto.err"
    rc=$?
    ms=$((($(ep__now) - t0) / 1000))
    note "s_client -$proto without a certificate: exit $rc after ${ms} ms"
    assert_cmp "$rc" -ne 124 "s_client -$proto ended by the node closing (not by the timeout)"
    assert_no_log "$WORK/nocert_$proto.out" "SIP/2\.0" "no SIP answer without a client certificate ($proto)"
done
assert_log "$NLOG" "refused client from 127\.0\.0\.1:[0-9]+: no certificate presented" "no certificate refused"
# a TCP health check (connect, close) on 5061 is no TLS failure (checked at
# the end, when the node has long seen the close)
(exec 3<>"/dev/tcp/$N/5061") 2>/dev/null || fail "cannot connect to $N:5061"

# --- 2. wrong principal inbound ---------------------------------------------
note "case 2: valid chain, certificate sip.evil.test, From @fabrikam.test"
in_msg evil_in 127.0.5.13 127.0.5.3 fabrikam.test 403
assert_sipp evil_in 1 0
assert_log "$WORK/evil_in.msg" "SIP/2.0 403 Forbidden \(certificate does not match the SRV target\)" "403 reason"
assert_log "$NLOG" "fabrikam\.test from 127\.0\.5\.3:[0-9]+ \(certificate sip\.evil\.test\) refused 403: no SRV target is a name of the certificate" "wrong principal logged"

# --- 3. DNS spoofing: a valid partner edge speaking for another domain ------
note "case 3: northwind-edge claiming @fabrikam.test; a partner claiming @contoso.test"
in_msg nw_spoof 127.0.5.13 127.0.5.4 fabrikam.test 403
assert_sipp nw_spoof 1 0
assert_log "$WORK/nw_spoof.msg" "SIP/2.0 403 Forbidden \(certificate does not match the SRV target\)" "403 reason"
assert_log "$NLOG" "fabrikam\.test from 127\.0\.5\.4:[0-9]+ \(certificate sip\.northwind\.test\) refused 403" "spoof logged"
in_msg ours_spoof 127.0.5.13 127.0.5.2 contoso.test 403 mallory
assert_sipp ours_spoof 1 0
assert_log "$WORK/ours_spoof.msg" "SIP/2.0 403 From domain is ours" "403 reason"
assert_log "$NLOG" "contoso\.test from 127\.0\.5\.2:[0-9]+ \(certificate sip\.fabrikam\.test\) refused 403: From domain is ours" "own-domain spoof logged"

# --- 4. outbound: wrong principal, and no listener ---------------------------
note "case 4: outbound to fabrikam.test (sip.fabrikam.test hosts wrongsan)"
out_msg() { # NAME DOMAIN EXPECT
    sipp_run "$1" uac_message_expect.xml -t t1 -i $UAC -s bob -key to_domain "$2" \
        -key from_user alice -key from_domain contoso.test -key expect "$3" -m 1 $N:5060
}
t0=$(ep__now)
out_msg out_wrong fabrikam.test 504
ms=$((($(ep__now) - t0) / 1000))
assert_sipp out_wrong 1 0
assert_log "$WORK/out_wrong.msg" "504 Server Time-out .cannot reach the partner's edge" "504 says why"
assert_log "$NLOG" "refused server certificate from sip\.fabrikam\.test at 127\.0\.5\.3:5061: hostname mismatch" "hostname mismatch logged"
assert_cmp "$ms" -lt 2000 "wrong-principal 504 (ms), transaction timeout $NODE_TXN_TIMEOUT"
assert_log "$WORK/evil.log" "alert bad certificate \(sni: sip\.fabrikam\.test\)" "the wrong principal was refused at the handshake"
assert_no_log "$WORK/evil.log" "EP-REQ MESSAGE sip:bob@fabrikam\.test" "the wrong principal got no request"

note "case 4b: outbound to tailspin.test (sip.tailspin.test: nothing listens)"
t0=$(ep__now)
out_msg out_nolisten tailspin.test 504
ms=$((($(ep__now) - t0) / 1000))
assert_sipp out_nolisten 1 0
assert_log "$WORK/out_nolisten.msg" "504 Server Time-out .cannot reach the partner's edge" "504 says why"
assert_cmp "$ms" -lt 2000 "connect-refused 504 (ms), transaction timeout $NODE_TXN_TIMEOUT"
assert_log "$NLOG" "conn: external connect to 127\.0\.5\.9:5061 for sip\.tailspin\.test failed: Connection refused" "connect refused logged"
assert_no_log "$NLOG" "handshake to 127\.0\.5\.9:5061" "a refused connect is not a TLS handshake failure"

# --- 5. direct partner server (allowed_domains entry with edge_fqdn) ---------
reload_node1() { # FAB_ENTRY
    local before
    before=$(grep -c 'reloaded: policy version' "$NLOG")
    node_conf node1 $N $UAS:5070 127.0.5.53:5300 "$(node1_policy "$1")"
    ep_kill node1 HUP
    wait_until 10 eval '[ "$(grep -c "reloaded: policy version" "$NLOG")" -gt '"$before"' ]' ||
        fail "node1 did not reload"
}
note "case 5: fabrikam.test as a direct partner, edge_fqdn sip.fabrikam.test"
reload_node1 '{ domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; }'
in_msg direct_ok 127.0.5.13 127.0.5.2 fabrikam.test 200
assert_sipp direct_ok 1 0
wait_log "$WORK/our_uas.msg" "X-Edgepool-Trust: source=DirectPartner;edge=node1\.contoso\.test;verified;remote=sip\.fabrikam\.test;domain=fabrikam\.test" 5 ||
    fail "no DirectPartner trust header inside"

note "case 5b: the same entry with edge_fqdn edge.fabrikam.test"
reload_node1 '{ domain = "fabrikam.test"; edge_fqdn = "edge.fabrikam.test"; }'
in_msg direct_bad 127.0.5.13 127.0.5.2 fabrikam.test 403
assert_sipp direct_bad 1 0
assert_log "$WORK/direct_bad.msg" "SIP/2.0 403 Certificate does not match the partner's edge" "403 reason"
assert_log "$NLOG" "fabrikam\.test from 127\.0\.5\.2:[0-9]+ \(certificate sip\.fabrikam\.test\) refused 403: Certificate does not match the partner's edge" "direct partner mismatch logged"

# A verdict cached on a connection holds only for the policy it was made
# under: evil's connection was refused for fabrikam.test in case 2 (still
# open); the operator now names sip.evil.test as fabrikam.test's edge.
note "case 5c: edge_fqdn sip.evil.test, on the connection refused in case 2"
reload_node1 '{ domain = "fabrikam.test"; edge_fqdn = "sip.evil.test"; }'
in_msg direct_evil 127.0.5.13 127.0.5.3 fabrikam.test 200
assert_sipp direct_evil 1 0
wait_log "$WORK/our_uas.msg" "X-Edgepool-Trust: source=DirectPartner;edge=node1\.contoso\.test;verified;remote=sip\.evil\.test;domain=fabrikam\.test" 5 ||
    fail "no DirectPartner trust header for sip.evil.test inside"
assert_eq 1 "$(grep -c 'external TLS from 127\.0\.5\.3:.* established' "$NLOG")" "connections from evil (the one refused in case 2 was reused)"

# --- after all that: good partners still federate, both ways ---------------
note "good partners still federate"
reload_node1 '"fabrikam.test"'
in_msg good_fab 127.0.5.13 127.0.5.2 fabrikam.test 200
assert_sipp good_fab 1 0
in_msg good_nw 127.0.5.13 127.0.5.4 northwind.test 200
assert_sipp good_nw 1 0
sipp_spawn nw_uas uas_message.xml -t t1 -i 127.0.5.14 -p 5070 -m 1
wait_tcp 127.0.5.14 5070 || fail "northwind UAS did not start"
out_msg good_out northwind.test 200
assert_sipp good_out 1 0
ep_wait nw_uas 10 >/dev/null
assert_sipp nw_uas 1 0

# the internal UAS saw exactly the accepted requests: direct_ok, direct_evil,
# good_fab, good_nw
ep_stop our_uas >/dev/null
got=$(grep -c '^MESSAGE sip:' "$WORK/our_uas.msg")
assert_eq 4 "$got" "requests that reached the inside"
assert_no_log "$WORK/our_uas.msg" "From: <sip:mallory@" "the own-domain spoof never reached the inside"
assert_eq 2 "$(grep -c 'TLS handshake from 127\.0\.0\.1:.* failed' "$NLOG")" \
    "handshake failures logged from 127.0.0.1 (the two s_client runs, not the health check)"
pass
