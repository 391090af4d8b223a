/* tls.c -- the TLS contexts edgepool speaks federation with, and why a peer
 * was refused.
 *
 * Owns the SSL_CTX settings (protocol floor, ciphers, our certificate, the
 * trust store and CRLs), the verify and info callbacks that enforce the EKU and
 * log refusals, and the per-SSL refusal reason they leave behind. */
#include "tls.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TLS_LOG "tls"

/* Mozilla's "intermediate" TLS 1.2 list (forward secret AEAD suites), then the
 * ECDHE-RSA CBC-SHA2 suites that Windows Server 2012-era Lync / Skype for
 * Business edges offer when their AES-GCM suites are disabled. */
static const char default_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                      "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256";

#define VERIFY_DEPTH 10
#define EXPIRY_WARN_DAYS 30

/* Why this connection's handshake failed, hung on the SSL as ex_data and
 * freed with it. reason: our own refusal (first one wins); peer_alert: a fatal
 * alert the peer sent us. */
struct tls_conn_state {
    char reason[160];
    char peer_alert[96];
};

static int conn_state_idx = -1;
static CRYPTO_ONCE conn_state_once = CRYPTO_ONCE_STATIC_INIT;

static void conn_state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                            void *argp)
{
    OPENSSL_free(ptr);
}

/* SSL_dup() must not share the state (it would be freed twice). */
static int conn_state_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                          long argl, void *argp)
{
    *from_d = NULL;
    return 1;
}

static void conn_state_index_init(void)
{
    conn_state_idx = SSL_get_ex_new_index(0, NULL, NULL, conn_state_dup, conn_state_free);
}

/* The state of ssl, created on first use when create is set; NULL if absent
 * or out of memory (the reason is then lost, the refusal still happens). */
static struct tls_conn_state *conn_state(const SSL *ssl, bool create)
{
    if (conn_state_idx < 0)
        return NULL;
    struct tls_conn_state *st = SSL_get_ex_data(ssl, conn_state_idx);
    if (!st && create) {
        st = OPENSSL_zalloc(sizeof(*st));
        /* The state is ours, not part of the connection's TLS state: setting it
         * on a const SSL (info callbacks get one) changes nothing OpenSSL uses. */
        if (st && !SSL_set_ex_data((SSL *)ssl, conn_state_idx, st)) {
            OPENSSL_free(st);
            st = NULL;
        }
    }
    return st;
}

static void set_reason(const SSL *ssl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(const SSL *ssl, const char *fmt, ...)
{
    struct tls_conn_state *st = conn_state(ssl, true);
    if (!st || st->reason[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
    va_end(ap);
}

#define PEER_LABEL_LEN 320

/* Who we are talking to, for logs: "192.0.2.1:5061", "[2001:db8::1]:5061",
 * "unknown peer" when the SSL has no socket (a BIO pair, a bufferevent
 * filter); on the client side prefixed by the name we asked for (SNI),
 * "edge.fabrikam.com at 192.0.2.1:5061". */
static void peer_label(const SSL *ssl, char *buf, size_t len)
{
    struct sockaddr_storage ss = {0}; /* getpeername fills it; this tells the analyzer */
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
    int fd = SSL_get_fd(ssl);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(addr, sizeof(addr), "unknown peer");
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(addr, sizeof(addr), "%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(addr, sizeof(addr), "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
    } else {
        snprintf(addr, sizeof(addr), "local peer");
    }
    const char *sni =
        SSL_is_server(ssl) ? NULL : SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (sni)
        snprintf(buf, len, "%s at %s", sni, addr);
    else
        snprintf(buf, len, "%s", addr);
}

/* Chain verification, for both sides: OpenSSL checks chain, dates, purpose
 * and CRLs; we add an explicit EKU check on the leaf (clientAuth for a server
 * judging its client, serverAuth for a client judging its server), name EKU
 * failures in words, and log every refusal once. */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    if (!ssl)
        return ok;
    int depth = X509_STORE_CTX_get_error_depth(xs);
    X509 *cert = X509_STORE_CTX_get_current_cert(xs);
    bool server = SSL_is_server(ssl);
    int want = server ? NID_client_auth : NID_server_auth;
    const char *want_name = server ? "clientAuth" : "serverAuth";

    if (ok && depth == 0 && cert && !tls_cert_has_eku(cert, want)) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_INVALID_PURPOSE);
        ok = 0;
    }
    if (ok)
        return 1;

    int e = X509_STORE_CTX_get_error(xs);
    if (e == X509_V_ERR_INVALID_PURPOSE && cert && !tls_cert_has_eku(cert, want)) {
        if (depth == 0)
            set_reason(ssl, "missing %s EKU", want_name);
        else
            set_reason(ssl, "issuing CA certificate's EKU excludes %s", want_name);
    }
    const struct tls_conn_state *st = conn_state(ssl, false);
    const char *reason = st && st->reason[0] ? st->reason : X509_verify_cert_error_string(e);

    char peer[PEER_LABEL_LEN], subject[256] = "?", issuer[256] = "?";
    peer_label(ssl, peer, sizeof(peer));
    if (cert) {
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
        X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
    }
    LOG_WARN(TLS_LOG, "refused %s certificate from %s: %s (depth %d, subject %s, issuer %s)",
             server ? "client" : "server", peer, reason, depth, subject, issuer);
    return 0;
}

/* Records fatal alerts the peer sends, and names (and logs) the one refusal
 * that never reaches verify_cb: a client that presents no certificate to a
 * server that requires one. */
static void info_cb(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_ALERT) || (ret >> 8) != SSL3_AL_FATAL)
        return;
    if (where & SSL_CB_READ) {
        struct tls_conn_state *st = conn_state(ssl, true);
        if (st && !st->peer_alert[0])
            snprintf(st->peer_alert, sizeof(st->peer_alert), "peer refused the handshake: alert %s",
                     SSL_alert_desc_string_long(ret));
        return;
    }
    unsigned long e = ERR_peek_last_error();
    if (SSL_is_server(ssl) && ERR_GET_LIB(e) == ERR_LIB_SSL &&
        ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        char peer[PEER_LABEL_LEN];
        peer_label(ssl, peer, sizeof(peer));
        set_reason(ssl, "no certificate presented");
        LOG_WARN(TLS_LOG, "refused client from %s: no certificate presented (mutual TLS required)",
                 peer);
    }
}

const char *tls_verify_reason(SSL *ssl)
{
    if (!ssl)
        return "no connection";
    const struct tls_conn_state *st = conn_state(ssl, false);
    if (st && st->reason[0])
        return st->reason;
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
        return X509_verify_cert_error_string(v);
    if (st && st->peer_alert[0])
        return st->peer_alert;
    if (!SSL_get0_peer_certificate(ssl))
        return "no certificate presented";
    return "ok";
}

bool tls_cert_has_eku(X509 *cert, int nid)
{
    if (!cert)
        return false;
    int crit = -1;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
    if (!eku)
        return crit == -1; /* -1: absent (any purpose); else duplicated or malformed */
    bool found = false;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku) && !found; i++)
        found = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid;
    EXTENDED_KEY_USAGE_free(eku);
    return found;
}

/* err helpers: every failure names what failed and OpenSSL's last reason. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Empties OpenSSL's error queue and returns its most telling entry: the last
 * one that is not a generic wrapper ("PEM lib"), else the last; 0 if empty. */
static unsigned long ossl_drain(void)
{
    unsigned long e, last = 0, specific = 0;
    while ((e = ERR_get_error()) != 0) {
        last = e;
        if (!ERR_COMMON_ERROR(e))
            specific = e;
    }
    return specific ? specific : last;
}

/* OpenSSL's words for e (static text). */
static const char *ossl_why(unsigned long e)
{
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "unknown error";
}

static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "cannot read %s file %s: %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int add_san_dns(X509 *x, const char *name)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    int ok = 0;
    if (gens && gen && ia5 && ASN1_STRING_set(ia5, name, -1)) {
        GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
        ia5 = NULL;
        if (sk_GENERAL_NAME_push(gens, gen)) {
            gen = NULL;
            ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
        }
    }
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gen);
    GENERAL_NAMES_free(gens);
    return ok ? 0 : -1;
}

int tls_self_signed_new(const char *name, X509 **cert_out, EVP_PKEY **key_out, char *err,
                        size_t errlen)
{
    *cert_out = NULL;
    *key_out = NULL;
    if (!name || !tls_name_valid(slice_cstr(name))) {
        set_err(err, errlen, "cannot generate a certificate for \"%s\": not a DNS name",
                name ? name : "(null)");
        return -1;
    }
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    X509V3_CTX v3;
    int ok = key && x && serial && X509_set_version(x, X509_VERSION_3) &&
             BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -300) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) && X509_set_pubkey(x, key);
    /* CN is at most 64 bytes (RFC 5280 ub-common-name); the SAN carries the
     * name anyway, and it is what peers read. */
    X509_NAME *subject = ok ? X509_get_subject_name(x) : NULL;
    if (ok && strlen(name) <= 64)
        ok = X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name,
                                        -1, -1, 0);
    if (ok && strlen(name) > 64)
        ok = X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                        (const unsigned char *)"edgepool", -1, -1, 0);
    ok = ok && X509_set_issuer_name(x, subject);
    if (ok) {
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth") == 0 &&
             add_ext(x, &v3, NID_subject_key_identifier, "hash") == 0 &&
             add_san_dns(x, name) == 0 && X509_sign(x, key, EVP_sha256()) > 0;
    }
    BN_free(serial);
    if (!ok) {
        set_err(err, errlen, "cannot generate a self-signed certificate for %s: %s", name,
                ossl_why(ossl_drain()));
        X509_free(x);
        EVP_PKEY_free(key);
        return -1;
    }
    *cert_out = x;
    *key_out = key;
    return 0;
}

/* A daemon never prompts on a terminal: an encrypted key fails to load. */
static int no_password(char *buf, int size, int rwflag, void *userdata)
{
    return -1;
}

/* Warnings about our own certificate, once at load: the EKUs federation needs
 * and its validity period. */
static void check_own_cert(SSL_CTX *ctx, const char *label)
{
    X509 *c = SSL_CTX_get0_certificate(ctx);
    if (!c)
        return;
    if (!tls_cert_has_eku(c, NID_client_auth))
        LOG_WARN(TLS_LOG,
                 "our certificate %s lacks the clientAuth EKU: partners that verify it "
                 "(mutual TLS) will refuse our outbound connections",
                 label);
    if (!tls_cert_has_eku(c, NID_server_auth))
        LOG_WARN(TLS_LOG,
                 "our certificate %s lacks the serverAuth EKU: partners will refuse to "
                 "connect to us",
                 label);
    int days, secs;
    if (X509_cmp_current_time(X509_get0_notBefore(c)) > 0)
        LOG_WARN(TLS_LOG, "our certificate %s is not valid yet: partners will refuse it", label);
    if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c))) {
        if (days < 0 || secs < 0)
            LOG_WARN(TLS_LOG, "our certificate %s has expired: partners will refuse it", label);
        else if (days < EXPIRY_WARN_DAYS)
            LOG_WARN(TLS_LOG, "our certificate %s expires in %d days", label, days);
    }
}

static int load_own_cert(SSL_CTX *ctx, const struct tls_settings *s, char *err, size_t errlen)
{
    if (!s->cert_file) {
        if (!s->self_signed_name) {
            set_err(err, errlen,
                    "no certificate configured (cert_file) and no name to generate one for "
                    "(self_signed_name)");
            return -1;
        }
        X509 *cert;
        EVP_PKEY *key;
        if (tls_self_signed_new(s->self_signed_name, &cert, &key, err, errlen) < 0)
            return -1;
        int ok = SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
        X509_free(cert);
        EVP_PKEY_free(key);
        if (!ok) {
            set_err(err, errlen, "cannot use the generated certificate: %s",
                    ossl_why(ossl_drain()));
            return -1;
        }
        LOG_WARN(TLS_LOG,
                 "no certificate configured: using a generated self-signed certificate for %s; "
                 "partners will refuse it",
                 s->self_signed_name);
        return 0;
    }

    const char *key_file = s->key_file ? s->key_file : s->cert_file;
    if (check_readable("certificate", s->cert_file, err, errlen) < 0 ||
        check_readable("private key", key_file, err, errlen) < 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1) {
        set_err(err, errlen, "cannot load certificate file %s: %s", s->cert_file,
                ossl_why(ossl_drain()));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ossl_drain();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            set_err(err, errlen, "private key file %s does not match certificate file %s", key_file,
                    s->cert_file);
        else if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ)
            set_err(err, errlen,
                    "private key file %s is encrypted: edgepool needs an unencrypted key "
                    "(protect it with file permissions)",
                    key_file);
        else
            set_err(err, errlen, "cannot load private key file %s: %s", key_file, ossl_why(e));
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ossl_drain();
        set_err(err, errlen, "private key file %s does not match certificate file %s", key_file,
                s->cert_file);
        return -1;
    }
    check_own_cert(ctx, s->cert_file);
    return 0;
}

/* The trust store that judges peers: CA bundle (or the system's), CRLs. */
static int load_trust(SSL_CTX *ctx, const struct tls_settings *s, bool server, char *err,
                      size_t errlen)
{
    if (s->ca_file) {
        if (check_readable("CA", s->ca_file, err, errlen) < 0)
            return -1;
        if (SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL) != 1) {
            set_err(err, errlen, "cannot load CA file %s: %s", s->ca_file, ossl_why(ossl_drain()));
            return -1;
        }
        /* Tell clients which CAs we accept, so they pick the right cert. */
        if (server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->ca_file);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
            ERR_clear_error();
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        set_err(err, errlen, "cannot load the system CA store: %s", ossl_why(ossl_drain()));
        return -1;
    }

    if (s->crl_file) {
        if (check_readable("CRL", s->crl_file, err, errlen) < 0)
            return -1;
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (!lookup || X509_load_crl_file(lookup, s->crl_file, X509_FILETYPE_PEM) <= 0) {
            set_err(err, errlen, "cannot load CRL file %s: %s", s->crl_file,
                    ossl_why(ossl_drain()));
            return -1;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }

    SSL_CTX_set_purpose(ctx, server ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
    SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
    SSL_CTX_set_verify(ctx,
                       server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
                                    SSL_VERIFY_CLIENT_ONCE
                              : SSL_VERIFY_PEER,
                       verify_cb);
    return 0;
}

static SSL_CTX *ctx_new(const struct tls_settings *s, bool server, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!s) {
        set_err(err, errlen, "no TLS settings");
        return NULL;
    }
    if (!CRYPTO_THREAD_run_once(&conn_state_once, conn_state_index_init) || conn_state_idx < 0) {
        set_err(err, errlen, "cannot initialise OpenSSL: %s", ossl_why(ossl_drain()));
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        set_err(err, errlen, "cannot create a TLS context: %s", ossl_why(ossl_drain()));
        return NULL;
    }
    /* No tickets and no server session cache: every connection does a full
     * handshake, so every client certificate is verified, and no ticket key
     * needs rotating or sharing across the pool. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                 (server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    /* An idle federation connection keeps no record buffers (about 10 KiB
     * each less, `make bench`); they come back with the next record. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    SSL_CTX_set_info_callback(ctx, info_cb);
    const char *ciphers = s->ciphers ? s->ciphers : default_ciphers;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        set_err(err, errlen, "cannot set TLS 1.2 as the minimum: %s", ossl_why(ossl_drain()));
        goto fail;
    }
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        set_err(err, errlen, "invalid TLS 1.2 cipher list \"%s\": %s", ciphers,
                ossl_why(ossl_drain()));
        goto fail;
    }
    if (server) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"edgepool", 8);
        SSL_CTX_set_dh_auto(ctx, 1);
    }
    if (load_own_cert(ctx, s, err, errlen) < 0)
        goto fail;

    if (server ? s->require_peer_cert : s->verify_peer) {
        if (load_trust(ctx, s, server, err, errlen) < 0)
            goto fail;
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        if (!server)
            LOG_WARN(TLS_LOG, "verify_peer is off: server certificates are not verified");
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_settings_init(struct tls_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->require_peer_cert = true;
    s->verify_peer = true;
}

SSL_CTX *tls_server_ctx_new(const struct tls_settings *s, char *err, size_t errlen)
{
    return ctx_new(s, true, err, errlen);
}

SSL_CTX *tls_client_ctx_new(const struct tls_settings *s, char *err, size_t errlen)
{
    return ctx_new(s, false, err, errlen);
}
