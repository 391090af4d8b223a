/* admin_http.h -- a small HTTP admin server on the process's one event loop
 * (libevent's evhttp), shared by edge-node and edge-balancer, and the two
 * formats it speaks: JSON and the Prometheus text exposition format.
 *
 * The server owns the listener and the access rules; the daemon registers its
 * pages. Every request is first checked against the source-address allow list
 * (refused 403 and logged otherwise, whatever the path); a route registered
 * ADMIN_AUTH (a state-changing call) also needs "Authorization: Bearer
 * <token>" matching the configured token: missing 401, wrong 403, and with no
 * token configured every such call is refused 403 (state-changing calls are
 * off until an operator sets one). GET routes answer HEAD too. Unknown paths
 * 404, a method the route does not take 405 with Allow. Refusals are logged
 * (WARN, with the client's address), at most 5 lines a second: the next line
 * after a flood says how many went unlogged. */
#ifndef EP_ADMIN_HTTP_H
#define EP_ADMIN_HTTP_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- access: source-address prefixes ----------------------------------- */

struct admin_prefix {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network order, host bits cleared */
    unsigned len;           /* prefix length in bits */
};

/* Parse "192.0.2.1", "127.0.0.1/8", "::1", "2001:db8::/32" (host bits are
 * cleared: 127.0.0.1/8 means 127.0.0.0/8). Returns 0, or -1 with why in err. */
int admin_prefix_parse(const char *spec, struct admin_prefix *out, char *err, size_t errlen);
/* Whether sa (an IPv4-mapped IPv6 address counts as its IPv4 address) is in
 * one of the n prefixes. */
bool admin_prefix_match(const struct admin_prefix *p, size_t n, const struct sockaddr *sa);

/* ---- the server ---------------------------------------------------------- */

struct admin_http_opts {
    const char *listen;       /* "ip:port" ("[::1]:8080" for IPv6) */
    const char *const *allow; /* source prefixes (admin_prefix_parse syntax) */
    size_t n_allow;           /* 0: no source is allowed */
    const char *token;        /* bearer token for ADMIN_AUTH routes; NULL/"": none */
    const char *component;    /* log component, e.g. "admin" */
};

enum admin_route_flags {
    ADMIN_GET = 1u << 0,  /* GET and HEAD */
    ADMIN_POST = 1u << 1, /* POST */
    ADMIN_AUTH = 1u << 2, /* state-changing: the bearer token is required */
};

struct admin_http;

/* What a handler gets: write the body into out, set content_type (default
 * "text/plain; charset=utf-8") and return the HTTP status. */
struct admin_req {
    struct admin_http *ah;
    struct evhttp_request *req;
    struct evbuffer *out;
    const char *content_type;
    const char *peer; /* "ip:port" of the client, for logs */
    const char *path; /* the decoded path, without the query */
    unsigned method;  /* ADMIN_GET or ADMIN_POST */
};
typedef int (*admin_handler)(struct admin_req *r, void *arg);

/* Listen on o->listen (strings are copied). NULL with err ("cannot listen
 * on ...: reason", a bad allow entry). The caller frees with
 * admin_http_free. */
struct admin_http *admin_http_new(struct event_base *base, const struct admin_http_opts *o,
                                  char *err, size_t errlen);
/* Close the listener and every connection. NULL is a no-op. */
void admin_http_free(struct admin_http *ah);
/* Replace the allow list and the token (a reload). 0, or -1 with err (and the
 * old rules kept). */
int admin_http_set_access(struct admin_http *ah, const char *const *allow, size_t n_allow,
                          const char *token, char *err, size_t errlen);
/* Serve path (exact match) with cb for the methods in flags. 0 or -1. */
int admin_http_route(struct admin_http *ah, const char *path, unsigned flags, admin_handler cb,
                     void *arg);
/* The bound address, "ip:port" (the real port when the configured one was 0). */
const char *admin_http_addr(const struct admin_http *ah);

/* A request parameter: from the query string, else from a form body
 * ("a=b&c=d", application/x-www-form-urlencoded), else, when name is the
 * only thing the call takes (bare = true), the whole body trimmed ("debug").
 * Copied into buf (NUL-terminated). true when found and it fit. */
bool admin_req_param(struct admin_req *r, const char *name, bool bare, char *buf, size_t len);

/* ---- JSON ---------------------------------------------------------------- */

#define JSON_MAX_DEPTH 16

/* A streaming JSON writer into an evbuffer: objects and arrays nest, commas
 * are placed for the caller. key is the member name inside an object and
 * NULL inside an array or at the top. */
struct json_w {
    struct evbuffer *b;
    unsigned depth;
    char close[JSON_MAX_DEPTH]; /* '}' or ']' per open level */
    bool first[JSON_MAX_DEPTH]; /* nothing written yet at that level */
};

void json_init(struct json_w *w, struct evbuffer *b);
void json_obj(struct json_w *w, const char *key);
void json_arr(struct json_w *w, const char *key);
void json_end(struct json_w *w); /* closes the innermost object or array */
void json_str(struct json_w *w, const char *key, const char *v); /* NULL: null */
void json_strn(struct json_w *w, const char *key, const char *v, size_t len);
void json_u64(struct json_w *w, const char *key, uint64_t v);
void json_i64(struct json_w *w, const char *key, int64_t v);
void json_f64(struct json_w *w, const char *key, double v); /* NaN, Inf: null */
void json_bool(struct json_w *w, const char *key, bool v);
void json_null(struct json_w *w, const char *key);
/* v as a JSON string (quotes included): ", \ and control characters escaped;
 * bytes that are not UTF-8 are written as U+FFFD. */
void json_escape(struct evbuffer *b, const char *v, size_t len);

/* ---- Prometheus text format (version 0.0.4) ------------------------------ */

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help" (help escaped: \ and newline) and "# TYPE name type"
 * (type: "counter", "gauge", "untyped"...). Once per family, before its
 * samples. */
void prom_family(struct evbuffer *b, const char *name, const char *type, const char *help);
/* A family of one sample without labels: prom_family, then "name value". */
void prom_family_u64(struct evbuffer *b, const char *name, const char *type, const char *help,
                     uint64_t v);
/* One sample line: name{k1="v1",...} value. The labels are a NULL-terminated
 * list of name, value pairs (values escaped: \, " and newline; a NULL value
 * is written as ""). */
void prom_u64(struct evbuffer *b, const char *name, uint64_t v, ...) __attribute__((sentinel));
void prom_f64(struct evbuffer *b, const char *name, double v, ...) __attribute__((sentinel));
/* The same with the labels already formatted (prom_labels_fmt), or NULL. */
void prom_u64_l(struct evbuffer *b, const char *name, const char *labels, uint64_t v);
void prom_f64_l(struct evbuffer *b, const char *name, const char *labels, double v);
/* Format label pairs (name, value, ..., NULL as a va_list) as
 * k1="v1",k2="v2" into buf. Returns the length, or 0 when it did not fit. */
size_t prom_labels_vfmt(char *buf, size_t len, va_list ap);
/* Escape a label value (\ -> \\, " -> \", newline -> \n) into buf. Returns
 * the length, or 0 when it did not fit (and v was not empty). */
size_t prom_escape_label(char *buf, size_t len, const char *v);

#endif
