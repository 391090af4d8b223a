/* xmpp.h -- XMPP server-to-server federation (RFC 6120, XEP-0178, XEP-0220):
 * the API between the s2s streams (node/xmpp/stream.c, s2s_in.c, s2s_out.c,
 * dialback.c, sasl.c) and the SIP<->XMPP gateway (node/xmpp/gateway.c).
 *
 * The s2s side owns every stream: the listener on xmpp.listen (5269), one
 * outbound stream per (our domain, partner domain), STARTTLS, SASL EXTERNAL,
 * dialback, policy (access_edge.enable_xmpp, xmpp_partners, blocked domains)
 * and stream errors. The gateway sees only stanzas: every inbound stanza that
 * passed the checks is handed to xmpp_gateway_on_stanza(); it sends with
 * xmpp_send_stanza() and learns of stanzas that could not be delivered
 * through xmpp_gateway_on_send_failed(). Everything runs on the node's one
 * event loop; nothing here blocks. */
#ifndef EP_XMPP_H
#define EP_XMPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "federation/policy-t.h" /* enum xmpp_partner_type */
#include "slice.h"

struct node;

/* ---- a parsed stanza: a small tree ----
 *
 * Names and values are unescaped, NUL-terminated UTF-8 (expat checked them).
 * Everything is owned by the s2s layer and valid only during the callback that
 * hands it over: copy what you keep. */

struct xmpp_attr {
    const char *name; /* local name: "type", "xml:lang" for the xml namespace */
    const char *ns;   /* namespace URI of a prefixed attribute, else NULL */
    const char *value;
};

struct xmpp_elem {
    const char *name; /* local name: "message", "body", "show" */
    const char *ns;   /* namespace URI, never NULL ("jabber:server" for stanzas,
                         "jabber:server" too for <body/> & co. inherited from it;
                         "" for none) */
    const struct xmpp_attr *attrs;
    size_t n_attrs;
    const char *text; /* character data directly inside this element, concatenated
                         (CDATA included), "" when none; text_len bytes */
    size_t text_len;
    const struct xmpp_elem *children; /* first child element, NULL when none */
    const struct xmpp_elem *next;     /* next sibling */
    const struct xmpp_elem *parent;   /* NULL for the stanza itself */
};

enum xmpp_stanza_kind { XMPP_MESSAGE, XMPP_PRESENCE, XMPP_IQ };

struct xmpp_stanza {
    enum xmpp_stanza_kind kind;
    const struct xmpp_elem *root; /* <message/>, <presence/> or <iq/> in jabber:server */
    /* The root's attributes, NULL when absent. from and to are full JIDs as
     * sent; the s2s layer has already checked that from's domain is the
     * stream's authenticated peer domain and to's domain is one we serve
     * (stanzas failing that never reach the gateway). */
    const char *from, *to, *type, *id, *lang;
    /* The stream it came on: the partner's authenticated domain and ours. */
    const char *peer_domain;
    const char *local_domain;
    enum xmpp_partner_type partner_type; /* from policy_xmpp_partner() at the time */
    const char *peer_addr;               /* "ip:port" of the TCP peer, for logs */
    /* The stanza serialised again by us (well-formed, namespaces declared
     * where they change, default namespace jabber:server left implicit on the
     * root), and the children of the root alone, the same way. */
    const char *xml;
    size_t xml_len;
    const char *inner;
    size_t inner_len;
};

/* The first child of e named name in namespace ns (NULL: any namespace), or
 * NULL. */
const struct xmpp_elem *xmpp_elem_child(const struct xmpp_elem *e, const char *name,
                                        const char *ns);
/* The value of e's un-namespaced attribute name ("xml:lang" for the xml one),
 * or NULL. */
const char *xmpp_elem_attr(const struct xmpp_elem *e, const char *name);

/* ---- helpers for building stanzas ---- */

/* Escape len bytes of s for XML character data or an attribute value (both
 * quotes, <, >, & become entities). Writes at most cap bytes (NUL included,
 * when cap > 0) and returns the length the full result needs, excluding the
 * NUL, as snprintf does. Bytes are not checked for UTF-8 validity here. */
size_t xmpp_escape(char *dst, size_t cap, const char *s, size_t len);

/* A JID split into slices of s (RFC 7622 structure only; no stringprep):
 * "local@domain/resource", local and resource may be empty. Returns 0, or -1
 * when the domain part is empty or a part is over 1023 bytes. */
struct xmpp_jid {
    struct slice local, domain, resource;
};
int xmpp_jid_parse(const char *s, size_t len, struct xmpp_jid *out);

/* ---- life cycle (called from main.c) ---- */

/* Read the "xmpp" group of the node's configuration (xmpp_config.c), open the
 * s2s listener and get ready to open outbound streams. The served domains are
 * the policy's internal domains (re-read from the live policy at every
 * decision). Does nothing but return 0 when the group says enabled = false.
 * Returns 0, or -1 with a reason in err (bad setting, address in use...). */
int xmpp_start(struct node *n, char *err, size_t errlen);
/* The "xmpp" group of the configuration file (NULL: the embedded default):
 * 0, or -1 with "FILE:LINE: key: what" (for --check-config). */
int xmpp_check_config(const char *path, char *err, size_t errlen);
/* Every xmpp.* setting with its default and documentation (--print-config). */
void xmpp_print_config(FILE *out);
/* SIGHUP: re-read the "xmpp" group and the certificates (new streams use
 * them; open ones keep theirs). A bad file is refused and logged, the
 * running settings kept. xmpp.enabled and xmpp.listen need a restart. */
void xmpp_reload(struct node *n);
/* Stop accepting new streams (drain); open streams go on. */
void xmpp_stop_listening(struct node *n);
/* Close every stream (with </stream:stream> when possible), cancel pending
 * work (queued stanzas are reported failed to the gateway) and free it all.
 * Safe when xmpp_start was never called or failed. Call after the resolver
 * is freed (its callbacks, cancelled, still find their streams). */
void xmpp_stop(struct node *n);

/* ---- outbound ---- */

enum xmpp_send_err {
    XMPP_SEND_OK = 0,
    XMPP_SEND_OFF = -1,    /* XMPP not started, or access_edge.enable_xmpp is false */
    XMPP_SEND_POLICY = -2, /* to_domain is blocked, not an XMPP partner, or ours */
    XMPP_SEND_FROM = -3,   /* from_domain is not one we serve */
    XMPP_SEND_BADXML = -4, /* not exactly one well-formed <message/>, <presence/> or <iq/>,
                              or its from/to domains differ from from_domain/to_domain */
    XMPP_SEND_TOOBIG = -5, /* over xmpp.max_stanza_size */
    XMPP_SEND_QUEUE = -6,  /* too many stanzas waiting for that stream (xmpp.max_queue) */
    XMPP_SEND_NOMEM = -7,
};
const char *xmpp_send_err_name(int err); /* "policy", ... for logs */

/* Queue one stanza (xml, len bytes: one complete element with from and to
 * attributes, its root without xmlns or with xmlns='jabber:server': it is
 * written as given inside our stream, whose default namespace is
 * jabber:server; children in other namespaces declare them) on the
 * one outbound stream from from_domain to to_domain, opening it when there is
 * none: SRV _xmpp-server._tcp.<to_domain> (else to_domain's address, port
 * 5269; a partner's edge_fqdn when configured), TCP, STARTTLS, SASL EXTERNAL
 * or dialback as the partner's settings say. Returns 0 when queued; the
 * stanza is then either written on an authenticated stream or reported once to
 * xmpp_gateway_on_send_failed(), never both, and that callback never runs
 * inside this call. A negative enum xmpp_send_err when refused at once (no
 * callback then). xml is copied. */
int xmpp_send_stanza(struct node *n, const char *from_domain, const char *to_domain,
                     const char *xml, size_t len);

/* Why a queued stanza was not delivered. condition is the RFC 6120 section
 * 8.3.3 stanza error condition the gateway would answer with:
 *   "remote-server-not-found"  no SRV/address, connection refused, TLS or
 *                              authentication failed, partner's stream error
 *   "remote-server-timeout"    DNS, connect, negotiation or queue timed out
 *   "policy-violation"         policy changed while queued (blocked, XMPP off)
 *   "service-unavailable"      node stopping
 *   "internal-server-error"    anything else */
struct xmpp_send_failure {
    const char *id;          /* the stanza's id attribute, or NULL */
    const char *name;        /* "message", "presence" or "iq" */
    const char *from, *to;   /* the stanza's from and to attributes */
    const char *from_domain; /* as passed to xmpp_send_stanza */
    const char *to_domain;
    const char *condition;
    const char *text; /* why, in words, for logs */
};

/* ---- implemented by the gateway (node/xmpp/gateway.c) ----
 *
 * A program linking libnode.a without the gateway (tests/tools/ep-xmpp.c,
 * unit tests) defines these two itself, so gateway.o is never pulled in. */

/* Every authorised inbound stanza, in order per stream. The gateway answers
 * (errors, iq results) with xmpp_send_stanza(), which it may call from here.
 * It must not call xmpp_stop() from here. */
void xmpp_gateway_on_stanza(struct node *n, const struct xmpp_stanza *st);
/* A stanza queued by xmpp_send_stanza() that will not be delivered. */
void xmpp_gateway_on_send_failed(struct node *n, const struct xmpp_send_failure *f);

/* ---- for tests and edgectl ---- */

struct xmpp_stats {
    unsigned long long streams_in, streams_out, stanzas_in, stanzas_out, refused, stream_errors;
};
void xmpp_get_stats(const struct node *n, struct xmpp_stats *out);

/* ---- the gateway's settings from the xmpp group ---- */

enum xmpp_im_sessions {
    XMPP_IM_SESSIONS_AUTO,   /* sessions for users who opened one themselves */
    XMPP_IM_SESSIONS_ALWAYS, /* sessions for every internal user */
    XMPP_IM_SESSIONS_NEVER,  /* page-mode MESSAGE only */
};
struct xmpp_gateway_settings {
    enum xmpp_im_sessions im_sessions; /* xmpp.im_sessions */
    int session_idle_s;                /* xmpp.session_idle_timeout */
    int session_ring_s;                /* xmpp.session_ring_timeout */
};
/* The settings in force (the defaults when XMPP is not running). */
void xmpp_gateway_settings(const struct node *n, struct xmpp_gateway_settings *out);
/* "auto", "always", "never" (NULL: auto) as enum xmpp_im_sessions; -1 for
 * anything else. */
int xmpp_im_sessions_mode(const char *s);

#endif
