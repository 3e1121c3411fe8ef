/* common.h: helpers every uvgo source file uses.  All static inline.
 *
 * Atomics are C11 <stdatomic.h>.  Each use names its ordering explicitly and
 * carries a note saying which operation it pairs with.
 */
#ifndef UVGO_COMMON_H
#define UVGO_COMMON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "uvgo.h"
#include "base/alloc.h"
#include "base/lockrank.h"

#define UVGO_LIKELY(x) __builtin_expect(!!(x), 1)
#define UVGO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define UVGO_NOINLINE __attribute__((noinline))
#define UVGO_NORETURN __attribute__((noreturn))
#define UVGO_UNUSED __attribute__((unused))
#define UVGO_CACHELINE 64
#define UVGO_ALIGNED_CACHELINE __attribute__((aligned(UVGO_CACHELINE)))

#define uvgo__container_of(ptr, type, field)                                   \
    ((type *)((char *)(ptr)-offsetof(type, field)))

#define uvgo__countof(a) (sizeof(a) / sizeof((a)[0]))

/* Sanitizer detection, for both gcc (__SANITIZE_*__) and clang
 * (__has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define UVGO_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define UVGO_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UVGO_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define UVGO_TSAN 1
#endif
#endif

/* Aborts the process with a message naming the running task (if any), after
 * printing a task dump.  For misuse that leaves state corrupt, the way Go's
 * fatal errors end a program. */
UVGO_NORETURN void uvgo__panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Installs what a fatal error report prints after the message: the runtime
 * names the failing task and lists the others (runtime/task.c). */
void uvgo__panic_set_report(void (*report)(FILE *out));

/* Executable preconditions and invariants: checked in debug and sanitizer
 * builds (UVGO_CHECKS, base/lockrank.h), compiled away in release builds,
 * where `cond` is not even evaluated. */
#if UVGO_CHECKS
#define uvgo__assert(cond)                                                     \
    (UVGO_LIKELY(cond) ? (void)0                                               \
                       : uvgo__panic("assertion failed: %s (%s:%d)", #cond,    \
                                     __FILE__, __LINE__))
#else
#define uvgo__assert(cond) ((void)0)
#endif

/* A CPU hint for spin-wait loops. */
static inline void uvgo__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* A cheap clock for deciding when to poll the loop: a raw cycle counter where
 * one is always readable (x86 TSC, aarch64 virtual counter), else
 * uv_hrtime().  Only differences against uvgo__ticks_per_us are meaningful. */
static inline uint64_t uvgo__ticks(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return uv_hrtime();
#endif
}

/* t + d for a point in time t and a duration d, saturating at INT64_MAX
 * and INT64_MIN instead of overflowing: a duration of "forever" gives the
 * latest possible deadline, never one in the past.  Every place that adds
 * a duration to a time goes through this. */
static inline int64_t uvgo__time_add(int64_t t, int64_t d)
{
    int64_t r;
    if (UVGO_UNLIKELY(__builtin_add_overflow(t, d, &r)))
        return d > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* A small test-and-test-and-set spinlock for critical sections of a few
 * dozen instructions that never block (channel queues, timer heaps).  A
 * holder may be descheduled by the OS, so after a burst of spinning the
 * waiter yields its thread.  Every lock names its rank in the lock order
 * (base/lockrank.h), checked in debug builds. */
typedef struct uvgo_spinlock {
    atomic_int locked;
} uvgo_spinlock_t;

void uvgo__spin_lock_slow(uvgo_spinlock_t *l);

static inline void uvgo__spin_lock(uvgo_spinlock_t *l, int rank)
{
    uvgo__rank_acquire(l, rank);
    /* acquire: pairs with the release in uvgo__spin_unlock(). */
    if (UVGO_LIKELY(
            !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)))
        return;
    uvgo__spin_lock_slow(l);
}

static inline void uvgo__spin_unlock(uvgo_spinlock_t *l)
{
    uvgo__assert(atomic_load_explicit(&l->locked, memory_order_relaxed));
    uvgo__rank_release(l);
    /* release: pairs with the acquire in uvgo__spin_lock(). */
    atomic_store_explicit(&l->locked, 0, memory_order_release);
}

/* "Caller holds l": the lock is taken, and by this thread.  For asserts
 * only (debug builds). */
#define uvgo__spin_held(l)                                                     \
    (atomic_load_explicit(&(l)->locked, memory_order_relaxed) &&               \
     uvgo__rank_held(l))

/* Per-worker pseudo-random numbers (xorshift64*), for select and stealing. */
static inline uint64_t uvgo__rand_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A uniform number in [0, n) without modulo bias worth caring about for
 * n < 2^32 (Lemire's multiply-shift). */
static inline uint32_t uvgo__rand_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(((uvgo__rand_next(state) >> 32) * (uint64_t)n) >> 32);
}

#endif /* UVGO_COMMON_H */
