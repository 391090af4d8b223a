# internal_pki.sh -- a second test CA, the "internal CA" of the contoso.test
# front-end pool (the one internal.tls_ca trusts; the shared test CA of
# make-certs.sh plays the public CA), and certificates it issues, all in the
# test's own directory. Sourced after common.sh.
#
#   internal_ca DIR                 DIR/ca.key + DIR/ca.crt, CN "edgepool test
#                                   internal CA", valid from now for 30 days
#   internal_leaf DIR NAME DNSNAME...  DIR/NAME.key + DIR/NAME.crt signed by
#       DIR/ca: EC P-256, CN = the first DNSNAME, every DNSNAME a SAN, EKU
#       serverAuth + clientAuth (a front end and the edge are both), 30 days,
#       a random serial (issuing NAME again replaces it with a new serial)
# Both fail the test on error (openssl's output in DIR/NAME.openssl.log).
# openssl 3.0's x509 -req cannot backdate: for processes on this host only.

internal_ca() {
    local dir=$1
    mkdir -p "$dir" || fail "internal_ca: cannot create $dir"
    {
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" &&
            openssl req -new -x509 -key "$dir/ca.key" -subj "/O=edgepool test/CN=edgepool test internal CA" \
                -days 30 -sha256 -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.crt"
    } >"$dir/ca.openssl.log" 2>&1 || { cat "$dir/ca.openssl.log" >&2; fail "internal_ca failed"; }
}

internal_leaf() {
    local dir=$1 name=$2 san="" n
    shift 2
    for n in "$@"; do san="${san:+$san, }DNS:$n"; done
    cat >"$dir/$name.ext" <<EXT
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectAltName         = $san
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EXT
    {
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key.new" &&
            openssl req -new -key "$dir/$name.key.new" -subj "/O=edgepool test/CN=$1" -out "$dir/$name.csr" &&
            openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
                -set_serial "0x$(openssl rand -hex 8)" -days 30 -sha256 \
                -extfile "$dir/$name.ext" -out "$dir/$name.crt.new" &&
            openssl verify -CAfile "$dir/ca.crt" -purpose sslclient "$dir/$name.crt.new" &&
            mv -f "$dir/$name.key.new" "$dir/$name.key" && mv -f "$dir/$name.crt.new" "$dir/$name.crt"
    } >"$dir/$name.openssl.log" 2>&1 || { cat "$dir/$name.openssl.log" >&2; fail "internal_leaf $name failed"; }
    chmod 644 "$dir/$name.key"
}
