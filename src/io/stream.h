/* stream.h: connections over libuv streams (stream.c), the io layer's
 * contract with the code that makes them: the net layer (dial, accept),
 * processes and stdio.
 *
 * Making a connection, on the thread of the loop it will live on (a task
 * that entered the loop, or one of that loop's callbacks):
 *
 *     uvgo_conn_t *c = uvgo__conn_alloc();         room for the handle
 *     uv_tcp_init(loop, &c->h.tcp);                 or pipe, tty...
 *     ... uv_accept(server, c->stream) ...
 *     uvgo__conn_open(c, loop);                     usable from now on
 *
 * or, for a handle that lives in a structure of its own (a process's
 * stdio pipes), uvgo__conn_wrap(), which calls `release` once the handle
 * has closed.  Either way the connection owns the handle from then on and
 * closes it.
 *
 * Waiting.  Everything in a connection belongs to its loop's thread: each
 * call enters the loop first (uvgo_loop_enter) and re-enters it after every
 * park, since a woken task may be stolen before it runs.  A blocked call is
 * a struct uvgo__waiter on the task's stack, linked where its waker (a
 * libuv callback, a deadline timer, a close from another task, all on the
 * loop's thread) finds it.  The waker unlinks it, sets `result` and
 * `woken`, then wakes the task.  A context that ends first also wakes the
 * task; the task then re-enters the loop and, if no waker got there in the
 * meantime (woken == 0), unlinks itself: wakers and the unlinking task run
 * on one thread, so a waiter is never touched after its task has left.
 *
 * A wait without a context has one kind of waker, on the task's own loop
 * thread, so it needs no race settled: the task parks plainly and the
 * waker readies it (`task`).  A wait with a context parks on the event
 * `ev`, which settles the race between the waker and the context (two
 * CASes and a store for the waker, a CAS for the task).  The plain form
 * is the hot one: every read of a connection without a context.
 */
#ifndef UVGO_STREAM_INTERNAL_H
#define UVGO_STREAM_INTERNAL_H

#include "io/io.h"

/* The io layer's waiting call: the event its task waits on (the runtime's
 * waiter, runtime/waiter.h, is inside that wait) and what the I/O gives
 * it. */
struct uvgo__waiter {
    uvgo_task_t *task;     /* waiting without a context, else NULL */
    uvgo_event_t ev;       /* with a context: set once woken */
    uvgo_list_node_t link; /* in a waitlist, or in none */
    char *buf;             /* a read's destination */
    size_t len;
    void *value; /* what the waker hands over (a conn) */
    int result;  /* a count or an error, set by the waker */
    int woken;   /* result is set (loop thread) */
};

/* Wakes w with `result`.  The caller has unlinked it.  Loop thread. */
static inline void uvgo__waiter_wake(struct uvgo__waiter *w, int result)
{
    uvgo_task_t *t = w->task;
    w->result = result;
    w->woken = 1;
    /* The task runs on this thread only once we return: w stays valid. */
    if (t)
        uvgo__task_ready(t);
    else
        uvgo_event_set(&w->ev);
}

/* uvgo__waiter_park without a context: parks until a waker on `loop`'s
 * thread readies w->task (the caller, who set it), then comes back to
 * `loop`.  Inline for the hot reads (stream.c). */
static inline void uvgo__waiter_park_plain(struct uvgo__waiter *w,
                                           uv_loop_t *loop, const char *what)
{
    do
        uvgo__task_park(what);
    while (!w->woken);
    if (UVGO_UNLIKELY(!uvgo__loop_home(loop)))
        uvgo_loop_enter(loop); /* readied, then stolen: come home */
}

/* Parks the calling task until w is woken or `done` (NULL: never) closes,
 * then returns on `loop`'s thread: 0 when woken (read w->result), or
 * UVGO__DONE when the context won and no waker touched w; then the caller
 * unlinks w before it does anything that may block. */
int uvgo__waiter_park(struct uvgo__waiter *w, uv_loop_t *loop,
                      uvgo_chan_t *done, const char *what);

/* A FIFO of waiters (on their tasks' stacks), a base/list.h list; loop
 * thread only. */
struct uvgo__waitlist {
    uvgo_list_t list;
};

static inline void uvgo__waitlist_push(struct uvgo__waitlist *q,
                                       struct uvgo__waiter *w)
{
    uvgo__list_push_back(&q->list, &w->link);
}

static inline void uvgo__waitlist_unlink(struct uvgo__waitlist *q,
                                         struct uvgo__waiter *w)
{
    uvgo__list_remove(&q->list, &w->link);
}

/* The first waiter, or NULL. */
static inline struct uvgo__waiter *
uvgo__waitlist_first(const struct uvgo__waitlist *q)
{
    uvgo_list_node_t *n = uvgo__list_first(&q->list);
    return n ? uvgo__container_of(n, struct uvgo__waiter, link) : NULL;
}

/* Unlinks and returns the first waiter, or NULL. */
static inline struct uvgo__waiter *uvgo__waitlist_pop(struct uvgo__waitlist *q)
{
    struct uvgo__waiter *w = uvgo__waitlist_first(q);
    if (w)
        uvgo__waitlist_unlink(q, w);
    return w;
}

/* Wakes every waiter with `result`. */
void uvgo__waitlist_wake_all(struct uvgo__waitlist *q, int result);

/* Who may call next: readers (and writers) of one connection take turns. */
struct uvgo__turn {
    int busy; /* a call holds the turn */
    struct uvgo__waitlist waiting;
};

struct uvgo_conn {
    /* Immutable once open. */
    uv_loop_t *loop;                      /* the loop it lives on */
    uv_stream_t *stream;                  /* &h.stream, or a wrapped handle */
    void (*release)(uv_stream_t *stream); /* wrapped: after the close */

    /* The loop's thread only. */
    int closed;                   /* uvgo_conn_close ran */
    int freed;                    /* uvgo_conn_free ran: free when idle */
    int handles;                  /* handles not yet closed (stream, timers) */
    int users;                    /* calls in progress (they hold c alive) */
    int reading;                  /* uv_read_start is in force */
    int stashed;                  /* `stash` holds the next byte */
    int read_err;                 /* sticky: UVGO_EOF, a reset */
    int write_err;                /* sticky: a failed queued write */
    int shut;                     /* close_write issued */
    int wreq_busy;                /* wreq is queued in libuv */
    int timers;                   /* rtimer and wtimer are initialised */
    int fd;                       /* for direct writes (stream.c) */
    int64_t rdeadline, wdeadline; /* uvgo_now() times; 0: none */
    int rexpired, wexpired;       /* that deadline has passed */
    struct uvgo__waiter *reader;  /* the reader waiting for data */
    char *rbuf;                   /* its buffer, copied here so that the */
    size_t rlen;                  /* alloc callback reads no task's stack */
    struct uvgo__waiter *writer;  /* the writer waiting for wreq/sreq */
    struct uvgo__turn rturn, wturn;
    uv_timer_t rtimer, wtimer; /* deadlines, armed when one is set */
    uv_write_t wreq;           /* the one-byte write that waits for room */
    uv_shutdown_t sreq;
    char wbyte; /* wreq's byte */
    char stash; /* a byte read while no reader waited */

    /* The server that serves it (net layer), under the server's lock. */
    void *server;
    uvgo_list_node_t server_link; /* in the server's live list */
    int server_refs;              /* its handler, and a closer at shutdown */
    int server_closed;

    /* The handle, unless wrapped. */
    union {
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_tty_t tty;
    } h;
};

/* A connection with room for its handle (c->h), which the caller
 * initialises next; NULL when out of memory.  Thread: any. */
uvgo_conn_t *uvgo__conn_alloc(void);

/* Makes c usable; its handle c->h was initialised on `loop`.  Thread: the
 * loop's. */
void uvgo__conn_open(uvgo_conn_t *c, uv_loop_t *loop);

/* A connection of `stream`, a handle initialised on stream->loop that lives
 * elsewhere; release(stream) (NULL: nothing) runs once it has closed.
 * Returns 0 or UVGO_ENOMEM (the handle is then left as it was).
 * Thread: the loop's. */
int uvgo__conn_wrap(uvgo_conn_t **out, uv_stream_t *stream,
                    void (*release)(uv_stream_t *stream));

/* uvgo_conn_close and uvgo_conn_free for callers already on c's loop
 * thread, in a task or in a callback. */
int uvgo__conn_close_here(uvgo_conn_t *c);
void uvgo__conn_free_here(uvgo_conn_t *c);

#endif /* UVGO_STREAM_INTERNAL_H */
