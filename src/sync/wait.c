/* wait.c: the out-of-line part of wait.h (parking on sync primitives). */
#include "sync/wait.h"

int uvgo__parkq_park(uvgo__parkq_t *q, uvgo_waiter_t *w, uvgo_chan_t *done,
                     uvgo_ctx_t *ctx, const char *what)
{
    uvgo__assert(uvgo__parkq_held(q) && w->claim == &w->won);
    uvgo__parkq_unlock(q);
    if (uvgo__park_or_done(w, done, what) == 1)
        return 0;
    /* The context won.  A waker may be looking at w under the lock right
     * now (it will lose the claim and unlink w): w's frame must outlive
     * that, so the caller finishes under the lock. */
    uvgo__parkq_lock(q);
    return uvgo_ctx_err(ctx);
}
