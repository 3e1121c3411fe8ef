/* wait.c: the out-of-line part of wait.h (parking on sync primitives). */
#include "sync/wait.h"

void uvgo__wakelist_ready(struct uvgo__wakelist *w)
{
    struct uvgo__parker *p = w->first;
    while (p) {
        /* Read both before readying: the parker lives on the woken task's
         * stack, which may be gone as soon as it runs. */
        struct uvgo__parker *next = p->next;
        uvgo_task_t *t = p->task;
        uvgo__task_ready(t);
        p = next;
    }
    uvgo__wakelist_init(w);
}

int uvgo__parkq_park(uvgo__parkq_t *q, struct uvgo__parker *p,
                     uvgo_chan_t *done, uvgo_ctx_t *ctx, const char *what)
{
    uvgo__parkq_unlock(q);
    if (uvgo__park_or_done(&p->sel, done, what) == 1)
        return 0;
    /* The context won.  A waker may be looking at p under the lock right
     * now (it will lose the claim and unlink p): p's frame must outlive
     * that, so the caller finishes under the lock. */
    uvgo__parkq_lock(q);
    return uvgo_ctx_err(ctx);
}
