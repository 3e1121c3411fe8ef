/* uvgo/signal.h: signals delivered into channels (Go's signal.Notify).
 *
 * uvgo_signal_notify(&sub, ch, signals, n) makes each listed signal, when the
 * process receives it, send its number (an int) into `ch` without blocking:
 * if `ch` has no room and no receiver waits, that delivery is dropped, as Go
 * does, so give `ch` a buffer.  Several subscriptions may watch one signal;
 * each gets it.  The handles live on the loop of the worker that subscribed
 * and keep it alive (a task waiting for SIGTERM is not a deadlock).
 */
#ifndef UVGO_SIGNAL_H
#define UVGO_SIGNAL_H

#include <stddef.h>

#include "chan.h"
#include "errno.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvgo_signal uvgo_signal_t;

/* Starts delivering `signals[0..n)` into ch (a channel of int).  Returns 0,
 * UVGO_EINVAL (NULL sub/ch/signals, n == 0, a channel whose element is not
 * an int, an invalid signal number), UVGO_ENOMEM, or UVGO_ENOTTASK outside a
 * task.  Owner: the subscription is the caller's (uvgo_signal_stop); it holds
 * its own reference to ch.  Thread: any task. */
UVGO_EXTERN int uvgo_signal_notify(uvgo_signal_t **sub, uvgo_chan_t *ch,
                                   const int *signals, size_t n);

/* Stops the subscription: no delivery starts after it returns.  Frees the
 * subscription (its handles close in the background).  Returns 0, or
 * UVGO_EINVAL for NULL, UVGO_ENOTTASK outside a task.  Owner: consumes sub.
 * Thread: any task. */
UVGO_EXTERN int uvgo_signal_stop(uvgo_signal_t *sub);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_SIGNAL_H */
