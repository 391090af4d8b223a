/* zone.c -- the pool's zone as answer templates (see zone.h): records
 * collected from the settings and the nodes, grouped by name and type, each
 * RRset written once with the writer's compression against a question of
 * that very name; queries then cost a hash lookup and a few memcpy. */
#include "dns/zone.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A record before it becomes bytes. */
struct rec {
    uint8_t owner[DNS_MAX_NAME];
    uint8_t owner_len;
    uint16_t type;
    uint8_t addr[16];             /* A, AAAA */
    uint8_t target[DNS_MAX_NAME]; /* NS, SRV */
    uint16_t port;                /* SRV */
};

/* A prebuilt answer: the bytes after the question, in z->data. */
struct zset {
    uint16_t type;
    uint16_t an, ns, ar;
    uint32_t off;
    uint32_t an_len, ns_len, ar_len;
    uint32_t rot_size; /* bytes per RR of the rotated answer section (0: not rotated) */
};

struct zname {
    uint8_t wire[DNS_MAX_NAME];
    uint8_t len;
    uint32_t hash;
    uint32_t first, count; /* its typed sets: sets[first .. first+count) */
    uint32_t nodata;       /* its NODATA set */
    int32_t any;           /* the set ANY gets, -1: NODATA */
};

struct dns_zone {
    uint8_t apex[DNS_MAX_NAME];
    uint8_t apex_len;
    uint8_t mname[DNS_MAX_NAME], rname[DNS_MAX_NAME];
    uint32_t ttl, neg_ttl, serial, refresh, retry, expire, minimum;
    struct zname *names;
    size_t n_names;
    uint32_t *table; /* name index + 1; 0: empty */
    size_t mask;
    struct zset *sets;
    size_t n_sets, cap_sets;
    uint8_t *data;
    size_t data_len, data_cap;
    struct dns_zone_info info;
};

struct builder {
    struct rec *recs;
    size_t n, cap;
    uint8_t *scratch; /* 65535 bytes */
    bool failed;
};

static uint32_t name_hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static size_t wire_len(const uint8_t *n)
{
    size_t i = 0;
    while (n[i])
        i += (size_t)n[i] + 1;
    return i + 1;
}

static struct rec *add_rec(struct builder *bd, const uint8_t *owner, uint16_t type)
{
    if (bd->failed)
        return NULL;
    if (bd->n == bd->cap) {
        size_t cap = bd->cap ? bd->cap * 2 : 64;
        struct rec *r = realloc(bd->recs, cap * sizeof(*r));
        if (!r) {
            bd->failed = true;
            return NULL;
        }
        bd->recs = r;
        bd->cap = cap;
    }
    struct rec *r = &bd->recs[bd->n++];
    memset(r, 0, sizeof(*r));
    r->owner_len = (uint8_t)wire_len(owner);
    memcpy(r->owner, owner, r->owner_len);
    r->type = type;
    return r;
}

static bool same_owner(const struct rec *r, const uint8_t *name, size_t len)
{
    return r->owner_len == len && memcmp(r->owner, name, len) == 0;
}

/* An A or AAAA record, unless the same one is there already. */
static void add_addr(struct builder *bd, const uint8_t *owner, const struct sockaddr_storage *ss)
{
    uint16_t type = ss->ss_family == AF_INET6 ? DNS_T_AAAA : DNS_T_A;
    const void *a = type == DNS_T_A ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                                    : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    size_t alen = type == DNS_T_A ? 4 : 16, olen = wire_len(owner);
    for (size_t i = 0; i < bd->n; i++)
        if (bd->recs[i].type == type && same_owner(&bd->recs[i], owner, olen) &&
            memcmp(bd->recs[i].addr, a, alen) == 0)
            return;
    struct rec *r = add_rec(bd, owner, type);
    if (r)
        memcpy(r->addr, a, alen);
}

static bool has_type(const struct builder *bd, const uint8_t *owner, uint16_t type)
{
    size_t olen = wire_len(owner);
    for (size_t i = 0; i < bd->n; i++)
        if (bd->recs[i].type == type && same_owner(&bd->recs[i], owner, olen))
            return true;
    return false;
}

/* label(s) + zone: "_sip._tls" + "contoso.test" */
static size_t name_under(const char *prefix, const uint8_t *apex, size_t apex_len, uint8_t *out)
{
    size_t n = dns_name_from_text(prefix, out);
    if (n <= 1 || n - 1 + apex_len > DNS_MAX_NAME)
        return 0;
    memcpy(out + n - 1, apex, apex_len);
    return n - 1 + apex_len;
}

/* ---- writing records ---- */

static void put_rr(struct dns_writer *w, const struct dns_zone *z, const struct rec *r,
                   uint32_t ttl)
{
    dns_put_name(w, r->owner, true);
    dns_put_u16(w, r->type);
    dns_put_u16(w, DNS_C_IN);
    dns_put_u32(w, ttl);
    size_t at = w->len;
    dns_put_u16(w, 0);
    switch (r->type) {
    case DNS_T_A:
        dns_put_bytes(w, r->addr, 4);
        break;
    case DNS_T_AAAA:
        dns_put_bytes(w, r->addr, 16);
        break;
    case DNS_T_NS:
        dns_put_name(w, r->target, true);
        break;
    case DNS_T_SRV: {
        dns_put_u16(w, 0); /* priority */
        dns_put_u16(w, 0); /* weight */
        dns_put_u16(w, r->port);
        size_t t = w->len;
        dns_put_name(w, r->target, false); /* RFC 2782: the target is not compressed */
        if (!w->overflow)
            dns_writer_remember(w, t); /* but later names may point at it */
        break;
    }
    case DNS_T_SOA:
        dns_put_name(w, z->mname, true);
        dns_put_name(w, z->rname, true);
        dns_put_u32(w, z->serial);
        dns_put_u32(w, z->refresh);
        dns_put_u32(w, z->retry);
        dns_put_u32(w, z->expire);
        dns_put_u32(w, z->minimum);
        break;
    }
    if (!w->overflow)
        dns_set_u16(w, at, (uint16_t)(w->len - at - 2));
}

static void put_soa(struct dns_writer *w, const struct dns_zone *z, uint32_t ttl)
{
    struct rec r;
    memcpy(r.owner, z->apex, z->apex_len);
    r.owner_len = z->apex_len;
    r.type = DNS_T_SOA;
    put_rr(w, z, &r, ttl);
}

/* The A/AAAA records of name (additional data for NS and SRV). */
static uint16_t put_addresses(struct dns_writer *w, const struct dns_zone *z,
                              const struct builder *bd, const uint8_t *name)
{
    uint16_t k = 0;
    size_t len = wire_len(name);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < bd->n; i++) {
            const struct rec *r = &bd->recs[i];
            if (r->type == (pass ? DNS_T_AAAA : DNS_T_A) && same_owner(r, name, len)) {
                put_rr(w, z, r, z->ttl);
                k++;
            }
        }
    return k;
}

/* Build one answer for nm: type's RRset (type 0: the NODATA answer). */
static int build_set(struct dns_zone *z, struct builder *bd, const struct zname *nm, uint16_t type)
{
    struct dns_writer w;
    dns_writer_init(&w, bd->scratch, 65535);
    uint8_t hdr[DNS_HDR_LEN] = {0};
    dns_put_bytes(&w, hdr, sizeof(hdr));
    dns_put_bytes(&w, nm->wire, nm->len);
    dns_put_u32(&w, 0); /* qtype, qclass */
    size_t qend = w.len;
    dns_writer_remember(&w, DNS_HDR_LEN);
    struct zset s = {.type = type};
    if (type) {
        for (size_t i = 0; i < bd->n; i++) {
            const struct rec *r = &bd->recs[i];
            if (r->type == type && same_owner(r, nm->wire, nm->len)) {
                put_rr(&w, z, r, z->ttl);
                s.an++;
            }
        }
    }
    s.an_len = (uint32_t)(w.len - qend);
    if (!type) {
        put_soa(&w, z, z->neg_ttl);
        s.ns = 1;
    }
    s.ns_len = (uint32_t)(w.len - qend - s.an_len);
    if (type == DNS_T_NS || type == DNS_T_SRV) {
        for (size_t i = 0; i < bd->n; i++) {
            const struct rec *r = &bd->recs[i];
            if (r->type != type || !same_owner(r, nm->wire, nm->len))
                continue;
            size_t tl = wire_len(r->target);
            bool dup = false; /* two SRV records to one target: its addresses once */
            for (size_t j = 0; j < i && !dup; j++)
                dup = bd->recs[j].type == type && same_owner(&bd->recs[j], nm->wire, nm->len) &&
                      wire_len(bd->recs[j].target) == tl &&
                      memcmp(bd->recs[j].target, r->target, tl) == 0;
            if (!dup && dns_name_in_zone(r->target, tl, z->apex, z->apex_len))
                s.ar += put_addresses(&w, z, bd, r->target);
        }
    }
    s.ar_len = (uint32_t)(w.len - qend - s.an_len - s.ns_len);
    if (w.overflow)
        return -1;
    if ((type == DNS_T_A || type == DNS_T_AAAA) && s.an > 1 && s.an_len % s.an == 0)
        s.rot_size = s.an_len / s.an;
    size_t body = w.len - qend;
    if (z->data_len + body > z->data_cap) {
        size_t cap = z->data_cap ? z->data_cap * 2 : 4096;
        while (cap < z->data_len + body)
            cap *= 2;
        uint8_t *d = realloc(z->data, cap);
        if (!d)
            return -1;
        z->data = d;
        z->data_cap = cap;
    }
    memcpy(z->data + z->data_len, bd->scratch + qend, body);
    s.off = (uint32_t)z->data_len;
    z->data_len += body;
    if (z->n_sets == z->cap_sets) {
        size_t cap = z->cap_sets ? z->cap_sets * 2 : 64;
        struct zset *ns = realloc(z->sets, cap * sizeof(*ns));
        if (!ns)
            return -1;
        z->sets = ns;
        z->cap_sets = cap;
    }
    z->sets[z->n_sets++] = s;
    return 0;
}

static const struct zname *lookup(const struct dns_zone *z, const uint8_t *name, size_t len)
{
    if (!z->table)
        return NULL;
    uint32_t h = name_hash(name, len);
    for (size_t i = h & z->mask;; i = (i + 1) & z->mask) {
        uint32_t v = z->table[i];
        if (!v)
            return NULL;
        const struct zname *nm = &z->names[v - 1];
        if (nm->hash == h && nm->len == len && memcmp(nm->wire, name, len) == 0)
            return nm;
    }
}

/* Every owner and every name between an owner and the apex (empty
 * non-terminals), in order of first appearance. */
static int collect_names(struct dns_zone *z, const struct builder *bd)
{
    size_t cap = bd->n * 4 + 8;
    z->names = calloc(cap, sizeof(*z->names));
    size_t tsize = 16;
    while (tsize < cap * 2)
        tsize *= 2;
    z->table = calloc(tsize, sizeof(*z->table));
    if (!z->names || !z->table)
        return -1;
    z->mask = tsize - 1;
    for (size_t i = 0; i < bd->n; i++) {
        const uint8_t *nm = bd->recs[i].owner;
        size_t len = bd->recs[i].owner_len;
        /* the owner, then its ancestors down to the apex */
        while (len >= z->apex_len) {
            if (!lookup(z, nm, len)) {
                if (z->n_names == cap)
                    return -1;
                struct zname *e = &z->names[z->n_names++];
                memcpy(e->wire, nm, len);
                e->len = (uint8_t)len;
                e->hash = name_hash(nm, len);
                e->any = -1;
                size_t k = e->hash & z->mask;
                while (z->table[k])
                    k = (k + 1) & z->mask;
                z->table[k] = (uint32_t)z->n_names;
            }
            if (len == z->apex_len)
                break;
            len -= (size_t)nm[0] + 1;
            nm += nm[0] + 1;
        }
    }
    return 0;
}

struct dns_zone *dns_zone_build(const struct balancer_config *c, const struct health_node *nodes,
                                size_t n, uint32_t serial, char *err, size_t errlen)
{
    struct dns_zone *z = calloc(1, sizeof(*z));
    struct builder bd = {0};
    bd.scratch = malloc(65535);
    if (!z || !bd.scratch)
        goto nomem;
    size_t al = dns_name_from_text(c->dns_zone, z->apex);
    size_t rl = dns_name_from_text(c->dns_soa_rname, z->rname);
    uint8_t pool[DNS_MAX_NAME], name[DNS_MAX_NAME];
    size_t pl = dns_name_from_text(c->dns_pool_fqdn, pool);
    if (!al || !rl || !pl || !dns_name_in_zone(pool, pl, z->apex, al)) {
        snprintf(err, errlen, "dns.zone, dns.pool_fqdn or dns.soa_rname is not a usable name");
        goto fail;
    }
    z->apex_len = (uint8_t)al;
    z->ttl = (uint32_t)c->dns_ttl;
    z->minimum = (uint32_t)c->dns_soa_minimum;
    z->neg_ttl = z->minimum < z->ttl ? z->minimum : z->ttl;
    z->serial = c->dns_soa_serial ? (uint32_t)c->dns_soa_serial : serial;
    z->refresh = (uint32_t)c->dns_soa_refresh;
    z->retry = (uint32_t)c->dns_soa_retry;
    z->expire = (uint32_t)c->dns_soa_expire;

    /* apex: SOA, NS (+ glue) */
    add_rec(&bd, z->apex, DNS_T_SOA);
    for (int i = 0; i < c->dns_ns.n; i++) {
        char text[300];
        const char *e = c->dns_ns.v[i], *at = strchr(e, '@');
        snprintf(text, sizeof(text), "%.*s", (int)(at ? (size_t)(at - e) : strlen(e)), e);
        size_t nl = dns_name_from_text(text, name);
        if (!nl) {
            snprintf(err, errlen, "dns.ns: \"%s\" is not a name", e);
            goto fail;
        }
        if (i == 0)
            memcpy(z->mname, name, nl);
        struct rec *r = add_rec(&bd, z->apex, DNS_T_NS);
        if (r)
            memcpy(r->target, name, nl);
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        if (at && dns_name_in_zone(name, nl, z->apex, al)) {
            if (inet_pton(AF_INET, at + 1, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
                ss.ss_family = AF_INET;
            else if (inet_pton(AF_INET6, at + 1, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
                ss.ss_family = AF_INET6;
            if (ss.ss_family)
                add_addr(&bd, name, &ss);
        }
    }
    /* the pool name: the healthy nodes, or every node (fail open); the name
     * exists even with no address (NODATA, not NXDOMAIN): type 0, a name
     * without a record */
    add_rec(&bd, pool, 0);
    size_t known = 0, healthy = 0;
    for (size_t i = 0; i < n; i++) {
        known += nodes[i].id[0] != '\0';
        healthy += nodes[i].id[0] && nodes[i].healthy;
    }
    bool all = healthy == 0 && c->health_fail_open;
    size_t answered = 0;
    for (size_t i = 0; i < n; i++) {
        if (!nodes[i].id[0] || !(nodes[i].healthy || all))
            continue;
        size_t before = bd.n;
        add_addr(&bd, pool, &nodes[i].ext_addr);
        answered += bd.n > before;
    }
    /* SRV */
    static const char *const sip_srv[] = {"_sipfederationtls._tcp", "_sip._tls"};
    for (size_t i = 0; i < 2 + (c->dns_xmpp_port ? 1 : 0); i++) {
        size_t nl = name_under(i < 2 ? sip_srv[i] : "_xmpp-server._tcp", z->apex, al, name);
        if (!nl) {
            snprintf(err, errlen, "dns.zone \"%s\" is too long for the SRV names", c->dns_zone);
            goto fail;
        }
        struct rec *r = add_rec(&bd, name, DNS_T_SRV);
        if (r) {
            memcpy(r->target, pool, pl);
            r->port = (uint16_t)(i < 2 ? c->dns_sip_port : c->dns_xmpp_port);
        }
    }
    /* a name per node */
    for (size_t i = 0; c->dns_node_records && i < n; i++) {
        if (!nodes[i].id[0])
            continue;
        size_t nl = name_under(nodes[i].id, z->apex, al, name);
        if (!nl || (nl == pl && memcmp(name, pool, pl) == 0) || has_type(&bd, name, DNS_T_SRV))
            continue; /* not a name, or the pool's: the pool's records stand */
        /* a name server of the same name: its glue and the node share the RRset */
        add_addr(&bd, name, &nodes[i].ext_addr);
    }
    if (bd.failed)
        goto nomem;

    /* names, then each name's sets (in order of first appearance), NODATA, ANY */
    if (collect_names(z, &bd) < 0)
        goto nomem;
    for (size_t k = 0; k < z->n_names; k++) {
        struct zname *nm = &z->names[k];
        nm->first = (uint32_t)z->n_sets;
        uint16_t seen[16];
        size_t n_seen = 0;
        for (size_t i = 0; i < bd.n; i++) {
            const struct rec *r = &bd.recs[i];
            if (!r->type || !same_owner(r, nm->wire, nm->len))
                continue;
            bool done = false;
            for (size_t j = 0; j < n_seen; j++)
                done |= seen[j] == r->type;
            if (done || n_seen == 16)
                continue;
            seen[n_seen++] = r->type;
            if (build_set(z, &bd, nm, r->type) < 0) {
                snprintf(err, errlen, "an answer for a name of the zone is too large");
                goto fail;
            }
        }
        nm->count = (uint32_t)(z->n_sets - nm->first);
        for (uint32_t j = 0; j < nm->count; j++)
            if (nm->any < 0 || z->sets[nm->first + j].type == DNS_T_SOA)
                nm->any = (int32_t)(nm->first + j);
        nm->nodata = (uint32_t)z->n_sets;
        if (build_set(z, &bd, nm, 0) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    z->info = (struct dns_zone_info){.nodes = known,
                                     .healthy = healthy,
                                     .answered = answered,
                                     .fail_open = all && known > 0,
                                     .serial = z->serial,
                                     .names = z->n_names,
                                     .rrsets = z->n_sets};
    free(bd.recs);
    free(bd.scratch);
    return z;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    free(bd.recs);
    free(bd.scratch);
    dns_zone_free(z);
    return NULL;
}

void dns_zone_free(struct dns_zone *z)
{
    if (!z)
        return;
    free(z->names);
    free(z->table);
    free(z->sets);
    free(z->data);
    free(z);
}

void dns_zone_info(const struct dns_zone *z, struct dns_zone_info *out)
{
    *out = z->info;
}

/* NXDOMAIN: the question, the SOA in authority (written per query: the
 * name is any name). */
static size_t answer_nxdomain(const struct dns_zone *z, const uint8_t *pkt,
                              const struct dns_query *q, uint8_t *out, size_t cap, uint16_t payload)
{
    struct dns_writer w;
    dns_writer_init(&w, out, cap);
    dns_put_header(&w, q, true, false, DNS_R_NXDOMAIN, 1, 0, 1, q->edns ? 1 : 0);
    dns_put_bytes(&w, pkt + DNS_HDR_LEN, q->question_end - DNS_HDR_LEN);
    /* the packet's name may differ in case: compress against our lower-case copy */
    dns_writer_remember(&w, DNS_HDR_LEN);
    put_soa(&w, z, z->neg_ttl);
    if (q->edns)
        dns_put_opt(&w, q, payload, 0);
    return w.overflow ? 0 : w.len;
}

size_t dns_zone_answer(const struct dns_zone *z, const uint8_t *pkt, const struct dns_query *q,
                       uint8_t *out, size_t cap, size_t limit, uint16_t payload, uint32_t rotate,
                       int *rcode, bool *tc)
{
    *tc = false;
    if (q->qclass != DNS_C_IN && q->qclass != DNS_C_ANY) {
        *rcode = DNS_R_REFUSED;
        return dns_write_short(pkt, q, DNS_R_REFUSED, false, false, payload, out, cap);
    }
    const struct zname *nm = lookup(z, q->qname, q->qname_len);
    bool in_zone = nm || dns_name_in_zone(q->qname, q->qname_len, z->apex, z->apex_len);
    int bad = 0;
    switch (q->qtype) {
    case 0:
    case DNS_T_OPT:
    case DNS_T_TSIG:
    case DNS_T_TKEY:
        bad = DNS_R_FORMERR; /* meta types are not questions */
        break;
    case DNS_T_AXFR:
    case DNS_T_IXFR:
        bad = DNS_R_REFUSED; /* no zone transfers: the zone is made of live health */
        break;
    case DNS_T_MAILA:
    case DNS_T_MAILB:
        bad = DNS_R_NOTIMP;
        break;
    }
    if (!in_zone)
        bad = DNS_R_REFUSED;
    if (bad) {
        *rcode = bad;
        return dns_write_short(pkt, q, bad, bad != DNS_R_REFUSED && in_zone, false, payload, out,
                               cap);
    }
    if (!nm) {
        *rcode = DNS_R_NXDOMAIN;
        size_t len = answer_nxdomain(z, pkt, q, out, limit < cap ? limit : cap, payload);
        if (len)
            return len;
        *tc = true;
        return dns_write_short(pkt, q, DNS_R_NXDOMAIN, true, true, payload, out, cap);
    }
    const struct zset *s = NULL;
    for (uint32_t j = 0; j < nm->count && !s; j++)
        if (z->sets[nm->first + j].type == q->qtype)
            s = &z->sets[nm->first + j];
    if (!s)
        s = q->qtype == DNS_T_ANY && nm->any >= 0 ? &z->sets[nm->any] : &z->sets[nm->nodata];
    *rcode = DNS_R_NOERROR;
    size_t qlen = (size_t)q->question_end - DNS_HDR_LEN, opt = q->edns ? DNS_OPT_LEN : 0;
    size_t head = DNS_HDR_LEN + qlen, full = head + s->an_len + s->ns_len + s->ar_len + opt;
    if (limit > cap)
        limit = cap;
    bool with_ar = true;
    if (full > limit) {
        with_ar = false;
        if (full - s->ar_len > limit) {
            *tc = true;
            return dns_write_short(pkt, q, DNS_R_NOERROR, true, true, payload, out, cap);
        }
    }
    struct dns_writer w;
    dns_writer_init(&w, out, cap);
    dns_put_header(&w, q, true, false, DNS_R_NOERROR, 1, s->an, s->ns,
                   (uint16_t)((with_ar ? s->ar : 0) + (q->edns ? 1 : 0)));
    uint8_t *p = out + DNS_HDR_LEN;
    memcpy(p, pkt + DNS_HDR_LEN, qlen);
    p += qlen;
    const uint8_t *d = z->data + s->off;
    if (s->rot_size && s->an > 1) {
        size_t r = rotate % s->an, first = (s->an - r) * s->rot_size, rest = r * s->rot_size;
        memcpy(p, d + rest, first);
        memcpy(p + first, d, rest);
    } else {
        memcpy(p, d, s->an_len);
    }
    p += s->an_len;
    memcpy(p, d + s->an_len, s->ns_len + (with_ar ? s->ar_len : 0));
    p += s->ns_len + (with_ar ? s->ar_len : 0);
    w.len = (size_t)(p - out);
    if (q->edns)
        dns_put_opt(&w, q, payload, 0);
    return w.len;
}
