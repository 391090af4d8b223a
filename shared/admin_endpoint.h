/* admin_endpoint.h -- what edge-node's and edge-balancer's admin endpoints
 * do alike around the server of admin_http.h: start it from the daemon's
 * admin group (listen, allow, token; an empty listen means off), apply a
 * reloaded allow list and token (a new listen address waits for a restart,
 * said in the log), judge the group for --check-config, keep the start time
 * for /status, and serve POST /log-level.
 *
 * The daemon keeps a struct admin_endpoint inside its own admin state and
 * registers its own routes on e->http. The endpoint owns e->http and
 * e->listen (admin_endpoint_free releases them); it copies what it keeps of
 * the settings. */
#ifndef EP_ADMIN_ENDPOINT_H
#define EP_ADMIN_ENDPOINT_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "admin_http.h"
#include "config_table.h"

struct admin_endpoint {
    struct admin_http *http; /* NULL while off (admin.listen empty) or not started */
    char *listen;            /* admin.listen as started with: a change needs a restart */
    uint64_t start_wall_ms;  /* when it started, ms since the epoch */
    uint64_t start_mono_ms;  /* the same on the monotonic clock (uptime) */
};

/* The admin group's values, as --check-config judges them: listen an
 * address:port or empty, every allow entry an address or prefix. 0, or -1
 * with *key ("admin.listen", "admin.allow"), *index (the list element, or
 * -1) and the reason in why (without the key). */
int admin_settings_check(const char *listen, const struct cfg_strlist *allow, const char **key,
                         int *index, char *why, size_t whylen);

/* Note the start time, copy listen and, unless it is empty ("admin endpoint
 * off" is logged then, and 0 returned with e->http NULL), listen on it with
 * the allow list and the token. 0, or -1 with err ("admin endpoint: cannot
 * listen on ..."); free e with admin_endpoint_free either way. */
int admin_endpoint_start(struct admin_endpoint *e, struct event_base *base, const char *listen,
                         const struct cfg_strlist *allow, const char *token, char *err,
                         size_t errlen);
/* SIGHUP: the allow list and the token apply at once (a bad list is logged
 * and the running rules kept); a listen address other than the running one
 * is logged as waiting for the next restart. */
void admin_endpoint_reload(struct admin_endpoint *e, const char *listen,
                           const struct cfg_strlist *allow, const char *token);
/* Close the server and free what e holds (e itself is the caller's). */
void admin_endpoint_free(struct admin_endpoint *e);

/* Milliseconds since the epoch now, and whole seconds since e started. */
uint64_t admin_wall_ms(void);
uint64_t admin_endpoint_uptime_s(const struct admin_endpoint *e);

/* End a JSON reply: a newline after the document, the JSON content type;
 * returns status (for `return admin_reply_json(r, 200);`). */
int admin_reply_json(struct admin_req *r, int status);

/* POST /log-level's work: the level (admin_req_param "level", a bare body
 * too) becomes the process's log level, logged at WARN with who asked, and
 * the reply is {"log_level": new, "previous": old} with 200. When the level
 * is missing (ADMIN_LEVEL_MISSING) or not error|warn|info|debug
 * (ADMIN_LEVEL_BAD, asked then holds what was given), nothing is set or
 * written: the daemon answers 400 in its own words. */
enum { ADMIN_LEVEL_MISSING = -1, ADMIN_LEVEL_BAD = -2 };
int admin_log_level_call(struct admin_req *r, char *asked, size_t asked_len);

#endif
