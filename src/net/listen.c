/* listen.c: listeners, accepting, and the server loop (uvgo/net.h).
 *
 * Accepting on every worker.  A TCP listener has one socket per worker
 * loop, all bound to one address with SO_REUSEPORT, so the kernel spreads
 * incoming connections over the loops and each is accepted on the loop it
 * will live on: no hand-off between threads, no shared accept queue.  The
 * alternative, one accepting loop handing connections out to the others,
 * was built and measured on the echo benchmark (64 connections, 2 cores):
 * see test/bench/README.md for the numbers.  It spreads by choice (round
 * robin) where SO_REUSEPORT spreads by a hash of the peer's address and
 * port, but every connection then costs a cross-thread hand-off, and the
 * accepting loop is one more thing for the others to wait on.  The price of
 * SO_REUSEPORT: closing a listener resets the connections still queued on
 * its sockets (Go's listener, closed, does the same to its one queue), and
 * another SO_REUSEPORT listener of the same user could join the group, so
 * uvgo_listen first binds a plain probe socket to claim the port (giving
 * EADDRINUSE as Go does) and then binds the group to it.
 *
 * Back-pressure.  A socket accepts only when a task asks (a waiter in its
 * list): a connection that arrives with no task waiting is left to libuv,
 * which stops watching the socket until uv_accept, so the kernel's backlog
 * stays the queue.  uvgo_listener_accept() takes connections from every
 * socket through an unbuffered channel fed by one pump task per socket,
 * started by the first accept; uvgo_serve() instead runs one accepting
 * task per socket, on its worker, that starts each connection's handler
 * right there.
 *
 * EMFILE.  libuv meets an accept that fails for want of descriptors with
 * its reserve-descriptor trick: it closes the reserve, accepts and closes
 * the waiting connections (so the socket does not stay readable and
 * nothing spins), reopens the reserve, and reports nothing.  Only when the
 * reserve cannot be had does it report UV_EMFILE, which goes to the next
 * accept; uvgo_serve then backs off as Go's Serve does.
 *
 * Lifetime.  refs counts the user's handle, each socket handle not yet
 * closed and each pump task; the last to go frees the listener.
 */
#include <errno.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "runtime/runtime.h"

struct lsock {
    struct uvgo_listener *l;
    uv_loop_t *loop;            /* immutable */
    int worker;                 /* its worker's index; immutable */
    /* The loop's thread only. */
    int pending;                /* libuv holds a connection for us */
    int err;                    /* an accept error for the next accept */
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
    int kind;                   /* NET_TCP or NET_UNIX */
    int nsocks;                 /* sockets with an initialised handle */
    struct sockaddr_storage addr;
    atomic_int refs;
    atomic_int closed;          /* set once, before any socket closes */
    /* Under lock. */
    uvgo_spinlock_t lock;
    uvgo_chan_t *accepted;      /* struct accepted; made by the first accept */
    struct server *server;      /* uvgo_serve runs on it */
    struct lsock socks[];
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
    free(l);
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
static int lsock_accept(struct lsock *ls, uvgo_conn_t **out,
                        uvgo_chan_t *done)
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

static uv_loop_t *worker_loop(int k)
{
    struct uvgo_runtime *rt = atomic_load(&uvgo__rt);
    return rt->workers[k]->loop;
}

/* Binds a throw-away socket without SO_REUSEPORT to claim the address (and
 * pick the port for port 0), so that the SO_REUSEPORT group gets
 * EADDRINUSE where a plain socket would.  Writes the port into *addr.  A
 * plain socket, not a libuv handle: it is closed before the group binds,
 * and a handle's memory would have to outlive its close callback. */
static int claim_port(struct sockaddr_storage *addr)
{
    struct sockaddr_storage got;
    socklen_t len = sizeof got;
    int fd, one = 1, err = 0;

    fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    /* As libuv's bind does, so TIME_WAIT leftovers do not block it. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)addr,
             addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                         : sizeof(struct sockaddr_in)) != 0 ||
        getsockname(fd, (struct sockaddr *)&got, &len) != 0)
        err = uv_translate_sys_error(errno);
    else
        uvgo__addr_set_port(addr, uvgo__addr_port(&got));
    close(fd);
    return err;
}

/* Initialises socket k on its loop and starts listening. */
static int sock_listen(uvgo_listener_t *l, int k, uv_loop_t *loop,
                       int reuseport)
{
    struct lsock *ls = &l->socks[k];
    int err, one = 1;
    uv_os_fd_t fd;

    ls->l = l;
    ls->loop = loop;
    ls->worker = uvgo_worker_id();
    if (l->kind == NET_UNIX) {
        err = uv_pipe_init(loop, &ls->h.pipe, 0);
    } else {
        err = uv_tcp_init_ex(loop, &ls->h.tcp, l->addr.ss_family);
    }
    if (err)
        return err;
    ls->h.stream.data = ls;
    l->nsocks++;
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    if (l->kind == NET_UNIX) {
        err = uv_pipe_bind(&ls->h.pipe,
                           ((struct sockaddr_un *)&l->addr)->sun_path);
    } else {
        if (reuseport && uv_fileno((uv_handle_t *)&ls->h, &fd) == 0 &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            return uv_translate_sys_error(errno);
        err = uv_tcp_bind(&ls->h.tcp, (struct sockaddr *)&l->addr, 0);
    }
    if (!err)
        err = uv_listen(&ls->h.stream, 1024, on_connection);
    return err;
}

int uvgo_listen(uvgo_listener_t **out, const char *network,
                const char *address)
{
    struct uvgo__net net;
    struct sockaddr_storage addr;
    uvgo_listener_t *l;
    uv_loop_t *home;
    int n, err = 0;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!out || uvgo__net_parse(network, &net) || net.kind == NET_UDP)
        return UVGO_EINVAL;
    if (net.kind == NET_UNIX)
        n = uvgo__unix_addr(address, &addr) ? UVGO_EINVAL : 1;
    else
        n = uvgo__resolve(&net, address, &addr, 1, 1, NULL);
    if (n < 0)
        return n;
    n = net.kind == NET_UNIX ? 1 : uvgo_worker_count();
    if (!(l = calloc(1, sizeof *l + (size_t)n * sizeof l->socks[0])))
        return UVGO_ENOMEM;
    l->kind = net.kind;
    l->addr = addr;
    atomic_init(&l->refs, 1);
    home = uvgo_loop();
    uvgo_loop_enter(home);
    if (net.kind == NET_UNIX) {
        err = sock_listen(l, 0, home, 0);
    } else {
        if (n > 1)
            err = claim_port(&l->addr);
        for (int k = 0; k < n && !err; k++) {
            uv_loop_t *loop = n > 1 ? worker_loop(k) : home;
            uvgo_loop_enter(loop); /* each socket on its own loop */
            err = sock_listen(l, k, loop, n > 1);
            if (!err && n == 1) {
                struct sockaddr_storage got;
                int len = sizeof got;
                uv_tcp_getsockname(&l->socks[0].h.tcp,
                                   (struct sockaddr *)&got, &len);
                uvgo__addr_set_port(&l->addr, uvgo__addr_port(&got));
            }
        }
        uvgo_loop_enter(home);
    }
    if (err) {
        /* A Unix socket that failed to bind is not ours to unlink. */
        if (net.kind == NET_UNIX && err == UVGO_EADDRINUSE)
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

    uvgo__spin_lock(&l->lock);
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
    for (int k = 0; start && k < l->nsocks; k++) {
        uvgo_task_opts_t o = {"listener pump", 0, l->socks[k].worker + 1,
                              UVGO_TASK_PINNED};
        atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
        if (uvgo_task_spawn(NULL, pump, &l->socks[k], &o))
            listener_unref(l);
    }
    return err;
}

int uvgo_listener_accept_ctx(uvgo_listener_t *l, uvgo_conn_t **out,
                             uvgo_ctx_t *ctx)
{
    struct accepted a = {NULL, 0};
    uvgo_chan_t *ch, *done;
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
    if (!atomic_compare_exchange_strong_explicit(&l->closed, &expect, 1,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire))
        return UVGO_ECLOSED;
    uv_loop_t *home = uvgo_loop();
    for (int k = 0; k < l->nsocks; k++) {
        struct lsock *ls = &l->socks[k];
        uvgo_loop_enter(ls->loop);
        uvgo__waitlist_wake_all(&ls->waiters, UVGO_ECLOSED);
        uv_close((uv_handle_t *)&ls->h, on_sock_closed);
    }
    uvgo_loop_enter(home);
    if (l->kind == NET_UNIX && l->addr.ss_family == AF_UNIX)
        unlink(((struct sockaddr_un *)&l->addr)->sun_path);
    uvgo__spin_lock(&l->lock);
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
    uvgo_ctx_t *ctx;            /* cancelled to stop accepting */
    uvgo_wg_t acceptors, handlers;
    /* Under lock. */
    uvgo_spinlock_t lock;
    uvgo_conn_t *live;          /* connections being served */
    int err;                    /* what stopped the server, if not ctx */
};

static void live_unlink(struct server *s, uvgo_conn_t *c)
{
    if (c->server_prev)
        c->server_prev->server_next = c->server_next;
    else
        s->live = c->server_next;
    if (c->server_next)
        c->server_next->server_prev = c->server_prev;
    c->server_prev = c->server_next = NULL;
}

/* Drops one reference to c (its handler's or a closer's). */
static void live_unref(struct server *s, uvgo_conn_t *c, int unlink)
{
    int left;
    uvgo__spin_lock(&s->lock);
    if (unlink)
        live_unlink(s, c);
    left = --c->server_refs;
    uvgo__spin_unlock(&s->lock);
    if (left == 0)
        uvgo_conn_free(c);
}

static void *handler_main(void *arg)
{
    uvgo_conn_t *c = arg;
    struct server *s = c->server;

    s->fn(c, s->arg);
    live_unref(s, c, 1);
    uvgo_wg_done(&s->handlers);
    return NULL;
}

static void handler_start(struct server *s, struct lsock *ls, uvgo_conn_t *c)
{
    uvgo_task_opts_t o = {"conn handler", 0, ls->worker + 1, 0};

    c->server = s;
    c->server_refs = 1;
    uvgo__spin_lock(&s->lock);
    c->server_next = s->live;
    if (s->live)
        s->live->server_prev = c;
    s->live = c;
    uvgo__spin_unlock(&s->lock);
    uvgo_wg_add(&s->handlers, 1);
    if (uvgo_task_spawn(NULL, handler_main, c, &o) != 0) {
        live_unref(s, c, 1);
        uvgo_wg_done(&s->handlers);
    }
}

/* Go's Serve treats these as temporary: wait, then accept again. */
static int temporary(int err)
{
    return err == UVGO_EMFILE || err == UVGO_ENFILE || err == UVGO_ENOBUFS ||
           err == UVGO_ENOMEM || err == UVGO_ECONNABORTED ||
           err == UVGO_EAGAIN;
}

static void *serve_accept(void *arg)
{
    struct lsock *ls = arg;
    struct server *s = ls->l->server;
    uvgo_chan_t *done = uvgo_ctx_done(s->ctx);
    uvgo_duration_t backoff = 0;

    uvgo_loop_enter(ls->loop);
    for (;;) {
        uvgo_conn_t *c = NULL;
        int err = lsock_accept(ls, &c, done);
        if (err == UVGO__DONE)
            break;
        if (err == 0) {
            backoff = 0;
            handler_start(s, ls, c);
            continue;
        }
        if (temporary(err)) {
            /* Go's numbers: 5 ms, doubling, at most 1 s. */
            backoff = backoff ? backoff * 2 : 5 * UVGO_MILLISECOND;
            if (backoff > UVGO_SECOND)
                backoff = UVGO_SECOND;
            if (uvgo_sleep_ctx(backoff, s->ctx))
                break;
            uvgo_loop_enter(ls->loop);
            continue;
        }
        uvgo__spin_lock(&s->lock);
        if (!s->err)
            s->err = err;
        uvgo__spin_unlock(&s->lock);
        uvgo_ctx_cancel(s->ctx); /* the other sockets stop too */
        break;
    }
    uvgo_wg_done(&s->acceptors);
    return NULL;
}

/* Closes every live connection once; their handlers then return. */
static void close_live(struct server *s)
{
    for (;;) {
        uvgo_conn_t *c;
        uvgo__spin_lock(&s->lock);
        for (c = s->live; c && c->server_closed; c = c->server_next)
            ;
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

int uvgo_serve(uvgo_listener_t *l, uvgo_conn_fn fn, void *arg,
               uvgo_ctx_t *ctx, uvgo_duration_t grace)
{
    struct server *s;
    uvgo_chan_t *done;
    int err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!l || !fn)
        return UVGO_EINVAL;
    if (!(s = calloc(1, sizeof *s)))
        return UVGO_ENOMEM;
    s->l = l;
    s->fn = fn;
    s->arg = arg;
    if ((err = uvgo_ctx_with_cancel(&s->ctx, ctx))) {
        free(s);
        return err;
    }
    uvgo__spin_lock(&l->lock);
    if (atomic_load(&l->closed))
        err = UVGO_ECLOSED;
    else if (l->server || l->accepted)
        err = UVGO_EBUSY;
    else
        l->server = s;
    uvgo__spin_unlock(&l->lock);
    if (err) {
        uvgo_ctx_cancel_release(s->ctx);
        free(s);
        return err;
    }
    for (int k = 0; k < l->nsocks; k++) {
        uvgo_task_opts_t o = {"serve accept", 0, l->socks[k].worker + 1,
                              UVGO_TASK_PINNED};
        uvgo_wg_add(&s->acceptors, 1);
        if (uvgo_task_spawn(NULL, serve_accept, &l->socks[k], &o) != 0) {
            uvgo_wg_done(&s->acceptors);
            s->err = UVGO_ENOMEM;
            uvgo_ctx_cancel(s->ctx);
        }
    }
    uvgo_wg_wait(&s->acceptors);
    err = s->err ? s->err : uvgo_ctx_err(ctx);
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
    uvgo__spin_lock(&l->lock);
    l->server = NULL;
    uvgo__spin_unlock(&l->lock);
    uvgo_ctx_cancel_release(s->ctx);
    free(s);
    return err ? err : UVGO_ECLOSED;
}
