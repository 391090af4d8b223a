/* main.c -- edge-balancer: command line, start-up, signals, the event loop.
 *
 *   edge-balancer [-c FILE] [-f] [--check-config] [--print-config] [--help] [--version]
 *
 * One loop runs node health (balancer/health/), the authoritative DNS for
 * the pool's zone (balancer/dns/) and the VIP (balancer/vip/). With no file
 * it starts on its embedded default: DNS on 127.0.0.1:5353 for contoso.test,
 * the VIP on 127.0.0.2, no Redis, no static nodes. SIGTERM/SIGINT stop;
 * SIGHUP reloads the zone, health and nodes settings (a bad file is refused
 * and the running one kept; listen addresses, the VIP and Redis need a
 * restart); SIGUSR1 cycles the log level. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/balancer_admin.h"
#include "balancer.h"
#include "daemon.h"
#include "dns/responder.h"
#include "health/health.h"
#include "log.h"
#include "redis.h"

#if __has_include("vip/vip.h")
#include "vip/vip.h"
#define HAVE_VIP 1
#else
#define HAVE_VIP 0
#endif

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

static void on_redis_state(void *arg, bool up)
{
    struct balancer *b = arg;
    LOG_DEBUG("main", "Redis %s is %s", redis_current_addr(b->redis), up ? "up" : "down");
    health_on_redis_state(b->health, up);
}

static int start_redis(struct balancer *b, char *err, size_t errlen)
{
    const struct balancer_config *c = &b->cfg;
    if (!balancer_config_has_redis(c))
        return 0;
    struct redis_opts o;
    redis_config_opts(&c->redis, &o);
    b->redis = redis_new(b->base, &o, on_redis_state, b, err, errlen);
    return b->redis ? 0 : -1;
}

/* ---- SIGHUP ---- */

/* Settings that need a restart: the running value is kept (the VIP and the
 * Redis client hold on to theirs), and a change is said in the log. */
static bool needs_restart(const char *path)
{
    return strncmp(path, "vip.", 4) == 0 || strncmp(path, "redis.", 6) == 0 ||
           strcmp(path, "dns.listen") == 0 || strcmp(path, "dns.enabled") == 0 ||
           strcmp(path, "balancer.id") == 0 || strcmp(path, "balancer.syslog") == 0;
}

static bool same_value(const struct cfg_key *k, const void *a, const void *b)
{
    switch (k->type) {
    case CFG_STR: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return (!x && !y) || (x && y && strcmp(x, y) == 0);
    }
    case CFG_INT:
        return *(const int *)a == *(const int *)b;
    case CFG_BOOL:
        return *(const bool *)a == *(const bool *)b;
    case CFG_STRLIST: {
        const struct cfg_strlist *x = a, *y = b;
        if (x->n != y->n)
            return false;
        for (int i = 0; i < x->n; i++)
            if (strcmp(x->v[i], y->v[i]) != 0)
                return false;
        return true;
    }
    }
    return false;
}

static void swap_field(const struct cfg_key *k, struct balancer_config *a,
                       struct balancer_config *b)
{
    char *x = (char *)a + k->offset, *y = (char *)b + k->offset;
    size_t size = k->type == CFG_STR    ? sizeof(char *)
                  : k->type == CFG_INT  ? sizeof(int)
                  : k->type == CFG_BOOL ? sizeof(bool)
                                        : sizeof(struct cfg_strlist);
    char tmp[sizeof(struct cfg_strlist)];
    memcpy(tmp, x, size);
    memcpy(x, y, size);
    memcpy(y, tmp, size);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct balancer *b = arg;
    char err[512];
    LOG_INFO("main", "SIGHUP: reloading %s",
             b->config_path ? b->config_path : "(embedded default)");
    struct balancer_config fresh;
    if (balancer_config_load(&fresh, b->config_path, err, sizeof(err)) < 0) {
        LOG_ERROR("main", "reload refused, keeping the running configuration: %s", err);
        balancer_config_free(&fresh);
        return;
    }
    for (const struct cfg_key *k = balancer_config_keys; k->path; k++) {
        if (!needs_restart(k->path))
            continue;
        if (!same_value(k, (char *)&fresh + k->offset, (char *)&b->cfg + k->offset))
            LOG_WARN("main", "%s changed: it takes effect at the next restart", k->path);
        swap_field(k, &fresh, &b->cfg);
    }
    struct balancer_config old = b->cfg;
    b->cfg = fresh;
    if ((b->health && health_reload(b->health, err, sizeof(err)) < 0) ||
        (b->dns && dns_server_reload(b->dns, err, sizeof(err)) < 0)) {
        LOG_ERROR("main", "reload failed, keeping the running configuration: %s", err);
        b->cfg = old;
        if (b->health)
            health_reload(b->health, err, sizeof(err));
        if (b->dns)
            dns_server_reload(b->dns, err, sizeof(err));
        /* the restart-only values went into fresh: give them back before freeing it */
        for (const struct cfg_key *k = balancer_config_keys; k->path; k++)
            if (needs_restart(k->path))
                swap_field(k, &fresh, &b->cfg);
        balancer_config_free(&fresh);
        return;
    }
    balancer_config_free(&old);
    balancer_admin_reload(b);
    log_set_level((enum log_level)log_level_parse(b->cfg.log_level));
    LOG_INFO("main", "reloaded: zone %s, %s checks every %d ms, %d static node(s)", b->cfg.dns_zone,
             b->cfg.health_check, b->cfg.health_interval_ms, b->cfg.static_nodes.n);
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
    struct balancer *b = arg;
    LOG_INFO("main", "SIG%s: stopping", sig == SIGINT ? "INT" : "TERM");
    b->stopping = true;
    event_base_loopbreak(b->base);
}

/* ---- start and stop ---- */

static int balancer_start(struct balancer *b, char *err, size_t errlen)
{
    if (start_redis(b, err, errlen) < 0)
        return -1;
    if (!(b->health = health_new(b, err, errlen)))
        return -1;
    if (b->cfg.dns_enabled && !(b->dns = dns_server_new(b, err, errlen)))
        return -1;
#if HAVE_VIP
    if (!(b->vip = vip_new(b, err, errlen)))
        return -1;
#else
    if (b->cfg.vip_enabled)
        LOG_WARN("main", "this build has no VIP (balancer/vip/): vip settings ignored");
#endif
    return balancer_admin_start(b, err, errlen); /* the admin endpoint, the pool page */
}

/* Listeners first (they may hold health listeners and Redis commands),
 * health, then Redis: its pending callbacks run while it is freed, and
 * nothing that could get them is gone. */
static void balancer_stop(struct balancer *b)
{
    balancer_admin_free(b);
#if HAVE_VIP
    vip_free(b->vip);
#endif
    b->vip = NULL;
    dns_server_free(b->dns);
    b->dns = NULL;
    health_free(b->health);
    b->health = NULL;
    if (b->redis)
        redis_free(b->redis);
    b->redis = NULL;
}

static void print_config(FILE *out)
{
    cfg_table_print(balancer_config_keys, out);
}

int main(int argc, char **argv)
{
    static const struct daemon_desc desc = {
        "edge-balancer",
        "Signals: TERM stops, HUP reloads the zone, health and nodes settings, USR1 cycles\n"
        "the log level.\n",
        print_config};
    struct daemon_args args;
    int rc = daemon_args_parse(&desc, argc, argv, &args);
    if (rc >= 0)
        return rc;
    const char *path = args.config_path;
    char err[512] = "";
    struct balancer bal;
    memset(&bal, 0, sizeof(bal));
    struct balancer *b = &bal;
    b->config_path = path;
    if (balancer_config_load(&b->cfg, path, err, sizeof(err)) < 0) {
        balancer_config_free(&b->cfg);
        return daemon_config_refused(&desc, err);
    }
    if (args.check) {
        balancer_config_free(&b->cfg);
        return daemon_config_ok(path);
    }
    daemon_log_init(&desc, b->cfg.log_syslog, b->cfg.log_level);
    b->base = event_base_new();
    if (!b->base || balancer_start(b, err, sizeof(err)) < 0) {
        LOG_ERROR("main", "cannot start: %s", err[0] ? err : "out of memory");
        balancer_stop(b);
        if (b->base)
            event_base_free(b->base);
        balancer_config_free(&b->cfg);
        return 1;
    }
    if (daemon_detach(args.foreground) < 0)
        return 1;
    struct daemon_signals sig;
    rc = daemon_signals_add(&sig, b->base, on_sigterm, on_sighup, b);
    if (rc < 0) {
        LOG_ERROR("main", "cannot start: cannot watch the signals (out of memory)");
    } else {
        LOG_INFO("main", "edge-balancer %s (%s) started: %s%s, %s", EDGEPOOL_VERSION, b->cfg.id,
                 balancer_config_has_redis(&b->cfg) ? "pool " : "static nodes only",
                 balancer_config_has_redis(&b->cfg) ? b->cfg.redis_pool : "",
                 path ? path : "embedded default configuration");
        event_base_dispatch(b->base);
    }
    daemon_signals_free(&sig);
    balancer_stop(b);
    event_base_free(b->base);
    balancer_config_free(&b->cfg);
    LOG_INFO("main", "stopped");
    return rc < 0 ? 1 : 0;
}
