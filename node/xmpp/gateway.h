/* gateway.h -- the SIP<->XMPP gateway (RFC 7247, 7248/8048, 7572) as the
 * rest of the node sees it: created and freed by main.c, handed the
 * internal side's SIP requests for XMPP partner domains and the responses to
 * its own requests by the proxy (sip/proxy.c). The XMPP side reaches it
 * through xmpp.h (xmpp_gateway_on_stanza, xmpp_gateway_on_send_failed).
 *
 * The internal side sees only SIP: an XMPP user bob@jabber.test is
 * sip:bob@jabber.test; <message/> becomes MESSAGE (page mode, or inside an
 * IM session: INVITE with m=message sip null, as Lync opens them,
 * gateway_session.c), presence subscriptions become SUBSCRIBE/NOTIFY
 * dialogs with PIDF bodies, in both directions. Presence subscriptions and
 * IM sessions are kept in the pool's Redis (gateway_subs.c,
 * gateway_session.c), so any node carries on with them after the node that
 * set them up died. */
#ifndef EP_XMPP_GATEWAY_H
#define EP_XMPP_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

struct node;
struct conn;
struct sip_msg;

/* Set up n->gateway (after the pool is attached: the subscription store
 * uses n->pool when there is one). 0, or -1 with err. */
int xmpp_gateway_new(struct node *n, char *err, size_t errlen);
/* Free n->gateway and everything it owns. Call after xmpp_stop() (which
 * reports queued stanzas to the gateway) and after pool_free() (whose
 * pending callbacks still find the gateway). NULL gateway is a no-op. */
void xmpp_gateway_free(struct node *n);

/* A request m from the internal side (conn c): true when the gateway took it
 * (its Request-URI is in an XMPP partner's domain, or is the gateway's own
 * contact in a dialog it holds) and answers it; false: the proxy routes it
 * as usual. */
bool xmpp_gateway_sip_request(struct node *n, struct conn *c, const struct sip_msg *m);
/* A response no proxy transaction claimed: true when it answers one of the
 * gateway's own requests (by its Via branch). */
bool xmpp_gateway_sip_response(struct node *n, struct conn *c, const struct sip_msg *m);

#endif
