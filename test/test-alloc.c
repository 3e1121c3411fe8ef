/* test-alloc.c: the replaceable allocator, and fault injection: every call
 * that allocates is run with its 1st, 2nd, ... allocation failing, until it
 * runs with none failing.  Each failed run must return UVGO_ENOMEM, keep no
 * memory (the allocator below counts live blocks; LeakSanitizer checks
 * again at exit under ASan) and leave everything usable.
 *
 * The failing allocator counts only allocations made on the thread that
 * armed it, so the monitor thread and other workers do not shift the count;
 * the in-runtime sweeps run with one worker, where every task runs on the
 * arming thread.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

/* ---- a counting allocator that fails on demand ------------------------- */

static atomic_long live_blocks;  /* allocated and not yet freed */
static atomic_long fail_at;      /* fail the armed thread's Nth call; 0 never */
static atomic_long armed_calls;  /* the armed thread's calls so far */
static atomic_int injected;      /* an allocation was failed */
static pthread_t armed_thread;
static atomic_int armed;

/* Whether this call is the one to fail. */
static int should_fail(void)
{
    if (!atomic_load(&armed) || !pthread_equal(pthread_self(), armed_thread))
        return 0;
    if (atomic_fetch_add(&armed_calls, 1) + 1 != atomic_load(&fail_at))
        return 0;
    atomic_store(&injected, 1);
    return 1;
}

static void *t_malloc(size_t n)
{
    void *p = should_fail() ? NULL : malloc(n);
    if (p)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

static void *t_calloc(size_t n, size_t size)
{
    void *p = should_fail() ? NULL : calloc(n, size);
    if (p)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

static void *t_realloc(void *old, size_t n)
{
    void *p = should_fail() ? NULL : realloc(old, n);
    if (p && !old)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

static void t_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

static void use_test_allocator(void)
{
    ASSERT_OK(uvgo_replace_allocator(t_malloc, t_realloc, t_calloc, t_free));
}

/* Fails the nth allocation this thread makes from now on. */
static void arm(long nth)
{
    armed_thread = pthread_self();
    atomic_store(&armed_calls, 0);
    atomic_store(&injected, 0);
    atomic_store(&fail_at, nth);
    atomic_store(&armed, 1);
}

/* Stops failing; returns whether an allocation was failed. */
static int disarm(void)
{
    atomic_store(&armed, 0);
    atomic_store(&fail_at, 0);
    return atomic_load(&injected);
}

/* ---- the allocator itself ------------------------------------------------ */

static void *count_blocks(void *arg)
{
    uvgo_chan_t *ch;
    (void)arg;
    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 4));
    ASSERT_GT(atomic_load(&live_blocks), 0);
    ASSERT_ERR(uvgo_replace_allocator(malloc, realloc, calloc, free),
               UVGO_EBUSY);
    uvgo_chan_release(ch);
    return NULL;
}

static void replace_allocator_sees_every_block_and_refuses_while_running(void)
{
    ASSERT_ERR(uvgo_replace_allocator(NULL, realloc, calloc, free),
               UVGO_EINVAL);
    ASSERT_ERR(uvgo_replace_allocator(malloc, realloc, calloc, NULL),
               UVGO_EINVAL);
    use_test_allocator();
    uvgo_procs(2);
    ASSERT_OK(uvgo_main(count_blocks, NULL, NULL));
    /* The runtime gave back everything it took. */
    ASSERT_EQ(atomic_load(&live_blocks), 0);
    ASSERT_OK(uvgo_replace_allocator(malloc, realloc, calloc, free));
}

/* ---- uvgo_main ------------------------------------------------------------ */

static atomic_int main_ran;

static void *note_main_ran(void *arg)
{
    (void)arg;
    atomic_store(&main_ran, 1);
    return NULL;
}

/* Issue 8, item 1: a worker after the first failing to allocate crashed. */
static void uvgo_main_fails_cleanly_at_every_start_up_allocation(void)
{
    long k;
    use_test_allocator();
    uvgo_procs(4);
    for (k = 1;; k++) {
        int r;
        atomic_store(&main_ran, 0);
        arm(k);
        r = uvgo_main(note_main_ran, NULL, NULL);
        if (!disarm()) {
            ASSERT_OK(r);
            ASSERT_EQ(atomic_load(&main_ran), 1);
            break;
        }
        if (r != UVGO_ENOMEM)
            TEST_FAIL_("allocation %ld failed: uvgo_main returned %s", k,
                       uvgo_err_name(r));
        ASSERT_EQ(atomic_load(&main_ran), 0);
        ASSERT_EQ(atomic_load(&live_blocks), 0);
    }
    fprintf(stderr, "uvgo_main: %ld allocation points\n", k - 1);
    ASSERT_GE(k - 1, 4); /* the runtime, the worker table, four workers */
    ASSERT_EQ(atomic_load(&live_blocks), 0);
}

static const test_case_t cases[] = {
    CASE_PLAIN(replace_allocator_sees_every_block_and_refuses_while_running),
    CASE_PLAIN(uvgo_main_fails_cleanly_at_every_start_up_allocation),
};

TEST_MAIN(cases)
