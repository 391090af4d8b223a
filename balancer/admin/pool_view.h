/* pool_view.h -- what the balancer's admin pages show about the pool beyond
 * health's own table: each node's registry hash (state, load, connections,
 * policy version, version, admin address, the partner edges it is federated
 * with), read from Redis every second; the health changes seen (counted per
 * node, and the recent ones kept as the pool page's "recent failovers").
 *
 * Registry nodes only have registry data; static nodes have health's view
 * alone. Nothing here is on the VIP's or the DNS responder's path. */
#ifndef EP_BALANCER_POOL_VIEW_H
#define EP_BALANCER_POOL_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct balancer;
struct pool_view;

#define PV_EVENTS 32 /* recent health changes kept */

/* A node's registry hash as last read. */
struct pv_node {
    char id[64];
    bool have;      /* a hash was read since the node appeared */
    char state[16]; /* active, drained, stopping */
    char version[32];
    char admin[80]; /* the node's admin endpoint, "" if none */
    uint64_t load, conns, policy_version, seen_ms, start_ms;
    char *partners;        /* "edge|domain,domain|in|out|txns;..." (owned), or NULL */
    uint64_t ups, downs;   /* health changes seen since the balancer started */
    bool tracked, healthy; /* the last healthy value seen */
};

/* One health change: a node went down (why says what health saw), came up,
 * joined or left. */
struct pv_event {
    uint64_t wall_ms;
    char node[64];
    char what[8]; /* "down", "up", "joined", "left" */
    char why[96];
};

/* Start reading (a timer on b's loop; b->health must exist). NULL on
 * allocation failure. */
struct pool_view *pool_view_new(struct balancer *b);
void pool_view_free(struct pool_view *v);

/* The registry data of node id, or NULL (not a registry node, or not read
 * yet). Valid until the next loop turn. */
const struct pv_node *pool_view_node(const struct pool_view *v, const char *id);
/* Every node record (gone nodes keep their counters): *out, count. */
size_t pool_view_nodes(const struct pool_view *v, const struct pv_node **out);
/* The recent events, newest first: up to max into out. Returns the count. */
size_t pool_view_events(const struct pool_view *v, struct pv_event *out, size_t max);
/* Registry reads done and failed since the start. */
void pool_view_reads(const struct pool_view *v, uint64_t *reads, uint64_t *failed);

/* One entry of a node's partners field ("edge|domains|in|out|txns"). */
struct pv_partner {
    char edge[256];
    char domains[512]; /* comma-separated */
    unsigned in, out, txns;
};
/* The next entry of *s (a partners field), *s advanced past it. false at the
 * end; malformed entries are skipped. */
bool pool_view_next_partner(const char **s, struct pv_partner *p);

#endif
