/* hmap.h -- a chained hash map from byte-string keys to pointers.
 *
 * Keys are copied into the map (the map owns its copies); values are the
 * caller's pointers and are never freed by the map. Grows by doubling at
 * load factor 1. Used for transactions, connections and partner pools. */
#ifndef EP_HMAP_H
#define EP_HMAP_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct hmap_entry {
    struct hmap_entry *next;
    uint64_t hash;
    void *value;
    size_t klen;
    char key[]; /* klen bytes, NUL-terminated for convenience */
};

struct hmap {
    struct hmap_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    bool ci; /* keys compared case-insensitively (ASCII) */
};

/* Initialise an empty map; ci = case-insensitive keys. Returns 0 or -1. */
int hmap_init(struct hmap *m, size_t initial, bool ci);
/* Free the entries (not the values). */
void hmap_destroy(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key, size_t klen);
/* Insert or replace; returns 0 or -1 (allocation failure). */
int hmap_put(struct hmap *m, const char *key, size_t klen, void *value);
/* Remove; returns the old value or NULL. */
void *hmap_del(struct hmap *m, const char *key, size_t klen);
/* Visit every entry; fn may not modify the map. */
void hmap_each(const struct hmap *m, void (*fn)(void *arg, const char *key, void *value),
               void *arg);
uint64_t hmap_hash(const char *key, size_t klen, bool ci);

#endif
