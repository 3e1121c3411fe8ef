/* test-synctest.c: virtual time (uvgo/synctest.h): waits of hours that
 * take no wall time, exact schedules, determinism, deadlocks, boundaries. */
#include <stdatomic.h>
#include <sys/wait.h>

#include "test.h"

#define MS UVGO_MILLISECOND
#define EPOCH UVGO_SYNCTEST_EPOCH

/* Runs fn in a bubble and checks it ends cleanly, in far less wall time
 * than the hours it simulates (milliseconds on an idle machine; the bound
 * leaves room for a loaded one under sanitizers). */
static void *run_bubble(uvgo_task_fn fn, void *arg,
                        const uvgo_synctest_opts_t *opts)
{
    void *result = NULL;
    int64_t wall = uvgo_now();
    ASSERT_OK(uvgo_synctest_run(fn, arg, &result, opts));
    ASSERT_LT(uvgo_now() - wall, 10 * UVGO_SECOND);
    return result;
}

/* ---- the clock -------------------------------------------------------------
 */

static void *sleep_an_hour(void *arg)
{
    (void)arg;
    ASSERT(uvgo_synctest_in_bubble());
    ASSERT_EQ(uvgo_now(), EPOCH);
    ASSERT_OK(uvgo_sleep(UVGO_HOUR));
    ASSERT_EQ(uvgo_now(), EPOCH + UVGO_HOUR); /* exactly: nothing else ran */
    return (void *)(intptr_t)42;
}

static void an_hours_sleep_takes_no_wall_time(void)
{
    ASSERT(!uvgo_synctest_in_bubble());
    ASSERT_EQ((intptr_t)run_bubble(sleep_an_hour, NULL, NULL), 42);
}

static int64_t woke[8];

static void *sleeper(void *arg)
{
    intptr_t i = (intptr_t)arg;
    ASSERT_OK(uvgo_sleep((8 - i) * UVGO_MINUTE));
    woke[i] = uvgo_now() - EPOCH;
    return NULL;
}

static void *eight_sleepers(void *arg)
{
    uvgo_task_t *t[8];
    (void)arg;
    for (intptr_t i = 0; i < 8; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], sleeper, (void *)i, NULL));
    for (int i = 0; i < 8; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    ASSERT_EQ(uvgo_now() - EPOCH, 8 * UVGO_MINUTE);
    return NULL;
}

static void sleepers_wake_at_their_exact_deadlines(void)
{
    run_bubble(eight_sleepers, NULL, NULL);
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(woke[i], (8 - i) * UVGO_MINUTE);
}

/* ---- timers, tickers, contexts, the limiter
 * ---------------------------------- */

static void *day_of_ticks(void *arg)
{
    uvgo_ticker_t *tk;
    int64_t v;
    (void)arg;
    ASSERT_OK(uvgo_ticker_make(&tk, UVGO_MINUTE));
    for (int64_t k = 1; k <= 24 * 60; k++) {
        ASSERT_OK(uvgo_chan_recv(uvgo_ticker_chan(tk), &v, sizeof v, NULL));
        ASSERT_EQ(v, EPOCH + k * UVGO_MINUTE); /* the grid, to the ns */
    }
    uvgo_ticker_free(tk);
    return NULL;
}

static void a_ticker_delivers_a_day_of_ticks_on_its_grid(void)
{
    run_bubble(day_of_ticks, NULL, NULL);
}

static void *timers_and_after(void *arg)
{
    uvgo_timer_t *t;
    uvgo_chan_t *after;
    int64_t v;
    (void)arg;
    ASSERT_OK(uvgo_timer_make(&t, 10 * UVGO_SECOND));
    ASSERT_OK(uvgo_after(&after, 3 * UVGO_SECOND));
    uvgo_select_case_t c[2] = {UVGO_CASE_RECV(uvgo_timer_chan(t), &v),
                               UVGO_CASE_RECV(after, &v)};
    ASSERT_EQ(uvgo_select(c, 2), 1);
    ASSERT_EQ(v, EPOCH + 3 * UVGO_SECOND);
    ASSERT_EQ(uvgo_timer_reset(t, UVGO_SECOND), 1);
    ASSERT_OK(uvgo_chan_recv(uvgo_timer_chan(t), &v, sizeof v, NULL));
    ASSERT_EQ(v, EPOCH + 4 * UVGO_SECOND);
    uvgo_timer_free(t);
    uvgo_chan_release(after);
    return NULL;
}

static void timers_and_after_fire_on_the_bubbles_clock(void)
{
    run_bubble(timers_and_after, NULL, NULL);
}

static atomic_int after_func_ran;

static void *after_func_body(void *arg)
{
    ASSERT(uvgo_synctest_in_bubble()); /* started by a bubble timer */
    ASSERT_EQ(uvgo_now(), EPOCH + (intptr_t)arg * UVGO_SECOND);
    atomic_fetch_add(&after_func_ran, 1);
    return NULL;
}

static void *contexts_and_after_funcs(void *arg)
{
    uvgo_ctx_t *c;
    (void)arg;
    ASSERT_OK(
        uvgo_after_func(NULL, 5 * UVGO_SECOND, after_func_body, (void *)5));
    ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, UVGO_HOUR));
    ASSERT_ERR(uvgo_chan_recv(uvgo_ctx_done(c), NULL, 0, NULL), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ETIMEDOUT);
    ASSERT_EQ(uvgo_now(), EPOCH + UVGO_HOUR);
    uvgo_ctx_release(c);
    /* A sleep bounded by a context of a minute. */
    ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, UVGO_MINUTE));
    ASSERT_ERR(uvgo_sleep_ctx(UVGO_HOUR, c), UVGO_ETIMEDOUT);
    ASSERT_EQ(uvgo_now(), EPOCH + UVGO_HOUR + UVGO_MINUTE);
    uvgo_ctx_release(c);
    return NULL;
}

static void a_context_deadline_of_an_hour_passes_in_virtual_time(void)
{
    run_bubble(contexts_and_after_funcs, NULL, NULL);
    ASSERT_EQ(atomic_load(&after_func_ran), 1);
}

static void *limiter_refill(void *arg)
{
    uvgo_limiter_t l;
    (void)arg;
    /* 10 events a second, burst 1: 100 waits take 9.9 virtual seconds. */
    uvgo_limiter_init(&l, 10.0, 1);
    for (int i = 0; i < 100; i++)
        ASSERT_OK(uvgo_limiter_wait(&l, 1));
    ASSERT_EQ(uvgo_now() - EPOCH, 9900 * MS);
    ASSERT_EQ(uvgo_limiter_allow(&l), 0);
    uvgo_sleep(100 * MS);
    ASSERT_EQ(uvgo_limiter_allow(&l), 1);
    return NULL;
}

static void a_rate_limiter_refills_in_virtual_time(void)
{
    run_bubble(limiter_refill, NULL, NULL);
}

/* ---- a retry schedule -------------------------------------------------------
 */

static int64_t attempts[8];

/* Retries a call that fails five times, with exponential backoff from
 * 100 ms capped at 1 s: the schedule is exact in virtual time. */
static void *backoff(void *arg)
{
    uvgo_duration_t delay = 100 * MS;
    (void)arg;
    for (int n = 0;; n++) {
        attempts[n] = uvgo_now() - EPOCH;
        if (n == 5)
            break;
        ASSERT_OK(uvgo_sleep(delay));
        delay = delay * 2 > UVGO_SECOND ? UVGO_SECOND : delay * 2;
    }
    return NULL;
}

static void a_backoff_schedule_is_exact(void)
{
    static const int64_t want[] = {0, 100, 300, 700, 1500, 2500};
    run_bubble(backoff, NULL, NULL);
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(attempts[i], want[i] * MS);
}

/* ---- determinism
 * -------------------------------------------------------------- */

/* A small program whose interleaving matters: producers with different
 * paces and a consumer selecting between them, plus a WaitGroup; every
 * event goes to a log with its virtual time. */
struct log {
    char text[16384];
    size_t len;
};

static void logf_(struct log *l, const char *fmt, int a, int b)
{
    int n =
        snprintf(l->text + l->len, sizeof l->text - l->len, "%lld %s %d %d\n",
                 (long long)((uvgo_now() - EPOCH) / MS), fmt, a, b);
    ASSERT(n > 0 && l->len + (size_t)n < sizeof l->text);
    l->len += (size_t)n;
}

struct world {
    struct log *log;
    uvgo_chan_t *ch[3];
    uvgo_wg_t wg;
};

struct producer {
    struct world *w;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < 6; i++) {
        uvgo_sleep((p->id + 1) * 7 * MS);
        int v = p->id * 100 + i;
        ASSERT_OK(uvgo_chan_send(p->w->ch[p->id], &v, sizeof v));
        logf_(p->w->log, "sent", p->id, v);
        if (i % 2)
            uvgo_task_yield();
    }
    uvgo_wg_done(&p->w->wg);
    return NULL;
}

static void *interleaved(void *arg)
{
    struct world w = {.log = arg};
    struct producer p[3];
    int v, got = 0;
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(uvgo_chan_make(&w.ch[i], sizeof(int), i));
        p[i] = (struct producer){&w, i};
    }
    uvgo_wg_add(&w.wg, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(uvgo_go(produce, &p[i]));
    while (got < 18) {
        uvgo_select_case_t c[3] = {UVGO_CASE_RECV(w.ch[0], &v),
                                   UVGO_CASE_RECV(w.ch[1], &v),
                                   UVGO_CASE_RECV(w.ch[2], &v)};
        int k = uvgo_select(c, 3);
        ASSERT_GE(k, 0);
        logf_(w.log, "got", k, v);
        got++;
        if (got % 5 == 0)
            uvgo_sleep(3 * MS);
    }
    ASSERT_OK(uvgo_wg_wait(&w.wg));
    for (int i = 0; i < 3; i++)
        uvgo_chan_release(w.ch[i]);
    return NULL;
}

static void the_same_bubble_twice_gives_the_same_log(void)
{
    static struct log a, b, c, d;
    uvgo_synctest_opts_t seeded = {.seed = 7};
    run_bubble(interleaved, &a, NULL);
    run_bubble(interleaved, &b, NULL);
    ASSERT_EQ(a.len, b.len);
    ASSERT(memcmp(a.text, b.text, a.len) == 0);
    /* A seed replays its own interleaving exactly. */
    run_bubble(interleaved, &c, &seeded);
    run_bubble(interleaved, &d, &seeded);
    ASSERT_EQ(c.len, d.len);
    ASSERT(memcmp(c.text, d.text, c.len) == 0);
}

/* Some seed orders the select's producers differently from the FIFO run:
 * the shuffle really explores. */
static void seeds_explore_other_interleavings(void)
{
    static struct log fifo, other;
    int differs = 0;
    run_bubble(interleaved, &fifo, NULL);
    for (uint64_t seed = 1; seed <= 20 && !differs; seed++) {
        uvgo_synctest_opts_t o = {.seed = seed};
        other.len = 0;
        run_bubble(interleaved, &other, &o);
        differs = other.len != fifo.len ||
                  memcmp(other.text, fifo.text, fifo.len) != 0;
    }
    ASSERT(differs);
}

/* ---- synctest_wait
 * ----------------------------------------------------------- */

static atomic_int stage;

static void *block_then_advance(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v;
    atomic_store(&stage, 1);
    ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, NULL));
    atomic_store(&stage, 2);
    ASSERT_OK(uvgo_sleep(UVGO_SECOND));
    atomic_store(&stage, 3);
    return NULL;
}

static void *wait_for_the_others(void *arg)
{
    uvgo_chan_t *ch;
    uvgo_task_t *t;
    int v = 1;
    (void)arg;
    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 0));
    ASSERT_OK(uvgo_task_spawn(&t, block_then_advance, ch, NULL));
    ASSERT_OK(uvgo_synctest_wait()); /* it is blocked on ch by now */
    ASSERT_EQ(atomic_load(&stage), 1);
    ASSERT_EQ(uvgo_now(), EPOCH); /* waiting moved no time */
    ASSERT_OK(uvgo_chan_send(ch, &v, sizeof v));
    ASSERT_OK(uvgo_synctest_wait()); /* now asleep on the clock */
    ASSERT_EQ(atomic_load(&stage), 2);
    ASSERT_EQ(uvgo_now(), EPOCH);
    ASSERT_OK(uvgo_task_join(t, NULL));
    ASSERT_EQ(atomic_load(&stage), 3);
    ASSERT_EQ(uvgo_now(), EPOCH + UVGO_SECOND);
    uvgo_chan_release(ch);
    return NULL;
}

static void wait_returns_when_the_others_are_durably_blocked(void)
{
    run_bubble(wait_for_the_others, NULL, NULL);
}

/* ---- what is not durable ----------------------------------------------------
 */

static void slow_io(void *arg)
{
    (void)arg;
    usleep(30000); /* real wall time, in the thread pool */
}

static int64_t io_done_at, sleep_done_at;

static void *sleep_a_second(void *arg)
{
    (void)arg;
    uvgo_sleep(UVGO_SECOND);
    sleep_done_at = uvgo_now() - EPOCH;
    return NULL;
}

static void *io_holds_the_clock(void *arg)
{
    uvgo_task_t *t;
    (void)arg;
    ASSERT_OK(uvgo_task_spawn(&t, sleep_a_second, NULL, NULL));
    /* While the offload runs the bubble is not durably blocked: the
     * clock may not jump past it. */
    ASSERT_OK(uvgo_offload(slow_io, NULL));
    io_done_at = uvgo_now() - EPOCH;
    ASSERT_OK(uvgo_task_join(t, NULL));
    return NULL;
}

static void io_in_a_bubble_is_not_durable(void)
{
    run_bubble(io_holds_the_clock, NULL, NULL);
    ASSERT_EQ(io_done_at, 0);
    ASSERT_EQ(sleep_done_at, UVGO_SECOND);
}

/* ---- deadlock
 * ---------------------------------------------------------------- */

static void *wait_on(void *arg)
{
    int v;
    uvgo_chan_recv(arg, &v, sizeof v, NULL); /* nobody ever sends */
    return NULL;
}

static void *deadlocked(void *arg)
{
    uvgo_chan_t *a, *b;
    uvgo_task_opts_t o = {.name = "stuck-in-bubble"};
    (void)arg;
    uvgo_chan_make(&a, sizeof(int), 0);
    uvgo_chan_make(&b, sizeof(int), 0);
    uvgo_task_spawn(NULL, wait_on, a, &o);
    wait_on(b);
    return NULL;
}

static void *run_deadlocked(void *arg)
{
    char *text = NULL;
    size_t len = 0;
    uvgo_synctest_opts_t o = {0};
    (void)arg;
    o.report = open_memstream(&text, &len);
    ASSERT_ERR(uvgo_synctest_run(deadlocked, NULL, NULL, &o), UVGO_EDEADLOCK);
    fclose(o.report);
    ASSERT(strstr(text, "deadlock: all 2 tasks in the bubble are blocked"));
    ASSERT(strstr(text, "\"stuck-in-bubble\": waiting on chan receive"));
    ASSERT(strstr(text, "\"synctest\": waiting on chan receive"));
    free(text);
    return NULL;
}

/* The deadlocked tasks stay blocked for good, their memory with them: run
 * it in a process of its own that ends without exit handlers (the leak
 * checker's). */
static void a_bubble_with_everyone_blocked_and_no_timer_is_a_deadlock(void)
{
    int status;
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0)
        _exit(uvgo_main(run_deadlocked, NULL, NULL) == 0 ? 0 : 1);
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- boundaries and bad input
 * ------------------------------------------------ */

static uvgo_chan_t *escaped;
static uvgo_timer_t *escaped_timer;
static uvgo_event_t escaped_ready, escaped_done;

static void *leak_a_channel(void *arg)
{
    int v = 1;
    (void)arg;
    ASSERT_OK(uvgo_chan_make(&escaped, sizeof(int), 1));
    ASSERT_OK(uvgo_timer_make(&escaped_timer, UVGO_HOUR));
    ASSERT_OK(uvgo_chan_send(escaped, &v, sizeof v));
    uvgo_event_set(&escaped_ready);
    /* Not durable: an event is the world outside. */
    ASSERT_OK(uvgo_event_wait(&escaped_done, "the outside"));
    uvgo_timer_free(escaped_timer);
    uvgo_chan_release(escaped);
    return NULL;
}

static void *bad_calls_inside(void *arg)
{
    (void)arg;
    ASSERT_ERR(uvgo_synctest_run(sleep_an_hour, NULL, NULL, NULL),
               UVGO_EBUBBLE);
    return NULL;
}

static void *run_leaky_bubble(void *arg)
{
    (void)arg;
    ASSERT_OK(uvgo_synctest_run(leak_a_channel, NULL, NULL, NULL));
    return NULL;
}

static void a_bubbles_channels_refuse_outsiders(void)
{
    uvgo_task_t *t;
    int v = 2, ok;
    escaped_ready = escaped_done = (uvgo_event_t)UVGO_EVENT_INIT;
    ASSERT_OK(uvgo_task_spawn(&t, run_leaky_bubble, NULL, NULL));
    ASSERT_OK(uvgo_event_wait(&escaped_ready, "the bubble"));
    /* Every way in from outside is refused, and changes nothing. */
    ASSERT_ERR(uvgo_chan_send(escaped, &v, sizeof v), UVGO_EBUBBLE);
    ASSERT_ERR(uvgo_chan_try_send(escaped, &v, sizeof v), UVGO_EBUBBLE);
    ASSERT_ERR(uvgo_chan_try_recv(escaped, &v, sizeof v, &ok), UVGO_EBUBBLE);
    ASSERT_ERR(uvgo_chan_recv(escaped, &v, sizeof v, &ok), UVGO_EBUBBLE);
    ASSERT_ERR(uvgo_chan_close(escaped), UVGO_EBUBBLE);
    uvgo_select_case_t c[1] = {UVGO_CASE_RECV(escaped, &v)};
    ASSERT_ERR(uvgo_select_try(c, 1), UVGO_EBUBBLE);
    ASSERT_ERR(uvgo_timer_stop(escaped_timer), UVGO_EBUBBLE);
    ASSERT_ERR(uvgo_timer_reset(escaped_timer, 0), UVGO_EBUBBLE);
    ASSERT_EQ(uvgo_chan_len(escaped), 1);
    uvgo_event_set(&escaped_done);
    ASSERT_OK(uvgo_task_join(t, NULL));
}

static void calls_that_need_a_bubble_or_a_task_fail_cleanly(void)
{
    ASSERT_ERR(uvgo_synctest_wait(), UVGO_EBUBBLE);
    ASSERT_ERR(uvgo_synctest_run(NULL, NULL, NULL, NULL), UVGO_EINVAL);
    run_bubble(bad_calls_inside, NULL, NULL); /* no nesting */
}

static void synctest_outside_a_task_is_enottask(void)
{
    ASSERT_ERR(uvgo_synctest_run(sleep_an_hour, NULL, NULL, NULL),
               UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_synctest_wait(), UVGO_EBUBBLE);
    ASSERT(!uvgo_synctest_in_bubble());
}

static const test_case_t cases[] = {
    CASE(an_hours_sleep_takes_no_wall_time),
    CASE(sleepers_wake_at_their_exact_deadlines),
    CASE(a_ticker_delivers_a_day_of_ticks_on_its_grid),
    CASE(timers_and_after_fire_on_the_bubbles_clock),
    CASE(a_context_deadline_of_an_hour_passes_in_virtual_time),
    CASE(a_rate_limiter_refills_in_virtual_time),
    CASE(a_backoff_schedule_is_exact),
    CASE(the_same_bubble_twice_gives_the_same_log),
    CASE(seeds_explore_other_interleavings),
    CASE(wait_returns_when_the_others_are_durably_blocked),
    CASE(io_in_a_bubble_is_not_durable),
    CASE_PLAIN(a_bubble_with_everyone_blocked_and_no_timer_is_a_deadlock),
    CASE(a_bubbles_channels_refuse_outsiders),
    CASE(calls_that_need_a_bubble_or_a_task_fail_cleanly),
    CASE_PLAIN(synctest_outside_a_task_is_enottask),
};

TEST_MAIN(cases)
