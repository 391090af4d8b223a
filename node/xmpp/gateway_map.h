/* gateway_map.h -- the SIP<->XMPP gateway's pure mappings: addresses (RFC
 * 7247 section 5), error conditions (RFC 7247 section 8, RFC 7572), and
 * presence states (RFC 7248 as updated by RFC 8048). No I/O, no node: the
 * unit tests (tests/unit/test_xmpp_gateway.c) call these directly.
 *
 * Implemented in gateway_addr.c (addresses, ids) and gateway_error.c
 * (errors); presence documents are in pidf.h. */
#ifndef EP_XMPP_GATEWAY_MAP_H
#define EP_XMPP_GATEWAY_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "slice.h"

/* Longest bare JID / SIP address-of-record we map: RFC 7622 allows 1023
 * octets per part, we keep room for "local@domain". */
#define GW_ADDR_MAX 512

/* ---- addresses (gateway_addr.c) ----
 *
 * XMPP -> SIP: "local@domain[/resource]" becomes "local@domain" (an AOR,
 * without the "sip:" scheme): the resource is dropped (SIP addresses a user,
 * the XMPP server picks the resource), XEP-0106 escapes in the localpart are
 * undone, then every octet a SIP user part cannot carry (RFC 3261: not
 * unreserved nor user-unreserved) is percent-encoded; ASCII letters are
 * lowered (JID localparts and domains are case-insensitive).
 *
 * SIP -> XMPP: a sip: or sips: URI (name-addr brackets, parameters and
 * headers tolerated) with a user part becomes the bare JID "local@domain":
 * the user part is percent-decoded, the octets a JID localpart cannot carry
 * (space " & ' / : < > @, RFC 7622 section 3.3.1) are XEP-0106-escaped, and
 * ASCII letters are lowered. tel:, a URI without a user, control characters
 * and empty parts are refused.
 *
 * Both return the length written (NUL-terminated in out), or -1 when the
 * address cannot be mapped or does not fit in cap. */
int gw_jid_to_aor(const char *jid, size_t len, char *out, size_t cap);
int gw_uri_to_jid(struct slice uri, char *out, size_t cap);

/* The domain of "local@domain" (or of a JID with a resource): the part after
 * the last '@' before any '/'. SLICE_NULL when there is none. */
struct slice gw_addr_domain(struct slice addr);

/* A SIP Call-ID from an XMPP <thread/> (RFC 7572 section 4: thread <->
 * Call-ID): the thread itself when it is a valid SIP "word" of at most 128
 * octets, else "t" + 16 hex digits of its hash. Then "@" + domain. Returns
 * the length, or -1 when it does not fit. */
int gw_thread_to_call_id(const char *thread, const char *domain, char *out, size_t cap);

/* ---- errors (gateway_error.c) ----
 *
 * RFC 7247 section 8 tables, with two deliberate departures, both about what
 * the person on the other side should see:
 *  - SIP 408 -> <recipient-unavailable/> (RFC 7247: <remote-server-timeout/>):
 *    the XMPP sender's server talks to us, the gateway, fine; it is the
 *    internal user's endpoint that did not answer.
 *  - <service-unavailable/> -> SIP 480 (RFC 7247: 503): XMPP servers answer
 *    it for a message to an account that does not exist or cannot take it
 *    (RFC 6121 section 8.5); a 503 would tell the internal proxy that this
 *    gateway is down (RFC 3261 section 21.5.4) and make it fail over.
 * The condition is the element's local name ("item-not-found"). */

/* SIP status and reason phrase for an XMPP stanza error condition (unknown
 * conditions: 500 / undefined-condition's mapping). Never fails. */
int gw_err_xmpp_to_sip(const char *condition, const char **reason);
/* XMPP condition for a SIP final status >= 300 (3xx: redirect; unknown
 * codes: by class). *type gets the RFC 6120 section 8.3.2 error type
 * ("cancel", "auth", "modify", "wait"). */
const char *gw_err_sip_to_xmpp(int status, const char **type);
/* The RFC 6120 error type of a condition ("cancel" for unknown ones). */
const char *gw_err_type(const char *condition);

/* ---- presence (RFC 7248 section 7, RFC 8048) ----
 *
 * An XMPP <presence/> availability and a PIDF document (pidf.h) meet in this
 * model. Every available XMPP state is PIDF <basic>open</basic> (RFC 8048
 * corrected RFC 7248 on this); the flavour rides in an RPID activity:
 *   no <show/>, chat   <-> open, no activity
 *   away               <-> open + <rpid:away/>
 *   xa                 <-> open + <rpid:permanent-absence/> (read also: vacation)
 *   dnd                <-> open + <rpid:busy/> (read also: on-the-phone, meeting,
 *                          performance, presentation, in-transit...)
 *   type='unavailable' <-> <basic>closed</basic>
 * <status/> <-> <note/>. */
enum gw_show { GW_SHOW_NONE = 0, GW_SHOW_CHAT, GW_SHOW_AWAY, GW_SHOW_XA, GW_SHOW_DND };

#define GW_NOTE_MAX 256

struct gw_presence {
    bool open;              /* available */
    enum gw_show show;      /* meaningful when open */
    char note[GW_NOTE_MAX]; /* <status/> / <note/>, UTF-8, "" when none (truncated) */
};

/* "away", "chat", "dnd", "xa", or NULL for GW_SHOW_NONE. */
const char *gw_show_name(enum gw_show s);
/* The <show/> text ("away"...); unknown or empty text is GW_SHOW_NONE. */
enum gw_show gw_show_parse(const char *s, size_t len);

#endif
