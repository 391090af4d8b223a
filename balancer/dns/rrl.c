/* rrl.c -- per-prefix token buckets for UDP answers (see rrl.h). */
#include "dns/rrl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RRL_SLOTS 65536 /* power of two */

struct bucket {
    uint64_t key;     /* the prefix (0: empty; a real key has bit 63 or 62 set) */
    uint64_t last_ms; /* last refill */
    uint64_t tokens;  /* thousandths of an answer */
    uint32_t over;    /* limited answers in this episode */
};

struct rrl {
    unsigned rate, slip, v4, v6;
    struct rrl_stats stats;
    struct bucket slots[RRL_SLOTS];
};

struct rrl *rrl_new(unsigned rate, unsigned slip, unsigned v4_prefix, unsigned v6_prefix)
{
    struct rrl *r = calloc(1, sizeof(*r));
    if (r)
        rrl_configure(r, rate, slip, v4_prefix, v6_prefix);
    return r;
}

void rrl_free(struct rrl *r)
{
    free(r);
}

void rrl_configure(struct rrl *r, unsigned rate, unsigned slip, unsigned v4_prefix,
                   unsigned v6_prefix)
{
    r->rate = rate ? rate : 1;
    r->slip = slip;
    r->v4 = v4_prefix > 32 ? 32 : v4_prefix;
    r->v6 = v6_prefix > 64 ? 64 : v6_prefix; /* beyond /64 one host has the whole /64 anyway */
}

static uint64_t prefix_key(const struct rrl *r, const struct sockaddr *src)
{
    if (src->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)src)->sin_addr.s_addr);
        uint32_t m = r->v4 ? 0xFFFFFFFFu << (32 - r->v4) : 0;
        return (1ull << 63) | (a & m);
    }
    const uint8_t *b = ((const struct sockaddr_in6 *)src)->sin6_addr.s6_addr;
    uint64_t hi = 0;
    for (int i = 0; i < 8; i++)
        hi = hi << 8 | b[i];
    uint64_t m = r->v6 >= 64 ? ~0ull : r->v6 ? ~0ull << (64 - r->v6) : 0;
    return (1ull << 62) | ((hi & m) >> 2); /* the top two bits mark the family */
}

enum rrl_verdict rrl_check(struct rrl *r, const struct sockaddr *src, uint64_t now_ms,
                           bool *started)
{
    *started = false;
    uint64_t key = prefix_key(r, src);
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    struct bucket *b = &r->slots[(h >> 40) & (RRL_SLOTS - 1)];
    uint64_t cap = (uint64_t)r->rate * 1000;
    if (b->key != key) {
        b->key = key;
        b->last_ms = now_ms;
        b->tokens = cap;
        b->over = 0;
    } else if (now_ms > b->last_ms) {
        uint64_t add = (now_ms - b->last_ms) * r->rate; /* rate per s = rate/1000 per ms, x1000 */
        b->tokens = b->tokens + add > cap ? cap : b->tokens + add;
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1000) {
        b->tokens -= 1000;
        if (b->over && b->tokens >= cap / 2)
            b->over = 0; /* back within its rate: a new episode will be logged */
        r->stats.passed++;
        return RRL_PASS;
    }
    *started = b->over == 0;
    b->over++;
    if (r->slip && b->over % r->slip == 0) {
        r->stats.slipped++;
        return RRL_SLIP;
    }
    r->stats.dropped++;
    return RRL_DROP;
}

void rrl_prefix_text(const struct rrl *r, const struct sockaddr *src, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (src->sa_family == AF_INET) {
        struct in_addr a = ((const struct sockaddr_in *)src)->sin_addr;
        uint32_t m = r->v4 ? 0xFFFFFFFFu << (32 - r->v4) : 0;
        a.s_addr = htonl(ntohl(a.s_addr) & m);
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        snprintf(out, len, "%s/%u", ip, r->v4);
    } else {
        struct in6_addr a = ((const struct sockaddr_in6 *)src)->sin6_addr;
        for (unsigned i = 0; i < 16; i++) {
            unsigned bits = i * 8;
            if (bits >= r->v6)
                a.s6_addr[i] = 0;
            else if (bits + 8 > r->v6)
                a.s6_addr[i] &= (uint8_t)(0xFF << (8 - (r->v6 - bits)));
        }
        inet_ntop(AF_INET6, &a, ip, sizeof(ip));
        snprintf(out, len, "%s/%u", ip, r->v6);
    }
}

void rrl_get_stats(const struct rrl *r, struct rrl_stats *out)
{
    *out = r->stats;
}
