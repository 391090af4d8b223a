/* dns_cache.c -- what the resolver remembers: answers by (type, name) until
 * their TTL runs out, in a chained hash table with an LRU list bounding its
 * size. Each entry is one allocation (header, name, items). Time comes from
 * the caller, so the tests drive it. */
#include "resolver.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct dns_cache_entry {
    struct dns_cache_entry *hnext;               /* hash chain */
    struct dns_cache_entry *lru_prev, *lru_next; /* prev = more recently used */
    uint64_t expires_ms;
    uint32_t hash;
    uint16_t type;
    int status;
    size_t n;
    void *items; /* inside this allocation, after name */
    char name[];
};

struct dns_cache {
    struct dns_cache_entry **buckets;
    size_t mask;
    size_t count, max;
    struct dns_cache_entry *lru_head, *lru_tail; /* head = most recently used */
};

/* FNV-1a over the lower-cased name and the type. */
static uint32_t cache_hash(uint16_t type, const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 16777619u;
    }
    h = (h ^ (type & 0xff)) * 16777619u;
    h = (h ^ (type >> 8)) * 16777619u;
    return h;
}

struct dns_cache *dns_cache_new(unsigned max)
{
    struct dns_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max = max ? max : 1;
    size_t nb = 16;
    while (nb < c->max && nb < ((size_t)1 << 20))
        nb <<= 1;
    c->buckets = calloc(nb, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->mask = nb - 1;
    return c;
}

void dns_cache_free(struct dns_cache *c)
{
    if (!c)
        return;
    struct dns_cache_entry *e = c->lru_head;
    while (e) {
        struct dns_cache_entry *next = e->lru_next;
        free(e);
        e = next;
    }
    free(c->buckets);
    free(c);
}

size_t dns_cache_count(const struct dns_cache *c)
{
    return c->count;
}

static struct dns_cache_entry **cache_slot(struct dns_cache *c, uint16_t type, const char *name,
                                           uint32_t hash)
{
    struct dns_cache_entry **pp = &c->buckets[hash & c->mask];
    while (*pp) {
        struct dns_cache_entry *e = *pp;
        if (e->hash == hash && e->type == type && strcasecmp(e->name, name) == 0)
            return pp;
        pp = &e->hnext;
    }
    return pp;
}

static void lru_unlink(struct dns_cache *c, struct dns_cache_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct dns_cache *c, struct dns_cache_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head)
        c->lru_head->lru_prev = e;
    else
        c->lru_tail = e;
    c->lru_head = e;
}

/* Removes the entry *pp points at (a hash-chain link) and frees it. */
static void cache_remove(struct dns_cache *c, struct dns_cache_entry **pp)
{
    struct dns_cache_entry *e = *pp;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->count--;
    free(e);
}

static void cache_evict_lru(struct dns_cache *c)
{
    struct dns_cache_entry *e = c->lru_tail;
    if (!e)
        return;
    struct dns_cache_entry **pp = cache_slot(c, e->type, e->name, e->hash);
    if (*pp == e)
        cache_remove(c, pp);
}

int dns_cache_put(struct dns_cache *c, uint16_t type, const char *name, int status,
                  const void *items, size_t n, size_t elem_size, uint32_t ttl_s, uint64_t now_ms)
{
    uint32_t hash = cache_hash(type, name);
    struct dns_cache_entry **pp = cache_slot(c, type, name, hash);
    if (*pp)
        cache_remove(c, pp);
    if (ttl_s == 0)
        return 0;

    size_t namelen = strlen(name) + 1;
    size_t align = alignof(max_align_t);
    size_t off = (sizeof(struct dns_cache_entry) + namelen + align - 1) / align * align;
    if (n && elem_size > (SIZE_MAX - off) / n)
        return -1;
    struct dns_cache_entry *e = malloc(off + n * elem_size);
    if (!e)
        return -1;
    memset(e, 0, sizeof(*e));
    memcpy(e->name, name, namelen);
    e->items = (char *)e + off;
    if (n)
        memcpy(e->items, items, n * elem_size);
    e->n = n;
    e->type = type;
    e->status = status;
    e->hash = hash;
    e->expires_ms = now_ms + (uint64_t)ttl_s * 1000;

    if (c->count >= c->max) {
        cache_evict_lru(c);
        pp = cache_slot(c, type, name, hash); /* the chain may have changed */
    }
    e->hnext = *pp;
    *pp = e;
    lru_push_front(c, e);
    c->count++;
    return 0;
}

int dns_cache_get(struct dns_cache *c, uint16_t type, const char *name, uint64_t now_ms,
                  struct dns_cache_view *out)
{
    uint32_t hash = cache_hash(type, name);
    struct dns_cache_entry **pp = cache_slot(c, type, name, hash);
    struct dns_cache_entry *e = *pp;
    if (!e)
        return 0;
    if (now_ms >= e->expires_ms) {
        cache_remove(c, pp);
        return 0;
    }
    lru_unlink(c, e);
    lru_push_front(c, e);
    out->status = e->status;
    out->ttl_left = (uint32_t)((e->expires_ms - now_ms + 999) / 1000);
    out->n = e->n;
    out->items = e->items;
    return 1;
}
