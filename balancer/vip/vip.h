/* vip.h -- the balancer's virtual IP: an L4 TCP proxy with source pinning.
 *
 * Listeners on cfg.vip_listen for each of cfg.vip_ports; every accepted
 * connection goes to the node its source address is pinned to (pin.h: a
 * local table in front of Redis, shared by every balancer), bytes are spliced
 * both ways untouched (TLS passes through), optionally after a PROXY v2
 * header (proxy_proto.h) so the node sees the partner's real address. A
 * connect that fails before any byte was forwarded is retried on another
 * healthy node (and the source re-pinned); a node that dies has every VIP
 * connection to it closed at once (a draining one keeps them). */
#ifndef EP_VIP_H
#define EP_VIP_H

#include <stddef.h>
#include <stdint.h>

struct balancer;
struct vip;

/* Bind the listeners and start proxying (b->health must exist; b->redis may
 * be NULL: local pins only). NULL with a reason in err (e.g. the address is
 * not local, a port is taken). With cfg.vip_enabled false: an inactive vip
 * (no listeners), not an error. The caller frees with vip_free. */
struct vip *vip_new(struct balancer *b, char *err, size_t errlen);
/* Close every connection and listener. NULL is fine. */
void vip_free(struct vip *v);

/* Counters since vip_new (for status output and the tests). */
struct vip_stats {
    uint64_t accepted;         /* connections accepted on the VIP */
    uint64_t active;           /* open now (accepted, not yet closed) */
    uint64_t refused_source;   /* over vip_max_conns_per_source */
    uint64_t refused_no_node;  /* no node could take it */
    uint64_t connect_failures; /* connects to a node that failed (refused, timeout) */
    uint64_t retries;          /* of which retried on another node */
    uint64_t repins;           /* sources moved to another node */
    uint64_t closed_node_dead; /* closed because their node died */
    uint64_t idle_timeouts;    /* closed after vip_idle_timeout_s without a byte */
    uint64_t bytes_to_nodes, bytes_to_clients;
    uint64_t pins; /* sources in the local pin table */
};
void vip_get_stats(const struct vip *v, struct vip_stats *out);
/* Every pinned source (pin.h pin_table_each), for the admin endpoint. */
void vip_pins_each(const struct vip *v,
                   void (*fn)(void *arg, const char *source, const char *node, unsigned conns),
                   void *arg);

#endif
