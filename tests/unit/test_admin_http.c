/* test_admin_http.c -- the admin endpoints' pure parts (shared/admin_http.c,
 * node/admin/metrics.c): source prefixes parsed and matched (host bits,
 * IPv4-mapped IPv6), the JSON writer's commas and escapes (invalid UTF-8
 * replaced), Prometheus label and HELP escaping, and the metrics registry
 * (labelled series, the "other" series past the cap, type clashes, the TLS
 * failure classes). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "admin_http.h"

static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
    return ss;
}

static void test_prefixes(void **state)
{
    struct admin_prefix p[4];
    char err[200];
    assert_int_equal(admin_prefix_parse("127.0.0.1/8", &p[0], err, sizeof(err)), 0);
    assert_int_equal(admin_prefix_parse("10.1.2.3", &p[1], err, sizeof(err)), 0);
    assert_int_equal(admin_prefix_parse("2001:db8::/33", &p[2], err, sizeof(err)), 0);
    assert_int_equal(admin_prefix_parse("::1", &p[3], err, sizeof(err)), 0);
    struct sockaddr_storage a;
    a = v4("127.200.3.4");
    assert_true(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v4("128.0.0.1");
    assert_false(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v4("10.1.2.3");
    assert_true(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v4("10.1.2.4");
    assert_false(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v6("2001:db8:7fff::1");
    assert_true(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v6("2001:db8:8000::1"); /* bit 33 set */
    assert_false(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v6("::1");
    assert_true(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v6("::ffff:127.0.0.9"); /* a v4 client of a dual-stack listener */
    assert_true(admin_prefix_match(p, 4, (struct sockaddr *)&a));
    a = v6("::ffff:127.0.0.9");
    assert_false(admin_prefix_match(p + 1, 3, (struct sockaddr *)&a));
    assert_false(admin_prefix_match(p, 0, (struct sockaddr *)&a)); /* empty list: nobody */
    /* /0 lets everything of that family in */
    assert_int_equal(admin_prefix_parse("0.0.0.0/0", &p[0], err, sizeof(err)), 0);
    a = v4("192.0.2.1");
    assert_true(admin_prefix_match(p, 1, (struct sockaddr *)&a));
    const char *bad[] = {"127.0.0.1/33", "::1/129",    "localhost", "10.0.0.0/",
                         "/8",           "1.2.3.4/8x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(admin_prefix_parse(bad[i], &p[0], err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
}

static void test_json(void **state)
{
    struct evbuffer *b = evbuffer_new();
    struct json_w w;
    json_init(&w, b);
    json_obj(&w, NULL);
    json_str(&w, "a", "x\"y\\z\n\t\x01");
    json_u64(&w, "n", 18446744073709551615ull);
    json_i64(&w, "i", -5);
    json_bool(&w, "t", true);
    json_null(&w, "z");
    json_str(&w, "nul", NULL);
    json_f64(&w, "f", 1.5);
    json_arr(&w, "l");
    json_str(&w, NULL, "\xc3\xa9");     /* valid UTF-8 kept */
    json_str(&w, NULL, "\xff\xc3");     /* invalid: replaced */
    json_str(&w, NULL, "\xed\xa0\x80"); /* a surrogate: replaced */
    json_obj(&w, NULL);
    json_end(&w);
    json_end(&w);
    json_end(&w);
    char *s = drain(b);
    assert_string_equal(s, "{\"a\":\"x\\\"y\\\\z\\n\\t\\u0001\",\"n\":18446744073709551615,"
                           "\"i\":-5,\"t\":true,\"z\":null,\"nul\":null,\"f\":1.5,"
                           "\"l\":[\"\xc3\xa9\",\"\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\",{}]}");
    free(s);
    evbuffer_free(b);
}

static void test_prom_text(void **state)
{
    char buf[64];
    assert_int_equal(prom_escape_label(buf, sizeof(buf), "a\"b\\c\nd"), 10);
    assert_string_equal(buf, "a\\\"b\\\\c\\nd");
    assert_int_equal(prom_escape_label(buf, 4, "abcd"), 0); /* does not fit */
    struct evbuffer *b = evbuffer_new();
    prom_family(b, "x_total", "counter", "line one\nback\\slash");
    prom_u64(b, "x_total", 3, "k", "v\"", "e", NULL, NULL);
    prom_u64(b, "x_total", 4, NULL);
    prom_f64(b, "g", 0.25, "k", "v", NULL);
    prom_f64(b, "g", 1.0 / 0.0, NULL);
    char *s = drain(b);
    assert_string_equal(s, "# HELP x_total line one\\nback\\\\slash\n"
                           "# TYPE x_total counter\n"
                           "x_total{k=\"v\\\"\",e=\"\"} 3\n"
                           "x_total 4\n"
                           "g{k=\"v\"} 0.25\n"
                           "g +Inf\n");
    free(s);
    evbuffer_free(b);
}

static void test_metrics_registry(void **state)
{
    struct metrics *m = metrics_new();
    assert_non_null(m);
    assert_int_equal(metrics_declare(m, "edgepool_test_total", METRIC_COUNTER, "a test"), 0);
    assert_int_equal(metrics_declare(m, "bad name", METRIC_COUNTER, "x"), -1);
    assert_int_equal(metrics_declare(m, "edgepool_test_total", METRIC_GAUGE, "x"), -1);
    metrics_counter_add(m, "edgepool_test_total", 2, "dir", "in", NULL);
    metrics_counter_add(m, "edgepool_test_total", 3, "dir", "in", NULL);
    metrics_counter_add(m, "edgepool_test_total", 1, "dir", "out", NULL);
    assert_true(metrics_value(m, "edgepool_test_total", "dir", "in", NULL) == 5);
    assert_true(metrics_value(m, "edgepool_test_total", "dir", "out", NULL) == 1);
    metrics_gauge_add(m, "edgepool_test_open", 2, "dir", "in", NULL);
    metrics_gauge_add(m, "edgepool_test_open", -1, "dir", "in", NULL);
    assert_true(metrics_value(m, "edgepool_test_open", "dir", "in", NULL) == 1);
    /* past the cap: one "other" series */
    for (int i = 0; i < METRICS_MAX_SERIES + 50; i++) {
        char v[16];
        snprintf(v, sizeof(v), "v%d", i);
        metrics_counter_add(m, "edgepool_many_total", 1, "k", v, NULL);
    }
    assert_true(metrics_value(m, "edgepool_many_total", "k", "other", NULL) == 50);
    metrics_policy_reject(m, 403, "Domain is blocked");
    metrics_sip_request(m, METRICS_RECEIVED, 1, 7 /* MESSAGE */);
    metrics_sip_response(m, METRICS_SENT, 1, 7, 403, true);
    metrics_sip_response(m, METRICS_SENT, 1, 7, 99, true); /* not a status: ignored */
    assert_int_equal(metrics_sip_requests(m, METRICS_RECEIVED), 1);
    assert_int_equal(metrics_sip_responses(m, METRICS_SENT), 1);
    struct evbuffer *b = evbuffer_new();
    metrics_write(m, b);
    char *s = drain(b);
    assert_non_null(strstr(s, "# TYPE edgepool_test_total counter\n"
                              "edgepool_test_total{dir=\"in\"} 5\n"
                              "edgepool_test_total{dir=\"out\"} 1\n"));
    assert_non_null(strstr(s, "edgepool_sip_requests_received_total{side=\"external\","
                              "method=\"MESSAGE\"} 1\n"));
    assert_non_null(strstr(s, "edgepool_sip_responses_sent_total{side=\"external\",method="
                              "\"MESSAGE\",class=\"4xx\",origin=\"local\"} 1\n"));
    assert_non_null(strstr(s, "edgepool_policy_rejections_total{status=\"403\",reason=\"Domain "
                              "is blocked\"} 1\n"));
    assert_non_null(strstr(s, "# TYPE edgepool_xmpp_stanzas_total counter\n"));
    free(s);
    evbuffer_free(b);
    metrics_free(m);
    /* NULL registry: every call a no-op */
    metrics_counter_add(NULL, "x_total", 1, NULL);
    metrics_sip_request(NULL, METRICS_RECEIVED, 0, 1);
}

static void test_tls_classes(void **state)
{
    assert_string_equal(metrics_tls_class("not TLS: the client spoke plaintext to the TLS port"),
                        "not_tls");
    assert_string_equal(metrics_tls_class("certificate has expired"), "expired");
    assert_string_equal(metrics_tls_class("self-signed certificate"), "self_signed");
    assert_string_equal(metrics_tls_class("unable to get local issuer certificate"), "unknown_ca");
    assert_string_equal(metrics_tls_class("missing clientAuth EKU"), "missing_eku");
    assert_string_equal(metrics_tls_class("no certificate presented"), "no_certificate");
    assert_string_equal(metrics_tls_class("hostname mismatch"), "name_mismatch");
    assert_string_equal(metrics_tls_class("certificate revoked"), "revoked");
    assert_string_equal(metrics_tls_class("peer refused the handshake: alert bad certificate"),
                        "peer_alert");
    assert_string_equal(metrics_tls_class("something new"), "other");
    assert_string_equal(metrics_tls_class(NULL), "other");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefixes),    cmocka_unit_test(test_json),
        cmocka_unit_test(test_prom_text),   cmocka_unit_test(test_metrics_registry),
        cmocka_unit_test(test_tls_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
