/* metrics.h -- the edge node's metrics registry, written out by /metrics
 * (node/admin/exposition.c) in the Prometheus text format.
 *
 * Three kinds of numbers:
 * - the SIP path's per-message counters (requests and responses by side,
 *   method and status class): fixed arrays, no lookup, bumped through
 *   metrics_sip_request / metrics_sip_response;
 * - labelled families any module declares and feeds: policy rejections by
 *   reason, TLS handshake failures by reason, discovered-partner verdicts,
 *   and whatever a new feature adds (XMPP streams and stanzas);
 * - collectors: a module's callback run at every scrape that writes families
 *   computed from its state (open streams, queue lengths) with the prom_*
 *   writers of shared/admin_http.h.
 *
 * For a new module (the XMPP engine, say), all through n->metrics:
 *
 *   // once, at start (optional: an undeclared family is declared on first
 *   // use, with an empty HELP):
 *   metrics_declare(n->metrics, "edgepool_xmpp_stanzas_total", METRIC_COUNTER,
 *                   "XMPP stanzas by direction and kind");
 *   // per event: the label pairs end with NULL
 *   metrics_counter_add(n->metrics, "edgepool_xmpp_stanzas_total", 1,
 *                       "direction", "in", "kind", "message", NULL);
 *   metrics_gauge_add(n->metrics, "edgepool_xmpp_streams_open", 1, "direction", "in", NULL);
 *   metrics_gauge_add(n->metrics, "edgepool_xmpp_streams_open", -1, "direction", "in", NULL);
 *
 * The two XMPP families above are declared already (empty until XMPP feeds
 * them): edgepool_xmpp_streams_open (gauge; labels direction = in|out, and
 * partner = the peer server's verified domain if you like) and
 * edgepool_xmpp_stanzas_total (counter; direction, kind =
 * message|presence|iq|other).
 *
 * Rules: names are edgepool_<what>[_<unit>], counters end in _total; a label
 * value comes from a bounded set (a method, a direction, a reason phrase of
 * the code; never a user, a Call-ID or a port). A family keeps at most
 * METRICS_MAX_SERIES label sets; later ones are counted in one series whose
 * values are all "other". Always pass one family's labels in the same order.
 * Single-threaded like the rest of the node. n->metrics may be NULL (a node
 * built without the admin module, unit tests): every call is then a no-op. */
#ifndef EP_ADMIN_METRICS_H
#define EP_ADMIN_METRICS_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_SERIES 200
#define METRICS_MAX_FAMILIES 128

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Declare (or re-describe) a family. 0, or -1 (bad name, too many families,
 * no memory, or a family of that name with the other type). */
int metrics_declare(struct metrics *m, const char *name, enum metric_type type, const char *help);
/* Add v to the counter name{labels}; labels are name, value pairs ending
 * with NULL. */
void metrics_counter_add(struct metrics *m, const char *name, uint64_t v, ...)
    __attribute__((sentinel));
/* Set, or add to (v may be negative), the gauge name{labels}. */
void metrics_gauge_set(struct metrics *m, const char *name, double v, ...)
    __attribute__((sentinel));
void metrics_gauge_add(struct metrics *m, const char *name, double v, ...)
    __attribute__((sentinel));
/* The value of a series (tests, /status); 0 if absent. */
double metrics_value(const struct metrics *m, const char *name, ...) __attribute__((sentinel));

/* A collector: called at every scrape, after the registry's families, to
 * write its own (prom_family, then prom_u64 / prom_f64). Up to 16. */
typedef void (*metrics_collect_cb)(void *arg, struct evbuffer *out);
int metrics_on_collect(struct metrics *m, metrics_collect_cb cb, void *arg);

/* Write every family: the SIP counters, the registry's families, then the
 * collectors'. */
void metrics_write(const struct metrics *m, struct evbuffer *out);

/* ---- the SIP path ------------------------------------------------------- */

enum metrics_dir { METRICS_RECEIVED = 0, METRICS_SENT = 1 };

/* A request received on side (enum conn_side), or relayed to side. method:
 * enum sip_method. */
void metrics_sip_request(struct metrics *m, enum metrics_dir dir, int side, int method);
/* A response received from side, or sent to side; method: its CSeq method;
 * local: the node's own answer (else relayed). */
void metrics_sip_response(struct metrics *m, enum metrics_dir dir, int side, int method, int status,
                          bool local);
/* Totals over methods and classes (for /status). */
uint64_t metrics_sip_requests(const struct metrics *m, enum metrics_dir dir);
uint64_t metrics_sip_responses(const struct metrics *m, enum metrics_dir dir);

/* ---- decisions -------------------------------------------------------- */

/* A request refused by federation or policy: its SIP status and reason
 * phrase (a static string of the code: a bounded set). */
void metrics_policy_reject(struct metrics *m, int status, const char *reason);
/* A TLS handshake failure on side (enum conn_side); reason is the text the
 * log line gives (classified into a bounded set: see metrics_tls_class). */
void metrics_tls_failure(struct metrics *m, int side, bool outbound, const char *reason);
/* The class of a TLS failure text: "not_tls", "no_certificate",
 * "missing_eku", "expired", "not_yet_valid", "self_signed", "unknown_ca",
 * "revoked", "crl", "name_mismatch", "peer_alert", "peer_closed",
 * "protocol" or "other". */
const char *metrics_tls_class(const char *reason);
/* A discovered partner's request judged (enum throttle_verdict: 0 ok, 1
 * rate, 2 contacts); pool: decided on the pool's counters in Redis. */
void metrics_throttle_verdict(struct metrics *m, int verdict, bool pool);

#endif
