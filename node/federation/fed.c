/* fed.c -- federation trust and routing on the SIP path (see fed.h). */
#include "federation/fed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "federation/policy.h"
#include "federation/throttle.h"
#include "log.h"
#include "pool/pool_throttle.h"
#include "resolver.h"
#include "sip/proxy.h"

static const char *source_type(enum fed_class cls, const struct policy_provider *prov)
{
    switch (cls) {
    case FED_PARTNER_SERVER:
        return "DirectPartner";
    case FED_PARTNER_DOMAIN:
        return "AllowedPartnerDomain";
    case FED_DISCOVERED:
        return "AutoFederation";
    case FED_PROVIDER:
        return prov && prov->is_public ? "PublicProvider" : "HostingProvider";
    default:
        return "Unknown";
    }
}

static struct slice uri_host(struct slice uri)
{
    struct sip_uri u;
    return sip_uri_parse(uri, &u) == 0 ? u.host : SLICE_NULL;
}

/* "user@host" of a URI into buf; empty for a URI without a user (a server,
 * e.g. OPTIONS to the edge): no user to check or count as a contact. */
static struct slice uri_aor(struct slice uri, char *buf, size_t len)
{
    struct sip_uri u;
    if (sip_uri_parse(uri, &u) < 0 || u.user.len == 0)
        return SLICE_NULL;
    int k = snprintf(buf, len, "%.*s@%.*s", SLICE_FMT(u.user), SLICE_FMT(u.host));
    return slice_from(buf, k < 0 ? 0 : ((size_t)k < len ? (size_t)k : len - 1));
}

/* "internal 10.0.0.5:5060": the connection t's request came on, for logs. */
static const char *txn_from(struct node *n, const struct txn *t, char *buf, size_t len)
{
    const struct conn *c = conn_by_id(n, t->in_conn);
    snprintf(buf, len, "%s %s", t->in_side == SIDE_INTERNAL ? "internal" : "external",
             c ? c->peer_str : "(connection gone)");
    return buf;
}

static int refuse(struct fed_result *r, int status, const char *reason)
{
    r->status = status;
    r->reason = reason;
    return FED_REJECT;
}

/* ---- inbound ------------------------------------------------------------ */

/* Whether the sender marked m verified, for use_source_verification: Lync's
 * ms-edge-proxy-message-trust with ms-source-verified-user=verified, or an
 * edgepool's X-Edgepool-Trust with ";verified". Unmarked means unverified. */
static bool source_marked_verified(const struct sip_msg *m)
{
    static const enum sip_hdr_id ids[] = {SIP_HDR_MS_TRUST, SIP_HDR_EP_TRUST};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        for (const struct sip_hdr *h = sip_msg_hdr(m, ids[i]); h; h = sip_msg_hdr_next(m, h)) {
            struct slice v = h->value;
            while (v.len) {
                long semi = slice_find(v, ';');
                size_t k = semi < 0 ? v.len : (size_t)semi;
                struct slice tok = slice_trim(slice_from(v.p, k));
                if (slice_eq_cstr_ci(tok, ids[i] == SIP_HDR_MS_TRUST
                                              ? "ms-source-verified-user=verified"
                                              : "verified"))
                    return true;
                v = semi < 0 ? SLICE_NULL : slice_from(v.p + k + 1, v.len - k - 1);
            }
        }
    return false;
}

/* After the identity is settled (d final): our trust header and throttling
 * (FED_PENDING when the pool's counters in Redis decide). */
static int inbound_finish(struct node *n, struct conn *c, struct txn *t, const struct sip_msg *m,
                          struct slice to_aor, const struct fed_decision *d, struct fed_result *r)
{
    if (d->sip_status) {
        LOG_INFO("fed", "%s from %s (certificate %s) refused %d: %s", t->remote_domain, c->peer_str,
                 c->n_names ? c->names[0] : "-", d->sip_status, d->reason);
        return refuse(r, d->sip_status, d->reason);
    }
    t->fed_class = d->cls;
    bool verified = d->verification == VERIF_ALWAYS_VERIFIABLE ||
                    (d->verification == VERIF_USE_SOURCE && source_marked_verified(m));
    snprintf(t->trust_hdr, sizeof(t->trust_hdr),
             "X-Edgepool-Trust: source=%s;edge=%s;%s;remote=%s;domain=%s\r\n",
             source_type(d->cls, d->provider), n->cfg.node_fqdn,
             verified ? "verified" : "unverified", t->peer, t->remote_domain);
    if (d->throttle && !t->in_dialog) {
        /* a pool counts in Redis (asynchronous), else this node alone */
        t->throttled_partner = true;
        if (pool_throttle_check(n, c, t, to_aor) == FED_PENDING)
            return FED_PENDING;
        enum throttle_verdict v = throttle_check(n->throttle, slice_cstr(t->remote_domain), to_aor,
                                                 c->cert_info, node_now_ms(n));
        metrics_throttle_verdict(n->metrics, v, false);
        if (v != THROTTLE_OK)
            LOG_WARN("fed", "discovered partner %s from %s (%s) throttled: %s", t->remote_domain,
                     c->peer_str, c->cert_info,
                     v == THROTTLE_RATE ? "over its message rate, answered 503"
                                        : "over its contact limit (watch list), answered 403");
        if (v == THROTTLE_RATE)
            return refuse(r, 503, "Service Unavailable (discovered partner over its rate)");
        if (v == THROTTLE_CONTACTS)
            return refuse(r, 403, "Forbidden (discovered partner over its contact limit)");
    }
    return FED_OK;
}

struct srv_check {
    struct node *node;
    uint64_t txn_id, conn_id;
    uint64_t policy_version; /* inbound: the policy that asked for the SRV check */
};

static void inbound_srv_done(void *arg, int status, const struct srv_target *tg, size_t n_tg)
{
    struct srv_check *sc = arg;
    struct node *n = sc->node;
    struct txn *t = status == RESOLVER_CANCELLED ? NULL : txn_by_id(n, sc->txn_id);
    struct conn *c = t ? conn_by_id(n, sc->conn_id) : NULL;
    uint64_t version = sc->policy_version;
    free(sc);
    if (!t)
        return;
    if (!c) {
        proxy_txn_resume(n, t->id, 503, "Service Unavailable (partner connection closed)");
        return;
    }
    struct slice dom = slice_cstr(t->remote_domain);
    if (status == RESOLVER_TIMEOUT || status == RESOLVER_SERVFAIL || status == RESOLVER_ERROR) {
        LOG_WARN("fed",
                 "cannot verify %s from %s: DNS failure on _sipfederationtls._tcp.%s, "
                 "answered 504",
                 t->remote_domain, c->peer_str, t->remote_domain);
        proxy_txn_resume(n, t->id, 504, "Server Time-out (DNS failure verifying the From domain)");
        return;
    }
    const char *match = NULL;
    for (size_t i = 0; i < n_tg && !match; i++)
        if (conn_peer_has_name(c, slice_cstr(tg[i].host)))
            match = tg[i].host;
    if (!match) {
        const char *why = status != RESOLVER_OK
                              ? "Forbidden (no federation SRV record for the From domain)"
                              : "Forbidden (certificate does not match the SRV target)";
        LOG_WARN("fed", "%s from %s (certificate %s) refused 403: %s", t->remote_domain,
                 c->peer_str, c->n_names ? c->names[0] : "-",
                 status != RESOLVER_OK ? "the domain publishes no _sipfederationtls._tcp SRV"
                                       : "no SRV target is a name of the certificate");
        conn_domain_remember(c, dom, version, false, 403, why);
        proxy_txn_resume(n, t->id, 403, why);
        return;
    }
    snprintf(t->peer, sizeof(t->peer), "%s", match);
    struct sip_msg m;
    if (txn_reparse(t, &m) != SIP_OK) {
        proxy_txn_resume(n, t->id, 500, "Internal Server Error");
        return;
    }
    const struct policy *p = n->policy->current(n->policy);
    char aor_buf[320];
    struct slice to_aor = t->in_dialog ? SLICE_NULL : uri_aor(m.to_uri, aor_buf, sizeof(aor_buf));
    struct fed_decision d;
    policy_check_inbound(p, (const char *const *)c->names, (size_t)c->n_names, dom, to_aor, &d);
    policy_apply_srv_target(p, match, to_aor, &d);
    if (!d.sip_status)
        conn_domain_remember(c, dom, policy_version(p), true, 0, NULL);
    struct fed_result r = {0, NULL};
    int v = inbound_finish(n, c, t, &m, to_aor, &d, &r);
    if (v == FED_PENDING)
        return; /* the pool-wide throttle resumes it */
    if (v == FED_REJECT)
        proxy_txn_resume(n, t->id, r.status, r.reason);
    else
        proxy_txn_resume(n, t->id, 0, NULL);
}

/* Look up _sipfederationtls._tcp.<remote domain>; cb gets a heap copy of sc
 * (and frees it). FED_PENDING, or refused with fail_status at once. */
static int srv_lookup(struct node *n, const struct txn *t, struct srv_check sc, resolver_srv_cb cb,
                      int fail_status, const char *fail_reason, struct fed_result *r)
{
    struct srv_check *arg = malloc(sizeof(*arg));
    if (!arg)
        return refuse(r, 503, "Service Unavailable (out of memory)");
    *arg = sc;
    char name[300];
    snprintf(name, sizeof(name), "_sipfederationtls._tcp.%s", t->remote_domain);
    if (resolver_srv(n->resolver, name, cb, arg) < 0) {
        free(arg);
        return refuse(r, fail_status, fail_reason);
    }
    return FED_PENDING;
}

int fed_inbound_check(struct node *n, struct conn *c, const struct sip_msg *m, struct txn *t,
                      struct fed_result *r)
{
    const struct policy *p = n->policy->current(n->policy);
    struct slice from_dom = uri_host(m->from_uri);
    if (from_dom.len == 0 || from_dom.len >= sizeof(t->remote_domain)) {
        LOG_INFO("fed", "request from %s with an unusable From URI, answered 400", c->peer_str);
        return refuse(r, 400, "Bad Request (From URI)");
    }
    slice_copy(from_dom, t->remote_domain, sizeof(t->remote_domain));
    if (!t->in_dialog) {
        struct slice to_dom = uri_host(m->ruri);
        if (!policy_is_internal_domain(p, to_dom)) {
            LOG_INFO("fed", "request from %s (%s) for %.*s: not a domain of ours, answered 404",
                     c->peer_str, t->remote_domain, SLICE_FMT(to_dom));
            return refuse(r, 404, "Not Found (domain not served here)");
        }
    }
    int cst;
    const char *creason;
    if (conn_domain_lookup(c, from_dom, policy_version(p), &cst, &creason) == 0)
        return refuse(r, cst, creason);
    char aor_buf[320];
    struct slice to_aor = t->in_dialog ? SLICE_NULL : uri_aor(m->to_uri, aor_buf, sizeof(aor_buf));
    struct fed_decision d;
    policy_check_inbound(p, (const char *const *)c->names, (size_t)c->n_names, from_dom, to_aor,
                         &d);
    if (d.sip_status || !d.need_srv) {
        if (!d.sip_status) /* the connection speaks for it (the admin endpoint's partners) */
            conn_domain_remember(c, from_dom, policy_version(p), true, 0, NULL);
        snprintf(t->peer, sizeof(t->peer), "%s",
                 d.edge_fqdn ? d.edge_fqdn : (c->n_names ? c->names[0] : ""));
        return inbound_finish(n, c, t, m, to_aor, &d, r);
    }
    /* allowed partner domain or discovered: the certificate must name the SRV
     * target (RFC 5922); the answer is cached by the resolver, the verdict on
     * the connection */
    return srv_lookup(n, t, (struct srv_check){n, t->id, c->id, policy_version(p)},
                      inbound_srv_done, 504,
                      "Server Time-out (DNS failure verifying the From domain)", r);
}

/* ---- outbound ----------------------------------------------------------- */

static void set_single_target(struct txn *t, const char *host, uint16_t port)
{
    struct txn_target *tg = &t->targets[0];
    snprintf(tg->host, sizeof(tg->host), "%s", host);
    tg->port = port;
    tg->tls = true;
    tg->side = SIDE_EXTERNAL;
    t->n_targets = 1;
    t->target_idx = 0;
}

static void outbound_srv_done(void *arg, int status, const struct srv_target *tg, size_t n_tg)
{
    struct srv_check *sc = arg;
    struct node *n = sc->node;
    struct txn *t = status == RESOLVER_CANCELLED ? NULL : txn_by_id(n, sc->txn_id);
    free(sc);
    if (!t)
        return;
    char from[100];
    if (status == RESOLVER_NXDOMAIN || status == RESOLVER_NODATA) {
        LOG_INFO("fed",
                 "no federation route to %s: no _sipfederationtls._tcp SRV, answered 404 "
                 "(request from %s)",
                 t->remote_domain, txn_from(n, t, from, sizeof(from)));
        proxy_txn_resume(n, t->id, 404, "Not Found (no federation route to the domain)");
        return;
    }
    if (status != RESOLVER_OK) {
        LOG_WARN("fed",
                 "DNS failure looking up _sipfederationtls._tcp.%s (%s), answered 503 "
                 "(request from %s)",
                 t->remote_domain, resolver_status_name(status),
                 txn_from(n, t, from, sizeof(from)));
        proxy_txn_resume(n, t->id, 503, "Service Unavailable (DNS failure)");
        return;
    }
    t->n_targets = 0;
    for (size_t i = 0; i < n_tg && t->n_targets < TXN_MAX_TARGETS; i++) {
        struct txn_target *x = &t->targets[t->n_targets++];
        snprintf(x->host, sizeof(x->host), "%s", tg[i].host);
        x->port = tg[i].port;
        x->tls = true;
        x->side = SIDE_EXTERNAL;
    }
    t->target_idx = 0;
    proxy_txn_resume(n, t->id, 0, NULL);
}

int fed_outbound_route(struct node *n, const struct sip_msg *m, struct txn *t, struct fed_result *r)
{
    const struct policy *p = n->policy->current(n->policy);
    struct slice dom = uri_host(m->ruri);
    char from[100];
    if (dom.len == 0 || dom.len >= sizeof(t->remote_domain)) {
        LOG_INFO("fed", "internal request for %.*s: no domain to route to, answered 416 (from %s)",
                 SLICE_FMT(m->ruri), txn_from(n, t, from, sizeof(from)));
        return refuse(r, 416, "Unsupported URI Scheme");
    }
    slice_copy(dom, t->remote_domain, sizeof(t->remote_domain));
    struct slice from_dom = uri_host(m->from_uri);
    if (!policy_is_internal_domain(p, from_dom)) {
        LOG_WARN("fed",
                 "internal request From %.*s: not one of our domains, answered 403 (from %s)",
                 SLICE_FMT(m->from_uri), txn_from(n, t, from, sizeof(from)));
        return refuse(r, 403, "Forbidden (From domain is not ours)");
    }
    char aor_buf[320];
    struct slice from_aor =
        t->in_dialog ? SLICE_NULL : uri_aor(m->from_uri, aor_buf, sizeof(aor_buf));
    struct fed_decision d;
    policy_check_outbound(p, from_aor, dom, &d);
    t->fed_class = d.cls;
    if (d.sip_status) {
        LOG_INFO("fed", "request from %.*s to %s answered %d: %s (from %s)", SLICE_FMT(m->from_uri),
                 t->remote_domain, d.sip_status, d.reason, txn_from(n, t, from, sizeof(from)));
        return refuse(r, d.sip_status, d.reason);
    }
    if (d.cls == FED_INTERNAL) {
        LOG_INFO("fed",
                 "internal request for our own domain %s reached the edge, answered 404 "
                 "(from %s)",
                 t->remote_domain, txn_from(n, t, from, sizeof(from)));
        return refuse(r, 404, "Not Found (an internal domain)");
    }
    /* MarkSourceVerifiableOnOutgoingMessages: vouch for our own users, in
     * the header a provider or partner edge reads (and strips) */
    if (policy_settings(p)->mark_source_verifiable)
        snprintf(t->trust_hdr, sizeof(t->trust_hdr),
                 "ms-edge-proxy-message-trust: ms-source-type=InternalUser;ms-ep-fqdn=%s;"
                 "ms-source-verified-user=verified\r\n",
                 n->cfg.pool_fqdn);
    if (d.next_hop) {
        set_single_target(t, d.next_hop, 5061);
        return FED_OK;
    }
    return srv_lookup(n, t, (struct srv_check){n, t->id, 0, 0}, outbound_srv_done, 503,
                      "Service Unavailable (DNS failure)", r);
}

void fed_record_response(struct node *n, const struct txn *t, int status)
{
    throttle_record_response(n->throttle, slice_cstr(t->remote_domain), status, node_now_ms(n));
}
