/* uri.c -- parsers for SIP header values, run on demand: comma lists,
 * name-addr / addr-spec, SIP, SIPS and tel URIs, ;params and Via values
 * (RFC 3261 §7.3.1, §19.1, §20.10, §20.42, §25.1; RFC 3966 for tel:).
 *
 * Every result is a slice into the value given; nothing is copied. Inputs may
 * hold the CRLFs of folded lines: they count as whitespace. */
#include "sip/msg.h"

#include <string.h>

static inline char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Character classes, one table lookup each (bytes >= 0x80 are in none). */
enum { CH_TOKEN = 1, CH_LWS = 2, CH_DIGIT = 4, CH_HOST = 8, CH_HEX = 16 };
/* clang-format off */
static const unsigned char ch_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  2,  0,  0,  2,  0,  0, /* 00-0f HT LF CR */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, /* 10-1f */
     2,  1,  0,  0,  0,  1,  0,  1,  0,  0,  1,  1,  0,  9,  9,  0, /* 20-2f SP ! % ' * + - . */
    29, 29, 29, 29, 29, 29, 29, 29, 29, 29,  0,  0,  0,  0,  0,  0, /* 30-3f 0-9 */
     0, 25, 25, 25, 25, 25, 25,  9,  9,  9,  9,  9,  9,  9,  9,  9, /* 40-4f A-O */
     9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  0,  0,  0,  0,  9, /* 50-5f P-Z _ */
     1, 25, 25, 25, 25, 25, 25,  9,  9,  9,  9,  9,  9,  9,  9,  9, /* 60-6f ` a-o */
     9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  0,  0,  0,  1,  0, /* 70-7f p-z ~ */
};
/* clang-format on */

static inline bool is_class(char c, unsigned cls)
{
    return ch_class[(unsigned char)c] & cls;
}
/* SP, HT, and the CR LF of folded lines */
static inline bool is_lws(char c)
{
    return is_class(c, CH_LWS);
}
static inline bool is_digit(char c)
{
    return is_class(c, CH_DIGIT);
}
/* RFC 3261 token: alphanum and -.!%*_+`'~ */
static inline bool is_token(char c)
{
    return is_class(c, CH_TOKEN);
}
/* hostname or IPv4 address: alphanum, '-', '.', and '_' as deployed DNS names carry it */
static inline bool is_host_char(char c)
{
    return is_class(c, CH_HOST);
}
static inline bool is_hex(char c)
{
    return is_class(c, CH_HEX);
}

/* s[0..n) equals lit ignoring case; lit may be any case. */
static bool ci_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lower(lit[i]))
            return false;
    return true;
}

static struct slice lws_trim(struct slice s)
{
    while (s.len && is_lws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_lws(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* The slice [a, b). */
static inline struct slice span(const char *a, const char *b)
{
    return (struct slice){a, (size_t)(b - a)};
}

static inline const char *skip_lws(const char *p, const char *end)
{
    while (p < end && is_lws(*p))
        p++;
    return p;
}

/* host [":" port] at *pp: an IPv6 reference in brackets (host without them) or
 * a hostname / IPv4 address. The port is 1..65535, 0 when absent. Advances *pp
 * past what it took. Returns 0 or -1. */
static int parse_hostport(const char **pp, const char *end, struct slice *host, uint16_t *port)
{
    const char *p = *pp;
    if (p < end && *p == '[') {
        const char *h = ++p;
        while (p < end && (is_hex(*p) || *p == ':' || *p == '.'))
            p++;
        if (p == end || *p != ']' || p == h || !memchr(h, ':', (size_t)(p - h)))
            return -1;
        *host = span(h, p);
        p++;
    } else {
        const char *h = p;
        while (p < end && is_host_char(*p))
            p++;
        if (p == h)
            return -1;
        *host = span(h, p);
    }
    *port = 0;
    if (p < end && *p == ':') {
        unsigned v = 0;
        const char *d = ++p;
        while (p < end && is_digit(*p) && p - d < 5)
            v = v * 10 + (unsigned)(*p++ - '0');
        if (p == d || v == 0 || v > 65535 || (p < end && is_digit(*p)))
            return -1;
        *port = (uint16_t)v;
    }
    *pp = p;
    return 0;
}

/* Elements are split at commas outside "quoted strings" (with \-escapes) and
 * outside <...>; empty elements ("a,,b") are skipped. *rest starts at the next
 * element (leading whitespace and folding trimmed), so it can be written out as
 * a header value as it is. */
bool sip_list_next(struct slice v, struct slice *first, struct slice *rest)
{
    for (;;) {
        v = lws_trim(v);
        if (!v.len) {
            if (first)
                *first = v;
            if (rest)
                *rest = v;
            return false;
        }
        const char *p = v.p, *end = v.p + v.len;
        bool quoted = false, angle = false;
        if (!memchr(v.p, ',', v.len)) /* the common case: one element */
            p = end;
        for (; p < end; p++) {
            if (quoted) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                else if (*p == '"')
                    quoted = false;
            } else if (*p == '"') {
                quoted = true;
            } else if (*p == '<') {
                angle = true;
            } else if (*p == '>') {
                angle = false;
            } else if (*p == ',' && !angle) {
                break;
            }
        }
        struct slice f = lws_trim(span(v.p, p));
        struct slice r = p < end ? lws_trim(span(p + 1, end)) : span(end, end);
        if (f.len) {
            if (first)
                *first = f;
            if (rest)
                *rest = r;
            return true;
        }
        v = r;
    }
}

/* name-addr: [display-name] "<" URI ">" *(";" param), display-name quoted or
 * tokens; addr-spec: a URI without <> whose ;params belong to the header
 * (RFC 3261 §20.10), so it ends at the first ';'. "*" (Contact) is no address:
 * -1. The outputs are written only on success. */
int sip_nameaddr_parse(struct slice v, struct slice *uri, struct slice *params)
{
    v = lws_trim(v);
    if (!v.len)
        return -1;
    const char *p = v.p, *end = v.p + v.len, *lt;
    struct slice u, prm = span(end, end);

    if (*p == '"') {
        for (p++; p < end && *p != '"'; p++)
            if (*p == '\\' && p + 1 < end)
                p++;
        if (p == end)
            return -1;
        p = skip_lws(p + 1, end);
        if (p == end || *p != '<')
            return -1;
        lt = p;
    } else {
        lt = memchr(p, '<', v.len);
    }

    if (lt) {
        const char *gt = memchr(lt + 1, '>', (size_t)(end - lt - 1));
        if (!gt)
            return -1;
        u = lws_trim(span(lt + 1, gt));
        p = skip_lws(gt + 1, end);
        if (p < end) {
            if (*p != ';')
                return -1;
            prm = lws_trim(span(p + 1, end));
        }
    } else {
        const char *semi = memchr(p, ';', v.len);
        u = lws_trim(span(p, semi ? semi : end));
        if (semi)
            prm = lws_trim(span(semi + 1, end));
        for (size_t i = 0; i < u.len; i++) /* "Bob sip:b@x" is neither form */
            if (is_lws(u.p[i]))
                return -1;
    }
    if (!u.len || !memchr(u.p, ':', u.len))
        return -1;
    if (uri)
        *uri = u;
    if (params)
        *params = prm;
    return 0;
}

/* sip:/sips: user[:password]@host[:port][;params][?headers], the user ending at
 * the first '@' (a user may hold ';' and '?', RFC 3261 §25.1); tel: number
 * [;params], the number in u->user and no host. Schemes are case-insensitive.
 * The password is not kept. */
int sip_uri_parse(struct slice s, struct sip_uri *u)
{
    memset(u, 0, sizeof(*u));
    s = lws_trim(s);
    if (!s.len)
        return -1;
    const char *p = s.p, *end = s.p + s.len;
    const char *colon = memchr(p, ':', s.len);
    if (!colon)
        return -1;
    struct slice scheme = span(p, colon);
    bool tel = false;
    if (scheme.len == 3 && ci_eq(scheme.p, "tel", 3))
        tel = true;
    else if (!(scheme.len == 3 && ci_eq(scheme.p, "sip", 3)) &&
             !(scheme.len == 4 && ci_eq(scheme.p, "sips", 4)))
        return -1;
    u->scheme = scheme;
    p = colon + 1;

    if (tel) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        u->user = span(p, semi ? semi : end);
        if (semi)
            u->params = span(semi + 1, end);
        u->host = span(p, p);
        u->headers = span(end, end);
        return u->user.len ? 0 : -1;
    }

    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *pw = memchr(p, ':', (size_t)(at - p));
        u->user = span(p, pw ? pw : at);
        if (!u->user.len)
            return -1;
        p = at + 1;
    } else {
        u->user = span(p, p);
    }
    if (parse_hostport(&p, end, &u->host, &u->port) < 0)
        return -1;
    u->params = u->headers = span(end, end);
    if (p < end && *p == ';') {
        const char *q = memchr(p, '?', (size_t)(end - p));
        u->params = span(p + 1, q ? q : end);
        p = q ? q : end;
    }
    if (p < end && *p == '?') {
        u->headers = span(p + 1, end);
        p = end;
    }
    return p == end ? 0 : -1;
}

/* The next parameter of [*pp, end): its name and value, trimmed (the value
 * empty when there is no '='). Parameters are split at ';' outside quoted
 * strings (with \-escapes); quoted tells whether the params hold a '"' at all,
 * and when not, memchr finds the ';'. Moves *pp past the ';'; false at the end. */
static bool param_next(const char **pp, const char *end, bool quoted, struct slice *name,
                       struct slice *val)
{
    const char *p = *pp, *q;
    if (!p || p >= end)
        return false;
    if (!quoted) {
        q = memchr(p, ';', (size_t)(end - p));
        q = q ? q : end;
    } else {
        bool in = false;
        for (q = p; q < end; q++) {
            if (in) {
                if (*q == '\\' && q + 1 < end)
                    q++;
                else if (*q == '"')
                    in = false;
            } else if (*q == '"') {
                in = true;
            } else if (*q == ';') {
                break;
            }
        }
    }
    const char *eq = memchr(p, '=', (size_t)(q - p));
    *name = lws_trim(span(p, eq ? eq : q));
    *val = eq ? lws_trim(span(eq + 1, q)) : span(name->p + name->len, name->p + name->len);
    *pp = q < end ? q + 1 : end;
    return true;
}

/* Names compare case-insensitively; a value keeps its quotes. */
bool sip_param_get(struct slice params, const char *name, struct slice *val)
{
    if (!params.len || !name)
        return false;
    size_t nlen = strlen(name);
    const char *p = params.p, *end = params.p + params.len;
    bool quoted = memchr(p, '"', params.len) != NULL;
    struct slice n, v;
    while (param_next(&p, end, quoted, &n, &v)) {
        if (n.len == nlen && ci_eq(n.p, name, nlen)) {
            if (val)
                *val = v;
            return true;
        }
    }
    return false;
}

/* sent-protocol LWS sent-by *(";" via-params): "SIP" / "2.0" / transport,
 * whitespace allowed around the slashes, then host[:port]. */
int sip_via_parse(struct slice s, struct sip_via *v)
{
    memset(v, 0, sizeof(*v));
    s = lws_trim(s);
    v->raw = s;
    if (!s.len)
        return -1;
    const char *p = s.p, *end = s.p + s.len, *t;

    if (end - p < 3 || !ci_eq(p, "sip", 3))
        return -1;
    p = skip_lws(p + 3, end);
    if (p == end || *p != '/')
        return -1;
    p = skip_lws(p + 1, end);
    if (end - p < 3 || memcmp(p, "2.0", 3) != 0)
        return -1;
    p = skip_lws(p + 3, end);
    if (p == end || *p != '/')
        return -1;
    p = skip_lws(p + 1, end);
    for (t = p; p < end && is_token(*p); p++)
        ;
    if (p == t || p == end || !is_lws(*p))
        return -1;
    v->transport = span(t, p);
    p = skip_lws(p, end);
    if (parse_hostport(&p, end, &v->host, &v->port) < 0)
        return -1;
    p = skip_lws(p, end);
    v->params = v->branch = v->received = span(end, end);
    if (p < end) {
        if (*p != ';')
            return -1;
        v->params = lws_trim(span(p + 1, end));
    }
    /* one pass for the three parameters a proxy needs; the first of each wins */
    bool quoted = v->params.len && memchr(v->params.p, '"', v->params.len);
    bool branch = false, received = false;
    struct slice n, val;
    p = v->params.p;
    end = v->params.p + v->params.len;
    while (param_next(&p, end, quoted, &n, &val)) {
        if (!branch && n.len == 6 && ci_eq(n.p, "branch", 6)) {
            v->branch = val;
            branch = true;
        } else if (!received && n.len == 8 && ci_eq(n.p, "received", 8)) {
            v->received = val;
            received = true;
        } else if (n.len == 5 && ci_eq(n.p, "rport", 5)) {
            v->has_rport = true;
        }
    }
    return 0;
}
