/* registry_cache.h -- the nodes last read from the Redis registry, kept in
 * a file (health.registry_cache) so that a balancer starting while Redis is
 * away still knows the pool ("fail static"): its active checks then decide
 * which nodes are healthy, until the registry can be read again.
 *
 * The file is text, one node per line, "id external fqdn", after a comment
 * line; written atomically (a temporary file renamed over it). Nothing here
 * allocates memory the caller must free. */
#ifndef EP_REGISTRY_CACHE_H
#define EP_REGISTRY_CACHE_H

#include <stddef.h>

struct registry_cache_entry {
    char id[64];
    char external[96]; /* "host:port", as the registry's external field */
    char fqdn[256];    /* "" when the registry had none */
};

/* Write n entries to path (pool names the file's pool in its comment line).
 * 0, or -1 with err (the old file, if any, is left as it was). */
int registry_cache_write(const char *path, const char *pool, const struct registry_cache_entry *e,
                         size_t n, char *err, size_t errlen);

/* Read up to max entries from path into out. Returns how many, or -1 with
 * err when the file cannot be read or a line is malformed (then nothing is
 * used). A missing file is 0 entries with err "". */
int registry_cache_read(const char *path, struct registry_cache_entry *out, size_t max, char *err,
                        size_t errlen);

#endif
