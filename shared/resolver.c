/* resolver.c -- c-ares on the libevent loop: SRV and A/AAAA lookups with a
 * TTL cache, negative caching and coalescing of identical lookups in flight.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); each gets a
 * persistent libevent event, and one timer follows ares_timeout(). Answers
 * arrive raw (ares_query) and are read here, for the TTLs c-ares 1.18's
 * parsers do not give. Callbacks may free the resolver: entry points count
 * their depth and the real teardown waits until the outermost one unwinds. */
#include "resolver.h"

#include "log.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMP "resolver"
#define PENDING_BUCKETS 256
#define TTL_MAX 86400 /* one day: no answer is trusted for longer */

/* One socket c-ares asked us to watch. */
struct sock_watch {
    struct sock_watch *next;
    struct resolver *r;
    ares_socket_t fd;
    struct event *ev;
};

struct addr_req;

/* Someone waiting for a lookup: an SRV request, or one half of an address
 * request (part 0 = A, 1 = AAAA). */
struct waiter {
    struct waiter *next;
    resolver_srv_cb srv_cb;
    void *arg;
    struct addr_req *areq;
    int part;
};

/* One (type, name) query in flight, shared by every waiter for it. */
struct lookup {
    struct lookup *hnext;
    struct resolver *r;
    uint16_t type;
    unsigned bucket;
    struct waiter *waiters, **wtail;
    char name[256];
};

/* What a lookup ended with, handed to each waiter. */
struct result {
    int status;
    uint32_t ttl; /* seconds, as delivered in srv_target.ttl */
    size_t n;
    const void *items; /* srv_target[] or raw 4/16-byte addresses */
};

/* An address request: one or two parts, answered when the last completes.
 * holds counts the parts outstanding plus one while the request is set up,
 * so a part finishing early cannot answer before the other is started. */
struct addr_req {
    struct resolver *r;
    resolver_addr_cb cb;
    void *arg;
    uint16_t port;
    int holds;
    struct {
        bool wanted;
        int status;
        size_t n;
        unsigned char *addrs; /* n * 4 or n * 16 bytes */
    } part[2];
};

struct resolver {
    struct event_base *base;
    ares_channel channel;
    bool channel_ok;
    struct event *timer;
    struct sock_watch *socks;
    struct dns_cache *cache;
    struct lookup *pending[PENDING_BUCKETS];
    struct resolver_stats stats;
    unsigned negative_ttl_max, min_ttl;
    uint64_t rng;
    int depth;  /* entry points on the stack */
    bool dying; /* resolver_free was called */
};

static void resolver_destroy(struct resolver *r);

const char *resolver_status_name(int status)
{
    switch (status) {
    case RESOLVER_OK:
        return "OK";
    case RESOLVER_NXDOMAIN:
        return "NXDOMAIN";
    case RESOLVER_NODATA:
        return "NODATA";
    case RESOLVER_SERVFAIL:
        return "SERVFAIL";
    case RESOLVER_TIMEOUT:
        return "TIMEOUT";
    case RESOLVER_ERROR:
        return "ERROR";
    case RESOLVER_CANCELLED:
        return "CANCELLED";
    }
    return "?";
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* xorshift64*: fast, and plenty for spreading load over SRV weights. */
static uint32_t resolver_rnd(void *arg)
{
    struct resolver *r = arg;
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (uint32_t)((r->rng * 2685821657736338717ull) >> 32);
}

static void rng_seed(struct resolver *r)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)r;
    r->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

/* ---- Reading answers ---------------------------------------------------- */

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Expands the name at p into out (no trailing dot; "" for the root); sets
 * *enclen to its encoded length at p. -1 if malformed or longer than outlen. */
static int read_name(const unsigned char *p, const unsigned char *buf, size_t len, char *out,
                     size_t outlen, size_t *enclen)
{
    char *s = NULL;
    long el = 0;
    if (ares_expand_name(p, buf, (int)len, &s, &el) != ARES_SUCCESS)
        return -1;
    size_t sl = strlen(s);
    int rc = -1;
    if (sl < outlen && el > 0) {
        memcpy(out, s, sl + 1);
        *enclen = (size_t)el;
        rc = 0;
    }
    ares_free_string(s);
    return rc;
}

struct rr {
    char owner[1024];
    uint16_t type, class;
    uint32_t ttl;
    const unsigned char *rdata;
    uint16_t rdlen;
};

/* Reads the resource record at *off; advances *off past it. */
static int read_rr(const unsigned char *buf, size_t len, size_t *off, struct rr *rr)
{
    size_t el;
    if (*off >= len || read_name(buf + *off, buf, len, rr->owner, sizeof(rr->owner), &el) < 0)
        return -1;
    size_t p = *off + el;
    if (p + 10 > len)
        return -1;
    rr->type = rd16(buf + p);
    rr->class = rd16(buf + p + 2);
    rr->ttl = rd32(buf + p + 4);
    if (rr->ttl > INT32_MAX) /* RFC 2181 section 8 */
        rr->ttl = 0;
    rr->rdlen = rd16(buf + p + 8);
    if (p + 10 + rr->rdlen > len)
        return -1;
    rr->rdata = buf + p + 10;
    *off = p + 10 + rr->rdlen;
    return 0;
}

void dns_answer_clear(struct dns_answer *a)
{
    free(a->items);
    memset(a, 0, sizeof(*a));
}

#define CHAIN_MAX 8 /* CNAME hops followed */

int dns_answer_parse(const unsigned char *buf, size_t len, const char *qname, uint16_t qtype,
                     struct dns_answer *out)
{
    memset(out, 0, sizeof(*out));
    if (!buf || len < 12)
        return -1;
    size_t elem = qtype == DNS_TYPE_SRV    ? sizeof(struct srv_target)
                  : qtype == DNS_TYPE_AAAA ? 16
                  : qtype == DNS_TYPE_A    ? 4
                                           : 0;
    if (!elem)
        return -1;
    out->rcode = buf[3] & 0x0f;
    unsigned qd = rd16(buf + 4), an = rd16(buf + 6), ns = rd16(buf + 8);
    size_t off = 12;
    for (unsigned i = 0; i < qd; i++) {
        char tmp[1024];
        size_t el;
        if (read_name(buf + off, buf, len, tmp, sizeof(tmp), &el) < 0 || off + el + 4 > len)
            return -1;
        off += el + 4;
    }

    /* Pass 1: follow the CNAME chain from qname through the answer section. */
    char chain[CHAIN_MAX + 1][256];
    size_t nchain = 1;
    uint32_t ttl = UINT32_MAX;
    snprintf(chain[0], sizeof(chain[0]), "%s", qname);
    size_t an_off = off;
    for (bool grew = true; grew && nchain <= CHAIN_MAX;) {
        grew = false;
        off = an_off;
        for (unsigned i = 0; i < an; i++) {
            struct rr rr;
            if (read_rr(buf, len, &off, &rr) < 0)
                return -1;
            if (rr.type != DNS_TYPE_CNAME || rr.class != 1 ||
                strcasecmp(rr.owner, chain[nchain - 1]) != 0)
                continue;
            char target[256];
            size_t el;
            if (read_name(rr.rdata, buf, (size_t)(rr.rdata - buf) + rr.rdlen, target,
                          sizeof(target), &el) < 0)
                break; /* an unusable target ends the chain */
            bool loop = false;
            for (size_t k = 0; k < nchain; k++)
                loop |= strcasecmp(chain[k], target) == 0;
            if (loop || nchain > CHAIN_MAX)
                break;
            memcpy(chain[nchain++], target, sizeof(target));
            ttl = rr.ttl < ttl ? rr.ttl : ttl;
            grew = true;
            break;
        }
    }

    /* Pass 2: the records of qtype owned by a name of the chain. */
    off = an_off;
    size_t cap = an < len / 11 ? an : len / 11; /* an RR takes 11 bytes or more */
    if (cap == 0)
        cap = 1;
    out->items = calloc(cap, elem);
    if (!out->items)
        return -1;
    uint32_t rrttl = UINT32_MAX;
    for (unsigned i = 0; i < an; i++) {
        struct rr rr;
        if (read_rr(buf, len, &off, &rr) < 0)
            goto bad;
        if (rr.type != qtype || rr.class != 1)
            continue;
        bool owned = false;
        for (size_t k = 0; k < nchain && !owned; k++)
            owned = strcasecmp(rr.owner, chain[k]) == 0;
        if (!owned || out->n >= cap)
            continue;
        if (qtype == DNS_TYPE_SRV) {
            struct srv_target *t = (struct srv_target *)out->items + out->n;
            size_t el;
            if (rr.rdlen < 7)
                continue;
            /* The target must lie within the RDATA (compression may point
             * back into the message, which read_name bounds by rdata end). */
            if (read_name(rr.rdata + 6, buf, (size_t)(rr.rdata - buf) + rr.rdlen, t->host,
                          sizeof(t->host), &el) < 0 ||
                el != (size_t)rr.rdlen - 6 || strchr(t->host, '\\')) {
                memset(t, 0, sizeof(*t));
                continue; /* not a usable host name */
            }
            if (t->host[0] == '\0')
                strcpy(t->host, ".");
            t->priority = rd16(rr.rdata);
            t->weight = rd16(rr.rdata + 2);
            t->port = rd16(rr.rdata + 4);
            t->ttl = rr.ttl;
        } else {
            if (rr.rdlen != elem)
                continue;
            memcpy((unsigned char *)out->items + out->n * elem, rr.rdata, elem);
        }
        out->n++;
        rrttl = rr.ttl < rrttl ? rr.ttl : rrttl;
    }
    out->ttl = out->n ? (rrttl < ttl ? rrttl : ttl) : 0;

    /* The authority section's SOA gives the negative TTL. */
    for (unsigned i = 0; i < ns; i++) {
        struct rr rr;
        if (read_rr(buf, len, &off, &rr) < 0)
            goto bad;
        if (rr.type != DNS_TYPE_SOA || rr.class != 1 || out->has_soa)
            continue;
        size_t el1, el2;
        char tmp[1024];
        const unsigned char *end = rr.rdata + rr.rdlen;
        if (read_name(rr.rdata, buf, (size_t)(end - buf), tmp, sizeof(tmp), &el1) < 0 ||
            read_name(rr.rdata + el1, buf, (size_t)(end - buf), tmp, sizeof(tmp), &el2) < 0 ||
            el1 + el2 + 20 != rr.rdlen)
            continue;
        uint32_t minimum = rd32(rr.rdata + el1 + el2 + 16);
        out->has_soa = 1;
        out->soa_ttl = minimum < rr.ttl ? minimum : rr.ttl;
    }
    return 0;
bad:
    dns_answer_clear(out);
    return -1;
}

/* ---- The event-loop adapter -------------------------------------------- */

static void arm_timer(struct resolver *r)
{
    struct timeval tv, *tvp;
    if (r->dying)
        return;
    tvp = ares_timeout(r->channel, NULL, &tv);
    if (tvp)
        evtimer_add(r->timer, tvp);
    else
        evtimer_del(r->timer);
}

/* Leaves an entry point; true if that finished a deferred resolver_free
 * (r is gone then). */
static bool resolver_leave(struct resolver *r)
{
    if (--r->depth == 0 && r->dying) {
        resolver_destroy(r);
        return true;
    }
    return false;
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct resolver *r = ((struct sock_watch *)arg)->r; /* the watch may go below */
    r->depth++;
    ares_process_fd(r->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    if (!resolver_leave(r))
        arm_timer(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct resolver *r = arg;
    r->depth++;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    if (!resolver_leave(r))
        arm_timer(r);
}

/* c-ares: start, change or stop watching fd. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = data;
    struct sock_watch **pp = &r->socks;
    while (*pp && (*pp)->fd != fd)
        pp = &(*pp)->next;
    struct sock_watch *w = *pp;

    if (!readable && !writable) {
        if (w) {
            *pp = w->next;
            event_free(w->ev);
            free(w);
        }
        return;
    }
    short what = (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w || !(w->ev = event_new(r->base, fd, what, on_sock, w))) {
            free(w);
            LOG_ERROR(LOG_COMP, "cannot watch DNS socket %d: out of memory", (int)fd);
            return; /* the query times out through the timer */
        }
        w->r = r;
        w->fd = fd;
        w->next = r->socks;
        r->socks = w;
    } else {
        event_del(w->ev);
        event_assign(w->ev, r->base, fd, what, on_sock, w);
    }
    if (event_add(w->ev, NULL) < 0)
        LOG_ERROR(LOG_COMP, "cannot watch DNS socket %d", (int)fd);
}

/* ---- Results to waiters -------------------------------------------------- */

static void addr_req_release(struct addr_req *a);

static void deliver_srv(struct resolver *r, resolver_srv_cb cb, void *arg, const struct result *res)
{
    if (res->status != RESOLVER_OK) {
        cb(arg, res->status, NULL, 0);
        return;
    }
    struct srv_target *t = malloc(res->n * sizeof(*t));
    if (!t) {
        cb(arg, RESOLVER_ERROR, NULL, 0);
        return;
    }
    memcpy(t, res->items, res->n * sizeof(*t));
    for (size_t i = 0; i < res->n; i++)
        t[i].ttl = res->ttl;
    srv_order(t, res->n, resolver_rnd, r);
    cb(arg, RESOLVER_OK, t, res->n);
    free(t);
}

/* Keeps res as a's answer for part (A: 0, AAAA: 1). */
static void store_part(struct addr_req *a, int part, const struct result *res)
{
    size_t elem = part ? 16 : 4;
    a->part[part].status = res->status;
    if (res->status == RESOLVER_OK) {
        a->part[part].addrs = malloc(res->n * elem);
        if (a->part[part].addrs) {
            memcpy(a->part[part].addrs, res->items, res->n * elem);
            a->part[part].n = res->n;
        } else {
            a->part[part].status = RESOLVER_ERROR;
        }
    }
}

/* A lookup's answer for part, and the lookup's hold on a released. */
static void deliver_part(struct addr_req *a, int part, const struct result *res)
{
    store_part(a, part, res);
    addr_req_release(a);
}

static void deliver(struct resolver *r, struct waiter *w, const struct result *res)
{
    if (w->areq)
        deliver_part(w->areq, w->part, res);
    else
        deliver_srv(r, w->srv_cb, w->arg, res);
}

/* The status of an address request from its parts': any addresses win;
 * then NXDOMAIN; NODATA only if every part said NODATA; else the failure. */
static int addr_status(const struct addr_req *a)
{
    int st[2], k = 0;
    for (int i = 0; i < 2; i++) {
        if (!a->part[i].wanted)
            continue;
        if (a->part[i].status == RESOLVER_OK)
            return RESOLVER_OK;
        st[k++] = a->part[i].status;
    }
    for (int i = 0; i < k; i++)
        if (st[i] == RESOLVER_CANCELLED)
            return RESOLVER_CANCELLED;
    for (int i = 0; i < k; i++)
        if (st[i] == RESOLVER_NXDOMAIN)
            return RESOLVER_NXDOMAIN;
    for (int i = 0; i < k; i++)
        if (st[i] != RESOLVER_NODATA)
            return st[i];
    return RESOLVER_NODATA;
}

static void addr_req_release(struct addr_req *a)
{
    if (--a->holds > 0)
        return;
    int status = addr_status(a);
    size_t n = 0;
    struct sockaddr_storage *ss = NULL;
    if (status == RESOLVER_OK) {
        size_t total = a->part[0].n + a->part[1].n;
        ss = calloc(total, sizeof(*ss));
        if (!ss)
            status = RESOLVER_ERROR;
        for (size_t i = 0; ss && i < a->part[0].n; i++) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss[n++];
            sin->sin_family = AF_INET;
            sin->sin_port = htons(a->port);
            memcpy(&sin->sin_addr, a->part[0].addrs + i * 4, 4);
        }
        for (size_t i = 0; ss && i < a->part[1].n; i++) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss[n++];
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(a->port);
            memcpy(&sin6->sin6_addr, a->part[1].addrs + i * 16, 16);
        }
    }
    a->cb(a->arg, status, status == RESOLVER_OK ? ss : NULL, status == RESOLVER_OK ? n : 0);
    free(ss);
    free(a->part[0].addrs);
    free(a->part[1].addrs);
    free(a);
}

/* ---- Lookups ------------------------------------------------------------- */

static unsigned pending_bucket(uint16_t type, const char *name)
{
    uint32_t h = 2166136261u ^ type;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % PENDING_BUCKETS;
}

static struct lookup *pending_find(struct resolver *r, uint16_t type, const char *name)
{
    struct lookup *lk = r->pending[pending_bucket(type, name)];
    while (lk && (lk->type != type || strcmp(lk->name, name) != 0))
        lk = lk->hnext;
    return lk;
}

static void pending_remove(struct resolver *r, struct lookup *lk)
{
    struct lookup **pp = &r->pending[lk->bucket];
    while (*pp && *pp != lk)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = lk->hnext;
}

static int status_from_ares(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return RESOLVER_OK;
    case ARES_ENOTFOUND:
        return RESOLVER_NXDOMAIN;
    case ARES_ENODATA:
        return RESOLVER_NODATA;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ENOTIMP:
    case ARES_EFORMERR:
        return RESOLVER_SERVFAIL;
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
        return RESOLVER_TIMEOUT;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
        return RESOLVER_CANCELLED;
    }
    return RESOLVER_ERROR;
}

static int cmp_priority(const void *a, const void *b)
{
    const struct srv_target *x = a, *y = b;
    return (x->priority > y->priority) - (x->priority < y->priority);
}

static uint32_t clamp_ttl(uint32_t ttl, uint32_t lo, uint32_t hi)
{
    if (ttl > hi)
        ttl = hi;
    return ttl < lo ? lo : ttl;
}

/* Turns what c-ares gave for lk into a result and its cache TTL. */
static void lookup_result(struct resolver *r, struct lookup *lk, int ares_status,
                          const unsigned char *abuf, int alen, struct dns_answer *ans,
                          struct result *res, uint32_t *cache_ttl)
{
    res->status = status_from_ares(ares_status);
    *cache_ttl = 0;
    bool readable = (ares_status == ARES_SUCCESS || ares_status == ARES_ENODATA ||
                     ares_status == ARES_ENOTFOUND) &&
                    abuf && alen > 0;
    if (!readable) {
        if (res->status == RESOLVER_OK) /* c-ares says success but gave nothing */
            res->status = RESOLVER_ERROR;
        return;
    }
    if (dns_answer_parse(abuf, (size_t)alen, lk->name, lk->type, ans) < 0) {
        LOG_WARN(LOG_COMP, "malformed answer for %s (type %u)", lk->name, lk->type);
        res->status = RESOLVER_ERROR;
        return;
    }
    if (res->status == RESOLVER_OK && lk->type == DNS_TYPE_SRV) {
        /* "." means decidedly not available: drop it; keep the set bounded. */
        struct srv_target *t = ans->items;
        size_t k = 0;
        for (size_t i = 0; i < ans->n; i++)
            if (strcmp(t[i].host, ".") != 0)
                t[k++] = t[i];
        if (k == 0 && ans->n > 0) {
            res->status = RESOLVER_NODATA;
            *cache_ttl = clamp_ttl(ans->ttl, 0, r->negative_ttl_max);
            res->ttl = *cache_ttl;
            ans->n = 0;
            return;
        }
        if (k > RESOLVER_SRV_MAX) {
            LOG_WARN(LOG_COMP, "%s: %zu SRV records, keeping the %d of lowest priority", lk->name,
                     k, RESOLVER_SRV_MAX);
            qsort(t, k, sizeof(*t), cmp_priority);
            k = RESOLVER_SRV_MAX;
        }
        ans->n = k;
    }
    if (res->status == RESOLVER_OK && ans->n == 0)
        res->status = RESOLVER_NODATA; /* e.g. only a CNAME to a name without the type */
    if (res->status == RESOLVER_OK) {
        *cache_ttl = clamp_ttl(ans->ttl, r->min_ttl, TTL_MAX);
        res->ttl = *cache_ttl;
        res->n = ans->n;
        res->items = ans->items;
    } else if (ans->has_soa) {
        *cache_ttl = clamp_ttl(ans->soa_ttl, 0, r->negative_ttl_max);
        res->ttl = *cache_ttl;
    }
}

/* c-ares's callback for every query we send. */
static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct lookup *lk = arg;
    struct resolver *r = lk->r;
    struct dns_answer ans = {0};
    struct result res = {0};
    uint32_t cache_ttl;

    r->depth++; /* c-ares only calls us from our own entry points: no teardown here */
    lookup_result(r, lk, status, abuf, alen, &ans, &res, &cache_ttl);
    if (res.status == RESOLVER_OK || res.status == RESOLVER_NXDOMAIN ||
        res.status == RESOLVER_NODATA) {
        size_t elem = lk->type == DNS_TYPE_SRV ? sizeof(struct srv_target)
                      : lk->type == DNS_TYPE_A ? 4
                                               : 16;
        if (dns_cache_put(r->cache, lk->type, lk->name, res.status, res.items, res.n, elem,
                          cache_ttl, now_ms()) < 0)
            LOG_WARN(LOG_COMP, "cannot cache %s: out of memory", lk->name);
    } else if (res.status != RESOLVER_CANCELLED) {
        r->stats.failures++;
        LOG_DEBUG(LOG_COMP, "%s (type %u): %s after %d timeouts (%s)", lk->name, lk->type,
                  resolver_status_name(res.status), timeouts, ares_strerror(status));
    }

    pending_remove(r, lk); /* new requests from the callbacks start afresh */
    struct waiter *w = lk->waiters;
    while (w) {
        struct waiter *next = w->next;
        deliver(r, w, &res);
        free(w);
        w = next;
    }
    free(lk);
    dns_answer_clear(&ans);
    r->depth--;
}

/* Attaches w to the lookup of (type, name), starting one if none is in
 * flight. 0, or -1 if out of memory (w is then not attached). c-ares may
 * answer (and w's owner be told) before this returns. */
static int lookup_join(struct resolver *r, uint16_t type, const char *name, struct waiter *w)
{
    struct lookup *lk = pending_find(r, type, name);
    if (lk) {
        *lk->wtail = w;
        lk->wtail = &w->next;
        r->stats.coalesced++;
        return 0;
    }
    lk = calloc(1, sizeof(*lk));
    if (!lk)
        return -1;
    lk->r = r;
    lk->type = type;
    snprintf(lk->name, sizeof(lk->name), "%s", name);
    lk->bucket = pending_bucket(type, name);
    lk->waiters = w;
    lk->wtail = &w->next;
    lk->hnext = r->pending[lk->bucket];
    r->pending[lk->bucket] = lk;
    r->stats.queries++;
    ares_query(r->channel, lk->name, 1 /* IN */, type, on_answer, lk);
    return 0;
}

/* Copies name into out (256 bytes) lower-cased, without a trailing dot,
 * checking it is a host or service name: 1 to 253 characters in labels of 1
 * to 63 letters, digits, '-' or '_'. -1 if not. */
static int normalize_name(const char *name, char *out)
{
    if (!name)
        return -1;
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return -1;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            label++;
        } else if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
            label++;
        } else {
            return -1;
        }
        if (label > 63)
            return -1;
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
}

/* Answers from the cache if it can: true if it did (and res is filled, its
 * items valid until the next cache call). */
static bool cache_answer(struct resolver *r, uint16_t type, const char *name, struct result *res)
{
    struct dns_cache_view v;
    r->stats.requests++;
    if (!dns_cache_get(r->cache, type, name, now_ms(), &v))
        return false;
    if (v.status == RESOLVER_OK)
        r->stats.cache_hits++;
    else
        r->stats.negative_hits++;
    res->status = v.status;
    res->ttl = v.ttl_left;
    res->n = v.status == RESOLVER_OK ? v.n : 0;
    res->items = v.items;
    return true;
}

int resolver_srv(struct resolver *r, const char *name, resolver_srv_cb cb, void *arg)
{
    char key[256];
    struct result res;
    if (!r || !cb || r->dying || normalize_name(name, key) < 0)
        return -1;
    r->depth++;
    int rc = 0;
    if (cache_answer(r, DNS_TYPE_SRV, key, &res)) {
        deliver_srv(r, cb, arg, &res);
    } else {
        struct waiter *w = calloc(1, sizeof(*w));
        if (w) {
            w->srv_cb = cb;
            w->arg = arg;
        }
        if (!w || lookup_join(r, DNS_TYPE_SRV, key, w) < 0) {
            free(w);
            rc = -1;
        }
    }
    if (!resolver_leave(r))
        arm_timer(r);
    return rc;
}

/* Parses an IP literal (IPv6 possibly in brackets) into ss; -1 if host is not one. */
static int parse_literal(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(host);
    memset(ss, 0, sizeof(*ss));
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';
    } else if (len < sizeof(buf)) {
        memcpy(buf, host, len + 1);
    } else {
        return -1;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (host[0] != '[' && inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        return 0;
    }
    return -1;
}

int resolver_addr(struct resolver *r, const char *host, uint16_t port, int family,
                  resolver_addr_cb cb, void *arg)
{
    char key[256];
    struct sockaddr_storage lit;
    if (!r || !cb || !host || r->dying ||
        (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC))
        return -1;

    if (parse_literal(host, port, &lit) == 0) {
        r->depth++;
        if (family == AF_UNSPEC || family == lit.ss_family)
            cb(arg, RESOLVER_OK, &lit, 1);
        else
            cb(arg, RESOLVER_NODATA, NULL, 0);
        if (!resolver_leave(r))
            arm_timer(r);
        return 0;
    }
    if (normalize_name(host, key) < 0)
        return -1;

    struct addr_req *a = calloc(1, sizeof(*a));
    if (!a)
        return -1;
    a->r = r;
    a->cb = cb;
    a->arg = arg;
    a->port = port;
    a->holds = 1;
    a->part[0].wanted = family != AF_INET6;
    a->part[1].wanted = family != AF_INET;

    /* Answers known now are stored under the setup hold; a lookup takes a
     * hold of its own, before joining, as c-ares may answer within. */
    r->depth++;
    for (int i = 0; i < 2; i++) {
        if (!a->part[i].wanted)
            continue;
        uint16_t type = i ? DNS_TYPE_AAAA : DNS_TYPE_A;
        struct result res;
        if (cache_answer(r, type, key, &res)) {
            store_part(a, i, &res);
            continue;
        }
        struct waiter *w = calloc(1, sizeof(*w));
        if (w) {
            w->areq = a;
            w->part = i;
        }
        a->holds++;
        if (!w || lookup_join(r, type, key, w) < 0) {
            a->holds--; /* not joined: nothing will deliver to w */
            free(w);
            struct result err = {.status = RESOLVER_ERROR};
            store_part(a, i, &err);
        }
    }
    addr_req_release(a); /* the setup hold: may answer now */
    if (!resolver_leave(r))
        arm_timer(r);
    return 0;
}

/* ---- Life cycle ---------------------------------------------------------- */

struct resolver *resolver_new(struct event_base *base, const struct resolver_opts *opts, char *err,
                              size_t errlen)
{
    static const struct resolver_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    if (!base) {
        snprintf(err, errlen, "no event base");
        return NULL;
    }
    struct resolver *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->base = base;
    r->negative_ttl_max = opts->negative_ttl_max ? opts->negative_ttl_max : 60;
    r->min_ttl = opts->min_ttl;
    rng_seed(r);
    r->cache = dns_cache_new(opts->cache_max ? opts->cache_max : 4096);
    r->timer = evtimer_new(base, on_timer, r);
    if (!r->cache || !r->timer) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    int st = ares_library_init(ARES_LIB_INIT_ALL);
    if (st != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(st));
        goto fail;
    }
    struct ares_options ao;
    memset(&ao, 0, sizeof(ao));
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
    ao.ednspsz = 1232; /* the DNS flag day 2020 size: no IP fragmentation */
    ao.timeout = opts->timeout_ms > 0 ? opts->timeout_ms : 2000;
    ao.tries = opts->tries > 0 ? opts->tries : 2;
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = r;
    int mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
               ARES_OPT_SOCK_STATE_CB;
    st = ares_init_options(&r->channel, &ao, mask);
    if (st != ARES_SUCCESS) {
        ares_library_cleanup();
        snprintf(err, errlen, "c-ares: %s", ares_strerror(st));
        goto fail;
    }
    r->channel_ok = true;
    if (opts->servers && opts->servers[0]) {
        st = ares_set_servers_ports_csv(r->channel, opts->servers);
        if (st != ARES_SUCCESS) {
            snprintf(err, errlen, "bad DNS server list \"%s\": %s", opts->servers,
                     ares_strerror(st));
            goto fail;
        }
    }
    return r;
fail:
    r->depth = 1;
    resolver_destroy(r);
    return NULL;
}

/* The real teardown: pending lookups are ended by c-ares with
 * ARES_EDESTRUCTION, i.e. their waiters hear RESOLVER_CANCELLED. */
static void resolver_destroy(struct resolver *r)
{
    r->dying = true;
    r->depth++; /* nothing below may start another teardown */
    if (r->channel_ok) {
        ares_destroy(r->channel);
        ares_library_cleanup();
    }
    while (r->socks) { /* c-ares closes its sockets in ares_destroy: normally none left */
        struct sock_watch *w = r->socks;
        r->socks = w->next;
        event_free(w->ev);
        free(w);
    }
    if (r->timer)
        event_free(r->timer);
    dns_cache_free(r->cache);
    free(r);
}

void resolver_free(struct resolver *r)
{
    if (!r || r->dying)
        return;
    r->dying = true;
    if (r->depth == 0)
        resolver_destroy(r);
    /* else the outermost entry point on the stack finishes it (resolver_leave) */
}

void resolver_get_stats(const struct resolver *r, struct resolver_stats *out)
{
    *out = r->stats;
}
