# leaf_cert.sh -- one more certificate from the test CA, for a test that needs
# a name the shared PKI (make-certs.sh) does not carry, issued into the test's
# own directory so the shared one is never written. Sourced after common.sh;
# ep_certs first (the CA's key is $EP_CERTS/ca.key).
#
#   leaf_cert DIR NAME DNSNAME...   DIR/NAME.key + DIR/NAME.crt: EC P-256,
#       CN = the first DNSNAME, every DNSNAME a subjectAltName, EKU
#       serverAuth + clientAuth (a federation edge is both), valid from now
#       for 30 days (openssl 3.0's x509 -req cannot backdate: for processes
#       on this host only), a random serial; fails the test on error.
# Pass DIR/NAME as the CERTNAME of kamailio_partner_start (a path is taken
# as is).

leaf_cert() {
    local dir=$1 name=$2 san="" n
    shift 2
    for n in "$@"; do san="${san:+$san, }DNS:$n"; done
    mkdir -p "$dir" || fail "leaf_cert: cannot create $dir"
    cat >"$dir/$name.ext" <<EOF
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = $san
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EOF
    {
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key" &&
            openssl req -new -key "$dir/$name.key" -subj "/O=edgepool test/CN=$1" -out "$dir/$name.csr" &&
            openssl x509 -req -in "$dir/$name.csr" -CA "$EP_CERTS/ca.crt" -CAkey "$EP_CERTS/ca.key" \
                -set_serial "0x$(openssl rand -hex 8)" \
                -days 30 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt" &&
            openssl verify -CAfile "$EP_CERTS/ca.crt" -purpose sslserver "$dir/$name.crt"
    } >"$dir/$name.openssl.log" 2>&1 || { cat "$dir/$name.openssl.log" >&2; fail "leaf_cert $name failed"; }
    chmod 644 "$dir/$name.key"
}
