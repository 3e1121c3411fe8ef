/* fanout.c: `uvgo-bench fanout URL`, the HTTP client benchmark of the
 * specification: 20,000 GETs of URL with at most 128 in flight over
 * kept-alive connections, every response checked (status 200, body
 * "Hello, World!").  128 tasks take request numbers from one counter, as
 * the Go peer's goroutines do, on one worker per core.  Prints the result
 * line with ops_per_s and conns (connections opened). */
#include <stdatomic.h>

#include "bench.h"

#define INFLIGHT 128

static struct {
    const char *url;
    long n;
    atomic_long next, ok;
    uvgo_http_client_t *client;
    uvgo_wg_t wg;
} fo;

static void *fanout_worker(void *arg)
{
    uvgo_http_response_t *r;
    char *body;
    size_t len;
    int err;

    (void)arg;
    while (atomic_fetch_add_explicit(&fo.next, 1, memory_order_relaxed) <
           fo.n) {
        uvgo_http_client_request_t req = {.url = fo.url};
        if ((err = uvgo_http_do(fo.client, &req, &r)))
            bench_check(0, "fanout: %s: %s", uvgo_err_name(err), req.error);
        err = uvgo_http_response_read_all(r, &body, &len, 1024);
        bench_check(!err && r->status == 200 && len == 13 &&
                        !memcmp(body, "Hello, World!", 13),
                    "fanout: status %d body %.*s err %s", r->status, (int)len,
                    body ? body : "", uvgo_err_name(err));
        uvgo_http_response_free(r);
        atomic_fetch_add_explicit(&fo.ok, 1, memory_order_relaxed);
    }
    uvgo_wg_done(&fo.wg);
    return NULL;
}

static void *fanout_main(void *arg)
{
    /* As the Go peer's transport: as many connections as requests in
     * flight, all kept idle between requests, no compression. */
    uvgo_http_client_opts_t o = {.max_conns_per_host = INFLIGHT,
                                 .max_idle_conns = INFLIGHT,
                                 .disable_compression = 1};
    uvgo_http_client_stats_t st;
    char extra[128];
    int64_t t0, elapsed;

    (void)arg;
    bench_check(uvgo_http_client_make(&fo.client, &o) == 0, "client");
    t0 = uvgo_now();
    uvgo_wg_add(&fo.wg, INFLIGHT);
    for (int i = 0; i < INFLIGHT; i++)
        bench_check(uvgo_go(fanout_worker, NULL) == 0, "spawn");
    uvgo_wg_wait(&fo.wg);
    elapsed = uvgo_now() - t0;
    bench_check(atomic_load(&fo.ok) == fo.n, "fanout: %ld of %ld responses",
                atomic_load(&fo.ok), fo.n);
    uvgo_http_client_stats(fo.client, &st);
    snprintf(extra, sizeof extra, "ops_per_s=%.0f conns=%llu",
             (double)fo.n * 1e9 / (double)elapsed,
             (unsigned long long)st.conns);
    bench_report("fanout", "all", fo.n, elapsed, extra);
    bench_check(uvgo_http_client_free(fo.client) == 0, "client free");
    return NULL;
}

int bench_fanout(const char *url)
{
    fo.url = url;
    fo.n = bench_scale(20000);
    return uvgo_main(fanout_main, NULL, NULL) ? 1 : 0;
}
