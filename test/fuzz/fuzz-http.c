/* fuzz-http.c: libFuzzer over the HTTP server's request path, in memory:
 * the CR/obs-fold scan, llhttp, the limits, the mux, request bodies, query
 * and path decoding, and the response writer, as one connection serves
 * arbitrary bytes.
 *
 * The first input byte picks the limits (small ones reach 413/414/431
 * often) and how the bytes arrive (all at once, or in reads of 1..7
 * bytes); the rest is the connection's input.  The output must be a
 * sequence of responses: it starts with "HTTP/1.1 " when there is any.
 *
 *   build:  CC=clang meson setup build-fuzz -Dfuzz=true \
 *             -Db_sanitize=address,undefined -Db_lundef=false
 *           ninja -C build-fuzz test/fuzz/fuzz-http
 *   run:    build-fuzz/test/fuzz/fuzz-http -max_total_time=60 CORPUS_DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/http.h"

static uvgo_http_mux_t *mux;

/* Reads the body (all of it, or in small reads), then answers. */
static void body(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    char buf[7], *data;
    size_t len;
    int n;
    (void)arg;
    if (r->content_length % 2) {
        while ((n = uvgo_http_request_read(r, buf, sizeof buf)) > 0)
            uvgo_http_writer_write(w, buf, (size_t)n);
    } else if (uvgo_http_request_read_all(r, &data, &len, 300) == 0) {
        uvgo_http_writer_write(w, data, len);
    }
}

/* Query, path values, headers, context, a streamed reply, a flush. */
static void misc(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    const char *q = uvgo_http_request_query(r, "q");
    const char *id = uvgo_http_request_path_value(r, "id");
    const char *rest = uvgo_http_request_path_value(r, "rest");
    (void)arg;
    uvgo_http_request_ctx(r);
    uvgo_http_header_add(uvgo_http_writer_header(w), "X-Q", q ? q : "-");
    if (id && id[0] == 'e') {
        uvgo_http_writer_error(w, 418, id);
        return;
    }
    uvgo_http_writer_printf(w, "%s %s %s %s %s\n", r->method, r->path,
                            id ? id : "", rest ? rest : "", r->host);
    for (size_t i = 0; i < uvgo_http_header_len(r->header); i++) {
        const uvgo_http_field_t *f = uvgo_http_header_at(r->header, i);
        uvgo_http_writer_printf(w, "%s=%s\n", f->name, f->value);
    }
    if (q && q[0] == 'f')
        uvgo_http_writer_flush(w);
    if (q && q[0] == 'b') {
        static char big[5000];
        uvgo_http_writer_write(w, big, sizeof big);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uvgo__http_config_t cfg;
    char *out = NULL;
    size_t out_len = 0;
    if (!mux) {
        uvgo_http_mux_make(&mux);
        uvgo_http_mux_handle(mux, "/body", body, NULL);
        uvgo_http_mux_handle(mux, "GET /items/{id}", misc, NULL);
        uvgo_http_mux_handle(mux, "/files/{rest...}", misc, NULL);
        uvgo_http_mux_handle(mux, "example.com/", misc, NULL);
        uvgo_http_mux_handle(mux, "/{$}", misc, NULL);
    }
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    int small = mode & 1;
    uvgo_http_server_opts_t o = {.handler = uvgo_http_mux_serve,
                                 .arg = mux,
                                 .max_header_bytes = small ? 200 : 0,
                                 .max_body_bytes = small ? 100 : 0};
    uvgo__http_config_resolve(&cfg, &o);
    size_t chunk = (mode >> 1) & 7;
    long n = uvgo__http_serve_memory(&cfg, (const char *)data + 1, size - 1,
                                     chunk, &out, &out_len);
    if (n < 0)
        return 0; /* out of memory */
    if (out_len && (out_len < 9 || memcmp(out, "HTTP/1.1 ", 9))) {
        fprintf(stderr, "output does not start with a status line\n");
        abort();
    }
    free(out);
    return 0;
}
