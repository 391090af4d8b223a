#!/bin/bash
# make-demo-pki.sh DIR -- the demo PKI of the local pool (deploy/local-run.sh),
# made once: DIR/ca.crt (+ ca.key) "edgepool demo CA", and two certificates
# it issues, each NAME.crt / NAME.key (EC P-256, PEM, 10 years):
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
LOG=$TMP/openssl.log
die() {
    echo "make-demo-pki: $*" >&2
    cat "$LOG" >&2 2>/dev/null
    exit 1
}
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" >>"$LOG" 2>&1 || die "genpkey $1"; }

newkey "$TMP/ca.key"
openssl req -new -x509 -key "$TMP/ca.key" -subj "/O=edgepool demo/CN=edgepool demo CA" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$TMP/ca.crt" >>"$LOG" 2>&1 || die "CA certificate"

leaf() { # NAME CN SAN...
    local name=$1 cn=$2 san="" n
    shift 2
    for n in "$@"; do san="${san:+$san, }DNS:$n"; done
    cat >"$TMP/$name.ext" <<EXT
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = $san
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EXT
    newkey "$TMP/$name.key"
    openssl req -new -key "$TMP/$name.key" -subj "/O=edgepool demo/CN=$cn" -out "$TMP/$name.csr" >>"$LOG" 2>&1 ||
        die "request $name"
    openssl x509 -req -in "$TMP/$name.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$TMP/$name.ext" -out "$TMP/$name.crt" >>"$LOG" 2>&1 || die "sign $name"
    openssl verify -CAfile "$TMP/ca.crt" -purpose sslserver "$TMP/$name.crt" >>"$LOG" 2>&1 ||
        die "$name does not verify as a TLS server"
    openssl verify -CAfile "$TMP/ca.crt" -purpose sslclient "$TMP/$name.crt" >>"$LOG" 2>&1 ||
        die "$name does not verify as a TLS client"
}
nodes=()
for i in 1 2 3 4 5 6 7 8 9; do nodes+=("node$i.contoso.test"); done
leaf contoso-edge sip.contoso.test sip.contoso.test "${nodes[@]}" contoso.test
leaf fabrikam-edge sip.fabrikam.test sip.fabrikam.test fabrikam.test

chmod 644 "$TMP"/*.key && chmod 600 "$TMP/ca.key"
for f in contoso-edge.key contoso-edge.crt fabrikam-edge.key fabrikam-edge.crt ca.key; do
    mv -f "$TMP/$f" "$OUT/$f" || die "cannot move $f"
done
mv -f "$TMP/ca.crt" "$OUT/ca.crt" # last: its presence means the set is complete
echo "demo PKI: CA, contoso-edge (sip.contoso.test, node1..9.contoso.test), fabrikam-edge (sip.fabrikam.test) in $OUT"
