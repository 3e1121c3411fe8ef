/* select.c: Go's select over any number of send and receive cases.
 *
 * Pass 1 visits the cases in a random order (a Fisher-Yates shuffle), each
 * under its own channel's lock, and commits the first that is ready: when
 * several are ready each is equally likely to be chosen, because the ready
 * one that comes first in a uniformly random order is uniformly random.
 * Taking one lock at a time makes the common case (something is ready) cost
 * one or two lock round trips instead of locking every channel, which Go's
 * selectgo does.  Committing a case found ready is always right: it was
 * ready at that instant.  Finding none is not a fact about any one instant
 * (a value can move from a channel not yet visited to one already
 * visited), so "none ready" is decided only by pass 2.  Rejected: Go's
 * lock-all-first pass 1; measured slower with bench select.
 *
 * Pass 2, only if nothing was ready: lock every channel in address order (so
 * two selects cannot deadlock on each other) and look once more.  A select
 * with a default (uvgo_select_try) returns "none ready" only from here,
 * where it was true with every lock held, as in Go; a lone case on one
 * channel skips it, pass 1 having looked under its only lock.  A blocking
 * select queues one waiter per case, all sharing one claim word
 * (runtime/waiter.h), unlocks and parks.  A waker claims the select with a
 * CAS on that word; losing cases are never touched by anyone but us.  The
 * address order is the CHAN rank's rule (base/lockrank.h), checked in
 * debug builds.
 *
 * Pass 3, once woken: lock every channel again and unlink the waiters of the
 * cases that did not win.
 *
 * The waiters live on this stack for up to STACK_CASES cases; bigger selects
 * allocate them (and may fail with UVGO_ENOMEM).
 */
#include "runtime/chan.h"
#include "runtime/timer.h"

#define STACK_CASES 16

static __thread uint64_t thread_rand;

static uint64_t *rand_state(void)
{
    struct uvgo_worker *w = uvgo__worker_self();
    if (w)
        return &w->rand;
    if (!thread_rand)
        thread_rand = uv_hrtime() | 1;
    return &thread_rand;
}

/* The direction decides which fast check applies (uvgo__chan_check), so
 * each case tests its direction once. */
static inline int validate(uvgo_select_case_t *cases, size_t n)
{
    if (n && !cases)
        return UVGO_EINVAL;
    if (n > UVGO_SELECT_MAX)
        return UVGO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        uvgo_select_case_t *c = &cases[i];
        uvgo_chan_t *ch = c->chan;
        int err;
        if (c->dir == UVGO_SELECT_RECV) {
            if (!ch || UVGO_LIKELY(c->size == ch->recv_size))
                continue;
        } else if (c->dir == UVGO_SELECT_SEND) {
            if (!ch || UVGO_LIKELY(c->size == ch->send_size && c->elem))
                continue;
        } else {
            return UVGO_EINVAL;
        }
        err = uvgo__chan_check_slow(ch, c->elem, c->size,
                                    c->dir == UVGO_SELECT_SEND);
        if (err)
            return err;
    }
    return 0;
}

/* Tries case c on its locked channel.  UVGO_TRY_BLOCK, or the case has
 * committed: its ok is set and *wake may name a task to ready. */
static inline __attribute__((always_inline)) int try_case(uvgo_select_case_t *c,
                                                          uvgo_task_t **wake)
{
    int r;
    if (c->dir == UVGO_SELECT_SEND)
        r = uvgo__chan_try_send_locked(c->chan, c->elem, wake);
    else
        r = uvgo__chan_try_recv_locked(c->chan, c->elem, wake);
    if (r != UVGO_TRY_BLOCK)
        c->ok = r == UVGO_TRY_DONE;
    return r;
}

/* Pass 1: returns the committed case's index, or -1. */
static int pass1(uvgo_select_case_t *cases, const uint16_t *order, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uvgo_select_case_t *c = &cases[order[k]];
        uvgo_task_t *wake = NULL;
        if (!c->chan)
            continue;
        uvgo__spin_lock(&c->chan->lock, UVGO_RANK_CHAN);
        int r = try_case(c, &wake);
        uvgo__spin_unlock(&c->chan->lock);
        if (r != UVGO_TRY_BLOCK) {
            if (wake)
                uvgo__task_ready(wake);
            return order[k];
        }
    }
    return -1;
}

/* Locks every channel of locks[], in address order: CHAN is a MULTI rank
 * (base/lockrank.h), and debug builds check the order. */
static void lock_all(uvgo_chan_t **locks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        uvgo__spin_lock(&locks[i]->lock, UVGO_RANK_CHAN);
}

static void unlock_all(uvgo_chan_t **locks, size_t n)
{
    for (size_t i = n; i-- > 0;)
        uvgo__spin_unlock(&locks[i]->lock);
}

/* Sorts the distinct non-NULL channels by address into locks[]; returns
 * how many there are. */
static size_t lock_order(uvgo_select_case_t *cases, size_t n,
                         uvgo_chan_t **locks)
{
    size_t m = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        uvgo_chan_t *ch = cases[i].chan;
        size_t j;
        if (!ch)
            continue;
        /* Insertion sort: selects are small. */
        for (j = m; j > 0 && (uintptr_t)locks[j - 1] > (uintptr_t)ch; j--)
            locks[j] = locks[j - 1];
        locks[j] = ch;
        m++;
    }
    for (size_t i = 0; i < m; i++) /* drop duplicates */
        if (d == 0 || locks[d - 1] != locks[i])
            locks[d++] = locks[i];
    return d;
}

static int select_core(uvgo_select_case_t *cases, size_t n, int block)
{
    uint16_t order_stack[STACK_CASES];
    uvgo_chan_t *locks_stack[STACK_CASES];
    uvgo_waiter_t waiters_stack[STACK_CASES];
    uint16_t *order = order_stack;
    uvgo_chan_t **locks = locks_stack;
    uvgo_waiter_t *waiters = waiters_stack;
    void *heap = NULL;
    uvgo_task_t *self = NULL;
    atomic_int claim; /* every case's waiter's: the winner's index + 1 */
    uint64_t *rnd;
    size_t nlocks;
    int won;

    if (block) {
        self = uvgo__task_self();
        if (!self)
            return UVGO_ENOTTASK;
    }
    if (n > STACK_CASES) {
        heap =
            uvgo__malloc(n * (sizeof *order + sizeof *locks + sizeof *waiters));
        if (!heap)
            return UVGO_ENOMEM;
        waiters = heap;
        locks = (uvgo_chan_t **)(waiters + n);
        order = (uint16_t *)(locks + n);
    }

    /* A uniformly random poll order. */
    rnd = rand_state();
    for (size_t i = 0; i < n; i++) { /* inside-out Fisher-Yates */
        size_t j = uvgo__rand_below(rnd, (uint32_t)(i + 1));
        if (j != i)
            order[i] = order[j];
        order[j] = (uint16_t)i;
    }

    won = pass1(cases, order, n);
    if (won >= 0 || (!block && n <= 1)) {
        uvgo__free(heap);
        return won >= 0 ? won : UVGO_EAGAIN;
    }

    nlocks = lock_order(cases, n, locks);
    if (nlocks == 0) {
        uvgo__free(heap);
        if (!block)
            return UVGO_EAGAIN;
        uvgo__block_forever(n ? "select (nil chans only)"
                              : "select (no cases)");
    }

    /* Pass 2. */
    lock_all(locks, nlocks);
    for (size_t k = 0; k < n; k++) {
        uvgo_select_case_t *c = &cases[order[k]];
        uvgo_task_t *wake = NULL;
        if (c->chan && try_case(c, &wake) != UVGO_TRY_BLOCK) {
            won = order[k]; /* order may live in heap */
            unlock_all(locks, nlocks);
            if (wake)
                uvgo__task_ready(wake);
            uvgo__free(heap);
            return won;
        }
    }
    if (!block) { /* none ready, with every lock held */
        unlock_all(locks, nlocks);
        uvgo__free(heap);
        return UVGO_EAGAIN;
    }
    atomic_init(&claim, 0);
    /* The channels' wait hooks (runtime/chan.h): any has them, all do. */
    int any = 0, all = UVGO__CHAN_HOOK_BUBBLE;
    for (size_t i = 0; i < n; i++) {
        uvgo_select_case_t *c = &cases[i];
        uvgo_waiter_t *w = &waiters[i];
        uvgo__waiter_init_case(w, self, c->elem, &claim, (int)i);
        if (!c->chan)
            continue;
        any |= c->chan->wait_hooks;
        all &= c->chan->wait_hooks;
        uvgo__list_push_back(c->dir == UVGO_SELECT_SEND ? &c->chan->sendq
                                                        : &c->chan->recvq,
                             &w->link);
        atomic_fetch_add_explicit(&c->chan->refs, 1, memory_order_relaxed);
    }
    if (UVGO_UNLIKELY(any)) {
        if (any & UVGO__CHAN_HOOK_TIMER)
            uvgo__timer_chan_wait_begin(); /* liveness: see timer.h */
        /* Durable when every case is one of the bubble's channels (and
         * then we are a member: validate checked).  With none of them,
         * park_durable is already 0 (see block_on in chan.c). */
        if (any & UVGO__CHAN_HOOK_BUBBLE)
            self->park_durable = (all & UVGO__CHAN_HOOK_BUBBLE) != 0;
    }
    unlock_all(locks, nlocks);
    uvgo__task_park("select");
    if (UVGO_UNLIKELY(any & UVGO__CHAN_HOOK_TIMER))
        uvgo__timer_chan_wait_end();

    /* Pass 3.  acquire: pairs with the winner's CAS. */
    won = atomic_load_explicit(&claim, memory_order_acquire) - 1;
    uvgo__assert(won >= 0 && (size_t)won < n && cases[won].chan);
    lock_all(locks, nlocks);
    for (size_t i = 0; i < n; i++) {
        uvgo_select_case_t *c = &cases[i];
        uvgo_list_t *q;
        waiters[i].index = -1; /* marks the ones we unlink ourselves */
        if (!c->chan)
            continue;
        q = c->dir == UVGO_SELECT_SEND ? &c->chan->sendq : &c->chan->recvq;
        if (uvgo__list_contains(q, &waiters[i].link)) {
            uvgo__assert((size_t)won != i);
            uvgo__list_remove(q, &waiters[i].link);
            waiters[i].index = (int)i;
        }
    }
    unlock_all(locks, nlocks);
    /* Whoever unlinks a waiter drops its reference: these are ours. */
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan && waiters[i].index >= 0)
            uvgo_chan_release(cases[i].chan);
    cases[won].ok = waiters[won].given;
    uvgo__free(heap);
    return won;
}

int uvgo__select_done(uvgo_select_case_t *ucases, size_t un, int block,
                      uvgo_chan_t *done)
{
    uvgo_select_case_t stack[STACK_CASES];
    uvgo_select_case_t *cases;
    int err = validate(ucases, un), won;

    if (err)
        return err;
    if (!done)
        return select_core(ucases, un, block);
    /* The Done channel is one more receive case, at index un. */
    cases =
        un + 1 > STACK_CASES ? uvgo__malloc((un + 1) * sizeof *cases) : stack;
    if (!cases)
        return UVGO_ENOMEM;
    if (un)
        memcpy(cases, ucases, un * sizeof *cases);
    cases[un] = (uvgo_select_case_t)UVGO_CASE_RECV_DISCARD(done);
    won = select_core(cases, un + 1, block);
    if (won >= 0 && (size_t)won < un)
        ucases[won].ok = cases[won].ok;
    if (cases != stack)
        uvgo__free(cases);
    return won;
}

/* The plain forms skip uvgo__select_done, whose copy of the cases made it
 * a frame of its own (bench select: seventeen instructions). */
int uvgo_select(uvgo_select_case_t *cases, size_t n)
{
    int err = validate(cases, n);
    return err ? err : select_core(cases, n, 1);
}

int uvgo_select_try(uvgo_select_case_t *cases, size_t n)
{
    int err = validate(cases, n);
    return err ? err : select_core(cases, n, 0);
}
