/* test-http.c: the HTTP/1.1 server.  In memory first (the request path:
 * scan, parser, limits, handler, writer, mux), then over sockets, raw and
 * with curl. */
#define _GNU_SOURCE
#include <stdatomic.h>

#include "test.h"
#include "http/http.h"

/* ---- responses, parsed back ---------------------------------------------- */

typedef struct resp {
    int status;
    int chunked;
    int has_length;
    int until_close;      /* the body runs to the end of the stream */
    size_t body_len;
    char head[8192];      /* the field lines, NUL-terminated */
    char body[1 << 17];   /* last: not cleared between responses */
} resp_t;

/* The value of a field of r, or NULL; one static buffer. */
static const char *field(const resp_t *r, const char *name)
{
    static char value[1024];
    size_t nlen = strlen(name);
    const char *p = r->head;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
            !strncasecmp(p, name, nlen)) {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(value, sizeof value, "%.*s", (int)(eol - v), v);
            return value;
        }
        p = eol + 2;
    }
    return NULL;
}

/* Parses one response at p; returns the bytes it took, 0 if incomplete,
 * -1 if malformed.  A response to HEAD has no body (head_request). */
static long parse_resp(const char *p, size_t len, int head_request,
                       resp_t *r)
{
    const char *end = memmem(p, len, "\r\n\r\n", 4);
    memset(r, 0, offsetof(resp_t, body));
    if (!end)
        return 0;
    if (len < 12 || memcmp(p, "HTTP/1.1 ", 9))
        return -1;
    r->status = atoi(p + 9);
    const char *fields = memchr(p, '\n', (size_t)(end - p)) + 1;
    size_t flen = (size_t)(end + 2 - fields);
    if (flen >= sizeof r->head)
        return -1;
    memcpy(r->head, fields, flen);
    r->head[flen] = '\0';
    const char *b = end + 4;
    size_t left = len - (size_t)(b - p);
    const char *cl = field(r, "Content-Length");
    const char *te = field(r, "Transfer-Encoding");
    if (head_request || r->status == 204 || r->status == 304 ||
        r->status < 200) {
        r->has_length = cl != NULL;
        return b - p;
    }
    if (cl) {
        size_t n = strtoul(cl, NULL, 10);
        r->has_length = 1;
        if (left < n)
            return 0;
        ASSERT(n < sizeof r->body);
        memcpy(r->body, b, n);
        r->body_len = n;
        return (long)(b - p + (long)n);
    }
    if (te && !strcmp(te, "chunked")) {
        r->chunked = 1;
        const char *q = b, *e = p + len;
        for (;;) {
            const char *nl = memmem(q, (size_t)(e - q), "\r\n", 2);
            if (!nl)
                return 0;
            size_t n = strtoul(q, NULL, 16);
            q = nl + 2;
            if (n == 0) {
                if (e - q < 2)
                    return 0;
                if (memcmp(q, "\r\n", 2))
                    return -1;
                return q + 2 - p;
            }
            if ((size_t)(e - q) < n + 2)
                return 0;
            ASSERT(r->body_len + n < sizeof r->body);
            memcpy(r->body + r->body_len, q, n);
            r->body_len += n;
            q += n + 2;
        }
    }
    /* Until the connection closes. */
    r->until_close = 1;
    ASSERT(left < sizeof r->body);
    memcpy(r->body, b, left);
    r->body_len = left;
    return (long)len;
}

/* ---- serving from memory --------------------------------------------------- */

typedef struct mem {
    char *out;
    size_t len;
    long served;
    size_t off; /* parsing position */
} mem_t;

static uvgo__http_config_t mem_cfg(uvgo_http_handler_fn fn, void *arg)
{
    uvgo__http_config_t cfg;
    uvgo__http_config_resolve(&cfg, fn, arg, 0, 0, 0, 0, 0, 0);
    return cfg;
}

static void mem_serve_cfg(mem_t *m, const uvgo__http_config_t *cfg,
                          const char *in, size_t len, size_t chunk)
{
    memset(m, 0, sizeof *m);
    m->served = uvgo__http_serve_memory(cfg, in, len, chunk, &m->out,
                                        &m->len);
    ASSERT(m->served >= 0);
}

static void mem_serve(mem_t *m, uvgo_http_handler_fn fn, void *arg,
                      const char *in, size_t chunk)
{
    uvgo__http_config_t cfg = mem_cfg(fn, arg);
    mem_serve_cfg(m, &cfg, in, strlen(in), chunk);
}

/* The next response in m's output. */
static void next_resp(mem_t *m, int head_request, resp_t *r)
{
    long n = parse_resp(m->out + m->off, m->len - m->off, head_request, r);
    if (n <= 0)
        TEST_FAIL_("no complete response at %zu of %zu: \"%.*s\"", m->off,
                   m->len, (int)(m->len - m->off), m->out + m->off);
    m->off += (size_t)n;
}

static void no_more(mem_t *m)
{
    if (m->off != m->len)
        TEST_FAIL_("unexpected output: \"%.*s\"", (int)(m->len - m->off),
                   m->out + m->off);
    free(m->out);
    m->out = NULL;
}

/* ---- handlers ----------------------------------------------------------------- */

static void hello(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    (void)r;
    (void)arg;
    uvgo_http_header_set(uvgo_http_writer_header(w), "Content-Type",
                         "text/plain");
    ASSERT_OK(uvgo_http_writer_write(w, "Hello, World!", 13));
}

/* Describes the request, then echoes its body. */
static void echo(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    char buf[3000];
    int n;
    (void)arg;
    uvgo_http_writer_printf(w, "%s %s %s path=%s query=%s host=%s len=%lld\n",
                            r->method, r->target, r->proto, r->path,
                            r->raw_query, r->host,
                            (long long)r->content_length);
    for (size_t i = 0; i < uvgo_http_header_len(r->header); i++) {
        const uvgo_http_field_t *f = uvgo_http_header_at(r->header, i);
        uvgo_http_writer_printf(w, "[%s]=[%s]\n", f->name, f->value);
    }
    while ((n = uvgo_http_request_read(r, buf, sizeof buf)) > 0)
        uvgo_http_writer_write(w, buf, (size_t)n);
    if (n < 0)
        uvgo_http_writer_printf(w, "\nread error %s\n", uvgo_err_name(n));
}

/* ---- in memory: the basics ------------------------------------------------------ */

static void get_is_answered_with_length_date_and_type(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, hello, NULL, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(field(&r, "Content-Length"), "13");
    ASSERT_STR_EQ(field(&r, "Content-Type"), "text/plain");
    ASSERT_EQ(strlen(field(&r, "Date")), 29);
    ASSERT(strstr(field(&r, "Date"), " GMT"));
    ASSERT(!field(&r, "Connection"));
    ASSERT_EQ(r.body_len, 13);
    ASSERT(!memcmp(r.body, "Hello, World!", 13));
    no_more(&m);
}

static void request_fields_are_parsed_and_trimmed(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, echo, NULL,
              "GET /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: example.com\r\n"
              "X-One:  spaced value \t\r\nx-one: second\r\nEmpty:\r\n\r\n",
              0);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 200);
    r.body[r.body_len] = '\0';
    ASSERT_STR_EQ(r.body,
                  "GET /a%20b/c?x=1&y=%41 HTTP/1.1 path=/a b/c "
                  "query=x=1&y=%41 host=example.com len=0\n"
                  "[Host]=[example.com]\n[X-One]=[spaced value]\n"
                  "[x-one]=[second]\n[Empty]=[]\n");
    ASSERT_STR_EQ(field(&r, "Content-Type"), "text/plain; charset=utf-8");
    no_more(&m);
}

static void pipelined_requests_are_answered_in_order_in_one_write(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, echo, NULL,
              "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
              "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
              "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 3);
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "GET /1 "));
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "POST /2 "));
    ASSERT(!memcmp(r.body + r.body_len - 5, "hello", 5));
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "GET /3 "));
    no_more(&m);
}

static void bytes_one_at_a_time_give_the_same_answers(void)
{
    static const char in[] =
        "GET /1 HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n"
        "POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
        "PUT /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz";
    mem_t whole, bytes;
    mem_serve(&whole, echo, NULL, in, 0);
    mem_serve(&bytes, echo, NULL, in, 1);
    ASSERT_EQ(whole.served, 3);
    ASSERT_EQ(bytes.served, 3);
    /* Equal but for Date, which may tick between the two. */
    resp_t a, b;
    for (int i = 0; i < 3; i++) {
        next_resp(&whole, 0, &a);
        next_resp(&bytes, 0, &b);
        ASSERT_EQ(a.status, 200);
        ASSERT_EQ(a.body_len, b.body_len);
        ASSERT(!memcmp(a.body, b.body, a.body_len));
    }
    ASSERT(strstr(a.body, "xyz"));
    no_more(&whole);
    no_more(&bytes);
}

static void chunked_request_body_is_decoded_and_trailers_dropped(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, echo, NULL,
              "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
              "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"
              "GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 2);
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "len=-1"));
    ASSERT(!memcmp(r.body + r.body_len - 11, "hello world", 11));
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "GET /after"));
    no_more(&m);
}

static void big(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    size_t total = (size_t)(uintptr_t)arg, step = 1000;
    char buf[1000];
    (void)r;
    for (size_t i = 0; i < total; i += step) {
        size_t n = total - i < step ? total - i : step;
        for (size_t k = 0; k < n; k++)
            buf[k] = (char)('a' + (i + k) % 26);
        ASSERT_OK(uvgo_http_writer_write(w, buf, n));
    }
}

static void large_response_is_chunked_and_small_one_has_length(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, big, (void *)(uintptr_t)50000,
              "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    next_resp(&m, 0, &r);
    ASSERT(r.chunked);
    ASSERT(!field(&r, "Content-Length"));
    ASSERT_EQ(r.body_len, 50000);
    for (size_t i = 0; i < r.body_len; i++)
        ASSERT_EQ(r.body[i], 'a' + i % 26);
    ASSERT_STR_EQ(field(&r, "Content-Type"), "text/plain; charset=utf-8");
    no_more(&m);

    mem_serve(&m, big, (void *)(uintptr_t)4096,
              "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    next_resp(&m, 0, &r);
    ASSERT(!r.chunked);
    ASSERT_STR_EQ(field(&r, "Content-Length"), "4096");
    no_more(&m);
}

static void http10_stream_ends_with_the_connection(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, big, (void *)(uintptr_t)20000,
              "GET / HTTP/1.0\r\n\r\nGET /not-served HTTP/1.0\r\n\r\n", 0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    ASSERT(!r.chunked);
    ASSERT(!field(&r, "Content-Length"));
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    ASSERT_EQ(r.body_len, 20000);
    no_more(&m);
}

static void keep_alive_follows_version_and_connection(void)
{
    mem_t m;
    resp_t r;
    /* 1.0 closes by default. */
    mem_serve(&m, hello, NULL, "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
    /* 1.0 with keep-alive stays open, and says so. */
    mem_serve(&m, hello, NULL,
              "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
              "GET / HTTP/1.0\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 2);
    next_resp(&m, 0, &r);
    ASSERT_STR_EQ(field(&r, "Connection"), "keep-alive");
    next_resp(&m, 0, &r);
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
    /* 1.1 with close ends after it. */
    mem_serve(&m, hello, NULL,
              "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
              "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
}

static void head_has_no_body_but_its_length(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, hello, NULL,
              "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
              "HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 2);
    next_resp(&m, 1, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(field(&r, "Content-Length"), "13");
    next_resp(&m, 1, &r);
    no_more(&m);
    mem_serve(&m, big, (void *)(uintptr_t)30000,
              "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: "
              "a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 2);
    next_resp(&m, 1, &r);
    ASSERT(!field(&r, "Transfer-Encoding"));
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.body_len, 30000);
    no_more(&m);
}

static void continue_handler(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                             void *arg)
{
    char *data;
    size_t len;
    if (arg) { /* refuse without reading */
        uvgo_http_writer_error(w, 403, "no");
        return;
    }
    ASSERT_OK(uvgo_http_request_read_all(r, &data, &len, 100));
    uvgo_http_writer_write(w, data, len);
}

static void expect_continue_is_answered_on_first_read(void)
{
    mem_t m;
    resp_t r;
    static const char in[] =
        "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
        "Content-Length: 4\r\n\r\nbody"
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    mem_serve(&m, continue_handler, NULL, in, 0);
    ASSERT_EQ(m.served, 2);
    ASSERT(!strncmp(m.out, "HTTP/1.1 100 Continue\r\n\r\n", 25));
    m.off = 25;
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body_len, 4);
    next_resp(&m, 0, &r);
    no_more(&m);
    /* Not read: no 100, and the connection closes (the client may not
     * send the body). */
    mem_serve(&m, continue_handler, (void *)1, in, 0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 403);
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    ASSERT_STR_EQ(field(&r, "X-Content-Type-Options"), "nosniff");
    ASSERT_EQ(r.body_len, 3);
    no_more(&m);
    /* Another expectation: 417. */
    mem_serve(&m, continue_handler, NULL,
              "PUT / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n"
              "Content-Length: 1\r\n\r\nx",
              0);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 417);
    no_more(&m);
}

static void ignore_body(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                        void *arg)
{
    (void)r;
    (void)arg;
    uvgo_http_writer_write(w, "ok", 2);
}

static void unread_body_is_drained_or_the_connection_closed(void)
{
    mem_t m;
    resp_t r;
    uvgo__http_config_t cfg = mem_cfg(ignore_body, NULL);
    static char in[400000];
    int n = snprintf(in, sizeof in,
                     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
                     "0123456789GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    mem_serve_cfg(&m, &cfg, in, (size_t)n, 3);
    ASSERT_EQ(m.served, 2);
    next_resp(&m, 0, &r);
    ASSERT(!field(&r, "Connection"));
    next_resp(&m, 0, &r);
    no_more(&m);
    /* Past the drain limit (256 KiB): close, and say so. */
    n = snprintf(in, sizeof in,
                 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n");
    memset(in + n, 'x', 300000);
    mem_serve_cfg(&m, &cfg, in, (size_t)n + 300000, 0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
    /* A chunked body past the drain limit: closes after the reply. */
    char *p = in + sprintf(in, "POST / HTTP/1.1\r\nHost: a\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 70; i++)
        p += sprintf(p, "1000\r\n%04096d\r\n", 0);
    p += sprintf(p, "0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    mem_serve_cfg(&m, &cfg, in, (size_t)(p - in), 0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    no_more(&m);
}

/* ---- in memory: bad input -------------------------------------------------------- */

/* Serves `in` to the echo handler and expects one error reply with
 * `status` and nothing else: the connection ends there. */
static void expect_refused(const uvgo__http_config_t *cfg, const char *in,
                           size_t len, int status)
{
    mem_t m;
    resp_t r;
    mem_serve_cfg(&m, cfg, in, len, 0);
    if (m.served != 0)
        TEST_FAIL_("served %ld request(s) of \"%.40s\"", m.served, in);
    next_resp(&m, 0, &r);
    if (r.status != status)
        TEST_FAIL_("status %d, want %d, for \"%.60s\"", r.status, status, in);
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
}

static void malformed_requests_get_their_status_and_close(void)
{
    uvgo__http_config_t cfg = mem_cfg(echo, NULL);
    static const struct {
        const char *in;
        int status;
    } bad[] = {
        {"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        {"get / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        {"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/0.9\r\n\r\n", 505},
        {"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tfolded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: a\n\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},             /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         "Content-Length: 3\r\n\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
         "Content-Length: 4\r\n\r\nabcd", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip"
         "\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"
         "\r\n\r\n0\r\n\r\n", 501},
        {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX\x7f: y\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n",
         413},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(&cfg, bad[i].in, strlen(bad[i].in), bad[i].status);
    /* NUL bytes in a field name, a value, the target. */
    static const char nul1[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: z\r\n\r\n";
    static const char nul2[] = "GET / HTTP/1.1\r\nHost: a\r\nX: y\0z\r\n\r\n";
    static const char nul3[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    expect_refused(&cfg, nul1, sizeof nul1 - 1, 400);
    expect_refused(&cfg, nul2, sizeof nul2 - 1, 400);
    expect_refused(&cfg, nul3, sizeof nul3 - 1, 400);
}

static void bad_bodies_end_the_connection_after_the_reply(void)
{
    mem_t m;
    resp_t r;
    /* A bad chunk size: the handler's read fails, the connection ends. */
    mem_serve(&m, echo, NULL,
              "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
              "\r\n3\r\nabc\r\nzz\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: "
              "a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 1);
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "read error EPROTO"));
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
    /* A truncated body: the stream ends inside it. */
    mem_serve(&m, echo, NULL,
              "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", 0);
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "abc\nread error EPROTO"));
    no_more(&m);
    /* A bare CR in a trailer. */
    mem_serve(&m, echo, NULL,
              "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
              "\r\n1\r\na\r\n0\r\nT: a\rb\r\n\r\n",
              0);
    next_resp(&m, 0, &r);
    ASSERT(strstr(r.body, "read error EPROTO"));
    no_more(&m);
}

static void header_and_line_limits_give_431_and_414(void)
{
    uvgo__http_config_t cfg;
    uvgo__http_config_resolve(&cfg, echo, NULL, 200, 0, 0, 0, 0, 0);
    static char in[20000];
    int n = sprintf(in, "GET /%0300d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    expect_refused(&cfg, in, (size_t)n, 414);
    n = sprintf(in, "GET / HTTP/1.1\r\nHost: a\r\nX: %0300d\r\n\r\n", 0);
    expect_refused(&cfg, in, (size_t)n, 431);
    /* Many small fields, delivered a byte at a time. */
    char *p = in + sprintf(in, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 100; i++)
        p += sprintf(p, "F%d: v\r\n", i);
    p += sprintf(p, "\r\n");
    mem_t m;
    resp_t r;
    mem_serve_cfg(&m, &cfg, in, (size_t)(p - in), 1);
    ASSERT_EQ(m.served, 0);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 431);
    no_more(&m);
    /* Just under the limit passes. */
    n = sprintf(in, "GET / HTTP/1.1\r\nHost: a\r\nX: %0150d\r\n\r\n", 0);
    mem_serve_cfg(&m, &cfg, in, (size_t)n, 0);
    ASSERT_EQ(m.served, 1);
    free(m.out);
}

static void ten_megabyte_request_line_gets_414(void)
{
    uvgo__http_config_t cfg = mem_cfg(echo, NULL);
    size_t len = 10u << 20;
    char *in = malloc(len + 64);
    memcpy(in, "GET /", 5);
    memset(in + 5, 'a', len);
    memcpy(in + 5 + len, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    expect_refused(&cfg, in, len + 5 + 22, 414);
    free(in);
}

/* Echoes the body if it can be read, says nothing otherwise. */
static void read_quietly(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                         void *arg)
{
    char *data;
    size_t len;
    (void)arg;
    if (uvgo_http_request_read_all(r, &data, &len, 100) == 0)
        uvgo_http_writer_write(w, data, len);
}

static void bodies_over_the_limit_get_413(void)
{
    uvgo__http_config_t cfg;
    uvgo__http_config_resolve(&cfg, echo, NULL, 0, 10, 0, 0, 0, 0);
    static const char cl[] =
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n01234567890";
    expect_refused(&cfg, cl, sizeof cl - 1, 413);
    /* Chunked: found while reading; the handler writes nothing, so the
     * server answers 413. */
    uvgo__http_config_resolve(&cfg, read_quietly, NULL, 0, 10, 0, 0, 0, 0);
    mem_t m;
    resp_t r;
    static const char ch[] =
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n";
    mem_serve_cfg(&m, &cfg, ch, sizeof ch - 1, 0);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 413);
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
    /* Within the limit. */
    static const char ok[] =
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "6\r\n012345\r\n0\r\n\r\n";
    mem_serve_cfg(&m, &cfg, ok, sizeof ok - 1, 0);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body_len, 6);
    no_more(&m);
}

/* ---- in memory: the writer ----------------------------------------------------- */

static void writer_misc(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                        void *arg)
{
    uvgo_http_header_t *h = uvgo_http_writer_header(w);
    (void)arg;
    if (!strcmp(r->path, "/status")) {
        ASSERT_OK(uvgo_http_writer_write_header(w, 201));
        ASSERT_ERR(uvgo_http_writer_write_header(w, 202), UVGO_EBUSY);
        ASSERT_EQ(uvgo_http_writer_status(w), 201);
        ASSERT_ERR(uvgo_http_writer_write_header(w, 99), UVGO_EINVAL);
        ASSERT_OK(uvgo_http_writer_write(w, "<html><body>", 12));
    } else if (!strcmp(r->path, "/declared")) {
        ASSERT_OK(uvgo_http_header_set(h, "Content-Length", "5"));
        ASSERT_OK(uvgo_http_writer_write(w, "abc", 3));
        ASSERT_ERR(uvgo_http_writer_write(w, "def", 3), UVGO_EMSGSIZE);
        ASSERT_OK(uvgo_http_writer_write(w, "de", 2));
    } else if (!strcmp(r->path, "/short")) {
        ASSERT_OK(uvgo_http_header_set(h, "Content-Length", "5"));
        ASSERT_OK(uvgo_http_writer_write(w, "abc", 3));
    } else if (!strcmp(r->path, "/nocontent")) {
        ASSERT_OK(uvgo_http_writer_write_header(w, 204));
        ASSERT_OK(uvgo_http_writer_write(w, "dropped", 7));
    } else if (!strcmp(r->path, "/flush")) {
        ASSERT_OK(uvgo_http_writer_write(w, "a", 1));
        ASSERT_OK(uvgo_http_writer_flush(w));
        ASSERT_OK(uvgo_http_writer_write(w, "b", 1));
    } else if (!strcmp(r->path, "/hints")) {
        ASSERT_OK(uvgo_http_header_set(h, "Link", "</s.css>; rel=preload"));
        ASSERT_OK(uvgo_http_writer_write_header(w, 103));
        ASSERT_OK(uvgo_http_writer_write(w, "\x89PNG\x0D\x0A\x1A\x0A", 8));
    } else if (!strcmp(r->path, "/te")) {
        ASSERT_OK(uvgo_http_header_set(h, "Transfer-Encoding", "gzip"));
        ASSERT_OK(uvgo_http_header_set(h, "Connection", "close"));
        ASSERT_OK(uvgo_http_writer_write(w, "\x01\x02", 2));
    }
}

static void writer_statuses_lengths_and_sniffing(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, writer_misc, NULL,
              "GET /status HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET /declared HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET /nocontent HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET /flush HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET /hints HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET /te HTTP/1.1\r\nHost: a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 6);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 201);
    ASSERT_STR_EQ(field(&r, "Content-Type"), "text/html; charset=utf-8");
    next_resp(&m, 0, &r);
    ASSERT_STR_EQ(field(&r, "Content-Length"), "5");
    ASSERT_EQ(r.body_len, 5);
    ASSERT(!memcmp(r.body, "abcde", 5));
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 204);
    ASSERT(!field(&r, "Content-Length"));
    ASSERT(!field(&r, "Content-Type"));
    next_resp(&m, 0, &r);
    ASSERT(r.chunked);
    ASSERT_EQ(r.body_len, 2);
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 103);
    ASSERT_STR_EQ(field(&r, "Link"), "</s.css>; rel=preload");
    next_resp(&m, 0, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(field(&r, "Content-Type"), "image/png");
    next_resp(&m, 0, &r);
    ASSERT(!field(&r, "Transfer-Encoding"));
    ASSERT_STR_EQ(field(&r, "Content-Type"), "application/octet-stream");
    ASSERT_STR_EQ(field(&r, "Connection"), "close");
    no_more(&m);
    /* Shorter than declared: the connection closes. */
    mem_serve(&m, writer_misc, NULL,
              "GET /short HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n"
              "Host: a\r\n\r\n",
              0);
    ASSERT_EQ(m.served, 1);
    free(m.out);
}

static void sniffing_follows_go(void)
{
    static const struct {
        const char *data;
        size_t len;
        const char *type;
    } t[] = {
        {"", 0, "text/plain; charset=utf-8"},
        {"  <!DOCTYPE html><p>x", 21, "text/html; charset=utf-8"},
        {"<HtMl>", 6, "text/html; charset=utf-8"},
        {"<html", 5, "text/plain; charset=utf-8"},
        {"<?xml version=1?>", 17, "text/xml; charset=utf-8"},
        {"%PDF-1.4", 8, "application/pdf"},
        {"GIF89a...", 9, "image/gif"},
        {"\xFF\xD8\xFF\xE0", 4, "image/jpeg"},
        {"\x1F\x8B\x08\x00", 4, "application/x-gzip"},
        {"PK\x03\x04xx", 6, "application/zip"},
        {"RIFF\0\0\0\0WEBPVP8 ", 16, "image/webp"},
        {"{\"json\": true}", 14, "text/plain; charset=utf-8"},
        {"abc\x00", 4, "application/octet-stream"},
        {"\xEF\xBB\xBFtext", 7, "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        ASSERT_STR_EQ(uvgo__http_sniff(t[i].data, t[i].len), t[i].type);
}

/* ---- in memory: header maps, paths, queries ------------------------------------- */

static void header_map_is_ordered_multi_valued_and_case_blind(void)
{
    uvgo_http_header_t *h;
    const char *v[4];
    ASSERT_ERR(uvgo_http_header_make(NULL), UVGO_EINVAL);
    ASSERT_OK(uvgo_http_header_make(&h));
    ASSERT_OK(uvgo_http_header_add(h, "Accept", "a"));
    ASSERT_OK(uvgo_http_header_add(h, "X-Other", "o"));
    ASSERT_OK(uvgo_http_header_add(h, "accept", " b \t"));
    ASSERT_STR_EQ(uvgo_http_header_get(h, "ACCEPT"), "a");
    ASSERT_EQ(uvgo_http_header_values(h, "Accept", v, 4), 2);
    ASSERT_STR_EQ(v[1], "b");
    ASSERT_EQ(uvgo_http_header_values(h, "Accept", v, 1), 2);
    ASSERT_EQ(uvgo_http_header_len(h), 3);
    ASSERT_STR_EQ(uvgo_http_header_at(h, 1)->name, "X-Other");
    ASSERT_EQ(uvgo_http_header_at(h, 2)->value_len, 1);
    ASSERT(!uvgo_http_header_at(h, 3));
    /* set replaces all, in the first one's place */
    ASSERT_OK(uvgo_http_header_set(h, "ACCEPT", "c"));
    ASSERT_EQ(uvgo_http_header_len(h), 2);
    ASSERT_STR_EQ(uvgo_http_header_at(h, 0)->name, "ACCEPT");
    ASSERT_STR_EQ(uvgo_http_header_at(h, 1)->name, "X-Other");
    ASSERT_EQ(uvgo_http_header_del(h, "x-other"), 1);
    ASSERT_EQ(uvgo_http_header_del(h, "x-other"), 0);
    ASSERT(!uvgo_http_header_get(h, "X-Other"));
    /* injection and bad names are refused, and change nothing */
    ASSERT_ERR(uvgo_http_header_add(h, "X", "a\r\nEvil: 1"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_header_add(h, "X", "a\nb"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_header_set(h, "Bad Name", "v"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_header_set(h, "", "v"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_header_set(h, "X:", "v"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_header_add(NULL, "X", "v"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_header_add(h, NULL, "v"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_header_add(h, "X", NULL), UVGO_EINVAL);
    ASSERT_EQ(uvgo_http_header_len(h), 1);
    ASSERT(!uvgo_http_header_get(NULL, "X"));
    ASSERT(!uvgo_http_header_get(h, "@ccept")); /* not a case fold */
    for (int i = 0; i < 1000; i++)
        ASSERT_OK(uvgo_http_header_add(h, "Many", "values to grow the map"));
    ASSERT_EQ(uvgo_http_header_values(h, "many", NULL, 0), 1000);
    uvgo_http_header_free(h);
    uvgo_http_header_free(NULL);
    ASSERT_STR_EQ(uvgo_http_status_text(404), "Not Found");
    ASSERT_STR_EQ(uvgo_http_status_text(999), "");
}

static void paths_clean_and_unescape_like_go(void)
{
    static const struct {
        const char *in, *out;
    } clean[] = {
        {"", "/"},           {"/", "/"},           {"//", "/"},
        {"/a/b", "/a/b"},    {"/a//b", "/a/b"},    {"/a/./b", "/a/b"},
        {"/a/../b", "/b"},   {"/../a", "/a"},      {"/a/b/", "/a/b/"},
        {"/a/b/..", "/a"},   {"/a/.", "/a"},       {"/a/b/../../..", "/"},
        {"a", "/a"},         {"/a/b/../c/", "/a/c/"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++) {
        uvgo__http_clean_path(clean[i].in, strlen(clean[i].in), out);
        ASSERT_STR_EQ(out, clean[i].out);
    }
    ASSERT_EQ(uvgo__http_unescape("a%2Fb+c", 7, out, 0), 5);
    ASSERT_STR_EQ(out, "a/b+c");
    ASSERT_EQ(uvgo__http_unescape("a%2fb+c", 7, out, 1), 5);
    ASSERT_STR_EQ(out, "a/b c");
    ASSERT_EQ(uvgo__http_unescape("%4", 2, out, 0), -1);
    ASSERT_EQ(uvgo__http_unescape("%", 1, out, 0), -1);
    ASSERT_EQ(uvgo__http_unescape("%g0", 3, out, 0), -1);
    ASSERT_EQ(uvgo__http_unescape("%00", 3, out, 0), -1);
}

static void query_handler(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                          void *arg)
{
    const char *names[] = {"a", "b", "c", "d", "e f", "missing", "bad"};
    (void)arg;
    for (size_t i = 0; i < 7; i++) {
        const char *v = uvgo_http_request_query(r, names[i]);
        uvgo_http_writer_printf(w, "%s=%s;", names[i], v ? v : "(null)");
    }
    ASSERT(!uvgo_http_request_query(r, NULL));
    ASSERT(!uvgo_http_request_path_value(r, "x"));
    uvgo_ctx_t *ctx = uvgo_http_request_ctx(r);
    ASSERT(ctx);
    ASSERT_PTR_EQ(uvgo_http_request_ctx(r), ctx);
    ASSERT_EQ(uvgo_ctx_err(ctx), 0);
}

static void query_parameters_decode_on_demand(void)
{
    mem_t m;
    resp_t r;
    mem_serve(&m, query_handler, NULL,
              "GET /q?a=1&b=x+y%21&c&a=2&e+f=g&bad=%zz&bad=ok&d= HTTP/1.1\r\n"
              "Host: a\r\n\r\n",
              0);
    next_resp(&m, 0, &r);
    r.body[r.body_len] = '\0';
    ASSERT_STR_EQ(r.body, "a=1;b=x y!;c=;d=;e f=g;missing=(null);bad=ok;");
    no_more(&m);
}

static void request_calls_reject_bad_arguments(void)
{
    char *data;
    size_t len;
    char buf[4];
    ASSERT_ERR(uvgo_http_request_read(NULL, buf, 4), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_request_read_all(NULL, &data, &len, 1), UVGO_EINVAL);
    ASSERT(!uvgo_http_request_ctx(NULL));
    ASSERT(!uvgo_http_request_query(NULL, "a"));
    ASSERT(!uvgo_http_request_path_value(NULL, "a"));
    ASSERT(!uvgo_http_writer_header(NULL));
    ASSERT_ERR(uvgo_http_writer_write(NULL, "a", 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_writer_write_header(NULL, 200), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_writer_flush(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_writer_printf(NULL, "x"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_writer_error(NULL, 500, "x"), UVGO_EINVAL);
    ASSERT_EQ(uvgo_http_writer_status(NULL), 0);
}

/* ---- over sockets: helpers ---------------------------------------------------- */

#define MS UVGO_MILLISECOND

typedef struct tserver {
    uvgo_http_server_t *srv;
    uvgo_listener_t *l;
    uvgo_task_t *task;
    char addr[64];
    int serve_err;
} tserver_t;

static void *serve_task(void *arg)
{
    tserver_t *t = arg;
    t->serve_err = uvgo_http_server_serve(t->srv, t->l);
    return NULL;
}

static void server_start(tserver_t *t, const uvgo_http_server_opts_t *o)
{
    memset(t, 0, sizeof *t);
    ASSERT_OK(uvgo_http_server_make(&t->srv, o));
    ASSERT_OK(uvgo_listen(&t->l, "tcp", "127.0.0.1:0"));
    snprintf(t->addr, sizeof t->addr, "127.0.0.1:%d",
             uvgo_listener_port(t->l));
    t->task = test_spawn(serve_task, t);
}

static void server_start_fn(tserver_t *t, uvgo_http_handler_fn fn, void *arg)
{
    uvgo_http_server_opts_t o = {0};
    o.handler = fn;
    o.arg = arg;
    server_start(t, &o);
}

/* Shuts the server down (cut requests must be none) and frees it;
 * returns the requests it served. */
static uint64_t server_stop(tserver_t *t)
{
    size_t cut = 99;
    uvgo_ctx_t *ctx = test_ctx_timeout(10 * UVGO_SECOND);
    ASSERT_OK(uvgo_http_server_shutdown(t->srv, ctx, &cut));
    ASSERT_EQ(cut, 0);
    test_ctx_done(ctx);
    test_join(t->task);
    ASSERT_ERR(t->serve_err, UVGO_ECLOSED);
    uvgo_listener_free(t->l);
    uint64_t n = uvgo_http_server_requests(t->srv);
    uvgo_http_server_free(t->srv);
    return n;
}

/* A raw client: bytes out, responses parsed back. */
typedef struct client {
    uvgo_conn_t *c;
    char buf[1 << 18];
    size_t len;
} client_t;

static client_t *client_dial(tserver_t *t)
{
    client_t *k = malloc(sizeof *k);
    ASSERT(k);
    k->len = 0;
    ASSERT_OK(uvgo_dial(&k->c, "tcp", t->addr));
    return k;
}

static void client_send(client_t *k, const char *data, size_t len)
{
    ASSERT_OK(uvgo_conn_write(k->c, data, len, NULL));
}

static void client_sends(client_t *k, const char *s)
{
    client_send(k, s, strlen(s));
}

/* Reads one response (0), or returns the read error when the stream ends
 * or fails before a whole response came. */
static int client_resp(client_t *k, int head_request, resp_t *r)
{
    int eof = 0;
    for (;;) {
        long n = parse_resp(k->buf, k->len, head_request, r);
        ASSERT(n >= 0);
        if (n > 0 && (!r->until_close || eof)) {
            memmove(k->buf, k->buf + n, k->len - (size_t)n);
            k->len -= (size_t)n;
            return 0;
        }
        if (eof)
            return UVGO_EOF;
        ASSERT(k->len < sizeof k->buf);
        int got = uvgo_conn_read(k->c, k->buf + k->len,
                                 sizeof k->buf - k->len);
        if (got < 0) {
            if (!k->len)
                return got;
            eof = 1;
            continue;
        }
        k->len += (size_t)got;
    }
}

static void client_expect(client_t *k, int status, resp_t *r)
{
    int err = client_resp(k, 0, r);
    if (err)
        TEST_FAIL_("no response: %s", uvgo_err_name(err));
    if (r->status != status)
        TEST_FAIL_("status %d, want %d", r->status, status);
}

/* The server closed the connection: a read ends (EOF or a reset). */
static void client_expect_closed(client_t *k)
{
    char b[64];
    ASSERT_EQ(k->len, 0);
    int n = uvgo_conn_read(k->c, b, sizeof b);
    if (n != UVGO_EOF && n != UVGO_ECONNRESET)
        TEST_FAIL_("read after close: %d (%s)", n,
                   n > 0 ? "data" : uvgo_err_name(n));
}

static void client_close(client_t *k)
{
    uvgo_conn_free(k->c);
    free(k);
}

static resp_t *resp_new(void)
{
    resp_t *r = malloc(sizeof *r);
    ASSERT(r);
    return r;
}

/* ---- over sockets ----------------------------------------------------------------- */

static void keep_alive_requests_share_a_connection(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    server_start_fn(&t, echo, NULL);
    client_t *k = client_dial(&t);
    for (int i = 0; i < 5; i++) {
        char req[128];
        snprintf(req, sizeof req,
                 "POST /n/%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
                 "%02d",
                 i, i);
        client_sends(k, req);
        client_expect(k, 200, r);
        char want[32];
        snprintf(want, sizeof want, "POST /n/%d HTTP/1.1", i);
        ASSERT(!strncmp(r->body, want, strlen(want)));
        ASSERT(!memcmp(r->body + r->body_len - 2, req + strlen(req) - 2, 2));
    }
    /* Pipelined: three at once, answered in order. */
    client_sends(k, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n"
                    "Host: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    for (const char *p = "abc"; *p; p++) {
        char want[16];
        client_expect(k, 200, r);
        snprintf(want, sizeof want, "GET /%c ", *p);
        ASSERT(!strncmp(r->body, want, strlen(want)));
    }
    ASSERT(strstr(r->body, "host=x"));
    client_close(k);
    ASSERT_EQ(uvgo_http_server_requests(t.srv), 8);
    ASSERT_EQ(server_stop(&t), 8);
    free(r);
}

static const test_case_t cases[] = {
    CASE_PLAIN(get_is_answered_with_length_date_and_type),
    CASE_PLAIN(request_fields_are_parsed_and_trimmed),
    CASE_PLAIN(pipelined_requests_are_answered_in_order_in_one_write),
    CASE_PLAIN(bytes_one_at_a_time_give_the_same_answers),
    CASE_PLAIN(chunked_request_body_is_decoded_and_trailers_dropped),
    CASE_PLAIN(large_response_is_chunked_and_small_one_has_length),
    CASE_PLAIN(http10_stream_ends_with_the_connection),
    CASE_PLAIN(keep_alive_follows_version_and_connection),
    CASE_PLAIN(head_has_no_body_but_its_length),
    CASE_PLAIN(expect_continue_is_answered_on_first_read),
    CASE_PLAIN(unread_body_is_drained_or_the_connection_closed),
    CASE_PLAIN(malformed_requests_get_their_status_and_close),
    CASE_PLAIN(bad_bodies_end_the_connection_after_the_reply),
    CASE_PLAIN(header_and_line_limits_give_431_and_414),
    CASE_PLAIN(ten_megabyte_request_line_gets_414),
    CASE_PLAIN(bodies_over_the_limit_get_413),
    CASE_PLAIN(writer_statuses_lengths_and_sniffing),
    CASE_PLAIN(sniffing_follows_go),
    CASE_PLAIN(header_map_is_ordered_multi_valued_and_case_blind),
    CASE_PLAIN(paths_clean_and_unescape_like_go),
    CASE_PLAIN(query_parameters_decode_on_demand),
    CASE_PLAIN(request_calls_reject_bad_arguments),
    CASE(keep_alive_requests_share_a_connection),
};

TEST_MAIN(cases)
