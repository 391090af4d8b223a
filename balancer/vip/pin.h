/* pin.h -- which node a source address is pinned to, for the VIP.
 *
 * A local table (source address -> pin) in front of the pool's Redis key
 * ep:<pool>:pin:<source-ip> (a string: the node id, with the idle TTL). A
 * source seen before is answered from the table at once; what changed is
 * written behind (the TTL refreshed while connections are open, re-pins
 * agreed by compare-and-set), so the connection's critical path has no Redis
 * round trip. A source not in the table asks Redis once (another balancer or
 * an earlier run may have pinned it), proposing the least-loaded healthy
 * node in the same script. With Redis down or absent: local pins only,
 * written to Redis when it is back. */
#ifndef EP_VIP_PIN_H
#define EP_VIP_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct balancer;
struct pin;
struct pin_table;

/* A connection waiting for its source's pin (embedded in the caller's
 * struct; pin.c only links it). */
struct pin_waiter {
    struct pin_waiter *next;
};

/* The caller's view of the nodes, asked by the table:
 * - usable: may a new connection go to node id? (healthy, not failing)
 *   why (may be NULL) gets a word for the log when not: "down", "draining",
 *   "gone", "failing";
 * - pick: the node a new source should go to (least connections among the
 *   usable ones), not exclude (may be NULL); NULL when none;
 * - ready: the pin of w's source is known: node is the id, or NULL (no node
 *   can take it). Called from a Redis reply; when Redis fails at once, from
 *   inside pin_resolve, which then returns 0: after a 0 the caller must not
 *   touch w's connection any more (ready may have closed it). */
struct pin_ops {
    bool (*usable)(void *arg, const char *id, const char **why);
    const char *(*pick)(void *arg, const char *exclude);
    void (*ready)(void *arg, struct pin_waiter *w, const char *node);
    void *arg;
};

/* ttl_s: the idle TTL of a pin. b->redis may be NULL. NULL on allocation
 * failure. */
struct pin_table *pin_table_new(struct balancer *b, int ttl_s, const struct pin_ops *ops);
/* Frees every pin. No waiter may be queued any more (close the connections
 * first). Redis replies still in flight find their pin detached and free it. */
void pin_table_free(struct pin_table *t);

/* The pin of sa's source address, created empty when new. NULL on
 * allocation failure. Valid while it has open connections or waiters (the
 * table forgets idle pins once a second). */
struct pin *pin_get(struct pin_table *t, const struct sockaddr *sa);
/* The source address as text ("192.0.2.1", "2001:db8::1"). */
const char *pin_source(const struct pin *p);

/* Connections open from this source (the per-source limit counts these). */
unsigned pin_open_conns(const struct pin *p);
void pin_conn_opened(struct pin_table *t, struct pin *p);
void pin_conn_closed(struct pin_table *t, struct pin *p);
/* A refused connection from this source: true when it should be logged
 * (once a second per source), *since set to how many were refused since the
 * last line. */
bool pin_refusal_log(struct pin_table *t, struct pin *p, uint64_t *since);

/* Where a new connection from p's source goes. Returns 1 with *node set (a
 * pin to a usable node, or a re-pin done locally and written behind),
 * 0 when w was queued (ops.ready follows), -1 when no node can take it. */
int pin_resolve(struct pin_table *t, struct pin *p, struct pin_waiter *w, const char **node);
/* Take w off p's queue (its connection went away while waiting). */
void pin_cancel(struct pin *p, struct pin_waiter *w);
/* The connect to failed_node did not work: pin the source to another usable
 * node (logged, written behind). Returns that node or NULL. */
const char *pin_move(struct pin_table *t, struct pin *p, const char *failed_node);
/* The node p's source is pinned to now ("" while unknown). */
const char *pin_node(const struct pin *p);

/* Call fn for every source in the table with the node it is pinned to (""
 * while unknown) and its open connections (the admin endpoint's pins per
 * node). */
void pin_table_each(const struct pin_table *t,
                    void (*fn)(void *arg, const char *source, const char *node, unsigned conns),
                    void *arg);

/* Sources in the table; re-pins done since the start. */
size_t pin_count(const struct pin_table *t);
uint64_t pin_repins(const struct pin_table *t);

#endif
