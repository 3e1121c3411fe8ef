/* errgroup.c: x/sync/errgroup.Group for tasks (see uvgo/xsync.h).
 *
 * A group is a WaitGroup (tasks running), a semaphore (the limit, used only
 * once set_limit has set one), the first error and an optional context.
 * Each task records whether it took a slot of the semaphore, so a limit set
 * while unlimited tasks still run never sees a release it did not grant
 * (Go's Group drains its channel in done() whether or not the goroutine
 * filled it).
 *
 * The context.  The group holds one reference to it until its wait
 * returns, under g->lock_ with the first error: the first failing task
 * records its error and cancels the context (with the error as the cause);
 * the wait takes the context out of the group, cancels it (cause: the
 * first error, or plain cancellation) and drops the reference.  A task that
 * fails after that finds no context and changes nothing.
 */
#include "sync/wait.h"

int uvgo__sem_resize(uvgo_sem_t *s, int64_t n);

struct member {
    uvgo_errgroup_t *g;
    uvgo_errgroup_fn fn;
    void *arg;
    int slot; /* holds a unit of g->sem_ */
};

static inline uvgo_spinlock_t *lock_of(uvgo_errgroup_t *g)
{
    return (uvgo_spinlock_t *)&g->lock_;
}

int uvgo_errgroup_with_ctx(uvgo_errgroup_t *g, uvgo_ctx_t *parent,
                           uvgo_ctx_t **ctx)
{
    uvgo_ctx_t *c;
    int err;

    if (!g || !ctx)
        return UVGO_EINVAL;
    if ((err = uvgo_ctx_with_cancel(&c, parent)))
        return err;
    g->ctx_ = uvgo_ctx_retain(c);
    *ctx = c;
    return 0;
}

int uvgo_errgroup_set_limit(uvgo_errgroup_t *g, int n)
{
    int err;

    if (!g)
        return UVGO_EINVAL;
    if (n < 0) {
        if (g->limited_ && (err = uvgo__sem_resize(&g->sem_, 0)))
            return err;
        g->limited_ = 0;
        return 0;
    }
    if ((err = uvgo__sem_resize(&g->sem_, n)))
        return err;
    g->limited_ = 1;
    return 0;
}

static void record(uvgo_errgroup_t *g, int err)
{
    uvgo_ctx_t *c = NULL;

    uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
    if (!g->err_) {
        g->err_ = err;
        c = uvgo_ctx_retain(g->ctx_);
    }
    uvgo__spin_unlock(lock_of(g));
    if (c) {
        uvgo_ctx_cancel_cause(c, err);
        uvgo_ctx_release(c);
    }
}

static void *member_main(void *arg)
{
    struct member m = *(struct member *)arg;
    int err;

    uvgo__free(arg);
    err = m.fn(m.arg);
    if (err)
        record(m.g, err);
    if (m.slot)
        uvgo_sem_release(&m.g->sem_, 1);
    uvgo_wg_done(&m.g->wg_);
    return NULL;
}

/* Starts a member that holds a slot (or needs none).  On failure gives
 * the slot back. */
static int start(uvgo_errgroup_t *g, uvgo_errgroup_fn fn, void *arg, int slot)
{
    static const uvgo_task_opts_t opts = {.name = "errgroup"};
    struct member *m = uvgo__malloc(sizeof *m);
    int err;

    if (!m) {
        err = UVGO_ENOMEM;
        goto fail;
    }
    m->g = g;
    m->fn = fn;
    m->arg = arg;
    m->slot = slot;
    uvgo_wg_add(&g->wg_, 1);
    err = uvgo_task_spawn(NULL, member_main, m, &opts);
    if (!err)
        return 0;
    uvgo_wg_add(&g->wg_, -1);
    uvgo__free(m);
fail:
    if (slot)
        uvgo_sem_release(&g->sem_, 1);
    return err;
}

int uvgo_errgroup_go_ctx(uvgo_errgroup_t *g, uvgo_errgroup_fn fn, void *arg,
                         uvgo_ctx_t *ctx)
{
    int err, slot = 0;

    if (!g || !fn)
        return UVGO_EINVAL;
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (ctx && (err = uvgo_ctx_err(ctx)))
        return err;
    if (g->limited_) {
        if ((err = uvgo_sem_acquire_ctx(&g->sem_, 1, ctx)))
            return err;
        slot = 1;
    }
    return start(g, fn, arg, slot);
}

int uvgo_errgroup_go(uvgo_errgroup_t *g, uvgo_errgroup_fn fn, void *arg)
{
    return uvgo_errgroup_go_ctx(g, fn, arg, NULL);
}

int uvgo_errgroup_try_go(uvgo_errgroup_t *g, uvgo_errgroup_fn fn, void *arg)
{
    int err, slot = 0;

    if (!g || !fn)
        return UVGO_EINVAL;
    if (g->limited_) {
        if ((err = uvgo_sem_try_acquire(&g->sem_, 1)))
            return err;
        slot = 1;
    }
    return start(g, fn, arg, slot);
}

int uvgo_errgroup_wait_ctx(uvgo_errgroup_t *g, uvgo_ctx_t *ctx)
{
    uvgo_ctx_t *c;
    int err;

    if (!g)
        return UVGO_EINVAL;
    if ((err = uvgo_wg_wait_ctx(&g->wg_, ctx)))
        return err;
    uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
    err = g->err_;
    c = g->ctx_;
    g->ctx_ = NULL;
    uvgo__spin_unlock(lock_of(g));
    if (c) {
        uvgo_ctx_cancel_cause(c, err);
        uvgo_ctx_release(c);
    }
    return err;
}

int uvgo_errgroup_wait(uvgo_errgroup_t *g)
{
    return uvgo_errgroup_wait_ctx(g, NULL);
}
