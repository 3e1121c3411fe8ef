/* chan.h: the channel internals chan.c and select.c share.
 *
 * A blocked operation is a waiter (runtime/waiter.h) on the blocked task's
 * own stack, queued on the channel's recvq or sendq.  Whoever completes
 * the operation takes the waiter under the channel's lock (unlinks it,
 * claims it), moves the value, sets `given`, unlocks, and only then
 * readies the task.
 *
 * Select.  A select blocked on n channels queues n waiters that share one
 * claim word.  A waker that unlinks such a waiter must first win the claim
 * (0 -> index + 1); if it loses, another case already committed and the
 * waiter is dropped (left unlinked).  The selecting task, once woken,
 * unlinks its remaining waiters itself (uvgo__list_contains says which).
 * A plain send or receive has no claim word: taking it is enough.
 */
#ifndef UVGO_CHAN_INTERNAL_H
#define UVGO_CHAN_INTERNAL_H

#include <string.h>

#include "runtime/runtime.h"
#include "runtime/waiter.h"

/* wait_hooks: a timer's channel (the timer-liveness count, timer.h) and a
 * bubble's (the wait is durable, synctest.h). */
#define UVGO__CHAN_HOOK_TIMER 1
#define UVGO__CHAN_HOOK_BUBBLE 2

/* No size a caller passes: the largest element is UVGO_CHAN_ELEM_MAX. */
#define UVGO__CHAN_SLOW_SIZE SIZE_MAX

struct uvgo_chan {
    uvgo_spinlock_t lock;
    atomic_int refs;
    /* Immutable. */
    uint32_t elem_size;
    uint32_t cap;
    /* Immutable once published: the size argument with which a send /
     * a receive needs no check beyond a non-NULL element (uvgo__chan_check):
     * elem_size, or UVGO__CHAN_SLOW_SIZE, which no caller passes, when a
     * special case applies (receive-only for sends, a bubble for both).
     * One compare then stands for the size, receive-only and bubble
     * checks (bench pingpong: five instructions less per operation). */
    size_t send_size, recv_size;
    /* Under lock. */
    uint32_t count; /* buffered elements */
    uint32_t recvx; /* next buffered element to receive */
    uint32_t sendx; /* next free buffer slot */
    int closed;
    /* Immutable once published. */
    uint8_t wait_hooks;         /* UVGO__CHAN_HOOK_*: what a task blocking on it
                                   must tell others, tested once on the way; a
                                   timer's channel reports len and cap 0 (Go 1.23) */
    uint8_t recv_only;          /* a timer's or a context's Done: users may only
                                   receive (Go's <-chan); the runtime sends, closes;
                                   set with uvgo__chan_set_recv_only */
    struct uvgo_bubble *bubble; /* made in this synctest bubble, or NULL */
    uvgo_list_t recvq, sendq;   /* waiters (uvgo_waiter_t), oldest first */
    char buf[];                 /* cap * elem_size bytes */
};

/* Takes (unlinks and claims) the first waiter of ch's queue q that can
 * still be woken, dropping select waiters whose select another case
 * already won.  Every waiter holds a reference on its channel, and whoever
 * unlinks a waiter drops it: here the caller's own reference keeps the
 * count above zero, and the woken task never has to touch the channel
 * again.  Caller holds the channel's lock. */
static inline uvgo_waiter_t *uvgo__waitq_take(uvgo_chan_t *ch, uvgo_list_t *q)
{
    uvgo_waiter_t *w;
    uvgo__assert(uvgo__spin_held(&ch->lock));
    while ((w = uvgo__waiter_pop(q))) {
        atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_relaxed);
        if (uvgo__waiter_claim(w))
            return w;
    }
    return NULL;
}

/* Whether the invariants of chan.c's opening comment hold, for asserts
 * where the lock is about to be released.  A select that sends and
 * receives on one unbuffered channel may wait in both of its queues, so
 * "a waiting receiver means no waiting sender" is left out.  Caller holds
 * ch->lock. */
static inline int uvgo__chan_consistent(const uvgo_chan_t *ch)
{
    return ch->count <= ch->cap &&
           (uvgo__list_empty(&ch->recvq) || ch->count == 0) &&
           (uvgo__list_empty(&ch->sendq) || ch->count == ch->cap) &&
           (!ch->closed ||
            (uvgo__list_empty(&ch->recvq) && uvgo__list_empty(&ch->sendq)));
}

static inline void uvgo__elem_copy(void *dst, const void *src, size_t n)
{
    if (!dst || !n)
        return;
    /* The common element sizes, without a call. */
    switch (n) {
    case 8:
        memcpy(dst, src, 8);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, n);
    }
}

/* 0 if a caller's object of `size` bytes at `elem` may be sent or
 * received on ch, else UVGO_EINVAL: the size must be the element size,
 * only a receive (which discards) or a zero-size element may pass NULL,
 * and nobody but the runtime sends on a receive-only channel. */
int uvgo__chan_check_slow(const uvgo_chan_t *ch, const void *elem, size_t size,
                          int send);

/* ... and UVGO_EBUBBLE when ch belongs to a synctest bubble the caller is
 * not in.  The common case (the right size, a buffer, an ordinary
 * channel) is one compare, and a NULL test for a send: a receive may pass
 * NULL with any size. */
static inline int uvgo__chan_check(const uvgo_chan_t *ch, const void *elem,
                                   size_t size, int send)
{
    if (send ? UVGO_LIKELY(size == ch->send_size && elem)
             : UVGO_LIKELY(size == ch->recv_size))
        return 0;
    return uvgo__chan_check_slow(ch, elem, size, send);
}

/* Makes ch receive-only for users (see recv_only); before it is
 * published. */
static inline void uvgo__chan_set_recv_only(uvgo_chan_t *ch)
{
    ch->recv_only = 1;
    ch->send_size = UVGO__CHAN_SLOW_SIZE;
}

static inline char *uvgo__chan_slot(uvgo_chan_t *ch, uint32_t i)
{
    return ch->buf + (size_t)i * ch->elem_size;
}

/* Sets up a channel in zeroed memory the caller provides (sizeof *ch +
 * elem_size * cap bytes), holding one reference.  uvgo_chan_release frees
 * that memory with free() once the last reference goes, so it must be the
 * start of a malloc'ed block (a context's Done channel heads its context's
 * block).  Arguments are within the limits uvgo_chan_make checks. */
void uvgo__chan_init(uvgo_chan_t *ch, size_t elem_size, size_t cap);

/* uvgo_chan_close without the receive-only check: how the runtime and the
 * layers above close the channels they own.  Returns 0 or UVGO_ECLOSED. */
int uvgo__chan_close(uvgo_chan_t *ch);

/* The outcome of trying one operation on a locked channel. */
enum { UVGO_TRY_BLOCK = 0, UVGO_TRY_DONE, UVGO_TRY_CLOSED };

/* Try to send / receive without blocking.  Caller holds ch->lock; it is
 * still held on return.  A task to wake, if any, is returned in *wake and
 * must be readied (uvgo__task_ready) after the lock is released.
 *
 * Inline everywhere: as calls, with *wake in memory, they cost more than
 * their work (bench pingpong: about forty instructions a round trip), and
 * select tries up to two a case (bench select, one worker: 1004 -> 893
 * instructions per receive, and from ~8% slower than 1e85b25 in wall
 * time to on par). */
static inline __attribute__((always_inline)) int
uvgo__chan_try_send_locked(uvgo_chan_t *ch, const void *elem,
                           uvgo_task_t **wake)
{
    uvgo_waiter_t *r;

    uvgo__assert(uvgo__spin_held(&ch->lock));
    if (ch->closed)
        return UVGO_TRY_CLOSED;
    if ((r = uvgo__waitq_take(ch, &ch->recvq))) {
        uvgo__elem_copy(r->elem, elem, ch->elem_size);
        r->given = 1;
        *wake = r->task;
        return UVGO_TRY_DONE;
    }
    if (ch->count < ch->cap) {
        uvgo__elem_copy(uvgo__chan_slot(ch, ch->sendx), elem, ch->elem_size);
        if (++ch->sendx == ch->cap)
            ch->sendx = 0;
        ch->count++;
        return UVGO_TRY_DONE;
    }
    return UVGO_TRY_BLOCK;
}

static inline __attribute__((always_inline)) int
uvgo__chan_try_recv_locked(uvgo_chan_t *ch, void *elem, uvgo_task_t **wake)
{
    uvgo_waiter_t *s;

    uvgo__assert(uvgo__spin_held(&ch->lock));
    if ((s = uvgo__waitq_take(ch, &ch->sendq))) {
        if (ch->cap == 0) {
            uvgo__elem_copy(elem, s->elem, ch->elem_size);
        } else {
            /* Full buffer: the oldest value is ours, the sender's goes to
             * the back, in the slot just freed. */
            char *slot = uvgo__chan_slot(ch, ch->recvx);
            uvgo__elem_copy(elem, slot, ch->elem_size);
            uvgo__elem_copy(slot, s->elem, ch->elem_size);
            if (++ch->recvx == ch->cap)
                ch->recvx = 0;
            ch->sendx = ch->recvx;
        }
        s->given = 1;
        *wake = s->task;
        return UVGO_TRY_DONE;
    }
    if (ch->count > 0) {
        uvgo__elem_copy(elem, uvgo__chan_slot(ch, ch->recvx), ch->elem_size);
        if (++ch->recvx == ch->cap)
            ch->recvx = 0;
        ch->count--;
        return UVGO_TRY_DONE;
    }
    if (ch->closed) {
        if (elem)
            memset(elem, 0, ch->elem_size);
        return UVGO_TRY_CLOSED;
    }
    return UVGO_TRY_BLOCK;
}

/* uvgo__chan_try_send_locked out of line, for callers off the hot paths
 * (a timer that fires), where the inlined size cases of uvgo__elem_copy
 * only grow the code. */
int uvgo__chan_try_send_locked_call(uvgo_chan_t *ch, const void *elem,
                                    uvgo_task_t **wake);

/* Parks the calling task forever (a NULL channel, an empty select). */
UVGO_NORETURN void uvgo__block_forever(const char *what);

/* Waiting on something that is not a channel, bounded by a context.
 *
 * The caller has registered its waiter w (uvgo__waiter_init: its own
 * claim word) with some source (a timer heap, an event, a sync queue)
 * that, to wake it, must claim w (storing 1) and then ready the task.
 * This parks until that happens or until `done` (a context's Done channel;
 * NULL: never) closes, which claims w with 2.  Returns the winner: 1, or 2
 * when the caller must withdraw its registration from the source, knowing
 * the source can no longer claim it.  On 1 the Done waiter is gone from
 * `done` when this returns. */
int uvgo__park_or_done(uvgo_waiter_t *w, uvgo_chan_t *done, const char *what);

/* Select with one more receive case on `done` (NULL: none), for the *_ctx
 * forms.  Returns a case index, n if `done` won, or an error. */
int uvgo__select_done(uvgo_select_case_t *cases, size_t n, int block,
                      uvgo_chan_t *done);

#endif /* UVGO_CHAN_INTERNAL_H */
