/* test-metrics.c: runtime metrics move as a known workload says they must
 * (uvgo/metrics.h). */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

static uvgo_metrics_t snap(void)
{
    uvgo_metrics_t m;
    ASSERT(uvgo_metrics_read(&m, NULL, 0) >= 1);
    return m;
}

static void *park_once(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v;
    ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, NULL));
    return NULL;
}

static void spawns_parks_and_runs_are_counted(void)
{
    enum { N = 100 };
    uvgo_chan_t *ch;
    uvgo_task_t *t[N];
    uvgo_metrics_t a = snap(), b;
    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 0));
    for (int i = 0; i < N; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], park_once, ch, NULL));
    for (int i = 0; i < N; i++)
        ASSERT_OK(uvgo_chan_send(ch, &i, sizeof i));
    for (int i = 0; i < N; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    /* A joined task's record goes a moment after join returns (once its
     * last switch-out is done). */
    b = snap();
    for (int i = 0; i < 1000 && b.tasks_alive > 1; i++) {
        uvgo_sleep(UVGO_MILLISECOND);
        b = snap();
    }
    ASSERT_GE(b.total.spawned - a.total.spawned, N);
    /* Each task parked at least once (no sender was ready when it first
     * ran) or found a sender parked: N parks between them. */
    ASSERT_GE(b.total.parks - a.total.parks, N);
    ASSERT_GE(b.total.tasks_run - a.total.tasks_run, N);
    ASSERT_EQ(b.tasks_alive, 1);
    uvgo_chan_release(ch);
}

static atomic_int stop_yielding;

static void *yield_until_told(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_yielding))
        uvgo_task_yield();
    return NULL;
}

static void yields_are_counted(void)
{
    uvgo_task_opts_t here = {.worker = 1 + uvgo_worker_id(),
                             .flags = UVGO_TASK_PINNED};
    uvgo_task_t *t;
    uvgo_metrics_t a = snap(), b;
    ASSERT_OK(uvgo_task_spawn(&t, yield_until_told, NULL, &here));
    for (int i = 0; i < 50; i++)
        ASSERT_OK(uvgo_task_yield()); /* the other task is runnable */
    atomic_store(&stop_yielding, 1);
    ASSERT_OK(uvgo_task_join(t, NULL));
    b = snap();
    ASSERT_GE(b.total.yields - a.total.yields, 50);
}

static uint64_t steals_before;

/* Runs without a switch until a steal is counted: the queue behind it is
 * worth stealing for as long as the other worker's thread takes to get a
 * CPU (a fixed 1 ms burn ended before it did, on a loaded machine).  The
 * bound only guards against a steal that never comes. */
static void *burn_until_a_steal(void *arg)
{
    int64_t until = uvgo_now() + 30 * UVGO_SECOND;
    uvgo_metrics_t m;
    (void)arg;
    do {
        ASSERT_OK(uvgo_metrics_read(&m, NULL, 0));
    } while (m.total.steals == steals_before && uvgo_now() < until);
    return NULL;
}

static void an_idle_worker_steals_and_it_is_counted(void)
{
    enum { N = 64 };
    uvgo_task_t *t[N];
    uvgo_worker_metrics_t w[2];
    uvgo_metrics_t a = snap(), b;
    steals_before = a.total.steals;
    for (int i = 0; i < N; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], burn_until_a_steal, NULL, NULL));
    for (int i = 0; i < N; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    ASSERT_EQ(uvgo_metrics_read(&b, w, 2), 2);
    ASSERT_GE(b.total.steals - a.total.steals, 1);
    ASSERT_GE(b.total.tasks_stolen - a.total.tasks_stolen,
              b.total.steals - a.total.steals);
    ASSERT_EQ(w[0].steals + w[1].steals, b.total.steals);
}

static void *set_from_a_thread(void *arg)
{
    usleep(20000); /* the worker has parked in its poll by now */
    uvgo_event_set(arg);
    return NULL;
}

static void a_wakeup_from_a_thread_rings_the_doorbell_and_idles(void)
{
    uvgo_event_t ev = UVGO_EVENT_INIT;
    pthread_t th;
    uvgo_metrics_t a = snap(), b;
    ASSERT_OK(uvgo_ref());
    ASSERT_OK(pthread_create(&th, NULL, set_from_a_thread, &ev));
    ASSERT_OK(uvgo_event_wait(&ev, "a thread"));
    pthread_join(th, NULL);
    ASSERT_OK(uvgo_unref());
    b = snap();
    ASSERT_GE(b.total.doorbells - a.total.doorbells, 1);
    ASSERT_GE(b.total.inbox_tasks - a.total.inbox_tasks, 1);
    ASSERT_GE(b.total.polls - a.total.polls, 1);
    /* 20 ms with nothing to do: most of it idle. */
    ASSERT_GE(b.total.idle_ns - a.total.idle_ns, 5 * UVGO_MILLISECOND);
    ASSERT_GE(b.total.busy_ns, 0);
}

static void *pong(void *arg)
{
    uvgo_chan_t **ch = arg;
    int v;
    while (uvgo_chan_recv(ch[0], &v, sizeof v, NULL) == 0)
        ASSERT_OK(uvgo_chan_send(ch[1], &v, sizeof v));
    return NULL;
}

static void latency_is_sampled_into_the_histogram(void)
{
    uvgo_chan_t *ch[2];
    uvgo_task_t *t;
    int v = 0;
    uvgo_metrics_t a = snap(), b;
    ASSERT_OK(uvgo_chan_make(&ch[0], sizeof(int), 0));
    ASSERT_OK(uvgo_chan_make(&ch[1], sizeof(int), 0));
    ASSERT_OK(uvgo_task_spawn(&t, pong, ch, NULL));
    for (int i = 0; i < 2000; i++) {
        ASSERT_OK(uvgo_chan_send(ch[0], &i, sizeof i));
        ASSERT_OK(uvgo_chan_recv(ch[1], &v, sizeof v, NULL));
    }
    uvgo_chan_close(ch[0]);
    ASSERT_OK(uvgo_task_join(t, NULL));
    b = snap();
    uint64_t samples = 0;
    for (int i = 0; i < UVGO_METRICS_LATENCY_BUCKETS; i++)
        samples += b.total.latency[i] - a.total.latency[i];
    /* 4,000 wake-ups, one in UVGO_METRICS_SAMPLE_EVERY sampled. */
    ASSERT_GE(samples, 4000 / UVGO_METRICS_SAMPLE_EVERY / 2);
    ASSERT(b.latency_p50_ns > 0);
    ASSERT(b.latency_p50_ns <= b.latency_p99_ns);
    uvgo_chan_release(ch[0]);
    uvgo_chan_release(ch[1]);
}

static void timers_pending_are_a_gauge(void)
{
    uvgo_timer_t *t[3];
    uvgo_metrics_t a = snap(), b, c;
    for (int i = 0; i < 3; i++)
        ASSERT_OK(uvgo_timer_make(&t[i], UVGO_HOUR));
    b = snap();
    ASSERT_EQ(b.total.timers - a.total.timers, 3);
    for (int i = 0; i < 3; i++)
        uvgo_timer_free(t[i]);
    c = snap();
    ASSERT_EQ(c.total.timers, a.total.timers);
}

static void percentiles_come_from_bucket_bounds(void)
{
    uint64_t h[UVGO_METRICS_LATENCY_BUCKETS] = {0};
    ASSERT_EQ(uvgo_metrics_percentile(h, 50), 0);
    h[10] = 90; /* [1024, 2048) ns */
    h[20] = 10; /* [1 Mi, 2 Mi) ns */
    ASSERT_EQ(uvgo_metrics_percentile(h, 50), 2048);
    ASSERT_EQ(uvgo_metrics_percentile(h, 90), 2048);
    ASSERT_EQ(uvgo_metrics_percentile(h, 99), 2 << 20);
    ASSERT_EQ(uvgo_metrics_percentile(h, 100), 2 << 20);
    ASSERT_EQ(uvgo_metrics_percentile(h, 0), 0);
    ASSERT_EQ(uvgo_metrics_percentile(h, 101), 0);
    ASSERT_EQ(uvgo_metrics_percentile(NULL, 50), 0);
}

static void metrics_reject_bad_arguments(void)
{
    uvgo_metrics_t m;
    ASSERT_ERR(uvgo_metrics_read(&m, NULL, 0), UVGO_ENOTTASK);
}

static void metrics_read_checks_its_arguments(void)
{
    uvgo_metrics_t m;
    uvgo_worker_metrics_t w[1];
    ASSERT_ERR(uvgo_metrics_read(NULL, NULL, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_metrics_read(&m, w, -1), UVGO_EINVAL);
    ASSERT_EQ(uvgo_metrics_read(&m, w, 1), uvgo_worker_count());
    ASSERT_EQ(m.workers, uvgo_worker_count());
}

static const test_case_t cases[] = {
    CASE(spawns_parks_and_runs_are_counted),
    CASE(yields_are_counted),
    CASE_PROCS(an_idle_worker_steals_and_it_is_counted, 2),
    CASE_PROCS(a_wakeup_from_a_thread_rings_the_doorbell_and_idles, 1),
    CASE(latency_is_sampled_into_the_histogram),
    CASE(timers_pending_are_a_gauge),
    CASE_PLAIN(percentiles_come_from_bucket_bounds),
    CASE_PLAIN(metrics_reject_bad_arguments),
    CASE(metrics_read_checks_its_arguments),
};

TEST_MAIN(cases)
