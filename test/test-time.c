/* test-time.c: sleep, timers, tickers (Go 1.23 semantics), signals. */
#include <signal.h>
#include <stdatomic.h>

#include "test.h"

#define MS UVGO_MILLISECOND
/* Lateness allowed before a timing assertion fails: a loaded 2-core CI
 * machine, or a sanitizer, adds milliseconds of scheduling delay. */
#define SLACK TEST_SLACK

static int64_t recv_time(uvgo_chan_t *ch)
{
    int64_t v = 0;
    ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, NULL));
    return v;
}

/* ---- timers -----------------------------------------------------------------
 */

static void timer_fires_once_after_at_least_its_duration(void)
{
    uvgo_timer_t *t;
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_timer_make(&t, 20 * MS));
    int64_t v = recv_time(uvgo_timer_chan(t));
    int64_t now = uvgo_now();
    ASSERT_GE(v - t0, 20 * MS); /* the value is the delivery time */
    ASSERT_LE(v, now);
    ASSERT_IN_TIME(now - t0, 20 * MS + SLACK);
    /* Once: nothing more arrives. */
    uvgo_sleep(30 * MS);
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_timer_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    ASSERT_EQ(uvgo_timer_stop(t), 0);
    uvgo_timer_free(t);
}

static void timer_with_nonpositive_duration_fires_at_once(void)
{
    uvgo_timer_t *t[2];
    ASSERT_OK(uvgo_timer_make(&t[0], 0));
    ASSERT_OK(uvgo_timer_make(&t[1], -5 * UVGO_SECOND));
    int64_t t0 = uvgo_now();
    recv_time(uvgo_timer_chan(t[0]));
    recv_time(uvgo_timer_chan(t[1]));
    ASSERT_IN_TIME(uvgo_now() - t0, SLACK);
    uvgo_timer_free(t[0]);
    uvgo_timer_free(t[1]);
}

static void timer_channel_reports_zero_len_and_cap(void)
{
    uvgo_timer_t *t;
    ASSERT_OK(uvgo_timer_make(&t, 1 * MS));
    uvgo_sleep(10 * MS); /* fired, not received */
    ASSERT_EQ(uvgo_chan_len(uvgo_timer_chan(t)), 0);
    ASSERT_EQ(uvgo_chan_cap(uvgo_timer_chan(t)), 0);
    uvgo_timer_free(t);
}

static void stop_before_firing_returns_1_and_nothing_arrives(void)
{
    uvgo_timer_t *t;
    int64_t v;
    ASSERT_OK(uvgo_timer_make(&t, 10 * MS));
    ASSERT_EQ(uvgo_timer_stop(t), 1);
    uvgo_sleep(25 * MS);
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_timer_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    ASSERT_EQ(uvgo_timer_stop(t), 0); /* already stopped */
    uvgo_timer_free(t);
}

static void stop_after_unreceived_fire_returns_1_and_discards_value(void)
{
    uvgo_timer_t *t;
    int64_t v;
    ASSERT_OK(uvgo_timer_make(&t, 1 * MS));
    uvgo_sleep(10 * MS);
    /* Go 1.23: not yet received, so Stop stops it and no stale value can
     * be received afterwards.  (The old `if (!Stop) drain` idiom therefore
     * never drains here, and cannot hang.) */
    ASSERT_EQ(uvgo_timer_stop(t), 1);
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_timer_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    uvgo_timer_free(t);
}

static void stop_after_receive_returns_0_and_never_closes(void)
{
    uvgo_timer_t *t;
    int64_t v;
    ASSERT_OK(uvgo_timer_make(&t, 1 * MS));
    recv_time(uvgo_timer_chan(t));
    ASSERT_EQ(uvgo_timer_stop(t), 0);
    /* Not closed: a receive would block, not return ECLOSED. */
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_timer_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    uvgo_timer_free(t);
}

static void reset_reports_activity_and_no_stale_value_survives(void)
{
    uvgo_timer_t *t;
    int64_t v;
    ASSERT_OK(uvgo_timer_make(&t, 1 * MS));
    uvgo_sleep(10 * MS); /* fired, unreceived */
    int64_t t0 = uvgo_now();
    ASSERT_EQ(uvgo_timer_reset(t, 20 * MS), 1);
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_timer_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    v = recv_time(uvgo_timer_chan(t));
    ASSERT_GE(v - t0, 20 * MS); /* the new arming's value, not the old */
    ASSERT_EQ(uvgo_timer_reset(t, 5 * MS), 0); /* received: inactive */
    ASSERT_EQ(uvgo_timer_reset(t, 5 * MS), 1); /* pending: active */
    recv_time(uvgo_timer_chan(t));
    uvgo_timer_free(t);
}

static void after_delivers_once_and_frees_itself(void)
{
    uvgo_chan_t *ch, *dropped;
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_after(&ch, 5 * MS));
    ASSERT_GE(recv_time(ch) - t0, 5 * MS);
    uvgo_chan_release(ch);
    /* Dropped before it fires: it fires into nothing and frees itself
     * (ASan checks nothing leaks). */
    ASSERT_OK(uvgo_after(&dropped, 2 * MS));
    uvgo_chan_release(dropped);
    uvgo_sleep(10 * MS);
}

static atomic_int func_runs;
static atomic_ullong func_task;

static void *count_run(void *arg)
{
    (void)arg;
    atomic_store(&func_task, uvgo_task_id(NULL));
    atomic_fetch_add(&func_runs, 1);
    return NULL;
}

static void after_func_runs_in_its_own_task_and_can_be_stopped(void)
{
    uvgo_timer_t *t;
    ASSERT_OK(uvgo_after_func(&t, 2 * MS, count_run, NULL));
    ASSERT(uvgo_timer_chan(t) == NULL);
    while (atomic_load(&func_runs) < 1)
        uvgo_sleep(MS);
    ASSERT_NE(atomic_load(&func_task), uvgo_task_id(NULL));
    ASSERT_EQ(uvgo_timer_stop(t), 0);          /* already ran */
    ASSERT_EQ(uvgo_timer_reset(t, 2 * MS), 0); /* runs again */
    while (atomic_load(&func_runs) < 2)
        uvgo_sleep(MS);
    ASSERT_EQ(uvgo_timer_reset(t, 50 * MS), 0);
    ASSERT_EQ(uvgo_timer_stop(t), 1); /* prevented the third run */
    uvgo_sleep(60 * MS);
    ASSERT_EQ(atomic_load(&func_runs), 2);
    uvgo_timer_free(t);
    /* Without a handle it frees itself after running. */
    ASSERT_OK(uvgo_after_func(NULL, 1 * MS, count_run, NULL));
    while (atomic_load(&func_runs) < 3)
        uvgo_sleep(MS);
}

static void timer_calls_reject_bad_arguments(void)
{
    uvgo_timer_t *t;
    ASSERT_ERR(uvgo_timer_make(NULL, MS), UVGO_EINVAL);
    ASSERT_ERR(uvgo_timer_stop(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_timer_reset(NULL, MS), UVGO_EINVAL);
    ASSERT_ERR(uvgo_after(NULL, MS), UVGO_EINVAL);
    ASSERT_ERR(uvgo_after_func(&t, MS, NULL, NULL), UVGO_EINVAL);
    ASSERT(uvgo_timer_chan(NULL) == NULL);
    uvgo_timer_free(NULL);
    uvgo_ticker_free(NULL);
}

static void timer_calls_without_a_runtime(void)
{
    uvgo_timer_t *t;
    ASSERT_ERR(uvgo_timer_make(&t, MS), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_sleep_ctx(MS, NULL), UVGO_ENOTTASK);
}

/* Timers armed on one worker, stopped and reset from another while they
 * fire: no crash, no value from a stopped arming (TSan watches the rest). */
#define NT 64
static uvgo_timer_t *shared[NT];
static atomic_int made;

static void *make_timers(void *arg)
{
    (void)arg;
    for (int i = 0; i < NT; i++)
        ASSERT_OK(uvgo_timer_make(&shared[i], (i % 8) * MS / 4));
    atomic_store(&made, 1);
    return NULL;
}

static void *poke_timers(void *arg)
{
    (void)arg;
    for (int round = 0; round < (int)test_scale(200, 30); round++) {
        for (int i = 0; i < NT; i++) {
            if ((round + i) % 3)
                uvgo_timer_reset(shared[i], ((round + i) % 5) * MS / 8);
            else
                ASSERT_GE(uvgo_timer_stop(shared[i]), 0);
        }
        uvgo_sleep(MS / 4);
    }
    return NULL;
}

static void timers_stopped_and_reset_from_another_worker(void)
{
    uvgo_task_opts_t a = {.worker = 1, .flags = UVGO_TASK_PINNED};
    uvgo_task_opts_t b = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, make_timers, NULL, &a));
    ASSERT_OK(uvgo_task_join(t, NULL));
    ASSERT_OK(uvgo_task_spawn(&t, poke_timers, NULL, &b));
    ASSERT_OK(uvgo_task_join(t, NULL));
    for (int i = 0; i < NT; i++) {
        int64_t v;
        ASSERT_GE(uvgo_timer_stop(shared[i]), 0);
        /* After Stop returned, nothing is left to receive. */
        ASSERT_ERR(
            uvgo_chan_try_recv(uvgo_timer_chan(shared[i]), &v, sizeof v, NULL),
            UVGO_EAGAIN);
        uvgo_timer_free(shared[i]);
    }
}

static void hundred_thousand_live_timers(void)
{
    long n = test_scale(100000, 20000);
    uvgo_timer_t **t = malloc((size_t)n * sizeof *t);
    for (long i = 0; i < n; i++)
        ASSERT_OK(uvgo_timer_make(&t[i], UVGO_SECOND + (i * 7919) % 1000 * MS));
    /* The earliest of them still fires first. */
    uvgo_timer_t *first;
    ASSERT_OK(uvgo_timer_make(&first, MS));
    recv_time(uvgo_timer_chan(first));
    uvgo_timer_free(first);
    for (long i = 0; i < n; i++)
        ASSERT_EQ(uvgo_timer_stop(t[i]), 1);
    for (long i = 0; i < n; i++)
        uvgo_timer_free(t[i]);
    free(t);
}

/* ---- sleep accuracy ------------------------------------------------------ */

static void sleep_resolution_is_below_a_millisecond(void)
{
    /* The promise in uvgo/time.h: never early; on an idle worker, late by
     * the kernel's wake-up latency.  Checked on the median of 20. */
    int64_t late[20];
    for (int i = 0; i < 20; i++) {
        int64_t t0 = uvgo_now();
        ASSERT_OK(uvgo_sleep(300 * UVGO_MICROSECOND));
        late[i] = uvgo_now() - t0 - 300 * UVGO_MICROSECOND;
        ASSERT_GE(late[i], 0);
    }
    for (int i = 1; i < 20; i++)
        for (int j = i; j > 0 && late[j - 1] > late[j]; j--) {
            int64_t x = late[j];
            late[j] = late[j - 1];
            late[j - 1] = x;
        }
    fprintf(stderr, "median lateness %lld us\n", (long long)late[10] / 1000);
#ifdef __linux__
    ASSERT_IN_TIME(late[10], test_scale(1, 10) * MS);
#endif
}

/* ---- durations at the limits -------------------------------------------- */

/* A 20 ms sleep on the worker (the only one) that holds the entry under
 * test wakes.  (A stopped heap never woke it: the alarm ends that.  The
 * bound is loose: the point is that it wakes at all.) */
static void short_sleep_still_wakes(const char *after_what)
{
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_sleep(20 * MS));
    if (uvgo_now() - t0 >= 20 * MS + 5 * SLACK)
        TEST_FAIL_("a 20 ms sleep took %lld ms after %s",
                   (long long)((uvgo_now() - t0) / MS), after_what);
}

static void *sleep_until_cancelled(void *arg)
{
    ASSERT_ERR(uvgo_sleep_ctx(INT64_MAX, arg), UVGO_ECANCELED);
    return NULL;
}

static void *never_runs(void *arg)
{
    (void)arg;
    TEST_FAIL_("an after-func due in 292 years ran");
    return NULL;
}

/* now + INT64_MAX must saturate, not wrap into the past: a wrapped
 * deadline disarmed the worker's wake-up source and no timer on that
 * worker fired again (this case then hung until the alarm below). */
static void longest_durations_never_stop_other_timers(void)
{
    uvgo_ctx_t *c = test_ctx_cancel(), *forever;
    uvgo_timer_t *t, *f;
    uvgo_ticker_t *tk;
    uvgo_chan_t *after;
    int64_t d, v;

    alarm((unsigned)test_scale(20, 120)); /* a hang fails fast */
    uvgo_task_t *s = test_spawn(sleep_until_cancelled, c);
    test_wait_blocked("sleep", 1);
    short_sleep_still_wakes("a sleep of INT64_MAX");

    ASSERT_OK(uvgo_timer_make(&t, INT64_MAX));
    short_sleep_still_wakes("timer_make(INT64_MAX)");
    ASSERT_OK(uvgo_ticker_make(&tk, INT64_MAX));
    short_sleep_still_wakes("ticker_make(INT64_MAX)");
    ASSERT_OK(uvgo_after(&after, INT64_MAX));
    short_sleep_still_wakes("after(INT64_MAX)");
    ASSERT_OK(uvgo_after_func(&f, INT64_MAX, never_runs, NULL));
    short_sleep_still_wakes("after_func(INT64_MAX)");
    ASSERT_EQ(uvgo_timer_reset(t, INT64_MAX - 1), 1);
    ASSERT_OK(uvgo_ticker_reset(tk, INT64_MAX - 1));
    short_sleep_still_wakes("reset(INT64_MAX - 1)");

    /* A context that times out "never" is not born expired. */
    ASSERT_OK(uvgo_ctx_with_timeout(&forever, NULL, INT64_MAX));
    ASSERT_EQ(uvgo_ctx_err(forever), 0);
    ASSERT_EQ(uvgo_ctx_deadline(forever, &d), 1);
    ASSERT_EQ(d, INT64_MAX);
    short_sleep_still_wakes("ctx_with_timeout(INT64_MAX)");
    ASSERT_ERR(uvgo_sleep_ctx(MS, forever), 0);

    /* The most negative durations fire at once. */
    uvgo_timer_t *now_t;
    ASSERT_OK(uvgo_timer_make(&now_t, INT64_MIN));
    recv_time(uvgo_timer_chan(now_t));
    uvgo_timer_free(now_t);

    ASSERT_ERR(uvgo_chan_try_recv(uvgo_timer_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    ASSERT_ERR(uvgo_chan_try_recv(after, &v, sizeof v, NULL), UVGO_EAGAIN);
    ASSERT_EQ(uvgo_timer_stop(f), 1);
    uvgo_timer_free(f);
    uvgo_timer_free(t);
    uvgo_ticker_free(tk);
    uvgo_chan_release(after); /* its timer goes when the runtime stops */
    uvgo_ctx_cancel(c);
    test_join(s);
    test_ctx_done(c);
    test_ctx_done(forever);
}

/* ---- timers and the deadlock report ---------------------------------------
 */

static void *select_timer_or(void *arg)
{
    uvgo_chan_t **chans = arg;
    uvgo_select_case_t c[2] = {UVGO_CASE_RECV_DISCARD(chans[0]),
                               UVGO_CASE_RECV_DISCARD(chans[1])};
    ASSERT_EQ(uvgo_select(c, 2), 1);
    return NULL;
}

/* Go 1.23: a timer channel nobody waits on cannot wake anyone, so it does
 * not keep the program alive: every task asleep is a deadlock at once, not
 * an hour later when the timers fire.  (The alarm fails the case if the
 * report waits for them.) */
static void unwaited_timer_channels_do_not_delay_the_deadlock_report(void)
{
    uvgo_timer_t *t;
    uvgo_ticker_t *tk;
    uvgo_chan_t *after, *wake, *chans[2];
    alarm((unsigned)test_scale(10, 60));
    ASSERT_OK(uvgo_timer_make(&t, UVGO_HOUR));
    ASSERT_OK(uvgo_ticker_make(&tk, UVGO_HOUR));
    ASSERT_OK(uvgo_after(&after, UVGO_HOUR));
    uvgo_chan_release(after);
    /* A task that waited on a timer channel, then stopped waiting. */
    ASSERT_OK(uvgo_chan_make(&wake, 0, 0));
    chans[0] = uvgo_timer_chan(t);
    chans[1] = wake;
    uvgo_task_t *s = test_spawn(select_timer_or, chans);
    test_wait_blocked("select", 1);
    ASSERT_OK(uvgo_chan_send(wake, NULL, 0));
    test_join(s);
    uvgo_chan_recv(NULL, NULL, 0, NULL); /* every task asleep */
}

static void *make_after_on_worker(void *arg)
{
    uvgo_chan_t *out = arg, *after;
    ASSERT_OK(uvgo_after(&after, 30 * MS));
    ASSERT_OK(uvgo_chan_send(out, &after, sizeof after));
    return NULL;
}

/* The other side: a task waiting on a timer channel is not a deadlock,
 * even when the timer sits in the heap of a worker that went idle before
 * the task began to wait. */
static void a_task_waiting_on_a_timer_channel_is_no_deadlock(void)
{
    uvgo_task_opts_t on1 = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_chan_t *out, *after;
    uvgo_task_t *m;
    int64_t v;
    ASSERT_OK(uvgo_chan_make(&out, sizeof after, 1));
    ASSERT_OK(uvgo_task_spawn(&m, make_after_on_worker, out, &on1));
    test_join(m);
    ASSERT_OK(uvgo_chan_recv(out, &after, sizeof after, NULL));
    uvgo_sleep(5 * MS); /* let worker 1 park */
    ASSERT_OK(uvgo_chan_recv(after, &v, sizeof v, NULL));
    uvgo_chan_release(after);
    uvgo_chan_release(out);
}

/* ---- tickers --------------------------------------------------------------
 */

static void ticker_rejects_nonpositive_periods(void)
{
    uvgo_ticker_t *t;
    ASSERT_ERR(uvgo_ticker_make(&t, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_ticker_make(&t, -MS), UVGO_EINVAL);
    ASSERT_ERR(uvgo_ticker_make(NULL, MS), UVGO_EINVAL);
    ASSERT_OK(uvgo_ticker_make(&t, MS));
    ASSERT_ERR(uvgo_ticker_reset(t, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_ticker_reset(NULL, MS), UVGO_EINVAL);
    ASSERT_ERR(uvgo_ticker_stop(NULL), UVGO_EINVAL);
    uvgo_ticker_free(t);
}

static void ticker_keeps_its_phase(void)
{
    uvgo_ticker_t *t;
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_ticker_make(&t, 10 * MS));
    for (int i = 1; i <= 10; i++) {
        int64_t v = recv_time(uvgo_ticker_chan(t));
        /* Tick i is due at t0 + i periods: never early, never drifting. */
        ASSERT_GE(v - t0, i * 10 * MS);
        ASSERT_IN_TIME(v - t0, i * 10 * MS + SLACK);
    }
    uvgo_ticker_free(t);
}

static void ticker_drops_ticks_a_slow_receiver_misses(void)
{
    uvgo_ticker_t *t;
    int64_t v;
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_ticker_make(&t, 5 * MS));
    uvgo_sleep(52 * MS); /* ten ticks' worth */
    /* One tick waits; the other nine were dropped, not queued. */
    ASSERT_OK(uvgo_chan_try_recv(uvgo_ticker_chan(t), &v, sizeof v, NULL));
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_ticker_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    v = recv_time(uvgo_ticker_chan(t));
    ASSERT_GE(v - t0, 55 * MS);
    uvgo_ticker_free(t);
}

/* After missed ticks the schedule stays on its grid (t0 + k periods); it
 * is not rebased on the late receive.  The period is long enough that the
 * two schedules differ by far more than a loaded machine's lateness: the
 * receiver wakes at 2.5 periods, so the grid's next tick is due at 3
 * periods, and a rebased one at 3.5. */
static void ticker_keeps_its_grid_after_missed_ticks(void)
{
    const int64_t period = 400 * MS;
    uvgo_ticker_t *t;
    int64_t v, t0 = uvgo_now();
    ASSERT_OK(uvgo_ticker_make(&t, period));
    uvgo_sleep(period * 5 / 2);
    ASSERT_OK(uvgo_chan_try_recv(uvgo_ticker_chan(t), &v, sizeof v, NULL));
    v = recv_time(uvgo_ticker_chan(t));
    ASSERT_GE(v - t0, 3 * period);
    ASSERT_IN_TIME(v - t0, 3 * period + period / 2);
    uvgo_ticker_free(t);
}

static void ticker_stop_and_reset_leave_no_stale_tick(void)
{
    uvgo_ticker_t *t;
    int64_t v;
    ASSERT_OK(uvgo_ticker_make(&t, 2 * MS));
    uvgo_sleep(10 * MS);
    ASSERT_OK(uvgo_ticker_stop(t));
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_ticker_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    uvgo_sleep(10 * MS);
    ASSERT_ERR(uvgo_chan_try_recv(uvgo_ticker_chan(t), &v, sizeof v, NULL),
               UVGO_EAGAIN);
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_ticker_reset(t, 15 * MS));
    v = recv_time(uvgo_ticker_chan(t));
    ASSERT_GE(v - t0, 15 * MS); /* a full new period from the reset */
    uvgo_ticker_free(t);
}

/* ---- signals
 * ------------------------------------------------------------------ */

static void signal_sent_to_the_process_arrives_on_the_channel(void)
{
    uvgo_chan_t *a, *b;
    uvgo_signal_t *sa, *sb;
    int sigs[] = {SIGUSR1, SIGHUP};
    int got = 0;
    ASSERT_OK(uvgo_chan_make(&a, sizeof(int), 4));
    ASSERT_OK(uvgo_chan_make(&b, sizeof(int), 4));
    ASSERT_OK(uvgo_signal_notify(&sa, a, sigs, 2));
    ASSERT_OK(uvgo_signal_notify(&sb, b, sigs, 1));
    kill(getpid(), SIGUSR1);
    ASSERT_OK(uvgo_chan_recv(a, &got, sizeof got, NULL));
    ASSERT_EQ(got, SIGUSR1);
    ASSERT_OK(uvgo_chan_recv(b, &got, sizeof got, NULL));
    ASSERT_EQ(got, SIGUSR1);
    /* Stopped subscriptions get nothing; the other still does. */
    ASSERT_OK(uvgo_signal_stop(sb));
    kill(getpid(), SIGUSR1);
    ASSERT_OK(uvgo_chan_recv(a, &got, sizeof got, NULL));
    ASSERT_EQ(got, SIGUSR1);
    kill(getpid(), SIGHUP);
    ASSERT_OK(uvgo_chan_recv(a, &got, sizeof got, NULL));
    ASSERT_EQ(got, SIGHUP);
    uvgo_sleep(5 * MS);
    ASSERT_ERR(uvgo_chan_try_recv(b, &got, sizeof got, NULL), UVGO_EAGAIN);
    ASSERT_OK(uvgo_signal_stop(sa));
    uvgo_chan_release(a);
    uvgo_chan_release(b);
}

static void signal_notify_rejects_bad_arguments(void)
{
    uvgo_chan_t *ch, *wide;
    uvgo_signal_t *s;
    int sig = SIGUSR2, bad = SIGKILL, huge = 1000;
    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 1));
    ASSERT_OK(uvgo_chan_make(&wide, sizeof(long), 1));
    ASSERT_ERR(uvgo_signal_notify(NULL, ch, &sig, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_signal_notify(&s, NULL, &sig, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_signal_notify(&s, ch, NULL, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_signal_notify(&s, ch, &sig, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_signal_notify(&s, wide, &sig, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_signal_notify(&s, ch, &bad, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_signal_notify(&s, ch, &huge, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_signal_stop(NULL), UVGO_EINVAL);
    uvgo_chan_release(ch);
    uvgo_chan_release(wide);
}

/* Issue 8, item 10: a stop on a freed timer read freed memory (and spun
 * forever on a lock word the allocator had overwritten). */
static void timer_used_after_free_returns_einval(void)
{
    uvgo_timer_t *t, *u;
    uvgo_ticker_t *k;

    ASSERT_OK(uvgo_timer_make(&t, 50 * MS));
    uvgo_timer_free(t);
    ASSERT_ERR(uvgo_timer_stop(t), UVGO_EINVAL);
    ASSERT_ERR(uvgo_timer_reset(t, MS), UVGO_EINVAL);
    ASSERT(uvgo_timer_chan(t) == NULL);
    uvgo_timer_free(t); /* a second free does nothing */
    /* A new timer reuses the record: the stale handle still misses it. */
    ASSERT_OK(uvgo_timer_make(&u, MS));
    ASSERT_ERR(uvgo_timer_stop(t), UVGO_EINVAL);
    ASSERT(recv_time(uvgo_timer_chan(u)) > 0);
    ASSERT_EQ(uvgo_timer_stop(u), 0);
    uvgo_timer_free(u);

    ASSERT_OK(uvgo_ticker_make(&k, MS));
    uvgo_ticker_free(k);
    ASSERT_ERR(uvgo_ticker_stop(k), UVGO_EINVAL);
    ASSERT_ERR(uvgo_ticker_reset(k, MS), UVGO_EINVAL);
    ASSERT(uvgo_ticker_chan(k) == NULL);
    uvgo_ticker_free(k);
}

static const test_case_t cases[] = {
    CASE(timer_fires_once_after_at_least_its_duration),
    CASE(timer_with_nonpositive_duration_fires_at_once),
    CASE(timer_channel_reports_zero_len_and_cap),
    CASE(stop_before_firing_returns_1_and_nothing_arrives),
    CASE(stop_after_unreceived_fire_returns_1_and_discards_value),
    CASE(stop_after_receive_returns_0_and_never_closes),
    CASE(reset_reports_activity_and_no_stale_value_survives),
    CASE(after_delivers_once_and_frees_itself),
    CASE(after_func_runs_in_its_own_task_and_can_be_stopped),
    CASE(timer_calls_reject_bad_arguments),
    CASE_PLAIN(timer_calls_without_a_runtime),
    CASE_PROCS(timer_used_after_free_returns_einval, 1),
    CASE(timers_stopped_and_reset_from_another_worker),
    CASE(hundred_thousand_live_timers),
    CASE(sleep_resolution_is_below_a_millisecond),
    CASE_PROCS(longest_durations_never_stop_other_timers, 1),
    CASE_ABORTS(unwaited_timer_channels_do_not_delay_the_deadlock_report,
                "deadlock|chan receive (nil chan)"),
    CASE(a_task_waiting_on_a_timer_channel_is_no_deadlock),
    CASE(ticker_rejects_nonpositive_periods),
    CASE(ticker_keeps_its_phase),
    CASE(ticker_drops_ticks_a_slow_receiver_misses),
    CASE(ticker_keeps_its_grid_after_missed_ticks),
    CASE(ticker_stop_and_reset_leave_no_stale_tick),
    CASE(signal_sent_to_the_process_arrives_on_the_channel),
    CASE(signal_notify_rejects_bad_arguments),
};

TEST_MAIN(cases)
