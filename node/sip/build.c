/* build.c -- SIP message writers (see build.h). */
#include "sip/build.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct out {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || o->len + n > o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}
static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}
static void put_slice(struct out *o, struct slice s)
{
    put(o, s.p, s.len);
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
    if (o->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        o->overflow = true;
    else
        o->len += (size_t)n;
}

static size_t done(struct out *o)
{
    return o->overflow ? 0 : o->len;
}

size_t sip_build_response(char *buf, size_t cap, const struct sip_msg *req, int status,
                          const char *reason, const char *to_tag, const char *extra)
{
    struct out o = {buf, 0, cap, false};
    putf(&o, "SIP/2.0 %d %s\r\n", status, reason);
    for (unsigned i = 0; i < req->nhdrs; i++) {
        const struct sip_hdr *h = &req->hdrs[i];
        switch (h->id) {
        case SIP_HDR_VIA:
            puts_(&o, "Via: ");
            put_slice(&o, h->value);
            puts_(&o, "\r\n");
            break;
        case SIP_HDR_FROM:
        case SIP_HDR_CALL_ID:
        case SIP_HDR_CSEQ: {
            static const char *const names[] = {
                [SIP_HDR_FROM] = "From", [SIP_HDR_CALL_ID] = "Call-ID", [SIP_HDR_CSEQ] = "CSeq"};
            putf(&o, "%s: ", names[h->id]);
            put_slice(&o, h->value);
            puts_(&o, "\r\n");
            break;
        }
        case SIP_HDR_TO:
            puts_(&o, "To: ");
            put_slice(&o, h->value);
            if (status > 100 && to_tag && req->to_tag.len == 0)
                putf(&o, ";tag=%s", to_tag);
            puts_(&o, "\r\n");
            break;
        default:
            break;
        }
    }
    puts_(&o, "Server: edgepool\r\n");
    if (extra)
        puts_(&o, extra);
    puts_(&o, "Content-Length: 0\r\n\r\n");
    return done(&o);
}

/* Write header h minus its first n comma-separated values (all of it when
 * nothing is left). Returns how many values were removed. */
static unsigned put_header_minus_values(struct out *o, const struct sip_hdr *h, unsigned n)
{
    struct slice first, rest = h->value;
    unsigned removed = 0;
    while (removed < n && sip_list_next(rest, &first, &rest))
        removed++;
    rest = slice_trim(rest);
    if (rest.len) {
        put_slice(o, h->name);
        puts_(o, ": ");
        put_slice(o, rest);
        puts_(o, "\r\n");
    }
    return removed;
}

static bool is_trust(const struct sip_hdr *h)
{
    return h->id == SIP_HDR_EP_TRUST || h->id == SIP_HDR_MS_TRUST;
}

size_t sip_build_forward(char *buf, size_t cap, const struct sip_msg *m,
                         const struct sip_fwd_edits *e)
{
    struct out o = {buf, 0, cap, false};
    put_slice(&o, m->start_line);
    puts_(&o, "\r\n");
    if (e->via)
        puts_(&o, e->via);
    bool rr_done = e->record_route == NULL, mf_seen = false;
    unsigned to_pop = e->pop_routes;
    for (unsigned i = 0; i < m->nhdrs; i++) {
        const struct sip_hdr *h = &m->hdrs[i];
        if (h->id == SIP_HDR_RECORD_ROUTE && !rr_done) {
            puts_(&o, e->record_route);
            rr_done = true;
        }
        if (h->id == SIP_HDR_ROUTE && to_pop) {
            to_pop -= put_header_minus_values(&o, h, to_pop);
            continue;
        }
        if (h->id == SIP_HDR_MAX_FORWARDS && e->max_forwards >= 0) {
            putf(&o, "Max-Forwards: %d\r\n", e->max_forwards);
            mf_seen = true;
            continue;
        }
        if (e->strip_trust && is_trust(h))
            continue;
        put_slice(&o, h->raw);
    }
    if (!rr_done)
        puts_(&o, e->record_route);
    if (!mf_seen && e->max_forwards >= 0)
        putf(&o, "Max-Forwards: %d\r\n", e->max_forwards);
    if (e->extra)
        puts_(&o, e->extra);
    puts_(&o, "\r\n");
    put_slice(&o, m->body);
    return done(&o);
}

size_t sip_build_response_forward(char *buf, size_t cap, const struct sip_msg *m, bool strip_trust)
{
    struct out o = {buf, 0, cap, false};
    put_slice(&o, m->start_line);
    puts_(&o, "\r\n");
    bool via_popped = false;
    for (unsigned i = 0; i < m->nhdrs; i++) {
        const struct sip_hdr *h = &m->hdrs[i];
        if (h->id == SIP_HDR_VIA && !via_popped) {
            put_header_minus_values(&o, h, 1);
            via_popped = true;
            continue;
        }
        if (strip_trust && is_trust(h))
            continue;
        put_slice(&o, h->raw);
    }
    puts_(&o, "\r\n");
    put_slice(&o, m->body);
    return done(&o);
}

size_t sip_build_cancel_or_ack(char *buf, size_t cap, const struct sip_msg *fwd, const char *method,
                               struct slice to)
{
    struct out o = {buf, 0, cap, false};
    putf(&o, "%s ", method);
    put_slice(&o, fwd->ruri);
    puts_(&o, " SIP/2.0\r\nVia: ");
    put_slice(&o, fwd->via.raw);
    puts_(&o, "\r\n");
    for (unsigned i = 0; i < fwd->nhdrs; i++) {
        const struct sip_hdr *h = &fwd->hdrs[i];
        if (h->id == SIP_HDR_ROUTE || h->id == SIP_HDR_FROM || h->id == SIP_HDR_CALL_ID)
            put_slice(&o, h->raw);
    }
    puts_(&o, "To: ");
    put_slice(&o, to);
    putf(&o, "\r\nCSeq: %u %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", fwd->cseq, method);
    return done(&o);
}
