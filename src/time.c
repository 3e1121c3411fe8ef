/* time.c: sleeping.
 *
 * Each worker keeps its sleeping tasks in a pairing heap keyed by deadline
 * (nanoseconds on uv_hrtime's clock) and one uv_timer_t armed for the
 * earliest.  A sleeper's heap node lives on its own stack.  A sleeping task is
 * parked on its worker and cannot be stolen, so heap and timer are touched by
 * the owner thread only.
 *
 * Never early: libuv's timers count milliseconds on the loop's clock, which
 * may lag the precise clock.  The timer is armed for whole milliseconds
 * rounded up from the loop's clock, and on firing each deadline is checked
 * against uv_hrtime(); a sleeper that is not yet due waits for a re-armed
 * timer.
 */
#include "runtime.h"

struct sleeper {
    uvgo_heap_node_t node;
    uvgo_task_t *task;
};

static void on_timer(uv_timer_t *h);

static void arm(struct uvgo_worker *w)
{
    uvgo_heap_node_t *n = uvgo__heap_min(&w->timers);
    int64_t wait_ns;
    uint64_t ms;

    if (!n) {
        if (w->timer_armed >= 0) {
            uv_timer_stop(&w->timer);
            w->timer_armed = -1;
        }
        return;
    }
    if (n->key == w->timer_armed)
        return;
    uv_update_time(w->loop);
    wait_ns = n->key - (int64_t)uv_now(w->loop) * 1000000;
    ms = wait_ns <= 0 ? 0 : (uint64_t)(wait_ns + 999999) / 1000000;
    uv_timer_start(&w->timer, on_timer, ms, 0);
    w->timer_armed = n->key;
}

static void on_timer(uv_timer_t *h)
{
    struct uvgo_worker *w = uvgo__container_of(h, struct uvgo_worker, timer);
    int64_t now = (int64_t)uv_hrtime();
    uvgo_heap_node_t *n;

    w->timer_armed = -1;
    while ((n = uvgo__heap_min(&w->timers)) && n->key <= now) {
        uvgo__heap_remove(&w->timers, n);
        uvgo__task_ready(uvgo__container_of(n, struct sleeper, node)->task);
    }
    arm(w);
}

void uvgo__timers_init(struct uvgo_worker *w)
{
    uv_timer_init(w->loop, &w->timer);
    w->timer_armed = -1;
}

void uvgo__timers_close(struct uvgo_worker *w)
{
    uv_timer_stop(&w->timer);
    w->timer_armed = -1;
}

int64_t uvgo_now(void)
{
    return (int64_t)uv_hrtime();
}

int uvgo_sleep(uvgo_duration_t d)
{
    struct uvgo_worker *w = uvgo__worker_self();
    struct sleeper s;

    if (!w || w->current == &w->sched)
        return UVGO_ENOTTASK;
    if (d <= 0)
        return uvgo_task_yield();
    s.task = w->current;
    uvgo__heap_insert(&w->timers, &s.node, (int64_t)uv_hrtime() + d);
    arm(w);
    uvgo__task_park("sleep");
    return 0;
}
