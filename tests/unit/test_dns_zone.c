/* test_dns_zone.c -- pins down balancer/dns/zone.c, the answers of the
 * pool's zone: SRV (with the target's addresses), A/AAAA of the healthy
 * nodes only and rotated per answer, fail open (and not), per-node names,
 * SOA/NS with glue, NXDOMAIN vs NODATA (SOA in authority, negative TTL),
 * REFUSED outside the zone and for other classes and transfers, ANY
 * minimal, EDNS0 echoed, truncation (additional dropped first, then TC=1),
 * the question echoed as sent, and well-formed answers to mutated queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "balancer_config.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "dns_testlib.h"
#include "health/health.h"

static struct balancer_config cfg;
static struct health_node nodes[64];
static size_t n_nodes;

static void node(const char *id, const char *addr, bool healthy)
{
    struct health_node *n = &nodes[n_nodes++];
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id);
    snprintf(n->ext_host, sizeof(n->ext_host), "%s", addr);
    n->sip_port = 5061;
    if (strchr(addr, ':')) {
        n->ext_addr.ss_family = AF_INET6;
        inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&n->ext_addr)->sin6_addr);
    } else {
        n->ext_addr.ss_family = AF_INET;
        inet_pton(AF_INET, addr, &((struct sockaddr_in *)&n->ext_addr)->sin_addr);
    }
    n->alive = n->check_ok = true;
    n->healthy = healthy;
}

static int setup(void **state)
{
    char err[256];
    assert_int_equal(balancer_config_load(&cfg, NULL, err, sizeof(err)), 0);
    n_nodes = 0;
    return 0;
}

static int teardown(void **state)
{
    balancer_config_free(&cfg);
    return 0;
}

static void set_ns(const char *a, const char *b)
{
    for (int i = 0; i < cfg.dns_ns.n; i++)
        free(cfg.dns_ns.v[i]);
    free(cfg.dns_ns.v);
    cfg.dns_ns.v = calloc(2, sizeof(char *));
    cfg.dns_ns.v[0] = strdup(a);
    cfg.dns_ns.n = 1;
    if (b) {
        cfg.dns_ns.v[1] = strdup(b);
        cfg.dns_ns.n = 2;
    }
}

static struct dns_zone *build(void)
{
    char err[256];
    struct dns_zone *z = dns_zone_build(&cfg, nodes, n_nodes, 2024010101u, err, sizeof(err));
    if (!z)
        fail_msg("dns_zone_build: %s", err);
    return z;
}

/* Ask z; the answer decoded (strictly) into r. */
static size_t ask_full(const struct dns_zone *z, const char *name, uint16_t type, uint16_t cls,
                       const struct tq_opts *o, size_t limit, uint32_t rotate, struct tresp *r,
                       int *rcode, bool *tc)
{
    uint8_t pkt[600], out[65535];
    size_t n = tq_build(pkt, name, type, cls, o);
    struct dns_query q;
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_OK);
    size_t len = dns_zone_answer(z, pkt, &q, out, sizeof(out),
                                 limit ? limit : dns_udp_limit(&q, 1232), 1232, rotate, rcode, tc);
    assert_true(len >= 12);
    if (!td_decode(out, len, r))
        fail_msg("answer to %s/%u does not decode", name, type);
    assert_int_equal(r->id, o->id);
    assert_int_equal(r->qd, 1);
    assert_int_equal(r->rcode, *rcode);
    return len;
}

static const struct tq_opts plain = {.id = 0x4242, .flags = 0x0100};
static const struct tq_opts edns = {.id = 0x4343, .flags = 0, .edns = true, .payload = 4096};

static size_t ask(const struct dns_zone *z, const char *name, uint16_t type, struct tresp *r)
{
    int rcode;
    bool tc;
    return ask_full(z, name, type, DNS_C_IN, &plain, 0, 0, r, &rcode, &tc);
}

static bool has_addr(const struct tresp *r, int sec, const char *owner, const char *addr)
{
    const struct trr *x;
    size_t n = td_section(r, sec, &x);
    uint8_t a[16];
    bool v6 = strchr(addr, ':') != NULL;
    inet_pton(v6 ? AF_INET6 : AF_INET, addr, a);
    for (size_t i = 0; i < n; i++)
        if (x[i].type == (v6 ? 28 : 1) && strcmp(x[i].name, owner) == 0 &&
            memcmp(x[i].rdata, a, v6 ? 16 : 4) == 0)
            return true;
    return false;
}

static void test_srv(void **state)
{
    node("edge1", "127.0.13.1", true);
    node("edge2", "127.0.13.2", true);
    node("edge3", "2001:db8::3", true);
    struct dns_zone *z = build();
    struct tresp r;
    static const struct {
        const char *name;
        uint16_t port;
    } srv[] = {{"_sipfederationtls._tcp.contoso.test", 5061},
               {"_sip._tls.contoso.test", 5061},
               {"_xmpp-server._tcp.contoso.test", 5269}};
    for (size_t i = 0; i < 3; i++) {
        ask(z, srv[i].name, DNS_T_SRV, &r);
        assert_int_equal(r.rcode, 0);
        assert_int_equal(r.flags & (DNS_F_QR | DNS_F_AA), DNS_F_QR | DNS_F_AA);
        assert_int_equal(r.an, 1);
        assert_int_equal(r.rr[0].type, DNS_T_SRV);
        assert_string_equal(r.rr[0].name, srv[i].name);
        assert_string_equal(r.rr[0].target, "sip.contoso.test");
        assert_int_equal(r.rr[0].port, srv[i].port);
        assert_int_equal(r.rr[0].ttl, 5);
        assert_int_equal(r.ar, 3); /* the target's addresses */
        assert_true(has_addr(&r, 2, "sip.contoso.test", "127.0.13.1"));
        assert_true(has_addr(&r, 2, "sip.contoso.test", "127.0.13.2"));
        assert_true(has_addr(&r, 2, "sip.contoso.test", "2001:db8::3"));
    }
    dns_zone_free(z);
    /* no XMPP SRV when its port is 0 */
    cfg.dns_xmpp_port = 0;
    z = build();
    ask(z, "_xmpp-server._tcp.contoso.test", DNS_T_SRV, &r);
    assert_int_equal(r.rcode, DNS_R_NXDOMAIN);
    dns_zone_free(z);
}

/* Only healthy nodes, v4 in A and v6 in AAAA, every one exactly once, the
 * order rotating with the caller's counter. */
static void test_pool_addresses_rotate(void **state)
{
    node("edge1", "127.0.13.1", true);
    node("edge2", "127.0.13.2", false);
    node("edge3", "127.0.13.3", true);
    node("edge4", "127.0.13.4", true);
    node("edge6", "2001:db8::6", true);
    struct dns_zone *z = build();
    struct dns_zone_info zi;
    dns_zone_info(z, &zi);
    assert_int_equal(zi.nodes, 5);
    assert_int_equal(zi.healthy, 4);
    assert_int_equal(zi.answered, 4);
    assert_false(zi.fail_open);
    struct tresp r;
    int rcode;
    bool tc;
    char first[3][16];
    for (uint32_t rot = 0; rot < 3; rot++) {
        ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain, 0, rot, &r, &rcode, &tc);
        assert_int_equal(r.an, 3);
        assert_true(has_addr(&r, 0, "sip.contoso.test", "127.0.13.1"));
        assert_true(has_addr(&r, 0, "sip.contoso.test", "127.0.13.3"));
        assert_true(has_addr(&r, 0, "sip.contoso.test", "127.0.13.4"));
        assert_false(has_addr(&r, 0, "sip.contoso.test", "127.0.13.2"));
        inet_ntop(AF_INET, r.rr[0].rdata, first[rot], sizeof(first[rot]));
    }
    assert_string_not_equal(first[0], first[1]);
    assert_string_not_equal(first[1], first[2]);
    assert_string_not_equal(first[0], first[2]);
    ask(z, "sip.contoso.test", DNS_T_AAAA, &r);
    assert_int_equal(r.an, 1);
    assert_true(has_addr(&r, 0, "sip.contoso.test", "2001:db8::6"));
    dns_zone_free(z);
}

static void test_fail_open(void **state)
{
    node("edge1", "127.0.13.1", false);
    node("edge2", "127.0.13.2", false);
    struct dns_zone *z = build();
    struct dns_zone_info zi;
    dns_zone_info(z, &zi);
    assert_true(zi.fail_open);
    struct tresp r;
    ask(z, "sip.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.an, 2);
    dns_zone_free(z);
    /* fail_open off: none healthy is NODATA */
    cfg.health_fail_open = false;
    z = build();
    dns_zone_info(z, &zi);
    assert_false(zi.fail_open);
    ask(z, "sip.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.ns, 1);
    dns_zone_free(z);
    /* no node at all (the embedded default): NODATA, not fail open */
    cfg.health_fail_open = true;
    n_nodes = 0;
    z = build();
    dns_zone_info(z, &zi);
    assert_false(zi.fail_open);
    ask(z, "sip.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.ns, 1);
    assert_int_equal(r.rr[0].type, DNS_T_SOA);
    dns_zone_free(z);
}

static void test_node_records(void **state)
{
    node("edge1", "127.0.13.1", false); /* unhealthy nodes keep their own name */
    node("Edge6", "2001:db8::6", true);
    struct dns_zone *z = build();
    struct tresp r;
    ask(z, "edge1.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.an, 1);
    assert_true(has_addr(&r, 0, "edge1.contoso.test", "127.0.13.1"));
    ask(z, "EDGE6.contoso.test", DNS_T_AAAA, &r);
    assert_int_equal(r.an, 1);
    assert_true(has_addr(&r, 0, "edge6.contoso.test", "2001:db8::6"));
    ask(z, "edge6.contoso.test", DNS_T_A, &r); /* NODATA */
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.ns, 1);
    dns_zone_free(z);
    cfg.dns_node_records = false;
    z = build();
    ask(z, "edge1.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.rcode, DNS_R_NXDOMAIN);
    dns_zone_free(z);
}

static void test_apex(void **state)
{
    set_ns("ns1.contoso.test@127.0.13.53", "ns.example.net");
    struct dns_zone *z = build();
    struct tresp r;
    ask(z, "contoso.test", DNS_T_SOA, &r);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.rr[0].type, DNS_T_SOA);
    assert_string_equal(r.rr[0].target, "ns1.contoso.test");
    assert_int_equal(r.rr[0].serial, 2024010101u);
    assert_int_equal(r.rr[0].minimum, 5);
    ask(z, "contoso.test", DNS_T_NS, &r);
    assert_int_equal(r.an, 2);
    assert_string_equal(r.rr[0].target, "ns1.contoso.test");
    assert_string_equal(r.rr[1].target, "ns.example.net");
    assert_int_equal(r.ar, 1); /* glue for the in-zone one only */
    assert_true(has_addr(&r, 2, "ns1.contoso.test", "127.0.13.53"));
    ask(z, "ns1.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.an, 1);
    /* ANY: one RRset (RFC 8482), the SOA at the apex */
    ask(z, "contoso.test", DNS_T_ANY, &r);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.rr[0].type, DNS_T_SOA);
    ask(z, "_sip._tls.contoso.test", DNS_T_ANY, &r);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.rr[0].type, DNS_T_SRV);
    dns_zone_free(z);
    /* a fixed serial */
    cfg.dns_soa_serial = 7;
    z = build();
    ask(z, "contoso.test", DNS_T_SOA, &r);
    assert_int_equal(r.rr[0].serial, 7);
    dns_zone_free(z);
}

static void test_negative(void **state)
{
    node("edge1", "127.0.13.1", true);
    cfg.dns_ttl = 30;
    cfg.dns_soa_minimum = 10;
    struct dns_zone *z = build();
    struct tresp r;
    int rcode;
    bool tc;
    /* NXDOMAIN: SOA in authority with min(ttl, minimum) */
    ask(z, "nope.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.rcode, DNS_R_NXDOMAIN);
    assert_int_equal(r.flags & DNS_F_AA, DNS_F_AA);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.ns, 1);
    assert_int_equal(r.rr[0].type, DNS_T_SOA);
    assert_string_equal(r.rr[0].name, "contoso.test");
    assert_int_equal(r.rr[0].ttl, 10);
    /* below an existing name: NXDOMAIN too (no wildcards) */
    ask(z, "x.sip.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.rcode, DNS_R_NXDOMAIN);
    /* NODATA: a name with other types, and an empty non-terminal */
    ask(z, "sip.contoso.test", 15 /* MX */, &r);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.ns, 1);
    assert_int_equal(r.rr[0].ttl, 10);
    ask(z, "_tcp.contoso.test", DNS_T_SRV, &r);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.ns, 1);
    ask(z, "_tls.contoso.test", DNS_T_A, &r);
    assert_int_equal(r.rcode, 0);
    /* REFUSED: outside the zone (no AA), another class, transfers */
    ask(z, "www.example.com", DNS_T_A, &r);
    assert_int_equal(r.rcode, DNS_R_REFUSED);
    assert_int_equal(r.flags & DNS_F_AA, 0);
    ask(z, "test", DNS_T_SOA, &r);
    assert_int_equal(r.rcode, DNS_R_REFUSED);
    ask(z, "xcontoso.test", DNS_T_SOA, &r);
    assert_int_equal(r.rcode, DNS_R_REFUSED);
    ask_full(z, "version.bind", 16, 3, &plain, 0, 0, &r, &rcode, &tc);
    assert_int_equal(r.rcode, DNS_R_REFUSED);
    ask(z, "contoso.test", DNS_T_AXFR, &r);
    assert_int_equal(r.rcode, DNS_R_REFUSED);
    ask(z, "contoso.test", DNS_T_IXFR, &r);
    assert_int_equal(r.rcode, DNS_R_REFUSED);
    ask(z, "contoso.test", DNS_T_MAILB, &r);
    assert_int_equal(r.rcode, DNS_R_NOTIMP);
    ask(z, "contoso.test", DNS_T_OPT, &r);
    assert_int_equal(r.rcode, DNS_R_FORMERR);
    /* class ANY is IN */
    ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_ANY, &plain, 0, 0, &r, &rcode, &tc);
    assert_int_equal(r.an, 1);
    dns_zone_free(z);
}

/* The question goes back as sent (0x20 case mixing); the answer's owner
 * points at it. */
static void test_case_echo(void **state)
{
    node("edge1", "127.0.13.1", true);
    struct dns_zone *z = build();
    uint8_t pkt[600], out[2048];
    size_t n = tq_build(pkt, "sIp.CoNtOsO.tEsT", DNS_T_A, DNS_C_IN, &plain);
    struct dns_query q;
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_OK);
    int rcode;
    bool tc;
    size_t len = dns_zone_answer(z, pkt, &q, out, sizeof(out), 512, 1232, 0, &rcode, &tc);
    assert_memory_equal(out + 12, pkt + 12, n - 12);
    assert_int_equal(out[n], 0xC0); /* the answer's owner: a pointer to the question */
    assert_int_equal(out[n + 1], 12);
    struct tresp r;
    assert_true(td_decode(out, len, &r));
    dns_zone_free(z);
}

static void test_edns(void **state)
{
    node("edge1", "127.0.13.1", true);
    struct dns_zone *z = build();
    struct tresp r;
    int rcode;
    bool tc;
    struct tq_opts o = edns;
    o.do_bit = true;
    ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_IN, &o, 0, 0, &r, &rcode, &tc);
    assert_true(r.opt);
    assert_true(r.opt_do);
    assert_int_equal(r.opt_payload, 1232);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.ar, 1);
    ask_full(z, "nope.contoso.test", DNS_T_A, DNS_C_IN, &o, 0, 0, &r, &rcode, &tc);
    assert_true(r.opt);
    assert_int_equal(r.rcode, DNS_R_NXDOMAIN);
    ask_full(z, "www.example.com", DNS_T_A, DNS_C_IN, &o, 0, 0, &r, &rcode, &tc);
    assert_true(r.opt);
    ask(z, "sip.contoso.test", DNS_T_A, &r);
    assert_false(r.opt);
    dns_zone_free(z);
}

/* 40 nodes: 40 x 16 bytes of A records do not fit in 512 bytes: TC=1 and
 * nothing else; with EDNS 1232 they do; over TCP always. The SRV answer
 * fits but its 40 additional records do not: they go, no TC. */
static void test_truncation(void **state)
{
    char id[16], addr[32];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "edge%d", i);
        snprintf(addr, sizeof(addr), "127.0.13.%d", i + 1);
        node(id, addr, true);
    }
    struct dns_zone *z = build();
    struct tresp r;
    int rcode;
    bool tc;
    size_t len = ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain, 0, 0, &r, &rcode, &tc);
    assert_true(tc);
    assert_int_equal(r.flags & DNS_F_TC, DNS_F_TC);
    assert_int_equal(r.an + r.ns + r.ar, 0);
    assert_true(len <= 512);
    len = ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_IN, &edns, 0, 0, &r, &rcode, &tc);
    assert_false(tc);
    assert_int_equal(r.an, 40);
    assert_true(len <= 1232);
    ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain, 65535, 5, &r, &rcode, &tc);
    assert_false(tc);
    assert_int_equal(r.an, 40);
    /* a small EDNS size from the client counts as 512 */
    struct tq_opts small = edns;
    small.payload = 200;
    ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_IN, &small, 0, 0, &r, &rcode, &tc);
    assert_true(tc);
    assert_true(r.opt);
    len = ask_full(z, "_sipfederationtls._tcp.contoso.test", DNS_T_SRV, DNS_C_IN, &plain, 0, 0, &r,
                   &rcode, &tc);
    assert_false(tc);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.ar, 0);
    assert_true(len <= 512);
    ask_full(z, "_sipfederationtls._tcp.contoso.test", DNS_T_SRV, DNS_C_IN, &edns, 0, 0, &r, &rcode,
             &tc);
    assert_int_equal(r.ar, 41);
    dns_zone_free(z);
}

/* 256 nodes (the most health keeps), v4 and v6: it builds and the TCP
 * answer carries them all. */
static void test_many_nodes(void **state)
{
    static struct health_node many[256];
    for (int i = 0; i < 256; i++) {
        memset(&many[i], 0, sizeof(many[i]));
        snprintf(many[i].id, sizeof(many[i].id), "n%d", i);
        if (i % 2) {
            many[i].ext_addr.ss_family = AF_INET6;
            ((struct sockaddr_in6 *)&many[i].ext_addr)->sin6_addr.s6_addr[0] = 0x20;
            ((struct sockaddr_in6 *)&many[i].ext_addr)->sin6_addr.s6_addr[15] = (uint8_t)i;
        } else {
            many[i].ext_addr.ss_family = AF_INET;
            ((struct sockaddr_in *)&many[i].ext_addr)->sin_addr.s_addr =
                htonl(0x0A000000u + (uint32_t)i);
        }
        many[i].healthy = true;
    }
    char err[256];
    struct dns_zone *z = dns_zone_build(&cfg, many, 256, 1, err, sizeof(err));
    assert_non_null(z);
    struct tresp r;
    int rcode;
    bool tc;
    ask_full(z, "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain, 65535, 77, &r, &rcode, &tc);
    assert_int_equal(r.an, 128);
    ask_full(z, "sip.contoso.test", DNS_T_AAAA, DNS_C_IN, &plain, 65535, 3, &r, &rcode, &tc);
    assert_int_equal(r.an, 128);
    ask_full(z, "n255.contoso.test", DNS_T_AAAA, DNS_C_IN, &plain, 0, 0, &r, &rcode, &tc);
    assert_int_equal(r.an, 1);
    dns_zone_free(z);
}

/* Mutated queries that still parse get a well-formed answer, whatever the
 * limit. */
static void test_answer_fuzz(void **state)
{
    node("edge1", "127.0.13.1", true);
    node("edge2", "2001:db8::2", true);
    node("edge3", "127.0.13.3", false);
    set_ns("ns1.contoso.test@127.0.13.53", "ns2.contoso.test@2001:db8::53");
    struct dns_zone *z = build();
    static const char *const names[] = {"contoso.test",
                                        "sip.contoso.test",
                                        "_sip._tls.contoso.test",
                                        "edge1.contoso.test",
                                        "ns2.contoso.test",
                                        "a.b.contoso.test",
                                        "example.com",
                                        ""};
    static const uint16_t types[] = {1, 2, 6, 28, 33, 255, 16, 252, 41, 0, 99};
    uint64_t rng = 7;
    uint8_t pkt[700], out[4096];
    unsigned answered = 0;
    for (int i = 0; i < 100000; i++) {
        struct tq_opts o = (t_rand(&rng) & 1) ? plain : edns;
        o.payload = (uint16_t)(t_rand(&rng) % 5000);
        size_t n = tq_build(pkt, names[t_rand(&rng) % 8], types[t_rand(&rng) % 11],
                            (t_rand(&rng) % 8) ? 1 : (uint16_t)t_rand(&rng), &o);
        for (int e = (int)(t_rand(&rng) % 3); e > 0; e--)
            pkt[12 + t_rand(&rng) % (n - 12)] ^= (uint8_t)(1u << (t_rand(&rng) % 8));
        struct dns_query q;
        if (dns_parse_query(pkt, n, &q) != DNS_PARSE_OK)
            continue;
        size_t limit = dns_udp_limit(&q, 512 + t_rand(&rng) % 3585);
        int rcode;
        bool tc;
        size_t len = dns_zone_answer(z, pkt, &q, out, sizeof(out), limit, 1232,
                                     (uint32_t)t_rand(&rng), &rcode, &tc);
        struct tresp r;
        assert_true(len >= 12 && len <= limit);
        assert_true(td_decode(out, len, &r));
        assert_int_equal(r.rcode, rcode);
        answered++;
    }
    assert_true(answered > 30000);
    dns_zone_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_srv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_addresses_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apex, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_fuzz, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
