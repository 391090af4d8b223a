/* pidf.h -- PIDF presence documents (RFC 3863, with the RPID activities of
 * RFC 4480 and the data model of RFC 4479) written from and read into the
 * gateway's presence model (gateway_map.h), as RFC 7248 / RFC 8048 map them
 * to XMPP <presence/>. Pure: expat parses, nothing else is touched. */
#ifndef EP_XMPP_PIDF_H
#define EP_XMPP_PIDF_H

#include <stddef.h>

#include "xmpp/gateway_map.h"

#define PIDF_CONTENT_TYPE "application/pidf+xml"

/* Write the PIDF document for entity ("bob@jabber.test", becomes
 * entity="pres:bob@jabber.test") in presence p: one tuple with <basic/> and
 * the note, and a person element with the RPID activity when p->show asks
 * for one. Returns the length (NUL-terminated in out), or 0 when it does
 * not fit. */
size_t pidf_build(char *out, size_t cap, const char *entity, const struct gw_presence *p);

/* Read a PIDF document: open when any tuple's <basic/> is "open" (a document
 * without tuples, or whose tuples carry no <basic/>, is closed); the show
 * from the first RPID activity that maps to one (gateway_map.h); the note
 * from the first <note/> (tuple, person or presence level). Returns 0, or -1
 * when body is not well-formed XML or its root is not a PIDF <presence/>
 * (*out is then closed and empty). Entity declarations are refused. */
int pidf_parse(const char *body, size_t len, struct gw_presence *out);

#endif
