/* domain_cmds.c -- New-/Remove-CsAllowedDomain, New-/Remove-CsBlockedDomain
 * and our internal domains: `allowed add|remove`, `blocked add|remove`,
 * `internal-domain add|remove`. */
#include <stdio.h>
#include <string.h>

#include "edgectl/commands.h"
#include "edgectl/edgectl.h"
#include "edgectl/policy_ops.h"
#include "edgectl/policy_txn.h"
#include "federation/policy-t.h"

struct dom_edit {
    const char *section; /* PSEC_* */
    bool add;
    char domain[POLICY_DOMAIN_MAX + 2];
    char edge[POLICY_DOMAIN_MAX + 2];
    const char *comment;
};

static int apply(struct ptext *t, const struct ctl_policy_cur *cur, void *arg, char *err,
                 size_t errlen)
{
    const struct dom_edit *d = arg;
    if (!d->add)
        return pop_domain_remove(t, d->section, d->domain, err, errlen);
    if (strcmp(d->section, PSEC_INTERNAL) == 0)
        return pop_internal_add(t, d->domain, err, errlen);
    if (strcmp(d->section, PSEC_ALLOWED) == 0)
        return pop_allowed_add(t, d->domain, d->edge[0] ? d->edge : NULL, d->comment, err, errlen);
    return pop_blocked_add(t, d->domain, d->comment, err, errlen);
}

/* Every command of this file: GROUP add|remove DOMAIN [--edge F] [--comment T]. */
int ctl_cmd_domain(struct ctl *c, const struct ctl_args *a)
{
    struct dom_edit d = {0};
    const char *g = c->cmd->group;
    d.section = strcmp(g, "allowed") == 0   ? PSEC_ALLOWED
                : strcmp(g, "blocked") == 0 ? PSEC_BLOCKED
                                            : PSEC_INTERNAL;
    d.add = strcmp(c->cmd->verb, "add") == 0;
    if (ctl_check_domain(c, "domain", a->pos[0], d.domain, sizeof d.domain))
        return CTL_USAGE;
    const char *edge = ctl_arg(a, "edge");
    if (edge && ctl_check_domain(c, "--edge", edge, d.edge, sizeof d.edge))
        return CTL_USAGE;
    d.comment = ctl_arg(a, "comment");
    if (d.comment && ctl_check_text(c, "--comment", d.comment))
        return CTL_USAGE;

    struct ctl_edit_result res;
    if (ctl_policy_edit(c, apply, &d, &res))
        return CTL_FAIL;
    char what[600];
    snprintf(what, sizeof what, "%s %s %s%s%s", g, c->cmd->verb, d.domain,
             d.edge[0] ? " edge " : "", d.edge);
    return ctl_report_edit(c, what, &res);
}
