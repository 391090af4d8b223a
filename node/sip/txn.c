/* txn.c -- the transaction table: keys, lifetime, timers (see txn.h). */
#include "sip/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sip/proxy.h"

/* RFC 3261 17.2.3: branch + sent-by + method. A branch without the magic
 * cookie (RFC 2543 peers) is not unique: Call-ID and CSeq join the key. */
static size_t server_key(char *out, size_t cap, const struct sip_msg *m, enum sip_method method)
{
    bool cookie = m->via.branch.len > 7 && memcmp(m->via.branch.p, "z9hG4bK", 7) == 0;
    int k = cookie ? snprintf(out, cap, "%.*s|%.*s:%u|%d", SLICE_FMT(m->via.branch),
                              SLICE_FMT(m->via.host), m->via.port, (int)method)
                   : snprintf(out, cap, "%.*s|%.*s:%u|%d|%.*s|%u", SLICE_FMT(m->via.branch),
                              SLICE_FMT(m->via.host), m->via.port, (int)method,
                              SLICE_FMT(m->call_id), m->cseq);
    return k < 0 || (size_t)k >= cap ? 0 : (size_t)k;
}

static enum sip_method key_method(const struct sip_msg *m)
{
    return m->method_id == SIP_M_ACK ? SIP_M_INVITE : m->method_id;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct txn *t = arg;
    proxy_txn_timeout(t->node, t);
}

struct txn *txn_new(struct node *n, struct conn *c, const struct sip_msg *m, bool stateless)
{
    struct txn *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->id = ++n->next_txn_id;
    t->node = n;
    t->state = TXN_ROUTING;
    t->method = m->method_id;
    t->stateless = stateless;
    t->in_conn = c->id;
    t->in_side = c->side;
    t->in_tls = c->tls;
    t->in_dialog = m->to_tag.len > 0;
    t->req = malloc(m->raw.len + 1);
    t->timer = evtimer_new(n->base, timer_cb, t);
    if (!t->req || !t->timer)
        goto fail;
    memcpy(t->req, m->raw.p, m->raw.len);
    t->req[m->raw.len] = '\0';
    t->req_len = m->raw.len;
    if (!stateless) {
        char key[600];
        size_t klen = server_key(key, sizeof(key), m, key_method(m));
        if (!klen || !(t->skey = malloc(klen)))
            goto fail;
        memcpy(t->skey, key, klen);
        t->skey_len = klen;
        if (hmap_put(&n->stxns, t->skey, klen, t) < 0)
            goto fail;
    }
    /* the client map doubles as the id index: "#<id>" never collides with a branch */
    char idkey[24];
    int il = snprintf(idkey, sizeof(idkey), "#%llu", (unsigned long long)t->id);
    if (hmap_put(&n->ctxns, idkey, (size_t)il, t) < 0) {
        if (t->skey)
            hmap_del(&n->stxns, t->skey, t->skey_len);
        goto fail;
    }
    return t;
fail:
    if (t->timer)
        event_free(t->timer);
    free(t->skey);
    free(t->req);
    free(t);
    return NULL;
}

struct txn *txn_by_id(struct node *n, uint64_t id)
{
    char idkey[24];
    int il = snprintf(idkey, sizeof(idkey), "#%llu", (unsigned long long)id);
    return hmap_get(&n->ctxns, idkey, (size_t)il);
}

void txn_free(struct txn *t)
{
    struct node *n = t->node;
    txn_detach_out(t);
    if (t->skey && hmap_get(&n->stxns, t->skey, t->skey_len) == t)
        hmap_del(&n->stxns, t->skey, t->skey_len);
    if (t->branch[0])
        hmap_del(&n->ctxns, t->branch, strlen(t->branch));
    char idkey[24];
    int il = snprintf(idkey, sizeof(idkey), "#%llu", (unsigned long long)t->id);
    hmap_del(&n->ctxns, idkey, (size_t)il);
    event_free(t->timer);
    free(t->skey);
    free(t->req);
    free(t->fwd);
    free(t);
}

struct txn *txn_find_server(struct node *n, const struct sip_msg *m, enum sip_method method)
{
    char key[600];
    size_t klen = server_key(key, sizeof(key), m, method);
    return klen ? hmap_get(&n->stxns, key, klen) : NULL;
}

struct txn *txn_find_client(struct node *n, struct slice branch)
{
    if (branch.len == 0 || branch.len >= 64)
        return NULL;
    return hmap_get(&n->ctxns, branch.p, branch.len);
}

int txn_new_branch(struct txn *t)
{
    struct node *n = t->node;
    if (t->branch[0])
        hmap_del(&n->ctxns, t->branch, strlen(t->branch));
    snprintf(t->branch, sizeof(t->branch), "%s%llx", n->branch_prefix,
             (unsigned long long)++n->branch_seq);
    return hmap_put(&n->ctxns, t->branch, strlen(t->branch), t);
}

void txn_attach_out(struct txn *t, struct conn *c)
{
    txn_detach_out(t);
    t->out_conn = c->id;
    t->out_prev = NULL;
    t->out_next = c->pending;
    if (c->pending)
        c->pending->out_prev = t;
    c->pending = t;
}

void txn_detach_out(struct txn *t)
{
    if (!t->out_conn)
        return;
    struct conn *c = conn_by_id(t->node, t->out_conn);
    if (c) {
        if (t->out_prev)
            t->out_prev->out_next = t->out_next;
        else if (c->pending == t)
            c->pending = t->out_next;
        if (t->out_next)
            t->out_next->out_prev = t->out_prev;
    }
    t->out_next = t->out_prev = NULL;
    t->out_conn = 0;
}

void txn_arm(struct txn *t, const struct timeval *tv)
{
    evtimer_add(t->timer, tv);
}

int txn_reparse(const struct txn *t, struct sip_msg *m)
{
    return sip_msg_parse(m, t->req, t->req_len, &t->node->limits);
}
