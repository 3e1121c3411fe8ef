/* semaphore.c: x/sync/semaphore.Weighted for tasks (see uvgo/xsync.h).
 *
 * size_ and cur_ are under the queue lock, with the FIFO of parked
 * acquirers; each parker's `want` is its weight.  An acquire succeeds at
 * once only if the units are free and nobody is queued (no barging).
 * Otherwise it queues and parks; a release grants from the front, in
 * order, stopping at the first request that does not fit (strict FIFO, as
 * Go's notifyWaiters: letting a later, lighter request pass would starve a
 * heavy one).
 *
 * The cancel race.  Go's Acquire selects on its ready channel and ctx.Done
 * and, when both fire, must notice the grant and give the units back.
 * Here a grant claims the parker's uvgo_sel first (wait.h), under the
 * lock, and adds its weight to cur_ only if the claim won; a context that
 * wins instead leaves cur_ untouched.  So a waiter that gives up never
 * holds anything to return; it only takes itself off the queue and, since
 * it may have been the front request blocking lighter ones behind it,
 * grants again from the new front.
 */
#include "sync/wait.h"

static inline uvgo_spinlock_t *lock_of(uvgo_sem_t *s)
{
    return uvgo__parkq_spin(&s->q_);
}

/* Grants to queued requests from the front while they fit.  Caller holds
 * the lock; the granted parkers go on w. */
static void grant(uvgo_sem_t *s, struct uvgo__wakelist *w)
{
    struct uvgo__parker *p;
    while ((p = s->q_.list_.first_)) {
        if (atomic_load_explicit(&p->sel.done, memory_order_relaxed)) {
            /* Gave up and not yet gone: it blocks nobody. */
            uvgo__parklist_unlink(&s->q_.list_, p);
            continue;
        }
        if (s->size_ - s->cur_ < p->want)
            break;
        if (uvgo__parker_claim(&s->q_.list_, p)) {
            s->cur_ += p->want;
            uvgo__wakelist_add(w, p);
        }
    }
}

int uvgo_sem_init(uvgo_sem_t *s, int64_t n)
{
    if (!s || n < 0)
        return UVGO_EINVAL;
    memset(s, 0, sizeof *s);
    s->size_ = n;
    return 0;
}

int uvgo_sem_acquire_ctx(uvgo_sem_t *s, int64_t n, uvgo_ctx_t *ctx)
{
    struct uvgo__parker p;
    struct uvgo__wakelist w;
    uvgo_chan_t *done;
    int err;

    if (!s || n < 0)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    uvgo__spin_lock(lock_of(s));
    if (s->size_ - s->cur_ >= n && uvgo__parklist_empty(&s->q_.list_)) {
        s->cur_ += n;
        uvgo__spin_unlock(lock_of(s));
        return 0;
    }
    if (n > s->size_) {
        /* Can never be had: wait for the context alone, as Go does. */
        uvgo__spin_unlock(lock_of(s));
        if (!done)
            uvgo__block_forever("semaphore.Acquire (more than its size)");
        uvgo__parker_init(&p, uvgo__task_self(), n);
        uvgo__park_durable();
        uvgo__park_or_done(&p.sel, done, "semaphore.Acquire");
        return uvgo_ctx_err(ctx);
    }
    uvgo__parker_init(&p, uvgo__task_self(), n);
    uvgo__parklist_push(&s->q_.list_, &p, 0);
    uvgo__park_durable(); /* synctest: only the bubble can release it */
    err = uvgo__parkq_park(&s->q_, &p, done, ctx, "semaphore.Acquire");
    if (!err)
        return 0; /* granted: cur_ counts our units */
    uvgo__wakelist_init(&w);
    if (p.linked)
        uvgo__parklist_unlink(&s->q_.list_, &p);
    grant(s, &w);
    uvgo__spin_unlock(lock_of(s));
    uvgo__wakelist_ready(&w);
    return err;
}

int uvgo_sem_acquire(uvgo_sem_t *s, int64_t n)
{
    return uvgo_sem_acquire_ctx(s, n, NULL);
}

int uvgo_sem_try_acquire(uvgo_sem_t *s, int64_t n)
{
    int ok;

    if (!s || n < 0)
        return UVGO_EINVAL;
    uvgo__spin_lock(lock_of(s));
    ok = s->size_ - s->cur_ >= n && uvgo__parklist_empty(&s->q_.list_);
    if (ok)
        s->cur_ += n;
    uvgo__spin_unlock(lock_of(s));
    return ok ? 0 : UVGO_EAGAIN;
}

int uvgo_sem_release(uvgo_sem_t *s, int64_t n)
{
    struct uvgo__wakelist w;

    if (!s || n < 0)
        return UVGO_EINVAL;
    uvgo__wakelist_init(&w);
    uvgo__spin_lock(lock_of(s));
    if (n > s->cur_) {
        uvgo__spin_unlock(lock_of(s));
        uvgo__panic("semaphore: released more than held");
    }
    s->cur_ -= n;
    grant(s, &w);
    uvgo__spin_unlock(lock_of(s));
    uvgo__wakelist_ready(&w);
    return 0;
}

/* For errgroup: changes the size of an idle semaphore (nothing held),
 * granting to waiters the new size lets in. */
int uvgo__sem_resize(uvgo_sem_t *s, int64_t n)
{
    struct uvgo__wakelist w;
    int err = 0;

    uvgo__wakelist_init(&w);
    uvgo__spin_lock(lock_of(s));
    if (s->cur_)
        err = UVGO_EBUSY;
    else
        s->size_ = n;
    if (!err)
        grant(s, &w);
    uvgo__spin_unlock(lock_of(s));
    uvgo__wakelist_ready(&w);
    return err;
}
