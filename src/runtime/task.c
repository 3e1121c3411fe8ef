/* task.c: task records: spawning, entry and exit, join, task-local storage,
 * events, and the views of all tasks (walk, dump, panic).
 *
 * Records and stacks.  A task is a small record (this file) plus a stack
 * (stack.c), as Go pairs a g with a stack.  The stack is reserved when the
 * task is spawned, so that a spawn that cannot have one fails with
 * UVGO_ENOMEM and a task that was spawned always runs.  A task spawned on
 * a worker for that worker (the common case) is promised a stack of its
 * cache and takes the warmest one when it first runs, as stacks attached
 * at the first run used to be: a burst of spawns runs on the stack each
 * task frees for the next.  A stolen task takes a spare stack where it
 * runs and gives the promise back, or, where no stack can be had, goes
 * home (uvgo__task_first_run).  Other spawns (off the workers, for another
 * worker) are handed a stack at once, which the task may trade at its
 * first run for one warm where it runs (uvgo__stack_trade).  Rejected:
 * attaching the stack when the task first runs, which let spawn succeed
 * and then had nobody to tell when no stack could be had but an abort; and
 * handing every task its stack at spawn, which made each queued task of a
 * burst warm a stack of its own (bench spawn 10-20% slower, RSS +40%).
 * Records come from per-worker free lists (no lock), refilled from and
 * spilled to a global list in batches, carved from chunks that are never
 * returned to the kernel (a record is ~200 bytes).
 *
 * Lifetime.  A record holds up to two references: one while the task runs
 * (dropped by the worker that switches it out for the last time, which also
 * frees the stack, now that nothing runs on it) and one for a joinable
 * handle (dropped by join or detach).  The last reference frees the record.
 *
 * Enumeration costs nothing on the spawn path: there is no list of tasks.
 * A dump walks the record chunks; a free record reads UVGO_TASK_FREE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/chan.h"
#include "runtime/runtime.h"
#include "runtime/synctest.h"
#include "runtime/trace.h"

#if defined(UVGO_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#if defined(UVGO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#ifndef UVGO_DEFAULT_STACK_SIZE
#define UVGO_DEFAULT_STACK_SIZE 65536
#endif
#define MAX_STACK_SIZE ((size_t)1 << 30)
#define ID_BLOCK 1024

#define REC_SIZE ((sizeof(uvgo_task_t) + 63) & ~(size_t)63)
#define REC_CHUNK_BYTES ((size_t)1 << 20)
#define REC_BATCH 64      /* records moved to or from the global list at once */
#define REC_LOCAL_MAX 256 /* a worker's free list beyond this spills half */

#define EVENT_SET ((uintptr_t)1)

static atomic_uint_fast64_t next_id_block = 1;

/* ---- records ------------------------------------------------------------ */

struct rec_chunk {
    struct rec_chunk *_Atomic next; /* push-only list, for walks */
    atomic_size_t used;             /* records carved so far */
    size_t cap;
};

static struct {
    pthread_mutex_t lock;
    uvgo_task_t *free; /* under lock, linked through next */
    size_t nfree;
    struct rec_chunk *_Atomic chunks; /* newest first */
    unsigned fresh_gen;               /* under lock */
} recs = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL, 0};

static inline char *chunk_base(struct rec_chunk *c)
{
    return (char *)c + REC_SIZE; /* the header takes the first slot */
}

/* Takes up to `want` records from the global list or fresh chunk space into
 * a list.  Caller holds recs.lock. */
static uvgo_task_t *rec_grab_locked(size_t want, size_t *got)
{
    uvgo_task_t *list = NULL;
    size_t n = 0;

    uvgo__assert(uvgo__mutex_held(&recs.lock));
    while (n < want && recs.free) {
        uvgo_task_t *t = recs.free;
        recs.free = t->next;
        recs.nfree--;
        t->next = list;
        list = t;
        n++;
    }
    while (n < want) {
        struct rec_chunk *c = atomic_load(&recs.chunks);
        if (!c || atomic_load(&c->used) == c->cap) {
            c = mmap(NULL, REC_CHUNK_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (c == MAP_FAILED)
                break;
            if (!uvgo__handle_fits(c)) { /* no room for a handle's tag */
                munmap(c, REC_CHUNK_BYTES);
                break;
            }
            c->cap = REC_CHUNK_BYTES / REC_SIZE - 1;
            atomic_store(&c->used, 0);
            atomic_store(&c->next, atomic_load(&recs.chunks));
            atomic_store(&recs.chunks, c);
        }
        size_t u = atomic_load(&c->used);
        uvgo_task_t *t = (uvgo_task_t *)(chunk_base(c) + u * REC_SIZE);
        atomic_store(&c->used, u + 1);
        /* Fresh records start at different generations, so that a handle
         * kept from an earlier runtime (records are unmapped when it
         * ends) hardly ever matches a record now at its address. */
        recs.fresh_gen += 2;
        atomic_init(&t->gen, recs.fresh_gen);
        t->next = list;
        list = t;
        n++;
    }
    *got = n;
    return list;
}

static uvgo_task_t *rec_alloc(struct uvgo_worker *w)
{
    uvgo_task_t *t;
    size_t got;

    if (w && w->rec_free) {
        t = w->rec_free;
        w->rec_free = t->next;
        w->rec_nfree--;
        return t;
    }
    uvgo__mutex_lock(&recs.lock, UVGO_RANK_TASK_RECORDS);
    t = rec_grab_locked(w ? REC_BATCH : 1, &got);
    uvgo__mutex_unlock(&recs.lock);
    if (!t)
        return NULL;
    if (w) {
        w->rec_free = t->next;
        w->rec_nfree = (unsigned)got - 1;
    }
    return t;
}

static void rec_free(struct uvgo_worker *w, uvgo_task_t *t)
{
    if (w) {
        t->next = w->rec_free;
        w->rec_free = t;
        if (++w->rec_nfree <= REC_LOCAL_MAX)
            return;
        /* Spill half, keeping the most recently freed (warmest). */
        uvgo_task_t *keep_last = w->rec_free;
        for (unsigned i = 1; i < REC_LOCAL_MAX / 2; i++)
            keep_last = keep_last->next;
        uvgo_task_t *spill = keep_last->next, *last = spill;
        size_t n = 1;
        while (last->next) {
            last = last->next;
            n++;
        }
        keep_last->next = NULL;
        w->rec_nfree = REC_LOCAL_MAX / 2;
        uvgo__mutex_lock(&recs.lock, UVGO_RANK_TASK_RECORDS);
        last->next = recs.free;
        recs.free = spill;
        recs.nfree += n;
        uvgo__mutex_unlock(&recs.lock);
        return;
    }
    uvgo__mutex_lock(&recs.lock, UVGO_RANK_TASK_RECORDS);
    t->next = recs.free;
    recs.free = t;
    recs.nfree++;
    uvgo__mutex_unlock(&recs.lock);
}

void uvgo__task_records_walk(void (*cb)(uvgo_task_t *t, void *arg), void *arg)
{
    for (struct rec_chunk *c = atomic_load(&recs.chunks); c;
         c = atomic_load(&c->next)) {
        size_t used = atomic_load(&c->used);
        for (size_t i = 0; i < used; i++)
            cb((uvgo_task_t *)(chunk_base(c) + i * REC_SIZE), arg);
    }
}

void uvgo__task_records_reset(void)
{
    uvgo__mutex_lock(&recs.lock, UVGO_RANK_TASK_RECORDS);
    struct rec_chunk *c = atomic_load(&recs.chunks);
    while (c) {
        struct rec_chunk *next = atomic_load(&c->next);
        munmap(c, REC_CHUNK_BYTES);
        c = next;
    }
    atomic_store(&recs.chunks, NULL);
    recs.free = NULL;
    recs.nfree = 0;
    uvgo__mutex_unlock(&recs.lock);
}

/* ---- creation ----------------------------------------------------------- */

/* Zeroes a free record for a new task: everything but the state, which a
 * concurrent dump may be reading (it is FREE), the generation, which a
 * stale handle may be reading (it goes on counting), and the id and name,
 * which the monitor may be reading (they are written whole at spawn, with
 * atomics: see uvgo__task_peek). */
static void record_clear(uvgo_task_t *t)
{
    char *p = (char *)t;
    size_t first = offsetof(uvgo_task_t, state);
    size_t rest = offsetof(uvgo_task_t, gen) + sizeof t->gen;
    size_t id = offsetof(uvgo_task_t, id), id_end = id + sizeof t->id;
    size_t name = offsetof(uvgo_task_t, name);
    size_t name_end = name + sizeof t->name;

    /* state, flags, on_cpu, resume and gen lie together (runtime.h); of
     * those in between, a free record has on_cpu 0 (cleared after its
     * task's last switch, before it was freed, or never set) and the
     * caller sets flags and resume. */
    _Static_assert(offsetof(uvgo_task_t, gen) - offsetof(uvgo_task_t, state) <
                       8,
                   "state and gen must lie together");
    _Static_assert(offsetof(uvgo_task_t, gen) + sizeof(unsigned) <=
                           offsetof(uvgo_task_t, id) &&
                       offsetof(uvgo_task_t, id) + sizeof(uint64_t) <=
                           offsetof(uvgo_task_t, name),
                   "record_clear skips gen, id and name in that order");
    memset(p, 0, first);
    memset(p + rest, 0, id - rest);
    memset(p + id_end, 0, name - id_end);
    memset(p + name_end, 0, sizeof *t - name_end);
}

/* The name, in words: the monitor's copy is made of relaxed loads. */
#define NAME_WORDS (UVGO_TASK_NAME_MAX / sizeof(uint64_t))
_Static_assert(UVGO_TASK_NAME_MAX % sizeof(uint64_t) == 0,
               "a task name is whole words");

/* The name of a task spawned without one, in words. */
static const union {
    char c[UVGO_TASK_NAME_MAX];
    uint64_t w[NAME_WORDS];
} default_name = {"task"};

/* Copies name (cut to fit, NUL-padded) into dst for record_name. */
static UVGO_NOINLINE void name_copy(uint64_t *dst, const char *name)
{
    uint64_t w[NAME_WORDS] = {0};
    size_t n = strlen(name);

    if (n >= UVGO_TASK_NAME_MAX)
        n = UVGO_TASK_NAME_MAX - 1;
    memcpy(w, name, n);
    /* relaxed: see record_name. */
    for (size_t i = 0; i < NAME_WORDS; i++)
        __atomic_store_n(&dst[i], w[i], __ATOMIC_RELAXED);
}

/* Writes t's id and name (NULL: "task") for uvgo__task_peek.  Inline, so
 * that the default name is a few stores of constants: most tasks have
 * it, and copying a name through a buffer was most of what bench spawn
 * paid over 1e85b25 (fifty instructions). */
static inline void record_name(uvgo_task_t *t, uint64_t id, const char *name)
{
    uint64_t *dst = (uint64_t *)(void *)t->name;

    /* relaxed: the monitor's lock-free reads; others see the spawn's
     * release of t->state. */
    __atomic_store_n(&t->id, id, __ATOMIC_RELAXED);
    if (UVGO_UNLIKELY(name != NULL)) {
        name_copy(dst, name);
        return;
    }
    /* Spelled out: GCC keeps a loop of atomic stores a loop, and loads
     * each word instead of storing constants. */
    _Static_assert(NAME_WORDS == 4, "four words of default name");
    __atomic_store_n(&dst[0], default_name.w[0], __ATOMIC_RELAXED);
    __atomic_store_n(&dst[1], default_name.w[1], __ATOMIC_RELAXED);
    __atomic_store_n(&dst[2], default_name.w[2], __ATOMIC_RELAXED);
    __atomic_store_n(&dst[3], default_name.w[3], __ATOMIC_RELAXED);
}

void uvgo__task_peek(const uvgo_task_t *t, uint64_t *id,
                     char name[UVGO_TASK_NAME_MAX])
{
    const uint64_t *src = (const uint64_t *)(const void *)t->name;
    uint64_t w[NAME_WORDS];

    /* relaxed: pairs with record_name; a reused record can tear the copy,
     * which the caller rules out (see runtime.h). */
    *id = __atomic_load_n(&t->id, __ATOMIC_RELAXED);
    for (size_t i = 0; i < NAME_WORDS; i++)
        w[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    memcpy(name, w, UVGO_TASK_NAME_MAX);
    name[UVGO_TASK_NAME_MAX - 1] = '\0';
}

/* The task behind a handle, or NULL (see uvgo__handle_record). */
static uvgo_task_t *handle_task(const uvgo_task_t *h)
{
    return uvgo__handle_record(h, offsetof(uvgo_task_t, gen));
}

/* The handle the program sees for t. */
static uvgo_task_t *task_handle(const uvgo_task_t *t)
{
    return uvgo__handle_make(
        t, atomic_load_explicit(&t->gen, memory_order_relaxed));
}

static uint64_t new_id(struct uvgo_worker *w)
{
    if (!w)
        return atomic_fetch_add(&next_id_block, 1);
    if (w->next_id == w->id_end) {
        w->next_id = atomic_fetch_add(&next_id_block, ID_BLOCK);
        w->id_end = w->next_id + ID_BLOCK;
    }
    return w->next_id++;
}

static void count_add(atomic_long *c)
{
    /* Only the owning worker writes; readers sum the counters. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

int uvgo__task_create(uvgo_task_t **out, uvgo_task_fn fn, void *arg,
                      const uvgo_task_opts_t *opts, struct uvgo_worker *w,
                      int home, int joinable)
{
    size_t size = opts && opts->stack_size ? opts->stack_size
                                           : (size_t)UVGO_DEFAULT_STACK_SIZE;
    const char *name = opts ? opts->name : NULL; /* NULL: "task" */
    uvgo_task_t *t;

    if (size > MAX_STACK_SIZE)
        return UVGO_EINVAL;
    t = rec_alloc(w);
    if (!t)
        return UVGO_ENOMEM;
    record_clear(t);
    /* The stack is reserved now, so that running out of memory or address
     * space fails the spawn instead of the task (see the top of the file):
     * promised by the worker the task is queued on, else handed out.  (A
     * failure leaves the record cleared, which a free record may be.) */
    if (UVGO_LIKELY(home)
            ? uvgo__stack_promise(&w->stacks, size, &t->stack) != 0
            : !uvgo__stack_alloc(w ? &w->stacks : NULL, size, &t->stack)) {
        rec_free(w, t);
        return UVGO_ENOMEM;
    }
    if (!t->stack.lo)
        t->promiser = w;
    t->resume = UVGO_RESUME_FRESH;
    t->stack_want = size;
    t->fn = fn;
    t->arg = arg;
    t->flags = (uint8_t)((opts ? opts->flags : 0) & UVGO_TASK_PINNED);
    if (joinable)
        t->flags |= UVGO_TASK_JOINABLE;
    atomic_init(&t->refs, joinable ? 2 : 1);
    uvgo__handle_renew(&t->gen);
    record_name(t, new_id(w), name);
#if defined(UVGO_TSAN)
    t->tsan_fiber = __tsan_create_fiber(0);
    __tsan_set_fiber_name(t->tsan_fiber, t->name);
#endif
    /* release: a dump that sees the state sees the fields above. */
    atomic_store_explicit(&t->state, UVGO_TASK_RUNNABLE, memory_order_release);
    if (w)
        count_add(&w->spawned);
    else
        atomic_fetch_add(&atomic_load(&uvgo__rt)->foreign_spawned, 1);
    *out = t;
    return 0;
}

int uvgo__task_first_run(struct uvgo_worker *w, uvgo_task_t *t)
{
    char *top, *frames;

    if (t->promiser) {
        if (UVGO_UNLIKELY(uvgo__stack_redeem(&w->stacks, &t->promiser->stacks,
                                             &t->stack) != 0)) {
            /* No stack here and no memory for one: the worker that
             * promised one keeps it for this task. */
            uvgo__task_set_worker(t, t->promiser);
            uvgo__inbox_put(t->promiser, t);
            return 0;
        }
        t->promiser = NULL;
    } else {
        uvgo__stack_trade(&w->stacks, &t->stack, (unsigned)w->id + 1);
    }
    top = t->stack.lo + t->stack.size;
    frames = top - UVGO_STACK_TOP_RESERVE;

#if defined(UVGO_ASAN)
    /* A recycled stack may still carry poisoned redzones of frames that
     * never returned. */
    ASAN_UNPOISON_MEMORY_REGION(t->stack.lo, t->stack.size);
#endif
    *(uvgo_task_t **)(top - UVGO_STACK_TOP_RESERVE) = t;
    uvgo__switch_make(&t->ctx, t->stack.lo, (size_t)(frames - t->stack.lo),
                      uvgo__task_entry, t);
#if defined(UVGO_ASAN)
    t->asan_bottom = t->stack.lo;
    t->asan_size = (size_t)(frames - t->stack.lo);
#endif
    t->resume &= (uint8_t)~UVGO_RESUME_FRESH;
    return 1;
}

/* Spawns as uvgo_task_spawn documents; `site` is the spawner's code
 * address, for dumps ("spawned at").  Inlined into each entry point: the
 * call with six arguments cost bench spawn fifteen instructions a task. */
static inline __attribute__((always_inline)) int
spawn(uvgo_task_t **task, uvgo_task_fn fn, void *arg,
      const uvgo_task_opts_t *opts, const void *site, struct uvgo_bubble *b)
{
    struct uvgo_runtime *rt =
        atomic_load_explicit(&uvgo__rt, memory_order_acquire);
    struct uvgo_worker *self, *target;
    uvgo_task_opts_t in_bubble;
    uvgo_task_t *t;
    int err;

    if (!rt)
        return UVGO_ENOTTASK;
    if (!fn || (opts && (opts->worker < 0 || opts->worker > rt->nworkers)))
        return UVGO_EINVAL;
    self = uvgo__worker_self();
    if (self && self->rt != rt)
        self = NULL;
    /* A task started by a member of a synctest bubble joins the bubble,
     * on the bubble's worker, for good. */
    if (!b)
        b = uvgo__bubble_self();
    if (UVGO_UNLIKELY(b != NULL)) {
        in_bubble = opts ? *opts : (uvgo_task_opts_t){0};
        in_bubble.worker = b->worker->id + 1;
        in_bubble.flags |= UVGO_TASK_PINNED;
        opts = &in_bubble;
    }
    /* Backpressure: a task that fills its worker's run queue takes a turn
     * behind what it queued, instead of spilling an unbounded backlog to
     * the global queue.  A spawn loop then alternates with the tasks it
     * starts, and their records and stacks recycle while still warm.  This
     * is the only case where spawning is a scheduling point (as Go's
     * preemption would, eventually); from outside a task it never is.
     * The yield may resume us on another worker: look again. */
    if (self && self->current != &self->sched && uvgo__runq_full(self)) {
        uvgo_task_yield();
        self = uvgo__worker_self();
    }
    if (opts && opts->worker)
        target = rt->workers[opts->worker - 1];
    else if (self)
        target = self;
    else
        target =
            rt->workers[atomic_fetch_add(&rt->rr, 1) % (unsigned)rt->nworkers];
    /* Off the workers (self NULL) there is no record cache, and the count
     * is a shared one. */
    err = uvgo__task_create(&t, fn, arg, opts, self,
                            self != NULL && target == self, task != NULL);
    if (err)
        return err;
    if (task)
        *task = task_handle(t);
    if (UVGO_UNLIKELY(b != NULL))
        uvgo__bubble_enter(t, b);
    uvgo__latency_mark(self, t);
    /* Relaxed: dumps may read it; the record is already published. */
    __atomic_store_n(&t->spawn_site, site, __ATOMIC_RELAXED);
    uvgo__task_set_worker(t, target);
    if (target == self) {
        uvgo__runq_put(self, t);
    } else {
        uvgo__inbox_put(target, t);
    }
    return 0;
}

int uvgo_task_spawn(uvgo_task_t **task, uvgo_task_fn fn, void *arg,
                    const uvgo_task_opts_t *opts)
{
    return spawn(task, fn, arg, opts, __builtin_return_address(0), NULL);
}

int uvgo_go(uvgo_task_fn fn, void *arg)
{
    return spawn(NULL, fn, arg, NULL, __builtin_return_address(0), NULL);
}

int uvgo__task_spawn_bubble(uvgo_task_t **task, uvgo_task_fn fn, void *arg,
                            const uvgo_task_opts_t *opts, struct uvgo_bubble *b)
{
    return spawn(task, fn, arg, opts, __builtin_return_address(0), b);
}

void uvgo__go_or_die(uvgo_task_fn fn, void *arg, const char *what)
{
    int err = uvgo_go(fn, arg);
    if (UVGO_UNLIKELY(err))
        uvgo__panic("cannot start the task of %s: %s", what,
                    uvgo_strerror(err));
}

/* ---- running and ending ------------------------------------------------ */

static void locals_destroy(uvgo_task_t *t);

void uvgo__task_entry(void *arg)
{
    uvgo_task_t *t = arg;
    struct uvgo_runtime *rt;

    uvgo__sched_task_started();
    t->result = t->fn(t->arg);
    if (t->locals)
        locals_destroy(t);
    rt = atomic_load(&uvgo__rt);
    if (t == rt->main_task) {
        rt->main_result = t->result;
        uvgo__sched_stop_all(rt);
    }
    atomic_store_explicit(&t->state, UVGO_TASK_EXITED, memory_order_relaxed);
    uvgo_event_set(&t->done);
    /* After the joiners were woken: a member blocked joining us must not
     * count as durably blocked when the bubble settles. */
    if (UVGO_UNLIKELY(t->bubble != NULL))
        uvgo__bubble_exit(t);
    uvgo__task_exit();
}

static void task_free(struct uvgo_worker *w, uvgo_task_t *t)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);

    atomic_store_explicit(&t->state, UVGO_TASK_FREE, memory_order_relaxed);
    if (w) {
        count_add(&w->freed);
    } else if (rt) {
        atomic_fetch_add(&rt->foreign_freed, 1);
    }
    rec_free(w, t);
}

void uvgo__task_unref(uvgo_task_t *t)
{
    /* acq_rel: the last releaser sees every write the others made. */
    int old = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel);
    uvgo__assert(old > 0 && old <= 2); /* running, and a joinable handle */
    if (old == 1) {
        struct uvgo_worker *w = uvgo__worker_self();
        if (w && w->rt != atomic_load(&uvgo__rt))
            w = NULL;
        task_free(w, t);
    }
}

void uvgo__task_exited(struct uvgo_worker *w, uvgo_task_t *t)
{
#if defined(UVGO_TSAN)
    __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#endif
    /* Nothing runs on the stack any more: it goes back now, even if a
     * joinable record lingers. */
    t->stack.home = (uint16_t)(w->id + 1);
    uvgo__stack_free(&w->stacks, &t->stack);
    t->stack.lo = NULL;
    int old = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel);
    uvgo__assert(old > 0 && old <= 2);
    if (old == 1)
        task_free(w, t);
}

void uvgo__task_discard(struct uvgo_worker *w, uvgo_task_t *t)
{
#if defined(UVGO_TSAN)
    __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#endif
    if (t->promiser)
        uvgo__stack_unpromise(&w->stacks, &t->promiser->stacks, &t->stack);
    else if (t->stack.lo)
        uvgo__stack_free(&w->stacks, &t->stack);
    t->stack.lo = NULL;
    t->promiser = NULL;
    task_free(w, t);
}

int uvgo__task_join_done(uvgo_task_t *handle, void **result, uvgo_chan_t *done)
{
    uvgo_task_t *self = uvgo__task_self(), *task;
    int err;

    if (!self)
        return UVGO_ENOTTASK;
    task = handle_task(handle);
    /* Relaxed atomic: the task may be setting UVGO_TASK_BOUND in the same
     * byte (uvgo_loop_enter); JOINABLE itself never changes. */
    if (!task || task == self ||
        !(__atomic_load_n(&task->flags, __ATOMIC_RELAXED) & UVGO_TASK_JOINABLE))
        return UVGO_EINVAL;
    /* Joining a task of one's own bubble is durable (see synctest.h). */
    if (UVGO_UNLIKELY(self->bubble != NULL) && task->bubble == self->bubble)
        self->park_durable = 1;
    /* When `done` wins the handle stays valid: join it again later. */
    err = uvgo__event_wait_done(&task->done, "task join", done);
    self->park_durable = 0; /* if the wait did not park */
    if (err)
        return err;
    if (!uvgo__handle_consume(handle, &task->gen))
        return UVGO_EINVAL; /* a concurrent join or detach took it */
    if (result)
        *result = task->result;
    uvgo__task_unref(task);
    return 0;
}

int uvgo_task_join(uvgo_task_t *task, void **result)
{
    return uvgo__task_join_done(task, result, NULL);
}

int uvgo_task_detach(uvgo_task_t *handle)
{
    uvgo_task_t *task = handle_task(handle);
    if (!task ||
        !(__atomic_load_n(&task->flags, __ATOMIC_RELAXED) &
          UVGO_TASK_JOINABLE) ||
        !uvgo__handle_consume(handle, &task->gen))
        return UVGO_EINVAL;
    uvgo__task_unref(task);
    return 0;
}

uvgo_task_t *uvgo_task_self(void)
{
    uvgo_task_t *t = uvgo__task_self();
    return t ? task_handle(t) : NULL;
}

uint64_t uvgo_task_id(const uvgo_task_t *task)
{
    const uvgo_task_t *t = task ? handle_task(task) : uvgo__task_self();
    return t ? t->id : 0;
}

const char *uvgo_task_name(const uvgo_task_t *task)
{
    const uvgo_task_t *t = task ? handle_task(task) : uvgo__task_self();
    return t ? t->name : "";
}

/* ---- task-local storage ------------------------------------------------ */

static void (*key_destructor[UVGO_TASK_KEYS_MAX])(void *);
static atomic_uint key_count;

int uvgo_task_key_create(uvgo_task_key_t *key, void (*destructor)(void *))
{
    unsigned k;
    if (!key)
        return UVGO_EINVAL;
    k = atomic_load(&key_count);
    do {
        if (k >= UVGO_TASK_KEYS_MAX)
            return UVGO_EAGAIN;
    } while (!atomic_compare_exchange_weak(&key_count, &k, k + 1));
    key_destructor[k] = destructor;
    *key = k;
    return 0;
}

void *uvgo_task_local_get(uvgo_task_key_t key)
{
    uvgo_task_t *t = uvgo__task_self();
    if (!t || !t->locals || key >= UVGO_TASK_KEYS_MAX)
        return NULL;
    return t->locals[key];
}

int uvgo_task_local_set(uvgo_task_key_t key, void *value)
{
    uvgo_task_t *t = uvgo__task_self();
    if (!t)
        return UVGO_ENOTTASK;
    if (key >= atomic_load(&key_count))
        return UVGO_EINVAL;
    if (!t->locals) {
        if (!value)
            return 0;
        /* One array per task that uses locals; most tasks never pay. */
        t->locals = uvgo__calloc(UVGO_TASK_KEYS_MAX, sizeof(void *));
        if (!t->locals)
            return UVGO_ENOMEM;
    }
    t->locals[key] = value;
    return 0;
}

static void locals_destroy(uvgo_task_t *t)
{
    /* A destructor may set values again: retry a few rounds, as pthreads
     * does (PTHREAD_DESTRUCTOR_ITERATIONS). */
    for (int round = 0; round < 4; round++) {
        int again = 0;
        unsigned n = atomic_load(&key_count);
        for (unsigned k = 0; k < n; k++) {
            void *v = t->locals[k];
            if (v && key_destructor[k]) {
                t->locals[k] = NULL;
                key_destructor[k](v);
                again = 1;
            }
        }
        if (!again)
            break;
    }
    uvgo__free(t->locals);
    t->locals = NULL;
}

/* ---- events ------------------------------------------------------------- *
 *
 * An event's word is 0 (unset), EVENT_SET, or the address of the one
 * waiter, a uvgo_waiter_t on the waiting task's stack.  A waiter bounded
 * by a context can be woken by the event or by the context; they race for
 * its claim word.  If the context wins, the waiter takes its address back
 * out of the word with a CAS; if a setter already swapped it out, the
 * setter still holds the address, and the waiter waits (a few
 * instructions) for the setter to set its `given` (done with it) before
 * its frame may go.
 */

int uvgo__event_wait_done(uvgo_event_t *ev, const char *what, uvgo_chan_t *done)
{
    uvgo_task_t *self = uvgo__task_self();
    uvgo_waiter_t w;
    uintptr_t s;

    if (!self)
        return UVGO_ENOTTASK;
    if (!ev)
        return UVGO_EINVAL;
    s = __atomic_load_n(&ev->state_, __ATOMIC_ACQUIRE);
    if (s == EVENT_SET)
        return 0;
    if (s != 0)
        return UVGO_EINVAL;
    uvgo__waiter_init(&w, self, NULL);
    /* acq_rel: pairs with the exchange in uvgo_event_set(). */
    if (!__atomic_compare_exchange_n(&ev->state_, &s, (uintptr_t)&w, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return s == EVENT_SET ? 0 : UVGO_EINVAL;
    if (uvgo__park_or_done(&w, done, what ? what : "event") == 1)
        return 0;
    /* The context won: withdraw, or wait for the setter to let go. */
    s = (uintptr_t)&w;
    if (!__atomic_compare_exchange_n(&ev->state_, &s, 0, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        /* acquire: pairs with the setter's release of given. */
        while (!__atomic_load_n(&w.given, __ATOMIC_ACQUIRE))
            uvgo__cpu_relax();
    }
    return UVGO__DONE;
}

int uvgo_event_wait(uvgo_event_t *ev, const char *what)
{
    return uvgo__event_wait_done(ev, what, NULL);
}

void uvgo_event_set(uvgo_event_t *ev)
{
    uvgo_waiter_t *w;
    uvgo_task_t *t;
    int won;

    if (!ev)
        return;
    /* acq_rel: pairs with the waiter's CAS; what the setter wrote before is
     * visible to the waiter once it runs. */
    w = (uvgo_waiter_t *)__atomic_exchange_n(&ev->state_, EVENT_SET,
                                             __ATOMIC_ACQ_REL);
    if ((uintptr_t)w <= EVENT_SET)
        return;
    t = w->task;
    won = uvgo__waiter_claim(w);
    /* release: after this the waiter's frame may go; touch it no more. */
    __atomic_store_n(&w->given, 1, __ATOMIC_RELEASE);
    if (won)
        uvgo__task_ready(t);
}

/* ---- views of all tasks -------------------------------------------------- */

static const char *state_name(int s)
{
    switch (s) {
    case UVGO_TASK_RUNNABLE:
        return "runnable";
    case UVGO_TASK_RUNNING:
        return "running";
    case UVGO_TASK_WAITING:
        return "waiting";
    case UVGO_TASK_EXITED:
        return "exited";
    }
    return "free";
}

struct walk {
    int (*cb)(const uvgo_task_info_t *, void *);
    void *arg;
    int count;
    int stop;
};

/* Fills info (and name, which info points to) from a record in use;
 * returns 0 for a free record. */
static int record_info(uvgo_task_t *t, uvgo_task_info_t *info,
                       char name[UVGO_TASK_NAME_MAX])
{
    /* acquire: pairs with the release that publishes a new record. */
    int state = atomic_load_explicit(&t->state, memory_order_acquire);
    if (state == UVGO_TASK_FREE)
        return 0;
    /* As the monitor reads them: the record may be reused under a walk. */
    uvgo__task_peek(t, &info->id, name);
    info->name = name;
    info->state = state_name(state);
    info->wait = atomic_load_explicit(&t->wait, memory_order_relaxed);
    if (!info->wait || state != UVGO_TASK_WAITING)
        info->wait = "";
    struct uvgo_worker *w = __atomic_load_n(&t->worker, __ATOMIC_RELAXED);
    info->worker = w ? w->id : -1;
    info->stack_size = t->stack_want;
    info->spawn_site = __atomic_load_n(&t->spawn_site, __ATOMIC_RELAXED);
    return 1;
}

static void walk_record(uvgo_task_t *t, void *arg)
{
    struct walk *wk = arg;
    uvgo_task_info_t info;
    char name[UVGO_TASK_NAME_MAX];

    if (wk->stop || !record_info(t, &info, name))
        return;
    wk->count++;
    if (wk->cb) {
        int r = wk->cb(&info, wk->arg);
        if (r)
            wk->stop = r;
    }
}

int uvgo_task_walk(int (*cb)(const uvgo_task_info_t *info, void *arg),
                   void *arg)
{
    struct walk wk = {cb, arg, 0, 0};
    uvgo__task_records_walk(walk_record, &wk);
    return wk.stop ? wk.stop : wk.count;
}

long uvgo__task_live(struct uvgo_runtime *rt)
{
    long n =
        atomic_load(&rt->foreign_spawned) - atomic_load(&rt->foreign_freed);
    for (int i = 0; i < rt->nworkers; i++)
        n += atomic_load(&rt->workers[i]->spawned) -
             atomic_load(&rt->workers[i]->freed);
    return n;
}

int uvgo_task_count(void)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    return rt ? (int)uvgo__task_live(rt) : 0;
}

struct dump {
    FILE *out;
    int count;
    /* Leak checks: tasks not to list. */
    uvgo_task_t *skip;
    const char *const *ignore;
    /* A bubble's deadlock report: only its members. */
    struct uvgo_bubble *bubble;
};

/* Whether a leak check lists t: not the caller, not an ignored name. */
static int leak_counts(const struct dump *d, uvgo_task_t *t, const char *name)
{
    if (t == d->skip)
        return 0;
    for (const char *const *ig = d->ignore; ig && *ig; ig++)
        if (strcmp(*ig, name) == 0)
            return 0;
    return 1;
}

/* One task: a line for what it is doing, its call stack when parked, and
 * where it was spawned. */
static void dump_record(uvgo_task_t *t, void *arg)
{
    struct dump *d = arg;
    uvgo_task_info_t info;
    char name[UVGO_TASK_NAME_MAX], sym[192];
    void *pcs[UVGO_TRACE_FRAMES];
    int n;

    if (!record_info(t, &info, name) || !leak_counts(d, t, name) ||
        (d->bubble &&
         __atomic_load_n(&t->bubble, __ATOMIC_RELAXED) != d->bubble))
        return;
    d->count++;
    if (!d->out)
        return;
    fprintf(d->out, "  task %llu \"%s\": %s%s%s (worker %d, stack %zu)\n",
            (unsigned long long)info.id, info.name, info.state,
            info.wait[0] ? " on " : "", info.wait, info.worker,
            info.stack_size);
    n = uvgo__task_stack(t, pcs, UVGO_TRACE_FRAMES);
    for (int i = 0; i < n; i++) {
        uvgo__symbolize(pcs[i], sym, sizeof sym);
        fprintf(d->out, "      %s\n", sym);
    }
    if (info.spawn_site) {
        uvgo__symbolize(info.spawn_site, sym, sizeof sym);
        fprintf(d->out, "      spawned at %s\n", sym);
    }
}

void uvgo_dump(FILE *out)
{
    struct dump d = {out, 0, NULL, NULL, NULL};
    if (!out)
        return;
    fprintf(out, "uvgo: tasks:\n");
    uvgo__task_records_walk(dump_record, &d);
    fprintf(out, "uvgo: %d task%s\n", d.count, d.count == 1 ? "" : "s");
    fflush(out);
}

int uvgo__dump_bubble(FILE *out, struct uvgo_bubble *b)
{
    struct dump d = {out, 0, NULL, NULL, b};
    uvgo__task_records_walk(dump_record, &d);
    fflush(out);
    return d.count;
}

/* How long a leak check waits by default: tasks that were told to stop
 * usually need a few scheduling rounds, rarely a second. */
#define LEAK_WAIT_DEFAULT UVGO_SECOND

int uvgo_leak_check(const uvgo_leak_opts_t *opts)
{
    uvgo_task_t *self = uvgo__task_self();
    uvgo_duration_t wait =
        opts && opts->wait > 0 ? opts->wait : LEAK_WAIT_DEFAULT;
    struct dump d = {NULL, 0, self, opts ? opts->ignore : NULL, NULL};
    int64_t deadline = uvgo_now() + wait;
    uvgo_duration_t nap = UVGO_MILLISECOND / 4;
    FILE *out = opts && opts->report ? opts->report : stderr;

    if (!self)
        return UVGO_ENOTTASK;
    /* Go's goleak: poll, backing off, until only the allowed tasks are
     * left or the time is up. */
    for (;;) {
        d.count = 0;
        uvgo__task_records_walk(dump_record, &d);
        if (d.count == 0)
            return 0;
        if (uvgo_now() >= deadline)
            break;
        uvgo_sleep(nap);
        if (nap < 50 * UVGO_MILLISECOND)
            nap *= 2;
    }
    d.out = out;
    d.count = 0;
    fprintf(out, "uvgo: leaked tasks:\n");
    uvgo__task_records_walk(dump_record, &d);
    fprintf(out, "uvgo: %d task%s leaked\n", d.count, d.count == 1 ? "" : "s");
    fflush(out);
    return d.count ? UVGO_ELEAK : 0;
}

const char *uvgo__task_describe_top(char *top, uint64_t *id)
{
    uvgo_task_t *t = uvgo__task_from_top(top);
    if (!t) {
        *id = 0;
        return "?";
    }
    t->name[sizeof t->name - 1] = '\0';
    *id = t->id;
    return t->name;
}

/* The runtime's part of a fatal error report: which task failed, then
 * every task. */
static void panic_report(FILE *out)
{
    uvgo_task_t *t = uvgo__task_self();
    if (t)
        fprintf(out, " [in task %llu \"%s\"]\n", (unsigned long long)t->id,
                t->name);
    else
        fprintf(out, " [outside any task]\n");
    uvgo_dump(out);
}

__attribute__((constructor)) static void panic_report_install(void)
{
    uvgo__panic_set_report(panic_report);
}
