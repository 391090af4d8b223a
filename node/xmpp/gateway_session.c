/* gateway_session.c -- IM sessions between an internal SIP user and an XMPP
 * user, as Lync / Skype for Business opens them (see gateway_int.h).
 *
 * Lync clients do not start a conversation with a page-mode MESSAGE: they
 * send an INVITE whose SDP offers `m=message 5060 sip null`
 * (a=accept-types:text/plain ...), often with the first message already in
 * an Ms-Text-Format header (ms-body, base64), then send MESSAGEs inside the
 * dialog, typing notifications (INFO application/xml KeyboardActivity, or
 * RFC 3994 im-iscomposing in a MESSAGE) and a BYE at the end. XMPP has no
 * sessions (RFC 7572 section 7 leaves session-mode chat to MSRP), so the
 * gateway is the far end of the SIP dialog:
 *  - INVITE (policy as for page-mode MESSAGE: federation and XMPP on, the
 *    partner listed and not blocked, the user's enable_xmpp_access; 403
 *    otherwise): 200 OK at once, our tag, Contact the gateway's pool contact
 *    (sip:<internal record_route_host>;ep-xmpp, so the dialog's requests
 *    reach any node), the request's Record-Route copied, and the answer
 *    `m=message <port> sip null` + `a=accept-types:text/plain`, other
 *    offered streams refused with port 0. No message stream: 488 with a
 *    Warning (304); SDP that does not parse, or no Contact: 400.
 *  - ACK: absorbed (xmpp_gateway_sip_request).
 *  - MESSAGE text/plain: <message type='chat'/> with <active/> (XEP-0085),
 *    <thread/> the Call-ID; 200 once the stanza is queued on the XMPP stream
 *    (a send refused at once is mapped as in page mode: 403, 503, 513...).
 *  - typing (MESSAGE or INFO): <composing/> or <paused/>, 200.
 *  - BYE: 200, the session forgotten, <gone/> sent.
 *  - re-INVITE: 200 with a fresh answer (or 488 / 400 as above).
 * The XMPP user's messages to the internal user go inside the latest
 * session between the two while it lasts (gateway_im.c asks
 * gw_sess_for_reply), with our tag, their tag as To, CSeq counted in the
 * pool's record; a 481 (or no answer) to one ends the session here.
 *
 * The other direction: a Lync client shows IM of sessions only (it starts
 * every conversation with INVITE and expects the same), so when an XMPP
 * user writes first to an internal user known to take sessions (one who
 * opened a session by INVITE in the last GW_SESSION_MODE_TTL_S, recorded
 * pool-wide), the gateway opens one (gw_sess_open): INVITE with the same
 * `m=message <port> sip null` offer and our pool Contact, the stanzas that
 * arrive meanwhile queued on it, ACK of the 2xx, then the queued texts as
 * MESSAGEs in the dialog in order; later stanzas reuse it; after
 * xmpp.session_idle_timeout without traffic either way (pool-wide: the
 * record's TTL is renewed by every use) the gateway sends BYE and <gone/>.
 * An INVITE answered 405/415/488/501/606 (the endpoint takes no IM
 * sessions) falls back to page mode; other failures bounce each queued
 * stanza with the mapped error. Users never seen with a session get page
 * mode as before (SIP endpoints that take MESSAGE, the other tests).
 *
 * In Redis (shared/pool_keys.h): ep:<pool>:xsess:<call-id> and
 * ep:<pool>:xspair:<sip>:<xmpp-aor>, both with a TTL of GW_SESSION_IDLE_S
 * renewed by each request, and ep:<pool>:xsmode:<sip> (the user takes
 * sessions); reads go to Redis when it is up (another node
 * may have ended the session), each node keeping a copy it uses alone when
 * there is no pool or Redis is down. No command touches two keys.
 *
 * Ownership: struct gw_sess copies live in g->sess, pending INVITEs of
 * ours (struct gw_open, their waiters) in g->opening until answered (freed
 * here, or by gateway_sip.c's free_arg when the gateway goes first); every
 * asynchronous step owns a heap context it frees in its callback. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "log.h"
#include "node.h"
#include "pool/pool.h"
#include "pool_keys.h"
#include "xmpp/gateway_int.h"
#include "xmpp/gateway_sdp.h"

#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define ALLOW_SESS "Allow: INVITE, ACK, BYE, CANCEL, MESSAGE, INFO, OPTIONS\r\n"

static const char cseq_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HINCRBY', KEYS[1], 'cseq', 1) "
    "end return 0";
static const char del_pair_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

static bool pool_usable(const struct node *n)
{
    return n->pool && n->pool->up && !n->pool->closing;
}

static bool gone(const struct node *n)
{
    return !n->gateway || n->gateway->closing || (n->pool && n->pool->closing);
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* the XMPP user's AOR form (what gateway_im.c has for a stanza's sender) */
static void xmpp_aor(const struct gw_sess *s, char *out, size_t cap)
{
    if (gw_jid_to_aor(s->xmpp, strlen(s->xmpp), out, cap) < 0)
        snprintf(out, cap, "%s", s->xmpp);
}

static void key_sess(const struct node *n, const char *call_id, char *out, size_t cap)
{
    snprintf(out, cap, EP_KEY_XSESS, n->pool->name, call_id);
}

static void key_pair(const struct node *n, const char *sip, const char *xaor, char *out, size_t cap)
{
    char a[GW_ADDR_MAX], b[GW_ADDR_MAX];
    snprintf(a, sizeof(a), "%s", sip);
    snprintf(b, sizeof(b), "%s", xaor);
    lower(a);
    lower(b);
    snprintf(out, cap, EP_KEY_XSPAIR, n->pool->name, a, b);
}

/* ---- this node's copies ---- */

static void mem_put(struct node *n, const struct gw_sess *s)
{
    struct xmpp_gateway *g = n->gateway;
    struct gw_sess *m = hmap_get(&g->sess, s->call_id, strlen(s->call_id));
    if (!m) {
        m = malloc(sizeof(*m));
        if (!m || hmap_put(&g->sess, s->call_id, strlen(s->call_id), m) < 0) {
            free(m);
            return;
        }
    }
    uint32_t cseq = m->cseq > s->cseq ? m->cseq : s->cseq;
    *m = *s;
    m->cseq = cseq;
    m->used_ms = pool_wall_ms();
}

static void mem_del(struct node *n, const char *call_id)
{
    free(hmap_del(&n->gateway->sess, call_id, strlen(call_id)));
}

struct find_mem {
    const char *sip, *xaor;
    struct gw_sess *best;
};

static void find_pair_cb(void *arg, const char *key, void *value)
{
    struct find_mem *f = arg;
    struct gw_sess *s = value;
    char xa[GW_ADDR_MAX];
    xmpp_aor(s, xa, sizeof(xa));
    if (strcasecmp(s->sip, f->sip) == 0 && strcasecmp(xa, f->xaor) == 0 &&
        (!f->best || s->created_ms > f->best->created_ms))
        f->best = s;
}

/* ---- the pool's records ---- */

static void sess_save(struct node *n, const struct gw_sess *s)
{
    mem_put(n, s);
    if (!n->pool || n->pool->closing)
        return;
    struct pool *p = n->pool;
    char key[400], pair[1300], xa[GW_ADDR_MAX], cseq[16], created[24], ttl[16];
    key_sess(n, s->call_id, key, sizeof(key));
    xmpp_aor(s, xa, sizeof(xa));
    key_pair(n, s->sip, xa, pair, sizeof(pair));
    snprintf(cseq, sizeof(cseq), "%" PRIu32, s->cseq);
    snprintf(created, sizeof(created), "%" PRIu64, s->created_ms);
    snprintf(ttl, sizeof(ttl), "%d", GW_SESSION_IDLE_S);
    char dir[2] = {s->dir ? s->dir : 'i', 0};
    const char *argv[] = {"HSET",       key,        "dir",    dir,           "sip",   s->sip,
                          "sip_jid",    s->sip_jid, "xmpp",   s->xmpp,       "ltag",  s->ltag,
                          "rtag",       s->rtag,    "target", s->target,     "route", s->route,
                          "created_ms", created,    "node",   n->cfg.node_id};
    p->stats.writes++;
    redis_command_argv(p->redis, pool_write_done, p, (int)(sizeof(argv) / sizeof(argv[0])), argv,
                       NULL);
    pool_write(p, "HSETNX %s cseq %s", key, cseq);
    pool_write(p, "EXPIRE %s %s", key, ttl);
    pool_write(p, "SET %s %s EX %s", pair, s->call_id, ttl);
}

/* A request went through the session: it lives GW_SESSION_IDLE_S more. */
static void sess_touch(struct node *n, const struct gw_sess *s)
{
    struct gw_sess *m = hmap_get(&n->gateway->sess, s->call_id, strlen(s->call_id));
    if (m)
        m->used_ms = pool_wall_ms();
    if (!n->pool || n->pool->closing)
        return;
    char key[400], pair[1300], xa[GW_ADDR_MAX], ttl[16];
    key_sess(n, s->call_id, key, sizeof(key));
    xmpp_aor(s, xa, sizeof(xa));
    key_pair(n, s->sip, xa, pair, sizeof(pair));
    snprintf(ttl, sizeof(ttl), "%d", GW_SESSION_IDLE_S);
    pool_write(n->pool, "EXPIRE %s %s", key, ttl);
    pool_write(n->pool, "EXPIRE %s %s", pair, ttl);
}

void gw_sess_forget(struct node *n, const struct gw_sess *s)
{
    if (!n->gateway || n->gateway->closing)
        return;
    mem_del(n, s->call_id);
    if (!n->pool || n->pool->closing)
        return;
    char key[400], pair[1300], xa[GW_ADDR_MAX];
    key_sess(n, s->call_id, key, sizeof(key));
    xmpp_aor(s, xa, sizeof(xa));
    key_pair(n, s->sip, xa, pair, sizeof(pair));
    pool_write(n->pool, "DEL %s", key);
    pool_write(n->pool, "EVAL %s 1 %s %s", del_pair_script, pair, s->call_id);
}

static bool from_reply(const redisReply *r, const char *call_id, struct gw_sess *s)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return false;
    memset(s, 0, sizeof(*s));
    snprintf(s->call_id, sizeof(s->call_id), "%s", call_id);
    gw_hash_str(r, "sip", s->sip, sizeof(s->sip));
    gw_hash_str(r, "sip_jid", s->sip_jid, sizeof(s->sip_jid));
    gw_hash_str(r, "xmpp", s->xmpp, sizeof(s->xmpp));
    gw_hash_str(r, "ltag", s->ltag, sizeof(s->ltag));
    gw_hash_str(r, "rtag", s->rtag, sizeof(s->rtag));
    gw_hash_str(r, "target", s->target, sizeof(s->target));
    gw_hash_str(r, "route", s->route, sizeof(s->route));
    const char *v;
    if ((v = redis_hash_get(r, "dir")))
        s->dir = v[0];
    if ((v = redis_hash_get(r, "cseq")))
        s->cseq = (uint32_t)strtoul(v, NULL, 10);
    if ((v = redis_hash_get(r, "created_ms")))
        s->created_ms = strtoull(v, NULL, 10);
    return s->sip[0] && s->xmpp[0] && s->ltag[0] && s->target[0];
}

/* ---- reading: by Call-ID, by pair ---- */

struct get_ctx {
    struct node *node;
    char call_id[256];
    char sip[GW_ADDR_MAX], xaor[GW_ADDR_MAX]; /* pair lookups */
    bool want_cseq;
    gw_sess_fn cb;
    gw_route_fn rcb; /* pair lookups: told whether the user takes sessions */
    void *arg;
};

static void give(struct get_ctx *x, struct gw_sess *s)
{
    if (x->rcb)
        x->rcb(x->node, x->arg, s, s != NULL);
    else
        x->cb(x->node, x->arg, s);
    free(x);
}

static const char *const mode_tag = "session";

static void key_mode(const struct node *n, const char *sip, char *out, size_t cap)
{
    char a[GW_ADDR_MAX];
    snprintf(a, sizeof(a), "%s", sip);
    lower(a);
    snprintf(out, cap, EP_KEY_XSMODE, n->pool->name, a);
}

/* sip took (or opened) an IM session: the XMPP side opens sessions toward it */
static void mode_put(struct node *n, const char *sip)
{
    struct xmpp_gateway *g = n->gateway;
    if (!hmap_get(&g->sess_users, sip, strlen(sip)))
        hmap_put(&g->sess_users, sip, strlen(sip), (void *)mode_tag);
    if (!n->pool || n->pool->closing)
        return;
    char key[700], ttl[16];
    key_mode(n, sip, key, sizeof(key));
    snprintf(ttl, sizeof(ttl), "%d", GW_SESSION_MODE_TTL_S);
    pool_write(n->pool, "SET %s 1 EX %s", key, ttl);
}

/* no session for the pair: does the user take sessions? (known: the user
 * opened one themselves lately; xmpp.im_sessions decides what that means) */
static void give_none(struct get_ctx *x, bool known)
{
    struct xmpp_gateway_settings gs;
    xmpp_gateway_settings(x->node, &gs);
    bool sessions = gs.im_sessions == XMPP_IM_SESSIONS_ALWAYS ||
                    (gs.im_sessions == XMPP_IM_SESSIONS_AUTO && known);
    x->rcb(x->node, x->arg, NULL, sessions);
    free(x);
}

static void mode_done(void *arg, const redisReply *reply, const char *err)
{
    struct get_ctx *x = arg;
    struct node *n = x->node;
    if (gone(n)) {
        give(x, NULL);
        return;
    }
    bool known = hmap_get(&n->gateway->sess_users, x->sip, strlen(x->sip)) != NULL;
    if (!pool_reply_failed(reply) && reply->type == REDIS_REPLY_STRING) {
        if (!known)
            hmap_put(&n->gateway->sess_users, x->sip, strlen(x->sip), (void *)mode_tag);
        known = true;
    }
    give_none(x, known);
}

static void no_pair(struct get_ctx *x)
{
    struct node *n = x->node;
    if (pool_usable(n)) {
        char key[700];
        key_mode(n, x->sip, key, sizeof(key));
        if (redis_command(n->pool->redis, mode_done, x, "GET %s", key) == 0)
            return;
    }
    give_none(x, hmap_get(&n->gateway->sess_users, x->sip, strlen(x->sip)) != NULL);
}

static void get_mem(struct get_ctx *x)
{
    struct node *n = x->node;
    struct gw_sess *m = hmap_get(&n->gateway->sess, x->call_id, strlen(x->call_id));
    if (!m) {
        give(x, NULL);
        return;
    }
    struct gw_sess copy = *m;
    if (x->want_cseq)
        copy.cseq = ++m->cseq;
    give(x, &copy);
}

static void cseq_done(void *arg, const redisReply *reply, const char *err);

/* s read (from Redis): take a CSeq when asked, then hand it over */
static void got(struct get_ctx *x, struct gw_sess *s)
{
    struct node *n = x->node;
    mem_put(n, s);
    if (!x->want_cseq) {
        give(x, s);
        return;
    }
    char key[400];
    key_sess(n, s->call_id, key, sizeof(key));
    if (redis_command(n->pool->redis, cseq_done, x, "EVAL %s 1 %s", cseq_script, key) < 0)
        get_mem(x);
}

static void cseq_done(void *arg, const redisReply *reply, const char *err)
{
    struct get_ctx *x = arg;
    struct node *n = x->node;
    if (gone(n)) {
        give(x, NULL);
        return;
    }
    struct gw_sess *m = hmap_get(&n->gateway->sess, x->call_id, strlen(x->call_id));
    if (!m) {
        give(x, NULL);
        return;
    }
    if (!pool_reply_failed(reply) && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        m->cseq = (uint32_t)reply->integer;
        struct gw_sess copy = *m;
        give(x, &copy);
        return;
    }
    if (!pool_reply_failed(reply) && reply->type == REDIS_REPLY_INTEGER) {
        mem_del(n, x->call_id); /* ended meanwhile by another node */
        give(x, NULL);
        return;
    }
    get_mem(x);
}

static void hget_done(void *arg, const redisReply *reply, const char *err)
{
    struct get_ctx *x = arg;
    struct node *n = x->node;
    if (gone(n)) {
        give(x, NULL);
        return;
    }
    if (pool_reply_failed(reply)) { /* Redis went away: what this node knows */
        get_mem(x);
        return;
    }
    struct gw_sess *s = malloc(sizeof(*s));
    if (s && from_reply(reply, x->call_id, s)) {
        got(x, s);
    } else {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0)
            mem_del(n, x->call_id); /* ended by another node, or idle past its TTL */
        give(x, NULL);
    }
    free(s);
}

static void sess_get(struct get_ctx *x)
{
    struct node *n = x->node;
    if (pool_usable(n)) {
        char key[400];
        key_sess(n, x->call_id, key, sizeof(key));
        if (redis_command(n->pool->redis, hget_done, x, "HGETALL %s", key) == 0)
            return;
    }
    get_mem(x);
}

static void pair_mem(struct get_ctx *x)
{
    struct find_mem f = {x->sip, x->xaor, NULL};
    hmap_each(&x->node->gateway->sess, find_pair_cb, &f);
    if (!f.best) {
        no_pair(x);
        return;
    }
    snprintf(x->call_id, sizeof(x->call_id), "%s", f.best->call_id);
    get_mem(x);
}

static void pair_done(void *arg, const redisReply *reply, const char *err)
{
    struct get_ctx *x = arg;
    if (gone(x->node)) {
        give(x, NULL);
        return;
    }
    if (pool_reply_failed(reply)) {
        pair_mem(x);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || !reply->len || reply->len >= sizeof(x->call_id)) {
        no_pair(x);
        return;
    }
    snprintf(x->call_id, sizeof(x->call_id), "%s", reply->str);
    sess_get(x);
}

void gw_sess_for_reply(struct node *n, const char *sip, const char *xmpp, gw_route_fn cb, void *arg)
{
    struct get_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        cb(n, arg, NULL, false);
        return;
    }
    x->node = n;
    x->rcb = cb;
    x->arg = arg;
    x->want_cseq = true;
    snprintf(x->sip, sizeof(x->sip), "%s", sip);
    snprintf(x->xaor, sizeof(x->xaor), "%s", xmpp);
    if (pool_usable(n)) {
        char pair[1300];
        key_pair(n, sip, xmpp, pair, sizeof(pair));
        if (redis_command(n->pool->redis, pair_done, x, "GET %s", pair) == 0)
            return;
    }
    pair_mem(x);
}

void gw_sess_dialog_hdrs(const struct gw_sess *s, const char *method, char *out, size_t cap)
{
    char xa[GW_ADDR_MAX], route[1100] = "";
    xmpp_aor(s, xa, sizeof(xa));
    if (s->route[0])
        snprintf(route, sizeof(route), "Route: %s\r\n", s->route);
    snprintf(out, cap,
             "%sFrom: <sip:%s>;tag=%s\r\nTo: <sip:%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: %" PRIu32
             " %s\r\n",
             route, xa, s->ltag, s->sip, s->rtag, s->call_id, s->cseq, method);
}

/* ---- stanzas toward the XMPP user ---- */

enum chat_state { CS_NONE = -1, CS_PAUSED = 0, CS_COMPOSING = 1, CS_ACTIVE = 2, CS_GONE = 3 };

/* <message type='chat'/> from the internal user to the XMPP user in s:
 * body (may be NULL) and a chat state. xmpp_send_stanza's value. */
static int send_chat(struct node *n, const struct gw_sess *s, const char *body, size_t len,
                     enum chat_state cs, char *id, size_t idcap)
{
    static const char *const names[] = {"paused", "composing", "active", "gone"};
    char ef[GW_ADDR_MAX * 2], et[GW_ADDR_MAX * 2], cid[800], state[120] = "";
    gw_esc(ef, sizeof(ef), s->sip_jid);
    gw_esc(et, sizeof(et), s->xmpp);
    gw_esc(cid, sizeof(cid), s->call_id);
    gw_token(n->gateway, "m", id, idcap);
    if (cs != CS_NONE)
        snprintf(state, sizeof(state), "<%s xmlns='" NS_CHATSTATES "'/>", names[cs]);
    char *eb = body ? gw_esc_dup(body, len) : NULL;
    if (body && !eb)
        return XMPP_SEND_NOMEM;
    char *xml = NULL;
    int k = asprintf(
        &xml,
        "<message from='%s' to='%s' type='chat' id='%s'>%s%s%s<thread>%s</thread>%s</message>", ef,
        et, id, eb ? "<body>" : "", eb ? eb : "", eb ? "</body>" : "", cid, state);
    free(eb);
    if (k < 0)
        return XMPP_SEND_NOMEM;
    int rc = gw_send(n, s->sip_jid, s->xmpp, xml, (size_t)k);
    free(xml);
    return rc;
}

/* ---- answering ---- */

/* 200 OK to INVITE m with our SDP answer (Record-Route copied: RFC 3261
 * 12.1.1). false when it does not fit. */
static bool reply_200_sdp(struct node *n, struct conn *c, const struct sip_msg *m, const char *ltag,
                          const char *sdp, size_t sdp_len)
{
    char *o = n->out_buf;
    size_t cap = n->out_cap, len = 0;
    int k = snprintf(o, cap, "SIP/2.0 200 OK\r\n");
    len = k > 0 ? (size_t)k : 0;
    for (unsigned i = 0; i < m->nhdrs && len < cap; i++) {
        const struct sip_hdr *h = &m->hdrs[i];
        const char *name = NULL;
        switch (h->id) {
        case SIP_HDR_VIA:
            name = "Via";
            break;
        case SIP_HDR_RECORD_ROUTE:
            name = "Record-Route";
            break;
        case SIP_HDR_FROM:
            name = "From";
            break;
        case SIP_HDR_CALL_ID:
            name = "Call-ID";
            break;
        case SIP_HDR_CSEQ:
            name = "CSeq";
            break;
        case SIP_HDR_TO:
            k = snprintf(o + len, cap - len, "To: %.*s%s%s\r\n", SLICE_FMT(h->value),
                         m->to_tag.len ? "" : ";tag=", m->to_tag.len ? "" : ltag);
            len += k > 0 ? (size_t)k : cap;
            continue;
        default:
            continue;
        }
        k = snprintf(o + len, cap - len, "%s: %.*s\r\n", name, SLICE_FMT(h->value));
        len += k > 0 ? (size_t)k : cap;
    }
    char contact[300];
    gw_contact(n, contact, sizeof(contact));
    if (len < cap) {
        k = snprintf(o + len, cap - len,
                     "Contact: %s\r\n" ALLOW_SESS "Server: edgepool\r\n"
                     "Content-Type: application/sdp\r\nContent-Length: %zu\r\n\r\n",
                     contact, sdp_len);
        len += k > 0 ? (size_t)k : cap;
    }
    if (len >= cap || cap - len < sdp_len)
        return false;
    memcpy(o + len, sdp, sdp_len);
    len += sdp_len;
    if (conn_send(c, o, len) == 0) {
        n->stats.local_responses++;
        n->stats.responses_out++;
    }
    return true;
}

/* Read m's offer and answer it: 200 with our SDP, or 400 / 488. true when
 * 200 was sent. */
static bool answer_offer(struct node *n, struct conn *c, const struct sip_msg *m, const char *ltag,
                         const char *who)
{
    char ct[200];
    if (!m->body.len) {
        LOG_INFO("xmpp-gw", "INVITE %s refused 488: no SDP offer", who);
        gw_sip_reply(n, c, m, 488, "Not Acceptable Here", ltag,
                     "Warning: 399 edgepool \"an IM session needs an SDP offer\"\r\n");
        return false;
    }
    if (!gw_hdr_value(m, SIP_HDR_CONTENT_TYPE, NULL, ct, sizeof(ct)) ||
        strncasecmp(slice_trim(slice_cstr(ct)).p, "application/sdp", 15) != 0) {
        LOG_INFO("xmpp-gw", "INVITE %s refused 415: body is %s, not SDP", who,
                 ct[0] ? ct : "untyped");
        gw_sip_reply(n, c, m, 415, "Unsupported Media Type", ltag, "Accept: application/sdp\r\n");
        return false;
    }
    struct gw_sdp_offer offer;
    const char *why;
    enum gw_sdp_verdict v = gw_sdp_parse(m->body.p, m->body.len, &offer, &why);
    if (v == GW_SDP_BAD) {
        LOG_INFO("xmpp-gw", "INVITE %s refused 400: %s", who, why);
        char r[160];
        snprintf(r, sizeof(r), "Bad Request (%s)", why);
        gw_sip_reply(n, c, m, 400, r, ltag, NULL);
        return false;
    }
    if (v == GW_SDP_NO_IM) {
        LOG_INFO("xmpp-gw", "INVITE %s refused 488: %s", who, why);
        char w[200];
        snprintf(w, sizeof(w), "Warning: 304 %s \"%s\"\r\n", n->cfg.node_fqdn, why);
        gw_sip_reply(n, c, m, 488, "Not Acceptable Here", ltag, w);
        return false;
    }
    char sdp[1500];
    size_t sl = gw_sdp_answer(&offer, n->int_addr.host, n->int_addr.port, pool_wall_ms() / 1000,
                              sdp, sizeof(sdp));
    if (!sl || !reply_200_sdp(n, c, m, ltag, sdp, sl)) {
        gw_sip_reply(n, c, m, 500, "Server Internal Error (SDP answer too large)", ltag, NULL);
        return false;
    }
    return true;
}

/* ---- INVITE: a new session ---- */

void gw_sess_invite(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct xmpp_gateway *g = n->gateway;
    struct gw_sess s;
    memset(&s, 0, sizeof(s));
    char who[GW_ADDR_MAX * 2 + 8];
    snprintf(who, sizeof(who), "from %.*s to %.*s", SLICE_FMT(m->from_uri), SLICE_FMT(m->ruri));
    if (m->call_id.len >= sizeof(s.call_id) || m->from_tag.len == 0 ||
        m->from_tag.len >= sizeof(s.rtag)) {
        gw_sip_reply(n, c, m, 400, "Bad Request (Call-ID or From tag)", NULL, NULL);
        return;
    }
    if (!gw_uri_aor(m->from_uri, s.sip, sizeof(s.sip)) ||
        gw_uri_to_jid(m->from_uri, s.sip_jid, sizeof(s.sip_jid)) < 0) {
        gw_sip_reply(n, c, m, 403, "Forbidden (From is not a user of ours)", NULL, NULL);
        return;
    }
    if (gw_uri_to_jid(m->ruri, s.xmpp, sizeof(s.xmpp)) < 0) {
        gw_sip_reply(n, c, m, 404, "Not Found (no XMPP address for the Request-URI)", NULL, NULL);
        return;
    }
    const char *why;
    int st = gw_policy_check(n, s.sip, gw_addr_domain(slice_cstr(s.xmpp)), &why);
    if (st) {
        LOG_INFO("xmpp-gw", "INVITE (IM session) from %s to %s refused 403: %s", s.sip, s.xmpp,
                 why);
        gw_sip_reply(n, c, m, 403, st == 404 ? "Forbidden (From domain is not ours)" : why, NULL,
                     NULL);
        return;
    }
    char contact[600];
    if (!gw_hdr_value(m, SIP_HDR_CONTACT, NULL, contact, sizeof(contact)) || !contact[0]) {
        gw_sip_reply(n, c, m, 400, "Bad Request (INVITE without Contact)", NULL, NULL);
        return;
    }
    char *lt = strchr(contact, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(s.target, sizeof(s.target), "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(s.target, sizeof(s.target), "%.*s", (int)strcspn(contact, ";"), contact);
    /* the route set, as the UAS sees it: Record-Route values in order */
    size_t rl = 0;
    for (unsigned i = 0; i < m->nhdrs; i++) {
        const struct sip_hdr *h = &m->hdrs[i];
        if (h->id != SIP_HDR_RECORD_ROUTE)
            continue;
        if (rl + h->value.len + 2 >= sizeof(s.route)) {
            gw_sip_reply(n, c, m, 500, "Server Internal Error (route set too long)", NULL, NULL);
            return;
        }
        rl += (size_t)snprintf(s.route + rl, sizeof(s.route) - rl, "%s%.*s", rl ? ", " : "",
                               SLICE_FMT(h->value));
    }
    slice_copy(m->call_id, s.call_id, sizeof(s.call_id));
    slice_copy(m->from_tag, s.rtag, sizeof(s.rtag));
    gw_token(g, "s", s.ltag, sizeof(s.ltag));
    s.created_ms = pool_wall_ms();
    s.dir = 'i';
    if (!answer_offer(n, c, m, s.ltag, who))
        return;
    sess_save(n, &s);
    mode_put(n, s.sip);
    g->stats.sessions++;
    LOG_INFO("xmpp-gw", "IM session %s opened: INVITE from %s to %s answered 200 (tag %s)",
             s.call_id, s.sip, s.xmpp, s.ltag);
    /* Lync carries the first message in the INVITE */
    char first[4096];
    const struct sip_hdr *h = sip_msg_hdr_by_name(m, slice_cstr("Ms-Text-Format"));
    for (; h; h = NULL) {
        char v[6000];
        slice_copy(h->value, v, sizeof(v));
        int fl = gw_ms_text_body(v, first, sizeof(first));
        if (fl <= 0 || !gw_xml_text_ok(first, (size_t)fl))
            break;
        char id[64];
        int rc = send_chat(n, &s, first, (size_t)fl, CS_ACTIVE, id, sizeof(id));
        LOG_INFO("xmpp-gw", "IM session %s: the INVITE's first message %s (<message/> %s)",
                 s.call_id, rc < 0 ? "not sent" : "sent", id);
        if (rc >= 0)
            g->stats.session_messages++;
    }
}

/* ---- requests inside a session ---- */

struct in_ctx {
    struct node *node;
    uint64_t conn_id;
    char *req;
    size_t req_len;
};

static void in_dialog_found(struct node *n, void *arg, struct gw_sess *s)
{
    struct in_ctx *x = arg;
    struct conn *c = gone(n) ? NULL : conn_by_id(n, x->conn_id);
    struct sip_msg m;
    if (!c || sip_msg_parse(&m, x->req, x->req_len, &n->limits) != SIP_OK) {
        if (!gone(n))
            LOG_INFO("xmpp-gw", "a request in IM session %s lost: its connection is gone",
                     s ? s->call_id : "?");
        free(x->req);
        free(x);
        return;
    }
    char totag[128], fromtag[128];
    slice_copy(m.to_tag, totag, sizeof(totag));
    slice_copy(m.from_tag, fromtag, sizeof(fromtag));
    if (!s || strcmp(totag, s->ltag) != 0 || strcmp(fromtag, s->rtag) != 0) {
        LOG_INFO("xmpp-gw", "%.*s from %.*s (Call-ID %.*s) answered 481: no such IM session here",
                 SLICE_FMT(m.method), SLICE_FMT(m.from_uri), SLICE_FMT(m.call_id));
        gw_sip_reply(n, c, &m, 481, "Call/Transaction Does Not Exist", NULL, NULL);
        goto out;
    }
    struct xmpp_gateway *g = n->gateway;
    const char *why;
    char ct[200] = "", id[64] = "";
    int st, rc;
    switch (m.method_id) {
    case SIP_M_BYE:
        gw_sip_reply(n, c, &m, 200, "OK", NULL, NULL);
        send_chat(n, s, NULL, 0, CS_GONE, id, sizeof(id));
        gw_sess_forget(n, s);
        LOG_INFO("xmpp-gw", "IM session %s between %s and %s ended by BYE (200, <gone/> sent)",
                 s->call_id, s->sip, s->xmpp);
        goto out;
    case SIP_M_INVITE:
        if (answer_offer(n, c, &m, s->ltag, "(re-INVITE)"))
            sess_touch(n, s);
        goto out;
    case SIP_M_OPTIONS:
        gw_sip_reply(n, c, &m, 200, "OK", NULL, ALLOW_SESS "Accept: text/plain\r\n");
        goto out;
    case SIP_M_MESSAGE:
    case SIP_M_INFO:
        break;
    default:
        gw_sip_reply(n, c, &m, 405, "Method Not Allowed", NULL, ALLOW_SESS);
        goto out;
    }
    /* the policy may have changed since the INVITE: checked again */
    st = gw_policy_check(n, s->sip, gw_addr_domain(slice_cstr(s->xmpp)), &why);
    if (st) {
        LOG_INFO("xmpp-gw", "%.*s in IM session %s from %s to %s refused 403: %s",
                 SLICE_FMT(m.method), s->call_id, s->sip, s->xmpp, why);
        gw_sip_reply(n, c, &m, 403, st == 404 ? "Forbidden" : why, NULL, NULL);
        goto out;
    }
    gw_hdr_value(&m, SIP_HDR_CONTENT_TYPE, NULL, ct, sizeof(ct));
    int typing = gw_typing_parse(ct, m.body.p, m.body.len);
    if (typing >= 0) {
        rc = send_chat(n, s, NULL, 0, typing ? CS_COMPOSING : CS_PAUSED, id, sizeof(id));
        if (rc < 0) {
            gw_answer_send_error(n, c, &m, rc);
            goto out;
        }
        g->stats.session_typing++;
        gw_sip_reply(n, c, &m, 200, "OK", NULL, NULL);
        LOG_INFO("xmpp-gw", "%.*s in IM session %s: %s typing -> <%s/> to %s", SLICE_FMT(m.method),
                 s->call_id, s->sip, typing ? "composing" : "paused", s->xmpp);
        sess_touch(n, s);
        goto out;
    }
    if (m.method_id == SIP_M_INFO || !gw_is_text_plain(&m)) {
        gw_sip_reply(n, c, &m, 415, "Unsupported Media Type", NULL,
                     "Accept: text/plain, application/im-iscomposing+xml\r\n");
        goto out;
    }
    if (!gw_xml_text_ok(m.body.p, m.body.len)) {
        gw_sip_reply(n, c, &m, 400, "Bad Request (body is not UTF-8 text)", NULL, NULL);
        goto out;
    }
    rc = send_chat(n, s, m.body.p, m.body.len, CS_ACTIVE, id, sizeof(id));
    if (rc < 0) {
        LOG_INFO("xmpp-gw", "MESSAGE in IM session %s from %s to %s not sent: %s", s->call_id,
                 s->sip, s->xmpp, xmpp_send_err_name(rc));
        gw_answer_send_error(n, c, &m, rc);
        goto out;
    }
    g->stats.session_messages++;
    g->stats.messages_to_xmpp++;
    gw_sip_reply(n, c, &m, 200, "OK", NULL, NULL);
    LOG_INFO("xmpp-gw",
             "MESSAGE in IM session %s from %s to %s sent as <message/> %s, answered 200",
             s->call_id, s->sip, s->xmpp, id);
    sess_touch(n, s);
out:
    free(x->req);
    free(x);
}

void gw_sess_in_dialog(struct node *n, struct conn *c, const struct sip_msg *m)
{
    struct in_ctx *x = calloc(1, sizeof(*x));
    struct get_ctx *q = calloc(1, sizeof(*q));
    if (x)
        x->req = malloc(m->raw.len);
    if (!x || !q || !x->req || m->call_id.len >= sizeof(q->call_id)) {
        if (x)
            free(x->req);
        free(x);
        free(q);
        gw_sip_reply(n, c, m, 503, "Service Unavailable (out of memory)", NULL, NULL);
        return;
    }
    memcpy(x->req, m->raw.p, m->raw.len);
    x->req_len = m->raw.len;
    x->node = n;
    x->conn_id = c->id;
    q->node = n;
    q->cb = in_dialog_found;
    q->arg = x;
    slice_copy(m->call_id, q->call_id, sizeof(q->call_id));
    sess_get(q);
}

/* ---- sessions we open (an XMPP user starts the conversation) ---- */

struct open_wait {
    gw_open_fn cb;
    void *arg;
    struct open_wait *next;
};

struct gw_open {
    struct node *node;
    char key[GW_ADDR_MAX * 2 + 2]; /* "sip|xmpp-aor" in g->opening */
    struct gw_sess s;
    struct open_wait *head, **tail;
    bool done; /* the waiters were told */
};

static void open_tell(struct gw_open *op, struct gw_sess *s, int status, const struct sip_msg *resp)
{
    struct node *n = op->node;
    if (!n->gateway->closing)
        hmap_del(&n->gateway->opening, op->key, strlen(op->key));
    op->done = true;
    for (struct open_wait *w = op->head, *next; w; w = next) {
        next = w->next;
        if (s) {
            struct gw_sess copy = *s;
            copy.cseq = ++s->cseq;
            w->cb(n, w->arg, &copy, status, resp);
        } else {
            w->cb(n, w->arg, NULL, status, resp);
        }
        free(w);
    }
    op->head = NULL;
}

static void open_free(void *arg)
{
    struct gw_open *op = arg;
    if (!op->done) /* the gateway is going: nobody gets an answer */
        open_tell(op, NULL, 503, NULL);
    free(op);
}

/* URI inside <...> of a name-addr (or the value up to ';') into out */
static void inv_done(struct node *n, void *arg, int status, const struct sip_msg *resp)
{
    struct gw_open *op = arg;
    struct gw_sess *s = &op->s;
    if (status < 200 || status >= 300 || !resp) {
        LOG_INFO("xmpp-gw", "IM session from %s to %s not opened: INVITE answered %d", s->xmpp,
                 s->sip, status);
        open_tell(op, NULL, status, resp);
        return;
    }
    char contact[600] = "";
    const struct sip_hdr *ch = sip_msg_hdr(resp, SIP_HDR_CONTACT);
    if (ch)
        gw_uri_of(ch->value, contact, sizeof(contact));
    slice_copy(resp->to_tag, s->rtag, sizeof(s->rtag));
    snprintf(s->target, sizeof(s->target), "%s", contact);
    /* the route set of a UAC: Record-Route values reversed */
    bool route_ok = gw_route_set(resp, s->route, sizeof(s->route));
    struct gw_sdp_offer ans;
    const char *why = NULL;
    enum gw_sdp_verdict v =
        resp->body.len ? gw_sdp_parse(resp->body.p, resp->body.len, &ans, &why) : GW_SDP_BAD;
    char hdrs[2500], ruri[600];
    s->cseq = 1;
    gw_sess_dialog_hdrs(s, "ACK", hdrs, sizeof(hdrs));
    snprintf(ruri, sizeof(ruri), "%s", s->target[0] ? s->target : "sip:invalid");
    if (!s->rtag[0] || !s->target[0] || !route_ok || v != GW_SDP_IM) {
        /* a dialog we cannot use: ACK it, end it, and say why */
        LOG_INFO("xmpp-gw", "IM session %s from %s to %s: unusable 2xx (%s): ACK and BYE",
                 s->call_id, s->xmpp, s->sip,
                 !s->rtag[0] || !s->target[0] ? "no tag or Contact"
                 : !route_ok                  ? "route set too long"
                                              : (why ? why : "no SDP answer"));
        if (s->target[0]) {
            gw_sip_request(n, "ACK", ruri, hdrs, NULL, NULL, 0, NULL, NULL, NULL);
            s->cseq = 2;
            gw_sess_dialog_hdrs(s, "BYE", hdrs, sizeof(hdrs));
            gw_sip_request(n, "BYE", ruri, hdrs, NULL, NULL, 0, NULL, NULL, NULL);
        }
        open_tell(op, NULL, 488, NULL);
        return;
    }
    if (gw_sip_request(n, "ACK", ruri, hdrs, NULL, NULL, 0, NULL, NULL, NULL) < 0)
        LOG_WARN("xmpp-gw", "IM session %s: ACK not sent", s->call_id);
    unsigned waiters = 0;
    for (struct open_wait *w = op->head; w; w = w->next)
        waiters++;
    s->cseq = 1 + waiters; /* the record's CSeq: the waiters take 2.. */
    sess_save(n, s);
    mode_put(n, s->sip);
    n->gateway->stats.sessions++;
    LOG_INFO("xmpp-gw",
             "IM session %s opened by us: INVITE from %s to %s answered 200 (%u waiting)",
             s->call_id, s->xmpp, s->sip, waiters);
    s->cseq = 1;
    open_tell(op, s, 200, resp);
}

void gw_sess_open(struct node *n, const char *sip, const char *sip_jid, const char *xmpp_jid,
                  const char *trust, gw_open_fn cb, void *arg)
{
    struct xmpp_gateway *g = n->gateway;
    struct open_wait *w = calloc(1, sizeof(*w));
    char key[GW_ADDR_MAX * 2 + 2];
    snprintf(key, sizeof(key), "%s|%s", sip, xmpp_jid);
    struct gw_open *op = w ? hmap_get(&g->opening, key, strlen(key)) : NULL;
    if (!w) {
        cb(n, arg, NULL, 503, NULL);
        return;
    }
    w->cb = cb;
    w->arg = arg;
    if (op) { /* our INVITE is on its way: wait for it */
        *op->tail = w;
        op->tail = &w->next;
        return;
    }
    op = calloc(1, sizeof(*op));
    if (!op || hmap_put(&g->opening, key, strlen(key), op) < 0) {
        free(op);
        free(w);
        cb(n, arg, NULL, 503, NULL);
        return;
    }
    op->node = n;
    snprintf(op->key, sizeof(op->key), "%s", key);
    op->head = w;
    op->tail = &w->next;
    struct gw_sess *s = &op->s;
    snprintf(s->sip, sizeof(s->sip), "%s", sip);
    snprintf(s->sip_jid, sizeof(s->sip_jid), "%s", sip_jid);
    snprintf(s->xmpp, sizeof(s->xmpp), "%s", xmpp_jid);
    char t[64];
    gw_token(g, "s", s->ltag, sizeof(s->ltag));
    gw_token(g, "c", t, sizeof(t));
    snprintf(s->call_id, sizeof(s->call_id), "%s@%s", t, n->cfg.node_fqdn);
    s->created_ms = pool_wall_ms();
    s->dir = 'o';
    s->cseq = 1;
    struct gw_sdp_offer offer = {.n_media = 1, .im_index = 0};
    char sdp[600], contact[300], xa[GW_ADDR_MAX], hdrs[3000], ruri[GW_ADDR_MAX + 8];
    size_t sl = gw_sdp_answer(&offer, n->int_addr.host, n->int_addr.port, pool_wall_ms() / 1000,
                              sdp, sizeof(sdp));
    gw_contact(n, contact, sizeof(contact));
    xmpp_aor(s, xa, sizeof(xa));
    snprintf(hdrs, sizeof(hdrs),
             "From: <sip:%s>;tag=%s\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"
             "Contact: %s\r\n" ALLOW_SESS "%s",
             xa, s->ltag, sip, s->call_id, contact, trust);
    snprintf(ruri, sizeof(ruri), "sip:%s", sip);
    if (!sl || gw_sip_request(n, "INVITE", ruri, hdrs, "application/sdp", sdp, sl, inv_done, op,
                              open_free) < 0) {
        hmap_del(&g->opening, key, strlen(key));
        free(op);
        free(w);
        cb(n, arg, NULL, 503, NULL);
        return;
    }
    LOG_INFO("xmpp-gw", "IM session %s: INVITE from %s to %s sent (the XMPP user starts)",
             s->call_id, s->xmpp, s->sip);
}

/* ---- housekeeping ---- */

struct idle_scan {
    uint64_t out_idle_ms; /* xmpp.session_idle_timeout */
    uint64_t now;
    char **ids, **byes;
    size_t n, nb, cap;
};

static void idle_cb(void *arg, const char *key, void *value)
{
    struct idle_scan *sc = arg;
    struct gw_sess *s = value;
    if (sc->now > s->used_ms + (uint64_t)GW_SESSION_IDLE_S * 1000) {
        if (sc->n < sc->cap)
            sc->ids[sc->n++] = s->call_id;
    } else if (s->dir == 'o' && !s->idle_check && sc->now > s->used_ms + sc->out_idle_ms &&
               sc->nb < sc->cap) {
        sc->byes[sc->nb++] = s->call_id;
    }
}

/* End our idle session: BYE inward, <gone/> outward, forgotten. */
static void idle_bye(struct node *n, struct gw_sess *m)
{
    struct gw_sess s = *m;
    s.cseq = ++m->cseq;
    if (n->pool && !n->pool->closing) {
        char key[400];
        key_sess(n, s.call_id, key, sizeof(key));
        pool_write(n->pool, "EVAL %s 1 %s", cseq_script, key);
    }
    char hdrs[2500], id[64];
    gw_sess_dialog_hdrs(&s, "BYE", hdrs, sizeof(hdrs));
    if (gw_sip_request(n, "BYE", s.target, hdrs, NULL, NULL, 0, NULL, NULL, NULL) < 0)
        LOG_WARN("xmpp-gw", "IM session %s: idle BYE not sent", s.call_id);
    send_chat(n, &s, NULL, 0, CS_GONE, id, sizeof(id));
    struct xmpp_gateway_settings gs;
    xmpp_gateway_settings(n, &gs);
    LOG_INFO("xmpp-gw", "IM session %s between %s and %s idle for %d s: BYE sent, <gone/> to %s",
             s.call_id, s.xmpp, s.sip, gs.session_idle_s, s.xmpp);
    gw_sess_forget(n, &s);
}

static int out_idle_s(const struct node *n)
{
    struct xmpp_gateway_settings gs;
    xmpp_gateway_settings(n, &gs);
    return gs.session_idle_s;
}

struct ttl_ctx {
    struct node *node;
    char call_id[256];
};

/* The pool's TTL of an idle candidate: it is renewed to GW_SESSION_IDLE_S
 * by every use on any node, so it says how long the session has really
 * been idle. */
static void ttl_done(void *arg, const redisReply *reply, const char *err)
{
    struct ttl_ctx *x = arg;
    struct node *n = x->node;
    struct gw_sess *m =
        gone(n) ? NULL : hmap_get(&n->gateway->sess, x->call_id, strlen(x->call_id));
    if (m) {
        m->idle_check = false;
        if (pool_reply_failed(reply) || reply->type != REDIS_REPLY_INTEGER) {
            /* Redis went away: try again next tick (then alone) */
        } else if (reply->integer == -2) {
            mem_del(n, x->call_id); /* ended elsewhere */
        } else if (reply->integer > GW_SESSION_IDLE_S - out_idle_s(n)) {
            uint64_t used_ago = (uint64_t)(GW_SESSION_IDLE_S - reply->integer) * 1000;
            uint64_t now = pool_wall_ms();
            m->used_ms = now > used_ago ? now - used_ago : now; /* used on another node */
        } else {
            idle_bye(n, m);
        }
    }
    free(x);
}

void gw_sess_tick(struct node *n)
{
    struct xmpp_gateway *g = n->gateway;
    if (!g || !g->sess.count)
        return;
    char *ids[64], *byes[64];
    struct idle_scan sc = {(uint64_t)out_idle_s(n) * 1000, pool_wall_ms(), ids, byes, 0, 0, 64};
    hmap_each(&g->sess, idle_cb, &sc);
    for (size_t i = 0; i < sc.nb; i++) {
        struct gw_sess *m = hmap_get(&g->sess, byes[i], strlen(byes[i]));
        if (!m)
            continue;
        if (pool_usable(n)) {
            struct ttl_ctx *x = calloc(1, sizeof(*x));
            char key[400];
            key_sess(n, m->call_id, key, sizeof(key));
            if (x) {
                x->node = n;
                snprintf(x->call_id, sizeof(x->call_id), "%s", m->call_id);
                if (redis_command(n->pool->redis, ttl_done, x, "TTL %s", key) == 0) {
                    m->idle_check = true;
                    continue;
                }
                free(x);
            }
        }
        idle_bye(n, m);
    }
    for (size_t i = 0; i < sc.n; i++) {
        char id[256];
        snprintf(id, sizeof(id), "%s", ids[i]);
        LOG_INFO("xmpp-gw", "IM session %s idle for %d s: forgotten here", id, GW_SESSION_IDLE_S);
        mem_del(n, id);
    }
}

static void free_sess(void *arg, const char *key, void *value)
{
    free(value);
}

void gw_sess_free_all(struct xmpp_gateway *g)
{
    hmap_each(&g->sess, free_sess, NULL);
}
