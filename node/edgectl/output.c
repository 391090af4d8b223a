/* output.c -- edgectl's JSON writer (see output.h): commas, nesting, escapes. */
#include "edgectl/output.h"

#include <string.h>

void jw_init(struct jw *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->first[0] = true;
}

void jw_quote(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            /* Control bytes escaped; bytes >= 0x80 passed through (UTF-8 in,
             * UTF-8 out; Redis values are binary-safe, ours are ASCII). */
            if (ch < 0x20 || ch == 0x7f)
                fprintf(f, "\\u%04x", ch);
            else
                fputc(ch, f);
        }
    }
    fputc('"', f);
}

/* The separator and key before a value at the current level. */
static void before(struct jw *w, const char *key)
{
    if (!w->first[w->depth])
        fputc(',', w->f);
    w->first[w->depth] = false;
    if (key) {
        jw_quote(w->f, key, strlen(key));
        fputc(':', w->f);
    }
}

static void open_(struct jw *w, const char *key, char ch)
{
    before(w, key);
    fputc(ch, w->f);
    if (w->depth < JW_DEPTH - 1)
        w->depth++;
    w->first[w->depth] = true;
}

static void close_(struct jw *w, char ch)
{
    fputc(ch, w->f);
    if (w->depth > 0)
        w->depth--;
    if (w->depth == 0)
        fputc('\n', w->f);
}

void jw_obj(struct jw *w, const char *key)
{
    open_(w, key, '{');
}
void jw_end_obj(struct jw *w)
{
    close_(w, '}');
}
void jw_arr(struct jw *w, const char *key)
{
    open_(w, key, '[');
}
void jw_end_arr(struct jw *w)
{
    close_(w, ']');
}

void jw_strn(struct jw *w, const char *key, const char *v, size_t len)
{
    before(w, key);
    if (v)
        jw_quote(w->f, v, len);
    else
        fputs("null", w->f);
}

void jw_str(struct jw *w, const char *key, const char *v)
{
    jw_strn(w, key, v, v ? strlen(v) : 0);
}

void jw_int(struct jw *w, const char *key, long long v)
{
    before(w, key);
    fprintf(w->f, "%lld", v);
}

void jw_uint(struct jw *w, const char *key, unsigned long long v)
{
    before(w, key);
    fprintf(w->f, "%llu", v);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    before(w, key);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
    before(w, key);
    fputs("null", w->f);
}
