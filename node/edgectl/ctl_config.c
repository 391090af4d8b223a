/* ctl_config.c -- where edgectl's Redis options come from when the command
 * line does not say: EDGEPOOL_REDIS_PASSWORD, then -c FILE (a node's
 * configuration: its redis group, so edgectl talks to the Redis the nodes
 * use), then the defaults.
 *
 * Keys read from the redis group, as node_config.c names them (each
 * optional): addr, sentinels ("h:p,h:p", or a list of "h:p"), master_name,
 * username, password, sentinel_username, sentinel_password, db, tls, tls_ca,
 * tls_cert, tls_key, tls_server_name, pool. */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgectl/edgectl.h"

static const char *keep(struct ctl *c, const char *s)
{
    if (!s || c->n_own >= (int)(sizeof c->own_strs / sizeof c->own_strs[0]))
        return NULL;
    char *d = strdup(s);
    if (d)
        c->own_strs[c->n_own++] = d;
    return d;
}

/* The first of names that grp has as a string. */
static const char *str_of(const config_setting_t *grp, const char *const *names)
{
    for (; *names; names++) {
        const config_setting_t *s = config_setting_get_member(grp, *names);
        if (s && config_setting_type(s) == CONFIG_TYPE_STRING)
            return config_setting_get_string(s);
    }
    return NULL;
}

/* sentinels as a string, or a list/array of "h:p" strings joined with ','. */
static const char *sentinels_of(struct ctl *c, const config_setting_t *grp)
{
    const config_setting_t *s = config_setting_get_member(grp, "sentinels");
    if (!s)
        return NULL;
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        return keep(c, config_setting_get_string(s));
    if (!config_setting_is_list(s) && !config_setting_is_array(s))
        return NULL;
    char buf[1024] = "";
    size_t used = 0;
    for (int i = 0; i < config_setting_length(s); i++) {
        const char *v = config_setting_get_string_elem(s, i);
        if (v)
            used += (size_t)snprintf(buf + used, used < sizeof buf ? sizeof buf - used : 0, "%s%s",
                                     used ? "," : "", v);
    }
    return used && used < sizeof buf ? keep(c, buf) : NULL;
}

static int from_file(struct ctl *c)
{
    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, c->o.config)) {
        int rc;
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            rc = ctl_fail(c, "%s: cannot read the file", c->o.config);
        else
            rc = ctl_fail(c, "%s:%d: %s",
                          config_error_file(&cfg) ? config_error_file(&cfg) : c->o.config,
                          config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return rc;
    }
    struct ctl_opts *o = &c->o;
    const config_setting_t *r = config_lookup(&cfg, "redis");
    if (r && config_setting_is_group(r)) {
        static const char *const addr[] = {"addr", NULL}, *const master[] = {"master_name", NULL},
                                 *const user[] = {"username", NULL},
                                 *const pw[] = {"password", NULL}, *const ca[] = {"tls_ca", NULL},
                                 *const cert[] = {"tls_cert", NULL},
                                 *const key[] = {"tls_key", NULL}, *const pool[] = {"pool", NULL},
                                 *const tname[] = {"tls_server_name", NULL},
                                 *const suser[] = {"sentinel_username", NULL},
                                 *const spw[] = {"sentinel_password", NULL};
        if (!o->redis_addr && !o->sentinels) {
            o->sentinels = sentinels_of(c, r);
            if (!o->sentinels)
                o->redis_addr = keep(c, str_of(r, addr));
        }
        if (!o->master)
            o->master = keep(c, str_of(r, master));
        if (!o->user)
            o->user = keep(c, str_of(r, user));
        if (!o->password)
            o->password = keep(c, str_of(r, pw));
        if (!o->sentinel_user)
            o->sentinel_user = keep(c, str_of(r, suser));
        if (!o->sentinel_password)
            o->sentinel_password = keep(c, str_of(r, spw));
        if (!o->ca)
            o->ca = keep(c, str_of(r, ca));
        if (!o->cert)
            o->cert = keep(c, str_of(r, cert));
        if (!o->key)
            o->key = keep(c, str_of(r, key));
        if (!o->pool)
            o->pool = keep(c, str_of(r, pool));
        if (!o->tls_name)
            o->tls_name = keep(c, str_of(r, tname));
        int v;
        if (!o->tls && config_setting_lookup_bool(r, "tls", &v) == CONFIG_TRUE)
            o->tls = v != 0;
        if (!o->db && config_setting_lookup_int(r, "db", &v) == CONFIG_TRUE)
            o->db = v;
    }
    config_destroy(&cfg);
    return CTL_OK;
}

int ctl_config_finish(struct ctl *c)
{
    struct ctl_opts *o = &c->o;
    if (!o->password) {
        const char *env = getenv("EDGEPOOL_REDIS_PASSWORD");
        if (env && *env)
            o->password = env;
    }
    if (!o->sentinel_password) {
        const char *env = getenv("EDGEPOOL_SENTINEL_PASSWORD");
        if (env && *env)
            o->sentinel_password = env;
    }
    if (o->config) {
        int rc = from_file(c);
        if (rc)
            return rc;
    }
    if (!o->redis_addr && !o->sentinels)
        o->redis_addr = CTL_DEFAULT_REDIS;
    if (!o->pool)
        o->pool = CTL_DEFAULT_POOL;
    if (!o->timeout_ms)
        o->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    return CTL_OK;
}
