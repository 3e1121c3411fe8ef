/* offload.c: running a blocking C call on libuv's thread pool while the
 * calling task waits and its worker serves other tasks.  A request of
 * io.h: on the task's stack for the plain form, on the heap for the
 * context form, which may return before the job is done.  A job that has
 * started runs to the end; one still queued when the context ends is
 * cancelled and never runs. */
#include "io/io.h"

struct offload {
    uvgo__ioreq_t io;
    uv_work_t req;
    void (*fn)(void *);
    void *arg;
};

static void offload_work(uv_work_t *req)
{
    struct offload *o = uvgo__container_of(req, struct offload, req);
    o->fn(o->arg);
}

static void offload_after(uv_work_t *req, int status)
{
    struct offload *o = uvgo__container_of(req, struct offload, req);
    (void)status; /* UV_ECANCELED only when the waiter already left */
    uvgo__ioreq_complete(&o->io);
}

static void offload_free(uvgo__ioreq_t *io)
{
    uvgo__free(uvgo__container_of(io, struct offload, io));
}

static int offload_run(struct offload *o, uvgo_ctx_t *ctx)
{
    uv_loop_t *loop = uvgo__ioreq_init(&o->io, ctx != NULL,
                                       (uv_req_t *)&o->req, offload_free);
    int err = uv_queue_work(loop, &o->req, offload_work, offload_after);
    if (err) {
        if (o->io.shared)
            uvgo__free(o);
        return err;
    }
    err = uvgo__ioreq_wait(&o->io, ctx, "offload");
    if (err == 0)
        uvgo__ioreq_release(&o->io);
    return err;
}

int uvgo_offload_ctx(void (*fn)(void *arg), void *arg, uvgo_ctx_t *ctx)
{
    struct offload *o;
    uvgo_chan_t *done;
    int err;

    if (!ctx)
        return uvgo_offload(fn, arg);
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!fn)
        return UVGO_EINVAL;
    o = uvgo__calloc(1, sizeof *o);
    if (!o)
        return UVGO_ENOMEM;
    o->fn = fn;
    o->arg = arg;
    return offload_run(o, ctx);
}

int uvgo_offload(void (*fn)(void *arg), void *arg)
{
    struct offload o;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!fn)
        return UVGO_EINVAL;
    o.fn = fn;
    o.arg = arg;
    return offload_run(&o, NULL);
}
