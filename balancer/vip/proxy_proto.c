/* proxy_proto.c -- builds the PROXY protocol v2 header (see proxy_proto.h;
 * the format is HAProxy's doc/proxy-protocol.txt, section 2.2). */
#include "vip/proxy_proto.h"

#include <netinet/in.h>
#include <string.h>

static const uint8_t pp2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define PP2_V2_PROXY 0x21 /* version 2, command PROXY */
#define PP2_V2_LOCAL 0x20 /* version 2, command LOCAL */
#define PP2_TCP4 0x11
#define PP2_TCP6 0x21

/* The address as 16 IPv6 bytes (IPv4-mapped for IPv4) and its port. */
static void as_v6(const struct sockaddr *sa, uint8_t a[16], uint16_t *port)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(a, &s6->sin6_addr, 16);
        *port = s6->sin6_port;
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &s4->sin_addr, 4);
        *port = s4->sin_port;
    }
}

size_t vip_pp2_build(uint8_t *out, const struct sockaddr *src, const struct sockaddr *dst)
{
    memcpy(out, pp2_sig, sizeof(pp2_sig));
    int fs = src->sa_family, fd = dst->sa_family;
    if ((fs != AF_INET && fs != AF_INET6) || (fd != AF_INET && fd != AF_INET6)) {
        out[12] = PP2_V2_LOCAL;
        out[13] = 0x00; /* UNSPEC */
        out[14] = out[15] = 0;
        return 16;
    }
    out[12] = PP2_V2_PROXY;
    if (fs == AF_INET && fd == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)src;
        const struct sockaddr_in *d = (const struct sockaddr_in *)dst;
        out[13] = PP2_TCP4;
        out[14] = 0;
        out[15] = 12;
        memcpy(out + 16, &s->sin_addr, 4);
        memcpy(out + 20, &d->sin_addr, 4);
        memcpy(out + 24, &s->sin_port, 2); /* already in network order */
        memcpy(out + 26, &d->sin_port, 2);
        return 28;
    }
    uint8_t sa6[16], da6[16];
    uint16_t sp, dp;
    as_v6(src, sa6, &sp);
    as_v6(dst, da6, &dp);
    out[13] = PP2_TCP6;
    out[14] = 0;
    out[15] = 36;
    memcpy(out + 16, sa6, 16);
    memcpy(out + 32, da6, 16);
    memcpy(out + 48, &sp, 2);
    memcpy(out + 50, &dp, 2);
    return 52;
}
