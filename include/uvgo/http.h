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

/* Errors of this header beyond uvgo/errno.h's, libuv's codes as everywhere:
 *   UV_EMSGSIZE  a body or header over its limit (Go's MaxBytesError)
 *   UV_EPROTO    the peer broke the protocol (a bad chunk, a truncated body)
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
    const char *method;      /* "GET" */
    const char *target;      /* as received: "/a%20b?x=1" */
    const char *path;        /* target's path, percent-decoded: "/a b" */
    const char *raw_query;   /* after '?', not decoded: "x=1"; "" if none */
    const char *proto;       /* "HTTP/1.1" */
    int proto_major;
    int proto_minor;
    const char *host;        /* the Host field, "" if none */
    const char *remote_addr; /* the peer, "127.0.0.1:50000"; "" unknown */
    const char *pattern;     /* the mux pattern that matched, or "" */
    /* The body's length from Content-Length; -1 when unknown until read
     * (chunked); 0 when there is none. */
    int64_t content_length;
    uvgo_http_header_t *header;
    void *private_;          /* the server's; do not touch */
} uvgo_http_request_t;

/* Go's http.ResponseWriter: the response as the handler produces it. */
typedef struct uvgo_http_writer uvgo_http_writer_t;

/* A handler.  It returns when the response is complete; what it has
 * written by then is the whole response.  `arg` is what it was registered
 * with. */
typedef void (*uvgo_http_handler_fn)(uvgo_http_writer_t *w,
                                     uvgo_http_request_t *r, void *arg);

/* Reads up to `cap` bytes of the request body into buf.  Returns the count
 * (> 0), 0 at the end of the body, or an error: UV_EMSGSIZE past the
 * server's body limit (the connection closes after the response, and a
 * handler that has written nothing yet answers 413), UV_EPROTO for a body
 * the client broke off or framed badly, the connection's errors (a
 * timeout: UVGO_ETIMEDOUT), UVGO_EINVAL for NULL arguments.  The first read
 * of a request that asked `Expect: 100-continue` sends "100 Continue".
 * Owner: buf stays the caller's.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_request_read(uvgo_http_request_t *r, void *buf,
                                       size_t cap);

/* Reads the rest of the body into memory the request owns: *data (NUL-
 * terminated, for text bodies) and *len.  Returns 0, UV_EMSGSIZE when the
 * body is longer than `limit` bytes (Go's MaxBytesReader), or the errors of
 * uvgo_http_request_read.  Owner: the request's, valid until the handler
 * returns.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_request_read_all(uvgo_http_request_t *r,
                                           char **data, size_t *len,
                                           size_t limit);

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

/* The request's context: cancelled when the handler returns, when the
 * connection fails or is closed, and when the server is shut down past its
 * grace period.  Made on first use.  Returns NULL only if it cannot be made
 * (memory).  Owner: the request's (do not release it).  Thread: any, while
 * the handler runs. */
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
UVGO_EXTERN int uvgo_http_writer_write_header(uvgo_http_writer_t *w,
                                              int code);

/* Writes body bytes (status 200 unless set).  Small responses are sent
 * with a Content-Length once the handler returns; past the writer's buffer
 * (4 KiB) the response streams with chunked encoding (HTTP/1.1) or until
 * the connection closes (HTTP/1.0).  Without a Content-Type the server
 * sniffs one from the first bytes, as Go does (text/html, text/plain,
 * image/png...; application/octet-stream for other binary data).  HEAD
 * responses and 204/304 carry no body (the bytes are counted, then
 * dropped).  Returns 0, or an error: UV_EMSGSIZE past a declared
 * Content-Length, the connection's error once the client is gone (and
 * every later write returns it too).  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_write(uvgo_http_writer_t *w,
                                       const void *data, size_t len);

/* uvgo_http_writer_write of a formatted string.  Returns as it does, or
 * UVGO_EINVAL for a bad format.  Thread: the handler's task. */
UVGO_EXTERN int uvgo_http_writer_printf(uvgo_http_writer_t *w,
                                        const char *fmt, ...)
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

#ifdef __cplusplus
}
#endif

#endif /* UVGO_HTTP_H */
