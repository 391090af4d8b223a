/* sessions.c -- `sessions` (the pool's dialogs and subscriptions from
 * ep:<pool>:dlg:*: counts per partner domain, and the list) and `watch-list`
 * (discovered partners flagged by the throttle, ep:<pool>:watch). Read only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgectl/commands.h"
#include "edgectl/ctl_redis.h"
#include "edgectl/edgectl.h"
#include "federation/policy-t.h"
#include "pool_keys.h"

#define SCAN_COUNT "1000"
#define BATCH 512
#define MAX_SESSIONS 200000

struct dlg {
    redisReply *h; /* HGETALL */
    const char *kind, *call_id, *domain, *internal, *remote, *node, *peer;
    uint64_t created_ms;
};

struct partner {
    const char *domain;
    unsigned invite, subscribe, other;
};

static const char *f(const redisReply *h, const char *name)
{
    const char *v = redis_hash_get(h, name);
    return v ? v : "";
}

static int by_domain_age_callid(const void *a, const void *b)
{
    const struct dlg *x = a, *y = b;
    int d = strcasecmp(x->domain, y->domain);
    if (d)
        return d;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->call_id, y->call_id);
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

/* Every key matching the pattern (SCAN, so Redis is never blocked). On
 * failure nothing is left allocated (*keys NULL, *n 0). */
static int scan_keys(struct ctl *c, const char *pattern, char ***keys, size_t *n)
{
    char cursor[32] = "0", err[512];
    size_t cap = 0;
    *keys = NULL;
    *n = 0;
    do {
        redisReply *r = ctl_redisv(c, err, sizeof err, "SCAN", cursor, "MATCH", pattern, "COUNT",
                                   SCAN_COUNT, (const char *)NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element[0]->str ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            ctl_fail(c, "%s", r ? "unexpected reply to SCAN" : err);
            ctl_reply_free(r);
            goto fail;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *batch = r->element[1];
        for (size_t i = 0; i < batch->elements && *n < MAX_SESSIONS; i++) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                char **k = realloc(*keys, cap * sizeof **keys);
                if (!k) {
                    ctl_reply_free(r);
                    goto oom;
                }
                *keys = k;
            }
            char *key = strdup(batch->element[i]->str ? batch->element[i]->str : "");
            if (!key) {
                ctl_reply_free(r);
                goto oom;
            }
            (*keys)[(*n)++] = key;
        }
        ctl_reply_free(r);
    } while (strcmp(cursor, "0") != 0 && *n < MAX_SESSIONS);
    if (*n >= MAX_SESSIONS)
        ctl_note(c, "more than %d dialogs: only the first %d are shown", MAX_SESSIONS,
                 MAX_SESSIONS);
    return CTL_OK;
oom:
    ctl_fail(c, "out of memory");
fail:
    free_keys(*keys, *n);
    *keys = NULL;
    *n = 0;
    return CTL_FAIL;
}

int ctl_cmd_sessions(struct ctl *c, const struct ctl_args *a)
{
    const char *partner = ctl_arg(a, "partner"), *node = ctl_arg(a, "node");
    char want[POLICY_DOMAIN_MAX + 2] = "";
    if (partner && ctl_check_domain(c, "--partner", partner, want, sizeof want))
        return CTL_USAGE;
    if (ctl_redis_open(c))
        return CTL_FAIL;
    char pattern[300];
    snprintf(pattern, sizeof pattern, EP_KEY_DIALOG, c->o.pool, "*");
    char **keys;
    size_t nkeys;
    if (scan_keys(c, pattern, &keys, &nkeys))
        return CTL_FAIL;

    int rc = CTL_FAIL;
    struct dlg *d = calloc(nkeys + 1, sizeof *d);
    struct partner *ps = calloc(nkeys + 1, sizeof *ps);
    struct ctl_pending *pd = calloc(BATCH, sizeof *pd);
    size_t nd = 0, np = 0;
    if (!d || !ps || !pd) {
        rc = ctl_fail(c, "out of memory");
        goto out;
    }
    for (size_t off = 0; off < nkeys; off += BATCH) {
        size_t m = nkeys - off < BATCH ? nkeys - off : BATCH;
        for (size_t i = 0; i < m; i++) {
            const char *h[] = {"HGETALL", keys[off + i]};
            ctl_redis_send(c, &pd[i], 2, h);
        }
        if (!ctl_redis_wait(c, pd, m)) {
            ctl_pending_clear(pd, m);
            rc = ctl_fail(c, "Redis at %s: %s", ctl_redis_addr(c), pd[0].err);
            goto out;
        }
        for (size_t i = 0; i < m; i++) {
            redisReply *h = pd[i].reply;
            pd[i].reply = NULL;
            /* gone since SCAN (BYE, expiry), or not a dialog hash */
            if (!h || h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
                ctl_reply_free(h);
                continue;
            }
            struct dlg x = {.h = h,
                            .kind = f(h, "kind"),
                            .call_id = f(h, "call_id"),
                            .domain = f(h, "domain"),
                            .internal = f(h, "internal"),
                            .remote = f(h, "remote"),
                            .node = f(h, "node"),
                            .peer = f(h, "peer"),
                            .created_ms = strtoull(f(h, "created_ms"), NULL, 10)};
            if ((want[0] && strcasecmp(x.domain, want) != 0) ||
                (node && strcmp(x.node, node) != 0)) {
                ctl_reply_free(h);
                continue;
            }
            d[nd++] = x;
        }
    }
    qsort(d, nd, sizeof *d, by_domain_age_callid);
    for (size_t i = 0; i < nd; i++) {
        if (!np || strcasecmp(ps[np - 1].domain, d[i].domain) != 0)
            ps[np++] = (struct partner){.domain = d[i].domain};
        struct partner *p = &ps[np - 1];
        if (strcmp(d[i].kind, "invite") == 0)
            p->invite++;
        else if (strcmp(d[i].kind, "subscribe") == 0)
            p->subscribe++;
        else
            p->other++;
    }

    uint64_t now = ctl_now_ms();
    bool list = !ctl_flag(a, "counts");
    if (c->o.json) {
        jw_obj(&c->out, NULL);
        jw_bool(&c->out, "ok", true);
        jw_str(&c->out, "pool", c->o.pool);
        jw_uint(&c->out, "total", nd);
        jw_arr(&c->out, "partners");
        for (size_t i = 0; i < np; i++) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "domain", ps[i].domain);
            jw_uint(&c->out, "invite", ps[i].invite);
            jw_uint(&c->out, "subscribe", ps[i].subscribe);
            jw_uint(&c->out, "total", ps[i].invite + ps[i].subscribe + ps[i].other);
            jw_end_obj(&c->out);
        }
        jw_end_arr(&c->out);
        if (list) {
            jw_arr(&c->out, "sessions");
            for (size_t i = 0; i < nd; i++) {
                jw_obj(&c->out, NULL);
                jw_str(&c->out, "kind", d[i].kind);
                jw_str(&c->out, "call_id", d[i].call_id);
                jw_str(&c->out, "domain", d[i].domain);
                jw_str(&c->out, "internal", d[i].internal);
                jw_str(&c->out, "remote", d[i].remote);
                jw_str(&c->out, "peer", d[i].peer);
                jw_str(&c->out, "node", d[i].node);
                if (d[i].created_ms)
                    jw_uint(&c->out, "age_ms", now > d[i].created_ms ? now - d[i].created_ms : 0);
                else
                    jw_null(&c->out, "age_ms");
                jw_end_obj(&c->out);
            }
            jw_end_arr(&c->out);
        }
        jw_end_obj(&c->out);
        c->json_done = true;
    } else {
        printf("pool %s: %zu dialog%s with %zu partner domain%s", c->o.pool, nd, nd == 1 ? "" : "s",
               np, np == 1 ? "" : "s");
        if (want[0] || node)
            printf(" (only%s%s%s%s)", want[0] ? " partner " : "", want, node ? " node " : "",
                   node ? node : "");
        printf("\n");
        if (np)
            printf("%-32s %8s %10s %8s\n", "PARTNER", "INVITE", "SUBSCRIBE", "TOTAL");
        for (size_t i = 0; i < np; i++)
            printf("%-32s %8u %10u %8u\n", ps[i].domain[0] ? ps[i].domain : "-", ps[i].invite,
                   ps[i].subscribe, ps[i].invite + ps[i].subscribe + ps[i].other);
        if (list && nd) {
            printf("\n%-9s %-32s %-28s %-28s %-10s %s\n", "KIND", "CALL-ID", "INTERNAL", "REMOTE",
                   "NODE", "AGE");
            for (size_t i = 0; i < nd; i++) {
                uint64_t age = d[i].created_ms && now > d[i].created_ms ? now - d[i].created_ms : 0;
                printf("%-9s %-32s %-28s %-28s %-10s %" PRIu64 "s\n", d[i].kind, d[i].call_id,
                       d[i].internal, d[i].remote, d[i].node, age / 1000);
            }
        }
    }
    rc = CTL_OK;
out:
    for (size_t i = 0; i < nd; i++)
        ctl_reply_free(d[i].h);
    free_keys(keys, nkeys);
    free(d);
    free(ps);
    free(pd);
    return rc;
}

int ctl_cmd_watch_list(struct ctl *c, const struct ctl_args *a)
{
    if (ctl_redis_open(c))
        return CTL_FAIL;
    char key[256], err[512];
    snprintf(key, sizeof key, EP_KEY_WATCH, c->o.pool);
    redisReply *r = ctl_redisv(c, err, sizeof err, "HGETALL", key, (const char *)NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        int rc = ctl_fail(c, "%s", r && r->str ? r->str : err);
        ctl_reply_free(r);
        return rc;
    }
    uint64_t now = ctl_now_ms();
    if (c->o.json) {
        jw_obj(&c->out, NULL);
        jw_bool(&c->out, "ok", true);
        jw_str(&c->out, "pool", c->o.pool);
        jw_arr(&c->out, "partners");
    } else {
        printf("pool %s: %zu discovered partner%s on the watch list\n", c->o.pool, r->elements / 2,
               r->elements / 2 == 1 ? "" : "s");
        if (r->elements)
            printf("%-32s %-24s %8s %10s %s\n", "DOMAIN", "REASONS", "EVENTS", "LAST",
                   "CERTIFICATE");
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *dom = r->element[i]->str ? r->element[i]->str : "";
        /* "reasons|first_ms|last_ms|events|cert_info" (cert_info may hold '|') */
        char *v = strdup(r->element[i + 1]->str ? r->element[i + 1]->str : "");
        if (!v)
            continue;
        const char *fld[5] = {v, "", "", "", ""};
        char *p = v;
        for (int k = 1; k < 5 && (p = strchr(p, '|')); k++) {
            *p++ = '\0';
            fld[k] = p;
        }
        uint64_t last = strtoull(fld[2], NULL, 10);
        if (c->o.json) {
            jw_obj(&c->out, NULL);
            jw_str(&c->out, "domain", dom);
            jw_str(&c->out, "reasons", fld[0]);
            jw_uint(&c->out, "first_ms", strtoull(fld[1], NULL, 10));
            jw_uint(&c->out, "last_ms", last);
            jw_uint(&c->out, "events", strtoull(fld[3], NULL, 10));
            jw_str(&c->out, "certificate", fld[4]);
            jw_end_obj(&c->out);
        } else {
            printf("%-32s %-24s %8s %9" PRIu64 "s %s\n", dom, fld[0], fld[3],
                   last && now > last ? (now - last) / 1000 : 0, fld[4]);
        }
        free(v);
    }
    if (c->o.json) {
        jw_end_arr(&c->out);
        jw_end_obj(&c->out);
        c->json_done = true;
    }
    ctl_reply_free(r);
    return CTL_OK;
}
