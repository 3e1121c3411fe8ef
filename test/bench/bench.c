/* bench.c: uvgo-bench, the C side of the benchmark specification.
 *
 *   uvgo-bench <name> [variant]   run one benchmark (all variants if none)
 *   uvgo-bench all                run every non-network one, each in a
 *                                 fresh process
 *   uvgo-bench echo-server|echo-client ...   the echo benchmark's sides
 *                                 (echo.c)
 *   uvgo-bench httpd [port]       the HTTP server under wrk (run-peers.sh)
 *   uvgo-bench fanout URL         the HTTP client against a server (fanout.c)
 *
 * Each benchmark does the specified work, checks its own result and prints
 * one result line.  "all" variants use one worker per core, "1"/"local" one
 * worker, "cross" two. */
#include <stdatomic.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bench.h"

typedef void (*bench_fn)(const char *variant);

/* ---- spawn -----------------------------------------------------------------
 */

static struct {
    long n;
    unsigned char *ran;
    uvgo_wg_t wg;
} sp;

static void *spawn_child(void *arg)
{
    sp.ran[(uintptr_t)arg] = 1;
    uvgo_wg_done(&sp.wg);
    return NULL;
}

static void *spawn_main(void *arg)
{
    const char *variant = arg;
    long n = sp.n, count = 0;
    int64_t t0 = uvgo_now();
    uvgo_wg_add(&sp.wg, n);
    for (long i = 0; i < n; i++)
        bench_check(uvgo_go(spawn_child, (void *)(uintptr_t)i) == 0, "spawn");
    uvgo_wg_wait(&sp.wg);
    int64_t elapsed = uvgo_now() - t0;
    for (long i = 0; i < n; i++)
        count += sp.ran[i];
    bench_check(count == n, "spawn: %ld of %ld tasks ran", count, n);
    bench_report("spawn", variant, n, elapsed, NULL);
    return NULL;
}

static void bench_spawn(const char *variant)
{
    sp.n = bench_scale(1000000);
    sp.ran = calloc((size_t)sp.n, 1);
    uvgo_main(spawn_main, (void *)variant, NULL);
    free(sp.ran);
}

/* ---- yield -----------------------------------------------------------------
 */

static atomic_long yield_total;

static void *yield_task(void *arg)
{
    long n = (long)(intptr_t)arg, done = 0;
    for (; done < n; done++)
        uvgo_task_yield();
    atomic_fetch_add(&yield_total, done);
    return NULL;
}

static void *yield_main(void *arg)
{
    const char *variant = arg;
    long n = bench_scale(10000000);
    uvgo_task_t *t[2];
    int64_t t0 = uvgo_now();
    for (int k = 0; k < 2; k++)
        uvgo_task_spawn(&t[k], yield_task,
                        (void *)(intptr_t)(n / 2 + k * (n % 2)), NULL);
    for (int k = 0; k < 2; k++)
        uvgo_task_join(t[k], NULL);
    int64_t elapsed = uvgo_now() - t0;
    bench_check(atomic_load(&yield_total) == n, "yield: %ld of %ld yields",
                atomic_load(&yield_total), n);
    bench_report("yield", variant, n, elapsed, NULL);
    return NULL;
}

static void bench_yield(const char *variant)
{
    uvgo_main(yield_main, (void *)variant, NULL);
}

/* ---- pingpong --------------------------------------------------------------
 */

static struct {
    uvgo_chan_t *ping, *pong;
    long n;
    const char *variant;
} pp;

static void *pingpong_echo(void *arg)
{
    int v;
    (void)arg;
    UVGO_CHAN_RANGE(pp.ping, &v)
    {
        v++;
        uvgo_chan_send(pp.pong, &v, sizeof v);
    }
    return NULL;
}

static void *pingpong_driver(void *arg)
{
    int x = 0;
    (void)arg;
    int64_t t0 = uvgo_now();
    for (long i = 0; i < pp.n; i++) {
        uvgo_chan_send(pp.ping, &x, sizeof x);
        uvgo_chan_recv(pp.pong, &x, sizeof x, NULL);
    }
    int64_t elapsed = uvgo_now() - t0;
    uvgo_chan_close(pp.ping);
    bench_check(x == pp.n, "pingpong: got %d, want %ld", x, pp.n);
    bench_report("pingpong", pp.variant, pp.n, elapsed, NULL);
    return NULL;
}

static void *pingpong_main(void *arg)
{
    /* "local": one worker.  "cross": two workers, the tasks started on
     * different loops; like Go with GOMAXPROCS=2, the scheduler is then
     * free to bring them together (uvgo readies a woken task on its waker's
     * worker, as Go does).  "cross-pinned" (not in the spec) pins each to
     * its loop, so that every message crosses cores. */
    int cross = strcmp(pp.variant, "local") != 0;
    unsigned pin = !strcmp(pp.variant, "cross-pinned") ? UVGO_TASK_PINNED : 0;
    uvgo_task_opts_t a = {.worker = 1, .flags = pin};
    uvgo_task_opts_t b = {.worker = cross ? 2 : 1, .flags = pin};
    uvgo_task_t *ta, *tb;
    (void)arg;
    uvgo_chan_make(&pp.ping, sizeof(int), 0);
    uvgo_chan_make(&pp.pong, sizeof(int), 0);
    uvgo_task_spawn(&tb, pingpong_echo, NULL, &b);
    uvgo_task_spawn(&ta, pingpong_driver, NULL, &a);
    uvgo_task_join(ta, NULL);
    uvgo_task_join(tb, NULL);
    uvgo_chan_release(pp.ping);
    uvgo_chan_release(pp.pong);
    return NULL;
}

static void bench_pingpong(const char *variant)
{
    pp.n = bench_scale(1000000);
    pp.variant = variant;
    uvgo_main(pingpong_main, NULL, NULL);
}

/* ---- mpmc ---------------------------------------------------------------- */

static struct {
    uvgo_chan_t *ch;
    long n;
    atomic_int producers_left;
    atomic_long sum;
} mp;

static void *mpmc_producer(void *arg)
{
    long p = (long)(intptr_t)arg;
    for (long i = mp.n * p / 4; i < mp.n * (p + 1) / 4; i++)
        uvgo_chan_send(mp.ch, &i, sizeof i);
    if (atomic_fetch_sub(&mp.producers_left, 1) == 1)
        uvgo_chan_close(mp.ch);
    return NULL;
}

static void *mpmc_consumer(void *arg)
{
    long v, s = 0;
    (void)arg;
    UVGO_CHAN_RANGE(mp.ch, &v) s += v;
    atomic_fetch_add(&mp.sum, s);
    return NULL;
}

static void *mpmc_main(void *arg)
{
    const char *variant = arg;
    uvgo_task_t *t[8];
    mp.n = bench_scale(10000000);
    atomic_store(&mp.producers_left, 4);
    uvgo_chan_make(&mp.ch, sizeof(long), 1024);
    int64_t t0 = uvgo_now();
    for (long p = 0; p < 4; p++)
        uvgo_task_spawn(&t[p], mpmc_producer, (void *)(intptr_t)p, NULL);
    for (int c = 0; c < 4; c++)
        uvgo_task_spawn(&t[4 + c], mpmc_consumer, NULL, NULL);
    for (int i = 0; i < 8; i++)
        uvgo_task_join(t[i], NULL);
    int64_t elapsed = uvgo_now() - t0;
    long want = mp.n * (mp.n - 1) / 2;
    bench_check(atomic_load(&mp.sum) == want, "mpmc: sum %ld, want %ld",
                atomic_load(&mp.sum), want);
    bench_report("mpmc", variant, mp.n, elapsed, NULL);
    uvgo_chan_release(mp.ch);
    return NULL;
}

static void bench_mpmc(const char *variant)
{
    uvgo_main(mpmc_main, (void *)variant, NULL);
}

/* ---- select ----------------------------------------------------------------
 */

static struct {
    uvgo_chan_t *ch[4];
    long n;
} sl;

static void *select_sender(void *arg)
{
    long k = (long)(intptr_t)arg;
    for (long i = 0; i < sl.n; i++) {
        long v = k * sl.n + i;
        uvgo_chan_send(sl.ch[k], &v, sizeof v);
    }
    return NULL;
}

static void *select_main(void *arg)
{
    const char *variant = arg;
    uvgo_task_t *t[4];
    uvgo_select_case_t c[4];
    long v = 0, sum = 0;
    sl.n = bench_scale(1000000);
    for (int k = 0; k < 4; k++) {
        uvgo_chan_make(&sl.ch[k], sizeof(long), 0);
        c[k] = (uvgo_select_case_t)UVGO_CASE_RECV(sl.ch[k], &v);
    }
    int64_t t0 = uvgo_now();
    for (long k = 0; k < 4; k++)
        uvgo_task_spawn(&t[k], select_sender, (void *)(intptr_t)k, NULL);
    long total = 4 * sl.n;
    for (long got = 0; got < total; got++) {
        uvgo_select(c, 4);
        sum += v;
    }
    int64_t elapsed = uvgo_now() - t0;
    for (int k = 0; k < 4; k++)
        uvgo_task_join(t[k], NULL);
    bench_check(sum == total * (total - 1) / 2, "select: sum %ld, want %ld",
                sum, total * (total - 1) / 2);
    bench_report("select", variant, total, elapsed, NULL);
    for (int k = 0; k < 4; k++)
        uvgo_chan_release(sl.ch[k]);
    return NULL;
}

static void bench_select(const char *variant)
{
    uvgo_main(select_main, (void *)variant, NULL);
}

/* ---- idle / idle1m ------------------------------------------------------- */

static struct {
    uvgo_chan_t *release;
    unsigned char *woke;
    atomic_long ready, left;
    uvgo_event_t done;
} id;

static void *idle_task(void *arg)
{
    atomic_fetch_add_explicit(&id.ready, 1, memory_order_relaxed);
    uvgo_chan_recv(id.release, NULL, 0, NULL);
    id.woke[(uintptr_t)arg] = 1;
    if (atomic_fetch_sub_explicit(&id.left, 1, memory_order_acq_rel) == 1)
        uvgo_event_set(&id.done);
    return NULL;
}

static void run_idle(const char *name, const char *variant, long n)
{
    n = bench_scale(n);
    id.woke = calloc((size_t)n, 1);
    uvgo_chan_make(&id.release, 0, 0);
    atomic_store(&id.left, n);
    long before = bench_status_kb("VmRSS");
    int64_t t0 = uvgo_now();
    for (long i = 0; i < n; i++)
        bench_check(uvgo_go(idle_task, (void *)(uintptr_t)i) == 0, "spawn");
    while (atomic_load(&id.ready) < n)
        uvgo_sleep(UVGO_MILLISECOND);
    int64_t spawned = uvgo_now() - t0;
    long blocked = bench_status_kb("VmRSS");
    t0 = uvgo_now();
    uvgo_chan_close(id.release);
    uvgo_event_wait(&id.done, "bench wait");
    int64_t elapsed = spawned + (uvgo_now() - t0);
    long count = 0;
    for (long i = 0; i < n; i++)
        count += id.woke[i];
    bench_check(count == n, "%s: %ld of %ld tasks woke", name, count, n);
    char extra[160];
    snprintf(extra, sizeof extra,
             "rss_before_kb=%ld rss_blocked_kb=%ld bytes_per_task=%ld", before,
             blocked, (blocked - before) * 1024 / n);
    bench_report(name, variant, n, elapsed, extra);
    uvgo_chan_release(id.release);
    free(id.woke);
}

static void *idle_main(void *arg)
{
    run_idle("idle", arg, 100000);
    return NULL;
}

static void *idle1m_main(void *arg)
{
    run_idle("idle1m", arg, 1000000);
    return NULL;
}

static void bench_idle(const char *variant)
{
    uvgo_main(idle_main, (void *)variant, NULL);
}

static void bench_idle1m(const char *variant)
{
    uvgo_main(idle1m_main, (void *)variant, NULL);
}

/* ---- timers
 * ------------------------------------------------------------------ */

/* splitmix64, as the Go peer draws its delays, so both sleep the same. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static struct {
    int64_t *late;
    atomic_long left;
    uvgo_event_t done;
} tm;

struct timer_job {
    long i;
    int64_t d;
};

static void *timer_task(void *arg)
{
    struct timer_job *j = arg;
    int64_t t0 = uvgo_now();
    uvgo_sleep(j->d);
    tm.late[j->i] = uvgo_now() - t0 - j->d;
    if (atomic_fetch_sub_explicit(&tm.left, 1, memory_order_acq_rel) == 1)
        uvgo_event_set(&tm.done);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void *timers_main(void *arg)
{
    const char *variant = arg;
    long n = bench_scale(100000);
    uint64_t rng = 42;
    struct timer_job *jobs = malloc((size_t)n * sizeof *jobs);
    tm.late = malloc((size_t)n * sizeof *tm.late);
    atomic_store(&tm.left, n);
    int64_t t0 = uvgo_now();
    for (long i = 0; i < n; i++) {
        jobs[i].i = i;
        jobs[i].d = (int64_t)(1 + splitmix64(&rng) % 1000) * UVGO_MILLISECOND;
        bench_check(uvgo_go(timer_task, &jobs[i]) == 0, "spawn");
    }
    uvgo_event_wait(&tm.done, "bench wait");
    int64_t elapsed = uvgo_now() - t0;
    qsort(tm.late, (size_t)n, sizeof *tm.late, cmp_i64);
    bench_check(tm.late[0] >= 0, "timers: a task woke %lld ns early",
                (long long)-tm.late[0]);
    char extra[160];
    snprintf(extra, sizeof extra,
             "p50_late_us=%lld p99_late_us=%lld "
             "max_late_us=%lld",
             (long long)tm.late[(n - 1) * 50 / 100] / 1000,
             (long long)tm.late[(n - 1) * 99 / 100] / 1000,
             (long long)tm.late[n - 1] / 1000);
    bench_report("timers", variant, n, elapsed, extra);
    free(jobs);
    free(tm.late);
    return NULL;
}

static void bench_timers(const char *variant)
{
    uvgo_main(timers_main, (void *)variant, NULL);
}

/* ---- ticker ----------------------------------------------------------------
 */

static void *ticker_main(void *arg)
{
    const char *variant = arg;
    long n = bench_scale(2000);
    const int64_t period = UVGO_MILLISECOND;
    int64_t *jitter = malloc((size_t)n * sizeof *jitter);
    uvgo_ticker_t *tk;
    int64_t start = uvgo_now(), prev = start, v;
    uvgo_ticker_make(&tk, period);
    for (long i = 0; i < n; i++) {
        uvgo_chan_recv(uvgo_ticker_chan(tk), &v, sizeof v, NULL);
        int64_t now = uvgo_now();
        jitter[i] = now - prev - period;
        if (jitter[i] < 0)
            jitter[i] = -jitter[i];
        prev = now;
    }
    uvgo_ticker_free(tk);
    int64_t elapsed = prev - start;
    bench_check(elapsed >= n * period, "ticker: %ld ticks in %lld ns", n,
                (long long)elapsed);
    qsort(jitter, (size_t)n, sizeof *jitter, cmp_i64);
    char extra[160];
    snprintf(extra, sizeof extra,
             "mean_interval_us=%lld p99_jitter_us=%lld missed=%lld",
             (long long)(elapsed / n / 1000),
             (long long)jitter[(n - 1) * 99 / 100] / 1000,
             (long long)(elapsed / period - n));
    bench_report("ticker", variant, n, elapsed, extra);
    free(jitter);
    return NULL;
}

static void bench_ticker(const char *variant)
{
    uvgo_main(ticker_main, (void *)variant, NULL);
}

/* ---- ctxtree ------------------------------------------------------------- */

static struct {
    atomic_long ready, left;
    uvgo_event_t all_ready, done;
    int *errs;
} ct;

struct leaf {
    uvgo_ctx_t *ctx;
    long i;
};

static void *ctx_leaf(void *arg)
{
    struct leaf *l = arg;
    uvgo_chan_t *done = uvgo_ctx_done(l->ctx);
    if (atomic_fetch_add(&ct.ready, 1) + 1 == 10000)
        uvgo_event_set(&ct.all_ready);
    uvgo_chan_recv(done, NULL, 0, NULL);
    ct.errs[l->i] = uvgo_ctx_err(l->ctx);
    if (atomic_fetch_sub_explicit(&ct.left, 1, memory_order_acq_rel) == 1)
        uvgo_event_set(&ct.done);
    return NULL;
}

static void *ctxtree_main(void *arg)
{
    const char *variant = arg;
    enum { FANOUT = 10, DEPTH = 4, LEAVES = 10000, ALL = 11110 };
    uvgo_ctx_t *root, **ctxs = malloc(ALL * sizeof *ctxs);
    struct leaf *leaves = malloc(LEAVES * sizeof *leaves);
    long n = 0, level = 0, level_end;
    ct.errs = calloc(LEAVES, sizeof *ct.errs);
    uvgo_ctx_with_cancel(&root, NULL);
    /* Level by level: 10, 100, 1000, 10000 contexts. */
    for (long k = 0; k < FANOUT; k++)
        uvgo_ctx_with_cancel(&ctxs[n++], root);
    level_end = n;
    for (int d = 1; d < DEPTH; d++) {
        for (long p = level; p < level_end; p++)
            for (long k = 0; k < FANOUT; k++)
                uvgo_ctx_with_cancel(&ctxs[n++], ctxs[p]);
        level = level_end;
        level_end = n;
    }
    bench_check(n == ALL, "ctxtree: %ld contexts", n);
    atomic_store(&ct.left, LEAVES);
    for (long i = 0; i < LEAVES; i++) {
        leaves[i].ctx = ctxs[level + i];
        leaves[i].i = i;
        uvgo_go(ctx_leaf, &leaves[i]);
    }
    uvgo_event_wait(&ct.all_ready, "bench ready");
    int64_t t0 = uvgo_now();
    uvgo_ctx_cancel(root);
    uvgo_event_wait(&ct.done, "bench wait");
    int64_t elapsed = uvgo_now() - t0;
    for (long i = 0; i < LEAVES; i++)
        bench_check(ct.errs[i] == UVGO_ECANCELED, "ctxtree: leaf error %d",
                    ct.errs[i]);
    for (long i = 0; i < ALL; i++) {
        uvgo_ctx_cancel(ctxs[i]);
        uvgo_ctx_release(ctxs[i]);
    }
    uvgo_ctx_release(root);
    bench_report("ctxtree", variant, LEAVES, elapsed, NULL);
    free(ctxs);
    free(leaves);
    free(ct.errs);
    return NULL;
}

static void bench_ctxtree(const char *variant)
{
    uvgo_main(ctxtree_main, (void *)variant, NULL);
}

/* ---- mutex --------------------------------------------------------------- */

static struct {
    uvgo_mutex_t mu;
    long per;
    long counter;
    uvgo_wg_t wg;
} mx;

static void *mutex_task(void *arg)
{
    (void)arg;
    for (long i = 0; i < mx.per; i++) {
        uvgo_mutex_lock(&mx.mu);
        mx.counter++;
        uvgo_mutex_unlock(&mx.mu);
    }
    return NULL;
}

static void *mutex_main(void *arg)
{
    const char *variant = arg;
    mx.per = bench_scale(2500000);
    int64_t t0 = uvgo_now();
    for (int t = 0; t < 4; t++)
        bench_check(uvgo_wg_go(&mx.wg, mutex_task, NULL) == 0, "spawn");
    uvgo_wg_wait(&mx.wg);
    int64_t elapsed = uvgo_now() - t0;
    bench_check(mx.counter == 4 * mx.per, "mutex: counter %ld, want %ld",
                mx.counter, 4 * mx.per);
    bench_report("mutex", variant, 4 * mx.per, elapsed, NULL);
    return NULL;
}

static void bench_mutex(const char *variant)
{
    uvgo_main(mutex_main, (void *)variant, NULL);
}

/* ---- the table ----------------------------------------------------------- */

static const struct {
    const char *name, *variant;
    bench_fn fn;
} benches[] = {
    {"spawn", "all", bench_spawn},
    {"yield", "1", bench_yield},
    {"pingpong", "local", bench_pingpong},
    {"pingpong", "cross", bench_pingpong},
    {"pingpong", "cross-pinned", bench_pingpong},
    {"mpmc", "all", bench_mpmc},
    {"select", "all", bench_select},
    {"timers", "all", bench_timers},
    {"ticker", "1", bench_ticker},
    {"idle", "all", bench_idle},
    {"idle1m", "all", bench_idle1m},
    {"ctxtree", "all", bench_ctxtree},
    {"mutex", "all", bench_mutex},
};

static void set_procs(const char *variant)
{
    if (!strcmp(variant, "1") || !strcmp(variant, "local"))
        uvgo_procs(1);
    else if (!strncmp(variant, "cross", 5))
        uvgo_procs(2);
}

static int run_all(const char *self)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(self, self, benches[i].name, benches[i].variant,
                  (char *)NULL);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "uvgo-bench: %s %s failed\n", benches[i].name,
                    benches[i].variant);
            failed++;
        }
    }
    return failed ? 1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: uvgo-bench all | <name> [variant]\n"
                    "       uvgo-bench echo-server [port]\n"
                    "       uvgo-bench echo-client host:port [variant]\n"
#ifdef UVGO_BENCH_HTTP
                    "       uvgo-bench httpd [port]\n"
#endif
#ifdef UVGO_BENCH_FANOUT
                    "       uvgo-bench fanout URL\n"
#endif
    );
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(stderr, "  %s %s\n", benches[i].name, benches[i].variant);
    exit(2);
}

int main(int argc, char **argv)
{
    int found = 0;
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "all"))
        return run_all(argv[0]);
#ifdef UVGO_BENCH_HTTP
    if (!strcmp(argv[1], "httpd"))
        return bench_httpd(argc, argv);
#endif
#ifdef UVGO_BENCH_FANOUT
    if (!strcmp(argv[1], "fanout")) { /* a network client: fanout URL */
        if (argc != 3)
            usage();
        return bench_fanout(argv[2]);
    }
#endif
    if (!strcmp(argv[1], "echo-server"))
        return bench_echo_server(argc, argv);
    if (!strcmp(argv[1], "echo-client"))
        return bench_echo_client(argc, argv);
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (strcmp(benches[i].name, argv[1]) ||
            (argc > 2 && strcmp(benches[i].variant, argv[2])))
            continue;
        found = 1;
        if (argc > 2) {
            set_procs(benches[i].variant);
            benches[i].fn(benches[i].variant);
        } else {
            /* Each variant in a process of its own: a clean heap and RSS. */
            pid_t pid = fork();
            if (pid == 0) {
                set_procs(benches[i].variant);
                benches[i].fn(benches[i].variant);
                exit(0);
            }
            int status;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status))
                return 1;
        }
    }
    if (!found)
        usage();
    return 0;
}
