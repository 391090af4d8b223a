/* leg.h -- how the node names itself on the internal leg of a request: the
 * transport, host and port of our Via sent-by and of the Record-Route entry
 * facing the inside, by the transport that leg actually runs over.
 *
 * Over TLS with an internal TLS listener (internal.tls_listen), both name
 * TLS and that listener's port, so that the front end's responses and
 * in-dialog requests come back over TLS to where we listen for them. Over
 * TLS without one (a TLS next hop only), the Via says TLS with the TCP port
 * and ";alias" (RFC 5923: the front end answers and sends back over our
 * connection) and the Record-Route keeps the TCP listener. No allocation:
 * the strings point into n (its config and listen addresses). */
#ifndef EP_SIP_LEG_H
#define EP_SIP_LEG_H

#include <stdbool.h>
#include <stdint.h>

#include "node.h"

struct sip_leg {
    const char *via_proto;    /* "TCP" or "TLS": the Via's transport */
    const char *via_host;     /* the Via's sent-by host */
    const char *rr_transport; /* "tcp" or "tls": the Record-Route URI's transport */
    const char *rr_host;      /* the Record-Route URI's host */
    uint16_t port;            /* both */
};

/* The internal leg of n when it runs over TLS (tls) or TCP. */
void sip_internal_leg(const struct node *n, bool tls, struct sip_leg *leg);

#endif
