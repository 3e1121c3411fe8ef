/* uvgo/chan.h: channels and select, with Go's semantics.
 *
 * The model.  A channel carries values of one fixed size (any size, 0
 * included) between tasks on any workers.  Unbuffered (cap 0): a send
 * completes only when a receiver takes the value.  Buffered: sends block only
 * when the buffer is full, receives only when it is empty; values come out in
 * the order they went in.  Blocked senders and receivers are served in
 * arrival order, and each value goes to exactly one receiver.
 *
 * Closing.  After uvgo_chan_close(), receives drain what is buffered and then
 * return UVGO_ECLOSED at once with a zeroed value (Go's `v, ok := <-ch` with
 * ok == false); every blocked receiver and sender wakes, and sends, including
 * those already blocked, return UVGO_ECLOSED without delivering anything.
 * Where Go panics (send on or close of a closed channel) uvgo returns
 * UVGO_ECLOSED and changes nothing.
 *
 * NULL is Go's nil channel: sending to or receiving from it blocks forever
 * (uvgo's deadlock report names the wait), it is never ready in a select, and
 * its len and cap are 0.
 *
 * Sizes.  Every send and receive names the size of the caller's object
 * (`uvgo_chan_send(ch, &v, sizeof v)`), and a size that is not the
 * channel's element size is UVGO_EINVAL, so a channel never reads or
 * writes past the caller's object.  The select-case macros supply sizeof
 * themselves.
 *
 * Ownership.  Channels are reference counted: uvgo_chan_make() returns one
 * reference, uvgo_chan_retain() adds one, uvgo_chan_release() drops one.  A
 * task blocked on a channel holds a reference of its own until it returns,
 * so releasing a channel that tasks still wait on cannot free it under them
 * (they stay blocked until someone closes it, as in Go).
 *
 * Blocking with a limit.  The waits here take no timeout: a timer or a
 * context is a channel too, so "receive, or give up after 100 ms" is a
 * select with a second receive case on that channel.  The *_ctx forms of
 * uvgo/context.h are exactly that.
 *
 * Memory model: a send happens before the receive that gets its value
 * completes; a close happens before a receive that returns because of it;
 * for an unbuffered channel a receive happens before the matching send
 * completes; the k-th receive on a channel of capacity C happens before the
 * (k+C)-th send completes.
 */
#ifndef UVGO_CHAN_H
#define UVGO_CHAN_H

#include <stddef.h>

#include "errno.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvgo_chan uvgo_chan_t;

/* Largest element size and capacity; beyond, uvgo_chan_make() returns
 * UVGO_EINVAL. */
#define UVGO_CHAN_ELEM_MAX ((size_t)1 << 16)
#define UVGO_CHAN_CAP_MAX ((size_t)1 << 30)

/* Makes a channel of elements of `elem_size` bytes with a buffer of `cap`
 * elements (0: unbuffered).  Returns 0, UVGO_EINVAL (NULL ch, sizes too
 * large) or UVGO_ENOMEM.  Owner: the caller holds one reference; release it
 * with uvgo_chan_release().  Thread: any. */
UVGO_EXTERN int uvgo_chan_make(uvgo_chan_t **ch, size_t elem_size, size_t cap);

/* Adds a reference and returns ch (NULL stays NULL).  Owner: the caller
 * holds the new reference.  Thread: any. */
UVGO_EXTERN uvgo_chan_t *uvgo_chan_retain(uvgo_chan_t *ch);

/* Drops a reference; the last one frees the channel and any values still
 * buffered (they are plain bytes: free what they point to first).  NULL is
 * ignored.  Owner: consumes one reference.  Thread: any. */
UVGO_EXTERN void uvgo_chan_release(uvgo_chan_t *ch);

/* Sends the `size` bytes at `elem`, blocking until a receiver or buffer
 * space takes them.  Returns 0, UVGO_ECLOSED (closed before or while
 * waiting; nothing was sent), UVGO_EINVAL (size is not the element size,
 * NULL elem with a non-zero element size, or a receive-only channel: a
 * context's Done, a timer's or a ticker's) or UVGO_ENOTTASK outside a
 * task.  A NULL channel blocks forever.  Owner: the bytes are copied.
 * Thread: any task. */
UVGO_EXTERN int uvgo_chan_send(uvgo_chan_t *ch, const void *elem, size_t size);

/* Receives one element into the `size` bytes at `elem` (NULL: discard it;
 * size is then ignored), blocking until one is available.  Returns 0 with
 * *ok = 1 for a value, or UVGO_ECLOSED with *ok = 0 and `elem` zeroed once
 * the channel is closed and drained.  `ok` may be NULL.  UVGO_EINVAL when
 * size is not the element size, UVGO_ENOTTASK outside a task.  A NULL
 * channel blocks forever.  Owner: the caller's buffer.  Thread: any task. */
UVGO_EXTERN int uvgo_chan_recv(uvgo_chan_t *ch, void *elem, size_t size,
                               int *ok);

/* Non-blocking send: 0, UVGO_EAGAIN if it would block (a full buffer, no
 * receiver waiting, or a NULL channel), UVGO_ECLOSED, UVGO_EINVAL.
 * Owner: the bytes are copied.  Thread: any (tasks, loop callbacks, other
 * threads). */
UVGO_EXTERN int uvgo_chan_try_send(uvgo_chan_t *ch, const void *elem,
                                   size_t size);

/* Non-blocking receive: 0 with a value, UVGO_EAGAIN if none is ready (or a
 * NULL channel), UVGO_ECLOSED (zeroed, *ok = 0) once closed and drained.
 * Owner: the caller's buffer.  Thread: any. */
UVGO_EXTERN int uvgo_chan_try_recv(uvgo_chan_t *ch, void *elem, size_t size,
                                   int *ok);

/* Closes the channel and wakes every blocked sender and receiver.  Returns
 * 0, UVGO_ECLOSED if it was already closed, or UVGO_EINVAL for NULL and for
 * a receive-only channel (a context's Done, a timer's or a ticker's: Go's
 * <-chan, which only their owner closes).
 * Owner: the channel stays referenced.  Thread: any. */
UVGO_EXTERN int uvgo_chan_close(uvgo_chan_t *ch);

/* Elements buffered now / buffer capacity; 0 for NULL.  Thread: any. */
UVGO_EXTERN size_t uvgo_chan_len(uvgo_chan_t *ch);
UVGO_EXTERN size_t uvgo_chan_cap(uvgo_chan_t *ch);

/* Go's `for v := range ch`: runs the statement after it once per value
 * until the channel is closed and drained.  `elem` is a typed pointer.
 *
 *     int v;
 *     UVGO_CHAN_RANGE(ch, &v) { sum += v; }
 */
#define UVGO_CHAN_RANGE(ch, elem)                                              \
    while (uvgo_chan_recv((ch), (elem), sizeof *(elem), NULL) == 0)

/* ------------------------------------------------------------------------ */
/* Select                                                                   */
/* ------------------------------------------------------------------------ */

enum { UVGO_SELECT_RECV = 1, UVGO_SELECT_SEND = 2 };

/* One case of a select.  `elem` is the value to send, or where a received
 * value goes (NULL: discard), and `size` the size of that object (checked
 * as for uvgo_chan_send and uvgo_chan_recv).  On return, the chosen case's
 * `ok` says how it went: 1 a value moved; 0 the channel was closed (a
 * receive got the zero value; a send delivered nothing: Go would panic
 * here).  Other cases' fields are left alone. */
typedef struct uvgo_select_case {
    uvgo_chan_t *chan; /* NULL: this case is never ready */
    int dir;           /* UVGO_SELECT_RECV or UVGO_SELECT_SEND */
    void *elem;
    size_t size;
    int ok;
} uvgo_select_case_t;

/* Cases from a typed pointer (its pointee's size is the element size), from
 * a pointer and an explicit size, and a receive that drops the value (Go's
 * `case <-ch:`). */
#define UVGO_CASE_RECV(ch, elem)                                               \
    {                                                                          \
        (ch), UVGO_SELECT_RECV, (void *)(elem), sizeof *(elem), 0              \
    }
#define UVGO_CASE_SEND(ch, elem)                                               \
    {                                                                          \
        (ch), UVGO_SELECT_SEND, (void *)(elem), sizeof *(elem), 0              \
    }
#define UVGO_CASE_RECV_N(ch, elem, size)                                       \
    {                                                                          \
        (ch), UVGO_SELECT_RECV, (void *)(elem), (size), 0                      \
    }
#define UVGO_CASE_SEND_N(ch, elem, size)                                       \
    {                                                                          \
        (ch), UVGO_SELECT_SEND, (void *)(elem), (size), 0                      \
    }
#define UVGO_CASE_RECV_DISCARD(ch)                                             \
    {                                                                          \
        (ch), UVGO_SELECT_RECV, NULL, 0, 0                                     \
    }

/* Go's select: waits until one of the n cases can proceed, commits exactly
 * that one and returns its index.  When several are ready, each is chosen
 * with equal probability.  A case on a NULL channel never proceeds; with no
 * case that can ever proceed (n == 0, or only NULL channels) it blocks
 * forever.  Returns the index, UVGO_EINVAL (NULL cases with n > 0, a bad
 * dir, a size that is not its channel's element size, more than
 * UVGO_SELECT_MAX cases), UVGO_ENOMEM (a select of more than 16 cases
 * allocates its bookkeeping; nothing was committed) or UVGO_ENOTTASK
 * outside a task.
 * Owner: the caller's array; it must stay valid until the call returns.
 * Thread: any task. */
UVGO_EXTERN int uvgo_select(uvgo_select_case_t *cases, size_t n);

/* Go's select with a `default:` case: commits a ready case and returns its
 * index, or returns UVGO_EAGAIN at once when none is ready; UVGO_EINVAL and
 * UVGO_ENOMEM as uvgo_select.  Thread: any. */
UVGO_EXTERN int uvgo_select_try(uvgo_select_case_t *cases, size_t n);

#define UVGO_SELECT_MAX 1024

#ifdef __cplusplus
}
#endif

#endif /* UVGO_CHAN_H */
