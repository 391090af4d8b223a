/* proxy_proto.c -- PROXY protocol v2 before TLS on external connections
 * (see proxy_proto.h; the format is HAProxy's doc/proxy-protocol.txt 2.2).
 * The bytes are looked at with MSG_PEEK, so anything that is not a PROXY
 * header reaches OpenSSL untouched. */
#include "conn/proxy_proto.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn/conn.h"
#include "log.h"

struct conn_preread {
    struct event *ev;
    evutil_socket_t fd;
    bool trusted;
};

static void preread_done(struct conn *c)
{
    struct conn_preread *pre = c->pre;
    evutil_socket_t fd = pre->fd;
    c->pre = NULL;
    if (pre->ev)
        event_free(pre->ev);
    free(pre);
    conn_start_tls(c, fd);
}

/* Look at what has arrived. Returns 1 when c was handed on or closed, 0 to
 * wait for more bytes. */
static int preread_step(struct conn *c)
{
    struct conn_preread *pre = c->pre;
    uint8_t buf[CONN_PP2_MAX];
    ssize_t r = recv(pre->fd, buf, sizeof(buf), MSG_PEEK);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (r <= 0) {
        conn_close(c, r == 0 ? "closed by peer before a byte" : strerror(errno));
        return 1;
    }
    struct sockaddr_storage src;
    size_t hdrlen = 0;
    const char *why = "";
    int rc = conn_pp2_parse(buf, (size_t)r, &src, &hdrlen, &why);
    if (rc == -1) {
        preread_done(c); /* not a PROXY header: TLS (or whatever it is) as usual */
        return 1;
    }
    if (!pre->trusted && r >= 12) {
        c->node->stats.conns_refused++;
        LOG_WARN("conn",
                 "external connection from %s refused: a PROXY header from an address that is "
                 "not a balancer (external.proxy_protocol_from)",
                 c->peer_str);
        conn_close(c, "PROXY header from an untrusted source");
        return 1;
    }
    if (rc == -2) {
        c->node->stats.parse_errors++;
        LOG_WARN("conn", "external connection from balancer %s: bad PROXY v2 header (%s): closed",
                 c->peer_str, why);
        conn_close(c, "bad PROXY header");
        return 1;
    }
    if (rc == 0) {
        if ((size_t)r >= sizeof(buf)) { /* cannot happen: parse bounds the length */
            conn_close(c, "PROXY header too long");
            return 1;
        }
        return 0;
    }
    /* consume exactly the header; the rest is the partner's TLS */
    if (recv(pre->fd, buf, hdrlen, 0) != (ssize_t)hdrlen) {
        conn_close(c, "PROXY header read failed");
        return 1;
    }
    if (src.ss_family != AF_UNSPEC) {
        char was[64];
        snprintf(was, sizeof(was), "%s", c->peer_str);
        if (conn_set_peer(c, (struct sockaddr *)&src) < 0)
            return 1; /* over the per-source limit: closed, logged */
        LOG_DEBUG("conn", "external connection through balancer %s: partner %s (PROXY v2)", was,
                  c->peer_str);
    }
    preread_done(c);
    return 1;
}

static void preread_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (what & EV_TIMEOUT) {
        conn_close(c, "idle timeout");
        return;
    }
    if (preread_step(c) == 0) {
        struct timeval idle = {c->node->cfg.idle_timeout_s, 0};
        event_add(c->pre->ev, &idle);
    }
}

int conn_proxy_start(struct conn *c, evutil_socket_t fd)
{
    struct conn_preread *pre = calloc(1, sizeof(*pre));
    if (!pre)
        return -1;
    pre->fd = fd;
    pre->trusted = conn_proxy_trusted(c->node, c->peer_ip);
    c->pre = pre;
    if (preread_step(c)) /* often the first bytes are there already */
        return 0;
    pre->ev = event_new(c->node->base, fd, EV_READ, preread_cb, c);
    struct timeval idle = {c->node->cfg.idle_timeout_s, 0};
    if (!pre->ev || event_add(pre->ev, &idle) < 0) {
        conn_close(c, "out of memory");
        return 0;
    }
    return 0;
}

void conn_proxy_abort(struct conn *c)
{
    struct conn_preread *pre = c->pre;
    if (!pre)
        return;
    c->pre = NULL;
    if (pre->ev)
        event_free(pre->ev);
    evutil_closesocket(pre->fd);
    free(pre);
}
