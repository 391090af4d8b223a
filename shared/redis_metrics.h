/* redis_metrics.h -- the Redis client's counters (redis.h, struct
 * redis_stats) as Prometheus families (admin_http.h), written the same way
 * by edge-node's and edge-balancer's /metrics under their own name prefix.
 * Owns nothing: it reads the counters the caller took. */
#ifndef EP_REDIS_METRICS_H
#define EP_REDIS_METRICS_H

#include <event2/buffer.h>
#include <stdbool.h>

struct redis_stats;

/* prefix + "up" (gauge), "commands_total", "errors_total",
 * "reconnects_total" (counters); with all, also "replies_total",
 * "failovers_total", "timeouts_total" and "pending" (gauge), in the order
 * up, commands, replies, errors, reconnects, failovers, timeouts, pending. */
void redis_metrics_write(struct evbuffer *b, const char *prefix, const struct redis_stats *s,
                         bool all);

#endif
