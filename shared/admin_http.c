/* admin_http.c -- the admin HTTP server (evhttp): listener, allow list,
 * bearer token, routing, and the JSON and Prometheus text writers (see
 * admin_http.h). */
#include <sys/queue.h> /* TAILQ_INIT for evkeyvalq, before libevent defines its own */

#include "admin_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

#define ADMIN_MAX_ROUTES 32
#define ADMIN_MAX_ALLOW 64
#define ADMIN_MAX_BODY 16384
#define REFUSALS_LOGGED_PER_SEC 5

struct admin_route {
    char *path;
    unsigned flags;
    admin_handler cb;
    void *arg;
};

struct admin_http {
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;
    char addr[80];
    char component[32];
    struct admin_prefix allow[ADMIN_MAX_ALLOW];
    size_t n_allow;
    char *token; /* NULL: state-changing calls are off */
    struct admin_route routes[ADMIN_MAX_ROUTES];
    size_t n_routes;
    /* refusals are logged, at most REFUSALS_LOGGED_PER_SEC lines a second */
    time_t refused_log_sec;
    unsigned refused_logged;
    unsigned long refused_unlogged;
};

/* ---- prefixes ------------------------------------------------------------ */

int admin_prefix_parse(const char *spec, struct admin_prefix *out, char *err, size_t errlen)
{
    char host[64];
    const char *slash = strchr(spec, '/');
    size_t hl = slash ? (size_t)(slash - spec) : strlen(spec);
    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(err, errlen, "\"%s\" is not an address or address/prefix", spec);
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    memset(out, 0, sizeof(*out));
    unsigned max;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        snprintf(err, errlen, "\"%s\": \"%s\" is not a numeric IPv4 or IPv6 address", spec, host);
        return -1;
    }
    out->len = max;
    if (slash) {
        char *end;
        errno = 0;
        unsigned long l = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || errno || l > max) {
            snprintf(err, errlen, "\"%s\": the prefix length must be 0..%u", spec, max);
            return -1;
        }
        out->len = (unsigned)l;
    }
    /* clear the host bits: 127.0.0.1/8 is 127.0.0.0/8 */
    for (unsigned bit = out->len; bit < max; bit++)
        out->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return 0;
}

static bool prefix_has(const struct admin_prefix *p, int family, const unsigned char *a)
{
    if (p->family != family)
        return false;
    unsigned full = p->len / 8, rest = p->len % 8;
    if (memcmp(p->addr, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a[full] & mask) == p->addr[full];
}

bool admin_prefix_match(const struct admin_prefix *p, size_t n, const struct sockaddr *sa)
{
    int family;
    unsigned char a[16];
    if (sa->sa_family == AF_INET) {
        family = AF_INET;
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            memcpy(a, a6->s6_addr + 12, 4);
        } else {
            family = AF_INET6;
            memcpy(a, a6->s6_addr, 16);
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (prefix_has(&p[i], family, a))
            return true;
    return false;
}

/* ---- the server ---------------------------------------------------------- */

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void send_reply(struct evhttp_request *req, int status, const char *ctype,
                       struct evbuffer *body, bool close)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype ? ctype : "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (close)
        evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply(req, status, status_reason(status), body);
}

static void send_text(struct evhttp_request *req, int status, const char *text, bool close)
{
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add_printf(b, "%s\n", text);
    send_reply(req, status, NULL, b, close);
    if (b)
        evbuffer_free(b);
}

static void sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

/* The client's address. evhttp keeps it for accepted connections in 2.1.9+;
 * otherwise the numeric host evhttp_connection_get_peer gives is parsed. */
static bool peer_addr(struct evhttp_request *req, struct sockaddr_storage *ss)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (!conn)
        return false;
    const struct sockaddr *sa = evhttp_connection_get_addr(conn);
    memset(ss, 0, sizeof(*ss));
    if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
        memcpy(ss, sa,
               sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        return true;
    }
    char *host = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &host, &port);
    if (!host)
        return false;
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        return true;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        return true;
    }
    return false;
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return "other";
    }
}

/* A refusal, logged unless REFUSALS_LOGGED_PER_SEC lines were already this
 * second (a flood is not logged line by line; the next line says how many
 * went unlogged). */
static void log_refusal(struct admin_http *ah, const char *method, const char *path,
                        const char *peer, int status, const char *why)
{
    struct timeval tv;
    event_base_gettimeofday_cached(ah->base, &tv);
    if (tv.tv_sec != ah->refused_log_sec) {
        ah->refused_log_sec = tv.tv_sec;
        ah->refused_logged = 0;
    }
    if (ah->refused_logged >= REFUSALS_LOGGED_PER_SEC) {
        ah->refused_unlogged++;
        return;
    }
    ah->refused_logged++;
    char more[64] = "";
    if (ah->refused_unlogged)
        snprintf(more, sizeof(more), " (and %lu refusal(s) not logged before this one)",
                 ah->refused_unlogged);
    ah->refused_unlogged = 0;
    LOG_WARN(ah->component, "%s %.100s from %s refused %d: %s%s", method, path, peer, status, why,
             more);
}

/* "Bearer <token>" matching ours, compared in constant time. 0 ok, 401
 * missing, 403 wrong or no token configured. */
static int check_token(const struct admin_http *ah, struct evhttp_request *req, const char **why)
{
    if (!ah->token) {
        *why = "no admin.token configured: state-changing calls are off";
        return 403;
    }
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        *why = "no bearer token";
        return 401;
    }
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t tl = strlen(t), ol = strlen(ah->token);
    /* compare as much as the configured token either way: no early exit on length */
    bool same = tl == ol && CRYPTO_memcmp(t, ah->token, ol) == 0;
    if (tl != ol)
        (void)CRYPTO_memcmp(ah->token, ah->token, ol);
    if (!same) {
        *why = "wrong bearer token";
        return 403;
    }
    return 0;
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    struct admin_http *ah = arg;
    enum evhttp_cmd_type type = evhttp_request_get_command(req);
    const char *mname = method_name(type);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    struct sockaddr_storage ss;
    char peer[80] = "?";
    bool have_peer = peer_addr(req, &ss);
    if (have_peer)
        sockaddr_str((struct sockaddr *)&ss, peer, sizeof(peer));
    if (!have_peer || !admin_prefix_match(ah->allow, ah->n_allow, (struct sockaddr *)&ss)) {
        log_refusal(ah, mname, path, peer, 403, "source address not in admin.allow");
        send_text(req, 403, "forbidden: source address not allowed", true);
        return;
    }
    struct admin_route *rt = NULL;
    for (size_t i = 0; i < ah->n_routes && !rt; i++)
        if (strcmp(ah->routes[i].path, path) == 0)
            rt = &ah->routes[i];
    if (!rt) {
        LOG_DEBUG(ah->component, "%s %.100s from %s: 404", mname, path, peer);
        send_text(req, 404, "not found", false);
        return;
    }
    unsigned m = (type == EVHTTP_REQ_GET || type == EVHTTP_REQ_HEAD) ? ADMIN_GET
                 : type == EVHTTP_REQ_POST                           ? ADMIN_POST
                                                                     : 0;
    if (!(rt->flags & m)) {
        char allow[32];
        snprintf(allow, sizeof(allow), "%s%s%s", (rt->flags & ADMIN_GET) ? "GET, HEAD" : "",
                 (rt->flags & ADMIN_GET) && (rt->flags & ADMIN_POST) ? ", " : "",
                 (rt->flags & ADMIN_POST) ? "POST" : "");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        send_text(req, 405, "method not allowed", false);
        return;
    }
    if (rt->flags & ADMIN_AUTH) {
        const char *why = NULL;
        int st = check_token(ah, req, &why);
        if (st) {
            log_refusal(ah, mname, path, peer, st, why);
            if (st == 401)
                evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                                  "Bearer realm=\"edgepool-admin\"");
            send_text(req, st, st == 401 ? "unauthorized: bearer token required" : why, false);
            return;
        }
    }
    struct admin_req r = {
        .ah = ah, .req = req, .out = evbuffer_new(), .peer = peer, .path = path, .method = m};
    if (!r.out) {
        send_text(req, 500, "out of memory", true);
        return;
    }
    int status = rt->cb(&r, rt->arg);
    LOG_DEBUG(ah->component, "%s %.100s from %s: %d", mname, path, peer, status);
    send_reply(req, status, r.content_type, r.out, false);
    evbuffer_free(r.out);
}

static int set_access(struct admin_http *ah, const char *const *allow, size_t n_allow,
                      const char *token, char *err, size_t errlen)
{
    struct admin_prefix p[ADMIN_MAX_ALLOW];
    if (n_allow > ADMIN_MAX_ALLOW) {
        snprintf(err, errlen, "allow: at most %d entries", ADMIN_MAX_ALLOW);
        return -1;
    }
    for (size_t i = 0; i < n_allow; i++) {
        char why[200];
        if (admin_prefix_parse(allow[i], &p[i], why, sizeof(why)) < 0) {
            snprintf(err, errlen, "allow: %s", why);
            return -1;
        }
    }
    char *tok = NULL;
    if (token && *token && !(tok = strdup(token))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(ah->allow, p, n_allow * sizeof(p[0]));
    ah->n_allow = n_allow;
    if (ah->token) {
        OPENSSL_cleanse(ah->token, strlen(ah->token));
        free(ah->token);
    }
    ah->token = tok;
    return 0;
}

int admin_http_set_access(struct admin_http *ah, const char *const *allow, size_t n_allow,
                          const char *token, char *err, size_t errlen)
{
    return set_access(ah, allow, n_allow, token, err, errlen);
}

struct admin_http *admin_http_new(struct event_base *base, const struct admin_http_opts *o,
                                  char *err, size_t errlen)
{
    struct admin_http *ah = calloc(1, sizeof(*ah));
    if (!ah) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ah->base = base;
    snprintf(ah->component, sizeof(ah->component), "%s", o->component ? o->component : "admin");
    if (set_access(ah, o->allow, o->n_allow, o->token, err, errlen) < 0) {
        free(ah);
        return NULL;
    }
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (!o->listen || evutil_parse_sockaddr_port(o->listen, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(err, errlen, "listen: \"%s\" is not an address:port", o->listen ? o->listen : "");
        admin_http_free(ah);
        return NULL;
    }
    ah->listener = evconnlistener_new_bind(
        base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
        (struct sockaddr *)&ss, sl);
    if (!ah->listener) {
        snprintf(err, errlen, "cannot listen on %s: %s", o->listen, strerror(errno));
        admin_http_free(ah);
        return NULL;
    }
    struct sockaddr_storage bound = {0}; /* getsockname fills it; this tells the analyzer */
    socklen_t bl = sizeof(bound);
    if (getsockname(evconnlistener_get_fd(ah->listener), (struct sockaddr *)&bound, &bl) == 0)
        sockaddr_str((struct sockaddr *)&bound, ah->addr, sizeof(ah->addr));
    else
        snprintf(ah->addr, sizeof(ah->addr), "%s", o->listen);
    ah->http = evhttp_new(base);
    if (!ah->http || !evhttp_bind_listener(ah->http, ah->listener)) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", o->listen);
        if (ah->http) {
            evhttp_free(ah->http);
            ah->http = NULL;
        } else {
            evconnlistener_free(ah->listener);
        }
        ah->listener = NULL;
        admin_http_free(ah);
        return NULL;
    }
    ah->listener = NULL; /* owned by the evhttp now */
    evhttp_set_allowed_methods(ah->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(ah->http, 8192);
    evhttp_set_max_body_size(ah->http, ADMIN_MAX_BODY);
    evhttp_set_timeout(ah->http, 10);
    evhttp_set_gencb(ah->http, dispatch, ah);
    return ah;
}

void admin_http_free(struct admin_http *ah)
{
    if (!ah)
        return;
    if (ah->http)
        evhttp_free(ah->http); /* the bound listener and every connection */
    else if (ah->listener)
        evconnlistener_free(ah->listener);
    for (size_t i = 0; i < ah->n_routes; i++)
        free(ah->routes[i].path);
    if (ah->token) {
        OPENSSL_cleanse(ah->token, strlen(ah->token));
        free(ah->token);
    }
    free(ah);
}

int admin_http_route(struct admin_http *ah, const char *path, unsigned flags, admin_handler cb,
                     void *arg)
{
    if (ah->n_routes >= ADMIN_MAX_ROUTES)
        return -1;
    struct admin_route *r = &ah->routes[ah->n_routes];
    if (!(r->path = strdup(path)))
        return -1;
    r->flags = flags;
    r->cb = cb;
    r->arg = arg;
    ah->n_routes++;
    return 0;
}

const char *admin_http_addr(const struct admin_http *ah)
{
    return ah->addr;
}

static bool copy_out(const char *v, char *buf, size_t len)
{
    size_t l = strlen(v);
    if (l >= len)
        return false;
    memcpy(buf, v, l + 1);
    return true;
}

bool admin_req_param(struct admin_req *r, const char *name, bool bare, char *buf, size_t len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    if (q && evhttp_parse_query_str(q, &kv) == 0) {
        const char *v = evhttp_find_header(&kv, name);
        bool ok = v && copy_out(v, buf, len);
        evhttp_clear_headers(&kv);
        if (v)
            return ok;
    }
    evhttp_clear_headers(&kv);
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t bl = in ? evbuffer_get_length(in) : 0;
    if (bl == 0 || bl > ADMIN_MAX_BODY)
        return false;
    char *body = malloc(bl + 1);
    if (!body)
        return false;
    evbuffer_copyout(in, body, bl);
    body[bl] = '\0';
    /* trimmed */
    char *s = body, *e = body + bl;
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    bool found = false, ok = false;
    if (strchr(s, '=')) {
        TAILQ_INIT(&kv);
        if (evhttp_parse_query_str(s, &kv) == 0) {
            const char *v = evhttp_find_header(&kv, name);
            found = v != NULL;
            ok = v && copy_out(v, buf, len);
        }
        evhttp_clear_headers(&kv);
    } else if (bare && *s) {
        found = true;
        ok = copy_out(s, buf, len);
    }
    free(body);
    return found && ok;
}

/* ---- JSON ---------------------------------------------------------------- */

void json_init(struct json_w *w, struct evbuffer *b)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
}

/* The separator and the member name before a value. */
static void json_key(struct json_w *w, const char *key)
{
    if (w->depth > 0) {
        if (!w->first[w->depth - 1])
            evbuffer_add(w->b, ",", 1);
        w->first[w->depth - 1] = false;
    }
    if (key && w->depth > 0 && w->close[w->depth - 1] == '}') {
        json_escape(w->b, key, strlen(key));
        evbuffer_add(w->b, ":", 1);
    }
}

static void json_open(struct json_w *w, const char *key, char open, char close)
{
    json_key(w, key);
    evbuffer_add(w->b, &open, 1);
    if (w->depth < JSON_MAX_DEPTH) {
        w->close[w->depth] = close;
        w->first[w->depth] = true;
        w->depth++;
    }
}

void json_obj(struct json_w *w, const char *key)
{
    json_open(w, key, '{', '}');
}
void json_arr(struct json_w *w, const char *key)
{
    json_open(w, key, '[', ']');
}

void json_end(struct json_w *w)
{
    if (w->depth == 0)
        return;
    w->depth--;
    evbuffer_add(w->b, &w->close[w->depth], 1);
}

void json_strn(struct json_w *w, const char *key, const char *v, size_t len)
{
    json_key(w, key);
    json_escape(w->b, v, len);
}

void json_str(struct json_w *w, const char *key, const char *v)
{
    if (!v) {
        json_null(w, key);
        return;
    }
    json_strn(w, key, v, strlen(v));
}

void json_u64(struct json_w *w, const char *key, uint64_t v)
{
    json_key(w, key);
    evbuffer_add_printf(w->b, "%llu", (unsigned long long)v);
}

void json_i64(struct json_w *w, const char *key, int64_t v)
{
    json_key(w, key);
    evbuffer_add_printf(w->b, "%lld", (long long)v);
}

void json_f64(struct json_w *w, const char *key, double v)
{
    json_key(w, key);
    if (isnan(v) || isinf(v))
        evbuffer_add(w->b, "null", 4);
    else
        evbuffer_add_printf(w->b, "%.10g", v);
}

void json_bool(struct json_w *w, const char *key, bool v)
{
    json_key(w, key);
    evbuffer_add(w->b, v ? "true" : "false", v ? 4 : 5);
}

void json_null(struct json_w *w, const char *key)
{
    json_key(w, key);
    evbuffer_add(w->b, "null", 4);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t k;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        k = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        k = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        k = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

void json_escape(struct evbuffer *b, const char *v, size_t len)
{
    const unsigned char *p = (const unsigned char *)v, *end = p + len;
    evbuffer_add(b, "\"", 1);
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            evbuffer_add(b, run, (size_t)(p - run));
        if (p >= end)
            break;
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            evbuffer_add(b, e, 2);
            p++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n':
                evbuffer_add(b, "\\n", 2);
                break;
            case '\r':
                evbuffer_add(b, "\\r", 2);
                break;
            case '\t':
                evbuffer_add(b, "\\t", 2);
                break;
            default:
                evbuffer_add_printf(b, "\\u%04x", c);
            }
            p++;
        } else {
            size_t k = utf8_seq(p, (size_t)(end - p));
            if (k) {
                evbuffer_add(b, p, k);
                p += k;
            } else {
                evbuffer_add(b, "\\ufffd", 6);
                p++;
            }
        }
    }
    evbuffer_add(b, "\"", 1);
}

/* ---- Prometheus text format ---------------------------------------------- */

void prom_family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s ", name);
    for (const char *p = help ? help : ""; *p; p++) {
        if (*p == '\\')
            evbuffer_add(b, "\\\\", 2);
        else if (*p == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, p, 1);
    }
    evbuffer_add_printf(b, "\n# TYPE %s %s\n", name, type);
}

void prom_family_u64(struct evbuffer *b, const char *name, const char *type, const char *help,
                     uint64_t v)
{
    prom_family(b, name, type, help);
    prom_u64_l(b, name, NULL, v);
}

size_t prom_escape_label(char *buf, size_t len, const char *v)
{
    size_t o = 0;
    if (len == 0)
        return 0;
    for (const char *p = v ? v : ""; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '"')
            rep = "\\\"";
        else if (*p == '\n')
            rep = "\\n";
        size_t k = rep ? 2 : 1;
        if (o + k >= len) {
            buf[0] = '\0';
            return 0;
        }
        if (rep)
            memcpy(buf + o, rep, 2);
        else
            buf[o] = *p;
        o += k;
    }
    buf[o] = '\0';
    return o;
}

size_t prom_labels_vfmt(char *buf, size_t len, va_list ap)
{
    size_t o = 0;
    if (len == 0)
        return 0;
    buf[0] = '\0';
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        int w = snprintf(buf + o, len - o, "%s%s=\"", o ? "," : "", k);
        if (w < 0 || (size_t)w >= len - o)
            goto full;
        o += (size_t)w;
        size_t e = prom_escape_label(buf + o, len - o, v);
        if (e == 0 && v && *v)
            goto full;
        o += e;
        if (o + 2 > len)
            goto full;
        buf[o++] = '"';
        buf[o] = '\0';
    }
    return o;
full:
    buf[0] = '\0';
    return 0;
}

static void prom_value_f(struct evbuffer *b, double v)
{
    if (isnan(v))
        evbuffer_add(b, "NaN\n", 4);
    else if (isinf(v))
        evbuffer_add_printf(b, "%sInf\n", v > 0 ? "+" : "-");
    else
        evbuffer_add_printf(b, "%.10g\n", v);
}

void prom_u64_l(struct evbuffer *b, const char *name, const char *labels, uint64_t v)
{
    if (labels && *labels)
        evbuffer_add_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
    else
        evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

void prom_f64_l(struct evbuffer *b, const char *name, const char *labels, double v)
{
    if (labels && *labels)
        evbuffer_add_printf(b, "%s{%s} ", name, labels);
    else
        evbuffer_add_printf(b, "%s ", name);
    prom_value_f(b, v);
}

void prom_u64(struct evbuffer *b, const char *name, uint64_t v, ...)
{
    char labels[1024];
    va_list ap;
    va_start(ap, v);
    prom_labels_vfmt(labels, sizeof(labels), ap);
    va_end(ap);
    prom_u64_l(b, name, labels, v);
}

void prom_f64(struct evbuffer *b, const char *name, double v, ...)
{
    char labels[1024];
    va_list ap;
    va_start(ap, v);
    prom_labels_vfmt(labels, sizeof(labels), ap);
    va_end(ap);
    prom_f64_l(b, name, labels, v);
}
