/* policy_txn.h -- reading the pool's policy from Redis and changing it
 * atomically: WATCH ep:<pool>:policy, read version and text, edit, judge
 * the result as a node would, MULTI/HSET/EXEC (retried when someone else
 * changed it meanwhile), PUBLISH the new version. */
#ifndef EP_EDGECTL_POLICY_TXN_H
#define EP_EDGECTL_POLICY_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgectl/policy_text.h"

struct ctl;
struct policy;

/* What the pool's policy hash holds. Strings are owned by the struct. */
struct ctl_policy_cur {
    bool exists; /* the key has a text field */
    uint64_t version;
    char *text; /* "" when absent */
    uint64_t updated_ms;
    char *updated_by;
};
void ctl_policy_cur_free(struct ctl_policy_cur *cur);

/* Read the pool's policy (no WATCH) and build it as a node would. CTL_OK
 * with *p set (the caller frees with policy_free) or CTL_FAIL printed: Redis
 * unreachable, or the stored text is one a node refuses. */
int ctl_policy_load(struct ctl *c, struct ctl_policy_cur *cur, struct policy **p);

/* One edit: changes t (which holds the current policy); cur is what it was
 * read from. Returns 0 (changed), 1 (nothing to change), -1 with err: the
 * change is refused (CTL_FAIL). */
typedef int (*ctl_edit_fn)(struct ptext *t, const struct ctl_policy_cur *cur, void *arg, char *err,
                           size_t errlen);

struct ctl_edit_result {
    bool changed;        /* a new version was written */
    bool was_empty;      /* the pool had no policy: the edit started from Lync's defaults */
    uint64_t version;    /* the version now in Redis */
    long long receivers; /* PUBLISH's count (nodes subscribed), -1 if unknown */
};

/* Apply fn to the pool's policy atomically (see above). CTL_OK with *res, or
 * CTL_FAIL with the message printed: the node's own words when the result is
 * not a policy a node accepts ("policy.blocked_domains[0].domain: fabrikam.test
 * is already allowed (a domain is allowed or blocked, once)"). */
int ctl_policy_edit(struct ctl *c, ctl_edit_fn fn, void *arg, struct ctl_edit_result *res);

/* The report every change prints: "WHAT: policy version N, published to K"
 * (human), or {"ok":true,"pool":..,"action":WHAT,"changed":..,"version":N,..}. */
int ctl_report_edit(struct ctl *c, const char *what, const struct ctl_edit_result *res);

#endif
