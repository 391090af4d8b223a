/* pool.c -- the node's Redis connection for the pool's shared state: options
 * from the configuration, up/down logging, fire-and-forget writes (see
 * pool.h). */
#include "pool/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "federation/policy.h"
#include "log.h"
#include "node.h"
#include "pool/policy_redis.h"
#include "pool/pool_replay.h"
#include "pool/registry.h"

uint64_t pool_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t policy_version_now(const struct node *n)
{
    return n->policy ? policy_version(n->policy->current(n->policy)) : 0;
}

static void on_state(void *arg, bool up)
{
    struct pool *p = arg;
    struct node *n = p->node;
    if (p->closing || up == p->up)
        return;
    p->up = up;
    uint64_t now = pool_wall_ms();
    if (up) {
        if (!p->ever_up)
            LOG_INFO("pool", "Redis at %s up: pool \"%s\" state shared",
                     redis_current_addr(p->redis), p->name);
        else
            LOG_WARN("pool",
                     "Redis at %s up again after %.1f s: catching up (policy, registry, this "
                     "node's records); pool state shared again",
                     redis_current_addr(p->redis), (double)(now - p->down_since_ms) / 1000.0);
        p->ever_up = true;
        p->down_since_ms = 0;
    } else {
        p->down_since_ms = now;
        p->last_down_log_ms = now;
        LOG_WARN("pool",
                 "Redis at %s down: relaying goes on with the cached policy (version %llu); "
                 "registry, dialog state and pool-wide throttling paused (local throttling)",
                 redis_current_addr(p->redis), (unsigned long long)policy_version_now(n));
    }
    for (int i = 0; i < p->n_listeners; i++)
        p->listeners[i].cb(p->listeners[i].arg, up);
}

static struct pool *pool_new(struct node *n, char *err, size_t errlen)
{
    const struct node_config *c = &n->cfg;
    struct pool *p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(c->redis_pool && *c->redis_pool ? c->redis_pool : "edgepool"))) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->node = n;
    struct redis_opts o;
    redis_config_opts(&c->redis, &o);
    o.connect_timeout_ms = 1000;
    o.command_timeout_ms = 1000;
    o.backoff_min_ms = 100;
    o.backoff_max_ms = 2000;
    char why[256] = "";
    p->redis = redis_new(n->base, &o, on_state, p, why, sizeof(why));
    if (!p->redis) {
        snprintf(err, errlen, "redis: %s", why[0] ? why : "cannot start the client");
        free(p->name);
        free(p);
        return NULL;
    }
    p->down_since_ms = pool_wall_ms();
    return p;
}

int pool_attach(struct node *n, void (*on_policy)(void *arg), char *err, size_t errlen)
{
    struct pool *p = pool_new(n, err, errlen);
    if (!p)
        return -1;
    char *snap = policy_redis_snapshot_path(&n->cfg, p->name);
    if (!snap) {
        snprintf(err, errlen, "out of memory");
        pool_free(p);
        return -1;
    }
    struct policy_redis_opts po = {.config_path = n->config_path,
                                   .snapshot = snap,
                                   .seed = n->cfg.redis_seed_policy,
                                   .node_id = n->cfg.node_id,
                                   .on_apply = on_policy,
                                   .arg = n};
    n->policy = policy_store_redis_new(p, &po, err, errlen);
    free(snap);
    if (!n->policy || !(p->registry = registry_new(p, err, errlen)) ||
        !(p->replay = pool_replay_new(p, err, errlen))) {
        pool_free(p);
        if (n->policy)
            n->policy->free(n->policy);
        n->policy = NULL;
        return -1;
    }
    n->pool = p;
    LOG_INFO("pool", "pool \"%s\": Redis %s%s%s", p->name,
             n->cfg.redis_sentinels ? "through the sentinels " : "at ",
             n->cfg.redis_sentinels ? n->cfg.redis_sentinels : n->cfg.redis_addr,
             n->cfg.redis_tls ? " (TLS)" : "");
    return 0;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    p->closing = true;
    redis_free(p->redis); /* pending callbacks run now, see closing and start nothing */
    if (p->registry)
        registry_free(p->registry);
    LOG_INFO("pool",
             "Redis: %llu write(s), %llu failed, %llu dropped while down; %llu record write(s) "
             "made while down, %llu replay(s) re-asserting %llu record(s) (%llu Redis had "
             "lost), %zu record(s) held at exit, %llu not kept (table full); %llu dialog "
             "lookup(s) (%llu not found, %llu failed); %llu pool-wide throttle check(s), %llu "
             "done locally",
             (unsigned long long)p->stats.writes, (unsigned long long)p->stats.write_errors,
             (unsigned long long)p->stats.writes_dropped,
             (unsigned long long)p->stats.records_queued, (unsigned long long)p->stats.replays,
             (unsigned long long)p->stats.records_replayed,
             (unsigned long long)p->stats.records_restored, pool_records_held(p),
             (unsigned long long)p->stats.records_over_cap, (unsigned long long)p->stats.lookups,
             (unsigned long long)p->stats.lookup_misses, (unsigned long long)p->stats.lookup_errors,
             (unsigned long long)p->stats.throttle_checks,
             (unsigned long long)p->stats.throttle_fallbacks);
    pool_replay_free(p->replay);
    free(p->name);
    free(p);
}

static bool same(const char *a, const char *b)
{
    return (!a || !*a) ? (!b || !*b) : (b && strcmp(a, b) == 0);
}

void pool_check_reload(const struct pool *p, const struct node_config *old,
                       const struct node_config *fresh)
{
    if (!node_config_has_redis(fresh)) {
        LOG_WARN("pool",
                 "reload: the redis group is gone; this node stays in pool \"%s\" until "
                 "it restarts",
                 p->name);
        return;
    }
    const struct {
        const char *key;
        bool changed;
    } what[] = {
        {"node.id", !same(old->node_id, fresh->node_id)},
        {"redis.addr", !same(old->redis_addr, fresh->redis_addr)},
        {"redis.sentinels", !same(old->redis_sentinels, fresh->redis_sentinels)},
        {"redis.master_name", !same(old->redis_master_name, fresh->redis_master_name)},
        {"redis.username", !same(old->redis_username, fresh->redis_username)},
        {"redis.password", !same(old->redis_password, fresh->redis_password)},
        {"redis.sentinel_username",
         !same(old->redis_sentinel_username, fresh->redis_sentinel_username)},
        {"redis.sentinel_password",
         !same(old->redis_sentinel_password, fresh->redis_sentinel_password)},
        {"redis.db", old->redis_db != fresh->redis_db},
        {"redis.tls", old->redis_tls != fresh->redis_tls},
        {"redis.tls_ca", !same(old->redis_tls_ca, fresh->redis_tls_ca)},
        {"redis.tls_cert", !same(old->redis_tls_cert, fresh->redis_tls_cert)},
        {"redis.tls_key", !same(old->redis_tls_key, fresh->redis_tls_key)},
        {"redis.tls_server_name", !same(old->redis_tls_server_name, fresh->redis_tls_server_name)},
        {"redis.pool", !same(old->redis_pool, fresh->redis_pool)},
        {"redis.snapshot", !same(old->redis_snapshot, fresh->redis_snapshot)},
    };
    const char *changed = NULL;
    for (size_t i = 0; i < sizeof(what) / sizeof(what[0]) && !changed; i++)
        if (what[i].changed)
            changed = what[i].key;
    if (changed)
        LOG_WARN("pool",
                 "reload: %s changed: the redis group and node.id take effect at the next "
                 "restart",
                 changed);
}

void pool_on_state(struct pool *p, void (*cb)(void *arg, bool up), void *arg)
{
    if (p->n_listeners < POOL_MAX_LISTENERS) {
        p->listeners[p->n_listeners].cb = cb;
        p->listeners[p->n_listeners].arg = arg;
        p->n_listeners++;
    }
}

bool pool_reply_failed(const redisReply *reply)
{
    return !reply || reply->type == REDIS_REPLY_ERROR;
}

void pool_write_done(void *arg, const redisReply *reply, const char *err)
{
    struct pool *p = arg;
    if (!pool_reply_failed(reply))
        return;
    if (!reply && err && strcmp(err, "redis down") == 0) {
        p->stats.writes_dropped++;
        return;
    }
    if (p->closing)
        return;
    p->stats.write_errors++;
    if (reply)
        LOG_DEBUG("pool", "Redis write failed: %s", reply->str);
}
