/* gateway_addr.c -- address mapping between JIDs and SIP URIs (RFC 7247
 * section 5, XEP-0106 for the octets a localpart cannot carry), Call-IDs
 * from threads, and the <show/> names (see gateway_map.h). Pure. */
#include "xmpp/gateway_map.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 3261 user = 1*( unreserved / escaped / user-unreserved ) */
static bool sip_user_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("-_.!~*'()&=+$,;?/", c) != NULL;
}

/* RFC 7622 3.3.1: not allowed in a localpart (XEP-0106 escapes them). */
static bool jid_local_forbidden(unsigned char c)
{
    return c && strchr(" \"&'/:<>@", c) != NULL;
}

/* XEP-0106: "\xx" that stands for one of the escaped octets (or '\'). */
static int xep0106_escape_at(const char *s, size_t len)
{
    if (len < 3 || s[0] != '\\')
        return -1;
    int h = hexval(s[1]), l = hexval(s[2]);
    if (h < 0 || l < 0)
        return -1;
    int c = h * 16 + l;
    return (jid_local_forbidden((unsigned char)c) || c == '\\') ? c : -1;
}

struct buf {
    char *p;
    size_t len, cap;
    bool over;
};

static void put(struct buf *b, char c)
{
    if (b->len + 1 >= b->cap) {
        b->over = true;
        return;
    }
    b->p[b->len++] = c;
}

static void put_pct(struct buf *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    put(b, '%');
    put(b, hex[c >> 4]);
    put(b, hex[c & 15]);
}

static int finish(struct buf *b)
{
    if (b->over || b->cap == 0)
        return -1;
    b->p[b->len] = '\0';
    return (int)b->len;
}

/* A domain part: lowered, one trailing dot dropped, LDH, dots, and the
 * brackets/colons of an IPv6 literal only. */
static bool put_domain(struct buf *b, const char *d, size_t len)
{
    if (len && d[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = lower(d[i]);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '[' || c == ']' || c == ':'))
            return false;
        put(b, c);
    }
    return true;
}

int gw_jid_to_aor(const char *jid, size_t len, char *out, size_t cap)
{
    struct buf b = {out, 0, cap, false};
    const char *slash = memchr(jid, '/', len);
    size_t bare = slash ? (size_t)(slash - jid) : len;
    const char *at = memchr(jid, '@', bare);
    if (!at || at == jid || len > 3071)
        return -1; /* a domain alone is a server, not a user */
    size_t llen = (size_t)(at - jid);
    if (llen > 1023)
        return -1;
    for (size_t i = 0; i < llen; i++) {
        unsigned char c = (unsigned char)jid[i];
        int e = xep0106_escape_at(jid + i, llen - i);
        if (e >= 0) {
            c = (unsigned char)e;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (sip_user_char(c))
            put(&b, lower((char)c));
        else
            put_pct(&b, c);
    }
    put(&b, '@');
    if (!put_domain(&b, at + 1, bare - llen - 1))
        return -1;
    return finish(&b);
}

int gw_uri_to_jid(struct slice uri, char *out, size_t cap)
{
    struct buf b = {out, 0, cap, false};
    const char *p = uri.p, *end = uri.p + uri.len;
    while (p < end && (*p == ' ' || *p == '<'))
        p++;
    const char *gt = memchr(p, '>', (size_t)(end - p));
    if (gt)
        end = gt;
    if (end - p > 4 && strncasecmp(p, "sip:", 4) == 0)
        p += 4;
    else if (end - p > 5 && strncasecmp(p, "sips:", 5) == 0)
        p += 5;
    else
        return -1;
    /* the user part ends at the last '@' before the headers ('?'): a user
     * part may hold ';' (user-unreserved), parameters and headers hold no
     * raw '@' */
    const char *at = NULL;
    for (const char *q = p; q < end && *q != '?'; q++)
        if (*q == '@')
            at = q;
    if (!at || at == p)
        return -1;
    size_t ulen = (size_t)(at - p);
    if (ulen > 3 * 1023)
        return -1;
    char dec[1024];
    size_t dlen = 0;
    for (size_t i = 0; i < ulen; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            if (i + 2 >= ulen)
                return -1;
            int h = hexval(p[i + 1]), l = hexval(p[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (unsigned char)(h * 16 + l);
            i += 2;
        } else if (c == ':') {
            return -1; /* user:password is not an address */
        }
        if (c < 0x20 || c == 0x7f || dlen >= sizeof(dec))
            return -1;
        dec[dlen++] = (char)c;
    }
    for (size_t i = 0; i < dlen; i++) {
        unsigned char c = (unsigned char)dec[i];
        if (jid_local_forbidden(c)) {
            char esc[4];
            snprintf(esc, sizeof(esc), "\\%02x", c);
            put(&b, esc[0]);
            put(&b, esc[1]);
            put(&b, esc[2]);
        } else if (c == '\\' && xep0106_escape_at(dec + i, dlen - i) >= 0) {
            put(&b, '\\'); /* a literal "\20" must not read as an escape */
            put(&b, '5');
            put(&b, 'c');
        } else {
            put(&b, lower((char)c));
        }
    }
    if (b.len > 1023)
        return -1;
    put(&b, '@');
    const char *h = at + 1, *hend = h;
    while (hend < end && *hend != ';' && *hend != '?')
        hend++;
    if (h < hend && *h == '[') { /* IPv6 literal: keep the brackets, drop a port */
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (!rb)
            return -1;
        hend = rb + 1;
    } else {
        const char *colon = memchr(h, ':', (size_t)(hend - h));
        if (colon)
            hend = colon;
    }
    if (!put_domain(&b, h, (size_t)(hend - h)))
        return -1;
    return finish(&b);
}

struct slice gw_addr_domain(struct slice addr)
{
    const char *slash = addr.len ? memchr(addr.p, '/', addr.len) : NULL;
    size_t bare = slash ? (size_t)(slash - addr.p) : addr.len;
    for (size_t i = bare; i > 0; i--)
        if (addr.p[i - 1] == '@')
            return bare > i ? slice_from(addr.p + i, bare - i) : SLICE_NULL;
    return bare ? slice_from(addr.p, bare) : SLICE_NULL;
}

/* RFC 3261 word characters (Call-ID = word [ "@" word ]). */
static bool sip_word_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("-.!%*_+`'~()<>:\\\"/[]?{}", c) != NULL;
}

int gw_thread_to_call_id(const char *thread, const char *domain, char *out, size_t cap)
{
    size_t len = strlen(thread);
    bool word = len > 0 && len <= 128;
    for (size_t i = 0; word && i < len; i++)
        word = sip_word_char((unsigned char)thread[i]);
    int k;
    if (word) {
        k = snprintf(out, cap, "%s@%s", thread, domain);
    } else {
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (size_t i = 0; i < len; i++)
            h = (h ^ (unsigned char)thread[i]) * 1099511628211ull;
        k = snprintf(out, cap, "t%016llx@%s", (unsigned long long)h, domain);
    }
    return k < 0 || (size_t)k >= cap ? -1 : k;
}

static const char *const show_names[] = {NULL, "chat", "away", "xa", "dnd"};

const char *gw_show_name(enum gw_show s)
{
    return (unsigned)s < sizeof(show_names) / sizeof(show_names[0]) ? show_names[s] : NULL;
}

enum gw_show gw_show_parse(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    for (size_t i = 1; i < sizeof(show_names) / sizeof(show_names[0]); i++)
        if (strlen(show_names[i]) == len && memcmp(show_names[i], s, len) == 0)
            return (enum gw_show)i;
    return GW_SHOW_NONE;
}
