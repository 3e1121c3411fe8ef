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

static atomic_long live_blocks; /* allocated and not yet freed */
static atomic_long fail_at;     /* fail the armed thread's Nth call; 0 never */
static atomic_long armed_calls; /* the armed thread's calls so far */
static atomic_int injected;     /* an allocation was failed */
static pthread_t armed_thread;
static atomic_int armed;

/* Every allocation made on another thread than armed_thread fails. */
static atomic_int fail_elsewhere;

/* Whether this call is the one to fail. */
static int should_fail(void)
{
    if (atomic_load(&fail_elsewhere) &&
        !pthread_equal(pthread_self(), armed_thread)) {
        atomic_store(&injected, 1);
        return 1;
    }
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

/* ---- uvgo_main ------------------------------------------------------------
 */

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

/* Single-loop mode starts a runtime too. */
static void uvgo_loop_attach_fails_cleanly_at_every_allocation(void)
{
    uv_loop_t loop;
    long k;
    use_test_allocator();
    ASSERT_OK(uv_loop_init(&loop));
    for (k = 1;; k++) {
        int r;
        arm(k);
        r = uvgo_loop_attach(&loop);
        if (!disarm()) {
            ASSERT_OK(r);
            break;
        }
        ASSERT_ERR(r, UVGO_ENOMEM);
        ASSERT_EQ(atomic_load(&live_blocks), 0);
        ASSERT(!uv_loop_alive(&loop)); /* nothing left on the host's loop */
    }
    fprintf(stderr, "uvgo_loop_attach: %ld allocation points\n", k - 1);
    ASSERT_GE(k - 1, 3); /* the runtime, the worker table, the worker */
    ASSERT_OK(uvgo_loop_detach(&loop));
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_EQ(atomic_load(&live_blocks), 0);
    ASSERT_OK(uv_loop_close(&loop));
}

/* ---- a stolen task whose thief has no stack for it --------------------------
 */

/* A task spawned on a worker for that worker is promised a stack of its
 * cache; if another worker steals it and can find no stack (no memory),
 * the task goes back to the worker that keeps one for it. */
#define BIG_STACK ((size_t)4 << 20) /* 15 slots a slab: one cache refill */
#define STOLEN 8
static atomic_int stolen_ran, stolen_on_other, stolen_home;

static void *note_where_it_ran(void *arg)
{
    (void)arg;
    if (uvgo_worker_id() != atomic_load(&stolen_home))
        atomic_fetch_add(&stolen_on_other, 1);
    atomic_fetch_add(&stolen_ran, 1);
    return NULL;
}

static void *spawn_then_hold_the_worker(void *arg)
{
    uvgo_task_opts_t o = {.stack_size = BIG_STACK};
    uvgo_task_t *t[STOLEN];
    int64_t until;
    (void)arg;
    /* The worker this task runs on promises the stacks below; the task
     * does not switch until they have been stolen. */
    atomic_store(&stolen_home, uvgo_worker_id());
    /* Only this worker's thread may allocate from now on.  The first spawn
     * of the size maps its slab and takes every slot into this worker's
     * cache: the other worker can only get one by mapping a new slab. */
    armed_thread = pthread_self();
    atomic_store(&fail_elsewhere, 1);
    for (int i = 0; i < STOLEN; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], note_where_it_ran, NULL, &o));
    /* Hold the worker without a switch until the other one has tried to
     * steal (its thread may get no CPU for a while on a loaded machine);
     * the bound only guards against a steal that never comes. */
    until = uvgo_now() + 20 * UVGO_SECOND;
    while (!atomic_load(&injected) && uvgo_now() < until)
        ;
    /* Those sent home may be stolen again meanwhile, and sent home again. */
    for (int i = 0; i < STOLEN; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    atomic_store(&fail_elsewhere, 0);
    ASSERT_EQ(atomic_load(&stolen_ran), STOLEN);
    return NULL;
}

static void stolen_task_without_a_stack_goes_back_to_its_worker(void)
{
    use_test_allocator();
    uvgo_procs(2);
    ASSERT_OK(uvgo_main(spawn_then_hold_the_worker, NULL, NULL));
    /* Whatever was stolen found no stack on the thief and ran at home. */
    ASSERT_EQ(atomic_load(&stolen_on_other), 0);
    ASSERT(atomic_load(&injected)); /* the thief did try */
    ASSERT_EQ(atomic_load(&live_blocks), 0);
}

/* ---- the sweep --------------------------------------------------------------
 */

/* A call under test: returns 0 or a negative error.  On success `undo`
 * (if any) gives back what it made. */
struct op {
    const char *name;
    int (*call)(void *state);
    void (*undo)(void *state);
    /* 1: a failed call may keep a cache it filled before the failure (the
     * runtime frees it when it ends; run_sweep checks that). */
    int caches;
};

static long sweep_points; /* allocation points swept in this process */

/* Runs op with its 1st, 2nd, ... allocation failing, until it runs with
 * none failing.  Each run that had one fail must return UVGO_ENOMEM (or 0
 * where the call falls back) and keep no block.  Returns how many
 * allocations the call makes. */
static long sweep(const struct op *op)
{
    long k;
    for (k = 1;; k++) {
        long before = atomic_load(&live_blocks);
        int r;
        arm(k);
        r = op->call(NULL);
        if (!disarm()) {
            if (r < 0)
                TEST_FAIL_("%s: %s with no allocation failing", op->name,
                           uvgo_err_name(r));
            if (op->undo)
                op->undo(NULL);
            break;
        }
        if (r == 0) { /* a fallback took over: it must still work */
            if (op->undo)
                op->undo(NULL);
            continue;
        }
        if (r != UVGO_ENOMEM)
            TEST_FAIL_("%s: allocation %ld failed: returned %s, want "
                       "ENOMEM",
                       op->name, k, uvgo_err_name(r));
        if (atomic_load(&live_blocks) != before && !op->caches)
            TEST_FAIL_("%s: allocation %ld failed: %ld block(s) kept", op->name,
                       k, atomic_load(&live_blocks) - before);
    }
    fprintf(stderr, "%s: %ld allocation point%s\n", op->name, k - 1,
            k == 2 ? "" : "s");
    sweep_points += k - 1;
    return k - 1;
}

static void sweep_all(const struct op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sweep(&ops[i]);
}

/* Runs body as the main task of a one-worker runtime under the failing
 * allocator, and checks that every block came back afterwards. */
static void run_sweep(uvgo_task_fn body)
{
    use_test_allocator();
    uvgo_procs(1);
    ASSERT_OK(uvgo_main(body, NULL, NULL));
    ASSERT_EQ(atomic_load(&live_blocks), 0);
    fprintf(stderr, "%ld allocation points, each failed once\n", sweep_points);
}

/* ---- tasks and channels
 * ------------------------------------------------------ */

static void *return_arg(void *arg)
{
    return arg;
}

static uvgo_task_t *swept_task;

static int spawn_new_stack_class(void *st)
{
    /* The first task of a size class maps a slab for it, whose slot
     * table is allocated. */
    uvgo_task_opts_t o = {.stack_size = 256 * 1024};
    (void)st;
    return uvgo_task_spawn(&swept_task, return_arg, (void *)7, &o);
}

static void join_swept_task(void *st)
{
    (void)st;
    ASSERT_EQ(test_join(swept_task), 7);
}

static uvgo_task_key_t swept_key;

/* A task's first local value allocates its table: fail it, then set. */
static void *set_local_after_a_failure(void *arg)
{
    long before = atomic_load(&live_blocks);
    int r;
    (void)arg;
    arm(1);
    r = uvgo_task_local_set(swept_key, (void *)1);
    ASSERT(disarm());
    ASSERT_ERR(r, UVGO_ENOMEM);
    ASSERT_EQ(atomic_load(&live_blocks), before);
    ASSERT(uvgo_task_local_get(swept_key) == NULL);
    ASSERT_OK(uvgo_task_local_set(swept_key, (void *)2));
    ASSERT_PTR_EQ(uvgo_task_local_get(swept_key), (void *)2);
    return NULL;
}

static uvgo_chan_t *swept_chan;

static int chan_make(void *st)
{
    (void)st;
    return uvgo_chan_make(&swept_chan, sizeof(int), 8);
}

static void chan_release(void *st)
{
    int v = 5, w = 0;
    (void)st;
    ASSERT_OK(uvgo_chan_send(swept_chan, &v, sizeof v));
    ASSERT_OK(uvgo_chan_recv(swept_chan, &w, sizeof w, NULL));
    ASSERT_EQ(w, 5);
    uvgo_chan_release(swept_chan);
}

static void *sweep_tasks_and_channels(void *arg)
{
    static const struct op ops[] = {
        {"uvgo_task_spawn (a new stack size)", spawn_new_stack_class,
         join_swept_task, 0},
        {"uvgo_chan_make", chan_make, chan_release, 0},
    };
    (void)arg;
    sweep_all(ops, sizeof ops / sizeof ops[0]);
    ASSERT_OK(uvgo_task_key_create(&swept_key, NULL));
    ASSERT_EQ(test_join(test_spawn(set_local_after_a_failure, NULL)), 0);
    fprintf(stderr, "uvgo_task_local_set: 1 allocation point\n");
    sweep_points++;
    return NULL;
}

static void spawn_and_channels_fail_cleanly_at_every_allocation(void)
{
    run_sweep(sweep_tasks_and_channels);
}

/* ---- select
 * ------------------------------------------------------------------ */

/* Selects over more than the 16 cases that fit on the stack: the waiters
 * go on the heap. */
#define WIDE 20
static uvgo_chan_t *wide[WIDE];
static int wide_val[WIDE];

static void wide_cases(uvgo_select_case_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i] = (uvgo_select_case_t)UVGO_CASE_RECV(wide[i], &wide_val[i]);
}

static int select_wide(void *st)
{
    uvgo_select_case_t c[WIDE];
    int v = 3, r;
    (void)st;
    /* The last case is ready, so the select does not park. */
    uvgo_chan_try_send(wide[WIDE - 1], &v, sizeof v);
    wide_cases(c, WIDE);
    r = uvgo_select(c, WIDE);
    if (r >= 0) {
        ASSERT_EQ(r, WIDE - 1);
        ASSERT_EQ(wide_val[WIDE - 1], 3);
    }
    return r < 0 ? r : 0;
}

static int select_try_wide(void *st)
{
    uvgo_select_case_t c[WIDE];
    int r;
    (void)st;
    wide_cases(c, WIDE - 1); /* none ready */
    r = uvgo_select_try(c, WIDE - 1);
    return r == UVGO_EAGAIN ? 0 : r;
}

static uvgo_ctx_t *swept_parent;

static int select_ctx_wide(void *st)
{
    uvgo_select_case_t c[WIDE];
    int v = 4, r;
    (void)st;
    uvgo_chan_try_send(wide[15], &v, sizeof v);
    wide_cases(c, 16); /* 16 cases and the context's: 17 */
    r = uvgo_select_ctx(c, 16, swept_parent);
    if (r >= 0)
        ASSERT_EQ(r, 15);
    return r < 0 ? r : 0;
}

static void *sweep_select(void *arg)
{
    static const struct op ops[] = {
        {"uvgo_select (20 cases)", select_wide, NULL, 0},
        {"uvgo_select_try (19 cases)", select_try_wide, NULL, 0},
        {"uvgo_select_ctx (16 cases)", select_ctx_wide, NULL, 0},
    };
    (void)arg;
    for (int i = 0; i < WIDE; i++)
        ASSERT_OK(uvgo_chan_make(&wide[i], sizeof(int), 1));
    ASSERT_OK(uvgo_ctx_with_cancel(&swept_parent, NULL));
    (void)uvgo_ctx_done(swept_parent); /* made with it: allocates nothing */
    sweep_all(ops, sizeof ops / sizeof ops[0]);
    uvgo_ctx_cancel_release(swept_parent);
    for (int i = 0; i < WIDE; i++)
        uvgo_chan_release(wide[i]);
    return NULL;
}

static void select_fails_cleanly_at_every_allocation(void)
{
    run_sweep(sweep_select);
}

/* ---- timers
 * ------------------------------------------------------------------- */

static uvgo_timer_t *swept_timer;
static atomic_int after_func_runs;

static void *count_after_func(void *arg)
{
    (void)arg;
    atomic_fetch_add(&after_func_runs, 1);
    return NULL;
}

static int timer_make(void *st)
{
    (void)st;
    return uvgo_timer_make(&swept_timer, UVGO_MILLISECOND);
}

static void timer_receive_and_free(void *st)
{
    int64_t when = 0;
    (void)st;
    ASSERT_OK(
        uvgo_chan_recv(uvgo_timer_chan(swept_timer), &when, sizeof when, NULL));
    ASSERT_GT(when, 0);
    uvgo_timer_free(swept_timer);
}

static int ticker_make(void *st)
{
    (void)st;
    return uvgo_ticker_make(&swept_timer, UVGO_MILLISECOND);
}

static int after(void *st)
{
    uvgo_chan_t *ch;
    int64_t when = 0;
    int r;
    (void)st;
    r = uvgo_after(&ch, UVGO_MILLISECOND);
    if (r == 0) {
        ASSERT_OK(uvgo_chan_recv(ch, &when, sizeof when, NULL));
        uvgo_chan_release(ch);
    }
    return r;
}

static int after_func_handle(void *st)
{
    (void)st;
    return uvgo_after_func(&swept_timer, UVGO_MILLISECOND, count_after_func,
                           NULL);
}

static void after_func_wait_and_free(void *st)
{
    int seen = atomic_load(&after_func_runs);
    (void)st;
    while (atomic_load(&after_func_runs) == seen)
        uvgo_sleep(UVGO_MILLISECOND);
    uvgo_timer_free(swept_timer);
}

static int after_func_detached(void *st)
{
    (void)st;
    return uvgo_after_func(NULL, UVGO_MILLISECOND, count_after_func, NULL);
}

static void *sweep_timers(void *arg)
{
    static const struct op ops[] = {
        /* The first timer carves a chunk of records, which stays. */
        {"uvgo_timer_make (the first)", timer_make, timer_receive_and_free, 1},
        {"uvgo_timer_make", timer_make, timer_receive_and_free, 0},
        {"uvgo_ticker_make", ticker_make, timer_receive_and_free, 0},
        {"uvgo_after", after, NULL, 0},
        {"uvgo_after_func (handle)", after_func_handle,
         after_func_wait_and_free, 0},
        {"uvgo_after_func (no handle)", after_func_detached, NULL, 0},
    };
    (void)arg;
    sweep_all(ops, sizeof ops / sizeof ops[0]);
    while (atomic_load(&after_func_runs) < 2)
        uvgo_sleep(UVGO_MILLISECOND);
    return NULL;
}

static void timers_fail_cleanly_at_every_allocation(void)
{
    run_sweep(sweep_timers);
}

/* ---- contexts
 * ------------------------------------------------------------------ */

static uvgo_ctx_t *swept_ctx;
static uvgo_ctx_after_t *swept_after;
static int ctx_key;

static int ctx_with_cancel(void *st)
{
    (void)st;
    return uvgo_ctx_with_cancel(&swept_ctx, swept_parent);
}

static int ctx_with_timeout(void *st)
{
    (void)st;
    return uvgo_ctx_with_timeout(&swept_ctx, swept_parent, UVGO_SECOND);
}

static int ctx_with_deadline_cause(void *st)
{
    (void)st;
    return uvgo_ctx_with_deadline_cause(
        &swept_ctx, swept_parent, uvgo_now() + UVGO_SECOND, UVGO_ETIMEDOUT);
}

static int ctx_with_value(void *st)
{
    (void)st;
    return uvgo_ctx_with_value(&swept_ctx, swept_parent, &ctx_key, &ctx_key);
}

static int ctx_without_cancel(void *st)
{
    (void)st;
    return uvgo_ctx_without_cancel(&swept_ctx, swept_parent);
}

/* A child that was made works: cancelling the parent reaches it. */
static void ctx_release_child(void *st)
{
    (void)st;
    uvgo_ctx_cancel_release(swept_ctx);
}

static int ctx_after_func(void *st)
{
    (void)st;
    return uvgo_ctx_after_func(&swept_after, swept_parent, count_after_func,
                               NULL);
}

/* Stops the registration and frees the handle. */
static void ctx_after_stop(void *st)
{
    (void)st;
    ASSERT_EQ(uvgo_ctx_after_stop(swept_after), 1);
    uvgo_ctx_after_free(swept_after); /* stop no longer frees it */
}

static int ctx_wait(void *st)
{
    uvgo_chan_t *ch = wide[0];
    int v = 1, w = 0;
    (void)st;
    ASSERT_OK(uvgo_chan_send_ctx(ch, &v, sizeof v, swept_parent));
    return uvgo_chan_recv_ctx(ch, &w, sizeof w, NULL, swept_parent);
}

static void *sweep_contexts(void *arg)
{
    static const struct op ops[] = {
        /* The first deadline's timer carves a chunk of records, which
         * stays. */
        {"uvgo_ctx_with_timeout (the first timer)", ctx_with_timeout,
         ctx_release_child, 1},
        {"uvgo_ctx_with_cancel", ctx_with_cancel, ctx_release_child, 0},
        {"uvgo_ctx_with_timeout", ctx_with_timeout, ctx_release_child, 0},
        {"uvgo_ctx_with_deadline_cause", ctx_with_deadline_cause,
         ctx_release_child, 0},
        {"uvgo_ctx_with_value", ctx_with_value, ctx_release_child, 0},
        {"uvgo_ctx_without_cancel", ctx_without_cancel, ctx_release_child, 0},
        {"uvgo_ctx_after_func", ctx_after_func, ctx_after_stop, 0},
        {"uvgo_chan_send_ctx, _recv_ctx", ctx_wait, NULL, 0},
    };
    (void)arg;
    ASSERT_OK(uvgo_chan_make(&wide[0], sizeof(int), 1));
    ASSERT_OK(uvgo_ctx_with_cancel(&swept_parent, NULL));
    (void)uvgo_ctx_done(swept_parent); /* made with it: allocates nothing */
    sweep_all(ops, sizeof ops / sizeof ops[0]);
    /* The parent still cancels cleanly, and nothing hangs off it. */
    uvgo_ctx_cancel(swept_parent);
    ASSERT_ERR(uvgo_ctx_err(swept_parent), UVGO_ECANCELED);
    uvgo_ctx_release(swept_parent);
    uvgo_chan_release(wide[0]);
    ASSERT_EQ(atomic_load(&after_func_runs), 0);
    return NULL;
}

static void contexts_fail_cleanly_at_every_allocation(void)
{
    run_sweep(sweep_contexts);
}

/* ---- sync and xsync
 * --------------------------------------------------------------- */

static uvgo_wg_t swept_wg;
static uvgo_errgroup_t swept_group;
static uvgo_sflight_t swept_flight;

static void *nothing(void *arg)
{
    return arg;
}

static int wg_go(void *st)
{
    (void)st;
    return uvgo_wg_go(&swept_wg, nothing, NULL);
}

static void wg_wait(void *st)
{
    (void)st;
    ASSERT_OK(uvgo_wg_wait(&swept_wg));
}

static int fail_with_eperm(void *arg)
{
    (void)arg;
    return UVGO_EPERM;
}

static int errgroup_go(void *st)
{
    (void)st;
    return uvgo_errgroup_go(&swept_group, fail_with_eperm, NULL);
}

static int errgroup_try_go(void *st)
{
    int r;
    (void)st;
    r = uvgo_errgroup_try_go(&swept_group, fail_with_eperm, NULL);
    return r == UVGO_EAGAIN ? 0 : r;
}

static void errgroup_wait(void *st)
{
    (void)st;
    ASSERT_ERR(uvgo_errgroup_wait(&swept_group), UVGO_EPERM);
    memset(&swept_group, 0, sizeof swept_group);
}

static int errgroup_with_ctx(void *st)
{
    uvgo_ctx_t *ctx;
    int r;
    (void)st;
    memset(&swept_group, 0, sizeof swept_group);
    r = uvgo_errgroup_with_ctx(&swept_group, NULL, &ctx);
    if (r == 0) {
        ASSERT_OK(uvgo_errgroup_wait(&swept_group));
        ASSERT_ERR(uvgo_ctx_err(ctx), UVGO_ECANCELED);
        uvgo_ctx_release(ctx);
    }
    return r;
}

static int answer(void *arg, void **val)
{
    *val = arg;
    return 0;
}

static int sflight_do(void *st)
{
    void *v = NULL;
    int r;
    (void)st;
    r = uvgo_sflight_do(&swept_flight, "key", answer, (void *)9, &v, NULL);
    if (r == 0)
        ASSERT_PTR_EQ(v, (void *)9);
    return r;
}

static int sflight_do_chan(void *st)
{
    uvgo_sflight_result_t res;
    uvgo_chan_t *ch;
    int r;
    (void)st;
    r = uvgo_sflight_do_chan(&swept_flight, "key", answer, (void *)8, &ch);
    if (r == 0) {
        ASSERT_OK(uvgo_chan_recv(ch, &res, sizeof res, NULL));
        ASSERT_PTR_EQ(res.val, (void *)8);
        uvgo_chan_release(ch);
    }
    return r;
}

static int sem_and_limiter(void *st)
{
    static uvgo_sem_t sem;
    static uvgo_limiter_t lim;
    (void)st;
    ASSERT_OK(uvgo_sem_init(&sem, 2));
    ASSERT_OK(uvgo_sem_acquire(&sem, 2));
    ASSERT_OK(uvgo_sem_release(&sem, 2));
    ASSERT_OK(uvgo_limiter_init(&lim, 1000, 1));
    ASSERT_EQ(uvgo_limiter_allow(&lim), 1);
    return 0;
}

static int locks(void *st)
{
    static uvgo_mutex_t m;
    static uvgo_rwmutex_t rw;
    static uvgo_cond_t c;
    static uvgo_once_t once;
    (void)st;
    ASSERT_OK(uvgo_mutex_lock(&m));
    ASSERT_OK(uvgo_cond_signal(&c));
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT_OK(uvgo_rwmutex_rlock(&rw));
    ASSERT_OK(uvgo_rwmutex_runlock(&rw));
    ASSERT_OK(uvgo_once_do(&once, nothing, NULL, NULL));
    return 0;
}

/* Pool: its caches and shared list are made on demand, and a failure only
 * means an object is dropped (given to free_fn) instead of kept. */
static atomic_int pool_drops;
static char pool_objs[2];

static void pool_drop(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
    atomic_fetch_add(&pool_drops, 1);
}

static void *pool_new(void *arg);
static uvgo_pool_t swept_pool = UVGO_POOL_INIT(pool_new, pool_drop, NULL);

static int pool_put_get(void *st)
{
    int drops = atomic_load(&pool_drops);
    void *got;
    (void)st;
    uvgo_pool_put(&swept_pool, &pool_objs[0]);
    got = uvgo_pool_get(&swept_pool);
    ASSERT(got == &pool_objs[0] ||
           (got == &pool_objs[1] && atomic_load(&pool_drops) == drops + 1));
    return 0;
}

static void pool_drain(void *st)
{
    (void)st;
    uvgo_pool_drain(&swept_pool);
}

static void *pool_new(void *arg)
{
    (void)arg;
    return &pool_objs[1];
}

static void *sweep_sync(void *arg)
{
    static const struct op ops[] = {
        {"mutex, rwmutex, cond, once", locks, NULL, 0},
        {"uvgo_wg_go", wg_go, wg_wait, 0},
        {"uvgo_pool_put, _get", pool_put_get, pool_drain, 0},
        {"semaphore, limiter", sem_and_limiter, NULL, 0},
        {"uvgo_errgroup_go", errgroup_go, errgroup_wait, 0},
        {"uvgo_errgroup_try_go", errgroup_try_go, errgroup_wait, 0},
        {"uvgo_errgroup_with_ctx", errgroup_with_ctx, NULL, 0},
        {"uvgo_sflight_do", sflight_do, NULL, 0},
        {"uvgo_sflight_do_chan", sflight_do_chan, NULL, 0},
    };
    (void)arg;
    sweep_all(ops, sizeof ops / sizeof ops[0]);
    return NULL;
}

static void sync_and_xsync_fail_cleanly_at_every_allocation(void)
{
    run_sweep(sweep_sync);
}

/* ---- io
 * ---------------------------------------------------------------------------
 */

static void job(void *arg)
{
    *(int *)arg = 1;
}

static int offload_ctx(void *st)
{
    int done = 0, r;
    (void)st;
    r = uvgo_offload_ctx(job, &done, swept_parent);
    if (r == 0)
        ASSERT_EQ(done, 1);
    return r;
}

static int signal_notify(void *st)
{
    static const int sig[] = {SIGUSR2};
    uvgo_signal_t *sub;
    uvgo_chan_t *ch = wide[0];
    int r, v = 0;
    (void)st;
    r = uvgo_signal_notify(&sub, ch, sig, 1);
    if (r == 0) {
        raise(SIGUSR2);
        ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, NULL));
        ASSERT_EQ(v, SIGUSR2);
        ASSERT_OK(uvgo_signal_stop(sub));
    }
    return r;
}

static void *sweep_io(void *arg)
{
    static const struct op ops[] = {
        {"uvgo_offload_ctx", offload_ctx, NULL, 0},
        {"uvgo_signal_notify", signal_notify, NULL, 0},
    };
    (void)arg;
    ASSERT_OK(uvgo_ctx_with_cancel(&swept_parent, NULL));
    (void)uvgo_ctx_done(swept_parent); /* made with it: allocates nothing */
    ASSERT_OK(uvgo_chan_make(&wide[0], sizeof(int), 1));
    sweep_all(ops, sizeof ops / sizeof ops[0]);
    uvgo_chan_release(wide[0]);
    uvgo_ctx_cancel_release(swept_parent);
    return NULL;
}

static void offload_and_signals_fail_cleanly_at_every_allocation(void)
{
    run_sweep(sweep_io);
}

static const test_case_t cases[] = {
    CASE_PLAIN(replace_allocator_sees_every_block_and_refuses_while_running),
    CASE_PLAIN(uvgo_main_fails_cleanly_at_every_start_up_allocation),
    CASE_PLAIN(uvgo_loop_attach_fails_cleanly_at_every_allocation),
    CASE_PLAIN(stolen_task_without_a_stack_goes_back_to_its_worker),
    CASE_PLAIN(spawn_and_channels_fail_cleanly_at_every_allocation),
    CASE_PLAIN(select_fails_cleanly_at_every_allocation),
    CASE_PLAIN(timers_fail_cleanly_at_every_allocation),
    CASE_PLAIN(contexts_fail_cleanly_at_every_allocation),
    CASE_PLAIN(sync_and_xsync_fail_cleanly_at_every_allocation),
    CASE_PLAIN(offload_and_signals_fail_cleanly_at_every_allocation),
};

TEST_MAIN(cases)
