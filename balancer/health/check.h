/* check.h -- one active health check of one node, on the balancer's loop:
 * a TCP connect, a TLS handshake, or a SIP OPTIONS over TLS answered with a
 * 2xx, bounded by a timeout. The result comes back once, through the
 * callback, always from the event loop (never from inside check_start). */
#ifndef EP_HEALTH_CHECK_H
#define EP_HEALTH_CHECK_H

#include <event2/event.h>
#include <openssl/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "balancer_config.h" /* enum health_check_kind */

struct check;

/* ok: the check passed; refused: it failed because the node's host refused
 * the connection (nothing listens there: the process is gone, not slow);
 * latency_us: from start to the result; why: a short reason when it failed
 * ("Connection refused", "timeout", "TLS: ...", "SIP 503"), "" when it
 * passed. The check is freed when the callback returns. */
typedef void (*check_done_cb)(void *arg, bool ok, bool refused, uint32_t latency_us,
                              const char *why);

struct check_opts {
    enum health_check_kind kind;
    SSL_CTX *ssl_ctx;        /* tls and sip: a client context (shared/tls.h) */
    const char *tls_name;    /* SNI; with a verifying context also the name the node's
                                certificate must carry (NULL: none sent, not checked) */
    const char *sip_host;    /* sip: the Request-URI host (the node's address) */
    const char *from_domain; /* sip: the From domain (the pool's) */
    int timeout_ms;
};

/* Start a check of addr (with its port). Returns NULL only when out of
 * memory (cb not called); every other failure, even an immediate one,
 * comes through cb. */
struct check *check_start(struct event_base *base, const struct sockaddr *addr, socklen_t addrlen,
                          const struct check_opts *o, check_done_cb cb, void *arg);
/* Stop a check in progress without calling its callback. */
void check_cancel(struct check *c);

#endif
