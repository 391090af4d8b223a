/* proxy_header.c -- the PROXY protocol v2 header itself (HAProxy's
 * doc/proxy-protocol.txt 2.2) and whether a peer may send one: pure
 * functions shared by the SIP listener's pre-read (proxy_proto.c) and the
 * XMPP listener (xmpp/s2s.c), in a file of their own so that linking one
 * does not pull in the other's connection code. See proxy_proto.h. */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "conn/proxy_proto.h"
#include "node.h"

static const uint8_t pp2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

int conn_pp2_parse(const uint8_t *p, size_t len, struct sockaddr_storage *src, size_t *hdrlen,
                   const char **why)
{
    size_t k = len < sizeof(pp2_sig) ? len : sizeof(pp2_sig);
    if (memcmp(p, pp2_sig, k) != 0)
        return -1;
    if (len < 16)
        return 0;
    size_t body = ((size_t)p[14] << 8) | p[15];
    if (16 + body > CONN_PP2_MAX) {
        *why = "longer than we accept";
        return -2;
    }
    if ((p[12] >> 4) != 2) {
        *why = "not version 2";
        return -2;
    }
    unsigned cmd = p[12] & 0x0F, fam = p[13];
    if (cmd > 1) {
        *why = "unknown command";
        return -2;
    }
    if (len < 16 + body)
        return 0;
    *hdrlen = 16 + body;
    memset(src, 0, sizeof(*src));
    src->ss_family = AF_UNSPEC;
    if (cmd == 0) /* LOCAL: the balancer's own connection (a health check) */
        return 1;
    const uint8_t *a = p + 16;
    if (fam == 0x11) { /* TCP over IPv4 */
        if (body < 12) {
            *why = "IPv4 addresses truncated";
            return -2;
        }
        struct sockaddr_in *s4 = (struct sockaddr_in *)src;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a, 4);
        memcpy(&s4->sin_port, a + 8, 2);
    } else if (fam == 0x21) { /* TCP over IPv6 */
        if (body < 36) {
            *why = "IPv6 addresses truncated";
            return -2;
        }
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, v4mapped, 12) == 0) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)src;
            s4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, a + 12, 4);
            memcpy(&s4->sin_port, a + 32, 2);
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)src;
            s6->sin6_family = AF_INET6;
            memcpy(&s6->sin6_addr, a, 16);
            memcpy(&s6->sin6_port, a + 32, 2);
        }
    } else if (fam == 0x12 || fam == 0x22) {
        *why = "UDP on a TCP listener";
        return -2;
    }
    /* UNSPEC or a UNIX socket: nothing we can use, keep the connection's own */
    return 1;
}

bool conn_proxy_trusted(const struct node *n, const char *ip)
{
    const struct cfg_strlist *l = &n->cfg.proxy_protocol_from;
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], ip) == 0)
            return true;
    return false;
}
