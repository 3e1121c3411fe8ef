/* test-http-client.c: the HTTP client (libcurl) against a raw-socket
 * server (http-server.h) and uvgo's own: bodies, redirects, deadlines,
 * cancellation, reuse, errors, many tasks, and the traps of driving curl
 * from a loop. */
#define _GNU_SOURCE
#include <sys/resource.h>

#include "test.h"
#include "http-server.h"
#include "http/curl.h"

#define MS UVGO_MILLISECOND

static test_server_t srv;
static char url_buf[256];

/* A URL on the test server (one buffer: use it before the next call). */
static const char *url(const char *path)
{
    return test_server_url(&srv, url_buf, sizeof url_buf, path);
}

static void start_server(void)
{
    ASSERT_OK(test_server_start(&srv));
}

static uvgo_http_client_t *client(const uvgo_http_client_opts_t *opts)
{
    uvgo_http_client_t *c;
    ASSERT_OK(uvgo_http_client_make(&c, opts));
    return c;
}

/* GETs path and reads the whole body; returns the response (to free). */
static uvgo_http_response_t *get_all(uvgo_http_client_t *c, const char *path,
                                     char **body, size_t *len)
{
    uvgo_http_response_t *r;
    uvgo_http_client_request_t req = {.url = url(path)};
    int err = uvgo_http_do(c, &req, &r);
    if (err)
        TEST_FAIL_("GET %s: %s: %s", path, uvgo_err_name(err), req.error);
    ASSERT_OK(uvgo_http_response_read_all(r, body, len, SIZE_MAX));
    return r;
}

static void done(uvgo_http_client_t *c)
{
    ASSERT_OK(uvgo_http_client_free(c));
    test_server_stop(&srv);
}

/* ---- responses -------------------------------------------------------------
 */

static void get_returns_status_headers_and_sized_body(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    char *body;
    size_t len;
    const char *v[4];

    r = get_all(c, "/hello", &body, &len);
    ASSERT_EQ(r->status, 200);
    ASSERT_STR_EQ(r->proto, "HTTP/1.1");
    ASSERT_EQ(r->content_length, 13);
    ASSERT_EQ(len, 13);
    ASSERT_STR_EQ(body, "Hello, World!");
    ASSERT_STR_EQ(uvgo_http_header_get(r->header, "content-length"), "13");
    ASSERT_STR_EQ(r->url, url("/hello"));
    ASSERT_EQ(r->redirects, 0);
    uvgo_http_response_free(r);

    /* Fields in order, several with one name; the request's own fields. */
    uvgo_http_header_t *h;
    ASSERT_OK(uvgo_http_header_make(&h));
    ASSERT_OK(uvgo_http_header_add(h, "X-Test", "yes"));
    ASSERT_OK(uvgo_http_header_add(h, "X-Empty", ""));
    uvgo_http_client_request_t req = {.url = url("/headers"), .header = h};
    ASSERT_OK(uvgo_http_do(c, &req, &r));
    ASSERT_STR_EQ(uvgo_http_header_get(r->header, "x-one"), "1");
    ASSERT_EQ(uvgo_http_header_values(r->header, "X-Multi", v, 4), 2);
    ASSERT_STR_EQ(v[0], "a");
    ASSERT_STR_EQ(v[1], "b");
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, SIZE_MAX));
    ASSERT(strstr(body, "\r\nX-Test: yes\r\n"));
    ASSERT(strstr(body, "\r\nX-Empty:"));
    ASSERT(strstr(body, "\r\nUser-Agent: uvgo/"));
    ASSERT(!strstr(body, "Expect:")); /* no 100-continue, as Go */
    uvgo_http_response_free(r);
    uvgo_http_header_free(h);
    done(c);
}

/* As Go's transport: a User-Agent, no Accept; a request's own field
 * replaces the client's default. */
static void request_fields_replace_the_clients_defaults(void)
{
    start_server();
    uvgo_http_client_opts_t o = {.user_agent = "tester/1"};
    uvgo_http_client_t *c = client(&o);
    uvgo_http_response_t *r;
    uvgo_http_header_t *h;
    char *body;
    size_t len;

    r = get_all(c, "/headers", &body, &len);
    ASSERT(strstr(body, "\r\nUser-Agent: tester/1\r\n"));
    ASSERT(!strcasestr(body, "\naccept:"));
    uvgo_http_response_free(r);

    ASSERT_OK(uvgo_http_header_make(&h));
    ASSERT_OK(uvgo_http_header_add(h, "user-agent", "mine/2"));
    ASSERT_OK(uvgo_http_header_add(h, "Accept", "text/plain"));
    uvgo_http_client_request_t req = {.url = url("/headers"), .header = h};
    ASSERT_OK(uvgo_http_do(c, &req, &r));
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, SIZE_MAX));
    ASSERT(strcasestr(body, "\r\nUser-Agent: mine/2\r\n"));
    ASSERT(!strstr(body, "tester/1"));
    ASSERT(strcasestr(body, "\r\nAccept: text/plain\r\n"));
    uvgo_http_response_free(r);
    uvgo_http_header_free(h);
    done(c);
}

static void chunked_body_is_decoded_and_has_no_length(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    char *body;
    size_t len;
    uvgo_http_response_t *r = get_all(c, "/chunked", &body, &len);
    ASSERT_EQ(r->status, 200);
    ASSERT_EQ(r->content_length, -1);
    ASSERT_STR_EQ(body, "Hello, chunked world!");
    uvgo_http_response_free(r);
    done(c);
}

static void error_status_is_a_response_and_head_has_no_body(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    char *body, buf[16];
    size_t len;

    r = get_all(c, "/status/503", &body, &len);
    ASSERT_EQ(r->status, 503);
    ASSERT_STR_EQ(body, "status 503");
    uvgo_http_response_free(r);

    uvgo_http_client_request_t req = {.method = "HEAD", .url = url("/hello")};
    ASSERT_OK(uvgo_http_do(c, &req, &r));
    ASSERT_EQ(r->status, 200);
    ASSERT_EQ(r->content_length, 13);
    ASSERT_EQ(uvgo_http_response_read(r, buf, sizeof buf), 0);
    uvgo_http_response_free(r);
    done(c);
}

struct chunks {
    int left; /* pieces still to give */
    int fail; /* give this error instead of the last piece */
};

/* A streamed request body of three pieces, waiting between them. */
static int three_pieces(void *arg, void *buf, size_t len)
{
    struct chunks *ch = arg;
    ASSERT_GE(len, 6);
    if (ch->left == 0)
        return 0;
    if (ch->left-- == 1 && ch->fail)
        return ch->fail;
    uvgo_sleep(2 * MS); /* the body function may block */
    memcpy(buf, "piece ", 6);
    return 6;
}

static void post_put_and_streamed_bodies_reach_the_server(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    char *body;
    size_t len;

    ASSERT_OK(uvgo_http_post(c, url("/echo"), "text/plain", "abc=1", 5, &r));
    ASSERT_STR_EQ(uvgo_http_header_get(r->header, "X-Method"), "POST");
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
    ASSERT_STR_EQ(body, "abc=1");
    uvgo_http_response_free(r);

    /* A stream of unknown length goes chunked; PUT keeps its name. */
    struct chunks ch = {3, 0};
    uvgo_http_client_request_t req = {.method = "PUT",
                                      .url = url("/echo"),
                                      .body_fn = three_pieces,
                                      .body_arg = &ch};
    ASSERT_OK(uvgo_http_do(c, &req, &r));
    ASSERT_STR_EQ(uvgo_http_header_get(r->header, "X-Method"), "PUT");
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
    ASSERT_STR_EQ(body, "piece piece piece ");
    uvgo_http_response_free(r);

    /* A sized stream. */
    ch = (struct chunks){2, 0};
    req = (uvgo_http_client_request_t){.method = "POST",
                                       .url = url("/echo"),
                                       .body_fn = three_pieces,
                                       .body_arg = &ch,
                                       .content_length = 12};
    ASSERT_OK(uvgo_http_do(c, &req, &r));
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
    ASSERT_STR_EQ(body, "piece piece ");
    uvgo_http_response_free(r);

    /* The body function's error fails the request with it. */
    ch = (struct chunks){3, UVGO_EPERM};
    req = (uvgo_http_client_request_t){.method = "POST",
                                       .url = url("/echo"),
                                       .body_fn = three_pieces,
                                       .body_arg = &ch};
    ASSERT_ERR(uvgo_http_do(c, &req, &r), UVGO_EPERM);
    ASSERT_PTR_EQ(r, NULL);
    done(c);
}

/* Resident memory now, in KiB. */
static long rss_kb(void)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void large_body_streams_in_bounded_memory(void)
{
    start_server();
    uvgo_http_client_opts_t o = {.body_buffer = 32 * 1024};
    uvgo_http_client_t *c = client(&o);
    long size = test_scale(256L << 20, 32L << 20);
    char path[64], buf[8192];
    uvgo_http_response_t *r;
    uint64_t pos = 0;
    long base = rss_kb(), peak = base;
    size_t maxbuf = 0;
    int n;

    snprintf(path, sizeof path, "/big/%ld", size);
    ASSERT_OK(uvgo_http_get(c, url(path), &r));
    ASSERT_EQ(r->content_length, size);
    while ((n = uvgo_http_response_read(r, buf, sizeof buf)) > 0) {
        for (int i = 0; i < n; i++)
            if ((unsigned char)buf[i] != big_byte(pos + (uint64_t)i))
                TEST_FAIL_("byte %" PRIu64 " differs", pos + (uint64_t)i);
        pos += (uint64_t)n;
        if ((pos & ((1u << 22) - 1)) < (uint64_t)n) {
            long now = rss_kb();
            peak = now > peak ? now : peak;
        }
        size_t b = uvgo__http_test_buffer_size(r);
        maxbuf = b > maxbuf ? b : maxbuf;
    }
    ASSERT_EQ(n, 0);
    ASSERT_EQ(pos, size);
    /* The buffer never holds more than body_buffer plus one write of
     * curl's (16 KiB), rounded up to a power of two. */
    ASSERT_LE(maxbuf, 2 * o.body_buffer);
#ifndef TEST_SANITIZED
    ASSERT_LT(peak - base, 16 * 1024);
#endif
    uvgo_http_response_free(r);
    done(c);
}

/* ---- redirects -------------------------------------------------------------
 */

/* Go's redirect rules for every method: 301, 302 and 303 become a GET
 * without the body; 307 and 308 repeat the method with its body.  (curl
 * does this for POST; other methods uvgo follows itself.) */
static void redirects_change_the_method_as_go_does(void)
{
    static const char *const methods[] = {"PUT", "DELETE", "PATCH", "POST"};
    static const int codes[] = {301, 302, 303, 307, 308};
    start_server();
    uvgo_http_client_t *c = client(NULL);

    for (size_t m = 0; m < 4; m++) {
        for (size_t k = 0; k < 5; k++) {
            char path[64], u[256], *body;
            size_t len;
            uvgo_http_response_t *r;
            int keep = codes[k] >= 307;
            snprintf(path, sizeof path, "/goto/%d/same", codes[k]);
            snprintf(u, sizeof u, "%s", url(path));
            uvgo_http_client_request_t req = {.method = methods[m],
                                              .url = u,
                                              .body = "payload",
                                              .body_len = 7};
            int err = uvgo_http_do(c, &req, &r);
            if (err)
                TEST_FAIL_("%s %d: %s: %s", methods[m], codes[k],
                           uvgo_err_name(err), req.error);
            ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
            ASSERT_EQ(r->status, 200);
            ASSERT_EQ(r->redirects, 1);
            ASSERT_STR_EQ(r->url, url("/echo"));
            ASSERT_STR_EQ(uvgo_http_header_get(r->header, "X-Method"),
                          keep ? methods[m] : "GET");
            ASSERT_EQ(len, keep ? 7 : 0);
            if (keep)
                ASSERT(memcmp(body, "payload", 7) == 0);
            uvgo_http_response_free(r);
        }
    }
    /* A loop ends at the limit, for any method. */
    uvgo_http_response_t *r = NULL;
    uvgo_http_client_request_t req = {.method = "DELETE", .url = url("/loop")};
    ASSERT_ERR(uvgo_http_do(c, &req, &r), UVGO_EREDIRECTS);
    ASSERT_PTR_EQ(r, NULL);
    ASSERT(strlen(req.error) > 0);
    done(c);
}

/* Credentials stay behind when a redirect leaves the host, as in Go. */
static void redirect_to_another_host_drops_credentials(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_header_t *h;
    char u[256];
    ASSERT_OK(uvgo_http_header_make(&h));
    ASSERT_OK(uvgo_http_header_add(h, "Authorization", "Bearer secret"));
    for (int other = 0; other < 2; other++) {
        uvgo_http_response_t *r;
        snprintf(u, sizeof u, "%s",
                 url(other ? "/goto/307/localhost" : "/goto/307/same"));
        uvgo_http_client_request_t req = {
            .method = "PUT", .url = u, .header = h};
        ASSERT_OK(uvgo_http_do(c, &req, &r));
        ASSERT_EQ(r->status, 200);
        ASSERT_STR_EQ(uvgo_http_header_get(r->header, "X-Authorized"),
                      other ? "no" : "yes");
        uvgo_http_response_free(r);
    }
    uvgo_http_header_free(h);
    done(c);
}

/* A redirected request names the page it came from, as Go's does: curl's
 * redirects (GET) and the client's own (PUT) alike. */
static void redirected_request_sends_a_referer(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    static const char *const methods[] = {"GET", "PUT"};
    char u[256];
    for (int m = 0; m < 2; m++) {
        uvgo_http_response_t *r;
        snprintf(u, sizeof u, "%s", url("/goto/307/same"));
        uvgo_http_client_request_t req = {.method = methods[m], .url = u};
        ASSERT_OK(uvgo_http_do(c, &req, &r));
        ASSERT_EQ(r->status, 200);
        ASSERT_EQ(r->redirects, 1);
        ASSERT_STR_EQ(uvgo_http_header_get(r->header, "X-Referer"), u);
        uvgo_http_response_free(r);
    }
    done(c);
}

static void redirects_are_followed_up_to_the_limit(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    char *body;
    size_t len;

    r = get_all(c, "/redirect/10", &body, &len);
    ASSERT_EQ(r->status, 200);
    ASSERT_EQ(r->redirects, 10);
    ASSERT_STR_EQ(body, "landed");
    ASSERT_STR_EQ(r->url, url("/redirect/0"));
    uvgo_http_response_free(r);

    uvgo_http_client_request_t req = {.url = url("/redirect/11")};
    ASSERT_ERR(uvgo_http_do(c, &req, &r), UVGO_EREDIRECTS);
    ASSERT(strstr(req.error, "10"));
    req = (uvgo_http_client_request_t){.url = url("/loop")};
    ASSERT_ERR(uvgo_http_do(c, &req, &r), UVGO_EREDIRECTS);
    ASSERT_OK(uvgo_http_client_free(c));

    /* Not following: the 3xx is the response. */
    uvgo_http_client_opts_t o = {.max_redirects = -1};
    c = client(&o);
    r = get_all(c, "/redirect/2", &body, &len);
    ASSERT_EQ(r->status, 302);
    ASSERT_STR_EQ(uvgo_http_header_get(r->header, "Location"), "/redirect/1");
    uvgo_http_response_free(r);
    o.max_redirects = 2;
    ASSERT_OK(uvgo_http_client_free(c));
    c = client(&o);
    req = (uvgo_http_client_request_t){.url = url("/redirect/3")};
    ASSERT_ERR(uvgo_http_do(c, &req, &r), UVGO_EREDIRECTS);
    done(c);
}

/* Each loop keeps the URLs it parsed (curl.c, "URLs"): a response still
 * names curl's normal form of its own URL, after a redirect on the same
 * handle too, and a URL curl refuses still fails as curl says. */
static void *urls_in_turn(void *arg)
{
    uvgo_http_client_t *c = arg;
    uvgo_http_response_t *r;
    char u[128], want[128], *body;
    size_t len;

    for (int round = 0; round < 3; round++) {
        /* No path: curl adds the "/"; a scheme in capitals: lowered. */
        snprintf(u, sizeof u, "http://127.0.0.1:%d", srv.port);
        snprintf(want, sizeof want, "http://127.0.0.1:%d/", srv.port);
        uvgo_http_client_request_t req = {.url = u};
        ASSERT_OK(uvgo_http_do(c, &req, &r));
        ASSERT_EQ(r->status, 404);
        ASSERT_STR_EQ(r->url, want);
        uvgo_http_response_free(r);
        snprintf(u, sizeof u, "HTTP://127.0.0.1:%d/hello", srv.port);
        r = get_all(c, "/redirect/1", &body, &len);
        ASSERT_STR_EQ(r->url, url("/redirect/0"));
        uvgo_http_response_free(r);
        req = (uvgo_http_client_request_t){.url = u};
        ASSERT_OK(uvgo_http_do(c, &req, &r));
        ASSERT_STR_EQ(r->url, url("/hello"));
        ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
        ASSERT_STR_EQ(body, "Hello, World!");
        uvgo_http_response_free(r);
        /* More URLs than a loop keeps, each with its own body. */
        for (int i = 0; i < 40; i++) {
            snprintf(u, sizeof u, "/big/%d", 1 + i);
            r = get_all(c, u, &body, &len);
            ASSERT_EQ(len, 1 + i);
            ASSERT_STR_EQ(r->url, url(u));
            uvgo_http_response_free(r);
        }
        snprintf(u, sizeof u, "http://127.0.0.1:%d:99/", srv.port);
        req = (uvgo_http_client_request_t){.url = u};
        ASSERT_ERR(uvgo_http_do(c, &req, &r), UVGO_EBADURL);
    }
    return NULL;
}

static void parsed_urls_still_name_each_response(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_task_opts_t pin = {.flags = UVGO_TASK_PINNED};
    uvgo_task_t *t;

    ASSERT_OK(uvgo_task_spawn(&t, urls_in_turn, c, &pin));
    ASSERT_OK(uvgo_task_join(t, NULL));
    done(c);
}

/* ---- deadlines and cancellation ---------------------------------------------
 */

static void deadline_cuts_a_stalled_server(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    uvgo_ctx_t *ctx = test_ctx_timeout(100 * MS);
    char buf[64];
    int64_t t0 = uvgo_now();

    /* Headers and 10 bytes arrive; the rest never does.  (Headers later
     * than the whole deadline: a loaded machine, see ASSERT_IN_TIME.) */
    int err = uvgo_http_get_ctx(c, url("/stall"), &r, ctx);
    if (err == UVGO_ETIMEDOUT)
        ASSERT_IN_TIME(uvgo_now() - t0, 100 * MS);
    ASSERT_OK(err);
    ASSERT_EQ(uvgo_http_response_read(r, buf, sizeof buf), 10);
    ASSERT_ERR(uvgo_http_response_read(r, buf, sizeof buf), UVGO_ETIMEDOUT);
    ASSERT_GE(uvgo_now() - t0, 100 * MS);
    ASSERT_IN_TIME(uvgo_now() - t0, 100 * MS + TEST_SLACK);
    ASSERT_ERR(uvgo_http_response_read(r, buf, sizeof buf), UVGO_ETIMEDOUT);
    ASSERT(strlen(r->error) > 0);
    uvgo_http_response_free(r);
    test_ctx_done(ctx);

    /* No headers at all: the request itself times out. */
    ctx = test_ctx_timeout(50 * MS);
    t0 = uvgo_now();
    uvgo_http_client_request_t req = {.url = url("/hang")};
    ASSERT_ERR(uvgo_http_do_ctx(c, &req, &r, ctx), UVGO_ETIMEDOUT);
    ASSERT_IN_TIME(uvgo_now() - t0, 50 * MS + TEST_SLACK);
    ASSERT_STR_EQ(req.error, uvgo_strerror(UVGO_ETIMEDOUT));
    test_ctx_done(ctx);

    /* A context already done: nothing is sent. */
    long before = atomic_load(&srv.requests);
    ctx = test_ctx_cancel();
    uvgo_ctx_cancel(ctx);
    ASSERT_ERR(uvgo_http_do_ctx(c, &req, &r, ctx), UVGO_ECANCELED);
    uvgo_ctx_release(ctx);
    ASSERT_EQ(atomic_load(&srv.requests), before);
    done(c);
}

struct canceller {
    uvgo_ctx_t *ctx;
    uvgo_chan_t *go;
};

static void *cancel_when_told(void *arg)
{
    struct canceller *k = arg;
    ASSERT_OK(uvgo_chan_recv(k->go, NULL, 0, NULL));
    uvgo_ctx_cancel(k->ctx);
    return NULL;
}

static void cancellation_mid_body_removes_the_transfer_at_once(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    uvgo__curl_stats_t *st = uvgo__http_test_stats(c);
    struct canceller k = {test_ctx_cancel(), NULL};
    char buf[64];

    ASSERT_OK(uvgo_chan_make(&k.go, 0, 0));
    uvgo_task_t *t = test_spawn(cancel_when_told, &k);
    ASSERT_OK(uvgo_http_get_ctx(c, url("/stall"), &r, k.ctx));
    ASSERT_EQ(uvgo_http_response_read(r, buf, sizeof buf), 10);
    unsigned long finished = atomic_load(&st->requests);
    ASSERT_OK(uvgo_chan_send(k.go, NULL, 0));
    /* Parked in the read when the other task cancels. */
    ASSERT_ERR(uvgo_http_response_read(r, buf, sizeof buf), UVGO_ECANCELED);
    /* Removed from curl before the read returned: counted as finished,
     * and its connection closed (the server sees the close). */
    ASSERT_EQ(atomic_load(&st->requests), finished + 1);
    test_join(t);
    uvgo_http_response_free(r);
    for (int i = 0; atomic_load(&srv.closes) == 0; i++) {
        ASSERT_LT(i, 5000);
        uvgo_sleep(MS);
    }
    /* The client is usable afterwards and frees cleanly (nothing live). */
    char *body;
    size_t len;
    uvgo_http_response_free(get_all(c, "/hello", &body, &len));
    test_ctx_done(k.ctx);
    uvgo_chan_release(k.go);
    done(c);
}

static void stall_timeout_reports_estalled(void)
{
    start_server();
    uvgo_http_client_opts_t o = {.stall_timeout = 1 * UVGO_SECOND};
    uvgo_http_client_t *c = client(&o);
    uvgo_http_response_t *r;
    char buf[64];
    int n;

    ASSERT_OK(uvgo_http_get(c, url("/stall"), &r));
    while ((n = uvgo_http_response_read(r, buf, sizeof buf)) > 0)
        ;
    ASSERT_ERR(n, UVGO_ESTALLED);
    uvgo_http_response_free(r);
    done(c);
}

/* ---- connections ------------------------------------------------------------
 */

/* Fifty GETs in a row, each on the connection of the first. */
static void *fifty_gets(void *arg)
{
    uvgo_http_client_t *c = arg;
    char *body;
    size_t len;

    for (int i = 0; i < 50; i++) {
        uvgo_http_response_t *r = get_all(c, "/hello", &body, &len);
        ASSERT_EQ(r->reused, i > 0);
        uvgo_http_response_free(r);
    }
    return NULL;
}

static void connections_are_reused_as_the_server_counts(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_client_stats_t st;
    char *body;
    size_t len;
    /* Pinned: connections are pooled per worker (http.h), and an unpinned
     * task may be moved to another worker between two requests (seen
     * under TSan: a steal), whose pool has no connection yet. */
    uvgo_task_opts_t pin = {.flags = UVGO_TASK_PINNED};
    uvgo_task_t *t;

    ASSERT_OK(uvgo_task_spawn(&t, fifty_gets, c, &pin));
    ASSERT_OK(uvgo_task_join(t, NULL));
    ASSERT_EQ(atomic_load(&srv.conns), 1);
    ASSERT_EQ(atomic_load(&srv.requests), 50);
    uvgo_http_client_stats(c, &st);
    ASSERT_EQ(st.requests, 50);
    ASSERT_EQ(st.conns, 1);
    ASSERT_EQ(st.reused, 49);
    ASSERT_OK(uvgo_http_client_free(c));

    /* Without keep-alive every request has a connection of its own. */
    uvgo_http_client_opts_t o = {.disable_keep_alives = 1};
    c = client(&o);
    for (int i = 0; i < 5; i++)
        uvgo_http_response_free(get_all(c, "/hello", &body, &len));
    ASSERT_EQ(atomic_load(&srv.conns), 6);
    done(c);
}

struct many {
    uvgo_http_client_t *c;
    int port;
    atomic_int ok;
    atomic_uint workers; /* bit per worker that sent a request */
};

static void *one_of_many(void *arg)
{
    struct many *m = arg;
    long i = (long)(uvgo_task_id(NULL) % 997);
    char u[128], *body;
    size_t len;
    uvgo_http_response_t *r;

    snprintf(u, sizeof u, "http://127.0.0.1:%d/big/%ld", m->port, 100 + i);
    atomic_fetch_or(&m->workers, 1u << (uvgo_worker_id() & 31));
    uvgo_http_client_request_t req = {.url = u};
    int err = uvgo_http_do(m->c, &req, &r);
    if (err)
        TEST_FAIL_("%s: %s", uvgo_err_name(err), req.error);
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 1 << 20));
    ASSERT_EQ(len, 100 + i);
    for (size_t k = 0; k < len; k++)
        ASSERT_EQ((unsigned char)body[k], big_byte(k));
    uvgo_http_response_free(r);
    atomic_fetch_add(&m->ok, 1);
    return NULL;
}

static void thousand_tasks_send_thousand_requests_across_workers(void)
{
    long n = test_scale(1000, 200);
    struct rlimit rl;
    uvgo_task_t **t = calloc((size_t)n, sizeof *t);
    uvgo_http_client_opts_t o = {0};
    struct many m = {0};

    /* Client and server sockets live in this process: two descriptors per
     * connection.  Cap the connections where descriptors are few. */
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(2 * n + 256))
        o.max_conns_per_host = (int)((rl.rlim_cur - 256) / 2);
    start_server();
    m.c = client(&o);
    m.port = srv.port;
    for (long i = 0; i < n; i++)
        t[i] = test_spawn(one_of_many, &m);
    for (long i = 0; i < n; i++)
        test_join(t[i]);
    ASSERT_EQ(atomic_load(&m.ok), n);
    ASSERT_EQ(atomic_load(&srv.requests), n);
    /* Requests went out from more than one worker. */
    ASSERT_GT(__builtin_popcount(atomic_load(&m.workers)), 1);
    free(t);
    done(m.c);
}

struct slow_get {
    uvgo_http_client_t *c;
    const char *url;
};

static void *slow_get(void *arg)
{
    struct slow_get *g = arg;
    char *body;
    size_t len;
    uvgo_http_response_t *r;
    ASSERT_OK(uvgo_http_get(g->c, g->url, &r));
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
    ASSERT_STR_EQ(body, "slow");
    uvgo_http_response_free(r);
    return NULL;
}

static void per_host_limit_queues_requests(void)
{
    start_server();
    /* Two in all: one per worker of two (the limit is shared out). */
    uvgo_http_client_opts_t o = {.max_conns_per_host = 2};
    struct slow_get g = {client(&o), url("/slow/30")};
    uvgo_task_t *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = test_spawn(slow_get, &g);
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    ASSERT_EQ(atomic_load(&srv.requests), 8);
    ASSERT_LE(atomic_load(&srv.conns), 2);
    done(g.c);
}

/* Sixteen tasks placed on one worker start their requests together: the
 * client spreads them over both workers' loops (each loop's pool holds
 * half the per-host limit), whether or not the other worker steals any of
 * them first.  Counted while all sixteen are in flight. */
static void burst_on_one_worker_spreads_over_the_loops(void)
{
    start_server();
    uvgo_http_client_opts_t o = {.max_conns_per_host = 32};
    struct slow_get g = {client(&o), url("/slow/800")};
    uvgo_task_opts_t to = {.worker = 1 + uvgo_worker_id()};
    uvgo_task_t *t[16];
    int l0 = 0, l1 = 0;

    for (int i = 0; i < 16; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], slow_get, &g, &to));
    for (int i = 0; i < 700 && l0 + l1 < 16; i++) {
        uvgo_sleep(MS);
        l0 = uvgo__http_test_load(g.c, 0);
        l1 = uvgo__http_test_load(g.c, 1);
    }
    ASSERT_EQ(l0 + l1, 16);
    /* Within two and an eighth of the larger (client.c, loop_pick). */
    ASSERT_LE(abs(l0 - l1), 3);
    for (int i = 0; i < 16; i++)
        test_join(t[i]);
    ASSERT_EQ(atomic_load(&srv.requests), 16);
    ASSERT_EQ(uvgo__http_test_load(g.c, 0) + uvgo__http_test_load(g.c, 1), 0);
    done(g.c);
}

struct hang_get {
    uvgo_http_client_t *c;
    const char *url;
    uvgo_ctx_t *ctx;
};

static void *hang_get(void *arg)
{
    struct hang_get *g = arg;
    uvgo_http_response_t *r = NULL;
    uvgo_http_client_request_t req = {.url = g->url};
    ASSERT_ERR(uvgo_http_do_ctx(g->c, &req, &r, g->ctx), UVGO_ECANCELED);
    ASSERT_PTR_EQ(r, NULL);
    return NULL;
}

/* A burst to a host not met before, over plain HTTP: every request goes
 * out at once on a connection of its own, as Go's transport sends them.
 * (curl's PIPEWAIT, meant for HTTP/2 over TLS, would hold all but one per
 * loop until the first response says whether the server multiplexes: the
 * server below never answers, so only two would ever arrive.) */
static void burst_to_a_new_plain_host_is_not_held_back(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    struct hang_get g = {c, url("/hang"), test_ctx_cancel()};
    uvgo_task_t *t[8];

    for (int i = 0; i < 8; i++)
        t[i] = test_spawn(hang_get, &g);
    for (int i = 0; i < 2000 && atomic_load(&srv.requests) < 8; i++)
        uvgo_sleep(MS);
    ASSERT_EQ(atomic_load(&srv.requests), 8);
    ASSERT_EQ(atomic_load(&srv.conns), 8);
    uvgo_ctx_cancel(g.ctx);
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    test_ctx_done(g.ctx);
    done(c);
}

/* libcurl is opened when the first client is made (src/http/curlapi.h):
 * a library that is not there fails that call, and only that call. */
static void client_without_libcurl_fails_cleanly(void)
{
    uvgo_http_client_t *c = NULL;
    setenv("UVGO_LIBCURL", "/nonexistent/libcurl.so.4", 1);
    ASSERT_EQ(uvgo_http_client_make(&c, NULL), UVGO_ENOSYS);
    ASSERT_PTR_EQ(c, NULL);
    ASSERT(strstr(uvgo__curl_load_error(), "/nonexistent/libcurl.so.4"));
    /* Once per process, as curl_global_init is. */
    unsetenv("UVGO_LIBCURL");
    ASSERT_EQ(uvgo_http_client_make(&c, NULL), UVGO_ENOSYS);
}

static void uvgo_libcurl_names_the_library(void)
{
    start_server();
    setenv("UVGO_LIBCURL", "libcurl.so.4", 1);
    uvgo_http_client_t *c = client(NULL);
    char *body;
    size_t len;
    uvgo_http_response_t *r = get_all(c, "/hello", &body, &len);
    ASSERT_EQ(len, 13);
    uvgo_http_response_free(r);
    ASSERT_STR_EQ(uvgo__curl_load_error(), "");
    done(c);
}

/* Go's MaxConnsPerHost counts every connection to the host.  Each loop
 * has its own pool, so a limit below the number of workers uses that many
 * loops only: requests started on all four workers, at most `limit`
 * connections in all. */
static void per_host_limit_holds_in_total_across_workers(void)
{
    for (int limit = 1; limit <= 3; limit += 2) {
        start_server();
        uvgo_http_client_opts_t o = {.max_conns_per_host = limit};
        struct slow_get g = {client(&o), url("/slow/30")};
        uvgo_task_t *t[12];
        for (int i = 0; i < 12; i++) {
            uvgo_task_opts_t to = {.worker = 1 + i % 4};
            ASSERT_OK(uvgo_task_spawn(&t[i], slow_get, &g, &to));
        }
        for (int i = 0; i < 12; i++)
            test_join(t[i]);
        ASSERT_EQ(atomic_load(&srv.requests), 12);
        ASSERT_LE(atomic_load(&srv.conns), limit);
        done(g.c);
    }
}

static void proxy_comes_from_the_environment_but_not_for_loopback(void)
{
    start_server();
    char proxy[64];
    test_server_url(&srv, proxy, sizeof proxy, "");
    ASSERT_OK(setenv("http_proxy", proxy, 1));
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    char *body;
    size_t len;

    /* A host that does not resolve: only the proxy could answer. */
    ASSERT_OK(uvgo_http_get(c, "http://through.the.proxy.invalid/hello", &r));
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
    ASSERT_STR_EQ(body, "Hello, World!");
    uvgo_http_response_free(r);
    ASSERT_EQ(atomic_load(&srv.proxied), 1);
    /* Loopback goes direct, as in Go. */
    uvgo_http_response_free(get_all(c, "/hello", &body, &len));
    ASSERT_EQ(atomic_load(&srv.proxied), 1);
    ASSERT_EQ(atomic_load(&srv.requests), 2);
    ASSERT_OK(unsetenv("http_proxy"));
    done(c);
}

/* ---- errors
 * ------------------------------------------------------------------ */

static int do_err(uvgo_http_client_t *c, const char *u, char *error)
{
    uvgo_http_response_t *r = NULL;
    uvgo_http_client_request_t req = {.url = u};
    int err = uvgo_http_do(c, &req, &r);
    ASSERT_PTR_EQ(r, NULL);
    ASSERT(strlen(req.error) > 0);
    if (error)
        strcpy(error, req.error);
    return err;
}

/* The read error of a response that starts well. */
static int body_err(uvgo_http_client_t *c, const char *path, size_t limit)
{
    uvgo_http_response_t *r;
    char *body;
    size_t len;
    int err = uvgo_http_get(c, url(path), &r);
    if (err)
        return err;
    err = uvgo_http_response_read_all(r, &body, &len, limit);
    ASSERT(err == 0 || strlen(r->error) > 0);
    uvgo_http_response_free(r);
    return err;
}

/* A port nothing listens on. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &alen));
    close(fd);
    return ntohs(a.sin_port);
}

static void each_failure_has_its_own_code(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo__curl_stats_t *st = uvgo__http_test_stats(c);
    char u[128], text[UVGO_HTTP_ERROR_MAX];

    ASSERT_ERR(do_err(c, "http://exa mple.com/", text), UVGO_EBADURL);
    ASSERT_ERR(do_err(c, "http://[::1/", NULL), UVGO_EBADURL);
    ASSERT_ERR(do_err(c, "ftp://127.0.0.1/", NULL), UVGO_EPROTONOSUPPORT);
    ASSERT_ERR(do_err(c, "127.0.0.1/hello", NULL), UVGO_EPROTONOSUPPORT);
    /* .invalid never resolves (RFC 6761). */
    ASSERT_ERR(do_err(c, "http://no-such-host.invalid/", text),
               UVGO_EAI_NONAME);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", closed_port());
    ASSERT_ERR(do_err(c, u, text), UVGO_ECONNREFUSED);
    ASSERT(strstr(text, "onnect"));
    ASSERT_ERR(body_err(c, "/close", SIZE_MAX), UV_EPROTO);
    ASSERT_ERR(body_err(c, "/reset", SIZE_MAX), UVGO_ECONNRESET);
    ASSERT_ERR(body_err(c, "/garbage", SIZE_MAX), UV_EPROTO);
    ASSERT_ERR(body_err(c, "/big/1000", 999), UVGO_EMSGSIZE); /* sized */
    ASSERT_ERR(body_err(c, "/chunked", 5), UVGO_EMSGSIZE);    /* unsized */
    ASSERT_OK(body_err(c, "/big/1000", 1000));
    ASSERT_ERR(do_err(c, url("/loop"), NULL), UVGO_EREDIRECTS);
    /* A refused connect and a reset reach curl as poll errors. */
    ASSERT_GT(atomic_load(&st->poll_errors), 0);

    /* Each code has a name and a message of its own. */
    int codes[] = {UVGO_EBADURL,  UVGO_EPROTONOSUPPORT, UVGO_EREDIRECTS,
                   UVGO_ESTALLED, UVGO_ETLSVERIFY,      UVGO_ETLS,
                   UVGO_EHTTP};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ASSERT(strcmp(uvgo_err_name(codes[i]), "UNKNOWN") != 0);
        for (size_t j = 0; j < i; j++)
            ASSERT(strcmp(uvgo_strerror(codes[i]), uvgo_strerror(codes[j])));
    }
    done(c);
}

static void calls_reject_bad_arguments(void)
{
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    uvgo_http_client_request_t req = {0};
    char *d;
    size_t n;

    ASSERT_ERR(uvgo_http_client_make(NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_do(NULL, &req, &r), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_do(c, NULL, &r), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_do(c, &req, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_do(c, &req, &r), UVGO_EINVAL); /* no URL */
    ASSERT_ERR(uvgo_http_response_read(NULL, &d, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_http_response_read_all(NULL, &d, &n, 1), UVGO_EINVAL);
    uvgo_http_response_free(NULL);
    ASSERT_OK(uvgo_http_client_free(NULL));
    ASSERT_OK(uvgo_http_client_free(c));
}

static void client_needs_a_runtime(void)
{
    uvgo_http_client_t *c;
    ASSERT_ERR(uvgo_http_client_make(&c, NULL), UVGO_ENOTTASK);
}

static void client_free_refuses_while_a_response_lives(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    ASSERT_OK(uvgo_http_get(c, url("/hello"), &r));
    ASSERT_ERR(uvgo_http_client_free(c), UVGO_EBUSY);
    uvgo_http_response_free(r);
    done(c);
}

/* ---- against uvgo's own server
 * ------------------------------------------------ */

static atomic_int uvgo_conns;

static void count_conns(uint64_t id, const char *remote,
                        uvgo_http_conn_state_t state, void *arg)
{
    (void)id;
    (void)remote;
    (void)arg;
    if (state == UVGO_HTTP_STATE_NEW)
        atomic_fetch_add(&uvgo_conns, 1);
}

static void uvgo_handler(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                         void *arg)
{
    char piece[4000], *body;
    size_t len;
    (void)arg;
    if (!strcmp(r->path, "/stream")) { /* chunked, flushed piece by piece */
        for (int i = 0; i < 50; i++) {
            for (size_t k = 0; k < sizeof piece; k++)
                piece[k] = (char)big_byte((uint64_t)i * sizeof piece + k);
            ASSERT_OK(uvgo_http_writer_write(w, piece, sizeof piece));
            ASSERT_OK(uvgo_http_writer_flush(w));
        }
    } else if (!strcmp(r->path, "/echo")) {
        ASSERT_OK(uvgo_http_request_read_all(r, &body, &len, 1 << 20));
        uvgo_http_header_set(uvgo_http_writer_header(w), "X-Method", r->method);
        ASSERT_OK(uvgo_http_writer_write(w, body, len));
    } else {
        ASSERT_OK(uvgo_http_writer_write(w, "Hello, World!", 13));
    }
}

static uvgo_listener_t *uvgo_listener;

static void *serve_uvgo(void *srv)
{
    ASSERT_ERR(uvgo_http_server_serve(srv, uvgo_listener), UVGO_ECLOSED);
    return NULL;
}

static void talks_to_the_uvgo_server(void)
{
    uvgo_http_server_opts_t so = {.handler = uvgo_handler,
                                  .conn_state = count_conns};
    uvgo_http_server_t *srv;
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    char u[128], *body, buf[1000];
    size_t len;
    uint64_t pos = 0;
    int n, port;

    ASSERT_OK(uvgo_http_server_make(&srv, &so));
    ASSERT_OK(uvgo_listen(&uvgo_listener, "tcp", "127.0.0.1:0"));
    port = uvgo_listener_port(uvgo_listener);
    uvgo_task_t *t = test_spawn(serve_uvgo, srv);

    /* Kept alive: twenty requests, one connection as the server counts. */
    snprintf(u, sizeof u, "http://127.0.0.1:%d/hello", port);
    for (int i = 0; i < 20; i++) {
        ASSERT_OK(uvgo_http_get(c, u, &r));
        ASSERT_EQ(r->status, 200);
        ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 100));
        ASSERT_STR_EQ(body, "Hello, World!");
        uvgo_http_response_free(r);
    }
    ASSERT_EQ(atomic_load(&uvgo_conns), 1);
    ASSERT_EQ(uvgo_http_server_requests(srv), 20);

    /* A body both ways. */
    char *big = malloc(100000);
    for (int i = 0; i < 100000; i++)
        big[i] = (char)big_byte((uint64_t)i);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/echo", port);
    ASSERT_OK(
        uvgo_http_post(c, u, "application/octet-stream", big, 100000, &r));
    ASSERT_STR_EQ(uvgo_http_header_get(r->header, "X-Method"), "POST");
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 1 << 20));
    ASSERT_EQ(len, 100000);
    ASSERT(!memcmp(body, big, len));
    uvgo_http_response_free(r);
    free(big);

    /* A chunked stream, read as it comes. */
    snprintf(u, sizeof u, "http://127.0.0.1:%d/stream", port);
    ASSERT_OK(uvgo_http_get(c, u, &r));
    ASSERT_EQ(r->content_length, -1);
    while ((n = uvgo_http_response_read(r, buf, sizeof buf)) > 0) {
        for (int i = 0; i < n; i++)
            ASSERT_EQ((unsigned char)buf[i], big_byte(pos + (uint64_t)i));
        pos += (uint64_t)n;
    }
    ASSERT_EQ(n, 0);
    ASSERT_EQ(pos, 200000);
    uvgo_http_response_free(r);
    ASSERT_EQ(atomic_load(&uvgo_conns), 1);

    ASSERT_OK(uvgo_http_client_free(c));
    uvgo_ctx_t *ctx = test_ctx_timeout(5 * UVGO_SECOND);
    ASSERT_OK(uvgo_http_server_shutdown(srv, ctx, NULL));
    test_ctx_done(ctx);
    test_join(t);
    uvgo_listener_free(uvgo_listener);
    uvgo_http_server_free(srv);
}

/* ---- the traps of driving curl from a loop
 * ----------------------------------- */

struct ticks {
    atomic_int n;
    atomic_int stop;
};

static void *tick(void *arg)
{
    struct ticks *k = arg;
    while (!atomic_load(&k->stop)) {
        uvgo_sleep(MS);
        atomic_fetch_add(&k->n, 1);
    }
    return NULL;
}

static void worker_serves_other_tasks_while_requests_wait(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_response_t *r;
    struct ticks k = {0};
    uvgo_ctx_t *ctx = test_ctx_timeout(300 * MS);
    char *body;
    size_t len;

    /* One worker: the ticker, this task's request and the others share
     * it.  The hung request waits on the loop, not on the thread. */
    uvgo_task_t *t = test_spawn(tick, &k);
    uvgo_http_client_request_t req = {.url = url("/hang")};
    ASSERT_ERR(uvgo_http_do_ctx(c, &req, &r, ctx), UVGO_ETIMEDOUT);
    ASSERT_GE(atomic_load(&k.n), 5);
    r = get_all(c, "/slow/20", &body, &len);
    ASSERT_STR_EQ(body, "slow");
    uvgo_http_response_free(r);
    atomic_store(&k.stop, 1);
    test_join(t);
    test_ctx_done(ctx);
    done(c);
}

static void *loop_of_this_worker(void *arg)
{
    (void)arg;
    return uvgo_loop();
}

static void stolen_task_hops_back_to_its_loop(void)
{
    start_server();
    uvgo_http_client_opts_t o = {.body_buffer = 4096};
    uvgo_http_client_t *c = client(&o);
    uvgo__curl_stats_t *st = uvgo__http_test_stats(c);
    uvgo_http_response_t *r;
    uvgo_task_t *t;
    char buf[1000];
    uint64_t pos = 0;
    int n;

    ASSERT_OK(uvgo_http_get(c, url("/big/300000"), &r));
    uv_loop_t *home = uvgo_loop();
    uvgo_task_opts_t to = {.worker = 1 + (uvgo_worker_id() + 1) % 2,
                           .flags = UVGO_TASK_PINNED};
    ASSERT_OK(uvgo_task_spawn(&t, loop_of_this_worker, NULL, &to));
    void *away;
    ASSERT_OK(uvgo_task_join(t, &away));
    ASSERT(away != home);
    unsigned long hops = atomic_load(&st->hops);
    /* As if stolen: move to the other worker, then read on. */
    while ((n = uvgo_http_response_read(r, buf, sizeof buf)) > 0) {
        for (int i = 0; i < n; i++)
            ASSERT_EQ((unsigned char)buf[i], big_byte(pos + (uint64_t)i));
        pos += (uint64_t)n;
        /* A read returns on the transfer's loop while curl still works on
         * it (it is paused with at most 4 KiB + one 16 KiB write of curl's
         * buffered); a finished one is read wherever the task is. */
        if (pos < 300000 - 64 * 1024)
            ASSERT_PTR_EQ(uvgo_loop(), home);
        ASSERT_OK(uvgo_loop_enter(away));
    }
    ASSERT_EQ(n, 0);
    ASSERT_EQ(pos, 300000);
    ASSERT_GT(atomic_load(&st->hops), hops + 10);
    uvgo_http_response_free(r);
    done(c);
}

static atomic_int poll_seen;

static void on_probe(uv_poll_t *p, int status, int events)
{
    (void)status;
    if (events & UV_READABLE)
        atomic_store(&poll_seen, 1);
    uv_poll_stop(p);
}

static void probe_closed(uv_handle_t *h)
{
    uvgo_event_set(h->data);
}

static void closing_a_polled_socket_stops_the_poll_first(void)
{
    uvgo_http_client_t *c = client(NULL);
    uvgo__curl_loop_t *cl = uvgo__http_test_loop(c);
    uvgo__curl_stats_t *st = uvgo__http_test_stats(c);
    int sv[2];
    uv_poll_t probe;

    /* A socket the driver owns, watched by a poll on this loop. */
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    ASSERT_OK(uvgo__curl_test_watch(cl, sv[0]));
    ASSERT(uvgo__curl_test_polled(cl, sv[0]));
    /* curl closes it without saying CURL_POLL_REMOVE first. */
    ASSERT_OK(uvgo__curl_test_closesocket(cl, sv[0]));
    ASSERT_EQ(atomic_load(&st->closed_polled), 1);
    ASSERT(!uvgo__curl_test_polled(cl, sv[0]));
    ASSERT_EQ(fcntl(sv[0], F_GETFD), -1); /* closed */
    /* The lowest free number goes to the next socket: libuv lets a new
     * poll watch it (a poll left behind would make this EEXIST), and
     * delivers its events. */
    uv_loop_t *loop = uvgo_loop();
    int pair[2];
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
    ASSERT_EQ(pair[0], sv[0]);
    ASSERT_OK(uv_poll_init(loop, &probe, pair[0]));
    ASSERT_OK(uv_poll_start(&probe, UV_READABLE, on_probe));
    ASSERT_EQ(write(pair[1], "x", 1), 1);
    for (int i = 0; !atomic_load(&poll_seen); i++) {
        ASSERT_LT(i, 5000);
        uvgo_sleep(MS);
    }
    uvgo_event_t closed = UVGO_EVENT_INIT;
    ASSERT_OK(uvgo_loop_enter(loop));
    probe.data = &closed;
    uv_close((uv_handle_t *)&probe, probe_closed);
    ASSERT_OK(uvgo_event_wait(&closed, "probe close"));
    close(pair[0]);
    close(pair[1]);
    close(sv[1]);
    ASSERT_OK(uvgo_http_client_free(c));
}

static void sockets_curl_closes_are_never_left_polled(void)
{
    /* Every response closes its connection: numbers are reused at once,
     * each by a socket the driver must watch afresh. */
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo_http_client_stats_t st;
    char *body;
    size_t len;
    int n = (int)test_scale(200, 50);
    for (int i = 0; i < n; i++) {
        uvgo_http_response_t *r = get_all(c, "/connclose", &body, &len);
        ASSERT_STR_EQ(body, "bye");
        uvgo_http_response_free(r);
    }
    uvgo_http_client_stats(c, &st);
    ASSERT_EQ(st.conns, n);
    ASSERT_EQ(atomic_load(&srv.conns), n);
    done(c);
}

static void server_closing_an_idle_connection_costs_a_new_one(void)
{
    /* The idle connection's poll stays armed; the server's close wakes it
     * (and stops it), and the next request goes over a new connection. */
    start_server();
    uvgo_http_client_t *c = client(NULL);
    char *body;
    size_t len;
    for (int i = 0; i < 3; i++) {
        uvgo_http_response_t *r = get_all(c, "/idleclose", &body, &len);
        ASSERT_STR_EQ(body, "bye");
        uvgo_http_response_free(r);
        for (int k = 0; atomic_load(&srv.open) > 0; k++) {
            ASSERT_LT(k, 5000); /* until the server has closed it */
            uvgo_sleep(MS);
        }
    }
    ASSERT_EQ(atomic_load(&srv.conns), 3);
    done(c);
}

static void zero_timeouts_never_call_curl_from_curl(void)
{
    start_server();
    uvgo_http_client_t *c = client(NULL);
    uvgo__curl_stats_t *st = uvgo__http_test_stats(c);
    char *body;
    size_t len;
    /* Adding a transfer asks for a 0 ms timeout from inside curl; so do
     * unpausing and redirects. */
    for (int i = 0; i < 20; i++)
        uvgo_http_response_free(get_all(c, "/redirect/2", &body, &len));
    ASSERT_GE(atomic_load(&st->zero_timeouts), 20);
    ASSERT_EQ(atomic_load(&st->recursive_calls), 0);
    done(c);
}

static const test_case_t cases[] = {
    CASE(get_returns_status_headers_and_sized_body),
    CASE(request_fields_replace_the_clients_defaults),
    CASE(chunked_body_is_decoded_and_has_no_length),
    CASE(error_status_is_a_response_and_head_has_no_body),
    CASE(post_put_and_streamed_bodies_reach_the_server),
    CASE(large_body_streams_in_bounded_memory),
    CASE(redirects_are_followed_up_to_the_limit),
    CASE(redirects_change_the_method_as_go_does),
    CASE(redirect_to_another_host_drops_credentials),
    CASE(redirected_request_sends_a_referer),
    CASE(parsed_urls_still_name_each_response),
    CASE(deadline_cuts_a_stalled_server),
    CASE(cancellation_mid_body_removes_the_transfer_at_once),
    CASE(stall_timeout_reports_estalled),
    CASE(connections_are_reused_as_the_server_counts),
    CASE_PROCS(thousand_tasks_send_thousand_requests_across_workers, 4),
    CASE(per_host_limit_queues_requests),
    CASE(proxy_comes_from_the_environment_but_not_for_loopback),
    CASE(each_failure_has_its_own_code),
    CASE(calls_reject_bad_arguments),
    CASE_PLAIN(client_needs_a_runtime),
    CASE(client_free_refuses_while_a_response_lives),
    CASE(talks_to_the_uvgo_server),
    CASE_PROCS(worker_serves_other_tasks_while_requests_wait, 1),
    CASE_PROCS(stolen_task_hops_back_to_its_loop, 2),
    CASE_PROCS(burst_on_one_worker_spreads_over_the_loops, 2),
    CASE_PROCS(burst_to_a_new_plain_host_is_not_held_back, 2),
    CASE_PROCS(per_host_limit_holds_in_total_across_workers, 4),
    CASE(client_without_libcurl_fails_cleanly),
    CASE(uvgo_libcurl_names_the_library),
    CASE(closing_a_polled_socket_stops_the_poll_first),
    CASE(sockets_curl_closes_are_never_left_polled),
    CASE(server_closing_an_idle_connection_costs_a_new_one),
    CASE(zero_timeouts_never_call_curl_from_curl),
};

TEST_MAIN(cases)
