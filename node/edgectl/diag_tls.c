/* diag_tls.c -- one TLS handshake to a partner edge on the private loop
 * (bufferevent_openssl) and the reading of its certificate, for diagnose.
 *
 * The handshake runs with chain verification recorded but not enforced
 * (SSL_VERIFY_NONE on this SSL, the context's callback kept), so an edge
 * with a bad certificate still shows its names; the verdict is then read
 * from the SSL (tls_verify_reason), the names matched as the node does. */
#include "edgectl/diag_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "edgectl/edgectl.h"
#include "tls.h"

/* How long to wait after the handshake for the peer to refuse us: with TLS
 * 1.3 a server judges our certificate after the client's handshake is done. */
#define SETTLE_MS 400

struct probe_run {
    struct tls_probe *p;
    SSL *ssl;
    bool handshaken;
    bool done;
};

static void addr_str(const struct sockaddr_storage *sa, char *buf, size_t len)
{
    char h[INET6_ADDRSTRLEN] = "?";
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, h, sizeof h);
        snprintf(buf, len, "%s:%u", h, ntohs(s4->sin_port));
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof h);
        snprintf(buf, len, "[%s]:%u", h, ntohs(s6->sin6_port));
    }
}

/* OpenSSL's reason for the first error libevent recorded, or NULL. */
static const char *ssl_error(struct bufferevent *bev)
{
    unsigned long e, first = 0;
    while ((e = bufferevent_get_openssl_error(bev)))
        if (!first && ERR_GET_LIB(e) != 0)
            first = e;
    return first ? ERR_reason_error_string(first) : NULL;
}

static void read_cert(struct tls_probe *p, SSL *ssl, const char *host)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    snprintf(p->protocol, sizeof p->protocol, "%s", SSL_get_version(ssl));
    snprintf(p->cipher, sizeof p->cipher, "%s", SSL_get_cipher_name(ssl));
    if (!cert)
        return;
    p->have_cert = true;
    X509_NAME_oneline(X509_get_subject_name(cert), p->subject, sizeof p->subject);
    X509_NAME_oneline(X509_get_issuer_name(cert), p->issuer, sizeof p->issuer);
    p->n_names = tls_peer_names(cert, p->names, PROBE_NAMES);
    p->name_match = tls_cert_matches(cert, slice_cstr(host), false);
    p->server_auth = tls_cert_has_eku(cert, NID_server_auth);
    p->client_auth = tls_cert_has_eku(cert, NID_client_auth);
    p->chain_ok = SSL_get_verify_result(ssl) == X509_V_OK;
    snprintf(p->chain, sizeof p->chain, "%s", p->chain_ok ? "ok" : tls_verify_reason(ssl));
    const ASN1_TIME *na = X509_get0_notAfter(cert);
    struct tm tm;
    if (ASN1_TIME_to_tm(na, &tm))
        strftime(p->not_after, sizeof p->not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, NULL, na))
        p->days_left = days - (secs < 0 && days == 0 ? 1 : 0);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct probe_run *run = arg;
    struct tls_probe *p = run->p;
    if (what & BEV_EVENT_CONNECTED) {
        run->handshaken = true;
        p->connected = true;
        return; /* keep reading: a refusal of our certificate comes now */
    }
    if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF | BEV_EVENT_TIMEOUT)))
        return;
    int sock_err = EVUTIL_SOCKET_ERROR();
    const char *ossl = ssl_error(bev);
    if (run->handshaken) {
        p->peer_refused = true;
        snprintf(p->error, sizeof p->error,
                 "the edge closed the connection right after the handshake%s%s (it refused our "
                 "certificate?)",
                 ossl ? ": " : "", ossl ? ossl : "");
    } else if (what & BEV_EVENT_TIMEOUT) {
        snprintf(p->error, sizeof p->error, "timeout");
    } else if (ossl) {
        const char *why = tls_verify_reason(run->ssl);
        snprintf(p->error, sizeof p->error, "TLS handshake failed: %s%s%s", ossl,
                 strcmp(why, "ok") ? "; " : "", strcmp(why, "ok") ? why : "");
    } else if ((what & BEV_EVENT_ERROR) && sock_err) {
        snprintf(p->error, sizeof p->error, "%s", evutil_socket_error_to_string(sock_err));
    } else {
        snprintf(p->error, sizeof p->error, "the edge closed the connection during the handshake");
    }
    run->done = true;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    /* The edge spoke first (it should not, in SIP): read and ignore. */
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

void diag_tls_probe(struct ctl *c, SSL_CTX *ctx, bool no_cert, const struct sockaddr_storage *sa,
                    const char *host, int timeout_ms, struct tls_probe *p)
{
    memset(p, 0, sizeof *p);
    addr_str(sa, p->addr, sizeof p->addr);
    struct probe_run run = {.p = p};
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        snprintf(p->error, sizeof p->error, "cannot create a TLS connection");
        return;
    }
    run.ssl = ssl;
    if (no_cert)
        SSL_certs_clear(ssl);
    SSL_set_tlsext_host_name(ssl, host);
    /* Record the chain's verdict, don't stop on it; the context's callback
     * stays (it names EKU failures for tls_verify_reason). */
    SSL_set_verify(ssl, SSL_VERIFY_NONE, SSL_CTX_get_verify_callback(ctx));
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        snprintf(p->error, sizeof p->error, "cannot create a TLS connection");
        return;
    }
    bufferevent_setcb(bev, on_read, NULL, on_event, &run);
    bufferevent_enable(bev, EV_READ);
    socklen_t len =
        sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    uint64_t deadline = ctl_mono_ms() + (uint64_t)timeout_ms;
    if (bufferevent_socket_connect(bev, (const struct sockaddr *)sa, (int)len) < 0) {
        snprintf(p->error, sizeof p->error, "connect: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        bufferevent_free(bev);
        return;
    }
    if (!ctl_loop_until(c, &run.handshaken, deadline) && !run.done)
        snprintf(p->error, sizeof p->error, "no TLS handshake within %d ms", timeout_ms);
    if (run.handshaken) {
        read_cert(p, ssl, host);
        ctl_loop_until(c, &run.done, ctl_mono_ms() + SETTLE_MS);
    }
    bufferevent_free(bev); /* frees ssl too */
    p->ok = p->connected && !p->peer_refused && p->have_cert && p->name_match && p->chain_ok &&
            p->server_auth && p->client_auth;
}
