/* policy_text.h -- the federation policy as text, the form the pool keeps it
 * in: the body of a libconfig "policy" group (what is between its braces),
 * as ep:<pool>:policy's "text" field and the local snapshot hold it.
 *
 * Shared by the Redis policy store (policy_redis.c), the snapshot
 * (policy_snapshot.c) and edgectl, so that all read and write one syntax:
 * the one policy_load_config() documents (node/federation/policy_config.c). */
#ifndef EP_POOL_POLICY_TEXT_H
#define EP_POOL_POLICY_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct policy;

/* Build a policy from text: a policy group's body ("access_edge = {...};
 * internal_domains = [...];"), or a whole "policy = { ... };" (accepted too).
 * The policy gets version. NULL with err ("<string>:LINE: policy.KEY: what")
 * if the text does not parse or the policy is refused; the caller frees a
 * policy with policy_free(). */
struct policy *policy_from_text(const char *text, uint64_t version, char *err, size_t errlen);

/* The body of the "policy" group of the configuration file path (@include
 * followed), as text policy_from_text() reads back. Returns 1 with *text
 * (malloc'ed, the caller frees), 0 when the file has no policy group (*text
 * NULL), -1 with err when the file cannot be read or parsed. */
int policy_text_of_file(const char *path, char **text, char *err, size_t errlen);

#endif
