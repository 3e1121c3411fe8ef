/* req.c: waiting for one libuv request, bounded by a context (see io.h). */
#include "io/io.h"

uv_loop_t *uvgo__ioreq_init(uvgo__ioreq_t *io, int shared, uv_req_t *req,
                            void (*free)(uvgo__ioreq_t *io))
{
    uvgo__assert(!shared || free);
    io->done = (uvgo_event_t)UVGO_EVENT_INIT;
    atomic_init(&io->refs, 2);
    io->shared = shared;
    io->loop = uvgo_loop();
    io->req = req;
    io->free = free;
    return io->loop;
}

static void ioreq_unref(uvgo__ioreq_t *io)
{
    /* acq_rel: whoever frees must see everything the other side wrote. */
    if (atomic_fetch_sub_explicit(&io->refs, 1, memory_order_acq_rel) == 1)
        io->free(io);
}

void uvgo__ioreq_complete(uvgo__ioreq_t *io)
{
    if (!io->shared) {
        /* The waiter's frame may be gone the moment the event is set. */
        uvgo_event_set(&io->done);
        return;
    }
    uvgo_event_set(&io->done);
    ioreq_unref(io);
}

int uvgo__ioreq_wait(uvgo__ioreq_t *io, uvgo_ctx_t *ctx, const char *what)
{
    uvgo_chan_t *done = NULL;
    int err;

    uvgo__assert(io->shared || !ctx);
    if (!ctx || (err = uvgo__wait_begin(ctx, &done)) == 0) {
        err = uvgo__event_wait_done(&io->done, what, done);
        if (err != UVGO__DONE)
            return err;
    }
    /* The context ended first.  Cancelling touches the request, which
     * belongs to its loop's thread: go there first. */
    if (io->req && uvgo_loop_enter(io->loop) == 0)
        (void)uv_cancel(io->req); /* fails once the work has started */
    ioreq_unref(io);
    return uvgo_ctx_err(ctx);
}

void uvgo__ioreq_release(uvgo__ioreq_t *io)
{
    if (io->shared)
        ioreq_unref(io);
}

void uvgo__ioreq_retain(uvgo__ioreq_t *io)
{
    uvgo__assert(io->shared);
    /* relaxed: the caller's own reference keeps the record alive. */
    atomic_fetch_add_explicit(&io->refs, 1, memory_order_relaxed);
}
