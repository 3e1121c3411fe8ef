/* rwmutex.c: Go's sync.RWMutex for tasks (see uvgo/sync.h).
 *
 * State.  One 32-bit word (rw->q_.word_), plus two queues under the
 * queue's spinlock, readers (q_.list_) and writers (writers_):
 *
 *     bits 0-27  active readers
 *     RWAIT      readers are queued
 *     WWAIT      writers are queued
 *     WLOCKED    a writer holds it
 *
 * Fast paths, one CAS each: a reader enters while neither WLOCKED nor WWAIT
 * is set (writer preference: a queued writer stops new readers); a reader
 * leaves by decrementing; a writer locks 0 -> WLOCKED and unlocks WLOCKED ->
 * 0.  Everything else happens under the lock, where the flags are set and
 * cleared together with the queues, so whoever must wake someone sees it:
 *
 *   - the last reader out while WWAIT is set takes the lock and hands the
 *     mutex to the first writer (WLOCKED set on its behalf);
 *   - a writer's unlock admits every queued reader at once (their count is
 *     added for them) if there are any, else hands over to the next writer,
 *     else frees the mutex.  So readers and writers alternate under load,
 *     as in Go, and neither side starves;
 *   - a parker whose context wins leaves its queue; the last writer to
 *     leave clears WWAIT and, unless a writer holds the lock, admits the
 *     readers that were queued behind it.
 *
 * A hand-off claims the parker's claim word first (see wait.h), so a lock is
 * never handed to a task that gave up waiting.
 *
 * Under the lock the only concurrent changes to the word are readers
 * leaving (decrements, which never change a flag): fast-path readers cannot
 * enter while a flag is set, and the writer fast paths need the word to be
 * exactly 0 or WLOCKED.  So flag updates are CAS loops that only ever retry
 * for a reader leaving.
 *
 * Rejected: Go's layout (a writer mutex, two semaphores, readerCount going
 * negative while a writer waits).  Its readers register before they know
 * whether they must wait, and a reader that then gives up on a context
 * would have to unregister against a writer already counting on it.
 */
#include "sync/wait.h"

#define RMASK ((1u << 28) - 1)
#define RWAIT (1u << 28)
#define WWAIT (1u << 29)
#define WLOCKED (1u << 30)

/* Admits every queued reader onto w: returns how many.  Caller holds the
 * lock. */
static uint32_t admit_readers(uvgo_rwmutex_t *rw, uvgo_list_t *w)
{
    uvgo__assert(uvgo__parkq_held(&rw->q_));
    return (uint32_t)uvgo__waiter_take_all(&rw->q_.list_, w);
}

/* With the lock held and neither a writer nor a reader holding the mutex
 * (or the caller's write lock being released): gives it to the first
 * writer that can still take it, else admits the readers.  Returns the new
 * word for `old`; wakes go on w. */
static uint32_t hand_over(uvgo_rwmutex_t *rw, uint32_t old, uvgo_list_t *w,
                          uint32_t *nreaders)
{
    uvgo_waiter_t *p;

    uvgo__assert(uvgo__parkq_held(&rw->q_));
    if ((p = uvgo__waiter_take(&rw->writers_))) {
        uvgo__list_push_back(w, &p->link);
        old |= WLOCKED;
        if (uvgo__list_empty(&rw->writers_))
            old &= ~WWAIT;
        return old;
    }
    *nreaders = admit_readers(rw, w);
    return (old & ~(WLOCKED | WWAIT | RWAIT)) + *nreaders;
}

/* Stores a new value for the flags (and adds readers), retrying only for
 * readers leaving meanwhile.  Caller holds the lock. */
static void update(uvgo_rwmutex_t *rw, uint32_t clear, uint32_t set,
                   uint32_t add)
{
    uint32_t old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
    UVGO_UNUSED uint32_t flags = old & ~RMASK; /* asserts only */
    uvgo__assert(uvgo__parkq_held(&rw->q_));
    /* acq_rel: hands the critical sections on (release) and sees the
     * readers' leaving (acquire). */
    while (!uvgo__word_cas(&rw->q_, &old, ((old & ~clear) | set) + add,
                           __ATOMIC_ACQ_REL))
        uvgo__assert((old & ~RMASK) == flags); /* only a reader left */
}

/* ---- readers ------------------------------------------------------------- */

static inline int rlock_fast(uvgo_rwmutex_t *rw)
{
    uint32_t old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
    while (!(old & (WLOCKED | WWAIT))) {
        if ((old & RMASK) == RMASK)
            uvgo__panic("sync: too many RWMutex readers");
        /* acquire: pairs with the writer's release. */
        if (uvgo__word_cas(&rw->q_, &old, old + 1, __ATOMIC_ACQUIRE))
            return 1;
    }
    return 0;
}

int uvgo_rwmutex_rlock_ctx(uvgo_rwmutex_t *rw, uvgo_ctx_t *ctx)
{
    uvgo_waiter_t p;
    uvgo_chan_t *done;
    uint32_t old;
    int err;

    if (!rw)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (rlock_fast(rw))
        return 0;
    uvgo__parkq_lock(&rw->q_);
    /* RWAIT goes on only with a CAS that still sees a writer: from then on
     * the writer cannot leave by its fast path, so it will find us. */
    old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
    for (;;) {
        if (!(old & (WLOCKED | WWAIT))) {
            if (uvgo__word_cas(&rw->q_, &old, old + 1, __ATOMIC_ACQUIRE)) {
                uvgo__parkq_unlock(&rw->q_);
                return 0;
            }
        } else if (uvgo__word_cas(&rw->q_, &old, old | RWAIT,
                                  __ATOMIC_RELAXED)) {
            break;
        }
    }
    uvgo__waiter_init(&p, uvgo__task_self(), NULL);
    uvgo__list_push_back(&rw->q_.list_, &p.link);
    err = uvgo__parkq_park(&rw->q_, &p, done, ctx, "sync.RWMutex.RLock");
    if (!err) {
        /* Admitted: counted as a reader by the writer.  acquire: pairs with
         * the writer's release CAS. */
        (void)uvgo__word_load(&rw->q_, __ATOMIC_ACQUIRE);
        return 0;
    }
    uvgo__waiter_leave(&rw->q_.list_, &p);
    if (uvgo__list_empty(&rw->q_.list_))
        update(rw, RWAIT, 0, 0);
    uvgo__parkq_unlock(&rw->q_);
    return err;
}

int uvgo_rwmutex_rlock(uvgo_rwmutex_t *rw)
{
    return uvgo_rwmutex_rlock_ctx(rw, NULL);
}

int uvgo_rwmutex_try_rlock(uvgo_rwmutex_t *rw)
{
    if (!rw)
        return UVGO_EINVAL;
    return rlock_fast(rw) ? 0 : UVGO_EAGAIN;
}

int uvgo_rwmutex_runlock(uvgo_rwmutex_t *rw)
{
    uvgo_list_t w = {0};
    uint32_t old, new, nreaders = 0;

    if (!rw)
        return UVGO_EINVAL;
    old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
    do {
        if (!(old & RMASK))
            uvgo__panic("sync: RUnlock of unlocked RWMutex");
        new = old - 1;
        /* release: our reads happen before the next writer's lock. */
    } while (!uvgo__word_cas(&rw->q_, &old, new, __ATOMIC_RELEASE));
    if ((new &RMASK) || !(new &WWAIT))
        return 0;

    /* The last reader out while a writer waits: hand it the mutex.  Look
     * again under the lock: a writer that gave up may have emptied the
     * queue (and admitted readers) meanwhile. */
    uvgo__parkq_lock(&rw->q_);
    old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
    if (!(old & (RMASK | WLOCKED)) && (old & WWAIT)) {
        new = hand_over(rw, old, &w, &nreaders);
        update(rw, old & ~new &(WWAIT | RWAIT | WLOCKED), new &WLOCKED,
               nreaders);
    }
    uvgo__parkq_unlock(&rw->q_);
    uvgo__waiters_ready(&w);
    return 0;
}

/* ---- writers ------------------------------------------------------------- */

int uvgo_rwmutex_lock_ctx(uvgo_rwmutex_t *rw, uvgo_ctx_t *ctx)
{
    uvgo_waiter_t p;
    uvgo_list_t w = {0};
    uvgo_chan_t *done;
    uint32_t old, nreaders;
    int err;

    if (!rw)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    old = 0;
    /* acquire: pairs with the release of the last unlock. */
    if (uvgo__word_cas(&rw->q_, &old, WLOCKED, __ATOMIC_ACQUIRE))
        return 0;
    uvgo__parkq_lock(&rw->q_);
    /* WWAIT goes on only with a CAS that still sees a holder: from then on
     * the last reader, or the writer, leaves by the slow path and finds
     * us.  Free: take it (barging past queued writers whose hand-off is on
     * its way, as a mutex's newcomers may). */
    old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
    for (;;) {
        if (!(old & (RMASK | WLOCKED))) {
            if (uvgo__word_cas(&rw->q_, &old, old | WLOCKED,
                               __ATOMIC_ACQUIRE)) {
                uvgo__parkq_unlock(&rw->q_);
                return 0;
            }
        } else if (uvgo__word_cas(&rw->q_, &old, old | WWAIT,
                                  __ATOMIC_RELAXED)) {
            break;
        }
    }
    uvgo__waiter_init(&p, uvgo__task_self(), NULL);
    uvgo__list_push_back(&rw->writers_, &p.link);
    err = uvgo__parkq_park(&rw->q_, &p, done, ctx, "sync.RWMutex.Lock");
    if (!err) {
        /* Handed over: WLOCKED was set for us.  acquire: pairs with the
         * release CAS of the hand-off. */
        (void)uvgo__word_load(&rw->q_, __ATOMIC_ACQUIRE);
        return 0;
    }
    uvgo__waiter_leave(&rw->writers_, &p);
    if (uvgo__list_empty(&rw->writers_)) {
        /* No writer waits any more: readers queued behind us may go,
         * unless a writer holds the mutex (its unlock admits them). */
        old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
        nreaders = 0;
        if (!(old & WLOCKED))
            nreaders = admit_readers(rw, &w);
        update(rw, WWAIT | (nreaders ? RWAIT : 0), 0, nreaders);
    }
    uvgo__parkq_unlock(&rw->q_);
    uvgo__waiters_ready(&w);
    return err;
}

int uvgo_rwmutex_lock(uvgo_rwmutex_t *rw)
{
    return uvgo_rwmutex_lock_ctx(rw, NULL);
}

int uvgo_rwmutex_try_lock(uvgo_rwmutex_t *rw)
{
    uint32_t old = 0;
    if (!rw)
        return UVGO_EINVAL;
    return uvgo__word_cas(&rw->q_, &old, WLOCKED, __ATOMIC_ACQUIRE)
               ? 0
               : UVGO_EAGAIN;
}

int uvgo_rwmutex_unlock(uvgo_rwmutex_t *rw)
{
    uvgo_list_t w = {0};
    uint32_t old = WLOCKED, nreaders;

    if (!rw)
        return UVGO_EINVAL;
    /* release: the critical section happens before the next lock. */
    if (uvgo__word_cas(&rw->q_, &old, 0, __ATOMIC_RELEASE))
        return 0;
    uvgo__parkq_lock(&rw->q_);
    old = uvgo__word_load(&rw->q_, __ATOMIC_RELAXED);
    if (!(old & WLOCKED)) {
        uvgo__parkq_unlock(&rw->q_);
        uvgo__panic("sync: Unlock of unlocked RWMutex");
    }
    /* Readers that queued behind us go first, all at once; the next writer
     * gets the mutex when the last of them leaves. */
    nreaders = admit_readers(rw, &w);
    if (nreaders) {
        update(rw, WLOCKED | RWAIT, 0, nreaders);
    } else {
        uint32_t new = hand_over(rw, old & ~WLOCKED, &w, &nreaders);
        update(rw, WLOCKED | WWAIT | RWAIT, new &(WLOCKED | WWAIT), nreaders);
    }
    uvgo__parkq_unlock(&rw->q_);
    uvgo__waiters_ready(&w);
    return 0;
}
