/* args.c -- edgectl's option parsing: a command's own options, then the
 * global ones, anywhere after the command words.
 *
 * "--name value", "--name=value" and "-c value"; "--" ends the options. A
 * command's option wins over a global one of the same name (diagnose --ca is
 * the CA judging partners; before the command words --ca is Redis's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgectl/edgectl.h"
#include "edgectl/policy_text.h"
#include "federation/policy.h"

const struct ctl_optdef ctl_global_opts[] = {
    {"redis", 0, OPT_VALUE, "HOST:PORT", "Redis address (default " CTL_DEFAULT_REDIS ")"},
    {"sentinels", 0, OPT_VALUE, "H:P,H:P", "find the master through these Redis Sentinels"},
    {"master", 0, OPT_VALUE, "NAME", "Sentinel's name of the master (default mymaster)"},
    {"user", 0, OPT_VALUE, "NAME", "Redis ACL user"},
    {"password", 0, OPT_VALUE, "PW", "Redis password (or EDGEPOOL_REDIS_PASSWORD)"},
    {"sentinel-user", 0, OPT_VALUE, "NAME", "ACL user at the sentinels"},
    {"sentinel-password", 0, OPT_VALUE, "PW",
     "password the sentinels require (or EDGEPOOL_SENTINEL_PASSWORD)"},
    {"tls", 0, OPT_FLAG, NULL, "TLS to Redis"},
    {"ca", 0, OPT_VALUE, "FILE", "CA bundle for TLS to Redis"},
    {"tls-name", 0, OPT_VALUE, "NAME", "name Redis's certificate must carry (default: the host)"},
    {"cert", 0, OPT_VALUE, "FILE", "client certificate for TLS to Redis"},
    {"key", 0, OPT_VALUE, "FILE", "its private key"},
    {"db", 0, OPT_VALUE, "N", "Redis database (default 0)"},
    {"pool", 0, OPT_VALUE, "NAME",
     "the pool's name in its keys ep:NAME:... (default " CTL_DEFAULT_POOL ")"},
    {"config", 'c', OPT_VALUE, "FILE",
     "take the options above from a node configuration's redis group"},
    {"json", 0, OPT_FLAG, NULL, "one JSON document on stdout, for scripts"},
    {"timeout", 0, OPT_VALUE, "SECONDS",
     "give up on Redis (and each diagnose step) after this (default 5)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct ctl_optdef *find(const struct ctl_optdef *defs, const char *name, size_t len,
                                     char short_name)
{
    for (const struct ctl_optdef *d = defs; d && d->name; d++) {
        if (short_name ? d->short_name == short_name
                       : strlen(d->name) == len && strncmp(d->name, name, len) == 0)
            return d;
    }
    return NULL;
}

/* Store a global option's value in c->o. */
static int set_global(struct ctl *c, const struct ctl_optdef *d, const char *v)
{
    struct ctl_opts *o = &c->o;
    const char *n = d->name;
    if (strcmp(n, "redis") == 0)
        o->redis_addr = v;
    else if (strcmp(n, "sentinels") == 0)
        o->sentinels = v;
    else if (strcmp(n, "master") == 0)
        o->master = v;
    else if (strcmp(n, "user") == 0)
        o->user = v;
    else if (strcmp(n, "password") == 0)
        o->password = v;
    else if (strcmp(n, "sentinel-user") == 0)
        o->sentinel_user = v;
    else if (strcmp(n, "sentinel-password") == 0)
        o->sentinel_password = v;
    else if (strcmp(n, "tls") == 0)
        o->tls = true;
    else if (strcmp(n, "tls-name") == 0)
        o->tls_name = v;
    else if (strcmp(n, "ca") == 0)
        o->ca = v;
    else if (strcmp(n, "cert") == 0)
        o->cert = v;
    else if (strcmp(n, "key") == 0)
        o->key = v;
    else if (strcmp(n, "pool") == 0) {
        if (!*v || strpbrk(v, ": \t*?[]"))
            return ctl_usage(c,
                             "--pool '%s': a pool name is not empty and has no ':', blanks or "
                             "glob characters",
                             v);
        o->pool = v;
    } else if (strcmp(n, "config") == 0)
        o->config = v;
    else if (strcmp(n, "json") == 0)
        o->json = true;
    else if (strcmp(n, "db") == 0) {
        char *end;
        long x = strtol(v, &end, 10);
        if (!*v || *end || x < 0 || x > 65535)
            return ctl_usage(c, "--db '%s' is not a database number", v);
        o->db = (int)x;
    } else if (strcmp(n, "timeout") == 0) {
        char *end;
        double s = strtod(v, &end);
        if (!*v || *end || !(s > 0) || s > 3600)
            return ctl_usage(c, "--timeout '%s' is not a number of seconds (0.1..3600)", v);
        o->timeout_ms = (int)(s * 1000);
        if (o->timeout_ms < 100)
            o->timeout_ms = 100;
    }
    return 0;
}

int ctl_args_parse(struct ctl *c, const struct ctl_optdef *defs, int argc, char **argv,
                   struct ctl_args *a, int *stop)
{
    memset(a, 0, sizeof *a);
    a->defs = defs;
    bool opts_done = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (opts_done || s[0] != '-' || s[1] == '\0') {
            if (stop) {
                *stop = i;
                return 0;
            }
            if (a->npos >= CTL_MAX_POS)
                return ctl_usage(c, "too many arguments");
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            opts_done = true;
            continue;
        }
        const char *name, *eq = NULL;
        size_t len;
        char sn = 0;
        if (s[1] == '-') {
            name = s + 2;
            eq = strchr(name, '=');
            len = eq ? (size_t)(eq - name) : strlen(name);
        } else {
            if (s[2] != '\0')
                return ctl_usage(c, "unknown option %s", s);
            name = s + 1;
            len = 1;
            sn = s[1];
        }
        const struct ctl_optdef *d = find(defs, name, len, sn);
        bool global = false;
        if (!d) {
            d = find(ctl_global_opts, name, len, sn);
            global = d != NULL;
        }
        if (!d)
            return ctl_usage(c, "unknown option %s", s);
        const char *v = "1";
        if (d->kind == OPT_FLAG) {
            if (eq)
                return ctl_usage(c, "option --%s takes no value", d->name);
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return ctl_usage(c, "option --%s needs a value (%s)", d->name, d->metavar);
        }
        if (global) {
            int rc = set_global(c, d, v);
            if (rc)
                return rc;
            continue;
        }
        int k = (int)(d - defs);
        if (k >= CTL_MAX_OPTS)
            return ctl_usage(c, "internal: too many options");
        if (d->kind == OPT_LIST) {
            if (a->nlist[k] >= CTL_MAX_LIST)
                return ctl_usage(c, "too many --%s", d->name);
            a->list[k][a->nlist[k]++] = v;
        }
        a->val[k] = v;
    }
    if (stop)
        *stop = argc;
    return 0;
}

static int index_of(const struct ctl_args *a, const char *name)
{
    for (const struct ctl_optdef *d = a->defs; d && d->name; d++)
        if (strcmp(d->name, name) == 0)
            return (int)(d - a->defs);
    return -1;
}

const char *ctl_arg(const struct ctl_args *a, const char *name)
{
    int k = index_of(a, name);
    return k < 0 ? NULL : a->val[k];
}

bool ctl_flag(const struct ctl_args *a, const char *name)
{
    return ctl_arg(a, name) != NULL;
}

const char *const *ctl_arg_list(const struct ctl_args *a, const char *name, int *n)
{
    int k = index_of(a, name);
    *n = k < 0 ? 0 : a->nlist[k];
    return k < 0 ? NULL : a->list[k];
}

int ctl_parse_bool(const char *s)
{
    static const char *const yes[] = {"on", "true", "yes", "1"}, *const no[] = {"off", "false",
                                                                                "no", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* ---- checks of argument values, before anything touches Redis ---- */

int ctl_check_domain(struct ctl *c, const char *what, const char *v, char *out, size_t len)
{
    if (!v || !policy_domain_valid(slice_cstr(v)))
        return ctl_usage(c, "%s '%s' is not a valid domain name", what, v ? v : "");
    ptext_norm_name(out, len, v);
    return 0;
}

int ctl_check_text(struct ctl *c, const char *what, const char *v)
{
    if (strlen(v) > 512)
        return ctl_usage(c, "%s is longer than 512 characters", what);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return ctl_usage(c, "%s contains control characters", what);
    return 0;
}

int ctl_check_enum(struct ctl *c, const char *what, const char *v, int (*parse)(const char *),
                   const char *choices)
{
    if (v && parse(v) < 0)
        return ctl_usage(c, "unknown %s '%s' (%s)", what, v, choices);
    return 0;
}
