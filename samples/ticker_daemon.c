/* ticker_daemon.c: a timer/ticker-driven daemon in straight-line tasks.
 *
 * Periodic jobs on tickers (one with jitter, one daily), a flaky job
 * retried with exponential backoff and a timeout per attempt, a debounced
 * reload on SIGHUP, and a graceful shutdown on SIGINT/SIGTERM: stop
 * starting work, give running work a grace period, then cancel what is
 * left.  run_daemon() takes its signals from a channel, so tests can drive
 * a whole day of it in virtual time (test/test-ticker-daemon.c).
 *
 *   run:    ./build/samples/ticker_daemon        (Ctrl-C or kill -HUP/-TERM)
 *           ./build/samples/ticker_daemon 5      (demo: sends itself two
 *                                                 SIGHUPs, then SIGTERM at 5 s)
 *   prints: one line per event, stamped with milliseconds since start.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uvgo.h>

#define MS UVGO_MILLISECOND
static FILE *out;
static int64_t t0;
static uint64_t rng;                  /* jitter: the same sequence every run */
static uvgo_ctx_t *running, *working; /* stop starting / cancel in-flight */

static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "%6lld ms  ", (long long)((uvgo_now() - t0) / MS));
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    va_end(ap);
}

struct job {
    const char *name;
    uvgo_duration_t period, jitter;
};

/* A periodic job: runs on each tick until the daemon stops starting work. */
static void *periodic(void *arg)
{
    struct job *j = arg;
    uvgo_ticker_t *tk;
    uvgo_ticker_make(&tk, j->period);
    for (int n = 1;; n++) {
        if (uvgo_chan_recv_ctx(uvgo_ticker_chan(tk), NULL, 0, NULL, running) <
            0)
            break;
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        if (j->jitter && uvgo_sleep_ctx((rng >> 33) % j->jitter, working) < 0)
            break;
        logf_("%s: run %d", j->name, n);
    }
    uvgo_ticker_free(tk);
    logf_("%s: stopped", j->name);
    return NULL;
}

/* A flaky fetch (its first two attempts hang past their 200 ms timeout),
 * retried with exponential backoff; then a slow upload that only the
 * shutdown deadline cuts short. */
static void *fetcher(void *arg)
{
    (void)arg;
    for (int round = 1; !uvgo_ctx_err(running); round++) {
        uvgo_duration_t backoff = 100 * MS;
        for (int n = 1;; n++, backoff *= 2) {
            uvgo_ctx_t *try_ctx;
            uvgo_ctx_with_timeout(&try_ctx, working, 200 * MS);
            int err = uvgo_sleep_ctx(n < 3 ? 500 * MS : 50 * MS, try_ctx);
            uvgo_ctx_cancel_release(try_ctx);
            if (!err)
                break;
            logf_("fetch %d: attempt %d failed (%s), retry in %lld ms", round,
                  n, uvgo_strerror(err), (long long)(backoff / MS));
            if (uvgo_sleep_ctx(backoff, working) < 0)
                return NULL;
        }
        logf_("fetch %d: ok; uploading report", round);
        if (uvgo_sleep_ctx(800 * MS, working) < 0) {
            logf_("fetch %d: upload cancelled", round);
            return NULL;
        }
        logf_("fetch %d: uploaded", round);
        uvgo_sleep_ctx(500 * MS, running); /* the next round */
    }
    logf_("fetcher: stopped");
    return NULL;
}

/* The daemon: runs until SIGINT or SIGTERM arrives on `signals`. */
static void run_daemon(uvgo_chan_t *signals)
{
    struct job jobs[] = {{"heartbeat", 1000 * MS, 0},
                         {"metrics", 700 * MS, 200 * MS},
                         {"rotate-logs", 24 * UVGO_HOUR, 0}};
    uvgo_task_t *tasks[4];
    uvgo_timer_t *debounce;
    int sig;

    t0 = uvgo_now();
    rng = 1;
    uvgo_ctx_with_cancel(&running, NULL);
    uvgo_ctx_with_cancel(&working, NULL);
    uvgo_timer_make(&debounce, UVGO_HOUR * 24 * 365); /* armed by SIGHUP */
    for (int i = 0; i < 3; i++)
        uvgo_task_spawn(&tasks[i], periodic, &jobs[i], NULL);
    uvgo_task_spawn(&tasks[3], fetcher, NULL, NULL);
    logf_("started");
    for (;;) {
        uvgo_select_case_t c[2] = {
            UVGO_CASE_RECV(signals, &sig),
            UVGO_CASE_RECV_DISCARD(uvgo_timer_chan(debounce))};
        if (uvgo_select(c, 2) == 1) {
            logf_("reload: configuration reloaded");
        } else if (sig == SIGHUP) {
            logf_("SIGHUP: reload in 300 ms unless another arrives");
            uvgo_timer_reset(debounce, 300 * MS);
        } else {
            break;
        }
    }
    logf_("%s: shutting down, grace period 300 ms",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
    uvgo_ctx_cancel(running);
    uvgo_ctx_t *grace;
    uvgo_ctx_with_timeout(&grace, NULL, 300 * MS);
    for (int i = 0; i < 4; i++) {
        if (uvgo_task_join_ctx(tasks[i], NULL, grace) == UVGO_ETIMEDOUT) {
            logf_("grace period over: cancelling work still running");
            uvgo_ctx_cancel(working);
            uvgo_task_join(tasks[i], NULL);
        }
    }
    logf_("all jobs stopped; bye");
    uvgo_timer_free(debounce);
    uvgo_ctx_cancel_release(grace);
    uvgo_ctx_cancel_release(working);
    uvgo_ctx_cancel_release(running);
}

static void *self_test(void *arg)
{
    uvgo_sleep(1200 * MS);
    raise(SIGHUP);
    uvgo_sleep(100 * MS);
    raise(SIGHUP); /* within the debounce window: one reload */
    uvgo_sleep((intptr_t)arg * UVGO_SECOND - 1300 * MS);
    raise(SIGTERM);
    return NULL;
}

static void *main_task(void *arg)
{
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    uvgo_chan_t *sigch;
    uvgo_signal_t *sub;

    uvgo_chan_make(&sigch, sizeof(int), 4);
    uvgo_signal_notify(&sub, sigch, sigs, 3);
    if (arg)
        uvgo_go(self_test, arg);
    run_daemon(sigch);
    uvgo_signal_stop(sub);
    uvgo_chan_release(sigch);
    return NULL;
}

int main(int argc, char **argv)
{
    out = stdout;
    setvbuf(stdout, NULL, _IOLBF, 0);
    intptr_t demo = argc > 1 ? atoi(argv[1]) : 0;
    return uvgo_main(main_task, (void *)demo, NULL) < 0;
}
