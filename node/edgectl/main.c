/* main.c -- edgectl, the operator's CLI for an edgepool pool: the command
 * table, help, messages and exit codes, and the run (options, the private
 * event loop, the command, cleanup).
 *
 * Commands mirror Lync Server 2013's cmdlets on the pool's shared state in
 * Redis (ep:<pool>:...; shared/pool_keys.h). Exit codes: 0 ok, 1 refused or
 * failed (a policy rule, Redis unreachable, federation would not work), 2
 * bad arguments (nothing was touched). */
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgectl/commands.h"
#include "edgectl/edgectl.h"
#include "federation/policy.h"
#include "log.h"
#include "redis.h"

/* ---- the command table ---- */

static const struct ctl_optdef o_none[] = {{NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_show[] = {
    {"text", 0, OPT_FLAG, NULL, "print the stored text as a policy group (a seed file)"},
    {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_seed[] = {
    {"force", 0, OPT_FLAG, NULL, "replace the pool's policy if it has one"},
    {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_allowed[] = {
    {"edge", 0, OPT_VALUE, "FQDN",
     "the partner's edge (direct federation: its certificate must name it)"},
    {"comment", 0, OPT_VALUE, "TEXT", "a note for operators"},
    {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_comment[] = {
    {"comment", 0, OPT_VALUE, "TEXT", "a note for operators"}, {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_provider[] = {
    {"fqdn", 0, OPT_VALUE, "FQDN", "the provider's edge (its certificate must name it)"},
    {"type", 0, OPT_VALUE, "hosting|public", "hosting provider or public IM provider"},
    {"verification", 0, OPT_VALUE, "LEVEL",
     "use_source_verification (default), always_verifiable or always_unverifiable"},
    {"disabled", 0, OPT_FLAG, NULL, "add it disabled"},
    {"domain", 0, OPT_LIST, "DOMAIN",
     "a domain it hosts (repeatable); none: any not listed elsewhere"},
    {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_xmpp[] = {
    {"edge", 0, OPT_VALUE, "FQDN", "connect here instead of resolving _xmpp-server SRV"},
    {"type", 0, OPT_VALUE, "TYPE", "federated (default), public_verified or public_unverified"},
    {"tls", 0, OPT_VALUE, "NEG", "required (default), optional or not_supported"},
    {"sasl", 0, OPT_VALUE, "NEG", "required, optional (default) or not_supported"},
    {"dialback", 0, OPT_VALUE, "NEG", "required, optional (default) or not_supported"},
    {"comment", 0, OPT_VALUE, "TEXT", "a note for operators"},
    {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_access[] = {
    {"federation", 0, OPT_VALUE, "on|off", "partners, discovered partners, hosting providers"},
    {"public-im", 0, OPT_VALUE, "on|off", "public IM providers (EnablePublicCloudAccess)"},
    {"xmpp", 0, OPT_VALUE, "on|off", "XMPP partners"},
    {"outside", 0, OPT_VALUE, "on|off", "remote access from outside (EnableOutsideAccess)"},
    {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_sessions[] = {
    {"partner", 0, OPT_VALUE, "DOMAIN", "only this partner domain's dialogs"},
    {"node", 0, OPT_VALUE, "ID", "only dialogs owned by this node"},
    {"counts", 0, OPT_FLAG, NULL, "counts per partner only, no list"},
    {NULL, 0, 0, NULL, NULL}};
static const struct ctl_optdef o_diagnose[] = {
    {"dns", 0, OPT_VALUE, "IP:PORT",
     "DNS server to ask (default: -c FILE's dns.servers, else resolv.conf)"},
    {"cert", 0, OPT_VALUE, "FILE", "our certificate to present (default: -c FILE's tls.cert)"},
    {"key", 0, OPT_VALUE, "FILE", "its private key"},
    {"ca", 0, OPT_VALUE, "FILE",
     "CA bundle judging the partner (default: -c FILE's tls.ca, else the system's)"},
    {"port", 0, OPT_VALUE, "N", "port of a configured edge FQDN (default 5061)"},
    {NULL, 0, 0, NULL, NULL}};

#define DOMAIN_VERBS(grp, noun, addopts, addargs)                                                  \
    {grp, "add", "DOMAIN" addargs, "add " noun, addopts, 1, 1, ctl_cmd_domain},                    \
        {grp, "remove", "DOMAIN", "remove " noun, o_none, 1, 1, ctl_cmd_domain},                   \
    {                                                                                              \
        grp, "list", "", "list the " noun "s", o_none, 0, 0, ctl_cmd_list                          \
    }

static const struct ctl_cmd commands[] = {
    {"policy", "show", "[--text]", "the pool's whole policy and its version", o_show, 0, 0,
     ctl_cmd_policy_show},
    {"policy", "set-access-edge", "KEY VALUE [KEY VALUE...]",
     "change access-edge settings (Set-CsAccessEdgeConfiguration)", o_none, 1, CTL_MAX_POS,
     ctl_cmd_set_access_edge},
    {"policy", "seed", "FILE [--force]",
     "seed an empty pool's policy from FILE's policy group (a node configuration)", o_seed, 1, 1,
     ctl_cmd_seed},
    DOMAIN_VERBS("allowed", "allowed domain (New-CsAllowedDomain)", o_allowed,
                 " [--edge FQDN] [--comment TEXT]"),
    DOMAIN_VERBS("blocked", "blocked domain (New-CsBlockedDomain)", o_comment, " [--comment TEXT]"),
    DOMAIN_VERBS("internal-domain", "internal domain (one of ours)", o_none, ""),
    {"provider", "add",
     "NAME --fqdn FQDN --type hosting|public [--verification LEVEL] "
     "[--disabled] [--domain DOMAIN]...",
     "add a hosting or public IM provider (New-CsHostingProvider, New-CsPublicProvider)",
     o_provider, 1, 1, ctl_cmd_provider},
    {"provider", "remove", "NAME", "remove a provider", o_none, 1, 1, ctl_cmd_provider},
    {"provider", "enable", "NAME", "enable a provider", o_none, 1, 1, ctl_cmd_provider},
    {"provider", "disable", "NAME", "disable a provider (kept, not federated with)", o_none, 1, 1,
     ctl_cmd_provider},
    {"provider", "list", "", "list the providers", o_none, 0, 0, ctl_cmd_list},
    {"xmpp", "add",
     "DOMAIN [--edge FQDN] [--type TYPE] [--tls NEG] [--sasl NEG] [--dialback NEG] "
     "[--comment TEXT]",
     "add an XMPP partner (New-CsXmppAllowedPartner)", o_xmpp, 1, 1, ctl_cmd_xmpp},
    {"xmpp", "remove", "DOMAIN", "remove an XMPP partner", o_none, 1, 1, ctl_cmd_xmpp},
    {"xmpp", "list", "", "list the XMPP partners", o_none, 0, 0, ctl_cmd_list},
    {"access-policy", "set",
     "NAME [--federation on|off] [--public-im on|off] [--xmpp on|off] "
     "[--outside on|off]",
     "create or change an external access policy (New-/Set-CsExternalAccessPolicy); "
     "\"global\" applies to every user without a grant",
     o_access, 1, 1, ctl_cmd_access_policy},
    {"access-policy", "remove", "NAME",
     "remove an external access policy (global: back to Lync's defaults, all off)", o_none, 1, 1,
     ctl_cmd_access_policy},
    {"access-policy", "list", "", "list the external access policies", o_none, 0, 0, ctl_cmd_list},
    {"user", "grant", "USER POLICY",
     "give an internal user an external access policy (Grant-CsExternalAccessPolicy)", o_none, 2, 2,
     ctl_cmd_user},
    {"user", "revoke", "USER", "take a user's grant away: the global policy applies", o_none, 1, 1,
     ctl_cmd_user},
    {"user", "list", "", "list the users' grants", o_none, 0, 0, ctl_cmd_list},
    {"pool", "status", "",
     "every node: liveness, age, addresses, version, load, drain, the policy version it runs",
     o_none, 0, 0, ctl_cmd_pool_status},
    {"node", "drain", "ID", "put a node in drain mode: no new work, it finishes what it has",
     o_none, 1, 1, ctl_cmd_node_drain},
    {"node", "undrain", "ID", "take a node out of drain mode", o_none, 1, 1, ctl_cmd_node_drain},
    {"sessions", NULL, "[--partner DOMAIN] [--node ID] [--counts]",
     "the pool's dialogs and subscriptions: counts per partner domain, and the list", o_sessions, 0,
     0, ctl_cmd_sessions},
    {"watch-list", NULL, "",
     "discovered partners flagged for throttling (over their rate or contacts cap)", o_none, 0, 0,
     ctl_cmd_watch_list},
    {"diagnose", NULL, "DOMAIN [--dns IP:PORT] [--cert FILE --key FILE] [--ca FILE] [--port N]",
     "federation troubleshooting: SRV, addresses, TLS to each edge, its certificate's names, "
     "EKUs and expiry, and what the policy says about DOMAIN; exit 0 when federation would work",
     o_diagnose, 1, 1, ctl_cmd_diagnose},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* ---- messages ---- */

static void json_error(struct ctl *c, const char *msg, int code)
{
    if (!c->o.json || c->json_done)
        return;
    jw_obj(&c->out, NULL);
    jw_bool(&c->out, "ok", false);
    jw_int(&c->out, "exit", code);
    jw_str(&c->out, "error", msg);
    jw_end_obj(&c->out);
    c->json_done = true;
}

int ctl_fail(struct ctl *c, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->last_err, sizeof c->last_err, "%s", msg);
    if (c->quiet)
        return CTL_FAIL;
    fprintf(stderr, "edgectl: %s\n", msg);
    json_error(c, msg, CTL_FAIL);
    return CTL_FAIL;
}

static void usage_line(FILE *f, const struct ctl_cmd *k)
{
    fprintf(f, "edgectl [OPTIONS] %s%s%s%s%s\n", k->group, k->verb ? " " : "",
            k->verb ? k->verb : "", k->args[0] ? " " : "", k->args);
}

int ctl_usage(struct ctl *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "edgectl: %s\nusage: ", msg);
    if (c->cmd) {
        usage_line(stderr, c->cmd);
        fprintf(stderr, "(edgectl %s%s%s --help for more)\n", c->cmd->group,
                c->cmd->verb ? " " : "", c->cmd->verb ? c->cmd->verb : "");
    } else {
        fprintf(stderr, "edgectl [OPTIONS] COMMAND [ARGS] (edgectl --help lists the commands)\n");
    }
    json_error(c, msg, CTL_USAGE);
    return CTL_USAGE;
}

void ctl_note(struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "edgectl: note: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

uint64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t ctl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- help ---- */

static void print_opts(const struct ctl_optdef *d)
{
    for (; d && d->name; d++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s%c%s--%s%s%s", d->short_name ? "-" : "",
                 d->short_name ? d->short_name : ' ', d->short_name ? ", " : "", d->name,
                 d->metavar ? " " : "", d->metavar ? d->metavar : "");
        printf("  %-28s %s\n", d->short_name ? lhs : lhs + 1, d->doc);
    }
}

static void help_globals(void)
{
    printf("\nglobal options (before or after the command words):\n");
    print_opts(ctl_global_opts);
    printf("  %-28s %s\n", "-h, --help", "this help; COMMAND --help: that command's");
    printf("\nexit codes: 0 ok, 1 refused or failed (a policy rule, Redis unreachable, federation\n"
           "would not work), 2 bad arguments (nothing was changed)\n");
}

static void help_all(void)
{
    printf("edgectl -- manage an edgepool Access Edge pool through its shared Redis state\n\n"
           "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        printf("  ");
        usage_line(stdout, &commands[i]);
    }
    help_globals();
}

static void help_group(const char *group)
{
    printf("edgectl %s:\n", group);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].group, group) == 0) {
            printf("  ");
            usage_line(stdout, &commands[i]);
            printf("      %s\n", commands[i].summary);
        }
}

static void help_cmd(const struct ctl_cmd *k)
{
    printf("usage: ");
    usage_line(stdout, k);
    printf("\n%s\n", k->summary);
    if (k->opts && k->opts->name) {
        printf("\noptions:\n");
        print_opts(k->opts);
    }
    if (k->run == ctl_cmd_set_access_edge) {
        size_t n;
        const struct policy_setting_def *d = policy_setting_defs(&n);
        printf("\nsettings (our key or Lync's property name; booleans true|false):\n");
        for (size_t i = 0; i < n; i++, d++) {
            const char *t = d->type == PKEY_BOOL           ? "true|false"
                            : d->type == PKEY_UINT         ? "number"
                            : d->type == PKEY_ROUTING      ? "dns_srv|default_route"
                            : d->type == PKEY_VERIFICATION ? "LEVEL"
                                                           : "FQDN|none";
            printf("  %-42s %-22s %s\n", d->name, t, d->doc);
        }
        printf("LEVEL: %s\n", CTL_VERIFICATION_CHOICES);
    }
    help_globals();
}

/* ---- the run ---- */

static const struct ctl_cmd *find_cmd(const char *group, const char *verb, bool *group_known)
{
    *group_known = false;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].group, group) != 0)
            continue;
        *group_known = true;
        if (!commands[i].verb || (verb && strcmp(commands[i].verb, verb) == 0))
            return &commands[i];
    }
    return NULL;
}

static bool group_has_verbs(const char *group)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].group, group) == 0)
            return commands[i].verb != NULL;
    return false;
}

static void verbs_of(const char *group, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].group, group) == 0 && commands[i].verb)
            used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
                                     used ? ", " : "", commands[i].verb);
}

/* The name of positional argument i in k's usage ("DOMAIN", "POLICY"). */
static void missing_word(const struct ctl_cmd *k, int i, char *buf, size_t len)
{
    const char *s = k->args;
    snprintf(buf, len, "argument");
    for (int n = 0; *s && *s != '[' && *s != '-'; n++) {
        size_t w = strcspn(s, " ");
        if (n == i) {
            snprintf(buf, len, "%.*s", (int)w, s);
            return;
        }
        s += w;
        while (*s == ' ')
            s++;
    }
}

static int run(struct ctl *c, int argc, char **argv)
{
    /* --help anywhere (before "--") asks for help on what precedes it. */
    bool help = false;
    int n = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return ctl_fail(c, "out of memory");
    for (int i = 1, dashdash = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            dashdash = 1;
        if (!dashdash && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0))
            help = true;
        else
            args[n++] = argv[i];
    }
    int rc, stop;
    struct ctl_args a;
    if ((rc = ctl_args_parse(c, NULL, n, args, &a, &stop)))
        goto out;
    if (stop >= n) {
        if (help) {
            help_all();
            rc = CTL_OK;
        } else {
            rc = ctl_usage(c, "no command given");
        }
        goto out;
    }
    const char *group = args[stop];
    const char *verb = stop + 1 < n && group_has_verbs(group) ? args[stop + 1] : NULL;
    bool known;
    const struct ctl_cmd *k = find_cmd(group, verb, &known);
    if (!k) {
        char verbs[256];
        verbs_of(group, verbs, sizeof verbs);
        if (known && help && (!verb || verb[0] == '-')) {
            help_group(group);
            rc = CTL_OK;
        } else if (!known) {
            rc = ctl_usage(c, "unknown command '%s'", group);
        } else if (!verb || verb[0] == '-') {
            rc = ctl_usage(c, "'%s' needs one of: %s", group, verbs);
        } else {
            rc = ctl_usage(c, "unknown command '%s %s' (%s: %s)", group, verb, group, verbs);
        }
        goto out;
    }
    c->cmd = k;
    if (help) {
        help_cmd(k);
        rc = CTL_OK;
        goto out;
    }
    int first = stop + (k->verb ? 2 : 1);
    if ((rc = ctl_args_parse(c, k->opts, n - first, args + first, &a, NULL)))
        goto out;
    if (a.npos < k->min_pos) {
        char what[64];
        missing_word(k, a.npos, what, sizeof what);
        rc = ctl_usage(c, "missing %s", what);
        goto out;
    }
    if (a.npos > k->max_pos) {
        rc = ctl_usage(c, "unexpected argument '%s'", a.pos[k->max_pos]);
        goto out;
    }
    if ((rc = ctl_config_finish(c)))
        goto out;
    if (!(c->base = event_base_new())) {
        rc = ctl_fail(c, "cannot create an event loop");
        goto out;
    }
    c->deadline_ms = ctl_mono_ms() + (uint64_t)c->o.timeout_ms;
    rc = k->run(c, &a);
out:
    free(args);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    log_init("edgectl", false, LOG_LVL_ERROR);
    static struct ctl c;
    jw_init(&c.out, stdout);
    int rc = run(&c, argc, argv);
    if (c.redis)
        redis_free(c.redis);
    if (c.base)
        event_base_free(c.base);
    for (int i = 0; i < c.n_own; i++)
        free(c.own_strs[i]);
    fflush(stdout);
    return rc;
}
