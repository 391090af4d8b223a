/* policy_snapshot.c -- the local snapshot of the last policy applied from
 * Redis: atomic write, read at start (see policy_snapshot.h). */
#include "pool/policy_snapshot.h"

#include "atomic_file.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* text as libconfig string literals, one per line, with \ " and control
 * characters escaped. */
static void write_literals(FILE *f, const char *text)
{
    const char *p = text;
    if (!*p) {
        fputs("  \"\"", f);
        return;
    }
    while (*p) {
        fputs("  \"", f);
        for (; *p && *p != '\n'; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '"' || ch == '\\')
                fprintf(f, "\\%c", ch);
            else if (ch == '\t')
                fputs("\\t", f);
            else if (ch < 0x20 || ch == 0x7f)
                fprintf(f, "\\x%02x", ch);
            else
                fputc(ch, f);
        }
        if (*p == '\n') {
            fputs("\\n", f);
            p++;
        }
        fputs(*p ? "\"\n" : "\"", f);
    }
}

int policy_snapshot_write(const char *path, const char *pool, const char *node, uint64_t version,
                          const char *text, uint64_t written_ms, char *err, size_t errlen)
{
    char tmp[4200];
    FILE *f = atomic_file_open(path, tmp, sizeof(tmp), err, errlen);
    if (!f)
        return -1;
    fprintf(f,
            "# edge-node policy snapshot: the last policy this node applied from Redis\n"
            "# (ep:%s:policy). Read at start when Redis is unreachable; rewritten on\n"
            "# every change. Edit the pool's policy with edgectl, not this file.\n",
            pool);
    fprintf(f, "pool = \"%s\";\nnode = \"%s\";\nversion = %lluL;\nwritten_ms = %lluL;\ntext =\n",
            pool, node, (unsigned long long)version, (unsigned long long)written_ms);
    write_literals(f, text);
    fputs(";\n", f);
    return atomic_file_commit(f, tmp, path, err, errlen);
}

int policy_snapshot_read(const char *path, uint64_t *version, char **text, char *err, size_t errlen)
{
    *text = NULL;
    config_t cfg;
    config_init(&cfg);
    errno = 0;
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: %s", path, errno ? strerror(errno) : "cannot read");
        else
            snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&cfg),
                     config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    long long v = 0;
    const char *t = NULL;
    if (!config_lookup_int64(&cfg, "version", &v) || v < 0 ||
        !config_lookup_string(&cfg, "text", &t)) {
        snprintf(err, errlen, "%s: not a policy snapshot (version and text expected)", path);
        config_destroy(&cfg);
        return -1;
    }
    *version = (uint64_t)v;
    *text = strdup(t);
    config_destroy(&cfg);
    if (!*text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
