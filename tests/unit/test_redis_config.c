/* test_redis_config.c -- the redis group written once (shared/redis_config.h)
 * and spliced into both daemons' settings tables: the same keys, types,
 * defaults and ranges in edge-node's and edge-balancer's tables, the flat
 * names and cfg.redis naming the same storage, the checks both daemons make
 * and the Redis client's options made from the group. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer_config.h"
#include "node_config.h"
#include "redis.h"
#include "redis_config.h"

/* main.c's clock, wanted by node code the node's config links in */
struct node;
uint64_t node_now_ms(const struct node *n);
uint64_t node_now_ms(const struct node *n)
{
    return 0;
}

static const struct cfg_key *redis_rows(const struct cfg_key *keys, size_t *n)
{
    const struct cfg_key *first = NULL;
    *n = 0;
    for (const struct cfg_key *k = keys; k->path; k++)
        if (strncmp(k->path, "redis.", 6) == 0) {
            if (!first)
                first = k;
            ++*n;
        }
    return first;
}

/* Both tables hold the 14 shared rows, in the same order, alike but for the
 * docs of addr and pool; the node has snapshot and seed_policy besides. */
static void test_both_tables(void **state)
{
    size_t nn, nb;
    const struct cfg_key *n = redis_rows(node_config_keys, &nn);
    const struct cfg_key *b = redis_rows(balancer_config_keys, &nb);
    assert_int_equal(nb, 14);
    assert_true(nn >= nb + 2); /* the node's own keys come after the shared rows */
    for (size_t i = 0; i < nb; i++) {
        assert_string_equal(n[i].path, b[i].path);
        assert_int_equal(n[i].type, b[i].type);
        assert_true((!n[i].def && !b[i].def) ||
                    (n[i].def && b[i].def && strcmp(n[i].def, b[i].def) == 0));
        assert_int_equal(n[i].min, b[i].min);
        assert_int_equal(n[i].max, b[i].max);
        if (strcmp(n[i].path, "redis.addr") != 0 && strcmp(n[i].path, "redis.pool") != 0)
            assert_string_equal(n[i].doc, b[i].doc);
    }
    bool snapshot = false, seed = false;
    for (size_t i = nb; i < nn; i++) {
        snapshot |= strcmp(n[i].path, "redis.snapshot") == 0;
        seed |= strcmp(n[i].path, "redis.seed_policy") == 0;
    }
    assert_true(snapshot && seed);
}

/* The defaults land where both names see them. */
static void test_defaults_and_aliases(void **state)
{
    struct balancer_config c;
    char err[512];
    assert_int_equal(balancer_config_load(&c, NULL, err, sizeof(err)), 0);
    assert_ptr_equal(&c.redis.addr, &c.redis_addr);
    assert_ptr_equal(&c.redis.tls, &c.redis_tls);
    assert_string_equal(c.redis.master_name, "mymaster");
    assert_string_equal(c.redis_pool, "edgepool");
    assert_int_equal(c.redis.db, 0);
    assert_false(c.redis.tls);
    assert_false(redis_config_enabled(&c.redis));
    balancer_config_free(&c);
}

static void test_check(void **state)
{
    struct redis_config r;
    const char *key = NULL;
    char why[200];
    memset(&r, 0, sizeof(r));
    assert_int_equal(redis_config_check(&r, &key, why, sizeof(why)), 0);
    r.addr = "a:1";
    r.sentinels = "b:2";
    assert_int_equal(redis_config_check(&r, &key, why, sizeof(why)), -1);
    assert_string_equal(key, "redis.sentinels");
    assert_string_equal(why, "set addr (one Redis) or sentinels (Sentinel), not both");
    r.sentinels = NULL;
    r.tls_key = "k.pem";
    assert_int_equal(redis_config_check(&r, &key, why, sizeof(why)), -1);
    assert_string_equal(key, "redis.tls_key");
    assert_string_equal(why, "tls_cert and tls_key go together");
    r.tls_key = NULL;
    r.tls_cert = "c.pem";
    assert_int_equal(redis_config_check(&r, &key, why, sizeof(why)), -1);
    assert_string_equal(key, "redis.tls_cert");
    r.tls_key = "k.pem";
    assert_int_equal(redis_config_check(&r, &key, why, sizeof(why)), 0);
}

static void test_opts(void **state)
{
    struct redis_config r;
    struct redis_opts o;
    memset(&r, 0, sizeof(r));
    r.addr = "";
    assert_false(redis_config_enabled(&r));
    r.sentinels = "s:26379";
    r.master_name = "m";
    r.username = "u";
    r.password = "p";
    r.sentinel_username = "su";
    r.sentinel_password = "sp";
    r.db = 4;
    r.tls = true;
    r.tls_server_name = "redis.test";
    assert_true(redis_config_enabled(&r));
    redis_config_opts(&r, &o);
    assert_null(o.addr); /* empty: none */
    assert_string_equal(o.sentinels, "s:26379");
    assert_string_equal(o.master_name, "m");
    assert_string_equal(o.username, "u");
    assert_string_equal(o.password, "p");
    assert_string_equal(o.sentinel_username, "su");
    assert_string_equal(o.sentinel_password, "sp");
    assert_int_equal(o.db, 4);
    assert_true(o.tls);
    assert_string_equal(o.tls_server_name, "redis.test");
    assert_int_equal(o.command_timeout_ms, 0); /* the client's default */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_tables),
        cmocka_unit_test(test_defaults_and_aliases),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
