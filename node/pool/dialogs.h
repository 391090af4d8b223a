/* dialogs.h -- the pool's record of established dialogs and subscriptions
 * (ep:<pool>:dlg:<id>), so that any node, and the operator, knows them.
 *
 * Written when an INVITE or SUBSCRIBE out of a dialog gets a 2xx (kind,
 * call_id, from_tag, to_tag, peer: the partner edge, domain, internal: our
 * user, remote: theirs, node, created_ms; TTL 12 h for INVITE, Expires + 60 s
 * for SUBSCRIBE, renewed by a refreshing SUBSCRIBE), removed at the 2xx to a
 * BYE, a NOTIFY with Subscription-State: terminated, or a SUBSCRIBE with
 * Expires: 0. Fire and forget: relaying never waits for these writes. The
 * records this node stores are also kept in its memory (pool_replay.h):
 * written when Redis comes back if it was down, and written again after
 * every reconnection (a Redis restarted empty, a Sentinel failover that
 * lost the last writes); endings made while Redis was down are sent then.
 *
 * In-dialog requests are routed from the ep-peer our Record-Route carries, by
 * any node; a request from inside whose route lost it is routed from the
 * record here (one lookup, asynchronous). */
#ifndef EP_POOL_DIALOGS_H
#define EP_POOL_DIALOGS_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/msg.h"

struct node;
struct txn;

/* The dialog's id: "<call-id>:<tag>:<tag>", the two tags in byte order so
 * that requests in either direction find it. Returns the length, 0 if it
 * does not fit in len. */
size_t pool_dialog_id(struct slice call_id, struct slice tag1, struct slice tag2, char *buf,
                      size_t len);

/* Transaction t got its final response m: store, refresh or remove the
 * dialog it establishes or ends. No-op without a pool. */
void pool_dialog_on_final(struct node *n, const struct txn *t, const struct sip_msg *m);

/* t is an in-dialog request m from inside whose Route has no ep-peer: look
 * the dialog's partner edge up. true: asynchronous, proxy_txn_resume(n,
 * t->id, ...) follows (routed to the partner edge, or as an out-of-dialog
 * request would be when the dialog is not known); false: no pool or Redis
 * down, route it as before. */
bool pool_dialog_route(struct node *n, struct txn *t, const struct sip_msg *m);

#endif
