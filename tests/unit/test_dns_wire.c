/* test_dns_wire.c -- pins down balancer/dns/wire.c: a query's fields
 * (lower-cased name, EDNS), every way a query is malformed (FORMERR, DROP,
 * NOTIMP, BADVERS), names to and from text, compression that decodes back,
 * the short answers, and a parser that never reads outside the packet over
 * every truncation and a quarter million random mutations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dns/wire.h"
#include "dns_testlib.h"

static const struct tq_opts plain = {.id = 0x1234, .flags = 0x0100};
static const struct tq_opts edns = {
    .id = 0xBEEF, .flags = 0x0110, .edns = true, .payload = 4096, .do_bit = true};

static void test_parse_fields(void **state)
{
    uint8_t pkt[512];
    struct dns_query q;
    size_t n = tq_build(pkt, "SIP.Contoso.TEST", DNS_T_A, DNS_C_IN, &plain);
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_OK);
    assert_int_equal(q.id, 0x1234);
    assert_int_equal(q.opcode, 0);
    assert_int_equal(q.qtype, DNS_T_A);
    assert_int_equal(q.qclass, DNS_C_IN);
    assert_int_equal(q.qlabels, 3);
    assert_int_equal(q.qname_len, 18);
    assert_memory_equal(q.qname, "\3sip\7contoso\4test", 18);
    assert_int_equal(q.question_end, n);
    assert_false(q.edns);
    assert_int_equal(dns_udp_limit(&q, 1232), 512);

    n = tq_build(pkt, "contoso.test", DNS_T_SOA, DNS_C_IN, &edns);
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_OK);
    assert_true(q.edns);
    assert_true(q.edns_do);
    assert_int_equal(q.edns_payload, 4096);
    assert_int_equal(dns_udp_limit(&q, 1232), 1232);
    q.edns_payload = 100; /* under 512 counts as 512 */
    assert_int_equal(dns_udp_limit(&q, 1232), 512);

    /* the root */
    n = tq_build(pkt, "", DNS_T_NS, DNS_C_IN, &plain);
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_OK);
    assert_int_equal(q.qname_len, 1);
    assert_int_equal(q.qlabels, 0);
}

/* The header says what it is: a response is never answered, an opcode
 * other than QUERY is NOTIMP, counts other than 1/0/0 are FORMERR. */
static void test_parse_header_cases(void **state)
{
    uint8_t pkt[512];
    struct dns_query q;
    size_t n = tq_build(pkt, "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain);
    for (size_t l = 0; l < DNS_HDR_LEN; l++)
        assert_int_equal(dns_parse_query(pkt, l, &q), DNS_PARSE_DROP);
    uint8_t m[512];
    memcpy(m, pkt, n);
    m[2] |= 0x80; /* QR */
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_DROP);
    memcpy(m, pkt, n);
    m[2] = (uint8_t)((m[2] & 0x87) | (5 << 3)); /* UPDATE */
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_NOTIMP);
    assert_int_equal(q.opcode, 5);
    memcpy(m, pkt, n);
    m[5] = 0; /* no question */
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    m[5] = 2; /* two */
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    memcpy(m, pkt, n);
    m[7] = 1; /* an answer in a query */
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    memcpy(m, pkt, n);
    m[9] = 1; /* authority */
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    memcpy(m, pkt, n);
    m[11] = 1; /* an additional record announced, none there */
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
}

static void test_parse_bad_names(void **state)
{
    uint8_t pkt[600];
    struct dns_query q;
    size_t n = tq_build(pkt, "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain);
    uint8_t m[600];
    /* a pointer in the question: nothing before it to point at */
    memcpy(m, pkt, n);
    m[12] = 0xC0;
    m[13] = 0x0C;
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    /* extended label types 01/10 */
    memcpy(m, pkt, n);
    m[12] = 0x43;
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    memcpy(m, pkt, n);
    m[12] = 0x83;
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    /* a label running past the end */
    memcpy(m, pkt, n);
    m[12] = 60;
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
    /* trailing bytes after the question */
    memcpy(m, pkt, n);
    m[n] = 0;
    assert_int_equal(dns_parse_query(m, n + 1, &q), DNS_PARSE_FORMERR);
    /* a name of 255 bytes is fine, 257 is not */
    char name[400];
    size_t w = 0;
    for (int i = 0; i < 4; i++) { /* 4 x (1 + 62) = 252, + 1 + 1 (label "a") + root = 255 */
        memset(name + w, 'a' + i, 62);
        w += 62;
        name[w++] = '.';
    }
    name[w++] = 'z';
    name[w] = '\0';
    n = tq_build(m, name, DNS_T_A, DNS_C_IN, &plain);
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_OK);
    assert_int_equal(q.qname_len, 255);
    memcpy(name + w, "zz", 3);
    n = tq_build(m, name, DNS_T_A, DNS_C_IN, &plain);
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_FORMERR);
}

static void test_parse_edns_cases(void **state)
{
    uint8_t pkt[600], m[600];
    struct dns_query q;
    size_t n = tq_build(pkt, "sip.contoso.test", DNS_T_A, DNS_C_IN, &edns);
    /* version 1 */
    memcpy(m, pkt, n);
    m[n - 5] = 1;
    assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_BADVERS);
    assert_true(q.has_question);
    /* an option within the OPT's length is fine (a cookie) */
    memcpy(m, pkt, n);
    uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    m[n - 1] = sizeof(cookie);
    memcpy(m + n, cookie, sizeof(cookie));
    assert_int_equal(dns_parse_query(m, n + sizeof(cookie), &q), DNS_PARSE_OK);
    assert_true(q.edns);
    /* an option longer than the OPT */
    m[n + 3] = 9;
    assert_int_equal(dns_parse_query(m, n + sizeof(cookie), &q), DNS_PARSE_FORMERR);
    assert_false(q.edns);
    /* a partial option header */
    memcpy(m, pkt, n);
    m[n - 1] = 2;
    m[n] = 0;
    m[n + 1] = 10;
    assert_int_equal(dns_parse_query(m, n + 2, &q), DNS_PARSE_FORMERR);
    /* two OPTs */
    memcpy(m, pkt, n);
    memcpy(m + n, pkt + n - DNS_OPT_LEN, DNS_OPT_LEN);
    m[11] = 2;
    assert_int_equal(dns_parse_query(m, n + DNS_OPT_LEN, &q), DNS_PARSE_FORMERR);
    /* an OPT not owned by the root */
    size_t qend = n - DNS_OPT_LEN;
    memcpy(m, pkt, qend);
    uint8_t named[] = {1, 'x', 0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0};
    memcpy(m + qend, named, sizeof(named));
    assert_int_equal(dns_parse_query(m, qend + sizeof(named), &q), DNS_PARSE_FORMERR);
    /* another additional record (compressed owner) is skipped */
    uint8_t tsigish[] = {0xC0, 12, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 0xAB, 0xCD};
    memcpy(m, pkt, n);
    memcpy(m + n, tsigish, sizeof(tsigish));
    m[11] = 2;
    assert_int_equal(dns_parse_query(m, n + sizeof(tsigish), &q), DNS_PARSE_OK);
    /* ... but a forward pointer is not */
    tsigish[1] = 200;
    memcpy(m + n, tsigish, sizeof(tsigish));
    assert_int_equal(dns_parse_query(m, n + sizeof(tsigish), &q), DNS_PARSE_FORMERR);
}

static void test_names_text(void **state)
{
    uint8_t w[DNS_MAX_NAME];
    char t[300];
    assert_int_equal(dns_name_from_text("Sip.Contoso.Test.", w), 18);
    assert_memory_equal(w, "\3sip\7contoso\4test", 18);
    dns_name_to_text(w, t, sizeof(t));
    assert_string_equal(t, "sip.contoso.test");
    assert_int_equal(dns_name_from_text("", w), 1);
    assert_int_equal(dns_name_from_text(".", w), 1);
    dns_name_to_text(w, t, sizeof(t));
    assert_string_equal(t, ".");
    assert_int_equal(dns_name_from_text("a..b", w), 0);
    assert_int_equal(dns_name_from_text(".a", w), 0);
    assert_int_equal(dns_name_from_text("a.b..", w), 0);
    char big[80];
    memset(big, 'x', 64);
    big[64] = '\0';
    assert_int_equal(dns_name_from_text(big, w), 0); /* a 64-byte label */
    big[63] = '\0';
    assert_int_equal(dns_name_from_text(big, w), 65);

    uint8_t zone[DNS_MAX_NAME], n[DNS_MAX_NAME];
    size_t zl = dns_name_from_text("contoso.test", zone);
    size_t nl = dns_name_from_text("a.contoso.test", n);
    assert_true(dns_name_in_zone(n, nl, zone, zl));
    assert_true(dns_name_in_zone(zone, zl, zone, zl));
    nl = dns_name_from_text("xcontoso.test", n);
    assert_false(dns_name_in_zone(n, nl, zone, zl)); /* not at a label boundary */
    nl = dns_name_from_text("test", n);
    assert_false(dns_name_in_zone(n, nl, zone, zl));
    nl = dns_name_from_text("contoso.test.org", n);
    assert_false(dns_name_in_zone(n, nl, zone, zl));
}

/* Names written with compression decode back to themselves, point only
 * backwards, and shrink the message. */
static void test_compression(void **state)
{
    uint8_t buf[512];
    struct dns_writer w;
    dns_writer_init(&w, buf, sizeof(buf));
    struct dns_query q = {.id = 7, .flags = 0x0100};
    dns_put_header(&w, &q, true, false, 0, 1, 0, 0, 0);
    uint8_t n1[DNS_MAX_NAME], n2[DNS_MAX_NAME], n3[DNS_MAX_NAME], n4[DNS_MAX_NAME];
    dns_name_from_text("_sipfederationtls._tcp.contoso.test", n1);
    dns_name_from_text("sip.contoso.test", n2);
    dns_name_from_text("contoso.test", n3);
    dns_name_from_text("other.example", n4);
    dns_put_bytes(&w, n1, 37);
    dns_writer_remember(&w, 12);
    size_t a = w.len;
    dns_put_name(&w, n2, true);
    assert_int_equal(w.len - a, 4 + 2); /* "sip" + pointer */
    size_t b = w.len;
    dns_put_name(&w, n3, true);
    assert_int_equal(w.len - b, 2); /* a pointer alone */
    size_t c = w.len;
    dns_put_name(&w, n2, true);
    assert_int_equal(w.len - c, 2); /* to the earlier "sip..." */
    size_t d = w.len;
    dns_put_name(&w, n4, true);
    assert_int_equal(w.len - d, 15); /* nothing shared */
    size_t e = w.len;
    dns_put_name(&w, n2, false);
    assert_int_equal(w.len - e, 18); /* uncompressed when asked */
    assert_false(w.overflow);
    char t[256];
    size_t off = a;
    assert_true(td_name(buf, w.len, &off, t));
    assert_string_equal(t, "sip.contoso.test");
    off = b;
    assert_true(td_name(buf, w.len, &off, t));
    assert_string_equal(t, "contoso.test");
    off = c;
    assert_true(td_name(buf, w.len, &off, t));
    assert_string_equal(t, "sip.contoso.test");
    off = d;
    assert_true(td_name(buf, w.len, &off, t));
    assert_string_equal(t, "other.example");
    /* case-insensitive matching against what is in the buffer */
    buf[14] = 'S'; /* _Sipfederationtls */
    size_t f = w.len;
    uint8_t n5[DNS_MAX_NAME];
    dns_name_from_text("x._sipfederationtls._tcp.contoso.test", n5);
    dns_put_name(&w, n5, true);
    assert_int_equal(w.len - f, 2 + 2);
    /* overflow is sticky and nothing is written past cap */
    uint8_t small[20];
    dns_writer_init(&w, small, sizeof(small));
    dns_put_name(&w, n1, true);
    assert_true(w.overflow);
    assert_int_equal(w.len, 0);
}

static void test_short_answers(void **state)
{
    uint8_t pkt[512], out[512];
    struct dns_query q;
    struct tresp r;
    size_t n = tq_build(pkt, "Sip.Contoso.Test", DNS_T_A, DNS_C_IN, &edns);
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_OK);
    size_t len = dns_write_short(pkt, &q, DNS_R_REFUSED, false, false, 1232, out, sizeof(out));
    assert_true(td_decode(out, len, &r));
    assert_int_equal(r.id, 0xBEEF);
    assert_int_equal(r.rcode, DNS_R_REFUSED);
    assert_int_equal(r.flags & 0x8000, 0x8000);
    assert_int_equal(r.flags & DNS_F_AA, 0);
    assert_int_equal(r.flags & DNS_F_RD, DNS_F_RD); /* copied */
    assert_int_equal(r.flags & DNS_F_CD, DNS_F_CD);
    assert_int_equal(r.qd, 1);
    assert_memory_equal(out + 12, pkt + 12, q.question_end - 12); /* case as sent */
    assert_true(r.opt);
    assert_true(r.opt_do);
    assert_int_equal(r.opt_payload, 1232);
    /* BADVERS: 16 = 0 in the header, 1 in the OPT */
    pkt[n - 5] = 1;
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_BADVERS);
    len = dns_write_short(pkt, &q, DNS_R_BADVERS, false, false, 1232, out, sizeof(out));
    assert_true(td_decode(out, len, &r));
    assert_int_equal(r.flags & 0xF, 0);
    assert_int_equal(r.rcode, DNS_R_BADVERS);
    /* FORMERR of a query without a usable question: header only */
    n = tq_build(pkt, "a.b", DNS_T_A, DNS_C_IN, &plain);
    pkt[5] = 2;
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_FORMERR);
    len = dns_write_short(pkt, &q, DNS_R_FORMERR, false, false, 1232, out, sizeof(out));
    assert_int_equal(len, 12);
    assert_true(td_decode(out, len, &r));
    assert_int_equal(r.rcode, DNS_R_FORMERR);
    assert_int_equal(r.id, 0x1234);
    /* TC=1 */
    n = tq_build(pkt, "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain);
    assert_int_equal(dns_parse_query(pkt, n, &q), DNS_PARSE_OK);
    len = dns_write_short(pkt, &q, 0, true, true, 1232, out, sizeof(out));
    assert_true(td_decode(out, len, &r));
    assert_int_equal(r.flags & (DNS_F_TC | DNS_F_AA), DNS_F_TC | DNS_F_AA);
    assert_int_equal(r.an + r.ns + r.ar, 0);
    /* too small a buffer: nothing */
    assert_int_equal(dns_write_short(pkt, &q, 0, true, true, 1232, out, 10), 0);
}

/* Every prefix of valid queries, then random mutations (bytes flipped, set
 * to interesting values, counts changed, cut or grown): the parser answers
 * something and never reads outside the packet (ASan watches: each packet
 * is copied into a heap block of exactly its size). */
static void test_parse_fuzz(void **state)
{
    uint8_t seeds[6][600];
    size_t seed_len[6];
    struct tq_opts big = edns;
    seed_len[0] = tq_build(seeds[0], "sip.contoso.test", DNS_T_A, DNS_C_IN, &plain);
    seed_len[1] =
        tq_build(seeds[1], "_sipfederationtls._tcp.contoso.test", DNS_T_SRV, DNS_C_IN, &edns);
    seed_len[2] = tq_build(seeds[2], "contoso.test", DNS_T_ANY, DNS_C_ANY, &big);
    seed_len[3] = tq_build(seeds[3], "", DNS_T_NS, DNS_C_IN, &plain);
    seed_len[4] = tq_build(seeds[4], "x.y.z.contoso.test", DNS_T_AAAA, DNS_C_IN, &edns);
    uint8_t opt_with_opts[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 12, 0, 2, 0, 0};
    memcpy(seeds[5], seeds[4], seed_len[4]);
    seeds[5][seed_len[4] - 1] = sizeof(opt_with_opts);
    memcpy(seeds[5] + seed_len[4], opt_with_opts, sizeof(opt_with_opts));
    seed_len[5] = seed_len[4] + sizeof(opt_with_opts);
    struct dns_query q;
    uint8_t out[600];
    unsigned ok = 0, formerr = 0, other = 0;
    for (int s = 0; s < 6; s++) {
        assert_int_equal(dns_parse_query(seeds[s], seed_len[s], &q), DNS_PARSE_OK);
        for (size_t l = 0; l < seed_len[s]; l++) {
            uint8_t *p = malloc(l ? l : 1);
            memcpy(p, seeds[s], l);
            enum dns_parse_result r = dns_parse_query(p, l, &q);
            assert_true(r == (l < DNS_HDR_LEN ? DNS_PARSE_DROP : DNS_PARSE_FORMERR));
            if (r == DNS_PARSE_FORMERR)
                assert_true(dns_write_short(p, &q, DNS_R_FORMERR, false, false, 1232, out,
                                            sizeof(out)) >= DNS_HDR_LEN);
            free(p);
        }
    }
    uint64_t rng = 42;
    static const uint8_t interesting[] = {0, 1, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xC0, 0xFF, 12, 63};
    for (int i = 0; i < 250000; i++) {
        int s = (int)(t_rand(&rng) % 6);
        uint8_t buf[700];
        size_t len = seed_len[s];
        memcpy(buf, seeds[s], len);
        int edits = 1 + (int)(t_rand(&rng) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t r = t_rand(&rng);
            if (len == 0)
                break;
            switch (r % 6) {
            case 0:
                buf[(r >> 8) % len] ^= (uint8_t)(1u << ((r >> 32) % 8));
                break;
            case 1:
                buf[(r >> 8) % len] = interesting[(r >> 32) % sizeof(interesting)];
                break;
            case 2: /* a count */
                buf[4 + ((r >> 8) % 8)] = (uint8_t)(r >> 40);
                break;
            case 3: /* cut */
                len = (size_t)((r >> 8) % (len + 1));
                break;
            case 4: /* grow with junk */
                if (len + 16 < sizeof(buf)) {
                    for (int k = 0; k < 16; k++)
                        buf[len + k] = (uint8_t)(r >> (k % 8 * 8));
                    len += (r >> 16) % 16;
                }
                break;
            case 5: /* a pointer somewhere */
                if (len > 14) {
                    size_t at = 12 + (r >> 8) % (len - 13);
                    buf[at] = (uint8_t)(0xC0 | ((r >> 20) & 1));
                    buf[at + 1] = (uint8_t)(r >> 24);
                }
                break;
            }
        }
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, buf, len);
        enum dns_parse_result r = dns_parse_query(p, len, &q);
        if (r == DNS_PARSE_OK) {
            ok++;
            assert_true(q.question_end <= len);
            assert_true(q.qname_len >= 1 && q.qname[q.qname_len - 1] == 0);
        } else if (r == DNS_PARSE_FORMERR) {
            formerr++;
        } else {
            other++;
        }
        if (r != DNS_PARSE_DROP) {
            size_t n = dns_write_short(p, &q, r == DNS_PARSE_OK ? 0 : DNS_R_FORMERR, false, false,
                                       1232, out, sizeof(out));
            struct tresp tr;
            assert_true(n >= DNS_HDR_LEN);
            assert_true(td_decode(out, n, &tr));
        }
        free(p);
    }
    /* the mutations reach every outcome */
    assert_true(ok > 1000);
    assert_true(formerr > 1000);
    assert_true(other > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),    cmocka_unit_test(test_parse_header_cases),
        cmocka_unit_test(test_parse_bad_names), cmocka_unit_test(test_parse_edns_cases),
        cmocka_unit_test(test_names_text),      cmocka_unit_test(test_compression),
        cmocka_unit_test(test_short_answers),   cmocka_unit_test(test_parse_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
