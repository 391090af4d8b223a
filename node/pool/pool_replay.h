/* pool_replay.h -- the node's own pool records written through to Redis and
 * written again whenever Redis may have lost them.
 *
 * Every write of a record this node owns goes to its table first
 * (pool_records.h), then to Redis when it is up; while Redis is down nothing
 * is sent (counted as queued). On every "up" of the pool's connection --
 * the first connection, a reconnection after a Redis restart, and every
 * Sentinel master switch (the client reconnects to the new master) -- the
 * node replays its table: each live record is written again (HSET of its
 * fields and PEXPIRE with the time it has left, or the TTL Redis has if
 * another node refreshed it to later), at most REPLAY_SLICE records per
 * event-loop turn, then the deletions Redis has not acknowledged. It logs
 * how many records it re-asserted once Redis answered them all. So a Redis
 * restarted empty, restarted from its AOF, or a promoted replica that lacks
 * the last writes the old master acknowledged, all have every live record
 * of every node back within a round trip of that node reconnecting.
 *
 * A record is often ended by another node than its owner (a BYE routed
 * through any node). The node ending it deletes it, leaves a tombstone
 * (ep:<pool>:ended:<what>, EP_KEY_ENDED, 120 s) and publishes the record's
 * key on EP_CHAN_ENDED. The owner, told on the channel, deletes it too and
 * forgets it; before re-asserting a record, a replay checks its tombstone,
 * and deletions of other nodes' records made while Redis was away are sent
 * twice (at the reconnection and PASS2_DELAY_MS later), so a record the
 * owner re-asserts in the same moment goes as well. Each command touches one
 * key (Redis Cluster holds).
 *
 * The node's registry entry is not in the table: registry.c writes it every
 * second and at every "up" (and puts back the operator's drain flag when
 * Redis lost it). The gateway's XMPP subscriptions (node/xmpp/gateway_subs.c)
 * are shared by the nodes, claimed with leases and changed by whichever
 * node holds one, so one node's copy is not the truth to replay: they are
 * not in the table.
 *
 * Memory: the table holds the node's own live records only, at most
 * PRECORDS_DEFAULT_MAX (beyond: written, not kept, counted in
 * pool_stats.records_over_cap). */
#ifndef EP_POOL_REPLAY_H
#define EP_POOL_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct pool;
struct pool_replay;

#define REPLAY_SLICE 256
#define PASS2_DELAY_MS 3000
#define ENDED_TTL_MS 120000

/* Starts the table and its replays for p (subscribes to EP_CHAN_ENDED,
 * listens to p's up/down). NULL with err on failure. */
struct pool_replay *pool_replay_new(struct pool *p, char *err, size_t errlen);
/* After redis_free (whose callbacks run first). */
void pool_replay_free(struct pool_replay *rp);

/* This node created (or rewrote) the record key: nfv strings, field and
 * value pairs, TTL ttl_ms from now. Kept and written (when Redis is up). */
void pool_record_put(struct pool *p, const char *key, const char *const *fv, int nfv,
                     uint64_t ttl_ms);
/* key's TTL is now ttl_ms (a refresh, by any node). */
void pool_record_refresh(struct pool *p, const char *key, uint64_t ttl_ms);
/* key ended here (whichever node created it): deleted, and kept as a
 * pending deletion until Redis acknowledges it. */
void pool_record_del(struct pool *p, const char *key);

/* pool_records_held() and pool_records_pending_dels() are declared in
 * pool.h (for the admin metrics). */

#endif
