/* switch.h: the context switch: saving one thread of execution (its stack
 * pointer and callee-saved registers) and resuming another.  Not to be
 * confused with uvgo_ctx_t, the cancellation context of uvgo/context.h.
 *
 * Two backends, chosen at build time (meson option `switch`):
 *
 *   asm       src/runtime/arch/switch-<cpu>.S.  A context is one saved stack
 * pointer; the callee-saved registers and the floating-point control words live
 * on the context's own stack.  About 20 instructions per switch, no system
 * call. ucontext  getcontext/makecontext/swapcontext.  Portable, but glibc's
 *             swapcontext makes a sigprocmask system call on every switch and
 *             a ucontext_t is ~1 KiB.  Kept for platforms without assembly.
 *
 * A new context starts in entry(arg) on the given stack.  entry must never
 * return: a task ends by switching away for the last time.
 *
 * The initial frame the asm backends build (x86_64; aarch64 is alike):
 *
 *     stack top (16-byte aligned) ->  | 0            |  end of the call chain
 *                                     | 0            |
 *                                     | trampoline   |  popped by `ret`
 *                                     | rbp rbx      |
 *                                     | r12 = arg    |  the trampoline moves
 *                                     | r13 = entry  |  these into place
 *                                     | r14 r15      |
 *     ctx->sp ----------------------> | mxcsr fpucw  |
 */
#ifndef UVGO_SWITCH_H
#define UVGO_SWITCH_H

#include <stddef.h>

#if defined(UVGO_SWITCH_UCONTEXT)
#include <ucontext.h>
typedef struct uvgo__exec {
    ucontext_t uc;
} uvgo__exec_t;
#else
typedef struct uvgo__exec {
    void *sp; /* saved stack pointer while switched out */
} uvgo__exec_t;
#endif

/* Prepares `ctx` to run entry(arg) on the stack [lo, lo + size). */
void uvgo__switch_make(uvgo__exec_t *ctx, void *lo, size_t size,
                       void (*entry)(void *), void *arg);

/* Saves the running context in `from` and resumes `to`.  Returns when
 * something switches back to `from`, possibly on another thread. */
#if defined(UVGO_SWITCH_UCONTEXT)
static inline void uvgo__switch_to(uvgo__exec_t *from, uvgo__exec_t *to)
{
    swapcontext(&from->uc, &to->uc);
}
#else
void uvgo__switch_to(uvgo__exec_t *from, uvgo__exec_t *to);
#endif

#endif /* UVGO_SWITCH_H */
