/* stream.c -- one XMPP stream's XML parser: expat events to header, element
 * trees and end, with the size and depth bounds and the restricted-XML rules
 * of RFC 6120 section 11 (see stream.h). */
#include "xmpp/stream.h"

#include <expat.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NS_SEP '\x01'

/* A tree node under construction; e comes first so that a struct xmpp_elem *
 * handed out is a struct xnode *. */
struct xnode {
    struct xmpp_elem e;
    struct xnode *last_child;
    struct xmpp_attr *attrs;
    char *strs; /* name, ns and every attribute's strings, one block */
    char *text;
    size_t tlen, tcap;
};

struct xml_stream {
    XML_Parser p;
    struct xml_stream_cbs cbs;
    void *arg;
    size_t max;
    int depth;                    /* 0 outside the header, 1 inside it, 2+ inside an element */
    struct xnode *header;         /* the stream header, kept while the parser lives */
    struct xnode *cur;            /* element being built (depth >= 2), NULL between elements */
    struct xnode *root;           /* the top-level element being built */
    char content_ns[256];         /* default namespace declared on the header */
    unsigned long long fed;       /* bytes given to expat so far */
    unsigned long long mark;      /* where the current element (or header) began */
    unsigned long long last_end;  /* end of the last complete event */
    unsigned long long feed_base; /* fed before the current feed */
    bool stopped, failed;
    const char *cond;
    char text[160];
};

static void xnode_free(struct xnode *x)
{
    if (!x)
        return;
    struct xnode *c = (struct xnode *)x->e.children;
    while (c) {
        struct xnode *next = (struct xnode *)c->e.next;
        xnode_free(c);
        c = next;
    }
    free(x->attrs);
    free(x->strs);
    free(x->text);
    free(x);
}

static void fail(struct xml_stream *xs, const char *cond, const char *text)
{
    if (xs->failed || xs->stopped)
        return;
    xs->failed = true;
    xs->cond = cond;
    snprintf(xs->text, sizeof(xs->text), "%s", text);
    XML_StopParser(xs->p, XML_FALSE);
}

/* Where the current event ends, as a count of bytes fed. */
static void note_event_end(struct xml_stream *xs)
{
    XML_Index i = XML_GetCurrentByteIndex(xs->p);
    int n = XML_GetCurrentByteCount(xs->p);
    if (i >= 0 && n > 0)
        xs->last_end = (unsigned long long)i + (unsigned long long)n;
}

static bool too_big(struct xml_stream *xs)
{
    XML_Index i = XML_GetCurrentByteIndex(xs->p);
    int n = XML_GetCurrentByteCount(xs->p);
    if (i < 0)
        return false;
    unsigned long long end = (unsigned long long)i + (unsigned long long)(n > 0 ? n : 0);
    if (end - xs->mark > xs->max) {
        fail(xs, "policy-violation", "element larger than the stanza size limit");
        return true;
    }
    return false;
}

/* "uri\x01local" or "local" -> ns ("" when none) and local name. */
static void split_name(const char *q, const char **ns, size_t *nslen, const char **local)
{
    const char *sep = strchr(q, NS_SEP);
    if (sep) {
        *ns = q;
        *nslen = (size_t)(sep - q);
        *local = sep + 1;
    } else {
        *ns = "";
        *nslen = 0;
        *local = q;
    }
}

static struct xnode *xnode_new(const char *qname, const char **atts)
{
    size_t n_attrs = 0, need = 0;
    const char *ns, *local;
    size_t nslen;
    split_name(qname, &ns, &nslen, &local);
    need += nslen + 1 + strlen(local) + 1;
    for (const char **a = atts; a[0]; a += 2) {
        n_attrs++;
        need += strlen(a[0]) + 2 + strlen(a[1]) + 1;
    }
    struct xnode *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->strs = malloc(need ? need : 1);
    x->attrs = n_attrs ? calloc(n_attrs, sizeof(*x->attrs)) : NULL;
    if (!x->strs || (n_attrs && !x->attrs)) {
        xnode_free(x);
        return NULL;
    }
    char *w = x->strs;
    memcpy(w, ns, nslen);
    w[nslen] = '\0';
    x->e.ns = w;
    w += nslen + 1;
    size_t len = strlen(local) + 1; /* need counted every string with its NUL */
    memcpy(w, local, len);
    x->e.name = w;
    w += len;
    size_t k = 0;
    for (const char **a = atts; a[0]; a += 2, k++) {
        const char *ans, *alocal;
        size_t anslen;
        split_name(a[0], &ans, &anslen, &alocal);
        if (anslen) {
            memcpy(w, ans, anslen);
            w[anslen] = '\0';
            x->attrs[k].ns = w;
            w += anslen + 1;
        }
        len = strlen(alocal) + 1;
        memcpy(w, alocal, len);
        x->attrs[k].name = w;
        w += len;
        len = strlen(a[1]) + 1;
        memcpy(w, a[1], len);
        x->attrs[k].value = w;
        w += len;
    }
    x->e.attrs = x->attrs;
    x->e.n_attrs = n_attrs;
    x->e.text = "";
    return x;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xml_stream *xs = ud;
    if (xs->failed || xs->stopped)
        return;
    if (too_big(xs))
        return;
    if (xs->depth >= XML_STREAM_MAX_DEPTH) {
        fail(xs, "policy-violation", "elements nested too deep");
        return;
    }
    struct xnode *x = xnode_new(name, atts);
    if (!x) {
        fail(xs, "internal-server-error", "out of memory");
        return;
    }
    xs->depth++;
    note_event_end(xs);
    if (xs->depth == 1) {
        xs->header = x;
        xs->mark = xs->last_end;
        if (xs->cbs.on_open)
            xs->cbs.on_open(xs->arg, &x->e, xs->content_ns);
        return;
    }
    if (xs->depth == 2) {
        xs->root = x;
    } else {
        struct xnode *parent = xs->cur;
        x->e.parent = &parent->e;
        if (parent->last_child)
            parent->last_child->e.next = &x->e;
        else
            parent->e.children = &x->e;
        parent->last_child = x;
    }
    xs->cur = x;
}

static void finish_text(struct xnode *x)
{
    if (x->text) {
        x->text[x->tlen] = '\0';
        x->e.text = x->text;
        x->e.text_len = x->tlen;
    }
}

static void on_end(void *ud, const XML_Char *name)
{
    struct xml_stream *xs = ud;
    if (xs->failed || xs->stopped)
        return;
    note_event_end(xs);
    if (xs->depth == 1) {
        xs->depth = 0;
        if (xs->cbs.on_close)
            xs->cbs.on_close(xs->arg);
        return;
    }
    struct xnode *x = xs->cur;
    finish_text(x);
    xs->depth--;
    if (xs->depth > 1) {
        xs->cur = (struct xnode *)x->e.parent;
        return;
    }
    /* a top-level element is complete */
    xs->cur = NULL;
    xs->root = NULL;
    xs->mark = xs->last_end;
    if (xs->cbs.on_element)
        xs->cbs.on_element(xs->arg, &x->e);
    xnode_free(x);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_stream *xs = ud;
    if (xs->failed || xs->stopped || len <= 0)
        return;
    if (too_big(xs))
        return;
    if (xs->depth <= 1) {
        /* between elements only whitespace (keepalives) is allowed */
        for (int i = 0; i < len; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                fail(xs, "not-well-formed", "text outside any element");
                return;
            }
        note_event_end(xs);
        xs->mark = xs->last_end;
        return;
    }
    struct xnode *x = xs->cur;
    if (x->tlen + (size_t)len + 1 > x->tcap) {
        size_t cap = x->tcap ? x->tcap : 64;
        while (cap < x->tlen + (size_t)len + 1)
            cap *= 2;
        char *t = realloc(x->text, cap);
        if (!t) {
            fail(xs, "internal-server-error", "out of memory");
            return;
        }
        x->text = t;
        x->tcap = cap;
    }
    memcpy(x->text + x->tlen, s, (size_t)len);
    x->tlen += (size_t)len;
}

static void on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xml_stream *xs = ud;
    if (xs->depth == 0 && !prefix)
        snprintf(xs->content_ns, sizeof(xs->content_ns), "%s", uri ? uri : "");
}

static void on_comment(void *ud, const XML_Char *data)
{
    fail(ud, "restricted-xml", "XML comment");
}
static void on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    fail(ud, "restricted-xml", "XML processing instruction");
}
static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    fail(ud, "restricted-xml", "document type declaration");
}
static void on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                           int value_len, const XML_Char *base, const XML_Char *sysid,
                           const XML_Char *pubid, const XML_Char *notation)
{
    fail(ud, "restricted-xml", "entity declaration");
}

struct xml_stream *xml_stream_new(size_t max, const struct xml_stream_cbs *cbs, void *arg)
{
    struct xml_stream *xs = calloc(1, sizeof(*xs));
    if (!xs)
        return NULL;
    xs->p = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!xs->p) {
        free(xs);
        return NULL;
    }
    xs->cbs = *cbs;
    xs->arg = arg;
    xs->max = max;
    XML_SetUserData(xs->p, xs);
    XML_SetElementHandler(xs->p, on_start, on_end);
    XML_SetCharacterDataHandler(xs->p, on_text);
    XML_SetStartNamespaceDeclHandler(xs->p, on_ns_decl);
    XML_SetCommentHandler(xs->p, on_comment);
    XML_SetProcessingInstructionHandler(xs->p, on_pi);
    XML_SetStartDoctypeDeclHandler(xs->p, on_doctype);
    XML_SetEntityDeclHandler(xs->p, on_entity_decl);
    XML_SetParamEntityParsing(xs->p, XML_PARAM_ENTITY_PARSING_NEVER);
    /* Debian 12's expat (2.5.0+deb12u1 on, the CVE-2023-52425 backport)
     * defers reparsing a token until enough more data arrives: an XMPP
     * stanza split over two reads would then wait for the peer's next
     * bytes, maybe forever. A stream is interactive: parse what we have. */
    XML_SetReparseDeferralEnabled(xs->p, XML_FALSE);
    return xs;
}

void xml_stream_free(struct xml_stream *xs)
{
    if (!xs)
        return;
    XML_ParserFree(xs->p);
    xnode_free(xs->root);
    xnode_free(xs->header);
    free(xs);
}

void xml_stream_stop(struct xml_stream *xs)
{
    if (xs->stopped || xs->failed)
        return;
    xs->stopped = true;
    XML_StopParser(xs->p, XML_FALSE);
}

enum xml_stream_status xml_stream_feed(struct xml_stream *xs, const char *data, size_t len,
                                       size_t *consumed)
{
    *consumed = 0;
    if (xs->failed)
        return XS_ERROR;
    if (xs->stopped)
        return XS_STOPPED;
    /* expat takes an int length: feed in bounded pieces */
    while (len > 0) {
        int piece = len > (1u << 20) ? (1 << 20) : (int)len;
        xs->feed_base = xs->fed;
        enum XML_Status st = XML_Parse(xs->p, data, piece, XML_FALSE);
        if (xs->failed)
            return XS_ERROR;
        if (xs->stopped) {
            unsigned long long used =
                xs->last_end > xs->feed_base ? xs->last_end - xs->feed_base : 0;
            if (used > (unsigned long long)piece)
                used = (unsigned long long)piece;
            *consumed += (size_t)used;
            return XS_STOPPED;
        }
        if (st != XML_STATUS_OK) {
            xs->failed = true;
            xs->cond = "not-well-formed";
            snprintf(xs->text, sizeof(xs->text), "%s at line %lu column %lu",
                     XML_ErrorString(XML_GetErrorCode(xs->p)),
                     (unsigned long)XML_GetCurrentLineNumber(xs->p),
                     (unsigned long)XML_GetCurrentColumnNumber(xs->p));
            return XS_ERROR;
        }
        xs->fed += (unsigned long long)piece;
        *consumed += (size_t)piece;
        data += piece;
        len -= (size_t)piece;
        /* what expat holds back (an unfinished tag) or an element still open */
        if (xs->fed - xs->mark > xs->max) {
            xs->failed = true;
            xs->cond = "policy-violation";
            snprintf(xs->text, sizeof(xs->text), "%s larger than the stanza size limit (%zu bytes)",
                     xs->depth >= 2 ? "element" : "stream header or data", xs->max);
            return XS_ERROR;
        }
    }
    return XS_OK;
}

const char *xml_stream_error(const struct xml_stream *xs, const char **text)
{
    if (text)
        *text = xs->text;
    return xs->cond ? xs->cond : "undefined-condition";
}
