/* loop.c -- edgectl's private event loop: run it until a condition holds or
 * a deadline passes. The CLI is a sequence of steps; each step starts async
 * work on the loop (Redis, DNS, TLS) and waits here for its callbacks. */
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "edgectl/edgectl.h"

static void wake(evutil_socket_t fd, short what, void *arg) {}

bool ctl_loop_run(struct ctl *c, bool (*cond)(void *), void *arg, uint64_t deadline_ms)
{
    struct event *t = evtimer_new(c->base, wake, NULL);
    if (!t)
        return cond(arg);
    while (!cond(arg)) {
        uint64_t now = ctl_mono_ms();
        if (now >= deadline_ms)
            break;
        uint64_t left = deadline_ms - now;
        struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
        evtimer_add(t, &tv);
        event_base_loop(c->base, EVLOOP_ONCE);
    }
    event_free(t);
    return cond(arg);
}

static bool flag_set(void *arg)
{
    return *(const bool *)arg;
}

bool ctl_loop_until(struct ctl *c, const bool *done, uint64_t deadline_ms)
{
    return ctl_loop_run(c, flag_set, (void *)done, deadline_ms);
}
