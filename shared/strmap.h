/* strmap.h -- a string-keyed hash table: open addressing, linear probing.
 *
 * Keys are copied into the table (NUL-terminated, owned by the map); values
 * are the caller's pointers and are never freed by the map. Keys may be
 * compared ASCII case-insensitively (domains, SIP users). Hashing is SipHash
 * with a per-process random key, so names chosen by a peer cannot force long
 * probe chains. Deletion shifts entries back (no tombstones), so a table that
 * churns stays as fast as a fresh one. Not thread-safe (one loop, one owner). */
#ifndef EP_STRMAP_H
#define EP_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

struct strmap;

/* An empty map; nocase: keys compare and hash ASCII case-insensitively.
 * NULL on allocation failure. */
struct strmap *strmap_new(bool nocase);
/* Frees the table and its key copies, not the values. NULL is a no-op. */
void strmap_free(struct strmap *m);

size_t strmap_count(const struct strmap *m);

/* The value stored under key, or NULL. */
void *strmap_get(const struct strmap *m, struct slice key);

/* Store val (never NULL) under key, replacing any earlier value (returned in
 * *old when old is not NULL, else NULL there). 0, or -1 on allocation failure
 * or a NULL val; on failure the map is unchanged. */
int strmap_put(struct strmap *m, struct slice key, void *val, void **old);

/* Remove key; returns its value, or NULL if absent. */
void *strmap_del(struct strmap *m, struct slice key);

/* Iterate: size_t it = 0; while (strmap_next(m, &it, &key, &val)) ...
 * key and val may be NULL. Any put or del ends the iteration's validity. */
bool strmap_next(const struct strmap *m, size_t *it, const char **key, void **val);

/* The map's keyed hash of s (case-folded when nocase), for callers that keep
 * their own sets of hashes. Stable for the life of the process only. */
uint64_t strmap_hash(struct slice s, bool nocase);

#endif
