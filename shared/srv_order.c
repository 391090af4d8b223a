/* srv_order.c -- RFC 2782 ordering of an SRV set: priorities ascending, and
 * within a priority the weighted random selection the RFC describes. Pure:
 * the randomness comes from the caller. */
#include "resolver.h"

#include <string.h>

/* A uniform integer in [0, bound), bound >= 1, by rejection (no modulo
 * bias). A degenerate rnd (always 0, say) cannot hang us: after a bounded
 * number of rejections the draw is taken as is. */
static uint64_t rnd_below(uint64_t bound, uint32_t (*rnd)(void *), void *arg)
{
    if (bound <= 1)
        return 0;
    if (bound <= UINT32_MAX) {
        uint32_t b = (uint32_t)bound;
        uint32_t threshold = (uint32_t)(-b) % b; /* 2^32 mod b */
        uint32_t x = rnd(arg);
        for (int i = 0; i < 64 && x < threshold; i++)
            x = rnd(arg);
        return x % b;
    }
    uint64_t threshold = (uint64_t)(-bound) % bound;
    uint64_t x = ((uint64_t)rnd(arg) << 32) | rnd(arg);
    for (int i = 0; i < 64 && x < threshold; i++)
        x = ((uint64_t)rnd(arg) << 32) | rnd(arg);
    return x % bound;
}

/* Moves t[from] to t[to] (to < from), shifting t[to..from-1] up by one so the
 * others keep their relative order. */
static void move_to(struct srv_target *t, size_t to, size_t from)
{
    if (from == to)
        return;
    struct srv_target tmp = t[from];
    memmove(&t[to + 1], &t[to], (from - to) * sizeof(*t));
    t[to] = tmp;
}

/* Orders t[lo, hi), all of one priority, by repeated weighted selection. */
static void order_priority(struct srv_target *t, size_t lo, size_t hi, uint32_t (*rnd)(void *),
                           void *arg)
{
    for (size_t pos = lo; pos + 1 < hi; pos++) {
        uint64_t total = 0;
        size_t first_zero = hi;
        for (size_t i = pos; i < hi; i++) {
            total += t[i].weight;
            if (t[i].weight == 0 && first_zero == hi)
                first_zero = i;
        }
        /* The RFC's list puts the weight-0 records first, so a draw of 0
         * picks the first of them (or the first record when there is none). */
        uint64_t draw = rnd_below(total + 1, rnd, arg);
        size_t pick = pos;
        if (draw == 0) {
            pick = first_zero < hi ? first_zero : pos;
        } else {
            uint64_t sum = 0;
            for (size_t i = pos; i < hi; i++) {
                sum += t[i].weight;
                if (t[i].weight && sum >= draw) {
                    pick = i;
                    break;
                }
            }
        }
        move_to(t, pos, pick);
    }
}

void srv_order(struct srv_target *t, size_t n, uint32_t (*rnd)(void *), void *rnd_arg)
{
    if (!t || n < 2)
        return;
    /* Stable insertion sort by priority: SRV sets are small and usually
     * arrive nearly sorted. */
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        while (j > 0 && t[j - 1].priority > t[i].priority)
            j--;
        move_to(t, j, i);
    }
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && t[hi].priority == t[lo].priority)
            hi++;
        if (hi - lo > 1)
            order_priority(t, lo, hi, rnd, rnd_arg);
        lo = hi;
    }
}
