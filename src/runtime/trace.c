/* trace.c: the call stacks of parked tasks, for task dumps.
 *
 * A parked task's registers are on its own stack, where the context switch
 * saved them (runtime/switch.h): the walk starts from the saved frame
 * pointer and return address and follows the frame-pointer chain.  The
 * library is built with -fno-omit-frame-pointer to keep that chain; user
 * code shows its frames when it is built the same way (as Go always keeps
 * frame pointers), and a frame without one ends the walk early.
 *
 * Every step is validated before anything is read through it: a frame must
 * lie inside the task's stack, above the one before, and be aligned.  So a
 * corrupted or overflowed stack ends the walk, and the walk never reads
 * outside the stack, which stays mapped for as long as the task record
 * exists.  Dumps do not stop the world: a task that starts running during
 * the walk yields garbage frames, never a fault.
 *
 * DWARF unwinding (libunwind) would also see through code built without
 * frame pointers, but it follows whatever a garbage register points to and
 * could fault on a stack that is changing under it; a dump must never
 * crash the program it is diagnosing.  libunwind, where the build found
 * it, only names symbols: it reads the ELF symbol tables, so static
 * functions get names too, where dladdr knows only exported ones.
 */
#include "runtime/trace.h"

#include <dlfcn.h>
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(UVGO_HAVE_LIBUNWIND)
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

/* Where a walk starts: the innermost return address and frame pointer. */
struct walk_start {
    uintptr_t pc, fp;
};

/* Reads another stack, which the sanitizers would see as a wild or racy
 * access: the bounds are checked by the caller instead. */
#if defined(__clang__) || __GNUC__ >= 8
#define NO_SANITIZE __attribute__((no_sanitize("address", "thread")))
#else
#define NO_SANITIZE
#endif

NO_SANITIZE static uintptr_t load_word(uintptr_t addr)
{
    return __atomic_load_n((const uintptr_t *)addr, __ATOMIC_RELAXED);
}

/* The saved registers of a switched-out task; 0 where this build cannot
 * read them.  lo/hi bound the saved frame itself. */
static int saved_start(uvgo_task_t *t, uintptr_t lo, uintptr_t hi,
                       struct walk_start *s)
{
#if defined(UVGO_SWITCH_UCONTEXT) && defined(__x86_64__)
    (void)lo;
    (void)hi;
    s->pc = (uintptr_t)t->ctx.uc.uc_mcontext.gregs[REG_RIP];
    s->fp = (uintptr_t)t->ctx.uc.uc_mcontext.gregs[REG_RBP];
    return 1;
#elif defined(UVGO_SWITCH_UCONTEXT) && defined(__aarch64__)
    (void)lo;
    (void)hi;
    s->pc = (uintptr_t)t->ctx.uc.uc_mcontext.pc;
    s->fp = (uintptr_t)t->ctx.uc.uc_mcontext.regs[29];
    return 1;
#elif !defined(UVGO_SWITCH_UCONTEXT) && defined(__x86_64__)
    /* switch-x86_64.S: [sp] mxcsr/fpucw, r15, r14, r13, r12, rbx, rbp,
     * then the return address. */
    uintptr_t sp = (uintptr_t)__atomic_load_n(&t->ctx.sp, __ATOMIC_RELAXED);
    if (sp < lo || sp + 8 * sizeof(uintptr_t) > hi || (sp & 7))
        return 0;
    s->fp = load_word(sp + 6 * sizeof(uintptr_t));
    s->pc = load_word(sp + 7 * sizeof(uintptr_t));
    return 1;
#elif !defined(UVGO_SWITCH_UCONTEXT) && defined(__aarch64__)
    /* switch-aarch64.S: x19-x28 at [sp], then x29 (fp) and x30 (lr). */
    uintptr_t sp = (uintptr_t)__atomic_load_n(&t->ctx.sp, __ATOMIC_RELAXED);
    if (sp < lo || sp + 176 > hi || (sp & 15))
        return 0;
    s->fp = load_word(sp + 10 * sizeof(uintptr_t));
    s->pc = load_word(sp + 11 * sizeof(uintptr_t));
    return 1;
#else
    (void)t;
    (void)lo;
    (void)hi;
    (void)s;
    return 0;
#endif
}

int uvgo__task_stack(uvgo_task_t *t, void **pcs, int max)
{
    struct walk_start s;
    uintptr_t lo, hi, fp;
    int n = 0;

    if (max <= 0 || !t->stack.lo ||
        atomic_load_explicit(&t->on_cpu, memory_order_acquire))
        return 0;
    lo = (uintptr_t)t->stack.lo;
    hi = lo + t->stack.size;
    if (!saved_start(t, lo, hi, &s) || !s.pc)
        return 0;
    pcs[n++] = (void *)s.pc;
    /* Each frame: [fp] the caller's fp, [fp + 8] the return address. */
    for (fp = s.fp; n < max; n++) {
        if (fp < lo || fp > hi - 2 * sizeof(uintptr_t) ||
            (fp & (sizeof(uintptr_t) - 1)))
            break;
        uintptr_t next = load_word(fp);
        uintptr_t pc = load_word(fp + sizeof(uintptr_t));
        if (!pc)
            break;
        pcs[n] = (void *)pc;
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

/* The name of the module that holds pc and pc's offset in it. */
static const char *module_of(const void *pc, uintptr_t *off)
{
    Dl_info info;
    if (dladdr(pc, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        *off = (uintptr_t)pc - (uintptr_t)info.dli_fbase;
        return slash ? slash + 1 : info.dli_fname;
    }
    *off = (uintptr_t)pc;
    return "?";
}

void uvgo__symbolize(const void *pc, char *buf, size_t n)
{
    uintptr_t moff;
    const char *module = module_of(pc, &moff);
    /* A return address points after its call: name the call's function
     * (the address just before), which matters when a call is the last
     * instruction of a function. */
    const void *in = (const char *)pc - 1;

#if defined(UVGO_HAVE_LIBUNWIND)
    {
        unw_context_t uc;
        unw_cursor_t cursor;
        unw_word_t off;
        char name[128];
        memset(&uc, 0, sizeof uc);
        /* A context that is only an instruction pointer: enough to look up
         * a symbol, and it reads no stack. */
#if defined(__x86_64__)
        uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)in;
#elif defined(__aarch64__)
        uc.uc_mcontext.pc = (uintptr_t)in;
#endif
        if (unw_init_local(&cursor, &uc) == 0 &&
            unw_get_proc_name(&cursor, name, sizeof name, &off) == 0) {
            snprintf(buf, n, "%s+0x%lx (%s)", name, (unsigned long)off + 1,
                     module);
            return;
        }
    }
#endif
    Dl_info info;
    if (dladdr(in, &info) && info.dli_sname) {
        snprintf(buf, n, "%s+0x%lx (%s)", info.dli_sname,
                 (unsigned long)((uintptr_t)pc - (uintptr_t)info.dli_saddr),
                 module);
        return;
    }
    snprintf(buf, n, "%s+0x%lx", module, (unsigned long)moff);
}

/* ---- SIGQUIT: dump and exit (opt-in) -------------------------------------
 *
 * The handler only posts a semaphore (async-signal-safe); a thread of its
 * own prints the dump, so it neither runs stdio inside a signal handler nor
 * needs a worker to be free. */

static sem_t quit_sem;
static atomic_int quit_on; /* 0 off, 1 starting, 2 on */

static void on_sigquit(int sig)
{
    int saved = errno;
    (void)sig;
    sem_post(&quit_sem);
    errno = saved;
}

static void quit_thread(void *arg)
{
    (void)arg;
    while (sem_wait(&quit_sem) != 0 && errno == EINTR)
        ;
    fprintf(stderr, "SIGQUIT: quit\n");
    uvgo_dump(stderr);
    fflush(stderr);
    _exit(2);
}

int uvgo_dump_on_sigquit(void)
{
    struct sigaction sa;
    uv_thread_t thread;
    uv_thread_options_t topts = {UV_THREAD_HAS_STACK_SIZE, 256 * 1024};
    int expect = 0, err;

    if (!atomic_compare_exchange_strong(&quit_on, &expect, 1))
        return 0;
    if (sem_init(&quit_sem, 0, 0) != 0) {
        atomic_store(&quit_on, 0);
        return UV_ENOMEM;
    }
    err = uv_thread_create_ex(&thread, &topts, quit_thread, NULL);
    if (err) {
        sem_destroy(&quit_sem);
        atomic_store(&quit_on, 0);
        return err;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigquit;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGQUIT, &sa, NULL);
    atomic_store(&quit_on, 2);
    return 0;
}
