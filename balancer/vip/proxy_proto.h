/* proxy_proto.h -- the PROXY protocol v2 header the VIP sends to a node
 * before the partner's first byte, so the node sees the partner's address
 * (HAProxy's "send-proxy-v2"; the node parses it in node/conn/proxy_proto.c). */
#ifndef EP_VIP_PROXY_PROTO_H
#define EP_VIP_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* 16 bytes of fixed header + 36 of IPv6 addresses and ports */
#define VIP_PP2_MAX 52

/* Write the header for a TCP connection from src to dst (the VIP address the
 * partner connected to) into out (VIP_PP2_MAX bytes). IPv4 and IPv6; a mixed
 * pair is sent as IPv6 (IPv4-mapped). Any other family gives a LOCAL header
 * (the node then uses the connection's own address). Returns the length. */
size_t vip_pp2_build(uint8_t *out, const struct sockaddr *src, const struct sockaddr *dst);

#endif
