/* policy_show.c -- the pool's policy printed: `policy show` whole, and the
 * `X list` commands one section each, for people or as JSON. Everything is
 * read from the struct policy a node would build (names normalised). */
#include "edgectl/policy_show.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "edgectl/commands.h"
#include "edgectl/edgectl.h"
#include "edgectl/policy_txn.h"
#include "federation/policy.h"

static const char *const section_keys[SEC_COUNT] = {
    "access_edge", "internal_domains", "allowed_domains",          "blocked_domains",
    "providers",   "xmpp_partners",    "external_access_policies", "user_policies",
};
static const char *const section_titles[SEC_COUNT] = {
    "access edge settings",     "internal domains", "allowed domains",
    "blocked domains",          "providers",        "XMPP partners",
    "external access policies", "user grants",
};

static void show_settings(struct ctl *c, const struct policy *p)
{
    size_t n;
    const struct policy_setting_def *d = policy_setting_defs(&n);
    const char *st = (const char *)policy_settings(p);
    if (c->o.json)
        jw_obj(&c->out, section_keys[SEC_SETTINGS]);
    for (size_t i = 0; i < n; i++, d++) {
        const char *f = st + d->offset;
        char human[300];
        switch (d->type) {
        case PKEY_BOOL:
            if (c->o.json)
                jw_bool(&c->out, d->name, *(const bool *)f);
            snprintf(human, sizeof human, "%s", *(const bool *)f ? "true" : "false");
            break;
        case PKEY_UINT:
            if (c->o.json)
                jw_uint(&c->out, d->name, *(const unsigned *)f);
            snprintf(human, sizeof human, "%u", *(const unsigned *)f);
            break;
        case PKEY_ROUTING: {
            const char *v = policy_routing_name(*(const enum policy_routing *)f);
            if (c->o.json)
                jw_str(&c->out, d->name, v);
            snprintf(human, sizeof human, "%s", v);
            break;
        }
        case PKEY_VERIFICATION: {
            const char *v = policy_verification_name(*(const enum policy_verification *)f);
            if (c->o.json)
                jw_str(&c->out, d->name, v);
            snprintf(human, sizeof human, "%s", v);
            break;
        }
        case PKEY_FQDN: {
            const char *v = *(const char *const *)f;
            if (c->o.json)
                jw_str(&c->out, d->name, v);
            snprintf(human, sizeof human, "%s", v ? v : "(unset)");
            break;
        }
        }
        if (!c->o.json)
            printf("  %-42s %-24s %s\n", d->name, human, d->lync_name ? d->lync_name : "");
    }
    if (c->o.json)
        jw_end_obj(&c->out);
}

static void show_internal(struct ctl *c, const struct policy *p)
{
    const char *const *v;
    size_t n = policy_internal_domains(p, &v);
    if (c->o.json) {
        jw_arr(&c->out, section_keys[SEC_INTERNAL]);
        for (size_t i = 0; i < n; i++)
            jw_str(&c->out, NULL, v[i]);
        jw_end_arr(&c->out);
        return;
    }
    for (size_t i = 0; i < n; i++)
        printf("  %s\n", v[i]);
    if (!n)
        printf("  (none)\n");
}

static void show_allowed(struct ctl *c, const struct policy *p)
{
    const struct policy_allowed_domain *v;
    size_t n = policy_allowed_domains(p, &v);
    if (c->o.json)
        jw_arr(&c->out, section_keys[SEC_ALLOWED]);
    for (size_t i = 0; i < n; i++) {
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "domain", v[i].domain);
            jw_str(&c->out, "kind", v[i].edge_fqdn ? "partner_server" : "partner_domain");
            jw_str(&c->out, "edge_fqdn", v[i].edge_fqdn);
            jw_str(&c->out, "comment", v[i].comment);
            jw_end_obj(&c->out);
            continue;
        }
        printf("  %-32s ", v[i].domain);
        if (v[i].edge_fqdn)
            printf("partner server, edge %s", v[i].edge_fqdn);
        else
            printf("partner domain, edge by SRV");
        printf("%s%s\n", v[i].comment ? "  # " : "", v[i].comment ? v[i].comment : "");
    }
    if (c->o.json)
        jw_end_arr(&c->out);
    else if (!n)
        printf("  (none)\n");
}

static void show_blocked(struct ctl *c, const struct policy *p)
{
    const struct policy_blocked_domain *v;
    size_t n = policy_blocked_domains(p, &v);
    if (c->o.json)
        jw_arr(&c->out, section_keys[SEC_BLOCKED]);
    for (size_t i = 0; i < n; i++) {
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "domain", v[i].domain);
            jw_str(&c->out, "comment", v[i].comment);
            jw_end_obj(&c->out);
        } else {
            printf("  %-32s%s%s\n", v[i].domain, v[i].comment ? " # " : "",
                   v[i].comment ? v[i].comment : "");
        }
    }
    if (c->o.json)
        jw_end_arr(&c->out);
    else if (!n)
        printf("  (none)\n");
}

static void show_providers(struct ctl *c, const struct policy *p)
{
    const struct policy_provider *v;
    size_t n = policy_providers(p, &v);
    if (c->o.json)
        jw_arr(&c->out, section_keys[SEC_PROVIDERS]);
    for (size_t i = 0; i < n; i++) {
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "name", v[i].name);
            jw_str(&c->out, "fqdn", v[i].fqdn);
            jw_str(&c->out, "type", provider_type_name(v[i].type));
            jw_str(&c->out, "verification_level", policy_verification_name(v[i].verification));
            jw_bool(&c->out, "enabled", v[i].enabled);
            jw_arr(&c->out, "domains");
            for (size_t j = 0; j < v[i].n_domains; j++)
                jw_str(&c->out, NULL, v[i].domains[j]);
            jw_end_arr(&c->out);
            jw_end_obj(&c->out);
            continue;
        }
        printf("  %-20s %-8s %-32s %s, %s", v[i].name, provider_type_name(v[i].type), v[i].fqdn,
               policy_verification_name(v[i].verification), v[i].enabled ? "enabled" : "DISABLED");
        for (size_t j = 0; j < v[i].n_domains; j++)
            printf("%s%s", j ? ", " : ", domains ", v[i].domains[j]);
        printf("\n");
    }
    if (c->o.json)
        jw_end_arr(&c->out);
    else if (!n)
        printf("  (none)\n");
}

static void show_xmpp(struct ctl *c, const struct policy *p)
{
    const struct policy_xmpp_partner *v;
    size_t n = policy_xmpp_partners(p, &v);
    if (c->o.json)
        jw_arr(&c->out, section_keys[SEC_XMPP]);
    for (size_t i = 0; i < n; i++) {
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "domain", v[i].domain);
            jw_str(&c->out, "edge_fqdn", v[i].edge_fqdn);
            jw_str(&c->out, "type", xmpp_partner_type_name(v[i].type));
            jw_str(&c->out, "tls", xmpp_negotiation_name(v[i].tls));
            jw_str(&c->out, "sasl", xmpp_negotiation_name(v[i].sasl));
            jw_str(&c->out, "dialback", xmpp_negotiation_name(v[i].dialback));
            jw_str(&c->out, "comment", v[i].comment);
            jw_end_obj(&c->out);
            continue;
        }
        printf("  %-28s %-18s tls %s, sasl %s, dialback %s%s%s%s%s\n", v[i].domain,
               xmpp_partner_type_name(v[i].type), xmpp_negotiation_name(v[i].tls),
               xmpp_negotiation_name(v[i].sasl), xmpp_negotiation_name(v[i].dialback),
               v[i].edge_fqdn ? ", edge " : "", v[i].edge_fqdn ? v[i].edge_fqdn : "",
               v[i].comment ? "  # " : "", v[i].comment ? v[i].comment : "");
    }
    if (c->o.json)
        jw_end_arr(&c->out);
    else if (!n)
        printf("  (none)\n");
}

static void show_access(struct ctl *c, const struct policy *p)
{
    const struct external_access_policy *v;
    size_t n = policy_access_policies(p, &v);
    if (c->o.json)
        jw_arr(&c->out, section_keys[SEC_ACCESS]);
    for (size_t i = 0; i < n; i++) {
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "name", v[i].name);
            jw_bool(&c->out, "enable_federation_access", v[i].enable_federation_access);
            jw_bool(&c->out, "enable_public_cloud_access", v[i].enable_public_cloud_access);
            jw_bool(&c->out, "enable_xmpp_access", v[i].enable_xmpp_access);
            jw_bool(&c->out, "enable_outside_access", v[i].enable_outside_access);
            jw_end_obj(&c->out);
            continue;
        }
        printf("  %-20s federation %-3s  public-im %-3s  xmpp %-3s  outside %s\n", v[i].name,
               v[i].enable_federation_access ? "on" : "off",
               v[i].enable_public_cloud_access ? "on" : "off",
               v[i].enable_xmpp_access ? "on" : "off", v[i].enable_outside_access ? "on" : "off");
    }
    if (c->o.json)
        jw_end_arr(&c->out);
}

static void show_users(struct ctl *c, const struct policy *p)
{
    const struct policy_user_assignment *v;
    size_t n = policy_user_assignments(p, &v);
    if (c->o.json)
        jw_arr(&c->out, section_keys[SEC_USERS]);
    for (size_t i = 0; i < n; i++) {
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "user", v[i].user);
            jw_str(&c->out, "policy", v[i].policy);
            jw_end_obj(&c->out);
        } else {
            printf("  %-40s %s\n", v[i].user, v[i].policy);
        }
    }
    if (c->o.json)
        jw_end_arr(&c->out);
    else if (!n)
        printf("  (none: every user has the global policy)\n");
}

void ctl_show_section(struct ctl *c, const struct policy *p, enum ctl_section s)
{
    static void (*const fns[SEC_COUNT])(struct ctl *, const struct policy *) = {
        show_settings,  show_internal, show_allowed, show_blocked,
        show_providers, show_xmpp,     show_access,  show_users,
    };
    if (!c->o.json)
        printf("%s:\n", section_titles[s]);
    fns[s](c, p);
}

/* The header every listing starts with. */
static void header(struct ctl *c, const struct ctl_policy_cur *cur)
{
    if (c->o.json) {
        jw_obj(&c->out, NULL);
        jw_bool(&c->out, "ok", true);
        jw_str(&c->out, "pool", c->o.pool);
        jw_bool(&c->out, "exists", cur->exists);
        jw_uint(&c->out, "version", cur->version);
        return;
    }
    if (!cur->exists) {
        printf("pool %s: no policy in Redis (nodes run their configuration's; Lync's defaults "
               "shown)\n",
               c->o.pool);
        return;
    }
    char when[64] = "?";
    time_t t = (time_t)(cur->updated_ms / 1000);
    struct tm tm;
    if (cur->updated_ms && gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("pool %s: policy version %" PRIu64 ", updated %s by %s\n", c->o.pool, cur->version, when,
           cur->updated_by[0] ? cur->updated_by : "?");
}

int ctl_cmd_policy_show(struct ctl *c, const struct ctl_args *a)
{
    struct ctl_policy_cur cur;
    struct policy *p;
    if (ctl_policy_load(c, &cur, &p))
        return CTL_FAIL;
    if (ctl_flag(a, "text")) { /* the stored text, as a config file's group: a seed file */
        if (c->o.json) {
            header(c, &cur);
            jw_str(&c->out, "text", cur.text);
            jw_end_obj(&c->out);
        } else {
            printf("# pool %s, policy version %" PRIu64 "\npolicy = {\n%s};\n", c->o.pool,
                   cur.version, cur.text);
        }
    } else {
        header(c, &cur);
        if (c->o.json) {
            jw_uint(&c->out, "updated_ms", cur.updated_ms);
            jw_str(&c->out, "updated_by", cur.updated_by);
        }
        for (int s = 0; s < SEC_COUNT; s++)
            ctl_show_section(c, p, (enum ctl_section)s);
        if (c->o.json)
            jw_end_obj(&c->out);
    }
    c->json_done = c->o.json;
    policy_free(p);
    ctl_policy_cur_free(&cur);
    return CTL_OK;
}

/* `GROUP list`: the section the command's group names. */
int ctl_cmd_list(struct ctl *c, const struct ctl_args *a)
{
    static const struct {
        const char *group;
        enum ctl_section s;
    } map[] = {
        {"internal-domain", SEC_INTERNAL},
        {"allowed", SEC_ALLOWED},
        {"blocked", SEC_BLOCKED},
        {"provider", SEC_PROVIDERS},
        {"xmpp", SEC_XMPP},
        {"access-policy", SEC_ACCESS},
        {"user", SEC_USERS},
    };
    enum ctl_section s = SEC_SETTINGS;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].group, c->cmd->group) == 0)
            s = map[i].s;
    struct ctl_policy_cur cur;
    struct policy *p;
    if (ctl_policy_load(c, &cur, &p))
        return CTL_FAIL;
    header(c, &cur);
    ctl_show_section(c, p, s);
    if (c->o.json) {
        jw_end_obj(&c->out);
        c->json_done = true;
    }
    policy_free(p);
    ctl_policy_cur_free(&cur);
    return CTL_OK;
}
