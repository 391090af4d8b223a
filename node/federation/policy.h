/* policy.h -- the federation policy: who we federate with, how far we trust
 * them, and what each internal user may do outside.
 *
 * A struct policy is built once (policy_new, then the builder calls or
 * policy_load_config), published with a version, and never changed after:
 * every decision function below is pure (no I/O, no allocation, no clock) and
 * may be called with any published policy. Policies are reference counted so
 * a transaction waiting on DNS can keep the policy its decision borrows from
 * while a reload publishes a new one. Single-threaded, like the rest of the
 * node. The store (end of file) is what the proxy holds. */
#ifndef EP_FEDERATION_POLICY_H
#define EP_FEDERATION_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libconfig.h>

#include "federation/policy-t.h"
#include "slice.h"

struct policy;

/* ---- life cycle ---- */

/* An empty policy with Lync 2013's defaults (federation off), the "global"
 * external access policy (all false), version 0, one reference. NULL on
 * allocation failure. */
struct policy *policy_new(void);
/* Take another reference; returns p. */
const struct policy *policy_ref(const struct policy *p);
/* Drop one reference; the last one frees p and everything it owns. NULL is a
 * no-op. Every pointer borrowed from p (decisions, entries) dies with it. */
void policy_free(const struct policy *p);
uint64_t policy_version(const struct policy *p);

/* ---- building (only before the policy is published) ----
 * Each returns 0, or a negative enum policy_bad saying which input was refused
 * (the entry's key, its FQDN, an attribute, the i-th listed domain...) with a
 * reason in err ("fabrikam.test is already blocked"); the caller adds where
 * the value came from. Names are checked and stored in lower case without a
 * trailing dot. Conflicts are refused whichever is added first, as Lync's
 * cmdlets refuse them: a domain is internal, allowed, blocked or a provider's,
 * once; an FQDN is a partner server's edge or a provider's, not both. */

void policy_set_version(struct policy *p, uint64_t version);
/* The settings to fill in; strings go through policy_set_default_route_fqdn. */
struct access_edge_settings *policy_settings_mut(struct policy *p);
int policy_set_default_route_fqdn(struct policy *p, const char *fqdn, char *err, size_t errlen);
int policy_add_internal_domain(struct policy *p, const char *domain, char *err, size_t errlen);
/* edge_fqdn NULL: allowed partner domain (SRV); set: allowed partner server.
 * comment may be NULL. */
int policy_add_allowed_domain(struct policy *p, const char *domain, const char *edge_fqdn,
                              const char *comment, char *err, size_t errlen);
int policy_add_blocked_domain(struct policy *p, const char *domain, const char *comment, char *err,
                              size_t errlen);
/* Copies *prov (strings and domains included). */
int policy_add_provider(struct policy *p, const struct policy_provider *prov, char *err,
                        size_t errlen);
int policy_add_xmpp_partner(struct policy *p, const struct policy_xmpp_partner *x, char *err,
                            size_t errlen);
/* Named "global" (case-insensitive): replaces the built-in global policy, once. */
int policy_add_access_policy(struct policy *p, const struct external_access_policy *ap, char *err,
                             size_t errlen);
/* user "alice@contoso.test" (a leading "sip:" is dropped); the named policy
 * must already have been added (or be "global"). */
int policy_assign_user(struct policy *p, const char *user, const char *policy_name, char *err,
                       size_t errlen);
/* Checks that need the whole policy: default_route needs default_route_fqdn
 * and excludes providers and partner discovery (Lync's rule); ranges. */
int policy_validate(const struct policy *p, char *err, size_t errlen);

/* ---- loading (policy_config.c) ---- */

/* Load the "policy" group of a libconfig file into p, which must be fresh from
 * policy_new(). group NULL = keep the defaults. 0, or -1 with err
 * "FILE:LINE: key: what is wrong" (FILE is "<string>" for config_read_string
 * input); after -1, p is half loaded: free it. The syntax is in
 * policy_config.c. */
int policy_load_config(struct policy *p, const config_setting_t *group, char *err, size_t errlen);
/* The embedded default's libconfig text (a "policy" group). */
const char *policy_embedded_config(void);
/* Print every access_edge key, its default and documentation (for --help /
 * the reference in the docs). */
void policy_print_reference(FILE *out);

/* ---- names and the settings table ---- */

/* The access_edge settings table: n entries; defaults live here only. */
const struct policy_setting_def *policy_setting_defs(size_t *n);
const char *policy_verification_name(enum policy_verification v);
int policy_verification_parse(const char *s); /* -1 if unknown */
const char *policy_routing_name(enum policy_routing r);
int policy_routing_parse(const char *s);
const char *provider_type_name(enum provider_type t);
int provider_type_parse(const char *s);
const char *xmpp_partner_type_name(enum xmpp_partner_type t);
int xmpp_partner_type_parse(const char *s);
const char *xmpp_negotiation_name(enum xmpp_negotiation n);
int xmpp_negotiation_parse(const char *s);
const char *fed_class_name(enum fed_class c); /* "partner-server", ... for logs */

/* A syntactically valid domain name: LDH labels of 1..63, at most 253 octets
 * (one trailing dot ignored), last label not all digits (no IPv4 literals). */
bool policy_domain_valid(struct slice domain);
/* Whether fqdn equals one of names (case-insensitive, trailing dots ignored;
 * no wildcards: edge certificates name their edge exactly). */
bool policy_name_in(const char *const *names, size_t n, const char *fqdn);

/* ---- decisions (pure) ---- */

const struct access_edge_settings *policy_settings(const struct policy *p);
bool policy_is_internal_domain(const struct policy *p, struct slice domain);

/* Classify a remote domain (case-insensitive, trailing dot ignored). Exact
 * domain matches only, plus the domains a provider lists. Order: invalid name,
 * blocked (wins over everything), internal, federation off, allowed, provider,
 * discovered, denied. out is always filled in. */
void policy_classify(const struct policy *p, struct slice domain, struct fed_decision *out);

/* Inbound: may a peer whose verified certificate names are names[0..n) send
 * a request From from_domain to internal user to_user (SLICE_NULL: skip the
 * user's external access policy)? Classifies from_domain, then:
 *   ours -> 403 "From domain is ours" (remote users are not served here);
 *   partner server -> a name must equal its edge_fqdn;
 *   provider domain -> a name must equal that provider's fqdn;
 *   routing by default route -> a name must equal default_route_fqdn, and
 *     default_route_verification_level applies;
 *   partner domain, discovered, or not listed with discovery off, from an
 *     enabled provider's edge -> FED_PROVIDER (if the provider lists domains,
 *     only those: 403 otherwise);
 *   partner domain / discovered otherwise -> need_srv: the caller resolves
 *     SRV of from_domain and requires one of names to equal a target.
 * Then to_user's policy (403 when it forbids this class). */
void policy_check_inbound(const struct policy *p, const char *const *names, size_t n,
                          struct slice from_domain, struct slice to_user, struct fed_decision *out);

/* Outbound: may internal user from_user ("alice@contoso.test") send to
 * to_domain, and where to? policy_classify plus the user's external access
 * policy (403 when it forbids). FED_INTERNAL is returned allowed (route it
 * inside). Connect to next_hop, or with need_srv to the SRV targets and then
 * call policy_apply_srv_target. */
void policy_check_outbound(const struct policy *p, struct slice from_user, struct slice to_domain,
                           struct fed_decision *out);
/* After SRV: target is the chosen SRV target (outbound) or the one the peer
 * certificate matched (inbound). If it is a provider's edge, d becomes
 * FED_PROVIDER with that provider's verification (403 if it is disabled), and
 * the user's policy is checked again (public IM) unless from_user is empty
 * (inbound: pass the recipient). */
void policy_apply_srv_target(const struct policy *p, const char *target, struct slice from_user,
                             struct fed_decision *d);

/* The enabled provider whose fqdn equals one of names, or NULL. */
const struct policy_provider *policy_provider_by_names(const struct policy *p,
                                                       const char *const *names, size_t n);
/* An allowed partner-server entry whose edge_fqdn equals one of names, or
 * NULL (one edge may serve several domains: this is the first listed). */
const struct policy_allowed_domain *policy_partner_by_names(const struct policy *p,
                                                            const char *const *names, size_t n);

/* The external access policy of an internal user (its assignment, else the
 * global policy); user "alice@contoso.test", "sip:" prefix tolerated,
 * case-insensitive. Never NULL. */
const struct external_access_policy *policy_user_policy(const struct policy *p, struct slice user);
/* Whether user's policy allows talking to a remote of class cls:
 * xmpp -> enable_xmpp_access; partner server/domain, discovered and hosting
 * providers -> enable_federation_access; public providers ->
 * enable_public_cloud_access; internal -> true; denied/blocked -> false. */
bool policy_user_allows(const struct policy *p, struct slice user, enum fed_class cls,
                        bool provider_is_public, bool xmpp);

const struct policy_xmpp_partner *policy_xmpp_partner(const struct policy *p, struct slice domain);
const struct external_access_policy *policy_access_policy(const struct policy *p,
                                                          struct slice name);

/* ---- listing (edgectl, the Redis store): arrays owned by p ---- */

size_t policy_internal_domains(const struct policy *p, const char *const **out);
size_t policy_allowed_domains(const struct policy *p, const struct policy_allowed_domain **out);
size_t policy_blocked_domains(const struct policy *p, const struct policy_blocked_domain **out);
size_t policy_providers(const struct policy *p, const struct policy_provider **out);
size_t policy_xmpp_partners(const struct policy *p, const struct policy_xmpp_partner **out);
/* [0] is always "global". */
size_t policy_access_policies(const struct policy *p, const struct external_access_policy **out);
size_t policy_user_assignments(const struct policy *p, const struct policy_user_assignment **out);

/* ---- the store: what the proxy holds ----
 * current() returns the published policy: never NULL, borrowed, valid until
 * the next successful reload() or free() (take policy_ref() to keep it longer,
 * e.g. across a DNS lookup). reload() builds a new policy from the source; on
 * success it publishes it with a higher version and drops the store's
 * reference to the old one; on error it keeps the old one and returns -1 with
 * err. free() drops the store and its reference. The Redis store will be a
 * second implementation of the same interface. */
struct policy_store {
    const struct policy *(*current)(struct policy_store *s);
    int (*reload)(struct policy_store *s, char *err, size_t errlen);
    void (*free)(struct policy_store *s);
    void *impl;
};

/* A store reading the "policy" group of config_path (reload re-reads it; a
 * file without that group gives Lync's defaults: federation off). NULL path =
 * the embedded default (policy_embedded_config(); reload is a no-op). NULL
 * with err if the first load fails. */
struct policy_store *policy_store_file_new(const char *config_path, char *err, size_t errlen);

#endif
