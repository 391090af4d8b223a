/* ep-redis.c -- a command-line driver of the shared Redis client, for tests.
 *
 * Runs one mode against real Redis servers (or sentinels) and prints one line
 * per event, so integration tests can assert replies, up/down transitions,
 * failover times and re-entrancy without mocking anything. */
#include "log.h"
#include "redis.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char usage[] =
    "usage: ep-redis [options] MODE ARGS...\n"
    "options:\n"
    "  --addr HOST:PORT        Redis to use (or --sentinels)\n"
    "  --sentinels LIST        \"HOST:PORT,HOST:PORT\": find the master through Sentinel\n"
    "  --master NAME           Sentinel's name of the master (default mymaster)\n"
    "  --user U --password P   AUTH [U] P;   --db N: SELECT N\n"
    "  --tls                   TLS to Redis: --ca F, --cert F --key F (mutual TLS),\n"
    "                          --server-name N (name the certificate must carry)\n"
    "  --connect-timeout-ms N  --timeout-ms N (command)  --backoff-min-ms N  --backoff-max-ms N\n"
    "  --wait-up-ms N          cmd/pipe/reentry: wait that long for the connection (default\n"
    "                          3000); 0: send at once, even while down\n"
    "  --every-ms N            watch: one command every N ms (default 100)\n"
    "  --debug                 client debug logs on stderr\n"
    "modes:\n"
    "  cmd ARGS...             one command; prints the reply (\"string x\", \"integer 3\",\n"
    "                          \"nil\", \"status OK\", \"error ERR...\", \"array N\" then the\n"
    "                          elements indented), or \"fail REASON sync|async\"\n"
    "  pipe N                  N INCR ep-redis:pipe at once; checks the replies come in order\n"
    "  watch SECONDS [ARGS...] a command (default PING) every --every-ms for SECONDS; prints\n"
    "                          \"<epoch-ms> up ADDR\" / \"<epoch-ms> down\", the first success\n"
    "                          at each address (\"<epoch-ms> first-ok ADDR\"), each new failure\n"
    "                          reason, and summary lines (\"end ...\", \"stats ...\")\n"
    "  sub CHANNEL SECONDS     prints \"<epoch-ms> message CHANNEL PAYLOAD\" for SECONDS\n"
    "  reentry                 redis_command and redis_free from inside callbacks: a reply,\n"
    "                          a failure inside redis_command, on_state, a message\n"
    "Exit status: 0 ok, 1 usage/setup error, 2 error reply or failed command, 3 never up.\n";

struct tool {
    struct event_base *base;
    struct redis *r;
    struct redis_opts o;
    int wait_up_ms, every_ms;
    char **args;
    int nargs;
    int rc;
    bool in_call; /* inside redis_command: a callback now is synchronous */
    struct event *tick, *stop;
    /* watch */
    unsigned long ok, failed, failed_down, failed_down_async, timeouts, shutting;
    long max_fail_ms;
    char last_ok_addr[300];
    char last_err[200];
    /* pipe */
    long pipe_next, pipe_n, pipe_bad;
    /* reentry */
    int re_seq;
};

static long long epoch_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_reply(const redisReply *rep, int indent)
{
    printf("%*s", indent, "");
    switch (rep->type) {
    case REDIS_REPLY_STRING:
        printf("string %.*s\n", (int)rep->len, rep->str);
        break;
    case REDIS_REPLY_INTEGER:
        printf("integer %lld\n", rep->integer);
        break;
    case REDIS_REPLY_NIL:
        printf("nil\n");
        break;
    case REDIS_REPLY_STATUS:
        printf("status %s\n", rep->str);
        break;
    case REDIS_REPLY_ERROR:
        printf("error %s\n", rep->str);
        break;
    case REDIS_REPLY_ARRAY:
        printf("array %zu\n", rep->elements);
        for (size_t i = 0; i < rep->elements; i++)
            print_reply(rep->element[i], indent + 2);
        break;
    default:
        printf("type %d\n", rep->type);
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct tool *t = arg;
    event_base_loopbreak(t->base);
}

/* ---- cmd ---- */

static void cmd_done(void *arg, const redisReply *rep, const char *err)
{
    struct tool *t = arg;
    if (rep) {
        print_reply(rep, 0);
        t->rc = err ? 2 : 0;
    } else {
        printf("fail %s %s\n", err, t->in_call ? "sync" : "async");
        t->rc = 2;
    }
    fflush(stdout);
    event_base_loopbreak(t->base);
}

static void send_args(struct tool *t, redis_reply_cb cb, char **args, int n)
{
    const char *argv[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        argv[i] = args[i];
    t->in_call = true;
    redis_command_argv(t->r, cb, t, n, argv, NULL);
    t->in_call = false;
}

/* ---- pipe ---- */

static void pipe_done(void *arg, const redisReply *rep, const char *err)
{
    struct tool *t = arg;
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        printf("pipe: reply %ld failed: %s\n", t->pipe_next, err ? err : "not an integer");
        t->pipe_bad++;
    } else if (t->pipe_next == 0) {
        t->pipe_next = rep->integer; /* the key may exist: count from its value */
    } else if (rep->integer != t->pipe_next + 1) {
        printf("pipe: out of order: %lld after %ld\n", rep->integer, t->pipe_next);
        t->pipe_bad++;
        t->pipe_next = rep->integer;
    } else {
        t->pipe_next = rep->integer;
    }
    if (--t->pipe_n == 0) {
        printf("pipe: done, %ld bad, last %ld\n", t->pipe_bad, t->pipe_next);
        t->rc = t->pipe_bad ? 2 : 0;
        event_base_loopbreak(t->base);
    }
}

/* ---- watch ---- */

static void watch_done(void *arg, const redisReply *rep, const char *err)
{
    struct tool *t = arg;
    if (rep && !err) {
        t->ok++;
        const char *a = redis_current_addr(t->r);
        if (strcmp(a, t->last_ok_addr) != 0) {
            snprintf(t->last_ok_addr, sizeof(t->last_ok_addr), "%s", a);
            printf("%lld first-ok %s\n", epoch_ms(), a);
        }
        t->last_err[0] = '\0';
    } else {
        t->failed++;
        if (err && strcmp(err, "redis down") == 0) {
            /* at once (inside redis_command) while down; after the call
             * only for a command in flight when the connection was lost */
            if (t->in_call)
                t->failed_down++;
            else
                t->failed_down_async++;
        } else if (err && strcmp(err, "timeout") == 0)
            t->timeouts++;
        else if (err && strcmp(err, "shutting down") == 0)
            t->shutting++;
        if (err && strcmp(err, t->last_err) != 0) {
            snprintf(t->last_err, sizeof(t->last_err), "%s", err);
            printf("%lld fail %s\n", epoch_ms(), err);
        }
    }
    fflush(stdout);
}

static void watch_tick(evutil_socket_t fd, short what, void *arg)
{
    struct tool *t = arg;
    static char *ping[] = {"PING"};
    long t0 = mono_ms();
    unsigned long before = t->failed;
    if (t->nargs)
        send_args(t, watch_done, t->args, t->nargs);
    else
        send_args(t, watch_done, ping, 1);
    if (t->failed != before && mono_ms() - t0 > t->max_fail_ms)
        t->max_fail_ms = mono_ms() - t0;
}

static void on_state(void *arg, bool up)
{
    struct tool *t = arg;
    if (up)
        printf("%lld up %s\n", epoch_ms(), redis_current_addr(t->r));
    else
        printf("%lld down\n", epoch_ms());
    fflush(stdout);
    if (up && !t->tick && t->wait_up_ms >= 0)
        event_base_loopbreak(t->base); /* cmd/pipe/reentry waited for this */
}

/* ---- sub ---- */

static void on_message(void *arg, const char *channel, const char *payload, size_t len)
{
    printf("%lld message %s %.*s\n", epoch_ms(), channel, (int)len, payload);
    fflush(stdout);
}

/* ---- reentry ---- */

static void re_free_cb(void *arg, const redisReply *rep, const char *err)
{
    struct tool *t = arg;
    int seq = ++t->re_seq;
    printf("cb %d %s\n", seq, rep ? "reply" : err);
    if (seq == 2) {
        /* a command from inside a callback (queued, the connection is up),
         * then the teardown from inside the same callback */
        redis_command(t->r, re_free_cb, t, "PING");
        printf("freeing from callback %d\n", seq);
        redis_free(t->r);
        t->r = NULL;
        printf("redis_free returned\n");
    }
    fflush(stdout);
}

static void re_down_cb(void *arg, const redisReply *rep, const char *err)
{
    struct tool *t = arg;
    printf("down-cb %s %s\n", err ? err : "reply", t->in_call ? "sync" : "async");
    redis_free(t->r); /* from a callback that runs inside redis_command */
    t->r = NULL;
    fflush(stdout);
}

static void re_state_free(void *arg, bool up)
{
    struct tool *t = arg;
    printf("state-cb %s: freeing\n", up ? "up" : "down");
    redis_free(t->r); /* from on_state, inside the reply that made it up */
    t->r = NULL;
    event_base_loopbreak(t->base);
}

static void re_msg_free(void *arg, const char *channel, const char *payload, size_t len)
{
    struct tool *t = arg;
    printf("message-cb %s: freeing\n", channel);
    redis_free(t->r); /* from a message callback */
    t->r = NULL;
    event_base_loopbreak(t->base);
}

/* Runs the loop for up to ms, or until a callback breaks it. */
static void run_for(struct tool *t, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(t->base, &tv);
    event_base_dispatch(t->base);
}

static int reentry(struct tool *t)
{
    for (int i = 0; i < 5; i++)
        redis_command(t->r, re_free_cb, t, "PING");
    event_base_loop(t->base, EVLOOP_ONCE); /* replies arrive; callback 2 frees */
    for (int i = 0; i < 20 && t->r; i++)
        event_base_loop(t->base, EVLOOP_ONCE);
    if (t->r) {
        printf("reentry: not freed\n");
        return 2;
    }
    /* a client that is not up yet: the callback runs inside redis_command */
    char err[256];
    struct redis_opts o = t->o;
    t->r = redis_new(t->base, &o, NULL, NULL, err, sizeof(err));
    if (!t->r)
        return 1;
    t->in_call = true;
    redis_command(t->r, re_down_cb, t, "PING");
    t->in_call = false;
    if (t->r)
        return 2;

    /* redis_free from on_state(up) */
    t->r = redis_new(t->base, &o, re_state_free, t, err, sizeof(err));
    if (!t->r)
        return 1;
    run_for(t, 3000);
    if (t->r)
        return 2;

    /* redis_free from a message callback, with a PUBLISH in flight */
    t->r = redis_new(t->base, &o, NULL, NULL, err, sizeof(err));
    if (!t->r)
        return 1;
    for (int i = 0; i < 30 && !redis_is_up(t->r); i++)
        run_for(t, 100);
    redis_subscribe(t->r, "ep-redis:reentry", re_msg_free, t);
    for (int i = 0; i < 30 && t->r; i++) {
        redis_command(t->r, NULL, NULL, "PUBLISH %s %s", "ep-redis:reentry", "x");
        run_for(t, 100);
    }
    printf("reentry: %d callbacks, %s\n", t->re_seq, t->r ? "not freed" : "done");
    return t->re_seq == 6 && !t->r ? 0 : 2;
}

/* ---- main ---- */

static long num_arg(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0) {
        fprintf(stderr, "ep-redis: bad %s: %s\n", what, s);
        exit(1);
    }
    return v;
}

int main(int argc, char **argv)
{
    static struct option lo[] = {{"addr", 1, 0, 'a'},         {"sentinels", 1, 0, 's'},
                                 {"master", 1, 0, 'm'},       {"user", 1, 0, 'u'},
                                 {"password", 1, 0, 'p'},     {"db", 1, 0, 'd'},
                                 {"tls", 0, 0, 't'},          {"ca", 1, 0, 'C'},
                                 {"cert", 1, 0, 'c'},         {"key", 1, 0, 'k'},
                                 {"server-name", 1, 0, 'n'},  {"connect-timeout-ms", 1, 0, 1},
                                 {"timeout-ms", 1, 0, 2},     {"backoff-min-ms", 1, 0, 3},
                                 {"backoff-max-ms", 1, 0, 4}, {"wait-up-ms", 1, 0, 5},
                                 {"every-ms", 1, 0, 6},       {"debug", 0, 0, 'D'},
                                 {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
    struct tool t;
    memset(&t, 0, sizeof(t));
    t.wait_up_ms = 3000;
    t.every_ms = 100;
    enum log_level lvl = LOG_LVL_INFO;
    int ch;
    while ((ch = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
        switch (ch) {
        case 'a':
            t.o.addr = optarg;
            break;
        case 's':
            t.o.sentinels = optarg;
            break;
        case 'm':
            t.o.master_name = optarg;
            break;
        case 'u':
            t.o.username = optarg;
            break;
        case 'p':
            t.o.password = optarg;
            break;
        case 'd':
            t.o.db = (int)num_arg(optarg, "db");
            break;
        case 't':
            t.o.tls = true;
            break;
        case 'C':
            t.o.tls_ca = optarg;
            break;
        case 'c':
            t.o.tls_cert = optarg;
            break;
        case 'k':
            t.o.tls_key = optarg;
            break;
        case 'n':
            t.o.tls_server_name = optarg;
            break;
        case 1:
            t.o.connect_timeout_ms = (int)num_arg(optarg, "timeout");
            break;
        case 2:
            t.o.command_timeout_ms = (int)num_arg(optarg, "timeout");
            break;
        case 3:
            t.o.backoff_min_ms = (int)num_arg(optarg, "backoff");
            break;
        case 4:
            t.o.backoff_max_ms = (int)num_arg(optarg, "backoff");
            break;
        case 5:
            t.wait_up_ms = (int)num_arg(optarg, "wait");
            break;
        case 6:
            t.every_ms = (int)num_arg(optarg, "every");
            break;
        case 'D':
            lvl = LOG_LVL_DEBUG;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 1;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 1;
    }
    const char *mode = argv[optind];
    t.args = argv + optind + 1;
    t.nargs = argc - optind - 1;
    log_init("ep-redis", false, lvl);
    signal(SIGPIPE, SIG_IGN); /* as the daemons: a write to a reset connection is an error */
    setvbuf(stdout, NULL, _IOLBF, 0);

    t.base = event_base_new();
    char err[256];
    t.r = redis_new(t.base, &t.o, on_state, &t, err, sizeof(err));
    if (!t.r) {
        fprintf(stderr, "ep-redis: %s\n", err);
        event_base_free(t.base);
        return 1;
    }
    struct event *sigterm = evsignal_new(t.base, SIGTERM, on_stop, &t);
    struct event *sigint = evsignal_new(t.base, SIGINT, on_stop, &t);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    t.stop = evtimer_new(t.base, on_stop, &t);

    bool needs_up = !strcmp(mode, "cmd") || !strcmp(mode, "pipe") || !strcmp(mode, "reentry");
    if (needs_up && t.wait_up_ms > 0) {
        struct timeval tv = {t.wait_up_ms / 1000, (t.wait_up_ms % 1000) * 1000};
        evtimer_add(t.stop, &tv);
        event_base_dispatch(t.base);
        evtimer_del(t.stop);
        if (!redis_is_up(t.r)) {
            printf("not up after %d ms\n", t.wait_up_ms);
            t.rc = 3;
            goto out;
        }
    }

    if (!strcmp(mode, "cmd") && t.nargs > 0) {
        t.rc = 2;
        send_args(&t, cmd_done, t.args, t.nargs);
        if (redis_is_up(t.r) || t.wait_up_ms > 0)
            event_base_dispatch(t.base);
    } else if (!strcmp(mode, "pipe") && t.nargs == 1) {
        long n = num_arg(t.args[0], "count");
        t.pipe_n = n;
        t.rc = 2;
        for (long i = 0; i < n; i++)
            redis_command(t.r, pipe_done, &t, "INCR %s", "ep-redis:pipe");
        event_base_dispatch(t.base);
    } else if (!strcmp(mode, "watch") && t.nargs >= 1) {
        long secs = num_arg(t.args[0], "seconds");
        t.args++;
        t.nargs--;
        struct timeval every = {t.every_ms / 1000, (t.every_ms % 1000) * 1000};
        struct timeval end = {secs, 0};
        t.tick = event_new(t.base, -1, EV_PERSIST, watch_tick, &t);
        event_add(t.tick, &every);
        evtimer_add(t.stop, &end);
        event_base_dispatch(t.base);
        struct redis_stats st;
        redis_get_stats(t.r, &st);
        printf("end ok=%lu fail=%lu down_sync=%lu down_async=%lu timeouts=%lu max_fail_ms=%ld\n",
               t.ok, t.failed, t.failed_down, t.failed_down_async, t.timeouts, t.max_fail_ms);
        printf("stats commands=%llu replies=%llu errors=%llu reconnects=%llu failovers=%llu "
               "timeouts=%llu messages=%llu pending=%llu up=%d\n",
               (unsigned long long)st.commands, (unsigned long long)st.replies,
               (unsigned long long)st.errors, (unsigned long long)st.reconnects,
               (unsigned long long)st.failovers, (unsigned long long)st.timeouts,
               (unsigned long long)st.messages, (unsigned long long)st.pending, st.up);
        event_free(t.tick);
    } else if (!strcmp(mode, "sub") && t.nargs == 2) {
        long secs = num_arg(t.args[1], "seconds");
        struct timeval end = {secs, 0};
        t.tick = t.stop; /* on_state: do not break the loop */
        if (redis_subscribe(t.r, t.args[0], on_message, &t) < 0) {
            fprintf(stderr, "ep-redis: cannot subscribe\n");
            t.rc = 1;
        } else {
            evtimer_add(t.stop, &end);
            event_base_dispatch(t.base);
            struct redis_stats st;
            redis_get_stats(t.r, &st);
            printf("end messages=%llu\n", (unsigned long long)st.messages);
        }
        t.tick = NULL;
    } else if (!strcmp(mode, "reentry")) {
        t.rc = reentry(&t);
    } else {
        fputs(usage, stderr);
        t.rc = 1;
    }
out:
    redis_free(t.r);
    event_free(t.stop);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(t.base);
    return t.rc;
}
