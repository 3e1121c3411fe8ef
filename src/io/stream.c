/* stream.c: connections over libuv streams (uvgo/io.h; see stream.h for
 * how waiting works).
 *
 * Reading.  A reader links its waiter (with its buffer) in c->reader and
 * starts reading if it is not already on; libuv's alloc callback hands out
 * the waiter's buffer, so data goes from the kernel straight into the
 * caller's memory, and the read callback wakes the task.  Reading then
 * stays on, so a reader that comes back costs no epoll_ctl.  When no
 * reader waits, the alloc callback hands out a one-byte stash: libuv reads
 * again after a read that filled its buffer, and a read into the stash
 * that finds nothing (EAGAIN) keeps reading on at the price of that
 * system call, where handing out nothing would have stopped reading and
 * cost two epoll_ctl calls to restart it (measured: an 8-byte ping-pong
 * made 4 epoll_ctl calls per round trip).  Once the stash is full the
 * alloc callback hands out nothing, libuv reports UV_ENOBUFS without
 * reading, and reading stops: the rest stays in the kernel, which applies
 * back-pressure to the peer.  The next reader takes the stashed byte and
 * reads what follows it from the socket itself, without waiting.  EOF and
 * errors stick: every later read returns them.
 *
 * Writing.  A writer hands its bytes to uv_try_write.  What the kernel
 * does not take waits, and the way it waits is the point: a queued
 * uv_write cannot be taken back, so a writer that gives up (deadline,
 * context) would leave libuv holding its buffer and sending bytes the
 * caller was told were not sent.  So only one byte is ever queued: the
 * next byte is copied into c->wbyte and written with uv_write, which
 * completes once the socket has room; the writer then goes back to
 * uv_try_write.  Giving up then loses nothing: the queued byte is counted
 * as written and goes out ahead of later writes, as Go promises.  This
 * costs one extra system call each time the kernel's buffer fills.
 *
 * Deadlines, as Go's poller keeps them.  Setting a read (write) deadline
 * arms rtimer (wtimer); its callback checks the clock (libuv's timers
 * count whole milliseconds from a cached time), re-arms if early, else
 * marks the deadline expired and wakes the waiting call with
 * UVGO_ETIMEDOUT.  Calls test the mark, not the clock, and a deadline
 * already past when set expires at once; a new deadline clears the mark.
 * So waiting costs no timer and no clock read: a server that moves its
 * deadlines rarely (the HTTP server rounds them to a 16th of the timeout)
 * pays for a timer only when one moves (bench httpd: arming and stopping
 * a timer around every waiting read was ~6% of the server's user time,
 * with two clock reads).  The timers are initialised with the first
 * deadline, unreferenced: a deadline alone keeps no loop alive.
 *
 * Lifetime.  c is freed once uvgo_conn_free() ran, no call is in progress
 * (users) and every handle has closed (handles).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "io/stream.h"

/* What the waits below return when the caller's context won, out of the
 * way of counts and errors; the public calls turn it into the context's
 * error. */
#define GAVE_UP INT_MIN

/* c->fd before the first write looked it up, and for a stream without
 * one. */
#define FD_UNKNOWN (-2)
#define FD_NONE (-1)

static int result_of(int r, uvgo_ctx_t *ctx)
{
    return r == GAVE_UP ? uvgo_ctx_err(ctx) : r;
}

/* uv_buf_init without the call into libuv. */
static inline uv_buf_t buf_of(char *base, size_t len)
{
    uv_buf_t b;
    b.base = base;
    b.len = len;
    return b;
}

/* ---- waiters ------------------------------------------------------------ */

int uvgo__waiter_park(struct uvgo__waiter *w, uv_loop_t *loop,
                      uvgo_chan_t *done, const char *what)
{
    if (!done) {
        /* Only a waker on this loop's thread ends this wait, and it
         * readies us directly (stream.h). */
        w->task = uvgo__task_self();
        uvgo__waiter_park_plain(w, loop, what);
        return 0;
    }
    w->task = NULL;
    int r = uvgo__event_wait_done(&w->ev, what, done);
    /* Woken tasks may be stolen before they run: come home. */
    uvgo_loop_enter(loop);
    if (r == UVGO__DONE && w->woken)
        r = 0; /* a waker came between the context and our return */
    return r;
}

void uvgo__waitlist_wake_all(struct uvgo__waitlist *q, int result)
{
    struct uvgo__waiter *w;
    while ((w = uvgo__waitlist_pop(q)))
        uvgo__waiter_wake(w, result);
}

/* ---- life and death ----------------------------------------------------- */

uvgo_conn_t *uvgo__conn_alloc(void)
{
    uvgo_conn_t *c = uvgo__calloc(1, sizeof *c);
    if (c)
        c->stream = &c->h.stream;
    return c;
}

void uvgo__conn_open(uvgo_conn_t *c, uv_loop_t *loop)
{
    c->loop = loop;
    c->fd = FD_UNKNOWN;
    c->stream->data = c;
    c->handles = 1;
}

int uvgo__conn_wrap(uvgo_conn_t **out, uv_stream_t *stream,
                    void (*release)(uv_stream_t *stream))
{
    uvgo_conn_t *c = uvgo__conn_alloc();
    if (!c)
        return UVGO_ENOMEM;
    c->stream = stream;
    c->release = release;
    uvgo__conn_open(c, stream->loop);
    *out = c;
    return 0;
}

static void maybe_free(uvgo_conn_t *c)
{
    if (c->freed && c->users == 0 && c->handles == 0)
        uvgo__free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    uvgo_conn_t *c = h->data;
    if (h == (uv_handle_t *)c->stream && c->release)
        c->release(c->stream);
    c->handles--;
    maybe_free(c);
}

/* Moves the calling task to c's loop and counts it as a user of c.
 * Returns 0 or UVGO_ENOTTASK. */
static int conn_enter(uvgo_conn_t *c)
{
    int err = 0;
    if (UVGO_UNLIKELY(!uvgo__loop_home(c->loop)))
        err = uvgo_loop_enter(c->loop);
    if (err == 0)
        c->users++;
    return err;
}

static int conn_leave(uvgo_conn_t *c, int result)
{
    c->users--;
    maybe_free(c);
    return result;
}

/* conn_enter for calls that need c open: 0 (entered), or an error (not
 * entered). */
static int conn_enter_open(uvgo_conn_t *c)
{
    int err;
    if (!c)
        return UVGO_EINVAL;
    if ((err = conn_enter(c)))
        return err;
    return c->closed ? conn_leave(c, UVGO_ECLOSED) : 0;
}

/* ---- deadlines ---------------------------------------------------------- */

static int deadline_passed(int64_t deadline)
{
    return deadline && uvgo_now() >= deadline;
}

static void on_deadline(uv_timer_t *t);

/* Arms t for `deadline`, or stops it for none.  Loop thread. */
static void timer_arm(uvgo_conn_t *c, uv_timer_t *t, int64_t deadline)
{
    int64_t left;
    if (!c->timers) {
        if (!deadline)
            return;
        uv_timer_init(c->loop, &c->rtimer);
        uv_timer_init(c->loop, &c->wtimer);
        /* A deadline alone keeps no loop alive: a call that waits
         * does (a reading stream, a queued write). */
        uv_unref((uv_handle_t *)&c->rtimer);
        uv_unref((uv_handle_t *)&c->wtimer);
        c->rtimer.data = c->wtimer.data = c;
        c->handles += 2;
        c->timers = 1;
    }
    if (!deadline) {
        uv_timer_stop(t);
        return;
    }
    uv_update_time(c->loop);
    left = deadline - uvgo_now();
    /* Round up: libuv counts whole milliseconds. */
    uv_timer_start(t, on_deadline,
                   left > 0 ? (uint64_t)(left + 999999) / 1000000 : 0, 0);
}

/* The deadline has passed: every call from now until the next deadline
 * is set fails with UVGO_ETIMEDOUT, and the one waiting wakes. */
static void deadline_expire(uvgo_conn_t *c, int is_read)
{
    struct uvgo__waiter **slot = is_read ? &c->reader : &c->writer;
    struct uvgo__waiter *w = *slot;

    *(is_read ? &c->rexpired : &c->wexpired) = 1;
    if (w) {
        *slot = NULL;
        uvgo__waiter_wake(w, UVGO_ETIMEDOUT);
    }
}

static void on_deadline(uv_timer_t *t)
{
    uvgo_conn_t *c = t->data;
    int is_read = t == &c->rtimer;
    int64_t deadline = is_read ? c->rdeadline : c->wdeadline;

    if (!deadline)
        return;
    if (!deadline_passed(deadline)) {
        timer_arm(c, t, deadline); /* early by libuv's rounding */
        return;
    }
    deadline_expire(c, is_read);
}

/* Sets a deadline: a time already past expires it now, a later one arms
 * its timer (Go's SetReadDeadline arms the poller's timer the same way,
 * and its reads and writes test a flag, not the clock). */
static void deadline_set(uvgo_conn_t *c, int is_read, int64_t deadline)
{
    uv_timer_t *t = is_read ? &c->rtimer : &c->wtimer;

    *(is_read ? &c->rdeadline : &c->wdeadline) = deadline;
    *(is_read ? &c->rexpired : &c->wexpired) = 0;
    if (deadline_passed(deadline)) {
        if (c->timers)
            uv_timer_stop(t);
        deadline_expire(c, is_read);
        return;
    }
    timer_arm(c, t, deadline);
}

/* Parks a reader or writer linked in *slot until a waker or its deadline
 * comes, or `done` closes.  Returns the waker's result or GAVE_UP. */
static int wait_in_slot(uvgo_conn_t *c, struct uvgo__waiter *w,
                        struct uvgo__waiter **slot, uvgo_chan_t *done,
                        const char *what)
{
    *slot = w;
    int r = uvgo__waiter_park(w, c->loop, done, what);
    if (r == UVGO__DONE) {
        *slot = NULL;
        return GAVE_UP;
    }
    return w->result;
}

/* ---- turns -------------------------------------------------------------- */

static UVGO_NOINLINE int turn_wait(uvgo_conn_t *c, struct uvgo__turn *t,
                                   uvgo_chan_t *done)
{
    struct uvgo__waiter w = {0};
    int r;

    uvgo__waitlist_push(&t->waiting, &w);
    r = uvgo__waiter_park(&w, c->loop, done, "conn turn");
    if (r == UVGO__DONE) {
        uvgo__waitlist_unlink(&t->waiting, &w);
        return GAVE_UP;
    }
    return w.result;
}

/* Waits for the turn.  Returns 0 holding it, UVGO_ECLOSED or GAVE_UP. */
static inline int turn_take(uvgo_conn_t *c, struct uvgo__turn *t,
                            uvgo_chan_t *done)
{
    if (c->closed)
        return UVGO_ECLOSED;
    if (UVGO_LIKELY(!t->busy)) {
        t->busy = 1;
        return 0;
    }
    return turn_wait(c, t, done);
}

/* Hands the turn to the next caller in line, if any. */
static void turn_give(struct uvgo__turn *t)
{
    struct uvgo__waiter *w = uvgo__waitlist_pop(&t->waiting);
    if (w)
        uvgo__waiter_wake(w, 0); /* the turn passes on, still busy */
    else
        t->busy = 0;
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    uvgo_conn_t *c = h->data;
    (void)hint;
    /* The reader's buffer from c, which libuv has just touched, not from
     * the waiter on its stack, which the kernel's work since the reader
     * parked has likely evicted (bench echo: ~7% of the server's user
     * time was this one load). */
    if (c->reader)
        *buf = buf_of(c->rbuf, c->rlen);
    else if (!c->stashed)
        *buf = uv_buf_init(&c->stash, 1);
    else
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
}

static void read_stop(uvgo_conn_t *c)
{
    uv_read_stop(c->stream);
    c->reading = 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    uvgo_conn_t *c = s->data;
    struct uvgo__waiter *w = c->reader;
    (void)buf;

    if (n == 0)
        return; /* EAGAIN: the reader keeps waiting */
    if (n == UV_ENOBUFS && !w) {
        read_stop(c); /* nobody reads: leave the data in the kernel */
        return;
    }
    if (n < 0) {
        c->read_err = (int)n;
        read_stop(c);
    } else if (!w) {
        c->stashed = 1; /* read into the stash */
        return;
    }
    if (w) {
        c->reader = NULL;
        uvgo__waiter_wake(w, (int)n);
    }
}

/* Returns the stashed byte and whatever the socket holds after it. */
static int read_stash(uvgo_conn_t *c, char *buf, size_t len)
{
    uv_os_fd_t fd;
    ssize_t n = 0;

    buf[0] = c->stash;
    c->stashed = 0;
    if (len > 1 && uv_fileno((uv_handle_t *)c->stream, &fd) == 0) {
        do
            n = read(fd, buf + 1, len - 1);
        while (n < 0 && errno == EINTR);
        if (n == 0)
            c->read_err = UVGO_EOF;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            c->read_err = uv_translate_sys_error(errno);
        if (n < 0)
            n = 0;
    }
    return 1 + (int)n;
}

static int read_turn(uvgo_conn_t *c, void *buf, size_t len, uvgo_chan_t *done)
{
    struct uvgo__waiter w = {0};
    int err;

    if (c->closed)
        return UVGO_ECLOSED;
    if (c->stashed)
        return read_stash(c, buf, len);
    if (c->read_err)
        return c->read_err;
    if (c->rexpired)
        return UVGO_ETIMEDOUT;
    if (!c->reading) {
        if ((err = uv_read_start(c->stream, on_alloc, on_read)))
            return err;
        c->reading = 1;
    }
    c->rbuf = buf;
    c->rlen = len;
    return wait_in_slot(c, &w, &c->reader, done, "conn read");
}

static UVGO_NOINLINE int conn_read(uvgo_conn_t *c, void *buf, size_t len,
                                   uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done = NULL;
    int err;

    /* Without a context, conn_enter finds out whether we are a task. */
    if (ctx && (err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!c || !buf || !len)
        return ctx || uvgo__task_self() ? UVGO_EINVAL : UVGO_ENOTTASK;
    if (len > INT_MAX)
        len = INT_MAX;
    if ((err = conn_enter(c)))
        return err;
    if ((err = turn_take(c, &c->rturn, done)) == 0) {
        err = read_turn(c, buf, len, done);
        turn_give(&c->rturn);
    }
    return result_of(conn_leave(c, err), ctx);
}

int uvgo_conn_read(uvgo_conn_t *c, void *buf, size_t len)
{
    struct uvgo_worker *w;

    /* The common read: a task at home on c's loop, nothing in its way, no
     * context, reading on.  It parks plainly (stream.h) with only what
     * the waker reads set: conn_read's general path costs ~25 more
     * instructions per read, 5% of what bench echo's server adds to plain
     * libuv per message. */
    if (UVGO_LIKELY(c && buf && len && len <= INT_MAX &&
                    (w = uvgo__loop_home(c->loop)) && !c->rturn.busy &&
                    !c->closed && !c->stashed && !c->read_err && !c->rexpired &&
                    c->reading)) {
        struct uvgo__waiter wt;
        wt.task = w->current;
        wt.woken = 0;
        c->users++;
        c->rturn.busy = 1;
        c->rbuf = buf;
        c->rlen = len;
        c->reader = &wt;
        uvgo__waiter_park_plain(&wt, c->loop, "conn read");
        turn_give(&c->rturn);
        return conn_leave(c, wt.result);
    }
    return conn_read(c, buf, len, NULL);
}

int uvgo_conn_read_ctx(uvgo_conn_t *c, void *buf, size_t len, uvgo_ctx_t *ctx)
{
    return conn_read(c, buf, len, ctx);
}

int uvgo_conn_read_full_ctx(uvgo_conn_t *c, void *buf, size_t len, size_t *got,
                            uvgo_ctx_t *ctx)
{
    size_t n = 0;
    int r = 0;

    while (n < len) {
        r = conn_read(c, (char *)buf + n, len - n, ctx);
        if (r < 0)
            break;
        n += (size_t)r;
        r = 0;
    }
    if (got)
        *got = n;
    return r;
}

int uvgo_conn_read_full(uvgo_conn_t *c, void *buf, size_t len, size_t *got)
{
    return uvgo_conn_read_full_ctx(c, buf, len, got, NULL);
}

/* ---- writing ------------------------------------------------------------ */

/* The first try of a one-buffer write when libuv has nothing queued on
 * the stream: what uv_try_write does, one write(2), made directly.
 * uv_try_write wraps the call in a msghdr and glibc's cancellable write
 * (its cancellation bookkeeping runs on every call): ~100 instructions per
 * call on top of the system call, 11% of the echo server's instructions
 * per message (callgrind, bench echo), for a runtime that never cancels a
 * thread.  Returns the bytes taken, UV_EAGAIN or an error, as
 * uv_try_write does (ENOBUFS is transient there too). */
static UVGO_NOINLINE int write_first_slow(uvgo_conn_t *c, const uv_buf_t *b,
                                          long r)
{
#if defined(__linux__) && defined(SYS_write)
    if (c->fd == FD_UNKNOWN) {
        uv_os_fd_t fd;
        c->fd = uv_fileno((uv_handle_t *)c->stream, &fd) == 0 ? fd : FD_NONE;
        if (c->fd >= 0)
            r = syscall(SYS_write, c->fd, b->base, (size_t)b->len);
    }
    if (c->fd >= 0) {
        while (r < 0 && errno == EINTR)
            r = syscall(SYS_write, c->fd, b->base, (size_t)b->len);
        if (r >= 0)
            return (int)r;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            return UV_EAGAIN;
        return uv_translate_sys_error(errno);
    }
#else
    (void)r;
#endif
    return uv_try_write(c->stream, b, 1);
}

/* Nothing stands before a write's first try: no other writer, no sticky
 * error, no queued byte, no expired deadline. */
static inline int write_clear(const uvgo_conn_t *c)
{
    return !c->wturn.busy && !c->closed && !c->write_err && !c->shut &&
           !c->wreq_busy && !c->wexpired;
}

/* Inline, so that the common write keeps few registers across it. */
static inline __attribute__((always_inline)) int write_first(uvgo_conn_t *c,
                                                             const uv_buf_t *b)
{
    long r = -1;
#if defined(__linux__) && defined(SYS_write)
    if (UVGO_LIKELY(c->fd >= 0)) {
        r = syscall(SYS_write, c->fd, b->base, (size_t)b->len);
        if (UVGO_LIKELY(r >= 0))
            return (int)r;
    }
#endif
    return write_first_slow(c, b, r);
}

static void on_wreq(uv_write_t *req, int status)
{
    uvgo_conn_t *c = req->handle->data;
    struct uvgo__waiter *w = c->writer;

    c->wreq_busy = 0;
    if (status < 0 && !c->closed)
        c->write_err = status;
    if (w) {
        c->writer = NULL;
        uvgo__waiter_wake(w, c->closed ? UVGO_ECLOSED : status);
    }
}

/* Where a writev stands: buffer i, offset off within it. */
struct wpos {
    const uv_buf_t *bufs;
    size_t n, i, off;
};

static void wpos_advance(struct wpos *p, size_t k)
{
    while (k > 0 && p->i < p->n) {
        size_t left = p->bufs[p->i].len - p->off;
        size_t step = k < left ? k : left;
        p->off += step;
        k -= step;
        if (p->off == p->bufs[p->i].len) {
            p->i++;
            p->off = 0;
        }
    }
    while (p->i < p->n && p->bufs[p->i].len == 0)
        p->i++;
}

/* Offers what is left to the kernel.  Returns the bytes it took (maybe 0)
 * or an error. */
static int try_write(uvgo_conn_t *c, struct wpos *p)
{
    const uv_buf_t *b = p->bufs + p->i;
    uv_buf_t win[32];
    unsigned k = (unsigned)(p->n - p->i);

    /* The caller's buffers as they are, unless the first was cut or
     * there are too many for one call. */
    if (p->off || k > uvgo__countof(win)) {
        k = 0;
        for (size_t i = p->i; i < p->n && k < uvgo__countof(win); i++) {
            size_t off = i == p->i ? p->off : 0;
            if (p->bufs[i].len > off)
                win[k++] = buf_of(p->bufs[i].base + off, p->bufs[i].len - off);
        }
        b = win;
    }
    int r = uv_try_write(c->stream, b, k);
    return r == UV_EAGAIN ? 0 : r;
}

static int write_turn(uvgo_conn_t *c, struct wpos *p, size_t *written,
                      uvgo_chan_t *done)
{
    for (;;) {
        int r;
        if (c->closed)
            return UVGO_ECLOSED;
        if (c->write_err)
            return c->write_err;
        if (c->shut)
            return UVGO_EPIPE;
        if (p->i == p->n)
            return 0;
        if (c->wexpired)
            return UVGO_ETIMEDOUT;
        if (!c->wreq_busy) {
            if ((r = try_write(c, p)) < 0) {
                c->write_err = r;
                return r;
            }
            wpos_advance(p, (size_t)r);
            *written += (size_t)r;
            if (p->i == p->n)
                return 0;
            /* The kernel is full: queue one byte to learn when it has
             * room (see the top of the file). */
            uv_buf_t one = uv_buf_init(&c->wbyte, 1);
            c->wbyte = p->bufs[p->i].base[p->off];
            if ((r = uv_write(&c->wreq, c->stream, &one, 1, on_wreq)))
                return r;
            c->wreq_busy = 1;
            wpos_advance(p, 1);
            *written += 1;
            continue;
        }
        struct uvgo__waiter w = {0};
        if ((r = wait_in_slot(c, &w, &c->writer, done, "conn write")))
            return r;
    }
}

static int conn_writev(uvgo_conn_t *c, const uv_buf_t *bufs, size_t n,
                       size_t *written, uvgo_ctx_t *ctx)
{
    struct wpos p = {bufs, n, 0, 0};
    uvgo_chan_t *done = NULL;
    size_t sent = 0;
    int err;

    if (written)
        *written = 0;
    /* Without a context, conn_enter finds out whether we are a task. */
    if (ctx && (err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!c || (!bufs && n))
        return ctx || uvgo__task_self() ? UVGO_EINVAL : UVGO_ENOTTASK;
    if ((err = conn_enter(c)))
        return err;
    if (UVGO_LIKELY(n == 1 && bufs[0].len <= INT_MAX && write_clear(c))) {
        /* The common write: one buffer, nothing in the way, and the
         * kernel usually takes it all at once (write_turn's first step,
         * without its bookkeeping). */
        int r = write_first(c, bufs);
        if (UVGO_LIKELY(r >= 0 && (size_t)r == bufs[0].len)) {
            if (written)
                *written = (size_t)r;
            return conn_leave(c, 0);
        }
        if (r < 0 && r != UV_EAGAIN) {
            c->write_err = r;
            return result_of(conn_leave(c, r), ctx);
        }
        if (r > 0) {
            wpos_advance(&p, (size_t)r);
            sent = (size_t)r;
        }
    }
    wpos_advance(&p, 0);
    if ((err = turn_take(c, &c->wturn, done)) == 0) {
        err = write_turn(c, &p, &sent, done);
        turn_give(&c->wturn);
    }
    if (written)
        *written = sent;
    return result_of(conn_leave(c, err), ctx);
}

int uvgo_conn_writev(uvgo_conn_t *c, const uv_buf_t *bufs, size_t n,
                     size_t *written)
{
    return conn_writev(c, bufs, n, written, NULL);
}

int uvgo_conn_writev_ctx(uvgo_conn_t *c, const uv_buf_t *bufs, size_t n,
                         size_t *written, uvgo_ctx_t *ctx)
{
    return conn_writev(c, bufs, n, written, ctx);
}

int uvgo_conn_write_ctx(uvgo_conn_t *c, const void *buf, size_t len,
                        size_t *written, uvgo_ctx_t *ctx)
{
    if (!buf && len)
        return UVGO_EINVAL;
    if (UVGO_LIKELY(len <= UINT_MAX)) {
        uv_buf_t one = buf_of((char *)buf, len);
        return conn_writev(c, &one, 1, written, ctx);
    }
    /* uv_buf_t lengths are unsigned int on some platforms: split. */
    uv_buf_t bufs[4];
    size_t n = 0, off = 0;
    while (off < len && n < uvgo__countof(bufs)) {
        size_t k = len - off < UINT_MAX ? len - off : UINT_MAX;
        bufs[n++] = uv_buf_init((char *)buf + off, (unsigned)k);
        off += k;
    }
    return conn_writev(c, bufs, n, written, ctx);
}

/* uvgo_conn_write after a first try that the kernel did not take whole:
 * r bytes taken, or UV_EAGAIN, or an error. */
static UVGO_NOINLINE int write_rest(uvgo_conn_t *c, const void *buf, size_t len,
                                    size_t *written, int r)
{
    if (r > 0) {
        /* Partly taken: the rest waits its turn as any write does. */
        int err = uvgo_conn_write_ctx(c, (const char *)buf + r, len - (size_t)r,
                                      written, NULL);
        if (written)
            *written += (size_t)r;
        return err;
    }
    if (r != UV_EAGAIN) {
        c->write_err = r;
        if (written)
            *written = 0;
        return r;
    }
    return uvgo_conn_write_ctx(c, buf, len, written, NULL);
}

int uvgo_conn_write(uvgo_conn_t *c, const void *buf, size_t len,
                    size_t *written)
{
    /* The common write, as conn_writev's first step but without building
     * its position and entering it: a task at home on c's loop whose
     * bytes the kernel takes at once never parks, so it needs no turn and
     * holds c by running (~30 instructions per write, bench echo).  What
     * is not the common case is out of line, so that this path saves few
     * registers. */
    if (UVGO_LIKELY(c && buf && len && len <= INT_MAX &&
                    uvgo__loop_home(c->loop) && write_clear(c))) {
        uv_buf_t one = buf_of((char *)buf, len);
        int r = write_first(c, &one);
        if (UVGO_LIKELY((size_t)r == len)) {
            if (written)
                *written = len;
            return 0;
        }
        return write_rest(c, buf, len, written, r);
    }
    return uvgo_conn_write_ctx(c, buf, len, written, NULL);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    uvgo_conn_t *c = req->handle->data;
    struct uvgo__waiter *w = c->writer;
    if (w) {
        c->writer = NULL;
        uvgo__waiter_wake(w, c->closed ? UVGO_ECLOSED : status);
    }
}

/* Waits until the queued byte is out (its callback would otherwise take
 * the shutdown's place as the writer), then shuts the sending side. */
static int shutdown_turn(uvgo_conn_t *c)
{
    struct uvgo__waiter w = {0};
    int err = 0;

    while (c->wreq_busy && err == 0) {
        memset(&w, 0, sizeof w);
        err = wait_in_slot(c, &w, &c->writer, NULL, "conn close write");
    }
    if (err || (err = uv_shutdown(&c->sreq, c->stream, on_shutdown)))
        return err;
    c->shut = 1;
    memset(&w, 0, sizeof w);
    return wait_in_slot(c, &w, &c->writer, NULL, "conn close write");
}

int uvgo_conn_close_write(uvgo_conn_t *c)
{
    int err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!c)
        return UVGO_EINVAL;
    if ((err = conn_enter(c)))
        return err;
    if ((err = turn_take(c, &c->wturn, NULL)) == 0) {
        if (c->closed)
            err = UVGO_ECLOSED;
        else if (c->shut)
            err = UVGO_EPIPE;
        else
            err = shutdown_turn(c);
        turn_give(&c->wturn);
    }
    return conn_leave(c, err);
}

/* ---- closing ------------------------------------------------------------ */

int uvgo__conn_close_here(uvgo_conn_t *c)
{
    struct uvgo__waiter *w;

    if (c->closed)
        return UVGO_ECLOSED;
    c->closed = 1;
    if ((w = c->reader)) {
        c->reader = NULL;
        uvgo__waiter_wake(w, UVGO_ECLOSED);
    }
    if ((w = c->writer)) {
        c->writer = NULL;
        uvgo__waiter_wake(w, UVGO_ECLOSED);
    }
    uvgo__waitlist_wake_all(&c->rturn.waiting, UVGO_ECLOSED);
    uvgo__waitlist_wake_all(&c->wturn.waiting, UVGO_ECLOSED);
    if (c->timers) {
        uv_close((uv_handle_t *)&c->rtimer, on_handle_closed);
        uv_close((uv_handle_t *)&c->wtimer, on_handle_closed);
    }
    /* Cancels a queued write and shutdown: their callbacks run first. */
    uv_close((uv_handle_t *)c->stream, on_handle_closed);
    return 0;
}

void uvgo__conn_free_here(uvgo_conn_t *c)
{
    (void)uvgo__conn_close_here(c);
    c->freed = 1;
    maybe_free(c);
}

int uvgo_conn_close(uvgo_conn_t *c)
{
    int err;
    if (!c)
        return UVGO_EINVAL;
    if ((err = conn_enter(c)))
        return err;
    return conn_leave(c, uvgo__conn_close_here(c));
}

void uvgo_conn_free(uvgo_conn_t *c)
{
    if (!c || conn_enter(c) != 0)
        return;
    c->users--;
    uvgo__conn_free_here(c);
}

/* ---- deadlines, addresses, options -------------------------------------- */

static int set_deadlines(uvgo_conn_t *c, int rd, int wr, int64_t deadline)
{
    int err;
    if ((err = conn_enter_open(c)))
        return err;
    if (rd)
        deadline_set(c, 1, deadline);
    if (wr)
        deadline_set(c, 0, deadline);
    return conn_leave(c, 0);
}

int uvgo_conn_set_deadline(uvgo_conn_t *c, int64_t deadline)
{
    return set_deadlines(c, 1, 1, deadline);
}

int uvgo_conn_set_read_deadline(uvgo_conn_t *c, int64_t deadline)
{
    return set_deadlines(c, 1, 0, deadline);
}

int uvgo_conn_set_write_deadline(uvgo_conn_t *c, int64_t deadline)
{
    return set_deadlines(c, 0, 1, deadline);
}

int uvgo_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    int n;

    if (!sa || !buf)
        return UVGO_EINVAL;
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof ip);
        n = snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, ip, sizeof ip);
        n = snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX:
        n = snprintf(buf, len, "%s",
                     ((const struct sockaddr_un *)sa)->sun_path);
        break;
    default:
        return UVGO_EAFNOSUPPORT;
    }
    return n >= 0 && (size_t)n < len ? n : UVGO_ENOBUFS;
}

/* The address of one end; loop thread. */
static int end_addr(uvgo_conn_t *c, int remote, struct sockaddr_storage *sa)
{
    int len = sizeof *sa;

    memset(sa, 0, sizeof *sa);
    if (c->closed)
        return UVGO_ECLOSED;
    if (c->stream->type == UV_TCP)
        return (remote ? uv_tcp_getpeername : uv_tcp_getsockname)(
            (uv_tcp_t *)c->stream, (struct sockaddr *)sa, &len);
    if (c->stream->type == UV_NAMED_PIPE) {
        struct sockaddr_un *un = (struct sockaddr_un *)sa;
        size_t n = sizeof un->sun_path;
        int err = (remote ? uv_pipe_getpeername : uv_pipe_getsockname)(
            (uv_pipe_t *)c->stream, un->sun_path, &n);
        un->sun_family = AF_UNIX;
        /* A pipe or an unnamed socket has no name: an empty path. */
        if (err == UV_ENOBUFS)
            return err;
        if (err)
            un->sun_path[0] = '\0';
        return 0;
    }
    return UVGO_ENOTSUP;
}

static int conn_addr(uvgo_conn_t *c, int remote, struct sockaddr_storage *sa,
                     char *buf, size_t len)
{
    struct sockaddr_storage tmp;
    int err;

    if (!c || (!sa && !buf))
        return UVGO_EINVAL;
    if ((err = conn_enter(c)))
        return err;
    err = end_addr(c, remote, sa ? sa : &tmp);
    if (err == 0 && buf)
        err =
            uvgo_sockaddr_format((struct sockaddr *)(sa ? sa : &tmp), buf, len);
    return conn_leave(c, err);
}

int uvgo_conn_local_addr(uvgo_conn_t *c, struct sockaddr_storage *sa)
{
    return sa ? conn_addr(c, 0, sa, NULL, 0) : UVGO_EINVAL;
}

int uvgo_conn_remote_addr(uvgo_conn_t *c, struct sockaddr_storage *sa)
{
    return sa ? conn_addr(c, 1, sa, NULL, 0) : UVGO_EINVAL;
}

int uvgo_conn_local_name(uvgo_conn_t *c, char *buf, size_t len)
{
    return buf ? conn_addr(c, 0, NULL, buf, len) : UVGO_EINVAL;
}

int uvgo_conn_remote_name(uvgo_conn_t *c, char *buf, size_t len)
{
    return buf ? conn_addr(c, 1, NULL, buf, len) : UVGO_EINVAL;
}

enum { OPT_NODELAY, OPT_KEEPALIVE, OPT_BUFFERS };

static int set_option(uvgo_conn_t *c, int opt, int64_t a, int b)
{
    int err;

    if ((err = conn_enter_open(c)))
        return err;
    if (opt != OPT_BUFFERS && c->stream->type != UV_TCP)
        err = UVGO_ENOTSUP;
    else if (opt == OPT_NODELAY)
        err = uv_tcp_nodelay((uv_tcp_t *)c->stream, a != 0);
    else if (opt == OPT_KEEPALIVE)
        err = uv_tcp_keepalive(
            (uv_tcp_t *)c->stream, a > 0,
            a > 0 ? (unsigned)((a + UVGO_SECOND - 1) / UVGO_SECOND) : 0);
    else if (a <= 0 || b <= 0)
        err = UVGO_EINVAL;
    else {
        int send = (int)a, recv = b;
        err = uv_send_buffer_size((uv_handle_t *)c->stream, &send);
        if (err == 0)
            err = uv_recv_buffer_size((uv_handle_t *)c->stream, &recv);
    }
    return conn_leave(c, err);
}

int uvgo_conn_set_nodelay(uvgo_conn_t *c, int on)
{
    return set_option(c, OPT_NODELAY, on, 0);
}

int uvgo_conn_set_keepalive(uvgo_conn_t *c, uvgo_duration_t period)
{
    return set_option(c, OPT_KEEPALIVE, period, 0);
}

int uvgo_conn_set_buffers(uvgo_conn_t *c, int send, int recv)
{
    return set_option(c, OPT_BUFFERS, send, recv);
}

/* ---- descriptors -------------------------------------------------------- */

int uvgo_conn_from_fd(uvgo_conn_t **out, int fd)
{
    uv_handle_type type;
    uvgo_conn_t *c;
    uv_loop_t *loop;
    int err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!out || fd < 0)
        return UVGO_EINVAL;
    type = uv_guess_handle(fd);
    if (type != UV_TCP && type != UV_NAMED_PIPE && type != UV_TTY)
        return UVGO_EINVAL;
    if (!(c = uvgo__conn_alloc()))
        return UVGO_ENOMEM;
    /* The handle belongs to this loop: stay on it until it is open. */
    loop = uvgo_loop();
    uvgo_loop_enter(loop);
    if (type == UV_TCP) {
        uv_tcp_init(loop, &c->h.tcp);
        err = uv_tcp_open(&c->h.tcp, fd);
    } else if (type == UV_NAMED_PIPE) {
        uv_pipe_init(loop, &c->h.pipe, 0);
        err = uv_pipe_open(&c->h.pipe, fd);
    } else {
        int readable = (fcntl(fd, F_GETFL) & O_ACCMODE) != O_WRONLY;
        err = uv_tty_init(loop, &c->h.tty, fd, readable);
        if (err) {
            uvgo__free(c);
            return err;
        }
    }
    uvgo__conn_open(c, loop);
    if (err) {
        /* The open failed before taking fd: it stays the caller's. */
        uvgo__conn_free_here(c);
        return err;
    }
    *out = c;
    return 0;
}
