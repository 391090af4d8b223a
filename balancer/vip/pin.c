/* pin.c -- source address -> node pins: a local table written behind to
 * Redis (ep:<pool>:pin:<source-ip>, idle TTL), see pin.h.
 *
 * Two Lua scripts keep every balancer in agreement with one key per source
 * (Redis Cluster friendly): LOOKUP returns the stored node or stores the
 * proposed one; SYNC refreshes the TTL of our pin, stores it when the key is
 * gone, replaces the node we saw fail (compare-and-set), and otherwise
 * returns whichever node another balancer pinned, which we adopt. */
#include "vip/pin.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "hmap.h"
#include "log.h"
#include "pool_keys.h"
#include "redis.h"

enum pin_state {
    PIN_EMPTY,  /* no node yet */
    PIN_LOOKUP, /* asking Redis; waiters queued */
    PIN_SET,    /* node known */
};

struct pin {
    struct pin_table *t; /* NULL: detached at pin_table_free, freed by its last reply */
    struct pin_waiter *waiters, **wtail;
    uint64_t last_used_ms;   /* last connection opened/closed, or now while some are open */
    uint64_t synced_ms;      /* Redis last agreed (LOOKUP or SYNC answered); 0: never */
    uint64_t refused_log_ms; /* per-source limit: last log line */
    uint64_t refused;        /* refused since then */
    unsigned open_conns;
    unsigned inflight; /* Redis commands awaiting their reply */
    enum pin_state state;
    bool dirty; /* a local choice Redis has not agreed to yet */
    uint8_t alen;
    unsigned char addr[16];
    char ip[INET6_ADDRSTRLEN];
    char node[64];
    char replaced[64]; /* the node we moved away from: SYNC may replace it */
};

struct pin_table {
    struct balancer *b;
    struct pin_ops ops;
    struct hmap pins; /* address bytes (4 or 16) -> struct pin */
    struct event *ev_sweep;
    uint64_t ttl_ms;
    uint64_t slack_ms; /* how far Redis's TTL may lag our last use */
    uint64_t repins;
    char key_prefix[160]; /* "ep:<pool>:pin:" */
    size_t key_prefix_len;
};

/* KEYS[1] pin key; ARGV[1] proposed node ("" = none), ARGV[2] TTL (ms).
 * Returns the pinned node (refreshing its TTL), or stores and returns the
 * proposal, or nil. */
static const char LOOKUP_LUA[] = "local v = redis.call('GET', KEYS[1])\n"
                                 "if v then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return v end\n"
                                 "if ARGV[1] == '' then return false end\n"
                                 "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                 "return ARGV[1]\n";

/* KEYS[1] pin key; ARGV[1] our node, ARGV[2] TTL (ms), ARGV[3] a node we
 * may replace ("" = none). Ours: TTL refreshed. Gone or the replaceable
 * one: ours stored. Another balancer's: kept (TTL refreshed), returned. */
static const char SYNC_LUA[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return v end\n"
    "if (not v) or v == ARGV[3] then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1] end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return v\n";

static uint64_t now_ms(const struct pin_table *t)
{
    return balancer_now_ms(t->b);
}

static bool redis_ok(const struct pin_table *t)
{
    return t->b->redis && redis_is_up(t->b->redis);
}

static void set_node(struct pin *p, const char *id)
{
    snprintf(p->node, sizeof(p->node), "%s", id ? id : "");
}

static void pin_free(struct pin *p)
{
    free(p);
}

static void wake_waiters(struct pin_table *t, struct pin *p, const char *node)
{
    struct pin_waiter *w = p->waiters;
    p->waiters = NULL;
    p->wtail = &p->waiters;
    while (w) {
        struct pin_waiter *next = w->next;
        w->next = NULL;
        t->ops.ready(t->ops.arg, w, node);
        w = next;
    }
}

/* A reply on a detached pin (the table is gone): free it with the last one.
 * Returns true when the caller must not touch p's table. */
static bool reply_detached(struct pin *p)
{
    p->inflight--;
    if (p->t)
        return false;
    if (p->inflight == 0)
        pin_free(p);
    return true;
}

static void send_sync(struct pin_table *t, struct pin *p);

/* A re-pin decided here: logged, counted, Redis told (behind). */
static void repin(struct pin_table *t, struct pin *p, const char *to, const char *from,
                  const char *why)
{
    LOG_INFO("vip", "source %s re-pinned to node %s (was %s: %s)", p->ip, to, from, why);
    t->repins++;
    if (!p->dirty || !p->replaced[0])
        snprintf(p->replaced, sizeof(p->replaced), "%s", from);
    set_node(p, to);
    p->state = PIN_SET;
    p->dirty = true;
    send_sync(t, p);
}

static void sync_reply(void *arg, const redisReply *reply, const char *err)
{
    struct pin *p = arg;
    if (reply_detached(p))
        return;
    struct pin_table *t = p->t;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply)
            LOG_WARN("vip", "pin of %s not stored in Redis: %s (kept locally)", p->ip, err);
        return; /* still dirty / not synced: the sweep tries again */
    }
    p->synced_ms = now_ms(t);
    if (reply->type != REDIS_REPLY_STRING || p->state != PIN_SET)
        return;
    if (reply->len == strlen(p->node) && memcmp(reply->str, p->node, reply->len) == 0) {
        p->dirty = false;
        p->replaced[0] = '\0';
        return;
    }
    /* another balancer pinned this source elsewhere: follow it when we can */
    char other[64];
    snprintf(other, sizeof(other), "%.*s", (int)reply->len, reply->str);
    const char *why = NULL;
    if (t->ops.usable(t->ops.arg, other, &why)) {
        LOG_INFO("vip", "source %s follows the pool's pin to node %s (had %s)", p->ip, other,
                 p->node);
        set_node(p, other);
        p->dirty = false;
        p->replaced[0] = '\0';
    } else {
        /* the pool's pin names a node we cannot use: replace it next sweep */
        snprintf(p->replaced, sizeof(p->replaced), "%s", other);
        p->dirty = true;
    }
}

/* Tell Redis our pin (refresh, store, or replace p->replaced). */
static void send_sync(struct pin_table *t, struct pin *p)
{
    if (!redis_ok(t) || p->state != PIN_SET || !p->node[0] || p->inflight)
        return;
    char key[256];
    snprintf(key, sizeof(key), "%s%s", t->key_prefix, p->ip);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)t->ttl_ms);
    p->inflight++;
    if (redis_command(t->b->redis, sync_reply, p, "EVAL %s 1 %s %s %s %s", SYNC_LUA, key, p->node,
                      ttl, p->dirty ? p->replaced : "") < 0)
        p->inflight--;
}

static void lookup_reply(void *arg, const redisReply *reply, const char *err)
{
    struct pin *p = arg;
    if (reply_detached(p))
        return;
    struct pin_table *t = p->t;
    const char *node = NULL;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        /* Redis went away under us: a local pin, written when it is back */
        node = t->ops.pick(t->ops.arg, NULL);
        LOG_INFO("vip", "pin of %s: Redis %s, pinned locally to %s", p->ip, err ? err : "error",
                 node ? node : "(no node)");
        if (node) {
            set_node(p, node);
            p->state = PIN_SET;
            p->dirty = true;
            p->replaced[0] = '\0';
        } else {
            p->state = PIN_EMPTY;
        }
    } else if (reply->type == REDIS_REPLY_STRING) {
        char stored[64];
        snprintf(stored, sizeof(stored), "%.*s", (int)reply->len, reply->str);
        p->synced_ms = now_ms(t);
        p->state = PIN_SET;
        p->dirty = false;
        set_node(p, stored);
        const char *why = NULL;
        if (!t->ops.usable(t->ops.arg, stored, &why)) {
            const char *alt = t->ops.pick(t->ops.arg, stored);
            if (alt)
                repin(t, p, alt, stored, why ? why : "down");
            /* else: nothing better; try the stored one */
        } else {
            LOG_DEBUG("vip", "source %s pinned to node %s", p->ip, stored);
        }
        node = p->node;
    } else {
        p->state = PIN_EMPTY; /* nil: no node proposed, none stored */
    }
    wake_waiters(t, p, node);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pin_table *t = arg;
    uint64_t now = now_ms(t);
    bool up = redis_ok(t);
    for (size_t i = 0; i < t->pins.nbuckets; i++) {
        struct hmap_entry *e = t->pins.buckets[i];
        while (e) {
            struct hmap_entry *next = e->next;
            struct pin *p = e->value;
            if (p->open_conns)
                p->last_used_ms = now;
            if (up && p->state == PIN_SET && !p->inflight &&
                (p->dirty || !p->synced_ms || p->last_used_ms > p->synced_ms + t->slack_ms))
                send_sync(t, p);
            if (!p->open_conns && !p->waiters && !p->inflight && p->state != PIN_LOOKUP &&
                now - p->last_used_ms >= t->ttl_ms) {
                LOG_DEBUG("vip", "pin of %s to %s idle for %llu s: forgotten", p->ip,
                          p->node[0] ? p->node : "(none)", (unsigned long long)(t->ttl_ms / 1000));
                hmap_del(&t->pins, (const char *)p->addr, p->alen);
                pin_free(p);
            }
            e = next;
        }
    }
}

struct pin_table *pin_table_new(struct balancer *b, int ttl_s, const struct pin_ops *ops)
{
    struct pin_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->b = b;
    t->ops = *ops;
    t->ttl_ms = (uint64_t)(ttl_s > 0 ? ttl_s : 1) * 1000;
    t->slack_ms = t->ttl_ms / 20;
    if (t->slack_ms < 1000)
        t->slack_ms = 1000;
    if (t->slack_ms > 60000)
        t->slack_ms = 60000;
    const char *pool = b->cfg.redis_pool ? b->cfg.redis_pool : "edgepool";
    snprintf(t->key_prefix, sizeof(t->key_prefix), EP_KEY_PIN, pool, "");
    t->key_prefix_len = strlen(t->key_prefix);
    struct timeval sec = {1, 0};
    t->ev_sweep = event_new(b->base, -1, EV_PERSIST, sweep_cb, t);
    if (hmap_init(&t->pins, 256, false) < 0 || !t->ev_sweep || event_add(t->ev_sweep, &sec) < 0) {
        pin_table_free(t);
        return NULL;
    }
    return t;
}

void pin_table_free(struct pin_table *t)
{
    if (!t)
        return;
    if (t->ev_sweep)
        event_free(t->ev_sweep);
    if (t->pins.buckets) {
        for (size_t i = 0; i < t->pins.nbuckets; i++)
            for (struct hmap_entry *e = t->pins.buckets[i]; e; e = e->next) {
                struct pin *p = e->value;
                if (p->inflight)
                    p->t = NULL; /* freed by its last reply */
                else
                    pin_free(p);
            }
        hmap_destroy(&t->pins);
    }
    free(t);
}

struct pin *pin_get(struct pin_table *t, const struct sockaddr *sa)
{
    const unsigned char *a;
    uint8_t alen;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        a = s6->sin6_addr.s6_addr;
        alen = 16;
        /* a v4-mapped address is the IPv4 source it stands for */
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            a += 12;
            alen = 4;
        }
    } else {
        a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        alen = 4;
    }
    struct pin *p = hmap_get(&t->pins, (const char *)a, alen);
    if (p)
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->t = t;
    p->wtail = &p->waiters;
    p->alen = alen;
    memcpy(p->addr, a, alen);
    inet_ntop(alen == 4 ? AF_INET : AF_INET6, p->addr, p->ip, sizeof(p->ip));
    p->last_used_ms = now_ms(t);
    if (hmap_put(&t->pins, (const char *)p->addr, alen, p) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

const char *pin_source(const struct pin *p)
{
    return p->ip;
}
const char *pin_node(const struct pin *p)
{
    return p->state == PIN_SET ? p->node : "";
}
unsigned pin_open_conns(const struct pin *p)
{
    return p->open_conns;
}
size_t pin_count(const struct pin_table *t)
{
    return t->pins.count;
}
uint64_t pin_repins(const struct pin_table *t)
{
    return t->repins;
}

struct each_walk {
    void (*fn)(void *arg, const char *source, const char *node, unsigned conns);
    void *arg;
};

static void each_one(void *arg, const char *key, void *value)
{
    const struct each_walk *w = arg;
    const struct pin *p = value;
    w->fn(w->arg, p->ip, p->node, p->open_conns);
}

void pin_table_each(const struct pin_table *t,
                    void (*fn)(void *arg, const char *source, const char *node, unsigned conns),
                    void *arg)
{
    struct each_walk w = {fn, arg};
    hmap_each(&t->pins, each_one, &w);
}

void pin_conn_opened(struct pin_table *t, struct pin *p)
{
    p->open_conns++;
    p->last_used_ms = now_ms(t);
}

void pin_conn_closed(struct pin_table *t, struct pin *p)
{
    if (p->open_conns)
        p->open_conns--;
    p->last_used_ms = now_ms(t);
}

bool pin_refusal_log(struct pin_table *t, struct pin *p, uint64_t *since)
{
    uint64_t now = now_ms(t);
    p->refused++;
    if (p->refused_log_ms && now - p->refused_log_ms < 1000)
        return false;
    *since = p->refused;
    p->refused = 0;
    p->refused_log_ms = now;
    return true;
}

static void enqueue(struct pin *p, struct pin_waiter *w)
{
    w->next = NULL;
    *p->wtail = w;
    p->wtail = &w->next;
}

int pin_resolve(struct pin_table *t, struct pin *p, struct pin_waiter *w, const char **node)
{
    if (p->state == PIN_SET) {
        const char *why = NULL;
        if (t->ops.usable(t->ops.arg, p->node, &why)) {
            *node = p->node;
            return 1;
        }
        const char *alt = t->ops.pick(t->ops.arg, p->node);
        if (!alt) {
            *node = p->node; /* nothing better: try it */
            return 1;
        }
        char from[64];
        snprintf(from, sizeof(from), "%s", p->node);
        repin(t, p, alt, from, why ? why : "down");
        *node = p->node;
        return 1;
    }
    if (p->state == PIN_LOOKUP) {
        enqueue(p, w);
        return 0;
    }
    /* a source not in the table */
    const char *cand = t->ops.pick(t->ops.arg, NULL);
    if (redis_ok(t)) {
        char key[256], ttl[24];
        snprintf(key, sizeof(key), "%s%s", t->key_prefix, p->ip);
        snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)t->ttl_ms);
        p->state = PIN_LOOKUP;
        enqueue(p, w);
        p->inflight++;
        if (redis_command(t->b->redis, lookup_reply, p, "EVAL %s 1 %s %s %s", LOOKUP_LUA, key,
                          cand ? cand : "", ttl) == 0)
            return 0;
        /* could not even format it: local */
        p->inflight--;
        pin_cancel(p, w);
        p->state = PIN_EMPTY;
    }
    if (!cand)
        return -1;
    set_node(p, cand);
    p->state = PIN_SET;
    p->dirty = true; /* written when Redis is back */
    p->replaced[0] = '\0';
    LOG_DEBUG("vip", "source %s pinned locally to node %s", p->ip, cand);
    *node = p->node;
    return 1;
}

void pin_cancel(struct pin *p, struct pin_waiter *w)
{
    for (struct pin_waiter **pp = &p->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            if (p->wtail == &w->next)
                p->wtail = pp;
            w->next = NULL;
            return;
        }
}

const char *pin_move(struct pin_table *t, struct pin *p, const char *failed_node)
{
    char from[64];
    snprintf(from, sizeof(from), "%s", failed_node ? failed_node : "");
    const char *alt = t->ops.pick(t->ops.arg, from[0] ? from : NULL);
    if (!alt)
        return NULL;
    if (p->state == PIN_SET && strcmp(p->node, from) != 0) {
        /* already moved (another connection failed first): follow it if usable */
        if (t->ops.usable(t->ops.arg, p->node, NULL))
            return p->node;
    }
    repin(t, p, alt, from, "connect failed");
    return p->node;
}
