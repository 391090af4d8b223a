/* parser.c -- the in-place SIP parser: stream framing, start line, header index
 * and the fields every hop needs (RFC 3261 §7, §20, §25).
 *
 * Owns sip_frame(), sip_msg_parse() and the header and method lookups of
 * sip/msg.h. Nothing is copied or allocated: every slice points into the
 * caller's buffer. Values are parsed further on demand by uri.c. */
#include "sip/msg.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

static inline char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* s[0..n) equals lit (lower case) ignoring case. A letter of lit matches s's
 * byte with bit 0x20 set (only that letter in either case does); any other byte
 * of lit must match exactly. */
static inline bool ci_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char l = lit[i];
        if ((l >= 'a' && l <= 'z' ? (char)(s[i] | 0x20) : s[i]) != l)
            return false;
    }
    return true;
}

/* RFC 3261 token characters: alphanum and -.!%*_+`'~ (bytes >= 0x80 are not). */
/* clang-format off */
static const unsigned char token_chars[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00-0f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10-1f */
    0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 20-2f  !"#$%&'()*+,-./ */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 30-3f 0-9:;<=>? */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40-4f @A-O */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, /* 50-5f P-Z[\]^_ */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60-6f `a-o */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, /* 70-7f p-z{|}~ */
};
/* clang-format on */

static inline bool is_token(char c)
{
    return token_chars[(unsigned char)c];
}

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}
static inline bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim SP, HT and the CRLFs of folded lines at both ends. */
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

/* A decimal number of digits only, at most max. Returns 0 or -1. */
static int parse_uint(struct slice s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (!s.len)
        return -1;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9 || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The CR ending the line that starts at p (its LF follows), or NULL when there
 * is no LF before end or the line holds a bare LF or a bare CR: we require CRLF,
 * and a lone CR or LF a lenient parser downstream would take for a line end
 * must not smuggle a header past us. */
static const char *line_end(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl == p || nl[-1] != '\r')
        return NULL;
    if (nl - 1 > p && memchr(p, '\r', (size_t)(nl - 1 - p)))
        return NULL;
    return nl - 1;
}

/* ---- names ---------------------------------------------------------------- */

/* Header name to id: a switch on the length, then on the first letter, then one
 * comparison. Compact forms (RFC 3261 §7.3.3) map to the full header's id. */
static enum sip_hdr_id hdr_id(const char *n, size_t len)
{
    switch (len) {
    case 1:
        switch (lower(n[0])) {
        case 'v':
            return SIP_HDR_VIA;
        case 'f':
            return SIP_HDR_FROM;
        case 't':
            return SIP_HDR_TO;
        case 'i':
            return SIP_HDR_CALL_ID;
        case 'm':
            return SIP_HDR_CONTACT;
        case 'l':
            return SIP_HDR_CONTENT_LENGTH;
        case 'c':
            return SIP_HDR_CONTENT_TYPE;
        case 'o':
            return SIP_HDR_EVENT;
        case 'k':
            return SIP_HDR_SUPPORTED;
        }
        break;
    case 2:
        if (ci_eq(n, "to", 2))
            return SIP_HDR_TO;
        break;
    case 3:
        if (ci_eq(n, "via", 3))
            return SIP_HDR_VIA;
        break;
    case 4:
        if (ci_eq(n, "from", 4))
            return SIP_HDR_FROM;
        if (ci_eq(n, "cseq", 4))
            return SIP_HDR_CSEQ;
        break;
    case 5:
        if (ci_eq(n, "route", 5))
            return SIP_HDR_ROUTE;
        if (ci_eq(n, "event", 5))
            return SIP_HDR_EVENT;
        break;
    case 7:
        switch (lower(n[0])) {
        case 'c':
            if (ci_eq(n, "call-id", 7))
                return SIP_HDR_CALL_ID;
            if (ci_eq(n, "contact", 7))
                return SIP_HDR_CONTACT;
            break;
        case 'e':
            if (ci_eq(n, "expires", 7))
                return SIP_HDR_EXPIRES;
            break;
        case 'r':
            if (ci_eq(n, "require", 7))
                return SIP_HDR_REQUIRE;
            break;
        }
        break;
    case 9:
        if (ci_eq(n, "supported", 9))
            return SIP_HDR_SUPPORTED;
        break;
    case 11:
        if (ci_eq(n, "retry-after", 11))
            return SIP_HDR_RETRY_AFTER;
        break;
    case 12:
        switch (lower(n[0])) {
        case 'm':
            if (ci_eq(n, "max-forwards", 12))
                return SIP_HDR_MAX_FORWARDS;
            break;
        case 'c':
            if (ci_eq(n, "content-type", 12))
                return SIP_HDR_CONTENT_TYPE;
            break;
        case 'r':
            if (ci_eq(n, "record-route", 12))
                return SIP_HDR_RECORD_ROUTE;
            break;
        }
        break;
    case 13:
        if (ci_eq(n, "proxy-require", 13))
            return SIP_HDR_PROXY_REQUIRE;
        break;
    case 14:
        if (ci_eq(n, "content-length", 14))
            return SIP_HDR_CONTENT_LENGTH;
        break;
    case 16:
        if (ci_eq(n, "x-edgepool-trust", 16))
            return SIP_HDR_EP_TRUST;
        break;
    case 18:
        if (ci_eq(n, "subscription-state", 18))
            return SIP_HDR_SUBSCRIPTION_STATE;
        break;
    case 27:
        if (ci_eq(n, "ms-edge-proxy-message-trust", 27))
            return SIP_HDR_MS_TRUST;
        break;
    }
    return SIP_HDR_OTHER;
}

/* Compact forms of headers we have no id for (RFC 3261 §20, RFC 3515, 3892,
 * 3903, 4028, 3841, 4474): the full name, so "s" and "Subject" compare equal. */
static struct slice other_canon(struct slice n)
{
    if (n.len != 1)
        return n;
    switch (lower(n.p[0])) {
    case 's':
        return (struct slice){"subject", 7};
    case 'e':
        return (struct slice){"content-encoding", 16};
    case 'r':
        return (struct slice){"refer-to", 8};
    case 'b':
        return (struct slice){"referred-by", 11};
    case 'u':
        return (struct slice){"allow-events", 12};
    case 'x':
        return (struct slice){"session-expires", 15};
    case 'a':
        return (struct slice){"accept-contact", 14};
    case 'j':
        return (struct slice){"reject-contact", 14};
    case 'd':
        return (struct slice){"request-disposition", 19};
    case 'y':
        return (struct slice){"identity", 8};
    case 'n':
        return (struct slice){"identity-info", 13};
    }
    return n;
}

static const struct slice method_names[] = {
    [SIP_M_OTHER] = {NULL, 0},
    [SIP_M_INVITE] = {"INVITE", 6},
    [SIP_M_ACK] = {"ACK", 3},
    [SIP_M_BYE] = {"BYE", 3},
    [SIP_M_CANCEL] = {"CANCEL", 6},
    [SIP_M_OPTIONS] = {"OPTIONS", 7},
    [SIP_M_REGISTER] = {"REGISTER", 8},
    [SIP_M_MESSAGE] = {"MESSAGE", 7},
    [SIP_M_SUBSCRIBE] = {"SUBSCRIBE", 9},
    [SIP_M_NOTIFY] = {"NOTIFY", 6},
    [SIP_M_INFO] = {"INFO", 4},
    [SIP_M_UPDATE] = {"UPDATE", 6},
    [SIP_M_PRACK] = {"PRACK", 5},
    [SIP_M_REFER] = {"REFER", 5},
    [SIP_M_PUBLISH] = {"PUBLISH", 7},
    [SIP_M_SERVICE] = {"SERVICE", 7},
};
#define N_METHODS (sizeof(method_names) / sizeof(method_names[0]))

static inline bool is_method(struct slice s, enum sip_method m)
{
    return s.len == method_names[m].len && memcmp(s.p, method_names[m].p, s.len) == 0;
}

/* Method names are case-sensitive (RFC 3261 §7.1): "invite" is an extension. */
enum sip_method sip_method_from(struct slice s)
{
    enum sip_method c1 = SIP_M_OTHER, c2 = SIP_M_OTHER;
    if (s.len < 3 || s.len > 9)
        return SIP_M_OTHER;
    switch (s.p[0]) {
    case 'A':
        c1 = SIP_M_ACK;
        break;
    case 'B':
        c1 = SIP_M_BYE;
        break;
    case 'C':
        c1 = SIP_M_CANCEL;
        break;
    case 'I':
        c1 = SIP_M_INVITE;
        c2 = SIP_M_INFO;
        break;
    case 'M':
        c1 = SIP_M_MESSAGE;
        break;
    case 'N':
        c1 = SIP_M_NOTIFY;
        break;
    case 'O':
        c1 = SIP_M_OPTIONS;
        break;
    case 'P':
        c1 = SIP_M_PRACK;
        c2 = SIP_M_PUBLISH;
        break;
    case 'R':
        c1 = SIP_M_REGISTER;
        c2 = SIP_M_REFER;
        break;
    case 'S':
        c1 = SIP_M_SUBSCRIBE;
        c2 = SIP_M_SERVICE;
        break;
    case 'U':
        c1 = SIP_M_UPDATE;
        break;
    default:
        return SIP_M_OTHER;
    }
    if (is_method(s, c1))
        return c1;
    if (c2 != SIP_M_OTHER && is_method(s, c2))
        return c2;
    return SIP_M_OTHER;
}

const char *sip_method_name(enum sip_method m)
{
    return (unsigned)m < N_METHODS ? method_names[m].p : NULL;
}

/* ---- framing -------------------------------------------------------------- */

/* The Content-Length value of the header line at p, if it is one ("l" or
 * "Content-Length", any case). Folded values are followed up to end.
 * Returns 1 (value in *cl, or max_size + 1 when larger than max_size), 0 when the
 * line is another header, SIP_ERR_CONTENT_LENGTH when the value is not digits,
 * or 2 when the value runs past end (more bytes needed). */
static int frame_content_length(const char *p, const char *eol, const char *end, size_t max_size,
                                size_t *cl)
{
    const char *q;
    size_t v = 0;

    switch (*p) {
    case 'l':
    case 'L':
        q = p + 1;
        break;
    case 'c':
    case 'C':
        if (eol - p < 14 || !ci_eq(p, "content-length", 14))
            return 0;
        q = p + 14;
        break;
    default:
        return 0;
    }
    while (q < eol && is_ws(*q))
        q++;
    if (q == eol || *q != ':')
        return 0;
    q++;
    /* LWS, digits, LWS, then the CRLF not followed by SP/HT ends the header */
    enum { BEFORE, IN, AFTER } st = BEFORE;
    for (;;) {
        if (q == end)
            return 2;
        if (*q >= '0' && *q <= '9') {
            if (st == AFTER)
                return SIP_ERR_CONTENT_LENGTH; /* "1 2" */
            st = IN;
            if (v <= max_size) /* past max_size it stays max_size + 1: no overflow */
                v = v > max_size / 10 ? max_size + 1 : v * 10 + (size_t)(*q - '0');
            q++;
        } else if (is_ws(*q)) {
            st = st == IN ? AFTER : st;
            q++;
        } else if (*q == '\r') {
            if (end - q < 3)
                return 2;
            if (q[1] != '\n')
                return SIP_ERR_CONTENT_LENGTH;
            if (!is_ws(q[2]))
                break;
            st = st == IN ? AFTER : st;
            q += 3;
        } else {
            return SIP_ERR_CONTENT_LENGTH;
        }
    }
    if (st == BEFORE)
        return SIP_ERR_CONTENT_LENGTH;
    *cl = v <= max_size ? v : max_size + 1;
    return 1;
}

/* See msg.h. Errors are sip_parse_err values: SIP_ERR_TOO_LARGE when the
 * headers do not end within max_size or headers + body exceed it,
 * SIP_ERR_CONTENT_LENGTH when Content-Length is missing, not a number or given
 * twice with different values, SIP_ERR_HEADER on a bare CR or LF. */
ssize_t sip_frame(const char *buf, size_t len, size_t max_size, size_t *keepalive)
{
    size_t k = 0, cl = 0, hlen;
    bool have_cl = false;

    while (k < len && (buf[k] == '\r' || buf[k] == '\n'))
        k++;
    if (keepalive)
        *keepalive = k;
    if (k || !len)
        return 0;
    if (max_size > SSIZE_MAX)
        max_size = SSIZE_MAX;

    const char *end = buf + (len < max_size ? len : max_size);
    const char *p = buf;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return len >= max_size ? SIP_ERR_TOO_LARGE : 0;
        if (nl == p || nl[-1] != '\r')
            return SIP_ERR_HEADER;
        if (nl == p + 1) { /* the empty line (never the start line: no leading CRLF here) */
            hlen = (size_t)(nl + 1 - buf);
            break;
        }
        if (p != buf) {
            size_t v = 0;
            int rc = frame_content_length(p, nl - 1, end, max_size, &v);
            if (rc == 2)
                return len >= max_size ? SIP_ERR_TOO_LARGE : 0;
            if (rc < 0)
                return rc;
            if (rc == 1) {
                if (have_cl && v != cl)
                    return SIP_ERR_CONTENT_LENGTH;
                have_cl = true;
                cl = v;
            }
        }
        p = nl + 1;
    }
    if (!have_cl)
        return SIP_ERR_CONTENT_LENGTH;
    if (cl > max_size - hlen)
        return SIP_ERR_TOO_LARGE;
    return len >= hlen + cl ? (ssize_t)(hlen + cl) : 0;
}

/* ---- the message ---------------------------------------------------------- */

/* "SIP/2.0", any case (RFC 3261 §7.1). */
static inline bool is_sip20(const char *p)
{
    return ci_eq(p, "sip/2.0", 7);
}

/* Request-Line or Status-Line, line[0..len) without its CRLF. */
static int parse_start_line(struct sip_msg *m, const char *line, size_t len)
{
    m->start_line = slice_from(line, len);
    if (len >= 8 && is_sip20(line) && line[7] == ' ') {
        /* SIP/2.0 SP 3DIGIT SP Reason-Phrase (the reason may be empty) */
        const char *d = line + 8;
        if (len < 11 || d[0] < '1' || d[0] > '6' || d[1] < '0' || d[1] > '9' || d[2] < '0' ||
            d[2] > '9')
            return SIP_ERR_START_LINE;
        if (len > 11 && line[11] != ' ')
            return SIP_ERR_START_LINE;
        m->is_request = false;
        m->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
        m->reason = len > 12 ? slice_from(line + 12, len - 12) : slice_from(line + len, 0);
        return SIP_OK;
    }

    /* Method SP Request-URI SP SIP-Version */
    size_t i = 0;
    while (i < len && is_token(line[i]))
        i++;
    if (i == 0 || i == len || line[i] != ' ')
        return SIP_ERR_START_LINE;
    m->method = slice_from(line, i);
    size_t u = ++i;
    while (i < len && (unsigned char)line[i] > ' ' && line[i] != 0x7f)
        i++;
    if (i == u || len - i != 8 || line[i] != ' ' || !is_sip20(line + i + 1))
        return SIP_ERR_START_LINE;
    m->ruri = slice_from(line + u, i - u);
    m->method_id = sip_method_from(m->method);
    m->is_request = true;
    return SIP_OK;
}

/* CSeq: 1*DIGIT LWS Method, the number below 2^31 (RFC 3261 §8.1.1.5). */
static int parse_cseq(struct sip_msg *m, struct slice v)
{
    size_t i = 0;
    unsigned long n;
    while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9')
        i++;
    if (parse_uint(slice_from(v.p, i), 0x7fffffffUL, &n) < 0)
        return SIP_ERR_CSEQ;
    if (i == v.len || !is_lws(v.p[i]))
        return SIP_ERR_CSEQ;
    struct slice meth = lws_trim(slice_from(v.p + i, v.len - i));
    for (size_t j = 0; j < meth.len; j++)
        if (!is_token(meth.p[j]))
            return SIP_ERR_CSEQ;
    if (!meth.len)
        return SIP_ERR_CSEQ;
    m->cseq = (uint32_t)n;
    m->cseq_method = meth;
    m->cseq_method_id = sip_method_from(meth);
    if (m->is_request && !slice_eq(meth, m->method))
        return SIP_ERR_CSEQ;
    return SIP_OK;
}

/* From or To: the whole value, the URI without <> and the tag. */
static int parse_party(struct slice v, struct slice *all, struct slice *uri, struct slice *tag)
{
    struct slice params;
    *all = v;
    if (sip_nameaddr_parse(v, uri, &params) < 0)
        return SIP_ERR_HEADER;
    if (!sip_param_get(params, "tag", tag))
        *tag = slice_from(params.p, 0);
    return SIP_OK;
}

/* Content-Length: digits; repeated only with the same value; equal to the body. */
static int parse_content_length(struct sip_msg *m, bool have_body)
{
    const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTENT_LENGTH);
    unsigned long cl, again;

    if (!h)
        return SIP_OK;
    if (parse_uint(h->value, LONG_MAX, &cl) < 0)
        return SIP_ERR_CONTENT_LENGTH;
    m->content_length = (long)cl;
    while ((h = sip_msg_hdr_next(m, h)))
        if (parse_uint(h->value, LONG_MAX, &again) < 0 || again != cl)
            return SIP_ERR_CONTENT_LENGTH;
    if (!have_body)
        return SIP_OK;
    if (cl != m->body.len) {
        if (cl < m->body.len)
            m->body.len = cl; /* what the sender meant; the rest is not ours */
        return SIP_ERR_CONTENT_LENGTH;
    }
    return SIP_OK;
}

/* The eager fields, from the headers indexed so far. Every field that can be
 * parsed is, so that a 400 can still be built; the first error is returned. */
static int parse_eager(struct sip_msg *m, bool have_body)
{
    int err = SIP_OK, rc;
    const struct sip_hdr *h;
    struct slice first, rest;

#define KEEP(x)                                                                                    \
    do {                                                                                           \
        rc = (x);                                                                                  \
        if (rc < 0 && err == SIP_OK)                                                               \
            err = rc;                                                                              \
    } while (0)

    if (!(h = sip_msg_hdr(m, SIP_HDR_VIA)))
        KEEP(SIP_ERR_MISSING);
    else if (!sip_list_next(h->value, &first, &rest) || sip_via_parse(first, &m->via) < 0)
        KEEP(SIP_ERR_VIA);

    if (!(h = sip_msg_hdr(m, SIP_HDR_CALL_ID)))
        KEEP(SIP_ERR_MISSING);
    else if ((m->call_id = h->value).len == 0)
        KEEP(SIP_ERR_HEADER);

    if (!(h = sip_msg_hdr(m, SIP_HDR_FROM)))
        KEEP(SIP_ERR_MISSING);
    else
        KEEP(parse_party(h->value, &m->from, &m->from_uri, &m->from_tag));

    if (!(h = sip_msg_hdr(m, SIP_HDR_TO)))
        KEEP(SIP_ERR_MISSING);
    else
        KEEP(parse_party(h->value, &m->to, &m->to_uri, &m->to_tag));

    if (!(h = sip_msg_hdr(m, SIP_HDR_CSEQ)))
        KEEP(SIP_ERR_MISSING);
    else
        KEEP(parse_cseq(m, h->value));

    if ((h = sip_msg_hdr(m, SIP_HDR_MAX_FORWARDS))) {
        unsigned long mf;
        if (parse_uint(h->value, 255, &mf) < 0)
            KEEP(SIP_ERR_MAX_FORWARDS);
        else
            m->max_forwards = (int)mf;
    }

    KEEP(parse_content_length(m, have_body));
#undef KEEP
    return err;
}

static void msg_reset(struct sip_msg *m, const char *buf, size_t len)
{
    struct slice none = slice_from(buf, 0);
    m->raw = slice_from(buf, len);
    m->start_line = m->method = m->ruri = m->reason = none;
    m->is_request = false;
    m->method_id = SIP_M_OTHER;
    m->status = 0;
    m->nhdrs = 0;
    for (int i = 0; i < SIP_HDR_COUNT; i++)
        m->first[i] = -1;
    m->headers_end = m->body = none;
    memset(&m->via, 0, sizeof(m->via));
    m->via.raw = m->via.transport = m->via.host = m->via.branch = m->via.received = m->via.params =
        none;
    m->call_id = m->cseq_method = none;
    m->cseq = 0;
    m->cseq_method_id = SIP_M_OTHER;
    m->from = m->from_uri = m->from_tag = m->to = m->to_uri = m->to_tag = none;
    m->max_forwards = -1;
    m->content_length = -1;
}

/* See msg.h. One pass over the header lines: each is found with memchr, its
 * name looked up once; folded lines stay inside the value. lim may be NULL, and
 * a zero field means no limit of its own (max_headers is capped at
 * SIP_MAX_HEADERS anyway). CRLFs before the start line are skipped (RFC 3261
 * §7.5). A message over max_message_size is still parsed, so a 513 can be built,
 * and SIP_ERR_TOO_LARGE returned. */
int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len, const struct sip_limits *lim)
{
    size_t max_size = lim && lim->max_message_size ? lim->max_message_size : SIZE_MAX;
    unsigned max_hdrs = lim && lim->max_headers && lim->max_headers < SIP_MAX_HEADERS
                            ? lim->max_headers
                            : SIP_MAX_HEADERS;
    int err = SIP_OK, rc;

    msg_reset(m, buf, len);
    if (!buf || !len)
        return SIP_ERR_START_LINE;
    if (len > max_size)
        err = SIP_ERR_TOO_LARGE;

    size_t skip = 0; /* CRLFs before the start line */
    while (len - skip >= 2 && buf[skip] == '\r' && buf[skip + 1] == '\n')
        skip += 2;
    const char *p = buf + skip, *end = buf + len, *eol;
    if (skip == len || !(eol = line_end(p, end)))
        return err ? err : SIP_ERR_START_LINE;
    if ((rc = parse_start_line(m, p, (size_t)(eol - p))) < 0)
        return err ? err : rc;
    p = eol + 2;

    bool have_body = false;
    for (;;) {
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            m->headers_end = slice_from(p, 2);
            m->body = slice_from(p + 2, (size_t)(end - p - 2));
            have_body = true;
            break;
        }
        /* one header: its first line, then any continuation lines */
        eol = line_end(p, end);
        while (eol && end - eol > 2 && is_ws(eol[2]))
            eol = line_end(eol + 2, end);
        if (!eol) { /* truncated, or a bare CR/LF */
            rc = SIP_ERR_HEADER;
            break;
        }
        const char *q = p;
        while (q < eol && is_token(*q))
            q++;
        struct slice name = slice_from(p, (size_t)(q - p));
        while (q < eol && is_ws(*q))
            q++;
        if (!name.len || q == eol || *q != ':') {
            rc = SIP_ERR_HEADER;
            break;
        }
        if (m->nhdrs >= max_hdrs) {
            rc = SIP_ERR_TOO_MANY_HEADERS;
            break;
        }
        struct sip_hdr *h = &m->hdrs[m->nhdrs];
        h->id = hdr_id(name.p, name.len);
        h->name = name;
        h->value = lws_trim(slice_from(q + 1, (size_t)(eol - q - 1)));
        h->raw = slice_from(p, (size_t)(eol + 2 - p));
        if (m->first[h->id] < 0)
            m->first[h->id] = (int16_t)m->nhdrs;
        m->nhdrs++;
        p = eol + 2;
    }
    if (!have_body && err == SIP_OK)
        err = rc;

    rc = parse_eager(m, have_body);
    return err ? err : rc;
}

/* ---- lookups -------------------------------------------------------------- */

const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
    if ((unsigned)id >= SIP_HDR_COUNT || m->first[id] < 0)
        return NULL;
    return &m->hdrs[m->first[id]];
}

/* For SIP_HDR_OTHER the next header of the same name (compact forms included),
 * so that sip_msg_hdr_by_name() and this walk one header's instances. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h)
{
    if (!h || h < m->hdrs || h >= m->hdrs + m->nhdrs)
        return NULL;
    struct slice canon = h->id == SIP_HDR_OTHER ? other_canon(h->name) : SLICE_NULL;
    for (const struct sip_hdr *n = h + 1; n < m->hdrs + m->nhdrs; n++) {
        if (n->id != h->id)
            continue;
        if (h->id != SIP_HDR_OTHER || slice_eq_ci(other_canon(n->name), canon))
            return n;
    }
    return NULL;
}

/* Known names (and compact forms) go through the id, so "v" finds a "Via". */
const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, struct slice name)
{
    if (!name.len)
        return NULL;
    enum sip_hdr_id id = hdr_id(name.p, name.len);
    if (id != SIP_HDR_OTHER)
        return sip_msg_hdr(m, id);
    struct slice canon = other_canon(name);
    for (unsigned i = 0; i < m->nhdrs; i++)
        if (m->hdrs[i].id == SIP_HDR_OTHER && slice_eq_ci(other_canon(m->hdrs[i].name), canon))
            return &m->hdrs[i];
    return NULL;
}
