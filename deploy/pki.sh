#!/bin/bash
# pki.sh -- a small CA for labs, demos and tests (not for a production site:
# there, the pool certificate comes from a CA the partners trust; see
# deploy/SITE.md). Every key is EC P-256, every certificate SHA-256.
#
#   pki.sh ca DIR DAYS CN
#       DIR/ca.key (0600) + DIR/ca.crt: a self-signed CA named CN
#       (basicConstraints CA:TRUE, keyUsage keyCertSign+cRLSign)
#   pki.sh leaf CA_DIR OUT_DIR NAME DAYS DNSNAME...
#       OUT_DIR/NAME.key (0644: read by test processes of other users) +
#       OUT_DIR/NAME.crt issued by CA_DIR/ca: CN = the first DNSNAME, every
#       DNSNAME a subjectAltName, EKU serverAuth + clientAuth (an edge is a
#       TLS server to partners and a client toward them), a random serial;
#       checked with openssl verify for both purposes; an existing pair is
#       replaced only once the new one verifies
#
# PKI_ORG (default "edgepool") is the subjects' O. Starts "now": openssl
# 3.0's x509 -req cannot backdate. On failure: openssl's output, exit 1.
set -u
ORG=${PKI_ORG:-edgepool}
die() {
    echo "pki.sh: $*" >&2
    [ -n "${LOG:-}" ] && cat "$LOG" >&2 2>/dev/null
    exit 1
}
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" >>"$LOG" 2>&1; }

case "${1:-}" in
ca)
    [ $# = 4 ] || die "usage: pki.sh ca DIR DAYS CN"
    dir=$2 days=$3 cn=$4
    mkdir -p "$dir" || die "cannot create $dir"
    LOG=$dir/ca.openssl.log
    : >"$LOG"
    newkey "$dir/ca.key" &&
        openssl req -new -x509 -key "$dir/ca.key" -subj "/O=$ORG/CN=$cn" -days "$days" -sha256 \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$dir/ca.crt" >>"$LOG" 2>&1 || die "the CA in $dir"
    chmod 600 "$dir/ca.key"
    ;;
leaf)
    [ $# -ge 6 ] || die "usage: pki.sh leaf CA_DIR OUT_DIR NAME DAYS DNSNAME..."
    ca=$2 out=$3 name=$4 days=$5
    shift 5
    san="" cn=$1
    for n in "$@"; do san="${san:+$san, }DNS:$n"; done
    mkdir -p "$out" || die "cannot create $out"
    LOG=$out/$name.openssl.log
    : >"$LOG"
    cat >"$out/$name.ext" <<EXT
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = $san
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EXT
    newkey "$out/$name.key.new" &&
        openssl req -new -key "$out/$name.key.new" -subj "/O=$ORG/CN=$cn" -out "$out/$name.csr" >>"$LOG" 2>&1 &&
        openssl x509 -req -in "$out/$name.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days "$days" -sha256 -extfile "$out/$name.ext" \
            -out "$out/$name.crt.new" >>"$LOG" 2>&1 &&
        openssl verify -CAfile "$ca/ca.crt" -purpose sslserver "$out/$name.crt.new" >>"$LOG" 2>&1 &&
        openssl verify -CAfile "$ca/ca.crt" -purpose sslclient "$out/$name.crt.new" >>"$LOG" 2>&1 ||
        die "certificate $name ($*) from $ca"
    chmod 644 "$out/$name.key.new"
    mv -f "$out/$name.key.new" "$out/$name.key" && mv -f "$out/$name.crt.new" "$out/$name.crt" ||
        die "cannot move $name into $out"
    rm -f "$out/$name.csr"
    ;;
*)
    die "usage: pki.sh ca DIR DAYS CN | pki.sh leaf CA_DIR OUT_DIR NAME DAYS DNSNAME..."
    ;;
esac
