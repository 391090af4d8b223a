/* test_srv_order.c -- pins down RFC 2782 ordering (shared/srv_order.c):
 * priorities ascending, weighted selection within a priority with the
 * expected distribution, weight-0 records, single targets and stable ties. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "resolver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: deterministic, well spread. */
static uint32_t test_rnd(void *arg)
{
    uint64_t *s = arg;
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static uint32_t const_rnd(void *arg)
{
    return *(uint32_t *)arg;
}

static struct srv_target T(const char *host, uint16_t prio, uint16_t weight) {
    struct srv_target t;
    memset(&t, 0, sizeof(t));
    snprintf(t.host, sizeof(t.host), "%s", host);
    t.port = 5061;
    t.priority = prio;
    t.weight = weight;
    return t;
}

static int
index_of(const struct srv_target *t, size_t n, const char *host)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].host, host) == 0)
            return (int)i;
    return -1;
}

/* Priorities come out ascending, and every record exactly once. */
static void test_priorities_ascending(void **state)
{
    uint64_t seed = 1;
    for (int run = 0; run < 1000; run++) {
        struct srv_target t[] = {T("c", 30, 5), T("a", 10, 1), T("d", 20, 0),
                                 T("b", 10, 9), T("e", 20, 7), T("f", 0, 0)};
        size_t n = sizeof(t) / sizeof(t[0]);
        srv_order(t, n, test_rnd, &seed);
        for (size_t i = 1; i < n; i++)
            assert_true(t[i - 1].priority <= t[i].priority);
        const char *hosts[] = {"a", "b", "c", "d", "e", "f"};
        for (size_t i = 0; i < n; i++)
            assert_int_not_equal(index_of(t, n, hosts[i]), -1);
        assert_string_equal(t[0].host, "f");
        assert_string_equal(t[5].host, "c");
    }
}

/* Weights 60/30/10: the first pick follows (w + [first]) / (sum + 1), the
 * RFC's draw in [0, sum]; the second pick follows the remaining weights. */
static void test_weight_distribution(void **state)
{
    uint64_t seed = 42;
    const int runs = 200000;
    int first[3] = {0}, second_after_a[3] = {0}, a_first = 0;
    for (int run = 0; run < runs; run++) {
        struct srv_target t[] = {T("a", 10, 60), T("b", 10, 30), T("c", 10, 10)};
        srv_order(t, 3, test_rnd, &seed);
        int k = t[0].host[0] - 'a';
        first[k]++;
        if (k == 0) {
            a_first++;
            second_after_a[t[1].host[0] - 'a']++;
        }
    }
    /* a gets draws 0..60 (61 of 101), b 61..90 (30), c 91..100 (10). */
    assert_true(abs(first[0] - runs * 61 / 101) < runs / 100);
    assert_true(abs(first[1] - runs * 30 / 101) < runs / 100);
    assert_true(abs(first[2] - runs * 10 / 101) < runs / 100);
    /* With a gone: b 0..30 (31 of 41), c 31..40 (10). */
    assert_int_equal(second_after_a[0], 0);
    assert_true(abs(second_after_a[1] - a_first * 31 / 41) < a_first / 100);
    assert_true(abs(second_after_a[2] - a_first * 10 / 41) < a_first / 100);
}

/* Equal weights share evenly (within 1%). */
static void test_equal_weights_even(void **state)
{
    uint64_t seed = 7;
    const int runs = 100000;
    int first[4] = {0};
    for (int run = 0; run < runs; run++) {
        struct srv_target t[] = {T("a", 0, 50), T("b", 0, 50), T("c", 0, 50), T("d", 0, 50)};
        srv_order(t, 4, test_rnd, &seed);
        first[t[0].host[0] - 'a']++;
    }
    /* a also gets the draw 0: 51/201, the others 50/201. */
    assert_true(abs(first[0] - runs * 51 / 201) < runs / 100);
    for (int k = 1; k < 4; k++)
        assert_true(abs(first[k] - runs * 50 / 201) < runs / 100);
}

/* All weight 0: nothing to choose, the order given is kept. */
static void test_zero_weights_keep_order(void **state)
{
    uint64_t seed = 3;
    for (int run = 0; run < 100; run++) {
        struct srv_target t[] = {T("x", 5, 0), T("y", 5, 0), T("z", 5, 0)};
        srv_order(t, 3, test_rnd, &seed);
        assert_string_equal(t[0].host, "x");
        assert_string_equal(t[1].host, "y");
        assert_string_equal(t[2].host, "z");
    }
}

/* Weight 0 beside weight 10: the 0 is listed first, so it is picked first
 * only on the draw 0 (1 in 11), wherever it stood in the answer. */
static void test_zero_weight_small_chance(void **state)
{
    const int runs = 110000;
    for (int order = 0; order < 2; order++) {
        uint64_t seed = 11 + (uint64_t)order;
        int zero_first = 0;
        for (int run = 0; run < runs; run++) {
            struct srv_target t[2];
            t[order] = T("zero", 1, 0);
            t[1 - order] = T("ten", 1, 10);
            srv_order(t, 2, test_rnd, &seed);
            zero_first += strcmp(t[0].host, "zero") == 0;
        }
        assert_true(abs(zero_first - runs / 11) < runs / 200);
    }
}

/* A draw of 0 picks the first weight-0 record, not the first record. */
static void test_draw_zero_picks_weight_zero(void **state)
{
    uint32_t zero = 0;
    struct srv_target t[] = {T("w5", 1, 5), T("z1", 1, 0), T("w7", 1, 7), T("z2", 1, 0)};
    srv_order(t, 4, const_rnd, &zero);
    /* Every draw is 0: z1, then z2, then the first non-zero left (w5, w7). */
    assert_string_equal(t[0].host, "z1");
    assert_string_equal(t[1].host, "z2");
    assert_string_equal(t[2].host, "w5");
    assert_string_equal(t[3].host, "w7");
}

/* Boundaries: n 0 and 1, NULL, a constant maximal rnd (no hang, no crash). */
static void test_single_and_degenerate(void **state)
{
    uint64_t seed = 5;
    srv_order(NULL, 0, test_rnd, &seed);
    struct srv_target one = T("only", 10, 0);
    srv_order(&one, 1, test_rnd, &seed);
    assert_string_equal(one.host, "only");
    assert_int_equal(one.priority, 10);
    assert_int_equal(one.port, 5061);

    uint32_t max = UINT32_MAX;
    struct srv_target t[] = {T("a", 2, 65535), T("b", 1, 65535), T("c", 2, 1)};
    srv_order(t, 3, const_rnd, &max);
    assert_string_equal(t[0].host, "b");
    assert_int_equal(t[1].priority, 2);
    assert_int_equal(t[2].priority, 2);
}

/* Across priorities the given order is kept for equal keys (stable sort),
 * and the same seed gives the same order. */
static void test_ties_stable_and_deterministic(void **state)
{
    struct srv_target base[] = {T("p2a", 2, 0), T("p1a", 1, 0), T("p2b", 2, 0), T("p1b", 1, 0),
                                T("p3", 3, 9)};
    struct srv_target t[5];
    uint64_t seed = 9;
    memcpy(t, base, sizeof(t));
    srv_order(t, 5, test_rnd, &seed);
    const char *want[] = {"p1a", "p1b", "p2a", "p2b", "p3"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(t[i].host, want[i]);

    struct srv_target u[] = {T("a", 1, 10), T("b", 1, 10), T("c", 1, 10), T("d", 1, 10)};
    struct srv_target v[4];
    memcpy(v, u, sizeof(u));
    uint64_t s1 = 1234, s2 = 1234;
    srv_order(u, 4, test_rnd, &s1);
    srv_order(v, 4, test_rnd, &s2);
    for (int i = 0; i < 4; i++)
        assert_string_equal(u[i].host, v[i].host);
}

/* Weights of one priority do not pull records of another. */
static void test_priorities_independent(void **state)
{
    uint64_t seed = 77;
    for (int run = 0; run < 1000; run++) {
        struct srv_target t[] = {T("hi-heavy", 20, 65535), T("lo-light", 10, 1),
                                 T("lo-zero", 10, 0)};
        srv_order(t, 3, test_rnd, &seed);
        assert_string_equal(t[2].host, "hi-heavy");
        assert_int_equal(t[0].priority, 10);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priorities_ascending),
        cmocka_unit_test(test_weight_distribution),
        cmocka_unit_test(test_equal_weights_even),
        cmocka_unit_test(test_zero_weights_keep_order),
        cmocka_unit_test(test_zero_weight_small_chance),
        cmocka_unit_test(test_draw_zero_picks_weight_zero),
        cmocka_unit_test(test_single_and_degenerate),
        cmocka_unit_test(test_ties_stable_and_deterministic),
        cmocka_unit_test(test_priorities_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
