/* conn.c: one connection's requests: llhttp glue, limits, bodies, the
 * serve loop.  The buffer layout and the CR/obs-fold scan are described in
 * http.h.
 *
 * llhttp is used in pause mode: every callback that ends a stage (headers
 * complete, a body span, the last chunk, message complete) records what it
 * saw in c->paused and returns HPE_PAUSED, so llhttp_execute() stops right
 * there and reports the position.  The loop then decides whether to read,
 * dispatch the handler or hand body bytes over.  Nothing is parsed ahead:
 * a pipelined request waits in the buffer, unparsed, until its turn.
 *
 * Limits, all from the config: the head (request line and fields) may be
 * max_header_bytes long (431, or 414 while the request line is still
 * incomplete); a body declared longer than max_body_bytes is refused (413)
 * before the handler runs, a chunked one fails the read that crosses the
 * limit; the trailer section counts as a head.  Timeouts (Go's): the
 * header timeout and the read timeout run from the request's first byte,
 * the write timeout from the end of its head, the idle timeout from the
 * end of the previous response.
 */
#include <limits.h>

#include "http/http.h"

/* Read buffer of a connection at rest; a larger head grows it. */
#define IN_DEFAULT 4096
/* Room a head leaves after it for reading the body. */
#define BODY_SPACE 2048
/* Go's maxPostHandlerReadBytes: unread body discarded to keep a
 * connection alive. */
#define MAX_DRAIN (256 * 1024)
/* Lingering close after an error reply: read and drop what the client
 * still sends for this long (Go's rstAvoidanceDelay), so the reply is not
 * lost to a reset. */
#define LINGER_NS (250 * UVGO_MILLISECOND)
#define LINGER_BYTES (256 * 1024)

/* The defaults a zero in uvgo_http_server_opts_t stands for. */
#define DEF_MAX_HEADER ((size_t)1 << 20) /* Go's 1 MiB */
#define DEF_MAX_BODY ((int64_t)10 << 20) /* 10 MiB */
#define DEF_READ_HEADER_TIMEOUT (10 * UVGO_SECOND)
#define DEF_READ_TIMEOUT (60 * UVGO_SECOND)
#define DEF_WRITE_TIMEOUT (60 * UVGO_SECOND)
#define DEF_IDLE_TIMEOUT (120 * UVGO_SECOND)

static int64_t pick(int64_t v, int64_t def, int64_t none)
{
    return v == 0 ? def : v < 0 ? none : v;
}

void uvgo__http_config_resolve(uvgo__http_config_t *cfg,
                               const uvgo_http_server_opts_t *o)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->handler = o->handler;
    cfg->arg = o->arg;
    cfg->max_header_bytes =
        o->max_header_bytes ? o->max_header_bytes : DEF_MAX_HEADER;
    /* The spans of a head are 32-bit offsets. */
    if (cfg->max_header_bytes > ((size_t)1 << 30))
        cfg->max_header_bytes = (size_t)1 << 30;
    cfg->max_body_bytes = pick(o->max_body_bytes, DEF_MAX_BODY, INT64_MAX);
    cfg->read_header_timeout =
        pick(o->read_header_timeout, DEF_READ_HEADER_TIMEOUT, 0);
    cfg->read_timeout = pick(o->read_timeout, DEF_READ_TIMEOUT, 0);
    cfg->write_timeout = pick(o->write_timeout, DEF_WRITE_TIMEOUT, 0);
    cfg->idle_timeout = pick(o->idle_timeout, DEF_IDLE_TIMEOUT, 0);
    cfg->max_drain = MAX_DRAIN;
}

/* ---- llhttp callbacks ---------------------------------------------------- */

static uvgo__http_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

/* Offset of `at` from the start of the message.  Heads are at most 1 GiB
 * (uvgo__http_config_resolve), so it fits. */
static uint32_t msg_off(uvgo__http_conn_t *c, const char *at)
{
    return (uint32_t)(at - (c->in + c->msg));
}

/* llhttp delivers a span in pieces when it straddles two reads; the
 * pieces are contiguous in our buffer, so a span that has started grows.
 * The request line's spans are empty exactly until they start. */
static void span_grow(uvgo__http_conn_t *c, uvgo__http_span_t *s,
                      const char *at, size_t n)
{
    if (s->len == 0)
        s->off = msg_off(c, at);
    s->len += (uint32_t)n;
}

static int on_method(llhttp_t *p, const char *at, size_t n)
{
    span_grow(conn_of(p), &conn_of(p)->method, at, n);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    span_grow(conn_of(p), &conn_of(p)->url, at, n);
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    conn_of(p)->url_done = 1;
    return 0;
}

static int on_version(llhttp_t *p, const char *at, size_t n)
{
    span_grow(conn_of(p), &conn_of(p)->version, at, n);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    uvgo__http_conn_t *c = conn_of(p);
    if (c->in_trailer)
        return 0; /* trailers are read and dropped */
    if (c->field_open) {
        c->hs[c->nhs - 1].name.len += (uint32_t)n;
        return 0;
    }
    if (c->nhs == c->hs_cap) {
        size_t cap = c->hs_cap ? c->hs_cap * 2 : 16;
        uvgo__http_hspan_t *hs = uvgo__realloc(c->hs, cap * sizeof *hs);
        if (!hs)
            return -1;
        c->hs = hs;
        c->hs_cap = cap;
    }
    uvgo__http_hspan_t *h = &c->hs[c->nhs++];
    memset(h, 0, sizeof *h);
    h->name.off = msg_off(c, at);
    h->name.len = (uint32_t)n;
    c->field_open = 1;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    conn_of(p)->field_open = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    uvgo__http_conn_t *c = conn_of(p);
    if (c->in_trailer || !c->nhs)
        return 0;
    uvgo__http_hspan_t *h = &c->hs[c->nhs - 1];
    if (!h->has_value)
        h->value.off = msg_off(c, at);
    h->value.len += (uint32_t)n;
    h->has_value = 1;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    /* A request without a body goes on to on_message_complete in the
     * same pass (one llhttp_execute per GET). */
    if (!(p->flags & (F_CHUNKED | F_CONTENT_LENGTH)) ||
        ((p->flags & F_CONTENT_LENGTH) && p->content_length == 0))
        return 0;
    conn_of(p)->paused = PAUSE_HEAD;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    uvgo__http_conn_t *c = conn_of(p);
    if (n == 0)
        return 0; /* llhttp closes an open span at the end of its input */
    c->body_ptr = at;
    c->body_len = n;
    c->paused = PAUSE_BODY;
    return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *p)
{
    if (p->content_length != 0)
        return 0;
    conn_of(p)->paused = PAUSE_LAST_CHUNK;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
    conn_of(p)->paused = PAUSE_DONE;
    return HPE_PAUSED;
}

static llhttp_settings_t settings;
static uv_once_t settings_once = UV_ONCE_INIT;

static void settings_init(void)
{
    llhttp_settings_init(&settings);
    settings.on_method = on_method;
    settings.on_url = on_url;
    settings.on_url_complete = on_url_complete;
    settings.on_version = on_version;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_chunk_header = on_chunk_header;
    settings.on_message_complete = on_message_complete;
}

/* ---- the CR / obs-fold scan ---------------------------------------------- */

/* Advances c->checked over what has been read, line by line.  Returns 0,
 * or -1 for a CR that is not followed by LF or a line that starts with a
 * blank.  The empty line that ends the section ends the scan (scan_on = 0)
 * with checked just past it; a byte that cannot be judged yet (a CR or LF
 * at the end of the data) is left for the next call.  Leading empty lines
 * before a request line are allowed (RFC 9112 2.2), as llhttp allows. */
static int scan(uvgo__http_conn_t *c)
{
    const char *p = c->in;
    size_t i = c->checked, end = c->end;
    while (i < end) {
        const char *nl = memchr(p + i, '\n', end - i);
        size_t stop = nl ? (size_t)(nl - p) : end;
        const char *cr = memchr(p + i, '\r', stop - i);
        if (cr && (size_t)(cr - p) + 1 < stop)
            return -1; /* CR, then something else than LF */
        if (stop - i > (cr ? 1u : 0u))
            c->line_len = 1; /* the line has content */
        if (!nl) {
            c->checked = cr ? (size_t)(cr - p) : end;
            return 0;
        }
        int empty = c->line_len == 0;
        if (empty && c->saw_line) {
            c->checked = stop + 1;
            c->scan_on = 0;
            return 0;
        }
        if (stop + 1 == end) {
            c->checked = stop; /* the next line's first byte decides */
            return 0;
        }
        if (p[stop + 1] == ' ' || p[stop + 1] == '\t')
            return -1; /* obs-fold, or a blank line start */
        if (!empty)
            c->saw_line = 1;
        c->line_len = 0;
        i = stop + 1;
    }
    c->checked = end;
    return 0;
}

static void scan_start(uvgo__http_conn_t *c, int after_line)
{
    c->scan_on = 1;
    c->checked = c->pos;
    c->line_len = 0;
    c->saw_line = after_line;
}

/* ---- reading --------------------------------------------------------------
 */

static int shutting_down(uvgo__http_conn_t *c)
{
    /* seq_cst: pairs with the server's store before it looks for idle
     * connections (server.c); one of the two sees the other. */
    return c->cfg->shutting_down && atomic_load(c->cfg->shutting_down);
}

static long served(uvgo__http_conn_t *c)
{
    return atomic_load_explicit(&c->requests, memory_order_relaxed);
}

static void set_state(uvgo__http_conn_t *c, int state)
{
    atomic_store(&c->state, state); /* seq_cst: see shutting_down() */
    if (c->cfg->on_state)
        c->cfg->on_state(c, state);
}

/* Reads more input at in[end..), after sending what `out` holds (the
 * connection is about to wait).  Returns n > 0, 0 at the end of the
 * stream, or an error. */
static int fill(uvgo__http_conn_t *c, size_t max, int64_t deadline)
{
    int err;
    if (c->out_len && (err = uvgo__http_out_flush(c)) < 0)
        return err;
    size_t room = c->in_cap - c->end;
    if (room > max)
        room = max;
    if (room > INT_MAX)
        room = INT_MAX;
    return c->tp->read(c->io, c->in + c->end, room, deadline);
}

/* The deadline `timeout` after `from` (0: none), rounded up to a 16th of
 * the timeout: consecutive requests of a connection then share one
 * deadline, and the socket transport re-arms nothing between them (a
 * change costs a call into the connection; measured with httpd).  So a
 * timeout fires up to 1/16 of its length late (7.5 s of the 120 s idle
 * timeout), never early. */
static int64_t after(int64_t from, int64_t timeout)
{
    if (!timeout)
        return 0;
    int64_t grain = timeout / 16 > 0 ? timeout / 16 : 1;
    int64_t d = from + timeout;
    return d + (grain - d % grain) % grain;
}

static int64_t earliest(int64_t a, int64_t b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

/* Moves the unparsed bytes [from, end) to `to`, shifting the offsets that
 * point into them. */
static void shift(uvgo__http_conn_t *c, size_t from, size_t to)
{
    size_t d = from - to;
    if (!d)
        return;
    memmove(c->in + to, c->in + from, c->end - from);
    c->end -= d;
    c->pos -= d;
    c->checked -= d;
    if (c->msg >= from)
        c->msg -= d;
}

/* Makes room to read more of a head: moves it to the buffer's start, or
 * grows the buffer up to what the header limit needs. */
static int head_room(uvgo__http_conn_t *c)
{
    if (c->end < c->in_cap)
        return 0;
    if (c->msg > 0) {
        shift(c, c->msg, 0);
        return 0;
    }
    size_t most = c->cfg->max_header_bytes + BODY_SPACE;
    if (c->in_cap >= most)
        return 0; /* full: the limit check fails the head */
    size_t cap = c->in_cap * 2 < most ? c->in_cap * 2 : most;
    char *in = uvgo__realloc(c->in, cap);
    if (!in)
        return UVGO_ENOMEM;
    c->in = in;
    c->in_cap = cap;
    return 0;
}

/* Once a head is complete, before its strings are made: leaves room
 * after it for the body, moving it to the buffer's start or growing. */
static int body_space(uvgo__http_conn_t *c)
{
    if (c->in_cap - c->head_end >= BODY_SPACE)
        return 0;
    size_t d = c->msg;
    shift(c, c->msg, 0);
    c->head_end -= d;
    if (c->in_cap - c->head_end >= BODY_SPACE)
        return 0;
    char *in = uvgo__realloc(c->in, c->head_end + BODY_SPACE);
    if (!in)
        return UVGO_ENOMEM;
    c->in = in;
    c->in_cap = c->head_end + BODY_SPACE;
    return 0;
}

/* At the start of a head: a buffer grown for a big request goes back to
 * its resting size when what is left fits. */
static void head_shrink(uvgo__http_conn_t *c)
{
    if (c->in_cap <= IN_DEFAULT || c->end - c->pos > IN_DEFAULT / 2)
        return;
    char *in = uvgo__malloc(IN_DEFAULT);
    if (!in)
        return;
    memcpy(in, c->in + c->pos, c->end - c->pos);
    uvgo__free(c->in);
    c->in = in;
    c->in_cap = IN_DEFAULT;
    c->end -= c->pos;
    c->msg = c->checked = c->pos = 0;
}

/* The status for a head llhttp refused. */
static int head_error_status(uvgo__http_conn_t *c, llhttp_errno_t e)
{
    const char *m = c->in + c->msg, *end = c->in + c->end;
    size_t i;
    switch (e) {
    case HPE_INVALID_METHOD:
        /* A well-formed token llhttp does not know: not implemented. */
        while (m < end && (*m == '\r' || *m == '\n'))
            m++;
        for (i = 0; m + i < end && uvgo__http_tchar[(unsigned char)m[i]]; i++)
            ;
        return i > 0 && m + i < end && m[i] == ' ' ? 501 : 400;
    case HPE_INVALID_VERSION:
        return 505;
    default:
        return 400;
    }
}

/* The status for a head over the limit: 414 when the target alone is. */
static int over_limit(uvgo__http_conn_t *c)
{
    if (!c->url_done ||
        (size_t)c->url.off + c->url.len > c->cfg->max_header_bytes)
        return 414;
    return 431;
}

/* Reads and parses the next request head.  Returns 0 with c->req ready, a
 * status (>= 400) to answer before closing, or -1 to close without a word
 * (the stream ended or failed between requests, or shutdown). */
static int finish_head(uvgo__http_conn_t *c);

static int read_head(uvgo__http_conn_t *c)
{
    const uvgo__http_config_t *cfg = c->cfg;
    head_shrink(c);
    c->msg = c->pos;
    scan_start(c, 0);
    c->method.len = c->url.len = c->version.len = 0;
    c->url_done = c->field_open = 0;
    c->nhs = 0;
    c->paused = PAUSE_NONE;
    for (;;) {
        if (c->scan_on && scan(c) < 0)
            return 400;
        if (c->pos < c->checked) {
            llhttp_errno_t e =
                llhttp_execute(&c->parser, c->in + c->pos, c->checked - c->pos);
            if (e == HPE_PAUSED &&
                (c->paused == PAUSE_HEAD || c->paused == PAUSE_DONE)) {
                c->pos = (size_t)(llhttp_get_error_pos(&c->parser) - c->in);
                llhttp_resume(&c->parser);
                c->body_done = c->paused == PAUSE_DONE;
                c->head_end = c->pos;
                if (c->head_end - c->msg > cfg->max_header_bytes)
                    return over_limit(c);
                if (body_space(c))
                    return 500;
                return finish_head(c);
            }
            if (e != HPE_OK)
                return head_error_status(c, e);
            c->pos = c->checked;
        }
        if (c->pos - c->msg >= cfg->max_header_bytes)
            return over_limit(c);
        int err = head_room(c);
        if (err)
            return 500;
        int64_t deadline;
        int first = c->end == c->msg;
        if (first) {
            /* Between requests: idle, unless the server is stopping.  A
             * new connection (one the shutdown's drain accepted) still
             * gets its first request served; shutdown closes it if none
             * comes (server.c, NEW_GRACE). */
            if (served(c)) {
                set_state(c, UVGO__HTTP_IDLE);
                if (shutting_down(c))
                    return -1;
            }
            /* A new connection has the header timeout from its accept
             * (Go's): one that never sends a byte is not idle, it is
             * slow. */
            int64_t now = uvgo_now();
            deadline = served(c)
                           ? after(now, cfg->idle_timeout)
                           : earliest(after(now, cfg->read_header_timeout),
                                      after(now, cfg->read_timeout));
        } else {
            deadline = earliest(after(c->start, cfg->read_header_timeout),
                                after(c->start, cfg->read_timeout));
        }
        int n = fill(c, SIZE_MAX, deadline);
        if (n <= 0) {
            /* A request cut off by the header timeout hears why. */
            if (!first && n == UVGO_ETIMEDOUT)
                return 408;
            return -1;
        }
        if (first) {
            int idle = served(c) ? UVGO__HTTP_IDLE : UVGO__HTTP_NEW;
            /* The server may have claimed the idle connection (shutdown):
             * then this request is not started, as in Go. */
            if (!atomic_compare_exchange_strong(&c->state, &idle,
                                                UVGO__HTTP_ACTIVE))
                return -1;
            if (c->cfg->on_state)
                c->cfg->on_state(c, UVGO__HTTP_ACTIVE);
            c->start = uvgo_now();
        }
        c->end += (size_t)n;
    }
}

/* Parses the request target into path and query.  Returns 0 or 400. */
static int parse_target(uvgo__http_conn_t *c, char *url, size_t len)
{
    char *q = memchr(url, '?', len);
    char *path = url;
    size_t plen = q ? (size_t)(q - url) : len;
    c->req.raw_query = q ? q + 1 : "";
    if (url[0] == '/') {
        /* origin-form, the usual case */
    } else if (len == 1 && url[0] == '*') {
        /* asterisk-form (OPTIONS *) */
    } else if (plen > 7 &&
               (uvgo__http_casecmp(url, 7, "http://", 7) ||
                (plen > 8 && uvgo__http_casecmp(url, 8, "https://", 8)))) {
        /* absolute-form: the path follows the authority */
        char *auth = url + (url[4] == ':' ? 7 : 8);
        char *slash = memchr(auth, '/', plen - (size_t)(auth - url));
        path = slash ? slash : (char *)"/";
        plen = slash ? plen - (size_t)(slash - url) : 1;
    } else if (!strcmp(c->req.method, "CONNECT")) {
        path = (char *)"";
        plen = 0; /* authority-form */
    } else {
        return 400;
    }
    c->raw_path = path;
    c->raw_path_len = plen;
    if (plen == len && !memchr(path, '%', plen)) {
        c->req.path = path; /* the whole target, nothing to decode */
        return 0;
    }
    char *dec = uvgo__http_arena_alloc(&c->arena, plen + 1);
    if (!dec)
        return 500;
    long n = uvgo__http_unescape(path, plen, dec, 0);
    if (n < 0)
        return 400;
    dec[n] = '\0';
    c->req.path = dec;
    return 0;
}

/* Checks Transfer-Encoding: only "chunked" is implemented.  llhttp has
 * already refused a chunked coding that is not the last. */
static int check_te(const char *value)
{
    const char *p = value;
    int chunked = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != ';')
            p++;
        if (p == s) {
            if (!*p)
                break;
            return 400; /* a parameter with no coding before it: ";x" */
        }
        if (!uvgo__http_casecmp(s, (size_t)(p - s), "chunked", 7))
            return 501;
        if (chunked++)
            return 400;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

/* Builds c->req from the spans of a complete head.  Returns 0 or a
 * status. */
static int finish_head(uvgo__http_conn_t *c)
{
    char *base = c->in + c->msg;
    uvgo_http_request_t *r = &c->req;
    int hosts = 0, err;
    llhttp_t *p = &c->parser;

    if (p->http_major != 1 || p->http_minor > 1)
        return 505;
    base[c->method.off + c->method.len] = '\0';
    base[c->url.off + c->url.len] = '\0';
    base[c->version.off + c->version.len] = '\0';
    r->method = base + c->method.off;
    r->target = base + c->url.off;
    r->proto = base + c->version.off - 5; /* "HTTP/" precedes it */
    r->proto_major = p->http_major;
    r->proto_minor = p->http_minor;
    r->host = "";
    r->remote_addr = c->remote_addr;
    r->pattern = "";
    r->header = &c->req_header;
    r->private_ = c;

    for (size_t i = 0; i < c->nhs; i++) {
        uvgo__http_hspan_t *h = &c->hs[i];
        char *name = base + h->name.off, *value = "";
        size_t vlen = 0;
        name[h->name.len] = '\0'; /* was ':' */
        if (h->has_value) {
            value = base + h->value.off;
            vlen = h->value.len;
            while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
                vlen--;
            value[vlen] = '\0';
        }
        if (uvgo__http_header_push(&c->req_header, name, h->name.len, value,
                                   vlen))
            return 500;
        if (uvgo__http_casecmp(name, h->name.len, "Host", 4)) {
            r->host = value;
            hosts++;
        } else if (uvgo__http_casecmp(name, h->name.len, "Transfer-Encoding",
                                      17)) {
            if ((err = check_te(value)))
                return err;
        } else if (uvgo__http_casecmp(name, h->name.len, "Expect", 6)) {
            if (!uvgo__http_casecmp(value, vlen, "100-continue", 12))
                return 417;
            c->expect_continue = r->proto_minor == 1;
        }
    }
    /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before. */
    if (hosts > 1 || (hosts == 0 && r->proto_minor == 1))
        return 400;
    if ((err = parse_target(c, (char *)r->target, c->url.len)))
        return err;

    if (p->flags & F_CHUNKED)
        r->content_length = -1;
    else if (p->flags & F_CONTENT_LENGTH)
        r->content_length = (int64_t)p->content_length;
    else
        r->content_length = 0;
    if (r->content_length > c->cfg->max_body_bytes)
        return 413;
    if (r->content_length == 0)
        c->expect_continue = 0;

    if (r->proto_minor == 0)
        c->keep_alive = (p->flags & F_CONNECTION_KEEP_ALIVE) != 0;
    else
        c->keep_alive = !(p->flags & F_CONNECTION_CLOSE);
    /* No protocol switch is offered: after CONNECT or an Upgrade request
     * the bytes that follow are not HTTP/1, so the connection ends with
     * this response. */
    c->upgrade = p->upgrade || p->method == HTTP_CONNECT;
    /* From the end of the head (Go's); the head mostly comes in one read,
     * so its start is close enough and saves a clock read. */
    c->write_deadline = after(c->start, c->cfg->write_timeout);
    return 0;
}

/* ---- bodies ----------------------------------------------------------------
 */

/* Runs the parser over what is buffered, in the body phase.  Returns 1
 * when it made progress (a span to hand over, the end, the trailers
 * start), 0 when it needs more input, or UV_EPROTO. */
static int body_step(uvgo__http_conn_t *c)
{
    size_t feed = c->end;
    if (c->scan_on) {
        size_t before = c->checked;
        if (scan(c) < 0)
            return UV_EPROTO;
        feed = c->checked;
        c->trailer_len += c->checked - before;
        if (c->trailer_len > c->cfg->max_header_bytes)
            return UV_EPROTO;
    }
    c->paused = PAUSE_NONE;
    llhttp_errno_t e =
        llhttp_execute(&c->parser, c->in + c->pos, feed - c->pos);
    if (e == HPE_OK) {
        c->pos = feed;
        return 0;
    }
    if (e != HPE_PAUSED)
        return UV_EPROTO;
    c->pos = (size_t)(llhttp_get_error_pos(&c->parser) - c->in);
    llhttp_resume(&c->parser);
    switch (c->paused) {
    case PAUSE_BODY:
        return 1;
    case PAUSE_LAST_CHUNK:
        /* The trailer section is a head of fields: scanned the same way,
         * parsed and dropped. */
        c->in_trailer = 1;
        scan_start(c, 1);
        return 1;
    case PAUSE_DONE:
        c->body_done = 1;
        c->scan_on = 0;
        return 1;
    default:
        return UV_EPROTO;
    }
}

/* Makes room after the head for more body bytes: what is parsed is
 * dropped by moving the rest down to head_end. */
static void body_room(uvgo__http_conn_t *c)
{
    if (c->end == c->in_cap)
        shift(c, c->pos, c->head_end);
}

static void send_continue(uvgo__http_conn_t *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    c->continue_sent = 1;
    if (!c->w.committed)
        uvgo__http_out_append(c, cont, sizeof cont - 1);
}

/* The body is over its limit: the handler hears UVGO_EMSGSIZE, the client
 * 413 if the handler says nothing, and the connection closes. */
static int too_large(uvgo__http_conn_t *c)
{
    c->too_large = 1;
    c->close_after = 1;
    return UVGO_EMSGSIZE;
}

static void watch_start(uvgo__http_conn_t *c);

/* Hands over up to cap body bytes (buf NULL: drops them).  Returns the
 * count, 0 at the end of the body, or an error (sticky). */
static int body_read(uvgo__http_conn_t *c, char *buf, size_t cap, int64_t limit)
{
    if (c->body_err)
        return c->body_err;
    for (;;) {
        if (c->body_len) {
            size_t n = c->body_len < cap ? c->body_len : cap;
            if (n > INT_MAX)
                n = INT_MAX;
            if (c->body_read + (int64_t)n > limit)
                return c->body_err = too_large(c);
            if (buf)
                memcpy(buf, c->body_ptr, n);
            c->body_ptr += n;
            c->body_len -= n;
            c->body_read += (int64_t)n;
            return (int)n;
        }
        if (c->body_done) {
            watch_start(c);
            return 0;
        }
        if (c->expect_continue && !c->continue_sent)
            send_continue(c);
        int r = body_step(c);
        if (r > 0)
            continue;
        if (r < 0) {
            c->close_after = 1;
            return c->body_err = r;
        }
        body_room(c);
        r = fill(c, SIZE_MAX, after(c->start, c->cfg->read_timeout));
        if (r <= 0) {
            c->close_after = 1;
            return c->body_err = r == 0 ? UV_EPROTO : r;
        }
        c->end += (size_t)r;
    }
}

int uvgo_http_request_read(uvgo_http_request_t *r, void *buf, size_t cap)
{
    if (!r || (!buf && cap))
        return UVGO_EINVAL;
    uvgo__http_conn_t *c = uvgo__http_conn_of(r);
    if (!cap)
        return 0;
    return body_read(c, buf, cap, c->cfg->max_body_bytes);
}

int uvgo_http_request_read_all(uvgo_http_request_t *r, char **data, size_t *len,
                               size_t limit)
{
    if (!r || !data || !len)
        return UVGO_EINVAL;
    uvgo__http_conn_t *c = uvgo__http_conn_of(r);
    uint64_t most = (uint64_t)c->cfg->max_body_bytes;
    if ((uint64_t)limit < most)
        most = limit;
    if (most > SIZE_MAX / 4)
        most = SIZE_MAX / 4;
    int known = r->content_length >= 0;
    /* Sized by Content-Length when there is one, else doubled as it
     * fills (the arena keeps the smaller copies until the request ends);
     * one byte more than allowed shows a body that is too long. */
    size_t cap = known ? (size_t)(r->content_length - c->body_read) : 1024;
    if (cap > most + 1)
        cap = (size_t)most + 1;
    char *buf = uvgo__http_arena_alloc(&c->arena, cap + 1);
    size_t n = 0;
    if (!buf)
        return UVGO_ENOMEM;
    for (;;) {
        int got;
        if (n == cap && known && c->body_read == r->content_length) {
            got = body_read(c, NULL, SIZE_MAX, INT64_MAX); /* the end */
        } else {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                if (ncap > most + 1)
                    ncap = (size_t)most + 1;
                char *nbuf = uvgo__http_arena_alloc(&c->arena, ncap + 1);
                if (!nbuf)
                    return UVGO_ENOMEM;
                memcpy(nbuf, buf, n);
                buf = nbuf;
                cap = ncap;
            }
            got = body_read(c, buf + n, cap - n, INT64_MAX);
        }
        if (got < 0)
            return got;
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > most)
            return too_large(c);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* ---- the client-gone watcher -----------------------------------------------
 */

/* Go's background read: once a handler holds its context and the body is
 * read, a task of the connection reads ahead one byte.  The end of the
 * stream or an error means the client is gone: the context is cancelled.
 * A byte (the next pipelined request) is kept and put back in the buffer
 * when the handler returns.  Handlers that never ask for their context
 * pay nothing. */
static void *watch_main(void *arg)
{
    uvgo__http_conn_t *c = arg;
    char b;
    int n = c->tp->peek(c->io, &b, c->watch_stop);
    if (n == 1) {
        c->watch_byte = b;
        c->watch_got = 1;
    } else if (!uvgo_ctx_err(c->watch_stop)) {
        uvgo_ctx_cancel(c->req_ctx); /* the client went away */
    }
    uvgo_event_set(&c->watch_done);
    return NULL;
}

static void watch_start(uvgo__http_conn_t *c)
{
    if (c->watching || !c->tp->peek || !c->req_ctx || !c->body_done ||
        c->broken || c->upgrade)
        return;
    if (uvgo_ctx_with_cancel(&c->watch_stop, NULL))
        return;
    c->watch_done = (uvgo_event_t)UVGO_EVENT_INIT;
    c->watch_got = 0;
    uvgo_task_opts_t o = {.name = "http watch"};
    if (uvgo_task_spawn(NULL, watch_main, c, &o)) {
        uvgo_ctx_cancel_release(c->watch_stop);
        return;
    }
    c->watching = 1;
}

/* Stops the watcher and waits for it; a byte it read goes back in. */
static void watch_stop(uvgo__http_conn_t *c)
{
    if (!c->watching)
        return;
    uvgo_ctx_cancel(c->watch_stop);
    uvgo_event_wait(&c->watch_done, "http watch stop");
    uvgo_ctx_release(c->watch_stop);
    c->watch_stop = NULL;
    c->watching = 0;
    if (c->watch_got) {
        if (c->end == c->in_cap)
            body_room(c);
        if (c->end < c->in_cap)
            c->in[c->end++] = c->watch_byte;
        else
            c->close_after = 1; /* no room (cannot happen): drop it */
    }
}

uvgo_ctx_t *uvgo_http_request_ctx(uvgo_http_request_t *r)
{
    if (!r)
        return NULL;
    uvgo__http_conn_t *c = uvgo__http_conn_of(r);
    if (!c->req_ctx) {
        if (uvgo_ctx_with_cancel(&c->req_ctx, c->ctx) != 0)
            return c->req_ctx = NULL;
        watch_start(c);
    }
    return c->req_ctx;
}

/* ---- the serve loop
 * ----------------------------------------------------------- */

int uvgo__http_conn_init(uvgo__http_conn_t *c, const uvgo__http_config_t *cfg,
                         const uvgo__http_transport_t *tp, void *io)
{
    uv_once(&settings_once, settings_init);
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->tp = tp;
    c->io = io;
    c->in = uvgo__malloc(IN_DEFAULT);
    if (!c->in)
        return UVGO_ENOMEM;
    c->in_cap = IN_DEFAULT;
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    uvgo__http_header_init(&c->req_header, &c->arena);
    uvgo__http_header_init(&c->w.header, &c->arena);
    c->w.conn = c;
    return 0;
}

void uvgo__http_conn_destroy(uvgo__http_conn_t *c)
{
    if (c->req_ctx) {
        uvgo_ctx_cancel(c->req_ctx);
        uvgo_ctx_release(c->req_ctx);
        c->req_ctx = NULL;
    }
    uvgo__http_header_destroy(&c->req_header);
    uvgo__http_header_destroy(&c->w.header);
    uvgo__http_arena_free(&c->arena);
    uvgo__free(c->hs);
    uvgo__free(c->in);
    uvgo__free(c->out);
    uvgo__free(c->w.buf);
    c->hs = NULL;
    c->in = c->out = c->w.buf = NULL;
}

/* After the handler: the response is completed, the unread body dropped
 * (up to max_drain; past that the connection closes), and the request's
 * memory recycled. */
static void finish_request(uvgo__http_conn_t *c)
{
    uvgo_http_request_t *r = &c->req;
    watch_stop(c);
    if (!c->body_done && !c->body_err) {
        /* A client that asked "100-continue" and was not told to go on
         * may or may not send the body: only closing is safe.  A known
         * remainder too long to drain closes too: say so in the reply. */
        if ((c->expect_continue && !c->continue_sent) ||
            (r->content_length > 0 &&
             r->content_length - c->body_read > (int64_t)c->cfg->max_drain))
            c->close_after = 1;
    }
    uvgo__http_writer_finish(c);
    if (!c->close_after && !c->broken && !c->body_done) {
        int64_t drained = 0;
        int n;
        while ((n = body_read(c, NULL, SIZE_MAX, INT64_MAX)) > 0) {
            drained += n;
            if (drained > (int64_t)c->cfg->max_drain) {
                c->close_after = 1;
                break;
            }
        }
        if (n < 0)
            c->close_after = 1;
    }
    if (c->req_ctx) {
        uvgo_ctx_cancel(c->req_ctx);
        uvgo_ctx_release(c->req_ctx);
        c->req_ctx = NULL;
    }
}

/* Resets the per-request state for the next request. */
static void reset_request(uvgo__http_conn_t *c)
{
    uvgo__http_header_reset(&c->req_header);
    uvgo__http_arena_reset(&c->arena);
    if (c->hs_cap > 64) {
        uvgo__free(c->hs);
        c->hs = NULL;
        c->hs_cap = 0;
    }
    memset(&c->req, 0, sizeof c->req);
    c->pv = NULL;
    c->npv = 0;
    c->expect_continue = c->continue_sent = 0;
    c->upgrade = 0;
    c->body_ptr = NULL;
    c->body_len = 0;
    c->body_done = c->body_err = c->too_large = 0;
    c->body_read = 0;
    c->in_trailer = 0;
    c->trailer_len = 0;
}

/* After an error reply: stop sending, drop what the client still sends for
 * a moment, so that closing does not reset the connection under the
 * reply before the client has read it. */
static void linger(uvgo__http_conn_t *c)
{
    if (!c->tp->close_write || c->tp->close_write(c->io) < 0)
        return;
    int64_t deadline = uvgo_now() + LINGER_NS;
    size_t dropped = 0;
    while (dropped < LINGER_BYTES) {
        int n = c->tp->read(c->io, c->in, c->in_cap, deadline);
        if (n <= 0)
            break;
        dropped += (size_t)n;
    }
}

void uvgo__http_conn_serve(uvgo__http_conn_t *c)
{
    const uvgo__http_config_t *cfg = c->cfg;
    set_state(c, UVGO__HTTP_NEW);
    for (;;) {
        int status = read_head(c);
        if (status < 0)
            break;
        if (status > 0) {
            uvgo__http_reply_error(c, status);
            if (!c->broken)
                linger(c);
            break;
        }
        atomic_store_explicit(&c->in_request, 1, memory_order_relaxed);
        uvgo__http_writer_start(c);
        cfg->handler(&c->w, &c->req, cfg->arg);
        finish_request(c);
        atomic_store_explicit(&c->in_request, 0, memory_order_relaxed);
        atomic_store_explicit(
            &c->requests,
            atomic_load_explicit(&c->requests, memory_order_relaxed) + 1,
            memory_order_relaxed);
        if (c->close_after || !c->keep_alive || c->upgrade || c->broken ||
            shutting_down(c))
            break;
        reset_request(c);
    }
    if (!c->broken && c->out_len)
        uvgo__http_out_flush(c);
    reset_request(c);
    set_state(c, UVGO__HTTP_CLOSED);
}
