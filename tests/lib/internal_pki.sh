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
# Both are deploy/pki.sh and fail the test on error (openssl's output in
# DIR/NAME.openssl.log).

internal_ca() {
    PKI_ORG="edgepool test" "$EP_ROOT/deploy/pki.sh" ca "$1" 30 "edgepool test internal CA" ||
        fail "internal_ca failed"
}

internal_leaf() {
    local dir=$1 name=$2
    shift 2
    PKI_ORG="edgepool test" "$EP_ROOT/deploy/pki.sh" leaf "$dir" "$dir" "$name" 30 "$@" ||
        fail "internal_leaf $name failed"
}
