/* exposition.c -- the node's /metrics page: the state it reads at scrape
 * time (connections, transactions, resolver, Redis, throttle) and the
 * registry's counters (metrics.h), in the Prometheus text format. */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/metrics.h"
#include "admin_http.h"
#include "conn/conn.h"
#include "federation/policy.h"
#include "federation/throttle.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "redis.h"
#include "redis_metrics.h"
#include "resolver.h"
#include "sip/proxy.h"

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

#define MAX_PEERS 100 /* TLS peers labelled one by one; the rest are "other" */

struct peer_count {
    const char *name; /* points into a conn: valid during the walk */
    int direction;    /* 0 in, 1 out */
    uint64_t n;
};

struct conn_walk {
    uint64_t open[2][2][2]; /* side, direction (0 in, 1 out), state (0 open, 1 connecting) */
    struct peer_count peers[MAX_PEERS + 2];
    size_t n_peers;
    uint64_t other[2];
};

static void count_peer(struct conn_walk *w, const char *name, int dir)
{
    for (size_t i = 0; i < w->n_peers; i++)
        if (w->peers[i].direction == dir && strcasecmp(w->peers[i].name, name) == 0) {
            w->peers[i].n++;
            return;
        }
    if (w->n_peers >= MAX_PEERS) {
        w->other[dir]++;
        return;
    }
    w->peers[w->n_peers++] = (struct peer_count){name, dir, 1};
}

static void walk_conn(void *arg, const char *key, void *value)
{
    struct conn_walk *w = arg;
    const struct conn *c = value;
    if (c->state == CONN_CLOSED)
        return;
    int dir = c->outbound ? 1 : 0;
    w->open[c->side & 1][dir][c->state == CONN_CONNECTING ? 1 : 0]++;
    if (!c->tls || c->state != CONN_OPEN)
        return;
    const char *name = c->outbound && c->target ? c->target : c->n_names ? c->names[0] : NULL;
    if (name && c->side == SIDE_EXTERNAL)
        count_peer(w, name, dir);
}

static void write_connections(struct node *n, struct evbuffer *b)
{
    struct conn_walk w;
    memset(&w, 0, sizeof(w));
    hmap_each(&n->conns, walk_conn, &w);
    static const char *const sides[2] = {"internal", "external"};
    static const char *const dirs[2] = {"in", "out"};
    static const char *const states[2] = {"open", "connecting"};
    prom_family(b, "edgepool_connections_open", "gauge",
                "Connections open now, by side, direction (in: accepted, out: opened by the "
                "node) and state (connecting: TCP connect or TLS handshake under way)");
    for (int s = 0; s < 2; s++)
        for (int d = 0; d < 2; d++)
            for (int st = 0; st < 2; st++)
                prom_u64(b, "edgepool_connections_open", w.open[s][d][st], "side", sides[s],
                         "direction", dirs[d], "state", states[st], NULL);
    prom_family(b, "edgepool_tls_connections_open", "gauge",
                "Federation TLS connections open now, by direction and the partner edge they "
                "are with (the peer certificate's name inbound, the name verified outbound)");
    for (size_t i = 0; i < w.n_peers; i++)
        prom_u64(b, "edgepool_tls_connections_open", w.peers[i].n, "direction",
                 dirs[w.peers[i].direction], "peer", w.peers[i].name, NULL);
    for (int d = 0; d < 2; d++)
        if (w.other[d])
            prom_u64(b, "edgepool_tls_connections_open", w.other[d], "direction", dirs[d], "peer",
                     "other", NULL);
    const struct node_stats *st = &n->stats;
    prom_family_u64(b, "edgepool_connections_accepted_total", "counter",
                    "Connections accepted on the two listeners", st->conns_accepted);
    prom_family_u64(b, "edgepool_connections_refused_total", "counter",
                    "Connections refused at accept (connection limits)", st->conns_refused);
    prom_family_u64(b, "edgepool_connections_opened_total", "counter",
                    "Outbound connections opened (to partners and internal next hops)",
                    st->conns_opened);
}

static void write_dns(struct node *n, struct evbuffer *b)
{
    if (!n->resolver)
        return;
    struct resolver_stats rs;
    resolver_get_stats(n->resolver, &rs);
    prom_family_u64(b, "edgepool_dns_lookups_total", "counter",
                    "DNS lookups asked for ((type, name) pairs), however answered", rs.requests);
    prom_family_u64(b, "edgepool_dns_queries_total", "counter", "DNS lookups sent to the servers",
                    rs.queries);
    prom_family(b, "edgepool_dns_cache_hits_total", "counter",
                "DNS lookups answered from the cache, by answer (positive, negative)");
    prom_u64(b, "edgepool_dns_cache_hits_total", rs.cache_hits, "answer", "positive", NULL);
    prom_u64(b, "edgepool_dns_cache_hits_total", rs.negative_hits, "answer", "negative", NULL);
    prom_family_u64(b, "edgepool_dns_coalesced_total", "counter",
                    "DNS lookups that joined an identical one in flight", rs.coalesced);
    prom_family_u64(b, "edgepool_dns_failures_total", "counter",
                    "DNS lookups sent that ended SERVFAIL, timeout or error", rs.failures);
}

static void write_redis(struct node *n, struct evbuffer *b)
{
    prom_family_u64(b, "edgepool_pool_configured", "gauge",
                    "1 when the node shares a pool's state through Redis, 0 when it is alone",
                    n->pool ? 1 : 0);
    if (!n->pool || !n->pool->redis)
        return;
    struct redis_stats rs;
    redis_get_stats(n->pool->redis, &rs);
    const struct pool_stats *ps = &n->pool->stats;
    redis_metrics_write(b, "edgepool_redis_", &rs, true);
    prom_family(b, "edgepool_pool_writes_total", "counter",
                "Fire-and-forget writes of the pool's state, by result (sent, failed, "
                "dropped: Redis was down)");
    prom_u64(b, "edgepool_pool_writes_total", ps->writes, "result", "sent", NULL);
    prom_u64(b, "edgepool_pool_writes_total", ps->write_errors, "result", "failed", NULL);
    prom_u64(b, "edgepool_pool_writes_total", ps->writes_dropped, "result", "dropped", NULL);
    prom_family(b, "edgepool_pool_dialog_lookups_total", "counter",
                "Dialog records looked up in Redis (requests that lost their ep-peer), by "
                "result");
    prom_u64(b, "edgepool_pool_dialog_lookups_total",
             ps->lookups - ps->lookup_misses - ps->lookup_errors, "result", "found", NULL);
    prom_u64(b, "edgepool_pool_dialog_lookups_total", ps->lookup_misses, "result", "not_found",
             NULL);
    prom_u64(b, "edgepool_pool_dialog_lookups_total", ps->lookup_errors, "result", "failed", NULL);
    prom_family(b, "edgepool_pool_throttle_checks_total", "counter",
                "Pool-wide throttle checks of discovered partners, by where they were decided "
                "(redis, or local: Redis down or failing)");
    prom_u64(b, "edgepool_pool_throttle_checks_total", ps->throttle_checks, "where", "redis", NULL);
    prom_u64(b, "edgepool_pool_throttle_checks_total", ps->throttle_fallbacks, "where", "local",
             NULL);
    prom_family(b, "edgepool_pool_records_held", "gauge",
                "Pool records this node owns and keeps to write again after a Redis restart "
                "or failover (its live dialogs and subscriptions)");
    prom_u64(b, "edgepool_pool_records_held", pool_records_held(n->pool), NULL);
    prom_family(b, "edgepool_pool_record_deletions_pending", "gauge",
                "Deletions of pool records Redis has not acknowledged yet");
    prom_u64(b, "edgepool_pool_record_deletions_pending", pool_records_pending_dels(n->pool), NULL);
    prom_family(b, "edgepool_pool_record_writes_queued_total", "counter",
                "Record writes made while Redis was down, sent when it came back");
    prom_u64(b, "edgepool_pool_record_writes_queued_total", ps->records_queued, NULL);
    prom_family(b, "edgepool_pool_records_replayed_total", "counter",
                "Records written again at a Redis (re)connection, by whether Redis still had "
                "them (present) or had lost them (restored)");
    prom_u64(b, "edgepool_pool_records_replayed_total", ps->records_replayed - ps->records_restored,
             "redis", "present", NULL);
    prom_u64(b, "edgepool_pool_records_replayed_total", ps->records_restored, "redis", "restored",
             NULL);
    prom_family(b, "edgepool_pool_records_over_cap_total", "counter",
                "Records not kept for replay: the node's table was full");
    prom_u64(b, "edgepool_pool_records_over_cap_total", ps->records_over_cap, NULL);
}

static void write_throttle(struct node *n, struct evbuffer *b)
{
    if (!n->throttle)
        return;
    const struct watch_entry *w;
    size_t k = throttle_watchlist(n->throttle, &w), refused = 0;
    for (size_t i = 0; i < k; i++)
        refused += w[i].refused;
    prom_family_u64(b, "edgepool_discovered_partners_tracked", "gauge",
                    "Discovered partner domains the node's throttle tracks now",
                    throttle_domain_count(n->throttle));
    prom_family(b, "edgepool_watch_list_entries", "gauge",
                "Discovered partners on the node's watch list, by state (refused: over the "
                "contact cap, every request refused; watched: throttled or suspicious)");
    prom_u64(b, "edgepool_watch_list_entries", refused, "state", "refused", NULL);
    prom_u64(b, "edgepool_watch_list_entries", k - refused, "state", "watched", NULL);
}

void node_metrics_write(struct node *n, struct evbuffer *b)
{
    const struct node_stats *st = &n->stats;
    prom_family(b, "edgepool_node_info", "gauge",
                "Always 1: the node's id, version, pool FQDN and pool name as labels");
    prom_u64(b, "edgepool_node_info", 1, "node", n->cfg.node_id, "version", EDGEPOOL_VERSION,
             "pool_fqdn", n->cfg.pool_fqdn, "pool", n->pool ? n->pool->name : "", NULL);
    prom_family(b, "edgepool_node_serving", "gauge",
                "1 while the node takes new work (listeners up, not draining nor drained): "
                "what /health says");
    bool listening =
        n->int_listener && n->ext_listener && (n->int_tls_addr.port == 0 || n->int_tls_listener);
    prom_u64(b, "edgepool_node_serving", listening && !n->draining && !n->drained, NULL);
    prom_family(b, "edgepool_node_drain", "gauge",
                "1 in the node's drain state: drained (the operator's drain, keeps running) "
                "or stopping (SIGTERM)");
    prom_u64(b, "edgepool_node_drain", n->drained && !n->draining, "state", "drained", NULL);
    prom_u64(b, "edgepool_node_drain", n->draining, "state", "stopping", NULL);
    prom_family(b, "edgepool_policy_version", "gauge", "The version of the policy applied");
    prom_u64(b, "edgepool_policy_version",
             n->policy ? policy_version(n->policy->current(n->policy)) : 0, NULL);
    write_connections(n, b);
    prom_family_u64(b, "edgepool_sip_transactions_open", "gauge",
                    "Server transactions still open (drain waits for none)",
                    proxy_open_transactions(n));
    prom_family_u64(b, "edgepool_sip_client_transactions", "gauge",
                    "Client transactions known (open, or lingering for late responses)",
                    n->ctxns.count);
    prom_family_u64(b, "edgepool_sip_parse_errors_total", "counter",
                    "Malformed or unframeable SIP input (answered 400/513 or dropped)",
                    st->parse_errors);
    prom_family_u64(b, "edgepool_sip_transaction_timeouts_total", "counter",
                    "Transactions that timed out (Timer B/F or C): answered 408", st->timeouts);
    write_dns(n, b);
    write_redis(n, b);
    write_throttle(n, b);
    metrics_write(n->metrics, b);
}
