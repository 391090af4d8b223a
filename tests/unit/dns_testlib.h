/* dns_testlib.h -- what the DNS unit tests share: a query builder and a
 * strict response decoder written apart from balancer/dns/ (so the tests do
 * not check the code against itself), plus a deterministic PRNG for the
 * mutation runs. Header-only: each test includes it once. */
#ifndef EP_DNS_TESTLIB_H
#define EP_DNS_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct tq_opts {
    uint16_t id, flags; /* flags: the second header word as sent (RD etc.) */
    bool edns;
    uint16_t payload;
    uint8_t version;
    bool do_bit;
};

/* A query for name (text, may have upper case) and type: its length. */
static inline size_t tq_build(uint8_t *out, const char *name, uint16_t type, uint16_t cls,
                              const struct tq_opts *o)
{
    size_t n = 0;
    out[n++] = (uint8_t)(o->id >> 8);
    out[n++] = (uint8_t)o->id;
    out[n++] = (uint8_t)(o->flags >> 8);
    out[n++] = (uint8_t)o->flags;
    out[n++] = 0;
    out[n++] = 1; /* qd */
    memset(out + n, 0, 4);
    n += 4;
    out[n++] = 0;
    out[n++] = o->edns ? 1 : 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        out[n++] = (uint8_t)l;
        memcpy(out + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    out[n++] = 0;
    out[n++] = (uint8_t)(type >> 8);
    out[n++] = (uint8_t)type;
    out[n++] = (uint8_t)(cls >> 8);
    out[n++] = (uint8_t)cls;
    if (o->edns) {
        out[n++] = 0;
        out[n++] = 0;
        out[n++] = 41;
        out[n++] = (uint8_t)(o->payload >> 8);
        out[n++] = (uint8_t)o->payload;
        out[n++] = 0;
        out[n++] = o->version;
        out[n++] = o->do_bit ? 0x80 : 0;
        out[n++] = 0;
        out[n++] = 0;
        out[n++] = 0;
    }
    return n;
}

struct trr {
    char name[256];
    uint16_t type, cls;
    uint32_t ttl;
    uint16_t rdlen;
    uint8_t rdata[512];       /* as in the message */
    char target[256];         /* NS, SRV target, SOA mname (decoded) */
    uint16_t port;            /* SRV */
    uint32_t serial, minimum; /* SOA */
};

struct tresp {
    uint16_t id, flags, qd, an, ns, ar;
    int rcode; /* with the OPT's extended bits */
    char qname[256];
    uint16_t qtype;
    struct trr rr[300];
    size_t n_rr;
    bool opt;
    uint16_t opt_payload;
    bool opt_do;
};

/* Decode a name at *off (pointers followed, loops and forward jumps
 * refused) into text; false when malformed. */
static inline bool td_name(const uint8_t *m, size_t len, size_t *off, char *out)
{
    size_t o = *off, w = 0;
    bool jumped = false;
    int hops = 0;
    out[0] = '\0';
    for (;;) {
        if (o >= len)
            return false;
        uint8_t b = m[o];
        if ((b & 0xC0) == 0xC0) {
            if (o + 1 >= len || ++hops > 20)
                return false;
            size_t t = (size_t)((b & 0x3F) << 8 | m[o + 1]);
            if (t >= o)
                return false;
            if (!jumped)
                *off = o + 2;
            jumped = true;
            o = t;
            continue;
        }
        if (b & 0xC0)
            return false;
        if (b == 0) {
            if (!jumped)
                *off = o + 1;
            if (w == 0)
                strcpy(out, ".");
            else
                out[w] = '\0';
            return true;
        }
        if (o + 1 + b > len || w + b + 2 > 255)
            return false;
        if (w)
            out[w++] = '.';
        for (size_t i = 0; i < b; i++) {
            char c = (char)m[o + 1 + i];
            out[w++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        o += (size_t)b + 1;
    }
}

static inline uint16_t td16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t td32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decode a whole response strictly: every count matches, every RR's rdata
 * is within its length (names in NS/SRV/SOA rdata end exactly there),
 * nothing after the last RR. */
static inline bool td_decode(const uint8_t *m, size_t len, struct tresp *r)
{
    memset(r, 0, sizeof(*r));
    if (len < 12)
        return false;
    r->id = td16(m);
    r->flags = td16(m + 2);
    r->qd = td16(m + 4);
    r->an = td16(m + 6);
    r->ns = td16(m + 8);
    r->ar = td16(m + 10);
    r->rcode = r->flags & 0xF;
    size_t off = 12;
    if (r->qd > 1)
        return false;
    if (r->qd) {
        if (!td_name(m, len, &off, r->qname) || off + 4 > len)
            return false;
        r->qtype = td16(m + off);
        off += 4;
    }
    size_t total = (size_t)r->an + r->ns + r->ar;
    for (size_t i = 0; i < total; i++) {
        struct trr x;
        memset(&x, 0, sizeof(x));
        if (!td_name(m, len, &off, x.name) || off + 10 > len)
            return false;
        x.type = td16(m + off);
        x.cls = td16(m + off + 2);
        x.ttl = td32(m + off + 4);
        x.rdlen = td16(m + off + 8);
        off += 10;
        if (off + x.rdlen > len || x.rdlen > sizeof(x.rdata))
            return false;
        memcpy(x.rdata, m + off, x.rdlen);
        size_t end = off + x.rdlen, o = off;
        switch (x.type) {
        case 1:
            if (x.rdlen != 4)
                return false;
            break;
        case 28:
            if (x.rdlen != 16)
                return false;
            break;
        case 2:
            if (!td_name(m, len, &o, x.target) || o != end)
                return false;
            break;
        case 33:
            if (x.rdlen < 7)
                return false;
            x.port = td16(m + off + 4);
            o = off + 6;
            if (m[o] & 0xC0) /* RFC 2782: no compression in the target */
                return false;
            if (!td_name(m, len, &o, x.target) || o != end)
                return false;
            break;
        case 6: {
            char rname[256];
            if (!td_name(m, len, &o, x.target) || !td_name(m, len, &o, rname) || o + 20 != end)
                return false;
            x.serial = td32(m + o);
            x.minimum = td32(m + o + 16);
            break;
        }
        case 41:
            if (i < (size_t)r->an + r->ns || r->opt || strcmp(x.name, ".") != 0)
                return false;
            r->opt = true;
            r->opt_payload = x.cls;
            r->opt_do = (x.ttl & 0x8000) != 0;
            r->rcode |= (int)((x.ttl >> 24) << 4);
            break;
        }
        off = end;
        if (x.type != 41 && r->n_rr < sizeof(r->rr) / sizeof(r->rr[0]))
            r->rr[r->n_rr++] = x;
    }
    return off == len;
}

/* The RRs of one section: 0 answer, 1 authority, 2 additional (OPT not
 * counted, it is not stored). */
static inline size_t td_section(const struct tresp *r, int sec, const struct trr **first)
{
    size_t start = sec == 0 ? 0 : sec == 1 ? r->an : (size_t)r->an + r->ns;
    size_t n = sec == 0 ? r->an : sec == 1 ? r->ns : r->ar - (r->opt ? 1 : 0);
    *first = &r->rr[start];
    return n;
}

static inline uint64_t t_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
