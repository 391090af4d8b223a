/* admin.c -- the edge node's admin endpoint: start-up from the admin group,
 * /health, /status, and the state-changing calls (see admin.h). */
#include "admin/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/metrics.h"
#include "admin_endpoint.h"
#include "admin_http.h"
#include "conn/conn.h"
#include "federation/policy.h"
#include "federation/throttle.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool/registry.h"
#include "redis.h"
#include "sip/proxy.h"
#include "sip/txn.h"

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

#define MAX_PARTNERS 256
#define MAX_PARTNER_DOMAINS 8

struct node_admin {
    struct node *node;
    struct admin_endpoint ep; /* the server, the listen address, the start time */
};

static const char *state_name(const struct node *n)
{
    return n->draining ? "stopping" : n->drained ? "drained" : "active";
}

static bool listeners_up(const struct node *n)
{
    return n->int_listener && n->ext_listener && (n->int_tls_addr.port == 0 || n->int_tls_listener);
}

/* ---- /metrics ------------------------------------------------------------ */

static int page_metrics(struct admin_req *r, void *arg)
{
    node_metrics_write(arg, r->out);
    r->content_type = PROM_CONTENT_TYPE;
    return 200;
}

/* ---- /health ------------------------------------------------------------- */

static int page_health(struct admin_req *r, void *arg)
{
    struct node *n = arg;
    const char *why = !listeners_up(n) ? (n->draining ? "stopping (SIGTERM): listeners closed"
                                                      : "SIP listeners down")
                      : n->draining    ? "stopping (SIGTERM)"
                      : n->drained     ? "drained"
                                       : NULL;
    evbuffer_add_printf(r->out, "%s\n", why ? why : "ok");
    return why ? 503 : 200;
}

/* ---- /status ------------------------------------------------------------- */

/* A partner edge we are federated with now: its connections, the domains it
 * was verified for, the transactions open with it. The strings point into
 * conns and transactions: valid while the page is built (one loop turn). */
struct partner {
    const char *edge;
    const char *domains[MAX_PARTNER_DOMAINS];
    int n_domains;
    unsigned conns_in, conns_out, txns;
};

struct partners {
    struct partner *v;
    size_t n;
    uint64_t version;
    struct partner *cur; /* for the domain callback */
};

static struct partner *partner_get(struct partners *ps, const char *edge)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcasecmp(ps->v[i].edge, edge) == 0)
            return &ps->v[i];
    if (ps->n >= MAX_PARTNERS)
        return NULL;
    struct partner *p = &ps->v[ps->n++];
    memset(p, 0, sizeof(*p));
    p->edge = edge;
    return p;
}

static void partner_domain(void *arg, const char *domain)
{
    struct partner *p = ((struct partners *)arg)->cur;
    if (!p || !domain || !*domain)
        return;
    for (int i = 0; i < p->n_domains; i++)
        if (strcasecmp(p->domains[i], domain) == 0)
            return;
    if (p->n_domains < MAX_PARTNER_DOMAINS)
        p->domains[p->n_domains++] = domain;
}

static void partners_conn(void *arg, const char *key, void *value)
{
    struct partners *ps = arg;
    const struct conn *c = value;
    if (c->side != SIDE_EXTERNAL || c->state != CONN_OPEN)
        return;
    const char *edge = c->outbound && c->target ? c->target : c->n_names ? c->names[0] : NULL;
    struct partner *p = edge ? partner_get(ps, edge) : NULL;
    if (!p)
        return;
    if (c->outbound)
        p->conns_out++;
    else
        p->conns_in++;
    ps->cur = p;
    conn_domains_each(c, ps->version, partner_domain, ps);
    ps->cur = NULL;
}

static void partners_txn(void *arg, const char *key, void *value)
{
    struct partners *ps = arg;
    const struct txn *t = value;
    if (t->state == TXN_DONE)
        return;
    const char *edge = NULL;
    if (t->in_side == SIDE_EXTERNAL)
        edge = t->peer[0] ? t->peer : NULL;
    else if (t->n_targets > 0 && t->targets[t->target_idx].side == SIDE_EXTERNAL)
        edge = t->targets[t->target_idx].host;
    struct partner *p = edge ? partner_get(ps, edge) : NULL;
    if (!p)
        return;
    p->txns++;
    ps->cur = p;
    partner_domain(ps, t->remote_domain);
    ps->cur = NULL;
}

struct conn_counts {
    unsigned v[2][2]; /* side, direction (0 in, 1 out) */
};

static void count_conn(void *arg, const char *key, void *value)
{
    struct conn_counts *cc = arg;
    const struct conn *c = value;
    if (c->state != CONN_CLOSED)
        cc->v[c->side & 1][c->outbound ? 1 : 0]++;
}

/* The partner edges of n now (ps->v allocated here: the caller frees it). */
static int partners_collect(struct node *n, struct partners *ps)
{
    memset(ps, 0, sizeof(*ps));
    if (!(ps->v = calloc(MAX_PARTNERS, sizeof(struct partner))))
        return -1;
    ps->version = n->policy ? policy_version(n->policy->current(n->policy)) : 0;
    hmap_each(&n->conns, partners_conn, ps);
    hmap_each(&n->stxns, partners_txn, ps);
    return 0;
}

size_t node_admin_partners(struct node *n, char *buf, size_t len)
{
    struct partners ps;
    size_t o = 0;
    if (len)
        buf[0] = '\0';
    if (len == 0 || partners_collect(n, &ps) < 0)
        return 0;
    for (size_t i = 0; i < ps.n; i++) {
        const struct partner *p = &ps.v[i];
        char doms[600] = "";
        size_t dl = 0;
        for (int k = 0; k < p->n_domains && dl < sizeof(doms); k++)
            dl +=
                (size_t)snprintf(doms + dl, sizeof(doms) - dl, "%s%s", k ? "," : "", p->domains[k]);
        if (dl >= sizeof(doms))
            continue;
        int w = snprintf(buf + o, len - o, "%s%s|%s|%u|%u|%u", o ? ";" : "", p->edge, doms,
                         p->conns_in, p->conns_out, p->txns);
        if (w < 0 || (size_t)w >= len - o) {
            buf[o] = '\0'; /* whole entries only */
            break;
        }
        o += (size_t)w;
    }
    free(ps.v);
    return o;
}

const char *node_admin_addr(const struct node *n)
{
    return n->admin && n->admin->ep.http ? admin_http_addr(n->admin->ep.http) : "";
}

static void status_partners(struct node *n, struct json_w *w)
{
    struct partners ps;
    json_arr(w, "partners");
    if (partners_collect(n, &ps) == 0) {
        for (size_t i = 0; i < ps.n; i++) {
            const struct partner *p = &ps.v[i];
            json_obj(w, NULL);
            json_str(w, "edge", p->edge);
            json_arr(w, "domains");
            for (int k = 0; k < p->n_domains; k++)
                json_str(w, NULL, p->domains[k]);
            json_end(w);
            json_u64(w, "connections_in", p->conns_in);
            json_u64(w, "connections_out", p->conns_out);
            json_u64(w, "transactions", p->txns);
            json_end(w);
        }
    }
    json_end(w);
    free(ps.v);
}

static int page_status(struct admin_req *r, void *arg)
{
    struct node_admin *a = arg;
    struct node *n = a->node;
    struct json_w w;
    json_init(&w, r->out);
    json_obj(&w, NULL);
    json_str(&w, "node", n->cfg.node_id);
    json_str(&w, "fqdn", n->cfg.node_fqdn);
    json_str(&w, "pool_fqdn", n->cfg.pool_fqdn);
    json_str(&w, "version", EDGEPOOL_VERSION);
    json_u64(&w, "started_ms", a->ep.start_wall_ms);
    json_u64(&w, "uptime_s", admin_endpoint_uptime_s(&a->ep));
    json_str(&w, "state", state_name(n));
    json_bool(&w, "serving", listeners_up(n) && !n->draining && !n->drained);
    json_bool(&w, "draining", n->draining);
    json_bool(&w, "drained", n->drained);
    json_str(&w, "log_level", log_level_name(log_get_level()));
    json_u64(&w, "policy_version", n->policy ? policy_version(n->policy->current(n->policy)) : 0);
    char addr[100];
    json_obj(&w, "listeners");
    snprintf(addr, sizeof(addr), "%s:%u", n->int_addr.host, n->int_addr.port);
    json_str(&w, "internal", addr);
    snprintf(addr, sizeof(addr), "%s:%u", n->int_tls_addr.host, n->int_tls_addr.port);
    json_str(&w, "internal_tls", n->int_tls_addr.port ? addr : NULL); /* null: none */
    snprintf(addr, sizeof(addr), "%s:%u", n->ext_addr.host, n->ext_addr.port);
    json_str(&w, "external", addr);
    json_str(&w, "admin", a->ep.http ? admin_http_addr(a->ep.http) : NULL);
    json_bool(&w, "up", listeners_up(n));
    json_end(&w);
    /* the pool: its name and Redis ("none" for a lone node) */
    bool redis_up = n->pool && n->pool->redis && redis_is_up(n->pool->redis);
    json_str(&w, "redis", !n->pool ? "none" : redis_up ? "up" : "down");
    if (n->pool) {
        json_obj(&w, "pool");
        json_str(&w, "name", n->pool->name);
        json_str(&w, "redis_addr", n->pool->redis ? redis_current_addr(n->pool->redis) : NULL);
        json_bool(&w, "redis_up", redis_up);
        json_end(&w);
    } else {
        json_null(&w, "pool");
    }
    struct conn_counts cc;
    memset(&cc, 0, sizeof(cc));
    hmap_each(&n->conns, count_conn, &cc);
    json_obj(&w, "connections");
    json_u64(&w, "total", n->n_conns);
    json_u64(&w, "internal_in", cc.v[SIDE_INTERNAL][0]);
    json_u64(&w, "internal_out", cc.v[SIDE_INTERNAL][1]);
    json_u64(&w, "external_in", cc.v[SIDE_EXTERNAL][0]);
    json_u64(&w, "external_out", cc.v[SIDE_EXTERNAL][1]);
    json_end(&w);
    json_obj(&w, "transactions");
    json_u64(&w, "open", proxy_open_transactions(n));
    json_u64(&w, "client", n->ctxns.count);
    json_end(&w);
    json_obj(&w, "sip");
    json_u64(&w, "requests_received", n->stats.requests_in);
    json_u64(&w, "requests_relayed", n->stats.requests_out);
    json_u64(&w, "responses_received", n->stats.responses_in);
    json_u64(&w, "responses_sent", n->stats.responses_out);
    json_u64(&w, "policy_rejections", n->stats.policy_rejects);
    json_u64(&w, "parse_errors", n->stats.parse_errors);
    json_u64(&w, "tls_failures", n->stats.tls_failures);
    json_u64(&w, "timeouts", n->stats.timeouts);
    json_end(&w);
    if (n->throttle) {
        const struct watch_entry *we;
        json_obj(&w, "throttle");
        json_u64(&w, "discovered_partners", throttle_domain_count(n->throttle));
        json_u64(&w, "watch_list", throttle_watchlist(n->throttle, &we));
        json_end(&w);
    }
    status_partners(n, &w);
    json_end(&w);
    return admin_reply_json(r, 200);
}

/* ---- state-changing calls ----------------------------------------------- */

static int reply_error(struct admin_req *r, int status, const char *fmt, const char *arg)
{
    char msg[300];
    snprintf(msg, sizeof(msg), fmt, arg);
    struct json_w w;
    json_init(&w, r->out);
    json_obj(&w, NULL);
    json_str(&w, "error", msg);
    json_end(&w);
    return admin_reply_json(r, status);
}

static int call_log_level(struct admin_req *r, void *arg)
{
    char lv[32];
    int rc = admin_log_level_call(r, lv, sizeof(lv));
    if (rc == ADMIN_LEVEL_MISSING)
        return reply_error(r, 400, "%s", "level missing: level=error|warn|info|debug");
    if (rc == ADMIN_LEVEL_BAD)
        return reply_error(r, 400, "\"%.20s\" is not error, warn, info or debug", lv);
    return rc;
}

static int drain_call(struct admin_req *r, struct node *n, bool on)
{
    char who[120];
    snprintf(who, sizeof(who), "admin: %s from %s", on ? "drain" : "undrain", r->peer);
    bool shared = false;
    if (n->pool && n->pool->registry) {
        shared = registry_set_drain(n->pool->registry, on, who) == 0;
        if (!shared)
            LOG_WARN("admin",
                     "%s applied on this node only: Redis is down, the registry's drain field "
                     "wins when it returns",
                     on ? "drain" : "undrain");
    } else if (n->drained != on) {
        n->drained = on;
        if (on)
            LOG_WARN("admin",
                     "drained (%s): new requests get 503, established dialogs go on; %zu "
                     "transaction(s) open",
                     who, proxy_open_transactions(n));
        else
            LOG_WARN("admin", "undrained (%s): taking new requests again", who);
    }
    struct json_w w;
    json_init(&w, r->out);
    json_obj(&w, NULL);
    json_str(&w, "state", state_name(n));
    json_bool(&w, "drained", n->drained);
    json_bool(&w, "pool_wide", shared);
    json_end(&w);
    return admin_reply_json(r, 200);
}

static int call_drain(struct admin_req *r, void *arg)
{
    return drain_call(r, arg, true);
}
static int call_undrain(struct admin_req *r, void *arg)
{
    return drain_call(r, arg, false);
}

/* ---- start, reload, stop ---------------------------------------------- */

int node_admin_start(struct node *n, char *err, size_t errlen)
{
    if (!n->metrics && !(n->metrics = metrics_new())) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct node_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->node = n;
    n->admin = a;
    if (admin_endpoint_start(&a->ep, n->base, n->cfg.admin_listen, &n->cfg.admin_allow,
                             n->cfg.admin_token, err, errlen) < 0)
        return -1;
    struct admin_http *http = a->ep.http;
    if (!http)
        return 0; /* off */
    if (admin_http_route(http, "/metrics", ADMIN_GET, page_metrics, n) < 0 ||
        admin_http_route(http, "/health", ADMIN_GET, page_health, n) < 0 ||
        admin_http_route(http, "/status", ADMIN_GET, page_status, a) < 0 ||
        admin_http_route(http, "/log-level", ADMIN_POST | ADMIN_AUTH, call_log_level, n) < 0 ||
        admin_http_route(http, "/drain", ADMIN_POST | ADMIN_AUTH, call_drain, n) < 0 ||
        admin_http_route(http, "/undrain", ADMIN_POST | ADMIN_AUTH, call_undrain, n) < 0) {
        snprintf(err, errlen, "admin endpoint: out of memory");
        return -1;
    }
    LOG_INFO("admin",
             "admin endpoint on http://%s (/metrics /health /status); %d allowed source "
             "prefix(es); state-changing calls %s",
             admin_http_addr(http), n->cfg.admin_allow.n,
             n->cfg.admin_token && *n->cfg.admin_token ? "need the bearer token"
                                                       : "off (no admin.token)");
    return 0;
}

void node_admin_reload(struct node *n)
{
    if (n->admin)
        admin_endpoint_reload(&n->admin->ep, n->cfg.admin_listen, &n->cfg.admin_allow,
                              n->cfg.admin_token);
}

void node_admin_free(struct node *n)
{
    struct node_admin *a = n->admin;
    if (a) {
        admin_endpoint_free(&a->ep);
        free(a);
    }
    n->admin = NULL;
    metrics_free(n->metrics);
    n->metrics = NULL;
}
