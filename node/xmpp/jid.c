/* jid.c -- JIDs split into their parts (RFC 7622 structure, no stringprep). */
#include <string.h>

#include "xmpp/xmpp.h"

int xmpp_jid_parse(const char *s, size_t len, struct xmpp_jid *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return -1;
    /* the resource is everything after the first '/', and may hold '@' */
    const char *slash = memchr(s, '/', len);
    size_t bare = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', bare);
    if (at) {
        out->local = slice_from(s, (size_t)(at - s));
        out->domain = slice_from(at + 1, bare - (size_t)(at - s) - 1);
        if (out->local.len == 0)
            return -1;
    } else {
        out->domain = slice_from(s, bare);
    }
    if (slash) {
        out->resource = slice_from(slash + 1, len - bare - 1);
        if (out->resource.len == 0)
            return -1;
    }
    /* one trailing dot of the domain is not part of it (RFC 7622 3.2) */
    if (out->domain.len && out->domain.p[out->domain.len - 1] == '.')
        out->domain.len--;
    if (out->domain.len == 0 || out->domain.len > 1023 || out->local.len > 1023 ||
        out->resource.len > 1023)
        return -1;
    return 0;
}
