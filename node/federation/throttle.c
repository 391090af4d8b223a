/* throttle.c -- discovered-partner throttling: token buckets, contact sets,
 * the response monitor and the watch list (see throttle.h).
 *
 * Domains live in a strmap and on an LRU list (head = most recent) so idle
 * ones are dropped from the tail in O(1). A domain's contacts are a set of
 * 64-bit keyed hashes of the user names: 8 bytes a contact, no strings kept
 * (a collision would merely undercount by one, with odds near 2^-64). */
#include "federation/throttle.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

#define MILLI 1000u /* a token is 1000 milli-tokens: rate r refills r per ms */

struct hashset {
    uint64_t *slots; /* 0 = empty */
    uint32_t cap, count;
};

struct tdomain {
    char *name;
    struct tdomain *prev, *next; /* LRU */
    uint64_t last_ms;
    uint64_t tokens; /* milli-tokens */
    uint64_t refill_ms;
    uint64_t win_start_ms;
    uint32_t win_ok, win_fail;
    uint64_t suspicious_until_ms;
    struct hashset contacts;
};

struct throttle {
    unsigned rate;
    bool contacts_limit;
    unsigned max_contacts;
    uint64_t report_period_ms;
    struct throttle_limits lim;

    struct strmap *domains; /* name -> struct tdomain */
    struct tdomain *head, *tail;

    struct watch_entry *watch;
    size_t n_watch, cap_watch;
    struct strmap *watch_idx; /* name -> index + 1 */

    uint64_t report_at_ms;
    bool report_started;
};

/* ---- the contact set ---- */

static bool hs_has(const struct hashset *h, uint64_t k)
{
    if (!h->cap)
        return false;
    for (uint32_t i = (uint32_t)k & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        if (h->slots[i] == k)
            return true;
        if (h->slots[i] == 0)
            return false;
    }
}

static int hs_add(struct hashset *h, uint64_t k)
{
    if ((h->count + 1) * 4 > h->cap * 3) {
        uint32_t ncap = h->cap ? h->cap * 2 : 16;
        uint64_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (uint32_t i = 0; i < h->cap; i++) {
            if (!h->slots[i])
                continue;
            uint32_t j = (uint32_t)h->slots[i] & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = h->slots[i];
        }
        free(h->slots);
        h->slots = ns;
        h->cap = ncap;
    }
    uint32_t i = (uint32_t)k & (h->cap - 1);
    while (h->slots[i])
        i = (i + 1) & (h->cap - 1);
    h->slots[i] = k;
    h->count++;
    return 0;
}

/* ---- domains and the LRU ---- */

/* The ends are recognised by identity (the head has no prev, the tail no
 * next): dropping t->tail visibly moves t->tail, even to an analyzer. */
static void lru_unlink(struct throttle *t, struct tdomain *d)
{
    if (d == t->head)
        t->head = d->next;
    else
        d->prev->next = d->next;
    if (d == t->tail)
        t->tail = d->prev;
    else
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
}

static void lru_push_head(struct throttle *t, struct tdomain *d)
{
    d->next = t->head;
    d->prev = NULL;
    if (t->head)
        t->head->prev = d;
    t->head = d;
    if (!t->tail)
        t->tail = d;
}

static void domain_drop(struct throttle *t, struct tdomain *d)
{
    lru_unlink(t, d);
    strmap_del(t->domains, slice_cstr(d->name));
    free(d->contacts.slots);
    free(d->name);
    free(d);
}

static void expire_idle(struct throttle *t, uint64_t now_ms)
{
    while (t->tail && now_ms > t->tail->last_ms && now_ms - t->tail->last_ms > t->lim.idle_ms)
        domain_drop(t, t->tail);
}

static unsigned current_rate(const struct throttle *t, const struct tdomain *d, uint64_t now_ms)
{
    return now_ms < d->suspicious_until_ms ? t->lim.suspicious_rate : t->rate;
}

static void refill(const struct throttle *t, struct tdomain *d, uint64_t now_ms)
{
    unsigned rate = current_rate(t, d, now_ms);
    uint64_t capacity = (uint64_t)rate * MILLI;
    if (now_ms > d->refill_ms) {
        uint64_t elapsed = now_ms - d->refill_ms;
        d->tokens = elapsed >= MILLI ? capacity : d->tokens + elapsed * rate;
        d->refill_ms = now_ms;
    }
    if (d->tokens > capacity)
        d->tokens = capacity;
}

static struct slice strip_dot(struct slice s)
{
    if (s.len && s.p[s.len - 1] == '.')
        s.len--;
    return s;
}

static struct watch_entry *watch_find(const struct throttle *t, struct slice domain)
{
    void *v = strmap_get(t->watch_idx, domain);
    return v ? &t->watch[(uintptr_t)v - 1] : NULL;
}

static char *dup_lower(struct slice s)
{
    char *d = slice_dup(s);
    if (d)
        for (char *c = d; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
    return d;
}

static struct tdomain *domain_get(struct throttle *t, struct slice name, uint64_t now_ms)
{
    struct tdomain *d = strmap_get(t->domains, name);
    if (d) {
        lru_unlink(t, d);
        lru_push_head(t, d);
        d->last_ms = now_ms;
        return d;
    }
    while (t->tail && strmap_count(t->domains) >= t->lim.max_domains)
        domain_drop(t, t->tail);
    if (!(d = calloc(1, sizeof *d)))
        return NULL;
    if (!(d->name = dup_lower(name)) || strmap_put(t->domains, name, d, NULL) < 0) {
        free(d->name);
        free(d);
        return NULL;
    }
    d->last_ms = d->refill_ms = d->win_start_ms = now_ms;
    /* Forgotten but still watched as suspicious: keep holding it down. */
    const struct watch_entry *w = watch_find(t, name);
    if (w && w->suspicious_until_ms > now_ms)
        d->suspicious_until_ms = w->suspicious_until_ms;
    d->tokens = (uint64_t)current_rate(t, d, now_ms) * MILLI;
    lru_push_head(t, d);
    return d;
}

/* ---- the watch list ---- */

static void watch_entry_free(struct watch_entry *w)
{
    free((void *)w->domain);
    free((void *)w->cert_info);
}

static void watch_remove_at(struct throttle *t, size_t i)
{
    struct watch_entry *w = &t->watch[i];
    strmap_del(t->watch_idx, slice_cstr(w->domain));
    watch_entry_free(w);
    size_t last = --t->n_watch;
    if (i != last) {
        t->watch[i] = t->watch[last];
        strmap_put(t->watch_idx, slice_cstr(t->watch[i].domain), (void *)(uintptr_t)(i + 1),
                   NULL); /* replaces an existing key: cannot fail */
    }
}

/* Drop one entry to make room: the oldest not refused, else the oldest. */
static void watch_evict_one(struct throttle *t)
{
    size_t victim = SIZE_MAX;
    for (int pass = 0; pass < 2 && victim == SIZE_MAX; pass++)
        for (size_t i = 0; i < t->n_watch; i++)
            if ((pass == 1 || !t->watch[i].refused) &&
                (victim == SIZE_MAX || t->watch[i].last_ms < t->watch[victim].last_ms))
                victim = i;
    if (victim != SIZE_MAX)
        watch_remove_at(t, victim);
}

static void set_cert(struct watch_entry *w, const char *cert_info)
{
    if (!cert_info || (w->cert_info && strcmp(w->cert_info, cert_info) == 0))
        return;
    size_t n = strnlen(cert_info, THROTTLE_CERT_INFO_MAX);
    char *c = slice_dup(slice_from(cert_info, n));
    if (!c)
        return; /* keep the old description */
    free((void *)w->cert_info);
    w->cert_info = c;
}

/* Put domain on the watch list (or update it). NULL only when out of memory. */
static struct watch_entry *watch(struct throttle *t, struct slice domain, enum watch_reason why,
                                 const char *cert_info, uint64_t now_ms)
{
    struct watch_entry *w = watch_find(t, domain);
    if (!w) {
        while (t->n_watch && t->n_watch >= t->lim.max_watch)
            watch_evict_one(t);
        if (t->n_watch == t->cap_watch) {
            size_t ncap = t->cap_watch ? t->cap_watch * 2 : 16;
            void *nw = realloc(t->watch, ncap * sizeof *t->watch);
            if (!nw)
                return NULL;
            t->watch = nw;
            t->cap_watch = ncap;
        }
        char *name = dup_lower(domain);
        if (!name ||
            strmap_put(t->watch_idx, domain, (void *)(uintptr_t)(t->n_watch + 1), NULL) < 0) {
            free(name);
            return NULL;
        }
        w = &t->watch[t->n_watch++];
        *w = (struct watch_entry){.domain = name, .first_ms = now_ms};
    }
    w->reasons |= why;
    w->reason = why;
    w->last_ms = now_ms;
    w->events++;
    set_cert(w, cert_info);
    return w;
}

/* ---- public ---- */

void throttle_limits_default(struct throttle_limits *l)
{
    *l = (struct throttle_limits){
        .max_domains = 1024,
        .idle_ms = 60 * 60 * 1000,
        .window_ms = 60 * 1000,
        .min_responses = 50,
        .fail_percent = 80,
        .suspicious_hold_ms = 10 * 60 * 1000,
        .suspicious_rate = 1,
        .max_watch = 1024,
    };
}

struct throttle *throttle_new(const struct access_edge_settings *s)
{
    struct throttle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    throttle_limits_default(&t->lim);
    t->domains = strmap_new(true);
    t->watch_idx = strmap_new(true);
    if (!t->domains || !t->watch_idx) {
        throttle_free(t);
        return NULL;
    }
    throttle_apply_settings(t, s);
    return t;
}

void throttle_free(struct throttle *t)
{
    if (!t)
        return;
    while (t->head)
        domain_drop(t, t->head);
    for (size_t i = 0; i < t->n_watch; i++)
        watch_entry_free(&t->watch[i]);
    free(t->watch);
    strmap_free(t->domains);
    strmap_free(t->watch_idx);
    free(t);
}

void throttle_apply_settings(struct throttle *t, const struct access_edge_settings *s)
{
    t->rate = s->discovered_partner_standard_rate ? s->discovered_partner_standard_rate : 1;
    t->contacts_limit = s->enable_discovered_partner_contacts_limit;
    t->max_contacts = s->max_contacts_per_discovered_partner;
    t->report_period_ms = (uint64_t)s->discovered_partner_report_period_minutes * 60 * 1000;
}

void throttle_set_limits(struct throttle *t, const struct throttle_limits *l)
{
    t->lim = *l;
    if (t->lim.max_domains == 0)
        t->lim.max_domains = 1;
    if (t->lim.suspicious_rate == 0)
        t->lim.suspicious_rate = 1;
    while (t->tail && strmap_count(t->domains) > t->lim.max_domains)
        domain_drop(t, t->tail);
    while (t->n_watch > t->lim.max_watch)
        watch_evict_one(t);
}

enum throttle_verdict throttle_check(struct throttle *t, struct slice domain,
                                     struct slice internal_user, const char *cert_info,
                                     uint64_t now_ms)
{
    domain = strip_dot(domain);
    if (t->contacts_limit) {
        struct watch_entry *w = watch_find(t, domain);
        if (w && w->refused) {
            w->last_ms = now_ms;
            w->events++;
            return THROTTLE_CONTACTS;
        }
    }
    expire_idle(t, now_ms);
    struct tdomain *d = domain_get(t, domain, now_ms);
    if (!d)
        return THROTTLE_RATE;
    refill(t, d, now_ms);
    if (d->tokens < MILLI) {
        watch(t, domain, WATCH_RATE, cert_info, now_ms);
        return THROTTLE_RATE;
    }
    if (t->contacts_limit && !slice_empty(internal_user)) {
        uint64_t k = strmap_hash(internal_user, true);
        k += !k; /* 0 marks an empty slot */
        if (!hs_has(&d->contacts, k)) {
            if (d->contacts.count >= t->max_contacts) {
                struct watch_entry *w = watch(t, domain, WATCH_CONTACTS, cert_info, now_ms);
                if (w)
                    w->refused = true;
                return THROTTLE_CONTACTS;
            }
            if (hs_add(&d->contacts, k) < 0)
                return THROTTLE_RATE;
        }
    }
    d->tokens -= MILLI;
    return THROTTLE_OK;
}

bool throttle_status_is_failure(int status)
{
    if (status < 400)
        return false;
    switch (status) {
    case 401: /* challenges */
    case 407:
    case 408: /* our own timeout */
    case 480: /* the user is offline */
    case 486: /* busy */
    case 487: /* cancelled */
    case 491: /* glare */
    case 600: /* busy everywhere */
    case 603: /* declined by the user */
        return false;
    }
    return true;
}

void throttle_record_response(struct throttle *t, struct slice domain, int status, uint64_t now_ms)
{
    domain = strip_dot(domain);
    bool fail = throttle_status_is_failure(status);
    if (status < 200 || (status >= 400 && !fail))
        return;
    struct tdomain *d = strmap_get(t->domains, domain);
    if (!d)
        return;
    lru_unlink(t, d);
    lru_push_head(t, d);
    d->last_ms = now_ms;
    if (now_ms - d->win_start_ms >= t->lim.window_ms) {
        d->win_start_ms = now_ms;
        d->win_ok = d->win_fail = 0;
    }
    if (fail)
        d->win_fail++;
    else
        d->win_ok++;
    uint64_t total = (uint64_t)d->win_ok + d->win_fail;
    if (total >= t->lim.min_responses &&
        (uint64_t)d->win_fail * 100 >= total * t->lim.fail_percent) {
        refill(t, d, now_ms); /* settle the bucket at the old rate first */
        d->suspicious_until_ms = now_ms + t->lim.suspicious_hold_ms;
        refill(t, d, now_ms); /* clamp to the reduced burst */
        /* One watch event per verdict; restart the window so the next verdict
         * needs min_responses new ones. */
        d->win_start_ms = now_ms;
        d->win_ok = d->win_fail = 0;
        struct watch_entry *w = watch(t, domain, WATCH_SUSPICIOUS, NULL, now_ms);
        if (w)
            w->suspicious_until_ms = d->suspicious_until_ms;
    }
}

size_t throttle_watchlist(const struct throttle *t, const struct watch_entry **out)
{
    *out = t->watch;
    return t->n_watch;
}

int throttle_watch_remove(struct throttle *t, struct slice domain)
{
    void *v = strmap_get(t->watch_idx, strip_dot(domain));
    if (!v)
        return -1;
    watch_remove_at(t, (uintptr_t)v - 1);
    return 0;
}

bool throttle_report_due(struct throttle *t, uint64_t now_ms)
{
    if (!t->report_started) {
        t->report_started = true;
        t->report_at_ms = now_ms + t->report_period_ms;
        return false;
    }
    if (now_ms < t->report_at_ms)
        return false;
    t->report_at_ms = now_ms + t->report_period_ms;
    return true;
}

size_t throttle_domain_count(const struct throttle *t)
{
    return strmap_count(t->domains);
}

size_t throttle_contacts(const struct throttle *t, struct slice domain)
{
    const struct tdomain *d = strmap_get(t->domains, strip_dot(domain));
    return d ? d->contacts.count : 0;
}

bool throttle_is_suspicious(const struct throttle *t, struct slice domain, uint64_t now_ms)
{
    const struct tdomain *d = strmap_get(t->domains, strip_dot(domain));
    return d && now_ms < d->suspicious_until_ms;
}
