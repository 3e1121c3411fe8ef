/* waiter.h: the waiter record, one task blocked on one thing (Go's sudog).
 *
 * Blocking never allocates: a task that must wait puts a uvgo_waiter_t on
 * its own stack, links it where its waker will look (a channel's queue, a
 * sync primitive's queue, a timer heap's sleeper, an event's word) and
 * parks.  The waker takes the waiter, moves the value (`elem`), records
 * what it gave (`given`), and readies the task once its own locks are
 * released; from then on it never touches the waiter, whose frame may be
 * gone as soon as the task runs.
 *
 *     task                                  waker (any thread)
 *     ----                                  -----
 *     lock q; link w                        lock q; w = take(q)
 *     unlock q; park ...................... copy elem; w->given = 1
 *                                           t = w->task; unlock q
 *     (runs again) <......................  ready(t)
 *
 * Claims.  When more than one waker may race for a waiter (the cases of a
 * select, a wait bounded by a context, a sleeper a context may end), the
 * waiter points at a claim word, and only the waker whose CAS takes it
 * from 0 to index + 1 may complete the wait; the others leave it alone
 * (a losing waker that finds it in a queue just unlinks it).  The waiters
 * of one select share the select's word, each with its case's index; a
 * waiter on its own uses its own word (`won`, index 0: a waker stores 1,
 * and uvgo__park_or_done's Done channel stores 2); a waiter nobody can
 * race for (a plain channel send or receive) has no claim word at all:
 * whoever unlinks it, under its queue's lock, has it.
 *
 * Membership.  A waiter is in one list or none (base/list.h), and whoever
 * unlinks it clears its links, so once woken, its task can tell from
 * uvgo__list_contains(), under the queue's lock, whether a waker took it
 * or it must unlink itself.  Wake lists (waiters taken under a lock, to be
 * readied after it is released) reuse the same link: uvgo__waiters_ready
 * pops each one, clearing it, before it readies the task.
 */
#ifndef UVGO_WAITER_H
#define UVGO_WAITER_H

#include "base/list.h"
#include "runtime/runtime.h"

typedef struct uvgo_waiter {
    /* In the queue of what it waits on, under that queue's lock; or in a
     * waker's wake list. */
    uvgo_list_node_t link;
    /* Set before it is linked; immutable while linked. */
    uvgo_task_t *task; /* the blocked task */
    void *elem;        /* channels: the value sent, or where a received
                          one goes (NULL: discard it); sync: what the
                          waiter asks for (a semaphore's weight) or
                          where its result goes (singleflight) */
    atomic_int *claim; /* the claim word: &won, a select's, or NULL */
    int index;         /* a win stores index + 1: a select's case */
    /* Written by the waker that took it, before it readies the task (an
     * event's setter: when it is done with the waiter). */
    int given;      /* channels: 1 a value moved, 0 the channel
                       closed; mutex: 1 the lock was handed over */
    atomic_int won; /* the claim word of a waiter on its own: 0
                       waiting, else index + 1 of whoever won */
} uvgo_waiter_t;

#define uvgo__waiter_of(node) uvgo__container_of(node, uvgo_waiter_t, link)

/* A waiter on its own, for `task`: no links, its own claim word. */
static inline void uvgo__waiter_init(uvgo_waiter_t *w, uvgo_task_t *task,
                                     void *elem)
{
    w->link.next = w->link.prev = NULL;
    w->task = task;
    w->elem = elem;
    w->claim = &w->won;
    w->index = 0;
    w->given = 0;
    atomic_init(&w->won, 0);
}

/* A waiter that shares the claim word `claim` (NULL: none) as case
 * `index`; its own word stays unused. */
static inline void uvgo__waiter_init_case(uvgo_waiter_t *w, uvgo_task_t *task,
                                          void *elem, atomic_int *claim,
                                          int index)
{
    w->link.next = w->link.prev = NULL;
    w->task = task;
    w->elem = elem;
    w->claim = claim;
    w->index = index;
    w->given = 0;
}

/* Claims w for the caller: 1 if the caller may complete the wait, 0 if
 * another waker (or the context) won first. */
static inline int uvgo__waiter_claim(uvgo_waiter_t *w)
{
    int zero = 0;
    if (!w->claim)
        return 1;
    /* acq_rel: pairs with the other claimants' CAS, and with the woken
     * task's acquire load of the word. */
    return atomic_compare_exchange_strong_explicit(
        w->claim, &zero, w->index + 1, memory_order_acq_rel,
        memory_order_acquire);
}

/* Whether the wait w belongs to has been claimed by anyone.  A hint for
 * wakers deciding whom to serve (the waiter may be claimed just after). */
static inline int uvgo__waiter_claimed(const uvgo_waiter_t *w)
{
    return w->claim &&
           atomic_load_explicit(w->claim, memory_order_relaxed) != 0;
}

/* The first waiter of q, or NULL; q's lock held. */
static inline uvgo_waiter_t *uvgo__waiter_first(const uvgo_list_t *q)
{
    uvgo_list_node_t *n = uvgo__list_first(q);
    return n ? uvgo__waiter_of(n) : NULL;
}

/* Unlinks and returns the first waiter of q, or NULL; q's lock held. */
static inline uvgo_waiter_t *uvgo__waiter_pop(uvgo_list_t *q)
{
    uvgo_list_node_t *n = uvgo__list_pop_front(q);
    return n ? uvgo__waiter_of(n) : NULL;
}

/* Unlinks and claims the first waiter of q that can still be claimed,
 * dropping (unlinking) the ones whose wait another waker or a context
 * already won, or returns NULL.  Caller holds q's lock. */
static inline uvgo_waiter_t *uvgo__waiter_take(uvgo_list_t *q)
{
    uvgo_waiter_t *w;
    while ((w = uvgo__waiter_pop(q)))
        if (uvgo__waiter_claim(w))
            return w;
    return NULL;
}

/* Takes every waiter of q that can be claimed, in order, onto the wake
 * list `wake`; returns how many.  Caller holds q's lock. */
static inline int64_t uvgo__waiter_take_all(uvgo_list_t *q, uvgo_list_t *wake)
{
    uvgo_waiter_t *w;
    int64_t n = 0;
    while ((w = uvgo__waiter_take(q))) {
        uvgo__list_push_back(wake, &w->link);
        n++;
    }
    return n;
}

/* Unlinks w from q if it is still there: its own context won, and no
 * waker took it (a waker that loses the claim unlinks it too).  Returns
 * whether it was there.  Caller holds q's lock. */
static inline int uvgo__waiter_leave(uvgo_list_t *q, uvgo_waiter_t *w)
{
    if (!uvgo__list_contains(q, &w->link))
        return 0;
    uvgo__list_remove(q, &w->link);
    return 1;
}

/* Readies the task of every waiter on the wake list `wake`, in order, and
 * leaves it empty.  Call it after releasing the locks the waiters were
 * taken under. */
static inline void uvgo__waiters_ready(uvgo_list_t *wake)
{
    uvgo_waiter_t *w;
    while ((w = uvgo__waiter_pop(wake))) {
        /* Unlinked, and its task read, before the task may run (and its
         * frame go). */
        uvgo_task_t *t = w->task;
        uvgo__task_ready(t);
    }
}

#endif /* UVGO_WAITER_H */
