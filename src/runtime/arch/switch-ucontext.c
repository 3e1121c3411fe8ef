/* switch-ucontext.c: the portable context backend (see src/runtime/switch.h).
 *
 * makecontext() passes only int arguments, so the entry point and its
 * argument travel as two halves of each pointer. */
#include "runtime/switch.h"

#include <stdint.h>
#include <string.h>

static void ctx_start(unsigned e_hi, unsigned e_lo, unsigned a_hi,
                      unsigned a_lo)
{
    void (*entry)(void *) =
        (void (*)(void *))(((uintptr_t)e_hi << 32) | (uintptr_t)e_lo);
    void *arg = (void *)(((uintptr_t)a_hi << 32) | (uintptr_t)a_lo);
    entry(arg);
    __builtin_trap();
}

void uvgo__switch_make(uvgo__exec_t *ctx, void *lo, size_t size,
                       void (*entry)(void *), void *arg)
{
    uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;

    memset(ctx, 0, sizeof(*ctx));
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))ctx_start, 4,
                (unsigned)((uint64_t)e >> 32), (unsigned)e,
                (unsigned)((uint64_t)a >> 32), (unsigned)a);
}
