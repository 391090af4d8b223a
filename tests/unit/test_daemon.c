/* test_daemon.c -- the start-up both daemons share (shared/daemon.c): the
 * command line (options, the exit status of --help/--version/--print-config
 * and of a bad command line) and the signal events (TERM, INT and HUP reach
 * the daemon's callbacks through the loop, USR1 cycles the log level). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

static int printed;
static void print_config(FILE *out)
{
    printed++;
}

static const struct daemon_desc desc = {"edge-test", "Signals: none.\n", print_config};

static int parse(struct daemon_args *a, int argc, char **argv)
{
    optind = 0; /* glibc: start getopt afresh */
    return daemon_args_parse(&desc, argc, argv, a);
}

static void test_args(void **state)
{
    struct daemon_args a;
    char *go[] = {"edge-test", "-c", "x.conf", "-f", "--check-config", NULL};
    assert_int_equal(parse(&a, 5, go), -1);
    assert_string_equal(a.config_path, "x.conf");
    assert_true(a.foreground);
    assert_true(a.check);
    char *none[] = {"edge-test", NULL};
    assert_int_equal(parse(&a, 1, none), -1);
    assert_null(a.config_path);
    assert_false(a.foreground || a.check);
    char *pc[] = {"edge-test", "--print-config", NULL};
    assert_int_equal(parse(&a, 2, pc), 0);
    assert_int_equal(printed, 1);
    char *v[] = {"edge-test", "--version", NULL};
    assert_int_equal(parse(&a, 2, v), 0);
    char *extra[] = {"edge-test", "extra", NULL};
    assert_int_equal(parse(&a, 2, extra), 2);
    char *bad[] = {"edge-test", "--bogus", NULL};
    assert_int_equal(parse(&a, 2, bad), 2);
    assert_int_equal(daemon_config_ok(NULL), 0);
    assert_int_equal(daemon_config_refused(&desc, "x.conf:1: what"), 1);
}

struct seen {
    struct event_base *base;
    int stops, reloads;
};

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    struct seen *s = arg;
    s->stops++;
    event_base_loopbreak(s->base);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    struct seen *s = arg;
    s->reloads++;
    event_base_loopbreak(s->base);
}

static void test_signals(void **state)
{
    struct seen s = {event_base_new(), 0, 0};
    assert_non_null(s.base);
    struct daemon_signals sig;
    assert_int_equal(daemon_signals_add(&sig, s.base, on_stop, on_reload, &s), 0);
    raise(SIGHUP);
    event_base_dispatch(s.base);
    assert_int_equal(s.reloads, 1);
    raise(SIGTERM);
    event_base_dispatch(s.base);
    raise(SIGINT);
    event_base_dispatch(s.base);
    assert_int_equal(s.stops, 2);
    log_set_level(LOG_LVL_DEBUG);
    raise(SIGUSR1);
    event_base_loop(s.base, EVLOOP_ONCE);
    assert_int_equal(log_get_level(), LOG_LVL_ERROR); /* debug wraps to error */
    daemon_signals_free(&sig);
    assert_null(sig.term);
    event_base_free(s.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
