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

/* Swaps *st for the warmest free stack of its class in `cache`, if there
 * is one.  For a task that first runs on another worker than the one that
 * reserved its stack: it then writes to memory this worker touched last,
 * not to lines still in the other core's cache (bench spawn, two workers:
 * 185 ns a spawn without the trade, 160 with it, as with one worker). */
void uvgo__stack_trade(uvgo_stack_cache_t *cache, uvgo_stack_t *st);

/* Moves all but `keep` stacks of every class in `cache` to the warm pool. */
void uvgo__stack_cache_trim(uvgo_stack_cache_t *cache, unsigned keep);

/* A release pass: gives back the memory of warm stacks unused since the
 * previous pass.  Call about every UVGO_STACK_RELEASE_MS. */
void uvgo__stack_release_idle(void);
#define UVGO_STACK_RELEASE_MS 100

/* True when the canary under an unguarded stack is intact.  Guarded stacks
 * always pass: their guard page faults first. */
static inline int uvgo__stack_canary_ok(const uvgo_stack_t *st)
{
    const uint64_t *c;
    if (st->guarded)
        return 1;
    /* The 64 bytes right under the usable stack must still read as zero:
     * nothing may touch them, and an untouched anonymous page reads as zero
     * without costing a page of memory.  See stack.c. */
    c = (const uint64_t *)(st->lo - 64);
    return (c[0] | c[1] | c[2] | c[3] | c[4] | c[5] | c[6] | c[7]) == 0;
}

#endif /* UVGO_STACK_H */
