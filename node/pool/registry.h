/* registry.h -- this node in the pool's registry, its liveness, and drain.
 *
 * Every second (a timer; nothing waits for the answers) the node writes its
 * hash ep:<pool>:node:<id> (id, fqdn, internal, external, version, start_ms,
 * load, conns, state, policy_version, seen_ms; admin: its admin endpoint's
 * address; partners: the partner edges it is federated with now, see
 * node_admin_partners), adds its id to
 * ep:<pool>:nodes and sets ep:<pool>:alive:<id> with a 3 s TTL. The "drain"
 * field is the operator's (edgectl writes "1" or "0" and publishes "drain
 * <id>" / "undrain <id>" on the ep:<pool>:nodes channel); the node follows
 * it, from the channel at once and from the field every second (at every
 * reconnection the node puts the field back with HSETNX when Redis lost
 * it, so a Redis restarted empty does not undrain it), and reports
 * what it does in "state": active, drained (no new work: new out-of-dialog
 * requests get 503 with Retry-After, dialogs go on), or stopping (SIGTERM). */
#ifndef EP_POOL_REGISTRY_H
#define EP_POOL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

struct pool;
struct registry;

struct registry *registry_new(struct pool *p, char *err, size_t errlen);
void registry_free(struct registry *r);
/* Write the node's hash now (e.g. when its state changed). */
void registry_write(struct registry *r);
/* The operator's drain (on) or undrain from this node's own admin endpoint,
 * by who (for the log): the node follows at once and the registry's drain
 * field is set and published as edgectl does, so that the every-second read
 * agrees. Returns 0, or 1 when Redis is down: applied locally only, and the
 * registry's field wins again when Redis returns. */
int registry_set_drain(struct registry *r, bool on, const char *who);

#endif
