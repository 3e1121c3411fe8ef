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

/* Frees every timer record; only when no runtime runs.  Timers still
 * held or armed go too (a timer lives no longer than its runtime). */
void uvgo__timers_reset(void);

/* uvgo_sleep that also ends when `done` (NULL: never) closes: 0,
 * UVGO__DONE or UVGO_ENOTTASK. */
int uvgo__sleep_done(uvgo_duration_t d, uvgo_chan_t *done);

/* For contexts' deadlines: fn(arg) is called on the owning loop (not in a
 * task; it must not block) at `deadline`.  Stop and free the handle with
 * uvgo_timer_free().  Returns 0, UVGO_ENOMEM or UVGO_ENOTTASK. */
int uvgo__timer_callback(uvgo_timer_t **out, int64_t deadline,
                         void (*fn)(void *), void *arg);

#endif /* UVGO_TIMER_INTERNAL_H */
