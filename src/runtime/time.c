/* time.c: sleeping, timers, tickers, after-funcs.
 *
 * Each worker keeps a pairing heap of timer entries keyed by deadline
 * (nanoseconds on uv_hrtime's clock), guarded by timers_lock, and one wake-up
 * source armed for the earliest: on Linux a timerfd armed with an absolute
 * deadline (any thread may arm it, since timerfd_settime is a system call on
 * a file descriptor), watched by a uv_poll handle; elsewhere a uv_timer_t,
 * which only the owner thread may touch, so other threads flag timers_dirty
 * and ring the doorbell.  Worker threads run with a timer slack of 1 ns so
 * the kernel does not round their wake-ups (its default is 50 us).
 *
 * An entry (struct tnode) is either a sleeping task (on that task's stack)
 * or a timer object.  An entry is added to the heap of the worker the caller
 * runs on, and removed from whatever heap holds it (node->owner) under that
 * heap's lock, so a timer made on one worker can be stopped from another.
 *
 * Firing.  The owner pops every due entry under the heap lock.  A sleeper is
 * claimed there, with the CAS on its waiter's claim word (a context may be
 * racing to wake it), so the popped node is never touched after the lock
 * is released.
 * A timer is delivered after the heap lock is released, under the timer's
 * own lock, and only if no stop or reset happened since it was armed: every
 * arming bumps timer->seq and the node records the seq it was inserted with.
 * That is what makes Go 1.23's promise hold: once Stop or Reset returns, no
 * value from before can be delivered, and a value delivered but not yet
 * received is taken back out of the channel.
 *
 * Lock order (base/lockrank.h): timer->lock (TIMER), then a heap lock
 * (TIMERS) or a channel lock (CHAN).  The fire path takes the heap lock
 * alone, drops it, then takes timer->lock.
 *
 * References on a timer: one for the user's handle (none for uvgo_after and
 * handle-less after-funcs), and one for each arming still in a heap or in
 * flight from one; the fire or stop that ends an arming drops its reference.
 *
 * Virtual time (runtime/synctest.h).  A timer or sleeper made in a bubble
 * goes into the bubble's heap instead, keyed by the bubble's clock, under
 * the bubble's lock (node->bubble says which).  No wake-up source watches
 * it: the bubble fires its earliest entries itself when every member is
 * durably blocked (uvgo__bubble_fire_next), with the same claim and seq
 * rules as fire_due.
 */
#include "runtime/chan.h"
#include "runtime/runtime.h"
#include "runtime/synctest.h"
#include "runtime/timer.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/timerfd.h>
#define USE_TIMERFD 1
#endif

enum { TNODE_SLEEP = 1, TNODE_TIMER };

struct tnode {
    uvgo_heap_node_t heap;      /* key: the deadline */
    struct uvgo_worker *owner;  /* whose heap holds it (its lock) */
    struct uvgo_bubble *bubble; /* else this bubble's (immutable) */
    uint64_t seq;               /* timers: timer->seq when inserted */
    uint8_t in_heap;            /* under owner->timers_lock */
    uint8_t kind;
    uint8_t chan; /* a channel timer (see timer.h) */
};

struct sleeper {
    struct tnode node;
    uvgo_waiter_t w; /* its task and claim word */
};

enum { TIMER_CHAN = 1, TIMER_FUNC, TIMER_CALLBACK };

struct uvgo_timer {
    struct tnode node;
    uvgo_spinlock_t lock;
    /* Under lock. */
    uint64_t seq;   /* bumped by every arm, stop and reset */
    int pending;    /* armed, neither delivered nor stopped */
    int64_t when;   /* the armed deadline */
    int64_t period; /* > 0: a ticker */
    /* Immutable. */
    int kind;
    uvgo_chan_t *ch;      /* TIMER_CHAN: one int64_t slot */
    uvgo_task_fn fn;      /* TIMER_FUNC: spawned; TIMER_CALLBACK: */
    void *arg;            /*   called on the loop, timer unlocked */
    void (*drop)(void *); /* TIMER_CALLBACK: the runtime ended first */
    atomic_int refs;
    /* The record's generation (base/handle.h): +2 for each new timer, bit
     * 0 set by uvgo_timer_free.  Kept across reuse. */
    atomic_uint gen;
    struct uvgo_timer *free_next; /* in the free list (records.lock) */
};

/* ---- the wake-up source ------------------------------------------------ */

#if USE_TIMERFD
static void tfd_arm(struct uvgo_worker *w, int64_t when)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (when >= 0) {
        if (when == 0)
            when = 1; /* 0 would disarm */
        its.it_value.tv_sec = when / 1000000000;
        its.it_value.tv_nsec = when % 1000000000;
    }
    timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}
#endif

static void on_uv_timer(uv_timer_t *h);

/* Arms the source for the heap's earliest deadline.  Caller holds
 * w->timers_lock. */
static void arm_locked(struct uvgo_worker *w)
{
    uvgo_heap_node_t *n = uvgo__heap_min(&w->timers);
    int64_t when = n ? n->key : -1;

    uvgo__assert(uvgo__spin_held(&w->timers_lock));
    if (when == w->timer_armed)
        return;
#if USE_TIMERFD
    if (w->tfd >= 0) {
        /* Arming later than needed would be a bug; arming earlier costs a
         * spurious wake-up, so a removal does not bother to re-arm. */
        if (when < 0 || w->timer_armed < 0 || when < w->timer_armed) {
            tfd_arm(w, when);
            w->timer_armed = when;
        }
        return;
    }
#endif
    if (uvgo__worker_self() == w) {
        if (when < 0) {
            uv_timer_stop(&w->timer);
        } else {
            /* libuv counts whole milliseconds on a clock that may lag
             * uv_hrtime: round up against it, never fire early. */
            int64_t wait;
            uint64_t ms;
            uv_update_time(w->loop);
            wait = when - (int64_t)uv_now(w->loop) * 1000000;
            ms = wait <= 0 ? 0 : ((uint64_t)wait + 999999) / 1000000;
            uv_timer_start(&w->timer, on_uv_timer, ms, 0);
        }
        w->timer_armed = when;
    } else {
        atomic_store(&w->timers_dirty, 1);
        uv_async_send(&w->doorbell);
    }
}

/* Single-loop mode: pending timers keep the host's loop alive, as a
 * referenced libuv timer would.  Everything runs on the loop's thread
 * there, so touching the handle here is allowed. */
static void embedded_ref(struct uvgo_worker *w)
{
    uv_handle_t *h;
    int want;
    if (!w->embedded)
        return;
    want = w->timers.count > 0;
    if (want == w->embedded_timers_ref)
        return;
#if USE_TIMERFD
    h = w->tfd >= 0 ? (uv_handle_t *)&w->tpoll : (uv_handle_t *)&w->timer;
#else
    h = (uv_handle_t *)&w->timer;
#endif
    if (want)
        uv_ref(h);
    else
        uv_unref(h);
    w->embedded_timers_ref = want;
}

atomic_long uvgo__timer_chan_waiters;

int uvgo__timers_may_wake(struct uvgo_worker *w)
{
    return atomic_load_explicit(&w->ntimers, memory_order_relaxed) > 0 ||
           (atomic_load_explicit(&w->nchan_timers, memory_order_relaxed) > 0 &&
            atomic_load(&uvgo__timer_chan_waiters) > 0);
}

void uvgo__timer_chan_wait_end(void)
{
    struct uvgo_runtime *rt;
    /* seq_cst: as in uvgo__timer_chan_wait_begin. */
    if (atomic_fetch_sub(&uvgo__timer_chan_waiters, 1) != 1)
        return;
    /* The last one: a worker that parked alive only for its channel
     * timers may now be part of a deadlock; let it look again. */
    rt = atomic_load(&uvgo__rt);
    for (int i = 0; rt && i < rt->nworkers; i++) {
        struct uvgo_worker *v = rt->workers[i];
        if (atomic_load_explicit(&v->nchan_timers, memory_order_relaxed) &&
            atomic_load(&v->parked))
            uv_async_send(&v->doorbell);
    }
}

/* Counts n in or out of w's liveness counts.  Caller holds timers_lock,
 * so a load and a store do (lock-free readers only read). */
static void count_locked(struct uvgo_worker *w, struct tnode *n, long d)
{
    atomic_long *c = n->chan ? &w->nchan_timers : &w->ntimers;
    uvgo__assert(uvgo__spin_held(&w->timers_lock));
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static void heap_insert_locked(struct uvgo_worker *w, struct tnode *n,
                               int64_t when)
{
    n->owner = w;
    n->in_heap = 1;
    uvgo__heap_insert(&w->timers, &n->heap, when);
    count_locked(w, n, 1);
    embedded_ref(w);
    if (uvgo__heap_min(&w->timers) == &n->heap)
        arm_locked(w);
}

static void heap_remove_locked(struct uvgo_worker *w, struct tnode *n)
{
    uvgo__assert(n->in_heap && n->owner == w);
    uvgo__heap_remove(&w->timers, &n->heap);
    n->in_heap = 0;
    count_locked(w, n, -1);
    embedded_ref(w);
}

/* Inserts n into bubble b's heap.  Caller holds b->lock. */
static void bubble_insert_locked(struct uvgo_bubble *b, struct tnode *n,
                                 int64_t when)
{
    uvgo__assert(uvgo__spin_held(&b->lock));
    n->in_heap = 1;
    uvgo__heap_insert(&b->timers, &n->heap, when);
}

/* Removes n from whatever heap holds it.  Returns 1 if it was there. */
static int tnode_remove(struct tnode *n)
{
    struct uvgo_worker *w = n->owner;
    int was = 0;
    if (n->bubble) {
        uvgo__spin_lock(&n->bubble->lock, UVGO_RANK_BUBBLE);
        if (n->in_heap) {
            uvgo__heap_remove(&n->bubble->timers, &n->heap);
            n->in_heap = 0;
            was = 1;
        }
        uvgo__spin_unlock(&n->bubble->lock);
        return was;
    }
    if (!w)
        return 0;
    uvgo__spin_lock(&w->timers_lock, UVGO_RANK_TIMERS);
    if (n->in_heap) {
        heap_remove_locked(w, n);
        was = 1;
    }
    uvgo__spin_unlock(&w->timers_lock);
    return was;
}

/* The worker whose heap new entries go into: the caller's, or (for a
 * thread that is not a worker) worker 0. */
static struct uvgo_worker *home_worker(void)
{
    struct uvgo_worker *w = uvgo__worker_self();
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    if (w && w->rt == rt)
        return w;
    return rt ? rt->workers[0] : NULL;
}

/* ---- timer records ------------------------------------------------------- *
 *
 * Timer records are type-stable (base/handle.h): they are carved from
 * chunks that live until the runtime ends and go back to a free list, never
 * to the allocator, so a handle used after uvgo_timer_free reads a record
 * whose generation has moved on and gets UVGO_EINVAL instead of touching
 * freed memory.  Making and freeing timers is not on any hot path (a timer
 * per context deadline at most), so one list under a spinlock serves every
 * worker.
 */

#define TIMER_CHUNK 64 /* records carved per allocation */

struct timer_chunk {
    struct timer_chunk *next;
    struct uvgo_timer recs[TIMER_CHUNK];
};

static struct {
    uvgo_spinlock_t lock;
    struct uvgo_timer *free;    /* under lock, through free_next */
    struct timer_chunk *chunks; /* under lock */
    unsigned used;              /* records carved from chunks (newest) */
    unsigned fresh_gen;         /* under lock; see task.c's */
} records;

static struct uvgo_timer *timer_rec_alloc(void)
{
    struct uvgo_timer *t;

    uvgo__spin_lock(&records.lock, UVGO_RANK_TIMER_RECORDS);
    t = records.free;
    if (t) {
        records.free = t->free_next;
    } else {
        if (!records.chunks || records.used == TIMER_CHUNK) {
            struct timer_chunk *c = uvgo__aligned_calloc(64, sizeof *c);
            if (!c || !uvgo__handle_fits((char *)c + sizeof *c)) {
                uvgo__aligned_free(c);
                uvgo__spin_unlock(&records.lock);
                return NULL;
            }
            c->next = records.chunks;
            records.chunks = c;
            records.used = 0;
        }
        t = &records.chunks->recs[records.used++];
        records.fresh_gen += 2;
        atomic_init(&t->gen, records.fresh_gen);
    }
    uvgo__spin_unlock(&records.lock);
    /* Everything but the generation, which a stale handle may read. */
    memset(t, 0, offsetof(struct uvgo_timer, gen));
    memset((char *)t + offsetof(struct uvgo_timer, gen) + sizeof t->gen, 0,
           sizeof *t - offsetof(struct uvgo_timer, gen) - sizeof t->gen);
    uvgo__handle_renew(&t->gen);
    return t;
}

static void timer_rec_free(struct uvgo_timer *t)
{
    uvgo__spin_lock(&records.lock, UVGO_RANK_TIMER_RECORDS);
    t->free_next = records.free;
    records.free = t;
    uvgo__spin_unlock(&records.lock);
}

void uvgo__timers_reset(void)
{
    struct timer_chunk *c = records.chunks;
    unsigned n = records.used;

    /* Timers still armed or held when the runtime ended go with it; the
     * channels they hold a reference on may be referenced elsewhere.  An
     * armed callback timer (a context's deadline) is dropped, not fired:
     * its deadline has not come, and its holder, which outlives the
     * runtime, must not keep a handle to a record about to be freed (it
     * would read freed memory when cancelled later). */
    for (; c; c = c->next, n = TIMER_CHUNK) {
        for (unsigned i = 0; i < n; i++) {
            struct uvgo_timer *t = &c->recs[i];
            if (atomic_load(&t->refs) == 0)
                continue;
            if (t->kind == TIMER_CALLBACK && t->pending && t->drop)
                t->drop(t->arg);
            uvgo_chan_release(t->ch);
        }
    }
    c = records.chunks;
    while (c) {
        struct timer_chunk *next = c->next;
        uvgo__aligned_free(c);
        c = next;
    }
    records.chunks = NULL;
    records.free = NULL;
    records.used = 0;
}

/* The timer behind a handle, or NULL (see uvgo__handle_record). */
static struct uvgo_timer *handle_timer(const uvgo_timer_t *h)
{
    return uvgo__handle_record(h, offsetof(struct uvgo_timer, gen));
}

static uvgo_timer_t *timer_handle(struct uvgo_timer *t)
{
    return uvgo__handle_make(
        t, atomic_load_explicit(&t->gen, memory_order_relaxed));
}

/* ---- timers ------------------------------------------------------------- */

static void timer_unref(struct uvgo_timer *t)
{
    int old = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel);
    uvgo__assert(old > 0);
    if (old == 1) {
        uvgo_chan_release(t->ch);
        uvgo__bubble_release(t->node.bubble);
        timer_rec_free(t);
    }
}

/* Takes back a delivered value nobody received.  Caller holds t->lock. */
static int drain_locked(struct uvgo_timer *t)
{
    int drained = 0;
    uvgo__assert(uvgo__spin_held(&t->lock));
    if (!t->ch)
        return 0;
    uvgo__spin_lock(&t->ch->lock, UVGO_RANK_CHAN);
    if (t->ch->count) {
        t->ch->count = 0;
        t->ch->recvx = t->ch->sendx = 0;
        drained = 1;
    }
    uvgo__spin_unlock(&t->ch->lock);
    return drained;
}

/* Ends the current arming, if any.  Returns 1 if the timer was active (as
 * Go's Stop counts it).  Caller holds t->lock. */
static int stop_locked(struct uvgo_timer *t)
{
    int was = t->pending;
    uvgo__assert(uvgo__spin_held(&t->lock));
    t->seq++;
    if (t->pending) {
        t->pending = 0;
        /* In a heap: the arming's reference is ours to drop.  Popped and
         * in flight: the fire sees the new seq and drops it. */
        if (tnode_remove(&t->node))
            atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed);
    }
    return drain_locked(t) || was;
}

/* Arms t to fire at `when`.  Caller holds t->lock; t is not pending. */
static void arm_timer_locked(struct uvgo_timer *t, int64_t when)
{
    struct uvgo_worker *w = home_worker();
    struct uvgo_bubble *b = t->node.bubble;
    uvgo__assert(uvgo__spin_held(&t->lock) && !t->pending);
    t->when = when;
    t->pending = 1;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    if (b) {
        uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
        t->node.seq = t->seq;
        bubble_insert_locked(b, &t->node, when);
        uvgo__spin_unlock(&b->lock);
        return;
    }
    uvgo__spin_lock(&w->timers_lock, UVGO_RANK_TIMERS);
    t->node.seq = t->seq;
    heap_insert_locked(w, &t->node, when);
    uvgo__spin_unlock(&w->timers_lock);
}

/* Delivers one timer that fired with arming `seq`; drops that arming's
 * reference unless a ticker re-arms. */
static void timer_fire(struct uvgo_timer *t, uint64_t seq, int64_t now)
{
    uvgo_task_t *wake = NULL;
    int call = 0;

    uvgo__spin_lock(&t->lock, UVGO_RANK_TIMER);
    if (t->seq == seq && t->pending) {
        if (t->kind == TIMER_CHAN) {
            uvgo__spin_lock(&t->ch->lock, UVGO_RANK_CHAN);
            /* A waiting receiver gets it; else one slot buffers it; a
             * ticker's value that finds the slot full is dropped. */
            uvgo__chan_try_send_locked_call(t->ch, &now, &wake);
            uvgo__spin_unlock(&t->ch->lock);
        } else if (t->kind == TIMER_FUNC) {
            uvgo__go_or_die(t->fn, t->arg, "uvgo_after_func");
        } else {
            call = 1;
        }
        if (t->period > 0) {
            /* Keep the phase: the next tick is the first multiple of the
             * period after now, counted from the previous schedule. */
            int64_t next = uvgo__time_add(t->when, t->period);
            if (next <= now) /* then period <= now - when: no overflow */
                next += ((now - next) / t->period + 1) * t->period;
            t->pending = 0;
            arm_timer_locked(t, next);
        } else {
            t->pending = 0;
        }
    }
    uvgo__spin_unlock(&t->lock);
    if (wake)
        uvgo__task_ready(wake);
    if (call)
        t->fn(t->arg); /* unlocked: it may stop or free the timer */
    timer_unref(t);    /* the arming that fired; a ticker took a new one */
}

/* Entries popped from a heap, fired once its lock is dropped: sleepers
 * already claimed, timers with the seq of the arming that fired. */
#define DUE_BATCH 64
struct due {
    int nf, nw;
    struct {
        struct uvgo_timer *t;
        uint64_t seq;
    } fired[DUE_BATCH];
    uvgo_task_t *wake[DUE_BATCH];
};

static int due_full(const struct due *d)
{
    return d->nf == DUE_BATCH || d->nw == DUE_BATCH;
}

/* Takes n, just removed from its heap.  Caller holds the heap's lock. */
static void due_take(struct due *d, struct tnode *n)
{
    uvgo__assert(n->bubble ? uvgo__spin_held(&n->bubble->lock)
                           : uvgo__spin_held(&n->owner->timers_lock));
    if (n->kind == TNODE_SLEEP) {
        struct sleeper *s = (struct sleeper *)n;
        /* Claimed here, under the lock, so the sleeper (whose frame may
         * vanish as soon as it is woken) is never touched after the lock
         * is dropped. */
        if (uvgo__waiter_claim(&s->w))
            d->wake[d->nw++] = s->w.task;
    } else {
        d->fired[d->nf].t = (struct uvgo_timer *)n;
        d->fired[d->nf].seq = n->seq;
        d->nf++;
    }
}

/* Wakes and fires what d holds, at `now`.  No lock held. */
static void due_fire(struct due *d, int64_t now)
{
    for (int i = 0; i < d->nw; i++)
        uvgo__task_ready(d->wake[i]);
    for (int i = 0; i < d->nf; i++)
        timer_fire(d->fired[i].t, d->fired[i].seq, now);
}

static void fire_due(struct uvgo_worker *w)
{
    struct due d;
    int64_t now;
    int more;

    do {
        d.nf = d.nw = 0;
        more = 0;
        now = (int64_t)uv_hrtime();
        uvgo__spin_lock(&w->timers_lock, UVGO_RANK_TIMERS);
        uvgo_heap_node_t *h;
        while ((h = uvgo__heap_min(&w->timers)) && h->key <= now) {
            if (due_full(&d)) {
                more = 1;
                break;
            }
            struct tnode *n = uvgo__container_of(h, struct tnode, heap);
            heap_remove_locked(w, n);
            due_take(&d, n);
        }
        w->timer_armed = -2; /* force: the source fired */
        arm_locked(w);
        uvgo__spin_unlock(&w->timers_lock);
        due_fire(&d, now);
    } while (more);
}

int uvgo__bubble_fire_next(struct uvgo_bubble *b)
{
    uvgo_heap_node_t *h = uvgo__heap_min(&b->timers);
    struct due d;
    int64_t now;

    uvgo__assert(uvgo__spin_held(&b->lock) && b->blocked == b->tasks);
    if (!h)
        return 0;
    /* The clock jumps to the earliest deadline (never back: a deadline in
     * the past is due now). */
    now = atomic_load_explicit(&b->now, memory_order_relaxed);
    if (h->key > now)
        now = h->key;
    atomic_store_explicit(&b->now, now, memory_order_relaxed);
    /* What is due by then, in deadline order; a batch at a time: the
     * caller comes back for the rest while everyone is still blocked. */
    d.nf = d.nw = 0;
    while ((h = uvgo__heap_min(&b->timers)) && h->key <= now && !due_full(&d)) {
        struct tnode *n = uvgo__container_of(h, struct tnode, heap);
        uvgo__heap_remove(&b->timers, h);
        n->in_heap = 0;
        due_take(&d, n);
    }
    uvgo__spin_unlock(&b->lock);
    due_fire(&d, now);
    return 1;
}

#if USE_TIMERFD
static void on_tfd(uv_poll_t *h, int status, int events)
{
    struct uvgo_worker *w = uvgo__container_of(h, struct uvgo_worker, tpoll);
    uint64_t expirations;
    (void)status;
    (void)events;
    while (read(w->tfd, &expirations, sizeof expirations) < 0 && errno == EINTR)
        ;
    fire_due(w);
}
#endif

static void on_uv_timer(uv_timer_t *h)
{
    struct uvgo_worker *w = uvgo__container_of(h, struct uvgo_worker, timer);
    fire_due(w);
}

void uvgo__timers_rearm(struct uvgo_worker *w)
{
    if (atomic_load_explicit(&w->timers_dirty, memory_order_relaxed) &&
        atomic_exchange(&w->timers_dirty, 0)) {
        uvgo__spin_lock(&w->timers_lock, UVGO_RANK_TIMERS);
        w->timer_armed = -2;
        arm_locked(w);
        uvgo__spin_unlock(&w->timers_lock);
    }
}

int uvgo__timers_init(struct uvgo_worker *w)
{
    w->timer_armed = -1;
    w->tfd = -1;
    uv_timer_init(w->loop, &w->timer);
    uv_unref((uv_handle_t *)&w->timer);
#if USE_TIMERFD
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w->tfd >= 0) {
        if (uv_poll_init(w->loop, &w->tpoll, w->tfd) == 0) {
            uv_poll_start(&w->tpoll, UV_READABLE, on_tfd);
            /* Liveness comes from the heap's count (the deadlock check and
             * single-loop mode read it), not from this handle. */
            uv_unref((uv_handle_t *)&w->tpoll);
        } else {
            close(w->tfd);
            w->tfd = -1;
        }
    }
#endif
    return 0;
}

void uvgo__timers_close(struct uvgo_worker *w)
{
    uv_timer_stop(&w->timer);
#if USE_TIMERFD
    if (w->tfd >= 0)
        uv_poll_stop(&w->tpoll);
#endif
    w->timer_armed = -1;
}

void uvgo__timers_finish(struct uvgo_worker *w)
{
#if USE_TIMERFD
    if (w->tfd >= 0)
        close(w->tfd);
    w->tfd = -1;
#endif
}

void uvgo__timers_thread_init(void)
{
#if USE_TIMERFD
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
#endif
}

/* ---- sleeping -------------------------------------------------------------
 */

int64_t uvgo_now(void)
{
    return uvgo__clock_now();
}

int uvgo__sleep_done(uvgo_duration_t d, uvgo_chan_t *done)
{
    struct uvgo_worker *w = uvgo__worker_self();
    struct uvgo_bubble *b;
    struct sleeper s;

    if (!w || w->current == &w->sched)
        return UVGO_ENOTTASK;
    if (d <= 0)
        return uvgo_task_yield();
    uvgo__waiter_init(&s.w, w->current, NULL);
    s.node.kind = TNODE_SLEEP;
    s.node.chan = 0;
    b = s.node.bubble = s.w.task->bubble;
    if (b) {
        uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
        bubble_insert_locked(b, &s.node,
                             uvgo__time_add(atomic_load(&b->now), d));
        uvgo__spin_unlock(&b->lock);
        s.w.task->park_durable = 1; /* a sleep only the bubble's clock ends */
    } else {
        uvgo__spin_lock(&w->timers_lock, UVGO_RANK_TIMERS);
        heap_insert_locked(w, &s.node, uvgo__time_add((int64_t)uv_hrtime(), d));
        uvgo__spin_unlock(&w->timers_lock);
    }
    if (uvgo__park_or_done(&s.w, done, "sleep") == 2) {
        /* The context won; the heap can no longer claim us. */
        tnode_remove(&s.node);
        return UVGO__DONE;
    }
    return 0;
}

int uvgo_sleep(uvgo_duration_t d)
{
    return uvgo__sleep_done(d, NULL);
}

/* ---- the public timer calls -------------------------------------------- */

static int timer_new(struct uvgo_timer **out, int kind, int64_t period,
                     int refs)
{
    struct uvgo_timer *t;
    int err;

    if (!atomic_load(&uvgo__rt))
        return UVGO_ENOTTASK;
    t = timer_rec_alloc();
    if (!t)
        return UVGO_ENOMEM;
    t->kind = kind;
    t->period = period;
    t->node.kind = TNODE_TIMER;
    t->node.chan = kind == TIMER_CHAN;
    /* Made in a bubble: it runs on the bubble's clock (its channel, made
     * just below, belongs to the bubble too). */
    t->node.bubble = uvgo__bubble_retain(uvgo__bubble_self());
    atomic_init(&t->refs, refs);
    if (kind == TIMER_CHAN) {
        err = uvgo_chan_make(&t->ch, sizeof(int64_t), 1);
        if (err) {
            uvgo__bubble_release(t->node.bubble);
            timer_rec_free(t);
            return err;
        }
        t->ch->wait_hooks |= UVGO__CHAN_HOOK_TIMER;
        uvgo__chan_set_recv_only(t->ch);
    }
    *out = t;
    return 0;
}

/* The deadline d from now on t's clock: at once for d <= 0, saturating
 * for huge d. */
static int64_t deadline_in(struct uvgo_timer *t, uvgo_duration_t d)
{
    int64_t now = t->node.bubble ? atomic_load(&t->node.bubble->now)
                                 : (int64_t)uv_hrtime();
    return uvgo__time_add(now, d > 0 ? d : 0);
}

static void start(struct uvgo_timer *t, uvgo_duration_t d)
{
    uvgo__spin_lock(&t->lock, UVGO_RANK_TIMER);
    t->seq++;
    arm_timer_locked(t, deadline_in(t, d));
    uvgo__spin_unlock(&t->lock);
}

int uvgo_timer_make(uvgo_timer_t **out, uvgo_duration_t d)
{
    struct uvgo_timer *t;
    int err;
    if (!out)
        return UVGO_EINVAL;
    if ((err = timer_new(&t, TIMER_CHAN, 0, 1)))
        return err;
    start(t, d);
    *out = timer_handle(t);
    return 0;
}

uvgo_chan_t *uvgo_timer_chan(uvgo_timer_t *h)
{
    struct uvgo_timer *t = handle_timer(h);
    return t ? t->ch : NULL;
}

static int timer_stop(struct uvgo_timer *t)
{
    int was;
    uvgo__spin_lock(&t->lock, UVGO_RANK_TIMER);
    was = stop_locked(t);
    uvgo__spin_unlock(&t->lock);
    return was;
}

int uvgo_timer_stop(uvgo_timer_t *h)
{
    struct uvgo_timer *t = handle_timer(h);
    int err;
    if (!t)
        return UVGO_EINVAL;
    if ((err = uvgo__bubble_check(t->node.bubble)))
        return err;
    return timer_stop(t);
}

int uvgo_timer_reset(uvgo_timer_t *h, uvgo_duration_t d)
{
    struct uvgo_timer *t = handle_timer(h);
    int was;
    if (!t)
        return UVGO_EINVAL;
    if ((was = uvgo__bubble_check(t->node.bubble)))
        return was;
    uvgo__spin_lock(&t->lock, UVGO_RANK_TIMER);
    was = stop_locked(t);
    t->seq++;
    arm_timer_locked(t, deadline_in(t, d));
    uvgo__spin_unlock(&t->lock);
    return was;
}

void uvgo_timer_free(uvgo_timer_t *h)
{
    struct uvgo_timer *t = handle_timer(h);
    /* Consume the handle first: of two frees, one wins. */
    if (!t || !uvgo__handle_consume(h, &t->gen))
        return; /* NULL, or freed already */
    timer_stop(t);
    timer_unref(t);
}

int uvgo_after(uvgo_chan_t **ch, uvgo_duration_t d)
{
    struct uvgo_timer *t;
    int err;
    if (!ch)
        return UVGO_EINVAL;
    /* No handle: the arming's reference is the only one, and it goes when
     * the timer fires. */
    if ((err = timer_new(&t, TIMER_CHAN, 0, 0)))
        return err;
    *ch = uvgo_chan_retain(t->ch);
    start(t, d);
    return 0;
}

int uvgo_after_func(uvgo_timer_t **out, uvgo_duration_t d, uvgo_task_fn fn,
                    void *arg)
{
    struct uvgo_timer *t;
    int err;
    if (!fn)
        return UVGO_EINVAL;
    if ((err = timer_new(&t, TIMER_FUNC, 0, out ? 1 : 0)))
        return err;
    t->fn = fn;
    t->arg = arg;
    start(t, d);
    if (out)
        *out = timer_handle(t);
    return 0;
}

/* For contexts: fn(arg) called on the loop (not in a task) at `deadline`;
 * it must not block.  The handle is the caller's. */
int uvgo__timer_callback(uvgo_timer_t **out, int64_t deadline,
                         void (*fn)(void *), void (*drop)(void *), void *arg)
{
    struct uvgo_timer *t;
    int err;
    if ((err = timer_new(&t, TIMER_CALLBACK, 0, 1)))
        return err;
    t->fn = (uvgo_task_fn)(void (*)(void))fn;
    t->arg = arg;
    t->drop = drop;
    uvgo__spin_lock(&t->lock, UVGO_RANK_TIMER);
    t->seq++;
    arm_timer_locked(t, deadline);
    uvgo__spin_unlock(&t->lock);
    *out = timer_handle(t);
    return 0;
}

int uvgo_ticker_make(uvgo_ticker_t **out, uvgo_duration_t period)
{
    struct uvgo_timer *t;
    int err;
    if (!out || period <= 0)
        return UVGO_EINVAL;
    if ((err = timer_new(&t, TIMER_CHAN, period, 1)))
        return err;
    start(t, period);
    *out = timer_handle(t);
    return 0;
}

uvgo_chan_t *uvgo_ticker_chan(uvgo_ticker_t *h)
{
    return uvgo_timer_chan(h);
}

int uvgo_ticker_stop(uvgo_ticker_t *h)
{
    struct uvgo_timer *t = handle_timer(h);
    int err;
    if (!t)
        return UVGO_EINVAL;
    if ((err = uvgo__bubble_check(t->node.bubble)))
        return err;
    timer_stop(t);
    return 0;
}

int uvgo_ticker_reset(uvgo_ticker_t *h, uvgo_duration_t period)
{
    struct uvgo_timer *t = handle_timer(h);
    int err;
    if (!t || period <= 0)
        return UVGO_EINVAL;
    if ((err = uvgo__bubble_check(t->node.bubble)))
        return err;
    uvgo__spin_lock(&t->lock, UVGO_RANK_TIMER);
    stop_locked(t);
    t->period = period;
    t->seq++;
    arm_timer_locked(t, deadline_in(t, period));
    uvgo__spin_unlock(&t->lock);
    return 0;
}

void uvgo_ticker_free(uvgo_ticker_t *t)
{
    uvgo_timer_free(t);
}
