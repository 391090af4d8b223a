/* ctl_redis.c -- edgectl's Redis: the shared client on the private loop,
 * commands waited for with a deadline, replies deep-copied. */
#include "edgectl/ctl_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "edgectl/edgectl.h"
#include "log.h"
#include "redis.h"

static redisReply *reply_copy(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        if (!(c->str = malloc(r->len + 1)))
            goto oom;
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->elements && r->element) {
        if (!(c->element = calloc(r->elements, sizeof *c->element)))
            goto oom;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i] && !(c->element[i] = reply_copy(r->element[i])))
                goto oom;
    }
    return c;
oom:
    ctl_reply_free(c);
    return NULL;
}

void ctl_reply_free(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements && r->element; i++)
        ctl_reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

void ctl_pending_clear(struct ctl_pending *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ctl_reply_free(p[i].reply);
        p[i].reply = NULL;
    }
}

static void on_reply(void *arg, const redisReply *reply, const char *err)
{
    struct ctl_pending *p = arg;
    if (reply && !(p->reply = reply_copy(reply)))
        snprintf(p->err, sizeof p->err, "out of memory");
    else if (err)
        snprintf(p->err, sizeof p->err, "%s", err);
    else if (!reply)
        snprintf(p->err, sizeof p->err, "no reply");
    p->done = true;
}

static void on_state(void *arg, bool up)
{
    struct ctl *c = arg;
    c->redis_up = up;
}

const char *ctl_redis_addr(const struct ctl *c)
{
    const char *a = c->redis ? redis_current_addr(c->redis) : NULL;
    if (a && *a)
        return a;
    if (c->o.sentinels)
        return c->o.sentinels;
    return c->o.redis_addr;
}

static bool is_up(void *arg)
{
    const struct ctl *c = arg;
    return c->redis_up || redis_is_up(c->redis);
}

int ctl_redis_open(struct ctl *c)
{
    if (c->redis)
        return c->redis_up ? CTL_OK : ctl_fail(c, "Redis at %s is down", ctl_redis_addr(c));
    struct redis_opts o = {
        .addr = c->o.sentinels ? NULL : c->o.redis_addr,
        .sentinels = c->o.sentinels,
        .master_name = c->o.master,
        .username = c->o.user,
        .password = c->o.password,
        .sentinel_username = c->o.sentinel_user,
        .sentinel_password = c->o.sentinel_password,
        .db = c->o.db,
        .tls = c->o.tls,
        .tls_ca = c->o.ca,
        .tls_cert = c->o.cert,
        .tls_key = c->o.key,
        .tls_server_name = c->o.tls_name,
        .connect_timeout_ms = c->o.timeout_ms < 1000 ? c->o.timeout_ms : 1000,
        .command_timeout_ms = c->o.timeout_ms,
        .backoff_min_ms = 100,
        .backoff_max_ms = 500,
    };
    char err[256] = "";
    /* While connecting, the client's own warnings say why Redis cannot be
     * reached (refused, AUTH, certificate); once up, only errors. */
    enum log_level level = log_get_level();
    log_set_level(LOG_LVL_WARN);
    c->redis = redis_new(c->base, &o, on_state, c, err, sizeof err);
    if (!c->redis) {
        log_set_level(level);
        return ctl_fail(c, "Redis at %s: %s", ctl_redis_addr(c), err[0] ? err : "cannot start");
    }
    /* on_state may already have run: the flag is checked first. */
    bool up = c->redis && ctl_loop_run(c, is_up, c, c->deadline_ms);
    log_set_level(level);
    if (!up) {
        const char *where = c->o.sentinels ? "through the sentinels" : "at";
        int rc = ctl_fail(c, "cannot reach Redis %s %s (gave up after %.1f s)", where,
                          ctl_redis_addr(c), c->o.timeout_ms / 1000.0);
        redis_free(c->redis);
        c->redis = NULL;
        return rc;
    }
    c->redis_up = true;
    return CTL_OK;
}

int ctl_redis_send(struct ctl *c, struct ctl_pending *p, int argc, const char *const *argv)
{
    memset(p, 0, sizeof *p);
    if (!c->redis) {
        snprintf(p->err, sizeof p->err, "not connected");
        p->done = true;
        return -1;
    }
    size_t lens[64];
    if (argc > 64) {
        snprintf(p->err, sizeof p->err, "too many arguments");
        p->done = true;
        return -1;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (redis_command_argv(c->redis, on_reply, p, argc, (const char **)argv, lens) < 0) {
        snprintf(p->err, sizeof p->err, "cannot format the command");
        p->done = true;
        return -1;
    }
    return 0;
}

struct wait_set {
    const struct ctl_pending *p;
    size_t n;
};

static bool all_done(void *arg)
{
    const struct wait_set *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (!w->p[i].done)
            return false;
    return true;
}

bool ctl_redis_wait(struct ctl *c, struct ctl_pending *p, size_t n)
{
    struct wait_set w = {p, n};
    if (ctl_loop_run(c, all_done, &w, c->deadline_ms))
        return true;
    /* Past the deadline: tear the client down so every callback runs now,
     * while p is still alive; later commands fail with "not connected". */
    if (c->redis) {
        redis_free(c->redis);
        c->redis = NULL;
        c->redis_up = false;
    }
    for (size_t i = 0; i < n; i++)
        if (!p[i].done) {
            snprintf(p[i].err, sizeof p[i].err, "timeout");
            p[i].done = true;
        }
    for (size_t i = 0; i < n; i++)
        if (!p[i].reply && strcmp(p[i].err, "shutting down") == 0)
            snprintf(p[i].err, sizeof p[i].err, "timeout");
    return false;
}

redisReply *ctl_redis(struct ctl *c, char *err, size_t errlen, int argc, const char *const *argv)
{
    struct ctl_pending p;
    ctl_redis_send(c, &p, argc, argv);
    ctl_redis_wait(c, &p, 1);
    if (!p.reply) {
        snprintf(err, errlen, "Redis at %s: %s", ctl_redis_addr(c), p.err);
        return NULL;
    }
    return p.reply;
}

redisReply *ctl_redisv(struct ctl *c, char *err, size_t errlen, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, errlen);
    const char *s;
    while ((s = va_arg(ap, const char *)) && argc < 32)
        argv[argc++] = s;
    va_end(ap);
    return ctl_redis(c, err, errlen, argc, argv);
}
