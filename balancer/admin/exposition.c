/* exposition.c -- the balancer's /metrics page: DNS answers by question type
 * and rcode, every node's health and check latency, VIP connections per
 * node, pins and re-pins, health changes, Redis, in the Prometheus text
 * format. Read from the modules' counters at scrape time. */
#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/balancer_admin.h"
#include "admin/pool_view.h"
#include "admin_http.h"
#include "balancer.h"
#include "dns/responder.h"
#include "health/health.h"
#include "redis.h"
#include "redis_metrics.h"
#include "vip/vip.h"

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

static void write_dns(struct balancer *b, struct evbuffer *o)
{
    prom_family_u64(o, "edgepool_balancer_dns_enabled", "gauge",
                    "1 when the balancer answers DNS for the pool's zone", b->dns != NULL);
    if (!b->dns)
        return;
    struct dns_stats s;
    dns_server_get_stats(b->dns, &s);
    prom_family(o, "edgepool_balancer_dns_queries_total", "counter",
                "DNS queries received, by transport");
    prom_u64(o, "edgepool_balancer_dns_queries_total", s.udp_queries, "transport", "udp", NULL);
    prom_u64(o, "edgepool_balancer_dns_queries_total", s.tcp_queries, "transport", "tcp", NULL);
    prom_family(o, "edgepool_balancer_dns_answers_total", "counter",
                "DNS answers sent, by question type and rcode");
    for (int t = 0; t < DNS_STATS_QTYPES; t++)
        for (int r = 0; r < DNS_STATS_RCODES; r++)
            if (s.answers[t][r])
                prom_u64(o, "edgepool_balancer_dns_answers_total", s.answers[t][r], "qtype",
                         dns_stats_qtype_name(t), "rcode", dns_stats_rcode_name(r), NULL);
    prom_family_u64(o, "edgepool_balancer_dns_truncated_total", "counter",
                    "DNS answers sent truncated (TC=1) because they did not fit", s.truncated);
    prom_family_u64(o, "edgepool_balancer_dns_ignored_total", "counter",
                    "DNS packets ignored (too short, or responses)", s.ignored);
    prom_family(o, "edgepool_balancer_dns_rate_limited_total", "counter",
                "DNS answers held back by response rate limiting, by action");
    prom_u64(o, "edgepool_balancer_dns_rate_limited_total", s.rrl_dropped, "action", "dropped",
             NULL);
    prom_u64(o, "edgepool_balancer_dns_rate_limited_total", s.rrl_slipped, "action", "slipped",
             NULL);
    prom_family(o, "edgepool_balancer_dns_tcp_connections_total", "counter",
                "DNS TCP connections, by result");
    prom_u64(o, "edgepool_balancer_dns_tcp_connections_total", s.tcp_accepted, "result", "accepted",
             NULL);
    prom_u64(o, "edgepool_balancer_dns_tcp_connections_total", s.tcp_refused, "result", "refused",
             NULL);
    prom_family_u64(o, "edgepool_balancer_dns_zone_rebuilds_total", "counter",
                    "Times the zone's answers were rebuilt after a health change", s.rebuilds);
}

static void write_nodes(struct balancer *b, struct evbuffer *o)
{
    struct health_node *hn = NULL;
    size_t n = b->health ? health_nodes(b->health, &hn) : 0, healthy = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        if (hn[i].id[0]) {
            total++;
            healthy += hn[i].healthy;
        }
    prom_family(o, "edgepool_balancer_nodes", "gauge", "Nodes known, by health");
    prom_u64(o, "edgepool_balancer_nodes", healthy, "health", "healthy", NULL);
    prom_u64(o, "edgepool_balancer_nodes", total - healthy, "health", "unhealthy", NULL);
    static const struct {
        const char *name, *help;
        size_t off;
    } flags[] = {
        {"edgepool_balancer_node_healthy",
         "1 while the node may take new work (alive, checks "
         "passing, not draining)",
         offsetof(struct health_node, healthy)},
        {"edgepool_balancer_node_alive",
         "1 while the node's liveness key is in the registry "
         "(static nodes: always)",
         offsetof(struct health_node, alive)},
        {"edgepool_balancer_node_check_ok", "1 while the active checks pass (rise/fall)",
         offsetof(struct health_node, check_ok)},
        {"edgepool_balancer_node_draining", "1 while the node is draining",
         offsetof(struct health_node, draining)},
    };
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
        prom_family(o, flags[f].name, "gauge", flags[f].help);
        for (size_t i = 0; i < n; i++)
            if (hn[i].id[0])
                prom_u64(o, flags[f].name, *(const bool *)((const char *)&hn[i] + flags[f].off),
                         "node", hn[i].id, NULL);
    }
    prom_family(o, "edgepool_balancer_node_check_latency_seconds", "gauge",
                "Duration of the node's last successful health check");
    for (size_t i = 0; i < n; i++)
        if (hn[i].id[0])
            prom_f64(o, "edgepool_balancer_node_check_latency_seconds",
                     hn[i].check_latency_us / 1e6, "node", hn[i].id, NULL);
    prom_family(o, "edgepool_balancer_vip_connections_open", "gauge",
                "VIP connections open now, by the node they go to");
    for (size_t i = 0; i < n; i++)
        if (hn[i].id[0])
            prom_u64(o, "edgepool_balancer_vip_connections_open", hn[i].vip_conns, "node", hn[i].id,
                     NULL);
    struct pool_view *v = balancer_admin_view(b);
    prom_family(o, "edgepool_balancer_health_changes_total", "counter",
                "Times a node became healthy (to=healthy) or unhealthy (to=unhealthy)");
    if (v) {
        const struct pv_node *pv;
        size_t k = pool_view_nodes(v, &pv);
        for (size_t i = 0; i < k; i++) {
            prom_u64(o, "edgepool_balancer_health_changes_total", pv[i].ups, "node", pv[i].id, "to",
                     "healthy", NULL);
            prom_u64(o, "edgepool_balancer_health_changes_total", pv[i].downs, "node", pv[i].id,
                     "to", "unhealthy", NULL);
        }
        uint64_t reads, failed;
        pool_view_reads(v, &reads, &failed);
        prom_family(o, "edgepool_balancer_registry_reads_total", "counter",
                    "Node registry hashes read for the pool page, by result");
        prom_u64(o, "edgepool_balancer_registry_reads_total", reads, "result", "ok", NULL);
        prom_u64(o, "edgepool_balancer_registry_reads_total", failed, "result", "failed", NULL);
    }
}

static void write_vip(struct balancer *b, struct evbuffer *o)
{
    prom_family_u64(o, "edgepool_balancer_vip_enabled", "gauge",
                    "1 when the VIP proxies connections", b->vip && b->cfg.vip_enabled);
    if (!b->vip)
        return;
    struct vip_stats s;
    vip_get_stats(b->vip, &s);
    prom_family_u64(o, "edgepool_balancer_vip_connections_accepted_total", "counter",
                    "Connections accepted on the VIP", s.accepted);
    prom_family(o, "edgepool_balancer_vip_connections_refused_total", "counter",
                "VIP connections refused, by reason (source_limit: over "
                "vip.max_connections_per_source; no_node: no node could take it)");
    prom_u64(o, "edgepool_balancer_vip_connections_refused_total", s.refused_source, "reason",
             "source_limit", NULL);
    prom_u64(o, "edgepool_balancer_vip_connections_refused_total", s.refused_no_node, "reason",
             "no_node", NULL);
    prom_family_u64(o, "edgepool_balancer_vip_connect_failures_total", "counter",
                    "Connects to a node that failed (refused, timeout)", s.connect_failures);
    prom_family_u64(o, "edgepool_balancer_vip_retries_total", "counter",
                    "Failed connects retried on another node", s.retries);
    prom_family(o, "edgepool_balancer_vip_closed_total", "counter",
                "VIP connections closed by the balancer, by reason");
    prom_u64(o, "edgepool_balancer_vip_closed_total", s.closed_node_dead, "reason", "node_dead",
             NULL);
    prom_u64(o, "edgepool_balancer_vip_closed_total", s.idle_timeouts, "reason", "idle", NULL);
    prom_family(o, "edgepool_balancer_vip_bytes_total", "counter",
                "Bytes spliced through the VIP, by direction");
    prom_u64(o, "edgepool_balancer_vip_bytes_total", s.bytes_to_nodes, "direction", "to_nodes",
             NULL);
    prom_u64(o, "edgepool_balancer_vip_bytes_total", s.bytes_to_clients, "direction", "to_clients",
             NULL);
    prom_family(o, "edgepool_balancer_pins", "gauge",
                "Source addresses in the VIP's pin table, by the node they are pinned to");
    struct node_pins *np = calloc(HEALTH_MAX_NODES, sizeof(*np));
    size_t k = np ? balancer_pins_per_node(b, np, HEALTH_MAX_NODES) : 0;
    uint64_t pinned = 0;
    for (size_t i = 0; i < k; i++) {
        prom_u64(o, "edgepool_balancer_pins", np[i].pins, "node", np[i].node, NULL);
        pinned += np[i].pins;
    }
    free(np);
    if (s.pins > pinned) /* sources whose pin is still being looked up */
        prom_u64(o, "edgepool_balancer_pins", s.pins - pinned, "node", "", NULL);
    prom_family_u64(o, "edgepool_balancer_repins_total", "counter",
                    "Sources moved to another node (their node failed or went away)", s.repins);
}

static void write_redis(struct balancer *b, struct evbuffer *o)
{
    if (!b->redis)
        return;
    struct redis_stats s;
    redis_get_stats(b->redis, &s);
    redis_metrics_write(o, "edgepool_balancer_redis_", &s, false);
}

void balancer_metrics_write(struct balancer *b, struct evbuffer *o)
{
    prom_family(o, "edgepool_balancer_info", "gauge",
                "Always 1: the balancer's id, version and pool as labels");
    prom_u64(o, "edgepool_balancer_info", 1, "balancer", b->cfg.id, "version", EDGEPOOL_VERSION,
             "pool", balancer_config_has_redis(&b->cfg) ? b->cfg.redis_pool : "", NULL);
    write_nodes(b, o);
    write_dns(b, o);
    write_vip(b, o);
    write_redis(b, o);
}
