/* writer.c: the response side of a connection (Go's response and
 * chunkWriter).
 *
 * A response is held back until the server knows how to frame it: body
 * bytes collect in w->buf (BODY_BUF) while the handler writes; if it
 * returns before the buffer fills, the response goes out with a
 * Content-Length (the common case, one contiguous write with the head);
 * past the buffer, or on a flush, the head is committed with chunked
 * encoding (or, for HTTP/1.0, a body that ends with the connection) and
 * the body streams.  The head is serialised into the connection's `out`,
 * which conn.c sends before it waits for input (http.h).
 *
 * Writes of DIRECT_WRITE bytes or more skip the copy: they go out at once
 * from the caller's memory, in one writev with what `out` holds.
 */
#include <stdio.h>
#include <time.h>

#include "http/http.h"

/* Body bytes a response may hold back to send with a Content-Length
 * (Go's bufferBeforeChunkingSize is 2048; 4 KiB holds more small JSON). */
#define BODY_BUF 4096
/* `out` is sent once it holds this much, even mid-batch. */
#define OUT_FLUSH (64 * 1024)
/* Body writes at least this long go straight from the caller's buffer. */
#define DIRECT_WRITE (16 * 1024)

/* ---- output ----------------------------------------------------------------
 */

static int out_reserve(uvgo__http_conn_t *c, size_t n)
{
    if (c->out_cap - c->out_len >= n)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap - c->out_len < n)
        cap *= 2;
    char *out = uvgo__realloc(c->out, cap);
    if (!out)
        return UVGO_ENOMEM;
    c->out = out;
    c->out_cap = cap;
    return 0;
}

int uvgo__http_out_append(uvgo__http_conn_t *c, const void *p, size_t n)
{
    if (out_reserve(c, n))
        return UVGO_ENOMEM;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* Appends without a check: the caller reserved the room. */
static char *put(char *d, const char *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

static char *put_u64(char *d, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *d++ = tmp[--n];
    return d;
}

static char *put_hex(char *d, uint64_t v)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *d++ = tmp[--n];
    return d;
}

/* A failed send breaks the connection: every later write reports it. */
static int broke(uvgo__http_conn_t *c, int err)
{
    c->broken = 1;
    c->close_after = 1;
    if (!c->w.err)
        c->w.err = err;
    if (c->req_ctx)
        uvgo_ctx_cancel(c->req_ctx);
    return err;
}

static int send_bufs(uvgo__http_conn_t *c, const uv_buf_t *bufs, unsigned n)
{
    if (c->broken)
        return c->w.err ? c->w.err : UV_EPIPE;
    int64_t deadline = c->write_deadline;
    if (!deadline && c->cfg->write_timeout)
        deadline = uvgo_now() + c->cfg->write_timeout;
    int err = c->tp->write(c->io, bufs, n, deadline);
    return err < 0 ? broke(c, err) : 0;
}

int uvgo__http_out_flush(uvgo__http_conn_t *c)
{
    if (!c->out_len)
        return 0;
    uv_buf_t b = uv_buf_init(c->out, (unsigned)c->out_len);
    c->out_len = 0;
    return send_bufs(c, &b, 1);
}

/* ---- Date -------------------------------------------------------------------
 */

/* One formatted Date per thread, redone when the second changes: time()
 * is a vDSO read, formatting is not free.  Read and copied at once, never
 * across a switch. */
static _Thread_local struct {
    time_t sec;
    char text[64];
} date_cache;

const char *uvgo__http_date(void)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t now = time(NULL);
    if (now != date_cache.sec || !date_cache.text[0]) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(date_cache.text, sizeof date_cache.text,
                 "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
                 days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        date_cache.sec = now;
    }
    return date_cache.text;
}

/* ---- the head
 * ----------------------------------------------------------------- */

void uvgo__http_writer_start(uvgo__http_conn_t *c)
{
    uvgo_http_writer_t *w = &c->w;
    uvgo__http_header_reset(&w->header);
    w->status = 0;
    w->committed = w->chunked = w->no_body = w->until_close = 0;
    w->head_only = !strcmp(c->req.method, "HEAD");
    w->declared = -1;
    w->seen = w->header.changes;
    w->written = 0;
    w->err = c->broken ? UV_EPIPE : 0;
    w->buf_len = 0;
}

static int body_allowed(int status)
{
    return !(status >= 100 && status < 200) && status != 204 && status != 304;
}

/* Parses a Content-Length the handler set: -1 if it is not a number. */
static int64_t parse_length(const char *s)
{
    int64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* Serialises the status line and fields into `out`.  `final`: the handler
 * has returned, so a Content-Length can be given.  `sniff`/`sniff_len`:
 * the first body bytes, for a Content-Type. */
static int commit(uvgo__http_conn_t *c, int final, const char *sniff,
                  size_t sniff_len)
{
    uvgo_http_writer_t *w = &c->w;
    uvgo_http_header_t *h = &w->header;
    const char *ctype = NULL, *reason;
    int has_date = 0, user_close = 0, user_ctype = 0;
    int64_t length = -1;
    size_t need = 192, rlen;

    if (!w->status)
        w->status = 200;
    reason = uvgo_http_status_text(w->status);
    rlen = strlen(reason);
    w->no_body = w->head_only || !body_allowed(w->status);

    /* What the handler set that decides framing. */
    for (size_t i = 0; i < h->len; i++) {
        const uvgo_http_field_t *f = &h->fields[i];
        need += f->name_len + f->value_len + 4;
        if (uvgo__http_casecmp(f->name, f->name_len, "Content-Length", 14))
            w->declared = parse_length(f->value);
        else if (uvgo__http_casecmp(f->name, f->name_len, "Content-Type", 12))
            ctype = f->value, user_ctype = 1;
        else if (uvgo__http_casecmp(f->name, f->name_len, "Date", 4))
            has_date = 1;
        else if (uvgo__http_casecmp(f->name, f->name_len, "Connection", 10))
            user_close |= uvgo__http_has_token(f->value, "close");
    }
    if (user_close || !c->keep_alive || c->upgrade ||
        (c->cfg->shutting_down && atomic_load(c->cfg->shutting_down)))
        c->close_after = 1;

    if (!body_allowed(w->status)) {
        length = w->status == 304 ? w->declared : -1;
        ctype = NULL;
    } else if (w->declared >= 0) {
        length = w->declared;
    } else if (final) {
        /* A HEAD handler that wrote nothing leaves the length unsaid. */
        if (!w->head_only || w->written > 0)
            length = w->written;
    } else if (w->head_only) {
        /* No body follows a HEAD response: nothing to frame. */
    } else if (c->req.proto_minor >= 1) {
        w->chunked = 1;
    } else {
        w->until_close = 1;
        c->close_after = 1;
    }
    if (!ctype && body_allowed(w->status) && sniff_len > 0)
        ctype = uvgo__http_sniff(sniff, sniff_len);
    else if (ctype && !*ctype)
        ctype = NULL; /* set to "" by the handler: none, as in Go */

    if (out_reserve(c, need + rlen + (ctype ? strlen(ctype) : 0)))
        return UVGO_ENOMEM;
    char *d = c->out + c->out_len;
    d = put(d, "HTTP/1.1 ", 9);
    d = put_u64(d, (uint64_t)w->status);
    *d++ = ' ';
    d = put(d, reason, rlen);
    d = put(d, "\r\n", 2);
    for (size_t i = 0; i < h->len; i++) {
        const uvgo_http_field_t *f = &h->fields[i];
        /* The server frames the body: it writes these two itself. */
        if (uvgo__http_casecmp(f->name, f->name_len, "Content-Length", 14) ||
            uvgo__http_casecmp(f->name, f->name_len, "Transfer-Encoding", 17))
            continue;
        if (f->value_len == 0 &&
            uvgo__http_casecmp(f->name, f->name_len, "Content-Type", 12))
            continue;
        d = put(d, f->name, f->name_len);
        d = put(d, ": ", 2);
        d = put(d, f->value, f->value_len);
        d = put(d, "\r\n", 2);
    }
    if (ctype && !user_ctype) {
        d = put(d, "Content-Type: ", 14);
        d = put(d, ctype, strlen(ctype));
        d = put(d, "\r\n", 2);
    }
    if (!has_date) {
        d = put(d, "Date: ", 6);
        d = put(d, uvgo__http_date(), 29);
        d = put(d, "\r\n", 2);
    }
    if (length >= 0) {
        d = put(d, "Content-Length: ", 16);
        d = put_u64(d, (uint64_t)length);
        d = put(d, "\r\n", 2);
    } else if (w->chunked) {
        d = put(d, "Transfer-Encoding: chunked\r\n", 28);
    }
    if (c->close_after && !user_close)
        d = put(d, "Connection: close\r\n", 19);
    else if (!c->close_after && c->req.proto_minor == 0)
        d = put(d, "Connection: keep-alive\r\n", 24);
    d = put(d, "\r\n", 2);
    c->out_len = (size_t)(d - c->out);
    w->committed = 1;
    return 0;
}

/* Sends body bytes of a committed response in its framing. */
static int emit(uvgo__http_conn_t *c, const char *p, size_t n)
{
    uvgo_http_writer_t *w = &c->w;
    char head[20], *d = head;
    if (w->no_body || n == 0)
        return 0;
    if (w->chunked) {
        d = put_hex(d, n);
        d = put(d, "\r\n", 2);
    }
    if (n >= DIRECT_WRITE) {
        uv_buf_t b[4];
        unsigned nb = 0;
        if (c->out_len)
            b[nb++] = uv_buf_init(c->out, (unsigned)c->out_len);
        if (d > head)
            b[nb++] = uv_buf_init(head, (unsigned)(d - head));
        b[nb++] = uv_buf_init((char *)p, (unsigned)n);
        if (w->chunked)
            b[nb++] = uv_buf_init("\r\n", 2);
        c->out_len = 0;
        return send_bufs(c, b, nb);
    }
    if (uvgo__http_out_append(c, head, (size_t)(d - head)) ||
        uvgo__http_out_append(c, p, n) ||
        (w->chunked && uvgo__http_out_append(c, "\r\n", 2)))
        return broke(c, UVGO_ENOMEM);
    if (c->out_len >= OUT_FLUSH)
        return uvgo__http_out_flush(c);
    return 0;
}

/* Commits a streaming response and sends what was held back. */
static int commit_stream(uvgo__http_conn_t *c, const char *first,
                         size_t first_len)
{
    uvgo_http_writer_t *w = &c->w;
    int err;
    if (w->buf_len)
        err = commit(c, 0, w->buf, w->buf_len);
    else
        err = commit(c, 0, first, first_len);
    if (err)
        return broke(c, err);
    err = emit(c, w->buf, w->buf_len);
    w->buf_len = 0;
    return err;
}

/* ---- the public writer
 * ---------------------------------------------------------- */

uvgo_http_header_t *uvgo_http_writer_header(uvgo_http_writer_t *w)
{
    return w ? &w->header : NULL;
}

int uvgo_http_writer_status(const uvgo_http_writer_t *w)
{
    return w ? w->status : 0;
}

/* A 1xx response (103 Early Hints...): the status line and the fields set
 * so far, sent now; the final response is still to come. */
static int informational(uvgo__http_conn_t *c, int code)
{
    uvgo_http_header_t *h = &c->w.header;
    const char *reason = uvgo_http_status_text(code);
    size_t need = 32 + strlen(reason);
    for (size_t i = 0; i < h->len; i++)
        need += h->fields[i].name_len + h->fields[i].value_len + 4;
    if (out_reserve(c, need))
        return broke(c, UVGO_ENOMEM);
    char *d = c->out + c->out_len;
    d = put(d, "HTTP/1.1 ", 9);
    d = put_u64(d, (uint64_t)code);
    *d++ = ' ';
    d = put(d, reason, strlen(reason));
    d = put(d, "\r\n", 2);
    for (size_t i = 0; i < h->len; i++) {
        const uvgo_http_field_t *f = &h->fields[i];
        d = put(d, f->name, f->name_len);
        d = put(d, ": ", 2);
        d = put(d, f->value, f->value_len);
        d = put(d, "\r\n", 2);
    }
    d = put(d, "\r\n", 2);
    c->out_len = (size_t)(d - c->out);
    return uvgo__http_out_flush(c);
}

int uvgo_http_writer_write_header(uvgo_http_writer_t *w, int code)
{
    if (!w || code < 100 || code > 999 || code == 101)
        return UVGO_EINVAL;
    if (w->status || w->committed)
        return UVGO_EBUSY;
    uvgo__http_conn_t *c = w->conn;
    if (code < 200)
        return informational(c, code);
    w->status = code;
    return 0;
}

int uvgo_http_writer_write(uvgo_http_writer_t *w, const void *data, size_t len)
{
    if (!w || (!data && len))
        return UVGO_EINVAL;
    uvgo__http_conn_t *c = w->conn;
    if (w->err)
        return w->err;
    if (!w->status)
        w->status = 200;
    if (!w->committed && w->seen != w->header.changes) {
        /* The fields changed since we looked: a Content-Length? */
        const uvgo_http_field_t *f =
            uvgo__http_header_find(&w->header, "Content-Length", 14);
        w->declared = f ? parse_length(f->value) : -1;
        w->seen = w->header.changes;
    }
    if (w->declared >= 0 && (uint64_t)w->written + len > (uint64_t)w->declared)
        return UVGO_EMSGSIZE;
    w->written += (int64_t)len;
    if (!w->committed) {
        if (w->buf_len + len <= BODY_BUF) {
            if (!w->buf && !(w->buf = uvgo__malloc(BODY_BUF)))
                return broke(c, UVGO_ENOMEM);
            memcpy(w->buf + w->buf_len, data, len);
            w->buf_len += len;
            return 0;
        }
        int err = commit_stream(c, data, len);
        if (err)
            return err;
    }
    return emit(c, data, len);
}

int uvgo_http_writer_printf(uvgo_http_writer_t *w, const char *fmt, ...)
{
    va_list ap;
    size_t len;
    if (!w || !fmt)
        return UVGO_EINVAL;
    va_start(ap, fmt);
    char *s = uvgo__http_arena_vprintf(&w->conn->arena, &len, fmt, ap);
    va_end(ap);
    if (!s)
        return UVGO_EINVAL;
    return uvgo_http_writer_write(w, s, len);
}

int uvgo_http_writer_flush(uvgo_http_writer_t *w)
{
    if (!w)
        return UVGO_EINVAL;
    uvgo__http_conn_t *c = w->conn;
    if (w->err)
        return w->err;
    if (!w->committed) {
        int err = commit_stream(c, NULL, 0);
        if (err)
            return err;
    }
    return uvgo__http_out_flush(c);
}

int uvgo_http_writer_error(uvgo_http_writer_t *w, int code, const char *msg)
{
    if (!w || !msg)
        return UVGO_EINVAL;
    uvgo_http_header_t *h = &w->header;
    uvgo_http_header_del(h, "Content-Length");
    uvgo_http_header_set(h, "Content-Type", "text/plain; charset=utf-8");
    uvgo_http_header_set(h, "X-Content-Type-Options", "nosniff");
    int err = uvgo_http_writer_write_header(w, code);
    if (err && err != UVGO_EBUSY)
        return err;
    if ((err = uvgo_http_writer_write(w, msg, strlen(msg))))
        return err;
    return uvgo_http_writer_write(w, "\n", 1);
}

void uvgo__http_writer_finish(uvgo__http_conn_t *c)
{
    uvgo_http_writer_t *w = &c->w;
    if (w->err)
        return;
    if (!w->committed) {
        if (c->too_large && w->written == 0 && w->status == 0) {
            /* The body was too long and the handler said nothing. */
            uvgo_http_writer_error(w, 413, uvgo_http_status_text(413));
            c->close_after = 1;
        }
        if (commit(c, 1, w->buf, w->buf_len)) {
            broke(c, UVGO_ENOMEM);
            return;
        }
        emit(c, w->buf, w->buf_len);
        w->buf_len = 0;
    } else if (w->chunked && !w->no_body) {
        if (uvgo__http_out_append(c, "0\r\n\r\n", 5))
            broke(c, UVGO_ENOMEM);
    }
    /* A body shorter than its declared length cannot be completed:
     * only closing tells the client. */
    if (!w->no_body && w->declared >= 0 && w->written < w->declared)
        c->close_after = 1;
    if (c->close_after && !c->broken)
        uvgo__http_out_flush(c);
}

/* ---- the server's own replies
 * ------------------------------------------------------ */

void uvgo__http_reply_error(uvgo__http_conn_t *c, int code)
{
    char body[64];
    int n =
        snprintf(body, sizeof body, "%d %s", code, uvgo_http_status_text(code));
    char head[256];
    int m = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: close\r\n\r\n",
                     code, uvgo_http_status_text(code), n);
    c->close_after = 1;
    c->write_deadline = 0;
    if (uvgo__http_out_append(c, head, (size_t)m) ||
        uvgo__http_out_append(c, body, (size_t)n))
        return;
    uvgo__http_out_flush(c);
}
