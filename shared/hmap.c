/* hmap.c -- chained hash map with FNV-1a hashing (see hmap.h). */
#include "hmap.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t hmap_hash(const char *key, size_t klen, bool ci)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < klen; i++) {
        unsigned char c = (unsigned char)key[i];
        if (ci && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        h = (h ^ c) * 1099511628211ULL;
    }
    return h;
}

int hmap_init(struct hmap *m, size_t initial, bool ci)
{
    size_t n = 16;
    while (n < initial)
        n <<= 1;
    m->buckets = calloc(n, sizeof(*m->buckets));
    m->nbuckets = n;
    m->count = 0;
    m->ci = ci;
    return m->buckets ? 0 : -1;
}

void hmap_destroy(struct hmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct hmap_entry *e = m->buckets[i];
        while (e) {
            struct hmap_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

static bool key_eq(const struct hmap *m, const struct hmap_entry *e, uint64_t h, const char *key,
                   size_t klen)
{
    if (e->hash != h || e->klen != klen)
        return false;
    return m->ci ? strncasecmp(e->key, key, klen) == 0 : memcmp(e->key, key, klen) == 0;
}

void *hmap_get(const struct hmap *m, const char *key, size_t klen)
{
    uint64_t h = hmap_hash(key, klen, m->ci);
    for (struct hmap_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (key_eq(m, e, h, key, klen))
            return e->value;
    return NULL;
}

static void grow(struct hmap *m)
{
    size_t n = m->nbuckets * 2;
    struct hmap_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct hmap_entry *e = m->buckets[i];
        while (e) {
            struct hmap_entry *next = e->next;
            size_t j = e->hash & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int hmap_put(struct hmap *m, const char *key, size_t klen, void *value)
{
    uint64_t h = hmap_hash(key, klen, m->ci);
    size_t i = h & (m->nbuckets - 1);
    for (struct hmap_entry *e = m->buckets[i]; e; e = e->next)
        if (key_eq(m, e, h, key, klen)) {
            e->value = value;
            return 0;
        }
    struct hmap_entry *e = malloc(sizeof(*e) + klen + 1);
    if (!e)
        return -1;
    e->hash = h;
    e->value = value;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    e->next = m->buckets[i];
    m->buckets[i] = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return 0;
}

void *hmap_del(struct hmap *m, const char *key, size_t klen)
{
    uint64_t h = hmap_hash(key, klen, m->ci);
    struct hmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct hmap_entry *e = *pp;
        if (key_eq(m, e, h, key, klen)) {
            void *v = e->value;
            *pp = e->next;
            free(e);
            m->count--;
            return v;
        }
    }
    return NULL;
}

void hmap_each(const struct hmap *m, void (*fn)(void *arg, const char *key, void *value), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct hmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(arg, e->key, e->value);
}
