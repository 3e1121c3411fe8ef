/* handle.h: generation-tagged handles, so that a stale handle is refused.
 *
 * A task record or a timer is recycled when its last reference goes, while
 * the program may still hold its handle (a task joined twice, a timer used
 * after uvgo_timer_free).  Such records are type-stable: they stay mapped
 * for the runtime's life and go back to a free list, never to the
 * allocator, so reading one through a stale handle is safe.  Each record
 * keeps a generation; a handle carries the generation it was made with in
 * bits the address does not use, and every call that takes a handle
 * compares the two before it touches anything else.
 *
 * Generations: a new incarnation of a record adds 2 (even: a handle is
 * out); consuming the handle (join, detach, free) sets bit 0, so that a
 * second use of the same handle fails even before the record is reused.
 * On 64-bit systems the tag is 16 bits above the 48 that user-space
 * addresses use on x86_64 and aarch64 Linux (mmap returns higher ones only
 * when asked), so a stale handle passes only if its record was reused a
 * multiple of 32,768 times since.  Elsewhere records are 64-byte aligned
 * and the tag is the 6 bits below (a multiple of 32 reuses).
 *
 * Handles are never dereferenced: uvgo__handle_ptr first.
 */
#ifndef UVGO_BASE_HANDLE_H
#define UVGO_BASE_HANDLE_H

#include <stdatomic.h>
#include <stdint.h>

#if UINTPTR_MAX > 0xffffffffu
#define UVGO_HANDLE_SHIFT 48
#define UVGO_HANDLE_GEN_MASK ((uintptr_t)0xffff)
#define UVGO_HANDLE_PTR_MASK (((uintptr_t)1 << UVGO_HANDLE_SHIFT) - 1)
#else
#define UVGO_HANDLE_SHIFT 0
#define UVGO_HANDLE_GEN_MASK ((uintptr_t)63)
#define UVGO_HANDLE_PTR_MASK (~(uintptr_t)63)
#endif

/* Whether a record at p can carry a tag (its address leaves the tag bits
 * free).  Record allocators refuse memory where it cannot. */
static inline int uvgo__handle_fits(const void *p)
{
    return ((uintptr_t)p & ~UVGO_HANDLE_PTR_MASK) == 0;
}

static inline void *uvgo__handle_make(const void *p, unsigned gen)
{
    return (void *)((uintptr_t)p | (((uintptr_t)gen & UVGO_HANDLE_GEN_MASK)
                                    << UVGO_HANDLE_SHIFT));
}

static inline void *uvgo__handle_ptr(const void *h)
{
    return (void *)((uintptr_t)h & UVGO_HANDLE_PTR_MASK);
}

/* The generation h was made with, compared against a record's with
 * uvgo__handle_matches. */
static inline unsigned uvgo__handle_gen(const void *h)
{
    return (unsigned)(((uintptr_t)h >> UVGO_HANDLE_SHIFT) &
                      UVGO_HANDLE_GEN_MASK);
}

static inline int uvgo__handle_matches(const void *h, unsigned gen)
{
    return uvgo__handle_gen(h) == (gen & UVGO_HANDLE_GEN_MASK);
}

/* Starts a new incarnation of a record: handles to the last one no longer
 * match.  Caller owns the (free) record. */
static inline void uvgo__handle_renew(atomic_uint *gen)
{
    unsigned g = atomic_load_explicit(gen, memory_order_relaxed);
    atomic_store_explicit(gen, (g | 1) + 1, memory_order_relaxed);
}

/* Consumes handle h of a record whose generation is *gen: returns 1 once,
 * 0 for a stale handle or when a concurrent call consumed it first. */
static inline int uvgo__handle_consume(const void *h, atomic_uint *gen)
{
    unsigned g = atomic_load_explicit(gen, memory_order_relaxed);
    return uvgo__handle_matches(h, g) && !(g & 1) &&
           atomic_compare_exchange_strong_explicit(
               gen, &g, g | 1, memory_order_relaxed, memory_order_relaxed);
}

#endif /* UVGO_BASE_HANDLE_H */
