/* balancer.h -- the edge-balancer process context: one event loop and what
 * hangs off it (configuration, the pool's Redis, node health, the DNS
 * responder, the VIP proxy, counters). One struct balancer per process;
 * modules take a struct balancer * rather than reaching for globals. */
#ifndef EP_BALANCER_H
#define EP_BALANCER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "balancer_config.h"

struct redis;
struct health;
struct dns_server;
struct vip;
struct balancer_admin;

struct balancer {
    struct event_base *base;
    const char *config_path; /* NULL: the embedded default */
    struct balancer_config cfg;
    struct redis *redis; /* NULL without a redis group: static nodes only */
    struct health *health;
    struct dns_server *dns;
    struct vip *vip;
    struct balancer_admin *admin; /* the admin endpoint and pool page (admin/balancer_admin.h) */
    bool stopping;
};

/* Milliseconds of a monotonic-enough clock (libevent's cached time). */
uint64_t balancer_now_ms(const struct balancer *b);

#endif
