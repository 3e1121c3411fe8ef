/* metrics.c: snapshots of the workers' counters (uvgo/metrics.h).  The
 * counters themselves are bumped where things happen (sched.c, task.c);
 * this only reads and adds them up, from any thread. */
#include "runtime/runtime.h"

#include <string.h>

static uint64_t load(atomic_ulong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int64_t queued(struct uvgo_worker *w)
{
    uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
    uint32_t n = t - h;
    /* Head and tail read at different instants: never report nonsense. */
    return n <= UVGO_RUNQ_SIZE ? (int64_t)n : 0;
}

static void read_worker(struct uvgo_worker *w, uvgo_worker_metrics_t *m)
{
    struct uvgo_worker_stats *s = &w->stats;
    uint64_t now = uv_hrtime();

    memset(m, 0, sizeof *m);
    m->parks = load(&s->parks);
    m->yields = load(&s->yields);
    m->tasks_run = m->parks + m->yields + load(&s->exits);
    m->steals = load(&s->steals);
    m->tasks_stolen = load(&s->tasks_stolen);
    m->inbox_tasks = load(&s->inbox_tasks);
    m->polls = load(&s->polls);
    m->doorbells = atomic_load_explicit(&w->doorbells, memory_order_relaxed);
    m->spawned =
        (uint64_t)atomic_load_explicit(&w->spawned, memory_order_relaxed);
    m->runnable = queued(w);
    m->timers = atomic_load_explicit(&w->ntimers, memory_order_relaxed) +
                atomic_load_explicit(&w->nchan_timers, memory_order_relaxed);
    m->idle_ns = (int64_t)load(&s->idle_ns);
    m->busy_ns = (int64_t)(now - w->started_ns) - m->idle_ns;
    if (m->busy_ns < 0)
        m->busy_ns = 0;
    for (int i = 0; i < UVGO_METRICS_LATENCY_BUCKETS; i++)
        m->latency[i] = load(&s->latency[i]);
}

static void add(uvgo_worker_metrics_t *sum, const uvgo_worker_metrics_t *m)
{
    sum->tasks_run += m->tasks_run;
    sum->parks += m->parks;
    sum->yields += m->yields;
    sum->steals += m->steals;
    sum->tasks_stolen += m->tasks_stolen;
    sum->inbox_tasks += m->inbox_tasks;
    sum->doorbells += m->doorbells;
    sum->polls += m->polls;
    sum->spawned += m->spawned;
    sum->runnable += m->runnable;
    sum->timers += m->timers;
    sum->busy_ns += m->busy_ns;
    sum->idle_ns += m->idle_ns;
    for (int i = 0; i < UVGO_METRICS_LATENCY_BUCKETS; i++)
        sum->latency[i] += m->latency[i];
}

int uvgo_metrics_read(uvgo_metrics_t *m, uvgo_worker_metrics_t *per_worker,
                      int n)
{
    struct uvgo_runtime *rt =
        atomic_load_explicit(&uvgo__rt, memory_order_acquire);
    uvgo_worker_metrics_t one;

    if (!m || n < 0)
        return UVGO_EINVAL;
    if (!rt)
        return UVGO_ENOTTASK;
    memset(m, 0, sizeof *m);
    m->workers = rt->nworkers;
    for (int i = 0; i < rt->nworkers; i++) {
        read_worker(rt->workers[i], &one);
        add(&m->total, &one);
        if (per_worker && i < n)
            per_worker[i] = one;
    }
    m->total.spawned += (uint64_t)atomic_load(&rt->foreign_spawned);
    m->tasks_alive = uvgo__task_live(rt);
    m->latency_p50_ns = uvgo_metrics_percentile(m->total.latency, 50);
    m->latency_p99_ns = uvgo_metrics_percentile(m->total.latency, 99);
    return rt->nworkers;
}

int64_t
uvgo_metrics_percentile(const uint64_t hist[UVGO_METRICS_LATENCY_BUCKETS],
                        double p)
{
    uint64_t total = 0, seen = 0, rank;

    if (!hist || !(p > 0 && p <= 100))
        return 0;
    for (int i = 0; i < UVGO_METRICS_LATENCY_BUCKETS; i++)
        total += hist[i];
    if (!total)
        return 0;
    /* The smallest bucket by which p percent of the samples are counted. */
    rank = (uint64_t)((double)total * p / 100.0 + 0.5);
    if (rank < 1)
        rank = 1;
    for (int i = 0; i < UVGO_METRICS_LATENCY_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank)
            return (int64_t)1 << (i + 1);
    }
    return (int64_t)1 << UVGO_METRICS_LATENCY_BUCKETS;
}
