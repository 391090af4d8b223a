/* gateway_subs.c -- the gateway's presence subscriptions, kept where every
 * node of the pool finds them (see gateway_int.h for what one is).
 *
 * In Redis (shared/pool_keys.h): one hash per subscription
 * (ep:<pool>:xsub:<call-id>, TTL its Expires + 60 s), a set per (direction,
 * internal user, XMPP user) naming its subscriptions (ep:<pool>:xpair:...),
 * and one sorted set of due times (ep:<pool>:xdue: the refresh of our
 * SUBSCRIBEs, the expiry of theirs). Every node claims due entries once a
 * second with a one-key Lua script that pushes them GW_CLAIM_LEASE_MS ahead,
 * so exactly one node acts on each, and a node that dies holding one only
 * delays it by the lease. Reads go to Redis when it is up (the pool's truth:
 * another node may have changed the subscription), and each node keeps a
 * copy of what it saw or wrote, used alone when there is no pool or Redis is
 * down. No command touches two keys (Redis Cluster holds). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool_keys.h"
#include "xmpp/gateway_int.h"

/* this node's copy, with when it next needs acting on (no pool / Redis down) */
struct mem_sub {
    struct gw_sub s;
    uint64_t due_ms; /* wall clock; 0: nothing due (trying) */
};

static const char claim_script[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 50) "
    "for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end "
    "return ids";

static const char cseq_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HINCRBY', KEYS[1], 'cseq', 1) "
    "end return 0";

static bool pool_usable(const struct node *n)
{
    return n->pool && n->pool->up && !n->pool->closing;
}

/* When s next needs acting on: our SUBSCRIBE's refresh a third of its
 * remaining life before the end (2 s to 10 min), their SUBSCRIBE's expiry.
 * 0 while our SUBSCRIBE has no answer yet. */
static uint64_t due_of(const struct gw_sub *s, uint64_t now)
{
    if (s->dir == GW_SUB_SIP)
        return s->expires_ms;
    if (s->state == GW_SUB_TRYING)
        return 0;
    uint64_t left = s->expires_ms > now ? s->expires_ms - now : 0;
    uint64_t margin = left / 3;
    if (margin < 2000)
        margin = 2000;
    if (margin > 600000)
        margin = 600000;
    return s->expires_ms > margin ? s->expires_ms - margin : now;
}

static void key_sub(const struct node *n, const char *call_id, char *out, size_t cap)
{
    snprintf(out, cap, EP_KEY_XSUB, n->pool->name, call_id);
}

static void key_pair(const struct node *n, enum gw_sub_dir dir, const char *sip, const char *xmpp,
                     char *out, size_t cap)
{
    snprintf(out, cap, EP_KEY_XPAIR, n->pool->name, (char)dir, sip, xmpp);
}

/* ---- this node's copies ---- */

static void mem_put(struct node *n, const struct gw_sub *s)
{
    struct xmpp_gateway *g = n->gateway;
    struct mem_sub *m = hmap_get(&g->subs, s->call_id, strlen(s->call_id));
    if (!m) {
        m = malloc(sizeof(*m));
        if (!m || hmap_put(&g->subs, s->call_id, strlen(s->call_id), m) < 0) {
            free(m);
            return;
        }
    }
    m->s = *s;
    m->due_ms = due_of(s, pool_wall_ms());
}

static void mem_del(struct node *n, const char *call_id)
{
    free(hmap_del(&n->gateway->subs, call_id, strlen(call_id)));
}

/* ---- writing ---- */

void gw_sub_save(struct node *n, const struct gw_sub *s)
{
    mem_put(n, s);
    if (!n->pool || n->pool->closing)
        return;
    struct pool *p = n->pool;
    uint64_t now = pool_wall_ms();
    char key[400], pair[1300], due[24], cseq[16], exp[24], ttl[16];
    key_sub(n, s->call_id, key, sizeof(key));
    key_pair(n, s->dir, s->sip, s->xmpp, pair, sizeof(pair));
    long t = s->expires_ms > now ? (long)((s->expires_ms - now) / 1000) + 60 : 60;
    if (s->state == GW_SUB_TRYING && t < 120)
        t = 120;
    snprintf(ttl, sizeof(ttl), "%ld", t);
    snprintf(cseq, sizeof(cseq), "%" PRIu32, s->cseq);
    snprintf(exp, sizeof(exp), "%" PRIu64, s->expires_ms);
    char dir[2] = {(char)s->dir, 0}, state[2] = {(char)('0' + s->state), 0};
    char open[2] = {s->pres.open ? '1' : '0', 0}, show[2] = {(char)('0' + s->pres.show), 0};
    const char *argv[] = {"HSET",       key,
                          "dir",        dir,
                          "state",      state,
                          "sip",        s->sip,
                          "xmpp",       s->xmpp,
                          "ltag",       s->ltag,
                          "rtag",       s->rtag,
                          "target",     s->target,
                          "route",      s->route,
                          "expires_ms", exp,
                          "told",       s->told ? "1" : "0",
                          "have_pres",  s->have_pres ? "1" : "0",
                          "p_open",     open,
                          "p_show",     show,
                          "p_note",     s->pres.note,
                          "node",       n->cfg.node_id};
    p->stats.writes++;
    redis_command_argv(p->redis, pool_write_done, p, (int)(sizeof(argv) / sizeof(argv[0])), argv,
                       NULL);
    pool_write(p, "HSETNX %s cseq %s", key, cseq);
    pool_write(p, "EXPIRE %s %s", key, ttl);
    pool_write(p, "SADD %s %s", pair, s->call_id);
    pool_write(p, "EXPIRE %s %s", pair, ttl);
    uint64_t d = due_of(s, now);
    if (d) {
        snprintf(due, sizeof(due), "%" PRIu64, d);
        char zkey[200];
        snprintf(zkey, sizeof(zkey), EP_KEY_XDUE, p->name);
        pool_write(p, "ZADD %s %s %s", zkey, due, s->call_id);
    }
}

void gw_sub_delete(struct node *n, const struct gw_sub *s)
{
    mem_del(n, s->call_id);
    if (!n->pool || n->pool->closing)
        return;
    struct pool *p = n->pool;
    char key[400], pair[1300], zkey[200];
    key_sub(n, s->call_id, key, sizeof(key));
    key_pair(n, s->dir, s->sip, s->xmpp, pair, sizeof(pair));
    snprintf(zkey, sizeof(zkey), EP_KEY_XDUE, p->name);
    pool_write(p, "DEL %s", key);
    pool_write(p, "SREM %s %s", pair, s->call_id);
    pool_write(p, "ZREM %s %s", zkey, s->call_id);
}

struct cseq_ctx {
    struct node *node;
    struct gw_sub s;
    gw_cseq_fn cb;
    void *arg;
};

/* The CSeq this node's copy gives (no pool, or Redis failing). */
static void cseq_local(struct node *n, struct gw_sub *s)
{
    struct mem_sub *m = hmap_get(&n->gateway->subs, s->call_id, strlen(s->call_id));
    if (m && m->s.cseq > s->cseq)
        s->cseq = m->s.cseq;
    s->cseq++;
    if (m)
        m->s.cseq = s->cseq;
}

static bool gone(const struct node *n);

static void cseq_done(void *arg, const redisReply *reply, const char *err)
{
    struct cseq_ctx *x = arg;
    struct node *n = x->node;
    if (gone(n)) {
        x->cb(n, x->arg, NULL);
        free(x);
        return;
    }
    if (!pool_reply_failed(reply) && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        x->s.cseq = (uint32_t)reply->integer;
        struct mem_sub *m = hmap_get(&n->gateway->subs, x->s.call_id, strlen(x->s.call_id));
        if (m)
            m->s.cseq = x->s.cseq;
    } else {
        cseq_local(n, &x->s);
    }
    x->cb(n, x->arg, &x->s);
    free(x);
}

void gw_sub_next_cseq(struct node *n, const struct gw_sub *s, gw_cseq_fn cb, void *arg)
{
    struct cseq_ctx *x = malloc(sizeof(*x));
    if (!x) {
        cb(n, arg, NULL);
        return;
    }
    *x = (struct cseq_ctx){n, *s, cb, arg};
    if (pool_usable(n)) {
        char key[400];
        key_sub(n, s->call_id, key, sizeof(key));
        /* not on a record another node just deleted: that would leave a
         * stray key without a TTL */
        if (redis_command(n->pool->redis, cseq_done, x, "EVAL %s 1 %s", cseq_script, key) == 0)
            return;
    }
    cseq_local(n, &x->s);
    cb(n, arg, &x->s);
    free(x);
}

/* ---- reading ---- */

/* A subscription from an HGETALL reply; false when empty or unusable. */
static bool from_reply(const redisReply *r, const char *call_id, struct gw_sub *s)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return false;
    memset(s, 0, sizeof(*s));
    snprintf(s->call_id, sizeof(s->call_id), "%s", call_id);
    gw_hash_str(r, "sip", s->sip, sizeof(s->sip));
    gw_hash_str(r, "xmpp", s->xmpp, sizeof(s->xmpp));
    gw_hash_str(r, "ltag", s->ltag, sizeof(s->ltag));
    gw_hash_str(r, "rtag", s->rtag, sizeof(s->rtag));
    gw_hash_str(r, "target", s->target, sizeof(s->target));
    gw_hash_str(r, "route", s->route, sizeof(s->route));
    gw_hash_str(r, "p_note", s->pres.note, sizeof(s->pres.note));
    const char *v;
    if ((v = redis_hash_get(r, "dir")))
        s->dir = (enum gw_sub_dir)v[0];
    if ((v = redis_hash_get(r, "state")))
        s->state = (enum gw_sub_state)(v[0] - '0');
    if ((v = redis_hash_get(r, "cseq")))
        s->cseq = (uint32_t)strtoul(v, NULL, 10);
    if ((v = redis_hash_get(r, "expires_ms")))
        s->expires_ms = strtoull(v, NULL, 10);
    if ((v = redis_hash_get(r, "told")))
        s->told = v[0] == '1';
    if ((v = redis_hash_get(r, "have_pres")))
        s->have_pres = v[0] == '1';
    if ((v = redis_hash_get(r, "p_open")))
        s->pres.open = v[0] == '1';
    if ((v = redis_hash_get(r, "p_show")))
        s->pres.show = (enum gw_show)(v[0] >= '0' && v[0] <= '4' ? v[0] - '0' : 0);
    return (s->dir == GW_SUB_XMPP || s->dir == GW_SUB_SIP) && s->sip[0] && s->xmpp[0] &&
           s->state <= GW_SUB_ACTIVE;
}

struct get_ctx {
    struct node *node;
    char call_id[256];
    gw_sub_fn cb;
    void *arg;
};

static void get_mem(struct node *n, const char *call_id, gw_sub_fn cb, void *arg)
{
    struct mem_sub *m = hmap_get(&n->gateway->subs, call_id, strlen(call_id));
    if (!m) {
        cb(n, arg, NULL);
        return;
    }
    struct gw_sub *copy = malloc(sizeof(*copy));
    if (!copy) {
        cb(n, arg, NULL);
        return;
    }
    *copy = m->s;
    cb(n, arg, copy);
    free(copy);
}

static bool gone(const struct node *n)
{
    return !n->gateway || n->gateway->closing || (n->pool && n->pool->closing);
}

static void get_done(void *arg, const redisReply *reply, const char *err)
{
    struct get_ctx *x = arg;
    struct node *n = x->node;
    if (gone(n)) {
        x->cb(n, x->arg, NULL); /* the callback frees its argument */
        free(x);
        return;
    }
    if (pool_reply_failed(reply)) { /* Redis went away: what this node knows */
        get_mem(n, x->call_id, x->cb, x->arg);
        free(x);
        return;
    }
    struct gw_sub *s = malloc(sizeof(*s));
    if (s && from_reply(reply, x->call_id, s)) {
        mem_put(n, s);
        x->cb(n, x->arg, s);
    } else {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0)
            mem_del(n, x->call_id); /* gone from the pool: ended by another node */
        x->cb(n, x->arg, NULL);
    }
    free(s);
    free(x);
}

void gw_sub_get(struct node *n, const char *call_id, gw_sub_fn cb, void *arg)
{
    if (!pool_usable(n)) {
        get_mem(n, call_id, cb, arg);
        return;
    }
    struct get_ctx *x = malloc(sizeof(*x));
    if (!x) {
        get_mem(n, call_id, cb, arg);
        return;
    }
    *x = (struct get_ctx){n, "", cb, arg};
    snprintf(x->call_id, sizeof(x->call_id), "%s", call_id);
    char key[400];
    key_sub(n, call_id, key, sizeof(key));
    if (redis_command(n->pool->redis, get_done, x, "HGETALL %s", key) < 0) {
        free(x);
        get_mem(n, call_id, cb, arg);
    }
}

/* ---- finding by (direction, internal user, XMPP user) ---- */

struct find_ctx {
    struct node *node;
    enum gw_sub_dir dir;
    char sip[GW_ADDR_MAX], xmpp[GW_ADDR_MAX];
    gw_subs_fn cb;
    void *arg;
    size_t waiting;    /* HGETALL replies still to come */
    struct gw_sub **v; /* found */
    size_t count, cap;
    bool failed;
};

struct find_one {
    struct find_ctx *f;
    char call_id[256];
};

static bool matches(const struct gw_sub *s, enum gw_sub_dir dir, const char *sip, const char *xmpp)
{
    return s->dir == dir && strcmp(s->sip, sip) == 0 && strcmp(s->xmpp, xmpp) == 0;
}

static void find_mem(struct node *n, enum gw_sub_dir dir, const char *sip, const char *xmpp,
                     gw_subs_fn cb, void *arg)
{
    struct xmpp_gateway *g = n->gateway;
    struct gw_sub **v = calloc(g->subs.count + 1, sizeof(*v));
    size_t count = 0;
    for (size_t b = 0; v && b < g->subs.nbuckets; b++)
        for (struct hmap_entry *e = g->subs.buckets[b]; e; e = e->next) {
            struct mem_sub *m = e->value;
            if (!matches(&m->s, dir, sip, xmpp) || !(v[count] = malloc(sizeof(struct gw_sub))))
                continue;
            *v[count++] = m->s;
        }
    cb(n, arg, v, count);
    for (size_t i = 0; i < count; i++)
        free(v[i]);
    free(v);
}

static void find_finish(struct find_ctx *f)
{
    struct node *n = f->node;
    if (gone(n)) {
        f->cb(n, f->arg, NULL, 0);
    } else if (f->failed) {
        find_mem(n, f->dir, f->sip, f->xmpp, f->cb, f->arg);
    } else {
        f->cb(n, f->arg, f->v, f->count);
    }
    for (size_t i = 0; f->v && i < f->count; i++) /* nothing is counted without f->v */
        free(f->v[i]);
    free(f->v);
    free(f);
}

static void find_one_done(void *arg, const redisReply *reply, const char *err)
{
    struct find_one *o = arg;
    struct find_ctx *f = o->f;
    struct node *n = f->node;
    if (pool_reply_failed(reply)) {
        f->failed = true;
    } else if (!gone(n)) {
        struct gw_sub s;
        if (from_reply(reply, o->call_id, &s) && matches(&s, f->dir, f->sip, f->xmpp) &&
            f->count < f->cap && (f->v[f->count] = malloc(sizeof(s)))) {
            *f->v[f->count++] = s;
            mem_put(n, &s);
        } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0) {
            char pair[1300]; /* a member whose hash expired or was deleted */
            key_pair(n, f->dir, f->sip, f->xmpp, pair, sizeof(pair));
            pool_write(n->pool, "SREM %s %s", pair, o->call_id);
            mem_del(n, o->call_id);
        }
    }
    free(o);
    if (--f->waiting == 0)
        find_finish(f);
}

static void find_members_done(void *arg, const redisReply *reply, const char *err)
{
    struct find_ctx *f = arg;
    struct node *n = f->node;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_ARRAY || gone(n)) {
        f->failed = !gone(n);
        find_finish(f);
        return;
    }
    size_t k = reply->elements > 64 ? 64 : reply->elements;
    f->v = calloc(k + 1, sizeof(*f->v));
    f->cap = k;
    if (!f->v || k == 0) {
        find_finish(f);
        return;
    }
    f->waiting = 1; /* held while sending, so no reply finishes f early */
    for (size_t i = 0; i < k; i++) {
        const redisReply *e = reply->element[i];
        struct find_one *o = e->type == REDIS_REPLY_STRING ? malloc(sizeof(*o)) : NULL;
        if (!o)
            continue;
        o->f = f;
        snprintf(o->call_id, sizeof(o->call_id), "%s", e->str);
        char key[400];
        key_sub(n, o->call_id, key, sizeof(key));
        f->waiting++;
        if (redis_command(n->pool->redis, find_one_done, o, "HGETALL %s", key) < 0) {
            f->waiting--;
            free(o);
        }
    }
    if (--f->waiting == 0)
        find_finish(f);
}

void gw_sub_find(struct node *n, enum gw_sub_dir dir, const char *sip, const char *xmpp,
                 gw_subs_fn cb, void *arg)
{
    if (!pool_usable(n)) {
        find_mem(n, dir, sip, xmpp, cb, arg);
        return;
    }
    struct find_ctx *f = calloc(1, sizeof(*f));
    if (!f) {
        find_mem(n, dir, sip, xmpp, cb, arg);
        return;
    }
    f->node = n;
    f->dir = dir;
    snprintf(f->sip, sizeof(f->sip), "%s", sip);
    snprintf(f->xmpp, sizeof(f->xmpp), "%s", xmpp);
    f->cb = cb;
    f->arg = arg;
    char pair[1300];
    key_pair(n, dir, sip, xmpp, pair, sizeof(pair));
    if (redis_command(n->pool->redis, find_members_done, f, "SMEMBERS %s", pair) < 0) {
        free(f);
        find_mem(n, dir, sip, xmpp, cb, arg);
    }
}

/* ---- the tick: what is due ---- */

static void due_cb(struct node *n, void *arg, struct gw_sub *s)
{
    if (s && !gone(n))
        gw_presence_due(n, s);
}

static void claim_done(void *arg, const redisReply *reply, const char *err)
{
    struct node *n = arg;
    if (gone(n))
        return;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_ARRAY) {
        LOG_DEBUG("xmpp-gw", "claiming due subscriptions failed: %s",
                  reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                  : err                                     ? err
                                                            : "?");
        return;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        LOG_DEBUG("xmpp-gw", "subscription %s due: claimed", e->str);
        gw_sub_get(n, e->str, due_cb, NULL);
    }
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    struct xmpp_gateway *g = n->gateway;
    uint64_t now = pool_wall_ms();
    gw_sess_tick(n); /* IM sessions (gateway_session.c): idle copies forgotten */
    if (pool_usable(n)) {
        char zkey[200], a1[24], a2[24];
        snprintf(zkey, sizeof(zkey), EP_KEY_XDUE, n->pool->name);
        snprintf(a1, sizeof(a1), "%" PRIu64, now);
        snprintf(a2, sizeof(a2), "%" PRIu64, now + GW_CLAIM_LEASE_MS);
        redis_command(n->pool->redis, claim_done, n, "EVAL %s 1 %s %s %s", claim_script, zkey, a1,
                      a2);
    }
    /* this node's copies: act on them alone without Redis; forget stale ones */
    struct gw_sub *due[64];
    size_t k = 0;
    char *drop[64];
    size_t nd = 0;
    for (size_t b = 0; b < g->subs.nbuckets; b++)
        for (struct hmap_entry *e = g->subs.buckets[b]; e; e = e->next) {
            struct mem_sub *m = e->value;
            if (m->s.expires_ms && m->s.expires_ms + 60000 < now && nd < 64) {
                drop[nd++] = e->key;
                continue;
            }
            if (pool_usable(n) || !m->due_ms || m->due_ms > now || k >= 64)
                continue;
            m->due_ms = now + GW_CLAIM_LEASE_MS;
            if ((due[k] = malloc(sizeof(struct gw_sub))))
                *due[k++] = m->s;
        }
    for (size_t i = 0; i < nd; i++) {
        char id[256];
        snprintf(id, sizeof(id), "%s", drop[i]);
        mem_del(n, id);
    }
    for (size_t i = 0; i < k; i++) {
        if (!gone(n))
            gw_presence_due(n, due[i]);
        free(due[i]);
    }
}

int gw_subs_start(struct node *n)
{
    struct xmpp_gateway *g = n->gateway;
    g->tick = event_new(n->base, -1, EV_PERSIST, tick, n);
    struct timeval one = {1, 0};
    return g->tick && event_add(g->tick, &one) == 0 ? 0 : -1;
}

static void free_mem(void *arg, const char *key, void *value)
{
    free(value);
}

void gw_subs_free_all(struct xmpp_gateway *g)
{
    hmap_each(&g->subs, free_mem, NULL);
}
