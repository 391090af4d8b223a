/* conn_pool.c -- per-destination outbound connection reuse (see conn_pool.h). */
#include "conn/conn_pool.h"

#include <event2/buffer.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "resolver.h"
#include "sip/proxy.h"

/* A conn with more than this much unsent output counts as backed up. */
#define POOL_BACKLOG_BYTES (64 * 1024)
#define POOL_ADDR_TTL_MS 30000
#define POOL_DOWN_MS 2000

static int pool_key(char *key, size_t len, enum conn_side side, const char *host, uint16_t port)
{
    return snprintf(key, len, "%d|%s:%u", (int)side, host, port);
}

static struct conn_pool *pool_get(struct node *n, enum conn_side side, const char *host,
                                  uint16_t port, bool tls)
{
    char key[300];
    int klen = pool_key(key, sizeof(key), side, host, port);
    struct conn_pool *p = hmap_get(&n->pools, key, (size_t)klen);
    if (p)
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->node = n;
    p->side = side;
    p->tls = tls;
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = port;
    int max = side == SIDE_EXTERNAL ? 4 : 4;
    p->max_conns = max;
    if (hmap_put(&n->pools, key, (size_t)klen, p) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

static struct conn *pick(struct conn_pool *p)
{
    struct conn *best = NULL;
    size_t best_out = (size_t)-1;
    for (int i = 0; i < p->n_conns; i++) {
        struct conn *c = p->conns[(p->rr + (unsigned)i) % (unsigned)p->n_conns];
        if (c->state == CONN_CLOSED)
            continue;
        size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));
        if (c->state == CONN_CONNECTING)
            out += POOL_BACKLOG_BYTES / 2; /* prefer open ones */
        if (out < best_out) {
            best = c;
            best_out = out;
        }
    }
    p->rr++;
    if (best && best_out >= POOL_BACKLOG_BYTES && p->n_conns < p->max_conns)
        return NULL; /* all backed up: grow */
    return best;
}

static struct conn *open_one(struct conn_pool *p)
{
    if (p->n_addrs == 0)
        return NULL;
    const struct sockaddr_storage *sa = &p->addrs[p->addr_idx % p->n_addrs];
    socklen_t len =
        sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    struct conn *c = conn_connect(p->node, p->side, (const struct sockaddr *)sa, len, p->tls,
                                  p->tls ? p->host : NULL);
    if (!c) {
        p->addr_idx++;
        return NULL;
    }
    c->pool = p;
    p->conns[p->n_conns++] = c;
    LOG_DEBUG("pool", "opening %s connection %d/%d to %s:%u (%s)", p->tls ? "TLS" : "TCP",
              p->n_conns, p->max_conns, p->host, p->port, c->peer_str);
    return c;
}

static void add_waiter(struct conn_pool *p, uint64_t txn_id)
{
    if (p->n_waiters == p->cap_waiters) {
        int cap = p->cap_waiters ? p->cap_waiters * 2 : 8;
        uint64_t *w = realloc(p->waiters, (size_t)cap * sizeof(*w));
        if (!w)
            return;
        p->waiters = w;
        p->cap_waiters = cap;
    }
    p->waiters[p->n_waiters++] = txn_id;
}

static void resolved_cb(void *arg, int status, const struct sockaddr_storage *addrs, size_t n)
{
    struct conn_pool *p = arg;
    struct node *node = p->node;
    p->resolving = false;
    if (status == RESOLVER_CANCELLED) { /* shutting down */
        p->n_waiters = 0;
        return;
    }
    p->n_addrs = 0;
    for (size_t i = 0; i < n && i < POOL_MAX_ADDRS; i++)
        p->addrs[p->n_addrs++] = addrs[i];
    p->addr_idx = 0;
    p->addrs_expire_ms = node_now_ms(node) + POOL_ADDR_TTL_MS;
    /* take the waiters: retrying may queue new ones */
    uint64_t *w = p->waiters;
    int nw = p->n_waiters;
    p->waiters = NULL;
    p->n_waiters = p->cap_waiters = 0;
    if (p->n_addrs == 0)
        LOG_WARN("pool", "cannot resolve %s: %s; %d waiting request(s) fail", p->host,
                 status == RESOLVER_NXDOMAIN  ? "no such name"
                 : status == RESOLVER_NODATA  ? "no address records"
                 : status == RESOLVER_TIMEOUT ? "DNS timeout"
                                              : "DNS failure",
                 nw);
    for (int i = 0; i < nw; i++) {
        if (p->n_addrs)
            proxy_pool_retry(node, w[i]);
        else
            proxy_pool_failed(node, w[i],
                              status == RESOLVER_TIMEOUT || status == RESOLVER_SERVFAIL ? 503 : 404,
                              status == RESOLVER_TIMEOUT || status == RESOLVER_SERVFAIL
                                  ? "DNS failure resolving the next hop"
                                  : "Next hop has no address");
    }
    free(w);
}

struct conn *conn_pool_acquire(struct node *n, enum conn_side side, const char *host, uint16_t port,
                               bool tls, uint64_t txn_id, int *status, const char **reason)
{
    *status = 0;
    struct conn_pool *p = pool_get(n, side, host, port, tls);
    if (!p) {
        *status = 503;
        *reason = "Out of memory";
        return NULL;
    }
    if (side == SIDE_EXTERNAL && p->max_conns != n->outgoing_tls_count)
        p->max_conns = n->outgoing_tls_count;
    struct conn *c = pick(p);
    if (c)
        return c;
    if (p->n_conns == 0 && node_now_ms(n) < p->down_until_ms) {
        *status = 503;
        *reason = "Next hop down (recent connect failures)";
        return NULL;
    }
    if (p->n_addrs && node_now_ms(n) < p->addrs_expire_ms) {
        c = open_one(p);
        if (c)
            return c;
    }
    if (p->n_conns > 0) { /* backed up but cannot grow: use what we have */
        c = pick(p);
        if (c)
            return c;
    }
    add_waiter(p, txn_id);
    if (!p->resolving) {
        p->resolving = true;
        if (resolver_addr(n->resolver, p->host, p->port, AF_UNSPEC, resolved_cb, p) < 0) {
            p->resolving = false;
            p->n_waiters--;
            *status = 503;
            *reason = "DNS failure";
            return NULL;
        }
    }
    return NULL;
}

void conn_pool_conn_up(struct conn_pool *p, struct conn *c)
{
    p->down_until_ms = 0;
    conn_set_idle_timeout(c);
}

void conn_pool_conn_gone(struct conn_pool *p, struct conn *c, bool was_open)
{
    for (int i = 0; i < p->n_conns; i++)
        if (p->conns[i] == c) {
            p->conns[i] = p->conns[--p->n_conns];
            break;
        }
    if (!was_open && p->n_addrs) {
        p->addr_idx++; /* the next attempt tries the next address of the name */
        if (p->addr_idx >= p->n_addrs) {
            p->addrs_expire_ms = 0; /* all tried: resolve again next time */
            p->addr_idx = 0;
            p->down_until_ms = node_now_ms(p->node) + POOL_DOWN_MS;
            LOG_WARN("pool", "%s:%u unreachable on every address: marked down for %d ms", p->host,
                     p->port, POOL_DOWN_MS);
        }
    } else if (was_open) {
        p->down_until_ms = 0;
    }
    c->pool = NULL;
}

void conn_pool_adopt(struct node *n, struct conn *c, const char *host, uint16_t port)
{
    struct conn_pool *p = pool_get(n, c->side, host, port, c->tls);
    if (!p || c->pool || p->n_conns >= POOL_MAX_CONNS)
        return;
    c->pool = p;
    p->conns[p->n_conns++] = c;
}

static void free_pool(void *arg, const char *key, void *value)
{
    struct conn_pool *p = value;
    free(p->waiters);
    free(p);
}

void conn_pool_free_all(struct node *n)
{
    hmap_each(&n->pools, free_pool, NULL);
}
