/* registry_cache.c -- the nodes last read from the registry, in a file (see
 * registry_cache.h). */
#include "health/registry_cache.h"

#include "atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int registry_cache_write(const char *path, const char *pool, const struct registry_cache_entry *e,
                         size_t n, char *err, size_t errlen)
{
    char tmp[1100];
    FILE *f = atomic_file_open(path, tmp, sizeof(tmp), err, errlen);
    if (!f)
        return -1;
    fprintf(f, "# edge-balancer: the nodes of pool %s as last read from its Redis registry\n",
            pool);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %s %s\n", e[i].id, e[i].external, e[i].fqdn[0] ? e[i].fqdn : "-");
    return atomic_file_commit(f, tmp, path, err, errlen);
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
