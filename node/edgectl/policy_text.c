/* policy_text.c -- the policy's text form as an editable libconfig tree
 * (see policy_text.h): parse, write back, copy a file's policy group, judge
 * the result as a node would. */
#include "edgectl/policy_text.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "federation/policy.h"
#include "pool/policy_text.h"

/* Written back with ';' after each setting: the style of our sample files. */
static void setup(struct ptext *t)
{
    t->focus = NULL;
    config_init(&t->cfg);
    config_set_options(&t->cfg, CONFIG_OPTION_SEMICOLON_SEPARATORS);
}

int ptext_init(struct ptext *t, const char *text, char *err, size_t errlen)
{
    setup(t);
    if (!text || !*text)
        return 0;
    if (!config_read_string(&t->cfg, text)) {
        snprintf(err, errlen, "line %d: %s", config_error_line(&t->cfg),
                 config_error_text(&t->cfg));
        config_destroy(&t->cfg);
        return -1;
    }
    return 0;
}

void ptext_free(struct ptext *t)
{
    config_destroy(&t->cfg);
}

config_setting_t *ptext_root(struct ptext *t)
{
    return config_root_setting(&t->cfg);
}

/* Deep copy of src as a new member of dst (named when dst is a group). */
static int copy_setting(config_setting_t *dst, const config_setting_t *src)
{
    int type = config_setting_type(src);
    config_setting_t *d = config_setting_add(
        dst, config_setting_is_group(dst) ? config_setting_name(src) : NULL, type);
    if (!d)
        return -1;
    config_setting_set_format(d, config_setting_get_format(src));
    switch (type) {
    case CONFIG_TYPE_INT:
        return config_setting_set_int(d, config_setting_get_int(src)) ? 0 : -1;
    case CONFIG_TYPE_INT64:
        return config_setting_set_int64(d, config_setting_get_int64(src)) ? 0 : -1;
    case CONFIG_TYPE_FLOAT:
        return config_setting_set_float(d, config_setting_get_float(src)) ? 0 : -1;
    case CONFIG_TYPE_BOOL:
        return config_setting_set_bool(d, config_setting_get_bool(src)) ? 0 : -1;
    case CONFIG_TYPE_STRING:
        return config_setting_set_string(d, config_setting_get_string(src)) ? 0 : -1;
    default: /* group, list, array */
        for (int i = 0; i < config_setting_length(src); i++)
            if (copy_setting(d, config_setting_get_elem(src, (unsigned)i)) < 0)
                return -1;
        return 0;
    }
}

int ptext_from_file(struct ptext *t, const char *path, char *err, size_t errlen)
{
    config_t file;
    config_init(&file);
    char *dir = strdup(path);
    if (dir) {
        config_set_include_dir(&file, dirname(dir)); /* @include is relative to the file */
        free(dir);
    }
    errno = 0;
    if (!config_read_file(&file, path)) {
        if (config_error_type(&file) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     errno ? strerror(errno) : "I/O error");
        else
            snprintf(err, errlen, "%s:%d: %s",
                     config_error_file(&file) ? config_error_file(&file) : path,
                     config_error_line(&file), config_error_text(&file));
        config_destroy(&file);
        return -1;
    }
    const config_setting_t *group = config_lookup(&file, "policy");
    if (!group || !config_setting_is_group(group)) {
        snprintf(err, errlen, "%s has no policy group (policy = { ... };)", path);
        config_destroy(&file);
        return -1;
    }
    struct policy *p = policy_new();
    if (!p || policy_load_config(p, group, err, errlen) < 0) {
        if (!p)
            snprintf(err, errlen, "out of memory");
        policy_free(p);
        config_destroy(&file);
        return -1;
    }
    policy_free(p);
    setup(t);
    for (int i = 0; i < config_setting_length(group); i++)
        if (copy_setting(ptext_root(t), config_setting_get_elem(group, (unsigned)i)) < 0) {
            snprintf(err, errlen, "%s: cannot copy the policy group (out of memory?)", path);
            config_destroy(&file);
            ptext_free(t);
            return -1;
        }
    config_destroy(&file);
    return 0;
}

char *ptext_text(struct ptext *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    config_write(&t->cfg, f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

struct policy *ptext_policy(const char *text, char *err, size_t errlen)
{
    /* The nodes' own reader of the stored text (node/pool/policy_text.c). */
    char why[1024];
    struct policy *p = policy_from_text(text ? text : "", 0, why, sizeof why);
    if (p)
        return p;
    const char *m = why;
    if (strncmp(m, "<string>:", 9) == 0) { /* drop "<string>:LINE: " */
        const char *sp = strstr(m + 9, ": ");
        if (sp)
            m = sp + 2;
    }
    snprintf(err, errlen, "%s", m);
    return NULL;
}

struct policy *ptext_judge(struct ptext *t, char *err, size_t errlen)
{
    struct ptext o;
    setup(&o);
    config_setting_t *src = ptext_root(t), *dst = ptext_root(&o);
    const config_setting_t *last = t->focus ? config_setting_get_member(src, t->focus) : NULL;
    int rc = 0;
    for (int i = 0; i < config_setting_length(src) && rc == 0; i++) {
        const config_setting_t *m = config_setting_get_elem(src, (unsigned)i);
        if (m != last)
            rc = copy_setting(dst, m);
    }
    if (rc == 0 && last)
        rc = copy_setting(dst, last);
    char *text = rc == 0 ? ptext_text(&o) : NULL;
    ptext_free(&o);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct policy *p = ptext_policy(text, err, errlen);
    free(text);
    return p;
}

config_setting_t *ptext_list(struct ptext *t, const char *name, bool create)
{
    config_setting_t *root = ptext_root(t);
    config_setting_t *s = config_setting_get_member(root, name);
    if (!s)
        return create ? config_setting_add(root, name, CONFIG_TYPE_LIST) : NULL;
    if (config_setting_is_list(s))
        return s;
    if (!config_setting_is_array(s))
        return NULL;
    /* An array holds scalars only: rebuild it as a list with the same entries. */
    int n = config_setting_length(s);
    char **keep = calloc((size_t)n + 1, sizeof *keep);
    if (!keep)
        return NULL;
    for (int i = 0; i < n; i++) {
        const char *v = config_setting_get_string_elem(s, i);
        keep[i] = strdup(v ? v : "");
    }
    config_setting_remove(root, name);
    config_setting_t *l = config_setting_add(root, name, CONFIG_TYPE_LIST);
    for (int i = 0; i < n; i++) {
        if (l && keep[i]) {
            config_setting_t *e = config_setting_add(l, NULL, CONFIG_TYPE_STRING);
            if (e)
                config_setting_set_string(e, keep[i]);
        }
        free(keep[i]);
    }
    free(keep);
    return l;
}

/* a and b equal ignoring case, and (for names) one trailing dot on either. */
static bool same(const char *a, const char *b, bool domain)
{
    size_t la = strlen(a), lb = strlen(b);
    if (domain) {
        if (la && a[la - 1] == '.')
            la--;
        if (lb && b[lb - 1] == '.')
            lb--;
    }
    return la == lb && strncasecmp(a, b, la) == 0;
}

static const char *strip_sip(const char *s)
{
    return strncasecmp(s, "sip:", 4) == 0 ? s + 4 : s;
}

int ptext_find(const config_setting_t *list, const char *key, const char *value, bool domain)
{
    if (!list)
        return -1;
    bool user = strcmp(key, "user") == 0;
    if (user)
        value = strip_sip(value);
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        const char *v = NULL;
        if (config_setting_type(e) == CONFIG_TYPE_STRING)
            v = config_setting_get_string(e);
        else if (config_setting_is_group(e))
            config_setting_lookup_string(e, key, &v);
        if (v && same(user ? strip_sip(v) : v, value, domain))
            return i;
    }
    return -1;
}

/* The member name of grp with type: the existing one when it has that type
 * (set in place, keeping its position), else a new one (any other is removed). */
static config_setting_t *member(config_setting_t *grp, const char *name, int type)
{
    config_setting_t *s = config_setting_get_member(grp, name);
    if (s && config_setting_type(s) == type)
        return s;
    if (s)
        config_setting_remove(grp, name);
    return config_setting_add(grp, name, type);
}

int ptext_set_str(config_setting_t *grp, const char *name, const char *v)
{
    config_setting_t *s = member(grp, name, CONFIG_TYPE_STRING);
    return s && config_setting_set_string(s, v) ? 0 : -1;
}

int ptext_set_bool(config_setting_t *grp, const char *name, bool v)
{
    config_setting_t *s = member(grp, name, CONFIG_TYPE_BOOL);
    return s && config_setting_set_bool(s, v) ? 0 : -1;
}

int ptext_set_int(config_setting_t *grp, const char *name, long long v)
{
    if (v >= -2147483647LL - 1 && v <= 2147483647LL) {
        config_setting_t *s = member(grp, name, CONFIG_TYPE_INT);
        return s && config_setting_set_int(s, (int)v) ? 0 : -1;
    }
    config_setting_t *s = member(grp, name, CONFIG_TYPE_INT64);
    return s && config_setting_set_int64(s, v) ? 0 : -1;
}

void ptext_unset(config_setting_t *grp, const char *name)
{
    if (config_setting_get_member(grp, name))
        config_setting_remove(grp, name);
}

const char *ptext_norm_name(char *buf, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    if (n >= len)
        n = len - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)name[i]);
    buf[n] = '\0';
    return buf;
}
