/* txn.h -- proxy transactions (RFC 3261 section 17, reliable transports).
 *
 * A txn pairs a server transaction (the request we received, answered over
 * the conn it came on) with the client transaction we forward it on (our
 * branch, the conn we sent on). It owns a copy of the received request
 * (req), reparsed when routing resumes after DNS or a connect, and for INVITE
 * a copy of what we forwarded (fwd) to build CANCEL and ACK. Found by the
 * server key (branch, sent-by, method) and by our branch. */
#ifndef EP_SIP_TXN_H
#define EP_SIP_TXN_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn/conn.h"
#include "sip/msg.h"

#define TXN_MAX_TARGETS 8

enum txn_state {
    TXN_ROUTING,    /* deciding where it goes (policy, DNS, connect) */
    TXN_SENT,       /* forwarded, no response yet */
    TXN_PROCEEDING, /* a provisional response came back */
    TXN_DONE,       /* final response sent upstream; lingers for ACK / 2xx retransmits */
};

struct txn_target {
    char host[256];
    uint16_t port;
    bool tls;
    enum conn_side side;
};

struct txn {
    uint64_t id;
    struct node *node;
    enum txn_state state;
    enum sip_method method;
    bool stateless;      /* ACK for 2xx: forwarded, no response expected */
    bool provisional;    /* a 1xx came back */
    bool cancel_pending; /* CANCEL received before a provisional */
    bool cancelled;
    bool in_dialog;
    int final_up; /* final status sent upstream, 0 if none */

    char *skey; /* server transaction key, owned (NULL for stateless) */
    size_t skey_len;
    char branch[64]; /* our branch on the client side, "" before sending */

    uint64_t in_conn; /* where the request came from: responses go there */
    enum conn_side in_side;
    bool in_tls;                     /* ... over TLS (the internal leg's transport, sip/leg.h) */
    uint64_t out_conn;               /* where we forwarded it */
    struct txn *out_next, *out_prev; /* on the out conn's pending list */

    char *req; /* copy of the received request, owned */
    size_t req_len;
    char *fwd; /* INVITE: copy of what we forwarded, owned */
    size_t fwd_len;

    /* routing decisions, kept for failover and the Record-Route */
    struct txn_target targets[TXN_MAX_TARGETS];
    int n_targets, target_idx;
    char peer[264];      /* the partner edge FQDN (Record-Route ep-peer) */
    char trust_hdr[512]; /* our trust header for inbound requests */
    char remote_domain[256];
    int fed_class; /* enum fed_class of the remote domain */
    bool throttled_partner;

    struct event *timer;
};

/* Create a txn for request m received on conn c; copies m->raw. Registers the
 * server key unless stateless. Returns NULL on allocation failure. */
struct txn *txn_new(struct node *n, struct conn *c, const struct sip_msg *m, bool stateless);
/* Unregister and free everything the txn owns; detaches it from its out conn. */
void txn_free(struct txn *t);
struct txn *txn_by_id(struct node *n, uint64_t id);
/* Find the server transaction for m (method overrides m's: INVITE for ACK/CANCEL). */
struct txn *txn_find_server(struct node *n, const struct sip_msg *m, enum sip_method method);
struct txn *txn_find_client(struct node *n, struct slice branch);
/* Give t a fresh branch and register it (replacing an earlier one). */
int txn_new_branch(struct txn *t);
/* Attach to / detach from the out conn's list of transactions awaiting a response. */
void txn_attach_out(struct txn *t, struct conn *c);
void txn_detach_out(struct txn *t);
/* (Re)arm the txn's timer; fires proxy_txn_timeout(). tv is a common timeout. */
void txn_arm(struct txn *t, const struct timeval *tv);
/* Reparse t->req into m. Returns SIP_OK or an error (should not happen). */
int txn_reparse(const struct txn *t, struct sip_msg *m);

#endif
