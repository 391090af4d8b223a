/* test_pool.c -- the pieces of the pool's Redis state that need no Redis:
 * the policy as text (a configuration file's group out, a body or a whole
 * group in, line numbers in errors), the local snapshot (round trip of any
 * text, atomic replacement), dialog ids (the same from either direction),
 * and the redis group of the node's configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "federation/policy.h"
#include "node_config.h"
#include "pool/dialogs.h"
#include "pool/policy_snapshot.h"
#include "pool/policy_text.h"

/* main.c's clock: the dialog code links the proxy in, which wants it */
struct node;
uint64_t node_now_ms(const struct node *n);
uint64_t node_now_ms(const struct node *n)
{
    return 0;
}

static char dir[] = "/tmp/test_pool.XXXXXX";

static int setup(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[100];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text)
{
    static char path[200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char conf[] =
    "node = { id = \"n1\"; };\n"
    "policy = {\n"
    "  access_edge = { allow_federated_users = true; discovered_partner_standard_rate = 7; };\n"
    "  internal_domains = [ \"contoso.test\" ];\n"
    "  allowed_domains = ( \"fabrikam.test\", { domain = \"x.test\"; comment = \"a {b} "
    "\\\"q\\\"\"; } );\n"
    "  blocked_domains = ( \"spam.test\" );\n"
    "};\n"
    "redis = { addr = \"127.0.0.1:6379\"; };\n";

/* The file's policy group comes out as a body that loads to the same policy. */
static void test_text_of_file(void **state)
{
    const char *path = write_file("n1.conf", conf);
    char *text = NULL, err[512];
    assert_int_equal(policy_text_of_file(path, &text, err, sizeof(err)), 1);
    assert_non_null(text);
    assert_null(strstr(text, "policy"));
    assert_null(strstr(text, "node"));
    assert_non_null(strstr(text, "internal_domains"));
    struct policy *p = policy_from_text(text, 9, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(policy_version(p), 9);
    assert_int_equal(policy_settings(p)->discovered_partner_standard_rate, 7);
    const struct policy_allowed_domain *a;
    assert_int_equal(policy_allowed_domains(p, &a), 2);
    assert_string_equal(a[1].comment, "a {b} \"q\"");
    struct fed_decision d;
    policy_classify(p, slice_cstr("spam.test"), &d);
    assert_int_equal(d.cls, FED_BLOCKED);
    policy_free(p);
    free(text);

    path = write_file("nopolicy.conf", "node = { id = \"n1\"; };\n");
    assert_int_equal(policy_text_of_file(path, &text, err, sizeof(err)), 0);
    assert_null(text);
    path = write_file("broken.conf", "node = { id = \"n1\" };\npolicy = {\n");
    assert_int_equal(policy_text_of_file(path, &text, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "broken.conf"));
}

/* A body, a whole group, and what is refused (with the body's own line). */
static void test_text_forms(void **state)
{
    char err[512];
    struct policy *p =
        policy_from_text("internal_domains = [ \"contoso.test\" ];", 3, err, sizeof(err));
    assert_non_null(p);
    assert_true(policy_is_internal_domain(p, slice_cstr("contoso.test")));
    policy_free(p);
    p = policy_from_text("policy = { internal_domains = [ \"contoso.test\" ]; };", 4, err,
                         sizeof(err));
    assert_non_null(p);
    assert_true(policy_is_internal_domain(p, slice_cstr("contoso.test")));
    assert_int_equal(policy_version(p), 4);
    policy_free(p);
    p = policy_from_text("", 5, err, sizeof(err)); /* empty: Lync's defaults */
    assert_non_null(p);
    assert_false(policy_settings(p)->allow_federated_users);
    policy_free(p);

    assert_null(
        policy_from_text("internal_domains = [ \"contoso.test\" ];\naccess_edge = { bogus = 1; };",
                         6, err, sizeof(err)));
    assert_non_null(strstr(err, "<string>:2:"));
    assert_non_null(strstr(err, "policy.access_edge.bogus"));
    assert_null(policy_from_text("internal_domains = [ \n", 7, err, sizeof(err)));
    assert_null(
        policy_from_text("allowed_domains = ( \"a.test\" );\nblocked_domains = ( \"a.test\" );", 8,
                         err, sizeof(err)));
    assert_non_null(strstr(err, "a.test"));
}

static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Any text survives the snapshot; replacing it leaves no temporary file. */
static void test_snapshot_round_trip(void **state)
{
    char path[200], err[512];
    snprintf(path, sizeof(path), "%s/snap.policy", dir);
    const char *text = "allowed_domains = ( { domain = \"x.test\"; comment = \"tab\\there \\\\ "
                       "\\\"q\\\" é\"; } );\n"
                       "\tinternal_domains = [ \"contoso.test\" ];\n\nno final newline";
    int before = count_files();
    assert_int_equal(policy_snapshot_write(path, "pool1", "n1", 42, text, 1000, err, sizeof(err)),
                     0);
    assert_int_equal(policy_snapshot_write(path, "pool1", "n1", 43, text, 2000, err, sizeof(err)),
                     0);
    assert_int_equal(count_files(), before + 1);
    uint64_t v = 0;
    char *back = NULL;
    assert_int_equal(policy_snapshot_read(path, &v, &back, err, sizeof(err)), 0);
    assert_int_equal(v, 43);
    assert_string_equal(back, text);
    free(back);
    assert_int_equal(policy_snapshot_write(path, "pool1", "n1", 44, "", 3000, err, sizeof(err)), 0);
    assert_int_equal(policy_snapshot_read(path, &v, &back, err, sizeof(err)), 0);
    assert_string_equal(back, "");
    free(back);

    char missing[220];
    snprintf(missing, sizeof(missing), "%s/none.policy", dir);
    assert_int_equal(policy_snapshot_read(missing, &v, &back, err, sizeof(err)), -1);
    const char *junk = write_file("junk.policy", "version = 3;\n");
    assert_int_equal(policy_snapshot_read(junk, &v, &back, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a policy snapshot"));
    snprintf(missing, sizeof(missing), "%s/no/such/dir/x.policy", dir);
    assert_int_equal(policy_snapshot_write(missing, "p", "n", 1, "", 1, err, sizeof(err)), -1);
}

/* Both directions of a dialog name the same record. */
static void test_dialog_id(void **state)
{
    char a[200], b[200];
    struct slice cid = slice_cstr("abc@host");
    size_t la = pool_dialog_id(cid, slice_cstr("tagB"), slice_cstr("tagA"), a, sizeof(a));
    size_t lb = pool_dialog_id(cid, slice_cstr("tagA"), slice_cstr("tagB"), b, sizeof(b));
    assert_int_equal(la, lb);
    assert_string_equal(a, "abc@host:tagA:tagB");
    assert_string_equal(a, b);
    pool_dialog_id(cid, slice_cstr("t"), slice_cstr("t1"), a, sizeof(a));
    pool_dialog_id(cid, slice_cstr("t1"), slice_cstr("t"), b, sizeof(b));
    assert_string_equal(a, "abc@host:t:t1");
    assert_string_equal(b, a);
    assert_int_equal(pool_dialog_id(cid, slice_cstr("x"), slice_cstr("y"), a, 8), 0);
}

/* The redis group: defaults, every key, and what is refused. */
static void test_config_redis(void **state)
{
    struct node_config c;
    char err[512];
    assert_int_equal(node_config_load(&c, NULL, err, sizeof(err)), 0);
    assert_false(node_config_has_redis(&c)); /* the embedded default: no Redis */
    assert_string_equal(c.redis_pool, "edgepool");
    assert_true(c.redis_seed_policy);
    node_config_free(&c);

    const char *path = write_file(
        "r.conf",
        "redis = { sentinels = \"127.0.0.1:26379,127.0.0.2:26379\"; master_name = \"m\";\n"
        "  username = \"u\"; password = \"p\"; db = 3; tls = true; tls_ca = \"ca.pem\";\n"
        "  tls_cert = \"c.pem\"; tls_key = \"k.pem\"; pool = \"east\"; snapshot = \"/x/s\";\n"
        "  seed_policy = false; };\n");
    assert_int_equal(node_config_load(&c, path, err, sizeof(err)), 0);
    assert_true(node_config_has_redis(&c));
    assert_null(c.redis_addr);
    assert_string_equal(c.redis_sentinels, "127.0.0.1:26379,127.0.0.2:26379");
    assert_string_equal(c.redis_master_name, "m");
    assert_int_equal(c.redis_db, 3);
    assert_true(c.redis_tls);
    assert_string_equal(c.redis_tls_key, "k.pem");
    assert_string_equal(c.redis_pool, "east");
    assert_string_equal(c.redis_snapshot, "/x/s");
    assert_false(c.redis_seed_policy);
    node_config_free(&c);

    path = write_file("r2.conf", "redis = { addr = \"a:1\"; sentinels = \"b:2\"; };\n");
    assert_int_equal(node_config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not both"));
    node_config_free(&c);
    path = write_file("r3.conf", "redis = { addr = \"a:1\";\n  adress = \"b:2\"; };\n");
    assert_int_equal(node_config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":2: redis.adress: unknown setting"));
    node_config_free(&c);
    path = write_file("r4.conf", "redis = { addr = \"a:1\"; tls_cert = \"c.pem\"; };\n");
    assert_int_equal(node_config_load(&c, path, err, sizeof(err)), -1);
    node_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_of_file),        cmocka_unit_test(test_text_forms),
        cmocka_unit_test(test_snapshot_round_trip), cmocka_unit_test(test_dialog_id),
        cmocka_unit_test(test_config_redis),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
