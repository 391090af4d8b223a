/* node_config.h -- every setting of edge-node, with its default.
 *
 * The table in node_config.c is the single source: it loads the file, fills
 * the embedded default when there is no file, and prints the reference
 * (`edge-node --print-config`). The "policy" group belongs to the policy
 * store (node/federation/policy.h), not to this table. */
#ifndef EP_NODE_CONFIG_H
#define EP_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config_table.h"
#include "redis_config.h"

struct node_config {
    /* node */
    char *node_id;
    char *pool_fqdn; /* Record-Route toward partners, certificate name */
    char *node_fqdn; /* this node's own name (a SAN of the pool certificate) */
    char *log_level;
    bool log_syslog;
    /* internal side (front-end pool) */
    char *internal_listen;        /* "127.0.0.1:5060", TCP */
    char *internal_rr_host;       /* Record-Route host facing inside; default: listen address */
    struct cfg_strlist next_hops; /* "host:port[;transport=tcp|tls]", tried in order */
    char *internal_tls_listen; /* "10.0.0.21:5061": SIP over mutual TLS from the front ends; NULL:
                                  off */
    /* the internal side's own certificate and CA (front ends, TLS next hops);
     * unset: the tls group's (node_config_internal_tls says which applies) */
    char *internal_tls_cert, *internal_tls_key, *internal_tls_ca, *internal_tls_crl;
    struct cfg_strlist
        internal_tls_peers; /* names a front end's certificate may carry; empty: any */
    /* external side (federation) */
    char *external_listen;  /* "127.0.0.1:5061", TLS */
    char *external_rr_host; /* Record-Route host facing partners; default: pool_fqdn */
    struct cfg_strlist proxy_protocol_from; /* balancer addresses whose PROXY v2 header is
                                               believed (numeric, canonical); empty: none */
    /* TLS */
    char *tls_cert, *tls_key, *tls_ca, *tls_crl, *tls_ciphers;
    /* DNS */
    char *dns_servers;
    int dns_timeout_ms;
    /* limits and timers */
    int max_message_size;
    int max_headers;
    int max_connections;
    int max_conns_per_source;
    int idle_timeout_s;
    int keepalive_s; /* CRLF ping interval on idle outbound conns, 0 = off */
    int connect_timeout_ms;
    int txn_timeout_ms; /* Timer B / F: 64*T1 */
    int timer_c_s;      /* INVITE proxy Timer C */
    int retry_after_s;  /* Retry-After sent with 503 */
    /* redis: the pool's shared state (node/pool/), shared/redis_config.h.
     * Neither addr nor sentinels set = the embedded default: one node, its
     * state in memory. */
    REDIS_CONFIG_MEMBER;
    char *redis_snapshot; /* local policy snapshot; default /var/lib/edgepool/<pool>-<id>.policy */
    bool redis_seed_policy; /* an empty pool's policy is seeded from this file's policy group */
    /* admin: the HTTP admin endpoint (node/admin/admin.h) */
    char *admin_listen;             /* "127.0.0.1:8080"; "" = off */
    struct cfg_strlist admin_allow; /* source addresses / prefixes allowed */
    char *admin_token; /* bearer token for state-changing calls; unset = they are off */
};

extern const struct cfg_key node_config_keys[];

/* Load path (NULL = embedded default) into c. On error returns -1 with
 * "FILE:LINE: key: what" in err. The caller frees with node_config_free. */
int node_config_load(struct node_config *c, const char *path, char *err, size_t errlen);
void node_config_free(struct node_config *c);
/* The files the internal side's TLS uses, the internal.tls_* keys with the tls
 * group's as defaults, taken as pairs: a certificate set without a key has
 * its key in the same file (the tls key is not borrowed for another
 * certificate), and a CA set without a CRL has no CRL (the tls CRLs are for
 * the partners' CAs: with them, every front end would be refused for want of
 * its CA's CRL). Pointers into c; NULL where nothing applies. own: whether any
 * internal.tls_* file is set (else the internal side is the tls group's). */
struct internal_tls_files {
    const char *cert, *key, *ca, *crl;
    bool own;
};
void node_config_internal_tls(const struct node_config *c, struct internal_tls_files *f);

/* Whether the node belongs to a pool sharing state through Redis. */
bool node_config_has_redis(const struct node_config *c);

#endif
