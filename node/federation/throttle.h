/* throttle.h -- discovered partners, as Lync's Access Edge treated them:
 * a per-domain message rate (discovered_partner_standard_rate, burst of one
 * second), a cap on the distinct internal users a domain reaches
 * (max_contacts_per_discovered_partner), a response monitor that drops a
 * domain whose requests mostly fail to 1 msg/s, and the watch list of domains
 * that tripped any of these, with the certificate they presented.
 *
 * Pure state machine: the caller passes the time (monotonic ms) and does the
 * I/O (503 with Retry-After: 1 for THROTTLE_RATE, 403 for THROTTLE_CONTACTS,
 * logging, the periodic report). Memory is bounded: at most max_domains
 * domains (least recently used forgotten first, idle ones on every call), each
 * with 8-16 bytes per contact up to max_contacts_per_discovered_partner (16 KB
 * at Lync's 1000), and max_watch watch entries. Lookups are hash-table
 * lookups. Per node for now; the Redis issue makes the rate pool-wide. */
#ifndef EP_FEDERATION_THROTTLE_H
#define EP_FEDERATION_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "federation/policy-t.h"
#include "slice.h"

enum throttle_verdict {
    THROTTLE_OK = 0,
    THROTTLE_RATE,     /* over its rate: 503, Retry-After: 1 */
    THROTTLE_CONTACTS, /* over its contact cap (now or earlier): 403 */
};

/* Why a domain is on the watch list (bits). */
enum watch_reason {
    WATCH_RATE = 1u << 0,       /* exceeded its message rate */
    WATCH_CONTACTS = 1u << 1,   /* tried to reach more distinct users than the cap */
    WATCH_SUSPICIOUS = 1u << 2, /* too many failed responses: held at 1 msg/s */
};

#define THROTTLE_CERT_INFO_MAX 512 /* longer cert_info is truncated */

/* One watched discovered partner (Lync's MSFT_SIPEnhancedFederationConnection-
 * LimitsData: domain, throttling mode, certificate issuer, serial, subject). */
struct watch_entry {
    const char *domain;           /* lower case */
    unsigned reasons;             /* every WATCH_* seen */
    enum watch_reason reason;     /* the latest */
    uint64_t first_ms;            /* first put on the list */
    uint64_t last_ms;             /* latest event */
    uint64_t events;              /* events since first_ms (refused requests, suspicious windows) */
    uint64_t suspicious_until_ms; /* held at the reduced rate until then (0: not) */
    const char *cert_info;        /* the caller's certificate description at the latest event
                                     that gave one (e.g. "issuer=..; serial=..; subject=.."),
                                     or NULL */
    bool refused;                 /* over the contact cap: every request refused until
                                     throttle_watch_remove() or the cap is disabled */
};

/* Tuning that Lync did not expose; defaults from throttle_limits_default(). */
struct throttle_limits {
    size_t max_domains;          /* discovered domains tracked at once: 1024 */
    uint64_t idle_ms;            /* a domain idle this long is forgotten (its rate and
                                    contacts start afresh): 60 min */
    uint64_t window_ms;          /* response monitor window: 60 s */
    unsigned min_responses;      /* a window is judged from this many responses: 50 */
    unsigned fail_percent;       /* suspicious at or above this share of failures: 80 */
    uint64_t suspicious_hold_ms; /* the reduced rate lasts this long after the last
                                    suspicious verdict: 10 min */
    unsigned suspicious_rate;    /* the reduced rate, msg/s: 1 */
    size_t max_watch;            /* watch list size (non-refused entries dropped first,
                                    oldest first): 1024 */
};

struct throttle;

void throttle_limits_default(struct throttle_limits *l);

/* A throttle with s's rate and contact settings (copied: s may go away) and
 * the default limits. NULL on allocation failure. */
struct throttle *throttle_new(const struct access_edge_settings *s);
void throttle_free(struct throttle *t);
/* New settings after a policy reload: rate, contact cap, report period. Tracked
 * domains keep their state; a lowered cap applies at the next new contact. */
void throttle_apply_settings(struct throttle *t, const struct access_edge_settings *s);
/* Replace the limits; shrinking max_domains or max_watch evicts at once. */
void throttle_set_limits(struct throttle *t, const struct throttle_limits *l);

/* One request from discovered partner domain to internal_user (e.g.
 * "alice@contoso.test"; empty = not counted as a contact, e.g. OPTIONS to the
 * server). cert_info (may be NULL) describes the peer certificate and is
 * copied only when the domain goes on, or is updated on, the watch list.
 * Order: refused domain -> CONTACTS; empty bucket -> RATE (the user is not
 * counted); a new user beyond the cap -> CONTACTS and the domain is refused
 * from then on; else OK and one message is taken from the bucket. If memory
 * runs out the answer is RATE (a transient refusal), never OK. */
enum throttle_verdict throttle_check(struct throttle *t, struct slice domain,
                                     struct slice internal_user, const char *cert_info,
                                     uint64_t now_ms);

/* The final response our side gave to a request from domain. Successes
 * (2xx, 3xx) and failures (throttle_status_is_failure) feed the monitor;
 * provisional and neutral answers are ignored. Unknown domains are ignored. */
void throttle_record_response(struct throttle *t, struct slice domain, int status, uint64_t now_ms);
/* A failure for the monitor: >= 400 except answers about the user's state or
 * the transaction's own flow (401, 407, 408, 480, 486, 487, 491, 600, 603). */
bool throttle_status_is_failure(int status);

/* The watch list: *out points at n entries owned by t, valid until the next
 * call that changes t. */
size_t throttle_watchlist(const struct throttle *t, const struct watch_entry **out);
/* Forget domain's watch entry (the operator reviewed it); 0, or -1 if absent. */
int throttle_watch_remove(struct throttle *t, struct slice domain);
/* True once per discovered_partner_report_period_minutes (the first call only
 * starts the clock): time to log the watch list. */
bool throttle_report_due(struct throttle *t, uint64_t now_ms);

/* Introspection (edgectl, tests). */
size_t throttle_domain_count(const struct throttle *t);
size_t throttle_contacts(const struct throttle *t, struct slice domain); /* 0 if unknown */
bool throttle_is_suspicious(const struct throttle *t, struct slice domain, uint64_t now_ms);

#endif
