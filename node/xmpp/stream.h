/* stream.h -- the XML stream parser of one XMPP stream (expat, RFC 6120 section 4/11).
 *
 * Feeds bytes to expat and reports three events: the stream header (the
 * <stream:stream> start tag), each complete top-level element (a stanza or a
 * negotiation element) as a small tree (xmpp.h's struct xmpp_elem), and the
 * stream's end tag. Bounded: an element (or a header) larger than max bytes,
 * or nested deeper than XML_STREAM_MAX_DEPTH, is a <policy-violation/>;
 * DTDs, comments, processing instructions and entity declarations are
 * <restricted-xml/> (RFC 6120 11.1); anything expat refuses is
 * <not-well-formed/>. After STARTTLS and SASL the stream restarts: the caller
 * frees the parser and makes a new one. */
#ifndef EP_XMPP_STREAM_H
#define EP_XMPP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "xmpp/xmpp.h"

#define XML_STREAM_MAX_DEPTH 32

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_SERVER "jabber:server"
#define NS_CLIENT "jabber:client"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZA_ERRORS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_XML "http://www.w3.org/XML/1998/namespace"

struct xml_stream;

struct xml_stream_cbs {
    /* The header: its name and namespace are the caller's to check;
     * content_ns is the default namespace it declares ("" when none). */
    void (*on_open)(void *arg, const struct xmpp_elem *header, const char *content_ns);
    /* A complete top-level element; the tree is valid during the call only
     * (serialise it when text is needed: xmpp_serialise). */
    void (*on_element)(void *arg, const struct xmpp_elem *el);
    /* </stream:stream>. */
    void (*on_close)(void *arg);
};

/* A parser for one stream (from its header on). max: the largest element in
 * bytes, as received. NULL when out of memory. */
struct xml_stream *xml_stream_new(size_t max, const struct xml_stream_cbs *cbs, void *arg);
void xml_stream_free(struct xml_stream *xs);

enum xml_stream_status { XS_OK = 0, XS_STOPPED = 1, XS_ERROR = -1 };

/* Parse len bytes. XS_OK: all consumed. XS_STOPPED: a callback called
 * xml_stream_stop(); *consumed is where the element that callback saw ended
 * (the bytes after it are not parsed, and this parser takes no more).
 * XS_ERROR: the stream is bad; xml_stream_error() says why. Callbacks may
 * run before it returns. */
enum xml_stream_status xml_stream_feed(struct xml_stream *xs, const char *data, size_t len,
                                       size_t *consumed);
/* From inside a callback: stop after this event. */
void xml_stream_stop(struct xml_stream *xs);
/* After XS_ERROR: the RFC 6120 stream error condition ("not-well-formed",
 * "policy-violation", "restricted-xml") and a text for logs. */
const char *xml_stream_error(const struct xml_stream *xs, const char **text);

/* ---- serialise.c: trees back to text ---- */

/* A growable byte buffer; oom set once an append failed (later appends are
 * no-ops, so callers check once at the end). */
struct xbuf {
    char *p;
    size_t len, cap;
    bool oom;
};
void xbuf_add(struct xbuf *b, const char *s, size_t len);
void xbuf_adds(struct xbuf *b, const char *s);
/* s escaped for character data and attribute values. */
void xbuf_add_esc(struct xbuf *b, const char *s, size_t len);
void xbuf_free(struct xbuf *b);

/* Append e (with its subtree) as XML. parent_ns is the default namespace in
 * force where it is written: an element whose namespace differs declares it
 * with xmlns. Attributes in the xml namespace keep the xml: prefix, others in
 * a namespace get a declared prefix. */
void xmpp_serialise(struct xbuf *b, const struct xmpp_elem *e, const char *parent_ns);
/* Only e's children (and its text), as they would appear inside e. */
void xmpp_serialise_inner(struct xbuf *b, const struct xmpp_elem *e);

#endif
