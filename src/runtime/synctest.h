/* synctest.h: bubbles of virtual time (synctest.c; uvgo/synctest.h says
 * what they are for).
 *
 * A bubble belongs to one worker: its tasks are pinned there, and its
 * timers and sleepers sit in the bubble's own heap, keyed by the bubble's
 * clock, which only moves when every member is durably blocked.  Nothing a
 * member does depends on wall time or on another worker, which is what
 * makes a run repeatable.
 *
 * Counting.  Each member's bubble_state says whether it runs, is parked,
 * is parked durably (counted in `blocked`), or was woken before its park
 * was counted (a waker on another thread may ready a task between the
 * moment it publishes its waiter and its park: the park then counts
 * nothing, as the task is found runnable at once).  The task sets
 * park_durable right before a durable park; uvgo__task_park hands it here.
 * Whenever a member parks or ends, the bubble settles: if every member is
 * durably blocked, the clock jumps to the earliest timer and fires what is
 * due; with no timer left it is a deadlock.  A uvgo_synctest_wait caller
 * is woken instead when everyone else is durably blocked.
 *
 * Locking.  b->lock guards the heap, the clock's writes, the counts, the
 * waiter and the members' bubble_state.  Order: a timer's lock, then
 * b->lock, and nothing under it, as for a worker's timers_lock (rank
 * BUBBLE in base/lockrank.h; debug builds check it).
 *
 * References: the runner's, one per member, one per timer record and one
 * per channel made in the bubble; the last one frees it.
 */
#ifndef UVGO_SYNCTEST_INTERNAL_H
#define UVGO_SYNCTEST_INTERNAL_H

#include "runtime/runtime.h"

enum {
    UVGO_BUBBLE_RUNNING = 0,
    UVGO_BUBBLE_PARKED,  /* parked, not durably */
    UVGO_BUBBLE_DURABLE, /* parked durably: counted in blocked */
    UVGO_BUBBLE_WOKEN    /* readied before its park was counted */
};

struct uvgo_bubble {
    uvgo_spinlock_t lock;
    struct uvgo_worker *worker; /* immutable: where every member runs */
    _Atomic int64_t now;        /* the clock; written under lock */
    uvgo_heap_t timers;         /* under lock: sleepers and timers */
    long tasks;                 /* under lock: members not yet returned */
    long blocked;               /* under lock: members parked durably */
    uvgo_task_t *waiter;        /* under lock: in uvgo_synctest_wait */
    int deadlock;               /* under lock */
    uint64_t rand;              /* worker thread only: 0, or the shuffle */
    FILE *report;               /* immutable */
    uvgo_event_t ended;         /* set when tasks reaches 0, or deadlock */
    atomic_int refs;
};

/* The bubble of the calling task, or NULL. */
static inline struct uvgo_bubble *uvgo__bubble_self(void)
{
    uvgo_task_t *t = uvgo__task_self();
    return t ? t->bubble : NULL;
}

/* The time on the caller's clock: its bubble's, or the monotonic one. */
static inline int64_t uvgo__clock_now(void)
{
    struct uvgo_bubble *b = uvgo__bubble_self();
    if (UVGO_UNLIKELY(b != NULL))
        return atomic_load_explicit(&b->now, memory_order_relaxed);
    return (int64_t)uv_hrtime();
}

/* 0 if the caller may use an object of bubble `b` (NULL: none), else
 * UVGO_EBUBBLE: only members may touch a bubble's objects. */
static inline int uvgo__bubble_check(struct uvgo_bubble *b)
{
    if (UVGO_LIKELY(b == NULL))
        return 0;
    return uvgo__bubble_self() == b ? 0 : UVGO_EBUBBLE;
}

struct uvgo_bubble *uvgo__bubble_retain(struct uvgo_bubble *b);
void uvgo__bubble_release(struct uvgo_bubble *b);

/* Scheduler hooks, for members only (t->bubble != NULL): a member parks
 * (self, on its own thread, before switching out), is readied (any
 * thread), is spawned (the spawner's bubble; before it is queued) and
 * returns (self, before its last switch). */
void uvgo__bubble_park(uvgo_task_t *self);
void uvgo__bubble_ready(uvgo_task_t *t);
void uvgo__bubble_enter(uvgo_task_t *t, struct uvgo_bubble *b);
void uvgo__bubble_exit(uvgo_task_t *self);

/* time.c: fires the bubble's earliest timers.  Caller holds b->lock and
 * every member is durably blocked.  With a timer pending: moves the clock
 * to its deadline, takes every entry due by then, releases the lock, fires
 * them, and returns 1.  With none: returns 0, the lock still held. */
int uvgo__bubble_fire_next(struct uvgo_bubble *b);

/* task.c: spawns fn(arg) into bubble b (pinned to b's worker), from a
 * task outside it; and lists b's members as uvgo_dump() does, returning
 * how many there were. */
int uvgo__task_spawn_bubble(uvgo_task_t **task, uvgo_task_fn fn, void *arg,
                            const uvgo_task_opts_t *opts,
                            struct uvgo_bubble *b);
int uvgo__dump_bubble(FILE *out, struct uvgo_bubble *b);

#endif /* UVGO_SYNCTEST_INTERNAL_H */
