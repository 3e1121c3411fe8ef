/* server.c: servers (Go's http.Server) on net's listeners and connections.
 *
 * Accepting is uvgo_serve()'s (uvgo/net.h): it accepts, and runs a task
 * per connection on the workers in turn.  Each connection task runs
 * conn_main(): it registers its connection with the server, serves it
 * through conn.c with the socket as transport, and unregisters.
 *
 * Shutdown (Go's Shutdown, in this order):
 *
 *   1. shutting_down = 1.  A connection that finishes a response now
 *      closes after it (the response says "Connection: close"); one that
 *      goes idle closes at once.
 *   2. Drain: accepting continues until no connection has come for
 *      DRAIN_QUIET (at most DRAIN_MAX), so the connections the kernel had
 *      already queued are taken and served rather than reset when the
 *      listeners close.  (A listener offers no non-blocking accept that
 *      would empty its queue exactly; a quiet period is the next best.)
 *   3. accept_ctx is cancelled: every serve call closes its listener and
 *      waits for its connections.
 *   4. Until every serve call has returned: idle connections are closed
 *      (a CAS from IDLE, or NEW once older than NEW_GRACE, to CLOSING:
 *      the connection's own CAS to ACTIVE fails if a request's first byte
 *      races in, and that request is not started, as in Go), polling with
 *      a backoff as Go does.
 *   5. If ctx ends first: every connection left is closed, its handler's
 *      writes fail and request contexts end (conn_ctx is cancelled); the
 *      requests running are counted as cut.
 *
 * Closing a connection from the shutdown task races with its own task
 * leaving: the socket must outlive the close call.  So a closer marks
 * itself in s->closers under the server's lock, and a leaving connection
 * task waits (s->released) for closers to finish before uvgo_serve frees
 * the socket.
 *
 * Counting requests costs no shared write per request: each connection
 * counts its own, added to `served` when it ends.
 */
#include "base/list.h"
#include "http/http.h"

/* Step 2 above. */
#define DRAIN_QUIET (20 * UVGO_MILLISECOND)
#define DRAIN_MAX (250 * UVGO_MILLISECOND)
/* A NEW connection counts as idle after this long without a request
 * (Go: 5 s). */
#define NEW_GRACE (1 * UVGO_SECOND)
/* Polling for the end of connections (Go: 1 ms doubling to 500 ms). */
#define POLL_MIN UVGO_MILLISECOND
#define POLL_MAX (50 * UVGO_MILLISECOND)

/* A connection served on a socket. */
typedef struct sconn {
    uvgo__http_conn_t http; /* first: conn.c's hooks get &http */
    uvgo_conn_t *sock;
    int64_t rdeadline, wdeadline; /* as set on sock */
    int64_t accepted;             /* uvgo_now() */
    /* Under the server's lock. */
    uvgo_list_node_t link; /* in the server's live list */
    int closers;           /* tasks closing sock right now */
    int closed;            /* the server closed (or is closing) it */
    int leaving;           /* its task is done and waits for closers */
    uvgo_event_t released; /* set by the last closer of a leaver */
} sconn_t;

struct uvgo_http_server {
    /* Immutable after make. */
    uvgo__http_config_t cfg;
    uvgo_http_conn_state_fn user_state;
    void *user_state_arg;
    uvgo_ctx_t *accept_ctx; /* cancelled to stop accepting */
    uvgo_ctx_t *conn_ctx;   /* parent of request contexts */

    atomic_int shutting_down;    /* seq_cst: see conn.c's shutting_down */
    atomic_int shutdown_ran;     /* shutdown or close started */
    atomic_int serving;          /* serve calls running */
    _Atomic int64_t last_accept; /* relaxed: a hint for the drain */
    _Atomic uint64_t next_id;
    _Atomic uint64_t served; /* requests of ended connections */

    uvgo_spinlock_t lock;
    uvgo_list_t live; /* under lock: sconn_t, newest first */
};

/* ---- the socket as transport -------------------------------------------- */

static int sock_read(void *io, char *buf, size_t cap, int64_t deadline)
{
    sconn_t *s = io;
    if (deadline != s->rdeadline) {
        uvgo_conn_set_read_deadline(s->sock, deadline);
        s->rdeadline = deadline;
    }
    int n = uvgo_conn_read(s->sock, buf, cap);
    return n == UVGO_EOF ? 0 : n;
}

static int sock_write(void *io, const uv_buf_t *bufs, unsigned nbufs,
                      int64_t deadline)
{
    sconn_t *s = io;
    if (deadline != s->wdeadline) {
        uvgo_conn_set_write_deadline(s->sock, deadline);
        s->wdeadline = deadline;
    }
    return uvgo_conn_writev(s->sock, bufs, nbufs, NULL);
}

static int sock_close_write(void *io)
{
    return uvgo_conn_close_write(((sconn_t *)io)->sock);
}

static int sock_peek(void *io, char *byte, uvgo_ctx_t *ctx)
{
    sconn_t *s = io;
    /* No deadline: a handler may run for as long as it likes. */
    if (s->rdeadline) {
        uvgo_conn_set_read_deadline(s->sock, 0);
        s->rdeadline = 0;
    }
    int n = uvgo_conn_read_ctx(s->sock, byte, 1, ctx);
    return n == UVGO_EOF ? 0 : n;
}

static const uvgo__http_transport_t sock_transport = {
    sock_read, sock_write, sock_close_write, sock_peek};

/* ---- connections --------------------------------------------------------- */

static void on_state(uvgo__http_conn_t *c, int state)
{
    uvgo_http_server_t *srv = c->server;
    srv->user_state(c->id, c->remote_addr, (uvgo_http_conn_state_t)state,
                    srv->user_state_arg);
}

static void conn_main(uvgo_conn_t *sock, void *arg)
{
    uvgo_http_server_t *srv = arg;
    sconn_t *s = uvgo__malloc(sizeof *s);
    int wait;

    if (!s)
        return;
    if (uvgo__http_conn_init(&s->http, &srv->cfg, &sock_transport, s)) {
        uvgo__free(s);
        return;
    }
    s->sock = sock;
    s->rdeadline = s->wdeadline = 0;
    s->accepted = uvgo_now();
    s->closers = s->closed = s->leaving = 0;
    s->link.next = s->link.prev = NULL;
    s->released = (uvgo_event_t)UVGO_EVENT_INIT;
    s->http.server = srv;
    s->http.ctx = srv->conn_ctx;
    s->http.id =
        atomic_fetch_add_explicit(&srv->next_id, 1, memory_order_relaxed) + 1;
    if (uvgo_conn_remote_name(sock, s->http.remote_addr,
                              sizeof s->http.remote_addr) < 0)
        s->http.remote_addr[0] = '\0';
    atomic_store_explicit(&srv->last_accept, s->accepted, memory_order_relaxed);

    uvgo__spin_lock(&srv->lock, UVGO_RANK_HTTP);
    uvgo__list_push_front(&srv->live, &s->link);
    uvgo__spin_unlock(&srv->lock);

    uvgo__http_conn_serve(&s->http);

    uvgo__spin_lock(&srv->lock, UVGO_RANK_HTTP);
    uvgo__list_remove(&srv->live, &s->link);
    s->leaving = 1;
    wait = s->closers > 0;
    /* Under the lock, so uvgo_http_server_requests() counts it once. */
    atomic_fetch_add_explicit(
        &srv->served,
        (uint64_t)atomic_load_explicit(&s->http.requests, memory_order_relaxed),
        memory_order_relaxed);
    uvgo__spin_unlock(&srv->lock);
    if (wait)
        uvgo_event_wait(&s->released, "http conn closer");
    uvgo__http_conn_destroy(&s->http);
    uvgo__free(s);
}

/* Closes the sockets of the live connections that `pick` selects, each
 * once; returns how many of those were running a request. */
static size_t close_conns(uvgo_http_server_t *srv,
                          int (*pick)(sconn_t *s, int64_t now))
{
    size_t running = 0;
    int64_t now = uvgo_now();
    for (;;) {
        sconn_t *each, *s = NULL;
        uvgo__spin_lock(&srv->lock, UVGO_RANK_HTTP);
        UVGO_LIST_FOREACH(each, &srv->live, sconn_t, link)
        if (!each->closed && pick(each, now) && (s = each))
            break;
        if (s) {
            s->closed = 1;
            s->closers++;
            if (atomic_load_explicit(&s->http.in_request, memory_order_relaxed))
                running++;
        }
        uvgo__spin_unlock(&srv->lock);
        if (!s)
            return running;
        (void)uvgo_conn_close(s->sock);
        uvgo__spin_lock(&srv->lock, UVGO_RANK_HTTP);
        int release = --s->closers == 0 && s->leaving;
        uvgo__spin_unlock(&srv->lock);
        if (release)
            uvgo_event_set(&s->released);
    }
}

/* An idle connection, claimed for closing: its task's CAS to ACTIVE now
 * fails.  Called under the server's lock. */
static int pick_idle(sconn_t *s, int64_t now)
{
    int from = UVGO__HTTP_IDLE;
    if (atomic_compare_exchange_strong(&s->http.state, &from,
                                       UVGO__HTTP_CLOSING))
        return 1;
    from = UVGO__HTTP_NEW;
    return now - s->accepted >= NEW_GRACE &&
           atomic_compare_exchange_strong(&s->http.state, &from,
                                          UVGO__HTTP_CLOSING);
}

static int pick_all(sconn_t *s, int64_t now)
{
    (void)s;
    (void)now;
    return 1;
}

/* ---- the server ------------------------------------------------------------
 */

int uvgo_http_server_make(uvgo_http_server_t **out,
                          const uvgo_http_server_opts_t *o)
{
    uvgo_http_server_t *srv;
    if (!out || !o || !o->handler)
        return UVGO_EINVAL;
    if (!(srv = uvgo__calloc(1, sizeof *srv)))
        return UVGO_ENOMEM;
    uvgo__http_config_resolve(&srv->cfg, o);
    srv->cfg.shutting_down = &srv->shutting_down;
    if (o->conn_state) {
        srv->user_state = o->conn_state;
        srv->user_state_arg = o->conn_state_arg;
        srv->cfg.on_state = on_state;
    }
    if (uvgo_ctx_with_cancel(&srv->accept_ctx, NULL) ||
        uvgo_ctx_with_cancel(&srv->conn_ctx, NULL)) {
        uvgo_ctx_cancel_release(srv->accept_ctx);
        uvgo__free(srv);
        return UVGO_ENOMEM;
    }
    *out = srv;
    return 0;
}

int uvgo_http_server_serve(uvgo_http_server_t *srv, uvgo_listener_t *l)
{
    int err;
    if (!srv || !l)
        return UVGO_EINVAL;
    atomic_fetch_add(&srv->serving, 1);
    if (atomic_load(&srv->shutting_down)) {
        atomic_fetch_sub(&srv->serving, 1);
        return UVGO_ECLOSED;
    }
    /* Connections are closed by shutdown, never by uvgo_serve's grace. */
    err = uvgo_serve(l, conn_main, srv, srv->accept_ctx, -1);
    atomic_fetch_sub(&srv->serving, 1);
    if (err == UVGO_ECANCELED || atomic_load(&srv->shutting_down))
        return UVGO_ECLOSED;
    return err;
}

int uvgo_http_server_listen_and_serve(uvgo_http_server_t *srv,
                                      const char *address)
{
    uvgo_listener_t *l;
    int err;
    if (!srv || !address)
        return UVGO_EINVAL;
    if ((err = uvgo_listen(&l, "tcp", address)))
        return err;
    err = uvgo_http_server_serve(srv, l);
    uvgo_listener_free(l);
    return err;
}

/* Waits until the accept queues have been quiet for DRAIN_QUIET, at most
 * DRAIN_MAX or until ctx ends. */
static void drain_accepts(uvgo_http_server_t *srv, uvgo_ctx_t *ctx)
{
    int64_t start = uvgo_now();
    for (;;) {
        int64_t now = uvgo_now();
        int64_t last =
            atomic_load_explicit(&srv->last_accept, memory_order_relaxed);
        int64_t quiet_until = (last > start ? last : start) + DRAIN_QUIET;
        if (now >= quiet_until || now - start >= DRAIN_MAX)
            return;
        if (uvgo_sleep_ctx(quiet_until - now, ctx))
            return;
    }
}

static int stop(uvgo_http_server_t *srv, uvgo_ctx_t *ctx, size_t *cut,
                int graceful)
{
    int expect = 0, err = 0;
    size_t running = 0;
    if (cut)
        *cut = 0;
    if (!srv)
        return UVGO_EINVAL;
    if (!atomic_compare_exchange_strong(&srv->shutdown_ran, &expect, 1))
        return UVGO_ECLOSED;
    atomic_store(&srv->shutting_down, 1); /* seq_cst: see pick_idle */
    if (graceful)
        drain_accepts(srv, ctx);
    uvgo_ctx_cancel(srv->accept_ctx);
    if (graceful) {
        uvgo_duration_t backoff = POLL_MIN;
        while (atomic_load(&srv->serving) > 0) {
            close_conns(srv, pick_idle);
            if ((err = uvgo_sleep_ctx(backoff, ctx)))
                break;
            if ((backoff *= 2) > POLL_MAX)
                backoff = POLL_MAX;
        }
        if (!err)
            return 0;
    }
    /* Out of time (or Close): end everything now. */
    uvgo_ctx_cancel(srv->conn_ctx);
    running = close_conns(srv, pick_all);
    if (cut)
        *cut = running;
    return graceful ? err : 0;
}

int uvgo_http_server_shutdown(uvgo_http_server_t *srv, uvgo_ctx_t *ctx,
                              size_t *cut)
{
    return stop(srv, ctx, cut, 1);
}

int uvgo_http_server_close(uvgo_http_server_t *srv, size_t *cut)
{
    return stop(srv, NULL, cut, 0);
}

uint64_t uvgo_http_server_requests(uvgo_http_server_t *srv)
{
    if (!srv)
        return 0;
    uint64_t n = atomic_load_explicit(&srv->served, memory_order_relaxed);
    sconn_t *s;
    uvgo__spin_lock(&srv->lock, UVGO_RANK_HTTP);
    UVGO_LIST_FOREACH(s, &srv->live, sconn_t, link)
    n +=
        (uint64_t)atomic_load_explicit(&s->http.requests, memory_order_relaxed);
    uvgo__spin_unlock(&srv->lock);
    return n;
}

void uvgo_http_server_free(uvgo_http_server_t *srv)
{
    if (!srv)
        return;
    uvgo_ctx_cancel_release(srv->accept_ctx);
    uvgo_ctx_cancel_release(srv->conn_ctx);
    uvgo__free(srv);
}
