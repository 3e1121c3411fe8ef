/* timer.h: the per-worker timer heaps (time.c): what the scheduler calls to
 * run them and what the layers above use besides the public timer API. */
#ifndef UVGO_TIMER_INTERNAL_H
#define UVGO_TIMER_INTERNAL_H

#include "runtime/runtime.h"

/* Per worker: set up the wake-up source (a timerfd, else a uv_timer),
 * stop it, release it after the loop has closed, re-arm it for the
 * earliest deadline (owner thread), and per-thread setup. */
int uvgo__timers_init(struct uvgo_worker *w);
void uvgo__timers_close(struct uvgo_worker *w);
void uvgo__timers_finish(struct uvgo_worker *w);
void uvgo__timers_rearm(struct uvgo_worker *w);
void uvgo__timers_thread_init(void);

/* Liveness, for the deadlock check.  As in Go 1.23, a channel timer
 * (uvgo_timer_make, uvgo_after, a ticker) keeps the runtime alive only
 * while a task waits on a timer's channel: one nobody waits on cannot wake
 * anyone, so it must not delay the "all tasks are asleep" report.  The
 * blocking calls of chan.c and select.c count the tasks parked on a timer
 * channel here (the task itself adds and removes its count, around its
 * park); sleepers, after-funcs and context deadlines always count.
 * Rejected: Go's exact rule (a channel timer is in its heap only while
 * its own channel has waiters), which would put timer bookkeeping on every
 * waiter a waker unlinks; the count here errs only towards "alive" (a task
 * blocked on a stopped timer's channel counts while another channel timer
 * is pending). */
extern atomic_long uvgo__timer_chan_waiters;

/* The calling task is about to park on a timer channel / has woken. */
static inline void uvgo__timer_chan_wait_begin(void)
{
    /* seq_cst: ordered with the deadlock check's reads under rt->lock. */
    atomic_fetch_add(&uvgo__timer_chan_waiters, 1);
}
void uvgo__timer_chan_wait_end(void);

/* Whether w's timers may still wake a task.  Thread: any. */
int uvgo__timers_may_wake(struct uvgo_worker *w);

/* Frees every timer record; only when no runtime runs.  Timers still
 * held or armed go too (a timer lives no longer than its runtime): a
 * callback timer still armed calls its `drop` first (see below). */
void uvgo__timers_reset(void);

/* uvgo_sleep that also ends when `done` (NULL: never) closes: 0,
 * UVGO__DONE or UVGO_ENOTTASK. */
int uvgo__sleep_done(uvgo_duration_t d, uvgo_chan_t *done);

/* For contexts' deadlines: fn(arg) is called on the owning loop (not in a
 * task; it must not block) at `deadline`.  Stop and free the handle with
 * uvgo_timer_free().  If the runtime ends while the timer is still armed,
 * drop(arg) is called instead, from uvgo__timers_reset (no worker runs
 * then): fn will never be called, and the handle is gone as if freed, so
 * drop must make its holder forget it.  Returns 0, UVGO_ENOMEM or
 * UVGO_ENOTTASK. */
int uvgo__timer_callback(uvgo_timer_t **out, int64_t deadline,
                         void (*fn)(void *), void (*drop)(void *), void *arg);

#endif /* UVGO_TIMER_INTERNAL_H */
