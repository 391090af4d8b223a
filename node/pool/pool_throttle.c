/* pool_throttle.c -- pool-wide throttling of discovered partners through
 * Redis counters (see pool_throttle.h). */
#include "pool/pool_throttle.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "conn/conn.h"
#include "federation/fed.h"
#include "federation/policy.h"
#include "federation/throttle.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool_keys.h"
#include "sip/proxy.h"
#include "sip/txn.h"

/* One check in flight, from the first command to finish(). */
struct check {
    struct node *node;
    uint64_t txn_id;
    char domain[256];
    char user[320];
    char peer_str[64];
    char cert_info[256];
    bool failed;
    char watch[640]; /* the domain's watch entry, "" if none */
};

static void on_watch(void *arg, const redisReply *reply, const char *err)
{
    struct check *k = arg;
    if (pool_reply_failed(reply))
        k->failed = true;
    else if (reply->type == REDIS_REPLY_STRING)
        snprintf(k->watch, sizeof(k->watch), "%s", reply->str);
}

/* Put the domain on the pool's watch list (or count one more event). */
static void watch(struct pool *p, struct check *k, const char *reason)
{
    char reasons[64] = "", first[24] = "", key[300], val[700];
    unsigned long long events = 0;
    uint64_t now = pool_wall_ms();
    if (k->watch[0]) {
        /* "reasons|first_ms|last_ms|events|cert_info" */
        char *f[5] = {0}, *save = NULL, *s = k->watch;
        for (int i = 0; i < 5 && (f[i] = strtok_r(i ? NULL : s, "|", &save)); i++)
            ;
        if (f[0])
            snprintf(reasons, sizeof(reasons), "%s", f[0]);
        if (f[1])
            snprintf(first, sizeof(first), "%s", f[1]);
        if (f[3])
            events = strtoull(f[3], NULL, 10);
    }
    if (!strstr(reasons, reason)) {
        size_t l = strlen(reasons);
        snprintf(reasons + l, sizeof(reasons) - l, "%s%s", l ? "," : "", reason);
    }
    if (!first[0])
        snprintf(first, sizeof(first), "%llu", (unsigned long long)now);
    snprintf(val, sizeof(val), "%s|%s|%llu|%llu|%s", reasons, first, (unsigned long long)now,
             events + 1, k->cert_info);
    snprintf(key, sizeof(key), EP_KEY_WATCH, p->name);
    pool_write(p, "HSET %s %s %s", key, k->domain, val);
}

static void resume(struct node *n, uint64_t txn_id, struct check *k, enum throttle_verdict v,
                   bool pool_wide)
{
    if (v != THROTTLE_OK)
        LOG_WARN("fed", "discovered partner %s from %s (%s) throttled%s: %s", k->domain,
                 k->peer_str, k->cert_info, pool_wide ? " (pool-wide)" : "",
                 v == THROTTLE_RATE ? "over its message rate, answered 503"
                                    : "over its contact limit (watch list), answered 403");
    if (v == THROTTLE_RATE)
        proxy_txn_resume(n, txn_id, 503, "Service Unavailable (discovered partner over its rate)");
    else if (v == THROTTLE_CONTACTS)
        proxy_txn_resume(n, txn_id, 403, "Forbidden (discovered partner over its contact limit)");
    else
        proxy_txn_resume(n, txn_id, 0, NULL);
}

static enum throttle_verdict local_check(struct node *n, struct check *k)
{
    return throttle_check(n->throttle, slice_cstr(k->domain),
                          k->user[0] ? slice_cstr(k->user) : SLICE_NULL,
                          k->cert_info[0] ? k->cert_info : NULL, node_now_ms(n));
}

/* The contact cap, atomically on the one key of the domain's contacts: a
 * user already counted passes (and renews the TTL), a new one is added only
 * below the cap. Returns 0 (known), 1 (added) or -1 (over the cap). */
static const char contacts_script[] =
    "if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then "
    "redis.call('EXPIRE', KEYS[1], 3600) return 0 end "
    "if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end "
    "redis.call('SADD', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], 3600) return 1";

/* The verdict is in: the node's own throttle after a pass (its response
 * monitor holds a suspicious partner at 1 msg/s; it keeps the report), then
 * resume the transaction. */
static void finish(struct check *k, enum throttle_verdict v, bool fallback)
{
    struct node *n = k->node;
    struct pool *p = n->pool;
    struct txn *t = p->closing ? NULL : txn_by_id(n, k->txn_id);
    if (t && !t->final_up && !t->cancelled) {
        bool pool_wide = v != THROTTLE_OK;
        if (fallback)
            p->stats.throttle_fallbacks++;
        if (v == THROTTLE_OK)
            v = local_check(n, k);
        metrics_throttle_verdict(n->metrics, v, !fallback);
        resume(n, t->id, k, v, pool_wide);
    }
    free(k);
}

static void on_contacts(void *arg, const redisReply *reply, const char *err)
{
    struct check *k = arg;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_INTEGER) {
        finish(k, THROTTLE_OK, true); /* the node's own count decides */
        return;
    }
    if (reply->integer < 0) {
        watch(k->node->pool, k, "contacts");
        finish(k, THROTTLE_CONTACTS, false);
        return;
    }
    finish(k, THROTTLE_OK, false);
}

/* The rate (and the watch list's verdict): the first stage. */
static void on_incr(void *arg, const redisReply *reply, const char *err)
{
    struct check *k = arg;
    struct node *n = k->node;
    struct pool *p = n->pool;
    if (k->failed || pool_reply_failed(reply) || reply->type != REDIS_REPLY_INTEGER) {
        finish(k, THROTTLE_OK, true);
        return;
    }
    const struct access_edge_settings *s = policy_settings(n->policy->current(n->policy));
    if (s->enable_discovered_partner_contacts_limit && strstr(k->watch, "contacts")) {
        watch(p, k, "contacts"); /* refused until the operator removes the entry */
        finish(k, THROTTLE_CONTACTS, false);
        return;
    }
    if (reply->integer > (long long)s->discovered_partner_standard_rate) {
        watch(p, k, "rate");
        finish(k, THROTTLE_RATE, false);
        return;
    }
    if (!k->user[0] || !s->enable_discovered_partner_contacts_limit || p->closing) {
        finish(k, THROTTLE_OK, false);
        return;
    }
    char key[600], cap[24];
    snprintf(key, sizeof(key), EP_KEY_CONTACTS, p->name, k->domain);
    snprintf(cap, sizeof(cap), "%u", s->max_contacts_per_discovered_partner);
    /* may call on_contacts at once (Redis went down meanwhile) */
    if (redis_command(p->redis, on_contacts, k, "EVAL %s 1 %s %s %s", contacts_script, key, k->user,
                      cap) < 0)
        finish(k, THROTTLE_OK, true);
}

int pool_throttle_check(struct node *n, struct conn *c, struct txn *t, struct slice to_aor)
{
    struct pool *p = n->pool;
    if (!p || !p->up || p->closing)
        return -1;
    struct check *k = calloc(1, sizeof(*k));
    if (!k)
        return -1;
    k->node = n;
    k->txn_id = t->id;
    size_t dl = strlen(t->remote_domain);
    if (dl && t->remote_domain[dl - 1] == '.')
        dl--;
    for (size_t i = 0; i < dl && i < sizeof(k->domain) - 1; i++)
        k->domain[i] = (char)tolower((unsigned char)t->remote_domain[i]);
    if (to_aor.len && to_aor.p[0] != '@') /* "@contoso.test": the server, not a user */
        slice_copy(to_aor, k->user, sizeof(k->user));
    for (char *q = k->user; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    snprintf(k->peer_str, sizeof(k->peer_str), "%s", c->peer_str);
    snprintf(k->cert_info, sizeof(k->cert_info), "%s", c->cert_info);

    char wkey[300], rkey[600];
    snprintf(wkey, sizeof(wkey), EP_KEY_WATCH, p->name);
    snprintf(rkey, sizeof(rkey), EP_KEY_RATE, p->name, k->domain,
             (unsigned long long)(pool_wall_ms() / 1000));
    p->stats.throttle_checks++;
    /* one pipeline: the watch entry, then the second's count, which decides
     * (on_incr runs exactly once, after on_watch, even if Redis goes down
     * half-way); the contact cap follows for a request within the rate */
    struct redis *r = p->redis;
    redis_command(r, on_watch, k, "HGET %s %s", wkey, k->domain);
    if (redis_command(r, on_incr, k, "INCR %s", rkey) < 0)
        finish(k, THROTTLE_OK, true);                  /* cannot happen: the formats are fixed */
    redis_command(r, NULL, NULL, "EXPIRE %s 2", rkey); /* k may be gone: not used */
    return FED_PENDING;
}
