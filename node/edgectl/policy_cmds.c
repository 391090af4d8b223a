/* policy_cmds.c -- the whole-policy commands: `policy set-access-edge`
 * (Set-CsAccessEdgeConfiguration) and `policy seed` (an empty pool's policy
 * from a configuration file's policy group). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgectl/commands.h"
#include "edgectl/edgectl.h"
#include "edgectl/policy_ops.h"
#include "edgectl/policy_txn.h"
#include "federation/policy.h"

/* Our key ("allow_federated_users") or Lync's property ("AllowFederatedUsers"). */
static const struct policy_setting_def *setting_by_name(const char *name)
{
    size_t n;
    const struct policy_setting_def *d = policy_setting_defs(&n);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(d[i].name, name) == 0 ||
            (d[i].lync_name && strcasecmp(d[i].lync_name, name) == 0))
            return &d[i];
    return NULL;
}

struct settings_edit {
    int n;
    const struct policy_setting_def *defs[CTL_MAX_POS / 2];
    const char *values[CTL_MAX_POS / 2];
};

static int settings_apply(struct ptext *t, const struct ctl_policy_cur *cur, void *arg, char *err,
                          size_t errlen)
{
    const struct settings_edit *e = arg;
    for (int i = 0; i < e->n; i++)
        if (pop_setting_set(t, e->defs[i], e->values[i], err, errlen) < 0)
            return -1;
    return 0;
}

/* A value for d, checked as the policy loader will (type and range), and
 * its canonical spelling into norm ("on" -> "true", "AlwaysVerifiable" ->
 * "always_verifiable", an FQDN lower-cased, "" to unset one). */
static int check_value(struct ctl *c, const struct policy_setting_def *d, const char *v, char *norm,
                       size_t len)
{
    switch (d->type) {
    case PKEY_BOOL:
        if (ctl_parse_bool(v) < 0)
            return ctl_usage(c, "%s '%s': say true or false", d->name, v);
        snprintf(norm, len, "%s", ctl_parse_bool(v) ? "true" : "false");
        break;
    case PKEY_UINT: {
        char *end;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || x < d->min || x > d->max)
            return ctl_usage(c, "%s '%s': a whole number %ld..%ld", d->name, v, d->min, d->max);
        snprintf(norm, len, "%lld", x);
        break;
    }
    case PKEY_ROUTING:
        if (ctl_check_enum(c, d->name, v, policy_routing_parse, "dns_srv, default_route"))
            return CTL_USAGE;
        snprintf(norm, len, "%s",
                 policy_routing_name((enum policy_routing)policy_routing_parse(v)));
        break;
    case PKEY_VERIFICATION:
        if (ctl_check_enum(c, d->name, v, policy_verification_parse, CTL_VERIFICATION_CHOICES))
            return CTL_USAGE;
        snprintf(norm, len, "%s",
                 policy_verification_name((enum policy_verification)policy_verification_parse(v)));
        break;
    case PKEY_FQDN:
        if (*v && strcasecmp(v, "none") != 0)
            return ctl_check_domain(c, d->name, v, norm, len);
        norm[0] = '\0';
        break;
    }
    return 0;
}

int ctl_cmd_set_access_edge(struct ctl *c, const struct ctl_args *a)
{
    static char norm[CTL_MAX_POS / 2][POLICY_DOMAIN_MAX + 2];
    struct settings_edit e = {0};
    if (a->npos % 2)
        return ctl_usage(c, "'%s' has no value: give KEY VALUE pairs", a->pos[a->npos - 1]);
    char what[512] = "policy set-access-edge";
    size_t used = strlen(what);
    for (int i = 0; i + 1 < a->npos; i += 2) {
        const struct policy_setting_def *d = setting_by_name(a->pos[i]);
        if (!d)
            return ctl_usage(c,
                             "unknown access-edge setting '%s' (see `edgectl policy "
                             "set-access-edge --help`)",
                             a->pos[i]);
        norm[e.n][0] = '\0';
        if (check_value(c, d, a->pos[i + 1], norm[e.n], sizeof norm[e.n]))
            return CTL_USAGE;
        e.defs[e.n] = d;
        e.values[e.n] = norm[e.n];
        used += (size_t)snprintf(what + used, used < sizeof what ? sizeof what - used : 0, " %s=%s",
                                 d->name, e.values[e.n][0] ? e.values[e.n] : "(unset)");
        e.n++;
    }
    struct ctl_edit_result res;
    if (ctl_policy_edit(c, settings_apply, &e, &res))
        return CTL_FAIL;
    return ctl_report_edit(c, what, &res);
}

struct seed_edit {
    struct ptext src;
    bool force;
    const char *pool;
};

static int seed_apply(struct ptext *t, const struct ctl_policy_cur *cur, void *arg, char *err,
                      size_t errlen)
{
    struct seed_edit *e = arg;
    if (cur->exists && !e->force) {
        snprintf(err, errlen,
                 "pool %s already has a policy (version %" PRIu64 ", by %s): seeding is for an "
                 "empty pool; --force replaces it",
                 e->pool, cur->version, cur->updated_by[0] ? cur->updated_by : "?");
        return -1;
    }
    return pop_replace(t, &e->src, err, errlen);
}

int ctl_cmd_seed(struct ctl *c, const struct ctl_args *a)
{
    struct seed_edit e = {.force = ctl_flag(a, "force"), .pool = c->o.pool};
    char err[1024];
    if (ptext_from_file(&e.src, a->pos[0], err, sizeof err) < 0)
        return ctl_fail(c, "%s", err);
    struct ctl_edit_result res;
    int rc = ctl_policy_edit(c, seed_apply, &e, &res);
    ptext_free(&e.src);
    if (rc)
        return CTL_FAIL;
    char what[600];
    snprintf(what, sizeof what, "policy seed %s", a->pos[0]);
    res.was_empty = false; /* a whole policy: no note about defaults */
    return ctl_report_edit(c, what, &res);
}
