/* listen.c: listeners, accepting, and the server loop (uvgo/net.h).
 *
 * One socket, many workers.  A listener has one socket, on the loop of the
 * task that made it.  uvgo_serve() accepts there and hands connections to
 * the workers in turn: a connection for another worker leaves as a
 * descriptor (duplicated, close-on-exec like libuv's own, then the
 * accepting handle closes) and becomes a
 * connection on that worker's loop, in the task that serves it.  The
 * alternative, one SO_REUSEPORT socket per worker loop, was built and
 * measured against this on the echo benchmark (64 connections, 2 cores,
 * run-peers RUNS=3, twice each; see test/bench/README.md): messages per
 * second against libuv-raw's 0.79x and 0.86x with SO_REUSEPORT, 1.29x and
 * 0.96x handing out; server user CPU against Go's 0.74x and 0.65x, 0.59x
 * and 0.62x.  The kernel spreads SO_REUSEPORT connections by a hash of
 * their addresses, which split the 64 connections 28/36 or 35/29 in the
 * runs we looked at, and the busier loop sets the pace; handing out in
 * turn splits them 32/32.  SO_REUSEPORT would win where connections are
 * short and many (each costs the hand-off a dup, a close and a task on
 * another worker, and the accepting loop could become the bottleneck);
 * it also resets the connections queued on a socket that closes, and lets
 * another listener of the same user join the port.
 *
 * Back-pressure.  The socket accepts only when a task asks (a waiter in
 * its list): a connection that arrives with no task waiting is left to
 * libuv, which stops watching the socket until uv_accept, so the kernel's
 * backlog stays the queue.  uvgo_listener_accept() takes connections
 * through an unbuffered channel fed by a pump task, started by the first
 * accept; uvgo_serve() instead runs an accepting task that starts each
 * connection's handler.
 *
 * EMFILE.  libuv meets an accept that fails for want of descriptors with
 * its reserve-descriptor trick: it closes the reserve, accepts and closes
 * the waiting connections (so the socket does not stay readable and
 * nothing spins), reopens the reserve, and reports nothing.  Only when the
 * reserve cannot be had does it report UV_EMFILE, which goes to the next
 * accept; uvgo_serve then backs off as Go's Serve does.  A hand-off whose
 * dup fails serves the connection where it was accepted.
 *
 * Lifetime.  refs counts the user's handle, the socket handle until it
 * has closed and the pump task; the last to go frees the listener.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "runtime/runtime.h"

struct lsock {
    struct uvgo_listener *l;
    uv_loop_t *loop; /* immutable */
    int worker;      /* its worker's index; immutable */
    /* The loop's thread only. */
    int pending; /* libuv holds a connection for us */
    int err;     /* an accept error for the next accept */
    struct uvgo__waitlist waiters;
    union {
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
};

struct server;

struct uvgo_listener {
    /* Immutable once listening. */
    int kind; /* NET_TCP or NET_UNIX */
    int open; /* the socket's handle is initialised */
    struct sockaddr_storage addr;
    atomic_int refs;
    atomic_int closed; /* set once, before any socket closes */
    /* Under lock. */
    uvgo_spinlock_t lock;
    uvgo_chan_t *accepted; /* struct accepted; made by the first accept */
    struct server *server; /* uvgo_serve runs on it */
    struct lsock sock;
};

/* What a pump hands to uvgo_listener_accept. */
struct accepted {
    uvgo_conn_t *c;
    int err;
};

static void listener_unref(uvgo_listener_t *l)
{
    /* acq_rel: the last one sees everything the others did. */
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    uvgo_chan_release(l->accepted);
    uvgo__free(l);
}

/* ---- one socket ---------------------------------------------------------- */

/* Takes the connection libuv holds for ls.  Loop thread. */
static int do_accept(struct lsock *ls, uvgo_conn_t **out)
{
    uvgo_conn_t *c = uvgo__conn_alloc();
    int err;

    if (!c)
        return UVGO_ENOMEM;
    if (ls->l->kind == NET_UNIX)
        uv_pipe_init(ls->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(ls->loop, &c->h.tcp);
    uvgo__conn_open(c, ls->loop);
    if ((err = uv_accept(&ls->h.stream, c->stream))) {
        uvgo__conn_free_here(c);
        return err;
    }
    if (ls->l->kind == NET_TCP)
        uvgo__tcp_defaults(&c->h.tcp);
    *out = c;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct lsock *ls = server->data;
    struct uvgo__waiter *w = uvgo__waitlist_pop(&ls->waiters);
    uvgo_conn_t *c = NULL;

    if (!w) {
        /* Nobody asks: leave it queued (libuv pauses the socket). */
        if (status < 0)
            ls->err = status;
        else
            ls->pending = 1;
        return;
    }
    if (status == 0)
        status = do_accept(ls, &c);
    w->value = c;
    uvgo__waiter_wake(w, status);
}

/* Accepts one connection on ls.  The caller runs on ls->loop.  Returns 0,
 * an error, or UVGO__DONE when `done` closed first.  On ls->loop when it
 * returns. */
static int lsock_accept(struct lsock *ls, uvgo_conn_t **out, uvgo_chan_t *done)
{
    struct uvgo__waiter w = {0};
    int err;

    if (atomic_load_explicit(&ls->l->closed, memory_order_acquire))
        return UVGO_ECLOSED;
    if ((err = ls->err)) {
        ls->err = 0;
        return err;
    }
    if (ls->pending) {
        ls->pending = 0;
        return do_accept(ls, out);
    }
    uvgo__waitlist_push(&ls->waiters, &w);
    if (uvgo__waiter_park(&w, ls->loop, done, "accept") == UVGO__DONE) {
        uvgo__waitlist_unlink(&ls->waiters, &w);
        return UVGO__DONE;
    }
    if (w.result == 0)
        *out = w.value;
    return w.result;
}

static void on_sock_closed(uv_handle_t *h)
{
    listener_unref(((struct lsock *)h->data)->l);
}

/* ---- listening ----------------------------------------------------------- */

/* Initialises the socket on the calling task's loop and listens. */
static int sock_listen(uvgo_listener_t *l)
{
    struct lsock *ls = &l->sock;
    struct sockaddr_storage got;
    int err, len = sizeof got;

    ls->l = l;
    ls->loop = uvgo_loop();
    uvgo_loop_enter(ls->loop);
    ls->worker = uvgo_worker_id();
    if (l->kind == NET_UNIX)
        err = uv_pipe_init(ls->loop, &ls->h.pipe, 0);
    else
        err = uv_tcp_init_ex(ls->loop, &ls->h.tcp, l->addr.ss_family);
    if (err)
        return err;
    ls->h.stream.data = ls;
    l->open = 1;
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    if (l->kind == NET_UNIX)
        err = uv_pipe_bind(&ls->h.pipe,
                           ((struct sockaddr_un *)&l->addr)->sun_path);
    else
        err = uv_tcp_bind(&ls->h.tcp, (struct sockaddr *)&l->addr, 0);
    if (!err)
        err = uv_listen(&ls->h.stream, 1024, on_connection);
    /* Port 0: the one the kernel picked. */
    if (!err && l->kind == NET_TCP &&
        uv_tcp_getsockname(&ls->h.tcp, (struct sockaddr *)&got, &len) == 0)
        uvgo__addr_set_port(&l->addr, uvgo__addr_port(&got));
    return err;
}

int uvgo_listen(uvgo_listener_t **out, const char *network, const char *address)
{
    struct uvgo__net net;
    uvgo_listener_t *l;
    int n, err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!out || uvgo__net_parse(network, &net) || net.kind == NET_UDP)
        return UVGO_EINVAL;
    if (!(l = uvgo__calloc(1, sizeof *l)))
        return UVGO_ENOMEM;
    if (net.kind == NET_UNIX)
        n = uvgo__unix_addr(address, &l->addr) ? UVGO_EINVAL : 1;
    else
        n = uvgo__resolve(&net, address, &l->addr, 1, 1, NULL);
    if (n < 0) {
        uvgo__free(l);
        return n;
    }
    l->kind = net.kind;
    atomic_init(&l->refs, 1);
    if ((err = sock_listen(l))) {
        /* A Unix socket that failed to bind is not ours to unlink. */
        if (net.kind == NET_UNIX)
            l->addr.ss_family = AF_UNSPEC;
        uvgo_listener_free(l);
        return err;
    }
    *out = l;
    return 0;
}

/* ---- accepting ----------------------------------------------------------- */

static void *pump(void *arg)
{
    struct lsock *ls = arg;
    uvgo_listener_t *l = ls->l;

    uvgo_loop_enter(ls->loop);
    for (;;) {
        struct accepted a = {NULL, 0};
        a.err = lsock_accept(ls, &a.c, NULL);
        if (a.err == UVGO_ECLOSED)
            break;
        if (uvgo_chan_send(l->accepted, &a, sizeof a) != 0) {
            uvgo_conn_free(a.c); /* the listener closed meanwhile */
            break;
        }
    }
    listener_unref(l);
    return NULL;
}

/* The accept channel, made and fed on first use. */
static int accept_chan(uvgo_listener_t *l, uvgo_chan_t **out)
{
    int err = 0, start = 0;

    uvgo__spin_lock(&l->lock, UVGO_RANK_NET);
    if (atomic_load(&l->closed))
        err = UVGO_ECLOSED;
    else if (l->server)
        err = UVGO_EBUSY;
    else if (!l->accepted)
        start = (err = uvgo_chan_make(&l->accepted, sizeof(struct accepted),
                                      0)) == 0;
    if (!err)
        *out = uvgo_chan_retain(l->accepted);
    uvgo__spin_unlock(&l->lock);
    /* Spawning may yield: not under the lock. */
    if (start) {
        uvgo_task_opts_t o = {"listener pump", 0, l->sock.worker + 1,
                              UVGO_TASK_PINNED};
        atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
        if (uvgo_task_spawn(NULL, pump, &l->sock, &o))
            listener_unref(l);
    }
    return err;
}

int uvgo_listener_accept_ctx(uvgo_listener_t *l, uvgo_conn_t **out,
                             uvgo_ctx_t *ctx)
{
    struct accepted a = {NULL, 0};
    uvgo_chan_t *ch = NULL, *done;
    int err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!l || !out)
        return UVGO_EINVAL;
    if ((err = accept_chan(l, &ch)))
        return err;
    err = uvgo_chan_recv_ctx(ch, &a, sizeof a, NULL, ctx);
    uvgo_chan_release(ch);
    if (err)
        return err;
    if (a.err)
        return a.err;
    *out = a.c;
    return 0;
}

int uvgo_listener_accept(uvgo_listener_t *l, uvgo_conn_t **out)
{
    return uvgo_listener_accept_ctx(l, out, NULL);
}

/* ---- closing and naming -------------------------------------------------- */

int uvgo_listener_close(uvgo_listener_t *l)
{
    uvgo_chan_t *ch;
    int expect = 0;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!l)
        return UVGO_EINVAL;
    /* release: a socket's loop that sees `closed` sees it all. */
    if (!atomic_compare_exchange_strong_explicit(
            &l->closed, &expect, 1, memory_order_acq_rel, memory_order_acquire))
        return UVGO_ECLOSED;
    if (l->open) {
        struct lsock *ls = &l->sock;
        uv_loop_t *home = uvgo_loop();
        uvgo_loop_enter(ls->loop);
        uvgo__waitlist_wake_all(&ls->waiters, UVGO_ECLOSED);
        uv_close((uv_handle_t *)&ls->h, on_sock_closed);
        uvgo_loop_enter(home);
    }
    if (l->kind == NET_UNIX && l->addr.ss_family == AF_UNIX)
        unlink(((struct sockaddr_un *)&l->addr)->sun_path);
    uvgo__spin_lock(&l->lock, UVGO_RANK_NET);
    ch = l->accepted;
    uvgo__spin_unlock(&l->lock);
    if (ch)
        uvgo_chan_close(ch); /* pumps and accepters see ECLOSED */
    return 0;
}

void uvgo_listener_free(uvgo_listener_t *l)
{
    if (!l)
        return;
    (void)uvgo_listener_close(l);
    listener_unref(l);
}

int uvgo_listener_addr(uvgo_listener_t *l, struct sockaddr_storage *sa)
{
    if (!l || !sa)
        return UVGO_EINVAL;
    *sa = l->addr;
    return 0;
}

int uvgo_listener_name(uvgo_listener_t *l, char *buf, size_t len)
{
    if (!l || !buf)
        return UVGO_EINVAL;
    return uvgo_sockaddr_format((const struct sockaddr *)&l->addr, buf, len);
}

int uvgo_listener_port(uvgo_listener_t *l)
{
    return l ? uvgo__addr_port(&l->addr) : UVGO_EINVAL;
}

/* ---- serving ------------------------------------------------------------- */

struct server {
    uvgo_listener_t *l;
    uvgo_conn_fn fn;
    void *arg;
    uvgo_wg_t handlers; /* handler tasks still running */
    unsigned next;      /* the worker the next connection goes to;
                           the accepting task's */
    /* Under lock. */
    uvgo_spinlock_t lock;
    uvgo_list_t live; /* connections being served, newest first */
    int closing;      /* live connections are being closed */
};

/* Drops one reference to c (its handler's or a closer's). */
static void live_unref(struct server *s, uvgo_conn_t *c, int unlink)
{
    int left;
    uvgo__spin_lock(&s->lock, UVGO_RANK_NET);
    if (unlink)
        uvgo__list_remove(&s->live, &c->server_link);
    left = --c->server_refs;
    uvgo__spin_unlock(&s->lock);
    if (left == 0)
        uvgo_conn_free(c);
}

/* Serves c in the calling task: registers it as live, runs the handler,
 * lets go of it.  A connection that comes after the shutdown began closing
 * live ones is closed unserved. */
static void serve_conn(struct server *s, uvgo_conn_t *c)
{
    int closing;

    c->server = s;
    c->server_refs = 1;
    uvgo__spin_lock(&s->lock, UVGO_RANK_NET);
    closing = s->closing;
    if (!closing)
        uvgo__list_push_front(&s->live, &c->server_link);
    uvgo__spin_unlock(&s->lock);
    if (closing) {
        uvgo_conn_free(c);
        return;
    }
    s->fn(c, s->arg);
    live_unref(s, c, 1);
}

static void *handler_main(void *arg)
{
    uvgo_conn_t *c = arg;
    struct server *s = c->server;

    serve_conn(s, c);
    uvgo_wg_done(&s->handlers);
    return NULL;
}

/* A connection handed to another worker, as a descriptor. */
struct handoff {
    struct server *s;
    int fd;
};

static void *handoff_main(void *arg)
{
    struct handoff h = *(struct handoff *)arg;
    uvgo_conn_t *c;

    uvgo__free(arg);
    if (uvgo_conn_from_fd(&c, h.fd) == 0) {
        uvgo__tcp_defaults(&c->h.tcp);
        serve_conn(h.s, c);
    } else {
        close(h.fd);
    }
    uvgo_wg_done(&h.s->handlers);
    return NULL;
}

/* Starts c's handler on the next worker in turn.  Runs on ls->loop. */
static void handler_start(struct server *s, struct lsock *ls, uvgo_conn_t *c)
{
    int n = uvgo_worker_count(), to = (int)(s->next++ % (unsigned)n);
    uvgo_task_opts_t o = {"conn handler", 0, to + 1, 0};
    struct handoff *h = NULL;
    uv_os_fd_t fd;

    uvgo_wg_add(&s->handlers, 1);
    if (to != ls->worker && ls->l->kind == NET_TCP &&
        (h = uvgo__malloc(sizeof *h)) &&
        uv_fileno((uv_handle_t *)c->stream, &fd) == 0 &&
        (h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
        h->s = s;
        uvgo__conn_free_here(c); /* the duplicate carries it over */
        if (uvgo_task_spawn(NULL, handoff_main, h, &o) == 0)
            return;
        close(h->fd);
        uvgo__free(h);
        uvgo_wg_done(&s->handlers);
        return;
    }
    uvgo__free(
        h); /* not handed off (one worker, a Unix socket, no descriptor) */
    c->server = s;
    o.worker = ls->worker + 1;
    if (uvgo_task_spawn(NULL, handler_main, c, &o) != 0) {
        uvgo__conn_free_here(c);
        uvgo_wg_done(&s->handlers);
    }
}

/* Go's Serve treats these as temporary: wait, then accept again. */
static int temporary(int err)
{
    return err == UVGO_EMFILE || err == UVGO_ENFILE || err == UVGO_ENOBUFS ||
           err == UVGO_ENOMEM || err == UVGO_ECONNABORTED || err == UVGO_EAGAIN;
}

/* The accept loop, in uvgo_serve's task: until ctx is done or an accept
 * fails for good.  Returns that error, or 0 when ctx ended it. */
static int serve_accept(struct server *s, struct lsock *ls, uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done = uvgo_ctx_done(ctx);
    uvgo_duration_t backoff = 0;

    uvgo_loop_enter(ls->loop);
    for (;;) {
        uvgo_conn_t *c = NULL;
        int err = lsock_accept(ls, &c, done);
        if (err == UVGO__DONE)
            return 0;
        if (err == 0) {
            backoff = 0;
            handler_start(s, ls, c);
            continue;
        }
        if (!temporary(err))
            return err;
        /* Go's numbers: 5 ms, doubling, at most 1 s. */
        backoff = backoff ? backoff * 2 : 5 * UVGO_MILLISECOND;
        if (backoff > UVGO_SECOND)
            backoff = UVGO_SECOND;
        if (uvgo_sleep_ctx(backoff, ctx))
            return 0;
        uvgo_loop_enter(ls->loop);
    }
}

/* Closes every live connection once; their handlers then return. */
static void close_live(struct server *s)
{
    uvgo__spin_lock(&s->lock, UVGO_RANK_NET);
    s->closing = 1;
    uvgo__spin_unlock(&s->lock);
    for (;;) {
        uvgo_conn_t *each, *c = NULL;
        uvgo__spin_lock(&s->lock, UVGO_RANK_NET);
        UVGO_LIST_FOREACH(each, &s->live, uvgo_conn_t, server_link)
        if (!each->server_closed && (c = each))
            break;
        if (c) {
            c->server_closed = 1;
            c->server_refs++;
        }
        uvgo__spin_unlock(&s->lock);
        if (!c)
            return;
        (void)uvgo_conn_close(c);
        live_unref(s, c, 0);
    }
}

int uvgo_serve(uvgo_listener_t *l, uvgo_conn_fn fn, void *arg, uvgo_ctx_t *ctx,
               uvgo_duration_t grace)
{
    struct server *s;
    uvgo_chan_t *done;
    int err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!l || !fn)
        return UVGO_EINVAL;
    if (!(s = uvgo__calloc(1, sizeof *s)))
        return UVGO_ENOMEM;
    s->l = l;
    s->fn = fn;
    s->arg = arg;
    uvgo__spin_lock(&l->lock, UVGO_RANK_NET);
    if (atomic_load(&l->closed))
        err = UVGO_ECLOSED;
    else if (l->server || l->accepted)
        err = UVGO_EBUSY;
    else
        l->server = s;
    uvgo__spin_unlock(&l->lock);
    if (err) {
        uvgo__free(s);
        return err;
    }
    if ((err = serve_accept(s, &l->sock, ctx)) == 0)
        err = uvgo_ctx_err(ctx);
    (void)uvgo_listener_close(l);
    if (grace >= 0) {
        uvgo_ctx_t *wait;
        if (uvgo_ctx_with_timeout(&wait, NULL, grace) == 0) {
            (void)uvgo_wg_wait_ctx(&s->handlers, wait);
            uvgo_ctx_cancel_release(wait);
        }
        close_live(s);
    }
    uvgo_wg_wait(&s->handlers);
    uvgo__spin_lock(&l->lock, UVGO_RANK_NET);
    l->server = NULL;
    uvgo__spin_unlock(&l->lock);
    uvgo__free(s);
    return err;
}
