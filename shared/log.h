/* log.h -- one line per event: time, level, component, then the message.
 *
 * Goes to stderr (default) or syslog. The level can change at run time
 * (SIGUSR1 cycles it in the daemons). Callers say what happened, to whom
 * (peer address and domain) and what the peer gets back. */
#ifndef EP_LOG_H
#define EP_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* ident: program name for syslog; use_syslog: 0 = stderr. */
void log_init(const char *ident, bool use_syslog, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug"; returns -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

extern enum log_level log_current_level;
#define log_enabled(lvl) ((lvl) <= log_current_level)

#define LOG_ERROR(comp, ...) log_write(LOG_LVL_ERROR, comp, __VA_ARGS__)
#define LOG_WARN(comp, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_WARN))                                                             \
            log_write(LOG_LVL_WARN, comp, __VA_ARGS__);                                            \
    } while (0)
#define LOG_INFO(comp, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_INFO))                                                             \
            log_write(LOG_LVL_INFO, comp, __VA_ARGS__);                                            \
    } while (0)
#define LOG_DEBUG(comp, ...)                                                                       \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG))                                                            \
            log_write(LOG_LVL_DEBUG, comp, __VA_ARGS__);                                           \
    } while (0)

#endif
