/* build.h -- writing SIP messages: local responses, forwarded requests and
 * responses, CANCEL and ACK.
 *
 * Every builder writes into a caller's buffer (the node's scratch buffer) and
 * returns the length, or 0 if it would not fit. Forwarding copies the
 * original message's lines around the edits, so unknown headers pass
 * untouched. */
#ifndef EP_SIP_BUILD_H
#define EP_SIP_BUILD_H

#include <stddef.h>

#include "sip/msg.h"

/* A local response to req: Via, From, To (with to_tag added when the request
 * has none and status > 100), Call-ID, CSeq copied; extra is zero or more
 * complete header lines ("Retry-After: 30\r\n"); no body. */
size_t sip_build_response(char *out, size_t cap, const struct sip_msg *req, int status,
                          const char *reason, const char *to_tag, const char *extra);

struct sip_fwd_edits {
    const char *via;          /* our Via header line(s), CRLF-terminated, go first */
    const char *record_route; /* Record-Route line(s) to insert above the others, or NULL */
    unsigned pop_routes;      /* how many Route values at the top to remove */
    int max_forwards;         /* new value; -1 leaves the header as is */
    bool strip_trust;         /* drop X-Edgepool-Trust and ms-edge-proxy-message-trust */
    const char *extra;        /* header lines to add (our trust header), or NULL */
};

/* The request m as forwarded with the edits. */
size_t sip_build_forward(char *out, size_t cap, const struct sip_msg *m,
                         const struct sip_fwd_edits *e);

/* The response m with its top Via value removed (and trust headers stripped
 * when strip_trust). */
size_t sip_build_response_forward(char *out, size_t cap, const struct sip_msg *m, bool strip_trust);

/* CANCEL or ACK (method) for the INVITE we forwarded (fwd, as we sent it):
 * same Request-URI, top Via (ours), Route, From, Call-ID, CSeq number; To from
 * to (the response's To for an ACK, or fwd's To). */
size_t sip_build_cancel_or_ack(char *out, size_t cap, const struct sip_msg *fwd, const char *method,
                               struct slice to);

#endif
