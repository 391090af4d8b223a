/* policy_txn.c -- the pool's policy in Redis: read it, and change it
 * atomically with WATCH/MULTI/EXEC, then PUBLISH the new version (see
 * policy_txn.h). The text is judged by the node's own loader first, so
 * nothing a node would refuse ever reaches Redis. */
#include "edgectl/policy_txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgectl/ctl_redis.h"
#include "edgectl/edgectl.h"
#include "federation/policy.h"
#include "pool_keys.h"

#define EDIT_TRIES 10
#define RETRY (-2) /* attempt(): someone else changed the policy since WATCH */

void ctl_policy_cur_free(struct ctl_policy_cur *cur)
{
    free(cur->text);
    free(cur->updated_by);
    memset(cur, 0, sizeof *cur);
}

static uint64_t to_u64(const redisReply *r)
{
    return r && r->str ? strtoull(r->str, NULL, 10) : 0;
}

/* HMGET version text updated_ms updated_by into cur. CTL_OK or CTL_FAIL. */
static int read_cur(struct ctl *c, const char *key, struct ctl_policy_cur *cur)
{
    char err[512];
    memset(cur, 0, sizeof *cur);
    redisReply *r = ctl_redisv(c, err, sizeof err, "HMGET", key, "version", "text", "updated_ms",
                               "updated_by", (const char *)NULL);
    if (!r)
        return ctl_fail(c, "%s", err);
    if (r->type == REDIS_REPLY_ERROR) {
        int rc = ctl_fail(c, "Redis at %s: HMGET %s: %s", ctl_redis_addr(c), key, r->str);
        ctl_reply_free(r);
        return rc;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        ctl_reply_free(r);
        return ctl_fail(c, "Redis at %s: unexpected reply to HMGET %s", ctl_redis_addr(c), key);
    }
    const redisReply *text = r->element[1], *by = r->element[3];
    cur->exists = text && text->str;
    cur->version = to_u64(r->element[0]);
    cur->text = strdup(cur->exists ? text->str : "");
    cur->updated_ms = to_u64(r->element[2]);
    cur->updated_by = strdup(by && by->str ? by->str : "");
    ctl_reply_free(r);
    if (!cur->text || !cur->updated_by) {
        ctl_policy_cur_free(cur);
        return ctl_fail(c, "out of memory");
    }
    return CTL_OK;
}

int ctl_policy_load(struct ctl *c, struct ctl_policy_cur *cur, struct policy **p)
{
    char key[256], err[1024];
    *p = NULL;
    if (ctl_redis_open(c))
        return CTL_FAIL;
    snprintf(key, sizeof key, EP_KEY_POLICY, c->o.pool);
    if (read_cur(c, key, cur))
        return CTL_FAIL;
    if (!(*p = ptext_policy(cur->text, err, sizeof err))) {
        int rc =
            ctl_fail(c, "the policy stored in %s (version %" PRIu64 ") is one nodes refuse: %s",
                     key, cur->version, err);
        ctl_policy_cur_free(cur);
        return rc;
    }
    policy_set_version(*p, cur->version);
    return CTL_OK;
}

/* "edgectl alice@host": who changed the policy, for updated_by. */
static void who(char *buf, size_t len)
{
    const char *u = getenv("SUDO_USER");
    if (!u || !*u)
        u = getenv("USER");
    if (!u || !*u)
        u = getenv("LOGNAME");
    char host[256] = "";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    snprintf(buf, len, "edgectl %s@%s", u && *u ? u : "?", host);
}

static void unwatch(struct ctl *c)
{
    char err[256];
    ctl_reply_free(ctl_redisv(c, err, sizeof err, "UNWATCH", (const char *)NULL));
}

/* One attempt: 0 done (res filled), RETRY (lost a race), or CTL_FAIL printed. */
static int attempt(struct ctl *c, const char *key, ctl_edit_fn fn, void *arg,
                   struct ctl_edit_result *res)
{
    char err[1024];
    redisReply *r = ctl_redisv(c, err, sizeof err, "WATCH", key, (const char *)NULL);
    if (!r)
        return ctl_fail(c, "%s", err);
    bool bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        snprintf(err, sizeof err, "Redis at %s: WATCH: %s", ctl_redis_addr(c), r->str);
    ctl_reply_free(r);
    if (bad)
        return ctl_fail(c, "%s", err);

    struct ctl_policy_cur cur;
    if (read_cur(c, key, &cur))
        return CTL_FAIL;
    int rc = CTL_FAIL;
    char *text = NULL;
    struct ptext t;
    if (ptext_init(&t, cur.text, err, sizeof err) < 0) {
        unwatch(c);
        rc = ctl_fail(c,
                      "the policy stored in %s (version %" PRIu64 ") cannot be read: %s; "
                      "replace it with `edgectl policy seed --force FILE`",
                      key, cur.version, err);
        ctl_policy_cur_free(&cur);
        return rc;
    }
    err[0] = '\0';
    int e = fn(&t, &cur, arg, err, sizeof err);
    if (e < 0) {
        unwatch(c);
        rc = ctl_fail(c, "refused: %s", err[0] ? err : "the change is not possible");
        goto out;
    }
    res->was_empty = !cur.exists;
    res->version = cur.version;
    res->changed = false;
    res->receivers = -1;
    if (!(text = ptext_text(&t))) {
        unwatch(c);
        rc = ctl_fail(c, "out of memory");
        goto out;
    }
    if (e == 1 || (cur.exists && strcmp(text, cur.text) == 0)) {
        unwatch(c); /* already so: no new version */
        rc = 0;
        goto out;
    }
    struct policy *p = ptext_judge(&t, err, sizeof err);
    if (!p) {
        unwatch(c);
        rc = ctl_fail(c, "refused: %s", err);
        goto out;
    }
    policy_free(p);

    char version[32], now[32], by[320];
    snprintf(version, sizeof version, "%" PRIu64, cur.version + 1);
    snprintf(now, sizeof now, "%" PRIu64, ctl_now_ms());
    who(by, sizeof by);
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    const char *hset[] = {"HSET", key,          "version", version,      "text",
                          text,   "updated_ms", now,       "updated_by", by};
    struct ctl_pending pd[3];
    ctl_redis_send(c, &pd[0], 1, multi);
    ctl_redis_send(c, &pd[1], 10, hset);
    ctl_redis_send(c, &pd[2], 1, exec);
    ctl_redis_wait(c, pd, 3);
    const redisReply *x = pd[2].reply;
    if (!x) {
        rc = ctl_fail(c,
                      "Redis at %s: EXEC: %s (the policy may or may not have changed: "
                      "check with `edgectl policy show`)",
                      ctl_redis_addr(c), pd[2].err[0] ? pd[2].err : pd[1].err);
    } else if (x->type == REDIS_REPLY_NIL) {
        rc = RETRY;
    } else if (x->type != REDIS_REPLY_ARRAY || x->elements != 1 || !x->element[0] ||
               x->element[0]->type == REDIS_REPLY_ERROR) {
        const char *why =
            x->type == REDIS_REPLY_ERROR ? x->str
            : x->type == REDIS_REPLY_ARRAY && x->elements && x->element[0] && x->element[0]->str
                ? x->element[0]->str
                : "unexpected reply";
        rc = ctl_fail(c, "Redis at %s: writing %s: %s", ctl_redis_addr(c), key, why);
    } else {
        res->changed = true;
        res->version = cur.version + 1;
        /* Nodes apply the version they are told, re-reading the hash. */
        char chan[256];
        snprintf(chan, sizeof chan, EP_CHAN_POLICY, c->o.pool);
        r = ctl_redisv(c, err, sizeof err, "PUBLISH", chan, version, (const char *)NULL);
        if (r && r->type == REDIS_REPLY_INTEGER)
            res->receivers = r->integer;
        else
            ctl_note(c,
                     "version %s written but not published (%s): nodes pick it up when they "
                     "next read the policy",
                     version, r && r->str ? r->str : err);
        ctl_reply_free(r);
        rc = 0;
    }
    ctl_pending_clear(pd, 3);
out:
    free(text);
    ptext_free(&t);
    ctl_policy_cur_free(&cur);
    return rc;
}

int ctl_policy_edit(struct ctl *c, ctl_edit_fn fn, void *arg, struct ctl_edit_result *res)
{
    char key[256];
    memset(res, 0, sizeof *res);
    if (ctl_redis_open(c))
        return CTL_FAIL;
    snprintf(key, sizeof key, EP_KEY_POLICY, c->o.pool);
    for (int i = 0; i < EDIT_TRIES; i++) {
        int rc = attempt(c, key, fn, arg, res);
        if (rc != RETRY)
            return rc;
        usleep((useconds_t)(1000 * (i + 1) * (rand() % 10 + 1))); /* others are writing too */
    }
    return ctl_fail(c, "%s kept changing while we tried to change it (%d tries): try again", key,
                    EDIT_TRIES);
}

int ctl_report_edit(struct ctl *c, const char *what, const struct ctl_edit_result *res)
{
    if (c->o.json) {
        jw_obj(&c->out, NULL);
        jw_bool(&c->out, "ok", true);
        jw_str(&c->out, "pool", c->o.pool);
        jw_str(&c->out, "action", what);
        jw_bool(&c->out, "changed", res->changed);
        jw_uint(&c->out, "version", res->version);
        if (res->changed)
            jw_int(&c->out, "published_to", res->receivers);
        jw_end_obj(&c->out);
        c->json_done = true;
        return CTL_OK;
    }
    if (res->was_empty && res->changed)
        ctl_note(c,
                 "pool %s had no policy in Redis: started from Lync's defaults (federation "
                 "off unless set); `edgectl policy seed FILE` seeds a whole one",
                 c->o.pool);
    if (!res->changed)
        printf("%s: already so, policy version %" PRIu64 " unchanged\n", what, res->version);
    else if (res->receivers >= 0)
        printf("%s: policy version %" PRIu64 ", published to %lld subscriber%s\n", what,
               res->version, res->receivers, res->receivers == 1 ? "" : "s");
    else
        printf("%s: policy version %" PRIu64 "\n", what, res->version);
    return CTL_OK;
}
