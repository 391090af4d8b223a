/* balancer_admin.h -- the edge balancer's admin endpoint: the HTTP server of
 * shared/admin_http.h on the balancer's loop, started, reloaded and judged
 * from the admin group (listen, default 127.0.0.1:8081; allow; token) by
 * shared/admin_endpoint.h, and its pages:
 *
 *   GET /          the live pool page: plain HTML and a small inline script
 *                  (page.c) that reads /status every 2 s
 *   GET /status    JSON: the balancer, Redis, DNS and VIP, every node (health,
 *                  registry state, load, connections, policy version, VIP
 *                  connections, pins), the partners federated with and which
 *                  node holds each, the recent health changes
 *   GET /metrics   the Prometheus text format (exposition.c)
 *   GET /health    200 while serving (at least one node healthy), 503 when
 *                  no node can take work
 *   POST /log-level  level=error|warn|info|debug: needs the bearer token
 *                  (admin.token; without one it is refused)
 *
 * The allow list (admin.allow) guards every page. */
#ifndef EP_BALANCER_ADMIN_H
#define EP_BALANCER_ADMIN_H

#include <event2/buffer.h>
#include <stddef.h>

struct balancer;
struct balancer_config;
struct pool_view;

/* Start the endpoint (unless admin.listen is empty) and the pool view;
 * b->health must exist. 0, or -1 with err. */
int balancer_admin_start(struct balancer *b, char *err, size_t errlen);
/* SIGHUP: the allow list and token apply at once, a new listen address at
 * the next restart (said in the log). */
void balancer_admin_reload(struct balancer *b);
void balancer_admin_free(struct balancer *b);
/* The admin group's values, as --check-config judges them (listen an
 * address:port or empty, every allow entry an address or prefix). 0, or -1
 * with *key ("admin.allow"), *index (the list element, or -1) and why. */
int balancer_admin_check(const struct balancer_config *c, const char **key, int *index, char *why,
                         size_t whylen);

/* Sources pinned to each node in the VIP's pin table. */
struct node_pins {
    char node[64];
    unsigned pins;
};
/* Up to max entries into out (nodes with at least one pin); the count. */
size_t balancer_pins_per_node(struct balancer *b, struct node_pins *out, size_t max);

/* The pool view (pool_view.h) of a running endpoint, or NULL. */
struct pool_view *balancer_admin_view(struct balancer *b);
/* /metrics (exposition.c) and the pool page's HTML (page.c). */
void balancer_metrics_write(struct balancer *b, struct evbuffer *out);
void balancer_page_write(struct evbuffer *out);

#endif
