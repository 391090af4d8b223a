/* conn.c -- listeners, connection lifecycle, stream framing and TLS identity. */
#include "conn/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/metrics.h"
#include "conn/conn_pool.h"
#include "conn/proxy_proto.h"
#include "log.h"
#include "sip/proxy.h"
#include "tls.h"

struct conn_domain {
    struct conn_domain *next;
    uint64_t version; /* the policy version of the verdict */
    bool allowed;
    int status;
    const char *reason; /* static string */
    size_t len;
    char name[];
};

static const char *side_name(enum conn_side s)
{
    return s == SIDE_INTERNAL ? "internal" : "external";
}

static void addr_to_str(const struct sockaddr *sa, char *ip, size_t iplen, char *full,
                        size_t fulllen)
{
    uint16_t port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        port = ntohs(s4->sin_port);
        snprintf(full, fulllen, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        port = ntohs(s6->sin6_port);
        snprintf(full, fulllen, "[%s]:%u", ip, port);
    } else {
        snprintf(ip, iplen, "?");
        snprintf(full, fulllen, "?");
    }
}

struct conn *conn_by_id(struct node *n, uint64_t id)
{
    return hmap_get(&n->conns, (const char *)&id, sizeof(id));
}

static void src_count_add(struct node *n, const char *ip, int delta)
{
    uintptr_t cnt = (uintptr_t)hmap_get(&n->conns_by_src, ip, strlen(ip));
    cnt = (uintptr_t)((intptr_t)cnt + delta);
    if (cnt == 0)
        hmap_del(&n->conns_by_src, ip, strlen(ip));
    else
        hmap_put(&n->conns_by_src, ip, strlen(ip), (void *)cnt);
}

static void conn_free(struct conn *c)
{
    struct node *n = c->node;
    hmap_del(&n->conns, (const char *)&c->id, sizeof(c->id));
    n->n_conns--;
    if (!c->outbound)
        src_count_add(n, c->peer_ip, -1);
    if (c->pre)
        conn_proxy_abort(c);
    if (c->bev)
        bufferevent_free(c->bev);
    for (int i = 0; i < c->n_names; i++)
        free(c->names[i]);
    while (c->domains) {
        struct conn_domain *d = c->domains;
        c->domains = d->next;
        free(d);
    }
    free(c->target);
    free(c);
}

void conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    bool was_open = c->state == CONN_OPEN;
    c->state = CONN_CLOSED;
    LOG_DEBUG("conn", "%s %s connection %s closed: %s", side_name(c->side), c->tls ? "TLS" : "TCP",
              c->peer_str, why);
    if (c->pool)
        conn_pool_conn_gone(c->pool, c, was_open);
    proxy_conn_closed(c->node, c);
    if (c->bev) {
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    }
    if (!c->in_read)
        conn_free(c);
}

void conn_close_all(struct node *n)
{
    /* collect first: closing edits the map */
    size_t cnt = n->conns.count, i = 0;
    struct conn **all = calloc(cnt ? cnt : 1, sizeof(*all));
    if (!all)
        return;
    for (size_t b = 0; b < n->conns.nbuckets; b++)
        for (struct hmap_entry *e = n->conns.buckets[b]; e && i < cnt; e = e->next)
            all[i++] = e->value;
    for (size_t k = 0; k < i; k++)
        conn_close(all[k], "shutting down");
    free(all);
}

int conn_send(struct conn *c, const void *data, size_t len)
{
    if (c->state == CONN_CLOSED || !c->bev)
        return -1;
    c->last_send_ms = node_now_ms(c->node);
    return bufferevent_write(c->bev, data, len);
}

struct keepalive_walk {
    uint64_t now, interval;
};

static void keepalive_one(void *arg, const char *key, void *value)
{
    const struct keepalive_walk *w = arg;
    struct conn *c = value;
    if (c->outbound && c->state == CONN_OPEN && w->now - c->last_send_ms >= w->interval)
        conn_send(c, "\r\n\r\n", 4);
}

void conn_send_keepalives(struct node *n, uint64_t interval_ms)
{
    struct keepalive_walk w = {node_now_ms(n), interval_ms};
    hmap_each(&n->conns, keepalive_one, &w);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->close_after && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_close(c, "closed after the last answer");
}

void conn_close_after_flush(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    c->close_after = true;
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_close(c, "closed after the last answer");
}

/* Frame and dispatch every complete message in the input buffer. */
static void read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct node *n = c->node;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t max = (size_t)n->cfg.max_message_size;
    c->in_read = true;
    while (c->state != CONN_CLOSED && !c->close_after) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            break;
        size_t look = len < max + 1 ? len : max + 1;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
        if (!p)
            break;
        /* a SIP message starts with a token (method) or "SIP/2.0", keepalives
         * with CR/LF: anything else is junk, refused at its first byte
         * instead of holding the connection until the idle timeout */
        unsigned char b0 = (unsigned char)p[0];
        if (!(b0 == '\r' || b0 == '\n' || (b0 >= 'A' && b0 <= 'Z') || (b0 >= 'a' && b0 <= 'z'))) {
            n->stats.parse_errors++;
            LOG_INFO("sip", "junk from %s %s (first byte 0x%02x): connection closed",
                     side_name(c->side), c->peer_str, b0);
            conn_close(c, "junk instead of SIP");
            break;
        }
        size_t ka = 0;
        ssize_t mlen = sip_frame(p, look, max, &ka);
        if (ka) {
            /* RFC 5626 4.4.1: a double CRLF ping gets a single CRLF pong */
            if (ka >= 4)
                conn_send(c, "\r\n", 2);
            evbuffer_drain(in, ka);
            continue;
        }
        if (mlen == 0) {
            if (look > max) {
                mlen = -1; /* headers never ended within the limit */
            } else {
                break; /* need more bytes */
            }
        }
        if (mlen < 0) {
            n->stats.parse_errors++;
            proxy_on_framing_error(n, c, p, look);
            if (c->state != CONN_CLOSED)
                conn_close_after_flush(c);
            break;
        }
        proxy_on_message(n, c, p, (size_t)mlen);
        if (c->state == CONN_CLOSED)
            break;
        evbuffer_drain(in, (size_t)mlen);
    }
    c->in_read = false;
    if (c->state == CONN_CLOSED)
        conn_free(c);
}

static void read_tls_identity(struct conn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    X509 *cert = ssl ? SSL_get_peer_certificate(ssl) : NULL;
    if (!cert)
        return;
    char names[CONN_MAX_NAMES][256];
    int k = tls_peer_names(cert, names, CONN_MAX_NAMES);
    for (int i = 0; i < k; i++)
        c->names[c->n_names++] = strdup(names[i]);
    char subj[96] = "", iss[96] = "";
    X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
    X509_NAME_oneline(X509_get_issuer_name(cert), iss, sizeof(iss));
    char serial[48] = "?";
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), NULL);
    if (bn) {
        char *hex = BN_bn2hex(bn);
        if (hex) {
            snprintf(serial, sizeof(serial), "%s", hex);
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    snprintf(c->cert_info, sizeof(c->cert_info), "issuer=%.90s serial=%.40s subject=%.90s", iss,
             serial, subj);
    X509_free(cert);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    int sock_err = EVUTIL_SOCKET_ERROR(); /* first: anything below may change it */
    struct conn *c = arg;
    struct node *n = c->node;
    if (what & BEV_EVENT_CONNECTED) {
        c->state = CONN_OPEN;
        if (c->tls) {
            read_tls_identity(c);
            LOG_INFO("tls", "%s TLS %s %s established: peer certificate %s%s", side_name(c->side),
                     c->outbound ? "to" : "from", c->peer_str, c->n_names ? c->names[0] : "(none)",
                     c->target ? "" : "");
        }
        if (c->pool)
            conn_pool_conn_up(c->pool, c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        conn_close(c, c->state == CONN_CONNECTING ? "connect timeout" : "idle timeout");
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        SSL *ssl = c->tls ? bufferevent_openssl_get_ssl(bev) : NULL;
        BIO *rbio = ssl ? SSL_get_rbio(ssl) : NULL;
        if (c->tls && c->state == CONN_CONNECTING && rbio && BIO_number_read(rbio) == 0) {
            /* not a byte of TLS from the peer: the connection itself failed
             * (refused, reset, closed at once: a TCP health check), no
             * certificate was ever judged */
            bool sys = sock_err == ECONNREFUSED || sock_err == ECONNRESET ||
                       sock_err == ECONNABORTED || sock_err == ETIMEDOUT || sock_err == EPIPE ||
                       sock_err == EHOSTUNREACH || sock_err == ENETUNREACH;
            const char *why = sys ? evutil_socket_error_to_string(sock_err)
                                  : "closed by the peer before the TLS handshake";
            if (c->outbound)
                LOG_WARN("conn", "%s connect to %s%s%s failed: %s", side_name(c->side), c->peer_str,
                         c->target ? " for " : "", c->target ? c->target : "", why);
            else
                LOG_DEBUG("conn", "%s connection from %s: %s", side_name(c->side), c->peer_str,
                          why);
        } else if (c->tls && c->state == CONN_CONNECTING) {
            unsigned long e = bufferevent_get_openssl_error(bev);
            char ebuf[160] = "";
            if (e)
                ERR_error_string_n(e, ebuf, sizeof(ebuf));
            const char *reason = ssl ? tls_verify_reason(ssl) : NULL;
            if (reason && strcmp(reason, "ok") == 0)
                reason = NULL;
            /* plaintext (SIP over TCP, HTTP) at the TLS port is not a certificate problem */
            if (strstr(ebuf, "wrong version number") || strstr(ebuf, "http request"))
                reason = "not TLS: the client spoke plaintext to the TLS port";
            /* internal.tls_peers is checked as a host name (internal_tls.h) */
            else if (c->side == SIDE_INTERNAL && !c->outbound && reason &&
                     strcmp(reason, "hostname mismatch") == 0)
                reason = "certificate names none of internal.tls_peers (hostname mismatch)";
            n->stats.tls_failures++;
            metrics_tls_failure(n->metrics, c->side, c->outbound,
                                reason && *reason ? reason : (e ? ebuf : "peer closed"));
            LOG_INFO("tls", "%s TLS handshake %s %s%s%s failed: %s%s%s; connection closed",
                     side_name(c->side), c->outbound ? "to" : "from", c->peer_str,
                     c->target ? " expecting " : "", c->target ? c->target : "",
                     reason && *reason ? reason : (e ? ebuf : "peer closed the connection"),
                     reason && *reason && e ? " / " : "", reason && *reason && e ? ebuf : "");
        } else if (c->state == CONN_CONNECTING) {
            LOG_WARN("conn", "%s connect to %s failed: %s", side_name(c->side), c->peer_str,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        } else if (!c->close_after && evbuffer_get_length(bufferevent_get_input(bev))) {
            /* a truncated message: bad input like any other, said once */
            n->stats.parse_errors++;
            LOG_INFO("conn",
                     "%s %s connection %s %s closed by the peer in the middle of a message "
                     "(%zu byte(s) never completed): dropped",
                     side_name(c->side), c->tls ? "TLS" : "TCP", c->outbound ? "to" : "from",
                     c->peer_str, evbuffer_get_length(bufferevent_get_input(bev)));
        }
        conn_close(c, (what & BEV_EVENT_EOF) ? "closed by peer" : "connection error");
    }
}

static struct conn *conn_new(struct node *n, enum conn_side side, bool tls, bool outbound,
                             const struct sockaddr *sa)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->id = ++n->next_conn_id;
    c->node = n;
    c->side = side;
    c->tls = tls;
    c->outbound = outbound;
    c->state = CONN_CONNECTING;
    memcpy(&c->peer, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    addr_to_str(sa, c->peer_ip, sizeof(c->peer_ip), c->peer_str, sizeof(c->peer_str));
    if (hmap_put(&n->conns, (const char *)&c->id, sizeof(c->id), c) < 0) {
        free(c);
        return NULL;
    }
    n->n_conns++;
    return c;
}

static void conn_setup_bev(struct conn *c)
{
    struct node *n = c->node;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    struct timeval idle = {n->cfg.idle_timeout_s, 0};
    bufferevent_set_timeouts(c->bev, &idle, NULL);
    bufferevent_setwatermark(c->bev, EV_READ, 0, (size_t)n->cfg.max_message_size * 4);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct node *n = evconnlistener_get_base(l) ? arg : arg;
    bool external = l == n->ext_listener;
    bool int_tls = l == n->int_tls_listener; /* the front ends' mutual TLS */
    enum conn_side side = external ? SIDE_EXTERNAL : SIDE_INTERNAL;
    char ip[48], full[64];
    addr_to_str(sa, ip, sizeof(ip), full, sizeof(full));
    /* a balancer's connections count against the partner's address named by
     * their PROXY header (conn_set_peer), not against the balancer's */
    uintptr_t from_src = external && conn_proxy_trusted(n, ip)
                             ? 0
                             : (uintptr_t)hmap_get(&n->conns_by_src, ip, strlen(ip));
    if (n->n_conns >= (unsigned)n->cfg.max_connections ||
        from_src >= (uintptr_t)n->cfg.max_conns_per_source) {
        n->stats.conns_refused++;
        LOG_WARN("conn", "%s connection from %s refused: %s", side_name(side), full,
                 from_src >= (uintptr_t)n->cfg.max_conns_per_source
                     ? "too many connections from this source"
                     : "connection limit reached");
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = conn_new(n, side, external || int_tls, false, sa);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    src_count_add(n, c->peer_ip, +1);
    n->stats.conns_accepted++;
    if (external) {
        /* a PROXY header (from a balancer) comes in clear before the TLS */
        if (conn_proxy_start(c, fd) < 0) {
            evutil_closesocket(fd);
            conn_close(c, "out of memory");
        }
        return;
    }
    if (int_tls) { /* no PROXY header inside: the handshake starts at once */
        conn_start_tls(c, fd);
        return;
    }
    c->bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->state = CONN_OPEN;
    if (!c->bev) {
        evutil_closesocket(fd);
        conn_close(c, "out of memory");
        return;
    }
    conn_setup_bev(c);
    LOG_DEBUG("conn", "%s connection from %s accepted", side_name(side), c->peer_str);
}

void conn_start_tls(struct conn *c, evutil_socket_t fd)
{
    struct node *n = c->node;
    SSL *ssl = SSL_new(c->side == SIDE_INTERNAL ? n->tls_int_server : n->tls_server);
    c->bev = ssl ? bufferevent_openssl_socket_new(n->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                  BEV_OPT_CLOSE_ON_FREE)
                 : NULL;
    if (!c->bev) {
        evutil_closesocket(fd);
        conn_close(c, "out of memory");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    conn_setup_bev(c);
    LOG_DEBUG("conn", "%s TLS connection from %s accepted", side_name(c->side), c->peer_str);
}

int conn_set_peer(struct conn *c, const struct sockaddr *sa)
{
    struct node *n = c->node;
    char ip[48], full[64];
    addr_to_str(sa, ip, sizeof(ip), full, sizeof(full));
    uintptr_t from_src = (uintptr_t)hmap_get(&n->conns_by_src, ip, strlen(ip));
    if (from_src >= (uintptr_t)n->cfg.max_conns_per_source) {
        n->stats.conns_refused++;
        LOG_WARN("conn",
                 "%s connection from %s (through %s) refused: too many connections from "
                 "this source",
                 side_name(c->side), full, c->peer_str);
        conn_close(c, "too many connections from this source");
        return -1;
    }
    src_count_add(n, c->peer_ip, -1);
    memcpy(&c->peer, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
    snprintf(c->peer_str, sizeof(c->peer_str), "%s", full);
    src_count_add(n, c->peer_ip, +1);
    return 0;
}

static void listener_error_cb(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    LOG_ERROR("conn", "accept failed: %s (continuing)", evutil_socket_error_to_string(err));
}

static struct evconnlistener *listen_on(struct node *n, const struct listen_addr *a,
                                        const char *what)
{
    struct evconnlistener *l = evconnlistener_new_bind(
        n->base, accept_cb, n, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        1024, (const struct sockaddr *)&a->sa, (int)a->salen);
    if (!l) {
        LOG_ERROR("conn", "cannot listen for %s on %s:%u: %s", what, a->host, a->port,
                  strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(l, listener_error_cb);
    LOG_INFO("conn", "listening for %s on %s:%u", what, a->host, a->port);
    return l;
}

int conn_listeners_start(struct node *n)
{
    n->int_listener = listen_on(n, &n->int_addr, "internal SIP over TCP");
    if (!n->int_listener)
        return -1;
    n->ext_listener = listen_on(n, &n->ext_addr, "federation SIP over TLS");
    if (!n->ext_listener)
        return -1;
    if (n->int_tls_addr.port == 0)
        return 0;
    n->int_tls_listener = listen_on(n, &n->int_tls_addr, "internal SIP over mutual TLS");
    return n->int_tls_listener ? 0 : -1;
}

void conn_listeners_stop(struct node *n)
{
    if (n->int_listener)
        evconnlistener_free(n->int_listener);
    if (n->ext_listener)
        evconnlistener_free(n->ext_listener);
    if (n->int_tls_listener)
        evconnlistener_free(n->int_tls_listener);
    n->int_listener = n->ext_listener = n->int_tls_listener = NULL;
}

struct conn *conn_connect(struct node *n, enum conn_side side, const struct sockaddr *sa,
                          socklen_t salen, bool tls, const char *target)
{
    /* over TLS inside, from the TLS listener's address: the one our Via names */
    const struct listen_addr *src = side == SIDE_EXTERNAL              ? &n->ext_addr
                                    : tls && n->int_tls_addr.port != 0 ? &n->int_tls_addr
                                                                       : &n->int_addr;
    evutil_socket_t fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* leave from our own address on that side, so the peer sees the node */
    if (src->sa.ss_family == sa->sa_family) {
        struct sockaddr_storage b = src->sa;
        if (b.ss_family == AF_INET)
            ((struct sockaddr_in *)&b)->sin_port = 0;
        else
            ((struct sockaddr_in6 *)&b)->sin6_port = 0;
        if (bind(fd, (struct sockaddr *)&b, src->salen) < 0)
            LOG_DEBUG("conn", "cannot bind outbound socket to %s: %s", src->host, strerror(errno));
    }
    struct conn *c = conn_new(n, side, tls, true, sa);
    if (!c) {
        evutil_closesocket(fd);
        return NULL;
    }
    if (target)
        c->target = strdup(target);
    if (tls) {
        SSL *ssl =
            SSL_new(side == SIDE_INTERNAL && n->tls_int_client ? n->tls_int_client : n->tls_client);
        if (ssl && target) {
            SSL_set_tlsext_host_name(ssl, target);
            /* the handshake fails unless the certificate names target (RFC 5922) */
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_WILDCARDS);
            SSL_set1_host(ssl, target);
        }
        c->bev = ssl ? bufferevent_openssl_socket_new(n->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        evutil_closesocket(fd);
        c->state = CONN_CLOSED;
        conn_free(c);
        return NULL;
    }
    conn_setup_bev(c);
    struct timeval ct = {n->cfg.connect_timeout_ms / 1000,
                         (n->cfg.connect_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, &ct, &ct);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)sa, (int)salen) < 0) {
        LOG_WARN("conn", "connect to %s failed at once: %s", c->peer_str, strerror(errno));
        c->state = CONN_CLOSED;
        conn_free(c);
        return NULL;
    }
    n->stats.conns_opened++;
    return c;
}

/* After connect: the idle timeout replaces the connect timeout. Called by the pool. */
void conn_set_idle_timeout(struct conn *c)
{
    struct timeval idle = {c->node->cfg.idle_timeout_s, 0};
    bufferevent_set_timeouts(c->bev, &idle, NULL);
}

static struct conn_domain *domain_find(const struct conn *c, struct slice domain)
{
    for (struct conn_domain *d = c->domains; d; d = d->next)
        if (d->len == domain.len && strncasecmp(d->name, domain.p, domain.len) == 0)
            return d;
    return NULL;
}

void conn_domain_remember(struct conn *c, struct slice domain, uint64_t version, bool allowed,
                          int status, const char *reason)
{
    struct conn_domain *d = domain_find(c, domain); /* every message re-verifies: update */
    if (!d) {
        d = malloc(sizeof(*d) + domain.len + 1);
        if (!d)
            return;
        d->len = domain.len;
        memcpy(d->name, domain.p, domain.len);
        d->name[domain.len] = '\0';
        d->next = c->domains;
        c->domains = d;
    }
    d->version = version;
    d->allowed = allowed;
    d->status = status;
    d->reason = reason;
}

int conn_domain_lookup(const struct conn *c, struct slice domain, uint64_t version, int *status,
                       const char **reason)
{
    const struct conn_domain *d = domain_find(c, domain);
    if (!d || d->version != version)
        return -1;
    *status = d->status;
    *reason = d->reason;
    return d->allowed ? 1 : 0;
}

void conn_domains_each(const struct conn *c, uint64_t version,
                       void (*fn)(void *arg, const char *domain), void *arg)
{
    for (const struct conn_domain *d = c->domains; d; d = d->next)
        if (d->allowed && d->version == version)
            fn(arg, d->name);
}

bool conn_peer_has_name(const struct conn *c, struct slice name)
{
    if (name.len && name.p[name.len - 1] == '.')
        name.len--;
    for (int i = 0; i < c->n_names; i++)
        if (strlen(c->names[i]) == name.len && strncasecmp(c->names[i], name.p, name.len) == 0)
            return true;
    return false;
}
