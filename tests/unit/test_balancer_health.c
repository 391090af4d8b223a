/* test_balancer_health.c -- pins down balancer/health/ with static nodes and real
 * sockets on the loop (no Redis): a node whose port listens is healthy; its
 * listener closed, it goes down after `fall` failed checks (within fall
 * intervals plus one); reopened, it comes back after `rise` passes; a node
 * that never answers is down from its first check; listeners hear every
 * change; health_reload adds and removes static nodes (gone = true). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balancer.h"
#include "health/health.h"
#include "log.h"

static struct balancer b;
static int changes, gones;
static char last_gone[64];

static void on_change(void *arg, struct health_node *n, bool gone)
{
    changes++;
    if (gone) {
        gones++;
        snprintf(last_gone, sizeof(last_gone), "%s", n->id);
    }
}

/* A listening TCP socket on 127.0.0.1 (ephemeral port); *port gets it. */
static int listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* The same port again (after close). */
static int relisten(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001), .sin_port = htons(port)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    return fd;
}

/* Run the loop for ms, accepting (and closing) what the listener gets. */
static void run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(b.base, &tv);
    event_base_dispatch(b.base);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run until node id's healthy equals want (or limit ms); the ms it took. */
static int until_healthy(struct health *h, const char *id, bool want, int limit)
{
    uint64_t t0 = now_ms();
    while ((int)(now_ms() - t0) < limit) {
        struct health_node *n = health_node_by_id(h, id);
        if (n && n->healthy == want)
            return (int)(now_ms() - t0);
        run_ms(10);
    }
    return -1;
}

static void set_static(const char *a, const char *c)
{
    for (int i = 0; i < b.cfg.static_nodes.n; i++)
        free(b.cfg.static_nodes.v[i]);
    free(b.cfg.static_nodes.v);
    b.cfg.static_nodes.v = calloc(2, sizeof(char *));
    b.cfg.static_nodes.n = 0;
    if (a)
        b.cfg.static_nodes.v[b.cfg.static_nodes.n++] = strdup(a);
    if (c)
        b.cfg.static_nodes.v[b.cfg.static_nodes.n++] = strdup(c);
}

static int setup(void **state)
{
    char err[256];
    memset(&b, 0, sizeof(b));
    assert_int_equal(balancer_config_load(&b.cfg, NULL, err, sizeof(err)), 0);
    b.cfg.health_interval_ms = 100;
    b.cfg.health_timeout_ms = 300;
    b.cfg.health_rise = 2;
    b.cfg.health_fall = 3;
    b.base = event_base_new();
    changes = gones = 0;
    last_gone[0] = '\0';
    log_init("test_balancer_health", false, LOG_LVL_WARN);
    return 0;
}

static int teardown(void **state)
{
    balancer_config_free(&b.cfg);
    event_base_free(b.base);
    return 0;
}

static void test_tcp_rise_fall(void **state)
{
    uint16_t port;
    int fd = listener(&port);
    char spec[64], err[256];
    snprintf(spec, sizeof(spec), "up@127.0.0.1:%u", port);
    set_static(spec, "never@127.0.0.1:1"); /* nothing listens on port 1 */
    struct health *h = health_new(&b, err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(health_on_change(h, on_change, NULL), 0);
    struct health_node *nodes;
    assert_int_equal(health_nodes(h, &nodes), 2);
    assert_true(nodes[0].alive && !nodes[0].from_registry);
    assert_int_equal(nodes[0].sip_port, port);
    assert_string_equal(nodes[0].ext_host, "127.0.0.1");
    assert_true(until_healthy(h, "never", false, 500) >= 0); /* its first check decides */
    assert_true(until_healthy(h, "up", true, 500) >= 0);
    run_ms(300);
    assert_true(health_node_by_id(h, "up")->healthy);
    assert_false(health_node_by_id(h, "never")->healthy);
    assert_int_equal(health_healthy_count(h), 1);
    assert_true(health_node_by_id(h, "up")->check_latency_us > 0);

    /* closed: down after fall (3) failures, about 3 intervals */
    close(fd);
    int c0 = changes;
    int down = until_healthy(h, "up", false, 2000);
    print_message("down after %d ms (interval 100, fall 3)\n", down);
    assert_true(down >= 90 &&
                down <= 600); /* a check in flight at the close may be the first failure */
    assert_int_equal(health_healthy_count(h), 0);
    assert_true(changes > c0);
    /* open again: up after rise (2) passes */
    fd = relisten(port);
    int up = until_healthy(h, "up", true, 2000);
    print_message("up after %d ms (rise 2)\n", up);
    assert_true(up >= 50 && up <= 500);

    /* reload: "never" removed (gone), "other" added */
    snprintf(spec, sizeof(spec), "up@127.0.0.1:%u", port);
    set_static(spec, "other@127.0.0.2:1");
    assert_int_equal(health_reload(h, err, sizeof(err)), 0);
    assert_int_equal(gones, 1);
    assert_string_equal(last_gone, "never");
    assert_null(health_node_by_id(h, "never"));
    assert_non_null(health_node_by_id(h, "other"));
    /* the freed slot is reused, the others did not move */
    struct health_node *up_node = health_node_by_id(h, "up");
    assert_ptr_equal(up_node, &nodes[0]);
    run_ms(200);
    assert_ptr_equal(health_node_by_id(h, "up"), up_node);
    health_off_change(h, on_change, NULL);
    int c1 = changes;
    set_static(NULL, NULL);
    assert_int_equal(health_reload(h, err, sizeof(err)), 0);
    assert_int_equal(changes, c1); /* no longer listening */
    assert_int_equal(health_healthy_count(h), 0);
    size_t n = health_nodes(h, &nodes);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(nodes[i].id, "");
    health_free(h);
    close(fd);
}

/* A TLS check against a port that accepts the connection (the kernel does)
 * but never answers the ClientHello: the timeout fails it. */
static void test_timeout(void **state)
{
    uint16_t port;
    int fd = listener(&port);
    char spec[64], err[256];
    snprintf(spec, sizeof(spec), "slow@127.0.0.1:%u", port);
    set_static(spec, NULL);
    free(b.cfg.health_check);
    b.cfg.health_check = strdup("tls"); /* the listener never answers the ClientHello */
    struct health *h = health_new(&b, err, sizeof(err));
    assert_non_null(h);
    assert_true(until_healthy(h, "slow", false, 2000) >= 0);
    health_free(h);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tcp_rise_fall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
