/* admin.c -- the edge balancer's admin endpoint: start-up from the admin
 * group, /health, /status and the pool page's route (see admin.h). */
#include "admin/balancer_admin.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/pool_view.h"
#include "admin_endpoint.h"
#include "admin_http.h"
#include "balancer.h"
#include "dns/responder.h"
#include "health/health.h"
#include "log.h"
#include "redis.h"
#include "vip/vip.h"

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

#define MAX_EDGES 256
#define MAX_EDGE_NODES 16

struct balancer_admin {
    struct balancer *b;
    struct admin_endpoint ep; /* the server, the listen address, the start time */
    struct pool_view *view;
};

struct pool_view *balancer_admin_view(struct balancer *b)
{
    return b->admin ? b->admin->view : NULL;
}

/* ---- pins per node ----------------------------------------------------- */

struct pins_walk {
    struct node_pins *v;
    size_t n, max;
};

static void count_pin(void *arg, const char *source, const char *node, unsigned conns)
{
    struct pins_walk *w = arg;
    if (!node || !*node)
        return;
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i].node, node) == 0) {
            w->v[i].pins++;
            return;
        }
    if (w->n < w->max) {
        snprintf(w->v[w->n].node, sizeof(w->v[w->n].node), "%s", node);
        w->v[w->n++].pins = 1;
    }
}

size_t balancer_pins_per_node(struct balancer *b, struct node_pins *out, size_t max)
{
    struct pins_walk w = {out, 0, max};
    if (b->vip)
        vip_pins_each(b->vip, count_pin, &w);
    return w.n;
}

static unsigned pins_of(const struct node_pins *p, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].node, id) == 0)
            return p[i].pins;
    return 0;
}

/* ---- /health ------------------------------------------------------------- */

static int page_health(struct admin_req *r, void *arg)
{
    struct balancer *b = arg;
    size_t healthy = b->health ? health_healthy_count(b->health) : 0;
    const char *why = b->stopping ? "stopping" : healthy == 0 ? "no healthy node" : NULL;
    if (why)
        evbuffer_add_printf(r->out, "%s\n", why);
    else
        evbuffer_add_printf(r->out, "ok: %zu healthy node(s)\n", healthy);
    return why ? 503 : 200;
}

/* ---- /status ------------------------------------------------------------- */

/* The partners of every node, by partner edge: which nodes hold it. */
struct edge_holder {
    const char *node;
    unsigned in, out, txns;
};
struct edge {
    char name[256];
    char domains[512];
    struct edge_holder nodes[MAX_EDGE_NODES];
    int n_nodes;
};

static void domains_merge(char *into, size_t len, const char *more)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", more);
    char *save = NULL;
    for (char *d = strtok_r(tmp, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        bool have = false;
        const char *p = into;
        size_t dl = strlen(d);
        while (*p && !have) {
            const char *c = strchr(p, ',');
            size_t l = c ? (size_t)(c - p) : strlen(p);
            have = l == dl && strncasecmp(p, d, l) == 0;
            p += l + (c ? 1 : 0);
        }
        size_t o = strlen(into);
        if (!have && o + dl + 2 < len)
            snprintf(into + o, len - o, "%s%s", o ? "," : "", d);
    }
}

static void json_domains(struct json_w *w, const char *key, const char *list)
{
    json_arr(w, key);
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l)
            json_strn(w, NULL, p, l);
        p += l + (c ? 1 : 0);
    }
    json_end(w);
}

static void status_node(struct json_w *w, struct balancer *b, const struct health_node *hn,
                        const struct pv_node *pv, unsigned pins)
{
    json_obj(w, NULL);
    json_str(w, "id", hn->id);
    json_str(w, "fqdn", hn->fqdn[0] ? hn->fqdn : NULL);
    char addr[100];
    snprintf(addr, sizeof(addr), strchr(hn->ext_host, ':') ? "[%s]:%u" : "%s:%u", hn->ext_host,
             hn->sip_port);
    json_str(w, "address", addr);
    json_str(w, "source", hn->from_registry ? "registry" : "static");
    json_str(w, "health", hn->healthy ? "healthy" : "unhealthy");
    json_bool(w, "healthy", hn->healthy);
    json_bool(w, "alive", hn->alive);
    json_bool(w, "check_ok", hn->check_ok);
    json_bool(w, "draining", hn->draining);
    json_f64(w, "check_latency_ms", hn->check_latency_us / 1000.0);
    json_u64(w, "vip_connections", hn->vip_conns);
    json_u64(w, "pins", pins);
    json_u64(w, "changed_ago_s", (balancer_now_ms(b) - hn->changed_ms) / 1000);
    if (pv) {
        json_obj(w, "registry");
        json_str(w, "state", pv->state);
        json_str(w, "version", pv->version);
        json_u64(w, "load", pv->load);
        json_u64(w, "connections", pv->conns);
        json_u64(w, "policy_version", pv->policy_version);
        json_str(w, "admin", pv->admin[0] ? pv->admin : NULL);
        json_u64(w, "seen_ms", pv->seen_ms);
        json_u64(w, "start_ms", pv->start_ms);
        json_end(w);
        json_arr(w, "partners");
        const char *s = pv->partners ? pv->partners : "";
        struct pv_partner p;
        while (pool_view_next_partner(&s, &p)) {
            json_obj(w, NULL);
            json_str(w, "edge", p.edge);
            json_domains(w, "domains", p.domains);
            json_u64(w, "connections_in", p.in);
            json_u64(w, "connections_out", p.out);
            json_u64(w, "transactions", p.txns);
            json_end(w);
        }
        json_end(w);
    } else {
        json_null(w, "registry");
        json_arr(w, "partners");
        json_end(w);
    }
    json_end(w);
}

static void status_partners(struct json_w *w, struct balancer *b, struct health_node *hn, size_t n)
{
    struct edge *edges = calloc(MAX_EDGES, sizeof(*edges));
    size_t ne = 0;
    json_arr(w, "partners");
    for (size_t i = 0; edges && i < n; i++) {
        const struct pv_node *pv =
            hn[i].id[0] && b->admin->view ? pool_view_node(b->admin->view, hn[i].id) : NULL;
        const char *s = pv && pv->partners ? pv->partners : "";
        struct pv_partner p;
        while (pool_view_next_partner(&s, &p)) {
            struct edge *e = NULL;
            for (size_t k = 0; k < ne && !e; k++)
                if (strcasecmp(edges[k].name, p.edge) == 0)
                    e = &edges[k];
            if (!e && ne < MAX_EDGES) {
                e = &edges[ne++];
                snprintf(e->name, sizeof(e->name), "%s", p.edge);
            }
            if (!e)
                continue;
            domains_merge(e->domains, sizeof(e->domains), p.domains);
            if (e->n_nodes < MAX_EDGE_NODES)
                e->nodes[e->n_nodes++] = (struct edge_holder){hn[i].id, p.in, p.out, p.txns};
        }
    }
    for (size_t k = 0; k < ne; k++) {
        json_obj(w, NULL);
        json_str(w, "edge", edges[k].name);
        json_domains(w, "domains", edges[k].domains);
        json_arr(w, "nodes");
        for (int j = 0; j < edges[k].n_nodes; j++) {
            json_obj(w, NULL);
            json_str(w, "node", edges[k].nodes[j].node);
            json_u64(w, "connections_in", edges[k].nodes[j].in);
            json_u64(w, "connections_out", edges[k].nodes[j].out);
            json_u64(w, "transactions", edges[k].nodes[j].txns);
            json_end(w);
        }
        json_end(w);
        json_end(w);
    }
    json_end(w);
    free(edges);
}

static int page_status(struct admin_req *r, void *arg)
{
    struct balancer *b = arg;
    struct balancer_admin *a = b->admin;
    const struct balancer_config *c = &b->cfg;
    struct json_w w;
    json_init(&w, r->out);
    json_obj(&w, NULL);
    json_str(&w, "balancer", c->id);
    json_str(&w, "version", EDGEPOOL_VERSION);
    json_u64(&w, "now_ms", admin_wall_ms());
    json_u64(&w, "started_ms", a->ep.start_wall_ms);
    json_u64(&w, "uptime_s", admin_endpoint_uptime_s(&a->ep));
    bool has_redis = balancer_config_has_redis(c);
    json_str(&w, "pool", has_redis ? c->redis_pool : NULL);
    json_str(&w, "redis", !b->redis ? "none" : redis_is_up(b->redis) ? "up" : "down");
    size_t healthy = b->health ? health_healthy_count(b->health) : 0;
    json_bool(&w, "serving", !b->stopping && healthy > 0);
    json_u64(&w, "healthy_nodes", healthy);
    json_str(&w, "log_level", log_level_name(log_get_level()));

    json_obj(&w, "dns");
    json_bool(&w, "enabled", b->dns != NULL);
    json_str(&w, "listen", c->dns_listen);
    json_str(&w, "zone", c->dns_zone);
    json_str(&w, "pool_fqdn", c->dns_pool_fqdn);
    if (b->dns) {
        struct dns_stats ds;
        dns_server_get_stats(b->dns, &ds);
        json_u64(&w, "queries", ds.udp_queries + ds.tcp_queries);
    }
    json_end(&w);

    json_obj(&w, "vip");
    json_bool(&w, "enabled", b->vip && c->vip_enabled);
    json_str(&w, "listen", c->vip_listen);
    json_arr(&w, "ports");
    for (int i = 0; i < c->vip_ports.n; i++)
        json_str(&w, NULL, c->vip_ports.v[i]);
    json_end(&w);
    if (b->vip) {
        struct vip_stats vs;
        vip_get_stats(b->vip, &vs);
        json_u64(&w, "connections_open", vs.active);
        json_u64(&w, "connections_accepted", vs.accepted);
        json_u64(&w, "pins", vs.pins);
        json_u64(&w, "repins", vs.repins);
    }
    json_end(&w);

    struct health_node *hn = NULL;
    size_t n = b->health ? health_nodes(b->health, &hn) : 0;
    struct node_pins *pins = calloc(HEALTH_MAX_NODES, sizeof(*pins));
    size_t np = pins ? balancer_pins_per_node(b, pins, HEALTH_MAX_NODES) : 0;
    json_arr(&w, "nodes");
    for (size_t i = 0; i < n; i++)
        if (hn[i].id[0])
            status_node(&w, b, &hn[i], a->view ? pool_view_node(a->view, hn[i].id) : NULL,
                        pins_of(pins, np, hn[i].id));
    json_end(&w);
    free(pins);
    status_partners(&w, b, hn, n);

    json_arr(&w, "failovers");
    struct pv_event ev[PV_EVENTS];
    size_t ne = a->view ? pool_view_events(a->view, ev, PV_EVENTS) : 0;
    for (size_t i = 0; i < ne; i++) {
        json_obj(&w, NULL);
        json_u64(&w, "ms", ev[i].wall_ms);
        json_str(&w, "node", ev[i].node);
        json_str(&w, "event", ev[i].what);
        json_str(&w, "why", ev[i].why);
        json_end(&w);
    }
    json_end(&w);
    json_end(&w);
    return admin_reply_json(r, 200);
}

/* ---- the rest -------------------------------------------------------------- */

static int page_pool(struct admin_req *r, void *arg)
{
    balancer_page_write(r->out);
    r->content_type = "text/html; charset=utf-8";
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                      "connect-src 'self'; img-src 'self'");
    return 200;
}

static int page_metrics(struct admin_req *r, void *arg)
{
    balancer_metrics_write(arg, r->out);
    r->content_type = PROM_CONTENT_TYPE;
    return 200;
}

static int call_log_level(struct admin_req *r, void *arg)
{
    char lv[32];
    int rc = admin_log_level_call(r, lv, sizeof(lv));
    if (rc < 0) {
        evbuffer_add_printf(r->out, "level=error|warn|info|debug\n");
        return 400;
    }
    return rc;
}

int balancer_admin_check(const struct balancer_config *c, const char **key, int *index, char *why,
                         size_t whylen)
{
    return admin_settings_check(c->admin_listen, &c->admin_allow, key, index, why, whylen);
}

int balancer_admin_start(struct balancer *b, char *err, size_t errlen)
{
    struct balancer_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->b = b;
    b->admin = a;
    if (!(a->view = pool_view_new(b))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (admin_endpoint_start(&a->ep, b->base, b->cfg.admin_listen, &b->cfg.admin_allow,
                             b->cfg.admin_token, err, errlen) < 0)
        return -1;
    struct admin_http *http = a->ep.http;
    if (!http)
        return 0; /* off */
    if (admin_http_route(http, "/", ADMIN_GET, page_pool, b) < 0 ||
        admin_http_route(http, "/status", ADMIN_GET, page_status, b) < 0 ||
        admin_http_route(http, "/metrics", ADMIN_GET, page_metrics, b) < 0 ||
        admin_http_route(http, "/health", ADMIN_GET, page_health, b) < 0 ||
        admin_http_route(http, "/log-level", ADMIN_POST | ADMIN_AUTH, call_log_level, b) < 0) {
        snprintf(err, errlen, "admin endpoint: out of memory");
        return -1;
    }
    LOG_INFO("admin",
             "admin endpoint on http://%s (/ the pool page, /status, /metrics, /health); "
             "%d allowed source prefix(es)",
             admin_http_addr(http), b->cfg.admin_allow.n);
    return 0;
}

void balancer_admin_reload(struct balancer *b)
{
    if (b->admin)
        admin_endpoint_reload(&b->admin->ep, b->cfg.admin_listen, &b->cfg.admin_allow,
                              b->cfg.admin_token);
}

void balancer_admin_free(struct balancer *b)
{
    struct balancer_admin *a = b->admin;
    if (!a)
        return;
    admin_endpoint_free(&a->ep);
    pool_view_free(a->view);
    free(a);
    b->admin = NULL;
}
