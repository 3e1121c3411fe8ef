/* dial.c: connecting, with Go's dual-stack race (RFC 8305 "happy
 * eyeballs").
 *
 * The addresses of a name are split as Go splits them: the primaries are
 * those of the first address's family, the fallbacks the rest.  Each list
 * is tried in order, one attempt at a time; the fallbacks start
 * fallback_delay (300 ms) after the primaries, or at once when the
 * primaries have all failed.  Every attempt is a connection on the dialing
 * task's loop with a uv_connect_t on this task's stack; its callback posts
 * the attempt's index to a channel, and the task selects on that channel,
 * the fallback timer and the context.  When one attempt connects the
 * others are closed, which makes libuv call their callbacks with
 * UV_ECANCELED; the task waits for those before it returns, so no request
 * outlives its frame.
 */
#include <string.h>
#include <sys/un.h>

#include "net/net.h"

struct attempt {
    uvgo_conn_t *c;
    uv_connect_t req;
    uvgo_chan_t *results; /* receives `index` when it completes */
    int index;
    int racer; /* 0 primaries, 1 fallbacks */
    int status;
    int pending; /* the connect is in flight */
};

struct racer {
    int next, end;     /* addresses [next, end) not yet tried */
    int started, live; /* live: an attempt in flight */
};

struct dial {
    const uvgo_dialer_t *opts;
    const struct uvgo__net *net;
    struct sockaddr_storage addrs[UVGO__ADDRS_MAX];
    int order[UVGO__ADDRS_MAX]; /* primaries, then fallbacks */
    struct attempt att[UVGO__ADDRS_MAX];
    struct racer racers[2];
    int nattempts;
    uvgo_chan_t *results;
    uv_loop_t *loop;
};

static void on_connect(uv_connect_t *req, int status)
{
    struct attempt *a = req->data;
    a->status = status;
    a->pending = 0;
    /* Never full: it has room for every attempt. */
    (void)uvgo_chan_try_send(a->results, &a->index, sizeof a->index);
}

/* Starts connecting to sa as attempt a.  Returns 0 or the error that
 * ended it at once (the attempt is then finished). */
static int attempt_start(struct dial *d, struct attempt *a,
                         const struct sockaddr_storage *sa)
{
    const uvgo_dialer_t *o = d->opts;
    uvgo_conn_t *c = uvgo__conn_alloc();
    int err;

    if (!c)
        return UVGO_ENOMEM;
    a->req.data = a;
    if (d->net->kind == NET_UNIX) {
        uv_pipe_init(d->loop, &c->h.pipe, 0);
        uvgo__conn_open(c, d->loop);
        uv_pipe_connect(&a->req, &c->h.pipe,
                        ((const struct sockaddr_un *)sa)->sun_path, on_connect);
    } else {
        uv_tcp_init(d->loop, &c->h.tcp);
        uvgo__conn_open(c, d->loop);
        uv_tcp_nodelay(&c->h.tcp, !o->nagle);
        if (o->keep_alive >= 0) {
            uvgo_duration_t p =
                o->keep_alive ? o->keep_alive : 15 * UVGO_SECOND;
            uv_tcp_keepalive(&c->h.tcp, 1,
                             (unsigned)((p + UVGO_SECOND - 1) / UVGO_SECOND));
        }
        err = o->local ? uv_tcp_bind(&c->h.tcp, o->local, 0) : 0;
        if (!err)
            err = uv_tcp_connect(&a->req, &c->h.tcp,
                                 (const struct sockaddr *)sa, on_connect);
        if (err) {
            uvgo__conn_free_here(c);
            return err;
        }
    }
    a->c = c;
    a->pending = 1;
    return 0;
}

/* Starts the racer's next address, skipping those that fail at once.
 * Returns the last immediate error, or 0. */
static int racer_next(struct dial *d, int r)
{
    struct racer *rc = &d->racers[r];
    int err = 0;

    rc->started = 1;
    while (!rc->live && rc->next < rc->end) {
        struct attempt *a = &d->att[d->nattempts];
        a->index = d->nattempts++;
        a->racer = r;
        a->results = d->results;
        if ((err = attempt_start(d, a, &d->addrs[d->order[rc->next++]])))
            continue;
        rc->live = 1;
    }
    return err;
}

static int racer_done(const struct racer *rc)
{
    return rc->started && !rc->live && rc->next == rc->end;
}

/* Closes every attempt but `keep` and waits for their callbacks. */
static void attempts_end(struct dial *d, struct attempt *keep)
{
    int waiting = 0, idx;

    uvgo_loop_enter(d->loop);
    for (int i = 0; i < d->nattempts; i++) {
        struct attempt *a = &d->att[i];
        if (a == keep || !a->c)
            continue;
        waiting += a->pending;
        uvgo__conn_free_here(a->c);
        a->c = NULL;
    }
    /* Completions already posted stay in the channel; wait for the rest. */
    while (waiting > 0) {
        int left = 0;
        for (int i = 0; i < d->nattempts; i++)
            left += d->att[i].pending;
        if (left == 0)
            break;
        uvgo_chan_recv(d->results, &idx, sizeof idx, NULL);
        uvgo_loop_enter(d->loop);
    }
}

/* Splits the addresses into primaries (the first one's family) and
 * fallbacks, as Go's partition does. */
static void partition(struct dial *d, int n, int race)
{
    int k = 0, fam = d->addrs[0].ss_family;

    for (int i = 0; i < n; i++)
        if (d->addrs[i].ss_family == fam || !race)
            d->order[k++] = i;
    d->racers[0] = (struct racer){0, k, 0, 0};
    for (int i = 0; race && i < n; i++)
        if (d->addrs[i].ss_family != fam)
            d->order[k++] = i;
    d->racers[1] = (struct racer){d->racers[0].end, k, 0, 0};
}

static int race(struct dial *d, uvgo_conn_t **out, uvgo_ctx_t *ctx)
{
    uvgo_duration_t delay = d->opts->fallback_delay;
    uvgo_timer_t *timer = NULL;
    struct attempt *won = NULL;
    int err, last = UVGO_ECONNREFUSED;

    if (delay == 0)
        delay = 300 * UVGO_MILLISECOND;
    if ((err = racer_next(d, 0)))
        last = err;
    if (d->racers[1].end > d->racers[1].next &&
        (err = uvgo_timer_make(&timer, delay)))
        return err;
    while (!racer_done(&d->racers[0]) || !racer_done(&d->racers[1])) {
        int idx = -1;
        int64_t fired;
        if (racer_done(&d->racers[0]) && !d->racers[1].started) {
            if ((err = racer_next(d, 1)))
                last = err; /* the primaries failed: no need to wait */
            continue;
        }
        uvgo_select_case_t cases[2] = {
            UVGO_CASE_RECV(d->results, &idx),
            UVGO_CASE_RECV(
                d->racers[1].started || !timer ? NULL : uvgo_timer_chan(timer),
                &fired),
        };
        err = uvgo_select_ctx(cases, 2, ctx);
        uvgo_loop_enter(d->loop);
        if (err < 0) {
            last = err;
            break;
        }
        if (err == 1) {
            if ((err = racer_next(d, 1)))
                last = err;
            continue;
        }
        struct attempt *a = &d->att[idx];
        d->racers[a->racer].live = 0;
        if (a->status == 0) {
            won = a;
            break;
        }
        last = a->status;
        uvgo__conn_free_here(a->c);
        a->c = NULL;
        if ((err = racer_next(d, a->racer)))
            last = err;
    }
    uvgo_timer_free(timer);
    attempts_end(d, won);
    if (!won)
        return last;
    *out = won->c;
    return 0;
}

int uvgo_dialer_dial_ctx(const uvgo_dialer_t *opts, uvgo_conn_t **out,
                         const char *network, const char *address,
                         uvgo_ctx_t *ctx)
{
    static const uvgo_dialer_t defaults;
    struct uvgo__net net;
    uvgo_ctx_t *sub = NULL;
    struct dial *d;
    uvgo_chan_t *done;
    int n, err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!out || uvgo__net_parse(network, &net) || net.kind == NET_UDP)
        return UVGO_EINVAL;
    if (!opts)
        opts = &defaults;
    /* The state is too large for a task's stack. */
    if (!(d = uvgo__calloc(1, sizeof *d)))
        return UVGO_ENOMEM;
    d->opts = opts;
    d->net = &net;
    if (opts->timeout > 0) {
        if ((err = uvgo_ctx_with_timeout(&sub, ctx, opts->timeout)))
            goto out;
        ctx = sub;
    }
    if (net.kind == NET_UNIX)
        n = uvgo__unix_addr(address, &d->addrs[0]) ? UVGO_EINVAL : 1;
    else
        n = uvgo__resolve(&net, address, d->addrs, UVGO__ADDRS_MAX, 0, ctx);
    if ((err = n) < 0)
        goto out;
    partition(d, n, net.family == AF_UNSPEC && opts->fallback_delay >= 0);
    if ((err = uvgo_chan_make(&d->results, sizeof(int), UVGO__ADDRS_MAX)))
        goto out;
    /* The attempts' handles belong to this loop. */
    d->loop = uvgo_loop();
    uvgo_loop_enter(d->loop);
    err = race(d, out, ctx);
    uvgo_chan_release(d->results);
out:
    if (sub)
        uvgo_ctx_cancel_release(sub);
    uvgo__free(d);
    return err;
}

int uvgo_dial_ctx(uvgo_conn_t **out, const char *network, const char *address,
                  uvgo_ctx_t *ctx)
{
    return uvgo_dialer_dial_ctx(NULL, out, network, address, ctx);
}

int uvgo_dial(uvgo_conn_t **out, const char *network, const char *address)
{
    return uvgo_dialer_dial_ctx(NULL, out, network, address, NULL);
}
