/* offload.c: running a blocking C call on libuv's thread pool while the
 * calling task waits and its worker serves other tasks.  A request of
 * io.h: on the task's stack for the plain form, on the heap for the
 * context form, which may return before the job is done.  The job is never
 * cancelled, even while still queued: the caller cannot tell a job that
 * will never run from one that is running, so fn must be the one to own
 * (and free) whatever arg holds, and it can only do that if it runs. */
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
    (void)status; /* never cancelled */
    uvgo__ioreq_complete(&o->io);
}

static void offload_free(uvgo__ioreq_t *io)
{
    uvgo__free(uvgo__container_of(io, struct offload, io));
}

static int offload_run(struct offload *o, uvgo_ctx_t *ctx)
{
    uv_loop_t *loop = uvgo__ioreq_init(&o->io, ctx != NULL, NULL, offload_free);
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
