/* check.c -- one active health check (see check.h): a non-blocking connect,
 * then for tls/sip an OpenSSL handshake driven by the loop's read/write
 * readiness, then for sip an OPTIONS with Max-Forwards 0 (the node answers
 * it itself) whose status line must be 2xx. One deadline bounds it all. */
#include "health/check.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"

enum check_state { ST_CONNECT, ST_HANDSHAKE, ST_WRITE, ST_READ };

struct check {
    struct event_base *base;
    struct event *io;    /* the socket: re-armed for read or write */
    struct event *timer; /* the deadline; also delivers an immediate failure */
    int fd;
    SSL *ssl;
    enum check_state st;
    enum health_check_kind kind;
    uint64_t started_us;
    check_done_cb cb;
    void *arg;
    char early_why[96]; /* a failure found in check_start, delivered by the timer */
    bool refused;       /* the failure is a refused connection */
    char req[768];
    size_t req_len, req_off;
    char resp[1024];
    size_t resp_len;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void release(struct check *c)
{
    if (c->io)
        event_free(c->io);
    if (c->timer)
        event_free(c->timer);
    if (c->ssl) {
        SSL_set_quiet_shutdown(c->ssl, 1);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static void finish(struct check *c, bool ok, const char *why)
{
    if (ok && c->ssl)
        SSL_shutdown(c->ssl); /* a close_notify, best effort: the node sees a clean close */
    uint64_t us = mono_us() - c->started_us;
    check_done_cb cb = c->cb;
    void *arg = c->arg;
    char reason[160];
    snprintf(reason, sizeof(reason), "%s", ok ? "" : why);
    bool refused = !ok && c->refused;
    release(c);
    cb(arg, ok, refused, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us, reason);
}

static void io_cb(evutil_socket_t fd, short what, void *arg);

static void want(struct check *c, short what)
{
    event_del(c->io);
    event_assign(c->io, c->base, c->fd, what, io_cb, c);
    event_add(c->io, NULL);
}

static const char *ssl_why(struct check *c, int rc, char *buf, size_t len)
{
    const char *reason = tls_verify_reason(c->ssl);
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (reason && strcmp(reason, "ok") != 0) {
        snprintf(buf, len, "TLS: %s", reason);
    } else if (e) {
        char eb[120];
        ERR_error_string_n(e, eb, sizeof(eb));
        snprintf(buf, len, "TLS: %s", eb);
    } else {
        int se = SSL_get_error(c->ssl, rc);
        snprintf(buf, len, "TLS: %s",
                 se == SSL_ERROR_ZERO_RETURN || se == SSL_ERROR_SYSCALL ? "connection closed"
                                                                        : "handshake failed");
    }
    return buf;
}

/* Drive the state machine as far as it goes without blocking. */
static void step(struct check *c)
{
    char why[200];
    for (;;) {
        switch (c->st) {
        case ST_CONNECT: {
            int err = 0;
            socklen_t el = sizeof(err);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                err = errno;
            if (err) {
                c->refused = err == ECONNREFUSED;
                finish(c, false, strerror(err));
                return;
            }
            if (c->kind == HEALTH_CHECK_TCP) {
                finish(c, true, "");
                return;
            }
            c->st = ST_HANDSHAKE;
            continue;
        }
        case ST_HANDSHAKE: {
            int rc = SSL_do_handshake(c->ssl);
            if (rc == 1) {
                if (c->kind == HEALTH_CHECK_TLS) {
                    finish(c, true, "");
                    return;
                }
                c->st = ST_WRITE;
                continue;
            }
            int e = SSL_get_error(c->ssl, rc);
            if (e == SSL_ERROR_WANT_READ) {
                want(c, EV_READ);
                return;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                want(c, EV_WRITE);
                return;
            }
            finish(c, false, ssl_why(c, rc, why, sizeof(why)));
            return;
        }
        case ST_WRITE: {
            int rc = SSL_write(c->ssl, c->req + c->req_off, (int)(c->req_len - c->req_off));
            if (rc > 0) {
                c->req_off += (size_t)rc;
                if (c->req_off == c->req_len)
                    c->st = ST_READ;
                continue;
            }
            int e = SSL_get_error(c->ssl, rc);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                want(c, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
                return;
            }
            finish(c, false, ssl_why(c, rc, why, sizeof(why)));
            return;
        }
        case ST_READ: {
            int rc =
                SSL_read(c->ssl, c->resp + c->resp_len, (int)(sizeof(c->resp) - 1 - c->resp_len));
            if (rc > 0) {
                c->resp_len += (size_t)rc;
                c->resp[c->resp_len] = '\0';
                /* the status line of the first response (a 100 is not sent to OPTIONS) */
                char *eol = strstr(c->resp, "\r\n");
                if (!eol && c->resp_len < sizeof(c->resp) - 1)
                    continue;
                int code = 0;
                if (strncmp(c->resp, "SIP/2.0 ", 8) != 0 ||
                    sscanf(c->resp + 8, "%3d", &code) != 1) {
                    finish(c, false, "SIP: not a SIP response");
                } else if (code >= 200 && code < 300) {
                    finish(c, true, "");
                } else {
                    snprintf(why, sizeof(why), "SIP: OPTIONS answered %d", code);
                    finish(c, false, why);
                }
                return;
            }
            int e = SSL_get_error(c->ssl, rc);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                want(c, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
                return;
            }
            finish(c, false, "SIP: connection closed before a response");
            return;
        }
        }
    }
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct check *c = arg;
    if (c->early_why[0]) {
        finish(c, false, c->early_why);
        return;
    }
    static const char *const what_s[] = {"timeout (connect)", "timeout (TLS handshake)",
                                         "timeout (sending OPTIONS)", "timeout (OPTIONS response)"};
    finish(c, false, what_s[c->st]);
}

static void build_options(struct check *c, const struct check_opts *o)
{
    uint64_t r = mono_us() ^ ((uint64_t)(uintptr_t)c << 7);
    const char *host = o->sip_host ? o->sip_host : "invalid";
    const char *from = o->from_domain ? o->from_domain : "invalid";
    int n = snprintf(c->req, sizeof(c->req),
                     "OPTIONS sip:%s;transport=tls SIP/2.0\r\n"
                     "Via: SIP/2.0/TLS %s;branch=z9hG4bKebhc%016llx\r\n"
                     "Max-Forwards: 0\r\n"
                     "From: <sip:edge-balancer@%s>;tag=%08llx\r\n"
                     "To: <sip:%s>\r\n"
                     "Call-ID: ebhc-%016llx@%s\r\n"
                     "CSeq: 1 OPTIONS\r\n"
                     "User-Agent: edge-balancer health check\r\n"
                     "Content-Length: 0\r\n\r\n",
                     host, from, (unsigned long long)r, from, (unsigned long long)(r & 0xffffffffu),
                     host, (unsigned long long)(r * 2654435761u), from);
    c->req_len = n > 0 && (size_t)n < sizeof(c->req) ? (size_t)n : 0;
}

struct check *check_start(struct event_base *base, const struct sockaddr *addr, socklen_t addrlen,
                          const struct check_opts *o, check_done_cb cb, void *arg)
{
    struct check *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = -1;
    c->base = base;
    c->kind = o->kind;
    c->cb = cb;
    c->arg = arg;
    c->started_us = mono_us();
    c->timer = evtimer_new(base, timer_cb, c);
    if (!c->timer) {
        free(c);
        return NULL;
    }
    struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};
    c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(c->early_why, sizeof(c->early_why), "socket: %s", strerror(errno));
        goto early;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->io = event_new(base, c->fd, EV_WRITE, io_cb, c);
    if (!c->io) {
        release(c);
        return NULL;
    }
    if (o->kind != HEALTH_CHECK_TCP) {
        if (!o->ssl_ctx || !(c->ssl = SSL_new(o->ssl_ctx)) || SSL_set_fd(c->ssl, c->fd) != 1) {
            snprintf(c->early_why, sizeof(c->early_why), "TLS: no client context");
            goto early;
        }
        SSL_set_connect_state(c->ssl);
        if (o->tls_name && *o->tls_name) {
            SSL_set_tlsext_host_name(c->ssl, o->tls_name);
            if (SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER)
                SSL_set1_host(c->ssl, o->tls_name); /* the chain and this name */
        }
        if (o->kind == HEALTH_CHECK_SIP)
            build_options(c, o);
    }
    if (connect(c->fd, addr, addrlen) == 0 || errno == EINPROGRESS) {
        event_add(c->io, NULL);
        event_add(c->timer, &tv);
        return c;
    }
    c->refused = errno == ECONNREFUSED;
    snprintf(c->early_why, sizeof(c->early_why), "%s", strerror(errno));
early : {
    struct timeval zero = {0, 0};
    event_add(c->timer, &zero);
    return c;
}
}

void check_cancel(struct check *c)
{
    if (c)
        release(c);
}
