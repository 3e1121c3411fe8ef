/* httpd.c: a JSON key-value service over HTTP/1.1, shut down gracefully.
 *
 *   PUT /kv/{key} stores the body; GET /kv/{key} returns {"key", "value"};
 *   DELETE /kv/{key}; GET /healthz; GET /debug/uvgo/ (tasks, counters).
 *
 * Readers share a read-write lock, writers take it alone.  SIGTERM or
 * SIGINT stops accepting, lets requests in flight finish (5 s at most),
 * and exits.
 *
 *   run:    ./build/samples/httpd [address]          (127.0.0.1:8080)
 *           curl -X PUT --data hello localhost:8080/kv/greeting
 *   demo:   ./build/samples/httpd --demo   serves on a free port, talks to
 *           itself, then sends itself SIGTERM.
 *   prints: the address, each demo exchange, how the shutdown went.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uvgo.h>

struct entry {
    char *key, *value;
    struct entry *next;
};
static struct entry *table[256];
static uvgo_rwmutex_t lock; /* all-zero: ready */
static uvgo_wg_t helpers;   /* the stopper and the demo */

static struct entry **find(const char *key)
{
    unsigned h = 5381;
    for (const char *p = key; *p; p++)
        h = h * 33 + (unsigned char)*p;
    struct entry **e = &table[h % 256];
    while (*e && strcmp((*e)->key, key))
        e = &(*e)->next;
    return e;
}

static void json_string(uvgo_http_writer_t *w, const char *s)
{
    uvgo_http_writer_write(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        uvgo_http_writer_printf(
            w, *p < 0x20 || *p == '"' || *p == '\\' ? "\\u%04x" : "%c", *p);
    uvgo_http_writer_write(w, "\"", 1);
}

static void kv_get(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    const char *key = uvgo_http_request_path_value(r, "key");
    (void)arg;
    uvgo_rwmutex_rlock(&lock); /* copy under the lock, write after it */
    struct entry *e = *find(key);
    char *v = e ? strdup(e->value) : NULL;
    uvgo_rwmutex_runlock(&lock);
    if (!v) {
        uvgo_http_writer_error(w, 404, "no such key");
        return;
    }
    uvgo_http_header_set(uvgo_http_writer_header(w), "Content-Type",
                         "application/json");
    uvgo_http_writer_write(w, "{\"key\": ", 8);
    json_string(w, key);
    uvgo_http_writer_write(w, ", \"value\": ", 11);
    json_string(w, v);
    uvgo_http_writer_write(w, "}\n", 2);
    free(v);
}

/* PUT (arg NULL) and DELETE (arg non-NULL). */
static void kv_set(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    const char *key = uvgo_http_request_path_value(r, "key");
    char *body = NULL, *v = NULL;
    size_t len;
    if (!arg && uvgo_http_request_read_all(r, &body, &len, 1 << 20)) {
        uvgo_http_writer_error(w, 413, "value too large or cut short");
        return;
    }
    if (body && !(v = strdup(body))) {
        uvgo_http_writer_error(w, 500, "out of memory");
        return;
    }
    uvgo_rwmutex_lock(&lock);
    struct entry **e = find(key), *gone = NULL;
    if (*e && v) { /* replace */
        free((*e)->value);
        (*e)->value = v;
    } else if (v && (gone = calloc(1, sizeof *gone))) { /* insert */
        *gone = (struct entry){strdup(key), v, NULL};
        *e = gone, gone = NULL;
    } else if ((gone = *e)) { /* delete */
        *e = gone->next;
    }
    uvgo_rwmutex_unlock(&lock);
    if (arg && !gone) {
        uvgo_http_writer_error(w, 404, "no such key");
        return;
    }
    if (gone)
        free(gone->key), free(gone->value), free(gone);
    uvgo_http_writer_write_header(w, 204);
}

static void healthz(uvgo_http_writer_t *w, uvgo_http_request_t *r, void *arg)
{
    (void)r, (void)arg;
    uvgo_http_writer_write(w, "ok\n", 3);
}

/* Waits for SIGTERM/SIGINT, then shuts the server down gracefully. */
static void *stopper(void *srv)
{
    uvgo_chan_t *ch;
    uvgo_signal_t *sub;
    uvgo_ctx_t *ctx;
    int sigs[] = {SIGTERM, SIGINT}, sig;
    size_t cut = 0;
    uvgo_chan_make(&ch, sizeof(int), 1);
    uvgo_signal_notify(&sub, ch, sigs, 2);
    uvgo_chan_recv(ch, &sig, sizeof sig, NULL);
    uvgo_ctx_with_timeout(&ctx, NULL, 5 * UVGO_SECOND);
    int err = uvgo_http_server_shutdown(srv, ctx, &cut);
    printf("shutdown: %s, %zu cut\n", err ? uvgo_strerror(err) : "clean", cut);
    uvgo_ctx_cancel_release(ctx);
    uvgo_signal_stop(sub);
    uvgo_chan_release(ch);
    uvgo_wg_done(&helpers);
    return NULL;
}

/* --demo: one exchange per connection, then SIGTERM to ourselves. */
static void *demo(void *addr)
{
    const char *reqs[] = {"PUT /kv/greeting HTTP/1.1\r\nContent-Length: 2\r\n",
                          "GET /kv/greeting HTTP/1.1\r\n",
                          "DELETE /kv/greeting HTTP/1.1\r\n",
                          "GET /kv/greeting HTTP/1.1\r\n"};
    for (int i = 0; i < 4; i++) {
        uvgo_conn_t *c;
        char buf[1024];
        int n, got = 0;
        if (uvgo_dial(&c, "tcp", addr))
            exit(1);
        n = snprintf(buf, sizeof buf, "%sHost: x\r\n\r\nhi", reqs[i]);
        uvgo_conn_write(c, buf, (size_t)(i ? n - 2 : n), NULL);
        uvgo_conn_close_write(c); /* the server closes after answering */
        while ((n = uvgo_conn_read(c, buf + got, sizeof buf - 1 - got)) > 0)
            got += n;
        buf[got] = '\0';
        char *body = strstr(buf, "\r\n\r\n");
        body = body ? body + 4 : "";
        printf("%.*s -> %.*s %.*s\n", (int)strcspn(reqs[i], "H") - 1, reqs[i],
               (int)strcspn(buf + 9, "\r"), buf + 9, (int)strcspn(body, "\n"),
               body);
        uvgo_conn_free(c);
    }
    raise(SIGTERM);
    uvgo_wg_done(&helpers);
    return NULL;
}

static void *main_task(void *arg)
{
    int is_demo = !strcmp(arg, "--demo");
    uvgo_http_mux_t *mux;
    uvgo_http_server_t *srv;
    uvgo_listener_t *l;
    char name[64];
    uvgo_http_mux_make(&mux);
    uvgo_http_mux_handle(mux, "GET /kv/{key}", kv_get, NULL);
    uvgo_http_mux_handle(mux, "PUT /kv/{key}", kv_set, NULL);
    uvgo_http_mux_handle(mux, "DELETE /kv/{key}", kv_set, mux);
    uvgo_http_mux_handle(mux, "GET /healthz", healthz, NULL);
    uvgo_http_mux_handle(mux, "GET /debug/uvgo/", uvgo_http_debug_serve, NULL);
    uvgo_http_server_opts_t o = {.handler = uvgo_http_mux_serve, .arg = mux};
    uvgo_http_server_make(&srv, &o);
    int err = uvgo_listen(&l, "tcp", is_demo ? "127.0.0.1:0" : arg);
    if (err) {
        fprintf(stderr, "httpd: %s: %s\n", (char *)arg, uvgo_strerror(err));
        exit(1);
    }
    uvgo_listener_name(l, name, sizeof name);
    printf("listening on %s\n", name);
    fflush(stdout);
    uvgo_wg_add(&helpers, 1 + is_demo);
    uvgo_go(stopper, srv);
    if (is_demo)
        uvgo_go(demo, name);
    err = uvgo_http_server_serve(srv, l); /* until shut down: ECLOSED */
    uvgo_wg_wait(&helpers);
    printf("served %llu requests\n",
           (unsigned long long)uvgo_http_server_requests(srv));
    uvgo_listener_free(l);
    uvgo_http_server_free(srv);
    uvgo_http_mux_free(mux);
    return NULL;
}

int main(int argc, char **argv)
{
    return uvgo_main(main_task, argc > 1 ? argv[1] : "127.0.0.1:8080", NULL) !=
           0;
}
