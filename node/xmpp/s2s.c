/* s2s.c -- one XMPP stream, either direction: its bufferevent (TLS after
 * STARTTLS), its parser and restarts, writing, stream errors, closing and
 * timers. The negotiation itself is in s2s_in.c / s2s_out.c. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/metrics.h"
#include "conn/proxy_proto.h"
#include "log.h"
#include "node.h"
#include "tls.h"
#include "xmpp/s2s.h"

#define READ_CHUNK 16384
#define CLOSE_LINGER_TICKS 40 /* x 50 ms: how long our last words may take to leave */

static void read_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);

const char *s2s_dir_name(const struct s2s *s)
{
    return s->dir == S2S_IN ? "from" : "to";
}

void s2s_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    if (nbytes > sizeof(b))
        nbytes = sizeof(b);
    if (RAND_bytes(b, (int)nbytes) != 1)
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)random();
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

bool s2s_jid_domain(const char *jid, char *out, size_t outlen)
{
    struct xmpp_jid j;
    if (!jid || xmpp_jid_parse(jid, strlen(jid), &j) < 0 || j.domain.len >= outlen)
        return false;
    for (size_t i = 0; i < j.domain.len; i++) {
        char c = j.domain.p[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    out[j.domain.len] = '\0';
    return true;
}

struct s2s *s2s_by_id(struct xmpp *x, uint64_t id)
{
    struct s2s *s = hmap_get(&x->by_id, (const char *)&id, sizeof(id));
    return s && !s->dead ? s : NULL;
}

struct s2s *s2s_new(struct xmpp *x, enum s2s_dir dir)
{
    struct s2s *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->x = x;
    s->dir = dir;
    s->id = ++x->next_id;
    s->timer = evtimer_new(x->node->base, timer_cb, s);
    if (!s->timer || hmap_put(&x->by_id, (const char *)&s->id, sizeof(s->id), s) < 0) {
        if (s->timer)
            event_free(s->timer);
        free(s);
        return NULL;
    }
    s->next = x->streams;
    if (x->streams)
        x->streams->prev = s;
    x->streams = s;
    s->last_active_ms = node_now_ms(x->node);
    snprintf(s->peer_addr, sizeof(s->peer_addr), "-");
    if (dir == S2S_IN)
        x->n_in++;
    metrics_gauge_add(x->node->metrics, "edgepool_xmpp_streams_open", 1, "direction",
                      dir == S2S_IN ? "in" : "out", NULL);
    return s;
}

void s2s_attach(struct s2s *s, struct bufferevent *bev)
{
    s->bev = bev;
    bufferevent_setcb(bev, read_cb, NULL, event_cb, s);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void s2s_write(struct s2s *s, const char *data, size_t len)
{
    if (s->dead || !s->bev || len == 0)
        return;
    bufferevent_write(s->bev, data, len);
    if (log_enabled(LOG_LVL_DEBUG))
        LOG_DEBUG(XMPP_LOG, "stream %llu %s %s: sent %.*s", (unsigned long long)s->id,
                  s2s_dir_name(s), s->peer[0] ? s->peer : s->peer_addr,
                  (int)(len > 400 ? 400 : len), data);
}

void s2s_writes(struct s2s *s, const char *str)
{
    s2s_write(s, str, strlen(str));
}

void s2s_count_stanza(struct s2s *s, bool in, const char *kind)
{
    if (in)
        s->x->stats.stanzas_in++;
    else
        s->x->stats.stanzas_out++;
    metrics_counter_add(s->x->node->metrics, "edgepool_xmpp_stanzas_total", 1, "direction",
                        in ? "in" : "out", "kind", kind, NULL);
}

void s2s_send_header(struct s2s *s)
{
    struct xbuf b = {0};
    xbuf_adds(&b, "<?xml version='1.0'?><stream:stream xmlns='" NS_SERVER
                  "' xmlns:stream='" NS_STREAMS "' xmlns:db='" NS_DIALBACK "'");
    if (s->local[0]) {
        xbuf_adds(&b, " from='");
        xbuf_add_esc(&b, s->local, strlen(s->local));
        xbuf_adds(&b, "'");
    }
    if (s->peer[0]) {
        xbuf_adds(&b, " to='");
        xbuf_add_esc(&b, s->peer, strlen(s->peer));
        xbuf_adds(&b, "'");
    }
    if (s->dir == S2S_IN) {
        xbuf_adds(&b, " id='");
        xbuf_adds(&b, s->stream_id);
        xbuf_adds(&b, "'");
    }
    xbuf_adds(&b, " version='1.0'>");
    if (!b.oom)
        s2s_write(s, b.p, b.len);
    xbuf_free(&b);
    s->header_sent = true;
}

static void unregister_out(struct s2s *s)
{
    if (s->dir != S2S_OUT || !s->registered)
        return;
    char key[2 * DOMAIN_MAX + 2];
    int k = snprintf(key, sizeof(key), "%s|%s", s->local, s->peer);
    hmap_del(&s->x->out, key, (size_t)k);
    s->registered = false;
}

/* What a stream leaves behind when it ends: the outbound queue fails, the
 * inbound streams waiting for our dialback verification are answered. */
static void wind_up(struct s2s *s, const char *why)
{
    unregister_out(s);
    if (s->dir == S2S_OUT) {
        if (!s->fail_cond)
            s->fail_cond = s->x->stopping ? "service-unavailable" : "remote-server-not-found";
        if (!s->fail_text[0])
            snprintf(s->fail_text, sizeof(s->fail_text), "%s", why);
        s2s_out_fail_queue(s, s->fail_cond, s->fail_text);
        dialback_fail_verifies(s);
    }
    if (s->busy && s->xs)
        xml_stream_stop(s->xs);
}

void s2s_drop(struct s2s *s, const char *why)
{
    if (s->dead)
        return;
    LOG_DEBUG(XMPP_LOG, "stream %llu %s %s (%s) closed: %s", (unsigned long long)s->id,
              s2s_dir_name(s), s->peer[0] ? s->peer : "?", s->peer_addr, why);
    wind_up(s, why);
    s->dead = true;
    if (s->bev) {
        bufferevent_disable(s->bev, EV_READ | EV_WRITE);
        bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
    }
    evtimer_del(s->timer);
    if (!s->busy)
        s2s_free(s);
}

/* Our last words are written: wait (bounded) until they have left. */
static void linger(struct s2s *s)
{
    s->state = S2S_CLOSING;
    if (s->bev)
        bufferevent_disable(s->bev, EV_READ);
    if (s->busy && s->xs)
        xml_stream_stop(s->xs);
    s->n_stanzas = 0; /* reused as the linger tick count */
    s2s_arm_timer(s, 0);
}

void s2s_close(struct s2s *s, const char *why)
{
    if (s->dead || s->state == S2S_CLOSING)
        return;
    LOG_DEBUG(XMPP_LOG, "stream %llu %s %s (%s) closing: %s", (unsigned long long)s->id,
              s2s_dir_name(s), s->peer[0] ? s->peer : "?", s->peer_addr, why);
    wind_up(s, why);
    if (!s->bev || s->state == S2S_CONNECTING || s->state == S2S_RESOLVING ||
        s->state == S2S_HANDSHAKE) {
        s2s_drop(s, why);
        return;
    }
    if (s->header_sent)
        s2s_writes(s, "</stream:stream>");
    linger(s);
}

void s2s_error(struct s2s *s, const char *cond, const char *text)
{
    if (s->dead || s->state == S2S_CLOSING)
        return;
    s->x->stats.stream_errors++;
    metrics_counter_add(s->x->node->metrics, "edgepool_xmpp_stream_errors_total", 1, "direction",
                        s->dir == S2S_IN ? "in" : "out", "condition", cond, NULL);
    LOG_WARN(XMPP_LOG, "stream %s %s (%s): <%s/>%s%s", s2s_dir_name(s), s->peer[0] ? s->peer : "?",
             s->peer_addr, cond, text ? ": " : "", text ? text : "");
    if (s->dir == S2S_OUT && !s->fail_cond) {
        s->fail_cond = "remote-server-not-found";
        snprintf(s->fail_text, sizeof(s->fail_text), "<%s/> sent to the partner: %s", cond,
                 text ? text : "");
    }
    if (!s->bev || s->state == S2S_CONNECTING || s->state == S2S_RESOLVING ||
        s->state == S2S_HANDSHAKE) {
        s2s_drop(s, cond);
        return;
    }
    wind_up(s, cond);
    struct xbuf b = {0};
    if (!s->header_sent)
        s2s_send_header(s); /* RFC 6120 4.9.1.1: a header first, even for an error */
    xbuf_adds(&b, "<stream:error><");
    xbuf_adds(&b, cond);
    xbuf_adds(&b, " xmlns='" NS_STREAM_ERRORS "'/>");
    if (text) {
        xbuf_adds(&b, "<text xmlns='" NS_STREAM_ERRORS "' xml:lang='en'>");
        xbuf_add_esc(&b, text, strlen(text));
        xbuf_adds(&b, "</text>");
    }
    xbuf_adds(&b, "</stream:error></stream:stream>");
    if (!b.oom)
        s2s_write(s, b.p, b.len);
    xbuf_free(&b);
    linger(s);
}

void s2s_free(struct s2s *s)
{
    struct xmpp *x = s->x;
    unregister_out(s);
    hmap_del(&x->by_id, (const char *)&s->id, sizeof(s->id));
    if (s->prev)
        s->prev->next = s->next;
    else
        x->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->dir == S2S_IN)
        x->n_in--;
    metrics_gauge_add(x->node->metrics, "edgepool_xmpp_streams_open", -1, "direction",
                      s->dir == S2S_IN ? "in" : "out", NULL);
    while (s->q_head) { /* normally failed and emptied already */
        struct s2s_queued *q = s->q_head;
        s->q_head = q->next;
        free(q->xml);
        free(q->id);
        free(q->name);
        free(q->from);
        free(q->to);
        free(q);
    }
    while (s->verifies) {
        struct s2s_verify *v = s->verifies;
        s->verifies = v->next;
        free(v);
    }
    if (s->bev)
        bufferevent_free(s->bev);
    if (s->timer)
        event_free(s->timer);
    xml_stream_free(s->xs);
    free(s->pairs);
    free(s->targets);
    free(s->addrs);
    free(s);
}

void s2s_arm_timer(struct s2s *s, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

/* ---- the parser ---- */

static void on_open(void *arg, const struct xmpp_elem *h, const char *content_ns)
{
    struct s2s *s = arg;
    if (s->dir == S2S_IN)
        s2s_in_on_open(s, h, content_ns);
    else
        s2s_out_on_open(s, h, content_ns);
}

static void on_element(void *arg, const struct xmpp_elem *e)
{
    struct s2s *s = arg;
    if (s->dead || s->state == S2S_CLOSING)
        return;
    if (log_enabled(LOG_LVL_DEBUG)) {
        struct xbuf b = {0};
        xmpp_serialise(&b, e, NS_SERVER);
        LOG_DEBUG(XMPP_LOG, "stream %llu %s %s: received %.*s", (unsigned long long)s->id,
                  s2s_dir_name(s), s->peer[0] ? s->peer : s->peer_addr,
                  (int)(b.len > 400 ? 400 : b.len), b.p ? b.p : "");
        xbuf_free(&b);
    }
    if (strcmp(e->ns, NS_STREAMS) == 0 && strcmp(e->name, "error") == 0) {
        const char *cond = "undefined-condition";
        const struct xmpp_elem *t = xmpp_elem_child(e, "text", NS_STREAM_ERRORS);
        for (const struct xmpp_elem *c = e->children; c; c = c->next)
            if (strcmp(c->ns, NS_STREAM_ERRORS) == 0 && strcmp(c->name, "text") != 0)
                cond = c->name;
        LOG_WARN(XMPP_LOG, "stream %s %s (%s): the partner sent <%s/>%s%.*s", s2s_dir_name(s),
                 s->peer[0] ? s->peer : "?", s->peer_addr, cond, t ? ": " : "",
                 t ? (int)(t->text_len > 200 ? 200 : t->text_len) : 0, t ? t->text : "");
        if (s->dir == S2S_OUT && !s->fail_cond) {
            s->fail_cond = strcmp(cond, "connection-timeout") == 0 ? "remote-server-timeout"
                                                                   : "remote-server-not-found";
            snprintf(s->fail_text, sizeof(s->fail_text), "the partner sent <%s/>", cond);
        }
        s2s_close(s, "stream error from the partner");
        return;
    }
    if (s->dir == S2S_IN)
        s2s_in_on_element(s, e);
    else
        s2s_out_on_element(s, e);
}

static void on_close(void *arg)
{
    struct s2s *s = arg;
    s2s_close(s, "the partner closed the stream");
}

static bool new_parser(struct s2s *s)
{
    static const struct xml_stream_cbs cbs = {on_open, on_element, on_close};
    xml_stream_free(s->xs);
    s->xs = xml_stream_new((size_t)s->x->cfg.max_stanza_size, &cbs, s);
    return s->xs != NULL;
}

void s2s_request_restart(struct s2s *s)
{
    s->restart = true;
    if (s->xs)
        xml_stream_stop(s->xs);
}

void s2s_request_tls(struct s2s *s)
{
    s->start_tls = true;
    if (s->xs)
        xml_stream_stop(s->xs);
}

/* The TLS handshake begins over the plain bufferevent (RFC 6120 5.4.3.3). */
static void start_tls(struct s2s *s)
{
    bool server = s->dir == S2S_IN;
    SSL *ssl = xmpp_ssl_new(s->x, server, server ? NULL : s->peer);
    struct bufferevent *f =
        ssl ? bufferevent_openssl_filter_new(s->x->node->base, s->bev, ssl,
                                             server ? BUFFEREVENT_SSL_ACCEPTING
                                                    : BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
            : NULL;
    if (!f) {
        if (ssl)
            SSL_free(ssl);
        s2s_error(s, "internal-server-error", "cannot start TLS");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
    s->state = S2S_HANDSHAKE;
    s->header_sent = false;
    s2s_attach(s, f);
    if (!new_parser(s))
        s2s_error(s, "internal-server-error", "out of memory");
}

/* After a restart (SASL success): the initiating side speaks first. */
static void restart(struct s2s *s)
{
    s->restart = false;
    s->header_sent = false;
    s->state = S2S_OPENING;
    if (!new_parser(s)) {
        s2s_error(s, "internal-server-error", "out of memory");
        return;
    }
    if (s->dir == S2S_OUT)
        s2s_send_header(s);
}

bool s2s_start_parser(struct s2s *s)
{
    return new_parser(s);
}

/* The peer's numeric address into ip and "ip:port" ("[ip]:port" for IPv6)
 * into out. */
void s2s_addr_str(const struct sockaddr *sa, char *ip, size_t iplen, char *out, size_t outlen)
{
    snprintf(ip, iplen, "?");
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        snprintf(out, outlen, "%s:%u", ip, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        snprintf(out, outlen, "?");
    }
}

/* An inbound stream's first bytes, before any XML: a PROXY v2 header from
 * a balancer's VIP (external.proxy_protocol_from, as for SIP) is consumed
 * and names the partner; one from anyone else, or a malformed one, ends the
 * stream (there is no stream yet to carry an error: the socket is closed).
 * Returns 1 when the stream may go on to the parser, 0 to wait for more
 * bytes, -1 when s was dropped. */
static int proxy_header(struct s2s *s, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    size_t look = len < CONN_PP2_MAX ? len : CONN_PP2_MAX;
    const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)look);
    struct sockaddr_storage src;
    size_t hdrlen = 0;
    const char *why = "";
    int rc = p ? conn_pp2_parse(p, look, &src, &hdrlen, &why) : 0;
    if (rc == -1) {
        s->proxy_checked = true; /* XML from the partner itself */
        return 1;
    }
    bool trusted = conn_proxy_trusted(s->x->node, s->conn_ip);
    if (!trusted && look >= 12) {
        LOG_WARN(XMPP_LOG,
                 "refused: stream from %s: a PROXY header from an address that is not a "
                 "balancer (external.proxy_protocol_from): closed",
                 s->peer_addr);
        s->x->stats.refused++;
        s2s_drop(s, "PROXY header from an untrusted source");
        return -1;
    }
    if (rc == -2) {
        LOG_WARN(XMPP_LOG, "stream from balancer %s: bad PROXY v2 header (%s): closed",
                 s->peer_addr, why);
        s2s_drop(s, "bad PROXY header");
        return -1;
    }
    if (rc == 0)
        return 0;
    evbuffer_drain(in, hdrlen);
    s->proxy_checked = true;
    if (src.ss_family == AF_INET || src.ss_family == AF_INET6) {
        char ip[INET6_ADDRSTRLEN], was[64];
        snprintf(was, sizeof(was), "%s", s->peer_addr);
        s2s_addr_str((struct sockaddr *)&src, ip, sizeof(ip), s->peer_addr, sizeof(s->peer_addr));
        LOG_DEBUG(XMPP_LOG, "stream %llu through balancer %s: partner %s (PROXY v2)",
                  (unsigned long long)s->id, was, s->peer_addr);
    }
    return 1;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct s2s *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    s->last_active_ms = node_now_ms(s->x->node);
    if (s->dir == S2S_IN && !s->proxy_checked && !s->tls) {
        int rc = proxy_header(s, in);
        if (rc <= 0)
            return;
    }
    s->busy = true;
    while (!s->dead && s->state != S2S_CLOSING && s->xs) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            break;
        size_t chunk = len < READ_CHUNK ? len : READ_CHUNK;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)chunk);
        if (!p)
            break;
        size_t used = 0;
        enum xml_stream_status st = xml_stream_feed(s->xs, p, chunk, &used);
        evbuffer_drain(in, used);
        if (st == XS_ERROR) {
            const char *text;
            const char *cond = xml_stream_error(s->xs, &text);
            s2s_error(s, cond, text);
            break;
        }
        if (st != XS_STOPPED || s->dead || s->state == S2S_CLOSING)
            continue;
        if (s->start_tls) {
            s->start_tls = false;
            if (evbuffer_get_length(in) > 0) {
                s2s_error(s, "not-well-formed", "data after STARTTLS before the TLS handshake");
                break;
            }
            start_tls(s);
            break; /* the TLS filter reads from now on */
        }
        if (s->restart)
            restart(s);
    }
    if (s->bev && s->state == S2S_CLOSING)
        evbuffer_drain(in, evbuffer_get_length(in));
    s->busy = false;
    if (s->dead)
        s2s_free(s);
}

/* Once the TLS handshake is done: what the peer's certificate proves. */
static void tls_done(struct s2s *s)
{
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    s->tls = true;
    s->cert_verified = cert && SSL_get_verify_result(ssl) == X509_V_OK;
    s->cert_names_peer =
        s->cert_verified && s->peer[0] && tls_cert_matches(cert, slice_cstr(s->peer), true);
    s->state = S2S_OPENING;
    LOG_DEBUG(XMPP_LOG, "stream %llu %s %s (%s): TLS %s, peer certificate %s%s",
              (unsigned long long)s->id, s2s_dir_name(s), s->peer[0] ? s->peer : "?", s->peer_addr,
              ssl ? SSL_get_version(ssl) : "?",
              !cert              ? "none"
              : s->cert_verified ? "verified"
                                 : "not verified",
              s->cert_names_peer ? ", names the partner" : "");
    if (s->dir == S2S_IN)
        s2s_in_tls_done(s);
    else
        s2s_out_tls_done(s);
}

static void tls_failed(struct s2s *s)
{
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    const char *reason = ssl ? tls_verify_reason(ssl) : "no TLS";
    char ossl[200] = "";
    unsigned long e;
    while ((e = bufferevent_get_openssl_error(s->bev)) != 0)
        if (ERR_reason_error_string(e))
            snprintf(ossl, sizeof(ossl), "%s", ERR_reason_error_string(e));
    s->x->stats.refused++;
    LOG_WARN(XMPP_LOG, "refused: TLS handshake %s %s (%s) failed: %s%s%s", s2s_dir_name(s),
             s->peer[0] ? s->peer : "?", s->peer_addr, reason, ossl[0] ? "; " : "", ossl);
    if (s->dir == S2S_OUT && !s->fail_cond) {
        s->fail_cond = "remote-server-not-found";
        snprintf(s->fail_text, sizeof(s->fail_text), "TLS handshake failed: %s", reason);
    }
    s2s_drop(s, "TLS handshake failed");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct s2s *s = arg;
    if (s->dead)
        return;
    s->busy = true;
    if (what & BEV_EVENT_CONNECTED) {
        if (s->state == S2S_CONNECTING)
            s2s_out_connected(s);
        else if (s->state == S2S_HANDSHAKE)
            tls_done(s);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (s->state == S2S_CONNECTING) {
            s2s_out_connect_failed(s, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        } else if (s->state == S2S_HANDSHAKE) {
            tls_failed(s);
        } else {
            if (s->dir == S2S_OUT && !s->fail_cond && s->state != S2S_READY) {
                s->fail_cond = "remote-server-not-found";
                snprintf(s->fail_text, sizeof(s->fail_text),
                         "the partner closed the connection during negotiation");
            }
            s2s_drop(s, (what & BEV_EVENT_EOF) ? "connection closed by the partner"
                                               : "connection error");
        }
    }
    s->busy = false;
    if (s->dead)
        s2s_free(s);
}

static size_t unsent(const struct s2s *s)
{
    size_t n = s->bev ? evbuffer_get_length(bufferevent_get_output(s->bev)) : 0;
    struct bufferevent *under = s->bev ? bufferevent_get_underlying(s->bev) : NULL;
    if (under)
        n += evbuffer_get_length(bufferevent_get_output(under));
    return n;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s2s *s = arg;
    struct xmpp *x = s->x;
    if (s->dead)
        return;
    if (s->state == S2S_CLOSING) {
        if (unsent(s) == 0 || ++s->n_stanzas > CLOSE_LINGER_TICKS)
            s2s_drop(s, "closed");
        else
            s2s_arm_timer(s, 50);
        return;
    }
    if (s->dir == S2S_OUT && !s->started) {
        s2s_out_start(s);
        return;
    }
    if (s->state != S2S_READY && !(s->dir == S2S_IN && (s->sasl_done || s->n_pairs))) {
        if (s->dir == S2S_OUT) {
            s->fail_cond = "remote-server-timeout";
            snprintf(s->fail_text, sizeof(s->fail_text), "stream not established within %d ms",
                     x->cfg.negotiation_timeout_ms);
        }
        s2s_error(s, "connection-timeout", "stream negotiation took too long");
        return;
    }
    uint64_t now = node_now_ms(x->node), idle = (uint64_t)x->cfg.idle_timeout_s * 1000;
    uint64_t quiet = now - s->last_active_ms;
    if (quiet >= idle) {
        LOG_INFO(XMPP_LOG, "stream %s %s (%s) idle for %llu s: closed", s2s_dir_name(s),
                 s->peer[0] ? s->peer : "?", s->peer_addr, (unsigned long long)(quiet / 1000));
        s2s_close(s, "idle");
        return;
    }
    s2s_arm_timer(s, (int)(idle - quiet));
}
