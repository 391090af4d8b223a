/* pool_throttle.c -- pool-wide throttling of discovered partners through
 * Redis counters (see pool_throttle.h). */
#include "pool/pool_throttle.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* One check in flight: the replies of its pipeline, in order. */
struct check {
    struct node *node;
    uint64_t txn_id;
    char domain[256];
    char user[320];
    char peer_str[64];
    char cert_info[256];
    bool failed;
    char watch[640];     /* the domain's watch entry, "" if none */
    long long count;     /* this second's messages, this one included */
    int member;          /* the user is already a contact: 1, 0, -1 (not asked) */
    long long contacts;  /* distinct contacts so far */
};

static void on_watch(void *arg, const redisReply *reply, const char *err)
{
    struct check *k = arg;
    if (pool_reply_failed(reply))
        k->failed = true;
    else if (reply->type == REDIS_REPLY_STRING)
        snprintf(k->watch, sizeof(k->watch), "%s", reply->str);
}

static void on_incr(void *arg, const redisReply *reply, const char *err)
{
    struct check *k = arg;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_INTEGER)
        k->failed = true;
    else
        k->count = reply->integer;
}

static void on_member(void *arg, const redisReply *reply, const char *err)
{
    struct check *k = arg;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_INTEGER)
        k->failed = true;
    else
        k->member = reply->integer ? 1 : 0;
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
    return throttle_check(n->throttle, slice_cstr(k->domain), slice_cstr(k->user),
                          k->cert_info[0] ? k->cert_info : NULL, node_now_ms(n));
}

/* The last reply of the pipeline: decide. */
static void on_scard(void *arg, const redisReply *reply, const char *err)
{
    struct check *k = arg;
    struct node *n = k->node;
    struct pool *p = n->pool;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_INTEGER)
        k->failed = true;
    else
        k->contacts = reply->integer;
    struct txn *t = p->closing ? NULL : txn_by_id(n, k->txn_id);
    if (!t || t->final_up || t->cancelled) {
        free(k);
        return;
    }
    if (k->failed) {
        p->stats.throttle_fallbacks++;
        resume(n, t->id, k, local_check(n, k), false);
        free(k);
        return;
    }
    const struct access_edge_settings *s = policy_settings(n->policy->current(n->policy));
    char key[600];
    enum throttle_verdict v = THROTTLE_OK;
    bool refused = strstr(k->watch, "contacts") != NULL && s->enable_discovered_partner_contacts_limit;
    if (refused) {
        v = THROTTLE_CONTACTS;
        watch(p, k, "contacts");
    } else if (k->count > (long long)s->discovered_partner_standard_rate) {
        v = THROTTLE_RATE;
        watch(p, k, "rate");
    } else if (k->user[0] && s->enable_discovered_partner_contacts_limit) {
        snprintf(key, sizeof(key), EP_KEY_CONTACTS, p->name, k->domain);
        if (k->member == 0 && k->contacts >= (long long)s->max_contacts_per_discovered_partner) {
            v = THROTTLE_CONTACTS;
            watch(p, k, "contacts");
        } else {
            if (k->member == 0)
                pool_write(p, "SADD %s %s", key, k->user);
            pool_write(p, "EXPIRE %s 3600", key);
        }
    }
    if (v == THROTTLE_OK)
        v = local_check(n, k); /* the response monitor's reduced rate, the node's report */
    resume(n, t->id, k, v, v != THROTTLE_OK);
    free(k);
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
    k->member = -1;
    size_t dl = strlen(t->remote_domain);
    if (dl && t->remote_domain[dl - 1] == '.')
        dl--;
    for (size_t i = 0; i < dl && i < sizeof(k->domain) - 1; i++)
        k->domain[i] = (char)tolower((unsigned char)t->remote_domain[i]);
    slice_copy(to_aor, k->user, sizeof(k->user));
    for (char *q = k->user; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    snprintf(k->peer_str, sizeof(k->peer_str), "%s", c->peer_str);
    snprintf(k->cert_info, sizeof(k->cert_info), "%s", c->cert_info);

    char wkey[300], rkey[600], ckey[600];
    snprintf(wkey, sizeof(wkey), EP_KEY_WATCH, p->name);
    snprintf(rkey, sizeof(rkey), EP_KEY_RATE, p->name, k->domain,
             (unsigned long long)(pool_wall_ms() / 1000));
    snprintf(ckey, sizeof(ckey), EP_KEY_CONTACTS, p->name, k->domain);
    p->stats.throttle_checks++;
    /* one pipeline; the replies come back in order and on_scard, the last,
     * decides. Were Redis to go down half-way, each callback still runs
     * (with an error), so on_scard runs exactly once. */
    struct redis *r = p->redis;
    redis_command(r, on_watch, k, "HGET %s %s", wkey, k->domain);
    redis_command(r, on_incr, k, "INCR %s", rkey);
    redis_command(r, NULL, NULL, "EXPIRE %s 2", rkey);
    if (k->user[0])
        redis_command(r, on_member, k, "SISMEMBER %s %s", ckey, k->user);
    if (redis_command(r, on_scard, k, "SCARD %s", ckey) < 0)
        on_scard(k, NULL, "format"); /* cannot happen: the formats are fixed */
    return FED_PENDING;
}
