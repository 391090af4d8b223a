/* gateway_stub.c -- weak stand-ins for the SIP<->XMPP gateway's callbacks
 * (xmpp.h), so the node links before node/xmpp/gateway.c exists: inbound
 * stanzas are logged and dropped. Delete this file when gateway.c lands. */
#include "log.h"
#include "xmpp/xmpp.h"

__attribute__((weak)) void xmpp_gateway_on_stanza(struct node *n, const struct xmpp_stanza *st)
{
    LOG_INFO("xmpp", "stanza <%s> from %s to %s id %s (%s -> %s): no gateway, dropped: %.*s",
             st->root->name, st->from ? st->from : "-", st->to ? st->to : "-",
             st->id ? st->id : "-", st->peer_domain, st->local_domain, (int)st->xml_len, st->xml);
}

__attribute__((weak)) void xmpp_gateway_on_send_failed(struct node *n,
                                                       const struct xmpp_send_failure *f)
{
    LOG_INFO("xmpp", "stanza <%s> id %s to %s not delivered: %s (%s)", f->name, f->id ? f->id : "-",
             f->to ? f->to : "-", f->condition, f->text);
}
