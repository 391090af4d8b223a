/* policy_redis.h -- the policy store of a pool: the federation policy lives in
 * Redis (ep:<pool>:policy: version, text), every node applies each change
 * within a second of its notification on the ep:<pool>:policy channel, and
 * keeps a local snapshot of what it applied.
 *
 * At start the store serves the snapshot (or, without one, the configuration
 * file's policy group) until Redis answers; then Redis's policy wins. An
 * empty pool is seeded once from the configuration file (WATCH/MULTI/EXEC:
 * of several nodes starting together, one seeds). Every notification, every
 * reconnect and every reload() (SIGHUP) re-reads the key. A text that does
 * not load is refused with a log line and the current policy stays. */
#ifndef EP_POOL_POLICY_REDIS_H
#define EP_POOL_POLICY_REDIS_H

#include <stdbool.h>
#include <stddef.h>

struct pool;
struct policy_store;
struct node_config;

struct policy_redis_opts {
    const char *config_path; /* the node's configuration file (seed, first policy) */
    const char *snapshot;    /* snapshot file path */
    bool seed;               /* seed an empty pool from the file's policy group */
    const char *node_id;     /* for updated_by and the snapshot */
    /* called after every policy the store publishes asynchronously (not for
     * the one it starts with) */
    void (*on_apply)(void *arg);
    void *arg;
};

/* The store (struct policy_store, node/federation/policy.h) on pool's
 * Redis. NULL with err when neither the snapshot nor the configuration's
 * policy can be loaded. reload() starts a re-read and returns 0. */
struct policy_store *policy_store_redis_new(struct pool *pool, const struct policy_redis_opts *o,
                                            char *err, size_t errlen);

/* The snapshot path: redis.snapshot, else /var/lib/edgepool/<pool>-<node.id>.policy.
 * malloc'ed (NULL: out of memory). */
char *policy_redis_snapshot_path(const struct node_config *c, const char *pool);

#endif
