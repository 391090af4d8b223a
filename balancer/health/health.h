/* health.h -- which nodes of the pool may take new work, and how loaded.
 *
 * The node set comes from the pool's Redis registry (ep:<pool>:nodes, each
 * node's hash and its alive key) refreshed every check interval, plus any
 * static nodes in the balancer's configuration (a pool without Redis). Each
 * node is also checked actively (TCP connect, TLS handshake, or a SIP OPTIONS
 * over TLS to its federation port) every interval with HAProxy's rise/fall
 * counting. A node is healthy when it is alive in the registry (or static),
 * its checks pass, and it is not draining. Listeners (the DNS responder, the
 * VIP) are told of every change as it happens. */
#ifndef EP_HEALTH_H
#define EP_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct balancer;

/* The most nodes watched at once (registry and static together); more are
 * ignored with a log line. */
#define HEALTH_MAX_NODES 256

struct health_node {
    char id[64];
    char fqdn[256];
    char ext_host[64];                /* the node's external (federation) address, numeric */
    uint16_t sip_port;                /* its federation port, 5061 */
    uint16_t xmpp_port;               /* its XMPP s2s port, 5269 (0: none) */
    struct sockaddr_storage ext_addr; /* ext_host with port 0 */
    bool from_registry;               /* else static (configuration) */
    bool alive;                       /* registry liveness key present (static: true) */
    bool draining;                    /* registry drain/state */
    bool check_ok;                    /* active checks: after rise successes / fall failures */
    bool healthy;                     /* alive && check_ok && !draining */
    unsigned vip_conns;               /* open VIP connections to it (the VIP keeps this) */
    uint64_t changed_ms;              /* when healthy last changed */
    uint32_t check_latency_us;        /* last successful check */
};

/* Start watching (timers on b's loop). NULL with err on failure. */
struct health *health_new(struct balancer *b, char *err, size_t errlen);
void health_free(struct health *h);

/* The current nodes (healthy or not), valid until the next event-loop turn.
 * Added by the implementation: the array is a table of slots that never
 * moves, so a node's address (also from health_node_by_id) stays valid
 * until its "gone" call; a slot whose id is empty ("") is free (a node that
 * went away) and is never healthy: skip it. */
size_t health_nodes(struct health *h, struct health_node **out);
/* The node with this id, or NULL. */
struct health_node *health_node_by_id(struct health *h, const char *id);
size_t health_healthy_count(const struct health *h);

/* Redis (the client's on_state) came up or went down: on up, the registry
 * is read at once, and for one liveness TTL a node it does not show is
 * kept (see health.c). h may be NULL. */
void health_on_redis_state(struct health *h, bool up);

/* Called when a node becomes healthy or unhealthy (or appears / goes away:
 * gone = true, the pointer valid only during the call). Several listeners.
 * Also called (gone = false) when a node's address, alive, draining or
 * check_ok changes without its healthy changing (e.g. a dead node that was
 * already draining): compare with what you keep. */
typedef void (*health_change_cb)(void *arg, struct health_node *n, bool gone);
int health_on_change(struct health *h, health_change_cb cb, void *arg);
/* Added by the implementation: stop calling cb with arg (a listener freed
 * before health). */
void health_off_change(struct health *h, health_change_cb cb, void *arg);

/* Added by the implementation. Take the health and nodes settings of b->cfg
 * again (SIGHUP): interval, timeout, rise, fall, the kind of check, the TLS
 * files, the static nodes (added, removed, moved). 0, or -1 with err and the
 * running settings kept (a TLS file that cannot be read). */
int health_reload(struct health *h, char *err, size_t errlen);

#endif
