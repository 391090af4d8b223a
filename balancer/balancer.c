/* balancer.c -- what the process context (balancer.h) offers every module:
 * the loop's clock. Kept out of main.c so unit tests and tools linking
 * libbalancer.a have it too. */
#include "balancer.h"

#include <sys/time.h>

uint64_t balancer_now_ms(const struct balancer *b)
{
    struct timeval tv;
    if (!b || !b->base || event_base_gettimeofday_cached(b->base, &tv) < 0)
        gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}
