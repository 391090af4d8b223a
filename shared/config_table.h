/* config_table.h -- configuration as data: one table of keys, defaults, docs.
 *
 * A daemon describes its settings once (path in the libconfig file, type,
 * where it lands in the daemon's struct, default, allowed range, one line of
 * documentation). The same table loads a file, fills defaults when there is
 * none, rejects unknown keys with file:line, and prints the reference. */
#ifndef EP_CONFIG_TABLE_H
#define EP_CONFIG_TABLE_H

#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_STRLIST };

/* A list of strings owned by the config struct. */
struct cfg_strlist {
    char **v;
    int n;
};

struct cfg_key {
    const char *path; /* "group.key" */
    enum cfg_type type;
    size_t offset;   /* of a char *, int, bool or struct cfg_strlist in the target */
    const char *def; /* default as text: "5061", "true", "a,b" (list), NULL = unset */
    long min, max;   /* for CFG_INT */
    const char *doc;
};

/* Fill every key of target with its default. Returns 0 or -1 (allocation). */
int cfg_table_defaults(const struct cfg_key *keys, void *target);
/* Apply the settings of cfg over the defaults already in target. Groups named
 * in foreign (NULL-terminated) belong to someone else and are skipped. Unknown
 * keys, wrong types and out-of-range values fail with "FILE:LINE: key: what"
 * in err. Returns 0 or -1. */
int cfg_table_load(const struct cfg_key *keys, void *target, const config_t *cfg,
                   const char *const *foreign, char *err, size_t errlen);
/* Zero target (size bytes), fill the defaults, then, when path is not NULL,
 * read the file and apply it (cfg_table_load). -1 with "PATH: cannot read
 * the file", "FILE:LINE: the parser's reason" or cfg_table_load's error in
 * err (or "out of memory"); target then holds what was loaded: free it with
 * cfg_table_free either way. */
int cfg_table_load_file(const struct cfg_key *keys, void *target, size_t size, const char *path,
                        const char *const *foreign, char *err, size_t errlen);
/* Free what the table's strings and lists own in target. */
void cfg_table_free(const struct cfg_key *keys, void *target);
/* Print the reference: every key, its default and its doc, as a sample file. */
void cfg_table_print(const struct cfg_key *keys, FILE *out);

#endif
