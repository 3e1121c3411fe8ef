/* request.c: what a handler asks of a request beyond its body: decoded
 * paths, query parameters, path values; and the path helpers the mux
 * shares (percent-decoding, Go's path.Clean).
 *
 * Query parameters are decoded on demand, one lookup at a time: most
 * handlers ask for one or two, and a lookup over a short raw query is
 * cheaper than building a map nobody reads.
 */
#include "http/http.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long uvgo__http_unescape(const char *s, size_t len, char *out, int plus_space)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1; /* a bad escape, or %00 */
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[n++] = ' ';
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return (long)n;
}

size_t uvgo__http_clean_path(const char *p, size_t len, char *out)
{
    /* Segments are copied one by one; ".." pops the last one.  `n` is
     * the length so far, always starting with '/'. */
    size_t n = 0, i = 0;
    out[n++] = '/';
    while (i < len) {
        while (i < len && p[i] == '/')
            i++;
        size_t s = i;
        while (i < len && p[i] != '/')
            i++;
        size_t seg = i - s;
        if (seg == 0 || (seg == 1 && p[s] == '.'))
            continue;
        if (seg == 2 && p[s] == '.' && p[s + 1] == '.') {
            if (n > 1) {
                n--; /* the slash after the last segment */
                while (n > 1 && out[n - 1] != '/')
                    n--;
            }
            continue;
        }
        memcpy(out + n, p + s, seg);
        n += seg;
        out[n++] = '/';
    }
    /* A trailing slash stays if the path had one (Go's cleanPath). */
    if (n > 1 && !(len > 0 && p[len - 1] == '/'))
        n--;
    out[n] = '\0';
    return n;
}

const char *uvgo_http_request_query(uvgo_http_request_t *r, const char *name)
{
    if (!r || !name || !r->raw_query)
        return NULL;
    uvgo__http_conn_t *c = uvgo__http_conn_of(r);
    size_t nlen = strlen(name);
    const char *p = r->raw_query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        /* Decode the key only when it could match (escapes shrink). */
        if (klen >= nlen) {
            char *key = uvgo__http_arena_alloc(&c->arena, klen + 1);
            if (!key)
                return NULL;
            long kl = uvgo__http_unescape(p, klen, key, 1);
            if (kl == (long)nlen && !memcmp(key, name, nlen)) {
                size_t vlen = eq ? plen - klen - 1 : 0;
                char *val = uvgo__http_arena_alloc(&c->arena, vlen + 1);
                if (!val)
                    return NULL;
                /* A value that does not decode is skipped, as Go does. */
                if (uvgo__http_unescape(eq ? eq + 1 : "", vlen, val, 1) >= 0)
                    return val;
            }
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return NULL;
}

const char *uvgo_http_request_path_value(uvgo_http_request_t *r,
                                         const char *name)
{
    if (!r || !name)
        return NULL;
    uvgo__http_conn_t *c = uvgo__http_conn_of(r);
    for (size_t i = 0; i < c->npv; i++)
        if (!strcmp(c->pv[i].name, name))
            return c->pv[i].value;
    return NULL;
}

void uvgo__http_request_set_match(uvgo_http_request_t *r, const char *pattern,
                                  uvgo__http_pathvalue_t *pv, size_t npv)
{
    uvgo__http_conn_t *c = uvgo__http_conn_of(r);
    r->pattern = pattern;
    c->pv = pv;
    c->npv = npv;
}

const char *uvgo__http_request_raw_path(uvgo_http_request_t *r, size_t *len)
{
    uvgo__http_conn_t *c = uvgo__http_conn_of(r);
    *len = c->raw_path_len;
    return c->raw_path;
}

uvgo__http_arena_t *uvgo__http_request_arena(uvgo_http_request_t *r)
{
    return &uvgo__http_conn_of(r)->arena;
}
