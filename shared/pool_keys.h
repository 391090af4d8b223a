/* pool_keys.h -- the pool's Redis key schema, in one place.
 *
 * Every key of a pool starts with "ep:<pool>:" and names one entity, so no
 * command touches keys of two entities (Redis Cluster works; a hash tag is
 * not needed). Formats take the pool name first. Documented for operators in
 * README.md ("Pool state in Redis"). */
#ifndef EP_POOL_KEYS_H
#define EP_POOL_KEYS_H

/* node registry: hash id fqdn internal external version start_ms load drain
 * policy_version seen_ms; written by the node at start and every second */
#define EP_KEY_NODE "ep:%s:node:%s"
/* liveness: "1" with a TTL of EP_ALIVE_TTL_MS, refreshed every second */
#define EP_KEY_ALIVE "ep:%s:alive:%s"
#define EP_ALIVE_TTL_MS 3000
/* set of node ids ever registered (edgectl lists them; stale ones are shown as dead) */
#define EP_KEY_NODES "ep:%s:nodes"
/* channel: node events ("drain <id>", "undrain <id>") */
#define EP_CHAN_NODES "ep:%s:nodes"

/* policy: hash version (integer), text (the body of a libconfig "policy"
 * group, as policy_load_config reads it), updated_ms, updated_by. One key, so
 * a change is atomic (WATCH/MULTI/EXEC) and carries its version. */
#define EP_KEY_POLICY "ep:%s:policy"
/* channel: publishes the new version after every change */
#define EP_CHAN_POLICY "ep:%s:policy"

/* dialogs and subscriptions: hash kind (invite|subscribe) call_id from_tag
 * to_tag peer (partner edge) domain (partner domain) internal (our user)
 * remote (their user) node created_ms; TTL as a backstop (INVITE: 12 h,
 * SUBSCRIBE: its Expires + 60 s). The id is the Call-ID and both tags. */
#define EP_KEY_DIALOG "ep:%s:dlg:%s"
#define EP_DIALOG_INVITE_TTL_S 43200

/* discovered-partner throttling, pool-wide: messages in one second (INCR,
 * TTL 2 s) and the distinct internal users reached (SADD, TTL idle 1 h) */
#define EP_KEY_RATE "ep:%s:rate:%s:%llu"
#define EP_KEY_CONTACTS "ep:%s:contacts:%s"
/* watch list: hash domain -> "reasons|first_ms|last_ms|events|cert_info" */
#define EP_KEY_WATCH "ep:%s:watch"

#endif
