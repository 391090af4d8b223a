/* s2s.h -- internals of the XMPP s2s module, shared by its files: the
 * module's context (struct xmpp, hung on struct node), one stream (struct
 * s2s, either direction) and the functions the files call in one another.
 * Nothing outside node/xmpp/ includes this; the public API is xmpp.h.
 *
 *   xmpp.c         start/stop, TLS contexts, listener, xmpp_send_stanza, failures
 *   xmpp_config.c  the "xmpp" group of the configuration file
 *   partner.c      policy: may we talk to this domain, and how (negotiation rules)
 *   s2s.c          one stream: buffers, parser, TLS upgrade, errors, close, timers
 *   s2s_in.c       streams a partner opened (we are the receiving entity)
 *   s2s_out.c      streams we open: DNS, connect, negotiation, the stanza queue
 *   sasl.c         SASL EXTERNAL both ways (RFC 6120 6, XEP-0178)
 *   dialback.c     Server Dialback both ways (XEP-0220, keys per XEP-0185) */
#ifndef EP_XMPP_S2S_H
#define EP_XMPP_S2S_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "federation/policy-t.h"
#include "hmap.h"
#include "resolver.h"
#include "xmpp/stream.h"
#include "xmpp/xmpp.h"

#define XMPP_LOG "xmpp"
#define DOMAIN_MAX 256

/* ---- configuration (xmpp_config.c) ---- */

struct xmpp_config {
    bool enabled;
    char *listen;          /* NULL: external.listen's address, port 5269 */
    char *cert, *key, *ca; /* NULL: the node's tls.cert / tls.key / tls.ca */
    char *dialback_secret; /* NULL: random at start (a pool must share one) */
    int max_stanza_size;
    int idle_timeout_s;
    int negotiation_timeout_ms;
    int max_queue;
    int max_streams;
    int default_port;
    /* the gateway's IM sessions toward internal users (gateway_session.c) */
    char *im_sessions;  /* "auto", "always" or "never" */
    int session_idle_s; /* a session the gateway opened: BYE after this idle */
    int session_ring_s; /* its INVITE: CANCEL after this long unanswered */
};
extern const struct cfg_key xmpp_config_keys[];
/* Defaults, then the "xmpp" group of path (NULL: defaults only). 0, or -1
 * with "FILE:LINE: key: what" in err. Free with xmpp_config_free. */
int xmpp_config_load(struct xmpp_config *c, const char *path, char *err, size_t errlen);
void xmpp_config_free(struct xmpp_config *c);

/* ---- policy (partner.c) ---- */

struct s2s_rules {
    enum xmpp_partner_type type;
    enum xmpp_negotiation tls, sasl, dialback;
    char edge_fqdn[DOMAIN_MAX]; /* "" when found by SRV */
};
/* May we federate with domain over XMPP? 0 with *r filled (r may be NULL),
 * or -1 with a static reason ("blocked domain", "not an XMPP partner", ...). */
int s2s_partner_rules(struct node *n, const char *domain, struct s2s_rules *r, const char **why);
/* Is domain one we serve (the policy's internal domains)? */
bool s2s_serves(struct node *n, const char *domain);
/* SASL: may / must the partner authenticate with EXTERNAL; dialback likewise. */
bool rules_sasl_allowed(const struct s2s_rules *r);
bool rules_dialback_allowed(const struct s2s_rules *r);

/* ---- one stream ---- */

enum s2s_dir { S2S_IN, S2S_OUT };

enum s2s_state {
    S2S_RESOLVING,   /* out: DNS */
    S2S_CONNECTING,  /* out: TCP */
    S2S_OPENING,     /* waiting for the peer's stream header */
    S2S_FEATURES,    /* out: header received, waiting for <stream:features/> */
    S2S_STARTTLS,    /* out: <starttls/> sent, waiting for <proceed/> */
    S2S_HANDSHAKE,   /* TLS handshake */
    S2S_SASL,        /* out: <auth/> sent */
    S2S_DIALBACK,    /* out: <db:result/> sent */
    S2S_NEGOTIATING, /* in: features sent; starttls, auth, dialback or stanzas next */
    S2S_READY,       /* out: authenticated, stanzas flow; in: SASL done */
    S2S_CLOSING,     /* our </stream:stream> is going out */
};

/* A domain pair an inbound stream may carry (dialback authorises pairs). */
struct s2s_pair {
    char peer[DOMAIN_MAX], local[DOMAIN_MAX];
    bool pending; /* db:result received, verification under way */
};

/* A stanza waiting for its outbound stream. */
struct s2s_queued {
    struct s2s_queued *next;
    char *xml;
    size_t len;
    char *id, *name, *from, *to; /* id may be NULL */
};

/* A <db:verify/> we must send the authoritative server (over an outbound
 * stream), answered back on inbound stream in_id. */
struct s2s_verify {
    struct s2s_verify *next;
    uint64_t in_id;
    char stream_id[80]; /* the inbound stream's id the key was made for */
    char key[160];
    bool sent;
};

struct s2s {
    struct s2s *next, *prev; /* x->streams */
    struct xmpp *x;
    uint64_t id;
    enum s2s_dir dir;
    enum s2s_state state;
    struct bufferevent *bev; /* the socket's, or the TLS filter over it */
    struct xml_stream *xs;
    struct event *timer; /* negotiation deadline, then idle checks */
    char peer_addr[64];  /* "ip:port" (the partner's, once a balancer's PROXY header named it) */
    char conn_ip[48];   /* in: the socket's peer address, numeric (a balancer's, through the VIP) */
    bool proxy_checked; /* in: the stream's first bytes were looked at for a PROXY v2 header */
    char local[DOMAIN_MAX], peer[DOMAIN_MAX]; /* our domain, the partner's ("" until known) */
    char stream_id[80];                       /* in: the id we gave; out: the id the peer gave */
    struct s2s_rules rules;
    bool have_rules;
    bool header_sent;      /* our stream header went out (since the last restart) */
    bool tls;              /* TLS established */
    bool cert_verified;    /* the peer's certificate chain was verified */
    bool cert_names_peer;  /* ... and names the peer's domain (XEP-0178) */
    bool sasl_done;        /* in: the peer authenticated with SASL; out: we did */
    bool restart;          /* the parser must restart after the current element */
    bool start_tls;        /* a TLS handshake must start after the current element */
    bool feature_dialback; /* out: the peer announced dialback */
    bool started;          /* out: the DNS lookups have begun */
    bool registered;       /* out: this is x->out's stream for (local, peer) */
    bool busy;             /* inside our read path: free later */
    bool dead;             /* closed, to be freed */
    uint64_t last_active_ms;
    unsigned n_stanzas;
    /* inbound: pairs (dialback) */
    struct s2s_pair *pairs;
    size_t n_pairs;
    /* outbound */
    struct s2s_queued *q_head, *q_tail;
    size_t q_len;
    struct s2s_verify *verifies;
    struct srv_target *targets;
    size_t n_targets, i_target;
    struct sockaddr_storage *addrs;
    size_t n_addrs, i_addr;
    const char *fail_cond; /* why the stream failed, for the queue (stanza condition) */
    char fail_text[256];
};

struct s2s_failure; /* xmpp.c */

struct xmpp {
    struct node *node;
    struct xmpp_config cfg;
    SSL_CTX *tls_server, *tls_client;
    struct evconnlistener *listener;
    char listen_str[80];
    char db_secret[65]; /* hex SHA-256 of the dialback secret: the HMAC key (XEP-0185) */
    struct s2s *streams;
    unsigned n_in;
    struct hmap by_id; /* id (8 bytes) -> struct s2s */
    struct hmap out;   /* "local|peer" -> outbound struct s2s */
    uint64_t next_id;
    struct xmpp_stats stats;
    struct s2s_failure *failures, *failures_tail; /* to report to the gateway */
    struct event *ev_failures;
    bool stopping;
};

/* s2s.c */
struct s2s *s2s_new(struct xmpp *x, enum s2s_dir dir);
struct s2s *s2s_by_id(struct xmpp *x, uint64_t id);
/* Wire bev (ours from now on) to s and start reading. */
void s2s_attach(struct s2s *s, struct bufferevent *bev);
/* Write bytes / a string; they go out in order. */
void s2s_write(struct s2s *s, const char *data, size_t len);
void s2s_writes(struct s2s *s, const char *str);
/* Count a stanza (stats and the edgepool_xmpp_stanzas_total metric); kind
 * is "message", "presence" or "iq". */
void s2s_count_stanza(struct s2s *s, bool in, const char *kind);
/* Our stream header: from local, to peer, id when inbound. */
void s2s_send_header(struct s2s *s);
/* A stream error (RFC 6120 4.9; condition "not-well-formed", ...), logged
 * once with the peer's address and domain, then </stream:stream> and close.
 * text may be NULL. level: log level of the line (refusals are WARN). */
void s2s_error(struct s2s *s, const char *cond, const char *text);
/* Close without a stream error: </stream:stream> (if a header went out). */
void s2s_close(struct s2s *s, const char *why);
/* Drop at once (connection lost). */
/* A socket address as its numeric ip and "ip:port" ("[ip]:port" for IPv6). */
void s2s_addr_str(const struct sockaddr *sa, char *ip, size_t iplen, char *out, size_t outlen);
void s2s_drop(struct s2s *s, const char *why);
/* After an element whose answer restarts the stream: new parser; the peer
 * speaks first again (a new header). */
void s2s_request_restart(struct s2s *s);
/* After <proceed/> (ours or theirs): the TLS handshake starts once the
 * current element is handled. */
void s2s_request_tls(struct s2s *s);
/* A fresh parser for the stream (at its start); false when out of memory. */
bool s2s_start_parser(struct s2s *s);
/* Arm the timer: negotiation deadline or idle check. */
void s2s_arm_timer(struct s2s *s, int ms);
/* Free everything (x->streams list, maps, queue). Only via close/drop. */
void s2s_free(struct s2s *s);
const char *s2s_dir_name(const struct s2s *s);
/* Bare-domain part of a JID attribute into out; false when malformed. */
bool s2s_jid_domain(const char *jid, char *out, size_t outlen);
/* Random hex string of 2*nbytes characters. */
void s2s_random_hex(char *out, size_t nbytes);

/* s2s_in.c */
int s2s_in_listen(struct xmpp *x, char *err, size_t errlen);
void s2s_in_on_open(struct s2s *s, const struct xmpp_elem *h, const char *content_ns);
void s2s_in_on_element(struct s2s *s, const struct xmpp_elem *e);
void s2s_in_tls_done(struct s2s *s);
/* Dialback pairs on inbound streams. */
struct s2s_pair *s2s_in_pair(struct s2s *s, const char *peer, const char *local);
struct s2s_pair *s2s_in_pair_add(struct s2s *s, const char *peer, const char *local);
void s2s_in_pair_del(struct s2s *s, const char *peer, const char *local);

/* s2s_out.c */
/* The outbound stream local -> peer, created (and being opened) if needed;
 * NULL when out of memory. */
struct s2s *s2s_out_get(struct xmpp *x, const char *local, const char *peer,
                        const struct s2s_rules *r);
/* From the stream's first timer tick: begin the DNS lookups. */
void s2s_out_start(struct s2s *s);
void s2s_out_on_open(struct s2s *s, const struct xmpp_elem *h, const char *content_ns);
void s2s_out_on_element(struct s2s *s, const struct xmpp_elem *e);
void s2s_out_tls_done(struct s2s *s);
void s2s_out_connected(struct s2s *s);
void s2s_out_connect_failed(struct s2s *s, const char *why);
/* The stream is authenticated: write the queue and pending verifies. */
void s2s_out_ready(struct s2s *s);
/* Fail every queued stanza (cond: RFC 6120 stanza condition) and verifies. */
void s2s_out_fail_queue(struct s2s *s, const char *cond, const char *text);
int s2s_out_enqueue(struct s2s *s, struct s2s_queued *q);

/* sasl.c */
/* Receiving side: may the peer use EXTERNAL now (TLS, certificate names it)? */
bool sasl_can_offer(const struct s2s *s);
void sasl_in_auth(struct s2s *s, const struct xmpp_elem *e);
/* Initiating side: send <auth mechanism='EXTERNAL'>. */
void sasl_out_start(struct s2s *s);
void sasl_out_result(struct s2s *s, const struct xmpp_elem *e);

/* dialback.c */
/* key = hex HMAC-SHA256(hex SHA-256(secret), receiving ' ' originating ' ' id). */
void dialback_key(const struct xmpp *x, const char *receiving, const char *originating,
                  const char *id, char out[65]);
void dialback_out_start(struct s2s *s); /* send <db:result/> with our key */
void dialback_out_result(struct s2s *s, const struct xmpp_elem *e); /* its answer */
void dialback_in_result(struct s2s *s, const struct xmpp_elem *e);  /* a peer's <db:result/> */
void dialback_in_verify(struct s2s *s, const struct xmpp_elem *e);  /* a peer's <db:verify/> */
void dialback_out_verify_answer(struct s2s *s, const struct xmpp_elem *e); /* answer to ours */
/* Send pending verifies on a ready outbound stream. */
void dialback_flush_verifies(struct s2s *s);
/* Outbound stream s failed: answer the inbound streams waiting on it. */
void dialback_fail_verifies(struct s2s *s);

/* xmpp.c */
/* Report q (then freed by the caller) as not delivered, from the loop. */
void xmpp_report_failure(struct xmpp *x, const struct s2s *s, const struct s2s_queued *q,
                         const char *cond, const char *text);
/* The gateway's turn: an inbound stanza that passed every check. */
void xmpp_deliver(struct s2s *s, const struct xmpp_elem *e);
SSL *xmpp_ssl_new(struct xmpp *x, bool server, const char *sni);

#endif
