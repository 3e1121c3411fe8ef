/* context.h: what the layers above the runtime need from contexts.
 *
 * The runtime knows nothing of contexts: its blocking primitives take a
 * Done channel (uvgo__select_done, uvgo__park_or_done, uvgo__sleep_done,
 * uvgo__event_wait_done) and report UVGO__DONE when that channel won.
 * Every *_ctx form is the same three steps around such a primitive:
 *
 *     if ((err = uvgo__wait_begin(ctx, &done)))   task? already done?
 *         return err;
 *     r = primitive(..., done);                     NULL done: never
 *     return uvgo__wait_end(r, ctx);                UVGO__DONE -> ctx's error
 */
#ifndef UVGO_CONTEXT_INTERNAL_H
#define UVGO_CONTEXT_INTERNAL_H

#include "runtime/chan.h"

/* The start of a blocking call: UVGO_ENOTTASK outside a task, the
 * context's error if it is already done, else 0 with *done set to its Done
 * channel (NULL for none).  Call it before taking any lock: making a Done
 * channel allocates. */
int uvgo__wait_begin(uvgo_ctx_t *ctx, uvgo_chan_t **done);

/* The result of a *_ctx form from its primitive's result r. */
static inline int uvgo__wait_end(int r, uvgo_ctx_t *ctx)
{
    return r == UVGO__DONE ? uvgo_ctx_err(ctx) : r;
}

#endif /* UVGO_CONTEXT_INTERNAL_H */
