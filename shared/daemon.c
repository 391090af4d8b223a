/* daemon.c -- command line, log, background and signal events for both
 * daemons (see daemon.h). Owns nothing past a call but the events of a
 * struct daemon_signals, until daemon_signals_free. */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#ifndef EDGEPOOL_VERSION
#define EDGEPOOL_VERSION "0.1.0"
#endif

static void usage(const struct daemon_desc *d, FILE *out)
{
    fprintf(out,
            "usage: %s [-c FILE] [-f] [--check-config] [--print-config]\n"
            "  -c, --config FILE   configuration file (default: the embedded default)\n"
            "  -f, --foreground    stay in the foreground (for systemd and tests)\n"
            "      --check-config  validate the configuration and exit (1 names the line)\n"
            "      --print-config  print every setting with its default and exit\n"
            "  -h, --help          this text\n"
            "  -v, --version       print the version\n"
            "%s",
            d->name, d->signals_help);
}

int daemon_args_parse(const struct daemon_desc *d, int argc, char **argv, struct daemon_args *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"foreground", no_argument, NULL, 'f'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"print-config", no_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'v'},
                                         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    int o;
    while ((o = getopt_long(argc, argv, "c:fhv", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'f':
            a->foreground = true;
            break;
        case 'C':
            a->check = true;
            break;
        case 'P':
            d->print_config(stdout);
            return 0;
        case 'h':
            usage(d, stdout);
            return 0;
        case 'v':
            printf("%s %s\n", d->name, EDGEPOOL_VERSION);
            return 0;
        default:
            usage(d, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", d->name, argv[optind]);
        usage(d, stderr);
        return 2;
    }
    return -1;
}

int daemon_config_refused(const struct daemon_desc *d, const char *err)
{
    fprintf(stderr, "%s: %s\n", d->name, err);
    return 1;
}

int daemon_config_ok(const char *path)
{
    printf("%s: configuration OK\n", path ? path : "(embedded default)");
    return 0;
}

void daemon_log_init(const struct daemon_desc *d, bool syslog, const char *level)
{
    log_init(d->name, syslog, (enum log_level)log_level_parse(level));
    signal(SIGPIPE, SIG_IGN);
}

int daemon_detach(bool foreground)
{
    if (!foreground && daemon(0, 1) < 0) {
        LOG_ERROR("main", "cannot daemonize: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void on_sigusr1(evutil_socket_t sig, short what, void *arg)
{
    enum log_level l = (enum log_level)((log_get_level() + 1) % (LOG_LVL_DEBUG + 1));
    log_set_level(l);
    log_write(LOG_LVL_WARN, "main", "log level is now %s", log_level_name(l));
}

int daemon_signals_add(struct daemon_signals *s, struct event_base *base, event_callback_fn on_stop,
                       event_callback_fn on_reload, void *arg)
{
    s->term = evsignal_new(base, SIGTERM, on_stop, arg);
    s->intr = evsignal_new(base, SIGINT, on_stop, arg);
    s->hup = evsignal_new(base, SIGHUP, on_reload, arg);
    s->usr1 = evsignal_new(base, SIGUSR1, on_sigusr1, NULL);
    struct event *evs[] = {s->term, s->intr, s->hup, s->usr1};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (!evs[i] || evsignal_add(evs[i], NULL) < 0)
            return -1;
    return 0;
}

void daemon_signals_free(struct daemon_signals *s)
{
    struct event *evs[] = {s->term, s->intr, s->hup, s->usr1};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    memset(s, 0, sizeof(*s));
}
