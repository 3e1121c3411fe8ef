/* runtime.h: tasks, workers and the runtime: the scheduler's internal contract.
 *
 * Everything that blocks in uvgo goes through three calls:
 *
 *   uvgo__task_self()         the running task (re-read it after any switch)
 *   uvgo__task_park(reason)   switch out until someone readies the task
 *   uvgo__task_ready(t)       make a parked task runnable (any thread)
 *
 * A blocking operation records its waiter where a waker will find it (on the
 * task's own stack: blocking never allocates), then parks.  The waker readies
 * the task after it has released its own locks.
 *
 * Readying a task never resumes it early, although a waker may ready a task
 * that has not finished switching out.  Where it goes (uvgo__task_ready in
 * sched.c): the waker's runnext when the waker is a task on the same worker,
 * or a task on another worker and the readied task is neither pinned, bound
 * to a loop nor still on its CPU (on_cpu); otherwise the inbox of the worker
 * it last ran on, which only that worker drains, between switches.  A task
 * never enters a stealable queue while its registers are unsaved: whatever
 * must happen after a task has switched out (re-queue a yielding task, hand
 * a moving one to its target's inbox, free a returned one, clear on_cpu) is
 * done by the context that runs next (worker->pending, switched_out).
 */
#ifndef UVGO_RUNTIME_H
#define UVGO_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "base/common.h"
#include "base/handle.h"
#include "runtime/switch.h"
#include "base/heap.h"
#include "runtime/stack.h"

struct uvgo_worker;
struct uvgo_runtime;
struct uvgo_bubble;

enum uvgo_task_state {
    UVGO_TASK_FREE = 0, /* must be 0: a cold stack slot reads as zero */
    UVGO_TASK_RUNNABLE,
    UVGO_TASK_RUNNING,
    UVGO_TASK_WAITING,
    UVGO_TASK_EXITED, /* returned; the record waits for join or detach */
};

/* A task record.  Records are small and come from per-worker caches (task.c);
 * the stack is reserved at spawn and first written when the task first runs,
 * so a queued task that has not started holds a record and a stack. */
struct uvgo_task {
    /* The fields a waker on another thread touches come first, in one cache
     * line with the saved stack pointer (asm backend): a cross-thread
     * wake-up moves as few lines between cores as possible. */

    /* The worker running the task or whose queues hold it.  Written only
     * while the task is neither running nor queued: at spawn, by a thief
     * before it publishes the stolen task, by a moving task's old worker.
     * Wakers read it under the lock that made them find the task. */
    struct uvgo_worker *worker;
    /* Queue link: inbox, global queue, pinned queue.  Owned by whichever
     * queue holds the task. */
    uvgo_task_t *next;
    /* In the global queue: a task GQ_AHEAD links further down the list (or
     * NULL), set when its batch is pushed, so that taking a batch can load
     * records ahead of its walk (sched.c).  Only a hint once taken. */
    uvgo_task_t *gq_ahead;
    /* For dumps; relaxed.  state is written by the task's worker (and by
     * a same-thread waker), wait by the task when it parks. */
    _Atomic(const char *) wait; /* what it waits on while WAITING */
    _Atomic uint8_t state;      /* enum uvgo_task_state */
    uint8_t flags;              /* UVGO_TASK_PINNED | TASK_* below */
    /* 1 from the moment a worker switches to the task until the switch
     * away from it has completed (cleared by whatever runs next). */
    atomic_uchar on_cpu;
    /* UVGO_RESUME_*: work for the worker that next switches to the task,
     * in one byte so that a switch tests it once.  FRESH: set at spawn
     * and cleared by the worker that first switches to it (its stack is
     * reserved but unwritten until then).  SAMPLED: set with ready_ticks
     * by a sampled wake-up, before the task is queued (a waker may set it
     * while the task is still switching out: nobody else writes the byte
     * then), cleared by the worker that runs it. */
    uint8_t resume;
    /* The record's generation (base/handle.h): +2 at each spawn, bit 0 set
     * when the handle is consumed (join, detach).  Kept across reuse;
     * relaxed: a handle call reads it before anything else.  Next to the
     * state, which is kept too, so a new task clears the rest in two. */
    atomic_uint gen;
    /* uvgo__ticks() when a sampled wake-up made it runnable (resume has
     * UVGO_RESUME_SAMPLED): the scheduling-latency metric.  Written by
     * the waker before it queues the task, read by the worker that runs
     * it. */
    uint64_t ready_ticks;
    /* Saved context.  Written by the task's own switch-out. */
    uvgo__exec_t ctx;
    /* Immutable after spawn.  id and name are written with relaxed
     * atomics (and left out of record_clear's memset), because the
     * monitor reads them with no lock from the task's running worker
     * (uvgo__task_peek); every other reader has the spawn behind it. */
    uint64_t id;
    uvgo_task_fn fn;
    void *arg;
    /* Virtual time (runtime/synctest.h): the bubble it belongs to, or NULL
     * (immutable after spawn); set by the task itself right before a
     * durable park; and its state for the bubble's counts (under the
     * bubble's lock). */
    struct uvgo_bubble *bubble;
    uint8_t park_durable;
    uint8_t bubble_state;
    /* Written by the task, read by joiners after `done` is set. */
    void *result;
    /* References: one for running, one for a joinable handle.  The last
     * release frees the record (uvgo__task_unref). */
    atomic_int refs;
    uvgo_event_t done;            /* set when fn has returned */
    void **locals;                /* task-local values, lazily allocated */
    const void *spawn_site;       /* the spawner's code address; dumps */
    uvgo_stack_t stack;           /* reserved at spawn; lo NULL while only
                                     promised, and once freed */
    struct uvgo_worker *promiser; /* whose cache promised the stack, until
                                     the task first runs */
    size_t stack_want;            /* the size asked for; immutable */
#if defined(UVGO_TSAN)
    void *tsan_fiber;
#endif
#if defined(UVGO_ASAN)
    const void *asan_bottom; /* this context's stack, for the sanitizer */
    size_t asan_size;
#endif
    _Alignas(8) char name[UVGO_TASK_NAME_MAX]; /* NUL-padded; see id */
};

/* uvgo_task.resume. */
#define UVGO_RESUME_FRESH 1
#define UVGO_RESUME_SAMPLED 2

#define UVGO_TASK_JOINABLE (1u << 7)
/* The task entered a loop (uvgo_loop_enter): it uses that loop's handles, so
 * wake-ups send it home instead of pulling it to the waker's worker. */
#define UVGO_TASK_BOUND (1u << 6)

/* Go's runq: a fixed ring the owner pushes at `tail` without atomics RMW;
 * the owner and thieves take from `head` with a CAS. */
#define UVGO_RUNQ_SIZE 256

/* Work the old worker does right after a task switched out (see top). */
enum {
    UVGO_PENDING_NONE = 0,
    UVGO_PENDING_REQUEUE, /* a yielding task: back of the local runq */
    UVGO_PENDING_MOVE,    /* a moving task: the target worker's inbox */
    UVGO_PENDING_EXIT     /* a returned task: drop its running reference */
};

/* What a thief saw of a victim, for deciding whether it has stalled. */
#define UVGO_STEAL_SEEN 8
struct uvgo_steal_seen {
    struct uvgo_worker *worker;
    unsigned switches;
    uint64_t since;
};

/* A worker's metrics (uvgo/metrics.h).  The owner thread updates them with
 * relaxed load-and-store pairs (uvgo__stat_inc): plain instructions, no
 * read-modify-write, and readers on other threads see whole values. */
struct uvgo_worker_stats {
    /* Every run of a task ends in a park, a yield or its exit: their sum
     * is the number of runs, with no count on the switch itself. */
    atomic_ulong parks, yields, exits, steals, tasks_stolen;
    atomic_ulong inbox_tasks, polls, idle_ns;
    atomic_ulong latency[UVGO_METRICS_LATENCY_BUCKETS];
    /* Owner only: wake-ups until the next sampled one.  A countdown, so
     * that an unsampled wake-up costs a decrement and a branch. */
    unsigned sample_countdown;
};

static inline void uvgo__stat_add(atomic_ulong *c, unsigned long n)
{
#if defined(__x86_64__) && !defined(UVGO_TSAN)
    /* One add to memory, where the compiler makes the relaxed pair three
     * instructions (it never merges atomics): the owner is the only
     * writer, and an aligned 8-byte store is single-copy atomic on
     * x86-64, so readers' relaxed loads still see whole values.  TSan
     * builds keep the pair, which it can see. */
    __asm__("addq %1, %0" : "+m"(*(unsigned long *)c) : "er"(n));
#else
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
#endif
}

static inline void uvgo__stat_inc(atomic_ulong *c)
{
    uvgo__stat_add(c, 1);
}

struct uvgo_worker {
    /* Immutable while the runtime runs. */
    struct uvgo_runtime *rt;
    int id;
    uv_loop_t *loop;
    uv_loop_t own_loop; /* used unless embedded */
    uv_thread_t thread;
    int embedded;

    /* Owner thread only. */
    uvgo_task_t *current; /* running task, or &sched */
    uvgo_task_t sched;    /* the loop's own context (a pseudo-task) */
    uint32_t tick;        /* task switches, for fairness checks */
    atomic_uint switches; /* tick, published (relaxed) for the monitor */
    uint64_t last_poll;   /* uvgo__ticks() at the last loop poll */
    uint64_t rand;        /* xorshift state */
    uvgo_task_t *pin_head, *pin_tail; /* pinned runnable tasks, FIFO */
    uvgo_task_t *runnext;             /* runs next; never stolen */
    int pending;               /* UVGO_PENDING_*: after the next switch */
    uvgo_task_t *switched_out; /* its on_cpu is cleared after the switch */
    uvgo_task_t *pending_task;
    struct uvgo_worker *pending_to;
    int idle_active;     /* the idle handle is started */
    int polling;         /* between our prepare and check (sched.c) */
    int spinning;        /* counted in rt->nspinning */
    uint64_t idle_since; /* ticks when it ran out of work, or 0 */
    struct uvgo_steal_seen seen[UVGO_STEAL_SEEN]; /* by victim id */
    int keep_polling;         /* idle but still spinning: do not park */
    int spin_shift;           /* spin budget: SPIN_US >> spin_shift */
    uint64_t last_release;    /* single-loop mode: last stack release */
    uint64_t last_trim;       /* uvgo__ticks() of the last stack trim */
    int dead_parked;          /* counted in rt->ndead (under rt->lock) */
    uint64_t next_id, id_end; /* task ids reserved for this worker */
    uvgo_task_t *rec_free;    /* free task records, linked through next */
    unsigned rec_nfree;
    atomic_long spawned, freed; /* tasks created and freed here; owner writes */
    int closing;                /* handles are closing: start nothing */
    struct uvgo_worker_stats stats;
    uint64_t started_ns; /* uv_hrtime() when the worker started */
    uint64_t idle_from;  /* uvgo__ticks() as it went idle, or 0 */
    int open_handles;    /* embedded mode: handles not yet closed */
    void *altstack;
    /* Timers (time.c).  The heap is shared: any thread may add or remove
     * entries under timers_lock; the wake-up source is armed for the
     * earliest deadline. */
    uvgo_spinlock_t timers_lock;
    uvgo_heap_t timers;       /* sleepers and timers, by deadline */
    atomic_long ntimers;      /* entries that keep the worker alive
                                 (all but channel timers; time.c) */
    atomic_long nchan_timers; /* channel timers in the heap */
    int64_t timer_armed;      /* deadline armed for (timers_lock), or -1 */
    atomic_int timers_dirty;  /* re-arm needed on the owner thread */
    int tfd;                  /* timerfd (Linux), else -1 */
    uv_poll_t tpoll;          /* watches tfd */
    uv_timer_t timer;         /* the wake-up source where no timerfd */
    int embedded_timers_ref;  /* single-loop mode: the source is ref'd */
    uv_check_t check;
    uv_prepare_t prepare;
    uv_idle_t idle;
    uv_async_t doorbell;
    uvgo_stack_cache_t stacks;

    /* Shared. */
    UVGO_ALIGNED_CACHELINE atomic_uint runq_head; /* CAS by owner and thieves */
    atomic_uint runq_tail; /* store-release by owner only */
    _Atomic(uvgo_task_t *) runq[UVGO_RUNQ_SIZE];
    UVGO_ALIGNED_CACHELINE _Atomic(uvgo_task_t *) inbox; /* Treiber stack */
    atomic_int parked;        /* 1 while blocked (or about to) in poll */
    atomic_int woken_to_spin; /* set by uvgo__wake_idle: we own one
                                 rt->nspinning count once awake */
    atomic_ulong doorbells;   /* uv_async_send calls for us, by anyone */
};

struct uvgo_runtime {
    int nworkers;
    int embedded;
    struct uvgo_worker **workers;
    atomic_int nparked;          /* workers with parked == 1 */
    atomic_int nspinning;        /* workers looking for work, not parked */
    atomic_int stopping;         /* the main task returned */
    atomic_uint rr;              /* round robin for spawns from outside */
    atomic_long foreign_spawned; /* tasks created off the workers */
    atomic_long foreign_freed;   /* tasks freed off the workers */
    atomic_int external_refs;    /* uvgo_ref(): outside wakers may exist */
    uint64_t ticks_per_poll;     /* poll the loop at least this often */
    double ns_per_tick;          /* POLL_INTERVAL_US over ticks_per_poll */

    /* Under lock. */
    pthread_mutex_t lock;
    uvgo_task_t *gq_head, *gq_tail; /* global run queue */
    atomic_uint gq_len;             /* relaxed hint for lock-free emptiness */
    int ndead; /* workers parked with nothing to wait for */

    uvgo_task_t *main_task;
    void *main_result;

    /* Shutdown: no worker closes its handles before all have stopped
     * running tasks (a task on one worker may still ring another's
     * doorbell) and the monitor has stopped. */
    uv_barrier_t stopped;

    /* The monitor thread (sched.c). */
    uv_thread_t monitor;
    int monitor_started;
    uv_mutex_t monitor_lock;
    uv_cond_t monitor_cond;
    int monitor_stop;                  /* under monitor_lock */
    struct monitor_seen *monitor_seen; /* the monitor's, one per worker */
};

/* Sets t->worker.  A relaxed atomic store (a plain mov): the owners of the
 * task synchronise through the queues, but dumps read it from anywhere. */
static inline void uvgo__task_set_worker(uvgo_task_t *t, struct uvgo_worker *w)
{
    __atomic_store_n(&t->worker, w, __ATOMIC_RELAXED);
}

/* The running runtime, or NULL. */
extern struct uvgo_runtime *_Atomic uvgo__rt;

/* The record behind handle h (base/handle.h), whose generation is the
 * atomic_uint at gen_offset in it; NULL for NULL, a stale handle, or when
 * no runtime runs (type-stable records live as long as their runtime, so
 * reading one is safe only while it runs). */
static inline void *uvgo__handle_record(const void *h, size_t gen_offset)
{
    char *p = uvgo__handle_ptr(h);
    if (!p || !atomic_load_explicit(&uvgo__rt, memory_order_relaxed))
        return NULL;
    return uvgo__handle_matches(
               h, atomic_load_explicit((atomic_uint *)(p + gen_offset),
                                       memory_order_relaxed))
               ? p
               : NULL;
}

/* The worker whose thread calls, or NULL.  Never cached across a switch: a
 * task may resume on another thread.
 *
 * On x86_64 (no sanitizer) it is one load through %fs in a volatile asm
 * with a memory clobber: the compiler may neither reuse its result nor
 * move it across a call, which is what the out-of-line function gives
 * elsewhere, at the price of a call (bench echo: seven per message).  A
 * plain read of a __thread variable would not do: the compiler may keep
 * the variable's address, computed on the thread the task left. */
#if defined(__x86_64__) && defined(__ELF__) && !defined(UVGO_ASAN) &&          \
    !defined(UVGO_TSAN)
extern __thread struct uvgo_worker *uvgo__tls_worker
    __attribute__((tls_model("initial-exec")));

static inline struct uvgo_worker *uvgo__worker_self(void)
{
    struct uvgo_worker *w;
    __asm__ __volatile__("movq uvgo__tls_worker@gottpoff(%%rip), %0\n\t"
                         "movq %%fs:(%0), %0"
                         : "=r"(w)
                         :
                         : "memory");
    return w;
}
#else
struct uvgo_worker *uvgo__worker_self(void);
#endif
void uvgo__worker_set_self(struct uvgo_worker *w);

static inline uvgo_task_t *uvgo__task_self(void)
{
    struct uvgo_worker *w = uvgo__worker_self();
    return w && w->current != &w->sched ? w->current : NULL;
}

/* The calling task's worker when the task is bound to `loop` and runs on
 * that loop's thread, so that uvgo_loop_enter(loop) would return at once;
 * else NULL.  For the hot paths of code whose objects belong to a loop. */
static inline struct uvgo_worker *uvgo__loop_home(uv_loop_t *loop)
{
    struct uvgo_worker *w = uvgo__worker_self();
    /* The loop's own context (w->sched) is never bound. */
    if (w && w->loop == loop &&
        (__atomic_load_n(&w->current->flags, __ATOMIC_RELAXED) &
         UVGO_TASK_BOUND))
        return w;
    return NULL;
}

/* Moves the calling task onto worker i's loop, as uvgo_loop_enter would,
 * if it is free to move: not pinned, not in a bubble, and not bound to a
 * loop (whose handles it would then reach by hops); with `force`, pinned
 * and bound tasks move too (never a bubble's: its tasks share a worker).
 * Returns 1 if it moved, else 0.  For code that spreads its work over the
 * workers. */
int uvgo__task_move_to(int i, int force);

/* Switches the running task out until uvgo__task_ready().  The caller has
 * published itself to its waker and stored `reason`.
 * Precondition: called by a task (not the loop context). */
void uvgo__task_park(const char *reason);

/* Makes a parked task runnable.  Thread: any. */
void uvgo__task_ready(uvgo_task_t *t);

/* Queues a runnable task on worker w from its own thread (runq or pinned). */
void uvgo__runq_put(struct uvgo_worker *w, uvgo_task_t *t);

/* True when w's ring has no free slot.  Owner thread.  Inline: every
 * spawn from a task asks. */
static inline int uvgo__runq_full(struct uvgo_worker *w)
{
    return atomic_load_explicit(&w->runq_tail, memory_order_relaxed) -
               atomic_load_explicit(&w->runq_head, memory_order_relaxed) >=
           UVGO_RUNQ_SIZE;
}

/* Hands t to worker w from another thread: inbox, and the doorbell if w is
 * parked. */
void uvgo__inbox_put(struct uvgo_worker *w, uvgo_task_t *t);

/* Wakes a parked worker to steal, if work is waiting and none is spinning. */
void uvgo__wake_idle(struct uvgo_runtime *rt);

/* Called by the task record's owner when its last reference goes. */
void uvgo__task_unref(uvgo_task_t *t);

/* Runs after a task's final switch-out; frees it if unreferenced. */
void uvgo__task_exited(struct uvgo_worker *w, uvgo_task_t *t);

/* Task entry point (task.c) and scheduler hooks (sched.c). */
void uvgo__task_entry(void *arg);
UVGO_NORETURN void uvgo__task_exit(void);
/* First thing a new task runs (sanitizer hand-off, pending work). */
void uvgo__sched_task_started(void);
int uvgo__sched_worker_init(struct uvgo_runtime *rt, struct uvgo_worker *w,
                            uv_loop_t *loop);
void uvgo__sched_worker_close(struct uvgo_worker *w);
void uvgo__sched_worker_run(struct uvgo_worker *w);
void uvgo__sched_stop_all(struct uvgo_runtime *rt);
int uvgo__monitor_start(struct uvgo_runtime *rt);
void uvgo__monitor_stop(struct uvgo_runtime *rt);
void uvgo__sched_embedded_thread_init(struct uvgo_worker *w);
void uvgo__sched_embedded_thread_close(struct uvgo_worker *w);

/* Creates a task record and reserves its stack (task.c).  w: the calling
 * worker, or NULL off the workers; home: the task is queued on w, whose
 * cache may then promise its stack. */
int uvgo__task_create(uvgo_task_t **out, uvgo_task_fn fn, void *arg,
                      const uvgo_task_opts_t *opts, struct uvgo_worker *w,
                      int home, int joinable);

/* w took t from another worker's queue (a steal, the global queue): if t
 * has not run yet and that worker promised its stack, w promises one
 * instead when it has a spare, and gives the other promise back, so that
 * promises follow the tasks and t starts on a stack warm on w.  w's
 * thread. */
static inline void uvgo__task_adopt(struct uvgo_worker *w, uvgo_task_t *t)
{
    if (t->promiser && t->promiser != w &&
        uvgo__stack_adopt(&w->stacks, &t->promiser->stacks, t->stack.cls))
        t->promiser = w;
}

/* uvgo_go for the spawns nobody can be told about (a timer's or a
 * context's after-func firing): when the task cannot be had, the process
 * aborts, as Go's runtime does when it runs out of memory. */
void uvgo__go_or_die(uvgo_task_fn fn, void *arg, const char *what);

/* Frees a task that was created but never queued (a runtime that failed
 * to start).  Worker w's thread. */
void uvgo__task_discard(struct uvgo_worker *w, uvgo_task_t *t);

/* For the overflow report: the name and id of the task whose stack slot
 * ends at `top`.  Async-signal-safe. */
const char *uvgo__task_describe_top(char *top, uint64_t *id);

/* Copies t's id and name (NUL-terminated) without a lock, for a thread
 * that has no happens-before with t's spawn (the monitor).  Race-free,
 * but only consistent if t is not freed and reused meanwhile: the caller
 * checks that (a worker's switch count) afterwards.  Thread: any. */
void uvgo__task_peek(const uvgo_task_t *t, uint64_t *id,
                     char name[UVGO_TASK_NAME_MAX]);

/* Readies the stack reserved at spawn for a task about to run for the
 * first time on w (UVGO_RESUME_FRESH): takes a promised stack, writes the task
 * pointer at its top and the first frame.  Returns 1, or 0 when the task
 * was promised a stack by another worker and none can be had here: it
 * has been sent to that worker's inbox instead.  w's thread. */
int uvgo__task_first_run(struct uvgo_worker *w, uvgo_task_t *t);

/* The top 16 bytes of a stack hold a pointer to its task's record, for the
 * overflow handler; frames start below. */
#define UVGO_STACK_TOP_RESERVE 16

static inline uvgo_task_t *uvgo__task_from_top(char *top)
{
    return *(uvgo_task_t **)(top - UVGO_STACK_TOP_RESERVE);
}

/* Calls cb for every task record that may be in use (task.c). */
void uvgo__task_records_walk(void (*cb)(uvgo_task_t *t, void *arg), void *arg);
/* Frees every record chunk; only when no runtime runs. */
void uvgo__task_records_reset(void);

/* The result of the runtime's waits that take a Done channel (the *_done
 * forms: their callers above the runtime turn it into a context's error):
 * the channel closed before the wait was satisfied, and the wait left no
 * trace behind. */
#define UVGO__DONE 1

/* uvgo_event_wait / uvgo_task_join that also end when `done` (NULL: never)
 * closes: 0, UVGO__DONE, or the plain form's errors.  A join that ends
 * with UVGO__DONE leaves the handle valid. */
int uvgo__event_wait_done(uvgo_event_t *ev, const char *what,
                          uvgo_chan_t *done);
int uvgo__task_join_done(uvgo_task_t *task, void **result, uvgo_chan_t *done);

/* Stamps t for the scheduling-latency sample.  Out of line: one wake-up
 * in UVGO_METRICS_SAMPLE_EVERY comes here. */
void uvgo__latency_stamp(struct uvgo_worker *by, uvgo_task_t *t);

/* Marks t, about to be queued by a waker on worker `by` (not NULL), for
 * the scheduling-latency sample if its turn has come. */
static inline void uvgo__latency_mark_on(struct uvgo_worker *by, uvgo_task_t *t)
{
    if (UVGO_UNLIKELY(--by->stats.sample_countdown == 0))
        uvgo__latency_stamp(by, t);
}

/* The same for a waker on any thread: `by` NULL when it is no worker, and
 * then every wake-up is sampled. */
static inline void uvgo__latency_mark(struct uvgo_worker *by, uvgo_task_t *t)
{
    if (by)
        uvgo__latency_mark_on(by, t);
    else
        uvgo__latency_stamp(NULL, t);
}

/* The calling task's next park is durable for its bubble's clock
 * (runtime/synctest.h): only the bubble can end it.  Outside a bubble,
 * nothing.  Call right before the blocking call that parks. */
static inline void uvgo__park_durable(void)
{
    uvgo_task_t *t = uvgo__task_self();
    if (t && UVGO_UNLIKELY(t->bubble != NULL))
        t->park_durable = 1;
}

/* Live tasks (spawned minus exited and freed), summed over workers. */
long uvgo__task_live(struct uvgo_runtime *rt);

#endif /* UVGO_RUNTIME_H */
