/* wait.h: parking tasks on the sync primitives (src/sync, src/xsync).
 *
 * A primitive that can block keeps a uvgo__parkq_t (uvgo/sync.h): a
 * spinlock, a FIFO of parkers and a 32-bit state word for the primitive's
 * own use.  A parker lives on the blocked task's stack, as channel waiters
 * do (blocking never allocates):
 *
 *     waiter                              waker (any thread)
 *     ------                              -----
 *     lock q; check state; link p         lock q; p = first parker
 *     unlock q; park ........... wake .... CAS(p->sel.done, 0, 1) wins
 *                                         unlink p; p->given = ...
 *                                         unlock q; ready(p->task)
 *
 * Contexts.  A waiter bounded by a context parks in uvgo__park_or_done(),
 * where the context's Done channel races the waker for p->sel: the context
 * wins with 2, a waker with 1, and exactly one of them wins.  A waker that
 * loses (the waiter gave up) unlinks the parker and moves on to the next;
 * so a grant (a lock hand-off, semaphore weight) never goes to a waiter
 * that has given up, and nothing ever needs giving back.  A waiter whose
 * context won re-takes q's lock before it returns (a waker may still be
 * looking at its parker), unlinks itself if no waker did, and repairs the
 * primitive's state (clears a "waiters" flag, lets later waiters in).
 *
 * Locking.  q's lock guards the list and whatever the primitive says; it is
 * held for a few dozen instructions and never across a park, an
 * allocation or a call out of uvgo.  Tasks are readied after it is
 * released (STYLE.md: "wake tasks only after unlocking").
 */
#ifndef UVGO_WAIT_H
#define UVGO_WAIT_H

#include "context/context.h"

struct uvgo__parker {
    /* Under q's lock while linked. */
    struct uvgo__parker *next, *prev;
    int linked;
    /* Immutable while linked. */
    uvgo_task_t *task;
    int64_t want;          /* what it waits for (a weight), if anything */
    /* 0 waiting, 1 claimed by a waker, 2 by the context. */
    struct uvgo_sel sel;
    /* Written by the claiming waker before it readies the task. */
    int64_t given;
};

_Static_assert(sizeof(int) == sizeof(uvgo_spinlock_t) &&
                   _Alignof(int) == _Alignof(uvgo_spinlock_t),
               "a public int lock_ must be able to hold a uvgo_spinlock_t");

static inline uvgo_spinlock_t *uvgo__parkq_spin(uvgo__parkq_t *q)
{
    return (uvgo_spinlock_t *)&q->lock_;
}

static inline void uvgo__parkq_lock(uvgo__parkq_t *q)
{
    uvgo__spin_lock(uvgo__parkq_spin(q));
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

static inline int uvgo__word_cas(uvgo__parkq_t *q, uint32_t *old,
                                 uint32_t new, int order)
{
    return __atomic_compare_exchange_n(&q->word_, old, new, 0, order,
                                       __ATOMIC_RELAXED);
}

static inline void uvgo__parker_init(struct uvgo__parker *p,
                                     uvgo_task_t *task, int64_t want)
{
    p->next = p->prev = NULL;
    p->linked = 0;
    p->task = task;
    p->want = want;
    p->given = 0;
    atomic_init(&p->sel.done, 0);
}

/* Appends p (front: puts it first, for a waiter that has waited before). */
static inline void uvgo__parklist_push(uvgo__parklist_t *l,
                                       struct uvgo__parker *p, int front)
{
    if (front) {
        p->prev = NULL;
        p->next = l->first_;
        if (l->first_)
            l->first_->prev = p;
        else
            l->last_ = p;
        l->first_ = p;
    } else {
        p->next = NULL;
        p->prev = l->last_;
        if (l->last_)
            l->last_->next = p;
        else
            l->first_ = p;
        l->last_ = p;
    }
    p->linked = 1;
}

static inline void uvgo__parklist_unlink(uvgo__parklist_t *l,
                                         struct uvgo__parker *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->first_ = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->last_ = p->prev;
    p->next = p->prev = NULL;
    p->linked = 0;
}

static inline int uvgo__parklist_empty(const uvgo__parklist_t *l)
{
    return l->first_ == NULL;
}

/* Unlinks p and claims it for a waker.  Returns 1 if the claim won, 0 if
 * p's context already did (p is only unlinked then).  Caller holds the
 * list's lock. */
static inline int uvgo__parker_claim(uvgo__parklist_t *l,
                                     struct uvgo__parker *p)
{
    int zero = 0;
    uvgo__parklist_unlink(l, p);
    /* acq_rel: pairs with the context's CAS in uvgo__park_or_done and with
     * the woken task's acquire load there. */
    return atomic_compare_exchange_strong_explicit(
        &p->sel.done, &zero, 1, memory_order_acq_rel, memory_order_acquire);
}

/* Unlinks and claims the first parker that can still be claimed (dropping
 * the ones whose context won), or returns NULL.  Caller holds the lock. */
static inline struct uvgo__parker *uvgo__parklist_take(uvgo__parklist_t *l)
{
    struct uvgo__parker *p;
    while ((p = l->first_))
        if (uvgo__parker_claim(l, p))
            return p;
    return NULL;
}

/* Claimed parkers waiting to be readied once the lock is released, chained
 * through their (no longer used) next links, in order. */
struct uvgo__wakelist {
    struct uvgo__parker *first, **tail;
};

static inline void uvgo__wakelist_init(struct uvgo__wakelist *w)
{
    w->first = NULL;
    w->tail = &w->first;
}

static inline void uvgo__wakelist_add(struct uvgo__wakelist *w,
                                      struct uvgo__parker *p)
{
    p->next = NULL;
    *w->tail = p;
    w->tail = &p->next;
}

/* Claims every parker of l that can be claimed, in order, onto w; returns
 * how many.  Caller holds the lock. */
static inline int64_t uvgo__parklist_take_all(uvgo__parklist_t *l,
                                              struct uvgo__wakelist *w)
{
    struct uvgo__parker *p;
    int64_t n = 0;
    while ((p = uvgo__parklist_take(l))) {
        uvgo__wakelist_add(w, p);
        n++;
    }
    return n;
}

/* Readies every task on w.  Call after releasing the lock. */
void uvgo__wakelist_ready(struct uvgo__wakelist *w);

/* Parks the calling task, whose parker p is linked on a list guarded by q's
 * lock.  Caller holds q's lock; it is released here.  Returns 0 once a
 * waker has claimed p.  If `done` closes first, returns the context's
 * error with q's lock held again and p possibly still linked: the caller
 * unlinks it (if p->linked), repairs its state and unlocks.  `what` names
 * the wait in task dumps. */
int uvgo__parkq_park(uvgo__parkq_t *q, struct uvgo__parker *p,
                     uvgo_chan_t *done, uvgo_ctx_t *ctx, const char *what);

#endif /* UVGO_WAIT_H */
