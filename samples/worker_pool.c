/* worker_pool.c: a bounded pool of workers fed from a channel, and an
 * errgroup that fails fast.
 *
 * Part 1: a producer sends 20 jobs into a channel; an errgroup limited to
 * 4 tasks runs the workers, which take jobs until the channel is closed and
 * send each outcome (a value, or the job's own error) into a results
 * channel that main drains.  A failed job is an ordinary result here.
 *
 * Part 2: the same jobs, one errgroup task each, at most 3 at a time, on
 * the group's context: the first failure cancels the context, the jobs
 * still waiting see it and stop, and wait returns that first error.
 *
 *   run:    ./build/samples/worker_pool
 *   prints: each failed job, the totals of part 1 (18 ok, 2 failed), then
 *           part 2's first error and how many jobs it let run.
 */
#include <stdio.h>
#include <uvgo.h>

#define JOBS 20
#define WORKERS 4
#define EJOB UV_EIO /* this sample's "job failed": a libuv code */

struct result {
    int job;
    long value;
    int err;
};

static uvgo_chan_t *jobs, *results;

/* The work: "I/O" of a few ms, then a value; every 7th job fails. */
static int do_job(int job, long *value, uvgo_ctx_t *ctx)
{
    int err = uvgo_sleep_ctx((job % 5 + 1) * UVGO_MILLISECOND, ctx);
    if (err)
        return err;
    if (job % 7 == 0)
        return EJOB;
    *value = (long)job * job;
    return 0;
}

static void *producer(void *arg)
{
    (void)arg;
    for (int job = 1; job <= JOBS; job++)
        uvgo_chan_send(jobs, &job, sizeof job);
    uvgo_chan_close(jobs); /* the workers' range loops end */
    return NULL;
}

static int worker(void *arg)
{
    int job;
    (void)arg;
    UVGO_CHAN_RANGE(jobs, &job)
    {
        struct result r = {job, 0, 0};
        r.err = do_job(job, &r.value, NULL);
        uvgo_chan_send(results, &r, sizeof r);
    }
    return 0;
}

static void pool(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    struct result r;
    long sum = 0;
    int ok = 0, failed = 0;

    uvgo_chan_make(&jobs, sizeof(int), 8);
    uvgo_chan_make(&results, sizeof(struct result), JOBS);
    uvgo_go(producer, NULL);
    uvgo_errgroup_set_limit(&g, WORKERS);
    for (int i = 0; i < WORKERS; i++)
        uvgo_errgroup_go(&g, worker, NULL);
    for (int i = 0; i < JOBS; i++) {
        uvgo_chan_recv(results, &r, sizeof r, NULL);
        if (r.err) {
            printf("pool: job %2d failed: %d\n", r.job, r.err);
            failed++;
        } else {
            sum += r.value;
            ok++;
        }
    }
    uvgo_errgroup_wait(&g);
    printf("pool: %d jobs on %d workers: %d ok (sum of squares %ld), "
           "%d failed\n",
           JOBS, WORKERS, ok, sum, failed);
    uvgo_chan_release(jobs);
    uvgo_chan_release(results);
}

/* Part 2: one task per job; the group's context stops the rest. */
static uvgo_ctx_t *group_ctx;
static int started;
static uvgo_mutex_t started_lock;

static int fail_fast_job(void *arg)
{
    long value;
    uvgo_mutex_lock(&started_lock);
    started++;
    uvgo_mutex_unlock(&started_lock);
    return do_job((int)(intptr_t)arg, &value, group_ctx);
}

static void fail_fast(void)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;

    uvgo_errgroup_with_ctx(&g, NULL, &group_ctx);
    uvgo_errgroup_set_limit(&g, 3);
    for (int job = 1; job <= JOBS; job++) {
        /* Parks while 3 run; gives up once a failure cancelled them. */
        if (uvgo_errgroup_go_ctx(&g, fail_fast_job, (void *)(intptr_t)job,
                                 group_ctx) < 0)
            break;
    }
    int err = uvgo_errgroup_wait(&g);
    printf("fail-fast: first error %d (%s) after %d of %d jobs started; "
           "context: %s\n",
           err, err == EJOB ? "job 7 failed" : "?", started, JOBS,
           uvgo_err_name(uvgo_ctx_err(group_ctx)));
    uvgo_ctx_release(group_ctx);
}

static void *main_task(void *arg)
{
    (void)arg;
    pool();
    fail_fast();
    return NULL;
}

int main(void)
{
    int err = uvgo_main(main_task, NULL, NULL);
    if (err < 0) {
        fprintf(stderr, "uvgo_main: %s\n", uvgo_strerror(err));
        return 1;
    }
    return 0;
}
