/* policy.c -- the federation policy: building it, and the decisions made with
 * it (classify a domain, check an inbound peer or an outbound request, a
 * user's external access policy).
 *
 * Lists are arrays (for listing and the Redis store), each indexed by a
 * case-insensitive strmap holding array index + 1, so every decision is a few
 * hash lookups. Decisions are pure: no I/O, no allocation, no clock. */
#include "federation/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strmap.h"

struct policy {
    uint64_t version;
    unsigned refs;
    struct access_edge_settings s;

    const char **internal;
    size_t n_internal, cap_internal;
    struct policy_allowed_domain *allowed;
    size_t n_allowed, cap_allowed;
    struct policy_blocked_domain *blocked;
    size_t n_blocked, cap_blocked;
    struct policy_provider *providers;
    size_t n_providers, cap_providers;
    struct policy_xmpp_partner *xmpp;
    size_t n_xmpp, cap_xmpp;
    struct external_access_policy *aps; /* [0] = global */
    size_t n_aps, cap_aps;
    bool global_set;
    struct policy_user_assignment *users;
    size_t n_users, cap_users;

    /* name -> index + 1 */
    struct strmap *m_internal, *m_allowed, *m_blocked, *m_edge, *m_prov_fqdn, *m_prov_name,
        *m_prov_domain, *m_xmpp, *m_ap, *m_user /* user -> access policy index + 1 */;
};

#define IDX_PUT(i) ((void *)(uintptr_t)((i) + 1))
#define IDX_GET(v) ((size_t)(uintptr_t)(v)-1)

/* ---- the access_edge settings table: the one place defaults live ---- */

#define SOFF(f) offsetof(struct access_edge_settings, f)
static const struct policy_setting_def setting_defs[] = {
    {"allow_federated_users", "AllowFederatedUsers", PKEY_BOOL, SOFF(allow_federated_users), 0, 0,
     0, "federate at all: partners, discovered partners, providers, XMPP"},
    {"enable_partner_discovery", "EnablePartnerDiscovery", PKEY_BOOL,
     SOFF(enable_partner_discovery), 0, 0, 0,
     "accept domains not on the allowed list (found by SRV), throttled"},
    {"allow_outside_users", "AllowOutsideUsers", PKEY_BOOL, SOFF(allow_outside_users), 1, 0, 0,
     "remote users of our own domains (not served by this edge yet)"},
    {"routing_method", "RoutingMethod", PKEY_ROUTING, SOFF(routing_method), ROUTING_DNS_SRV, 0, 0,
     "dns_srv: find partners by SRV; default_route: send everything to default_route_fqdn"},
    {"default_route_fqdn", "DefaultRouteFqdn", PKEY_FQDN, SOFF(default_route_fqdn), 0, 0, 0,
     "the next hop for all federation traffic with routing_method default_route"},
    {"default_route_verification_level", "VerificationLevel", PKEY_VERIFICATION,
     SOFF(default_route_verification_level), VERIF_USE_SOURCE, 0, 0,
     "trust in From identities arriving over the default route"},
    {"mark_source_verifiable", "MarkSourceVerifiableOnOutgoingMessages", PKEY_BOOL,
     SOFF(mark_source_verifiable), 1, 0, 0, "mark our outgoing messages as verifiable"},
    {"keep_crls_up_to_date", "KeepCrlsUpToDateForPeers", PKEY_BOOL, SOFF(keep_crls_up_to_date), 1,
     0, 0, "check peers' certificate revocation"},
    {"outgoing_tls_count", "OutgoingTlsCountForFederatedPartners", PKEY_UINT,
     SOFF(outgoing_tls_count), 4, 1, 4, "outbound TLS connections kept per partner edge"},
    {"discovered_partner_standard_rate", "DiscoveredPartnerStandardRate", PKEY_UINT,
     SOFF(discovered_partner_standard_rate), 20, 1, 100000,
     "messages per second accepted from one discovered partner"},
    {"enable_discovered_partner_contacts_limit", "EnableDiscoveredPartnerContactsLimit", PKEY_BOOL,
     SOFF(enable_discovered_partner_contacts_limit), 1, 0, 0,
     "cap the distinct internal users one discovered partner reaches"},
    {"max_contacts_per_discovered_partner", "MaxContactsPerDiscoveredPartner", PKEY_UINT,
     SOFF(max_contacts_per_discovered_partner), 1000, 1, 100000,
     "that cap; beyond it the partner is watched and refused"},
    {"discovered_partner_report_period_minutes", "DiscoveredPartnerReportPeriodMinutes", PKEY_UINT,
     SOFF(discovered_partner_report_period_minutes), 60, 1, 10080,
     "how often the watch list of discovered partners is reported"},
    {"discovered_partner_verification_level", "DiscoveredPartnerVerificationLevel",
     PKEY_VERIFICATION, SOFF(discovered_partner_verification_level), VERIF_USE_SOURCE, 0, 0,
     "trust in From identities arriving from discovered partners"},
    {"enable_xmpp", NULL, PKEY_BOOL, SOFF(enable_xmpp), 0, 0, 0, "federate with XMPP partners"},
};
#undef SOFF

const struct policy_setting_def *policy_setting_defs(size_t *n)
{
    *n = sizeof setting_defs / sizeof setting_defs[0];
    return setting_defs;
}

/* ---- enum names: ours in snake_case; Lync's PascalCase is accepted too ---- */

static const char *const verification_names[] = {"use_source_verification", "always_verifiable",
                                                 "always_unverifiable"};
static const char *const routing_names[] = {"dns_srv", "default_route"};
static const char *const provider_type_names[] = {"hosting", "public"};
static const char *const xmpp_type_names[] = {"federated", "public_verified", "public_unverified"};
static const char *const xmpp_neg_names[] = {"required", "optional", "not_supported"};
static const char *const fed_class_names[] = {
    "denied", "blocked", "partner-server", "partner-domain", "discovered", "provider", "internal"};

#define NAME_OF(tab, v) ((unsigned)(v) < sizeof(tab) / sizeof(tab)[0] ? (tab)[(unsigned)(v)] : "?")

/* Equal ignoring case and underscores: "always_verifiable" = "AlwaysVerifiable". */
static bool name_match(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        char ca = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char cb = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (ca != cb)
            return false;
        a++;
        b++;
    }
}

static int parse_name(const char *const *tab, size_t n, const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (name_match(tab[i], s))
            return (int)i;
    return -1;
}
#define PARSE(tab, s) parse_name((tab), sizeof(tab) / sizeof(tab)[0], (s))

const char *policy_verification_name(enum policy_verification v)
{
    return NAME_OF(verification_names, v);
}
int policy_verification_parse(const char *s)
{
    return PARSE(verification_names, s);
}
const char *policy_routing_name(enum policy_routing r)
{
    return NAME_OF(routing_names, r);
}
int policy_routing_parse(const char *s)
{
    return PARSE(routing_names, s);
}
const char *provider_type_name(enum provider_type t)
{
    return NAME_OF(provider_type_names, t);
}
int provider_type_parse(const char *s)
{
    return PARSE(provider_type_names, s);
}
const char *xmpp_partner_type_name(enum xmpp_partner_type t)
{
    return NAME_OF(xmpp_type_names, t);
}
int xmpp_partner_type_parse(const char *s)
{
    return PARSE(xmpp_type_names, s);
}
const char *xmpp_negotiation_name(enum xmpp_negotiation n)
{
    return NAME_OF(xmpp_neg_names, n);
}
int xmpp_negotiation_parse(const char *s)
{
    return PARSE(xmpp_neg_names, s);
}
const char *fed_class_name(enum fed_class c)
{
    return NAME_OF(fed_class_names, c);
}

/* ---- names ---- */

static struct slice strip_dot(struct slice d)
{
    if (d.len && d.p[d.len - 1] == '.')
        d.len--;
    return d;
}

bool policy_domain_valid(struct slice d)
{
    d = strip_dot(d);
    if (d.len == 0 || d.len > POLICY_DOMAIN_MAX)
        return false;
    size_t start = 0;
    bool all_digits = true;
    for (size_t i = 0; i <= d.len; i++) {
        if (i == d.len || d.p[i] == '.') {
            size_t len = i - start;
            if (len == 0 || len > POLICY_LABEL_MAX || d.p[start] == '-' || d.p[i - 1] == '-')
                return false;
            if (i == d.len && all_digits)
                return false; /* an IPv4 literal or numeric TLD */
            start = i + 1;
            all_digits = true;
            continue;
        }
        char c = d.p[i];
        if (c >= '0' && c <= '9')
            continue;
        all_digits = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
            return false;
    }
    return true;
}

bool policy_name_in(const char *const *names, size_t n, const char *fqdn)
{
    if (!fqdn)
        return false;
    struct slice f = strip_dot(slice_cstr(fqdn));
    for (size_t i = 0; i < n; i++)
        if (names[i] && slice_eq_ci(strip_dot(slice_cstr(names[i])), f))
            return true;
    return false;
}

/* A user as looked up: blanks trimmed, a leading "sip:" dropped. */
static struct slice user_norm(struct slice u)
{
    u = slice_trim(u);
    if (u.len >= 4 && strncasecmp(u.p, "sip:", 4) == 0) {
        u.p += 4;
        u.len -= 4;
    }
    return u;
}

/* "local@domain" with a plain local part and a valid domain (into *dom). */
static bool user_valid(struct slice u, struct slice *dom)
{
    long at = slice_find(u, '@');
    if (at <= 0)
        return false;
    for (long i = 0; i < at; i++) {
        unsigned char c = (unsigned char)u.p[i];
        if (c <= ' ' || c == 0x7f || c == ':' || c == ';' || c == '<' || c == '>')
            return false;
    }
    *dom = slice_from(u.p + at + 1, u.len - (size_t)at - 1);
    return policy_domain_valid(*dom);
}

/* ---- building ---- */

static int seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
#define OOM(err, errlen) seterr(err, errlen, "out of memory")

/* A lower-case heap copy without the trailing dot. */
static char *dup_name(struct slice s)
{
    s = strip_dot(s);
    char *d = slice_dup(s);
    if (d)
        for (char *c = d; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
    return d;
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* arr with room for element n (moved if it had to grow), or NULL with arr
 * untouched (and still owned by the caller). */
static void *room_for(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *na = realloc(arr, ncap * elem);
    if (na)
        *cap = ncap;
    return na;
}

static bool in_map(const struct strmap *m, struct slice key)
{
    return strmap_get(m, strip_dot(key)) != NULL;
}

/* A domain being added must not already be listed in a conflicting role. */
static int check_domain(const struct policy *p, const char *domain, char *err, size_t errlen)
{
    struct slice d = slice_cstr(domain);
    if (!policy_domain_valid(d))
        return seterr(err, errlen, "'%s' is not a valid domain name", domain);
    d = strip_dot(d);
    if (in_map(p->m_internal, d))
        return seterr(err, errlen, "%.*s is one of our internal domains", SLICE_FMT(d));
    if (in_map(p->m_allowed, d))
        return seterr(err, errlen, "%.*s is already allowed (a domain is allowed or blocked, once)",
                      SLICE_FMT(d));
    if (in_map(p->m_blocked, d))
        return seterr(err, errlen, "%.*s is already blocked (a domain is allowed or blocked, once)",
                      SLICE_FMT(d));
    void *v = strmap_get(p->m_prov_domain, d);
    if (v)
        return seterr(err, errlen, "%.*s is already served by provider %s", SLICE_FMT(d),
                      p->providers[IDX_GET(v)].name);
    return 0;
}

static int check_fqdn(const char *what, const char *fqdn, char *err, size_t errlen)
{
    if (!policy_domain_valid(slice_cstr(fqdn)))
        return seterr(err, errlen, "%s '%s' is not a valid FQDN", what, fqdn);
    return 0;
}

struct policy *policy_new(void)
{
    struct policy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->refs = 1;
    for (size_t i = 0; i < sizeof setting_defs / sizeof setting_defs[0]; i++) {
        const struct policy_setting_def *d = &setting_defs[i];
        char *f = (char *)&p->s + d->offset;
        switch (d->type) {
        case PKEY_BOOL:
            *(bool *)f = d->def != 0;
            break;
        case PKEY_UINT:
            *(unsigned *)f = (unsigned)d->def;
            break;
        case PKEY_ROUTING:
            *(enum policy_routing *)f = (enum policy_routing)d->def;
            break;
        case PKEY_VERIFICATION:
            *(enum policy_verification *)f = (enum policy_verification)d->def;
            break;
        case PKEY_FQDN:
            *(const char **)f = NULL;
            break;
        }
    }
    p->m_internal = strmap_new(true);
    p->m_allowed = strmap_new(true);
    p->m_blocked = strmap_new(true);
    p->m_edge = strmap_new(true);
    p->m_prov_fqdn = strmap_new(true);
    p->m_prov_name = strmap_new(true);
    p->m_prov_domain = strmap_new(true);
    p->m_xmpp = strmap_new(true);
    p->m_ap = strmap_new(true);
    p->m_user = strmap_new(true);
    p->aps = calloc(1, sizeof *p->aps);
    char *global = strdup("global");
    if (!p->m_internal || !p->m_allowed || !p->m_blocked || !p->m_edge || !p->m_prov_fqdn ||
        !p->m_prov_name || !p->m_prov_domain || !p->m_xmpp || !p->m_ap || !p->m_user || !p->aps ||
        !global) {
        free(global);
        policy_free(p);
        return NULL;
    }
    p->cap_aps = 1;
    p->n_aps = 1;
    p->aps[0] = (struct external_access_policy){.name = global}; /* Lync: all false */
    if (strmap_put(p->m_ap, SLICE_LIT("global"), IDX_PUT(0), NULL) < 0) {
        policy_free(p);
        return NULL;
    }
    return p;
}

const struct policy *policy_ref(const struct policy *p)
{
    ((struct policy *)p)->refs++;
    return p;
}

void policy_free(const struct policy *cp)
{
    struct policy *p = (struct policy *)cp;
    if (!p || --p->refs > 0)
        return;
    free((void *)p->s.default_route_fqdn);
    for (size_t i = 0; i < p->n_internal; i++)
        free((void *)p->internal[i]);
    free(p->internal);
    for (size_t i = 0; i < p->n_allowed; i++) {
        free((void *)p->allowed[i].domain);
        free((void *)p->allowed[i].edge_fqdn);
        free((void *)p->allowed[i].comment);
    }
    free(p->allowed);
    for (size_t i = 0; i < p->n_blocked; i++) {
        free((void *)p->blocked[i].domain);
        free((void *)p->blocked[i].comment);
    }
    free(p->blocked);
    for (size_t i = 0; i < p->n_providers; i++) {
        struct policy_provider *v = &p->providers[i];
        free((void *)v->name);
        free((void *)v->fqdn);
        for (size_t j = 0; j < v->n_domains; j++)
            free((void *)v->domains[j]);
        free((void *)v->domains);
    }
    free(p->providers);
    for (size_t i = 0; i < p->n_xmpp; i++) {
        free((void *)p->xmpp[i].domain);
        free((void *)p->xmpp[i].edge_fqdn);
        free((void *)p->xmpp[i].comment);
    }
    free(p->xmpp);
    for (size_t i = 0; i < p->n_aps; i++)
        free((void *)p->aps[i].name);
    free(p->aps);
    for (size_t i = 0; i < p->n_users; i++) {
        free((void *)p->users[i].user);
        free((void *)p->users[i].policy);
    }
    free(p->users);
    strmap_free(p->m_internal);
    strmap_free(p->m_allowed);
    strmap_free(p->m_blocked);
    strmap_free(p->m_edge);
    strmap_free(p->m_prov_fqdn);
    strmap_free(p->m_prov_name);
    strmap_free(p->m_prov_domain);
    strmap_free(p->m_xmpp);
    strmap_free(p->m_ap);
    strmap_free(p->m_user);
    free(p);
}

uint64_t policy_version(const struct policy *p)
{
    return p->version;
}
void policy_set_version(struct policy *p, uint64_t version)
{
    p->version = version;
}
struct access_edge_settings *policy_settings_mut(struct policy *p)
{
    return &p->s;
}
const struct access_edge_settings *policy_settings(const struct policy *p)
{
    return &p->s;
}

int policy_set_default_route_fqdn(struct policy *p, const char *fqdn, char *err, size_t errlen)
{
    char *d = NULL;
    if (fqdn && *fqdn) {
        if (check_fqdn("default route", fqdn, err, errlen) < 0)
            return -1;
        if (!(d = dup_name(slice_cstr(fqdn))))
            return OOM(err, errlen);
    }
    free((void *)p->s.default_route_fqdn);
    p->s.default_route_fqdn = d;
    return 0;
}

int policy_add_internal_domain(struct policy *p, const char *domain, char *err, size_t errlen)
{
    if (!domain || !policy_domain_valid(slice_cstr(domain)))
        return seterr(err, errlen, "'%s' is not a valid domain name", domain ? domain : "");
    if (in_map(p->m_internal, slice_cstr(domain)))
        return seterr(err, errlen, "%s is listed twice", domain);
    if (check_domain(p, domain, err, errlen) < 0)
        return -1;
    void *grown = room_for(p->internal, &p->cap_internal, p->n_internal, sizeof *p->internal);
    if (!grown)
        return OOM(err, errlen);
    p->internal = grown;
    char *d = dup_name(slice_cstr(domain));
    if (!d)
        return OOM(err, errlen);
    p->internal[p->n_internal] = d;
    if (strmap_put(p->m_internal, slice_cstr(d), IDX_PUT(p->n_internal), NULL) < 0) {
        free(d);
        return OOM(err, errlen);
    }
    p->n_internal++;
    return 0;
}

int policy_add_allowed_domain(struct policy *p, const char *domain, const char *edge_fqdn,
                              const char *comment, char *err, size_t errlen)
{
    if (!domain)
        return seterr(err, errlen, "no domain"), POLICY_BAD_KEY;
    if (check_domain(p, domain, err, errlen) < 0)
        return -1;
    if (edge_fqdn && !*edge_fqdn)
        edge_fqdn = NULL;
    if (edge_fqdn) {
        if (check_fqdn("edge", edge_fqdn, err, errlen) < 0)
            return POLICY_BAD_FQDN;
        void *v = strmap_get(p->m_prov_fqdn, strip_dot(slice_cstr(edge_fqdn)));
        if (v)
            return seterr(err, errlen,
                          "%s is provider %s's edge; an FQDN is a partner server or a provider, "
                          "not both",
                          edge_fqdn, p->providers[IDX_GET(v)].name),
                   POLICY_BAD_FQDN;
    }
    void *grown = room_for(p->allowed, &p->cap_allowed, p->n_allowed, sizeof *p->allowed);
    if (!grown)
        return OOM(err, errlen);
    p->allowed = grown;
    struct policy_allowed_domain a = {
        .domain = dup_name(slice_cstr(domain)),
        .edge_fqdn = edge_fqdn ? dup_name(slice_cstr(edge_fqdn)) : NULL,
        .comment = dup_opt(comment),
    };
    if (!a.domain || (edge_fqdn && !a.edge_fqdn) || (comment && !a.comment)) {
        free((void *)a.domain);
        free((void *)a.edge_fqdn);
        free((void *)a.comment);
        return OOM(err, errlen);
    }
    size_t i = p->n_allowed++;
    p->allowed[i] = a;
    if (strmap_put(p->m_allowed, slice_cstr(a.domain), IDX_PUT(i), NULL) < 0)
        return OOM(err, errlen);
    if (a.edge_fqdn && !strmap_get(p->m_edge, slice_cstr(a.edge_fqdn)) &&
        strmap_put(p->m_edge, slice_cstr(a.edge_fqdn), IDX_PUT(i), NULL) < 0)
        return OOM(err, errlen);
    return 0;
}

int policy_add_blocked_domain(struct policy *p, const char *domain, const char *comment, char *err,
                              size_t errlen)
{
    if (!domain)
        return seterr(err, errlen, "no domain");
    if (check_domain(p, domain, err, errlen) < 0)
        return -1;
    if (in_map(p->m_xmpp, slice_cstr(domain)))
        return seterr(err, errlen, "%s is an XMPP partner", domain);
    void *grown = room_for(p->blocked, &p->cap_blocked, p->n_blocked, sizeof *p->blocked);
    if (!grown)
        return OOM(err, errlen);
    p->blocked = grown;
    struct policy_blocked_domain b = {dup_name(slice_cstr(domain)), dup_opt(comment)};
    if (!b.domain || (comment && !b.comment)) {
        free((void *)b.domain);
        free((void *)b.comment);
        return OOM(err, errlen);
    }
    size_t i = p->n_blocked++;
    p->blocked[i] = b;
    if (strmap_put(p->m_blocked, slice_cstr(b.domain), IDX_PUT(i), NULL) < 0)
        return OOM(err, errlen);
    return 0;
}

int policy_add_provider(struct policy *p, const struct policy_provider *prov, char *err,
                        size_t errlen)
{
    if (!prov->name || !*prov->name)
        return seterr(err, errlen, "a provider needs a name");
    if (strmap_get(p->m_prov_name, slice_cstr(prov->name)))
        return seterr(err, errlen, "provider %s is defined twice", prov->name);
    if (!prov->fqdn)
        return seterr(err, errlen, "provider %s needs an fqdn", prov->name), POLICY_BAD_FQDN;
    if (check_fqdn("provider edge", prov->fqdn, err, errlen) < 0)
        return POLICY_BAD_FQDN;
    struct slice f = strip_dot(slice_cstr(prov->fqdn));
    void *v = strmap_get(p->m_prov_fqdn, f);
    if (v)
        return seterr(err, errlen, "%s is already provider %s's edge", prov->fqdn,
                      p->providers[IDX_GET(v)].name),
               POLICY_BAD_FQDN;
    if ((v = strmap_get(p->m_edge, f)))
        return seterr(err, errlen,
                      "%s is the edge of allowed partner server %s; an FQDN is a partner server "
                      "or a provider, not both",
                      prov->fqdn, p->allowed[IDX_GET(v)].domain),
               POLICY_BAD_FQDN;
    if ((unsigned)prov->type > PROVIDER_PUBLIC ||
        (unsigned)prov->verification > VERIF_ALWAYS_UNVERIFIABLE)
        return seterr(err, errlen, "provider %s: bad type or verification level", prov->name),
               POLICY_BAD_ATTR;
    for (size_t j = 0; j < prov->n_domains; j++) {
        if (check_domain(p, prov->domains[j], err, errlen) < 0)
            return POLICY_BAD_LIST - (int)j;
        for (size_t k = 0; k < j; k++)
            if (strcasecmp(prov->domains[k], prov->domains[j]) == 0)
                return seterr(err, errlen, "%s is listed twice", prov->domains[j]),
                       POLICY_BAD_LIST - (int)j;
    }
    void *grown = room_for(p->providers, &p->cap_providers, p->n_providers, sizeof *p->providers);
    if (!grown)
        return OOM(err, errlen);
    p->providers = grown;
    struct policy_provider c = *prov;
    c.is_public = prov->type == PROVIDER_PUBLIC;
    const char **doms = prov->n_domains ? calloc(prov->n_domains, sizeof *doms) : NULL;
    c.name = strdup(prov->name);
    c.fqdn = dup_name(f);
    c.domains = doms;
    c.n_domains = 0;
    size_t i = p->n_providers++;
    p->providers[i] = c; /* owned from here on: policy_free releases what was copied */
    if (!c.name || !c.fqdn || (prov->n_domains && !doms))
        return OOM(err, errlen);
    for (size_t j = 0; j < prov->n_domains; j++) {
        if (!(doms[j] = dup_name(slice_cstr(prov->domains[j]))))
            return OOM(err, errlen);
        p->providers[i].n_domains++;
        if (strmap_put(p->m_prov_domain, slice_cstr(doms[j]), IDX_PUT(i), NULL) < 0)
            return OOM(err, errlen);
    }
    if (strmap_put(p->m_prov_name, slice_cstr(c.name), IDX_PUT(i), NULL) < 0 ||
        strmap_put(p->m_prov_fqdn, slice_cstr(c.fqdn), IDX_PUT(i), NULL) < 0)
        return OOM(err, errlen);
    return 0;
}

int policy_add_xmpp_partner(struct policy *p, const struct policy_xmpp_partner *x, char *err,
                            size_t errlen)
{
    if (!x->domain || !policy_domain_valid(slice_cstr(x->domain)))
        return seterr(err, errlen, "'%s' is not a valid domain name", x->domain ? x->domain : "");
    struct slice d = strip_dot(slice_cstr(x->domain));
    if (in_map(p->m_xmpp, d))
        return seterr(err, errlen, "XMPP partner %s is listed twice", x->domain);
    if (in_map(p->m_internal, d))
        return seterr(err, errlen, "%s is one of our internal domains", x->domain);
    if (in_map(p->m_blocked, d))
        return seterr(err, errlen, "%s is blocked", x->domain);
    const char *edge = x->edge_fqdn && *x->edge_fqdn ? x->edge_fqdn : NULL;
    if (edge && check_fqdn("edge", edge, err, errlen) < 0)
        return POLICY_BAD_FQDN;
    if ((unsigned)x->type > XMPP_PUBLIC_UNVERIFIED || (unsigned)x->tls > XMPP_NEG_NOT_SUPPORTED ||
        (unsigned)x->sasl > XMPP_NEG_NOT_SUPPORTED ||
        (unsigned)x->dialback > XMPP_NEG_NOT_SUPPORTED)
        return seterr(err, errlen, "XMPP partner %s: bad type or negotiation", x->domain),
               POLICY_BAD_ATTR;
    void *grown = room_for(p->xmpp, &p->cap_xmpp, p->n_xmpp, sizeof *p->xmpp);
    if (!grown)
        return OOM(err, errlen);
    p->xmpp = grown;
    struct policy_xmpp_partner c = *x;
    c.domain = dup_name(d);
    c.edge_fqdn = edge ? dup_name(slice_cstr(edge)) : NULL;
    c.comment = dup_opt(x->comment);
    size_t i = p->n_xmpp++;
    p->xmpp[i] = c;
    if (!c.domain || (edge && !c.edge_fqdn) || (x->comment && !c.comment))
        return OOM(err, errlen);
    if (strmap_put(p->m_xmpp, slice_cstr(c.domain), IDX_PUT(i), NULL) < 0)
        return OOM(err, errlen);
    return 0;
}

int policy_add_access_policy(struct policy *p, const struct external_access_policy *ap, char *err,
                             size_t errlen)
{
    if (!ap->name || !*ap->name)
        return seterr(err, errlen, "an external access policy needs a name");
    for (const char *c = ap->name; *c; c++)
        if ((unsigned char)*c <= ' ')
            return seterr(err, errlen, "policy name '%s' contains blanks", ap->name);
    if (strcasecmp(ap->name, "global") == 0) {
        if (p->global_set)
            return seterr(err, errlen, "the global policy is defined twice");
        const char *keep = p->aps[0].name;
        p->aps[0] = *ap;
        p->aps[0].name = keep;
        p->global_set = true;
        return 0;
    }
    if (strmap_get(p->m_ap, slice_cstr(ap->name)))
        return seterr(err, errlen, "policy %s is defined twice", ap->name);
    void *grown = room_for(p->aps, &p->cap_aps, p->n_aps, sizeof *p->aps);
    if (!grown)
        return OOM(err, errlen);
    p->aps = grown;
    struct external_access_policy c = *ap;
    if (!(c.name = strdup(ap->name)))
        return OOM(err, errlen);
    size_t i = p->n_aps++;
    p->aps[i] = c;
    if (strmap_put(p->m_ap, slice_cstr(c.name), IDX_PUT(i), NULL) < 0)
        return OOM(err, errlen);
    return 0;
}

int policy_assign_user(struct policy *p, const char *user, const char *policy_name, char *err,
                       size_t errlen)
{
    struct slice u = user_norm(slice_cstr(user)), dom;
    if (!user_valid(u, &dom))
        return seterr(err, errlen, "'%s' is not a user@domain address", user ? user : "");
    if (!in_map(p->m_internal, dom))
        return seterr(err, errlen, "%.*s is not one of our internal domains", SLICE_FMT(dom));
    if (strmap_get(p->m_user, u))
        return seterr(err, errlen, "%.*s is assigned twice", SLICE_FMT(u));
    void *v = policy_name ? strmap_get(p->m_ap, slice_cstr(policy_name)) : NULL;
    if (!v)
        return seterr(err, errlen, "no external access policy named '%s'",
                      policy_name ? policy_name : ""),
               POLICY_BAD_REF;
    void *grown = room_for(p->users, &p->cap_users, p->n_users, sizeof *p->users);
    if (!grown)
        return OOM(err, errlen);
    p->users = grown;
    struct policy_user_assignment a = {dup_name(u), strdup(p->aps[IDX_GET(v)].name)};
    if (!a.user || !a.policy) {
        free((void *)a.user);
        free((void *)a.policy);
        return OOM(err, errlen);
    }
    p->users[p->n_users++] = a;
    if (strmap_put(p->m_user, slice_cstr(a.user), v, NULL) < 0)
        return OOM(err, errlen);
    return 0;
}

int policy_validate(const struct policy *p, char *err, size_t errlen)
{
    const struct access_edge_settings *s = &p->s;
    for (size_t i = 0; i < sizeof setting_defs / sizeof setting_defs[0]; i++) {
        const struct policy_setting_def *d = &setting_defs[i];
        const char *f = (const char *)s + d->offset;
        if (d->type == PKEY_UINT) {
            unsigned v = *(const unsigned *)f;
            if ((long)v < d->min || (long)v > d->max)
                return seterr(err, errlen, "%s is %u, must be %ld..%ld", d->name, v, d->min,
                              d->max);
        }
        if (d->type == PKEY_VERIFICATION &&
            (unsigned)*(const enum policy_verification *)f > VERIF_ALWAYS_UNVERIFIABLE)
            return seterr(err, errlen, "%s: unknown verification level", d->name);
        if (d->type == PKEY_ROUTING &&
            (unsigned)*(const enum policy_routing *)f > ROUTING_DEFAULT_ROUTE)
            return seterr(err, errlen, "%s: unknown routing method", d->name);
    }
    if (s->routing_method == ROUTING_DEFAULT_ROUTE) {
        if (!s->default_route_fqdn)
            return seterr(err, errlen, "routing_method default_route needs default_route_fqdn");
        if (p->n_providers)
            return seterr(err, errlen,
                          "routing_method default_route cannot be used with providers "
                          "(Lync: remove hosting and public providers first)");
        if (s->enable_partner_discovery)
            return seterr(err, errlen, "enable_partner_discovery needs routing_method dns_srv");
    }
    return 0;
}

/* ---- decisions ---- */

bool policy_is_internal_domain(const struct policy *p, struct slice domain)
{
    return in_map(p->m_internal, domain);
}

static void refuse(struct fed_decision *out, enum fed_class cls, int status, const char *reason)
{
    *out = (struct fed_decision){.cls = cls,
                                 .verification = VERIF_ALWAYS_UNVERIFIABLE,
                                 .sip_status = status,
                                 .reason = reason};
}

static void set_provider(const struct policy *p, const struct policy_provider *v,
                         struct fed_decision *out)
{
    *out = (struct fed_decision){
        .cls = FED_PROVIDER,
        .edge_fqdn = v->fqdn,
        .provider = v,
        .verification = v->verification,
        .next_hop =
            p->s.routing_method == ROUTING_DEFAULT_ROUTE ? p->s.default_route_fqdn : v->fqdn,
        .reason = v->type == PROVIDER_PUBLIC ? "public IM provider" : "hosting provider"};
}

/* policy_classify; *unlisted tells "not listed anywhere, discovery off" from
 * the other refusals (a provider's edge may still speak for such a domain). */
static void classify(const struct policy *p, struct slice domain, struct fed_decision *out,
                     bool *unlisted)
{
    struct slice d = strip_dot(domain);
    const struct access_edge_settings *s = &p->s;
    bool by_default_route = s->routing_method == ROUTING_DEFAULT_ROUTE;
    void *v;

    *unlisted = false;
    if (!policy_domain_valid(d))
        return refuse(out, FED_DENIED, 403, "Invalid domain");
    if (strmap_get(p->m_blocked, d))
        return refuse(out, FED_BLOCKED, 403, "Domain is blocked");
    if (strmap_get(p->m_internal, d)) {
        *out = (struct fed_decision){.cls = FED_INTERNAL,
                                     .verification = VERIF_ALWAYS_VERIFIABLE,
                                     .reason = "Internal domain"};
        return;
    }
    if (!s->allow_federated_users)
        return refuse(out, FED_DENIED, 403, "Federation is disabled");
    if ((v = strmap_get(p->m_allowed, d))) {
        const struct policy_allowed_domain *a = &p->allowed[IDX_GET(v)];
        *out = (struct fed_decision){
            .cls = a->edge_fqdn ? FED_PARTNER_SERVER : FED_PARTNER_DOMAIN,
            .edge_fqdn = a->edge_fqdn,
            .verification = VERIF_ALWAYS_VERIFIABLE,
            .next_hop = by_default_route ? s->default_route_fqdn : a->edge_fqdn,
            .reason = a->edge_fqdn ? "Allowed partner server" : "Allowed partner domain"};
        out->need_srv = out->next_hop == NULL;
        return;
    }
    if ((v = strmap_get(p->m_prov_domain, d))) {
        const struct policy_provider *pv = &p->providers[IDX_GET(v)];
        if (!pv->enabled)
            return refuse(out, FED_DENIED, 403, "Provider is disabled");
        return set_provider(p, pv, out);
    }
    if (s->enable_partner_discovery) {
        *out = (struct fed_decision){.cls = FED_DISCOVERED,
                                     .verification = s->discovered_partner_verification_level,
                                     .next_hop = by_default_route ? s->default_route_fqdn : NULL,
                                     .throttle = true,
                                     .reason = "Discovered partner"};
        out->need_srv = out->next_hop == NULL;
        return;
    }
    *unlisted = true;
    refuse(out, FED_DENIED, 403, "Domain is not allowed");
}

void policy_classify(const struct policy *p, struct slice domain, struct fed_decision *out)
{
    bool unlisted;
    classify(p, domain, out, &unlisted);
}

/* Any provider, enabled or not, whose edge is one of names. */
static const struct policy_provider *provider_named(const struct policy *p,
                                                    const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        void *v = strmap_get(p->m_prov_fqdn, strip_dot(slice_cstr(names[i])));
        if (v)
            return &p->providers[IDX_GET(v)];
    }
    return NULL;
}

const struct policy_provider *policy_provider_by_names(const struct policy *p,
                                                       const char *const *names, size_t n)
{
    const struct policy_provider *v = provider_named(p, names, n);
    return v && v->enabled ? v : NULL;
}

const struct policy_allowed_domain *policy_partner_by_names(const struct policy *p,
                                                            const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        void *v = strmap_get(p->m_edge, strip_dot(slice_cstr(names[i])));
        if (v)
            return &p->allowed[IDX_GET(v)];
    }
    return NULL;
}

static void check_user(const struct policy *p, struct slice user, struct fed_decision *d);

void policy_check_inbound(const struct policy *p, const char *const *names, size_t n,
                          struct slice from_domain, struct slice to_user, struct fed_decision *out)
{
    const struct access_edge_settings *s = &p->s;
    bool unlisted;
    classify(p, from_domain, out, &unlisted);
    if (out->cls == FED_INTERNAL)
        return refuse(out, FED_INTERNAL, 403, "From domain is ours");
    if (out->sip_status && !unlisted)
        return; /* blocked, invalid, federation off, provider disabled */

    if (out->cls == FED_PARTNER_SERVER && policy_name_in(names, n, out->edge_fqdn))
        return check_user(p, to_user, out);
    if (out->cls == FED_PROVIDER) {
        if (!policy_name_in(names, n, out->edge_fqdn))
            return refuse(out, FED_PROVIDER, 403, "Certificate does not match the provider's edge");
        return check_user(p, to_user, out);
    }
    if (s->routing_method == ROUTING_DEFAULT_ROUTE) {
        /* Everything arrives over the default route (no providers there). */
        if (unlisted)
            return;
        if (!policy_name_in(names, n, s->default_route_fqdn))
            return refuse(out, out->cls, 403, "Certificate does not match the default route");
        out->edge_fqdn = s->default_route_fqdn;
        out->verification = s->default_route_verification_level;
        out->need_srv = false;
        return check_user(p, to_user, out);
    }
    if (out->cls == FED_PARTNER_SERVER)
        return refuse(out, FED_PARTNER_SERVER, 403,
                      "Certificate does not match the partner's edge");

    /* Discovered or unlisted: a provider's edge may speak for it. An allowed
     * partner domain is the partner's own: a provider speaks for it only when
     * the domain's SRV record delegates to the provider (need_srv below, then
     * policy_apply_srv_target), never on the provider's word alone. */
    const struct policy_provider *pv = provider_named(p, names, n);
    if (pv && out->cls != FED_PARTNER_DOMAIN) {
        if (!pv->enabled)
            return refuse(out, FED_PROVIDER, 403, "Provider is disabled");
        if (pv->n_domains)
            return refuse(out, FED_PROVIDER, 403, "Domain is not served by this provider");
        set_provider(p, pv, out);
        return check_user(p, to_user, out);
    }
    if (unlisted)
        return;
    out->need_srv = true; /* the caller matches names against the SRV targets */
    check_user(p, to_user, out);
}

bool policy_user_allows(const struct policy *p, struct slice user, enum fed_class cls,
                        bool provider_is_public, bool xmpp)
{
    const struct external_access_policy *ap = policy_user_policy(p, user);
    if (xmpp)
        return ap->enable_xmpp_access;
    switch (cls) {
    case FED_INTERNAL:
        return true;
    case FED_PARTNER_SERVER:
    case FED_PARTNER_DOMAIN:
    case FED_DISCOVERED:
        return ap->enable_federation_access;
    case FED_PROVIDER:
        return provider_is_public ? ap->enable_public_cloud_access : ap->enable_federation_access;
    case FED_DENIED:
    case FED_BLOCKED:
        break;
    }
    return false;
}

static void check_user(const struct policy *p, struct slice user, struct fed_decision *d)
{
    if (d->sip_status || d->cls == FED_INTERNAL || slice_empty(user))
        return;
    bool pub = d->provider && d->provider->is_public;
    if (!policy_user_allows(p, user, d->cls, pub, false))
        refuse(d, d->cls, 403,
               pub ? "Public IM is not allowed for this user"
                   : "Federation is not allowed for this user");
}

void policy_check_outbound(const struct policy *p, struct slice from_user, struct slice to_domain,
                           struct fed_decision *out)
{
    policy_classify(p, to_domain, out);
    check_user(p, from_user, out);
}

void policy_apply_srv_target(const struct policy *p, const char *target, struct slice from_user,
                             struct fed_decision *d)
{
    if (d->sip_status)
        return;
    const char *names[1] = {target};
    const struct policy_provider *pv = provider_named(p, names, 1);
    if (!pv)
        return;
    if (!pv->enabled)
        return refuse(d, FED_PROVIDER, 403, "Provider is disabled");
    set_provider(p, pv, d);
    check_user(p, from_user, d);
}

const struct external_access_policy *policy_user_policy(const struct policy *p, struct slice user)
{
    void *v = strmap_get(p->m_user, user_norm(user));
    return &p->aps[v ? IDX_GET(v) : 0];
}

const struct policy_xmpp_partner *policy_xmpp_partner(const struct policy *p, struct slice domain)
{
    void *v = strmap_get(p->m_xmpp, strip_dot(domain));
    return v ? &p->xmpp[IDX_GET(v)] : NULL;
}

const struct external_access_policy *policy_access_policy(const struct policy *p, struct slice name)
{
    void *v = strmap_get(p->m_ap, name);
    return v ? &p->aps[IDX_GET(v)] : NULL;
}

/* ---- listing ---- */

size_t policy_internal_domains(const struct policy *p, const char *const **out)
{
    *out = p->internal;
    return p->n_internal;
}
size_t policy_allowed_domains(const struct policy *p, const struct policy_allowed_domain **out)
{
    *out = p->allowed;
    return p->n_allowed;
}
size_t policy_blocked_domains(const struct policy *p, const struct policy_blocked_domain **out)
{
    *out = p->blocked;
    return p->n_blocked;
}
size_t policy_providers(const struct policy *p, const struct policy_provider **out)
{
    *out = p->providers;
    return p->n_providers;
}
size_t policy_xmpp_partners(const struct policy *p, const struct policy_xmpp_partner **out)
{
    *out = p->xmpp;
    return p->n_xmpp;
}
size_t policy_access_policies(const struct policy *p, const struct external_access_policy **out)
{
    *out = p->aps;
    return p->n_aps;
}
size_t policy_user_assignments(const struct policy *p, const struct policy_user_assignment **out)
{
    *out = p->users;
    return p->n_users;
}
