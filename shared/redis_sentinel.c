/* redis_sentinel.c -- what Redis Sentinel and ROLE tell the client, read.
 *
 * Pure functions over hiredis replies and pub/sub payloads: the master's
 * address from SENTINEL get-master-addr-by-name, a +switch-master event,
 * a server's ROLE. The connection logic that asks is in redis.c. */
#include "redis_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

static int parse_port(const char *s, size_t len, uint16_t *out)
{
    unsigned long v = 0;
    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int redis_sentinel_master_reply(const redisReply *rep, struct redis_hostport *out, char *why,
                                size_t whylen)
{
    if (!rep) {
        snprintf(why, whylen, "no reply");
        return -1;
    }
    if (rep->type == REDIS_REPLY_NIL) {
        snprintf(why, whylen, "does not know the master");
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        bool noauth = strncmp(rep->str, "NOAUTH", 6) == 0;
        snprintf(why, whylen, "%s%s",
                 noauth ? "authentication required, no redis.sentinel_password configured: " : "",
                 rep->str);
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(why, whylen, "malformed reply to get-master-addr-by-name");
        return -1;
    }
    const redisReply *h = rep->element[0], *p = rep->element[1];
    if (h->len == 0 || h->len >= sizeof(out->host) || memchr(h->str, '\0', h->len) ||
        parse_port(p->str, p->len, &out->port) < 0) {
        snprintf(why, whylen, "malformed master address in reply");
        return -1;
    }
    memcpy(out->host, h->str, h->len);
    out->host[h->len] = '\0';
    return 0;
}

/* The next space-separated word of [*p, end), or len 0 when none is left. */
static size_t next_word(const char **p, const char *end, const char **word)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    const char *w = s;
    while (s < end && *s != ' ')
        s++;
    *word = w;
    *p = s;
    return (size_t)(s - w);
}

int redis_sentinel_switch_parse(const char *payload, size_t len, const char *master,
                                struct redis_hostport *to)
{
    const char *p = payload, *end = payload + len, *w[5];
    size_t wl[5];
    for (int i = 0; i < 5; i++) {
        wl[i] = next_word(&p, end, &w[i]);
        if (wl[i] == 0)
            return -1;
    }
    const char *rest;
    if (next_word(&p, end, &rest) != 0)
        return -1;
    uint16_t port;
    if (wl[3] >= sizeof(to->host) || parse_port(w[4], wl[4], &port) < 0)
        return -1;
    if (strlen(master) != wl[0] || memcmp(master, w[0], wl[0]) != 0)
        return 0;
    memcpy(to->host, w[3], wl[3]);
    to->host[wl[3]] = '\0';
    to->port = port;
    return 1;
}

int redis_role_reply(const redisReply *rep, const char **role)
{
    *role = "?";
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        (rep->element[0]->type != REDIS_REPLY_STRING &&
         rep->element[0]->type != REDIS_REPLY_STATUS))
        return -1;
    *role = rep->element[0]->str;
    return strcmp(*role, "master") == 0 ? 1 : 0;
}
