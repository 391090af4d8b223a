/* pool_throttle.h -- throttling of discovered partners for the whole pool:
 * the message rate and the distinct internal users a discovered domain
 * reaches are counted in Redis, so that the limits of the access-edge
 * settings (discovered_partner_standard_rate, max_contacts_per_discovered_
 * partner) hold for all nodes together, not for each.
 *
 * Keys (one entity each): ep:<pool>:rate:<domain>:<second> (INCR, TTL 2 s,
 * the wall clock's second), ep:<pool>:contacts:<domain> (a set, TTL 1 h from
 * its last use) and the watch list hash ep:<pool>:watch (domain ->
 * "reasons|first_ms|last_ms|events|cert_info", reasons a comma list of rate,
 * contacts, suspicious; "contacts" means refused until the operator removes
 * the entry). The rate is an INCR and the contact cap a short Lua script on
 * the one set, so both hold exactly however many nodes decide at once; a
 * request over the rate is not counted as a contact (a second round trip,
 * only for requests within the rate). A request that passes the pool's
 * limits then goes through the node's own throttle
 * (node/federation/throttle.h), which keeps the response monitor (suspicious
 * partners held at 1 msg/s) and the node's watch-list report. With Redis
 * down, the node's own throttle alone decides. */
#ifndef EP_POOL_POOL_THROTTLE_H
#define EP_POOL_POOL_THROTTLE_H

#include "slice.h"

struct node;
struct conn;
struct txn;

/* A discovered partner's out-of-dialog request t, on conn c, for internal
 * user to_aor (may be empty). Returns FED_PENDING when the check went to
 * Redis: proxy_txn_resume(n, t->id, 0, NULL), or 503 / 403 follows. Returns
 * -1 when there is no pool or Redis is down: the caller throttles locally. */
int pool_throttle_check(struct node *n, struct conn *c, struct txn *t, struct slice to_aor);

#endif
