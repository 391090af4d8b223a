/* test_registry_cache.c -- the balancer's registry cache file
 * (balancer/health/registry_cache.c): what is written reads back, a missing
 * file is no nodes, a malformed one is refused whole, a failed write leaves
 * the previous file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "health/registry_cache.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/ep-rcache-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_round_trip(void **state)
{
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/b.nodes", dir);
    struct registry_cache_entry in[3] = {
        {"node1", "127.0.1.1:5061", "node1.contoso.test"},
        {"node2", "[2001:db8::2]:5061", ""},
        {"edge-3_x.y", "10.0.0.3:15061", "edge3.contoso.test"},
    };
    assert_int_equal(registry_cache_write(path, "edgepool", in, 3, err, sizeof(err)), 0);
    struct registry_cache_entry out[8];
    assert_int_equal(registry_cache_read(path, out, 8, err, sizeof(err)), 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(out[i].id, in[i].id);
        assert_string_equal(out[i].external, in[i].external);
        assert_string_equal(out[i].fqdn, in[i].fqdn);
    }
    /* fewer slots than lines: the first ones */
    assert_int_equal(registry_cache_read(path, out, 2, err, sizeof(err)), 2);
    /* an empty pool is a file with no nodes */
    assert_int_equal(registry_cache_write(path, "edgepool", in, 0, err, sizeof(err)), 0);
    assert_int_equal(registry_cache_read(path, out, 8, err, sizeof(err)), 0);
}

static void test_missing_and_malformed(void **state)
{
    char path[128], err[256];
    struct registry_cache_entry out[4];
    snprintf(path, sizeof(path), "%s/none.nodes", dir);
    assert_int_equal(registry_cache_read(path, out, 4, err, sizeof(err)), 0);
    assert_string_equal(err, "");

    snprintf(path, sizeof(path), "%s/bad.nodes", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# comment\nnode1 127.0.1.1:5061 node1.contoso.test\nnode2 127.0.1.2:5061\n", f);
    fclose(f);
    assert_int_equal(registry_cache_read(path, out, 4, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":3: "));

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("node1 127.0.1.1:5061 a b\n", f);
    fclose(f);
    assert_int_equal(registry_cache_read(path, out, 4, err, sizeof(err)), -1);
}

static void test_failed_write_keeps_old(void **state)
{
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/keep.nodes", dir);
    struct registry_cache_entry in[1] = {{"node1", "127.0.1.1:5061", "n1"}};
    assert_int_equal(registry_cache_write(path, "p", in, 1, err, sizeof(err)), 0);
    /* the temporary file's place taken by a directory: the write fails */
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(mkdir(tmp, 0700), 0);
    struct registry_cache_entry other[1] = {{"node9", "127.0.1.9:5061", "n9"}};
    assert_int_equal(registry_cache_write(path, "p", other, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot write"));
    struct registry_cache_entry out[2];
    assert_int_equal(registry_cache_read(path, out, 2, err, sizeof(err)), 1);
    assert_string_equal(out[0].id, "node1");
    rmdir(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
