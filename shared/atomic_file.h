/* atomic_file.h -- write a file so that readers see the old content or the
 * new one, never a part: the new content goes to "<path>.tmp.<pid>", is
 * flushed and fsync'ed, then renamed over path. Used for the state files a
 * daemon starts from (the node's policy snapshot, the balancer's registry
 * cache).
 *
 *   char tmp[PATH_MAX];
 *   FILE *f = atomic_file_open(path, tmp, sizeof(tmp), err, errlen);
 *   if (!f) return -1;
 *   fprintf(f, ...);
 *   return atomic_file_commit(f, tmp, path, err, errlen);
 *
 * The FILE is the caller's between the two calls; atomic_file_commit always
 * closes it, and removes the temporary file when anything failed. */
#ifndef EP_ATOMIC_FILE_H
#define EP_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Open the temporary file for path (its name written to tmp). NULL with err
 * when the name does not fit or the file cannot be created. */
FILE *atomic_file_open(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen);

/* Flush, fsync and close f, then rename tmp over path. 0, or -1 with err
 * (tmp removed, path as it was). */
int atomic_file_commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen);

#endif
