/* dialogs.c -- dialog and subscription state in the pool's Redis (see
 * dialogs.h). */
#include "pool/dialogs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "federation/fed.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool/pool_replay.h"
#include "pool_keys.h"
#include "sip/proxy.h"
#include "sip/txn.h"

size_t pool_dialog_id(struct slice call_id, struct slice tag1, struct slice tag2, char *buf,
                      size_t len)
{
    size_t m = tag1.len < tag2.len ? tag1.len : tag2.len;
    int c = memcmp(tag1.p ? tag1.p : "", tag2.p ? tag2.p : "", m);
    if (c > 0 || (c == 0 && tag1.len > tag2.len)) {
        struct slice x = tag1;
        tag1 = tag2;
        tag2 = x;
    }
    int k =
        snprintf(buf, len, "%.*s:%.*s:%.*s", SLICE_FMT(call_id), SLICE_FMT(tag1), SLICE_FMT(tag2));
    return k < 0 || (size_t)k >= len ? 0 : (size_t)k;
}

static size_t dialog_key(const struct pool *p, const struct sip_msg *m, char *buf, size_t len)
{
    char id[1100];
    if (!m->call_id.len || !m->from_tag.len || !m->to_tag.len ||
        !pool_dialog_id(m->call_id, m->from_tag, m->to_tag, id, sizeof(id)))
        return 0;
    int k = snprintf(buf, len, EP_KEY_DIALOG, p->name, id);
    return k < 0 || (size_t)k >= len ? 0 : (size_t)k;
}

/* "user@host" of a URI (empty if it does not parse). */
static void aor(struct slice uri, char *buf, size_t len)
{
    struct sip_uri u;
    buf[0] = '\0';
    if (sip_uri_parse(uri, &u) == 0)
        snprintf(buf, len, "%.*s%s%.*s", SLICE_FMT(u.user), u.user.len ? "@" : "",
                 SLICE_FMT(u.host));
}

/* Expires of m as a number, or -1. */
static long expires_of(const struct sip_msg *m)
{
    const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_EXPIRES);
    if (!h || !h->value.len || h->value.len > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < h->value.len; i++) {
        char c = h->value.p[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

static void store(struct pool *p, const struct txn *t, const struct sip_msg *m, const char *key,
                  const char *kind, long ttl)
{
    struct node *n = p->node;
    char peer[300], internal[300], remote[300], created[24], callid[1024], ftag[256], ttag[256];
    const struct txn_target *tg = &t->targets[t->target_idx];
    if (t->in_side == SIDE_EXTERNAL)
        snprintf(peer, sizeof(peer), "%s", t->peer);
    else if (tg->port && tg->port != 5061)
        snprintf(peer, sizeof(peer), "%s:%u", tg->host, tg->port);
    else
        snprintf(peer, sizeof(peer), "%s", tg->host);
    /* From and To of the response are the request's: From is the caller */
    aor(t->in_side == SIDE_EXTERNAL ? m->to_uri : m->from_uri, internal, sizeof(internal));
    aor(t->in_side == SIDE_EXTERNAL ? m->from_uri : m->to_uri, remote, sizeof(remote));
    snprintf(created, sizeof(created), "%llu", (unsigned long long)pool_wall_ms());
    slice_copy(m->call_id, callid, sizeof(callid));
    slice_copy(m->from_tag, ftag, sizeof(ftag));
    slice_copy(m->to_tag, ttag, sizeof(ttag));
    const char *fv[] = {"kind",       kind,     "call_id", callid, "from_tag", ftag,
                        "to_tag",     ttag,     "peer",    peer,   "domain",   t->remote_domain,
                        "internal",   internal, "remote",  remote, "node",     n->cfg.node_id,
                        "created_ms", created};
    pool_record_put(p, key, fv, (int)(sizeof(fv) / sizeof(fv[0])), (uint64_t)ttl * 1000);
    LOG_DEBUG("pool", "%s dialog %s stored (peer %s, TTL %ld s)%s", kind, key, peer, ttl,
              p->up ? "" : "; written when Redis is back");
}

static bool notify_terminates(const struct txn *t)
{
    struct sip_msg req;
    if (txn_reparse(t, &req) != SIP_OK)
        return false;
    const struct sip_hdr *h = sip_msg_hdr(&req, SIP_HDR_SUBSCRIPTION_STATE);
    return h && h->value.len >= 10 && strncasecmp(h->value.p, "terminated", 10) == 0;
}

void pool_dialog_on_final(struct node *n, const struct txn *t, const struct sip_msg *m)
{
    struct pool *p = n->pool;
    if (!p || p->closing || t->stateless)
        return;
    bool ok = m->status >= 200 && m->status < 300;
    bool gone = m->status == 481; /* the far end does not know the dialog any more */
    char key[1400];
    switch (t->method) {
    case SIP_M_INVITE:
        if (ok && !t->in_dialog && dialog_key(p, m, key, sizeof(key)))
            store(p, t, m, key, "invite", EP_DIALOG_INVITE_TTL_S);
        return;
    case SIP_M_SUBSCRIBE: {
        if (!(ok || (gone && t->in_dialog)) || !dialog_key(p, m, key, sizeof(key)))
            return;
        long exp = gone ? 0 : expires_of(m);
        if (exp < 0) { /* the 2xx must carry Expires (RFC 6665); else the request's */
            struct sip_msg req;
            exp = txn_reparse(t, &req) == SIP_OK ? expires_of(&req) : -1;
            if (exp < 0)
                exp = 3600;
        }
        if (exp == 0) {
            if (t->in_dialog)
                pool_record_del(p, key);
        } else if (!t->in_dialog) {
            store(p, t, m, key, "subscribe", exp + 60);
        } else {
            pool_record_refresh(p, key, (uint64_t)(exp + 60) * 1000);
        }
        return;
    }
    case SIP_M_BYE:
        if ((ok || gone) && dialog_key(p, m, key, sizeof(key)))
            pool_record_del(p, key);
        return;
    case SIP_M_NOTIFY:
        if (m->status >= 200 && dialog_key(p, m, key, sizeof(key)) && notify_terminates(t))
            pool_record_del(p, key);
        return;
    default:
        return;
    }
}

/* ---- routing from the record ---- */

struct lookup {
    struct node *node;
    uint64_t txn_id;
};

/* As if there were no dialog record: the request's domain decides. */
static void route_by_domain(struct node *n, struct txn *t)
{
    struct sip_msg m;
    if (txn_reparse(t, &m) != SIP_OK) {
        proxy_txn_resume(n, t->id, 500, "Internal Server Error");
        return;
    }
    struct fed_result r = {0, NULL};
    int v = fed_outbound_route(n, &m, t, &r);
    if (v == FED_PENDING)
        return;
    proxy_txn_resume(n, t->id, v == FED_REJECT ? r.status : 0, r.reason);
}

static void lookup_done(void *arg, const redisReply *reply, const char *err)
{
    struct lookup *l = arg;
    struct node *n = l->node;
    struct pool *p = n->pool;
    struct txn *t = p->closing ? NULL : txn_by_id(n, l->txn_id);
    free(l);
    if (!t || t->final_up || t->cancelled)
        return;
    if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_STRING || !reply->len) {
        if (pool_reply_failed(reply))
            p->stats.lookup_errors++;
        else
            p->stats.lookup_misses++;
        LOG_INFO("pool",
                 "in-dialog %s from inside without ep-peer: dialog %s (%s); routed by "
                 "its domain",
                 sip_method_name(t->method) ? sip_method_name(t->method) : "request",
                 pool_reply_failed(reply) ? "lookup failed" : "not in Redis",
                 pool_reply_failed(reply) ? (reply ? reply->str
                                             : err ? err
                                                   : "?")
                                          : "-");
        route_by_domain(n, t);
        return;
    }
    struct txn_target *tg = &t->targets[0];
    snprintf(tg->host, sizeof(tg->host), "%.*s", (int)reply->len, reply->str);
    tg->port = 5061;
    char *colon = strrchr(tg->host, ':');
    if (colon && !strchr(colon, ']')) {
        tg->port = (uint16_t)atoi(colon + 1);
        *colon = '\0';
    }
    tg->tls = true;
    tg->side = SIDE_EXTERNAL;
    t->n_targets = 1;
    t->target_idx = 0;
    snprintf(t->peer, sizeof(t->peer), "%.*s", (int)reply->len, reply->str);
    LOG_INFO("pool",
             "in-dialog %s from inside without ep-peer: routed to %s from the pool's "
             "dialog record",
             sip_method_name(t->method) ? sip_method_name(t->method) : "request", t->peer);
    proxy_txn_resume(n, t->id, 0, NULL);
}

bool pool_dialog_route(struct node *n, struct txn *t, const struct sip_msg *m)
{
    struct pool *p = n->pool;
    char key[1400];
    if (!p || !p->up || p->closing || !dialog_key(p, m, key, sizeof(key)))
        return false;
    struct lookup *l = malloc(sizeof(*l));
    if (!l)
        return false;
    *l = (struct lookup){n, t->id};
    p->stats.lookups++;
    /* the callback may run before this returns (Redis went down meanwhile):
     * it resumes the transaction, which is what the caller expects of true */
    if (redis_command(p->redis, lookup_done, l, "HGET %s peer", key) < 0) {
        free(l);
        p->stats.lookups--;
        return false;
    }
    return true;
}
