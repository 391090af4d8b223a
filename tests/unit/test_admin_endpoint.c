/* test_admin_endpoint.c -- what both daemons' admin endpoints share
 * (shared/admin_endpoint.c, shared/redis_metrics.c): the admin group's
 * check (which key, which list element, why), an endpoint that is off or
 * cannot listen, a one-sample Prometheus family, and the Redis families in
 * the node's (all) and the balancer's (basic) sets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_endpoint.h"
#include "admin_http.h"
#include "redis.h"
#include "redis_metrics.h"

/* What b holds, as a string (b's own bytes, NUL-terminated in place; valid
 * until b changes). */
static const char *text(struct evbuffer *b)
{
    evbuffer_add(b, "", 1);
    return (const char *)evbuffer_pullup(b, -1);
}

static void test_settings_check(void **state)
{
    char *ok[] = {"127.0.0.1/8", "::1"};
    char *bad[] = {"127.0.0.1/8", "10.0.0.0/99"};
    struct cfg_strlist allow = {ok, 2};
    const char *key = NULL;
    int index = 7;
    char why[200];
    assert_int_equal(admin_settings_check("127.0.0.1:8080", &allow, &key, &index, why, sizeof(why)),
                     0);
    assert_int_equal(admin_settings_check("", &allow, &key, &index, why, sizeof(why)), 0);
    assert_int_equal(admin_settings_check(NULL, &allow, &key, &index, why, sizeof(why)), 0);
    assert_int_equal(admin_settings_check("nonsense", &allow, &key, &index, why, sizeof(why)), -1);
    assert_string_equal(key, "admin.listen");
    assert_int_equal(index, -1);
    assert_string_equal(why, "\"nonsense\" is not an address:port");
    allow.v = bad;
    assert_int_equal(admin_settings_check("127.0.0.1:8080", &allow, &key, &index, why, sizeof(why)),
                     -1);
    assert_string_equal(key, "admin.allow");
    assert_int_equal(index, 1);
    assert_non_null(strstr(why, "10.0.0.0/99"));
}

static void test_endpoint_off_and_bad(void **state)
{
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct cfg_strlist allow = {NULL, 0};
    struct admin_endpoint e;
    char err[300] = "";
    assert_int_equal(admin_endpoint_start(&e, base, "", &allow, NULL, err, sizeof(err)), 0);
    assert_null(e.http); /* off */
    assert_string_equal(e.listen, "");
    assert_true(e.start_wall_ms > 0);
    assert_true(admin_endpoint_uptime_s(&e) < 5);
    admin_endpoint_reload(&e, "", &allow, NULL); /* nothing to apply */
    admin_endpoint_free(&e);
    assert_null(e.listen);
    assert_int_equal(admin_endpoint_start(&e, base, "nonsense", &allow, NULL, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "admin endpoint: "));
    assert_null(e.http);
    admin_endpoint_free(&e);
    event_base_free(base);
}

static void test_prom_family_u64(void **state)
{
    struct evbuffer *b = evbuffer_new();
    prom_family_u64(b, "x_total", "counter", "Things\\done", 42);
    assert_string_equal(text(b),
                        "# HELP x_total Things\\\\done\n# TYPE x_total counter\nx_total 42\n");
    evbuffer_free(b);
}

static void test_redis_families(void **state)
{
    struct redis_stats st;
    memset(&st, 0, sizeof(st));
    st.up = true;
    st.commands = 5;
    st.replies = 4;
    st.errors = 1;
    st.pending = 2;
    struct evbuffer *b = evbuffer_new();
    redis_metrics_write(b, "p_redis_", &st, false);
    const char *s = text(b);
    assert_non_null(strstr(s, "\np_redis_up 1\n"));
    assert_non_null(strstr(s, "\np_redis_commands_total 5\n"));
    assert_non_null(strstr(s, "\np_redis_errors_total 1\n"));
    assert_non_null(strstr(s, "# TYPE p_redis_reconnects_total counter\n"));
    assert_null(strstr(s, "replies"));
    assert_null(strstr(s, "pending"));
    evbuffer_drain(b, evbuffer_get_length(b));
    redis_metrics_write(b, "p_redis_", &st, true);
    s = text(b);
    const char *order[] = {"p_redis_up ",
                           "p_redis_commands_total ",
                           "p_redis_replies_total ",
                           "p_redis_errors_total ",
                           "p_redis_reconnects_total ",
                           "p_redis_failovers_total ",
                           "p_redis_timeouts_total ",
                           "p_redis_pending "};
    const char *at = s;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *p = strstr(at, order[i]);
        assert_non_null(p);
        at = p;
    }
    assert_non_null(strstr(s, "# TYPE p_redis_pending gauge\np_redis_pending 2\n"));
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_check),
        cmocka_unit_test(test_endpoint_off_and_bad),
        cmocka_unit_test(test_prom_family_u64),
        cmocka_unit_test(test_redis_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
