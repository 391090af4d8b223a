/* registry.c -- the node's entry in the pool registry, liveness and drain
 * (see registry.h). */
#include "pool/registry.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "federation/policy.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool_keys.h"
#include "sip/proxy.h"

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

struct registry {
    struct pool *pool;
    struct event *tick;
    char key_node[300], key_alive[300], key_nodes[300];
    char start_ms[24];
    bool reading_drain;
    bool read_stale; /* the drain read in flight predates a drain set here */
    unsigned ticks;
    bool unreachable_logged;
};

static const char *state_name(const struct node *n)
{
    return n->draining ? "stopping" : n->drained ? "drained" : "active";
}

static void set_drained(struct registry *r, bool on, const char *why)
{
    struct node *n = r->pool->node;
    if (n->drained == on)
        return;
    n->drained = on;
    if (on)
        LOG_WARN("pool",
                 "drained (%s): new requests get 503, established dialogs go on; "
                 "%zu transaction(s) open",
                 why, proxy_open_transactions(n));
    else
        LOG_WARN("pool", "undrained (%s): taking new requests again", why);
    registry_write(r);
}

void registry_write(struct registry *r)
{
    struct pool *p = r->pool;
    struct node *n = p->node;
    if (!p->up || p->closing)
        return;
    char internal[100], external[100], load[24], conns[24], pv[24], seen[24];
    snprintf(internal, sizeof(internal), "%s:%u", n->int_addr.host, n->int_addr.port);
    snprintf(external, sizeof(external), "%s:%u", n->ext_addr.host, n->ext_addr.port);
    snprintf(load, sizeof(load), "%zu", proxy_open_transactions(n));
    snprintf(conns, sizeof(conns), "%u", n->n_conns);
    snprintf(pv, sizeof(pv), "%llu",
             (unsigned long long)policy_version(n->policy->current(n->policy)));
    snprintf(seen, sizeof(seen), "%llu", (unsigned long long)pool_wall_ms());
    char partners[8192];
    node_admin_partners(n, partners, sizeof(partners));
    pool_write(p,
               "HSET %s id %s fqdn %s pool_fqdn %s internal %s external %s version %s start_ms %s "
               "load %s conns %s state %s policy_version %s seen_ms %s admin %s partners %s",
               r->key_node, n->cfg.node_id, n->cfg.node_fqdn, n->cfg.pool_fqdn, internal, external,
               EDGEPOOL_VERSION, r->start_ms, load, conns, state_name(n), pv, seen,
               node_admin_addr(n), partners);
    pool_write(p, "SADD %s %s", r->key_nodes, n->cfg.node_id);
    pool_write(p, "SET %s 1 PX %d", r->key_alive, EP_ALIVE_TTL_MS);
}

static void drain_read(void *arg, const redisReply *reply, const char *err)
{
    struct registry *r = arg;
    r->reading_drain = false;
    bool stale = r->read_stale;
    r->read_stale = false;
    if (stale || r->pool->closing || pool_reply_failed(reply))
        return;
    bool want = reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "1") == 0;
    set_drained(r, want, want ? "drain = 1 in the registry" : "drain cleared in the registry");
}

static void read_drain(struct registry *r)
{
    struct pool *p = r->pool;
    if (!p->up || p->closing || r->reading_drain)
        return;
    r->reading_drain = true;
    if (redis_command(p->redis, drain_read, r, "HGET %s drain", r->key_node) < 0)
        r->reading_drain = false;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct registry *r = arg;
    struct pool *p = r->pool;
    r->ticks++;
    if (p->up) {
        registry_write(r);
        read_drain(r);
        return;
    }
    /* say so while Redis is away: at start after 2 s, then every minute */
    uint64_t now = pool_wall_ms();
    if (!p->ever_up && r->ticks >= 2 && !r->unreachable_logged) {
        LOG_WARN("pool",
                 "Redis unreachable since start: relaying with policy version %llu; "
                 "retrying",
                 (unsigned long long)policy_version(p->node->policy->current(p->node->policy)));
        r->unreachable_logged = true;
        p->last_down_log_ms = now;
    } else if (p->last_down_log_ms && now - p->last_down_log_ms >= 60000) {
        LOG_WARN("pool", "Redis still down (%.0f s): relaying with the cached policy version %llu",
                 (double)(now - p->down_since_ms) / 1000.0,
                 (unsigned long long)policy_version(p->node->policy->current(p->node->policy)));
        p->last_down_log_ms = now;
    }
}

/* "drain <id>" / "undrain <id>" on ep:<pool>:nodes; the field is set too, so
 * that the every-second read agrees (edgectl may set it as well). */
static void on_nodes_message(void *arg, const char *channel, const char *payload, size_t len)
{
    struct registry *r = arg;
    struct node *n = r->pool->node;
    char msg[300];
    snprintf(msg, sizeof(msg), "%.*s", (int)(len < sizeof(msg) ? len : sizeof(msg) - 1), payload);
    char *sp = strchr(msg, ' ');
    if (!sp || strcmp(sp + 1, n->cfg.node_id) != 0)
        return;
    *sp = '\0';
    bool drain = strcmp(msg, "drain") == 0;
    if (!drain && strcmp(msg, "undrain") != 0)
        return;
    pool_write(r->pool, "HSET %s drain %s", r->key_node, drain ? "1" : "0");
    set_drained(r, drain, drain ? "edgectl: drain" : "edgectl: undrain");
}

int registry_set_drain(struct registry *r, bool on, const char *who)
{
    struct pool *p = r->pool;
    struct node *n = p->node;
    r->read_stale = r->reading_drain;
    set_drained(r, on, who);
    if (!p->up)
        return 1;
    char chan[300], msg[300];
    snprintf(chan, sizeof(chan), EP_CHAN_NODES, p->name);
    snprintf(msg, sizeof(msg), "%s %s", on ? "drain" : "undrain", n->cfg.node_id);
    pool_write(p, "HSET %s drain %s", r->key_node, on ? "1" : "0");
    pool_write(p, "PUBLISH %s %s", chan, msg);
    return 0;
}

static void on_state(void *arg, bool up)
{
    struct registry *r = arg;
    if (up) {
        /* a Redis that lost the hash (restarted empty, a promoted replica
         * without the last writes) gets the drain this node follows back;
         * one the operator set since stays */
        pool_write(r->pool, "HSETNX %s drain %s", r->key_node, r->pool->node->drained ? "1" : "0");
        registry_write(r);
        read_drain(r);
    }
}

struct registry *registry_new(struct pool *p, char *err, size_t errlen)
{
    struct node *n = p->node;
    struct registry *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->pool = p;
    snprintf(r->key_node, sizeof(r->key_node), EP_KEY_NODE, p->name, n->cfg.node_id);
    snprintf(r->key_alive, sizeof(r->key_alive), EP_KEY_ALIVE, p->name, n->cfg.node_id);
    snprintf(r->key_nodes, sizeof(r->key_nodes), EP_KEY_NODES, p->name);
    snprintf(r->start_ms, sizeof(r->start_ms), "%llu", (unsigned long long)pool_wall_ms());
    r->tick = event_new(n->base, -1, EV_PERSIST, tick, r);
    struct timeval one = {1, 0};
    if (!r->tick || event_add(r->tick, &one) < 0) {
        if (r->tick)
            event_free(r->tick);
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char chan[300];
    snprintf(chan, sizeof(chan), EP_CHAN_NODES, p->name);
    if (redis_subscribe(p->redis, chan, on_nodes_message, r) < 0) {
        event_free(r->tick);
        free(r);
        snprintf(err, errlen, "cannot subscribe to %s", chan);
        return NULL;
    }
    pool_on_state(p, on_state, r);
    if (p->up)
        on_state(r, true);
    return r;
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    event_free(r->tick);
    free(r);
}
