/* test_xmpp_stream.c -- pins down the XMPP stream parser and its helpers
 * (node/xmpp/stream.c, serialise.c, jid.c, dialback.c's key): events in
 * order whatever the feed boundaries, the size/depth bounds and restricted
 * XML as RFC 6120 stream errors, where a stop leaves the bytes (STARTTLS),
 * serialisation that parses back to the same tree, escaping, JIDs, and the
 * XEP-0185 key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "xmpp/s2s.h"
#include "xmpp/stream.h"
#include "xmpp/xmpp.h"

/* What the module needs from the rest of the node, here: nothing runs. */
uint64_t node_now_ms(const struct node *n)
{
    return 0;
}
void xmpp_gateway_on_stanza(struct node *n, const struct xmpp_stanza *st) {}
void xmpp_gateway_on_send_failed(struct node *n, const struct xmpp_send_failure *f) {}

#define HDR                                                                                        \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' from='jabber.test' to='contoso.test' "        \
    "version='1.0'>"

struct rec {
    int opens, closes, elements;
    char content_ns[64], to[64];
    struct xbuf seen; /* every element serialised, one per line */
    int stop_after;   /* xml_stream_stop() in the element callback number n */
    struct xml_stream *xs;
};

static void r_open(void *arg, const struct xmpp_elem *h, const char *content_ns)
{
    struct rec *r = arg;
    r->opens++;
    snprintf(r->content_ns, sizeof(r->content_ns), "%s", content_ns);
    const char *to = xmpp_elem_attr(h, "to");
    snprintf(r->to, sizeof(r->to), "%s", to ? to : "");
    assert_string_equal(h->name, "stream");
    assert_string_equal(h->ns, NS_STREAMS);
}
static void r_element(void *arg, const struct xmpp_elem *e)
{
    struct rec *r = arg;
    r->elements++;
    xmpp_serialise(&r->seen, e, NS_SERVER);
    xbuf_adds(&r->seen, "\n");
    if (r->stop_after == r->elements)
        xml_stream_stop(r->xs);
}
static void r_close(void *arg)
{
    ((struct rec *)arg)->closes++;
}
static const struct xml_stream_cbs CBS = {r_open, r_element, r_close};

static enum xml_stream_status feed_all(struct rec *r, size_t max, const char *s, size_t step,
                                       size_t *consumed_total)
{
    r->xs = xml_stream_new(max, &CBS, r);
    assert_non_null(r->xs);
    size_t len = strlen(s), off = 0, used;
    enum xml_stream_status st = XS_OK;
    *consumed_total = 0;
    while (off < len && st == XS_OK) {
        size_t n = step && step < len - off ? step : len - off;
        st = xml_stream_feed(r->xs, s + off, n, &used);
        *consumed_total += used;
        off += n;
    }
    return st;
}

static void test_events_any_boundaries(void **state)
{
    const char *in =
        HDR "<message from='bob@jabber.test/r' to='alice@contoso.test' type='chat' "
            "xml:lang='en'><body>a &amp; b &lt;c&gt;</body><x xmlns='jabber:x:oob'><url>"
            "u</url></x></message>  \n<presence from='bob@jabber.test' "
            "to='alice@contoso.test'/></stream:stream>";
    const char *want =
        "<message from='bob@jabber.test/r' to='alice@contoso.test' type='chat' "
        "xml:lang='en'><body>a &amp; b &lt;c&gt;</body><x xmlns='jabber:x:oob'><url>u"
        "</url></x></message>\n<presence from='bob@jabber.test' "
        "to='alice@contoso.test'/>\n";
    size_t steps[] = {0, 1, 2, 7, 64};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct rec r = {0};
        size_t used;
        assert_int_equal(feed_all(&r, 4096, in, steps[i], &used), XS_OK);
        assert_int_equal(used, strlen(in));
        assert_int_equal(r.opens, 1);
        assert_int_equal(r.closes, 1);
        assert_int_equal(r.elements, 2);
        assert_string_equal(r.content_ns, NS_SERVER);
        assert_string_equal(r.to, "contoso.test");
        assert_string_equal(r.seen.p, want);
        xbuf_free(&r.seen);
        xml_stream_free(r.xs);
    }
}

static const struct xmpp_elem *g_last;
static char g_checked[256];
static void check_tree(void *arg, const struct xmpp_elem *e)
{
    g_last = e;
    const struct xmpp_elem *b = xmpp_elem_child(e, "body", NS_SERVER);
    assert_non_null(b);
    assert_string_equal(b->text, "x");
    assert_null(xmpp_elem_child(e, "body", "urn:other"));
    assert_non_null(xmpp_elem_child(e, "thread", NULL));
    assert_string_equal(xmpp_elem_attr(e, "xml:lang"), "de");
    assert_null(xmpp_elem_attr(e, "lang"));
    assert_string_equal(xmpp_elem_attr(b->next, "xml:lang"), "en");
    assert_ptr_equal(b->parent, e);
    struct xbuf in = {0};
    xmpp_serialise_inner(&in, e);
    snprintf(g_checked, sizeof(g_checked), "%s", in.p);
    xbuf_free(&in);
}

static void test_tree(void **state)
{
    struct xml_stream_cbs cbs = {NULL, check_tree, NULL};
    struct xml_stream *xs = xml_stream_new(4096, &cbs, NULL);
    const char *in = HDR "<message to='a@contoso.test' xml:lang='de'><body>x</body>"
                         "<body xml:lang='en'>y</body><thread>t</thread></message>";
    size_t used;
    assert_int_equal(xml_stream_feed(xs, in, strlen(in), &used), XS_OK);
    assert_non_null(g_last);
    assert_string_equal(g_checked, "<body>x</body><body xml:lang='en'>y</body><thread>t</thread>");
    xml_stream_free(xs);
}

/* An element in the XML namespace keeps its xml: prefix (binding that
 * namespace with xmlns is not well-formed), and its children stay in the
 * default namespace in scope (found by fuzz/xmpp_stream). */
static void test_xml_namespace_element(void **state)
{
    const char *in = HDR "<message to='a@contoso.test'><xml:box xml:p='p'><body>x</body>"
                         "</xml:box></message></stream:stream>";
    const char *want = "<message to='a@contoso.test'><xml:box xml:p='p'><body>x</body>"
                       "</xml:box></message>\n";
    struct rec r = {0};
    size_t used;
    assert_int_equal(feed_all(&r, 4096, in, 0, &used), XS_OK);
    assert_int_equal(r.elements, 1);
    assert_string_equal(r.seen.p, want);
    xbuf_free(&r.seen);
    xml_stream_free(r.xs);
}

static void expect_error(const char *in, size_t max, size_t step, const char *cond)
{
    struct rec r = {0};
    size_t used;
    assert_int_equal(feed_all(&r, max, in, step, &used), XS_ERROR);
    const char *text = NULL;
    assert_string_equal(xml_stream_error(r.xs, &text), cond);
    assert_non_null(text);
    xml_stream_free(r.xs);
    xbuf_free(&r.seen);
}

static void test_size_bound(void **state)
{
    char in[8192], body[3000];
    memset(body, 'a', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    snprintf(in, sizeof(in), HDR "<message><body>%s</body></message>", body);
    /* the element is 3000 + 33 bytes: refused under 2048, whole feed or byte by byte */
    expect_error(in, 2048, 0, "policy-violation");
    expect_error(in, 2048, 1, "policy-violation");
    expect_error(in, 2048, 100, "policy-violation");
    struct rec r = {0};
    size_t used;
    assert_int_equal(feed_all(&r, 4096, in, 0, &used), XS_OK);
    assert_int_equal(r.elements, 1);
    xml_stream_free(r.xs);
    xbuf_free(&r.seen);
    /* an unfinished tag grows without an event: bounded too */
    char open_tag[6000];
    memset(open_tag, 'b', sizeof(open_tag) - 1);
    open_tag[0] = '<';
    open_tag[sizeof(open_tag) - 1] = '\0';
    snprintf(in, sizeof(in), HDR "%s", open_tag);
    expect_error(in, 2048, 512, "policy-violation");
    /* a header alone may not exceed it either */
    snprintf(in, sizeof(in), "<stream:stream xmlns='jabber:server' xmlns:stream='%s' x='%s'>",
             NS_STREAMS, body);
    expect_error(in, 2048, 0, "policy-violation");
    /* many small elements in a row are fine (the bound is per element; the
     * header, 156 bytes, must fit too) */
    char many[20000] = HDR;
    for (int i = 0; i < 300; i++)
        strcat(many, "<iq type='get' id='x'/>");
    struct rec r2 = {0};
    assert_int_equal(feed_all(&r2, 200, many, 1000, &used), XS_OK);
    assert_int_equal(r2.elements, 300);
    xml_stream_free(r2.xs);
    xbuf_free(&r2.seen);
}

static void test_depth_bound(void **state)
{
    char in[4096] = HDR;
    for (int i = 0; i < XML_STREAM_MAX_DEPTH + 2; i++)
        strcat(in, "<a>");
    expect_error(in, 65536, 0, "policy-violation");
}

static void test_restricted_and_malformed(void **state)
{
    expect_error(HDR "<!-- c -->", 4096, 0, "restricted-xml");
    expect_error(HDR "<?pi x?>", 4096, 0, "restricted-xml");
    expect_error("<!DOCTYPE s [<!ENTITY a 'b'>]>" HDR, 4096, 0, "restricted-xml");
    expect_error(HDR "<a><b></a>", 4096, 0, "not-well-formed");
    expect_error(HDR "hello", 4096, 0, "not-well-formed");
    expect_error(HDR "<a x='1' x='2'/>", 4096, 0, "not-well-formed");
    expect_error(HDR "<p:a/>", 4096, 0, "not-well-formed"); /* unbound prefix */
    expect_error(HDR "<a>&undefined;</a>", 4096, 0, "not-well-formed");
    expect_error("\xff\xfe<x/>", 4096, 0, "not-well-formed");
}

static void test_stop_leaves_the_rest(void **state)
{
    /* <proceed/> then a TLS ClientHello in the same read: the parser must
     * say where the element ended, whatever the boundaries */
    const char *in = HDR "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01garbage";
    size_t end = strlen(HDR "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    size_t steps[] = {0, 1, 5};
    for (size_t i = 0; i < 3; i++) {
        struct rec r = {0};
        r.stop_after = 1;
        size_t used;
        assert_int_equal(feed_all(&r, 4096, in, steps[i], &used), XS_STOPPED);
        assert_int_equal(used, end);
        assert_int_equal(r.elements, 1);
        xml_stream_free(r.xs);
        xbuf_free(&r.seen);
    }
    /* a non-empty element too */
    const char *in2 = HDR "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>x</success><next/>";
    struct rec r = {0};
    r.stop_after = 1;
    size_t used;
    assert_int_equal(feed_all(&r, 4096, in2, 0, &used), XS_STOPPED);
    assert_int_equal(used, strlen(in2) - strlen("<next/>"));
    xml_stream_free(r.xs);
    xbuf_free(&r.seen);
}

static void test_escape(void **state)
{
    char buf[64];
    const char *s = "a<b>&\"c'";
    size_t need = xmpp_escape(NULL, 0, s, strlen(s));
    assert_int_equal(need, strlen("a&lt;b&gt;&amp;&quot;c&apos;"));
    assert_int_equal(xmpp_escape(buf, sizeof(buf), s, strlen(s)), need);
    assert_string_equal(buf, "a&lt;b&gt;&amp;&quot;c&apos;");
    /* truncated: never a half entity, always terminated */
    assert_int_equal(xmpp_escape(buf, 4, s, strlen(s)), need);
    assert_string_equal(buf, "a");
    assert_int_equal(xmpp_escape(buf, 7, s, strlen(s)), need);
    assert_string_equal(buf, "a&lt;b");
}

static void test_jid(void **state)
{
    struct xmpp_jid j;
    const char *s = "bob@jabber.test/home@x/y";
    assert_int_equal(xmpp_jid_parse(s, strlen(s), &j), 0);
    assert_true(slice_eq(j.local, SLICE_LIT("bob")));
    assert_true(slice_eq(j.domain, SLICE_LIT("jabber.test")));
    assert_true(slice_eq(j.resource, SLICE_LIT("home@x/y")));
    s = "jabber.test.";
    assert_int_equal(xmpp_jid_parse(s, strlen(s), &j), 0);
    assert_true(slice_eq(j.domain, SLICE_LIT("jabber.test")));
    assert_int_equal(j.local.len, 0);
    assert_int_equal(xmpp_jid_parse("@jabber.test", 12, &j), -1);
    assert_int_equal(xmpp_jid_parse("bob@", 4, &j), -1);
    assert_int_equal(xmpp_jid_parse("bob@x/", 6, &j), -1);
    assert_int_equal(xmpp_jid_parse("", 0, &j), -1);
    char d[DOMAIN_MAX];
    assert_true(s2s_jid_domain("Bob@Jabber.TEST/r", d, sizeof(d)));
    assert_string_equal(d, "jabber.test");
    assert_false(s2s_jid_domain(NULL, d, sizeof(d)));
}

static void test_dialback_key(void **state)
{
    /* XEP-0185's example: secret s3cr3tf0rd14lb4ck, receiving domain2.tld,
     * originating domain1.tld, stream id D60000229F (computed with the
     * XEP's own recipe: HMAC-SHA256 keyed with the hex SHA-256 of the secret) */
    struct xmpp x;
    memset(&x, 0, sizeof(x));
    snprintf(x.db_secret, sizeof(x.db_secret), "%s",
             "a7136eb1f46c9ef18c5e78c36ca257067c69b3d518285f0b18a96c33beae9acc");
    char key[65];
    dialback_key(&x, "domain2.tld", "domain1.tld", "D60000229F", key);
    assert_string_equal(key, "5e598fae34b90be084fb6a4a8a543ceb33549140bac9d829ef8d734d900616e4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_any_boundaries),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_xml_namespace_element),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_restricted_and_malformed),
        cmocka_unit_test(test_stop_leaves_the_rest),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_jid),
        cmocka_unit_test(test_dialback_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
