/* balancer_config.c -- the table of edge-balancer settings, the loader and
 * the checks the table cannot make (see balancer_config.h). */
#include "balancer_config.h"

#include <arpa/inet.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/balancer_admin.h"
#include "log.h"
#include "tls.h"

#define K(path, type, field, def, min, max, doc)                                                   \
    {                                                                                              \
        path, type, offsetof(struct balancer_config, field), def, min, max, doc                    \
    }

const struct cfg_key balancer_config_keys[] = {
    K("balancer.id", CFG_STR, id, "balancer1", 0, 0,
      "this balancer's name (logs; the owner recorded with the pins)"),
    K("balancer.log_level", CFG_STR, log_level, "info", 0, 0, "error, warn, info or debug"),
    K("balancer.syslog", CFG_BOOL, log_syslog, "false", 0, 0, "log to syslog instead of stderr"),

    K("vip.enabled", CFG_BOOL, vip_enabled, "true", 0, 0,
      "run the virtual IP (L4 proxy with source-address pinning) for partners that are not "
      "DNS load-balancing aware (OCS 2007/R2)"),
    K("vip.listen", CFG_STR, vip_listen, "127.0.0.2", 0, 0,
      "the VIP address (keepalived moves it between balancers)"),
    K("vip.ports", CFG_STRLIST, vip_ports, "5061,5269", 0, 0,
      "ports proxied to the same port of the pinned node's external address"),
    K("vip.pin_ttl", CFG_INT, vip_pin_ttl_s, "1800", 10, 604800,
      "seconds a source stays pinned to its node after its last connection (Lync's hardware "
      "load balancer guidance: 1800)"),
    K("vip.proxy_protocol", CFG_BOOL, vip_proxy_protocol, "true", 0, 0,
      "send a PROXY protocol v2 header to the node (it must list this balancer's address)"),
    K("vip.max_connections_per_source", CFG_INT, vip_max_conns_per_source, "256", 1, 1000000,
      "most VIP connections open at once from one source address"),
    K("vip.connect_timeout_ms", CFG_INT, vip_connect_timeout_ms, "2000", 100, 60000,
      "connect timeout toward a node (then the next healthy node is tried)"),
    K("vip.idle_timeout", CFG_INT, vip_idle_timeout_s, "1800", 5, 604800,
      "seconds of silence in both directions before a VIP connection is closed"),

    REDIS_CONFIG_KEYS(struct balancer_config,
                      "Redis \"host:port\" holding the pool's registry and pins; unset (and no "
                      "sentinels): the static nodes only, pins in memory",
                      "the pool's name in the Redis keys (ep:<pool>:...), as the nodes' "
                      "redis.pool"),

    K("tls.cert", CFG_STR, tls_cert, NULL, 0, 0,
      "PEM certificate the tls and sip health checks present (the nodes require a client "
      "certificate chaining to their tls.ca, with clientAuth)"),
    K("tls.key", CFG_STR, tls_key, NULL, 0, 0, "its private key (PEM)"),
    K("tls.ca", CFG_STR, tls_ca, NULL, 0, 0,
      "CA bundle the nodes' certificates must chain to in tls and sip checks; unset: the "
      "chain is not verified (the check is about liveness)"),

    K("health.interval_ms", CFG_INT, health_interval_ms, "500", 50, 60000,
      "a check of every node starts this often (HAProxy's inter); the registry is read as "
      "often"),
    K("health.timeout_ms", CFG_INT, health_timeout_ms, "1000", 50, 60000,
      "a check not finished by then failed"),
    K("health.rise", CFG_INT, health_rise, "2", 1, 100,
      "consecutive successful checks that bring a failed node back"),
    K("health.fall", CFG_INT, health_fall, "2", 1, 100,
      "consecutive failed checks that take a node out"),
    K("health.check", CFG_STR, health_check, "tcp", 0, 0,
      "\"tcp\" (connect), \"tls\" (connect and TLS handshake) or \"sip\" (an OPTIONS over TLS "
      "answered 200) to each node's federation port"),
    K("health.fail_open", CFG_BOOL, health_fail_open, "true", 0, 0,
      "when no node is healthy, answer with all of them rather than with none"),
    K("health.registry_cache", CFG_STR, health_registry_cache, NULL, 0, 0,
      "file the registry's nodes are kept in when they change, so that a balancer starting "
      "while Redis is away serves them (their health from its checks) rather than none; "
      "unset: not kept (e.g. \"/var/lib/edgepool/balancer.nodes\")"),

    K("nodes.static", CFG_STRLIST, static_nodes, NULL, 0, 0,
      "nodes known without Redis: \"id@address[:port]\" (the node's external federation "
      "address; port default 5061)"),

    K("dns.enabled", CFG_BOOL, dns_enabled, "true", 0, 0,
      "run the authoritative DNS responder for the pool's zone"),
    K("dns.listen", CFG_STR, dns_listen, "127.0.0.1:5353", 0, 0,
      "address:port answered over UDP and TCP"),
    K("dns.zone", CFG_STR, dns_zone, "contoso.test", 0, 0,
      "the zone this balancer is authoritative for (names outside it are REFUSED)"),
    K("dns.pool_fqdn", CFG_STR, dns_pool_fqdn, "sip.contoso.test", 0, 0,
      "the pool's name: SRV target, A/AAAA with the healthy nodes"),
    K("dns.ttl", CFG_INT, dns_ttl, "5", 0, 86400, "TTL of every record (seconds)"),
    K("dns.ns", CFG_STRLIST, dns_ns, "ns1.contoso.test@127.0.0.1", 0, 0,
      "the zone's name servers, \"name@address\": the address is served as glue when the "
      "name is in the zone (\"name\" alone for one outside)"),
    K("dns.soa_rname", CFG_STR, dns_soa_rname, "hostmaster.contoso.test", 0, 0,
      "SOA RNAME, the zone's contact as a name"),
    K("dns.soa_serial", CFG_INT, dns_soa_serial, "0", 0, 2147483647,
      "SOA serial; 0: automatic, the time of the last change of the answers"),
    K("dns.soa_refresh", CFG_INT, dns_soa_refresh, "3600", 0, 2147483647, "SOA refresh"),
    K("dns.soa_retry", CFG_INT, dns_soa_retry, "600", 0, 2147483647, "SOA retry"),
    K("dns.soa_expire", CFG_INT, dns_soa_expire, "86400", 0, 2147483647, "SOA expire"),
    K("dns.soa_minimum", CFG_INT, dns_soa_minimum, "5", 0, 86400,
      "SOA minimum: the TTL of negative answers (NXDOMAIN, NODATA; RFC 2308)"),
    K("dns.node_records", CFG_BOOL, dns_node_records, "true", 0, 0,
      "serve <node id>.<zone> A/AAAA for every known node (healthy or not)"),
    K("dns.sip_port", CFG_INT, dns_sip_port, "5061", 1, 65535,
      "port in the _sipfederationtls._tcp and _sip._tls SRV records"),
    K("dns.xmpp_port", CFG_INT, dns_xmpp_port, "5269", 0, 65535,
      "port in the _xmpp-server._tcp SRV record (0: no XMPP SRV record)"),
    K("dns.rrl", CFG_BOOL, dns_rrl, "true", 0, 0,
      "response rate limiting per source prefix (as NSD and BIND), against amplification"),
    K("dns.rrl_rate", CFG_INT, dns_rrl_rate, "200", 1, 10000000,
      "UDP responses per second allowed to one source prefix (a burst of one second)"),
    K("dns.rrl_slip", CFG_INT, dns_rrl_slip, "2", 0, 10,
      "every Nth response over the rate goes out empty with TC=1 (a real client retries over "
      "TCP), the others are dropped; 0: drop them all"),
    K("dns.rrl_ipv4_prefix", CFG_INT, dns_rrl_ipv4_prefix, "24", 8, 32,
      "IPv4 sources sharing a rate: this prefix length"),
    K("dns.rrl_ipv6_prefix", CFG_INT, dns_rrl_ipv6_prefix, "56", 16, 128,
      "IPv6 sources sharing a rate: this prefix length"),
    K("dns.max_udp_payload", CFG_INT, dns_max_udp_payload, "1232", 512, 4096,
      "largest UDP answer (EDNS0: the smaller of this and the client's); larger ones get "
      "TC=1 and go over TCP"),
    K("dns.tcp_idle_timeout", CFG_INT, dns_tcp_idle_timeout_s, "10", 1, 3600,
      "seconds a DNS TCP connection may stay idle"),
    K("dns.tcp_max_connections", CFG_INT, dns_tcp_max_conns, "256", 1, 65536,
      "DNS TCP connections open at once (more are closed at accept)"),

    K("admin.listen", CFG_STR, admin_listen, "127.0.0.1:8081", 0, 0,
      "address:port of the HTTP admin endpoint (/ the live pool page, /status, /metrics, "
      "/health); \"\": off"),
    K("admin.allow", CFG_STRLIST, admin_allow, "127.0.0.1/8", 0, 0,
      "source addresses or prefixes (\"10.0.0.0/8\", \"::1\") allowed to use it; others get 403"),
    K("admin.token", CFG_STR, admin_token, NULL, 0, 0,
      "bearer token for its state-changing calls (POST /log-level); unset: those calls are "
      "refused"),
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

int balancer_parse_hostport(const char *spec, struct sockaddr_storage *addr, socklen_t *len,
                            char *err, size_t errlen)
{
    memset(addr, 0, sizeof(*addr));
    char host[80];
    const char *colon;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
            goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(end - spec - 1), spec + 1);
        colon = end + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host) ||
            memchr(spec, ':', (size_t)(colon - spec)))
            goto bad;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 1 || port > 65535)
        goto bad;
    struct sockaddr_in *s4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (len)
            *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (len)
            *len = sizeof(*s6);
        return 0;
    }
bad:
    snprintf(err, errlen, "\"%s\" is not a numeric address:port (\"[v6]:port\" for IPv6)", spec);
    return -1;
}

int balancer_parse_node_spec(const char *spec, uint16_t default_port, char *id, size_t idlen,
                             struct sockaddr_storage *addr, uint16_t *port, char *err,
                             size_t errlen)
{
    const char *at = strchr(spec, '@');
    if (!at || at == spec || (size_t)(at - spec) >= idlen || !at[1]) {
        snprintf(err, errlen, "\"%s\" is not id@address[:port]", spec);
        return -1;
    }
    for (const char *p = spec; p < at; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_')) {
            snprintf(err, errlen, "\"%s\": the id may only have letters, digits, '-' and '_'",
                     spec);
            return -1;
        }
    snprintf(id, idlen, "%.*s", (int)(at - spec), spec);
    const char *h = at + 1;
    memset(addr, 0, sizeof(*addr));
    struct sockaddr_in *s4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)addr;
    /* a bare address (v4, or v6 without brackets) */
    if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        *port = default_port;
        return 0;
    }
    if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        *port = default_port;
        return 0;
    }
    if (balancer_parse_hostport(h, addr, NULL, err, errlen) < 0) {
        snprintf(err, errlen, "\"%s\" is not id@address[:port]", spec);
        return -1;
    }
    if (addr->ss_family == AF_INET) {
        *port = ntohs(s4->sin_port);
        s4->sin_port = 0;
    } else {
        *port = ntohs(s6->sin6_port);
        s6->sin6_port = 0;
    }
    return 0;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    return n > 0 && n < 254 && tls_name_valid(slice_from(name, n));
}

/* Is name at or below zone (both without a trailing dot or with one)? */
static bool in_zone(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);
    if (n && name[n - 1] == '.')
        n--;
    if (z && zone[z - 1] == '.')
        z--;
    if (n < z || strncasecmp(name + n - z, zone, z) != 0)
        return false;
    return n == z || name[n - z - 1] == '.';
}

enum health_check_kind balancer_config_check_kind(const struct balancer_config *c)
{
    if (c->health_check && strcmp(c->health_check, "sip") == 0)
        return HEALTH_CHECK_SIP;
    if (c->health_check && strcmp(c->health_check, "tls") == 0)
        return HEALTH_CHECK_TLS;
    return HEALTH_CHECK_TCP;
}

static int check_error(const char *path, const char *key, int index, const char *why, char *err,
                       size_t errlen)
{
    int line = 0;
    if (path) {
        config_t lc;
        config_init(&lc);
        if (config_read_file(&lc, path)) {
            config_setting_t *s = config_lookup(&lc, key);
            if (s && index >= 0 && config_setting_get_elem(s, (unsigned)index))
                s = config_setting_get_elem(s, (unsigned)index);
            line = s ? (int)config_setting_source_line(s) : 0;
        }
        config_destroy(&lc);
    }
    if (path && line)
        snprintf(err, errlen, "%s:%d: %s: %s", path, line, key, why);
    else if (path)
        snprintf(err, errlen, "%s: %s: %s", path, key, why);
    else
        snprintf(err, errlen, "(embedded default): %s: %s", key, why);
    return -1;
}

int balancer_config_check(const struct balancer_config *c, const char *path, char *err,
                          size_t errlen)
{
    char why[400];
    struct sockaddr_storage ss;
    if (log_level_parse(c->log_level) < 0) {
        snprintf(why, sizeof(why), "\"%s\" is not error, warn, info or debug", c->log_level);
        return check_error(path, "balancer.log_level", -1, why, err, errlen);
    }
    const char *rkey;
    if (redis_config_check(&c->redis, &rkey, why, sizeof(why)) < 0)
        return check_error(path, rkey, -1, why, err, errlen);
    if (!c->tls_cert != !c->tls_key)
        return check_error(path, c->tls_cert ? "tls.cert" : "tls.key", -1,
                           "cert and key go together", err, errlen);
    if (!c->id || !*c->id)
        return check_error(path, "balancer.id", -1, "must not be empty", err, errlen);
    /* vip */
    {
        struct in6_addr a6;
        struct in_addr a4;
        if (!c->vip_listen || (inet_pton(AF_INET, c->vip_listen, &a4) != 1 &&
                               inet_pton(AF_INET6, c->vip_listen, &a6) != 1)) {
            snprintf(why, sizeof(why), "\"%s\" is not a numeric address",
                     c->vip_listen ? c->vip_listen : "");
            return check_error(path, "vip.listen", -1, why, err, errlen);
        }
        if (c->vip_enabled && c->vip_ports.n == 0)
            return check_error(path, "vip.ports", -1, "at least one port is needed", err, errlen);
        for (int i = 0; i < c->vip_ports.n; i++) {
            char *end;
            long p = strtol(c->vip_ports.v[i], &end, 10);
            if (!c->vip_ports.v[i][0] || *end || p < 1 || p > 65535) {
                snprintf(why, sizeof(why), "\"%s\" is not a port", c->vip_ports.v[i]);
                return check_error(path, "vip.ports", i, why, err, errlen);
            }
        }
    }
    /* health */
    if (strcmp(c->health_check, "tcp") != 0 && strcmp(c->health_check, "tls") != 0 &&
        strcmp(c->health_check, "sip") != 0) {
        snprintf(why, sizeof(why), "\"%s\" is not tcp, tls or sip", c->health_check);
        return check_error(path, "health.check", -1, why, err, errlen);
    }
    /* static nodes */
    for (int i = 0; i < c->static_nodes.n; i++) {
        char id[64];
        uint16_t port;
        if (balancer_parse_node_spec(c->static_nodes.v[i], 5061, id, sizeof(id), &ss, &port, why,
                                     sizeof(why)) < 0)
            return check_error(path, "nodes.static", i, why, err, errlen);
        for (int j = 0; j < i; j++) {
            const char *o = c->static_nodes.v[j];
            const char *at = strchr(o, '@');
            if (at && (size_t)(at - o) == strlen(id) && strncmp(o, id, strlen(id)) == 0) {
                snprintf(why, sizeof(why), "node id \"%s\" listed twice", id);
                return check_error(path, "nodes.static", i, why, err, errlen);
            }
        }
    }
    /* dns */
    socklen_t sl;
    if (balancer_parse_hostport(c->dns_listen, &ss, &sl, why, sizeof(why)) < 0)
        return check_error(path, "dns.listen", -1, why, err, errlen);
    if (!name_ok(c->dns_zone)) {
        snprintf(why, sizeof(why), "\"%s\" is not a domain name", c->dns_zone);
        return check_error(path, "dns.zone", -1, why, err, errlen);
    }
    if (!name_ok(c->dns_pool_fqdn)) {
        snprintf(why, sizeof(why), "\"%s\" is not a domain name", c->dns_pool_fqdn);
        return check_error(path, "dns.pool_fqdn", -1, why, err, errlen);
    }
    if (!in_zone(c->dns_pool_fqdn, c->dns_zone) || strcasecmp(c->dns_pool_fqdn, c->dns_zone) == 0) {
        snprintf(why, sizeof(why), "\"%s\" must be a name below dns.zone \"%s\"", c->dns_pool_fqdn,
                 c->dns_zone);
        return check_error(path, "dns.pool_fqdn", -1, why, err, errlen);
    }
    if (!name_ok(c->dns_soa_rname)) {
        snprintf(why, sizeof(why), "\"%s\" is not a domain name", c->dns_soa_rname);
        return check_error(path, "dns.soa_rname", -1, why, err, errlen);
    }
    if (c->dns_ns.n == 0)
        return check_error(path, "dns.ns", -1, "at least one name server is needed", err, errlen);
    for (int i = 0; i < c->dns_ns.n; i++) {
        const char *e = c->dns_ns.v[i], *at = strchr(e, '@');
        char name[300];
        snprintf(name, sizeof(name), "%.*s", (int)(at ? (size_t)(at - e) : strlen(e)), e);
        if (!name_ok(name)) {
            snprintf(why, sizeof(why), "\"%s\": \"%s\" is not a domain name", e, name);
            return check_error(path, "dns.ns", i, why, err, errlen);
        }
        if (at) {
            struct in_addr a4;
            struct in6_addr a6;
            if (inet_pton(AF_INET, at + 1, &a4) != 1 && inet_pton(AF_INET6, at + 1, &a6) != 1) {
                snprintf(why, sizeof(why), "\"%s\": \"%s\" is not a numeric address", e, at + 1);
                return check_error(path, "dns.ns", i, why, err, errlen);
            }
        } else if (in_zone(name, c->dns_zone)) {
            snprintf(why, sizeof(why), "\"%s\" is in the zone: give its address (name@address)", e);
            return check_error(path, "dns.ns", i, why, err, errlen);
        }
    }
    const char *akey;
    int aidx;
    if (balancer_admin_check(c, &akey, &aidx, why, sizeof(why)) < 0)
        return check_error(path, akey, aidx, why, err, errlen);
    return 0;
}

static const char *const foreign_groups[] = {"metrics", NULL};

int balancer_config_load(struct balancer_config *c, const char *path, char *err, size_t errlen)
{
    if (cfg_table_load_file(balancer_config_keys, c, sizeof(*c), path, foreign_groups, err,
                            errlen) < 0)
        return -1;
    return balancer_config_check(c, path, err, errlen);
}

void balancer_config_free(struct balancer_config *c)
{
    cfg_table_free(balancer_config_keys, c);
}

bool balancer_config_has_redis(const struct balancer_config *c)
{
    return redis_config_enabled(&c->redis);
}
