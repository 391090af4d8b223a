/* gateway.c -- the SIP<->XMPP gateway's front door (see gateway.h): its
 * life cycle, the dispatch of inbound stanzas and of the internal side's
 * requests to the IM (gateway_im.c) and presence (gateway_presence.c)
 * halves, the policy both directions apply (XMPP federation on, the partner
 * allowed and not blocked, the internal user's external access policy), and
 * the small helpers those halves share. */
#include "xmpp/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn/conn.h"
#include "federation/policy.h"
#include "admin/metrics.h"
#include "admin_http.h"
#include "log.h"
#include "node.h"
#include "xmpp/gateway_int.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define ALLOW_GW "Allow: INVITE, ACK, BYE, CANCEL, MESSAGE, INFO, SUBSCRIBE, NOTIFY, OPTIONS\r\n"

/* ---- helpers shared by the gateway's files ---- */

void gw_hash_str(const redisReply *r, const char *field, char *out, size_t cap)
{
    const char *v = redis_hash_get(r, field);
    snprintf(out, cap, "%s", v ? v : "");
}

void gw_token(struct xmpp_gateway *g, const char *prefix, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%llx", prefix, g->prefix, (unsigned long long)++g->seq);
}

void gw_esc(char *out, size_t cap, const char *s)
{
    size_t need = xmpp_escape(out, cap, s, strlen(s));
    if (need >= cap && cap) {
        /* cut, but not inside an entity or a UTF-8 sequence */
        size_t k = strlen(out);
        char *amp = strrchr(out, '&');
        if (amp && !strchr(amp, ';'))
            k = (size_t)(amp - out);
        while (k && ((unsigned char)out[k] & 0xC0) == 0x80)
            k--;
        out[k] = '\0';
    }
}

int gw_policy_check(struct node *n, const char *sip_aor, struct slice xmpp_domain, const char **why)
{
    const struct policy *p = n->policy->current(n->policy);
    const struct access_edge_settings *s = policy_settings(p);
    if (!s->allow_federated_users || !s->enable_xmpp) {
        *why = "Forbidden (XMPP federation is off)";
        return 403;
    }
    struct fed_decision d;
    policy_classify(p, xmpp_domain, &d);
    if (d.cls == FED_BLOCKED) {
        *why = "Forbidden (domain is blocked)";
        return 403;
    }
    if (!policy_xmpp_partner(p, xmpp_domain)) {
        *why = "Forbidden (not an allowed XMPP partner)";
        return 403;
    }
    struct slice udom = gw_addr_domain(slice_cstr(sip_aor));
    if (!policy_is_internal_domain(p, udom)) {
        *why = "Not Found (domain not served here)";
        return 404;
    }
    if (!policy_user_allows(p, slice_cstr(sip_aor), FED_PARTNER_DOMAIN, false, true)) {
        *why = "Forbidden (XMPP federation is not allowed for this user)";
        return 403;
    }
    return 0;
}

void gw_trust_header(struct node *n, const char *xmpp_domain, enum xmpp_partner_type type,
                     char *out, size_t cap)
{
    static const char *const src[] = {"XmppPartner", "XmppPublicVerified", "XmppPublicUnverified"};
    snprintf(out, cap, "X-Edgepool-Trust: source=%s;edge=%s;%s;remote=%s;domain=%s\r\n",
             src[(unsigned)type <= XMPP_PUBLIC_UNVERIFIED ? type : 0], n->cfg.node_fqdn,
             type == XMPP_PUBLIC_UNVERIFIED ? "unverified" : "verified", xmpp_domain, xmpp_domain);
}

int gw_send(struct node *n, const char *from_jid, const char *to_jid, const char *xml, size_t len)
{
    char fd[300], td[300];
    slice_copy(gw_addr_domain(slice_cstr(from_jid)), fd, sizeof(fd));
    slice_copy(gw_addr_domain(slice_cstr(to_jid)), td, sizeof(td));
    int rc = xmpp_send_stanza(n, fd, td, xml, len);
    if (rc < 0)
        LOG_INFO("xmpp-gw", "stanza from %s to %s not sent: %s", from_jid, to_jid,
                 xmpp_send_err_name(rc));
    return rc;
}

void gw_send_error(struct node *n, const char *kind, const char *from, const char *to,
                   const char *id, const char *condition, const char *text)
{
    char ef[GW_ADDR_MAX * 2], et[GW_ADDR_MAX * 2], eid[400] = "", etext[600] = "";
    gw_esc(ef, sizeof(ef), from);
    gw_esc(et, sizeof(et), to);
    if (id) {
        char e[300];
        gw_esc(e, sizeof(e), id);
        snprintf(eid, sizeof(eid), " id='%s'", e);
    }
    if (text) {
        char e[400];
        gw_esc(e, sizeof(e), text);
        snprintf(etext, sizeof(etext), "<text xmlns='" NS_STANZAS "'>%s</text>", e);
    }
    char xml[3000];
    int k = snprintf(xml, sizeof(xml),
                     "<%s from='%s' to='%s' type='error'%s><error type='%s'><%s xmlns='" NS_STANZAS
                     "'/>%s</error></%s>",
                     kind, ef, et, eid, gw_err_type(condition), condition, etext, kind);
    if (k > 0 && (size_t)k < sizeof(xml))
        gw_send(n, from, to, xml, (size_t)k);
}

/* ---- life cycle ---- */

/* /metrics: what the gateway carried (a collector of the node's registry). */
static void collect_metrics(void *arg, struct evbuffer *b)
{
    struct node *n = arg;
    const struct xmpp_gateway *g = n->gateway;
    if (!g)
        return;
    const struct gw_stats *st = &g->stats;
    prom_family(b, "edgepool_xmpp_gateway_messages_total", "counter",
                "IM messages the SIP<->XMPP gateway translated, by direction");
    prom_u64(b, "edgepool_xmpp_gateway_messages_total", st->messages_to_xmpp, "direction",
             "to_xmpp", NULL);
    prom_u64(b, "edgepool_xmpp_gateway_messages_total", st->messages_to_sip, "direction", "to_sip",
             NULL);
    prom_family_u64(b, "edgepool_xmpp_gateway_message_errors_total", "counter",
                    "MESSAGEs toward XMPP answered with an error", st->message_errors);
    prom_family(b, "edgepool_xmpp_gateway_presence_total", "counter",
                "presence translated, by direction");
    prom_u64(b, "edgepool_xmpp_gateway_presence_total", st->presence_to_xmpp, "direction",
             "to_xmpp", NULL);
    prom_u64(b, "edgepool_xmpp_gateway_presence_total", st->presence_to_sip, "direction", "to_sip",
             NULL);
    prom_family_u64(b, "edgepool_xmpp_gateway_subscriptions_total", "counter",
                    "presence subscriptions set up through the gateway", st->subscriptions);
    prom_family_u64(b, "edgepool_xmpp_gateway_sip_requests_total", "counter",
                    "SIP requests the gateway sent inward", st->sip_requests);
    prom_family_u64(b, "edgepool_xmpp_gateway_sip_timeouts_total", "counter",
                    "of those, unanswered in time", st->sip_timeouts);
    prom_family_u64(b, "edgepool_xmpp_gateway_sessions_total", "counter",
                    "IM sessions (INVITE m=message) set up, either way", st->sessions);
    prom_family_u64(b, "edgepool_xmpp_gateway_session_messages_total", "counter",
                    "MESSAGEs carried inside IM sessions", st->session_messages);
    prom_family_u64(b, "edgepool_xmpp_gateway_session_typing_total", "counter",
                    "typing notifications translated inside IM sessions", st->session_typing);
    prom_family_u64(b, "edgepool_xmpp_gateway_sessions_held", "gauge",
                    "IM sessions this node holds a copy of (the pool holds them all)",
                    g->sess.count);
}

int xmpp_gateway_new(struct node *n, char *err, size_t errlen)
{
    struct xmpp_gateway *g = calloc(1, sizeof(*g));
    if (!g || hmap_init(&g->reqs, 64, false) < 0 || hmap_init(&g->msgs, 64, false) < 0 ||
        hmap_init(&g->subs, 64, false) < 0 || hmap_init(&g->sess, 64, false) < 0 ||
        hmap_init(&g->sess_users, 64, true) < 0 || hmap_init(&g->opening, 16, true) < 0) {
        if (g) {
            hmap_destroy(&g->reqs);
            hmap_destroy(&g->msgs);
            hmap_destroy(&g->subs);
            hmap_destroy(&g->sess);
            hmap_destroy(&g->sess_users);
            free(g);
        }
        snprintf(err, errlen, "XMPP gateway: out of memory");
        return -1;
    }
    g->node = n;
    /* the node-unique part of the branch prefix (node id and pid hashed) */
    snprintf(g->prefix, sizeof(g->prefix), "%.8s", n->branch_prefix + 8);
    n->gateway = g;
    if (gw_subs_start(n) < 0) {
        xmpp_gateway_free(n);
        snprintf(err, errlen, "XMPP gateway: cannot start its timer");
        return -1;
    }
    /* the node's registry (node_admin_start would make it later; the node
     * frees it) */
    if (!n->metrics)
        n->metrics = metrics_new();
    if (n->metrics && metrics_on_collect(n->metrics, collect_metrics, n) < 0) {
        xmpp_gateway_free(n);
        snprintf(err, errlen, "XMPP gateway: cannot register its metrics");
        return -1;
    }
    if (gw_im_pool_start(n) < 0) {
        xmpp_gateway_free(n);
        snprintf(err, errlen, "XMPP gateway: cannot subscribe to the pool's answers channel");
        return -1;
    }
    return 0;
}

void xmpp_gateway_free(struct node *n)
{
    struct xmpp_gateway *g = n->gateway;
    if (!g)
        return;
    g->closing = true;
    gw_im_free_all(g);
    gw_sip_free_all(g);
    gw_subs_free_all(g);
    gw_sess_free_all(g);
    if (g->tick)
        event_free(g->tick);
    hmap_destroy(&g->reqs);
    hmap_destroy(&g->msgs);
    hmap_destroy(&g->subs);
    hmap_destroy(&g->sess);
    hmap_destroy(&g->sess_users);
    hmap_destroy(&g->opening);
    free(g);
    n->gateway = NULL;
}

/* ---- XMPP side in ---- */

static void on_iq(struct node *n, const struct xmpp_stanza *st)
{
    if (!st->type || (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0))
        return; /* results and errors: no iq of ours waits for one */
    struct xmpp_jid to;
    bool to_server = st->to && xmpp_jid_parse(st->to, strlen(st->to), &to) == 0 &&
                     to.local.len == 0 && to.resource.len == 0;
    if (to_server && strcmp(st->type, "get") == 0 &&
        xmpp_elem_child(st->root, "ping", "urn:xmpp:ping")) { /* XEP-0199 */
        char ef[GW_ADDR_MAX * 2], et[GW_ADDR_MAX * 2], eid[300], xml[1400];
        gw_esc(ef, sizeof(ef), st->to);
        gw_esc(et, sizeof(et), st->from);
        gw_esc(eid, sizeof(eid), st->id ? st->id : "");
        int k = snprintf(xml, sizeof(xml), "<iq from='%s' to='%s' id='%s' type='result'/>", ef, et,
                         eid);
        if (k > 0 && (size_t)k < sizeof(xml))
            xmpp_send_stanza(n, st->local_domain, st->peer_domain, xml, (size_t)k);
        return;
    }
    /* RFC 6120 8.4: an iq nobody here serves; the gateway maps IM and
     * presence only */
    gw_send_error(n, "iq", st->to, st->from, st->id, "service-unavailable", NULL);
}

void xmpp_gateway_on_stanza(struct node *n, const struct xmpp_stanza *st)
{
    if (!n->gateway || n->gateway->closing || !st->from || !st->to) {
        LOG_INFO("xmpp-gw", "stanza <%s> from %s to %s dropped: %s", st->root->name,
                 st->from ? st->from : "-", st->to ? st->to : "-",
                 !n->gateway || n->gateway->closing ? "gateway not running"
                                                    : "no from or to address");
        return;
    }
    switch (st->kind) {
    case XMPP_MESSAGE:
        gw_im_from_xmpp(n, st);
        break;
    case XMPP_PRESENCE:
        gw_presence_from_xmpp(n, st);
        break;
    case XMPP_IQ:
        on_iq(n, st);
        break;
    }
}

void xmpp_gateway_on_send_failed(struct node *n, const struct xmpp_send_failure *f)
{
    LOG_INFO("xmpp-gw", "<%s> id %s from %s to %s not delivered: %s (%s)", f->name,
             f->id ? f->id : "-", f->from ? f->from : "-", f->to ? f->to : "-", f->condition,
             f->text ? f->text : "");
    if (!n->gateway)
        return;
    if (f->id && strcmp(f->name, "message") == 0) {
        const char *reason;
        int st = gw_err_xmpp_to_sip(f->condition, &reason);
        if (strcmp(f->condition, "service-unavailable") == 0) {
            st = 503; /* our own node is stopping: the internal side may try another */
            reason = "Service Unavailable (XMPP gateway stopping)";
        }
        gw_im_on_answer(n, f->id, st, reason);
    }
}

/* ---- SIP side in ---- */

bool xmpp_gateway_sip_request(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct xmpp_gateway *g = n->gateway;
    if (!g || g->closing || c->side != SIDE_INTERNAL)
        return false;
    struct sip_uri u;
    if (sip_uri_parse(m->ruri, &u) < 0)
        return false;
    struct slice v;
    if (!sip_param_get(u.params, "ep-xmpp", &v)) {
        const struct policy *p = n->policy->current(n->policy);
        if (!u.host.len || !policy_xmpp_partner(p, u.host))
            return false;
    }
    switch (m->method_id) {
    case SIP_M_ACK:
        return true; /* of our answers to INVITE (2xx of an IM session, or a refusal): absorbed */
    case SIP_M_CANCEL:
        gw_sip_reply(n, c, m, 481, "Call/Transaction Does Not Exist", NULL, NULL);
        return true;
    default:
        break;
    }
    if (m->max_forwards == 0) {
        gw_sip_reply(n, c, m, 483, "Too Many Hops", NULL, NULL);
        return true;
    }
    if ((n->draining || n->drained) && m->to_tag.len == 0) {
        char ra[64];
        snprintf(ra, sizeof(ra), "Retry-After: %d\r\n", n->cfg.retry_after_s);
        gw_sip_reply(n, c, m, 503, "Service Unavailable (node draining)", NULL, ra);
        return true;
    }
    switch (m->method_id) {
    case SIP_M_MESSAGE:
        gw_im_from_sip(n, c, m);
        break;
    case SIP_M_SUBSCRIBE:
        gw_presence_subscribe_from_sip(n, c, m);
        break;
    case SIP_M_NOTIFY:
        gw_presence_notify_from_sip(n, c, m);
        break;
    case SIP_M_INVITE:
        /* an IM session (Lync's m=message sip null); other media get 488 */
        if (m->to_tag.len)
            gw_sess_in_dialog(n, c, m);
        else
            gw_sess_invite(n, c, m);
        break;
    case SIP_M_BYE:
    case SIP_M_INFO:
        if (m->to_tag.len)
            gw_sess_in_dialog(n, c, m);
        else
            gw_sip_reply(n, c, m, 481, "Call/Transaction Does Not Exist", NULL, NULL);
        break;
    case SIP_M_OPTIONS:
        if (m->to_tag.len) {
            gw_sess_in_dialog(n, c, m);
            break;
        }
        gw_sip_reply(n, c, m, 200, "OK", NULL,
                     ALLOW_GW "Accept: text/plain, application/sdp, application/pidf+xml\r\n");
        break;
    default:
        /* one-to-one IM (page mode and IM sessions) and presence only, as
         * Lync's gateway: no calls, no groupchat */
        LOG_INFO("xmpp-gw",
                 "%.*s to %.*s from %s refused 405: the XMPP gateway maps IM and "
                 "presence only",
                 SLICE_FMT(m->method), SLICE_FMT(m->ruri), c->peer_str);
        gw_sip_reply(n, c, m, 405, "Method Not Allowed", NULL, ALLOW_GW);
        break;
    }
    return true;
}

bool xmpp_gateway_sip_response(struct node *n, struct conn *c, const struct sip_msg *m)
{
    return n->gateway && gw_sip_on_response(n, c, m);
}
