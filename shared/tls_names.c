/* tls_names.c -- who a peer certificate says it is, and whether that is who
 * we wanted.
 *
 * Reads the names a certificate vouches for (RFC 5922 section 7.1: SAN
 * dNSName and sip: URIs, the CN only as a last resort) and matches them
 * against a host name under RFC 6125 rules, wildcards only when asked. */
#include "tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define NAME_MAX_LEN 253 /* a DNS name without its trailing dot */
#define LABEL_MAX_LEN 63

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool eq_ci(struct slice a, struct slice b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (ascii_lower(a.p[i]) != ascii_lower(b.p[i]))
            return false;
    return true;
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static struct slice strip_trailing_dot(struct slice s)
{
    if (s.len && s.p[s.len - 1] == '.')
        s.len--;
    return s;
}

bool tls_name_valid(struct slice name)
{
    if (!name.p)
        return false;
    name = strip_trailing_dot(name);
    if (name.len == 0 || name.len > NAME_MAX_LEN)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.p[i];
        if (c == '.') {
            if (label == 0)
                return false; /* empty label: "a..b", ".a" */
            label = 0;
        } else if (name_char_ok(c) && ++label <= LABEL_MAX_LEN) {
            continue;
        } else {
            return false;
        }
    }
    return label > 0; /* "a." was stripped; "a.." leaves an empty last label */
}

/* The last label of a valid name, all digits: an IPv4 literal, never a TLD. */
static bool looks_numeric(struct slice name)
{
    size_t i = name.len;
    while (i > 0 && name.p[i - 1] != '.')
        i--;
    for (size_t j = i; j < name.len; j++)
        if (name.p[j] < '0' || name.p[j] > '9')
            return false;
    return true;
}

bool tls_name_matches(const char *pattern, struct slice host, bool allow_wildcard)
{
    if (!pattern || !host.p || !tls_name_valid(host))
        return false;
    struct slice p = strip_trailing_dot(slice_cstr(pattern));
    struct slice h = strip_trailing_dot(host);

    if (p.len >= 2 && p.p[0] == '*' && p.p[1] == '.') {
        if (!allow_wildcard)
            return false;
        struct slice rest = slice_from(p.p + 2, p.len - 2);
        /* The remainder needs two labels: "*.com" would cover a whole TLD. */
        if (!tls_name_valid(rest) || slice_find(rest, '.') < 0 || looks_numeric(h))
            return false;
        long dot = slice_find(h, '.');
        if (dot <= 0)
            return false; /* "example.com" is not covered by "*.example.com"'s one label */
        return eq_ci(slice_from(h.p + dot + 1, h.len - (size_t)dot - 1), rest);
    }
    /* Anything else with a '*' (partial or inner wildcards) fails validation. */
    return tls_name_valid(p) && eq_ci(p, h);
}

/* A name from a certificate is usable if it is 1..255 printable ASCII bytes
 * (no embedded NUL: "good.com\0.evil.com" must not pass as good.com). */
static bool cert_name_usable(const unsigned char *s, int len)
{
    if (len <= 0 || len >= 256)
        return false;
    for (int i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

/* A SIP URI SAN names a SIP domain only without a user part (RFC 5922 7.1):
 * "sip:example.com" yes, "sip:alice@example.com" no. Returns the host. */
static struct slice sip_uri_domain(const unsigned char *s, int len)
{
    struct slice u = slice_from((const char *)s, (size_t)len);
    if (u.len < 4 || !eq_ci(slice_from(u.p, 4), SLICE_LIT("sip:")))
        return SLICE_NULL;
    u = slice_from(u.p + 4, u.len - 4);
    if (slice_find(u, '@') >= 0)
        return SLICE_NULL;
    size_t end = 0;
    while (end < u.len && u.p[end] != ':' && u.p[end] != ';' && u.p[end] != '?')
        end++;
    return slice_from(u.p, end);
}

/* Calls fn(arg, name) for every name cert vouches for, in certificate
 * order, until fn returns false. name is NUL-terminated and temporary. */
static void walk_names(X509 *cert, bool (*fn)(void *arg, const char *name), void *arg)
{
    char buf[256];
    bool have_san_name = false;
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool go_on = true;
    for (int i = 0; gens && go_on && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const unsigned char *s;
        int len;
        if (g->type == GEN_DNS) {
            have_san_name = true;
            s = ASN1_STRING_get0_data(g->d.dNSName);
            len = ASN1_STRING_length(g->d.dNSName);
        } else if (g->type == GEN_URI) {
            struct slice d = sip_uri_domain(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
                                            ASN1_STRING_length(g->d.uniformResourceIdentifier));
            if (!d.p)
                continue;
            have_san_name = true;
            s = (const unsigned char *)d.p;
            len = (int)d.len;
        } else {
            continue;
        }
        if (!cert_name_usable(s, len))
            continue;
        memcpy(buf, s, (size_t)len);
        buf[len] = '\0';
        go_on = fn(arg, buf);
    }
    GENERAL_NAMES_free(gens);
    if (have_san_name || !go_on)
        return;

    /* No SAN names at all: the most specific (last) CN of the subject. */
    const X509_NAME *subject = X509_get_subject_name(cert);
    int last = -1;
    for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;)
        last = i;
    if (last < 0)
        return;
    const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, cn);
    if (len > 0 && cert_name_usable(utf8, len)) {
        memcpy(buf, utf8, (size_t)len);
        buf[len] = '\0';
        fn(arg, buf);
    }
    OPENSSL_free(utf8);
}

struct names_out {
    char (*names)[256];
    int max, n;
};

static bool collect_name(void *arg, const char *name)
{
    struct names_out *o = arg;
    if (o->n >= o->max)
        return false;
    snprintf(o->names[o->n++], sizeof o->names[0], "%s", name); /* < 256 bytes: walk_names */
    return o->n < o->max;
}

int tls_peer_names(X509 *cert, char (*names)[256], int max)
{
    struct names_out o = {names, max, 0};
    if (cert && names && max > 0)
        walk_names(cert, collect_name, &o);
    return o.n;
}

struct match_arg {
    struct slice host;
    bool allow_wildcard, matched;
};

static bool match_name(void *arg, const char *name)
{
    struct match_arg *m = arg;
    m->matched = tls_name_matches(name, m->host, m->allow_wildcard);
    return !m->matched;
}

bool tls_cert_matches(X509 *cert, struct slice host, bool allow_wildcard)
{
    struct match_arg m = {host, allow_wildcard, false};
    if (cert)
        walk_names(cert, match_name, &m);
    return m.matched;
}
