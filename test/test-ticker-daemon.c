/* test-ticker-daemon.c: samples/ticker_daemon.c's logic, a whole day of it,
 * in virtual time (uvgo/synctest.h): its tickers' schedules, the flaky
 * fetch's retries with backoff, the debounced reload and the shutdown,
 * checked line by line against the clock, in well under a second. */
#include "test.h"

/* The sample itself, with its main() renamed: run_daemon() is what runs
 * here, fed signal numbers through a channel instead of real signals. */
#define main ticker_daemon_main
#include "../samples/ticker_daemon.c"
#undef main

#define DAY (24 * UVGO_HOUR)

struct day {
    char *text;
    size_t len;
};

/* Sends the daemon what a day brings: two SIGHUPs 100 ms apart (one
 * reload), then SIGTERM half a second after the day. */
static void *day_of_signals(void *arg)
{
    uvgo_chan_t *signals = arg;
    int hup = SIGHUP, term = SIGTERM;
    uvgo_sleep(1200 * MS);
    ASSERT_OK(uvgo_chan_send(signals, &hup, sizeof hup));
    uvgo_sleep(100 * MS);
    ASSERT_OK(uvgo_chan_send(signals, &hup, sizeof hup));
    uvgo_sleep(DAY + 500 * MS - 1300 * MS);
    ASSERT_OK(uvgo_chan_send(signals, &term, sizeof term));
    return NULL;
}

static void *a_day(void *arg)
{
    struct day *d = arg;
    uvgo_chan_t *signals;
    uvgo_task_t *feeder;
    out = open_memstream(&d->text, &d->len);
    ASSERT_OK(uvgo_chan_make(&signals, sizeof(int), 4));
    ASSERT_OK(uvgo_task_spawn(&feeder, day_of_signals, signals, NULL));
    run_daemon(signals);
    ASSERT_OK(uvgo_task_join(feeder, NULL));
    uvgo_chan_release(signals);
    fclose(out);
    return NULL;
}

static void run_a_day(struct day *d, int64_t *wall)
{
    int64_t w0 = uvgo_now();
    ASSERT_OK(uvgo_synctest_run(a_day, d, NULL, NULL));
    *wall = uvgo_now() - w0;
}

/* How many lines of the log carry `what` right after their timestamp.
 * One pass by hand: the log is megabytes, and a sanitizer's strstr
 * measures the whole rest of it on every call. */
static long count(const char *text, const char *what)
{
    size_t n = strlen(what);
    long found = 0;
    for (const char *line = text; *line;) {
        const char *msg = line;
        while (*msg == ' ' || (*msg >= '0' && *msg <= '9'))
            msg++;
        if (strncmp(msg, "ms  ", 4) == 0 && strncmp(msg + 4, what, n) == 0)
            found++;
        while (*line && *line != '\n')
            line++;
        if (*line)
            line++;
    }
    return found;
}

static void a_day_of_the_daemon_runs_on_schedule_in_virtual_time(void)
{
    struct day d = {0};
    int64_t wall;
    run_a_day(&d, &wall);
    /* The flaky fetch: two timeouts at 200 ms each, backoff 100 then
     * 200 ms, the third attempt succeeds at 750 ms. */
    ASSERT(strstr(d.text, "   200 ms  fetch 1: attempt 1 failed (timed out "
                          "(deadline exceeded)), retry in 100 ms\n"));
    ASSERT(strstr(d.text, "   500 ms  fetch 1: attempt 2 failed (timed out "
                          "(deadline exceeded)), retry in 200 ms\n"));
    ASSERT(strstr(d.text, "   750 ms  fetch 1: ok; uploading report\n"));
    ASSERT(strstr(d.text, "  1550 ms  fetch 1: uploaded\n"));
    /* The debounce: two SIGHUPs, one reload 300 ms after the second. */
    ASSERT(strstr(d.text, "  1200 ms  SIGHUP: reload in 300 ms"));
    ASSERT(strstr(d.text, "  1300 ms  SIGHUP: reload in 300 ms"));
    ASSERT(strstr(d.text, "  1600 ms  reload: configuration reloaded\n"));
    ASSERT_EQ(count(d.text, "reload: configuration reloaded"), 1);
    /* The tickers over the day: every second a heartbeat, on the second;
     * the daily rotation exactly once, at 24 h. */
    ASSERT_EQ(count(d.text, "heartbeat: run"), 86400);
    ASSERT(strstr(d.text, " 1000 ms  heartbeat: run 1\n"));
    ASSERT(strstr(d.text, "86400000 ms  heartbeat: run 86400\n"));
    ASSERT_EQ(count(d.text, "rotate-logs: run"), 1);
    ASSERT(strstr(d.text, "86400000 ms  rotate-logs: run 1\n"));
    ASSERT(count(d.text, "metrics: run") > 86400 * 10 / 9);
    /* The shutdown at 24 h + 500 ms: the tickers stop at once; the upload
     * that started at 24 h + 50 ms needs 800 ms, more than the 300 ms
     * grace period, so it is cancelled when the grace runs out. */
    ASSERT(strstr(d.text, "86400050 ms  fetch 42147: ok; uploading report"));
    ASSERT(strstr(d.text, "86400500 ms  SIGTERM: shutting down"));
    ASSERT(strstr(d.text, "86400500 ms  heartbeat: stopped\n"));
    ASSERT(strstr(d.text, "86400800 ms  grace period over: cancelling work "
                          "still running\n"
                          "86400800 ms  fetch 42147: upload cancelled\n"
                          "86400800 ms  all jobs stopped; bye\n"));
    ASSERT_EQ(count(d.text, "grace period over"), 1);
    /* A day, in far less than a day: about 0.2 s on an idle machine,
     * 10 s under TSan; the bound only proves the clock was virtual, with
     * room for a loaded CI machine. */
    ASSERT_LT(wall, UVGO_MINUTE);
    free(d.text);
}

static void the_same_day_twice_gives_the_same_log(void)
{
    struct day a = {0}, b = {0};
    int64_t wall;
    run_a_day(&a, &wall);
    run_a_day(&b, &wall);
    ASSERT_EQ(a.len, b.len);
    ASSERT(memcmp(a.text, b.text, a.len) == 0);
    free(a.text);
    free(b.text);
}

static const test_case_t cases[] = {
    CASE(a_day_of_the_daemon_runs_on_schedule_in_virtual_time),
    CASE(the_same_day_twice_gives_the_same_log),
};

TEST_MAIN(cases)
