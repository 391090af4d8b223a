/* tls.h -- TLS contexts for federation (mutual TLS) and the peer checks.
 *
 * tls.c builds the server and client SSL_CTX from a tls_settings (our
 * certificate, the CA bundle and CRLs that judge peers, protocol floor) and
 * says in words why a peer was refused. tls_names.c reads the names a peer
 * certificate vouches for and matches them (RFC 6125, RFC 5922). Checking the
 * peer's name against the SRV target or configured FQDN is the caller's job,
 * after the handshake: a name mismatch is not a handshake failure here. */
#ifndef EP_TLS_H
#define EP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h> /* SSL, SSL_CTX, X509, EVP_PKEY: declarations only */

#include "slice.h"

struct tls_settings {
    const char *cert_file;        /* PEM chain (leaf first); NULL: generate a self-signed cert for
                                     self_signed_name and log a warning */
    const char *key_file;         /* PEM private key, unencrypted; NULL: the key is in cert_file */
    const char *ca_file;          /* CA bundle to verify peers; NULL: system default store */
    const char *crl_file;         /* optional CRL(s) PEM; when set, leaf CRL checking is on
                                     (KeepCrlsUpToDateForPeers): a peer whose issuer has no CRL
                                     in the file is refused ("unable to get certificate CRL"),
                                     and so is one whose CRL is past its nextUpdate. Read once:
                                     a refreshed file takes a new context (reload) */
    const char *ciphers;          /* TLS1.2 cipher list, NULL = sane default; TLS1.3 suites are
                                     OpenSSL's defaults */
    const char *self_signed_name; /* e.g. "sip.contoso.test" */
    bool require_peer_cert;       /* server side: mutual TLS, fail the handshake without a client
                                     cert; false: no client certificate is requested */
    bool verify_peer;             /* client side: verify the server's chain (default true) */
};

/* The defaults: everything NULL, require_peer_cert and verify_peer true. A
 * zeroed struct has verify_peer false, so start from this. */
void tls_settings_init(struct tls_settings *s);

/* A server context: TLS 1.2 minimum, no compression, no session tickets or
 * server-side session cache, no renegotiation, our certificate and key. With
 * require_peer_cert the client chain is verified against ca_file (and crl_file)
 * and the client certificate must allow clientAuth; refusals are logged (WARN,
 * with the peer address when the SSL has a socket) and readable afterwards with
 * tls_verify_reason(). Returns NULL with a reason in err (naming the file) when
 * a file is unreadable, the key does not match the certificate, or the cipher
 * list is invalid. The caller frees with SSL_CTX_free(). Don't replace the
 * context's verify or info callback: the refusal reasons come from them. */
SSL_CTX *tls_server_ctx_new(const struct tls_settings *s, char *err, size_t errlen);

/* A client context, the mirror: our certificate is presented to the server;
 * with verify_peer the server chain is verified and must allow serverAuth.
 * require_peer_cert is ignored. The caller sets SNI per connection
 * (SSL_set_tlsext_host_name) and checks the server's name after the handshake
 * (tls_cert_matches). Same errors and ownership as tls_server_ctx_new(). */
SSL_CTX *tls_client_ctx_new(const struct tls_settings *s, char *err, size_t errlen);

/* Why the handshake on ssl failed, for a log line; never NULL; "ok" when
 * there is nothing to say (callers test for it: a handshake can also fail
 * for reasons outside certificates, e.g. no common protocol version). In
 * order: our own refusal (EKU, "no certificate presented" on a server that
 * requires one), the chain verification error ("certificate has expired",
 * "self-signed certificate", "unable to get local issuer certificate",
 * "certificate revoked", ...), a fatal alert the peer sent us ("peer refused
 * the handshake: alert unknown CA"), no peer certificate at all. With
 * verification off it still says what verification found. The string lives
 * as long as ssl (or is static). Only for SSLs from the contexts above. */
const char *tls_verify_reason(SSL *ssl);

/* Does cert allow the extended key usage nid (NID_client_auth,
 * NID_server_auth, ...)? A certificate without an EKU extension allows every
 * purpose; anyExtendedKeyUsage is not taken as a match (as OpenSSL's purpose
 * check does not); a malformed or duplicated EKU extension allows nothing. */
bool tls_cert_has_eku(X509 *cert, int nid);

/* A self-signed certificate for name (a DNS name): EC P-256 key, valid from
 * five minutes ago for one year, SAN DNS:name, CN=name, EKU serverAuth and
 * clientAuth, CA:FALSE. Returns 0 and sets *cert and *key (the caller frees
 * them with X509_free / EVP_PKEY_free), or -1 with a reason in err. */
int tls_self_signed_new(const char *name, X509 **cert, EVP_PKEY **key, char *err, size_t errlen);

/* --- names (tls_names.c) --- */

/* Does the certificate name pattern (a dNSName or CN) cover host?
 * Case-insensitive (ASCII); one trailing dot on either side is ignored. A
 * wildcard is only honoured when allow_wildcard is set, only as the entire
 * left-most label, and stands for exactly one non-empty label:
 * "*.example.com" matches "a.example.com", not "example.com", not
 * "a.b.example.com"; partial wildcards ("f*.example.com"), wildcards over a
 * single-label remainder ("*.com") and wildcards against IPv4-looking
 * hosts never match. RFC 5922 section 7.2: SIP domain identities are matched
 * without wildcards, so federation callers pass false. Names with bytes other
 * than letters, digits, '-', '_' and '.', or with empty labels, match nothing
 * (IDNs are compared in their xn-- form). */
bool tls_name_matches(const char *pattern, struct slice host, bool allow_wildcard);

/* Is name a syntactically plausible DNS name (the rules above, no wildcard)? */
bool tls_name_valid(struct slice name);

/* The names cert vouches for (RFC 5922 section 7.1): every subjectAltName
 * dNSName, and the host of every SIP URI SAN without a user part
 * ("sip:example.com"); only when the certificate has no dNSName and no such
 * SIP URI entry at all (usable or not), the subject's last (most specific)
 * CN. Names with embedded NULs, spaces, control or non-ASCII bytes, or 256+
 * bytes, are skipped. Copies up to max names into names; returns how many. */
int tls_peer_names(X509 *cert, char (*names)[256], int max);

/* Does any name of cert (as tls_peer_names() reads them, without the max
 * limit) match host under tls_name_matches()? */
bool tls_cert_matches(X509 *cert, struct slice host, bool allow_wildcard);

#endif
