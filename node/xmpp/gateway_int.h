/* gateway_int.h -- what the gateway's files share among themselves: the
 * gateway's state, its SIP client transactions toward the inside
 * (gateway_sip.c), the presence subscriptions and their store
 * (gateway_subs.c), and the handlers each direction provides (gateway_im.c,
 * gateway_presence.c). Not for the rest of the node: see gateway.h. */
#ifndef EP_XMPP_GATEWAY_INT_H
#define EP_XMPP_GATEWAY_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "redis.h"
#include "sip/msg.h"
#include "xmpp/gateway_map.h"
#include "xmpp/xmpp.h"

struct node;
struct conn;

/* How long a SIP MESSAGE toward XMPP waits for a sign from the XMPP side (an
 * error, a delivery receipt, a send failure) before it is answered 202
 * Accepted: XMPP acknowledges nothing by itself. */
#define GW_MESSAGE_WAIT_MS 3000
/* Our INVITE toward the inside (an IM session an XMPP user starts), once
 * a provisional says the callee is alerted, may ring xmpp.session_ring_timeout
 * (180 s, RFC 3261's Timer C); then it is CANCELled and its waiting stanzas
 * bounced (<recipient-unavailable/>). */
/* Our SUBSCRIBE toward the inside (an XMPP user watching an internal one). */
#define GW_SUBSCRIBE_EXPIRES 3600
/* An internal user's SUBSCRIBE toward XMPP: the Expires we grant, at most. */
#define GW_SUBSCRIBE_MAX_EXPIRES 3600
#define GW_SUBSCRIBE_MIN_EXPIRES 60
/* A claimed subscription is someone's for this long (the pool's due set). */
#define GW_CLAIM_LEASE_MS 30000

struct gw_stats {
    uint64_t messages_to_sip, messages_to_xmpp, message_errors;
    uint64_t presence_to_sip, presence_to_xmpp, subscriptions;
    uint64_t sip_requests, sip_timeouts;
    uint64_t sessions, session_messages, session_typing;
};

struct xmpp_gateway {
    struct node *node;
    struct hmap reqs;       /* our branch -> struct gw_req (SIP client transactions) */
    struct hmap msgs;       /* stanza id -> struct gw_msg (a MESSAGE awaiting XMPP's answer) */
    struct hmap subs;       /* Call-ID -> struct gw_sub (this node's copy) */
    struct hmap sess;       /* Call-ID -> struct gw_sess (IM sessions, this node's copy) */
    struct hmap sess_users; /* internal users known to take IM sessions (value: the map) */
    struct hmap opening;    /* "sip|xmpp" -> struct gw_open (our INVITE pending) */
    struct event *tick;     /* once a second: refreshes and expiries (gateway_subs.c) */
    uint64_t seq;           /* ids, tags, branches, Call-IDs */
    char prefix[12];        /* 8 hex digits unique to this node process */
    bool closing;
    struct gw_stats stats;
};

/* ---- gateway.c: shared helpers ---- */

/* Copy the string value of field in HGETALL reply r into out ("" when
 * absent). */
void gw_hash_str(const redisReply *r, const char *field, char *out, size_t cap);
/* A fresh token: prefix, our node's unique part, a counter ("m3a5c...-12"). */
void gw_token(struct xmpp_gateway *g, const char *prefix, char *out, size_t cap);
/* The policy's verdict on an exchange between internal user sip_aor
 * ("alice@contoso.test") and XMPP domain xmpp_domain: 0 allowed, else a SIP
 * status (403) with *why (static, for logs and the reason phrase). Checks
 * federation and XMPP on, the domain an XMPP partner and not blocked, the
 * user's domain ours and its external access policy's XMPP permission. */
int gw_policy_check(struct node *n, const char *sip_aor, struct slice xmpp_domain,
                    const char **why);
/* The trust header our requests inward carry (like fed.c's for SIP
 * partners): the XMPP partner type says verified or not. */
void gw_trust_header(struct node *n, const char *xmpp_domain, enum xmpp_partner_type type,
                     char *out, size_t cap);
/* Send a stanza from our user's domain; logs a refusal. Returns
 * xmpp_send_stanza's value. */
int gw_send(struct node *n, const char *from_jid, const char *to_jid, const char *xml, size_t len);
/* Send an error stanza of kind ("message", "presence") answering a stanza
 * from `to` to `from` with id (may be NULL): condition, its type, and a
 * human text (may be NULL). */
void gw_send_error(struct node *n, const char *kind, const char *from, const char *to,
                   const char *id, const char *condition, const char *text);
/* XML-escape a NUL-terminated string into out (truncated to cap). */
void gw_esc(char *out, size_t cap, const char *s);

/* ---- gateway_sip.c: SIP toward the inside ---- */

/* status 0 never reaches a callback: 408 stands for a timeout, 503 for no
 * next hop reachable; resp is NULL for those local verdicts. A NULL cb
 * sends the request once and forgets it (an ACK of a 2xx). */
typedef void (*gw_resp_fn)(struct node *n, void *arg, int status, const struct sip_msg *resp);

/* Send a request out of or in a dialog to the internal next hops (in order,
 * failing over on connect failure or 503). method and ruri make the request
 * line; hdrs are the header lines after our Via and Max-Forwards (each
 * CRLF-terminated: From, To, Call-ID, CSeq, ...), without Content-Length;
 * ctype/body may be NULL/0. cb runs exactly once with the final status
 * (never inside this call), then free_arg(arg) when free_arg is not NULL;
 * if the gateway is freed first only free_arg runs. 0, or -1 (then neither
 * runs). */
/* The URI of a name-addr or addr-spec header value (Contact, To): what is
 * between < and >, else up to the first ';'. */
void gw_uri_of(struct slice v, char *out, size_t cap);
/* The route set a UAC takes from a 2xx: its Record-Route values, reversed,
 * comma-separated in out. false when they do not fit in cap. */
bool gw_route_set(const struct sip_msg *m, char *out, size_t cap);
int gw_sip_request(struct node *n, const char *method, const char *ruri, const char *hdrs,
                   const char *ctype, const char *body, size_t body_len, gw_resp_fn cb, void *arg,
                   void (*free_arg)(void *));
/* Answer request m on conn c (from the internal side). to_tag: the tag to
 * put on To when m has none (NULL: one is made up). extra: header lines. */
void gw_sip_reply(struct node *n, struct conn *c, const struct sip_msg *m, int status,
                  const char *reason, const char *to_tag, const char *extra);
/* The response to one of our requests (on conn c). true when it was ours.
 * A non-2xx final response to our INVITE is ACKed here. */
bool gw_sip_on_response(struct node *n, struct conn *c, const struct sip_msg *m);
/* Our Contact URI for dialogs the gateway holds: the internal Record-Route
 * host (a pool name) with ;ep-xmpp, so any node takes the dialog's requests. */
void gw_contact(struct node *n, char *out, size_t cap);
void gw_sip_free_all(struct xmpp_gateway *g);

/* Small header helpers on a parsed message. */
bool gw_hdr_value(const struct sip_msg *m, enum sip_hdr_id id, const char *name, char *out,
                  size_t cap);
long gw_expires(const struct sip_msg *m); /* Expires as a number, -1 if absent or bad */

/* ---- gateway_im.c: <message/> <-> MESSAGE ---- */

void gw_im_from_xmpp(struct node *n, const struct xmpp_stanza *st);
void gw_im_from_sip(struct node *n, struct conn *c, const struct sip_msg *m);
/* A send failure / an XMPP error or receipt for a stanza id we sent: true
 * when it answered a MESSAGE waiting for it. */
/* Listen on ep:<pool>:xanswer for answers to our stanzas that reached
 * another node (no-op without a pool). 0, or -1. */
int gw_im_pool_start(struct node *n);
bool gw_im_on_answer(struct node *n, const char *id, int sip_status, const char *reason);
void gw_im_free_all(struct xmpp_gateway *g);
/* Shared with gateway_session.c: text/plain (UTF-8 or US-ASCII charset, or
 * no Content-Type with no body); UTF-8 XML 1.0 can carry; an escaped heap
 * copy (NULL on allocation failure, caller frees); the SIP answer for an
 * xmpp_send_stanza refusal; "user@host" of a SIP URI (user lowered). */
bool gw_is_text_plain(const struct sip_msg *m);
bool gw_xml_text_ok(const char *s, size_t len);
char *gw_esc_dup(const char *s, size_t len);
void gw_answer_send_error(struct node *n, struct conn *c, const struct sip_msg *m, int rc);
bool gw_uri_aor(struct slice uri, char *out, size_t cap);

/* ---- presence subscriptions (gateway_subs.c) ----
 *
 * GW_SUB_XMPP: an XMPP user watches an internal user; the gateway is the SIP
 *   subscriber (our SUBSCRIBE inward, their NOTIFYs), refreshes it before it
 *   expires, and tells XMPP subscribed / presence / unavailable.
 * GW_SUB_SIP: an internal user watches an XMPP user; the gateway is the SIP
 *   notifier (their SUBSCRIBE, our NOTIFYs with PIDF), and ends the dialog
 *   when it expires unrefreshed. */
enum gw_sub_dir { GW_SUB_XMPP = 'x', GW_SUB_SIP = 's' };
enum gw_sub_state { GW_SUB_TRYING = 0, GW_SUB_PENDING, GW_SUB_ACTIVE };

struct gw_sub {
    char call_id[256];
    enum gw_sub_dir dir;
    enum gw_sub_state state;
    char sip[GW_ADDR_MAX];  /* the internal user, "alice@contoso.test" */
    char xmpp[GW_ADDR_MAX]; /* the XMPP user, bare JID "bob@jabber.test" */
    char ltag[64];          /* our tag in the dialog */
    char rtag[128];         /* theirs ("" until the 2xx of our SUBSCRIBE) */
    char target[512];       /* the remote target (their Contact) */
    char route[1024];       /* the route set as Route header values, "" if none */
    uint32_t cseq;          /* our last CSeq in the dialog */
    uint64_t expires_ms;    /* wall clock: the SIP subscription's end */
    bool told;              /* GW_SUB_XMPP: XMPP was told subscribed */
    bool have_pres;         /* pres holds the watched user's last known presence */
    struct gw_presence pres;
};

/* Store a subscription (this node's copy, and the pool's record with its
 * next due time: a refresh for GW_SUB_XMPP, the expiry for GW_SUB_SIP). The
 * pool's cseq is only set when the record has none: gw_sub_next_cseq owns
 * it from then on. */
void gw_sub_save(struct node *n, const struct gw_sub *s);
/* Forget it here and in the pool. */
void gw_sub_delete(struct node *n, const struct gw_sub *s);

/* Found subscriptions are borrowed for the callback only (copy to keep).
 * With the pool up they are read from Redis (the pool's truth); else, and
 * when Redis fails, from this node's copies. cb may run inside the call. */
typedef void (*gw_sub_fn)(struct node *n, void *arg, struct gw_sub *s);
typedef void (*gw_subs_fn)(struct node *n, void *arg, struct gw_sub **s, size_t count);
void gw_sub_get(struct node *n, const char *call_id, gw_sub_fn cb, void *arg);
void gw_sub_find(struct node *n, enum gw_sub_dir dir, const char *sip, const char *xmpp,
                 gw_subs_fn cb, void *arg);
/* The next CSeq for a request we send in s's dialog. With the pool up it is
 * HINCRBY on the record (atomic: nodes handling events of one subscription
 * at once never reuse a number, and the replies come in the order asked, so
 * requests leave in CSeq order); else this node's copy counts. cb gets a
 * copy of s with s->cseq set (borrowed for the call; cb runs inside this
 * call without the pool), or NULL when the gateway is closing. arg is cb's
 * to free. */
typedef void (*gw_cseq_fn)(struct node *n, void *arg, struct gw_sub *s);
void gw_sub_next_cseq(struct node *n, const struct gw_sub *s, gw_cseq_fn cb, void *arg);
int gw_subs_start(struct node *n);
void gw_subs_free_all(struct xmpp_gateway *g);

/* ---- gateway_presence.c: <presence/> <-> SUBSCRIBE/NOTIFY ---- */

void gw_presence_from_xmpp(struct node *n, const struct xmpp_stanza *st);
/* SUBSCRIBE from inside (to an XMPP user, or a refresh of one we answer). */
void gw_presence_subscribe_from_sip(struct node *n, struct conn *c, const struct sip_msg *m);
/* NOTIFY from inside (in a dialog where we subscribed). */
void gw_presence_notify_from_sip(struct node *n, struct conn *c, const struct sip_msg *m);
/* The tick found s due (gateway_subs.c): refresh or expire it. */
void gw_presence_due(struct node *n, struct gw_sub *s);

/* ---- IM sessions (gateway_session.c) ----
 *
 * An internal user's INVITE offering `m=message ... sip null` (Lync / Skype
 * for Business) toward an XMPP user: the gateway is the dialog's far end.
 * MESSAGEs in it become <message type='chat'/>, typing notifications
 * XEP-0085 chat states, BYE ends it; the XMPP user's messages to that
 * internal user go back inside the dialog while it lasts. Kept in Redis
 * (ep:<pool>:xsess:<call-id>, ep:<pool>:xspair:<sip>:<xmpp>) so any node
 * carries it on. */
#define GW_SESSION_IDLE_S 3600 /* a session unused this long is forgotten */
/* A session the gateway opened (an XMPP user started the conversation) is
 * ended with BYE after xmpp.session_idle_timeout (600 s) without a message
 * either way (Lync ends its own idle IM conversations after about as long);
 * it must stay below GW_SESSION_IDLE_S (the setting's maximum is 3000). */
/* An internal user who opened an IM session with INVITE (a Lync / Skype for
 * Business client) gets sessions from the XMPP side too; remembered this
 * long. */
#define GW_SESSION_MODE_TTL_S (30 * 86400)

struct gw_sess {
    char call_id[256];
    char sip[GW_ADDR_MAX];     /* the internal user, "alice@contoso.test" */
    char sip_jid[GW_ADDR_MAX]; /* the same as a JID (from of our stanzas) */
    char xmpp[GW_ADDR_MAX];    /* the XMPP user, bare JID */
    char ltag[64];             /* our tag (To in their requests) */
    char rtag[128];            /* theirs */
    char target[512];          /* their Contact URI */
    char route[1024];          /* their Record-Route set, in order, as Route values; "" none */
    uint32_t cseq;             /* our CSeq in the dialog (requests we send) */
    uint64_t created_ms, used_ms;
    char dir;        /* 'i': the internal user's INVITE; 'o': ours (the XMPP user started) */
    bool idle_check; /* this node's copy: the pool is asked whether it is idle */
};

typedef void (*gw_sess_fn)(struct node *n, void *arg, struct gw_sess *s);
/* s: the session to send in (NULL: none); sessions: the internal user takes
 * IM sessions (open one rather than sending page mode). */
typedef void (*gw_route_fn)(struct node *n, void *arg, struct gw_sess *s, bool sessions);
/* An IM session we opened: s (borrowed, s->cseq the CSeq for this waiter's
 * request) with status 200, or NULL with the INVITE's failure status (resp
 * NULL for local verdicts: 408, 503). */
typedef void (*gw_open_fn)(struct node *n, void *arg, struct gw_sess *s, int status,
                           const struct sip_msg *resp);

/* INVITE from inside toward an XMPP user (no To tag). */
void gw_sess_invite(struct node *n, struct conn *c, const struct sip_msg *m);
/* A request inside a dialog the gateway may hold (To tag set): MESSAGE,
 * INFO, BYE, re-INVITE, OPTIONS... 481 when there is no such session. */
void gw_sess_in_dialog(struct node *n, struct conn *c, const struct sip_msg *m);
/* The session of (internal user, XMPP bare JID) with the CSeq to use for
 * our next request in it already taken (s->cseq): cb gets it, or NULL when
 * there is none (or the gateway is closing). s is borrowed for the call; cb
 * may run inside this call; arg is cb's. */
void gw_sess_for_reply(struct node *n, const char *sip, const char *xmpp, gw_route_fn cb,
                       void *arg);
/* Open an IM session from XMPP user xmpp_jid (bare) to internal user sip
 * (whose JID is sip_jid): INVITE `m=message <port> sip null` inward, ACK of
 * its 2xx, the session saved. Requests for the same pair while the INVITE
 * is pending wait on it: cb runs once per caller, in order (never inside
 * this call). trust: our trust header line. arg is cb's. */
void gw_sess_open(struct node *n, const char *sip, const char *sip_jid, const char *xmpp_jid,
                  const char *trust, gw_open_fn cb, void *arg);
/* Header lines (From, To, Call-ID, CSeq, Route) of our request method in
 * s's dialog; the Request-URI is s->target. */
void gw_sess_dialog_hdrs(const struct gw_sess *s, const char *method, char *out, size_t cap);
/* The session is gone at the far end (481, 408 to our request): forget it. */
void gw_sess_forget(struct node *n, const struct gw_sess *s);
/* Once a second (gateway_subs.c's tick): end our sessions idle past
 * xmpp.session_idle_timeout pool-wide (the record's TTL tells), BYE and
 * <gone/>; forget local copies idle past GW_SESSION_IDLE_S. */
void gw_sess_tick(struct node *n);
void gw_sess_free_all(struct xmpp_gateway *g);

#endif
