/* test_policy.c -- the federation policy: Lync's defaults, every federation
 * class, blocked-wins, discovery and federation switches, providers by
 * certificate names, inbound and outbound checks, per-user external access,
 * configuration errors with file:line:key, the file store and its reload. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "federation/policy.h"

/* Load text's "policy" group into a fresh policy; NULL with err on failure. */
static struct policy *load(const char *text, char *err, size_t errlen)
{
    config_t cfg;
    config_init(&cfg);
    if (!config_read_string(&cfg, text)) {
        snprintf(err, errlen, "syntax:%d: %s", config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return NULL;
    }
    struct policy *p = policy_new();
    assert_non_null(p);
    if (policy_load_config(p, config_lookup(&cfg, "policy"), err, errlen) < 0) {
        policy_free(p);
        p = NULL;
    }
    config_destroy(&cfg);
    return p;
}

static struct policy *must_load(const char *text)
{
    char err[512] = "";
    struct policy *p = load(text, err, sizeof err);
    if (!p)
        fail_msg("load failed: %s", err);
    return p;
}

/* The load fails and err contains every one of the given fragments. */
static void expect_error(const char *text, const char *where, const char *what)
{
    char err[512] = "";
    struct policy *p = load(text, err, sizeof err);
    if (p) {
        policy_free(p);
        fail_msg("loaded, expected %s %s", where, what);
    }
    if (!strstr(err, where) || !strstr(err, what))
        fail_msg("error '%s' lacks '%s' or '%s'", err, where, what);
}

static void classify(const struct policy *p, const char *domain, struct fed_decision *d)
{
    policy_classify(p, slice_cstr(domain), d);
}

/* A policy with one of everything; discovery on. */
static const char full_cfg[] =
    "policy = {\n"
    "  access_edge = { allow_federated_users = true; enable_partner_discovery = true;\n"
    "                  discovered_partner_verification_level = \"always_unverifiable\"; };\n"
    "  internal_domains = [ \"contoso.test\", \"contoso-sub.test\" ];\n"
    "  allowed_domains = ( \"tailspin.test\",\n"
    "    { domain = \"fabrikam.test\"; edge_fqdn = \"sip.fabrikam.test\"; comment = \"direct\"; "
    "},\n"
    "    { domain = \"fabrikam-eu.test\"; edge_fqdn = \"sip.fabrikam.test\"; } );\n"
    "  blocked_domains = ( \"spam.test\", { domain = \"junk.test\"; comment = \"SPIM\"; } );\n"
    "  providers = (\n"
    "    { name = \"LyncOnline\"; fqdn = \"sipfed.online.lync.test\"; type = \"hosting\"; },\n"
    "    { name = \"Skype\"; fqdn = \"federation.messenger.test\"; type = \"public\";\n"
    "      verification_level = \"AlwaysVerifiable\"; domains = [ \"live.test\", \"msn.test\" ]; "
    "},\n"
    "    { name = \"Old\"; fqdn = \"edge.old.test\"; type = \"public\"; enabled = false;\n"
    "      domains = [ \"old.test\" ]; } );\n"
    "  xmpp_partners = ( { domain = \"jabber.test\"; sasl = \"required\"; },\n"
    "    { domain = \"chat.test\"; type = \"public_unverified\"; tls = \"optional\";\n"
    "      dialback = \"not_supported\"; edge_fqdn = \"xmpp.chat.test\"; } );\n"
    "  external_access_policies = (\n"
    "    { name = \"global\"; enable_federation_access = true; },\n"
    "    { name = \"NoFederation\"; },\n"
    "    { name = \"Everything\"; enable_federation_access = true; enable_public_cloud_access = "
    "true;\n"
    "      enable_xmpp_access = true; enable_outside_access = true; } );\n"
    "  user_policies = ( { user = \"bob@contoso.test\"; policy = \"NoFederation\"; },\n"
    "                    { user = \"sip:Carol@Contoso.test\"; policy = \"everything\"; } );\n"
    "};\n";

/* policy_new() carries Lync 2013's Get-CsAccessEdgeConfiguration defaults. */
static void test_defaults_match_lync(void **state)
{
    struct policy *p = policy_new();
    const struct access_edge_settings *s = policy_settings(p);
    assert_false(s->allow_federated_users);
    assert_false(s->enable_partner_discovery);
    assert_true(s->allow_outside_users);
    assert_int_equal(s->routing_method, ROUTING_DNS_SRV);
    assert_null(s->default_route_fqdn);
    assert_true(s->mark_source_verifiable);
    assert_true(s->keep_crls_up_to_date);
    assert_int_equal(s->outgoing_tls_count, 4);
    assert_int_equal(s->discovered_partner_standard_rate, 20);
    assert_true(s->enable_discovered_partner_contacts_limit);
    assert_int_equal(s->max_contacts_per_discovered_partner, 1000);
    assert_int_equal(s->discovered_partner_report_period_minutes, 60);
    assert_int_equal(s->discovered_partner_verification_level, VERIF_USE_SOURCE);
    assert_false(s->enable_xmpp);
    assert_int_equal(policy_version(p), 0);

    /* Lync's global external access policy: every flag false. */
    const struct external_access_policy *g = policy_user_policy(p, SLICE_LIT("a@b.test"));
    assert_string_equal(g->name, "global");
    assert_false(g->enable_federation_access || g->enable_public_cloud_access ||
                 g->enable_xmpp_access || g->enable_outside_access);

    struct fed_decision d;
    classify(p, "fabrikam.test", &d);
    assert_int_equal(d.cls, FED_DENIED);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Federation is disabled");

    char err[256];
    assert_int_equal(policy_load_config(p, NULL, err, sizeof err), 0); /* NULL group: defaults */
    assert_int_equal(policy_validate(p, err, sizeof err), 0);
    policy_free(p);

    /* An empty group is the same. */
    p = must_load("policy = { };");
    assert_false(policy_settings(p)->allow_federated_users);
    policy_free(p);
}

/* Every class, with its edge, route, trust and throttle flags. */
static void test_classify_every_class(void **state)
{
    struct policy *p = must_load(full_cfg);
    struct fed_decision d;

    classify(p, "fabrikam.test", &d);
    assert_int_equal(d.cls, FED_PARTNER_SERVER);
    assert_string_equal(d.edge_fqdn, "sip.fabrikam.test");
    assert_string_equal(d.next_hop, "sip.fabrikam.test");
    assert_false(d.need_srv);
    assert_false(d.throttle);
    assert_int_equal(d.verification, VERIF_ALWAYS_VERIFIABLE);
    assert_int_equal(d.sip_status, 0);

    classify(p, "FABRIKAM.Test.", &d); /* case and the trailing dot do not matter */
    assert_int_equal(d.cls, FED_PARTNER_SERVER);

    classify(p, "tailspin.test", &d);
    assert_int_equal(d.cls, FED_PARTNER_DOMAIN);
    assert_null(d.edge_fqdn);
    assert_null(d.next_hop);
    assert_true(d.need_srv);
    assert_false(d.throttle);
    assert_int_equal(d.sip_status, 0);

    classify(p, "unknown.test", &d);
    assert_int_equal(d.cls, FED_DISCOVERED);
    assert_true(d.need_srv);
    assert_true(d.throttle);
    assert_int_equal(d.verification, VERIF_ALWAYS_UNVERIFIABLE);
    assert_int_equal(d.sip_status, 0);

    classify(p, "live.test", &d);
    assert_int_equal(d.cls, FED_PROVIDER);
    assert_non_null(d.provider);
    assert_string_equal(d.provider->name, "Skype");
    assert_int_equal(d.provider->type, PROVIDER_PUBLIC);
    assert_true(d.provider->is_public);
    assert_string_equal(d.edge_fqdn, "federation.messenger.test");
    assert_string_equal(d.next_hop, "federation.messenger.test");
    assert_int_equal(d.verification, VERIF_ALWAYS_VERIFIABLE);
    assert_int_equal(d.sip_status, 0);

    classify(p, "old.test", &d); /* a disabled provider's domain */
    assert_int_equal(d.cls, FED_DENIED);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Provider is disabled");

    classify(p, "spam.test", &d);
    assert_int_equal(d.cls, FED_BLOCKED);
    assert_int_equal(d.sip_status, 403);
    classify(p, "Junk.test", &d);
    assert_int_equal(d.cls, FED_BLOCKED);

    classify(p, "contoso.test", &d);
    assert_int_equal(d.cls, FED_INTERNAL);
    assert_int_equal(d.sip_status, 0);
    assert_true(policy_is_internal_domain(p, SLICE_LIT("Contoso-Sub.test.")));
    assert_false(policy_is_internal_domain(p, SLICE_LIT("sub.contoso.test"))); /* exact only */

    /* No suffix matching: a subdomain of a partner is not that partner. */
    classify(p, "eu.fabrikam.test", &d);
    assert_int_equal(d.cls, FED_DISCOVERED);

    const char *bad[] = {"",        ".",       "bad_domain.test", "192.0.2.1",
                         "-a.test", "a-.test", "a..test",         "\xc3\xa9.test"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        classify(p, bad[i], &d);
        assert_int_equal(d.cls, FED_DENIED);
        assert_string_equal(d.reason, "Invalid domain");
    }
    char longname[300];
    memset(longname, 'a', sizeof longname);
    for (int i = 60; i < 299; i += 61)
        longname[i] = '.';
    longname[254] = '\0'; /* 254 octets: one too many */
    classify(p, longname, &d);
    assert_string_equal(d.reason, "Invalid domain");
    longname[253] = '\0';
    assert_true(policy_domain_valid(slice_cstr(longname)));

    assert_string_equal(fed_class_name(FED_PARTNER_SERVER), "partner-server");
    policy_free(p);
}

/* A blocked domain is refused whatever else is on: discovery, federation off. */
static void test_blocked_wins(void **state)
{
    struct policy *p = must_load("policy = { access_edge = { allow_federated_users = true;\n"
                                 "  enable_partner_discovery = true; };\n"
                                 "  blocked_domains = [ \"spam.test\" ]; };");
    struct fed_decision d;
    classify(p, "spam.test", &d);
    assert_int_equal(d.cls, FED_BLOCKED);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Domain is blocked");
    /* Even from a matching edge, inbound. */
    const char *names[] = {"sip.spam.test"};
    policy_check_inbound(p, names, 1, SLICE_LIT("spam.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_BLOCKED);
    assert_int_equal(d.sip_status, 403);
    policy_free(p);

    p = must_load("policy = { blocked_domains = [ \"spam.test\" ]; };"); /* federation off */
    classify(p, "spam.test", &d);
    assert_int_equal(d.cls, FED_BLOCKED);
    policy_free(p);
}

/* Partner discovery decides what an unlisted domain is. */
static void test_discovery_on_off(void **state)
{
    struct policy *p = must_load("policy = { access_edge = { allow_federated_users = true; };\n"
                                 "  allowed_domains = [ \"tailspin.test\" ]; };");
    struct fed_decision d;
    classify(p, "unknown.test", &d);
    assert_int_equal(d.cls, FED_DENIED);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Domain is not allowed");
    classify(p, "tailspin.test", &d);
    assert_int_equal(d.cls, FED_PARTNER_DOMAIN);
    policy_free(p);

    p = must_load("policy = { access_edge = { allow_federated_users = true;\n"
                  "  enable_partner_discovery = true; }; };");
    classify(p, "unknown.test", &d);
    assert_int_equal(d.cls, FED_DISCOVERED);
    assert_int_equal(d.verification, VERIF_USE_SOURCE); /* Lync's default level */
    assert_true(d.throttle);
    policy_free(p);
}

/* allow_federated_users = false refuses every outside class; ours stays ours. */
static void test_federation_off(void **state)
{
    struct policy *p = must_load("policy = { access_edge = { enable_partner_discovery = true; };\n"
                                 "  internal_domains = [ \"contoso.test\" ];\n"
                                 "  allowed_domains = ( { domain = \"fabrikam.test\";\n"
                                 "    edge_fqdn = \"sip.fabrikam.test\"; } );\n"
                                 "  providers = ( { name = \"P\"; fqdn = \"edge.p.test\";\n"
                                 "    type = \"public\"; domains = [ \"p.test\" ]; } ); };");
    struct fed_decision d;
    const char *doms[] = {"fabrikam.test", "p.test", "unknown.test"};
    for (size_t i = 0; i < 3; i++) {
        classify(p, doms[i], &d);
        assert_int_equal(d.cls, FED_DENIED);
        assert_int_equal(d.sip_status, 403);
        assert_string_equal(d.reason, "Federation is disabled");
    }
    const char *names[] = {"edge.p.test"};
    policy_check_inbound(p, names, 1, SLICE_LIT("anything.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403); /* not even a provider's edge */
    classify(p, "contoso.test", &d);
    assert_int_equal(d.cls, FED_INTERNAL);
    policy_free(p);
}

/* Peers are recognised by certificate names: enabled providers, partner edges. */
static void test_by_names(void **state)
{
    struct policy *p = must_load(full_cfg);
    const char *n1[] = {"node1.fabrikam.test", "SIPFED.online.lync.test."};
    const struct policy_provider *v = policy_provider_by_names(p, n1, 2);
    assert_non_null(v);
    assert_string_equal(v->name, "LyncOnline");
    assert_int_equal(v->type, PROVIDER_HOSTING);
    assert_false(v->is_public);
    assert_int_equal(v->verification, VERIF_USE_SOURCE); /* default */
    assert_true(v->enabled);

    const char *n2[] = {"edge.old.test"}; /* disabled */
    assert_null(policy_provider_by_names(p, n2, 1));
    const char *n3[] = {"sip.fabrikam.test"};
    assert_null(policy_provider_by_names(p, n3, 1));
    const struct policy_allowed_domain *a = policy_partner_by_names(p, n3, 1);
    assert_non_null(a);
    assert_string_equal(a->domain, "fabrikam.test"); /* the first of the two on that edge */
    assert_string_equal(a->comment, "direct");
    assert_null(policy_partner_by_names(p, n1, 1));
    assert_null(policy_provider_by_names(p, NULL, 0));

    assert_true(policy_name_in(n1, 2, "sipfed.online.lync.test"));
    assert_false(policy_name_in(n1, 2, "online.lync.test"));
    assert_false(policy_name_in(n1, 2, NULL));
    policy_free(p);
}

/* Inbound: the certificate must fit the From domain's class. */
static void test_inbound(void **state)
{
    struct policy *p = must_load(full_cfg);
    struct fed_decision d;
    const char *fab[] = {"sip.fabrikam.test"};
    const char *lync[] = {"sipfed.online.lync.test"};
    const char *skype[] = {"federation.messenger.test"};
    const char *other[] = {"edge.evil.test"};
    const char *old[] = {"edge.old.test"};

    policy_check_inbound(p, fab, 1, SLICE_LIT("fabrikam.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_PARTNER_SERVER);
    assert_int_equal(d.sip_status, 0);
    policy_check_inbound(p, fab, 1, SLICE_LIT("fabrikam-eu.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 0); /* one edge, two domains */
    policy_check_inbound(p, other, 1, SLICE_LIT("fabrikam.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Certificate does not match the partner's edge");

    policy_check_inbound(p, fab, 1, SLICE_LIT("contoso.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_INTERNAL);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "From domain is ours");

    policy_check_inbound(p, skype, 1, SLICE_LIT("live.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_PROVIDER);
    assert_int_equal(d.sip_status, 0);
    policy_check_inbound(p, other, 1, SLICE_LIT("live.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403);
    /* Skype lists its domains: it may not speak for others. */
    policy_check_inbound(p, skype, 1, SLICE_LIT("unlisted.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Domain is not served by this provider");
    /* An allowed partner domain is the partner's own: no provider speaks for
     * it on its word alone; its SRV record must delegate to the provider. */
    policy_check_inbound(p, lync, 1, SLICE_LIT("tailspin.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_PARTNER_DOMAIN);
    assert_int_equal(d.sip_status, 0);
    assert_true(d.need_srv);
    policy_apply_srv_target(p, "sipfed.online.lync.test", SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_PROVIDER);
    assert_string_equal(d.provider->name, "LyncOnline");
    policy_check_inbound(p, skype, 1, SLICE_LIT("tailspin.test"), SLICE_NULL, &d);
    assert_true(d.need_srv);
    /* LyncOnline lists none: its tenants that we did not list (discovered). */
    policy_check_inbound(p, lync, 1, SLICE_LIT("tenant.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_PROVIDER);
    assert_int_equal(d.sip_status, 0);
    assert_false(d.need_srv);
    assert_string_equal(d.provider->name, "LyncOnline");
    /* ...but never for a partner server or a blocked domain. */
    policy_check_inbound(p, lync, 1, SLICE_LIT("fabrikam.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403);
    policy_check_inbound(p, lync, 1, SLICE_LIT("spam.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_BLOCKED);
    policy_check_inbound(p, old, 1, SLICE_LIT("whatever.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Provider is disabled");

    /* Partner domain and discovered: the SRV target must match. */
    policy_check_inbound(p, other, 1, SLICE_LIT("tailspin.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_PARTNER_DOMAIN);
    assert_int_equal(d.sip_status, 0);
    assert_true(d.need_srv);
    policy_check_inbound(p, other, 1, SLICE_LIT("new.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_DISCOVERED);
    assert_true(d.need_srv);
    assert_true(d.throttle);

    /* The recipient's external access policy. */
    policy_check_inbound(p, fab, 1, SLICE_LIT("fabrikam.test"), SLICE_LIT("bob@contoso.test"), &d);
    assert_int_equal(d.sip_status, 403);
    policy_check_inbound(p, fab, 1, SLICE_LIT("fabrikam.test"), SLICE_LIT("alice@contoso.test"),
                         &d);
    assert_int_equal(d.sip_status, 0);
    policy_check_inbound(p, skype, 1, SLICE_LIT("live.test"), SLICE_LIT("alice@contoso.test"), &d);
    assert_int_equal(d.sip_status, 403); /* global has no public IM */
    policy_check_inbound(p, skype, 1, SLICE_LIT("live.test"), SLICE_LIT("carol@contoso.test"), &d);
    assert_int_equal(d.sip_status, 0);
    policy_free(p);

    /* Discovery off: an unlisted domain only through a provider. */
    p = must_load("policy = { access_edge = { allow_federated_users = true; };\n"
                  "  providers = ( { name = \"H\"; fqdn = \"edge.h.test\"; type = \"hosting\";\n"
                  "                  verification_level = \"always_unverifiable\"; } ); };");
    const char *h[] = {"edge.h.test"};
    policy_check_inbound(p, other, 1, SLICE_LIT("tenant.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_DENIED);
    assert_string_equal(d.reason, "Domain is not allowed");
    policy_check_inbound(p, h, 1, SLICE_LIT("tenant.test"), SLICE_NULL, &d);
    assert_int_equal(d.cls, FED_PROVIDER);
    assert_int_equal(d.verification, VERIF_ALWAYS_UNVERIFIABLE);
    assert_int_equal(d.sip_status, 0);
    policy_free(p);
}

/* Outbound: class, the sender's policy, the next hop; SRV targets that are providers. */
static void test_outbound(void **state)
{
    struct policy *p = must_load(full_cfg);
    struct fed_decision d;
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("fabrikam.test"), &d);
    assert_int_equal(d.sip_status, 0);
    assert_string_equal(d.next_hop, "sip.fabrikam.test");
    policy_check_outbound(p, SLICE_LIT("bob@contoso.test"), SLICE_LIT("fabrikam.test"), &d);
    assert_int_equal(d.cls, FED_PARTNER_SERVER);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Federation is not allowed for this user");
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("live.test"), &d);
    assert_int_equal(d.sip_status, 403);
    assert_string_equal(d.reason, "Public IM is not allowed for this user");
    policy_check_outbound(p, SLICE_LIT("carol@contoso.test"), SLICE_LIT("live.test"), &d);
    assert_int_equal(d.sip_status, 0);
    policy_check_outbound(p, SLICE_LIT("bob@contoso.test"), SLICE_LIT("contoso-sub.test"), &d);
    assert_int_equal(d.cls, FED_INTERNAL);
    assert_int_equal(d.sip_status, 0);
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("spam.test"), &d);
    assert_int_equal(d.sip_status, 403);

    /* tailspin.test is found by SRV; its target turns out to be LyncOnline. */
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("tailspin.test"), &d);
    assert_true(d.need_srv);
    policy_apply_srv_target(p, "sipfed.online.lync.test", SLICE_LIT("alice@contoso.test"), &d);
    assert_int_equal(d.cls, FED_PROVIDER);
    assert_string_equal(d.next_hop, "sipfed.online.lync.test");
    assert_int_equal(d.sip_status, 0);
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("tailspin.test"), &d);
    policy_apply_srv_target(p, "sip.tailspin.test", SLICE_LIT("alice@contoso.test"), &d);
    assert_int_equal(d.cls, FED_PARTNER_DOMAIN); /* unchanged */
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("tailspin.test"), &d);
    policy_apply_srv_target(p, "edge.old.test", SLICE_LIT("alice@contoso.test"), &d);
    assert_int_equal(d.sip_status, 403);
    policy_free(p);

    /* Default routing: everything goes to the default route. */
    p = must_load("policy = { access_edge = { allow_federated_users = true;\n"
                  "  routing_method = \"default_route\"; default_route_fqdn = \"ch.test\";\n"
                  "  default_route_verification_level = \"always_verifiable\"; };\n"
                  "  internal_domains = [ \"contoso.test\" ];\n"
                  "  allowed_domains = ( \"tailspin.test\",\n"
                  "    { domain = \"fabrikam.test\"; edge_fqdn = \"sip.fabrikam.test\"; } );\n"
                  "  external_access_policies = ( { name = \"global\";\n"
                  "    enable_federation_access = true; } ); };");
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("tailspin.test"), &d);
    assert_int_equal(d.sip_status, 0);
    assert_false(d.need_srv);
    assert_string_equal(d.next_hop, "ch.test");
    policy_check_outbound(p, SLICE_LIT("alice@contoso.test"), SLICE_LIT("fabrikam.test"), &d);
    assert_string_equal(d.next_hop, "ch.test");
    const char *ch[] = {"ch.test"};
    const char *other[] = {"edge.evil.test"};
    policy_check_inbound(p, ch, 1, SLICE_LIT("tailspin.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 0);
    assert_false(d.need_srv);
    assert_int_equal(d.verification, VERIF_ALWAYS_VERIFIABLE);
    policy_check_inbound(p, other, 1, SLICE_LIT("tailspin.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403);
    policy_check_inbound(p, ch, 1, SLICE_LIT("unlisted.test"), SLICE_NULL, &d);
    assert_int_equal(d.sip_status, 403); /* the allowed list still applies */
    policy_free(p);
}

/* Per-user external access policies, and the class -> flag mapping. */
static void test_user_policy(void **state)
{
    struct policy *p = must_load(full_cfg);
    struct slice alice = SLICE_LIT("alice@contoso.test"), bob = SLICE_LIT("sip:BOB@contoso.test"),
                 carol = SLICE_LIT("carol@contoso.test");
    assert_string_equal(policy_user_policy(p, alice)->name, "global");
    assert_string_equal(policy_user_policy(p, bob)->name, "NoFederation");
    assert_string_equal(policy_user_policy(p, carol)->name, "Everything");

    enum fed_class fed[] = {FED_PARTNER_SERVER, FED_PARTNER_DOMAIN, FED_DISCOVERED};
    for (size_t i = 0; i < 3; i++) {
        assert_true(policy_user_allows(p, alice, fed[i], false, false));
        assert_false(policy_user_allows(p, bob, fed[i], false, false));
    }
    assert_true(policy_user_allows(p, alice, FED_PROVIDER, false, false)); /* hosting */
    assert_false(policy_user_allows(p, alice, FED_PROVIDER, true, false)); /* public */
    assert_true(policy_user_allows(p, carol, FED_PROVIDER, true, false));
    assert_false(policy_user_allows(p, alice, FED_PARTNER_DOMAIN, false, true)); /* xmpp */
    assert_true(policy_user_allows(p, carol, FED_PARTNER_DOMAIN, false, true));
    assert_true(policy_user_allows(p, bob, FED_INTERNAL, false, false));
    assert_false(policy_user_allows(p, carol, FED_BLOCKED, false, false));
    assert_false(policy_user_allows(p, carol, FED_DENIED, false, false));
    assert_true(policy_user_policy(p, carol)->enable_outside_access);

    const struct policy_user_assignment *ua;
    assert_int_equal(policy_user_assignments(p, &ua), 2);
    assert_string_equal(ua[1].user, "carol@contoso.test");
    assert_string_equal(ua[1].policy, "Everything");
    assert_non_null(policy_access_policy(p, SLICE_LIT("nofederation")));
    assert_null(policy_access_policy(p, SLICE_LIT("missing")));
    policy_free(p);
}

/* XMPP partners: loaded with edgepool's defaults; the rest of the lists as written. */
static void test_lists_and_xmpp(void **state)
{
    struct policy *p = must_load(full_cfg);
    const struct policy_xmpp_partner *x = policy_xmpp_partner(p, SLICE_LIT("Jabber.test"));
    assert_non_null(x);
    assert_int_equal(x->type, XMPP_FEDERATED);
    assert_int_equal(x->tls, XMPP_NEG_REQUIRED);
    assert_int_equal(x->sasl, XMPP_NEG_REQUIRED);
    assert_int_equal(x->dialback, XMPP_NEG_OPTIONAL);
    assert_null(x->edge_fqdn);
    x = policy_xmpp_partner(p, SLICE_LIT("chat.test"));
    assert_int_equal(x->type, XMPP_PUBLIC_UNVERIFIED);
    assert_int_equal(x->tls, XMPP_NEG_OPTIONAL);
    assert_int_equal(x->dialback, XMPP_NEG_NOT_SUPPORTED);
    assert_string_equal(x->edge_fqdn, "xmpp.chat.test");
    assert_null(policy_xmpp_partner(p, SLICE_LIT("fabrikam.test")));

    const char *const *in;
    const struct policy_allowed_domain *al;
    const struct policy_blocked_domain *bl;
    const struct policy_provider *pv;
    const struct policy_xmpp_partner *xs;
    const struct external_access_policy *aps;
    assert_int_equal(policy_internal_domains(p, &in), 2);
    assert_string_equal(in[1], "contoso-sub.test");
    assert_int_equal(policy_allowed_domains(p, &al), 3);
    assert_null(al[0].edge_fqdn);
    assert_int_equal(policy_blocked_domains(p, &bl), 2);
    assert_string_equal(bl[1].comment, "SPIM");
    assert_int_equal(policy_providers(p, &pv), 3);
    assert_int_equal(pv[1].n_domains, 2);
    assert_string_equal(pv[1].domains[1], "msn.test");
    assert_false(pv[2].enabled);
    assert_int_equal(policy_xmpp_partners(p, &xs), 2);
    assert_int_equal(policy_access_policies(p, &aps), 3);
    assert_string_equal(aps[0].name, "global");
    assert_true(aps[0].enable_federation_access);
    policy_free(p);
}

/* Validation as Lync's cmdlets do it, each error naming line and key. */
static void test_config_errors(void **state)
{
    /* A domain cannot be both allowed and blocked (either order). */
    expect_error("policy = {\n"
                 "  allowed_domains = [ \"fabrikam.test\" ];\n"
                 "  blocked_domains = [ \"Fabrikam.test\" ];\n"
                 "};",
                 "<string>:3: policy.blocked_domains[0]:", "already allowed");
    expect_error("policy = {\n"
                 "  blocked_domains = [ \"fabrikam.test\" ];\n"
                 "  allowed_domains = (\n"
                 "    { domain = \"tailspin.test\"; },\n"
                 "    { comment = \"x\";\n"
                 "      domain = \"fabrikam.test\"; } );\n"
                 "};",
                 "<string>:6: policy.allowed_domains[1].domain:", "already blocked");
    /* Syntactically bad domains. */
    expect_error("policy = {\n  internal_domains = [ \"contoso.test\",\n  \"bad_name.test\" ];\n};",
                 "<string>:3: policy.internal_domains[1]:", "not a valid domain name");
    expect_error("policy = {\n  allowed_domains = ( { domain = \"f.test\";\n"
                 "    edge_fqdn = \"sip..f.test\"; } );\n};",
                 "<string>:3: policy.allowed_domains[0].edge_fqdn:", "not a valid FQDN");
    /* Unknown verification level. */
    expect_error("policy = {\n  access_edge = {\n"
                 "    discovered_partner_verification_level = \"sometimes\"; };\n};",
                 "<string>:3: policy.access_edge.discovered_partner_verification_level:",
                 "unknown discovered_partner_verification_level 'sometimes'");
    expect_error("policy = {\n  providers = (\n    { name = \"P\"; fqdn = \"e.p.test\";\n"
                 "      type = \"public\"; verification_level = \"Trusted\"; } );\n};",
                 "<string>:4: policy.providers[0].verification_level:", "unknown");
    /* One FQDN cannot be both a partner server's edge and a provider's. */
    expect_error(
        "policy = {\n"
        "  allowed_domains = ( { domain = \"fabrikam.test\"; edge_fqdn = \"e.x.test\"; } );\n"
        "  providers = ( { name = \"P\";\n"
        "    fqdn = \"E.x.test\"; type = \"hosting\"; } );\n};",
        "<string>:4: policy.providers[0].fqdn:", "not both");
    expect_error("policy = {\n"
                 "  providers = ( { name = \"P\"; fqdn = \"e.x.test\"; type = \"hosting\"; } );\n"
                 "  allowed_domains = ( { domain = \"fabrikam.test\";\n"
                 "    edge_fqdn = \"e.x.test\"; } );\n};",
                 "<string>:4: policy.allowed_domains[0].edge_fqdn:", "not both");
    /* A per-user assignment naming an unknown policy (or a stranger). */
    expect_error(
        "policy = {\n  internal_domains = [ \"contoso.test\" ];\n"
        "  user_policies = ( { user = \"bob@contoso.test\";\n"
        "    policy = \"Nope\"; } );\n};",
        "<string>:4: policy.user_policies[0].policy:", "no external access policy named 'Nope'");
    expect_error(
        "policy = {\n  internal_domains = [ \"contoso.test\" ];\n"
        "  user_policies = ( { user = \"bob@fabrikam.test\"; policy = \"global\"; } );\n};",
        "<string>:3: policy.user_policies[0].user:", "not one of our internal domains");
    expect_error("policy = {\n  internal_domains = [ \"contoso.test\" ];\n"
                 "  user_policies = ( { user = \"bob\"; policy = \"global\"; } );\n};",
                 "<string>:3:", "not a user@domain");
    /* Types, ranges, typos. */
    expect_error("policy = {\n  access_edge = { allow_federated_users = \"yes\"; };\n};",
                 "<string>:2: policy.access_edge.allow_federated_users:", "true or false");
    expect_error("policy = {\n  access_edge = { outgoing_tls_count = 5; };\n};",
                 "<string>:2: policy.access_edge.outgoing_tls_count:", "out of range 1..4");
    expect_error("policy = {\n  access_edge = {\n    allow_federated_user = true; };\n};",
                 "<string>:3: policy.access_edge.allow_federated_user:", "unknown key");
    expect_error("policy = {\n  alowed_domains = [ ];\n};",
                 "<string>:2: policy.alowed_domains:", "unknown key");
    expect_error(
        "policy = {\n  blocked_domains = ( { domain = \"a.test\"; reason = \"x\"; } );\n};",
        "<string>:2: policy.blocked_domains[0].reason:", "unknown key");
    expect_error("policy = {\n  providers = ( { name = \"P\"; fqdn = \"e.p.test\"; } );\n};",
                 "<string>:2: policy.providers[0]:", "missing 'type'");
    expect_error("policy = {\n  allowed_domains = ( { comment = \"x\"; } );\n};",
                 "<string>:2: policy.allowed_domains[0]:", "missing 'domain'");
    /* Other conflicts: ours vs allowed, a provider's domain vs blocked, duplicates. */
    expect_error("policy = {\n  internal_domains = [ \"contoso.test\" ];\n"
                 "  allowed_domains = [ \"contoso.test\" ];\n};",
                 "<string>:3:", "internal domains");
    expect_error("policy = {\n  blocked_domains = [ \"live.test\" ];\n"
                 "  providers = ( { name = \"P\"; fqdn = \"e.p.test\"; type = \"public\";\n"
                 "    domains = [ \"p.test\",\n     \"live.test\" ]; } );\n};",
                 "<string>:5: policy.providers[0].domains[1]:", "already blocked");
    expect_error(
        "policy = {\n  providers = ( { name = \"P\"; fqdn = \"e.p.test\"; type = \"public\"; },\n"
        "    { name = \"p\"; fqdn = \"f.p.test\"; type = \"public\"; } );\n};",
        "<string>:3: policy.providers[1].name:", "defined twice");
    expect_error("policy = {\n  external_access_policies = ( { name = \"global\"; },\n"
                 "    { name = \"Global\"; } );\n};",
                 "<string>:3:", "global policy is defined twice");
    expect_error("policy = {\n  xmpp_partners = ( { domain = \"j.test\"; tls = \"maybe\"; } );\n};",
                 "<string>:2: policy.xmpp_partners[0].tls:", "unknown tls 'maybe'");
    /* Default routing, Lync's rules. */
    expect_error("policy = {\n  access_edge = {\n    routing_method = \"default_route\"; };\n};",
                 "<string>:3: policy.access_edge.routing_method:", "needs default_route_fqdn");
    expect_error("policy = {\n  access_edge = { routing_method = \"default_route\";\n"
                 "    default_route_fqdn = \"ch.test\"; };\n"
                 "  providers = ( { name = \"P\"; fqdn = \"e.p.test\"; type = \"public\"; } );\n};",
                 "<string>:2:", "cannot be used with providers");
    expect_error("policy = {\n  access_edge = { routing_method = \"dns\"; };\n};",
                 "<string>:2:", "unknown routing_method 'dns'");
}

/* The embedded default: a usable demo (federation on for contoso.test users). */
static void test_embedded_default(void **state)
{
    char err[256];
    struct policy_store *s = policy_store_file_new(NULL, err, sizeof err);
    assert_non_null(s);
    const struct policy *p = s->current(s);
    assert_non_null(p);
    assert_int_equal(policy_version(p), 1);
    assert_true(policy_settings(p)->allow_federated_users);
    assert_false(policy_settings(p)->enable_partner_discovery);
    assert_true(policy_is_internal_domain(p, SLICE_LIT("contoso.test")));
    assert_true(
        policy_user_allows(p, SLICE_LIT("alice@contoso.test"), FED_PARTNER_DOMAIN, false, false));
    struct fed_decision d;
    policy_classify(p, SLICE_LIT("fabrikam.test"), &d);
    assert_int_equal(d.cls, FED_DENIED); /* nothing allowed yet */
    assert_int_equal(s->reload(s, err, sizeof err), 0);
    assert_ptr_equal(s->current(s), p);
    s->free(s);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The file store: versions, reload, errors keep the old policy, refs outlive it. */
static void test_file_store(void **state)
{
    char path[] = "/tmp/test_policy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "node = { name = \"n1\"; };\n"
                     "policy = { access_edge = { allow_federated_users = true; };\n"
                     "  allowed_domains = [ \"fabrikam.test\" ]; };\n");
    char err[512];
    struct policy_store *s = policy_store_file_new(path, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    const struct policy *v1 = s->current(s);
    assert_int_equal(policy_version(v1), 1);
    const struct policy *kept = policy_ref(v1); /* a transaction waiting on DNS */

    write_file(path, "policy = { access_edge = { allow_federated_users = true; };\n"
                     "  blocked_domains = [ \"fabrikam.test\" ]; };\n");
    assert_int_equal(s->reload(s, err, sizeof err), 0);
    const struct policy *v2 = s->current(s);
    assert_int_equal(policy_version(v2), 2);
    struct fed_decision d;
    policy_classify(v2, SLICE_LIT("fabrikam.test"), &d);
    assert_int_equal(d.cls, FED_BLOCKED);
    policy_classify(kept, SLICE_LIT("fabrikam.test"), &d); /* the old one still works */
    assert_int_equal(d.cls, FED_PARTNER_DOMAIN);
    policy_free(kept);

    /* A bad file: -1 with file:line, the old policy stays. */
    write_file(path, "policy = {\n  access_edge = { outgoing_tls_count = 9; };\n};\n");
    assert_int_equal(s->reload(s, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, ":2: policy.access_edge.outgoing_tls_count:"));
    assert_ptr_equal(s->current(s), v2);
    write_file(path, "policy = {\n  access_edge = { \n};\n");
    assert_int_equal(s->reload(s, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_ptr_equal(s->current(s), v2);

    /* No policy group: Lync's defaults. */
    write_file(path, "node = { };\n");
    assert_int_equal(s->reload(s, err, sizeof err), 0);
    assert_int_equal(policy_version(s->current(s)), 3);
    assert_false(policy_settings(s->current(s))->allow_federated_users);
    s->free(s);

    unlink(path);
    assert_null(policy_store_file_new(path, err, sizeof err));
    assert_non_null(strstr(err, "cannot read"));
}

/* The reference lists every access_edge key with Lync's default. */
static void test_reference(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    policy_print_reference(f);
    fclose(f);
    assert_non_null(strstr(buf, "allow_federated_users = false;"));
    assert_non_null(strstr(buf, "max_contacts_per_discovered_partner = 1000;"));
    assert_non_null(strstr(buf, "discovered_partner_verification_level = "
                                "\"use_source_verification\";"));
    assert_non_null(strstr(buf, "MarkSourceVerifiableOnOutgoingMessages"));
    free(buf);

    /* The embedded text loads through the same loader. */
    struct policy *p = must_load(policy_embedded_config());
    assert_true(policy_settings(p)->allow_federated_users);
    policy_free(p);
    assert_int_equal(policy_verification_parse("AlwaysUnverifiable"), VERIF_ALWAYS_UNVERIFIABLE);
    assert_int_equal(policy_verification_parse("always_verifiable"), VERIF_ALWAYS_VERIFIABLE);
    assert_int_equal(policy_verification_parse("always"), -1);
    assert_int_equal(xmpp_negotiation_parse("NotSupported"), XMPP_NEG_NOT_SUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_lync),
        cmocka_unit_test(test_classify_every_class),
        cmocka_unit_test(test_blocked_wins),
        cmocka_unit_test(test_discovery_on_off),
        cmocka_unit_test(test_federation_off),
        cmocka_unit_test(test_by_names),
        cmocka_unit_test(test_inbound),
        cmocka_unit_test(test_outbound),
        cmocka_unit_test(test_user_policy),
        cmocka_unit_test(test_lists_and_xmpp),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_embedded_default),
        cmocka_unit_test(test_file_store),
        cmocka_unit_test(test_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
