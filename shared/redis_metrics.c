/* redis_metrics.c -- the Redis client's counters in the Prometheus text
 * format (see redis_metrics.h). */
#include "redis_metrics.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "admin_http.h"
#include "redis.h"

void redis_metrics_write(struct evbuffer *b, const char *prefix, const struct redis_stats *s,
                         bool all)
{
    const struct {
        const char *name, *type, *help;
        uint64_t v;
        bool extra; /* only with all */
    } rows[] = {
        {"up", "gauge", "1 while the pool's Redis is connected", s->up ? 1 : 0, false},
        {"commands_total", "counter", "Commands sent to Redis", s->commands, false},
        {"replies_total", "counter",
         "Replies from Redis (round trips completed, error replies included)", s->replies, true},
        {"errors_total", "counter", "Redis commands that failed (error reply, Redis down, timeout)",
         s->errors, false},
        {"reconnects_total", "counter", "Connection attempts to Redis after a failure or a loss",
         s->reconnects, false},
        {"failovers_total", "counter", "Times the Redis master's address changed (Sentinel)",
         s->failovers, true},
        {"timeouts_total", "counter", "Redis connections declared dead for a late reply",
         s->timeouts, true},
        {"pending", "gauge", "Redis commands awaiting a reply", s->pending, true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].extra && !all)
            continue;
        char name[128];
        snprintf(name, sizeof(name), "%s%s", prefix, rows[i].name);
        prom_family_u64(b, name, rows[i].type, rows[i].help, rows[i].v);
    }
}
