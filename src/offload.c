/* offload.c: running a blocking C call on libuv's thread pool while the
 * calling task waits and its worker serves other tasks.
 *
 * The plain form's request lives on the waiting task's stack: the task
 * waits for the job whatever happens.  The context form may return before
 * the job is done, so its request is on the heap, shared by the task and
 * the completion callback, and freed by whichever lets go last.  The
 * completion callback runs on the loop the job was queued on. */
#include "runtime.h"

struct offload {
    uv_work_t req;
    void (*fn)(void *);
    void *arg;
    uvgo_event_t done;
    atomic_int refs; /* context form: the task and the callback */
    int heap;
};

static void offload_work(uv_work_t *req)
{
    struct offload *o = uvgo__container_of(req, struct offload, req);
    o->fn(o->arg);
}

static void offload_unref(struct offload *o)
{
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        free(o);
}

static void offload_after(uv_work_t *req, int status)
{
    struct offload *o = uvgo__container_of(req, struct offload, req);
    (void)status; /* never cancelled */
    if (o->heap) {
        uvgo_event_set(&o->done); /* nobody may be waiting any more */
        offload_unref(o);
    } else {
        uvgo_event_set(&o->done);
    }
}

int uvgo_offload_ctx(void (*fn)(void *arg), void *arg, uvgo_ctx_t *ctx)
{
    struct offload *o;
    int err;

    if (!ctx)
        return uvgo_offload(fn, arg);
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!fn)
        return UVGO_EINVAL;
    if ((err = uvgo_ctx_err(ctx)))
        return err;
    o = calloc(1, sizeof *o);
    if (!o)
        return UVGO_ENOMEM;
    o->fn = fn;
    o->arg = arg;
    o->heap = 1;
    atomic_init(&o->refs, 2);
    err = uv_queue_work(uvgo_loop(), &o->req, offload_work, offload_after);
    if (err) {
        free(o);
        return err;
    }
    err = uvgo_event_wait_ctx(&o->done, "offload", ctx);
    offload_unref(o);
    return err;
}

int uvgo_offload(void (*fn)(void *arg), void *arg)
{
    struct offload o;
    uv_loop_t *loop = uvgo_loop();
    int err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!fn)
        return UVGO_EINVAL;
    o.fn = fn;
    o.arg = arg;
    o.heap = 0;
    o.done = (uvgo_event_t)UVGO_EVENT_INIT;
    err = uv_queue_work(loop, &o.req, offload_work, offload_after);
    if (err)
        return err;
    return uvgo_event_wait(&o.done, "offload");
}
