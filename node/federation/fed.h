/* fed.h -- federation decisions on the SIP path: who may send us what, and
 * where what we send goes.
 *
 * Inbound (partner -> inside): the From domain must be one the connection's
 * verified certificate may speak for (the configured partner edge FQDN, a
 * provider's FQDN, or the SRV target of the From domain), the policy must
 * allow the domain, the internal user's external access policy must allow
 * the kind of federation, and discovered partners are throttled. Outbound
 * (inside -> partner): the policy classifies the target domain and the route
 * is the configured FQDN, the SRV targets, or the default route.
 * Both may need DNS: they return FED_PENDING and later call
 * proxy_txn_resume() with the transaction's id. */
#ifndef EP_FED_H
#define EP_FED_H

#include "conn/conn.h"
#include "sip/msg.h"
#include "sip/txn.h"

enum fed_verdict { FED_OK = 0, FED_REJECT = 1, FED_PENDING = 2 };

struct fed_result {
    int status;         /* SIP status when rejected */
    const char *reason; /* reason phrase, static */
};

int fed_inbound_check(struct node *n, struct conn *c, const struct sip_msg *m, struct txn *t,
                      struct fed_result *r);
int fed_outbound_route(struct node *n, const struct sip_msg *m, struct txn *t,
                       struct fed_result *r);
/* Record a final response for a throttled (discovered) partner's request. */
void fed_record_response(struct node *n, const struct txn *t, int status);

#endif
