/* internal_tls.c -- the internal side's TLS contexts (see internal_tls.h). */
#include "conn/internal_tls.h"

#include <openssl/x509v3.h>
#include <stdio.h>

#include "tls.h"

int internal_tls_require_peers(SSL_CTX *ctx, const struct cfg_strlist *peers)
{
    if (peers->n == 0)
        return 0;
    /* the chain verification checks the names (as a client checks a server's
     * host): a refusal is a verification failure ("hostname mismatch"),
     * logged by tls.c's verify callback and alerted to the front end */
    X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_WILDCARDS);
    for (int i = 0; i < peers->n; i++) {
        int ok = i == 0 ? X509_VERIFY_PARAM_set1_host(vp, peers->v[i], 0)
                        : X509_VERIFY_PARAM_add1_host(vp, peers->v[i], 0);
        if (ok != 1)
            return -1;
    }
    return 0;
}

int internal_tls_contexts_new(const struct node_config *cfg, bool need_client, SSL_CTX **srv,
                              SSL_CTX **cli, char *err, size_t errlen)
{
    *srv = *cli = NULL;
    struct internal_tls_files f;
    node_config_internal_tls(cfg, &f);
    struct tls_settings ts;
    tls_settings_init(&ts);
    ts.cert_file = f.cert;
    ts.key_file = f.key;
    ts.ca_file = f.ca;
    ts.crl_file = f.crl;
    ts.ciphers = cfg->tls_ciphers;
    ts.self_signed_name = cfg->pool_fqdn;
    ts.require_peer_cert = true; /* mutual TLS, always */
    ts.verify_peer = true;
    char why[400];
    if (cfg->internal_tls_listen) {
        *srv = tls_server_ctx_new(&ts, why, sizeof(why));
        if (!*srv) {
            snprintf(err, errlen, "internal TLS: %s", why);
            return -1;
        }
        if (internal_tls_require_peers(*srv, &cfg->internal_tls_peers) < 0) {
            snprintf(err, errlen, "internal TLS: cannot set internal.tls_peers (out of memory)");
            SSL_CTX_free(*srv);
            *srv = NULL;
            return -1;
        }
    }
    if (need_client) {
        *cli = tls_client_ctx_new(&ts, why, sizeof(why));
        if (!*cli) {
            snprintf(err, errlen, "internal TLS: %s", why);
            SSL_CTX_free(*srv);
            *srv = NULL;
            return -1;
        }
    }
    return 0;
}
