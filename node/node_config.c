/* node_config.c -- the table of edge-node settings and the loader. */
#include "node_config.h"

#include <arpa/inet.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_endpoint.h"
#include "log.h"
#include "tls.h"

#define K(path, type, field, def, min, max, doc)                                                   \
    {                                                                                              \
        path, type, offsetof(struct node_config, field), def, min, max, doc                        \
    }

const struct cfg_key node_config_keys[] = {
    K("node.id", CFG_STR, node_id, "edge1", 0, 0, "this node's id in the pool"),
    K("node.pool_fqdn", CFG_STR, pool_fqdn, "sip.contoso.test", 0, 0,
      "the pool's FQDN: Record-Route toward partners and the certificate's name"),
    K("node.fqdn", CFG_STR, node_fqdn, "edge1.contoso.test", 0, 0,
      "this node's FQDN (a subjectAltName of the pool certificate)"),
    K("node.log_level", CFG_STR, log_level, "info", 0, 0, "error, warn, info or debug"),
    K("node.syslog", CFG_BOOL, log_syslog, "false", 0, 0, "log to syslog instead of stderr"),
    K("internal.listen", CFG_STR, internal_listen, "127.0.0.1:5060", 0, 0,
      "address:port of the internal SIP listener (TCP)"),
    K("internal.record_route_host", CFG_STR, internal_rr_host, NULL, 0, 0,
      "host in the Record-Route facing the internal side (default: the listen address)"),
    K("internal.next_hops", CFG_STRLIST, next_hops, "127.0.0.1:5070", 0, 0,
      "internal next hops (front-end pool), tried in order: \"host:port;transport=tcp|tls\"; a TLS "
      "next hop must carry that host name in its certificate, chaining to internal.tls_ca"),
    K("internal.tls_listen", CFG_STR, internal_tls_listen, NULL, 0, 0,
      "address:port of the internal SIP over mutual TLS listener (the front-end pool's MTLS, "
      "Lync's internal 5061); requests from it are handled as the TCP listener's. Via and "
      "Record-Route toward the inside name it (transport=tls) whenever that leg is TLS. Unset: "
      "no internal TLS listener"),
    K("internal.tls_cert", CFG_STR, internal_tls_cert, NULL, 0, 0,
      "PEM certificate chain presented on the internal side (TLS listener and TLS next hops); "
      "unset: tls.cert"),
    K("internal.tls_key", CFG_STR, internal_tls_key, NULL, 0, 0,
      "PEM private key of internal.tls_cert; unset: tls.key when internal.tls_cert is unset too, "
      "else the key is in internal.tls_cert's file"),
    K("internal.tls_ca", CFG_STR, internal_tls_ca, NULL, 0, 0,
      "CA bundle that front-end (and TLS next hop) certificates must chain to, usually the "
      "internal CA; unset: tls.ca"),
    K("internal.tls_crl", CFG_STR, internal_tls_crl, NULL, 0, 0,
      "PEM CRLs checked for internal peers; unset: tls.crl when internal.tls_ca is unset too, "
      "else none"),
    K("internal.tls_peers", CFG_STRLIST, internal_tls_peers, NULL, 0, 0,
      "names (subjectAltName dNSName, no wildcards) of which a front end's certificate must "
      "carry one on the internal TLS listener; others are refused at the handshake. Empty: any "
      "certificate chaining to internal.tls_ca"),
    K("external.listen", CFG_STR, external_listen, "127.0.0.1:5061", 0, 0,
      "address:port of the federation listener (SIP over mutual TLS)"),
    K("external.record_route_host", CFG_STR, external_rr_host, NULL, 0, 0,
      "host in the Record-Route facing partners (default: node.pool_fqdn)"),
    K("external.proxy_protocol_from", CFG_STRLIST, proxy_protocol_from, NULL, 0, 0,
      "addresses of the balancers (their VIP addresses, from which they connect) whose PROXY "
      "protocol v2 header is believed: the partner's address it names is the connection's "
      "(logs, per-source limit, policy); a balancer's own connections are not limited per "
      "source. A PROXY header from any other address is refused. Empty: never"),
    K("tls.cert", CFG_STR, tls_cert, NULL, 0, 0,
      "PEM certificate chain (pool FQDN, serverAuth+clientAuth); unset: a generated self-signed "
      "one"),
    K("tls.key", CFG_STR, tls_key, NULL, 0, 0, "PEM private key"),
    K("tls.ca", CFG_STR, tls_ca, NULL, 0, 0, "CA bundle that partner certificates must chain to"),
    K("tls.crl", CFG_STR, tls_crl, NULL, 0, 0, "PEM CRLs checked for peers (KeepCrlsUpToDate)"),
    K("tls.ciphers", CFG_STR, tls_ciphers, NULL, 0, 0, "TLS 1.2 cipher list (OpenSSL syntax)"),
    K("dns.servers", CFG_STR, dns_servers, NULL, 0, 0,
      "DNS servers \"ip[:port],...\" (default: /etc/resolv.conf)"),
    K("dns.timeout_ms", CFG_INT, dns_timeout_ms, "2000", 100, 30000, "per-try DNS timeout"),
    K("limits.max_message_size", CFG_INT, max_message_size, "65535", 1024, 1048576,
      "largest SIP message accepted (bytes); larger gets 513"),
    K("limits.max_headers", CFG_INT, max_headers, "100", 16, 128, "most header lines in a message"),
    K("limits.max_connections", CFG_INT, max_connections, "10000", 16, 1000000,
      "most connections open at once"),
    K("limits.max_connections_per_source", CFG_INT, max_conns_per_source, "64", 1, 100000,
      "most inbound connections from one source address"),
    K("limits.idle_timeout", CFG_INT, idle_timeout_s, "300", 5, 86400,
      "seconds before an idle connection is closed"),
    K("limits.keepalive_interval", CFG_INT, keepalive_s, "30", 0, 3600,
      "seconds of silence before a CRLF keepalive ping on our outbound connections (0: off)"),
    K("limits.connect_timeout_ms", CFG_INT, connect_timeout_ms, "5000", 100, 60000,
      "TCP connect plus TLS handshake timeout for outbound connections"),
    K("limits.transaction_timeout_ms", CFG_INT, txn_timeout_ms, "32000", 500, 300000,
      "Timer B/F (64*T1): no final response by then gives 408"),
    K("limits.timer_c", CFG_INT, timer_c_s, "180", 5, 3600,
      "INVITE Timer C in seconds (RFC 3261 16.6): no progress by then cancels the branch"),
    K("limits.retry_after", CFG_INT, retry_after_s, "30", 1, 3600,
      "Retry-After seconds sent with 503"),
    REDIS_CONFIG_KEYS(struct node_config,
                      "Redis \"host:port\" holding the pool's state; unset (and no sentinels): a "
                      "single node keeping its state in memory",
                      "the pool's name in the Redis keys (ep:<pool>:...): every node of a pool, "
                      "and edgectl, use the same; pools sharing one Redis use different ones"),
    K("redis.snapshot", CFG_STR, redis_snapshot, NULL, 0, 0,
      "file keeping the last policy applied from Redis, used when Redis is unreachable at "
      "start; unset: /var/lib/edgepool/<pool>-<node.id>.policy"),
    K("redis.seed_policy", CFG_BOOL, redis_seed_policy, "true", 0, 0,
      "when the pool has no policy in Redis yet, write this file's policy group there (once)"),
    K("admin.listen", CFG_STR, admin_listen, "127.0.0.1:8080", 0, 0,
      "address:port of the HTTP admin endpoint (/metrics, /health, /status); \"\": off"),
    K("admin.allow", CFG_STRLIST, admin_allow, "127.0.0.1/8", 0, 0,
      "source addresses or prefixes (\"10.0.0.0/8\", \"::1\") allowed to use it; others get 403"),
    K("admin.token", CFG_STR, admin_token, NULL, 0, 0,
      "bearer token for its state-changing calls (POST /log-level, /drain, /undrain); "
      "unset: those calls are refused"),
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

static const char *const foreign_groups[] = {"policy", "xmpp", NULL};

/* The admin group's values (admin_endpoint.h), named "FILE: key: what". */
static int check_admin(const struct node_config *c, const char *path, char *err, size_t errlen)
{
    const char *key;
    int index;
    char why[300];
    int rc = admin_settings_check(c->admin_listen, &c->admin_allow, &key, &index, why, sizeof(why));
    if (rc < 0)
        snprintf(err, errlen, "%s: %s: %s", path, key, why);
    return rc;
}

/* A numeric address rewritten in the form conn.peer_ip has ("::1", not
 * "0:0::1"), so a string compare finds it. */
static int canonical_ip(char **ip, const char *path, char *err, size_t errlen)
{
    unsigned char a[16];
    char out[INET6_ADDRSTRLEN];
    int fam = inet_pton(AF_INET, *ip, a) == 1    ? AF_INET
              : inet_pton(AF_INET6, *ip, a) == 1 ? AF_INET6
                                                 : 0;
    if (!fam) {
        snprintf(err, errlen, "%s: external.proxy_protocol_from: \"%s\" is not a numeric address",
                 path, *ip);
        return -1;
    }
    inet_ntop(fam, a, out, sizeof(out));
    char *d = strdup(out);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(*ip);
    *ip = d;
    return 0;
}

int node_config_load(struct node_config *c, const char *path, char *err, size_t errlen)
{
    int rc =
        cfg_table_load_file(node_config_keys, c, sizeof(*c), path, foreign_groups, err, errlen);
    if (rc < 0 || !path) /* the embedded default needs no checks */
        return rc;
    if (rc == 0 && log_level_parse(c->log_level) < 0) {
        snprintf(err, errlen, "%s: node.log_level: \"%s\" is not error, warn, info or debug", path,
                 c->log_level);
        rc = -1;
    }
    if (rc == 0 && c->next_hops.n == 0) {
        snprintf(err, errlen, "%s: internal.next_hops: at least one next hop is needed", path);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < c->proxy_protocol_from.n; i++)
        rc = canonical_ip(&c->proxy_protocol_from.v[i], path, err, errlen);
    for (int i = 0; rc == 0 && i < c->internal_tls_peers.n; i++) {
        const char *p = c->internal_tls_peers.v[i];
        if (!tls_name_valid((struct slice){p, strlen(p)})) {
            snprintf(err, errlen, "%s: internal.tls_peers: \"%s\" is not a DNS name", path, p);
            rc = -1;
        }
    }
    if (rc == 0 && c->internal_tls_peers.n && !c->internal_tls_listen) {
        snprintf(err, errlen, "%s: internal.tls_peers: set, but there is no internal.tls_listen",
                 path);
        rc = -1;
    }
    const char *rkey;
    char why[200];
    if (rc == 0 && redis_config_check(&c->redis, &rkey, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: redis: %s", path, why);
        rc = -1;
    }
    if (rc == 0)
        rc = check_admin(c, path, err, errlen);
    return rc;
}

void node_config_internal_tls(const struct node_config *c, struct internal_tls_files *f)
{
    f->own =
        c->internal_tls_cert || c->internal_tls_key || c->internal_tls_ca || c->internal_tls_crl;
    f->cert = c->internal_tls_cert ? c->internal_tls_cert : c->tls_cert;
    f->key = c->internal_tls_key ? c->internal_tls_key : c->internal_tls_cert ? NULL : c->tls_key;
    f->ca = c->internal_tls_ca ? c->internal_tls_ca : c->tls_ca;
    f->crl = c->internal_tls_crl ? c->internal_tls_crl : c->internal_tls_ca ? NULL : c->tls_crl;
}

void node_config_free(struct node_config *c)
{
    cfg_table_free(node_config_keys, c);
}

bool node_config_has_redis(const struct node_config *c)
{
    return redis_config_enabled(&c->redis);
}
