/* pool_keys.h -- the pool's Redis key schema, in one place.
 *
 * Every key of a pool starts with "ep:<pool>:" and names one entity, so no
 * command touches keys of two entities (Redis Cluster works; a hash tag is
 * not needed). Formats take the pool name first. Documented for operators in
 * README.md ("Pool state in Redis"). */
#ifndef EP_POOL_KEYS_H
#define EP_POOL_KEYS_H

/* node registry: hash id fqdn pool_fqdn internal external (host:port)
 * version start_ms load (open transactions) conns state policy_version
 * seen_ms, written by the node at start and every second; and drain, the
 * operator's ("1"/"0", edgectl): the node only reads it (and sets it when it
 * gets "drain <id>" on the channel), so a node restarts drained if it was.
 * state is what the node does: active, drained, or stopping (SIGTERM). */
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
 * to_tag peer (partner edge, "host" or "host:port" as in ep-peer) domain
 * (partner domain) internal (our user) remote (their user) node created_ms;
 * TTL as a backstop (INVITE: 12 h, SUBSCRIBE: its Expires + 60 s, renewed by
 * a refresh). The id is "<call-id>:<tag>:<tag>", the two tags in byte order,
 * so requests in either direction find it (pool_dialog_id()). */
#define EP_KEY_DIALOG "ep:%s:dlg:%s"
#define EP_DIALOG_INVITE_TTL_S 43200
/* a record ended by another node than its owner (node/pool/pool_replay.h):
 * tombstone ep:<pool>:ended:<the record's key after "ep:<pool>:">, the
 * ending node's id, 120 s; and the record's key published on the channel */
#define EP_KEY_ENDED "ep:%s:ended:%s"
#define EP_CHAN_ENDED "ep:%s:ended"
/* the XMPP gateway: an answer (receipt or error stanza) to a MESSAGE that
 * another node holds, "<stanza id> <SIP status> <reason>"; the stanza ids
 * carry their node's prefix, so only the holder acts */
#define EP_CHAN_XANSWER "ep:%s:xanswer"

/* discovered-partner throttling, pool-wide: messages in one second of the
 * wall clock (INCR, TTL 2 s; the domain in lower case) and the distinct
 * internal users reached (SADD, TTL 1 h renewed on use) */
#define EP_KEY_RATE "ep:%s:rate:%s:%llu"
#define EP_KEY_CONTACTS "ep:%s:contacts:%s"
/* watch list: hash domain -> "reasons|first_ms|last_ms|events|cert_info",
 * reasons a comma list of rate, contacts (refused from then on, until the
 * entry is removed), suspicious */
#define EP_KEY_WATCH "ep:%s:watch"

/* VIP pins (balancer/vip/pin.c): string, the node id a source address is
 * pinned to, with the idle TTL (vip.pin_ttl, 1800 s) refreshed while
 * connections from that source are open. Every balancer reads and writes
 * it, so they agree and a restart keeps the pins. The source in its text
 * form ("192.0.2.1", "2001:db8::1"). */
#define EP_KEY_PIN "ep:%s:pin:%s"

/* SIP<->XMPP presence subscriptions (node/xmpp/gateway_subs.c). One hash
 * per subscription, named by its SIP Call-ID: dir (x: an XMPP user watches
 * an internal one, the gateway subscribed inward; s: an internal user
 * watches an XMPP one, the gateway notifies), state (0 trying, 1 pending,
 * 2 active), sip (internal user), xmpp (bare JID), ltag rtag target route
 * cseq (the dialog, our side's), expires_ms, told, have_pres p_open p_show
 * p_note (last presence seen), node; TTL its Expires + 60 s. A set per
 * (dir, internal user, XMPP user) of the Call-IDs (same TTL), and one sorted
 * set of Call-IDs by the wall-clock ms they are next due (our refresh, their
 * expiry), claimed by the nodes with a lease. */
#define EP_KEY_XSUB "ep:%s:xsub:%s"
#define EP_KEY_XPAIR "ep:%s:xpair:%c:%s:%s"
#define EP_KEY_XDUE "ep:%s:xdue"

/* SIP<->XMPP IM sessions (node/xmpp/gateway_session.c): an INVITE with
 * `m=message ... sip null` between an internal user and an XMPP user, the
 * gateway being the dialog's far end (dir i: the internal user invited; o:
 * we did, for an XMPP user). One hash per session named by its Call-ID: dir
 * sip (internal user) sip_jid xmpp (bare JID) ltag (ours) rtag target (their
 * Contact) route (the route set, Route values) cseq (our requests')
 * created_ms node; and a string per (internal user, XMPP user) naming the latest
 * session's Call-ID, so the XMPP user's replies go inside it. TTL
 * GW_SESSION_IDLE_S (3600 s), renewed by every request in the session. */
#define EP_KEY_XSESS "ep:%s:xsess:%s"
#define EP_KEY_XSPAIR "ep:%s:xspair:%s:%s"
/* an internal user who opened an IM session with INVITE (a Lync client):
 * "1", TTL 30 days; the gateway opens sessions toward them too */
#define EP_KEY_XSMODE "ep:%s:xsmode:%s"

#endif
