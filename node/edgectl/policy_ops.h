/* policy_ops.h -- the edits edgectl makes to the policy tree, one per
 * Lync cmdlet (New-CsAllowedDomain, Remove-CsBlockedDomain, ...).
 *
 * Each edits a struct ptext only; whether the result is a valid policy is
 * judged afterwards, whole, by ptext_policy (the node's own rules). Inputs
 * were checked and normalised by the caller (lower-case names, no trailing
 * dot). Each returns 0 (changed), 1 (nothing to change: already so), or -1
 * with err ("fabrikam.test is not an allowed domain"). */
#ifndef EP_EDGECTL_POLICY_OPS_H
#define EP_EDGECTL_POLICY_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "edgectl/policy_text.h"

struct policy_setting_def;

/* The policy group's sections, as policy_config.c names them. */
#define PSEC_INTERNAL "internal_domains"
#define PSEC_ALLOWED "allowed_domains"
#define PSEC_BLOCKED "blocked_domains"
#define PSEC_PROVIDERS "providers"
#define PSEC_XMPP "xmpp_partners"
#define PSEC_ACCESS "external_access_policies"
#define PSEC_USERS "user_policies"
#define PSEC_ACCESS_EDGE "access_edge"

int pop_internal_add(struct ptext *t, const char *domain, char *err, size_t errlen);
/* edge and comment may be NULL. */
int pop_allowed_add(struct ptext *t, const char *domain, const char *edge, const char *comment,
                    char *err, size_t errlen);
int pop_blocked_add(struct ptext *t, const char *domain, const char *comment, char *err,
                    size_t errlen);
/* section: PSEC_INTERNAL, PSEC_ALLOWED, PSEC_BLOCKED or PSEC_XMPP. */
int pop_domain_remove(struct ptext *t, const char *section, const char *domain, char *err,
                      size_t errlen);

/* New-CsHostingProvider / New-CsPublicProvider: strings as the config has them. */
struct pop_provider {
    const char *name, *fqdn, *type, *verification; /* verification may be NULL */
    bool disabled;
    const char *const *domains;
    int n_domains;
};
int pop_provider_add(struct ptext *t, const struct pop_provider *p, char *err, size_t errlen);
int pop_provider_remove(struct ptext *t, const char *name, char *err, size_t errlen);
int pop_provider_enable(struct ptext *t, const char *name, bool enabled, char *err, size_t errlen);

/* New-CsXmppAllowedPartner; NULL fields are left to the defaults. */
struct pop_xmpp {
    const char *domain, *edge_fqdn, *type, *tls, *sasl, *dialback, *comment;
};
int pop_xmpp_add(struct ptext *t, const struct pop_xmpp *x, char *err, size_t errlen);

/* New-/Set-CsExternalAccessPolicy: each flag -1 (leave), 0 or 1. A policy not
 * yet defined is created (flags not given: false, Lync's default). */
struct pop_access {
    const char *name;
    int federation, public_cloud, xmpp, outside;
};
int pop_access_set(struct ptext *t, const struct pop_access *a, char *err, size_t errlen);
/* Removing "global" returns it to Lync's defaults (all false). */
int pop_access_remove(struct ptext *t, const char *name, char *err, size_t errlen);

/* Grant-CsExternalAccessPolicy: user "alice@contoso.test" (a leading "sip:"
 * dropped by the caller), replacing an earlier grant. */
int pop_user_grant(struct ptext *t, const char *user, const char *policy, char *err, size_t errlen);
int pop_user_revoke(struct ptext *t, const char *user, char *err, size_t errlen);

/* Set-CsAccessEdgeConfiguration KEY VALUE: value already checked against
 * d's type and spelled canonically ("true"/"false", a decimal number, our
 * enum names); for an FQDN key, "" or "none" unsets it. */
int pop_setting_set(struct ptext *t, const struct policy_setting_def *d, const char *value,
                    char *err, size_t errlen);

/* Replace the whole tree with src's (policy seed). */
int pop_replace(struct ptext *t, struct ptext *src, char *err, size_t errlen);

#endif
