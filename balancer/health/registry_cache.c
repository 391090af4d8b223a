/* registry_cache.c -- the nodes last read from the registry, in a file (see
 * registry_cache.h). */
#include "health/registry_cache.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int registry_cache_write(const char *path, const char *pool, const struct registry_cache_entry *e,
                         size_t n, char *err, size_t errlen)
{
    char tmp[1100];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "# edge-balancer: the nodes of pool %s as last read from its Redis registry\n",
            pool);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %s %s\n", e[i].id, e[i].external, e[i].fqdn[0] ? e[i].fqdn : "-");
    int werr = ferror(f) ? errno : 0;
    if (fflush(f) != 0 && !werr)
        werr = errno;
    if (!werr && fsync(fileno(f)) != 0)
        werr = errno;
    if (fclose(f) != 0 && !werr)
        werr = errno;
    if (werr) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(werr));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int registry_cache_read(const char *path, struct registry_cache_entry *out, size_t max, char *err,
                        size_t errlen)
{
    err[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            fclose(f);
            return -1;
        }
        if ((size_t)n >= max)
            break;
        struct registry_cache_entry *e = &out[n];
        char extra;
        if (sscanf(line, "%63s %95s %255s %c", e->id, e->external, e->fqdn, &extra) != 3) {
            snprintf(err, errlen, "%s:%d: not \"id external fqdn\"", path, lineno);
            fclose(f);
            return -1;
        }
        if (strcmp(e->fqdn, "-") == 0)
            e->fqdn[0] = '\0';
        n++;
    }
    fclose(f);
    return n;
}
