/* lockrank.c: the per-thread record of held locks behind the lock-order
 * checks (see lockrank.h for the order and its rules).  Debug and
 * sanitizer builds only; release builds compile nothing here.
 *
 * The record is a small stack per thread, newest last.  A select may hold
 * up to UVGO_SELECT_MAX channel locks at once, more than the record has
 * room for: past HELD_MAX, locks of a MULTI rank merge into the newest
 * entry, which then stands for `count` locks, remembers the highest
 * address taken (all a later one must exceed) and no longer tells them
 * apart.  No other lock is ever taken on top of them (CHAN is a leaf).
 */
#include "base/common.h"

#if UVGO_CHECKS

#define HELD_MAX 16

struct held {
    const void *lock; /* a merged entry: the last (highest) one taken */
    int rank;
    int count;  /* how many locks the entry stands for */
    int merged; /* stands for locks of its rank, not for `lock` */
};

static __thread struct held held[HELD_MAX];
static __thread int nheld;

static const struct {
    const char *name;
    int flags;
} ranks[UVGO_RANK_COUNT] = {{"none", 0},
#define UVGO_RANK_INFO_(name, flags) {#name, flags},
                            UVGO_LOCK_RANKS(UVGO_RANK_INFO_)
#undef UVGO_RANK_INFO_
};

static const char *rank_name(int rank)
{
    return rank > 0 && rank < UVGO_RANK_COUNT ? ranks[rank].name : "?";
}

void uvgo__rank_acquire(const void *lock, int rank)
{
    int flags;

    if (rank <= UVGO_RANK_NONE || rank >= UVGO_RANK_COUNT)
        uvgo__panic("lock %p taken with no rank (%d)", lock, rank);
    flags = ranks[rank].flags;
    for (int i = 0; i < nheld; i++) {
        const struct held *h = &held[i];
        if (h->lock == lock)
            uvgo__panic("lock order: %s lock %p taken twice by one thread",
                        rank_name(rank), lock);
        if (rank > h->rank && !(ranks[h->rank].flags & UVGO_RANK_LEAF))
            continue;
        if (rank == h->rank && (flags & UVGO_RANK_MULTI) &&
            (uintptr_t)lock > (uintptr_t)h->lock)
            continue;
        uvgo__panic("lock order: taking %s lock %p while holding %s lock "
                    "%p%s (base/lockrank.h)",
                    rank_name(rank), lock, rank_name(h->rank), h->lock,
                    rank == h->rank ? ", out of address order"
                    : (ranks[h->rank].flags & UVGO_RANK_LEAF) ? ", a leaf"
                                                              : "");
    }
    if (nheld < HELD_MAX) {
        held[nheld].lock = lock;
        held[nheld].rank = rank;
        held[nheld].count = 1;
        held[nheld].merged = 0;
        nheld++;
        return;
    }
    if (held[HELD_MAX - 1].rank == rank && (flags & UVGO_RANK_MULTI)) {
        held[HELD_MAX - 1].lock = lock;
        held[HELD_MAX - 1].count++;
        held[HELD_MAX - 1].merged = 1;
        return;
    }
    uvgo__panic("lock order: more than %d locks held by one thread (taking "
                "%s lock %p)",
                HELD_MAX, rank_name(rank), lock);
}

void uvgo__rank_release(const void *lock)
{
    struct held *top;

    for (int i = nheld; i-- > 0;) {
        if (held[i].lock != lock || held[i].merged)
            continue;
        for (; i + 1 < nheld; i++)
            held[i] = held[i + 1];
        nheld--;
        return;
    }
    /* Not recorded on its own: one of the locks a merged entry stands
     * for. */
    top = nheld ? &held[nheld - 1] : NULL;
    if (top && top->merged) {
        if (--top->count == 0)
            nheld--;
        return;
    }
    uvgo__panic("lock order: lock %p released by a thread that does not "
                "hold it",
                lock);
}

int uvgo__rank_held(const void *lock)
{
    for (int i = 0; i < nheld; i++)
        if (held[i].lock == lock || held[i].merged)
            return 1;
    return 0;
}

int uvgo__rank_count(void)
{
    int n = 0;
    for (int i = 0; i < nheld; i++)
        n += held[i].count;
    return n;
}

#else
typedef int uvgo__lockrank_off; /* not an empty translation unit */
#endif /* UVGO_CHECKS */
