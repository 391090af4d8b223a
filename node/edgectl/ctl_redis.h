/* ctl_redis.h -- edgectl's use of the shared async Redis client: commands
 * sent on the private loop and waited for, with copies of their replies.
 *
 * The client (shared/redis.h) is the nodes' own, so TLS, AUTH and Sentinel
 * behave the same here. A command's reply lives only during its callback; we
 * keep a deep copy the caller frees with ctl_reply_free. */
#ifndef EP_EDGECTL_CTL_REDIS_H
#define EP_EDGECTL_CTL_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "redis.h" /* redis_hash_get: fields of HGETALL replies */

struct ctl;

/* One command in flight: filled in by its callback. */
struct ctl_pending {
    redisReply *reply; /* our copy (an error reply too), or NULL */
    char err[256];     /* why there is no reply, or the server's error text */
    bool done;
};

/* Connect (once per run) and wait until the connection is up, at most until
 * c->deadline_ms. CTL_OK, or CTL_FAIL with "cannot reach Redis at ADDR"
 * printed. */
int ctl_redis_open(struct ctl *c);
/* The address in use, for messages: the master Sentinel named, else the
 * configured address or sentinels. */
const char *ctl_redis_addr(const struct ctl *c);

/* Queue a command (argv strings, NUL-terminated). p must stay alive until
 * ctl_redis_wait returns. 0 or -1 (p->err says why, p->done set). */
int ctl_redis_send(struct ctl *c, struct ctl_pending *p, int argc, const char *const *argv);
/* Run the loop until every p[0..n) is done or the deadline passes; on the
 * deadline the client is torn down (every callback runs, with "timeout").
 * true when all got a reply. */
bool ctl_redis_wait(struct ctl *c, struct ctl_pending *p, size_t n);
/* One command, waited for: its reply (error replies included), or NULL with
 * err. ctl_redisf takes words separated by the argument list, NULL-ended. */
redisReply *ctl_redis(struct ctl *c, char *err, size_t errlen, int argc, const char *const *argv);
redisReply *ctl_redisv(struct ctl *c, char *err, size_t errlen, ...) __attribute__((sentinel));
void ctl_reply_free(redisReply *r);
void ctl_pending_clear(struct ctl_pending *p, size_t n); /* frees the replies */

#endif
