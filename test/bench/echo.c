/* echo.c: the echo benchmark's network commands (see the benchmark
 * specification):
 *
 *   uvgo-bench echo-server [port]           echo on 127.0.0.1:port (18092)
 *                                           until SIGINT/SIGTERM, then
 *                                           print bytes=N to stderr
 *   uvgo-bench echo-client host:port [variant]
 *                                           64 connections x 10,000
 *                                           64-byte messages, each echo
 *                                           checked; prints the result line
 */
#include <signal.h>
#include <stdatomic.h>

#include "bench.h"

/* ---- server -------------------------------------------------------------- */

static atomic_llong echoed;

static void echo_conn(uvgo_conn_t *c, void *arg)
{
    char buf[16384];
    long long n = 0;
    int r;
    (void)arg;
    while ((r = uvgo_conn_read(c, buf, sizeof buf)) > 0) {
        if (uvgo_conn_write(c, buf, (size_t)r, NULL))
            break;
        n += r;
    }
    atomic_fetch_add_explicit(&echoed, n, memory_order_relaxed);
}

struct serve_arg {
    uvgo_listener_t *l;
    uvgo_ctx_t *ctx;
};

static void *serve_task(void *arg)
{
    struct serve_arg *s = arg;
    return (void *)(intptr_t)uvgo_serve(s->l, echo_conn, NULL, s->ctx, 0);
}

static void *server_main(void *arg)
{
    const char *port = arg;
    char addr[64];
    struct serve_arg s;
    uvgo_chan_t *sigs;
    uvgo_signal_t *sub;
    uvgo_task_t *t;
    int signals[2] = {SIGINT, SIGTERM}, sig, err;

    snprintf(addr, sizeof addr, "127.0.0.1:%s", port);
    if ((err = uvgo_listen(&s.l, "tcp", addr))) {
        fprintf(stderr, "echo-server: listen %s: %s\n", addr,
                uvgo_strerror(err));
        exit(1);
    }
    uvgo_chan_make(&sigs, sizeof(int), 1);
    uvgo_signal_notify(&sub, sigs, signals, 2);
    uvgo_ctx_with_cancel(&s.ctx, NULL);
    uvgo_task_spawn(&t, serve_task, &s, NULL);
    uvgo_listener_name(s.l, addr, sizeof addr);
    fprintf(stderr, "listening on %s with %d loops\n", addr,
            uvgo_worker_count());
    uvgo_chan_recv(sigs, &sig, sizeof sig, NULL);
    uvgo_ctx_cancel(s.ctx);
    uvgo_task_join(t, NULL);
    fprintf(stderr, "bytes=%lld\n", (long long)atomic_load(&echoed));
    uvgo_signal_stop(sub);
    uvgo_chan_release(sigs);
    uvgo_ctx_release(s.ctx);
    uvgo_listener_free(s.l);
    return NULL;
}

int bench_echo_server(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    return uvgo_main(server_main, argc > 2 ? argv[2] : "18092", NULL) != 0;
}

/* ---- client -------------------------------------------------------------- */

#define ECHO_CONNS 64
#define ECHO_SIZE 64

static struct {
    const char *addr;
    long msgs;
    atomic_long done;
} client;

static void *client_conn(void *arg)
{
    uint64_t id = (uint64_t)(intptr_t)arg;
    unsigned char out[ECHO_SIZE] = {0}, in[ECHO_SIZE];
    uvgo_conn_t *c;
    int err;

    if ((err = uvgo_dial(&c, "tcp", client.addr))) {
        fprintf(stderr, "echo-client: dial %s: %s\n", client.addr,
                uvgo_strerror(err));
        exit(1);
    }
    for (long i = 0; i < client.msgs; i++) {
        uint64_t v = id << 32 | (uint64_t)i;
        memcpy(out, &v, sizeof v);
        if ((err = uvgo_conn_write(c, out, sizeof out, NULL)) ||
            (err = uvgo_conn_read_full(c, in, sizeof in, NULL))) {
            fprintf(stderr, "echo-client: %s\n", uvgo_strerror(err));
            exit(1);
        }
        bench_check(memcmp(in, out, sizeof in) == 0,
                    "echo-client: conn %d message %ld came back wrong", (int)id,
                    i);
    }
    atomic_fetch_add(&client.done, client.msgs);
    uvgo_conn_free(c);
    return NULL;
}

static void *client_main(void *arg)
{
    const char *variant = arg;
    uvgo_task_t *t[ECHO_CONNS];
    int64_t t0 = uvgo_now();
    char extra[64];

    for (int i = 0; i < ECHO_CONNS; i++) {
        uvgo_task_opts_t o = {"echo client", 0, i % uvgo_worker_count() + 1, 0};
        uvgo_task_spawn(&t[i], client_conn, (void *)(intptr_t)i, &o);
    }
    for (int i = 0; i < ECHO_CONNS; i++)
        uvgo_task_join(t[i], NULL);
    int64_t elapsed = uvgo_now() - t0;
    long total = ECHO_CONNS * client.msgs;
    bench_check(atomic_load(&client.done) == total,
                "echo-client: %ld of %ld messages", atomic_load(&client.done),
                total);
    snprintf(extra, sizeof extra, "ops_per_s=%.0f",
             (double)total * 1e9 / (double)elapsed);
    bench_report("echo", variant, total, elapsed, extra);
    return NULL;
}

int bench_echo_client(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: uvgo-bench echo-client host:port [variant]\n");
        return 2;
    }
    client.addr = argv[2];
    client.msgs = bench_scale(10000);
    signal(SIGPIPE, SIG_IGN);
    return uvgo_main(client_main, argc > 3 ? argv[3] : "uvgo", NULL) != 0;
}
