/* fuzz_dns_query.c -- libFuzzer target for the balancer's DNS path: a query
 * off the wire (balancer/dns/wire.c) answered from a pool zone
 * (balancer/dns/zone.c), as the responder does for every UDP or TCP query.
 *
 * The first input byte picks the transport limit (UDP 512/EDNS, or TCP) and
 * the rotation; the rest is the packet. Every answer must decode strictly
 * with the tests' own decoder (tests/unit/dns_testlib.h, written apart from
 * balancer/dns/): counts match, names and compression pointers are valid,
 * RDATA ends where its length says, the answer fits the limit, carries the
 * query's id with QR set, and echoes the question it parsed. Anything else
 * aborts, and libFuzzer keeps the input. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer_config.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "health/health.h"

#include "../unit/dns_testlib.h"

static struct balancer_config cfg;
static struct dns_zone *zone;
static char *ns_list[] = {"ns1.contoso.test@127.0.0.53", "ns2.example.net"};

static void add_node(struct health_node *n, const char *id, const char *addr, bool healthy)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id);
    snprintf(n->ext_host, sizeof(n->ext_host), "%s", addr);
    n->sip_port = 5061;
    n->xmpp_port = 5269;
    if (strchr(addr, ':')) {
        n->ext_addr.ss_family = AF_INET6;
        inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&n->ext_addr)->sin6_addr);
    } else {
        n->ext_addr.ss_family = AF_INET;
        inet_pton(AF_INET, addr, &((struct sockaddr_in *)&n->ext_addr)->sin_addr);
    }
    n->alive = n->check_ok = healthy;
    n->healthy = healthy;
}

/* The zone a pool of four nodes (one of them down, one IPv6) serves, with
 * the embedded defaults' shape; built once. */
static void zone_init(void)
{
    cfg.health_fail_open = true;
    cfg.dns_enabled = true;
    cfg.dns_zone = "contoso.test";
    cfg.dns_pool_fqdn = "sip.contoso.test";
    cfg.dns_ns.v = ns_list;
    cfg.dns_ns.n = 2;
    cfg.dns_soa_rname = "hostmaster.contoso.test";
    cfg.dns_ttl = 5;
    cfg.dns_soa_refresh = 3600;
    cfg.dns_soa_retry = 600;
    cfg.dns_soa_expire = 86400;
    cfg.dns_soa_minimum = 5;
    cfg.dns_sip_port = 5061;
    cfg.dns_xmpp_port = 5269;
    cfg.dns_max_udp_payload = 1232;
    cfg.dns_node_records = true;
    static struct health_node nodes[4];
    add_node(&nodes[0], "node1", "127.0.1.1", true);
    add_node(&nodes[1], "node2", "127.0.1.2", true);
    add_node(&nodes[2], "node3", "127.0.1.3", false);
    add_node(&nodes[3], "node4", "2001:db8::4", true);
    char err[256];
    zone = dns_zone_build(&cfg, nodes, 4, 2026112501u, err, sizeof(err));
    if (!zone) {
        fprintf(stderr, "dns_zone_build: %s\n", err);
        abort();
    }
}

static void must(bool ok, const char *what, const uint8_t *out, size_t n)
{
    if (ok)
        return;
    fprintf(stderr, "answer check failed: %s (answer of %zu bytes)\n", what, n);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!zone)
        zone_init();
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *pkt = data + 1;
    size_t len = size - 1;
    bool tcp = mode & 1;

    struct dns_query q;
    enum dns_parse_result pr = dns_parse_query(pkt, len, &q);
    static uint8_t out[65535];
    size_t n;
    size_t limit = tcp ? 65535 : 512;
    switch (pr) {
    case DNS_PARSE_DROP:
        return 0;
    case DNS_PARSE_FORMERR:
        n = dns_write_short(pkt, &q, DNS_R_FORMERR, false, false, 1232, out, sizeof(out));
        break;
    case DNS_PARSE_NOTIMP:
        n = dns_write_short(pkt, &q, DNS_R_NOTIMP, false, false, 1232, out, sizeof(out));
        break;
    case DNS_PARSE_BADVERS:
        n = dns_write_short(pkt, &q, DNS_R_BADVERS, false, false, 1232, out, sizeof(out));
        break;
    default: {
        if (!tcp)
            limit = dns_udp_limit(&q, cfg.dns_max_udp_payload);
        int rcode;
        bool tc;
        n = dns_zone_answer(zone, pkt, &q, out, sizeof(out), limit, 1232, mode >> 1, &rcode, &tc);
        must(n > 0, "no answer to a query that parsed", out, n);
        must(n <= limit, "answer over the transport's limit", out, n);
        break;
    }
    }
    if (n == 0)
        return 0; /* a header-only short answer that did not fit: nothing sent */
    static struct tresp r;
    must(td_decode(out, n, &r), "answer does not decode strictly", out, n);
    must(r.id == q.id, "answer id differs from the query's", out, n);
    must((r.flags & 0x8000) != 0, "answer without QR", out, n);
    if (pr == DNS_PARSE_OK) {
        char want[256];
        dns_name_to_text(q.qname, want, sizeof(want));
        must(r.qd == 1, "answer without the question", out, n);
        must(strcmp(r.qname, want) == 0, "question echoed differently", out, n);
        must(r.qtype == q.qtype, "question type echoed differently", out, n);
    }
    return 0;
}
