/* leg.c -- our address on the internal leg by its transport (see leg.h). */
#include "sip/leg.h"

void sip_internal_leg(const struct node *n, bool tls, struct sip_leg *leg)
{
    bool listener = tls && n->int_tls_addr.port != 0;
    leg->via_proto = tls ? "TLS" : "TCP";
    leg->via_host = listener ? n->int_tls_addr.host : n->int_addr.host;
    leg->rr_transport = listener ? "tls" : "tcp";
    leg->rr_host = listener ? n->int_tls_rr_host : n->cfg.internal_rr_host;
    leg->port = listener ? n->int_tls_addr.port : n->int_addr.port;
}
