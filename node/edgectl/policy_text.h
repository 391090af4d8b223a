/* policy_text.h -- the policy's text form as an editable libconfig tree.
 *
 * The pool's policy is stored in Redis as text: the body of a libconfig
 * "policy" group (policy_config.c's syntax), exactly what a node's
 * configuration file has between "policy = {" and "};". edgectl edits that
 * text as a tree (so entries keep every attribute it does not touch), writes
 * it back, and judges the result with policy_load_config, as a node will.
 * No I/O besides reading a seed file. */
#ifndef EP_EDGECTL_POLICY_TEXT_H
#define EP_EDGECTL_POLICY_TEXT_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

struct policy;

struct ptext {
    config_t cfg;      /* the root group is the policy group's body */
    const char *focus; /* the section the last edit touched (static), or NULL */
};

/* Parse body text (NULL or "" = an empty policy: Lync's defaults). 0, or -1
 * with "line N: what" in err (t is then freed already). */
int ptext_init(struct ptext *t, const char *text, char *err, size_t errlen);
/* The "policy" group of a configuration file (a node's), checked with
 * policy_load_config: err is "FILE:LINE: key: what" as the node says it. */
int ptext_from_file(struct ptext *t, const char *path, char *err, size_t errlen);
void ptext_free(struct ptext *t);
config_setting_t *ptext_root(struct ptext *t);
/* The body text (malloc'd, the caller frees), "" for an empty policy. NULL
 * on allocation failure. */
char *ptext_text(struct ptext *t);

/* The policy a node builds from body text (policy_from_text, the nodes' own
 * reader): NULL with err (the node's message, "policy.allowed_domains[1]:
 * ... is already blocked", its "<string>:LINE: " prefix dropped) when a node
 * would refuse it. The caller frees with policy_free. */
struct policy *ptext_policy(const char *text, char *err, size_t errlen);

/* The policy a node would build from t, judged with t->focus loaded last:
 * the node refuses a conflict at whichever entry comes second, so the entry
 * just edited is the one named ("policy.allowed_domains[3]: spam.test is
 * already blocked"). Sections load independently of their order, so this
 * changes only which entry a message names. NULL with err as ptext_policy. */
struct policy *ptext_judge(struct ptext *t, char *err, size_t errlen);

/* ---- tree helpers ---- */

/* The member list named name of the root: created (empty) when create and
 * absent; an array [ ... ] is turned into a list ( ... ) so it can hold
 * groups. NULL when absent (and !create) or not a list/array. */
config_setting_t *ptext_list(struct ptext *t, const char *name, bool create);
/* The index in list of the entry whose key (a string entry itself, or the
 * group's member key) equals value: case-insensitively, and for domains
 * (domain true) ignoring one trailing dot; users ignore a "sip:" prefix.
 * -1 if none. */
int ptext_find(const config_setting_t *list, const char *key, const char *value, bool domain);
/* Set a member of a group to a string / bool / int, replacing whatever is
 * there (of any type). 0 or -1. */
int ptext_set_str(config_setting_t *grp, const char *name, const char *v);
int ptext_set_bool(config_setting_t *grp, const char *name, bool v);
int ptext_set_int(config_setting_t *grp, const char *name, long long v);
/* Remove a member if present. */
void ptext_unset(config_setting_t *grp, const char *name);

/* Lower-case copy of a domain or FQDN without its trailing dot into buf. */
const char *ptext_norm_name(char *buf, size_t len, const char *name);

#endif
