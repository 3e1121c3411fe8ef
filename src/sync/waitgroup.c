/* waitgroup.c: Go's sync.WaitGroup for tasks (see uvgo/sync.h).
 *
 * State, as Go's: one 64-bit word, the counter in the high half and the
 * number of parked waiters in the low half, so an add that brings the
 * counter to zero learns in the same atomic step whether anyone waits.
 * Waiters are counted and queued under the queue lock, and only with a CAS
 * that still sees a non-zero counter; the add that reaches zero takes the
 * lock, zeroes the word and wakes the whole queue.  A waiter whose context
 * wins takes itself off the queue and the count, under the lock, with a CAS
 * that sees a non-zero counter; if the waker already dropped it (it lost
 * the claim), the waker's zeroing covered it.  If the counter is zero, an
 * add that counted it is between its decrement and the lock: the waiter
 * waits for that add's wake-up (Go's Wait would have returned too), so
 * the add never finds the word changed by the waiter's task having
 * returned and added again.
 *
 * Misuse checks are Go's: a negative counter; a positive add that finds the
 * counter had been zero while tasks wait (an add racing with a wait); a
 * counter that is not zero again by the time the zeroing add holds the
 * lock, or when a woken waiter returns (reuse before every wait returned).
 */
#include "sync/wait.h"

#define WAITERS_MASK 0xffffffffull

static inline int32_t counter_of(uint64_t s)
{
    return (int32_t)(s >> 32);
}

int uvgo_wg_add(uvgo_wg_t *wg, int delta)
{
    uvgo_list_t w = {0};
    uint64_t s;
    int32_t c;

    if (!wg)
        return UVGO_EINVAL;
    /* acq_rel: every done happens before the zeroing add sees zero
     * (release), and the zeroing add sees them (acquire). */
    s = __atomic_add_fetch(&wg->state_, (uint64_t)(int64_t)delta << 32,
                           __ATOMIC_ACQ_REL);
    c = counter_of(s);
    if (c < 0)
        uvgo__panic("sync: negative WaitGroup counter");
    if (delta > 0 && c == delta && (s & WAITERS_MASK))
        uvgo__panic("sync: WaitGroup misuse: Add called concurrently with "
                    "Wait");
    if (c > 0 || !(s & WAITERS_MASK))
        return 0;

    /* The counter reached zero with waiters: wake them all. */
    uvgo__parkq_lock(&wg->q_);
    s = __atomic_load_n(&wg->state_, __ATOMIC_RELAXED);
    if (counter_of(s) != 0) {
        uvgo__parkq_unlock(&wg->q_);
        uvgo__panic("sync: WaitGroup misuse: Add called concurrently with "
                    "Wait");
    }
    __atomic_store_n(&wg->state_, 0, __ATOMIC_RELEASE);
    uvgo__waiter_take_all(&wg->q_.list_, &w);
    uvgo__parkq_unlock(&wg->q_);
    uvgo__waiters_ready(&w);
    return 0;
}

int uvgo_wg_done(uvgo_wg_t *wg)
{
    return uvgo_wg_add(wg, -1);
}

int uvgo_wg_wait_ctx(uvgo_wg_t *wg, uvgo_ctx_t *ctx)
{
    uvgo_waiter_t p;
    uvgo_chan_t *done;
    uint64_t s;
    int err;

    if (!wg)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    /* acquire: pairs with the adds' release. */
    s = __atomic_load_n(&wg->state_, __ATOMIC_ACQUIRE);
    if (counter_of(s) == 0)
        return 0;
    uvgo__parkq_lock(&wg->q_);
    do {
        if (counter_of(s) == 0) {
            uvgo__parkq_unlock(&wg->q_);
            return 0;
        }
    } while (!__atomic_compare_exchange_n(&wg->state_, &s, s + 1, 0,
                                          __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE));
    uvgo__waiter_init(&p, uvgo__task_self(), NULL);
    uvgo__list_push_back(&wg->q_.list_, &p.link);
    uvgo__park_durable(); /* synctest: durable, as Go counts it */
    err = uvgo__parkq_park(&wg->q_, &p, done, ctx, "sync.WaitGroup.Wait");
    if (err && uvgo__list_contains(&wg->q_.list_, &p.link)) {
        /* The context won and no zeroing add has dropped us yet.  Take our
         * count off, in one step with checking that the counter is not
         * zero: an add that takes it to zero afterwards then does not see
         * us, and one that took it there before did, and is on its way to
         * this lock to wake us. */
        s = __atomic_load_n(&wg->state_, __ATOMIC_RELAXED);
        while (counter_of(s) != 0 &&
               !__atomic_compare_exchange_n(&wg->state_, &s, s - 1, 0,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        if (counter_of(s) != 0) {
            uvgo__list_remove(&wg->q_.list_, &p.link);
            uvgo__parkq_unlock(&wg->q_);
            return err;
        }
        /* That add is coming.  Leaving now would be wrong either way:
         * without our count, our task could Add again before the add has
         * zeroed the word (a false misuse abort there, or an erased Add);
         * with it, the next Add would look concurrent with a Wait.  Wait
         * for the add instead, with no context (it is a lock hand-off
         * away), and count the wait as done: it was. */
        atomic_store_explicit(p.claim, 0, memory_order_relaxed);
        uvgo__park_durable();
        err = uvgo__parkq_park(&wg->q_, &p, NULL, NULL, "sync.WaitGroup.Wait");
    }
    if (!err) {
        /* acquire: pairs with the zeroing add's release store. */
        if (__atomic_load_n(&wg->state_, __ATOMIC_ACQUIRE) != 0)
            uvgo__panic("sync: WaitGroup is reused before previous Wait "
                        "has returned");
        return 0;
    }
    /* The zeroing add has dropped us already (unlinked, and counted in
     * its zeroing). */
    uvgo__parkq_unlock(&wg->q_);
    return err;
}

int uvgo_wg_wait(uvgo_wg_t *wg)
{
    return uvgo_wg_wait_ctx(wg, NULL);
}

struct wg_go {
    uvgo_wg_t *wg;
    uvgo_task_fn fn;
    void *arg;
};

static void *wg_go_main(void *arg)
{
    struct wg_go g = *(struct wg_go *)arg;
    void *r;

    uvgo__free(arg);
    r = g.fn(g.arg);
    uvgo_wg_done(g.wg);
    return r;
}

int uvgo_wg_go(uvgo_wg_t *wg, uvgo_task_fn fn, void *arg)
{
    static const uvgo_task_opts_t opts = {.name = "wg.go"};
    struct wg_go *g;
    int err;

    if (!wg || !fn)
        return UVGO_EINVAL;
    g = uvgo__malloc(sizeof *g);
    if (!g)
        return UVGO_ENOMEM;
    g->wg = wg;
    g->fn = fn;
    g->arg = arg;
    uvgo_wg_add(wg, 1);
    err = uvgo_task_spawn(NULL, wg_go_main, g, &opts);
    if (err) {
        uvgo__free(g);
        uvgo_wg_add(wg, -1);
    }
    return err;
}
