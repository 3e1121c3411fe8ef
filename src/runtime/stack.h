/* stack.h: task stacks (see stack.c for the design essay). */
#ifndef UVGO_STACK_H
#define UVGO_STACK_H

#include <stddef.h>
#include <stdint.h>

struct uvgo_slab;
struct uvgo_worker;

/* Where a task's stack lives.  Stored in the task, which itself sits at the
 * top of the stack's slot. */
typedef struct uvgo_stack {
    char *lo;               /* lowest usable byte (above guard or canary) */
    size_t size;            /* usable bytes, task record included */
    struct uvgo_slab *slab; /* the slab that holds the slot */
    uint32_t index;         /* the slot within the slab */
    uint8_t cls;            /* size class (log2 of size) */
    uint8_t guarded;        /* a PROT_NONE page lies under lo */
    uint16_t home;          /* 1 + the worker that last ran on it; 0 cold */
} uvgo_stack_t;

/* Per-worker cache of free stacks, one small LIFO per size class.  Stacks in
 * it keep the pages their last task touched; overflow and idle trimming hand
 * stacks back to the slabs with their memory returned to the kernel. */
#define UVGO_STACK_CLASSES 17 /* 16 KiB .. 1 GiB */
#define UVGO_STACK_HOT_MAX 64

typedef struct uvgo_stack_cache {
    uint16_t n[UVGO_STACK_CLASSES];
    uvgo_stack_t slot[UVGO_STACK_CLASSES][UVGO_STACK_HOT_MAX];
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

/* Returns a stack to `cache` (or, when cache is NULL, to the warm pool). */
void uvgo__stack_free(uvgo_stack_cache_t *cache, const uvgo_stack_t *st);

/* For a task about to run first on the worker whose cache is `cache` and
 * whose home number is `home`: if its reserved stack *st was last run on
 * elsewhere (or never), swaps it for the warmest free stack of its class in
 * the cache, provided that one was last run on here.  The task then writes
 * to memory in this core's cache, not lines still in another's (a stolen
 * task, or a stack that came back through the warm pool).  Bench spawn,
 * two workers: see task.c. */
void uvgo__stack_trade(uvgo_stack_cache_t *cache, uvgo_stack_t *st,
                       unsigned home);

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
