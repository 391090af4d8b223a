/* s2s_in.c -- streams partners open to us (we are the receiving entity,
 * RFC 6120 4.3-4.4, 5, 6): the listener, the stream header checks (namespace,
 * served domain, partner policy, version), the features we offer, and the
 * stanzas we accept once the partner is authenticated. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "node.h"
#include "xmpp/s2s.h"

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct xmpp *x = arg;
    char peer[80], ip[INET6_ADDRSTRLEN];
    s2s_addr_str(sa, ip, sizeof(ip), peer, sizeof(peer));
    if (x->stopping || x->n_in >= (unsigned)x->cfg.max_streams) {
        LOG_WARN(XMPP_LOG, "refused: stream from %s: %s", peer,
                 x->stopping ? "stopping" : "too many inbound streams (xmpp.max_streams)");
        x->stats.refused++;
        evutil_closesocket(fd);
        return;
    }
    struct s2s *s = s2s_new(x, S2S_IN);
    struct bufferevent *bev =
        s ? bufferevent_socket_new(x->node->base, fd,
                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
          : NULL;
    if (!bev) {
        evutil_closesocket(fd);
        if (s)
            s2s_free(s);
        return;
    }
    snprintf(s->peer_addr, sizeof(s->peer_addr), "%s", peer);
    snprintf(s->conn_ip, sizeof(s->conn_ip), "%s", ip);
    s->proxy_checked = false;
    s2s_random_hex(s->stream_id, 16);
    s->state = S2S_OPENING;
    x->stats.streams_in++;
    s2s_attach(s, bev);
    if (!s2s_start_parser(s)) {
        s2s_drop(s, "out of memory");
        return;
    }
    s2s_arm_timer(s, x->cfg.negotiation_timeout_ms);
    LOG_DEBUG(XMPP_LOG, "stream %llu from %s: connected", (unsigned long long)s->id, peer);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int e = EVUTIL_SOCKET_ERROR();
    LOG_WARN(XMPP_LOG, "accept on %s: %s", ((struct xmpp *)arg)->listen_str,
             evutil_socket_error_to_string(e));
}

int s2s_in_listen(struct xmpp *x, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (evutil_parse_sockaddr_port(x->listen_str, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(err, errlen, "xmpp.listen: \"%s\" is not an address:port", x->listen_str);
        return -1;
    }
    x->listener =
        evconnlistener_new_bind(x->node->base, on_accept, x,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                128, (struct sockaddr *)&ss, len);
    if (!x->listener) {
        snprintf(err, errlen, "xmpp.listen: cannot listen on %s: %s", x->listen_str,
                 strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(x->listener, on_accept_error);
    return 0;
}

/* ---- pairs (dialback) ---- */

struct s2s_pair *s2s_in_pair(struct s2s *s, const char *peer, const char *local)
{
    for (size_t i = 0; i < s->n_pairs; i++)
        if (strcasecmp(s->pairs[i].peer, peer) == 0 && strcasecmp(s->pairs[i].local, local) == 0)
            return &s->pairs[i];
    return NULL;
}

struct s2s_pair *s2s_in_pair_add(struct s2s *s, const char *peer, const char *local)
{
    struct s2s_pair *p = s2s_in_pair(s, peer, local);
    if (p)
        return p;
    if (s->n_pairs >= 64)
        return NULL;
    struct s2s_pair *grown = realloc(s->pairs, (s->n_pairs + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    s->pairs = grown;
    p = &s->pairs[s->n_pairs++];
    memset(p, 0, sizeof(*p));
    snprintf(p->peer, sizeof(p->peer), "%s", peer);
    snprintf(p->local, sizeof(p->local), "%s", local);
    p->pending = true;
    return p;
}

void s2s_in_pair_del(struct s2s *s, const char *peer, const char *local)
{
    struct s2s_pair *p = s2s_in_pair(s, peer, local);
    if (!p)
        return;
    size_t i = (size_t)(p - s->pairs);
    memmove(&s->pairs[i], &s->pairs[i + 1], (s->n_pairs - i - 1) * sizeof(*p));
    s->n_pairs--;
}

/* ---- the header ---- */

/* Refuse the partner (policy): one WARN line (s2s_error) with address and
 * domain, <policy-violation/>. */
static void refuse(struct s2s *s, const char *domain, const char *why)
{
    s->x->stats.refused++;
    char text[300];
    snprintf(text, sizeof(text), "%s: %s", domain, why);
    s2s_error(s, "policy-violation", text);
}

static void send_features(struct s2s *s)
{
    struct xbuf b = {0};
    xbuf_adds(&b, "<stream:features>");
    bool tls_required = !s->have_rules || s->rules.tls == XMPP_NEG_REQUIRED;
    if (!s->tls && (!s->have_rules || s->rules.tls != XMPP_NEG_NOT_SUPPORTED)) {
        xbuf_adds(&b, "<starttls xmlns='" NS_TLS "'>");
        if (tls_required)
            xbuf_adds(&b, "<required/>");
        xbuf_adds(&b, "</starttls>");
    }
    if (!s->sasl_done && (s->tls || !tls_required)) {
        if (sasl_can_offer(s))
            xbuf_adds(&b, "<mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL</mechanism>"
                          "</mechanisms>");
        if (!s->have_rules || rules_dialback_allowed(&s->rules))
            xbuf_adds(&b, "<dialback xmlns='" NS_DIALBACK_FEATURE "'><errors/></dialback>");
    }
    xbuf_adds(&b, "</stream:features>");
    if (!b.oom)
        s2s_write(s, b.p, b.len);
    xbuf_free(&b);
}

void s2s_in_on_open(struct s2s *s, const struct xmpp_elem *h, const char *content_ns)
{
    struct node *n = s->x->node;
    const char *to = xmpp_elem_attr(h, "to"), *from = xmpp_elem_attr(h, "from");
    const char *version = xmpp_elem_attr(h, "version");
    char dom[DOMAIN_MAX];
    if (!s->local[0] && to && s2s_jid_domain(to, dom, sizeof(dom)) && s2s_serves(n, dom))
        snprintf(s->local, sizeof(s->local), "%s", dom);
    if (!s->peer[0] && from && s2s_jid_domain(from, dom, sizeof(dom)))
        snprintf(s->peer, sizeof(s->peer), "%s", dom);
    if (strcmp(h->name, "stream") != 0 || strcmp(h->ns, NS_STREAMS) != 0) {
        s2s_error(s, "invalid-namespace", "the stream element must be <stream:stream/>");
        return;
    }
    if (strcmp(content_ns, NS_SERVER) != 0) {
        s2s_error(s, "invalid-namespace", "the default namespace must be jabber:server");
        return;
    }
    if (!to || !s2s_jid_domain(to, dom, sizeof(dom)) || !s2s_serves(n, dom)) {
        char text[300];
        snprintf(text, sizeof(text), "%s is not served here", to ? to : "(no 'to')");
        s->x->stats.refused++;
        s2s_error(s, "host-unknown", text);
        return;
    }
    if (strcasecmp(dom, s->local) != 0) { /* a restarted stream changed its 'to' */
        s2s_error(s, "host-unknown", "the stream's 'to' changed");
        return;
    }
    if (from) {
        if (!s2s_jid_domain(from, dom, sizeof(dom))) {
            s2s_error(s, "invalid-from", "malformed 'from'");
            return;
        }
        if (strcasecmp(dom, s->peer) != 0) {
            s2s_error(s, "invalid-from", "the stream's 'from' changed");
            return;
        }
        const char *why;
        if (s2s_partner_rules(n, s->peer, &s->rules, &why) < 0) {
            refuse(s, s->peer, why);
            return;
        }
        s->have_rules = true;
    }
    /* RFC 6120 4.7.5: no version is 0.9, which has neither STARTTLS nor SASL */
    int major = version ? atoi(version) : 0;
    bool legacy = !version || major < 1;
    if (legacy && (!s->have_rules || s->rules.tls == XMPP_NEG_REQUIRED ||
                   s->rules.sasl == XMPP_NEG_REQUIRED || !rules_dialback_allowed(&s->rules))) {
        s->x->stats.refused++;
        s2s_error(s, "unsupported-version",
                  version ? "version 1.0 is needed (STARTTLS, SASL)" : "no version: 1.0 is needed");
        return;
    }
    if (s->tls && s->have_rules && !s->sasl_done && !sasl_can_offer(s) &&
        !rules_dialback_allowed(&s->rules)) {
        /* SASL EXTERNAL is this partner's only way in, and its certificate
         * does not qualify (XEP-0178): say so now rather than let it guess */
        char text[300];
        snprintf(text, sizeof(text), "%s: SASL EXTERNAL is required and the %s", s->peer,
                 !s->cert_verified ? "partner presented no verified certificate"
                                   : "partner's certificate does not name it");
        s->x->stats.refused++;
        s2s_error(s, "not-authorized", text);
        return;
    }
    if (s->tls || s->sasl_done) /* a restarted stream gets a new id (RFC 6120 5.4.3.3, 6.4.6) */
        s2s_random_hex(s->stream_id, 16);
    s2s_send_header(s);
    if (legacy) {
        s->state = S2S_NEGOTIATING; /* dialback without features (XEP-0220 2.1) */
        return;
    }
    send_features(s);
    s->state = s->sasl_done ? S2S_READY : S2S_NEGOTIATING;
    if (s->sasl_done)
        s2s_arm_timer(s, s->x->cfg.idle_timeout_s * 1000);
}

void s2s_in_tls_done(struct s2s *s)
{
    LOG_DEBUG(XMPP_LOG, "stream %llu from %s (%s): TLS established", (unsigned long long)s->id,
              s->peer[0] ? s->peer : "?", s->peer_addr);
}

/* ---- elements ---- */

static bool is_stanza(const struct xmpp_elem *e)
{
    return strcmp(e->ns, NS_SERVER) == 0 &&
           (strcmp(e->name, "message") == 0 || strcmp(e->name, "presence") == 0 ||
            strcmp(e->name, "iq") == 0);
}

static void stanza(struct s2s *s, const struct xmpp_elem *e)
{
    struct node *n = s->x->node;
    const char *from = xmpp_elem_attr(e, "from"), *to = xmpp_elem_attr(e, "to");
    char fd[DOMAIN_MAX], td[DOMAIN_MAX];
    if (!s->sasl_done && s->n_pairs == 0) {
        s2s_error(s, "not-authorized", "stanza before authentication");
        return;
    }
    if (!from || !to || !*from || !*to || !s2s_jid_domain(from, fd, sizeof(fd)) ||
        !s2s_jid_domain(to, td, sizeof(td))) {
        s2s_error(s, "improper-addressing", "a stanza needs valid 'from' and 'to' addresses");
        return;
    }
    if (!s2s_serves(n, td)) {
        char text[300];
        snprintf(text, sizeof(text), "%s is not served here", td);
        s2s_error(s, "host-unknown", text);
        return;
    }
    const struct s2s_pair *p = s2s_in_pair(s, fd, td);
    bool ok = (s->sasl_done && strcasecmp(fd, s->peer) == 0) || (p && !p->pending);
    if (!ok) {
        char text[300];
        snprintf(text, sizeof(text), "%s is not authenticated on this stream", fd);
        s2s_error(s, "invalid-from", text);
        return;
    }
    const char *why;
    if (s2s_partner_rules(n, fd, NULL, &why) < 0) { /* the policy changed since */
        refuse(s, fd, why);
        return;
    }
    s->n_stanzas++;
    xmpp_deliver(s, e);
}

void s2s_in_on_element(struct s2s *s, const struct xmpp_elem *e)
{
    const char *from = xmpp_elem_attr(e, "from");
    char dom[DOMAIN_MAX];
    if (!s->have_rules && strcmp(e->ns, NS_DIALBACK) == 0 && from &&
        s2s_jid_domain(from, dom, sizeof(dom))) {
        /* a legacy header without 'from': the partner names itself here */
        const char *why;
        if (s2s_partner_rules(s->x->node, dom, &s->rules, &why) == 0)
            s->have_rules = true;
    }
    bool tls_required = !s->have_rules || s->rules.tls == XMPP_NEG_REQUIRED;
    if (strcmp(e->ns, NS_TLS) == 0 && strcmp(e->name, "starttls") == 0) {
        if (s->tls || (s->have_rules && s->rules.tls == XMPP_NEG_NOT_SUPPORTED) ||
            s->state != S2S_NEGOTIATING) {
            s2s_writes(s, "<failure xmlns='" NS_TLS "'/>");
            s2s_close(s, "STARTTLS refused");
            return;
        }
        s2s_writes(s, "<proceed xmlns='" NS_TLS "'/>");
        s2s_request_tls(s);
        return;
    }
    if (!s->tls && tls_required) {
        s->x->stats.refused++;
        char text[300];
        snprintf(text, sizeof(text), "%s: TLS is required before <%s/>",
                 s->peer[0] ? s->peer : "partner", e->name);
        s2s_error(s, "policy-violation", text);
        return;
    }
    if (strcmp(e->ns, NS_SASL) == 0 && strcmp(e->name, "auth") == 0) {
        sasl_in_auth(s, e);
    } else if (strcmp(e->ns, NS_DIALBACK) == 0 && strcmp(e->name, "result") == 0) {
        dialback_in_result(s, e);
    } else if (strcmp(e->ns, NS_DIALBACK) == 0 && strcmp(e->name, "verify") == 0) {
        dialback_in_verify(s, e);
    } else if (is_stanza(e)) {
        stanza(s, e);
    } else {
        char text[300];
        snprintf(text, sizeof(text), "<%s xmlns='%s'/> is not handled here", e->name, e->ns);
        s2s_error(s, "unsupported-stanza-type", text);
    }
}
