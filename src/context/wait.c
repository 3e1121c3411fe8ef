/* wait.c: the runtime's blocking calls bounded by a context (the *_ctx forms
 * of uvgo/chan.h, uvgo/task.h and uvgo/time.h).  Each is the runtime's
 * primitive with the context's Done channel as one more way to wake; see
 * context.h. */
#include "context/context.h"
#include "runtime/timer.h"

int uvgo__wait_begin(uvgo_ctx_t *ctx, uvgo_chan_t **done)
{
    int err;

    *done = NULL;
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (ctx) {
        if ((err = uvgo_ctx_err(ctx)))
            return err;
        *done = uvgo_ctx_done(ctx);
    }
    return 0;
}

int uvgo_chan_send_ctx(uvgo_chan_t *ch, const void *elem, size_t size,
                       uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done;
    int err, r;
    if (!ctx)
        return uvgo_chan_send(ch, elem, size);
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    uvgo_select_case_t c[1] = {UVGO_CASE_SEND_N(ch, elem, size)};
    r = uvgo__select_done(c, 1, 1, done);
    if (r == 1)
        return uvgo_ctx_err(ctx);
    if (r < 0)
        return r;
    return c[0].ok ? 0 : UVGO_ECLOSED;
}

int uvgo_chan_recv_ctx(uvgo_chan_t *ch, void *elem, size_t size, int *ok,
                       uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done;
    int err, r;
    if (!ctx)
        return uvgo_chan_recv(ch, elem, size, ok);
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    uvgo_select_case_t c[1] = {UVGO_CASE_RECV_N(ch, elem, size)};
    r = uvgo__select_done(c, 1, 1, done);
    if (r == 1)
        return uvgo_ctx_err(ctx);
    if (r < 0)
        return r;
    if (ok)
        *ok = c[0].ok;
    return c[0].ok ? 0 : UVGO_ECLOSED;
}

int uvgo_select_ctx(uvgo_select_case_t *cases, size_t n, uvgo_ctx_t *ctx)
{
    int err, r;
    if (!ctx)
        return uvgo_select(cases, n);
    if ((err = uvgo_ctx_err(ctx)))
        return err;
    r = uvgo__select_done(cases, n, 1, uvgo_ctx_done(ctx));
    if (r >= 0 && (size_t)r == n)
        return uvgo_ctx_err(ctx);
    return r;
}

int uvgo_sleep_ctx(uvgo_duration_t d, uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done;
    int err;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    return uvgo__wait_end(uvgo__sleep_done(d, done), ctx);
}

int uvgo_task_join_ctx(uvgo_task_t *task, void **result, uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done;
    int err;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    return uvgo__wait_end(uvgo__task_join_done(task, result, done), ctx);
}

int uvgo_event_wait_ctx(uvgo_event_t *ev, const char *what, uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done;
    int err;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    return uvgo__wait_end(uvgo__event_wait_done(ev, what, done), ctx);
}
