/* test-net.c: addresses, DNS, dial, listeners, serve, UDP (uvgo/net.h). */
#include <dirent.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "test.h"

#define MS UVGO_MILLISECOND

/* ---- helpers ------------------------------------------------------------- */

static void echo_handler(uvgo_conn_t *c, void *arg)
{
    char buf[4096];
    int n;
    (void)arg;
    while ((n = uvgo_conn_read(c, buf, sizeof buf)) > 0)
        if (uvgo_conn_write(c, buf, (size_t)n, NULL))
            break;
}

struct server {
    uvgo_listener_t *l;
    uvgo_ctx_t *ctx;
    uvgo_task_t *task;
    char addr[128];
};

static void *serve_task(void *arg)
{
    struct server *s = arg;
    return (void *)(intptr_t)uvgo_serve(s->l, echo_handler, NULL, s->ctx, 0);
}

/* Starts an echo server on network/address; returns 0 or listen's error. */
static int server_start(struct server *s, const char *network,
                        const char *address)
{
    int err = uvgo_listen(&s->l, network, address);
    if (err)
        return err;
    ASSERT_GE(uvgo_listener_name(s->l, s->addr, sizeof s->addr), 0);
    s->ctx = test_ctx_cancel();
    s->task = test_spawn(serve_task, s);
    return 0;
}

static void server_stop(struct server *s)
{
    uvgo_ctx_cancel(s->ctx);
    ASSERT_ERR(test_join(s->task), UVGO_ECANCELED);
    uvgo_listener_free(s->l);
    uvgo_ctx_release(s->ctx);
}

static void round_trip(uvgo_conn_t *c, const char *msg)
{
    char buf[256];
    size_t n = strlen(msg);
    ASSERT_OK(uvgo_conn_write(c, msg, n, NULL));
    ASSERT_OK(uvgo_conn_read_full(c, buf, n, NULL));
    ASSERT_EQ(memcmp(buf, msg, n), 0);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    ASSERT(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- addresses ----------------------------------------------------------- */

static void addresses_parse_as_go_does(void)
{
    struct sockaddr_storage sa;
    char host[64], port[16], text[64];

    ASSERT_OK(
        uvgo_split_host_port("[::1]:80", host, sizeof host, port, sizeof port));
    ASSERT_STR_EQ(host, "::1");
    ASSERT_STR_EQ(port, "80");
    ASSERT_OK(
        uvgo_split_host_port(":8080", host, sizeof host, port, sizeof port));
    ASSERT_STR_EQ(host, "");
    ASSERT_OK(uvgo_addr_parse("tcp", "127.0.0.1:8080", &sa));
    ASSERT_EQ(uvgo_sockaddr_format((struct sockaddr *)&sa, text, sizeof text),
              14);
    ASSERT_STR_EQ(text, "127.0.0.1:8080");
    ASSERT_OK(uvgo_addr_parse("tcp6", "[::1]:443", &sa));
    uvgo_sockaddr_format((struct sockaddr *)&sa, text, sizeof text);
    ASSERT_STR_EQ(text, "[::1]:443");
    ASSERT_OK(uvgo_addr_parse("tcp", ":0", &sa));
    ASSERT_EQ(sa.ss_family, AF_INET);
    ASSERT_OK(uvgo_addr_parse("unix", "/tmp/x.sock", &sa));
    ASSERT_EQ(sa.ss_family, AF_UNIX);
    ASSERT_ERR(uvgo_sockaddr_format((struct sockaddr *)&sa, text, 3),
               UVGO_ENOBUFS);
}

static void malformed_addresses_are_einval(void)
{
    struct sockaddr_storage sa;
    uvgo_conn_t *c;
    uvgo_listener_t *l;
    static const char *bad[] = {
        "1.2.3.4", "1.2.3.4:70000", "[::1",       "[::1]",
        "",        "::1:80",        "1.2.3.4:-1", "[::1]x:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_ERR(uvgo_addr_parse("tcp", bad[i], &sa), UVGO_EINVAL);
        ASSERT_ERR(uvgo_dial(&c, "tcp", bad[i]), UVGO_EINVAL);
        ASSERT_ERR(uvgo_listen(&l, "tcp", bad[i]), UVGO_EINVAL);
    }
    ASSERT_ERR(uvgo_addr_parse("tcp", "localhost:80", &sa), UVGO_EINVAL);
    ASSERT_ERR(uvgo_addr_parse("tcp4", "[::1]:80", &sa), UVGO_EAFNOSUPPORT);
    ASSERT_ERR(uvgo_dial(&c, "ipx", "127.0.0.1:80"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_dial(&c, NULL, "127.0.0.1:80"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_listen(&l, "udp", "127.0.0.1:0"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_dial(&c, "unix", ""), UVGO_EINVAL);
    int r = uvgo_lookup_port("tcp", "no-such-service-uvgo");
    ASSERT(r == UVGO_EAI_SERVICE || r == UVGO_EAI_NONAME);
}

/* ---- DNS ----------------------------------------------------------------- */

static void localhost_resolves_to_loopback(void)
{
    struct sockaddr_storage sa[8];
    char text[64];
    int n = uvgo_lookup_host("localhost", sa, 8);
    ASSERT_GE(n, 1);
    for (int i = 0; i < n; i++) {
        uvgo_sockaddr_format((struct sockaddr *)&sa[i], text, sizeof text);
        ASSERT(!strcmp(text, "127.0.0.1:0") || !strcmp(text, "[::1]:0"));
    }
    /* Names under .localhost are loopback too (RFC 6761), whether or not
     * the system's resolver knows them; and so is "localhost" on a
     * machine without /etc/hosts (a minimal container). */
    const char *names[] = {"uvgo-test.localhost", "A.B.LOCALHOST."};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        n = uvgo_lookup_host(names[k], sa, 8);
        ASSERT_GE(n, 1);
        for (int i = 0; i < n; i++) {
            uvgo_sockaddr_format((struct sockaddr *)&sa[i], text, sizeof text);
            ASSERT(!strcmp(text, "127.0.0.1:0") || !strcmp(text, "[::1]:0"));
        }
    }
    ASSERT_EQ(uvgo_resolve("tcp6", "x.localhost:7", sa, 8), 1);
    uvgo_sockaddr_format((struct sockaddr *)&sa[0], text, sizeof text);
    ASSERT_STR_EQ(text, "[::1]:7");
    ASSERT_EQ(uvgo_lookup_port("tcp", "http"), 80);
    ASSERT_EQ(uvgo_lookup_port("udp", "53"), 53);
    ASSERT_EQ(uvgo_resolve("tcp4", "localhost:http", sa, 8), 1);
    uvgo_sockaddr_format((struct sockaddr *)&sa[0], text, sizeof text);
    ASSERT_STR_EQ(text, "127.0.0.1:80");
    char name[256];
    struct sockaddr_in lo;
    uv_ip4_addr("127.0.0.1", 0, &lo);
    int err = uvgo_lookup_addr((struct sockaddr *)&lo, name, sizeof name);
    ASSERT(err == 0 || err == UVGO_EAI_NONAME || err == UVGO_EAI_AGAIN);
    /* Errors have names. */
    ASSERT_STR_EQ(uvgo_err_name(UVGO_EAI_NONAME), "EAI_NONAME");
    ASSERT_STR_EQ(uvgo_strerror(UVGO_EAI_NONAME), "unknown node or service");
}

static atomic_int pool_release;

static void occupy_pool_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&pool_release))
        usleep(1000);
}

static void *occupy(void *arg)
{
    return (void *)(intptr_t)uvgo_offload(occupy_pool_thread, arg);
}

static void abandoned_lookup_returns_at_once(void)
{
    /* Fill libuv's thread pool (4 threads) so the lookup cannot start. */
    uvgo_task_t *t[4];
    struct sockaddr_storage sa[4];
    for (int i = 0; i < 4; i++)
        t[i] = test_spawn(occupy, NULL);
    test_wait_blocked("offload", 4);
    uvgo_ctx_t *ctx = test_ctx_timeout(20 * MS);
    int64_t t0 = uvgo_now();
    ASSERT_ERR(uvgo_lookup_host_ctx("localhost", sa, 4, ctx), UVGO_ETIMEDOUT);
    ASSERT_IN_TIME(uvgo_now() - t0, 20 * MS + TEST_SLACK);
    test_ctx_done(ctx);
    atomic_store(&pool_release, 1);
    for (int i = 0; i < 4; i++)
        test_join(t[i]);
    /* The late callback freed its record (ASan would say otherwise). */
    uvgo_sleep(10 * MS);
}

/* ---- TCP ----------------------------------------------------------------- */

static void tcp4_round_trip(void)
{
    struct server s;
    uvgo_conn_t *c;
    char local[64], remote[64];
    ASSERT_OK(server_start(&s, "tcp", "127.0.0.1:0"));
    ASSERT_GT(uvgo_listener_port(s.l), 0);
    ASSERT_OK(uvgo_dial(&c, "tcp", s.addr));
    round_trip(c, "hello over tcp4");
    ASSERT_GT(uvgo_conn_local_name(c, local, sizeof local), 0);
    ASSERT_GT(uvgo_conn_remote_name(c, remote, sizeof remote), 0);
    ASSERT_STR_EQ(remote, s.addr);
    ASSERT_EQ(strncmp(local, "127.0.0.1:", 10), 0);
    ASSERT_OK(uvgo_conn_set_nodelay(c, 0));
    ASSERT_OK(uvgo_conn_set_keepalive(c, 30 * UVGO_SECOND));
    uvgo_conn_free(c);
    /* A name dials too. */
    char byname[64];
    snprintf(byname, sizeof byname, "localhost:%d", uvgo_listener_port(s.l));
    ASSERT_OK(uvgo_dial(&c, "tcp4", byname));
    round_trip(c, "by name");
    uvgo_conn_free(c);
    server_stop(&s);
}

static void tcp6_round_trip(void)
{
    struct server s;
    uvgo_conn_t *c;
    int err = server_start(&s, "tcp6", "[::1]:0");
    if (err) {
        fprintf(stderr, "skipped: no IPv6 loopback here (%s)\n",
                uvgo_err_name(err));
        return;
    }
    ASSERT_STR_EQ(strncmp(s.addr, "[::1]:", 6) == 0 ? "ok" : s.addr, "ok");
    ASSERT_OK(uvgo_dial(&c, "tcp", s.addr));
    round_trip(c, "hello over tcp6");
    uvgo_conn_free(c);
    server_stop(&s);
}

static void unix_socket_round_trip(void)
{
    struct server s;
    uvgo_conn_t *c;
    char path[64];
    snprintf(path, sizeof path, "/tmp/uvgo-test-%d.sock", (int)getpid());
    unlink(path);
    ASSERT_OK(server_start(&s, "unix", path));
    ASSERT_STR_EQ(s.addr, path);
    ASSERT_EQ(uvgo_listener_port(s.l), 0);
    ASSERT_OK(uvgo_dial(&c, "unix", path));
    round_trip(c, "hello over a unix socket");
    uvgo_conn_free(c);
    server_stop(&s);
    ASSERT_NE(access(path, F_OK), 0); /* unlinked on close */
    ASSERT_ERR(uvgo_dial(&c, "unix", path), UVGO_ENOENT);
}

static void refused_and_address_in_use(void)
{
    uvgo_listener_t *l, *l2;
    uvgo_conn_t *c;
    char addr[64];
    ASSERT_OK(uvgo_listen(&l, "tcp", "127.0.0.1:0"));
    uvgo_listener_name(l, addr, sizeof addr);
    ASSERT_ERR(uvgo_listen(&l2, "tcp", addr), UVGO_EADDRINUSE);
    uvgo_listener_free(l);
    ASSERT_ERR(uvgo_dial(&c, "tcp", addr), UVGO_ECONNREFUSED);
}

static void *accept_one(void *arg)
{
    uvgo_conn_t *c;
    int err = uvgo_listener_accept(arg, &c);
    if (err == 0)
        uvgo_conn_free(c);
    return (void *)(intptr_t)err;
}

static void listener_accept_close_and_cancel(void)
{
    uvgo_listener_t *l;
    uvgo_conn_t *c, *s;
    ASSERT_OK(uvgo_listen(&l, "tcp", "127.0.0.1:0"));
    char addr[64];
    uvgo_listener_name(l, addr, sizeof addr);
    ASSERT_OK(uvgo_dial(&c, "tcp", addr));
    ASSERT_OK(uvgo_listener_accept(l, &s));
    ASSERT_OK(uvgo_conn_write(s, "x", 1, NULL));
    round_trip(c, "");
    char b;
    ASSERT_EQ(uvgo_conn_read(c, &b, 1), 1);
    uvgo_conn_free(s);
    uvgo_conn_free(c);
    /* Cancelled while blocked. */
    uvgo_ctx_t *ctx = test_ctx_timeout(20 * MS);
    ASSERT_ERR(uvgo_listener_accept_ctx(l, &s, ctx), UVGO_ETIMEDOUT);
    test_ctx_done(ctx);
    /* Closed while blocked: woken at once. */
    uvgo_task_t *t = test_spawn(accept_one, l);
    test_wait_blocked("chan receive", 1);
    ASSERT_OK(uvgo_listener_close(l));
    ASSERT_ERR(test_join(t), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_listener_accept(l, &s), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_listener_close(l), UVGO_ECLOSED);
    uvgo_listener_free(l);
}

static void half_close_and_peer_reset(void)
{
    uvgo_listener_t *l;
    uvgo_conn_t *c, *s;
    char buf[8];
    ASSERT_OK(uvgo_listen(&l, "tcp", "127.0.0.1:0"));
    char addr[64];
    uvgo_listener_name(l, addr, sizeof addr);
    ASSERT_OK(uvgo_dial(&c, "tcp", addr));
    ASSERT_OK(uvgo_listener_accept(l, &s));
    /* Half-close: the server reads EOF and can still answer. */
    ASSERT_OK(uvgo_conn_write(c, "req", 3, NULL));
    ASSERT_OK(uvgo_conn_close_write(c));
    ASSERT_OK(uvgo_conn_read_full(s, buf, 3, NULL));
    ASSERT_ERR(uvgo_conn_read(s, buf, 1), UVGO_EOF);
    ASSERT_OK(uvgo_conn_write(s, "resp", 4, NULL));
    ASSERT_OK(uvgo_conn_read_full(c, buf, 4, NULL));
    uvgo_conn_free(s);
    uvgo_conn_free(c);
    /* Reset: a raw client closes with SO_LINGER 0. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage sa;
    uvgo_listener_addr(l, &sa);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(struct sockaddr_in)),
              0);
    ASSERT_OK(uvgo_listener_accept(l, &s));
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    int r = uvgo_conn_read(s, buf, 1);
    ASSERT_ERR(r, UVGO_ECONNRESET);
    ASSERT_ERR(uvgo_conn_read(s, buf, 1), UVGO_ECONNRESET);
    uvgo_conn_free(s);
    uvgo_listener_free(l);
}

/* A listener whose backlog is full: connects to it hang (SYNs dropped). */
static int full_backlog(int *fds, int max, struct sockaddr_in *addr)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), n = 0;
    socklen_t len = sizeof *addr;
    uv_ip4_addr("127.0.0.1", 0, addr);
    ASSERT_EQ(bind(lfd, (struct sockaddr *)addr, sizeof *addr), 0);
    ASSERT_EQ(listen(lfd, 0), 0);
    getsockname(lfd, (struct sockaddr *)addr, &len);
    for (; n < max; n++) {
        fds[n] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fds[n], (struct sockaddr *)addr, sizeof *addr);
    }
    return lfd;
}

static void blocked_connect_cancels_and_times_out(void)
{
    int fds[8], lfd;
    struct sockaddr_in addr;
    char text[64];
    uvgo_conn_t *c;
    lfd = full_backlog(fds, 8, &addr);
    uvgo_sockaddr_format((struct sockaddr *)&addr, text, sizeof text);
    uvgo_ctx_t *ctx = test_ctx_timeout(50 * MS);
    int64_t t0 = uvgo_now();
    int err = uvgo_dial_ctx(&c, "tcp", text, ctx);
    if (err == 0) {
        /* This kernel accepted it anyway: nothing to cancel. */
        fprintf(stderr, "skipped: the kernel did not drop the SYN\n");
        uvgo_conn_free(c);
    } else {
        ASSERT_ERR(err, UVGO_ETIMEDOUT);
        ASSERT_IN_TIME(uvgo_now() - t0, 50 * MS + TEST_SLACK);
        uvgo_dialer_t d = {.timeout = 30 * MS};
        ASSERT_ERR(uvgo_dialer_dial_ctx(&d, &c, "tcp", text, NULL),
                   UVGO_ETIMEDOUT);
    }
    test_ctx_done(ctx);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    close(lfd);
}

static void happy_eyeballs_falls_back_to_the_other_family(void)
{
    /* localhost may resolve to ::1 first; with a server on 127.0.0.1 only,
     * the IPv6 attempt is refused and IPv4 wins.  Either way a dial to
     * "localhost" reaches it. */
    struct server s;
    uvgo_conn_t *c;
    char addr[64];
    ASSERT_OK(server_start(&s, "tcp4", "127.0.0.1:0"));
    snprintf(addr, sizeof addr, "localhost:%d", uvgo_listener_port(s.l));
    uvgo_dialer_t d = {.fallback_delay = 5 * UVGO_SECOND};
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_dialer_dial_ctx(&d, &c, "tcp", addr, NULL));
    /* A refused primary starts the fallback at once, not after 5 s. */
    ASSERT_IN_TIME(uvgo_now() - t0, TEST_SLACK);
    round_trip(c, "eyeballs");
    uvgo_conn_free(c);
    server_stop(&s);
}

static void ten_thousand_short_connections_leak_no_fd(void)
{
    struct server s;
    long n = test_scale(10000, 1000);
    ASSERT_OK(server_start(&s, "tcp", "127.0.0.1:0"));
    /* libuv keeps one reserve descriptor per loop (for EMFILE), opened
     * with the loop's first stream: reach every worker first. */
    for (int i = 0; i < uvgo_worker_count(); i++) {
        uvgo_conn_t *c;
        ASSERT_OK(uvgo_dial(&c, "tcp", s.addr));
        round_trip(c, "warm");
        uvgo_conn_free(c);
    }
    int before; /* once the warm-up's server sides have closed */
    do {
        before = open_fds();
        uvgo_sleep(20 * MS);
    } while (open_fds() != before);
    for (long i = 0; i < n; i++) {
        uvgo_conn_t *c;
        ASSERT_OK(uvgo_dial(&c, "tcp", s.addr));
        round_trip(c, "x");
        uvgo_conn_free(c);
    }
    /* Server sides close when their handlers see EOF: give them time. */
    for (int i = 0; i < 2000 && open_fds() != before; i++)
        uvgo_sleep(MS);
    ASSERT_EQ(open_fds(), before);
    server_stop(&s);
}

static void *worker_loop_task(void *arg)
{
    (void)arg;
    return uvgo_loop();
}

static void stolen_task_keeps_its_connection(void)
{
    struct server s;
    uvgo_conn_t *c;
    ASSERT_OK(server_start(&s, "tcp", "127.0.0.1:0"));
    ASSERT_OK(uvgo_dial(&c, "tcp", s.addr));
    int home = uvgo_worker_id();
    /* The other worker's loop, from a task placed there. */
    uvgo_task_opts_t o = {NULL, 0, home == 0 ? 2 : 1, UVGO_TASK_PINNED};
    uvgo_task_t *t;
    void *other;
    ASSERT_OK(uvgo_task_spawn(&t, worker_loop_task, NULL, &o));
    ASSERT_OK(uvgo_task_join(t, &other));
    for (int i = 0; i < 50; i++) {
        /* Move away, as a thief would take us; the next call comes home. */
        ASSERT_OK(uvgo_loop_enter(other));
        ASSERT_NE(uvgo_worker_id(), home);
        round_trip(c, "still here");
        ASSERT_EQ(uvgo_worker_id(), home);
    }
    uvgo_conn_free(c);
    server_stop(&s);
}

static void emfile_on_accept_neither_spins_nor_crashes(void)
{
    uvgo_listener_t *l;
    uvgo_conn_t *c, *d;
    struct rlimit old, low;
    struct sockaddr_storage sa;
    struct rusage r0, r1;
    char addr[64], b;
    int fds[4];
    ASSERT_OK(uvgo_listen(&l, "tcp", "127.0.0.1:0"));
    uvgo_listener_addr(l, &sa);
    uvgo_listener_name(l, addr, sizeof addr);
    for (int i = 0; i < 4; i++)
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    /* No descriptor left above the highest one open now. */
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    int top = socket(AF_INET, SOCK_STREAM, 0);
    low.rlim_cur = (rlim_t)top;
    close(top);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(
            connect(fds[i], (struct sockaddr *)&sa, sizeof(struct sockaddr_in)),
            0);
    getrusage(RUSAGE_SELF, &r0);
    /* libuv sheds them (accepts with its reserve descriptor and closes);
     * an accept that waits meanwhile just waits, without spinning. */
    uvgo_ctx_t *ctx = test_ctx_timeout(100 * MS);
    int err = uvgo_listener_accept_ctx(l, &c, ctx);
    test_ctx_done(ctx);
    getrusage(RUSAGE_SELF, &r1);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT(err == UVGO_ETIMEDOUT || err == UVGO_EMFILE);
    long cpu_us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1000000L +
                  (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
                  (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000L +
                  (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    ASSERT_LT(cpu_us, test_scale(60000, 300000));
    /* The shed clients were told: their connections ended. */
    for (int i = 0; i < 4; i++) {
        ASSERT_LE(read(fds[i], &b, 1), 0);
        close(fds[i]);
    }
    /* Descriptors again: it accepts. */
    ASSERT_OK(uvgo_dial(&d, "tcp", addr));
    ASSERT_OK(uvgo_listener_accept(l, &c));
    uvgo_conn_free(c);
    uvgo_conn_free(d);
    uvgo_listener_free(l);
}

static void slow_handler(uvgo_conn_t *c, void *arg)
{
    char b;
    (void)arg;
    /* Never answers: only the grace period's close ends it. */
    ASSERT_ERR(uvgo_conn_read(c, &b, 1), UVGO_ECLOSED);
}

struct grace_arg {
    uvgo_listener_t *l;
    uvgo_ctx_t *ctx;
};

static void *serve_slow(void *arg)
{
    struct grace_arg *g = arg;
    return (void *)(intptr_t)uvgo_serve(g->l, slow_handler, NULL, g->ctx,
                                        30 * MS);
}

static void serve_stops_accepting_then_closes_after_grace(void)
{
    struct grace_arg g;
    uvgo_conn_t *c;
    char addr[64], b;
    ASSERT_OK(uvgo_listen(&g.l, "tcp", "127.0.0.1:0"));
    uvgo_listener_name(g.l, addr, sizeof addr);
    g.ctx = test_ctx_cancel();
    uvgo_task_t *t = test_spawn(serve_slow, &g);
    ASSERT_OK(uvgo_dial(&c, "tcp", addr));
    test_wait_blocked("conn read", 1);
    int64_t t0 = uvgo_now();
    uvgo_ctx_cancel(g.ctx);
    ASSERT_ERR(test_join(t), UVGO_ECANCELED);
    ASSERT_GE(uvgo_now() - t0, 30 * MS);
    ASSERT_ERR(uvgo_conn_read(c, &b, 1), UVGO_EOF);
    uvgo_conn_free(c);
    ASSERT_ERR(uvgo_dial(&c, "tcp", addr), UVGO_ECONNREFUSED);
    uvgo_listener_free(g.l);
    uvgo_ctx_release(g.ctx);
}

/* ---- stress -------------------------------------------------------------- */

struct client {
    const char *addr;
    int id;
    long msgs;
};

static void *stress_client(void *arg)
{
    struct client *cl = arg;
    uvgo_conn_t *c;
    uint64_t out[4], in[4];
    ASSERT_OK(uvgo_dial(&c, "tcp", cl->addr));
    for (long i = 0; i < cl->msgs; i++) {
        out[0] = (uint64_t)cl->id;
        out[1] = (uint64_t)i;
        out[2] = out[0] * 0x9E3779B97F4A7C15ull ^ out[1];
        out[3] = out[0] + out[1] + out[2];
        ASSERT_OK(uvgo_conn_write(c, out, sizeof out, NULL));
        ASSERT_OK(uvgo_conn_read_full(c, in, sizeof in, NULL));
        /* Nothing lost, duplicated or reordered on this connection. */
        ASSERT_EQ(in[0], out[0]);
        ASSERT_EQ(in[1], out[1]);
        ASSERT_EQ(in[2], out[2]);
        ASSERT_EQ(in[3], out[3]);
    }
    uvgo_conn_free(c);
    return NULL;
}

static void stress_many_connections_across_every_worker(void)
{
    struct server s;
    long nconn = test_scale(256, 48), msgs = test_scale(1000, 100);
    ASSERT_OK(server_start(&s, "tcp", "127.0.0.1:0"));
    struct client *cl = calloc((size_t)nconn, sizeof *cl);
    uvgo_task_t **t = calloc((size_t)nconn, sizeof *t);
    for (long i = 0; i < nconn; i++) {
        uvgo_task_opts_t o = {NULL, 0, (int)(i % uvgo_worker_count()) + 1, 0};
        cl[i] = (struct client){s.addr, (int)i, msgs};
        ASSERT_OK(uvgo_task_spawn(&t[i], stress_client, &cl[i], &o));
    }
    for (long i = 0; i < nconn; i++)
        test_join(t[i]);
    free(cl);
    free(t);
    server_stop(&s);
}

/* ---- UDP ----------------------------------------------------------------- */

static void udp_round_trip_and_truncation(void)
{
    uvgo_udp_t *a, *b;
    struct sockaddr_storage sa, from;
    char buf[64];
    int flags;
    ASSERT_OK(uvgo_udp_bind(&a, "udp", "127.0.0.1:0"));
    ASSERT_OK(uvgo_udp_local_addr(a, &sa));
    char addr[64];
    uvgo_sockaddr_format((struct sockaddr *)&sa, addr, sizeof addr);
    ASSERT_OK(uvgo_udp_dial(&b, "udp", addr));
    ASSERT_OK(uvgo_udp_send_to(b, "ping", 4, NULL));
    ASSERT_EQ(uvgo_udp_recv_from(a, buf, sizeof buf, &from, &flags), 4);
    ASSERT_EQ(flags, 0);
    ASSERT_EQ(memcmp(buf, "ping", 4), 0);
    /* Answer the sender; the connected socket receives it. */
    ASSERT_OK(uvgo_udp_send_to(a, "pong!", 5, (struct sockaddr *)&from));
    ASSERT_EQ(uvgo_udp_recv_from(b, buf, sizeof buf, NULL, NULL), 5);
    /* A datagram longer than the buffer: truncated, and reported. */
    ASSERT_OK(uvgo_udp_send_to(b, "0123456789", 10, NULL));
    ASSERT_EQ(uvgo_udp_recv_from(a, buf, 4, NULL, &flags), 4);
    ASSERT_EQ(flags, UVGO_UDP_TRUNCATED);
    /* Receive bounded by a context, and close from another task. */
    uvgo_ctx_t *ctx = test_ctx_timeout(20 * MS);
    ASSERT_ERR(uvgo_udp_recv_from_ctx(a, buf, sizeof buf, NULL, NULL, ctx),
               UVGO_ETIMEDOUT);
    test_ctx_done(ctx);
    ASSERT_OK(uvgo_udp_close(a));
    ASSERT_ERR(uvgo_udp_close(a), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_udp_recv_from(a, buf, sizeof buf, NULL, NULL),
               UVGO_ECLOSED);
    uvgo_udp_free(a);
    uvgo_udp_free(b);
}

static void net_calls_outside_a_task(void)
{
    uvgo_conn_t *c;
    uvgo_listener_t *l;
    ASSERT_ERR(uvgo_dial(&c, "tcp", "127.0.0.1:1"), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_listen(&l, "tcp", "127.0.0.1:0"), UVGO_ENOTTASK);
}

static const test_case_t cases[] = {
    CASE_PLAIN(addresses_parse_as_go_does),
    CASE(malformed_addresses_are_einval),
    CASE(localhost_resolves_to_loopback),
    CASE(abandoned_lookup_returns_at_once),
    CASE(tcp4_round_trip),
    CASE(tcp6_round_trip),
    CASE(unix_socket_round_trip),
    CASE(refused_and_address_in_use),
    CASE(listener_accept_close_and_cancel),
    CASE(half_close_and_peer_reset),
    CASE(blocked_connect_cancels_and_times_out),
    CASE(happy_eyeballs_falls_back_to_the_other_family),
    CASE(ten_thousand_short_connections_leak_no_fd),
    CASE(stolen_task_keeps_its_connection),
    CASE(emfile_on_accept_neither_spins_nor_crashes),
    CASE(serve_stops_accepting_then_closes_after_grace),
    CASE_PROCS(stress_many_connections_across_every_worker, 4),
    CASE(udp_round_trip_and_truncation),
    CASE_PLAIN(net_calls_outside_a_task),
};

TEST_MAIN(cases)
