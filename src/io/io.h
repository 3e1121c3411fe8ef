/* io.h: the io layer's internal contract: waiting for one libuv request
 * (fs, getaddrinfo, work, a process exit...), bounded by a context.
 *
 * A libuv request cannot be taken back once started: uv_cancel() succeeds
 * only for thread-pool requests that have not begun, and even then the
 * callback still runs.  So a task that gives up early (its context ended)
 * must leave behind whatever the request will still touch.  The record
 * below is shared by the waiting task and the request's callback:
 *
 *     task                                 loop (the request's callback)
 *     ----                                 ----
 *     uvgo__ioreq_init(io, ...)   refs 2
 *     start the request on io->loop
 *     uvgo__ioreq_wait(io, ctx)  ........  uvgo__ioreq_complete(io)
 *       completed: 0, read the result          sets done, drops its ref
 *       uvgo__ioreq_release(io)  drops the task's ref: the last one frees
 *     or the context ended first:
 *       uv_cancel(io->req) on io->loop, drop the task's ref, return the
 *       context's error; the callback's ref frees the record later, with
 *       any result that arrived too late (io->free).
 *
 * A wait with no context cannot give up: its record may live on the task's
 * stack (io->shared == 0) and the callback's event_set is its last touch.
 * A record for a wait with a context must be on the heap (shared == 1),
 * and so must anything the request writes to (a read's buffer: bounce it
 * through the record and copy on success).
 */
#ifndef UVGO_IO_INTERNAL_H
#define UVGO_IO_INTERNAL_H

#include "context/context.h"

typedef struct uvgo__ioreq uvgo__ioreq_t;

struct uvgo__ioreq {
    uvgo_event_t done; /* set by uvgo__ioreq_complete */
    atomic_int refs;   /* shared records: the task's and the callback's */
    int shared;        /* 1: on the heap, freed by the last reference */
    uv_loop_t *loop;   /* the loop the request runs on; immutable */
    uv_req_t *req;     /* cancelled when the task gives up; NULL: none */
    /* Frees a shared record and whatever its request left behind. */
    void (*free)(uvgo__ioreq_t *io);
};

/* Prepares io for a request the caller starts next on the calling task's
 * loop, which it returns (NULL outside a task).  `req` is the request to
 * cancel if the task gives up (NULL: let it run to completion); `free` is
 * required for a shared record.  The caller must not block between this
 * and starting the request: the task must still be on that loop. */
uv_loop_t *uvgo__ioreq_init(uvgo__ioreq_t *io, int shared, uv_req_t *req,
                            void (*free)(uvgo__ioreq_t *io));

/* From the request's callback, on io->loop: wakes the waiter.  For a shared
 * record this also drops the callback's reference (possibly freeing it):
 * read what the record holds before calling it. */
void uvgo__ioreq_complete(uvgo__ioreq_t *io);

/* Waits for the callback.  Returns 0 once the request completed (the
 * caller reads its result, then calls uvgo__ioreq_release for a shared
 * record), or, when ctx ends first, the context's error after cancelling
 * the request where it can; the record is no longer the caller's then.
 * `what` names the wait in task dumps.  Thread: the task that started it. */
int uvgo__ioreq_wait(uvgo__ioreq_t *io, uvgo_ctx_t *ctx, const char *what);

/* Drops the task's reference to a shared record after a completed wait. */
void uvgo__ioreq_release(uvgo__ioreq_t *io);

/* Adds a reference to a shared record, for a record that outlives one
 * wait: a process's exit is waited for by any number of calls in turn,
 * each holding a reference of its own (which uvgo__ioreq_wait drops when
 * it gives up, and uvgo__ioreq_release after a completed wait), while the
 * reference uvgo__ioreq_init gave the task stays with the record's owner.
 * Thread: any holder of a reference. */
void uvgo__ioreq_retain(uvgo__ioreq_t *io);

#endif /* UVGO_IO_INTERNAL_H */
