/* test_edgectl_sessions.c -- edgectl's `sessions` key scan (node/edgectl/
 * sessions.c) without Redis: the SCAN pages are scripted. Every page's keys
 * are collected, the cursor is followed; a SCAN failing after the first page
 * leaves nothing allocated (the keys already copied were once leaked). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* edgectl's objects are not in libnode.a: the file is compiled in, and what
 * it calls of the rest of edgectl is stubbed below. */
#include "edgectl/sessions.c"

/* ---- scripted SCAN replies ---- */

#define MAX_SCRIPT 8
static redisReply *script[MAX_SCRIPT]; /* NULL: the command fails (err "timeout") */
static int n_script, next_reply;
static char cursors[MAX_SCRIPT][32]; /* the cursor each SCAN was sent */
static char failed[512];             /* the last ctl_fail message */

static redisReply *str_reply(int type, const char *s)
{
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = type;
    r->str = strdup(s);
    assert_non_null(r->str);
    r->len = strlen(s);
    return r;
}

/* A SCAN page: [cursor, [key, ...]], keys NULL-terminated. */
static redisReply *page(const char *cursor, const char *const *keys)
{
    redisReply *batch = calloc(1, sizeof *batch);
    assert_non_null(batch);
    batch->type = REDIS_REPLY_ARRAY;
    while (keys[batch->elements])
        batch->elements++;
    batch->element = calloc(batch->elements + 1, sizeof *batch->element);
    assert_non_null(batch->element);
    for (size_t i = 0; i < batch->elements; i++)
        batch->element[i] = str_reply(REDIS_REPLY_STRING, keys[i]);
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = 2;
    r->element = calloc(2, sizeof *r->element);
    assert_non_null(r->element);
    r->element[0] = str_reply(REDIS_REPLY_STRING, cursor);
    r->element[1] = batch;
    return r;
}

static void script_reset(void)
{
    for (int i = next_reply; i < n_script; i++)
        ctl_reply_free(script[i]);
    n_script = next_reply = 0;
    failed[0] = '\0';
    memset(cursors, 0, sizeof cursors);
}

static void script_add(redisReply *r)
{
    assert_true(n_script < MAX_SCRIPT);
    script[n_script++] = r;
}

/* ---- stubs for the rest of edgectl ---- */

redisReply *ctl_redisv(struct ctl *c, char *err, size_t errlen, ...)
{
    va_list ap;
    va_start(ap, errlen);
    const char *cmd = va_arg(ap, const char *);
    const char *cursor = va_arg(ap, const char *);
    va_end(ap);
    assert_string_equal(cmd, "SCAN");
    assert_true(next_reply < n_script);
    snprintf(cursors[next_reply], sizeof cursors[0], "%s", cursor);
    redisReply *r = script[next_reply++];
    if (!r)
        snprintf(err, errlen, "timeout");
    return r;
}

void ctl_reply_free(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        ctl_reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

int ctl_fail(struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failed, sizeof failed, fmt, ap);
    va_end(ap);
    return CTL_FAIL;
}

void ctl_note(struct ctl *c, const char *fmt, ...) {}
const char *ctl_arg(const struct ctl_args *a, const char *name)
{
    return NULL;
}
bool ctl_flag(const struct ctl_args *a, const char *name)
{
    return false;
}
int ctl_check_domain(struct ctl *c, const char *what, const char *v, char *out, size_t len)
{
    return CTL_USAGE;
}
int ctl_redis_open(struct ctl *c)
{
    return CTL_OK;
}
const char *ctl_redis_addr(const struct ctl *c)
{
    return "127.0.0.1:6379";
}
uint64_t ctl_now_ms(void)
{
    return 0;
}
const char *redis_hash_get(const redisReply *r, const char *field)
{
    return NULL;
}
int ctl_redis_send(struct ctl *c, struct ctl_pending *p, int argc, const char *const *argv)
{
    fail_msg("no HGETALL expected");
    return -1;
}
bool ctl_redis_wait(struct ctl *c, struct ctl_pending *p, size_t n)
{
    return false;
}
void ctl_pending_clear(struct ctl_pending *p, size_t n) {}
void jw_obj(struct jw *w, const char *key) {}
void jw_end_obj(struct jw *w) {}
void jw_arr(struct jw *w, const char *key) {}
void jw_end_arr(struct jw *w) {}
void jw_str(struct jw *w, const char *key, const char *v) {}
void jw_uint(struct jw *w, const char *key, unsigned long long v) {}
void jw_bool(struct jw *w, const char *key, bool v) {}
void jw_null(struct jw *w, const char *key) {}

/* ---- tests ---- */

static void test_scan_follows_the_cursor(void **state)
{
    struct ctl c = {.o.pool = "edgepool"};
    script_reset();
    script_add(page("17", (const char *[]){"ep:edgepool:dlg:a", "ep:edgepool:dlg:b", NULL}));
    script_add(page("0", (const char *[]){"ep:edgepool:dlg:c", NULL}));
    char **keys = NULL;
    size_t n = 99;
    assert_int_equal(scan_keys(&c, "ep:edgepool:dlg:*", &keys, &n), CTL_OK);
    assert_int_equal(next_reply, 2);
    assert_string_equal(cursors[0], "0");
    assert_string_equal(cursors[1], "17");
    assert_int_equal(n, 3);
    assert_string_equal(keys[0], "ep:edgepool:dlg:a");
    assert_string_equal(keys[1], "ep:edgepool:dlg:b");
    assert_string_equal(keys[2], "ep:edgepool:dlg:c");
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

/* The second SCAN fails after the first page's keys were copied: nothing is
 * kept (LeakSanitizer would name what was), the failure says why. */
static void test_scan_failing_midway_keeps_nothing(void **state)
{
    struct ctl c = {.o.pool = "edgepool"};
    script_reset();
    script_add(page("5", (const char *[]){"ep:edgepool:dlg:a", "ep:edgepool:dlg:b", NULL}));
    script_add(NULL);
    char **keys = NULL;
    size_t n = 0;
    assert_int_equal(scan_keys(&c, "ep:edgepool:dlg:*", &keys, &n), CTL_FAIL);
    assert_null(keys);
    assert_int_equal(n, 0);
    assert_string_equal(failed, "timeout");

    /* the same through the command */
    script_reset();
    script_add(page("5", (const char *[]){"ep:edgepool:dlg:a", NULL}));
    script_add(NULL);
    struct ctl_args a = {0};
    assert_int_equal(ctl_cmd_sessions(&c, &a), CTL_FAIL);
    assert_int_equal(next_reply, 2);
    assert_string_equal(failed, "timeout");
}

/* A reply that is not a SCAN page after the first: refused, nothing kept. */
static void test_scan_unexpected_reply_keeps_nothing(void **state)
{
    struct ctl c = {.o.pool = "edgepool"};
    script_reset();
    script_add(page("5", (const char *[]){"ep:edgepool:dlg:a", NULL}));
    script_add(str_reply(REDIS_REPLY_ERROR, "LOADING Redis is loading the dataset in memory"));
    char **keys = NULL;
    size_t n = 0;
    assert_int_equal(scan_keys(&c, "ep:edgepool:dlg:*", &keys, &n), CTL_FAIL);
    assert_null(keys);
    assert_int_equal(n, 0);
    assert_string_equal(failed, "unexpected reply to SCAN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_follows_the_cursor),
        cmocka_unit_test(test_scan_failing_midway_keeps_nothing),
        cmocka_unit_test(test_scan_unexpected_reply_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
