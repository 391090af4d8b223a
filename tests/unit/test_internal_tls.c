/* test_internal_tls.c -- the internal TLS listener's pure parts: which
 * certificate, key, CA and CRL the internal side uses (internal.tls_* with the
 * tls group's as defaults), the checks of internal.tls_peers and
 * internal.tls_listen at load, the name check internal.tls_peers puts on the
 * chain verification, and the transport, host and port our Via and
 * Record-Route name on the internal leg (node/sip/leg.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn/internal_tls.h"
#include "node.h"
#include "node_config.h"
#include "sip/leg.h"
#include "tls.h"

/* the node's clock lives in its main.c, which tests do not link */
uint64_t node_now_ms(const struct node *n)
{
    return 0;
}

static char *S(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void files_default_to_the_tls_group(void **state)
{
    struct node_config c;
    memset(&c, 0, sizeof(c));
    c.tls_cert = S("/e/pool.crt");
    c.tls_key = S("/e/pool.key");
    c.tls_ca = S("/e/public-ca.crt");
    c.tls_crl = S("/e/public.crl");
    struct internal_tls_files f;
    node_config_internal_tls(&c, &f);
    assert_false(f.own);
    assert_string_equal(f.cert, "/e/pool.crt");
    assert_string_equal(f.key, "/e/pool.key");
    assert_string_equal(f.ca, "/e/public-ca.crt");
    assert_string_equal(f.crl, "/e/public.crl");

    /* an internal CA: the public CRLs do not apply to it */
    c.internal_tls_ca = S("/i/ca.crt");
    node_config_internal_tls(&c, &f);
    assert_true(f.own);
    assert_string_equal(f.ca, "/i/ca.crt");
    assert_null(f.crl);
    assert_string_equal(f.cert, "/e/pool.crt");
    c.internal_tls_crl = S("/i/ca.crl");
    node_config_internal_tls(&c, &f);
    assert_string_equal(f.crl, "/i/ca.crl");

    /* an internal certificate: the pool's key is not borrowed for it */
    c.internal_tls_cert = S("/i/edge-int.pem");
    node_config_internal_tls(&c, &f);
    assert_string_equal(f.cert, "/i/edge-int.pem");
    assert_null(f.key);
    c.internal_tls_key = S("/i/edge-int.key");
    node_config_internal_tls(&c, &f);
    assert_string_equal(f.key, "/i/edge-int.key");

    /* a key alone (same certificate file as tls.cert): counts as own */
    struct node_config d;
    memset(&d, 0, sizeof(d));
    d.tls_cert = S("/e/pool.crt");
    d.internal_tls_key = S("/i/k.key");
    node_config_internal_tls(&d, &f);
    assert_true(f.own);
    assert_string_equal(f.cert, "/e/pool.crt");
    assert_string_equal(f.key, "/i/k.key");
    assert_null(f.ca);
    node_config_free(&c);
    node_config_free(&d);
}

/* Load text as a configuration file. Returns node_config_load's result. */
static int load(const char *text, struct node_config *c, char *err, size_t errlen)
{
    char path[] = "/tmp/test_internal_tls.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int rc = node_config_load(c, path, err, errlen);
    unlink(path);
    return rc;
}

static void load_checks_the_keys(void **state)
{
    struct node_config c;
    char err[512];
    /* defaults: no listener, no peers, no internal files */
    assert_int_equal(load("internal = { listen = \"127.0.0.1:5060\"; };\n", &c, err, sizeof(err)),
                     0);
    assert_null(c.internal_tls_listen);
    assert_int_equal(c.internal_tls_peers.n, 0);
    assert_null(c.internal_tls_cert);
    node_config_free(&c);

    assert_int_equal(load("internal = { tls_listen = \"10.0.0.21:5061\"; tls_ca = \"/i/ca.crt\";\n"
                          "  tls_peers = [ \"fe1.contoso.test\", \"fe2.contoso.test\" ]; };\n",
                          &c, err, sizeof(err)),
                     0);
    assert_string_equal(c.internal_tls_listen, "10.0.0.21:5061");
    assert_int_equal(c.internal_tls_peers.n, 2);
    assert_string_equal(c.internal_tls_peers.v[1], "fe2.contoso.test");
    node_config_free(&c);

    /* a peer name that is no DNS name */
    assert_int_equal(load("internal = { tls_listen = \"10.0.0.21:5061\";\n"
                          "  tls_peers = [ \"fe 1.contoso.test\" ]; };\n",
                          &c, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "internal.tls_peers: \"fe 1.contoso.test\" is not a DNS name"));
    node_config_free(&c);
    assert_int_equal(load("internal = { tls_listen = \"10.0.0.21:5061\"; tls_peers = [ "
                          "\"*.contoso.test\" ]; };\n",
                          &c, err, sizeof(err)),
                     -1);
    node_config_free(&c);

    /* peers without a listener would judge nothing: said, not ignored */
    assert_int_equal(
        load("internal = { tls_peers = [ \"fe1.contoso.test\" ]; };\n", &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "internal.tls_peers: set, but there is no internal.tls_listen"));
    node_config_free(&c);

    /* a wrong type names the key */
    assert_int_equal(load("internal = { tls_listen = 5061; };\n", &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "internal.tls_listen"));
    node_config_free(&c);
}

static void print_config_shows_the_keys(void **state)
{
    const char *want[] = {"internal.tls_listen", "internal.tls_cert", "internal.tls_key",
                          "internal.tls_ca",     "internal.tls_crl",  "internal.tls_peers"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (const struct cfg_key *k = node_config_keys; k->path && !found; k++)
            found = strcmp(k->path, want[i]) == 0;
        assert_true(found);
    }
}

/* Verify cert (trusted as its own CA) under ctx's parameters, as the TLS
 * server verifies a front end's chain. Returns the X509_V_ code. */
static int verify_under(SSL_CTX *ctx, X509 *cert)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, cert);
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    X509_STORE_CTX_init(xs, store, cert, NULL);
    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(xs), SSL_CTX_get0_param(ctx));
    int ok = X509_verify_cert(xs);
    int e = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(xs);
    X509_STORE_CTX_free(xs);
    X509_STORE_free(store);
    return e;
}

static void tls_peers_check_the_name_in_the_chain_verification(void **state)
{
    X509 *cert;
    EVP_PKEY *key;
    char err[200];
    assert_int_equal(tls_self_signed_new("fe1.contoso.test", &cert, &key, err, sizeof(err)), 0);
    char *one[] = {"fe1.contoso.test"}, *other[] = {"fe9.contoso.test", "dir.contoso.test"},
         *wild[] = {"*.contoso.test"};
    struct cfg_strlist none = {NULL, 0}, ok = {one, 1}, no = {other, 2}, wl = {wild, 1};
    struct {
        struct cfg_strlist *peers;
        int want;
    } cases[] = {{&none, X509_V_OK},
                 {&ok, X509_V_OK},
                 {&no, X509_V_ERR_HOSTNAME_MISMATCH},
                 {&wl, X509_V_ERR_HOSTNAME_MISMATCH}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        assert_non_null(ctx);
        assert_int_equal(internal_tls_require_peers(ctx, cases[i].peers), 0);
        assert_int_equal(verify_under(ctx, cert), cases[i].want);
        SSL_CTX_free(ctx);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void internal_leg_names_the_transport_used(void **state)
{
    struct node n;
    memset(&n, 0, sizeof(n));
    snprintf(n.int_addr.host, sizeof(n.int_addr.host), "10.0.0.21");
    n.int_addr.port = 5060;
    n.cfg.internal_rr_host = "10.0.0.21";
    struct sip_leg l;

    sip_internal_leg(&n, false, &l); /* TCP: the TCP listener */
    assert_string_equal(l.via_proto, "TCP");
    assert_string_equal(l.rr_transport, "tcp");
    assert_string_equal(l.via_host, "10.0.0.21");
    assert_int_equal(l.port, 5060);

    /* a TLS next hop, no TLS listener: TLS in the Via, the TCP listener to
     * come back to (the connection is reused, RFC 5923) */
    sip_internal_leg(&n, true, &l);
    assert_string_equal(l.via_proto, "TLS");
    assert_string_equal(l.rr_transport, "tcp");
    assert_int_equal(l.port, 5060);

    /* with the TLS listener: TLS and its port, both in Via and Record-Route */
    snprintf(n.int_tls_addr.host, sizeof(n.int_tls_addr.host), "10.0.0.22");
    n.int_tls_addr.port = 5071;
    n.int_tls_rr_host = "edge-int.contoso.test";
    sip_internal_leg(&n, true, &l);
    assert_string_equal(l.via_proto, "TLS");
    assert_string_equal(l.via_host, "10.0.0.22");
    assert_string_equal(l.rr_transport, "tls");
    assert_string_equal(l.rr_host, "edge-int.contoso.test");
    assert_int_equal(l.port, 5071);
    /* and a TCP leg of the same node still names TCP */
    sip_internal_leg(&n, false, &l);
    assert_string_equal(l.via_proto, "TCP");
    assert_string_equal(l.rr_host, "10.0.0.21");
    assert_int_equal(l.port, 5060);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files_default_to_the_tls_group),
        cmocka_unit_test(load_checks_the_keys),
        cmocka_unit_test(print_config_shows_the_keys),
        cmocka_unit_test(tls_peers_check_the_name_in_the_chain_verification),
        cmocka_unit_test(internal_leg_names_the_transport_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
