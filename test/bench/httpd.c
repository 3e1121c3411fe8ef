/* httpd.c: the httpd benchmark's server (see the benchmark
 * specification):
 *
 *   uvgo-bench httpd [port]    a uvgo_http_server on 127.0.0.1:port (18082)
 *                              answering every request with "Hello, World!"
 *                              (Content-Type text/plain, as the Go peer),
 *                              until SIGINT/SIGTERM; then it shuts down
 *                              gracefully and prints requests=N to stderr
 *
 * The server has the default limits and timeouts: the benchmark measures
 * what a user gets. */
#include <signal.h>

#include "bench.h"

/* GET / -> "Hello, World!", as the Go peer's handler does. */
static void httpd_hello(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                        void *arg)
{
    (void)r;
    (void)arg;
    uvgo_http_header_set(uvgo_http_writer_header(w), "Content-Type",
                         "text/plain");
    uvgo_http_writer_write(w, "Hello, World!", 13);
}

static uvgo_wg_t stopped;

static void *httpd_stop(void *arg)
{
    uvgo_http_server_t *srv = arg;
    uvgo_chan_t *ch;
    uvgo_signal_t *sub;
    int sigs[] = {SIGINT, SIGTERM}, sig;
    uvgo_chan_make(&ch, sizeof(int), 1);
    uvgo_signal_notify(&sub, ch, sigs, 2);
    uvgo_chan_recv(ch, &sig, sizeof sig, NULL);
    uvgo_ctx_t *ctx;
    uvgo_ctx_with_timeout(&ctx, NULL, 5 * UVGO_SECOND);
    uvgo_http_server_shutdown(srv, ctx, NULL);
    uvgo_ctx_cancel_release(ctx);
    uvgo_signal_stop(sub);
    uvgo_chan_release(ch);
    uvgo_wg_done(&stopped);
    return NULL;
}

static void *httpd_main(void *arg)
{
    const char *port = arg;
    uvgo_http_server_opts_t o = {.handler = httpd_hello};
    uvgo_http_server_t *srv;
    uvgo_listener_t *l;
    char addr[64];
    int err;

    snprintf(addr, sizeof addr, "127.0.0.1:%s", port);
    bench_check(uvgo_http_server_make(&srv, &o) == 0, "httpd: server");
    err = uvgo_listen(&l, "tcp", addr);
    bench_check(err == 0, "httpd: listen %s: %s", addr, uvgo_strerror(err));
    uvgo_wg_add(&stopped, 1);
    uvgo_go(httpd_stop, srv);
    fprintf(stderr, "listening on 127.0.0.1:%d\n", uvgo_listener_port(l));
    err = uvgo_http_server_serve(srv, l);
    bench_check(err == UVGO_ECLOSED, "httpd: serve: %s", uvgo_strerror(err));
    uvgo_wg_wait(&stopped);
    fprintf(stderr, "requests=%llu\n",
            (unsigned long long)uvgo_http_server_requests(srv));
    uvgo_listener_free(l);
    uvgo_http_server_free(srv);
    return NULL;
}

int bench_httpd(int argc, char **argv)
{
    const char *port = argc > 2 ? argv[2] : "18082";
    return uvgo_main(httpd_main, (void *)port, NULL) ? 1 : 0;
}
