/* redis.h -- an asynchronous Redis client on the process's one event loop.
 *
 * Our own I/O (a libevent bufferevent, plain or OpenSSL for TLS to Redis)
 * with hiredis's protocol reader and command formatter, so nothing blocks
 * and TLS works with Debian's hiredis 0.14. It reconnects with exponential
 * backoff, authenticates (AUTH [user] password), selects the db, finds the
 * master through Redis Sentinel and follows a failover (+switch-master), and
 * keeps subscriptions on a second connection, resubscribed after every
 * reconnect. Commands sent while Redis is down fail at once (the callback
 * gets NULL and a reason): callers keep serving from what they cached. */
#ifndef EP_REDIS_H
#define EP_REDIS_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redis_opts {
    const char *addr;                        /* "host:port" of Redis; NULL when sentinels is set */
    const char *sentinels;                   /* "host:port,host:port", or NULL */
    const char *master_name;                 /* Sentinel's name of the master, default "mymaster" */
    const char *username;                    /* ACL user (Redis 6+), or NULL for the default user */
    const char *password;                    /* NULL: no AUTH */
    int db;                                  /* SELECT, default 0 */
    bool tls;                                /* TLS to Redis (and to the sentinels) */
    const char *tls_ca, *tls_cert, *tls_key; /* PEM files; cert/key for mutual TLS, may be NULL */
    int connect_timeout_ms;                  /* default 1000 */
    int command_timeout_ms; /* default 1000: no reply by then = the connection is dead */
    int backoff_min_ms;     /* default 100 */
    int backoff_max_ms;     /* default 5000 */
    /* Added by the implementation (zero = default, so existing initialisers
     * keep working): */
    const char *tls_server_name;   /* name the TLS certificate of every Redis and sentinel must
                                      carry (and SNI); NULL = the host connected to (an IP
                                      address is then checked against the certificate's IP SANs) */
    const char *sentinel_username; /* ACL user at the sentinels, or NULL for the default user */
    const char *sentinel_password; /* AUTH at the sentinels; NULL: none */
};

struct redis;

/* reply is valid only during the callback; NULL on error (err says why:
 * "redis down", "timeout", "shutting down", or the server's error text for
 * a REDIS_REPLY_ERROR, which is then also passed as reply). */
typedef void (*redis_reply_cb)(void *arg, const redisReply *reply, const char *err);
/* The connection came up (after connect, AUTH, SELECT) or went down. */
typedef void (*redis_state_cb)(void *arg, bool up);
/* A message on a subscribed channel. */
typedef void (*redis_message_cb)(void *arg, const char *channel, const char *payload, size_t len);

/* Starts connecting at once; on_state (may be NULL) tells up/down changes
 * (never called from inside redis_new; the initial state is down, so a first
 * failure calls nothing). "Up" means connected, AUTH, SELECT, ROLE (Sentinel
 * mode: must be "master") and a PING answered. Each outage is logged once
 * (WARN "Redis ADDR down: REASON; retrying in N ms", then "Redis ADDR up");
 * a different reason during the same outage gets one more line (INFO, WARN
 * for authentication/TLS/configuration problems). Reconnects back off from
 * backoff_min_ms doubling to backoff_max_ms, +-20% jitter. Idle connections
 * are PINGed every second, so a silent server is found dead within about
 * 1 s + command_timeout_ms. Host names are resolved with the shared c-ares
 * resolver (DNS only; "localhost" is 127.0.0.1). Sentinels get no AUTH.
 * The process must ignore SIGPIPE (libevent writes with writev).
 * NULL with err on bad options (both or neither of addr and sentinels, an
 * unreadable TLS file, a key not matching the certificate...). The caller
 * frees with redis_free. */
struct redis *redis_new(struct event_base *base, const struct redis_opts *o,
                        redis_state_cb on_state, void *state_arg, char *err, size_t errlen);
/* Every pending callback is called with NULL, "shutting down" before this
 * returns (on_state is not called). Safe to call from inside any of this
 * client's callbacks (reply, on_state, message): the memory is released when
 * that callback's dispatch unwinds; r must not be used after the call. */
void redis_free(struct redis *r);
bool redis_is_up(const struct redis *r);
/* The address in use ("host:port"), e.g. the master Sentinel named. */
const char *redis_current_addr(const struct redis *r);

/* Send a command (printf-like, hiredis's redisFormatCommand syntax: %s, %b
 * with pointer+length, %d...). cb (may be NULL) is called exactly once.
 * Returns 0, or -1 when the command could not be formatted (cb not called).
 * While down, cb runs before this returns with NULL, "redis down" (so a
 * callback that retries at once while down recurses: retry from a timer).
 * Commands are pipelined on one connection and answered in order. When one
 * gets no reply within command_timeout_ms the connection is declared dead:
 * every command in flight fails with "timeout", and it reconnects. Commands
 * in flight when the connection is lost fail with "redis down". May be called
 * from inside any callback. In Sentinel mode a READONLY error reply (the
 * master was demoted under us) is passed on, then the client reconnects. */
int redis_command(struct redis *r, redis_reply_cb cb, void *arg, const char *fmt, ...);
int redis_command_argv(struct redis *r, redis_reply_cb cb, void *arg, int argc, const char **argv,
                       const size_t *argvlen);

/* Subscribe to channel (kept across reconnects: SUBSCRIBE is sent again on
 * the subscription connection whenever it reconnects, which it does with the
 * data connection and on its own loss). Several callbacks may share a
 * channel. No unsubscribe: subscriptions live as long as r. Messages
 * published while the subscription connection is down are lost (Redis
 * pub/sub keeps nothing). Returns 0, or -1 (bad arguments, no memory). */
int redis_subscribe(struct redis *r, const char *channel, redis_message_cb cb, void *arg);

/* Counters since redis_new. commands: user commands sent to Redis; replies:
 * replies to them (error replies included); errors: user callbacks given an
 * err (error reply, "redis down", "timeout", "shutting down"); reconnects:
 * connection attempts after a failure or loss; failovers: times the master's
 * address changed (Sentinel's +switch-master, or a new answer on discovery).
 * Added: timeouts (connections declared dead for a late reply), messages
 * (pub/sub messages delivered), pending (user commands awaiting a reply). */
struct redis_stats {
    uint64_t commands, replies, errors, reconnects, failovers;
    bool up;
    uint64_t timeouts, messages, pending;
};
void redis_get_stats(const struct redis *r, struct redis_stats *out);

/* The string value of field in an HGETALL reply (a flat field, value, ...
 * array), or NULL when r is not such a reply or has no such field. Points
 * into r: valid as long as r is. */
const char *redis_hash_get(const redisReply *r, const char *field);

#endif
