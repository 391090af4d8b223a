/* fuzz_xmpp_stream.c -- libFuzzer target for the XMPP stream parser
 * (node/xmpp/stream.c) and the serialiser (serialise.c): any bytes, fed in
 * pieces whose size the input picks, after a valid stream header or not; every
 * element the parser hands out is serialised, and that text must parse back
 * (inside a fresh stream) to exactly one element that serialises the same.
 * Built and run by tests/fuzz/xmpp_stream.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/stream.h"

static const char HDR[] = "<stream:stream xmlns='jabber:server' "
                          "xmlns:stream='http://etherx.jabber.org/streams' to='contoso.test'>";

struct again {
    int n;
    struct xbuf text;
};

static void again_element(void *arg, const struct xmpp_elem *e)
{
    struct again *a = arg;
    a->n++;
    xmpp_serialise(&a->text, e, NS_SERVER);
}

static void on_element(void *arg, const struct xmpp_elem *e)
{
    struct xbuf b = {0};
    xmpp_serialise(&b, e, NS_SERVER);
    struct xbuf inner = {0};
    xmpp_serialise_inner(&inner, e);
    xbuf_free(&inner);
    if (b.oom)
        abort();
    /* round trip: our own output must be well-formed and stable */
    static const struct xml_stream_cbs cbs = {NULL, again_element, NULL};
    struct again a = {0};
    struct xml_stream *xs = xml_stream_new(1 << 20, &cbs, &a);
    size_t used;
    if (xml_stream_feed(xs, HDR, sizeof(HDR) - 1, &used) != XS_OK ||
        xml_stream_feed(xs, b.p, b.len, &used) != XS_OK) {
        const char *t;
        fprintf(stderr, "serialised element does not parse back: %s (%s)\n%.*s\n",
                xml_stream_error(xs, &t), t, (int)b.len, b.p);
        abort();
    }
    if (a.n != 1 || a.text.len != b.len || memcmp(a.text.p, b.p, b.len) != 0) {
        fprintf(stderr, "round trip differs:\n%.*s\n%.*s\n", (int)b.len, b.p, (int)a.text.len,
                a.text.p ? a.text.p : "");
        abort();
    }
    xml_stream_free(xs);
    xbuf_free(&a.text);
    xbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] & 0x3f) + 1;
    bool header = data[0] & 0x40;
    data++;
    size--;
    static const struct xml_stream_cbs cbs = {NULL, on_element, NULL};
    struct xml_stream *xs = xml_stream_new(4096, &cbs, NULL);
    size_t used;
    enum xml_stream_status st = XS_OK;
    if (header)
        st = xml_stream_feed(xs, HDR, sizeof(HDR) - 1, &used);
    for (size_t off = 0; off < size && st == XS_OK; off += step) {
        size_t n = size - off < step ? size - off : step;
        st = xml_stream_feed(xs, (const char *)data + off, n, &used);
        if (used > n)
            abort();
    }
    if (st == XS_ERROR) {
        const char *t = NULL;
        const char *c = xml_stream_error(xs, &t);
        if (!c || !t)
            abort();
    }
    xml_stream_free(xs);
    return 0;
}
