/* partner.c -- the federation policy as the s2s streams apply it: XMPP
 * federation on or off, the XMPP partner allow list (xmpp_partners, Lync's
 * New-CsXmppAllowedPartner) with its TLS / SASL / dialback settings, blocked
 * domains, and which domains are ours. Decisions read the live policy. */
#include <stdio.h>
#include <string.h>

#include "federation/policy.h"
#include "node.h"
#include "xmpp/s2s.h"

bool s2s_serves(struct node *n, const char *domain)
{
    return domain && *domain &&
           policy_is_internal_domain(n->policy->current(n->policy), slice_cstr(domain));
}

int s2s_partner_rules(struct node *n, const char *domain, struct s2s_rules *r, const char **why)
{
    const struct policy *p = n->policy->current(n->policy);
    const struct access_edge_settings *set = policy_settings(p);
    struct slice d = slice_cstr(domain);
    if (!set->allow_federated_users) {
        *why = "federation is off (access_edge.allow_federated_users)";
        return XMPP_SEND_OFF;
    }
    if (!set->enable_xmpp) {
        *why = "XMPP federation is off (access_edge.enable_xmpp)";
        return XMPP_SEND_OFF;
    }
    if (!domain || !policy_domain_valid(d)) {
        *why = "not a valid domain name";
        return XMPP_SEND_POLICY;
    }
    struct fed_decision fd;
    policy_classify(p, d, &fd);
    if (fd.cls == FED_BLOCKED) {
        *why = "blocked domain";
        return XMPP_SEND_POLICY;
    }
    if (fd.cls == FED_INTERNAL) {
        *why = "our own domain";
        return XMPP_SEND_POLICY;
    }
    const struct policy_xmpp_partner *x = policy_xmpp_partner(p, d);
    if (!x) {
        *why = "not an XMPP partner (policy.xmpp_partners)";
        return XMPP_SEND_POLICY;
    }
    if (r) {
        memset(r, 0, sizeof(*r));
        r->type = x->type;
        r->tls = x->tls;
        r->sasl = x->sasl;
        r->dialback = x->dialback;
        if (x->edge_fqdn)
            snprintf(r->edge_fqdn, sizeof(r->edge_fqdn), "%s", x->edge_fqdn);
    }
    *why = NULL;
    return 0;
}

/* SASL EXTERNAL is used unless not supported, or dialback is the one
 * required (and SASL only optional). */
bool rules_sasl_allowed(const struct s2s_rules *r)
{
    return r->sasl != XMPP_NEG_NOT_SUPPORTED &&
           !(r->dialback == XMPP_NEG_REQUIRED && r->sasl != XMPP_NEG_REQUIRED);
}

/* Dialback is used unless not supported, or SASL is the one required. */
bool rules_dialback_allowed(const struct s2s_rules *r)
{
    return r->dialback != XMPP_NEG_NOT_SUPPORTED &&
           !(r->sasl == XMPP_NEG_REQUIRED && r->dialback != XMPP_NEG_REQUIRED);
}
