/* runtime.c: starting and stopping the runtime: uvgo_main (one worker
 * thread per core) and single-loop mode (uvgo_loop_attach).
 *
 * One runtime exists at a time, published in uvgo__rt.  uvgo_main's calling
 * thread becomes worker 0, so a one-worker runtime starts no thread at all.
 *
 * Shutdown.  When the main task returns it sets rt->stopping and rings every
 * doorbell.  A worker stops picking tasks at its next switch (a task that
 * never switches delays this: there is no preemption), stops its loop, closes
 * every handle still open on it and waits for thread-pool jobs in flight.
 * Tasks still alive are abandoned, as Go abandons goroutines when main
 * returns: they are listed on stderr and their stacks unmapped.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "runtime/timer.h"

#if defined(UVGO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#define MAX_WORKERS 1024

static atomic_int procs_setting; /* 0: from UVGO_PROCS or the CPU count */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

static int effective_procs(void)
{
    int n = atomic_load(&procs_setting);
    const char *env;

    if (n > 0)
        return n;
    env = getenv("UVGO_PROCS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0)
            return v > MAX_WORKERS ? MAX_WORKERS : (int)v;
    }
    n = (int)uv_available_parallelism();
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

int uvgo_procs(int n)
{
    int prev = effective_procs();
    if (n <= 0)
        return prev;
    if (atomic_load(&uvgo__rt))
        return UVGO_EBUSY;
    atomic_store(&procs_setting, n > MAX_WORKERS ? MAX_WORKERS : n);
    return prev;
}

int uvgo_replace_allocator(uvgo_malloc_fn malloc_fn, uvgo_realloc_fn realloc_fn,
                           uvgo_calloc_fn calloc_fn, uvgo_free_fn free_fn)
{
    int err;

    /* start_lock: a runtime cannot start while the functions change. */
    uvgo__mutex_lock(&start_lock, UVGO_RANK_START);
    if (atomic_load(&uvgo__rt))
        err = UVGO_EBUSY;
    else
        err = uvgo__allocator_set(malloc_fn, realloc_fn, calloc_fn, free_fn);
    uvgo__mutex_unlock(&start_lock);
    return err;
}

int uvgo_ref(void)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    if (!rt)
        return UVGO_ENOTTASK;
    atomic_fetch_add(&rt->external_refs, 1);
    return 0;
}

int uvgo_unref(void)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    if (!rt)
        return UVGO_ENOTTASK;
    if (atomic_fetch_sub(&rt->external_refs, 1) <= 0) {
        atomic_fetch_add(&rt->external_refs, 1);
        return UVGO_EINVAL;
    }
    return 0;
}

int uvgo_worker_count(void)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    return rt ? rt->nworkers : 0;
}

int uvgo_worker_id(void)
{
    struct uvgo_worker *w = uvgo__worker_self();
    return w ? w->id : UVGO_ENOTTASK;
}

uv_loop_t *uvgo_loop(void)
{
    struct uvgo_worker *w = uvgo__worker_self();
    return w ? w->loop : NULL;
}

/* How many uvgo__ticks() make POLL_INTERVAL (50 us): measured once. */
/* Ticks per 50 us, over 200 us.  The metrics' idle time is counted in
 * ticks (sched.c): a thread preempted between the two clocks' reads
 * skews one measure, so take the median of three. */
static uint64_t measure_poll_ticks(void)
{
    uint64_t t0 = uv_hrtime(), c0 = uvgo__ticks(), t1, c1;
    do {
        t1 = uv_hrtime();
    } while (t1 - t0 < 200000);
    c1 = uvgo__ticks();
    return (c1 - c0) * 50000 / (t1 - t0);
}

static uint64_t calibrate_poll_ticks(void)
{
    static uint64_t cached;
    if (!cached) {
        uint64_t a = measure_poll_ticks(), b = measure_poll_ticks(),
                 c = measure_poll_ticks(), m;
        m = a < b ? (b < c ? b : (a < c ? c : a))
                  : (a < c ? a : (b < c ? c : b));
        cached = m ? m : 1;
    }
    return cached;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes the loops of workers that never ran (a failed start).  In
 * single-loop mode the host's loop is not ours to close: nothing was
 * added to it when the start fails (sched.c adds the doorbell first). */
static void close_loops(struct uvgo_runtime *rt)
{
    for (int i = 0; i < rt->nworkers; i++) {
        struct uvgo_worker *w = rt->workers[i];
        if (w->embedded)
            continue;
        uv_walk(w->loop, close_walk_cb, NULL);
        uv_run(w->loop, UV_RUN_DEFAULT);
        uv_loop_close(w->loop);
    }
}

static void rt_free(struct uvgo_runtime *rt)
{
    if (!rt)
        return;
    for (int i = 0; i < rt->nworkers; i++)
        uvgo__aligned_free(rt->workers[i]);
    uvgo__free(rt->workers);
    pthread_mutex_destroy(&rt->lock);
    uvgo__free(rt);
}

static int rt_create(int n, uv_loop_t *host, struct uvgo_runtime **out)
{
    struct uvgo_runtime *rt = uvgo__calloc(1, sizeof *rt);
    int err;

    if (!rt)
        return UVGO_ENOMEM;
    pthread_mutex_init(&rt->lock, NULL);
    rt->embedded = host != NULL;
    rt->ticks_per_poll = calibrate_poll_ticks();
    rt->ns_per_tick = 50000.0 / (double)rt->ticks_per_poll;
    rt->workers = uvgo__calloc((size_t)n, sizeof *rt->workers);
    err = UVGO_ENOMEM;
    if (!rt->workers)
        goto fail;
    for (int i = 0; i < n; i++) {
        struct uvgo_worker *w = uvgo__aligned_calloc(UVGO_CACHELINE, sizeof *w);
        /* Each failure sets err: it may hold the previous worker's 0. */
        err = UVGO_ENOMEM;
        if (!w)
            goto fail;
        w->id = i;
        rt->workers[i] = w;
        rt->nworkers = i + 1;
        err = uvgo__sched_worker_init(rt, w, host);
        if (err) {
            uvgo__aligned_free(w);
            rt->workers[i] = NULL;
            rt->nworkers = i;
            goto fail;
        }
    }
    *out = rt;
    return 0;
fail:
    close_loops(rt);
    rt_free(rt);
    return err;
}

static void worker_thread(void *arg)
{
    struct uvgo_worker *w = arg;
    uvgo__sched_worker_run(w);
    uv_barrier_wait(&w->rt->stopped);
    uvgo__sched_worker_close(w);
}

#if defined(UVGO_TSAN)
static void destroy_fiber(uvgo_task_t *t, void *arg)
{
    (void)arg;
    if (atomic_load(&t->state) != UVGO_TASK_FREE && t->tsan_fiber) {
        __tsan_destroy_fiber(t->tsan_fiber);
        t->tsan_fiber = NULL;
    }
}
#endif

/* Stops the workers of a runtime whose main task never ran: threads 1 ..
 * started-1 run their loops; the others' loops (worker 0's included) never
 * ran and are closed from this thread. */
static void stop_unstarted(struct uvgo_runtime *rt, int started)
{
    /* No started worker waits at the barrier yet: each gets there only
     * after it sees `stopping`, set below. */
    uv_barrier_destroy(&rt->stopped);
    uv_barrier_init(&rt->stopped, (unsigned)started);
    uvgo__sched_stop_all(rt);
    uvgo__monitor_stop(rt);
    uv_barrier_wait(&rt->stopped);
    for (int i = 1; i < started; i++)
        uv_thread_join(&rt->workers[i]->thread);
    uvgo__sched_worker_close(rt->workers[0]);
    for (int i = started; i < rt->nworkers; i++)
        uvgo__sched_worker_close(rt->workers[i]);
}

/* A write to a pipe or socket whose reader has gone must fail with EPIPE,
 * not kill the process (SIGPIPE's default action), as in Go: a task
 * writing to a child that closed its stdin, or to a peer that hung up,
 * gets an error to handle.  A disposition the host program chose (a
 * handler, SIG_IGN) stays.  Children get SIG_DFL back (uv_spawn). */
static void ignore_sigpipe(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) != 0 || (sa.sa_flags & SA_SIGINFO) ||
        sa.sa_handler != SIG_DFL)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGPIPE, &sa, NULL);
}

/* An environment variable set to something other than "0". */
static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

int uvgo_main(uvgo_task_fn fn, void *arg, void **result)
{
    struct uvgo_runtime *rt = NULL;
    struct uvgo_worker *w0;
    uvgo_task_opts_t opts = {.name = "main"};
    uvgo_task_t *main_task;
    long leftover;
    int n, err, started;

    if (!fn)
        return UVGO_EINVAL;
    if (uvgo__worker_self())
        return UVGO_EBUSY;
    uvgo__mutex_lock(&start_lock, UVGO_RANK_START);
    if (atomic_load(&uvgo__rt)) {
        uvgo__mutex_unlock(&start_lock);
        return UVGO_EBUSY;
    }
    if (env_flag("UVGO_SIGQUIT"))
        (void)uvgo_dump_on_sigquit();
    uvgo__stack_global_init();
    ignore_sigpipe();
    n = effective_procs();
    err = rt_create(n, NULL, &rt);
    if (err) {
        uvgo__mutex_unlock(&start_lock);
        return err;
    }
    err = uv_barrier_init(&rt->stopped, (unsigned)n);
    if (err) {
        uvgo__mutex_unlock(&start_lock);
        close_loops(rt);
        rt_free(rt);
        return err;
    }
    w0 = rt->workers[0];
    uvgo__worker_set_self(w0);
    atomic_store_explicit(&uvgo__rt, rt, memory_order_release);
    uvgo__mutex_unlock(&start_lock);

    /* Everything that can fail happens before the main task is queued: a
     * runtime that cannot start runs nothing (uvgo/task.h). */
    err = uvgo__task_create(&main_task, fn, arg, &opts, w0, 1, 0);
    if (err) {
        for (int i = 0; i < n; i++)
            uvgo__sched_worker_close(rt->workers[i]);
        goto out;
    }
    err = uvgo__monitor_start(rt);
    if (err) {
        uvgo__task_discard(w0, main_task);
        for (int i = 0; i < n; i++)
            uvgo__sched_worker_close(rt->workers[i]);
        goto out;
    }
    for (started = 1; started < n; started++) {
        struct uvgo_worker *w = rt->workers[started];
        err = uv_thread_create(&w->thread, worker_thread, w);
        if (err)
            break;
    }
    if (err) {
        /* The address space or the thread limit ran out: those that
         * started have nothing to run and stop again. */
        uvgo__task_discard(w0, main_task);
        stop_unstarted(rt, started);
        goto out;
    }
    rt->main_task = main_task;
    uvgo__task_set_worker(main_task, w0);
    /* runnext, which no other worker steals: the main task starts on this
     * thread once its loop runs, not on a worker that started first while
     * this one is still setting up. */
    w0->runnext = main_task;
    uvgo__sched_worker_run(w0);
    /* Two phases: every worker has stopped running tasks (and the monitor
     * has stopped) before any closes the handles the others may touch. */
    uvgo__monitor_stop(rt);
    uv_barrier_wait(&rt->stopped);
    for (int i = 1; i < n; i++)
        uv_thread_join(&rt->workers[i]->thread);
    uvgo__sched_worker_close(w0);

    if (result)
        *result = rt->main_result;
    leftover = uvgo__task_live(rt);
    if (leftover > 0) {
        fprintf(stderr, "uvgo: %ld task%s still alive when main returned:\n",
                leftover, leftover == 1 ? "" : "s");
        uvgo_dump(stderr);
        if (env_flag("UVGO_LEAKCHECK"))
            err = UVGO_ELEAK;
    }
out:
#if defined(UVGO_TSAN)
    uvgo__task_records_walk(destroy_fiber, NULL);
#endif
    uvgo__mutex_lock(&start_lock, UVGO_RANK_START);
    atomic_store(&uvgo__rt, NULL);
    uvgo__stack_global_reset();
    uvgo__task_records_reset();
    uvgo__timers_reset();
    uvgo__mutex_unlock(&start_lock);
    uvgo__worker_set_self(NULL);
    uv_barrier_destroy(&rt->stopped);
    rt_free(rt);
    return err;
}

/* ---- single-loop mode -----------------------------------------------------
 */

static void embedded_closed(uv_handle_t *h)
{
    struct uvgo_worker *w = h->data;
    if (--w->open_handles == 0) {
        uvgo__timers_finish(w);
        rt_free(w->rt);
    }
}

int uvgo_loop_attach(uv_loop_t *loop)
{
    struct uvgo_runtime *rt = NULL;
    int err;

    if (!loop)
        return UVGO_EINVAL;
    uvgo__mutex_lock(&start_lock, UVGO_RANK_START);
    if (atomic_load(&uvgo__rt) || uvgo__worker_self()) {
        uvgo__mutex_unlock(&start_lock);
        return UVGO_EBUSY;
    }
    uvgo__stack_global_init();
    ignore_sigpipe();
    err = rt_create(1, loop, &rt);
    if (err) {
        uvgo__mutex_unlock(&start_lock);
        return err;
    }
    struct uvgo_worker *w = rt->workers[0];
    uvgo__worker_set_self(w);
    uvgo__sched_embedded_thread_init(w);
    atomic_store_explicit(&uvgo__rt, rt, memory_order_release);
    uvgo__mutex_unlock(&start_lock);
    return 0;
}

int uvgo_loop_detach(uv_loop_t *loop)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    struct uvgo_worker *w;
    uv_handle_t *handles[6];
    int nh = 0;

    if (!rt || !rt->embedded || rt->workers[0]->loop != loop)
        return UVGO_EINVAL;
    w = rt->workers[0];
    if (uvgo__worker_self() != w || w->current != &w->sched)
        return UVGO_EBUSY;
    if (uvgo__task_live(rt) > 0)
        return UVGO_EBUSY;
    uvgo__mutex_lock(&start_lock, UVGO_RANK_START);
    atomic_store(&uvgo__rt, NULL);
    w->closing = 1;
    /* No task is left: every stack and record can go now, as uvgo_main
     * lets them go when it returns (nothing uvgo allocated outlives a
     * runtime but the runtime record itself, freed once the handles have
     * closed). */
    uvgo__stack_cache_trim(&w->stacks, 0);
    uvgo__stack_global_reset();
    uvgo__task_records_reset();
    uvgo__timers_reset();
    uvgo__mutex_unlock(&start_lock);
    uvgo__sched_embedded_thread_close(w);
    handles[nh++] = (uv_handle_t *)&w->check;
    handles[nh++] = (uv_handle_t *)&w->prepare;
    handles[nh++] = (uv_handle_t *)&w->idle;
    handles[nh++] = (uv_handle_t *)&w->doorbell;
    handles[nh++] = (uv_handle_t *)&w->timer;
    if (w->tfd >= 0)
        handles[nh++] = (uv_handle_t *)&w->tpoll;
    w->open_handles = nh;
    for (int i = 0; i < nh; i++) {
        handles[i]->data = w;
        uv_close(handles[i], embedded_closed);
    }
    uvgo__worker_set_self(NULL);
    return 0;
}
