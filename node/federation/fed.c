/* fed.c -- federation trust and routing on the SIP path (see fed.h). */
#include "federation/fed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federation/policy.h"
#include "federation/throttle.h"
#include "log.h"
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

/* "user@host" of a URI into buf. */
static struct slice uri_aor(struct slice uri, char *buf, size_t len)
{
    struct sip_uri u;
    if (sip_uri_parse(uri, &u) < 0)
        return SLICE_NULL;
    int k = snprintf(buf, len, "%.*s@%.*s", SLICE_FMT(u.user), SLICE_FMT(u.host));
    return slice_from(buf, k < 0 ? 0 : ((size_t)k < len ? (size_t)k : len - 1));
}

static int refuse(struct fed_result *r, int status, const char *reason)
{
    r->status = status;
    r->reason = reason;
    return FED_REJECT;
}

/* ---- inbound ------------------------------------------------------------ */

/* Checks after the identity: the internal user's policy and throttling. */
static int inbound_rest(struct node *n, struct conn *c, const struct sip_msg *m, struct txn *t,
                        const struct policy_provider *prov, struct fed_result *r)
{
    const struct policy *p = n->policy->current(n->policy);
    enum fed_class cls = (enum fed_class)t->fed_class;
    char aor_buf[320];
    struct slice to_aor = uri_aor(m->to_uri, aor_buf, sizeof(aor_buf));
    if (!t->in_dialog &&
        !policy_user_allows(p, to_aor, cls, prov && prov->is_public, false))
        return refuse(r, 403, "Forbidden (user not enabled for this kind of federation)");
    if (cls == FED_DISCOVERED && !t->in_dialog) {
        enum throttle_verdict v =
            throttle_check(n->throttle, slice_cstr(t->remote_domain), to_aor, c->cert_info,
                           node_now_ms(n));
        t->throttled_partner = true;
        if (v == THROTTLE_RATE)
            return refuse(r, 503, "Service Unavailable (discovered partner over its rate)");
        if (v == THROTTLE_CONTACTS)
            return refuse(r, 403, "Forbidden (discovered partner over its contact limit)");
    }
    const struct access_edge_settings *s = policy_settings(p);
    bool verified = true;
    int level = prov ? prov->verification : (cls == FED_DISCOVERED ? s->discovered_partner_verification_level : VERIF_ALWAYS_VERIFIABLE);
    if (level == VERIF_ALWAYS_UNVERIFIABLE)
        verified = false;
    snprintf(t->trust_hdr, sizeof(t->trust_hdr),
             "X-Edgepool-Trust: source=%s;edge=%s;%s;remote=%s;domain=%s\r\n",
             source_type(cls, prov), n->cfg.node_fqdn, verified ? "verified" : "unverified",
             t->peer, t->remote_domain);
    return FED_OK;
}

struct srv_check {
    struct node *node;
    uint64_t txn_id, conn_id;
    bool outbound;
};

static void inbound_srv_done(void *arg, int status, const struct srv_target *tg, size_t n_tg)
{
    struct srv_check *sc = arg;
    struct node *n = sc->node;
    struct txn *t = txn_by_id(n, sc->txn_id);
    struct conn *c = conn_by_id(n, sc->conn_id);
    free(sc);
    if (!t)
        return;
    if (!c) {
        proxy_txn_resume(n, t->id, 503, "Service Unavailable (partner connection closed)");
        return;
    }
    struct slice dom = slice_cstr(t->remote_domain);
    if (status == RESOLVER_TIMEOUT || status == RESOLVER_SERVFAIL || status == RESOLVER_ERROR) {
        LOG_WARN("fed", "cannot verify %s from %s: DNS failure on _sipfederationtls._tcp.%s",
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
        LOG_WARN("fed", "%s from %s (certificate %s) refused 403: %s", t->remote_domain, c->peer_str,
                 c->n_names ? c->names[0] : "-",
                 status != RESOLVER_OK ? "the domain publishes no _sipfederationtls._tcp SRV"
                                       : "its SRV target is not a name of the certificate");
        conn_domain_remember(c, dom, false, 403, why);
        proxy_txn_resume(n, t->id, 403, why);
        return;
    }
    snprintf(t->peer, sizeof(t->peer), "%s", match);
    conn_domain_remember(c, dom, true, 0, NULL);
    struct sip_msg m;
    if (txn_reparse(t, &m) != SIP_OK) {
        proxy_txn_resume(n, t->id, 500, "Internal Server Error");
        return;
    }
    struct fed_result r = {0, NULL};
    if (inbound_rest(n, c, &m, t, NULL, &r) == FED_REJECT)
        proxy_txn_resume(n, t->id, r.status, r.reason);
    else
        proxy_txn_resume(n, t->id, 0, NULL);
}

int fed_inbound_check(struct node *n, struct conn *c, const struct sip_msg *m, struct txn *t,
                      struct fed_result *r)
{
    const struct policy *p = n->policy->current(n->policy);
    struct slice from_dom = uri_host(m->from_uri);
    if (from_dom.len == 0 || from_dom.len >= sizeof(t->remote_domain))
        return refuse(r, 400, "Bad Request (From URI)");
    slice_copy(from_dom, t->remote_domain, sizeof(t->remote_domain));
    if (!t->in_dialog) {
        struct slice to_dom = uri_host(m->ruri);
        if (!policy_is_internal_domain(p, to_dom)) {
            LOG_INFO("fed", "request from %s for %.*s: not a domain of ours, answered 404",
                     c->peer_str, SLICE_FMT(to_dom));
            return refuse(r, 404, "Not Found (domain not served here)");
        }
    }
    struct fed_decision d;
    policy_classify(p, from_dom, &d);
    t->fed_class = d.cls;
    switch (d.cls) {
    case FED_INTERNAL:
        LOG_WARN("fed", "spoofed From %.*s from %s (certificate %s): our own domain, answered 403",
                 SLICE_FMT(m->from_uri), c->peer_str, c->n_names ? c->names[0] : "-");
        return refuse(r, 403, "Forbidden (From domain is ours)");
    case FED_BLOCKED:
    case FED_DENIED:
        LOG_INFO("fed", "%.*s from %s refused %d: %s", SLICE_FMT(from_dom), c->peer_str,
                 d.sip_status ? d.sip_status : 403, d.reason ? d.reason : "not allowed");
        return refuse(r, 403, d.cls == FED_BLOCKED ? "Forbidden (domain blocked)"
                                                  : "Forbidden (federation not allowed)");
    default:
        break;
    }
    int cst;
    const char *creason;
    int known = conn_domain_lookup(c, from_dom, &cst, &creason);
    if (known == 0)
        return refuse(r, cst, creason);
    if (d.cls == FED_PARTNER_SERVER || d.cls == FED_PROVIDER) {
        if (!d.edge_fqdn || !conn_peer_has_name(c, slice_cstr(d.edge_fqdn))) {
            LOG_WARN("fed", "%.*s from %s: certificate %s is not the configured edge %s, answered 403",
                     SLICE_FMT(from_dom), c->peer_str, c->n_names ? c->names[0] : "-",
                     d.edge_fqdn ? d.edge_fqdn : "?");
            conn_domain_remember(c, from_dom, false, 403,
                                 "Forbidden (certificate does not match the partner's edge)");
            return refuse(r, 403, "Forbidden (certificate does not match the partner's edge)");
        }
        snprintf(t->peer, sizeof(t->peer), "%s", d.edge_fqdn);
        return inbound_rest(n, c, m, t, d.provider, r);
    }
    /* allowed partner domain or discovered: the certificate must name the SRV target */
    if (known == 1) {
        snprintf(t->peer, sizeof(t->peer), "%s", c->n_names ? c->names[0] : "");
        return inbound_rest(n, c, m, t, NULL, r);
    }
    struct srv_check *sc = malloc(sizeof(*sc));
    if (!sc)
        return refuse(r, 503, "Service Unavailable (out of memory)");
    *sc = (struct srv_check){n, t->id, c->id, false};
    char name[300];
    snprintf(name, sizeof(name), "_sipfederationtls._tcp.%s", t->remote_domain);
    if (resolver_srv(n->resolver, name, inbound_srv_done, sc) < 0) {
        free(sc);
        return refuse(r, 504, "Server Time-out (DNS failure verifying the From domain)");
    }
    return FED_PENDING;
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
    struct txn *t = txn_by_id(n, sc->txn_id);
    free(sc);
    if (!t)
        return;
    if (status == RESOLVER_NXDOMAIN || status == RESOLVER_NODATA || (status == RESOLVER_OK && !n_tg)) {
        LOG_INFO("fed", "no federation route to %s: no _sipfederationtls._tcp SRV, answered 404",
                 t->remote_domain);
        proxy_txn_resume(n, t->id, 404, "Not Found (no federation route to the domain)");
        return;
    }
    if (status != RESOLVER_OK) {
        LOG_WARN("fed", "DNS failure looking up _sipfederationtls._tcp.%s, answered 503",
                 t->remote_domain);
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
    const struct access_edge_settings *s = policy_settings(p);
    struct slice dom = uri_host(m->ruri);
    if (dom.len == 0 || dom.len >= sizeof(t->remote_domain))
        return refuse(r, 416, "Unsupported URI Scheme");
    slice_copy(dom, t->remote_domain, sizeof(t->remote_domain));
    struct slice from_dom = uri_host(m->from_uri);
    if (!policy_is_internal_domain(p, from_dom)) {
        LOG_WARN("fed", "internal request From %.*s: not one of our domains, answered 403",
                 SLICE_FMT(m->from_uri));
        return refuse(r, 403, "Forbidden (From domain is not ours)");
    }
    struct fed_decision d;
    policy_classify(p, dom, &d);
    t->fed_class = d.cls;
    switch (d.cls) {
    case FED_INTERNAL:
        return refuse(r, 404, "Not Found (an internal domain)");
    case FED_BLOCKED:
        LOG_INFO("fed", "request to blocked domain %s answered 403", t->remote_domain);
        return refuse(r, 403, "Forbidden (domain blocked)");
    case FED_DENIED:
        LOG_INFO("fed", "request to %s answered 403: %s", t->remote_domain,
                 d.reason ? d.reason : "federation not allowed");
        return refuse(r, 403, "Forbidden (federation not allowed with the domain)");
    default:
        break;
    }
    char aor_buf[320];
    struct slice from_aor = uri_aor(m->from_uri, aor_buf, sizeof(aor_buf));
    if (!t->in_dialog &&
        !policy_user_allows(p, from_aor, d.cls, d.provider && d.provider->is_public, false))
        return refuse(r, 403, "Forbidden (user not enabled for this kind of federation)");
    if (s->routing_method == ROUTING_DEFAULT_ROUTE && s->default_route_fqdn) {
        set_single_target(t, s->default_route_fqdn, 5061);
        return FED_OK;
    }
    if (d.edge_fqdn) {
        set_single_target(t, d.edge_fqdn, 5061);
        return FED_OK;
    }
    struct srv_check *sc = malloc(sizeof(*sc));
    if (!sc)
        return refuse(r, 503, "Service Unavailable (out of memory)");
    *sc = (struct srv_check){n, t->id, 0, true};
    char name[300];
    snprintf(name, sizeof(name), "_sipfederationtls._tcp.%s", t->remote_domain);
    if (resolver_srv(n->resolver, name, outbound_srv_done, sc) < 0) {
        free(sc);
        return refuse(r, 503, "Service Unavailable (DNS failure)");
    }
    return FED_PENDING;
}

void fed_record_response(struct node *n, const struct txn *t, int status)
{
    throttle_record_response(n->throttle, slice_cstr(t->remote_domain), status, node_now_ms(n));
}
