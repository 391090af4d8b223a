/* test_redis.c -- pins down the pure parts of the Redis client (shared/redis.c,
 * shared/redis_sentinel.c): the reconnect backoff (doubling, cap, jitter
 * bounds), address parsing, and what Sentinel's get-master-addr-by-name,
 * +switch-master and ROLE replies say, decoded from real RESP bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "redis_int.h"

#include <stdio.h>
#include <string.h>

/* A reply decoded from RESP bytes by hiredis's reader, as the client gets it. */
static redisReply *resp(const char *bytes)
{
    redisReader *rd = redisReaderCreate();
    void *rep = NULL;
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, bytes, strlen(bytes)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &rep), REDIS_OK);
    assert_non_null(rep);
    redisReaderFree(rd);
    return rep;
}

static void test_backoff_doubles_and_caps(void **state)
{
    /* jitter 0 in the middle of the range: rnd = span exactly */
    assert_int_equal(redis_backoff_ms(100, 5000, 0, 20), 100);
    assert_int_equal(redis_backoff_ms(100, 5000, 1, 40), 200);
    assert_int_equal(redis_backoff_ms(100, 5000, 2, 80), 400);
    assert_int_equal(redis_backoff_ms(100, 5000, 5, 640), 3200);
    assert_int_equal(redis_backoff_ms(100, 5000, 6, 1000), 5000);
    assert_int_equal(redis_backoff_ms(100, 5000, 1000, 1000), 5000); /* no overflow */
}

static void test_backoff_jitter_bounds(void **state)
{
    for (unsigned attempt = 0; attempt < 12; attempt++) {
        unsigned base = 100u << (attempt < 6 ? attempt : 6);
        if (base > 5000)
            base = 5000;
        for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
            unsigned d = redis_backoff_ms(100, 5000, attempt, rnd * 2654435761u);
            assert_true(d >= 100 && d <= 5000);
            assert_true(d >= base - base / 5 && d <= base + base / 5);
        }
    }
    /* the jitter really spreads: not all equal */
    unsigned a = redis_backoff_ms(100, 5000, 3, 0), b = redis_backoff_ms(100, 5000, 3, 160);
    assert_int_equal(a, 640);
    assert_int_equal(b, 800);
    assert_int_equal(redis_backoff_ms(100, 5000, 3, 320), 960);
}

static void test_backoff_degenerate(void **state)
{
    assert_int_equal(redis_backoff_ms(0, 0, 3, 12345), 1);
    assert_int_equal(redis_backoff_ms(300, 100, 5, 0), 300); /* max < min: min wins */
    assert_int_equal(redis_backoff_ms(1000, 1000, 0, 0), 1000);
    assert_int_equal(redis_backoff_ms(1000, 1000, 0, 400), 1000);
}

static void test_hostport_parse(void **state)
{
    struct redis_hostport hp;
    char err[128], buf[300];
    assert_int_equal(redis_hostport_parse("127.0.0.1:6390", 6379, &hp, err, sizeof(err)), 0);
    assert_string_equal(hp.host, "127.0.0.1");
    assert_int_equal(hp.port, 6390);
    assert_int_equal(redis_hostport_parse("redis.pool.test", 6379, &hp, err, sizeof(err)), 0);
    assert_string_equal(hp.host, "redis.pool.test");
    assert_int_equal(hp.port, 6379);
    assert_int_equal(redis_hostport_parse("[::1]:26379", 6379, &hp, err, sizeof(err)), 0);
    assert_string_equal(hp.host, "::1");
    assert_int_equal(hp.port, 26379);
    assert_string_equal(redis_hostport_str(&hp, buf, sizeof(buf)), "[::1]:26379");
    assert_int_equal(redis_hostport_parse("[2001:db8::5]", 26379, &hp, err, sizeof(err)), 0);
    assert_int_equal(hp.port, 26379);

    const char *bad[] = {"",     ":6379",  "h:0",  "h:65536", "h:x",   "h:",   "::1:6379",
                         "[::1", "[::1]x", "[]:1", "a b:1",   "h:12a", "h:-1", "a,b:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(redis_hostport_parse(bad[i], 6379, &hp, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(redis_hostport_parse(NULL, 6379, &hp, err, sizeof(err)), -1);
}

static void test_sentinel_master_reply(void **state)
{
    struct redis_hostport hp;
    char why[200];
    redisReply *r;

    r = resp("*2\r\n$10\r\n127.0.9.21\r\n$4\r\n6401\r\n");
    assert_int_equal(redis_sentinel_master_reply(r, &hp, why, sizeof(why)), 0);
    assert_string_equal(hp.host, "127.0.9.21");
    assert_int_equal(hp.port, 6401);
    freeReplyObject(r);

    r = resp("*-1\r\n"); /* unknown master: nil */
    assert_int_equal(redis_sentinel_master_reply(r, &hp, why, sizeof(why)), -1);
    assert_string_equal(why, "does not know the master");
    freeReplyObject(r);

    r = resp("-IDONTKNOW No such master with that name\r\n");
    assert_int_equal(redis_sentinel_master_reply(r, &hp, why, sizeof(why)), -1);
    assert_string_equal(why, "IDONTKNOW No such master with that name");
    freeReplyObject(r);

    const char *bad[] = {
        "*1\r\n$9\r\n127.0.0.1\r\n",                /* one element */
        "*2\r\n$9\r\n127.0.0.1\r\n:6379\r\n",       /* port as an integer */
        "*2\r\n$9\r\n127.0.0.1\r\n$5\r\n70000\r\n", /* port out of range */
        "*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n",     /* port 0 */
        "*2\r\n$0\r\n\r\n$4\r\n6379\r\n",           /* empty host */
        "*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\n2\r\n",  /* three elements */
        "+OK\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = resp(bad[i]);
        assert_int_equal(redis_sentinel_master_reply(r, &hp, why, sizeof(why)), -1);
        freeReplyObject(r);
    }
    assert_int_equal(redis_sentinel_master_reply(NULL, &hp, why, sizeof(why)), -1);
}

static void test_sentinel_switch_parse(void **state)
{
    struct redis_hostport to;
    const char *m = "mymaster 127.0.9.20 6400 127.0.9.21 6401";
    assert_int_equal(redis_sentinel_switch_parse(m, strlen(m), "mymaster", &to), 1);
    assert_string_equal(to.host, "127.0.9.21");
    assert_int_equal(to.port, 6401);
    /* another master, or a name that only starts like ours */
    assert_int_equal(redis_sentinel_switch_parse(m, strlen(m), "other", &to), 0);
    assert_int_equal(redis_sentinel_switch_parse(m, strlen(m), "mymaster2", &to), 0);
    assert_int_equal(redis_sentinel_switch_parse(m, strlen(m), "mymast", &to), 0);
    /* the payload is a slice: length counts, not a NUL */
    assert_int_equal(redis_sentinel_switch_parse(m, strlen(m) - 1, "mymaster", &to), 1);
    assert_int_equal(to.port, 640);

    const char *bad[] = {"mymaster 127.0.9.20 6400 127.0.9.21",
                         "mymaster 127.0.9.20 6400 127.0.9.21 0",
                         "mymaster 127.0.9.20 6400 127.0.9.21 99999",
                         "mymaster 127.0.9.20 6400 127.0.9.21 6401 extra",
                         "mymaster 127.0.9.20 6400 127.0.9.21 64x1",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(redis_sentinel_switch_parse(bad[i], strlen(bad[i]), "mymaster", &to), -1);
}

static void test_role_reply(void **state)
{
    const char *role;
    redisReply *r = resp("*3\r\n$6\r\nmaster\r\n:3129659\r\n*0\r\n");
    assert_int_equal(redis_role_reply(r, &role), 1);
    assert_string_equal(role, "master");
    freeReplyObject(r);

    r = resp("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9753\r\n$9\r\nconnected\r\n:3167038\r\n");
    assert_int_equal(redis_role_reply(r, &role), 0);
    assert_string_equal(role, "slave");
    freeReplyObject(r);

    r = resp("*2\r\n$8\r\nsentinel\r\n*0\r\n");
    assert_int_equal(redis_role_reply(r, &role), 0);
    assert_string_equal(role, "sentinel");
    freeReplyObject(r);

    r = resp("-NOPERM this user has no permissions to run the 'role' command\r\n");
    assert_int_equal(redis_role_reply(r, &role), -1);
    assert_string_equal(role, "?");
    freeReplyObject(r);

    r = resp("*0\r\n");
    assert_int_equal(redis_role_reply(r, &role), -1);
    freeReplyObject(r);
    assert_int_equal(redis_role_reply(NULL, &role), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_and_caps),
        cmocka_unit_test(test_backoff_jitter_bounds),
        cmocka_unit_test(test_backoff_degenerate),
        cmocka_unit_test(test_hostport_parse),
        cmocka_unit_test(test_sentinel_master_reply),
        cmocka_unit_test(test_sentinel_switch_parse),
        cmocka_unit_test(test_role_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
