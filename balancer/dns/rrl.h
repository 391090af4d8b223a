/* rrl.h -- response rate limiting, as NSD and BIND do it: a token bucket
 * per source prefix (/24 for IPv4, /56 for IPv6 by default), so the pool's
 * DNS cannot be used to amplify traffic toward a spoofed address. Answers
 * beyond the rate are dropped, except every slip-th one, which goes out
 * empty with TC=1 so that a real client behind the prefix retries over TCP
 * (which is never limited). A fixed table of buckets: no allocation per
 * query; a prefix colliding with another takes the slot over. */
#ifndef EP_DNS_RRL_H
#define EP_DNS_RRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rrl;

enum rrl_verdict { RRL_PASS, RRL_DROP, RRL_SLIP };

/* rate: answers per second per prefix (the bucket holds one second's
 * worth); slip: 0 drop all, N every Nth goes out truncated. NULL on no
 * memory. */
struct rrl *rrl_new(unsigned rate, unsigned slip, unsigned v4_prefix, unsigned v6_prefix);
void rrl_free(struct rrl *r);
/* Change the settings in place (SIGHUP); the buckets are kept. */
void rrl_configure(struct rrl *r, unsigned rate, unsigned slip, unsigned v4_prefix,
                   unsigned v6_prefix);

/* May an answer go to src now (now_ms: a monotonic millisecond clock)? When
 * it is the first limited answer of a prefix since it was last within its
 * rate, *started is set (the caller logs it once). */
enum rrl_verdict rrl_check(struct rrl *r, const struct sockaddr *src, uint64_t now_ms,
                           bool *started);

/* The prefix of src as text ("192.0.2.0/24"), for a log line. */
void rrl_prefix_text(const struct rrl *r, const struct sockaddr *src, char *out, size_t len);

struct rrl_stats {
    uint64_t passed, dropped, slipped;
};
void rrl_get_stats(const struct rrl *r, struct rrl_stats *out);

#endif
