/* demo.c: the main uvgo demo, a fan-out with a deadline.
 *
 * The main task starts one task per job.  Each job waits on a timer (it
 * stands in for network I/O); one also runs a blocking C call on libuv's
 * thread pool.  Results come back over a channel, and main collects them
 * with a select on that channel and a context whose deadline (150 ms)
 * cancels the jobs that are too slow: they return at once with
 * UVGO_ETIMEDOUT.  All of it is straight-line code on one libuv loop per
 * core.
 *
 *   run:    sh .ci/demo          (or ./build/samples/demo)
 *   prints: each result as it arrives, the jobs cut off by the deadline,
 *           and the total time (the deadline's, not the sum of the waits).
 */
#include <stdio.h>
#include <unistd.h>
#include <uvgo.h>

#define JOBS 8
#define MS UVGO_MILLISECOND

struct result {
    int id, worker, err;
    long value;
};

struct job {
    int id, ms;
    uvgo_ctx_t *ctx;       /* the deadline */
    uvgo_chan_t *results;  /* of struct result */
};

static void crunch(void *arg)
{
    /* A blocking call: fine on the thread pool, never on a loop thread. */
    long *v = arg;
    usleep(30 * 1000);
    *v = 42;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct result r = {.id = j->id};

    /* The task parks; its loop runs other tasks meanwhile.  The wait ends
     * early, with the context's error, if the deadline passes first. */
    r.err = uvgo_sleep_ctx(j->ms * MS, j->ctx);
    if (!r.err && j->id == 3)
        uvgo_offload(crunch, &r.value);
    else if (!r.err)
        r.value = (long)j->id * j->ms;
    r.worker = uvgo_worker_id();
    uvgo_chan_send(j->results, &r, sizeof r);
    return NULL;
}

static void *main_task(void *arg)
{
    struct job jobs[JOBS];
    uvgo_chan_t *results;
    uvgo_ctx_t *ctx;
    int64_t t0 = uvgo_now();
    int waits = 0, late = 0;
    long sum = 0;

    (void)arg;
    printf("uvgo demo: %d workers, %d jobs, deadline 150 ms\n",
           uvgo_worker_count(), JOBS);
    uvgo_chan_make(&results, sizeof(struct result), 0);
    uvgo_ctx_with_timeout(&ctx, NULL, 150 * MS);
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (struct job){i, 20 + (i * 37) % 200, ctx, results};
        waits += jobs[i].ms;
        uvgo_go(run_job, &jobs[i]); /* queued; main goes on */
    }
    for (int n = 0; n < JOBS; n++) {
        struct result r;
        uvgo_chan_recv(results, &r, sizeof r, NULL);
        if (r.err) {
            printf("job %d: cut off after %3lld ms: %s\n", r.id,
                   (long long)((uvgo_now() - t0) / MS), uvgo_strerror(r.err));
            late++;
            continue;
        }
        printf("job %d: %5ld from worker %d at %3lld ms\n", r.id, r.value,
               r.worker, (long long)((uvgo_now() - t0) / MS));
        sum += r.value;
    }
    printf("%d jobs done, %d cut off, in %lld ms (their waits add up to "
           "%d ms); checksum %ld\n",
           JOBS - late, late, (long long)((uvgo_now() - t0) / MS), waits, sum);
    uvgo_ctx_cancel_release(ctx);
    uvgo_chan_release(results);
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
