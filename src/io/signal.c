/* signal.c: signals into channels, on libuv signal handles.
 *
 * A subscription owns one uv_signal_t per signal, on the loop of the worker
 * the subscribing task ran on; stopping it enters that loop (the affinity
 * rule) before closing them.  The subscription's memory goes when the last
 * handle's close callback has run. */
#include <signal.h>

#include "io/io.h"

struct uvgo_signal {
    uv_loop_t *loop;
    uvgo_chan_t *ch;
    size_t n, open;
    uv_signal_t handles[];
};

static void on_signal(uv_signal_t *h, int signum)
{
    struct uvgo_signal *s = h->data;
    /* Never blocks: a full channel drops the delivery, as Go does. */
    (void)uvgo_chan_try_send(s->ch, &signum, sizeof signum);
}

static void on_closed(uv_handle_t *h)
{
    struct uvgo_signal *s = h->data;
    if (--s->open == 0) {
        uvgo_chan_release(s->ch);
        uvgo__free(s);
    }
}

int uvgo_signal_notify(uvgo_signal_t **out, uvgo_chan_t *ch, const int *signals,
                       size_t n)
{
    struct uvgo_signal *s;
    uv_loop_t *loop;
    int err = 0;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!out || !ch || !signals || n == 0 || ch->elem_size != sizeof(int))
        return UVGO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (signals[i] <= 0 || signals[i] >= NSIG || signals[i] == SIGKILL ||
            signals[i] == SIGSTOP)
            return UVGO_EINVAL;
    s = uvgo__calloc(1, sizeof *s + n * sizeof s->handles[0]);
    if (!s)
        return UVGO_ENOMEM;
    /* The handles belong to this loop; the task may not move off it until
     * they are started. */
    loop = uvgo_loop();
    uvgo_loop_enter(loop);
    s->loop = loop;
    s->ch = uvgo_chan_retain(ch);
    for (size_t i = 0; i < n && !err; i++) {
        s->handles[i].data = s;
        err = uv_signal_init(loop, &s->handles[i]);
        if (err)
            break;
        s->open++;
        err = uv_signal_start(&s->handles[i], on_signal, signals[i]);
    }
    if (err) {
        if (s->open == 0) {
            uvgo_chan_release(s->ch);
            uvgo__free(s);
        } else {
            size_t k = s->open;
            for (size_t i = 0; i < k; i++)
                uv_close((uv_handle_t *)&s->handles[i], on_closed);
        }
        return err;
    }
    s->n = n;
    *out = s;
    return 0;
}

int uvgo_signal_stop(uvgo_signal_t *s)
{
    int err;
    if (!s)
        return UVGO_EINVAL;
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if ((err = uvgo_loop_enter(s->loop)))
        return err;
    for (size_t i = 0; i < s->n; i++) {
        uv_signal_stop(&s->handles[i]);
        uv_close((uv_handle_t *)&s->handles[i], on_closed);
    }
    return 0;
}
