/* pool.h -- this node's membership in a pool of edge nodes: the Redis
 * connection that carries the pool's shared state (shared/redis.h), the key
 * names (shared/pool_keys.h), whether Redis is up, and the parts built on it:
 * the policy store (policy_redis.h), the node registry and drain
 * (registry.h), dialogs (dialogs.h), the node's own records kept in memory
 * and written again whenever Redis may have lost them (pool_replay.h,
 * pool_records.h) and pool-wide throttling (pool_throttle.h).
 *
 * n->pool is NULL in the embedded default (no redis group in the
 * configuration): a single node keeping its state in memory, as before. With
 * a pool, nothing on the SIP path waits for Redis except what must (a
 * dialog lookup for a request that lost its ep-peer, the pool-wide rate of a
 * discovered partner), and everything keeps working, from what is cached,
 * while Redis is down. */
#ifndef EP_POOL_POOL_H
#define EP_POOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"

struct node;
struct node_config;
struct registry;
struct pool_replay;

#define POOL_MAX_LISTENERS 4

struct pool_stats {
    uint64_t writes;                                /* fire-and-forget writes sent */
    uint64_t write_errors;                          /* ... answered with an error or timed out */
    uint64_t writes_dropped;                        /* ... not sent: Redis was down */
    uint64_t lookups, lookup_misses, lookup_errors; /* dialog lookups */
    uint64_t throttle_checks, throttle_fallbacks;   /* pool-wide throttle checks, local fallbacks */
    /* the node's own records (pool_replay.h) */
    uint64_t
        records_queued; /* record writes made while Redis was down (sent at the reconnection) */
    uint64_t records_over_cap; /* records not kept: the table was full */
    uint64_t replays;          /* replays started (each "up") */
    uint64_t records_replayed; /* records re-asserted by replays */
    uint64_t records_restored; /* ... that Redis did not have any more */
};

struct pool {
    struct node *node;
    struct redis *redis;
    char *name; /* the pool's name in the keys: ep:<name>:... */
    bool up;    /* connected (after AUTH and SELECT) */
    bool ever_up;
    bool closing;           /* pool_free() is running: callbacks start nothing new */
    uint64_t down_since_ms; /* wall clock; 0 while up */
    uint64_t last_down_log_ms;
    struct pool_stats stats;
    struct registry *registry;
    struct pool_replay *replay; /* the node's own records, replayed at every "up" */
    struct {
        void (*cb)(void *arg, bool up);
        void *arg;
    } listeners[POOL_MAX_LISTENERS];
    int n_listeners;
};

/* Join the pool configured in n->cfg (node_config_has_redis() must be true):
 * sets n->pool (the Redis connection, the registry) and n->policy (the Redis
 * policy store, policy_redis.h; on_policy(n) after every policy it applies
 * later). Returns at once: Redis comes up (or not) on the loop. 0, or -1 with
 * err (bad options, no usable policy); n->pool and n->policy are then NULL. */
int pool_attach(struct node *n, void (*on_policy)(void *arg), char *err, size_t errlen);
/* Close the connection (pending callbacks run first, and start nothing) and
 * free the pool. Before the policy store is freed. */
void pool_free(struct pool *p);

/* SIGHUP: the redis group and node.id take effect only at a restart; say so
 * when fresh changes them. */
void pool_check_reload(const struct pool *p, const struct node_config *old,
                       const struct node_config *fresh);

/* cb is told every up/down change (after the pool logged it). */
void pool_on_state(struct pool *p, void (*cb)(void *arg, bool up), void *arg);

/* A write whose answer only counts errors (fire and forget): the arguments
 * of redis_command after its callback. Dropped (counted) while Redis is
 * down; nothing at all once the pool is closing. */
#define pool_write(p, ...)                                                                         \
    ((p)->closing ? (void)0                                                                        \
                  : (void)((p)->stats.writes++,                                                    \
                           redis_command((p)->redis, pool_write_done, (p), __VA_ARGS__)))
/* The callback of pool_write (counts failures; arg is the pool). */
void pool_write_done(void *arg, const redisReply *reply, const char *err);
/* A reply is an error (NULL or an error reply): counts it. */
bool pool_reply_failed(const redisReply *reply);

/* The node's own records held now (pool_replay.h), and deletions Redis has
 * not acknowledged yet. */
size_t pool_records_held(const struct pool *p);
size_t pool_records_pending_dels(const struct pool *p);

/* Milliseconds of the wall clock (shared by the nodes: rate windows, registry
 * times). */
uint64_t pool_wall_ms(void);

#endif
