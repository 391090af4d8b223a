/* test_resolver_cache.c -- pins down the resolver's answers and memory: the
 * cache (expiry, LRU bound, keys), reading raw answers (SRV, CNAME chains,
 * negative TTLs, malformed input), and the resolver on a libevent loop
 * against a fake DNS server on 127.0.0.1 (coalescing, cache hits answered
 * at once, negative caching, families, failures, freeing with lookups
 * pending and from inside callbacks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "resolver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- A small DNS message writer ------------------------------------------ */

struct pkt {
    unsigned char b[8192];
    size_t len;
};

static void w8(struct pkt *p, unsigned v)
{
    p->b[p->len++] = (unsigned char)v;
}
static void w16(struct pkt *p, unsigned v)
{
    w8(p, v >> 8);
    w8(p, v & 0xff);
}
static void w32(struct pkt *p, uint32_t v)
{
    w16(p, v >> 16);
    w16(p, v & 0xffff);
}
/* An uncompressed name; "" is the root. */
static void wname(struct pkt *p, const char *name)
{
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        w8(p, (unsigned)l);
        memcpy(p->b + p->len, s, l);
        p->len += l;
        s += l;
        if (*s == '.')
            s++;
    }
    w8(p, 0);
}
static void wptr(struct pkt *p, unsigned off)
{
    w16(p, 0xc000 | off);
}

static void header(struct pkt *p, unsigned id, unsigned rcode, unsigned qd, unsigned an,
                   unsigned ns)
{
    p->len = 0;
    w16(p, id);
    w16(p, 0x8400 | 0x0100 | rcode); /* QR AA RD */
    w16(p, qd);
    w16(p, an);
    w16(p, ns);
    w16(p, 0);
}
/* Starts an RR (owner written by the caller); returns where RDLENGTH goes. */
static size_t rr_head(struct pkt *p, unsigned type, uint32_t ttl)
{
    w16(p, type);
    w16(p, 1);
    w32(p, ttl);
    size_t at = p->len;
    w16(p, 0);
    return at;
}
static void rr_end(struct pkt *p, size_t at)
{
    size_t l = p->len - at - 2;
    p->b[at] = (unsigned char)(l >> 8);
    p->b[at + 1] = (unsigned char)(l & 0xff);
}
static void soa(struct pkt *p, const char *zone, uint32_t ttl, uint32_t minimum)
{
    wname(p, zone);
    size_t at = rr_head(p, DNS_TYPE_SOA, ttl);
    wname(p, "ns.test");
    wname(p, "hostmaster.test");
    w32(p, 1);
    w32(p, 3600);
    w32(p, 600);
    w32(p, 86400);
    w32(p, minimum);
    rr_end(p, at);
}
static void srv_rr(struct pkt *p, unsigned owner_ptr, uint32_t ttl, unsigned prio, unsigned weight,
                   unsigned port, const char *target)
{
    wptr(p, owner_ptr);
    size_t at = rr_head(p, DNS_TYPE_SRV, ttl);
    w16(p, prio);
    w16(p, weight);
    w16(p, port);
    wname(p, target);
    rr_end(p, at);
}
static void a_rr(struct pkt *p, const char *owner, uint32_t ttl, const char *ip)
{
    wname(p, owner);
    size_t at = rr_head(p, DNS_TYPE_A, ttl);
    inet_pton(AF_INET, ip, p->b + p->len);
    p->len += 4;
    rr_end(p, at);
}
static void aaaa_rr(struct pkt *p, const char *owner, uint32_t ttl, const char *ip)
{
    wname(p, owner);
    size_t at = rr_head(p, DNS_TYPE_AAAA, ttl);
    inet_pton(AF_INET6, ip, p->b + p->len);
    p->len += 16;
    rr_end(p, at);
}

/* ---- The cache ----------------------------------------------------------- */

/* Entries live until their TTL, and not a millisecond longer. */
static void test_cache_expiry(void **state)
{
    struct dns_cache *c = dns_cache_new(8);
    struct dns_cache_view v;
    uint32_t item = 0x7f000001;
    assert_non_null(c);
    assert_int_equal(dns_cache_put(c, DNS_TYPE_A, "a.test", RESOLVER_OK, &item, 1, 4, 10, 1000), 0);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "a.test", 1000, &v), 1);
    assert_int_equal(v.ttl_left, 10);
    assert_int_equal(v.n, 1);
    assert_memory_equal(v.items, &item, 4);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "a.test", 10999, &v), 1);
    assert_int_equal(v.ttl_left, 1);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "a.test", 11000, &v), 0);
    assert_int_equal(dns_cache_count(c), 0);
    dns_cache_free(c);
}

/* Keys are (type, case-insensitive name); a put replaces; TTL 0 stores nothing. */
static void test_cache_keys_and_replace(void **state)
{
    struct dns_cache *c = dns_cache_new(8);
    struct dns_cache_view v;
    uint32_t one = 1, two = 2;
    dns_cache_put(c, DNS_TYPE_A, "Host.Test", RESOLVER_OK, &one, 1, 4, 60, 0);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "host.test", 0, &v), 1);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_AAAA, "host.test", 0, &v), 0);
    dns_cache_put(c, DNS_TYPE_A, "host.test", RESOLVER_OK, &two, 1, 4, 60, 0);
    assert_int_equal(dns_cache_count(c), 1);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "HOST.TEST", 0, &v), 1);
    assert_memory_equal(v.items, &two, 4);
    dns_cache_put(c, DNS_TYPE_A, "host.test", RESOLVER_OK, &two, 1, 4, 0, 0);
    assert_int_equal(dns_cache_count(c), 0);
    /* Negative entries carry no items. */
    dns_cache_put(c, DNS_TYPE_SRV, "nx.test", RESOLVER_NXDOMAIN, NULL, 0, 1, 30, 0);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_SRV, "nx.test", 0, &v), 1);
    assert_int_equal(v.status, RESOLVER_NXDOMAIN);
    assert_int_equal(v.n, 0);
    dns_cache_free(c);
}

/* At most max entries; the least recently used goes first. */
static void test_cache_lru_bound(void **state)
{
    struct dns_cache *c = dns_cache_new(3);
    struct dns_cache_view v;
    uint32_t x = 0;
    char name[32];
    dns_cache_put(c, DNS_TYPE_A, "a", RESOLVER_OK, &x, 1, 4, 60, 0);
    dns_cache_put(c, DNS_TYPE_A, "b", RESOLVER_OK, &x, 1, 4, 60, 0);
    dns_cache_put(c, DNS_TYPE_A, "c", RESOLVER_OK, &x, 1, 4, 60, 0);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "a", 0, &v), 1); /* a is now the freshest */
    dns_cache_put(c, DNS_TYPE_A, "d", RESOLVER_OK, &x, 1, 4, 60, 0);
    assert_int_equal(dns_cache_count(c), 3);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "b", 0, &v), 0);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "a", 0, &v), 1);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "c", 0, &v), 1);
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "d", 0, &v), 1);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        dns_cache_put(c, DNS_TYPE_A, name, RESOLVER_OK, &x, 1, 4, 60, 0);
        assert_true(dns_cache_count(c) <= 3);
    }
    assert_int_equal(dns_cache_get(c, DNS_TYPE_A, "n999.test", 0, &v), 1);
    dns_cache_free(c);
}

/* ---- Reading answers ----------------------------------------------------- */

static void question(struct pkt *p, const char *name, unsigned type)
{
    wname(p, name);
    w16(p, type);
    w16(p, 1);
}

/* SRV records with their TTLs, compressed owners and targets, "." kept for
 * the resolver to judge, other owners and classes ignored. */
static void test_parse_srv(void **state)
{
    struct pkt p;
    struct dns_answer a;
    header(&p, 1, 0, 1, 5, 0);
    question(&p, "_sip._tcp.ok.test", DNS_TYPE_SRV);
    srv_rr(&p, 12, 300, 10, 60, 5061, "sip1.ok.test");
    /* target "sip2" + pointer to "ok.test" inside the question */
    wptr(&p, 12);
    size_t at = rr_head(&p, DNS_TYPE_SRV, 120);
    w16(&p, 20);
    w16(&p, 0);
    w16(&p, 5062);
    w8(&p, 4);
    memcpy(p.b + p.len, "sip2", 4);
    p.len += 4;
    wptr(&p, 12 + 1 + 4 + 1 + 4); /* "\x04_sip\x04_tcp" skipped: "ok.test" */
    rr_end(&p, at);
    srv_rr(&p, 12, 300, 30, 0, 0, "");
    /* another owner, and a CH-class record: both ignored */
    wname(&p, "_sip._tcp.other.test");
    at = rr_head(&p, DNS_TYPE_SRV, 1);
    w16(&p, 1);
    w16(&p, 1);
    w16(&p, 1);
    wname(&p, "x.test");
    rr_end(&p, at);
    wptr(&p, 12);
    w16(&p, DNS_TYPE_SRV);
    w16(&p, 3);
    w32(&p, 1);
    w16(&p, 7);
    w16(&p, 1);
    w16(&p, 1);
    w16(&p, 1);
    w8(&p, 0);

    assert_int_equal(dns_answer_parse(p.b, p.len, "_SIP._tcp.ok.test", DNS_TYPE_SRV, &a), 0);
    assert_int_equal(a.rcode, 0);
    assert_int_equal(a.n, 3);
    const struct srv_target *t = a.items;
    assert_string_equal(t[0].host, "sip1.ok.test");
    assert_int_equal(t[0].priority, 10);
    assert_int_equal(t[0].weight, 60);
    assert_int_equal(t[0].port, 5061);
    assert_string_equal(t[1].host, "sip2.ok.test");
    assert_int_equal(t[1].port, 5062);
    assert_string_equal(t[2].host, ".");
    assert_int_equal(a.ttl, 120);
    assert_int_equal(a.has_soa, 0);
    dns_answer_clear(&a);
}

/* A CNAME chain is followed (its TTLs count), loops end it, and the
 * addresses of the final name are the answer. */
static void test_parse_cname_chain(void **state)
{
    struct pkt p;
    struct dns_answer a;
    header(&p, 1, 0, 1, 5, 0);
    question(&p, "alias.test", DNS_TYPE_A);
    a_rr(&p, "host.test", 300, "127.0.0.10"); /* before its CNAME: order does not matter */
    wname(&p, "alias.test");
    size_t at = rr_head(&p, DNS_TYPE_CNAME, 50);
    wname(&p, "mid.test");
    rr_end(&p, at);
    wname(&p, "mid.test");
    at = rr_head(&p, DNS_TYPE_CNAME, 400);
    wname(&p, "host.test");
    rr_end(&p, at);
    a_rr(&p, "host.test", 300, "127.0.0.11");
    a_rr(&p, "unrelated.test", 1, "127.0.0.99");
    assert_int_equal(dns_answer_parse(p.b, p.len, "alias.test", DNS_TYPE_A, &a), 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.ttl, 50);
    unsigned char want[4] = {127, 0, 0, 11};
    assert_memory_equal((unsigned char *)a.items + 4, want, 4);
    dns_answer_clear(&a);

    /* a -> b -> a: no records, no hang */
    header(&p, 1, 0, 1, 2, 0);
    question(&p, "a.test", DNS_TYPE_A);
    wname(&p, "a.test");
    at = rr_head(&p, DNS_TYPE_CNAME, 50);
    wname(&p, "b.test");
    rr_end(&p, at);
    wname(&p, "b.test");
    at = rr_head(&p, DNS_TYPE_CNAME, 50);
    wname(&p, "a.test");
    rr_end(&p, at);
    assert_int_equal(dns_answer_parse(p.b, p.len, "a.test", DNS_TYPE_A, &a), 0);
    assert_int_equal(a.n, 0);
    dns_answer_clear(&a);
}

/* NXDOMAIN with an SOA: the negative TTL is min(SOA TTL, MINIMUM). TTLs with
 * the top bit set read as 0. Wrong-size addresses are skipped. */
static void test_parse_negative_and_ttls(void **state)
{
    struct pkt p;
    struct dns_answer a;
    header(&p, 1, 3, 1, 0, 1);
    question(&p, "nx.test", DNS_TYPE_SRV);
    soa(&p, "test", 300, 30);
    assert_int_equal(dns_answer_parse(p.b, p.len, "nx.test", DNS_TYPE_SRV, &a), 0);
    assert_int_equal(a.rcode, 3);
    assert_int_equal(a.n, 0);
    assert_int_equal(a.has_soa, 1);
    assert_int_equal(a.soa_ttl, 30);
    dns_answer_clear(&a);

    header(&p, 1, 0, 1, 0, 1);
    question(&p, "nodata.test", DNS_TYPE_AAAA);
    soa(&p, "test", 20, 3600);
    assert_int_equal(dns_answer_parse(p.b, p.len, "nodata.test", DNS_TYPE_AAAA, &a), 0);
    assert_int_equal(a.soa_ttl, 20);
    dns_answer_clear(&a);

    header(&p, 1, 0, 1, 3, 0);
    question(&p, "h.test", DNS_TYPE_AAAA);
    aaaa_rr(&p, "h.test", 0x80000001u, "::1");
    aaaa_rr(&p, "h.test", 100, "::2");
    wname(&p, "h.test"); /* 4 bytes of AAAA: skipped */
    size_t at = rr_head(&p, DNS_TYPE_AAAA, 100);
    w32(&p, 1);
    rr_end(&p, at);
    assert_int_equal(dns_answer_parse(p.b, p.len, "h.test", DNS_TYPE_AAAA, &a), 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.ttl, 0);
    dns_answer_clear(&a);
}

/* Every truncation and a sweep of corruptions of a valid answer are either
 * read or refused: never a crash, a hang or a leak (ASan watches). */
static void test_parse_malformed(void **state)
{
    struct pkt p, q;
    struct dns_answer a;
    header(&p, 1, 0, 1, 3, 1);
    question(&p, "_sip._tcp.ok.test", DNS_TYPE_SRV);
    srv_rr(&p, 12, 300, 10, 60, 5061, "sip1.ok.test");
    srv_rr(&p, 12, 300, 10, 60, 5061, "sip2.ok.test");
    wname(&p, "_sip._tcp.ok.test");
    w16(&p, DNS_TYPE_CNAME);
    w16(&p, 1);
    w32(&p, 5);
    w16(&p, 2);
    wptr(&p, 12); /* a CNAME to itself */
    soa(&p, "test", 300, 30);
    for (size_t len = 0; len < p.len; len++) {
        if (dns_answer_parse(p.b, len, "_sip._tcp.ok.test", DNS_TYPE_SRV, &a) == 0)
            assert_true(a.n <= 2);
        dns_answer_clear(&a);
    }
    for (size_t i = 0; i < p.len; i++) {
        for (unsigned v = 0; v < 256; v += 17) {
            q = p;
            q.b[i] = (unsigned char)v;
            if (dns_answer_parse(q.b, q.len, "_sip._tcp.ok.test", DNS_TYPE_SRV, &a) == 0)
                assert_true(a.n <= 3);
            dns_answer_clear(&a);
        }
    }
    /* A pointer loop in a name. */
    header(&p, 1, 0, 1, 1, 0);
    question(&p, "x.test", DNS_TYPE_A);
    wptr(&p, (unsigned)p.len);
    assert_int_equal(dns_answer_parse(p.b, p.len, "x.test", DNS_TYPE_A, &a), -1);
    /* A huge ANCOUNT on a short message. */
    header(&p, 1, 0, 1, 65535, 0);
    question(&p, "x.test", DNS_TYPE_SRV);
    assert_int_equal(dns_answer_parse(p.b, p.len, "x.test", DNS_TYPE_SRV, &a), -1);
    assert_int_equal(dns_answer_parse(NULL, 0, "x.test", DNS_TYPE_SRV, &a), -1);
}

/* ---- A fake DNS server on 127.0.0.1 -------------------------------------- */

struct fake_dns {
    int fd;
    uint16_t port;
    struct event *ev;
    int queries;           /* every query received */
    char last[256];        /* the last name asked */
    int per_name_count[8]; /* by zone_entry index */
};

static const char *const zone_names[] = {"_sip._tcp.ok.test", "host.test",         "v4only.test",
                                         "nx.test",           "drop.test",         "fail.test",
                                         "bad.test",          "_sip._tcp.dot.test"};

static int zone_index(const char *name)
{
    for (int i = 0; i < 8; i++)
        if (strcasecmp(name, zone_names[i]) == 0)
            return i;
    return -1;
}

/* Builds the answer to a question; false to stay silent. */
static bool fake_answer(const unsigned char *qb, size_t qlen, size_t qend, const char *name,
                        unsigned type, struct pkt *p)
{
    unsigned id = (unsigned)(qb[0] << 8 | qb[1]);
    int zi = zone_index(name);
    header(p, id, 0, 1, 0, 0);
    memcpy(p->b + 12, qb + 12, qend - 12); /* the question as asked */
    p->len = qend;
    unsigned an = 0, ns = 0, rcode = 0;
    switch (zi) {
    case 0: /* SRV: three targets */
        if (type == DNS_TYPE_SRV) {
            srv_rr(p, 12, 300, 10, 60, 5061, "sip1.ok.test");
            srv_rr(p, 12, 300, 10, 40, 5061, "sip2.ok.test");
            srv_rr(p, 12, 300, 20, 0, 5062, "backup.ok.test");
            an = 3;
        } else {
            soa(p, "test", 300, 30);
            ns = 1;
        }
        break;
    case 1: /* host.test: two A, one AAAA */
        if (type == DNS_TYPE_A) {
            a_rr(p, "host.test", 300, "127.0.0.10");
            a_rr(p, "host.test", 300, "127.0.0.11");
            an = 2;
        } else if (type == DNS_TYPE_AAAA) {
            aaaa_rr(p, "host.test", 300, "::1");
            an = 1;
        }
        break;
    case 2: /* v4only.test: A, AAAA is NODATA */
        if (type == DNS_TYPE_A) {
            a_rr(p, "v4only.test", 300, "127.0.0.12");
            an = 1;
        } else {
            soa(p, "test", 300, 30);
            ns = 1;
        }
        break;
    case 3:
    case -1:
        rcode = 3;
        soa(p, "test", 300, 30);
        ns = 1;
        break;
    case 4:
        return false;
    case 5:
        rcode = 2;
        break;
    case 6: /* claims two answers, carries none */
        an = 2;
        break;
    case 7: /* "." */
        srv_rr(p, 12, 300, 0, 0, 0, "");
        an = 1;
        break;
    }
    p->b[3] = (unsigned char)((p->b[3] & 0xf0) | rcode);
    p->b[6] = (unsigned char)(an >> 8);
    p->b[7] = (unsigned char)(an & 0xff);
    p->b[8] = (unsigned char)(ns >> 8);
    p->b[9] = (unsigned char)(ns & 0xff);
    (void)qlen;
    return true;
}

static void on_fake_query(evutil_socket_t fd, short what, void *arg)
{
    struct fake_dns *f = arg;
    unsigned char qb[4096];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t n;
    while ((n = recvfrom(fd, qb, sizeof(qb), 0, (struct sockaddr *)&from, &fl)) > 0) {
        size_t off = 12;
        char name[256];
        size_t nl = 0;
        if (n < 17)
            continue;
        while (off < (size_t)n && qb[off] && nl < 200) {
            unsigned l = qb[off++];
            if (nl)
                name[nl++] = '.';
            for (unsigned i = 0; i < l && off < (size_t)n; i++)
                name[nl++] = (char)tolower(qb[off++]);
        }
        name[nl] = '\0';
        off++;
        if (off + 4 > (size_t)n)
            continue;
        unsigned type = (unsigned)(qb[off] << 8 | qb[off + 1]);
        f->queries++;
        snprintf(f->last, sizeof(f->last), "%s", name);
        int zi = zone_index(name);
        if (zi >= 0)
            f->per_name_count[zi]++;
        struct pkt p;
        if (fake_answer(qb, (size_t)n, off + 4, name, type, &p))
            sendto(fd, p.b, p.len, 0, (struct sockaddr *)&from, fl);
        fl = sizeof(from);
    }
}

struct fixture {
    struct event_base *base;
    struct event *tick;
    struct fake_dns dns;
    struct resolver *r;
};

static void on_tick(evutil_socket_t fd, short what, void *arg) {}

static struct resolver *fixture_resolver(struct fixture *fx, unsigned negative_ttl_max)
{
    char servers[64], err[256];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", fx->dns.port);
    struct resolver_opts o = {
        .servers = servers, .timeout_ms = 150, .tries = 1, .negative_ttl_max = negative_ttl_max};
    struct resolver *r = resolver_new(fx->base, &o, err, sizeof(err));
    if (!r)
        fail_msg("resolver_new: %s", err);
    return r;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    fx->base = event_base_new();
    fx->dns.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    if (bind(fx->dns.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(fx->dns.fd, (struct sockaddr *)&sin, &sl) < 0)
        return -1;
    fx->dns.port = ntohs(sin.sin_port);
    fx->dns.ev = event_new(fx->base, fx->dns.fd, EV_READ | EV_PERSIST, on_fake_query, &fx->dns);
    event_add(fx->dns.ev, NULL);
    struct timeval ten_ms = {0, 10000};
    fx->tick = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
    event_add(fx->tick, &ten_ms);
    fx->r = fixture_resolver(fx, 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    resolver_free(fx->r);
    event_free(fx->dns.ev);
    event_free(fx->tick);
    close(fx->dns.fd);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

/* Runs the loop until *count reaches want, failing after two seconds. */
static void run_until(struct fixture *fx, const int *count, int want)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (*count < want) {
        event_base_loop(fx->base, EVLOOP_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > 2000)
            fail_msg("timed out waiting: %d of %d callbacks", *count, want);
    }
}

/* What a callback saw. */
struct got {
    int calls;
    int status;
    size_t n;
    struct srv_target t[8];
    struct sockaddr_storage a[8];
    struct resolver **free_me; /* if set, the callback frees *free_me */
    int retry_rc;              /* resolver_srv from inside the callback */
    bool retry;
};

static void srv_cb(void *arg, int status, const struct srv_target *t, size_t n)
{
    struct got *g = arg;
    g->calls++;
    g->status = status;
    g->n = n;
    assert_true(status == RESOLVER_OK ? (n > 0 && t != NULL) : (n == 0 && t == NULL));
    for (size_t i = 0; i < n && i < 8; i++)
        g->t[i] = t[i];
    if (g->free_me) {
        resolver_free(*g->free_me);
        *g->free_me = NULL;
    }
}

static void addr_cb(void *arg, int status, const struct sockaddr_storage *a, size_t n)
{
    struct got *g = arg;
    g->calls++;
    g->status = status;
    g->n = n;
    assert_true(status == RESOLVER_OK ? (n > 0 && a != NULL) : (n == 0 && a == NULL));
    for (size_t i = 0; i < n && i < 8; i++)
        g->a[i] = a[i];
    if (g->free_me) {
        struct resolver *r = *g->free_me;
        *g->free_me = NULL;
        resolver_free(r);
        if (g->retry)
            g->retry_rc = resolver_srv(r, "_sip._tcp.ok.test", srv_cb, g);
    }
}

static void cancelled_retry_cb(void *arg, int status, const struct srv_target *t, size_t n)
{
    struct got *g = arg;
    g->calls++;
    g->status = status;
    if (g->free_me && *g->free_me) /* a request on a resolver being freed */
        g->retry_rc = resolver_srv(*g->free_me, "_sip._tcp.ok.test", srv_cb, g);
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)len);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, (socklen_t)len);
    return buf;
}

/* Five identical SRV requests share one query; the answer is then cached
 * and a further request is answered before resolver_srv returns, with the
 * same set freshly ordered and the TTL counting down. */
static void test_coalesce_and_cache_hit(void **state)
{
    struct fixture *fx = *state;
    struct got g[6];
    memset(g, 0, sizeof(g));
    for (int i = 0; i < 5; i++)
        assert_int_equal(resolver_srv(fx->r, "_sip._tcp.ok.test", srv_cb, &g[i]), 0);
    int done = 0;
    while (done < 5) {
        run_until(fx, &g[4].calls, 1);
        done = 0;
        for (int i = 0; i < 5; i++)
            done += g[i].calls;
    }
    assert_int_equal(fx->dns.per_name_count[0], 1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(g[i].calls, 1);
        assert_int_equal(g[i].status, RESOLVER_OK);
        assert_int_equal(g[i].n, 3);
        assert_int_equal(g[i].t[2].priority, 20);
        assert_string_equal(g[i].t[2].host, "backup.ok.test");
        assert_int_equal(g[i].t[0].ttl, 300);
    }
    assert_int_equal(resolver_srv(fx->r, "_SIP._TCP.OK.TEST.", srv_cb, &g[5]), 0);
    assert_int_equal(g[5].calls, 1); /* already answered */
    assert_int_equal(g[5].n, 3);
    assert_true(g[5].t[0].ttl <= 300 && g[5].t[0].ttl >= 299);
    assert_int_equal(fx->dns.per_name_count[0], 1);
    struct resolver_stats st;
    resolver_get_stats(fx->r, &st);
    assert_int_equal(st.queries, 1);
    assert_int_equal(st.coalesced, 4);
    assert_int_equal(st.cache_hits, 1);
    assert_int_equal(st.requests, 6);
}

/* NXDOMAIN, NODATA and a "." target are cached: the second ask goes nowhere. */
static void test_negative_caching(void **state)
{
    struct fixture *fx = *state;
    const char *names[] = {"nx.test", "_sip._tcp.dot.test"};
    for (int k = 0; k < 2; k++) {
        struct got g1 = {0}, g2 = {0};
        int before = fx->dns.queries;
        assert_int_equal(resolver_srv(fx->r, names[k], srv_cb, &g1), 0);
        run_until(fx, &g1.calls, 1);
        assert_int_equal(g1.status, k == 0 ? RESOLVER_NXDOMAIN : RESOLVER_NODATA);
        assert_int_equal(resolver_srv(fx->r, names[k], srv_cb, &g2), 0);
        assert_int_equal(g2.calls, 1);
        assert_int_equal(g2.status, g1.status);
        assert_int_equal(fx->dns.queries, before + 1);
    }
    struct got g = {0};
    int before = fx->dns.queries;
    assert_int_equal(resolver_addr(fx->r, "v4only.test", 5061, AF_INET6, addr_cb, &g), 0);
    run_until(fx, &g.calls, 1);
    assert_int_equal(g.status, RESOLVER_NODATA);
    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_addr(fx->r, "v4only.test", 5061, AF_INET6, addr_cb, &g), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(fx->dns.queries, before + 1);
    struct resolver_stats st;
    resolver_get_stats(fx->r, &st);
    assert_int_equal(st.negative_hits, 3);
}

/* Both families: IPv4 first, port filled in; one family alone; NODATA on
 * one side does not hide the other; NXDOMAIN wins over NODATA. */
static void test_addr_families(void **state)
{
    struct fixture *fx = *state;
    char buf[64];
    struct got g = {0};
    assert_int_equal(resolver_addr(fx->r, "host.test", 5061, AF_UNSPEC, addr_cb, &g), 0);
    run_until(fx, &g.calls, 1);
    assert_int_equal(g.status, RESOLVER_OK);
    assert_int_equal(g.n, 3);
    assert_string_equal(addr_str(&g.a[0], buf, sizeof(buf)), "127.0.0.10");
    assert_string_equal(addr_str(&g.a[1], buf, sizeof(buf)), "127.0.0.11");
    assert_string_equal(addr_str(&g.a[2], buf, sizeof(buf)), "::1");
    assert_int_equal(ntohs(((struct sockaddr_in *)&g.a[0])->sin_port), 5061);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&g.a[2])->sin6_port), 5061);

    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_addr(fx->r, "host.test", 443, AF_INET6, addr_cb, &g), 0);
    assert_int_equal(g.calls, 1); /* cached */
    assert_int_equal(g.n, 1);
    assert_int_equal(g.a[0].ss_family, AF_INET6);

    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_addr(fx->r, "v4only.test", 5061, AF_UNSPEC, addr_cb, &g), 0);
    run_until(fx, &g.calls, 1);
    assert_int_equal(g.status, RESOLVER_OK);
    assert_int_equal(g.n, 1);

    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_addr(fx->r, "nx.test", 5061, AF_UNSPEC, addr_cb, &g), 0);
    run_until(fx, &g.calls, 1);
    assert_int_equal(g.status, RESOLVER_NXDOMAIN);
}

/* IP literals are answered at once, without a query; bad names and
 * families are refused with -1 and no callback. */
static void test_literals_and_refusals(void **state)
{
    struct fixture *fx = *state;
    char buf[64];
    struct got g = {0};
    assert_int_equal(resolver_addr(fx->r, "127.0.0.7", 80, AF_UNSPEC, addr_cb, &g), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, RESOLVER_OK);
    assert_string_equal(addr_str(&g.a[0], buf, sizeof(buf)), "127.0.0.7");
    assert_int_equal(ntohs(((struct sockaddr_in *)&g.a[0])->sin_port), 80);
    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_addr(fx->r, "[::1]", 5061, AF_INET6, addr_cb, &g), 0);
    assert_int_equal(g.status, RESOLVER_OK);
    assert_int_equal(g.a[0].ss_family, AF_INET6);
    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_addr(fx->r, "::1", 5061, AF_INET, addr_cb, &g), 0);
    assert_int_equal(g.status, RESOLVER_NODATA);
    assert_int_equal(fx->dns.queries, 0);

    char longname[300];
    memset(longname, 'a', sizeof(longname));
    longname[299] = '\0';
    const char *bad[] = {"", ".", "a..b", "bad name", "x\n.test", "a/b", longname, NULL};
    memset(&g, 0, sizeof(g));
    for (int i = 0; i < 8; i++) {
        assert_int_equal(resolver_srv(fx->r, bad[i], srv_cb, &g), -1);
        assert_int_equal(resolver_addr(fx->r, bad[i], 1, AF_UNSPEC, addr_cb, &g), -1);
    }
    assert_int_equal(resolver_addr(fx->r, "host.test", 1, 12345, addr_cb, &g), -1);
    assert_int_equal(resolver_srv(fx->r, "ok.test", NULL, &g), -1);
    assert_int_equal(g.calls, 0);
    assert_int_equal(fx->dns.queries, 0);
}

/* Silence is TIMEOUT, a lying answer is ERROR, SERVFAIL a transient
 * failure (c-ares 1.18 skips a SERVFAIL server as if unreachable and ends
 * with TIMEOUT; later versions say SERVFAIL); none is cached, and they count
 * as failures. */
static void test_failures_not_cached(void **state)
{
    struct fixture *fx = *state;
    struct {
        const char *name;
        int status;
    } cases[] = {{"drop.test", RESOLVER_TIMEOUT},
                 {"fail.test", RESOLVER_SERVFAIL},
                 {"bad.test", RESOLVER_ERROR}};
    for (int k = 0; k < 3; k++) {
        for (int round = 0; round < 2; round++) {
            struct got g = {0};
            int before = fx->dns.queries;
            assert_int_equal(resolver_addr(fx->r, cases[k].name, 1, AF_INET, addr_cb, &g), 0);
            assert_int_equal(g.calls, 0);
            run_until(fx, &g.calls, 1);
            if (cases[k].status == RESOLVER_SERVFAIL && g.status == RESOLVER_TIMEOUT)
                g.status = RESOLVER_SERVFAIL;
            assert_int_equal(g.status, cases[k].status);
            assert_true(fx->dns.queries > before);
        }
    }
    struct resolver_stats st;
    resolver_get_stats(fx->r, &st);
    assert_int_equal(st.failures, 6);
    assert_int_equal(st.cache_hits + st.negative_hits, 0);
}

/* resolver_free with lookups in flight: each callback hears CANCELLED once,
 * before resolver_free returns, and may not start a new request. */
static void test_free_with_pending(void **state)
{
    struct fixture *fx = *state;
    struct got g1 = {0}, g2 = {0}, g3 = {0};
    assert_int_equal(resolver_srv(fx->r, "drop.test", cancelled_retry_cb, &g1), 0);
    assert_int_equal(resolver_srv(fx->r, "drop.test", srv_cb, &g2), 0);
    assert_int_equal(resolver_addr(fx->r, "drop.test", 1, AF_UNSPEC, addr_cb, &g3), 0);
    g1.free_me = &fx->r;
    g1.retry_rc = 99;
    struct resolver *r = fx->r;
    resolver_free(r);
    fx->r = NULL;
    assert_int_equal(g1.calls, 1);
    assert_int_equal(g1.status, RESOLVER_CANCELLED);
    assert_int_equal(g2.calls, 1);
    assert_int_equal(g2.status, RESOLVER_CANCELLED);
    assert_int_equal(g3.calls, 1);
    assert_int_equal(g3.status, RESOLVER_CANCELLED);
    assert_int_equal(g1.retry_rc, -1);
}

/* resolver_free from inside a callback of a network answer: the others
 * pending are cancelled when the dispatch unwinds; nothing leaks. */
static void test_free_inside_callback(void **state)
{
    struct fixture *fx = *state;
    struct got g1 = {0}, g2 = {0};
    g1.free_me = &fx->r;
    g1.retry = true;
    g1.retry_rc = 99;
    assert_int_equal(resolver_addr(fx->r, "host.test", 1, AF_INET, addr_cb, &g1), 0);
    assert_int_equal(resolver_srv(fx->r, "drop.test", srv_cb, &g2), 0);
    run_until(fx, &g1.calls, 1);
    assert_null(fx->r);
    assert_int_equal(g1.status, RESOLVER_OK);
    assert_int_equal(g1.retry_rc, -1);
    assert_int_equal(g2.calls, 1);
    assert_int_equal(g2.status, RESOLVER_CANCELLED);
}

/* resolver_free from inside a callback run before the request returned (a
 * cache hit): the request still returns 0 and the resolver is gone. */
static void test_free_inside_sync_callback(void **state)
{
    struct fixture *fx = *state;
    struct got g1 = {0}, g2 = {0}, g3 = {0};
    assert_int_equal(resolver_srv(fx->r, "_sip._tcp.ok.test", srv_cb, &g1), 0);
    run_until(fx, &g1.calls, 1);
    assert_int_equal(resolver_srv(fx->r, "drop.test", srv_cb, &g3), 0);
    g2.free_me = &fx->r;
    assert_int_equal(resolver_srv(fx->r, "_sip._tcp.ok.test", srv_cb, &g2), 0);
    assert_int_equal(g2.calls, 1);
    assert_int_equal(g2.status, RESOLVER_OK);
    assert_null(fx->r);
    assert_int_equal(g3.calls, 1);
    assert_int_equal(g3.status, RESOLVER_CANCELLED);
}

/* Negative answers are kept no longer than negative_ttl_max. */
static void test_negative_ttl_cap(void **state)
{
    struct fixture *fx = *state;
    resolver_free(fx->r);
    fx->r = fixture_resolver(fx, 1);
    struct got g = {0};
    assert_int_equal(resolver_srv(fx->r, "nx.test", srv_cb, &g), 0);
    run_until(fx, &g.calls, 1);
    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_srv(fx->r, "nx.test", srv_cb, &g), 0);
    assert_int_equal(g.calls, 1); /* cached ... */
    usleep(1100 * 1000);
    memset(&g, 0, sizeof(g));
    assert_int_equal(resolver_srv(fx->r, "nx.test", srv_cb, &g), 0);
    assert_int_equal(g.calls, 0); /* ... for one second only */
    run_until(fx, &g.calls, 1);
    assert_int_equal(g.status, RESOLVER_NXDOMAIN);
    assert_int_equal(fx->dns.per_name_count[3], 2);
}

/* Bad server lists are refused with a reason. */
static void test_new_refuses_bad_servers(void **state)
{
    struct fixture *fx = *state;
    char err[256] = "";
    struct resolver_opts o = {.servers = "not an address"};
    assert_null(resolver_new(fx->base, &o, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    assert_null(resolver_new(NULL, NULL, err, sizeof(err)));
    resolver_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_expiry),
        cmocka_unit_test(test_cache_keys_and_replace),
        cmocka_unit_test(test_cache_lru_bound),
        cmocka_unit_test(test_parse_srv),
        cmocka_unit_test(test_parse_cname_chain),
        cmocka_unit_test(test_parse_negative_and_ttls),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test_setup_teardown(test_coalesce_and_cache_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_caching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addr_families, setup, teardown),
        cmocka_unit_test_setup_teardown(test_literals_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inside_sync_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_ttl_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_refuses_bad_servers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
