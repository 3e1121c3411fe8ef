/* bufio.c: Go's bufio over a connection (uvgo/io.h).
 *
 * A reader's buffer holds unread bytes in [start, end); fill() slides them
 * to the front and reads once after them.  Every call that returns a view
 * into the buffer is bounded by its size, so a peer that never sends a
 * newline costs one buffer, not unbounded memory.  Errors are not kept:
 * the connection keeps the ones that last (EOF, a reset), and a deadline
 * that passed is worth retrying after a new one.
 *
 * A writer's first error sticks, as in Go: after a failed write nothing
 * more is written and every call returns it.
 */
#include <stdarg.h>
#include <string.h>

#include "io/io.h"

#define DEFAULT_SIZE 4096

struct uvgo_reader {
    uvgo_conn_t *c;
    char *buf;
    size_t size;
    size_t start, end; /* unread bytes */
};

struct uvgo_writer {
    uvgo_conn_t *c;
    char *buf;
    size_t size;
    size_t n; /* buffered bytes */
    int err;  /* sticky */
};

int uvgo_reader_new(uvgo_reader_t **out, uvgo_conn_t *c, size_t size)
{
    uvgo_reader_t *r;

    if (!out || !c)
        return UVGO_EINVAL;
    if (size == 0)
        size = DEFAULT_SIZE;
    if (!(r = uvgo__calloc(1, sizeof *r + size)))
        return UVGO_ENOMEM;
    r->c = c;
    r->buf = (char *)(r + 1);
    r->size = size;
    *out = r;
    return 0;
}

void uvgo_reader_free(uvgo_reader_t *r)
{
    uvgo__free(r);
}

size_t uvgo_reader_buffered(const uvgo_reader_t *r)
{
    return r ? r->end - r->start : 0;
}

/* Reads once more into the buffer.  Returns 0 or an error. */
static int fill(uvgo_reader_t *r)
{
    int n;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->size)
        return UVGO_ENOBUFS;
    n = uvgo_conn_read(r->c, r->buf + r->end, r->size - r->end);
    if (n < 0)
        return n;
    r->end += (size_t)n;
    return 0;
}

int uvgo_reader_read(uvgo_reader_t *r, void *buf, size_t len)
{
    size_t n;
    int err;

    if (!r || !buf || !len)
        return UVGO_EINVAL;
    if (r->start == r->end) {
        if (len >= r->size) /* nothing to gain from a copy */
            return uvgo_conn_read(r->c, buf, len);
        r->start = r->end = 0;
        if ((err = fill(r)))
            return err;
    }
    n = r->end - r->start;
    if (n > len)
        n = len;
    if (n > INT32_MAX)
        n = INT32_MAX;
    memcpy(buf, r->buf + r->start, n);
    r->start += n;
    return (int)n;
}

int uvgo_reader_read_full(uvgo_reader_t *r, void *buf, size_t len, size_t *got)
{
    size_t n = 0;
    int k = 0;

    while (n < len) {
        if ((k = uvgo_reader_read(r, (char *)buf + n, len - n)) < 0)
            break;
        n += (size_t)k;
        k = 0;
    }
    if (got)
        *got = n;
    return k;
}

int uvgo_reader_read_until(uvgo_reader_t *r, int delim, const char **out,
                           size_t *len)
{
    size_t scanned = 0; /* bytes already searched, from start */
    int err;

    if (!r || !out || !len)
        return UVGO_EINVAL;
    for (;;) {
        char *from = r->buf + r->start + scanned;
        char *hit = memchr(from, delim, r->end - r->start - scanned);
        size_t avail = r->end - r->start;
        if (hit) {
            *len = (size_t)(hit - (r->buf + r->start)) + 1;
            err = 0;
            break;
        }
        *len = avail;
        if (avail == r->size) {
            err = UVGO_ENOBUFS; /* Go's ErrBufferFull */
            break;
        }
        scanned = avail;
        if ((err = fill(r)))
            break;
    }
    *out = r->buf + r->start;
    r->start += *len;
    return err;
}

int uvgo_reader_read_line(uvgo_reader_t *r, const char **out, size_t *len)
{
    int err = uvgo_reader_read_until(r, '\n', out, len);

    if (err == UVGO_EOF && *len > 0)
        err = 0; /* the last line, without its newline; EOF comes next */
    if (err)
        return err;
    if (*len > 0 && (*out)[*len - 1] == '\n')
        --*len;
    if (*len > 0 && (*out)[*len - 1] == '\r')
        --*len;
    return 0;
}

int uvgo_reader_peek(uvgo_reader_t *r, size_t n, const char **out, size_t *len)
{
    int err = 0;

    if (!r || !out)
        return UVGO_EINVAL;
    if (n > r->size)
        err = UVGO_ENOBUFS;
    while (!err && r->end - r->start < n)
        err = fill(r);
    *out = r->buf + r->start;
    if (len)
        *len = r->end - r->start;
    return err;
}

int uvgo_reader_discard(uvgo_reader_t *r, size_t n, size_t *skipped)
{
    size_t done = 0;
    int err = 0;

    if (!r)
        return UVGO_EINVAL;
    while (done < n) {
        size_t k = r->end - r->start;
        if (k == 0) {
            r->start = r->end = 0;
            if ((err = fill(r)))
                break;
            continue;
        }
        if (k > n - done)
            k = n - done;
        r->start += k;
        done += k;
    }
    if (skipped)
        *skipped = done;
    return err;
}

/* ---- writer ------------------------------------------------------------- */

int uvgo_writer_new(uvgo_writer_t **out, uvgo_conn_t *c, size_t size)
{
    uvgo_writer_t *w;

    if (!out || !c)
        return UVGO_EINVAL;
    if (size == 0)
        size = DEFAULT_SIZE;
    if (!(w = uvgo__calloc(1, sizeof *w + size)))
        return UVGO_ENOMEM;
    w->c = c;
    w->buf = (char *)(w + 1);
    w->size = size;
    *out = w;
    return 0;
}

void uvgo_writer_free(uvgo_writer_t *w)
{
    uvgo__free(w);
}

size_t uvgo_writer_buffered(const uvgo_writer_t *w)
{
    return w ? w->n : 0;
}

int uvgo_writer_flush(uvgo_writer_t *w)
{
    size_t sent = 0;

    if (!w)
        return UVGO_EINVAL;
    if (w->err || w->n == 0)
        return w->err;
    w->err = uvgo_conn_write(w->c, w->buf, w->n, &sent);
    /* On failure keep what did not go, as Go does. */
    memmove(w->buf, w->buf + sent, w->n - sent);
    w->n -= sent;
    return w->err;
}

int uvgo_writer_write(uvgo_writer_t *w, const void *buf, size_t len)
{
    const char *p = buf;

    if (!w || (!buf && len))
        return UVGO_EINVAL;
    while (len > 0 && !w->err) {
        size_t room = w->size - w->n;
        if (w->n == 0 && len >= w->size) {
            /* Large and nothing buffered: write straight through. */
            w->err = uvgo_conn_write(w->c, p, len, NULL);
            return w->err;
        }
        if (room > len)
            room = len;
        memcpy(w->buf + w->n, p, room);
        w->n += room;
        p += room;
        len -= room;
        if (len > 0)
            uvgo_writer_flush(w);
    }
    return w->err;
}

int uvgo_writer_printf(uvgo_writer_t *w, const char *fmt, ...)
{
    va_list ap;
    int n, err;

    if (!w || !fmt)
        return UVGO_EINVAL;
    if (w->err)
        return w->err;
    va_start(ap, fmt);
    n = vsnprintf(w->buf + w->n, w->size - w->n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return UVGO_EINVAL;
    if ((size_t)n < w->size - w->n) {
        w->n += (size_t)n;
        return n;
    }
    /* It did not fit: format into a temporary and write that. */
    char *tmp = uvgo__malloc((size_t)n + 1);
    if (!tmp)
        return UVGO_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    err = uvgo_writer_write(w, tmp, (size_t)n);
    uvgo__free(tmp);
    return err ? err : n;
}
