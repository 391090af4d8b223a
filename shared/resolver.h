/* resolver.h -- asynchronous DNS (SRV, A, AAAA) on the process's one libevent loop.
 *
 * c-ares speaks the protocol; its sockets are libevent events and its timeouts
 * one libevent timer, so nothing blocks and no thread is started. Answers are
 * cached by (type, name) for their TTL, negative answers too (RFC 2308), and
 * identical lookups in flight share one query. srv_order() is the RFC 2782
 * ordering, pure, for callers and tests. DNS only: /etc/hosts is not read. */
#ifndef EP_RESOLVER_H
#define EP_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

/* Every field may be left 0 / NULL for its default. */
struct resolver_opts {
    const char *servers;       /* "127.0.0.1:5300,127.0.0.2,[::1]:53" (c-ares CSV syntax, port
                                  defaults to 53); NULL or "" = the servers of /etc/resolv.conf */
    int timeout_ms;            /* first try's timeout, default 2000 (c-ares doubles it on
                                  later rounds through the server list) */
    int tries;                 /* rounds through the server list, default 2 */
    unsigned cache_max;        /* cached (type, name) answers, default 4096; LRU beyond */
    unsigned negative_ttl_max; /* cap in seconds on NXDOMAIN/NODATA caching, default 60; the
                                  TTL itself is min(SOA TTL, SOA MINIMUM), RFC 2308 */
    unsigned min_ttl;          /* floor in seconds for positive TTLs, default 0 */
};

/* What a callback's status means. OK always comes with n >= 1 results.
 * NXDOMAIN and NODATA are authoritative (and cached); SERVFAIL, TIMEOUT and
 * ERROR are transient (never cached): try again later. */
enum resolver_status {
    RESOLVER_OK = 0,
    RESOLVER_NXDOMAIN = -1,  /* the name does not exist */
    RESOLVER_NODATA = -2,    /* the name exists, no record of that type (or SRV target ".") */
    RESOLVER_SERVFAIL = -3,  /* servers answered SERVFAIL, REFUSED, NOTIMP or FORMERR (but
                                c-ares 1.18 skips such a server like a dead one: TIMEOUT) */
    RESOLVER_TIMEOUT = -4,   /* no server gave an answer (silent, refused, unreachable) */
    RESOLVER_ERROR = -5,     /* malformed answer, out of memory, anything else */
    RESOLVER_CANCELLED = -6, /* the resolver is being freed */
};

/* "OK", "NXDOMAIN", ... for logs; "?" for an unknown value. */
const char *resolver_status_name(int status);

/* One SRV record. ttl: seconds this answer may still be used (the RRset's
 * TTL, clamped by the options, minus the time it has spent in the cache). */
struct srv_target {
    char host[256]; /* target, no trailing dot, spelled as the server gave it */
    uint16_t port;
    uint16_t priority;
    uint16_t weight;
    uint32_t ttl;
};

/* The largest SRV set kept per name: beyond it the lowest priorities are
 * kept (srv_order() is quadratic, and no real service needs more). */
#define RESOLVER_SRV_MAX 128

struct resolver;

/* Creates a resolver on base (which must outlive it). opts may be NULL for
 * all defaults; opts->servers is copied. Returns NULL with a reason in err
 * (c-ares initialisation failed, bad server list, no memory). */
struct resolver *resolver_new(struct event_base *base, const struct resolver_opts *opts, char *err,
                              size_t errlen);

/* Frees r. Every callback still pending is called exactly once before the
 * resolver's memory goes: with RESOLVER_CANCELLED (callers free their args
 * there, as in any callback). While this happens new requests return -1.
 * May be called from inside a resolver callback: the teardown then happens
 * when that callback's dispatch unwinds, before control returns to the event
 * loop; the caller must not use r after calling resolver_free either way.
 * NULL is a no-op; a second call on a resolver being freed is a no-op. */
void resolver_free(struct resolver *r);

/* Callback rules, for resolver_srv and resolver_addr alike:
 * - called exactly once for every request that returned 0, never for one
 *   that returned -1;
 * - it may run BEFORE the request function returns (cache hit, IP literal,
 *   immediate failure): set up whatever arg points to first;
 * - the result array is valid only during the callback (copy what you keep);
 *   n is 0 and the array NULL unless status is RESOLVER_OK;
 * - it may start new requests and may call resolver_free(). */

/* SRV lookup of name ("_sipfederationtls._tcp.fabrikam.com", trailing dot
 * optional, case-insensitive). targets come ordered per RFC 2782: ascending
 * priority, and within one priority the weighted random order (a fresh draw
 * on every call, cache hits included, so weights spread load). A "." target
 * ("service decidedly not available") is dropped; if nothing else remains
 * the status is RESOLVER_NODATA. Returns 0, or -1 (invalid name, no memory,
 * resolver being freed) and then cb is not called. */
typedef void (*resolver_srv_cb)(void *arg, int status, const struct srv_target *targets, size_t n);
int resolver_srv(struct resolver *r, const char *name, resolver_srv_cb cb, void *arg);

/* Addresses of host with port filled in (network order inside the
 * sockaddrs). family: AF_INET (A), AF_INET6 (AAAA) or AF_UNSPEC (both, all
 * IPv4 addresses first; OK if either has addresses, otherwise NXDOMAIN if
 * either said so, NODATA if both did, else the transient failure). An IP
 * literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]") is answered at once
 * (RESOLVER_NODATA if it is of the other family). Returns 0, or -1 (invalid
 * host or family, no memory, resolver being freed): cb is then not called. */
typedef void (*resolver_addr_cb)(void *arg, int status, const struct sockaddr_storage *addrs,
                                 size_t n);
int resolver_addr(struct resolver *r, const char *host, uint16_t port, int family,
                  resolver_addr_cb cb, void *arg);

/* RFC 2782 ordering, in place: stable sort by ascending priority, then within
 * each priority repeated weighted selection: the records not yet chosen, the
 * weight-0 ones first, each gets the running sum of weights; a uniform number
 * in [0, sum] picks the first record whose running sum reaches it. So a
 * weight-0 record is picked first only when the draw is 0 (or all left are
 * weight 0, which keep their order). rnd returns 32 uniform random bits;
 * tests pass a deterministic one. O(n^2): meant for SRV sets. */
void srv_order(struct srv_target *t, size_t n, uint32_t (*rnd)(void *), void *rnd_arg);

/* Counters since resolver_new. A request for both families counts as two
 * (type, name) lookups. */
struct resolver_stats {
    uint64_t queries;       /* lookups sent to the servers */
    uint64_t cache_hits;    /* lookups answered from a cached positive answer */
    uint64_t negative_hits; /* lookups answered from a cached NXDOMAIN/NODATA */
    uint64_t failures;      /* sent lookups ending SERVFAIL, TIMEOUT or ERROR */
    uint64_t requests;      /* (type, name) lookups asked for, however answered */
    uint64_t coalesced;     /* lookups that joined an identical one in flight */
};
void resolver_get_stats(const struct resolver *r, struct resolver_stats *out);

/* ---- Internals, shared by resolver.c, dns_cache.c and their unit tests ---- */

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA 6
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_SRV 33

/* A DNS response read for one question. Records are those of qtype owned by
 * qname or by a name qname leads to through CNAMEs in the answer section. */
struct dns_answer {
    int rcode;        /* the header's RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...) */
    size_t n;         /* records found */
    void *items;      /* malloc'd: n struct srv_target (ttl = the RR's TTL, "." target kept
                         as host "."), or n 4-byte (A) / 16-byte (AAAA) addresses */
    uint32_t ttl;     /* minimum TTL of those records and of the CNAMEs leading to them */
    int has_soa;      /* an SOA in the authority section: */
    uint32_t soa_ttl; /* min(its TTL, its MINIMUM): the negative TTL of RFC 2308 */
};

/* Parses buf (a whole DNS message) for qname (no trailing dot, any case)
 * and qtype (A, AAAA or SRV). TTLs with the top bit set read as 0 (RFC 2181).
 * Records that do not fit their type are skipped. Returns 0, or -1 if the
 * message is malformed or memory runs out (out is then empty). The caller
 * frees out with dns_answer_clear(). */
int dns_answer_parse(const unsigned char *buf, size_t len, const char *qname, uint16_t qtype,
                     struct dns_answer *out);
void dns_answer_clear(struct dns_answer *a);

/* The answer cache (dns_cache.c): (type, name) -> status and items, expiring
 * at a TTL, at most max entries, least recently used evicted first. Names
 * compare case-insensitively. Time is the caller's, in milliseconds of a
 * monotonic clock, so tests can drive it. */
struct dns_cache;
struct dns_cache_view {
    int status;        /* RESOLVER_OK, RESOLVER_NXDOMAIN or RESOLVER_NODATA */
    uint32_t ttl_left; /* whole seconds left, rounded up */
    size_t n;
    const void *items; /* n items as stored; valid until the next call on the cache */
};
/* NULL if out of memory. max 0 means 1. */
struct dns_cache *dns_cache_new(unsigned max);
void dns_cache_free(struct dns_cache *c);
/* Stores a copy of n items of elem_size bytes for ttl_s seconds from now_ms,
 * replacing any entry for (type, name). ttl_s 0 stores nothing (and drops an
 * older entry). Returns 0, or -1 if out of memory (the cache is unchanged but
 * for the dropped older entry). */
int dns_cache_put(struct dns_cache *c, uint16_t type, const char *name, int status,
                  const void *items, size_t n, size_t elem_size, uint32_t ttl_s, uint64_t now_ms);
/* 1 with *out filled if (type, name) is cached and fresh (it becomes the most
 * recently used), else 0 (an expired entry is dropped). */
int dns_cache_get(struct dns_cache *c, uint16_t type, const char *name, uint64_t now_ms,
                  struct dns_cache_view *out);
size_t dns_cache_count(const struct dns_cache *c);

#endif
