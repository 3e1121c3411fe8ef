/* semaphore.c: x/sync/semaphore.Weighted for tasks (see uvgo/xsync.h).
 *
 * size_ and cur_ are under the queue lock, with the FIFO of parked
 * acquirers; each waiter's elem points to its weight.  An acquire succeeds at
 * once only if the units are free and nobody is queued (no barging).
 * Otherwise it queues and parks; a release grants from the front, in
 * order, stopping at the first request that does not fit (strict FIFO, as
 * Go's notifyWaiters: letting a later, lighter request pass would starve a
 * heavy one).
 *
 * The cancel race.  Go's Acquire selects on its ready channel and ctx.Done
 * and, when both fire, must notice the grant and give the units back.
 * Here a grant claims the parker's claim word first (wait.h), under the
 * lock, and adds its weight to cur_ only if the claim won; a context that
 * wins instead leaves cur_ untouched.  So a waiter that gives up never
 * holds anything to return; it only takes itself off the queue and, since
 * it may have been the front request blocking lighter ones behind it,
 * grants again from the new front.
 */
#include "sync/wait.h"

/* The weight waiter w asks for. */
static inline int64_t want_of(const uvgo_waiter_t *w)
{
    return *(const int64_t *)w->elem;
}

/* Grants to queued requests from the front while they fit.  Caller holds
 * the lock; the granted waiters go on the wake list w. */
static void grant(uvgo_sem_t *s, uvgo_list_t *w)
{
    uvgo_waiter_t *p;

    uvgo__assert(uvgo__parkq_held(&s->q_));
    while ((p = uvgo__waiter_first(&s->q_.list_))) {
        if (uvgo__waiter_claimed(p)) {
            /* Gave up and not yet gone: it blocks nobody. */
            uvgo__list_remove(&s->q_.list_, &p->link);
            continue;
        }
        if (s->size_ - s->cur_ < want_of(p))
            break;
        uvgo__list_remove(&s->q_.list_, &p->link);
        if (uvgo__waiter_claim(p)) {
            s->cur_ += want_of(p);
            uvgo__list_push_back(w, &p->link);
        }
    }
    uvgo__assert(0 <= s->cur_ && s->cur_ <= s->size_);
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
    uvgo_waiter_t p;
    uvgo_list_t w = {0};
    uvgo_chan_t *done;
    int err;

    if (!s || n < 0)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    uvgo__parkq_lock(&s->q_);
    if (s->size_ - s->cur_ >= n && uvgo__list_empty(&s->q_.list_)) {
        s->cur_ += n;
        uvgo__parkq_unlock(&s->q_);
        return 0;
    }
    if (n > s->size_) {
        /* Can never be had: wait for the context alone, as Go does. */
        uvgo__parkq_unlock(&s->q_);
        if (!done)
            uvgo__block_forever("semaphore.Acquire (more than its size)");
        uvgo__waiter_init(&p, uvgo__task_self(), &n);
        uvgo__park_durable();
        uvgo__park_or_done(&p, done, "semaphore.Acquire");
        return uvgo_ctx_err(ctx);
    }
    uvgo__waiter_init(&p, uvgo__task_self(), &n);
    uvgo__list_push_back(&s->q_.list_, &p.link);
    uvgo__park_durable(); /* synctest: only the bubble can release it */
    err = uvgo__parkq_park(&s->q_, &p, done, ctx, "semaphore.Acquire");
    if (!err)
        return 0; /* granted: cur_ counts our units */
    uvgo__waiter_leave(&s->q_.list_, &p);
    grant(s, &w);
    uvgo__parkq_unlock(&s->q_);
    uvgo__waiters_ready(&w);
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
    uvgo__parkq_lock(&s->q_);
    ok = s->size_ - s->cur_ >= n && uvgo__list_empty(&s->q_.list_);
    if (ok)
        s->cur_ += n;
    uvgo__parkq_unlock(&s->q_);
    return ok ? 0 : UVGO_EAGAIN;
}

int uvgo_sem_release(uvgo_sem_t *s, int64_t n)
{
    uvgo_list_t w = {0};

    if (!s || n < 0)
        return UVGO_EINVAL;
    uvgo__parkq_lock(&s->q_);
    if (n > s->cur_) {
        uvgo__parkq_unlock(&s->q_);
        uvgo__panic("semaphore: released more than held");
    }
    s->cur_ -= n;
    grant(s, &w);
    uvgo__parkq_unlock(&s->q_);
    uvgo__waiters_ready(&w);
    return 0;
}

/* For errgroup: changes the size of an idle semaphore (nothing held),
 * granting to waiters the new size lets in. */
int uvgo__sem_resize(uvgo_sem_t *s, int64_t n)
{
    uvgo_list_t w = {0};
    int err = 0;

    uvgo__parkq_lock(&s->q_);
    if (s->cur_)
        err = UVGO_EBUSY;
    else
        s->size_ = n;
    if (!err)
        grant(s, &w);
    uvgo__parkq_unlock(&s->q_);
    uvgo__waiters_ready(&w);
    return err;
}
