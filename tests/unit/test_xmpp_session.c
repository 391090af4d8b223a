/* test_xmpp_session.c -- the gateway's IM-session pieces that need no node
 * (node/xmpp/gateway_sdp.h): Lync's `m=message 5060 sip null` offer read
 * and answered the way Lync accepts, audio/video/MSRP-only offers told
 * apart from malformed SDP (488 vs 400), mixed offers answered stream by
 * stream, typing notifications (RFC 3994 and Lync's KeyboardActivity), and
 * the first message Lync carries base64 in Ms-Text-Format. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xmpp/gateway_sdp.h"

/* what Lync 2013 sends for an IM INVITE */
static const char lync_offer[] =
    "v=0\r\n"
    "o=- 0 0 IN IP4 10.1.2.3\r\n"
    "s=session\r\n"
    "c=IN IP4 10.1.2.3\r\n"
    "t=0 0\r\n"
    "m=message 5060 sip null\r\n"
    "a=accept-types:text/plain multipart/alternative image/gif text/rtf text/html "
    "application/x-ms-ink application/ms-imdn+xml text/x-msmsgsinvite\r\n";

static enum gw_sdp_verdict parse(const char *sdp, struct gw_sdp_offer *o, const char **why)
{
    return gw_sdp_parse(sdp, strlen(sdp), o, why);
}

static void test_lync_offer_answered(void **state)
{
    struct gw_sdp_offer o;
    const char *why = "x";
    assert_int_equal(parse(lync_offer, &o, &why), GW_SDP_IM);
    assert_null(why);
    assert_int_equal(o.n_media, 1);
    assert_int_equal(o.im_index, 0);
    assert_string_equal(o.m[0].media, "message");
    assert_string_equal(o.m[0].proto, "sip");
    assert_string_equal(o.m[0].fmt, "null");
    char ans[600];
    size_t n = gw_sdp_answer(&o, "192.0.2.7", 5060, 42, ans, sizeof(ans));
    assert_int_equal(n, strlen(ans));
    assert_string_equal(ans, "v=0\r\n"
                             "o=- 42 0 IN IP4 192.0.2.7\r\n"
                             "s=session\r\n"
                             "c=IN IP4 192.0.2.7\r\n"
                             "t=0 0\r\n"
                             "m=message 5060 sip null\r\n"
                             "a=accept-types:text/plain\r\n");
    /* our answer is itself an offer we would take */
    struct gw_sdp_offer again;
    assert_int_equal(gw_sdp_parse(ans, n, &again, &why), GW_SDP_IM);
    /* IPv6 */
    n = gw_sdp_answer(&o, "2001:db8::7", 5070, 1, ans, sizeof(ans));
    assert_non_null(strstr(ans, "c=IN IP6 2001:db8::7\r\n"));
    assert_non_null(strstr(ans, "m=message 5070 sip null\r\n"));
    /* too small a buffer: 0, never a cut answer */
    assert_int_equal(gw_sdp_answer(&o, "192.0.2.7", 5060, 42, ans, 40), 0);
}

static void test_lf_only_and_no_accept_types(void **state)
{
    struct gw_sdp_offer o;
    const char *why;
    assert_int_equal(
        parse("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=message 5060 sip sip:a@b\n", &o, &why),
        GW_SDP_IM);
    assert_int_equal(o.im_index, 0);
    /* accept-types without anything text/plain can match: not ours */
    assert_int_equal(
        parse("v=0\r\nm=message 5060 sip null\r\na=accept-types:text/html image/gif\r\n", &o, &why),
        GW_SDP_NO_IM);
    assert_non_null(why);
    assert_int_equal(parse("v=0\r\nm=message 5060 sip null\r\na=accept-types:text/*\r\n", &o, &why),
                     GW_SDP_IM);
}

static void test_other_media_not_acceptable(void **state)
{
    struct gw_sdp_offer o;
    const char *why;
    /* an audio call toward an XMPP user */
    assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
                           "m=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
                           "m=video 51372 RTP/AVP 96\r\n",
                           &o, &why),
                     GW_SDP_NO_IM);
    assert_int_equal(o.n_media, 2);
    assert_int_equal(o.im_index, -1);
    /* MSRP chat (RFC 4975) is session mode we do not relay */
    assert_int_equal(
        parse("v=0\r\nm=message 7394 TCP/MSRP *\r\na=accept-types:text/plain\r\n", &o, &why),
        GW_SDP_NO_IM);
    /* no stream at all: legal SDP, nothing to take */
    assert_int_equal(parse("v=0\r\ns=-\r\nt=0 0\r\n", &o, &why), GW_SDP_NO_IM);
    assert_int_equal(parse("v=0\r\n", &o, &why), GW_SDP_NO_IM);
    /* a refused (port 0) message stream */
    assert_int_equal(parse("v=0\r\nm=message 0 sip null\r\n", &o, &why), GW_SDP_NO_IM);
}

static void test_mixed_offer(void **state)
{
    struct gw_sdp_offer o;
    const char *why;
    assert_int_equal(parse("v=0\r\nm=audio 49170 RTP/AVP 0\r\n"
                           "m=message 5060 sip null\r\na=accept-types:text/plain\r\n"
                           "m=message 5062 sip null\r\n",
                           &o, &why),
                     GW_SDP_IM);
    assert_int_equal(o.n_media, 3);
    assert_int_equal(o.im_index, 1); /* the first acceptable one */
    char ans[600];
    assert_true(gw_sdp_answer(&o, "10.0.0.9", 5060, 7, ans, sizeof(ans)) > 0);
    const char *a = strstr(ans, "m=audio 0 RTP/AVP 0\r\n");
    const char *m = strstr(ans, "m=message 5060 sip null\r\n");
    const char *r = strstr(ans, "m=message 0 sip null\r\n");
    assert_non_null(a);
    assert_non_null(m);
    assert_non_null(r);
    assert_true(a < m && m < r); /* one answer line per offer line, in order */
}

static void test_malformed(void **state)
{
    struct gw_sdp_offer o;
    const char *why;
    static const char *const bad[] = {
        "",
        "\r\n",
        "hello world",
        "v=1\r\nm=message 5060 sip null\r\n",          /* version */
        "o=- 0 0 IN IP4 1.2.3.4\r\nv=0\r\n",           /* v= not first */
        "v=0\r\nm=message\r\n",                        /* short m= */
        "v=0\r\nm=message 5060\r\n",                   /* no proto */
        "v=0\r\nm=message 5060 sip\r\n",               /* no format */
        "v=0\r\nm=message 50x0 sip null\r\n",          /* port */
        "v=0\r\nm=message 99999 sip null\r\n",         /* port range */
        "v=0\r\nm=message 5060 sip null\r\nbogus\r\n", /* not type=value */
        "v=0\r\nM=message 5060 sip null\r\n",          /* type not lower case */
        "v=0\r\nm=message 5060 sip null\r\na=x\x01y\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (parse(bad[i], &o, &why) != GW_SDP_BAD)
            fail_msg("accepted malformed SDP #%zu", i);
        assert_non_null(why);
    }
    /* too many streams */
    char many[2000] = "v=0\r\n";
    for (int i = 0; i <= GW_SDP_MAX_MEDIA; i++)
        strcat(many, "m=audio 4000 RTP/AVP 0\r\n");
    assert_int_equal(parse(many, &o, &why), GW_SDP_BAD);
    /* not NUL-terminated: only len bytes are read */
    char buf[64];
    memcpy(buf, "v=0\r\nm=message 5060 sip nullXXXXXXXX", 36);
    assert_int_equal(gw_sdp_parse(buf, 28, &o, &why), GW_SDP_IM);
    assert_string_equal(o.m[0].fmt, "null");
}

static void test_typing(void **state)
{
    static const char active[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\n"
        "  <state> active </state>\n  <contenttype>text/plain</contenttype>\n"
        "  <refresh>60</refresh>\n</isComposing>";
    static const char idle[] = "<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'>"
                               "<state>idle</state><lastactive>2026-01-01T00:00:00Z</lastactive>"
                               "</isComposing>";
    assert_int_equal(gw_typing_parse("application/im-iscomposing+xml", active, strlen(active)), 1);
    assert_int_equal(
        gw_typing_parse("Application/IM-IsComposing+XML; charset=utf-8", idle, strlen(idle)), 0);
    static const char lync_type[] =
        "<?xml version=\"1.0\"?><KeyboardActivity><status status=\"type\" /></KeyboardActivity>";
    static const char lync_idle[] =
        "<?xml version=\"1.0\"?><KeyboardActivity><status status=\"idle\" /></KeyboardActivity>";
    assert_int_equal(gw_typing_parse("application/xml", lync_type, strlen(lync_type)), 1);
    assert_int_equal(gw_typing_parse("application/xml", lync_idle, strlen(lync_idle)), 0);
    /* not typing notifications */
    assert_int_equal(gw_typing_parse("text/plain", "active", 6), -1);
    assert_int_equal(gw_typing_parse("application/xml", "<other/>", 8), -1);
    assert_int_equal(gw_typing_parse("application/im-iscomposing+xml", "<state>x</state>", 16), -1);
    assert_int_equal(gw_typing_parse("application/im-iscomposing+xml", "<state>", 7), -1);
    assert_int_equal(gw_typing_parse("application/im-iscomposing+xmlx", active, strlen(active)),
                     -1);
    assert_int_equal(gw_typing_parse(NULL, active, strlen(active)), -1);
}

static void test_ms_text_format(void **state)
{
    char out[64];
    /* "Hello Bob" */
    assert_int_equal(gw_ms_text_body("text/plain; charset=UTF-8;msgr=WAAtAE0ATQBTAA0ACgA;"
                                     "ms-body=SGVsbG8gQm9i",
                                     out, sizeof(out)),
                     9);
    assert_string_equal(out, "Hello Bob");
    /* padding, UTF-8 */
    assert_int_equal(gw_ms_text_body("text/plain;ms-body=w6k=", out, sizeof(out)), 2);
    assert_string_equal(out, "\xc3\xa9");
    /* refused: other types (Lync also sends text/html, text/rtf versions),
     * no ms-body, bad base64, too long for the buffer */
    assert_int_equal(gw_ms_text_body("text/html; ms-body=PGI+aGk8L2I+", out, sizeof(out)), -1);
    assert_int_equal(gw_ms_text_body("text/plain; charset=UTF-8", out, sizeof(out)), -1);
    assert_int_equal(gw_ms_text_body("text/plain;ms-body=SGV*bG8", out, sizeof(out)), -1);
    assert_int_equal(gw_ms_text_body("text/plain;ms-body=", out, sizeof(out)), -1);
    assert_int_equal(gw_ms_text_body("text/plain;ms-body=SGVsbG8gQm9i", out, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lync_offer_answered),
        cmocka_unit_test(test_lf_only_and_no_accept_types),
        cmocka_unit_test(test_other_media_not_acceptable),
        cmocka_unit_test(test_mixed_offer),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_typing),
        cmocka_unit_test(test_ms_text_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
