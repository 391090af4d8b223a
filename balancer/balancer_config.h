/* balancer_config.h -- every setting of edge-balancer, with its default.
 *
 * The table in balancer_config.c is the single source: it loads the file,
 * fills the embedded default when there is none (DNS on 127.0.0.1:5353, the
 * VIP on 127.0.0.2, no Redis, no static nodes) and prints the reference
 * (`edge-balancer --print-config`). Values the table cannot judge (addresses,
 * "id@host" entries, names) are checked by balancer_config_check(). */
#ifndef EP_BALANCER_CONFIG_H
#define EP_BALANCER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config_table.h"
#include "redis_config.h"

enum health_check_kind { HEALTH_CHECK_TCP, HEALTH_CHECK_TLS, HEALTH_CHECK_SIP };

/* In each group pointers, then ints, then bools: little padding. */
struct balancer_config {
    /* balancer */
    char *id; /* this balancer's name (logs, pins' owner) */
    char *log_level;
    bool log_syslog;
    /* vip: the L4 proxy with source pinning (balancer/vip/) */
    char *vip_listen;             /* "127.0.0.2" */
    struct cfg_strlist vip_ports; /* "5061", "5269" */
    int vip_pin_ttl_s;            /* idle TTL of a pin in Redis, 1800 */
    int vip_max_conns_per_source;
    int vip_connect_timeout_ms;
    int vip_idle_timeout_s;
    bool vip_enabled;
    bool vip_proxy_protocol; /* PROXY v2 toward the nodes */
    /* redis: the pool's registry and pins (shared/redis_config.h). Neither
     * addr nor sentinels set: static nodes only. */
    REDIS_CONFIG_MEMBER;
    /* tls: what the TLS and SIP health checks present and verify */
    char *tls_cert, *tls_key, *tls_ca;
    /* health */
    int health_interval_ms, health_timeout_ms, health_rise, health_fall;
    char *health_check; /* "tcp", "tls" or "sip" (balancer_config_check_kind) */
    bool health_fail_open;
    char *health_registry_cache; /* file of the registry's last nodes; NULL/"": none */
    /* nodes: a pool without Redis */
    struct cfg_strlist static_nodes; /* "id@host[:port]" */
    /* dns: the authoritative responder for the pool's zone */
    char *dns_listen;          /* "127.0.0.1:5353", UDP and TCP */
    char *dns_zone;            /* "contoso.test" */
    char *dns_pool_fqdn;       /* "sip.contoso.test" */
    struct cfg_strlist dns_ns; /* "name@address" (address: glue when the name is in the zone) */
    char *dns_soa_rname;       /* "hostmaster.contoso.test" */
    int dns_ttl;               /* of every record, 5 */
    int dns_soa_serial;        /* 0: automatic (time of the last change) */
    int dns_soa_refresh, dns_soa_retry, dns_soa_expire, dns_soa_minimum;
    int dns_sip_port, dns_xmpp_port; /* SRV ports (xmpp 0: no XMPP SRV) */
    int dns_rrl_rate;                /* responses per second per source prefix */
    int dns_rrl_slip; /* every Nth limited response goes out truncated (0: drop all) */
    int dns_rrl_ipv4_prefix, dns_rrl_ipv6_prefix;
    int dns_max_udp_payload;
    int dns_tcp_idle_timeout_s;
    int dns_tcp_max_conns;
    bool dns_enabled;
    bool dns_node_records; /* <id>.<zone> A/AAAA per node */
    bool dns_rrl;
    /* admin: the HTTP admin endpoint and pool page (balancer/admin/) */
    char *admin_listen;             /* "127.0.0.1:8081"; "" = off */
    char *admin_token;              /* bearer token for state-changing calls */
    struct cfg_strlist admin_allow; /* source addresses / prefixes allowed */
};

extern const struct cfg_key balancer_config_keys[];

/* Load path (NULL = embedded default) into c, then balancer_config_check().
 * On error returns -1 with "FILE:LINE: key: what" in err; c then holds what
 * was loaded (free it). The caller frees with balancer_config_free. */
int balancer_config_load(struct balancer_config *c, const char *path, char *err, size_t errlen);
void balancer_config_free(struct balancer_config *c);
/* The checks beyond the table (addresses, lists, names, combinations), as
 * start-up would refuse them, naming path:line: key. 0 or -1 with err. */
int balancer_config_check(const struct balancer_config *c, const char *path, char *err,
                          size_t errlen);
bool balancer_config_has_redis(const struct balancer_config *c);
enum health_check_kind balancer_config_check_kind(const struct balancer_config *c);

/* "id@host[:port]" (host numeric, IPv6 in brackets when a port follows):
 * fills id, addr (port 0) and port (default_port when absent). 0 or -1 with
 * the reason in err. */
int balancer_parse_node_spec(const char *spec, uint16_t default_port, char *id, size_t idlen,
                             struct sockaddr_storage *addr, uint16_t *port, char *err,
                             size_t errlen);
/* "host:port" with a numeric host ("[v6]:port"); port required. */
int balancer_parse_hostport(const char *spec, struct sockaddr_storage *addr, socklen_t *len,
                            char *err, size_t errlen);

#endif
