# sipc.sh -- run a Python snippet against the node with tests/lib/sipc.py
# (raw SIP over TCP or mutual TLS from a chosen source address). Sourced after
# common.sh.
#
#   ep_py NAME [ARGS...] <<'PY'
#   c = tcp(NODE_INT, src="127.0.7.21")
#   c.send(Req("OPTIONS", "sip:127.0.7.1:5060", c))
#   c.expect(200)
#   PY
#
# The snippet runs under Debian's /usr/bin/python3 (TESTING-NOTES: a python3
# earlier on PATH may be another build) with `from sipc import *` done and
# sys.argv[1:] = ARGS; environment variables (NODE_INT, NODE_EXT, ...) pass
# values in. Output (what was sent and received) goes to $WORK/NAME.log;
# bounded by EP_PY_TIMEOUT (default 60 s). Returns the snippet's exit status
# and sets EP_PY_MSG to its last line (the "FAIL: ..." of a failed check), so:
#   ep_py case1 <<'PY' || fail "case 1: $EP_PY_MSG"
EP_PYTHON=${EP_PYTHON:-/usr/bin/python3}
EP_PY_MSG=""

ep_py() {
    local name=$1 rc
    shift
    {
        printf 'import os, sys\nsys.path.insert(0, os.environ["EP_LIB"])\nfrom sipc import *\n'
        cat
    } >"$WORK/$name.py"
    EP_LIB=$EP_LIB EP_CERTS=$EP_CERTS PYTHONDONTWRITEBYTECODE=1 timeout -k 2 "${EP_PY_TIMEOUT:-60}" \
        "$EP_PYTHON" -u "$WORK/$name.py" "$@" </dev/null >>"$WORK/$name.log" 2>&1
    rc=$?
    EP_PY_MSG=$(tail -n 1 "$WORK/$name.log")
    EP_PY_MSG=${EP_PY_MSG#FAIL: }
    if [ $rc = 0 ]; then note "py $name: ok"; else note "py $name: exit $rc: $EP_PY_MSG"; fi
    return $rc
}
