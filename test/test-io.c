/* test-io.c: stream connections and bufio over socketpairs (uvgo/io.h). */
#include <stdatomic.h>
#include <sys/socket.h>

#include "test.h"

#define MS UVGO_MILLISECOND
#define SLACK TEST_SLACK

static void pair(uvgo_conn_t **a, uvgo_conn_t **b)
{
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ASSERT_OK(uvgo_conn_from_fd(a, fds[0]));
    ASSERT_OK(uvgo_conn_from_fd(b, fds[1]));
}

/* Fills c's path to the peer until a write would block for 20 ms. */
static size_t fill_up(uvgo_conn_t *c)
{
    static char junk[65536];
    size_t total = 0, n;
    int err;
    for (;;) {
        ASSERT_OK(uvgo_conn_set_write_deadline(c, uvgo_now() + 20 * MS));
        err = uvgo_conn_write(c, junk, sizeof junk, &n);
        total += n;
        if (err == UVGO_ETIMEDOUT)
            break;
        ASSERT_OK(err);
    }
    ASSERT_OK(uvgo_conn_set_write_deadline(c, 0));
    return total;
}

static void round_trip_over_a_socketpair(void)
{
    uvgo_conn_t *a, *b;
    char buf[16];
    size_t n;
    pair(&a, &b);
    ASSERT_OK(uvgo_conn_write(a, "hello", 5, &n));
    ASSERT_EQ(n, 5);
    ASSERT_OK(uvgo_conn_read_full(b, buf, 5, &n));
    ASSERT_EQ(memcmp(buf, "hello", 5), 0);
    uv_buf_t v[3] = {uv_buf_init("ab", 2), uv_buf_init("", 0),
                     uv_buf_init("cde", 3)};
    ASSERT_OK(uvgo_conn_writev(b, v, 3, &n));
    ASSERT_EQ(n, 5);
    ASSERT_OK(uvgo_conn_read_full(a, buf, 5, NULL));
    ASSERT_EQ(memcmp(buf, "abcde", 5), 0);
    ASSERT_ERR(uvgo_conn_read(a, NULL, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_conn_read(a, buf, 0), UVGO_EINVAL);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static void eof_is_sticky_and_half_close_keeps_the_other_way(void)
{
    uvgo_conn_t *a, *b;
    char buf[8];
    size_t got;
    pair(&a, &b);
    ASSERT_OK(uvgo_conn_write(a, "xy", 2, NULL));
    ASSERT_OK(uvgo_conn_close_write(a));
    ASSERT_ERR(uvgo_conn_write(a, "z", 1, NULL), UVGO_EPIPE);
    ASSERT_ERR(uvgo_conn_read_full(b, buf, 4, &got), UVGO_EOF);
    ASSERT_EQ(got, 2);
    ASSERT_ERR(uvgo_conn_read(b, buf, 1), UVGO_EOF);
    /* b can still send to a. */
    ASSERT_OK(uvgo_conn_write(b, "back", 4, NULL));
    ASSERT_OK(uvgo_conn_read_full(a, buf, 4, NULL));
    ASSERT_EQ(memcmp(buf, "back", 4), 0);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

/* The first write goes to the kernel directly (stream.c): its errors are
 * uv_try_write's, and stick. */
static void write_to_a_closed_peer_fails_and_the_error_sticks(void)
{
    uvgo_conn_t *a, *b;
    char buf[4];
    size_t n = 7;
    pair(&a, &b);
    ASSERT_OK(uvgo_conn_write(a, "hi", 2, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(uvgo_conn_read(b, buf, sizeof buf), 2);
    uvgo_conn_free(b);
    /* No SIGPIPE: the error comes back, nothing was written. */
    ASSERT_ERR(uvgo_conn_write(a, "lost", 4, &n), UVGO_EPIPE);
    ASSERT_EQ(n, 0);
    ASSERT_ERR(uvgo_conn_write(a, "x", 1, NULL), UVGO_EPIPE);
    uv_buf_t v = uv_buf_init("y", 1);
    ASSERT_ERR(uvgo_conn_writev(a, &v, 1, NULL), UVGO_EPIPE);
    ASSERT_ERR(uvgo_conn_write(a, NULL, 1, NULL), UVGO_EINVAL);
    ASSERT_OK(uvgo_conn_close(a));
    ASSERT_ERR(uvgo_conn_write(a, "z", 1, NULL), UVGO_ECLOSED);
    uvgo_conn_free(a);
}

static void read_deadline_times_out_and_the_conn_stays_usable(void)
{
    uvgo_conn_t *a, *b;
    char buf[4];
    pair(&a, &b);
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_conn_set_read_deadline(b, t0 + 30 * MS));
    ASSERT_ERR(uvgo_conn_read(b, buf, 4), UVGO_ETIMEDOUT);
    int64_t took = uvgo_now() - t0;
    ASSERT_GE(took, 30 * MS);
    ASSERT_IN_TIME(took, 30 * MS + SLACK);
    /* Past deadline: at once. */
    ASSERT_ERR(uvgo_conn_read(b, buf, 4), UVGO_ETIMEDOUT);
    /* Cleared: data flows again. */
    ASSERT_OK(uvgo_conn_set_read_deadline(b, 0));
    ASSERT_OK(uvgo_conn_write(a, "ok", 2, NULL));
    ASSERT_EQ(uvgo_conn_read(b, buf, 4), 2);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static void deadline_passed_while_no_call_waits_fails_the_next_call(void)
{
    uvgo_conn_t *a, *b;
    char buf[4];
    pair(&a, &b);
    ASSERT_OK(uvgo_conn_set_deadline(b, uvgo_now() + 10 * MS));
    ASSERT_OK(uvgo_sleep(30 * MS));
    /* Data waiting makes no difference, as in Go. */
    ASSERT_OK(uvgo_conn_write(a, "x", 1, NULL));
    ASSERT_ERR(uvgo_conn_read(b, buf, sizeof buf), UVGO_ETIMEDOUT);
    ASSERT_ERR(uvgo_conn_write(b, "y", 1, NULL), UVGO_ETIMEDOUT);
    /* A later deadline clears it. */
    ASSERT_OK(uvgo_conn_set_deadline(b, uvgo_now() + UVGO_SECOND));
    ASSERT_EQ(uvgo_conn_read(b, buf, sizeof buf), 1);
    ASSERT_OK(uvgo_conn_write(b, "y", 1, NULL));
    ASSERT_EQ(uvgo_conn_read(a, buf, sizeof buf), 1);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

struct mover {
    uvgo_conn_t *c;
    int64_t deadline;
    uvgo_conn_t *peer; /* if set: writes to it at write_at */
    int64_t write_at;
};

static void *move_deadline(void *arg)
{
    struct mover *m = arg;
    test_wait_blocked("conn read", 1);
    ASSERT_OK(uvgo_conn_set_deadline(m->c, m->deadline));
    if (m->peer) {
        uvgo_sleep(m->write_at - uvgo_now());
        ASSERT_OK(uvgo_conn_write(m->peer, "late", 4, NULL));
    }
    return NULL;
}

static void deadline_moved_while_blocked(void)
{
    uvgo_conn_t *a, *b;
    char buf[4];
    pair(&a, &b);
    /* Far away, then moved closer by another task. */
    ASSERT_OK(uvgo_conn_set_read_deadline(b, uvgo_now() + 100 * UVGO_SECOND));
    struct mover m = {b, uvgo_now() + 40 * MS, NULL, 0};
    uvgo_task_t *t = test_spawn(move_deadline, &m);
    int64_t t0 = uvgo_now();
    ASSERT_ERR(uvgo_conn_read(b, buf, 4), UVGO_ETIMEDOUT);
    ASSERT_GE(uvgo_now(), m.deadline);
    ASSERT_IN_TIME(uvgo_now() - t0, 40 * MS + SLACK);
    test_join(t);
    /* Moved into the past: wakes at once. */
    ASSERT_OK(uvgo_conn_set_read_deadline(b, uvgo_now() + 100 * UVGO_SECOND));
    m.deadline = uvgo_now() - MS;
    t = test_spawn(move_deadline, &m);
    ASSERT_ERR(uvgo_conn_read(b, buf, 4), UVGO_ETIMEDOUT);
    test_join(t);
    /* Cleared while blocked: the read waits for data that comes after
     * the old deadline.  The clear must come before it: SLACK is how long
     * the mover may wait for a CPU. */
    int64_t old = uvgo_now() + SLACK;
    ASSERT_OK(uvgo_conn_set_read_deadline(b, old));
    m.deadline = 0;
    m.peer = a;
    m.write_at = old + 20 * MS;
    t = test_spawn(move_deadline, &m);
    ASSERT_EQ(uvgo_conn_read(b, buf, 4), 4);
    test_join(t);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static void *expire_write_deadline(void *arg)
{
    test_wait_blocked("conn write", 1);
    ASSERT_OK(uvgo_conn_set_write_deadline(arg, uvgo_now()));
    return NULL;
}

/* The deadline passes while the write waits for a full kernel: it comes
 * once the writer is blocked (a deadline set before the call could pass
 * before the first byte under a slow, loaded machine). */
static void write_deadline_reports_what_the_kernel_took(void)
{
    uvgo_conn_t *a, *b;
    static char big[1 << 22], in[1 << 16];
    size_t n, got = 0;
    pair(&a, &b);
    ASSERT_OK(uvgo_conn_set_buffers(a, 4096, 4096));
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    uvgo_task_t *t = test_spawn(expire_write_deadline, a);
    ASSERT_ERR(uvgo_conn_write(a, big, sizeof big, &n), UVGO_ETIMEDOUT);
    test_join(t);
    ASSERT_GT(n, 0);
    ASSERT_LT(n, sizeof big);
    /* The first n bytes arrive (the deadline only guards against a
     * hang), then nothing but the end. */
    ASSERT_OK(uvgo_conn_set_read_deadline(b, uvgo_now() + 100 * UVGO_SECOND));
    while (got < n) {
        int k = uvgo_conn_read(b, in, sizeof in);
        ASSERT_GT(k, 0);
        ASSERT_LE(got + (size_t)k, n);
        for (int i = 0; i < k; i++)
            ASSERT_EQ(in[i], big[got + (size_t)i]);
        got += (size_t)k;
    }
    uvgo_conn_free(a);
    ASSERT_ERR(uvgo_conn_read(b, in, sizeof in), UVGO_EOF);
    uvgo_conn_free(b);
}

static void *cancel_soon(void *arg)
{
    test_wait_blocked(((const char **)arg)[1], 1);
    uvgo_ctx_cancel((uvgo_ctx_t *)((void **)arg)[0]);
    return NULL;
}

static void cancelled_read_and_write_return_at_once(void)
{
    uvgo_conn_t *a, *b;
    static char big[1 << 20];
    char buf[4];
    size_t n;
    pair(&a, &b);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    void *arg[2] = {ctx, "conn read"};
    uvgo_task_t *t = test_spawn(cancel_soon, arg);
    ASSERT_ERR(uvgo_conn_read_ctx(b, buf, 4, ctx), UVGO_ECANCELED);
    test_join(t);
    test_ctx_done(ctx);
    /* The connection still works. */
    ASSERT_OK(uvgo_conn_write(a, "abc", 3, NULL));
    ASSERT_EQ(uvgo_conn_read(b, buf, 4), 3);

    fill_up(a);
    ctx = test_ctx_cancel();
    arg[0] = ctx;
    arg[1] = "conn write";
    t = test_spawn(cancel_soon, arg);
    ASSERT_ERR(uvgo_conn_write_ctx(a, big, sizeof big, &n, ctx),
               UVGO_ECANCELED);
    test_join(t);
    /* A done context fails before doing anything. */
    ASSERT_ERR(uvgo_conn_read_ctx(b, buf, 4, ctx), UVGO_ECANCELED);
    test_ctx_done(ctx);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static void *close_soon(void *arg)
{
    test_wait_blocked("conn read", 1);
    test_wait_blocked("conn write", 1);
    ASSERT_OK(uvgo_conn_close(arg));
    return NULL;
}

static void *blocked_write(void *arg)
{
    static char big[1 << 20];
    return (void *)(intptr_t)uvgo_conn_write(arg, big, sizeof big, NULL);
}

static void close_from_another_task_wakes_reader_and_writer(void)
{
    uvgo_conn_t *a, *b;
    char buf[4];
    pair(&a, &b);
    fill_up(b);
    uvgo_task_t *w = test_spawn(blocked_write, b);
    uvgo_task_t *t = test_spawn(close_soon, b);
    int64_t t0 = uvgo_now();
    ASSERT_ERR(uvgo_conn_read(b, buf, 4), UVGO_ECLOSED);
    ASSERT_IN_TIME(uvgo_now() - t0, SLACK * 20);
    ASSERT_EQ(test_join(w), UVGO_ECLOSED);
    test_join(t);
    /* Use after close and a second close are errors, not crashes. */
    ASSERT_ERR(uvgo_conn_read(b, buf, 4), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_conn_write(b, "x", 1, NULL), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_conn_set_deadline(b, 0), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_conn_close(b), UVGO_ECLOSED);
    /* The peer sees the end. */
    static char drain[1 << 16];
    int r;
    while ((r = uvgo_conn_read(a, drain, sizeof drain)) > 0)
        ;
    ASSERT_ERR(r, UVGO_EOF);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

struct duplex {
    uvgo_conn_t *c;
    long n;
    uint64_t sum;
};

static void *duplex_writer(void *arg)
{
    struct duplex *d = arg;
    for (long i = 0; i < d->n; i++) {
        uint64_t v = (uint64_t)i * 2654435761u;
        ASSERT_OK(uvgo_conn_write(d->c, &v, sizeof v, NULL));
        d->sum += v;
    }
    return NULL;
}

static void *duplex_reader(void *arg)
{
    struct duplex *d = arg;
    for (long i = 0; i < d->n; i++) {
        uint64_t v;
        ASSERT_OK(uvgo_conn_read_full(d->c, &v, sizeof v, NULL));
        ASSERT_EQ(v, (uint64_t)i * 2654435761u);
        d->sum += v;
    }
    return NULL;
}

static void *echo_all(void *arg)
{
    uvgo_conn_t *c = arg;
    char buf[4096];
    int n;
    while ((n = uvgo_conn_read(c, buf, sizeof buf)) > 0)
        ASSERT_OK(uvgo_conn_write(c, buf, (size_t)n, NULL));
    ASSERT_ERR(n, UVGO_EOF);
    ASSERT_OK(uvgo_conn_close_write(c));
    return NULL;
}

static void full_duplex_with_two_tasks(void)
{
    uvgo_conn_t *a, *b;
    long n = test_scale(20000, 5000);
    pair(&a, &b);
    uvgo_task_t *e = test_spawn(echo_all, b);
    struct duplex w = {a, n, 0}, r = {a, n, 0};
    uvgo_task_t *tw = test_spawn(duplex_writer, &w);
    uvgo_task_t *tr = test_spawn(duplex_reader, &r);
    test_join(tw);
    test_join(tr);
    ASSERT_EQ(w.sum, r.sum);
    ASSERT_OK(uvgo_conn_close_write(a));
    test_join(e);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

struct writer_arg {
    uvgo_conn_t *c;
    char tag;
};

static void *tagged_writer(void *arg)
{
    struct writer_arg *w = arg;
    static char blocks[2][200000];
    char *p = blocks[w->tag - 'a'];
    memset(p, w->tag, 200000);
    for (int i = 0; i < 5; i++)
        ASSERT_OK(uvgo_conn_write(w->c, p, 200000, NULL));
    return NULL;
}

static void two_writers_never_interleave_mid_call(void)
{
    uvgo_conn_t *a, *b;
    static char in[200000];
    pair(&a, &b);
    ASSERT_OK(uvgo_conn_set_buffers(a, 4096, 4096));
    struct writer_arg x = {a, 'a'}, y = {a, 'b'};
    uvgo_task_t *t1 = test_spawn(tagged_writer, &x);
    uvgo_task_t *t2 = test_spawn(tagged_writer, &y);
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(uvgo_conn_read_full(b, in, sizeof in, NULL));
        for (size_t k = 1; k < sizeof in; k++)
            ASSERT_EQ(in[k], in[0]);
    }
    test_join(t1);
    test_join(t2);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static void conn_from_fd_rejects_what_is_not_a_stream(void)
{
    uvgo_conn_t *c;
    FILE *f = tmpfile();
    ASSERT_ERR(uvgo_conn_from_fd(&c, fileno(f)), UVGO_EINVAL);
    ASSERT_ERR(uvgo_conn_from_fd(&c, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_conn_from_fd(NULL, 0), UVGO_EINVAL);
    fclose(f);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    uvgo_conn_t *r, *w;
    ASSERT_OK(uvgo_conn_from_fd(&r, fds[0]));
    ASSERT_OK(uvgo_conn_from_fd(&w, fds[1]));
    char buf[4], name[8];
    ASSERT_OK(uvgo_conn_write(w, "pipe", 4, NULL));
    ASSERT_OK(uvgo_conn_read_full(r, buf, 4, NULL));
    ASSERT_EQ(memcmp(buf, "pipe", 4), 0);
    ASSERT_ERR(uvgo_conn_set_nodelay(r, 1), UVGO_ENOTSUP);
    ASSERT_EQ(uvgo_conn_local_name(r, name, sizeof name), 0);
    uvgo_conn_free(r);
    uvgo_conn_free(w);
}

static void conn_calls_outside_a_task(void)
{
    uvgo_conn_t *c;
    ASSERT_ERR(uvgo_conn_from_fd(&c, 0), UVGO_ENOTTASK);
}

/* ---- bufio ------------------------------------------------------------- */

static void reader_reads_lines_and_bounds_them(void)
{
    uvgo_conn_t *a, *b;
    uvgo_reader_t *r;
    const char *line;
    size_t len;
    pair(&a, &b);
    ASSERT_OK(uvgo_reader_new(&r, b, 16));
    const char *text = "one\r\ntwo\n0123456789abcdefXYZ\nlast";
    ASSERT_OK(uvgo_conn_write(a, text, strlen(text), NULL));
    ASSERT_OK(uvgo_conn_close_write(a));
    ASSERT_OK(uvgo_reader_read_line(r, &line, &len));
    ASSERT_EQ(len, 3);
    ASSERT_EQ(memcmp(line, "one", 3), 0);
    ASSERT_OK(uvgo_reader_peek(r, 3, &line, NULL));
    ASSERT_EQ(memcmp(line, "two", 3), 0);
    ASSERT_OK(uvgo_reader_read_line(r, &line, &len));
    ASSERT_EQ(len, 3);
    /* 16 bytes with no newline: the buffer is full, an error. */
    ASSERT_ERR(uvgo_reader_read_line(r, &line, &len), UVGO_ENOBUFS);
    ASSERT_EQ(len, 16);
    ASSERT_OK(uvgo_reader_read_line(r, &line, &len));
    ASSERT_EQ(len, 3);
    ASSERT_EQ(memcmp(line, "XYZ", 3), 0);
    ASSERT_OK(uvgo_reader_read_line(r, &line, &len));
    ASSERT_EQ(len, 4);
    ASSERT_EQ(memcmp(line, "last", 4), 0);
    ASSERT_ERR(uvgo_reader_read_line(r, &line, &len), UVGO_EOF);
    ASSERT_ERR(uvgo_reader_peek(r, 17, &line, &len), UVGO_ENOBUFS);
    uvgo_reader_free(r);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static void reader_until_discard_and_full(void)
{
    uvgo_conn_t *a, *b;
    uvgo_reader_t *r;
    const char *p;
    size_t len, n;
    char buf[64];
    pair(&a, &b);
    ASSERT_OK(uvgo_reader_new(&r, b, 0));
    ASSERT_OK(uvgo_conn_write(a, "key=value;skipme|tail", 21, NULL));
    ASSERT_OK(uvgo_conn_close_write(a));
    ASSERT_OK(uvgo_reader_read_until(r, '=', &p, &len));
    ASSERT_EQ(len, 4);
    ASSERT_OK(uvgo_reader_read_until(r, ';', &p, &len));
    ASSERT_EQ(memcmp(p, "value;", 6), 0);
    ASSERT_OK(uvgo_reader_discard(r, 7, &n));
    ASSERT_EQ(n, 7);
    ASSERT_ERR(uvgo_reader_read_full(r, buf, 10, &n), UVGO_EOF);
    ASSERT_EQ(n, 4);
    ASSERT_EQ(memcmp(buf, "tail", 4), 0);
    uvgo_reader_free(r);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static void writer_buffers_until_flush(void)
{
    uvgo_conn_t *a, *b;
    uvgo_writer_t *w;
    char buf[256];
    pair(&a, &b);
    ASSERT_OK(uvgo_writer_new(&w, a, 32));
    ASSERT_OK(uvgo_writer_write(w, "abc", 3));
    ASSERT_EQ(uvgo_writer_printf(w, "-%d-", 42), 4);
    ASSERT_EQ(uvgo_writer_buffered(w), 7);
    /* Nothing has gone yet. */
    ASSERT_OK(uvgo_conn_set_read_deadline(b, uvgo_now() + 10 * MS));
    ASSERT_ERR(uvgo_conn_read(b, buf, sizeof buf), UVGO_ETIMEDOUT);
    ASSERT_OK(uvgo_conn_set_read_deadline(b, 0));
    /* Longer than the buffer: written through, in order. */
    ASSERT_EQ(uvgo_writer_printf(w, "%080d", 7), 80);
    ASSERT_OK(uvgo_writer_flush(w));
    ASSERT_EQ(uvgo_writer_buffered(w), 0);
    ASSERT_OK(uvgo_conn_read_full(b, buf, 87, NULL));
    ASSERT_EQ(memcmp(buf, "abc-42-000", 10), 0);
    ASSERT_EQ(buf[86], '7');
    uvgo_writer_free(w);
    uvgo_conn_free(a);
    uvgo_conn_free(b);
}

static const test_case_t cases[] = {
    CASE(round_trip_over_a_socketpair),
    CASE(eof_is_sticky_and_half_close_keeps_the_other_way),
    CASE(write_to_a_closed_peer_fails_and_the_error_sticks),
    CASE(read_deadline_times_out_and_the_conn_stays_usable),
    CASE(deadline_moved_while_blocked),
    CASE(deadline_passed_while_no_call_waits_fails_the_next_call),
    CASE(write_deadline_reports_what_the_kernel_took),
    CASE(cancelled_read_and_write_return_at_once),
    CASE(close_from_another_task_wakes_reader_and_writer),
    CASE(full_duplex_with_two_tasks),
    CASE(two_writers_never_interleave_mid_call),
    CASE(conn_from_fd_rejects_what_is_not_a_stream),
    CASE_PLAIN(conn_calls_outside_a_task),
    CASE(reader_reads_lines_and_bounds_them),
    CASE(reader_until_discard_and_full),
    CASE(writer_buffers_until_flush),
};

TEST_MAIN(cases)
