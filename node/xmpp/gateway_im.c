/* gateway_im.c -- one-to-one instant messages between XMPP and SIP (RFC
 * 7572): <message/> <-> MESSAGE, addresses per RFC 7247, <body/> <-> a
 * text/plain body, <thread/> <-> Call-ID, <subject/> <-> Subject, xml:lang
 * <-> Content-Language, the stanza id <-> the SIP transaction, and errors
 * both ways (gateway_map.h). Groupchat is refused, as Lync did.
 *
 * XMPP acknowledges nothing, so a MESSAGE toward XMPP is answered by what
 * comes back for its stanza id: an error stanza (mapped), a send failure
 * (mapped), a XEP-0184 receipt (200, we ask for one), or, after
 * GW_MESSAGE_WAIT_MS of silence, 202 Accepted (taken, delivery unknown). A
 * SIP 200 to a message from XMPP becomes a receipt when the sender asked.
 *
 * A <message/> from XMPP goes inside the IM session joining the two users
 * when there is one, opens one when the internal user takes sessions (a
 * Lync client), else goes page mode (gateway_session.c decides and holds
 * the sessions); chat states alone (<composing/>, <paused/>) become Lync's
 * typing INFO inside a session, and are dropped without one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool_keys.h"
#include "redis.h"
#include "xmpp/gateway_int.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_RECEIPTS "urn:xmpp:receipts"
#define NS_CLIENT_SERVER "jabber:server"

/* ---- shared ---- */

/* The defined condition inside a stanza's <error/>, or NULL. */
static const char *error_condition(const struct xmpp_elem *root)
{
    const struct xmpp_elem *e = xmpp_elem_child(root, "error", NULL);
    for (const struct xmpp_elem *c = e ? e->children : NULL; c; c = c->next)
        if (strcmp(c->ns, NS_STANZAS) == 0 && strcmp(c->name, "text") != 0)
            return c->name;
    return e ? "undefined-condition" : NULL;
}

/* "user@host" of a SIP URI into out; false when it has no user. */
bool gw_uri_aor(struct slice uri, char *out, size_t cap)
{
    struct sip_uri u;
    if (sip_uri_parse(uri, &u) < 0 || !u.user.len || !u.host.len)
        return false;
    int k = snprintf(out, cap, "%.*s@%.*s", SLICE_FMT(u.user), SLICE_FMT(u.host));
    for (int i = (int)u.user.len + 1; i < k && (size_t)i < cap; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
    return k > 0 && (size_t)k < cap;
}

/* ---- SIP -> XMPP ---- */

struct gw_msg {
    struct node *node;
    char id[64];
    uint64_t conn_id;
    char *req; /* the MESSAGE as received, answered later */
    size_t req_len;
    char tag[40];
    struct event *timer;
};

static void msg_free(struct gw_msg *q)
{
    if (!q->node->gateway->closing)
        hmap_del(&q->node->gateway->msgs, q->id, strlen(q->id));
    if (q->timer)
        event_free(q->timer);
    free(q->req);
    free(q);
}

/* Answer the MESSAGE q holds and forget it. */
static void msg_answer(struct gw_msg *q, int status, const char *reason)
{
    struct node *n = q->node;
    struct conn *c = conn_by_id(n, q->conn_id);
    struct sip_msg m;
    if (c && sip_msg_parse(&m, q->req, q->req_len, &n->limits) == SIP_OK) {
        gw_sip_reply(n, c, &m, status, reason, q->tag, NULL);
        LOG_INFO("xmpp-gw", "MESSAGE from %.*s to %.*s answered %d %s", SLICE_FMT(m.from_uri),
                 SLICE_FMT(m.ruri), status, reason);
    } else {
        LOG_INFO("xmpp-gw", "MESSAGE (stanza %s) answer %d lost: its connection is gone", q->id,
                 status);
    }
    if (status >= 300)
        n->gateway->stats.message_errors++;
    msg_free(q);
}

static void msg_timeout(evutil_socket_t fd, short what, void *arg)
{
    /* no error, no receipt: taken by the XMPP side, delivery unknown */
    msg_answer(arg, 202, "Accepted");
}

bool gw_im_on_answer(struct node *n, const char *id, int sip_status, const char *reason)
{
    struct gw_msg *q = n->gateway ? hmap_get(&n->gateway->msgs, id, strlen(id)) : NULL;
    if (!q)
        return false;
    msg_answer(q, sip_status, reason);
    return true;
}

/* ---- answers arriving at another node ----
 *
 * A partner's server may send the receipt or error of a stanza over its own
 * stream, which reached any node of the pool: the node that got it and holds
 * no MESSAGE for the id publishes it on ep:<pool>:xanswer, and the node that
 * holds it answers (the ids carry their node's prefix). Without a pool, or
 * with Redis away, the holder answers 202 after GW_MESSAGE_WAIT_MS as
 * before. */

static void on_pool_answer(void *arg, const char *channel, const char *payload, size_t len)
{
    struct node *n = arg;
    if (!n->gateway || n->gateway->closing)
        return;
    char buf[400], id[128], reason[200] = "";
    int status = 0;
    snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), payload);
    if (sscanf(buf, "%127s %d %199[^\n]", id, &status, reason) < 2 || status < 200 || status > 699)
        return;
    if (gw_im_on_answer(n, id, status, reason[0] ? reason : "OK"))
        LOG_DEBUG("xmpp-gw", "answer %d to stanza %s came through another node (%s)", status, id,
                  channel);
}

int gw_im_pool_start(struct node *n)
{
    if (!n->pool)
        return 0;
    char chan[200];
    snprintf(chan, sizeof(chan), EP_CHAN_XANSWER, n->pool->name);
    return redis_subscribe(n->pool->redis, chan, on_pool_answer, n);
}

/* The answer to stanza id is not ours: tell the pool (whoever holds it). */
static void answer_elsewhere(struct node *n, const char *id, int status, const char *reason)
{
    if (!n->pool || !id || !*id || strlen(id) > 120 || strchr(id, ' '))
        return;
    char chan[200], payload[400];
    snprintf(chan, sizeof(chan), EP_CHAN_XANSWER, n->pool->name);
    snprintf(payload, sizeof(payload), "%s %d %s", id, status, reason);
    pool_write(n->pool, "PUBLISH %s %s", chan, payload);
}

/* text/plain (charset UTF-8 or US-ASCII, or none) */
bool gw_is_text_plain(const struct sip_msg *m)
{
    char ct[200];
    if (!gw_hdr_value(m, SIP_HDR_CONTENT_TYPE, NULL, ct, sizeof(ct)))
        return m->body.len == 0;
    char *semi = strchr(ct, ';');
    char *params = semi ? semi + 1 : NULL;
    if (semi)
        *semi = '\0';
    struct slice t = slice_trim(slice_cstr(ct));
    if (!slice_eq_cstr_ci(t, "text/plain"))
        return false;
    for (char *p = params; p && *p;) {
        char *next = strchr(p, ';');
        if (next)
            *next++ = '\0';
        struct slice kv = slice_trim(slice_cstr(p));
        if (kv.len > 8 && strncasecmp(kv.p, "charset=", 8) == 0) {
            struct slice cs = slice_from(kv.p + 8, kv.len - 8);
            if (cs.len >= 2 && cs.p[0] == '"') {
                cs.p++;
                cs.len -= 2;
            }
            if (!slice_eq_cstr_ci(cs, "utf-8") && !slice_eq_cstr_ci(cs, "us-ascii"))
                return false;
        }
        p = next;
    }
    return true;
}

/* UTF-8 that XML 1.0 can carry (no C0 controls but tab, CR, LF; no
 * overlongs, surrogates or values past U+10FFFF). */
bool gw_xml_text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return false;
            p++;
            continue;
        }
        int k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : -1;
        if (k < 0 || c > 0xF4 || end - p <= k)
            return false;
        unsigned cp = c & (0x3F >> k);
        for (int i = 1; i <= k; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
            return false;
        p += k + 1;
    }
    return true;
}

/* xmpp_escape into a fresh heap string (NULL on allocation failure). */
char *gw_esc_dup(const char *s, size_t len)
{
    size_t need = xmpp_escape(NULL, 0, s, len);
    char *out = malloc(need + 1);
    if (out)
        xmpp_escape(out, need + 1, s, len);
    return out;
}

void gw_answer_send_error(struct node *n, struct conn *c, const struct sip_msg *m, int rc)
{
    switch (rc) {
    case XMPP_SEND_OFF:
        gw_sip_reply(n, c, m, 503, "Service Unavailable (XMPP federation not running)", NULL, NULL);
        return;
    case XMPP_SEND_POLICY:
    case XMPP_SEND_FROM:
        gw_sip_reply(n, c, m, 403, "Forbidden (XMPP policy)", NULL, NULL);
        return;
    case XMPP_SEND_TOOBIG:
        gw_sip_reply(n, c, m, 513, "Message Too Large", NULL, NULL);
        return;
    case XMPP_SEND_QUEUE: {
        char ra[64];
        snprintf(ra, sizeof(ra), "Retry-After: %d\r\n", n->cfg.retry_after_s);
        gw_sip_reply(n, c, m, 503, "Service Unavailable (XMPP queue full)", NULL, ra);
        return;
    }
    default:
        gw_sip_reply(n, c, m, 500, "Server Internal Error (XMPP gateway)", NULL, NULL);
        return;
    }
}

void gw_im_from_sip(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct xmpp_gateway *g = n->gateway;
    if (m->to_tag.len) { /* in a dialog: an IM session's (gateway_session.c) */
        gw_sess_in_dialog(n, c, m);
        return;
    }
    if (!gw_is_text_plain(m)) {
        gw_sip_reply(n, c, m, 415, "Unsupported Media Type", NULL, "Accept: text/plain\r\n");
        return;
    }
    if (!gw_xml_text_ok(m->body.p, m->body.len)) {
        gw_sip_reply(n, c, m, 400, "Bad Request (body is not UTF-8 text)", NULL, NULL);
        return;
    }
    char from_aor[GW_ADDR_MAX], from_jid[GW_ADDR_MAX], to_jid[GW_ADDR_MAX];
    if (!gw_uri_aor(m->from_uri, from_aor, sizeof(from_aor)) ||
        gw_uri_to_jid(m->from_uri, from_jid, sizeof(from_jid)) < 0) {
        gw_sip_reply(n, c, m, 403, "Forbidden (From is not a user of ours)", NULL, NULL);
        return;
    }
    if (gw_uri_to_jid(m->ruri, to_jid, sizeof(to_jid)) < 0) {
        gw_sip_reply(n, c, m, 404, "Not Found (no XMPP address for the Request-URI)", NULL, NULL);
        return;
    }
    const char *why;
    int st = gw_policy_check(n, from_aor, gw_addr_domain(slice_cstr(to_jid)), &why);
    if (st) {
        LOG_INFO("xmpp-gw", "MESSAGE from %s to %s refused %d: %s", from_aor, to_jid,
                 st == 404 ? 403 : st, why);
        if (st == 404) /* the From domain is not ours */
            gw_sip_reply(n, c, m, 403, "Forbidden (From domain is not ours)", NULL, NULL);
        else
            gw_sip_reply(n, c, m, st, why, NULL, NULL);
        return;
    }
    char id[64], lang[64] = "", subject[400] = "", attr_lang[100] = "", subj[1300] = "";
    gw_token(g, "m", id, sizeof(id));
    if (gw_hdr_value(m, SIP_HDR_OTHER, "Content-Language", lang, sizeof(lang)) && lang[0]) {
        char *comma = strchr(lang, ',');
        if (comma)
            *comma = '\0';
        char e[80];
        gw_esc(e, sizeof(e), slice_trim(slice_cstr(lang)).p);
        snprintf(attr_lang, sizeof(attr_lang), " xml:lang='%s'", e);
    }
    if (gw_hdr_value(m, SIP_HDR_OTHER, "Subject", subject, sizeof(subject)) && subject[0]) {
        char e[1200];
        gw_esc(e, sizeof(e), subject);
        snprintf(subj, sizeof(subj), "<subject>%s</subject>", e);
    }
    char ef[GW_ADDR_MAX * 2], et[GW_ADDR_MAX * 2], cid[800];
    gw_esc(ef, sizeof(ef), from_jid);
    gw_esc(et, sizeof(et), to_jid);
    char *callid = slice_dup(m->call_id);
    char *body = gw_esc_dup(m->body.p, m->body.len);
    if (!callid || !body) {
        free(callid);
        free(body);
        gw_sip_reply(n, c, m, 503, "Service Unavailable (out of memory)", NULL, NULL);
        return;
    }
    gw_esc(cid, sizeof(cid), callid);
    free(callid);
    char *xml = NULL;
    int k = asprintf(&xml,
                     "<message from='%s' to='%s' type='chat' id='%s'%s><body>%s</body>"
                     "<thread>%s</thread>%s<request xmlns='" NS_RECEIPTS "'/></message>",
                     ef, et, id, attr_lang, body, cid, subj);
    free(body);
    if (k < 0) {
        gw_sip_reply(n, c, m, 503, "Service Unavailable (out of memory)", NULL, NULL);
        return;
    }
    struct gw_msg *q = calloc(1, sizeof(*q));
    if (q) {
        q->node = n;
        snprintf(q->id, sizeof(q->id), "%s", id);
        q->conn_id = c->id;
        q->req = malloc(m->raw.len);
        q->req_len = m->raw.len;
        q->timer = evtimer_new(n->base, msg_timeout, q);
        gw_token(g, "t", q->tag, sizeof(q->tag));
    }
    if (!q || !q->req || !q->timer || hmap_put(&g->msgs, q->id, strlen(q->id), q) < 0) {
        if (q)
            msg_free(q); /* not in the map: deleting its id there finds nothing */
        free(xml);
        gw_sip_reply(n, c, m, 503, "Service Unavailable (out of memory)", NULL, NULL);
        return;
    }
    memcpy(q->req, m->raw.p, m->raw.len);
    int rc = gw_send(n, from_jid, to_jid, xml, (size_t)k);
    free(xml);
    if (rc < 0) {
        msg_free(q);
        gw_answer_send_error(n, c, m, rc);
        return;
    }
    g->stats.messages_to_xmpp++;
    LOG_INFO("xmpp-gw", "MESSAGE from %s to %s sent as <message/> %s", from_aor, to_jid, id);
    struct timeval tv = {GW_MESSAGE_WAIT_MS / 1000, (GW_MESSAGE_WAIT_MS % 1000) * 1000};
    evtimer_add(q->timer, &tv);
}

static void free_msg(void *arg, const char *key, void *value)
{
    msg_free(value);
}

void gw_im_free_all(struct xmpp_gateway *g)
{
    hmap_each(&g->msgs, free_msg, NULL); /* g->closing: msg_free leaves the map alone */
}

/* ---- XMPP -> SIP ---- */

struct im_back {
    char from[GW_ADDR_MAX * 2]; /* the XMPP sender, full JID: errors and receipts go there */
    char to[GW_ADDR_MAX];       /* our user's JID (from of what we send back) */
    char id[256];               /* the stanza's id, "" when none */
    bool receipt;               /* the sender asked for a XEP-0184 receipt */
    bool in_sess;               /* sent inside sess's dialog (an IM session) */
    struct gw_sess sess;
};

static void im_sent(struct node *n, void *arg, int status, const struct sip_msg *resp)
{
    struct im_back *b = arg;
    if (b->in_sess && (status == 481 || (status == 408 && !resp))) {
        LOG_INFO("xmpp-gw", "IM session %s between %s and %s is gone (%d): forgotten",
                 b->sess.call_id, b->sess.sip, b->sess.xmpp, status);
        gw_sess_forget(n, &b->sess);
    }
    if (status >= 200 && status < 300) {
        if (!b->receipt || !b->id[0])
            return;
        char ef[GW_ADDR_MAX * 2], et[GW_ADDR_MAX * 4], eid[600], rid[64], xml[3000];
        gw_esc(ef, sizeof(ef), b->to);
        gw_esc(et, sizeof(et), b->from);
        gw_esc(eid, sizeof(eid), b->id);
        gw_token(n->gateway, "r", rid, sizeof(rid));
        int k = snprintf(xml, sizeof(xml),
                         "<message from='%s' to='%s' id='%s'><received xmlns='" NS_RECEIPTS
                         "' id='%s'/></message>",
                         ef, et, rid, eid);
        if (k > 0 && (size_t)k < sizeof(xml))
            gw_send(n, b->to, b->from, xml, (size_t)k);
        return;
    }
    const char *type;
    const char *cond = gw_err_sip_to_xmpp(status, &type);
    char text[200];
    if (resp)
        snprintf(text, sizeof(text), "SIP %d %.*s", status, SLICE_FMT(resp->reason));
    else
        snprintf(text, sizeof(text), "SIP %d (%s)", status,
                 status == 408 ? "no answer from the internal side" : "internal side unreachable");
    LOG_INFO("xmpp-gw", "<message/> %s from %s to %s: %s, answered <%s/>", b->id[0] ? b->id : "-",
             b->from, b->to, text, cond);
    n->gateway->stats.message_errors++;
    gw_send_error(n, "message", b->to, b->from, b->id[0] ? b->id : NULL, cond, text);
}

/* ---- XMPP chat states -> typing in an IM session ---- */

#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

struct typing_ctx {
    bool composing;
    char from[GW_ADDR_MAX]; /* for logs */
};

static void typing_sent(struct node *n, void *arg, int status, const struct sip_msg *resp)
{
    struct gw_sess *s = arg;
    if (status == 481 || (status == 408 && !resp)) {
        LOG_INFO("xmpp-gw", "IM session %s between %s and %s is gone (%d): forgotten", s->call_id,
                 s->sip, s->xmpp, status);
        gw_sess_forget(n, s);
    }
}

static void typing_route(struct node *n, void *arg, struct gw_sess *s, bool sessions)
{
    struct typing_ctx *t = arg;
    struct gw_sess *copy = s && n->gateway && !n->gateway->closing ? malloc(sizeof(*copy)) : NULL;
    if (copy) {
        /* Lync's own typing notification: INFO application/xml KeyboardActivity */
        char hdrs[2500], body[200];
        *copy = *s;
        gw_sess_dialog_hdrs(s, "INFO", hdrs, sizeof(hdrs));
        int k = snprintf(body, sizeof(body),
                         "<?xml version=\"1.0\"?>\r\n<KeyboardActivity>\r\n  <status "
                         "status=\"%s\" />\r\n</KeyboardActivity>\r\n",
                         t->composing ? "type" : "idle");
        if (gw_sip_request(n, "INFO", s->target, hdrs, "application/xml", body, (size_t)k,
                           typing_sent, copy, free) < 0)
            free(copy);
        else
            LOG_INFO("xmpp-gw", "%s %s -> INFO KeyboardActivity in IM session %s", t->from,
                     t->composing ? "composing" : "paused", s->call_id);
    }
    free(t);
}

/* <composing/>, <paused/>, <active/> alone from an XMPP user: typing news
 * for the internal user when an IM session joins the two (page mode has no
 * place for it); dropped otherwise. */
static void typing_from_xmpp(struct node *n, const struct xmpp_stanza *st)
{
    bool composing = xmpp_elem_child(st->root, "composing", NS_CHATSTATES) != NULL;
    if (!composing && !xmpp_elem_child(st->root, "paused", NS_CHATSTATES) &&
        !xmpp_elem_child(st->root, "active", NS_CHATSTATES))
        return;
    char from_aor[GW_ADDR_MAX], to_aor[GW_ADDR_MAX];
    const char *why;
    if (gw_jid_to_aor(st->from, strlen(st->from), from_aor, sizeof(from_aor)) < 0 ||
        gw_jid_to_aor(st->to, strlen(st->to), to_aor, sizeof(to_aor)) < 0 ||
        gw_policy_check(n, to_aor, gw_addr_domain(slice_cstr(st->from)), &why) != 0)
        return;
    struct typing_ctx *t = calloc(1, sizeof(*t));
    if (!t)
        return;
    t->composing = composing;
    snprintf(t->from, sizeof(t->from), "%s", from_aor);
    gw_sess_for_reply(n, to_aor, from_aor, typing_route, t);
}

/* The <body/> to carry: the one in the stanza's language (or without
 * xml:lang), else the first. */
static const struct xmpp_elem *pick_body(const struct xmpp_stanza *st, const char **lang)
{
    const struct xmpp_elem *first = NULL;
    for (const struct xmpp_elem *c = st->root->children; c; c = c->next) {
        if (strcmp(c->name, "body") != 0 || strcmp(c->ns, NS_CLIENT_SERVER) != 0)
            continue;
        const char *l = xmpp_elem_attr(c, "xml:lang");
        if (!first)
            first = c;
        if (!l || (st->lang && strcmp(l, st->lang) == 0)) {
            *lang = l ? l : st->lang;
            return c;
        }
    }
    if (first)
        *lang = xmpp_elem_attr(first, "xml:lang");
    return first;
}

/* A <message/> on its way inward while its IM session is looked up. */
struct im_out {
    struct im_back *b; /* handed to gw_sip_request (its free_arg frees it) */
    char from_aor[GW_ADDR_MAX], to_aor[GW_ADDR_MAX], st_id[256];
    char from_jid[GW_ADDR_MAX]; /* the XMPP sender, bare */
    char cid[400];              /* the page-mode Call-ID (from <thread/>) */
    char extra[700];            /* Subject, Content-Language lines */
    char trust[600];
    char *body;
    size_t body_len;
};

static void im_out_free(struct im_out *o)
{
    free(o->b);
    free(o->body);
    free(o);
}

/* Send o's MESSAGE inside s's dialog, or page mode (s NULL); frees o. */
static void im_send(struct node *n, struct im_out *o, const struct gw_sess *s)
{
    struct xmpp_gateway *g = n->gateway;
    struct im_back *b = o->b;
    char hdrs[4000], ruri[GW_ADDR_MAX + 8];
    if (s) {
        char dh[2500];
        b->in_sess = true;
        b->sess = *s;
        gw_sess_dialog_hdrs(s, "MESSAGE", dh, sizeof(dh));
        snprintf(hdrs, sizeof(hdrs), "%s%s%s", dh, o->extra, o->trust);
        snprintf(ruri, sizeof(ruri), "%s", s->target);
    } else {
        char tag[40];
        gw_token(g, "f", tag, sizeof(tag));
        snprintf(hdrs, sizeof(hdrs),
                 "From: <sip:%s>;tag=%s\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: %u "
                 "MESSAGE\r\n%s%s",
                 o->from_aor, tag, o->to_aor, o->cid, (unsigned)(g->seq & 0xffff) + 1, o->extra,
                 o->trust);
        snprintf(ruri, sizeof(ruri), "sip:%s", o->to_aor);
    }
    if (gw_sip_request(n, "MESSAGE", ruri, hdrs, "text/plain;charset=UTF-8", o->body, o->body_len,
                       im_sent, b, free) < 0) {
        gw_send_error(n, "message", b->to, b->from, b->id[0] ? b->id : NULL, "service-unavailable",
                      "the gateway cannot reach the internal side");
        free(b);
    } else {
        g->stats.messages_to_sip++;
        LOG_INFO("xmpp-gw", "<message/> %s from %s to %s sent as MESSAGE %s%s%s", o->st_id, b->from,
                 b->to, ruri, s ? " in IM session " : "", s ? s->call_id : "");
    }
    free(o->body);
    free(o);
}

/* The session we opened for o (or why not). */
static void im_opened(struct node *n, void *arg, struct gw_sess *s, int status,
                      const struct sip_msg *resp)
{
    struct im_out *o = arg;
    if (!n->gateway || n->gateway->closing) {
        im_out_free(o);
        return;
    }
    if (s) {
        im_send(n, o, s);
        return;
    }
    if (status == 405 || status == 415 || status == 488 || status == 501 || status == 606) {
        /* the internal side takes no IM session: page mode, as before */
        LOG_INFO("xmpp-gw", "<message/> %s from %s to %s: INVITE answered %d, sent page mode",
                 o->st_id, o->b->from, o->b->to, status);
        im_send(n, o, NULL);
        return;
    }
    const char *type;
    const char *cond = gw_err_sip_to_xmpp(status, &type);
    char text[200];
    if (resp)
        snprintf(text, sizeof(text), "SIP %d %.*s", status, SLICE_FMT(resp->reason));
    else
        snprintf(text, sizeof(text), "SIP %d (%s)", status,
                 status == 408 ? "no answer from the internal side" : "internal side unreachable");
    LOG_INFO("xmpp-gw", "<message/> %s from %s to %s: IM session refused (%s), answered <%s/>",
             o->st_id, o->b->from, o->b->to, text, cond);
    n->gateway->stats.message_errors++;
    gw_send_error(n, "message", o->b->to, o->b->from, o->b->id[0] ? o->b->id : NULL, cond, text);
    im_out_free(o);
}

/* Where o goes: the pair's session, a new one, or page mode. */
static void im_route(struct node *n, void *arg, struct gw_sess *s, bool sessions)
{
    struct im_out *o = arg;
    if (!n->gateway || n->gateway->closing) {
        im_out_free(o);
        return;
    }
    if (s || !sessions) {
        im_send(n, o, s);
        return;
    }
    /* the internal user opens IM sessions (a Lync client): Lync shows
     * messages of sessions only, so the XMPP user's first message opens one */
    gw_sess_open(n, o->to_aor, o->b->to, o->from_jid, o->trust, im_opened, o);
}

void gw_im_from_xmpp(struct node *n, const struct xmpp_stanza *st)
{
    struct xmpp_gateway *g = n->gateway;
    const char *type = st->type ? st->type : "normal";
    if (strcmp(type, "error") == 0) {
        const char *cond = error_condition(st->root);
        const char *reason;
        int sip = gw_err_xmpp_to_sip(cond, &reason);
        if (!st->id || !gw_im_on_answer(n, st->id, sip, reason)) {
            LOG_INFO("xmpp-gw",
                     "<message type='error'/> %s from %s (%s): no MESSAGE waits for "
                     "it here%s",
                     st->id ? st->id : "-", st->from, cond ? cond : "?",
                     n->pool ? ": told the pool" : "");
            answer_elsewhere(n, st->id, sip, reason);
        }
        return;
    }
    const struct xmpp_elem *rcv = xmpp_elem_child(st->root, "received", NS_RECEIPTS);
    if (rcv) { /* XEP-0184: delivered to the XMPP user's client */
        const char *rid = xmpp_elem_attr(rcv, "id");
        if (!rid)
            rid = st->id;
        if (rid && !gw_im_on_answer(n, rid, 200, "OK"))
            answer_elsewhere(n, rid, 200, "OK");
    }
    if (strcmp(type, "groupchat") == 0) {
        LOG_INFO("xmpp-gw", "groupchat <message/> from %s to %s refused: one-to-one IM only",
                 st->from, st->to);
        gw_send_error(n, "message", st->to, st->from, st->id, "feature-not-implemented",
                      "the SIP gateway carries one-to-one messages only");
        return;
    }
    const char *lang = NULL;
    const struct xmpp_elem *body = pick_body(st, &lang);
    if (!body) { /* chat states, receipts alone: nothing a page-mode MESSAGE carries */
        typing_from_xmpp(n, st);
        return;
    }
    char from_aor[GW_ADDR_MAX], to_aor[GW_ADDR_MAX];
    if (gw_jid_to_aor(st->from, strlen(st->from), from_aor, sizeof(from_aor)) < 0 ||
        gw_jid_to_aor(st->to, strlen(st->to), to_aor, sizeof(to_aor)) < 0) {
        gw_send_error(n, "message", st->to, st->from, st->id, "jid-malformed", NULL);
        return;
    }
    const char *why;
    int status = gw_policy_check(n, to_aor, gw_addr_domain(slice_cstr(st->from)), &why);
    if (status) {
        const char *etype;
        const char *cond = gw_err_sip_to_xmpp(status, &etype);
        LOG_INFO("xmpp-gw", "<message/> from %s to %s refused (%s): <%s/>", st->from, st->to, why,
                 cond);
        gw_send_error(n, "message", st->to, st->from, st->id, cond, why);
        return;
    }
    struct im_back *b = calloc(1, sizeof(*b));
    if (!b) {
        gw_send_error(n, "message", st->to, st->from, st->id, "resource-constraint", NULL);
        return;
    }
    snprintf(b->from, sizeof(b->from), "%s", st->from);
    /* we answer from the address it was sent to, bare */
    struct xmpp_jid tj;
    if (xmpp_jid_parse(st->to, strlen(st->to), &tj) == 0)
        snprintf(b->to, sizeof(b->to), "%.*s@%.*s", SLICE_FMT(tj.local), SLICE_FMT(tj.domain));
    else
        snprintf(b->to, sizeof(b->to), "%s", st->to);
    snprintf(b->id, sizeof(b->id), "%s", st->id ? st->id : "");
    b->receipt = xmpp_elem_child(st->root, "request", NS_RECEIPTS) != NULL;
    const struct xmpp_elem *thread = xmpp_elem_child(st->root, "thread", NS_CLIENT_SERVER);
    const struct xmpp_elem *subject = xmpp_elem_child(st->root, "subject", NS_CLIENT_SERVER);
    struct im_out *o = calloc(1, sizeof(*o));
    if (o)
        o->body = malloc(body->text_len + 1);
    if (!o || !o->body) {
        if (o)
            free(o);
        free(b);
        gw_send_error(n, "message", st->to, st->from, st->id, "resource-constraint", NULL);
        return;
    }
    memcpy(o->body, body->text, body->text_len);
    o->body_len = body->text_len;
    o->b = b;
    snprintf(o->from_aor, sizeof(o->from_aor), "%s", from_aor);
    snprintf(o->to_aor, sizeof(o->to_aor), "%s", to_aor);
    snprintf(o->st_id, sizeof(o->st_id), "%s", st->id ? st->id : "-");
    struct xmpp_jid fj;
    if (xmpp_jid_parse(st->from, strlen(st->from), &fj) == 0)
        snprintf(o->from_jid, sizeof(o->from_jid), "%.*s@%.*s", SLICE_FMT(fj.local),
                 SLICE_FMT(fj.domain));
    else
        snprintf(o->from_jid, sizeof(o->from_jid), "%s", st->from);
    struct slice fdom = gw_addr_domain(slice_cstr(from_aor));
    char fdomain[300];
    slice_copy(fdom, fdomain, sizeof(fdomain));
    if (!thread || !thread->text[0] ||
        gw_thread_to_call_id(thread->text, fdomain, o->cid, sizeof(o->cid)) < 0) {
        char t[64];
        gw_token(g, "c", t, sizeof(t));
        snprintf(o->cid, sizeof(o->cid), "%s@%s", t, n->cfg.node_fqdn);
    }
    gw_trust_header(n, st->peer_domain, st->partner_type, o->trust, sizeof(o->trust));
    int k = 0;
    if (subject && subject->text[0] && !strpbrk(subject->text, "\r\n"))
        k += snprintf(o->extra + k, sizeof(o->extra) - (size_t)k, "Subject: %.500s\r\n",
                      subject->text);
    if (lang && !strpbrk(lang, "\r\n"))
        snprintf(o->extra + k, sizeof(o->extra) - (size_t)k, "Content-Language: %.60s\r\n", lang);
    /* inside the IM session between the two when there is one (Lync shows
     * it in that conversation); else a new session for users who take them,
     * page mode for the others */
    gw_sess_for_reply(n, to_aor, from_aor, im_route, o);
}
