/* uvgo/sync.h: Go's sync package for tasks: Mutex, RWMutex, WaitGroup,
 * Once, Cond and Pool.
 *
 * The model.  These primitives park the waiting task, never its worker
 * thread: while a task waits for a lock, its worker runs other tasks.  (A
 * pthread mutex held across a blocking call would stall every task of the
 * loop that waits for it.)  They work across workers: a lock taken by a
 * task on one worker may be released by a task on another.
 *
 * Zero values.  Each primitive is a struct you embed or declare; all-zero
 * bytes are a valid, unlocked, empty one (Go's useful zero value), so
 * `static uvgo_mutex_t m;` or `uvgo_mutex_t m = UVGO_MUTEX_INIT;` is ready
 * to use and needs no destroy call (only a Pool holds memory).  Do not copy
 * or move one while it is in use: waiters point into it.
 *
 * Blocking calls.  Each blocking call has a *_ctx form taking a context as
 * its last argument: when the context is done first, the call returns its
 * error (UVGO_ECANCELED or UVGO_ETIMEDOUT) having changed nothing, and if
 * the context is already done on entry it returns that error at once.  A
 * NULL context is the plain form.  Blocking calls need a task: elsewhere
 * they return UVGO_ENOTTASK.  Try forms never block and work anywhere.
 *
 * Misuse.  As in Go, misuse that would corrupt the primitive aborts the
 * process with a message naming the task: unlocking an unlocked mutex,
 * a negative WaitGroup counter.  A task blocked forever on a primitive
 * shows what it waits on in uvgo_dump() ("sync.Mutex.Lock"), and if every
 * task is blocked uvgo reports the deadlock.
 *
 * Fields touched concurrently are plain integers and pointers used through
 * __atomic builtins, so this header also serves C++.
 *
 * Memory model (Go's): an unlock happens before the lock that follows it; a
 * Done happens before the Wait it releases returns; the return of a Once's
 * function happens before any uvgo_once_do returns; a Signal or Broadcast
 * happens before the Wait it wakes returns (Wait re-locks the mutex).
 */
#ifndef UVGO_SYNC_H
#define UVGO_SYNC_H

#include <stdint.h>

#include "context.h"
#include "errno.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Internals every primitive embeds                                         */
/* ------------------------------------------------------------------------ */

/* Private to uvgo (src/base/list.h): the head of an intrusive list, here
 * of tasks parked on a primitive.  All-zero: empty. */
struct uvgo__list_node;
typedef struct uvgo__list {
    struct uvgo__list_node *first_, *last_;
} uvgo__list_t;

/* Private to uvgo (src/sync/wait.h): a FIFO of parked tasks and the lock
 * and state word that go with it.  All-zero: unlocked, empty. */
typedef struct uvgo__parkq {
    int lock_;          /* a spinlock over the list (and more) */
    uint32_t word_;     /* the owning primitive's state, if any */
    uvgo__list_t list_; /* parked tasks, oldest first */
} uvgo__parkq_t;

/* A uvgo__parkq_t's initializer, for the UVGO_*_INIT macros. */
#define UVGO__PARKQ_INIT                                                       \
    {                                                                          \
        0, 0,                                                                  \
        {                                                                      \
            0, 0                                                               \
        }                                                                      \
    }

/* ------------------------------------------------------------------------ */
/* Mutex                                                                    */
/* ------------------------------------------------------------------------ */

/* Go's sync.Mutex: a mutual exclusion lock, not reentrant (a second lock by
 * the holder blocks forever) and not owned (any task, or any thread, may
 * unlock it).  Fair under contention as Go's is: normally a task that
 * arrives while waiters sleep may take the lock first (barging is what
 * makes a contended lock fast), but once a waiter has waited more than
 * 1 ms the mutex turns to hand-off mode and passes the lock to its waiters
 * in arrival order until the queue drains or a waiter got it quickly. */
typedef struct uvgo_mutex {
    uvgo__parkq_t q_;         /* private: word_ is the state */
    struct uvgo_task *owner_; /* private: the holder, a spin hint */
} uvgo_mutex_t;

#define UVGO_MUTEX_INIT                                                        \
    {                                                                          \
        UVGO__PARKQ_INIT, 0                                                    \
    }

/* Locks m, parking until it is free.  Returns 0, UVGO_EINVAL (NULL) or
 * UVGO_ENOTTASK outside a task.  Owner: the caller holds the lock until
 * someone unlocks it.  Thread: any task. */
UVGO_EXTERN int uvgo_mutex_lock(uvgo_mutex_t *m);

/* uvgo_mutex_lock bounded by ctx: returns the context's error, not holding
 * the lock, if ctx is done first (or already on entry).  NULL ctx: the
 * plain form.  Owner: as uvgo_mutex_lock; ctx stays the caller's.
 * Thread: any task. */
UVGO_EXTERN int uvgo_mutex_lock_ctx(uvgo_mutex_t *m, uvgo_ctx_t *ctx);

/* Locks m if it is free now (and not being handed to a waiter): 0, or
 * UVGO_EAGAIN.  UVGO_EINVAL for NULL.  Owner: as uvgo_mutex_lock.
 * Thread: any. */
UVGO_EXTERN int uvgo_mutex_try_lock(uvgo_mutex_t *m);

/* Unlocks m, waking a waiter if one sleeps.  Unlocking a mutex that is not
 * locked aborts ("sync: unlock of unlocked mutex").  Returns 0, or
 * UVGO_EINVAL for NULL.  Owner: gives up the lock, whoever took it.
 * Thread: any. */
UVGO_EXTERN int uvgo_mutex_unlock(uvgo_mutex_t *m);

/* ------------------------------------------------------------------------ */
/* RWMutex                                                                  */
/* ------------------------------------------------------------------------ */

/* Go's sync.RWMutex: any number of readers or one writer.  Writer-
 * preferring: once a writer waits, new readers wait too (so a reader must
 * not read-lock again while it holds a read lock: a writer arriving in
 * between deadlocks both).  A writer's unlock admits every reader waiting
 * at that moment before the next writer.  No upgrade or downgrade. */
typedef struct uvgo_rwmutex {
    uvgo__parkq_t q_;      /* private: word_ is the state; readers */
    uvgo__list_t writers_; /* private: waiting writers */
} uvgo_rwmutex_t;

#define UVGO_RWMUTEX_INIT                                                      \
    {                                                                          \
        UVGO__PARKQ_INIT,                                                      \
        {                                                                      \
            0, 0                                                               \
        }                                                                      \
    }

/* Read-locks / write-locks rw, parking while it cannot be had.  Return 0,
 * UVGO_EINVAL or UVGO_ENOTTASK; the _ctx forms return the context's error
 * (nothing held) when ctx is done first.  Owner: the caller holds a read
 * (write) lock.  Thread: any task. */
UVGO_EXTERN int uvgo_rwmutex_rlock(uvgo_rwmutex_t *rw);
UVGO_EXTERN int uvgo_rwmutex_rlock_ctx(uvgo_rwmutex_t *rw, uvgo_ctx_t *ctx);
UVGO_EXTERN int uvgo_rwmutex_lock(uvgo_rwmutex_t *rw);
UVGO_EXTERN int uvgo_rwmutex_lock_ctx(uvgo_rwmutex_t *rw, uvgo_ctx_t *ctx);

/* Take the lock only if that needs no wait: 0, or UVGO_EAGAIN (a reader
 * also fails while a writer waits).  UVGO_EINVAL for NULL.  Owner: as the
 * blocking forms.  Thread: any. */
UVGO_EXTERN int uvgo_rwmutex_try_rlock(uvgo_rwmutex_t *rw);
UVGO_EXTERN int uvgo_rwmutex_try_lock(uvgo_rwmutex_t *rw);

/* Give up a read lock / the write lock.  Releasing one not held aborts
 * ("sync: RUnlock of unlocked RWMutex", "sync: Unlock of unlocked
 * RWMutex").  Return 0 or UVGO_EINVAL.  Owner: any task or thread may
 * unlock.  Thread: any. */
UVGO_EXTERN int uvgo_rwmutex_runlock(uvgo_rwmutex_t *rw);
UVGO_EXTERN int uvgo_rwmutex_unlock(uvgo_rwmutex_t *rw);

/* ------------------------------------------------------------------------ */
/* WaitGroup                                                                */
/* ------------------------------------------------------------------------ */

/* Go's sync.WaitGroup: waits for a collection of tasks to finish.  Add
 * before starting what you wait for (a positive add on a zero counter must
 * happen before the wait); each finisher calls done; wait returns once the
 * counter is zero.  To reuse it, new adds must come after every previous
 * wait has returned. */
typedef struct uvgo_wg {
    uint64_t state_;  /* private: counter << 32 | waiters */
    uvgo__parkq_t q_; /* private */
} uvgo_wg_t;

#define UVGO_WG_INIT                                                           \
    {                                                                          \
        0, UVGO__PARKQ_INIT                                                    \
    }

/* Adds delta (may be negative) to the counter; at zero every waiter wakes.
 * A negative counter aborts ("sync: negative WaitGroup counter"), and so
 * does an add that races with a wait on a zero counter ("sync: WaitGroup
 * misuse: Add called concurrently with Wait").  Returns 0 or UVGO_EINVAL.
 * Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_wg_add(uvgo_wg_t *wg, int delta);

/* uvgo_wg_add(wg, -1).  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_wg_done(uvgo_wg_t *wg);

/* Parks until the counter is zero (at once if it is).  Returns 0,
 * UVGO_EINVAL or UVGO_ENOTTASK; the _ctx form returns the context's error
 * if ctx is done first.  A wait that returns while a new add has already
 * reused the group aborts ("sync: WaitGroup is reused before previous Wait
 * has returned").  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_wg_wait(uvgo_wg_t *wg);
UVGO_EXTERN int uvgo_wg_wait_ctx(uvgo_wg_t *wg, uvgo_ctx_t *ctx);

/* Go's WaitGroup.Go: adds 1, spawns fn(arg) as a detached task that calls
 * done when fn returns.  Returns 0, UVGO_EINVAL (NULL), UVGO_ENOMEM or
 * UVGO_ENOTTASK (no runtime); on failure the counter is unchanged.
 * Owner: arg stays the caller's.  Thread: any while a runtime runs. */
UVGO_EXTERN int uvgo_wg_go(uvgo_wg_t *wg, uvgo_task_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Once                                                                     */
/* ------------------------------------------------------------------------ */

/* Go's sync.Once and OnceValue: runs a function exactly once and keeps its
 * result for every caller. */
typedef struct uvgo_once {
    uvgo__parkq_t q_; /* private: word_ is 0 new, 1 running, 2 done */
    void *result_;    /* private: fn's return value once done */
} uvgo_once_t;

#define UVGO_ONCE_INIT                                                         \
    {                                                                          \
        UVGO__PARKQ_INIT, 0                                                    \
    }

/* The first call runs fn(arg) in the caller's task; calls made while it
 * runs park until it has returned; every call, then and later, stores fn's
 * return value in *result (if not NULL) and returns 0.  Later calls never
 * run their fn.  As in Go, calling uvgo_once_do on the same once from
 * inside fn deadlocks.  Returns 0, UVGO_EINVAL (NULL once or fn) or
 * UVGO_ENOTTASK; the _ctx form returns the context's error if ctx is done
 * before fn has returned (fn, if it runs in the caller, is not
 * interrupted).  Owner: the result is whatever fn returned.
 * Thread: any task. */
UVGO_EXTERN int uvgo_once_do(uvgo_once_t *once, uvgo_task_fn fn, void *arg,
                             void **result);
UVGO_EXTERN int uvgo_once_do_ctx(uvgo_once_t *once, uvgo_task_fn fn, void *arg,
                                 void **result, uvgo_ctx_t *ctx);

/* ------------------------------------------------------------------------ */
/* Cond                                                                     */
/* ------------------------------------------------------------------------ */

/* Go's sync.Cond: tasks wait for a condition on state guarded by a uvgo
 * mutex.  The mutex is passed to each wait (Go's Cond.L), so a zeroed cond
 * needs no setup.  Waiters wake in the order they started waiting. */
typedef struct uvgo_cond {
    uvgo__parkq_t q_; /* private */
} uvgo_cond_t;

#define UVGO_COND_INIT                                                         \
    {                                                                          \
        UVGO__PARKQ_INIT                                                       \
    }

/* Atomically unlocks m (which the caller holds) and parks; re-locks m
 * before returning, in every case.  Wake-ups may be spurious as far as the
 * condition goes: re-check it in a loop.  Returns 0, UVGO_EINVAL or
 * UVGO_ENOTTASK (m untouched); the _ctx form returns the context's error
 * (with m locked again) if ctx is done before a signal reaches it.
 * Owner: m is held on return.  Thread: any task. */
UVGO_EXTERN int uvgo_cond_wait(uvgo_cond_t *c, uvgo_mutex_t *m);
UVGO_EXTERN int uvgo_cond_wait_ctx(uvgo_cond_t *c, uvgo_mutex_t *m,
                                   uvgo_ctx_t *ctx);

/* Wakes the longest-waiting task / every waiting task.  Holding the mutex
 * meanwhile is allowed, not required.  Return 0 or UVGO_EINVAL.
 * Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_cond_signal(uvgo_cond_t *c);
UVGO_EXTERN int uvgo_cond_broadcast(uvgo_cond_t *c);

/* ------------------------------------------------------------------------ */
/* Pool                                                                     */
/* ------------------------------------------------------------------------ */

/* Go's sync.Pool: a cache of reusable objects, to spare the allocator.
 * Each worker keeps its own small cache, used without a lock or an atomic
 * (tasks are not preempted, so nothing else runs on that worker during a
 * get or put); the caches spill to and refill from one shared list.  Get
 * returns any pooled object, or a new one from new_fn.  Objects may be
 * dropped at any time: when the worker's cache and the shared list are
 * full, put frees the object with free_fn.  Nothing relates a put to a
 * later get.
 *
 *     static void *new_buf(void *arg) { return malloc(4096); }
 *     static uvgo_pool_t bufs = UVGO_POOL_INIT(new_buf, NULL, NULL);
 *     char *b = uvgo_pool_get(&bufs); ... uvgo_pool_put(&bufs, b);
 */
typedef struct uvgo_pool {
    void *(*new_fn)(void *arg);            /* Go's New; NULL: get may fail */
    void (*free_fn)(void *obj, void *arg); /* frees a dropped object;
                                              NULL: free() */
    void *arg;                             /* for new_fn and free_fn */
    void *caches_;                         /* private: per-worker caches */
    int lock_;                             /* private: guards the rest */
    int nshared_;                          /* private */
    void **shared_;                        /* private: spilled objects */
} uvgo_pool_t;

#define UVGO_POOL_INIT(new_fn, free_fn, arg)                                   \
    {                                                                          \
        (new_fn), (free_fn), (arg), 0, 0, 0, 0                                 \
    }

/* An object from the pool, else new_fn(arg), else NULL (no new_fn, or it
 * returned NULL).  Owner: the caller's; give it back with uvgo_pool_put()
 * or free it.  Thread: any (from a task or loop callback it takes no
 * lock). */
UVGO_EXTERN void *uvgo_pool_get(uvgo_pool_t *p);

/* Puts obj back for reuse (NULL is ignored), or frees it with free_fn if
 * the pool is full.  Owner: the pool's.  Thread: any. */
UVGO_EXTERN void uvgo_pool_put(uvgo_pool_t *p, void *obj);

/* Frees every object the pool holds (with free_fn) and its caches; the pool
 * stays usable.  Not concurrently with get or put.  Owner: none.
 * Thread: any. */
UVGO_EXTERN void uvgo_pool_drain(uvgo_pool_t *p);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_SYNC_H */
