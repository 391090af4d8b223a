/* pool_view.c -- the nodes' registry hashes read every second and the health
 * changes seen, for the balancer's admin pages (see pool_view.h). */
#include "admin/pool_view.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balancer.h"
#include "health/health.h"
#include "log.h"
#include "pool_keys.h"
#include "redis.h"

/* One round of reads; detached (v = NULL) when the view goes first. */
struct pv_poll {
    struct pool_view *v;
    unsigned pending;
};

struct pv_read {
    struct pv_poll *poll;
    char id[64];
};

struct pool_view {
    struct balancer *b;
    struct event *tick;
    struct pv_node nodes[HEALTH_MAX_NODES];
    size_t n;
    struct pv_event ev[PV_EVENTS];
    size_t ev_next, ev_count;
    struct pv_poll *poll; /* the round in flight, or NULL */
    uint64_t reads, failed;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct pv_node *node_get(struct pool_view *v, const char *id, bool create)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->nodes[i].id, id) == 0)
            return &v->nodes[i];
    if (!create || v->n >= HEALTH_MAX_NODES)
        return NULL;
    struct pv_node *p = &v->nodes[v->n++];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    return p;
}

static void record(struct pool_view *v, const char *node, const char *what, const char *why)
{
    struct pv_event *e = &v->ev[v->ev_next];
    e->wall_ms = wall_ms();
    snprintf(e->node, sizeof(e->node), "%s", node);
    snprintf(e->what, sizeof(e->what), "%s", what);
    snprintf(e->why, sizeof(e->why), "%s", why);
    v->ev_next = (v->ev_next + 1) % PV_EVENTS;
    if (v->ev_count < PV_EVENTS)
        v->ev_count++;
}

/* health's listener: count and keep every change of healthy, and the nodes
 * that come and go. */
static void on_change(void *arg, struct health_node *hn, bool gone)
{
    struct pool_view *v = arg;
    struct pv_node *p = node_get(v, hn->id, true);
    if (!p)
        return;
    if (gone) {
        record(v, hn->id, "left", "no longer in the registry or the configuration");
        p->tracked = false;
        p->have = false;
        free(p->partners);
        p->partners = NULL;
        return;
    }
    if (!p->tracked) {
        p->tracked = true;
        p->healthy = hn->healthy;
        record(v, hn->id, hn->healthy ? "up" : "joined",
               hn->healthy ? "healthy" : "not healthy yet (checks pending)");
        if (hn->healthy)
            p->ups++;
        return;
    }
    if (hn->healthy == p->healthy)
        return;
    p->healthy = hn->healthy;
    if (hn->healthy) {
        p->ups++;
        record(v, hn->id, "up", "healthy again");
    } else {
        p->downs++;
        record(v, hn->id, "down",
               !hn->alive      ? "its liveness expired in the registry"
               : hn->draining  ? "draining"
               : !hn->check_ok ? "health checks failing"
                               : "unhealthy");
    }
}

static void poll_done(struct pv_poll *poll)
{
    if (--poll->pending > 0)
        return;
    if (poll->v)
        poll->v->poll = NULL;
    free(poll);
}

static uint64_t to_u64(const char *s)
{
    return s ? strtoull(s, NULL, 10) : 0;
}

static void on_hash(void *arg, const redisReply *reply, const char *err)
{
    struct pv_read *rd = arg;
    struct pv_poll *poll = rd->poll;
    struct pool_view *v = poll->v;
    if (v) {
        struct pv_node *p = node_get(v, rd->id, false);
        if (!reply || reply->type != REDIS_REPLY_ARRAY) {
            v->failed++;
        } else if (p) {
            v->reads++;
            p->have = reply->elements > 0;
            for (size_t i = 0; i + 1 < reply->elements; i += 2) {
                const redisReply *k = reply->element[i], *val = reply->element[i + 1];
                if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
                    continue;
                const char *f = k->str, *s = val->str;
                if (strcmp(f, "state") == 0)
                    snprintf(p->state, sizeof(p->state), "%s", s);
                else if (strcmp(f, "version") == 0)
                    snprintf(p->version, sizeof(p->version), "%s", s);
                else if (strcmp(f, "admin") == 0)
                    snprintf(p->admin, sizeof(p->admin), "%s", s);
                else if (strcmp(f, "load") == 0)
                    p->load = to_u64(s);
                else if (strcmp(f, "conns") == 0)
                    p->conns = to_u64(s);
                else if (strcmp(f, "policy_version") == 0)
                    p->policy_version = to_u64(s);
                else if (strcmp(f, "seen_ms") == 0)
                    p->seen_ms = to_u64(s);
                else if (strcmp(f, "start_ms") == 0)
                    p->start_ms = to_u64(s);
                else if (strcmp(f, "partners") == 0) {
                    char *c = strdup(s);
                    if (c) {
                        free(p->partners);
                        p->partners = c;
                    }
                }
            }
        }
    }
    free(rd);
    poll_done(poll);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct pool_view *v = arg;
    struct balancer *b = v->b;
    if (v->poll || !b->redis || !redis_is_up(b->redis) || !b->health)
        return;
    struct health_node *hn;
    size_t n = health_nodes(b->health, &hn);
    struct pv_poll *poll = calloc(1, sizeof(*poll));
    if (!poll)
        return;
    poll->v = v;
    poll->pending = 1; /* this function's own reference, dropped below */
    v->poll = poll;
    const char *pool = b->cfg.redis_pool && *b->cfg.redis_pool ? b->cfg.redis_pool : "edgepool";
    for (size_t i = 0; i < n; i++) {
        if (!hn[i].id[0] || !hn[i].from_registry)
            continue;
        struct pv_read *rd = calloc(1, sizeof(*rd));
        if (!rd)
            break;
        rd->poll = poll;
        snprintf(rd->id, sizeof(rd->id), "%s", hn[i].id);
        node_get(v, rd->id, true);
        char key[300];
        snprintf(key, sizeof(key), EP_KEY_NODE, pool, rd->id);
        poll->pending++;
        if (redis_command(b->redis, on_hash, rd, "HGETALL %s", key) < 0) {
            poll->pending--;
            free(rd);
        }
    }
    poll_done(poll);
}

struct pool_view *pool_view_new(struct balancer *b)
{
    struct pool_view *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->b = b;
    v->tick = event_new(b->base, -1, EV_PERSIST, tick, v);
    struct timeval one = {1, 0};
    if (!v->tick || event_add(v->tick, &one) < 0 ||
        (b->health && health_on_change(b->health, on_change, v) < 0)) {
        if (v->tick)
            event_free(v->tick);
        free(v);
        return NULL;
    }
    /* the nodes health knows already */
    if (b->health) {
        struct health_node *hn;
        size_t n = health_nodes(b->health, &hn);
        for (size_t i = 0; i < n; i++)
            if (hn[i].id[0])
                on_change(v, &hn[i], false);
    }
    return v;
}

void pool_view_free(struct pool_view *v)
{
    if (!v)
        return;
    if (v->b->health)
        health_off_change(v->b->health, on_change, v);
    if (v->poll)
        v->poll->v = NULL; /* its replies come (or fail) later and free it */
    event_free(v->tick);
    for (size_t i = 0; i < v->n; i++)
        free(v->nodes[i].partners);
    free(v);
}

const struct pv_node *pool_view_node(const struct pool_view *v, const char *id)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->nodes[i].id, id) == 0)
            return v->nodes[i].have ? &v->nodes[i] : NULL;
    return NULL;
}

size_t pool_view_nodes(const struct pool_view *v, const struct pv_node **out)
{
    *out = v->nodes;
    return v->n;
}

size_t pool_view_events(const struct pool_view *v, struct pv_event *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < v->ev_count && k < max; i++)
        out[k++] = v->ev[(v->ev_next + PV_EVENTS - 1 - i) % PV_EVENTS];
    return k;
}

void pool_view_reads(const struct pool_view *v, uint64_t *reads, uint64_t *failed)
{
    *reads = v->reads;
    *failed = v->failed;
}

bool pool_view_next_partner(const char **s, struct pv_partner *p)
{
    while (**s) {
        const char *e = strchr(*s, ';');
        size_t len = e ? (size_t)(e - *s) : strlen(*s);
        char entry[1024];
        bool fits = len < sizeof(entry);
        if (fits) {
            memcpy(entry, *s, len);
            entry[len] = '\0';
        }
        *s += len + (e ? 1 : 0);
        if (!fits)
            continue;
        char *f[5] = {0};
        int k = 0;
        /* strtok_r would merge an empty domain list: split by hand */
        for (char *c = entry; k < 5; k++) {
            f[k] = c;
            char *bar = strchr(c, '|');
            if (!bar)
                break;
            *bar = '\0';
            c = bar + 1;
        }
        if (k < 4 || !f[0][0])
            continue;
        snprintf(p->edge, sizeof(p->edge), "%s", f[0]);
        snprintf(p->domains, sizeof(p->domains), "%s", f[1]);
        p->in = (unsigned)strtoul(f[2], NULL, 10);
        p->out = (unsigned)strtoul(f[3], NULL, 10);
        p->txns = (unsigned)strtoul(f[4], NULL, 10);
        return true;
    }
    return false;
}
