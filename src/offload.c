/* offload.c: running a blocking C call on libuv's thread pool while the
 * calling task waits and its worker serves other tasks.
 *
 * The request lives on the waiting task's stack.  The completion callback
 * runs on the same worker's loop (the task is parked there, so it cannot have
 * migrated) and readies the task through its event. */
#include "runtime.h"

struct offload {
    uv_work_t req;
    void (*fn)(void *);
    void *arg;
    uvgo_event_t done;
};

static void offload_work(uv_work_t *req)
{
    struct offload *o = uvgo__container_of(req, struct offload, req);
    o->fn(o->arg);
}

static void offload_after(uv_work_t *req, int status)
{
    struct offload *o = uvgo__container_of(req, struct offload, req);
    (void)status; /* never cancelled: the task waits for the job */
    uvgo_event_set(&o->done);
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
    o.done = (uvgo_event_t)UVGO_EVENT_INIT;
    err = uv_queue_work(loop, &o.req, offload_work, offload_after);
    if (err)
        return err;
    return uvgo_event_wait(&o.done, "offload");
}
