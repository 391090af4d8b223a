/* proxy.c -- the transaction-stateful proxy core (RFC 3261 sections 16-17).
 *
 * Every message arrives here while its bytes are still in the conn's receive
 * buffer. Requests create a txn (a copy of the request), are checked
 * (Max-Forwards, loops, our Route entries, federation trust and policy) and
 * forwarded with our Via and, for dialog-creating requests, a double
 * Record-Route (one entry per side, RFC 5658) carrying the partner edge in
 * ep-peer so that any node of the pool can route the dialog's later requests.
 * Responses are matched by our branch and sent back over the conn the
 * request came on. */
#include "sip/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "conn/conn.h"
#include "conn/conn_pool.h"
#include "federation/fed.h"
#include "log.h"
#include "node.h"
#include "pool/dialogs.h"
#include "sip/build.h"
#include "sip/leg.h"
#include "sip/txn.h"
#include "xmpp/gateway.h"

#define ALLOW_HDR                                                                                  \
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, INFO, UPDATE, REFER, "  \
    "PRACK, SERVICE\r\n"

static const char *side_name(enum conn_side s)
{
    return s == SIDE_INTERNAL ? "internal" : "external";
}

/* ---- answering ---------------------------------------------------------- */

static void send_local_response(struct node *n, struct conn *c, const struct sip_msg *m, int status,
                                const char *reason, const char *extra)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "%.8s%x", n->branch_prefix + 8, (unsigned)(m->cseq * 2654435761u));
    size_t len = sip_build_response(n->out_buf, n->out_cap, m, status, reason, tag, extra);
    if (len && conn_send(c, n->out_buf, len) == 0) {
        n->stats.local_responses++;
        n->stats.responses_out++;
        metrics_sip_response(n->metrics, METRICS_SENT, c->side, m->cseq_method_id, status, true);
    }
}

/* Answer with status; Retry-After with 503. One log line unless the
 * decision was logged where it was made (logged: federation decisions). */
static void answer(struct node *n, struct conn *c, const struct sip_msg *m, int status,
                   const char *reason, bool logged)
{
    char extra[64] = "";
    if (status == 503)
        snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", n->cfg.retry_after_s);
    enum log_level lvl = logged ? LOG_LVL_DEBUG : status >= 500 ? LOG_LVL_WARN : LOG_LVL_INFO;
    if (log_enabled(lvl))
        log_write(lvl, "sip", "%.*s from %s %s (From %.*s) answered %d %s", SLICE_FMT(m->method),
                  side_name(c->side), c->peer_str, SLICE_FMT(m->from_uri), status, reason);
    send_local_response(n, c, m, status, reason, extra[0] ? extra : NULL);
}

static void reject(struct node *n, struct conn *c, const struct sip_msg *m, int status,
                   const char *reason)
{
    answer(n, c, m, status, reason, false);
}

static void txn_finish(struct txn *t)
{
    struct node *n = t->node;
    if (t->method == SIP_M_INVITE && !t->stateless) {
        /* linger: absorb the ACK of a non-2xx, relay 2xx retransmissions */
        t->state = TXN_DONE;
        txn_detach_out(t);
        txn_arm(t, n->tv_linger);
        return;
    }
    txn_free(t);
}

/* Answer the txn's request locally and finish the txn. */
static void txn_reply_logged(struct txn *t, int status, const char *reason, bool logged)
{
    struct node *n = t->node;
    struct conn *c = conn_by_id(n, t->in_conn);
    if (!t->final_up && c) {
        struct sip_msg m;
        if (txn_reparse(t, &m) == SIP_OK)
            answer(n, c, &m, status, reason, logged);
    }
    t->final_up = status;
    if (t->throttled_partner)
        fed_record_response(n, t, status);
    txn_finish(t);
}

static void txn_reply(struct txn *t, int status, const char *reason)
{
    txn_reply_logged(t, status, reason, false);
}

/* ---- who we are --------------------------------------------------------- */

static bool host_is_us(const struct node *n, struct slice host)
{
    const char *names[] = {n->cfg.pool_fqdn,        n->cfg.node_fqdn,  n->cfg.internal_rr_host,
                           n->cfg.external_rr_host, n->int_addr.host,  n->ext_addr.host,
                           n->int_tls_addr.host,    n->int_tls_rr_host};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i] && names[i][0] && slice_eq_cstr_ci(host, names[i]))
            return true;
    return false;
}

/* How many Route values at the top are ours; *peer gets the ep-peer of the
 * first of them ("" if none). */
static unsigned our_routes(const struct node *n, const struct sip_msg *m, char *peer,
                           size_t peerlen)
{
    unsigned count = 0;
    peer[0] = '\0';
    for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_ROUTE); h; h = sip_msg_hdr_next(m, h)) {
        struct slice first, rest = h->value;
        while (sip_list_next(rest, &first, &rest)) {
            struct slice uri_s, params;
            struct sip_uri u;
            if (sip_nameaddr_parse(first, &uri_s, &params) < 0 || sip_uri_parse(uri_s, &u) < 0 ||
                !host_is_us(n, u.host))
                return count;
            struct slice p;
            if (count == 0 && sip_param_get(u.params, "ep-peer", &p))
                slice_copy(p, peer, peerlen);
            count++;
        }
    }
    return count;
}

/* Is one of the Via values ours (a request that came back to us)? */
static bool is_loop(const struct node *n, const struct sip_msg *m)
{
    size_t plen = strlen(n->branch_prefix);
    for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_VIA); h; h = sip_msg_hdr_next(m, h)) {
        struct slice first, rest = h->value;
        while (sip_list_next(rest, &first, &rest)) {
            struct sip_via v;
            if (sip_via_parse(first, &v) == 0 && v.branch.len >= plen &&
                memcmp(v.branch.p, n->branch_prefix, plen) == 0 && host_is_us(n, v.host))
                return true;
        }
    }
    return false;
}

/* ---- sending ------------------------------------------------------------ */

/* "request from external 192.0.2.1:5061 (fabrikam.test)": who asked, for the
 * log lines of what happened to a relayed request. */
static const char *txn_origin(struct node *n, const struct txn *t, char *buf, size_t len)
{
    const struct conn *c = conn_by_id(n, t->in_conn);
    snprintf(buf, len, "request from %s %s%s%s%s", side_name(t->in_side),
             c ? c->peer_str : "(connection gone)", t->remote_domain[0] ? " (" : "",
             t->remote_domain, t->remote_domain[0] ? ")" : "");
    return buf;
}

static void send_current(struct txn *t, const struct sip_msg *m);

/* The current target failed before any response: try the next one, or answer. */
static void fail_or_failover(struct txn *t, int status, const char *reason)
{
    if (t->final_up || t->cancelled)
        return;
    if (t->target_idx + 1 < t->n_targets) {
        const struct txn_target *old = &t->targets[t->target_idx];
        t->target_idx++;
        char from[200];
        LOG_WARN("sip", "%s to %s:%u failed (%d %s): failing over to %s:%u; %s",
                 sip_method_name(t->method) ? sip_method_name(t->method) : "request", old->host,
                 old->port, status, reason, t->targets[t->target_idx].host,
                 t->targets[t->target_idx].port, txn_origin(t->node, t, from, sizeof(from)));
        t->state = TXN_ROUTING;
        send_current(t, NULL);
        return;
    }
    /* a partner edge we cannot reach: 504, as Lync answers ("failed to
     * connect to a peer server"); a 503 would tell the front end that this
     * node is unavailable (RFC 3261 21.5.4) */
    if (status == 503 && t->targets[t->target_idx].side == SIDE_EXTERNAL) {
        status = 504;
        reason = "Server Time-out (cannot reach the partner's edge)";
    }
    txn_reply(t, status, reason);
}

static int record_route_lines(const struct txn *t, const struct txn_target *tg, char *out,
                              size_t cap)
{
    const struct node *n = t->node;
    const char *peer = t->in_side == SIDE_EXTERNAL ? t->peer : tg->host;
    /* the inside entry names the transport of the internal leg: the one the
     * request goes in over, or came from the inside over */
    struct sip_leg leg;
    sip_internal_leg(n, tg->side == SIDE_INTERNAL ? tg->tls : t->in_tls, &leg);
    char ext[400], in[400];
    snprintf(ext, sizeof(ext), "Record-Route: <sip:%s:%u;transport=tls;lr;ep-peer=%s>\r\n",
             n->cfg.external_rr_host, n->ext_addr.port, peer);
    snprintf(in, sizeof(in), "Record-Route: <sip:%s:%u;transport=%s;lr;ep-peer=%s>\r\n",
             leg.rr_host, leg.port, leg.rr_transport, peer);
    /* the entry facing the side the request goes to comes first */
    return snprintf(out, cap, "%s%s", tg->side == SIDE_EXTERNAL ? ext : in,
                    tg->side == SIDE_EXTERNAL ? in : ext);
}

static bool creates_dialog(enum sip_method m)
{
    return m == SIP_M_INVITE || m == SIP_M_SUBSCRIBE || m == SIP_M_REFER;
}

static void send_current(struct txn *t, const struct sip_msg *m)
{
    struct node *n = t->node;
    struct sip_msg reparsed;
    if (!m) {
        if (txn_reparse(t, &reparsed) != SIP_OK) {
            txn_reply(t, 500, "Internal Server Error");
            return;
        }
        m = &reparsed;
    }
    const struct txn_target *tg = &t->targets[t->target_idx];
    int status = 0;
    const char *why = NULL;
    struct conn *c =
        conn_pool_acquire(n, tg->side, tg->host, tg->port, tg->tls, t->id, &status, &why);
    if (!c) {
        if (status)
            fail_or_failover(t, status, why);
        return; /* queued: proxy_pool_retry() or proxy_pool_failed() follows */
    }
    if (txn_new_branch(t) < 0) {
        txn_reply(t, 500, "Internal Server Error");
        return;
    }
    struct sip_leg leg = {"TLS", n->ext_addr.host, "tls", n->cfg.external_rr_host,
                          n->ext_addr.port};
    if (tg->side == SIDE_INTERNAL)
        sip_internal_leg(n, tg->tls, &leg);
    char via[256], rr[900];
    snprintf(via, sizeof(via), "Via: SIP/2.0/%s %s:%u;branch=%s%s\r\n", leg.via_proto, leg.via_host,
             leg.port, t->branch, tg->tls ? ";alias" : "");
    char peer[264];
    struct sip_fwd_edits e = {
        .via = via,
        .record_route = NULL,
        .pop_routes = our_routes(n, m, peer, sizeof(peer)),
        .max_forwards = m->max_forwards < 0 ? 70 : m->max_forwards - 1,
        .strip_trust = true, /* only the edge asserts trust, in either direction */
        .extra = t->trust_hdr[0] ? t->trust_hdr : NULL,
    };
    if (creates_dialog(t->method) && !t->in_dialog) {
        record_route_lines(t, tg, rr, sizeof(rr));
        e.record_route = rr;
    }
    size_t len = sip_build_forward(n->out_buf, n->out_cap, m, &e);
    if (!len) {
        txn_reply(t, 513, "Message Too Large");
        return;
    }
    if (conn_send(c, n->out_buf, len) < 0) {
        fail_or_failover(t, 503, "Next hop connection lost");
        return;
    }
    n->stats.requests_out++;
    metrics_sip_request(n->metrics, METRICS_SENT, tg->side, m->method_id);
    LOG_DEBUG("sip", "%.*s %.*s relayed %s -> %s (%s:%u)", SLICE_FMT(m->method), SLICE_FMT(m->ruri),
              side_name(t->in_side), side_name(tg->side), tg->host, tg->port);
    if (t->stateless) {
        txn_free(t);
        return;
    }
    if (t->method == SIP_M_INVITE) {
        free(t->fwd);
        t->fwd = malloc(len);
        if (t->fwd) {
            memcpy(t->fwd, n->out_buf, len);
            t->fwd_len = len;
        }
    }
    txn_attach_out(t, c);
    t->state = TXN_SENT;
    txn_arm(t, n->tv_txn);
}

/* Targets for a request going inside: the next hops, in order. */
static void targets_internal(struct txn *t)
{
    struct node *n = t->node;
    t->n_targets = 0;
    for (int i = 0; i < n->n_next_hops && i < TXN_MAX_TARGETS; i++) {
        struct txn_target *tg = &t->targets[t->n_targets++];
        snprintf(tg->host, sizeof(tg->host), "%s", n->next_hops[i].host);
        tg->port = n->next_hops[i].port;
        tg->tls = n->next_hops[i].tls;
        tg->side = SIDE_INTERNAL;
    }
    t->target_idx = 0;
}

/* Split "host[:port]" of an ep-peer value into a TLS target outside. */
static void target_from_peer(struct txn *t, const char *peer)
{
    struct txn_target *tg = &t->targets[0];
    snprintf(tg->host, sizeof(tg->host), "%s", peer);
    tg->port = 5061;
    char *colon = strrchr(tg->host, ':');
    if (colon && !strchr(colon, ']')) {
        tg->port = (uint16_t)atoi(colon + 1);
        *colon = '\0';
    }
    tg->tls = true;
    tg->side = SIDE_EXTERNAL;
    t->n_targets = 1;
    t->target_idx = 0;
    snprintf(t->peer, sizeof(t->peer), "%s", peer);
}

/* Decide where t goes (may go asynchronous), then send. */
static void route_and_send(struct node *n, struct conn *c, struct txn *t, const struct sip_msg *m)
{
    struct fed_result r = {0, NULL};
    int v;
    if (c->side == SIDE_EXTERNAL) {
        targets_internal(t);
        v = fed_inbound_check(n, c, m, t, &r);
    } else {
        char peer[264];
        our_routes(n, m, peer, sizeof(peer));
        if (peer[0] && t->in_dialog) {
            target_from_peer(t, peer);
            v = FED_OK;
        } else if (t->in_dialog && pool_dialog_route(n, t, m)) {
            return; /* no ep-peer: the pool's dialog record names the partner edge */
        } else {
            v = fed_outbound_route(n, m, t, &r);
        }
    }
    if (v == FED_PENDING)
        return;
    if (v == FED_REJECT) {
        n->stats.policy_rejects++;
        metrics_policy_reject(n->metrics, r.status, r.reason);
        if (t->stateless) {
            txn_free(t);
            return;
        }
        answer(n, c, m, r.status, r.reason, true);
        t->final_up = r.status;
        txn_finish(t);
        return;
    }
    send_current(t, m);
}

void proxy_txn_resume(struct node *n, uint64_t txn_id, int status, const char *reason)
{
    struct txn *t = txn_by_id(n, txn_id);
    if (!t || t->final_up || t->cancelled)
        return;
    if (status) {
        n->stats.policy_rejects++;
        metrics_policy_reject(n->metrics, status, reason);
        if (t->stateless)
            txn_free(t);
        else
            txn_reply_logged(t, status, reason, true);
        return;
    }
    send_current(t, NULL);
}

void proxy_pool_retry(struct node *n, uint64_t txn_id)
{
    struct txn *t = txn_by_id(n, txn_id);
    if (t && !t->final_up && !t->cancelled && t->state == TXN_ROUTING)
        send_current(t, NULL);
}

void proxy_pool_failed(struct node *n, uint64_t txn_id, int status, const char *reason)
{
    struct txn *t = txn_by_id(n, txn_id);
    if (!t)
        return;
    if (t->stateless) {
        txn_free(t);
        return;
    }
    fail_or_failover(t, status, reason);
}

/* ---- requests ----------------------------------------------------------- */

static void answer_options(struct node *n, struct conn *c, const struct sip_msg *m)
{
    send_local_response(n, c, m, 200, "OK",
                        ALLOW_HDR "Accept: application/sdp, text/plain, application/pidf+xml\r\n"
                                  "Supported: path, outbound\r\n");
}

static void handle_cancel(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct txn *t = txn_find_server(n, m, SIP_M_INVITE);
    if (!t) {
        reject(n, c, m, 481, "Call/Transaction Does Not Exist");
        return;
    }
    send_local_response(n, c, m, 200, "OK", NULL);
    if (t->final_up || t->cancelled)
        return;
    if (t->state == TXN_ROUTING) { /* not sent anywhere yet */
        t->cancelled = true;
        txn_reply(t, 487, "Request Terminated");
        return;
    }
    if (!t->provisional) {
        t->cancel_pending = true; /* RFC 3261 9.1: wait for a provisional */
        return;
    }
    struct conn *out = conn_by_id(n, t->out_conn);
    struct sip_msg fwd;
    if (out && t->fwd && sip_msg_parse(&fwd, t->fwd, t->fwd_len, &n->limits) == SIP_OK) {
        size_t len = sip_build_cancel_or_ack(n->out_buf, n->out_cap, &fwd, "CANCEL", fwd.to);
        if (len)
            conn_send(out, n->out_buf, len);
    }
    t->cancelled = true;
}

static void handle_ack(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct txn *st = txn_find_server(n, m, SIP_M_INVITE);
    if (st && st->final_up >= 300)
        return; /* ACK of a non-2xx: ours, absorbed (we ACKed downstream) */
    /* ACK of a 2xx: end to end, forwarded without a transaction */
    struct txn *t = txn_new(n, c, m, true);
    if (!t)
        return;
    route_and_send(n, c, t, m);
}

/* RFC 5923: a partner (or a front end, on the internal TLS listener) whose
 * Via carries "alias" lets us send our requests for it over this connection;
 * it serves every name of its (verified) certificate, on the port of its
 * Via, in the pool of its side (an internal next hop named so reuses it). */
static void offer_alias(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct slice v;
    if (!sip_param_get(m->via.params, "alias", &v))
        return;
    uint16_t port = m->via.port ? m->via.port : 5061;
    for (int i = 0; i < c->n_names && !c->pool; i++)
        conn_pool_adopt(n, c, c->names[i], port);
    if (c->pool)
        LOG_DEBUG("conn", "TLS connection from %s (%s) reused for requests to it (RFC 5923 alias)",
                  c->peer_str, c->names[0]);
}

static void handle_request(struct node *n, struct conn *c, const struct sip_msg *m)
{
    n->stats.requests_in++;
    metrics_sip_request(n->metrics, METRICS_RECEIVED, c->side, m->method_id);
    if (c->side == SIDE_INTERNAL && xmpp_gateway_sip_request(n, c, m))
        return; /* for an XMPP partner's user: the gateway (xmpp/gateway.h) answers */
    if (m->method_id == SIP_M_ACK) {
        handle_ack(n, c, m);
        return;
    }
    if (m->method_id == SIP_M_CANCEL) {
        handle_cancel(n, c, m);
        return;
    }
    struct txn *t = txn_find_server(n, m, m->method_id);
    if (t)
        return;                             /* a retransmission: the response will come */
    if (c->tls && !c->pool && !c->outbound) /* a partner, or a front end over internal TLS */
        offer_alias(n, c, m);
    char peer[264];
    unsigned ours = our_routes(n, m, peer, sizeof(peer));
    bool remaining_route = false;
    for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_ROUTE); h && !remaining_route;
         h = sip_msg_hdr_next(m, h)) {
        struct slice first, rest = h->value;
        unsigned k = 0;
        while (sip_list_next(rest, &first, &rest))
            k++;
        remaining_route = k > ours;
        ours = ours > k ? ours - k : 0;
    }
    struct sip_uri ru;
    bool for_us = sip_uri_parse(m->ruri, &ru) == 0 && host_is_us(n, ru.host) && !remaining_route &&
                  ru.user.len == 0;
    if (m->method_id == SIP_M_OPTIONS && (for_us || m->max_forwards == 0)) {
        answer_options(n, c, m);
        return;
    }
    if (m->max_forwards == 0) {
        reject(n, c, m, 483, "Too Many Hops");
        return;
    }
    if (for_us) {
        reject(n, c, m, 405, "Method Not Allowed");
        return;
    }
    if (is_loop(n, m)) {
        reject(n, c, m, 482, "Loop Detected");
        return;
    }
    if ((n->draining || n->drained) && m->to_tag.len == 0) {
        reject(n, c, m, 503, "Service Unavailable (node draining)");
        return;
    }
    t = txn_new(n, c, m, false);
    if (!t) {
        reject(n, c, m, 503, "Service Unavailable (out of memory)");
        return;
    }
    if (m->method_id == SIP_M_INVITE)
        send_local_response(n, c, m, 100, "Trying", NULL);
    route_and_send(n, c, t, m);
}

/* ---- responses ---------------------------------------------------------- */

static void forward_response(struct node *n, struct txn *t, const struct sip_msg *m,
                             enum conn_side from)
{
    struct conn *up = conn_by_id(n, t->in_conn);
    if (!up) {
        const struct txn_target *tg = &t->targets[t->target_idx];
        LOG_INFO("sip",
                 "%d for %s dropped: the %s connection it answers is gone (response from "
                 "%s:%u%s%s)",
                 m->status, sip_method_name(t->method) ? sip_method_name(t->method) : "request",
                 side_name(t->in_side), tg->host, tg->port, t->remote_domain[0] ? ", " : "",
                 t->remote_domain);
        return;
    }
    size_t len = sip_build_response_forward(n->out_buf, n->out_cap, m, from == SIDE_EXTERNAL);
    if (len && conn_send(up, n->out_buf, len) == 0) {
        n->stats.responses_out++;
        metrics_sip_response(n->metrics, METRICS_SENT, t->in_side, m->cseq_method_id, m->status,
                             false);
    }
}

static void ack_non2xx(struct node *n, struct txn *t, const struct sip_msg *resp, struct conn *c)
{
    struct sip_msg fwd;
    if (!t->fwd || sip_msg_parse(&fwd, t->fwd, t->fwd_len, &n->limits) != SIP_OK)
        return;
    size_t len = sip_build_cancel_or_ack(n->out_buf, n->out_cap, &fwd, "ACK", resp->to);
    if (len)
        conn_send(c, n->out_buf, len);
}

static void handle_response(struct node *n, struct conn *c, const struct sip_msg *m)
{
    n->stats.responses_in++;
    metrics_sip_response(n->metrics, METRICS_RECEIVED, c->side, m->cseq_method_id, m->status,
                         false);
    struct txn *t = txn_find_client(n, m->via.branch);
    if (!t && xmpp_gateway_sip_response(n, c, m))
        return; /* answers one of the XMPP gateway's own requests */
    if (!t) {
        LOG_DEBUG("sip", "stray %d response from %s dropped", m->status, c->peer_str);
        return;
    }
    int st = m->status;
    if (m->cseq_method_id == SIP_M_CANCEL && t->method != SIP_M_CANCEL) {
        /* the answer to the CANCEL we sent on this branch (same branch,
         * RFC 3261 9.1): hop by hop, it ends there; the INVITE's own final
         * response (487) is still to come */
        LOG_DEBUG("sip", "%d to our CANCEL from %s absorbed", st, c->peer_str);
        return;
    }
    if (t->state == TXN_DONE) {
        /* every 2xx to an INVITE goes up, even after a 487 or our 408
         * (RFC 3261 16.7 step 5): the caller must see the dialog to end it */
        if (st >= 200 && st < 300 && t->method == SIP_M_INVITE)
            forward_response(n, t, m, c->side);
        else if (t->method == SIP_M_INVITE && st >= 300)
            ack_non2xx(n, t, m, c); /* late (after our 408): still ours to ACK */
        return;
    }
    if (st < 200) {
        if (st == 100)
            return; /* hop by hop */
        t->provisional = true;
        t->state = TXN_PROCEEDING;
        if (t->method == SIP_M_INVITE)
            txn_arm(t, n->tv_timer_c);
        forward_response(n, t, m, c->side);
        if (t->cancel_pending) {
            t->cancel_pending = false;
            struct sip_msg fwd;
            if (t->fwd && sip_msg_parse(&fwd, t->fwd, t->fwd_len, &n->limits) == SIP_OK) {
                size_t len =
                    sip_build_cancel_or_ack(n->out_buf, n->out_cap, &fwd, "CANCEL", fwd.to);
                if (len)
                    conn_send(c, n->out_buf, len);
            }
            t->cancelled = true;
        }
        return;
    }
    if (t->method == SIP_M_INVITE && st >= 300)
        ack_non2xx(n, t, m, c);
    /* a 503 from an internal next hop: try the next one (RFC 3263 4.3) */
    if (st == 503 && t->targets[t->target_idx].side == SIDE_INTERNAL &&
        t->target_idx + 1 < t->n_targets && !t->cancelled) {
        txn_detach_out(t);
        t->target_idx++;
        char from[200];
        LOG_WARN("sip", "503 from internal next hop %s: failing over to %s:%u; %s", c->peer_str,
                 t->targets[t->target_idx].host, t->targets[t->target_idx].port,
                 txn_origin(n, t, from, sizeof(from)));
        t->state = TXN_ROUTING;
        send_current(t, NULL);
        return;
    }
    pool_dialog_on_final(n, t, m); /* the pool's dialog state: fire and forget */
    forward_response(n, t, m, c->side);
    t->final_up = st;
    if (t->throttled_partner)
        fed_record_response(n, t, st);
    txn_finish(t);
}

/* ---- entry points ------------------------------------------------------- */

static const char *parse_error_reason(int rc)
{
    switch (rc) {
    case SIP_ERR_TOO_MANY_HEADERS:
        return "Bad Request (too many headers)";
    case SIP_ERR_MISSING:
        return "Bad Request (missing mandatory header)";
    case SIP_ERR_CSEQ:
        return "Bad Request (bad CSeq)";
    case SIP_ERR_VIA:
        return "Bad Request (bad Via)";
    case SIP_ERR_CONTENT_LENGTH:
        return "Bad Request (bad Content-Length)";
    case SIP_ERR_MAX_FORWARDS:
        return "Bad Request (bad Max-Forwards)";
    default:
        return "Bad Request";
    }
}

void proxy_on_message(struct node *n, struct conn *c, const char *buf, size_t len)
{
    struct sip_msg m;
    int rc = sip_msg_parse(&m, buf, len, &n->limits);
    if (rc != SIP_OK) {
        n->stats.parse_errors++;
        bool can_answer = m.is_request && m.via.branch.len && m.call_id.len && m.from.len &&
                          m.to.len && m.cseq_method.len && m.method_id != SIP_M_ACK;
        LOG_INFO("sip", "malformed %s from %s %s: %s%s", m.is_request ? "request" : "message",
                 side_name(c->side), c->peer_str, parse_error_reason(rc),
                 can_answer ? "; answered 400" : "; dropped");
        if (can_answer) {
            int status = rc == SIP_ERR_TOO_LARGE ? 513 : 400;
            send_local_response(n, c, &m, status,
                                status == 513 ? "Message Too Large" : parse_error_reason(rc), NULL);
        }
        return;
    }
    if (c->side == SIDE_EXTERNAL && c->n_names == 0) {
        conn_close(c, "no verified certificate");
        return;
    }
    if (m.is_request)
        handle_request(n, c, &m);
    else
        handle_response(n, c, &m);
}

void proxy_on_framing_error(struct node *n, struct conn *c, const char *buf, size_t len)
{
    /* try to say why before closing: enough of the headers may be there */
    struct sip_msg m;
    struct sip_limits lim = n->limits;
    lim.max_message_size = len;
    sip_msg_parse(&m, buf, len, &lim);
    bool can_answer = m.is_request && m.via.branch.len && m.call_id.len && m.from.len && m.to.len &&
                      m.cseq_method.len && m.method_id != SIP_M_ACK;
    /* why framing failed: a Content-Length over the limit is "too large" even
     * when only part of the body has arrived yet */
    size_t ka = 0;
    ssize_t why = sip_frame(buf, len, (size_t)n->cfg.max_message_size, &ka);
    bool too_large = why == SIP_ERR_TOO_LARGE || len > (size_t)n->cfg.max_message_size;
    int status = too_large ? 513 : 400;
    LOG_INFO("sip", "cannot frame the stream from %s %s (%s): %s; connection closed",
             side_name(c->side), c->peer_str,
             too_large                       ? "message too large"
             : why == SIP_ERR_CONTENT_LENGTH ? "bad or missing Content-Length"
                                             : "malformed line",
             can_answer ? (too_large ? "answered 513" : "answered 400") : "nothing answerable");
    if (can_answer)
        send_local_response(n, c, &m, status,
                            too_large                       ? "Message Too Large"
                            : why == SIP_ERR_CONTENT_LENGTH ? "Bad Request (bad Content-Length)"
                                                            : "Bad Request",
                            NULL);
}

void proxy_conn_closed(struct node *n, struct conn *c)
{
    while (c->pending) {
        struct txn *t = c->pending;
        txn_detach_out(t);
        if (t->final_up || t->state == TXN_DONE)
            continue;
        fail_or_failover(t, 503, "Service Unavailable (internal next hop unreachable)");
    }
}

void proxy_txn_timeout(struct node *n, struct txn *t)
{
    if (t->state == TXN_DONE) {
        txn_free(t);
        return;
    }
    n->stats.timeouts++;
    if (t->method == SIP_M_INVITE && t->provisional) {
        /* Timer C: cancel the branch (RFC 3261 16.8) */
        struct conn *out = conn_by_id(n, t->out_conn);
        struct sip_msg fwd;
        if (out && t->fwd && sip_msg_parse(&fwd, t->fwd, t->fwd_len, &n->limits) == SIP_OK) {
            size_t len = sip_build_cancel_or_ack(n->out_buf, n->out_cap, &fwd, "CANCEL", fwd.to);
            if (len)
                conn_send(out, n->out_buf, len);
        }
    }
    const struct txn_target *tg = &t->targets[t->target_idx];
    char from[200];
    LOG_WARN("sip", "%s relayed to %s:%u timed out; answered 408 to the %s",
             sip_method_name(t->method) ? sip_method_name(t->method) : "request", tg->host,
             tg->port, txn_origin(n, t, from, sizeof(from)));
    /* frees t; answers only if nothing final went up (logged above: one line) */
    txn_reply_logged(t, 408, "Request Timeout", true);
}

static void count_open(void *arg, const char *key, void *value)
{
    const struct txn *t = value;
    if (t->state != TXN_DONE)
        (*(size_t *)arg)++;
}

size_t proxy_open_transactions(const struct node *n)
{
    size_t open = 0;
    hmap_each(&n->stxns, count_open, &open);
    return open;
}
