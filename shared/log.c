/* log.c -- the logging sink: stderr with a timestamp, or syslog. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sys/time.h>
#include <time.h>

enum log_level log_current_level = LOG_LVL_INFO;
static bool log_to_syslog;
static const char *log_ident = "edgepool";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *ident, bool use_syslog, enum log_level level)
{
    log_ident = ident;
    log_to_syslog = use_syslog;
    log_current_level = level;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
    log_current_level = level;
}
enum log_level log_get_level(void)
{
    return log_current_level;
}
const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_LVL_DEBUG; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (log_to_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s %s: %s", level_names[level], component, msg);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000,
            log_ident, level_names[level], component, msg);
}
