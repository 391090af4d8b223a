/* proxy.c -- the VIP's L4 TCP proxy (see vip.h): listeners, the splice of
 * bytes both ways (TLS untouched), backpressure, half-close, idle and
 * connect timeouts, retry on another node when a connect fails, and the
 * per-node connection lists that let a dead node's connections be closed at
 * once.
 *
 * Per connection: one bufferevent per side for what a socket did not take
 * at once (its output queue, write watermark, write errors and stalls), our
 * own read event per side (one recv of up to 64 KiB, sent straight on), an
 * optimistic connect to the node. Connections come from a free list grown
 * in slabs, so once warm a connection costs no allocation of ours beyond its
 * two bufferevents; a source seen before is pinned from the local table
 * (pin.c) without a Redis round trip. */
#include "vip/vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balancer.h"
#include "health/health.h"
#include "hmap.h"
#include "log.h"
#include "vip/pin.h"
#include "vip/proxy_proto.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define VIP_MAX_ATTEMPTS 3       /* nodes tried for one connection */
#define VIP_BUF_MAX (256 * 1024) /* bytes queued toward one side before reading pauses */
#define VIP_FAILED_HOLD_MS 2000  /* a node whose connect failed is not picked for this long */
#define VIP_SLAB 256             /* connections allocated at once */
#define VIP_READ (64 * 1024)     /* bytes read from a socket at once */

enum vip_kind { KIND_SIP, KIND_XMPP };

struct vip_backend {
    char id[64];
    struct vip_conn *conns; /* open (or connecting) to this node */
    unsigned n_conns;
    uint64_t failed_until_ms;
};

struct vip_listener {
    struct vip *v;
    struct evconnlistener *l;
    struct sockaddr_storage addr; /* VIP address and port */
    socklen_t alen;
    bool wildcard;
    uint16_t port;
    enum vip_kind kind;
    struct event ev_resume; /* accepting again after running out of descriptors */
    bool resume_set;
    uint64_t err_log_ms;
};

enum vip_phase { PH_FREE, PH_RESOLVING, PH_CONNECTING, PH_OPEN };

struct vip_conn {
    struct vip *v;
    struct vip_conn *next, *prev;         /* in be->conns; next alone: the free list */
    struct vip_conn *all_next, *all_prev; /* every live connection */
    /* Each side's bufferevent queues what the socket did not take at once
     * and reports write errors and stalls; reading is ours (ev_*_rd: one
     * recv of up to VIP_READ per wakeup, sent straight into the other
     * socket), as libevent 2.1 reads 4 KiB at a time and adds and removes
     * a write event for every chunk. The node's connect is optimistic, as
     * HAProxy's: both sides are read at once, the first send tells whether
     * it worked (on loopback and LANs it has by then), and a failure before
     * any byte moved is retried on another node with the bytes carried. */
    struct bufferevent *cli, *srv;
    struct event ev_cli_rd, ev_srv_rd; /* assigned once each side is open */
    struct pin *pin;
    struct vip_backend *be;
    struct vip_listener *lst;
    struct pin_waiter wait;
    struct sockaddr_storage src;
    uint64_t last_read_ms;
    uint8_t phase, attempts;
    bool cli_rd, srv_rd;         /* that read event is assigned (and maybe added) */
    bool cli_eof, srv_eof;       /* EOF read from that side */
    bool cli_shut, srv_shut;     /* our write toward that side shut down */
    bool cli_paused, srv_paused; /* reading paused: the other side's output is full */
    bool fwd;                    /* a byte went to the node or came from it */
    bool hdr_done;               /* the PROXY header is sent or queued (or not wanted) */
    uint8_t hdr_queued;          /* bytes of it queued in srv's output, not yet sent */
    struct evbuffer *carry;      /* a failed attempt's unsent bytes, for the next node */
};

struct vip_slab {
    struct vip_slab *next;
    struct vip_conn c[VIP_SLAB];
};

struct vip {
    struct balancer *b;
    struct pin_table *pins;
    struct vip_listener *lst;
    int n_lst;
    struct hmap backends; /* id -> struct vip_backend */
    struct vip_conn *free_conns;
    struct vip_slab *slabs;
    struct vip_conn *all;
    struct sockaddr_storage src_bind; /* our side of node connections: the VIP address */
    socklen_t src_bind_len;
    bool bind_src;
    const struct timeval *tv_idle, *tv_connect; /* common timeouts */
    uint64_t idle_ms;
    unsigned max_per_source;
    unsigned rr;
    uint64_t nonode_log_ms, nonode_since;
    struct vip_stats st;
    char rbuf[VIP_READ]; /* one recv at a time: the loop is single-threaded */
};

static uint64_t now_ms(const struct vip *v)
{
    return balancer_now_ms(v->b);
}

/* ---- nodes -------------------------------------------------------------- */

static struct vip_backend *backend_get(struct vip *v, const char *id)
{
    size_t len = strlen(id);
    struct vip_backend *be = hmap_get(&v->backends, id, len);
    if (be)
        return be;
    be = calloc(1, sizeof(*be));
    if (!be)
        return NULL;
    snprintf(be->id, sizeof(be->id), "%s", id);
    if (hmap_put(&v->backends, be->id, strlen(be->id), be) < 0) {
        free(be);
        return NULL;
    }
    return be;
}

static void backend_count(struct vip *v, struct vip_backend *be)
{
    struct health_node *hn = health_node_by_id(v->b->health, be->id);
    if (hn)
        hn->vip_conns = be->n_conns;
}

/* Fail open as the DNS side does (health.fail_open): with no healthy node at
 * all, any node that is alive and not draining will do. */
static bool node_ok(struct vip *v, const struct health_node *hn, bool fail_open, uint64_t now)
{
    if (!hn->id[0] || !hn->sip_port) /* a free slot, or no federation port */
        return false;
    if (fail_open ? (!hn->alive || hn->draining) : !hn->healthy)
        return false;
    struct vip_backend *be = hmap_get(&v->backends, hn->id, strlen(hn->id));
    return !be || be->failed_until_ms <= now;
}

static bool fail_open(struct vip *v)
{
    return v->b->cfg.health_fail_open && health_healthy_count(v->b->health) == 0;
}

static bool ops_usable(void *arg, const char *id, const char **why)
{
    struct vip *v = arg;
    struct health_node *hn = health_node_by_id(v->b->health, id);
    const char *w = NULL;
    if (!hn)
        w = "gone";
    else if (hn->draining)
        w = "draining";
    else if (!node_ok(v, hn, fail_open(v), now_ms(v)))
        w = hn->healthy ? "failing" : "down";
    if (why)
        *why = w;
    return w == NULL;
}

/* Least connections among the usable nodes; ties go round robin. */
static const char *ops_pick(void *arg, const char *exclude)
{
    struct vip *v = arg;
    struct health_node *nodes;
    size_t n = health_nodes(v->b->health, &nodes);
    if (!n)
        return NULL;
    bool open = fail_open(v);
    uint64_t now = now_ms(v);
    size_t start = v->rr++ % n;
    struct health_node *best = NULL;
    unsigned best_conns = 0;
    for (size_t k = 0; k < n; k++) {
        struct health_node *hn = &nodes[(start + k) % n];
        if ((exclude && strcmp(hn->id, exclude) == 0) || !node_ok(v, hn, open, now))
            continue;
        struct vip_backend *be = hmap_get(&v->backends, hn->id, strlen(hn->id));
        unsigned c = be ? be->n_conns : 0;
        if (!best || c < best_conns) {
            best = hn;
            best_conns = c;
        }
    }
    if (best && open && now - v->nonode_log_ms >= 1000) {
        v->nonode_log_ms = now;
        LOG_WARN("vip", "no healthy node: failing open to node %s (alive, not draining)", best->id);
    }
    return best ? best->id : NULL;
}

/* ---- connection lifecycle ------------------------------------------------ */

static struct vip_conn *conn_alloc(struct vip *v)
{
    if (!v->free_conns) {
        struct vip_slab *s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        s->next = v->slabs;
        v->slabs = s;
        for (int i = VIP_SLAB - 1; i >= 0; i--) {
            s->c[i].next = v->free_conns;
            v->free_conns = &s->c[i];
        }
    }
    struct vip_conn *c = v->free_conns;
    v->free_conns = c->next;
    memset(c, 0, sizeof(*c));
    c->v = v;
    c->all_next = v->all;
    if (v->all)
        v->all->all_prev = c;
    v->all = c;
    return c;
}

static void conn_detach_backend(struct vip_conn *c)
{
    struct vip_backend *be = c->be;
    if (!be)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        be->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    be->n_conns--;
    c->be = NULL;
    backend_count(c->v, be);
}

static void conn_attach_backend(struct vip_conn *c, struct vip_backend *be)
{
    c->be = be;
    c->prev = NULL;
    c->next = be->conns;
    if (be->conns)
        be->conns->prev = c;
    be->conns = c;
    be->n_conns++;
    backend_count(c->v, be);
}

static void conn_close(struct vip_conn *c, const char *why)
{
    struct vip *v = c->v;
    if (c->phase == PH_FREE)
        return;
    if (log_enabled(LOG_LVL_DEBUG)) {
        char ip[INET6_ADDRSTRLEN] = "?";
        const struct sockaddr *sa = (const struct sockaddr *)&c->src;
        inet_ntop(sa->sa_family,
                  sa->sa_family == AF_INET6
                      ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                      : (const void *)&((const struct sockaddr_in *)sa)->sin_addr,
                  ip, sizeof(ip));
        LOG_DEBUG("vip", "connection from %s to node %s closed: %s", ip, c->be ? c->be->id : "-",
                  why);
    }
    if (c->phase == PH_RESOLVING && c->pin)
        pin_cancel(c->pin, &c->wait);
    c->phase = PH_FREE;
    if (c->cli_rd)
        event_del(&c->ev_cli_rd);
    if (c->srv_rd)
        event_del(&c->ev_srv_rd);
    c->cli_rd = c->srv_rd = false;
    if (c->cli)
        bufferevent_free(c->cli);
    if (c->srv)
        bufferevent_free(c->srv);
    c->cli = c->srv = NULL;
    if (c->carry) {
        evbuffer_free(c->carry);
        c->carry = NULL;
    }
    conn_detach_backend(c);
    if (c->pin)
        pin_conn_closed(v->pins, c->pin);
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        v->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    v->st.active--;
    c->next = v->free_conns;
    v->free_conns = c;
}

/* Pass EOF on toward the side whose output bev is: shut our write once the
 * bytes queued for it are out. When that finishes the connection (EOF seen
 * both ways), the close that follows sends the FIN: no shutdown call. */
static void shut_when_flushed(struct vip_conn *c, struct bufferevent *out, bool *shut)
{
    if (*shut || evbuffer_get_length(bufferevent_get_output(out)) != 0)
        return; /* the write callback comes back when it is empty */
    *shut = true;
    bool last = out == c->cli ? (c->cli_eof && c->srv_shut) : (c->srv_eof && c->cli_shut);
    if (!last)
        shutdown(bufferevent_getfd(out), SHUT_WR);
}

/* Both directions finished (EOF read and passed on): the connection is done.
 * Returns true when c was closed. */
static bool conn_check_done(struct vip_conn *c)
{
    if (!(c->cli_eof && c->srv_shut && c->srv_eof && c->cli_shut))
        return false;
    conn_close(c, "closed by both sides");
    return true;
}

static void read_pause(struct vip_conn *c, bool cli)
{
    struct event *ev = cli ? &c->ev_cli_rd : &c->ev_srv_rd;
    if (cli ? c->cli_rd : c->srv_rd)
        event_del(ev);
    if (cli)
        c->cli_paused = true;
    else
        c->srv_paused = true;
}

static void read_resume(struct vip_conn *c, bool cli)
{
    bool *paused = cli ? &c->cli_paused : &c->srv_paused;
    if (!*paused || (cli ? c->cli_eof : c->srv_eof))
        return;
    *paused = false;
    if (cli ? c->cli_rd : c->srv_rd)
        event_add(cli ? &c->ev_cli_rd : &c->ev_srv_rd,
                  !cli && c->phase == PH_CONNECTING ? c->v->tv_connect : c->v->tv_idle);
}

static void node_failed(struct vip_conn *c, const char *why, bool hold);
static void srv_confirmed(struct vip_conn *c);

/* The PROXY v2 header of c (VIP_PP2_MAX bytes at most). */
static size_t conn_pp2(struct vip_conn *c, uint8_t *hdr)
{
    struct sockaddr_storage dst;
    const struct sockaddr *d = (const struct sockaddr *)&c->lst->addr;
    if (c->lst->wildcard) {
        socklen_t dl = sizeof(dst);
        if (getsockname(bufferevent_getfd(c->cli), (struct sockaddr *)&dst, &dl) == 0)
            d = (const struct sockaddr *)&dst;
    }
    return vip_pp2_build(hdr, (const struct sockaddr *)&c->src, d);
}

static bool send_failed_at_once(int err)
{
    return err != EAGAIN && err != EWOULDBLOCK && err != EINTR;
}

/* Send n bytes toward out: straight to its socket when nothing is queued
 * for it (no write event to add and remove, no extra loop turn: HAProxy's
 * synchronous send), the rest queued. Toward the node the PROXY header goes
 * first, in the same send. Reading from the other side pauses while out's
 * queue is full. Returns -1 when c was closed or moved to another node. */
static int forward(struct vip_conn *c, struct bufferevent *out, const char *buf, size_t n,
                   bool from_cli)
{
    struct evbuffer *dst = bufferevent_get_output(out);
    bool to_srv = out == c->srv;
    uint8_t hdr[VIP_PP2_MAX];
    size_t hlen = 0;
    if (to_srv && !c->hdr_done) {
        hlen = conn_pp2(c, hdr);
        c->hdr_done = true;
    }
    if (evbuffer_get_length(dst) == 0) {
        struct iovec iov[2] = {{hdr, hlen}, {(void *)buf, n}};
        struct msghdr mh = {.msg_iov = hlen ? iov : iov + 1, .msg_iovlen = hlen ? 2 : 1};
        ssize_t w = sendmsg(bufferevent_getfd(out), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && send_failed_at_once(errno)) {
            if (to_srv && !c->fwd) {
                /* the node's connect failed: these bytes go to the next one */
                evbuffer_add(dst, buf, n);
                node_failed(c, strerror(errno), true);
                return -1;
            }
            conn_close(c, strerror(errno));
            return -1;
        }
        if (w > 0) {
            if (to_srv) {
                c->fwd = true;
                if (c->phase == PH_CONNECTING)
                    srv_confirmed(c);
            }
            size_t hw = (size_t)w < hlen ? (size_t)w : hlen;
            memmove(hdr, hdr + hw, hlen - hw);
            hlen -= hw;
            w -= (ssize_t)hw;
            buf += w;
            n -= (size_t)w;
        }
    }
    if (hlen) {
        evbuffer_add(dst, hdr, hlen);
        c->hdr_queued = (uint8_t)hlen;
    }
    if (n) {
        evbuffer_add(dst, buf, n);
        if (evbuffer_get_length(dst) >= VIP_BUF_MAX)
            read_pause(c, from_cli);
    }
    return 0;
}

/* A read timeout on one side: the connection is idle only when neither side
 * has sent a byte for the idle timeout (the persistent event re-arms). */
static void on_read_timeout(struct vip_conn *c)
{
    struct vip *v = c->v;
    if (now_ms(v) - c->last_read_ms + 20 < v->idle_ms)
        return;
    v->st.idle_timeouts++;
    conn_close(c, "idle timeout");
}

/* EOF from one side: pass it on once what was read is out. */
static void on_eof(struct vip_conn *c, bool cli)
{
    if (cli) {
        c->cli_eof = true;
        if (c->cli_rd)
            event_del(&c->ev_cli_rd);
        if (c->phase == PH_CONNECTING && !c->fwd &&
            evbuffer_get_length(bufferevent_get_output(c->srv)) == 0) {
            conn_close(c, "partner left before a byte moved");
            return;
        }
        shut_when_flushed(c, c->srv, &c->srv_shut);
    } else {
        c->srv_eof = true;
        if (c->srv_rd)
            event_del(&c->ev_srv_rd);
        shut_when_flushed(c, c->cli, &c->cli_shut);
    }
    conn_check_done(c);
}

static void read_side(struct vip_conn *c, bool cli, short what)
{
    struct vip *v = c->v;
    struct bufferevent *in = cli ? c->cli : c->srv;
    if (what & EV_TIMEOUT) {
        if (!cli && c->phase == PH_CONNECTING) {
            /* nothing moved yet: connected (a silent partner) or not? */
            struct sockaddr_storage peer;
            socklen_t pl = sizeof(peer);
            if (getpeername(bufferevent_getfd(in), (struct sockaddr *)&peer, &pl) < 0)
                node_failed(c, "connect timeout", true);
            else
                srv_confirmed(c);
            return;
        }
        on_read_timeout(c);
        return;
    }
    ssize_t r = recv(bufferevent_getfd(in), v->rbuf, sizeof(v->rbuf), 0);
    if (r > 0) {
        c->last_read_ms = now_ms(v);
        if (cli) {
            v->st.bytes_to_nodes += (uint64_t)r;
        } else {
            v->st.bytes_to_clients += (uint64_t)r;
            c->fwd = true;
            if (c->phase == PH_CONNECTING)
                srv_confirmed(c);
        }
        forward(c, cli ? c->srv : c->cli, v->rbuf, (size_t)r, cli);
        return;
    }
    if (r < 0 && !send_failed_at_once(errno))
        return;
    if (!cli && c->phase == PH_CONNECTING && !c->fwd && !c->cli_eof) {
        /* refused, unreachable, or accepted and closed at once */
        node_failed(c, r == 0 ? "closed at once" : strerror(errno), true);
        return;
    }
    if (r == 0) {
        on_eof(c, cli);
        return;
    }
    conn_close(c, strerror(errno));
}

static void cli_read_ev(evutil_socket_t fd, short what, void *arg)
{
    read_side(arg, true, what);
}
static void srv_read_ev(evutil_socket_t fd, short what, void *arg)
{
    read_side(arg, false, what);
}

/* Start reading one side (its socket is open, or connecting). */
static void read_start(struct vip_conn *c, bool cli, const struct timeval *tv)
{
    struct event *ev = cli ? &c->ev_cli_rd : &c->ev_srv_rd;
    struct bufferevent *bev = cli ? c->cli : c->srv;
    event_assign(ev, c->v->b->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST,
                 cli ? cli_read_ev : srv_read_ev, c);
    if (cli)
        c->cli_rd = true;
    else
        c->srv_rd = true;
    event_add(ev, tv);
}

/* The node's connect worked (a byte moved, or it stayed connected and
 * silent): idle timeouts from now on. */
static void srv_confirmed(struct vip_conn *c)
{
    c->phase = PH_OPEN;
    if (c->srv_rd && !c->srv_paused && !c->srv_eof)
        event_add(&c->ev_srv_rd, c->v->tv_idle); /* a new timeout, no epoll call */
    bufferevent_set_timeouts(c->srv, NULL, c->v->tv_idle);
}

/* A side's queue drained (to the low watermark): resume reading the other
 * side, pass a pending EOF on. */
static void cli_write_cb(struct bufferevent *bev, void *arg)
{
    struct vip_conn *c = arg;
    read_resume(c, false);
    if (c->srv_eof && !c->cli_shut) {
        shut_when_flushed(c, c->cli, &c->cli_shut);
        conn_check_done(c);
    }
}

static void srv_write_cb(struct bufferevent *bev, void *arg)
{
    struct vip_conn *c = arg;
    /* queued bytes went out: the connect worked */
    c->hdr_queued = 0;
    c->fwd = true;
    if (c->phase == PH_CONNECTING)
        srv_confirmed(c);
    read_resume(c, true);
    if (c->cli_eof && !c->srv_shut) {
        shut_when_flushed(c, c->srv, &c->srv_shut);
        conn_check_done(c);
    }
}

static void conn_connect(struct vip_conn *c, const char *node);

/* A connect to c's node failed (or could not start): the next node is
 * tried. hold: the node itself failed, so it is not picked for
 * VIP_FAILED_HOLD_MS; not for a node health does not know (yet): right after
 * a start, before the registry is read, the pins Redis returns name nodes
 * unknown for a moment, and holding them would move every source pinned to
 * them (and write the move to Redis) once they appear. */
static void node_failed(struct vip_conn *c, const char *why, bool hold)
{
    struct vip *v = c->v;
    struct vip_backend *be = c->be;
    char id[64];
    snprintf(id, sizeof(id), "%s", be ? be->id : "?");
    v->st.connect_failures++;
    if (be && hold)
        be->failed_until_ms = now_ms(v) + VIP_FAILED_HOLD_MS;
    conn_detach_backend(c);
    if (c->srv_rd) {
        event_del(&c->ev_srv_rd);
        c->srv_rd = false;
    }
    if (c->srv) {
        /* the partner's bytes that never left: for the next node */
        struct evbuffer *out = bufferevent_get_output(c->srv);
        evbuffer_unfreeze(out, 1); /* only the bufferevent drains it, and it is going */
        evbuffer_drain(out, c->hdr_queued);
        if (evbuffer_get_length(out)) {
            if (!c->carry)
                c->carry = evbuffer_new();
            if (c->carry)
                evbuffer_add_buffer(c->carry, out);
        }
        bufferevent_free(c->srv);
        c->srv = NULL;
    }
    c->hdr_done = false;
    c->hdr_queued = 0;
    c->srv_paused = false;
    bool retry = c->attempts < VIP_MAX_ATTEMPTS;
    LOG_WARN("vip", "connect from %s to node %s failed: %s%s", pin_source(c->pin), id, why,
             retry ? "" : "; connection closed");
    const char *next = retry ? pin_move(v->pins, c->pin, id) : NULL;
    if (!next) {
        conn_close(c, "no node could take it");
        return;
    }
    v->st.retries++;
    conn_connect(c, next);
}

/* Write-side events of the node's bufferevent: a write error, or a write
 * that did not progress (before any byte moved: the connect timed out). */
static void srv_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct vip_conn *c = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (c->phase == PH_CONNECTING && !c->fwd) {
        node_failed(
            c, (what & BEV_EVENT_TIMEOUT) ? "connect timeout" : evutil_socket_error_to_string(err),
            true);
        return;
    }
    conn_close(c, (what & BEV_EVENT_TIMEOUT) ? "node not reading for the idle timeout"
                                             : evutil_socket_error_to_string(err));
}

static void cli_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct vip_conn *c = arg;
    int err = EVUTIL_SOCKET_ERROR();
    conn_close(c, (what & BEV_EVENT_TIMEOUT) ? "partner not reading for the idle timeout"
                                             : evutil_socket_error_to_string(err));
}

/* Open the connection to node for c (its first or a retry). */
static void conn_connect(struct vip_conn *c, const char *node)
{
    struct vip *v = c->v;
    c->attempts++;
    struct health_node *hn = health_node_by_id(v->b->health, node);
    uint16_t port = !hn ? 0 : c->lst->kind == KIND_XMPP ? hn->xmpp_port : hn->sip_port;
    struct vip_backend *be = backend_get(v, node);
    if (!be) {
        conn_close(c, "out of memory");
        return;
    }
    conn_attach_backend(c, be);
    c->phase = PH_CONNECTING;
    if (!port || (hn->ext_addr.ss_family != AF_INET && hn->ext_addr.ss_family != AF_INET6)) {
        node_failed(c, !hn ? "node gone" : "no address or port for this service", hn != NULL);
        return;
    }
    struct sockaddr_storage sa = hn->ext_addr;
    socklen_t salen;
    if (sa.ss_family == AF_INET) {
        ((struct sockaddr_in *)&sa)->sin_port = htons(port);
        salen = sizeof(struct sockaddr_in);
    } else {
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons(port);
        salen = sizeof(struct sockaddr_in6);
    }
    evutil_socket_t fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        node_failed(c, strerror(errno), true);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (v->bind_src && v->src_bind.ss_family == sa.ss_family) {
        /* leave from the VIP address (the nodes trust it for PROXY headers);
         * the port is chosen at connect, per destination */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&v->src_bind, v->src_bind_len) < 0)
            LOG_DEBUG("vip", "cannot leave from the VIP address: %s", strerror(errno));
    }
    if (connect(fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        node_failed(c, strerror(e), true);
        return;
    }
    c->srv = bufferevent_socket_new(v->b->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->srv) {
        close(fd);
        conn_close(c, "out of memory");
        return;
    }
    bufferevent_setcb(c->srv, NULL, srv_write_cb, srv_event_cb, c);
    bufferevent_setwatermark(c->srv, EV_WRITE, VIP_BUF_MAX / 2, 0);
    bufferevent_set_timeouts(c->srv, NULL, v->tv_connect);
    c->hdr_done = !v->b->cfg.vip_proxy_protocol;
    if (c->carry && evbuffer_get_length(c->carry)) {
        /* a retry: what the partner sent before goes first */
        if (!c->hdr_done) {
            uint8_t hdr[VIP_PP2_MAX];
            size_t hl = conn_pp2(c, hdr);
            bufferevent_write(c->srv, hdr, hl);
            c->hdr_queued = (uint8_t)hl;
            c->hdr_done = true;
        }
        bufferevent_write_buffer(c->srv, c->carry);
    }
    read_start(c, false, v->tv_connect);
    if (!c->cli_rd)
        read_start(c, true, v->tv_idle);
    else if (c->cli_paused)
        read_resume(c, true);
    LOG_DEBUG("vip", "connection from %s to node %s (attempt %u)", pin_source(c->pin), node,
              c->attempts);
}

static void no_node(struct vip_conn *c)
{
    struct vip *v = c->v;
    v->st.refused_no_node++;
    v->nonode_since++;
    uint64_t now = now_ms(v);
    if (now - v->nonode_log_ms >= 1000) {
        LOG_WARN("vip",
                 "connection from %s refused: no node can take it (%llu such since the "
                 "last line)",
                 pin_source(c->pin), (unsigned long long)v->nonode_since);
        v->nonode_log_ms = now;
        v->nonode_since = 0;
    }
    conn_close(c, "no node");
}

static void ops_ready(void *arg, struct pin_waiter *w, const char *node)
{
    struct vip_conn *c = (struct vip_conn *)((char *)w - offsetof(struct vip_conn, wait));
    if (c->phase != PH_RESOLVING)
        return;
    if (!node) {
        no_node(c);
        return;
    }
    conn_connect(c, node);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct vip_listener *vl = arg;
    struct vip *v = vl->v;
    v->st.accepted++;
    struct pin *p = pin_get(v->pins, sa);
    if (!p) {
        evutil_closesocket(fd);
        return;
    }
    if (pin_open_conns(p) >= v->max_per_source) {
        v->st.refused_source++;
        uint64_t since;
        if (pin_refusal_log(v->pins, p, &since))
            LOG_WARN("vip",
                     "connection from %s refused: %u open from this source (limit "
                     "vip_max_conns_per_source); %llu refused since the last line",
                     pin_source(p), pin_open_conns(p), (unsigned long long)since);
        /* no FIN-then-wait: a reset frees the slot at once */
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        evutil_closesocket(fd);
        return;
    }
    struct vip_conn *c = conn_alloc(v);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    v->st.active++;
    c->lst = vl;
    c->pin = p;
    memcpy(&c->src, sa, (size_t)salen < sizeof(c->src) ? (size_t)salen : sizeof(c->src));
    c->phase = PH_RESOLVING;
    c->last_read_ms = now_ms(v);
    pin_conn_opened(v->pins, p);
    /* TCP_NODELAY comes from the listening socket (Linux copies it) */
    c->cli = bufferevent_socket_new(v->b->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->cli) {
        evutil_closesocket(fd);
        conn_close(c, "out of memory");
        return;
    }
    /* write side only (EV_WRITE is on by default: the write event is added
     * when something is queued); reading is ours */
    bufferevent_setcb(c->cli, NULL, cli_write_cb, cli_event_cb, c);
    bufferevent_setwatermark(c->cli, EV_WRITE, VIP_BUF_MAX / 2, 0);
    bufferevent_set_timeouts(c->cli, NULL, v->tv_idle);
    const char *node = NULL;
    int rc = pin_resolve(v->pins, p, &c->wait, &node);
    if (rc == 0)
        return; /* ops_ready follows (and may already have run) */
    if (rc < 0) {
        no_node(c);
        return;
    }
    conn_connect(c, node);
}

static void listener_resume(evutil_socket_t fd, short what, void *arg)
{
    struct vip_listener *vl = arg;
    evconnlistener_enable(vl->l);
}

/* Out of descriptors (or memory) the pending connection stays queued and
 * the listener would spin: stop accepting for 100 ms, say so once a second. */
static void listener_error_cb(struct evconnlistener *l, void *arg)
{
    struct vip_listener *vl = arg;
    int err = EVUTIL_SOCKET_ERROR();
    uint64_t now = now_ms(vl->v);
    if (now - vl->err_log_ms >= 1000) {
        vl->err_log_ms = now;
        LOG_ERROR("vip", "accept on port %u failed: %s (%llu connections open)", vl->port,
                  evutil_socket_error_to_string(err), (unsigned long long)vl->v->st.active);
    }
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        static const struct timeval pause = {0, 100000};
        if (!vl->resume_set) {
            event_assign(&vl->ev_resume, vl->v->b->base, -1, 0, listener_resume, vl);
            vl->resume_set = true;
        }
        evconnlistener_disable(l);
        event_add(&vl->ev_resume, &pause);
    }
}

/* ---- node health ---------------------------------------------------------- */

static void close_node_conns(struct vip *v, const char *id, const char *why)
{
    struct vip_backend *be = hmap_get(&v->backends, id, strlen(id));
    if (!be || !be->conns)
        return;
    unsigned n = be->n_conns;
    LOG_INFO("vip", "node %s %s: closing its %u VIP connection(s) so their partners reconnect", id,
             why, n);
    while (be->conns) {
        v->st.closed_node_dead++;
        conn_close(be->conns, why);
    }
}

static void on_health_change(void *arg, struct health_node *n, bool gone)
{
    struct vip *v = arg;
    if (gone) {
        close_node_conns(v, n->id, "left the pool");
        return;
    }
    struct vip_backend *be = hmap_get(&v->backends, n->id, strlen(n->id));
    n->vip_conns = be ? be->n_conns : 0;
    if (n->healthy)
        return;
    /* dead (liveness gone, checks failing) but not merely draining: drain
     * keeps existing connections */
    if (!n->alive || !n->check_ok)
        close_node_conns(v, n->id, !n->alive ? "is no longer alive" : "fails its checks");
}

/* ---- set-up ----------------------------------------------------------------- */

static int parse_vip_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    snprintf(host, sizeof(host), "%s", s);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        *len = sizeof(*s6);
        return 0;
    }
    return -1;
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* "5061" (5269 is XMPP, any other port SIP), or "PORT/sip", "PORT/xmpp". */
static int parse_vip_port(const char *s, uint16_t *port, enum vip_kind *kind)
{
    char *end;
    long p = strtol(s, &end, 10);
    if (end == s || p < 1 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    *kind = p == 5269 ? KIND_XMPP : KIND_SIP;
    if (*end == '\0')
        return 0;
    if (strcmp(end, "/sip") == 0)
        *kind = KIND_SIP;
    else if (strcmp(end, "/xmpp") == 0)
        *kind = KIND_XMPP;
    else
        return -1;
    return 0;
}

struct vip *vip_new(struct balancer *b, char *err, size_t errlen)
{
    const struct balancer_config *cfg = &b->cfg;
    struct vip *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->b = b;
    if (hmap_init(&v->backends, 16, false) < 0) {
        snprintf(err, errlen, "out of memory");
        vip_free(v);
        return NULL;
    }
    if (!cfg->vip_enabled) {
        LOG_INFO("vip", "VIP disabled (vip.enabled = false)");
        return v;
    }
    struct timeval idle = {cfg->vip_idle_timeout_s, 0};
    struct timeval ct = {cfg->vip_connect_timeout_ms / 1000,
                         (cfg->vip_connect_timeout_ms % 1000) * 1000};
    v->tv_idle = event_base_init_common_timeout(b->base, &idle);
    v->tv_connect = event_base_init_common_timeout(b->base, &ct);
    v->idle_ms = (uint64_t)cfg->vip_idle_timeout_s * 1000;
    v->max_per_source =
        cfg->vip_max_conns_per_source > 0 ? (unsigned)cfg->vip_max_conns_per_source : ~0u;
    struct pin_ops ops = {ops_usable, ops_pick, ops_ready, v};
    v->pins = pin_table_new(b, cfg->vip_pin_ttl_s, &ops);
    if (!v->tv_idle || !v->tv_connect || !v->pins) {
        snprintf(err, errlen, "out of memory");
        vip_free(v);
        return NULL;
    }
    struct sockaddr_storage addr;
    socklen_t alen;
    const char *listen = cfg->vip_listen ? cfg->vip_listen : "127.0.0.2";
    if (parse_vip_addr(listen, &addr, &alen) < 0) {
        snprintf(err, errlen, "vip.listen: \"%s\" is not a numeric IPv4 or IPv6 address", listen);
        vip_free(v);
        return NULL;
    }
    bool wildcard = is_wildcard(&addr);
    if (!wildcard && cfg->vip_proxy_protocol) {
        /* the nodes believe PROXY headers from the VIP address
         * (external.proxy_protocol_from): leave from it */
        v->src_bind = addr;
        v->src_bind_len = alen;
        v->bind_src = true;
    }
    v->lst = calloc((size_t)(cfg->vip_ports.n ? cfg->vip_ports.n : 1), sizeof(*v->lst));
    if (!v->lst) {
        snprintf(err, errlen, "out of memory");
        vip_free(v);
        return NULL;
    }
    for (int i = 0; i < cfg->vip_ports.n; i++) {
        struct vip_listener *vl = &v->lst[v->n_lst];
        if (parse_vip_port(cfg->vip_ports.v[i], &vl->port, &vl->kind) < 0) {
            snprintf(err, errlen, "vip.ports: \"%s\" is not a port (\"5061\", \"5269/xmpp\")",
                     cfg->vip_ports.v[i]);
            vip_free(v);
            return NULL;
        }
        vl->v = v;
        vl->addr = addr;
        vl->alen = alen;
        vl->wildcard = wildcard;
        if (addr.ss_family == AF_INET)
            ((struct sockaddr_in *)&vl->addr)->sin_port = htons(vl->port);
        else
            ((struct sockaddr_in6 *)&vl->addr)->sin6_port = htons(vl->port);
        vl->l = evconnlistener_new_bind(b->base, accept_cb, vl,
                                        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                            LEV_OPT_CLOSE_ON_EXEC,
                                        4096, (struct sockaddr *)&vl->addr, (int)vl->alen);
        if (!vl->l) {
            snprintf(err, errlen, "vip: cannot listen on %s port %u: %s", listen, vl->port,
                     strerror(errno));
            vip_free(v);
            return NULL;
        }
        evconnlistener_set_error_cb(vl->l, listener_error_cb);
        int one = 1; /* inherited by every accepted socket: no call per connection */
        setsockopt(evconnlistener_get_fd(vl->l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        v->n_lst++;
        LOG_INFO("vip",
                 "VIP listening on %s port %u (%s), pins idle %d s, PROXY v2 %s, at most "
                 "%d connections per source",
                 listen, vl->port,
                 vl->kind == KIND_XMPP ? "to the nodes' XMPP port" : "to the nodes' SIP port",
                 cfg->vip_pin_ttl_s, cfg->vip_proxy_protocol ? "on" : "off",
                 cfg->vip_max_conns_per_source);
    }
    if (health_on_change(b->health, on_health_change, v) < 0) {
        snprintf(err, errlen, "vip: cannot follow node health");
        vip_free(v);
        return NULL;
    }
    return v;
}

static void free_backend(void *arg, const char *key, void *value)
{
    free(value);
}

void vip_free(struct vip *v)
{
    if (!v)
        return;
    for (int i = 0; v->lst && i < v->n_lst; i++) { /* no listeners without v->lst */
        if (v->lst[i].resume_set)
            event_del(&v->lst[i].ev_resume);
        evconnlistener_free(v->lst[i].l);
    }
    free(v->lst);
    while (v->all)
        conn_close(v->all, "shutting down");
    pin_table_free(v->pins);
    if (v->backends.buckets) {
        hmap_each(&v->backends, free_backend, NULL);
        hmap_destroy(&v->backends);
    }
    while (v->slabs) {
        struct vip_slab *s = v->slabs;
        v->slabs = s->next;
        free(s);
    }
    free(v);
}

void vip_pins_each(const struct vip *v,
                   void (*fn)(void *arg, const char *source, const char *node, unsigned conns),
                   void *arg)
{
    if (v->pins)
        pin_table_each(v->pins, fn, arg);
}

void vip_get_stats(const struct vip *v, struct vip_stats *out)
{
    *out = v->st;
    out->repins = v->pins ? pin_repins(v->pins) : 0;
    out->pins = v->pins ? pin_count(v->pins) : 0;
}
