/* proxy_proto.h -- a PROXY protocol v2 header in front of an external
 * connection's TLS handshake, accepted only from the balancers
 * (external.proxy_protocol_from), so logs, per-source limits and policy see
 * the partner's real address rather than the balancer's. */
#ifndef EP_CONN_PROXY_PROTO_H
#define EP_CONN_PROXY_PROTO_H

#include <event2/util.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct conn;
struct node;

/* The longest header accepted (16 fixed bytes, addresses and TLVs). */
#define CONN_PP2_MAX 512

/* Parse a PROXY v2 header at the start of p (len bytes so far). Returns 1
 * when complete: *hdrlen its length, *src the source it names (ss_family
 * AF_UNSPEC for a LOCAL header or an address family we do not use: keep the
 * connection's own); 0 when more bytes are needed; -1 when p does not start
 * with the v2 signature (not a PROXY header: leave the bytes alone); -2 when
 * it is one but malformed (*why says how). An IPv4-mapped IPv6 source is
 * returned as IPv4. */
int conn_pp2_parse(const uint8_t *p, size_t len, struct sockaddr_storage *src, size_t *hdrlen,
                   const char **why);

/* Is ip (numeric, as conn.peer_ip) one of external.proxy_protocol_from? */
bool conn_proxy_trusted(const struct node *n, const char *ip);

/* Before the TLS handshake of inbound external conn c (fd not yet wrapped):
 * look at its first bytes without consuming them, waiting up to the idle
 * timeout. A PROXY v2 header from a trusted source is consumed and its
 * source becomes c's peer (conn_set_peer); one from any other source, or a
 * malformed one, closes c (logged); anything else is left for TLS. Then
 * conn_start_tls(c, fd). Returns 0, or -1 (no memory: the caller closes c
 * and fd). */
int conn_proxy_start(struct conn *c, evutil_socket_t fd);
/* c is being freed while still waiting: free the wait, close fd. */
void conn_proxy_abort(struct conn *c);

#endif
