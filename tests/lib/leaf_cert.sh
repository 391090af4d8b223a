# leaf_cert.sh -- one more certificate from the test CA, for a test that needs
# a name the shared PKI (make-certs.sh) does not carry, issued into the test's
# own directory so the shared one is never written. Sourced after common.sh;
# ep_certs first (the CA's key is $EP_CERTS/ca.key).
#
#   leaf_cert DIR NAME DNSNAME...   DIR/NAME.key + DIR/NAME.crt (deploy/pki.sh
#       leaf: EC P-256, CN = the first DNSNAME, every DNSNAME a SAN, EKU
#       serverAuth + clientAuth), valid from now for 30 days; fails the test
#       on error.
# Pass DIR/NAME as the CERTNAME of kamailio_partner_start (a path is taken
# as is).

leaf_cert() {
    local dir=$1 name=$2
    shift 2
    PKI_ORG="edgepool test" "$EP_ROOT/deploy/pki.sh" leaf "$EP_CERTS" "$dir" "$name" 30 "$@" ||
        fail "leaf_cert $name failed"
}
