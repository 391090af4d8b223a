/* output.h -- edgectl's JSON writer: one valid document on a FILE.
 *
 * A streaming writer that places commas and escapes strings, so commands
 * write their document in the order they compute it. Keys are given inside
 * objects and NULL inside arrays. Human-readable output is plain printf in
 * each command; this is only the --json side. */
#ifndef EP_EDGECTL_OUTPUT_H
#define EP_EDGECTL_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_DEPTH 16

struct jw {
    FILE *f;
    int depth;
    bool first[JW_DEPTH]; /* nothing written yet at that level */
};

void jw_init(struct jw *w, FILE *f);
void jw_obj(struct jw *w, const char *key);                /* { */
void jw_end_obj(struct jw *w);                             /* } (and a newline at the top level) */
void jw_arr(struct jw *w, const char *key);                /* [ */
void jw_end_arr(struct jw *w);                             /* ] */
void jw_str(struct jw *w, const char *key, const char *v); /* NULL v writes null */
void jw_strn(struct jw *w, const char *key, const char *v, size_t len);
void jw_int(struct jw *w, const char *key, long long v);
void jw_uint(struct jw *w, const char *key, unsigned long long v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);

/* Write s as a JSON string literal (quotes included) on f. */
void jw_quote(FILE *f, const char *s, size_t len);

#endif
