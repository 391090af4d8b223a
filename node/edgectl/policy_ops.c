/* policy_ops.c -- the edits edgectl makes to the policy tree, one per Lync
 * cmdlet (see policy_ops.h). Pure tree surgery; the node's rules judge the
 * result afterwards. */
#include "edgectl/policy_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "federation/policy.h"

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* A list section, or a refusal when the text has it as something else. */
static config_setting_t *section(struct ptext *t, const char *name, bool create, char *err,
                                 size_t errlen)
{
    t->focus = name;
    config_setting_t *l = ptext_list(t, name, create);
    if (!l && (create || config_setting_get_member(ptext_root(t), name)))
        snprintf(err, errlen, "policy.%s is not a list: fix the stored policy first", name);
    return l;
}

/* Append a plain string entry. */
static int add_string(config_setting_t *l, const char *v, char *err, size_t errlen)
{
    config_setting_t *e = config_setting_add(l, NULL, CONFIG_TYPE_STRING);
    if (!e || !config_setting_set_string(e, v))
        return oom(err, errlen);
    return 0;
}

/* Optional string member: set when v is given. */
static int opt_str(config_setting_t *g, const char *name, const char *v)
{
    return v ? ptext_set_str(g, name, v) : 0;
}

int pop_internal_add(struct ptext *t, const char *domain, char *err, size_t errlen)
{
    config_setting_t *l = section(t, PSEC_INTERNAL, true, err, errlen);
    if (!l)
        return -1;
    /* internal_domains may be an array of strings: keep it one. */
    return add_string(l, domain, err, errlen);
}

int pop_allowed_add(struct ptext *t, const char *domain, const char *edge, const char *comment,
                    char *err, size_t errlen)
{
    config_setting_t *l = section(t, PSEC_ALLOWED, true, err, errlen);
    if (!l)
        return -1;
    if (!edge && !comment)
        return add_string(l, domain, err, errlen);
    config_setting_t *g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
    if (!g || ptext_set_str(g, "domain", domain) < 0 || opt_str(g, "edge_fqdn", edge) < 0 ||
        opt_str(g, "comment", comment) < 0)
        return oom(err, errlen);
    return 0;
}

int pop_blocked_add(struct ptext *t, const char *domain, const char *comment, char *err,
                    size_t errlen)
{
    config_setting_t *l = section(t, PSEC_BLOCKED, true, err, errlen);
    if (!l)
        return -1;
    if (!comment)
        return add_string(l, domain, err, errlen);
    config_setting_t *g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
    if (!g || ptext_set_str(g, "domain", domain) < 0 || ptext_set_str(g, "comment", comment) < 0)
        return oom(err, errlen);
    return 0;
}

static const char *section_noun(const char *section)
{
    if (strcmp(section, PSEC_INTERNAL) == 0)
        return "an internal domain";
    if (strcmp(section, PSEC_ALLOWED) == 0)
        return "an allowed domain";
    if (strcmp(section, PSEC_BLOCKED) == 0)
        return "a blocked domain";
    return "an XMPP partner";
}

int pop_domain_remove(struct ptext *t, const char *sec, const char *domain, char *err,
                      size_t errlen)
{
    err[0] = '\0';
    config_setting_t *l = section(t, sec, false, err, errlen);
    int i = l ? ptext_find(l, "domain", domain, true) : -1;
    if (i < 0) {
        if (!err[0])
            snprintf(err, errlen, "%s is not %s", domain, section_noun(sec));
        return -1;
    }
    config_setting_remove_elem(l, (unsigned)i);
    return 0;
}

int pop_provider_add(struct ptext *t, const struct pop_provider *p, char *err, size_t errlen)
{
    config_setting_t *l = section(t, PSEC_PROVIDERS, true, err, errlen);
    if (!l)
        return -1;
    /* Identities are unique (the policy only refuses a repeated FQDN). */
    if (ptext_find(l, "name", p->name, false) >= 0) {
        snprintf(err, errlen, "provider %s already exists (remove it first)", p->name);
        return -1;
    }
    config_setting_t *g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
    if (!g || ptext_set_str(g, "name", p->name) < 0 || ptext_set_str(g, "fqdn", p->fqdn) < 0 ||
        ptext_set_str(g, "type", p->type) < 0 ||
        opt_str(g, "verification_level", p->verification) < 0 ||
        (p->disabled && ptext_set_bool(g, "enabled", false) < 0))
        return oom(err, errlen);
    if (p->n_domains > 0) {
        config_setting_t *d = config_setting_add(g, "domains", CONFIG_TYPE_ARRAY);
        if (!d)
            return oom(err, errlen);
        for (int i = 0; i < p->n_domains; i++)
            if (add_string(d, p->domains[i], err, errlen) < 0)
                return -1;
    }
    return 0;
}

/* The provider group named name, or NULL with err. */
static config_setting_t *provider(struct ptext *t, const char *name, int *idx, char *err,
                                  size_t errlen)
{
    err[0] = '\0';
    config_setting_t *l = section(t, PSEC_PROVIDERS, false, err, errlen);
    int i = l ? ptext_find(l, "name", name, false) : -1;
    if (i < 0) {
        if (!err[0])
            snprintf(err, errlen, "no provider named %s", name);
        return NULL;
    }
    if (idx)
        *idx = i;
    return l;
}

int pop_provider_remove(struct ptext *t, const char *name, char *err, size_t errlen)
{
    int i;
    config_setting_t *l = provider(t, name, &i, err, errlen);
    if (!l)
        return -1;
    config_setting_remove_elem(l, (unsigned)i);
    return 0;
}

int pop_provider_enable(struct ptext *t, const char *name, bool enabled, char *err, size_t errlen)
{
    int i;
    config_setting_t *l = provider(t, name, &i, err, errlen);
    if (!l)
        return -1;
    config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
    int cur = 1; /* absent: enabled, the default */
    config_setting_lookup_bool(g, "enabled", &cur);
    if ((cur != 0) == enabled)
        return 1;
    if (enabled) /* back to the default: the key goes */
        ptext_unset(g, "enabled");
    else if (ptext_set_bool(g, "enabled", false) < 0)
        return oom(err, errlen);
    return 0;
}

int pop_xmpp_add(struct ptext *t, const struct pop_xmpp *x, char *err, size_t errlen)
{
    config_setting_t *l = section(t, PSEC_XMPP, true, err, errlen);
    if (!l)
        return -1;
    config_setting_t *g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
    if (!g || ptext_set_str(g, "domain", x->domain) < 0 ||
        opt_str(g, "edge_fqdn", x->edge_fqdn) < 0 || opt_str(g, "type", x->type) < 0 ||
        opt_str(g, "tls", x->tls) < 0 || opt_str(g, "sasl", x->sasl) < 0 ||
        opt_str(g, "dialback", x->dialback) < 0 || opt_str(g, "comment", x->comment) < 0)
        return oom(err, errlen);
    return 0;
}

static const char *const access_keys[] = {"enable_federation_access", "enable_public_cloud_access",
                                          "enable_xmpp_access", "enable_outside_access"};

int pop_access_set(struct ptext *t, const struct pop_access *a, char *err, size_t errlen)
{
    config_setting_t *l = section(t, PSEC_ACCESS, true, err, errlen);
    if (!l)
        return -1;
    int i = ptext_find(l, "name", a->name, false);
    config_setting_t *g;
    bool created = i < 0;
    if (created) {
        if (!(g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP)) ||
            ptext_set_str(g, "name", a->name) < 0)
            return oom(err, errlen);
    } else {
        g = config_setting_get_elem(l, (unsigned)i);
        if (!config_setting_is_group(g)) {
            snprintf(err, errlen, "policy.%s[%d] is not a group", PSEC_ACCESS, i);
            return -1;
        }
    }
    const int flags[] = {a->federation, a->public_cloud, a->xmpp, a->outside};
    bool changed = created;
    for (size_t k = 0; k < 4; k++) {
        if (flags[k] < 0)
            continue;
        int cur = 0; /* absent: false, Lync's default */
        config_setting_lookup_bool(g, access_keys[k], &cur);
        if ((cur != 0) != (flags[k] != 0) || !config_setting_get_member(g, access_keys[k])) {
            if (ptext_set_bool(g, access_keys[k], flags[k] != 0) < 0)
                return oom(err, errlen);
            changed = changed || (cur != 0) != (flags[k] != 0);
        }
    }
    return changed ? 0 : 1;
}

int pop_access_remove(struct ptext *t, const char *name, char *err, size_t errlen)
{
    err[0] = '\0';
    config_setting_t *l = section(t, PSEC_ACCESS, false, err, errlen);
    int i = l ? ptext_find(l, "name", name, false) : -1;
    if (i < 0) {
        if (err[0])
            return -1;
        if (strcasecmp(name, "global") == 0)
            return 1; /* the built-in global policy is already Lync's default */
        snprintf(err, errlen, "no external access policy named %s", name);
        return -1;
    }
    config_setting_remove_elem(l, (unsigned)i);
    return 0;
}

int pop_user_grant(struct ptext *t, const char *user, const char *policy, char *err, size_t errlen)
{
    config_setting_t *l = section(t, PSEC_USERS, true, err, errlen);
    if (!l)
        return -1;
    int i = ptext_find(l, "user", user, false);
    if (i >= 0) {
        config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        const char *cur = NULL;
        if (config_setting_is_group(g) && config_setting_lookup_string(g, "policy", &cur) &&
            strcasecmp(cur, policy) == 0)
            return 1;
        config_setting_remove_elem(l, (unsigned)i);
    }
    config_setting_t *g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
    if (!g || ptext_set_str(g, "user", user) < 0 || ptext_set_str(g, "policy", policy) < 0)
        return oom(err, errlen);
    return 0;
}

int pop_user_revoke(struct ptext *t, const char *user, char *err, size_t errlen)
{
    err[0] = '\0';
    config_setting_t *l = section(t, PSEC_USERS, false, err, errlen);
    int i = l ? ptext_find(l, "user", user, false) : -1;
    if (i < 0) {
        if (err[0])
            return -1;
        return 1; /* no grant: the user already has the global policy */
    }
    config_setting_remove_elem(l, (unsigned)i);
    return 0;
}

int pop_setting_set(struct ptext *t, const struct policy_setting_def *d, const char *value,
                    char *err, size_t errlen)
{
    config_setting_t *root = ptext_root(t);
    config_setting_t *g = config_setting_get_member(root, PSEC_ACCESS_EDGE);
    t->focus = PSEC_ACCESS_EDGE;
    if (g && !config_setting_is_group(g)) {
        snprintf(err, errlen, "policy.%s is not a group: fix the stored policy first",
                 PSEC_ACCESS_EDGE);
        return -1;
    }
    if (!g && !(g = config_setting_add(root, PSEC_ACCESS_EDGE, CONFIG_TYPE_GROUP)))
        return oom(err, errlen);
    int rc = 0;
    switch (d->type) {
    case PKEY_BOOL:
        rc = ptext_set_bool(g, d->name, strcmp(value, "true") == 0);
        break;
    case PKEY_UINT:
        rc = ptext_set_int(g, d->name, strtoll(value, NULL, 10));
        break;
    case PKEY_ROUTING:
        rc = ptext_set_str(g, d->name,
                           policy_routing_name((enum policy_routing)policy_routing_parse(value)));
        break;
    case PKEY_VERIFICATION:
        rc = ptext_set_str(
            g, d->name,
            policy_verification_name((enum policy_verification)policy_verification_parse(value)));
        break;
    case PKEY_FQDN:
        if (!*value || strcasecmp(value, "none") == 0)
            ptext_unset(g, d->name);
        else
            rc = ptext_set_str(g, d->name, value);
        break;
    }
    return rc < 0 ? oom(err, errlen) : 0;
}

int pop_replace(struct ptext *t, struct ptext *src, char *err, size_t errlen)
{
    char *text = ptext_text(src);
    if (!text)
        return oom(err, errlen);
    ptext_free(t);
    int rc = ptext_init(t, text, err, errlen);
    free(text);
    if (rc < 0) /* t must stay a valid tree for the caller to free */
        ptext_init(t, NULL, NULL, 0);
    return rc;
}
