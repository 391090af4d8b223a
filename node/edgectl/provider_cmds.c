/* provider_cmds.c -- New-CsHostingProvider / New-CsPublicProvider (and
 * Set-/Remove-) and New-/Remove-CsXmppAllowedPartner: `provider add|remove|
 * enable|disable`, `xmpp add|remove`. */
#include <stdio.h>
#include <string.h>

#include "edgectl/commands.h"
#include "edgectl/edgectl.h"
#include "edgectl/policy_ops.h"
#include "edgectl/policy_txn.h"
#include "federation/policy.h"

#define NAME_MAX_LEN 128

struct prov_edit {
    const char *verb;
    const char *name;
    struct pop_provider p;
    char fqdn[POLICY_DOMAIN_MAX + 2];
    char doms[CTL_MAX_LIST][POLICY_DOMAIN_MAX + 2];
    const char *domv[CTL_MAX_LIST];
};

static int prov_apply(struct ptext *t, const struct ctl_policy_cur *cur, void *arg, char *err,
                      size_t errlen)
{
    const struct prov_edit *e = arg;
    if (strcmp(e->verb, "add") == 0)
        return pop_provider_add(t, &e->p, err, errlen);
    if (strcmp(e->verb, "remove") == 0)
        return pop_provider_remove(t, e->name, err, errlen);
    return pop_provider_enable(t, e->name, strcmp(e->verb, "enable") == 0, err, errlen);
}

/* A provider's name (Lync's Identity): a word of printable characters. */
static int check_name(struct ctl *c, const char *what, const char *v)
{
    if (!*v || strlen(v) > NAME_MAX_LEN)
        return ctl_usage(c, "%s '%s' must be 1..%d characters", what, v, NAME_MAX_LEN);
    for (const unsigned char *s = (const unsigned char *)v; *s; s++)
        if (*s <= ' ' || *s == 0x7f || *s == '"' || *s == '\\')
            return ctl_usage(c, "%s '%s' may not contain blanks, quotes or control characters",
                             what, v);
    return 0;
}

int ctl_cmd_provider(struct ctl *c, const struct ctl_args *a)
{
    static struct prov_edit e; /* large: not on the stack */
    memset(&e, 0, sizeof e);
    e.verb = c->cmd->verb;
    e.name = a->pos[0];
    if (check_name(c, "provider name", e.name))
        return CTL_USAGE;
    if (strcmp(e.verb, "add") == 0) {
        const char *fqdn = ctl_arg(a, "fqdn"), *type = ctl_arg(a, "type");
        if (!fqdn)
            return ctl_usage(c, "--fqdn is required (the provider's edge)");
        if (!type)
            return ctl_usage(c, "--type is required (hosting or public)");
        if (ctl_check_domain(c, "--fqdn", fqdn, e.fqdn, sizeof e.fqdn) ||
            ctl_check_enum(c, "provider type", type, provider_type_parse, "hosting, public") ||
            ctl_check_enum(c, "verification level", ctl_arg(a, "verification"),
                           policy_verification_parse, CTL_VERIFICATION_CHOICES))
            return CTL_USAGE;
        int n;
        const char *const *dv = ctl_arg_list(a, "domain", &n);
        for (int i = 0; i < n; i++) {
            if (ctl_check_domain(c, "--domain", dv[i], e.doms[i], sizeof e.doms[i]))
                return CTL_USAGE;
            e.domv[i] = e.doms[i];
        }
        const char *lv = ctl_arg(a, "verification");
        e.p = (struct pop_provider){
            .name = e.name,
            .fqdn = e.fqdn,
            .type = provider_type_name((enum provider_type)provider_type_parse(type)),
            .verification = lv ? policy_verification_name(
                                     (enum policy_verification)policy_verification_parse(lv))
                               : NULL,
            .disabled = ctl_flag(a, "disabled"),
            .domains = e.domv,
            .n_domains = n,
        };
    }
    struct ctl_edit_result res;
    if (ctl_policy_edit(c, prov_apply, &e, &res))
        return CTL_FAIL;
    char what[300];
    snprintf(what, sizeof what, "provider %s %s", e.verb, e.name);
    return ctl_report_edit(c, what, &res);
}

struct xmpp_edit {
    bool add;
    char domain[POLICY_DOMAIN_MAX + 2];
    char edge[POLICY_DOMAIN_MAX + 2];
    struct pop_xmpp x;
};

static int xmpp_apply(struct ptext *t, const struct ctl_policy_cur *cur, void *arg, char *err,
                      size_t errlen)
{
    const struct xmpp_edit *e = arg;
    if (e->add)
        return pop_xmpp_add(t, &e->x, err, errlen);
    return pop_domain_remove(t, PSEC_XMPP, e->domain, err, errlen);
}

/* The canonical spelling of an enumerated value already checked, or NULL. */
static const char *neg(const char *v)
{
    return v ? xmpp_negotiation_name((enum xmpp_negotiation)xmpp_negotiation_parse(v)) : NULL;
}

int ctl_cmd_xmpp(struct ctl *c, const struct ctl_args *a)
{
    struct xmpp_edit e = {0};
    e.add = strcmp(c->cmd->verb, "add") == 0;
    if (ctl_check_domain(c, "domain", a->pos[0], e.domain, sizeof e.domain))
        return CTL_USAGE;
    if (e.add) {
        const char *edge = ctl_arg(a, "edge"), *type = ctl_arg(a, "type"), *tls = ctl_arg(a, "tls"),
                   *sasl = ctl_arg(a, "sasl"), *dialback = ctl_arg(a, "dialback"),
                   *comment = ctl_arg(a, "comment");
        if ((edge && ctl_check_domain(c, "--edge", edge, e.edge, sizeof e.edge)) ||
            ctl_check_enum(c, "XMPP partner type", type, xmpp_partner_type_parse,
                           "federated, public_verified, public_unverified") ||
            ctl_check_enum(c, "--tls", tls, xmpp_negotiation_parse, CTL_NEGOTIATION_CHOICES) ||
            ctl_check_enum(c, "--sasl", sasl, xmpp_negotiation_parse, CTL_NEGOTIATION_CHOICES) ||
            ctl_check_enum(c, "--dialback", dialback, xmpp_negotiation_parse,
                           CTL_NEGOTIATION_CHOICES) ||
            (comment && ctl_check_text(c, "--comment", comment)))
            return CTL_USAGE;
        e.x = (struct pop_xmpp){
            .domain = e.domain,
            .edge_fqdn = edge ? e.edge : NULL,
            .type =
                type ? xmpp_partner_type_name((enum xmpp_partner_type)xmpp_partner_type_parse(type))
                     : NULL,
            .tls = neg(tls),
            .sasl = neg(sasl),
            .dialback = neg(dialback),
            .comment = comment,
        };
    }
    struct ctl_edit_result res;
    if (ctl_policy_edit(c, xmpp_apply, &e, &res))
        return CTL_FAIL;
    char what[300];
    snprintf(what, sizeof what, "xmpp %s %s", c->cmd->verb, e.domain);
    return ctl_report_edit(c, what, &res);
}
