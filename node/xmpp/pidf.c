/* pidf.c -- PIDF documents to and from the gateway's presence model (see
 * pidf.h). Writing is a template; reading is one expat pass with
 * namespaces, looking only at <basic/>, <note/> and RPID <activities/>. */
#include "xmpp/pidf.h"

#include <expat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NS_PIDF "urn:ietf:params:xml:ns:pidf"
#define NS_DM "urn:ietf:params:xml:ns:pidf:data-model"
#define NS_RPID "urn:ietf:params:xml:ns:pidf:rpid"
#define NS_SEP '|'

/* ---- writing ---- */

/* XML-escape s into out (at most cap, NUL-terminated); length or -1. */
static int esc(char *out, size_t cap, const char *s)
{
    size_t k = 0;
    for (; *s; s++) {
        const char *r = NULL;
        switch (*s) {
        case '<':
            r = "&lt;";
            break;
        case '>':
            r = "&gt;";
            break;
        case '&':
            r = "&amp;";
            break;
        case '"':
            r = "&quot;";
            break;
        case '\'':
            r = "&apos;";
            break;
        default:
            break;
        }
        size_t n = r ? strlen(r) : 1;
        if (k + n >= cap)
            return -1;
        if (r)
            memcpy(out + k, r, n);
        else
            out[k] = *s;
        k += n;
    }
    if (cap == 0)
        return -1;
    out[k] = '\0';
    return (int)k;
}

/* The RPID activity written for a show, or NULL. */
static const char *activity_of(enum gw_show s)
{
    switch (s) {
    case GW_SHOW_AWAY:
        return "away";
    case GW_SHOW_XA:
        return "permanent-absence";
    case GW_SHOW_DND:
        return "busy";
    default:
        return NULL;
    }
}

size_t pidf_build(char *out, size_t cap, const char *entity, const struct gw_presence *p)
{
    char ent[3 * 512], note[6 * GW_NOTE_MAX + 1];
    if (esc(ent, sizeof(ent), entity) < 0 || esc(note, sizeof(note), p->note) < 0)
        return 0;
    const char *act = p->open ? activity_of(p->show) : NULL;
    char person[700] = "";
    if (act || note[0]) {
        int k = snprintf(person, sizeof(person), "<dm:person id=\"p1\">");
        if (act)
            k += snprintf(person + k, sizeof(person) - (size_t)k,
                          "<rpid:activities><rpid:%s/></rpid:activities>", act);
        snprintf(person + k, sizeof(person) - (size_t)k, "</dm:person>");
    }
    int n = snprintf(out, cap,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                     "<presence xmlns=\"" NS_PIDF "\" xmlns:dm=\"" NS_DM "\" xmlns:rpid=\"" NS_RPID
                     "\" entity=\"pres:%s\">\r\n"
                     "<tuple id=\"xmpp\"><status><basic>%s</basic></status>%s%s%s</tuple>\r\n"
                     "%s%s"
                     "</presence>\r\n",
                     ent, p->open ? "open" : "closed", note[0] ? "<note>" : "", note,
                     note[0] ? "</note>" : "", person, person[0] ? "\r\n" : "");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* ---- reading ---- */

enum { IN_NONE = 0, IN_BASIC, IN_NOTE };

struct rd {
    XML_Parser xp;
    int depth;
    bool root_ok, bad;
    bool open;
    enum gw_show show;
    bool have_show;
    int in;       /* collecting text of <basic/> or <note/> */
    int in_depth; /* depth of that element */
    bool in_activities;
    char text[GW_NOTE_MAX];
    size_t text_len;
    bool have_note;
    char note[GW_NOTE_MAX];
};

static bool name_is(const char *qname, const char *ns, const char *local)
{
    size_t nl = strlen(ns);
    return strncmp(qname, ns, nl) == 0 && qname[nl] == NS_SEP && strcmp(qname + nl + 1, local) == 0;
}

static const char *local_of(const char *qname, const char *ns)
{
    size_t nl = strlen(ns);
    return strncmp(qname, ns, nl) == 0 && qname[nl] == NS_SEP ? qname + nl + 1 : NULL;
}

/* RPID activity -> show (gateway_map.h); GW_SHOW_NONE for the others. */
static enum gw_show show_of_activity(const char *a)
{
    static const char *const away[] = {"away",    "appointment", "breakfast", "dinner",
                                       "holiday", "lunch",       "meal",      "sleeping",
                                       "travel",  "shopping",    "steering",  NULL};
    static const char *const xa[] = {"permanent-absence", "vacation", NULL};
    static const char *const dnd[] = {"busy",         "on-the-phone", "meeting", "performance",
                                      "presentation", "in-transit",   "worship", "playing",
                                      "spectator",    "working",      NULL};
    for (int i = 0; away[i]; i++)
        if (strcmp(a, away[i]) == 0)
            return GW_SHOW_AWAY;
    for (int i = 0; xa[i]; i++)
        if (strcmp(a, xa[i]) == 0)
            return GW_SHOW_XA;
    for (int i = 0; dnd[i]; i++)
        if (strcmp(a, dnd[i]) == 0)
            return GW_SHOW_DND;
    return GW_SHOW_NONE;
}

static void on_start(void *arg, const char *name, const char **attrs)
{
    struct rd *r = arg;
    r->depth++;
    if (r->depth == 1) {
        r->root_ok = name_is(name, NS_PIDF, "presence");
        return;
    }
    if (r->in)
        return; /* markup inside <basic/> or <note/>: only its text counts */
    if (name_is(name, NS_PIDF, "basic")) {
        r->in = IN_BASIC;
    } else if (!r->have_note && (name_is(name, NS_PIDF, "note") || name_is(name, NS_DM, "note"))) {
        r->in = IN_NOTE;
    } else if (name_is(name, NS_RPID, "activities")) {
        r->in_activities = true;
        return;
    } else {
        const char *a = r->in_activities ? local_of(name, NS_RPID) : NULL;
        if (a && !r->have_show) {
            enum gw_show s = show_of_activity(a);
            if (s != GW_SHOW_NONE) {
                r->show = s;
                r->have_show = true;
            }
        }
        return;
    }
    r->in_depth = r->depth;
    r->text_len = 0;
}

static void trim_copy(char *dst, size_t cap, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        len--;
    }
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (len >= cap) {
        len = cap - 1;
        /* do not cut a UTF-8 sequence in two: s[len] is still inside s here */
        while (len && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

static void on_end(void *arg, const char *name)
{
    struct rd *r = arg;
    if (r->in && r->depth == r->in_depth) {
        char v[GW_NOTE_MAX];
        trim_copy(v, sizeof(v), r->text, r->text_len);
        if (r->in == IN_BASIC && strcmp(v, "open") == 0)
            r->open = true;
        if (r->in == IN_NOTE && v[0] && !r->have_note) {
            snprintf(r->note, sizeof(r->note), "%s", v);
            r->have_note = true;
        }
        r->in = IN_NONE;
    }
    if (name_is(name, NS_RPID, "activities"))
        r->in_activities = false;
    r->depth--;
}

static void on_text(void *arg, const char *s, int len)
{
    struct rd *r = arg;
    if (!r->in || len <= 0)
        return;
    size_t room = sizeof(r->text) - r->text_len;
    size_t n = (size_t)len < room ? (size_t)len : room;
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
}

static void on_entity_decl(void *arg, const XML_Char *name, int is_param, const XML_Char *value,
                           int value_len, const XML_Char *base, const XML_Char *system_id,
                           const XML_Char *public_id, const XML_Char *notation)
{
    struct rd *r = arg;
    r->bad = true;
    XML_StopParser(r->xp, XML_FALSE); /* no entity expansion games */
}

int pidf_parse(const char *body, size_t len, struct gw_presence *out)
{
    memset(out, 0, sizeof(*out));
    if (len > 1024 * 1024)
        return -1;
    struct rd r = {0};
    r.xp = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!r.xp)
        return -1;
    XML_SetUserData(r.xp, &r);
    XML_SetElementHandler(r.xp, on_start, on_end);
    XML_SetCharacterDataHandler(r.xp, on_text);
    XML_SetEntityDeclHandler(r.xp, on_entity_decl);
    XML_SetParamEntityParsing(r.xp, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st = XML_Parse(r.xp, body, (int)len, XML_TRUE);
    XML_ParserFree(r.xp);
    if (st != XML_STATUS_OK || r.bad || !r.root_ok)
        return -1;
    out->open = r.open;
    out->show = r.open ? r.show : GW_SHOW_NONE;
    snprintf(out->note, sizeof(out->note), "%s", r.note);
    return 0;
}
