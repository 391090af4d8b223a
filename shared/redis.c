/* redis.c -- the asynchronous Redis client on the process's event loop.
 *
 * Owns the connections (data, subscriptions, a Sentinel query and a Sentinel
 * watch), each a libevent bufferevent (plain or OpenSSL) with hiredis's reader
 * and a FIFO of the replies it awaits; the command timeouts, the reconnect
 * backoff, AUTH/SELECT/ROLE at connect, the up/down state and its log lines.
 * What Sentinel's replies say is read in redis_sentinel.c. */
#include "redis.h"
#include "log.h"
#include "redis_int.h"
#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define LOG_COMP "redis"
/* An idle connection is PINGed this often, so a silent server (partition,
 * SIGSTOP) is found dead within KEEPALIVE_MS + command_timeout_ms even when
 * nobody sends commands, and subscriptions notice it at all. */
#define KEEPALIVE_MS 1000
/* Distinct failure reasons remembered per outage, each logged once. */
#define WHYS 4

enum conn_kind { CONN_DATA, CONN_SUB, CONN_SQUERY, CONN_SWATCH };

enum conn_state {
    CS_IDLE,       /* closed; maybe a retry timer is armed */
    CS_RESOLVING,  /* waiting for DNS */
    CS_CONNECTING, /* TCP connect (and TLS handshake) */
    CS_HANDSHAKE,  /* AUTH, SELECT, ROLE, PING in flight */
    CS_READY,
};

/* What a pending reply is for. */
enum pend_kind { PK_USER, PK_AUTH, PK_SELECT, PK_ROLE, PK_PING, PK_GETMASTER, PK_SUBSCRIBE };

struct pending {
    struct pending *next;
    enum pend_kind kind;
    redis_reply_cb cb;
    void *arg;
    uint64_t deadline; /* monotonic ms */
    const char *err;   /* on the dying list: why it failed (a static string) */
};

struct conn {
    struct redis *r;
    enum conn_kind kind;
    enum conn_state st;
    struct redis_hostport hp; /* where it connects */
    char addr[300];           /* hp as "host:port", for logs */
    struct bufferevent *bev;
    redisReader *reader;
    struct pending *head, *tail;
    size_t npending;
    unsigned handshake_left; /* replies to await before CS_READY */
    bool ping_out;           /* a keepalive PING is in flight */
    unsigned gen;            /* bumped by every close: stale work compares it */
    unsigned attempt;        /* failures in a row, for the backoff */
    bool lost_logged;        /* sub/watch: a "lost" line is logged, say when restored */
    char lost_why[200];      /* sub: why it was lost, logged when the retry comes */
    struct event *timer;     /* connect deadline, then the oldest command's deadline */
    struct event *retry;     /* the backoff before the next attempt */
    struct event *keepalive; /* EV_PERSIST, KEEPALIVE_MS, while CS_READY */
};

struct sub {
    struct sub *next;
    char *channel;
    redis_message_cb cb;
    void *arg;
};

struct redis {
    struct event_base *base;
    struct redis_opts o; /* defaults applied; strings are our copies */
    redis_state_cb on_state;
    void *state_arg;
    SSL_CTX *ssl_ctx;
    struct resolver *resolver; /* made on first use: only host names need it */

    struct redis_hostport direct; /* o.addr */
    struct redis_hostport *sentinels;
    size_t nsentinels;
    size_t sidx;       /* the sentinel asked first: the last one that answered */
    size_t disc_tried; /* sentinels asked in this round */
    char disc_why[512];
    size_t widx; /* the sentinel watched for +switch-master */
    struct redis_hostport master;
    bool master_known;
    bool use_known_master; /* the next attempt goes to master without asking */
    char cur_addr[300];

    struct conn data, sub, squery, swatch;
    struct sub *subs, **subs_tail;
    size_t nsubs;

    bool up;
    bool started;         /* the first attempt was made: later ones are reconnects */
    bool down_logged;     /* a "down" line since the last "up" */
    char whys[WHYS][200]; /* the reasons logged in this outage: each once */
    unsigned nwhys;

    /* user callbacks of failed commands, called by drain_dying() after the
     * state is consistent (and by redis_free, if one of them frees us) */
    struct pending *dying, **dying_tail;

    int depth;    /* our functions on the stack that may call user code */
    bool closing; /* redis_free was called; freed when depth drops to 0 */
    uint64_t rng;
    struct redis_stats stats;
};

static void conn_failed(struct conn *c, const char *why, const char *pend_err);
static void data_connect(struct redis *r);
static void sub_start(struct redis *r);
static void swatch_start(struct redis *r);
static void really_free(struct redis *r);

/* ---- small things ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t rng_next(struct redis *r)
{
    /* xorshift64*: jitter only, nothing secret */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (uint32_t)((r->rng * 2685821657736338717ull) >> 32);
}

static void arm(struct event *ev, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static bool hp_eq(const struct redis_hostport *a, const struct redis_hostport *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

int redis_hostport_parse(const char *s, uint16_t default_port, struct redis_hostport *out,
                         char *err, size_t errlen)
{
    const char *host = s, *hend, *port = NULL;
    if (!s || !*s) {
        snprintf(err, errlen, "empty address");
        return -1;
    }
    if (*s == '[') {
        host = s + 1;
        hend = strchr(host, ']');
        if (!hend) {
            snprintf(err, errlen, "\"%s\": missing ']'", s);
            return -1;
        }
        if (hend[1] == ':')
            port = hend + 2;
        else if (hend[1]) {
            snprintf(err, errlen, "\"%s\": junk after ']'", s);
            return -1;
        }
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
            snprintf(err, errlen, "\"%s\": write an IPv6 address as [addr]:port", s);
            return -1;
        }
        hend = colon ? colon : s + strlen(s);
        if (colon)
            port = colon + 1;
    }
    size_t hl = (size_t)(hend - host);
    if (hl == 0 || hl >= sizeof(out->host)) {
        snprintf(err, errlen, "\"%s\": bad host", s);
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        if (host[i] == ' ' || host[i] == ',' || host[i] == '/' || (unsigned char)host[i] < 0x21) {
            snprintf(err, errlen, "\"%s\": bad host", s);
            return -1;
        }
    out->port = default_port;
    if (port) {
        char *end;
        errno = 0;
        long p = strtol(port, &end, 10);
        if (!*port || *end || errno || p < 1 || p > 65535) {
            snprintf(err, errlen, "\"%s\": bad port", s);
            return -1;
        }
        out->port = (uint16_t)p;
    }
    memcpy(out->host, host, hl);
    out->host[hl] = '\0';
    return 0;
}

const char *redis_hostport_str(const struct redis_hostport *hp, char *buf, size_t len)
{
    if (strchr(hp->host, ':'))
        snprintf(buf, len, "[%s]:%u", hp->host, (unsigned)hp->port);
    else
        snprintf(buf, len, "%s:%u", hp->host, (unsigned)hp->port);
    return buf;
}

unsigned redis_backoff_ms(int min_ms, int max_ms, unsigned attempt, uint32_t rnd)
{
    uint64_t lo = min_ms > 0 ? (uint64_t)min_ms : 1, hi = max_ms > min_ms ? (uint64_t)max_ms : lo;
    uint64_t d = lo;
    for (unsigned i = 0; i < attempt && d < hi; i++)
        d *= 2;
    if (d > hi)
        d = hi;
    uint64_t span = d / 5;
    if (span)
        d = d - span + rnd % (2 * span + 1);
    if (d < lo)
        d = lo;
    if (d > hi)
        d = hi;
    return (unsigned)d;
}

/* A numeric address (or "localhost") as a sockaddr; false for a name. */
static bool numeric_sockaddr(const struct redis_hostport *hp, struct sockaddr_storage *ss,
                             socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    const char *h = strcmp(hp->host, "localhost") == 0 ? "127.0.0.1" : hp->host;
    if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(hp->port);
        *len = sizeof(*in4);
        return true;
    }
    if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(hp->port);
        *len = sizeof(*in6);
        return true;
    }
    return false;
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* ---- re-entrancy: user code may call redis_free from any callback ---- */

static void enter(struct redis *r)
{
    r->depth++;
}

/* The last statement of every function that entered: frees r if redis_free
 * was called meanwhile and nothing of ours is left on the stack. */
static void leave(struct redis *r)
{
    if (--r->depth == 0 && r->closing)
        really_free(r);
}

/* Calls the callbacks of failed commands, oldest first. Each may re-enter
 * (a new command fails at once while down; redis_free drains the rest). */
static void drain_dying(struct redis *r)
{
    struct pending *p;
    while ((p = r->dying)) {
        r->dying = p->next;
        if (!r->dying)
            r->dying_tail = &r->dying;
        redis_reply_cb cb = p->cb;
        void *arg = p->arg;
        const char *err = p->err;
        free(p);
        r->stats.errors++;
        if (cb)
            cb(arg, NULL, err);
    }
}

/* ---- one connection ---- */

static const char *conn_label(const struct conn *c, char *buf, size_t len)
{
    const struct redis *r = c->r;
    switch (c->kind) {
    case CONN_DATA:
        if (!r->nsentinels)
            snprintf(buf, len, "Redis %s", c->addr);
        else if (r->master_known)
            snprintf(buf, len, "Redis master %s at %s", r->o.master_name, r->cur_addr);
        else
            snprintf(buf, len, "Redis master %s", r->o.master_name);
        break;
    case CONN_SUB:
        snprintf(buf, len, "Redis %s (subscriptions)", c->addr);
        break;
    case CONN_SQUERY:
    case CONN_SWATCH:
        snprintf(buf, len, "Redis sentinel %s", c->addr);
        break;
    }
    return buf;
}

/* Closes c (no callback runs here): user commands move to the dying list
 * with pend_err, to be called by drain_dying(). Idle c: no-op but the bump. */
static void conn_close(struct conn *c, const char *pend_err)
{
    struct redis *r = c->r;
    c->gen++;
    c->st = CS_IDLE;
    c->handshake_left = 0;
    c->ping_out = false;
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->reader) {
        redisReaderFree(c->reader);
        c->reader = NULL;
    }
    evtimer_del(c->timer);
    event_del(c->keepalive);
    struct pending *p;
    while ((p = c->head)) {
        c->head = p->next;
        if (p->kind == PK_USER) {
            r->stats.pending--;
            p->next = NULL;
            p->err = pend_err ? pend_err : "redis down";
            *r->dying_tail = p;
            r->dying_tail = &p->next;
        } else {
            free(p);
        }
    }
    c->tail = NULL;
    c->npending = 0;
}

/* Queues a formatted command on a connected c and awaits its reply. */
static int conn_send(struct conn *c, enum pend_kind kind, redis_reply_cb cb, void *arg,
                     const char *cmd, size_t len)
{
    struct redis *r = c->r;
    struct pending *p = calloc(1, sizeof(*p));
    if (!p || bufferevent_write(c->bev, cmd, len) != 0) {
        free(p);
        return -1;
    }
    p->kind = kind;
    p->cb = cb;
    p->arg = arg;
    p->deadline = now_ms() + (uint64_t)r->o.command_timeout_ms;
    if (c->tail)
        c->tail->next = p;
    else
        c->head = p;
    c->tail = p;
    c->npending++;
    /* FIFO and one timeout for all: the head has the nearest deadline. The
     * timer is re-armed lazily when it fires for a head already answered. */
    if (!evtimer_pending(c->timer, NULL))
        arm(c->timer, (unsigned)r->o.command_timeout_ms);
    return 0;
}

static int conn_sendf(struct conn *c, enum pend_kind kind, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    int rc = conn_send(c, kind, NULL, NULL, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static SSL *conn_ssl_new(struct conn *c)
{
    struct redis *r = c->r;
    SSL *ssl = SSL_new(r->ssl_ctx);
    if (!ssl)
        return NULL;
    const char *name = r->o.tls_server_name ? r->o.tls_server_name : c->hp.host;
    int ok;
    if (is_ip(name)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
    } else {
        ok = SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (ok != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static void conn_connect_sa(struct conn *c, const struct sockaddr *sa, socklen_t salen)
{
    struct redis *r = c->r;
    c->reader = redisReaderCreate();
    if (!c->reader) {
        conn_failed(c, "out of memory", NULL);
        return;
    }
    if (r->ssl_ctx) {
        SSL *ssl = conn_ssl_new(c);
        if (ssl) {
            c->bev = bufferevent_openssl_socket_new(r->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
            if (!c->bev)
                SSL_free(ssl);
            else
                bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        }
    } else {
        c->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        conn_failed(c, "cannot create a connection (out of memory?)", NULL);
        return;
    }
    c->st = CS_CONNECTING;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, sa, (int)salen) < 0) {
        char why[128];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        conn_failed(c, why, NULL);
        return;
    }
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct resolve_req {
    struct conn *c;
    unsigned gen;
};

static void conn_resolved(void *arg, int status, const struct sockaddr_storage *addrs, size_t n)
{
    struct resolve_req *q = arg;
    struct conn *c = q->c;
    unsigned gen = q->gen;
    free(q);
    struct redis *r = c->r;
    if (r->closing || c->gen != gen || c->st != CS_RESOLVING)
        return; /* cancelled, timed out or closed meanwhile */
    enter(r);
    if (status != RESOLVER_OK || n == 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", c->hp.host,
                 resolver_status_name(status));
        conn_failed(c, why, NULL);
    } else {
        socklen_t len = addrs[0].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in);
        conn_connect_sa(c, (const struct sockaddr *)&addrs[0], len);
    }
    leave(r);
}

/* Starts connecting c to hp (closing what c had). Failures, even immediate
 * ones, come back through conn_failed(). */
static void conn_start(struct conn *c, const struct redis_hostport *hp)
{
    struct redis *r = c->r;
    conn_close(c, NULL);
    evtimer_del(c->retry);
    c->hp = *hp;
    redis_hostport_str(hp, c->addr, sizeof(c->addr));
    c->st = CS_RESOLVING;
    arm(c->timer, (unsigned)r->o.connect_timeout_ms);
    struct sockaddr_storage ss;
    socklen_t len;
    if (numeric_sockaddr(hp, &ss, &len)) {
        conn_connect_sa(c, (struct sockaddr *)&ss, len);
        return;
    }
    if (!r->resolver) {
        char err[256];
        r->resolver = resolver_new(r->base, NULL, err, sizeof(err));
        if (!r->resolver) {
            char why[400];
            snprintf(why, sizeof(why), "cannot resolve %s: %s", hp->host, err);
            conn_failed(c, why, NULL);
            return;
        }
    }
    struct resolve_req *q = malloc(sizeof(*q));
    if (!q) {
        conn_failed(c, "out of memory", NULL);
        return;
    }
    q->c = c;
    q->gen = c->gen;
    if (resolver_addr(r->resolver, hp->host, hp->port, AF_UNSPEC, conn_resolved, q) < 0) {
        free(q);
        char why[300];
        snprintf(why, sizeof(why), "cannot resolve %s: invalid host name", hp->host);
        conn_failed(c, why, NULL);
    }
}

/* Why the bufferevent failed, in words. */
static void conn_error_reason(struct conn *c, short what, int sock_err, char *buf, size_t len)
{
    unsigned long e, first = 0;
    SSL *ssl = NULL;
    if (c->r->ssl_ctx) {
        /* libevent also queues SSL_get_error() codes (library 0): skip them */
        while ((e = bufferevent_get_openssl_error(c->bev)))
            if (!first && ERR_GET_LIB(e) != 0)
                first = e;
        ssl = bufferevent_openssl_get_ssl(c->bev);
    }
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK) {
        snprintf(buf, len, "TLS: server certificate refused: %s", X509_verify_cert_error_string(v));
    } else if (first) {
        char s[256];
        ERR_error_string_n(first, s, sizeof(s));
        const char *reason = ERR_reason_error_string(first);
        snprintf(buf, len, "TLS error: %s", reason ? reason : s);
    } else if (what & BEV_EVENT_EOF) {
        snprintf(buf, len, "%s",
                 c->st == CS_CONNECTING ? "connection closed during the TLS handshake"
                                        : "connection closed by the server");
    } else if (sock_err) {
        snprintf(buf, len, "%s", strerror(sock_err));
        if (buf[0])
            buf[0] = (char)(buf[0] | 0x20); /* "connection refused", as in a sentence */
    } else {
        snprintf(buf, len, "connection error");
    }
}

static void conn_ready(struct conn *c);

/* AUTH toward a sentinel (redis.sentinel_password, _username). */
static int sentinel_auth(struct conn *c)
{
    const struct redis_opts *o = &c->r->o;
    return o->sentinel_username
               ? conn_sendf(c, PK_AUTH, "AUTH %s %s", o->sentinel_username, o->sentinel_password)
               : conn_sendf(c, PK_AUTH, "AUTH %s", o->sentinel_password);
}

/* Connected (TLS done): sends what this kind of connection says first. */
static void conn_connected(struct conn *c)
{
    struct redis *r = c->r;
    int rc = 0;
    evtimer_del(c->timer);
    c->st = CS_HANDSHAKE;
    c->handshake_left = 0;
    switch (c->kind) {
    case CONN_DATA:
    case CONN_SUB:
        if (r->o.password) {
            rc |= r->o.username ? conn_sendf(c, PK_AUTH, "AUTH %s %s", r->o.username, r->o.password)
                                : conn_sendf(c, PK_AUTH, "AUTH %s", r->o.password);
            c->handshake_left++;
        }
        if (c->kind == CONN_DATA && r->o.db != 0) {
            rc |= conn_sendf(c, PK_SELECT, "SELECT %d", r->o.db);
            c->handshake_left++;
        }
        if (c->kind == CONN_DATA && r->nsentinels) {
            rc |= conn_sendf(c, PK_ROLE, "ROLE");
            c->handshake_left++;
        }
        /* Always a PING: "up" means a server that answers commands (a stopped
         * one still completes TCP connects; a loading one refuses PING). */
        rc |= conn_sendf(c, PK_PING, "PING");
        c->handshake_left++;
        if (c->kind == CONN_SUB)
            for (struct sub *s = r->subs; s; s = s->next)
                rc |= conn_sendf(c, PK_SUBSCRIBE, "SUBSCRIBE %s", s->channel);
        break;
    case CONN_SQUERY:
        /* pipelined: a refused AUTH fails the connection before the answer */
        if (r->o.sentinel_password)
            rc |= sentinel_auth(c);
        rc |= conn_sendf(c, PK_GETMASTER, "SENTINEL get-master-addr-by-name %s", r->o.master_name);
        c->st = CS_READY;
        break;
    case CONN_SWATCH:
        if (r->o.sentinel_password) {
            rc |= sentinel_auth(c);
            c->handshake_left++;
        }
        rc |= conn_sendf(c, PK_PING, "PING");
        c->handshake_left++;
        rc |= conn_sendf(c, PK_SUBSCRIBE, "SUBSCRIBE +switch-master");
        break;
    }
    if (rc)
        conn_failed(c, "out of memory", NULL);
}

static void conn_on_reply(struct conn *c, redisReply *rep);

/* Hands every complete reply on. Stops when c is closed or r is being freed
 * by one of the callbacks. */
static void conn_process(struct conn *c)
{
    struct redis *r = c->r;
    unsigned gen = c->gen;
    while (!r->closing && c->gen == gen) {
        void *rep = NULL;
        if (redisReaderGetReply(c->reader, &rep) != REDIS_OK) {
            char why[200];
            snprintf(why, sizeof(why), "protocol error: %s", c->reader->errstr);
            conn_failed(c, why, NULL);
            return;
        }
        if (!rep)
            return;
        conn_on_reply(c, rep);
        freeReplyObject(rep);
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct redis *r = c->r;
    enter(r);
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec v;
    while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
        if (redisReaderFeed(c->reader, v.iov_base, v.iov_len) != REDIS_OK) {
            conn_failed(c, "protocol error: cannot buffer the reply", NULL);
            goto out;
        }
        evbuffer_drain(in, v.iov_len);
    }
    conn_process(c);
out:
    leave(r);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    struct redis *r = c->r;
    int sock_err = EVUTIL_SOCKET_ERROR();
    enter(r);
    if (what & BEV_EVENT_CONNECTED) {
        conn_connected(c);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        char why[300];
        conn_error_reason(c, what, sock_err, why, sizeof(why));
        conn_failed(c, why, NULL);
    }
    leave(r);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct redis *r = c->r;
    char why[128];
    enter(r);
    if (c->st == CS_RESOLVING || c->st == CS_CONNECTING) {
        snprintf(why, sizeof(why), "connect timeout (%d ms)", r->o.connect_timeout_ms);
        conn_failed(c, why, NULL);
    } else if (c->head) {
        uint64_t now = now_ms();
        if (c->head->deadline <= now + 1) {
            snprintf(why, sizeof(why), "no reply within %d ms", r->o.command_timeout_ms);
            r->stats.timeouts++;
            conn_failed(c, why, "timeout");
        } else {
            arm(c->timer, (unsigned)(c->head->deadline - now));
        }
    }
    leave(r);
}

static void conn_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->st != CS_READY || c->npending || c->ping_out)
        return;
    if (conn_sendf(c, PK_PING, "PING") == 0)
        c->ping_out = true;
}

static void conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct redis *r = c->r;
    enter(r);
    switch (c->kind) {
    case CONN_DATA:
        data_connect(r);
        break;
    case CONN_SUB:
        sub_start(r);
        break;
    case CONN_SWATCH:
        swatch_start(r);
        break;
    case CONN_SQUERY:
        break;
    }
    leave(r);
}

static int conn_init(struct conn *c, struct redis *r, enum conn_kind kind)
{
    c->r = r;
    c->kind = kind;
    c->timer = evtimer_new(r->base, conn_timer_cb, c);
    c->retry = evtimer_new(r->base, conn_retry_cb, c);
    c->keepalive = event_new(r->base, -1, EV_PERSIST, conn_keepalive_cb, c);
    return c->timer && c->retry && c->keepalive ? 0 : -1;
}

static void conn_destroy(struct conn *c)
{
    if (!c->r)
        return; /* redis_new failed before conn_init */
    conn_close(c, "shutting down");
    if (c->timer)
        event_free(c->timer);
    if (c->retry)
        event_free(c->retry);
    if (c->keepalive)
        event_free(c->keepalive);
}

/* ---- the data connection: up and down ---- */

/* Was this reason logged in this outage already? (Reasons may alternate,
 * e.g. a TLS alert and a reset: each is logged once.) */
static bool why_seen(const struct redis *r, const char *why)
{
    for (unsigned i = 0; i < r->nwhys && i < WHYS; i++)
        if (strncmp(r->whys[i], why, sizeof(r->whys[i]) - 1) == 0)
            return true;
    return false;
}

/* A reason that is a configuration problem rather than an outage: worth a
 * warning even while down (a restarted server that refuses our password). */
static bool needs_operator(const char *why)
{
    static const char *const prefixes[] = {"authentication", "TLS",           "SELECT",
                                           "ROLE",           "not a master",  "NOAUTH",
                                           "WRONGPASS",      "cannot resolve"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(why, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* The data connection failed or was lost: close it (pending commands fail
 * with pend_err), and the subscription and query connections with it;
 * reconnect after the backoff, or at once. Logs once per state change (and
 * again only if the reason changes while down). */
static void data_down(struct redis *r, const char *why, const char *pend_err, bool at_once)
{
    bool was_up = r->up;
    char label[400];
    conn_label(&r->data, label, sizeof(label));
    conn_close(&r->data, pend_err);
    conn_close(&r->squery, NULL);
    conn_close(&r->sub, NULL);
    evtimer_del(r->sub.retry);
    r->sub.attempt = 0;
    r->sub.lost_why[0] = '\0';
    r->sub.lost_logged = false;
    r->up = false;
    unsigned delay = at_once ? 0
                             : redis_backoff_ms(r->o.backoff_min_ms, r->o.backoff_max_ms,
                                                r->data.attempt++, rng_next(r));
    arm(r->data.retry, delay);
    char next[64];
    if (at_once)
        snprintf(next, sizeof(next), "reconnecting now");
    else
        snprintf(next, sizeof(next), "retrying in %u ms", delay);
    if (was_up || !r->down_logged) {
        LOG_WARN(LOG_COMP, "%s down: %s; %s", label, why, next);
        r->nwhys = 0;
    } else if (why_seen(r, why)) {
        LOG_DEBUG(LOG_COMP, "%s still down: %s; %s", label, why, next);
    } else if (needs_operator(why)) {
        LOG_WARN(LOG_COMP, "%s still down: %s; %s", label, why, next);
    } else {
        LOG_INFO(LOG_COMP, "%s still down: %s; %s", label, why, next);
    }
    r->down_logged = true;
    if (!why_seen(r, why))
        snprintf(r->whys[r->nwhys++ % WHYS], sizeof(r->whys[0]), "%s", why);
    drain_dying(r);
    if (was_up && !r->closing && r->on_state)
        r->on_state(r->state_arg, false);
}

static void data_ready(struct conn *c)
{
    struct redis *r = c->r;
    char label[400];
    r->up = true;
    c->attempt = 0;
    snprintf(r->cur_addr, sizeof(r->cur_addr), "%s", c->addr);
    conn_label(c, label, sizeof(label));
    if (r->down_logged)
        LOG_WARN(LOG_COMP, "%s up", label);
    else
        LOG_INFO(LOG_COMP, "%s up", label);
    r->down_logged = false;
    r->nwhys = 0;
    if (r->nsubs)
        sub_start(r);
    if (r->on_state)
        r->on_state(r->state_arg, true);
}

/* A new attempt: the fixed address, the master Sentinel just announced, or
 * a fresh question to the sentinels. */
static void sentinel_ask(struct redis *r);

static void data_connect(struct redis *r)
{
    if (r->closing)
        return;
    if (r->started)
        r->stats.reconnects++;
    r->started = true;
    if (!r->nsentinels) {
        conn_start(&r->data, &r->direct);
    } else if (r->use_known_master && r->master_known) {
        r->use_known_master = false;
        conn_start(&r->data, &r->master);
    } else {
        r->disc_tried = 0;
        r->disc_why[0] = '\0';
        sentinel_ask(r);
    }
}

/* ---- subscriptions ---- */

static void sub_start(struct redis *r)
{
    struct conn *c = &r->sub;
    char label[400];
    if (r->closing || !r->up || !r->nsubs)
        return;
    if (c->lost_why[0] && !c->lost_logged) {
        /* logged only now: had the whole server gone, data_down would have
         * cancelled this retry and its own line would say it all */
        conn_label(c, label, sizeof(label));
        LOG_WARN(LOG_COMP, "%s lost: %s; resubscribing", label, c->lost_why);
        c->lost_logged = true;
    }
    conn_start(c, &r->data.hp);
}

static void sub_lost(struct redis *r, const char *why)
{
    struct conn *c = &r->sub;
    conn_close(c, NULL);
    if (!r->up)
        return; /* data_down will restart it with the data connection */
    unsigned delay =
        redis_backoff_ms(r->o.backoff_min_ms, r->o.backoff_max_ms, c->attempt++, rng_next(r));
    arm(c->retry, delay);
    LOG_DEBUG(LOG_COMP, "Redis %s (subscriptions) lost: %s; resubscribing in %u ms", c->addr, why,
              delay);
    snprintf(c->lost_why, sizeof(c->lost_why), "%s", why);
}

static void sub_deliver(struct redis *r, const redisReply *rep)
{
    const char *ch = rep->element[1]->str;
    const redisReply *pl = rep->element[2];
    if (pl->type != REDIS_REPLY_STRING)
        return;
    for (struct sub *s = r->subs; s && !r->closing; s = s->next)
        if (strcmp(s->channel, ch) == 0) {
            r->stats.messages++;
            s->cb(s->arg, ch, pl->str, pl->len);
        }
}

/* ---- Sentinel ---- */

static void sentinel_ask(struct redis *r)
{
    size_t i = (r->sidx + r->disc_tried) % r->nsentinels;
    conn_start(&r->squery, &r->sentinels[i]);
}

/* The sentinel being asked failed: ask the next, or give up for this round. */
static void sentinel_next(struct redis *r, const char *why)
{
    struct conn *c = &r->squery;
    size_t used = strlen(r->disc_why);
    snprintf(r->disc_why + used, sizeof(r->disc_why) - used, "%s%s: %s", used ? "; " : "", c->addr,
             why);
    conn_close(c, NULL);
    if (++r->disc_tried < r->nsentinels) {
        sentinel_ask(r);
        return;
    }
    char all[700];
    snprintf(all, sizeof(all), "no sentinel gave its address (%s)", r->disc_why);
    data_down(r, all, NULL, false);
}

static void sentinel_on_master(struct conn *c, const redisReply *rep)
{
    struct redis *r = c->r;
    struct redis_hostport hp;
    char why[200], a[300], b[300];
    if (redis_sentinel_master_reply(rep, &hp, why, sizeof(why)) < 0) {
        conn_failed(c, why, NULL);
        return;
    }
    r->sidx = (r->sidx + r->disc_tried) % r->nsentinels;
    if (!r->master_known)
        LOG_INFO(LOG_COMP, "Redis sentinel %s: master %s is at %s", c->addr, r->o.master_name,
                 redis_hostport_str(&hp, a, sizeof(a)));
    else if (!hp_eq(&hp, &r->master)) {
        LOG_WARN(LOG_COMP, "Redis sentinel %s: master %s is now at %s (was %s)", c->addr,
                 r->o.master_name, redis_hostport_str(&hp, a, sizeof(a)),
                 redis_hostport_str(&r->master, b, sizeof(b)));
        r->stats.failovers++;
    }
    conn_close(c, NULL);
    r->master = hp;
    r->master_known = true;
    redis_hostport_str(&hp, r->cur_addr, sizeof(r->cur_addr));
    conn_start(&r->data, &hp);
}

/* +switch-master for our master: go there now, without asking again. */
static void sentinel_on_switch(struct redis *r, const char *from, const char *payload, size_t len)
{
    struct redis_hostport to;
    char a[300], why[400];
    if (redis_sentinel_switch_parse(payload, len, r->o.master_name, &to) != 1)
        return;
    redis_hostport_str(&to, a, sizeof(a));
    LOG_WARN(LOG_COMP, "Redis sentinel %s: master %s switched to %s", from, r->o.master_name, a);
    if (!r->master_known || !hp_eq(&to, &r->master))
        r->stats.failovers++;
    if (r->data.st != CS_IDLE && hp_eq(&r->data.hp, &to)) {
        r->master = to;
        r->master_known = true;
        return; /* already there */
    }
    r->use_known_master = true;
    snprintf(why, sizeof(why), "failover to %s", a);
    /* the label names the old address: set the new one afterwards */
    data_down(r, why, NULL, true);
    r->master = to;
    r->master_known = true;
    snprintf(r->cur_addr, sizeof(r->cur_addr), "%s", a);
}

static void swatch_start(struct redis *r)
{
    if (r->closing)
        return;
    conn_start(&r->swatch, &r->sentinels[r->widx % r->nsentinels]);
}

static void swatch_lost(struct redis *r, const char *why)
{
    struct conn *c = &r->swatch;
    char label[400];
    conn_label(c, label, sizeof(label));
    conn_close(c, NULL);
    r->widx = (r->widx + 1) % r->nsentinels;
    unsigned delay =
        redis_backoff_ms(r->o.backoff_min_ms, r->o.backoff_max_ms, c->attempt++, rng_next(r));
    arm(c->retry, delay);
    if (!c->lost_logged)
        LOG_WARN(LOG_COMP, "%s: not watching for failovers: %s; trying the next in %u ms", label,
                 why, delay);
    else
        LOG_DEBUG(LOG_COMP, "%s: not watching for failovers: %s; trying the next in %u ms", label,
                  why, delay);
    c->lost_logged = true;
}

/* ---- replies ---- */

static void conn_ready(struct conn *c)
{
    char label[400];
    c->st = CS_READY;
    struct timeval tv = {.tv_sec = KEEPALIVE_MS / 1000, .tv_usec = (KEEPALIVE_MS % 1000) * 1000};
    event_add(c->keepalive, &tv);
    switch (c->kind) {
    case CONN_DATA:
        data_ready(c);
        break;
    case CONN_SUB:
    case CONN_SWATCH:
        c->attempt = 0;
        conn_label(c, label, sizeof(label));
        if (c->lost_logged)
            LOG_WARN(LOG_COMP, "%s restored", label);
        else
            LOG_DEBUG(LOG_COMP, "%s connected", label);
        c->lost_logged = false;
        c->lost_why[0] = '\0';
        break;
    case CONN_SQUERY:
        break;
    }
}

static void handshake_step(struct conn *c)
{
    if (c->st == CS_HANDSHAKE && c->handshake_left && --c->handshake_left == 0)
        conn_ready(c);
}

static bool is_message(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
           rep->element[0]->type == REDIS_REPLY_STRING &&
           rep->element[1]->type == REDIS_REPLY_STRING &&
           strcmp(rep->element[0]->str, "message") == 0;
}

static void conn_on_reply(struct conn *c, redisReply *rep)
{
    struct redis *r = c->r;
    char why[400];
    if ((c->kind == CONN_SUB || c->kind == CONN_SWATCH) && is_message(rep)) {
        if (c->kind == CONN_SUB)
            sub_deliver(r, rep);
        else if (strcmp(rep->element[1]->str, "+switch-master") == 0)
            sentinel_on_switch(r, c->addr, rep->element[2]->str, rep->element[2]->len);
        return;
    }
    struct pending *p = c->head;
    if (!p) {
        conn_failed(c, "protocol error: a reply nobody asked for", NULL);
        return;
    }
    c->head = p->next;
    if (!c->head)
        c->tail = NULL;
    c->npending--;
    enum pend_kind kind = p->kind;
    redis_reply_cb cb = p->cb;
    void *arg = p->arg;
    free(p);
    bool is_err = rep->type == REDIS_REPLY_ERROR;

    switch (kind) {
    case PK_USER: {
        r->stats.pending--;
        r->stats.replies++;
        if (is_err)
            r->stats.errors++;
        bool readonly = is_err && r->nsentinels && strncmp(rep->str, "READONLY", 8) == 0;
        unsigned gen = c->gen;
        if (cb)
            cb(arg, rep, is_err ? rep->str : NULL);
        /* Sentinel mode: the master we talk to was demoted under us. */
        if (readonly && !r->closing && c->gen == gen)
            data_down(r, "the server is now a replica (READONLY)", NULL, false);
        break;
    }
    case PK_AUTH:
        if (is_err) {
            bool wrong = strncmp(rep->str, "WRONGPASS", 9) == 0;
            snprintf(why, sizeof(why), "authentication failed%s: %s",
                     wrong ? " (wrong user name or password)" : "", rep->str);
            conn_failed(c, why, NULL);
            return;
        }
        handshake_step(c);
        break;
    case PK_SELECT:
        if (is_err) {
            snprintf(why, sizeof(why), "SELECT %d failed: %s", r->o.db, rep->str);
            conn_failed(c, why, NULL);
            return;
        }
        handshake_step(c);
        break;
    case PK_ROLE: {
        const char *role;
        int k = redis_role_reply(rep, &role);
        if (k != 1) {
            if (is_err)
                snprintf(why, sizeof(why), "ROLE failed: %s", rep->str);
            else
                snprintf(why, sizeof(why), "not a master (its role is %s)", role);
            conn_failed(c, why, NULL);
            return;
        }
        handshake_step(c);
        break;
    }
    case PK_PING:
        if (c->st == CS_HANDSHAKE) {
            if (is_err) {
                bool noauth = strncmp(rep->str, "NOAUTH", 6) == 0;
                snprintf(why, sizeof(why), "%s%s",
                         noauth ? "authentication required, no password configured: " : "",
                         rep->str);
                conn_failed(c, why, NULL);
                return;
            }
            handshake_step(c);
        } else {
            c->ping_out = false; /* keepalive: any answer is a sign of life */
        }
        break;
    case PK_GETMASTER:
        sentinel_on_master(c, rep);
        break;
    case PK_SUBSCRIBE:
        if (is_err) {
            char label[400];
            LOG_WARN(LOG_COMP, "%s: SUBSCRIBE refused: %s", conn_label(c, label, sizeof(label)),
                     rep->str);
        }
        break;
    }
}

/* Every failure of a connection comes here; what follows depends on the kind. */
static void conn_failed(struct conn *c, const char *why, const char *pend_err)
{
    struct redis *r = c->r;
    if (r->closing) {
        conn_close(c, "shutting down");
        return;
    }
    switch (c->kind) {
    case CONN_DATA:
        data_down(r, why, pend_err, false);
        break;
    case CONN_SUB:
        sub_lost(r, why);
        break;
    case CONN_SQUERY:
        sentinel_next(r, why);
        break;
    case CONN_SWATCH:
        swatch_lost(r, why);
        break;
    }
}

/* ---- the API ---- */

static SSL_CTX *tls_ctx_new(const struct redis_opts *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    const char *what = NULL, *file = NULL;
    if (o->tls_ca) {
        if (SSL_CTX_load_verify_locations(ctx, o->tls_ca, NULL) != 1)
            what = "tls_ca", file = o->tls_ca;
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        what = "the system CA store", file = "";
    }
    if (!what && o->tls_cert) {
        const char *key = o->tls_key ? o->tls_key : o->tls_cert;
        if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1)
            what = "tls_cert", file = o->tls_cert;
        else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
            what = "tls_key", file = key;
        else if (SSL_CTX_check_private_key(ctx) != 1)
            what = "tls_key (does not match tls_cert)", file = key;
    }
    if (what) {
        unsigned long e = ERR_peek_last_error();
        const char *reason = e ? ERR_reason_error_string(e) : NULL;
        snprintf(err, errlen, "TLS: cannot load %s %s: %s", what, file,
                 reason ? reason : "unreadable");
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static char *dup_opt(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static void opts_free(struct redis_opts *o)
{
    free((char *)o->addr);
    free((char *)o->sentinels);
    free((char *)o->master_name);
    free((char *)o->username);
    free((char *)o->password);
    free((char *)o->sentinel_username);
    free((char *)o->sentinel_password);
    free((char *)o->tls_ca);
    free((char *)o->tls_cert);
    free((char *)o->tls_key);
    free((char *)o->tls_server_name);
}

static int parse_sentinels(struct redis *r, const char *list, char *err, size_t errlen)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    r->sentinels = calloc(n, sizeof(*r->sentinels));
    if (!r->sentinels) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", ");
        char one[300];
        if (len >= sizeof(one)) {
            snprintf(err, errlen, "sentinels: address too long");
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        char e[300];
        if (redis_hostport_parse(one, REDIS_SENTINEL_DEFAULT_PORT, &r->sentinels[r->nsentinels], e,
                                 sizeof(e)) < 0) {
            snprintf(err, errlen, "sentinels: %s", e);
            return -1;
        }
        r->nsentinels++;
        p += len;
    }
    if (!r->nsentinels) {
        snprintf(err, errlen, "sentinels: empty list");
        return -1;
    }
    return 0;
}

struct redis *redis_new(struct event_base *base, const struct redis_opts *o,
                        redis_state_cb on_state, void *state_arg, char *err, size_t errlen)
{
    char e[400];
    if (!base || !o) {
        snprintf(err, errlen, "redis: no event base or options");
        return NULL;
    }
    bool have_sentinels = o->sentinels && *o->sentinels;
    if (have_sentinels == (o->addr && *o->addr)) {
        snprintf(err, errlen, "redis: set exactly one of addr and sentinels");
        return NULL;
    }
    if (o->db < 0 || o->connect_timeout_ms < 0 || o->command_timeout_ms < 0 ||
        o->backoff_min_ms < 0 || o->backoff_max_ms < 0) {
        snprintf(err, errlen, "redis: negative db, timeout or backoff");
        return NULL;
    }
    if (o->username && !o->password) {
        snprintf(err, errlen, "redis: a username needs a password");
        return NULL;
    }
    if (o->tls_key && !o->tls_cert) {
        snprintf(err, errlen, "redis: tls_key without tls_cert");
        return NULL;
    }
    struct redis *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bool oom = false;
    r->base = base;
    r->on_state = on_state;
    r->state_arg = state_arg;
    r->o = *o;
    r->o.addr = have_sentinels ? NULL : dup_opt(o->addr, &oom);
    r->o.sentinels = have_sentinels ? dup_opt(o->sentinels, &oom) : NULL;
    r->o.master_name =
        dup_opt(o->master_name && *o->master_name ? o->master_name : "mymaster", &oom);
    r->o.username = dup_opt(o->username, &oom);
    r->o.password = dup_opt(o->password, &oom);
    r->o.sentinel_username = dup_opt(o->sentinel_username, &oom);
    r->o.sentinel_password = dup_opt(o->sentinel_password, &oom);
    r->o.tls_ca = dup_opt(o->tls_ca, &oom);
    r->o.tls_cert = dup_opt(o->tls_cert, &oom);
    r->o.tls_key = dup_opt(o->tls_key, &oom);
    r->o.tls_server_name = dup_opt(o->tls_server_name, &oom);
    if (!r->o.connect_timeout_ms)
        r->o.connect_timeout_ms = 1000;
    if (!r->o.command_timeout_ms)
        r->o.command_timeout_ms = 1000;
    if (!r->o.backoff_min_ms)
        r->o.backoff_min_ms = 100;
    if (!r->o.backoff_max_ms)
        r->o.backoff_max_ms = 5000;
    if (r->o.backoff_max_ms < r->o.backoff_min_ms)
        r->o.backoff_max_ms = r->o.backoff_min_ms;
    r->dying_tail = &r->dying;
    r->subs_tail = &r->subs;
    if (getrandom(&r->rng, sizeof(r->rng), GRND_NONBLOCK) != sizeof(r->rng))
        r->rng = now_ms() ^ ((uint64_t)getpid() << 32);
    r->rng |= 1;

    if (oom) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (have_sentinels) {
        if (parse_sentinels(r, r->o.sentinels, err, errlen) < 0)
            goto fail;
    } else if (redis_hostport_parse(r->o.addr, REDIS_DEFAULT_PORT, &r->direct, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "redis addr: %s", e);
        goto fail;
    }
    if (r->o.tls && !(r->ssl_ctx = tls_ctx_new(&r->o, err, errlen)))
        goto fail;
    if (conn_init(&r->data, r, CONN_DATA) < 0 || conn_init(&r->sub, r, CONN_SUB) < 0 ||
        conn_init(&r->squery, r, CONN_SQUERY) < 0 || conn_init(&r->swatch, r, CONN_SWATCH) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!have_sentinels)
        redis_hostport_str(&r->direct, r->cur_addr, sizeof(r->cur_addr));
    /* No user callback can run from here: on_state only reports changes. */
    r->depth++;
    data_connect(r);
    if (r->nsentinels)
        swatch_start(r);
    r->depth--;
    return r;
fail:
    really_free(r);
    return NULL;
}

static void really_free(struct redis *r)
{
    r->closing = true;
    r->depth = 1; /* resolver_free's cancellations must not free us again */
    if (r->resolver)
        resolver_free(r->resolver);
    conn_destroy(&r->data);
    conn_destroy(&r->sub);
    conn_destroy(&r->squery);
    conn_destroy(&r->swatch);
    drain_dying(r); /* empty unless redis_new failed: nothing to call then */
    struct sub *s;
    while ((s = r->subs)) {
        r->subs = s->next;
        free(s->channel);
        free(s);
    }
    free(r->sentinels);
    if (r->ssl_ctx)
        SSL_CTX_free(r->ssl_ctx);
    opts_free(&r->o);
    free(r);
}

void redis_free(struct redis *r)
{
    if (!r || r->closing)
        return;
    enter(r);
    r->closing = true;
    r->up = false;
    conn_close(&r->data, "shutting down");
    conn_close(&r->sub, NULL);
    conn_close(&r->squery, NULL);
    conn_close(&r->swatch, NULL);
    evtimer_del(r->data.retry);
    evtimer_del(r->sub.retry);
    evtimer_del(r->swatch.retry);
    drain_dying(r);
    leave(r);
}

bool redis_is_up(const struct redis *r)
{
    return r && r->up;
}

const char *redis_current_addr(const struct redis *r)
{
    return r ? r->cur_addr : "";
}

/* Sends a formatted command, or fails it at once. Always returns 0. */
static int submit(struct redis *r, redis_reply_cb cb, void *arg, const char *cmd, size_t len)
{
    const char *why = r->closing ? "shutting down" : !r->up ? "redis down" : NULL;
    if (!why) {
        if (conn_send(&r->data, PK_USER, cb, arg, cmd, len) == 0) {
            r->stats.commands++;
            r->stats.pending++;
            return 0;
        }
        why = "out of memory";
    }
    r->stats.errors++;
    if (cb) {
        enter(r);
        cb(arg, NULL, why);
        leave(r);
    }
    return 0;
}

int redis_command(struct redis *r, redis_reply_cb cb, void *arg, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    /* submit may free r (a callback calling redis_free): cmd is ours */
    int rc = submit(r, cb, arg, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

int redis_command_argv(struct redis *r, redis_reply_cb cb, void *arg, int argc, const char **argv,
                       const size_t *argvlen)
{
    char *cmd;
    if (argc < 1)
        return -1;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return -1;
    int rc = submit(r, cb, arg, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return rc;
}

int redis_subscribe(struct redis *r, const char *channel, redis_message_cb cb, void *arg)
{
    if (!r || r->closing || !channel || !*channel || !cb)
        return -1;
    struct sub *s = calloc(1, sizeof(*s));
    if (!s || !(s->channel = strdup(channel))) {
        free(s);
        return -1;
    }
    s->cb = cb;
    s->arg = arg;
    *r->subs_tail = s;
    r->subs_tail = &s->next;
    r->nsubs++;
    enter(r);
    if (r->sub.st == CS_HANDSHAKE || r->sub.st == CS_READY) {
        if (conn_sendf(&r->sub, PK_SUBSCRIBE, "SUBSCRIBE %s", channel) < 0)
            conn_failed(&r->sub, "out of memory", NULL);
    } else if (r->sub.st == CS_IDLE && !evtimer_pending(r->sub.retry, NULL)) {
        sub_start(r); /* no-op while down: data_ready starts it */
    }
    leave(r);
    return 0;
}

void redis_get_stats(const struct redis *r, struct redis_stats *out)
{
    *out = r->stats;
    out->up = r->up;
}

const char *redis_hash_get(const redisReply *r, const char *field)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, field) == 0)
            return v->str;
    }
    return NULL;
}
