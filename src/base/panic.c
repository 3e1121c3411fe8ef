/* panic.c: fatal errors (uvgo__panic) and the spinlock's slow path.  The
 * base knows nothing of tasks: the runtime installs the part of the report
 * that names the failing task and lists the others. */
#include "base/common.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

static void (*_Atomic panic_report)(FILE *out);

void uvgo__panic_set_report(void (*report)(FILE *out))
{
    atomic_store_explicit(&panic_report, report, memory_order_release);
}

void uvgo__panic(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    void (*report)(FILE *) =
        atomic_load_explicit(&panic_report, memory_order_acquire);

    if (!fmt)
        fmt = "?"; /* keeps GCC's sanitizer builds from seeing a NULL path */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "uvgo: fatal error: %s", msg);
    if (report)
        report(stderr);
    else
        fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* Pauses between lock polls, at first and at most. */
#define SPIN_BACKOFF_MIN 32
#define SPIN_BACKOFF_MAX 128

void uvgo__spin_lock_slow(uvgo_spinlock_t *l)
{
    /* Exponential backoff: a waiter that keeps re-reading the line takes it
     * away from the holder on every poll, and the holder pays a transfer
     * to unlock.  Backing off lets the holder run several critical sections
     * back to back with the line in its own cache (this is what gives mpmc
     * its throughput), and after a long wait the holder has probably been
     * preempted, so the thread yields its CPU. */
    unsigned backoff = SPIN_BACKOFF_MIN, rounds = 0;
    for (;;) {
        for (unsigned i = 0; i < backoff; i++)
            uvgo__cpu_relax();
        if (!atomic_load_explicit(&l->locked, memory_order_relaxed) &&
            !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire))
            return;
        if (backoff < SPIN_BACKOFF_MAX)
            backoff <<= 1;
        else if (++rounds >= 64)
            sched_yield();
    }
}
