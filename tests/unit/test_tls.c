/* test_tls.c -- shared/tls.c and shared/tls_names.c: name matching, SAN/CN
 * reading, EKU detection, self-signed generation, context errors, and real
 * mutual-TLS handshakes (over a socketpair, TLS 1.2 and 1.3) against good and
 * bad peers, each refused with the reason an operator will read in the log.
 * The test mints its own PKI (two CAs, leaves, a CRL) in a temporary dir. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

/* ---------- a small PKI, minted once for the whole run ---------- */

static char tmpdir[64] = "/tmp/test_tls.XXXXXX";

static void pathof(char *buf, size_t len, const char *name, const char *ext)
{
    snprintf(buf, len, "%s/%s.%s", tmpdir, name, ext);
}

struct ent {
    X509 *cert;
    EVP_PKEY *key;
};

static struct ent ca1, ca2;

#define REVOKED_SERIAL 666

/* A certificate for key: CA or leaf, valid from from_days to to_days
 * (relative to now), signed by issuer (NULL: self-signed). san and eku are
 * OpenSSL config strings ("DNS:a,DNS:b", "serverAuth,clientAuth") or NULL for
 * no such extension. */
static X509 *mint(const char *cn, const char *san, const char *eku, EVP_PKEY *key,
                  const struct ent *issuer, long from_days, long to_days, bool ca, long serial)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_true(X509_set_version(x, X509_VERSION_3));
    assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400));
    X509_NAME *subject = X509_get_subject_name(x);
    if (cn)
        assert_true(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                               (const unsigned char *)cn, -1, -1, 0));
    assert_true(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : subject));
    assert_true(X509_set_pubkey(x, key));

    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer->cert : x, x, NULL, NULL, 0);
    struct {
        int nid;
        const char *value;
    } exts[] = {
        {NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
        {NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, issuer ? "keyid" : NULL},
        {NID_ext_key_usage, eku},
        {NID_subject_alt_name, san},
    };
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (!exts[i].value)
            continue;
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
        assert_non_null(e);
        assert_true(X509_add_ext(x, e, -1));
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer ? issuer->key : key, EVP_sha256()) > 0);
    return x;
}

static void write_cert(const char *name, X509 *cert)
{
    char path[128];
    pathof(path, sizeof(path), name, "crt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(PEM_write_X509(f, cert));
    fclose(f);
}

static void write_key(const char *name, EVP_PKEY *key, const char *password)
{
    char path[128];
    pathof(path, sizeof(path), name, "key");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (password)
        assert_true(
            PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(), NULL, 0, NULL, (void *)password));
    else
        assert_true(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    fclose(f);
}

/* A leaf with its own key, written as NAME.crt / NAME.key. */
static void leaf(const char *name, const char *cn, const char *san, const char *eku,
                 const struct ent *issuer, long from_days, long to_days, long serial)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *cert = mint(cn, san, eku, key, issuer, from_days, to_days, false, serial);
    write_cert(name, cert);
    write_key(name, key, NULL);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void make_ca(struct ent *ca, const char *name, const char *cn)
{
    ca->key = EVP_EC_gen("P-256");
    assert_non_null(ca->key);
    ca->cert = mint(cn, NULL, NULL, ca->key, NULL, -1, 3650, true, 1);
    write_cert(name, ca->cert);
}

static void make_crl(const char *name, const struct ent *ca, long revoked_serial)
{
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    assert_true(X509_CRL_set_version(crl, 1));
    assert_true(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)));
    ASN1_TIME *t = X509_gmtime_adj(NULL, -3600);
    assert_true(X509_CRL_set1_lastUpdate(crl, t));
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    assert_true(ASN1_INTEGER_set(sn, revoked_serial));
    assert_true(X509_REVOKED_set_serialNumber(r, sn));
    assert_true(X509_REVOKED_set_revocationDate(r, t));
    assert_true(X509_CRL_add0_revoked(crl, r));
    assert_non_null(X509_gmtime_adj(t, 7 * 86400));
    assert_true(X509_CRL_set1_nextUpdate(crl, t));
    assert_true(X509_CRL_sort(crl));
    assert_true(X509_CRL_sign(crl, ca->key, EVP_sha256()) > 0);
    char path[128];
    pathof(path, sizeof(path), name, "crl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(PEM_write_X509_CRL(f, crl));
    fclose(f);
    ASN1_INTEGER_free(sn);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
}

static const char *const pki_files[] = {
    "ca1.crt",
    "ca2.crt",
    "ca1.crl",
    "garbage.crt",
    "log.txt",
#define LEAF(n) n ".crt", n ".key"
    LEAF("server"),
    LEAF("good"),
    LEAF("expired"),
    LEAF("otherca"),
    LEAF("noclientauth"),
    LEAF("noeku"),
    LEAF("revoked"),
    LEAF("srv_clientonly"),
    LEAF("encrypted"),
#undef LEAF
};

static int pki_setup(void **state)
{
    assert_non_null(mkdtemp(tmpdir));
    make_ca(&ca1, "ca1", "edgepool test root CA 1");
    make_ca(&ca2, "ca2", "edgepool test root CA 2");
    const char *both = "serverAuth,clientAuth";
    leaf("server", "edge.contoso.test", "DNS:edge.contoso.test", both, &ca1, -1, 365, 10);
    leaf("good", "sip.fabrikam.test", "DNS:sip.fabrikam.test,DNS:edge.fabrikam.test", both, &ca1,
         -1, 365, 11);
    leaf("expired", "sip.expired.test", "DNS:sip.expired.test", both, &ca1, -30, -1, 12);
    leaf("otherca", "sip.otherca.test", "DNS:sip.otherca.test", both, &ca2, -1, 365, 13);
    leaf("noclientauth", "sip.serveronly.test", "DNS:sip.serveronly.test", "serverAuth", &ca1, -1,
         365, 14);
    leaf("noeku", "sip.noeku.test", "DNS:sip.noeku.test", NULL, &ca1, -1, 365, 15);
    leaf("revoked", "sip.revoked.test", "DNS:sip.revoked.test", both, &ca1, -1, 365,
         REVOKED_SERIAL);
    leaf("srv_clientonly", "edge.clientonly.test", "DNS:edge.clientonly.test", "clientAuth", &ca1,
         -1, 365, 16);
    make_crl("ca1", &ca1, REVOKED_SERIAL);

    /* good's key, encrypted: a daemon must refuse it, not prompt. */
    char path[128];
    pathof(path, sizeof(path), "good", "key");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    write_key("encrypted", k, "secret");
    EVP_PKEY_free(k);
    pathof(path, sizeof(path), "good", "crt");
    char enc[128];
    pathof(enc, sizeof(enc), "encrypted", "crt");
    assert_int_equal(link(path, enc), 0);

    pathof(path, sizeof(path), "garbage", "crt");
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a certificate\n", f);
    fclose(f);
    return 0;
}

static int pki_teardown(void **state)
{
    char path[128];
    for (size_t i = 0; i < sizeof(pki_files) / sizeof(pki_files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, pki_files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    X509_free(ca1.cert);
    EVP_PKEY_free(ca1.key);
    X509_free(ca2.cert);
    EVP_PKEY_free(ca2.key);
    return 0;
}

/* ---------- capturing what the module logs (stderr) ---------- */

static int saved_stderr = -1;

static void capture_start(void)
{
    char path[128];
    pathof(path, sizeof(path), "log", "txt");
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved_stderr >= 0);
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr, echoes what was logged, returns it (caller frees). */
static char *capture_end(void)
{
    char path[128];
    pathof(path, sizeof(path), "log", "txt");
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 16384);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 16383, f);
    buf[n] = '\0';
    fclose(f);
    fputs(buf, stderr);
    return buf;
}

/* ---------- name matching ---------- */

static void test_name_matches_table(void **state)
{
    static const struct {
        const char *pattern, *host;
        bool wildcard, want;
    } cases[] = {
        {"sip.contoso.com", "sip.contoso.com", false, true},
        {"sip.contoso.com", "SIP.Contoso.COM", false, true},
        {"SIP.CONTOSO.COM", "sip.contoso.com", false, true},
        {"sip.contoso.com", "sip.contoso.com.", false, true}, /* trailing dot on host */
        {"sip.contoso.com.", "sip.contoso.com", false, true}, /* ... or in the cert */
        {"sip.contoso.com", "sip.contoso.com..", false, false},
        {"sip.contoso.com", "sip.contoso.co", false, false},
        {"sip.contoso.com", "sip.contoso.com.evil.test", false, false},
        {"sip.contoso.com", "xsip.contoso.com", false, false},
        {"sip.contoso.com", "contoso.com", false, false},
        {"*.contoso.com", "a.contoso.com", true, true},
        {"*.contoso.com", "A.CONTOSO.com.", true, true},
        {"*.contoso.com.", "a.contoso.com", true, true},
        {"*.contoso.com", "a.contoso.com", false, false},  /* RFC 5922: no wildcards */
        {"*.contoso.com", "contoso.com", true, false},     /* one label, not zero */
        {"*.contoso.com", "a.b.contoso.com", true, false}, /* ... not two */
        {"*.contoso.com", ".contoso.com", true, false},
        {"*.contoso.com", "*.contoso.com", true, false},    /* a host is never a pattern */
        {"f*.contoso.com", "foo.contoso.com", true, false}, /* no partial wildcards */
        {"*o.contoso.com", "foo.contoso.com", true, false},
        {"f*o.contoso.com", "foo.contoso.com", true, false},
        {"a.*.contoso.com", "a.b.contoso.com", true, false}, /* left-most label only */
        {"*.*.contoso.com", "a.b.contoso.com", true, false},
        {"*.com", "contoso.com", true, false}, /* not a whole TLD */
        {"*", "contoso", true, false},
        {"*.", "a.", true, false},
        {"*.0.0.1", "127.0.0.1", true, false}, /* not over IPv4 literals */
        {"xn--bcher-kva.example", "xn--bcher-kva.example", false, true},
        {"xn--bcher-kva.example", "XN--BCHER-KVA.example", false, true},
        {"xn--bcher-kva.example",
         "b\xc3\xbc"
         "cher.example",
         false, false},
        {"b\xc3\xbc"
         "cher.example",
         "b\xc3\xbc"
         "cher.example",
         false, false}, /* raw UTF-8 */
        {"b\xfc"
         "cher.example",
         "B\xdc"
         "cher.example",
         false, false}, /* Latin-1 */
        {"sip.contoso.com", "sip contoso.com", false, false},
        {"sip.contoso.com", "sip.contoso.com ", false, false},
        {"sip.contoso.com", "sip.contoso.com/", false, false},
        {"sip.contoso.com", "sip.contoso.com:5061", false, false},
        {"sip.con\ttoso.com", "sip.con\ttoso.com", false, false},
        {"a..b", "a..b", false, false},
        {"", "sip.contoso.com", false, false},
        {"sip.contoso.com", "", false, false},
        {"", "", true, false},
        {".", ".", true, false},
        {"*.", ".", true, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = tls_name_matches(cases[i].pattern, slice_cstr(cases[i].host), cases[i].wildcard);
        if (got != cases[i].want)
            fail_msg("tls_name_matches(\"%s\", \"%s\", %d) = %d, want %d", cases[i].pattern,
                     cases[i].host, cases[i].wildcard, got, cases[i].want);
    }

    /* Slices: the host need not be NUL-terminated, and an embedded NUL
     * ends nothing. */
    const char *buf = "sip.contoso.com:5061";
    assert_true(tls_name_matches("sip.contoso.com", slice_from(buf, 15), false));
    assert_false(tls_name_matches("sip.contoso.com", slice_from(buf, 14), false));
    assert_false(
        tls_name_matches("sip.contoso.com", slice_from("sip.contoso.com\0.evil.test", 26), false));
    assert_false(tls_name_matches(NULL, SLICE_LIT("sip.contoso.com"), false));
    assert_false(tls_name_matches("sip.contoso.com", SLICE_NULL, false));

    /* Length limits: 63-byte labels, 253-byte names. */
    char label[80], name[300];
    memset(label, 'a', 64);
    strcpy(label + 64, ".test");
    assert_false(tls_name_matches(label, slice_cstr(label), false));
    strcpy(label + 63, ".test");
    assert_true(tls_name_matches(label, slice_cstr(label), false));
    memset(name, 'a', sizeof(name));
    for (size_t i = 50; i < 260; i += 51)
        name[i] = '.';
    name[254] = '\0';
    assert_false(tls_name_valid(slice_cstr(name)));
    name[253] = '\0';
    assert_true(tls_name_valid(slice_cstr(name)));
}

/* ---------- names from certificates: SAN first, CN only without SAN names ---------- */

static X509 *cert_with(const char *cn, const char *san)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = mint(cn, san, NULL, key, &ca1, -1, 30, false, 99);
    EVP_PKEY_free(key);
    return x;
}

static void expect_names(X509 *x, int max, int n, const char *const *want)
{
    char names[8][256];
    int got = tls_peer_names(x, names, max);
    assert_int_equal(got, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(names[i], want[i]);
}

static void test_peer_names_san_vs_cn(void **state)
{
    X509 *x = cert_with("cn.fabrikam.test", "DNS:sip.fabrikam.test,DNS:EDGE.fabrikam.test");
    expect_names(x, 8, 2, (const char *[]){"sip.fabrikam.test", "EDGE.fabrikam.test"});
    expect_names(x, 1, 1, (const char *[]){"sip.fabrikam.test"});
    expect_names(x, 0, 0, NULL);
    assert_true(tls_cert_matches(x, SLICE_LIT("edge.fabrikam.test"), false));
    assert_false(tls_cert_matches(x, SLICE_LIT("cn.fabrikam.test"), false)); /* CN ignored */
    X509_free(x);

    x = cert_with("sip.fabrikam.test", NULL); /* no SAN at all: the CN */
    expect_names(x, 8, 1, (const char *[]){"sip.fabrikam.test"});
    assert_true(tls_cert_matches(x, SLICE_LIT("sip.fabrikam.test"), false));
    X509_free(x);

    x = cert_with("sip.fabrikam.test", "IP:192.0.2.1,email:a@fabrikam.test"); /* no dNSName */
    expect_names(x, 8, 1, (const char *[]){"sip.fabrikam.test"});
    X509_free(x);

    /* RFC 5922 7.1: sip: URIs without a user part name a domain. */
    x = cert_with("cn.fabrikam.test", "URI:sip:fabrikam.test;transport=tls,URI:sip:alice@"
                                      "fabrikam.test,URI:https://www.fabrikam.test/");
    expect_names(x, 8, 1, (const char *[]){"fabrikam.test"});
    assert_true(tls_cert_matches(x, SLICE_LIT("fabrikam.test"), false));
    assert_false(tls_cert_matches(x, SLICE_LIT("cn.fabrikam.test"), false));
    X509_free(x);

    x = cert_with("x.fabrikam.test", "DNS:*.fabrikam.test");
    assert_true(tls_cert_matches(x, SLICE_LIT("edge.fabrikam.test"), true));
    assert_false(tls_cert_matches(x, SLICE_LIT("edge.fabrikam.test"), false));
    assert_false(tls_cert_matches(x, SLICE_LIT("x.fabrikam.test"), false));
    X509_free(x);

    /* No subject at all, no SAN: no names. */
    x = cert_with(NULL, NULL);
    expect_names(x, 8, 0, NULL);
    assert_false(tls_cert_matches(x, SLICE_LIT("sip.fabrikam.test"), false));
    X509_free(x);
    assert_int_equal(tls_peer_names(NULL, NULL, 4), 0);
    assert_false(tls_cert_matches(NULL, SLICE_LIT("a.test"), false));
}

static void test_peer_names_rejects_nul_and_picks_last_cn(void **state)
{
    /* "good.test\0.evil.test" as a dNSName must not pass as good.test; being
     * a dNSName, it still keeps the CN out. */
    X509 *x = cert_with("good.test", NULL);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    assert_true(ASN1_STRING_set(ia5, "good.test\0.evil.test", 20));
    GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
    assert_true(sk_GENERAL_NAME_push(gens, gen));
    assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT), 1);
    GENERAL_NAMES_free(gens);
    expect_names(x, 8, 0, NULL);
    assert_false(tls_cert_matches(x, SLICE_LIT("good.test"), false));
    X509_free(x);

    /* Several CNs: the last, most specific one. */
    x = cert_with("first.fabrikam.test", NULL);
    assert_true(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                           (const unsigned char *)"last.fabrikam.test", -1, -1, 0));
    expect_names(x, 8, 1, (const char *[]){"last.fabrikam.test"});
    X509_free(x);
}

/* ---------- EKU ---------- */

static void test_eku(void **state)
{
    static const struct {
        const char *eku;
        bool client, server;
    } cases[] = {
        {"serverAuth,clientAuth", true, true},
        {"clientAuth", true, false},
        {"serverAuth", false, true},
        {NULL, true, true}, /* no EKU extension: any purpose */
        {"anyExtendedKeyUsage", false, false},
        {"codeSigning", false, false},
    };
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = mint("eku.test", NULL, cases[i].eku, key, &ca1, -1, 30, false, 50);
        if (tls_cert_has_eku(x, NID_client_auth) != cases[i].client ||
            tls_cert_has_eku(x, NID_server_auth) != cases[i].server)
            fail_msg("EKU %s: clientAuth %d serverAuth %d", cases[i].eku ? cases[i].eku : "none",
                     tls_cert_has_eku(x, NID_client_auth), tls_cert_has_eku(x, NID_server_auth));
        X509_free(x);
    }

    /* Two EKU extensions: ambiguous, so nothing is allowed. */
    X509 *x = mint("eku.test", NULL, "clientAuth", key, &ca1, -1, 30, false, 51);
    X509_EXTENSION *dup = X509_get_ext(x, X509_get_ext_by_NID(x, NID_ext_key_usage, -1));
    assert_true(X509_add_ext(x, dup, -1));
    assert_false(tls_cert_has_eku(x, NID_client_auth));
    X509_free(x);
    EVP_PKEY_free(key);
    assert_false(tls_cert_has_eku(NULL, NID_client_auth));
}

/* ---------- self-signed generation ---------- */

static void test_self_signed_new(void **state)
{
    X509 *x;
    EVP_PKEY *k;
    char err[256];
    assert_int_equal(tls_self_signed_new("sip.contoso.test", &x, &k, err, sizeof(err)), 0);

    char group[64];
    size_t glen;
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    assert_true(EVP_PKEY_get_group_name(k, group, sizeof(group), &glen));
    assert_string_equal(group, "prime256v1");
    assert_int_equal(X509_check_private_key(x, k), 1);

    int days, secs;
    assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
    assert_int_equal(days, 365);
    assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);

    expect_names(x, 8, 1, (const char *[]){"sip.contoso.test"});
    assert_true(tls_cert_has_eku(x, NID_client_auth));
    assert_true(tls_cert_has_eku(x, NID_server_auth));
    assert_int_equal(X509_check_ca(x), 0);
    assert_int_equal(X509_self_signed(x, 1), 1);
    X509_free(x);
    EVP_PKEY_free(k);

    assert_int_equal(tls_self_signed_new("not a name", &x, &k, err, sizeof(err)), -1);
    assert_null(x);
    assert_null(k);
    assert_non_null(strstr(err, "not a name"));
    assert_int_equal(tls_self_signed_new("*.contoso.test", &x, &k, err, sizeof(err)), -1);
    assert_int_equal(tls_self_signed_new(NULL, &x, &k, err, sizeof(err)), -1);

    /* Long names still work: the CN is skipped past 64 bytes, the SAN is not. */
    const char *long_name = "a-rather-long-node-name-for-a-pool.edge.datacenter-west-europe-3."
                            "contoso.test";
    assert_int_equal(tls_self_signed_new(long_name, &x, &k, err, sizeof(err)), 0);
    expect_names(x, 8, 1, (const char *[]){long_name});
    X509_free(x);
    EVP_PKEY_free(k);
}

static void test_ctx_generates_self_signed_with_warning(void **state)
{
    struct tls_settings s;
    tls_settings_init(&s);
    s.self_signed_name = "sip.contoso.test";
    char err[256];
    capture_start();
    SSL_CTX *ctx = tls_server_ctx_new(&s, err, sizeof(err));
    char *log = capture_end();
    assert_non_null(ctx);
    assert_non_null(strstr(log, "no certificate configured: using a generated self-signed "
                                "certificate for sip.contoso.test; partners will refuse it"));
    assert_null(strstr(log, "lacks")); /* it carries both EKUs */
    free(log);
    expect_names(SSL_CTX_get0_certificate(ctx), 8, 1, (const char *[]){"sip.contoso.test"});
    SSL_CTX_free(ctx);

    s.self_signed_name = NULL;
    assert_null(tls_server_ctx_new(&s, err, sizeof(err)));
    assert_non_null(strstr(err, "self_signed_name"));
}

/* ---------- context errors name the file ---------- */

static void settings_for(struct tls_settings *s, const char *cert, const char *key,
                         char (*paths)[128])
{
    tls_settings_init(s);
    pathof(paths[0], 128, cert, "crt");
    pathof(paths[1], 128, key ? key : cert, "key");
    pathof(paths[2], 128, "ca1", "crt");
    s->cert_file = paths[0];
    s->key_file = paths[1];
    s->ca_file = paths[2];
}

static void expect_ctx_error(const struct tls_settings *s, bool server, const char *want1,
                             const char *want2)
{
    char err[512] = "";
    SSL_CTX *ctx =
        server ? tls_server_ctx_new(s, err, sizeof(err)) : tls_client_ctx_new(s, err, sizeof(err));
    if (ctx) {
        SSL_CTX_free(ctx);
        fail_msg("context created, expected an error with \"%s\"", want1);
    }
    print_message("err: %s\n", err);
    assert_non_null(strstr(err, want1));
    if (want2)
        assert_non_null(strstr(err, want2));
    assert_int_equal(ERR_peek_error(), 0); /* nothing left for the next caller */
}

static void test_ctx_errors(void **state)
{
    struct tls_settings s;
    char paths[4][128];

    settings_for(&s, "server", NULL, paths);
    s.cert_file = "/nonexistent/edge.crt";
    expect_ctx_error(&s, true, "/nonexistent/edge.crt", "No such file");

    settings_for(&s, "server", NULL, paths);
    s.key_file = "/nonexistent/edge.key";
    expect_ctx_error(&s, false, "/nonexistent/edge.key", NULL);

    settings_for(&s, "server", "good", paths); /* someone else's key */
    expect_ctx_error(&s, true, "does not match", paths[1]);

    settings_for(&s, "garbage", "server", paths);
    expect_ctx_error(&s, true, paths[0], NULL);

    settings_for(&s, "encrypted", NULL, paths);
    expect_ctx_error(&s, true, paths[1], "encrypted");

    settings_for(&s, "server", NULL, paths);
    s.ca_file = "/nonexistent/ca.pem";
    expect_ctx_error(&s, true, "/nonexistent/ca.pem", NULL);

    settings_for(&s, "server", NULL, paths);
    s.ca_file = paths[0]; /* a readable file, but s.crl_file holds no CRL */
    s.crl_file = paths[0];
    expect_ctx_error(&s, true, "CRL file", paths[0]);

    settings_for(&s, "server", NULL, paths);
    s.ciphers = "NO-SUCH-CIPHER";
    expect_ctx_error(&s, true, "NO-SUCH-CIPHER", NULL);

    expect_ctx_error(NULL, true, "no TLS settings", NULL);

    /* Our cert without clientAuth loads, with a warning. */
    settings_for(&s, "noclientauth", NULL, paths);
    char err[256];
    capture_start();
    SSL_CTX *ctx = tls_client_ctx_new(&s, err, sizeof(err));
    char *log = capture_end();
    assert_non_null(ctx);
    assert_non_null(strstr(log, "lacks the clientAuth EKU"));
    free(log);
    SSL_CTX_free(ctx);
}

/* ---------- handshakes ---------- */

enum side_result { HS_PENDING, HS_OK, HS_FAILED };

struct hs {
    enum side_result server, client;
    char server_reason[200], client_reason[200];
    char server_saw[4][256], client_saw[4][256]; /* peer names each side read */
    int server_saw_n, client_saw_n;
    bool client_name_ok;
};

static void step(SSL *ssl, enum side_result *r)
{
    int ret = SSL_do_handshake(ssl);
    if (ret == 1) {
        *r = HS_OK;
        return;
    }
    int e = SSL_get_error(ssl, ret);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        *r = HS_FAILED;
}

/* Reads one "ping", pumping until it arrives or the connection fails (which
 * is how a TLS 1.3 client reads the alert of a server that refused it). */
static bool read_ping(SSL *to)
{
    char buf[8];
    for (int i = 0; i < 50; i++) {
        int n = SSL_read(to, buf, sizeof(buf));
        if (n == 4)
            return memcmp(buf, "ping", 4) == 0;
        int e = SSL_get_error(to, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return false;
        usleep(1000);
    }
    return false;
}

static bool exchange(SSL *from, SSL *to)
{
    return SSL_write(from, "ping", 4) == 4 && read_ping(to);
}

/* A full handshake between sctx and cctx over a socketpair, at most TLS
 * version max_version, then a ping each way (in TLS 1.3 a client learns
 * that the server refused its certificate only when it next reads). */
static bool use_tcp; /* loopback TCP instead of a socketpair */

/* sv[0] the server's end, sv[1] the client's. */
static void connected_pair(int sv[2])
{
    if (!use_tcp) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        return;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
    sv[1] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(sv[1], (struct sockaddr *)&sin, sizeof(sin)), 0);
    sv[0] = accept(l, NULL, NULL);
    assert_true(sv[0] >= 0);
    close(l);
}

static void handshake(SSL_CTX *sctx, SSL_CTX *cctx, int max_version, struct hs *r)
{
    memset(r, 0, sizeof(*r));
    int sv[2];
    connected_pair(sv);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(sv[i], F_SETFL, O_NONBLOCK), 0);
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    assert_true(s && c);
    assert_true(SSL_set_fd(s, sv[0]) && SSL_set_fd(c, sv[1]));
    assert_true(SSL_set_max_proto_version(c, max_version));
    assert_true(SSL_set_tlsext_host_name(c, "edge.contoso.test"));
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);

    for (int i = 0; i < 100 && (r->server == HS_PENDING || r->client == HS_PENDING); i++) {
        if (r->client == HS_PENDING)
            step(c, &r->client);
        if (r->server == HS_PENDING)
            step(s, &r->server);
        if (r->server == HS_FAILED && r->client == HS_OK)
            break;
        usleep(100); /* loopback TCP may take a moment */
    }
    if (r->client == HS_OK && r->server == HS_OK) {
        if (!exchange(c, s))
            r->server = HS_FAILED;
        if (!exchange(s, c))
            r->client = HS_FAILED;
    } else if (r->client == HS_OK && !read_ping(c)) {
        r->client = HS_FAILED; /* reads the server's alert */
    }
    if (r->client == HS_OK)
        assert_int_equal(SSL_version(c), max_version);

    snprintf(r->server_reason, sizeof(r->server_reason), "%s", tls_verify_reason(s));
    snprintf(r->client_reason, sizeof(r->client_reason), "%s", tls_verify_reason(c));
    X509 *pc = SSL_get0_peer_certificate(s);
    r->server_saw_n = pc ? tls_peer_names(pc, r->server_saw, 4) : 0;
    X509 *ps = SSL_get0_peer_certificate(c);
    r->client_saw_n = ps ? tls_peer_names(ps, r->client_saw, 4) : 0;
    r->client_name_ok = ps && tls_cert_matches(ps, SLICE_LIT("edge.contoso.test"), false);

    SSL_free(s);
    SSL_free(c);
    close(sv[0]);
    close(sv[1]);
    ERR_clear_error();
}

static SSL_CTX *server_ctx(const char *cert, bool with_crl)
{
    struct tls_settings s;
    char paths[4][128], err[256];
    settings_for(&s, cert, NULL, paths);
    if (with_crl) {
        pathof(paths[3], 128, "ca1", "crl");
        s.crl_file = paths[3];
    }
    SSL_CTX *ctx = tls_server_ctx_new(&s, err, sizeof(err));
    if (!ctx)
        fail_msg("server context: %s", err);
    return ctx;
}

/* A client presenting cert (NULL: a generated self-signed one). */
static SSL_CTX *client_ctx(const char *cert)
{
    struct tls_settings s;
    char paths[4][128], err[256];
    settings_for(&s, cert ? cert : "good", NULL, paths);
    if (!cert) {
        s.cert_file = s.key_file = NULL;
        s.self_signed_name = "sip.selfsigned.test";
    }
    SSL_CTX *ctx = tls_client_ctx_new(&s, err, sizeof(err));
    if (!ctx)
        fail_msg("client context: %s", err);
    return ctx;
}

static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

static void test_handshake_good_mutual_tls(void **state)
{
    SSL_CTX *sctx = server_ctx("server", false), *cctx = client_ctx("good");
    for (size_t v = 0; v < 2; v++) {
        struct hs r;
        handshake(sctx, cctx, versions[v], &r);
        assert_int_equal(r.server, HS_OK);
        assert_int_equal(r.client, HS_OK);
        assert_string_equal(r.server_reason, "ok");
        assert_string_equal(r.client_reason, "ok");
        assert_int_equal(r.server_saw_n, 2);
        assert_string_equal(r.server_saw[0], "sip.fabrikam.test");
        assert_string_equal(r.server_saw[1], "edge.fabrikam.test");
        assert_int_equal(r.client_saw_n, 1);
        assert_string_equal(r.client_saw[0], "edge.contoso.test");
        assert_true(r.client_name_ok);
    }
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

/* A refused client: the server fails with want_reason (and logs it), the
 * client learns from the server's alert, in TLS 1.2 and 1.3. */
struct refusal {
    const char *client_cert; /* NULL with no_cert false: generated self-signed */
    bool no_cert, with_crl;
    const char *want_reason;
};

static void test_refused_client(void **state)
{
    const struct refusal *t = *state;
    SSL_CTX *sctx = server_ctx("server", t->with_crl), *cctx;
    if (t->no_cert) {
        cctx = SSL_CTX_new(TLS_client_method()); /* a peer that has no certificate */
        assert_non_null(cctx);
    } else {
        cctx = client_ctx(t->client_cert);
    }
    for (size_t v = 0; v < 2; v++) {
        struct hs r;
        capture_start();
        handshake(sctx, cctx, versions[v], &r);
        char *log = capture_end();
        print_message("%s: server \"%s\", client \"%s\"\n",
                      versions[v] == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3", r.server_reason,
                      r.client_reason);
        assert_int_equal(r.server, HS_FAILED);
        assert_int_equal(r.client, HS_FAILED);
        assert_string_equal(r.server_reason, t->want_reason);
        if (!t->no_cert) /* a bare SSL_CTX has none of our callbacks */
            assert_non_null(strstr(r.client_reason, "peer refused the handshake: alert "));
        char want_log[256];
        snprintf(want_log, sizeof(want_log), "local peer: %s", t->want_reason);
        if (!strstr(log, want_log))
            fail_msg("no log line with \"%s\" in:\n%s", want_log, log);
        free(log);
    }
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

static const struct refusal refusals[] = {
    {"expired", false, false, "certificate has expired"},
    {NULL, false, false, "self-signed certificate"},
    {"otherca", false, false, "unable to get local issuer certificate"},
    {NULL, true, false, "no certificate presented"},
    {"noclientauth", false, false, "missing clientAuth EKU"},
    {"revoked", false, true, "certificate revoked"},
};

static void test_refusal_log_names_tcp_peer(void **state)
{
    /* Over TCP the log line says which address was refused. */
    SSL_CTX *sctx = server_ctx("server", false), *cctx = client_ctx("expired");
    struct hs r;
    use_tcp = true;
    capture_start();
    handshake(sctx, cctx, TLS1_3_VERSION, &r);
    char *log = capture_end();
    use_tcp = false;
    assert_int_equal(r.server, HS_FAILED);
    assert_non_null(strstr(log, "refused client certificate from 127.0.0.1:"));
    assert_non_null(
        strstr(log, ": certificate has expired (depth 0, subject /CN=sip.expired.test"));
    free(log);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

static void test_handshake_accepts_without_eku_and_with_crl(void **state)
{
    /* No EKU extension means any purpose; a CRL that does not list the
     * client lets it in. */
    SSL_CTX *sctx = server_ctx("server", true);
    const char *clients[] = {"noeku", "good"};
    for (size_t i = 0; i < 2; i++) {
        SSL_CTX *cctx = client_ctx(clients[i]);
        struct hs r;
        handshake(sctx, cctx, TLS1_3_VERSION, &r);
        assert_int_equal(r.server, HS_OK);
        assert_int_equal(r.client, HS_OK);
        assert_string_equal(r.server_reason, "ok");
        SSL_CTX_free(cctx);
    }
    SSL_CTX_free(sctx);
}

static void test_client_refuses_bad_servers(void **state)
{
    /* A server cert without serverAuth, and a generated self-signed one. */
    struct tls_settings s;
    char err[256];
    tls_settings_init(&s);
    s.self_signed_name = "edge.contoso.test";
    s.require_peer_cert = false;
    SSL_CTX *servers[] = {server_ctx("srv_clientonly", false), NULL};
    capture_start();
    servers[1] = tls_server_ctx_new(&s, err, sizeof(err));
    free(capture_end());
    assert_non_null(servers[1]);
    const char *want[] = {"missing serverAuth EKU", "self-signed certificate"};

    SSL_CTX *cctx = client_ctx("good");
    for (size_t i = 0; i < 2; i++) {
        for (size_t v = 0; v < 2; v++) {
            struct hs r;
            capture_start();
            handshake(servers[i], cctx, versions[v], &r);
            char *log = capture_end();
            assert_int_equal(r.client, HS_FAILED);
            assert_int_equal(r.server, HS_FAILED);
            assert_string_equal(r.client_reason, want[i]);
            assert_non_null(strstr(r.server_reason, "peer refused the handshake: alert "));
            assert_non_null(
                strstr(log, "refused server certificate from edge.contoso.test at local peer"));
            free(log);
        }
        SSL_CTX_free(servers[i]);
    }
    SSL_CTX_free(cctx);
}

static void test_server_without_client_auth(void **state)
{
    /* require_peer_cert off: a client without a certificate gets in, and the
     * reason says what is missing for whoever asks. */
    struct tls_settings s;
    char paths[4][128], err[256];
    settings_for(&s, "server", NULL, paths);
    s.require_peer_cert = false;
    SSL_CTX *sctx = tls_server_ctx_new(&s, err, sizeof(err));
    assert_non_null(sctx);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    struct hs r;
    handshake(sctx, cctx, TLS1_2_VERSION, &r);
    assert_int_equal(r.server, HS_OK);
    assert_int_equal(r.client, HS_OK);
    assert_string_equal(r.server_reason, "no certificate presented");
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

static void test_ctx_protocol_settings(void **state)
{
    SSL_CTX *ctx = server_ctx("server", false);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    uint64_t opts = SSL_CTX_get_options(ctx);
    assert_true(opts & SSL_OP_NO_COMPRESSION);
    assert_true(opts & SSL_OP_NO_TICKET);
    assert_true(opts & SSL_OP_NO_RENEGOTIATION);
    assert_int_equal(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx),
                     SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE);
    SSL_CTX_free(ctx);

    /* A zeroed struct would not verify: tls_settings_init() does. */
    struct tls_settings s;
    tls_settings_init(&s);
    assert_true(s.verify_peer);
    assert_true(s.require_peer_cert);
    assert_null(s.cert_file);
}

static void test_handshake_refuses_tls11(void **state)
{
    /* A client stuck at TLS 1.1 (old OCS-era stacks) does not get in. */
    SSL_CTX *sctx = server_ctx("server", false);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    SSL_CTX_set_security_level(cctx, 0);
    assert_true(SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0"));
    assert_true(SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION));
    assert_true(SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION));
    struct hs r;
    handshake(sctx, cctx, TLS1_1_VERSION, &r);
    assert_int_equal(r.server, HS_FAILED);
    assert_int_equal(r.client, HS_FAILED);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

#define REFUSAL(i) cmocka_unit_test_prestate(test_refused_client, (void *)&refusals[i])

int main(void)
{
    log_init("test_tls", false, LOG_LVL_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_matches_table),
        cmocka_unit_test(test_peer_names_san_vs_cn),
        cmocka_unit_test(test_peer_names_rejects_nul_and_picks_last_cn),
        cmocka_unit_test(test_eku),
        cmocka_unit_test(test_self_signed_new),
        cmocka_unit_test(test_ctx_generates_self_signed_with_warning),
        cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_ctx_protocol_settings),
        cmocka_unit_test(test_handshake_good_mutual_tls),
        REFUSAL(0),
        REFUSAL(1),
        REFUSAL(2),
        REFUSAL(3),
        REFUSAL(4),
        REFUSAL(5),
        cmocka_unit_test(test_refusal_log_names_tcp_peer),
        cmocka_unit_test(test_handshake_accepts_without_eku_and_with_crl),
        cmocka_unit_test(test_client_refuses_bad_servers),
        cmocka_unit_test(test_server_without_client_auth),
        cmocka_unit_test(test_handshake_refuses_tls11),
    };
    return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
