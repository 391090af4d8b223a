/* atomic_file.c -- a temporary file renamed over the real one (see
 * atomic_file.h). */
#include "atomic_file.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

FILE *atomic_file_open(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
    if ((size_t)snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid()) >= tmplen) {
        snprintf(err, errlen, "%s: path too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    return f;
}

int atomic_file_commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
    int werr = ferror(f) ? (errno ? errno : EIO) : 0;
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
