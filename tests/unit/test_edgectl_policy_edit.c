/* test_edgectl_policy_edit.c -- edgectl's policy edits (node/edgectl/
 * policy_text.c, policy_ops.c) without Redis: each Lync-style edit changes
 * the stored text as intended, keeps what it does not touch, and the result
 * is judged by the node's own loader (conflicts refused in its words). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* edgectl's objects are not in libnode.a: the two pure files are compiled in. */
#include "edgectl/policy_ops.c"
#include "edgectl/policy_text.c"

static char err[1024];

/* t judged by the node's loader (the edited section last): the policy, or
 * NULL with err. The written text must be judged the same. */
static struct policy *judge(struct ptext *t)
{
    char *text = ptext_text(t);
    assert_non_null(text);
    char err2[1024];
    struct policy *p2 = ptext_policy(text, err2, sizeof err2);
    free(text);
    struct policy *p = ptext_judge(t, err, sizeof err);
    assert_true((p == NULL) == (p2 == NULL));
    policy_free(p2);
    return p;
}

static void init(struct ptext *t, const char *text)
{
    assert_int_equal(ptext_init(t, text, err, sizeof err), 0);
}

static void test_add_and_list(void **state)
{
    struct ptext t;
    init(&t, NULL);
    assert_int_equal(pop_internal_add(&t, "contoso.test", err, sizeof err), 0);
    assert_int_equal(pop_allowed_add(&t, "tailspin.test", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(
        pop_allowed_add(&t, "fabrikam.test", "sip.fabrikam.test", "direct", err, sizeof err), 0);
    assert_int_equal(pop_blocked_add(&t, "spam.test", "SPIM", err, sizeof err), 0);
    struct policy *p = judge(&t);
    assert_non_null(p);
    const struct policy_allowed_domain *a;
    assert_int_equal(policy_allowed_domains(p, &a), 2);
    assert_string_equal(a[0].domain, "tailspin.test");
    assert_null(a[0].edge_fqdn);
    assert_string_equal(a[1].edge_fqdn, "sip.fabrikam.test");
    assert_string_equal(a[1].comment, "direct");
    const struct policy_blocked_domain *b;
    assert_int_equal(policy_blocked_domains(p, &b), 1);
    assert_string_equal(b[0].comment, "SPIM");
    policy_free(p);

    /* the written text reads back to the same text */
    char *t1 = ptext_text(&t);
    struct ptext u;
    init(&u, t1);
    char *t2 = ptext_text(&u);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    ptext_free(&u);
    ptext_free(&t);
}

/* Lync's rules come from the node's loader, in its words, with the key path
 * and without the "<string>:LINE:" of the wrapped text. */
static void test_conflicts_refused(void **state)
{
    struct ptext t;
    init(&t, "allowed_domains = ( \"fabrikam.test\" );");
    assert_int_equal(pop_blocked_add(&t, "fabrikam.test", NULL, err, sizeof err), 0);
    assert_null(judge(&t));
    assert_string_equal(err, "policy.blocked_domains[0]: fabrikam.test is already allowed (a "
                             "domain is allowed or blocked, once)");
    ptext_free(&t);

    /* the entry just added is the one named, whatever the sections' order */
    init(&t, "allowed_domains = ( \"a.test\" );\nblocked_domains = ( \"spam.test\" );");
    assert_int_equal(pop_allowed_add(&t, "spam.test", NULL, NULL, err, sizeof err), 0);
    assert_null(judge(&t));
    assert_string_equal(err, "policy.allowed_domains[1]: spam.test is already blocked (a "
                             "domain is allowed or blocked, once)");
    ptext_free(&t);

    init(&t, "allowed_domains = ( { domain = \"fabrikam.test\"; edge_fqdn = \"sip.fabrikam.test\"; "
             "} );");
    struct pop_provider pv = {.name = "Hosted", .fqdn = "sip.fabrikam.test", .type = "hosting"};
    assert_int_equal(pop_provider_add(&t, &pv, err, sizeof err), 0);
    assert_null(judge(&t));
    assert_non_null(strstr(err, "not both"));
    assert_int_equal(strncmp(err, "policy.providers[0].fqdn: ", 26), 0);
    ptext_free(&t);

    /* default_route needs its FQDN */
    init(&t, NULL);
    size_t n;
    const struct policy_setting_def *d = policy_setting_defs(&n), *rm = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].name, "routing_method") == 0)
            rm = &d[i];
    assert_non_null(rm);
    assert_int_equal(pop_setting_set(&t, rm, "default_route", err, sizeof err), 0);
    assert_null(judge(&t));
    assert_non_null(strstr(err, "default_route_fqdn"));
    ptext_free(&t);
}

static void test_remove(void **state)
{
    struct ptext t;
    init(&t,
         "allowed_domains = ( \"a.test\", { domain = \"B.test\"; edge_fqdn = \"sip.b.test\"; } );\n"
         "blocked_domains = [ \"spam.test\" ];");
    /* case and a trailing dot do not matter */
    assert_int_equal(pop_domain_remove(&t, PSEC_ALLOWED, "b.test.", err, sizeof err), 0);
    assert_int_equal(pop_domain_remove(&t, PSEC_ALLOWED, "b.test", err, sizeof err), -1);
    assert_string_equal(err, "b.test is not an allowed domain");
    assert_int_equal(pop_domain_remove(&t, PSEC_BLOCKED, "spam.test", err, sizeof err), 0);
    assert_int_equal(pop_domain_remove(&t, PSEC_INTERNAL, "x.test", err, sizeof err), -1);
    assert_string_equal(err, "x.test is not an internal domain");
    struct policy *p = judge(&t);
    assert_non_null(p);
    const struct policy_allowed_domain *a;
    assert_int_equal(policy_allowed_domains(p, &a), 1);
    assert_string_equal(a[0].domain, "a.test");
    policy_free(p);
    ptext_free(&t);
}

/* An array of strings becomes a list when a group must join it. */
static void test_array_to_list(void **state)
{
    struct ptext t;
    init(&t, "allowed_domains = [ \"a.test\", \"b.test\" ];");
    assert_int_equal(pop_allowed_add(&t, "c.test", "sip.c.test", NULL, err, sizeof err), 0);
    struct policy *p = judge(&t);
    assert_non_null(p);
    const struct policy_allowed_domain *a;
    assert_int_equal(policy_allowed_domains(p, &a), 3);
    assert_string_equal(a[2].edge_fqdn, "sip.c.test");
    policy_free(p);
    ptext_free(&t);
}

static void test_providers(void **state)
{
    struct ptext t;
    init(&t, NULL);
    const char *doms[] = {"tenant.test"};
    struct pop_provider pv = {.name = "LyncOnline",
                              .fqdn = "sipfed.online.lync.test",
                              .type = "hosting",
                              .verification = "always_verifiable",
                              .domains = doms,
                              .n_domains = 1};
    assert_int_equal(pop_provider_add(&t, &pv, err, sizeof err), 0);
    assert_int_equal(pop_provider_add(&t, &pv, err, sizeof err), -1);
    assert_non_null(strstr(err, "already exists"));
    assert_int_equal(pop_provider_enable(&t, "lynconline", true, err, sizeof err), 1);
    assert_int_equal(pop_provider_enable(&t, "LyncOnline", false, err, sizeof err), 0);
    assert_int_equal(pop_provider_enable(&t, "LyncOnline", false, err, sizeof err), 1);
    struct policy *p = judge(&t);
    assert_non_null(p);
    const struct policy_provider *v;
    assert_int_equal(policy_providers(p, &v), 1);
    assert_false(v[0].enabled);
    assert_int_equal(v[0].verification, VERIF_ALWAYS_VERIFIABLE);
    assert_int_equal(v[0].n_domains, 1);
    policy_free(p);
    assert_int_equal(pop_provider_remove(&t, "nope", err, sizeof err), -1);
    assert_string_equal(err, "no provider named nope");
    assert_int_equal(pop_provider_remove(&t, "LyncOnline", err, sizeof err), 0);
    ptext_free(&t);

    struct pop_xmpp x = {.domain = "jabber.test", .tls = "optional", .type = "public_verified"};
    init(&t, NULL);
    assert_int_equal(pop_xmpp_add(&t, &x, err, sizeof err), 0);
    p = judge(&t);
    assert_non_null(p);
    const struct policy_xmpp_partner *xp;
    assert_int_equal(policy_xmpp_partners(p, &xp), 1);
    assert_int_equal(xp[0].tls, XMPP_NEG_OPTIONAL);
    assert_int_equal(xp[0].sasl, XMPP_NEG_OPTIONAL); /* default */
    policy_free(p);
    assert_int_equal(pop_domain_remove(&t, PSEC_XMPP, "jabber.test", err, sizeof err), 0);
    ptext_free(&t);
}

static void test_access_and_users(void **state)
{
    struct ptext t;
    init(&t, "internal_domains = [ \"contoso.test\" ];");
    struct pop_access g = {"global", 1, 1, -1, -1};
    assert_int_equal(pop_access_set(&t, &g, err, sizeof err), 0);
    assert_int_equal(pop_access_set(&t, &g, err, sizeof err), 1); /* already so */
    struct pop_access nofed = {"NoFed", -1, -1, -1, -1};
    assert_int_equal(pop_access_set(&t, &nofed, err, sizeof err), 0);
    struct pop_access xmpp_only = {"nofed", -1, -1, 1, -1}; /* same policy, other case */
    assert_int_equal(pop_access_set(&t, &xmpp_only, err, sizeof err), 0);
    assert_int_equal(pop_user_grant(&t, "bob@contoso.test", "NoFed", err, sizeof err), 0);
    assert_int_equal(pop_user_grant(&t, "bob@contoso.test", "nofed", err, sizeof err), 1);
    assert_int_equal(pop_user_grant(&t, "bob@contoso.test", "global", err, sizeof err), 0);
    assert_int_equal(pop_user_grant(&t, "alice@contoso.test", "NoFed", err, sizeof err), 0);
    struct policy *p = judge(&t);
    assert_non_null(p);
    const struct external_access_policy *ap;
    assert_int_equal(policy_access_policies(p, &ap), 2);
    assert_true(ap[0].enable_federation_access);
    assert_true(ap[0].enable_public_cloud_access);
    assert_false(ap[1].enable_federation_access);
    assert_true(ap[1].enable_xmpp_access);
    const struct policy_user_assignment *u;
    assert_int_equal(policy_user_assignments(p, &u), 2);
    policy_free(p);

    /* a policy still granted cannot go: the node's loader says why */
    assert_int_equal(pop_access_remove(&t, "NoFed", err, sizeof err), 0);
    assert_null(judge(&t));
    assert_non_null(strstr(err, "no external access policy named"));
    assert_int_equal(pop_user_revoke(&t, "alice@contoso.test", err, sizeof err), 0);
    assert_int_equal(pop_user_revoke(&t, "alice@contoso.test", err, sizeof err), 1);
    p = judge(&t);
    assert_non_null(p);
    policy_free(p);
    assert_int_equal(pop_access_remove(&t, "Other", err, sizeof err), -1);
    assert_int_equal(pop_access_remove(&t, "global", err, sizeof err), 0);
    assert_int_equal(pop_access_remove(&t, "global", err, sizeof err), 1);
    ptext_free(&t);
}

static void test_settings(void **state)
{
    struct ptext t;
    init(&t, "access_edge = { allow_federated_users = false; enable_partner_discovery = true; };");
    size_t n;
    const struct policy_setting_def *d = policy_setting_defs(&n);
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL;
        if (strcmp(d[i].name, "allow_federated_users") == 0)
            v = "true";
        else if (strcmp(d[i].name, "outgoing_tls_count") == 0)
            v = "2";
        else if (strcmp(d[i].name, "discovered_partner_verification_level") == 0)
            v = "always_unverifiable";
        else if (strcmp(d[i].name, "default_route_fqdn") == 0)
            v = "none";
        if (v)
            assert_int_equal(pop_setting_set(&t, &d[i], v, err, sizeof err), 0);
    }
    struct policy *p = judge(&t);
    assert_non_null(p);
    const struct access_edge_settings *s = policy_settings(p);
    assert_true(s->allow_federated_users);
    assert_true(s->enable_partner_discovery); /* untouched */
    assert_int_equal(s->outgoing_tls_count, 2);
    assert_int_equal(s->discovered_partner_verification_level, VERIF_ALWAYS_UNVERIFIABLE);
    assert_null(s->default_route_fqdn);
    policy_free(p);
    /* the existing key keeps its place: allow_federated_users is still first */
    char *text = ptext_text(&t);
    assert_non_null(strstr(text, "access_edge = {\n  allow_federated_users = true;"));
    free(text);
    ptext_free(&t);
}

static void test_bad_text(void **state)
{
    struct ptext t;
    assert_int_equal(ptext_init(&t, "allowed_domains = ( \"a.test\" ", err, sizeof err), -1);
    assert_int_equal(strncmp(err, "line ", 5), 0);
    assert_null(ptext_policy("bogus_key = 1;", err, sizeof err));
    assert_string_equal(err, "policy.bogus_key: unknown key");
    /* replacing the tree (policy seed) */
    struct ptext a, b;
    init(&a, "internal_domains = [ \"a.test\" ];");
    init(&b, "internal_domains = [ \"b.test\" ];");
    assert_int_equal(pop_replace(&a, &b, err, sizeof err), 0);
    char *text = ptext_text(&a);
    assert_non_null(strstr(text, "b.test"));
    assert_null(strstr(text, "a.test"));
    free(text);
    ptext_free(&a);
    ptext_free(&b);
    char buf[64];
    assert_string_equal(ptext_norm_name(buf, sizeof buf, "Sip.Fabrikam.TEST."),
                        "sip.fabrikam.test");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_list), cmocka_unit_test(test_conflicts_refused),
        cmocka_unit_test(test_remove),       cmocka_unit_test(test_array_to_list),
        cmocka_unit_test(test_providers),    cmocka_unit_test(test_access_and_users),
        cmocka_unit_test(test_settings),     cmocka_unit_test(test_bad_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
