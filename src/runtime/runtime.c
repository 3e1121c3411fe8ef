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
static uint64_t calibrate_poll_ticks(void)
{
    static uint64_t cached;
    if (!cached) {
        uint64_t t0 = uv_hrtime(), c0 = uvgo__ticks(), t1, c1;
        do {
            t1 = uv_hrtime();
        } while (t1 - t0 < 200000);
        c1 = uvgo__ticks();
        cached = (c1 - c0) * 50000 / (t1 - t0);
        if (!cached)
            cached = 1;
    }
    return cached;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void rt_free(struct uvgo_runtime *rt)
{
    if (!rt)
        return;
    for (int i = 0; i < rt->nworkers; i++)
        free(rt->workers[i]);
    free(rt->workers);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

static int rt_create(int n, uv_loop_t *host, struct uvgo_runtime **out)
{
    struct uvgo_runtime *rt = calloc(1, sizeof *rt);
    int err = UVGO_ENOMEM;

    if (!rt)
        return UVGO_ENOMEM;
    pthread_mutex_init(&rt->lock, NULL);
    rt->embedded = host != NULL;
    rt->ticks_per_poll = calibrate_poll_ticks();
    rt->workers = calloc((size_t)n, sizeof *rt->workers);
    if (!rt->workers)
        goto fail;
    for (int i = 0; i < n; i++) {
        struct uvgo_worker *w = aligned_alloc(UVGO_CACHELINE,
                                              (sizeof *w + UVGO_CACHELINE - 1) &
                                                  ~(size_t)(UVGO_CACHELINE - 1));
        if (!w)
            goto fail;
        memset(w, 0, sizeof *w);
        w->id = i;
        rt->workers[i] = w;
        rt->nworkers = i + 1;
        err = uvgo__sched_worker_init(rt, w, host);
        if (err) {
            free(w);
            rt->workers[i] = NULL;
            rt->nworkers = i;
            goto fail;
        }
    }
    *out = rt;
    return 0;
fail:
    for (int i = 0; i < rt->nworkers; i++) {
        struct uvgo_worker *w = rt->workers[i];
        uv_walk(w->loop, close_walk_cb, NULL);
        uv_run(w->loop, UV_RUN_DEFAULT);
        uv_loop_close(w->loop);
    }
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
    int n, err;

    if (!fn)
        return UVGO_EINVAL;
    if (uvgo__worker_self())
        return UVGO_EBUSY;
    pthread_mutex_lock(&start_lock);
    if (atomic_load(&uvgo__rt)) {
        pthread_mutex_unlock(&start_lock);
        return UVGO_EBUSY;
    }
    if (env_flag("UVGO_SIGQUIT"))
        (void)uvgo_dump_on_sigquit();
    uvgo__stack_global_init();
    n = effective_procs();
    err = rt_create(n, NULL, &rt);
    if (err) {
        pthread_mutex_unlock(&start_lock);
        return err;
    }
    if (uv_barrier_init(&rt->stopped, (unsigned)n)) {
        pthread_mutex_unlock(&start_lock);
        err = UVGO_ENOMEM;
        goto out_early;
    }
    w0 = rt->workers[0];
    uvgo__worker_set_self(w0);
    atomic_store_explicit(&uvgo__rt, rt, memory_order_release);
    pthread_mutex_unlock(&start_lock);

    err = uvgo__task_create(&main_task, fn, arg, &opts, w0, 0);
    if (err) {
        /* Nothing ran: close the loops from here. */
        for (int i = 0; i < n; i++)
            uvgo__sched_worker_close(rt->workers[i]);
        goto out;
    }
    rt->main_task = main_task;
    uvgo__task_set_worker(main_task, w0);
    uvgo__runq_put(w0, main_task);

    /* The monitor is a backstop (see sched.c); run without it if need be. */
    (void)uvgo__monitor_start(rt);
    for (int i = 1; i < n; i++) {
        err = uv_thread_create(&rt->workers[i]->thread, worker_thread,
                               rt->workers[i]);
        if (err) {
            /* Run with the workers we have: the others' loops stay idle. */
            uvgo__panic("uvgo_main: cannot start worker thread %d: %s", i,
                        uv_strerror(err));
        }
    }
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
    pthread_mutex_lock(&start_lock);
    atomic_store(&uvgo__rt, NULL);
    uvgo__stack_global_reset();
    uvgo__task_records_reset();
    pthread_mutex_unlock(&start_lock);
    uvgo__worker_set_self(NULL);
    uv_barrier_destroy(&rt->stopped);
    rt_free(rt);
    return err;
out_early:
    for (int i = 0; i < n; i++) {
        struct uvgo_worker *w = rt->workers[i];
        uv_walk(w->loop, close_walk_cb, NULL);
        uv_run(w->loop, UV_RUN_DEFAULT);
        uv_loop_close(w->loop);
    }
    rt_free(rt);
    return err;
}

/* ---- single-loop mode ----------------------------------------------------- */

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
    pthread_mutex_lock(&start_lock);
    if (atomic_load(&uvgo__rt) || uvgo__worker_self()) {
        pthread_mutex_unlock(&start_lock);
        return UVGO_EBUSY;
    }
    uvgo__stack_global_init();
    err = rt_create(1, loop, &rt);
    if (err) {
        pthread_mutex_unlock(&start_lock);
        return err;
    }
    struct uvgo_worker *w = rt->workers[0];
    uvgo__worker_set_self(w);
    uvgo__sched_embedded_thread_init(w);
    atomic_store_explicit(&uvgo__rt, rt, memory_order_release);
    pthread_mutex_unlock(&start_lock);
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
    pthread_mutex_lock(&start_lock);
    atomic_store(&uvgo__rt, NULL);
    pthread_mutex_unlock(&start_lock);
    w->closing = 1;
    uvgo__stack_cache_trim(&w->stacks, 0);
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
