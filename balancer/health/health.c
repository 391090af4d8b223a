/* health.c -- the pool's nodes and whether each may take new work (see
 * health.h): the Redis registry read every interval and as soon as Redis
 * (re)connects (the nodes set, each node's hash and its alive key,
 * pipelined), drain/undrain heard at once on the nodes channel, static nodes
 * from the configuration, and active checks (check.c) started every interval
 * with HAProxy's rise/fall counting.
 *
 * Fail static: the registry's nodes are kept in health.registry_cache
 * (registry_cache.c) whenever they change, and a balancer that starts while
 * Redis is away serves those, their health from its own checks. For one
 * liveness TTL after Redis (re)connects, a node the registry does not show
 * (yet) -- a Redis restarted empty, a replica promoted without the last
 * writes -- is neither removed nor taken as dead: its own heartbeat puts it
 * back within a second, and the checks still see a node that really died. */
#include "health/health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "health/check.h"
#include "health/registry_cache.h"
#include "log.h"
#include "pool_keys.h"
#include "redis.h"
#include "tls.h"

/* Checks of one node in flight at once: with a timeout longer than the
 * interval a new check still starts every interval, so a silent node (no
 * RST) is found within fall intervals plus one timeout. */
#define HC_MAX_INFLIGHT 4
#define HC_MAX_LISTENERS 8

struct hc_slot {
    struct health *h;
    int node;
    uint64_t seq;
    struct check *c; /* NULL: free */
};

struct node_priv {
    unsigned succ, fails; /* consecutive results */
    bool checked;         /* a first result came */
    uint64_t seq_next, seq_applied;
    struct hc_slot inflight[HC_MAX_INFLIGHT];
    bool seen;         /* in the latest registry read */
    bool bad_external; /* logged: the registry's external is unusable */
    bool from_cache;   /* known from health.registry_cache, not yet from the registry */
    char why[160];     /* the last failure */
};

struct listener {
    health_change_cb cb;
    void *arg;
};

struct poll_entry {
    char id[64];
    char fqdn[256], external[96], drain[8], state[16];
    bool has_hash, alive;
};

/* One read of the registry; detached (h = NULL) when health goes first. */
struct poll {
    struct health *h;
    unsigned pending;
    bool failed;
    size_t n;
    struct poll_entry e[];
};

struct health {
    struct balancer *b;
    struct health_node nodes[HEALTH_MAX_NODES];
    struct node_priv priv[HEALTH_MAX_NODES];
    size_t used; /* slots in use or freed: [0, used) */
    struct listener listeners[HC_MAX_LISTENERS];
    size_t n_listeners;
    struct event *tick;
    SSL_CTX *ssl;
    enum health_check_kind kind;
    int interval_ms, timeout_ms, rise, fall;
    char pool[128];
    char key_nodes[200];
    struct poll *poll;
    bool redis_failed_logged, full_logged;
    size_t healthy;
    /* fail static */
    char cache_path[1024]; /* "" : off */
    uint64_t cache_sig;    /* of the nodes last written */
    bool cache_err_logged; /* the last write failed (logged once) */
    uint64_t redis_up_ms;  /* when Redis last came up (0: never) */
};

/* A registry that does not show a node within this long after Redis came up
 * is believed only after it: the node's heartbeat (every second) rewrites
 * its entry and liveness key well within one liveness TTL. */
#define HEALTH_REDIS_GRACE_MS EP_ALIVE_TTL_MS

static const char *node_label(const struct health_node *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s (%s:%u)", n->id, n->ext_host, n->sip_port);
    return buf;
}

static void notify(struct health *h, struct health_node *n, bool gone)
{
    for (size_t i = 0; i < h->n_listeners; i++)
        h->listeners[i].cb(h->listeners[i].arg, n, gone);
}

static void count_healthy(struct health *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->used; i++)
        k += h->nodes[i].id[0] && h->nodes[i].healthy;
    h->healthy = k;
}

/* Work out healthy again; tell the listeners when something they see moved
 * (changed: the caller already knows it did, e.g. a new address). */
static void evaluate(struct health *h, int i, bool changed)
{
    struct health_node *n = &h->nodes[i];
    struct node_priv *p = &h->priv[i];
    bool was = n->healthy;
    n->healthy = n->alive && n->check_ok && !n->draining;
    if (n->healthy != was) {
        char lb[200];
        n->changed_ms = balancer_now_ms(h->b);
        count_healthy(h);
        if (n->healthy)
            LOG_INFO("health", "node %s is up (%zu healthy)", node_label(n, lb, sizeof(lb)),
                     h->healthy);
        else
            LOG_WARN("health", "node %s is down: %s (%zu healthy)", node_label(n, lb, sizeof(lb)),
                     !n->alive     ? "its liveness expired in the registry"
                     : n->draining ? "draining"
                     : p->why[0]   ? p->why
                                   : "not checked yet",
                     h->healthy);
        changed = true;
    }
    if (changed)
        notify(h, n, false);
}

/* ---- active checks ---- */

static void check_done(void *arg, bool ok, bool refused, uint32_t latency_us, const char *why)
{
    struct hc_slot *s = arg;
    struct health *h = s->h;
    int i = s->node;
    uint64_t seq = s->seq;
    s->c = NULL;
    struct health_node *n = &h->nodes[i];
    struct node_priv *p = &h->priv[i];
    if (seq < p->seq_applied)
        return; /* overtaken by a later check's result */
    p->seq_applied = seq;
    bool was = n->check_ok;
    if (ok) {
        n->check_latency_us = latency_us;
        p->succ++;
        p->fails = 0;
        if (!n->check_ok && (!p->checked || p->succ >= (unsigned)h->rise))
            n->check_ok = true;
    } else {
        snprintf(p->why, sizeof(p->why), "%s check failed %u time(s): %s",
                 h->kind == HEALTH_CHECK_SIP   ? "SIP OPTIONS"
                 : h->kind == HEALTH_CHECK_TLS ? "TLS"
                                               : "TCP",
                 p->fails + 1, why);
        p->fails++;
        p->succ = 0;
        /* a refused connection is not a slow node but a dead process on a
         * live host: down at once, as every further check would say */
        if (n->check_ok && (p->fails >= (unsigned)h->fall || refused))
            n->check_ok = false;
        if (!p->checked)
            n->check_ok = false;
        char lb[200];
        LOG_DEBUG("health", "node %s: %s", node_label(n, lb, sizeof(lb)), p->why);
    }
    p->checked = true;
    evaluate(h, i, n->check_ok != was);
}

static void start_check(struct health *h, int i)
{
    struct health_node *n = &h->nodes[i];
    struct node_priv *p = &h->priv[i];
    struct hc_slot *s = NULL;
    for (int k = 0; k < HC_MAX_INFLIGHT && !s; k++)
        if (!p->inflight[k].c)
            s = &p->inflight[k];
    if (!s)
        return; /* the oldest ones time out first */
    struct sockaddr_storage ss = n->ext_addr;
    socklen_t sl;
    if (ss.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(n->sip_port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        ((struct sockaddr_in *)&ss)->sin_port = htons(n->sip_port);
        sl = sizeof(struct sockaddr_in);
    }
    char host[96];
    snprintf(host, sizeof(host), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", n->ext_host,
             n->sip_port);
    struct check_opts o = {.kind = h->kind,
                           .ssl_ctx = h->ssl,
                           .tls_name = h->b->cfg.dns_pool_fqdn,
                           .sip_host = host,
                           .from_domain = h->b->cfg.dns_zone,
                           .timeout_ms = h->timeout_ms};
    s->h = h;
    s->node = i;
    s->seq = ++p->seq_next;
    s->c = check_start(h->b->base, (struct sockaddr *)&ss, sl, &o, check_done, s);
}

static void cancel_checks(struct health *h, int i)
{
    for (int k = 0; k < HC_MAX_INFLIGHT; k++) {
        check_cancel(h->priv[i].inflight[k].c);
        h->priv[i].inflight[k].c = NULL;
    }
}

/* ---- the node table ---- */

static int find(const struct health *h, const char *id)
{
    for (size_t i = 0; i < h->used; i++)
        if (h->nodes[i].id[0] && strcmp(h->nodes[i].id, id) == 0)
            return (int)i;
    return -1;
}

static int alloc_slot(struct health *h)
{
    for (size_t i = 0; i < h->used; i++)
        if (!h->nodes[i].id[0])
            return (int)i;
    if (h->used < HEALTH_MAX_NODES)
        return (int)h->used++;
    if (!h->full_logged)
        LOG_ERROR("health", "more than %d nodes: the others are ignored", HEALTH_MAX_NODES);
    h->full_logged = true;
    return -1;
}

static void set_address(struct health_node *n, const struct sockaddr_storage *ss, uint16_t port)
{
    n->ext_addr = *ss;
    if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&n->ext_addr)->sin6_port = 0;
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, n->ext_host,
                  sizeof(n->ext_host));
    } else {
        ((struct sockaddr_in *)&n->ext_addr)->sin_port = 0;
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, n->ext_host,
                  sizeof(n->ext_host));
    }
    n->sip_port = port;
}

static bool same_address(const struct health_node *n, const struct sockaddr_storage *ss,
                         uint16_t port)
{
    if (n->sip_port != port || n->ext_addr.ss_family != ss->ss_family)
        return false;
    if (ss->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&n->ext_addr)->sin6_addr,
                      &((const struct sockaddr_in6 *)ss)->sin6_addr, 16) == 0;
    return ((const struct sockaddr_in *)&n->ext_addr)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)ss)->sin_addr.s_addr;
}

static int add_node(struct health *h, const char *id, bool from_registry)
{
    int i = alloc_slot(h);
    if (i < 0)
        return -1;
    struct health_node *n = &h->nodes[i];
    memset(n, 0, sizeof(*n));
    memset(&h->priv[i], 0, sizeof(h->priv[i]));
    snprintf(n->id, sizeof(n->id), "%s", id);
    n->from_registry = from_registry;
    n->xmpp_port = 5269; /* the registry does not say yet: the standard port */
    n->check_ok = true;  /* assumed up until its first check (started at once) says otherwise,
                            as HAProxy starts its servers: no false fail-open at start */
    n->changed_ms = balancer_now_ms(h->b);
    return i;
}

static void remove_node(struct health *h, int i, const char *why)
{
    struct health_node *n = &h->nodes[i];
    char lb[200];
    LOG_INFO("health", "node %s left the pool: %s", node_label(n, lb, sizeof(lb)), why);
    cancel_checks(h, i);
    n->healthy = false;
    count_healthy(h);
    notify(h, n, true);
    memset(n, 0, sizeof(*n));
    memset(&h->priv[i], 0, sizeof(h->priv[i]));
    while (h->used && !h->nodes[h->used - 1].id[0])
        h->used--;
}

/* The static nodes of the configuration: add, move, remove. */
static void apply_static(struct health *h)
{
    const struct cfg_strlist *l = &h->b->cfg.static_nodes;
    bool keep[HEALTH_MAX_NODES] = {false};
    for (int k = 0; k < l->n; k++) {
        char id[64], err[200];
        struct sockaddr_storage ss;
        uint16_t port;
        if (balancer_parse_node_spec(l->v[k], 5061, id, sizeof(id), &ss, &port, err, sizeof(err)) <
            0) {
            LOG_ERROR("health", "nodes.static: %s", err); /* balancer_config_check refuses it */
            continue;
        }
        int i = find(h, id);
        if (i >= 0 && h->nodes[i].from_registry) {
            remove_node(h, i, "now a static node");
            i = -1;
        }
        bool is_new = i < 0;
        if (is_new && (i = add_node(h, id, false)) < 0)
            continue;
        struct health_node *n = &h->nodes[i];
        bool moved = !is_new && !same_address(n, &ss, port);
        set_address(n, &ss, port);
        n->alive = true;
        n->draining = false;
        keep[i] = true;
        if (is_new) {
            char lb[200];
            LOG_INFO("health", "static node %s", node_label(n, lb, sizeof(lb)));
            evaluate(h, i, true);
            start_check(h, i);
        } else if (moved) {
            h->priv[i].checked = false;
            n->check_ok = true;
            cancel_checks(h, i);
            evaluate(h, i, true);
            start_check(h, i);
        }
    }
    for (size_t i = 0; i < h->used; i++)
        if (h->nodes[i].id[0] && !h->nodes[i].from_registry && !keep[i])
            remove_node(h, (int)i, "no longer in nodes.static");
}

/* ---- the registry ---- */

static bool id_ok(const char *s, size_t len)
{
    if (len == 0 || len >= 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static void cache_write(struct health *h);

static void apply_poll(struct health *h, struct poll *p)
{
    uint64_t now = balancer_now_ms(h->b);
    bool grace = h->redis_up_ms && now - h->redis_up_ms < HEALTH_REDIS_GRACE_MS;
    for (size_t i = 0; i < h->used; i++)
        h->priv[i].seen = false;
    for (size_t k = 0; k < p->n; k++) {
        struct poll_entry *e = &p->e[k];
        if (!e->has_hash)
            continue;
        int i = find(h, e->id);
        if (i >= 0 && !h->nodes[i].from_registry)
            continue; /* a static node of that id wins */
        struct sockaddr_storage ss;
        char err[200];
        if (balancer_parse_hostport(e->external, &ss, NULL, err, sizeof(err)) < 0) {
            if (i >= 0) {
                if (!h->priv[i].bad_external)
                    LOG_WARN("health", "node %s: registry external \"%s\" unusable: %s", e->id,
                             e->external, err);
                h->priv[i].bad_external = true;
                h->priv[i].seen = true; /* keep what we had */
            } else {
                LOG_DEBUG("health", "node %s: registry external \"%s\" unusable: %s", e->id,
                          e->external, err);
            }
            continue;
        }
        uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
        bool is_new = i < 0;
        if (is_new && (i = add_node(h, e->id, true)) < 0)
            continue;
        struct health_node *n = &h->nodes[i];
        struct node_priv *pv = &h->priv[i];
        pv->seen = true;
        pv->bad_external = false;
        pv->from_cache = false;
        if (grace && n->alive && !e->alive) {
            LOG_DEBUG("health", "node %s: no liveness key %llu ms after Redis came up: kept alive",
                      n->id, (unsigned long long)(now - h->redis_up_ms));
            e->alive = true;
        }
        bool changed = is_new, moved = !is_new && !same_address(n, &ss, port);
        if (is_new || moved)
            set_address(n, &ss, port);
        snprintf(n->fqdn, sizeof(n->fqdn), "%s", e->fqdn);
        bool draining = strcmp(e->drain, "1") == 0 || strcmp(e->state, "stopping") == 0;
        if (n->alive != e->alive || n->draining != draining)
            changed = true;
        if (n->alive && !e->alive) {
            char lb[200];
            LOG_DEBUG("health", "node %s: no liveness key", node_label(n, lb, sizeof(lb)));
        }
        n->alive = e->alive;
        n->draining = draining;
        if (moved) {
            pv->checked = false;
            n->check_ok = true;
            cancel_checks(h, i);
        }
        if (is_new) {
            char lb[200];
            LOG_INFO("health", "node %s found in the registry%s%s", node_label(n, lb, sizeof(lb)),
                     n->alive ? "" : " (not alive)", n->draining ? " (draining)" : "");
        }
        evaluate(h, i, changed || moved);
        if (is_new || moved)
            start_check(h, i);
    }
    for (size_t i = 0; i < h->used; i++) {
        if (!h->nodes[i].id[0] || !h->nodes[i].from_registry || h->priv[i].seen)
            continue;
        if (grace) {
            LOG_DEBUG("health", "node %s: not in the registry %llu ms after Redis came up: kept",
                      h->nodes[i].id, (unsigned long long)(now - h->redis_up_ms));
            continue;
        }
        remove_node(h, (int)i,
                    h->priv[i].from_cache ? "in the registry cache, not in the registry"
                                          : "no longer in the registry");
    }
    cache_write(h);
}

/* ---- the registry cache (fail static) ---- */

static uint64_t fnv1a(uint64_t hash, const char *s)
{
    for (; *s; s++)
        hash = (hash ^ (unsigned char)*s) * 1099511628211ULL;
    return (hash ^ 0xff) * 1099511628211ULL; /* a separator, so "ab","c" != "a","bc" */
}

/* Write the registry's nodes to the cache when they differ from the last
 * written (id, address, FQDN: liveness and health are not cached). */
static void cache_write(struct health *h)
{
    if (!h->cache_path[0])
        return;
    static struct registry_cache_entry e[HEALTH_MAX_NODES]; /* 100 KiB: not on the stack */
    size_t n = 0;
    uint64_t sig = 14695981039346656037ULL;
    for (size_t i = 0; i < h->used && n < HEALTH_MAX_NODES; i++) {
        const struct health_node *hn = &h->nodes[i];
        if (!hn->id[0] || !hn->from_registry)
            continue;
        snprintf(e[n].id, sizeof(e[n].id), "%s", hn->id);
        snprintf(e[n].external, sizeof(e[n].external),
                 hn->ext_addr.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", hn->ext_host,
                 hn->sip_port);
        snprintf(e[n].fqdn, sizeof(e[n].fqdn), "%s", hn->fqdn);
        sig = fnv1a(fnv1a(fnv1a(sig, e[n].id), e[n].external), e[n].fqdn);
        n++;
    }
    if (sig == h->cache_sig)
        return;
    char err[1200];
    if (registry_cache_write(h->cache_path, h->pool, e, n, err, sizeof(err)) < 0) {
        if (!h->cache_err_logged)
            LOG_WARN("health",
                     "registry cache: %s (a restart while Redis is away will know no "
                     "registry node)",
                     err);
        h->cache_err_logged = true;
        return;
    }
    if (h->cache_err_logged)
        LOG_INFO("health", "registry cache %s written again", h->cache_path);
    h->cache_err_logged = false;
    h->cache_sig = sig;
    LOG_DEBUG("health", "registry cache %s: %zu nodes", h->cache_path, n);
}

/* At start, before the registry can be read: the cached nodes, alive until
 * the registry or their checks say otherwise. */
static void cache_load(struct health *h)
{
    if (!h->cache_path[0] || !h->b->redis)
        return;
    static struct registry_cache_entry e[HEALTH_MAX_NODES];
    char err[1200];
    int n = registry_cache_read(h->cache_path, e, HEALTH_MAX_NODES, err, sizeof(err));
    if (n < 0) {
        LOG_WARN("health", "registry cache not used: %s", err);
        return;
    }
    int used = 0;
    for (int k = 0; k < n; k++) {
        struct sockaddr_storage ss;
        char why[200];
        if (!id_ok(e[k].id, strlen(e[k].id)) || find(h, e[k].id) >= 0 ||
            balancer_parse_hostport(e[k].external, &ss, NULL, why, sizeof(why)) < 0)
            continue;
        int i = add_node(h, e[k].id, true);
        if (i < 0)
            break;
        uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
        set_address(&h->nodes[i], &ss, port);
        snprintf(h->nodes[i].fqdn, sizeof(h->nodes[i].fqdn), "%s", e[k].fqdn);
        h->nodes[i].alive = true;
        h->priv[i].from_cache = true;
        evaluate(h, i, true);
        start_check(h, i);
        used++;
    }
    if (used)
        LOG_INFO("health",
                 "%d nodes from the registry cache %s, until the registry is read (their checks "
                 "decide meanwhile)",
                 used, h->cache_path);
}

static void poll_unref(struct poll *p)
{
    if (--p->pending > 0)
        return;
    struct health *h = p->h;
    if (h) {
        h->poll = NULL;
        if (!p->failed) {
            h->redis_failed_logged = false;
            apply_poll(h, p);
        }
    }
    free(p);
}

static void poll_failed(struct poll *p, const char *err)
{
    if (!p->failed && p->h && !p->h->redis_failed_logged) {
        LOG_WARN("health", "cannot read the registry (%s): keeping the nodes as last seen",
                 err ? err : "unexpected reply");
        p->h->redis_failed_logged = true;
    }
    p->failed = true;
}

/* Each command's callback gets a small cookie: its poll and entry index. */
struct cookie {
    struct poll *p;
    size_t k;
    bool alive; /* the EXISTS reply, else the HMGET one */
};

static void entry_reply(void *arg, const redisReply *r, const char *err)
{
    struct cookie *ck = arg;
    struct poll *p = ck->p;
    struct poll_entry *e = &p->e[ck->k];
    if (!r || err || (r->type == REDIS_REPLY_ERROR)) {
        poll_failed(p, err);
    } else if (ck->alive) {
        e->alive = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        char *dst[4] = {e->fqdn, e->external, e->drain, e->state};
        size_t cap[4] = {sizeof(e->fqdn), sizeof(e->external), sizeof(e->drain), sizeof(e->state)};
        for (int j = 0; j < 4; j++) {
            const redisReply *v = r->element[j];
            if (v->type == REDIS_REPLY_STRING) {
                snprintf(dst[j], cap[j], "%.*s", (int)v->len, v->str);
                if (j == 1)
                    e->has_hash = true; /* no external: not a node we can use */
            }
        }
    } else {
        poll_failed(p, "HMGET: unexpected reply");
    }
    free(ck);
    poll_unref(p);
}

static void send_entry(struct health *h, struct poll *p, size_t k, bool alive)
{
    struct cookie *ck = malloc(sizeof(*ck));
    if (!ck) {
        poll_failed(p, "out of memory");
        return;
    }
    *ck = (struct cookie){p, k, alive};
    char key[300];
    p->pending++;
    int rc;
    if (alive) {
        snprintf(key, sizeof(key), EP_KEY_ALIVE, h->pool, p->e[k].id);
        rc = redis_command(h->b->redis, entry_reply, ck, "EXISTS %s", key);
    } else {
        snprintf(key, sizeof(key), EP_KEY_NODE, h->pool, p->e[k].id);
        rc = redis_command(h->b->redis, entry_reply, ck, "HMGET %s fqdn external drain state", key);
    }
    if (rc < 0) {
        p->pending--;
        free(ck);
        poll_failed(p, "cannot format a command");
    }
}

static void members_reply(void *arg, const redisReply *r, const char *err)
{
    struct poll *p = arg;
    struct health *h = p->h;
    if (!h) { /* health went first */
        free(p);
        return;
    }
    if (!r || err || r->type != REDIS_REPLY_ARRAY) {
        poll_failed(p, err ? err : "SMEMBERS: unexpected reply");
        h->poll = NULL;
        free(p);
        return;
    }
    size_t n = 0;
    for (size_t k = 0; k < r->elements && n < HEALTH_MAX_NODES; k++)
        n += r->element[k]->type == REDIS_REPLY_STRING &&
             id_ok(r->element[k]->str, r->element[k]->len);
    struct poll *q = realloc(p, sizeof(*p) + n * sizeof(p->e[0]));
    if (!q) {
        h->poll = NULL;
        free(p);
        return;
    }
    p = q;
    h->poll = p;
    memset(p->e, 0, n * sizeof(p->e[0]));
    p->n = 0;
    for (size_t k = 0; k < r->elements && p->n < n; k++) {
        const redisReply *v = r->element[k];
        if (v->type == REDIS_REPLY_STRING && id_ok(v->str, v->len))
            snprintf(p->e[p->n++].id, sizeof(p->e[0].id), "%.*s", (int)v->len, v->str);
    }
    p->pending = 1; /* ours, dropped below: an empty set still applies */
    for (size_t k = 0; k < p->n; k++) {
        send_entry(h, p, k, false);
        send_entry(h, p, k, true);
    }
    poll_unref(p);
}

/* SMEMBERS first; its reply sends the per-node reads (pipelined). One read
 * at a time: h->poll marks it in flight. */
static void registry_read(struct health *h)
{
    struct redis *rd = h->b->redis;
    if (!rd || h->poll || !redis_is_up(rd))
        return;
    struct poll *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->h = h;
    h->poll = p;
    if (redis_command(rd, members_reply, p, "SMEMBERS %s", h->key_nodes) < 0) {
        h->poll = NULL;
        free(p);
    }
}

/* "drain <id>" / "undrain <id>" (edgectl): act at once; the next read
 * confirms from the hash. */
static void on_nodes_message(void *arg, const char *channel, const char *payload, size_t len)
{
    struct health *h = arg;
    char msg[128];
    snprintf(msg, sizeof(msg), "%.*s", (int)(len < sizeof(msg) ? len : sizeof(msg) - 1), payload);
    char *sp = strchr(msg, ' ');
    if (!sp)
        return;
    *sp = '\0';
    bool drain = strcmp(msg, "drain") == 0;
    if (!drain && strcmp(msg, "undrain") != 0)
        return;
    int i = find(h, sp + 1);
    if (i < 0 || !h->nodes[i].from_registry || h->nodes[i].draining == drain)
        return;
    h->nodes[i].draining = drain;
    LOG_INFO("health", "node %s %s (published on %s)", h->nodes[i].id,
             drain ? "draining" : "undrained", channel);
    evaluate(h, i, true);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct health *h = arg;
    registry_read(h);
    for (size_t i = 0; i < h->used; i++)
        if (h->nodes[i].id[0])
            start_check(h, (int)i);
}

/* ---- settings ---- */

static SSL_CTX *make_ssl(struct health *h, enum health_check_kind kind, char *err, size_t errlen)
{
    if (kind == HEALTH_CHECK_TCP)
        return NULL;
    const struct balancer_config *c = &h->b->cfg;
    struct tls_settings ts;
    tls_settings_init(&ts);
    ts.cert_file = c->tls_cert;
    ts.key_file = c->tls_key;
    ts.ca_file = c->tls_ca;
    ts.self_signed_name = c->dns_pool_fqdn;
    ts.verify_peer = c->tls_ca != NULL;
    if (!c->tls_cert)
        LOG_WARN("health",
                 "tls.cert unset: the %s checks present a generated self-signed certificate, "
                 "which nodes requiring mutual TLS refuse",
                 c->health_check);
    return tls_client_ctx_new(&ts, err, errlen);
}

static int take_settings(struct health *h, char *err, size_t errlen)
{
    const struct balancer_config *c = &h->b->cfg;
    enum health_check_kind kind = balancer_config_check_kind(c);
    SSL_CTX *ssl = NULL;
    if (kind != HEALTH_CHECK_TCP && !(ssl = make_ssl(h, kind, err, errlen)))
        return -1;
    if (h->ssl)
        SSL_CTX_free(h->ssl); /* checks in flight keep their SSL's reference */
    h->ssl = ssl;
    h->kind = kind;
    h->interval_ms = c->health_interval_ms;
    snprintf(h->cache_path, sizeof(h->cache_path), "%s",
             c->health_registry_cache ? c->health_registry_cache : "");
    h->timeout_ms = c->health_timeout_ms;
    h->rise = c->health_rise;
    h->fall = c->health_fall;
    struct timeval tv = {h->interval_ms / 1000, (h->interval_ms % 1000) * 1000};
    event_del(h->tick);
    event_add(h->tick, &tv);
    return 0;
}

/* ---- the interface ---- */

struct health *health_new(struct balancer *b, char *err, size_t errlen)
{
    struct health *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->b = b;
    snprintf(h->pool, sizeof(h->pool), "%s", b->cfg.redis_pool ? b->cfg.redis_pool : "edgepool");
    snprintf(h->key_nodes, sizeof(h->key_nodes), EP_KEY_NODES, h->pool);
    h->tick = event_new(b->base, -1, EV_PERSIST, tick, h);
    if (!h->tick) {
        snprintf(err, errlen, "out of memory");
        free(h);
        return NULL;
    }
    if (take_settings(h, err, errlen) < 0) {
        event_free(h->tick);
        free(h);
        return NULL;
    }
    if (b->redis) {
        char chan[200];
        snprintf(chan, sizeof(chan), EP_CHAN_NODES, h->pool);
        if (redis_subscribe(b->redis, chan, on_nodes_message, h) < 0) {
            snprintf(err, errlen, "cannot subscribe to %s", chan);
            health_free(h);
            return NULL;
        }
    }
    apply_static(h);
    cache_load(h);
    registry_read(h);
    LOG_INFO("health", "%s checks every %d ms (timeout %d ms, rise %d, fall %d); %s",
             b->cfg.health_check, h->interval_ms, h->timeout_ms, h->rise, h->fall,
             b->redis ? "nodes from the Redis registry and nodes.static" : "nodes.static only");
    return h;
}

void health_on_redis_state(struct health *h, bool up)
{
    if (!h || !up)
        return;
    h->redis_up_ms = balancer_now_ms(h->b);
    registry_read(h); /* at once, not at the next tick */
}

void health_free(struct health *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->used; i++)
        cancel_checks(h, (int)i);
    if (h->poll)
        h->poll->h = NULL; /* freed by its last reply */
    h->poll = NULL;
    if (h->tick)
        event_free(h->tick);
    if (h->ssl)
        SSL_CTX_free(h->ssl);
    free(h);
}

int health_reload(struct health *h, char *err, size_t errlen)
{
    if (take_settings(h, err, errlen) < 0)
        return -1;
    apply_static(h);
    return 0;
}

size_t health_nodes(struct health *h, struct health_node **out)
{
    *out = h->nodes;
    return h->used;
}

struct health_node *health_node_by_id(struct health *h, const char *id)
{
    int i = find(h, id);
    return i < 0 ? NULL : &h->nodes[i];
}

size_t health_healthy_count(const struct health *h)
{
    return h->healthy;
}

int health_on_change(struct health *h, health_change_cb cb, void *arg)
{
    if (!cb || h->n_listeners == HC_MAX_LISTENERS)
        return -1;
    h->listeners[h->n_listeners++] = (struct listener){cb, arg};
    return 0;
}

void health_off_change(struct health *h, health_change_cb cb, void *arg)
{
    for (size_t i = 0; i < h->n_listeners; i++)
        if (h->listeners[i].cb == cb && h->listeners[i].arg == arg) {
            memmove(&h->listeners[i], &h->listeners[i + 1],
                    (h->n_listeners - i - 1) * sizeof(h->listeners[0]));
            h->n_listeners--;
            return;
        }
}
