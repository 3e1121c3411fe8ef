/* parallel_exec.c: run shell command lines in parallel, as `xargs -P` does.
 *
 * Reads one command per line (#comments skipped) from FILE or stdin, runs
 * each with `sh -c` in a process group of its own, at most -j N at once (an
 * errgroup with a limit), each under a -t SECONDS context (SIGTERM to the
 * group, SIGKILL 100 ms later), prints each command's output in input order
 * as soon as it and all before it are done, then a summary.  Ctrl-C cancels
 * the root context: running commands are killed, waiting ones never start.
 *
 *   run:    ./build/samples/parallel_exec -j 2 -t 0.5 samples/parallel_exec.txt
 *   prints: "[1] ok (0) 3 ms: echo hello", that command's output, and so on
 *           (the code in parentheses: exit status, -signal or a uvgo
 *           error), then "5 commands: 3 ok, 1 failed, 1 timed out, 0
 *           cancelled; wall 0.51 s, sum of run times 0.52 s".
 *   exits:  0 when all succeeded, 123 otherwise (as xargs), 130 on Ctrl-C.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uvgo.h>

enum { OK, FAILED, TIMEDOUT, CANCELLED };
static const char *state_name[] = {"ok", "failed", "timed out", "cancelled"};

struct job {
    char *line, *out; /* the command; its stdout and stderr */
    size_t len;
    int state, code;   /* code: exit status, -signal, or a uvgo error */
    int64_t ms;        /* its run time */
    uvgo_chan_t *done; /* closed when the job is over (Go's done idiom) */
};

static struct job *jobs;
static int njobs, limit = 4;
static uvgo_duration_t timeout = 10 * UVGO_SECOND;
static uvgo_ctx_t *root; /* cancelled by Ctrl-C */

static int run_job(void *arg)
{
    struct job *j = arg;
    const char *argv[] = {"sh", "-c", j->line, NULL};
    uvgo_cmd_t cmd = {.argv = argv,
                      .cancel_signal = SIGTERM,
                      .wait_delay = 100 * UVGO_MILLISECOND,
                      .new_process_group = 1};
    uvgo_exit_t st = {0};
    int64_t t0 = uvgo_now();
    int err;
    cmd.stdio[0].kind = UVGO_STDIO_NULL;
    uvgo_ctx_with_timeout(&cmd.ctx, root, timeout);
    err = uvgo_cmd_combined_output(&cmd, 1 << 20, &j->out, &j->len, &st);
    j->ms = (uvgo_now() - t0) / UVGO_MILLISECOND;
    j->code = err ? err : st.signal ? -st.signal : st.code;
    if (uvgo_ctx_err(root))
        j->state = CANCELLED;
    else if (uvgo_ctx_err(cmd.ctx) == UVGO_ETIMEDOUT)
        j->state = TIMEDOUT;
    else
        j->state = err || st.code ? FAILED : OK;
    uvgo_ctx_cancel_release(cmd.ctx);
    uvgo_chan_close(j->done);
    return 0; /* a failed command does not stop the others */
}

static void *feed(void *arg)
{
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    int i = 0;
    (void)arg;
    uvgo_errgroup_set_limit(&g, limit);
    while (i < njobs && uvgo_errgroup_go_ctx(&g, run_job, &jobs[i], root) == 0)
        i++;
    for (; i < njobs; i++) { /* Ctrl-C: the rest never start */
        jobs[i].state = CANCELLED;
        uvgo_chan_close(jobs[i].done);
    }
    uvgo_errgroup_wait(&g);
    return NULL;
}

/* The commands: the lines of `path` (/dev/stdin: whatever stdin is, read
 * through the thread pool so that no worker waits for it). */
static char *read_jobs(const char *path, int *err)
{
    char *text = NULL, *line, *rest;
    size_t len;

    *err = uvgo_read_file(path ? path : "/dev/stdin", 16 << 20, &text, &len);
    for (rest = text; !*err && (line = strtok_r(rest, "\n", &rest));)
        if (line[0] != '#') {
            jobs = realloc(jobs, (size_t)(njobs + 1) * sizeof *jobs);
            jobs[njobs] = (struct job){.line = line};
            uvgo_chan_make(&jobs[njobs++].done, 0, 0);
        }
    return text;
}

static void *main_task(void *arg)
{
    char **argv = arg, *path = NULL, *text;
    int counts[4] = {0}, sig = SIGINT, i, err;
    int64_t start = uvgo_now(), sum = 0;
    uvgo_chan_t *sigs;
    uvgo_signal_t *sub;
    uvgo_task_t *feeder;
    uvgo_conn_t *out;
    uvgo_writer_t *w;

    for (i = 1; argv[i]; i++)
        if (!strcmp(argv[i], "-j") && argv[i + 1])
            limit = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && argv[i + 1])
            timeout = (uvgo_duration_t)(atof(argv[++i]) * UVGO_SECOND);
        else
            path = argv[i];
    if (!(text = read_jobs(path, &err)) || err) {
        fprintf(stderr, "parallel_exec: %s\n", uvgo_strerror(err));
        return (void *)2;
    }
    uvgo_stdio_open(&out, 1);
    uvgo_writer_new(&w, out, 0);
    uvgo_ctx_with_cancel(&root, NULL);
    uvgo_chan_make(&sigs, sizeof(int), 1);
    uvgo_signal_notify(&sub, sigs, &sig, 1);
    uvgo_task_spawn(&feeder, feed, NULL, NULL);

    /* In input order: wait for each job in turn, or for Ctrl-C. */
    for (i = 0; i < njobs; i++) {
        struct job *j = &jobs[i];
        uvgo_select_case_t c[2] = {UVGO_CASE_RECV_DISCARD(j->done),
                                   UVGO_CASE_RECV(sigs, &sig)};
        if (uvgo_select(c, 2) == 1) {
            uvgo_ctx_cancel(root); /* and wait for job i again */
            i--;
            continue;
        }
        uvgo_writer_printf(w, "[%d] %s (%d) %lld ms: %s\n", i + 1,
                           state_name[j->state], j->code, (long long)j->ms,
                           j->line);
        uvgo_writer_write(w, j->out, j->len);
        uvgo_writer_flush(w);
        counts[j->state]++;
        sum += j->ms;
        free(j->out);
        uvgo_chan_release(j->done);
    }
    uvgo_task_join(feeder, NULL);
    uvgo_signal_stop(sub);
    uvgo_writer_printf(w,
                       "%d commands: %d ok, %d failed, %d timed out, %d "
                       "cancelled; wall %.2f s, sum of run times %.2f s\n",
                       njobs, counts[OK], counts[FAILED], counts[TIMEDOUT],
                       counts[CANCELLED], (double)(uvgo_now() - start) / 1e9,
                       (double)sum / 1e3);
    uvgo_writer_flush(w);
    uvgo_writer_free(w);
    uvgo_conn_free(out);
    uvgo_chan_release(sigs);
    uvgo_ctx_cancel_release(root);
    free(jobs);
    free(text);
    return (void *)(intptr_t)(counts[CANCELLED]    ? 130
                              : counts[OK] < njobs ? 123
                                                   : 0);
}

int main(int argc, char **argv)
{
    void *rc = (void *)2;
    (void)argc;
    uvgo_main(main_task, argv, &rc);
    return (int)(intptr_t)rc;
}
