/* wait.h: parking tasks on the sync primitives (src/sync, src/xsync).
 *
 * A primitive that can block keeps a uvgo__parkq_t (uvgo/sync.h): a
 * spinlock, a FIFO of waiters and a 32-bit state word for the primitive's
 * own use.  A parked task is a waiter (runtime/waiter.h) on its own stack,
 * with its own claim word, as channel waiters are (blocking never
 * allocates):
 *
 *     waiter                              waker (any thread)
 *     ------                              -----
 *     lock q; check state; link w         lock q; w = uvgo__waiter_take()
 *     unlock q; park ........... wake .... (unlinks w, wins its claim: 1)
 *                                         w->given = ...
 *                                         unlock q; ready(w->task)
 *
 * Contexts.  A waiter bounded by a context parks in uvgo__park_or_done(),
 * where the context's Done channel races the waker for the claim: the
 * context wins with 2, a waker with 1, and exactly one of them wins.  A
 * waker that loses (the waiter gave up) unlinks the waiter and moves on to
 * the next; so a grant (a lock hand-off, semaphore weight) never goes to a
 * waiter that has given up, and nothing ever needs giving back.  A waiter
 * whose context won re-takes q's lock before it returns (a waker may still
 * be looking at it), unlinks itself if no waker did (uvgo__list_contains),
 * and repairs the primitive's state (clears a "waiters" flag, lets later
 * waiters in).
 *
 * Locking.  q's lock (rank PARKQ, a leaf: base/lockrank.h) guards the list
 * and whatever the primitive says; it is held for a few dozen instructions
 * and never across a park, an allocation or a call out of uvgo.  Tasks are
 * readied after it is released (STYLE.md: "wake tasks only after
 * unlocking"), through a wake list (uvgo__waiter_take_all,
 * uvgo__waiters_ready).  Debug builds check all three.
 */
#ifndef UVGO_WAIT_H
#define UVGO_WAIT_H

#include "context/context.h"

_Static_assert(sizeof(int) == sizeof(uvgo_spinlock_t) &&
                   _Alignof(int) == _Alignof(uvgo_spinlock_t),
               "a public int lock_ must be able to hold a uvgo_spinlock_t");

static inline uvgo_spinlock_t *uvgo__parkq_spin(uvgo__parkq_t *q)
{
    return (uvgo_spinlock_t *)&q->lock_;
}

static inline void uvgo__parkq_lock(uvgo__parkq_t *q)
{
    uvgo__spin_lock(uvgo__parkq_spin(q), UVGO_RANK_PARKQ);
}

static inline void uvgo__parkq_unlock(uvgo__parkq_t *q)
{
    uvgo__spin_unlock(uvgo__parkq_spin(q));
}

/* The state word, through __atomic builtins (it is a plain public field). */
static inline uint32_t uvgo__word_load(uvgo__parkq_t *q, int order)
{
    return __atomic_load_n(&q->word_, order);
}

static inline int uvgo__word_cas(uvgo__parkq_t *q, uint32_t *old, uint32_t new,
                                 int order)
{
    return __atomic_compare_exchange_n(&q->word_, old, new, 0, order,
                                       __ATOMIC_RELAXED);
}

/* "Caller holds q's lock", for asserts. */
#define uvgo__parkq_held(q) uvgo__spin_held(uvgo__parkq_spin(q))

/* Parks the calling task, whose waiter w (uvgo__waiter_init) is linked on
 * a list guarded by q's lock.  Caller holds q's lock; it is released
 * here.  Returns 0 once a waker has claimed w.  If `done` closes first,
 * returns the context's error with q's lock held again and w possibly
 * still linked: the caller unlinks it (if uvgo__list_contains), repairs
 * its state and unlocks.  `what` names the wait in task dumps. */
int uvgo__parkq_park(uvgo__parkq_t *q, uvgo_waiter_t *w, uvgo_chan_t *done,
                     uvgo_ctx_t *ctx, const char *what);

#endif /* UVGO_WAIT_H */
