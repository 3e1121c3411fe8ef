/* synctest.c: bubbles of virtual time (runtime/synctest.h has the model,
 * uvgo/synctest.h the promise). */
#include "runtime/synctest.h"

#include <string.h>

struct uvgo_bubble *uvgo__bubble_retain(struct uvgo_bubble *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void uvgo__bubble_release(struct uvgo_bubble *b)
{
    /* acq_rel: the last one sees everything the others did. */
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        uvgo__free(b);
}

/* Lists the deadlocked members and wakes the runner. */
static void report_deadlock(struct uvgo_bubble *b, long n)
{
    fprintf(b->report,
            "uvgo: synctest: deadlock: all %ld task%s in the bubble are "
            "blocked and no timer of the bubble is pending:\n",
            n, n == 1 ? "" : "s");
    uvgo__dump_bubble(b->report, b);
    uvgo_event_set(&b->ended);
}

/* After a member parked or ended: wakes the uvgo_synctest_wait caller once
 * everyone else is durably blocked; else, while every member is durably
 * blocked, moves the clock to the next timer and fires it.  Caller holds
 * b->lock; it is released here. */
static void settle(struct uvgo_bubble *b)
{
    uvgo__assert(uvgo__spin_held(&b->lock));
    for (;;) {
        if (b->deadlock || b->tasks == 0) {
            break;
        } else if (b->waiter && b->blocked == b->tasks - 1) {
            uvgo_task_t *w = b->waiter;
            b->waiter = NULL;
            uvgo__spin_unlock(&b->lock);
            uvgo__task_ready(w);
            return;
        } else if (b->blocked < b->tasks) {
            break;
        } else if (uvgo__bubble_fire_next(b)) {
            /* It dropped the lock to fire.  Fired timers that readied
             * nobody (stopped since, or a send that found a full slot)
             * leave everyone blocked: look again. */
            uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
        } else {
            long n = b->tasks;
            b->deadlock = 1;
            uvgo__spin_unlock(&b->lock);
            report_deadlock(b, n);
            return;
        }
    }
    uvgo__spin_unlock(&b->lock);
}

void uvgo__bubble_park(uvgo_task_t *self)
{
    struct uvgo_bubble *b = self->bubble;
    int durable = self->park_durable;

    self->park_durable = 0;
    uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
    if (self->bubble_state == UVGO_BUBBLE_WOKEN) {
        /* Readied before this park was counted: it runs again at once. */
        self->bubble_state = UVGO_BUBBLE_RUNNING;
        uvgo__spin_unlock(&b->lock);
        return;
    }
    uvgo__assert(self->bubble_state == UVGO_BUBBLE_RUNNING);
    if (durable) {
        self->bubble_state = UVGO_BUBBLE_DURABLE;
        b->blocked++;
    } else {
        self->bubble_state = UVGO_BUBBLE_PARKED;
    }
    settle(b);
}

void uvgo__bubble_ready(uvgo_task_t *t)
{
    struct uvgo_bubble *b = t->bubble;

    uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
    switch (t->bubble_state) {
    case UVGO_BUBBLE_DURABLE:
        b->blocked--;
        /* fall through */
    case UVGO_BUBBLE_PARKED:
        t->bubble_state = UVGO_BUBBLE_RUNNING;
        break;
    default:
        /* Still running: its park is yet to come, and counts nothing. */
        t->bubble_state = UVGO_BUBBLE_WOKEN;
    }
    uvgo__spin_unlock(&b->lock);
}

void uvgo__bubble_enter(uvgo_task_t *t, struct uvgo_bubble *b)
{
    uvgo__bubble_retain(b);
    uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
    b->tasks++;
    uvgo__spin_unlock(&b->lock);
    t->bubble_state = UVGO_BUBBLE_RUNNING;
    t->park_durable = 0;
    /* Relaxed: a dump may read it now; the queues publish it to the rest. */
    __atomic_store_n(&t->bubble, b, __ATOMIC_RELAXED);
}

void uvgo__bubble_exit(uvgo_task_t *self)
{
    struct uvgo_bubble *b = self->bubble;
    int last;

    uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
    last = --b->tasks == 0;
    if (last)
        uvgo__spin_unlock(&b->lock);
    else
        settle(b);
    if (last)
        uvgo_event_set(&b->ended);
    uvgo__bubble_release(b);
}

int uvgo_synctest_run(uvgo_task_fn fn, void *arg, void **result,
                      const uvgo_synctest_opts_t *opts)
{
    uvgo_task_t *self = uvgo__task_self(), *root;
    uvgo_task_opts_t ro = {.name = "synctest"};
    struct uvgo_bubble *b;
    int err;

    if (!self)
        return UVGO_ENOTTASK;
    if (self->bubble)
        return UVGO_EBUBBLE; /* bubbles do not nest */
    if (!fn)
        return UVGO_EINVAL;
    b = uvgo__calloc(1, sizeof *b);
    if (!b)
        return UVGO_ENOMEM;
    b->worker = uvgo__worker_self();
    atomic_init(&b->now, UVGO_SYNCTEST_EPOCH);
    atomic_init(&b->refs, 1); /* ours */
    b->report = opts && opts->report ? opts->report : stderr;
    if (opts && opts->seed) {
        /* splitmix64 of the seed: xorshift must not start at 0. */
        uint64_t z = opts->seed + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        b->rand = (z ^ (z >> 31)) | 1;
    }
    if ((err = uvgo__task_spawn_bubble(&root, fn, arg, &ro, b))) {
        uvgo__bubble_release(b);
        return err;
    }
    /* Not a member: nothing we wait on here is the bubble's. */
    uvgo_event_wait(&b->ended, "synctest bubble");
    uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
    err = b->deadlock ? UVGO_EDEADLOCK : 0;
    uvgo__spin_unlock(&b->lock);
    if (err) {
        uvgo_task_detach(root); /* blocked for good */
    } else {
        uvgo_task_join(root, result);
    }
    uvgo__bubble_release(b);
    return err;
}

int uvgo_synctest_wait(void)
{
    uvgo_task_t *self = uvgo__task_self();
    struct uvgo_bubble *b = self ? self->bubble : NULL;

    if (!b)
        return UVGO_EBUBBLE;
    uvgo__spin_lock(&b->lock, UVGO_RANK_BUBBLE);
    if (b->waiter) {
        uvgo__spin_unlock(&b->lock);
        return UVGO_EBUSY;
    }
    if (b->blocked == b->tasks - 1) {
        uvgo__spin_unlock(&b->lock);
        return 0; /* everyone else is durably blocked already */
    }
    b->waiter = self;
    uvgo__spin_unlock(&b->lock);
    /* Not durable: while we wait, the clock stands still.  settle()
     * readies us. */
    uvgo__task_park("synctest.Wait");
    return 0;
}

int uvgo_synctest_in_bubble(void)
{
    return uvgo__bubble_self() != NULL;
}
