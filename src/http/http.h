/* http.h: the http layer's internal contract.
 *
 * One connection is served by one task running uvgo__http_conn_serve():
 * read a request head, call the handler, finish the response, drain what
 * is left of the body, and again.  The bytes come and go through a
 * transport (two function pointers), so the same code serves a socket
 * (server.c), and memory in the unit tests and the fuzzer.
 *
 * The read buffer.  Requests are parsed where they were read:
 *
 *     in:  [ consumed | head of this request | body / next requests | free ]
 *          0          msg                    head_end    pos     end    in_cap
 *
 * While a head is incomplete, `msg` may move (compaction, growth) and the
 * parser's spans are kept as offsets from it.  Once the head is complete
 * it stays put until the handler returns: the request's strings are its
 * own bytes, NUL-terminated in place (the parser has consumed them; a NUL
 * never occurs in a valid head).  The body is then read into the space
 * after head_end.  The buffer grows to hold a head up to the header limit
 * and shrinks back when a later request needs less.
 *
 * Before llhttp sees a head (or a chunked body's trailer section), a scan
 * refuses a CR not followed by LF and a line that starts with a blank
 * (obs-fold): llhttp 8 accepts some of both (CVE-2023-30589,
 * CVE-2024-27982).  `checked` is how far the scan has got; the parser is
 * fed no further.
 *
 * Output.  Responses are serialised into `out`, which is sent whenever the
 * connection is about to wait for input, grows past OUT_FLUSH, or the
 * handler flushes.  So the responses to pipelined requests that arrive
 * together leave in one write, and a lone request costs one write.  The
 * price: a handler that blocks delays the responses queued before it in
 * the same batch.
 */
#ifndef UVGO_HTTP_INTERNAL_H
#define UVGO_HTTP_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include <llhttp.h>

#include "base/common.h"

/* ---- arenas (header.c) ---------------------------------------------------
 * Bump allocation in chunks, reset between requests: the first chunk
 * stays, the rest are freed.  Pointers stay valid until the reset. */

typedef struct uvgo__http_chunk uvgo__http_chunk_t;

typedef struct uvgo__http_arena {
    char *ptr, *end;            /* free space of the newest chunk */
    uvgo__http_chunk_t *chunks; /* newest first */
} uvgo__http_arena_t;

void *uvgo__http_arena_alloc(uvgo__http_arena_t *a, size_t n);
char *uvgo__http_arena_strdup(uvgo__http_arena_t *a, const char *s, size_t len);
/* vsnprintf into the arena; *len receives the length. */
char *uvgo__http_arena_vprintf(uvgo__http_arena_t *a, size_t *len,
                               const char *fmt, va_list ap);
void uvgo__http_arena_reset(uvgo__http_arena_t *a);
void uvgo__http_arena_free(uvgo__http_arena_t *a);

/* ---- header maps (header.c) --------------------------------------------- */

struct uvgo_http_header {
    uvgo_http_field_t *fields; /* malloc'd, kept across resets */
    size_t len, cap;
    unsigned changes;          /* bumped by every change (writer.c) */
    uvgo__http_arena_t *arena; /* where add/set copy strings */
    uvgo__http_arena_t own;    /* the arena of a free-standing map */
};

void uvgo__http_header_init(uvgo_http_header_t *h, uvgo__http_arena_t *a);
/* Empties the map (its strings belong to the arena's owner). */
void uvgo__http_header_reset(uvgo_http_header_t *h);
void uvgo__http_header_destroy(uvgo_http_header_t *h);
/* uvgo_http_header_add of a name and a value given by length, not
 * NUL-terminated (copied once, checked as add checks them). */
int uvgo__http_header_add_n(uvgo_http_header_t *h, const char *name,
                            size_t nlen, const char *value, size_t vlen);
/* Appends a field whose strings the caller keeps alive; no checks. */
int uvgo__http_header_push(uvgo_http_header_t *h, const char *name,
                           size_t name_len, const char *value,
                           size_t value_len);
const uvgo_http_field_t *uvgo__http_header_find(const uvgo_http_header_t *h,
                                                const char *name,
                                                size_t name_len);

extern const unsigned char uvgo__http_tchar[256];
int uvgo__http_is_token(const char *s, size_t len);
/* 1 if a and b are equal ignoring ASCII case. */
int uvgo__http_casecmp(const char *a, size_t alen, const char *b, size_t blen);
/* 1 if the comma-separated list holds token (case-insensitive). */
int uvgo__http_has_token(const char *list, const char *token);

/* ---- paths (request.c) -----------------------------------------------------
 */

/* Percent-decodes s[0..len) into out (room for len + 1); '+' stays '+'
 * unless plus_space.  Returns the decoded length, or -1 for a bad escape
 * or an escaped NUL. */
long uvgo__http_unescape(const char *s, size_t len, char *out, int plus_space);
/* Go's path.Clean for a rooted path, into out (room for len + 2): one
 * slash between segments, no "." or "..", a trailing slash kept.  Returns
 * the length. */
size_t uvgo__http_clean_path(const char *p, size_t len, char *out);

/* ---- content sniffing (sniff.c) ----------------------------------------- */

/* Go's DetectContentType over the first bytes of a body. */
const char *uvgo__http_sniff(const char *data, size_t len);

/* ---- connections (conn.c, writer.c) ------------------------------------- */

struct uvgo__http_conn;

/* Limits and hooks of a server, resolved: 0 here means "none". */
typedef struct uvgo__http_config {
    uvgo_http_handler_fn handler;
    void *arg;
    size_t max_header_bytes;
    int64_t max_body_bytes;      /* INT64_MAX: none */
    int64_t read_header_timeout; /* ns */
    int64_t read_timeout;
    int64_t write_timeout;
    int64_t idle_timeout;
    size_t max_drain; /* unread body discarded to keep alive */
    /* Server-side hooks; NULL in memory. */
    void (*on_state)(struct uvgo__http_conn *c, int state);
    atomic_int *shutting_down; /* 1: finish the request, then close */
} uvgo__http_config_t;

/* Where a connection's bytes come from and go.  Both block the calling
 * task; `deadline` is a uvgo_now() time, 0 for none. */
typedef struct uvgo__http_transport {
    /* n > 0 bytes read, 0 at the end of the stream, or an error. */
    int (*read)(void *io, char *buf, size_t cap, int64_t deadline);
    /* All of bufs written: 0, or an error. */
    int (*write)(void *io, const uv_buf_t *bufs, unsigned nbufs,
                 int64_t deadline);
    /* Half-close, for a lingering close after an error reply; may be
     * NULL. */
    int (*close_write)(void *io);
    /* Reads one byte, or gives up when ctx ends (its error): how a
     * handler's context learns that the client went away while the
     * handler runs (conn.c's watcher).  May be NULL. */
    int (*peek)(void *io, char *byte, uvgo_ctx_t *ctx);
} uvgo__http_transport_t;

/* Connection states (ConnState), in the public order. */
enum {
    UVGO__HTTP_NEW = 0,
    UVGO__HTTP_ACTIVE,
    UVGO__HTTP_IDLE,
    UVGO__HTTP_CLOSED,
    UVGO__HTTP_CLOSING /* idle, claimed by a shutdown (server.c) */
};

/* What an llhttp callback paused on. */
enum {
    PAUSE_NONE = 0,
    PAUSE_HEAD,       /* headers complete */
    PAUSE_BODY,       /* a body span: body_ptr/body_len */
    PAUSE_LAST_CHUNK, /* the zero-size chunk: trailers follow */
    PAUSE_DONE        /* message complete */
};

/* A span of the head, as offsets from `msg`. */
typedef struct uvgo__http_span {
    uint32_t off, len;
} uvgo__http_span_t;

typedef struct uvgo__http_hspan {
    uvgo__http_span_t name, value;
    int has_value;
} uvgo__http_hspan_t;

struct uvgo_http_writer {
    struct uvgo__http_conn *conn;
    uvgo_http_header_t header;
    int status;       /* 0 until set */
    int committed;    /* the head is serialised */
    int chunked;      /* framing once committed */
    int no_body;      /* HEAD, 1xx, 204, 304: bytes counted, not sent */
    int head_only;    /* the request was HEAD */
    int until_close;  /* an HTTP/1.0 stream: the body ends with the
                         connection */
    int64_t declared; /* Content-Length the handler set, or -1 */
    unsigned seen;    /* header.changes when declared was read */
    int64_t written;  /* body bytes the handler wrote */
    int err;          /* sticky: the first failed write */
    char *buf;        /* body bytes before the commit */
    size_t buf_len;
};

/* A path value of the matched pattern. */
typedef struct uvgo__http_pathvalue {
    const char *name, *value;
} uvgo__http_pathvalue_t;

typedef struct uvgo__http_conn {
    /* Immutable. */
    const uvgo__http_config_t *cfg;
    const uvgo__http_transport_t *tp;
    void *io;
    uint64_t id; /* for ConnState hooks */
    char remote_addr[64];
    uvgo_ctx_t *ctx; /* ends when the connection must stop;
                        NULL in memory */
    void *server;    /* server.c's record */

    /* State, as the server reads it (relaxed; the conn task writes). */
    atomic_int state;
    atomic_int in_request; /* a handler runs (for "cut" counts) */

    /* Everything below: the connection's task only. */
    llhttp_t parser;
    char *in;
    size_t in_cap, msg, head_end, pos, checked, end;
    /* The CR/obs-fold scan (see top). */
    int scan_on;       /* head or trailer: scanning */
    uint32_t line_len; /* bytes of the current line */
    int saw_line;      /* a non-empty line was seen */
    int paused;        /* PAUSE_* */

    /* The head being parsed. */
    uvgo__http_span_t method, url, version;
    int url_done;
    int field_open; /* a field name arrives in pieces */
    uvgo__http_hspan_t *hs;
    size_t nhs, hs_cap;
    int in_trailer; /* callbacks after the last chunk */

    /* The request being served. */
    uvgo_http_request_t req;
    uvgo_http_header_t req_header;
    const char *raw_path; /* the target's path, escaped */
    size_t raw_path_len;
    uvgo__http_pathvalue_t *pv;
    size_t npv;
    uvgo_ctx_t *req_ctx; /* made on first use */
    /* The watcher (conn.c): while a handler that holds req_ctx runs, a
     * task reads ahead one byte to learn that the client went away. */
    int watching;
    uvgo_ctx_t *watch_stop;  /* cancelled to stop it */
    uvgo_event_t watch_done; /* set when it has returned */
    char watch_byte;         /* what it read, if watch_got */
    int watch_got;
    int keep_alive;
    int expect_continue, continue_sent;
    int upgrade;   /* CONNECT or Upgrade: close after */
    int64_t start; /* uvgo_now() at the request's first
                      byte */
    int64_t write_deadline;
    /* Body. */
    const char *body_ptr; /* a span llhttp handed over, unread */
    size_t body_len;
    int body_done;
    int body_err;
    int too_large;      /* a read crossed a body limit */
    int64_t body_read;  /* bytes delivered to the handler */
    size_t trailer_len; /* bytes of the trailer section */

    uvgo__http_arena_t arena; /* per request */
    uvgo_http_writer_t w;

    /* Output (see top). */
    char *out;
    size_t out_len, out_cap;
    int close_after; /* close once this response is out */
    int broken;      /* the transport failed: stop */
    /* Requests served on this connection: written by its task only,
     * read by uvgo_http_server_requests() (relaxed). */
    atomic_long requests;
} uvgo__http_conn_t;

/* Prepares c for a connection; transport and io describe it.  Returns 0
 * or UVGO_ENOMEM. */
int uvgo__http_conn_init(uvgo__http_conn_t *c, const uvgo__http_config_t *cfg,
                         const uvgo__http_transport_t *tp, void *io);
/* Serves requests until the connection ends.  Thread: one task. */
void uvgo__http_conn_serve(uvgo__http_conn_t *c);
void uvgo__http_conn_destroy(uvgo__http_conn_t *c);

/* Resolves a server's options to a config (zeros become the defaults,
 * negatives "none"; the ConnState hook and shutdown flag are server.c's). */
void uvgo__http_config_resolve(uvgo__http_config_t *cfg,
                               const uvgo_http_server_opts_t *o);

/* The connection behind a request or writer. */
static inline uvgo__http_conn_t *uvgo__http_conn_of(uvgo_http_request_t *r)
{
    return r->private_;
}

/* Records what the mux matched: the pattern and its path values (arena
 * memory of the request). */
void uvgo__http_request_set_match(uvgo_http_request_t *r, const char *pattern,
                                  uvgo__http_pathvalue_t *pv, size_t npv);
/* The request's escaped path, for the mux. */
const char *uvgo__http_request_raw_path(uvgo_http_request_t *r, size_t *len);
/* The request's arena. */
uvgo__http_arena_t *uvgo__http_request_arena(uvgo_http_request_t *r);

/* writer.c: the response side of a connection. */
void uvgo__http_writer_start(uvgo__http_conn_t *c);
/* Completes the response once the handler has returned. */
void uvgo__http_writer_finish(uvgo__http_conn_t *c);
/* Sends what `out` holds. */
int uvgo__http_out_flush(uvgo__http_conn_t *c);
/* Appends bytes to `out`; 0 or UVGO_ENOMEM. */
int uvgo__http_out_append(uvgo__http_conn_t *c, const void *p, size_t n);
/* A whole reply from the server itself ("400 Bad Request"), closing. */
void uvgo__http_reply_error(uvgo__http_conn_t *c, int code);
/* The cached Date value (RFC 9110 IMF-fixdate), 29 bytes. */
const char *uvgo__http_date(void);

/* memory.c: serves `in` as one connection's input through the engine and
 * collects the output; the unit tests and the fuzzer drive it.  Returns
 * the number of requests served; *out (malloc'd) and *out_len receive
 * what the server wrote.  `chunk` > 0 delivers the input in reads of at
 * most that many bytes. */
long uvgo__http_serve_memory(const uvgo__http_config_t *cfg, const char *in,
                             size_t in_len, size_t chunk, char **out,
                             size_t *out_len);

#endif /* UVGO_HTTP_INTERNAL_H */
