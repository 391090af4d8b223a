/* wire.c -- reading DNS queries and writing answers (see wire.h). */
#include "dns/wire.h"

#include <stdio.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Skip a name in an RR (compression allowed: a pointer ends it). Returns the
 * offset after it, or 0 when malformed. */
static size_t skip_name(const uint8_t *p, size_t len, size_t off)
{
    size_t total = 0;
    for (;;) {
        if (off >= len)
            return 0;
        uint8_t b = p[off];
        if ((b & 0xC0) == 0xC0) {
            if (off + 2 > len || (size_t)(((b & 0x3F) << 8) | p[off + 1]) >= off)
                return 0; /* pointers only point back */
            return off + 2;
        }
        if (b & 0xC0)
            return 0; /* 01/10: extended label types, unused */
        total += (size_t)b + 1;
        if (total > DNS_MAX_NAME)
            return 0;
        if (b == 0)
            return off + 1;
        off += (size_t)b + 1;
    }
}

enum dns_parse_result dns_parse_query(const uint8_t *pkt, size_t len, struct dns_query *q)
{
    q->has_question = false;
    q->edns = false;
    q->edns_do = false;
    q->edns_version = 0;
    q->edns_payload = 0;
    q->qname_len = 0;
    q->qlabels = 0;
    if (len < DNS_HDR_LEN)
        return DNS_PARSE_DROP;
    q->id = rd16(pkt);
    q->flags = rd16(pkt + 2);
    q->opcode = (uint8_t)((q->flags >> 11) & 0xF);
    if (q->flags & DNS_F_QR)
        return DNS_PARSE_DROP; /* a response: answering it could loop */
    if (q->opcode != 0)
        return DNS_PARSE_NOTIMP;
    uint16_t qd = rd16(pkt + 4), an = rd16(pkt + 6), ns = rd16(pkt + 8), ar = rd16(pkt + 10);
    if (qd != 1 || an != 0 || ns != 0)
        return DNS_PARSE_FORMERR;
    /* the question: an uncompressed name */
    size_t off = DNS_HDR_LEN, n = 0;
    for (;;) {
        if (off >= len)
            return DNS_PARSE_FORMERR;
        uint8_t b = pkt[off];
        if (b & 0xC0)
            return DNS_PARSE_FORMERR; /* nothing before it to point at */
        if (n + b + 1 > DNS_MAX_NAME || off + 1 + b > len)
            return DNS_PARSE_FORMERR;
        q->qname[n++] = b;
        if (b == 0)
            break;
        for (size_t i = 1; i <= b; i++)
            q->qname[n++] = lower(pkt[off + i]);
        q->qlabels++;
        off += (size_t)b + 1;
    }
    off++;
    if (off + 4 > len)
        return DNS_PARSE_FORMERR;
    q->qname_len = (uint8_t)n;
    q->qtype = rd16(pkt + off);
    q->qclass = rd16(pkt + off + 2);
    off += 4;
    q->question_end = (uint16_t)off;
    q->has_question = true;
    /* additional records: at most one OPT; others (TSIG...) only skipped */
    bool opt_bad = false;
    for (unsigned i = 0; i < ar; i++) {
        size_t start = off;
        off = skip_name(pkt, len, off);
        if (!off || off + 10 > len)
            return DNS_PARSE_FORMERR;
        uint16_t type = rd16(pkt + off), cls = rd16(pkt + off + 2);
        uint32_t ttl = rd32(pkt + off + 4);
        uint16_t rdlen = rd16(pkt + off + 8);
        off += 10;
        if (off + rdlen > len)
            return DNS_PARSE_FORMERR;
        if (type == DNS_T_OPT) {
            if (q->edns || pkt[start] != 0 || off - 10 != start + 1)
                opt_bad = true; /* two OPTs, or not owned by the root */
            /* options: code, length, data, within rdlen */
            size_t o = off, end = off + rdlen;
            while (o < end) {
                if (o + 4 > end || o + 4 + rd16(pkt + o + 2) > end) {
                    opt_bad = true;
                    break;
                }
                o += 4 + (size_t)rd16(pkt + o + 2);
            }
            q->edns = true;
            q->edns_payload = cls;
            q->edns_version = (uint8_t)(ttl >> 16);
            q->edns_do = (ttl & 0x8000) != 0;
        }
        off += rdlen;
    }
    if (off != len || opt_bad) {
        q->edns = false; /* not echoed in the FORMERR */
        return DNS_PARSE_FORMERR;
    }
    if (q->edns && q->edns_version != 0)
        return DNS_PARSE_BADVERS;
    return DNS_PARSE_OK;
}

size_t dns_udp_limit(const struct dns_query *q, size_t our_max)
{
    if (!q->edns)
        return 512;
    size_t c = q->edns_payload < 512 ? 512 : q->edns_payload;
    return c < our_max ? c : our_max;
}

size_t dns_name_from_text(const char *text, uint8_t *out)
{
    size_t n = 0, tl = strlen(text);
    if (tl && text[tl - 1] == '.')
        tl--;
    size_t i = 0;
    while (i < tl) {
        size_t j = i;
        while (j < tl && text[j] != '.')
            j++;
        size_t ll = j - i;
        if (ll == 0 || ll > 63 || n + 1 + ll + 1 > DNS_MAX_NAME)
            return 0;
        out[n++] = (uint8_t)ll;
        for (size_t k = i; k < j; k++)
            out[n++] = lower((uint8_t)text[k]);
        i = j + 1;
        if (j < tl && i == tl)
            return 0; /* "a..": an empty last label */
    }
    out[n++] = 0;
    return n;
}

void dns_name_to_text(const uint8_t *wire, char *out, size_t outlen)
{
    size_t o = 0, i = 0;
    if (outlen == 0)
        return;
    while (wire[i] && i < DNS_MAX_NAME) {
        uint8_t l = wire[i];
        for (size_t k = 1; k <= l && o + 2 < outlen; k++)
            out[o++] = (char)wire[i + k];
        i += (size_t)l + 1;
        if (wire[i] && o + 2 < outlen)
            out[o++] = '.';
    }
    if (o == 0 && outlen > 1)
        out[o++] = '.';
    out[o] = '\0';
}

bool dns_name_in_zone(const uint8_t *n, size_t n_len, const uint8_t *z, size_t z_len)
{
    if (n_len < z_len || memcmp(n + n_len - z_len, z, z_len) != 0)
        return false;
    /* the suffix must start at a label boundary */
    size_t pos = 0;
    while (pos < n_len - z_len)
        pos += (size_t)n[pos] + 1;
    return pos == n_len - z_len;
}

/* ---- writing ---- */

void dns_writer_init(struct dns_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = false;
    w->n_comp = 0;
}

void dns_put_bytes(struct dns_writer *w, const void *p, size_t n)
{
    if (w->overflow || w->len + n > w->cap) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void dns_put_u8(struct dns_writer *w, uint8_t v)
{
    dns_put_bytes(w, &v, 1);
}

void dns_put_u16(struct dns_writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    dns_put_bytes(w, b, 2);
}

void dns_put_u32(struct dns_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    dns_put_bytes(w, b, 4);
}

void dns_set_u16(struct dns_writer *w, size_t off, uint16_t v)
{
    if (off + 2 <= w->len) {
        w->buf[off] = (uint8_t)(v >> 8);
        w->buf[off + 1] = (uint8_t)v;
    }
}

void dns_writer_remember(struct dns_writer *w, size_t off)
{
    /* every label of the name at off */
    while (off < w->len && w->n_comp < DNS_COMP_MAX && off < 0x3FFF) {
        uint8_t b = w->buf[off];
        if (b == 0 || (b & 0xC0))
            return;
        w->comp[w->n_comp++] = (uint16_t)off;
        off += (size_t)b + 1;
    }
}

/* Is the name in the message at off (following pointers) equal to suffix? */
static bool name_at_equals(const struct dns_writer *w, size_t off, const uint8_t *suffix)
{
    int hops = 0;
    size_t s = 0;
    for (;;) {
        if (off >= w->len)
            return false;
        uint8_t b = w->buf[off];
        if ((b & 0xC0) == 0xC0) {
            if (off + 1 >= w->len || ++hops > 16)
                return false;
            off = (size_t)((b & 0x3F) << 8 | w->buf[off + 1]);
            continue;
        }
        if (b != suffix[s])
            return false;
        if (b == 0)
            return true;
        if (off + 1 + b > w->len)
            return false;
        for (size_t i = 1; i <= b; i++)
            if (lower(w->buf[off + i]) != suffix[s + i])
                return false;
        off += (size_t)b + 1;
        s += (size_t)b + 1;
    }
}

void dns_put_name(struct dns_writer *w, const uint8_t *name, bool compress)
{
    size_t pos = 0;
    int target = -1;
    if (compress) {
        for (size_t p = 0; name[p] != 0 && target < 0; p += (size_t)name[p] + 1) {
            for (size_t k = 0; k < w->n_comp; k++)
                if (name_at_equals(w, w->comp[k], name + p)) {
                    target = w->comp[k];
                    pos = p;
                    break;
                }
        }
    }
    size_t start = w->len;
    if (target < 0) {
        size_t n = 0;
        while (name[n])
            n += (size_t)name[n] + 1;
        dns_put_bytes(w, name, n + 1);
    } else {
        dns_put_bytes(w, name, pos);
        dns_put_u16(w, (uint16_t)(0xC000 | target));
    }
    if (!w->overflow && compress)
        dns_writer_remember(w, start);
}

void dns_put_header(struct dns_writer *w, const struct dns_query *q, bool aa, bool tc, int rcode,
                    uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
    uint16_t f = DNS_F_QR | (uint16_t)(q->opcode << 11) | (q->flags & (DNS_F_RD | DNS_F_CD)) |
                 (aa ? DNS_F_AA : 0) | (tc ? DNS_F_TC : 0) | (uint16_t)(rcode & 0xF);
    dns_put_u16(w, q->id);
    dns_put_u16(w, f);
    dns_put_u16(w, qd);
    dns_put_u16(w, an);
    dns_put_u16(w, ns);
    dns_put_u16(w, ar);
}

void dns_put_opt(struct dns_writer *w, const struct dns_query *q, uint16_t payload, int rcode)
{
    dns_put_u8(w, 0);
    dns_put_u16(w, DNS_T_OPT);
    dns_put_u16(w, payload);
    dns_put_u32(w, (uint32_t)((rcode >> 4) & 0xFF) << 24 | (q->edns_do ? 0x8000u : 0));
    dns_put_u16(w, 0);
}

size_t dns_write_short(const uint8_t *pkt, const struct dns_query *q, int rcode, bool aa, bool tc,
                       uint16_t payload, uint8_t *out, size_t cap)
{
    struct dns_writer w;
    dns_writer_init(&w, out, cap);
    bool qd = q->has_question;
    dns_put_header(&w, q, aa, tc, rcode, qd ? 1 : 0, 0, 0, q->edns ? 1 : 0);
    if (qd)
        dns_put_bytes(&w, pkt + DNS_HDR_LEN, q->question_end - DNS_HDR_LEN);
    if (q->edns)
        dns_put_opt(&w, q, payload, rcode);
    return w.overflow ? 0 : w.len;
}
