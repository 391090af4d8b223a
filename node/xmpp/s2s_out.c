/* s2s_out.c -- streams we open (we are the initiating entity): one per (our
 * domain, partner domain), found by SRV _xmpp-server._tcp.<domain> (RFC 6120
 * 3.2, RFC 2782 order) or the domain's own address at the default port, or a
 * partner's configured edge_fqdn; STARTTLS, then SASL EXTERNAL or dialback as
 * the partner's settings allow; the stanzas queued until it is ready. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "node.h"
#include "xmpp/s2s.h"

struct lookup {
    struct xmpp *x;
    uint64_t id;
};

static void next_target(struct s2s *s);
static void try_connect(struct s2s *s);

static void free_queued(struct s2s_queued *q)
{
    free(q->xml);
    free(q->id);
    free(q->name);
    free(q->from);
    free(q->to);
    free(q);
}

struct s2s *s2s_out_get(struct xmpp *x, const char *local, const char *peer,
                        const struct s2s_rules *r)
{
    char key[2 * DOMAIN_MAX + 2];
    int k = snprintf(key, sizeof(key), "%s|%s", local, peer);
    struct s2s *s = hmap_get(&x->out, key, (size_t)k);
    if (s && !s->dead && s->state != S2S_CLOSING)
        return s;
    s = s2s_new(x, S2S_OUT);
    if (!s)
        return NULL;
    snprintf(s->local, sizeof(s->local), "%s", local);
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    s->rules = *r;
    s->have_rules = true;
    s->state = S2S_RESOLVING;
    if (hmap_put(&x->out, key, (size_t)k, s) < 0) {
        s2s_free(s);
        return NULL;
    }
    s->registered = true;
    x->stats.streams_out++;
    /* the lookups start from the loop, so that no callback runs inside the
     * caller (xmpp_send_stanza, a dialback) */
    s2s_arm_timer(s, 0);
    return s;
}

static void give_up(struct s2s *s, const char *cond, const char *fmt, const char *detail)
{
    char d[sizeof(s->fail_text)];
    snprintf(d, sizeof(d), "%s", detail); /* detail may be fail_text itself */
    s->fail_cond = cond;
    snprintf(s->fail_text, sizeof(s->fail_text), fmt, s->peer, d);
    LOG_WARN(XMPP_LOG, "stream to %s: %s", s->peer, s->fail_text);
    s2s_drop(s, s->fail_text);
}

static void addr_cb(void *arg, int status, const struct sockaddr_storage *addrs, size_t n)
{
    struct lookup *l = arg;
    struct s2s *s = s2s_by_id(l->x, l->id);
    free(l);
    if (!s || s->state != S2S_RESOLVING)
        return;
    if (status == RESOLVER_CANCELLED) {
        give_up(s, "service-unavailable", "%s: %s", "shutting down");
        return;
    }
    if (status != RESOLVER_OK) {
        LOG_DEBUG(XMPP_LOG, "stream to %s: no address for %s: %s", s->peer,
                  s->targets[s->i_target].host, resolver_status_name(status));
        s->i_target++;
        next_target(s);
        return;
    }
    free(s->addrs);
    s->addrs = malloc(n * sizeof(*s->addrs));
    if (!s->addrs) {
        give_up(s, "internal-server-error", "%s: %s", "out of memory");
        return;
    }
    memcpy(s->addrs, addrs, n * sizeof(*s->addrs));
    s->n_addrs = n;
    s->i_addr = 0;
    try_connect(s);
}

static void next_target(struct s2s *s)
{
    if (s->i_target >= s->n_targets) {
        give_up(s, "remote-server-not-found", "cannot reach %s: %s",
                s->fail_text[0] ? s->fail_text : "no server answered");
        return;
    }
    struct lookup *l = malloc(sizeof(*l));
    if (!l) {
        give_up(s, "internal-server-error", "%s: %s", "out of memory");
        return;
    }
    l->x = s->x;
    l->id = s->id;
    s->state = S2S_RESOLVING;
    const struct srv_target *t = &s->targets[s->i_target];
    if (resolver_addr(s->x->node->resolver, t->host, t->port, AF_UNSPEC, addr_cb, l) < 0) {
        free(l);
        s->i_target++;
        next_target(s); /* bounded by n_targets */
    }
}

static int set_targets(struct s2s *s, const struct srv_target *t, size_t n)
{
    free(s->targets);
    s->targets = malloc((n ? n : 1) * sizeof(*t));
    if (!s->targets)
        return -1;
    memcpy(s->targets, t, n * sizeof(*t));
    s->n_targets = n;
    s->i_target = 0;
    return 0;
}

static void srv_cb(void *arg, int status, const struct srv_target *targets, size_t n)
{
    struct lookup *l = arg;
    struct s2s *s = s2s_by_id(l->x, l->id);
    free(l);
    if (!s || s->state != S2S_RESOLVING)
        return;
    if (status == RESOLVER_CANCELLED) {
        give_up(s, "service-unavailable", "%s: %s", "shutting down");
        return;
    }
    if (status == RESOLVER_OK) {
        LOG_DEBUG(XMPP_LOG, "stream to %s: SRV gives %zu target(s), first %s:%u", s->peer, n,
                  targets[0].host, targets[0].port);
        if (set_targets(s, targets, n) < 0) {
            give_up(s, "internal-server-error", "%s: %s", "out of memory");
            return;
        }
    } else if (status == RESOLVER_NXDOMAIN || status == RESOLVER_NODATA) {
        /* RFC 6120 3.2.2: no SRV record, the domain itself at 5269 */
        struct srv_target t = {.port = (uint16_t)s->x->cfg.default_port};
        snprintf(t.host, sizeof(t.host), "%s", s->peer);
        if (set_targets(s, &t, 1) < 0) {
            give_up(s, "internal-server-error", "%s: %s", "out of memory");
            return;
        }
    } else {
        give_up(s, status == RESOLVER_TIMEOUT ? "remote-server-timeout" : "remote-server-not-found",
                "cannot resolve %s: SRV lookup failed: %s", resolver_status_name(status));
        return;
    }
    next_target(s);
}

void s2s_out_start(struct s2s *s)
{
    s->started = true;
    s2s_arm_timer(s, s->x->cfg.negotiation_timeout_ms);
    if (s->rules.edge_fqdn[0]) {
        struct srv_target t = {.port = (uint16_t)s->x->cfg.default_port};
        snprintf(t.host, sizeof(t.host), "%s", s->rules.edge_fqdn);
        if (set_targets(s, &t, 1) < 0) {
            give_up(s, "internal-server-error", "%s: %s", "out of memory");
            return;
        }
        next_target(s);
        return;
    }
    char name[DOMAIN_MAX + 20];
    snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", s->peer);
    struct lookup *l = malloc(sizeof(*l));
    if (!l) {
        give_up(s, "internal-server-error", "%s: %s", "out of memory");
        return;
    }
    l->x = s->x;
    l->id = s->id;
    if (resolver_srv(s->x->node->resolver, name, srv_cb, l) < 0) {
        free(l);
        give_up(s, "remote-server-not-found", "cannot resolve %s: %s", "invalid name");
    }
}

static void sa_str(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(s4->sin_port));
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(s6->sin6_port));
    }
}

static void try_connect(struct s2s *s)
{
    while (s->i_addr < s->n_addrs) {
        const struct sockaddr_storage *ss = &s->addrs[s->i_addr];
        sa_str(ss, s->peer_addr, sizeof(s->peer_addr));
        struct bufferevent *bev = bufferevent_socket_new(
            s->x->node->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (!bev)
            break;
        s->state = S2S_CONNECTING;
        s2s_attach(s, bev);
        socklen_t len =
            ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        if (bufferevent_socket_connect(bev, (const struct sockaddr *)ss, (int)len) == 0)
            return; /* event_cb says how it went */
        bufferevent_free(bev);
        s->bev = NULL;
        s->i_addr++;
    }
    s->i_target++;
    next_target(s);
}

void s2s_out_connect_failed(struct s2s *s, const char *why)
{
    LOG_DEBUG(XMPP_LOG, "stream to %s: connect to %s failed: %s", s->peer, s->peer_addr, why);
    snprintf(s->fail_text, sizeof(s->fail_text), "connect to %s failed: %s", s->peer_addr, why);
    if (s->bev) {
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
    s->i_addr++;
    try_connect(s);
}

void s2s_out_connected(struct s2s *s)
{
    s->fail_text[0] = '\0';
    s->state = S2S_OPENING;
    if (!s2s_start_parser(s)) {
        s2s_drop(s, "out of memory");
        return;
    }
    LOG_DEBUG(XMPP_LOG, "stream %llu to %s: connected to %s", (unsigned long long)s->id, s->peer,
              s->peer_addr);
    s2s_send_header(s);
}

void s2s_out_on_open(struct s2s *s, const struct xmpp_elem *h, const char *content_ns)
{
    if (strcmp(h->name, "stream") != 0 || strcmp(h->ns, NS_STREAMS) != 0 ||
        strcmp(content_ns, NS_SERVER) != 0) {
        s2s_error(s, "invalid-namespace", "not an XMPP server stream");
        return;
    }
    const char *id = xmpp_elem_attr(h, "id"), *version = xmpp_elem_attr(h, "version");
    snprintf(s->stream_id, sizeof(s->stream_id), "%s", id ? id : "");
    if (!version || atoi(version) < 1) {
        /* a pre-1.0 server: no features, no STARTTLS, no SASL */
        if (s->rules.tls == XMPP_NEG_REQUIRED || !rules_dialback_allowed(&s->rules)) {
            s->x->stats.refused++;
            s2s_error(s, "unsupported-version", "version 1.0 is needed (STARTTLS, SASL)");
            return;
        }
        dialback_out_start(s);
        return;
    }
    s->state = S2S_FEATURES;
}

static bool offers_external(const struct xmpp_elem *mechs)
{
    for (const struct xmpp_elem *m = mechs ? mechs->children : NULL; m; m = m->next)
        if (strcmp(m->name, "mechanism") == 0 && m->text_len == 8 &&
            memcmp(m->text, "EXTERNAL", 8) == 0)
            return true;
    return false;
}

static void refuse_partner(struct s2s *s, const char *why)
{
    s->x->stats.refused++;
    s->fail_cond = "remote-server-not-found";
    snprintf(s->fail_text, sizeof(s->fail_text), "%s", why);
    s2s_error(s, "policy-violation", why);
}

static void features(struct s2s *s, const struct xmpp_elem *e)
{
    const struct xmpp_elem *starttls = xmpp_elem_child(e, "starttls", NS_TLS);
    bool external = offers_external(xmpp_elem_child(e, "mechanisms", NS_SASL));
    s->feature_dialback = xmpp_elem_child(e, "dialback", NS_DIALBACK_FEATURE) != NULL;
    if (!s->tls) {
        if (starttls && s->rules.tls != XMPP_NEG_NOT_SUPPORTED) {
            s2s_writes(s, "<starttls xmlns='" NS_TLS "'/>");
            s->state = S2S_STARTTLS;
            return;
        }
        if (s->rules.tls == XMPP_NEG_REQUIRED) {
            refuse_partner(s, "the partner offers no STARTTLS and TLS is required");
            return;
        }
    }
    if (s->sasl_done) {
        s2s_out_ready(s);
        return;
    }
    /* XEP-0178: the partner's certificate must name its domain; dialback
     * (DNS-based trust) is the only way around it */
    bool trusted = s->tls && s->cert_names_peer;
    bool dialback = rules_dialback_allowed(&s->rules);
    if (s->tls && !trusted && !dialback) {
        refuse_partner(s, "the partner's certificate does not name its domain");
        return;
    }
    if (rules_sasl_allowed(&s->rules) && trusted && external) {
        sasl_out_start(s);
        return;
    }
    if (dialback) {
        dialback_out_start(s);
        return;
    }
    refuse_partner(s, s->rules.sasl == XMPP_NEG_REQUIRED
                          ? "SASL EXTERNAL is required and the partner does not offer it to us"
                          : "no authentication method both sides allow");
}

void s2s_out_on_element(struct s2s *s, const struct xmpp_elem *e)
{
    if (strcmp(e->ns, NS_STREAMS) == 0 && strcmp(e->name, "features") == 0 &&
        s->state == S2S_FEATURES) {
        features(s, e);
    } else if (strcmp(e->ns, NS_TLS) == 0 && s->state == S2S_STARTTLS) {
        if (strcmp(e->name, "proceed") == 0) {
            s2s_request_tls(s);
        } else {
            s->fail_cond = "remote-server-not-found";
            snprintf(s->fail_text, sizeof(s->fail_text), "the partner refused STARTTLS");
            s2s_close(s, "STARTTLS refused");
        }
    } else if (strcmp(e->ns, NS_SASL) == 0 && s->state == S2S_SASL) {
        sasl_out_result(s, e);
    } else if (strcmp(e->ns, NS_DIALBACK) == 0 && strcmp(e->name, "result") == 0 &&
               s->state == S2S_DIALBACK) {
        dialback_out_result(s, e);
    } else if (strcmp(e->ns, NS_DIALBACK) == 0 && strcmp(e->name, "verify") == 0) {
        dialback_out_verify_answer(s, e);
    } else {
        /* stanzas on our outbound stream (no XEP-0288 here) and anything else */
        LOG_DEBUG(XMPP_LOG, "stream to %s: <%s xmlns='%s'/> ignored in state %d", s->peer, e->name,
                  e->ns, (int)s->state);
    }
}

void s2s_out_tls_done(struct s2s *s)
{
    s->state = S2S_OPENING;
    s2s_send_header(s);
}

void s2s_out_ready(struct s2s *s)
{
    s->state = S2S_READY;
    LOG_INFO(XMPP_LOG, "stream to %s (%s) ready: %s%s, %zu stanza(s) queued", s->peer, s->peer_addr,
             s->tls ? "TLS, " : "no TLS, ", s->sasl_done ? "SASL EXTERNAL" : "dialback", s->q_len);
    while (s->q_head) {
        struct s2s_queued *q = s->q_head;
        s->q_head = q->next;
        s2s_write(s, q->xml, q->len);
        s2s_count_stanza(s, false, q->name);
        free_queued(q);
    }
    s->q_tail = NULL;
    s->q_len = 0;
    s->last_active_ms = node_now_ms(s->x->node);
    dialback_flush_verifies(s);
    s2s_arm_timer(s, s->x->cfg.idle_timeout_s * 1000);
}

int s2s_out_enqueue(struct s2s *s, struct s2s_queued *q)
{
    if (s->state == S2S_READY) {
        s2s_write(s, q->xml, q->len);
        s2s_count_stanza(s, false, q->name);
        s->last_active_ms = node_now_ms(s->x->node);
        free_queued(q);
        return 0;
    }
    if (s->q_len >= (size_t)s->x->cfg.max_queue)
        return XMPP_SEND_QUEUE;
    q->next = NULL;
    if (s->q_tail)
        s->q_tail->next = q;
    else
        s->q_head = q;
    s->q_tail = q;
    s->q_len++;
    return 0;
}

void s2s_out_fail_queue(struct s2s *s, const char *cond, const char *text)
{
    while (s->q_head) {
        struct s2s_queued *q = s->q_head;
        s->q_head = q->next;
        xmpp_report_failure(s->x, s, q, cond, text);
        free_queued(q);
    }
    s->q_tail = NULL;
    s->q_len = 0;
}
