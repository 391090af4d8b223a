/* edgectl.h -- the operator's CLI: what its files share.
 *
 * One struct ctl per run: the global options, the private event loop, the
 * Redis client on it (opened on demand), and the output (human or one JSON
 * document). Commands are rows of the table in main.c; each gets its parsed
 * arguments (args.c) and returns an exit code: CTL_OK, CTL_FAIL (refused,
 * failed, unreachable), CTL_USAGE (bad arguments, nothing was touched). */
#ifndef EP_EDGECTL_H
#define EP_EDGECTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgectl/output.h"

struct event_base;
struct redis;

enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

#define CTL_DEFAULT_POOL "edgepool"
#define CTL_DEFAULT_REDIS "127.0.0.1:6379"
#define CTL_DEFAULT_TIMEOUT_MS 5000

/* Global options: command line over EDGEPOOL_REDIS_PASSWORD over -c FILE's
 * redis group over the defaults. Strings borrow from argv, the environment,
 * or own_strs (what the config file gave). */
struct ctl_opts {
    const char *redis_addr; /* "host:port" */
    const char *sentinels;  /* "host:port,host:port" or NULL */
    const char *master;     /* Sentinel's master name */
    const char *user, *password;
    const char *sentinel_user, *sentinel_password; /* AUTH at the sentinels */
    bool tls;
    const char *ca, *cert, *key; /* TLS to Redis */
    const char *tls_name;        /* the name Redis's certificate must carry */
    int db;
    const char *pool;
    const char *config; /* -c FILE: a node configuration */
    bool json;
    int timeout_ms; /* the whole run's Redis work, and each network step of diagnose */
};

/* One option a command (or the global table) accepts. */
enum ctl_opt_kind {
    OPT_FLAG,  /* --force */
    OPT_VALUE, /* --edge FQDN (or --edge=FQDN); the last one given wins */
    OPT_LIST,  /* --domain D, repeatable */
};
struct ctl_optdef {
    const char *name; /* without the dashes */
    char short_name;  /* 'c', or 0 */
    enum ctl_opt_kind kind;
    const char *metavar; /* "FQDN" */
    const char *doc;
};

#define CTL_MAX_OPTS 16
#define CTL_MAX_POS 32
#define CTL_MAX_LIST 64

/* A command's arguments after parsing: positionals, and per option (same
 * index as the command's ctl_optdef table) its value(s). Borrowed from argv. */
struct ctl_args {
    const char *pos[CTL_MAX_POS];
    int npos;
    const struct ctl_optdef *defs; /* the command's table, {NULL}-terminated */
    const char *val[CTL_MAX_OPTS]; /* OPT_VALUE: the value; OPT_FLAG: "1" when given */
    const char *list[CTL_MAX_OPTS][CTL_MAX_LIST];
    int nlist[CTL_MAX_OPTS];
};

struct ctl;
struct ctl_cmd {
    const char *group; /* "allowed" */
    const char *verb;  /* "add"; NULL for one-word commands ("sessions") */
    const char *args;  /* "DOMAIN [--edge FQDN] [--comment TEXT]" */
    const char *summary;
    const struct ctl_optdef *opts; /* {NULL}-terminated, or NULL */
    int min_pos, max_pos;          /* positional arguments after the command words */
    int (*run)(struct ctl *c, const struct ctl_args *a);
};

struct ctl {
    struct ctl_opts o;
    const struct ctl_cmd *cmd; /* the command being run (for usage lines) */
    struct event_base *base;
    struct redis *redis; /* NULL until ctl_redis_open */
    bool redis_up;
    uint64_t deadline_ms; /* monotonic: the Redis work must be done by then */
    struct jw out;        /* JSON writer on stdout when o.json */
    bool json_done;       /* a command printed its JSON document */
    bool quiet;           /* ctl_fail only keeps its message in last_err */
    char last_err[512];
    char *own_strs[16]; /* strings read from -c FILE, freed at exit */
    int n_own;
};

/* ---- args.c ---- */

/* Parse argv[0..argc) against defs (then the global options into c->o, which
 * may appear anywhere after the command words too). 0, or CTL_USAGE with a
 * one-line message printed. stop non-NULL: stop at the first positional
 * argument and store its index there (argc if none): the leading global
 * options before the command words. */
int ctl_args_parse(struct ctl *c, const struct ctl_optdef *defs, int argc, char **argv,
                   struct ctl_args *a, int *stop);
/* The value of option name, or NULL when not given. */
const char *ctl_arg(const struct ctl_args *a, const char *name);
bool ctl_flag(const struct ctl_args *a, const char *name);
/* Values of a repeatable option; *n gets the count. */
const char *const *ctl_arg_list(const struct ctl_args *a, const char *name, int *n);
/* "on|off|true|false|yes|no|1|0" -> 1 / 0; -1 if none of those. */
int ctl_parse_bool(const char *s);
/* Value checks (CTL_USAGE with the message printed, else 0). A domain or
 * FQDN: valid (policy_domain_valid), copied to out lower-cased without its
 * trailing dot. A free text (comment): printable, at most 512 bytes. An
 * enumerated value: parse (a policy.h *_parse) knows it; choices for the
 * message. */
int ctl_check_domain(struct ctl *c, const char *what, const char *v, char *out, size_t len);
int ctl_check_text(struct ctl *c, const char *what, const char *v);
int ctl_check_enum(struct ctl *c, const char *what, const char *v, int (*parse)(const char *),
                   const char *choices);
#define CTL_VERIFICATION_CHOICES "always_verifiable, always_unverifiable, use_source_verification"
#define CTL_NEGOTIATION_CHOICES "required, optional, not_supported"
/* The global options' table (for --help). */
extern const struct ctl_optdef ctl_global_opts[];

/* ---- main.c: messages and exit codes ---- */

/* "edgectl: MSG" on stderr, and in --json mode {"ok":false,"error":MSG} on
 * stdout unless the command already printed its document. Returns CTL_FAIL.
 * With c->quiet the message is only kept in c->last_err (a command that
 * reports the failure inside its own output). */
int ctl_fail(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with the running command's usage line; returns CTL_USAGE. */
int ctl_usage(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note for the operator on stderr ("edgectl: note: ..."), never in JSON. */
void ctl_note(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t ctl_now_ms(void);  /* wall clock, ms since the epoch */
uint64_t ctl_mono_ms(void); /* monotonic */

/* ---- ctl_config.c ---- */

/* Fill the options that the command line left unset from -c FILE's redis
 * group, the environment and the defaults. 0 or CTL_FAIL (file unreadable). */
int ctl_config_finish(struct ctl *c);

/* ---- loop.c: the private event loop ---- */

/* Run the loop until cond(arg) holds or the monotonic deadline_ms passes;
 * returns cond(arg). ctl_loop_until: until *done. */
bool ctl_loop_run(struct ctl *c, bool (*cond)(void *), void *arg, uint64_t deadline_ms);
bool ctl_loop_until(struct ctl *c, const bool *done, uint64_t deadline_ms);

#endif
