/* metrics.c -- the node's metrics registry: the SIP path's fixed counters,
 * labelled families, collectors (see metrics.h). */
#include "admin/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_http.h"
#include "hmap.h"
#include "sip/msg.h"

#define N_METHODS (SIP_M_SERVICE + 1)
#define N_CLASSES 6 /* 1xx .. 6xx */
#define LABELS_MAX 1024

struct series {
    struct series *next; /* in creation order */
    uint64_t u;          /* counter */
    double d;            /* gauge */
    char labels[];       /* formatted: k="v",... */
};

struct family {
    struct family *next;
    char *name, *help;
    enum metric_type type;
    struct hmap by_labels; /* labels -> struct series */
    struct series *first, *last;
    size_t n;
};

struct metrics {
    uint64_t req[2][2][N_METHODS];                /* dir, side, method */
    uint64_t resp[2][2][N_METHODS][N_CLASSES][2]; /* dir, side, method, class, local */
    struct hmap by_name;                          /* name -> struct family */
    struct family *first, *last;
    size_t n_families;
    struct {
        metrics_collect_cb cb;
        void *arg;
    } collectors[16];
    int n_collectors;
};

static const char *const side_names[2] = {"internal", "external"};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (hmap_init(&m->by_name, 64, false) < 0) {
        free(m);
        return NULL;
    }
    metrics_declare(m, "edgepool_policy_rejections_total", METRIC_COUNTER,
                    "Requests refused by federation or policy, by SIP status and reason phrase");
    metrics_declare(m, "edgepool_tls_handshake_failures_total", METRIC_COUNTER,
                    "TLS handshakes that failed, by side, direction and reason class");
    metrics_declare(m, "edgepool_discovered_partner_verdicts_total", METRIC_COUNTER,
                    "Discovered partners' requests judged by the throttle: ok, rate (503) or "
                    "contacts (403, watch list); decided_by pool (Redis counters) or node");
    /* placeholders the XMPP engine feeds (metrics.h) */
    metrics_declare(m, "edgepool_xmpp_streams_open", METRIC_GAUGE,
                    "XMPP server-to-server streams open, by direction");
    metrics_declare(m, "edgepool_xmpp_stanzas_total", METRIC_COUNTER,
                    "XMPP stanzas, by direction and kind (message, presence, iq)");
    return m;
}

static void family_free(struct family *f)
{
    struct series *s = f->first;
    while (s) {
        struct series *next = s->next;
        free(s);
        s = next;
    }
    hmap_destroy(&f->by_labels);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    struct family *f = m->first;
    while (f) {
        struct family *next = f->next;
        family_free(f);
        f = next;
    }
    hmap_destroy(&m->by_name);
    free(m);
}

static bool valid_name(const char *name)
{
    if (!name || !*name || (*name >= '0' && *name <= '9'))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == ':'))
            return false;
    return true;
}

static struct family *family_get(struct metrics *m, const char *name, enum metric_type type,
                                 const char *help, bool describe)
{
    struct family *f = hmap_get(&m->by_name, name, strlen(name));
    if (f) {
        if (f->type != type)
            return NULL;
        if (describe && help) {
            char *h = strdup(help);
            if (h) {
                free(f->help);
                f->help = h;
            }
        }
        return f;
    }
    if (!valid_name(name) || m->n_families >= METRICS_MAX_FAMILIES)
        return NULL;
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help || hmap_init(&f->by_labels, 16, false) < 0 ||
        hmap_put(&m->by_name, name, strlen(name), f) < 0) {
        free(f->name);
        free(f->help);
        if (f->by_labels.buckets)
            hmap_destroy(&f->by_labels);
        free(f);
        return NULL;
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    m->n_families++;
    return f;
}

int metrics_declare(struct metrics *m, const char *name, enum metric_type type, const char *help)
{
    if (!m)
        return -1;
    return family_get(m, name, type, help, true) ? 0 : -1;
}

/* The labels of ap formatted into buf; other: every value "other". */
static size_t labels_fmt(char *buf, size_t len, va_list ap, bool other)
{
    size_t o = 0;
    buf[0] = '\0';
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        char esc[512];
        if (other)
            v = "other";
        if (prom_escape_label(esc, sizeof(esc), v) == 0 && v && *v)
            snprintf(esc, sizeof(esc), "other"); /* too long to be a bounded value */
        int w = snprintf(buf + o, len - o, "%s%s=\"%s\"", o ? "," : "", k, esc);
        if (w < 0 || (size_t)w >= len - o) {
            buf[o] = '\0';
            break;
        }
        o += (size_t)w;
    }
    return o;
}

/* The series of f for the labels in ap (created, or the "other" one once
 * the family is full). NULL if out of memory. */
static struct series *series_get(struct family *f, va_list ap)
{
    char labels[LABELS_MAX];
    va_list ap2;
    va_copy(ap2, ap);
    size_t l = labels_fmt(labels, sizeof(labels), ap, false);
    struct series *s = hmap_get(&f->by_labels, labels, l);
    if (!s && f->n >= METRICS_MAX_SERIES) {
        l = labels_fmt(labels, sizeof(labels), ap2, true);
        s = hmap_get(&f->by_labels, labels, l);
    }
    va_end(ap2);
    if (s)
        return s;
    s = calloc(1, sizeof(*s) + l + 1);
    if (!s)
        return NULL;
    memcpy(s->labels, labels, l + 1);
    if (hmap_put(&f->by_labels, labels, l, s) < 0) {
        free(s);
        return NULL;
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->n++;
    return s;
}

void metrics_counter_add(struct metrics *m, const char *name, uint64_t v, ...)
{
    if (!m)
        return;
    struct family *f = family_get(m, name, METRIC_COUNTER, NULL, false);
    if (!f)
        return;
    va_list ap;
    va_start(ap, v);
    struct series *s = series_get(f, ap);
    va_end(ap);
    if (s)
        s->u += v;
}

static void gauge(struct metrics *m, const char *name, double v, bool add, va_list ap)
{
    struct family *f = family_get(m, name, METRIC_GAUGE, NULL, false);
    struct series *s = f ? series_get(f, ap) : NULL;
    if (s)
        s->d = add ? s->d + v : v;
}

void metrics_gauge_set(struct metrics *m, const char *name, double v, ...)
{
    if (!m)
        return;
    va_list ap;
    va_start(ap, v);
    gauge(m, name, v, false, ap);
    va_end(ap);
}

void metrics_gauge_add(struct metrics *m, const char *name, double v, ...)
{
    if (!m)
        return;
    va_list ap;
    va_start(ap, v);
    gauge(m, name, v, true, ap);
    va_end(ap);
}

double metrics_value(const struct metrics *m, const char *name, ...)
{
    if (!m)
        return 0;
    const struct family *f = hmap_get(&m->by_name, name, strlen(name));
    if (!f)
        return 0;
    char labels[LABELS_MAX];
    va_list ap;
    va_start(ap, name);
    size_t l = labels_fmt(labels, sizeof(labels), ap, false);
    va_end(ap);
    const struct series *s = hmap_get(&f->by_labels, labels, l);
    return !s ? 0 : f->type == METRIC_COUNTER ? (double)s->u : s->d;
}

int metrics_on_collect(struct metrics *m, metrics_collect_cb cb, void *arg)
{
    if (!m || m->n_collectors >= (int)(sizeof(m->collectors) / sizeof(m->collectors[0])))
        return -1;
    m->collectors[m->n_collectors].cb = cb;
    m->collectors[m->n_collectors].arg = arg;
    m->n_collectors++;
    return 0;
}

/* ---- the SIP path ------------------------------------------------------- */

static unsigned method_idx(int method)
{
    return method > 0 && method < N_METHODS ? (unsigned)method : 0;
}

void metrics_sip_request(struct metrics *m, enum metrics_dir dir, int side, int method)
{
    if (m)
        m->req[dir & 1][side & 1][method_idx(method)]++;
}

void metrics_sip_response(struct metrics *m, enum metrics_dir dir, int side, int method, int status,
                          bool local)
{
    if (!m || status < 100 || status > 699)
        return;
    m->resp[dir & 1][side & 1][method_idx(method)][status / 100 - 1][local ? 1 : 0]++;
}

uint64_t metrics_sip_requests(const struct metrics *m, enum metrics_dir dir)
{
    uint64_t t = 0;
    for (int s = 0; m && s < 2; s++)
        for (int k = 0; k < N_METHODS; k++)
            t += m->req[dir & 1][s][k];
    return t;
}

uint64_t metrics_sip_responses(const struct metrics *m, enum metrics_dir dir)
{
    uint64_t t = 0;
    for (int s = 0; m && s < 2; s++)
        for (int k = 0; k < N_METHODS; k++)
            for (int c = 0; c < N_CLASSES; c++)
                t += m->resp[dir & 1][s][k][c][0] + m->resp[dir & 1][s][k][c][1];
    return t;
}

static const char *method_label(unsigned k)
{
    const char *s = k ? sip_method_name((enum sip_method)k) : NULL;
    return s ? s : "other";
}

static void write_sip(const struct metrics *m, struct evbuffer *out)
{
    static const char *const req_names[2] = {"edgepool_sip_requests_received_total",
                                             "edgepool_sip_requests_relayed_total"};
    static const char *const req_help[2] = {
        "SIP requests received, by the side they came from and method",
        "SIP requests relayed, by the side they were sent to and method"};
    static const char *const resp_names[2] = {"edgepool_sip_responses_received_total",
                                              "edgepool_sip_responses_sent_total"};
    static const char *const resp_help[2] = {
        "SIP responses received, by the side they came from, CSeq method and status class",
        "SIP responses sent, by the side they were sent to, CSeq method, status class and "
        "origin (local: the node's own answer; relayed)"};
    static const char *const classes[N_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};
    for (int d = 0; d < 2; d++) {
        prom_family(out, req_names[d], "counter", req_help[d]);
        for (int s = 0; s < 2; s++)
            for (unsigned k = 0; k < N_METHODS; k++)
                if (m->req[d][s][k])
                    prom_u64(out, req_names[d], m->req[d][s][k], "side", side_names[s], "method",
                             method_label(k), NULL);
    }
    for (int d = 0; d < 2; d++) {
        prom_family(out, resp_names[d], "counter", resp_help[d]);
        for (int s = 0; s < 2; s++)
            for (unsigned k = 0; k < N_METHODS; k++)
                for (int c = 0; c < N_CLASSES; c++) {
                    const uint64_t *v = m->resp[d][s][k][c];
                    if (d == METRICS_RECEIVED) {
                        if (v[0] + v[1])
                            prom_u64(out, resp_names[d], v[0] + v[1], "side", side_names[s],
                                     "method", method_label(k), "class", classes[c], NULL);
                        continue;
                    }
                    for (int l = 0; l < 2; l++)
                        if (v[l])
                            prom_u64(out, resp_names[d], v[l], "side", side_names[s], "method",
                                     method_label(k), "class", classes[c], "origin",
                                     l ? "local" : "relayed", NULL);
                }
    }
}

void metrics_write(const struct metrics *m, struct evbuffer *out)
{
    if (!m)
        return;
    write_sip(m, out);
    for (const struct family *f = m->first; f; f = f->next) {
        prom_family(out, f->name, f->type == METRIC_COUNTER ? "counter" : "gauge", f->help);
        for (const struct series *s = f->first; s; s = s->next) {
            if (f->type == METRIC_COUNTER)
                prom_u64_l(out, f->name, s->labels, s->u);
            else
                prom_f64_l(out, f->name, s->labels, s->d);
        }
    }
    for (int i = 0; i < m->n_collectors; i++)
        m->collectors[i].cb(m->collectors[i].arg, out);
}

/* ---- decisions -------------------------------------------------------- */

void metrics_policy_reject(struct metrics *m, int status, const char *reason)
{
    if (!m)
        return;
    char st[8];
    snprintf(st, sizeof(st), "%d", status);
    metrics_counter_add(m, "edgepool_policy_rejections_total", 1, "status", st, "reason",
                        reason ? reason : "", NULL);
}

const char *metrics_tls_class(const char *r)
{
    if (!r || !*r)
        return "other";
    static const struct {
        const char *needle, *cls;
    } map[] = {
        {"not TLS", "not_tls"},
        {"no certificate", "no_certificate"},
        {"did not return a certificate", "no_certificate"},
        {"EKU", "missing_eku"},
        {"unsupported certificate purpose", "missing_eku"},
        {"has expired", "expired"},
        {"not yet valid", "not_yet_valid"},
        {"self-signed", "self_signed"},
        {"self signed", "self_signed"},
        {"unable to get local issuer", "unknown_ca"},
        {"unable to get issuer", "unknown_ca"},
        {"unable to verify the first certificate", "unknown_ca"},
        {"certificate revoked", "revoked"},
        {"CRL", "crl"},
        {"hostname mismatch", "name_mismatch"},
        {"does not match", "name_mismatch"},
        {"peer refused the handshake", "peer_alert"},
        {"alert", "peer_alert"},
        {"peer closed", "peer_closed"},
        {"unexpected eof", "peer_closed"},
        {"SSL routines", "protocol"},
        {"wrong version", "protocol"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strstr(r, map[i].needle))
            return map[i].cls;
    return "other";
}

void metrics_tls_failure(struct metrics *m, int side, bool outbound, const char *reason)
{
    if (!m)
        return;
    metrics_counter_add(m, "edgepool_tls_handshake_failures_total", 1, "side", side_names[side & 1],
                        "direction", outbound ? "out" : "in", "reason", metrics_tls_class(reason),
                        NULL);
}

void metrics_throttle_verdict(struct metrics *m, int verdict, bool pool)
{
    if (!m)
        return;
    static const char *const names[] = {"ok", "rate", "contacts"};
    metrics_counter_add(m, "edgepool_discovered_partner_verdicts_total", 1, "verdict",
                        verdict >= 0 && verdict <= 2 ? names[verdict] : "other", "decided_by",
                        pool ? "pool" : "node", NULL);
}
