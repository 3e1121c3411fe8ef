/* demo.c: the main uvgo demo.
 *
 * A "fan-out" in straight-line code: the main task starts one task per job,
 * each job waits on a timer (standing in for network I/O) and one also runs
 * a blocking C call on libuv's thread pool, and main collects the results in
 * order with join.  All of it runs on one libuv loop per core.
 *
 *   run:    sh .ci/demo          (or ./build/samples/demo)
 *   prints: one line per job as it finishes, then the total time, which is
 *           the longest job's, not the sum.
 */
#include <stdio.h>
#include <unistd.h>
#include <uvgo.h>

#define JOBS 8

struct job {
    int id;
    int ms;      /* how long this job's "I/O" takes */
    long result; /* filled in by the job */
};

static void crunch(void *arg)
{
    /* A blocking call: fine on the thread pool, never on a loop thread. */
    struct job *j = arg;
    usleep(30 * 1000);
    j->result = (long)j->id * 1000;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    int64_t t0 = uvgo_now();

    uvgo_sleep(j->ms * UVGO_MILLISECOND); /* the task parks; its loop runs on */
    if (j->id == 3)
        uvgo_offload(crunch, j);
    else
        j->result = (long)j->id * j->ms;
    printf("job %d done on worker %d after %3lld ms (task %s)\n", j->id,
           uvgo_worker_id(), (long long)((uvgo_now() - t0) / UVGO_MILLISECOND),
           uvgo_task_name(NULL));
    return j;
}

static void *main_task(void *arg)
{
    struct job jobs[JOBS];
    uvgo_task_t *tasks[JOBS];
    char name[UVGO_TASK_NAME_MAX];
    int64_t t0 = uvgo_now();
    long sum = 0;
    int total_ms = 0;

    (void)arg;
    printf("uvgo demo: %d workers, %d jobs\n", uvgo_worker_count(), JOBS);
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (struct job){.id = i, .ms = 20 + (i * 37) % 100};
        total_ms += jobs[i].ms;
        snprintf(name, sizeof name, "job-%d", i);
        uvgo_task_opts_t opts = {.name = name};
        if (uvgo_task_spawn(&tasks[i], run_job, &jobs[i], &opts) < 0)
            return (void *)1;
    }
    for (int i = 0; i < JOBS; i++) {
        void *r;
        uvgo_task_join(tasks[i], &r);
        sum += ((struct job *)r)->result;
    }
    printf("all %d jobs done in %lld ms (their waits add up to %d ms); "
           "checksum %ld\n",
           JOBS, (long long)((uvgo_now() - t0) / UVGO_MILLISECOND), total_ms,
           sum);
    return NULL;
}

int main(void)
{
    void *result = NULL;
    int err = uvgo_main(main_task, NULL, &result);
    if (err < 0) {
        fprintf(stderr, "uvgo_main: %s\n", uvgo_strerror(err));
        return 1;
    }
    return result == NULL ? 0 : 1;
}
