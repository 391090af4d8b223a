/* ep-resolve.c -- a command-line probe of the shared resolver, for tests.
 *
 * Runs a list of commands in order on one resolver (so one cache) and prints
 * one line per result. Integration tests drive it against a real NSD; `wait`
 * lets a script act (stop the server, say) between two lookups. */
#include "log.h"
#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: ep-resolve [options] COMMAND...\n"
    "options:\n"
    "  --server LIST          DNS servers, \"127.0.0.1:5300,127.0.0.2\" (default: resolv.conf)\n"
    "  --timeout-ms N         first try's timeout (default 2000)\n"
    "  --tries N              rounds through the servers (default 2)\n"
    "  --negative-ttl-max S   cap on negative caching (default 60)\n"
    "  --min-ttl S            floor on positive TTLs (default 0)\n"
    "  --cache-max N          cache entries (default 4096)\n"
    "  -v, --verbose          a '#' line before each result: status, count, ms, and\n"
    "                         cache (no query sent) or network\n"
    "  --debug                resolver debug logs on stderr\n"
    "commands, run in order on one resolver:\n"
    "  srv NAME               SRV, ordered: \"PRIORITY WEIGHT PORT TARGET TTL\" per target\n"
    "  addr HOST PORT         A then AAAA: \"ADDRESS PORT\" per address\n"
    "  addr4 HOST PORT        A only;  addr6 HOST PORT: AAAA only\n"
    "  burst N srv NAME       N identical SRV requests at once (also burst N addr...)\n"
    "  sleep MS               pause, the loop running\n"
    "  wait                   print \"# waiting\", go on after a line (or EOF) on stdin\n"
    "  stats                  print the resolver's counters\n"
    "A failed lookup prints its status (NXDOMAIN, NODATA, SERVFAIL, TIMEOUT, ERROR).\n"
    "Exit status: 0 every lookup OK, 2 some lookup failed, 1 usage or setup error.\n";

enum cmd_kind { CMD_SRV, CMD_ADDR, CMD_SLEEP, CMD_WAIT, CMD_STATS };

struct cmd {
    enum cmd_kind kind;
    const char *name;
    uint16_t port;
    int family;
    long count; /* burst size, or sleep milliseconds */
};

struct tool {
    struct event_base *base;
    struct resolver *r;
    struct cmd *cmds;
    int ncmds, next;
    int outstanding;
    bool in_step; /* step() is on the stack: results must not re-enter it */
    int failed;
    bool verbose;
    uint64_t queries_before;
    struct timespec t0;
    struct event *step_ev, *sleep_ev, *stdin_ev;
};

static void step(struct tool *t);

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The header of -v, and the bookkeeping every result shares. */
static void result_begin(struct tool *t, const char *what, int status, size_t n)
{
    struct resolver_stats st;
    const struct cmd *c = &t->cmds[t->next - 1];
    resolver_get_stats(t->r, &st);
    if (status != RESOLVER_OK)
        t->failed++;
    if (t->verbose)
        printf("# %s %s %s %zu %s %ldms\n", what, c->name, resolver_status_name(status), n,
               st.queries == t->queries_before ? "cache" : "network", elapsed_ms(&t->t0));
    if (status != RESOLVER_OK)
        printf("%s\n", resolver_status_name(status));
}

static void result_end(struct tool *t)
{
    fflush(stdout);
    if (--t->outstanding == 0 && !t->in_step)
        event_active(t->step_ev, 0, 0); /* go on from the loop, not from inside the resolver */
}

static void on_srv(void *arg, int status, const struct srv_target *tg, size_t n)
{
    struct tool *t = arg;
    result_begin(t, "srv", status, n);
    for (size_t i = 0; i < n; i++)
        printf("%u %u %u %s %u\n", tg[i].priority, tg[i].weight, tg[i].port, tg[i].host,
               (unsigned)tg[i].ttl);
    result_end(t);
}

static void on_addr(void *arg, int status, const struct sockaddr_storage *a, size_t n)
{
    struct tool *t = arg;
    char buf[INET6_ADDRSTRLEN];
    result_begin(t, "addr", status, n);
    for (size_t i = 0; i < n; i++) {
        if (a[i].ss_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)&a[i];
            inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
            printf("%s %u\n", buf, ntohs(sin->sin_port));
        } else {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a[i];
            inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
            printf("%s %u\n", buf, ntohs(sin6->sin6_port));
        }
    }
    result_end(t);
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    struct tool *t = arg;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 && !memchr(buf, '\n', (size_t)n))
        return; /* not a whole line yet */
    event_del(t->stdin_ev);
    step(t);
}

/* Runs commands until one has to wait for the loop; frees the resolver
 * after the last. */
static void step(struct tool *t)
{
    t->in_step = true;
    while (t->next < t->ncmds) {
        const struct cmd *c = &t->cmds[t->next++];
        struct resolver_stats st;
        switch (c->kind) {
        case CMD_SRV:
        case CMD_ADDR:
            resolver_get_stats(t->r, &st);
            t->queries_before = st.queries;
            clock_gettime(CLOCK_MONOTONIC, &t->t0);
            t->outstanding = (int)c->count;
            for (long i = 0; i < c->count; i++) {
                int rc = c->kind == CMD_SRV
                             ? resolver_srv(t->r, c->name, on_srv, t)
                             : resolver_addr(t->r, c->name, c->port, c->family, on_addr, t);
                if (rc < 0) {
                    fprintf(stderr, "ep-resolve: %s: request refused\n", c->name);
                    printf("ERROR\n");
                    t->failed++;
                    t->outstanding--;
                }
            }
            fflush(stdout);
            if (t->outstanding > 0) {
                t->in_step = false;
                return; /* the last result steps on */
            }
            break;
        case CMD_SLEEP: {
            struct timeval tv = {c->count / 1000, (c->count % 1000) * 1000};
            evtimer_add(t->sleep_ev, &tv);
            t->in_step = false;
            return;
        }
        case CMD_WAIT:
            printf("# waiting\n");
            fflush(stdout);
            if (event_add(t->stdin_ev, NULL) == 0) {
                t->in_step = false;
                return;
            }
            break; /* stdin cannot be watched (a regular file): nothing to wait for */
        case CMD_STATS:
            resolver_get_stats(t->r, &st);
            printf("stats requests=%llu queries=%llu cache_hits=%llu negative_hits=%llu "
                   "coalesced=%llu failures=%llu\n",
                   (unsigned long long)st.requests, (unsigned long long)st.queries,
                   (unsigned long long)st.cache_hits, (unsigned long long)st.negative_hits,
                   (unsigned long long)st.coalesced, (unsigned long long)st.failures);
            fflush(stdout);
            break;
        }
    }
    t->in_step = false;
    resolver_free(t->r);
    t->r = NULL;
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Parses argv[i..] into cmds; -1 on a usage error. */
static int parse_cmds(int argc, char **argv, int i, struct cmd *cmds, int *ncmds)
{
    int n = 0;
    while (i < argc) {
        struct cmd c = {.count = 1, .family = AF_UNSPEC};
        long v;
        const char *w = argv[i++];
        if (strcmp(w, "burst") == 0) {
            if (i >= argc || parse_num(argv[i++], 1, 100000, &c.count) < 0)
                return -1;
            if (i >= argc || (strcmp(argv[i], "srv") != 0 && strncmp(argv[i], "addr", 4) != 0))
                return -1;
            w = argv[i++];
        }
        if (strcmp(w, "srv") == 0) {
            if (i >= argc)
                return -1;
            c.kind = CMD_SRV;
            c.name = argv[i++];
        } else if (strcmp(w, "addr") == 0 || strcmp(w, "addr4") == 0 || strcmp(w, "addr6") == 0) {
            if (i + 1 >= argc || parse_num(argv[i + 1], 0, 65535, &v) < 0)
                return -1;
            c.kind = CMD_ADDR;
            c.family = w[4] == '4' ? AF_INET : w[4] == '6' ? AF_INET6 : AF_UNSPEC;
            c.name = argv[i];
            c.port = (uint16_t)v;
            i += 2;
        } else if (strcmp(w, "sleep") == 0) {
            if (i >= argc || parse_num(argv[i++], 0, 3600000, &c.count) < 0)
                return -1;
            c.kind = CMD_SLEEP;
            c.name = "sleep";
        } else if (strcmp(w, "wait") == 0) {
            c.kind = CMD_WAIT;
            c.name = "wait";
        } else if (strcmp(w, "stats") == 0) {
            c.kind = CMD_STATS;
            c.name = "stats";
        } else {
            return -1;
        }
        cmds[n++] = c;
    }
    *ncmds = n;
    return n > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"tries", required_argument, NULL, 'n'},
        {"negative-ttl-max", required_argument, NULL, 'N'},
        {"min-ttl", required_argument, NULL, 'm'},
        {"cache-max", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct resolver_opts o = {0};
    struct tool t = {0};
    bool debug = false;
    long v;
    int opt;
    while ((opt = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            o.servers = optarg;
            break;
        case 't':
        case 'n':
        case 'N':
        case 'm':
        case 'c':
            if (parse_num(optarg, 0, 100000000, &v) < 0) {
                fprintf(stderr, "ep-resolve: bad number \"%s\"\n%s", optarg, usage);
                return 1;
            }
            if (opt == 't')
                o.timeout_ms = (int)v;
            else if (opt == 'n')
                o.tries = (int)v;
            else if (opt == 'N')
                o.negative_ttl_max = (unsigned)v;
            else if (opt == 'm')
                o.min_ttl = (unsigned)v;
            else
                o.cache_max = (unsigned)v;
            break;
        case 'v':
            t.verbose = true;
            break;
        case 'd':
            debug = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 1;
        }
    }
    t.cmds = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*t.cmds));
    if (!t.cmds || parse_cmds(argc, argv, optind, t.cmds, &t.ncmds) < 0) {
        fputs(usage, stderr);
        free(t.cmds);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_init("ep-resolve", false, debug ? LOG_LVL_DEBUG : LOG_LVL_WARN);

    char err[256];
    t.base = event_base_new();
    if (!t.base || !(t.r = resolver_new(t.base, &o, err, sizeof(err)))) {
        fprintf(stderr, "ep-resolve: %s\n", t.base ? err : "cannot create the event loop");
        if (t.base)
            event_base_free(t.base);
        free(t.cmds);
        return 1;
    }
    t.step_ev = event_new(t.base, -1, 0, on_step, &t);
    t.sleep_ev = evtimer_new(t.base, on_step, &t);
    t.stdin_ev = event_new(t.base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, &t);
    step(&t);
    event_base_dispatch(t.base);
    resolver_free(t.r); /* if the loop ended early */
    event_free(t.step_ev);
    event_free(t.sleep_ev);
    event_free(t.stdin_ev);
    event_base_free(t.base);
    free(t.cmds);
    return t.failed ? 2 : 0;
}
