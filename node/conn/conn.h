/* conn.h -- SIP connections over TCP and TLS, inbound and outbound.
 *
 * A conn wraps one bufferevent (plain or OpenSSL). Inbound conns come from the
 * listeners (internal TCP, internal mutual TLS when internal.tls_listen is set,
 * external mutual TLS); outbound ones are opened
 * by conn pools (conn_pool.h). The conn frames the byte stream into SIP
 * messages (Content-Length), answers CRLF keepalives, enforces the size and
 * per-source limits, and hands each complete message to the proxy while the
 * bytes are still in its receive buffer. Conns are found by id, so
 * transactions hold ids, never pointers, and survive a conn going away. */
#ifndef EP_CONN_H
#define EP_CONN_H

#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "node.h"

enum conn_side { SIDE_INTERNAL = 0, SIDE_EXTERNAL = 1 };
enum conn_state { CONN_CONNECTING, CONN_OPEN, CONN_CLOSED };

#define CONN_MAX_NAMES 16

struct conn_pool;
struct txn;

struct conn {
    uint64_t id;
    struct node *node;
    enum conn_side side;
    enum conn_state state;
    bool tls;
    bool outbound;
    bool in_read;     /* inside the read callback: free is deferred */
    bool close_after; /* close once the output is flushed / the loop ends */
    struct bufferevent *bev;
    struct sockaddr_storage peer;
    char peer_str[64]; /* "ip:port" for logs */
    char peer_ip[48];

    /* TLS identity of the peer after the handshake */
    char *names[CONN_MAX_NAMES]; /* subjectAltName dNSNames (or CN), owned */
    int n_names;
    char cert_info[256]; /* issuer / serial / subject, for the watch list */
    char *target;        /* outbound: the name the certificate must carry, owned */

    uint64_t last_send_ms;  /* for CRLF keepalives on idle outbound conns */
    struct conn_pool *pool; /* outbound: the pool it belongs to */
    struct txn *pending;    /* client transactions sent here, awaiting a response */

    /* domains this conn has been verified to speak for (inbound federation) */
    struct conn_domain *domains;

    /* inbound external: looking for a PROXY v2 header before TLS (conn/proxy_proto.h) */
    struct conn_preread *pre;
};

/* Open the listeners of n (the internal TLS one when n->int_tls_addr has a
 * port). Returns 0 or -1 (logged). */
int conn_listeners_start(struct node *n);
/* Stop accepting (drain). */
void conn_listeners_stop(struct node *n);

/* Open an outbound connection from the side's listen address to sa. tls: wrap
 * in TLS verifying the peer's certificate names target (SNI too). The conn is
 * returned at once in CONNECTING state; data written now is sent after the
 * handshake. Returns NULL on immediate failure. */
struct conn *conn_connect(struct node *n, enum conn_side side, const struct sockaddr *sa,
                          socklen_t salen, bool tls, const char *target);

struct conn *conn_by_id(struct node *n, uint64_t id);
/* Queue bytes for sending. Returns 0 or -1 if the conn is closed. */
int conn_send(struct conn *c, const void *data, size_t len);
/* Close now (pending transactions are told), or after the output drains. */
void conn_close(struct conn *c, const char *why);
void conn_close_after_flush(struct conn *c);
/* RFC 5626 4.4.1: send a double-CRLF ping on outbound conns idle for
 * interval_ms (the peer answers with a CRLF, which keeps the conn and any
 * middlebox state alive). Called once a second. */
void conn_send_keepalives(struct node *n, uint64_t interval_ms);
/* Close every conn (shutdown). */
void conn_close_all(struct node *n);

/* Remember / ask whether this conn was verified to speak for domain, under
 * policy version: a verdict made under another version is unknown (a reload
 * that allows or blocks applies to open connections). One entry per domain. */
void conn_domain_remember(struct conn *c, struct slice domain, uint64_t version, bool allowed,
                          int status, const char *reason);
/* Returns 1 allowed, 0 refused (status/reason filled), -1 unknown yet. */
int conn_domain_lookup(const struct conn *c, struct slice domain, uint64_t version, int *status,
                       const char **reason);

/* Call fn for each domain c was verified to speak for (allowed) under
 * policy version (the admin endpoint's list of partners). */
void conn_domains_each(const struct conn *c, uint64_t version,
                       void (*fn)(void *arg, const char *domain), void *arg);

/* Inbound TLS conn c (external: its first bytes looked at, conn/proxy_proto.h;
 * internal: just accepted): wrap fd in TLS with its side's server context and
 * start the handshake (c is closed on failure). */
void conn_start_tls(struct conn *c, evutil_socket_t fd);
/* The partner's real address from a PROXY header becomes c's peer (logs,
 * per-source limit, policy). Returns 0, or -1 when that source is over its
 * limit (c closed, logged). */
int conn_set_peer(struct conn *c, const struct sockaddr *sa);

/* After the connect: the idle timeout replaces the connect timeout. */
void conn_set_idle_timeout(struct conn *c);

/* Does the peer's verified certificate carry name (exact, no wildcards for
 * SIP domains per RFC 5922)? */
bool conn_peer_has_name(const struct conn *c, struct slice name);

#endif
