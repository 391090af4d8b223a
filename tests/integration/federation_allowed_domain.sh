# federation_allowed_domain.sh -- an allowed partner domain found by SRV, both
# directions, MESSAGE and INVITE/ACK/BYE with Record-Route: SIPp (inside) <->
# edge-node <-> Kamailio (fabrikam.test's edge, mutual TLS) <-> SIPp.
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/dns.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/kamailio.sh"
ep_setup federation_allowed_domain
need_bin edge-node
need_cmd kamailio sipp nsd kdig
ep_certs

# DNS: fabrikam.test's SRV -> sip.fabrikam.test (Kamailio); ours -> the node
zone_write "$WORK/fabrikam.zone" fabrikam.test sip.fabrikam.test 127.0.2.1
zone_write "$WORK/contoso.zone" contoso.test sip.contoso.test 127.0.18.1
dns_start "$WORK/dns" 127.0.4.1 5300 "$WORK/fabrikam.zone" "$WORK/contoso.zone" || fail "NSD did not start"
ep_at_exit dns_stop "$WORK/dns"

node_conf node1 127.0.18.1 127.0.18.11:5070 127.0.4.1:5300
node_start node1

# the partner resolves our pool FQDN (Record-Route) through its hosts file
printf '127.0.18.1 sip.contoso.test\n' >"$WORK/hosts"
KAM_HOSTS=$WORK/hosts kamailio_partner_start fab 127.0.2.1 fabrikam.test fabrikam-edge \
    "sip:sip.contoso.test:5061;transport=tls" 127.0.2.11:5070

# 1. outbound MESSAGE: inside -> node -> SRV -> Kamailio -> partner UAS
sipp_spawn fab_uas tests/sipp/uas_message.xml -t t1 -i 127.0.2.11 -p 5070 -m 3
wait_tcp 127.0.2.11 5070 || fail "partner UAS did not start"
sipp_run out_msg tests/sipp/uac_message.xml -t t1 -i 127.0.18.21 -s bob \
    -key to_domain fabrikam.test -key from_user alice -key from_domain contoso.test -m 3 127.0.18.1:5060
assert_sipp out_msg 3 0
ep_wait fab_uas 10 >/dev/null
assert_log "$WORK/fab.log" "sip.contoso.test" "Kamailio saw our certificate"

# 2. inbound MESSAGE: partner UAC -> Kamailio -> node (SRV check) -> our UAS
sipp_spawn our_uas tests/sipp/uas_message.xml -t t1 -i 127.0.18.11 -p 5070 -m 3
wait_tcp 127.0.18.11 5070 || fail "internal UAS did not start"
sipp_run in_msg tests/sipp/uac_message.xml -t t1 -i 127.0.2.12 -s alice \
    -key to_domain contoso.test -key from_user bob -key from_domain fabrikam.test -m 3 127.0.2.1:5060
assert_sipp in_msg 3 0
ep_wait our_uas 10 >/dev/null
# the internal side sees our trust header, never a partner's
assert_log "$WORK/our_uas.msg" "X-Edgepool-Trust: source=AllowedPartnerDomain;edge=node1.contoso.test;verified;remote=sip.fabrikam.test;domain=fabrikam.test" "trust header inside"

# 3. outbound INVITE/ACK/BYE with Record-Route through the pool FQDN
sipp_spawn fab_uasi tests/sipp/uas_invite.xml -t t1 -i 127.0.2.11 -p 5070 -m 2
wait_tcp 127.0.2.11 5070 || fail "partner INVITE UAS did not start"
sipp_run out_inv tests/sipp/uac_invite_bye.xml -t t1 -i 127.0.18.21 -s bob \
    -key to_domain fabrikam.test -key from_user alice -key from_domain contoso.test -m 2 -d 200 127.0.18.1:5060
assert_sipp out_inv 2 0
ep_wait fab_uasi 10 >/dev/null
assert_log "$WORK/fab_uasi.msg" "Record-Route: <sip:sip.contoso.test:5061;transport=tls;lr;ep-peer=sip.fabrikam.test>" "pool FQDN in Record-Route"

# 4. inbound INVITE/ACK/BYE: the BYE from the partner follows our Record-Route
sipp_spawn our_uasi tests/sipp/uas_invite.xml -t t1 -i 127.0.18.11 -p 5070 -m 2
wait_tcp 127.0.18.11 5070 || fail "internal INVITE UAS did not start"
sipp_run in_inv tests/sipp/uac_invite_bye.xml -t t1 -i 127.0.2.12 -s alice \
    -key to_domain contoso.test -key from_user bob -key from_domain fabrikam.test -m 2 -d 200 127.0.2.1:5060
assert_sipp in_inv 2 0
ep_wait our_uasi 10 >/dev/null
assert_log "$WORK/our_uasi.msg" "Record-Route: <sip:127.0.18.1:5060;transport=tcp;lr;ep-peer=sip.fabrikam.test>" "inside-facing Record-Route"
pass
