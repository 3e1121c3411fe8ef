/* uvgo/metrics.h: runtime metrics (Go's runtime/metrics, Tokio's
 * RuntimeMetrics).
 *
 * Each worker keeps its own counters, written only by its own thread with
 * plain stores (no atomic read-modify-write, no cache line shared with
 * other workers on the hot path), so they stay on in production.
 * uvgo_metrics_read() adds them up without stopping anything: each number
 * is exact for its worker at some instant during the call.  Counters only
 * grow (compare two snapshots for rates); gauges (runnable, timers) are
 * the value at that instant.
 *
 * Scheduling latency is the time from a task becoming runnable (woken, or
 * spawned) to running.  It is sampled, one in UVGO_METRICS_SAMPLE_EVERY of
 * each worker's wake-ups, into a histogram of power-of-two buckets: bucket
 * i counts samples in [2^i, 2^(i+1)) ns; the last also counts longer ones.
 */
#ifndef UVGO_METRICS_H
#define UVGO_METRICS_H

#include <stdint.h>

#include "errno.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UVGO_METRICS_LATENCY_BUCKETS 32
#define UVGO_METRICS_SAMPLE_EVERY 16

/* One worker's numbers, or their sum over all workers. */
typedef struct uvgo_worker_metrics {
    uint64_t tasks_run;    /* runs of a task that ended (park, yield, exit) */
    uint64_t parks;        /* times a task blocked (chan, timer, lock...) */
    uint64_t yields;       /* uvgo_task_yield() calls that switched */
    uint64_t steals;       /* successful steals by this worker */
    uint64_t tasks_stolen; /* tasks taken in those steals */
    uint64_t inbox_tasks;  /* tasks handed over by other threads */
    uint64_t doorbells;    /* wake-up system calls made for this worker */
    uint64_t polls;        /* times the worker polled its loop */
    uint64_t spawned;      /* tasks created here */
    int64_t runnable;      /* tasks queued to run here now */
    int64_t timers;        /* timers and sleepers pending here now */
    int64_t busy_ns;       /* time not blocked in the loop's poll */
    int64_t idle_ns;       /* time blocked in the loop's poll */
    uint64_t latency[UVGO_METRICS_LATENCY_BUCKETS]; /* sampled, see top */
} uvgo_worker_metrics_t;

/* A whole-runtime snapshot. */
typedef struct uvgo_metrics {
    int workers;
    int64_t tasks_alive;         /* spawned and not yet freed */
    uvgo_worker_metrics_t total; /* every worker's numbers, added up */
    int64_t latency_p50_ns;      /* from total.latency; 0 if no samples */
    int64_t latency_p99_ns;
} uvgo_metrics_t;

/* Fills *m, and per_worker[0 .. n-1] with workers 0 .. n-1 when per_worker
 * is not NULL (n beyond the worker count is ignored).  Returns the number
 * of workers, UVGO_EINVAL (NULL m, n < 0) or UVGO_ENOTTASK when no runtime
 * runs.  Owner: the caller's structs.  Thread: any, while a runtime runs. */
UVGO_EXTERN int uvgo_metrics_read(uvgo_metrics_t *m,
                                  uvgo_worker_metrics_t *per_worker, int n);

/* The p-th percentile (0 < p <= 100) of a latency histogram, in ns: the
 * upper bound of the bucket that holds it; 0 for an empty histogram.
 * Owner: none.  Thread: any. */
UVGO_EXTERN int64_t uvgo_metrics_percentile(
    const uint64_t hist[UVGO_METRICS_LATENCY_BUCKETS], double p);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_METRICS_H */
