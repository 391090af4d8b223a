/* responder.c -- UDP and TCP DNS service of the pool's zone (see
 * responder.h). The hot path allocates nothing: UDP queries arrive in
 * batches into preallocated buffers, each answer is copied from the zone's
 * templates into a preallocated send buffer, and the batch leaves in one
 * sendmmsg. */
#include "dns/responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "balancer.h"
#include "dns/rrl.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "health/health.h"
#include "log.h"

#define UDP_BATCH 64
#define UDP_RBUF 4096 /* a larger query is cut: FORMERR */
#define UDP_SBUF 4096 /* dns.max_udp_payload is at most 4096 */
#define UDP_ROUNDS 16 /* batches per readiness, then the loop's other events */
#define TCP_HIGH_WATER (256 * 1024)

struct tcp_conn {
    struct dns_server *d;
    struct bufferevent *bev;
    struct tcp_conn *prev, *next;
    bool closing; /* the peer closed its side: go once the answers are out */
    struct sockaddr_storage sa;
    char peer[64];
};

struct dns_server {
    struct balancer *b;
    int udp_fd;
    struct event *udp_ev;
    struct evconnlistener *tcp;
    struct event *rebuild_ev;
    struct dns_zone *zone;
    struct rrl *rrl;
    bool rrl_on;
    uint16_t payload;
    int tcp_max, tcp_idle_s;
    unsigned n_tcp;
    struct tcp_conn *conns;
    uint32_t rotate;
    uint32_t serial;
    bool fail_open_logged;
    bool listening_health;
    char listen[80];
    struct dns_stats st;
    /* bad input, said at most once a second */
    uint64_t bad_log_ms;
    unsigned bad_suppressed;
    uint64_t rrl_log_ms;
    unsigned rrl_suppressed;
    /* UDP batch buffers */
    struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
    struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
    struct sockaddr_storage src[UDP_BATCH];
    uint8_t rbuf[UDP_BATCH][UDP_RBUF];
    uint8_t sbuf[UDP_BATCH][UDP_SBUF];
    uint8_t tcp_out[2 + 65535];
};

static void peer_text(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    } else {
        snprintf(out, len, "?");
    }
}

/* One line per second at most about bad input; the rest counted in it. */
static void log_bad(struct dns_server *d, const struct sockaddr *src, bool tcp, const char *what)
{
    uint64_t now = balancer_now_ms(d->b);
    if (d->bad_log_ms && now - d->bad_log_ms < 1000) {
        d->bad_suppressed++;
        return;
    }
    char peer[80];
    peer_text(src, peer, sizeof(peer));
    if (d->bad_suppressed)
        LOG_INFO("dns", "%s query from %s over %s: %s (and %u more bad queries not logged)", what,
                 peer, tcp ? "TCP" : "UDP", "answered", d->bad_suppressed);
    else
        LOG_INFO("dns", "%s query from %s over %s: answered", what, peer, tcp ? "TCP" : "UDP");
    d->bad_log_ms = now;
    d->bad_suppressed = 0;
}

static void count_rcode(struct dns_server *d, int rcode)
{
    switch (rcode) {
    case DNS_R_NOERROR:
        d->st.noerror++;
        break;
    case DNS_R_NXDOMAIN:
        d->st.nxdomain++;
        break;
    case DNS_R_REFUSED:
        d->st.refused++;
        break;
    case DNS_R_FORMERR:
        d->st.formerr++;
        break;
    case DNS_R_NOTIMP:
        d->st.notimp++;
        break;
    case DNS_R_BADVERS:
        d->st.badvers++;
        break;
    }
}

static const char *const qtype_names[DNS_STATS_QTYPES] = {"A",   "AAAA", "SRV",  "NS",
                                                          "SOA", "ANY",  "AXFR", "other"};
static const char *const rcode_names[DNS_STATS_RCODES] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"};
const char *dns_stats_qtype_name(int i)
{
    return qtype_names[i & 7];
}
const char *dns_stats_rcode_name(int i)
{
    return rcode_names[i & 7];
}

/* One answer, by the question's type (when it parsed) and rcode. */
static void count_answer(struct dns_server *d, const struct dns_query *q, int rcode)
{
    int t = 7, r = 7;
    if (q->has_question)
        switch (q->qtype) {
        case DNS_T_A:
            t = 0;
            break;
        case DNS_T_AAAA:
            t = 1;
            break;
        case DNS_T_SRV:
            t = 2;
            break;
        case DNS_T_NS:
            t = 3;
            break;
        case DNS_T_SOA:
            t = 4;
            break;
        case DNS_T_ANY:
            t = 5;
            break;
        case DNS_T_AXFR:
        case DNS_T_IXFR:
            t = 6;
            break;
        }
    if (rcode >= 0 && rcode <= 5)
        r = rcode;
    else if (rcode == DNS_R_BADVERS)
        r = 6;
    d->st.answers[t][r]++;
}

/* The answer to one query in out (cap bytes); 0: none is sent. */
static size_t handle(struct dns_server *d, const uint8_t *pkt, size_t len, bool cut,
                     const struct sockaddr *src, bool tcp, uint8_t *out, size_t cap)
{
    struct dns_query q;
    enum dns_parse_result pr = dns_parse_query(pkt, len, &q);
    if (cut && pr != DNS_PARSE_DROP)
        pr = DNS_PARSE_FORMERR;
    if (pr == DNS_PARSE_DROP) {
        d->st.ignored++;
        return 0;
    }
    if (!tcp && d->rrl_on) {
        bool started;
        enum rrl_verdict v = rrl_check(d->rrl, src, balancer_now_ms(d->b), &started);
        if (started) {
            uint64_t now = balancer_now_ms(d->b);
            if (!d->rrl_log_ms || now - d->rrl_log_ms >= 1000) {
                char pfx[80];
                rrl_prefix_text(d->rrl, src, pfx, sizeof(pfx));
                LOG_INFO("dns",
                         "rate limit: %s over %d answers/s: dropping, every %d%s truncated "
                         "(%u other prefixes limited since the last line)",
                         pfx, d->b->cfg.dns_rrl_rate, d->b->cfg.dns_rrl_slip,
                         d->b->cfg.dns_rrl_slip == 1   ? "st"
                         : d->b->cfg.dns_rrl_slip == 2 ? "nd"
                         : d->b->cfg.dns_rrl_slip == 3 ? "rd"
                                                       : "th",
                         d->rrl_suppressed);
                d->rrl_log_ms = now;
                d->rrl_suppressed = 0;
            } else {
                d->rrl_suppressed++;
            }
        }
        if (v == RRL_DROP) {
            d->st.rrl_dropped++;
            return 0;
        }
        if (v == RRL_SLIP) {
            d->st.rrl_slipped++;
            if (pr != DNS_PARSE_OK)
                return 0;
            return dns_write_short(pkt, &q, DNS_R_NOERROR, true, true, d->payload, out, cap);
        }
    }
    switch (pr) {
    case DNS_PARSE_FORMERR:
        d->st.formerr++;
        count_answer(d, &q, DNS_R_FORMERR);
        log_bad(d, src, tcp, "malformed (FORMERR)");
        return dns_write_short(pkt, &q, DNS_R_FORMERR, false, false, d->payload, out, cap);
    case DNS_PARSE_NOTIMP:
        d->st.notimp++;
        count_answer(d, &q, DNS_R_NOTIMP);
        log_bad(d, src, tcp, "opcode other than QUERY (NOTIMP)");
        return dns_write_short(pkt, &q, DNS_R_NOTIMP, false, false, d->payload, out, cap);
    case DNS_PARSE_BADVERS:
        d->st.badvers++;
        count_answer(d, &q, DNS_R_BADVERS);
        return dns_write_short(pkt, &q, DNS_R_BADVERS, false, false, d->payload, out, cap);
    default:
        break;
    }
    int rcode;
    bool tc;
    size_t limit = tcp ? 65535 : dns_udp_limit(&q, d->payload);
    size_t n =
        dns_zone_answer(d->zone, pkt, &q, out, cap, limit, d->payload, d->rotate++, &rcode, &tc);
    count_rcode(d, rcode);
    count_answer(d, &q, rcode);
    d->st.truncated += tc;
    return n;
}

/* ---- UDP ---- */

static void udp_read(evutil_socket_t fd, short what, void *arg)
{
    struct dns_server *d = arg;
    for (int round = 0; round < UDP_ROUNDS; round++) {
        for (int i = 0; i < UDP_BATCH; i++) {
            d->in_iov[i] = (struct iovec){d->rbuf[i], UDP_RBUF};
            d->in[i].msg_hdr = (struct msghdr){.msg_name = &d->src[i],
                                               .msg_namelen = sizeof(d->src[i]),
                                               .msg_iov = &d->in_iov[i],
                                               .msg_iovlen = 1};
        }
        int n = recvmmsg(d->udp_fd, d->in, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOG_WARN("dns", "UDP receive on %s: %s", d->listen, strerror(errno));
            return;
        }
        int k = 0;
        for (int i = 0; i < n; i++) {
            const struct sockaddr *src = (const struct sockaddr *)&d->src[i];
            d->st.udp_queries++;
            size_t len = handle(d, d->rbuf[i], d->in[i].msg_len,
                                (d->in[i].msg_hdr.msg_flags & MSG_TRUNC) != 0, src, false,
                                d->sbuf[k], UDP_SBUF);
            if (!len)
                continue;
            d->out_iov[k] = (struct iovec){d->sbuf[k], len};
            d->out[k].msg_hdr = (struct msghdr){.msg_name = &d->src[i],
                                                .msg_namelen = d->in[i].msg_hdr.msg_namelen,
                                                .msg_iov = &d->out_iov[k],
                                                .msg_iovlen = 1};
            k++;
        }
        for (int sent = 0; sent < k;) {
            int r = sendmmsg(d->udp_fd, d->out + sent, (unsigned)(k - sent), MSG_DONTWAIT);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                /* a full socket buffer or an unreachable client: UDP answers are best effort;
                 * skip the one that failed and go on */
                sent++;
                continue;
            }
            sent += r;
        }
        if (n < UDP_BATCH)
            return;
    }
}

static int udp_open(struct dns_server *d, const struct sockaddr_storage *ss, socklen_t sl,
                    char *err, size_t errlen)
{
    d->udp_fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->udp_fd < 0) {
        snprintf(err, errlen, "dns.listen %s: UDP socket: %s", d->listen, strerror(errno));
        return -1;
    }
    int one = 1, big = 8 << 20;
    setsockopt(d->udp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* room for bursts (dnsperf, a partner's resolver farm): as root past rmem_max */
    if (setsockopt(d->udp_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(d->udp_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    if (setsockopt(d->udp_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(d->udp_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (bind(d->udp_fd, (const struct sockaddr *)ss, sl) < 0) {
        snprintf(err, errlen, "dns.listen %s: cannot bind UDP: %s", d->listen, strerror(errno));
        return -1;
    }
    d->udp_ev = event_new(d->b->base, d->udp_fd, EV_READ | EV_PERSIST, udp_read, d);
    if (!d->udp_ev || event_add(d->udp_ev, NULL) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- TCP ---- */

static void tcp_close(struct tcp_conn *c)
{
    struct dns_server *d = c->d;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->n_tcp--;
    bufferevent_free(c->bev);
    free(c);
}

static void tcp_read(struct bufferevent *bev, void *arg)
{
    struct tcp_conn *c = arg;
    struct dns_server *d = c->d;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        uint8_t lb[2];
        if (avail < 2 || evbuffer_copyout(in, lb, 2) != 2)
            return;
        size_t mlen = (size_t)lb[0] << 8 | lb[1];
        if (avail < 2 + mlen)
            return;
        const uint8_t *msg = evbuffer_pullup(in, (ev_ssize_t)(2 + mlen));
        if (!msg) {
            tcp_close(c);
            return;
        }
        d->st.tcp_queries++;
        size_t n = handle(d, msg + 2, mlen, false, (struct sockaddr *)&c->sa, true, d->tcp_out + 2,
                          sizeof(d->tcp_out) - 2);
        evbuffer_drain(in, 2 + mlen);
        if (n == 0) {
            if (mlen < DNS_HDR_LEN) { /* not even a header: the framing cannot be trusted */
                log_bad(d, (struct sockaddr *)&c->sa, true, "short (closed)");
                tcp_close(c);
                return;
            }
            continue;
        }
        d->tcp_out[0] = (uint8_t)(n >> 8);
        d->tcp_out[1] = (uint8_t)n;
        bufferevent_write(bev, d->tcp_out, n + 2);
        if (evbuffer_get_length(bufferevent_get_output(bev)) > TCP_HIGH_WATER) {
            bufferevent_disable(bev, EV_READ); /* a client that does not read: wait for it */
            return;
        }
    }
}

static void tcp_write(struct bufferevent *bev, void *arg)
{
    struct tcp_conn *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return;
    if (c->closing) {
        tcp_close(c);
        return;
    }
    if (!(bufferevent_get_enabled(bev) & EV_READ)) {
        bufferevent_enable(bev, EV_READ);
        tcp_read(bev, c);
    }
}

static void tcp_event(struct bufferevent *bev, short what, void *arg)
{
    struct tcp_conn *c = arg;
    if ((what & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        c->closing = true; /* half-closed: the answers still go out */
        bufferevent_disable(bev, EV_READ);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        LOG_DEBUG("dns", "TCP connection from %s idle: closed", c->peer);
    tcp_close(c);
}

static void tcp_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                       void *arg)
{
    struct dns_server *d = arg;
    if (d->n_tcp >= (unsigned)d->tcp_max) {
        d->st.tcp_refused++;
        char peer[80];
        peer_text(sa, peer, sizeof(peer));
        log_bad(d, sa, true, "connection over dns.tcp_max_connections (closed)");
        evutil_closesocket(fd);
        return;
    }
    struct tcp_conn *c = calloc(1, sizeof(*c));
    struct bufferevent *bev =
        c ? bufferevent_socket_new(d->b->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (!bev) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    d->st.tcp_accepted++;
    c->d = d;
    c->bev = bev;
    peer_text(sa, c->peer, sizeof(c->peer));
    memcpy(&c->sa, sa, (size_t)salen < sizeof(c->sa) ? (size_t)salen : sizeof(c->sa));
    c->next = d->conns;
    if (d->conns)
        d->conns->prev = c;
    d->conns = c;
    d->n_tcp++;
    struct timeval idle = {d->tcp_idle_s, 0};
    bufferevent_set_timeouts(bev, &idle, &idle);
    bufferevent_setcb(bev, tcp_read, tcp_write, tcp_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- the zone ---- */

static uint32_t next_serial(struct dns_server *d)
{
    uint32_t now = (uint32_t)time(NULL);
    d->serial = now > d->serial ? now : d->serial + 1;
    return d->serial;
}

static int rebuild(struct dns_server *d, char *err, size_t errlen)
{
    struct health_node *nodes = NULL;
    size_t n = d->b->health ? health_nodes(d->b->health, &nodes) : 0;
    struct dns_zone *z = dns_zone_build(&d->b->cfg, nodes, n, next_serial(d), err, errlen);
    if (!z)
        return -1;
    dns_zone_free(d->zone);
    d->zone = z;
    d->st.rebuilds++;
    struct dns_zone_info zi;
    dns_zone_info(z, &zi);
    if (zi.fail_open && !d->fail_open_logged) {
        LOG_WARN("dns",
                 "no healthy node: answering %s with all %zu known node(s) (fail open) until one "
                 "is healthy",
                 d->b->cfg.dns_pool_fqdn, zi.nodes);
        d->fail_open_logged = true;
    } else if (!zi.fail_open && d->fail_open_logged) {
        LOG_WARN("dns", "%zu healthy node(s) again: %s answers with them only", zi.healthy,
                 d->b->cfg.dns_pool_fqdn);
        d->fail_open_logged = false;
    }
    LOG_DEBUG("dns", "zone %s rebuilt: serial %u, %zu name(s), %s answers %zu address(es)",
              d->b->cfg.dns_zone, zi.serial, zi.names, d->b->cfg.dns_pool_fqdn, zi.answered);
    return 0;
}

static void rebuild_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dns_server *d = arg;
    char err[256];
    if (rebuild(d, err, sizeof(err)) < 0)
        LOG_ERROR("dns", "cannot rebuild the zone, answering from the previous one: %s", err);
}

/* Health changed: rebuild once, after this loop turn's changes (a node
 * that went away is still in the table during the call). */
static void on_health(void *arg, struct health_node *n, bool gone)
{
    struct dns_server *d = arg;
    event_active(d->rebuild_ev, EV_TIMEOUT, 0);
}

static void take_settings(struct dns_server *d)
{
    const struct balancer_config *c = &d->b->cfg;
    d->payload = (uint16_t)c->dns_max_udp_payload;
    d->tcp_max = c->dns_tcp_max_conns;
    d->tcp_idle_s = c->dns_tcp_idle_timeout_s;
    d->rrl_on = c->dns_rrl;
    rrl_configure(d->rrl, (unsigned)c->dns_rrl_rate, (unsigned)c->dns_rrl_slip,
                  (unsigned)c->dns_rrl_ipv4_prefix, (unsigned)c->dns_rrl_ipv6_prefix);
}

struct dns_server *dns_server_new(struct balancer *b, char *err, size_t errlen)
{
    struct dns_server *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->b = b;
    d->udp_fd = -1;
    snprintf(d->listen, sizeof(d->listen), "%s", b->cfg.dns_listen);
    struct sockaddr_storage ss;
    socklen_t sl;
    d->rrl = rrl_new(1, 0, 24, 56);
    d->rebuild_ev = event_new(b->base, -1, 0, rebuild_cb, d);
    if (!d->rrl || !d->rebuild_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    take_settings(d);
    if (balancer_parse_hostport(b->cfg.dns_listen, &ss, &sl, err, errlen) < 0 ||
        rebuild(d, err, errlen) < 0 || udp_open(d, &ss, sl, err, errlen) < 0)
        goto fail;
    d->tcp = evconnlistener_new_bind(
        b->base, tcp_accept, d, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        128, (struct sockaddr *)&ss, (int)sl);
    if (!d->tcp) {
        snprintf(err, errlen, "dns.listen %s: cannot listen on TCP: %s", d->listen,
                 strerror(errno));
        goto fail;
    }
    if (b->health && health_on_change(b->health, on_health, d) < 0) {
        snprintf(err, errlen, "too many health listeners");
        goto fail;
    }
    d->listening_health = b->health != NULL;
    struct dns_zone_info zi;
    dns_zone_info(d->zone, &zi);
    LOG_INFO("dns",
             "authoritative for %s on %s (UDP and TCP): %s with %zu of %zu node(s), TTL %d, "
             "RRL %s",
             b->cfg.dns_zone, d->listen, b->cfg.dns_pool_fqdn, zi.answered, zi.nodes,
             b->cfg.dns_ttl, d->rrl_on ? "on" : "off");
    return d;
fail:
    dns_server_free(d);
    return NULL;
}

void dns_server_free(struct dns_server *d)
{
    if (!d)
        return;
    if (d->listening_health)
        health_off_change(d->b->health, on_health, d);
    for (struct tcp_conn *c = d->conns, *next; c; c = next) {
        next = c->next;
        bufferevent_free(c->bev);
        free(c);
    }
    d->conns = NULL;
    if (d->tcp)
        evconnlistener_free(d->tcp);
    if (d->udp_ev)
        event_free(d->udp_ev);
    if (d->udp_fd >= 0)
        close(d->udp_fd);
    if (d->rebuild_ev)
        event_free(d->rebuild_ev);
    dns_zone_free(d->zone);
    rrl_free(d->rrl);
    free(d);
}

int dns_server_reload(struct dns_server *d, char *err, size_t errlen)
{
    if (strcmp(d->listen, d->b->cfg.dns_listen) != 0)
        LOG_WARN("dns", "dns.listen changed to %s: it takes effect at the next restart (still %s)",
                 d->b->cfg.dns_listen, d->listen);
    if (rebuild(d, err, errlen) < 0)
        return -1;
    take_settings(d);
    return 0;
}

void dns_server_get_stats(const struct dns_server *d, struct dns_stats *out)
{
    *out = d->st;
}
