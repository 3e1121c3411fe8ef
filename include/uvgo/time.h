/* uvgo/time.h: durations, the clock, sleeping, timers and tickers.
 *
 * Durations are signed 64-bit nanosecond counts, as Go's time.Duration, so
 * `uvgo_sleep(250 * UVGO_MILLISECOND)` reads as it does in Go.  Points in
 * time are uvgo_now() values: nanoseconds on a monotonic clock.
 *
 * Timers and tickers deliver into ordinary channels, so a timeout is a
 * select case like any other.  Their channels follow Go 1.23: they behave as
 * unbuffered (uvgo_chan_len and uvgo_chan_cap report 0), and once Stop or
 * Reset has returned no value from before the call can be received.  Each
 * delivered value is an int64_t: uvgo_now() at delivery.
 *
 * Resolution.  Each worker keeps its timers in a heap and wakes its loop for
 * the earliest through a timerfd armed to the nanosecond (Linux; elsewhere a
 * libuv timer, which counts whole milliseconds).  uvgo promises: never
 * early; on an idle worker late by the kernel's wake-up latency (tens of
 * microseconds on Linux, up to 1 ms elsewhere) plus whatever the worker is
 * busy running.  A duration <= 0 fires at once; a sleep of 0 only yields.
 *
 * Liveness.  As in Go 1.23, a timer or ticker channel that no task waits on
 * cannot wake anyone, so it does not keep the program alive: if every task
 * is blocked and the only pending timers are such channels, uvgo reports
 * the deadlock at once.  Sleeps, after-funcs and context deadlines keep it
 * alive until they fire.  Durations saturate: a duration of INT64_MAX
 * means "never", not a time in the past.
 *
 * Threads.  Timers, tickers and after-funcs may be created, stopped, reset
 * and freed from any task on any worker, and from loop callbacks on worker
 * threads; a timer lives in the heap of the worker that last armed it, and
 * stopping it from another worker is race-free.  Heap operations are
 * O(log n).
 */
#ifndef UVGO_TIME_H
#define UVGO_TIME_H

#include <stdint.h>

#include "chan.h"
#include "errno.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t uvgo_duration_t;

#define UVGO_NANOSECOND ((uvgo_duration_t)1)
#define UVGO_MICROSECOND ((uvgo_duration_t)1000)
#define UVGO_MILLISECOND ((uvgo_duration_t)1000000)
#define UVGO_SECOND ((uvgo_duration_t)1000000000)
#define UVGO_MINUTE (60 * UVGO_SECOND)
#define UVGO_HOUR (60 * UVGO_MINUTE)

struct uvgo_ctx;

/* The monotonic clock in nanoseconds (an arbitrary origin; libuv's
 * uv_hrtime()).  Deadlines are points on this clock.  Owner: none.
 * Thread: any. */
UVGO_EXTERN int64_t uvgo_now(void);

/* Parks the calling task for at least d; d <= 0 only yields.  Returns 0 or
 * UVGO_ENOTTASK outside a task.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_sleep(uvgo_duration_t d);

/* uvgo_sleep bounded by a context: returns 0 after d, or the context's error
 * (UVGO_ECANCELED, UVGO_ETIMEDOUT) as soon as it is done.  NULL ctx: plain
 * sleep.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_sleep_ctx(uvgo_duration_t d, struct uvgo_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Timers                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct uvgo_timer uvgo_timer_t;

/* Go's time.NewTimer: a timer that delivers once, after at least d (at once
 * for d <= 0), into uvgo_timer_chan(*t).  Returns 0, UVGO_EINVAL (NULL t),
 * UVGO_ENOMEM or UVGO_ENOTTASK when no runtime runs.  Owner: the caller; free
 * with uvgo_timer_free().  Thread: any task or worker thread. */
UVGO_EXTERN int uvgo_timer_make(uvgo_timer_t **t, uvgo_duration_t d);

/* The timer's channel of int64_t values, NULL for an after-func timer.
 * Owner: borrowed, valid while the timer is; retain it to keep it longer.
 * Thread: any. */
UVGO_EXTERN uvgo_chan_t *uvgo_timer_chan(uvgo_timer_t *t);

/* Go's Timer.Stop: prevents a pending delivery (or after-func call).
 * Returns 1 if the call stopped the timer (it was pending, or had delivered
 * a value nobody received yet, which is discarded), 0 if it had already
 * been received or stopped, UVGO_EINVAL for NULL or a freed timer (see
 * uvgo_timer_free).  Never closes the channel
 * and does not wait for a running after-func.  Owner: unchanged.
 * Thread: any task or worker thread. */
UVGO_EXTERN int uvgo_timer_stop(uvgo_timer_t *t);

/* Go's Timer.Reset: stops the timer and re-arms it to fire after d; no value
 * from before the call can be received afterwards.  Returns 1 if the timer
 * had been active (as uvgo_timer_stop counts it), 0 if not, UVGO_EINVAL.
 * An after-func timer runs its function again.  Thread: as uvgo_timer_stop. */
UVGO_EXTERN int uvgo_timer_reset(uvgo_timer_t *t, uvgo_duration_t d);

/* Stops the timer and releases it.  Tasks blocked on its channel stay
 * blocked (as in Go); the channel lives while referenced.  NULL and a timer
 * freed already are ignored.  Owner: consumes the timer.  Thread: as
 * uvgo_timer_stop.
 *
 * Stale handles.  Timer records are reused but not given back to the
 * allocator while the runtime runs, and a handle carries its record's
 * generation: after uvgo_timer_free, stop, reset and the ticker calls
 * return UVGO_EINVAL and uvgo_timer_chan NULL, even once a new timer took
 * over the record, unless it was reused a multiple of 32,768 times since
 * (32 on 32-bit systems).  A timer lives no longer than its runtime: when
 * uvgo_main returns every timer is gone, and calls on its handle return
 * UVGO_EINVAL while no runtime runs. */
UVGO_EXTERN void uvgo_timer_free(uvgo_timer_t *t);

/* Go's time.After: a channel that receives uvgo_now() once, after d.  The
 * timer behind it frees itself once it has fired.  Returns 0, UVGO_EINVAL,
 * UVGO_ENOMEM or UVGO_ENOTTASK.  Owner: the caller holds a channel
 * reference; release it with uvgo_chan_release().  Thread: as
 * uvgo_timer_make. */
UVGO_EXTERN int uvgo_after(uvgo_chan_t **ch, uvgo_duration_t d);

/* Go's time.AfterFunc: after d, fn(arg) runs in a task of its own.  With t
 * non-NULL the caller gets a timer to stop or reset (its channel is NULL)
 * and must free it; with t NULL the timer frees itself after firing.
 * Returns 0, UVGO_EINVAL (NULL fn), UVGO_ENOMEM or UVGO_ENOTTASK.
 * Owner: as described.  Thread: as uvgo_timer_make. */
UVGO_EXTERN int uvgo_after_func(uvgo_timer_t **t, uvgo_duration_t d,
                                uvgo_task_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Tickers                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct uvgo_timer uvgo_ticker_t;

/* Go's time.NewTicker: delivers into uvgo_ticker_chan(*t) every `period`.
 * A slow receiver misses ticks: at most one value waits, the rest are
 * dropped, never queued.  The phase is kept: each tick is scheduled a whole
 * number of periods after the first, not "now + period" as a libuv repeat
 * timer drifts.  Returns 0, UVGO_EINVAL (NULL t, period <= 0), UVGO_ENOMEM,
 * UVGO_ENOTTASK.  Owner: the caller; free with uvgo_ticker_free().
 * Thread: as uvgo_timer_make. */
UVGO_EXTERN int uvgo_ticker_make(uvgo_ticker_t **t, uvgo_duration_t period);

/* The ticker's channel of int64_t values.  Owner: borrowed.  Thread: any. */
UVGO_EXTERN uvgo_chan_t *uvgo_ticker_chan(uvgo_ticker_t *t);

/* Turns the ticker off; no tick from before the call can be received
 * afterwards; the channel is not closed.  Returns 0 or UVGO_EINVAL.
 * Thread: as uvgo_timer_stop. */
UVGO_EXTERN int uvgo_ticker_stop(uvgo_ticker_t *t);

/* Stops the ticker, sets its period and restarts it: the next tick comes
 * `period` from now.  Returns 0, or UVGO_EINVAL (NULL, period <= 0).
 * Thread: as uvgo_timer_stop. */
UVGO_EXTERN int uvgo_ticker_reset(uvgo_ticker_t *t, uvgo_duration_t period);

/* Stops and releases the ticker.  Owner: consumes it.  Thread: as
 * uvgo_timer_stop. */
UVGO_EXTERN void uvgo_ticker_free(uvgo_ticker_t *t);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_TIME_H */
