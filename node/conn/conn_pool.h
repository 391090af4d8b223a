/* conn_pool.h -- outbound connections kept per destination and reused.
 *
 * One pool per (side, host, port): a partner edge FQDN on the external side
 * (up to outgoing_tls_count TLS connections, Lync's
 * OutgoingTlsCountForFederatedPartners), or an internal next hop. The pool
 * resolves the host (cached by the resolver), opens connections from the
 * node's address on that side, spreads messages over its open connections
 * and opens another only when the ones it has are backed up. Pools live as
 * long as the node; their connections come and go. */
#ifndef EP_CONN_POOL_H
#define EP_CONN_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "conn/conn.h"

#define POOL_MAX_CONNS 16
#define POOL_MAX_ADDRS 8

struct conn_pool {
    struct node *node;
    enum conn_side side;
    bool tls;
    char host[256];
    uint16_t port;
    int max_conns;
    struct conn *conns[POOL_MAX_CONNS];
    int n_conns;
    unsigned rr;
    /* resolution */
    bool resolving;
    struct sockaddr_storage addrs[POOL_MAX_ADDRS];
    int n_addrs, addr_idx;
    uint64_t addrs_expire_ms;
    /* every address refused or timed out: fail fast until then (next hops
     * fail over at once instead of waiting on a dead one per request) */
    uint64_t down_until_ms;
    /* transactions waiting for the address (ids) */
    uint64_t *waiters;
    int n_waiters, cap_waiters;
};

/* A connection to host:port on side for transaction txn_id.
 * Returns an open or connecting conn to write to now, or NULL: then if
 * *status is 0 the transaction was queued and proxy_pool_retry() or
 * proxy_pool_failed() will be called for it later; otherwise *status / *reason
 * say why it failed at once (503 / 504). */
struct conn *conn_pool_acquire(struct node *n, enum conn_side side, const char *host, uint16_t port,
                               bool tls, uint64_t txn_id, int *status, const char **reason);
/* Register an inbound conn as usable for sending to host:port (RFC 5923 alias). */
void conn_pool_adopt(struct node *n, struct conn *c, const char *host, uint16_t port);
/* Called by conn.c: the conn finished connecting / went away. */
void conn_pool_conn_up(struct conn_pool *p, struct conn *c);
void conn_pool_conn_gone(struct conn_pool *p, struct conn *c, bool was_open);
void conn_pool_free_all(struct node *n);

#endif
