/* internal_tls.h -- the TLS contexts of the internal side (front-end pool).
 *
 * Lync's Edge Server speaks mutual TLS with its front ends and Director on
 * its internal interface: the internal side has its own certificate and CA
 * (internal.tls_*, defaulting to the tls group's), and optionally the names a
 * front end's certificate may carry (internal.tls_peers), checked during the
 * handshake so that a refused front end gets a TLS alert, not a closed
 * connection. The caller owns the returned contexts (SSL_CTX_free). */
#ifndef EP_INTERNAL_TLS_H
#define EP_INTERNAL_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "node_config.h"

/* Build the internal server context when internal.tls_listen is set (else
 * *srv = NULL) and the client context when need_client (a next hop is TLS;
 * else *cli = NULL). Returns 0, or -1 with "internal TLS: <why, naming the
 * file>" in err and nothing allocated. */
int internal_tls_contexts_new(const struct node_config *cfg, bool need_client, SSL_CTX **srv,
                              SSL_CTX **cli, char *err, size_t errlen);

/* Require the client certificate to carry one of peers (dNSName, or the CN
 * when it has none; no wildcards) on the server context ctx. 0 or -1. */
int internal_tls_require_peers(SSL_CTX *ctx, const struct cfg_strlist *peers);

#endif
