/* stack.c: task stacks: slabs, guard pages, canaries, caches.
 *
 * A task's stack is a slot in a slab: one mmap(MAP_NORESERVE) region cut into
 * equal slots.  Nothing is committed up front; a task pays for the pages it
 * touches.  The task record itself lives at the top of its slot, so a task
 * that parks right away costs one 4 KiB page and nothing else.
 *
 *   slab:  | slot 0 | slot 1 | slot 2 | ...                 (SLAB_BYTES)
 *   slot:  | reserved page | usable stack ... | task record |
 *          ^ slot base      ^ st->lo            top of slot ^
 *
 * Why slabs.  Linux allows 65,530 memory mappings per process by default
 * (vm.max_map_count).  A stack per mmap would stop near 65,000 tasks, and a
 * guard page costs a mapping of its own (it splits the region), so a million
 * guarded stacks cannot exist.  A slab of ~1,000 slots is one mapping.
 *
 * Overflow.  The reserved page under each stack is either a guard page
 * (PROT_NONE: the overflowing write faults, and the SIGSEGV handler, running
 * on an alternate signal stack, names the task) or, once the guard budget is
 * spent, a canary zone that must read as zero: the CANARY_DENSE bytes right
 * under the stack, and one word every CANARY_STRIDE bytes through the rest
 * of the page.  It is never written, and an untouched anonymous page reads
 * as zero without costing memory (all such pages share the kernel's zero
 * page, so the check reads lines that stay in cache), so the canary needs no
 * initialising write (which would double the cost of an idle task).  Each
 * time a task is switched out, the scheduler checks that its stack pointer
 * is still inside its stack (every stack) and its canary zone and the task
 * pointer at the top of its stack (canary stacks: a write there came from
 * an overflow of the stack above), and aborts naming the task.  A canary
 * slab keeps one guard page, under its lowest slot, so runaway recursion
 * through the slots below ends there, and the SIGSEGV handler names the task
 * whose stack pointer left its stack, not the slot's owner.  What each mode
 * guarantees is in README.md ("Stacks and what protects you").
 *
 * Slabs are guarded while the guard budget (a quarter of vm.max_map_count,
 * two mappings per guard) allows: the first ~16,000 stacks of a default
 * system are guarded, later ones have canaries.  Meson option
 * guard_pages=always|never forces either, and the environment variable
 * UVGO_GUARD_PAGES=auto|always|never overrides the build's choice at run
 * time.
 *
 * Caching, in three tiers.  A worker keeps up to UVGO_STACK_HOT_MAX free
 * stacks per size class, with their pages still resident, so spawn/exit
 * cycles cost no system call; as many of them as it has promised to tasks
 * not yet started stay there (stack.h, "Promises").  Beyond that (and when a
 * worker goes idle) stacks move in batches to a global "warm" pool, still
 * resident.  Memory goes back to the kernel lazily: every release pass (the
 * monitor thread, or an idle worker, about every 100 ms) hands the stacks that
 * sat in the warm pool since the previous pass to the kernel with
 * madvise(DONTNEED), sorted by address so adjacent slots go in one call, and
 * returns their slots to their slabs ("cold").  Rejected: madvise on every
 * overflow.  Each call shoots down the TLB of every core running the process
 * (an IPI), and bench ctxtree spent most of its time there when 10,000 tasks
 * exited at once.  A slab whose slots are all cold is unmapped once its pool
 * has another slab to serve from.
 *
 * Locking (ranks in base/lockrank.h).  Each size class has a pool with one
 * mutex (STACK_POOL) guarding its slabs' free lists and partial list, and
 * a warm pool with another (STACK_WARM); the two are never held together.
 * The registry of slab records is a push-only list under registry_lock
 * (STACK_REGISTRY, taken under a pool's lock when a slab comes or goes);
 * records are reused, never freed, so the SIGSEGV handler can walk it
 * without locks.  They live in pages mapped for them (registry_record_new).
 * A worker's cache is its owner thread's alone (asserted in debug builds).
 */
#include "runtime/stack.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/common.h"
#include "base/list.h"
#include "runtime/runtime.h"

#ifndef UVGO_GUARD_MODE
#define UVGO_GUARD_MODE 0 /* 0 auto, 1 always, 2 never */
#endif

#define SLAB_BYTES ((size_t)64 << 20)
#define MIN_CLASS UVGO_STACK_MIN_SHIFT
/* uvgo_stack_t.index is 16 bits. */
_Static_assert((SLAB_BYTES >> MIN_CLASS) < 65536, "slot index overflows");
#define COLD_BATCH 16
#define ALTSTACK_SIZE (64 * 1024)

struct uvgo_slab {
    /* Immutable while live; read by the signal handler. */
    _Atomic(char *) base; /* NULL when the record is unused */
    size_t slot_size;     /* reserved page + usable stack */
    uint32_t nslots;
    uint8_t cls;
    uint8_t guarded;
    uint8_t bottom_guard; /* unguarded, but slot 0's page is PROT_NONE */
    /* Under pools[cls].lock. */
    uint32_t nfree;           /* entries in free[] */
    atomic_uint hwm;          /* slots ever handed out; relaxed for walkers */
    uint32_t *free;           /* cold free slot indices */
    uvgo_list_node_t partial; /* in its pool's partial list, or in none */
    /* Registry link, push-only. */
    struct uvgo_slab *_Atomic next_all;
};

struct pool {
    pthread_mutex_t lock;
    uvgo_list_t partial; /* slabs with a cold or never-used slot */
    unsigned nslabs;
};

static struct pool pools[UVGO_STACK_CLASSES];

/* The warm pool of a size class: two generations, so a stack is released
 * only after a whole release interval unused. */
struct warm {
    pthread_mutex_t lock;
    uvgo_stack_t *cur, *old; /* arrays */
    size_t ncur, nold, capcur, capold;
};
static struct warm warms[UVGO_STACK_CLASSES];
static struct uvgo_slab *_Atomic registry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static size_t page_size;
static size_t guard_budget;              /* slots we may guard */
static int guard_mode = UVGO_GUARD_MODE; /* the build's, or UVGO_GUARD_PAGES */
static atomic_size_t guarded_slots;      /* slots in guarded slabs */
static struct sigaction old_segv;

static void pools_init(void)
{
    for (int i = 0; i < UVGO_STACK_CLASSES; i++) {
        pthread_mutex_init(&pools[i].lock, NULL);
        pthread_mutex_init(&warms[i].lock, NULL);
    }
}

static size_t read_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    unsigned long v = 0;
    if (f) {
        if (fscanf(f, "%lu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v ? v : 65530;
}

/* ---- overflow reporting (async-signal-safe) ---------------------------- */

static void put_str(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n + 1 < cap)
        buf[(*n)++] = *s++;
}

static void put_u64(char *buf, size_t *n, size_t cap, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i > 0 && *n + 1 < cap)
        buf[(*n)++] = tmp[--i];
}

/* Finds the slab slot whose guard page holds addr; returns its top. */
static char *find_guard_hit(char *addr, size_t *stack_size)
{
    for (struct uvgo_slab *s = atomic_load(&registry); s;
         s = atomic_load(&s->next_all)) {
        char *base = atomic_load(&s->base);
        if (!base || !(s->guarded || s->bottom_guard))
            continue;
        if (addr < base || addr >= base + (size_t)s->nslots * s->slot_size)
            continue;
        size_t off = (size_t)(addr - base) % s->slot_size;
        if (off >= page_size || (!s->guarded && addr >= base + page_size))
            return NULL; /* inside a stack, or a canary zone */
        *stack_size = s->slot_size - page_size;
        return addr - off + s->slot_size;
    }
    return NULL;
}

/* The stack pointer of the interrupted context, or NULL where unknown. */
static char *fault_sp(void *uc)
{
#if defined(__x86_64__) && defined(REG_RSP)
    return (char *)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__) && defined(__linux__)
    return (char *)((ucontext_t *)uc)->uc_mcontext.sp;
#else
    (void)uc;
    return NULL;
#endif
}

/* Writes the overflow report for task t (id, name) and aborts.
 * Async-signal-safe. */
static UVGO_NORETURN void report_overflow(uint64_t id, const char *name,
                                          size_t size, const char *how)
{
    char msg[320];
    size_t n = 0;
    put_str(msg, &n, sizeof msg, "uvgo: fatal error: stack overflow in task ");
    put_u64(msg, &n, sizeof msg, id);
    put_str(msg, &n, sizeof msg, " \"");
    put_str(msg, &n, sizeof msg, name);
    put_str(msg, &n, sizeof msg, "\" (stack ");
    put_u64(msg, &n, sizeof msg, size);
    put_str(msg, &n, sizeof msg, " bytes; ");
    put_str(msg, &n, sizeof msg, how);
    put_str(msg, &n, sizeof msg, "); spawn it with a larger stack_size\n");
    ssize_t r = write(2, msg, n);
    (void)r;
    signal(SIGABRT, SIG_DFL);
    abort();
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    size_t size = 0;
    char *addr = (char *)si->si_addr, *sp = fault_sp(uc), *top;
    uvgo_task_t *t = uvgo__task_self();

    /* The running task's stack pointer has left its stack, or the fault
     * is in the page right under it: that task overflowed, whoever owns
     * the memory it ran into (a canary stack's overflow runs through the
     * slots below until it meets a guard). */
    if (t && !(t->resume & UVGO_RESUME_FRESH) && t->stack.lo) {
        char *lo = t->stack.lo, *hi = lo + t->stack.size;
        if (sp && (sp < lo || sp > hi))
            report_overflow(t->id, t->name, t->stack.size,
                            "its stack pointer left its stack");
        if (addr < lo && addr >= lo - page_size)
            report_overflow(t->id, t->name, t->stack.size,
                            "it wrote under its stack");
    }
    top = find_guard_hit(addr, &size);
    if (top) {
        uint64_t id = 0;
        const char *name = uvgo__task_describe_top(top, &id);
        report_overflow(id, name, size, "it ran into its guard page");
    }
    /* Not ours: hand the fault to whoever had SIGSEGV before us. */
    if (old_segv.sa_flags & SA_SIGINFO) {
        if (old_segv.sa_sigaction) {
            old_segv.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old_segv.sa_handler != SIG_DFL &&
               old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
        return;
    }
    /* Re-executing the faulting instruction now takes the default action. */
    sigaction(SIGSEGV, &old_segv, NULL);
}

/* ---- canaries ------------------------------------------------------------ */

int uvgo__stack_canary_check(const uvgo_stack_t *st, const void *task)
{
    const uint64_t *dense = (const uint64_t *)(st->lo - CANARY_DENSE);
    uint64_t any = 0;

    for (size_t i = 0; i < CANARY_DENSE / 8; i++)
        any |= dense[i];
    for (size_t off = CANARY_STRIDE; off <= page_size; off += CANARY_STRIDE)
        any |= *(const uint64_t *)(st->lo - off);
    if (any)
        return UVGO_STACK_CANARY;
    if (*(void *const *)(st->lo + st->size - UVGO_STACK_TOP_RESERVE) != task)
        return UVGO_STACK_TOP;
    return 0;
}

const char *uvgo__stack_above(const uvgo_stack_t *st, uint64_t *id)
{
    struct uvgo_slab *s = st->slab;
    char *top_above = st->lo + st->size + s->slot_size;
    uvgo_task_t *t;

    *id = 0;
    if ((uint32_t)st->index + 1 >= s->nslots)
        return NULL; /* the top slot: another mapping lies above */
    t = *(uvgo_task_t **)(top_above - UVGO_STACK_TOP_RESERVE);
    /* A slot keeps the pointer of the last task that ran on it; records
     * stay mapped while the runtime runs, so it can be read, and it names
     * the culprit only if that task still owns the slot. */
    if (!t || t->stack.lo != st->lo + st->size + page_size ||
        atomic_load_explicit(&t->state, memory_order_relaxed) == UVGO_TASK_FREE)
        return NULL;
    *id = t->id;
    return t->name;
}

static void global_init_once(void)
{
    struct sigaction sa;

    const char *env = getenv("UVGO_GUARD_PAGES");

    page_size = (size_t)sysconf(_SC_PAGESIZE);
    pools_init();
    if (env && !strcmp(env, "auto"))
        guard_mode = 0;
    else if (env && !strcmp(env, "always"))
        guard_mode = 1;
    else if (env && !strcmp(env, "never"))
        guard_mode = 2;
    guard_budget = read_max_map_count() / 4;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    /* Under sanitizers this replaces their SIGSEGV report, which we chain
     * to for every fault that is not a guard-page hit. */
    sigaction(SIGSEGV, &sa, &old_segv);
}

int uvgo__stack_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return 0;
}

int uvgo__stack_thread_init(void **altstack)
{
    stack_t ss;
    void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *altstack = NULL;
    if (mem == MAP_FAILED)
        return UVGO_ENOMEM;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mem;
    ss.ss_size = ALTSTACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, ALTSTACK_SIZE);
        return UVGO_ENOMEM;
    }
    *altstack = mem;
    return 0;
}

void uvgo__stack_thread_close(void *altstack)
{
    stack_t ss;
    if (!altstack)
        return;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    munmap(altstack, ALTSTACK_SIZE);
}

/* ---- slabs --------------------------------------------------------------- */

/* The partial list, newest first.  Caller holds p->lock. */
static void partial_push(struct pool *p, struct uvgo_slab *s)
{
    uvgo__assert(uvgo__mutex_held(&p->lock));
    if (!uvgo__list_contains(&p->partial, &s->partial))
        uvgo__list_push_front(&p->partial, &s->partial);
}

static void partial_remove(struct pool *p, struct uvgo_slab *s)
{
    uvgo__assert(uvgo__mutex_held(&p->lock));
    if (uvgo__list_contains(&p->partial, &s->partial))
        uvgo__list_remove(&p->partial, &s->partial);
}

/* A fresh slab record.  Records outlive every runtime (the SIGSEGV handler
 * may walk them at any time), so they come from pages of their own, not
 * from the replaceable allocator, whose functions may change between two
 * runtimes.  Caller holds registry_lock. */
static struct uvgo_slab *registry_record_new(void)
{
    static char *page;
    static size_t used, cap;
    struct uvgo_slab *s;

    uvgo__assert(uvgo__mutex_held(&registry_lock));
    if (used == cap) {
        void *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        page = p;
        used = 0;
        cap = page_size / sizeof *s;
    }
    s = (struct uvgo_slab *)page + used++;
    return s; /* zero: a fresh anonymous page */
}

/* Maps a new slab for class `cls`.  Caller holds pools[cls].lock. */
static struct uvgo_slab *slab_create(int cls)
{
    size_t stack = (size_t)1 << (cls + MIN_CLASS);
    size_t slot = stack + page_size;
    uint32_t nslots = (uint32_t)(SLAB_BYTES / slot);
    struct uvgo_slab *s = NULL;
    int guarded, bottom_guard = 0;
    char *base;

    uvgo__assert(uvgo__mutex_held(&pools[cls].lock));
    if (nslots == 0)
        nslots = 1;
    if (guard_mode == 1)
        guarded = 1;
    else if (guard_mode == 2)
        guarded = 0;
    else
        guarded = atomic_load(&guarded_slots) + nslots <= guard_budget;

    base = mmap(NULL, (size_t)nslots * slot, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    /* A huge page would commit 2 MiB for a task that touches 4 KiB. */
    madvise(base, (size_t)nslots * slot, MADV_NOHUGEPAGE);
    if (guarded) {
        for (uint32_t i = 0; i < nslots; i++) {
            if (mprotect(base + (size_t)i * slot, page_size, PROT_NONE) != 0) {
                munmap(base, (size_t)nslots * slot);
                return NULL; /* map-count limit reached */
            }
        }
        atomic_fetch_add(&guarded_slots, nslots);
    } else {
        /* One guard under the lowest slot (one more mapping per slab) ends
         * runaway recursion through the slots below it.  Without it (the
         * map count ran out) that slot is a canary stack like the rest. */
        bottom_guard = mprotect(base, page_size, PROT_NONE) == 0;
    }

    uvgo__mutex_lock(&registry_lock, UVGO_RANK_STACK_REGISTRY);
    for (struct uvgo_slab *r = atomic_load(&registry); r;
         r = atomic_load(&r->next_all)) {
        if (!atomic_load(&r->base)) {
            s = r;
            break;
        }
    }
    if (!s) {
        s = registry_record_new();
        if (s) {
            atomic_store(&s->next_all, atomic_load(&registry));
            atomic_store(&registry, s);
        }
    }
    if (s) {
        s->free = uvgo__malloc(sizeof(uint32_t) * nslots);
        if (!s->free) {
            uvgo__mutex_unlock(&registry_lock);
            goto fail;
        }
        s->slot_size = slot;
        s->nslots = nslots;
        s->cls = (uint8_t)cls;
        s->guarded = (uint8_t)guarded;
        s->bottom_guard = (uint8_t)bottom_guard;
        s->nfree = 0;
        atomic_store(&s->hwm, 0);
        uvgo__assert(!s->partial.next && !s->partial.prev);
        atomic_store(&s->base, base);
    }
    uvgo__mutex_unlock(&registry_lock);
    if (!s)
        goto fail;
    pools[cls].nslabs++;
    return s;

fail:
    if (guarded)
        atomic_fetch_sub(&guarded_slots, nslots);
    munmap(base, (size_t)nslots * slot);
    return NULL;
}

/* Unmaps a slab whose slots are all cold.  Caller holds its pool's lock. */
static void slab_destroy(struct pool *p, struct uvgo_slab *s)
{
    char *base = atomic_load(&s->base);
    uvgo__assert(uvgo__mutex_held(&p->lock));
    partial_remove(p, s);
    uvgo__mutex_lock(&registry_lock, UVGO_RANK_STACK_REGISTRY);
    atomic_store(&s->base, NULL);
    uvgo__free(s->free);
    s->free = NULL;
    uvgo__mutex_unlock(&registry_lock);
    munmap(base, (size_t)s->nslots * s->slot_size);
    if (s->guarded)
        atomic_fetch_sub(&guarded_slots, s->nslots);
    p->nslabs--;
}

static void slot_fill(struct uvgo_slab *s, uint32_t i, uvgo_stack_t *st)
{
    char *slot = atomic_load(&s->base) + (size_t)i * s->slot_size;
    st->lo = slot + page_size;
    st->size = s->slot_size - page_size;
    st->slab = s;
    st->index = (uint16_t)i;
    st->cls = s->cls;
    st->guarded = s->guarded || (i == 0 && s->bottom_guard);
    st->home = 0; /* cold */
}

/* Takes one cold slot.  Caller holds pools[cls].lock. */
static int slot_take(int cls, uvgo_stack_t *st)
{
    struct pool *p = &pools[cls];
    uvgo_list_node_t *n = uvgo__list_first(&p->partial);
    struct uvgo_slab *s =
        n ? uvgo__container_of(n, struct uvgo_slab, partial) : NULL;
    uint32_t i;

    uvgo__assert(uvgo__mutex_held(&p->lock));
    if (!s) {
        s = slab_create(cls);
        if (!s)
            return 0;
        partial_push(p, s);
    }
    if (s->nfree > 0) {
        i = s->free[--s->nfree];
    } else {
        i = atomic_load_explicit(&s->hwm, memory_order_relaxed);
        atomic_store_explicit(&s->hwm, i + 1, memory_order_relaxed);
    }
    if (s->nfree == 0 && atomic_load(&s->hwm) == s->nslots)
        partial_remove(p, s);
    slot_fill(s, i, st);
    return 1;
}

/* Returns a slot to its slab.  The slot's memory must already be released.
 * Caller holds the slab's pool lock. */
static void slot_put(const uvgo_stack_t *st)
{
    struct uvgo_slab *s = st->slab;
    struct pool *p = &pools[s->cls];

    uvgo__assert(uvgo__mutex_held(&p->lock) && s->nfree < s->nslots);
    s->free[s->nfree++] = st->index;
    partial_push(p, s);
    if (s->nfree == atomic_load(&s->hwm) && p->nslabs > 1)
        slab_destroy(p, s);
}

static void slot_release_memory(const uvgo_stack_t *st)
{
    /* The task record sits in the last page: give back everything. */
    madvise(st->lo, st->size, MADV_DONTNEED);
}

static void free_cold(const uvgo_stack_t *st)
{
    slot_release_memory(st);
    uvgo__mutex_lock(&pools[st->cls].lock, UVGO_RANK_STACK_POOL);
    slot_put(st);
    uvgo__mutex_unlock(&pools[st->cls].lock);
}

/* Moves n stacks into the warm pool (or, if it cannot grow, releases
 * them at once). */
static void warm_put(int cls, const uvgo_stack_t *st, size_t n)
{
    struct warm *wp = &warms[cls];
    uvgo__mutex_lock(&wp->lock, UVGO_RANK_STACK_WARM);
    if (wp->ncur + n > wp->capcur) {
        size_t cap = (wp->ncur + n) * 2;
        uvgo_stack_t *a = uvgo__realloc(wp->cur, cap * sizeof *a);
        if (!a) {
            uvgo__mutex_unlock(&wp->lock);
            for (size_t i = 0; i < n; i++)
                free_cold(&st[i]);
            return;
        }
        wp->cur = a;
        wp->capcur = cap;
    }
    memcpy(&wp->cur[wp->ncur], st, n * sizeof *st);
    wp->ncur += n;
    uvgo__mutex_unlock(&wp->lock);
}

/* Takes up to `want` warm stacks into out[]; returns how many. */
static size_t warm_take(int cls, uvgo_stack_t *out, size_t want)
{
    struct warm *wp = &warms[cls];
    size_t got = 0;
    uvgo__mutex_lock(&wp->lock, UVGO_RANK_STACK_WARM);
    while (got < want && wp->ncur)
        out[got++] = wp->cur[--wp->ncur];
    while (got < want && wp->nold)
        out[got++] = wp->old[--wp->nold];
    uvgo__mutex_unlock(&wp->lock);
    return got;
}

/* Whether `cache` is the calling worker's ("owner thread").  Asserts. */
static inline int cache_mine(const uvgo_stack_cache_t *cache)
{
    struct uvgo_worker *w = uvgo__worker_self();
    return w && &w->stacks == cache;
}

/* The promises of `cache` not yet given back, folding in those released
 * by other workers.  Owner thread. */
static unsigned promised(uvgo_stack_cache_t *cache, int cls)
{
    /* relaxed: a late fold only keeps a stack more than needed. */
    if (atomic_load_explicit(&cache->released[cls], memory_order_relaxed)) {
        unsigned r = atomic_exchange_explicit(&cache->released[cls], 0,
                                              memory_order_relaxed);
        cache->promised[cls] = (uint16_t)(cache->promised[cls] - r);
    }
    return cache->promised[cls];
}

/* Takes up to `want` cold slots of class cls into out[] from the slabs
 * that have some, mapping a new slab only if `map` and none has; returns
 * how many. */
static unsigned cold_take(int cls, uvgo_stack_t *out, unsigned want, int map)
{
    unsigned got = 0;
    uvgo__mutex_lock(&pools[cls].lock, UVGO_RANK_STACK_POOL);
    while (got < want &&
           (!uvgo__list_empty(&pools[cls].partial) || (map && got == 0)) &&
           slot_take(cls, &out[got]))
        got++;
    uvgo__mutex_unlock(&pools[cls].lock);
    return got;
}

/* Makes sure `cache` holds a stack of class cls beyond its promises: 1, or
 * 0 when none can be had (or the cache is full of promised stacks).  For a
 * stack to run on now (`run`), warm stacks come first: their pages are
 * resident.  For a promise they come last: a burst's promises are kept
 * with stacks most of which no task will touch (each runs on the warmest),
 * and warm ones would keep their pages resident in the cache instead of
 * going back to the kernel from the warm pool; but cold slots come only
 * from slabs that have them, not from a new slab while warm stacks wait. */
static int cache_spare(uvgo_stack_cache_t *cache, int cls, int run)
{
    unsigned n = cache->n[cls], room, want;
    uvgo_stack_t *slots = cache->slot[cls];

    uvgo__assert(cache_mine(cache));
    if (n > promised(cache, cls))
        return 1;
    room = UVGO_STACK_HOT_MAX - n;
    if (room == 0)
        return 0;
    want = room < COLD_BATCH * 2 ? room : COLD_BATCH * 2;
    if (!run)
        n += cold_take(cls, &slots[n], want, 0);
    if (n == cache->n[cls])
        n += (unsigned)warm_take(cls, &slots[n], want);
    if (n == cache->n[cls])
        n +=
            cold_take(cls, &slots[n], want < COLD_BATCH ? want : COLD_BATCH, 1);
    if (n > cache->n[cls] && cache->n[cls] > 0) {
        /* The warmest stack stays on top: the next task to start here
         * runs on it, not on one just taken in (which would make each
         * refill warm one more stack). */
        uvgo_stack_t t = slots[cache->n[cls] - 1];
        slots[cache->n[cls] - 1] = slots[n - 1];
        slots[n - 1] = t;
    }
    cache->n[cls] = (uint16_t)n;
    return n > cache->promised[cls];
}

char *uvgo__stack_alloc(uvgo_stack_cache_t *cache, size_t size,
                        uvgo_stack_t *st)
{
    int cls = uvgo__stack_class(size);

    if (cls < 0)
        return NULL;
    if (cache) {
        if (!cache_spare(cache, cls, 1))
            return NULL;
        *st = cache->slot[cls][--cache->n[cls]];
        return st->lo + st->size;
    }
    if (!warm_take(cls, st, 1)) {
        uvgo__mutex_lock(&pools[cls].lock, UVGO_RANK_STACK_POOL);
        if (!slot_take(cls, st)) {
            uvgo__mutex_unlock(&pools[cls].lock);
            return NULL;
        }
        uvgo__mutex_unlock(&pools[cls].lock);
    }
    return st->lo + st->size;
}

int uvgo__stack_promise_slow(uvgo_stack_cache_t *cache, int cls,
                             uvgo_stack_t *st)
{
    if (!cache_spare(cache, cls, 0))
        return -1;
    if (cache->promised[cls] >= UVGO_STACK_PROMISE_MAX) {
        *st = cache->slot[cls][--cache->n[cls]];
        return 0;
    }
    cache->promised[cls]++;
    st->lo = NULL;
    st->cls = (uint8_t)cls;
    return 0;
}

int uvgo__stack_redeem_elsewhere(uvgo_stack_cache_t *cache,
                                 uvgo_stack_cache_t *from, uvgo_stack_t *st)
{
    int cls = st->cls;

    if (!cache_spare(cache, cls, 1))
        return -1;
    *st = cache->slot[cls][--cache->n[cls]];
    uvgo__stack_owe(cache, from, cls);
    return 0;
}

int uvgo__stack_adopt(uvgo_stack_cache_t *cache, uvgo_stack_cache_t *from,
                      int cls)
{
    if (cache->promised[cls] >= UVGO_STACK_PROMISE_MAX ||
        !cache_spare(cache, cls, 0))
        return 0;
    cache->promised[cls]++;
    uvgo__stack_owe(cache, from, cls);
    return 1;
}

void uvgo__stack_owe_flush(uvgo_stack_cache_t *cache)
{
    if (cache->owe_n) {
        /* relaxed: see uvgo_stack_cache_t. */
        atomic_fetch_add_explicit(&cache->owe_to->released[cache->owe_cls],
                                  cache->owe_n, memory_order_relaxed);
        cache->owe_n = 0;
    }
}

void uvgo__stack_unpromise(uvgo_stack_cache_t *cache, uvgo_stack_cache_t *from,
                           const uvgo_stack_t *st)
{
    if (from == cache)
        cache->promised[st->cls]--;
    else
        uvgo__stack_owe(cache, from, st->cls);
}

void uvgo__stack_free(uvgo_stack_cache_t *cache, const uvgo_stack_t *st)
{
    int cls = st->cls;

    if (cache) {
        unsigned n = cache->n[cls];
        uvgo__assert(cache_mine(cache));
        if (n == UVGO_STACK_HOT_MAX) {
            /* Hand the older half of the unpromised stacks to the warm
             * pool, keep the warmest. */
            unsigned spill = n - promised(cache, cls);
            if (spill > UVGO_STACK_HOT_MAX / 2)
                spill = UVGO_STACK_HOT_MAX / 2;
            if (spill == 0) {
                warm_put(cls, st, 1);
                return;
            }
            warm_put(cls, &cache->slot[cls][0], spill);
            memmove(&cache->slot[cls][0], &cache->slot[cls][spill],
                    sizeof(cache->slot[cls][0]) * (n - spill));
            n -= spill;
        }
        cache->slot[cls][n] = *st;
        cache->n[cls] = (uint16_t)(n + 1);
        return;
    }
    warm_put(cls, st, 1);
}

void uvgo__stack_cache_trim(uvgo_stack_cache_t *cache, unsigned want)
{
    uvgo__assert(cache_mine(cache));
    uvgo__stack_owe_flush(cache);
    for (int cls = 0; cls < UVGO_STACK_CLASSES; cls++) {
        unsigned n = cache->n[cls], keep = want;
        if (n <= keep)
            continue;
        if (keep < promised(cache, cls))
            keep = cache->promised[cls];
        if (n <= keep)
            continue;
        unsigned drop = n - keep;
        warm_put(cls, &cache->slot[cls][0], drop);
        memmove(&cache->slot[cls][0], &cache->slot[cls][drop],
                sizeof(cache->slot[cls][0]) * keep);
        cache->n[cls] = (uint16_t)keep;
    }
}

static int cmp_lo(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const uvgo_stack_t *)a)->lo;
    uintptr_t y = (uintptr_t)((const uvgo_stack_t *)b)->lo;
    return x < y ? -1 : x > y;
}

/* Gives the memory of n stacks back, in as few madvise calls as adjacent
 * slots allow, and returns their slots to their slabs. */
static void release_batch(int cls, uvgo_stack_t *st, size_t n)
{
    size_t i = 0;
    qsort(st, n, sizeof *st, cmp_lo);
    while (i < n) {
        size_t j = i + 1;
        size_t slot = st[i].size + page_size;
        /* Slot j follows slot j-1 in one slab: extend the run (it takes in
         * the reserved page between them, which is harmless to zap). */
        while (j < n && st[j].slab == st[i].slab &&
               st[j].lo == st[j - 1].lo + slot)
            j++;
        madvise(st[i].lo, (size_t)(st[j - 1].lo - st[i].lo) + st[j - 1].size,
                MADV_DONTNEED);
        i = j;
    }
    uvgo__mutex_lock(&pools[cls].lock, UVGO_RANK_STACK_POOL);
    for (i = 0; i < n; i++)
        slot_put(&st[i]);
    uvgo__mutex_unlock(&pools[cls].lock);
}

void uvgo__stack_release_idle(void)
{
    for (int cls = 0; cls < UVGO_STACK_CLASSES; cls++) {
        struct warm *wp = &warms[cls];
        uvgo_stack_t *old;
        size_t nold;
        uvgo__mutex_lock(&wp->lock, UVGO_RANK_STACK_WARM);
        /* The old generation goes (its array with it, released outside the
         * lock); the current one becomes old; a new current array grows on
         * the next put. */
        old = wp->old;
        nold = wp->nold;
        wp->old = wp->cur;
        wp->nold = wp->ncur;
        wp->capold = wp->capcur;
        wp->cur = NULL;
        wp->ncur = wp->capcur = 0;
        uvgo__mutex_unlock(&wp->lock);
        if (nold)
            release_batch(cls, old, nold);
        uvgo__free(old);
    }
}

void uvgo__stack_global_reset(void)
{
    for (int cls = 0; cls < UVGO_STACK_CLASSES; cls++) {
        struct warm *wp = &warms[cls];
        uvgo__mutex_lock(&wp->lock, UVGO_RANK_STACK_WARM);
        uvgo__free(wp->cur);
        uvgo__free(wp->old);
        wp->cur = wp->old = NULL;
        wp->ncur = wp->nold = wp->capcur = wp->capold = 0;
        uvgo__mutex_unlock(&wp->lock);
    }
    for (int cls = 0; cls < UVGO_STACK_CLASSES; cls++) {
        struct pool *p = &pools[cls];
        uvgo__mutex_lock(&p->lock, UVGO_RANK_STACK_POOL);
        for (struct uvgo_slab *s = atomic_load(&registry); s;
             s = atomic_load(&s->next_all)) {
            if (atomic_load(&s->base) && s->cls == cls) {
                p->nslabs = 0; /* let slab_destroy unmap every one */
                slab_destroy(p, s);
            }
        }
        uvgo__assert(uvgo__list_empty(&p->partial));
        p->nslabs = 0;
        uvgo__mutex_unlock(&p->lock);
    }
}
