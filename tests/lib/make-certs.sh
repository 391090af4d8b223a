#!/bin/bash
# make-certs.sh OUTDIR -- the test PKI: "edgepool test CA" and every certificate
# the integration tests present (good ones for each domain, and the bad ones:
# expired, self-signed, other CA, wrong name, no clientAuth).
#
# EC P-256 keys, PEM; NAME.key / NAME.crt; EKU serverAuth+clientAuth and SAN
# dNSName (CN = first name) unless noted. Idempotent: does nothing when
# OUTDIR/ca.crt exists and is newer than this script. Safe when several tests
# call it at once (flock, files built in a temp dir then moved in, ca.crt last).
# Prints one line on success; on failure openssl's output and exit 1.
#
# Traps:
# - openssl 3.0 `x509 -req` / `req -x509` cannot backdate; every certificate
#   here is issued with `openssl ca`, which takes -startdate/-enddate. The CA
#   itself is self-signed through `openssl ca -selfsign` so it can start in
#   2020 and the expired leaf lies inside its validity (the verifier then says
#   "certificate has expired", not something about the issuer's dates).
# - Leaves start one day in the past so clock skew never makes them "not yet
#   valid".
set -u
OUT=${1:?usage: make-certs.sh OUTDIR}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)

exec 9>"$OUT/.lock"
flock -w 60 9 || { echo "make-certs: cannot lock $OUT/.lock" >&2; exit 1; }
if [ -s "$OUT/ca.crt" ] && [ "$OUT/ca.crt" -nt "$SELF" ]; then
    echo "make-certs: up to date in $OUT"
    exit 0
fi

TMP=$(mktemp -d "$OUT/.tmp.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
LOG=$TMP/openssl.log
die() {
    echo "make-certs: $*" >&2
    cat "$LOG" >&2 2>/dev/null
    exit 1
}

YESTERDAY=$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)
LEAF_END=$(date -u -d '+10 years' +%Y%m%d%H%M%SZ)

# A minimal `openssl ca` setup for one issuing CA in $TMP/DIR.
ca_init() { # DIR
    mkdir -p "$TMP/$1/new"
    : >"$TMP/$1/index.txt"
    cat >"$TMP/$1/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir             = $TMP/$1
database        = \$dir/index.txt
new_certs_dir   = \$dir/new
rand_serial     = yes
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
email_in_dn     = no
[ policy_any ]
commonName             = supplied
organizationName       = optional
organizationalUnitName = optional
[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
EOF
}

newkey() { # FILE
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" >>"$LOG" 2>&1 ||
        die "genpkey $1"
}

# make_ca DIR NAME CN: self-signed CA key+cert in $TMP/NAME.{key,crt}.
make_ca() {
    ca_init "$1"
    newkey "$TMP/$2.key"
    openssl req -new -key "$TMP/$2.key" -subj "/O=edgepool/CN=$3" -out "$TMP/$2.csr" >>"$LOG" 2>&1 ||
        die "req $2"
    openssl ca -batch -notext -preserveDN -selfsign -config "$TMP/$1/ca.cnf" -keyfile "$TMP/$2.key" \
        -in "$TMP/$2.csr" -out "$TMP/$2.crt" -extensions v3_ca \
        -startdate 20200101000000Z -enddate 20451231000000Z >>"$LOG" 2>&1 || die "ca -selfsign $2"
}

# leaf_ext FILE EKU NAME...: extension section "leaf" for a TLS end entity.
leaf_ext() {
    local f=$1 eku=$2 san="" n
    shift 2
    for n in "$@"; do san="${san:+$san, }DNS:$n"; done
    cat >"$f" <<EOF
[ leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = $eku
subjectAltName         = $san
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EOF
}

# leaf CADIR CANAME NAME START END EKU DNSNAME...: NAME.key + NAME.crt signed
# by CANAME (CANAME = NAME with CADIR of its own: self-signed), CN = DNSNAME 1.
leaf() {
    local cadir=$1 ca=$2 name=$3 start=$4 end=$5 eku=$6 cn=$7
    shift 6
    local subj="/O=edgepool test/CN=$cn" self=()
    newkey "$TMP/$name.key"
    openssl req -new -key "$TMP/$name.key" -subj "$subj" -out "$TMP/$name.csr" >>"$LOG" 2>&1 ||
        die "req $name"
    leaf_ext "$TMP/$name.ext" "$eku" "$@"
    if [ "$ca" = "$name" ]; then
        ca_init "$cadir"
        self=(-selfsign)
    else
        self=(-cert "$TMP/$ca.crt")
    fi
    openssl ca -batch -notext -preserveDN -config "$TMP/$cadir/ca.cnf" "${self[@]}" -keyfile "$TMP/$ca.key" \
        -in "$TMP/$name.csr" -out "$TMP/$name.crt" -extfile "$TMP/$name.ext" -extensions leaf \
        -startdate "$start" -enddate "$end" >>"$LOG" 2>&1 || die "ca $name"
}

BOTH=serverAuth,clientAuth
make_ca ca ca "edgepool test CA"
make_ca otherca otherca "edgepool other CA (untrusted)"
ok() { leaf ca ca "$1" "$YESTERDAY" "$LEAF_END" "$BOTH" "${@:2}"; }

ok contoso-edge sip.contoso.test edge1.contoso.test edge2.contoso.test edge3.contoso.test
ok contoso-internal fe.contoso.test
ok fabrikam-edge sip.fabrikam.test
ok northwind-edge sip.northwind.test
ok hostedim-edge sip.hostedim.test
ok wrongsan sip.evil.test
ok jabber-xmpp jabber.test
# XMPP s2s (XEP-0178: the certificate names the XMPP domain itself)
ok contoso-xmpp contoso.test
ok blocked-xmpp blocked.test
ok stranger-xmpp stranger.test
leaf otherca otherca otherca-xmpp "$YESTERDAY" "$LEAF_END" "$BOTH" badcert.test
leaf ca ca expired 20210101000000Z 20220101000000Z "$BOTH" sip.fabrikam.test
leaf selfsigned selfsigned selfsigned "$YESTERDAY" "$LEAF_END" "$BOTH" sip.fabrikam.test
leaf otherca otherca otherca-fabrikam "$YESTERDAY" "$LEAF_END" "$BOTH" sip.fabrikam.test
leaf ca ca noclientauth "$YESTERDAY" "$LEAF_END" serverAuth sip.fabrikam.test

# Self-check: the chain verdicts the tests rely on.
v() { openssl verify -CAfile "$TMP/ca.crt" "${@:2}" "$TMP/$1.crt" >>"$LOG" 2>&1; }
for n in contoso-edge contoso-internal fabrikam-edge northwind-edge hostedim-edge wrongsan jabber-xmpp \
    contoso-xmpp blocked-xmpp stranger-xmpp noclientauth; do
    v "$n" -purpose sslserver || die "$n does not verify against ca.crt"
done
v noclientauth -purpose sslclient && die "noclientauth verifies as a TLS client"
v expired && die "expired verifies"
v selfsigned && die "selfsigned verifies"
v otherca-fabrikam && die "otherca-fabrikam verifies"
v otherca-xmpp && die "otherca-xmpp verifies"

# 0644 on purpose: test keys are not secrets, and a peer that drops privileges
# (prosody, a daemon started as root then setuid) must still read them.
chmod 644 "$TMP"/*.key
for f in "$TMP"/*.key "$TMP"/*.crt; do
    b=${f##*/}
    [ "$b" = ca.crt ] || mv -f "$f" "$OUT/$b"
done
mv -f "$TMP/ca.crt" "$OUT/ca.crt"   # last: its presence means the set is complete
echo "make-certs: test CA and $(($(ls "$OUT"/*.crt | wc -l) - 2)) certificates in $OUT"
