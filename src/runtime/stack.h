/* stack.h: task stacks (see stack.c for the design essay). */
#ifndef UVGO_STACK_H
#define UVGO_STACK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

struct uvgo_slab;
struct uvgo_worker;

/* Where a task's stack lives.  Stored in the task, which itself sits at the
 * top of the stack's slot. */
typedef struct uvgo_stack {
    char *lo;               /* lowest usable byte (above guard or canary) */
    size_t size;            /* usable bytes, task record included */
    struct uvgo_slab *slab; /* the slab that holds the slot */
    uint16_t index;         /* the slot within the slab (stack.c: < 4096) */
    uint16_t home;          /* 1 + the worker that last ran on it; 0 cold */
    uint8_t cls;            /* size class (log2 of size) */
    uint8_t guarded;        /* a PROT_NONE page lies under lo */
} uvgo_stack_t;

/* Per-worker cache of free stacks, one LIFO per size class.  Stacks in it
 * keep the pages their last task touched; overflow and idle trimming hand
 * stacks back to the slabs with their memory returned to the kernel.
 *
 * Promises.  A task spawned on a worker for that worker is promised a stack
 * of its cache instead of being handed one: the cache keeps at least as
 * many stacks as it has promised, and the task pops the warmest when it
 * first runs, as if the stack had been taken then (a burst of spawns then
 * runs on the one stack each task frees for the next).  A worker that
 * steals a task not yet started promises it a stack of its own cache if it
 * has or can get a spare, and gives the first promise back (`released`,
 * which the owner folds in; batched through `owe`), so promises follow the
 * tasks; otherwise, at the first run, it takes a spare then, and with no
 * spare and no memory sends the task home, where its stack waits.  Without
 * adoption the spawning worker's promises piled up past its cache while
 * its tasks ran elsewhere (bench spawn, two workers: RSS 6.3 MB instead of
 * 3.7, a cold stack at every refill).  The cache holds
 * more than a run queue's worth (UVGO_RUNQ_SIZE, 256), so that a burst
 * that fills the queue is promised stacks without a trip to the warm pool;
 * promises beyond UVGO_STACK_PROMISE_MAX take their stack at once. */
#define UVGO_STACK_CLASSES 17 /* 16 KiB .. 1 GiB */
#define UVGO_STACK_HOT_MAX 320
#define UVGO_STACK_PROMISE_MAX 288

#define UVGO_STACK_OWE_MAX 32

typedef struct uvgo_stack_cache {
    /* Owner thread only. */
    uint16_t n[UVGO_STACK_CLASSES];
    uint16_t promised[UVGO_STACK_CLASSES]; /* owed to unstarted tasks */
    uvgo_stack_t slot[UVGO_STACK_CLASSES][UVGO_STACK_HOT_MAX];
    /* Promises of another cache this worker has kept for it (its tasks
     * took stacks here), not yet added to its `released`: one atomic
     * addition per batch instead of one per stolen task. */
    struct uvgo_stack_cache *owe_to;
    uint16_t owe_cls, owe_n;
    /* Promises kept by tasks that started on another worker: added there
     * (relaxed; the owner's promised count only runs high meanwhile, which
     * keeps a stack more than needed), folded in by the owner. */
    UVGO_ALIGNED_CACHELINE atomic_ushort released[UVGO_STACK_CLASSES];
} uvgo_stack_cache_t;

/* Process-wide setup: reads the map-count budget, installs the overflow
 * handler.  Idempotent. */
int uvgo__stack_global_init(void);

/* Gives every slab back to the kernel.  Only when no runtime runs. */
void uvgo__stack_global_reset(void);

/* Per-thread alternate signal stack, so a guard-page hit can be reported
 * even though the faulting stack is unusable. */
int uvgo__stack_thread_init(void **altstack);
void uvgo__stack_thread_close(void *altstack);

/* Allocates a stack of at least `size` usable bytes and returns the address
 * one past its top (the task record goes right below it), filling *st.
 * `cache` may be NULL (a thread that is not a worker).  NULL: out of memory or
 * address space, or size too large. */
char *uvgo__stack_alloc(uvgo_stack_cache_t *cache, size_t size,
                        uvgo_stack_t *st);

/* The size class of a stack of at least `size` bytes, or -1 if too
 * large. */
#define UVGO_STACK_MIN_SHIFT 14 /* 16 KiB, class 0 */
static inline int uvgo__stack_class(size_t size)
{
    int cls = 0;
    if (size > ((size_t)1 << UVGO_STACK_MIN_SHIFT))
        cls = (int)(sizeof(size_t) * 8) - __builtin_clzl(size - 1) -
              UVGO_STACK_MIN_SHIFT;
    return cls < UVGO_STACK_CLASSES ? cls : -1;
}

int uvgo__stack_promise_slow(uvgo_stack_cache_t *cache, int cls,
                             uvgo_stack_t *st);

/* Promises a stack of at least `size` bytes from `cache` to a task that will
 * probably first run on the cache's worker: st->lo stays NULL and st->cls
 * names the class.  When the cache has promised UVGO_STACK_PROMISE_MAX it
 * hands one out at once instead (st->lo set).  0, or -1: out of memory or
 * address space, or size too large.  Owner thread. */
static inline int uvgo__stack_promise(uvgo_stack_cache_t *cache, size_t size,
                                      uvgo_stack_t *st)
{
    int cls = uvgo__stack_class(size);
    if (UVGO_UNLIKELY(cls < 0))
        return -1;
    if (UVGO_LIKELY(cache->n[cls] > cache->promised[cls] &&
                    cache->promised[cls] < UVGO_STACK_PROMISE_MAX)) {
        cache->promised[cls]++;
        st->lo = NULL;
        st->cls = (uint8_t)cls;
        return 0;
    }
    return uvgo__stack_promise_slow(cache, cls, st);
}

int uvgo__stack_redeem_elsewhere(uvgo_stack_cache_t *cache,
                                 uvgo_stack_cache_t *from, uvgo_stack_t *st);

/* Gives `cache`'s owed promises back to the cache that made them.  Owner
 * thread; also called when the worker goes idle (uvgo__stack_cache_trim). */
void uvgo__stack_owe_flush(uvgo_stack_cache_t *cache);

/* Records that a task promised a stack by `from` took one from `cache`. */
static inline void uvgo__stack_owe(uvgo_stack_cache_t *cache,
                                   uvgo_stack_cache_t *from, int cls)
{
    if (UVGO_LIKELY(cache->owe_to == from && cache->owe_cls == cls &&
                    cache->owe_n < UVGO_STACK_OWE_MAX)) {
        cache->owe_n++;
        return;
    }
    uvgo__stack_owe_flush(cache);
    cache->owe_to = from;
    cache->owe_cls = (uint16_t)cls;
    cache->owe_n = 1;
}

/* Fills the promised *st for a task about to run first on the worker that
 * owns `cache`; `from` made the promise.  0, or -1 when `from` is another
 * cache and no stack can be had here: the task must run on from's worker,
 * which keeps one for it.  Owner thread of `cache`. */
static inline int uvgo__stack_redeem(uvgo_stack_cache_t *cache,
                                     uvgo_stack_cache_t *from, uvgo_stack_t *st)
{
    int cls = st->cls;
    /* The cache keeps at least as many stacks as it has promised. */
    uvgo__assert(cache->n[cls] >= cache->promised[cls]);
    if (UVGO_LIKELY(from == cache)) {
        /* The cache kept a stack for it: the warmest one. */
        uvgo__assert(cache->promised[cls] > 0);
        cache->promised[cls]--;
        *st = cache->slot[cls][--cache->n[cls]];
        return 0;
    }
    if (UVGO_LIKELY(cache->n[cls] > cache->promised[cls])) {
        *st = cache->slot[cls][--cache->n[cls]];
        uvgo__stack_owe(cache, from, cls);
        return 0;
    }
    return uvgo__stack_redeem_elsewhere(cache, from, st);
}

/* Takes over a promise `from` made for a task now queued on the worker
 * that owns `cache`: 1 if `cache` promises it instead (it had or got a
 * spare), 0 if the task keeps its promise from `from`.  Owner thread of
 * `cache`. */
int uvgo__stack_adopt(uvgo_stack_cache_t *cache, uvgo_stack_cache_t *from,
                      int cls);

/* Takes back a promise whose task will never run.  Owner thread of
 * `cache`. */
void uvgo__stack_unpromise(uvgo_stack_cache_t *cache, uvgo_stack_cache_t *from,
                           const uvgo_stack_t *st);

/* Returns a stack to `cache` (or, when cache is NULL, to the warm pool). */
void uvgo__stack_free(uvgo_stack_cache_t *cache, const uvgo_stack_t *st);

/* For a task about to run for the first time on the worker whose cache is
 * `cache` and whose home number is `home`, with a stack handed out at
 * spawn (not promised: spawned off the workers, or for another worker):
 * swaps that stack, if it last ran elsewhere or never, for the warmest free
 * stack in the cache, if that one last ran here.  The task then writes to
 * lines in this core's cache rather than another's. */
static inline void uvgo__stack_trade(uvgo_stack_cache_t *cache,
                                     uvgo_stack_t *st, unsigned home)
{
    unsigned n = cache->n[st->cls];
    uvgo_stack_t *top, mine;

    if (n == 0)
        return;
    top = &cache->slot[st->cls][n - 1];
    if (top->home != home || st->home == home)
        return;
    mine = *top;
    *top = *st;
    *st = mine;
}

/* Moves all but `keep` stacks of every class in `cache` to the warm pool. */
void uvgo__stack_cache_trim(uvgo_stack_cache_t *cache, unsigned keep);

/* A release pass: gives back the memory of warm stacks unused since the
 * previous pass.  Call about every UVGO_STACK_RELEASE_MS. */
void uvgo__stack_release_idle(void);
#define UVGO_STACK_RELEASE_MS 100

/* The canary zone of an unguarded stack (stack.c), all zero: the
 * CANARY_DENSE bytes right under it, and the word at every multiple of
 * CANARY_STRIDE bytes under it, down to the bottom of its reserved page. */
#define CANARY_DENSE 256
#define CANARY_STRIDE 512

/* What uvgo__stack_check found. */
enum {
    UVGO_STACK_OK = 0,
    UVGO_STACK_SP,     /* the stack pointer is below the stack */
    UVGO_STACK_CANARY, /* a canary word was written */
    UVGO_STACK_TOP     /* the task pointer at the top was overwritten */
};

/* Out of line: checks the canary zone and that the task pointer at the
 * top still names `task`. */
int uvgo__stack_canary_check(const uvgo_stack_t *st, const void *task);

/* For an overflow report: the name and id of the task whose stack lies
 * right above st, which wrote the top of st; NULL if it cannot be told. */
const char *uvgo__stack_above(const uvgo_stack_t *st, uint64_t *id);

/* The overflow checks run when `task` (whose stack is st) switches out,
 * with `sp` an address in its current frame.  Guarded stacks pay one
 * comparison: an overflow that reached their guard page has faulted. */
static inline int uvgo__stack_check(const uvgo_stack_t *st, const void *task,
                                    const char *sp)
{
    if (__builtin_expect(sp < st->lo, 0))
        return UVGO_STACK_SP;
    if (st->guarded)
        return UVGO_STACK_OK;
    return uvgo__stack_canary_check(st, task);
}

#endif /* UVGO_STACK_H */
