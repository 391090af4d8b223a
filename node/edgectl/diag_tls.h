/* diag_tls.h -- one TLS handshake to a partner edge, as a node would make
 * it (shared/tls.h client context, SNI = the edge's name), and what the
 * edge's certificate says: names, whether they match, chain, EKUs, expiry. */
#ifndef EP_EDGECTL_DIAG_TLS_H
#define EP_EDGECTL_DIAG_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/types.h>

struct ctl;

#define PROBE_NAMES 16

struct tls_probe {
    char addr[80];     /* "127.0.0.1:5061", "[::1]:5061" */
    bool connected;    /* TCP and the TLS handshake completed */
    char error[300];   /* why not, or why the peer dropped us after it */
    bool peer_refused; /* an alert / close right after the handshake (our cert?) */
    char protocol[16], cipher[64];
    bool have_cert;
    char subject[256], issuer[256];
    char names[PROBE_NAMES][256]; /* tls_peer_names(): SAN dNSNames, else the CN */
    int n_names;
    bool name_match;               /* a name equals the expected host (RFC 5922: no wildcards) */
    bool chain_ok;                 /* verified against the CA bundle (and CRLs) */
    char chain[160];               /* "ok" or the reason */
    bool server_auth, client_auth; /* EKUs */
    char not_after[32];            /* "2036-11-22T10:00:00Z" */
    long days_left;                /* negative: expired */
    bool ok;                       /* everything above as federation needs it */
};

/* Connect to sa, handshake with ctx naming host (SNI), and fill p. Waits at
 * most timeout_ms (plus a short settle after the handshake to catch a peer
 * refusing our certificate). no_cert: present no client certificate (the
 * context's is a placeholder). Never fails: p says what happened. */
void diag_tls_probe(struct ctl *c, SSL_CTX *ctx, bool no_cert, const struct sockaddr_storage *sa,
                    const char *host, int timeout_ms, struct tls_probe *p);

#endif
