/* xmpp.c -- the XMPP s2s module as the node sees it (xmpp.h): start and
 * stop, the TLS contexts, the dialback secret, sending a stanza for the
 * gateway, handing inbound stanzas to it and reporting undelivered ones. */
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/metrics.h"
#include "federation/policy.h"
#include "log.h"
#include "node.h"
#include "tls.h"
#include "xmpp/s2s.h"

struct s2s_failure {
    struct s2s_failure *next;
    struct xmpp_send_failure f;
    char *strs[8]; /* what f points into */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void failure_free(struct s2s_failure *r)
{
    for (size_t i = 0; i < sizeof(r->strs) / sizeof(r->strs[0]); i++)
        free(r->strs[i]);
    free(r);
}

static void report_failures(struct xmpp *x)
{
    while (x->failures) {
        struct s2s_failure *r = x->failures;
        x->failures = r->next;
        if (!x->failures)
            x->failures_tail = NULL;
        xmpp_gateway_on_send_failed(x->node, &r->f);
        failure_free(r);
    }
}

static void failures_cb(evutil_socket_t fd, short what, void *arg)
{
    report_failures(arg);
}

void xmpp_report_failure(struct xmpp *x, const struct s2s *s, const struct s2s_queued *q,
                         const char *cond, const char *text)
{
    LOG_INFO(XMPP_LOG, "stanza <%s> id %s from %s to %s not delivered: %s (%s)", q->name,
             q->id ? q->id : "-", q->from, q->to, cond, text);
    struct s2s_failure *r = calloc(1, sizeof(*r));
    if (!r)
        return;
    r->strs[0] = dup_or_null(q->id);
    r->strs[1] = dup_or_null(q->name);
    r->strs[2] = dup_or_null(q->from);
    r->strs[3] = dup_or_null(q->to);
    r->strs[4] = dup_or_null(s->local);
    r->strs[5] = dup_or_null(s->peer);
    r->strs[6] = dup_or_null(cond);
    r->strs[7] = dup_or_null(text);
    r->f = (struct xmpp_send_failure){r->strs[0], r->strs[1], r->strs[2], r->strs[3],
                                      r->strs[4], r->strs[5], r->strs[6], r->strs[7]};
    if (!r->strs[1] || !r->strs[2] || !r->strs[3] || !r->strs[4] || !r->strs[5] || !r->strs[6] ||
        !r->strs[7]) {
        failure_free(r);
        return;
    }
    if (x->failures_tail)
        x->failures_tail->next = r;
    else
        x->failures = r;
    x->failures_tail = r;
    if (x->ev_failures)
        event_active(x->ev_failures, 0, 0);
}

void xmpp_deliver(struct s2s *s, const struct xmpp_elem *e)
{
    struct xbuf all = {0}, inner = {0};
    xmpp_serialise(&all, e, NS_SERVER);
    xmpp_serialise_inner(&inner, e);
    if (all.oom || inner.oom) {
        xbuf_free(&all);
        xbuf_free(&inner);
        s2s_error(s, "resource-constraint", "out of memory");
        return;
    }
    struct xmpp_stanza st = {
        .kind = strcmp(e->name, "message") == 0    ? XMPP_MESSAGE
                : strcmp(e->name, "presence") == 0 ? XMPP_PRESENCE
                                                   : XMPP_IQ,
        .root = e,
        .from = xmpp_elem_attr(e, "from"),
        .to = xmpp_elem_attr(e, "to"),
        .type = xmpp_elem_attr(e, "type"),
        .id = xmpp_elem_attr(e, "id"),
        .lang = xmpp_elem_attr(e, "xml:lang"),
        .peer_domain = s->peer,
        .local_domain = s->local,
        .partner_type = s->rules.type,
        .peer_addr = s->peer_addr,
        .xml = all.p ? all.p : "",
        .xml_len = all.len,
        .inner = inner.p ? inner.p : "",
        .inner_len = inner.len,
    };
    char td[DOMAIN_MAX];
    if (s2s_jid_domain(st.to, td, sizeof(td)))
        st.local_domain = td; /* a dialback pair may name another of our domains */
    s2s_count_stanza(s, true, e->name);
    LOG_DEBUG(XMPP_LOG, "stanza in: <%s> from %s to %s id %s type %s (stream from %s, %s): %.*s",
              e->name, st.from, st.to, st.id ? st.id : "-", st.type ? st.type : "-", s->peer,
              s->peer_addr, (int)(st.xml_len > 300 ? 300 : st.xml_len), st.xml);
    xmpp_gateway_on_stanza(s->x->node, &st);
    xbuf_free(&all);
    xbuf_free(&inner);
}

SSL *xmpp_ssl_new(struct xmpp *x, bool server, const char *sni)
{
    SSL *ssl = SSL_new(server ? x->tls_server : x->tls_client);
    if (ssl && sni && *sni)
        SSL_set_tlsext_host_name(ssl, sni);
    return ssl;
}

/* New TLS contexts from x->cfg (and the node's tls group), replacing the
 * current ones only when both could be made: streams keep theirs. */
static int make_tls(struct xmpp *x, char *err, size_t errlen)
{
    struct node *n = x->node;
    struct tls_settings ts;
    tls_settings_init(&ts);
    ts.cert_file = x->cfg.cert ? x->cfg.cert : n->cfg.tls_cert;
    ts.key_file = x->cfg.cert ? x->cfg.key : n->cfg.tls_key;
    ts.ca_file = x->cfg.ca ? x->cfg.ca : n->cfg.tls_ca;
    ts.crl_file = n->cfg.tls_crl;
    ts.ciphers = n->cfg.tls_ciphers;
    const char *const *doms;
    size_t nd = policy_internal_domains(n->policy->current(n->policy), &doms);
    ts.self_signed_name = nd ? doms[0] : n->cfg.pool_fqdn;
    char why[400];
    SSL_CTX *srv = tls_server_ctx_new(&ts, why, sizeof(why));
    SSL_CTX *cli = srv ? tls_client_ctx_new(&ts, why, sizeof(why)) : NULL;
    if (!cli) {
        if (srv)
            SSL_CTX_free(srv);
        snprintf(err, errlen, "xmpp: %s", why);
        return -1;
    }
    /* A partner's certificate is asked for, not demanded: without one it may
     * still use dialback (XEP-0220). One it presents must verify. */
    SSL_CTX_set_verify(srv, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
                       SSL_CTX_get_verify_callback(srv));
    if (x->tls_server)
        SSL_CTX_free(x->tls_server);
    if (x->tls_client)
        SSL_CTX_free(x->tls_client);
    x->tls_server = srv;
    x->tls_client = cli;
    return 0;
}

static void set_secret(struct xmpp *x)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    char random_secret[65];
    const char *secret = x->cfg.dialback_secret;
    if (!secret || !*secret) {
        s2s_random_hex(random_secret, 32);
        secret = random_secret;
    }
    SHA256((const unsigned char *)secret, strlen(secret), h);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(x->db_secret + 2 * i, 3, "%02x", h[i]);
}

/* external.listen's address with port 5269. */
static void default_listen(const char *external, char *out, size_t outlen)
{
    const char *colon = strrchr(external, ':');
    size_t hl = colon ? (size_t)(colon - external) : strlen(external);
    snprintf(out, outlen, "%.*s:5269", (int)hl, external);
}

int xmpp_start(struct node *n, char *err, size_t errlen)
{
    struct xmpp *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->node = n;
    n->xmpp = x;
    if (xmpp_config_load(&x->cfg, n->config_path, err, errlen) < 0)
        return -1;
    if (!x->cfg.enabled) {
        LOG_INFO(XMPP_LOG, "XMPP s2s is off (xmpp.enabled = false)");
        return 0;
    }
    if (hmap_init(&x->by_id, 64, false) < 0 || hmap_init(&x->out, 64, true) < 0 ||
        !(x->ev_failures = event_new(n->base, -1, 0, failures_cb, x))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (make_tls(x, err, errlen) < 0)
        return -1;
    metrics_declare(n->metrics, "edgepool_xmpp_stream_errors_total", METRIC_COUNTER,
                    "XMPP stream errors we sent, by direction and RFC 6120 condition");
    set_secret(x);
    if (x->cfg.listen)
        snprintf(x->listen_str, sizeof(x->listen_str), "%s", x->cfg.listen);
    else
        default_listen(n->cfg.external_listen, x->listen_str, sizeof(x->listen_str));
    if (s2s_in_listen(x, err, errlen) < 0)
        return -1;
    LOG_INFO(XMPP_LOG, "XMPP s2s listening on %s (max stanza %d bytes%s)", x->listen_str,
             x->cfg.max_stanza_size,
             x->cfg.dialback_secret
                 ? ""
                 : "; dialback secret random: set xmpp.dialback_secret in a pool");
    return 0;
}

void xmpp_reload(struct node *n)
{
    struct xmpp *x = n->xmpp;
    if (!x || !x->cfg.enabled)
        return;
    char err[512];
    struct xmpp_config fresh;
    if (xmpp_config_load(&fresh, n->config_path, err, sizeof(err)) < 0) {
        LOG_ERROR(XMPP_LOG, "reload refused, keeping the running xmpp settings: %s", err);
        xmpp_config_free(&fresh);
        return;
    }
    /* what the listener was made with stays until a restart */
    bool same_listen = (!fresh.listen && !x->cfg.listen) ||
                       (fresh.listen && x->cfg.listen && strcmp(fresh.listen, x->cfg.listen) == 0);
    if (!fresh.enabled || !same_listen)
        LOG_WARN(XMPP_LOG, "xmpp.enabled and xmpp.listen take effect at the next restart");
    char *listen = fresh.listen;
    fresh.listen = x->cfg.listen;
    x->cfg.listen = listen;
    fresh.enabled = true;
    bool same_secret = (!fresh.dialback_secret && !x->cfg.dialback_secret) ||
                       (fresh.dialback_secret && x->cfg.dialback_secret &&
                        strcmp(fresh.dialback_secret, x->cfg.dialback_secret) == 0);
    struct xmpp_config old = x->cfg;
    x->cfg = fresh;
    if (make_tls(x, err, sizeof(err)) < 0) {
        LOG_ERROR(XMPP_LOG, "reload failed, keeping the running xmpp settings: %s", err);
        char *l = old.listen; /* the listen strings go back where they were */
        old.listen = fresh.listen;
        fresh.listen = l;
        x->cfg = old;
        xmpp_config_free(&fresh);
        return;
    }
    xmpp_config_free(&old);
    if (!same_secret)
        set_secret(x); /* keys given before no longer verify: partners redo dialback */
    LOG_INFO(XMPP_LOG, "reloaded: certificates and settings (max stanza %d bytes)",
             x->cfg.max_stanza_size);
}

void xmpp_stop_listening(struct node *n)
{
    struct xmpp *x = n->xmpp;
    if (x && x->listener) {
        evconnlistener_free(x->listener);
        x->listener = NULL;
    }
}

void xmpp_stop(struct node *n)
{
    struct xmpp *x = n->xmpp;
    if (!x)
        return;
    x->stopping = true;
    xmpp_stop_listening(n);
    /* closing one stream may close another (dialback): take the head each time */
    while (x->streams) {
        struct s2s *s = x->streams;
        s->busy = true; /* s2s_drop leaves the freeing to us */
        if (!s->dead) {
            if (s->header_sent && s->bev && s->state != S2S_CLOSING)
                s2s_writes(s, "</stream:stream>");
            s2s_drop(s, "stopping");
        }
        s2s_free(s);
    }
    report_failures(x);
    if (x->ev_failures)
        event_free(x->ev_failures);
    if (x->tls_server)
        SSL_CTX_free(x->tls_server);
    if (x->tls_client)
        SSL_CTX_free(x->tls_client);
    if (x->by_id.buckets)
        hmap_destroy(&x->by_id);
    if (x->out.buckets)
        hmap_destroy(&x->out);
    xmpp_config_free(&x->cfg);
    free(x);
    n->xmpp = NULL;
}

const char *xmpp_send_err_name(int err)
{
    switch (err) {
    case XMPP_SEND_OK:
        return "ok";
    case XMPP_SEND_OFF:
        return "off";
    case XMPP_SEND_POLICY:
        return "policy";
    case XMPP_SEND_FROM:
        return "from";
    case XMPP_SEND_BADXML:
        return "bad-xml";
    case XMPP_SEND_TOOBIG:
        return "too-big";
    case XMPP_SEND_QUEUE:
        return "queue-full";
    case XMPP_SEND_NOMEM:
        return "no-memory";
    default:
        return "?";
    }
}

/* ---- xmpp_send_stanza: the gateway's stanza checked with the same parser ---- */

struct check {
    int elements;
    bool bad;
    char *id, *name, *from, *to;
};

static void check_element(void *arg, const struct xmpp_elem *e)
{
    struct check *c = arg;
    if (++c->elements > 1 || strcmp(e->ns, NS_SERVER) != 0 ||
        (strcmp(e->name, "message") != 0 && strcmp(e->name, "presence") != 0 &&
         strcmp(e->name, "iq") != 0)) {
        c->bad = true;
        return;
    }
    c->id = dup_or_null(xmpp_elem_attr(e, "id"));
    c->name = strdup(e->name);
    c->from = dup_or_null(xmpp_elem_attr(e, "from"));
    c->to = dup_or_null(xmpp_elem_attr(e, "to"));
}

static int check_stanza(const struct xmpp *x, const char *xml, size_t len, struct check *c)
{
    static const char open[] =
        "<stream:stream xmlns='" NS_SERVER "' xmlns:stream='" NS_STREAMS "'>";
    static const struct xml_stream_cbs cbs = {NULL, check_element, NULL};
    struct xml_stream *xs = xml_stream_new((size_t)x->cfg.max_stanza_size + sizeof(open), &cbs, c);
    if (!xs)
        return XMPP_SEND_NOMEM;
    size_t used;
    int rc = 0;
    static const char close[] = "</stream:stream>";
    if (xml_stream_feed(xs, open, sizeof(open) - 1, &used) != XS_OK ||
        xml_stream_feed(xs, xml, len, &used) != XS_OK ||
        xml_stream_feed(xs, close, sizeof(close) - 1, &used) != XS_OK)
        rc = XMPP_SEND_BADXML;
    xml_stream_free(xs);
    if (rc == 0 && (c->bad || c->elements != 1 || !c->name || !c->from || !c->to))
        rc = XMPP_SEND_BADXML;
    return rc;
}

static bool domain_is(const char *jid, const char *domain)
{
    char d[DOMAIN_MAX];
    return s2s_jid_domain(jid, d, sizeof(d)) && strcasecmp(d, domain) == 0;
}

int xmpp_send_stanza(struct node *n, const char *from_domain, const char *to_domain,
                     const char *xml, size_t len)
{
    struct xmpp *x = n->xmpp;
    if (!x || !x->cfg.enabled || x->stopping)
        return XMPP_SEND_OFF;
    char local[DOMAIN_MAX], peer[DOMAIN_MAX];
    if (!s2s_jid_domain(from_domain, local, sizeof(local)) || !s2s_serves(n, local))
        return XMPP_SEND_FROM;
    if (!s2s_jid_domain(to_domain, peer, sizeof(peer)))
        return XMPP_SEND_POLICY;
    struct s2s_rules r;
    const char *why;
    int rc = s2s_partner_rules(n, peer, &r, &why);
    if (rc < 0) {
        LOG_INFO(XMPP_LOG, "stanza from %s to %s refused: %s", local, peer, why);
        return rc;
    }
    if (len > (size_t)x->cfg.max_stanza_size)
        return XMPP_SEND_TOOBIG;
    struct check c = {0};
    rc = check_stanza(x, xml, len, &c);
    if (rc == 0 && (!domain_is(c.from, local) || !domain_is(c.to, peer)))
        rc = XMPP_SEND_BADXML;
    struct s2s_queued *q = rc == 0 ? calloc(1, sizeof(*q)) : NULL;
    if (rc == 0 && (!q || !(q->xml = malloc(len ? len : 1))))
        rc = XMPP_SEND_NOMEM;
    if (rc < 0) {
        free(q);
        free(c.id);
        free(c.name);
        free(c.from);
        free(c.to);
        return rc;
    }
    memcpy(q->xml, xml, len);
    q->len = len;
    q->id = c.id;
    q->name = c.name;
    q->from = c.from;
    q->to = c.to;
    struct s2s *s = s2s_out_get(x, local, peer, &r);
    rc = s ? s2s_out_enqueue(s, q) : XMPP_SEND_NOMEM;
    if (rc < 0) {
        free(q->xml);
        free(q->id);
        free(q->name);
        free(q->from);
        free(q->to);
        free(q);
    }
    return rc;
}

void xmpp_get_stats(const struct node *n, struct xmpp_stats *out)
{
    if (n->xmpp)
        *out = n->xmpp->stats;
    else
        memset(out, 0, sizeof(*out));
}

int xmpp_check_config(const char *path, char *err, size_t errlen)
{
    struct xmpp_config c;
    int rc = xmpp_config_load(&c, path, err, errlen);
    xmpp_config_free(&c);
    return rc;
}

void xmpp_print_config(FILE *out)
{
    cfg_table_print(xmpp_config_keys, out);
}

void xmpp_gateway_settings(const struct node *n, struct xmpp_gateway_settings *out)
{
    const struct xmpp *x = n->xmpp;
    int mode = x ? xmpp_im_sessions_mode(x->cfg.im_sessions) : XMPP_IM_SESSIONS_AUTO;
    out->im_sessions = mode < 0 ? XMPP_IM_SESSIONS_AUTO : (enum xmpp_im_sessions)mode;
    out->session_idle_s = x ? x->cfg.session_idle_s : 600;
    out->session_ring_s = x ? x->cfg.session_ring_s : 180;
}
