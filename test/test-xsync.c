/* test-xsync.c: x/sync (semaphore, errgroup, singleflight) and x/time/rate
 * for tasks, rule by rule, plus stress across workers. */
#include <math.h>
#include <stdatomic.h>

#include "test.h"

#define MS UVGO_MILLISECOND

/* ---- semaphore ----------------------------------------------------------- */

static void sem_zero_value_has_size_zero(void)
{
    static uvgo_sem_t zero;
    uvgo_ctx_t *c = test_ctx_timeout(2 * MS);
    ASSERT_OK(uvgo_sem_try_acquire(&zero, 0));
    ASSERT_ERR(uvgo_sem_try_acquire(&zero, 1), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_sem_acquire_ctx(&zero, 1, c), UVGO_ETIMEDOUT);
    test_ctx_done(c);
}

static void sem_acquires_and_releases_any_weight(void)
{
    uvgo_sem_t s = UVGO_SEM_INIT(10);
    ASSERT_OK(uvgo_sem_acquire(&s, 3));
    ASSERT_OK(uvgo_sem_acquire(&s, 7));
    ASSERT_ERR(uvgo_sem_try_acquire(&s, 1), UVGO_EAGAIN);
    ASSERT_OK(uvgo_sem_release(&s, 6));
    ASSERT_OK(uvgo_sem_try_acquire(&s, 6));
    ASSERT_OK(uvgo_sem_release(&s, 10));
    ASSERT_OK(uvgo_sem_init(&s, 2));
    ASSERT_OK(uvgo_sem_try_acquire(&s, 2));
    ASSERT_OK(uvgo_sem_release(&s, 2));
    ASSERT_ERR(uvgo_sem_init(&s, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_sem_acquire(&s, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_sem_release(&s, -1), UVGO_EINVAL);
}

struct sem_arg {
    uvgo_sem_t *s;
    int64_t n;
    uvgo_ctx_t *ctx;
    atomic_int got;
};

static void *sem_acquirer(void *arg)
{
    struct sem_arg *a = arg;
    int err = uvgo_sem_acquire_ctx(a->s, a->n, a->ctx);
    if (!err)
        atomic_store(&a->got, 1);
    return (void *)(intptr_t)err;
}

/* Strict FIFO: a light request never passes a heavy one queued before it,
 * and a newcomer queues even when units are free. */
static void sem_is_fifo_without_barging(void)
{
    uvgo_sem_t s = UVGO_SEM_INIT(10);
    struct sem_arg a = {&s, 7, NULL, 0}, b = {&s, 2, NULL, 0};
    ASSERT_OK(uvgo_sem_acquire(&s, 10));
    uvgo_task_t *ta = test_spawn(sem_acquirer, &a);
    test_wait_blocked("semaphore.Acquire", 1);
    uvgo_task_t *tb = test_spawn(sem_acquirer, &b);
    test_wait_blocked("semaphore.Acquire", 2);
    ASSERT_OK(uvgo_sem_release(&s, 3)); /* 3 free: enough for b, not a */
    ASSERT_ERR(uvgo_sem_try_acquire(&s, 1), UVGO_EAGAIN); /* queue first */
    uvgo_sleep(MS);
    ASSERT_EQ(atomic_load(&a.got), 0);
    ASSERT_EQ(atomic_load(&b.got), 0);
    ASSERT_OK(uvgo_sem_release(&s, 6)); /* 9 free: a, then b */
    ASSERT_EQ(test_join(ta), 0);
    ASSERT_EQ(test_join(tb), 0);
    ASSERT_OK(uvgo_sem_release(&s, 1 + 7 + 2));
    ASSERT_OK(uvgo_sem_try_acquire(&s, 10));
    ASSERT_OK(uvgo_sem_release(&s, 10));
}

static void sem_acquire_ctx_on_a_done_context_fails_even_if_free(void)
{
    uvgo_sem_t s = UVGO_SEM_INIT(4);
    uvgo_ctx_t *c = test_ctx_cancel();
    uvgo_ctx_cancel(c);
    ASSERT_ERR(uvgo_sem_acquire_ctx(&s, 1, c), UVGO_ECANCELED);
    ASSERT_OK(uvgo_sem_try_acquire(&s, 4)); /* nothing was taken */
    ASSERT_OK(uvgo_sem_release(&s, 4));
    uvgo_ctx_release(c);
}

static void sem_acquire_more_than_size_waits_for_the_context(void)
{
    uvgo_sem_t s = UVGO_SEM_INIT(4);
    int64_t t0 = uvgo_now();
    uvgo_ctx_t *c = test_ctx_timeout(5 * MS);
    ASSERT_ERR(uvgo_sem_acquire_ctx(&s, 5, c), UVGO_ETIMEDOUT);
    ASSERT_GE(uvgo_now() - t0, 5 * MS);
    ASSERT_OK(uvgo_sem_try_acquire(&s, 4));
    ASSERT_OK(uvgo_sem_release(&s, 4));
    test_ctx_done(c);
}

/* A heavy request at the front that gives up lets the lighter ones queued
 * behind it through. */
static void sem_cancelled_front_waiter_lets_later_ones_in(void)
{
    uvgo_sem_t s = UVGO_SEM_INIT(10);
    uvgo_ctx_t *c = test_ctx_cancel();
    struct sem_arg a = {&s, 5, c, 0}, b = {&s, 2, NULL, 0};
    ASSERT_OK(uvgo_sem_acquire(&s, 8));
    uvgo_task_t *ta = test_spawn(sem_acquirer, &a);
    test_wait_blocked("semaphore.Acquire", 1);
    uvgo_task_t *tb = test_spawn(sem_acquirer, &b);
    test_wait_blocked("semaphore.Acquire", 2);
    uvgo_ctx_cancel(c);
    ASSERT_EQ(test_join(ta), UVGO_ECANCELED);
    ASSERT_EQ(test_join(tb), 0);
    ASSERT_EQ(atomic_load(&a.got), 0);
    ASSERT_OK(uvgo_sem_release(&s, 10)); /* 8 + b's 2: a holds nothing */
    test_ctx_done(c);
}

static void sem_release_more_than_held_aborts(void)
{
    uvgo_sem_t s = UVGO_SEM_INIT(4);
    uvgo_sem_acquire(&s, 2);
    uvgo_sem_release(&s, 3);
}

static struct {
    uvgo_sem_t s;
    atomic_long held, max_held, grants;
    long rounds;
} ss;

static void *sem_churn(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (long i = 0; i < ss.rounds; i++) {
        int64_t n = (i + id) % 4 + 1;
        uvgo_ctx_t *c = NULL;
        int err;
        if (i % 3 == 0)
            ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, (i % 5) * 10000));
        if (i % 7 == 0)
            err = uvgo_sem_try_acquire(&ss.s, n);
        else
            err = uvgo_sem_acquire_ctx(&ss.s, n, c);
        if (!err) {
            long h = atomic_fetch_add(&ss.held, n) + n;
            ASSERT_LE(h, 10); /* never over-granted */
            long m = atomic_load(&ss.max_held);
            while (h > m && !atomic_compare_exchange_weak(&ss.max_held, &m, h))
                ;
            if (i % 2)
                uvgo_task_yield();
            atomic_fetch_sub(&ss.held, n);
            atomic_fetch_add(&ss.grants, 1);
            ASSERT_OK(uvgo_sem_release(&ss.s, n));
        } else {
            ASSERT(err == UVGO_ETIMEDOUT || err == UVGO_EAGAIN);
        }
        if (c)
            test_ctx_done(c);
    }
    return NULL;
}

static void sem_is_never_over_granted_across_workers(void)
{
    uvgo_task_t *t[12];
    ASSERT_OK(uvgo_sem_init(&ss.s, 10));
    ss.rounds = test_scale(20000, 2000);
    for (int i = 0; i < 12; i++)
        t[i] = test_spawn(sem_churn, (void *)(intptr_t)i);
    for (int i = 0; i < 12; i++)
        test_join(t[i]);
    ASSERT_GT(atomic_load(&ss.grants), 0);
    ASSERT_GT(atomic_load(&ss.max_held), 4);    /* it did run concurrently */
    ASSERT_OK(uvgo_sem_try_acquire(&ss.s, 10)); /* all given back */
    ASSERT_OK(uvgo_sem_release(&ss.s, 10));
}

/* ---- errgroup ------------------------------------------------------------ */

static atomic_int ran, active, max_active;

static int note_run(void *arg)
{
    int a = atomic_fetch_add(&active, 1) + 1, m = atomic_load(&max_active);
    while (a > m && !atomic_compare_exchange_weak(&max_active, &m, a))
        ;
    uvgo_sleep(MS);
    atomic_fetch_sub(&active, 1);
    atomic_fetch_add(&ran, 1);
    return (int)(intptr_t)arg;
}

static void errgroup_zero_group_waits_for_every_task(void)
{
    static uvgo_errgroup_t zero;
    for (int i = 0; i < 20; i++)
        ASSERT_OK(uvgo_errgroup_go(&zero, note_run, NULL));
    ASSERT_OK(uvgo_errgroup_wait(&zero));
    ASSERT_EQ(atomic_load(&ran), 20);
    ASSERT_GT(atomic_load(&max_active), 1); /* no limit */
}

static int fail_after(void *arg)
{
    intptr_t ms = (intptr_t)arg;
    uvgo_sleep(ms * MS);
    return (int)-(1000 + ms);
}

static uvgo_ctx_t *group_ctx;

/* Fails, but only once another task's failure cancelled the group. */
static int fail_second(void *arg)
{
    int ok;
    (void)arg;
    uvgo_chan_recv(uvgo_ctx_done(group_ctx), NULL, 0, &ok);
    return -1020;
}

static void errgroup_wait_returns_the_first_error(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    ASSERT_OK(uvgo_errgroup_with_ctx(&g, NULL, &group_ctx));
    ASSERT_OK(uvgo_errgroup_go(&g, fail_second, NULL));
    ASSERT_OK(uvgo_errgroup_go(&g, note_run, NULL));
    ASSERT_OK(uvgo_errgroup_go(&g, fail_after, (void *)2));
    ASSERT_EQ(uvgo_errgroup_wait(&g), -1002);
    ASSERT_EQ(atomic_load(&ran), 1); /* and waited for every task */
    uvgo_ctx_release(group_ctx);
}

static int wait_for_cancel(void *arg)
{
    uvgo_ctx_t *c = arg;
    int ok = 1;
    uvgo_chan_recv(uvgo_ctx_done(c), NULL, 0, &ok);
    return uvgo_ctx_err(c);
}

static void errgroup_first_error_cancels_the_context(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    uvgo_ctx_t *c;
    ASSERT_OK(uvgo_errgroup_with_ctx(&g, NULL, &c));
    ASSERT_OK(uvgo_errgroup_go(&g, wait_for_cancel, c));
    ASSERT_OK(uvgo_errgroup_go(&g, wait_for_cancel, c));
    ASSERT_EQ(uvgo_ctx_err(c), 0);
    ASSERT_OK(uvgo_errgroup_go(&g, fail_after, (void *)1));
    /* The failure, not the cancellations it caused, is the first error. */
    ASSERT_EQ(uvgo_errgroup_wait(&g), -1001);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    ASSERT_EQ(uvgo_ctx_cause(c), -1001);
    uvgo_ctx_release(c);
}

static void errgroup_wait_cancels_the_context_without_error(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    uvgo_ctx_t *parent = test_ctx_cancel(), *c;
    ASSERT_OK(uvgo_errgroup_with_ctx(&g, parent, &c));
    ASSERT_OK(uvgo_errgroup_go(&g, note_run, NULL));
    ASSERT_OK(uvgo_errgroup_wait(&g));
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_ctx_cause(c), UVGO_ECANCELED);
    ASSERT_EQ(uvgo_ctx_err(parent), 0); /* never upwards */
    /* A task started after the wait fails without touching the context. */
    ASSERT_OK(uvgo_errgroup_go(&g, fail_after, (void *)0));
    ASSERT_EQ(uvgo_errgroup_wait(&g), -1000);
    uvgo_ctx_release(c);
    test_ctx_done(parent);
}

static void errgroup_set_limit_bounds_the_running_tasks(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    ASSERT_OK(uvgo_errgroup_set_limit(&g, 2));
    for (int i = 0; i < 10; i++)
        ASSERT_OK(uvgo_errgroup_go(&g, note_run, NULL)); /* parks when full */
    ASSERT_OK(uvgo_errgroup_wait(&g));
    ASSERT_EQ(atomic_load(&ran), 10);
    ASSERT_EQ(atomic_load(&max_active), 2);
    ASSERT_OK(uvgo_errgroup_set_limit(&g, -1)); /* idle: allowed */
}

static int hold_until(void *arg)
{
    uvgo_event_t *ev = arg;
    return uvgo_event_wait(ev, "test hold");
}

static void errgroup_try_go_fails_at_the_limit(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    uvgo_event_t ev = UVGO_EVENT_INIT;
    uvgo_ctx_t *c = test_ctx_timeout(3 * MS);
    ASSERT_OK(uvgo_errgroup_set_limit(&g, 1));
    ASSERT_OK(uvgo_errgroup_try_go(&g, hold_until, &ev));
    ASSERT_ERR(uvgo_errgroup_try_go(&g, note_run, NULL), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_errgroup_go_ctx(&g, note_run, NULL, c), UVGO_ETIMEDOUT);
    /* Changing the limit while a limited task runs: Go panics, we refuse. */
    ASSERT_ERR(uvgo_errgroup_set_limit(&g, 5), UVGO_EBUSY);
    uvgo_event_set(&ev);
    ASSERT_OK(uvgo_errgroup_wait(&g));
    ASSERT_OK(uvgo_errgroup_try_go(&g, note_run, NULL));
    ASSERT_OK(uvgo_errgroup_wait(&g));
    ASSERT_EQ(atomic_load(&ran), 1);
    test_ctx_done(c);
}

static void errgroup_limit_zero_starts_nothing(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    uvgo_ctx_t *c = test_ctx_timeout(3 * MS);
    ASSERT_OK(uvgo_errgroup_set_limit(&g, 0));
    ASSERT_ERR(uvgo_errgroup_try_go(&g, note_run, NULL), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_errgroup_go_ctx(&g, note_run, NULL, c), UVGO_ETIMEDOUT);
    ASSERT_OK(uvgo_errgroup_wait(&g));
    ASSERT_EQ(atomic_load(&ran), 0);
    ASSERT_OK(uvgo_errgroup_set_limit(&g, 3)); /* nothing runs: allowed */
    ASSERT_OK(uvgo_errgroup_go(&g, note_run, NULL));
    ASSERT_OK(uvgo_errgroup_wait(&g));
    test_ctx_done(c);
}

static void errgroup_wait_ctx_gives_up_and_cancels_nothing(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    uvgo_event_t ev = UVGO_EVENT_INIT;
    uvgo_ctx_t *gc, *c = test_ctx_timeout(2 * MS);
    ASSERT_OK(uvgo_errgroup_with_ctx(&g, NULL, &gc));
    ASSERT_OK(uvgo_errgroup_go(&g, hold_until, &ev));
    ASSERT_ERR(uvgo_errgroup_wait_ctx(&g, c), UVGO_ETIMEDOUT);
    ASSERT_EQ(uvgo_ctx_err(gc), 0);
    uvgo_event_set(&ev);
    ASSERT_OK(uvgo_errgroup_wait(&g));
    ASSERT_ERR(uvgo_ctx_err(gc), UVGO_ECANCELED);
    uvgo_ctx_release(gc);
    test_ctx_done(c);
}

/* ---- singleflight -------------------------------------------------------- */

static atomic_int runs;
static int dup_waiters;

static int slow_value(void *arg, void **val)
{
    atomic_fetch_add(&runs, 1);
    /* Hold the run until every duplicate is waiting on it. */
    test_wait_blocked("singleflight.Do", dup_waiters);
    *val = arg;
    return 0;
}

static uvgo_sflight_t sg;

static void *call_do(void *arg)
{
    void *v = NULL;
    int shared = 0;
    ASSERT_OK(uvgo_sflight_do(&sg, "key", slow_value, arg, &v, &shared));
    ASSERT_EQ(shared, 1);
    return v;
}

static void sflight_runs_once_for_1000_concurrent_callers(void)
{
    int n = (int)test_scale(1000, 500);
    uvgo_task_t **t = malloc((size_t)n * sizeof *t);
    dup_waiters = n - 1;
    for (int i = 0; i < n; i++)
        t[i] = test_spawn(call_do, (void *)(intptr_t)(i + 1));
    intptr_t first = 0;
    for (int i = 0; i < n; i++) {
        intptr_t v = test_join(t[i]);
        if (!first)
            first = v;
        ASSERT_EQ(v, first);
    }
    ASSERT_EQ(atomic_load(&runs), 1);
    ASSERT(sg.buckets_ == NULL); /* an idle group holds nothing */
    free(t);
}

static int value_of_arg(void *arg, void **val)
{
    atomic_fetch_add(&runs, 1);
    *val = arg;
    return arg ? 0 : -77;
}

static void sflight_lone_caller_is_not_shared_and_gets_fns_error(void)
{
    uvgo_sflight_t g = UVGO_SFLIGHT_INIT;
    void *v = (void *)1;
    int shared = 5;
    ASSERT_OK(uvgo_sflight_do(&g, "a", value_of_arg, (void *)9, &v, &shared));
    ASSERT_EQ((intptr_t)v, 9);
    ASSERT_EQ(shared, 0);
    ASSERT_EQ(uvgo_sflight_do(&g, "a", value_of_arg, NULL, &v, NULL), -77);
    ASSERT(v == NULL);
    ASSERT_EQ(atomic_load(&runs), 2); /* one at a time: not deduplicated */
}

/* Runs park on the gate (as "chan receive") until it is closed. */
static uvgo_chan_t *gate;

static void gate_make(void)
{
    ASSERT_OK(uvgo_chan_make(&gate, 0, 0));
}

static void gate_open(void)
{
    ASSERT_OK(uvgo_chan_close(gate));
}

static int gated_value(void *arg, void **val)
{
    atomic_fetch_add(&runs, 1);
    uvgo_chan_recv(gate, NULL, 0, NULL);
    *val = arg;
    return 0;
}

static void sflight_do_chan_delivers_one_result_and_never_closes(void)
{
    uvgo_sflight_t g = UVGO_SFLIGHT_INIT;
    uvgo_chan_t *a, *b;
    uvgo_sflight_result_t ra, rb;
    gate_make();
    ASSERT_OK(uvgo_sflight_do_chan(&g, "k", gated_value, (void *)5, &a));
    ASSERT_OK(uvgo_sflight_do_chan(&g, "k", gated_value, (void *)6, &b));
    ASSERT_EQ(uvgo_chan_cap(a), 1);
    test_wait_blocked("chan receive", 1); /* fn runs in a task of its own */
    gate_open();
    ASSERT_OK(uvgo_chan_recv(a, &ra, sizeof ra, NULL));
    ASSERT_OK(uvgo_chan_recv(b, &rb, sizeof rb, NULL));
    ASSERT_EQ((intptr_t)ra.val, 5);
    ASSERT_EQ((intptr_t)rb.val, 5);
    ASSERT_EQ(ra.err, 0);
    ASSERT_EQ(ra.shared, 1);
    ASSERT_EQ(rb.shared, 1);
    ASSERT_EQ(atomic_load(&runs), 1);
    ASSERT_ERR(uvgo_chan_try_recv(a, &ra, sizeof ra, NULL),
               UVGO_EAGAIN); /* open */
    uvgo_chan_release(a);
    uvgo_chan_release(b);
    uvgo_chan_release(gate);
}

static void *do_gated(void *arg)
{
    void *v = NULL;
    int shared;
    ASSERT_OK(uvgo_sflight_do(&sg, "k", gated_value, arg, &v, &shared));
    return v;
}

static void sflight_forget_starts_a_new_run_and_old_callers_keep_theirs(void)
{
    gate_make();
    uvgo_task_t *first = test_spawn(do_gated, (void *)1);
    test_wait_blocked("chan receive", 1);
    uvgo_task_t *dup = test_spawn(do_gated, (void *)2);
    test_wait_blocked("singleflight.Do", 1);
    ASSERT_OK(uvgo_sflight_forget(&sg, "k"));
    ASSERT_OK(uvgo_sflight_forget(&sg, "absent"));
    uvgo_task_t *fresh = test_spawn(do_gated, (void *)3);
    test_wait_blocked("chan receive", 2); /* a second run started */
    gate_open();
    ASSERT_EQ(test_join(first), 1);
    ASSERT_EQ(test_join(dup), 1);
    ASSERT_EQ(test_join(fresh), 3);
    ASSERT_EQ(atomic_load(&runs), 2);
    ASSERT(sg.buckets_ == NULL);
    uvgo_chan_release(gate);
}

static void sflight_do_ctx_gives_up_waiting_for_the_run(void)
{
    uvgo_ctx_t *c = test_ctx_timeout(3 * MS);
    gate_make();
    uvgo_task_t *first = test_spawn(do_gated, (void *)1);
    test_wait_blocked("chan receive", 1);
    void *v = (void *)4;
    ASSERT_ERR(uvgo_sflight_do_ctx(&sg, "k", gated_value, NULL, &v, NULL, c),
               UVGO_ETIMEDOUT);
    ASSERT_EQ((intptr_t)v, 4);
    gate_open();
    ASSERT_EQ(test_join(first), 1);
    test_ctx_done(c);
    uvgo_chan_release(gate);
}

/* Enough keys in flight at once to grow the table several times. */
static void sflight_many_keys_in_flight_each_get_their_own(void)
{
    uvgo_sflight_t g = UVGO_SFLIGHT_INIT;
    enum { N = 300 };
    uvgo_chan_t *ch[N];
    char key[16];
    gate_make();
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ASSERT_OK(uvgo_sflight_do_chan(&g, key, gated_value,
                                       (void *)(intptr_t)i, &ch[i]));
    }
    ASSERT_EQ(g.count_, N);
    ASSERT_GE(g.nbuckets_, N / 2);
    gate_open();
    for (int i = 0; i < N; i++) {
        uvgo_sflight_result_t r;
        ASSERT_OK(uvgo_chan_recv(ch[i], &r, sizeof r, NULL));
        ASSERT_EQ((intptr_t)r.val, i);
        ASSERT_EQ(r.shared, 0);
        uvgo_chan_release(ch[i]);
    }
    /* Each run left the table before sending its result. */
    ASSERT(g.buckets_ == NULL);
    ASSERT_EQ(atomic_load(&runs), N);
    uvgo_chan_release(gate);
}

static void sflight_bad_arguments_return_einval(void)
{
    uvgo_sflight_t g = UVGO_SFLIGHT_INIT;
    uvgo_chan_t *ch;
    ASSERT_ERR(uvgo_sflight_do(NULL, "k", value_of_arg, NULL, NULL, NULL),
               UVGO_EINVAL);
    ASSERT_ERR(uvgo_sflight_do(&g, NULL, value_of_arg, NULL, NULL, NULL),
               UVGO_EINVAL);
    ASSERT_ERR(uvgo_sflight_do(&g, "k", NULL, NULL, NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_sflight_do_chan(&g, "k", value_of_arg, NULL, NULL),
               UVGO_EINVAL);
    ASSERT_ERR(uvgo_sflight_do_chan(&g, NULL, value_of_arg, NULL, &ch),
               UVGO_EINVAL);
    ASSERT_ERR(uvgo_sflight_forget(&g, NULL), UVGO_EINVAL);
}

/* ---- rate limiter -------------------------------------------------------- */

static uvgo_limiter_t lim(double limit, int burst)
{
    uvgo_limiter_t l;
    ASSERT_OK(uvgo_limiter_init(&l, limit, burst));
    return l;
}

static void limiter_zero_value_allows_nothing(void)
{
    uvgo_limiter_t l = UVGO_LIMITER_INIT;
    uvgo_reservation_t r;
    ASSERT_EQ(uvgo_limiter_allow(&l), 0);
    ASSERT_OK(uvgo_limiter_reserve(&l, &r));
    ASSERT_EQ(uvgo_reservation_ok(&r), 0);
    ASSERT_EQ(uvgo_reservation_delay(&r), UVGO_DURATION_INF);
    ASSERT_ERR(uvgo_limiter_wait(&l, 1), UVGO_EINVAL);
    ASSERT(uvgo_limiter_tokens(&l) == 0);
    ASSERT_EQ(uvgo_limiter_burst(&l), 0);
    ASSERT(uvgo_limiter_limit(&l) == 0);
}

static void limiter_starts_full_and_refills_at_its_rate(void)
{
    uvgo_limiter_t l = lim(10, 3); /* a token per 100 ms */
    int64_t t = uvgo_now();
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, 3), 1);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, 1), 0);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + 99 * MS, 1), 0);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + 100 * MS, 1), 1);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + 100 * MS, 1), 0);
    /* Never more than the burst, however long it rests. */
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + UVGO_HOUR, 4), 0);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + UVGO_HOUR, 3), 1);
    /* An earlier t accrues nothing. */
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, 1), 0);
}

static void limiter_allow_that_fails_takes_nothing(void)
{
    uvgo_limiter_t l = lim(1, 5);
    int64_t t = uvgo_now();
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, 3), 1);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, 3), 0);
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t) - 2) < 1e-9);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, 2), 1);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, -1), 0);
}

static void limiter_inf_allows_everything_and_ignores_burst(void)
{
    uvgo_limiter_t l = lim(UVGO_RATE_INF, 0);
    uvgo_reservation_t r;
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(uvgo_limiter_allow(&l), 1);
    ASSERT_OK(uvgo_limiter_reserve_n(&l, uvgo_now(), 100000, &r));
    ASSERT_EQ(uvgo_reservation_ok(&r), 1);
    ASSERT_EQ(uvgo_reservation_delay(&r), 0);
    ASSERT_OK(uvgo_limiter_wait(&l, 100000));
}

static void limiter_reserve_goes_into_debt_and_reports_the_delay(void)
{
    uvgo_limiter_t l = lim(10, 2);
    int64_t t = uvgo_now();
    uvgo_reservation_t a, b, c;
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 2, &a));
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 2, &b));
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 1, &c));
    ASSERT(uvgo_reservation_ok(&a) && uvgo_reservation_ok(&b));
    ASSERT_EQ(uvgo_reservation_delay_from(&a, t), 0);
    ASSERT_EQ(uvgo_reservation_delay_from(&b, t), 200 * MS);
    ASSERT_EQ(uvgo_reservation_delay_from(&c, t), 300 * MS);
    ASSERT_EQ(uvgo_reservation_delay_from(&c, t + 250 * MS), 50 * MS);
    ASSERT_EQ(uvgo_reservation_delay_from(&c, t + UVGO_SECOND), 0);
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t) + 3) < 1e-9); /* in debt */
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t + 100 * MS) + 2) < 1e-9);
}

static void limiter_reserve_beyond_burst_is_not_ok(void)
{
    uvgo_limiter_t l = lim(10, 2);
    uvgo_reservation_t r;
    ASSERT_OK(uvgo_limiter_reserve_n(&l, uvgo_now(), 3, &r));
    ASSERT_EQ(uvgo_reservation_ok(&r), 0);
    ASSERT_EQ(uvgo_reservation_delay(&r), UVGO_DURATION_INF);
    uvgo_reservation_cancel(&r); /* does nothing */
    ASSERT(fabs(uvgo_limiter_tokens(&l) - 2) < 1e-9);
    ASSERT_ERR(uvgo_limiter_reserve_n(&l, uvgo_now(), -1, &r), UVGO_EINVAL);
}

/* Cancel gives back only the tokens no later reservation counted on. */
static void limiter_cancel_gives_back_what_later_reservations_allow(void)
{
    uvgo_limiter_t l = lim(10, 2);
    int64_t t = uvgo_now();
    uvgo_reservation_t a, b, c;
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 2, &a)); /* acts at t */
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 2, &b)); /* at t + 200 ms */
    /* a's tokens were counted on by b: nothing comes back. */
    uvgo_reservation_cancel_at(&a, t);
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t) + 2) < 1e-9);
    /* b is the latest: all of it comes back, and the next reservation
     * acts as if b had never been made. */
    uvgo_reservation_cancel_at(&b, t);
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t) - 0) < 1e-9);
    uvgo_reservation_cancel_at(&b, t); /* twice: nothing more */
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t) - 0) < 1e-9);
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 1, &c));
    ASSERT_EQ(uvgo_reservation_delay_from(&c, t), 100 * MS);
}

static void limiter_cancel_after_its_time_gives_back_nothing(void)
{
    uvgo_limiter_t l = lim(10, 2);
    int64_t t = uvgo_now();
    uvgo_reservation_t a;
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 1, &a));
    uvgo_reservation_cancel_at(&a, t + MS); /* already acted */
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t + MS) - 1.01) < 1e-9);
}

static void limiter_wait_fails_at_once_if_it_would_pass_the_deadline(void)
{
    uvgo_limiter_t l = lim(1, 1);
    uvgo_ctx_t *c = test_ctx_timeout(500 * MS);
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_limiter_wait_ctx(&l, 1, c)); /* the burst: no wait */
    /* The next token is 1 s away, past the 500 ms deadline: the wait
     * fails without sleeping to it, with the context still alive. */
    ASSERT_ERR(uvgo_limiter_wait_ctx(&l, 1, c), UVGO_ETIMEDOUT);
    ASSERT_IN_TIME(uvgo_now() - t0, 400 * MS);
    ASSERT_EQ(uvgo_ctx_err(c), 0);
    ASSERT(uvgo_limiter_tokens(&l) < 0.5); /* reserved nothing */
    ASSERT(uvgo_limiter_tokens(&l) > -0.1);
    test_ctx_done(c);
}

static void limiter_wait_rejects_n_beyond_burst_and_done_contexts(void)
{
    uvgo_limiter_t l = lim(10, 2);
    uvgo_ctx_t *c = test_ctx_cancel();
    ASSERT_ERR(uvgo_limiter_wait(&l, 3), UVGO_EINVAL);
    uvgo_ctx_cancel(c);
    ASSERT_ERR(uvgo_limiter_wait_ctx(&l, 1, c), UVGO_ECANCELED);
    ASSERT(fabs(uvgo_limiter_tokens(&l) - 2) < 1e-6);
    uvgo_ctx_release(c);
}

struct wait_arg {
    uvgo_limiter_t *l;
    uvgo_ctx_t *ctx;
};

static void *limiter_waiter(void *arg)
{
    struct wait_arg *a = arg;
    return (void *)(intptr_t)uvgo_limiter_wait_ctx(a->l, 2, a->ctx);
}

/* A wait cancelled halfway gives its reservation back. */
static void limiter_wait_cancelled_gives_its_tokens_back(void)
{
    uvgo_limiter_t l = lim(10, 2);
    uvgo_ctx_t *c = test_ctx_cancel();
    struct wait_arg a = {&l, c};
    ASSERT_EQ(uvgo_limiter_allow_n(&l, uvgo_now(), 2), 1);
    uvgo_task_t *t = test_spawn(limiter_waiter, &a);
    test_wait_blocked("sleep", 1);
    ASSERT(uvgo_limiter_tokens(&l) < -1.5); /* reserved 2 */
    uvgo_ctx_cancel(c);
    ASSERT_EQ(test_join(t), UVGO_ECANCELED);
    double tk = uvgo_limiter_tokens(&l);
    ASSERT(tk >= 0 && tk < 1); /* given back */
    test_ctx_done(c);
}

static void limiter_set_limit_and_burst_change_what_follows(void)
{
    uvgo_limiter_t l = lim(10, 1);
    int64_t t = uvgo_now();
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t, 1), 1);
    ASSERT_OK(uvgo_limiter_set_limit_at(&l, t, 100)); /* 10 ms a token */
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + 10 * MS, 1), 1);
    ASSERT_OK(uvgo_limiter_set_burst_at(&l, t + 10 * MS, 5));
    ASSERT_EQ(uvgo_limiter_burst(&l), 5);
    ASSERT(uvgo_limiter_limit(&l) == 100);
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + 60 * MS, 5), 1);
    ASSERT_ERR(uvgo_limiter_set_limit(&l, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_limiter_set_limit(&l, NAN), UVGO_EINVAL);
    ASSERT_ERR(uvgo_limiter_set_burst(&l, -1), UVGO_EINVAL);
    /* Limit 0: nothing accrues, however long it rests. */
    ASSERT_OK(uvgo_limiter_set_limit_at(&l, t + 60 * MS, 0));
    ASSERT_OK(uvgo_limiter_set_burst_at(&l, t + 60 * MS, 2));
    ASSERT_EQ(uvgo_limiter_allow_n(&l, t + UVGO_HOUR, 1), 0);
    ASSERT_EQ(uvgo_limiter_burst(&l), 2);
}

/* x/time/rate since v0.6.0 (golang/go#68541): limit 0 hands out what the
 * bucket holds and never spends the burst, so a later set_limit brings
 * the limiter back (Go's TestZeroLimit and TestSetAfterZeroLimit).  It
 * spent the burst itself, and every later Wait failed with EINVAL. */
static void limiter_with_limit_zero_recovers_after_set_limit(void)
{
    uvgo_limiter_t l = lim(0, 1);
    uvgo_reservation_t r;
    int64_t t = uvgo_now();
    ASSERT_EQ(uvgo_limiter_allow(&l), 1); /* it starts full */
    ASSERT_EQ(uvgo_limiter_allow(&l), 0); /* and is never refilled */
    ASSERT_EQ(uvgo_limiter_burst(&l), 1);
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t + UVGO_HOUR)) < 1e-9);
    /* A reservation past the bucket would act "never", as Go's. */
    ASSERT_OK(uvgo_limiter_reserve_n(&l, t, 1, &r));
    ASSERT_EQ(uvgo_reservation_ok(&r), 1);
    ASSERT_GT(uvgo_reservation_delay_from(&r, t), 100LL * 365 * 24 * UVGO_HOUR);
    uvgo_reservation_cancel_at(&r, t);
    ASSERT(fabs(uvgo_limiter_tokens_at(&l, t)) < 1e-9); /* given back */
    /* A wait with a deadline fails at once: it would pass it. */
    uvgo_ctx_t *c = test_ctx_timeout(UVGO_SECOND);
    ASSERT_ERR(uvgo_limiter_wait_ctx(&l, 1, c), UVGO_ETIMEDOUT);
    test_ctx_done(c);
    /* 10 a second from now: the next token comes within 100 ms. */
    ASSERT_OK(uvgo_limiter_set_limit(&l, 10));
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_limiter_wait(&l, 1));
    ASSERT_GE(uvgo_now() - t0, 90 * MS);
    ASSERT_IN_TIME(uvgo_now() - t0, 100 * MS + test_scale(30, 120) * MS);
}

/* Go's x/time/rate tables for calls "at" a time before the limiter's last
 * update: "last" moves back, and tokens accrue again from there (uvgo
 * counted such a time as the last update and lost the accrual). */
#define RD (100 * MS)
static int64_t rt0;

static void allow_step(uvgo_limiter_t *l, int step, int at, double toks, int n,
                       int ok)
{
    double got = uvgo_limiter_tokens_at(l, rt0 + at * RD);
    if (fabs(got - toks) > 1e-9)
        TEST_FAIL_("step %d: tokens_at(t%d) = %g, want %g", step, at, got,
                   toks);
    if (uvgo_limiter_allow_n(l, rt0 + at * RD, n) != ok)
        TEST_FAIL_("step %d: allow_n(t%d, %d) != %d", step, at, n, ok);
}

/* Reserves n at t<at>; checks ok and, when ok, the time to act, to the
 * nearest RD. */
static uvgo_reservation_t reserve_step(uvgo_limiter_t *l, int at, int n,
                                       int act, int ok)
{
    uvgo_reservation_t r;
    ASSERT_OK(uvgo_limiter_reserve_n(l, rt0 + at * RD, n, &r));
    if (uvgo_reservation_ok(&r) != ok)
        TEST_FAIL_("reserve_n(t%d, %d): ok %d, want %d", at, n,
                   uvgo_reservation_ok(&r), ok);
    if (ok) {
        int64_t d = uvgo_reservation_delay_from(&r, rt0);
        int got = (int)((d + RD / 2) / RD);
        if (got != act)
            TEST_FAIL_("reserve_n(t%d, %d) acts at t%d, want t%d", at, n, got,
                       act);
    }
    return r;
}

static void limiter_calls_at_an_earlier_time_move_last_back(void)
{
    uvgo_limiter_t l = lim(10, 3);
    uvgo_reservation_t r;
    rt0 = uvgo_now() + UVGO_SECOND; /* after the limiter's start */

    /* TestLimiterJumpBackwards: {t, tokens, n, ok}. */
    static const struct {
        int at;
        double toks;
        int n, ok;
    } jb[] = {
        {1, 3, 1, 1}, /* start at t1 */
        {0, 2, 1, 1}, /* jump back to t0, two tokens remain */
        {0, 1, 1, 1}, {0, 0, 1, 0}, {0, 0, 1, 0},
        {1, 1, 1, 1},                             /* got a token */
        {1, 0, 1, 0}, {1, 0, 1, 0}, {2, 1, 1, 1}, /* got another token */
        {2, 0, 1, 0}, {2, 0, 1, 0},
    };
    for (int i = 0; i < (int)(sizeof jb / sizeof jb[0]); i++)
        allow_step(&l, i, jb[i].at, jb[i].toks, jb[i].n, jb[i].ok);

    /* TestReserveJumpBack. */
    l = lim(10, 2);
    reserve_step(&l, 1, 2, 1, 1); /* start at t1 */
    reserve_step(&l, 0, 1, 1, 1); /* should violate Limit,Burst */
    reserve_step(&l, 2, 2, 3, 1);
    reserve_step(&l, 0, 3, 0, 0); /* n > burst: no change */
    reserve_step(&l, 2, 1, 4, 1);
    /* Go reserves 2 at t0 with a maximum wait of one RD here, which fails
     * and changes nothing; allow_n (a maximum of 0) fails the same way. */
    ASSERT_EQ(uvgo_limiter_allow_n(&l, rt0, 2), 0);
    reserve_step(&l, 2, 1, 5, 1);

    /* TestReserveJumpBackCancel. */
    l = lim(10, 2);
    reserve_step(&l, 1, 2, 1, 1); /* start at t1 */
    r = reserve_step(&l, 1, 2, 3, 1);
    reserve_step(&l, 1, 1, 4, 1);
    uvgo_reservation_cancel_at(&r, rt0); /* at t0: one token back */
    reserve_step(&l, 1, 2, 4, 1);        /* should violate Limit,Burst */
}

static void rate_every_converts_intervals_and_rejects_nonpositive(void)
{
    double r = 0;
    ASSERT_OK(uvgo_rate_every(250 * MS, &r));
    ASSERT(fabs(r - 4) < 1e-9);
    ASSERT_ERR(uvgo_rate_every(0, &r), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rate_every(-MS, &r), UVGO_EINVAL);
    ASSERT_ERR(uvgo_limiter_init(NULL, 1, 1), UVGO_EINVAL);
    uvgo_limiter_t l;
    ASSERT_ERR(uvgo_limiter_init(&l, -1, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_limiter_init(&l, 1, -1), UVGO_EINVAL);
}

static struct {
    uvgo_limiter_t l;
    int64_t t0, end;
    atomic_long events;
    _Atomic int64_t first; /* read after the first reservation returned */
} rr;

/* Reserves events and counts those the limiter lets act by rr.end: what
 * the limiter gave, however late a loaded machine runs the task.  Each
 * task sleeps until RATE_AHEAD before its time to act, so that the tasks
 * keep reservations that far ahead: demand never lapses (which would let
 * the bucket overflow and lose events) unless every worker stalls for
 * longer than that (110 ms did, at load 12 on 2 cores). */
#define RATE_AHEAD (500 * MS)
static void *rate_worker(void *arg)
{
    (void)arg;
    for (;;) {
        uvgo_reservation_t r;
        ASSERT_OK(uvgo_limiter_reserve(&rr.l, &r));
        ASSERT(uvgo_reservation_ok(&r));
        int64_t now = uvgo_now(), first = atomic_load(&rr.first);
        while (now < first &&
               !atomic_compare_exchange_weak(&rr.first, &first, now))
            ;
        int64_t act = rr.t0 + uvgo_reservation_delay_from(&r, rr.t0);
        if (act > rr.end) {
            uvgo_reservation_cancel(&r);
            break;
        }
        atomic_fetch_add(&rr.events, 1);
        ASSERT_OK(uvgo_sleep(act - RATE_AHEAD - uvgo_now()));
    }
    return NULL;
}

/* 8 tasks on 4 workers take events from one limiter of 200/s (burst 10)
 * for 2 s: never more than burst + rate * time (the limiter is exact, its
 * callers timed in lock order), and no fewer than 95% of what accrued
 * once the tasks asked: a bucket nobody draws from overflows, and under a
 * sanitizer the tasks can take 100 ms to start. */
static void limiter_allows_the_configured_rate_over_seconds(void)
{
    uvgo_task_t *t[8];
    ASSERT_OK(uvgo_limiter_init(&rr.l, 200, 10));
    rr.first = INT64_MAX;
    rr.t0 = uvgo_now();
    rr.end = rr.t0 + 2 * UVGO_SECOND;
    for (int i = 0; i < 8; i++)
        t[i] = test_spawn(rate_worker, NULL);
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    long most = 10 + 200 * 2;
    long least = 10 + (long)(200 * (rr.end - rr.first) / UVGO_SECOND);
    long got = atomic_load(&rr.events);
    printf("# rate: %ld events in 2 s, want %ld (%ld from the first)\n", got,
           most, least);
    ASSERT_LE(got, most + 1);
    ASSERT_GE(got, least * 95 / 100);
}

/* ---- outside a task ------------------------------------------------------ */

static int unused(void *arg)
{
    (void)arg;
    return 0;
}

static int unused_sf(void *arg, void **val)
{
    (void)arg;
    (void)val;
    return 0;
}

static void blocking_calls_outside_a_task_return_enottask(void)
{
    uvgo_sem_t s = UVGO_SEM_INIT(1);
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    uvgo_sflight_t sf = UVGO_SFLIGHT_INIT;
    uvgo_limiter_t l = lim(1, 1);
    uvgo_chan_t *ch;
    ASSERT_ERR(uvgo_sem_acquire(&s, 1), UVGO_ENOTTASK);
    ASSERT_OK(uvgo_sem_try_acquire(&s, 1));
    ASSERT_OK(uvgo_sem_release(&s, 1));
    ASSERT_ERR(uvgo_errgroup_go(&g, unused, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_errgroup_try_go(&g, unused, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_errgroup_wait(&g), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_sflight_do(&sf, "k", unused_sf, NULL, NULL, NULL),
               UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_sflight_do_chan(&sf, "k", unused_sf, NULL, &ch),
               UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_limiter_wait(&l, 1), UVGO_ENOTTASK);
    ASSERT_EQ(uvgo_limiter_allow(&l), 1);
}

static const test_case_t cases[] = {
    CASE(sem_zero_value_has_size_zero),
    CASE(sem_acquires_and_releases_any_weight),
    CASE(sem_is_fifo_without_barging),
    CASE(sem_acquire_ctx_on_a_done_context_fails_even_if_free),
    CASE(sem_acquire_more_than_size_waits_for_the_context),
    CASE(sem_cancelled_front_waiter_lets_later_ones_in),
    CASE_ABORTS(sem_release_more_than_held_aborts,
                "semaphore: released more than held|in task"),
    CASE_PROCS(sem_is_never_over_granted_across_workers, 4),
    CASE(errgroup_zero_group_waits_for_every_task),
    CASE(errgroup_wait_returns_the_first_error),
    CASE(errgroup_first_error_cancels_the_context),
    CASE(errgroup_wait_cancels_the_context_without_error),
    CASE(errgroup_set_limit_bounds_the_running_tasks),
    CASE(errgroup_try_go_fails_at_the_limit),
    CASE(errgroup_limit_zero_starts_nothing),
    CASE(errgroup_wait_ctx_gives_up_and_cancels_nothing),
    CASE_PROCS(sflight_runs_once_for_1000_concurrent_callers, 4),
    CASE(sflight_lone_caller_is_not_shared_and_gets_fns_error),
    CASE(sflight_do_chan_delivers_one_result_and_never_closes),
    CASE(sflight_forget_starts_a_new_run_and_old_callers_keep_theirs),
    CASE(sflight_do_ctx_gives_up_waiting_for_the_run),
    CASE(sflight_many_keys_in_flight_each_get_their_own),
    CASE(sflight_bad_arguments_return_einval),
    CASE(limiter_zero_value_allows_nothing),
    CASE(limiter_starts_full_and_refills_at_its_rate),
    CASE(limiter_allow_that_fails_takes_nothing),
    CASE(limiter_inf_allows_everything_and_ignores_burst),
    CASE(limiter_reserve_goes_into_debt_and_reports_the_delay),
    CASE(limiter_reserve_beyond_burst_is_not_ok),
    CASE(limiter_cancel_gives_back_what_later_reservations_allow),
    CASE(limiter_cancel_after_its_time_gives_back_nothing),
    CASE(limiter_wait_fails_at_once_if_it_would_pass_the_deadline),
    CASE(limiter_wait_rejects_n_beyond_burst_and_done_contexts),
    CASE(limiter_wait_cancelled_gives_its_tokens_back),
    CASE(limiter_set_limit_and_burst_change_what_follows),
    CASE(limiter_with_limit_zero_recovers_after_set_limit),
    CASE(limiter_calls_at_an_earlier_time_move_last_back),
    CASE(rate_every_converts_intervals_and_rejects_nonpositive),
    CASE_PROCS(limiter_allows_the_configured_rate_over_seconds, 4),
    CASE_PLAIN(blocking_calls_outside_a_task_return_enottask),
};

TEST_MAIN(cases)
