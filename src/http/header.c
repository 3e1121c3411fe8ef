/* header.c: arenas, header maps, status texts.
 *
 * A header map is an array of fields in order.  Lookups are linear with a
 * case-insensitive compare: requests carry a dozen fields, and a scan over
 * a dozen lengths beats hashing every name on the way in (Go's map hashes
 * each canonicalised key).  The fields of a received request point into the
 * connection's read buffer (http.h); the strings of set/add are copied into
 * the map's arena, which a server resets between requests, so a request
 * that sets a few headers allocates nothing once its connection is warm.
 */
#include <stdarg.h>
#include <string.h>

#include "http/http.h"

/* ---- arenas ------------------------------------------------------------- */

/* First chunk of an arena; later ones double, or fit one big request. */
#define ARENA_FIRST 2048

struct uvgo__http_chunk {
    struct uvgo__http_chunk *next; /* older chunk */
    size_t size;                   /* bytes of data[] */
    max_align_t data[];
};

void *uvgo__http_arena_alloc(uvgo__http_arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return NULL;
    if ((size_t)(a->end - a->ptr) < need) {
        size_t size = a->chunks ? a->chunks->size * 2 : ARENA_FIRST;
        if (size < need)
            size = need;
        uvgo__http_chunk_t *c = uvgo__malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = a->chunks;
        c->size = size;
        a->chunks = c;
        a->ptr = (char *)c->data;
        a->end = a->ptr + size;
    }
    void *p = a->ptr;
    a->ptr += need;
    return p;
}

char *uvgo__http_arena_strdup(uvgo__http_arena_t *a, const char *s, size_t len)
{
    char *p = uvgo__http_arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *uvgo__http_arena_vprintf(uvgo__http_arena_t *a, size_t *len,
                               const char *fmt, va_list ap)
{
    va_list again;
    char small[256];
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    char *p = NULL;
    if (n >= 0 && (p = uvgo__http_arena_alloc(a, (size_t)n + 1))) {
        if ((size_t)n < sizeof small)
            memcpy(p, small, (size_t)n + 1);
        else
            vsnprintf(p, (size_t)n + 1, fmt, again);
        *len = (size_t)n;
    }
    va_end(again);
    return p;
}

void uvgo__http_arena_reset(uvgo__http_arena_t *a)
{
    uvgo__http_chunk_t *c = a->chunks;
    if (!c)
        return;
    /* Keep the oldest (smallest) chunk: a warm connection reuses it. */
    while (c->next) {
        uvgo__http_chunk_t *older = c->next;
        uvgo__free(c);
        c = older;
    }
    a->chunks = c;
    a->ptr = (char *)c->data;
    a->end = a->ptr + c->size;
}

void uvgo__http_arena_free(uvgo__http_arena_t *a)
{
    uvgo__http_chunk_t *c = a->chunks;
    while (c) {
        uvgo__http_chunk_t *older = c->next;
        uvgo__free(c);
        c = older;
    }
    a->chunks = NULL;
    a->ptr = a->end = NULL;
}

/* ---- characters --------------------------------------------------------- */

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~", digits, letters. */
const unsigned char uvgo__http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

int uvgo__http_is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!uvgo__http_tchar[(unsigned char)s[i]])
            return 0;
    return 1;
}

int uvgo__http_casecmp(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y && (x | 0x20) != (y | 0x20))
            return 0;
        /* Equal under |0x20 but not letters: '@' and '`', '[' and '{'... */
        if (x != y && ((x | 0x20) < 'a' || (x | 0x20) > 'z'))
            return 0;
    }
    return 1;
}

int uvgo__http_has_token(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (uvgo__http_casecmp(start, (size_t)(end - start), token, tlen))
            return 1;
    }
    return 0;
}

/* ---- header maps -------------------------------------------------------- */

/* Fields kept across requests by a reset; a request with more gives the
 * memory back. */
#define FIELDS_KEEP 64

void uvgo__http_header_init(uvgo_http_header_t *h, uvgo__http_arena_t *arena)
{
    memset(h, 0, sizeof *h);
    h->arena = arena;
}

void uvgo__http_header_reset(uvgo_http_header_t *h)
{
    h->len = 0;
    h->changes++;
    if (h->cap > FIELDS_KEEP) {
        uvgo__free(h->fields);
        h->fields = NULL;
        h->cap = 0;
    }
}

void uvgo__http_header_destroy(uvgo_http_header_t *h)
{
    uvgo__free(h->fields);
    h->fields = NULL;
    h->len = h->cap = 0;
}

int uvgo__http_header_push(uvgo_http_header_t *h, const char *name,
                           size_t name_len, const char *value, size_t value_len)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        uvgo_http_field_t *f = uvgo__realloc(h->fields, cap * sizeof *f);
        if (!f)
            return UVGO_ENOMEM;
        h->fields = f;
        h->cap = cap;
    }
    h->fields[h->len++] = (uvgo_http_field_t){name, name_len, value, value_len};
    h->changes++;
    return 0;
}

const uvgo_http_field_t *uvgo__http_header_find(const uvgo_http_header_t *h,
                                                const char *name,
                                                size_t name_len)
{
    for (size_t i = 0; i < h->len; i++) {
        const uvgo_http_field_t *f = &h->fields[i];
        if (uvgo__http_casecmp(f->name, f->name_len, name, name_len))
            return f;
    }
    return NULL;
}

int uvgo_http_header_make(uvgo_http_header_t **out)
{
    if (!out)
        return UVGO_EINVAL;
    uvgo_http_header_t *h = uvgo__malloc(sizeof *h);
    if (!h)
        return UVGO_ENOMEM;
    uvgo__http_header_init(h, &h->own);
    *out = h;
    return 0;
}

void uvgo_http_header_free(uvgo_http_header_t *h)
{
    if (!h)
        return;
    uvgo__http_header_destroy(h);
    uvgo__http_arena_free(&h->own);
    uvgo__free(h);
}

const char *uvgo_http_header_get(const uvgo_http_header_t *h, const char *name)
{
    if (!h || !name)
        return NULL;
    const uvgo_http_field_t *f = uvgo__http_header_find(h, name, strlen(name));
    return f ? f->value : NULL;
}

size_t uvgo_http_header_values(const uvgo_http_header_t *h, const char *name,
                               const char **values, size_t max)
{
    size_t n = 0, len;
    if (!h || !name)
        return 0;
    len = strlen(name);
    for (size_t i = 0; i < h->len; i++) {
        const uvgo_http_field_t *f = &h->fields[i];
        if (!uvgo__http_casecmp(f->name, f->name_len, name, len))
            continue;
        if (values && n < max)
            values[n] = f->value;
        n++;
    }
    return n;
}

/* Checks and trims a value of *len bytes for add/set: *len receives its
 * trimmed length and the return value its first byte; NULL if it may not
 * be sent. */
static const char *clean_value(const char *value, size_t *len)
{
    size_t n = *len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return NULL;
    }
    while (n && (*value == ' ' || *value == '\t')) {
        value++;
        n--;
    }
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    *len = n;
    return value;
}

/* Copies a name and a value of the given lengths for add/set; 0 or an
 * error. */
static int copy_field_n(uvgo_http_header_t *h, const char *name, size_t nlen,
                        const char *value, size_t vlen, uvgo_http_field_t *f)
{
    if (!uvgo__http_is_token(name, nlen) ||
        !(value = clean_value(value, &vlen)))
        return UVGO_EINVAL;
    char *n = uvgo__http_arena_alloc(h->arena, nlen + vlen + 2);
    if (!n)
        return UVGO_ENOMEM;
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    char *v = n + nlen + 1;
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    *f = (uvgo_http_field_t){n, nlen, v, vlen};
    return 0;
}

/* Copies name and value for add/set; 0 or an error. */
static int copy_field(uvgo_http_header_t *h, const char *name,
                      const char *value, uvgo_http_field_t *f)
{
    if (!h || !name || !value)
        return UVGO_EINVAL;
    return copy_field_n(h, name, strlen(name), value, strlen(value), f);
}

int uvgo__http_header_add_n(uvgo_http_header_t *h, const char *name,
                            size_t nlen, const char *value, size_t vlen)
{
    uvgo_http_field_t f;
    /* As uvgo_http_header_add of the strings up to a NUL. */
    int err = copy_field_n(h, name, strnlen(name, nlen), value,
                           strnlen(value, vlen), &f);
    if (err)
        return err;
    return uvgo__http_header_push(h, f.name, f.name_len, f.value, f.value_len);
}

int uvgo_http_header_add(uvgo_http_header_t *h, const char *name,
                         const char *value)
{
    uvgo_http_field_t f;
    int err = copy_field(h, name, value, &f);
    if (err)
        return err;
    return uvgo__http_header_push(h, f.name, f.name_len, f.value, f.value_len);
}

int uvgo_http_header_set(uvgo_http_header_t *h, const char *name,
                         const char *value)
{
    uvgo_http_field_t f;
    int err = copy_field(h, name, value, &f);
    size_t i, j;
    if (err)
        return err;
    for (i = 0; i < h->len; i++)
        if (uvgo__http_casecmp(h->fields[i].name, h->fields[i].name_len, f.name,
                               f.name_len))
            break;
    if (i == h->len)
        return uvgo__http_header_push(h, f.name, f.name_len, f.value,
                                      f.value_len);
    h->fields[i] = f;
    h->changes++;
    /* Drop the later fields of that name, keeping the order of the rest. */
    for (j = ++i; i < h->len; i++)
        if (!uvgo__http_casecmp(h->fields[i].name, h->fields[i].name_len,
                                f.name, f.name_len))
            h->fields[j++] = h->fields[i];
    h->len = j;
    return 0;
}

size_t uvgo_http_header_del(uvgo_http_header_t *h, const char *name)
{
    size_t i, j, len;
    if (!h || !name)
        return 0;
    len = strlen(name);
    for (i = j = 0; i < h->len; i++)
        if (!uvgo__http_casecmp(h->fields[i].name, h->fields[i].name_len, name,
                                len))
            h->fields[j++] = h->fields[i];
    size_t removed = h->len - j;
    h->len = j;
    h->changes++;
    return removed;
}

size_t uvgo_http_header_len(const uvgo_http_header_t *h)
{
    return h ? h->len : 0;
}

const uvgo_http_field_t *uvgo_http_header_at(const uvgo_http_header_t *h,
                                             size_t i)
{
    return h && i < h->len ? &h->fields[i] : NULL;
}

/* ---- status texts ------------------------------------------------------- */

const char *uvgo_http_status_text(int code)
{
    switch (code) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 208:
        return "Already Reported";
    case 226:
        return "IM Used";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "Request URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Requested Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Entity";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 506:
        return "Variant Also Negotiates";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 510:
        return "Not Extended";
    case 511:
        return "Network Authentication Required";
    default:
        return "";
    }
}
