/* node.h -- the edge node's process context: one event loop and what hangs off it.
 *
 * There is exactly one struct node per process. It owns the event base, the
 * TLS contexts, the resolver, the policy store, the connection and
 * transaction tables, and the counters. Modules take a struct node * rather
 * than reaching for globals. */
#ifndef EP_NODE_H
#define EP_NODE_H

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hmap.h"
#include "node_config.h"
#include "sip/msg.h"

struct resolver;
struct policy_store;
struct throttle;
struct pool;
struct xmpp;
struct xmpp_gateway;
struct metrics;
struct node_admin;

/* A parsed "host:port[;transport=tls]" next hop. */
struct next_hop {
    char host[256];
    uint16_t port;
    bool tls;
};

struct listen_addr {
    struct sockaddr_storage sa;
    socklen_t salen;
    char host[64]; /* numeric, for Via and Record-Route */
    uint16_t port;
};

struct node_stats {
    uint64_t requests_in, responses_in, requests_out, responses_out;
    uint64_t local_responses, parse_errors, policy_rejects, tls_failures, timeouts;
    uint64_t conns_accepted, conns_refused, conns_opened, conn_failures;
};

struct node {
    struct event_base *base;
    const char *config_path; /* NULL: embedded default */
    struct node_config cfg;
    struct sip_limits limits;

    SSL_CTX *tls_server;     /* external listener: mutual TLS */
    SSL_CTX *tls_client;     /* outbound TLS to partners */
    SSL_CTX *tls_int_server; /* internal TLS listener: mutual TLS, internal CA; NULL: no listener */
    SSL_CTX *tls_int_client; /* outbound TLS to internal next hops; NULL: none is TLS */
    struct resolver *resolver;
    struct policy_store *policy;
    struct throttle *throttle;
    struct pool *pool;            /* the pool's shared state in Redis (node/pool/); NULL: none */
    struct xmpp *xmpp;            /* XMPP s2s streams (node/xmpp/xmpp.h); NULL before xmpp_start */
    struct xmpp_gateway *gateway; /* SIP<->XMPP gateway (node/xmpp/gateway.h); NULL: none */

    struct listen_addr int_addr, ext_addr;
    struct evconnlistener *int_listener, *ext_listener;
    struct listen_addr int_tls_addr; /* internal.tls_listen; port 0: none */
    struct evconnlistener *int_tls_listener;
    const char *int_tls_rr_host; /* Record-Route host toward the inside over TLS (into cfg or
                                    int_tls_addr): internal.record_route_host, else its address */
    struct next_hop *next_hops;
    int n_next_hops;

    struct hmap conns;        /* id (8 bytes) -> struct conn */
    struct hmap conns_by_src; /* source ip -> count (uintptr_t) */
    struct hmap pools;        /* "side|host:port" -> struct conn_pool */
    struct hmap stxns;        /* server transaction key -> struct txn */
    struct hmap ctxns;        /* our branch -> struct txn */
    unsigned n_conns;

    uint64_t next_conn_id, next_txn_id, branch_seq;
    char branch_prefix[24];                                /* "z9hG4bKE" + 8 hex of the node id */
    const struct timeval *tv_txn, *tv_timer_c, *tv_linger; /* common timeouts */

    int outgoing_tls_count; /* from the access-edge settings */
    bool draining;
    bool drained; /* the pool's drain (edgectl): no new work, keeps running (pool/registry.h) */
    struct event *ev_drain, *ev_housekeeping;
    struct node_stats stats;
    struct metrics *metrics;  /* the metrics registry (admin/metrics.h); may be NULL */
    struct node_admin *admin; /* the admin HTTP endpoint (admin/admin.h) */

    char *out_buf; /* scratch for building one outgoing message */
    size_t out_cap;
};

/* Milliseconds of a monotonic clock (cached per loop iteration by libevent). */
uint64_t node_now_ms(const struct node *n);

#endif
