/* diagnose.c -- `diagnose DOMAIN`: the federation troubleshooting operators
 * otherwise do by hand. What the pool's policy says about DOMAIN and which
 * edge it expects; _sipfederationtls._tcp.DOMAIN SRV in RFC 2782 order (the
 * shared resolver); each edge's addresses; a TLS handshake to each as a node
 * makes it; the certificate's names against the expected name (RFC 5922, no
 * wildcards), its chain, EKUs and expiry. Exit 0 when federation with DOMAIN
 * would work, 1 otherwise. Our certificate, CA and DNS come from the options
 * or -c FILE (the node's tls and dns groups). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "edgectl/commands.h"
#include "edgectl/diag_tls.h"
#include "edgectl/edgectl.h"
#include "edgectl/policy_txn.h"
#include "federation/policy.h"
#include "node_config.h"
#include "resolver.h"
#include "tls.h"

#define MAX_EDGES 8
#define MAX_ADDRS 4
#define MAX_PROBLEMS 24
#define SIP_TLS_PORT 5061

struct edge {
    char host[256];
    uint16_t port;
    const char *source; /* "configured edge", "default route", "SRV target" */
    int addr_status;
    size_t n_addrs; /* probed (at most MAX_ADDRS) */
    struct sockaddr_storage addrs[MAX_ADDRS];
    struct tls_probe probes[MAX_ADDRS];
    bool ok;
};

struct diag {
    char domain[POLICY_DOMAIN_MAX + 2];
    /* the policy */
    bool policy_known;
    uint64_t version;
    struct fed_decision dec;
    const struct policy_xmpp_partner *xmpp;
    bool policy_ok;
    /* DNS */
    char srv_name[300];
    int srv_status;
    struct srv_target srv[MAX_EDGES];
    size_t n_srv, n_srv_total;
    /* the edges tried */
    struct edge edges[MAX_EDGES];
    size_t n_edges;
    char problems[MAX_PROBLEMS][400];
    int n_problems;
    char warnings[MAX_PROBLEMS][400];
    int n_warnings;
    /* what fails at one edge address: problems if no edge works, else
     * warnings (nodes fail over to the next address or target) */
    char edge_issues[MAX_PROBLEMS][400];
    int n_edge_issues;
    bool ok;
};

static void problem(char (*list)[400], int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(char (*list)[400], int *n, const char *fmt, ...)
{
    if (*n >= MAX_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(list[(*n)++], 400, fmt, ap);
    va_end(ap);
}
#define PROBLEM(d, ...) problem((d)->problems, &(d)->n_problems, __VA_ARGS__)
#define WARN(d, ...) problem((d)->warnings, &(d)->n_warnings, __VA_ARGS__)

/* ---- DNS, waited for on the loop ---- */

struct srv_wait {
    struct diag *d;
    bool done;
};

static void on_srv(void *arg, int status, const struct srv_target *t, size_t n)
{
    struct srv_wait *w = arg;
    if (status != RESOLVER_CANCELLED) {
        w->d->srv_status = status;
        w->d->n_srv_total = n;
        w->d->n_srv = n < MAX_EDGES ? n : MAX_EDGES;
        if (w->d->n_srv)
            memcpy(w->d->srv, t, w->d->n_srv * sizeof *t);
    }
    w->done = true;
}

struct addr_wait {
    struct edge *e;
    bool done;
};

static void on_addr(void *arg, int status, const struct sockaddr_storage *a, size_t n)
{
    struct addr_wait *w = arg;
    if (status != RESOLVER_CANCELLED) {
        w->e->addr_status = status;
        w->e->n_addrs = n < MAX_ADDRS ? n : MAX_ADDRS;
        if (w->e->n_addrs)
            memcpy(w->e->addrs, a, w->e->n_addrs * sizeof *a);
    }
    w->done = true;
}

/* ---- the policy's view ---- */

static const char *expectation(const struct diag *d)
{
    if (!d->policy_known)
        return "unknown (no policy)";
    switch (d->dec.cls) {
    case FED_PARTNER_SERVER:
    case FED_PROVIDER:
        return "the configured edge; its certificate must name it";
    case FED_PARTNER_DOMAIN:
    case FED_DISCOVERED:
        return d->dec.next_hop ? "the default route; its certificate must name it"
                               : "the edge found by SRV; its certificate must name the SRV target";
    default:
        return "no federation";
    }
}

static void judge_policy(struct diag *d, struct ctl *c)
{
    if (!d->policy_known) {
        PROBLEM(d, "the pool's policy is unknown: %s", c->last_err);
        return;
    }
    const struct fed_decision *x = &d->dec;
    switch (x->cls) {
    case FED_PARTNER_SERVER:
    case FED_PARTNER_DOMAIN:
    case FED_DISCOVERED:
    case FED_PROVIDER:
        d->policy_ok = x->sip_status == 0;
        break;
    case FED_INTERNAL:
        PROBLEM(d, "%s is one of our internal domains: not federation", d->domain);
        return;
    case FED_BLOCKED:
        PROBLEM(d, "policy: %s is blocked (edgectl blocked remove %s)", d->domain, d->domain);
        return;
    case FED_DENIED:
        if (strcmp(x->reason ? x->reason : "", "Federation is disabled") == 0)
            PROBLEM(d, "policy: federation is off (edgectl policy set-access-edge "
                       "allow_federated_users true)");
        else if (strcmp(x->reason ? x->reason : "", "Domain is not allowed") == 0)
            PROBLEM(d,
                    "policy: %s is not allowed and partner discovery is off (edgectl allowed "
                    "add %s)",
                    d->domain, d->domain);
        else
            PROBLEM(d, "policy: %s", x->reason ? x->reason : "denied");
        return;
    }
    if (!d->policy_ok)
        PROBLEM(d, "policy: %s (%d)", x->reason ? x->reason : "refused", x->sip_status);
    if (x->cls == FED_DISCOVERED)
        WARN(d, "%s is a discovered partner: throttled, and watched for its rate and contacts",
             d->domain);
}

/* ---- one edge ---- */

static void probe_edge(struct ctl *c, struct resolver *r, SSL_CTX *ctx, bool no_cert,
                       struct diag *d, struct edge *e)
{
    struct addr_wait w = {.e = e};
    e->addr_status = RESOLVER_ERROR;
    if (resolver_addr(r, e->host, e->port, AF_UNSPEC, on_addr, &w) < 0) {
        PROBLEM(d, "%s: not a host name to resolve", e->host);
        return;
    }
    ctl_loop_until(c, &w.done, ctl_mono_ms() + (uint64_t)c->o.timeout_ms);
    if (!w.done || e->addr_status != RESOLVER_OK) {
        problem(d->edge_issues, &d->n_edge_issues, "%s (%s): no address: %s", e->host, e->source,
                w.done ? resolver_status_name(e->addr_status) : "TIMEOUT");
        return;
    }
    for (size_t i = 0; i < e->n_addrs; i++) {
        struct tls_probe *p = &e->probes[i];
        diag_tls_probe(c, ctx, no_cert, &e->addrs[i], e->host, c->o.timeout_ms, p);
        if (p->ok) {
            e->ok = true;
            continue;
        }
        char why[400];
        if (!p->connected)
            snprintf(why, sizeof why, "%s", p->error);
        else if (p->peer_refused)
            snprintf(why, sizeof why, "%s%s", p->error,
                     no_cert ? " (we presented no certificate: give --cert/--key or -c)" : "");
        else if (!p->have_cert)
            snprintf(why, sizeof why, "no certificate presented");
        else if (!p->name_match)
            snprintf(why, sizeof why,
                     "the certificate names %s%s, not %s (wrong principal; "
                     "RFC 5922: exact names, no wildcards)",
                     p->n_names ? p->names[0] : "nothing usable", p->n_names > 1 ? " ..." : "",
                     e->host);
        else if (!p->chain_ok)
            snprintf(why, sizeof why, "certificate not trusted: %s", p->chain);
        else
            snprintf(why, sizeof why,
                     "the certificate lacks the %s EKU (an edge needs "
                     "serverAuth and clientAuth)",
                     !p->server_auth ? "serverAuth" : "clientAuth");
        problem(d->edge_issues, &d->n_edge_issues, "%s at %s: %s", e->host, p->addr, why);
    }
}

/* ---- output ---- */

static void json_probe(struct jw *w, const struct tls_probe *p)
{
    jw_obj(w, NULL);
    jw_str(w, "address", p->addr);
    jw_bool(w, "ok", p->ok);
    jw_bool(w, "connected", p->connected);
    jw_str(w, "error", p->error[0] ? p->error : NULL);
    jw_bool(w, "peer_refused", p->peer_refused);
    if (p->connected) {
        jw_str(w, "protocol", p->protocol);
        jw_str(w, "cipher", p->cipher);
    }
    if (p->have_cert) {
        jw_obj(w, "certificate");
        jw_str(w, "subject", p->subject);
        jw_str(w, "issuer", p->issuer);
        jw_arr(w, "names");
        for (int i = 0; i < p->n_names; i++)
            jw_str(w, NULL, p->names[i]);
        jw_end_arr(w);
        jw_bool(w, "name_match", p->name_match);
        jw_bool(w, "chain_ok", p->chain_ok);
        jw_str(w, "chain", p->chain);
        jw_bool(w, "eku_server_auth", p->server_auth);
        jw_bool(w, "eku_client_auth", p->client_auth);
        jw_str(w, "not_after", p->not_after);
        jw_int(w, "days_left", p->days_left);
        jw_end_obj(w);
    }
    jw_end_obj(w);
}

static void print_json(struct ctl *c, const struct diag *d)
{
    struct jw *w = &c->out;
    jw_obj(w, NULL);
    jw_bool(w, "ok", d->ok);
    jw_str(w, "domain", d->domain);
    jw_str(w, "pool", c->o.pool);
    jw_obj(w, "policy");
    jw_bool(w, "known", d->policy_known);
    if (d->policy_known) {
        jw_uint(w, "version", d->version);
        jw_str(w, "class", fed_class_name(d->dec.cls));
        jw_str(w, "reason", d->dec.reason);
        jw_bool(w, "allowed", d->policy_ok);
        jw_str(w, "edge_fqdn", d->dec.edge_fqdn);
        jw_str(w, "next_hop", d->dec.next_hop);
        jw_bool(w, "need_srv", d->dec.need_srv);
        jw_str(w, "expects", expectation(d));
        jw_str(w, "verification", policy_verification_name(d->dec.verification));
        jw_bool(w, "throttle", d->dec.throttle);
        if (d->dec.provider)
            jw_str(w, "provider", d->dec.provider->name);
        if (d->xmpp)
            jw_str(w, "xmpp_partner_type", xmpp_partner_type_name(d->xmpp->type));
    }
    jw_end_obj(w);
    jw_obj(w, "srv");
    jw_str(w, "name", d->srv_name);
    jw_str(w, "status", resolver_status_name(d->srv_status));
    jw_arr(w, "targets");
    for (size_t i = 0; i < d->n_srv; i++) {
        jw_obj(w, NULL);
        jw_uint(w, "priority", d->srv[i].priority);
        jw_uint(w, "weight", d->srv[i].weight);
        jw_uint(w, "port", d->srv[i].port);
        jw_str(w, "target", d->srv[i].host);
        jw_uint(w, "ttl", d->srv[i].ttl);
        jw_end_obj(w);
    }
    jw_end_arr(w);
    jw_end_obj(w);
    jw_arr(w, "edges");
    for (size_t i = 0; i < d->n_edges; i++) {
        const struct edge *e = &d->edges[i];
        jw_obj(w, NULL);
        jw_str(w, "host", e->host);
        jw_uint(w, "port", e->port);
        jw_str(w, "source", e->source);
        jw_bool(w, "ok", e->ok);
        jw_str(w, "address_status", resolver_status_name(e->addr_status));
        jw_arr(w, "addresses");
        for (size_t k = 0; k < e->n_addrs; k++)
            json_probe(w, &e->probes[k]);
        jw_end_arr(w);
        jw_end_obj(w);
    }
    jw_end_arr(w);
    jw_arr(w, "problems");
    for (int i = 0; i < d->n_problems; i++)
        jw_str(w, NULL, d->problems[i]);
    jw_end_arr(w);
    jw_arr(w, "warnings");
    for (int i = 0; i < d->n_warnings; i++)
        jw_str(w, NULL, d->warnings[i]);
    jw_end_arr(w);
    jw_end_obj(w);
    c->json_done = true;
}

static void print_human(struct ctl *c, const struct diag *d)
{
    printf("diagnose %s (pool %s)\n", d->domain, c->o.pool);
    if (d->policy_known) {
        printf("policy version %" PRIu64 ": %s (%s)%s\n", d->version, fed_class_name(d->dec.cls),
               d->dec.reason ? d->dec.reason : "", d->policy_ok ? "" : ": refused");
        printf("  expects: %s%s%s\n", expectation(d), d->dec.next_hop ? ": " : "",
               d->dec.next_hop ? d->dec.next_hop : "");
        if (d->dec.provider)
            printf("  provider %s, verification %s\n", d->dec.provider->name,
                   policy_verification_name(d->dec.verification));
        if (d->xmpp)
            printf("  also an XMPP partner (%s)\n", xmpp_partner_type_name(d->xmpp->type));
    } else {
        printf("policy: unknown (%s)\n", c->last_err);
    }
    printf("DNS: %s SRV: %s", d->srv_name, resolver_status_name(d->srv_status));
    if (d->srv_status == RESOLVER_OK)
        printf(", %zu record%s (RFC 2782 order)", d->n_srv_total, d->n_srv_total == 1 ? "" : "s");
    printf("\n");
    for (size_t i = 0; i < d->n_srv; i++)
        printf("  %zu. priority %u weight %u port %u %s (ttl %u)\n", i + 1, d->srv[i].priority,
               d->srv[i].weight, d->srv[i].port, d->srv[i].host, d->srv[i].ttl);
    for (size_t i = 0; i < d->n_edges; i++) {
        const struct edge *e = &d->edges[i];
        printf("edge %s:%u (%s): %s\n", e->host, e->port, e->source,
               e->addr_status == RESOLVER_OK ? (e->ok ? "ok" : "FAILS")
                                             : resolver_status_name(e->addr_status));
        for (size_t k = 0; k < e->n_addrs; k++) {
            const struct tls_probe *p = &e->probes[k];
            if (!p->connected) {
                printf("  %s: %s\n", p->addr, p->error);
                continue;
            }
            printf("  %s: %s %s%s%s\n", p->addr, p->protocol, p->cipher,
                   p->peer_refused ? ", then: " : "", p->peer_refused ? p->error : "");
            if (!p->have_cert) {
                printf("    no certificate\n");
                continue;
            }
            printf("    certificate: %s\n    issuer:      %s\n    names:      ", p->subject,
                   p->issuer);
            for (int n = 0; n < p->n_names; n++)
                printf(" %s", p->names[n]);
            printf("  -> %s %s\n", p->name_match ? "matches" : "does NOT match", e->host);
            printf("    chain:       %s\n", p->chain);
            printf("    EKU:         serverAuth %s, clientAuth %s\n", p->server_auth ? "yes" : "NO",
                   p->client_auth ? "yes" : "NO");
            printf("    expires:     %s (%ld days)\n", p->not_after, p->days_left);
        }
    }
    for (int i = 0; i < d->n_warnings; i++)
        printf("warning: %s\n", d->warnings[i]);
    if (d->ok) {
        printf("verdict: federation with %s would work\n", d->domain);
    } else {
        printf("verdict: federation with %s would NOT work:\n", d->domain);
        for (int i = 0; i < d->n_problems; i++)
            printf("  - %s\n", d->problems[i]);
    }
}

/* ---- the command ---- */

int ctl_cmd_diagnose(struct ctl *c, const struct ctl_args *a)
{
    static struct diag d; /* large: not on the stack */
    memset(&d, 0, sizeof d);
    if (ctl_check_domain(c, "domain", a->pos[0], d.domain, sizeof d.domain))
        return CTL_USAGE;
    const char *port_s = ctl_arg(a, "port");
    long port = SIP_TLS_PORT;
    if (port_s) {
        char *end;
        port = strtol(port_s, &end, 10);
        if (!*port_s || *end || port < 1 || port > 65535)
            return ctl_usage(c, "--port '%s' is not a port number", port_s);
    }
    const char *cert = ctl_arg(a, "cert"), *key = ctl_arg(a, "key"), *ca = ctl_arg(a, "ca");
    const char *dns = ctl_arg(a, "dns"), *crl = NULL;
    if (key && !cert)
        return ctl_usage(c, "--key needs --cert");

    /* The node's own settings from -c FILE, under what the options say. */
    struct node_config nc;
    bool have_nc = false;
    char err[1024];
    if (c->o.config) {
        if (node_config_load(&nc, c->o.config, err, sizeof err) < 0)
            return ctl_fail(c, "%s", err);
        have_nc = true;
        if (!cert) {
            cert = nc.tls_cert;
            key = key ? key : nc.tls_key;
        }
        ca = ca ? ca : nc.tls_ca;
        crl = nc.tls_crl;
        dns = dns ? dns : nc.dns_servers;
    }

    int rc = CTL_FAIL;
    struct resolver *r = NULL;
    SSL_CTX *ctx = NULL;
    struct policy *p = NULL;
    struct ctl_policy_cur cur = {0};

    struct tls_settings ts;
    tls_settings_init(&ts);
    ts.cert_file = cert;
    ts.key_file = key;
    ts.ca_file = ca;
    ts.crl_file = crl;
    ts.self_signed_name = "edgectl.invalid"; /* placeholder, never presented */
    if (!(ctx = tls_client_ctx_new(&ts, err, sizeof err))) {
        rc = ctl_fail(c, "TLS: %s", err);
        goto out;
    }
    struct resolver_opts ro = {
        .servers = dns, .timeout_ms = c->o.timeout_ms < 2000 ? c->o.timeout_ms : 2000, .tries = 2};
    if (!(r = resolver_new(c->base, &ro, err, sizeof err))) {
        rc = ctl_fail(c, "DNS: %s", err);
        goto out;
    }

    /* 1. the policy */
    c->quiet = true;
    d.policy_known = ctl_policy_load(c, &cur, &p) == CTL_OK;
    c->quiet = false;
    if (d.policy_known) {
        d.version = cur.version;
        policy_classify(p, slice_cstr(d.domain), &d.dec);
        d.xmpp = policy_xmpp_partner(p, slice_cstr(d.domain));
    }
    judge_policy(&d, c);

    /* 2. SRV, always: it is what partners and discovery see */
    snprintf(d.srv_name, sizeof d.srv_name, "_sipfederationtls._tcp.%s", d.domain);
    struct srv_wait sw = {.d = &d};
    d.srv_status = RESOLVER_ERROR;
    if (resolver_srv(r, d.srv_name, on_srv, &sw) == 0)
        ctl_loop_until(c, &sw.done, ctl_mono_ms() + (uint64_t)c->o.timeout_ms * 2);
    if (!sw.done)
        d.srv_status = RESOLVER_TIMEOUT;

    /* 3. the edges: the configured next hop if the policy has one, else the SRV targets */
    const char *next_hop = d.policy_known ? d.dec.next_hop : NULL;
    if (next_hop) {
        struct edge *e = &d.edges[d.n_edges++];
        snprintf(e->host, sizeof e->host, "%s", next_hop);
        e->port = (uint16_t)port;
        e->source = d.dec.edge_fqdn && strcmp(d.dec.edge_fqdn, next_hop) == 0
                        ? (d.dec.cls == FED_PROVIDER ? "provider edge" : "configured edge")
                        : "default route";
    } else {
        for (size_t i = 0; i < d.n_srv && d.n_edges < MAX_EDGES; i++) {
            struct edge *e = &d.edges[d.n_edges++];
            snprintf(e->host, sizeof e->host, "%s", d.srv[i].host);
            e->port = d.srv[i].port;
            e->source = "SRV target";
        }
        if (d.srv_status != RESOLVER_OK)
            PROBLEM(&d, "%s: %s: the partner's edge cannot be found", d.srv_name,
                    resolver_status_name(d.srv_status));
    }
    bool any_edge_ok = false;
    for (size_t i = 0; i < d.n_edges; i++) {
        probe_edge(c, r, ctx, cert == NULL, &d, &d.edges[i]);
        any_edge_ok = any_edge_ok || d.edges[i].ok;
    }
    for (int i = 0; i < d.n_edge_issues; i++) {
        if (any_edge_ok)
            WARN(&d, "%s", d.edge_issues[i]);
        else
            PROBLEM(&d, "%s", d.edge_issues[i]);
    }
    d.ok = d.policy_ok && any_edge_ok;

    if (c->o.json)
        print_json(c, &d);
    else
        print_human(c, &d);
    rc = d.ok ? CTL_OK : CTL_FAIL;
out:
    resolver_free(r);
    if (ctx)
        SSL_CTX_free(ctx);
    policy_free(p);
    ctl_policy_cur_free(&cur);
    if (have_nc)
        node_config_free(&nc);
    return rc;
}
