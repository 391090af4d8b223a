/* gateway_sdp.h -- the pure pieces of the gateway's IM sessions
 * (gateway_session.c): reading an INVITE's SDP offer for a SIP "message"
 * stream as Lync / Skype for Business sends it (`m=message 5060 sip null`,
 * RFC 3264 offer/answer, [MS-SIP] IM session), writing our answer, reading
 * typing notifications (RFC 3994 im-iscomposing, Lync's KeyboardActivity
 * INFO) and Lync's first message carried in the INVITE (Ms-Text-Format
 * ms-body). No I/O, no node, nothing allocated: callers own every buffer.
 * The unit tests (tests/unit/test_xmpp_session.c) call these directly. */
#ifndef EP_XMPP_GATEWAY_SDP_H
#define EP_XMPP_GATEWAY_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SDP_MAX_MEDIA 8

/* What an offer holds, as far as the answer needs it. */
struct gw_sdp_offer {
    int n_media;  /* m= lines, in order */
    int im_index; /* the one message stream we accept (port != 0, proto sip, text/plain
                     acceptable), -1 when none */
    struct {
        char media[16]; /* "message", "audio", "video" ... */
        char proto[32]; /* "sip", "RTP/AVP", "TCP/MSRP" ... */
        char fmt[64];   /* the format list as written ("null", "0 8 101"), cut to fit */
    } m[GW_SDP_MAX_MEDIA];
};

enum gw_sdp_verdict {
    GW_SDP_BAD = -1,  /* not SDP (no v=0 first, a line not "x=...", a bad m= line, more
                         than GW_SDP_MAX_MEDIA streams): 400 */
    GW_SDP_IM = 0,    /* a message stream we take (others, if any, are refused in the answer) */
    GW_SDP_NO_IM = 1, /* well-formed, but no message stream we can take (audio/video only,
                         MSRP, no text/plain, no m= line at all): 488 */
};

/* Read the offer (len bytes, not NUL-terminated). *why gets a static text
 * for logs and the Warning header when the verdict is not GW_SDP_IM. */
enum gw_sdp_verdict gw_sdp_parse(const char *sdp, size_t len, struct gw_sdp_offer *o,
                                 const char **why);

/* Our answer to o (whose verdict was GW_SDP_IM): one m= line per offered
 * one, in order (RFC 3264 section 6); the message stream answered the way
 * Lync answers it, `m=message <port> sip null` with
 * `a=accept-types:text/plain`, every other stream refused with port 0. addr
 * is our IPv4 or IPv6 address (c= and o=), sess_id the o= session id.
 * Returns the length (out NUL-terminated), 0 when cap is too small. */
size_t gw_sdp_answer(const struct gw_sdp_offer *o, const char *addr, unsigned port,
                     uint64_t sess_id, char *out, size_t cap);

/* A typing notification: ctype is the Content-Type value (parameters
 * allowed). RFC 3994 application/im-iscomposing+xml: <state>active</state>
 * is 1 (composing), idle is 0 (paused). Lync's INFO, application/xml
 * <KeyboardActivity><status status="type"/>: 1; status="idle": 0. Anything
 * else (another type, no state found): -1. */
int gw_typing_parse(const char *ctype, const char *body, size_t len);

/* Lync's first message in its INVITE: an Ms-Text-Format header value
 * ("text/plain; charset=UTF-8;msgr=...;ms-body=<base64>"). When the type is
 * text/plain and ms-body decodes, the text goes to out (NUL-terminated) and
 * its length is returned; -1 otherwise (no ms-body, another type, bad
 * base64, too long for cap). */
int gw_ms_text_body(const char *value, char *out, size_t cap);

#endif
