/* policy_config.c -- the federation policy from a libconfig "policy" group,
 * and the file-backed policy store.
 *
 * Maps libconfig settings onto the policy builder (policy.c), refusing unknown
 * keys and wrong types; every error names the file, the line and the key:
 * "edge.conf:12: policy.blocked_domains[0].domain: fabrikam.test is already
 * allowed (a domain is allowed or blocked, once)". The syntax:
 *
 *   policy = {
 *     access_edge = { allow_federated_users = true; enable_partner_discovery = false;
 *                     routing_method = "dns_srv"; ... };       # policy_print_reference()
 *     internal_domains = [ "contoso.test" ];
 *     allowed_domains = ( "tailspin.test",                     # partner domain (SRV)
 *       { domain = "fabrikam.test"; edge_fqdn = "sip.fabrikam.test"; comment = "direct"; } );
 *     blocked_domains = ( "spam.test", { domain = "junk.test"; comment = "SPIM"; } );
 *     providers = ( { name = "LyncOnline"; fqdn = "sipfed.online.lync.com"; type = "hosting";
 *                     verification_level = "use_source_verification"; enabled = true;
 *                     domains = [ "tenant.test" ]; } );        # domains optional
 *     xmpp_partners = ( { domain = "jabber.test"; type = "federated"; tls = "required";
 *                         sasl = "optional"; dialback = "optional"; edge_fqdn = "..."; } );
 *     external_access_policies = ( { name = "global"; enable_federation_access = true; },
 *       { name = "NoFederation"; } );                          # flags default to false
 *     user_policies = ( { user = "bob@contoso.test"; policy = "NoFederation"; } );
 *   };
 *
 * Sections are applied in file order, except user_policies, last. */
#include "federation/policy.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ---- error reporting ---- */

/* "policy.allowed_domains[2].domain" for s. */
static void key_path(const config_setting_t *s, char *buf, size_t len)
{
    const config_setting_t *parent = config_setting_parent(s);
    buf[0] = '\0';
    if (!parent)
        return; /* the root */
    key_path(parent, buf, len);
    size_t used = strlen(buf);
    const char *name = config_setting_name(s);
    if (name)
        snprintf(buf + used, len - used, "%s%s", used ? "." : "", name);
    else
        snprintf(buf + used, len - used, "[%d]", config_setting_index(s));
}

static int cfg_err(char *err, size_t errlen, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cfg_err(char *err, size_t errlen, const config_setting_t *s, const char *fmt, ...)
{
    if (!err || !errlen)
        return -1;
    char key[256] = "", what[512];
    if (s)
        key_path(s, key, sizeof key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *file = s ? config_setting_source_file(s) : NULL;
    snprintf(err, errlen, "%s:%u: %s: %s", file ? file : "<string>",
             s ? (unsigned)config_setting_source_line(s) : 0, key[0] ? key : "policy", what);
    return -1;
}

/* ---- typed getters: absent is fine unless required; a wrong type is not ---- */

static int get_str(const config_setting_t *grp, const char *name, bool required, const char **out,
                   char *err, size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(grp, name);
    *out = NULL;
    if (!s)
        return required ? cfg_err(err, errlen, grp, "missing '%s'", name) : 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cfg_err(err, errlen, s, "must be a string");
    *out = config_setting_get_string(s);
    return 0;
}

static int get_bool(const config_setting_t *grp, const char *name, bool *out, char *err,
                    size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(grp, name);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfg_err(err, errlen, s, "must be true or false");
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

/* An enumerated string: parse is one of policy.h's *_parse; choices for the message. */
static int get_enum(const config_setting_t *grp, const char *name, int (*parse)(const char *),
                    const char *choices, int *out, char *err, size_t errlen)
{
    const char *v;
    if (get_str(grp, name, false, &v, err, errlen) < 0)
        return -1;
    if (!v)
        return 0;
    int x = parse(v);
    if (x < 0)
        return cfg_err(err, errlen, config_setting_get_member(grp, name), "unknown %s '%s' (%s)",
                       name, v, choices);
    *out = x;
    return 0;
}

#define VERIFICATION_CHOICES "use_source_verification, always_verifiable, always_unverifiable"
#define NEGOTIATION_CHOICES "required, optional, not_supported"

/* Refuse members of grp not named in keys (NULL-terminated): typos fail loudly. */
static int only_keys(const config_setting_t *grp, const char *const *keys, char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(grp); i++) {
        const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(m);
        bool known = false;
        for (const char *const *k = keys; *k && !known; k++)
            known = strcmp(*k, name) == 0;
        if (!known)
            return cfg_err(err, errlen, m, "unknown key");
    }
    return 0;
}

static int need_list(const config_setting_t *s, char *err, size_t errlen)
{
    if (!config_setting_is_list(s) && !config_setting_is_array(s))
        return cfg_err(err, errlen, s, "must be a list ( ... ) or an array [ ... ]");
    return 0;
}

/* ---- sections ---- */

static int load_access_edge(struct policy *p, const config_setting_t *grp, char *err, size_t errlen)
{
    if (!config_setting_is_group(grp))
        return cfg_err(err, errlen, grp, "must be a group { ... }");
    size_t ndefs;
    const struct policy_setting_def *defs = policy_setting_defs(&ndefs);
    struct access_edge_settings *st = policy_settings_mut(p);
    char why[256];

    for (int i = 0; i < config_setting_length(grp); i++) {
        const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(m);
        const struct policy_setting_def *d = NULL;
        for (size_t j = 0; j < ndefs && !d; j++)
            if (strcmp(defs[j].name, name) == 0)
                d = &defs[j];
        if (!d)
            return cfg_err(err, errlen, m, "unknown key");
        char *f = (char *)st + d->offset;
        int type = config_setting_type(m);
        int x;
        switch (d->type) {
        case PKEY_BOOL:
            if (type != CONFIG_TYPE_BOOL)
                return cfg_err(err, errlen, m, "must be true or false");
            *(bool *)f = config_setting_get_bool(m) != 0;
            break;
        case PKEY_UINT: {
            if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                return cfg_err(err, errlen, m, "must be an integer");
            long long v = config_setting_get_int64(m);
            if (v < d->min || v > d->max)
                return cfg_err(err, errlen, m, "%lld is out of range %ld..%ld", v, d->min, d->max);
            *(unsigned *)f = (unsigned)v;
            break;
        }
        case PKEY_ROUTING:
            x = (int)*(enum policy_routing *)f; /* get_enum sets x only if it finds a value */
            if (get_enum(grp, name, policy_routing_parse, "dns_srv, default_route", &x, err,
                         errlen) < 0)
                return -1;
            *(enum policy_routing *)f = (enum policy_routing)x;
            break;
        case PKEY_VERIFICATION:
            x = (int)*(enum policy_verification *)f;
            if (get_enum(grp, name, policy_verification_parse, VERIFICATION_CHOICES, &x, err,
                         errlen) < 0)
                return -1;
            *(enum policy_verification *)f = (enum policy_verification)x;
            break;
        case PKEY_FQDN:
            if (type != CONFIG_TYPE_STRING)
                return cfg_err(err, errlen, m, "must be a string");
            if (policy_set_default_route_fqdn(p, config_setting_get_string(m), why, sizeof why) < 0)
                return cfg_err(err, errlen, m, "%s", why);
            break;
        }
    }
    return 0;
}

static int load_internal(struct policy *p, const config_setting_t *list, char *err, size_t errlen)
{
    char why[256];
    if (need_list(list, err, errlen) < 0)
        return -1;
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return cfg_err(err, errlen, e, "must be a domain string");
        if (policy_add_internal_domain(p, config_setting_get_string(e), why, sizeof why) < 0)
            return cfg_err(err, errlen, e, "%s", why);
    }
    return 0;
}

/* allowed_domains / blocked_domains: each a domain string or a group. */
static int load_domains(struct policy *p, const config_setting_t *list, bool allowed, char *err,
                        size_t errlen)
{
    static const char *const allowed_keys[] = {"domain", "edge_fqdn", "comment", NULL};
    static const char *const blocked_keys[] = {"domain", "comment", NULL};
    char why[256];
    if (need_list(list, err, errlen) < 0)
        return -1;
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        const char *domain = NULL, *edge = NULL, *comment = NULL;
        const config_setting_t *at = e; /* where a refused domain is reported */
        if (config_setting_type(e) == CONFIG_TYPE_STRING) {
            domain = config_setting_get_string(e);
        } else if (config_setting_is_group(e)) {
            if (only_keys(e, allowed ? allowed_keys : blocked_keys, err, errlen) < 0 ||
                get_str(e, "domain", true, &domain, err, errlen) < 0 ||
                (allowed && get_str(e, "edge_fqdn", false, &edge, err, errlen) < 0) ||
                get_str(e, "comment", false, &comment, err, errlen) < 0)
                return -1;
            at = config_setting_get_member(e, "domain");
        } else {
            return cfg_err(err, errlen, e, "must be a domain string or a group { domain = ...; }");
        }
        int rc = allowed ? policy_add_allowed_domain(p, domain, edge, comment, why, sizeof why)
                         : policy_add_blocked_domain(p, domain, comment, why, sizeof why);
        if (rc == POLICY_BAD_FQDN)
            at = config_setting_get_member(e, "edge_fqdn");
        if (rc < 0)
            return cfg_err(err, errlen, at, "%s", why);
    }
    return 0;
}

static int load_providers(struct policy *p, const config_setting_t *list, char *err, size_t errlen)
{
    static const char *const keys[] = {"name",    "fqdn",    "type", "verification_level",
                                       "enabled", "domains", NULL};
    char why[256];
    if (need_list(list, err, errlen) < 0)
        return -1;
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e))
            return cfg_err(err, errlen, e, "must be a group { name = ...; fqdn = ...; }");
        struct policy_provider v = {.verification = VERIF_USE_SOURCE, .enabled = true};
        int type = -1, level = VERIF_USE_SOURCE;
        if (only_keys(e, keys, err, errlen) < 0 ||
            get_str(e, "name", true, &v.name, err, errlen) < 0 ||
            get_str(e, "fqdn", true, &v.fqdn, err, errlen) < 0 ||
            get_enum(e, "type", provider_type_parse, "hosting, public", &type, err, errlen) < 0 ||
            get_enum(e, "verification_level", policy_verification_parse, VERIFICATION_CHOICES,
                     &level, err, errlen) < 0 ||
            get_bool(e, "enabled", &v.enabled, err, errlen) < 0)
            return -1;
        if (type < 0)
            return cfg_err(err, errlen, e, "missing 'type' (hosting, public)");
        v.type = (enum provider_type)type;
        v.verification = (enum policy_verification)level;

        const config_setting_t *doms = config_setting_get_member(e, "domains");
        const char *names[64];
        const char **dv = names;
        if (doms) {
            if (need_list(doms, err, errlen) < 0)
                return -1;
            v.n_domains = (size_t)config_setting_length(doms);
            if (v.n_domains > sizeof names / sizeof names[0] &&
                !(dv = calloc(v.n_domains, sizeof *dv)))
                return cfg_err(err, errlen, doms, "out of memory");
            for (size_t j = 0; j < v.n_domains; j++) {
                const config_setting_t *d = config_setting_get_elem(doms, (unsigned)j);
                if (config_setting_type(d) != CONFIG_TYPE_STRING) {
                    if (dv != names)
                        free(dv);
                    return cfg_err(err, errlen, d, "must be a domain string");
                }
                dv[j] = config_setting_get_string(d);
            }
            v.domains = dv;
        }
        int rc = policy_add_provider(p, &v, why, sizeof why);
        if (dv != names)
            free(dv);
        if (rc < 0) {
            const config_setting_t *at = config_setting_get_member(e, "name");
            if (rc == POLICY_BAD_FQDN)
                at = config_setting_get_member(e, "fqdn");
            else if (rc == POLICY_BAD_ATTR)
                at = e;
            else if (rc <= POLICY_BAD_LIST)
                at = config_setting_get_elem(doms, (unsigned)(POLICY_BAD_LIST - rc));
            return cfg_err(err, errlen, at ? at : e, "%s", why);
        }
    }
    return 0;
}

static int load_xmpp(struct policy *p, const config_setting_t *list, char *err, size_t errlen)
{
    static const char *const keys[] = {"domain", "edge_fqdn", "type",    "tls",
                                       "sasl",   "dialback",  "comment", NULL};
    char why[256];
    if (need_list(list, err, errlen) < 0)
        return -1;
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e))
            return cfg_err(err, errlen, e, "must be a group { domain = ...; }");
        /* edgepool's defaults: TLS required, SASL and dialback optional. */
        int type = XMPP_FEDERATED, tls = XMPP_NEG_REQUIRED, sasl = XMPP_NEG_OPTIONAL,
            dialback = XMPP_NEG_OPTIONAL;
        struct policy_xmpp_partner x = {0};
        if (only_keys(e, keys, err, errlen) < 0 ||
            get_str(e, "domain", true, &x.domain, err, errlen) < 0 ||
            get_str(e, "edge_fqdn", false, &x.edge_fqdn, err, errlen) < 0 ||
            get_str(e, "comment", false, &x.comment, err, errlen) < 0 ||
            get_enum(e, "type", xmpp_partner_type_parse,
                     "federated, public_verified, public_unverified", &type, err, errlen) < 0 ||
            get_enum(e, "tls", xmpp_negotiation_parse, NEGOTIATION_CHOICES, &tls, err, errlen) <
                0 ||
            get_enum(e, "sasl", xmpp_negotiation_parse, NEGOTIATION_CHOICES, &sasl, err, errlen) <
                0 ||
            get_enum(e, "dialback", xmpp_negotiation_parse, NEGOTIATION_CHOICES, &dialback, err,
                     errlen) < 0)
            return -1;
        x.type = (enum xmpp_partner_type)type;
        x.tls = (enum xmpp_negotiation)tls;
        x.sasl = (enum xmpp_negotiation)sasl;
        x.dialback = (enum xmpp_negotiation)dialback;
        int rc = policy_add_xmpp_partner(p, &x, why, sizeof why);
        if (rc < 0)
            return cfg_err(
                err, errlen,
                config_setting_get_member(e, rc == POLICY_BAD_FQDN ? "edge_fqdn" : "domain"), "%s",
                why);
    }
    return 0;
}

static int load_access_policies(struct policy *p, const config_setting_t *list, char *err,
                                size_t errlen)
{
    static const char *const keys[] = {"name",
                                       "enable_federation_access",
                                       "enable_public_cloud_access",
                                       "enable_xmpp_access",
                                       "enable_outside_access",
                                       NULL};
    char why[256];
    if (need_list(list, err, errlen) < 0)
        return -1;
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e))
            return cfg_err(err, errlen, e, "must be a group { name = ...; }");
        struct external_access_policy ap = {0}; /* Lync: every flag false */
        if (only_keys(e, keys, err, errlen) < 0 ||
            get_str(e, "name", true, &ap.name, err, errlen) < 0 ||
            get_bool(e, "enable_federation_access", &ap.enable_federation_access, err, errlen) <
                0 ||
            get_bool(e, "enable_public_cloud_access", &ap.enable_public_cloud_access, err, errlen) <
                0 ||
            get_bool(e, "enable_xmpp_access", &ap.enable_xmpp_access, err, errlen) < 0 ||
            get_bool(e, "enable_outside_access", &ap.enable_outside_access, err, errlen) < 0)
            return -1;
        if (policy_add_access_policy(p, &ap, why, sizeof why) < 0)
            return cfg_err(err, errlen, config_setting_get_member(e, "name"), "%s", why);
    }
    return 0;
}

static int load_users(struct policy *p, const config_setting_t *list, char *err, size_t errlen)
{
    static const char *const keys[] = {"user", "policy", NULL};
    char why[256];
    if (need_list(list, err, errlen) < 0)
        return -1;
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e))
            return cfg_err(err, errlen, e, "must be a group { user = ...; policy = ...; }");
        const char *user, *name;
        if (only_keys(e, keys, err, errlen) < 0 ||
            get_str(e, "user", true, &user, err, errlen) < 0 ||
            get_str(e, "policy", true, &name, err, errlen) < 0)
            return -1;
        int rc = policy_assign_user(p, user, name, why, sizeof why);
        if (rc < 0)
            return cfg_err(err, errlen,
                           config_setting_get_member(e, rc == POLICY_BAD_REF ? "policy" : "user"),
                           "%s", why);
    }
    return 0;
}

int policy_load_config(struct policy *p, const config_setting_t *group, char *err, size_t errlen)
{
    char why[256];
    if (!group)
        return policy_validate(p, err, errlen);
    if (!config_setting_is_group(group))
        return cfg_err(err, errlen, group, "must be a group { ... }");

    const config_setting_t *users = NULL;
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        int rc;
        if (strcmp(name, "access_edge") == 0)
            rc = load_access_edge(p, m, err, errlen);
        else if (strcmp(name, "internal_domains") == 0)
            rc = load_internal(p, m, err, errlen);
        else if (strcmp(name, "allowed_domains") == 0)
            rc = load_domains(p, m, true, err, errlen);
        else if (strcmp(name, "blocked_domains") == 0)
            rc = load_domains(p, m, false, err, errlen);
        else if (strcmp(name, "providers") == 0)
            rc = load_providers(p, m, err, errlen);
        else if (strcmp(name, "xmpp_partners") == 0)
            rc = load_xmpp(p, m, err, errlen);
        else if (strcmp(name, "external_access_policies") == 0)
            rc = load_access_policies(p, m, err, errlen);
        else if (strcmp(name, "user_policies") == 0) {
            users = m; /* loaded last: they name policies and internal domains */
            rc = 0;
        } else
            rc = cfg_err(err, errlen, m, "unknown key");
        if (rc < 0)
            return -1;
    }
    if (users && load_users(p, users, err, errlen) < 0)
        return -1;
    if (policy_validate(p, why, sizeof why) < 0) {
        const config_setting_t *at = config_setting_get_member(group, "access_edge");
        const config_setting_t *rm = at ? config_setting_get_member(at, "routing_method") : NULL;
        return cfg_err(err, errlen, rm ? rm : at ? at : group, "%s", why);
    }
    return 0;
}

/* ---- the embedded default ----
 * Lync ships with federation off and every external access policy false. A
 * node started with no file should instead be usable for a local demo at once:
 * federation on for our users (global policy), our own domain contoso.test,
 * nothing allowed yet and discovery off, so nothing outside is reachable until
 * an operator allows a partner. A deployed file starts from Lync's defaults. */
static const char embedded_config[] =
    "policy = {\n"
    "  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };\n"
    "  internal_domains = [ \"contoso.test\" ];\n"
    "  external_access_policies = ( { name = \"global\"; enable_federation_access = true; } );\n"
    "};\n";

const char *policy_embedded_config(void)
{
    return embedded_config;
}

void policy_print_reference(FILE *out)
{
    size_t n;
    const struct policy_setting_def *d = policy_setting_defs(&n);
    fprintf(out, "policy = {\n  access_edge = {\n");
    for (size_t i = 0; i < n; i++, d++) {
        fprintf(out, d->type == PKEY_FQDN ? "    # %s = " : "    %s = ", d->name);
        switch (d->type) {
        case PKEY_BOOL:
            fprintf(out, "%s;", d->def ? "true" : "false");
            break;
        case PKEY_UINT:
            fprintf(out, "%ld;", d->def);
            break;
        case PKEY_ROUTING:
            fprintf(out, "\"%s\";", policy_routing_name((enum policy_routing)d->def));
            break;
        case PKEY_VERIFICATION:
            fprintf(out, "\"%s\";", policy_verification_name((enum policy_verification)d->def));
            break;
        case PKEY_FQDN:
            fprintf(out, "\"edge.example.test\"; (unset)");
            break;
        }
        fprintf(out, "  # %s (%s%s", d->doc, d->lync_name ? "Lync " : "edgepool",
                d->lync_name ? d->lync_name : "");
        if (d->type == PKEY_UINT)
            fprintf(out, ", %ld..%ld", d->min, d->max);
        fprintf(out, ")\n");
    }
    fprintf(out, "  };\n  # internal_domains, allowed_domains, blocked_domains, providers,\n"
                 "  # xmpp_partners, external_access_policies, user_policies: see "
                 "node/federation/policy_config.c\n};\n");
}

/* ---- the file store ---- */

struct file_store {
    char *path; /* NULL = embedded */
    const struct policy *cur;
    uint64_t version;
};

/* Build a policy from path (NULL = the embedded text). */
static struct policy *load_policy(const char *path, uint64_t version, char *err, size_t errlen)
{
    config_t cfg;
    config_init(&cfg);
    int ok;
    if (path) {
        char *dir = strdup(path);
        if (dir) {
            config_set_include_dir(&cfg, dirname(dir)); /* @include is relative to the file */
            free(dir);
        }
        errno = 0;
        ok = config_read_file(&cfg, path);
    } else {
        ok = config_read_string(&cfg, embedded_config);
    }
    if (!ok) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read: %s", path ? path : "<embedded>",
                     errno ? strerror(errno) : "I/O error");
        else
            snprintf(err, errlen, "%s:%d: %s",
                     config_error_file(&cfg) ? config_error_file(&cfg)
                                             : (path ? path : "<embedded>"),
                     config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return NULL;
    }
    struct policy *p = policy_new();
    if (!p) {
        snprintf(err, errlen, "out of memory");
        config_destroy(&cfg);
        return NULL;
    }
    const config_setting_t *group = config_lookup(&cfg, "policy");
    if (!group && path)
        LOG_WARN("policy", "%s has no policy group: Lync's defaults, federation off", path);
    if (policy_load_config(p, group, err, errlen) < 0) {
        config_destroy(&cfg);
        policy_free(p);
        return NULL;
    }
    config_destroy(&cfg);
    policy_set_version(p, version);
    return p;
}

static const struct policy *fs_current(struct policy_store *s)
{
    return ((struct file_store *)s->impl)->cur;
}

static int fs_reload(struct policy_store *s, char *err, size_t errlen)
{
    struct file_store *fs = s->impl;
    if (!fs->path)
        return 0; /* the embedded text never changes */
    struct policy *p = load_policy(fs->path, fs->version + 1, err, errlen);
    if (!p)
        return -1;
    policy_free(fs->cur);
    fs->cur = p;
    fs->version++;
    return 0;
}

static void fs_free(struct policy_store *s)
{
    if (!s)
        return;
    struct file_store *fs = s->impl;
    policy_free(fs->cur);
    free(fs->path);
    free(fs);
    free(s);
}

struct policy_store *policy_store_file_new(const char *config_path, char *err, size_t errlen)
{
    struct policy_store *s = calloc(1, sizeof *s);
    struct file_store *fs = calloc(1, sizeof *fs);
    if (!s || !fs || (config_path && !(fs->path = strdup(config_path)))) {
        free(s);
        free(fs);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    fs->version = 1;
    if (!(fs->cur = load_policy(fs->path, fs->version, err, errlen))) {
        free(fs->path);
        free(fs);
        free(s);
        return NULL;
    }
    *s = (struct policy_store){fs_current, fs_reload, fs_free, fs};
    return s;
}
