/* uvgo/time.h: durations, the clock, sleeping.
 *
 * Durations are signed 64-bit nanosecond counts, as Go's time.Duration, so
 * `uvgo_sleep(250 * UVGO_MILLISECOND)` reads as it does in Go.
 *
 * Resolution.  Timers are kept per worker in nanoseconds and fire no earlier
 * than their deadline.  They are woken by the worker's libuv loop, whose poll
 * timeout counts whole milliseconds: uvgo promises a wake-up no earlier than
 * asked and, on an idle worker, normally within about 1 ms after.  A duration
 * <= 0 does not wait (a sleep of 0 still yields).
 */
#ifndef UVGO_TIME_H
#define UVGO_TIME_H

#include <stdint.h>

#include "errno.h"

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

/* A monotonic clock in nanoseconds (an arbitrary origin; libuv's
 * uv_hrtime()).  Deadlines are points on this clock.  Owner: none.
 * Thread: any. */
int64_t uvgo_now(void);

/* Parks the calling task for at least d; d <= 0 only yields.  Returns 0 or
 * UVGO_ENOTTASK outside a task.  Owner: none.  Thread: any task. */
int uvgo_sleep(uvgo_duration_t d);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_TIME_H */
