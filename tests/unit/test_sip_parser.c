/* test_sip_parser.c -- unit tests for node/sip/parser.c and node/sip/uri.c.
 *
 * Pins down the in-place parser of sip/msg.h: start lines, header index
 * (compact forms, folding, case), the eager fields, every error code, stream
 * framing (partial input, keepalives, pipelining) and the value helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static struct sip_msg msg; /* 7 KB: kept off the stack */

static int parse_lim(const char *s, size_t max_size, unsigned max_headers)
{
    struct sip_limits lim = {max_size, max_headers};
    return sip_msg_parse(&msg, s, strlen(s), &lim);
}

static int parse(const char *s)
{
    return parse_lim(s, 65535, SIP_MAX_HEADERS);
}

#define assert_slice(sl, lit)                                                                      \
    do {                                                                                           \
        struct slice s_ = (sl);                                                                    \
        if (!slice_eq(s_, SLICE_LIT(lit)))                                                         \
            fail_msg("%s is \"%.*s\", expected \"%s\"", #sl, SLICE_FMT(s_), lit);                  \
    } while (0)

/* A message built from a template: each "%s" takes the next argument. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char buf[4][8192];
    static int n;
    char *b = buf[n++ & 3];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof(buf[0]), f, ap);
    va_end(ap);
    return b;
}

#define SDP                                                                                        \
    "v=0\r\n"                                                                                      \
    "o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"                          \
    "s=-\r\n"                                                                                      \
    "c=IN IP4 192.0.2.101\r\n"                                                                     \
    "t=0 0\r\n"                                                                                    \
    "m=audio 49172 RTP/AVP 0\r\n"                                                                  \
    "a=rtpmap:0 PCMU/8000\r\n"

static const char invite[] =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TLS "
    "client.atlanta.example.com:5061;branch=z9hG4bK74bf9;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice, A.\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com;transport=tls>\r\n"
    "Supported: replaces, timer\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 151\r\n"
    "\r\n" SDP;

/* The mandatory headers, for error tests that vary one line. */
#define VIA "Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n"
#define FROM "From: <sip:a@example.com>;tag=1\r\n"
#define TO "To: <sip:b@example.com>\r\n"
#define CALLID "Call-ID: c1\r\n"
#define CSEQ "CSeq: 1 OPTIONS\r\n"
#define RL "OPTIONS sip:b@example.com SIP/2.0\r\n"

/* ---- whole messages -------------------------------------------------------------------------- */

/* A realistic INVITE with an SDP body: every eager field and the index. */
static void test_invite_with_sdp(void **state)
{
    assert_int_equal(sizeof(SDP) - 1, 151);
    assert_int_equal(parse(invite), SIP_OK);
    assert_true(msg.is_request);
    assert_slice(msg.method, "INVITE");
    assert_int_equal(msg.method_id, SIP_M_INVITE);
    assert_slice(msg.ruri, "sip:bob@biloxi.example.com");
    assert_slice(msg.start_line, "INVITE sip:bob@biloxi.example.com SIP/2.0");
    assert_int_equal(msg.nhdrs, 10);

    assert_slice(msg.via.transport, "TLS");
    assert_slice(msg.via.host, "client.atlanta.example.com");
    assert_int_equal(msg.via.port, 5061);
    assert_slice(msg.via.branch, "z9hG4bK74bf9");
    assert_true(msg.via.has_rport);
    assert_int_equal(msg.via.received.len, 0);
    assert_slice(msg.via.params, "branch=z9hG4bK74bf9;rport");

    assert_slice(msg.call_id, "3848276298220188511@atlanta.example.com");
    assert_int_equal(msg.cseq, 314159);
    assert_slice(msg.cseq_method, "INVITE");
    assert_int_equal(msg.cseq_method_id, SIP_M_INVITE);
    assert_slice(msg.from, "\"Alice, A.\" <sip:alice@atlanta.example.com>;tag=9fxced76sl");
    assert_slice(msg.from_uri, "sip:alice@atlanta.example.com");
    assert_slice(msg.from_tag, "9fxced76sl");
    assert_slice(msg.to_uri, "sip:bob@biloxi.example.com");
    assert_int_equal(msg.to_tag.len, 0);
    assert_int_equal(msg.max_forwards, 70);
    assert_int_equal(msg.content_length, 151);
    assert_slice(msg.body, SDP);
    assert_slice(msg.headers_end, "\r\n");
    assert_ptr_equal(msg.headers_end.p + 2, msg.body.p);
    assert_ptr_equal(msg.raw.p, invite);
    assert_int_equal(msg.raw.len, sizeof(invite) - 1);

    const struct sip_hdr *h = sip_msg_hdr(&msg, SIP_HDR_CONTENT_TYPE);
    assert_non_null(h);
    assert_slice(h->name, "Content-Type");
    assert_slice(h->value, "application/sdp");
    assert_slice(h->raw, "Content-Type: application/sdp\r\n");
    assert_ptr_equal(msg.hdrs[0].raw.p,
                     invite + strlen("INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"));
    assert_int_equal(msg.first[SIP_HDR_CONTACT], 6);
    assert_int_equal(msg.first[SIP_HDR_ROUTE], -1);
    assert_null(sip_msg_hdr(&msg, SIP_HDR_ROUTE));
    assert_null(sip_msg_hdr(&msg, SIP_HDR_COUNT));
    assert_null(sip_msg_hdr_next(&msg, sip_msg_hdr(&msg, SIP_HDR_VIA)));

    /* every slice points into the caller's buffer */
    for (unsigned i = 0; i < msg.nhdrs; i++) {
        assert_true(msg.hdrs[i].raw.p >= invite);
        assert_true(msg.hdrs[i].raw.p + msg.hdrs[i].raw.len <= invite + sizeof(invite) - 1);
    }
}

/* A response: status, reason, no request fields, CSeq method of the request. */
static void test_response(void **state)
{
    const char *r = "SIP/2.0 200 OK\r\n"
                    "Via: SIP/2.0/TLS "
                    "proxy.example.com:5061;branch=z9hG4bK2d4790.1;received=192.0.2.5\r\n"
                    "Via: SIP/2.0/TLS client.atlanta.example.com:5061;branch=z9hG4bK74bf9\r\n"
                    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
                    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
                    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
                    "CSeq: 1 INVITE\r\n"
                    "Content-Length: 0\r\n"
                    "\r\n";
    assert_int_equal(parse(r), SIP_OK);
    assert_false(msg.is_request);
    assert_int_equal(msg.status, 200);
    assert_slice(msg.reason, "OK");
    assert_int_equal(msg.method.len, 0);
    assert_int_equal(msg.method_id, SIP_M_OTHER);
    assert_int_equal(msg.cseq_method_id, SIP_M_INVITE);
    assert_slice(msg.to_tag, "8321234356");
    assert_slice(msg.via.host, "proxy.example.com");
    assert_slice(msg.via.received, "192.0.2.5");
    assert_false(msg.via.has_rport);
    assert_int_equal(msg.max_forwards, -1);
    assert_int_equal(msg.content_length, 0);
    assert_int_equal(msg.body.len, 0);

    /* a reason phrase with spaces and UTF-8; an empty one */
    assert_int_equal(parse(fmt("SIP/2.0 486 Busy Here \xc3\xa9t\xc3\xa9\r\n" VIA FROM TO CALLID
                               "CSeq: 5 BYE\r\n\r\n")),
                     SIP_OK);
    assert_int_equal(msg.status, 486);
    assert_slice(msg.reason, "Busy Here \xc3\xa9t\xc3\xa9");
    assert_int_equal(parse(fmt("SIP/2.0 180\r\n" VIA FROM TO CALLID CSEQ "\r\n")), SIP_OK);
    assert_int_equal(msg.status, 180);
    assert_int_equal(msg.reason.len, 0);
    /* a response's CSeq method need not match anything */
    assert_int_equal(parse(fmt("SIP/2.0 100 Trying\r\n" VIA FROM TO CALLID "CSeq: 9 FOO\r\n\r\n")),
                     SIP_OK);
    assert_int_equal(msg.cseq_method_id, SIP_M_OTHER);
}

/* Compact forms map to their ids; unknown ones compare equal to their long names. */
static void test_compact_forms(void **state)
{
    const char *s = "MESSAGE sip:b@example.com SIP/2.0\r\n"
                    "v: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKc\r\n"
                    "f: <sip:a@example.com>;tag=fa\r\n"
                    "t: <sip:b@example.com>;tag=tb\r\n"
                    "i: compact-call\r\n"
                    "CSeq: 7 MESSAGE\r\n"
                    "m: <sip:a@192.0.2.1>\r\n"
                    "c: text/plain\r\n"
                    "o: presence\r\n"
                    "k: path\r\n"
                    "s: hello\r\n"
                    "u: dialog\r\n"
                    "l: 2\r\n"
                    "\r\n"
                    "hi";
    assert_int_equal(parse(s), SIP_OK);
    assert_slice(msg.via.host, "192.0.2.1");
    assert_int_equal(msg.via.port, 5060);
    assert_slice(msg.from_tag, "fa");
    assert_slice(msg.to_tag, "tb");
    assert_slice(msg.call_id, "compact-call");
    assert_int_equal(msg.content_length, 2);
    assert_slice(msg.body, "hi");
    assert_slice(sip_msg_hdr(&msg, SIP_HDR_CONTACT)->value, "<sip:a@192.0.2.1>");
    assert_slice(sip_msg_hdr(&msg, SIP_HDR_CONTENT_TYPE)->value, "text/plain");
    assert_slice(sip_msg_hdr(&msg, SIP_HDR_EVENT)->value, "presence");
    assert_slice(sip_msg_hdr(&msg, SIP_HDR_SUPPORTED)->value, "path");
    assert_int_equal(msg.hdrs[9].id, SIP_HDR_OTHER); /* s: */

    /* by name: long and compact forms find each other */
    assert_ptr_equal(sip_msg_hdr_by_name(&msg, SLICE_LIT("Via")), &msg.hdrs[0]);
    assert_ptr_equal(sip_msg_hdr_by_name(&msg, SLICE_LIT("CALL-ID")), &msg.hdrs[3]);
    assert_ptr_equal(sip_msg_hdr_by_name(&msg, SLICE_LIT("subject")), &msg.hdrs[9]);
    assert_ptr_equal(sip_msg_hdr_by_name(&msg, SLICE_LIT("Allow-Events")), &msg.hdrs[10]);
    assert_null(sip_msg_hdr_by_name(&msg, SLICE_LIT("Refer-To")));
    assert_null(sip_msg_hdr_by_name(&msg, SLICE_LIT("Call\rID"))); /* '\r' | 0x20 is '-' */
    assert_null(sip_msg_hdr_by_name(&msg, SLICE_LIT("")));
}

/* A folded header: continuation lines belong to the previous value. */
static void test_folded_header(void **state)
{
    const char *s = "OPTIONS sip:b@example.com SIP/2.0\r\n"
                    "Via: SIP/2.0/TCP\r\n"
                    "   h.example.com:5070\r\n"
                    "\t;branch=z9hG4bKfold\r\n"
                    "Subject: I know you're there,\r\n"
                    "   pick up the phone\r\n"
                    "\t and talk to me!\r\n"
                    "Call-ID:\r\n  folded-id\r\n" FROM TO CSEQ "Content-Length : \r\n 0\r\n"
                    "\r\n";
    assert_int_equal(parse(s), SIP_OK);
    assert_int_equal(msg.nhdrs, 7);
    const struct sip_hdr *h = sip_msg_hdr_by_name(&msg, SLICE_LIT("subject"));
    assert_non_null(h);
    assert_slice(h->value, "I know you're there,\r\n   pick up the phone\r\n\t and talk to me!");
    assert_slice(h->raw, "Subject: I know you're there,\r\n   pick up the phone\r\n\t and talk to "
                         "me!\r\n");
    assert_slice(msg.via.host, "h.example.com");
    assert_int_equal(msg.via.port, 5070);
    assert_slice(msg.via.branch, "z9hG4bKfold");
    assert_slice(msg.call_id, "folded-id");
    assert_int_equal(msg.content_length, 0);
    /* the framer reads the folded Content-Length too */
    size_t ka = 99;
    assert_int_equal(sip_frame(s, strlen(s), 65535, &ka), (ssize_t)strlen(s));
    assert_int_equal(ka, 0);
}

/* Via as several headers and as comma lists: the top one is the first value
 * of the first header; all are reachable with hdr_next + list_next. */
static void test_multiple_via(void **state)
{
    const char *s = "SIP/2.0 200 OK\r\n"
                    "Via: SIP/2.0/UDP first.example.com;branch=z9hG4bKa , SIP/2.0/TCP "
                    "second.example.com;branch=z9hG4bKb\r\n"
                    "From: <sip:a@example.com>;tag=1\r\n"
                    "v: SIP/2.0/TLS third.example.com;branch=z9hG4bKc,SIP/2.0/TLS "
                    "fourth.example.com:5061;branch=z9hG4bKd\r\n"
                    "Via: SIP/2.0/WSS fifth.example.com;branch=z9hG4bKe\r\n" TO CALLID CSEQ "\r\n";
    static const char *hosts[] = {"first.example.com", "second.example.com", "third.example.com",
                                  "fourth.example.com", "fifth.example.com"};
    assert_int_equal(parse(s), SIP_OK);
    assert_slice(msg.via.transport, "UDP");
    assert_slice(msg.via.host, "first.example.com");
    assert_slice(msg.via.branch, "z9hG4bKa");

    int n = 0;
    for (const struct sip_hdr *h = sip_msg_hdr(&msg, SIP_HDR_VIA); h;
         h = sip_msg_hdr_next(&msg, h)) {
        struct slice v = h->value, one;
        while (sip_list_next(v, &one, &v)) {
            struct sip_via via;
            assert_int_equal(sip_via_parse(one, &via), 0);
            assert_true(n < 5);
            assert_true(slice_eq(via.host, slice_cstr(hosts[n])));
            n++;
        }
    }
    assert_int_equal(n, 5);
    assert_int_equal(msg.hdrs[3].id, SIP_HDR_VIA);
}

/* Route lists: several headers, commas, and commas inside quotes and <>. */
static void test_route_list(void **state)
{
    const char *s = RL VIA FROM TO CALLID CSEQ
        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr;x=\"a,b\">\r\n"
        "Record-Route: <sip:rr.example.com;lr>\r\n"
        "Route: \"Proxy, the third\" "
        "<sip:p3.example.com;lr>,,<sip:p4.example.com?h=a,b;lr>\r\n"
        "Contact: \"Doe, \\\"J\\\"\" <sip:j@x.example.com>;expires=60, "
        "sip:k@y.example.com;q=0.5\r\n"
        "\r\n";
    static const char *uris[] = {"sip:p1.example.com;lr", "sip:p2.example.com;lr;x=\"a,b\"",
                                 "sip:p3.example.com;lr", "sip:p4.example.com?h=a,b;lr"};
    assert_int_equal(parse(s), SIP_OK);
    int n = 0;
    for (const struct sip_hdr *h = sip_msg_hdr(&msg, SIP_HDR_ROUTE); h;
         h = sip_msg_hdr_next(&msg, h)) {
        assert_int_equal(h->id, SIP_HDR_ROUTE);
        struct slice rest = h->value, one, uri;
        while (sip_list_next(rest, &one, &rest)) {
            assert_true(n < 4);
            assert_int_equal(sip_nameaddr_parse(one, &uri, NULL), 0);
            assert_true(slice_eq(uri, slice_cstr(uris[n])));
            n++;
        }
    }
    assert_int_equal(n, 4);
    assert_slice(sip_msg_hdr(&msg, SIP_HDR_RECORD_ROUTE)->value, "<sip:rr.example.com;lr>");

    /* Contact: a quoted display name with escaped quotes and a comma */
    struct slice rest = sip_msg_hdr(&msg, SIP_HDR_CONTACT)->value, one, uri, params, val;
    assert_true(sip_list_next(rest, &one, &rest));
    assert_slice(one, "\"Doe, \\\"J\\\"\" <sip:j@x.example.com>;expires=60");
    assert_int_equal(sip_nameaddr_parse(one, &uri, &params), 0);
    assert_slice(uri, "sip:j@x.example.com");
    assert_true(sip_param_get(params, "expires", &val));
    assert_slice(val, "60");
    assert_true(sip_list_next(rest, &one, &rest));
    assert_int_equal(sip_nameaddr_parse(one, &uri, &params), 0);
    assert_slice(uri, "sip:k@y.example.com");
    assert_slice(params, "q=0.5");
    assert_false(sip_list_next(rest, &one, &rest));
}

/* Header names and the version are case-insensitive; methods are not. */
static void test_case_insensitivity(void **state)
{
    const char *s = "invite sip:b@example.com sip/2.0\r\n"
                    "vIA: SIP/2.0/tcp h.example.com;BRANCH=z9hG4bKx;RPort\r\n"
                    "fROM: <sip:a@example.com>;TAG=up\r\n"
                    "tO: <sip:b@example.com>\r\n"
                    "CALL-id: ci\r\n"
                    "cseq: 1 invite\r\n"
                    "MAX-FORWARDS: 10\r\n"
                    "content-LENGTH: 0\r\n"
                    "x-EDGEPOOL-trust: yes\r\n"
                    "MS-Edge-Proxy-Message-Trust: x\r\n"
                    "\r\n";
    assert_int_equal(parse(s), SIP_OK);
    assert_slice(msg.method, "invite");
    assert_int_equal(msg.method_id, SIP_M_OTHER); /* an extension method, RFC 3261 §7.1 */
    assert_slice(msg.via.branch, "z9hG4bKx");
    assert_true(msg.via.has_rport);
    assert_slice(msg.from_tag, "up");
    assert_slice(msg.call_id, "ci");
    assert_int_equal(msg.max_forwards, 10);
    assert_int_equal(msg.content_length, 0);
    assert_int_equal(msg.hdrs[7].id, SIP_HDR_EP_TRUST);
    assert_int_equal(msg.hdrs[8].id, SIP_HDR_MS_TRUST);
    assert_ptr_equal(sip_msg_hdr_by_name(&msg, SLICE_LIT("X-Edgepool-Trust")), &msg.hdrs[7]);

    /* the CSeq method is compared exactly */
    assert_int_equal(
        parse(fmt("INVITE sip:b@x SIP/2.0\r\n" VIA FROM TO CALLID "CSeq: 1 invite\r\n\r\n")),
        SIP_ERR_CSEQ);
}

/* Whitespace around ':' and other legal spacing. */
static void test_header_spacing(void **state)
{
    const char *s = RL "Via :SIP / 2.0 / TCP  h.example.com ; branch=z9hG4bKs\r\n"
                       "From\t:\t<sip:a@example.com> ; tag = t1 \r\n" TO
                       "Call-ID:   spaced   \r\n" CSEQ "X-Empty:\r\n\r\n";
    assert_int_equal(parse(s), SIP_OK);
    assert_slice(msg.hdrs[0].name, "Via");
    assert_slice(msg.via.transport, "TCP");
    assert_slice(msg.via.host, "h.example.com");
    assert_slice(msg.via.branch, "z9hG4bKs");
    assert_slice(msg.from_tag, "t1");
    assert_slice(msg.call_id, "spaced");
    const struct sip_hdr *h = sip_msg_hdr_by_name(&msg, SLICE_LIT("x-empty"));
    assert_non_null(h);
    assert_int_equal(h->value.len, 0);
}

/* CRLFs before the start line are ignored (RFC 3261 §7.5). */
static void test_leading_crlf(void **state)
{
    const char *s = "\r\n\r\n" RL VIA FROM TO CALLID CSEQ "\r\n";
    assert_int_equal(parse(s), SIP_OK);
    assert_ptr_equal(msg.start_line.p, s + 4);
    assert_ptr_equal(msg.raw.p, s);
}

/* Unknown headers: by name, and hdr_next walks instances of that name only. */
static void test_other_headers(void **state)
{
    const char *s = RL VIA
        "X-Foo: 1\r\nX-Bar: 2\r\nSubject: a\r\nx-foo: 3\r\ns: b\r\n" FROM TO CALLID CSEQ "\r\n";
    assert_int_equal(parse(s), SIP_OK);
    const struct sip_hdr *h = sip_msg_hdr_by_name(&msg, SLICE_LIT("X-FOO"));
    assert_non_null(h);
    assert_slice(h->value, "1");
    h = sip_msg_hdr_next(&msg, h);
    assert_non_null(h);
    assert_slice(h->value, "3");
    assert_null(sip_msg_hdr_next(&msg, h));
    h = sip_msg_hdr_by_name(&msg, SLICE_LIT("s"));
    assert_slice(h->value, "a");
    h = sip_msg_hdr_next(&msg, h);
    assert_non_null(h);
    assert_slice(h->value, "b");
    assert_null(sip_msg_hdr_next(&msg, NULL));
}

/* ---- errors ---------------------------------------------------------------------------------- */

/* Bad start lines: other versions, malformed lines, garbage. */
static void test_err_start_line(void **state)
{
    static const char *bad[] = {
        "SIP/3.0 200 OK\r\n",
        "SIP/2.0 20 OK\r\n",
        "SIP/2.0 2000 OK\r\n",
        "SIP/2.0 099 Low\r\n",
        "SIP/2.0 700 High\r\n",
        "SIP/2.0  200 OK\r\n",
        "SIP/2.0 2x0 OK\r\n",
        "HTTP/1.1 200 OK\r\n",
        "GET / HTTP/1.1\r\n",
        "INVITE sip:b@x SIP/2.1\r\n",
        "SIP\x0f"
        "2.0 200 OK\r\n", /* 0x0f | 0x20 is '/': not a case difference */
        "INVITE sip:b@x SIP\x0f"
        "2.0\r\n",
        "INVITE sip:b@x SIP/2.0 \r\n",
        "INVITE  sip:b@x SIP/2.0\r\n",
        "INVITE sip:b@x\r\n",
        "INVITE\r\n",
        " INVITE sip:b@x SIP/2.0\r\n",
        "INV(TE sip:b@x SIP/2.0\r\n",
        "INVITE sip:b\x01@x SIP/2.0\r\n",
        "INVITE sip:b@x SIP/2.0\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
        "",
        "\r\n",
        "INVITE sip:b@x SIP/2.0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *m = fmt("%s" VIA FROM TO CALLID CSEQ "\r\n", bad[i]);
        if (parse(m) != SIP_ERR_START_LINE)
            fail_msg("start line %zu \"%s\" accepted", i, bad[i]);
    }
    /* a bare CR inside the start line */
    const char cr[] = "OPTIONS sip:b@x\rSIP/2.0\r\n" VIA FROM TO CALLID CSEQ "\r\n";
    assert_int_equal(parse(cr), SIP_ERR_START_LINE);
    /* random binary */
    char junk[512];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 131 + 7);
    struct sip_limits lim = {65535, 64};
    assert_int_equal(sip_msg_parse(&msg, junk, sizeof(junk), &lim), SIP_ERR_START_LINE);
    assert_int_equal(sip_msg_parse(&msg, NULL, 0, &lim), SIP_ERR_START_LINE);
}

/* Malformed header lines; a bare CR or LF (no header smuggled past us). */
static void test_err_header(void **state)
{
    assert_int_equal(parse(RL VIA "NoColon here\r\n" FROM TO CALLID CSEQ "\r\n"), SIP_ERR_HEADER);
    assert_int_equal(parse(RL VIA ": novalue\r\n" FROM TO CALLID CSEQ "\r\n"), SIP_ERR_HEADER);
    assert_int_equal(parse(RL VIA "Bad Name: x\r\n" FROM TO CALLID CSEQ "\r\n"), SIP_ERR_HEADER);
    assert_int_equal(parse(RL VIA "Bad(Name): x\r\n" FROM TO CALLID CSEQ "\r\n"), SIP_ERR_HEADER);
    assert_int_equal(parse(RL " folded-first: x\r\n" VIA FROM TO CALLID CSEQ "\r\n"),
                     SIP_ERR_HEADER);
    /* a bare LF or CR would end the line for a lenient parser downstream */
    assert_int_equal(
        parse(RL VIA "Subject: hi\nX-Edgepool-Trust: yes\r\n" FROM TO CALLID CSEQ "\r\n"),
        SIP_ERR_HEADER);
    assert_int_equal(
        parse(RL VIA "Subject: hi\rX-Edgepool-Trust: yes\r\n" FROM TO CALLID CSEQ "\r\n"),
        SIP_ERR_HEADER);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "\n"), SIP_ERR_HEADER);
    /* bad From / To, empty Call-ID */
    assert_int_equal(parse(RL VIA "From: nobody\r\n" TO CALLID CSEQ "\r\n"), SIP_ERR_HEADER);
    assert_int_equal(parse(RL VIA FROM "To: <sip:b@x\r\n" CALLID CSEQ "\r\n"), SIP_ERR_HEADER);
    assert_int_equal(parse(RL VIA FROM TO "Call-ID:  \r\n" CSEQ "\r\n"), SIP_ERR_HEADER);
}

/* A message cut anywhere is an error, never OK, and never read past its end. */
static void test_err_truncated(void **state)
{
    size_t n = sizeof(invite) - 1;
    struct sip_limits lim = {65535, SIP_MAX_HEADERS};
    size_t hdr_len = (size_t)(strstr(invite, "\r\n\r\n") + 4 - invite);
    for (size_t i = 0; i < n; i++) {
        char *copy = malloc(i ? i : 1); /* exact size: ASan catches any overread */
        memcpy(copy, invite, i);
        int rc = sip_msg_parse(&msg, copy, i, &lim);
        if (i >= hdr_len)
            assert_int_equal(rc, SIP_ERR_CONTENT_LENGTH); /* the body is short */
        else
            assert_true(rc < 0);
        free(copy);
    }
    /* cut inside the headers: the header section never ends */
    assert_int_equal(sip_msg_parse(&msg, invite, hdr_len - 2, &lim), SIP_ERR_HEADER);
    /* what was parsed stays usable */
    assert_slice(msg.via.branch, "z9hG4bK74bf9");
    assert_slice(msg.call_id, "3848276298220188511@atlanta.example.com");
    assert_int_equal(sip_msg_parse(&msg, invite, 100, &lim), SIP_ERR_HEADER);
    assert_int_equal(msg.nhdrs, 0);
}

/* Content-Length: not digits, not the body's length, repeated differently. */
static void test_err_content_length(void **state)
{
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Content-Length: abc\r\n\r\n"),
                     SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Content-Length: -1\r\n\r\n"),
                     SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Content-Length: 1 2\r\n\r\n12"),
                     SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Content-Length: 99999999999999999999999\r\n"
                                                      "\r\n"),
                     SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Content-Length: 5\r\n\r\nabc"),
                     SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(msg.content_length, 5);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Content-Length: 2\r\n\r\nabcd"),
                     SIP_ERR_CONTENT_LENGTH);
    assert_slice(msg.body, "ab"); /* what the sender declared */
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "l: 2\r\nContent-Length: 3\r\n\r\nab"),
                     SIP_ERR_CONTENT_LENGTH);
    /* repeated with the same value is fine; absent means "the rest" */
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "l: 2\r\nContent-Length: 2\r\n\r\nab"),
                     SIP_OK);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "\r\nabc"), SIP_OK);
    assert_int_equal(msg.content_length, -1);
    assert_slice(msg.body, "abc");
}

/* More headers than the limit, and more than SIP_MAX_HEADERS. */
static void test_err_too_many_headers(void **state)
{
    char big[8192];
    int n = snprintf(big, sizeof(big), "%s", RL CALLID VIA FROM TO CSEQ);
    for (int i = 0; i < 200; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "X-H%d: %d\r\n", i, i);
    snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");

    assert_int_equal(parse_lim(big, 65535, 10), SIP_ERR_TOO_MANY_HEADERS);
    assert_int_equal(msg.nhdrs, 10);
    assert_slice(msg.call_id, "c1"); /* still there for the 400 */
    assert_slice(msg.via.branch, "z9hG4bK1");
    assert_int_equal(parse_lim(big, 65535, 1000), SIP_ERR_TOO_MANY_HEADERS);
    assert_int_equal(msg.nhdrs, SIP_MAX_HEADERS);

    /* exactly at the limit is fine */
    assert_int_equal(parse_lim(RL VIA FROM TO CALLID CSEQ "\r\n", 65535, 5), SIP_OK);
    assert_int_equal(parse_lim(RL VIA FROM TO CALLID CSEQ "X: 1\r\n\r\n", 65535, 5),
                     SIP_ERR_TOO_MANY_HEADERS);
}

/* Over max_message_size: 513, but Via and Call-ID are there to answer it. */
static void test_err_too_large(void **state)
{
    assert_int_equal(parse_lim(invite, 200, SIP_MAX_HEADERS), SIP_ERR_TOO_LARGE);
    assert_slice(msg.call_id, "3848276298220188511@atlanta.example.com");
    assert_slice(msg.via.branch, "z9hG4bK74bf9");
    assert_int_equal(parse_lim(invite, sizeof(invite) - 2, SIP_MAX_HEADERS), SIP_ERR_TOO_LARGE);
    assert_int_equal(parse_lim(invite, sizeof(invite) - 1, SIP_MAX_HEADERS), SIP_OK);
    /* NULL limits: the defaults */
    assert_int_equal(sip_msg_parse(&msg, invite, sizeof(invite) - 1, NULL), SIP_OK);
}

/* Each mandatory header missing in turn. */
static void test_err_missing(void **state)
{
    static const char *hdrs[] = {VIA, FROM, TO, CALLID, CSEQ};
    for (int skip = 0; skip < 5; skip++) {
        char m[1024];
        int n = snprintf(m, sizeof(m), "%s", RL);
        for (int i = 0; i < 5; i++)
            if (i != skip)
                n += snprintf(m + n, sizeof(m) - (size_t)n, "%s", hdrs[i]);
        snprintf(m + n, sizeof(m) - (size_t)n, "\r\n");
        if (parse(m) != SIP_ERR_MISSING)
            fail_msg("message without %s accepted", hdrs[skip]);
        assert_int_equal(parse(fmt("SIP/2.0 200 OK\r\n%s", m + strlen(RL))), SIP_ERR_MISSING);
    }
    assert_int_equal(parse(RL "\r\n"), SIP_ERR_MISSING);
}

/* CSeq: method mismatch, malformed, out of range. */
static void test_err_cseq(void **state)
{
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 1 BYE\r\n\r\n"), SIP_ERR_CSEQ);
    /* what was parsed stays usable for the 400 */
    assert_slice(msg.call_id, "c1");
    assert_slice(msg.via.branch, "z9hG4bK1");
    assert_slice(msg.from_tag, "1");
    assert_int_equal(msg.cseq, 1);
    assert_int_equal(msg.cseq_method_id, SIP_M_BYE);

    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 2147483648 OPTIONS\r\n\r\n"), SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 99999999999999999999 OPTIONS\r\n\r\n"),
                     SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: OPTIONS\r\n\r\n"), SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 1OPTIONS\r\n\r\n"), SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 1\r\n\r\n"), SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: -1 OPTIONS\r\n\r\n"), SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 1 OPTIONS x\r\n\r\n"), SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 1 OPTIONSX\r\n\r\n"), SIP_ERR_CSEQ);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 2147483647  OPTIONS \r\n\r\n"), SIP_OK);
    assert_int_equal(msg.cseq, 2147483647u);
    assert_int_equal(parse(RL VIA FROM TO CALLID "CSeq: 0 OPTIONS\r\n\r\n"), SIP_OK);
    assert_int_equal(msg.cseq, 0);
}

/* Max-Forwards: 0..255, digits only; -1 when absent. */
static void test_err_max_forwards(void **state)
{
    static const char *bad[] = {"256", "-1", "7a", "", "1 0", "+5", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(fmt(RL VIA FROM TO CALLID CSEQ "Max-Forwards: %s\r\n\r\n", bad[i])) !=
            SIP_ERR_MAX_FORWARDS)
            fail_msg("Max-Forwards \"%s\" accepted", bad[i]);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Max-Forwards: 255\r\n\r\n"), SIP_OK);
    assert_int_equal(msg.max_forwards, 255);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "Max-Forwards: 0\r\n\r\n"), SIP_OK);
    assert_int_equal(msg.max_forwards, 0);
    assert_int_equal(parse(RL VIA FROM TO CALLID CSEQ "\r\n"), SIP_OK);
    assert_int_equal(msg.max_forwards, -1);
}

/* Top Via malformed. */
static void test_err_via(void **state)
{
    static const char *bad[] = {
        "SIP/2.0/TCP",
        "SIP/2.0/TCP ",
        "SIP/3.0/TCP h",
        "SIP/2.0 TCP h",
        "SIP/2.0/TCPh",
        "SIP/2.0/TCP h:0",
        "SIP/2.0/TCP h:65536",
        "SIP/2.0/TCP [::1",
        "SIP/2.0/TCP []",
        "SIP/2.0/TCP h:",
        "SIP/2.0/TCP h x",
        "HTTP/2.0/TCP h",
        "SIP/2.0/TCP [1.2.3.4]",
        "",
        ",",
        "SIP/2.0//TCP h",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(fmt(RL "Via: %s\r\n" FROM TO CALLID CSEQ "\r\n", bad[i])) != SIP_ERR_VIA)
            fail_msg("Via \"%s\" accepted", bad[i]);
    assert_int_equal(parse(RL "Via: SIP/2.0/TCP h:65535\r\n" FROM TO CALLID CSEQ "\r\n"), SIP_OK);
    assert_int_equal(msg.via.port, 65535);
    assert_int_equal(msg.via.branch.len, 0);
    assert_int_equal(msg.via.params.len, 0);
}

/* ---- framing --------------------------------------------------------------------------------- */

/* Byte by byte: 0 until the last byte, then the length. */
static void test_frame_partial(void **state)
{
    size_t n = sizeof(invite) - 1, ka;
    for (size_t i = 0; i < n; i++) {
        char *copy = malloc(i ? i : 1);
        memcpy(copy, invite, i);
        ka = 99;
        if (sip_frame(copy, i, 65535, &ka) != 0)
            fail_msg("framed with %zu of %zu bytes", i, n);
        assert_int_equal(ka, 0);
        free(copy);
    }
    assert_int_equal(sip_frame(invite, n, 65535, &ka), (ssize_t)n);
    assert_int_equal(ka, 0);
    assert_int_equal(sip_frame(invite, n, n, &ka), (ssize_t)n); /* exactly max_size */
}

/* RFC 5626 keepalives: leading CR/LF reported, nothing else looked at. */
static void test_frame_keepalive(void **state)
{
    size_t ka = 99;
    assert_int_equal(sip_frame("\r\n\r\n", 4, 65535, &ka), 0);
    assert_int_equal(ka, 4);
    assert_int_equal(sip_frame("\r\n", 2, 65535, &ka), 0);
    assert_int_equal(ka, 2);
    assert_int_equal(sip_frame("", 0, 65535, &ka), 0);
    assert_int_equal(ka, 0);

    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "\r\n\r\n%s", invite);
    assert_int_equal(sip_frame(buf, (size_t)n, 65535, &ka), 0);
    assert_int_equal(ka, 4);
    assert_int_equal(sip_frame(buf + ka, (size_t)n - ka, 65535, &ka),
                     (ssize_t)(sizeof(invite) - 1));
    assert_int_equal(ka, 0);
}

/* Two messages in one read: framed and parsed one after the other. */
static void test_frame_pipelined(void **state)
{
    const char *second = RL VIA FROM TO CALLID CSEQ "Content-Length: 4\r\n\r\nping";
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "%s%s", invite, second);
    size_t ka;
    ssize_t a = sip_frame(buf, (size_t)n, 65535, &ka);
    assert_int_equal(a, (ssize_t)(sizeof(invite) - 1));
    assert_int_equal(sip_msg_parse(&msg, buf, (size_t)a, NULL), SIP_OK);
    assert_int_equal(msg.method_id, SIP_M_INVITE);

    ssize_t b = sip_frame(buf + a, (size_t)(n - a), 65535, &ka);
    assert_int_equal(b, (ssize_t)strlen(second));
    assert_int_equal(sip_msg_parse(&msg, buf + a, (size_t)b, NULL), SIP_OK);
    assert_int_equal(msg.method_id, SIP_M_OPTIONS);
    assert_slice(msg.body, "ping");

    /* the second one partial: the first still frames, the second waits */
    assert_int_equal(sip_frame(buf, (size_t)n - 1, 65535, &ka), a);
    assert_int_equal(sip_frame(buf + a, (size_t)(n - a - 1), 65535, &ka), 0);
}

/* Framing errors: no / bad / huge Content-Length, unterminated headers. */
static void test_frame_errors(void **state)
{
    size_t ka;
#define FRAME(s) sip_frame((s), strlen(s), 4096, &ka)
    assert_int_equal(FRAME(RL VIA "\r\n"), SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(FRAME(RL VIA "Content-Length: abc\r\n\r\n"), SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(FRAME(RL VIA "Content-Length: \r\n\r\n"), SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(FRAME(RL VIA "Content-Length: 1 2\r\n\r\n"), SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(FRAME(RL VIA "Content-Length: -3\r\n\r\n"), SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(FRAME(RL "l: 1\r\nContent-Length: 2\r\n\r\nab"), SIP_ERR_CONTENT_LENGTH);
    /* a header whose name only starts like it is not Content-Length */
    assert_int_equal(FRAME(RL "Content-Length-X: 2\r\nlx: 3\r\n\r\n"), SIP_ERR_CONTENT_LENGTH);
    assert_int_equal(FRAME(RL VIA "Content-Length: 99999999999999999999999999\r\n\r\n"),
                     SIP_ERR_TOO_LARGE);
    assert_int_equal(FRAME(RL VIA "Content-Length: 4097\r\n\r\n"), SIP_ERR_TOO_LARGE);
    assert_int_equal(FRAME(RL VIA "Subject: x\nl: 0\r\n\r\n"), SIP_ERR_HEADER);
    /* same value twice, compact form, spacing: fine */
    const char *ok = RL "CONTENT-length : 2 \r\nl:2\r\n\r\nab";
    assert_int_equal(FRAME(ok), (ssize_t)strlen(ok));
    /* the start line is not a header */
    const char *sl = "l: 5 sip:x SIP/2.0\r\nl: 0\r\n\r\n";
    assert_int_equal(FRAME(sl), (ssize_t)strlen(sl));
#undef FRAME

    /* headers that never end within max_size */
    char big[5000];
    memset(big, 'a', sizeof(big));
    memcpy(big, RL "X: ", strlen(RL "X: "));
    assert_int_equal(sip_frame(big, 4095, 4096, &ka), 0);
    assert_int_equal(sip_frame(big, 4096, 4096, &ka), SIP_ERR_TOO_LARGE);
    assert_int_equal(sip_frame(big, sizeof(big), 4096, &ka), SIP_ERR_TOO_LARGE);
    /* headers + body over max_size */
    size_t n = sizeof(invite) - 1;
    assert_int_equal(sip_frame(invite, n, n - 1, &ka), SIP_ERR_TOO_LARGE);
    assert_int_equal(sip_frame(invite, 100, n - 1, &ka), 0); /* cannot tell yet */
}

/* ---- value helpers --------------------------------------------------------------------------- */

/* IPv6 in Via (sent-by and received) and in URIs, without the brackets. */
static void test_ipv6(void **state)
{
    const char *s = RL "Via: SIP/2.0/TLS "
                       "[2001:db8::1]:5061;branch=z9hG4bK6;received=2001:db8::9\r\n"
                       "From: <sip:alice@[2001:db8::10]:5070;transport=tls>;tag=6\r\n"
                       "To: <sips:[::ffff:192.0.2.1]>\r\n" CALLID CSEQ "\r\n";
    assert_int_equal(parse(s), SIP_OK);
    assert_slice(msg.via.host, "2001:db8::1");
    assert_int_equal(msg.via.port, 5061);
    assert_slice(msg.via.received, "2001:db8::9");

    struct sip_uri u;
    assert_int_equal(sip_uri_parse(msg.from_uri, &u), 0);
    assert_slice(u.scheme, "sip");
    assert_slice(u.user, "alice");
    assert_slice(u.host, "2001:db8::10");
    assert_int_equal(u.port, 5070);
    assert_slice(u.params, "transport=tls");
    assert_int_equal(sip_uri_parse(msg.to_uri, &u), 0);
    assert_slice(u.scheme, "sips");
    assert_int_equal(u.user.len, 0);
    assert_slice(u.host, "::ffff:192.0.2.1");
    assert_int_equal(u.port, 0);

    struct sip_via v;
    assert_int_equal(sip_via_parse(SLICE_LIT("SIP/2.0/UDP [::1]"), &v), 0);
    assert_slice(v.host, "::1");
    assert_int_equal(v.port, 0);
    assert_int_equal(sip_via_parse(SLICE_LIT("SIP/2.0/UDP [::1]:"), &v), -1);
    assert_int_equal(sip_via_parse(SLICE_LIT("SIP/2.0/UDP [::g]"), &v), -1);
    assert_int_equal(sip_uri_parse(SLICE_LIT("sip:a@[2001:db8::1"), &u), -1);
}

/* URIs: schemes, user with params, password, port, params and headers. */
static void test_uri(void **state)
{
    struct sip_uri u;
    assert_int_equal(sip_uri_parse(SLICE_LIT("SIPS:+1555;npdi@gw.example.com:"
                                             "5061;user=phone;lr?Subject=hi&P=1"),
                                   &u),
                     0);
    assert_slice(u.scheme, "SIPS");
    assert_slice(u.user, "+1555;npdi");
    assert_slice(u.host, "gw.example.com");
    assert_int_equal(u.port, 5061);
    assert_slice(u.params, "user=phone;lr");
    assert_slice(u.headers, "Subject=hi&P=1");

    assert_int_equal(sip_uri_parse(SLICE_LIT("sip:bob:secret@10.0.0.1"), &u), 0);
    assert_slice(u.user, "bob");
    assert_slice(u.host, "10.0.0.1");
    assert_int_equal(u.params.len, 0);
    assert_int_equal(u.headers.len, 0);

    assert_int_equal(sip_uri_parse(SLICE_LIT("sip:proxy.example.com?x=y"), &u), 0);
    assert_int_equal(u.user.len, 0);
    assert_slice(u.host, "proxy.example.com");
    assert_slice(u.headers, "x=y");

    assert_int_equal(sip_uri_parse(SLICE_LIT("tel:+1-201-555-0123;phone-context=example.com"), &u),
                     0);
    assert_slice(u.scheme, "tel");
    assert_slice(u.user, "+1-201-555-0123");
    assert_int_equal(u.host.len, 0);
    assert_slice(u.params, "phone-context=example.com");

    static const char *bad[] = {"http://example.com",
                                "sip:",
                                "sip:@h",
                                "sip:a@",
                                "sip:h:0",
                                "sip:h:65536",
                                "sip:h:123456",
                                "sip:h:x",
                                "sip:h x",
                                "nocolon",
                                "tel:",
                                "",
                                "sip:h>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sip_uri_parse(slice_cstr(bad[i]), &u) != -1)
            fail_msg("URI \"%s\" accepted", bad[i]);
}

/* name-addr and addr-spec forms (RFC 3261 §20.10). */
static void test_nameaddr(void **state)
{
    struct slice uri, params;
    assert_int_equal(
        sip_nameaddr_parse(SLICE_LIT("\"A <\\\"x\\\"> B\" <sip:a@x;transport=tcp>;tag=1;q=2"), &uri,
                           &params),
        0);
    assert_slice(uri, "sip:a@x;transport=tcp");
    assert_slice(params, "tag=1;q=2");

    assert_int_equal(sip_nameaddr_parse(SLICE_LIT("Bob Smith <sip:b@x>"), &uri, &params), 0);
    assert_slice(uri, "sip:b@x");
    assert_int_equal(params.len, 0);

    /* addr-spec: the params are the header's, not the URI's */
    assert_int_equal(sip_nameaddr_parse(SLICE_LIT("sip:b@x;tag=99"), &uri, &params), 0);
    assert_slice(uri, "sip:b@x");
    assert_slice(params, "tag=99");
    assert_int_equal(sip_nameaddr_parse(SLICE_LIT("  <sip:b@x>  ;  tag=3 "), &uri, NULL), 0);
    assert_slice(uri, "sip:b@x");

    static const char *bad[] = {"",
                                "*",
                                "<sip:b@x",
                                "\"unterminated <sip:b@x>",
                                "\"q\" sip:b@x",
                                "<sip:b@x> junk",
                                "<>",
                                "Bob sip:b@x",
                                "nouri"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uri = SLICE_LIT("untouched");
        if (sip_nameaddr_parse(slice_cstr(bad[i]), &uri, &params) != -1)
            fail_msg("name-addr \"%s\" accepted", bad[i]);
        assert_slice(uri, "untouched");
    }
}

/* ;param lookup: case, values, flags, quotes, look-alike names. */
static void test_params(void **state)
{
    struct slice p = SLICE_LIT("transport=TCP; LR "
                               ";maddr=10.0.0.1;x=\"a;tag=no\";y=\"\\\";tag=esc\";tagx=2;tag=real;"
                               "empty=");
    struct slice v;
    assert_true(sip_param_get(p, "transport", &v));
    assert_slice(v, "TCP");
    assert_true(sip_param_get(p, "lr", &v));
    assert_int_equal(v.len, 0);
    assert_true(sip_param_get(p, "MADDR", &v));
    assert_slice(v, "10.0.0.1");
    assert_true(sip_param_get(p, "x", &v));
    assert_slice(v, "\"a;tag=no\"");
    assert_true(sip_param_get(p, "y", &v));
    assert_slice(v, "\"\\\";tag=esc\"");
    assert_true(sip_param_get(p, "tag", &v));
    assert_slice(v, "real");
    assert_true(sip_param_get(p, "empty", &v));
    assert_int_equal(v.len, 0);
    assert_false(sip_param_get(p, "ta", &v));
    assert_false(sip_param_get(p, "ttl", NULL));
    assert_false(sip_param_get(SLICE_NULL, "tag", &v));
    assert_true(sip_param_get(SLICE_LIT("rport"), "rport", NULL));

    /* Via params */
    struct sip_via via;
    assert_int_equal(sip_via_parse(SLICE_LIT("SIP/2.0/TCP h;rport=5062;received=192.0.2.9;"
                                             "branch=z9hG4bKq;ttl=1"),
                                   &via),
                     0);
    assert_true(via.has_rport);
    assert_slice(via.received, "192.0.2.9");
    assert_slice(via.branch, "z9hG4bKq");
    assert_true(sip_param_get(via.params, "ttl", &v));
    assert_slice(v, "1");
    /* a repeated parameter: the first one counts, as in sip_param_get */
    assert_int_equal(sip_via_parse(SLICE_LIT("SIP/2.0/TCP h;branch=z9hG4bK1;received=a;branch=x;"
                                             "received=b"),
                                   &via),
                     0);
    assert_slice(via.branch, "z9hG4bK1");
    assert_slice(via.received, "a");
    assert_true(sip_param_get(via.params, "branch", &v));
    assert_slice(v, "z9hG4bK1");
}

/* List splitting edge cases. */
static void test_list_next(void **state)
{
    struct slice rest = SLICE_LIT(" a , \"b,\\\"c\" <d,e> , , f,"), one;
    assert_true(sip_list_next(rest, &one, &rest));
    assert_slice(one, "a");
    assert_slice(rest, "\"b,\\\"c\" <d,e> , , f,"); /* leading whitespace trimmed */
    assert_true(sip_list_next(rest, &one, &rest));
    assert_slice(one, "\"b,\\\"c\" <d,e>");
    assert_true(sip_list_next(rest, &one, &rest));
    assert_slice(one, "f");
    assert_false(sip_list_next(rest, &one, &rest));
    assert_false(sip_list_next(SLICE_NULL, &one, &rest));
    assert_false(sip_list_next(SLICE_LIT(" \r\n "), &one, &rest));
    /* folding after a comma: rest is ready to be written as a value */
    assert_true(sip_list_next(SLICE_LIT("SIP/2.0/TCP a,\r\n  SIP/2.0/TCP b"), &one, &rest));
    assert_slice(one, "SIP/2.0/TCP a");
    assert_slice(rest, "SIP/2.0/TCP b");
    /* an unterminated quote takes the rest */
    assert_true(sip_list_next(SLICE_LIT("\"a,b"), &one, &rest));
    assert_slice(one, "\"a,b");
    assert_int_equal(rest.len, 0);
}

/* Method names to ids and back; case-sensitive. */
static void test_methods(void **state)
{
    for (int m = SIP_M_INVITE; m <= SIP_M_SERVICE; m++) {
        const char *name = sip_method_name((enum sip_method)m);
        assert_non_null(name);
        assert_int_equal(sip_method_from(slice_cstr(name)), m);
    }
    assert_string_equal(sip_method_name(SIP_M_SUBSCRIBE), "SUBSCRIBE");
    assert_null(sip_method_name(SIP_M_OTHER));
    assert_null(sip_method_name((enum sip_method)99));
    assert_int_equal(sip_method_from(SLICE_LIT("INVITEX")), SIP_M_OTHER);
    assert_int_equal(sip_method_from(SLICE_LIT("INVIT")), SIP_M_OTHER);
    assert_int_equal(sip_method_from(SLICE_LIT("Invite")), SIP_M_OTHER);
    assert_int_equal(sip_method_from(SLICE_LIT("")), SIP_M_OTHER);
    assert_int_equal(sip_method_from(SLICE_LIT("REFER")), SIP_M_REFER);
    assert_int_equal(sip_method_from(SLICE_LIT("PUBLISH")), SIP_M_PUBLISH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invite_with_sdp),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_compact_forms),
        cmocka_unit_test(test_folded_header),
        cmocka_unit_test(test_multiple_via),
        cmocka_unit_test(test_route_list),
        cmocka_unit_test(test_case_insensitivity),
        cmocka_unit_test(test_header_spacing),
        cmocka_unit_test(test_leading_crlf),
        cmocka_unit_test(test_other_headers),
        cmocka_unit_test(test_err_start_line),
        cmocka_unit_test(test_err_header),
        cmocka_unit_test(test_err_truncated),
        cmocka_unit_test(test_err_content_length),
        cmocka_unit_test(test_err_too_many_headers),
        cmocka_unit_test(test_err_too_large),
        cmocka_unit_test(test_err_missing),
        cmocka_unit_test(test_err_cseq),
        cmocka_unit_test(test_err_max_forwards),
        cmocka_unit_test(test_err_via),
        cmocka_unit_test(test_frame_partial),
        cmocka_unit_test(test_frame_keepalive),
        cmocka_unit_test(test_frame_pipelined),
        cmocka_unit_test(test_frame_errors),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_nameaddr),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_list_next),
        cmocka_unit_test(test_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
