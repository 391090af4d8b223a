/* pool_status.c -- `pool status` (every node of the pool: liveness, age,
 * addresses, version, load, drain, the policy version it runs) and `node
 * drain|undrain ID` (HSET drain + PUBLISH on the nodes channel). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgectl/commands.h"
#include "edgectl/ctl_redis.h"
#include "edgectl/edgectl.h"
#include "pool_keys.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "1.2s", "3m04s", "2h03m", "5d02h" */
static void fmt_age(char *buf, size_t len, uint64_t ms)
{
    uint64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", s, ms % 1000 / 100);
    else if (s < 3600)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

static bool is_uint(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* A field as a JSON number when it is one, else a string (or null). */
static void jw_num_or_str(struct jw *w, const char *key, const char *v)
{
    if (v && is_uint(v) && strlen(v) < 19)
        jw_uint(w, key, strtoull(v, NULL, 10));
    else
        jw_str(w, key, v);
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* SMEMBERS ep:<pool>:nodes, sorted; *out is the reply (freed by the caller). */
static int node_ids(struct ctl *c, redisReply **out, const char ***ids, size_t *n)
{
    char key[256], err[512];
    snprintf(key, sizeof key, EP_KEY_NODES, c->o.pool);
    redisReply *r = ctl_redisv(c, err, sizeof err, "SMEMBERS", key, (const char *)NULL);
    if (!r)
        return ctl_fail(c, "%s", err);
    if (r->type != REDIS_REPLY_ARRAY) {
        int rc = ctl_fail(c, "Redis at %s: SMEMBERS %s: %s", ctl_redis_addr(c), key,
                          r->str ? r->str : "unexpected reply");
        ctl_reply_free(r);
        return rc;
    }
    *ids = calloc(r->elements + 1, sizeof **ids);
    if (!*ids) {
        ctl_reply_free(r);
        return ctl_fail(c, "out of memory");
    }
    *n = 0;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i] && r->element[i]->str)
            (*ids)[(*n)++] = r->element[i]->str;
    qsort(*ids, *n, sizeof **ids, cmp_str);
    *out = r;
    return CTL_OK;
}

int ctl_cmd_pool_status(struct ctl *c, const struct ctl_args *a)
{
    if (ctl_redis_open(c))
        return CTL_FAIL;
    redisReply *members = NULL;
    const char **ids = NULL;
    size_t n = 0;
    if (node_ids(c, &members, &ids, &n))
        return CTL_FAIL;

    /* One round trip: the policy version, then per node its hash and its
     * liveness key's TTL. */
    char pkey[256];
    snprintf(pkey, sizeof pkey, EP_KEY_POLICY, c->o.pool);
    struct ctl_pending *pd = calloc(2 * n + 1, sizeof *pd);
    char(*keys)[2][300] = calloc(n + 1, sizeof *keys);
    int rc = CTL_FAIL;
    if (!pd || !keys) {
        rc = ctl_fail(c, "out of memory");
        goto out;
    }
    const char *hv[] = {"HGET", pkey, "version"};
    ctl_redis_send(c, &pd[0], 3, hv);
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i][0], sizeof keys[i][0], EP_KEY_NODE, c->o.pool, ids[i]);
        snprintf(keys[i][1], sizeof keys[i][1], EP_KEY_ALIVE, c->o.pool, ids[i]);
        const char *h[] = {"HGETALL", keys[i][0]}, *t[] = {"PTTL", keys[i][1]};
        ctl_redis_send(c, &pd[1 + 2 * i], 2, h);
        ctl_redis_send(c, &pd[2 + 2 * i], 2, t);
    }
    if (!ctl_redis_wait(c, pd, 2 * n + 1) || !pd[0].reply) {
        rc = ctl_fail(c, "Redis at %s: %s", ctl_redis_addr(c), pd[0].err);
        goto out;
    }
    const char *pv = pd[0].reply->str;
    uint64_t policy_version = pv ? strtoull(pv, NULL, 10) : 0;
    uint64_t now = ctl_now_ms();
    size_t alive_n = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *t = pd[2 + 2 * i].reply;
        alive_n += t && t->type == REDIS_REPLY_INTEGER && t->integer != -2;
    }

    if (c->o.json) {
        jw_obj(&c->out, NULL);
        jw_bool(&c->out, "ok", true);
        jw_str(&c->out, "pool", c->o.pool);
        if (pv)
            jw_uint(&c->out, "policy_version", policy_version);
        else
            jw_null(&c->out, "policy_version");
        jw_uint(&c->out, "alive", alive_n);
        jw_arr(&c->out, "nodes");
    } else {
        printf("pool %s: %zu node%s, %zu alive, policy version %s\n", c->o.pool, n,
               n == 1 ? "" : "s", alive_n, pv ? pv : "(none in Redis)");
        if (n)
            printf("%-12s %-9s %-5s %-7s %-24s %-21s %-21s %-10s %-7s %-6s %-6s %s\n", "NODE",
                   "STATE", "DRAIN", "SEEN", "FQDN", "INTERNAL", "EXTERNAL", "VERSION", "UP",
                   "LOAD", "CONNS", "POLICY");
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *h = pd[1 + 2 * i].reply, *t = pd[2 + 2 * i].reply;
        bool alive = t && t->type == REDIS_REPLY_INTEGER && t->integer != -2;
        const char *seen = redis_hash_get(h, "seen_ms"), *start = redis_hash_get(h, "start_ms");
        const char *drain = redis_hash_get(h, "drain"), *npv = redis_hash_get(h, "policy_version");
        const char *state =
            redis_hash_get(h, "state"); /* the node's own: active, drained, stopping */
        bool draining = drain && strcmp(drain, "0") != 0 && *drain;
        uint64_t seen_ms = seen ? strtoull(seen, NULL, 10) : 0;
        uint64_t start_ms = start ? strtoull(start, NULL, 10) : 0;
        uint64_t age = seen_ms && now > seen_ms ? now - seen_ms : 0;
        bool current = npv && pv && strtoull(npv, NULL, 10) == policy_version;
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "id", ids[i]);
            jw_bool(&c->out, "alive", alive);
            if (t && t->type == REDIS_REPLY_INTEGER && t->integer >= 0)
                jw_int(&c->out, "alive_ttl_ms", t->integer);
            if (seen_ms)
                jw_uint(&c->out, "seen_age_ms", age);
            else
                jw_null(&c->out, "seen_age_ms");
            jw_str(&c->out, "fqdn", redis_hash_get(h, "fqdn"));
            jw_str(&c->out, "internal", redis_hash_get(h, "internal"));
            jw_str(&c->out, "external", redis_hash_get(h, "external"));
            jw_str(&c->out, "version", redis_hash_get(h, "version"));
            jw_num_or_str(&c->out, "start_ms", start);
            if (start_ms && now > start_ms)
                jw_uint(&c->out, "uptime_s", (now - start_ms) / 1000);
            jw_num_or_str(&c->out, "load", redis_hash_get(h, "load"));
            jw_bool(&c->out, "drain", draining);
            jw_str(&c->out, "state", alive ? state : "dead");
            jw_num_or_str(&c->out, "conns", redis_hash_get(h, "conns"));
            jw_num_or_str(&c->out, "policy_version", npv);
            jw_bool(&c->out, "policy_current", current);
            /* every field as stored, for what this version of edgectl does not know */
            jw_obj(&c->out, "fields");
            for (size_t k = 0; h && h->type == REDIS_REPLY_ARRAY && k + 1 < h->elements; k += 2)
                if (h->element[k]->str)
                    jw_str(&c->out, h->element[k]->str, h->element[k + 1]->str);
            jw_end_obj(&c->out);
            jw_end_obj(&c->out);
            continue;
        }
        char seen_s[32] = "-", up_s[32] = "-";
        if (seen_ms)
            fmt_age(seen_s, sizeof seen_s, age);
        if (start_ms && now > start_ms)
            fmt_age(up_s, sizeof up_s, now - start_ms);
        const char *st = !alive ? "DEAD" : state && *state ? state : "alive";
        char pol[48];
        snprintf(pol, sizeof pol, "%s%s", or_dash(npv), npv && pv && !current ? " (behind)" : "");
        printf("%-12s %-9s %-5s %-7s %-24s %-21s %-21s %-10s %-7s %-6s %-6s %s\n", ids[i], st,
               draining ? "yes" : "-", seen_s, or_dash(redis_hash_get(h, "fqdn")),
               or_dash(redis_hash_get(h, "internal")), or_dash(redis_hash_get(h, "external")),
               or_dash(redis_hash_get(h, "version")), up_s, or_dash(redis_hash_get(h, "load")),
               or_dash(redis_hash_get(h, "conns")), pol);
    }
    if (c->o.json) {
        jw_end_arr(&c->out);
        jw_end_obj(&c->out);
        c->json_done = true;
    }
    rc = CTL_OK;
out:
    if (pd)
        ctl_pending_clear(pd, 2 * n + 1);
    free(pd);
    free(keys);
    free(ids);
    ctl_reply_free(members);
    return rc;
}

int ctl_cmd_node_drain(struct ctl *c, const struct ctl_args *a)
{
    const char *id = a->pos[0];
    bool on = strcmp(c->cmd->verb, "drain") == 0;
    if (!*id || strlen(id) > 128 || strpbrk(id, " \t\r\n*?[]"))
        return ctl_usage(c, "node id '%s' is not one a node could have", id);
    if (ctl_redis_open(c))
        return CTL_FAIL;
    char key[300], set[256], chan[256], msg[160], err[512];
    snprintf(key, sizeof key, EP_KEY_NODE, c->o.pool, id);
    snprintf(set, sizeof set, EP_KEY_NODES, c->o.pool);
    snprintf(chan, sizeof chan, EP_CHAN_NODES, c->o.pool);
    redisReply *r = ctl_redisv(c, err, sizeof err, "SISMEMBER", set, id, (const char *)NULL);
    if (!r)
        return ctl_fail(c, "%s", err);
    bool known = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    ctl_reply_free(r);
    if (!known)
        return ctl_fail(c, "pool %s has no node %s (see `edgectl pool status`)", c->o.pool, id);
    /* The flag in the node's hash is the state (a node starting reads it);
     * the message tells the running node at once. */
    r = ctl_redisv(c, err, sizeof err, "HSET", key, "drain", on ? "1" : "0", (const char *)NULL);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        int rc =
            ctl_fail(c, "Redis at %s: HSET %s drain: %s", ctl_redis_addr(c), key, r ? r->str : err);
        ctl_reply_free(r);
        return rc;
    }
    ctl_reply_free(r);
    snprintf(msg, sizeof msg, "%s %s", on ? "drain" : "undrain", id);
    r = ctl_redisv(c, err, sizeof err, "PUBLISH", chan, msg, (const char *)NULL);
    long long receivers = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    ctl_reply_free(r);
    if (receivers < 0)
        ctl_note(c,
                 "drain flag set but not published (%s): the node sees it when it next reads "
                 "its hash",
                 err);
    if (c->o.json) {
        jw_obj(&c->out, NULL);
        jw_bool(&c->out, "ok", true);
        jw_str(&c->out, "pool", c->o.pool);
        jw_str(&c->out, "node", id);
        jw_bool(&c->out, "drain", on);
        jw_int(&c->out, "published_to", receivers);
        jw_end_obj(&c->out);
        c->json_done = true;
    } else {
        printf("node %s: drain %s, published to %lld subscriber%s\n", id, on ? "on" : "off",
               receivers, receivers == 1 ? "" : "s");
    }
    return CTL_OK;
}
