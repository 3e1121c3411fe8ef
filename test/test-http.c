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
    int until_close; /* the body runs to the end of the stream */
    size_t body_len;
    char value[1024];   /* field()'s answer */
    char head[8192];    /* the field lines, NUL-terminated */
    char body[1 << 17]; /* last: not cleared between responses */
} resp_t;

/* The value of a field of r, or NULL; in r->value. */
static const char *field(resp_t *r, const char *name)
{
    char *value = r->value;
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
            snprintf(value, sizeof r->value, "%.*s", (int)(eol - v), v);
            return value;
        }
        p = eol + 2;
    }
    return NULL;
}

/* Parses one response at p; returns the bytes it took, 0 if incomplete,
 * -1 if malformed.  A response to HEAD has no body (head_request). */
static long parse_resp(const char *p, size_t len, int head_request, resp_t *r)
{
    const char *end = memmem(p, len, "\r\n\r\n", 4);
    memset(r, 0, offsetof(resp_t, body));
    if (!end)
        return 0;
    if (len < 12 || memcmp(p, "HTTP/1.1 ", 9))
        return -1;
    r->status = atoi(p + 9);
    const char *fields =
        (const char *)memchr(p, '\n', (size_t)(end + 2 - p)) + 1;
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

/* ---- serving from memory ---------------------------------------------------
 */

typedef struct mem {
    char *out;
    size_t len;
    long served;
    size_t off; /* parsing position */
} mem_t;

/* A config for serving from memory: defaults, or the given limits. */
static uvgo__http_config_t mem_cfg_limits(uvgo_http_handler_fn fn, void *arg,
                                          size_t max_header, int64_t max_body)
{
    uvgo__http_config_t cfg;
    uvgo_http_server_opts_t o = {.handler = fn,
                                 .arg = arg,
                                 .max_header_bytes = max_header,
                                 .max_body_bytes = max_body};
    uvgo__http_config_resolve(&cfg, &o);
    return cfg;
}

static uvgo__http_config_t mem_cfg(uvgo_http_handler_fn fn, void *arg)
{
    return mem_cfg_limits(fn, arg, 0, 0);
}

static void mem_serve_cfg(mem_t *m, const uvgo__http_config_t *cfg,
                          const char *in, size_t len, size_t chunk)
{
    memset(m, 0, sizeof *m);
    m->served = uvgo__http_serve_memory(cfg, in, len, chunk, &m->out, &m->len);
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

/* ---- handlers
 * ----------------------------------------------------------------- */

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
    uvgo_http_writer_printf(
        w, "%s %s %s path=%s query=%s host=%s len=%lld\n", r->method, r->target,
        r->proto, r->path, r->raw_query, r->host, (long long)r->content_length);
    for (size_t i = 0; i < uvgo_http_header_len(r->header); i++) {
        const uvgo_http_field_t *f = uvgo_http_header_at(r->header, i);
        uvgo_http_writer_printf(w, "[%s]=[%s]\n", f->name, f->value);
    }
    while ((n = uvgo_http_request_read(r, buf, sizeof buf)) > 0)
        uvgo_http_writer_write(w, buf, (size_t)n);
    if (n < 0)
        uvgo_http_writer_printf(w, "\nread error %s\n", uvgo_err_name(n));
}

/* ---- in memory: the basics
 * ------------------------------------------------------ */

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
    ASSERT_STR_EQ(r.body, "GET /a%20b/c?x=1&y=%41 HTTP/1.1 path=/a b/c "
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
    n = snprintf(
        in, sizeof in,
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

/* ---- in memory: bad input
 * -------------------------------------------------------- */

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
        {"GET / HTTP/1.1\r\n\r\n", 400}, /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         "Content-Length: 3\r\n\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
         "Content-Length: 4\r\n\r\nabcd",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip"
         "\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"
         "\r\n\r\n0\r\n\r\n",
         501},
        /* a parameter with no coding once looped forever (fuzzer) */
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ;x\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, ;"
         "\r\n\r\n0\r\n\r\n",
         400},
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
    uvgo__http_config_t cfg = mem_cfg_limits(echo, NULL, 200, 0);
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
    uvgo__http_config_t cfg = mem_cfg_limits(echo, NULL, 0, 10);
    static const char cl[] =
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n01234567890";
    expect_refused(&cfg, cl, sizeof cl - 1, 413);
    /* Chunked: found while reading; the handler writes nothing, so the
     * server answers 413. */
    cfg = mem_cfg_limits(read_quietly, NULL, 0, 10);
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

/* ---- in memory: the writer
 * ----------------------------------------------------- */

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

/* ---- in memory: header maps, paths, queries
 * ------------------------------------- */

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
        {"", "/"},          {"/", "/"},
        {"//", "/"},        {"/a/b", "/a/b"},
        {"/a//b", "/a/b"},  {"/a/./b", "/a/b"},
        {"/a/../b", "/b"},  {"/../a", "/a"},
        {"/a/b/", "/a/b/"}, {"/a/b/..", "/a"},
        {"/a/.", "/a"},     {"/a/b/../../..", "/"},
        {"a", "/a"},        {"/a/b/../c/", "/a/c/"},
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

/* ---- in memory: the mux
 * ------------------------------------------------------- */

/* Answers with the pattern and the path values it knows of. */
static void show_match(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    static const char *names[] = {"id", "path", "x", "y", "rest"};
    uvgo_http_writer_printf(w, "%s|%s", (const char *)arg, r->pattern);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = uvgo_http_request_path_value(r, names[i]);
        if (v)
            uvgo_http_writer_printf(w, "|%s=%s", names[i], v);
    }
}

/* Serves one request line through mux; returns status, *body the body. */
static int mux_get(uvgo_http_mux_t *mux, const char *line, const char *host,
                   resp_t *r)
{
    char in[512];
    mem_t m;
    snprintf(in, sizeof in, "%s HTTP/1.1\r\nHost: %s\r\n\r\n", line, host);
    mem_serve(&m, uvgo_http_mux_serve, mux, in, 0);
    next_resp(&m, !strncmp(line, "HEAD ", 5), r);
    r->body[r->body_len] = '\0';
    no_more(&m);
    return r->status;
}

#define HANDLE(mux, pat)                                                       \
    ASSERT_OK(uvgo_http_mux_handle(mux, pat, show_match, (void *)(pat)))

static void mux_picks_the_most_specific_pattern(void)
{
    uvgo_http_mux_t *mux;
    resp_t *r = malloc(sizeof *r);
    ASSERT_OK(uvgo_http_mux_make(&mux));
    HANDLE(mux, "/");
    HANDLE(mux, "/{$}");
    HANDLE(mux, "/static/");
    HANDLE(mux, "/static/index.html");
    HANDLE(mux, "GET /items/{id}");
    HANDLE(mux, "/items/{id}/edit");
    HANDLE(mux, "POST /items/{id}");
    HANDLE(mux, "/files/{path...}");
    HANDLE(mux, "example.com/");
    HANDLE(mux, "GET example.com/items/{id}");
    static const struct {
        const char *line, *host, *want;
    } t[] = {
        {"GET /", "a", "/{$}|/{$}"},
        {"GET /x", "a", "/|/"},
        {"GET /x/y/z", "a", "/|/"},
        {"GET /static/", "a", "/static/|/static/"},
        {"GET /static/a/b.css", "a", "/static/|/static/"},
        {"GET /static/index.html", "a",
         "/static/index.html|/static/index.html"},
        {"GET /items/42", "a", "GET /items/{id}|GET /items/{id}|id=42"},
        {"HEAD /items/42", "a", ""},
        {"GET /items/a%2Fb", "a", "GET /items/{id}|GET /items/{id}|id=a/b"},
        {"GET /items/42/edit", "a", "/items/{id}/edit|/items/{id}/edit|id=42"},
        {"POST /items/42", "a", "POST /items/{id}|POST /items/{id}|id=42"},
        {"DELETE /items/42", "a", "/|/"},
        {"GET /files/a/b%20c/", "a",
         "/files/{path...}|/files/{path...}|path=a/b c/"},
        {"GET /files/", "a", "/files/{path...}|/files/{path...}|path="},
        {"GET /anything", "example.com", "example.com/|example.com/"},
        {"GET /items/7", "EXAMPLE.com:8080",
         "GET example.com/items/{id}|GET example.com/items/{id}|id=7"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int status = mux_get(mux, t[i].line, t[i].host, r);
        if (status != 200 || strcmp(r->body, t[i].want))
            TEST_FAIL_("%s (Host %s): %d \"%s\", want \"%s\"", t[i].line,
                       t[i].host, status, r->body, t[i].want);
    }
    /* Unclean paths and a missing trailing slash redirect. */
    ASSERT_EQ(mux_get(mux, "GET /a/../static//x?q=1", "a", r), 301);
    ASSERT_STR_EQ(field(r, "Location"), "/static/x?q=1");
    ASSERT_EQ(mux_get(mux, "GET /static", "a", r), 301);
    ASSERT_STR_EQ(field(r, "Location"), "/static/");
    ASSERT_EQ(mux_get(mux, "GET /static/./index.html", "a", r), 301);
    ASSERT_STR_EQ(field(r, "Location"), "/static/index.html");
    ASSERT_EQ(mux_get(mux, "OPTIONS *", "a", r), 400);
    uvgo_http_mux_free(mux);

    /* Without a catch-all: 405 with Allow when only the method differs,
     * 404 otherwise. */
    ASSERT_OK(uvgo_http_mux_make(&mux));
    HANDLE(mux, "GET /kv/{id}");
    HANDLE(mux, "PUT /kv/{id}");
    HANDLE(mux, "DELETE /kv/{id}");
    ASSERT_EQ(mux_get(mux, "POST /kv/1", "a", r), 405);
    ASSERT_STR_EQ(field(r, "Allow"), "DELETE, GET, HEAD, PUT");
    ASSERT_EQ(mux_get(mux, "GET /kv", "a", r), 404);
    ASSERT_EQ(mux_get(mux, "GET /kv/1/2", "a", r), 404);
    ASSERT_EQ(mux_get(mux, "GET /kv/", "a", r), 404);
    ASSERT_EQ(mux_get(mux, "PUT /kv/1", "a", r), 200);
    uvgo_http_mux_free(mux);
    free(r);
}

static void mux_refuses_conflicts_and_bad_patterns(void)
{
    uvgo_http_mux_t *mux;
    ASSERT_ERR(uvgo_http_mux_make(NULL), UVGO_EINVAL);
    ASSERT_OK(uvgo_http_mux_make(&mux));
    HANDLE(mux, "/a/{x}");
    HANDLE(mux, "GET /b/");
    HANDLE(mux, "/c/{x...}");
    static const char *conflicting[] = {
        "/{y}/b",    /* overlaps /a/{x}: /a/b */
        "/a/{y}",    /* equivalent */
        "GET /b/",   /* the same */
        "/c/{y...}", /* equivalent */
    };
    for (size_t i = 0; i < sizeof conflicting / sizeof conflicting[0]; i++)
        ASSERT_ERR(uvgo_http_mux_handle(mux, conflicting[i], show_match, NULL),
                   UVGO_EEXIST);
    /* More specific or disjoint: fine. */
    HANDLE(mux, "/a/b");
    HANDLE(mux, "HEAD /b/");
    HANDLE(mux, "HEAD /b/{z}");
    ASSERT_ERR(uvgo_http_mux_handle(mux, "/b/{z}", show_match, NULL),
               UVGO_EEXIST); /* overlaps HEAD /b/ */
    HANDLE(mux, "POST /a/b");
    static const char *bad[] = {
        "",      "GET",       "a",      "/{",       "/{x}y",
        "/x{y}", "/{x...}/a", "/{$}/a", "/{a}/{a}", "/{1x}",
        "G:T /", "/{x-y}",    "/a//b",  "/{...}",   "host{x}/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (uvgo_http_mux_handle(mux, bad[i], show_match, NULL) != UVGO_EINVAL)
            TEST_FAIL_("pattern \"%s\" accepted", bad[i]);
    ASSERT_ERR(uvgo_http_mux_handle(NULL, "/", show_match, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_mux_handle(mux, NULL, show_match, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_mux_handle(mux, "/z", NULL, NULL), UVGO_EINVAL);
    uvgo_http_mux_free(mux);
    uvgo_http_mux_free(NULL);
}

/* ---- over sockets: helpers
 * ---------------------------------------------------- */

#define MS UVGO_MILLISECOND

/* Tasks that use connections are waited for with a wait group, not
 * joined: a join reads the task's flags while uvgo_loop_enter() may set
 * one (a race TSan reports, in the runtime). */
typedef struct tserver {
    uvgo_http_server_t *srv;
    uvgo_listener_t *l;
    uvgo_wg_t done;
    char addr[64];
    int serve_err;
} tserver_t;

static void *serve_task(void *arg)
{
    tserver_t *t = arg;
    t->serve_err = uvgo_http_server_serve(t->srv, t->l);
    uvgo_wg_done(&t->done);
    return NULL;
}

static void server_wait(tserver_t *t)
{
    ASSERT_OK(uvgo_wg_wait(&t->done));
}

static void server_start(tserver_t *t, const uvgo_http_server_opts_t *o)
{
    memset(t, 0, sizeof *t);
    ASSERT_OK(uvgo_http_server_make(&t->srv, o));
    ASSERT_OK(uvgo_listen(&t->l, "tcp", "127.0.0.1:0"));
    snprintf(t->addr, sizeof t->addr, "127.0.0.1:%d", uvgo_listener_port(t->l));
    ASSERT_OK(uvgo_wg_add(&t->done, 1));
    ASSERT_OK(uvgo_go(serve_task, t));
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
    server_wait(t);
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
        int got = uvgo_conn_read(k->c, k->buf + k->len, sizeof k->buf - k->len);
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

/* ---- over sockets
 * ----------------------------------------------------------------- */

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

/* A handler for the socket tests, by path. */
static uvgo_chan_t *gate;    /* handlers that wait take a value here */
static uvgo_chan_t *entered; /* and say they are waiting here */
static atomic_int last_err;  /* what a handler's write or read got */

static void routes(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    const char *p = r->path;
    int v = 1;
    (void)arg;
    if (!strcmp(p, "/hello")) {
        hello(w, r, NULL);
    } else if (!strcmp(p, "/echo")) {
        echo(w, r, NULL);
    } else if (!strcmp(p, "/body")) {
        char *data;
        size_t len;
        int err = uvgo_http_request_read_all(r, &data, &len, 64 << 20);
        if (err) {
            uvgo_http_writer_printf(w, "error %s", uvgo_err_name(err));
            return;
        }
        uvgo_http_writer_write(w, data, len);
    } else if (!strncmp(p, "/big/", 5)) {
        big(w, r, (void *)(uintptr_t)strtoul(p + 5, NULL, 10));
    } else if (!strcmp(p, "/wait")) {
        uvgo_chan_send(entered, &v, sizeof v);
        uvgo_chan_recv(gate, &v, sizeof v, NULL);
        uvgo_http_writer_write(w, "waited", 6);
    } else if (!strcmp(p, "/ctx")) {
        uvgo_ctx_t *ctx = uvgo_http_request_ctx(r);
        uvgo_chan_send(entered, &v, sizeof v);
        uvgo_chan_recv(uvgo_ctx_done(ctx), NULL, 0, NULL);
        atomic_store(&last_err, uvgo_ctx_err(ctx));
        uvgo_chan_send(entered, &v, sizeof v);
    } else if (!strcmp(p, "/ctxquick")) {
        /* Holds its context while the next request arrives. */
        uvgo_http_request_ctx(r);
        uvgo_sleep(20 * MS);
        uvgo_http_writer_write(w, "quick", 5);
    } else if (!strcmp(p, "/slowread")) {
        char buf[64];
        int n;
        while ((n = uvgo_http_request_read(r, buf, sizeof buf)) > 0)
            ;
        atomic_store(&last_err, n);
        uvgo_http_writer_printf(w, "read %s", uvgo_err_name(n));
    } else if (!strcmp(p, "/flood")) {
        /* Writes until a write fails (the client never reads). */
        static char chunk[1 << 16];
        int err = 0;
        for (int i = 0; i < 4096 && !err; i++)
            err = uvgo_http_writer_write(w, chunk, sizeof chunk);
        atomic_store(&last_err, err);
        uvgo_chan_send(entered, &v, sizeof v);
    } else if (!strcmp(p, "/after-close")) {
        /* Waits until the client is gone, then writes. */
        static char chunk[1 << 16];
        int err = 0;
        uvgo_chan_send(entered, &v, sizeof v);
        uvgo_chan_recv(gate, &v, sizeof v, NULL);
        for (int i = 0; i < 64 && !err; i++) {
            err = uvgo_http_writer_write(w, chunk, sizeof chunk);
            if (!err)
                err = uvgo_http_writer_flush(w);
        }
        atomic_store(&last_err, err);
        uvgo_chan_send(entered, &v, sizeof v);
    } else {
        uvgo_http_writer_error(w, 404, "no route");
    }
}

static void gates_make(void)
{
    ASSERT_OK(uvgo_chan_make(&gate, sizeof(int), 0));
    ASSERT_OK(uvgo_chan_make(&entered, sizeof(int), 0));
}

static void gates_free(void)
{
    uvgo_chan_release(gate);
    uvgo_chan_release(entered);
}

static void wait_entered(void)
{
    int v;
    ASSERT_OK(uvgo_chan_recv(entered, &v, sizeof v, NULL));
}

static void open_gate(void)
{
    int v = 1;
    ASSERT_OK(uvgo_chan_send(gate, &v, sizeof v));
}

/* ---- curl
 * -------------------------------------------------------------------- */

struct shell {
    const char *cmd;
    int status;
};

static void run_shell(void *arg)
{
    struct shell *sh = arg;
    sh->status = system(sh->cmd);
}

/* Runs a shell command off the workers; returns its exit status. */
static int shell(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    struct shell sh = {cmd, -1};
    ASSERT_OK(uvgo_offload(run_shell, &sh));
    return WIFEXITED(sh.status) ? WEXITSTATUS(sh.status) : 128;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ASSERT(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    ASSERT(fread(d, 1, (size_t)n, f) == (size_t)n);
    d[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return d;
}

static void curl_gets_posts_uploads_and_streams(void)
{
    tserver_t t;
    char dir[] = "/tmp/uvgo-http-XXXXXX", *out;
    size_t len;
    if (shell("command -v curl >/dev/null") != 0) {
        printf("# curl is not installed: nothing to run\n");
        return;
    }
    ASSERT(mkdtemp(dir));
    server_start_fn(&t, routes, NULL);
    /* A plain GET, its status, headers and body. */
    ASSERT_EQ(
        shell("curl -sS -D %s/h -o %s/b http://%s/hello", dir, dir, t.addr), 0);
    out = slurp(strcat(strcpy((char[128]){0}, dir), "/b"), &len);
    ASSERT_STR_EQ(out, "Hello, World!");
    free(out);
    out = slurp(strcat(strcpy((char[128]){0}, dir), "/h"), &len);
    ASSERT(strstr(out, "HTTP/1.1 200 OK\r\n"));
    ASSERT(strstr(out, "Content-Length: 13\r\n"));
    free(out);
    /* An upload of 300 KB, with Content-Length, then chunked, then with
     * Expect: 100-continue; each comes back whole. */
    ASSERT_EQ(shell("head -c 300000 /dev/urandom > %s/up", dir), 0);
    const char *ways[] = {"", "-H 'Transfer-Encoding: chunked'",
                          "-H 'Expect: 100-continue'"};
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(shell("curl -sS -f --data-binary @%s/up %s -o %s/back "
                        "http://%s/body",
                        dir, ways[i], dir, t.addr),
                  0);
        ASSERT_EQ(shell("cmp -s %s/up %s/back", dir, dir), 0);
    }
    /* A streamed (chunked) response of 1 MB, then HEAD, then HTTP/1.0. */
    ASSERT_EQ(shell("curl -sS -f -o %s/big http://%s/big/1000000", dir, t.addr),
              0);
    out = slurp(strcat(strcpy((char[128]){0}, dir), "/big"), &len);
    ASSERT_EQ(len, 1000000);
    for (size_t i = 0; i < len; i++)
        ASSERT_EQ(out[i], 'a' + i % 26);
    free(out);
    ASSERT_EQ(shell("curl -sS -f -I http://%s/hello > %s/h", t.addr, dir), 0);
    out = slurp(strcat(strcpy((char[128]){0}, dir), "/h"), &len);
    ASSERT(strstr(out, "Content-Length: 13"));
    free(out);
    ASSERT_EQ(shell("curl -sS -f -0 -o %s/b http://%s/big/20000", dir, t.addr),
              0);
    out = slurp(strcat(strcpy((char[128]){0}, dir), "/b"), &len);
    ASSERT_EQ(len, 20000);
    free(out);
    /* Several URLs on one keep-alive connection. */
    ASSERT_EQ(shell("curl -sS -f -o /dev/null -o /dev/null -o %s/b "
                    "http://%s/hello http://%s/hello http://%s/hello "
                    "2>%s/err",
                    dir, t.addr, t.addr, t.addr, dir),
              0);
    ASSERT_EQ(shell("rm -r %s", dir), 0);
    server_stop(&t);
}

/* ---- many requests
 * ------------------------------------------------------------ */

struct many {
    tserver_t *t;
    uvgo_wg_t *wg;
    int id, per;
};

static void *many_client(void *arg)
{
    struct many *m = arg;
    client_t *k = client_dial(m->t);
    resp_t *r = resp_new();
    for (int i = 0; i < m->per; i++) {
        char req[128], want[64];
        int n = snprintf(req, sizeof req,
                         "POST /body HTTP/1.1\r\nHost: t\r\n"
                         "Content-Length: 12\r\n\r\nc%05dr%05d",
                         m->id, i);
        client_send(k, req, (size_t)n);
        client_expect(k, 200, r);
        snprintf(want, sizeof want, "c%05dr%05d", m->id, i);
        ASSERT_EQ(r->body_len, 12);
        ASSERT(!memcmp(r->body, want, 12));
    }
    client_close(k);
    free(r);
    uvgo_wg_done(m->wg);
    return NULL;
}

static void ten_thousand_requests_on_64_keep_alive_connections(void)
{
    tserver_t t;
    enum { CONNS = 64 };
    long total = test_scale(10000, 2560);
    struct many m[CONNS];
    uvgo_wg_t wg = UVGO_WG_INIT;
    server_start_fn(&t, routes, NULL);
    for (int i = 0; i < CONNS; i++) {
        m[i] = (struct many){&t, &wg, i, (int)(total / CONNS)};
        ASSERT_OK(uvgo_wg_add(&wg, 1));
        ASSERT_OK(uvgo_go(many_client, &m[i]));
    }
    ASSERT_OK(uvgo_wg_wait(&wg));
    ASSERT_EQ(server_stop(&t), (uint64_t)(total / CONNS * CONNS));
}

/* ---- bad input over sockets
 * ------------------------------------------------------ */

static void bad_requests_close_their_connection_only(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    uvgo_http_server_opts_t o = {
        .handler = routes, .max_header_bytes = 4096, .max_body_bytes = 1000};
    server_start(&t, &o);
    client_t *good = client_dial(&t);
    static const struct {
        const char *in;
        int status;
    } bad[] = {
        {"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400},
        {"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         400},
        {"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413},
        {"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "zz\r\n",
         200}, /* the handler reads: "error EPROTO" */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        client_t *k = client_dial(&t);
        client_sends(k, bad[i].in);
        client_expect(k, bad[i].status, r);
        if (bad[i].status == 200)
            ASSERT(strstr(r->body, "error EPROTO"));
        ASSERT_STR_EQ(field(r, "Connection"), "close");
        client_expect_closed(k);
        client_close(k);
        /* The others are still served. */
        client_sends(good, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        client_expect(good, 200, r);
    }
    /* A 10 MB request line, and a header over the limit. */
    client_t *k = client_dial(&t);
    char *line = malloc(10 << 20);
    memset(line, 'a', 10 << 20);
    memcpy(line, "GET /", 5);
    client_send(k, line, 64 << 10); /* the server answers long before */
    client_expect(k, 414, r);
    client_close(k);
    free(line);
    k = client_dial(&t);
    client_sends(k, "GET / HTTP/1.1\r\nHost: x\r\nBig: ");
    char pad[5000];
    memset(pad, 'b', sizeof pad);
    client_send(k, pad, sizeof pad);
    client_expect(k, 431, r);
    client_close(k);
    client_sends(good, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_expect(good, 200, r);
    client_close(good);
    server_stop(&t);
    free(r);
}

/* ---- timeouts
 * ------------------------------------------------------------------------ */

/* Timing checks hold on a loaded 2-core machine under TSan: a timeout may
 * fire late (rounded up by 1/16, and the scheduler), never early. */
#define LATE (test_scale(2000, 10000) * MS)

static void header_timeout_cuts_a_slowloris_client(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    uvgo_http_server_opts_t o = {.handler = routes,
                                 .read_header_timeout = 300 * MS};
    server_start(&t, &o);
    client_t *k = client_dial(&t);
    int64_t t0 = uvgo_now();
    client_sends(k, "GET /hello HTTP/1.1\r\n");
    /* One byte at a time, slower than the timeout allows in total. */
    for (int i = 0; i < 4; i++) {
        uvgo_sleep(50 * MS);
        client_sends(k, "X");
    }
    client_expect(k, 408, r);
    ASSERT_GE(uvgo_now() - t0, 300 * MS);
    ASSERT_LT(uvgo_now() - t0, 300 * MS + LATE);
    client_expect_closed(k);
    client_close(k);
    server_stop(&t);
    free(r);
}

static void idle_timeout_closes_a_quiet_keep_alive_connection(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    uvgo_http_server_opts_t o = {.handler = routes, .idle_timeout = 200 * MS};
    server_start(&t, &o);
    client_t *k = client_dial(&t);
    client_sends(k, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_expect(k, 200, r);
    int64_t t0 = uvgo_now();
    client_expect_closed(k);
    ASSERT_GE(uvgo_now() - t0, 200 * MS - 5 * MS);
    ASSERT_LT(uvgo_now() - t0, 200 * MS + LATE);
    client_close(k);
    server_stop(&t);
    free(r);
}

static void read_timeout_ends_a_slow_body(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    uvgo_http_server_opts_t o = {.handler = routes, .read_timeout = 300 * MS};
    server_start(&t, &o);
    client_t *k = client_dial(&t);
    client_sends(k, "POST /slowread HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 100\r\n\r\nsome");
    client_expect(k, 200, r);
    r->body[r->body_len] = '\0';
    ASSERT_STR_EQ(r->body, "read ETIMEDOUT");
    ASSERT_STR_EQ(field(r, "Connection"), "close");
    client_expect_closed(k);
    client_close(k);
    server_stop(&t);
    free(r);
}

static void write_timeout_cuts_a_client_that_never_reads(void)
{
    tserver_t t;
    gates_make();
    uvgo_http_server_opts_t o = {.handler = routes, .write_timeout = 300 * MS};
    server_start(&t, &o);
    client_t *k = client_dial(&t);
    int64_t t0 = uvgo_now();
    client_sends(k, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_entered();
    ASSERT_ERR(atomic_load(&last_err), UVGO_ETIMEDOUT);
    ASSERT_GE(uvgo_now() - t0, 300 * MS);
    client_close(k);
    server_stop(&t);
    gates_free();
}

static void slow_clients_hold_no_worker(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    int n = (int)test_scale(500, 100);
    uvgo_http_server_opts_t o = {.handler = routes,
                                 .read_header_timeout = 500 * MS};
    server_start(&t, &o);
    client_t **slow = malloc((size_t)n * sizeof *slow);
    for (int i = 0; i < n; i++) {
        slow[i] = client_dial(&t);
        client_sends(slow[i], "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    }
    /* A well-behaved client is served meanwhile, at once. */
    client_t *k = client_dial(&t);
    int64_t t0 = uvgo_now();
    client_sends(k, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_expect(k, 200, r);
    ASSERT_LT(uvgo_now() - t0, 400 * MS);
    client_close(k);
    /* And every slow one is cut off by its header timeout; one that
     * never said a word is closed without one. */
    client_t *silent = client_dial(&t);
    t0 = uvgo_now();
    for (int i = 0; i < n; i++) {
        client_expect(slow[i], 408, r);
        client_close(slow[i]);
    }
    client_expect_closed(silent);
    ASSERT_LT(uvgo_now() - t0, 500 * MS + LATE);
    client_close(silent);
    free(slow);
    server_stop(&t);
    free(r);
}

/* ---- shutdown
 * ---------------------------------------------------------------------------
 */

struct stopper {
    tserver_t *t;
    int64_t timeout;
    int err;
    size_t cut;
    uvgo_wg_t done;
};

static void stop_now(struct stopper *s)
{
    uvgo_ctx_t *ctx = test_ctx_timeout(s->timeout);
    s->err = uvgo_http_server_shutdown(s->t->srv, ctx, &s->cut);
    test_ctx_done(ctx);
}

static void *stop_task(void *arg)
{
    struct stopper *s = arg;
    stop_now(s);
    uvgo_wg_done(&s->done);
    return NULL;
}

static void shutdown_lets_requests_in_flight_finish(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    gates_make();
    server_start_fn(&t, routes, NULL);
    client_t *idle = client_dial(&t), *busy = client_dial(&t);
    client_sends(idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_expect(idle, 200, r);
    client_sends(busy, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_entered();
    struct stopper s = {&t, 10 * UVGO_SECOND, -1, 99, UVGO_WG_INIT};
    ASSERT_OK(uvgo_wg_add(&s.done, 1));
    ASSERT_OK(uvgo_go(stop_task, &s));
    /* The idle connection is closed, the busy one finishes. */
    client_expect_closed(idle);
    open_gate();
    client_expect(busy, 200, r);
    ASSERT_EQ(r->body_len, 6);
    ASSERT_STR_EQ(field(r, "Connection"), "close");
    client_expect_closed(busy);
    ASSERT_OK(uvgo_wg_wait(&s.done));
    ASSERT_OK(s.err);
    ASSERT_EQ(s.cut, 0);
    uvgo_conn_t *late;
    ASSERT_ERR(uvgo_dial(&late, "tcp", t.addr), UVGO_ECONNREFUSED);
    server_wait(&t);
    ASSERT_ERR(t.serve_err, UVGO_ECLOSED);
    ASSERT_ERR(uvgo_http_server_shutdown(t.srv, NULL, NULL), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_http_server_serve(t.srv, t.l), UVGO_ECLOSED);
    client_close(idle);
    client_close(busy);
    uvgo_listener_free(t.l);
    uvgo_http_server_free(t.srv);
    gates_free();
    free(r);
}

static void shutdown_serves_connections_already_queued(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    enum { N = 20 };
    client_t *k[N];
    server_start_fn(&t, routes, NULL);
    /* Connected (the kernel accepted them), maybe not yet taken by the
     * server when the shutdown starts. */
    for (int i = 0; i < N; i++)
        k[i] = client_dial(&t);
    struct stopper s = {&t, 10 * UVGO_SECOND, -1, 99, UVGO_WG_INIT};
    ASSERT_OK(uvgo_wg_add(&s.done, 1));
    ASSERT_OK(uvgo_go(stop_task, &s));
    for (int i = 0; i < N; i++) {
        client_sends(k[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        client_expect(k[i], 200, r); /* a whole response, no reset */
        /* "close" once the shutdown has begun; a request served before
         * that is answered as usual, and its idle connection closed. */
        const char *conn = field(r, "Connection");
        ASSERT(!conn || !strcmp(conn, "close"));
        client_expect_closed(k[i]);
        client_close(k[i]);
    }
    ASSERT_OK(uvgo_wg_wait(&s.done));
    ASSERT_OK(s.err);
    server_wait(&t);
    uvgo_listener_free(t.l);
    ASSERT_EQ(uvgo_http_server_requests(t.srv), N);
    uvgo_http_server_free(t.srv);
    free(r);
}

struct las {
    uvgo_http_server_t *srv;
    int err;
    uvgo_wg_t done;
};

static void *listen_task(void *arg)
{
    struct las *a = arg;
    a->err = uvgo_http_server_listen_and_serve(a->srv, "127.0.0.1:0");
    uvgo_wg_done(&a->done);
    return NULL;
}

static void close_cuts_everything_at_once(void)
{
    tserver_t t;
    gates_make();
    server_start_fn(&t, routes, NULL);
    client_t *k = client_dial(&t);
    client_sends(k, "GET /ctx HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_entered();
    size_t cut = 99;
    ASSERT_OK(uvgo_http_server_close(t.srv, &cut));
    ASSERT_EQ(cut, 1);
    wait_entered(); /* the handler's context ended */
    ASSERT_ERR(atomic_load(&last_err), UVGO_ECANCELED);
    client_expect_closed(k);
    server_wait(&t);
    ASSERT_ERR(t.serve_err, UVGO_ECLOSED);
    ASSERT_ERR(uvgo_http_server_close(t.srv, NULL), UVGO_ECLOSED);
    client_close(k);
    uvgo_listener_free(t.l);
    uvgo_http_server_free(t.srv);
    gates_free();

    /* listen_and_serve returns ECLOSED once closed, too. */
    uvgo_http_server_opts_t o = {.handler = routes};
    struct las a = {NULL, 0, UVGO_WG_INIT};
    ASSERT_OK(uvgo_http_server_make(&a.srv, &o));
    ASSERT_OK(uvgo_wg_add(&a.done, 1));
    ASSERT_OK(uvgo_go(listen_task, &a));
    ASSERT_OK(uvgo_http_server_close(a.srv, NULL));
    ASSERT_OK(uvgo_wg_wait(&a.done));
    ASSERT_ERR(a.err, UVGO_ECLOSED);
    uvgo_http_server_free(a.srv);
}

static void server_calls_reject_bad_arguments(void)
{
    uvgo_http_server_t *srv;
    uvgo_http_server_opts_t none = {0}, o = {.handler = routes};
    ASSERT_ERR(uvgo_http_server_make(NULL, &o), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_server_make(&srv, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_server_make(&srv, &none), UVGO_EINVAL);
    ASSERT_OK(uvgo_http_server_make(&srv, &o));
    ASSERT_ERR(uvgo_http_server_serve(NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_server_serve(srv, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_server_listen_and_serve(srv, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_server_listen_and_serve(srv, "no port"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_server_shutdown(NULL, NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_server_close(NULL, NULL), UVGO_EINVAL);
    ASSERT_EQ(uvgo_http_server_requests(NULL), 0);
    /* Shutting down a server that never served returns at once. */
    ASSERT_OK(uvgo_http_server_shutdown(srv, NULL, NULL));
    uvgo_http_server_free(srv);
    uvgo_http_server_free(NULL);
}

static void expect_continue_over_a_socket(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    server_start_fn(&t, routes, NULL);
    client_t *k = client_dial(&t);
    client_sends(k, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Expect: 100-continue\r\n\r\n");
    /* The body goes only after the server said so. */
    client_expect(k, 100, r);
    client_sends(k, "hello");
    client_expect(k, 200, r);
    ASSERT_EQ(r->body_len, 5);
    ASSERT(!memcmp(r->body, "hello", 5));
    client_close(k);
    server_stop(&t);
    free(r);
}

static void shutdown_cuts_requests_past_its_context(void)
{
    tserver_t t;
    gates_make();
    server_start_fn(&t, routes, NULL);
    client_t *k = client_dial(&t);
    client_sends(k, "GET /ctx HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_entered();
    struct stopper s = {&t, 200 * MS, -1, 99, UVGO_WG_INIT};
    int64_t t0 = uvgo_now();
    stop_now(&s);
    ASSERT_ERR(s.err, UVGO_ETIMEDOUT);
    ASSERT_EQ(s.cut, 1);
    ASSERT_GE(uvgo_now() - t0, 200 * MS);
    wait_entered(); /* the handler saw its context end */
    ASSERT_ERR(atomic_load(&last_err), UVGO_ECANCELED);
    client_expect_closed(k);
    server_wait(&t);
    ASSERT_ERR(t.serve_err, UVGO_ECLOSED);
    client_close(k);
    uvgo_listener_free(t.l);
    uvgo_http_server_free(t.srv);
    gates_free();
}

static void handler_writing_after_the_client_left_gets_an_error(void)
{
    tserver_t t;
    gates_make();
    server_start_fn(&t, routes, NULL);
    client_t *k = client_dial(&t);
    client_sends(k, "GET /after-close HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_entered();
    client_close(k);
    open_gate();
    wait_entered();
    int err = atomic_load(&last_err);
    if (err != UVGO_EPIPE && err != UVGO_ECONNRESET)
        TEST_FAIL_("write after close: %s", uvgo_err_name(err));
    server_stop(&t);
    gates_free();
}

static void request_context_ends_when_the_client_goes_away(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    gates_make();
    server_start_fn(&t, routes, NULL);
    client_t *k = client_dial(&t);
    client_sends(k, "GET /ctx HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_entered();
    client_close(k);
    wait_entered();
    ASSERT_ERR(atomic_load(&last_err), UVGO_ECANCELED);
    /* A pipelined request read ahead by the watcher is still served. */
    k = client_dial(&t);
    client_sends(k, "GET /ctxquick HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    client_expect(k, 200, r);
    ASSERT_EQ(r->body_len, 5);
    client_expect(k, 200, r);
    ASSERT_EQ(r->body_len, 13);
    client_close(k);
    server_stop(&t);
    gates_free();
    free(r);
}

/* ---- ConnState
 * ------------------------------------------------------------------------- */

static char states[64];
static atomic_int nstates;

static void record_state(uint64_t id, const char *remote,
                         uvgo_http_conn_state_t state, void *arg)
{
    (void)id;
    (void)arg;
    ASSERT(!strncmp(remote, "127.0.0.1:", 10));
    int i = atomic_fetch_add(&nstates, 1);
    if (i < 63)
        states[i] = "NAIC"[state];
}

static void conn_state_hook_sees_every_change(void)
{
    tserver_t t;
    resp_t *r = resp_new();
    uvgo_http_server_opts_t o = {.handler = routes, .conn_state = record_state};
    server_start(&t, &o);
    client_t *k = client_dial(&t);
    for (int i = 0; i < 2; i++) {
        client_sends(k, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        client_expect(k, 200, r);
    }
    client_close(k);
    server_stop(&t);
    states[atomic_load(&nstates)] = '\0';
    ASSERT_STR_EQ(states, "NAIAIC");
    free(r);
}

/* ---- the debug pages
 * ------------------------------------------------------------------- */

static void debug_pages_show_tasks_and_counters(void)
{
    uvgo_http_mux_t *mux;
    resp_t *r = resp_new();
    ASSERT_OK(uvgo_http_mux_make(&mux));
    ASSERT_OK(
        uvgo_http_mux_handle(mux, "/debug/uvgo/", uvgo_http_debug_serve, NULL));
    ASSERT_EQ(mux_get(mux, "GET /debug/uvgo/", "a", r), 200);
    ASSERT(strstr(r->body, "tasks.json"));
    ASSERT_EQ(mux_get(mux, "GET /debug/uvgo/tasks", "a", r), 200);
    ASSERT(strstr(r->body, "uvgo: tasks:"));
    ASSERT(strstr(r->body, "main"));
    ASSERT_EQ(mux_get(mux, "GET /debug/uvgo/tasks.json", "a", r), 200);
    ASSERT_STR_EQ(field(r, "Content-Type"), "application/json");
    ASSERT(r->body[0] == '[' && strstr(r->body, "\"name\": \"main\""));
    ASSERT_EQ(mux_get(mux, "GET /debug/uvgo/vars", "a", r), 200);
    ASSERT(strstr(r->body, "\"workers\": 2"));
    ASSERT(strstr(r->body, "\"per_worker\": ["));
    ASSERT(strstr(r->body, "\"steals\": "));
    ASSERT_EQ(mux_get(mux, "GET /debug/uvgo/nope", "a", r), 404);
    ASSERT_EQ(mux_get(mux, "POST /debug/uvgo/vars", "a", r), 405);
    uvgo_http_mux_free(mux);
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
    CASE_PLAIN(mux_picks_the_most_specific_pattern),
    CASE_PLAIN(mux_refuses_conflicts_and_bad_patterns),
    CASE(keep_alive_requests_share_a_connection),
    CASE(curl_gets_posts_uploads_and_streams),
    CASE(ten_thousand_requests_on_64_keep_alive_connections),
    CASE(bad_requests_close_their_connection_only),
    CASE(header_timeout_cuts_a_slowloris_client),
    CASE(idle_timeout_closes_a_quiet_keep_alive_connection),
    CASE(read_timeout_ends_a_slow_body),
    CASE(write_timeout_cuts_a_client_that_never_reads),
    CASE(slow_clients_hold_no_worker),
    CASE(shutdown_lets_requests_in_flight_finish),
    CASE(shutdown_serves_connections_already_queued),
    CASE(shutdown_cuts_requests_past_its_context),
    CASE(expect_continue_over_a_socket),
    CASE(close_cuts_everything_at_once),
    CASE(server_calls_reject_bad_arguments),
    CASE(handler_writing_after_the_client_left_gets_an_error),
    CASE(request_context_ends_when_the_client_goes_away),
    CASE(conn_state_hook_sees_every_change),
    CASE(debug_pages_show_tasks_and_counters),
};

TEST_MAIN(cases)
