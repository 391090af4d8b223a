/* zone.h -- the pool's zone as ready-made answers.
 *
 * dns_zone_build() turns the settings and the nodes' health into an
 * immutable set of answer templates, one per (name, type) plus a NODATA one
 * per name, each the bytes that follow the question, with names compressed
 * against the question; dns_zone_answer() then only copies: the header, the
 * question as the client sent it, the template (the A/AAAA records of the
 * pool name rotated by the caller's counter), the OPT. The responder
 * rebuilds the zone when health changes, never per query.
 *
 * Records: SOA and NS at the apex (glue for in-zone name servers);
 * _sipfederationtls._tcp and _sip._tls SRV 0 0 sip_port pool_fqdn,
 * _xmpp-server._tcp SRV 0 0 xmpp_port pool_fqdn (target's A/AAAA in the
 * additional section); pool_fqdn A/AAAA of the healthy nodes (all known nodes
 * when none is healthy and fail_open is set); <id>.<zone> A/AAAA per node;
 * empty non-terminals answer NODATA; other names in the zone NXDOMAIN (SOA
 * in authority, TTL min(ttl, soa_minimum)); names outside REFUSED. ANY gets
 * one RRset (RFC 8482: the SOA at the apex). */
#ifndef EP_DNS_ZONE_H
#define EP_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balancer_config.h"
#include "dns/wire.h"
#include "health/health.h"

struct dns_zone;

/* Build from c's dns settings (and health_fail_open) and the nodes (slots
 * with an empty id are skipped). serial: the SOA serial to use when
 * c->dns_soa_serial is 0. NULL with err on failure (a name that does not
 * fit, no memory). The caller frees with dns_zone_free. */
struct dns_zone *dns_zone_build(const struct balancer_config *c, const struct health_node *nodes,
                                size_t n, uint32_t serial, char *err, size_t errlen);
void dns_zone_free(struct dns_zone *z);

/* What the last build put in the pool name's A/AAAA answers. */
struct dns_zone_info {
    size_t nodes;    /* known nodes */
    size_t healthy;  /* healthy among them */
    size_t answered; /* addresses in the pool name's A + AAAA answers */
    bool fail_open;  /* none healthy: every node answered */
    uint32_t serial;
    size_t names, rrsets;
};
void dns_zone_info(const struct dns_zone *z, struct dns_zone_info *out);

/* Answer the query q parsed from pkt into out (cap bytes, at least 512).
 * limit: the largest answer allowed (dns_udp_limit over UDP, 65535 over
 * TCP); an answer that does not fit goes without its additional section,
 * else empty with TC=1. payload: our EDNS UDP size, for the OPT. rotate: a
 * counter the caller increments per answer (rotates the pool's A/AAAA).
 * Returns the answer's length; *rcode and *tc say what it was. */
size_t dns_zone_answer(const struct dns_zone *z, const uint8_t *pkt, const struct dns_query *q,
                       uint8_t *out, size_t cap, size_t limit, uint16_t payload, uint32_t rotate,
                       int *rcode, bool *tc);

#endif
