/* sasl.c -- SASL EXTERNAL between servers (RFC 6120 section 6, XEP-0178):
 * the partner's certificate, verified in the TLS handshake, must name the
 * domain it authenticates as; ours must name the domain we speak for. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "node.h"
#include "xmpp/s2s.h"

bool sasl_can_offer(const struct s2s *s)
{
    return s->tls && s->have_rules && rules_sasl_allowed(&s->rules) && s->cert_verified &&
           s->cert_names_peer && !s->sasl_done;
}

/* Decode base64 text (whitespace allowed) into out; -1 when malformed. */
static int b64_decode(const char *in, size_t len, char *out, size_t outlen)
{
    char clean[1400];
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n')
            continue;
        if (k + 1 >= sizeof(clean))
            return -1;
        clean[k++] = in[i];
    }
    if (k % 4 != 0 || (k / 4) * 3 + 1 > outlen)
        return -1;
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)clean, (int)k);
    if (n < 0)
        return -1;
    if (k >= 1 && clean[k - 1] == '=')
        n--;
    if (k >= 2 && clean[k - 2] == '=')
        n--;
    out[n] = '\0';
    if (memchr(out, '\0', (size_t)n))
        return -1;
    return n;
}

static void sasl_failure(struct s2s *s, const char *cond, const char *why)
{
    s->x->stats.refused++;
    LOG_WARN(XMPP_LOG, "refused: SASL EXTERNAL from %s (%s): %s", s->peer[0] ? s->peer : "?",
             s->peer_addr, why);
    char buf[200];
    snprintf(buf, sizeof(buf), "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    s2s_writes(s, buf);
    /* RFC 6120 6.4.5: the initiating entity may try again or fall back to
     * dialback; if neither is open to it, the stream ends with
     * <not-authorized/> at its next move (or times out). */
}

void sasl_in_auth(struct s2s *s, const struct xmpp_elem *e)
{
    const char *mech = xmpp_elem_attr(e, "mechanism");
    if (s->sasl_done) {
        s2s_error(s, "policy-violation", "SASL again after success");
        return;
    }
    if (!mech || strcmp(mech, "EXTERNAL") != 0) {
        sasl_failure(s, "invalid-mechanism", "only EXTERNAL is offered");
        return;
    }
    if (!sasl_can_offer(s)) {
        const char *why = !s->tls                          ? "no TLS"
                          : !s->have_rules                 ? "the stream header had no 'from'"
                          : !rules_sasl_allowed(&s->rules) ? "SASL is not allowed for this partner"
                          : !s->cert_verified              ? "no verified client certificate"
                                              : "the certificate does not name the partner";
        sasl_failure(s, "not-authorized", why);
        return;
    }
    /* the authorization identity: empty or "=" means the stream's 'from' */
    char authzid[1024] = "";
    if (e->text_len && !(e->text_len == 1 && e->text[0] == '=') &&
        b64_decode(e->text, e->text_len, authzid, sizeof(authzid)) < 0) {
        sasl_failure(s, "incorrect-encoding", "the authorization identity is not base64");
        return;
    }
    if (authzid[0] && strcasecmp(authzid, s->peer) != 0) {
        char why[300];
        snprintf(why, sizeof(why), "authorization identity %s is not the stream's %s", authzid,
                 s->peer);
        sasl_failure(s, "invalid-authzid", why);
        return;
    }
    s2s_writes(s, "<success xmlns='" NS_SASL "'/>");
    s->sasl_done = true;
    LOG_INFO(XMPP_LOG, "stream from %s (%s) authenticated: SASL EXTERNAL, certificate names %s",
             s->peer, s->peer_addr, s->peer);
    s2s_request_restart(s);
}

void sasl_out_start(struct s2s *s)
{
    unsigned char enc[400];
    size_t len = strlen(s->local);
    if (len > 250)
        len = 250;
    EVP_EncodeBlock(enc, (const unsigned char *)s->local, (int)len);
    char buf[600];
    snprintf(buf, sizeof(buf), "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>",
             (const char *)enc);
    s2s_writes(s, buf);
    s->state = S2S_SASL;
}

void sasl_out_result(struct s2s *s, const struct xmpp_elem *e)
{
    if (strcmp(e->name, "success") == 0) {
        s->sasl_done = true;
        LOG_DEBUG(XMPP_LOG, "stream to %s (%s): SASL EXTERNAL accepted", s->peer, s->peer_addr);
        s2s_request_restart(s);
        return;
    }
    const char *cond = e->children ? e->children->name : "failure";
    if (rules_dialback_allowed(&s->rules)) {
        LOG_INFO(XMPP_LOG, "stream to %s (%s): SASL EXTERNAL refused (<%s/>): trying dialback",
                 s->peer, s->peer_addr, cond);
        dialback_out_start(s);
        return;
    }
    s->x->stats.refused++;
    s->fail_cond = "remote-server-not-found";
    snprintf(s->fail_text, sizeof(s->fail_text),
             "the partner refused our SASL EXTERNAL (<%s/>) and dialback is not allowed", cond);
    LOG_WARN(XMPP_LOG, "stream to %s (%s): %s", s->peer, s->peer_addr, s->fail_text);
    s2s_close(s, "SASL refused");
}
