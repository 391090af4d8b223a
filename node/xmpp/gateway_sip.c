/* gateway_sip.c -- the gateway's SIP toward the inside: its own client
 * transactions (MESSAGE, SUBSCRIBE, NOTIFY it originates for the XMPP side)
 * sent to the internal next hops in order, failing over on connect failure
 * or 503, answered through our Via branch (the proxy hands over responses
 * no proxy transaction claims); and answering the internal side's requests
 * the gateway takes. A transaction lasts limits.transaction_timeout_ms
 * (408 after it), like the proxy's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "conn/conn_pool.h"
#include "log.h"
#include "node.h"
#include "sip/build.h"
#include "xmpp/gateway_int.h"

/* conn_pool waiter ids of ours: never a proxy txn id (those count up from 1) */
#define GW_ID_BIT (1ull << 62)
#define GW_POLL_MS 20

struct gw_req {
    struct node *node;
    uint64_t id;
    char branch[64]; /* "" until sent */
    char method[16];
    char *line; /* "METHOD ruri SIP/2.0\r\n" */
    char *rest; /* everything after our Via (Max-Forwards .. body) */
    size_t line_len, rest_len;
    int target;
    uint64_t deadline_ms;
    struct event *timer;
    gw_resp_fn cb;
    bool ringing;   /* INVITE: a provisional came (CANCEL it if it times out) */
    bool cancelled; /* INVITE: CANCEL sent, its caller told 408; the 487 is awaited */
    void *arg;
    void (*free_arg)(void *);
};

/* "#<id>" keys every request (the id index), its branch keys it once sent */

/* How long our INVITE may ring (xmpp.session_ring_timeout), in ms. */
static int ring_ms(const struct node *n)
{
    struct xmpp_gateway_settings gs;
    xmpp_gateway_settings(n, &gs);
    return gs.session_ring_s * 1000;
}

static int id_key(const struct gw_req *r, char *key, size_t cap)
{
    return snprintf(key, cap, "#%llx", (unsigned long long)r->id);
}

static void req_free(struct gw_req *r)
{
    struct xmpp_gateway *g = r->node->gateway;
    if (!g->closing) {
        char key[24];
        hmap_del(&g->reqs, key, (size_t)id_key(r, key, sizeof(key)));
        if (r->branch[0])
            hmap_del(&g->reqs, r->branch, strlen(r->branch));
    }
    if (r->timer)
        event_free(r->timer);
    if (r->free_arg)
        r->free_arg(r->arg);
    free(r->line);
    free(r->rest);
    free(r);
}

static void finish(struct gw_req *r, int status, const struct sip_msg *resp)
{
    struct node *n = r->node;
    if (r->branch[0]) {
        hmap_del(&n->gateway->reqs, r->branch, strlen(r->branch));
        r->branch[0] = '\0';
    }
    if (status == 408 && !resp)
        n->gateway->stats.sip_timeouts++;
    if (r->cb)
        r->cb(n, r->arg, status, resp);
    req_free(r);
}

static void arm(struct gw_req *r, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(r->timer, &tv);
}

static void attempt(struct gw_req *r);

static void next_target(struct gw_req *r, int status, const char *why)
{
    struct node *n = r->node;
    if (r->target + 1 < n->n_next_hops) {
        LOG_WARN("xmpp-gw", "%s toward %s:%u failed (%d %s): trying %s:%u", r->method,
                 n->next_hops[r->target].host, n->next_hops[r->target].port, status, why,
                 n->next_hops[r->target + 1].host, n->next_hops[r->target + 1].port);
        r->target++;
        attempt(r);
        return;
    }
    LOG_WARN("xmpp-gw", "%s: no internal next hop reachable (%d %s)", r->method, status, why);
    finish(r, status >= 500 ? status : 503, NULL);
}

/* The value of our header name ("From: ") in the request we built. */
static struct slice own_hdr(const struct gw_req *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = r->rest, *end = r->rest + r->rest_len; p < end;) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol == p)
            break;
        if ((size_t)(eol - p) > nl && memcmp(p, name, nl) == 0)
            return slice_from(p + nl, (size_t)(eol - p) - nl);
        p = eol + 2;
    }
    return slice_from("", 0);
}

/* RFC 3261 9.1: CANCEL our INVITE r that rang past its time, same branch,
 * on the connection it went on; r stays until the 487 (or 32 s). */
static bool cancel_invite(struct gw_req *r)
{
    struct node *n = r->node;
    const struct next_hop *nh = &n->next_hops[r->target];
    int status = 0;
    const char *why = NULL;
    struct conn *c =
        conn_pool_acquire(n, SIDE_INTERNAL, nh->host, nh->port, nh->tls, r->id, &status, &why);
    if (!c)
        return false;
    struct slice from = own_hdr(r, "From: "), to = own_hdr(r, "To: "),
                 cid = own_hdr(r, "Call-ID: "), cseq = own_hdr(r, "CSeq: ");
    int k = snprintf(n->out_buf, n->out_cap,
                     "CANCEL %.*s SIP/2.0\r\nVia: SIP/2.0/%s %s:%u;branch=%s\r\nMax-Forwards: "
                     "70\r\nFrom: %.*s\r\nTo: %.*s\r\nCall-ID: %.*s\r\nCSeq: %u CANCEL\r\n"
                     "Content-Length: 0\r\n\r\n",
                     (int)(r->line_len > 17 ? r->line_len - 17 : 0), r->line + 7,
                     nh->tls ? "TLS" : "TCP", n->int_addr.host, n->int_addr.port, r->branch,
                     SLICE_FMT(from), SLICE_FMT(to), SLICE_FMT(cid),
                     (unsigned)strtoul(cseq.len ? cseq.p : "1", NULL, 10));
    return k > 0 && (size_t)k < n->out_cap && conn_send(c, n->out_buf, (size_t)k) == 0;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_req *r = arg;
    uint64_t now = node_now_ms(r->node);
    if (!r->branch[0] && now < r->deadline_ms) { /* waiting for the conn pool */
        attempt(r);
        return;
    }
    if (r->cancelled) { /* no 487 after our CANCEL: done with it */
        finish(r, 408, NULL);
        return;
    }
    if (r->ringing && r->branch[0] && cancel_invite(r)) {
        LOG_INFO("xmpp-gw",
                 "INVITE toward %s:%u rang %d s unanswered: CANCEL sent, 408 to its "
                 "caller",
                 r->node->next_hops[r->target].host, r->node->next_hops[r->target].port,
                 ring_ms(r->node) / 1000);
        r->cb(r->node, r->arg, 408, NULL);
        r->cb = NULL;
        r->cancelled = true;
        arm(r, 32000); /* Timer B's worth for the 487 */
        return;
    }
    LOG_WARN("xmpp-gw", "%s toward %s:%u timed out: 408", r->method,
             r->node->next_hops[r->target].host, r->node->next_hops[r->target].port);
    finish(r, 408, NULL);
}

static void attempt(struct gw_req *r)
{
    struct node *n = r->node;
    struct xmpp_gateway *g = n->gateway;
    const struct next_hop *nh = &n->next_hops[r->target];
    int status = 0;
    const char *why = NULL;
    struct conn *c =
        conn_pool_acquire(n, SIDE_INTERNAL, nh->host, nh->port, nh->tls, r->id, &status, &why);
    uint64_t now = node_now_ms(n);
    if (!c) {
        if (status) {
            next_target(r, status, why);
            return;
        }
        /* resolving: ask again shortly (the pool calls the proxy, not us) */
        arm(r, now + GW_POLL_MS < r->deadline_ms ? GW_POLL_MS
               : r->deadline_ms > now            ? r->deadline_ms - now
                                                 : 0);
        return;
    }
    if (r->branch[0])
        hmap_del(&g->reqs, r->branch, strlen(r->branch));
    snprintf(r->branch, sizeof(r->branch), "z9hG4bKX%s%llx", g->prefix,
             (unsigned long long)++g->seq);
    if (hmap_put(&g->reqs, r->branch, strlen(r->branch), r) < 0) {
        r->branch[0] = '\0';
        finish(r, 503, NULL);
        return;
    }
    char via[200];
    int vl = snprintf(via, sizeof(via), "Via: SIP/2.0/%s %s:%u;branch=%s\r\n",
                      nh->tls ? "TLS" : "TCP", n->int_addr.host, n->int_addr.port, r->branch);
    size_t len = r->line_len + (size_t)vl + r->rest_len;
    if (len > n->out_cap) {
        finish(r, 513, NULL);
        return;
    }
    memcpy(n->out_buf, r->line, r->line_len);
    memcpy(n->out_buf + r->line_len, via, (size_t)vl);
    memcpy(n->out_buf + r->line_len + (size_t)vl, r->rest, r->rest_len);
    if (conn_send(c, n->out_buf, len) < 0) {
        next_target(r, 503, "connection lost");
        return;
    }
    g->stats.sip_requests++;
    LOG_DEBUG("xmpp-gw", "%.*s sent to %s:%u", (int)r->line_len - 2, r->line, nh->host, nh->port);
    if (!r->cb) { /* an ACK: no answer comes */
        req_free(r);
        return;
    }
    arm(r, r->deadline_ms > now ? r->deadline_ms - now : 0);
}

int gw_sip_request(struct node *n, const char *method, const char *ruri, const char *hdrs,
                   const char *ctype, const char *body, size_t body_len, gw_resp_fn cb, void *arg,
                   void (*free_arg)(void *))
{
    struct xmpp_gateway *g = n->gateway;
    if (!g || g->closing || n->n_next_hops == 0)
        return -1;
    struct gw_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->node = n;
    r->id = GW_ID_BIT | ++g->seq;
    snprintf(r->method, sizeof(r->method), "%s", method);
    int ll = asprintf(&r->line, "%s %s SIP/2.0\r\n", method, ruri);
    char ct[160] = "";
    if (ctype)
        snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", ctype);
    char *head = NULL;
    int hl = asprintf(&head,
                      "Max-Forwards: 70\r\n%sUser-Agent: edgepool-xmpp-gateway\r\n%s"
                      "Content-Length: %zu\r\n\r\n",
                      hdrs, ct, body ? body_len : 0);
    r->timer = evtimer_new(n->base, timer_cb, r);
    if (ll < 0 || hl < 0 || !r->timer) {
        if (hl >= 0)
            free(head);
        if (ll < 0)
            r->line = NULL;
        r->free_arg = NULL;
        req_free(r);
        return -1;
    }
    r->line_len = (size_t)ll;
    r->rest_len = (size_t)hl + (body ? body_len : 0);
    r->rest = malloc(r->rest_len);
    if (!r->rest) {
        free(head);
        req_free(r);
        return -1;
    }
    memcpy(r->rest, head, (size_t)hl);
    if (body && body_len)
        memcpy(r->rest + hl, body, body_len);
    free(head);
    r->cb = cb;
    r->arg = arg;
    r->free_arg = free_arg;
    r->deadline_ms = node_now_ms(n) + (uint64_t)n->cfg.txn_timeout_ms;
    char key[24];
    if (hmap_put(&g->reqs, key, (size_t)id_key(r, key, sizeof(key)), r) < 0) {
        r->free_arg = NULL;
        req_free(r);
        return -1;
    }
    /* never inside this call: the first attempt runs from the loop */
    arm(r, 0);
    return 0;
}

/* The ACK of a non-2xx final response to our INVITE r (RFC 3261 17.1.1.3:
 * same branch, the response's To), on the connection it came on. */
static void ack_non2xx(struct node *n, struct conn *c, const struct gw_req *r,
                       const struct sip_msg *m)
{
    char ruri[600];
    snprintf(ruri, sizeof(ruri), "%.*s", (int)(r->line_len > 17 ? r->line_len - 17 : 0),
             r->line + 7); /* "INVITE " ... " SIP/2.0\r\n" */
    int k = snprintf(n->out_buf, n->out_cap,
                     "ACK %s SIP/2.0\r\nVia: %.*s\r\nMax-Forwards: 70\r\nFrom: %.*s\r\nTo: "
                     "%.*s\r\nCall-ID: %.*s\r\nCSeq: %u ACK\r\nContent-Length: 0\r\n\r\n",
                     ruri, SLICE_FMT(m->via.raw), SLICE_FMT(m->from), SLICE_FMT(m->to),
                     SLICE_FMT(m->call_id), (unsigned)m->cseq);
    if (c && k > 0 && (size_t)k < n->out_cap && conn_send(c, n->out_buf, (size_t)k) < 0)
        LOG_INFO("xmpp-gw", "ACK of %d to our INVITE not sent: connection lost", m->status);
}

void gw_uri_of(struct slice v, char *out, size_t cap)
{
    const char *lt = memchr(v.p, '<', v.len);
    const char *gt = lt ? memchr(lt, '>', v.len - (size_t)(lt - v.p)) : NULL;
    if (lt && gt) {
        snprintf(out, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
        return;
    }
    size_t k = 0;
    while (k < v.len && v.p[k] != ';')
        k++;
    snprintf(out, cap, "%.*s", (int)k, v.p);
}

bool gw_route_set(const struct sip_msg *m, char *out, size_t cap)
{
    const struct sip_hdr *rr[32];
    unsigned nrr = 0;
    for (unsigned i = 0; i < m->nhdrs && nrr < 32; i++)
        if (m->hdrs[i].id == SIP_HDR_RECORD_ROUTE)
            rr[nrr++] = &m->hdrs[i];
    size_t rl = 0;
    out[0] = '\0';
    for (unsigned i = nrr; i-- > 0;) {
        /* one header may carry several values: kept in their order */
        if (rl + rr[i]->value.len + 2 >= cap)
            return false;
        rl +=
            (size_t)snprintf(out + rl, cap - rl, "%s%.*s", rl ? ", " : "", SLICE_FMT(rr[i]->value));
    }
    return true;
}

/* A 2xx to our INVITE after we CANCELled it (the callee answered as the
 * CANCEL crossed): the dialog exists on the other side, so it is ACKed and
 * ended with a BYE at once (RFC 3261 section 9.1); nobody here wants it. */
static void end_late_2xx(struct node *n, const struct sip_msg *m)
{
    char ruri[600] = "", route[1100] = "", routeh[1120] = "", hdrs[2600];
    const struct sip_hdr *ch = sip_msg_hdr(m, SIP_HDR_CONTACT);
    if (ch)
        gw_uri_of(ch->value, ruri, sizeof(ruri));
    if (!ruri[0] || !gw_route_set(m, route, sizeof(route))) {
        LOG_WARN("xmpp-gw",
                 "2xx to our CANCELled INVITE (Call-ID %.*s) without a usable Contact "
                 "or route set: not ACKed",
                 SLICE_FMT(m->call_id));
        return;
    }
    if (route[0])
        snprintf(routeh, sizeof(routeh), "Route: %s\r\n", route);
    for (int k = 0; k < 2; k++) {
        const char *method = k == 0 ? "ACK" : "BYE";
        snprintf(hdrs, sizeof(hdrs), "%sFrom: %.*s\r\nTo: %.*s\r\nCall-ID: %.*s\r\nCSeq: %u %s\r\n",
                 routeh, SLICE_FMT(m->from), SLICE_FMT(m->to), SLICE_FMT(m->call_id),
                 (unsigned)m->cseq + (unsigned)k, method);
        if (gw_sip_request(n, method, ruri, hdrs, NULL, NULL, 0, NULL, NULL, NULL) < 0)
            LOG_WARN("xmpp-gw", "%s of a 2xx to our CANCELled INVITE not sent", method);
    }
    LOG_INFO("xmpp-gw",
             "INVITE (Call-ID %.*s) answered %d after our CANCEL: ACKed and ended with BYE",
             SLICE_FMT(m->call_id), m->status);
}

bool gw_sip_on_response(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct xmpp_gateway *g = n->gateway;
    if (!g || m->via.branch.len < 8 || memcmp(m->via.branch.p, "z9hG4bKX", 8) != 0)
        return false;
    struct gw_req *r = hmap_get(&g->reqs, m->via.branch.p, m->via.branch.len);
    if (!r)
        return false;
    if (m->cseq_method_id == SIP_M_CANCEL)
        return true; /* the answer to our CANCEL: the INVITE's own (487) follows */
    if (m->status < 200) {
        /* non-INVITE: a provisional changes nothing. INVITE: the callee is
         * alerted (a Lync client shows a toast until its user answers): wait
         * as long as RFC 3261's Timer C rather than the transaction timeout */
        if (m->status > 100 && strcmp(r->method, "INVITE") == 0 && !r->cancelled) {
            r->ringing = true;
            r->deadline_ms = node_now_ms(n) + ring_ms(n);
            evtimer_del(r->timer);
            arm(r, ring_ms(n));
        }
        return true;
    }
    if (m->status >= 300 && strcmp(r->method, "INVITE") == 0)
        ack_non2xx(n, c, r, m);
    if (m->status < 300 && r->cancelled && strcmp(r->method, "INVITE") == 0)
        end_late_2xx(n, m);
    if (m->status == 503 && r->target + 1 < n->n_next_hops && !r->cancelled) {
        hmap_del(&g->reqs, r->branch, strlen(r->branch));
        r->branch[0] = '\0';
        evtimer_del(r->timer);
        next_target(r, 503, "Service Unavailable");
        return true;
    }
    evtimer_del(r->timer);
    finish(r, m->status, m);
    return true;
}

struct collect {
    struct gw_req **v;
    size_t n, cap;
};

static void collect_req(void *arg, const char *key, void *value)
{
    struct collect *c = arg;
    if (key[0] == '#' && c->n < c->cap)
        c->v[c->n++] = value;
}

void gw_sip_free_all(struct xmpp_gateway *g)
{
    struct collect c = {calloc(g->reqs.count + 1, sizeof(struct gw_req *)), 0, g->reqs.count};
    if (!c.v)
        return;
    hmap_each(&g->reqs, collect_req, &c);
    for (size_t i = 0; i < c.n; i++)
        req_free(c.v[i]); /* g->closing: the map is left alone, destroyed after */
    free(c.v);
}

void gw_sip_reply(struct node *n, struct conn *c, const struct sip_msg *m, int status,
                  const char *reason, const char *to_tag, const char *extra)
{
    char tag[40];
    if (!to_tag) {
        gw_token(n->gateway, "t", tag, sizeof(tag));
        to_tag = tag;
    }
    size_t len = sip_build_response(n->out_buf, n->out_cap, m, status, reason, to_tag, extra);
    if (len && conn_send(c, n->out_buf, len) == 0) {
        n->stats.local_responses++;
        n->stats.responses_out++;
    }
}

void gw_contact(struct node *n, char *out, size_t cap)
{
    snprintf(out, cap, "<sip:%s:%u;transport=tcp;ep-xmpp>", n->cfg.internal_rr_host,
             n->int_addr.port);
}

bool gw_hdr_value(const struct sip_msg *m, enum sip_hdr_id id, const char *name, char *out,
                  size_t cap)
{
    const struct sip_hdr *h =
        id != SIP_HDR_OTHER ? sip_msg_hdr(m, id) : sip_msg_hdr_by_name(m, slice_cstr(name));
    if (!h) {
        out[0] = '\0';
        return false;
    }
    slice_copy(h->value, out, cap);
    return true;
}

long gw_expires(const struct sip_msg *m)
{
    const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_EXPIRES);
    if (!h || !h->value.len || h->value.len > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < h->value.len; i++) {
        char c = h->value.p[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}
