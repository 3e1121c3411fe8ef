/* uvgo/http.h: HTTP/1.1 for tasks (Go's net/http server model).
 *
 * The model.  A handler is straight-line code:
 *
 *     static void hello(uvgo_http_writer_t *w, uvgo_http_request_t *r,
 *                       void *arg)
 *     {
 *         uvgo_http_header_set(uvgo_http_writer_header(w),
 *                              "Content-Type", "text/plain");
 *         uvgo_http_writer_write(w, "Hello, World!", 13);
 *     }
 *
 * The server runs one task per connection and calls the handler in it for
 * each request, in order (a pipelined request waits for the previous
 * response).  The request's body is a stream the handler reads; the
 * response is a stream it writes: headers first, then the body.  A handler
 * that blocks (a channel, a lock, a database call) parks its task and the
 * worker serves other connections meanwhile.  uvgo_http_request_ctx() ends
 * when the handler returns, the server shuts down, or the connection fails.
 *
 * What is shared with the HTTP client: method names, status codes and
 * texts, and header maps (uvgo_http_header_t), a case-insensitive,
 * multi-valued, ordered list of fields.
 *
 * Safe by default.  Every limit and timeout has a non-zero default
 * (uvgo_http_server_opts_t); Go's are zero (unlimited), a known footgun.
 * Requests are parsed by llhttp in strict mode, and two shapes llhttp 8
 * still accepts are refused before it sees them: a bare CR in a header
 * line and an obs-fold line (CVE-2023-30589, CVE-2024-27982).  A request
 * the server cannot frame safely (Content-Length with Transfer-Encoding,
 * two different lengths, a bad chunk) is answered 400 and its connection
 * closed.
 *
 * Lifetimes.  Everything a request or a writer hands out (strings, header
 * maps, a read-all buffer) lives until the handler returns, in memory the
 * connection reuses for its next request: copy what must outlive the
 * handler.  The strings are NUL-terminated and never contain a NUL.
 *
 * Threads.  A request and its writer belong to the handler's task; pass
 * them to another task only while the handler waits for it.
 */
#ifndef UVGO_HTTP_H
#define UVGO_HTTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "errno.h"
#include "net.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Methods, status codes                                                    */
/* ------------------------------------------------------------------------ */

/* Methods are strings, as in Go (http.MethodGet...). */
#define UVGO_HTTP_GET "GET"
#define UVGO_HTTP_HEAD "HEAD"
#define UVGO_HTTP_POST "POST"
#define UVGO_HTTP_PUT "PUT"
#define UVGO_HTTP_PATCH "PATCH"
#define UVGO_HTTP_DELETE "DELETE"
#define UVGO_HTTP_CONNECT "CONNECT"
#define UVGO_HTTP_OPTIONS "OPTIONS"
#define UVGO_HTTP_TRACE "TRACE"

/* The status codes a server or client meets most (RFC 9110). */
enum {
    UVGO_HTTP_CONTINUE = 100,
    UVGO_HTTP_SWITCHING_PROTOCOLS = 101,
    UVGO_HTTP_OK = 200,
    UVGO_HTTP_CREATED = 201,
    UVGO_HTTP_ACCEPTED = 202,
    UVGO_HTTP_NO_CONTENT = 204,
    UVGO_HTTP_PARTIAL_CONTENT = 206,
    UVGO_HTTP_MOVED_PERMANENTLY = 301,
    UVGO_HTTP_FOUND = 302,
    UVGO_HTTP_SEE_OTHER = 303,
    UVGO_HTTP_NOT_MODIFIED = 304,
    UVGO_HTTP_TEMPORARY_REDIRECT = 307,
    UVGO_HTTP_PERMANENT_REDIRECT = 308,
    UVGO_HTTP_BAD_REQUEST = 400,
    UVGO_HTTP_UNAUTHORIZED = 401,
    UVGO_HTTP_FORBIDDEN = 403,
    UVGO_HTTP_NOT_FOUND = 404,
    UVGO_HTTP_METHOD_NOT_ALLOWED = 405,
    UVGO_HTTP_REQUEST_TIMEOUT = 408,
    UVGO_HTTP_CONFLICT = 409,
    UVGO_HTTP_LENGTH_REQUIRED = 411,
    UVGO_HTTP_CONTENT_TOO_LARGE = 413,
    UVGO_HTTP_URI_TOO_LONG = 414,
    UVGO_HTTP_EXPECTATION_FAILED = 417,
    UVGO_HTTP_TOO_MANY_REQUESTS = 429,
    UVGO_HTTP_HEADER_FIELDS_TOO_LARGE = 431,
    UVGO_HTTP_INTERNAL_SERVER_ERROR = 500,
    UVGO_HTTP_NOT_IMPLEMENTED = 501,
    UVGO_HTTP_BAD_GATEWAY = 502,
    UVGO_HTTP_SERVICE_UNAVAILABLE = 503,
    UVGO_HTTP_GATEWAY_TIMEOUT = 504,
    UVGO_HTTP_VERSION_NOT_SUPPORTED = 505
};

/* The reason phrase of a status code ("Not Found"), or "" for a code it
 * does not know (Go's StatusText).  Owner: static storage.  Thread: any. */
UVGO_EXTERN const char *uvgo_http_status_text(int code);

/* Errors particular to this header:
 *   UVGO_EMSGSIZE  a body over its limit (Go's MaxBytesError), or a write
 *                  past the Content-Length the handler declared
 *   UV_EPROTO      the client broke the protocol (a bad chunk, a body cut
 *                  short): libuv's code, which uvgo_strerror() names
 */

/* ------------------------------------------------------------------------ */
/* Header maps                                                              */
/* ------------------------------------------------------------------------ */

/* One header field.  name and value are NUL-terminated too; the lengths
 * save a strlen. */
typedef struct uvgo_http_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} uvgo_http_field_t;

/* A header map (Go's http.Header): fields in the order they were added or
 * received, names compared without regard to case, several fields with one
 * name allowed.  Names are kept as written (HTTP/1.1 is case-insensitive;
 * uvgo does not canonicalise them as Go does).  The maps of a request and a
 * writer come with them; uvgo_http_header_make() makes a free-standing one.
 */
typedef struct uvgo_http_header uvgo_http_header_t;

/* Makes an empty, free-standing map.  Returns 0, UVGO_EINVAL (NULL h) or
 * UVGO_ENOMEM.  Owner: the caller, free with uvgo_http_header_free().
 * Thread: any. */
UVGO_EXTERN int uvgo_http_header_make(uvgo_http_header_t **h);

/* Frees a map made by uvgo_http_header_make() and the strings it copied;
 * NULL is ignored.  Owner: consumes h.  Thread: the owner's. */
UVGO_EXTERN void uvgo_http_header_free(uvgo_http_header_t *h);

/* The first value of `name`, or NULL if there is none.  Owner: the map's
 * (valid until the field is changed or the map freed).  Thread: the
 * owner's. */
UVGO_EXTERN const char *uvgo_http_header_get(const uvgo_http_header_t *h,
                                             const char *name);

/* Stores up to `max` values of `name` in values[], in order, and returns
 * how many there are in all (which may be more than max).  Owner: as
 * uvgo_http_header_get.  Thread: the owner's. */
UVGO_EXTERN size_t uvgo_http_header_values(const uvgo_http_header_t *h,
                                           const char *name,
                                           const char **values, size_t max);

/* Adds a field after the others (Go's Add).  Both strings are copied.  The
 * name must be a token (RFC 9110: letters, digits, !#$%&'*+-.^_`|~) and the
 * value must not hold CR, LF or NUL (header injection); leading and
 * trailing blanks of the value are dropped.  Returns 0, UVGO_EINVAL or
 * UVGO_ENOMEM (the map is unchanged then).  Owner: the map keeps copies.
 * Thread: the owner's. */
UVGO_EXTERN int uvgo_http_header_add(uvgo_http_header_t *h, const char *name,
                                     const char *value);

/* Replaces every field of `name` with one field (Go's Set); it takes the
 * place of the first one.  Returns as uvgo_http_header_add.
 * Thread: the owner's. */
UVGO_EXTERN int uvgo_http_header_set(uvgo_http_header_t *h, const char *name,
                                     const char *value);

/* Removes every field of `name` and returns how many there were.
 * Thread: the owner's. */
UVGO_EXTERN size_t uvgo_http_header_del(uvgo_http_header_t *h,
                                        const char *name);

/* The number of fields, and field i (0 <= i < len) in order; NULL past
 * the end.  Owner: the map's.  Thread: the owner's. */
UVGO_EXTERN size_t uvgo_http_header_len(const uvgo_http_header_t *h);
UVGO_EXTERN const uvgo_http_field_t *
uvgo_http_header_at(const uvgo_http_header_t *h, size_t i);

/* ------------------------------------------------------------------------ */
/* Requests and response writers                                            */
/* ------------------------------------------------------------------------ */

/* A request as the server received it.  Every field is read-only. */
typedef struct uvgo_http_request {
    const char *method;    /* "GET" */
    const char *target;    /* as received: "/a%20b?x=1" */
    const char *path;      /* target's path, percent-decoded: "/a b" */
    const char *raw_query; /* after '?', not decoded: "x=1"; "" if none */
    const char *proto;     /* "HTTP/1.1" */
    int proto_major;
    int proto_minor;
    const char *host;        /* the Host field, "" if none */
    const char *remote_addr; /* the peer, "127.0.0.1:50000"; "" unknown */
    const char *pattern;     /* the mux pattern that matched, or "" */
    /* The body's length from Content-Length; -1 when unknown until read
     * (chunked); 0 when there is none. */
    int64_t content_length;
    uvgo_http_header_t *header;
    void *private_; /* the server's; do not touch */
} uvgo_http_request_t;

/* Go's http.ResponseWriter: the response as the handler produces it. */
typedef struct uvgo_http_writer uvgo_http_writer_t;

/* A handler.  It returns when the response is complete; what it has
 * written by then is the whole response.  `arg` is what it was registered
 * with. */
typedef void (*uvgo_http_handler_fn)(uvgo_http_writer_t *w,
                                     uvgo_http_request_t *r, void *arg);

/* Reads up to `cap` bytes of the request body into buf.  Returns the count
 * (> 0), 0 at the end of the body, or an error: UVGO_EMSGSIZE past the
 * server's body limit (the connection closes after the response, and a
 * handler that has written nothing yet answers 413), UV_EPROTO for a body
 * the client broke off or framed badly, the connection's errors (a
 * timeout: UVGO_ETIMEDOUT), UVGO_EINVAL for NULL arguments.  The first read
 * of a request that asked `Expect: 100-continue` sends "100 Continue".  A
 * chunked body's trailer fields are checked and dropped (not exposed).
 * Owner: buf stays the caller's.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_request_read(uvgo_http_request_t *r, void *buf,
                                       size_t cap);

/* Reads the rest of the body into memory the request owns: *data (NUL-
 * terminated, for text bodies) and *len.  Returns 0, UVGO_EMSGSIZE when the
 * body is longer than `limit` bytes (Go's MaxBytesReader), or the errors of
 * uvgo_http_request_read.  Owner: the request's, valid until the handler
 * returns.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_request_read_all(uvgo_http_request_t *r, char **data,
                                           size_t *len, size_t limit);

/* The first value of query parameter `name`, percent- and '+'-decoded
 * (Go's r.URL.Query().Get), "" for a parameter without a value, NULL if
 * absent.  Owner: the request's.  Thread: the handler's task. */
UVGO_EXTERN const char *uvgo_http_request_query(uvgo_http_request_t *r,
                                                const char *name);

/* The path segment(s) that the wildcard `{name}` of the matched mux
 * pattern matched, decoded (Go's r.PathValue), or NULL.  Owner: the
 * request's.  Thread: the handler's task. */
UVGO_EXTERN const char *uvgo_http_request_path_value(uvgo_http_request_t *r,
                                                     const char *name);

/* The request's context (Go's r.Context()): cancelled when the handler
 * returns, when the client goes away while it runs (noticed once the body
 * has been read, as Go's server does: the connection reads ahead), when a
 * write fails, and when a shutdown runs out of time.  Made on first use;
 * handlers that never ask pay nothing.  Returns NULL only if it cannot be
 * made (memory).  Owner: the request's (do not release it).  Thread: any,
 * while the handler runs. */
UVGO_EXTERN uvgo_ctx_t *uvgo_http_request_ctx(uvgo_http_request_t *r);

/* The response's header map, to change before the first write or
 * uvgo_http_writer_write_header().  The server adds Date, and frames the
 * body itself (it drops a Transfer-Encoding set here; a Content-Length set
 * here is honoured and enforced).  Owner: the writer's.
 * Thread: the handler's task. */
UVGO_EXTERN uvgo_http_header_t *uvgo_http_writer_header(uvgo_http_writer_t *w);

/* Sets the status code (100-999; Go's WriteHeader).  The headers go out
 * with the first body bytes, a flush, or when the handler returns.  A
 * second call does nothing and returns UVGO_EBUSY, as does a call after
 * the headers went out.  A 1xx code other than 101 is sent at once as an
 * informational response and the final status is still to come.  Returns
 * 0, UVGO_EBUSY, UVGO_EINVAL.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_write_header(uvgo_http_writer_t *w, int code);

/* Writes body bytes (status 200 unless set).  Small responses are sent
 * with a Content-Length once the handler returns; past the writer's buffer
 * (4 KiB) the response streams with chunked encoding (HTTP/1.1) or until
 * the connection closes (HTTP/1.0).  Without a Content-Type the server
 * sniffs one from the first bytes, as Go does (text/html, text/plain,
 * image/png...; application/octet-stream for other binary data).  HEAD
 * responses and 204/304 carry no body (the bytes are counted, then
 * dropped).  Returns 0, or an error: UVGO_EMSGSIZE past a declared
 * Content-Length, the connection's error once the client is gone (and
 * every later write returns it too).  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_write(uvgo_http_writer_t *w, const void *data,
                                       size_t len);

/* uvgo_http_writer_write of a formatted string.  Returns as it does, or
 * UVGO_EINVAL for a bad format.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_printf(uvgo_http_writer_t *w, const char *fmt,
                                        ...)
    __attribute__((format(printf, 2, 3)));

/* Sends the headers and what is buffered now (Go's Flusher); the response
 * is chunked from then on unless it declared a Content-Length.  Returns 0
 * or the connection's error.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_flush(uvgo_http_writer_t *w);

/* Go's http.Error: a plain-text reply `msg` with status `code`
 * (Content-Type text/plain; charset=utf-8, X-Content-Type-Options:
 * nosniff); drops Content-Length set before.  Returns as
 * uvgo_http_writer_write.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_error(uvgo_http_writer_t *w, int code,
                                       const char *msg);

/* The status code set so far (0 if none yet).  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_status(const uvgo_http_writer_t *w);

/* ------------------------------------------------------------------------ */
/* Mux: Go 1.22 patterns                                                    */
/* ------------------------------------------------------------------------ */

/* Go's ServeMux.  A pattern is `[METHOD ][HOST]/[PATH]`:
 *
 *   "/"                      everything (the root subtree)
 *   "/static/"               the subtree under /static/ (a trailing slash)
 *   "/index.html"            exactly that path
 *   "GET /items/{id}"        GET (and HEAD) of /items/ plus one segment,
 *                            available as uvgo_http_request_path_value(r,
 *                            "id")
 *   "/files/{path...}"       the rest of the path, one or more segments
 *   "/{$}"                   exactly "/" (and nothing under it)
 *   "example.com/"           requests whose Host is example.com
 *
 * The most specific pattern wins (a literal segment beats a wildcard, a
 * method beats none, a host beats none); two patterns that match the same
 * requests with neither more specific are refused when registered.  A path
 * that matches only with another method gets 405 with an Allow field; no
 * match at all 404.  Paths with "." or ".." segments or doubled slashes are
 * redirected (301) to their clean form, and "/dir" to "/dir/" when only the
 * subtree is registered, as Go does. */
typedef struct uvgo_http_mux uvgo_http_mux_t;

/* Makes an empty mux.  Returns 0, UVGO_EINVAL (NULL) or UVGO_ENOMEM.
 * Owner: the caller, free with uvgo_http_mux_free().  Thread: any. */
UVGO_EXTERN int uvgo_http_mux_make(uvgo_http_mux_t **mux);

/* Registers fn(w, r, arg) for `pattern`.  Returns 0, UVGO_EINVAL (NULL,
 * a malformed pattern: the message Go would panic with goes to stderr),
 * UVGO_EEXIST (a pattern that conflicts with one registered before, named
 * on stderr) or UVGO_ENOMEM.  Owner: the mux copies the pattern; arg stays
 * the caller's.  Thread: register every pattern before the mux serves its
 * first request (unlike Go, a serving mux takes no lock). */
UVGO_EXTERN int uvgo_http_mux_handle(uvgo_http_mux_t *mux, const char *pattern,
                                     uvgo_http_handler_fn fn, void *arg);

/* The mux as a handler: pass uvgo_http_mux_serve with the mux as its arg
 * wherever a handler goes.  Thread: the handler's task. */
UVGO_EXTERN void uvgo_http_mux_serve(uvgo_http_writer_t *w,
                                     uvgo_http_request_t *r, void *mux);

/* Frees a mux no server uses any more; NULL is ignored.  Owner: consumes
 * mux.  Thread: any. */
UVGO_EXTERN void uvgo_http_mux_free(uvgo_http_mux_t *mux);

/* ------------------------------------------------------------------------ */
/* Servers                                                                  */
/* ------------------------------------------------------------------------ */

/* A connection's state, as Go's ConnState reports it: NEW when accepted,
 * ACTIVE from a request's first byte until its response is done, IDLE
 * between requests, CLOSED at the end (once per connection). */
typedef enum uvgo_http_conn_state {
    UVGO_HTTP_STATE_NEW = 0,
    UVGO_HTTP_STATE_ACTIVE,
    UVGO_HTTP_STATE_IDLE,
    UVGO_HTTP_STATE_CLOSED
} uvgo_http_conn_state_t;

/* The ConnState hook: called in the connection's task at each change;
 * conn_id is unique per server.  Keep it short: the connection waits. */
typedef void (*uvgo_http_conn_state_fn)(uint64_t conn_id,
                                        const char *remote_addr,
                                        uvgo_http_conn_state_t state,
                                        void *arg);

/* A server's options; all-zero means the defaults, which are safe:
 *
 *   max_header_bytes     1 MiB     request line and fields (431, 414)
 *   max_body_bytes       10 MiB    per request body (413); < 0: none
 *   read_header_timeout  10 s      from a request's first byte (a new
 *                                  connection's accept) to the end of its
 *                                  head (408 and close)
 *   read_timeout         60 s      from a request's first byte to the end
 *                                  of its body
 *   write_timeout        60 s      from the end of a request's head to the
 *                                  end of its response (a client that does
 *                                  not read is cut off)
 *   idle_timeout         120 s     a keep-alive connection waiting for its
 *                                  next request
 *
 * A negative timeout means none; timeouts fire up to 1/16 of their length
 * late (deadlines are rounded so requests share them), never early.  Go's
 * defaults are zero (no limit) for all
 * of these but the header size; a slow client (one byte every few seconds,
 * or thousands of connections that never finish a request) then holds its
 * connection forever.  Here it holds, until its timeout, one task that is
 * parked (no worker) and its connection's buffers: at most max_header_bytes
 * plus a few KiB. */
typedef struct uvgo_http_server_opts {
    uvgo_http_handler_fn handler; /* required */
    void *arg;                    /* the handler's */
    size_t max_header_bytes;
    int64_t max_body_bytes;
    uvgo_duration_t read_header_timeout;
    uvgo_duration_t read_timeout;
    uvgo_duration_t write_timeout;
    uvgo_duration_t idle_timeout;
    uvgo_http_conn_state_fn conn_state; /* NULL: none */
    void *conn_state_arg;
} uvgo_http_server_opts_t;

typedef struct uvgo_http_server uvgo_http_server_t;

/* Makes a server (Go's http.Server) with a copy of *opts.  (A write to a
 * client that has gone fails with UVGO_EPIPE: uvgo_main ignores SIGPIPE.)
 * Returns 0,
 * UVGO_EINVAL (NULL arguments or handler) or UVGO_ENOMEM.  Owner: the
 * caller, free with uvgo_http_server_free().  Thread: any task. */
UVGO_EXTERN int uvgo_http_server_make(uvgo_http_server_t **srv,
                                      const uvgo_http_server_opts_t *opts);

/* Go's Serve: accepts connections on l (on every worker: see uvgo/net.h)
 * and serves each in a task of its own, until the server is shut down or
 * closed; then closes l and returns UVGO_ECLOSED (Go's ErrServerClosed)
 * once every connection it accepted has ended.  Several listeners may be
 * served at once, each by its own call.  Returns early with UVGO_ECLOSED
 * if the server is already shutting down, UVGO_EBUSY if l is served
 * already, or an accept error.  Owner: l stays the caller's (free it
 * after).  Thread: any task (it blocks). */
UVGO_EXTERN int uvgo_http_server_serve(uvgo_http_server_t *srv,
                                       uvgo_listener_t *l);

/* Listens on a TCP address ("127.0.0.1:8080", ":8080"; port 0 picks one)
 * and serves it as uvgo_http_server_serve does.  Returns what serve
 * returns, or uvgo_listen's error.  Thread: any task (it blocks). */
UVGO_EXTERN int uvgo_http_server_listen_and_serve(uvgo_http_server_t *srv,
                                                  const char *address);

/* Go's Shutdown: stops accepting (after taking the connections the kernel
 * has already queued: accepting goes on until the queues have been quiet
 * for 20 ms, at most 250 ms), closes idle connections, and waits for the
 * active ones to finish their requests (each closes after its response).
 * When ctx ends first, it closes what is left: the requests still running
 * are cut (their writes fail, their contexts end), *cut (if not NULL)
 * receives how many, and it returns ctx's error.  Returns 0 when every
 * connection ended on its own, UVGO_ECLOSED if shutdown already ran.
 * Thread: any task other than a handler of this server (it blocks). */
UVGO_EXTERN int uvgo_http_server_shutdown(uvgo_http_server_t *srv,
                                          uvgo_ctx_t *ctx, size_t *cut);

/* Go's Close: closes listeners and every connection now; *cut as above.
 * Returns 0 or UVGO_ECLOSED.  Thread: any task. */
UVGO_EXTERN int uvgo_http_server_close(uvgo_http_server_t *srv, size_t *cut);

/* Frees a server whose serve calls have all returned; NULL is ignored.
 * Owner: consumes srv.  Thread: any task. */
UVGO_EXTERN void uvgo_http_server_free(uvgo_http_server_t *srv);

/* Requests served so far (handlers that returned).  Thread: any. */
UVGO_EXTERN uint64_t uvgo_http_server_requests(uvgo_http_server_t *srv);

/* ------------------------------------------------------------------------ */
/* Observability                                                            */
/* ------------------------------------------------------------------------ */

/* What Go users get from net/http/pprof: mount it under a subtree pattern,
 * e.g. uvgo_http_mux_handle(mux, "GET /debug/uvgo/", uvgo_http_debug_serve,
 * NULL), and it serves, below that prefix:
 *
 *   ""             an index of the pages
 *   "tasks"        the task dump as text (uvgo_dump)
 *   "tasks.json"   the tasks as JSON
 *   "vars"         runtime counters as JSON: workers, tasks, run queue
 *                  lengths, timers, task switches, per worker and in total
 *
 * `arg` is unused.  Mount it where only operators can reach it.
 * Thread: the handler's task. */
UVGO_EXTERN void uvgo_http_debug_serve(uvgo_http_writer_t *w,
                                       uvgo_http_request_t *r, void *arg);

/* ------------------------------------------------------------------------ */
/* Client (libcurl)                                                         */
/* ------------------------------------------------------------------------ */

/* Go's http.Client and Transport, on libcurl.  Present when uvgo was built
 * with libcurl (meson feature `curl`, on when libcurl is found).
 *
 * The model.  A client holds connection pools and settings; any number of
 * tasks share one.  uvgo_http_do() parks its task until the final
 * response's headers are in (redirects followed), then returns the
 * response; its body is a stream the task reads as it arrives
 * (uvgo_http_response_read) or whole, up to a limit
 * (uvgo_http_response_read_all).  At most `body_buffer` bytes of a body
 * wait in memory; past that the transfer pauses until the task reads, so a
 * large body streams in bounded memory.  Every worker drives its own
 * libcurl multi handle from its loop; the worker keeps running other tasks
 * while requests are in flight.
 *
 * Contexts.  The context given to a _ctx form bounds the whole exchange,
 * headers and body: when it is done, the transfer is removed at once (its
 * connection closed), the waiting call returns the context's error
 * (UVGO_ECANCELED, UVGO_ETIMEDOUT), and so do later reads.
 *
 * Go's defaults: up to 10 redirects (http and https only), followed as
 * Go's client does: 301, 302 and 303 as a GET without the body, 307 and
 * 308 with the same method and body (a streamed body cannot be sent
 * again: the 307/308 response is returned), a Referer naming the page
 * redirected from, credentials and cookies left behind unless the target
 * is the first request's host and port or a subdomain of it (for GET,
 * HEAD and POST, which libcurl follows, its stricter rule: the same host
 * and port only); keep-alive
 * connections reused (uvgo_http_client_stats counts reuse); TLS verified
 * against the system's CAs; proxies from http_proxy, https_proxy and
 * no_proxy (read when the client is made), loopback never proxied;
 * HTTP/2 over TLS when the server offers it, with requests multiplexed on
 * one connection; gzip asked for and decoded.  Connections are pooled per
 * worker: a request uses the pool of the worker its task runs on when it
 * starts, and a task whose worker carries clearly more of the client's
 * requests than another moves there first, so that a burst uses every
 * worker's pool (a task that must keep one connection for a series of
 * requests runs pinned: UVGO_TASK_PINNED, as a task may otherwise move to
 * another worker between two requests, whose pool has its own
 * connections).  DNS answers and TLS sessions
 * are shared by all the workers of a client.
 *
 * Errors.  Beyond uvgo/errno.h's and the context's, each a distinct code:
 *
 *   UVGO_EBADURL         a malformed URL
 *   UVGO_EPROTONOSUPPORT a scheme other than http/https, or none
 *   UVGO_EAI_NONAME      the host name does not resolve
 *   UVGO_ECONNREFUSED    connection refused (other connect errors: their
 *                        code, e.g. UVGO_ENETUNREACH)
 *   UVGO_ETIMEDOUT       the client's connect timeout, or a deadline
 *   UVGO_ESTALLED        no byte moved for the client's stall_timeout
 *                        (checked about once a second)
 *   UVGO_EMSGSIZE        a body over the caller's limit (as the server's)
 *   UV_EPROTO            the server closed before the response ended, or
 *                        sent something that is not HTTP (as the server's)
 *   UVGO_ECONNRESET      the connection was reset
 *   UVGO_EREDIRECTS      more redirects than max_redirects (a loop)
 *   UVGO_ETLSVERIFY      the server's certificate does not verify
 *   UVGO_ETLS            another TLS failure (handshake, bad CA file)
 *   UVGO_EHTTP           any other libcurl failure
 *
 * A failed call leaves a readable description, libcurl's own words where
 * it has some, in the request's or the response's `error`.
 *
 * Threads.  A client is shared by any tasks.  A response belongs to one
 * task at a time; a task that is stolen by another worker while it holds
 * one moves back to the response's worker on its next call. */

typedef struct uvgo_http_client uvgo_http_client_t;

/* Client settings; all-zero means Go's defaults. */
typedef struct uvgo_http_client_opts {
    int max_redirects;      /* 0: 10; < 0: return 3xx responses as they are */
    int max_conns_per_host; /* 0: no limit; else Go's MaxConnsPerHost:
                               connections to one host in all, shared out
                               between the workers' pools (a limit below
                               the number of workers runs all of the
                               client's requests on that many workers) */
    int max_idle_conns;     /* idle connections kept, over all workers;
                               0: libcurl's default */
    uvgo_duration_t connect_timeout; /* 0: none beyond the context's */
    uvgo_duration_t stall_timeout;   /* fail with UVGO_ESTALLED when no byte
                                        moves this long (checked about once
                                        a second); 0: never */
    const char *ca_file;      /* PEM file of CAs to trust; NULL: the system's */
    int insecure_skip_verify; /* Go's InsecureSkipVerify: no certificate
                                 checks at all (tests only) */
    int disable_keep_alives;  /* one connection per request */
    int disable_compression;  /* do not ask for gzip */
    int disable_http2;        /* HTTP/1.1 even when the server offers h2 */
    const char *user_agent;   /* NULL: "uvgo/0.1" */
    size_t body_buffer;       /* body bytes held per response before the
                                 transfer pauses; 0: 64 KiB */
} uvgo_http_client_opts_t;

/* Makes a client.  `opts` may be NULL; its strings are copied.  Returns 0,
 * UVGO_EINVAL, UVGO_ENOMEM, UVGO_ENOTTASK (no runtime running) or
 * UVGO_ENOSYS: libcurl could not be opened.  uvgo opens libcurl when the
 * first client is made, not when the program starts, so that programs that
 * never make a request do not load it (and OpenSSL, and the rest): it
 * looks for libcurl.so.4 (7.62 or later), or for the library that
 * UVGO_LIBCURL in the environment names.
 * Owner: the caller, free with uvgo_http_client_free().  Thread: any,
 * while the runtime runs. */
UVGO_EXTERN int uvgo_http_client_make(uvgo_http_client_t **c,
                                      const uvgo_http_client_opts_t *opts);

/* Closes the client's idle connections on every worker and frees it
 * (Go's CloseIdleConnections, then the client is gone).  Returns 0, or
 * UVGO_EBUSY (nothing freed) while a request or response of it is live,
 * or UVGO_ENOTTASK.  NULL is ignored.  Owner: consumes c.  Thread: a task,
 * before the runtime ends (it visits each worker's loop). */
UVGO_EXTERN int uvgo_http_client_free(uvgo_http_client_t *c);

/* Counters of a client since it was made. */
typedef struct uvgo_http_client_stats {
    uint64_t requests; /* exchanges finished (whatever their result) */
    uint64_t conns;    /* connections opened */
    uint64_t reused;   /* requests that went over a kept-alive connection */
} uvgo_http_client_stats_t;

/* Reads the client's counters.  Owner: *s is the caller's.  Thread: any. */
UVGO_EXTERN void uvgo_http_client_stats(uvgo_http_client_t *c,
                                        uvgo_http_client_stats_t *s);

/* The longest error description kept, with its NUL. */
#define UVGO_HTTP_ERROR_MAX 256

/* A request body read as it is sent: fills buf with up to len bytes and
 * returns the count, 0 at the end, or a negative error (which fails the
 * request with it).  Called in the task that sent the request; it may
 * block. */
typedef int (*uvgo_http_body_fn)(void *arg, void *buf, size_t len);

/* A request to send (Go's http.NewRequest).  Zero what you do not set. */
typedef struct uvgo_http_client_request {
    const char *method;               /* NULL: "GET" */
    const char *url;                  /* http:// or https:// */
    const uvgo_http_header_t *header; /* NULL: none; curl sets Host,
                                         Content-Length, User-Agent */
    /* The body: a buffer, sent as is... */
    const void *body;
    size_t body_len;
    /* ...or a stream (body_fn(body_arg, ...)), of content_length bytes, or
     * chunked when content_length is 0. */
    uvgo_http_body_fn body_fn;
    void *body_arg;
    int64_t content_length;
    /* Out: why the request failed, as text. */
    char error[UVGO_HTTP_ERROR_MAX];
} uvgo_http_client_request_t;

/* A response.  Every field is read-only. */
typedef struct uvgo_http_response {
    int status;                 /* 200 */
    const char *proto;          /* "HTTP/1.1", "HTTP/2" */
    int64_t content_length;     /* -1: not known in advance */
    uvgo_http_header_t *header; /* the final response's fields */
    const char *url;            /* the URL it came from, after redirects */
    int redirects;              /* how many were followed */
    int reused;                 /* 1: it came over a kept-alive connection */
    char error[UVGO_HTTP_ERROR_MAX]; /* why the last read failed */
    void *private_;                  /* the client's; do not touch */
} uvgo_http_response_t;

/* Go's Client.Do: sends req and parks until the final response's headers
 * are in.  The body buffer (req->body) must stay valid and unchanged until
 * the response is freed; the rest of req is copied.  Returns 0 with
 * *resp set, or an error (see above) with req->error set and *resp NULL.
 * An HTTP error status (404, 500) is a response, not an error.  Owner: the
 * caller, free *resp with uvgo_http_response_free(); the response holds a
 * reference to ctx.  Thread: any task. */
UVGO_EXTERN int uvgo_http_do(uvgo_http_client_t *c,
                             uvgo_http_client_request_t *req,
                             uvgo_http_response_t **resp);
UVGO_EXTERN int uvgo_http_do_ctx(uvgo_http_client_t *c,
                                 uvgo_http_client_request_t *req,
                                 uvgo_http_response_t **resp, uvgo_ctx_t *ctx);

/* Go's Client.Get: uvgo_http_do of a GET of url.  Owner: as
 * uvgo_http_do.  Thread: any task. */
UVGO_EXTERN int uvgo_http_get(uvgo_http_client_t *c, const char *url,
                              uvgo_http_response_t **resp);
UVGO_EXTERN int uvgo_http_get_ctx(uvgo_http_client_t *c, const char *url,
                                  uvgo_http_response_t **resp, uvgo_ctx_t *ctx);

/* Go's Client.Post: a POST of len bytes of body with that Content-Type
 * (NULL: none).  Owner: body stays the caller's and must stay valid
 * until the response is freed; *resp as uvgo_http_do.  Thread: any task. */
UVGO_EXTERN int uvgo_http_post(uvgo_http_client_t *c, const char *url,
                               const char *content_type, const void *body,
                               size_t len, uvgo_http_response_t **resp);
UVGO_EXTERN int uvgo_http_post_ctx(uvgo_http_client_t *c, const char *url,
                                   const char *content_type, const void *body,
                                   size_t len, uvgo_http_response_t **resp,
                                   uvgo_ctx_t *ctx);

/* Reads up to `cap` body bytes into buf, parking until some arrive.
 * Returns the count (> 0; at most INT_MAX), 0 at the end of the body, or
 * an error (see above; r->error says more), the same error on every later
 * call.  Owner: buf stays the caller's.  Thread: the task holding r. */
UVGO_EXTERN int uvgo_http_response_read(uvgo_http_response_t *r, void *buf,
                                        size_t cap);

/* Reads the rest of the body into memory the response owns: *data (NUL-
 * terminated, for text) and *len.  Returns 0, UVGO_EMSGSIZE (the transfer
 * stopped) when the body is longer than `limit` bytes (SIZE_MAX: no
 * limit), or the errors of uvgo_http_response_read.  Owner: the
 * response's, valid until it is freed or read_all is called again.
 * Thread: the task holding r. */
UVGO_EXTERN int uvgo_http_response_read_all(uvgo_http_response_t *r,
                                            char **data, size_t *len,
                                            size_t limit);

/* Go's Body.Close: stops the transfer if the body was not read to its end
 * (its connection is closed then, not reused) and frees the response;
 * NULL is ignored.  Owner: consumes r.  Thread: the task holding r. */
UVGO_EXTERN void uvgo_http_response_free(uvgo_http_response_t *r);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_HTTP_H */
