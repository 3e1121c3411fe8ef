/* fanout.c: the main uvgo demo, an HTTP fan-out client.
 *
 * Fetches many URLs at once: at most -c requests in flight (an errgroup
 * with a limit), each one cut off after -t ms (a context per request), all
 * of them after -d ms (the group's context), connection errors and 5xx
 * answers retried -r times with backoff.  Each request is straight-line
 * code in a task of its own; uvgo's HTTP client (libcurl underneath) keeps
 * the sockets on the workers' loops, one per core.
 *
 * With no URLs it starts a uvgo HTTP server on 127.0.0.1 with fast, slow,
 * flaky, failing and hanging routes and fans out to that, so it needs no
 * network and shows the timeouts, the retries and the deadline at work.
 *
 *   run:    sh .ci/demo                               (the embedded server)
 *           build/samples/fanout [-c 16] [-t 5000] [-d 30000] [-r 2] URL...
 *           build/samples/fanout -f urls.txt          (one a line; -: stdin)
 *   prints: a live progress line on a terminal (a line per URL otherwise),
 *           then a summary: statuses, latency p50/p90/p99/max, bytes,
 *           errors by kind.
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uvgo.h>

#define MS UVGO_MILLISECOND

struct fetch { /* one URL and what became of it */
    char *url;
    int status; /* the last answer's status; 0: none */
    int err;    /* 0, or why the last attempt failed */
    int late;   /* the overall deadline cut it */
    int attempts;
    int64_t latency; /* of the last attempt */
    int64_t bytes;
};

static struct {
    int limit, retries, tty;
    int64_t timeout, deadline;
    struct fetch *urls;
    int n;
    uvgo_http_client_t *client;
    uvgo_ctx_t *ctx; /* the group's: ends at the deadline */
    atomic_int done, inflight, failed;
    int64_t t0;
} run = {
    .limit = 16, .retries = 2, .timeout = 5000 * MS, .deadline = 30000 * MS};

/* ---- one URL --------------------------------------------------------------
 */

static void attempt(struct fetch *f)
{
    uvgo_ctx_t *ctx;
    uvgo_http_response_t *r;
    char buf[16384];
    int64_t t0 = uvgo_now();
    int n;

    /* The request's own timeout, inside the group's deadline. */
    uvgo_ctx_with_timeout(&ctx, run.ctx, run.timeout);
    f->status = 0;
    f->bytes = 0;
    f->err = uvgo_http_get_ctx(run.client, f->url, &r, ctx);
    if (!f->err) {
        f->status = r->status;
        while ((n = uvgo_http_response_read(r, buf, sizeof buf)) > 0)
            f->bytes += n; /* the body streams in; we only count it */
        f->err = n;
        uvgo_http_response_free(r);
    }
    f->latency = uvgo_now() - t0;
    f->late = f->err && uvgo_ctx_err(run.ctx) != 0;
    uvgo_ctx_cancel_release(ctx);
}

static int worth_retrying(const struct fetch *f)
{
    if (f->late || f->attempts > run.retries)
        return 0;
    return f->status >= 500 || f->err == UVGO_ECONNREFUSED ||
           f->err == UVGO_ECONNRESET || f->err == UV_EPROTO;
}

static int fetch_url(void *arg)
{
    struct fetch *f = arg;
    atomic_fetch_add(&run.inflight, 1);
    for (f->attempts = 1;; f->attempts++) {
        attempt(f);
        if (!worth_retrying(f))
            break;
        /* 100 ms, 200 ms, 400 ms... plus jitter; the deadline cuts it. */
        int64_t pause =
            (100 * MS << (f->attempts - 1)) + (f - run.urls) * 7 % 50 * MS;
        if (uvgo_sleep_ctx(pause, run.ctx))
            break;
    }
    atomic_fetch_sub(&run.inflight, 1);
    atomic_fetch_add(&run.done, 1);
    if (f->err || f->status >= 400)
        atomic_fetch_add(&run.failed, 1);
    if (!run.tty) {
        char what[32];
        if (f->err)
            snprintf(what, sizeof what, "%s",
                     f->late ? "DEADLINE" : uvgo_err_name(f->err));
        else
            snprintf(what, sizeof what, "%d", f->status);
        printf("%-10s %7.1f ms %6lld B  %s%s\n", what, (double)f->latency / MS,
               (long long)f->bytes, f->url,
               f->attempts > 1 ? "  (retried)" : "");
    }
    return 0; /* a failed URL is a result, not a reason to stop the rest */
}

/* ---- progress and summary --------------------------------------------------
 */

static void *progress(void *stop)
{
    do {
        double s = (double)(uvgo_now() - run.t0) / UVGO_SECOND;
        int done = atomic_load(&run.done);
        printf("\r\033[K%d/%d done, %d in flight, %.0f req/s, %d failed", done,
               run.n, atomic_load(&run.inflight), s > 0 ? done / s : 0,
               atomic_load(&run.failed));
        fflush(stdout);
    } while (uvgo_sleep_ctx(100 * MS, stop) == 0);
    printf("\r\033[K");
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void summary(void)
{
    int64_t *lat = calloc((size_t)run.n + 1, sizeof *lat), bytes = 0;
    int nlat = 0, ok = 0;
    printf("%d URLs in %lld ms\n", run.n,
           (long long)((uvgo_now() - run.t0) / MS));
    printf("  statuses:");
    for (int code = 100; code < 600; code++) {
        int count = 0;
        for (int i = 0; i < run.n; i++)
            count += !run.urls[i].err && run.urls[i].status == code;
        if (count)
            printf("  %d x%d", code, count);
        ok += code < 400 ? count : 0;
    }
    printf("  (%d ok)\n", ok);
    for (int i = 0; i < run.n; i++) {
        bytes += run.urls[i].bytes;
        if (!run.urls[i].err)
            lat[nlat++] = run.urls[i].latency;
    }
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_i64);
    if (nlat > 0) /* percentiles as sorted[(n - 1) * p / 100] */
        printf("  latency:   p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  "
               "max %.1f ms\n",
               (double)lat[(nlat - 1) * 50 / 100] / MS,
               (double)lat[(nlat - 1) * 90 / 100] / MS,
               (double)lat[(nlat - 1) * 99 / 100] / MS,
               (double)lat[nlat - 1] / MS);
    printf("  bytes:     %lld\n", (long long)bytes);
    printf("  errors:   %s", nlat == run.n ? " none" : "");
    for (int i = 0; i < run.n; i++) { /* by kind, first seen first */
        struct fetch *f = &run.urls[i];
        int count = 0, seen = 0;
        if (!f->err)
            continue;
        for (int j = 0; j < run.n; j++) {
            struct fetch *g = &run.urls[j];
            if (g->err == f->err && g->late == f->late)
                j < i ? (void)(seen = 1) : (void)count++;
        }
        if (!seen)
            printf("  %s x%d", f->late ? "deadline" : uvgo_err_name(f->err),
                   count);
    }
    printf("\n");
    free(lat);
}

/* ---- the embedded server ----------------------------------------------------
 */

static atomic_uchar flaky_seen[256];

static void serve(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    const char *route = uvgo_http_request_path_value(r, "route");
    int id = atoi(uvgo_http_request_path_value(r, "id"));
    uvgo_ctx_t *ctx = uvgo_http_request_ctx(r); /* ends if the client goes */
    (void)arg;
    if (!strcmp(route, "fail")) {
        uvgo_http_writer_error(w, 500, "failed on purpose");
        return;
    }
    if (!strcmp(route, "flaky") && !atomic_exchange(&flaky_seen[id & 255], 1)) {
        uvgo_http_writer_error(w, 503, "try again");
        return;
    }
    if (!strcmp(route, "slow")) /* 50..950 ms */
        uvgo_sleep_ctx((50 + id * 137 % 900) * MS, ctx);
    else if (!strcmp(route, "hang")) /* until the client gives up */
        uvgo_sleep_ctx(60 * UVGO_SECOND, ctx);
    uvgo_http_writer_printf(w, "%s %d: done\n", route, id);
}

/* The demo's URLs: mostly fast, some slow, flaky, failing and hanging. */
static void demo_urls(int port)
{
    static const char *mix[] = {"fast", "fast", "slow", "fast", "flaky",
                                "fast", "fail", "fast", "slow", "hang"};
    run.n = 60;
    run.urls = calloc((size_t)run.n, sizeof *run.urls);
    for (int i = 0; i < run.n; i++) {
        run.urls[i].url = malloc(64);
        snprintf(run.urls[i].url, 64, "http://127.0.0.1:%d/%s/%d", port,
                 mix[i % 10], i);
    }
    run.limit = 8, run.timeout = 500 * MS, run.deadline = 1200 * MS;
}

static uvgo_listener_t *listener;

static void *serve_task(void *srv)
{
    uvgo_http_server_serve(srv, listener); /* until shut down */
    return NULL;
}

/* ---- main
 * -------------------------------------------------------------------- */

static void *main_task(void *arg)
{
    uvgo_http_server_t *srv = NULL;
    uvgo_http_mux_t *mux = NULL;
    uvgo_task_t *server = NULL, *bar = NULL;
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    uvgo_ctx_t *deadline, *stop;

    (void)arg;
    if (run.n == 0) { /* no URLs: serve our own */
        uvgo_http_mux_make(&mux);
        uvgo_http_mux_handle(mux, "GET /{route}/{id}", serve, NULL);
        uvgo_http_server_opts_t o = {.handler = uvgo_http_mux_serve,
                                     .arg = mux};
        uvgo_http_server_make(&srv, &o);
        uvgo_listen(&listener, "tcp", "127.0.0.1:0"); /* port 0: any */
        uvgo_task_spawn(&server, serve_task, srv, NULL);
        demo_urls(uvgo_listener_port(listener));
        printf("fanout: a server on 127.0.0.1:%d with fast, slow, flaky, "
               "failing and hanging routes\n",
               uvgo_listener_port(listener));
    }
    printf("fanout: %d URLs, %d at a time, timeout %lld ms, deadline %lld ms, "
           "%d retries, %d workers\n",
           run.n, run.limit, (long long)(run.timeout / MS),
           (long long)(run.deadline / MS), run.retries, uvgo_worker_count());
    uvgo_http_client_make(&run.client, NULL);
    uvgo_ctx_with_timeout(&deadline, NULL, run.deadline);
    uvgo_errgroup_with_ctx(&g, deadline, &run.ctx);
    uvgo_errgroup_set_limit(&g, run.limit);
    uvgo_ctx_with_cancel(&stop, NULL);
    run.t0 = uvgo_now();
    if (run.tty)
        uvgo_task_spawn(&bar, progress, stop, NULL);
    for (int i = 0; i < run.n; i++) {
        /* Parks while `limit` fetches run; gives up at the deadline. */
        int err = uvgo_errgroup_go_ctx(&g, fetch_url, &run.urls[i], run.ctx);
        if (err) /* never started */
            run.urls[i] =
                (struct fetch){.url = run.urls[i].url, .err = err, .late = 1};
    }
    uvgo_errgroup_wait(&g);
    uvgo_ctx_cancel(stop);
    if (bar)
        uvgo_task_join(bar, NULL);
    summary();

    uvgo_http_client_free(run.client);
    uvgo_ctx_release(run.ctx);
    uvgo_ctx_cancel_release(deadline);
    uvgo_ctx_release(stop);
    if (srv) { /* a moment for the hanging handlers, then cut them */
        uvgo_ctx_t *grace;
        uvgo_ctx_with_timeout(&grace, NULL, 100 * MS);
        uvgo_http_server_shutdown(srv, grace, NULL);
        uvgo_ctx_cancel_release(grace);
        uvgo_task_join(server, NULL);
        uvgo_listener_free(listener);
        uvgo_http_server_free(srv);
        uvgo_http_mux_free(mux);
    }
    return NULL;
}

/* Appends the URLs of a file (one a line; "-": standard input). */
static void read_urls(const char *path)
{
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    if (!in) {
        perror(path);
        exit(2);
    }
    while ((len = getline(&line, &cap, in)) > 0) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (!*line || *line == '#')
            continue;
        run.urls = realloc(run.urls, (size_t)(run.n + 1) * sizeof *run.urls);
        run.urls[run.n++] = (struct fetch){.url = strdup(line)};
    }
    free(line);
    if (in != stdin)
        fclose(in);
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "c:t:d:r:f:")) != -1) {
        switch (c) {
        case 'c':
            run.limit = atoi(optarg);
            break;
        case 't':
            run.timeout = atoll(optarg) * MS;
            break;
        case 'd':
            run.deadline = atoll(optarg) * MS;
            break;
        case 'r':
            run.retries = atoi(optarg);
            break;
        case 'f':
            read_urls(optarg);
            break;
        default:
            fprintf(stderr, "usage: fanout [-c limit] [-t timeout_ms] "
                            "[-d deadline_ms] [-r retries] [-f file] URL...\n");
            return 2;
        }
    }
    for (; optind < argc; optind++) {
        run.urls = realloc(run.urls, (size_t)(run.n + 1) * sizeof *run.urls);
        run.urls[run.n++] = (struct fetch){.url = strdup(argv[optind])};
    }
    run.tty = isatty(1);
    int err = uvgo_main(main_task, NULL, NULL);
    if (err < 0)
        fprintf(stderr, "fanout: %s\n", uvgo_strerror(err));
    for (int i = 0; i < run.n; i++)
        free(run.urls[i].url);
    free(run.urls);
    return err < 0;
}
