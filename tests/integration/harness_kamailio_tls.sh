#!/bin/bash
# harness_kamailio_tls.sh -- the harness and the real peers behave: two Kamailio
# partner edges (fabrikam.test on 127.0.2.1, northwind.test on 127.0.2.2)
# federate over mutual TLS; SIPp UAC -> A (TCP) -> TLS -> B -> SIPp UAS (TCP)
# for MESSAGE and INVITE/ACK/BYE with Record-Route, one MESSAGE the other way,
# a 403 from B checked with uac_message_expect.xml, and B presenting a
# certificate A must refuse (other CA, then expired): the MESSAGE fails.
# Last, the benchmark's plain relay config relays one MESSAGE. No edge-node
# involved: it pins down what the edge tests build on.
. "${EP_ROOT:-.}/tests/lib/common.sh"
. "$EP_LIB/kamailio.sh"

ep_setup harness_kamailio_tls
need_cmd kamailio sipp openssl ss
ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 || skip "kamailio-tls-modules not installed"
ep_certs

A=127.0.2.1       # fabrikam.test edge
B=127.0.2.2       # northwind.test edge
UAC=127.0.2.11    # fabrikam's user agents (UAC, and UAS on :5070)
UAS=127.0.2.12    # northwind's user agents (UAS on :5070, UAC)
# SIPp keys: who writes to whom.
F2N=(-key from_user alice -key from_domain fabrikam.test -key to_domain northwind.test -s bob)
N2F=(-key from_user bob -key from_domain northwind.test -key to_domain fabrikam.test -s alice)

kamailio_partner_start fab $A fabrikam.test fabrikam-edge "sip:$B:5061;transport=tls" $UAC:5070
kamailio_partner_start nw $B northwind.test northwind-edge "sip:$A:5061;transport=tls" $UAS:5070

# 1. MESSAGE fabrikam -> northwind over mutual TLS.
sipp_spawn uas_msg uas_message.xml -t t1 -i $UAS -p 5070 -m 5
wait_tcp $UAS 5070 || fail "SIPp UAS does not listen"
sipp_run uac_msg uac_message.xml -t t1 -i $UAC "${F2N[@]}" -m 5 -r 20 $A:5060
assert_sipp uac_msg 5 0
ep_wait uas_msg 10 || fail "UAS for MESSAGE exited with $?"
assert_sipp uas_msg 5 0
assert_log "$WORK/nw.log" "EP-REQ MESSAGE sip:bob@northwind.test from=tls:$A:[0-9]+ peer_cn=sip.fabrikam.test" \
    "B saw A's client certificate, from A's own address"
assert_log "$WORK/fab.log" "EP-REPLY 200 MESSAGE from=tls:$B:5061 peer_cn=sip.northwind.test" \
    "A saw B's server certificate"

# 2. INVITE / ACK / BYE: the BYE follows the Record-Route set through both edges.
sipp_spawn uas_inv uas_invite.xml -t t1 -i $UAS -p 5070 -m 2
wait_tcp $UAS 5070 || fail "SIPp UAS does not listen"
sipp_run uac_inv uac_invite_bye.xml -t t1 -i $UAC "${F2N[@]}" -d 200 -m 2 -r 10 $A:5060
assert_sipp uac_inv 2 0
ep_wait uas_inv 10 || fail "UAS for INVITE exited with $?"
assert_sipp uas_inv 2 0
rr="r2=on;lr[^>]*>"   # each edge double-records (TCP and TLS legs): 4 entries
assert_log "$WORK/uac_inv.msg" "^Route: <sip:$A;transport=tcp;$rr, <sip:$A:5061;transport=tls;$rr, <sip:$B:5061;transport=tls;$rr, <sip:$B;transport=tcp;$rr" \
    "UAC's BYE carries the double Record-Route of both edges"
assert_log "$WORK/nw.log" "EP-REQ BYE sip:uas@$UAS:5070;transport=TCP from=tls:$A:[0-9]+ peer_cn=sip.fabrikam.test" \
    "the BYE reached B over the TLS leg"

# 3. The other way: northwind -> fabrikam (B is the TLS client now).
sipp_spawn uas_rev uas_message.xml -t t1 -i $UAC -p 5070 -m 1
wait_tcp $UAC 5070 || fail "SIPp UAS does not listen"
sipp_run uac_rev uac_message.xml -t t1 -i $UAS "${N2F[@]}" -m 1 $B:5060
assert_sipp uac_rev 1 0
ep_wait uas_rev 10 || fail "UAS for the reverse MESSAGE exited with $?"
assert_log "$WORK/fab.log" "EP-REQ MESSAGE sip:alice@fabrikam.test from=tls:$B:[0-9]+ peer_cn=sip.northwind.test" \
    "A saw B's client certificate"

# 4. Expected failures: B refuses (403) a domain that is not its own coming
#    over TLS; uac_message_expect.xml counts it a success only when the code
#    is the one asked for.
F2X=(-key from_user alice -key from_domain fabrikam.test -key to_domain contoso.test -s carol)
sipp_run uac_403 uac_message_expect.xml -t t1 -i $UAC "${F2X[@]}" -key expect 403 -m 2 $A:5060
assert_sipp uac_403 2 0
sipp_run uac_404 uac_message_expect.xml -t t1 -i $UAC "${F2X[@]}" -key expect 404 -m 1 $A:5060
assert_sipp uac_404 0 1
assert_log "$WORK/uac_404.actions" "final response 403, expected 404" "the scenario logs the code it got"
assert_log "$WORK/nw.log" "EP-DENY MESSAGE sip:carol@contoso.test from=tls:$A:" "B denied relaying"

# 5. B presents a certificate A does not trust: the handshake fails, so does
#    the MESSAGE (A answers 408 after its fr_timer; no UAS: nothing may reach
#    it). A logs only "certificate verify failed"; B logs A's alert, which
#    names the reason.
for bad in "otherca-fabrikam:tlsv1 alert unknown ca" "expired:sslv3 alert certificate expired"; do
    cert=${bad%%:*}
    ep_stop nw || true
    kamailio_partner_start "nw_$cert" $B northwind.test "$cert" "sip:$A:5061;transport=tls" $UAS:5070
    sipp_run "uac_$cert" uac_message.xml -t t1 -i $UAC "${F2N[@]}" -m 1 $A:5060
    assert_sipp "uac_$cert" 0 1
    assert_no_log "$WORK/nw_$cert.log" "EP-REQ" "B ($cert) got no request"
    assert_log "$WORK/nw_$cert.log" "${bad#*:}" "A refused B's $cert certificate"
    ep_stop "nw_$cert" || true
done
assert_log "$WORK/fab.log" "EP-FAIL MESSAGE sip:bob@northwind.test du=sip:$B:5061;transport=tls code=408" \
    "A failed the MESSAGE with 408"
[ "$(grep -c 'certificate verify failed' "$WORK/fab.log")" -ge 2 ] || fail "A did not log two verify failures"

# 6. The benchmark's reference relay (kamailio-relay.cfg) relays a MESSAGE.
kamailio_relay_start relay 127.0.2.5 $UAS:5070
sipp_spawn uas_relay uas_message.xml -t t1 -i $UAS -p 5070 -m 1
wait_tcp $UAS 5070 || fail "SIPp UAS does not listen"
sipp_run uac_relay uac_message.xml -t t1 -i $UAC "${F2N[@]}" -m 1 127.0.2.5:5060
assert_sipp uac_relay 1 0
ep_wait uas_relay 10 || fail "UAS behind the relay exited with $?"

pass "MESSAGE, INVITE/ACK/BYE and the reverse path over mutual TLS; untrusted and expired peers refused; relay relays"
