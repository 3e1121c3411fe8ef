/* lockrank.h: the lock order, in one place, and the debug checks that hold
 * the code to it (the idea of Go's runtime/lockrank.go).
 *
 * Every lock uvgo's own code takes (spinlocks and the runtime's pthread
 * mutexes) is taken with a rank from the table below.  Ranks run from the
 * outermost lock to the innermost: a thread may take a lock only while
 * every lock it holds ranks lower.  A LEAF lock is innermost outright:
 * nothing at all is taken while it is held.  A MULTI rank lets one thread
 * hold several locks of that rank, taken in increasing address order (the
 * channels a select locks, select.c), so that two threads locking
 * overlapping sets cannot deadlock.
 *
 *   rank            the lock                       taken under it
 *   ----            --------                       --------------
 *   START           runtime.c start_lock           the stack and record
 *                                                  locks (runtime reset)
 *   TIMER           a timer's lock (time.c)        TIMERS, CHAN, and what
 *                                                  a spawn takes (an
 *                                                  after-func fires)
 *   BUBBLE          a synctest bubble's lock       nothing
 *                   (runtime/synctest.h)
 *   TIMERS          a worker's timer heap          nothing
 *   CHAN            a channel's lock; MULTI        other channels, upward
 *   SCHED           rt->lock: the global queue     nothing
 *   TASK_RECORDS    task.c's free records          nothing
 *   STACK_POOL      stack.c pools[cls].lock        STACK_REGISTRY
 *   STACK_REGISTRY  stack.c registry_lock          nothing
 *   STACK_WARM      stack.c warms[cls].lock        nothing
 *   TIMER_RECORDS   time.c's free timer records    nothing
 *   CTX             a context node's lock          nothing
 *   PARKQ           a sync primitive's queue       nothing
 *                   (uvgo__parkq_t, the semaphore)
 *   XSYNC           errgroup, singleflight and     nothing
 *                   rate limiter locks
 *   POOL            a sync.Pool's shared list      nothing
 *   NET             a listener's, uvgo_serve's     nothing
 *                   live connections
 *   HTTP            an HTTP server's connections   nothing
 *
 * Rules that go with the table.  No lock is held across a park, and
 * tasks are readied only after the waker's locks are released (STYLE.md).
 * So no task carries a lock from one thread to another, and the checks
 * below can keep their record per thread: uvgo__task_park and
 * uvgo__task_ready assert that it is empty.  Outside the table: the
 * task-level locks (uvgo_mutex_t and friends, which park), libcurl's
 * share locks, the TSan-only spawn lock and the monitor's mutex; nothing
 * of ours is taken under the last three.
 *
 * The checks.  In debug and sanitizer builds (UVGO_CHECKS: NDEBUG is not
 * defined, which meson defines only for release builds), each thread keeps
 * a record of the locks it holds.  Taking a lock checks it against every
 * held one and panics naming both when the order is broken; releasing one
 * not held, or taking one twice, panics too; uvgo__rank_held() answers the
 * "Caller holds l" preconditions.  Release builds compile all of it away.
 */
#ifndef UVGO_BASE_LOCKRANK_H
#define UVGO_BASE_LOCKRANK_H

#include <pthread.h>

/* Debug checks: asserts and lock ranks.  Off in release builds only. */
#ifdef NDEBUG
#define UVGO_CHECKS 0
#else
#define UVGO_CHECKS 1
#endif

#define UVGO_RANK_LEAF 1  /* nothing is taken while it is held */
#define UVGO_RANK_MULTI 2 /* several at once, in increasing address order */

/* X(name, flags): the table above, outermost first. */
#define UVGO_LOCK_RANKS(X)                                                     \
    X(START, 0)                                                                \
    X(TIMER, 0)                                                                \
    X(BUBBLE, UVGO_RANK_LEAF)                                                  \
    X(TIMERS, UVGO_RANK_LEAF)                                                  \
    X(CHAN, UVGO_RANK_LEAF | UVGO_RANK_MULTI)                                  \
    X(SCHED, UVGO_RANK_LEAF)                                                   \
    X(TASK_RECORDS, UVGO_RANK_LEAF)                                            \
    X(STACK_POOL, 0)                                                           \
    X(STACK_REGISTRY, UVGO_RANK_LEAF)                                          \
    X(STACK_WARM, UVGO_RANK_LEAF)                                              \
    X(TIMER_RECORDS, UVGO_RANK_LEAF)                                           \
    X(CTX, UVGO_RANK_LEAF)                                                     \
    X(PARKQ, UVGO_RANK_LEAF)                                                   \
    X(XSYNC, UVGO_RANK_LEAF)                                                   \
    X(POOL, UVGO_RANK_LEAF)                                                    \
    X(NET, UVGO_RANK_LEAF)                                                     \
    X(HTTP, UVGO_RANK_LEAF)

enum uvgo_lock_rank {
    UVGO_RANK_NONE = 0,
#define UVGO_RANK_ENUM_(name, flags) UVGO_RANK_##name,
    UVGO_LOCK_RANKS(UVGO_RANK_ENUM_)
#undef UVGO_RANK_ENUM_
        UVGO_RANK_COUNT
};

#if UVGO_CHECKS
/* The calling thread is about to take `lock` of `rank` / has released
 * it.  Panic on an order violation (lockrank.c). */
void uvgo__rank_acquire(const void *lock, int rank);
void uvgo__rank_release(const void *lock);
/* Whether the calling thread holds `lock` (1 also when it holds so many
 * locks of a MULTI rank that it no longer tells them apart). */
int uvgo__rank_held(const void *lock);
/* How many locks the calling thread holds. */
int uvgo__rank_count(void);
#else
static inline void uvgo__rank_acquire(const void *lock, int rank)
{
    (void)lock;
    (void)rank;
}
static inline void uvgo__rank_release(const void *lock)
{
    (void)lock;
}
#endif

/* The runtime's pthread mutexes, ranked like the spinlocks. */
static inline void uvgo__mutex_lock(pthread_mutex_t *m, int rank)
{
    uvgo__rank_acquire(m, rank);
    pthread_mutex_lock(m);
}

static inline void uvgo__mutex_unlock(pthread_mutex_t *m)
{
    uvgo__rank_release(m);
    pthread_mutex_unlock(m);
}

/* "Caller holds m", for asserts (debug builds). */
#define uvgo__mutex_held(m) uvgo__rank_held(m)

#endif /* UVGO_BASE_LOCKRANK_H */
