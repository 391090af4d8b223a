/* test_proxy_proto.c -- PROXY protocol v2 both ways: what the VIP sends
 * (balancer/vip/proxy_proto.c) is what the node reads (node/conn/
 * proxy_proto.c) for IPv4, IPv6 and mixed pairs; partial headers ask for
 * more; TLS and SIP first bytes are not headers; malformed ones refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "conn/proxy_proto.h"
#include "vip/proxy_proto.h"

/* the node's clock lives in its main.c, which tests do not link */
struct node;
uint64_t node_now_ms(const struct node *n);
uint64_t node_now_ms(const struct node *n)
{
    return 0;
}

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &s.sin_addr);
    return s;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, ip, &s.sin6_addr);
    return s;
}

static void roundtrip_v4(void **state)
{
    struct sockaddr_in src = v4("192.0.2.7", 40001), dst = v4("127.0.0.2", 5061);
    uint8_t h[VIP_PP2_MAX];
    size_t n = vip_pp2_build(h, (struct sockaddr *)&src, (struct sockaddr *)&dst);
    assert_int_equal(n, 28);
    struct sockaddr_storage got;
    size_t hl = 0;
    const char *why = NULL;
    for (size_t k = 1; k < n; k++) /* every prefix asks for more */
        assert_int_equal(conn_pp2_parse(h, k, &got, &hl, &why), 0);
    uint8_t more[64];
    memcpy(more, h, n);
    memcpy(more + n, "\x16\x03\x01", 3); /* the ClientHello follows */
    assert_int_equal(conn_pp2_parse(more, n + 3, &got, &hl, &why), 1);
    assert_int_equal(hl, n);
    struct sockaddr_in *g = (struct sockaddr_in *)&got;
    assert_int_equal(g->sin_family, AF_INET);
    assert_memory_equal(&g->sin_addr, &src.sin_addr, 4);
    assert_int_equal(ntohs(g->sin_port), 40001);
}

static void roundtrip_v6_and_mixed(void **state)
{
    struct sockaddr_in6 src = v6("2001:db8::5", 5000), dst = v6("2001:db8::1", 5061);
    uint8_t h[VIP_PP2_MAX];
    size_t n = vip_pp2_build(h, (struct sockaddr *)&src, (struct sockaddr *)&dst);
    assert_int_equal(n, 52);
    struct sockaddr_storage got;
    size_t hl = 0;
    const char *why = NULL;
    assert_int_equal(conn_pp2_parse(h, n, &got, &hl, &why), 1);
    struct sockaddr_in6 *g = (struct sockaddr_in6 *)&got;
    assert_int_equal(g->sin6_family, AF_INET6);
    assert_memory_equal(&g->sin6_addr, &src.sin6_addr, 16);
    assert_int_equal(ntohs(g->sin6_port), 5000);

    /* an IPv4 partner on an IPv6 VIP: sent mapped, read back as IPv4 */
    struct sockaddr_in s4 = v4("198.51.100.9", 6000);
    n = vip_pp2_build(h, (struct sockaddr *)&s4, (struct sockaddr *)&dst);
    assert_int_equal(n, 52);
    assert_int_equal(conn_pp2_parse(h, n, &got, &hl, &why), 1);
    struct sockaddr_in *g4 = (struct sockaddr_in *)&got;
    assert_int_equal(g4->sin_family, AF_INET);
    assert_memory_equal(&g4->sin_addr, &s4.sin_addr, 4);
    assert_int_equal(ntohs(g4->sin_port), 6000);
}

static void not_a_header(void **state)
{
    struct sockaddr_storage got;
    size_t hl = 0;
    const char *why = NULL;
    const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    assert_int_equal(conn_pp2_parse(tls, sizeof(tls), &got, &hl, &why), -1);
    const char *sip = "\r\n\r\nOPTIONS sip:a SIP/2.0\r\n";
    assert_int_equal(conn_pp2_parse((const uint8_t *)sip, strlen(sip), &got, &hl, &why), -1);
    /* a CRLF keepalive alone could still be the start of a header */
    assert_int_equal(conn_pp2_parse((const uint8_t *)"\r\n\r\n", 4, &got, &hl, &why), 0);
}

static void local_and_malformed(void **state)
{
    struct sockaddr_in src = v4("192.0.2.7", 1), dst = v4("127.0.0.2", 5061);
    uint8_t h[VIP_PP2_MAX];
    size_t n = vip_pp2_build(h, (struct sockaddr *)&src, (struct sockaddr *)&dst);
    struct sockaddr_storage got;
    size_t hl = 0;
    const char *why = NULL;

    uint8_t b[VIP_PP2_MAX];
    memcpy(b, h, n);
    b[12] = 0x20; /* LOCAL: the balancer's own connection */
    assert_int_equal(conn_pp2_parse(b, n, &got, &hl, &why), 1);
    assert_int_equal(got.ss_family, AF_UNSPEC);

    memcpy(b, h, n);
    b[12] = 0x11; /* version 1 in the binary form */
    assert_int_equal(conn_pp2_parse(b, n, &got, &hl, &why), -2);
    assert_non_null(why);

    memcpy(b, h, n);
    b[12] = 0x22; /* unknown command */
    assert_int_equal(conn_pp2_parse(b, n, &got, &hl, &why), -2);

    memcpy(b, h, n);
    b[15] = 4; /* TCP4 with 4 bytes of addresses */
    assert_int_equal(conn_pp2_parse(b, 20, &got, &hl, &why), -2);

    memcpy(b, h, n);
    b[14] = 0x10; /* 4 KiB of TLVs */
    assert_int_equal(conn_pp2_parse(b, n, &got, &hl, &why), -2);

    memcpy(b, h, n);
    b[13] = 0x12; /* UDP */
    assert_int_equal(conn_pp2_parse(b, n, &got, &hl, &why), -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip_v4),
        cmocka_unit_test(roundtrip_v6_and_mixed),
        cmocka_unit_test(not_a_header),
        cmocka_unit_test(local_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
