/* daemon.h -- what edge-node and edge-balancer do alike between main() and
 * their event loop: the command line (-c FILE, -f, --check-config,
 * --print-config, --help, --version), the log and SIGPIPE, going to the
 * background, and the signal events on the loop: TERM and INT call the
 * daemon's stop, HUP its reload, USR1 cycles the log level (here).
 *
 * Each daemon keeps what is its own: its settings and their checks, its
 * start, reload and stop, its log lines. The caller owns struct
 * daemon_signals and frees its events with daemon_signals_free (before the
 * event base). */
#ifndef EP_DAEMON_H
#define EP_DAEMON_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>

/* A daemon as its command line shows it. */
struct daemon_desc {
    const char *name;                /* "edge-node": usage, --version, errors */
    const char *signals_help;        /* the usage's last line(s): "Signals: ...\n" */
    void (*print_config)(FILE *out); /* --print-config: every setting, default, meaning */
};

/* What the command line asked for. */
struct daemon_args {
    const char *config_path; /* -c FILE (points into argv); NULL: the embedded default */
    bool foreground;         /* -f: stay in the foreground */
    bool check;              /* --check-config: validate and exit */
};

/* Parse argv into a. Returns -1 when the daemon goes on, or the exit status
 * when the command line was all there was to do: 0 after --help, --version
 * or --print-config (on stdout), 2 after a bad option or argument (said on
 * stderr with the usage). */
int daemon_args_parse(const struct daemon_desc *d, int argc, char **argv, struct daemon_args *a);
/* A configuration refused at start or by --check-config: "NAME: err" on
 * stderr. Returns 1, the exit status. */
int daemon_config_refused(const struct daemon_desc *d, const char *err);
/* --check-config found nothing wrong: "PATH: configuration OK" (or
 * "(embedded default): ...") on stdout. Returns 0, the exit status. */
int daemon_config_ok(const char *path);

/* The log (syslog or stderr, at level, a name log_level_parse accepts: the
 * settings' check made sure) under the daemon's name; SIGPIPE ignored (a
 * peer closing is an error return, not a signal). */
void daemon_log_init(const struct daemon_desc *d, bool syslog, const char *level);
/* Unless foreground, go to the background (daemon(3): cwd "/", stdio
 * kept). 0, or -1 with the reason logged. */
int daemon_detach(bool foreground);

struct daemon_signals {
    struct event *term, *intr, *hup, *usr1;
};
/* Watch the four signals on base: TERM and INT call on_stop(sig, EV_SIGNAL,
 * arg), HUP on_reload; USR1 cycles the log level (error, warn, info, debug,
 * error...), saying so at WARN. 0, or -1 when an event could not be made
 * (what was made is freed by daemon_signals_free). */
int daemon_signals_add(struct daemon_signals *s, struct event_base *base, event_callback_fn on_stop,
                       event_callback_fn on_reload, void *arg);
/* Free the events (NULL ones are skipped); s is zeroed. */
void daemon_signals_free(struct daemon_signals *s);

#endif
