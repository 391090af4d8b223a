/* gateway_presence.c -- presence between XMPP and SIP (RFC 7248, updated by
 * RFC 8048): XMPP subscriptions <-> SIP SUBSCRIBE/NOTIFY dialogs with PIDF
 * bodies (pidf.h), both ways.
 *
 * XMPP user watches an internal user (GW_SUB_XMPP, we are the subscriber):
 *   <presence type='subscribe'/>   -> SUBSCRIBE (Event: presence, Expires 3600)
 *   200 / NOTIFY active            -> <presence type='subscribed'/>
 *   NOTIFY with PIDF               -> <presence/> with <show/> and <status/>
 *   NOTIFY terminated              -> unavailable (and unsubscribed if rejected)
 *   SUBSCRIBE refused (403, 404)   -> <presence type='unsubscribed'/>
 *   <presence type='unsubscribe'/> -> SUBSCRIBE Expires: 0
 *   <presence type='probe'/>       -> the last presence seen (or a SUBSCRIBE
 *                                     when we hold none: the roster says yes)
 *   and the SUBSCRIBE is refreshed before it expires, by whichever node
 *   claims it (gateway_subs.c).
 * Internal user watches an XMPP user (GW_SUB_SIP, we are the notifier):
 *   SUBSCRIBE                      -> 200, NOTIFY pending; <presence
 *                                     type='subscribe'/> (a probe when another
 *                                     watcher of ours is already approved)
 *   <presence type='subscribed'/>  -> NOTIFY active
 *   <presence/>, unavailable       -> NOTIFY with PIDF open / closed
 *   <presence type='unsubscribed'/>-> NOTIFY terminated;reason=rejected
 *   SUBSCRIBE refresh              -> 200, NOTIFY with the last presence
 *   SUBSCRIBE Expires: 0           -> 200, NOTIFY terminated; <presence
 *                                     type='unsubscribe'/> when it was the
 *                                     last watcher of that pair
 *   no refresh by Expires          -> NOTIFY terminated;reason=timeout
 * Both directions pass the policy (gw_policy_check) before anything starts;
 * a refusal is 403 inward and a <forbidden/> presence error outward. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "xmpp/gateway_int.h"
#include "xmpp/pidf.h"

#define NS_CLIENT_SERVER "jabber:server"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* ---- names ---- */

/* The canonical forms both directions key subscriptions by: the internal
 * user as an AOR ("alice@contoso.test", lowered), the XMPP user as a bare
 * JID. */
static bool aor_to_jid(const char *aor, char *out, size_t cap)
{
    char uri[GW_ADDR_MAX + 8];
    snprintf(uri, sizeof(uri), "sip:%s", aor);
    return gw_uri_to_jid(slice_cstr(uri), out, cap) > 0;
}

static bool uri_canon(struct slice uri, char *aor, size_t acap, char *jid, size_t jcap)
{
    char j[GW_ADDR_MAX];
    if (gw_uri_to_jid(uri, j, sizeof(j)) < 0 || gw_jid_to_aor(j, strlen(j), aor, acap) < 0)
        return false;
    if (jid)
        snprintf(jid, jcap, "%s", j);
    return true;
}

static bool jid_canon(const char *jid, char *aor, size_t acap, char *bare, size_t bcap)
{
    if (gw_jid_to_aor(jid, strlen(jid), aor, acap) < 0)
        return false;
    return !bare || aor_to_jid(aor, bare, bcap);
}

static uint64_t now_ms(void)
{
    return pool_wall_ms();
}

/* ---- XMPP out ---- */

/* <presence/> from our user (s->sip) to the XMPP user: type NULL with p
 * (availability), or a type alone ("subscribed", "unsubscribed",
 * "unavailable", "subscribe", "unsubscribe", "probe"). */
static void xmpp_presence(struct node *n, const char *sip_aor, const char *xmpp_jid,
                          const char *type, const struct gw_presence *p)
{
    char from[GW_ADDR_MAX], ef[GW_ADDR_MAX * 2], et[GW_ADDR_MAX * 2], id[64], inner[1800] = "";
    if (!aor_to_jid(sip_aor, from, sizeof(from)))
        return;
    gw_esc(ef, sizeof(ef), from);
    gw_esc(et, sizeof(et), xmpp_jid);
    gw_token(n->gateway, "p", id, sizeof(id));
    if (!type && p && !p->open)
        type = "unavailable";
    if (p) {
        int k = 0;
        const char *show = p->open ? gw_show_name(p->show) : NULL;
        if (show)
            k += snprintf(inner + k, sizeof(inner) - (size_t)k, "<show>%s</show>", show);
        if (p->note[0]) {
            char e[6 * GW_NOTE_MAX];
            gw_esc(e, sizeof(e), p->note);
            snprintf(inner + k, sizeof(inner) - (size_t)k, "<status>%s</status>", e);
        }
    }
    char xml[4000], ty[40] = "";
    if (type)
        snprintf(ty, sizeof(ty), " type='%s'", type);
    int k =
        inner[0]
            ? snprintf(xml, sizeof(xml), "<presence from='%s' to='%s' id='%s'%s>%s</presence>", ef,
                       et, id, ty, inner)
            : snprintf(xml, sizeof(xml), "<presence from='%s' to='%s' id='%s'%s/>", ef, et, id, ty);
    if (k <= 0 || (size_t)k >= sizeof(xml))
        return;
    if (gw_send(n, from, xmpp_jid, xml, (size_t)k) == 0) {
        n->gateway->stats.presence_to_xmpp++;
        LOG_INFO("xmpp-gw", "presence %s%s%s from %s to %s",
                 type             ? type
                 : (p && p->open) ? "available"
                                  : "",
                 p && p->open && gw_show_name(p->show) ? "/" : "",
                 p && p->open && gw_show_name(p->show) ? gw_show_name(p->show) : "", from,
                 xmpp_jid);
    }
}

/* ---- SIP out ---- */

static void dialog_headers(struct node *n, const struct gw_sub *s, uint32_t cseq,
                           const char *method, char *out, size_t cap)
{
    char xaor[GW_ADDR_MAX], contact[400], trust[600], route[1100] = "";
    if (gw_jid_to_aor(s->xmpp, strlen(s->xmpp), xaor, sizeof(xaor)) < 0)
        snprintf(xaor, sizeof(xaor), "%s", s->xmpp);
    gw_contact(n, contact, sizeof(contact));
    struct slice dom = gw_addr_domain(slice_cstr(s->xmpp));
    char d[300];
    slice_copy(dom, d, sizeof(d));
    gw_trust_header(n, d, XMPP_FEDERATED, trust, sizeof(trust));
    if (s->route[0])
        snprintf(route, sizeof(route), "Route: %s\r\n", s->route);
    /* the XMPP user is our side of every dialog: From in ours, To theirs */
    snprintf(out, cap,
             "%sFrom: <sip:%s>;tag=%s\r\nTo: <sip:%s>%s%s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n"
             "Contact: %s\r\nEvent: presence\r\n%s",
             route, xaor, s->ltag, s->sip, s->rtag[0] ? ";tag=" : "", s->rtag, s->call_id, cseq,
             method, contact, trust);
}

struct sub_op {
    char call_id[256];
    int expires; /* what we asked for (SUBSCRIBE) */
    bool unsubscribe;
};

static void notify_sent(struct node *n, void *arg, int status, const struct sip_msg *resp);

struct notify_ctx {
    char state[16];
    char reason[24]; /* "" for none */
};

static void notify_go(struct node *n, void *arg, struct gw_sub *s)
{
    struct notify_ctx *x = arg;
    if (!s) {
        free(x);
        return;
    }
    char hdrs[3500], ss[100];
    dialog_headers(n, s, s->cseq, "NOTIFY", hdrs, sizeof(hdrs));
    uint64_t now = now_ms();
    long left = s->expires_ms > now ? (long)((s->expires_ms - now + 999) / 1000) : 0;
    if (strcmp(x->state, "terminated") == 0)
        snprintf(ss, sizeof(ss), "terminated%s%s", x->reason[0] ? ";reason=" : "", x->reason);
    else
        snprintf(ss, sizeof(ss), "%s;expires=%ld", x->state, left);
    free(x);
    size_t hl = strlen(hdrs);
    snprintf(hdrs + hl, sizeof(hdrs) - hl, "Subscription-State: %s\r\n", ss);
    char body[2048];
    struct gw_presence closed = {false, GW_SHOW_NONE, ""};
    size_t blen = pidf_build(body, sizeof(body), s->xmpp, s->have_pres ? &s->pres : &closed);
    struct sub_op *op = calloc(1, sizeof(*op));
    if (!op)
        return;
    snprintf(op->call_id, sizeof(op->call_id), "%s", s->call_id);
    if (gw_sip_request(n, "NOTIFY", s->target, hdrs, blen ? PIDF_CONTENT_TYPE : NULL,
                       blen ? body : NULL, blen, notify_sent, op, free) < 0) {
        free(op);
        return;
    }
    n->gateway->stats.presence_to_sip++;
    LOG_INFO("xmpp-gw", "NOTIFY %s (%s) to %s for %s, CSeq %u", ss,
             s->have_pres ? (s->pres.open ? (gw_show_name(s->pres.show) ? gw_show_name(s->pres.show)
                                                                        : "open")
                                          : "closed")
                          : "unknown",
             s->sip, s->xmpp, s->cseq);
}

/* NOTIFY the internal watcher of s: state "active", "pending" or
 * "terminated" (with reason); PIDF with s->pres (closed when unknown), as s
 * is now (the CSeq may come later, from the pool). */
static void sip_notify(struct node *n, const struct gw_sub *s, const char *state,
                       const char *reason)
{
    struct notify_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        return;
    snprintf(x->state, sizeof(x->state), "%s", state);
    snprintf(x->reason, sizeof(x->reason), "%s", reason ? reason : "");
    gw_sub_next_cseq(n, s, notify_go, x);
}

static void drop_if_same(struct node *n, void *arg, struct gw_sub *s)
{
    if (s) {
        LOG_INFO("xmpp-gw", "subscription %s of %s to %s ended by the watcher's side", s->call_id,
                 s->sip, s->xmpp);
        gw_sub_delete(n, s);
    }
    free(arg);
}

static void notify_sent(struct node *n, void *arg, int status, const struct sip_msg *resp)
{
    struct sub_op *op = arg;
    if (status < 300 || status == 408 || status >= 500)
        return; /* a lost NOTIFY is not a lost subscription */
    /* 481 and the like: the watcher has forgotten the dialog */
    char *id = strdup(op->call_id);
    if (id)
        gw_sub_get(n, id, drop_if_same, id);
}

static void subscribe_sent(struct node *n, void *arg, int status, const struct sip_msg *resp);

static void subscribe_go(struct node *n, void *arg, struct gw_sub *s)
{
    int expires = (int)(intptr_t)arg;
    if (!s)
        return;
    char hdrs[3500];
    dialog_headers(n, s, s->cseq, "SUBSCRIBE", hdrs, sizeof(hdrs));
    size_t hl = strlen(hdrs);
    snprintf(hdrs + hl, sizeof(hdrs) - hl, "Accept: " PIDF_CONTENT_TYPE "\r\nExpires: %d\r\n",
             expires);
    struct sub_op *op = calloc(1, sizeof(*op));
    if (!op)
        return;
    snprintf(op->call_id, sizeof(op->call_id), "%s", s->call_id);
    op->expires = expires;
    op->unsubscribe = expires == 0;
    char ruri[GW_ADDR_MAX + 8];
    if (s->target[0])
        snprintf(ruri, sizeof(ruri), "%s", s->target);
    else
        snprintf(ruri, sizeof(ruri), "sip:%s", s->sip);
    if (gw_sip_request(n, "SUBSCRIBE", ruri, hdrs, NULL, NULL, 0, subscribe_sent, op, free) < 0) {
        free(op);
        return;
    }
    n->gateway->stats.presence_to_sip++;
    LOG_INFO("xmpp-gw", "SUBSCRIBE (Expires %d) to %s for %s, CSeq %u", expires, s->sip, s->xmpp,
             s->cseq);
}

/* SUBSCRIBE for s (GW_SUB_XMPP): out of dialog while s->rtag is empty. */
static void sip_subscribe(struct node *n, const struct gw_sub *s, int expires)
{
    gw_sub_next_cseq(n, s, subscribe_go, (void *)(intptr_t)expires);
}

/* A new subscription of XMPP user xmpp to internal user sip. */
static void start_xmpp_sub(struct node *n, const char *sip, const char *xmpp, bool told)
{
    struct gw_sub *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    char t[64];
    gw_token(n->gateway, "s", t, sizeof(t));
    snprintf(s->call_id, sizeof(s->call_id), "%s@%s", t, n->cfg.node_fqdn);
    s->dir = GW_SUB_XMPP;
    s->state = GW_SUB_TRYING;
    snprintf(s->sip, sizeof(s->sip), "%s", sip);
    snprintf(s->xmpp, sizeof(s->xmpp), "%s", xmpp);
    gw_token(n->gateway, "g", s->ltag, sizeof(s->ltag));
    s->cseq = 0;
    s->told = told;
    s->expires_ms = now_ms() + GW_SUBSCRIBE_EXPIRES * 1000ull;
    n->gateway->stats.subscriptions++;
    gw_sub_save(n, s);
    sip_subscribe(n, s, GW_SUBSCRIBE_EXPIRES);
    free(s);
}

/* The Record-Route values of m, in order ("" when none); reversed for a
 * UAC (RFC 3261 12.1.2). */
static void route_set(const struct sip_msg *m, bool reverse, char *out, size_t cap)
{
    struct slice v[16];
    size_t k = 0;
    for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_RECORD_ROUTE); h;
         h = sip_msg_hdr_next(m, h)) {
        struct slice first, rest = h->value;
        while (k < 16 && sip_list_next(rest, &first, &rest))
            v[k++] = first;
    }
    out[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < k; i++) {
        struct slice x = v[reverse ? k - 1 - i : i];
        int w = snprintf(out + len, cap - len, "%s%.*s", i ? ", " : "", SLICE_FMT(x));
        if (w < 0 || (size_t)w >= cap - len) {
            out[len] = '\0';
            return;
        }
        len += (size_t)w;
    }
}

/* The URI of m's Contact into out; false when there is none. */
static bool contact_uri(const struct sip_msg *m, char *out, size_t cap)
{
    const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTACT);
    struct slice first, rest, uri;
    if (!h || !sip_list_next(h->value, &first, &rest) ||
        sip_nameaddr_parse(first, &uri, NULL) < 0 || !uri.len || uri.len >= cap)
        return false;
    slice_copy(uri, out, cap);
    return true;
}

/* ---- our SUBSCRIBE's answer ---- */

struct sub_answer {
    struct sub_op op;
    int status;
    char rtag[128], target[512], route[1024];
    long expires;
};

static void subscribe_answered(struct node *n, void *arg, struct gw_sub *s)
{
    struct sub_answer *a = arg;
    if (!s || s->dir != GW_SUB_XMPP) {
        free(a);
        return;
    }
    int st = a->status;
    if (a->op.unsubscribe) {
        gw_sub_delete(n, s);
        free(a);
        return;
    }
    if (st >= 200 && st < 300) {
        if (!s->rtag[0]) {
            snprintf(s->rtag, sizeof(s->rtag), "%s", a->rtag);
            snprintf(s->route, sizeof(s->route), "%s", a->route);
        }
        if (a->target[0])
            snprintf(s->target, sizeof(s->target), "%s", a->target);
        long e = a->expires >= 0 ? a->expires : a->op.expires;
        s->expires_ms = now_ms() + (uint64_t)e * 1000;
        if (e == 0) { /* the notifier ends it at once */
            gw_sub_delete(n, s);
            free(a);
            return;
        }
        if (st == 200 && s->state != GW_SUB_ACTIVE)
            s->state = GW_SUB_ACTIVE; /* 200: authorised (202: pending, a NOTIFY says) */
        else if (s->state == GW_SUB_TRYING)
            s->state = GW_SUB_PENDING;
        if (s->state == GW_SUB_ACTIVE && !s->told) {
            xmpp_presence(n, s->sip, s->xmpp, "subscribed", NULL);
            s->told = true;
        }
        gw_sub_save(n, s);
        free(a);
        return;
    }
    if (st == 481 && s->rtag[0]) { /* a refresh the notifier no longer knows: start again */
        LOG_INFO("xmpp-gw", "refresh of %s's subscription to %s answered 481: subscribing again",
                 s->xmpp, s->sip);
        bool told = s->told;
        char sip[GW_ADDR_MAX], xmpp[GW_ADDR_MAX];
        snprintf(sip, sizeof(sip), "%s", s->sip);
        snprintf(xmpp, sizeof(xmpp), "%s", s->xmpp);
        gw_sub_delete(n, s);
        start_xmpp_sub(n, sip, xmpp, told);
        free(a);
        return;
    }
    if (st == 408 || st >= 500) {
        /* the inside did not answer: keep the subscription, the next due
         * time tries again; XMPP hears of it, without touching its roster */
        if (!s->rtag[0]) {
            const char *type;
            const char *cond = gw_err_sip_to_xmpp(st, &type);
            char from[GW_ADDR_MAX];
            if (aor_to_jid(s->sip, from, sizeof(from)))
                gw_send_error(n, "presence", from, s->xmpp, NULL, cond, "SIP subscription failed");
            gw_sub_delete(n, s);
        }
        free(a);
        return;
    }
    /* refused (403, 404, 480, 603...): the subscription is denied */
    LOG_INFO("xmpp-gw", "subscription of %s to %s refused %d: unsubscribed", s->xmpp, s->sip, st);
    xmpp_presence(n, s->sip, s->xmpp, "unsubscribed", NULL);
    if (s->rtag[0])
        xmpp_presence(n, s->sip, s->xmpp, "unavailable", NULL);
    gw_sub_delete(n, s);
    free(a);
}

static void subscribe_sent(struct node *n, void *arg, int status, const struct sip_msg *resp)
{
    struct sub_op *op = arg;
    struct sub_answer *a = calloc(1, sizeof(*a));
    if (!a)
        return;
    a->op = *op;
    a->status = status;
    a->expires = -1;
    if (resp) {
        slice_copy(resp->to_tag, a->rtag, sizeof(a->rtag));
        contact_uri(resp, a->target, sizeof(a->target));
        route_set(resp, true, a->route, sizeof(a->route));
        a->expires = gw_expires(resp);
    }
    /* read the subscription again: a NOTIFY may have come first */
    gw_sub_get(n, a->op.call_id, subscribe_answered, a);
}

/* ---- SIP in: NOTIFY (we subscribed) ---- */

/* A request from inside kept while its subscription is looked up. */
struct held {
    uint64_t conn_id;
    char *raw;
    size_t len;
};

static struct held *hold(struct conn *c, const struct sip_msg *m)
{
    struct held *h = malloc(sizeof(*h));
    if (h && (h->raw = malloc(m->raw.len))) {
        memcpy(h->raw, m->raw.p, m->raw.len);
        h->len = m->raw.len;
        h->conn_id = c->id;
        return h;
    }
    free(h);
    return NULL;
}

static void held_free(struct held *h)
{
    free(h->raw);
    free(h);
}

/* Reparse h; NULL conn when the connection is gone (nothing to answer). */
static struct conn *unhold(struct node *n, struct held *h, struct sip_msg *m)
{
    struct conn *c = conn_by_id(n, h->conn_id);
    if (!c || sip_msg_parse(m, h->raw, h->len, &n->limits) != SIP_OK)
        return NULL;
    return c;
}

static bool state_is(const char *v, const char *what)
{
    size_t k = strlen(what);
    return strncasecmp(v, what, k) == 0 && (v[k] == '\0' || v[k] == ';' || v[k] == ' ');
}

static void notify_found(struct node *n, void *arg, struct gw_sub *s)
{
    struct held *h = arg;
    struct sip_msg m;
    struct conn *c = unhold(n, h, &m);
    if (!c) {
        held_free(h);
        return;
    }
    char ss[200];
    gw_hdr_value(&m, SIP_HDR_SUBSCRIPTION_STATE, NULL, ss, sizeof(ss));
    if (!s || s->dir != GW_SUB_XMPP || !slice_eq_cstr_ci(m.to_tag, s->ltag) ||
        (s->rtag[0] && !slice_eq(m.from_tag, slice_cstr(s->rtag)))) {
        /* the final NOTIFY after our unsubscribe finds the subscription gone
         * (deleted at the 2xx): it is welcome all the same (RFC 6665 4.1.2.3) */
        if (state_is(ss, "terminated"))
            gw_sip_reply(n, c, &m, 200, "OK", NULL, NULL);
        else
            gw_sip_reply(n, c, &m, 481, "Subscription Does Not Exist", NULL, NULL);
        held_free(h);
        return;
    }
    if (!s->rtag[0]) /* the NOTIFY came before the 2xx (RFC 6665 4.1.2.4) */
        slice_copy(m.from_tag, s->rtag, sizeof(s->rtag));
    char target[512];
    if (contact_uri(&m, target, sizeof(target)))
        snprintf(s->target, sizeof(s->target), "%s", target);
    struct gw_presence p;
    char ct[100];
    bool have_body = gw_hdr_value(&m, SIP_HDR_CONTENT_TYPE, NULL, ct, sizeof(ct)) && m.body.len &&
                     strncasecmp(ct, PIDF_CONTENT_TYPE, strlen(PIDF_CONTENT_TYPE)) == 0;
    if (have_body && pidf_parse(m.body.p, m.body.len, &p) < 0) {
        LOG_INFO("xmpp-gw", "NOTIFY from %.*s: PIDF body unreadable, ignored",
                 SLICE_FMT(m.from_uri));
        have_body = false;
    }
    gw_sip_reply(n, c, &m, 200, "OK", NULL, NULL);
    if (state_is(ss, "terminated")) {
        bool rejected = strstr(ss, "reason=rejected") != NULL;
        LOG_INFO("xmpp-gw", "subscription of %s to %s terminated (%s)", s->xmpp, s->sip, ss);
        xmpp_presence(n, s->sip, s->xmpp, "unavailable", NULL);
        if (rejected)
            xmpp_presence(n, s->sip, s->xmpp, "unsubscribed", NULL);
        gw_sub_delete(n, s);
        held_free(h);
        return;
    }
    /* the notifier's word on the expiry (RFC 6665 4.1.2.3): also what keeps
     * the record right when this NOTIFY and our SUBSCRIBE's 2xx are handled
     * at once (on two nodes, or one) and the last to write wins */
    const char *ex = strstr(ss, "expires=");
    if (ex && !state_is(ss, "terminated")) {
        long e = strtol(ex + 8, NULL, 10);
        if (e > 0 && e <= 86400)
            s->expires_ms = now_ms() + (uint64_t)e * 1000;
    }
    if (state_is(ss, "active")) {
        s->state = GW_SUB_ACTIVE;
        if (!s->told) {
            xmpp_presence(n, s->sip, s->xmpp, "subscribed", NULL);
            s->told = true;
        }
    } else if (s->state == GW_SUB_TRYING) {
        s->state = GW_SUB_PENDING;
    }
    if (have_body) {
        s->pres = p;
        s->have_pres = true;
        if (s->state == GW_SUB_ACTIVE)
            xmpp_presence(n, s->sip, s->xmpp, NULL, &p);
    }
    gw_sub_save(n, s);
    held_free(h);
}

void gw_presence_notify_from_sip(struct node *n, struct conn *c, const struct sip_msg *m)
{
    char ev[64];
    gw_hdr_value(m, SIP_HDR_EVENT, NULL, ev, sizeof(ev));
    if (!state_is(ev, "presence")) {
        gw_sip_reply(n, c, m, 489, "Bad Event", NULL, "Allow-Events: presence\r\n");
        return;
    }
    if (!m->to_tag.len) {
        gw_sip_reply(n, c, m, 481, "Subscription Does Not Exist", NULL, NULL);
        return;
    }
    struct held *h = hold(c, m);
    char *cid = slice_dup(m->call_id);
    if (!h || !cid) {
        if (h)
            held_free(h);
        free(cid);
        gw_sip_reply(n, c, m, 503, "Service Unavailable (out of memory)", NULL, NULL);
        return;
    }
    gw_sub_get(n, cid, notify_found, h);
    free(cid);
}

/* ---- SIP in: SUBSCRIBE (an internal user watches an XMPP user) ---- */

static bool accepts_pidf(const struct sip_msg *m)
{
    const struct sip_hdr *h = sip_msg_hdr_by_name(m, SLICE_LIT("Accept"));
    if (!h || !h->value.len)
        return true;
    for (; h; h = sip_msg_hdr_next(m, h)) {
        struct slice first, rest = h->value;
        while (sip_list_next(rest, &first, &rest)) {
            long semi = slice_find(first, ';');
            struct slice t = slice_trim(semi < 0 ? first : slice_from(first.p, (size_t)semi));
            if (slice_eq_cstr_ci(t, PIDF_CONTENT_TYPE) || slice_eq_cstr_ci(t, "*/*") ||
                slice_eq_cstr_ci(t, "application/*"))
                return true;
        }
    }
    return false;
}

/* 200 to a SUBSCRIBE: our tag, Expires, Contact, its Record-Route copied. */
static void answer_subscribe(struct node *n, struct conn *c, const struct sip_msg *m,
                             const char *ltag, long expires)
{
    char extra[2500], contact[400];
    gw_contact(n, contact, sizeof(contact));
    int k = snprintf(extra, sizeof(extra), "Expires: %ld\r\nContact: %s\r\n", expires, contact);
    for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_RECORD_ROUTE);
         h && k > 0 && (size_t)k < sizeof(extra); h = sip_msg_hdr_next(m, h))
        k += snprintf(extra + k, sizeof(extra) - (size_t)k, "Record-Route: %.*s\r\n",
                      SLICE_FMT(h->value));
    gw_sip_reply(n, c, m, 200, "OK", ltag, extra);
}

/* The last presence any watcher of the same XMPP user saw, to start a new
 * watcher with. */
struct sip_sub_ctx {
    struct gw_sub s;
    bool fetch; /* Expires: 0 out of a dialog */
};

static void sip_sub_siblings(struct node *n, void *arg, struct gw_sub **v, size_t count)
{
    struct sip_sub_ctx *x = arg;
    struct gw_sub *s = &x->s;
    bool approved = false;
    for (size_t i = 0; i < count; i++) {
        if (v[i]->state != GW_SUB_ACTIVE || strcmp(v[i]->call_id, s->call_id) == 0)
            continue;
        approved = true;
        s->state = GW_SUB_ACTIVE;
        if (v[i]->have_pres) {
            s->pres = v[i]->pres;
            s->have_pres = true;
        }
    }
    if (x->fetch) { /* stored for the moment its NOTIFY takes a CSeq */
        gw_sub_save(n, s);
        sip_notify(n, s, "terminated", "timeout");
        gw_sub_delete(n, s);
        free(x);
        return;
    }
    gw_sub_save(n, s);
    sip_notify(n, s, s->state == GW_SUB_ACTIVE ? "active" : "pending", NULL);
    /* Another watcher of ours is approved: ask for the current presence. Else
     * ask for the subscription, which a server whose user approved us before
     * answers at once with subscribed and the presence; never a probe then:
     * RFC 6121 4.3.2 has it answered "unsubscribed" while not approved. */
    xmpp_presence(n, s->sip, s->xmpp, approved ? "probe" : "subscribe", NULL);
    free(x);
}

static void refresh_found(struct node *n, void *arg, struct gw_sub *s);

void gw_presence_subscribe_from_sip(struct node *n, struct conn *c, const struct sip_msg *m)
{
    char ev[64];
    gw_hdr_value(m, SIP_HDR_EVENT, NULL, ev, sizeof(ev));
    if (!state_is(ev, "presence")) {
        gw_sip_reply(n, c, m, 489, "Bad Event", NULL, "Allow-Events: presence\r\n");
        return;
    }
    if (!accepts_pidf(m)) {
        gw_sip_reply(n, c, m, 406, "Not Acceptable", NULL, "Accept: " PIDF_CONTENT_TYPE "\r\n");
        return;
    }
    long e = gw_expires(m);
    if (e < 0)
        e = GW_SUBSCRIBE_MAX_EXPIRES;
    if (e > 0 && e < GW_SUBSCRIBE_MIN_EXPIRES) {
        char mx[40];
        snprintf(mx, sizeof(mx), "Min-Expires: %d\r\n", GW_SUBSCRIBE_MIN_EXPIRES);
        gw_sip_reply(n, c, m, 423, "Interval Too Brief", NULL, mx);
        return;
    }
    if (e > GW_SUBSCRIBE_MAX_EXPIRES)
        e = GW_SUBSCRIBE_MAX_EXPIRES;
    if (m->to_tag.len) { /* a refresh or an unsubscribe */
        struct held *h = hold(c, m);
        char *cid = slice_dup(m->call_id);
        if (!h || !cid) {
            if (h)
                held_free(h);
            free(cid);
            gw_sip_reply(n, c, m, 503, "Service Unavailable (out of memory)", NULL, NULL);
            return;
        }
        gw_sub_get(n, cid, refresh_found, h);
        free(cid);
        return;
    }
    char sip[GW_ADDR_MAX], xmpp[GW_ADDR_MAX], target[512];
    if (!uri_canon(m->from_uri, sip, sizeof(sip), NULL, 0)) {
        gw_sip_reply(n, c, m, 403, "Forbidden (From is not a user of ours)", NULL, NULL);
        return;
    }
    char xaor[GW_ADDR_MAX];
    if (!uri_canon(m->ruri, xaor, sizeof(xaor), xmpp, sizeof(xmpp))) {
        gw_sip_reply(n, c, m, 404, "Not Found (no XMPP address for the Request-URI)", NULL, NULL);
        return;
    }
    if (!contact_uri(m, target, sizeof(target))) {
        gw_sip_reply(n, c, m, 400, "Bad Request (no Contact)", NULL, NULL);
        return;
    }
    const char *why;
    int st = gw_policy_check(n, sip, gw_addr_domain(slice_cstr(xmpp)), &why);
    if (st) {
        if (st == 404) {
            st = 403;
            why = "Forbidden (From domain is not ours)";
        }
        LOG_INFO("xmpp-gw", "SUBSCRIBE from %s to %s refused %d: %s", sip, xmpp, st, why);
        gw_sip_reply(n, c, m, st, why, NULL, NULL);
        return;
    }
    struct sip_sub_ctx *x = calloc(1, sizeof(*x));
    if (!x || m->call_id.len >= sizeof(x->s.call_id)) {
        free(x);
        gw_sip_reply(n, c, m, 503, "Service Unavailable (out of memory)", NULL, NULL);
        return;
    }
    struct gw_sub *s = &x->s;
    slice_copy(m->call_id, s->call_id, sizeof(s->call_id));
    s->dir = GW_SUB_SIP;
    s->state = GW_SUB_PENDING;
    snprintf(s->sip, sizeof(s->sip), "%s", sip);
    snprintf(s->xmpp, sizeof(s->xmpp), "%s", xmpp);
    gw_token(n->gateway, "n", s->ltag, sizeof(s->ltag));
    slice_copy(m->from_tag, s->rtag, sizeof(s->rtag));
    snprintf(s->target, sizeof(s->target), "%s", target);
    route_set(m, false, s->route, sizeof(s->route));
    s->expires_ms = now_ms() + (uint64_t)e * 1000;
    x->fetch = e == 0;
    answer_subscribe(n, c, m, s->ltag, e);
    n->gateway->stats.subscriptions++;
    LOG_INFO("xmpp-gw", "SUBSCRIBE from %s to %s accepted (Expires %ld)", sip, xmpp, e);
    gw_sub_find(n, GW_SUB_SIP, sip, xmpp, sip_sub_siblings, x);
}

struct unsub_ctx {
    char sip[GW_ADDR_MAX], xmpp[GW_ADDR_MAX];
};

static void unsub_left(struct node *n, void *arg, struct gw_sub **v, size_t count)
{
    struct unsub_ctx *u = arg;
    if (count == 0) /* the last internal watcher of that XMPP user went */
        xmpp_presence(n, u->sip, u->xmpp, "unsubscribe", NULL);
    free(u);
}

static void refresh_found(struct node *n, void *arg, struct gw_sub *s)
{
    struct held *h = arg;
    struct sip_msg m;
    struct conn *c = unhold(n, h, &m);
    if (!c) {
        held_free(h);
        return;
    }
    if (!s || s->dir != GW_SUB_SIP || !slice_eq_cstr_ci(m.to_tag, s->ltag) ||
        !slice_eq(m.from_tag, slice_cstr(s->rtag))) {
        gw_sip_reply(n, c, &m, 481, "Subscription Does Not Exist", NULL, NULL);
        held_free(h);
        return;
    }
    long e = gw_expires(&m);
    if (e < 0)
        e = GW_SUBSCRIBE_MAX_EXPIRES;
    if (e > GW_SUBSCRIBE_MAX_EXPIRES)
        e = GW_SUBSCRIBE_MAX_EXPIRES;
    char target[512];
    if (contact_uri(&m, target, sizeof(target)))
        snprintf(s->target, sizeof(s->target), "%s", target);
    s->expires_ms = now_ms() + (uint64_t)e * 1000;
    answer_subscribe(n, c, &m, s->ltag, e);
    if (e == 0) {
        LOG_INFO("xmpp-gw", "%s unsubscribed from %s", s->sip, s->xmpp);
        sip_notify(n, s, "terminated", "timeout");
        gw_sub_delete(n, s);
        struct unsub_ctx *u = calloc(1, sizeof(*u));
        if (u) {
            snprintf(u->sip, sizeof(u->sip), "%s", s->sip);
            snprintf(u->xmpp, sizeof(u->xmpp), "%s", s->xmpp);
            gw_sub_find(n, GW_SUB_SIP, u->sip, u->xmpp, unsub_left, u);
        }
    } else {
        gw_sub_save(n, s);
        sip_notify(n, s, s->state == GW_SUB_ACTIVE ? "active" : "pending", NULL);
    }
    held_free(h);
}

/* ---- XMPP in ---- */

struct xin {
    char sip[GW_ADDR_MAX];  /* our user (the stanza's to), canonical AOR */
    char xmpp[GW_ADDR_MAX]; /* the sender, bare JID */
    char type[24];          /* "" for available */
    char cond[64];          /* type error: the condition */
    struct gw_presence pres;
};

static void presence_of(const struct xmpp_stanza *st, struct gw_presence *p)
{
    memset(p, 0, sizeof(*p));
    p->open = !st->type;
    const struct xmpp_elem *show = xmpp_elem_child(st->root, "show", NS_CLIENT_SERVER);
    if (show && p->open)
        p->show = gw_show_parse(show->text, show->text_len);
    const struct xmpp_elem *status = xmpp_elem_child(st->root, "status", NS_CLIENT_SERVER);
    if (status) {
        size_t k = status->text_len < sizeof(p->note) - 1 ? status->text_len : sizeof(p->note) - 1;
        while (k && k < status->text_len && ((unsigned char)status->text[k] & 0xC0) == 0x80)
            k--;
        memcpy(p->note, status->text, k);
        p->note[k] = '\0';
    }
}

/* XMPP user watches: subscribe, unsubscribe, probe */
static void on_xmpp_watch(struct node *n, void *arg, struct gw_sub **v, size_t count)
{
    struct xin *x = arg;
    if (strcmp(x->type, "unsubscribe") == 0) {
        for (size_t i = 0; i < count; i++) {
            LOG_INFO("xmpp-gw", "%s unsubscribed from %s: SUBSCRIBE Expires 0", x->xmpp, x->sip);
            if (v[i]->rtag[0])
                sip_subscribe(n, v[i], 0); /* the answer deletes it */
            else
                gw_sub_delete(n, v[i]);
        }
        free(x);
        return;
    }
    struct gw_sub *best = NULL;
    for (size_t i = 0; i < count; i++)
        if (!best || v[i]->state > best->state)
            best = v[i];
    bool probe = strcmp(x->type, "probe") == 0;
    if (!best) {
        /* subscribe: a new one; probe: the XMPP server's roster says it is
         * subscribed and we hold nothing (expired, lost): set it up again */
        start_xmpp_sub(n, x->sip, x->xmpp, probe);
    } else if (best->state == GW_SUB_ACTIVE) {
        if (!probe)
            xmpp_presence(n, best->sip, best->xmpp, "subscribed", NULL);
        if (best->have_pres)
            xmpp_presence(n, best->sip, best->xmpp, NULL, &best->pres);
    } /* else pending: the notifier's NOTIFY will tell */
    free(x);
}

/* Internal user watches: availability, subscribed, unsubscribed, errors */
static void on_sip_watchers(struct node *n, void *arg, struct gw_sub **v, size_t count)
{
    struct xin *x = arg;
    if (count == 0)
        LOG_DEBUG("xmpp-gw", "presence %s from %s to %s: nobody inside watches",
                  x->type[0] ? x->type : "available", x->xmpp, x->sip);
    for (size_t i = 0; i < count; i++) {
        struct gw_sub *s = v[i];
        if (strcmp(x->type, "unsubscribed") == 0) {
            sip_notify(n, s, "terminated", "rejected");
            gw_sub_delete(n, s);
            continue;
        }
        if (strcmp(x->type, "error") == 0) {
            if (s->state == GW_SUB_ACTIVE)
                continue; /* an error about something else: the subscription stands */
            bool gone = strcmp(x->cond, "item-not-found") == 0 ||
                        strcmp(x->cond, "remote-server-not-found") == 0 ||
                        strcmp(x->cond, "service-unavailable") == 0;
            sip_notify(n, s, "terminated", gone ? "noresource" : "rejected");
            gw_sub_delete(n, s);
            continue;
        }
        if (strcmp(x->type, "subscribed") == 0) {
            s->state = GW_SUB_ACTIVE;
        } else { /* available or unavailable: the XMPP user lets us see it */
            s->state = GW_SUB_ACTIVE;
            s->pres = x->pres;
            s->have_pres = true;
        }
        gw_sub_save(n, s);
        sip_notify(n, s, "active", NULL);
    }
    free(x);
}

void gw_presence_from_xmpp(struct node *n, const struct xmpp_stanza *st)
{
    struct xin *x = calloc(1, sizeof(*x));
    if (!x)
        return;
    snprintf(x->type, sizeof(x->type), "%s", st->type ? st->type : "");
    if (!jid_canon(st->to, x->sip, sizeof(x->sip), NULL, 0) ||
        !jid_canon(st->from, (char[GW_ADDR_MAX]){0}, GW_ADDR_MAX, x->xmpp, sizeof(x->xmpp))) {
        if (strcmp(x->type, "error") != 0)
            gw_send_error(n, "presence", st->to, st->from, st->id, "jid-malformed", NULL);
        free(x);
        return;
    }
    const char *why;
    int status = gw_policy_check(n, x->sip, gw_addr_domain(slice_cstr(x->xmpp)), &why);
    if (status) {
        LOG_INFO("xmpp-gw", "presence %s from %s to %s refused: %s",
                 x->type[0] ? x->type : "available", st->from, st->to, why);
        if (strcmp(x->type, "subscribe") == 0 || strcmp(x->type, "probe") == 0) {
            const char *etype;
            gw_send_error(n, "presence", st->to, st->from, st->id,
                          gw_err_sip_to_xmpp(status, &etype), why);
        }
        free(x);
        return;
    }
    if (strcmp(x->type, "error") == 0) {
        const struct xmpp_elem *e = xmpp_elem_child(st->root, "error", NULL);
        for (const struct xmpp_elem *c = e ? e->children : NULL; c; c = c->next)
            if (strcmp(c->ns, NS_STANZAS) == 0 && strcmp(c->name, "text") != 0) {
                snprintf(x->cond, sizeof(x->cond), "%s", c->name);
                break;
            }
        LOG_INFO("xmpp-gw", "presence error <%s/> from %s to %s", x->cond[0] ? x->cond : "?",
                 x->xmpp, x->sip);
    }
    presence_of(st, &x->pres);
    const char *t = x->type;
    if (strcmp(t, "subscribe") == 0 || strcmp(t, "unsubscribe") == 0 || strcmp(t, "probe") == 0) {
        LOG_INFO("xmpp-gw", "presence %s from %s to %s", t, x->xmpp, x->sip);
        gw_sub_find(n, GW_SUB_XMPP, x->sip, x->xmpp, on_xmpp_watch, x);
        return;
    }
    if (!t[0] || strcmp(t, "unavailable") == 0 || strcmp(t, "subscribed") == 0 ||
        strcmp(t, "unsubscribed") == 0 || strcmp(t, "error") == 0) {
        gw_sub_find(n, GW_SUB_SIP, x->sip, x->xmpp, on_sip_watchers, x);
        return;
    }
    free(x); /* an unknown type: RFC 6120 says ignore */
}

/* ---- due (gateway_subs.c's tick) ---- */

void gw_presence_due(struct node *n, struct gw_sub *s)
{
    uint64_t now = now_ms();
    LOG_DEBUG("xmpp-gw", "subscription %s (%s %s %s) due", s->call_id, s->sip,
              s->dir == GW_SUB_SIP ? "watches" : "watched by", s->xmpp);
    if (s->dir == GW_SUB_SIP) {
        if (s->expires_ms > now) {
            gw_sub_save(n, s); /* refreshed meanwhile: due again at its new end */
            return;
        }
        LOG_INFO("xmpp-gw", "subscription of %s to %s expired unrefreshed", s->sip, s->xmpp);
        sip_notify(n, s, "terminated", "timeout");
        gw_sub_delete(n, s);
        return;
    }
    if (!s->rtag[0])
        return;                        /* still waiting for its first answer */
    if (s->expires_ms + 60000 < now) { /* long gone: the notifier forgot it too */
        gw_sub_delete(n, s);
        start_xmpp_sub(n, s->sip, s->xmpp, s->told);
        return;
    }
    sip_subscribe(n, s, GW_SUBSCRIBE_EXPIRES);
}
