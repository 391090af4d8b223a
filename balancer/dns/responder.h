/* responder.h -- the balancer's authoritative DNS server for the pool's
 * zone, over UDP (recvmmsg/sendmmsg batches, response rate limiting) and TCP
 * (RFC 7766: length-prefixed, several queries per connection, an idle
 * timeout), on the process's one loop. The answers come from a struct
 * dns_zone rebuilt once per loop turn after health reports a change, so a
 * node that goes down leaves the answers as soon as health knows. */
#ifndef EP_DNS_RESPONDER_H
#define EP_DNS_RESPONDER_H

#include <stddef.h>
#include <stdint.h>

struct balancer;
struct dns_server;

/* Bind b->cfg.dns_listen (UDP and TCP), build the zone from b->health (may
 * be NULL: no nodes) and listen to its changes. NULL with err when the
 * address cannot be bound or the zone cannot be built. */
struct dns_server *dns_server_new(struct balancer *b, char *err, size_t errlen);
void dns_server_free(struct dns_server *d);

/* Take b->cfg's dns settings again (SIGHUP): the zone, TTLs, SOA, RRL, TCP
 * limits; a changed listen address needs a restart (said in the log). 0, or
 * -1 with err and the running zone kept. */
int dns_server_reload(struct dns_server *d, char *err, size_t errlen);

/* Answers by question type and rcode (the admin endpoint's metrics): the
 * indexes and their names from dns_stats_qtype_name / dns_stats_rcode_name. */
#define DNS_STATS_QTYPES 8
#define DNS_STATS_RCODES 8
const char *
dns_stats_qtype_name(int i); /* "A", "AAAA", "SRV", "NS", "SOA", "ANY", "AXFR", "other" */
const char *dns_stats_rcode_name(int i); /* "NOERROR", ..., "BADVERS", "other" */

struct dns_stats {
    uint64_t udp_queries, tcp_queries;
    uint64_t noerror, nxdomain, refused, formerr, notimp, badvers;
    uint64_t truncated; /* answers sent with TC=1 because they did not fit */
    uint64_t ignored;   /* shorter than a header, or a response */
    uint64_t rrl_dropped, rrl_slipped;
    uint64_t tcp_accepted, tcp_refused;
    uint64_t rebuilds;
    uint64_t answers[DNS_STATS_QTYPES][DNS_STATS_RCODES];
};
void dns_server_get_stats(const struct dns_server *d, struct dns_stats *out);

#endif
