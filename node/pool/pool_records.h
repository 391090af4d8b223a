/* pool_records.h -- the pool records this node owns, kept in memory so that
 * it can write them again into a Redis that lost them.
 *
 * Redis may forget what it acknowledged: restarted without persistence, or
 * a replica promoted by Sentinel before the master's last writes reached
 * it. Each node therefore keeps, here, every record it created that is
 * still live (today: the dialogs and subscriptions of dialogs.h it stored),
 * with its fields and its deadline (the wall-clock ms its TTL ends), and
 * the deletions Redis has not acknowledged yet. pool_replay.h writes the
 * table through to Redis and replays all of it on every (re)connection,
 * which includes every Sentinel master switch.
 *
 * This file is the table alone: no I/O, no clock of its own (callers pass
 * the wall clock), so it is unit tested (tests/unit/test_pool_records.c).
 *
 * Bounds: at most max records (a put beyond is refused and counted in
 * over_cap: that record is written to Redis but not re-asserted later) and
 * max pending deletions (the oldest one is forgotten to make room, counted
 * in dels_forgotten). Records and deletions past their deadline leave at
 * the next precords_expire(). Records and deletions are also kept in
 * insertion order, which is what a replay walks: the replay cursor survives
 * any put, delete or expiry between two event-loop turns, so a large table
 * is replayed in bounded slices.
 *
 * Ownership: the table copies every key and field it is given and frees
 * them; pointers it returns are valid until the next call that modifies it.
 */
#ifndef EP_POOL_RECORDS_H
#define EP_POOL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"

#define PRECORDS_MAX_FIELDS 32 /* field/value strings per record (16 pairs) */
#define PRECORDS_DEFAULT_MAX 100000

struct precord {
    struct precord *prev, *next; /* insertion order */
    char *key;
    int nfv;   /* strings in fv: field, value, field, value... */
    char **fv; /* each NUL-terminated; fvlen their lengths */
    size_t *fvlen;
    uint64_t deadline_ms; /* wall clock: its TTL ends then */
};

struct pdel {
    struct pdel *prev, *next;
    char *key;
    uint64_t until_ms; /* forgotten after this (the record would have expired) */
    bool remote;       /* the record was not this node's: another node may write it again */
};

struct precords_stats {
    uint64_t puts;           /* records stored (new or replaced) */
    uint64_t over_cap;       /* puts refused: the table was full */
    uint64_t dels;           /* deletions queued */
    uint64_t dels_forgotten; /* pending deletions dropped to make room */
    uint64_t dropped;        /* records ended by another node (precords_drop) */
    uint64_t expired;        /* records and deletions gone past their deadline */
};

struct pool_records {
    struct hmap recs, dels; /* key -> struct precord / struct pdel */
    struct precord *head, *tail;
    struct pdel *dhead, *dtail;
    size_t max;
    /* replay cursors: the next record / deletion a replay sends */
    struct precord *rcur;
    struct pdel *dcur;
    int phase; /* 0 none, 1 records, 2 deletions */
    struct precords_stats stats;
};

/* An empty table of at most max records (0: PRECORDS_DEFAULT_MAX). 0 or -1
 * (no memory). */
int precords_init(struct pool_records *t, size_t max);
void precords_destroy(struct pool_records *t);
size_t precords_count(const struct pool_records *t);
size_t precords_pending_dels(const struct pool_records *t);

/* Store (or replace) key's record: nfv strings (field, value pairs; at most
 * PRECORDS_MAX_FIELDS, an even count), deadline_ms on the wall clock. A
 * pending deletion of key is cancelled. 0 stored; 1 refused, the table is
 * full (stats.over_cap); -1 bad arguments or no memory. */
int precords_put(struct pool_records *t, const char *key, const char *const *fv, int nfv,
                 uint64_t deadline_ms);
/* The record of key, or NULL. */
const struct precord *precords_get(const struct pool_records *t, const char *key);
/* Move key's deadline (a refresh). false when key is not held. */
bool precords_set_deadline(struct pool_records *t, const char *key, uint64_t deadline_ms);
/* This node ends key: its record leaves the table and a deletion is queued
 * until precords_del_done(), or until_ms; remote is set on it when key was
 * not held. Returns whether key was held. */
bool precords_del(struct pool_records *t, const char *key, uint64_t until_ms);
/* Redis acknowledged the deletion of key. */
void precords_del_done(struct pool_records *t, const char *key);
/* Another node ended key (or Redis says it is ended): forget the record, no
 * deletion queued. Returns whether key was held. */
bool precords_drop(struct pool_records *t, const char *key);
/* Forget records and deletions whose deadline is <= now_ms. Returns how
 * many. */
size_t precords_expire(struct pool_records *t, uint64_t now_ms);

/* A replay: precords_replay_start(), then precords_replay_next_rec() until
 * NULL, then precords_replay_next_del() until NULL (each returns the next
 * item in insertion order, skipping whatever left the table meanwhile;
 * items appended meanwhile are walked if the cursor has not passed the end
 * of their list yet: harmless, they were written when made and are written
 * again). A new start restarts from the top; stop abandons it. */
void precords_replay_start(struct pool_records *t);
const struct precord *precords_replay_next_rec(struct pool_records *t);
const struct pdel *precords_replay_next_del(struct pool_records *t);
void precords_replay_stop(struct pool_records *t);

#endif
