/* test-task.c: tasks, the scheduler, stacks, events, offload, embedding. */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

/* ---- spawn and join --------------------------------------------------------
 */

static atomic_int flag;

static void *set_flag(void *arg)
{
    atomic_store(&flag, (int)(intptr_t)arg);
    return arg;
}

static void spawn_queues_task_and_spawner_keeps_running(void)
{
    uvgo_task_t *t;
    atomic_store(&flag, 0);
    uvgo_procs(1);
    ASSERT_OK(uvgo_task_spawn(&t, set_flag, (void *)7, NULL));
    /* Not run yet: spawning queues, it does not switch. */
    ASSERT_EQ(atomic_load(&flag), 0);
    void *r = NULL;
    ASSERT_OK(uvgo_task_join(t, &r));
    ASSERT_EQ((intptr_t)r, 7);
    ASSERT_EQ(atomic_load(&flag), 7);
}

static void *square(void *arg)
{
    intptr_t v = (intptr_t)arg;
    uvgo_task_yield();
    return (void *)(v * v);
}

static void join_returns_each_result(void)
{
    uvgo_task_t *t[200];
    for (intptr_t i = 0; i < 200; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], square, (void *)i, NULL));
    for (intptr_t i = 0; i < 200; i++) {
        void *r;
        ASSERT_OK(uvgo_task_join(t[i], &r));
        ASSERT_EQ((intptr_t)r, i * i);
    }
}

static void join_after_task_finished_returns_result(void)
{
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, set_flag, (void *)3, NULL));
    while (atomic_load(&flag) != 3)
        uvgo_sleep(UVGO_MILLISECOND);
    uvgo_sleep(5 * UVGO_MILLISECOND); /* let it switch out for good */
    void *r;
    ASSERT_OK(uvgo_task_join(t, &r));
    ASSERT_EQ((intptr_t)r, 3);
}

static void spawn_and_join_reject_bad_arguments(void)
{
    uvgo_task_t *t;
    uvgo_task_opts_t o = {0};
    ASSERT_ERR(uvgo_task_spawn(&t, NULL, NULL, NULL), UVGO_EINVAL);
    o.worker = uvgo_worker_count() + 1;
    ASSERT_ERR(uvgo_task_spawn(&t, set_flag, NULL, &o), UVGO_EINVAL);
    o.worker = -1;
    ASSERT_ERR(uvgo_task_spawn(&t, set_flag, NULL, &o), UVGO_EINVAL);
    o.worker = 0;
    o.stack_size = (size_t)2 << 30;
    ASSERT_ERR(uvgo_task_spawn(&t, set_flag, NULL, &o), UVGO_EINVAL);
    ASSERT_ERR(uvgo_task_join(NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_task_join(uvgo_task_self(), NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_task_detach(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_go(NULL, NULL), UVGO_EINVAL);
}

static void detached_task_is_freed_when_it_returns(void)
{
    uvgo_task_t *t;
    atomic_store(&flag, 0);
    ASSERT_OK(uvgo_task_spawn(&t, set_flag, (void *)1, NULL));
    ASSERT_EQ(uvgo_task_count(), 2);
    ASSERT_OK(uvgo_task_detach(t));
    while (uvgo_task_count() > 1)
        uvgo_sleep(UVGO_MILLISECOND);
    ASSERT_EQ(atomic_load(&flag), 1);
}

/* Issue 8, item 10: a joined or detached handle was accepted again, and
 * took whatever task reused its record. */
static void joining_a_handle_twice_or_after_detach_returns_einval(void)
{
    uvgo_task_t *a, *b, *c;
    ASSERT_OK(uvgo_task_spawn(&a, set_flag, (void *)1, NULL));
    ASSERT_EQ(test_join(a), 1);
    ASSERT_ERR(uvgo_task_join(a, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_task_detach(a), UVGO_EINVAL);
    ASSERT_EQ(uvgo_task_id(a), 0);
    ASSERT_STR_EQ(uvgo_task_name(a), "");
    /* The next task reuses a's record: a still does not reach it. */
    ASSERT_OK(uvgo_task_spawn(&b, set_flag, (void *)2, NULL));
    ASSERT_ERR(uvgo_task_join(a, NULL), UVGO_EINVAL);
    ASSERT_NE(uvgo_task_id(b), 0);
    ASSERT_EQ(test_join(b), 2);
    /* Detached, then joined or detached again. */
    ASSERT_OK(uvgo_task_spawn(&c, set_flag, (void *)3, NULL));
    ASSERT_OK(uvgo_task_detach(c));
    ASSERT_ERR(uvgo_task_join(c, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_task_detach(c), UVGO_EINVAL);
    while (uvgo_task_count() > 1)
        uvgo_sleep(UVGO_MILLISECOND);
    ASSERT_ERR(uvgo_task_join(c, NULL), UVGO_EINVAL);
}

static void *self_handle(void *arg)
{
    (void)arg;
    return uvgo_task_self();
}

static void task_self_is_the_spawn_handle(void)
{
    uvgo_task_t *t;
    void *r;
    ASSERT_OK(uvgo_task_spawn(&t, self_handle, NULL, NULL));
    ASSERT_OK(uvgo_task_join(t, &r));
    ASSERT_PTR_EQ(r, t);
    ASSERT_STR_EQ(uvgo_task_name(uvgo_task_self()), "main");
}

/* ---- yield and fairness ----------------------------------------------------
 */

static char order[64];
static atomic_int order_len;

static void *note_and_yield(void *arg)
{
    char c = (char)(intptr_t)arg;
    for (int i = 0; i < 3; i++) {
        order[atomic_fetch_add(&order_len, 1)] = c;
        ASSERT_OK(uvgo_task_yield());
    }
    return NULL;
}

static void yield_lets_queued_tasks_run_in_turn(void)
{
    uvgo_task_t *a, *b;
    ASSERT_OK(uvgo_task_spawn(&a, note_and_yield, (void *)'a', NULL));
    ASSERT_OK(uvgo_task_spawn(&b, note_and_yield, (void *)'b', NULL));
    ASSERT_OK(uvgo_task_join(a, NULL));
    ASSERT_OK(uvgo_task_join(b, NULL));
    order[atomic_load(&order_len)] = '\0';
    ASSERT_STR_EQ(order, "ababab");
}

static atomic_int stop_spinning;

static void *yield_until_stopped(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_spinning))
        uvgo_task_yield();
    return NULL;
}

static void *sleep_then_stop(void *arg)
{
    (void)arg;
    uvgo_sleep(10 * UVGO_MILLISECOND);
    atomic_store(&stop_spinning, 1);
    return NULL;
}

/* Tasks that only yield must not starve the loop: the sleeper's timer
 * fires although the worker always has a runnable task. */
static void yielding_tasks_do_not_starve_the_loop(void)
{
    uvgo_task_t *a, *b, *s;
    ASSERT_OK(uvgo_task_spawn(&a, yield_until_stopped, NULL, NULL));
    ASSERT_OK(uvgo_task_spawn(&b, yield_until_stopped, NULL, NULL));
    ASSERT_OK(uvgo_task_spawn(&s, sleep_then_stop, NULL, NULL));
    ASSERT_OK(uvgo_task_join(s, NULL));
    ASSERT_OK(uvgo_task_join(a, NULL));
    ASSERT_OK(uvgo_task_join(b, NULL));
}

/* ---- sleep ------------------------------------------------------------------
 */

static void sleep_waits_at_least_the_duration(void)
{
    static const int ms[] = {1, 2, 5, 20, 50};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int64_t t0 = uvgo_now();
        ASSERT_OK(uvgo_sleep(ms[i] * UVGO_MILLISECOND));
        int64_t took = uvgo_now() - t0;
        ASSERT_GE(took, ms[i] * UVGO_MILLISECOND);
        /* Tens of microseconds late on an idle worker; TEST_SLACK on a
         * loaded one. */
        ASSERT_IN_TIME(took, ms[i] * UVGO_MILLISECOND + TEST_SLACK);
    }
    ASSERT_OK(uvgo_sleep(0));
    ASSERT_OK(uvgo_sleep(-5));
}

/* Wake order follows deadlines, tested without trusting the scheduler's
 * timing: every deadline is fixed against one start time read before any
 * sleeper exists, the first lies far beyond how long a sanitizer takes to
 * start eight tasks, and the sleepers share one pinned worker, so its timer
 * heap alone decides the order in which they become runnable.  Each records
 * its place in the wake order (not a clock reading, which a loaded machine
 * could blur) and checks that it did not wake before its deadline. */
#define SLEEPERS 8
static int64_t sleep_start;
static int wake_rank[SLEEPERS];
static atomic_int wakes;

static int64_t sleeper_deadline(intptr_t i)
{
    /* Sleeper i has the (SLEEPERS - i)-th deadline: later spawned, earlier
     * woken, so spawn order and deadline order disagree. */
    return sleep_start + 200 * UVGO_MILLISECOND +
           (SLEEPERS - i) * 10 * UVGO_MILLISECOND;
}

static void *sleep_n(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int64_t deadline = sleeper_deadline(i);
    ASSERT_OK(uvgo_sleep(deadline - uvgo_now()));
    ASSERT_GE(uvgo_now(), deadline);
    wake_rank[i] = atomic_fetch_add(&wakes, 1);
    return NULL;
}

static void sleepers_wake_in_deadline_order(void)
{
    uvgo_task_opts_t o = {.worker = 1 + uvgo_worker_id(),
                          .flags = UVGO_TASK_PINNED};
    uvgo_task_t *t[SLEEPERS];
    atomic_store(&wakes, 0);
    sleep_start = uvgo_now();
    for (intptr_t i = 0; i < SLEEPERS; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], sleep_n, (void *)i, &o));
    for (int i = 0; i < SLEEPERS; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    for (int i = 0; i < SLEEPERS; i++)
        ASSERT_EQ(wake_rank[i], SLEEPERS - 1 - i);
}

/* ---- identity and task-local storage --------------------------------------
 */

static void *report_identity(void *arg)
{
    uint64_t *id = arg;
    *id = uvgo_task_id(NULL);
    return (void *)uvgo_task_name(NULL);
}

static void tasks_have_unique_ids_and_names(void)
{
    uvgo_task_opts_t o = {.name = "worker-with-a-name-longer-than-thirty-one"};
    uvgo_task_t *a, *b;
    uint64_t ida = 0, idb = 0;
    void *na, *nb;

    ASSERT_STR_EQ(uvgo_task_name(NULL), "main");
    ASSERT_NE(uvgo_task_id(NULL), 0);
    ASSERT_OK(uvgo_task_spawn(&a, report_identity, &ida, &o));
    ASSERT_OK(uvgo_task_spawn(&b, report_identity, &idb, NULL));
    ASSERT_STR_EQ(uvgo_task_name(a), "worker-with-a-name-longer-than-");
    ASSERT_EQ(uvgo_task_id(a), uvgo_task_id(a));
    uint64_t want_a = uvgo_task_id(a);
    ASSERT_OK(uvgo_task_join(a, &na));
    ASSERT_OK(uvgo_task_join(b, &nb));
    ASSERT_EQ(ida, want_a);
    ASSERT_NE(ida, idb);
    ASSERT_NE(ida, uvgo_task_id(NULL));
    ASSERT_NE(idb, 0);
    ASSERT(uvgo_task_self() != NULL);
}

static uvgo_task_key_t key_a, key_b;
static atomic_int destroyed;

static void count_destroy(void *v)
{
    atomic_fetch_add(&destroyed, (int)(intptr_t)v);
}

static void *use_locals(void *arg)
{
    intptr_t v = (intptr_t)arg;
    ASSERT(uvgo_task_local_get(key_a) == NULL);
    ASSERT_OK(uvgo_task_local_set(key_a, (void *)v));
    ASSERT_OK(uvgo_task_local_set(key_b, (void *)(v + 1000)));
    for (int i = 0; i < 10; i++) {
        uvgo_task_yield(); /* other tasks set their own values meanwhile */
        ASSERT_EQ((intptr_t)uvgo_task_local_get(key_a), v);
        ASSERT_EQ((intptr_t)uvgo_task_local_get(key_b), v + 1000);
    }
    return NULL;
}

static void task_local_values_are_per_task_and_destroyed_at_exit(void)
{
    uvgo_task_t *t[20];
    ASSERT_OK(uvgo_task_key_create(&key_a, count_destroy));
    ASSERT_OK(uvgo_task_key_create(&key_b, NULL));
    ASSERT_ERR(uvgo_task_key_create(NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_task_local_set(key_b + 1, (void *)1), UVGO_EINVAL);
    ASSERT(uvgo_task_local_get(key_b + 50) == NULL);
    for (intptr_t i = 0; i < 20; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], use_locals, (void *)(i + 1), NULL));
    for (int i = 0; i < 20; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    ASSERT_EQ(atomic_load(&destroyed), 20 * 21 / 2);
}

static void task_keys_run_out_with_eagain(void)
{
    uvgo_task_key_t k;
    int n = 0;
    while (uvgo_task_key_create(&k, NULL) == 0)
        n++;
    ASSERT_EQ(n, UVGO_TASK_KEYS_MAX);
    ASSERT_ERR(uvgo_task_key_create(&k, NULL), UVGO_EAGAIN);
}

/* ---- workers: stealing, pinning, cross-thread wake-ups ---------------------
 */

static atomic_int ran_on[8];

static void *busy_then_note(void *arg)
{
    (void)arg;
    int64_t until = uvgo_now() + 2 * UVGO_MILLISECOND;
    while (uvgo_now() < until)
        ;
    atomic_fetch_add(&ran_on[uvgo_worker_id()], 1);
    return NULL;
}

static void idle_worker_steals_queued_tasks(void)
{
    uvgo_task_t *t[64];
    ASSERT_EQ(uvgo_worker_count(), 2);
    /* All 64 are queued on this worker; they never block, so only stealing
     * can get the other worker to run any. */
    for (int i = 0; i < 64; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], busy_then_note, NULL, NULL));
    for (int i = 0; i < 64; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    ASSERT_EQ(atomic_load(&ran_on[0]) + atomic_load(&ran_on[1]), 64);
    ASSERT_GT(atomic_load(&ran_on[0]), 0);
    ASSERT_GT(atomic_load(&ran_on[1]), 0);
}

static void *stay_pinned(void *arg)
{
    int want = (int)(intptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        ASSERT_EQ(uvgo_worker_id(), want);
        uvgo_task_yield();
    }
    return NULL;
}

static void pinned_task_stays_on_its_worker(void)
{
    uvgo_task_opts_t o = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *p[3];
    for (int i = 0; i < 3; i++)
        ASSERT_OK(uvgo_task_spawn(&p[i], stay_pinned, (void *)1, &o));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(uvgo_task_join(p[i], NULL));
}

/* Two pinned tasks on different workers hand a token back and forth with
 * events: every wake-up crosses threads (inbox + doorbell when parked). */
#define ROUNDS 20000
static uvgo_event_t ping[ROUNDS + 1], pong[ROUNDS + 1];
static long shared_value;

static void *ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        uvgo_event_wait(&ping[i], "ping");
        ASSERT_EQ(uvgo_worker_id(), 1);
        ASSERT_EQ(shared_value, 2 * i + 1); /* written by the other thread */
        shared_value++;
        uvgo_event_set(&pong[i]);
        if (i % 1000 == 0)
            uvgo_sleep(UVGO_MILLISECOND); /* let the other worker park */
    }
    return NULL;
}

static void cross_thread_wakeups_deliver_and_order_memory(void)
{
    uvgo_task_opts_t o = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, ponger, NULL, &o));
    for (int i = 0; i < ROUNDS; i++) {
        ASSERT_EQ(shared_value, 2 * i);
        shared_value++;
        uvgo_event_set(&ping[i]);
        uvgo_event_wait(&pong[i], "pong");
    }
    ASSERT_OK(uvgo_task_join(t, NULL));
    ASSERT_EQ(shared_value, 2 * ROUNDS);
}

static atomic_long stress_sum;

static void *yield_and_sum(void *arg)
{
    long id = (long)(intptr_t)arg, local = 0;
    for (int i = 0; i < 200; i++) {
        local += id;
        uvgo_task_yield();
    }
    atomic_fetch_add(&stress_sum, local);
    return NULL;
}

static void many_yielding_tasks_across_workers_lose_nothing(void)
{
    long n = test_scale(2000, 300);
    uvgo_task_t **t = calloc((size_t)n, sizeof *t);
    for (long i = 0; i < n; i++)
        ASSERT_OK(
            uvgo_task_spawn(&t[i], yield_and_sum, (void *)(intptr_t)i, NULL));
    for (long i = 0; i < n; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    ASSERT_EQ(atomic_load(&stress_sum), 200 * (n * (n - 1) / 2));
    free(t);
}

static atomic_int foreign_ran;

static void *count_foreign(void *arg)
{
    (void)arg;
    atomic_fetch_add(&foreign_ran, 1);
    return NULL;
}

static void *foreign_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        ASSERT_OK(uvgo_go(count_foreign, NULL));
    return NULL;
}

static void spawn_from_a_foreign_thread_runs_tasks(void)
{
    pthread_t th;
    pthread_create(&th, NULL, foreign_thread, NULL);
    while (atomic_load(&foreign_ran) < 100)
        uvgo_sleep(UVGO_MILLISECOND);
    pthread_join(th, NULL);
}

/* ---- affinity: a task that holds a handle and is stolen -------------------
 */

struct timer_wait {
    uv_timer_t timer;
    uvgo_event_t fired, closed;
    uv_thread_t fired_on;
};

static void on_test_timer(uv_timer_t *h)
{
    struct timer_wait *tw = h->data;
    tw->fired_on = uv_thread_self();
    uvgo_event_set(&tw->fired);
}

static void on_test_close(uv_handle_t *h)
{
    struct timer_wait *tw = h->data;
    uvgo_event_set(&tw->closed);
}

static atomic_int hog_stop;

static void *hog(void *arg)
{
    (void)arg;
    while (!atomic_load(&hog_stop))
        ; /* never yields: this worker runs nothing else meanwhile */
    return NULL;
}

static void *handle_holder(void *arg)
{
    struct timer_wait tw;
    uv_loop_t *home = uvgo_loop();
    int home_id = uvgo_worker_id(), moved = 0;
    uv_thread_t home_thread = uv_thread_self();
    (void)arg;

    memset(&tw, 0, sizeof tw);
    tw.timer.data = &tw;
    ASSERT_OK(uv_timer_init(home, &tw.timer));
    /* The hog now occupies our worker; yielding queues us behind it, where
     * the idle worker steals us. */
    atomic_store(&hog_stop, 0);
    uvgo_task_opts_t o = {.worker = home_id + 1, .flags = UVGO_TASK_PINNED};
    ASSERT_OK(uvgo_task_spawn(NULL, hog, NULL, &o));
    for (int i = 0; i < 100000 && !moved; i++) {
        uvgo_task_yield();
        moved = uvgo_worker_id() != home_id;
    }
    ASSERT(moved);
    atomic_store(&hog_stop, 1);
    /* Touching the handle from here would be a cross-thread libuv call:
     * enter its loop first. */
    ASSERT_OK(uvgo_loop_enter(tw.timer.loop));
    ASSERT_EQ(uvgo_worker_id(), home_id);
    ASSERT(uv_thread_equal(&(uv_thread_t){uv_thread_self()}, &home_thread));
    ASSERT_OK(uv_timer_start(&tw.timer, on_test_timer, 1, 0));
    ASSERT_OK(uvgo_event_wait(&tw.fired, "test timer"));
    ASSERT(uv_thread_equal(&tw.fired_on, &home_thread));
    ASSERT_OK(uvgo_loop_enter(tw.timer.loop));
    uv_close((uv_handle_t *)&tw.timer, on_test_close);
    ASSERT_OK(uvgo_event_wait(&tw.closed, "test timer close"));
    return NULL;
}

static void stolen_task_moves_back_to_its_handles_loop(void)
{
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, handle_holder, NULL, NULL));
    ASSERT_OK(uvgo_task_join(t, NULL));
    ASSERT_ERR(uvgo_loop_enter(NULL), UVGO_EINVAL);
    uv_loop_t other;
    uv_loop_init(&other);
    ASSERT_ERR(uvgo_loop_enter(&other), UVGO_EINVAL);
    uv_loop_close(&other);
}

/* ---- events and offload -----------------------------------------------------
 */

static uvgo_event_t shared_ev;

static void *wait_shared(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)uvgo_event_wait(&shared_ev, "shared");
}

static void event_set_before_wait_returns_at_once_and_second_waiter_fails(void)
{
    uvgo_event_t ev = UVGO_EVENT_INIT;
    uvgo_event_set(&ev);
    ASSERT_OK(uvgo_event_wait(&ev, "already set"));
    ASSERT_OK(uvgo_event_wait(&ev, "still set"));
    ASSERT_ERR(uvgo_event_wait(NULL, "x"), UVGO_EINVAL);
    uvgo_event_set(NULL); /* ignored */

    uvgo_task_t *a;
    ASSERT_OK(uvgo_task_spawn(&a, wait_shared, NULL, NULL));
    /* Atomic: the waiter may run on another worker (TSan found the plain
     * read racing with its compare-and-swap). */
    while (uvgo_task_count() < 2 ||
           __atomic_load_n(&shared_ev.state_, __ATOMIC_ACQUIRE) == 0)
        uvgo_sleep(UVGO_MILLISECOND);
    ASSERT_ERR(uvgo_event_wait(&shared_ev, "second"), UVGO_EINVAL);
    uvgo_event_set(&shared_ev);
    void *r;
    ASSERT_OK(uvgo_task_join(a, &r));
    ASSERT_EQ((intptr_t)r, 0);
}

static atomic_int ticks;

/* Blocks its thread until the ticker task has ticked 5 times (30 s at
 * most): if the offload held the worker, the ticker could not tick. */
static void slow_job(void *arg)
{
    for (int i = 0; i < 30000 && atomic_load(&ticks) < 5; i++)
        usleep(1000);
    *(int *)arg = 42;
}

static void *ticker(void *arg)
{
    (void)arg;
    while (atomic_load(&ticks) >= 0) {
        atomic_fetch_add(&ticks, 1);
        uvgo_sleep(UVGO_MILLISECOND);
    }
    return NULL;
}

static void offload_runs_blocking_call_while_worker_serves_others(void)
{
    uvgo_task_t *tk;
    int out = 0;
    ASSERT_OK(uvgo_task_spawn(&tk, ticker, NULL, NULL));
    ASSERT_OK(uvgo_offload(slow_job, &out));
    ASSERT_EQ(out, 42);
    /* The ticker ran on while we waited. */
    ASSERT_GE(atomic_load(&ticks), 5);
    atomic_store(&ticks, -1000000);
    ASSERT_OK(uvgo_task_join(tk, NULL));
    ASSERT_ERR(uvgo_offload(NULL, NULL), UVGO_EINVAL);
}

/* ---- calls outside a task and without a runtime ---------------------------
 */

static void task_calls_outside_a_task_return_enottask(void)
{
    uvgo_event_t ev = UVGO_EVENT_INIT;
    uvgo_task_t *t;
    ASSERT_ERR(uvgo_task_yield(), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_sleep(UVGO_MILLISECOND), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_event_wait(&ev, "x"), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_offload(slow_job, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_task_join((uvgo_task_t *)&ev, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_task_spawn(&t, set_flag, NULL, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_task_local_set(0, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_loop_enter(NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_worker_id(), UVGO_ENOTTASK);
    ASSERT(uvgo_task_self() == NULL);
    ASSERT(uvgo_loop() == NULL);
    ASSERT_EQ(uvgo_task_id(NULL), 0);
    ASSERT_STR_EQ(uvgo_task_name(NULL), "");
    ASSERT_EQ(uvgo_worker_count(), 0);
    ASSERT_EQ(uvgo_task_count(), 0);
    ASSERT_ERR(uvgo_main(NULL, NULL, NULL), UVGO_EINVAL);
}

static void *nested_main(void *arg)
{
    (void)arg;
    ASSERT_ERR(uvgo_main(nested_main, NULL, NULL), UVGO_EBUSY);
    ASSERT_ERR(uvgo_procs(4), UVGO_EBUSY);
    ASSERT_EQ(uvgo_worker_count(), 3);
    return (void *)5;
}

static void uvgo_main_honours_procs_and_runs_again(void)
{
    void *r = NULL;
    ASSERT_EQ(uvgo_procs(3) > 0, 1);
    ASSERT_EQ(uvgo_procs(0), 3);
    ASSERT_OK(uvgo_main(nested_main, NULL, &r));
    ASSERT_EQ((intptr_t)r, 5);
    /* A second runtime in the same process starts from scratch. */
    r = NULL;
    ASSERT_OK(uvgo_main(nested_main, NULL, &r));
    ASSERT_EQ((intptr_t)r, 5);
    ASSERT_EQ(uvgo_worker_count(), 0);
}

static void *count_workers(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)uvgo_worker_count();
}

static void uvgo_procs_environment_variable_sets_workers(void)
{
    void *r = NULL;
    setenv("UVGO_PROCS", "3", 1);
    ASSERT_EQ(uvgo_procs(0), 3);
    ASSERT_OK(uvgo_main(count_workers, NULL, &r));
    ASSERT_EQ((intptr_t)r, 3);
    setenv("UVGO_PROCS", "bogus", 1);
    ASSERT_EQ(uvgo_procs(0) >= 1, 1);
}

static void strerror_names_every_code(void)
{
    ASSERT_STR_EQ(uvgo_err_name(UVGO_ECLOSED), "ECLOSED");
    ASSERT_STR_EQ(uvgo_strerror(UVGO_ECLOSED),
                  "use of closed channel or connection");
    ASSERT_STR_EQ(uvgo_err_name(UVGO_ENOTTASK), "ENOTTASK");
    ASSERT_STR_EQ(uvgo_err_name(UVGO_EINVAL), "EINVAL");
    ASSERT_EQ(UVGO_EINVAL, UV_EINVAL);
    ASSERT_EQ(UVGO_ECANCELED, UV_ECANCELED);
    ASSERT_EQ(UVGO_ETIMEDOUT, UV_ETIMEDOUT);
    /* libuv codes pass through. */
    ASSERT_STR_EQ(uvgo_err_name(UV_ECONNRESET), "ECONNRESET");
    ASSERT_STR_EQ(uvgo_strerror(UV_ECONNRESET), uv_strerror(UV_ECONNRESET));
    ASSERT_STR_EQ(uvgo_err_name(-123456), "UNKNOWN");
    ASSERT_STR_EQ(uvgo_strerror(-123456), "unknown error");
    ASSERT_STR_EQ(uvgo_strerror(0), "success");
}

/* ---- embedding
 * ----------------------------------------------------------------- */

static int embedded_sum;

static void *embedded_child(void *arg)
{
    intptr_t v = (intptr_t)arg;
    uvgo_sleep(v * UVGO_MILLISECOND);
    return (void *)v;
}

static void *embedded_parent(void *arg)
{
    uvgo_event_t *from_host = arg;
    uvgo_task_t *t[5];
    for (intptr_t i = 0; i < 5; i++)
        ASSERT_OK(
            uvgo_task_spawn(&t[i], embedded_child, (void *)(i + 1), NULL));
    for (int i = 0; i < 5; i++) {
        void *r;
        ASSERT_OK(uvgo_task_join(t[i], &r));
        embedded_sum += (int)(intptr_t)r;
    }
    ASSERT_OK(uvgo_event_wait(from_host, "host timer"));
    embedded_sum += 100;
    return NULL;
}

static void on_host_timer(uv_timer_t *h)
{
    uvgo_event_set(h->data);
}

static void tasks_run_on_a_host_loop_in_single_loop_mode(void)
{
    uv_loop_t loop;
    uv_timer_t timer;
    uvgo_event_t ev = UVGO_EVENT_INIT;

    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_ERR(uvgo_loop_attach(NULL), UVGO_EINVAL);
    ASSERT_OK(uvgo_loop_attach(&loop));
    ASSERT_ERR(uvgo_loop_attach(&loop), UVGO_EBUSY);
    ASSERT_ERR(uvgo_main(count_workers, NULL, NULL), UVGO_EBUSY);
    ASSERT_EQ(uvgo_worker_count(), 1);
    ASSERT_PTR_EQ(uvgo_loop(), &loop);
    /* Host code, outside any task, spawns. */
    ASSERT_OK(uvgo_go(embedded_parent, &ev));
    ASSERT_ERR(uvgo_loop_detach(&loop), UVGO_EBUSY);
    uv_timer_init(&loop, &timer);
    timer.data = &ev;
    uv_timer_start(&timer, on_host_timer, 20, 0);
    /* The host runs its loop as it always does; it ends when the tasks and
     * the host's own timer are done. */
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_EQ(embedded_sum, 115);
    ASSERT_EQ(uvgo_task_count(), 0);
    uv_loop_t other;
    ASSERT_ERR(uvgo_loop_detach(&other), UVGO_EINVAL);
    ASSERT_OK(uvgo_loop_detach(&loop));
    uv_close((uv_handle_t *)&timer, NULL);
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_OK(uv_loop_close(&loop));
    /* After detaching, the process can start a full runtime. */
    void *r = NULL;
    uvgo_procs(2);
    ASSERT_OK(uvgo_main(count_workers, NULL, &r));
    ASSERT_EQ((intptr_t)r, 2);
}

/* ---- stacks: overflow, many tasks, dumps -------------------------------- */

static __attribute__((noinline)) void touch_deep(size_t n)
{
    volatile char buf[4096];
    memset((char *)buf, 1, sizeof buf);
    if (n > 1)
        touch_deep(n - 1);
    buf[0] = buf[100];
}

static void *recurse_forever(void *arg);

static void stack_overflow_hits_guard_and_names_task(void)
{
    uvgo_task_opts_t o = {.name = "deep-recursion", .stack_size = 16384};
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, recurse_forever, NULL, &o));
    uvgo_task_join(t, NULL);
}

/* ---- canary stacks ---------------------------------------------------------
 *
 * These run with UVGO_GUARD_PAGES=never, set before uvgo_main reads it.
 * They place their tasks on known slots: the first 16 KiB stack of the
 * process fills the worker's cache with the first slots of a fresh slab
 * (slot 0 has a guard page under it) and the cache hands them out last
 * first, so tasks that first run one after the other get adjacent slots,
 * each right below the previous one, its top the bottom of the reserved
 * page of the stack above.  Writing at a chosen address under the stack is
 * deterministic where real recursion is not (frame sizes differ between
 * builds). */

#define SMALL_STACK 16384

/* The bottom of the calling task's stack: its top is the page boundary
 * above the task's first frame. */
static char *stack_lo(void)
{
    volatile char here = 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t top = ((uintptr_t)&here + page - 1) & ~(uintptr_t)(page - 1);
    return (char *)(top - SMALL_STACK);
}

static void *block_on(void *arg)
{
    int v;
    uvgo_chan_recv(arg, &v, sizeof v, NULL);
    return NULL;
}

/* Spawns a task that takes the first slot handed out and blocks on `never`
 * for good, so that the tasks of a test have a stack above theirs. */
static uvgo_chan_t *hold_first_slot(void)
{
    uvgo_task_opts_t small = {.name = "first", .stack_size = SMALL_STACK};
    uvgo_chan_t *never;
    ASSERT_OK(uvgo_chan_make(&never, sizeof(int), 0));
    ASSERT_OK(uvgo_task_spawn(NULL, block_on, never, &small));
    return never;
}

struct canary_case {
    uvgo_task_fn fn;
    const char *name;
};

/* Runs cc->fn(never) in a task named cc->name, below the first, and joins
 * it. */
static void *canary_main(void *arg)
{
    struct canary_case *cc = arg;
    uvgo_task_opts_t small = {.name = cc->name, .stack_size = SMALL_STACK};
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, cc->fn, hold_first_slot(), &small));
    uvgo_task_join(t, NULL);
    return NULL; /* not reached: the case aborts */
}

/* uvgo_main(main_fn, arg) on canary stacks, one worker. */
static void run_canary_main(uvgo_task_fn main_fn, void *arg)
{
    setenv("UVGO_GUARD_PAGES", "never", 1);
    uvgo_procs(1);
    uvgo_main(main_fn, arg, NULL);
}

static void run_on_canary_stack(uvgo_task_fn fn, const char *name)
{
    struct canary_case cc = {fn, name};
    run_canary_main(canary_main, &cc);
}

/* Writes one byte `below` bytes under the stack, then switches out. */
static void write_under_and_park(size_t below)
{
    volatile char *p = (volatile char *)(stack_lo() - below);
    *p = 'x';
    uvgo_sleep(UVGO_MILLISECOND); /* switching out checks the canary */
}

static void *overflow_a_little(void *arg)
{
    (void)arg;
    write_under_and_park(8);
    return NULL;
}

static void canary_catches_a_write_right_under_the_stack(void)
{
    run_on_canary_stack(overflow_a_little, "canary-victim");
}

/* A frame that jumps over the 256 bytes right under the stack (a local
 * array written at its low end only) still meets the words checked every
 * 512 bytes down the page under it. */
static void *overflow_with_a_big_frame(void *arg)
{
    (void)arg;
    write_under_and_park(2048);
    return NULL;
}

static void canary_catches_a_frame_that_jumps_the_first_bytes(void)
{
    run_on_canary_stack(overflow_with_a_big_frame, "big-frame");
}

/* Parks with its stack pointer 2 KiB under its stack, nothing written in
 * the canary words: the stack pointer check finds it. */
static void *park_below_the_stack(void *arg)
{
    volatile char here = 0;
    size_t n = (size_t)((char *)&here - stack_lo()) + 2048;
    volatile char *deep = __builtin_alloca(n);
    (void)arg;
    deep[n - 1] = here; /* the top end: inside the stack */
    uvgo_sleep(UVGO_MILLISECOND);
    return NULL;
}

static void stack_pointer_under_the_stack_at_a_switch_is_caught(void)
{
    run_on_canary_stack(park_below_the_stack, "deep-parker");
}

static void *recurse_forever(void *arg)
{
    (void)arg;
    touch_deep(1000);
    return NULL;
}

/* Runaway recursion runs through the free slots below until the guard
 * under slot 0; the report names the task whose stack pointer left its
 * stack, not the owner of the memory it ran into. */
static void runaway_recursion_on_a_canary_stack_names_its_task(void)
{
    run_on_canary_stack(recurse_forever, "runaway");
}

/* The culprit overwrites the task pointer at the top of the stack right
 * below its own (the victim's: it first ran next), jumping its own reserved
 * page; the owner of that stack finds it at its next switch and names the
 * culprit. */
static uvgo_chan_t *top_go, *top_wake;

static void *victim_below(void *arg)
{
    int v;
    (void)arg;
    uvgo_chan_recv(top_wake, &v, sizeof v, NULL); /* parks with a clean top */
    return NULL;                                  /* exits: the check runs */
}

static void *culprit_above(void *arg)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    volatile char *p = (volatile char *)(stack_lo() - page - 16);
    int v = 1;
    uvgo_chan_recv(top_go, &v, sizeof v, NULL); /* the victim has run */
    p[0] = 'x';
    uvgo_chan_send(top_wake, &v, sizeof v);
    block_on(arg); /* stays alive, so it can be named */
    return NULL;
}

static void *top_main(void *arg)
{
    uvgo_task_opts_t small = {.name = "culprit", .stack_size = SMALL_STACK};
    uvgo_chan_t *never = hold_first_slot();
    uvgo_task_t *v;
    int go = 1;
    (void)arg;
    ASSERT_OK(uvgo_chan_make(&top_wake, sizeof(int), 0));
    ASSERT_OK(uvgo_chan_make(&top_go, sizeof(int), 0));
    ASSERT_OK(uvgo_task_spawn(NULL, culprit_above, never, &small));
    small.name = "victim";
    ASSERT_OK(uvgo_task_spawn(&v, victim_below, NULL, &small));
    test_wait_blocked("chan receive", 3);
    ASSERT_OK(uvgo_chan_send(top_go, &go, sizeof go));
    uvgo_task_join(v, NULL);
    return NULL;
}

static void overflow_into_the_stack_below_is_found_by_its_owner(void)
{
    run_canary_main(top_main, NULL);
}

static uvgo_event_t *gates;
static atomic_long gate_sum, gate_waiting;

static void *wait_at_gate(void *arg)
{
    long i = (long)(intptr_t)arg;
    atomic_fetch_add(&gate_waiting, 1);
    uvgo_event_wait(&gates[i], "gate");
    atomic_fetch_add(&gate_sum, i);
    return NULL;
}

static void hundred_thousand_tasks_block_and_all_wake(void)
{
    long n = test_scale(100000, 5000); /* TSan: at most 8128 fibers */
    gates = calloc((size_t)n, sizeof *gates);
    for (long i = 0; i < n; i++)
        ASSERT_OK(uvgo_go(wait_at_gate, (void *)(intptr_t)i));
    while (atomic_load(&gate_waiting) < n)
        uvgo_sleep(UVGO_MILLISECOND);
    ASSERT_EQ(uvgo_task_count(), n + 1);
    for (long i = 0; i < n; i++)
        uvgo_event_set(&gates[i]);
    while (uvgo_task_count() > 1)
        uvgo_sleep(UVGO_MILLISECOND);
    ASSERT_EQ(atomic_load(&gate_sum), n * (n - 1) / 2);
    free(gates);
}

/* A "Field:  N kB" line of /proc/self/status, or -1. */
static long proc_status_kb(const char *field)
{
    char line[256];
    size_t n = strlen(field);
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static long rss_kb(void)
{
    return proc_status_kb("VmRSS");
}

static void *touch_and_wait(void *arg)
{
    volatile char deep[16384]; /* four more pages of stack */
    memset((char *)deep, 1, sizeof deep);
    atomic_fetch_add(&gate_waiting, 1);
    uvgo_event_wait(&gates[(intptr_t)arg], "gate");
    return (void *)(intptr_t)deep[100];
}

static void stack_memory_goes_back_after_a_burst(void)
{
#ifdef TEST_SANITIZED
    /* Sanitizers keep shadow memory for every stack page ever touched, so
     * RSS cannot fall back; the plain builds check this. */
    return;
#endif
    long n = 20000;
    long before = rss_kb();
    gates = calloc((size_t)n, sizeof *gates);
    for (long i = 0; i < n; i++)
        ASSERT_OK(uvgo_go(touch_and_wait, (void *)(intptr_t)i));
    while (atomic_load(&gate_waiting) < n)
        uvgo_sleep(UVGO_MILLISECOND);
    long peak = rss_kb();
    ASSERT_GT(peak - before, n * 16); /* ~20 KiB each, resident */
    for (long i = 0; i < n; i++)
        uvgo_event_set(&gates[i]);
    while (uvgo_task_count() > 1)
        uvgo_sleep(UVGO_MILLISECOND);
    /* Release passes run every UVGO_STACK_RELEASE_MS and free what sat
     * unused through a whole pass: within a second, most must be back. */
    long now = peak;
    for (int i = 0; i < 100 && now - before > (peak - before) / 4; i++) {
        uvgo_sleep(10 * UVGO_MILLISECOND);
        now = rss_kb();
    }
    fprintf(stderr, "rss before %ld, peak %ld, after %ld KiB\n", before, peak,
            now);
    ASSERT_LT(now - before, (peak - before) / 4);
    free(gates);
}

struct seen {
    int named, waiting_on_gate;
};

static int look(const uvgo_task_info_t *info, void *arg)
{
    struct seen *s = arg;
    if (!strcmp(info->name, "dump-me")) {
        s->named++;
        if (!strcmp(info->state, "waiting") && !strcmp(info->wait, "gate"))
            s->waiting_on_gate++;
    }
    return 0;
}

static void dump_lists_blocked_tasks_with_what_they_wait_on(void)
{
    uvgo_task_opts_t o = {.name = "dump-me"};
    gates = calloc(3, sizeof *gates);
    for (intptr_t i = 0; i < 3; i++)
        ASSERT_OK(uvgo_task_spawn(NULL, wait_at_gate, (void *)i, &o));
    while (atomic_load(&gate_waiting) < 3)
        uvgo_sleep(UVGO_MILLISECOND);
    uvgo_sleep(UVGO_MILLISECOND);
    struct seen s = {0, 0};
    ASSERT_EQ(uvgo_task_walk(look, &s), 4);
    ASSERT_EQ(s.named, 3);
    ASSERT_EQ(s.waiting_on_gate, 3);
    uvgo_dump(stderr);
    for (int i = 0; i < 3; i++)
        uvgo_event_set(&gates[i]);
    while (uvgo_task_count() > 1)
        uvgo_sleep(UVGO_MILLISECOND);
    free(gates);
}

static void *wait_forever(void *arg)
{
    uvgo_event_t *never = arg;
    uvgo_event_wait(never, "nothing at all");
    return NULL;
}

static void all_tasks_blocked_is_reported_as_deadlock(void)
{
    uvgo_task_opts_t o = {.name = "stuck-helper"};
    uvgo_event_t never1 = UVGO_EVENT_INIT, never2 = UVGO_EVENT_INIT;
    ASSERT_OK(uvgo_task_spawn(NULL, wait_forever, &never1, &o));
    uvgo_event_wait(&never2, "the end of the world");
}

static void *leave_a_task_behind(void *arg)
{
    static uvgo_event_t never = UVGO_EVENT_INIT;
    uvgo_task_opts_t o = {.name = "left-behind"};
    (void)arg;
    uvgo_task_spawn(NULL, wait_forever, &never, &o);
    uvgo_sleep(UVGO_MILLISECOND);
    return NULL;
}

/* Where run_main_capturing_stderr sends stderr while main runs. */
static int captured_fd = -1;

/* Runs uvgo_main(fn) with stderr going to buf (NUL-terminated). */
static void run_main_capturing_stderr(uvgo_task_fn fn, char *buf, size_t size)
{
    char path[] = "/tmp/uvgo-test-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    ssize_t n;
    captured_fd = fd;
    dup2(fd, 2);
    ASSERT_OK(uvgo_main(fn, NULL, NULL));
    fflush(stderr);
    dup2(saved, 2);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, size - 1);
    ASSERT(n > 0);
    buf[n] = '\0';
    close(fd);
    unlink(path);
}

static void tasks_alive_when_main_returns_are_reported(void)
{
    char buf[4096];
    run_main_capturing_stderr(leave_a_task_behind, buf, sizeof buf);
    ASSERT(strstr(buf, "1 task still alive when main returned"));
    ASSERT(strstr(buf, "\"left-behind\": waiting on nothing at all"));
}

/* Spins with no switch until the monitor's report is in the captured
 * stderr (the monitor thread may get little CPU on a loaded machine), or
 * for 20 s at most. */
static void *spin_until_reported(void *arg)
{
    int64_t until = uvgo_now() + 20 * UVGO_SECOND;
    char buf[4096];
    (void)arg;
    while (uvgo_now() < until) {
        ssize_t n = pread(captured_fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, "without a switch"))
                break;
        }
    }
    return NULL;
}

static void *short_lived(void *arg)
{
    return arg;
}

/* The hog reuses a record (and a stack) of its worker's, as tasks in a
 * running program do. */
static void *run_a_hog(void *arg)
{
    uvgo_task_opts_t o = {.name = "cpu-hog"};
    uvgo_task_t *t;
    (void)arg;
    for (int i = 0; i < 8; i++) {
        ASSERT_OK(uvgo_task_spawn(&t, short_lived, NULL, NULL));
        ASSERT_OK(uvgo_task_join(t, NULL));
    }
    uvgo_task_spawn(&t, spin_until_reported, NULL, &o);
    uvgo_task_join(t, NULL);
    return NULL;
}

/* The monitor reads the running task's record with no lock; under TSan a
 * plain read there races with the spawn that wrote the name (and with the
 * record's reuse), and the report lands in buf. */
static void long_running_task_is_reported_by_name(void)
{
    char buf[8192];
    setenv("UVGO_LONG_RUN_MS", "50", 1);
    run_main_capturing_stderr(run_a_hog, buf, sizeof buf);
    ASSERT(strstr(buf, "\"cpu-hog\" has run for"));
    ASSERT(strstr(buf, "without a switch"));
    if (strstr(buf, "ThreadSanitizer"))
        TEST_FAIL_("%s", buf);
}

/* ---- running out of memory and address space ---------------------------- */

#include <sys/resource.h>

/* Caps this case's process (a child of the runner) at its present address
 * space plus `extra` bytes. */
static void limit_address_space(size_t extra)
{
    struct rlimit rl;
    long kb = proc_status_kb("VmSize");
#ifdef TEST_SANITIZED
    TEST_SKIP("sanitizers reserve terabytes of shadow address space: "
              "RLIMIT_AS cannot be set under them");
#endif
    if (kb < 0)
        TEST_SKIP("no /proc/self/status to measure the address space");
    rl.rlim_cur = rl.rlim_max = (rlim_t)kb * 1024 + extra;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        TEST_SKIP("setrlimit(RLIMIT_AS) refused");
}

static atomic_int oom_ran;

static void *wait_oom_gate(void *arg)
{
    int v;
    atomic_fetch_add(&oom_ran, 1);
    uvgo_chan_recv(arg, &v, sizeof v, NULL); /* until closed */
    return NULL;
}

static void *spawn_until_enomem(void *arg)
{
    enum { MAX = 100000 };
    static uvgo_task_t *t[MAX];
    uvgo_task_t *again;
    uvgo_chan_t *gate;
    int n, err = 0;
    (void)arg;
    ASSERT_OK(uvgo_chan_make(&gate, sizeof(int), 0));
    /* 64 KiB stacks in 64 MiB slabs: a few thousand fit in 256 MiB. */
    for (n = 0; n < MAX; n++) {
        err = uvgo_task_spawn(&t[n], wait_oom_gate, gate, NULL);
        if (err)
            break;
    }
    ASSERT_ERR(err, UVGO_ENOMEM);
    ASSERT_GT(n, 100);
    fprintf(stderr, "spawn failed after %d tasks\n", n);
    /* Every task that was spawned runs; none was lost. */
    while (atomic_load(&oom_ran) < n)
        uvgo_sleep(UVGO_MILLISECOND);
    ASSERT_OK(uvgo_chan_close(gate));
    for (int i = 0; i < n; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    uvgo_chan_release(gate);
    ASSERT_EQ(atomic_load(&oom_ran), n);
    /* Their stacks are back: spawning works again. */
    ASSERT_OK(uvgo_task_spawn(&again, set_flag, (void *)5, NULL));
    ASSERT_EQ(test_join(again), 5);
    return NULL;
}

/* Issue 8, item 3: spawn succeeded and the process aborted later, when the
 * task first ran and no stack could be had. */
static void spawn_fails_with_enomem_when_no_stack_can_be_had(void)
{
    limit_address_space((size_t)256 << 20);
    uvgo_procs(1);
    ASSERT_OK(uvgo_main(spawn_until_enomem, NULL, NULL));
}

static atomic_int many_ran;

static void *note_many_ran(void *arg)
{
    (void)arg;
    atomic_store(&many_ran, 1);
    return NULL;
}

/* Issue 8, item 4: a worker thread that could not be created aborted. */
static void uvgo_main_returns_error_when_a_worker_thread_cannot_start(void)
{
    struct rlimit files;
    int err;

    /* 1024 loops need ~3 descriptors each: let the thread limit, not the
     * descriptor limit, be what runs out. */
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_max > 4096) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur < 4096)
        TEST_SKIP("fewer than 4096 file descriptors for 1024 loops");
    /* 1024 threads with 8 MiB stacks do not fit in 2 GiB. */
    limit_address_space((size_t)2 << 30);
    uvgo_procs(1024);
    err = uvgo_main(note_many_ran, NULL, NULL);
    fprintf(stderr, "uvgo_main: %s\n", uvgo_strerror(err));
    ASSERT(err < 0);
    ASSERT_EQ(atomic_load(&many_ran), 0);
    /* Nothing was left behind: a smaller runtime starts. */
    uvgo_procs(2);
    ASSERT_OK(uvgo_main(note_many_ran, NULL, NULL));
    ASSERT_EQ(atomic_load(&many_ran), 1);
}

static const test_case_t cases[] = {
    CASE_PROCS(spawn_queues_task_and_spawner_keeps_running, 1),
    CASE(join_returns_each_result),
    CASE(join_after_task_finished_returns_result),
    CASE(spawn_and_join_reject_bad_arguments),
    CASE(detached_task_is_freed_when_it_returns),
    CASE_PROCS(joining_a_handle_twice_or_after_detach_returns_einval, 1),
    CASE(task_self_is_the_spawn_handle),
    CASE_PROCS(yield_lets_queued_tasks_run_in_turn, 1),
    CASE_PROCS(yielding_tasks_do_not_starve_the_loop, 1),
    CASE(sleep_waits_at_least_the_duration),
    CASE(sleepers_wake_in_deadline_order),
    CASE(tasks_have_unique_ids_and_names),
    CASE(task_local_values_are_per_task_and_destroyed_at_exit),
    CASE(task_keys_run_out_with_eagain),
    CASE(idle_worker_steals_queued_tasks),
    CASE(pinned_task_stays_on_its_worker),
    CASE(cross_thread_wakeups_deliver_and_order_memory),
    CASE_PROCS(many_yielding_tasks_across_workers_lose_nothing, 4),
    CASE(spawn_from_a_foreign_thread_runs_tasks),
    CASE(stolen_task_moves_back_to_its_handles_loop),
    CASE(event_set_before_wait_returns_at_once_and_second_waiter_fails),
    CASE(offload_runs_blocking_call_while_worker_serves_others),
    CASE_PLAIN(task_calls_outside_a_task_return_enottask),
    CASE_PLAIN(uvgo_main_honours_procs_and_runs_again),
    CASE_PLAIN(uvgo_procs_environment_variable_sets_workers),
    CASE_PLAIN(strerror_names_every_code),
    CASE_PLAIN(tasks_run_on_a_host_loop_in_single_loop_mode),
    CASE_ABORTS(stack_overflow_hits_guard_and_names_task,
                "stack overflow|deep-recursion"),
    CASE_PLAIN_ABORTS(canary_catches_a_write_right_under_the_stack,
                      "stack overflow in task|canary-victim|canary"),
    CASE_PLAIN_ABORTS(canary_catches_a_frame_that_jumps_the_first_bytes,
                      "stack overflow in task|big-frame|canary"),
    CASE_PLAIN_ABORTS(stack_pointer_under_the_stack_at_a_switch_is_caught,
                      "stack overflow in task|deep-parker|stack pointer"),
    CASE_PLAIN_ABORTS(runaway_recursion_on_a_canary_stack_names_its_task,
                      "stack overflow in task|runaway|stack pointer left"),
    CASE_PLAIN_ABORTS(overflow_into_the_stack_below_is_found_by_its_owner,
                      "stack overflow in task|culprit|found by task|victim"),
    CASE(hundred_thousand_tasks_block_and_all_wake),
    CASE(stack_memory_goes_back_after_a_burst),
    CASE(dump_lists_blocked_tasks_with_what_they_wait_on),
    CASE_ABORTS(all_tasks_blocked_is_reported_as_deadlock,
                "all tasks are asleep - deadlock!|stuck-helper|"
                "the end of the world"),
    CASE_PLAIN(tasks_alive_when_main_returns_are_reported),
    CASE_PLAIN(long_running_task_is_reported_by_name),
    CASE_PLAIN(spawn_fails_with_enomem_when_no_stack_can_be_had),
    CASE_PLAIN(uvgo_main_returns_error_when_a_worker_thread_cannot_start),
};

TEST_MAIN(cases)
