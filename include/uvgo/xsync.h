/* uvgo/xsync.h: golang.org/x/sync (semaphore, errgroup, singleflight) and
 * golang.org/x/time/rate for tasks.
 *
 * As in uvgo/sync.h: the structs are zero-valued (all-zero bytes are a
 * valid object, and each has an UVGO_*_INIT macro), waits park the task,
 * each blocking call has a *_ctx form taking the context last (NULL: the
 * plain form) that returns the context's error having changed nothing, and
 * blocking calls outside a task return UVGO_ENOTTASK.  Misuse that would
 * corrupt state aborts naming the task ("semaphore: released more than
 * held").  Do not copy one while it is in use.
 *
 *   uvgo_sem_t         weighted semaphore, strictly FIFO
 *   uvgo_errgroup_t    tasks whose first error cancels the rest
 *   uvgo_sflight_t     one execution per key in flight; duplicates share it
 *   uvgo_limiter_t     token-bucket rate limiter
 */
#ifndef UVGO_XSYNC_H
#define UVGO_XSYNC_H

#include <math.h>
#include <stdint.h>

#include "chan.h"
#include "context.h"
#include "errno.h"
#include "sync.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Semaphore (x/sync/semaphore.Weighted)                                    */
/* ------------------------------------------------------------------------ */

/* A counting semaphore of `size` units that tasks acquire in any weight.
 * Strictly FIFO, with no barging: while anyone waits, a new request queues
 * even if enough units are free, so a heavy request is never starved by a
 * stream of light ones.  The zero value has size 0 (set it with
 * uvgo_sem_init or UVGO_SEM_INIT(n)). */
typedef struct uvgo_sem {
    int64_t size_;    /* private: the capacity */
    int64_t cur_;     /* private: units held */
    uvgo__parkq_t q_; /* private */
} uvgo_sem_t;

#define UVGO_SEM_INIT(n)                                                       \
    {                                                                          \
        (n), 0, UVGO__PARKQ_INIT                                               \
    }

/* Makes *s a semaphore of n units, none held.  Returns 0 or UVGO_EINVAL
 * (NULL, n < 0).  Owner: the caller's struct.  Thread: any, before use. */
UVGO_EXTERN int uvgo_sem_init(uvgo_sem_t *s, int64_t n);

/* Acquires n units, parking until they can be had in FIFO order.  n
 * larger than the size can never be had: the plain form then blocks
 * forever, the _ctx form until ctx is done.  Returns 0, UVGO_EINVAL (NULL,
 * n < 0) or UVGO_ENOTTASK; the _ctx form returns the context's error when
 * ctx is done first, or already done on entry (even if the units are
 * free), and the semaphore is unchanged.  Owner: the caller holds n units
 * until it releases them.  Thread: any task. */
UVGO_EXTERN int uvgo_sem_acquire(uvgo_sem_t *s, int64_t n);
UVGO_EXTERN int uvgo_sem_acquire_ctx(uvgo_sem_t *s, int64_t n, uvgo_ctx_t *ctx);

/* Acquires n units only if that needs no wait (and nobody is queued):
 * 0, or UVGO_EAGAIN; UVGO_EINVAL for NULL or n < 0.  Owner: as
 * uvgo_sem_acquire.  Thread: any. */
UVGO_EXTERN int uvgo_sem_try_acquire(uvgo_sem_t *s, int64_t n);

/* Releases n units and wakes the queued requests they satisfy, in order.
 * Releasing more than is held aborts ("semaphore: released more than
 * held").  Returns 0 or UVGO_EINVAL (NULL, n < 0).  Owner: any task or
 * thread may release units, whoever acquired them.  Thread: any. */
UVGO_EXTERN int uvgo_sem_release(uvgo_sem_t *s, int64_t n);

/* ------------------------------------------------------------------------ */
/* errgroup (x/sync/errgroup.Group)                                         */
/* ------------------------------------------------------------------------ */

/* A task's body in a group: returns 0 or a negative error. */
typedef int (*uvgo_errgroup_fn)(void *arg);

/* A group of tasks working on parts of one job.  The zero group has no
 * limit and no context; uvgo_errgroup_with_ctx() adds a context that the
 * first error cancels (and uvgo_errgroup_wait cancels in any case). */
typedef struct uvgo_errgroup {
    uvgo_wg_t wg_;    /* private: tasks running */
    uvgo_sem_t sem_;  /* private: the limit, when limited_ */
    int limited_;     /* private */
    int lock_;        /* private: guards err_ and ctx_ */
    int err_;         /* private: the first error */
    uvgo_ctx_t *ctx_; /* private: cancelled by the first error */
} uvgo_errgroup_t;

#define UVGO_ERRGROUP_INIT                                                     \
    {                                                                          \
        UVGO_WG_INIT, UVGO_SEM_INIT(0), 0, 0, 0, 0                             \
    }

/* Go's errgroup.WithContext: sets up the zeroed group g with a context
 * derived from parent, cancelled (with the error as its cause) when a task
 * of the group first returns an error, or when uvgo_errgroup_wait returns,
 * whichever comes first.  *ctx receives it.  Returns 0, UVGO_EINVAL or
 * UVGO_ENOMEM.  Owner: the caller holds one reference to *ctx (release it
 * with uvgo_ctx_release); the group holds its own until its wait returns.
 * Thread: any. */
UVGO_EXTERN int uvgo_errgroup_with_ctx(uvgo_errgroup_t *g, uvgo_ctx_t *parent,
                                       uvgo_ctx_t **ctx);

/* Go's Group.SetLimit: at most n tasks of the group run at once; n < 0
 * removes the limit, and n == 0 lets no task start (go blocks).  Returns 0,
 * UVGO_EINVAL, or UVGO_EBUSY (changing nothing) while tasks started under
 * a limit are still running (Go panics there).  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_errgroup_set_limit(uvgo_errgroup_t *g, int n);

/* Go's Group.Go: runs fn(arg) in a new task of the group, first parking
 * while the group is at its limit.  The first error any fn returns is kept
 * for uvgo_errgroup_wait and cancels the group's context.  Returns 0,
 * UVGO_EINVAL, UVGO_ENOMEM or UVGO_ENOTTASK (fn did not run and will not);
 * the _ctx form returns the context's error if ctx is done before a slot
 * frees.  Owner: arg stays the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_errgroup_go(uvgo_errgroup_t *g, uvgo_errgroup_fn fn,
                                 void *arg);
UVGO_EXTERN int uvgo_errgroup_go_ctx(uvgo_errgroup_t *g, uvgo_errgroup_fn fn,
                                     void *arg, uvgo_ctx_t *ctx);

/* Go's Group.TryGo: starts fn(arg) only if the group is below its limit.
 * Returns 0 (started), UVGO_EAGAIN (at the limit), UVGO_EINVAL,
 * UVGO_ENOMEM or UVGO_ENOTTASK (no runtime).  Owner: arg stays the
 * caller's.  Thread: any. */
UVGO_EXTERN int uvgo_errgroup_try_go(uvgo_errgroup_t *g, uvgo_errgroup_fn fn,
                                     void *arg);

/* Go's Group.Wait: parks until every task of the group has returned, then
 * cancels the group's context and returns the first error (0 if none).
 * Returns UVGO_EINVAL or UVGO_ENOTTASK too; the _ctx form returns ctx's
 * error if ctx is done first (the group's tasks keep running and its
 * context is not cancelled).  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_errgroup_wait(uvgo_errgroup_t *g);
UVGO_EXTERN int uvgo_errgroup_wait_ctx(uvgo_errgroup_t *g, uvgo_ctx_t *ctx);

/* ------------------------------------------------------------------------ */
/* singleflight (x/sync/singleflight.Group)                                 */
/* ------------------------------------------------------------------------ */

/* The work behind a key: stores its value in *val and returns 0 or a
 * negative error. */
typedef int (*uvgo_sflight_fn)(void *arg, void **val);

/* Suppresses duplicate work: while fn runs for a key, later calls for the
 * same key wait for that run and get its result instead of running their
 * own.  Keys are NUL-terminated strings (copied).  The zero group is
 * ready; it holds memory only while calls are in flight. */
typedef struct uvgo_sflight {
    int lock_;          /* private: guards the table and calls */
    unsigned count_;    /* private: calls in the table */
    unsigned nbuckets_; /* private */
    void **buckets_;    /* private: calls by key hash */
} uvgo_sflight_t;

#define UVGO_SFLIGHT_INIT                                                      \
    {                                                                          \
        0, 0, 0, 0                                                             \
    }

/* What uvgo_sflight_do_chan() delivers. */
typedef struct uvgo_sflight_result {
    void *val;  /* fn's value */
    int err;    /* fn's return */
    int shared; /* 1 if the result went to more than one caller */
} uvgo_sflight_result_t;

/* Go's Do: runs fn(arg, &v) for key unless a call for key is in flight, in
 * which case it waits for that one.  Either way *val (if not NULL)
 * receives the run's value and *shared (if not NULL) whether the result
 * went to more than one caller, and the run's return is returned.  Returns
 * UVGO_EINVAL, UVGO_ENOMEM or UVGO_ENOTTASK too; the _ctx form returns the
 * context's error if ctx is done before the run it waits for ends (a run
 * of its own is never interrupted).  Owner: the value is shared by every
 * caller that got it.  Thread: any task. */
UVGO_EXTERN int uvgo_sflight_do(uvgo_sflight_t *g, const char *key,
                                uvgo_sflight_fn fn, void *arg, void **val,
                                int *shared);
UVGO_EXTERN int uvgo_sflight_do_ctx(uvgo_sflight_t *g, const char *key,
                                    uvgo_sflight_fn fn, void *arg, void **val,
                                    int *shared, uvgo_ctx_t *ctx);

/* Go's DoChan: as uvgo_sflight_do, but does not wait: *ch receives a
 * channel of capacity 1 that gets one uvgo_sflight_result_t and is never
 * closed.  A new run of fn happens in a task of its own.  Returns 0,
 * UVGO_EINVAL, UVGO_ENOMEM or UVGO_ENOTTASK (no runtime).  Owner: the
 * caller holds a reference to *ch (uvgo_chan_release).  Thread: any. */
UVGO_EXTERN int uvgo_sflight_do_chan(uvgo_sflight_t *g, const char *key,
                                     uvgo_sflight_fn fn, void *arg,
                                     uvgo_chan_t **ch);

/* Go's Forget: later calls for key start a new run instead of waiting for
 * the one in flight, whose callers still get its result.  Returns 0 or
 * UVGO_EINVAL.  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_sflight_forget(uvgo_sflight_t *g, const char *key);

/* ------------------------------------------------------------------------ */
/* Rate limiter (x/time/rate.Limiter)                                       */
/* ------------------------------------------------------------------------ */

/* A rate in events per second.  UVGO_RATE_INF allows every event (burst is
 * then ignored). */
#define UVGO_RATE_INF HUGE_VAL

/* The delay of a reservation that cannot be honoured (Go's InfDuration). */
#define UVGO_DURATION_INF INT64_MAX

/* A token bucket of `burst` tokens, initially full, refilled at `limit`
 * tokens per second; each event takes tokens.  The zero limiter (limit 0,
 * burst 0) allows nothing.  With limit 0 nothing is refilled: the b tokens
 * the bucket starts with can be taken, then nothing until a set_limit
 * call makes tokens accrue again (x/time/rate since v0.6.0).  Times are
 * uvgo_now() values; the *_at calls accept any time, and one earlier than
 * the limiter's last update moves that update back, as Go's do. */
typedef struct uvgo_limiter {
    int lock_;           /* private */
    int burst_;          /* private */
    double limit_;       /* private */
    double tokens_;      /* private: may go negative with reservations */
    int64_t last_;       /* private: when tokens_ was last updated */
    int64_t last_event_; /* private: the latest reserved event, maybe
                            in the future */
} uvgo_limiter_t;

#define UVGO_LIMITER_INIT                                                      \
    {                                                                          \
        0, 0, 0, 0, 0, 0                                                       \
    }

/* A reservation of tokens (Go's Reservation), filled in by
 * uvgo_limiter_reserve*. */
typedef struct uvgo_reservation {
    uvgo_limiter_t *lim_; /* private */
    int ok_;              /* private */
    int tokens_;          /* private */
    int64_t time_to_act_; /* private */
    double limit_;        /* private: the limit when reserved */
} uvgo_reservation_t;

/* Go's NewLimiter: a full bucket of `burst` tokens refilled at `limit`
 * per second.  Returns 0 or UVGO_EINVAL (NULL, limit < 0 or NaN, burst <
 * 0).  Owner: the caller's struct.  Thread: any, before use. */
UVGO_EXTERN int uvgo_limiter_init(uvgo_limiter_t *l, double limit, int burst);

/* Go's rate.Every: the limit of one event per `interval`.  Returns 0 or
 * UVGO_EINVAL (NULL, interval <= 0: uvgo rejects a period <= 0 where Go
 * would return Inf).  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_rate_every(uvgo_duration_t interval, double *limit);

/* The current limit and burst.  Owner: none.  Thread: any. */
UVGO_EXTERN double uvgo_limiter_limit(uvgo_limiter_t *l);
UVGO_EXTERN int uvgo_limiter_burst(uvgo_limiter_t *l);

/* Go's Allow / AllowN(t, n): 1 if n tokens are available at time t (and
 * takes them), else 0 and takes nothing.  uvgo_limiter_allow is n = 1 at
 * uvgo_now().  n < 0 or NULL: 0.  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_limiter_allow(uvgo_limiter_t *l);
UVGO_EXTERN int uvgo_limiter_allow_n(uvgo_limiter_t *l, int64_t t, int n);

/* Go's Reserve / ReserveN(t, n): always takes n tokens (the bucket may go
 * into debt) and fills *r with how long to wait before acting, unless n
 * exceeds the burst (and the limit is not infinite): then nothing is taken
 * and r is not OK.  Returns 0, or UVGO_EINVAL (NULL, n < 0).
 * Owner: the caller's reservation.  Thread: any. */
UVGO_EXTERN int uvgo_limiter_reserve(uvgo_limiter_t *l, uvgo_reservation_t *r);
UVGO_EXTERN int uvgo_limiter_reserve_n(uvgo_limiter_t *l, int64_t t, int n,
                                       uvgo_reservation_t *r);

/* 1 if the reservation can be honoured, else 0.  Owner: none.
 * Thread: any. */
UVGO_EXTERN int uvgo_reservation_ok(const uvgo_reservation_t *r);

/* How long to wait from now (from t) before acting: 0 means at once,
 * UVGO_DURATION_INF for a reservation that is not OK.  Owner: none.
 * Thread: any. */
UVGO_EXTERN uvgo_duration_t uvgo_reservation_delay(const uvgo_reservation_t *r);
UVGO_EXTERN uvgo_duration_t
uvgo_reservation_delay_from(const uvgo_reservation_t *r, int64_t t);

/* Go's Cancel / CancelAt(t): the holder will not act; gives its tokens
 * back, less those that later reservations have already counted on, and
 * nothing if its time to act has passed.  Cancelling twice gives back
 * nothing more.  Owner: the caller's reservation; the limiter must still
 * exist.  Thread: any. */
UVGO_EXTERN void uvgo_reservation_cancel(uvgo_reservation_t *r);
UVGO_EXTERN void uvgo_reservation_cancel_at(uvgo_reservation_t *r, int64_t t);

/* Go's Wait / WaitN(ctx, n): parks until n tokens are available and takes
 * them.  Fails at once, reserving nothing, with UVGO_EINVAL if n exceeds
 * the burst (and the limit is not infinite), with ctx's error if ctx is
 * already done, or with UVGO_ETIMEDOUT if the wait would pass ctx's
 * deadline.  If ctx is done during the wait the reservation is cancelled
 * and ctx's error returned.  UVGO_ENOTTASK outside a task.  Owner: none.
 * Thread: any task. */
UVGO_EXTERN int uvgo_limiter_wait(uvgo_limiter_t *l, int n);
UVGO_EXTERN int uvgo_limiter_wait_ctx(uvgo_limiter_t *l, int n,
                                      uvgo_ctx_t *ctx);

/* Go's SetLimit(At) and SetBurst(At): change the limit or burst from now
 * (from t) on; tokens accrued until then at the old rate are kept.  Return
 * 0 or UVGO_EINVAL (NULL, limit < 0 or NaN, burst < 0).  Owner: none.
 * Thread: any. */
UVGO_EXTERN int uvgo_limiter_set_limit(uvgo_limiter_t *l, double limit);
UVGO_EXTERN int uvgo_limiter_set_limit_at(uvgo_limiter_t *l, int64_t t,
                                          double limit);
UVGO_EXTERN int uvgo_limiter_set_burst(uvgo_limiter_t *l, int burst);
UVGO_EXTERN int uvgo_limiter_set_burst_at(uvgo_limiter_t *l, int64_t t,
                                          int burst);

/* Go's Tokens / TokensAt(t): the tokens available now (at t); negative
 * while reservations are in debt.  Owner: none.  Thread: any. */
UVGO_EXTERN double uvgo_limiter_tokens(uvgo_limiter_t *l);
UVGO_EXTERN double uvgo_limiter_tokens_at(uvgo_limiter_t *l, int64_t t);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_XSYNC_H */
