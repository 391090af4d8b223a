/* config_table.c -- load, default, validate and document settings (see config_table.h). */
#include "config_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void *field(void *target, const struct cfg_key *k)
{
    return (char *)target + k->offset;
}

static int strlist_from_csv(struct cfg_strlist *l, const char *csv)
{
    l->v = NULL;
    l->n = 0;
    if (!csv || !*csv)
        return 0;
    char *copy = strdup(csv);
    if (!copy)
        return -1;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char **v = realloc(l->v, (size_t)(l->n + 1) * sizeof(char *));
        if (!v || !(v[l->n] = strdup(tok))) {
            free(v ? v : l->v);
            free(copy);
            return -1;
        }
        l->v = v;
        l->n++;
    }
    free(copy);
    return 0;
}

static void strlist_free(struct cfg_strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int cfg_table_defaults(const struct cfg_key *keys, void *target)
{
    for (const struct cfg_key *k = keys; k->path; k++) {
        void *f = field(target, k);
        switch (k->type) {
        case CFG_STR:
            *(char **)f = k->def ? strdup(k->def) : NULL;
            if (k->def && !*(char **)f)
                return -1;
            break;
        case CFG_INT:
            *(int *)f = k->def ? atoi(k->def) : 0;
            break;
        case CFG_BOOL:
            *(bool *)f = k->def && strcmp(k->def, "true") == 0;
            break;
        case CFG_STRLIST:
            if (strlist_from_csv(f, k->def) < 0)
                return -1;
            break;
        }
    }
    return 0;
}

void cfg_table_free(const struct cfg_key *keys, void *target)
{
    for (const struct cfg_key *k = keys; k->path; k++) {
        void *f = field(target, k);
        if (k->type == CFG_STR) {
            free(*(char **)f);
            *(char **)f = NULL;
        } else if (k->type == CFG_STRLIST) {
            strlist_free(f);
        }
    }
}

static const struct cfg_key *find_key(const struct cfg_key *keys, const char *path)
{
    for (const struct cfg_key *k = keys; k->path; k++)
        if (strcmp(k->path, path) == 0)
            return k;
    return NULL;
}

static bool is_group_prefix(const struct cfg_key *keys, const char *path)
{
    size_t n = strlen(path);
    for (const struct cfg_key *k = keys; k->path; k++)
        if (strncmp(k->path, path, n) == 0 && k->path[n] == '.')
            return true;
    return false;
}

static int where(char *err, size_t errlen, const config_setting_t *s, const char *path,
                 const char *what)
{
    const char *file = config_setting_source_file(s);
    snprintf(err, errlen, "%s:%u: %s: %s", file ? file : "(config)", config_setting_source_line(s),
             path, what);
    return -1;
}

static int load_one(const struct cfg_key *k, void *target, const config_setting_t *s,
                    const char *path, char *err, size_t errlen)
{
    void *f = field(target, k);
    int t = config_setting_type(s);
    switch (k->type) {
    case CFG_STR:
        if (t != CONFIG_TYPE_STRING)
            return where(err, errlen, s, path, "expected a string (in double quotes)");
        free(*(char **)f);
        *(char **)f = strdup(config_setting_get_string(s));
        return *(char **)f ? 0 : -1;
    case CFG_INT: {
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            return where(err, errlen, s, path, "expected an integer");
        long long v = config_setting_get_int64(s);
        if (v < k->min || v > k->max) {
            char what[96];
            snprintf(what, sizeof(what), "%lld is out of range %ld..%ld", v, k->min, k->max);
            return where(err, errlen, s, path, what);
        }
        *(int *)f = (int)v;
        return 0;
    }
    case CFG_BOOL:
        if (t != CONFIG_TYPE_BOOL)
            return where(err, errlen, s, path, "expected true or false");
        *(bool *)f = config_setting_get_bool(s);
        return 0;
    case CFG_STRLIST: {
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
            return where(err, errlen, s, path, "expected a list of strings: [ \"a\", \"b\" ]");
        struct cfg_strlist *l = f;
        strlist_free(l);
        int n = config_setting_length(s);
        l->v = calloc((size_t)(n ? n : 1), sizeof(char *));
        if (!l->v)
            return -1;
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return where(err, errlen, s, path, "every element must be a string");
            if (!(l->v[i] = strdup(config_setting_get_string(e))))
                return -1;
            l->n = i + 1;
        }
        return 0;
    }
    }
    return -1;
}

static int walk(const struct cfg_key *keys, void *target, const config_setting_t *group,
                const char *prefix, const char *const *foreign, char *err, size_t errlen)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char path[256];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", name ? name : "?");
        if (!*prefix && foreign) {
            bool skip = false;
            for (const char *const *g = foreign; *g; g++)
                skip |= strcmp(*g, path) == 0;
            if (skip)
                continue;
        }
        const struct cfg_key *k = find_key(keys, path);
        if (k) {
            if (load_one(k, target, s, path, err, errlen) < 0)
                return -1;
        } else if (config_setting_type(s) == CONFIG_TYPE_GROUP && is_group_prefix(keys, path)) {
            if (walk(keys, target, s, path, foreign, err, errlen) < 0)
                return -1;
        } else {
            return where(err, errlen, s, path, "unknown setting");
        }
    }
    return 0;
}

int cfg_table_load(const struct cfg_key *keys, void *target, const config_t *cfg,
                   const char *const *foreign, char *err, size_t errlen)
{
    return walk(keys, target, config_root_setting(cfg), "", foreign, err, errlen);
}

int cfg_table_load_file(const struct cfg_key *keys, void *target, size_t size, const char *path,
                        const char *const *foreign, char *err, size_t errlen)
{
    memset(target, 0, size);
    if (cfg_table_defaults(keys, target) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!path)
        return 0;
    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read the file", path);
        else
            snprintf(err, errlen, "%s:%d: %s",
                     config_error_file(&cfg) ? config_error_file(&cfg) : path,
                     config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    int rc = cfg_table_load(keys, target, &cfg, foreign, err, errlen);
    config_destroy(&cfg);
    return rc;
}

void cfg_table_print(const struct cfg_key *keys, FILE *out)
{
    const char *group = "";
    size_t glen = 0;
    for (const struct cfg_key *k = keys; k->path; k++) {
        const char *dot = strrchr(k->path, '.');
        size_t len = dot ? (size_t)(dot - k->path) : 0;
        if (len != glen || strncmp(group, k->path, len) != 0) {
            if (glen)
                fprintf(out, "};\n\n");
            fprintf(out, "%.*s = {\n", (int)len, k->path);
            group = k->path;
            glen = len;
        }
        fprintf(out, "  # %s\n", k->doc);
        const char *name = dot ? dot + 1 : k->path;
        const char *d = k->def ? k->def : "";
        switch (k->type) {
        case CFG_STR:
            fprintf(out, "  %s%s = \"%s\";\n", k->def ? "" : "# ", name, d);
            break;
        case CFG_INT:
            fprintf(out, "  %s = %s;\n", name, d);
            break;
        case CFG_BOOL:
            fprintf(out, "  %s = %s;\n", name, k->def ? d : "false");
            break;
        case CFG_STRLIST: {
            fprintf(out, "  %s = [", name);
            const char *p = d;
            bool first = true;
            while (*p) {
                const char *c = strchr(p, ',');
                size_t l = c ? (size_t)(c - p) : strlen(p);
                fprintf(out, "%s\"%.*s\"", first ? " " : ", ", (int)l, p);
                first = false;
                p += l + (c ? 1 : 0);
            }
            fprintf(out, " ];\n");
            break;
        }
        }
    }
    if (glen)
        fprintf(out, "};\n");
}
