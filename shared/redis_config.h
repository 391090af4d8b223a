/* redis_config.h -- the redis group that edge-node and edge-balancer both
 * read: where the pool's Redis is (one address, or Sentinels and the
 * master's name), how to log in and which database, TLS to Redis, and the
 * pool's name in the keys.
 *
 * Its rows are written once, here, as a fragment (REDIS_CONFIG_KEYS) that
 * each daemon's settings table (node_config.c, balancer_config.c) splices in
 * where its redis group stands; the two rows whose meaning differs per daemon
 * (addr, pool) take their doc from the daemon. The values land in a
 * struct redis_config that each daemon's config struct holds as the member
 * `redis` (REDIS_CONFIG_MEMBER), whose fields are also reachable by their
 * flat names (cfg.redis_addr, cfg.redis_pool...). The strings belong to the
 * daemon's config struct: its cfg_table_free() frees them. */
#ifndef EP_REDIS_CONFIG_H
#define EP_REDIS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config_table.h"

struct redis_opts;

/* The fields, each name prefixed with p: once bare (struct redis_config),
 * once with "redis_" (the flat names in a daemon's config). Pointers, then
 * the int, then the bool: little padding. */
#define REDIS_CONFIG_FIELDS(p)                                                                     \
    char *p##addr;              /* "host:port" */                                                  \
    char *p##sentinels;         /* "host:port,host:port": Sentinel finds the master */             \
    char *p##master_name;       /* Sentinel's name of the master */                                \
    char *p##username;          /* ACL user */                                                     \
    char *p##password;          /* AUTH */                                                         \
    char *p##sentinel_username; /* ACL user at the sentinels */                                    \
    char *p##sentinel_password; /* AUTH at the sentinels */                                        \
    char *p##tls_ca;            /* PEM files for TLS to Redis and the sentinels */                 \
    char *p##tls_cert;                                                                             \
    char *p##tls_key;                                                                              \
    char *p##tls_server_name; /* the name their certificates carry (and SNI) */                    \
    char *p##pool;            /* the pool's name in the keys (ep:<pool>:...), "edgepool" */        \
    int p##db;                /* SELECT */                                                         \
    bool p##tls;

/* The redis group's values. Neither addr nor sentinels set: no Redis (a
 * lone node, a balancer with static nodes only). */
struct redis_config {
    REDIS_CONFIG_FIELDS()
};

/* The member a daemon's config struct holds: cfg.redis (a struct
 * redis_config, for the functions below) and, the same storage, the flat
 * names cfg.redis_addr... that the daemons' code reads. */
#define REDIS_CONFIG_MEMBER                                                                        \
    union {                                                                                        \
        struct redis_config redis;                                                                 \
        struct {                                                                                   \
            REDIS_CONFIG_FIELDS(redis_)                                                            \
        };                                                                                         \
    }

#define REDIS_CONFIG_KEY_(type, key, ctype, field, def, min, max, doc)                             \
    {                                                                                              \
        "redis." key, ctype, offsetof(type, redis.field), def, min, max, doc                       \
    }

/* The redis group's rows for the settings table of the config struct type
 * (which holds REDIS_CONFIG_MEMBER). addr_doc and pool_doc say what Redis
 * holds for that daemon and how its pool name is chosen. */
#define REDIS_CONFIG_KEYS(type, addr_doc, pool_doc)                                                \
    REDIS_CONFIG_KEY_(type, "addr", CFG_STR, addr, NULL, 0, 0, addr_doc),                          \
        REDIS_CONFIG_KEY_(                                                                         \
            type, "sentinels", CFG_STR, sentinels, NULL, 0, 0,                                     \
            "Redis Sentinels \"host:port,host:port\" that find the master (instead of addr)"),     \
        REDIS_CONFIG_KEY_(type, "master_name", CFG_STR, master_name, "mymaster", 0, 0,             \
                          "the master's name in Sentinel"),                                        \
        REDIS_CONFIG_KEY_(type, "username", CFG_STR, username, NULL, 0, 0, "ACL user (Redis 6+)"), \
        REDIS_CONFIG_KEY_(type, "password", CFG_STR, password, NULL, 0, 0,                         \
                          "password (AUTH); unset: none"),                                         \
        REDIS_CONFIG_KEY_(type, "sentinel_username", CFG_STR, sentinel_username, NULL, 0, 0,       \
                          "ACL user at the sentinels (Redis 6.2+ Sentinel); unset: the default "   \
                          "user"),                                                                 \
        REDIS_CONFIG_KEY_(type, "sentinel_password", CFG_STR, sentinel_password, NULL, 0, 0,       \
                          "password the sentinels require (their requirepass, or the "             \
                          "sentinel_username's); unset: none"),                                    \
        REDIS_CONFIG_KEY_(type, "db", CFG_INT, db, "0", 0, 1000, "database number (SELECT)"),      \
        REDIS_CONFIG_KEY_(type, "tls", CFG_BOOL, tls, "false", 0, 0,                               \
                          "TLS to Redis and to the sentinels"),                                    \
        REDIS_CONFIG_KEY_(type, "tls_ca", CFG_STR, tls_ca, NULL, 0, 0,                             \
                          "CA bundle Redis's certificate must chain to"),                          \
        REDIS_CONFIG_KEY_(type, "tls_cert", CFG_STR, tls_cert, NULL, 0, 0,                         \
                          "client certificate for mutual TLS to Redis (PEM)"),                     \
        REDIS_CONFIG_KEY_(type, "tls_key", CFG_STR, tls_key, NULL, 0, 0, "its private key (PEM)"), \
        REDIS_CONFIG_KEY_(type, "tls_server_name", CFG_STR, tls_server_name, NULL, 0, 0,           \
                          "name the certificates of Redis and the sentinels must carry (and "      \
                          "SNI); unset: the host connected to"),                                   \
        REDIS_CONFIG_KEY_(type, "pool", CFG_STR, pool, "edgepool", 0, 0, pool_doc)

/* What the table cannot judge: addr and sentinels exclude each other,
 * tls_cert and tls_key go together. 0, or -1 with *key the setting to point
 * at ("redis.sentinels", "redis.tls_cert", "redis.tls_key") and the reason in
 * why (without the key). */
int redis_config_check(const struct redis_config *r, const char **key, char *why, size_t whylen);
/* Whether a Redis is configured (addr or sentinels set and not empty). */
bool redis_config_enabled(const struct redis_config *r);
/* The client's options (redis.h) from r: pointers into r (keep r alive while
 * o is used), empty addr/sentinels as NULL, timeouts left at their default. */
void redis_config_opts(const struct redis_config *r, struct redis_opts *o);

#endif
