/* pool_records.c -- the node's own pool records in memory (see
 * pool_records.h). */
#include "pool/pool_records.h"

#include <stdlib.h>
#include <string.h>

int precords_init(struct pool_records *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    t->max = max ? max : PRECORDS_DEFAULT_MAX;
    if (hmap_init(&t->recs, 64, false) < 0)
        return -1;
    if (hmap_init(&t->dels, 16, false) < 0) {
        hmap_destroy(&t->recs);
        return -1;
    }
    return 0;
}

static void rec_free(struct precord *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nfv; i++)
        free(r->fv[i]);
    free(r->fv);
    free(r->fvlen);
    free(r->key);
    free(r);
}

static void rec_unlink(struct pool_records *t, struct precord *r)
{
    if (t->rcur == r)
        t->rcur = r->next;
    if (r->prev)
        r->prev->next = r->next;
    else
        t->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        t->tail = r->prev;
    r->prev = r->next = NULL;
}

static void rec_link(struct pool_records *t, struct precord *r)
{
    r->prev = t->tail;
    r->next = NULL;
    if (t->tail)
        t->tail->next = r;
    else
        t->head = r;
    t->tail = r;
}

static void del_unlink(struct pool_records *t, struct pdel *d)
{
    if (t->dcur == d)
        t->dcur = d->next;
    if (d->prev)
        d->prev->next = d->next;
    else
        t->dhead = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        t->dtail = d->prev;
    d->prev = d->next = NULL;
}

static void del_remove(struct pool_records *t, struct pdel *d)
{
    hmap_del(&t->dels, d->key, strlen(d->key));
    del_unlink(t, d);
    free(d->key);
    free(d);
}

static void rec_remove(struct pool_records *t, struct precord *r)
{
    hmap_del(&t->recs, r->key, strlen(r->key));
    rec_unlink(t, r);
    rec_free(r);
}

void precords_destroy(struct pool_records *t)
{
    while (t->head)
        rec_remove(t, t->head);
    while (t->dhead)
        del_remove(t, t->dhead);
    hmap_destroy(&t->recs);
    hmap_destroy(&t->dels);
}

size_t precords_count(const struct pool_records *t)
{
    return t->recs.count;
}

size_t precords_pending_dels(const struct pool_records *t)
{
    return t->dels.count;
}

const struct precord *precords_get(const struct pool_records *t, const char *key)
{
    return hmap_get(&t->recs, key, strlen(key));
}

int precords_put(struct pool_records *t, const char *key, const char *const *fv, int nfv,
                 uint64_t deadline_ms)
{
    if (!key || !*key || nfv < 0 || nfv > PRECORDS_MAX_FIELDS || nfv % 2)
        return -1;
    for (int i = 0; i < nfv; i++)
        if (!fv[i])
            return -1;
    size_t klen = strlen(key);
    struct precord *old = hmap_get(&t->recs, key, klen);
    if (!old && t->recs.count >= t->max) {
        t->stats.over_cap++;
        return 1;
    }
    struct precord *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->key = strdup(key);
    r->fv = calloc((size_t)nfv + 1, sizeof(*r->fv));
    r->fvlen = calloc((size_t)nfv + 1, sizeof(*r->fvlen));
    if (!r->key || !r->fv || !r->fvlen) {
        rec_free(r);
        return -1;
    }
    for (int i = 0; i < nfv; i++) {
        r->fvlen[i] = strlen(fv[i]);
        if (!(r->fv[i] = strdup(fv[i]))) {
            rec_free(r);
            return -1;
        }
        r->nfv = i + 1;
    }
    r->deadline_ms = deadline_ms;
    if (hmap_put(&t->recs, key, klen, r) < 0) {
        rec_free(r);
        return -1;
    }
    if (old) {
        rec_unlink(t, old);
        rec_free(old);
    }
    rec_link(t, r);
    struct pdel *d = hmap_get(&t->dels, key, klen);
    if (d)
        del_remove(t, d);
    t->stats.puts++;
    return 0;
}

bool precords_set_deadline(struct pool_records *t, const char *key, uint64_t deadline_ms)
{
    struct precord *r = hmap_get(&t->recs, key, strlen(key));
    if (!r)
        return false;
    r->deadline_ms = deadline_ms;
    return true;
}

bool precords_del(struct pool_records *t, const char *key, uint64_t until_ms)
{
    size_t klen = strlen(key);
    struct precord *r = hmap_get(&t->recs, key, klen);
    bool held = r != NULL;
    if (r)
        rec_remove(t, r);
    struct pdel *d = hmap_get(&t->dels, key, klen);
    if (d) { /* queued again: to the end, with the later deadline */
        del_unlink(t, d);
    } else {
        if (t->dels.count >= t->max && t->dhead) {
            del_remove(t, t->dhead);
            t->stats.dels_forgotten++;
        }
        d = calloc(1, sizeof(*d));
        if (!d || !(d->key = strdup(key)) || hmap_put(&t->dels, key, klen, d) < 0) {
            if (d)
                free(d->key);
            free(d);
            t->stats.dels_forgotten++;
            return held;
        }
        d->until_ms = 0;
    }
    if (until_ms > d->until_ms)
        d->until_ms = until_ms;
    d->remote = d->remote || !held;
    d->prev = t->dtail;
    d->next = NULL;
    if (t->dtail)
        t->dtail->next = d;
    else
        t->dhead = d;
    t->dtail = d;
    t->stats.dels++;
    return held;
}

void precords_del_done(struct pool_records *t, const char *key)
{
    struct pdel *d = hmap_get(&t->dels, key, strlen(key));
    if (d)
        del_remove(t, d);
}

bool precords_drop(struct pool_records *t, const char *key)
{
    struct precord *r = hmap_get(&t->recs, key, strlen(key));
    if (!r)
        return false;
    rec_remove(t, r);
    t->stats.dropped++;
    return true;
}

size_t precords_expire(struct pool_records *t, uint64_t now_ms)
{
    size_t k = 0;
    for (struct precord *r = t->head, *next; r; r = next) {
        next = r->next;
        if (r->deadline_ms <= now_ms) {
            rec_remove(t, r);
            k++;
        }
    }
    for (struct pdel *d = t->dhead, *next; d; d = next) {
        next = d->next;
        if (d->until_ms <= now_ms) {
            del_remove(t, d);
            k++;
        }
    }
    t->stats.expired += k;
    return k;
}

/* The replay walks records (phase 1), then deletions (phase 2); 0: no
 * replay. Unlinking the item under a cursor moves the cursor on. */
void precords_replay_start(struct pool_records *t)
{
    t->phase = 1;
    t->rcur = t->head;
    t->dcur = NULL;
}

const struct precord *precords_replay_next_rec(struct pool_records *t)
{
    if (t->phase != 1)
        return NULL;
    struct precord *r = t->rcur;
    if (!r) {
        t->phase = 2;
        t->dcur = t->dhead;
        return NULL;
    }
    t->rcur = r->next;
    return r;
}

const struct pdel *precords_replay_next_del(struct pool_records *t)
{
    if (t->phase != 2)
        return NULL;
    struct pdel *d = t->dcur;
    if (!d) {
        t->phase = 0;
        return NULL;
    }
    t->dcur = d->next;
    return d;
}

void precords_replay_stop(struct pool_records *t)
{
    t->phase = 0;
    t->rcur = NULL;
    t->dcur = NULL;
}
