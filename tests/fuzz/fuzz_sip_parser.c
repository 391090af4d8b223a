/* fuzz_sip_parser.c -- libFuzzer target for node/sip/parser.c and uri.c.
 *
 * Frames the input as a stream would (keepalives, then sip_frame), parses each
 * framed message, and runs the value helpers over everything parsed. Checks the
 * invariants the proxy relies on: a framed length fits the input, every slice
 * lies inside the buffer. The input is copied to an exact-size buffer so ASan
 * catches any read past its end. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"

static const char *lo, *hi; /* the buffer being parsed */

static void in_buf(struct slice s)
{
    if (s.len && (s.p < lo || s.p + s.len > hi))
        abort();
}

static void check_uri(struct slice s)
{
    struct sip_uri u;
    if (sip_uri_parse(s, &u) == 0) {
        in_buf(u.scheme);
        in_buf(u.user);
        in_buf(u.host);
        in_buf(u.params);
        in_buf(u.headers);
        struct slice v;
        if (sip_param_get(u.params, "transport", &v))
            in_buf(v);
        sip_param_get(u.params, "lr", NULL);
    }
}

static void check_nameaddr(struct slice s)
{
    struct slice uri, params, v;
    if (sip_nameaddr_parse(s, &uri, &params) == 0) {
        in_buf(uri);
        in_buf(params);
        check_uri(uri);
        if (sip_param_get(params, "tag", &v))
            in_buf(v);
        sip_param_get(params, "expires", &v);
    }
}

static void check_msg(const struct sip_msg *m)
{
    in_buf(m->start_line);
    in_buf(m->method);
    in_buf(m->ruri);
    in_buf(m->reason);
    in_buf(m->body);
    in_buf(m->call_id);
    in_buf(m->from_uri);
    in_buf(m->from_tag);
    in_buf(m->to_uri);
    in_buf(m->to_tag);
    in_buf(m->via.host);
    in_buf(m->via.branch);
    if (m->nhdrs > SIP_MAX_HEADERS)
        abort();
    if (m->is_request)
        check_uri(m->ruri);
    check_uri(m->from_uri);
    check_uri(m->to_uri);
    for (unsigned i = 0; i < m->nhdrs; i++) {
        const struct sip_hdr *h = &m->hdrs[i];
        in_buf(h->raw);
        in_buf(h->name);
        in_buf(h->value);
        if (sip_msg_hdr_by_name(m, h->name) == NULL)
            abort(); /* every header is found by its own name */
        sip_msg_hdr_next(m, h);
        struct slice rest = h->value, one;
        int n = 0;
        while (sip_list_next(rest, &one, &rest) && n++ < 64) {
            in_buf(one);
            struct sip_via v;
            switch (h->id) {
            case SIP_HDR_VIA:
                if (sip_via_parse(one, &v) == 0) {
                    in_buf(v.transport);
                    in_buf(v.host);
                    in_buf(v.params);
                    in_buf(v.received);
                }
                break;
            case SIP_HDR_ROUTE:
            case SIP_HDR_RECORD_ROUTE:
            case SIP_HDR_CONTACT:
            case SIP_HDR_FROM:
            case SIP_HDR_TO:
                check_nameaddr(one);
                break;
            default:
                break;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sip_msg m;
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    lo = buf;
    hi = buf + size;

    /* the whole input as one datagram */
    struct sip_limits lim = {4096, 64};
    sip_msg_parse(&m, buf, size, &lim);
    check_msg(&m);

    /* the input as a stream */
    size_t off = 0;
    while (off < size) {
        size_t ka = 0;
        ssize_t n = sip_frame(buf + off, size - off, 4096, &ka);
        if (ka) {
            if (ka > size - off || n != 0)
                abort();
            off += ka;
            continue;
        }
        if (n <= 0)
            break;
        if ((size_t)n > size - off || n > 4096)
            abort();
        /* a framed message has its Content-Length and its whole body */
        int rc = sip_msg_parse(&m, buf + off, (size_t)n, &lim);
        if (rc == SIP_OK && (m.content_length < 0 || (size_t)m.content_length != m.body.len))
            abort();
        check_msg(&m);
        off += (size_t)n;
    }
    free(buf);
    return 0;
}
