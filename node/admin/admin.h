/* admin.h -- the edge node's admin endpoint: the HTTP server of
 * shared/admin_http.h on the node's loop, started, reloaded and judged from
 * the admin group (listen, allow, token) by shared/admin_endpoint.h, and its
 * pages:
 *
 *   GET  /metrics     the Prometheus text format (exposition.c)
 *   GET  /health      200 "ok" while serving; 503 when draining (SIGTERM),
 *                     drained (edgectl or /drain) or broken (listeners down)
 *   GET  /status      JSON: who, version, uptime, pool and Redis, policy
 *                     version, state, connections, transactions, the partners
 *                     federated with now
 *   POST /log-level   level=error|warn|info|debug (query, form or bare body)
 *   POST /drain       no new out-of-dialog work (as edgectl node drain)
 *   POST /undrain
 *
 * The POSTs need the bearer token (admin.token; without one they are off).
 * The node's metrics registry (metrics.h) is created here too: n->metrics. */
#ifndef EP_ADMIN_ADMIN_H
#define EP_ADMIN_ADMIN_H

#include <event2/buffer.h>
#include <stddef.h>

struct node;

/* Create n->metrics and, unless admin.listen is empty, start the endpoint
 * (n->admin). 0, or -1 with err (cannot listen, a bad allow entry). */
int node_admin_start(struct node *n, char *err, size_t errlen);
/* After SIGHUP: the allow list and the token apply at once; a changed
 * listen address at the next restart (said in the log). */
void node_admin_reload(struct node *n);
/* Stop the endpoint and free the registry (n->admin, n->metrics = NULL). */
void node_admin_free(struct node *n);

/* The partner edges federated with now, for the pool's registry (the
 * balancer's pool page): "edge|domain,domain|conns in|conns out|open
 * transactions" entries joined by ';' (DNS names carry none of | , ;), whole
 * entries only, into buf. Returns the length. */
size_t node_admin_partners(struct node *n, char *buf, size_t len);
/* The admin endpoint's address ("ip:port"), "" when it is off. */
const char *node_admin_addr(const struct node *n);

/* The /metrics page: every family of the node (exposition.c). */
void node_metrics_write(struct node *n, struct evbuffer *out);

#endif
