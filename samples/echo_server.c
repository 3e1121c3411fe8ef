/* echo_server.c: a TCP echo service with a graceful shutdown.
 *
 * Shows uvgo_listen and uvgo_serve (a task per connection, on the worker
 * that accepted it), connections read and written as straight-line code,
 * and a shutdown driven by a context: on SIGINT or SIGTERM it stops
 * accepting, lets live connections finish for up to 2 s, then closes
 * them and prints what it served.
 *
 *   echo_server [port]          serve on 127.0.0.1:port (0: any free port)
 *   echo_server --self-test     serve on a free port, talk to itself
 *                               through 8 clients, shut down, exit 0
 *
 * Prints "listening on 127.0.0.1:PORT", then at the end
 * "connections=N bytes=N".
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uvgo.h>

static atomic_long connections, bytes;

/* One connection: echo until the peer stops sending or we are closed. */
static void echo(uvgo_conn_t *c, void *arg)
{
    char buf[4096];
    int n;
    (void)arg;
    atomic_fetch_add(&connections, 1);
    while ((n = uvgo_conn_read(c, buf, sizeof buf)) > 0) {
        if (uvgo_conn_write(c, buf, (size_t)n, NULL) != 0)
            break;
        atomic_fetch_add(&bytes, n);
    }
}

/* A client of the self-test: sends lines and checks what comes back. */
static void *client(void *arg)
{
    const char *addr = arg;
    char line[64], back[64];
    uvgo_conn_t *c;
    if (uvgo_dial(&c, "tcp", addr) != 0)
        return (void *)1;
    for (int i = 0; i < 100; i++) {
        int n = snprintf(line, sizeof line, "line %d from task %llu\n", i,
                         (unsigned long long)uvgo_task_id(NULL));
        if (uvgo_conn_write(c, line, (size_t)n, NULL) != 0 ||
            uvgo_conn_read_full(c, back, (size_t)n, NULL) != 0 ||
            memcmp(line, back, (size_t)n) != 0) {
            uvgo_conn_free(c);
            return (void *)1;
        }
    }
    uvgo_conn_free(c);
    return NULL;
}

/* Cancels ctx on SIGINT or SIGTERM; returns when ctx is done either way. */
static void *watch_signals(void *arg)
{
    uvgo_chan_t *sigs;
    uvgo_signal_t *sub;
    int which[2] = {SIGINT, SIGTERM}, sig;
    uvgo_chan_make(&sigs, sizeof(int), 1);
    uvgo_signal_notify(&sub, sigs, which, 2);
    if (uvgo_chan_recv_ctx(sigs, &sig, sizeof sig, NULL, arg) == 0)
        printf("signal %d: shutting down\n", sig);
    uvgo_ctx_cancel(arg);
    uvgo_signal_stop(sub);
    uvgo_chan_release(sigs);
    return NULL;
}

/* The self-test: 8 clients at once, then stop the server. */
static void *self_test(void *arg)
{
    uvgo_ctx_t *ctx = ((void **)arg)[0];
    const char *addr = ((void **)arg)[1];
    uvgo_task_t *clients[8];
    intptr_t failed = 0;
    for (int i = 0; i < 8; i++)
        uvgo_task_spawn(&clients[i], client, (void *)addr, NULL);
    for (int i = 0; i < 8; i++) {
        void *r;
        uvgo_task_join(clients[i], &r);
        failed |= r != NULL;
    }
    uvgo_ctx_cancel(ctx);
    return (void *)failed;
}

static void *main_task(void *arg)
{
    const char *port = arg;
    int testing = strcmp(port, "--self-test") == 0;
    char addr[64];
    uvgo_listener_t *l;
    uvgo_ctx_t *ctx;
    uvgo_task_t *watcher, *tester = NULL;
    void *failed = NULL;
    int err;

    snprintf(addr, sizeof addr, "127.0.0.1:%s", testing ? "0" : port);
    if ((err = uvgo_listen(&l, "tcp", addr)) != 0) {
        fprintf(stderr, "listen %s: %s\n", addr, uvgo_strerror(err));
        return (void *)1;
    }
    uvgo_listener_name(l, addr, sizeof addr);
    printf("listening on %s\n", addr);
    fflush(stdout);
    uvgo_ctx_with_cancel(&ctx, NULL);
    uvgo_task_spawn(&watcher, watch_signals, ctx, NULL);
    void *test_arg[2] = {ctx, addr};
    if (testing)
        uvgo_task_spawn(&tester, self_test, test_arg, NULL);
    /* Until ctx is done; then 2 s for live connections to finish. */
    err = uvgo_serve(l, echo, NULL, ctx, 2 * UVGO_SECOND);
    printf("connections=%ld bytes=%ld (%s)\n", atomic_load(&connections),
           atomic_load(&bytes), uvgo_strerror(err));
    if (tester)
        uvgo_task_join(tester, &failed);
    uvgo_task_join(watcher, NULL);
    uvgo_listener_free(l);
    uvgo_ctx_release(ctx);
    return failed;
}

int main(int argc, char **argv)
{
    void *failed = NULL;
    signal(SIGPIPE, SIG_IGN);
    if (uvgo_main(main_task, argc > 1 ? argv[1] : "7007", &failed) != 0)
        return 1;
    return failed != NULL;
}
