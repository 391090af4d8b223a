/* redis_int.h -- internals of the Redis client shared by redis.c,
 * redis_sentinel.c and their unit tests: addresses, the reconnect backoff,
 * and what Sentinel's and ROLE's replies say. Pure functions, no I/O. */
#ifndef EP_REDIS_INT_H
#define EP_REDIS_INT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define REDIS_DEFAULT_PORT 6379
#define REDIS_SENTINEL_DEFAULT_PORT 26379

struct redis_hostport {
    char host[256]; /* a name, an IPv4 or an IPv6 address (no brackets) */
    uint16_t port;
};

/* Parses "host:port", "host", "[v6]:port", "[v6]" (port defaults to
 * default_port). Returns 0, or -1 with a reason in err. */
int redis_hostport_parse(const char *s, uint16_t default_port, struct redis_hostport *out,
                         char *err, size_t errlen);
/* "host:port", or "[v6]:port" for an IPv6 address, into buf. */
const char *redis_hostport_str(const struct redis_hostport *hp, char *buf, size_t len);

/* Delay before reconnect attempt number attempt (0 = first retry): min_ms
 * doubled per attempt up to max_ms, then jittered by +-20% with rnd (32
 * random bits) and kept within [min_ms, max_ms]. */
unsigned redis_backoff_ms(int min_ms, int max_ms, unsigned attempt, uint32_t rnd);

/* SENTINEL get-master-addr-by-name: a two-string array (host, port). Returns
 * 0 with *out set, or -1 with the reason in why (nil: the sentinel does not
 * know the master; an error reply; anything malformed). */
int redis_sentinel_master_reply(const redisReply *rep, struct redis_hostport *out, char *why,
                                size_t whylen);

/* A +switch-master message, "<name> <old-ip> <old-port> <new-ip> <new-port>".
 * Returns 1 with *to set when it is about master, 0 when it names another
 * master, -1 when it is malformed. */
int redis_sentinel_switch_parse(const char *payload, size_t len, const char *master,
                                struct redis_hostport *to);

/* ROLE: 1 if the reply says "master", 0 for any other role (*role then names
 * it: "slave", "sentinel"...), -1 if malformed (*role "?"). *role points into
 * rep or to a static string. */
int redis_role_reply(const redisReply *rep, const char **role);

#endif
