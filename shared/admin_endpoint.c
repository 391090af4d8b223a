/* admin_endpoint.c -- a daemon's admin endpoint as its admin group sets it
 * up, and POST /log-level (see admin_endpoint.h). Owns e->http and
 * e->listen. */
#include "admin_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t admin_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

uint64_t admin_endpoint_uptime_s(const struct admin_endpoint *e)
{
    return (clock_ms(CLOCK_MONOTONIC) - e->start_mono_ms) / 1000;
}

int admin_settings_check(const char *listen, const struct cfg_strlist *allow, const char **key,
                         int *index, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (listen && *listen && evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &sl) < 0) {
        *key = "admin.listen";
        *index = -1;
        snprintf(why, whylen, "\"%s\" is not an address:port", listen);
        return -1;
    }
    for (int i = 0; i < allow->n; i++) {
        struct admin_prefix p;
        if (admin_prefix_parse(allow->v[i], &p, why, whylen) < 0) {
            *key = "admin.allow";
            *index = i;
            return -1;
        }
    }
    return 0;
}

int admin_endpoint_start(struct admin_endpoint *e, struct event_base *base, const char *listen,
                         const struct cfg_strlist *allow, const char *token, char *err,
                         size_t errlen)
{
    memset(e, 0, sizeof(*e));
    e->start_wall_ms = clock_ms(CLOCK_REALTIME);
    e->start_mono_ms = clock_ms(CLOCK_MONOTONIC);
    if (!(e->listen = strdup(listen ? listen : ""))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!*e->listen) {
        LOG_INFO("admin", "admin endpoint off (admin.listen is empty)");
        return 0;
    }
    struct admin_http_opts o = {.listen = e->listen,
                                .allow = (const char *const *)allow->v,
                                .n_allow = (size_t)allow->n,
                                .token = token,
                                .component = "admin"};
    char why[300];
    if (!(e->http = admin_http_new(base, &o, why, sizeof(why)))) {
        snprintf(err, errlen, "admin endpoint: %s", why);
        return -1;
    }
    return 0;
}

void admin_endpoint_reload(struct admin_endpoint *e, const char *listen,
                           const struct cfg_strlist *allow, const char *token)
{
    const char *want = listen ? listen : "";
    if (e->listen && strcmp(want, e->listen) != 0)
        LOG_WARN("admin",
                 "admin.listen changed (\"%s\" -> \"%s\"): it takes effect at the next "
                 "restart",
                 e->listen, want);
    char err[300];
    if (e->http && admin_http_set_access(e->http, (const char *const *)allow->v, (size_t)allow->n,
                                         token, err, sizeof(err)) < 0)
        LOG_ERROR("admin", "reload: admin access rules kept: %s", err);
}

void admin_endpoint_free(struct admin_endpoint *e)
{
    admin_http_free(e->http);
    free(e->listen);
    e->http = NULL;
    e->listen = NULL;
}

int admin_reply_json(struct admin_req *r, int status)
{
    evbuffer_add(r->out, "\n", 1);
    r->content_type = "application/json";
    return status;
}

int admin_log_level_call(struct admin_req *r, char *asked, size_t asked_len)
{
    int l;
    if (!admin_req_param(r, "level", true, asked, asked_len))
        return ADMIN_LEVEL_MISSING;
    if ((l = log_level_parse(asked)) < 0)
        return ADMIN_LEVEL_BAD;
    enum log_level was = log_get_level();
    log_set_level((enum log_level)l);
    log_write(LOG_LVL_WARN, "admin", "log level is now %s (was %s), set by %s",
              log_level_name((enum log_level)l), log_level_name(was), r->peer);
    struct json_w w;
    json_init(&w, r->out);
    json_obj(&w, NULL);
    json_str(&w, "log_level", log_level_name((enum log_level)l));
    json_str(&w, "previous", log_level_name(was));
    json_end(&w);
    return admin_reply_json(r, 200);
}
