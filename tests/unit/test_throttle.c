/* test_throttle.c -- discovered-partner throttling: the rate over a second,
 * the contact cap and the watch list, the suspicious-ratio drop to 1 msg/s,
 * bounded state (LRU and idle eviction, watch list size), the report clock;
 * and the strmap table underneath (deletion keeps every key reachable). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federation/policy.h"
#include "federation/throttle.h"
#include "strmap.h"

static struct access_edge_settings lync_settings(void)
{
    struct policy *p = policy_new();
    struct access_edge_settings s = *policy_settings(p);
    policy_free(p);
    return s;
}

static enum throttle_verdict check(struct throttle *t, const char *domain, const char *user,
                                   uint64_t now)
{
    return throttle_check(t, slice_cstr(domain), slice_cstr(user), "issuer=CA; serial=01", now);
}

static const struct watch_entry *find_watch(const struct throttle *t, const char *domain)
{
    const struct watch_entry *w;
    size_t n = throttle_watchlist(t, &w);
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].domain, domain) == 0)
            return &w[i];
    return NULL;
}

/* 20 msg/s with a one-second burst: the 21st in a second is refused (503). */
static void test_rate_over_a_second(void **state)
{
    struct access_edge_settings s = lync_settings();
    struct throttle *t = throttle_new(&s);
    uint64_t t0 = 1000000;
    for (int i = 0; i < 20; i++)
        assert_int_equal(check(t, "disc.test", "alice@contoso.test", t0), THROTTLE_OK);
    assert_int_equal(check(t, "disc.test", "alice@contoso.test", t0), THROTTLE_RATE);
    assert_int_equal(check(t, "disc.test", "alice@contoso.test", t0 + 49), THROTTLE_RATE);
    assert_int_equal(check(t, "disc.test", "alice@contoso.test", t0 + 50), THROTTLE_OK);
    assert_int_equal(check(t, "disc.test", "alice@contoso.test", t0 + 50), THROTTLE_RATE);
    /* Another domain has its own bucket. */
    assert_int_equal(check(t, "other.test", "alice@contoso.test", t0 + 50), THROTTLE_OK);
    /* A second later the burst is back, never more. */
    int ok = 0;
    while (check(t, "DISC.test.", "alice@contoso.test", t0 + 1100) == THROTTLE_OK)
        ok++;
    assert_int_equal(ok, 20);

    const struct watch_entry *w = find_watch(t, "disc.test");
    assert_non_null(w);
    assert_int_equal(w->reasons, WATCH_RATE);
    assert_int_equal(w->reason, WATCH_RATE);
    assert_false(w->refused);
    assert_int_equal(w->first_ms, t0);
    assert_int_equal(w->last_ms, t0 + 1100);
    assert_int_equal(w->events, 4);
    assert_string_equal(w->cert_info, "issuer=CA; serial=01");
    assert_null(find_watch(t, "other.test"));

    /* A new rate after a policy reload. */
    s.discovered_partner_standard_rate = 2;
    throttle_apply_settings(t, &s);
    assert_int_equal(check(t, "disc.test", "", t0 + 5000), THROTTLE_OK);
    assert_int_equal(check(t, "disc.test", "", t0 + 5000), THROTTLE_OK);
    assert_int_equal(check(t, "disc.test", "", t0 + 5000), THROTTLE_RATE);
    throttle_free(t);
}

/* More distinct users than the cap: the partner is watched and refused (403). */
static void test_contact_cap(void **state)
{
    struct access_edge_settings s = lync_settings();
    s.max_contacts_per_discovered_partner = 3;
    struct throttle *t = throttle_new(&s);
    uint64_t now = 5000;
    assert_int_equal(check(t, "harvest.test", "u1@contoso.test", now), THROTTLE_OK);
    assert_int_equal(check(t, "harvest.test", "u2@contoso.test", now), THROTTLE_OK);
    assert_int_equal(check(t, "harvest.test", "U1@Contoso.test", now), THROTTLE_OK); /* same */
    assert_int_equal(check(t, "harvest.test", "u3@contoso.test", now), THROTTLE_OK);
    assert_int_equal(check(t, "harvest.test", "", now), THROTTLE_OK); /* not a contact */
    assert_int_equal(throttle_contacts(t, SLICE_LIT("harvest.test")), 3);
    assert_null(find_watch(t, "harvest.test"));

    assert_int_equal(throttle_check(t, SLICE_LIT("harvest.test"), SLICE_LIT("u4@contoso.test"),
                                    "issuer=Evil CA; serial=666; subject=sip.harvest.test", now),
                     THROTTLE_CONTACTS);
    const struct watch_entry *w = find_watch(t, "harvest.test");
    assert_non_null(w);
    assert_true(w->refused);
    assert_int_equal(w->reasons, WATCH_CONTACTS);
    assert_string_equal(w->cert_info, "issuer=Evil CA; serial=666; subject=sip.harvest.test");
    /* Refused from now on, even towards users it already reached. */
    assert_int_equal(check(t, "harvest.test", "u1@contoso.test", now + 1000), THROTTLE_CONTACTS);
    assert_int_equal(check(t, "harvest.test", "", now + 2000), THROTTLE_CONTACTS);
    /* ...and after it is forgotten for idleness (the watch list remembers). */
    assert_int_equal(check(t, "harvest.test", "u1@contoso.test", now + 2ull * 3600 * 1000),
                     THROTTLE_CONTACTS);
    /* Other partners are not affected. */
    assert_int_equal(check(t, "fine.test", "u4@contoso.test", now), THROTTLE_OK);

    /* The operator reviews and removes it: it starts afresh. */
    assert_int_equal(throttle_watch_remove(t, SLICE_LIT("harvest.test")), 0);
    assert_int_equal(throttle_watch_remove(t, SLICE_LIT("harvest.test")), -1);
    uint64_t later = now + 3ull * 3600 * 1000;
    assert_int_equal(check(t, "harvest.test", "u4@contoso.test", later), THROTTLE_OK);

    /* Limit disabled: no cap, refusals lifted. */
    s.enable_discovered_partner_contacts_limit = false;
    throttle_apply_settings(t, &s);
    for (int i = 0; i < 10; i++) {
        char u[32];
        snprintf(u, sizeof u, "x%d@contoso.test", i);
        assert_int_equal(check(t, "open.test", u, later + (uint64_t)i * 100), THROTTLE_OK);
    }
    throttle_free(t);
}

/* Lync's 1000: the 1001st distinct user trips it. */
static void test_contact_cap_default(void **state)
{
    struct access_edge_settings s = lync_settings();
    s.discovered_partner_standard_rate = 100000;
    struct throttle *t = throttle_new(&s);
    char u[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(u, sizeof u, "user%d@contoso.test", i);
        assert_int_equal(check(t, "big.test", u, 0), THROTTLE_OK);
    }
    assert_int_equal(throttle_contacts(t, SLICE_LIT("big.test")), 1000);
    assert_int_equal(check(t, "big.test", "user1000@contoso.test", 0), THROTTLE_CONTACTS);
    throttle_free(t);
}

/* >= 80% failures over >= 50 responses: 1 msg/s for the hold time. */
static void test_suspicious_ratio(void **state)
{
    struct access_edge_settings s = lync_settings();
    struct throttle *t = throttle_new(&s);
    struct throttle_limits l;
    throttle_limits_default(&l);
    uint64_t now = 10000;
    struct slice d = SLICE_LIT("spim.test");

    assert_int_equal(check(t, "spim.test", "", now), THROTTLE_OK);
    /* 49 failures: too few to judge. Neutral answers do not count. */
    for (int i = 0; i < 49; i++)
        throttle_record_response(t, d, 404, now);
    for (int i = 0; i < 20; i++) {
        throttle_record_response(t, d, 480, now);
        throttle_record_response(t, d, 100, now);
    }
    assert_false(throttle_is_suspicious(t, d, now));
    throttle_record_response(t, d, 200, now); /* 50 responses, 98% failed */
    assert_true(throttle_is_suspicious(t, d, now));
    const struct watch_entry *w = find_watch(t, "spim.test");
    assert_non_null(w);
    assert_int_equal(w->reasons, WATCH_SUSPICIOUS);
    assert_int_equal(w->suspicious_until_ms, now + l.suspicious_hold_ms);

    /* 1 msg/s now. */
    assert_int_equal(check(t, "spim.test", "", now + 1), THROTTLE_OK);
    assert_int_equal(check(t, "spim.test", "", now + 2), THROTTLE_RATE);
    assert_int_equal(check(t, "spim.test", "", now + 500), THROTTLE_RATE);
    assert_int_equal(check(t, "spim.test", "", now + 1001), THROTTLE_OK);
    assert_int_equal(check(t, "spim.test", "", now + 1002), THROTTLE_RATE);
    w = find_watch(t, "spim.test");
    assert_int_equal(w->reasons, WATCH_SUSPICIOUS | WATCH_RATE);
    assert_int_equal(w->reason, WATCH_RATE);

    /* After the hold, the standard rate again. */
    uint64_t after = now + l.suspicious_hold_ms + 1000;
    assert_false(throttle_is_suspicious(t, d, after));
    int ok = 0;
    while (check(t, "spim.test", "", after) == THROTTLE_OK)
        ok++;
    assert_int_equal(ok, 20);
    throttle_free(t);

    /* Just under 80% is not suspicious; the window restarts after window_ms. */
    t = throttle_new(&s);
    assert_int_equal(check(t, "ok.test", "", 0), THROTTLE_OK);
    struct slice o = SLICE_LIT("ok.test");
    for (int i = 0; i < 39; i++)
        throttle_record_response(t, o, 403, 0);
    for (int i = 0; i < 11; i++)
        throttle_record_response(t, o, 202, 0);
    assert_false(throttle_is_suspicious(t, o, 0)); /* 39/50 = 78% */
    for (int i = 0; i < 45; i++)                   /* next window: 45 failures alone are too few */
        throttle_record_response(t, o, 404, l.window_ms + 1);
    assert_false(throttle_is_suspicious(t, o, l.window_ms + 1));
    throttle_record_response(t, SLICE_LIT("unknown.test"), 404, 0); /* ignored */
    assert_int_equal(throttle_domain_count(t), 1);
    throttle_free(t);

    assert_true(throttle_status_is_failure(404));
    assert_true(throttle_status_is_failure(403));
    assert_true(throttle_status_is_failure(500));
    assert_true(throttle_status_is_failure(604));
    assert_false(throttle_status_is_failure(480));
    assert_false(throttle_status_is_failure(486));
    assert_false(throttle_status_is_failure(200));
}

/* A suspicious partner forgotten from the table is still held at 1 msg/s. */
static void test_suspicious_survives_eviction(void **state)
{
    struct access_edge_settings s = lync_settings();
    struct throttle *t = throttle_new(&s);
    struct throttle_limits l;
    throttle_limits_default(&l);
    l.max_domains = 1;
    throttle_set_limits(t, &l);
    assert_int_equal(check(t, "spim.test", "", 0), THROTTLE_OK);
    for (int i = 0; i < 50; i++)
        throttle_record_response(t, SLICE_LIT("spim.test"), 404, 0);
    assert_int_equal(check(t, "other.test", "", 10), THROTTLE_OK); /* evicts spim.test */
    assert_int_equal(throttle_contacts(t, SLICE_LIT("spim.test")), 0);
    assert_false(throttle_is_suspicious(t, SLICE_LIT("spim.test"), 20));
    assert_int_equal(check(t, "spim.test", "", 20), THROTTLE_OK);
    assert_true(throttle_is_suspicious(t, SLICE_LIT("spim.test"), 20));
    assert_int_equal(check(t, "spim.test", "", 30), THROTTLE_RATE);
    throttle_free(t);
}

/* State is bounded: LRU beyond max_domains, idle domains forgotten. */
static void test_eviction(void **state)
{
    struct access_edge_settings s = lync_settings();
    struct throttle *t = throttle_new(&s);
    struct throttle_limits l;
    throttle_limits_default(&l);
    l.max_domains = 2;
    l.idle_ms = 1000;
    throttle_set_limits(t, &l);

    assert_int_equal(check(t, "a.test", "u@contoso.test", 0), THROTTLE_OK);
    assert_int_equal(check(t, "b.test", "u@contoso.test", 10), THROTTLE_OK);
    assert_int_equal(check(t, "a.test", "v@contoso.test", 20), THROTTLE_OK); /* a is fresher */
    assert_int_equal(check(t, "c.test", "u@contoso.test", 30), THROTTLE_OK); /* evicts b */
    assert_int_equal(throttle_domain_count(t), 2);
    assert_int_equal(throttle_contacts(t, SLICE_LIT("a.test")), 2);
    assert_int_equal(throttle_contacts(t, SLICE_LIT("b.test")), 0);
    assert_int_equal(throttle_contacts(t, SLICE_LIT("c.test")), 1);

    /* b comes back with a fresh bucket and no contacts; a is evicted now. */
    for (int i = 0; i < 20; i++)
        assert_int_equal(check(t, "b.test", "", 40), THROTTLE_OK);
    assert_int_equal(throttle_contacts(t, SLICE_LIT("a.test")), 0);

    /* Idle: at 1100 c (30) is idle, b (40) too; only d remains. */
    assert_int_equal(check(t, "d.test", "", 1100), THROTTLE_OK);
    assert_int_equal(throttle_domain_count(t), 1);

    /* Many domains never exceed the bound. */
    l.max_domains = 64;
    throttle_set_limits(t, &l);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "d%d.test", i);
        check(t, name, "u@contoso.test", 2000);
        assert_true(throttle_domain_count(t) <= 64);
    }
    assert_int_equal(throttle_domain_count(t), 64);
    throttle_free(t);
}

/* The watch list is bounded too; refused partners are the last to go. */
static void test_watchlist_bound(void **state)
{
    struct access_edge_settings s = lync_settings();
    s.discovered_partner_standard_rate = 1;
    s.max_contacts_per_discovered_partner = 1;
    struct throttle *t = throttle_new(&s);
    struct throttle_limits l;
    throttle_limits_default(&l);
    l.max_watch = 2;
    throttle_set_limits(t, &l);

    /* refused.test: over its cap (watched, refused). */
    assert_int_equal(check(t, "refused.test", "a@contoso.test", 0), THROTTLE_OK);
    assert_int_equal(check(t, "refused.test", "b@contoso.test", 1000), THROTTLE_CONTACTS);
    /* Two rate offenders after it: the older of them is dropped, not the refused one. */
    char name[32];
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "r%d.test", i);
        assert_int_equal(check(t, name, "", 2000 + (uint64_t)i), THROTTLE_OK);
        assert_int_equal(check(t, name, "", 2000 + (uint64_t)i), THROTTLE_RATE);
    }
    const struct watch_entry *w;
    assert_int_equal(throttle_watchlist(t, &w), 2);
    assert_non_null(find_watch(t, "refused.test"));
    assert_null(find_watch(t, "r0.test"));
    assert_non_null(find_watch(t, "r1.test"));
    assert_int_equal(check(t, "refused.test", "a@contoso.test", 3000), THROTTLE_CONTACTS);
    /* A long certificate description is truncated, not refused. */
    char big[THROTTLE_CERT_INFO_MAX * 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    throttle_check(t, SLICE_LIT("r1.test"), SLICE_NULL, big, 2001);
    assert_int_equal(strlen(find_watch(t, "r1.test")->cert_info), THROTTLE_CERT_INFO_MAX);
    throttle_free(t);
}

/* The report comes once per discovered_partner_report_period_minutes. */
static void test_report_period(void **state)
{
    struct access_edge_settings s = lync_settings();
    struct throttle *t = throttle_new(&s);
    uint64_t min = 60 * 1000;
    assert_false(throttle_report_due(t, 0));
    assert_false(throttle_report_due(t, 59 * min));
    assert_true(throttle_report_due(t, 60 * min));
    assert_false(throttle_report_due(t, 61 * min));
    assert_true(throttle_report_due(t, 121 * min));
    throttle_free(t);
}

/* strmap: case-insensitive keys, replace, delete with backward shift. */
static void test_strmap(void **state)
{
    struct strmap *m = strmap_new(true);
    char key[32];
    static int vals[2000];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "Key%d.Test", i);
        assert_int_equal(strmap_put(m, slice_cstr(key), &vals[i], NULL), 0);
    }
    assert_int_equal(strmap_count(m), 2000);
    assert_ptr_equal(strmap_get(m, SLICE_LIT("key7.test")), &vals[7]);
    void *old;
    assert_int_equal(strmap_put(m, SLICE_LIT("KEY7.TEST"), &vals[8], &old), 0);
    assert_ptr_equal(old, &vals[7]);
    assert_int_equal(strmap_count(m), 2000);
    assert_int_equal(strmap_put(m, SLICE_LIT("x"), NULL, NULL), -1);
    /* Delete every other key; every remaining one must stay reachable. */
    for (int i = 0; i < 2000; i += 2) {
        snprintf(key, sizeof key, "key%d.test", i);
        assert_non_null(strmap_del(m, slice_cstr(key)));
    }
    assert_null(strmap_del(m, SLICE_LIT("key0.test")));
    assert_int_equal(strmap_count(m), 1000);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "key%d.test", i);
        void *v = strmap_get(m, slice_cstr(key));
        if (i % 2)
            assert_non_null(v);
        else
            assert_null(v);
    }
    size_t it = 0, n = 0;
    const char *k;
    while (strmap_next(m, &it, &k, NULL))
        n++;
    assert_int_equal(n, 1000);
    strmap_free(m);

    m = strmap_new(false); /* case-sensitive */
    assert_int_equal(strmap_put(m, SLICE_LIT("A"), &vals[0], NULL), 0);
    assert_null(strmap_get(m, SLICE_LIT("a")));
    assert_int_equal(strmap_put(m, SLICE_LIT(""), &vals[1], NULL), 0);
    assert_ptr_equal(strmap_get(m, SLICE_LIT("")), &vals[1]);
    strmap_free(m);
    assert_int_equal(strmap_hash(SLICE_LIT("AbC"), true), strmap_hash(SLICE_LIT("abc"), true));
    assert_true(strmap_hash(SLICE_LIT("AbC"), false) != strmap_hash(SLICE_LIT("abc"), false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_over_a_second),
        cmocka_unit_test(test_contact_cap),
        cmocka_unit_test(test_contact_cap_default),
        cmocka_unit_test(test_suspicious_ratio),
        cmocka_unit_test(test_suspicious_survives_eviction),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_watchlist_bound),
        cmocka_unit_test(test_report_period),
        cmocka_unit_test(test_strmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
