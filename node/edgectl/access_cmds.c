/* access_cmds.c -- New-/Set-/Remove-CsExternalAccessPolicy and
 * Grant-CsExternalAccessPolicy: `access-policy set|remove`, `user
 * grant|revoke`. What each internal user may do outside. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "edgectl/commands.h"
#include "edgectl/edgectl.h"
#include "edgectl/policy_ops.h"
#include "edgectl/policy_txn.h"
#include "federation/policy.h"

#define NAME_MAX_LEN 128

struct access_edit {
    const char *verb;
    struct pop_access ap;
    char user[POLICY_DOMAIN_MAX + 80];
    const char *policy;
};

static int apply(struct ptext *t, const struct ctl_policy_cur *cur, void *arg, char *err,
                 size_t errlen)
{
    const struct access_edit *e = arg;
    if (strcmp(e->verb, "set") == 0)
        return pop_access_set(t, &e->ap, err, errlen);
    if (strcmp(e->verb, "remove") == 0)
        return pop_access_remove(t, e->ap.name, err, errlen);
    if (strcmp(e->verb, "grant") == 0)
        return pop_user_grant(t, e->user, e->policy, err, errlen);
    return pop_user_revoke(t, e->user, err, errlen);
}

static int check_policy_name(struct ctl *c, const char *v)
{
    if (!*v || strlen(v) > NAME_MAX_LEN)
        return ctl_usage(c, "policy name '%s' must be 1..%d characters", v, NAME_MAX_LEN);
    for (const unsigned char *s = (const unsigned char *)v; *s; s++)
        if (*s <= ' ' || *s == 0x7f || *s == '"' || *s == '\\')
            return ctl_usage(c,
                             "policy name '%s' may not contain blanks, quotes or control "
                             "characters",
                             v);
    return 0;
}

/* --federation on|off ...: -1 when not given, CTL_USAGE (negative) on a bad value. */
static int onoff(struct ctl *c, const struct ctl_args *a, const char *name, int *out)
{
    const char *v = ctl_arg(a, name);
    *out = -1;
    if (!v)
        return 0;
    if ((*out = ctl_parse_bool(v)) < 0)
        return ctl_usage(c, "--%s '%s': say on or off", name, v);
    return 0;
}

int ctl_cmd_access_policy(struct ctl *c, const struct ctl_args *a)
{
    struct access_edit e = {0};
    e.verb = c->cmd->verb;
    e.ap.name = a->pos[0];
    if (check_policy_name(c, e.ap.name))
        return CTL_USAGE;
    if (strcmp(e.verb, "set") == 0 &&
        (onoff(c, a, "federation", &e.ap.federation) ||
         onoff(c, a, "public-im", &e.ap.public_cloud) || onoff(c, a, "xmpp", &e.ap.xmpp) ||
         onoff(c, a, "outside", &e.ap.outside)))
        return CTL_USAGE;
    struct ctl_edit_result res;
    if (ctl_policy_edit(c, apply, &e, &res))
        return CTL_FAIL;
    char what[300];
    snprintf(what, sizeof what, "access-policy %s %s", e.verb, e.ap.name);
    return ctl_report_edit(c, what, &res);
}

int ctl_cmd_user(struct ctl *c, const struct ctl_args *a)
{
    struct access_edit e = {0};
    e.verb = c->cmd->verb;
    const char *u = a->pos[0];
    if (strncasecmp(u, "sip:", 4) == 0)
        u += 4;
    const char *at = strchr(u, '@');
    char dom[POLICY_DOMAIN_MAX + 2];
    if (!at || at == u || strchr(at + 1, '@') || (size_t)(at - u) > 64)
        return ctl_usage(c, "user '%s' is not a user@domain address", a->pos[0]);
    for (const char *s = u; s < at; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\\' || *s == ';' || *s == ':')
            return ctl_usage(c, "user '%s' is not a user@domain address", a->pos[0]);
    if (ctl_check_domain(c, "user's domain", at + 1, dom, sizeof dom))
        return CTL_USAGE;
    /* "alice@contoso.test", lower case: how the policy keys users */
    size_t ul = (size_t)(at - u);
    for (size_t i = 0; i < ul; i++)
        e.user[i] = (char)(u[i] >= 'A' && u[i] <= 'Z' ? u[i] + 32 : u[i]);
    snprintf(e.user + ul, sizeof e.user - ul, "@%s", dom);
    if (strcmp(e.verb, "grant") == 0) {
        e.policy = a->pos[1];
        if (check_policy_name(c, e.policy))
            return CTL_USAGE;
    }
    struct ctl_edit_result res;
    if (ctl_policy_edit(c, apply, &e, &res))
        return CTL_FAIL;
    char what[400];
    snprintf(what, sizeof what, "user %s %s%s%s", e.verb, e.user, e.policy ? " " : "",
             e.policy ? e.policy : "");
    return ctl_report_edit(c, what, &res);
}
