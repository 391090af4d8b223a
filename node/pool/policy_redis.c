/* policy_redis.c -- the policy store of a pool, on Redis (see policy_redis.h). */
#include "pool/policy_redis.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "federation/policy.h"
#include "log.h"
#include "node.h"
#include "pool/policy_snapshot.h"
#include "pool/policy_text.h"
#include "pool/pool.h"
#include "pool_keys.h"

struct redis_store {
    struct pool *pool;
    void (*on_apply)(void *arg);
    void *arg;
    char *config_path, *snapshot, *node_id;
    char key[300]; /* ep:<pool>:policy, the hash and the channel */

    const struct policy *cur;
    char *cur_text;     /* the text cur was built from (NULL: the configuration file's) */
    bool from_redis;    /* cur is a policy of the pool (from Redis, or its snapshot) */
    const char *source; /* "snapshot", "configuration file", "Redis" (static) */

    char *seed_text; /* the configuration file's policy body, or NULL */
    bool reading, read_again, seeding, restoring, empty_logged;
    uint64_t seed_reconnects;
    uint64_t refused_version; /* the latest version refused (not read again by the poll) */
    bool polling;
    struct event *poll; /* every second: the version, in case a notification was lost */
};

static void refresh(struct redis_store *s);

/* ---- applying ---- */

static void write_snapshot(struct redis_store *s)
{
    char err[512];
    if (policy_snapshot_write(s->snapshot, s->pool->name, s->node_id, policy_version(s->cur),
                              s->cur_text, pool_wall_ms(), err, sizeof(err)) < 0)
        LOG_WARN("policy",
                 "policy snapshot not saved (a restart while Redis is down would use "
                 "an older policy): %s",
                 err);
}

static void apply(struct redis_store *s, uint64_t version, const char *text, uint64_t updated_ms,
                  const char *updated_by)
{
    if (s->from_redis && s->cur_text && version == policy_version(s->cur) &&
        strcmp(text, s->cur_text) == 0) {
        if (strcmp(s->source, "Redis") != 0) {
            LOG_INFO("policy", "policy version %llu in Redis: the %s's, already applied",
                     (unsigned long long)version, s->source);
            s->source = "Redis";
        }
        return;
    }
    char err[512];
    struct policy *p = policy_from_text(text, version, err, sizeof(err));
    if (!p) {
        s->refused_version = version;
        LOG_ERROR("policy",
                  "policy version %llu in Redis (%s%s%s) refused, keeping version %llu: %s",
                  (unsigned long long)version, s->key, updated_by ? ", written by " : "",
                  updated_by ? updated_by : "", (unsigned long long)policy_version(s->cur), err);
        return;
    }
    char *copy = strdup(text);
    if (!copy) {
        policy_free(p);
        LOG_ERROR("policy", "policy version %llu: out of memory, keeping version %llu",
                  (unsigned long long)version, (unsigned long long)policy_version(s->cur));
        return;
    }
    uint64_t old = policy_version(s->cur);
    policy_free(s->cur);
    free(s->cur_text);
    s->cur = p;
    s->cur_text = copy;
    s->from_redis = true;
    s->source = "Redis";
    uint64_t now = pool_wall_ms();
    char lag[96] = "";
    if (updated_ms && now >= updated_ms)
        snprintf(lag, sizeof(lag), ", %llu ms after it was written",
                 (unsigned long long)(now - updated_ms));
    LOG_INFO("policy", "policy version %llu applied from Redis (was %llu%s%s%s)",
             (unsigned long long)version, (unsigned long long)old,
             updated_by ? ", written by " : "", updated_by ? updated_by : "", lag);
    if (s->on_apply)
        s->on_apply(s->arg);
    write_snapshot(s);
}

/* ---- writing an empty pool's policy (WATCH/MULTI/EXEC) ----
 * A new pool is seeded from the configuration file; a pool whose Redis lost
 * its data (restarted without persistence) gets back the pool policy this
 * node runs, version and all. Of several nodes trying at once, one writes:
 * the others' EXEC fails on the WATCH and they read what it wrote. */

static void seed_exec_done(void *arg, const redisReply *reply, const char *err)
{
    struct redis_store *s = arg;
    bool restore = s->restoring;
    s->seeding = s->restoring = false;
    if (s->pool->closing)
        return;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        if (restore) {
            LOG_WARN("policy",
                     "%s was empty (Redis restarted without its data?): restored "
                     "policy version %llu from this node",
                     s->key, (unsigned long long)policy_version(s->cur));
        } else {
            LOG_INFO("policy", "the pool had no policy: seeded %s (version 1) from %s", s->key,
                     s->config_path);
        }
        free(s->seed_text);
        s->seed_text = NULL;
        redis_command(s->pool->redis, NULL, NULL, "PUBLISH %s %llu", s->key,
                      restore ? (unsigned long long)policy_version(s->cur) : 1ULL);
    } else if (reply && reply->type == REDIS_REPLY_NIL) {
        LOG_INFO("policy", "another node wrote the pool's policy first: reading it");
    } else {
        LOG_WARN("policy", "writing %s failed: %s", s->key,
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                 : err                                     ? err
                                                           : "?");
        return; /* again at the next reconnect or SIGHUP */
    }
    refresh(s);
}

static void seed_check_done(void *arg, const redisReply *reply, const char *err)
{
    struct redis_store *s = arg;
    struct redis *r = s->pool->redis;
    if (s->pool->closing) {
        s->seeding = s->restoring = false;
        return;
    }
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_INTEGER) {
        s->seeding = s->restoring = false;
        return;
    }
    struct redis_stats st;
    redis_get_stats(r, &st);
    if (reply->integer == 1 || st.reconnects != s->seed_reconnects) {
        /* someone wrote it meanwhile, or the WATCH was on another connection */
        s->seeding = s->restoring = false;
        redis_command(r, NULL, NULL, "UNWATCH");
        refresh(s);
        return;
    }
    char by[300], ms[32], ver[24];
    const char *text;
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)pool_wall_ms());
    if (s->restoring) {
        text = s->cur_text;
        snprintf(ver, sizeof(ver), "%llu", (unsigned long long)policy_version(s->cur));
        snprintf(by, sizeof(by), "edge-node %s (restored its copy)", s->node_id);
    } else {
        char why[512];
        struct policy *p = policy_from_text(s->seed_text, 1, why, sizeof(why));
        if (!p) {
            s->seeding = false;
            LOG_ERROR("policy", "not seeding the pool's policy from %s: %s", s->config_path, why);
            free(s->seed_text);
            s->seed_text = NULL;
            redis_command(r, NULL, NULL, "UNWATCH");
            return;
        }
        policy_free(p);
        text = s->seed_text;
        snprintf(ver, sizeof(ver), "1");
        snprintf(by, sizeof(by), "edge-node %s (seeded from %s)", s->node_id, s->config_path);
    }
    redis_command(r, NULL, NULL, "MULTI");
    redis_command(r, NULL, NULL, "HSET %s version %s text %s updated_ms %s updated_by %s", s->key,
                  ver, text, ms, by);
    redis_command(r, seed_exec_done, s, "EXEC");
}

/* Write an empty pool's policy: this node's pool policy (restore) or the
 * configuration's seed. */
static void seed(struct redis_store *s, bool restore)
{
    struct redis *r = s->pool->redis;
    struct redis_stats st;
    redis_get_stats(r, &st);
    s->seed_reconnects = st.reconnects;
    s->seeding = true;
    s->restoring = restore;
    redis_command(r, NULL, NULL, "WATCH %s", s->key);
    if (redis_command(r, seed_check_done, s, "HEXISTS %s text", s->key) < 0)
        s->seeding = s->restoring = false;
}

/* ---- reading ---- */

static void read_done(void *arg, const redisReply *reply, const char *err)
{
    struct redis_store *s = arg;
    s->reading = false;
    if (s->pool->closing)
        return;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_ARRAY) {
        if (reply || (err && strcmp(err, "redis down") != 0))
            LOG_WARN("policy", "cannot read %s: %s; keeping policy version %llu", s->key,
                     reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                     : err                                     ? err
                                                               : "?",
                     (unsigned long long)policy_version(s->cur));
        s->read_again = false; /* the next reconnect reads it again */
        return;
    }
    const char *text = redis_hash_get(reply, "text");
    const char *ver = redis_hash_get(reply, "version");
    const char *upd = redis_hash_get(reply, "updated_ms");
    const char *by = redis_hash_get(reply, "updated_by");
    if (!text) {
        if (s->from_redis && s->cur_text && !s->seeding) {
            seed(s, true);
        } else if (s->seed_text && !s->seeding) {
            seed(s, false);
        } else if (!s->seeding && !s->empty_logged) {
            LOG_WARN("policy",
                     "the pool has no policy in Redis (%s): running on the %s's, "
                     "version %llu, until edgectl writes one",
                     s->key, s->source, (unsigned long long)policy_version(s->cur));
            s->empty_logged = true;
        }
    } else {
        char *end = NULL;
        unsigned long long v = ver ? strtoull(ver, &end, 10) : 0;
        if (!ver || end == ver || *end)
            LOG_ERROR("policy", "%s has no valid version (\"%s\"): ignored, keeping version %llu",
                      s->key, ver ? ver : "", (unsigned long long)policy_version(s->cur));
        else
            apply(s, v, text, upd ? strtoull(upd, NULL, 10) : 0, by);
    }
    if (s->read_again) {
        s->read_again = false;
        refresh(s);
    }
}

static void refresh(struct redis_store *s)
{
    if (s->pool->closing || !s->pool->up)
        return;
    if (s->reading || s->seeding) {
        s->read_again = true;
        return;
    }
    s->reading = true;
    if (redis_command(s->pool->redis, read_done, s, "HGETALL %s", s->key) < 0)
        s->reading = false;
}

static void on_message(void *arg, const char *channel, const char *payload, size_t len)
{
    struct redis_store *s = arg;
    LOG_DEBUG("policy", "change notified on %s (version %.*s): reading it", channel,
              (int)(len > 20 ? 20 : len), payload);
    refresh(s);
}

/* The version poll: a notification lost while the subscription was
 * reconnecting would otherwise leave this node behind until the next one. */
static void poll_done(void *arg, const redisReply *reply, const char *err)
{
    struct redis_store *s = arg;
    s->polling = false;
    if (s->pool->closing || pool_reply_failed(reply))
        return;
    if (reply->type == REDIS_REPLY_NIL) {
        if ((s->seed_text || s->from_redis) && !s->seeding)
            refresh(s); /* emptied: written back by read_done */
        return;
    }
    if (reply->type != REDIS_REPLY_STRING)
        return;
    unsigned long long v = strtoull(reply->str, NULL, 10);
    if ((!s->from_redis || v != policy_version(s->cur)) && v != s->refused_version) {
        LOG_INFO("policy",
                 "policy version %llu in Redis, %llu here: no notification came, "
                 "reading it",
                 v, (unsigned long long)policy_version(s->cur));
        refresh(s);
    }
}

static void poll_tick(evutil_socket_t fd, short what, void *arg)
{
    struct redis_store *s = arg;
    if (s->pool->closing || !s->pool->up || s->polling || s->reading || s->seeding)
        return;
    s->polling = true;
    if (redis_command(s->pool->redis, poll_done, s, "HGET %s version", s->key) < 0)
        s->polling = false;
}

static void on_state(void *arg, bool up)
{
    if (up)
        refresh(arg); /* catch up with whatever changed while we were away */
}

/* ---- the store interface ---- */

static const struct policy *rs_current(struct policy_store *st)
{
    return ((struct redis_store *)st->impl)->cur;
}

static int rs_reload(struct policy_store *st, char *err, size_t errlen)
{
    struct redis_store *s = st->impl;
    if (!s->pool->up) {
        LOG_WARN("policy",
                 "reload: Redis is down, keeping policy version %llu (read again when "
                 "Redis returns)",
                 (unsigned long long)policy_version(s->cur));
        return 0;
    }
    LOG_INFO("policy", "reload: reading %s", s->key);
    refresh(s);
    return 0;
}

static void rs_free(struct policy_store *st)
{
    if (!st)
        return;
    struct redis_store *s = st->impl;
    if (s->poll)
        event_free(s->poll);
    policy_free(s->cur);
    free(s->cur_text);
    free(s->seed_text);
    free(s->config_path);
    free(s->snapshot);
    free(s->node_id);
    free(s);
    free(st);
}

char *policy_redis_snapshot_path(const struct node_config *c, const char *pool)
{
    if (c->redis_snapshot && *c->redis_snapshot)
        return strdup(c->redis_snapshot);
    char buf[1024];
    snprintf(buf, sizeof(buf), "/var/lib/edgepool/%s-%s.policy", pool, c->node_id);
    return strdup(buf);
}

/* The first policy: the snapshot, else the configuration file's. */
static int load_first(struct redis_store *s, char *err, size_t errlen)
{
    uint64_t version;
    char *text = NULL, why[512] = "";
    if (access(s->snapshot, F_OK) == 0 &&
        policy_snapshot_read(s->snapshot, &version, &text, why, sizeof(why)) == 0) {
        struct policy *p = policy_from_text(text, version, why, sizeof(why));
        if (p) {
            s->cur = p;
            s->cur_text = text;
            s->from_redis = true;
            s->source = "snapshot";
            LOG_INFO("policy", "policy version %llu from the snapshot %s, until Redis answers",
                     (unsigned long long)version, s->snapshot);
            return 0;
        }
        free(text);
        LOG_WARN("policy", "policy snapshot %s unusable (%s): starting from %s", s->snapshot, why,
                 s->config_path ? s->config_path : "the embedded default");
    } else if (access(s->snapshot, F_OK) == 0) {
        LOG_WARN("policy", "policy snapshot unusable (%s): starting from %s", why,
                 s->config_path ? s->config_path : "the embedded default");
    } else {
        LOG_INFO("policy", "no policy snapshot yet (%s): starting from %s until Redis answers",
                 s->snapshot, s->config_path ? s->config_path : "the embedded default");
    }
    struct policy_store *fs = policy_store_file_new(s->config_path, err, errlen);
    if (!fs)
        return -1;
    s->cur = policy_ref(fs->current(fs));
    fs->free(fs);
    s->source = "configuration file";
    return 0;
}

struct policy_store *policy_store_redis_new(struct pool *pool, const struct policy_redis_opts *o,
                                            char *err, size_t errlen)
{
    struct policy_store *st = calloc(1, sizeof(*st));
    struct redis_store *s = calloc(1, sizeof(*s));
    if (!st || !s || !(s->snapshot = strdup(o->snapshot)) || !(s->node_id = strdup(o->node_id)) ||
        (o->config_path && !(s->config_path = strdup(o->config_path)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->pool = pool;
    s->on_apply = o->on_apply;
    s->arg = o->arg;
    snprintf(s->key, sizeof(s->key), EP_KEY_POLICY, pool->name);
    if (o->seed && o->config_path &&
        policy_text_of_file(o->config_path, &s->seed_text, err, errlen) < 0)
        goto fail;
    if (load_first(s, err, errlen) < 0)
        goto fail;
    s->poll = event_new(pool->node->base, -1, EV_PERSIST, poll_tick, s);
    struct timeval one = {1, 0};
    if (!s->poll || event_add(s->poll, &one) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    char chan[300];
    snprintf(chan, sizeof(chan), EP_CHAN_POLICY, pool->name);
    if (redis_subscribe(pool->redis, chan, on_message, s) < 0) {
        snprintf(err, errlen, "cannot subscribe to %s", chan);
        goto fail;
    }
    pool_on_state(pool, on_state, s);
    *st = (struct policy_store){rs_current, rs_reload, rs_free, s};
    if (pool->up)
        refresh(s);
    return st;
fail:
    if (s) {
        if (s->poll)
            event_free(s->poll);
        policy_free(s->cur);
        free(s->cur_text);
        free(s->seed_text);
        free(s->config_path);
        free(s->snapshot);
        free(s->node_id);
        free(s);
    }
    free(st);
    return NULL;
}
