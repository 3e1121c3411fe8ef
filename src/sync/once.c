/* once.c: Go's sync.Once / OnceValue for tasks (see uvgo/sync.h).
 *
 * The word is NEW, RUNNING or DONE.  The fast path is one acquire load of
 * DONE (Go's Once.Do is the same).  Otherwise, under the queue lock, the
 * first caller marks it RUNNING and runs fn outside the lock; later callers
 * park until the runner stores the result, publishes DONE (release) and
 * wakes the queue.
 */
#include "sync/wait.h"

enum { NEW = 0, RUNNING, DONE };

int uvgo_once_do_ctx(uvgo_once_t *once, uvgo_task_fn fn, void *arg,
                     void **result, uvgo_ctx_t *ctx)
{
    uvgo_waiter_t p;
    uvgo_list_t w = {0};
    uvgo_chan_t *done;
    void *r;
    int err;

    if (!once || !fn)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    /* acquire: pairs with the release store of DONE; the result is
     * visible. */
    if (uvgo__word_load(&once->q_, __ATOMIC_ACQUIRE) == DONE)
        goto out;
    uvgo__parkq_lock(&once->q_);
    switch (uvgo__word_load(&once->q_, __ATOMIC_RELAXED)) {
    case DONE:
        uvgo__parkq_unlock(&once->q_);
        goto out;
    case NEW:
        __atomic_store_n(&once->q_.word_, RUNNING, __ATOMIC_RELAXED);
        uvgo__parkq_unlock(&once->q_);
        r = fn(arg);
        uvgo__parkq_lock(&once->q_);
        uvgo__assert(uvgo__word_load(&once->q_, __ATOMIC_RELAXED) == RUNNING);
        once->result_ = r;
        __atomic_store_n(&once->q_.word_, DONE, __ATOMIC_RELEASE);
        uvgo__waiter_take_all(&once->q_.list_, &w);
        uvgo__parkq_unlock(&once->q_);
        uvgo__waiters_ready(&w);
        goto out;
    }
    uvgo__waiter_init(&p, uvgo__task_self(), NULL);
    uvgo__list_push_back(&once->q_.list_, &p.link);
    uvgo__park_durable(); /* synctest: durable, as Go counts it */
    err = uvgo__parkq_park(&once->q_, &p, done, ctx, "sync.Once.Do");
    if (err) {
        uvgo__waiter_leave(&once->q_.list_, &p);
        uvgo__parkq_unlock(&once->q_);
        return err;
    }
    /* acquire: pairs with the runner's release store of DONE. */
    (void)uvgo__word_load(&once->q_, __ATOMIC_ACQUIRE);
out:
    if (result)
        *result = once->result_;
    return 0;
}

int uvgo_once_do(uvgo_once_t *once, uvgo_task_fn fn, void *arg, void **result)
{
    return uvgo_once_do_ctx(once, fn, arg, result, NULL);
}
