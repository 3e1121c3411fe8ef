/* chan.c: channels (see uvgo/chan.h for the semantics, runtime/chan.h and
 * runtime/waiter.h for the waiter protocol).
 *
 * Invariants, under ch->lock:
 *   - recvq non-empty => the buffer is empty (a receiver waits only when
 *     nothing is buffered), and no sender waits (but a select that both
 *     sends and receives on one unbuffered channel waits in both queues);
 *   - sendq non-empty => the buffer is full;
 *   - closed => both queues are empty (close wakes everyone, and nobody
 *     queues on a closed channel).
 *
 * A send to a waiting receiver copies straight into the receiver's
 * destination: one copy, no trip through the buffer.  A receive from a full
 * channel with a waiting sender takes the oldest buffered value and puts the
 * sender's value at the back, so order is kept (Go's recv()).
 *
 * The lock is a spinlock (rank CHAN, a leaf: base/lockrank.h): critical
 * sections are a few dozen instructions and never block, and a task never
 * parks holding it (it unlocks, then parks; see runtime/runtime.h for why
 * that is safe).  uvgo__chan_consistent checks the invariants above in
 * debug builds.
 */
#include "runtime/chan.h"
#include "runtime/synctest.h"
#include "runtime/timer.h"

/* Releases ch->lock, the invariants checked first (debug builds). */
static inline void chan_unlock(uvgo_chan_t *ch)
{
    uvgo__assert(uvgo__chan_consistent(ch));
    uvgo__spin_unlock(&ch->lock);
}

void uvgo__chan_init(uvgo_chan_t *ch, size_t elem_size, size_t cap)
{
    atomic_init(&ch->refs, 1);
    ch->elem_size = (uint32_t)elem_size;
    ch->cap = (uint32_t)cap;
    /* Made in a synctest bubble: only its members may use it. */
    ch->bubble = uvgo__bubble_retain(uvgo__bubble_self());
    ch->send_size = ch->recv_size =
        ch->bubble ? UVGO__CHAN_SLOW_SIZE : (size_t)elem_size;
    ch->wait_hooks = ch->bubble ? UVGO__CHAN_HOOK_BUBBLE : 0;
}

int uvgo__chan_check_slow(const uvgo_chan_t *ch, const void *elem, size_t size,
                          int send)
{
    if (send && ch->recv_only)
        return UVGO_EINVAL;
    if (elem ? size != ch->elem_size : send && ch->elem_size)
        return UVGO_EINVAL;
    return uvgo__bubble_check(ch->bubble);
}

int uvgo_chan_make(uvgo_chan_t **out, size_t elem_size, size_t cap)
{
    uvgo_chan_t *ch;

    if (!out || elem_size > UVGO_CHAN_ELEM_MAX || cap > UVGO_CHAN_CAP_MAX)
        return UVGO_EINVAL;
    ch = uvgo__calloc(1, sizeof *ch + elem_size * cap);
    if (!ch)
        return UVGO_ENOMEM;
    uvgo__chan_init(ch, elem_size, cap);
    *out = ch;
    return 0;
}

uvgo_chan_t *uvgo_chan_retain(uvgo_chan_t *ch)
{
    if (ch)
        atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    return ch;
}

/* Out of line: releases run on every waiter a waker unlinks. */
static UVGO_NOINLINE void chan_free(uvgo_chan_t *ch)
{
    uvgo__bubble_release(ch->bubble);
    uvgo__free(ch);
}

void uvgo_chan_release(uvgo_chan_t *ch)
{
    int old;
    if (!ch)
        return;
    /* acq_rel: the last releaser sees every use the others made. */
    old = atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel);
    uvgo__assert(old > 0); /* not released more often than retained */
    if (old == 1) {
        uvgo__assert(uvgo__list_empty(&ch->recvq) &&
                     uvgo__list_empty(&ch->sendq)); /* waiters hold refs */
        chan_free(ch);
    }
}

size_t uvgo_chan_len(uvgo_chan_t *ch)
{
    size_t n;
    if (!ch || (ch->wait_hooks & UVGO__CHAN_HOOK_TIMER))
        return 0;
    uvgo__spin_lock(&ch->lock, UVGO_RANK_CHAN);
    n = ch->count;
    chan_unlock(ch);
    return n;
}

size_t uvgo_chan_cap(uvgo_chan_t *ch)
{
    return ch && !(ch->wait_hooks & UVGO__CHAN_HOOK_TIMER) ? ch->cap : 0;
}

void uvgo__block_forever(const char *what)
{
    for (;;) {
        uvgo__park_durable();  /* nothing, not even a bubble's clock, ends it */
        uvgo__task_park(what); /* nothing will ready us */
    }
}

int uvgo__park_or_done(uvgo_waiter_t *w, uvgo_chan_t *done, const char *what)
{
    uvgo_waiter_t d; /* w's stand-in on done's queue: it claims with 2 */
    uvgo_task_t *self = w->task;
    int won, mine = 0;
    /* A durable wait (the caller said so) stays durable only if `done` is
     * the bubble's too: a context from outside could end it.  The flag is
     * set again right before each park, so a return without one leaves
     * nothing behind. */
    int durable = self->park_durable && (!done || done->bubble);

    uvgo__assert(w->claim == &w->won && w->index == 0 &&
                 self == uvgo__task_self());
    self->park_durable = 0;
    if (!done) {
        self->park_durable = (uint8_t)durable;
        uvgo__task_park(what);
        return 1;
    }
    uvgo__waiter_init_case(&d, w->task, NULL, w->claim, 1);
    uvgo__spin_lock(&done->lock, UVGO_RANK_CHAN);
    if (done->closed) {
        chan_unlock(done);
        if (uvgo__waiter_claim(&d))
            return 2;
        /* The source won first; its wake-up is ours to consume. */
        self->park_durable = (uint8_t)durable;
        uvgo__task_park(what);
        return 1;
    }
    uvgo__list_push_back(&done->recvq, &d.link);
    atomic_fetch_add_explicit(&done->refs, 1, memory_order_relaxed);
    chan_unlock(done);
    self->park_durable = (uint8_t)durable;
    uvgo__task_park(what);
    /* acquire: pairs with the winner's CAS. */
    won = atomic_load_explicit(w->claim, memory_order_acquire);
    uvgo__assert(won == 1 || won == 2);
    if (won == 1) {
        uvgo__spin_lock(&done->lock, UVGO_RANK_CHAN);
        if (uvgo__list_contains(&done->recvq, &d.link)) {
            uvgo__list_remove(&done->recvq, &d.link);
            mine = 1;
        }
        chan_unlock(done);
        if (mine)
            uvgo_chan_release(done);
    }
    return won;
}

int uvgo__chan_try_send_locked_call(uvgo_chan_t *ch, const void *elem,
                                    uvgo_task_t **wake)
{
    return uvgo__chan_try_send_locked(ch, elem, wake);
}

/* Queues a waiter for the calling task and parks it.  Caller holds ch->lock
 * (released here).  Returns the waiter's given. */
static inline __attribute__((always_inline)) int
block_on(uvgo_chan_t *ch, uvgo_list_t *q, uvgo_task_t *self, void *elem,
         const char *what)
{
    uvgo_waiter_t w;
    int hooks = ch->wait_hooks;

    uvgo__assert(uvgo__spin_held(&ch->lock) && !ch->closed);
    uvgo__waiter_init_case(&w, self, elem, NULL, 0);
    uvgo__list_push_back(q, &w.link);
    /* The waiter's reference (see "Ownership" in uvgo/chan.h), dropped by
     * whoever unlinks it: we never touch the channel once woken. */
    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    if (UVGO_UNLIKELY(hooks)) {
        if (hooks & UVGO__CHAN_HOOK_TIMER)
            uvgo__timer_chan_wait_begin(); /* liveness: see timer.h */
        /* A wait on a bubble's channel is durable: only the bubble can
         * end it (the caller passed uvgo__chan_check, so it is a member).
         * On any other channel park_durable is already 0: it is set only
         * right before a park, and every park clears it. */
        if (hooks & UVGO__CHAN_HOOK_BUBBLE)
            self->park_durable = 1;
    }
    chan_unlock(ch);
    uvgo__task_park(what);
    if (UVGO_UNLIKELY(hooks & UVGO__CHAN_HOOK_TIMER))
        uvgo__timer_chan_wait_end();
    return w.given;
}

int uvgo_chan_send(uvgo_chan_t *ch, const void *elem, size_t size)
{
    uvgo_task_t *self = uvgo__task_self(), *wake = NULL;
    int r;

    if (!self)
        return UVGO_ENOTTASK;
    if (!ch)
        uvgo__block_forever("chan send (nil chan)");
    if ((r = uvgo__chan_check(ch, elem, size, 1)))
        return r;
    uvgo__spin_lock(&ch->lock, UVGO_RANK_CHAN);
    r = uvgo__chan_try_send_locked(ch, elem, &wake);
    if (r == UVGO_TRY_BLOCK)
        return block_on(ch, &ch->sendq, self, (void *)elem, "chan send")
                   ? 0
                   : UVGO_ECLOSED;
    chan_unlock(ch);
    if (wake)
        uvgo__task_ready(wake);
    return r == UVGO_TRY_DONE ? 0 : UVGO_ECLOSED;
}

int uvgo_chan_recv(uvgo_chan_t *ch, void *elem, size_t size, int *ok)
{
    uvgo_task_t *self = uvgo__task_self(), *wake = NULL;
    int r;

    if (!self)
        return UVGO_ENOTTASK;
    if (!ch)
        uvgo__block_forever("chan receive (nil chan)");
    if ((r = uvgo__chan_check(ch, elem, size, 0)))
        return r;
    uvgo__spin_lock(&ch->lock, UVGO_RANK_CHAN);
    r = uvgo__chan_try_recv_locked(ch, elem, &wake);
    if (r == UVGO_TRY_BLOCK) {
        r = block_on(ch, &ch->recvq, self, elem, "chan receive");
        if (ok)
            *ok = r;
        return r ? 0 : UVGO_ECLOSED;
    }
    chan_unlock(ch);
    if (wake)
        uvgo__task_ready(wake);
    if (ok)
        *ok = r == UVGO_TRY_DONE;
    return r == UVGO_TRY_DONE ? 0 : UVGO_ECLOSED;
}

int uvgo_chan_try_send(uvgo_chan_t *ch, const void *elem, size_t size)
{
    uvgo_task_t *wake = NULL;
    int r;

    if (!ch)
        return UVGO_EAGAIN;
    if ((r = uvgo__chan_check(ch, elem, size, 1)))
        return r;
    uvgo__spin_lock(&ch->lock, UVGO_RANK_CHAN);
    r = uvgo__chan_try_send_locked(ch, elem, &wake);
    chan_unlock(ch);
    if (wake)
        uvgo__task_ready(wake);
    return r == UVGO_TRY_DONE     ? 0
           : r == UVGO_TRY_CLOSED ? UVGO_ECLOSED
                                  : UVGO_EAGAIN;
}

int uvgo_chan_try_recv(uvgo_chan_t *ch, void *elem, size_t size, int *ok)
{
    uvgo_task_t *wake = NULL;
    int r;

    if (ok)
        *ok = 0;
    if (!ch)
        return UVGO_EAGAIN;
    if ((r = uvgo__chan_check(ch, elem, size, 0)))
        return r;
    uvgo__spin_lock(&ch->lock, UVGO_RANK_CHAN);
    r = uvgo__chan_try_recv_locked(ch, elem, &wake);
    chan_unlock(ch);
    if (wake)
        uvgo__task_ready(wake);
    if (ok)
        *ok = r == UVGO_TRY_DONE;
    return r == UVGO_TRY_DONE     ? 0
           : r == UVGO_TRY_CLOSED ? UVGO_ECLOSED
                                  : UVGO_EAGAIN;
}

int uvgo_chan_close(uvgo_chan_t *ch)
{
    int err;
    /* Go rejects closing a receive-only channel at compile time. */
    if (!ch || ch->recv_only)
        return UVGO_EINVAL;
    if ((err = uvgo__bubble_check(ch->bubble)))
        return err;
    return uvgo__chan_close(ch);
}

int uvgo__chan_close(uvgo_chan_t *ch)
{
    uvgo_list_t wake = {0};
    uvgo_waiter_t *w;

    uvgo__spin_lock(&ch->lock, UVGO_RANK_CHAN);
    if (ch->closed) {
        chan_unlock(ch);
        return UVGO_ECLOSED;
    }
    ch->closed = 1;
    /* Collect everyone, in arrival order, then wake them after unlocking.
     * The wake list reuses the waiters' links: they are off the queues
     * now. */
    while ((w = uvgo__waitq_take(ch, &ch->recvq))) {
        if (w->elem)
            memset(w->elem, 0, ch->elem_size);
        w->given = 0;
        uvgo__list_push_back(&wake, &w->link);
    }
    while ((w = uvgo__waitq_take(ch, &ch->sendq))) {
        w->given = 0;
        uvgo__list_push_back(&wake, &w->link);
    }
    chan_unlock(ch);
    uvgo__waiters_ready(&wake);
    return 0;
}
