/* proxy.h -- the transaction-stateful SIP proxy core of the edge node.
 *
 * Entry points called by the connection layer (a complete message while its
 * bytes are in the receive buffer, a framing error, a conn gone), by conn
 * pools (an address resolved or not), and by transaction timers. Requests
 * from the internal side go out to partners through the federation routing
 * and policy; requests from partners go in to the internal next hop after the
 * trust checks. */
#ifndef EP_SIP_PROXY_H
#define EP_SIP_PROXY_H

#include <stddef.h>
#include <stdint.h>

struct node;
struct conn;
struct txn;

void proxy_on_message(struct node *n, struct conn *c, const char *buf, size_t len);
/* The stream cannot be framed: answer 400/513 if possible; the caller closes. */
void proxy_on_framing_error(struct node *n, struct conn *c, const char *buf, size_t len);
/* c is closing: transactions waiting on it fail over or get 503. */
void proxy_conn_closed(struct node *n, struct conn *c);
/* A conn pool resolved the address txn_id was waiting for: try sending again. */
void proxy_pool_retry(struct node *n, uint64_t txn_id);
/* A conn pool could not get a connection for txn_id. */
void proxy_pool_failed(struct node *n, uint64_t txn_id, int status, const char *reason);
void proxy_txn_timeout(struct node *n, struct txn *t);
/* Count of transactions still open (drain waits for zero). */
size_t proxy_open_transactions(const struct node *n);

/* Routing of transaction txn_id went on after DNS: status 0 continues (send),
 * otherwise the request is answered with status and reason. */
void proxy_txn_resume(struct node *n, uint64_t txn_id, int status, const char *reason);

#endif
