/* memory.c: one connection served from memory, for the unit tests and the
 * fuzzer: the whole request path (scan, parser, limits, handler, writer)
 * without a socket.  Reads never block, so it runs in a task or in a
 * plain thread alike (a handler that blocks needs a task).
 */
#include "http/http.h"

typedef struct memconn {
    const char *in;
    size_t len, off, chunk;
    char *out;
    size_t out_len, out_cap;
    int failed; /* memory ran out collecting the output */
} memconn_t;

static int mem_read(void *io, char *buf, size_t cap, int64_t deadline)
{
    memconn_t *m = io;
    size_t n = m->len - m->off;
    (void)deadline;
    if (n > cap)
        n = cap;
    if (m->chunk && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->in + m->off, n);
    m->off += n;
    return (int)n;
}

static int mem_write(void *io, const uv_buf_t *bufs, unsigned nbufs,
                     int64_t deadline)
{
    memconn_t *m = io;
    (void)deadline;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t n = bufs[i].len;
        if (m->out_cap - m->out_len < n) {
            size_t cap = m->out_cap ? m->out_cap : 1024;
            while (cap - m->out_len < n)
                cap *= 2;
            char *out = uvgo__realloc(m->out, cap);
            if (!out) {
                m->failed = 1;
                return UVGO_ENOMEM;
            }
            m->out = out;
            m->out_cap = cap;
        }
        memcpy(m->out + m->out_len, bufs[i].base, n);
        m->out_len += n;
    }
    return 0;
}

static const uvgo__http_transport_t mem_transport = {mem_read, mem_write, NULL,
                                                     NULL};

long uvgo__http_serve_memory(const uvgo__http_config_t *cfg, const char *in,
                             size_t in_len, size_t chunk, char **out,
                             size_t *out_len)
{
    memconn_t m = {in, in_len, 0, chunk, NULL, 0, 0, 0};
    uvgo__http_conn_t *c = uvgo__malloc(sizeof *c);
    long served;
    if (!c || uvgo__http_conn_init(c, cfg, &mem_transport, &m)) {
        uvgo__free(c);
        return -1;
    }
    snprintf(c->remote_addr, sizeof c->remote_addr, "memory");
    uvgo__http_conn_serve(c);
    served = atomic_load(&c->requests);
    uvgo__http_conn_destroy(c);
    uvgo__free(c);
    if (m.failed) {
        uvgo__free(m.out);
        return -1;
    }
    *out = m.out;
    *out_len = m.out_len;
    return served;
}
