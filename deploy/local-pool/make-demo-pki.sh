#!/bin/bash
# make-demo-pki.sh DIR -- the demo PKI of the local pool (deploy/local-run.sh),
# made once: DIR/ca.crt (+ ca.key) "edgepool demo CA", and two certificates
# it issues (deploy/pki.sh), each NAME.crt / NAME.key (EC P-256, PEM, 10 years):
#
#   contoso-edge   the pool's: CN sip.contoso.test, SANs sip.contoso.test,
#                  node1..node9.contoso.test (each node's FQDN) and
#                  contoso.test (the XMPP domain, XEP-0178); EKU
#                  serverAuth+clientAuth (nodes are TLS servers to partners
#                  and clients toward them; the balancer's sip health check
#                  presents it too)
#   fabrikam-edge  the demo partner's: CN sip.fabrikam.test, SANs
#                  sip.fabrikam.test, fabrikam.test; serverAuth+clientAuth.
#                  Present it to the pool (deploy/local-pool/send-message.py,
#                  openssl s_client) to try federation as fabrikam.test.
#
# Idempotent: does nothing when DIR/ca.crt and both certificates exist. A
# demo, not a production CA: keys are world-readable (0644) and unencrypted.
# Prints one line; on failure openssl's output and exit 1.
set -u
OUT=${1:?usage: make-demo-pki.sh DIR}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
if [ -s "$OUT/ca.crt" ] && [ -s "$OUT/contoso-edge.crt" ] && [ -s "$OUT/fabrikam-edge.crt" ]; then
    echo "demo PKI: already in $OUT"
    exit 0
fi
TMP=$(mktemp -d "$OUT/.tmp.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
PKI=$(dirname "$0")/../pki.sh
export PKI_ORG="edgepool demo"
"$PKI" ca "$TMP" 3650 "edgepool demo CA" || exit 1
nodes=()
for i in 1 2 3 4 5 6 7 8 9; do nodes+=("node$i.contoso.test"); done
"$PKI" leaf "$TMP" "$TMP" contoso-edge 3650 sip.contoso.test "${nodes[@]}" contoso.test || exit 1
"$PKI" leaf "$TMP" "$TMP" fabrikam-edge 3650 sip.fabrikam.test fabrikam.test || exit 1

for f in contoso-edge.key contoso-edge.crt fabrikam-edge.key fabrikam-edge.crt ca.key; do
    mv -f "$TMP/$f" "$OUT/$f" || { echo "make-demo-pki: cannot move $f" >&2; exit 1; }
done
mv -f "$TMP/ca.crt" "$OUT/ca.crt" # last: its presence means the set is complete
echo "demo PKI: CA, contoso-edge (sip.contoso.test, node1..9.contoso.test), fabrikam-edge (sip.fabrikam.test) in $OUT"
