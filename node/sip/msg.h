/* msg.h -- a SIP message parsed in place, and the parser's API.
 *
 * sip_msg_parse() indexes one complete message: every slice points into the
 * caller's buffer, nothing is copied or allocated, and the message is valid
 * as long as that buffer. Headers are found once (names case-insensitive,
 * compact forms mapped to their ids); the few fields every hop needs (top Via,
 * Call-ID, CSeq, From/To tags, Max-Forwards, Content-Length) are parsed
 * eagerly, everything else on demand with the helpers below. */
#ifndef EP_SIP_MSG_H
#define EP_SIP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "slice.h"

enum sip_hdr_id {
    SIP_HDR_OTHER = 0,
    SIP_HDR_VIA,     /* v */
    SIP_HDR_FROM,    /* f */
    SIP_HDR_TO,      /* t */
    SIP_HDR_CALL_ID, /* i */
    SIP_HDR_CSEQ,
    SIP_HDR_CONTACT, /* m */
    SIP_HDR_MAX_FORWARDS,
    SIP_HDR_CONTENT_LENGTH, /* l */
    SIP_HDR_CONTENT_TYPE,   /* c */
    SIP_HDR_ROUTE,
    SIP_HDR_RECORD_ROUTE,
    SIP_HDR_EXPIRES,
    SIP_HDR_EVENT, /* o */
    SIP_HDR_SUBSCRIPTION_STATE,
    SIP_HDR_SUPPORTED, /* k */
    SIP_HDR_REQUIRE,
    SIP_HDR_PROXY_REQUIRE,
    SIP_HDR_RETRY_AFTER,
    SIP_HDR_EP_TRUST, /* X-Edgepool-Trust: our trust header, stripped from outside */
    SIP_HDR_MS_TRUST, /* ms-edge-proxy-message-trust: Lync's, stripped from outside */
    SIP_HDR_COUNT
};

enum sip_method {
    SIP_M_OTHER = 0,
    SIP_M_INVITE,
    SIP_M_ACK,
    SIP_M_BYE,
    SIP_M_CANCEL,
    SIP_M_OPTIONS,
    SIP_M_REGISTER,
    SIP_M_MESSAGE,
    SIP_M_SUBSCRIBE,
    SIP_M_NOTIFY,
    SIP_M_INFO,
    SIP_M_UPDATE,
    SIP_M_PRACK,
    SIP_M_REFER,
    SIP_M_PUBLISH,
    SIP_M_SERVICE, /* Lync uses it */
};

struct sip_hdr {
    enum sip_hdr_id id;
    struct slice name;  /* as written */
    struct slice value; /* trimmed, folded lines included as-is */
    struct slice raw;   /* the whole header line(s) including the final CRLF */
};

/* One Via value, e.g. "SIP/2.0/TLS host:port;branch=z9hG4bK..;rport". */
struct sip_via {
    struct slice raw;       /* the whole value */
    struct slice transport; /* "TCP", "TLS", "UDP" */
    struct slice host;      /* without brackets for IPv6 */
    uint16_t port;          /* 0 if absent */
    struct slice branch;    /* value of branch=, empty if absent */
    struct slice received;  /* value of received= */
    bool has_rport;
    struct slice params; /* everything after the first ';', without it */
};

struct sip_uri {
    struct slice scheme;  /* "sip", "sips", "tel" ... */
    struct slice user;    /* empty if none */
    struct slice host;    /* without brackets for IPv6 */
    uint16_t port;        /* 0 if absent */
    struct slice params;  /* after the first ';' up to '?' or end, without the ';' */
    struct slice headers; /* after '?', without it */
};

/* Limits enforced by the parser (the proxy's configuration fills them). */
struct sip_limits {
    size_t max_message_size; /* whole message, headers + body */
    unsigned max_headers;    /* at most SIP_MAX_HEADERS */
};

#define SIP_MAX_HEADERS 128

/* Parse results. Negative values are errors; the proxy answers 400 (or 413 /
 * 513 / 494 as noted) when it can still frame the message. */
enum sip_parse_err {
    SIP_OK = 0,
    SIP_ERR_START_LINE = -1, /* bad request or status line */
    SIP_ERR_HEADER = -2,     /* header line without ':' or bad name */
    SIP_ERR_TOO_MANY_HEADERS = -3,
    SIP_ERR_TOO_LARGE = -4,      /* over max_message_size: 513 */
    SIP_ERR_MISSING = -5,        /* a mandatory header is missing (Via, From, To, Call-ID, CSeq) */
    SIP_ERR_CSEQ = -6,           /* CSeq malformed, or its method differs from the request's */
    SIP_ERR_VIA = -7,            /* top Via malformed */
    SIP_ERR_CONTENT_LENGTH = -8, /* bad or inconsistent Content-Length */
    SIP_ERR_MAX_FORWARDS = -9,   /* Max-Forwards not a number */
};

struct sip_msg {
    struct slice raw;        /* the whole message, as passed to the parser */
    struct slice start_line; /* without its CRLF */
    bool is_request;

    /* request */
    struct slice method;
    enum sip_method method_id;
    struct slice ruri;
    /* response */
    int status;
    struct slice reason;

    struct sip_hdr hdrs[SIP_MAX_HEADERS];
    unsigned nhdrs;
    int16_t first[SIP_HDR_COUNT]; /* index in hdrs of the first header of each id, -1 if none */

    struct slice headers_end; /* the empty line (CRLF) ending the headers */
    struct slice body;

    /* eagerly parsed */
    struct sip_via via; /* the first value of the first Via */
    struct slice call_id;
    uint32_t cseq;
    struct slice cseq_method;
    enum sip_method cseq_method_id;
    struct slice from;     /* whole From value */
    struct slice from_uri; /* the URI inside From (without <>) */
    struct slice from_tag;
    struct slice to;
    struct slice to_uri;
    struct slice to_tag; /* empty if none */
    int max_forwards;    /* -1 if absent */
    long content_length; /* -1 if absent */
};

/* Stream framing (TCP/TLS): look at buf[0..len) for one message.
 *  > 0  the length of the first complete message (headers + Content-Length body)
 *  = 0  need more bytes
 *  < 0  framing lost (no/invalid Content-Length, headers over max_size): the
 *       caller answers if it can and closes the connection.
 * *keepalive is set to the number of leading CR/LF bytes (RFC 5626 CRLF
 * keepalives) the caller must consume first; when non-zero the return value is
 * 0 and nothing else was examined. */
ssize_t sip_frame(const char *buf, size_t len, size_t max_size, size_t *keepalive);

/* Parse one complete message in place. Returns SIP_OK or a sip_parse_err.
 * On error the fields filled so far stay usable (e.g. Via/Call-ID for a 400). */
int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len, const struct sip_limits *lim);

/* The first header with id, or NULL. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id);
/* The next header with the same id after h, or NULL. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h);
/* The first header whose name equals name (case-insensitive), or NULL. */
const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, struct slice name);

enum sip_method sip_method_from(struct slice s);
const char *sip_method_name(enum sip_method m); /* NULL for SIP_M_OTHER */

/* Split a comma-separated header value: *first gets the first element
 * (trimmed), *rest what follows the comma (or empty). Commas inside quotes and
 * <...> do not split. Returns false when v is empty. */
bool sip_list_next(struct slice v, struct slice *first, struct slice *rest);

/* Parse a name-addr or addr-spec ("Bob" <sip:b@x>;tag=1 or sip:b@x;tag=1):
 * *uri the URI without <>, *params the header params after it (without the
 * leading ';'), either may be NULL. Returns 0 or -1. */
int sip_nameaddr_parse(struct slice v, struct slice *uri, struct slice *params);

/* Parse a SIP/SIPS URI. Returns 0 or -1. */
int sip_uri_parse(struct slice s, struct sip_uri *u);

/* Find a ;-separated parameter by name (case-insensitive) in params (without
 * leading ';'). Returns true if present; *val gets its value (empty if none). */
bool sip_param_get(struct slice params, const char *name, struct slice *val);

/* Parse a Via value into v. Returns 0 or -1. */
int sip_via_parse(struct slice s, struct sip_via *v);

#endif
