/* mutex.c: Go's sync.Mutex for tasks (see uvgo/sync.h).
 *
 * State.  One 32-bit word (m->q_.word_) and a queue of parked lockers under
 * the queue's spinlock:
 *
 *     LOCKED    the mutex is held
 *     WOKEN     a locker is awake and about to try again (a spinner, or a
 *               waiter an unlock just woke): an unlock need not wake one
 *     STARVING  hand-off mode (below)
 *     PARKED    the queue is not empty; set and cleared under its lock
 *
 * The fast paths are one atomic each: lock sets LOCKED (an OR that finds
 * it clear), unlock clears it with a CAS while nobody needs waking.  Any
 * other state sends the caller to a slow path.  A locker parks only after
 * it has set PARKED with a CAS that saw LOCKED, under the queue lock; an
 * unlock that then finds PARKED (and no WOKEN) takes the lock and finds
 * the parker.  So no wake-up is lost, and only the slow paths ever touch
 * the queue.
 *
 * Normal mode (Go's).  Lockers may barge: whoever CASes LOCKED first gets
 * the mutex, and an unlock wakes one parker, which must compete again with
 * newcomers.  This is what makes a contended lock fast: a running task that
 * unlocks and locks again keeps the lock and its cache line instead of
 * paying a switch to the parker.  While one woken locker is in flight
 * (WOKEN), unlocks wake nobody else: waking a crowd to lose the race again
 * only burns switches.
 *
 * Spinning.  Before parking, a locker spins briefly while the holder is
 * running on another worker (its task record's on_cpu): critical sections
 * are short, and a park plus a wake-up costs microseconds.  Spinning when
 * the holder runs on our own worker (it is switched out) or is parked
 * could never succeed, so a one-worker runtime never spins.  A spinner sets
 * WOKEN so unlocks do not wake a parker it would beat anyway.
 *
 * Starvation mode (Go's, after sync/mutex.go).  Barging can starve a
 * parker forever, and without preemption more easily than in Go: the
 * waker keeps running while the woken task sits in its run queue.  A
 * parker that has waited more than STARVE_NS when it tries again sets
 * STARVING as it parks again (at the front of the queue).  Then an unlock
 * keeps LOCKED set and hands the mutex straight to the first parker
 * (`given`); newcomers neither barge nor spin, they queue at the back.  The
 * mutex returns to normal mode when the queue empties or when a handed-off
 * waiter had waited less than STARVE_NS: hand-off is slow (every lock costs
 * a switch), so it lasts only while someone really starves.
 *
 * Contexts.  A parker bounded by a context leaves the queue when the
 * context wins its claim word; the hand-off claims a parker with the same
 * CAS, so a mutex is never handed to a locker that gave up (see wait.h).
 * The last parker to leave clears PARKED and STARVING.
 *
 * Rejected: Go's waiter count in the state word plus a separate semaphore.
 * Its unlock decrements the count when it picks a waiter to wake; a waiter
 * that gives up (a context) would have to decrement it too, and the two
 * cannot tell whose decrement counts without a lock.  Keeping the queue
 * and PARKED under one lock costs nothing on the fast paths.
 */
#include "sync/wait.h"

#define LOCKED 1u
#define WOKEN 2u
#define STARVING 4u
#define PARKED 8u

/* Go's starvationThresholdNs. */
#define STARVE_NS (1000 * 1000)
/* Spin polls before parking, each after one pause: ~1 us in all on the
 * AMD EPYC this was measured on (26 ns a pause).  Two tasks pinned to two
 * workers hammering one lock ran the same within noise with Go's shape
 * (4 polls of 30 pauses) and with 8 of 16; bench mutex never spins long
 * (its tasks soon share one worker, see lock_fast). */
#define SPIN_POLLS 40

static inline void set_owner(uvgo_mutex_t *m, uvgo_task_t *t)
{
    /* relaxed: only a hint for spinners. */
    __atomic_store_n(&m->owner_, t, __ATOMIC_RELAXED);
}

/* Whether spinning could pay: the holder may run right now elsewhere. */
static int holder_running(uvgo_mutex_t *m, uvgo_task_t *self)
{
    uvgo_task_t *o = __atomic_load_n(&m->owner_, __ATOMIC_RELAXED);
    if (__atomic_load_n(&self->worker, __ATOMIC_RELAXED)->rt->nworkers < 2)
        return 0;
    /* NULL: locked a moment ago (the owner is not recorded yet) or by a
     * thread that is not a task; either way it is running.  Task records
     * stay mapped while the runtime runs, so a stale owner is harmless. */
    return !o || atomic_load_explicit(&o->on_cpu, memory_order_relaxed);
}

static int lock_slow(uvgo_mutex_t *m, uvgo_task_t *self, uvgo_ctx_t *ctx)
{
    uvgo__parkq_t *q = &m->q_;
    uvgo_chan_t *done = ctx ? uvgo_ctx_done(ctx) : NULL;
    uvgo_waiter_t p;
    int64_t since = 0;
    int woken = 0, starving = 0, spins = 0, err;
    uint32_t old = uvgo__word_load(q, __ATOMIC_RELAXED), new;

    for (;;) {
        if (!(old & LOCKED)) {
            /* Barge.  A woken or spinning locker gives up its WOKEN. */
            new = (old | LOCKED) & ~(woken ? WOKEN : 0);
            /* acquire: pairs with the release of the unlock before. */
            if (uvgo__word_cas(q, &old, new, __ATOMIC_ACQUIRE)) {
                set_owner(m, self);
                return 0;
            }
            continue;
        }
        if (!(old & STARVING) && spins < SPIN_POLLS &&
            holder_running(m, self)) {
            if (!woken && !(old & WOKEN) && (old & PARKED) &&
                uvgo__word_cas(q, &old, old | WOKEN, __ATOMIC_RELAXED))
                woken = 1;
            uvgo__cpu_relax();
            spins++;
            old = uvgo__word_load(q, __ATOMIC_RELAXED);
            continue;
        }

        /* Park.  Under the lock, PARKED goes on only while LOCKED is seen,
         * so the holder's unlock will come and find us. */
        uvgo__parkq_lock(q);
        old = uvgo__word_load(q, __ATOMIC_RELAXED);
        uvgo__assert(((old & PARKED) == 0) == uvgo__list_empty(&q->list_));
        for (;;) {
            if (!(old & LOCKED))
                break;
            new = old | PARKED;
            if (woken)
                new &= ~WOKEN;
            if (starving)
                new |= STARVING;
            if (uvgo__word_cas(q, &old, new, __ATOMIC_RELAXED))
                break;
        }
        if (!(old & LOCKED)) {
            uvgo__parkq_unlock(q);
            continue; /* freed meanwhile: barge */
        }
        woken = 0;
        uvgo__waiter_init(&p, self, NULL);
        /* Go's queueLifo: one who waited before keeps its place. */
        if (since)
            uvgo__list_push_front(&q->list_, &p.link);
        else
            uvgo__list_push_back(&q->list_, &p.link);
        if (!since)
            since = uvgo_now();
        err = uvgo__parkq_park(q, &p, done, ctx, "sync.Mutex.Lock");
        if (err) {
            /* Our lock is held again.  The last parker out ends both the
             * PARKED and the STARVING state: nobody is left to serve. */
            uvgo__waiter_leave(&q->list_, &p);
            if (uvgo__list_empty(&q->list_))
                __atomic_fetch_and(&q->word_, ~(PARKED | STARVING),
                                   __ATOMIC_RELAXED);
            uvgo__parkq_unlock(q);
            return err;
        }
        starving = uvgo_now() - since > STARVE_NS;
        if (p.given) {
            /* Handed off: LOCKED was never cleared; the mutex is ours.  A
             * waiter that got it quickly ends hand-off mode. */
            set_owner(m, self);
            if (!starving)
                __atomic_fetch_and(&q->word_, ~STARVING, __ATOMIC_RELAXED);
            /* acquire: pairs with the release CAS of the hand-off. */
            (void)uvgo__word_load(q, __ATOMIC_ACQUIRE);
            return 0;
        }
        woken = 1; /* the unlocker set WOKEN for us */
        spins = 0;
        old = uvgo__word_load(q, __ATOMIC_RELAXED);
    }
}

/* One atomic OR.  STARVING implies LOCKED (the flag goes on only while
 * LOCKED is set, and LOCKED comes off only with it), so finding LOCKED
 * clear is exactly the barge Go allows; and waiters' flags (PARKED, WOKEN)
 * do not send a lock that is free to the slow path.  That matters: a woken
 * locker may sit in its waker's run queue for a long time (no
 * preemption), WOKEN and PARKED set all along, while the waker locks and
 * unlocks uncontended (bench mutex: 23 ns a pair with a CAS from 0 here,
 * 11 ns with this). */
static inline int lock_fast(uvgo_mutex_t *m, uvgo_task_t *self)
{
    /* acquire: pairs with the release in uvgo_mutex_unlock. */
    if (UVGO_LIKELY(
            !(__atomic_fetch_or(&m->q_.word_, LOCKED, __ATOMIC_ACQUIRE) &
              LOCKED))) {
        set_owner(m, self);
        return 1;
    }
    return 0;
}

int uvgo_mutex_lock(uvgo_mutex_t *m)
{
    uvgo_task_t *self = uvgo__task_self();

    if (UVGO_UNLIKELY(!self))
        return UVGO_ENOTTASK;
    if (UVGO_UNLIKELY(!m))
        return UVGO_EINVAL;
    if (lock_fast(m, self))
        return 0;
    return lock_slow(m, self, NULL);
}

int uvgo_mutex_lock_ctx(uvgo_mutex_t *m, uvgo_ctx_t *ctx)
{
    uvgo_task_t *self = uvgo__task_self();
    int err;

    if (!self)
        return UVGO_ENOTTASK;
    if (!m)
        return UVGO_EINVAL;
    if (ctx && (err = uvgo_ctx_err(ctx)))
        return err;
    if (lock_fast(m, self))
        return 0;
    return lock_slow(m, self, ctx);
}

int uvgo_mutex_try_lock(uvgo_mutex_t *m)
{
    uint32_t old;

    if (!m)
        return UVGO_EINVAL;
    old = uvgo__word_load(&m->q_, __ATOMIC_RELAXED);
    /* In hand-off mode the mutex belongs to the first parker, even when it
     * looks free for a moment. */
    if (old & (LOCKED | STARVING))
        return UVGO_EAGAIN;
    if (!uvgo__word_cas(&m->q_, &old, old | LOCKED, __ATOMIC_ACQUIRE))
        return UVGO_EAGAIN;
    set_owner(m, uvgo__task_self());
    return 0;
}

static UVGO_NOINLINE void unlock_slow(uvgo_mutex_t *m, uint32_t old)
{
    uvgo__parkq_t *q = &m->q_;
    uvgo_waiter_t *p;
    uvgo_task_t *t;
    uint32_t new;

    for (;;) {
        if (!(old & LOCKED))
            uvgo__panic("sync: unlock of unlocked mutex");
        if (old & STARVING)
            break;
        if ((old & PARKED) && !(old & WOKEN))
            break;
        /* Nobody to wake, or a woken locker will take it. */
        /* release: pairs with the next locker's acquire. */
        if (uvgo__word_cas(q, &old, old & ~LOCKED, __ATOMIC_RELEASE))
            return;
    }

    uvgo__parkq_lock(q);
    old = uvgo__word_load(q, __ATOMIC_RELAXED);
    /* PARKED is set and cleared with the queue, under its lock; STARVING
     * only ever stands with LOCKED. */
    uvgo__assert(((old & PARKED) == 0) == uvgo__list_empty(&q->list_));
    uvgo__assert(!(old & STARVING) || (old & LOCKED));
    p = NULL;
    if (old & STARVING) {
        /* Hand-off: LOCKED stays set for the first parker.  Under our
         * lock nobody else changes the word but a spinner setting WOKEN,
         * so the CAS loop below only ever retries for that. */
        p = uvgo__waiter_take(&q->list_);
        if (p)
            p->given = 1;
    } else if ((old & PARKED) && !(old & WOKEN)) {
        p = uvgo__waiter_take(&q->list_);
    }
    for (;;) {
        if (p && p->given) {
            new = old;
        } else {
            new = old & ~(LOCKED | STARVING);
            if (p)
                new |= WOKEN;
        }
        if (uvgo__list_empty(&q->list_))
            new &= ~(PARKED | STARVING);
        /* release: pairs with the next locker's acquire (or, for a
         * hand-off, with its acquire load after the wake-up). */
        if (uvgo__word_cas(q, &old, new, __ATOMIC_RELEASE))
            break;
    }
    t = p ? p->task : NULL; /* p's frame may go once we unlock */
    uvgo__parkq_unlock(q);
    if (t)
        uvgo__task_ready(t);
}

int uvgo_mutex_unlock(uvgo_mutex_t *m)
{
    uint32_t old;

    if (UVGO_UNLIKELY(!m))
        return UVGO_EINVAL;
    set_owner(m, NULL);
    old = uvgo__word_load(&m->q_, __ATOMIC_RELAXED);
    /* Inline while nobody needs waking: no parker, or a woken locker on
     * its way (see lock_fast for why the latter is common). */
    while (UVGO_LIKELY((old & (LOCKED | STARVING)) == LOCKED &&
                       (old & (PARKED | WOKEN)) != PARKED)) {
        /* release: the critical section happens before the next lock. */
        if (uvgo__word_cas(&m->q_, &old, old & ~LOCKED, __ATOMIC_RELEASE))
            return 0;
    }
    unlock_slow(m, old);
    return 0;
}
