/* curl.c: libcurl's multi_socket interface, driven by a worker's loop.
 *
 * curl tells us which sockets to watch (the socket callback) and when to
 * call it back (the timer callback); we watch with uv_poll handles and one
 * uv_timer on the loop, and call curl_multi_socket_action() from their
 * callbacks.  Finished transfers come out of curl_multi_info_read() right
 * after each call.  The traps this file is built around:
 *
 * - A multi handle and its easy handles are not thread-safe.  Everything is
 *   touched on the loop's thread only: curl's callbacks run inside our uv
 *   callbacks, and a task that calls in first moves onto the loop
 *   (uvgo__xfer_enter; a task stolen by another worker hops back).  Every
 *   curl call goes through a guard that checks the thread and that we are
 *   not already inside curl.  A finished transfer is out of the multi
 *   handle: its task reads and frees it wherever it runs (x->done).
 *
 * - curl must not be called from inside its own callbacks (it answers
 *   CURLM_RECURSIVE_API_CALL).  The timer callback is called from inside
 *   curl_multi_add_handle, curl_easy_pause, curl_multi_socket_action...
 *   and a 0 ms timeout means "call me as soon as possible": we arm the uv
 *   timer for 0 ms, which runs on the loop's next turn, never curl inline.
 *   The socket callback only starts and stops polls.
 *
 * - curl may close a socket a poll still watches, and a closed descriptor's
 *   number is reused by the next socket(): a poll left on it would watch the
 *   wrong socket, and libuv refuses a second poll on a number it believes
 *   watched (EEXIST).  So we own the life of the sockets curl connects:
 *   CURLOPT_OPENSOCKETFUNCTION creates them and records them by descriptor,
 *   CURLOPT_CLOSESOCKETFUNCTION stops and closes the poll before it closes
 *   the descriptor.  curl also watches sockets it creates without asking
 *   (the threaded resolver's wake-up pair) and closes them itself, possibly
 *   before telling us to stop: we never poll those descriptors, but a dup of
 *   them, closed when curl says CURL_POLL_REMOVE, so a number we poll is
 *   always ours.
 *
 * - libuv reports a socket error (EPOLLERR: a refused connect, a reset) as
 *   a poll callback with status < 0 and stops the poll.  We pass it to curl
 *   as CURL_CSELECT_ERR, so that curl reads the socket's error, and restart
 *   the poll if curl still wants the socket (curl only calls the socket
 *   callback on changes).
 *
 * Idle connections.  When a transfer ends, curl stops watching its kept-
 * alive connection (CURL_POLL_REMOVE); the next request on it wants it for
 * reading again.  uv_poll_start re-adds a descriptor to epoll even for the
 * same events, so an idle socket's poll stays armed, unreferenced, and is
 * started again only when curl asks for other events: a request on a warm
 * connection costs no epoll_ctl.  An event on an idle socket (the server
 * closed it) stops its poll; curl notices when it next uses the connection.
 *
 * Connections.  libcurl cannot share a connection cache between threads, so
 * each loop's multi handle has its own pool, and a request uses the pool of
 * the worker its task runs on when it starts.  Tasks spread over the
 * workers (spawning, stealing), and so do their requests: a burst to one
 * host opens connections on every worker, each worker reusing its own.  The
 * client's per-host limit is shared out exactly between the loops for
 * that reason, over fewer loops when it is below the number of workers
 * (client.c), and where stealing has not spread a burst, the client does:
 * a task whose worker carries clearly more of the client's requests than
 * another moves there before it starts one (client.c, loop_pick).  DNS
 * answers and TLS sessions are shared through a CURLSH, so a second worker
 * neither resolves again nor does a full TLS handshake.
 *
 * URLs.  Given CURLOPT_URL, curl parses the string again for every
 * transfer and prints it back in its normal form (curl_url_set, then
 * curl_url_get through its own printf, a character at a time): 10,000 of
 * the 66,000 instructions a small GET cost (measured with callgrind on
 * uvgo-bench fanout, libcurl 7.88).  Given a parsed CURLU as well
 * (CURLOPT_CURLU), it copies that instead, and takes the effective URL
 * from CURLOPT_URL.  So each loop keeps the URLs it parsed, in a small
 * table by hash; a transfer holds its slot until it leaves the multi
 * handle (curl reads the CURLU when the transfer starts, on a later turn
 * of the loop), and only a slot that no transfer holds is replaced.  A URL
 * curl cannot parse goes as a plain CURLOPT_URL, for curl's own error.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/curl.h"

/* Spare easy handles a loop keeps for reuse (measured with uvgo-bench
 * fanout): a reset handle keeps what curl_easy_init() allocates, and one
 * that served a plain GET keeps its options as well. */
#define SPARE_MAX 256

/* What the poll callback needs of a watched descriptor. */
struct uvgo__sock {
    uvgo__curl_loop_t *cl;
    uv_poll_t poll;   /* initialised when curl first asks */
    curl_socket_t fd; /* curl's descriptor (the key in cl->socks) */
    int pollfd;       /* fd, or our dup of a socket curl owns */
    int owned;        /* opened by our open-socket callback */
    int polling;      /* poll is initialised (needs uv_close) */
    int want;         /* UV_READABLE|UV_WRITABLE curl asked for;
                         0: idle (a kept-alive connection) */
    int armed;        /* what the poll is started for now */
    int retired;      /* closing: ignore further events */
};

static void owner_check(uvgo__curl_loop_t *cl)
{
    if (uvgo_loop() != cl->loop)
        uvgo__panic("http: a curl multi handle was used off its loop's "
                    "thread");
}

/* Every curl_multi_* / curl_easy_pause call goes between these two. */
static void curl_enter(uvgo__curl_loop_t *cl)
{
    owner_check(cl);
    if (cl->in_curl)
        uvgo__panic("http: curl called from inside a curl callback");
    cl->in_curl = 1;
}

static void curl_leave(uvgo__curl_loop_t *cl, CURLMcode rc)
{
    cl->in_curl = 0;
    if (rc == CURLM_RECURSIVE_API_CALL)
        atomic_fetch_add_explicit(&cl->stats->recursive_calls, 1,
                                  memory_order_relaxed);
}

/* ---- uv handles ------------------------------------------------------------
 */

static void handle_closed(uv_handle_t *h)
{
    uvgo__curl_loop_t *cl = h->data;
    if (h->type == UV_POLL)
        uvgo__free(uvgo__container_of((uv_poll_t *)h, struct uvgo__sock, poll));
    if (--cl->open_handles == 0 && cl->closing)
        uvgo_event_set(&cl->closed);
}

/* Stops watching s and frees it (now, or once its poll has closed).  The
 * poll is stopped first (uv_close stops it at once, taking the descriptor
 * out of epoll), then a dup of a foreign socket is closed: a number we
 * poll is never closed under a live poll. */
static void sock_retire(uvgo__curl_loop_t *cl, struct uvgo__sock *s)
{
    if (s->fd >= 0 && s->fd < cl->nsocks && cl->socks[s->fd] == s)
        cl->socks[s->fd] = NULL;
    s->retired = 1;
    s->want = s->armed = 0;
    if (s->polling)
        uv_close((uv_handle_t *)&s->poll, handle_closed);
    if (!s->owned && s->pollfd >= 0)
        close(s->pollfd);
    if (!s->polling)
        uvgo__free(s);
}

/* Makes room for descriptor fd in cl->socks.  Returns 0 or UVGO_ENOMEM. */
static int socks_reserve(uvgo__curl_loop_t *cl, curl_socket_t fd)
{
    struct uvgo__sock **t;
    int n;
    if (fd < cl->nsocks)
        return 0;
    n = cl->nsocks ? cl->nsocks : 64;
    while (n <= fd)
        n *= 2;
    t = uvgo__realloc(cl->socks, (size_t)n * sizeof *t);
    if (!t)
        return UVGO_ENOMEM;
    memset(t + cl->nsocks, 0, (size_t)(n - cl->nsocks) * sizeof *t);
    cl->socks = t;
    cl->nsocks = n;
    return 0;
}

/* Records a new socket; a stale record on the same number (a foreign
 * socket curl closed without telling us) is retired first. */
static struct uvgo__sock *sock_add(uvgo__curl_loop_t *cl, curl_socket_t fd,
                                   int pollfd, int owned)
{
    struct uvgo__sock *s;
    if (socks_reserve(cl, fd) || !(s = uvgo__calloc(1, sizeof *s)))
        return NULL;
    if (cl->socks[fd])
        sock_retire(cl, cl->socks[fd]);
    s->cl = cl;
    s->fd = fd;
    s->pollfd = pollfd;
    s->owned = owned;
    cl->socks[fd] = s;
    return s;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *a)
{
    uvgo__curl_loop_t *cl = clientp;
    int fd;

    owner_check(cl);
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if (!sock_add(cl, fd, fd, 1)) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    atomic_fetch_add_explicit(&cl->stats->conns, 1, memory_order_relaxed);
    return fd;
}

static int close_socket(void *clientp, curl_socket_t fd)
{
    uvgo__curl_loop_t *cl = clientp;
    struct uvgo__sock *s = fd >= 0 && fd < cl->nsocks ? cl->socks[fd] : NULL;

    owner_check(cl);
    if (s) {
        if (s->polling && uv_is_active((uv_handle_t *)&s->poll))
            atomic_fetch_add_explicit(&cl->stats->closed_polled, 1,
                                      memory_order_relaxed);
        sock_retire(cl, s);
    }
    return close(fd);
}

/* ---- from curl to the loop
 * --------------------------------------------------- */

static void settle(uvgo__curl_loop_t *cl);

/* Runs curl on an event and collects what finished. */
static void action(uvgo__curl_loop_t *cl, curl_socket_t fd, int flags)
{
    int running;
    CURLMcode rc;
    curl_enter(cl);
    rc = curl_multi_socket_action(cl->multi, fd, flags, &running);
    curl_leave(cl, rc);
    settle(cl);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct uvgo__sock *s = uvgo__container_of(h, struct uvgo__sock, poll);
    uvgo__curl_loop_t *cl = h->data;
    int flags = 0;

    if (s->retired)
        return;
    if (!s->want) {
        /* An idle connection has news (the server closed it): stop
         * watching; curl finds out when it next wants the connection. */
        if (status >= 0)
            uv_poll_stop(&s->poll);
        s->armed = 0;
        return;
    }
    if (status < 0) {
        /* libuv has stopped the poll.  CURL_CSELECT_ERR alone makes curl
         * fail with "select/poll returned error"; with the directions it
         * waits for, curl does the I/O and reports the socket's own error
         * (ECONNRESET, ECONNREFUSED). */
        atomic_fetch_add_explicit(&cl->stats->poll_errors, 1,
                                  memory_order_relaxed);
        flags = CURL_CSELECT_ERR;
        events = s->want;
        s->armed = 0;
    }
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    action(cl, s->fd, flags);
    /* curl calls the socket callback on changes only: if it still wants the
     * socket after an error, watch it again.  (s is freed only by a close
     * callback, never during this one.) */
    if (status < 0 && !s->retired && s->want && !s->armed) {
        uv_poll_start(&s->poll, s->want, on_poll);
        s->armed = s->want;
    }
}

static void on_timer(uv_timer_t *t)
{
    action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

/* curl's timer callback: called from inside curl, so it only arms the uv
 * timer; a 0 ms timeout runs on the loop's next turn. */
static int timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    uvgo__curl_loop_t *cl = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&cl->timer);
        return 0;
    }
    if (timeout_ms == 0)
        atomic_fetch_add_explicit(&cl->stats->zero_timeouts, 1,
                                  memory_order_relaxed);
    uv_timer_start(&cl->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* Fails the transfer behind `easy` once the current curl call returns
 * (settle): a callback cannot remove it from inside curl. */
static void doom(uvgo__curl_loop_t *cl, CURL *easy, int err)
{
    uvgo__xfer_t *x = NULL;
    if (easy &&
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x) == CURLE_OK &&
        x && !x->abort_err) {
        x->abort_err = err;
        x->doomed_next = cl->doomed;
        cl->doomed = x;
    }
}

/* curl's socket callback: start, change or stop watching a socket. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    uvgo__curl_loop_t *cl = userp;
    struct uvgo__sock *s = fd >= 0 && fd < cl->nsocks ? cl->socks[fd] : NULL;
    int err, pollfd;

    (void)socketp; /* sockets are found by number: see sock_add */
    owner_check(cl);
    if (what == CURL_POLL_REMOVE) {
        if (s && s->owned) {
            /* Idle: the poll stays armed but does not keep the loop alive.
             * uv_poll_start and uv_poll_stop cost an epoll_ctl each
             * (start re-adds the descriptor even for the same events), and
             * a kept-alive connection is wanted again for reading. */
            s->want = 0;
            if (s->polling)
                uv_unref((uv_handle_t *)&s->poll);
        } else if (s) {
            sock_retire(cl, s);
        }
        return 0;
    }
    if (!s) {
        /* A socket curl made without our open-socket callback. */
        pollfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (pollfd < 0) {
            err = uv_translate_sys_error(errno);
            goto fail;
        }
        if (!(s = sock_add(cl, fd, pollfd, 0))) {
            close(pollfd);
            err = UVGO_ENOMEM;
            goto fail;
        }
        atomic_fetch_add_explicit(&cl->stats->foreign_socks, 1,
                                  memory_order_relaxed);
    }
    if (!s->polling) {
        if ((err = uv_poll_init(cl->loop, &s->poll, s->pollfd)))
            goto fail;
        s->poll.data = cl;
        s->polling = 1;
        cl->open_handles++;
    }
    s->want = (what & CURL_POLL_IN ? UV_READABLE : 0) |
              (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_ref((uv_handle_t *)&s->poll);
    if (s->armed != s->want) {
        if ((err = uv_poll_start(&s->poll, s->want, on_poll)))
            goto fail;
        s->armed = s->want;
    }
    return 0;
fail:
    /* Fail this transfer only; -1 would fail every transfer of the multi
     * handle. */
    doom(cl, easy, err);
    return 0;
}

/* ---- transfers, on the loop
 * -------------------------------------------------- */

/* ---- the stall watchdog
 * -------------------------------------------------------
 *
 * curl's LOW_SPEED check averages over seconds (a 1 s limit fired after
 * ~6 s in a test), and curl reports progress only when something drives
 * it.  So transfers with a stall timeout sit on a list that a uv timer
 * walks every STALL_TICK_MS while the list is not empty; the callbacks
 * stamp x->moved_at whenever bytes move. */

#define STALL_TICK_MS 100

static void xfer_end(uvgo__xfer_t *x, int err);

static void stall_check(uv_timer_t *t)
{
    uvgo__curl_loop_t *cl = t->data;
    uint64_t now = uv_now(cl->loop);
    uvgo_list_node_t *n, *next;

    for (n = uvgo__list_first(&cl->stalls); n; n = next) {
        uvgo__xfer_t *x = uvgo__container_of(n, uvgo__xfer_t, stall_link);
        next = n->next;
        if (x->recv_paused || x->send_paused || x->need_upload)
            x->moved_at = now; /* waiting for our task, not the server */
        else if (now - x->moved_at >= x->stall_ms)
            xfer_end(x, UVGO_ESTALLED); /* unlinks x */
    }
    settle(cl);
}

static void stall_watch(uvgo__xfer_t *x)
{
    uvgo__curl_loop_t *cl = x->cl;
    x->moved_at = uv_now(cl->loop);
    if (uvgo__list_empty(&cl->stalls))
        uv_timer_start(&cl->stall_timer, stall_check, STALL_TICK_MS,
                       STALL_TICK_MS);
    uvgo__list_push_front(&cl->stalls, &x->stall_link);
}

static void stall_unwatch(uvgo__xfer_t *x)
{
    uvgo__curl_loop_t *cl = x->cl;
    uvgo__list_remove(&cl->stalls, &x->stall_link);
    if (uvgo__list_empty(&cl->stalls))
        uv_timer_stop(&cl->stall_timer);
}

static void moved(uvgo__xfer_t *x)
{
    if (x->stall_ms)
        x->moved_at = uv_now(x->cl->loop);
}

/* ---- URLs (see "URLs" at the top)
 * ------------------------------------------- */

static uint32_t url_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void url_clear(uvgo__curl_url_t *u)
{
    uvgo__free(u->url);
    curl_free(u->norm);
    curl_url_cleanup(u->uh);
    memset(u, 0, sizeof *u);
}

/* The slot holding url parsed, filled now if need be; NULL when the slot
 * is held for another URL, or curl cannot parse this one. */
static uvgo__curl_url_t *url_parsed(uvgo__curl_loop_t *cl, const char *url)
{
    uint32_t h = url_hash(url);
    uvgo__curl_url_t *u = &cl->urls[h % UVGO__CURL_URL_SLOTS];

    if (u->url && u->hash == h && strcmp(u->url, url) == 0)
        return u;
    if (u->users > 0)
        return NULL;
    url_clear(u);
    /* The flags curl's own parse of CURLOPT_URL uses (url.c,
     * parseurlandfillconn) for a handle with default options. */
    if (!(u->uh = curl_url()) ||
        curl_url_set(u->uh, CURLUPART_URL, url,
                     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) !=
            CURLUE_OK ||
        curl_url_get(u->uh, CURLUPART_URL, &u->norm, 0) != CURLUE_OK ||
        !(u->url = uvgo__strdup(url))) {
        url_clear(u);
        return NULL;
    }
    u->hash = h;
    return u;
}

/* Gives curl x->url, parsed if it can be.  Returns 0 or UVGO_ENOMEM. */
static int url_set(uvgo__xfer_t *x)
{
    uvgo__curl_url_t *u = url_parsed(x->cl, x->url);
    /* A handle kept from an earlier request may still point at a CURLU:
     * always set (or clear) it. */
    curl_easy_setopt(x->easy, CURLOPT_CURLU, u ? u->uh : NULL);
    if (curl_easy_setopt(x->easy, CURLOPT_URL, u ? u->norm : x->url) !=
        CURLE_OK) {
        curl_easy_setopt(x->easy, CURLOPT_CURLU, NULL);
        return UVGO_ENOMEM;
    }
    if (u)
        u->users++;
    x->parsed = u;
    return 0;
}

/* x no longer needs its parsed URL (curl has copied it, or never will). */
static void url_release(uvgo__xfer_t *x)
{
    if (x->parsed) {
        x->parsed->users--;
        x->parsed = NULL;
    }
}

static void xfer_remove(uvgo__xfer_t *x)
{
    uvgo__curl_loop_t *cl = x->cl;
    CURLMcode rc;
    if (!x->in_multi)
        return;
    curl_enter(cl);
    rc = curl_multi_remove_handle(cl->multi, x->easy);
    curl_leave(cl, rc);
    url_release(x);
    x->in_multi = 0;
    cl->active--;
    if (x->stall_ms)
        stall_unwatch(x);
}

/* Ends x with err (0: success) and wakes its task. */
static void xfer_end(uvgo__xfer_t *x, int err)
{
    xfer_remove(x);
    x->err = err;
    x->state = UVGO__XFER_DONE;
    atomic_fetch_add_explicit(&x->cl->stats->requests, 1, memory_order_relaxed);
    /* The wake-up goes first: a task that sees `done` may free x at once,
     * from any thread, and a set after it would write into freed (or
     * reused) memory.  Woken before `done`, the task finds x->state DONE
     * on the loop (this callback has returned by the time it runs here). */
    uvgo_event_set(&x->wake);
    /* release: pairs with uvgo__xfer_done(); x's fields and body are the
     * task's from here on: touch x no more. */
    atomic_store_explicit(&x->done, 1, memory_order_release);
}

static void xfer_finish(uvgo__xfer_t *x, CURLcode code)
{
    long conns = 1;
    if (x->state == UVGO__XFER_DONE)
        return;
    xfer_remove(x);
    x->code = code;
    if (code == CURLE_OK &&
        curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK &&
        conns == 0)
        atomic_fetch_add_explicit(&x->cl->stats->reused, 1,
                                  memory_order_relaxed);
    xfer_end(x, code == CURLE_OK ? 0 : uvgo__xfer_error(x, code));
}

/* After every curl call: fail the doomed, collect the finished. */
static void settle(uvgo__curl_loop_t *cl)
{
    uvgo__xfer_t *x;
    CURLMsg *m;
    int left;

    for (;;) {
        if ((x = cl->doomed)) {
            cl->doomed = x->doomed_next;
            xfer_finish(x, CURLE_ABORTED_BY_CALLBACK);
            continue;
        }
        curl_enter(cl);
        m = curl_multi_info_read(cl->multi, &left);
        curl_leave(cl, CURLM_OK);
        if (!m)
            return;
        if (m->msg != CURLMSG_DONE)
            continue;
        x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            xfer_finish(x, m->data.result);
    }
}

static void mark_headers(uvgo__xfer_t *x)
{
    if (x->state < UVGO__XFER_HEADERS) {
        x->state = UVGO__XFER_HEADERS;
        uvgo_event_set(&x->wake);
    }
}

/* Whether the header block just ended is the final response's: not a 1xx,
 * and not a redirect curl is about to follow (curl follows any 3xx that
 * has a Location). */
static int block_is_final(const uvgo__xfer_t *x)
{
    if (x->status < 200)
        return 0;
    return !(x->follow && x->location && x->status >= 300 && x->status < 400);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    uvgo__xfer_t *x = arg;
    size_t len = size * n, l = len, i, nlen;
    const char *v;
    int err;

    moved(x);
    while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == '\n'))
        l--;
    if (x->state >= UVGO__XFER_HEADERS)
        return len; /* trailers are not kept */
    if (l >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A status line: a new response (the first, a 1xx, a redirect's). */
        for (i = 0; i < l && p[i] != ' ' && i + 1 < sizeof x->proto; i++)
            x->proto[i] = p[i];
        x->proto[i] = '\0';
        while (i < l && p[i] != ' ')
            i++;
        x->status = 0;
        for (i++; i < l && p[i] >= '0' && p[i] <= '9'; i++)
            x->status = x->status * 10 + (p[i] - '0');
        x->location = 0;
        x->hooks->reset(x);
        return len;
    }
    if (l == 0) {
        if (block_is_final(x))
            mark_headers(x);
        return len;
    }
    for (nlen = 0; nlen < l && p[nlen] != ':'; nlen++)
        ;
    if (nlen == l || nlen == 0)
        return len; /* not a field (an obsolete folded line): skipped */
    v = p + nlen + 1;
    while (v < p + l && is_space(*v))
        v++;
    while (l > 0 && is_space(p[l - 1]))
        l--;
    if (nlen == 8 && strncasecmp(p, "location", 8) == 0)
        x->location = 1;
    if ((err = x->hooks->header(x, p, nlen, v, (size_t)(p + l - v)))) {
        x->abort_err = err;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

/* Body bytes.  Buffered up to body_cap; beyond, curl is paused (it stops
 * reading the socket) until the task has read the buffer empty: memory per
 * transfer stays bounded whatever the body's size. */
static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    uvgo__xfer_t *x = arg;
    size_t len = size * n, have = x->blen - x->boff, want;
    char *b;

    mark_headers(x); /* body bytes follow the final headers */
    moved(x);
    if (len == 0)
        return 0;
    if (have > 0 && have + len > x->body_cap) {
        x->recv_paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (x->boff > 0) {
        memmove(x->body, x->body + x->boff, have);
        x->boff = 0;
        x->blen = have;
    }
    if (x->blen + len + 1 > x->bsize) { /* + 1: room for read_all's NUL */
        want = x->bsize ? x->bsize * 2 : 256;
        while (want < x->blen + len + 1)
            want *= 2;
        if (!(b = uvgo__realloc(x->body, want))) {
            x->abort_err = UVGO_ENOMEM;
            return 0;
        }
        x->body = b;
        x->bsize = want;
    }
    memcpy(x->body + x->blen, p, len);
    x->blen += len;
    x->received += (int64_t)len;
    uvgo_event_set(&x->wake);
    return len;
}

/* Streamed request body: hands over what the task has read, or pauses the
 * upload and asks the task for more (uvgo__xfer_wait pumps it). */
static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
    uvgo__xfer_t *x = arg;
    size_t len = size * n, have = x->ulen - x->uoff;

    moved(x);
    if (x->uerr)
        return CURL_READFUNC_ABORT;
    if (have > 0) {
        if (len > have)
            len = have;
        memcpy(p, x->ubuf + x->uoff, len);
        x->uoff += len;
        return len;
    }
    if (x->ueof)
        return 0;
    x->need_upload = 1;
    x->send_paused = 1;
    uvgo_event_set(&x->wake);
    return CURL_READFUNC_PAUSE;
}

/* ---- transfers, from the task
 * ------------------------------------------------ */

/* Moves the calling task onto cl's loop (uvgo_loop_enter returns on the
 * loop's thread; the owner check of every curl call would catch a
 * regression: it caught the one fixed in 126752e). */
static void loop_enter(uvgo__curl_loop_t *cl)
{
    if (uvgo_loop() == cl->loop)
        return;
    atomic_fetch_add_explicit(&cl->stats->hops, 1, memory_order_relaxed);
    if (uvgo_loop_enter(cl->loop))
        uvgo__panic("http: the loop of a transfer has gone (a client used "
                    "after its runtime ended?)");
}

void uvgo__xfer_enter(uvgo__xfer_t *x)
{
    loop_enter(x->cl);
}

/* Lets curl go on in the directions we no longer hold paused. */
static void xfer_unpause(uvgo__xfer_t *x)
{
    uvgo__curl_loop_t *cl = x->cl;
    curl_enter(cl);
    curl_easy_pause(x->easy, (x->recv_paused ? CURLPAUSE_RECV : 0) |
                                 (x->send_paused ? CURLPAUSE_SEND : 0));
    curl_leave(cl, CURLM_OK);
    settle(cl);
}

#define UPLOAD_CHUNK (64 * 1024)

/* Reads the next piece of a streamed request body, in the task (the
 * reader may block), and resumes the upload. */
static void pump_upload(uvgo__xfer_t *x)
{
    int n;
    x->need_upload = 0;
    if (!x->ubuf && !(x->ubuf = uvgo__malloc(UPLOAD_CHUNK)))
        n = UVGO_ENOMEM;
    else
        n = x->upload(x->upload_arg, x->ubuf, UPLOAD_CHUNK);
    uvgo__xfer_enter(x);
    if (x->state == UVGO__XFER_DONE)
        return;
    if (n < 0) {
        x->uerr = 1;
        x->abort_err = n;
    } else if (n == 0) {
        x->ueof = 1;
    } else {
        x->uoff = 0;
        x->ulen = (size_t)n > UPLOAD_CHUNK ? UPLOAD_CHUNK : (size_t)n;
    }
    if (x->send_paused) {
        x->send_paused = 0;
        xfer_unpause(x);
    }
}

int uvgo__xfer_start(uvgo__xfer_t *x)
{
    uvgo__curl_loop_t *cl = x->cl;
    CURL *e = x->easy;
    CURLMcode rc;
    int err;

    owner_check(cl);
    if ((err = url_set(x)))
        return err;
    if (!x->ready) {
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    /* A kept handle may have served another loop. */
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, cl);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, cl);
    if (x->upload) {
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
    }
    x->errbuf[0] = '\0';
    curl_enter(cl);
    rc = curl_multi_add_handle(cl->multi, e);
    curl_leave(cl, rc);
    if (rc != CURLM_OK) {
        url_release(x);
        return rc == CURLM_OUT_OF_MEMORY ? UVGO_ENOMEM : UVGO_EINVAL;
    }
    x->in_multi = 1;
    x->state = UVGO__XFER_RUNNING;
    cl->active++;
    if (x->stall_ms)
        stall_watch(x);
    return 0;
}

static int reached_state(uvgo__xfer_t *x, int state)
{
    return x->state >= state;
}

static int has_body(uvgo__xfer_t *x, int unused)
{
    (void)unused;
    return x->blen > x->boff || x->state == UVGO__XFER_DONE;
}

static int wait_until(uvgo__xfer_t *x, int (*ready)(uvgo__xfer_t *, int),
                      int arg, const char *what)
{
    int err;
    for (;;) {
        if (uvgo__xfer_done(x))
            return 0; /* no need to be on the loop for a finished one */
        uvgo__xfer_enter(x);
        if (ready(x, arg) || x->state == UVGO__XFER_DONE)
            return 0;
        if (x->need_upload) {
            pump_upload(x);
            continue;
        }
        /* Only this thread sets x->wake (curl's callbacks on the loop, and
         * xfer_end before it publishes `done`), so clearing it here races
         * with nothing. */
        x->wake = (uvgo_event_t)UVGO_EVENT_INIT;
        if ((err = uvgo_event_wait_ctx(&x->wake, what, x->ctx))) {
            uvgo__xfer_enter(x);
            if (x->state == UVGO__XFER_DONE)
                return 0; /* finished first: its result stands */
            uvgo__xfer_abort(x, err);
            return err;
        }
    }
}

int uvgo__xfer_wait(uvgo__xfer_t *x, int state, const char *what)
{
    return wait_until(x, reached_state, state, what);
}

int uvgo__xfer_wait_body(uvgo__xfer_t *x)
{
    return wait_until(x, has_body, 0, "http body");
}

size_t uvgo__xfer_take(uvgo__xfer_t *x, void *buf, size_t len)
{
    size_t have = x->blen - x->boff;
    if (len > have)
        len = have;
    if (buf)
        memcpy(buf, x->body + x->boff, len);
    x->boff += len;
    if (x->boff == x->blen)
        x->boff = x->blen = 0;
    if (x->recv_paused && x->blen == 0 && x->state != UVGO__XFER_DONE) {
        x->recv_paused = 0;
        xfer_unpause(x);
    }
    return len;
}

char *uvgo__xfer_steal_body(uvgo__xfer_t *x, size_t *len)
{
    char *b = x->body;
    if (!uvgo__xfer_done(x) || x->boff != 0 || x->received != (int64_t)x->blen)
        return NULL;
    if (!b && !(b = uvgo__malloc(1)))
        return NULL;
    *len = x->blen;
    x->body = NULL;
    x->blen = x->bsize = 0;
    return b;
}

void uvgo__xfer_abort(uvgo__xfer_t *x, int err)
{
    if (uvgo__xfer_done(x))
        return;
    uvgo__xfer_enter(x);
    if (x->state == UVGO__XFER_DONE)
        return;
    xfer_end(x, err);
    settle(x->cl);
}

void uvgo__xfer_free(uvgo__xfer_t *x, uvgo__curl_loop_t *here, int plain)
{
    if (!x)
        return;
    if (x->cl && x->state != UVGO__XFER_NEW && !uvgo__xfer_done(x)) {
        uvgo__xfer_abort(x, UVGO_ECANCELED); /* on x's loop */
        here = x->cl;
        plain = 0; /* an aborted transfer leaves its handle mid-way */
    }
    if (x->easy) {
        /* Removed from its multi handle, an easy handle belongs to no loop:
         * it may serve the next request of whatever loop we are on. */
        if (here && uvgo_loop() == here->loop && !here->closing &&
            (here->spare ||
             (here->spare = uvgo__malloc(SPARE_MAX * sizeof *here->spare))) &&
            here->nspare < SPARE_MAX) {
            curl_enter(here);
            if (plain) {
                /* Ready ones first: move the first blank one up. */
                if (here->nspare > here->nready)
                    here->spare[here->nspare] = here->spare[here->nready];
                here->nspare++;
                here->spare[here->nready++] = x->easy;
            } else {
                curl_easy_reset(x->easy);
                here->spare[here->nspare++] = x->easy;
            }
            curl_leave(here, CURLM_OK);
        } else {
            curl_easy_cleanup(x->easy);
        }
    }
    uvgo__free(x->body);
    uvgo__free(x->ubuf);
    uvgo_ctx_release(x->ctx);
}

CURL *uvgo__curl_easy_get(uvgo__curl_loop_t *cl, int plain, int *ready)
{
    CURL *e;
    owner_check(cl);
    *ready = 0;
    if (cl->nspare == 0)
        return curl_easy_init();
    if (plain && cl->nready > 0) {
        /* Take the last ready one; the last blank one fills its slot. */
        e = cl->spare[--cl->nready];
        cl->spare[cl->nready] = cl->spare[--cl->nspare];
        *ready = 1;
        return e;
    }
    if (cl->nspare > cl->nready)
        return cl->spare[--cl->nspare];
    /* Only ready ones left: blank one. */
    e = cl->spare[--cl->nready];
    cl->spare[cl->nready] = cl->spare[--cl->nspare];
    curl_enter(cl);
    curl_easy_reset(e);
    curl_leave(cl, CURLM_OK);
    return e;
}

/* ---- loops and the share
 * ----------------------------------------------------- */

int uvgo__curl_loop_open(uvgo__curl_loop_t **out, const uvgo__curl_conf_t *conf)
{
    uv_loop_t *loop = uvgo_loop();
    uvgo__curl_loop_t *cl;

    if (!loop || !uvgo_task_self())
        return UVGO_ENOTTASK;
    if (!(cl = uvgo__calloc(1, sizeof *cl)))
        return UVGO_ENOMEM;
    cl->loop = loop;
    cl->stats = conf->stats;
    if (!(cl->multi = curl_multi_init())) {
        uvgo__free(cl);
        return UVGO_ENOMEM;
    }
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_set);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    if (conf->max_host_conns > 0)
        curl_multi_setopt(cl->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          conf->max_host_conns);
    if (conf->max_idle > 0)
        curl_multi_setopt(cl->multi, CURLMOPT_MAXCONNECTS, conf->max_idle);
    uv_timer_init(loop, &cl->timer);
    uv_timer_init(loop, &cl->stall_timer);
    cl->timer.data = cl;
    cl->stall_timer.data = cl;
    cl->open_handles = 2;
    *out = cl;
    return 0;
}

void uvgo__curl_loop_close(uvgo__curl_loop_t *cl)
{
    loop_enter(cl);
    cl->closing = 1;
    curl_enter(cl);
    while (cl->nspare > 0)
        curl_easy_cleanup(cl->spare[--cl->nspare]);
    curl_multi_cleanup(cl->multi); /* closes the idle connections */
    curl_leave(cl, CURLM_OK);
    for (int i = 0; i < UVGO__CURL_URL_SLOTS; i++)
        url_clear(&cl->urls[i]);
    for (int fd = 0; fd < cl->nsocks; fd++)
        if (cl->socks[fd])
            sock_retire(cl, cl->socks[fd]);
    uv_close((uv_handle_t *)&cl->timer, handle_closed);
    uv_close((uv_handle_t *)&cl->stall_timer, handle_closed);
    /* Close callbacks always run later, on the loop: open_handles > 0. */
    uvgo_event_wait(&cl->closed, "http client close");
    uvgo__free(cl->socks);
    uvgo__free(cl->spare);
    uvgo__free(cl);
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a,
                       void *userp)
{
    uvgo__curl_share_t *s = userp;
    (void)h;
    (void)a;
    pthread_mutex_lock(&s->locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *userp)
{
    uvgo__curl_share_t *s = userp;
    (void)h;
    pthread_mutex_unlock(&s->locks[d]);
}

int uvgo__curl_share_init(uvgo__curl_share_t *s)
{
    pthread_mutexattr_t a;
    if (!(s->sh = curl_share_init()))
        return UVGO_ENOMEM;
    /* Held for a hash lookup or an insert, taken on every request (the DNS
     * cache, even for an IP address): spin a little before sleeping. */
    pthread_mutexattr_init(&a);
#ifdef PTHREAD_MUTEX_ADAPTIVE_NP
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], &a);
    pthread_mutexattr_destroy(&a);
    curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->sh, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return 0;
}

void uvgo__curl_share_close(uvgo__curl_share_t *s)
{
    if (!s->sh)
        return;
    curl_share_cleanup(s->sh);
    s->sh = NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->locks[i]);
}

/* ---- white-box test hooks
 * ---------------------------------------------------- */

int uvgo__curl_test_watch(uvgo__curl_loop_t *cl, curl_socket_t fd)
{
    if (!sock_add(cl, fd, fd, 1))
        return UVGO_ENOMEM;
    return on_socket(NULL, fd, CURL_POLL_IN, cl, NULL);
}

int uvgo__curl_test_closesocket(uvgo__curl_loop_t *cl, curl_socket_t fd)
{
    return close_socket(cl, fd);
}

int uvgo__curl_test_polled(uvgo__curl_loop_t *cl, curl_socket_t fd)
{
    struct uvgo__sock *s = fd >= 0 && fd < cl->nsocks ? cl->socks[fd] : NULL;
    return s && s->polling && uv_is_active((uv_handle_t *)&s->poll);
}
