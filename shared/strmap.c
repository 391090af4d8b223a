/* strmap.c -- the string-keyed open-addressing table behind strmap.h.
 *
 * Capacity is a power of two, at most 3/4 full; a slot keeps the key's hash so
 * probing compares hashes before bytes and growing never rehashes a key. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct strmap_slot {
    char *key; /* NULL = empty */
    size_t len;
    uint64_t hash;
    void *val;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    bool nocase;
};

#define STRMAP_MIN_CAP 16

/* ---- SipHash-1-3 over a byte stream that may be case-folded ---- */

static uint64_t sip_k0, sip_k1;
static bool sip_keyed;

static void sip_key_init(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* No entropy yet (early boot): weaker, but the table still works. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&ts;
        k[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)(uintptr_t)&sip_k0;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
    sip_keyed = true;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static inline unsigned char fold(unsigned char c, bool nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

uint64_t strmap_hash(struct slice s, bool nocase)
{
    if (!sip_keyed)
        sip_key_init();
    uint64_t v0 = 0x736f6d6570736575ULL ^ sip_k0, v1 = 0x646f72616e646f6dULL ^ sip_k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ sip_k0, v3 = 0x7465646279746573ULL ^ sip_k1;
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0, whole = s.len & ~(size_t)7;
    for (; i < whole; i += 8) {
        uint64_t m = 0;
        for (int j = 0; j < 8; j++)
            m |= (uint64_t)fold(p[i + j], nocase) << (8 * j);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)s.len << 56;
    for (int j = 0; i + (size_t)j < s.len; j++)
        b |= (uint64_t)fold(p[i + j], nocase) << (8 * j);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---- */

struct strmap *strmap_new(bool nocase)
{
    struct strmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->slots = calloc(STRMAP_MIN_CAP, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->cap = STRMAP_MIN_CAP;
    m->nocase = nocase;
    return m;
}

void strmap_free(struct strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

size_t strmap_count(const struct strmap *m)
{
    return m->count;
}

/* ASCII-only case folding, whatever the locale, to agree with the hash. */
static bool ascii_eq_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)a[i], true) != fold((unsigned char)b[i], true))
            return false;
    return true;
}

static bool key_eq(const struct strmap *m, const struct strmap_slot *sl, uint64_t h,
                   struct slice key)
{
    if (sl->hash != h || sl->len != key.len)
        return false;
    if (key.len == 0)
        return true;
    return m->nocase ? ascii_eq_nocase(sl->key, key.p, key.len)
                     : memcmp(sl->key, key.p, key.len) == 0;
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t find_slot(const struct strmap *m, struct slice key, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].key && !key_eq(m, &m->slots[i], h, key))
        i = (i + 1) & mask;
    return i;
}

void *strmap_get(const struct strmap *m, struct slice key)
{
    if (m->count == 0)
        return NULL;
    size_t i = find_slot(m, key, strmap_hash(key, m->nocase));
    return m->slots[i].key ? m->slots[i].val : NULL;
}

static int grow(struct strmap *m)
{
    size_t ncap = m->cap * 2, mask = ncap - 1;
    struct strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = (size_t)m->slots[i].hash & mask;
        while (ns[j].key)
            j = (j + 1) & mask;
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int strmap_put(struct strmap *m, struct slice key, void *val, void **old)
{
    if (old)
        *old = NULL;
    if (!val)
        return -1;
    uint64_t h = strmap_hash(key, m->nocase);
    size_t i = find_slot(m, key, h);
    if (m->slots[i].key) {
        if (old)
            *old = m->slots[i].val;
        m->slots[i].val = val;
        return 0;
    }
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (grow(m) < 0)
            return -1;
        i = find_slot(m, key, h);
    }
    char *k = slice_dup(key);
    if (!k)
        return -1;
    m->slots[i] = (struct strmap_slot){k, key.len, h, val};
    m->count++;
    return 0;
}

void *strmap_del(struct strmap *m, struct slice key)
{
    if (m->count == 0)
        return NULL;
    size_t mask = m->cap - 1, i = find_slot(m, key, strmap_hash(key, m->nocase));
    if (!m->slots[i].key)
        return NULL;
    void *val = m->slots[i].val;
    free(m->slots[i].key);
    /* Backward shift: pull later members of the probe run into the hole when
     * the hole lies on their path from their home slot. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        size_t home = (size_t)m->slots[j].hash & mask;
        /* Leave j alone when its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i] = (struct strmap_slot){0};
    m->count--;
    return val;
}

bool strmap_next(const struct strmap *m, size_t *it, const char **key, void **val)
{
    for (size_t i = *it; i < m->cap; i++) {
        if (m->slots[i].key) {
            if (key)
                *key = m->slots[i].key;
            if (val)
                *val = m->slots[i].val;
            *it = i + 1;
            return true;
        }
    }
    *it = m->cap;
    return false;
}
