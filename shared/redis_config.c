/* redis_config.c -- the checks of the redis group and its translation into
 * the Redis client's options (see redis_config.h). Owns nothing. */
#include "redis_config.h"

#include <stdio.h>
#include <string.h>

#include "redis.h"

int redis_config_check(const struct redis_config *r, const char **key, char *why, size_t whylen)
{
    if (r->addr && r->sentinels) {
        *key = "redis.sentinels";
        snprintf(why, whylen, "set addr (one Redis) or sentinels (Sentinel), not both");
        return -1;
    }
    if (!r->tls_cert != !r->tls_key) {
        *key = r->tls_cert ? "redis.tls_cert" : "redis.tls_key";
        snprintf(why, whylen, "tls_cert and tls_key go together");
        return -1;
    }
    return 0;
}

bool redis_config_enabled(const struct redis_config *r)
{
    return (r->addr && *r->addr) || (r->sentinels && *r->sentinels);
}

void redis_config_opts(const struct redis_config *r, struct redis_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->addr = r->addr && *r->addr ? r->addr : NULL;
    o->sentinels = r->sentinels && *r->sentinels ? r->sentinels : NULL;
    o->master_name = r->master_name;
    o->username = r->username;
    o->password = r->password;
    o->sentinel_username = r->sentinel_username;
    o->sentinel_password = r->sentinel_password;
    o->db = r->db;
    o->tls = r->tls;
    o->tls_ca = r->tls_ca;
    o->tls_cert = r->tls_cert;
    o->tls_key = r->tls_key;
    o->tls_server_name = r->tls_server_name;
}
