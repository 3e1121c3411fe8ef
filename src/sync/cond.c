/* cond.c: Go's sync.Cond for tasks (see uvgo/sync.h).
 *
 * A waiter queues itself before it unlocks the mutex, so a signal sent
 * after the unlock always finds it (Go's notifyList tickets serve the same
 * end).  Signal and broadcast claim waiters from the front, skipping those
 * whose context won, so a signal is never spent on a waiter that gave up.
 */
#include "sync/wait.h"

int uvgo_cond_wait_ctx(uvgo_cond_t *c, uvgo_mutex_t *m, uvgo_ctx_t *ctx)
{
    uvgo_waiter_t p;
    uvgo_chan_t *done;
    int err;

    if (!c || !m)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    uvgo__waiter_init(&p, uvgo__task_self(), NULL);
    uvgo__parkq_lock(&c->q_);
    uvgo__list_push_back(&c->q_.list_, &p.link);
    uvgo__parkq_unlock(&c->q_);
    uvgo_mutex_unlock(m);
    uvgo__park_durable(); /* synctest: only the bubble can signal it */
    if (uvgo__park_or_done(&p, done, "sync.Cond.Wait") != 1) {
        /* The context won; a signaller may be looking at p right now. */
        uvgo__parkq_lock(&c->q_);
        uvgo__waiter_leave(&c->q_.list_, &p);
        uvgo__parkq_unlock(&c->q_);
        err = uvgo_ctx_err(ctx);
    }
    /* Go's Wait re-locks L before it returns, whatever happened. */
    uvgo_mutex_lock(m);
    return err;
}

int uvgo_cond_wait(uvgo_cond_t *c, uvgo_mutex_t *m)
{
    return uvgo_cond_wait_ctx(c, m, NULL);
}

int uvgo_cond_signal(uvgo_cond_t *c)
{
    uvgo_waiter_t *p;
    uvgo_task_t *t = NULL;

    if (!c)
        return UVGO_EINVAL;
    uvgo__parkq_lock(&c->q_);
    if ((p = uvgo__waiter_take(&c->q_.list_)))
        t = p->task;
    uvgo__parkq_unlock(&c->q_);
    if (t)
        uvgo__task_ready(t);
    return 0;
}

int uvgo_cond_broadcast(uvgo_cond_t *c)
{
    uvgo_list_t w = {0};

    if (!c)
        return UVGO_EINVAL;
    uvgo__parkq_lock(&c->q_);
    uvgo__waiter_take_all(&c->q_.list_, &w);
    uvgo__parkq_unlock(&c->q_);
    uvgo__waiters_ready(&w);
    return 0;
}
