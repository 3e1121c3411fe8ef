/* http-server.h: a raw-socket HTTP/1.1 server for the client's tests.
 *
 * Plain POSIX sockets and poll() in a thread of its own, so it knows
 * nothing of uvgo and misbehaves on purpose where a test asks it to.  It
 * listens on 127.0.0.1, port 0, and counts connections and requests.
 * Routes (the request target):
 *
 *   /hello            200, Content-Length, "Hello, World!"
 *   /chunked          200, chunked in three chunks: "Hello, chunked world!"
 *   /big/N            200, N bytes of big_byte(i), streamed as the socket
 *                     takes them
 *   /redirect/N       302 to /redirect/N-1; /redirect/0 is 200 "landed"
 *   /loop             302 to itself
 *   /goto/CODE/HOST   status CODE, Location: http://HOST:port/echo (HOST
 *                     "same": a path on this server, /echo)
 *   /headers          200; fields X-One: 1, X-Multi: a, X-Multi: b; the
 *                     body is the request's head
 *   /echo             200; the request body back, X-Method: the method,
 *                     X-Authorized: yes if it had an Authorization field,
 *                     X-Referer: its Referer, or -
 *   /status/N         status N, body "status N"
 *   /slow/MS          200 "slow" after MS milliseconds
 *   /stall            Content-Length 1000, 10 bytes, then nothing
 *   /hang             nothing at all
 *   /close            Content-Length 100, 10 bytes, then a clean close
 *   /reset            Content-Length 100, 10 bytes, then a reset (RST)
 *   /connclose        200 "bye" with Connection: close, then a close
 *   /idleclose        200 "bye", kept alive, closed 20 ms later (idle)
 *   /garbage          bytes that are not HTTP
 *
 * Request bodies may be sized or chunked.  Keep-alive unless the request
 * or route says otherwise.  A request for an absolute URL (as to a proxy)
 * is served from its path and counted in `proxied`. */
#ifndef UVGO_TEST_HTTP_SERVER_H
#define UVGO_TEST_HTTP_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline unsigned char big_byte(uint64_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

struct ts_conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    uint64_t big_pos, big_end; /* generated body still to write */
    int64_t due_ms;            /* a slow response's time, or 0 */
    char slow_body[16];
    int after;        /* what to do once out is written */
    int64_t close_ms; /* close when idle at this time, or 0 */
    int dead;
};

enum { TS_KEEP, TS_CLOSE, TS_RESET, TS_STALL };

typedef struct test_server {
    int lfd, port;
    int wake[2]; /* a byte stops the thread */
    pthread_t thread;
    atomic_long conns, requests;
    atomic_long closes;  /* connections the client closed */
    atomic_long open;    /* connections open now */
    atomic_long proxied; /* requests in a proxy's absolute form */
    struct ts_conn **c;
    size_t nc, cap;
} test_server_t;

static int64_t ts_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void ts_put(struct ts_conn *c, const void *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2 + 4096;
        c->out = realloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void ts_printf(struct ts_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ts_printf(struct ts_conn *c, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ts_put(c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void ts_reply(struct ts_conn *c, int status, const char *extra,
                     const char *body, size_t len)
{
    ts_printf(c, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, len,
              extra ? extra : "");
    ts_put(c, body, len);
}

/* Where a request's body ends in `in` (head ends at `head`), or 0 if it
 * has not all arrived; *body and *blen get the decoded body. */
static size_t ts_body(struct ts_conn *c, size_t head, char **body, size_t *blen)
{
    const char *h = c->in;
    const char *cl = strcasestr(h, "\ncontent-length:");
    const char *te = strcasestr(h, "\ntransfer-encoding: chunked");
    *body = NULL;
    *blen = 0;
    if (cl && cl < h + head) {
        size_t n = strtoul(cl + 16, NULL, 10);
        if (c->in_len < head + n)
            return 0;
        *body = malloc(n + 1);
        memcpy(*body, c->in + head, n);
        *blen = n;
        return head + n;
    }
    if (te && te < h + head) {
        size_t p = head, out = 0;
        char *b = malloc(c->in_len + 1);
        for (;;) {
            char *nl = memmem(c->in + p, c->in_len - p, "\r\n", 2);
            if (!nl)
                break;
            size_t n = strtoul(c->in + p, NULL, 16);
            size_t data = (size_t)(nl - c->in) + 2;
            if (n == 0) {
                if (c->in_len < data + 2)
                    break;
                *body = b;
                *blen = out;
                return data + 2;
            }
            if (c->in_len < data + n + 2)
                break;
            memcpy(b + out, c->in + data, n);
            out += n;
            p = data + n + 2;
        }
        free(b);
        return 0;
    }
    return head;
}

/* Answers one complete request; returns 0 to keep reading requests. */
static int ts_serve(test_server_t *s, struct ts_conn *c, char *head,
                    size_t head_len, char *body, size_t blen)
{
    char method[16] = "", target[256] = "";
    int conn_close = strcasestr(head, "\nconnection: close") != NULL;
    long n;

    sscanf(head, "%15s %255s", method, target);
    atomic_fetch_add(&s->requests, 1);
    if (!strncmp(target, "http://", 7)) {
        /* Asked as a proxy (absolute form): serve the path ourselves. */
        char *path = strchr(target + 7, '/');
        atomic_fetch_add(&s->proxied, 1);
        memmove(target, path ? path : "/", strlen(path ? path : "/") + 1);
    }
    if (!strcmp(target, "/hello")) {
        ts_reply(c, 200, NULL, "Hello, World!", 13);
    } else if (!strcmp(target, "/chunked")) {
        ts_printf(c,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "7\r\nHello, \r\n8\r\nchunked \r\n6\r\nworld!\r\n0\r\n\r\n");
    } else if (sscanf(target, "/big/%ld", &n) == 1) {
        ts_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", n);
        c->big_pos = 0;
        c->big_end = (uint64_t)n;
    } else if (sscanf(target, "/redirect/%ld", &n) == 1) {
        if (n > 0)
            ts_printf(c,
                      "HTTP/1.1 302 Found\r\nLocation: /redirect/%ld\r\n"
                      "Content-Length: 0\r\n\r\n",
                      n - 1);
        else
            ts_reply(c, 200, NULL, "landed", 6);
    } else if (!strncmp(target, "/goto/", 6) &&
               sscanf(target, "/goto/%ld/", &n) == 1) {
        const char *host = strchr(target + 6, '/');
        host = host ? host + 1 : "same";
        if (!strcmp(host, "same"))
            ts_printf(c,
                      "HTTP/1.1 %ld Moved\r\nLocation: /echo\r\n"
                      "Content-Length: 0\r\n\r\n",
                      n);
        else
            ts_printf(c,
                      "HTTP/1.1 %ld Moved\r\nLocation: http://%s:%d/echo\r\n"
                      "Content-Length: 0\r\n\r\n",
                      n, host, s->port);
    } else if (!strcmp(target, "/loop")) {
        ts_printf(c, "HTTP/1.1 302 Found\r\nLocation: /loop\r\n"
                     "Content-Length: 0\r\n\r\n");
    } else if (!strcmp(target, "/headers")) {
        ts_reply(c, 200, "X-One: 1\r\nX-Multi: a\r\nX-Multi: b\r\n", head,
                 head_len);
    } else if (!strcmp(target, "/echo")) {
        char extra[512], ref[300] = "-";
        const char *r = strcasestr(head, "\nreferer:");
        if (r)
            sscanf(r + 9, " %299[^\r\n]", ref);
        snprintf(extra, sizeof extra,
                 "X-Method: %s\r\nX-Authorized: %s\r\nX-Referer: %s\r\n",
                 method, strcasestr(head, "\nauthorization:") ? "yes" : "no",
                 ref);
        ts_reply(c, 200, extra, body ? body : "", blen);
    } else if (sscanf(target, "/status/%ld", &n) == 1) {
        char b[32];
        int len = snprintf(b, sizeof b, "status %ld", n);
        ts_reply(c, (int)n, NULL, b, (size_t)len);
    } else if (sscanf(target, "/slow/%ld", &n) == 1) {
        c->due_ms = ts_now_ms() + n;
        strcpy(c->slow_body, "slow");
    } else if (!strcmp(target, "/stall")) {
        ts_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                     "0123456789");
        c->after = TS_STALL;
    } else if (!strcmp(target, "/hang")) {
        c->after = TS_STALL;
    } else if (!strcmp(target, "/close") || !strcmp(target, "/reset")) {
        ts_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                     "0123456789");
        c->after = target[1] == 'c' ? TS_CLOSE : TS_RESET;
    } else if (!strcmp(target, "/connclose")) {
        ts_reply(c, 200, "Connection: close\r\n", "bye", 3);
        c->after = TS_CLOSE;
    } else if (!strcmp(target, "/idleclose")) {
        ts_reply(c, 200, NULL, "bye", 3);
        c->close_ms = ts_now_ms() + 20;
    } else if (!strcmp(target, "/garbage")) {
        ts_printf(c, "this is not HTTP at all\r\n\r\n");
        c->after = TS_CLOSE;
    } else {
        ts_reply(c, 404, NULL, "not found", 9);
    }
    if (conn_close && c->after == TS_KEEP)
        c->after = TS_CLOSE;
    return c->after != TS_KEEP || c->due_ms || c->big_end;
}

/* Parses and answers what has arrived, in order. */
static void ts_input(test_server_t *s, struct ts_conn *c)
{
    while (!c->after && !c->due_ms && !c->big_end) {
        char *end = c->in_len ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
        char *body;
        size_t blen, head, total;
        if (!end)
            return;
        head = (size_t)(end - c->in) + 4;
        c->in[c->in_len] = '\0';
        if (!(total = ts_body(c, head, &body, &blen)))
            return;
        char saved = c->in[head];
        c->in[head] = '\0';
        ts_serve(s, c, c->in, head, body, blen);
        c->in[head] = saved;
        free(body);
        memmove(c->in, c->in + total, c->in_len - total);
        c->in_len -= total;
    }
}

/* Writes what it can; returns -1 once the connection is finished. */
static int ts_output(struct ts_conn *c)
{
    for (;;) {
        if (c->out_off == c->out_len && c->big_pos < c->big_end) {
            char chunk[65536];
            size_t n = sizeof chunk;
            if (n > c->big_end - c->big_pos)
                n = (size_t)(c->big_end - c->big_pos);
            for (size_t i = 0; i < n; i++)
                chunk[i] = (char)big_byte(c->big_pos + i);
            c->big_pos += n;
            c->out_off = c->out_len = 0;
            ts_put(c, chunk, n);
            if (c->big_pos == c->big_end)
                c->big_pos = c->big_end = 0;
        }
        if (c->out_off == c->out_len)
            break;
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    if (c->after == TS_CLOSE)
        return -1;
    if (c->after == TS_RESET) {
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        return -1;
    }
    return 0;
}

static void ts_drop(struct ts_conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void *ts_thread(void *arg)
{
    test_server_t *s = arg;
    struct pollfd *p = NULL;
    size_t pcap = 0;

    for (;;) {
        int64_t now = ts_now_ms(), timeout = -1;
        if (pcap < s->nc + 2) {
            pcap = (s->nc + 2) * 2;
            p = realloc(p, pcap * sizeof *p);
        }
        p[0] = (struct pollfd){s->wake[0], POLLIN, 0};
        p[1] = (struct pollfd){s->lfd, POLLIN, 0};
        for (size_t i = 0; i < s->nc; i++) {
            struct ts_conn *c = s->c[i];
            short ev = c->after == TS_STALL ? 0 : POLLIN;
            if (c->out_off < c->out_len || c->big_end)
                ev |= POLLOUT;
            if (c->due_ms && (timeout < 0 || c->due_ms - now < timeout))
                timeout = c->due_ms > now ? c->due_ms - now : 0;
            if (c->close_ms && (timeout < 0 || c->close_ms - now < timeout))
                timeout = c->close_ms > now ? c->close_ms - now : 0;
            /* A stalled connection is watched only for its peer's close. */
            p[i + 2] = (struct pollfd){c->fd, ev ? ev : POLLRDHUP, 0};
        }
        poll(p, s->nc + 2, (int)timeout);
        if (p[0].revents)
            break;
        size_t nc = s->nc; /* connections accepted below have no pollfd */
        if (p[1].revents & POLLIN) {
            int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct ts_conn *c = calloc(1, sizeof *c);
                c->fd = fd;
                if (s->nc == s->cap) {
                    s->cap = s->cap ? s->cap * 2 : 64;
                    s->c = realloc(s->c, s->cap * sizeof *s->c);
                }
                s->c[s->nc++] = c;
                atomic_fetch_add(&s->conns, 1);
                atomic_fetch_add(&s->open, 1);
            }
        }
        now = ts_now_ms();
        for (size_t i = 0; i < nc; i++) {
            struct ts_conn *c = s->c[i];
            if (c->close_ms && c->close_ms <= now && c->out_off == c->out_len) {
                c->dead = 1;
                continue;
            }
            if (c->due_ms && c->due_ms <= now) {
                c->due_ms = 0;
                ts_reply(c, 200, NULL, c->slow_body, strlen(c->slow_body));
            }
            if (p[i + 2].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) {
                if (c->in_cap - c->in_len < 65537) {
                    c->in_cap = c->in_cap * 2 + 65537;
                    c->in = realloc(c->in, c->in_cap);
                }
                ssize_t r = recv(c->fd, c->in + c->in_len,
                                 c->in_cap - c->in_len - 1, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    atomic_fetch_add(&s->closes, 1);
                    c->dead = 1;
                    continue;
                }
                if (r > 0)
                    c->in_len += (size_t)r;
                if (c->after != TS_STALL)
                    ts_input(s, c);
            }
            if (ts_output(c) < 0)
                c->dead = 1;
            else if (!c->after && !c->due_ms && !c->big_end)
                ts_input(s, c); /* pipelined requests behind a slow one */
        }
        for (size_t i = 0; i < s->nc;) {
            if (s->c[i]->dead) {
                atomic_fetch_sub(&s->open, 1);
                ts_drop(s->c[i]);
                s->c[i] = s->c[--s->nc];
            } else {
                i++;
            }
        }
    }
    free(p);
    return NULL;
}

/* Starts a server on 127.0.0.1, port 0.  Returns 0 or -1. */
static inline int test_server_start(test_server_t *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    memset(s, 0, sizeof *s);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) ||
        listen(s->lfd, 4096) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &alen) || pipe(s->wake))
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->thread, NULL, ts_thread, s) ? -1 : 0;
}

/* Stops the server and closes every connection it had. */
static inline void test_server_stop(test_server_t *s)
{
    char b = 1;
    if (write(s->wake[1], &b, 1) != 1)
        abort();
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->nc; i++)
        ts_drop(s->c[i]);
    free(s->c);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
}

/* "http://127.0.0.1:PORT" + path, in buf. */
static inline const char *test_server_url(const test_server_t *s, char *buf,
                                          size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", s->port, path);
    return buf;
}

#endif /* UVGO_TEST_HTTP_SERVER_H */
