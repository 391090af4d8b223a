/* policy-t.h -- federation policy types: access-edge settings, the domain
 * lists, providers, XMPP partners, external access policies, and the decision
 * the proxy acts on. Types only (no functions): any file may include it.
 *
 * Names are Lync Server 2013's in snake_case (AllowFederatedUsers ->
 * allow_federated_users); see DESIGN.md for the model. Every string in these
 * structs is owned by the struct policy that holds it. */
#ifndef EP_FEDERATION_POLICY_T_H
#define EP_FEDERATION_POLICY_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_DOMAIN_MAX 253 /* RFC 1035 presentation length, no trailing dot */
#define POLICY_LABEL_MAX 63

/* RoutingMethod: UseDnsSrvRouting / UseDefaultRouting. */
enum policy_routing {
    ROUTING_DNS_SRV = 0,   /* "dns_srv": partners found by SRV (Lync default) */
    ROUTING_DEFAULT_ROUTE, /* "default_route": everything goes to default_route_fqdn */
};

/* Lync's VerificationLevelType: how far From identities arriving from a
 * provider, a discovered partner or the default route are trusted. */
enum policy_verification {
    VERIF_USE_SOURCE = 0,      /* "use_source_verification": the sender's own marking;
                                   no marking = unverified */
    VERIF_ALWAYS_VERIFIABLE,   /* "always_verifiable": everything marked verified */
    VERIF_ALWAYS_UNVERIFIABLE, /* "always_unverifiable": delivered only if the recipient
                                   has the sender on an allow list (contacts) */
};

enum provider_type {
    PROVIDER_HOSTING = 0, /* "hosting": hosts other organisations' users (e.g. Lync Online) */
    PROVIDER_PUBLIC,      /* "public": public IM service (Skype/MSN, AOL, Yahoo!) */
};

enum xmpp_partner_type {
    XMPP_FEDERATED = 0,     /* "federated" */
    XMPP_PUBLIC_VERIFIED,   /* "public_verified" */
    XMPP_PUBLIC_UNVERIFIED, /* "public_unverified" */
};

/* Whether a stream feature (TLS, SASL, dialback) is demanded of a partner. */
enum xmpp_negotiation {
    XMPP_NEG_REQUIRED = 0, /* "required" */
    XMPP_NEG_OPTIONAL,     /* "optional" */
    XMPP_NEG_NOT_SUPPORTED /* "not_supported" */
};

/* Get-CsAccessEdgeConfiguration, Lync's property and default beside each
 * field; policy_new() applies the defaults from the settings table. */
struct access_edge_settings {
    bool allow_federated_users;         /* AllowFederatedUsers, false: federation and public IM */
    bool enable_partner_discovery;      /* EnablePartnerDiscovery, false: unlisted domains */
    bool allow_outside_users;           /* AllowOutsideUsers, true: remote users (not here) */
    enum policy_routing routing_method; /* RoutingMethod, dns_srv */
    const char *default_route_fqdn;     /* DefaultRouteFqdn, NULL; needed by default_route */
    /* VerificationLevel (default routing only), use_source_verification */
    enum policy_verification default_route_verification_level;
    bool mark_source_verifiable;               /* MarkSourceVerifiableOnOutgoingMessages, true */
    bool keep_crls_up_to_date;                 /* KeepCrlsUpToDateForPeers, true */
    unsigned outgoing_tls_count;               /* OutgoingTlsCountForFederatedPartners, 4 */
    unsigned discovered_partner_standard_rate; /* DiscoveredPartnerStandardRate, 20 msg/s */
    /* EnableDiscoveredPartnerContactsLimit, true; MaxContactsPerDiscoveredPartner, 1000 */
    bool enable_discovered_partner_contacts_limit;
    unsigned max_contacts_per_discovered_partner;
    /* DiscoveredPartnerReportPeriodMinutes, 60 */
    unsigned discovered_partner_report_period_minutes;
    /* DiscoveredPartnerVerificationLevel, use_source_verification */
    enum policy_verification discovered_partner_verification_level;
    bool enable_xmpp; /* edgepool: XMPP federation at all, false */
};

/* New-CsAllowedDomain. edge_fqdn set: an allowed partner server (direct
 * federation, the certificate must name it); NULL: an allowed partner domain
 * whose edge is found by SRV. */
struct policy_allowed_domain {
    const char *domain;    /* lower case, no trailing dot */
    const char *edge_fqdn; /* Lync's ProxyFqdn, or NULL */
    const char *comment;   /* or NULL */
};

/* New-CsBlockedDomain. */
struct policy_blocked_domain {
    const char *domain;
    const char *comment; /* or NULL */
};

/* New-CsHostingProvider / New-CsPublicProvider. A provider is recognised by its
 * edge's certificate (fqdn). domains, when listed, are the only From domains
 * that edge may speak for, and are routed to it; with none listed it may speak
 * for any domain that is neither blocked, ours, nor another partner server's. */
struct policy_provider {
    const char *name; /* Lync's Identity, unique */
    const char *fqdn; /* ProxyFqdn: the provider's edge */
    enum provider_type type;
    bool is_public; /* type == PROVIDER_PUBLIC; set by policy_add_provider from type */
    /* config "verification_level", default use_source_verification */
    enum policy_verification verification;
    bool enabled;               /* default true */
    const char *const *domains; /* n_domains entries, may be 0 */
    size_t n_domains;
};

/* New-CsXmppAllowedPartner (used by the XMPP gateway; modelled now). */
struct policy_xmpp_partner {
    const char *domain;
    const char *edge_fqdn;       /* connect here instead of resolving _xmpp-server SRV; or NULL */
    enum xmpp_partner_type type; /* default federated */
    enum xmpp_negotiation tls;   /* default required */
    enum xmpp_negotiation sasl;  /* default optional */
    enum xmpp_negotiation dialback; /* default optional */
    const char *comment;
};

/* New-CsExternalAccessPolicy: what one internal user may do outside. The
 * "global" policy applies to every user without an assignment; Lync's global
 * defaults are all false. */
struct external_access_policy {
    const char *name;
    bool enable_federation_access;   /* partners (listed, discovered) and hosting providers */
    bool enable_public_cloud_access; /* public IM providers */
    bool enable_xmpp_access;         /* XMPP partners */
    bool enable_outside_access;      /* remote access from outside (not handled here) */
};

/* One per-user assignment (Grant-CsExternalAccessPolicy). */
struct policy_user_assignment {
    const char *user;   /* "alice@contoso.test", lower case */
    const char *policy; /* an external_access_policy name */
};

/* What a remote domain is to us. */
enum fed_class {
    FED_DENIED = 0,     /* federation off, not allowed and discovery off, invalid name */
    FED_BLOCKED,        /* on the blocked list: never */
    FED_PARTNER_SERVER, /* allowed, edge FQDN configured (direct federation) */
    FED_PARTNER_DOMAIN, /* allowed, edge found by SRV (enhanced federation) */
    FED_DISCOVERED,     /* not listed, discovery on (open federation, throttled) */
    FED_PROVIDER,       /* a hosting or public provider's domain or edge */
    FED_INTERNAL,       /* one of our own domains */
};

/* A policy decision. Pointers borrow from the policy it was made with and
 * stay valid as long as that policy (see policy_ref()). */
struct fed_decision {
    enum fed_class cls;
    const char *edge_fqdn;                  /* partner server's or provider's edge, else NULL */
    const struct policy_provider *provider; /* FED_PROVIDER, else NULL */
    /* How far the remote From is trusted: listed partners always_verifiable,
     * providers, discovered partners and the default route their level;
     * internal always_verifiable; refused always_unverifiable. */
    enum policy_verification verification;
    /* Where requests to this domain go: edge_fqdn, or default_route_fqdn when
     * routing by default route; NULL = resolve SRV (need_srv). */
    const char *next_hop;
    /* The partner's edge is known only from SRV _sipfederationtls._tcp.<domain>:
     * outbound, connect to a target; inbound, a peer certificate name must
     * equal a target. */
    bool need_srv;
    bool throttle;      /* a discovered partner: pass its requests through the throttle */
    int sip_status;     /* 0 = allowed; else the refusal (403) */
    const char *reason; /* short phrase for the SIP reason and the log line; static */
};

/* Which input a policy builder call refused (its negative return value). */
enum policy_bad {
    POLICY_BAD_KEY = -1,  /* the entry itself: domain, name, user (or out of memory) */
    POLICY_BAD_FQDN = -2, /* its edge FQDN */
    POLICY_BAD_REF = -3,  /* a name it refers to (an unknown external access policy) */
    POLICY_BAD_ATTR = -4, /* an enumerated attribute (type, level, negotiation) */
    POLICY_BAD_LIST = -5, /* POLICY_BAD_LIST - i: the i-th of its listed domains */
};

/* One access-edge setting: the table both the loader and the reference use. */
enum policy_key_type {
    PKEY_BOOL,
    PKEY_UINT,
    PKEY_ROUTING,
    PKEY_VERIFICATION,
    PKEY_FQDN, /* a domain name string; NULL by default */
};

struct policy_setting_def {
    const char *name;      /* our key in the access_edge group */
    const char *lync_name; /* Lync's property, or NULL (edgepool's own) */
    enum policy_key_type type;
    size_t offset; /* into struct access_edge_settings */
    long def;      /* default (bool, uint, enum value); unused for PKEY_FQDN */
    long min, max; /* PKEY_UINT range */
    const char *doc;
};

#endif
