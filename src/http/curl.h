/* curl.h: libcurl's multi interface driven by uvgo's worker loops: the
 * internal contract between the driver (curl.c) and the HTTP client API
 * (client.c).
 *
 * One multi handle per worker loop per client (uvgo__curl_loop_t).  A
 * transfer (uvgo__xfer_t) belongs to the loop it was started on, and every
 * piece of its state is touched only on that loop's thread: by curl's
 * callbacks, which run inside curl_multi_* calls made from the loop's own
 * uv callbacks, and by the task that owns the transfer, which first moves
 * itself onto that loop (uvgo__xfer_enter).  Nothing here takes a lock
 * except the share's (DNS and TLS-session caches, any thread).
 *
 *     task (any worker)                    owner loop (uv callbacks)
 *     -----------------                    -------------------------
 *     uvgo__xfer_start   -> add_handle     timer/poll -> socket_action
 *     uvgo__xfer_wait    <- x->wake  ....  header/write/read callbacks
 *       (pumps the upload, unpauses)       CURLMSG_DONE -> remove, wake
 *     uvgo__xfer_abort   -> remove_handle
 *     uvgo__xfer_free
 */
#ifndef UVGO_HTTP_CURL_H
#define UVGO_HTTP_CURL_H

#include "http/curlapi.h"
#include <pthread.h>
#include <stdatomic.h>

#include "base/list.h"
#include "context/context.h"
#include "uvgo/http.h"

/* Counters one client keeps over all its loops; relaxed atomics (read
 * by tests and uvgo_http_client_stats, never used to synchronise). */
typedef struct uvgo__curl_stats {
    atomic_ulong requests;        /* transfers finished, any result */
    atomic_ulong conns;           /* sockets opened (connections tried) */
    atomic_ulong reused;          /* transfers that made no new connection */
    atomic_ulong zero_timeouts;   /* timer callback asked for 0 ms */
    atomic_ulong recursive_calls; /* CURLM_RECURSIVE_API_CALL seen */
    atomic_ulong poll_errors;     /* poll errors passed as CURL_CSELECT_ERR */
    atomic_ulong closed_polled;   /* closes of a socket a poll watched */
    atomic_ulong foreign_socks;   /* sockets curl opened itself (resolver) */
    atomic_ulong hops;            /* calls that moved a task to its loop */
    atomic_ulong spread;          /* requests moved to a less loaded loop */
} uvgo__curl_stats_t;

/* What every loop of one client shares: curl's DNS and TLS-session caches,
 * behind one mutex per kind of data. */
typedef struct uvgo__curl_share {
    CURLSH *sh;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
} uvgo__curl_share_t;

/* The client-wide settings a loop's multi handle takes. */
typedef struct uvgo__curl_conf {
    long max_host_conns; /* per loop; 0: no limit */
    long max_idle;       /* connection cache size per loop; 0: curl's */
    uvgo__curl_stats_t *stats;
} uvgo__curl_conf_t;

struct uvgo__sock;

/* A URL parsed once for the transfers that follow (curl.c, "URLs").  Owner
 * loop only. */
typedef struct uvgo__curl_url {
    char *url;     /* as the caller gave it; NULL: the slot is empty */
    uint32_t hash; /* of url */
    CURLU *uh;     /* curl's parse of it */
    char *norm;    /* curl's normal form (the effective URL) */
    int users;     /* transfers that may still read uh */
} uvgo__curl_url_t;

#define UVGO__CURL_URL_SLOTS 16

typedef struct uvgo__curl_loop {
    /* Immutable. */
    uv_loop_t *loop;
    CURLM *multi;
    uvgo__curl_stats_t *stats;

    /* Owner loop thread only. */
    uv_timer_t timer;          /* curl's single timeout */
    int in_curl;               /* inside a curl call: callbacks never call
                                  curl; asserted */
    struct uvgo__sock **socks; /* by file descriptor: the sockets watched */
    int nsocks;                /* length of socks */
    int open_handles;          /* uv handles initialised, not yet closed */
    int closing;               /* uvgo__curl_loop_close has begun */
    uvgo_event_t closed;       /* set when open_handles reaches 0 */
    int active;                /* transfers in the multi handle */
    CURL **spare;              /* easy handles kept for reuse: */
    int nspare;                /* [0, nready) are set up for a plain GET of
                                  the client, the rest are reset */
    int nready;
    struct uvgo__xfer *doomed; /* to fail once curl returns (settle) */
    void *exchanges;           /* client.c's spare exchanges, a list */
    int nexchanges;
    uvgo_list_t stalls;     /* running transfers with a stall timeout */
    uv_timer_t stall_timer; /* checks them while there are any */
    uvgo__curl_url_t urls[UVGO__CURL_URL_SLOTS]; /* by hash of the URL */
} uvgo__curl_loop_t;

/* Transfer states, in order. */
enum {
    UVGO__XFER_NEW = 0,
    UVGO__XFER_RUNNING, /* in the multi handle */
    UVGO__XFER_HEADERS, /* the final response's headers are in */
    UVGO__XFER_DONE     /* finished, failed or aborted; x->err */
};

typedef struct uvgo__xfer uvgo__xfer_t;

/* Hooks the client gives a transfer; called on the owner loop from curl's
 * header callback.  `reset`: a new response begins (a redirect, 1xx);
 * `header`: one field, name and value trimmed (not NUL-terminated).
 * Either returns 0 or a negative error that fails the transfer. */
typedef struct uvgo__xfer_hooks {
    void (*reset)(uvgo__xfer_t *x);
    int (*header)(uvgo__xfer_t *x, const char *name, size_t nlen,
                  const char *value, size_t vlen);
} uvgo__xfer_hooks_t;

/* Reads request body bytes in the owning task: a count, 0 at the end, or a
 * negative error. */
typedef int (*uvgo__xfer_read_fn)(void *arg, void *buf, size_t len);

struct uvgo__xfer {
    /* Set before uvgo__xfer_start, then immutable. */
    uvgo__curl_loop_t *cl;
    CURL *easy;
    uvgo_ctx_t *ctx; /* a reference; NULL: none */
    const uvgo__xfer_hooks_t *hooks;
    void *data;                /* the client's */
    int follow;                /* curl follows redirects */
    size_t body_cap;           /* buffered bytes before pausing curl */
    uint64_t stall_ms;         /* fail with UVGO_ESTALLED after this
                                  long without progress; 0: never */
    uvgo__xfer_read_fn upload; /* NULL: no streamed request body */
    void *upload_arg;
    const char *url; /* borrowed until uvgo__xfer_start returns */
    int ready;       /* easy ran a transfer here before and kept its
                        options (uvgo__curl_easy_get's *ready) */

    /* Set (release) with state = DONE, after which nothing on the loop
     * touches x again: a task that reads it set (acquire) may use x from
     * any thread, without moving to the loop. */
    atomic_int done;

    /* Owner loop thread only (any thread once done). */
    int state; /* UVGO__XFER_* */
    int in_multi;
    int err;                      /* the result once DONE: 0 or a code */
    CURLcode code;                /* curl's result, CURLE_OK if none */
    int abort_err;                /* why a callback of ours failed it */
    uvgo_event_t wake;            /* set whenever the task may proceed */
    long status;                  /* of the response being received */
    char proto[12];               /* "HTTP/1.1", "HTTP/2" */
    int location;                 /* that response has a Location */
    int recv_paused, send_paused; /* what we paused with curl_easy_pause */
    char *body;                   /* received, not yet read: [boff, blen) */
    size_t boff, blen, bsize;
    int64_t received;            /* body bytes received in all */
    uint64_t moved_at;           /* uv_now when bytes last moved */
    uvgo_list_node_t stall_link; /* on cl->stalls, with stall_ms */
    char *ubuf;                  /* streamed upload: [uoff, ulen) */
    size_t uoff, ulen;
    int ueof, uerr, need_upload;
    uvgo__curl_url_t *parsed;     /* the slot of x's URL, held while x
                                     is in the multi handle; or NULL */
    uvgo__xfer_t *doomed_next;    /* on cl->doomed */
    char errbuf[CURL_ERROR_SIZE]; /* curl's text for a failure */
};

/* Shares DNS and TLS sessions between handles on any thread.  Returns 0 or
 * UVGO_ENOMEM.  Thread: any. */
int uvgo__curl_share_init(uvgo__curl_share_t *s);
void uvgo__curl_share_close(uvgo__curl_share_t *s);

/* Makes a multi handle driven by the calling task's loop.  Returns 0,
 * UVGO_ENOMEM or UVGO_ENOTTASK.  Thread: a task; *out belongs to the loop
 * the task was on. */
int uvgo__curl_loop_open(uvgo__curl_loop_t **out,
                         const uvgo__curl_conf_t *conf);

/* Moves the caller to cl's loop, cleans up the multi handle (closing its
 * idle connections), closes the uv handles, waits for them and frees cl.
 * Precondition: no transfer is active.  Thread: a task. */
void uvgo__curl_loop_close(uvgo__curl_loop_t *cl);

/* An easy handle for a new transfer on cl: a spare one or a new one; NULL
 * when out of memory.  With `plain`, *ready is 1 when the handle is still
 * set up by the client for a plain GET (only the URL and the driver's own
 * options need setting); otherwise it is blank (reset or new).
 * Thread: cl's loop. */
CURL *uvgo__curl_easy_get(uvgo__curl_loop_t *cl, int plain, int *ready);

/* Moves the calling task onto x's loop (a task stolen by another worker
 * hops back).  Every call below does it first. */
void uvgo__xfer_enter(uvgo__xfer_t *x);

/* Sets x->url and the driver's callbacks on x->easy and adds it to the
 * multi handle.  x->cl, x->easy and the client's options are set.
 * Returns 0 or an error (nothing started).  Thread: the task, on x->cl's
 * loop. */
int uvgo__xfer_start(uvgo__xfer_t *x);

/* Waits until x reaches `state` (or is done), feeding a streamed upload
 * meanwhile.  Returns 0 (check x->state and x->err) or the context's
 * error, having aborted the transfer.  Thread: the owning task. */
int uvgo__xfer_wait(uvgo__xfer_t *x, int state, const char *what);

/* Waits until body bytes are buffered or the transfer is done; returns as
 * uvgo__xfer_wait.  Thread: the owning task. */
int uvgo__xfer_wait_body(uvgo__xfer_t *x);

/* Consumes up to len buffered body bytes into buf (NULL: discard) and
 * lets curl go on if it was paused for room.  Returns the count.
 * Thread: the owning task, on x's loop. */
size_t uvgo__xfer_take(uvgo__xfer_t *x, void *buf, size_t len);

/* Stops a running transfer at once (removes it from the multi handle,
 * which closes its connection) and records err as its result.  Nothing
 * for a finished one.  Thread: the owning task. */
void uvgo__xfer_abort(uvgo__xfer_t *x, int err);

/* Aborts if needed (on x's loop), keeps the easy handle for reuse on
 * `here` when the caller runs there (a client's loop for the caller's
 * worker, or NULL), frees x's buffers and drops its context reference (x
 * itself is the caller's to free).  `plain`: the handle is set up for a
 * plain GET and may be reused without a reset.  A finished transfer is
 * freed where the caller runs: no hop back to its loop.
 * Thread: the owning task. */
void uvgo__xfer_free(uvgo__xfer_t *x, uvgo__curl_loop_t *here, int plain);

/* Whether x is done; then it may be used from any thread (see `done`). */
static inline int uvgo__xfer_done(uvgo__xfer_t *x)
{
    /* acquire: pairs with the release in xfer_end. */
    return atomic_load_explicit(&x->done, memory_order_acquire);
}

/* Hands the buffered body over to the caller (malloc'd, with room for a
 * NUL after blen bytes) once x is done and nothing was read yet; NULL
 * otherwise.  Thread: the owning task. */
char *uvgo__xfer_steal_body(uvgo__xfer_t *x, size_t *len);

/* The uvgo error for a failed transfer: curl's code, the socket's errno
 * and x->abort_err in the documented mapping (client.c). */
int uvgo__xfer_error(uvgo__xfer_t *x, CURLcode code);

/* ---- white-box test hooks ------------------------------------------------ */

/* Records fd as a socket of cl's (as the open-socket callback does) and
 * has the socket callback watch it for reading.  Thread: cl's loop. */
int uvgo__curl_test_watch(uvgo__curl_loop_t *cl, curl_socket_t fd);

/* Calls the driver's close-socket callback as curl would for fd on cl,
 * whatever curl thinks of the socket.  Thread: cl's loop. */
int uvgo__curl_test_closesocket(uvgo__curl_loop_t *cl, curl_socket_t fd);

/* Whether a poll handle is watching fd on cl right now. */
int uvgo__curl_test_polled(uvgo__curl_loop_t *cl, curl_socket_t fd);

/* client.c: the calling worker's multi handle of c (made if need be), c's
 * counters, and the size of r's body buffer. */
uvgo__curl_loop_t *uvgo__http_test_loop(uvgo_http_client_t *c);
uvgo__curl_stats_t *uvgo__http_test_stats(uvgo_http_client_t *c);
int uvgo__http_test_load(uvgo_http_client_t *c, int worker);
size_t uvgo__http_test_buffer_size(uvgo_http_response_t *r);

#endif /* UVGO_HTTP_CURL_H */
