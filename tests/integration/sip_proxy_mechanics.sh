# sip_proxy_mechanics.sh -- the proxy core of a real edge-node (RFC 3261
# sections 16-17 on reliable transports) and its command line and signals:
# OPTIONS answered locally; INVITE with 100 Trying then the UAS's 180/200,
# ACK and BYE along the Record-Route; CANCEL of a ringing INVITE (200, 487 end
# to end, the 487 ACKed downstream by the node); 408 after
# limits.transaction_timeout_ms; next-hop failover on a dead hop and on 503;
# SIGHUP reload keeping connections; SIGTERM draining an open INVITE and
# exiting 0; --help/--version/--check-config/--print-config/bad options.
#
# Inbound direction: the partner (fabrikam.test, an allowed partner server,
# so no DNS is involved) is tests/lib/sipc.py over mutual TLS from 127.0.7.21
# with fabrikam-edge's certificate; the internal next hops are SIPp UASes.
#   node1  127.0.7.1 (5060 TCP inside, 5061 TLS)
#   UAS    127.0.7.11:5070, 127.0.7.12:5070, 127.0.7.13:5070
. "$EP_ROOT/tests/lib/common.sh"
. "$EP_LIB/node.sh"
. "$EP_LIB/sipc.sh"
ep_setup sip_proxy_mechanics
need_bin edge-node
need_cmd sipp
[ -x "$EP_PYTHON" ] || skip "$EP_PYTHON not installed"
ep_certs
NODE=$EP_BIN/edge-node

POLICY='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; } );
  external_access_policies = ( { name = "global"; enable_federation_access = true; } );'
export NODE_INT=127.0.7.1:5060 NODE_EXT=127.0.7.1:5061

# ---- command line ---------------------------------------------------------
cli() { # NAME ARGS...: run edge-node ARGS, output in $WORK/NAME.out, status in CLI_RC
    local name=$1
    shift
    timeout 20 "$NODE" "$@" >"$WORK/$name.out" 2>&1 </dev/null
    CLI_RC=$?
}
cli help --help
assert_eq 0 "$CLI_RC" "--help exit status"
assert_log "$WORK/help.out" '^usage: edge-node .*--check-config' "--help prints the usage"
cli version --version
assert_eq 0 "$CLI_RC" "--version exit status"
assert_log "$WORK/version.out" '^edge-node [0-9]+\.[0-9]+\.[0-9]+' "--version"
cli badopt --no-such-option
assert_eq 2 "$CLI_RC" "unknown option exit status"
assert_log "$WORK/badopt.out" 'usage: edge-node' "unknown option shows the usage"
cli badarg -c /dev/null stray-argument
assert_eq 2 "$CLI_RC" "stray argument exit status"

node_conf good 127.0.7.1 127.0.7.11:5070 "" "$POLICY"
cli check_good --check-config -c "$WORK/good.conf"
assert_eq 0 "$CLI_RC" "--check-config on a good file"
assert_log "$WORK/check_good.out" 'configuration OK' "--check-config says OK"
cli check_default --check-config
assert_eq 0 "$CLI_RC" "--check-config on the embedded default"
# the annotated sample an operator starts from is valid and shows every key
cli check_sample --check-config -c deploy/edge-node.conf
assert_eq 0 "$CLI_RC" "--check-config on deploy/edge-node.conf"
cli reference --print-config
for key in $(grep -oE '^ +#? *[a-z_]+ =' "$WORK/reference.out" | tr -d ' #=' | sort -u); do
    grep -qw "$key" deploy/edge-node.conf || fail "deploy/edge-node.conf does not show the key $key"
done

# an unknown key, a value out of range, a value of the wrong type, an unknown
# policy key, a bad policy value: exit 1 naming FILE:LINE: key
printf 'node = { id = "n1"; };\ninternal = {\n  listen = "127.0.7.1:5060";\n  next_hopz = [ "127.0.7.11:5070" ];\n};\n' >"$WORK/unknown.conf"
printf 'node = { id = "n1"; };\n\nlimits = {\n  transaction_timeout_ms = 2000;\n  idle_timeout = 1;\n};\n' >"$WORK/range.conf"
printf 'limits = {\n  max_headers = "many";\n};\n' >"$WORK/type.conf"
printf 'policy = {\n  internal_domains = [ "contoso.test" ];\n  allowed_domain = ( "fabrikam.test" );\n};\n' >"$WORK/policykey.conf"
printf 'policy = {\n  internal_domains = [ "contoso.test" ];\n  access_edge = {\n    outgoing_tls_count = 99;\n  };\n};\n' >"$WORK/policyval.conf"
printf 'internal = {\n  next_hops = [ "127.0.7.11:5070;transport=udp" ];\n};\n' >"$WORK/nexthop.conf"
for c in "unknown:4:internal.next_hopz" "range:5:limits.idle_timeout" "type:2:limits.max_headers" \
    "policykey:3:policy.allowed_domain" "policyval:4:policy.access_edge.outgoing_tls_count" \
    "nexthop:[0-9]*:internal.next_hops"; do
    IFS=: read -r f line key <<<"$c"
    cli "check_$f" --check-config -c "$WORK/$f.conf"
    assert_eq 1 "$CLI_RC" "--check-config on $f.conf"
    assert_log "$WORK/check_$f.out" "$WORK/$f\.conf:$line: $key: " "$f.conf: FILE:LINE: key named"
done

# --print-config is a configuration file: it parses back
cli print --print-config
assert_eq 0 "$CLI_RC" "--print-config exit status"
cp "$WORK/print.out" "$WORK/printed.conf"
assert_log "$WORK/printed.conf" 'transaction_timeout_ms = 32000' "--print-config shows the defaults"
cli check_printed --check-config -c "$WORK/printed.conf"
assert_eq 0 "$CLI_RC" "--check-config on the output of --print-config ($(tail -1 "$WORK/check_printed.out"))"

# ---- node A: one next hop, Timer B/F at 2 s --------------------------------
NODE_TXN_TIMEOUT=2000 node_conf node1 127.0.7.1 127.0.7.11:5070 "" "$POLICY"
node_start node1
NLOG=$WORK/node1.log

# OPTIONS addressed to the node: answered by it, 200 with Allow (both sides)
ep_py options <<'PY' || fail "OPTIONS: $EP_PY_MSG"
for c, ruri in ((tcp(NODE_INT, src="127.0.7.24"), "sip:127.0.7.1:5060"),
                (tls(NODE_EXT, src="127.0.7.21"), "sip:sip.contoso.test:5061;transport=tls")):
    c.send(Req("OPTIONS", ruri, c, frm="sip:ping@contoso.test"))
    m = c.expect(200, what="the node's 200 for OPTIONS " + ruri)
    allow = m.get("Allow") or ""
    for meth in ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "MESSAGE"):
        if meth not in allow:
            fail("Allow lacks %s: %r" % (meth, allow))
    if m.get("Server") != "edgepool" or "tag=" not in m.get("To"):
        fail("not the node's own answer: " + str(m))
    ok("%s: 200, Allow: %s" % (c.name, allow))
PY

# INVITE: the node's 100 Trying, then the UAS's 180 and 200 (Record-Route:
# both of the node's entries); ACK and BYE follow the route set
sipp_spawn uas_inv uas_invite.xml -t t1 -i 127.0.7.11 -p 5070 -m 1
wait_tcp 127.0.7.11 5070 || fail "INVITE UAS did not start"
ep_py invite <<'PY' || fail "INVITE: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.21")
inv = Req("INVITE", "sip:bob@contoso.test", c, body="v=0\r\n")
c.send(inv)
m = c.expect(100, 2, "100 Trying from the node")
if m.get("Server") != "edgepool":
    fail("the 100 is not the node's: " + str(m))
m = c.expect(180, 5, "the UAS's 180")
if "SIPpTag" not in m.get("To"):
    fail("180 not from the UAS: " + str(m))
ok200 = c.expect(200, 5, "the UAS's 200")
rr = ok200.values("Record-Route")
if len(rr) != 2 or "sip.contoso.test:5061" not in rr[1] or "127.0.7.1:5060" not in rr[0]:
    fail("unexpected Record-Route set %r" % rr)
c.send(in_dialog("ACK", c, inv, ok200, 1))
bye = in_dialog("BYE", c, inv, ok200, 2)
c.send(bye)
m = c.expect(200, 5, "200 for BYE")
if "BYE" not in m.get("CSeq"):
    fail("expected the BYE's 200, got " + str(m))
PY
ep_wait uas_inv 10 >/dev/null
assert_sipp uas_inv 1 0
assert_log "$WORK/uas_inv.msg" '^ACK sip:uas@127\.0\.7\.11:5070' "the UAS got the ACK of its 200"

# CANCEL of a ringing INVITE: the node answers the CANCEL 200 itself, cancels
# downstream, relays the UAS's 487 and ACKs it downstream (hop by hop); the
# caller's ACK of the 487 is absorbed
sipp_spawn uas_cancel uas_ring_cancel.xml -t t1 -i 127.0.7.11 -p 5070 -m 1
wait_tcp 127.0.7.11 5070 || fail "ringing UAS did not start"
ep_py cancel <<'PY' || fail "CANCEL: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.21")
inv = Req("INVITE", "sip:bob@contoso.test", c, body="v=0\r\n")
c.send(inv)
c.expect(100, 2, "100 Trying")
r180 = c.expect(180, 5, "180 from the ringing UAS")
c.send(inv.cancel())
m = c.expect(200, 2, "200 for the CANCEL")
if "CANCEL" not in m.get("CSeq") or m.get("Server") != "edgepool":
    fail("the 200 is not the node's answer to our CANCEL: " + str(m))
m = c.expect(487, 5, "487 Request Terminated for the INVITE")
if "INVITE" not in m.get("CSeq") or m.get("To") != r180.get("To"):
    fail("the 487 does not answer our INVITE: " + str(m))
c.send(inv.ack(m))
c.expect_nothing(1.0, "nothing more (a second final response, a stray 200)")
PY
ep_wait uas_cancel 10 >/dev/null
assert_sipp uas_cancel 1 0
assert_log "$WORK/uas_cancel.msg" '^ACK sip:bob@contoso\.test' "the node ACKed the 487 downstream"
assert_eq 1 "$(grep -c '^CANCEL sip:bob@contoso\.test' "$WORK/uas_cancel.msg")" "CANCELs reaching the UAS"

# a next hop that never answers: 408 after transaction_timeout_ms (2000 ms),
# for a MESSAGE (Timer F) and an INVITE (Timer B, after the 100)
SIPP_TIMEOUT=30 sipp_spawn uas_mute uas_swallow.xml -t t1 -i 127.0.7.11 -p 5070 -d 30000
wait_tcp 127.0.7.11 5070 || fail "mute UAS did not start"
ep_py timeout <<'PY' || fail "408: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.21")
for method in ("MESSAGE", "INVITE"):
    r = Req(method, "sip:bob@contoso.test", c, body="v=0\r\n" if method == "INVITE" else None)
    t0 = time.monotonic()
    c.send(r)
    if method == "INVITE":
        c.expect(100, 2, "100 Trying")
    m = c.expect(408, 5, "408 from the node")
    dt = time.monotonic() - t0
    ok("%s: 408 after %.3fs" % (method, dt))
    if not 1.9 <= dt <= 2.8:
        fail("%s: 408 after %.3fs, expected transaction_timeout_ms = 2.0 s (1.9-2.8)" % (method, dt))
    if method == "INVITE":
        c.send(r.ack(m))
PY
assert_eq 2 "$(grep -cE 'edge-node warn sip: (MESSAGE|INVITE) relayed to 127\.0\.7\.11:5070 timed out; answered 408' "$NLOG")" "408 log lines"
ep_stop uas_mute 5 >/dev/null
ep_stop node1
assert_eq 0 "$?" "node A exit status after SIGTERM"

# ---- node B: next hops [ dead, alive ] -------------------------------------
NODE_TXN_TIMEOUT=4000 node_conf node2 127.0.7.1 "127.0.7.12:5070,127.0.7.13:5070" "" "$POLICY"
node_start node2
NLOG=$WORK/node2.log

# the first next hop refuses connections: every request goes to the second
sipp_spawn uas_alive uas_message.xml -t t1 -i 127.0.7.13 -p 5070 -m 3
wait_tcp 127.0.7.13 5070 || fail "second next hop did not start"
ep_py failover <<'PY' || fail "failover: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.21")
for i in range(3):
    c.send(Req("MESSAGE", "sip:bob@contoso.test", c))
    m = c.expect(200, 5, "200 through the second next hop")
PY
ep_wait uas_alive 10 >/dev/null
assert_sipp uas_alive 3 0
assert_log "$NLOG" 'MESSAGE to 127\.0\.7\.12:5070 failed \(503 .*\): failing over to 127\.0\.7\.13:5070' "failover logged"
# a hop refusing connections is marked down for 2 s: later requests fail over
# at once instead of trying it again each time
assert_log "$NLOG" '127\.0\.7\.12:5070 unreachable on every address: marked down' "dead hop marked down"
assert_log "$NLOG" 'failed \(503 Next hop down' "requests skip the hop while it is down"
sleep 2.2 # until the mark expires: the next case brings that hop back

# the first next hop answers 503: the request is retried on the second
sipp_spawn uas_503 uas_503.xml -t t1 -i 127.0.7.12 -p 5070 -m 1
sipp_spawn uas_second uas_message.xml -t t1 -i 127.0.7.13 -p 5070 -m 1
wait_tcp 127.0.7.12 5070 && wait_tcp 127.0.7.13 5070 || fail "next hops did not start"
ep_py retry503 <<'PY' || fail "503 retry: $EP_PY_MSG"
c = tls(NODE_EXT, src="127.0.7.21")
c.send(Req("MESSAGE", "sip:bob@contoso.test", c))
m = c.expect(200, 5, "200 from the second next hop after the first's 503")
PY
ep_wait uas_503 10 >/dev/null
ep_wait uas_second 10 >/dev/null
assert_sipp uas_503 1 0
assert_sipp uas_second 1 0
assert_log "$NLOG" 'edge-node warn sip: 503 from internal next hop 127\.0\.7\.12:5070: failing over to 127\.0\.7\.13:5070' "503 failover logged"

# SIGHUP: the configuration is reloaded (next hop now 127.0.7.11 only) while
# the partner's TLS connection and an internal TCP connection stay up and
# keep working; a broken file is refused and the running one kept
NODE_TXN_TIMEOUT=4000 node_conf node2_hup 127.0.7.1 127.0.7.11:5070 "" "$POLICY"
printf 'node = { id = "node2"; \n limits = ;\n' >"$WORK/node2_broken.conf"
cp "$WORK/node2.conf" "$WORK/node2_orig.conf"
sipp_spawn uas_before uas_message.xml -t t1 -i 127.0.7.13 -p 5070 -m 1
sipp_spawn uas_after uas_message.xml -t t1 -i 127.0.7.11 -p 5070 -m 2
wait_tcp 127.0.7.13 5070 && wait_tcp 127.0.7.11 5070 || fail "UASes did not start"
ep_py sighup "$(ep_pid node2)" "$NLOG" "$WORK" <<'PY' || fail "SIGHUP: $EP_PY_MSG"
import shutil, signal
pid, log, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = tls(NODE_EXT, src="127.0.7.21")
i = tcp(NODE_INT, src="127.0.7.24")
def check(where):
    c.send(Req("MESSAGE", "sip:bob@contoso.test", c))
    m = c.expect(200, 5, "200 for a MESSAGE on the same TLS connection " + where)
    i.send(Req("OPTIONS", "sip:127.0.7.1:5060", i, frm="sip:ping@contoso.test"))
    i.expect(200, 5, "200 for OPTIONS on the same TCP connection " + where)
    return m
check("before SIGHUP")
shutil.copy(work + "/node2_hup.conf", work + "/node2.conf")
mark = log_mark(log)
os.kill(pid, signal.SIGHUP)
wait_log(log, r"info main: reloaded", 5, mark)
check("after SIGHUP")
shutil.copy(work + "/node2_broken.conf", work + "/node2.conf")
mark = log_mark(log)
os.kill(pid, signal.SIGHUP)
wait_log(log, r"error main: reload refused, keeping the running configuration: .*node2\.conf:[0-9]+", 5, mark)
check("after a refused SIGHUP")
shutil.copy(work + "/node2_hup.conf", work + "/node2.conf")
PY
ep_wait uas_before 10 >/dev/null
ep_wait uas_after 10 >/dev/null
assert_sipp uas_before 1 0
assert_sipp uas_after 2 0

# SIGTERM with an INVITE ringing: the listeners close at once (new connections
# refused), a new request on an open connection gets 503 + Retry-After, the
# INVITE completes (its 200 relayed), then the node exits 0 by itself
sipp_spawn uas_slow uas_invite_slow.xml -t t1 -i 127.0.7.11 -p 5070 -m 1 -d 2000
wait_tcp 127.0.7.11 5070 || fail "slow UAS did not start"
ep_py drain "$(ep_pid node2)" "$NLOG" <<'PY' || fail "SIGTERM drain: $EP_PY_MSG"
import signal, socket
pid, log = int(sys.argv[1]), sys.argv[2]
c = tls(NODE_EXT, src="127.0.7.21")
inv = Req("INVITE", "sip:bob@contoso.test", c, body="v=0\r\n")
c.send(inv)
c.expect(100, 2, "100 Trying")
c.expect(180, 5, "180 from the slow UAS")
mark = log_mark(log)
t0 = time.monotonic()
os.kill(pid, signal.SIGTERM)
wait_log(log, r"info main: draining: no new connections, 1 transaction\(s\) to finish", 3, mark)
for dst in (NODE_INT, NODE_EXT):
    try:
        s = tcp(dst, src="127.0.7.22")
        fail("a new connection to %s was accepted while draining" % dst)
    except ConnectionRefusedError:
        ok("new connection to %s refused while draining" % dst)
c.send(Req("MESSAGE", "sip:bob@contoso.test", c))
m = c.expect(503, 2, "503 for a new request while draining")
if not m.get("Retry-After"):
    fail("503 without Retry-After: " + str(m))
ok200 = c.expect(200, 5, "the INVITE's 200, relayed while draining")
ok("INVITE completed %.2fs after SIGTERM" % (time.monotonic() - t0))
try:
    c.send(in_dialog("ACK", c, inv, ok200, 1))
except OSError:
    pass
c.wait_closed(5, "the node to exit and close the connection")
PY
ep_wait node2 10
rc=$?
assert_eq 0 "$rc" "node B exit status after draining"
assert_log "$NLOG" 'info main: drained \(0 transaction\(s\) left\): exiting' "drained with nothing left"
ep_wait uas_slow 10 >/dev/null
pass
