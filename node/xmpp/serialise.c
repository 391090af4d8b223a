/* serialise.c -- XML text from element trees (xmpp.h, stream.h): escaping,
 * namespace-correct serialisation, and lookups in a tree. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/stream.h"
#include "xmpp/xmpp.h"

void xbuf_add(struct xbuf *b, const char *s, size_t len)
{
    if (b->oom || len == 0)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void xbuf_adds(struct xbuf *b, const char *s)
{
    xbuf_add(b, s, strlen(s));
}

void xbuf_free(struct xbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static const char *entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&apos;";
    default:
        return NULL;
    }
}

void xbuf_add_esc(struct xbuf *b, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *ent = entity(s[i]);
        if (!ent)
            continue;
        xbuf_add(b, s + run, i - run);
        xbuf_adds(b, ent);
        run = i + 1;
    }
    xbuf_add(b, s + run, len - run);
}

size_t xmpp_escape(char *dst, size_t cap, const char *s, size_t len)
{
    size_t need = 0, written = 0;
    bool full = !dst || cap == 0;
    for (size_t i = 0; i < len; i++) {
        const char *ent = entity(s[i]);
        size_t k = ent ? strlen(ent) : 1;
        if (!full && need + k < cap) {
            memcpy(dst + need, ent ? ent : &s[i], k);
            written = need + k;
        } else {
            full = true; /* never half an entity, nor a piece after a gap */
        }
        need += k;
    }
    if (dst && cap)
        dst[written] = '\0';
    return need;
}

static void add_attr(struct xbuf *b, const char *name, const char *value)
{
    xbuf_adds(b, " ");
    xbuf_adds(b, name);
    xbuf_adds(b, "='");
    xbuf_add_esc(b, value, strlen(value));
    xbuf_adds(b, "'");
}

static void serialise(struct xbuf *b, const struct xmpp_elem *e, const char *parent_ns, int depth);

/* default_ns is the default namespace in scope for e's children. */
static void serialise_content(struct xbuf *b, const struct xmpp_elem *e, const char *default_ns,
                              int depth)
{
    xbuf_add_esc(b, e->text, e->text_len);
    for (const struct xmpp_elem *c = e->children; c; c = c->next)
        serialise(b, c, default_ns, depth + 1);
}

/* An element in the XML namespace itself (<xml:foo/>, legal if odd) keeps
 * its reserved prefix: binding that namespace as a default with xmlns is not
 * well-formed (Namespaces in XML 1.0, section 3), and leaves the default
 * namespace in scope as it was. */
static void add_elem_name(struct xbuf *b, const struct xmpp_elem *e)
{
    if (strcmp(e->ns, NS_XML) == 0)
        xbuf_adds(b, "xml:");
    xbuf_adds(b, e->name);
}

static void serialise(struct xbuf *b, const struct xmpp_elem *e, const char *parent_ns, int depth)
{
    const char *in_scope = parent_ns ? parent_ns : "";
    bool xml_ns = strcmp(e->ns, NS_XML) == 0;
    xbuf_adds(b, "<");
    add_elem_name(b, e);
    if (!xml_ns && strcmp(e->ns, in_scope) != 0)
        add_attr(b, "xmlns", e->ns);
    for (size_t i = 0; i < e->n_attrs; i++) {
        const struct xmpp_attr *a = &e->attrs[i];
        if (!a->ns) {
            add_attr(b, a->name, a->value);
        } else if (strcmp(a->ns, NS_XML) == 0) {
            char q[300];
            snprintf(q, sizeof(q), "xml:%s", a->name);
            add_attr(b, q, a->value);
        } else {
            char pfx[40], q[300];
            snprintf(pfx, sizeof(pfx), "xmlns:a%zu", i);
            add_attr(b, pfx, a->ns);
            snprintf(q, sizeof(q), "a%zu:%s", i, a->name);
            add_attr(b, q, a->value);
        }
    }
    if (!e->children && e->text_len == 0) {
        xbuf_adds(b, "/>");
        return;
    }
    xbuf_adds(b, ">");
    serialise_content(b, e, xml_ns ? in_scope : e->ns, depth);
    xbuf_adds(b, "</");
    add_elem_name(b, e);
    xbuf_adds(b, ">");
}

void xmpp_serialise(struct xbuf *b, const struct xmpp_elem *e, const char *parent_ns)
{
    serialise(b, e, parent_ns, 0);
}

void xmpp_serialise_inner(struct xbuf *b, const struct xmpp_elem *e)
{
    serialise_content(b, e, e->ns, 0);
}

const struct xmpp_elem *xmpp_elem_child(const struct xmpp_elem *e, const char *name, const char *ns)
{
    for (const struct xmpp_elem *c = e ? e->children : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0 && (!ns || strcmp(c->ns, ns) == 0))
            return c;
    return NULL;
}

const char *xmpp_elem_attr(const struct xmpp_elem *e, const char *name)
{
    bool xml = strncmp(name, "xml:", 4) == 0;
    if (xml)
        name += 4;
    for (size_t i = 0; e && i < e->n_attrs; i++) {
        const struct xmpp_attr *a = &e->attrs[i];
        if (strcmp(a->name, name) != 0)
            continue;
        if (xml ? (a->ns && strcmp(a->ns, NS_XML) == 0) : !a->ns)
            return a->value;
    }
    return NULL;
}
