/* chan.h: the channel internals chan.c and select.c share.
 *
 * A blocked operation is a waiter (Go's sudog) on the blocked task's own
 * stack, queued on the channel.  Whoever completes the operation unlinks the
 * waiter under the channel's lock, moves the value, sets `ok`, unlocks, and
 * only then readies the task.
 *
 * Select.  A select blocked on n channels queues n waiters that share one
 * `uvgo_sel`.  A waker that unlinks such a waiter must first win the select
 * with a CAS on sel->done (0 -> index + 1); if it loses, another case already
 * committed and the waiter is skipped (left unlinked).  The selecting task,
 * once woken, unlinks its remaining waiters itself (`linked` says which).
 */
#ifndef UVGO_CHAN_INTERNAL_H
#define UVGO_CHAN_INTERNAL_H

#include <string.h>

#include "runtime/runtime.h"

struct uvgo_sel {
    atomic_int done; /* 0 while waiting; index + 1 of the case that won */
};

struct uvgo_waiter {
    /* Under the channel's lock while linked. */
    struct uvgo_waiter *next, *prev;
    int linked;
    /* Immutable while queued. */
    uvgo_task_t *task;
    void *elem;            /* send: the value; receive: where it goes */
    struct uvgo_sel *sel;  /* NULL for a plain send or receive */
    int index;             /* the case, in a select */
    /* Written by the waker before it readies the task. */
    int ok;                /* 1 a value moved; 0 the channel closed */
};

struct uvgo_waitq {
    struct uvgo_waiter *first, *last;
};

struct uvgo_chan {
    uvgo_spinlock_t lock;
    atomic_int refs;
    /* Immutable. */
    uint32_t elem_size;
    uint32_t cap;
    /* Under lock. */
    uint32_t count;  /* buffered elements */
    uint32_t recvx;  /* next buffered element to receive */
    uint32_t sendx;  /* next free buffer slot */
    int closed;
    /* Immutable once published. */
    uint8_t timer;     /* a timer's channel: len and cap report 0 (Go 1.23) */
    uint8_t recv_only; /* a timer's or a context's Done: users may only
                          receive (Go's <-chan); the runtime sends, closes */
    uint8_t in_bubble; /* bubble != NULL, next to recv_only: the common
                          case of uvgo__chan_check tests both at once */
    struct uvgo_bubble *bubble; /* made in this synctest bubble, or NULL */
    struct uvgo_waitq recvq, sendq;
    char buf[];      /* cap * elem_size bytes */
};

static inline void uvgo__waitq_push(struct uvgo_waitq *q, struct uvgo_waiter *w)
{
    w->next = NULL;
    w->prev = q->last;
    if (q->last)
        q->last->next = w;
    else
        q->first = w;
    q->last = w;
    w->linked = 1;
}

static inline void uvgo__waitq_unlink(struct uvgo_waitq *q,
                                      struct uvgo_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->first = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->last = w->prev;
    w->next = w->prev = NULL;
    w->linked = 0;
}

/* Unlinks and returns the first waiter that can still be woken, skipping
 * (and unlinking) select waiters whose select another case already won.
 * Every waiter holds a reference on its channel, and whoever unlinks a
 * waiter drops it: here the caller's own reference keeps the count above
 * zero, and the woken task never has to touch the channel again.
 * Caller holds the channel's lock. */
static inline struct uvgo_waiter *uvgo__waitq_take(uvgo_chan_t *ch,
                                                   struct uvgo_waitq *q)
{
    struct uvgo_waiter *w;
    while ((w = q->first)) {
        uvgo__waitq_unlink(q, w);
        atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_relaxed);
        if (!w->sel)
            return w;
        int zero = 0;
        /* acq_rel: pairs with the selecting task's read of done after it
         * wakes, and with other wakers racing for the same select. */
        if (atomic_compare_exchange_strong_explicit(
                &w->sel->done, &zero, w->index + 1, memory_order_acq_rel,
                memory_order_acquire))
            return w;
    }
    return NULL;
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
int uvgo__chan_check_slow(const uvgo_chan_t *ch, const void *elem,
                          size_t size, int send);

/* ... and UVGO_EBUBBLE when ch belongs to a synctest bubble the caller is
 * not in.  The common case (the right size, a buffer, an ordinary
 * channel) is one test. */
static inline int uvgo__chan_check(const uvgo_chan_t *ch, const void *elem,
                                   size_t size, int send)
{
    uint16_t special;
    memcpy(&special, &ch->recv_only, sizeof special); /* and in_bubble */
    if (UVGO_LIKELY(size == ch->elem_size && elem && !special))
        return 0;
    return uvgo__chan_check_slow(ch, elem, size, send);
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
 * still held on return.  A waiter to wake, if any, is returned in *wake and
 * must be readied (uvgo__task_ready(w->task), read before unlocking) after
 * the lock is released. */
int uvgo__chan_try_send_locked(uvgo_chan_t *ch, const void *elem,
                               uvgo_task_t **wake);
int uvgo__chan_try_recv_locked(uvgo_chan_t *ch, void *elem,
                               uvgo_task_t **wake);

/* Parks the calling task forever (a NULL channel, an empty select). */
UVGO_NORETURN void uvgo__block_forever(const char *what);

/* Waiting on something that is not a channel, bounded by a context.
 *
 * The caller has registered itself with some source (a timer heap, an
 * event) that, to wake it, must win `sel` with CAS(done, 0, 1) and then
 * ready the task.  This parks until that happens or until `done` (a
 * context's Done channel; NULL: never) closes, which wins with 2.  Returns
 * the winner: 1, or 2 when the caller must withdraw its registration from
 * the source, knowing the source can no longer claim it.  On 1 the Done
 * waiter is gone from `done` when this returns. */
int uvgo__park_or_done(struct uvgo_sel *sel, uvgo_chan_t *done,
                       const char *what);

/* Select with one more receive case on `done` (NULL: none), for the *_ctx
 * forms.  Returns a case index, n if `done` won, or an error. */
int uvgo__select_done(uvgo_select_case_t *cases, size_t n, int block,
                      uvgo_chan_t *done);

#endif /* UVGO_CHAN_INTERNAL_H */
