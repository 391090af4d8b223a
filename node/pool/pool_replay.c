/* pool_replay.c -- the node's own records written through to Redis and
 * replayed on every (re)connection (see pool_replay.h). */
#include "pool/pool_replay.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool/pool_records.h"
#include "pool_keys.h"

#define SWEEP_MS 10000
/* a deletion of another node's record is kept this long at most (the
 * longest TTL a record of ours has) */
#define REMOTE_DEL_KEEP_MS ((uint64_t)EP_DIALOG_INVITE_TTL_S * 1000)

/* HSET the fields, then PEXPIRE: to ARGV[1] ms ("set"), or only when that
 * is later than what the key has ("max": another node may have refreshed
 * it). Returns the PTTL the key had before (-2: Redis did not have it). */
static const char assert_script[] =
    "local t = redis.call('PTTL', KEYS[1]) "
    "redis.call('HSET', KEYS[1], unpack(ARGV, 3)) "
    "local want = tonumber(ARGV[1]) "
    "if ARGV[2] == 'set' or t < want then redis.call('PEXPIRE', KEYS[1], want) end "
    "return t";

struct replay_run {
    uint64_t start_ms;
    int refs; /* 1 while sending + one per reply awaited */
    bool interrupted;
    size_t checked, asserted, restored, ended, failed, dels;
};

struct pool_replay {
    struct pool *pool;
    struct pool_records t;
    struct event *turn, *pass2, *sweep;
    char chan[300];
    size_t pfx_len; /* strlen("ep:<pool>:") */
    struct replay_run *run;
};

enum rwhat { R_CHECK, R_ASSERT, R_DEL };

struct rctx {
    struct pool_replay *rp;
    struct replay_run *run; /* NULL outside a replay */
    enum rwhat what;
    int pass; /* deletions: 0 sent when made, 1 at a reconnection, 2 the second pass */
    char key[];
};

static struct pool_replay *rp_of(const struct pool *p)
{
    return p->replay;
}

static void tomb_key(const struct pool_replay *rp, const char *key, char *buf, size_t len)
{
    const char *what = strlen(key) > rp->pfx_len ? key + rp->pfx_len : key;
    snprintf(buf, len, EP_KEY_ENDED, rp->pool->name, what);
}

static struct rctx *rctx_new(struct pool_replay *rp, struct replay_run *run, enum rwhat what,
                             int pass, const char *key)
{
    size_t kl = strlen(key);
    struct rctx *c = malloc(sizeof(*c) + kl + 1);
    if (!c)
        return NULL;
    c->rp = rp;
    c->run = run;
    c->what = what;
    c->pass = pass;
    memcpy(c->key, key, kl + 1);
    if (run)
        run->refs++;
    return c;
}

static void run_unref(struct pool_replay *rp, struct replay_run *run)
{
    if (!run || --run->refs > 0)
        return;
    struct pool *p = rp->pool;
    if (rp->run == run)
        rp->run = NULL;
    if (!p->closing) {
        uint64_t ms = pool_wall_ms() - run->start_ms;
        p->stats.records_replayed += run->asserted;
        p->stats.records_restored += run->restored;
        if (run->interrupted || run->failed)
            LOG_WARN("pool",
                     "Redis at %s: replay %s: %zu record(s) of this node re-asserted (%zu "
                     "Redis had lost), %zu failed; the next connection replays again",
                     redis_current_addr(p->redis),
                     run->interrupted ? "interrupted (Redis went away)" : "incomplete",
                     run->asserted, run->restored, run->failed);
        else
            LOG_INFO("pool",
                     "Redis at %s: re-asserted %zu record(s) of this node (%zu Redis had "
                     "lost; %zu ended by another node, dropped) and %zu pending deletion(s) "
                     "in %llu ms; %zu record(s) held",
                     redis_current_addr(p->redis), run->asserted, run->restored, run->ended,
                     run->dels, (unsigned long long)ms, precords_count(&rp->t));
    }
    free(run);
}

/* ---- sending ---- */

static void on_reply(void *arg, const redisReply *reply, const char *err);

/* The assert script for r with mode "set" or "max"; the reply to cb(arg). */
static int send_assert(struct pool_replay *rp, const struct precord *r, const char *mode,
                       uint64_t ttl_ms, redis_reply_cb cb, void *arg)
{
    struct pool *p = rp->pool;
    const char *argv[6 + PRECORDS_MAX_FIELDS];
    size_t lens[6 + PRECORDS_MAX_FIELDS];
    char ttl[24];
    if (r->nfv > PRECORDS_MAX_FIELDS)
        return -1;
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(ttl_ms ? ttl_ms : 1));
    int n = 0;
    argv[n++] = "EVAL";
    argv[n++] = assert_script;
    argv[n++] = "1";
    argv[n++] = r->key;
    argv[n++] = ttl;
    argv[n++] = mode;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    for (int i = 0; i < r->nfv; i++) {
        argv[n] = r->fv[i];
        lens[n++] = r->fvlen[i];
    }
    p->stats.writes++;
    if (redis_command_argv(p->redis, cb, arg, n, argv, lens) < 0) {
        p->stats.writes--;
        return -1;
    }
    return 0;
}

/* A replay's re-assertion of r (ttl_ms left), counted in run. */
static int send_assert_run(struct pool_replay *rp, const struct precord *r, uint64_t ttl_ms,
                           struct replay_run *run)
{
    struct rctx *c = rctx_new(rp, run, R_ASSERT, 0, r->key);
    if (!c)
        return -1;
    if (send_assert(rp, r, "max", ttl_ms, on_reply, c) < 0) {
        run_unref(rp, run);
        free(c);
        return -1;
    }
    return 0;
}

/* key's deletion: for another node's record a tombstone first (a replay of
 * its owner checks it) and the key published afterwards (its owner deletes
 * it too and forgets it). */
static void send_del(struct pool_replay *rp, const char *key, bool remote, int pass,
                     struct replay_run *run)
{
    struct pool *p = rp->pool;
    struct rctx *c = rctx_new(rp, run, R_DEL, pass, key);
    if (!c)
        return;
    if (remote) {
        char tomb[1500];
        tomb_key(rp, key, tomb, sizeof(tomb));
        pool_write(p, "SET %s %s PX %d", tomb, p->node->cfg.node_id, ENDED_TTL_MS);
    }
    if (redis_command(p->redis, on_reply, c, "DEL %s", key) < 0) {
        run_unref(rp, run);
        free(c);
        return;
    }
    p->stats.writes++;
    if (remote)
        pool_write(p, "PUBLISH %s %s", rp->chan, key);
}

static void on_reply(void *arg, const redisReply *reply, const char *err)
{
    struct rctx *c = arg;
    struct pool_replay *rp = c->rp;
    struct pool *p = rp->pool;
    struct replay_run *run = c->run;
    bool failed = pool_reply_failed(reply);
    if (p->closing) {
        run_unref(rp, run);
        free(c);
        return;
    }
    if (failed) {
        if (reply || !err || strcmp(err, "redis down") != 0)
            p->stats.write_errors++;
        if (run)
            run->failed++;
        LOG_DEBUG("pool", "Redis: %s of %s failed: %s",
                  c->what == R_DEL     ? "deletion"
                  : c->what == R_CHECK ? "tombstone check"
                                       : "re-assertion",
                  c->key,
                  reply ? reply->str
                  : err ? err
                        : "?");
        run_unref(rp, run);
        free(c);
        return;
    }
    switch (c->what) {
    case R_CHECK: {
        run->checked++;
        const struct precord *r = precords_get(&rp->t, c->key);
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
            /* ended by another node while Redis was away: it goes here too */
            if (r) {
                run->ended++;
                uint64_t until = r->deadline_ms;
                precords_del(&rp->t, c->key, until);
                LOG_INFO("pool", "record %s was ended by another node: deleted, not re-asserted",
                         c->key);
                if (p->up)
                    send_del(rp, c->key, false, 0, NULL);
            }
        } else if (r && p->up) {
            uint64_t now = pool_wall_ms();
            if (r->deadline_ms > now && send_assert_run(rp, r, r->deadline_ms - now, run) < 0)
                run->failed++;
        }
        break;
    }
    case R_ASSERT:
        run->asserted++;
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -2)
            run->restored++;
        break;
    case R_DEL: {
        if (run)
            run->dels++;
        const struct pdel *d = hmap_get(&rp->t.dels, c->key, strlen(c->key));
        /* another node's record deleted at a reconnection: kept for the
         * second pass */
        if (d && !(c->pass == 1 && d->remote))
            precords_del_done(&rp->t, c->key);
        break;
    }
    }
    run_unref(rp, run);
    free(c);
}

/* ---- replay ---- */

static void arm_ms(struct event *ev, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(ev, &tv);
}

static void replay_stop(struct pool_replay *rp)
{
    evtimer_del(rp->turn);
    precords_replay_stop(&rp->t);
    struct replay_run *run = rp->run;
    if (run) {
        rp->run = NULL;
        run->interrupted = true;
        run_unref(rp, run); /* the sending reference */
    }
}

static void turn(evutil_socket_t fd, short what, void *arg)
{
    struct pool_replay *rp = arg;
    struct pool *p = rp->pool;
    struct replay_run *run = rp->run;
    if (!run || !p->up || p->closing)
        return;
    for (int i = 0; i < REPLAY_SLICE; i++) {
        const struct precord *r = precords_replay_next_rec(&rp->t);
        if (r) {
            char tomb[1500];
            tomb_key(rp, r->key, tomb, sizeof(tomb));
            struct rctx *c = rctx_new(rp, run, R_CHECK, 0, r->key);
            if (!c || redis_command(p->redis, on_reply, c, "EXISTS %s", tomb) < 0) {
                if (c)
                    run_unref(rp, run);
                free(c);
                run->failed++;
            }
            if (!p->up || rp->run != run)
                return; /* went down under us: replay_stop ran */
            continue;
        }
        const struct pdel *d = precords_replay_next_del(&rp->t);
        if (d) {
            char key[1500];
            snprintf(key, sizeof(key), "%s", d->key);
            send_del(rp, key, d->remote, 1, run);
            if (!p->up || rp->run != run)
                return;
            continue;
        }
        /* all sent */
        rp->run = NULL;
        bool remote = false;
        for (const struct pdel *x = rp->t.dhead; x && !remote; x = x->next)
            remote = x->remote;
        if (remote)
            arm_ms(rp->pass2, PASS2_DELAY_MS);
        run_unref(rp, run);
        return;
    }
    arm_ms(rp->turn, 0);
}

static void pass2(evutil_socket_t fd, short what, void *arg)
{
    struct pool_replay *rp = arg;
    struct pool *p = rp->pool;
    if (!p->up || p->closing)
        return;
    /* the pending deletions are few (those made while Redis was away):
     * copied first, as acknowledgements may come back at once */
    size_t n = 0, i = 0;
    for (const struct pdel *d = rp->t.dhead; d; d = d->next)
        n++;
    char **keys = calloc(n + 1, sizeof(*keys));
    if (!keys)
        return;
    for (const struct pdel *d = rp->t.dhead; d && i < n; d = d->next)
        if (d->remote && (keys[i] = strdup(d->key)))
            i++;
    for (size_t k = 0; k < i; k++) {
        if (p->up)
            send_del(rp, keys[k], true, 2, NULL);
        free(keys[k]);
    }
    free(keys);
    if (i)
        LOG_INFO("pool", "Redis: %zu deletion(s) of other nodes' records sent again", i);
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    struct pool_replay *rp = arg;
    size_t k = precords_expire(&rp->t, pool_wall_ms());
    if (k)
        LOG_DEBUG("pool", "%zu record(s) past their TTL forgotten", k);
}

static void on_state(void *arg, bool up)
{
    struct pool_replay *rp = arg;
    struct pool *p = rp->pool;
    if (!up) {
        replay_stop(rp);
        evtimer_del(rp->pass2);
        return;
    }
    replay_stop(rp);
    precords_expire(&rp->t, pool_wall_ms());
    struct replay_run *run = calloc(1, sizeof(*run));
    if (!run) {
        LOG_ERROR("pool", "out of memory: this node's %zu record(s) not re-asserted",
                  precords_count(&rp->t));
        return;
    }
    run->start_ms = pool_wall_ms();
    run->refs = 1;
    rp->run = run;
    p->stats.replays++;
    precords_replay_start(&rp->t);
    arm_ms(rp->turn, 0);
}

/* Another node ended one of the pool's records: if it is ours, forget it and
 * delete it too (our own replay may have written it again meanwhile). */
static void on_ended(void *arg, const char *channel, const char *payload, size_t len)
{
    struct pool_replay *rp = arg;
    struct pool *p = rp->pool;
    char key[1500];
    if (len >= sizeof(key))
        return;
    memcpy(key, payload, len);
    key[len] = '\0';
    const struct precord *r = precords_get(&rp->t, key);
    if (!r)
        return;
    precords_del(&rp->t, key, r->deadline_ms);
    LOG_DEBUG("pool", "record %s ended by another node: forgotten", key);
    if (p->up && !p->closing)
        send_del(rp, key, false, 0, NULL);
}

/* ---- the API ---- */

void pool_record_put(struct pool *p, const char *key, const char *const *fv, int nfv,
                     uint64_t ttl_ms)
{
    struct pool_replay *rp = rp_of(p);
    if (!rp || p->closing)
        return;
    int rc = precords_put(&rp->t, key, fv, nfv, pool_wall_ms() + ttl_ms);
    if (rc == 1 && p->stats.records_over_cap++ % 1000 == 0)
        LOG_WARN("pool",
                 "%zu records held (the most this node keeps): %s is written to Redis but "
                 "would not be re-asserted after a Redis restart (%llu so far)",
                 precords_count(&rp->t), key, (unsigned long long)p->stats.records_over_cap);
    if (rc < 0)
        LOG_ERROR("pool", "record %s not kept (out of memory or too many fields)", key);
    if (!p->up) {
        p->stats.records_queued++;
        return;
    }
    struct precord tmp = {.key = (char *)key, .nfv = nfv, .fv = (char **)fv};
    size_t lens[PRECORDS_MAX_FIELDS];
    for (int i = 0; i < nfv && i < PRECORDS_MAX_FIELDS; i++)
        lens[i] = strlen(fv[i]);
    tmp.fvlen = lens;
    if (nfv <= PRECORDS_MAX_FIELDS)
        send_assert(rp, &tmp, "set", ttl_ms, pool_write_done, p);
}

void pool_record_refresh(struct pool *p, const char *key, uint64_t ttl_ms)
{
    struct pool_replay *rp = rp_of(p);
    if (!rp || p->closing)
        return;
    precords_set_deadline(&rp->t, key, pool_wall_ms() + ttl_ms);
    if (!p->up) {
        p->stats.records_queued++;
        return;
    }
    pool_write(p, "PEXPIRE %s %llu", key, (unsigned long long)ttl_ms);
}

void pool_record_del(struct pool *p, const char *key)
{
    struct pool_replay *rp = rp_of(p);
    if (!rp || p->closing)
        return;
    const struct precord *r = precords_get(&rp->t, key);
    uint64_t now = pool_wall_ms();
    uint64_t until = r ? r->deadline_ms : now + REMOTE_DEL_KEEP_MS;
    bool held = precords_del(&rp->t, key, until);
    if (!p->up) {
        p->stats.records_queued++;
        return;
    }
    send_del(rp, key, !held, 0, NULL);
}

size_t pool_records_held(const struct pool *p)
{
    return p->replay ? precords_count(&p->replay->t) : 0;
}

size_t pool_records_pending_dels(const struct pool *p)
{
    return p->replay ? precords_pending_dels(&p->replay->t) : 0;
}

struct pool_replay *pool_replay_new(struct pool *p, char *err, size_t errlen)
{
    struct node *n = p->node;
    struct pool_replay *rp = calloc(1, sizeof(*rp));
    if (!rp || precords_init(&rp->t, 0) < 0) {
        free(rp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rp->pool = p;
    char pfx[300];
    rp->pfx_len = (size_t)snprintf(pfx, sizeof(pfx), "ep:%s:", p->name);
    snprintf(rp->chan, sizeof(rp->chan), EP_CHAN_ENDED, p->name);
    rp->turn = evtimer_new(n->base, turn, rp);
    rp->pass2 = evtimer_new(n->base, pass2, rp);
    rp->sweep = event_new(n->base, -1, EV_PERSIST, sweep, rp);
    struct timeval tv = {SWEEP_MS / 1000, 0};
    if (!rp->turn || !rp->pass2 || !rp->sweep || event_add(rp->sweep, &tv) < 0 ||
        redis_subscribe(p->redis, rp->chan, on_ended, rp) < 0) {
        snprintf(err, errlen,
                 "cannot start the record replay (out of memory, or subscribing "
                 "to %s failed)",
                 rp->chan);
        pool_replay_free(rp);
        return NULL;
    }
    pool_on_state(p, on_state, rp);
    return rp;
}

void pool_replay_free(struct pool_replay *rp)
{
    if (!rp)
        return;
    if (rp->run) {
        /* only the sending reference can be left: redis_free answered the rest */
        free(rp->run);
        rp->run = NULL;
    }
    if (rp->turn)
        event_free(rp->turn);
    if (rp->pass2)
        event_free(rp->pass2);
    if (rp->sweep)
        event_free(rp->sweep);
    precords_destroy(&rp->t);
    free(rp);
}
