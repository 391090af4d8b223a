/* policy_text.c -- the federation policy as the text of a policy group's body
 * (see policy_text.h). */
#include "pool/policy_text.h"

#include <errno.h>
#include <libconfig.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federation/policy.h"

/* Parse s into cfg; 0, or -1 with "<string>:LINE: what" in err. */
static int parse(config_t *cfg, const char *s, char *err, size_t errlen)
{
    config_init(cfg);
    if (config_read_string(cfg, s))
        return 0;
    snprintf(err, errlen, "<string>:%d: %s", config_error_line(cfg), config_error_text(cfg));
    config_destroy(cfg);
    return -1;
}

struct policy *policy_from_text(const char *text, uint64_t version, char *err, size_t errlen)
{
    config_t cfg;
    /* a whole "policy = {...};" is used as it is; a body is wrapped in one,
     * on its first line so that line numbers stay the body's */
    if (parse(&cfg, text, err, errlen) < 0)
        return NULL;
    const config_setting_t *root = config_root_setting(&cfg);
    const config_setting_t *group = config_setting_get_member(root, "policy");
    if (!group || config_setting_type(group) != CONFIG_TYPE_GROUP ||
        config_setting_length(root) != 1) {
        config_destroy(&cfg);
        size_t len = strlen(text);
        char *wrapped = malloc(len + 32);
        if (!wrapped) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        snprintf(wrapped, len + 32, "policy = {%s\n};\n", text);
        int rc = parse(&cfg, wrapped, err, errlen);
        free(wrapped);
        if (rc < 0)
            return NULL;
        group = config_lookup(&cfg, "policy");
    }
    struct policy *p = policy_new();
    if (!p) {
        snprintf(err, errlen, "out of memory");
        config_destroy(&cfg);
        return NULL;
    }
    if (policy_load_config(p, group, err, errlen) < 0) {
        policy_free(p);
        config_destroy(&cfg);
        return NULL;
    }
    config_destroy(&cfg);
    policy_set_version(p, version);
    return p;
}

int policy_text_of_file(const char *path, char **text, char *err, size_t errlen)
{
    *text = NULL;
    config_t cfg;
    config_init(&cfg);
    char *dir = strdup(path);
    if (dir) {
        config_set_include_dir(&cfg, dirname(dir)); /* @include is relative to the file */
        free(dir);
    }
    errno = 0;
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     errno ? strerror(errno) : "I/O error");
        else
            snprintf(err, errlen, "%s:%d: %s",
                     config_error_file(&cfg) ? config_error_file(&cfg) : path,
                     config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    config_setting_t *root = config_root_setting(&cfg);
    if (!config_setting_get_member(root, "policy")) {
        config_destroy(&cfg);
        return 0;
    }
    /* keep only the policy group, write it out, and keep what its braces hold */
    for (int i = config_setting_length(root) - 1; i >= 0; i--) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        if (strcmp(config_setting_name(s), "policy") != 0)
            config_setting_remove_elem(root, (unsigned)i);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        snprintf(err, errlen, "out of memory");
        config_destroy(&cfg);
        return -1;
    }
    config_write(&cfg, mem);
    fclose(mem);
    config_destroy(&cfg);
    char *open = buf ? strchr(buf, '{') : NULL;
    char *close = buf ? strrchr(buf, '}') : NULL;
    if (!open || !close || close < open) {
        free(buf);
        snprintf(err, errlen, "%s: policy is not a group", path);
        return -1;
    }
    /* the body, without the blank line after '{' */
    open++;
    if (*open == '\n')
        open++;
    size_t body = (size_t)(close - open);
    memmove(buf, open, body);
    buf[body] = '\0';
    *text = buf;
    return 1;
}
