/* dialback.c -- Server Dialback (XEP-0220) in its three roles: originating
 * (we ask a partner to accept our domain on our outbound stream), receiving
 * (a partner asks us; we check its key with its authoritative server over our
 * outbound stream, unless its TLS certificate already names it, XEP-0344),
 * and authoritative (we answer a partner's <db:verify/> about our own keys).
 * Keys are HMAC-SHA256 of a secret, per XEP-0185. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include <event2/bufferevent_ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "node.h"
#include "tls.h"
#include "xmpp/s2s.h"

void dialback_key(const struct xmpp *x, const char *receiving, const char *originating,
                  const char *id, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    char msg[3 * DOMAIN_MAX + 100];
    int len = snprintf(msg, sizeof(msg), "%s %s %s", receiving, originating, id);
    if (len < 0 || (size_t)len >= sizeof(msg))
        len = (int)sizeof(msg) - 1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), x->db_secret, (int)strlen(x->db_secret), (const unsigned char *)msg,
              (size_t)len, mac, &maclen))
        maclen = 0;
    for (unsigned i = 0; i < maclen && i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[maclen < 32 ? 2 * maclen : 64] = '\0';
}

static void write_db(struct s2s *s, const char *name, const char *from, const char *to,
                     const char *id, const char *type, const char *body)
{
    struct xbuf b = {0};
    xbuf_adds(&b, "<db:");
    xbuf_adds(&b, name);
    xbuf_adds(&b, " from='");
    xbuf_add_esc(&b, from, strlen(from));
    xbuf_adds(&b, "' to='");
    xbuf_add_esc(&b, to, strlen(to));
    xbuf_adds(&b, "'");
    if (id) {
        xbuf_adds(&b, " id='");
        xbuf_add_esc(&b, id, strlen(id));
        xbuf_adds(&b, "'");
    }
    if (type) {
        xbuf_adds(&b, " type='");
        xbuf_adds(&b, type);
        xbuf_adds(&b, "'");
    }
    if (body) {
        xbuf_adds(&b, ">");
        xbuf_adds(&b, body);
        xbuf_adds(&b, "</db:");
        xbuf_adds(&b, name);
        xbuf_adds(&b, ">");
    } else {
        xbuf_adds(&b, "/>");
    }
    if (!b.oom)
        s2s_write(s, b.p, b.len);
    xbuf_free(&b);
}

/* ---- originating: our outbound stream ---- */

void dialback_out_start(struct s2s *s)
{
    if (!s->stream_id[0]) {
        s->fail_cond = "remote-server-not-found";
        snprintf(s->fail_text, sizeof(s->fail_text), "the partner's stream has no id for dialback");
        s2s_error(s, "invalid-id", "no stream id");
        return;
    }
    char key[65];
    dialback_key(s->x, s->peer, s->local, s->stream_id, key);
    write_db(s, "result", s->local, s->peer, NULL, NULL, key);
    s->state = S2S_DIALBACK;
}

void dialback_out_result(struct s2s *s, const struct xmpp_elem *e)
{
    const char *type = xmpp_elem_attr(e, "type");
    if (type && strcmp(type, "valid") == 0) {
        LOG_INFO(XMPP_LOG, "stream to %s (%s) authenticated: dialback", s->peer, s->peer_addr);
        s2s_out_ready(s);
        return;
    }
    s->x->stats.refused++;
    s->fail_cond = "remote-server-not-found";
    snprintf(s->fail_text, sizeof(s->fail_text), "the partner answered our dialback with type '%s'",
             type ? type : "(none)");
    LOG_WARN(XMPP_LOG, "stream to %s (%s): %s", s->peer, s->peer_addr, s->fail_text);
    s2s_close(s, "dialback refused");
}

/* ---- receiving: a partner's <db:result/> on an inbound stream ---- */

static bool cert_names(const struct s2s *s, const char *domain)
{
    if (!s->tls || !s->cert_verified || !s->bev)
        return false;
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    return cert && tls_cert_matches(cert, slice_cstr(domain), true);
}

static void answer_result(struct s2s *in, const char *local, const char *peer, bool valid)
{
    write_db(in, "result", local, peer, NULL, valid ? "valid" : "invalid", NULL);
}

void dialback_in_result(struct s2s *s, const struct xmpp_elem *e)
{
    struct node *n = s->x->node;
    char from[DOMAIN_MAX], to[DOMAIN_MAX];
    if (!s2s_jid_domain(xmpp_elem_attr(e, "from"), from, sizeof(from)) ||
        !s2s_jid_domain(xmpp_elem_attr(e, "to"), to, sizeof(to)) || e->text_len == 0 ||
        e->text_len >= sizeof(((struct s2s_verify *)0)->key)) {
        s2s_error(s, "improper-addressing", "<db:result/> needs 'from', 'to' and a key");
        return;
    }
    if (!s2s_serves(n, to)) {
        char text[300];
        snprintf(text, sizeof(text), "%s is not served here", to);
        s->x->stats.refused++;
        s2s_error(s, "host-unknown", text);
        return;
    }
    struct s2s_rules r;
    const char *why;
    if (s2s_partner_rules(n, from, &r, &why) < 0) {
        char text[300];
        snprintf(text, sizeof(text), "%s: %s", from, why);
        s->x->stats.refused++;
        s2s_error(s, "policy-violation", text);
        return;
    }
    if (!rules_dialback_allowed(&r)) {
        char text[300];
        snprintf(text, sizeof(text), "%s: dialback is not allowed for this partner", from);
        s->x->stats.refused++;
        s2s_error(s, "not-authorized", text);
        return;
    }
    if (r.tls == XMPP_NEG_REQUIRED && !s->tls) {
        char text[300];
        snprintf(text, sizeof(text), "%s: TLS is required", from);
        s->x->stats.refused++;
        s2s_error(s, "policy-violation", text);
        return;
    }
    if (!s->peer[0]) {
        snprintf(s->peer, sizeof(s->peer), "%s", from);
        s->rules = r;
        s->have_rules = true;
    }
    struct s2s_pair *p = s2s_in_pair(s, from, to);
    if (p && !p->pending) { /* already valid: say so again */
        answer_result(s, to, from, true);
        return;
    }
    p = s2s_in_pair_add(s, from, to);
    if (!p) {
        s2s_error(s, "resource-constraint", "too many domain pairs on one stream");
        return;
    }
    if (cert_names(s, from)) {
        /* XEP-0344 / XEP-0178: the verified certificate names the domain,
         * which is all the authoritative server could tell us */
        p->pending = false;
        answer_result(s, to, from, true);
        LOG_INFO(XMPP_LOG,
                 "stream from %s (%s) authenticated for %s: dialback, certificate names it", from,
                 s->peer_addr, to);
        return;
    }
    struct s2s_verify *v = calloc(1, sizeof(*v));
    struct s2s *out = v ? s2s_out_get(s->x, to, from, &r) : NULL;
    if (!out) {
        free(v);
        s2s_in_pair_del(s, from, to);
        s2s_error(s, "internal-server-error", "out of memory");
        return;
    }
    v->in_id = s->id;
    snprintf(v->stream_id, sizeof(v->stream_id), "%s", s->stream_id);
    memcpy(v->key, e->text, e->text_len);
    v->key[e->text_len] = '\0';
    v->next = out->verifies;
    out->verifies = v;
    LOG_DEBUG(XMPP_LOG,
              "stream %llu from %s: dialback key to verify with %s's authoritative server",
              (unsigned long long)s->id, from, from);
    if (out->state == S2S_READY)
        dialback_flush_verifies(out);
}

/* ---- authoritative: a partner asks about a key we gave ---- */

void dialback_in_verify(struct s2s *s, const struct xmpp_elem *e)
{
    char from[DOMAIN_MAX], to[DOMAIN_MAX];
    const char *id = xmpp_elem_attr(e, "id");
    if (!s2s_jid_domain(xmpp_elem_attr(e, "from"), from, sizeof(from)) ||
        !s2s_jid_domain(xmpp_elem_attr(e, "to"), to, sizeof(to)) || !id || !*id) {
        s2s_error(s, "improper-addressing", "<db:verify/> needs 'from', 'to' and 'id'");
        return;
    }
    bool valid = false;
    if (s2s_serves(s->x->node, to) && e->text_len == 64) {
        char key[65];
        dialback_key(s->x, from, to, id, key);
        valid = CRYPTO_memcmp(key, e->text, 64) == 0;
    }
    LOG_INFO(XMPP_LOG, "dialback: %s (%s) asked about our key for %s -> %s: %s", from, s->peer_addr,
             to, from, valid ? "valid" : "invalid");
    write_db(s, "verify", to, from, id, valid ? "valid" : "invalid", NULL);
}

/* ---- receiving, second half: the authoritative server's answer ---- */

void dialback_flush_verifies(struct s2s *s)
{
    for (struct s2s_verify *v = s->verifies; v; v = v->next) {
        if (v->sent)
            continue;
        v->sent = true;
        write_db(s, "verify", s->local, s->peer, v->stream_id, NULL, v->key);
    }
}

static void settle(struct s2s *out, struct s2s_verify *v, bool valid, const char *why)
{
    struct s2s *in = s2s_by_id(out->x, v->in_id);
    if (!in || in->state == S2S_CLOSING)
        return;
    struct s2s_pair *p = s2s_in_pair(in, out->peer, out->local);
    if (!p || !p->pending)
        return;
    if (valid) {
        p->pending = false;
        answer_result(in, out->local, out->peer, true);
        LOG_INFO(XMPP_LOG, "stream from %s (%s) authenticated for %s: dialback", out->peer,
                 in->peer_addr, out->local);
        return;
    }
    in->x->stats.refused++;
    s2s_in_pair_del(in, out->peer, out->local);
    answer_result(in, out->local, out->peer, false);
    char text[300];
    snprintf(text, sizeof(text), "%s: dialback %s", out->peer, why);
    s2s_error(in, "not-authorized", text);
}

void dialback_out_verify_answer(struct s2s *s, const struct xmpp_elem *e)
{
    const char *id = xmpp_elem_attr(e, "id"), *type = xmpp_elem_attr(e, "type");
    struct s2s_verify **pv = &s->verifies;
    while (*pv && !((*pv)->sent && id && strcmp((*pv)->stream_id, id) == 0))
        pv = &(*pv)->next;
    if (!*pv) {
        LOG_DEBUG(XMPP_LOG, "stream to %s: <db:verify/> answer for no question (id %s)", s->peer,
                  id ? id : "-");
        return;
    }
    struct s2s_verify *v = *pv;
    *pv = v->next;
    bool valid = type && strcmp(type, "valid") == 0;
    settle(s, v, valid, "key refused by the authoritative server");
    free(v);
}

void dialback_fail_verifies(struct s2s *s)
{
    while (s->verifies) {
        struct s2s_verify *v = s->verifies;
        s->verifies = v->next;
        settle(s, v, false, "key could not be verified: the authoritative server is unreachable");
        free(v);
    }
}
