/* sched.c: workers, run queues, stealing, parking, wake-ups.
 *
 * The scheduler is a set of handles on each worker's uv_loop_t, so a worker
 * thread does nothing but uv_run(), and the same code serves a host program's
 * loop in single-loop mode:
 *
 *   check    runs tasks after each poll (the loop's own stack is the
 *            "scheduler context", w->sched);
 *   idle     started while runnable tasks wait, so the next poll does not
 *            block (and, being referenced, keeps the loop alive for them);
 *   prepare  right before the poll: parks the worker if it has no work;
 *   async    the doorbell other threads ring to wake a parked worker;
 *   timer    the earliest sleeping task's deadline (time.c).
 *
 * Tasks switch directly to one another; a task returns to the scheduler
 * context only when its worker has nothing runnable locally or when the loop
 * is due for a poll.  Polling costs an epoll_wait (~100 ns here) plus libuv's
 * bookkeeping, so it is not done every 61 switches as Go's schedtick checks
 * its global queue: every 64 switches the worker reads the cycle counter and
 * polls if POLL_INTERVAL_US has passed.  A yield-heavy workload thus polls
 * every ~50 us, and an I/O callback never waits longer than that behind
 * runnable tasks.  (A task that computes without switching still holds its
 * worker: there is no preemption.)
 *
 * Run queues, after Go's proc.go.  Each worker has:
 *   runnext  the task readied most recently by this worker; runs next, so a
 *            ping-pong between two tasks stays on one warm core.  Owner only:
 *            never stolen, because its owner will run it at the next switch.
 *   runq     a 256-slot ring.  The owner pushes at the tail with a plain
 *            store-release; the owner and thieves take from the head with a
 *            CAS.  A thief takes half.  When full, half spills to the global
 *            queue (mutex).
 *   pinned   tasks spawned with UVGO_TASK_PINNED, and tasks bound to this
 *            worker's loop (uvgo_loop_enter); owner-only FIFO.  A thief
 *            that took a bound task would only send it back: it resumes
 *            in uvgo_loop_enter's caller, which moves it home before it
 *            touches a handle (measured on bench echo: 64 connections'
 *            handler tasks stolen and sent back cost 2x the server's
 *            user CPU).
 *   inbox    tasks readied or spawned by other threads: a Treiber stack
 *            (push = CAS, drain = exchange), drained only by its owner.
 *
 * Parking, the doorbell and lost wake-ups.  A worker with no work sets
 * `parked` (seq_cst), then re-checks its inbox and the global queue before
 * blocking in epoll.  A waker pushes to the inbox (a seq_cst CAS), then reads
 * `parked` (seq_cst): by the total order of seq_cst operations either the
 * worker sees the task or the waker sees `parked` and rings the doorbell
 * (uv_async_send).  The waker clears `parked` with an exchange, so of many
 * concurrent wakers one rings: wake-ups to a busy or already-woken worker
 * cost no system call (libuv's async coalesces again behind that).
 *
 * Idle workers and stealing.  Before parking, a worker with nothing to do
 * polls its inbox and steals for up to SPIN_US.  A worker that queues
 * stealable work while another is parked and none is spinning wakes one
 * (Go's wakep); the woken worker counts as spinning until it finds work,
 * then wakes another if there is more, so parallelism ramps up without a
 * thundering herd.
 *
 * Deadlock.  A worker parks "dead" when its loop has nothing that could wake
 * it (no referenced handle or request besides the doorbell).  When every
 * worker is dead-parked and every queue is empty, no task can ever run again:
 * uvgo prints the task dump and aborts, as Go's "all goroutines are asleep".
 * Code outside uvgo cannot be seen: a thread of yours that will wake a task
 * holds a uvgo_ref() meanwhile (as a referenced libuv handle keeps a loop
 * alive).
 */
#include "runtime/runtime.h"
#include "runtime/synctest.h"
#include "runtime/timer.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#if defined(UVGO_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(UVGO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#define POLL_INTERVAL_US 50
#define SPIN_US 50
/* Adaptive spinning: a spin that finds no task halves the next budget,
 * and after SPIN_SHIFT_MAX such spins the worker stops spinning; one that
 * finds a task, or a doorbell (a task handed over from another thread
 * while this worker slept in its poll), restores the whole budget.
 * Workers talking to each other (bench pingpong cross, select) find their
 * partner's task while spinning, or get rung, and keep spinning; workers
 * woken only by their own loop's I/O (bench echo: every wake-up comes from
 * epoll) stop burning CPU in a spin that never pays: the echo server spent
 * 1.9 s of user CPU per 640,000 messages with a fixed budget, most of it
 * in PAUSE (even the shortest spin, 32 PAUSEs, costs a microsecond). */
#define SPIN_SHIFT_MAX 6
#define POLL_CHECK_MASK 63 /* read the clock every 64 switches */
#define FAIRNESS_TICKS 61  /* Go's schedtick % 61 */
#define STEAL_MIN_LEN 4    /* a queue this long is always worth stealing */
#define STEAL_STALL_US 20  /* or a queue whose owner has not switched since */

struct uvgo_runtime *_Atomic uvgo__rt;

__thread struct uvgo_worker *uvgo__tls_worker
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

#if !(defined(__x86_64__) && defined(__ELF__) && !defined(UVGO_ASAN) &&        \
      !defined(UVGO_TSAN))
UVGO_NOINLINE struct uvgo_worker *uvgo__worker_self(void)
{
    /* The empty asm makes the function impure in the compiler's eyes, so no
     * caller may reuse a result fetched before a context switch. */
    __asm__ __volatile__("" ::: "memory");
    return uvgo__tls_worker;
}
#endif

void uvgo__worker_set_self(struct uvgo_worker *w)
{
    uvgo__tls_worker = w;
}

/* ---- the local run queue (owner side) ---------------------------------- */

static void idle_on(struct uvgo_worker *w);

/* How far ahead in the global queue a task's gq_ahead link points.  The
 * queue is a list through task records, and a batch taken from it is
 * walked record by record; the records were last touched when the batch
 * was pushed, usually long before (10,000 tasks woken at once: bench
 * ctxtree), so each step of the walk was a cache miss waiting for the one
 * before.  Loading the record GQ_AHEAD links down while at each one keeps
 * that many misses in flight. */
#define GQ_AHEAD 8

static void gq_push_list(struct uvgo_runtime *rt, uvgo_task_t *head,
                         uvgo_task_t *tail, unsigned n)
{
    uvgo__mutex_lock(&rt->lock, UVGO_RANK_SCHED);
    tail->next = NULL;
    if (rt->gq_tail)
        rt->gq_tail->next = head;
    else
        rt->gq_head = head;
    rt->gq_tail = tail;
    atomic_fetch_add_explicit(&rt->gq_len, n, memory_order_relaxed);
    uvgo__mutex_unlock(&rt->lock);
}

/* The ring is full: move half of it and t to the global queue.  Returns 0 if
 * a thief freed room meanwhile (the caller retries). */
static int runq_put_slow(struct uvgo_worker *w, uvgo_task_t *t, uint32_t h,
                         uint32_t tl)
{
    uvgo_task_t *batch[UVGO_RUNQ_SIZE / 2 + 1];
    uint32_t n = (tl - h) / 2;

    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&w->runq[(h + i) % UVGO_RUNQ_SIZE],
                                        memory_order_relaxed);
    /* release: our slot reads happen before thieves may refill them. */
    if (!atomic_compare_exchange_strong_explicit(&w->runq_head, &h, h + n,
                                                 memory_order_release,
                                                 memory_order_relaxed))
        return 0;
    batch[n] = t;
    for (uint32_t i = 0; i <= n; i++) {
        batch[i]->next = i < n ? batch[i + 1] : NULL;
        batch[i]->gq_ahead = i + GQ_AHEAD <= n ? batch[i + GQ_AHEAD] : NULL;
    }
    gq_push_list(w->rt, batch[0], batch[n], n + 1);
    return 1;
}

/* Queues t, which may run on w only, at the back of w's pinned queue. */
static inline void pin_put(struct uvgo_worker *w, uvgo_task_t *t)
{
    t->next = NULL;
    if (w->pin_tail)
        w->pin_tail->next = t;
    else
        w->pin_head = t;
    w->pin_tail = t;
}

void uvgo__runq_put(struct uvgo_worker *w, uvgo_task_t *t)
{
    uvgo__assert(w == uvgo__worker_self() && t != &w->sched);
    atomic_store_explicit(&t->state, UVGO_TASK_RUNNABLE, memory_order_relaxed);
    if (UVGO_UNLIKELY(t->flags & (UVGO_TASK_PINNED | UVGO_TASK_BOUND))) {
        pin_put(w, t);
    } else {
        /* Never a task whose registers are unsaved (runtime.h). */
        uvgo__assert(!atomic_load_explicit(&t->on_cpu, memory_order_relaxed));
        for (;;) {
            /* acquire: pairs with the head CAS of consumers, so the slots
             * they freed are really free. */
            uint32_t h =
                atomic_load_explicit(&w->runq_head, memory_order_acquire);
            uint32_t tl =
                atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
            if (UVGO_LIKELY(tl - h < UVGO_RUNQ_SIZE)) {
                atomic_store_explicit(&w->runq[tl % UVGO_RUNQ_SIZE], t,
                                      memory_order_relaxed);
                /* release: publishes the slot to consumers' acquire of
                 * the tail. */
                atomic_store_explicit(&w->runq_tail, tl + 1,
                                      memory_order_release);
                break;
            }
            if (runq_put_slow(w, t, h, tl))
                break;
        }
        /* Stealable work: an idle worker should come and take it.  One
         * relaxed load when no worker is parked. */
        uvgo__wake_idle(w->rt);
    }
    if (UVGO_UNLIKELY(!w->idle_active))
        idle_on(w);
}

static uvgo_task_t *runq_get(struct uvgo_worker *w)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
        if (tl == h)
            return NULL;
        uvgo_task_t *t = atomic_load_explicit(&w->runq[h % UVGO_RUNQ_SIZE],
                                              memory_order_relaxed);
        /* release: the slot read above happens before the owner refills it. */
        if (atomic_compare_exchange_weak_explicit(&w->runq_head, &h, h + 1,
                                                  memory_order_release,
                                                  memory_order_relaxed))
            return t;
    }
}

static int runq_empty(struct uvgo_worker *w)
{
    return atomic_load_explicit(&w->runq_head, memory_order_acquire) ==
           atomic_load_explicit(&w->runq_tail, memory_order_acquire);
}

static uvgo_task_t *pin_get(struct uvgo_worker *w)
{
    uvgo_task_t *t = w->pin_head;
    if (t) {
        w->pin_head = t->next;
        if (!w->pin_head)
            w->pin_tail = NULL;
    }
    return t;
}

/* Starts loading what resuming t reads first: the registers its last
 * switch-out saved at the top of its stack, and the frames just above.
 * Call it where t's record is at hand anyway and t will run soon, but not
 * at once: a batch of tasks taken from the global queue or stolen.  When
 * many tasks are woken together (a context cancelled under 10,000
 * waiters, bench ctxtree), each has last run long ago, and loading its
 * stack was the larger part of its switch-in: this overlaps those loads
 * with the tasks that run before it. */
static inline void prefetch_resume(const uvgo_task_t *t)
{
#if !defined(UVGO_SWITCH_UCONTEXT)
    const char *sp = t->ctx.sp; /* NULL before the first run: harmless */
    __builtin_prefetch(sp);
    __builtin_prefetch(sp + UVGO_CACHELINE);
    __builtin_prefetch(sp + 2 * UVGO_CACHELINE);
    __builtin_prefetch(sp + 3 * UVGO_CACHELINE);
#else
    (void)t;
#endif
}

/* ---- stealing --------------------------------------------------------- */

/* Takes half of victim's runq into w's ring (which the caller knows is
 * empty) and returns how many; the caller publishes them. */
static uint32_t runq_grab(struct uvgo_worker *w, struct uvgo_worker *victim)
{
    uint32_t mytail = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
    for (;;) {
        /* acquire both: pairs with the victim's release of its tail and
         * other consumers' head CAS. */
        uint32_t h =
            atomic_load_explicit(&victim->runq_head, memory_order_acquire);
        uint32_t tl =
            atomic_load_explicit(&victim->runq_tail, memory_order_acquire);
        uint32_t n = tl - h;
        n = n - n / 2;
        if (n == 0)
            return 0;
        if (n > UVGO_RUNQ_SIZE / 2)
            continue; /* read head and tail at different times; retry */
        for (uint32_t i = 0; i < n; i++) {
            uvgo_task_t *t = atomic_load_explicit(
                &victim->runq[(h + i) % UVGO_RUNQ_SIZE], memory_order_relaxed);
            atomic_store_explicit(&w->runq[(mytail + i) % UVGO_RUNQ_SIZE], t,
                                  memory_order_relaxed);
        }
        /* release: our reads of the victim's slots happen before it may
         * overwrite them. */
        if (atomic_compare_exchange_weak_explicit(&victim->runq_head, &h, h + n,
                                                  memory_order_release,
                                                  memory_order_relaxed))
            return n;
    }
}

/* Whether w should steal from v now.  Stealing buys parallelism, but it
 * also splits tasks that talk to each other across cores, where every later
 * hand-off costs cache-line transfers: bench select ran at ~190 ns per
 * receive on two workers against ~100 on one.  So a thief takes from a
 * queue only when it is long (more than its owner will get to soon) or when
 * the owner has stalled (one task has run for STEAL_STALL_US without a
 * switch).  The owner's switch count is read only when its queue is short
 * and non-empty, so idle workers do not pull that line on every spin. */
static int worth_stealing(struct uvgo_worker *w, struct uvgo_worker *v)
{
    uint32_t len = atomic_load_explicit(&v->runq_tail, memory_order_relaxed) -
                   atomic_load_explicit(&v->runq_head, memory_order_relaxed);
    if (len == 0 || len > UVGO_RUNQ_SIZE)
        return 0;
    if (len >= STEAL_MIN_LEN)
        return 1;
    unsigned sw = atomic_load_explicit(&v->switches, memory_order_relaxed);
    uint64_t now = uvgo__ticks();
    struct uvgo_steal_seen *seen = &w->seen[v->id % UVGO_STEAL_SEEN];
    if (seen->worker != v || seen->switches != sw) {
        seen->worker = v;
        seen->switches = sw;
        seen->since = now;
        return 0;
    }
    return now - seen->since >=
           w->rt->ticks_per_poll * STEAL_STALL_US / POLL_INTERVAL_US;
}

static uvgo_task_t *steal(struct uvgo_worker *w)
{
    struct uvgo_runtime *rt = w->rt;
    int n = rt->nworkers;
    if (n < 2)
        return NULL;
    uint32_t start = uvgo__rand_below(&w->rand, (uint32_t)n);
    for (int k = 0; k < n; k++) {
        struct uvgo_worker *v =
            rt->workers[(start + (uint32_t)k) % (uint32_t)n];
        if (v == w || !worth_stealing(w, v))
            continue;
        uint32_t got = runq_grab(w, v);
        if (!got)
            continue;
        uvgo__stat_inc(&w->stats.steals);
        uvgo__stat_add(&w->stats.tasks_stolen, got);
        uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
        for (uint32_t i = 0; i < got; i++) {
            uvgo_task_t *t = atomic_load_explicit(
                &w->runq[(tl + i) % UVGO_RUNQ_SIZE], memory_order_relaxed);
            uvgo__task_set_worker(t, w);
            prefetch_resume(t);
            uvgo__task_adopt(w, t);
        }
        /* Run the last one now; publish the rest. */
        uvgo_task_t *t = atomic_load_explicit(
            &w->runq[(tl + got - 1) % UVGO_RUNQ_SIZE], memory_order_relaxed);
        if (got > 1) {
            /* release: pairs with consumers' acquire of our tail. */
            atomic_store_explicit(&w->runq_tail, tl + got - 1,
                                  memory_order_release);
            if (!w->idle_active)
                idle_on(w);
        }
        return t;
    }
    return NULL;
}

/* ---- the global queue and the inbox ----------------------------------- */

static uvgo_task_t *gq_get(struct uvgo_worker *w)
{
    struct uvgo_runtime *rt = w->rt;
    uvgo_task_t *first, *t;
    unsigned n, len;

    if (atomic_load_explicit(&rt->gq_len, memory_order_relaxed) == 0)
        return NULL;
    uvgo__mutex_lock(&rt->lock, UVGO_RANK_SCHED);
    len = atomic_load_explicit(&rt->gq_len, memory_order_relaxed);
    if (len == 0) {
        uvgo__mutex_unlock(&rt->lock);
        return NULL;
    }
    n = len / (unsigned)rt->nworkers + 1;
    if (n > len)
        n = len;
    if (n > UVGO_RUNQ_SIZE / 2)
        n = UVGO_RUNQ_SIZE / 2;
    first = rt->gq_head;
    t = first;
    for (unsigned i = 1; i < n; i++) {
        if (t->gq_ahead)
            __builtin_prefetch(t->gq_ahead);
        t = t->next;
    }
    rt->gq_head = t->next;
    if (!rt->gq_head)
        rt->gq_tail = NULL;
    atomic_fetch_sub_explicit(&rt->gq_len, n, memory_order_relaxed);
    uvgo__mutex_unlock(&rt->lock);
    t->next = NULL;
    prefetch_resume(first);
    for (t = first->next; t;) {
        uvgo_task_t *next = t->next;
        prefetch_resume(t);
        uvgo__task_set_worker(t, w);
        uvgo__task_adopt(w, t);
        uvgo__runq_put(w, t);
        t = next;
    }
    uvgo__task_set_worker(first, w);
    uvgo__task_adopt(w, first);
    return first;
}

/* Wakes w's loop from any thread: a system call, counted for metrics. */
static void ring_doorbell(struct uvgo_worker *w)
{
    atomic_fetch_add_explicit(&w->doorbells, 1, memory_order_relaxed);
    uv_async_send(&w->doorbell);
}

void uvgo__inbox_put(struct uvgo_worker *w, uvgo_task_t *t)
{
    uvgo_task_t *old = atomic_load_explicit(&w->inbox, memory_order_relaxed);
    do {
        t->next = old;
        /* seq_cst: the push and the read of `parked` below form one side
         * of the Dekker handshake with park_prepare(). */
    } while (!atomic_compare_exchange_weak_explicit(
        &w->inbox, &old, t, memory_order_seq_cst, memory_order_relaxed));
    if (atomic_load_explicit(&w->parked, memory_order_seq_cst) &&
        atomic_exchange_explicit(&w->parked, 0, memory_order_acq_rel)) {
        atomic_fetch_sub_explicit(&w->rt->nparked, 1, memory_order_relaxed);
        ring_doorbell(w);
    }
}

/* Moves every inbox task to the local queues and returns the oldest. */
static uvgo_task_t *inbox_take(struct uvgo_worker *w)
{
    uvgo_task_t *list, *rev = NULL, *first;

    uvgo__assert(w == uvgo__worker_self()); /* drained by its owner only */
    if (!atomic_load_explicit(&w->inbox, memory_order_relaxed))
        return NULL;
    /* acquire: pairs with the pushers' CAS; their writes to the tasks are
     * visible. */
    list = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
    while (list) { /* the stack is newest first: reverse it */
        uvgo_task_t *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    first = rev;
    if (!first)
        return NULL;
    unsigned long n = 1;
    for (uvgo_task_t *t = first->next; t; t = t->next)
        n++;
    uvgo__stat_add(&w->stats.inbox_tasks, n);
    for (uvgo_task_t *t = first->next; t;) {
        uvgo_task_t *next = t->next;
        if (UVGO_UNLIKELY(t == w->current)) {
            /* Readied by another thread while it was still parking, and we
             * are now inside its own switch-out: it must not enter the
             * stealable queue, where a thief could resume it on another
             * thread before its registers are saved.  runnext is ours
             * alone; whatever sat there is switched out and may go. */
            if (w->runnext)
                uvgo__runq_put(w, w->runnext);
            atomic_store_explicit(&t->state, UVGO_TASK_RUNNABLE,
                                  memory_order_relaxed);
            w->runnext = t;
        } else {
            uvgo__runq_put(w, t);
        }
        t = next;
    }
    return first;
}

/* ---- readying and waking ----------------------------------------------- */

void uvgo__wake_idle(struct uvgo_runtime *rt)
{
    int zero = 0;
    if (atomic_load_explicit(&rt->nparked, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&rt->nspinning, memory_order_relaxed) != 0)
        return;
    if (!atomic_compare_exchange_strong(&rt->nspinning, &zero, 1))
        return;
    for (int i = 0; i < rt->nworkers; i++) {
        struct uvgo_worker *v = rt->workers[i];
        if (atomic_load_explicit(&v->parked, memory_order_relaxed) &&
            atomic_exchange_explicit(&v->parked, 0, memory_order_acq_rel)) {
            atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_relaxed);
            /* v takes over our nspinning count when it wakes (on_check);
             * until then it counts as the spinner. */
            atomic_store_explicit(&v->woken_to_spin, 1, memory_order_release);
            ring_doorbell(v);
            return;
        }
    }
    atomic_fetch_sub(&rt->nspinning, 1);
}

/* Where a woken task runs.
 *
 * A task woken by a task on its own worker runs next there (runnext).  A
 * task woken from another worker moves to the waker's worker and runs next
 * there, as Go's ready() does: the two are talking, and keeping them on one
 * core turns every later hand-off into a local one (bench select: ~100 ns
 * per receive instead of 175-450 when the receiver and its senders sit on
 * different workers and each wake-up crosses cores).  Idle workers steal
 * the rest.  Three kinds of task go home through their worker's inbox
 * instead (the doorbell rung only if that worker is parked):
 *   - pinned tasks, and tasks bound to a loop because they use its handles
 *     (uvgo_loop_enter): moving them would only buy a hop back;
 *   - a task still switching out on its old worker (on_cpu): it parked, a
 *     waker on another thread claimed it at once, and its registers are not
 *     saved yet; its own worker resumes it after the switch;
 *   - wake-ups from outside a task (loop callbacks, other threads).
 */
/* A bubble with a seed (uvgo/synctest.h): its member t goes to the front
 * or the back of the pinned queue by a coin flip, never to runnext.  On
 * the bubble's own worker thread, which alone draws from b->rand. */
static void shuffle_put(struct uvgo_worker *w, uvgo_task_t *t,
                        struct uvgo_bubble *b)
{
    atomic_store_explicit(&t->state, UVGO_TASK_RUNNABLE, memory_order_relaxed);
    if ((uvgo__rand_next(&b->rand) >> 63) && w->pin_head) {
        t->next = w->pin_head;
        w->pin_head = t;
    } else {
        uvgo__runq_put(w, t); /* a member is pinned: the queue's back */
    }
    if (UVGO_UNLIKELY(!w->idle_active))
        idle_on(w);
}

/* The common part of uvgo__task_ready: queues t where it belongs, having
 * marked it for the latency sample. */
static inline __attribute__((always_inline)) void
ready_queue(struct uvgo_worker *self, struct uvgo_worker *w, uvgo_task_t *t)
{
    if (w != self) {
        /* acquire: pairs with the release that clears on_cpu once the
         * task's switch-out completed. */
        if (!self || self->current == &self->sched || self->rt != w->rt ||
            (t->flags & (UVGO_TASK_PINNED | UVGO_TASK_BOUND)) ||
            atomic_load_explicit(&t->on_cpu, memory_order_acquire)) {
            uvgo__latency_mark(self, t);
            /* The state stays "waiting" until its worker picks it up:
             * writing it here would drag one more line across cores. */
            uvgo__inbox_put(w, t);
            return;
        }
        uvgo__task_set_worker(t, self);
    }
    /* Here self is a worker (it is t's). */
    uvgo__latency_mark_on(self, t);
    if (self->current == &self->sched) {
        /* From the loop itself (timers, I/O callbacks): no task hands off
         * to this one, so runnext would buy nothing and would run the last
         * of a batch first.  Tasks readied in one poll run in the order
         * they were readied: timers that fire together, in deadline
         * order.  They run once the loop's callbacks are done: start
         * loading their stacks meanwhile (bench echo: the first load from
         * a woken task's stack, in the switch, missed the cache). */
        prefetch_resume(t);
        if (t->flags & (UVGO_TASK_PINNED | UVGO_TASK_BOUND)) {
            /* A connection's task woken by its I/O: runq_put's pinned
             * branch, without the call (bench echo, once per message). */
            atomic_store_explicit(&t->state, UVGO_TASK_RUNNABLE,
                                  memory_order_relaxed);
            pin_put(self, t);
        } else {
            uvgo__runq_put(self, t);
        }
    } else {
        atomic_store_explicit(&t->state, UVGO_TASK_RUNNABLE,
                              memory_order_relaxed);
        if (self->runnext)
            uvgo__runq_put(self, self->runnext);
        self->runnext = t;
    }
    if (UVGO_UNLIKELY(!self->idle_active))
        idle_on(self);
}

/* uvgo__task_ready for a member of a synctest bubble: counted, then queued
 * by the shuffle when its bubble has a seed.  Out of line, and reached by a
 * tail call, so the common path keeps its registers. */
static UVGO_NOINLINE void bubble_task_ready(struct uvgo_worker *self,
                                            struct uvgo_worker *w,
                                            uvgo_task_t *t)
{
    uvgo__bubble_ready(t);
    if (t->bubble->rand && w == self) {
        uvgo__latency_mark_on(self, t);
        shuffle_put(self, t, t->bubble);
    } else {
        ready_queue(self, w, t);
    }
}

void uvgo__latency_stamp(struct uvgo_worker *by, uvgo_task_t *t)
{
    if (by)
        by->stats.sample_countdown = UVGO_METRICS_SAMPLE_EVERY;
    t->ready_ticks = uvgo__ticks();
    t->resume |= UVGO_RESUME_SAMPLED;
}

void uvgo__task_ready(uvgo_task_t *t)
{
    struct uvgo_worker *self = uvgo__worker_self();
    struct uvgo_worker *w = t->worker;

    /* Wakers ready tasks only after releasing their locks (STYLE.md). */
    uvgo__assert(uvgo__rank_count() == 0);
    if (UVGO_UNLIKELY(t->bubble != NULL)) {
        bubble_task_ready(self, w, t);
        return;
    }
    ready_queue(self, w, t);
}

/* ---- switching ---------------------------------------------------------- */

static void run_pending(struct uvgo_worker *w);

/* Picks the next runnable task from the worker's own queues, or NULL. */
static uvgo_task_t *next_local(struct uvgo_worker *w)
{
    uvgo_task_t *t;

    uvgo__assert(w == uvgo__worker_self()); /* runnext: owner only */
    atomic_store_explicit(&w->switches, ++w->tick, memory_order_relaxed);
    if (UVGO_UNLIKELY(w->tick % FAIRNESS_TICKS == 0)) {
        /* Now and then look past runnext and the local queue, so tasks
         * handed to us from elsewhere are not starved by a local
         * conversation. */
        if ((t = gq_get(w)) || (t = inbox_take(w)))
            goto got;
        if (w->runnext && (t = runq_get(w))) {
            uvgo__runq_put(w, w->runnext);
            w->runnext = NULL;
            goto got;
        }
    }
    if ((t = w->runnext)) {
        w->runnext = NULL;
        goto got;
    }
    if (UVGO_UNLIKELY(w->pin_head) && (w->tick & 1)) {
        t = pin_get(w);
        goto got;
    }
    if ((t = runq_get(w)) || (t = pin_get(w)) || (t = inbox_take(w)))
        goto got;
    return NULL;
got:
    return t;
}

static int has_local_work(struct uvgo_worker *w)
{
    return w->runnext || w->pin_head || !runq_empty(w) ||
           atomic_load_explicit(&w->inbox, memory_order_relaxed);
}

static inline int poll_due(struct uvgo_worker *w)
{
    if ((w->tick & POLL_CHECK_MASK) != 0)
        return 0;
    return uvgo__ticks() - w->last_poll > w->rt->ticks_per_poll;
}

#if defined(UVGO_ASAN)
static void san_bounds(uvgo_task_t *t, const void **bottom, size_t *size)
{
    *bottom = t->asan_bottom;
    *size = t->asan_size;
}
#endif

/* A switch-out found t's stack overflowed (UVGO_STACK_*): the report. */
static UVGO_NORETURN UVGO_NOINLINE void stack_overflow(uvgo_task_t *t, int bad)
{
    const char *above;
    uint64_t id;

    switch (bad) {
    case UVGO_STACK_SP:
        uvgo__panic("stack overflow in task %llu \"%s\" (stack %zu bytes; its "
                    "stack pointer is below its stack); spawn it with a "
                    "larger stack_size",
                    (unsigned long long)t->id, t->name, t->stack.size);
    case UVGO_STACK_CANARY:
        uvgo__panic("stack overflow in task %llu \"%s\" (stack %zu bytes; "
                    "the canary under its stack was written); spawn it with "
                    "a larger stack_size",
                    (unsigned long long)t->id, t->name, t->stack.size);
    default:
        above = uvgo__stack_above(&t->stack, &id);
        if (above)
            uvgo__panic("stack overflow in task %llu \"%s\" (stack %zu "
                        "bytes), found by task %llu \"%s\", whose stack lies "
                        "below and was overwritten; spawn it with a larger "
                        "stack_size",
                        (unsigned long long)id, above, t->stack.size,
                        (unsigned long long)t->id, t->name);
        uvgo__panic("stack overflow into the stack of task %llu \"%s\": the "
                    "top of its stack was overwritten by the task on the "
                    "stack above it (stack %zu bytes)",
                    (unsigned long long)t->id, t->name, t->stack.size);
    }
}

/* ticks_per_poll ticks make POLL_INTERVAL_US.  The idle time of the
 * metrics is counted in ticks too: a busy server goes idle and wakes
 * thousands of times a second, and two clock_gettime calls per idle spell
 * were ~3% of bench echo's user time, where a tick read is one
 * instruction. */
static uint64_t ticks_to_ns(const struct uvgo_runtime *rt, uint64_t d)
{
    return (uint64_t)((double)d * rt->ns_per_tick);
}

/* Adds a sampled wake-up's latency (ready_ticks until now) to w's
 * histogram. */
static UVGO_NOINLINE void latency_record(struct uvgo_worker *w, uvgo_task_t *t)
{
    uint64_t d = uvgo__ticks() - t->ready_ticks, ns;
    int b;

    t->resume &= (uint8_t)~UVGO_RESUME_SAMPLED;
    /* Very long waits (hours) belong in the last bucket anyway. */
    if (d > ((uint64_t)1 << 40))
        b = UVGO_METRICS_LATENCY_BUCKETS - 1;
    else {
        ns = ticks_to_ns(w->rt, d);
        b = ns ? 63 - __builtin_clzll(ns) : 0;
        if (b >= UVGO_METRICS_LATENCY_BUCKETS)
            b = UVGO_METRICS_LATENCY_BUCKETS - 1;
    }
    uvgo__stat_inc(&w->stats.latency[b]);
}

/* Switches from `from` (the running context) to `to` on worker w.
 * `dying`: `from` will never run again. */
static inline void switch_to(struct uvgo_worker *w, uvgo_task_t *from,
                             uvgo_task_t *to, int dying)
{
#if defined(UVGO_ASAN)
    void *fake = NULL;
    const void *bottom;
    size_t size;
#endif
    if (UVGO_UNLIKELY(to == from)) {
        /* A task readied while it was parking, found again by its own
         * schedule(): it just goes on.  No switch, so nothing after one
         * may run: clearing on_cpu here would tell wakers on other workers
         * that a running task is free to move (found by TSan as a task
         * resumed on two threads at once). */
        uvgo__assert(!w->pending);
        atomic_store_explicit(&to->state, UVGO_TASK_RUNNING,
                              memory_order_relaxed);
        atomic_store_explicit(&to->wait, NULL, memory_order_relaxed);
        return;
    }
    /* Only a task that waits to run is switched to: not one running
     * elsewhere, exited or free. */
    uvgo__assert(to == &w->sched ||
                 atomic_load_explicit(&to->state, memory_order_relaxed) ==
                     UVGO_TASK_RUNNABLE ||
                 atomic_load_explicit(&to->state, memory_order_relaxed) ==
                     UVGO_TASK_WAITING);
    if (UVGO_UNLIKELY(to->resume)) {
        if ((to->resume & UVGO_RESUME_FRESH) && !uvgo__task_first_run(w, to)) {
            /* Sent to the worker that keeps its stack: run whatever the
             * loop context picks next instead.  A sample waits for the
             * run there. */
            to = &w->sched;
            if (to == from)
                return;
        } else if (to->resume & UVGO_RESUME_SAMPLED) {
            latency_record(w, to);
        }
    }
    if (from != &w->sched) {
        int bad =
            uvgo__stack_check(&from->stack, from, __builtin_frame_address(0));
        if (UVGO_UNLIKELY(bad))
            stack_overflow(from, bad);
    }
    /* Atomic (a plain store) only because the monitor reads it. */
    __atomic_store_n(&w->current, to, __ATOMIC_RELAXED);
    atomic_store_explicit(&to->on_cpu, 1, memory_order_relaxed);
    w->switched_out = from;
    if (to != &w->sched) {
        atomic_store_explicit(&to->state, UVGO_TASK_RUNNING,
                              memory_order_relaxed);
        atomic_store_explicit(&to->wait, NULL, memory_order_relaxed);
    }
#if defined(UVGO_ASAN)
    san_bounds(to, &bottom, &size);
    __sanitizer_start_switch_fiber(dying ? NULL : &fake, bottom, size);
#else
    (void)dying;
#endif
#if defined(UVGO_TSAN)
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    uvgo__switch_to(&from->ctx, &to->ctx);
    /* Resumed, perhaps on another worker: nothing cached above is valid. */
#if defined(UVGO_ASAN)
    __sanitizer_finish_switch_fiber(fake, &bottom, &size);
#endif
    w = uvgo__worker_self();
    /* release: whoever sees on_cpu == 0 sees the registers saved. */
    atomic_store_explicit(&w->switched_out->on_cpu, 0, memory_order_release);
    if (UVGO_UNLIKELY(w->pending))
        run_pending(w);
}

/* Called in a new task before anything else. */
void uvgo__sched_task_started(void)
{
    struct uvgo_worker *w;
#if defined(UVGO_ASAN)
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &bottom, &size);
#endif
    w = uvgo__worker_self();
    atomic_store_explicit(&w->switched_out->on_cpu, 0, memory_order_release);
    if (w->pending)
        run_pending(w);
}

/* The running task `self` stops running: switch to what runs next. */
static void schedule(struct uvgo_worker *w, uvgo_task_t *self, int dying)
{
    uvgo_task_t *next = NULL;

    if (!poll_due(w) &&
        !atomic_load_explicit(&w->rt->stopping, memory_order_relaxed))
        next = next_local(w);
    if (!next)
        next = &w->sched;
    switch_to(w, self, next, dying);
}

void uvgo__task_park(const char *reason)
{
    struct uvgo_worker *w = uvgo__worker_self();
    uvgo_task_t *self = w->current;

    uvgo__assert(self != &w->sched);
    /* Parking holding a lock would carry it to another thread, and stall
     * everyone who wants it meanwhile (base/lockrank.h). */
    uvgo__assert(uvgo__rank_count() == 0);
    uvgo__assert(atomic_load_explicit(&self->state, memory_order_relaxed) ==
                 UVGO_TASK_RUNNING);
    atomic_store_explicit(&self->wait, reason, memory_order_relaxed);
    /* A waker may already have readied us (into our own worker's inbox or,
     * on this thread, runnext); then the state is RUNNABLE and we are found
     * again below or at the next switch.  Either way we switch out now. */
    atomic_store_explicit(&self->state, UVGO_TASK_WAITING,
                          memory_order_relaxed);
    uvgo__stat_inc(&w->stats.parks);
    /* In a bubble the park is counted, and may move the bubble's clock
     * (which may ready us again at once). */
    if (UVGO_UNLIKELY(self->bubble != NULL))
        uvgo__bubble_park(self);
    schedule(w, self, 0);
}

static void run_pending(struct uvgo_worker *w)
{
    int op = w->pending;
    uvgo_task_t *t = w->pending_task;

    w->pending = UVGO_PENDING_NONE;
    w->pending_task = NULL;
    /* Not a switch: GCC tested a yield's re-queue, the common case,
     * last. */
    if (op == UVGO_PENDING_REQUEUE)
        uvgo__runq_put(w, t);
    else if (op == UVGO_PENDING_EXIT)
        uvgo__task_exited(w, t);
    else if (op == UVGO_PENDING_MOVE)
        uvgo__inbox_put(w->pending_to, t);
}

int uvgo_task_yield(void)
{
    struct uvgo_worker *w = uvgo__worker_self();
    uvgo_task_t *self, *next;

    if (!w || w->current == &w->sched)
        return UVGO_ENOTTASK;
    self = w->current;
    if (poll_due(w) ||
        atomic_load_explicit(&w->rt->stopping, memory_order_relaxed)) {
        next = &w->sched;
    } else if (!(next = next_local(w))) {
        return 0; /* nothing else wants to run */
    }
    /* We may not sit in a stealable queue while still on our stack (a thief
     * could resume us on another thread mid-switch): the re-queue happens
     * on the other side of the switch.  If the loop context runs next, it
     * polls and then finds us queued. */
    w->pending = UVGO_PENDING_REQUEUE;
    w->pending_task = self;
    uvgo__stat_inc(&w->stats.yields);
    switch_to(w, self, next, 0);
    return 0;
}

void uvgo__task_exit(void)
{
    struct uvgo_worker *w = uvgo__worker_self();
    uvgo_task_t *self = w->current;

    w->pending = UVGO_PENDING_EXIT;
    w->pending_task = self;
    uvgo__stat_inc(&w->stats.exits);
    schedule(w, self, 1);
    __builtin_unreachable();
}

int uvgo_loop_enter(uv_loop_t *loop)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    struct uvgo_worker *w = uvgo__worker_self();
    struct uvgo_worker *to = NULL;
    uvgo_task_t *self;

    if (!w || w->current == &w->sched)
        return UVGO_ENOTTASK;
    if (!loop)
        return UVGO_EINVAL;
    /* From now on wake-ups send this task home to the loop's worker.  An
     * atomic OR, once: joiners read the same byte (JOINABLE) meanwhile. */
    if (!(w->current->flags & UVGO_TASK_BOUND))
        __atomic_fetch_or(&w->current->flags, UVGO_TASK_BOUND,
                          __ATOMIC_RELAXED);
    if (w->loop == loop)
        return 0;
    for (int i = 0; rt && i < rt->nworkers; i++)
        if (rt->workers[i]->loop == loop)
            to = rt->workers[i];
    if (!to)
        return UVGO_EINVAL;
    /* The target's inbox hands the task to its run queue, where a thief
     * may take it before it runs: move until it resumes on the loop's
     * thread, which is what the caller relies on. */
    do {
        self = w->current;
        uvgo__task_set_worker(self, to);
        atomic_store_explicit(&self->state, UVGO_TASK_RUNNABLE,
                              memory_order_relaxed);
        w->pending = UVGO_PENDING_MOVE;
        w->pending_task = self;
        w->pending_to = to;
        uvgo_task_t *next = NULL;
        if (!poll_due(w))
            next = next_local(w);
        switch_to(w, self, next ? next : &w->sched, 0);
        w = uvgo__worker_self();
    } while (w != to);
    return 0;
}

int uvgo__task_move_to(int i, int force)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    struct uvgo_worker *w = uvgo__worker_self();
    uvgo_task_t *self;

    if (!rt || !w || w->current == &w->sched || i < 0 || i >= rt->nworkers ||
        rt->workers[i] == w)
        return 0;
    self = w->current;
    if (self->bubble ||
        (!force && (__atomic_load_n(&self->flags, __ATOMIC_RELAXED) &
                    (UVGO_TASK_PINNED | UVGO_TASK_BOUND))))
        return 0;
    return uvgo_loop_enter(rt->workers[i]->loop) == 0;
}

/* ---- the loop side ------------------------------------------------------ */

static void on_idle(uv_idle_t *h)
{
    (void)h; /* its only job is to keep the poll from blocking */
}

/* Keeps the next poll from blocking, so that tasks readied now run.  Not
 * needed while the loop polls (between on_prepare and on_check): only
 * I/O callbacks run there, and the check right after the poll runs what
 * they readied.  Skipping it there spares a start and a stop of the idle
 * handle per loop iteration in a busy server (~1.3% of bench echo's user
 * time).  A host's loop may run its own prepare callbacks after ours, so
 * an embedded worker never counts as polling. */
static void idle_on(struct uvgo_worker *w)
{
    if (w->closing || w->polling)
        return;
    w->idle_active = 1;
    uv_idle_start(&w->idle, on_idle);
}

static void idle_off(struct uvgo_worker *w)
{
    w->idle_active = 0;
    uv_idle_stop(&w->idle);
}

static void stop_spinning(struct uvgo_worker *w)
{
    if (w->spinning) {
        w->spinning = 0;
        atomic_fetch_sub(&w->rt->nspinning, 1);
    }
}

/* Looks beyond the local queues: the inbox, the global queue and (if
 * `remote`) other workers' runqs. */
static uvgo_task_t *find_work_in(struct uvgo_worker *w, int remote)
{
    uvgo_task_t *t;
    if ((t = inbox_take(w)) || (t = gq_get(w)) || (remote && (t = steal(w))))
        return t;
    return NULL;
}

static uvgo_task_t *find_work(struct uvgo_worker *w)
{
    return find_work_in(w, 1);
}

/* Busy-polls for work until `until` (ticks).  Waking a parked worker costs
 * an eventfd write and an epoll wake-up (microseconds); a spinning one
 * notices a new task in ~100 ns. */
static uvgo_task_t *spin_for_work(struct uvgo_worker *w, uint64_t until)
{
    struct uvgo_runtime *rt = w->rt;
    uvgo_task_t *t;
    unsigned i = 0;

    if (!w->spinning) {
        w->spinning = 1;
        atomic_fetch_add(&rt->nspinning, 1);
    }
    do {
        /* Our inbox every time (only wakers write that line); other
         * workers' queues every 16th time, so that polling them does not
         * make their owners miss on every queue operation. */
        if ((t = find_work_in(w, (i & 15) == 0)))
            return t;
        if (atomic_load_explicit(&rt->stopping, memory_order_relaxed))
            break;
        for (int k = 0; k < 4; k++)
            uvgo__cpu_relax();
    } while ((++i & 7) || uvgo__ticks() < until);
    return NULL;
}

/* The worker gives up spinning and will park. */
static uvgo_task_t *stop_idling(struct uvgo_worker *w)
{
    w->idle_since = 0;
    w->keep_polling = 0;
    if (!w->spinning)
        return NULL;
    stop_spinning(w);
    /* Go's rule: after dropping the spinning count, look once more, or a
     * worker that queued work while we counted as spinning (and so woke
     * nobody) would leave it stranded. */
    return find_work(w);
}

/* The scheduler context: runs tasks until none is runnable or the loop is due
 * for a poll.  An idle worker spins for up to SPIN_US in all, returning to
 * the loop for a non-blocking poll every POLL_INTERVAL_US meanwhile, and
 * only then lets the loop block. */
static void run(struct uvgo_worker *w)
{
    struct uvgo_runtime *rt = w->rt;
    int spin = rt->nworkers > 1 && !rt->embedded;
    uint64_t spin_ticks =
        (rt->ticks_per_poll * SPIN_US / POLL_INTERVAL_US) >> w->spin_shift;

    w->last_poll = uvgo__ticks();
    w->keep_polling = 0;
    for (;;) {
        uvgo_task_t *t;
        if (atomic_load_explicit(&rt->stopping, memory_order_relaxed))
            break;
        t = next_local(w);
        if (!t)
            t = find_work(w);
        if (!t && spin && w->spin_shift < SPIN_SHIFT_MAX) {
            uint64_t now = uvgo__ticks();
            if (!w->idle_since)
                w->idle_since = now;
            uint64_t until = w->idle_since + spin_ticks;
            if (now < until) {
                uint64_t poll_at = w->last_poll + rt->ticks_per_poll;
                t = spin_for_work(w, poll_at < until ? poll_at : until);
                if (t)
                    w->spin_shift = 0;
                else
                    w->spin_shift++;
                if (!t && uvgo__ticks() < until) {
                    w->keep_polling = 1; /* poll the loop, then spin on */
                    break;
                }
            }
            if (!t)
                t = stop_idling(w);
        } else if (!t && spin && w->spinning) {
            t = stop_idling(w);
        }
        if (!t)
            break;
        w->idle_since = 0;
        if (w->spinning) {
            stop_spinning(w);
            if (has_local_work(w))
                uvgo__wake_idle(rt);
        }
        switch_to(w, &w->sched, t, 0);
        if (poll_due(w))
            break;
    }
    if (has_local_work(w) || w->keep_polling) {
        if (!w->idle_active)
            idle_on(w);
    } else if (w->idle_active) {
        idle_off(w);
    }
}

static void undead(struct uvgo_worker *w)
{
    if (w->dead_parked) {
        uvgo__mutex_lock(&w->rt->lock, UVGO_RANK_SCHED);
        w->dead_parked = 0;
        w->rt->ndead--;
        uvgo__mutex_unlock(&w->rt->lock);
    }
}

static void on_check(uv_check_t *h)
{
    struct uvgo_worker *w = uvgo__container_of(h, struct uvgo_worker, check);
    struct uvgo_runtime *rt = w->rt;

    w->polling = 0;
    uvgo__stat_inc(&w->stats.polls);
    if (w->idle_from) {
        uvgo__stat_add(&w->stats.idle_ns,
                       ticks_to_ns(rt, uvgo__ticks() - w->idle_from));
        w->idle_from = 0;
    }
    if (atomic_load_explicit(&w->parked, memory_order_relaxed) &&
        atomic_exchange_explicit(&w->parked, 0, memory_order_acq_rel))
        atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_relaxed);
    if (atomic_load_explicit(&w->woken_to_spin, memory_order_relaxed) &&
        atomic_exchange_explicit(&w->woken_to_spin, 0, memory_order_acquire)) {
        if (w->spinning)
            atomic_fetch_sub(&rt->nspinning, 1); /* counted already */
        w->spinning = 1;
    }
    undead(w);
    if (atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
        if (!rt->embedded)
            uv_stop(w->loop);
        return;
    }
    run(w);
    if (atomic_load_explicit(&rt->stopping, memory_order_relaxed) &&
        !rt->embedded)
        uv_stop(w->loop);
}

static void on_doorbell(uv_async_t *h)
{
    struct uvgo_worker *w = uvgo__container_of(h, struct uvgo_worker, doorbell);
    w->spin_shift = 0; /* rung while asleep: spinning would have paid */
    /* Tasks: the check handle, right after this poll, runs them.  Timers
     * armed from another thread where only we may touch the uv timer: */
    uvgo__timers_rearm(w);
}

static int others_have_work(struct uvgo_worker *w)
{
    struct uvgo_runtime *rt = w->rt;
    for (int i = 0; i < rt->nworkers; i++) {
        struct uvgo_worker *v = rt->workers[i];
        if (v != w && !runq_empty(v))
            return 1;
    }
    return 0;
}

static int all_queues_empty(struct uvgo_runtime *rt)
{
    if (atomic_load(&rt->gq_len))
        return 0;
    for (int i = 0; i < rt->nworkers; i++) {
        struct uvgo_worker *v = rt->workers[i];
        if (atomic_load(&v->inbox) || !runq_empty(v))
            return 0;
    }
    return 1;
}

/* A worker that dead-parked before a task started waiting on a timer
 * channel in its heap is woken by that timer all the same (its timerfd
 * stays armed): look again at every worker before calling it a deadlock.
 * Caller holds rt->lock. */
static int any_timer_may_wake(struct uvgo_runtime *rt)
{
    uvgo__assert(uvgo__mutex_held(&rt->lock));
    for (int i = 0; i < rt->nworkers; i++)
        if (uvgo__timers_may_wake(rt->workers[i]))
            return 1;
    return 0;
}

static void deadlock(struct uvgo_runtime *rt)
{
    (void)rt;
    fprintf(stderr, "uvgo: fatal error: all tasks are asleep - deadlock!\n");
    uvgo_dump(stderr);
    fflush(stderr);
    abort();
}

/* Right before the poll: park if there is nothing to run. */
/* Before the poll: keep it from blocking if there is work, else get
 * ready to sleep in it. */
static void before_poll(struct uvgo_worker *w)
{
    struct uvgo_runtime *rt = w->rt;
    int alive;

    if (has_local_work(w) || w->keep_polling || atomic_load(&rt->stopping)) {
        if (!w->idle_active)
            idle_on(w);
        return;
    }
    if (w->idle_active)
        idle_off(w);
    /* Going idle: cached stacks beyond a few go to the warm pool, whose
     * memory goes back on the next release pass (the monitor's, or ours
     * in single-loop mode, where there is no monitor).  At most once a
     * millisecond: a busy server goes idle thousands of times a second,
     * and the walk over the size classes was ~1.3% of bench echo's user
     * time. */
    uint64_t now_ticks = uvgo__ticks();
    if (now_ticks - w->last_trim >=
        rt->ticks_per_poll * (1000 / POLL_INTERVAL_US)) {
        w->last_trim = now_ticks;
        uvgo__stack_cache_trim(&w->stacks, 16);
    }
    if (rt->embedded) {
        uint64_t now = uv_hrtime();
        if (now - w->last_release >= UVGO_STACK_RELEASE_MS * 1000000ull) {
            w->last_release = now;
            uvgo__stack_release_idle();
        }
    }
    stop_spinning(w);
    w->idle_since = 0;
    /* Idle time for metrics: from here to the check after the poll.
     * (libuv's own UV_METRICS_IDLE_TIME would cost an extra epoll_wait on
     * every blocking poll.) */
    w->idle_from = uvgo__ticks();

    atomic_store_explicit(&w->parked, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&rt->nparked, 1, memory_order_relaxed);
    /* seq_cst: the other side of uvgo__inbox_put()'s handshake.  Work
     * queued elsewhere since our last steal attempt keeps us up too: its
     * owner may have looked for parked workers just before we counted
     * ourselves (the monitor catches what slips through this window). */
    if (atomic_load_explicit(&w->inbox, memory_order_seq_cst) ||
        atomic_load_explicit(&rt->gq_len, memory_order_seq_cst) ||
        others_have_work(w)) {
        if (atomic_exchange_explicit(&w->parked, 0, memory_order_acq_rel))
            atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_relaxed);
        idle_on(w);
        return;
    }
    if (rt->embedded)
        return;

    /* Would anything wake this loop besides another worker? */
    uv_unref((uv_handle_t *)&w->doorbell);
    alive = uv_loop_alive(w->loop) || uvgo__timers_may_wake(w);
    uv_ref((uv_handle_t *)&w->doorbell);
    if (alive)
        return;
    uvgo__mutex_lock(&rt->lock, UVGO_RANK_SCHED);
    w->dead_parked = 1;
    rt->ndead++;
    if (rt->ndead == rt->nworkers && all_queues_empty(rt) &&
        !any_timer_may_wake(rt) && !atomic_load(&rt->stopping) &&
        !atomic_load(&rt->external_refs))
        deadlock(rt);
    uvgo__mutex_unlock(&rt->lock);
}

static void on_prepare(uv_prepare_t *h)
{
    struct uvgo_worker *w = uvgo__container_of(h, struct uvgo_worker, prepare);
    before_poll(w);
    w->polling = !w->rt->embedded; /* after: before_poll may need idle_on */
}

/* ---- worker lifecycle ------------------------------------------------- */

static void thread_stack_bounds(uvgo_task_t *sched)
{
#if defined(UVGO_ASAN)
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
    }
    sched->asan_bottom = addr;
    sched->asan_size = size;
#else
    (void)sched;
#endif
}

int uvgo__sched_worker_init(struct uvgo_runtime *rt, struct uvgo_worker *w,
                            uv_loop_t *loop)
{
    int err;

    w->rt = rt;
    w->embedded = loop != NULL;
    if (!loop) {
        err = uv_loop_init(&w->own_loop);
        if (err)
            return err;
        loop = &w->own_loop;
    }
    w->loop = loop;
    w->started_ns = uv_hrtime();
    w->stats.sample_countdown = UVGO_METRICS_SAMPLE_EVERY;
    w->current = &w->sched;
    w->rand = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1) ^ uv_hrtime();
    if (!w->rand)
        w->rand = 1;
    snprintf(w->sched.name, sizeof w->sched.name, "worker %d loop", w->id);
    w->sched.worker = w;
    /* The doorbell first: it is the only handle whose creation can fail
     * (an eventfd), and then nothing is on the loop to close. */
    err = uv_async_init(loop, &w->doorbell, on_doorbell);
    if (err) {
        if (!w->embedded)
            uv_loop_close(loop);
        return err;
    }
    uv_check_init(loop, &w->check);
    uv_prepare_init(loop, &w->prepare);
    uv_idle_init(loop, &w->idle);
    uv_check_start(&w->check, on_check);
    uv_prepare_start(&w->prepare, on_prepare);
    uv_unref((uv_handle_t *)&w->check);
    uv_unref((uv_handle_t *)&w->prepare);
    /* A worker thread's loop must stay up until shutdown even with nothing
     * to do; a host's loop must not be kept alive by us. */
    if (w->embedded)
        uv_unref((uv_handle_t *)&w->doorbell);
    uvgo__timers_init(w);
    if (w->embedded) {
        /* Sleeping tasks keep the host's loop alive (see time.c). */
        w->embedded_timers_ref = 0;
    }
    return 0;
}

/* Runs on the worker's own thread. */
void uvgo__sched_worker_run(struct uvgo_worker *w)
{
    uvgo__worker_set_self(w);
    uvgo__timers_thread_init();
    thread_stack_bounds(&w->sched);
#if defined(UVGO_TSAN)
    w->sched.tsan_fiber = __tsan_get_current_fiber();
#endif
    uvgo__stack_thread_init(&w->altstack);
    uv_run(w->loop, UV_RUN_DEFAULT);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Runs on the worker's own thread after uv_run returned (worker mode). */
void uvgo__sched_worker_close(struct uvgo_worker *w)
{
    w->closing = 1;
    uvgo__timers_close(w);
    uv_walk(w->loop, close_walk, NULL);
    uv_run(w->loop, UV_RUN_DEFAULT);
    uv_loop_close(w->loop);
    uvgo__timers_finish(w);
    uvgo__stack_thread_close(w->altstack);
    w->altstack = NULL;
    uvgo__worker_set_self(NULL);
}

/* ---- the monitor ---------------------------------------------------------- *
 *
 * One thread per runtime that looks at the workers every MONITOR_MS (less
 * often while there is nothing to do), like Go's sysmon.  It does two things no
 * hot path should pay for:
 *
 *   - A worker that has run one task for a while (its switch count did not
 *     move) while it has stealable work queued, with another worker parked
 *     and none spinning, gets help: the monitor wakes an idle worker to
 *     steal.  This also closes the window in which a task was queued just
 *     as the last idle worker was going to sleep.
 *   - A task that runs longer than UVGO_LONG_RUN_MS (default 1000) without a
 *     switch is reported once, by name, on stderr: it starves everything
 *     else on its worker, I/O included.  0 turns the report off.
 */
#define MONITOR_MS 2

/* While every worker it sees is switching or parked, the monitor has
 * nothing to do: after MONITOR_QUIET such passes in a row it looks half
 * as often, down to every MONITOR_MAX_MS, and a worker found stuck brings
 * it back to MONITOR_MS (Go's sysmon backs off to 10 ms the same way).  A
 * busy server otherwise paid 500 wake-ups a second for nothing: ~3% of
 * bench echo's user time. */
#define MONITOR_MAX_MS 10
#define MONITOR_QUIET 50

/* What the monitor remembers of each worker. */
struct monitor_seen {
    unsigned switches; /* the worker's switch count when last seen */
    uint64_t since;    /* when that count was first seen */
    int reported;      /* its long run has been reported */
};

static void monitor_main(void *arg)
{
    struct uvgo_runtime *rt = arg;
    int n = rt->nworkers;
    struct monitor_seen *seen = rt->monitor_seen;
    const char *env = getenv("UVGO_LONG_RUN_MS");
    uint64_t long_run_ns =
        (env && *env ? strtoull(env, NULL, 10) : 1000) * 1000000ull;

    uint64_t last_release = uv_hrtime();
    uint64_t delay = MONITOR_MS * 1000000ull;
    unsigned quiet = 0;
    uv_mutex_lock(&rt->monitor_lock);
    while (!rt->monitor_stop) {
        int stuck = 0;
        uv_cond_timedwait(&rt->monitor_cond, &rt->monitor_lock, delay);
        if (rt->monitor_stop)
            break;
        uint64_t now = uv_hrtime();
        if (now - last_release >= UVGO_STACK_RELEASE_MS * 1000000ull) {
            /* Off every worker's path: madvise shoots down TLBs. */
            uv_mutex_unlock(&rt->monitor_lock);
            uvgo__stack_release_idle();
            uv_mutex_lock(&rt->monitor_lock);
            last_release = now;
        }
        for (int i = 0; i < n; i++) {
            struct uvgo_worker *v = rt->workers[i];
            struct monitor_seen *s = &seen[i];
            unsigned sw =
                atomic_load_explicit(&v->switches, memory_order_relaxed);
            if (sw != s->switches ||
                atomic_load_explicit(&v->parked, memory_order_relaxed)) {
                s->switches = sw;
                s->since = now;
                s->reported = 0;
                continue;
            }
            stuck = 1;
            if (now - s->since < MONITOR_MS * 1000000ull)
                continue;
            if (!runq_empty(v))
                uvgo__wake_idle(rt);
            if (long_run_ns && !s->reported && now - s->since > long_run_ns) {
                uvgo_task_t *t = __atomic_load_n(&v->current, __ATOMIC_RELAXED);
                char name[UVGO_TASK_NAME_MAX];
                uint64_t id;
                if (!t || t == &v->sched) {
                    s->reported = 1;
                    continue;
                }
                /* Nothing orders us after t's spawn: read the record with
                 * atomics, then make sure the worker has not switched
                 * meanwhile (t's record could have been reused for another
                 * task under the copy).  If it has, the next pass sees a
                 * new count.  The worker pays nothing for this. */
                uvgo__task_peek(t, &id, name);
                /* acquire fence: the count is read after the copy. */
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&v->switches, memory_order_relaxed) !=
                    sw)
                    continue;
                s->reported = 1;
                fprintf(stderr,
                        "uvgo: task %llu \"%s\" has run for %llu ms on "
                        "worker %d without a switch; tasks queued behind "
                        "it and the worker's I/O wait\n",
                        (unsigned long long)id, name,
                        (unsigned long long)((now - s->since) / 1000000), i);
            }
        }
        if (stuck) {
            quiet = 0;
            delay = MONITOR_MS * 1000000ull;
        } else if (++quiet >= MONITOR_QUIET &&
                   delay < MONITOR_MAX_MS * 1000000ull) {
            quiet = 0;
            delay *= 2;
            if (delay > MONITOR_MAX_MS * 1000000ull)
                delay = MONITOR_MAX_MS * 1000000ull;
        }
    }
    uv_mutex_unlock(&rt->monitor_lock);
}

int uvgo__monitor_start(struct uvgo_runtime *rt)
{
    int err;
    /* Allocated here, not in the thread, so that a failure fails
     * uvgo_main instead of leaving the runtime without its backstop. */
    rt->monitor_seen =
        uvgo__calloc((size_t)rt->nworkers, sizeof(struct monitor_seen));
    if (!rt->monitor_seen)
        return UVGO_ENOMEM;
    uv_mutex_init(&rt->monitor_lock);
    uv_cond_init(&rt->monitor_cond);
    rt->monitor_stop = 0;
    err = uv_thread_create(&rt->monitor, monitor_main, rt);
    if (err) {
        uv_cond_destroy(&rt->monitor_cond);
        uv_mutex_destroy(&rt->monitor_lock);
        uvgo__free(rt->monitor_seen);
        rt->monitor_seen = NULL;
        return err;
    }
    rt->monitor_started = 1;
    return 0;
}

void uvgo__monitor_stop(struct uvgo_runtime *rt)
{
    if (!rt->monitor_started)
        return;
    uv_mutex_lock(&rt->monitor_lock);
    rt->monitor_stop = 1;
    uv_cond_signal(&rt->monitor_cond);
    uv_mutex_unlock(&rt->monitor_lock);
    uv_thread_join(&rt->monitor);
    uv_cond_destroy(&rt->monitor_cond);
    uv_mutex_destroy(&rt->monitor_lock);
    uvgo__free(rt->monitor_seen);
    rt->monitor_seen = NULL;
    rt->monitor_started = 0;
}

void uvgo__sched_stop_all(struct uvgo_runtime *rt)
{
    atomic_store(&rt->stopping, 1);
    for (int i = 0; i < rt->nworkers; i++)
        ring_doorbell(rt->workers[i]);
}

/* Single-loop mode: the host's thread plays the worker thread. */
void uvgo__sched_embedded_thread_init(struct uvgo_worker *w)
{
    thread_stack_bounds(&w->sched);
#if defined(UVGO_TSAN)
    w->sched.tsan_fiber = __tsan_get_current_fiber();
#endif
    uvgo__stack_thread_init(&w->altstack);
}

void uvgo__sched_embedded_thread_close(struct uvgo_worker *w)
{
    uvgo__timers_close(w);
    uvgo__stack_thread_close(w->altstack);
    w->altstack = NULL;
}
