/* test_pool_records.c -- the table of a node's own pool records
 * (node/pool/pool_records.h): put, replace, refresh, delete and its pending
 * deletion, drop, expiry, the cap, and replays whose cursor survives the
 * table changing between slices. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pool/pool_records.h"

static const char *const F[] = {"kind", "invite", "peer", "sip.fabrikam.test"};

static void put(struct pool_records *t, const char *key, uint64_t deadline)
{
    assert_int_equal(precords_put(t, key, F, 4, deadline), 0);
}

static void test_put_get_replace(void **state)
{
    struct pool_records t;
    assert_int_equal(precords_init(&t, 10), 0);
    put(&t, "k1", 1000);
    const struct precord *r = precords_get(&t, "k1");
    assert_non_null(r);
    assert_int_equal(r->nfv, 4);
    assert_string_equal(r->fv[3], "sip.fabrikam.test");
    assert_int_equal(r->fvlen[3], strlen("sip.fabrikam.test"));
    assert_int_equal(r->deadline_ms, 1000);
    const char *const g[] = {"kind", "subscribe"};
    assert_int_equal(precords_put(&t, "k1", g, 2, 2000), 0);
    r = precords_get(&t, "k1");
    assert_int_equal(r->nfv, 2);
    assert_string_equal(r->fv[1], "subscribe");
    assert_int_equal(precords_count(&t), 1);
    assert_true(precords_set_deadline(&t, "k1", 5000));
    assert_int_equal(precords_get(&t, "k1")->deadline_ms, 5000);
    assert_false(precords_set_deadline(&t, "nope", 5000));
    /* bad arguments */
    assert_int_equal(precords_put(&t, "k2", F, 3, 1), -1);
    assert_int_equal(precords_put(&t, "", F, 2, 1), -1);
    assert_int_equal(precords_put(&t, "k2", F, PRECORDS_MAX_FIELDS + 2, 1), -1);
    assert_null(precords_get(&t, "k2"));
    precords_destroy(&t);
}

static void test_delete_pending_and_done(void **state)
{
    struct pool_records t;
    assert_int_equal(precords_init(&t, 10), 0);
    put(&t, "mine", 1000);
    assert_true(precords_del(&t, "mine", 1000));
    assert_null(precords_get(&t, "mine"));
    assert_int_equal(precords_pending_dels(&t), 1);
    const struct pdel *d = hmap_get(&t.dels, "mine", 4);
    assert_non_null(d);
    assert_false(d->remote);
    /* another node's record: not held, remote */
    assert_false(precords_del(&t, "theirs", 9000));
    d = hmap_get(&t.dels, "theirs", 6);
    assert_non_null(d);
    assert_true(d->remote);
    assert_int_equal(precords_pending_dels(&t), 2);
    precords_del_done(&t, "mine");
    precords_del_done(&t, "unknown");
    assert_int_equal(precords_pending_dels(&t), 1);
    /* a put of a key being deleted cancels the deletion */
    put(&t, "theirs", 3000);
    assert_int_equal(precords_pending_dels(&t), 0);
    assert_non_null(precords_get(&t, "theirs"));
    /* deleted twice: one pending deletion, the later deadline */
    assert_true(precords_del(&t, "theirs", 3000));
    assert_false(precords_del(&t, "theirs", 7000));
    assert_int_equal(precords_pending_dels(&t), 1);
    assert_int_equal(((const struct pdel *)hmap_get(&t.dels, "theirs", 6))->until_ms, 7000);
    precords_destroy(&t);
}

static void test_drop(void **state)
{
    struct pool_records t;
    assert_int_equal(precords_init(&t, 10), 0);
    put(&t, "a", 1000);
    assert_true(precords_drop(&t, "a"));
    assert_false(precords_drop(&t, "a"));
    assert_int_equal(precords_count(&t), 0);
    assert_int_equal(precords_pending_dels(&t), 0);
    assert_int_equal(t.stats.dropped, 1);
    precords_destroy(&t);
}

static void test_expire(void **state)
{
    struct pool_records t;
    assert_int_equal(precords_init(&t, 10), 0);
    put(&t, "old", 100);
    put(&t, "new", 5000);
    precords_del(&t, "gone", 200);
    precords_del(&t, "later", 6000);
    assert_int_equal(precords_expire(&t, 1000), 2);
    assert_null(precords_get(&t, "old"));
    assert_non_null(precords_get(&t, "new"));
    assert_int_equal(precords_pending_dels(&t), 1);
    assert_non_null(hmap_get(&t.dels, "later", 5));
    assert_int_equal(precords_expire(&t, 10000), 2);
    assert_int_equal(precords_count(&t), 0);
    assert_int_equal(precords_pending_dels(&t), 0);
    assert_int_equal(t.stats.expired, 4);
    precords_destroy(&t);
}

static void test_cap(void **state)
{
    struct pool_records t;
    assert_int_equal(precords_init(&t, 3), 0);
    put(&t, "a", 1);
    put(&t, "b", 1);
    put(&t, "c", 1);
    assert_int_equal(precords_put(&t, "d", F, 4, 1), 1);
    assert_int_equal(t.stats.over_cap, 1);
    assert_null(precords_get(&t, "d"));
    /* replacing a held one is not growing */
    assert_int_equal(precords_put(&t, "b", F, 2, 9), 0);
    /* pending deletions: the oldest is forgotten beyond the cap */
    precords_del(&t, "x1", 99);
    precords_del(&t, "x2", 99);
    precords_del(&t, "x3", 99);
    precords_del(&t, "x4", 99);
    assert_int_equal(precords_pending_dels(&t), 3);
    assert_null(hmap_get(&t.dels, "x1", 2));
    assert_int_equal(t.stats.dels_forgotten, 1);
    precords_destroy(&t);
}

/* Walks a replay into buf ("r:key " and "d:key " in order), n steps at most. */
static int walk(struct pool_records *t, char *buf, size_t len, int n)
{
    int k = 0;
    for (; k < n; k++) {
        const struct precord *r = precords_replay_next_rec(t);
        if (r) {
            size_t u = strlen(buf);
            snprintf(buf + u, len - u, "r:%s ", r->key);
            continue;
        }
        const struct pdel *d = precords_replay_next_del(t);
        if (!d)
            break;
        size_t u = strlen(buf);
        snprintf(buf + u, len - u, "d:%s ", d->key);
    }
    return k;
}

static void test_replay_order(void **state)
{
    struct pool_records t;
    char out[400] = "";
    assert_int_equal(precords_init(&t, 100), 0);
    put(&t, "a", 10);
    put(&t, "b", 10);
    put(&t, "c", 10);
    precords_del(&t, "x", 10);
    precords_del(&t, "y", 10);
    precords_replay_start(&t);
    walk(&t, out, sizeof(out), 100);
    assert_string_equal(out, "r:a r:b r:c d:x d:y ");
    /* finished: nothing more until a new start */
    assert_null(precords_replay_next_rec(&t));
    assert_null(precords_replay_next_del(&t));
    /* an empty table: a replay ends at once */
    struct pool_records e;
    assert_int_equal(precords_init(&e, 10), 0);
    precords_replay_start(&e);
    assert_null(precords_replay_next_rec(&e));
    assert_null(precords_replay_next_del(&e));
    precords_destroy(&e);
    precords_destroy(&t);
}

static void test_replay_survives_changes(void **state)
{
    struct pool_records t;
    char out[400] = "";
    assert_int_equal(precords_init(&t, 100), 0);
    put(&t, "a", 10);
    put(&t, "b", 10);
    put(&t, "c", 10);
    put(&t, "d", 10);
    precords_del(&t, "x", 10);
    precords_del(&t, "y", 10);
    precords_replay_start(&t);
    walk(&t, out, sizeof(out), 1); /* a; the cursor is on b */
    precords_del(&t, "b", 10);     /* b leaves under the cursor: c is next */
    precords_drop(&t, "d");
    put(&t, "e", 10); /* new during the replay: walked (the cursor has not passed the end) */
    put(&t, "a", 20); /* replaced: moves to the end, walked again */
    precords_del_done(&t, "x");
    walk(&t, out, sizeof(out), 100);
    assert_string_equal(out, "r:a r:c r:e r:a d:y d:b ");
    /* stopped half way, started again: from the top */
    out[0] = '\0';
    precords_replay_start(&t);
    walk(&t, out, sizeof(out), 1);
    precords_replay_stop(&t);
    assert_null(precords_replay_next_rec(&t));
    precords_replay_start(&t);
    walk(&t, out, sizeof(out), 100);
    assert_string_equal(out, "r:c r:c r:e r:a d:y d:b ");
    /* expiry under the cursor */
    out[0] = '\0';
    precords_replay_start(&t);
    walk(&t, out, sizeof(out), 1); /* c */
    precords_expire(&t, 15);       /* c, e go (deadline 10); a stays (20); y, b go */
    walk(&t, out, sizeof(out), 100);
    assert_string_equal(out, "r:c r:a ");
    precords_destroy(&t);
}

static void test_many(void **state)
{
    struct pool_records t;
    char key[32];
    assert_int_equal(precords_init(&t, 0), 0);
    assert_int_equal(t.max, PRECORDS_DEFAULT_MAX);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ep:p:dlg:%d", i);
        put(&t, key, (uint64_t)i);
    }
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "ep:p:dlg:%d", i);
        assert_true(precords_del(&t, key, 1));
    }
    assert_int_equal(precords_count(&t), 2500);
    precords_replay_start(&t);
    int recs = 0, dels = 0;
    while (precords_replay_next_rec(&t))
        recs++;
    while (precords_replay_next_del(&t))
        dels++;
    assert_int_equal(recs, 2500);
    assert_int_equal(dels, 2500);
    assert_int_equal(precords_expire(&t, 2500), 1250 + 2500);
    assert_int_equal(precords_count(&t), 1250);
    precords_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_delete_pending_and_done),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_replay_order),
        cmocka_unit_test(test_replay_survives_changes),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
