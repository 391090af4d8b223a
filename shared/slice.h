/* slice.h -- a pointer and a length into someone else's buffer.
 *
 * A slice never owns its bytes: it is valid as long as the buffer it points
 * into (usually a connection's receive buffer). Copy with slice_dup() when a
 * value must outlive that buffer; the caller frees the copy. */
#ifndef EP_SLICE_H
#define EP_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct slice {
    const char *p;
    size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})
#define SLICE_NULL ((struct slice){NULL, 0})
/* printf("%.*s", SLICE_FMT(s)) */
#define SLICE_FMT(s) (int)(s).len, (s).p

static inline struct slice slice_from(const char *p, size_t len)
{
    return (struct slice){p, len};
}
static inline struct slice slice_cstr(const char *s)
{
    return (struct slice){s, s ? strlen(s) : 0};
}
static inline bool slice_empty(struct slice s)
{
    return s.len == 0;
}

static inline bool slice_eq(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
static inline bool slice_eq_ci(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}
static inline bool slice_eq_cstr_ci(struct slice a, const char *s)
{
    return slice_eq_ci(a, slice_cstr(s));
}

/* Remove leading and trailing spaces and tabs. */
static inline struct slice slice_trim(struct slice s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Index of the first c in s, or -1. */
static inline long slice_find(struct slice s, char c)
{
    const char *q = s.len ? memchr(s.p, c, s.len) : NULL;
    return q ? (long)(q - s.p) : -1;
}

/* A NUL-terminated heap copy; the caller frees it. NULL on allocation failure. */
static inline char *slice_dup(struct slice s)
{
    char *d = malloc(s.len + 1);
    if (d) {
        if (s.len)
            memcpy(d, s.p, s.len);
        d[s.len] = '\0';
    }
    return d;
}

/* Copy into a caller's buffer, truncated and NUL-terminated; returns dst. */
static inline char *slice_copy(struct slice s, char *dst, size_t dstlen)
{
    size_t n = s.len < dstlen - 1 ? s.len : dstlen - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
    return dst;
}

#endif
