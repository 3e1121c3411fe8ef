/* uvgo/context.h: Go's context package.
 *
 * The model.  A context carries a cancellation signal, an optional deadline
 * and values down a tree: cancelling a context cancels all its descendants,
 * never its ancestors.  Its Done channel (uvgo_ctx_done) is an ordinary
 * channel, closed exactly once when the context is cancelled, so waiting
 * "for X or until the context is done" is a select with one more receive
 * case.  Every blocking call in uvgo has a *_ctx form that does exactly
 * that and returns the context's error:
 *
 *     UVGO_ECANCELED   cancelled (Go's context.Canceled)
 *     UVGO_ETIMEDOUT   its deadline passed (Go's context.DeadlineExceeded)
 *
 * Once set, a context's error never changes.  A NULL context is Go's
 * context.Background(): never cancelled, no values, no deadline, a NULL
 * (never ready) Done channel; uvgo_ctx_background() returns it.
 *
 * Ownership.  Contexts are reference counted.  uvgo_ctx_with_*() returns a
 * context holding one reference, and the parent keeps its child linked (and
 * alive) until the child is cancelled.  As in Go, call uvgo_ctx_cancel() on
 * a context you made once you are done with it, then uvgo_ctx_release();
 * releasing without cancelling leaves it linked to its parent until the
 * parent is cancelled.  A task waiting on a Done channel holds its own
 * reference to the channel, so no waiter can touch freed memory.
 *
 * Threads.  Every call here may be made from any thread; cancel is
 * idempotent and safe to race with anything.
 */
#ifndef UVGO_CONTEXT_H
#define UVGO_CONTEXT_H

#include <stdint.h>

#include "chan.h"
#include "errno.h"
#include "task.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvgo_ctx uvgo_ctx_t;

/* Go's context.Background()/TODO(): NULL.  Owner: none.  Thread: any. */
UVGO_EXTERN uvgo_ctx_t *uvgo_ctx_background(void);

/* Go's WithCancel: a child cancelled by uvgo_ctx_cancel() or with its
 * parent.  Returns 0, UVGO_EINVAL (NULL out) or UVGO_ENOMEM.  If the parent
 * is already done the child is born done, with the parent's error and
 * cause.  Owner: the caller holds one reference (uvgo_ctx_release).
 * Thread: any. */
UVGO_EXTERN int uvgo_ctx_with_cancel(uvgo_ctx_t **out, uvgo_ctx_t *parent);

/* Go's WithDeadline: also cancelled, with UVGO_ETIMEDOUT, at `deadline`
 * (a uvgo_now() value).  A deadline later than the parent's changes
 * nothing but adds a cancel scope; one already past gives a context that is
 * already done.  The runtime that runs when the context is made times it:
 * if uvgo_main returns before the deadline, the context drops its timer and
 * is no longer timed, in this runtime's successors either (it keeps its
 * deadline for uvgo_ctx_deadline, and is done once cancelled, directly or
 * through its parent); cancelling and releasing it stay safe.  Returns as
 * uvgo_ctx_with_cancel.  Thread: any. */
UVGO_EXTERN int uvgo_ctx_with_deadline(uvgo_ctx_t **out, uvgo_ctx_t *parent,
                                       int64_t deadline);

/* Go's WithTimeout: uvgo_ctx_with_deadline(out, parent, uvgo_now() + d). */
UVGO_EXTERN int uvgo_ctx_with_timeout(uvgo_ctx_t **out, uvgo_ctx_t *parent,
                                      uvgo_duration_t d);

/* Go's WithDeadlineCause / WithTimeoutCause: as above, and when the
 * deadline passes the cause is `cause` (the error stays UVGO_ETIMEDOUT).
 * uvgo_ctx_cancel() on it sets no cause.  Thread: any. */
UVGO_EXTERN int uvgo_ctx_with_deadline_cause(uvgo_ctx_t **out,
                                             uvgo_ctx_t *parent,
                                             int64_t deadline, int cause);
UVGO_EXTERN int uvgo_ctx_with_timeout_cause(uvgo_ctx_t **out,
                                            uvgo_ctx_t *parent,
                                            uvgo_duration_t d, int cause);

/* Go's WithValue: a child that answers uvgo_ctx_value(ctx, key) with value
 * and asks its parent about other keys.  Keys compare by address (use the
 * address of a static object of yours).  Returns 0, or UVGO_EINVAL (NULL
 * out or key), UVGO_ENOMEM.  Owner: value stays the caller's; the context
 * holds a reference.  Thread: any. */
UVGO_EXTERN int uvgo_ctx_with_value(uvgo_ctx_t **out, uvgo_ctx_t *parent,
                                    const void *key, void *value);

/* Go's WithoutCancel: keeps the parent's values, but has no deadline, no
 * error, a NULL Done channel, and is not cancelled with the parent.
 * Thread: any. */
UVGO_EXTERN int uvgo_ctx_without_cancel(uvgo_ctx_t **out, uvgo_ctx_t *parent);

/* Go's CancelFunc, for a context made by a with_cancel/with_deadline/
 * with_timeout call (others are ignored): sets the error to UVGO_ECANCELED
 * (if not already done), closes Done, cancels every descendant, stops the
 * deadline timer and unlinks the context from its parent.  Idempotent; does
 * not wait for anything.  Owner: no reference change.  Thread: any. */
UVGO_EXTERN void uvgo_ctx_cancel(uvgo_ctx_t *ctx);

/* uvgo_ctx_cancel() then uvgo_ctx_release(): what the owner of a context
 * made for one piece of work does when that work is over (Go's
 * `defer cancel()`).  NULL is ignored.  Owner: consumes one reference.
 * Thread: any. */
UVGO_EXTERN void uvgo_ctx_cancel_release(uvgo_ctx_t *ctx);

/* Go's CancelCauseFunc: as uvgo_ctx_cancel, recording `cause` (0 records
 * UVGO_ECANCELED).  The first cancellation, here or from an ancestor, wins.
 * Thread: any. */
UVGO_EXTERN void uvgo_ctx_cancel_cause(uvgo_ctx_t *ctx, int cause);

/* The Done channel: closed when the context is cancelled; NULL only for a
 * context that can never be cancelled (the channel is made with the
 * context, so this never fails).  The same channel on every call.  It is
 * receive-only: closing it or sending on it returns UVGO_EINVAL.
 * Owner: borrowed, valid while the caller holds the context (retain it to
 * keep it longer).  Thread: any. */
UVGO_EXTERN uvgo_chan_t *uvgo_ctx_done(uvgo_ctx_t *ctx);

/* 0 until the context is done, then UVGO_ECANCELED or UVGO_ETIMEDOUT, never
 * changing.  Thread: any. */
UVGO_EXTERN int uvgo_ctx_err(uvgo_ctx_t *ctx);

/* Go's context.Cause: 0 until done; then the cause given to a cancel-cause
 * call or a *_cause deadline, else the error.  Thread: any. */
UVGO_EXTERN int uvgo_ctx_cause(uvgo_ctx_t *ctx);

/* Go's Deadline: 1 and *deadline set if the context (or an ancestor) has a
 * deadline, else 0.  Thread: any. */
UVGO_EXTERN int uvgo_ctx_deadline(uvgo_ctx_t *ctx, int64_t *deadline);

/* Go's Value: the value for key, looked up through the ancestors; NULL if
 * none.  Owner: borrowed.  Thread: any. */
UVGO_EXTERN void *uvgo_ctx_value(uvgo_ctx_t *ctx, const void *key);

/* Reference counting; NULL is ignored.  Thread: any. */
UVGO_EXTERN uvgo_ctx_t *uvgo_ctx_retain(uvgo_ctx_t *ctx);
UVGO_EXTERN void uvgo_ctx_release(uvgo_ctx_t *ctx);

/* Go's context.AfterFunc: once ctx is done, fn(arg) runs in a task of its
 * own (at once if ctx is already done; never for a context that cannot be
 * cancelled).  Registrations are independent.  *stop receives a handle for
 * uvgo_ctx_after_stop() (pass NULL if you will not stop it).  Returns 0,
 * UVGO_EINVAL (NULL fn), UVGO_ENOMEM or, when ctx is already done and fn
 * cannot be started, the spawn's error (then nothing was registered).
 * Owner: the handle is the caller's, to free with uvgo_ctx_after_free()
 * (stopped or not, before or after ctx is done); the registration keeps
 * what it needs on its own.  Thread: any. */
typedef struct uvgo_ctx_after uvgo_ctx_after_t;
UVGO_EXTERN int uvgo_ctx_after_func(uvgo_ctx_after_t **stop, uvgo_ctx_t *ctx,
                                    uvgo_task_fn fn, void *arg);

/* Go's stop function: 1 if this call prevented fn from running, 0 if fn
 * already started or was stopped before; may be called any number of
 * times.  Does not wait for fn.  The handle stays valid (free it with
 * uvgo_ctx_after_free()).  NULL: 0.  Thread: any. */
UVGO_EXTERN int uvgo_ctx_after_stop(uvgo_ctx_after_t *a);

/* Releases the handle, without stopping anything: a registration not yet
 * stopped still runs fn when ctx is done.  The handle must not be used
 * afterwards.  NULL is ignored.  Thread: any. */
UVGO_EXTERN void uvgo_ctx_after_free(uvgo_ctx_after_t *a);

/* ------------------------------------------------------------------------ */
/* Blocking calls bounded by a context                                      */
/* ------------------------------------------------------------------------ */
/* Each is its plain form plus: when ctx is done first, returns its error
 * (UVGO_ECANCELED / UVGO_ETIMEDOUT) having changed nothing.  NULL ctx: the
 * plain form. */

UVGO_EXTERN int uvgo_chan_send_ctx(uvgo_chan_t *ch, const void *elem,
                                   size_t size, uvgo_ctx_t *ctx);
UVGO_EXTERN int uvgo_chan_recv_ctx(uvgo_chan_t *ch, void *elem, size_t size,
                                   int *ok, uvgo_ctx_t *ctx);
/* Returns the chosen case's index, or the context's error. */
UVGO_EXTERN int uvgo_select_ctx(uvgo_select_case_t *cases, size_t n,
                                uvgo_ctx_t *ctx);
UVGO_EXTERN int uvgo_task_join_ctx(uvgo_task_t *task, void **result,
                                   uvgo_ctx_t *ctx);
UVGO_EXTERN int uvgo_event_wait_ctx(uvgo_event_t *ev, const char *what,
                                    uvgo_ctx_t *ctx);
/* Returns promptly when ctx is done, but a job already queued still runs
 * to completion on the thread pool: keep arg valid until fn has run (let fn
 * own it).  UVGO_ENOMEM: this form allocates its request. */
UVGO_EXTERN int uvgo_offload_ctx(void (*fn)(void *arg), void *arg,
                                 uvgo_ctx_t *ctx);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_CONTEXT_H */
