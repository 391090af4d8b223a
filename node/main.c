/* main.c -- edge-node: command line, start-up, signals, the event loop.
 *
 *   edge-node [-c FILE] [-f] [--check-config] [--print-config] [--help] [--version]
 *
 * With no file the node starts on its embedded default (internal TCP
 * 127.0.0.1:5060, federation TLS 127.0.0.1:5061, a generated certificate).
 * SIGTERM/SIGINT drain (stop accepting, finish transactions, exit); SIGHUP
 * reloads configuration, certificates and policy without dropping
 * connections; SIGUSR1 cycles the log level. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "conn/conn.h"
#include "conn/conn_pool.h"
#include "conn/internal_tls.h"
#include "daemon.h"
#include "federation/policy.h"
#include "federation/throttle.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "resolver.h"
#include "sip/proxy.h"
#include "sip/txn.h"
#include "tls.h"
#include "xmpp/gateway.h"
#include "xmpp/xmpp.h"

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

uint64_t node_now_ms(const struct node *n)
{
    struct timeval tv;
    event_base_gettimeofday_cached(n->base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static int parse_listen(const char *spec, struct listen_addr *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    int len = sizeof(a->sa);
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&a->sa, &len) < 0) {
        snprintf(err, errlen, "\"%s\" is not an address:port", spec);
        return -1;
    }
    a->salen = (socklen_t)len;
    char ip[64];
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
        evutil_inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        a->port = ntohs(s4->sin_port);
        snprintf(a->host, sizeof(a->host), "%s", ip);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
        evutil_inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        a->port = ntohs(s6->sin6_port);
        snprintf(a->host, sizeof(a->host), "[%s]", ip);
    }
    if (a->port == 0) {
        snprintf(err, errlen, "\"%s\" needs a port", spec);
        return -1;
    }
    return 0;
}

/* "host:port[;transport=tcp|tls]" */
static int parse_next_hops(const struct cfg_strlist *l, struct next_hop **out, int *n_out,
                           char *err, size_t errlen)
{
    struct next_hop *hops = calloc((size_t)(l->n ? l->n : 1), sizeof(*hops));
    if (!hops)
        return -1;
    for (int i = 0; i < l->n; i++) {
        const char *s = l->v[i];
        const char *semi = strchr(s, ';');
        size_t hl = semi ? (size_t)(semi - s) : strlen(s);
        char hostport[300];
        snprintf(hostport, sizeof(hostport), "%.*s", (int)hl, s);
        char *colon = strrchr(hostport, ':');
        hops[i].port = 5060;
        if (colon && !strchr(colon, ']')) {
            *colon = '\0';
            hops[i].port = (uint16_t)atoi(colon + 1);
        }
        snprintf(hops[i].host, sizeof(hops[i].host), "%s", hostport);
        hops[i].tls = semi && strstr(semi, "transport=tls");
        if (!hops[i].host[0] || hops[i].port == 0 ||
            (semi && !hops[i].tls && !strstr(semi, "transport=tcp"))) {
            snprintf(err, errlen, "internal.next_hops: \"%s\" is not host:port[;transport=tcp|tls]",
                     s);
            free(hops);
            return -1;
        }
    }
    *out = hops;
    *n_out = l->n;
    return 0;
}

/* The values the settings table cannot judge (listen addresses, next hops),
 * checked as start-up checks them, so that --check-config refuses what the
 * node would refuse, with "FILE:LINE: key: what" like the loader's errors. */
static int check_values(const struct node_config *cfg, const char *path, char *err, size_t errlen)
{
    char why[400] = "out of memory";
    const char *key = NULL;
    bool keyed = false; /* why already starts with the key */
    struct listen_addr a;
    struct next_hop *hops;
    int nh;
    if (parse_listen(cfg->internal_listen, &a, why, sizeof(why)) < 0) {
        key = "internal.listen";
    } else if (parse_listen(cfg->external_listen, &a, why, sizeof(why)) < 0) {
        key = "external.listen";
    } else if (cfg->internal_tls_listen &&
               parse_listen(cfg->internal_tls_listen, &a, why, sizeof(why)) < 0) {
        key = "internal.tls_listen";
    } else if (cfg->internal_tls_listen &&
               (strcmp(cfg->internal_tls_listen, cfg->internal_listen) == 0 ||
                strcmp(cfg->internal_tls_listen, cfg->external_listen) == 0)) {
        key = "internal.tls_listen";
        snprintf(why, sizeof(why), "\"%s\" is already the %s listener's address",
                 cfg->internal_tls_listen,
                 strcmp(cfg->internal_tls_listen, cfg->internal_listen) == 0 ? "internal TCP"
                                                                             : "federation");
    } else if (parse_next_hops(&cfg->next_hops, &hops, &nh, why, sizeof(why)) < 0) {
        key = "internal.next_hops";
        keyed = strncmp(why, key, strlen(key)) == 0;
    } else {
        free(hops);
        return 0;
    }
    int line = 0;
    config_t lc;
    config_init(&lc);
    if (path && config_read_file(&lc, path)) {
        config_setting_t *s = config_lookup(&lc, key);
        line = s ? (int)config_setting_source_line(s) : 0;
    }
    config_destroy(&lc);
    char where[300] = "";
    if (path && line)
        snprintf(where, sizeof(where), "%s:%d: ", path, line);
    else if (path)
        snprintf(where, sizeof(where), "%s: ", path);
    snprintf(err, errlen, "%s%s%s%s", where, keyed ? "" : key, keyed ? "" : ": ", why);
    return -1;
}

static int make_tls(struct node *n, char *err, size_t errlen)
{
    struct tls_settings ts;
    tls_settings_init(&ts);
    ts.cert_file = n->cfg.tls_cert;
    ts.key_file = n->cfg.tls_key;
    ts.ca_file = n->cfg.tls_ca;
    ts.crl_file = n->cfg.tls_crl;
    ts.ciphers = n->cfg.tls_ciphers;
    ts.self_signed_name = n->cfg.pool_fqdn;
    ts.require_peer_cert = true;
    ts.verify_peer = true;
    SSL_CTX *srv = tls_server_ctx_new(&ts, err, errlen);
    if (!srv)
        return -1;
    SSL_CTX *cli = tls_client_ctx_new(&ts, err, errlen);
    if (!cli) {
        SSL_CTX_free(srv);
        return -1;
    }
    /* the internal side's (conn/internal_tls.h): only what is used */
    bool tls_hop = false;
    for (int i = 0; i < n->n_next_hops; i++)
        tls_hop = tls_hop || n->next_hops[i].tls;
    if (tls_hop && !n->cfg.internal_tls_listen)
        LOG_WARN("main", "a TLS next hop and no internal.tls_listen: our Via toward it names the "
                         "TCP port (its responses come back over our connection) and its in-dialog "
                         "requests come back over TCP to internal.listen");
    SSL_CTX *int_srv, *int_cli;
    if (internal_tls_contexts_new(&n->cfg, tls_hop, &int_srv, &int_cli, err, errlen) < 0) {
        SSL_CTX_free(srv);
        SSL_CTX_free(cli);
        return -1;
    }
    SSL_CTX_free(n->tls_server); /* live connections keep their reference */
    SSL_CTX_free(n->tls_client);
    SSL_CTX_free(n->tls_int_server);
    SSL_CTX_free(n->tls_int_client);
    n->tls_server = srv;
    n->tls_client = cli;
    n->tls_int_server = int_srv;
    n->tls_int_client = int_cli;
    return 0;
}

/* Apply the parts of cfg that take effect without a restart. */
static int apply_config(struct node *n, char *err, size_t errlen)
{
    struct next_hop *hops;
    int nh;
    if (parse_next_hops(&n->cfg.next_hops, &hops, &nh, err, errlen) < 0)
        return -1;
    free(n->next_hops);
    n->next_hops = hops;
    n->n_next_hops = nh;
    log_set_level((enum log_level)log_level_parse(n->cfg.log_level));
    n->limits.max_message_size = (size_t)n->cfg.max_message_size;
    n->limits.max_headers = (unsigned)n->cfg.max_headers;
    static struct timeval tv_txn, tv_c;
    tv_txn = (struct timeval){n->cfg.txn_timeout_ms / 1000, (n->cfg.txn_timeout_ms % 1000) * 1000};
    tv_c = (struct timeval){n->cfg.timer_c_s, 0};
    n->tv_txn = event_base_init_common_timeout(n->base, &tv_txn);
    n->tv_timer_c = event_base_init_common_timeout(n->base, &tv_c);
    /* toward the inside over TLS: the operator's name (the internal certificate
     * carries it), else the TLS listener's address */
    n->int_tls_rr_host = n->cfg.internal_rr_host ? n->cfg.internal_rr_host : n->int_tls_addr.host;
    if (!n->cfg.internal_rr_host)
        n->cfg.internal_rr_host = strdup(n->int_addr.host);
    if (!n->cfg.external_rr_host)
        n->cfg.external_rr_host = strdup(n->cfg.pool_fqdn);
    return 0;
}

static void apply_policy(struct node *n)
{
    const struct policy *p = n->policy->current(n->policy);
    const struct access_edge_settings *s = policy_settings(p);
    n->outgoing_tls_count = s->outgoing_tls_count;
    if (n->throttle)
        throttle_apply_settings(n->throttle, s);
}

/* The pool's policy store applied a new policy (pool/policy_redis.h). */
static void policy_applied(void *arg)
{
    apply_policy(arg);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct node *n = arg;
    char err[512];
    LOG_INFO("main", "SIGHUP: reloading %s",
             n->config_path ? n->config_path : "(embedded default)");
    struct node_config fresh;
    if (node_config_load(&fresh, n->config_path, err, sizeof(err)) < 0) {
        LOG_ERROR("main", "reload refused, keeping the running configuration: %s", err);
        node_config_free(&fresh); /* the defaults it was filled with */
        return;
    }
    /* The policy lives in the same file: check it before anything is applied,
     * so that a bad file is refused as a whole. */
    struct policy_store *check = policy_store_file_new(n->config_path, err, sizeof(err));
    if (!check) {
        LOG_ERROR("main", "reload refused, keeping the running configuration: %s", err);
        node_config_free(&fresh);
        return;
    }
    check->free(check);
    const char *tls_was = n->cfg.internal_tls_listen ? n->cfg.internal_tls_listen : "";
    if (strcmp(fresh.internal_listen, n->cfg.internal_listen) != 0 ||
        strcmp(fresh.external_listen, n->cfg.external_listen) != 0 ||
        strcmp(fresh.internal_tls_listen ? fresh.internal_tls_listen : "", tls_was) != 0)
        LOG_WARN("main", "listen addresses changed: they take effect at the next restart");
    struct node_config old = n->cfg;
    n->cfg = fresh;
    free(n->cfg.internal_listen);
    free(n->cfg.external_listen);
    free(n->cfg.internal_tls_listen);
    n->cfg.internal_listen = strdup(old.internal_listen);
    n->cfg.external_listen = strdup(old.external_listen);
    n->cfg.internal_tls_listen = old.internal_tls_listen ? strdup(old.internal_tls_listen) : NULL;
    if (apply_config(n, err, sizeof(err)) < 0 || make_tls(n, err, sizeof(err)) < 0) {
        LOG_ERROR("main", "reload failed, keeping the running configuration: %s", err);
        node_config_free(&n->cfg);
        n->cfg = old;
        apply_config(n, err, sizeof(err));
        return;
    }
    if (n->pool)
        pool_check_reload(n->pool, &old, &n->cfg);
    node_config_free(&old);
    if (n->policy->reload(n->policy, err, sizeof(err)) < 0)
        LOG_ERROR("main", "policy reload failed, keeping version %llu: %s",
                  (unsigned long long)policy_version(n->policy->current(n->policy)), err);
    apply_policy(n);
    node_admin_reload(n);
    xmpp_reload(n);
    LOG_INFO("main", "reloaded: policy version %llu",
             (unsigned long long)policy_version(n->policy->current(n->policy)));
}

/* Once a second: CRLF keepalives, and the discovered-partner watch list report, every
 * discovered_partner_report_period_minutes (Lync's monitoring report). */
static void housekeeping(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    if (n->cfg.keepalive_s > 0)
        conn_send_keepalives(n, (uint64_t)n->cfg.keepalive_s * 1000);
    if (!throttle_report_due(n->throttle, node_now_ms(n)))
        return;
    const struct watch_entry *w;
    size_t k = throttle_watchlist(n->throttle, &w);
    if (k == 0)
        return;
    LOG_WARN("fed", "watch list: %zu discovered partner(s) throttled or refused", k);
    for (size_t i = 0; i < k; i++)
        LOG_WARN("fed", "watch list: %s%s%s%s%s, %llu event(s); certificate %s", w[i].domain,
                 w[i].refused ? " refused" : "", (w[i].reasons & WATCH_RATE) ? " over-rate" : "",
                 (w[i].reasons & WATCH_CONTACTS) ? " over-contacts" : "",
                 (w[i].reasons & WATCH_SUSPICIOUS) ? " suspicious" : "",
                 (unsigned long long)w[i].events, w[i].cert_info ? w[i].cert_info : "-");
}

static void count_unsent(void *arg, const char *key, void *value)
{
    const struct conn *c = value;
    if (c->state != CONN_CLOSED && c->bev)
        *(size_t *)arg += evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    static int ticks;
    size_t open = proxy_open_transactions(n), unsent = 0;
    /* the last final responses must leave too: they may still be queued */
    hmap_each(&n->conns, count_unsent, &unsent);
    if ((open == 0 && unsent == 0) || ++ticks > (n->cfg.txn_timeout_ms / 100) + 10) {
        LOG_INFO("main", "drained (%zu transaction(s) left): exiting", open);
        event_base_loopbreak(n->base);
        return;
    }
    struct timeval tv = {0, 100000};
    evtimer_add(n->ev_drain, &tv);
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
    struct node *n = arg;
    if (n->draining) {
        LOG_WARN("main", "second signal: exiting now");
        event_base_loopbreak(n->base);
        return;
    }
    n->draining = true;
    LOG_INFO("main", "draining: no new connections, %zu transaction(s) to finish",
             proxy_open_transactions(n));
    conn_listeners_stop(n);
    xmpp_stop_listening(n);
    n->ev_drain = evtimer_new(n->base, drain_tick, n);
    struct timeval tv = {0, 0};
    evtimer_add(n->ev_drain, &tv);
}

static int node_init(struct node *n, char *err, size_t errlen)
{
    if (hmap_init(&n->conns, 1024, false) < 0 || hmap_init(&n->conns_by_src, 256, false) < 0 ||
        hmap_init(&n->pools, 64, true) < 0 || hmap_init(&n->stxns, 4096, false) < 0 ||
        hmap_init(&n->ctxns, 8192, false) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (parse_listen(n->cfg.internal_listen, &n->int_addr, err, errlen) < 0 ||
        parse_listen(n->cfg.external_listen, &n->ext_addr, err, errlen) < 0 ||
        (n->cfg.internal_tls_listen &&
         parse_listen(n->cfg.internal_tls_listen, &n->int_tls_addr, err, errlen) < 0))
        return -1;
    if (apply_config(n, err, errlen) < 0)
        return -1;
    static struct timeval tv_linger = {5, 0};
    n->tv_linger = event_base_init_common_timeout(n->base, &tv_linger);
    uint32_t h = 2166136261u;
    for (const char *p = n->cfg.node_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h ^= (uint32_t)getpid() * 2654435761u;
    snprintf(n->branch_prefix, sizeof(n->branch_prefix), "z9hG4bKE%08x", h);
    n->out_cap = (size_t)n->cfg.max_message_size + 8192;
    n->out_buf = malloc(n->out_cap);
    if (!n->out_buf)
        return -1;
    if (make_tls(n, err, errlen) < 0)
        return -1;
    struct resolver_opts ro = {.servers = n->cfg.dns_servers,
                               .timeout_ms = n->cfg.dns_timeout_ms,
                               .tries = 2,
                               .cache_max = 4096,
                               .negative_ttl_max = 60,
                               .min_ttl = 0};
    n->resolver = resolver_new(n->base, &ro, err, errlen);
    if (!n->resolver)
        return -1;
    if (node_config_has_redis(&n->cfg)) { /* a pool: the policy lives in Redis */
        if (pool_attach(n, policy_applied, err, errlen) < 0)
            return -1;
    } else if (!(n->policy = policy_store_file_new(n->config_path, err, errlen))) {
        return -1;
    }
    n->throttle = throttle_new(policy_settings(n->policy->current(n->policy)));
    if (!n->throttle)
        return -1;
    apply_policy(n);
    if (xmpp_gateway_new(n, err, errlen) < 0) /* after the pool: it keeps subscriptions there */
        return -1;
    return node_admin_start(n, err, errlen); /* metrics registry, admin endpoint */
}

static void node_destroy(struct node *n)
{
    node_admin_free(n);
    /* first: pending lookups are cancelled while what they refer to exists */
    if (n->resolver)
        resolver_free(n->resolver);
    n->resolver = NULL;
    if (n->pool) /* its pending callbacks run now, before what they refer to goes */
        pool_free(n->pool);
    n->pool = NULL;
    xmpp_stop(n);         /* after the resolver: its cancelled lookups still find their streams */
    xmpp_gateway_free(n); /* after xmpp_stop and pool_free: both still report to it */
    conn_close_all(n);
    /* transactions left at exit */
    while (n->ctxns.count) {
        struct txn *t = NULL;
        for (size_t b = 0; b < n->ctxns.nbuckets && !t; b++)
            if (n->ctxns.buckets[b])
                t = n->ctxns.buckets[b]->value;
        txn_free(t);
    }
    conn_pool_free_all(n);
    hmap_destroy(&n->conns);
    hmap_destroy(&n->conns_by_src);
    hmap_destroy(&n->pools);
    hmap_destroy(&n->stxns);
    hmap_destroy(&n->ctxns);
    if (n->throttle)
        throttle_free(n->throttle);
    if (n->policy)
        n->policy->free(n->policy);
    if (n->tls_server)
        SSL_CTX_free(n->tls_server);
    if (n->tls_client)
        SSL_CTX_free(n->tls_client);
    SSL_CTX_free(n->tls_int_server);
    SSL_CTX_free(n->tls_int_client);
    struct event *evs[] = {n->ev_drain, n->ev_housekeeping};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    free(n->next_hops);
    free(n->out_buf);
    node_config_free(&n->cfg);
    event_base_free(n->base);
}

static void print_config(FILE *out)
{
    cfg_table_print(node_config_keys, out);
    fprintf(out, "\n");
    policy_print_reference(out);
    fprintf(out, "\n");
    xmpp_print_config(out);
}

int main(int argc, char **argv)
{
    static const struct daemon_desc desc = {
        "edge-node", "Signals: TERM drains and exits, HUP reloads, USR1 cycles the log level.\n",
        print_config};
    struct daemon_args args;
    int rc = daemon_args_parse(&desc, argc, argv, &args);
    if (rc >= 0)
        return rc;
    const char *path = args.config_path;
    char err[512] = ""; /* not every failure below has words */
    struct node node;
    memset(&node, 0, sizeof(node));
    struct node *n = &node;
    n->config_path = path;
    if (node_config_load(&n->cfg, path, err, sizeof(err)) < 0 ||
        check_values(&n->cfg, path, err, sizeof(err)) < 0) {
        node_config_free(&n->cfg);
        return daemon_config_refused(&desc, err);
    }
    if (args.check) {
        struct policy_store *ps = policy_store_file_new(path, err, sizeof(err));
        node_config_free(&n->cfg);
        if (!ps)
            return daemon_config_refused(&desc, err);
        ps->free(ps);
        if (xmpp_check_config(path, err, sizeof(err)) < 0)
            return daemon_config_refused(&desc, err);
        return daemon_config_ok(path);
    }
    daemon_log_init(&desc, n->cfg.log_syslog, n->cfg.log_level);
    n->base = event_base_new();
    if (!n->base) {
        LOG_ERROR("main", "cannot start: no event base");
        node_config_free(&n->cfg);
        return 1;
    }
    if (node_init(n, err, sizeof(err)) < 0 || conn_listeners_start(n) < 0 ||
        xmpp_start(n, err, sizeof(err)) < 0) {
        if (err[0])
            LOG_ERROR("main", "cannot start: %s", err);
        node_destroy(n);
        return 1;
    }
    if (daemon_detach(args.foreground) < 0)
        return 1;
    struct daemon_signals sig;
    if (daemon_signals_add(&sig, n->base, on_sigterm, on_sighup, n) < 0) {
        LOG_ERROR("main", "cannot start: cannot watch the signals (out of memory)");
        daemon_signals_free(&sig);
        node_destroy(n);
        return 1;
    }
    n->ev_housekeeping = event_new(n->base, -1, EV_PERSIST, housekeeping, n);
    struct timeval one = {1, 0};
    event_add(n->ev_housekeeping, &one);
    LOG_INFO("main", "edge-node %s (%s) started: pool %s, policy version %llu, %s",
             EDGEPOOL_VERSION, n->cfg.node_id, n->cfg.pool_fqdn,
             (unsigned long long)policy_version(n->policy->current(n->policy)),
             path ? path : "embedded default configuration");
    event_base_dispatch(n->base);
    daemon_signals_free(&sig);
    node_destroy(n);
    LOG_INFO("main", "stopped");
    return 0;
}
