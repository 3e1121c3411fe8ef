/* udp.c: UDP sockets for tasks (uvgo/net.h).
 *
 * As with streams (stream.h), the socket belongs to its loop's thread and
 * every call enters that loop.  Receivers queue in FIFO order; libuv's
 * alloc callback hands out the first one's buffer, so a datagram lands in
 * the caller's memory, and receiving stops while nobody waits (the kernel
 * keeps the datagrams, up to its buffer).  A send first tries
 * uv_udp_try_send; only when the kernel's buffer is full does it copy the
 * datagram into a request of io.h, which a cancelled sender may leave
 * behind (a datagram is sent whole or not at all, so it is simply sent
 * later or dropped with the socket).
 */
#include <string.h>

#include "net/net.h"

struct uvgo_udp {
    uv_loop_t *loop; /* immutable */
    /* The loop's thread only. */
    int closed, freed, users;
    int handle_open;
    int receiving;
    struct uvgo__waitlist readers;
    uv_udp_t h;
};

static void maybe_free(uvgo_udp_t *u)
{
    if (u->freed && u->users == 0 && !u->handle_open)
        uvgo__free(u);
}

static void on_closed(uv_handle_t *h)
{
    uvgo_udp_t *u = h->data;
    u->handle_open = 0;
    maybe_free(u);
}

static int udp_enter(uvgo_udp_t *u)
{
    int err;
    if (!u)
        return UVGO_EINVAL;
    if ((err = uvgo_loop_enter(u->loop)))
        return err;
    u->users++;
    return 0;
}

static int udp_leave(uvgo_udp_t *u, int result)
{
    u->users--;
    maybe_free(u);
    return result;
}

/* Makes a socket of `family` on the calling task's loop, then runs
 * setup(u, sa): a bind or a connect. */
static int udp_open(uvgo_udp_t **out, const struct sockaddr_storage *sa,
                    int (*setup)(uv_udp_t *h, const struct sockaddr *sa))
{
    uvgo_udp_t *u = uvgo__calloc(1, sizeof *u);
    int err;

    if (!u)
        return UVGO_ENOMEM;
    u->loop = uvgo_loop();
    uvgo_loop_enter(u->loop);
    if ((err = uv_udp_init_ex(u->loop, &u->h, sa->ss_family))) {
        uvgo__free(u);
        return err;
    }
    u->h.data = u;
    u->handle_open = 1;
    if ((err = setup(&u->h, (const struct sockaddr *)sa))) {
        u->freed = 1;
        uv_close((uv_handle_t *)&u->h, on_closed);
        return err;
    }
    *out = u;
    return 0;
}

static int do_bind(uv_udp_t *h, const struct sockaddr *sa)
{
    return uv_udp_bind(h, sa, 0);
}

static int do_connect(uv_udp_t *h, const struct sockaddr *sa)
{
    return uv_udp_connect(h, sa);
}

static int udp_make(uvgo_udp_t **out, const char *network, const char *address,
                    int passive)
{
    struct uvgo__net n;
    struct sockaddr_storage sa;
    int err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!out || uvgo__net_parse(network, &n) || n.kind != NET_UDP)
        return UVGO_EINVAL;
    if ((err = uvgo__resolve(&n, address, &sa, 1, passive, NULL)) < 0)
        return err;
    return udp_open(out, &sa, passive ? do_bind : do_connect);
}

int uvgo_udp_bind(uvgo_udp_t **out, const char *network, const char *address)
{
    return udp_make(out, network, address, 1);
}

int uvgo_udp_dial(uvgo_udp_t **out, const char *network, const char *address)
{
    return udp_make(out, network, address, 0);
}

/* ---- receiving ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    uvgo_udp_t *u = h->data;
    struct uvgo__waiter *w = uvgo__waitlist_first(&u->readers);
    (void)hint;
    *buf = w ? uv_buf_init(w->buf, (unsigned)w->len) : uv_buf_init(NULL, 0);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags)
{
    uvgo_udp_t *u = h->data;
    struct uvgo__waiter *w;
    (void)buf;

    if (n == 0 && !from)
        return; /* nothing more to read */
    if (!(w = uvgo__waitlist_pop(&u->readers))) {
        uv_udp_recv_stop(h); /* UV_ENOBUFS: nobody waits */
        u->receiving = 0;
        return;
    }
    if (n >= 0 && from && w->value)
        memcpy(w->value, from,
               from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
    w->len = (flags & UV_UDP_PARTIAL) ? UVGO_UDP_TRUNCATED : 0;
    uvgo__waiter_wake(w, (int)n);
}

static int recv_from(uvgo_udp_t *u, void *buf, size_t len,
                     struct sockaddr_storage *from, int *flags, uvgo_ctx_t *ctx)
{
    struct uvgo__waiter w = {0};
    uvgo_chan_t *done;
    int err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!buf || !len || len > INT32_MAX)
        return UVGO_EINVAL;
    if ((err = udp_enter(u)))
        return err;
    if (u->closed)
        return udp_leave(u, UVGO_ECLOSED);
    if (!u->receiving) {
        if ((err = uv_udp_recv_start(&u->h, on_alloc, on_recv)))
            return udp_leave(u, err);
        u->receiving = 1;
    }
    if (from)
        memset(from, 0, sizeof *from);
    w.buf = buf;
    w.len = len;
    w.value = from;
    uvgo__waitlist_push(&u->readers, &w);
    if (uvgo__waiter_park(&w, u->loop, done, "udp receive") == UVGO__DONE) {
        uvgo__waitlist_unlink(&u->readers, &w);
        return udp_leave(u, uvgo_ctx_err(ctx));
    }
    if (flags)
        *flags = (int)w.len;
    return udp_leave(u, w.result);
}

int uvgo_udp_recv_from_ctx(uvgo_udp_t *u, void *buf, size_t len,
                           struct sockaddr_storage *from, int *flags,
                           uvgo_ctx_t *ctx)
{
    return recv_from(u, buf, len, from, flags, ctx);
}

int uvgo_udp_recv_from(uvgo_udp_t *u, void *buf, size_t len,
                       struct sockaddr_storage *from, int *flags)
{
    return recv_from(u, buf, len, from, flags, NULL);
}

/* ---- sending ------------------------------------------------------------- */

struct usend {
    uvgo__ioreq_t io;
    uv_udp_send_t req;
    int status;
    char data[];
};

static void usend_free(uvgo__ioreq_t *io)
{
    uvgo__free(uvgo__container_of(io, struct usend, io));
}

static void on_sent(uv_udp_send_t *req, int status)
{
    struct usend *s = uvgo__container_of(req, struct usend, req);
    s->status = status;
    uvgo__ioreq_complete(&s->io);
}

/* The kernel is full: queue a copy and wait for it (or for ctx). */
static int send_queued(uvgo_udp_t *u, const uv_buf_t *b,
                       const struct sockaddr *to, uvgo_ctx_t *ctx)
{
    struct usend *s = uvgo__malloc(sizeof *s + b->len);
    int err;

    if (!s)
        return UVGO_ENOMEM;
    memcpy(s->data, b->base, b->len);
    uvgo__ioreq_init(&s->io, 1, NULL, usend_free);
    uv_buf_t copy = uv_buf_init(s->data, b->len);
    if ((err = uv_udp_send(&s->req, &u->h, &copy, 1, to, on_sent))) {
        uvgo__free(s);
        return err;
    }
    if ((err = uvgo__ioreq_wait(&s->io, ctx, "udp send")))
        return err;
    err = s->status;
    uvgo__ioreq_release(&s->io);
    return err;
}

int uvgo_udp_send_to_ctx(uvgo_udp_t *u, const void *buf, size_t len,
                         const struct sockaddr *to, uvgo_ctx_t *ctx)
{
    uvgo_chan_t *done;
    int err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if ((!buf && len) || len > INT32_MAX)
        return UVGO_EINVAL;
    if ((err = udp_enter(u)))
        return err;
    if (u->closed)
        return udp_leave(u, UVGO_ECLOSED);
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    err = uv_udp_try_send(&u->h, &b, 1, to);
    if (err == UV_EAGAIN)
        err = send_queued(u, &b, to, ctx);
    else if (err > 0)
        err = 0;
    if (err == UV_ECANCELED && u->closed)
        err = UVGO_ECLOSED;
    return udp_leave(u, err);
}

int uvgo_udp_send_to(uvgo_udp_t *u, const void *buf, size_t len,
                     const struct sockaddr *to)
{
    return uvgo_udp_send_to_ctx(u, buf, len, to, NULL);
}

/* ---- the rest ------------------------------------------------------------ */

int uvgo_udp_local_addr(uvgo_udp_t *u, struct sockaddr_storage *sa)
{
    int len = sizeof *sa, err;

    if (!sa)
        return UVGO_EINVAL;
    if ((err = udp_enter(u)))
        return err;
    memset(sa, 0, sizeof *sa);
    err = u->closed ? UVGO_ECLOSED
                    : uv_udp_getsockname(&u->h, (struct sockaddr *)sa, &len);
    return udp_leave(u, err);
}

int uvgo_udp_close(uvgo_udp_t *u)
{
    int err;

    if ((err = udp_enter(u)))
        return err;
    if (u->closed)
        return udp_leave(u, UVGO_ECLOSED);
    u->closed = 1;
    uvgo__waitlist_wake_all(&u->readers, UVGO_ECLOSED);
    uv_close((uv_handle_t *)&u->h, on_closed);
    return udp_leave(u, 0);
}

void uvgo_udp_free(uvgo_udp_t *u)
{
    if (!u || udp_enter(u))
        return;
    if (!u->closed)
        (void)uvgo_udp_close(u);
    u->freed = 1;
    udp_leave(u, 0);
}
