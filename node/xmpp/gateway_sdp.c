/* gateway_sdp.c -- SDP offers and answers for IM sessions, typing
 * notifications and Lync's Ms-Text-Format first message (see
 * gateway_sdp.h). Pure functions over caller buffers. */
#include "xmpp/gateway_sdp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The next line of [*p, end): CRLF or LF ends it (the last may lack one). */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    *line = *p;
    *len = (size_t)(stop - *p);
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    *p = nl ? nl + 1 : end;
    return true;
}

/* Copy the next space-separated token of [*p, end) into out. */
static bool token(const char **p, const char *end, char *out, size_t cap)
{
    while (*p < end && **p == ' ')
        (*p)++;
    const char *s = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    size_t n = (size_t)(*p - s);
    if (!n || n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

/* An a=accept-types value allows text/plain (RFC 4975 style list). */
static bool accepts_text_plain(const char *v, size_t len)
{
    const char *p = v, *end = v + len;
    char t[128];
    while (p < end) {
        if (!token(&p, end, t, sizeof(t))) {
            while (p < end && *p != ' ')
                p++; /* a type too long to be ours */
            continue;
        }
        if (strcasecmp(t, "text/plain") == 0 || strcasecmp(t, "text/*") == 0 ||
            strcmp(t, "*") == 0 || strcmp(t, "*/*") == 0)
            return true;
    }
    return false;
}

enum gw_sdp_verdict gw_sdp_parse(const char *sdp, size_t len, struct gw_sdp_offer *o,
                                 const char **why)
{
    memset(o, 0, sizeof(*o));
    o->im_index = -1;
    const char *p = sdp, *end = sdp + len, *line;
    size_t ll;
    bool first = true, cur_ok = false, cur_types_ok = true;
    int cur = -1;
    *why = NULL;
    while (next_line(&p, end, &line, &ll)) {
        if (ll == 0 && p >= end)
            break; /* the final CRLF */
        if (ll < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
            *why = "malformed SDP: a line is not type=value";
            return GW_SDP_BAD;
        }
        for (size_t i = 0; i < ll; i++)
            if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
                *why = "malformed SDP: control characters";
                return GW_SDP_BAD;
            }
        if (first) {
            if (ll != 3 || memcmp(line, "v=0", 3) != 0) {
                *why = "malformed SDP: it does not start with v=0";
                return GW_SDP_BAD;
            }
            first = false;
            continue;
        }
        if (line[0] == 'm') {
            if (cur >= 0 && cur_ok && cur_types_ok && o->im_index < 0)
                o->im_index = cur;
            if (o->n_media >= GW_SDP_MAX_MEDIA) {
                *why = "SDP offers too many streams";
                return GW_SDP_BAD;
            }
            cur = o->n_media++;
            const char *q = line + 2, *qe = line + ll;
            char port[16];
            if (!token(&q, qe, o->m[cur].media, sizeof(o->m[cur].media)) ||
                !token(&q, qe, port, sizeof(port)) ||
                !token(&q, qe, o->m[cur].proto, sizeof(o->m[cur].proto))) {
                *why = "malformed SDP: bad m= line";
                return GW_SDP_BAD;
            }
            char *slash = strchr(port, '/'); /* port/count */
            if (slash)
                *slash = '\0';
            unsigned long pv = 0;
            for (const char *d = port; *d; d++) {
                if (*d < '0' || *d > '9' || pv > 65535) {
                    *why = "malformed SDP: bad port in m= line";
                    return GW_SDP_BAD;
                }
                pv = pv * 10 + (unsigned long)(*d - '0');
            }
            if (!port[0] || pv > 65535) {
                *why = "malformed SDP: bad port in m= line";
                return GW_SDP_BAD;
            }
            while (q < qe && *q == ' ')
                q++;
            if (q >= qe) {
                *why = "malformed SDP: m= line without formats";
                return GW_SDP_BAD;
            }
            size_t fl = (size_t)(qe - q);
            if (fl >= sizeof(o->m[cur].fmt))
                fl = sizeof(o->m[cur].fmt) - 1;
            memcpy(o->m[cur].fmt, q, fl);
            o->m[cur].fmt[fl] = '\0';
            cur_ok = pv > 0 && pv <= 65535 && strcmp(o->m[cur].media, "message") == 0 &&
                     strcasecmp(o->m[cur].proto, "sip") == 0;
            cur_types_ok = true;
            continue;
        }
        if (line[0] == 'a' && cur >= 0 && ll > 15 &&
            strncasecmp(line + 2, "accept-types:", 13) == 0)
            cur_types_ok = accepts_text_plain(line + 15, ll - 15);
    }
    if (first) {
        *why = "malformed SDP: empty";
        return GW_SDP_BAD;
    }
    if (cur >= 0 && cur_ok && cur_types_ok && o->im_index < 0)
        o->im_index = cur;
    if (o->n_media == 0) { /* legal (RFC 3264 section 5), nothing to take */
        *why = "no media stream offered";
        return GW_SDP_NO_IM;
    }
    if (o->im_index < 0) {
        *why = "only IM (m=message sip, text/plain) is carried to XMPP";
        return GW_SDP_NO_IM;
    }
    return GW_SDP_IM;
}

size_t gw_sdp_answer(const struct gw_sdp_offer *o, const char *addr, unsigned port,
                     uint64_t sess_id, char *out, size_t cap)
{
    const char *ip = strchr(addr, ':') ? "IP6" : "IP4";
    int k = snprintf(out, cap, "v=0\r\no=- %llu 0 IN %s %s\r\ns=session\r\nc=IN %s %s\r\nt=0 0\r\n",
                     (unsigned long long)sess_id, ip, addr, ip, addr);
    if (k < 0 || (size_t)k >= cap)
        return 0;
    size_t len = (size_t)k;
    for (int i = 0; i < o->n_media; i++) {
        if (i == o->im_index)
            k = snprintf(out + len, cap - len,
                         "m=message %u sip null\r\na=accept-types:text/plain\r\n", port);
        else
            k = snprintf(out + len, cap - len, "m=%s 0 %s %s\r\n", o->m[i].media, o->m[i].proto,
                         o->m[i].fmt);
        if (k < 0 || (size_t)k >= cap - len)
            return 0;
        len += (size_t)k;
    }
    return len;
}

/* The text between <tag> (attributes allowed) and </ of the first tag
 * element found, trimmed; NULL when absent. */
static const char *elem_text(const char *body, size_t len, const char *tag, size_t *tl)
{
    size_t n = strlen(tag);
    for (const char *p = body; p + n + 2 <= body + len; p++) {
        if (*p != '<' || strncmp(p + 1, tag, n) != 0 || (p[1 + n] != '>' && p[1 + n] != ' '))
            continue;
        const char *s = memchr(p, '>', (size_t)(body + len - p));
        if (!s)
            return NULL;
        s++;
        const char *e = s;
        while (e < body + len && *e != '<')
            e++;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            e--;
        *tl = (size_t)(e - s);
        return s;
    }
    return NULL;
}

static bool ctype_is(const char *ctype, const char *want)
{
    while (*ctype == ' ')
        ctype++;
    size_t n = strlen(want);
    return strncasecmp(ctype, want, n) == 0 &&
           (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

int gw_typing_parse(const char *ctype, const char *body, size_t len)
{
    if (!ctype || !body)
        return -1;
    size_t tl;
    if (ctype_is(ctype, "application/im-iscomposing+xml")) {
        const char *s = elem_text(body, len, "state", &tl);
        if (s && tl == 6 && strncasecmp(s, "active", 6) == 0)
            return 1;
        if (s && tl == 4 && strncasecmp(s, "idle", 4) == 0)
            return 0;
        return -1;
    }
    if (ctype_is(ctype, "application/xml") && elem_text(body, len, "KeyboardActivity", &tl)) {
        /* <status status="type" /> or "idle" */
        static const char *const pats[] = {"status=\"type\"", "status='type'", "status=\"idle\"",
                                           "status='idle'"};
        for (size_t i = 0; i < 4; i++) {
            size_t pl = strlen(pats[i]);
            for (const char *p = body; p + pl <= body + len; p++)
                if (memcmp(p, pats[i], pl) == 0)
                    return i < 2 ? 1 : 0;
        }
    }
    return -1;
}

static int b64(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int gw_ms_text_body(const char *value, char *out, size_t cap)
{
    const char *v = value;
    while (*v == ' ')
        v++;
    if (!ctype_is(v, "text/plain"))
        return -1;
    const char *mb = NULL;
    for (const char *p = strchr(v, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ')
            q++;
        if (strncasecmp(q, "ms-body=", 8) == 0) {
            mb = q + 8;
            break;
        }
    }
    if (!mb || !*mb || !cap)
        return -1;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    const char *p = mb;
    for (; *p && *p != ';' && *p != ' '; p++) {
        if (*p == '=')
            break;
        int d = b64(*p);
        if (d < 0)
            return -1;
        acc = (acc << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xFF);
        }
    }
    while (*p == '=')
        p++;
    if (*p && *p != ';' && *p != ' ')
        return -1;
    out[n] = '\0';
    return n ? (int)n : -1;
}
