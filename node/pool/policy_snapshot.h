/* policy_snapshot.h -- the node's local copy of the last policy it applied
 * from Redis, so that a node starting while Redis is unreachable runs the
 * pool's policy rather than its configuration file's.
 *
 * A libconfig file (readable, and valid as one):
 *   # edge-node policy snapshot ...
 *   pool = "sip.contoso.test"; node = "edge1"; version = 12L; written_ms = ...L;
 *   text = "access_edge = { ... };\n"
 *          "internal_domains = [ \"contoso.test\" ];\n";   (one literal per line)
 * text is the policy group's body (policy_text.h). Written atomically: a
 * temporary file in the same directory, fsync, rename. */
#ifndef EP_POOL_POLICY_SNAPSHOT_H
#define EP_POOL_POLICY_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

/* Write version and text to path (replacing it atomically). 0, or -1 with err. */
int policy_snapshot_write(const char *path, const char *pool, const char *node, uint64_t version,
                          const char *text, uint64_t written_ms, char *err, size_t errlen);

/* Read path: 0 with *version and *text (malloc'ed, the caller frees), or -1
 * with err (missing, unreadable, not a snapshot). */
int policy_snapshot_read(const char *path, uint64_t *version, char **text, char *err,
                         size_t errlen);

#endif
