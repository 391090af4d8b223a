/* test_xmpp_gateway.c -- the SIP<->XMPP gateway's pure mappings: addresses
 * both ways (RFC 7247 section 5, XEP-0106 escapes, refusals), Call-IDs from
 * threads, error conditions both ways (RFC 7247 section 8 and our two
 * departures), and presence <-> PIDF (RFC 7248 / RFC 8048: every available
 * state is open, the show rides in an RPID activity, unavailable is closed,
 * status is the note), including hostile PIDF input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xmpp/gateway_map.h"
#include "xmpp/pidf.h"

static const char *j2a(const char *jid)
{
    static char out[GW_ADDR_MAX];
    return gw_jid_to_aor(jid, strlen(jid), out, sizeof(out)) < 0 ? NULL : out;
}

static const char *u2j(const char *uri)
{
    static char out[GW_ADDR_MAX];
    return gw_uri_to_jid(slice_cstr(uri), out, sizeof(out)) < 0 ? NULL : out;
}

static void test_jid_to_sip(void **state)
{
    assert_string_equal(j2a("bob@jabber.test"), "bob@jabber.test");
    /* the resource goes: SIP addresses the user */
    assert_string_equal(j2a("bob@jabber.test/laptop"), "bob@jabber.test");
    assert_string_equal(j2a("Bob@Jabber.TEST/Res@x"), "bob@jabber.test");
    /* XEP-0106 escapes undone, then percent-encoded where SIP needs it */
    assert_string_equal(j2a("d\\27artagnan@jabber.test"), "d'artagnan@jabber.test");
    assert_string_equal(j2a("john\\20doe@jabber.test"), "john%20doe@jabber.test");
    assert_string_equal(j2a("a\\40b@jabber.test"), "a%40b@jabber.test");
    /* user-unreserved passes */
    assert_string_equal(j2a("a+b&c=d@jabber.test"), "a+b&c=d@jabber.test");
    /* non-ASCII is percent-encoded UTF-8 */
    assert_string_equal(j2a("j\xc3\xbcrgen@jabber.test"), "j%C3%BCrgen@jabber.test");
    /* a trailing dot on the domain is dropped */
    assert_string_equal(j2a("bob@jabber.test."), "bob@jabber.test");
    /* refused: no localpart (a server), empty, control characters, odd domains */
    assert_null(j2a("jabber.test"));
    assert_null(j2a("@jabber.test"));
    assert_null(j2a("bob@"));
    assert_null(j2a("b\x01ob@jabber.test"));
    assert_null(j2a("bob@jab ber.test"));
    char small[8];
    assert_int_equal(gw_jid_to_aor("bob@jabber.test", 15, small, sizeof(small)), -1);
}

static void test_sip_to_jid(void **state)
{
    assert_string_equal(u2j("sip:alice@contoso.test"), "alice@contoso.test");
    assert_string_equal(u2j("<sip:Alice@Contoso.Test;transport=tcp>"), "alice@contoso.test");
    assert_string_equal(u2j("sips:alice@contoso.test:5061;maddr=x?subject=y"),
                        "alice@contoso.test");
    /* ";" belongs to a user part (user-unreserved), parameters follow the host */
    assert_string_equal(u2j("sip:alice;x=y@contoso.test;user=ip"), "alice;x=y@contoso.test");
    /* percent-decoded, then XEP-0106 where a localpart cannot carry it */
    assert_string_equal(u2j("sip:john%20doe@contoso.test"), "john\\20doe@contoso.test");
    assert_string_equal(u2j("sip:d'artagnan@contoso.test"), "d\\27artagnan@contoso.test");
    assert_string_equal(u2j("sip:a%40b@contoso.test"), "a\\40b@contoso.test");
    assert_string_equal(u2j("sip:a/b@contoso.test"), "a\\2fb@contoso.test");
    /* a literal backslash that would read as an escape is escaped itself */
    assert_string_equal(u2j("sip:a%5C20b@contoso.test"), "a\\5c20b@contoso.test");
    assert_string_equal(u2j("sip:a%5Cxb@contoso.test"), "a\\xb@contoso.test");
    /* round trip */
    char aor[GW_ADDR_MAX], uri[GW_ADDR_MAX + 4];
    const char *jid = u2j("sip:john%20o'hara@contoso.test");
    assert_non_null(jid);
    assert_true(gw_jid_to_aor(jid, strlen(jid), aor, sizeof(aor)) > 0);
    snprintf(uri, sizeof(uri), "sip:%s", aor);
    assert_string_equal(u2j(uri), jid);
    /* refused */
    assert_null(u2j("tel:+15551234"));
    assert_null(u2j("sip:contoso.test"));
    assert_null(u2j("sip:@contoso.test"));
    assert_null(u2j("sip:alice:secret@contoso.test"));
    assert_null(u2j("sip:al%0Aice@contoso.test"));
    assert_null(u2j("sip:al%2@contoso.test"));
    assert_null(u2j("sip:alice@"));
    assert_null(u2j("mailto:alice@contoso.test"));
}

static void test_domain_and_thread(void **state)
{
    struct slice d = gw_addr_domain(slice_cstr("bob@jabber.test/res"));
    assert_int_equal(d.len, 11);
    assert_memory_equal(d.p, "jabber.test", 11);
    d = gw_addr_domain(slice_cstr("jabber.test"));
    assert_int_equal(d.len, 11);
    char cid[300];
    assert_true(gw_thread_to_call_id("thr-1.a", "jabber.test", cid, sizeof(cid)) > 0);
    assert_string_equal(cid, "thr-1.a@jabber.test");
    /* not a SIP word: hashed, the same each time */
    assert_true(gw_thread_to_call_id("a thread with spaces", "jabber.test", cid, sizeof(cid)) > 0);
    assert_int_equal(strlen(cid), 1 + 16 + 1 + 11);
    char cid2[300];
    gw_thread_to_call_id("a thread with spaces", "jabber.test", cid2, sizeof(cid2));
    assert_string_equal(cid, cid2);
}

static void test_errors(void **state)
{
    const char *reason, *type;
    /* SIP -> XMPP, the brief's examples and RFC 7247 Table 3 */
    assert_string_equal(gw_err_sip_to_xmpp(404, &type), "item-not-found");
    assert_string_equal(type, "cancel");
    assert_string_equal(gw_err_sip_to_xmpp(403, &type), "forbidden");
    assert_string_equal(type, "auth");
    assert_string_equal(gw_err_sip_to_xmpp(408, &type), "recipient-unavailable");
    assert_string_equal(type, "wait");
    assert_string_equal(gw_err_sip_to_xmpp(480, &type), "recipient-unavailable");
    assert_string_equal(gw_err_sip_to_xmpp(486, &type), "recipient-unavailable");
    assert_string_equal(gw_err_sip_to_xmpp(415, &type), "bad-request");
    assert_string_equal(type, "modify");
    assert_string_equal(gw_err_sip_to_xmpp(503, &type), "service-unavailable");
    assert_string_equal(gw_err_sip_to_xmpp(504, &type), "remote-server-timeout");
    assert_string_equal(gw_err_sip_to_xmpp(302, &type), "redirect");
    assert_string_equal(gw_err_sip_to_xmpp(499, &type), "bad-request");
    assert_string_equal(gw_err_sip_to_xmpp(599, &type), "internal-server-error");
    assert_string_equal(gw_err_sip_to_xmpp(603, &type), "service-unavailable");
    /* XMPP -> SIP, RFC 7247 Table 2 and the RFC 7572 section 5 cases */
    assert_int_equal(gw_err_xmpp_to_sip("item-not-found", &reason), 404);
    assert_int_equal(gw_err_xmpp_to_sip("forbidden", &reason), 403);
    assert_int_equal(gw_err_xmpp_to_sip("recipient-unavailable", &reason), 480);
    assert_int_equal(gw_err_xmpp_to_sip("service-unavailable", &reason), 480);
    assert_int_equal(gw_err_xmpp_to_sip("remote-server-not-found", &reason), 404);
    assert_int_equal(gw_err_xmpp_to_sip("remote-server-timeout", &reason), 408);
    assert_int_equal(gw_err_xmpp_to_sip("policy-violation", &reason), 403);
    assert_int_equal(gw_err_xmpp_to_sip("feature-not-implemented", &reason), 405);
    assert_int_equal(gw_err_xmpp_to_sip("not-authorized", &reason), 401);
    assert_int_equal(gw_err_xmpp_to_sip("internal-server-error", &reason), 500);
    assert_int_equal(gw_err_xmpp_to_sip("no-such-condition", &reason), 500);
    assert_int_equal(gw_err_xmpp_to_sip(NULL, &reason), 500);
    assert_string_equal(gw_err_type("recipient-unavailable"), "wait");
    assert_string_equal(gw_err_type("bogus"), "cancel");
}

static void test_show_names(void **state)
{
    assert_int_equal(gw_show_parse("away", 4), GW_SHOW_AWAY);
    assert_int_equal(gw_show_parse(" dnd\n", 5), GW_SHOW_DND);
    assert_int_equal(gw_show_parse("xa", 2), GW_SHOW_XA);
    assert_int_equal(gw_show_parse("chat", 4), GW_SHOW_CHAT);
    assert_int_equal(gw_show_parse("busy", 4), GW_SHOW_NONE);
    assert_int_equal(gw_show_parse("", 0), GW_SHOW_NONE);
    assert_string_equal(gw_show_name(GW_SHOW_DND), "dnd");
    assert_null(gw_show_name(GW_SHOW_NONE));
}

/* build, parse back, and check the model survives */
static void roundtrip(bool open, enum gw_show show, const char *note, enum gw_show expect_show)
{
    struct gw_presence p = {open, show, ""}, q;
    snprintf(p.note, sizeof(p.note), "%s", note);
    char doc[4096];
    size_t n = pidf_build(doc, sizeof(doc), "bob@jabber.test", &p);
    assert_true(n > 0);
    assert_non_null(strstr(doc, "entity=\"pres:bob@jabber.test\""));
    assert_non_null(strstr(doc, open ? "<basic>open</basic>" : "<basic>closed</basic>"));
    assert_int_equal(pidf_parse(doc, n, &q), 0);
    assert_int_equal(q.open, open);
    assert_int_equal(q.show, open ? expect_show : GW_SHOW_NONE);
    assert_string_equal(q.note, note);
}

static void test_pidf_roundtrip(void **state)
{
    roundtrip(true, GW_SHOW_NONE, "", GW_SHOW_NONE);
    roundtrip(true, GW_SHOW_CHAT, "free to chat", GW_SHOW_NONE); /* no RPID for chat */
    roundtrip(true, GW_SHOW_AWAY, "lunch", GW_SHOW_AWAY);
    roundtrip(true, GW_SHOW_XA, "", GW_SHOW_XA);
    roundtrip(true, GW_SHOW_DND, "in a <meeting> & \"busy\"", GW_SHOW_DND);
    roundtrip(false, GW_SHOW_NONE, "gone home", GW_SHOW_NONE);
    struct gw_presence p = {true, GW_SHOW_DND, ""};
    char doc[4096];
    pidf_build(doc, sizeof(doc), "bob@jabber.test", &p);
    assert_non_null(strstr(doc, "<rpid:busy/>"));
    p.show = GW_SHOW_AWAY;
    pidf_build(doc, sizeof(doc), "bob@jabber.test", &p);
    assert_non_null(strstr(doc, "<rpid:away/>"));
    /* too small a buffer: 0, not a cut document */
    assert_int_equal(pidf_build(doc, 40, "bob@jabber.test", &p), 0);
}

static void test_pidf_parse_foreign(void **state)
{
    struct gw_presence q;
    /* another implementation's document: prefixes of its own, person-level
     * note, on-the-phone activity, two tuples (one open wins) */
    const char *doc = "<?xml version='1.0'?>\n"
                      "<p:presence xmlns:p='urn:ietf:params:xml:ns:pidf' "
                      "xmlns:d='urn:ietf:params:xml:ns:pidf:data-model' "
                      "xmlns:r='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:alice@contoso.test'>"
                      "<p:tuple id='a'><p:status><p:basic>closed</p:basic></p:status></p:tuple>"
                      "<p:tuple id='b'><p:status><p:basic> open </p:basic></p:status></p:tuple>"
                      "<d:person id='x'><r:activities><r:on-the-phone/></r:activities>"
                      "<d:note>On a call</d:note></d:person></p:presence>";
    assert_int_equal(pidf_parse(doc, strlen(doc), &q), 0);
    assert_true(q.open);
    assert_int_equal(q.show, GW_SHOW_DND);
    assert_string_equal(q.note, "On a call");
    /* vacation reads as xa; unknown activities as plain available */
    doc = "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@b'><tuple id='t'>"
          "<status><basic>open</basic></status></tuple>"
          "<person xmlns='urn:ietf:params:xml:ns:pidf:data-model' id='p'>"
          "<activities xmlns='urn:ietf:params:xml:ns:pidf:rpid'><unknown/><vacation/></activities>"
          "</person></presence>";
    assert_int_equal(pidf_parse(doc, strlen(doc), &q), 0);
    assert_int_equal(q.show, GW_SHOW_XA);
    /* no tuple: closed */
    doc = "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@b'/>";
    assert_int_equal(pidf_parse(doc, strlen(doc), &q), 0);
    assert_false(q.open);
    /* a long note is cut at a character boundary */
    char big[2048];
    int k = snprintf(big, sizeof(big),
                     "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@b'><note>");
    for (int i = 0; i < 300; i++)
        k += snprintf(big + k, sizeof(big) - (size_t)k, "\xc3\xa9");
    k += snprintf(big + k, sizeof(big) - (size_t)k, "</note></presence>");
    assert_int_equal(pidf_parse(big, (size_t)k, &q), 0);
    assert_true(strlen(q.note) < GW_NOTE_MAX);
    assert_int_equal(strlen(q.note) % 2, 0);
}

static void test_pidf_parse_bad(void **state)
{
    struct gw_presence q;
    const char *bad[] = {
        "",
        "not xml",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple>",              /* unclosed */
        "<presence xmlns='urn:example:other'><basic>open</basic></presence>", /* not PIDF */
        "<?xml version='1.0'?><!DOCTYPE p [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;'>]>"
        "<presence xmlns='urn:ietf:params:xml:ns:pidf'><note>&b;</note></presence>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        q.open = true;
        assert_int_equal(pidf_parse(bad[i], strlen(bad[i]), &q), -1);
        assert_false(q.open);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jid_to_sip),         cmocka_unit_test(test_sip_to_jid),
        cmocka_unit_test(test_domain_and_thread),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_show_names),         cmocka_unit_test(test_pidf_roundtrip),
        cmocka_unit_test(test_pidf_parse_foreign), cmocka_unit_test(test_pidf_parse_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
