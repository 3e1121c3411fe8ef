/* uvgo/synctest.h: virtual time for testing code that waits (Go's
 * testing/synctest).
 *
 * uvgo_synctest_run(fn, arg, ...) runs fn in a new task inside a "bubble":
 * fn and every task it starts, transitively, belong to the bubble, and so
 * do the channels, timers, tickers, contexts and after-funcs they make.
 * Inside, uvgo_now() reads the bubble's own clock, which starts at
 * UVGO_SYNCTEST_EPOCH and stands still while any bubble task can run.
 * When every task in the bubble is durably blocked, the clock jumps
 * straight to the earliest timer of the bubble and fires it: an hour-long
 * sleep takes no wall time at all.  Sleeps, timers, tickers, uvgo_after,
 * after-funcs, context deadlines and the rate limiter all read this clock.
 *
 * Durably blocked means blocked on something only the bubble can end: a
 * send, receive or select on channels made in the bubble, a sleep or timer
 * of the bubble, a WaitGroup, Cond, Once, semaphore, errgroup or
 * singleflight wait, joining a bubble task, a NULL channel.  Not durable,
 * as in Go: a mutex or rwmutex (held briefly, maybe by someone outside),
 * I/O and every other libuv wait (an event, offload, a connection, a
 * file), a channel or context made outside.  Real I/O in a bubble works;
 * the clock just waits for it like everyone else.
 *
 * Determinism.  A bubble's tasks all run on the worker uvgo_synctest_run
 * was called on, in an order that follows only from what they do: the same
 * program gives the same interleaving, and the same event log, every run.
 * A non-zero `seed` explores other orders: every time a bubble task becomes
 * runnable it goes to the front or the back of its worker's queue by a coin
 * flip from a generator seeded with it, so a failing seed replays exactly.
 *
 * Boundaries.  A bubble's channels belong to it: a send, receive, select
 * case, close or timer reset on them from outside the bubble returns
 * UVGO_EBUBBLE and changes nothing.  Bubbles do not nest.
 *
 * Deadlock.  If every task in the bubble is durably blocked and no timer of
 * the bubble is pending, nothing can ever wake them: uvgo_synctest_run
 * lists them (names, what each waits on, stacks) and returns
 * UVGO_EDEADLOCK.  They stay blocked for good; treat it as fatal.
 */
#ifndef UVGO_SYNCTEST_H
#define UVGO_SYNCTEST_H

#include <stdint.h>
#include <stdio.h>

#include "errno.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where every bubble's clock starts: 2000-01-01 00:00:00 UTC in
 * nanoseconds, as in Go. */
#define UVGO_SYNCTEST_EPOCH ((int64_t)946684800 * 1000000000)

/* Options for uvgo_synctest_run(); all-zero (or NULL) means the defaults. */
typedef struct uvgo_synctest_opts {
    uint64_t seed; /* 0: tasks run in the order they became runnable */
    FILE *report;  /* where a deadlock is listed; NULL: stderr */
} uvgo_synctest_opts_t;

/* Runs fn(arg) in a new bubble (see top) and waits until every task in it
 * has returned; *result (if not NULL) receives fn's return value.  Returns
 * 0, UVGO_EDEADLOCK (see top), UVGO_EBUBBLE when called inside a bubble,
 * UVGO_EINVAL for a NULL fn, UVGO_ENOMEM, or UVGO_ENOTTASK outside a task.
 * Owner: the bubble lives until its last task and timer are gone.
 * Thread: any task outside a bubble. */
UVGO_EXTERN int uvgo_synctest_run(uvgo_task_fn fn, void *arg, void **result,
                                  const uvgo_synctest_opts_t *opts);

/* Go's synctest.Wait: returns once every other task in the caller's bubble
 * is durably blocked (time does not advance meanwhile).  Returns 0, or
 * UVGO_EBUBBLE outside a bubble, UVGO_EBUSY if another task of the bubble
 * is already waiting.  Owner: none.  Thread: a task in a bubble. */
UVGO_EXTERN int uvgo_synctest_wait(void);

/* 1 if the calling task runs in a bubble, else 0.  Owner: none.
 * Thread: any. */
UVGO_EXTERN int uvgo_synctest_in_bubble(void);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_SYNCTEST_H */
