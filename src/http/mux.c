/* mux.c: Go 1.22's ServeMux: patterns "[METHOD ][HOST]/[PATH]" with
 * wildcards, the most specific match, 405 with Allow, 404, redirects.
 *
 * Patterns live in routing trees, one per (host, method) pair ("" for
 * none): a node per path segment, whose children are literal segments, at
 * most one single-segment wildcard and at most one multi-segment wildcard
 * ({x...}, or the anonymous one a trailing slash stands for).  A match
 * tries, at each level, the literal child, then the wildcard, then the
 * multi; host-specific trees before host-less ones, the request's method
 * before GET (for HEAD) before no method.  Because registration refuses two
 * patterns that match a common request with neither more specific than the
 * other (Go's conflict rule, compare_*() below), the first match found this
 * way is the most specific one (Go's routing_tree.go reasons the same way).
 *
 * A path is matched segment by segment on its escaped form, each segment
 * percent-decoded on its own ("%2F" stays inside its segment), after the
 * path was cleaned (Go's cleanPath; an unclean path is redirected).  The
 * request's trailing slash is the segment "/", which only literal "{$}"
 * segments and multis match.
 *
 * Registration takes no lock: register everything before serving (unlike
 * Go's mux, a serving one reads its trees without synchronisation).
 */
#include <stdio.h>

#include "http/http.h"

/* Wildcards per pattern (Go has no limit; 32 is far past real routes). */
#define MAX_WILD 32

typedef struct segment {
    char *s; /* a literal (decoded; "/" for {$}), or a wildcard name */
    size_t len;
    int wild;  /* {name} */
    int multi; /* {name...}, or a trailing slash (name "") */
} segment_t;

typedef struct pattern {
    char *str;           /* as registered */
    char *method, *host; /* "" for any */
    segment_t *segs;
    size_t nsegs;
    uvgo_http_handler_fn fn;
    void *arg;
    struct pattern *next; /* every pattern, for conflict checks */
} pattern_t;

typedef struct node node_t;
typedef struct lit {
    char *s;
    size_t len;
    node_t *n;
} lit_t;

struct node {
    pattern_t *pat; /* a pattern ends here */
    lit_t *lits;
    size_t nlits;
    node_t *wild, *multi;
};

typedef struct root {
    char *host, *method;
    node_t *tree;
} root_t;

struct uvgo_http_mux {
    pattern_t *patterns;
    root_t *roots;
    size_t nroots;
};

/* ---- parsing patterns ------------------------------------------------------
 */

static int bad(const char *pattern, const char *why)
{
    fprintf(stderr, "uvgo_http_mux_handle: parsing \"%s\": %s\n", pattern, why);
    return UVGO_EINVAL;
}

static int is_ident(const char *s, size_t len)
{
    if (!len || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

static void pattern_free(pattern_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsegs; i++)
        uvgo__free(p->segs[i].s);
    uvgo__free(p->segs);
    uvgo__free(p->str);
    uvgo__free(p->method);
    uvgo__free(p->host);
    uvgo__free(p);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = uvgo__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int add_seg(pattern_t *p, const char *s, size_t len, int wild, int multi)
{
    segment_t *segs = uvgo__realloc(p->segs, (p->nsegs + 1) * sizeof *segs);
    if (!segs)
        return UVGO_ENOMEM;
    p->segs = segs;
    segs[p->nsegs] = (segment_t){dup_n(s, len), len, wild, multi};
    if (!segs[p->nsegs].s)
        return UVGO_ENOMEM;
    p->nsegs++;
    return 0;
}

static int parse_pattern(const char *str, pattern_t **out)
{
    pattern_t *p = uvgo__calloc(1, sizeof *p);
    const char *s = str, *sp;
    int err, nwild = 0;
    if (!p)
        return UVGO_ENOMEM;
    if (!(p->str = dup_n(str, strlen(str))))
        goto nomem;
    if (!*s) {
        err = bad(str, "empty pattern");
        goto fail;
    }
    /* METHOD: up to the first blank, if there is one. */
    sp = strpbrk(s, " \t");
    if (sp) {
        if (!uvgo__http_is_token(s, (size_t)(sp - s))) {
            err = bad(str, "bad method");
            goto fail;
        }
        if (!(p->method = dup_n(s, (size_t)(sp - s))))
            goto nomem;
        s = sp;
        while (*s == ' ' || *s == '\t')
            s++;
    } else if (!(p->method = dup_n("", 0))) {
        goto nomem;
    }
    /* HOST: up to the first slash. */
    const char *slash = strchr(s, '/');
    if (!slash) {
        err = bad(str, "host/path missing /");
        goto fail;
    }
    if (!(p->host = dup_n(s, (size_t)(slash - s))))
        goto nomem;
    if (strchr(p->host, '{')) {
        err = bad(str, "host contains '{' (missing initial '/'?)");
        goto fail;
    }
    /* PATH, segment by segment. */
    const char *path = slash;
    char names[MAX_WILD][64];
    while (*path) {
        const char *seg = path + 1, *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0) {
            if (end) {
                err = bad(str, "empty path segment");
                goto fail;
            }
            /* A trailing slash: the subtree below. */
            if ((err = add_seg(p, "", 0, 0, 1)))
                goto fail;
            break;
        }
        if (seg[0] != '{') {
            if (memchr(seg, '{', len) || memchr(seg, '}', len)) {
                err = bad(str, "bad wildcard segment (must be the whole "
                               "segment)");
                goto fail;
            }
            char *dec = uvgo__malloc(len + 1);
            long n = dec ? uvgo__http_unescape(seg, len, dec, 0) : -1;
            if (n < 0) {
                uvgo__free(dec);
                err = dec ? bad(str, "bad escape in literal") : UVGO_ENOMEM;
                goto fail;
            }
            err = add_seg(p, dec, (size_t)n, 0, 0);
            uvgo__free(dec);
            if (err)
                goto fail;
        } else {
            if (seg[len - 1] != '}') {
                err = bad(str, "bad wildcard segment (must end with '}')");
                goto fail;
            }
            const char *name = seg + 1;
            size_t nlen = len - 2;
            int multi = 0;
            if (nlen == 1 && name[0] == '$') {
                if (end) {
                    err = bad(str, "{$} not at end");
                    goto fail;
                }
                if ((err = add_seg(p, "/", 1, 0, 0)))
                    goto fail;
                break;
            }
            if (nlen > 3 && !memcmp(name + nlen - 3, "...", 3)) {
                multi = 1;
                nlen -= 3;
                if (end) {
                    err = bad(str, "{...} wildcard not at end");
                    goto fail;
                }
            }
            if (!is_ident(name, nlen) || nlen >= sizeof names[0]) {
                err = bad(str, "bad wildcard name");
                goto fail;
            }
            for (int i = 0; i < nwild; i++)
                if (strlen(names[i]) == nlen && !memcmp(names[i], name, nlen)) {
                    err = bad(str, "duplicate wildcard name");
                    goto fail;
                }
            if (nwild == MAX_WILD) {
                err = bad(str, "too many wildcards");
                goto fail;
            }
            memcpy(names[nwild], name, nlen);
            names[nwild++][nlen] = '\0';
            if ((err = add_seg(p, name, nlen, !multi, multi)))
                goto fail;
        }
        if (!end)
            break;
        path = end;
    }
    *out = p;
    return 0;
nomem:
    err = UVGO_ENOMEM;
fail:
    pattern_free(p);
    return err;
}

/* ---- conflicts (Go's pattern.go relationships) -----------------------------
 */

enum { EQUIVALENT, MORE_GENERAL, MORE_SPECIFIC, DISJOINT, OVERLAPS };

static int inverse(int r)
{
    return r == MORE_GENERAL    ? MORE_SPECIFIC
           : r == MORE_SPECIFIC ? MORE_GENERAL
                                : r;
}

static int combine(int r1, int r2)
{
    switch (r1) {
    case EQUIVALENT:
        return r2;
    case DISJOINT:
        return DISJOINT;
    case OVERLAPS:
        return r2 == DISJOINT ? DISJOINT : OVERLAPS;
    default: /* MORE_GENERAL, MORE_SPECIFIC */
        if (r2 == EQUIVALENT)
            return r1;
        if (r2 == inverse(r1))
            return OVERLAPS;
        return r2;
    }
}

static int is_slash(const segment_t *s)
{
    return !s->wild && !s->multi && s->len == 1 && s->s[0] == '/';
}

static int compare_segments(const segment_t *x, const segment_t *y)
{
    if (x->multi && y->multi)
        return EQUIVALENT;
    if (x->multi)
        return MORE_GENERAL;
    if (y->multi)
        return MORE_SPECIFIC;
    if (x->wild && y->wild)
        return EQUIVALENT;
    if (x->wild)
        return is_slash(y) ? DISJOINT : MORE_GENERAL;
    if (y->wild)
        return is_slash(x) ? DISJOINT : MORE_SPECIFIC;
    return x->len == y->len && !memcmp(x->s, y->s, x->len) ? EQUIVALENT
                                                           : DISJOINT;
}

static int last_multi(const pattern_t *p)
{
    return p->nsegs && p->segs[p->nsegs - 1].multi;
}

static int compare_paths(const pattern_t *p1, const pattern_t *p2)
{
    if (p1->nsegs != p2->nsegs && !last_multi(p1) && !last_multi(p2))
        return DISJOINT;
    size_t i, n = p1->nsegs < p2->nsegs ? p1->nsegs : p2->nsegs;
    int rel = EQUIVALENT;
    for (i = 0; i < n; i++) {
        rel = combine(rel, compare_segments(&p1->segs[i], &p2->segs[i]));
        if (rel == DISJOINT)
            return rel;
    }
    if (p1->nsegs == p2->nsegs)
        return rel;
    if (p1->nsegs < p2->nsegs && last_multi(p1))
        return combine(rel, MORE_GENERAL);
    if (p2->nsegs < p1->nsegs && last_multi(p2))
        return combine(rel, MORE_SPECIFIC);
    return DISJOINT;
}

static int compare_methods(const pattern_t *p1, const pattern_t *p2)
{
    if (!strcmp(p1->method, p2->method))
        return EQUIVALENT;
    if (!*p1->method)
        return MORE_GENERAL;
    if (!*p2->method)
        return MORE_SPECIFIC;
    if (!strcmp(p1->method, "GET") && !strcmp(p2->method, "HEAD"))
        return MORE_GENERAL;
    if (!strcmp(p2->method, "GET") && !strcmp(p1->method, "HEAD"))
        return MORE_SPECIFIC;
    return DISJOINT;
}

static int conflicts(const pattern_t *p1, const pattern_t *p2)
{
    /* Patterns with different hosts never conflict (a host pattern
     * takes precedence over a host-less one). */
    if (strcasecmp(p1->host, p2->host))
        return 0;
    int m = compare_methods(p1, p2);
    if (m == DISJOINT)
        return 0;
    int r = combine(m, compare_paths(p1, p2));
    return r == EQUIVALENT || r == OVERLAPS;
}

/* ---- trees ------------------------------------------------------------------
 */

static void node_free(node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nlits; i++) {
        uvgo__free(n->lits[i].s);
        node_free(n->lits[i].n);
    }
    uvgo__free(n->lits);
    node_free(n->wild);
    node_free(n->multi);
    uvgo__free(n);
}

static node_t *child(node_t *n, const segment_t *seg)
{
    node_t **slot;
    if (seg->multi)
        slot = &n->multi;
    else if (seg->wild)
        slot = &n->wild;
    else {
        for (size_t i = 0; i < n->nlits; i++)
            if (n->lits[i].len == seg->len &&
                !memcmp(n->lits[i].s, seg->s, seg->len))
                return n->lits[i].n;
        lit_t *lits = uvgo__realloc(n->lits, (n->nlits + 1) * sizeof *lits);
        if (!lits)
            return NULL;
        n->lits = lits;
        node_t *c = uvgo__calloc(1, sizeof *c);
        char *s = dup_n(seg->s, seg->len);
        if (!c || !s) {
            uvgo__free(c);
            uvgo__free(s);
            return NULL;
        }
        lits[n->nlits++] = (lit_t){s, seg->len, c};
        return c;
    }
    if (!*slot)
        *slot = uvgo__calloc(1, sizeof **slot);
    return *slot;
}

static root_t *find_root(uvgo_http_mux_t *mux, const char *host, size_t hlen,
                         const char *method)
{
    for (size_t i = 0; i < mux->nroots; i++) {
        root_t *r = &mux->roots[i];
        if (strlen(r->host) == hlen && !strncasecmp(r->host, host, hlen) &&
            !strcmp(r->method, method))
            return r;
    }
    return NULL;
}

int uvgo_http_mux_make(uvgo_http_mux_t **mux)
{
    if (!mux)
        return UVGO_EINVAL;
    *mux = uvgo__calloc(1, sizeof **mux);
    return *mux ? 0 : UVGO_ENOMEM;
}

void uvgo_http_mux_free(uvgo_http_mux_t *mux)
{
    if (!mux)
        return;
    for (size_t i = 0; i < mux->nroots; i++) {
        uvgo__free(mux->roots[i].host);
        uvgo__free(mux->roots[i].method);
        node_free(mux->roots[i].tree);
    }
    uvgo__free(mux->roots);
    while (mux->patterns) {
        pattern_t *p = mux->patterns;
        mux->patterns = p->next;
        pattern_free(p);
    }
    uvgo__free(mux);
}

int uvgo_http_mux_handle(uvgo_http_mux_t *mux, const char *pattern,
                         uvgo_http_handler_fn fn, void *arg)
{
    pattern_t *p;
    int err;
    if (!mux || !pattern || !fn)
        return UVGO_EINVAL;
    if ((err = parse_pattern(pattern, &p)))
        return err;
    for (pattern_t *q = mux->patterns; q; q = q->next) {
        if (conflicts(p, q)) {
            fprintf(stderr,
                    "uvgo_http_mux_handle: pattern \"%s\" conflicts with "
                    "pattern \"%s\": both match some paths, and neither is "
                    "more specific\n",
                    pattern, q->str);
            pattern_free(p);
            return UVGO_EEXIST;
        }
    }
    root_t *r = find_root(mux, p->host, strlen(p->host), p->method);
    if (!r) {
        root_t *roots =
            uvgo__realloc(mux->roots, (mux->nroots + 1) * sizeof *roots);
        if (!roots)
            goto nomem;
        mux->roots = roots;
        r = &roots[mux->nroots];
        r->host = dup_n(p->host, strlen(p->host));
        r->method = dup_n(p->method, strlen(p->method));
        r->tree = uvgo__calloc(1, sizeof *r->tree);
        if (!r->host || !r->method || !r->tree) {
            uvgo__free(r->host);
            uvgo__free(r->method);
            uvgo__free(r->tree);
            goto nomem;
        }
        mux->nroots++;
    }
    node_t *n = r->tree;
    for (size_t i = 0; i < p->nsegs && n; i++)
        n = child(n, &p->segs[i]);
    if (!n)
        goto nomem;
    n->pat = p;
    p->fn = fn;
    p->arg = arg;
    p->next = mux->patterns;
    mux->patterns = p;
    return 0;
nomem:
    pattern_free(p);
    return UVGO_ENOMEM;
}

/* ---- matching
 * ----------------------------------------------------------------- */

/* A request path cut into decoded segments; "/" for a trailing slash. */
typedef struct rpath {
    const char *raw; /* the clean, escaped path */
    size_t nsegs;
    const char **seg; /* decoded, NUL-terminated */
    size_t *off;      /* where each starts in raw (at its '/') */
} rpath_t;

static int split_path(uvgo__http_arena_t *a, const char *raw, rpath_t *rp)
{
    size_t n = 0, len = strlen(raw);
    for (size_t i = 0; i < len; i++)
        n += raw[i] == '/';
    rp->raw = raw;
    rp->nsegs = 0;
    rp->seg = uvgo__http_arena_alloc(a, (n + 1) * sizeof *rp->seg);
    rp->off = uvgo__http_arena_alloc(a, (n + 1) * sizeof *rp->off);
    if (!rp->seg || !rp->off)
        return UVGO_ENOMEM;
    size_t i = 0;
    while (i < len) {
        /* raw[i] == '/' */
        size_t s = i + 1, e = s;
        while (e < len && raw[e] != '/')
            e++;
        char *dec;
        if (e == s && e == len) {
            dec = "/"; /* the trailing slash */
        } else {
            dec = uvgo__http_arena_alloc(a, e - s + 1);
            if (!dec || uvgo__http_unescape(raw + s, e - s, dec, 0) < 0)
                return dec ? UVGO_EINVAL : UVGO_ENOMEM;
        }
        rp->off[rp->nsegs] = i;
        rp->seg[rp->nsegs++] = dec;
        i = e;
    }
    return 0;
}

/* Matches segments k.. of rp below n; *nm values are captured into m. */
static node_t *match_path(node_t *n, const rpath_t *rp, size_t k,
                          const char **m, size_t *nm, uvgo__http_arena_t *a)
{
    if (!n)
        return NULL;
    if (k == rp->nsegs)
        return n->pat ? n : NULL;
    const char *seg = rp->seg[k];
    size_t slen = strlen(seg), mark = *nm;
    for (size_t i = 0; i < n->nlits; i++) {
        if (n->lits[i].len == slen && !memcmp(n->lits[i].s, seg, slen)) {
            node_t *r = match_path(n->lits[i].n, rp, k + 1, m, nm, a);
            if (r)
                return r;
            *nm = mark;
            break;
        }
    }
    int trailing = k + 1 == rp->nsegs && !strcmp(seg, "/") &&
                   rp->raw[rp->off[k] + 1] == '\0';
    if (n->wild && !trailing && *nm < MAX_WILD) {
        m[(*nm)++] = seg;
        node_t *r = match_path(n->wild, rp, k + 1, m, nm, a);
        if (r)
            return r;
        *nm = mark;
    }
    if (n->multi && n->multi->pat && *nm < MAX_WILD) {
        /* The rest of the path, decoded, without its leading slash. */
        const char *rest = rp->raw + rp->off[k] + 1;
        size_t rlen = strlen(rest);
        char *dec = uvgo__http_arena_alloc(a, rlen + 1);
        if (!dec || uvgo__http_unescape(rest, rlen, dec, 0) < 0)
            return NULL;
        m[(*nm)++] = dec;
        return n->multi;
    }
    return NULL;
}

static node_t *match_method(uvgo_http_mux_t *mux, const char *host, size_t hlen,
                            const char *method, const rpath_t *rp,
                            const char **m, size_t *nm, uvgo__http_arena_t *a)
{
    const char *tries[3] = {method, !strcmp(method, "HEAD") ? "GET" : NULL, ""};
    for (int i = 0; i < 3; i++) {
        root_t *r;
        if (!tries[i] || !(r = find_root(mux, host, hlen, tries[i])))
            continue;
        *nm = 0;
        node_t *n = match_path(r->tree, rp, 0, m, nm, a);
        if (n)
            return n;
    }
    return NULL;
}

static node_t *match(uvgo_http_mux_t *mux, const char *host, size_t hlen,
                     const char *method, const rpath_t *rp, const char **m,
                     size_t *nm, uvgo__http_arena_t *a)
{
    node_t *n = NULL;
    if (hlen)
        n = match_method(mux, host, hlen, method, rp, m, nm, a);
    if (!n)
        n = match_method(mux, "", 0, method, rp, m, nm, a);
    return n;
}

/* Go's exactMatch: n matched all of the path, not a non-empty rest of it
 * through a trailing multi. */
static int exact(const node_t *n, const rpath_t *rp)
{
    if (!n)
        return 0;
    if (!last_multi(n->pat))
        return 1;
    size_t len = strlen(rp->raw);
    if (len && rp->raw[len - 1] != '/')
        return 0;
    return n->pat->nsegs == rp->nsegs;
}

/* The host without its port ("[::1]:80" -> "[::1]"). */
static size_t host_len(const char *host)
{
    size_t len = strlen(host);
    const char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']'))
        len = (size_t)(colon - host);
    return len;
}

static void redirect(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                     const char *path, size_t plen)
{
    uvgo__http_arena_t *a = uvgo__http_request_arena(r);
    size_t qlen = strlen(r->raw_query);
    char *loc = uvgo__http_arena_alloc(a, plen + qlen + 2);
    if (!loc) {
        uvgo_http_writer_error(w, 500, "out of memory");
        return;
    }
    memcpy(loc, path, plen);
    loc[plen] = '\0';
    if (qlen) {
        loc[plen] = '?';
        memcpy(loc + plen + 1, r->raw_query, qlen + 1);
    }
    if (uvgo_http_header_set(uvgo_http_writer_header(w), "Location", loc)) {
        uvgo_http_writer_error(w, 400, "bad redirect");
        return;
    }
    uvgo_http_writer_error(w, 301, "Moved Permanently");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 405 with the methods that match, or 404. */
static void not_found(uvgo_http_mux_t *mux, uvgo_http_writer_t *w,
                      uvgo_http_request_t *r, const char *host, size_t hlen,
                      const rpath_t *rp, uvgo__http_arena_t *a)
{
    const char *allow[64], *m[MAX_WILD];
    size_t nallow = 0, nm;
    for (size_t i = 0; i < mux->nroots && nallow < 62; i++) {
        root_t *rt = &mux->roots[i];
        if (!*rt->method)
            continue;
        if (*rt->host &&
            (strlen(rt->host) != hlen || strncasecmp(rt->host, host, hlen)))
            continue;
        nm = 0;
        if (!match_path(rt->tree, rp, 0, m, &nm, a))
            continue;
        int dup = 0;
        for (size_t k = 0; k < nallow; k++)
            dup |= !strcmp(allow[k], rt->method);
        if (!dup)
            allow[nallow++] = rt->method;
        if (!strcmp(rt->method, "GET")) {
            dup = 0;
            for (size_t k = 0; k < nallow; k++)
                dup |= !strcmp(allow[k], "HEAD");
            if (!dup)
                allow[nallow++] = "HEAD";
        }
    }
    (void)r;
    if (!nallow) {
        uvgo_http_writer_error(w, 404, "404 page not found");
        return;
    }
    qsort(allow, nallow, sizeof allow[0], cmp_str);
    size_t len = 0;
    for (size_t k = 0; k < nallow; k++)
        len += strlen(allow[k]) + 2;
    char *list = uvgo__http_arena_alloc(a, len + 1), *p = list;
    if (list) {
        for (size_t k = 0; k < nallow; k++)
            p += sprintf(p, k ? ", %s" : "%s", allow[k]);
        uvgo_http_header_set(uvgo_http_writer_header(w), "Allow", list);
    }
    uvgo_http_writer_error(w, 405, uvgo_http_status_text(405));
}

void uvgo_http_mux_serve(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                         void *arg)
{
    uvgo_http_mux_t *mux = arg;
    uvgo__http_arena_t *a = uvgo__http_request_arena(r);
    const char *m[MAX_WILD];
    size_t nm = 0, rawlen;
    rpath_t rp;

    if (!strcmp(r->target, "*")) {
        uvgo_http_header_set(uvgo_http_writer_header(w), "Connection", "close");
        uvgo_http_writer_error(w, 400, uvgo_http_status_text(400));
        return;
    }
    const char *raw = uvgo__http_request_raw_path(r, &rawlen);
    char *clean = uvgo__http_arena_alloc(a, rawlen + 2);
    if (!clean) {
        uvgo_http_writer_error(w, 500, "out of memory");
        return;
    }
    size_t clen =
        strcmp(r->method, "CONNECT")
            ? uvgo__http_clean_path(raw, rawlen, clean)
            : (size_t)snprintf(clean, rawlen + 2, "%.*s", (int)rawlen, raw);
    if (split_path(a, clen ? clean : "/", &rp)) {
        uvgo_http_writer_error(w, 400, uvgo_http_status_text(400));
        return;
    }
    size_t hlen = host_len(r->host);
    node_t *n = match(mux, r->host, hlen, r->method, &rp, m, &nm, a);
    /* "/dir" redirects to "/dir/" when that is an exact match and "/dir"
     * is not (Go's matchOrRedirect). */
    if (!exact(n, &rp) && strcmp(r->method, "CONNECT") &&
        (clen == 0 || clean[clen - 1] != '/')) {
        char *slashed = uvgo__http_arena_alloc(a, clen + 2);
        rpath_t rp2;
        const char *m2[MAX_WILD];
        size_t nm2 = 0;
        if (slashed) {
            memcpy(slashed, clean, clen);
            slashed[clen] = '/';
            slashed[clen + 1] = '\0';
            if (!split_path(a, slashed, &rp2) &&
                exact(match(mux, r->host, hlen, r->method, &rp2, m2, &nm2, a),
                      &rp2)) {
                redirect(w, r, slashed, clen + 1);
                return;
            }
        }
    }
    if (strcmp(r->method, "CONNECT") &&
        (clen != rawlen || memcmp(clean, raw, clen))) {
        redirect(w, r, clean, clen);
        return;
    }
    if (!n) {
        not_found(mux, w, r, r->host, hlen, &rp, a);
        return;
    }
    /* Path values: each named wildcard, in order. */
    pattern_t *p = n->pat;
    uvgo__http_pathvalue_t *pv = NULL;
    size_t npv = 0, k = 0;
    if (nm) {
        pv = uvgo__http_arena_alloc(a, nm * sizeof *pv);
        if (!pv) {
            uvgo_http_writer_error(w, 500, "out of memory");
            return;
        }
    }
    for (size_t i = 0; i < p->nsegs && k < nm; i++) {
        if (!p->segs[i].wild && !p->segs[i].multi)
            continue;
        if (p->segs[i].len)
            pv[npv++] = (uvgo__http_pathvalue_t){p->segs[i].s, m[k]};
        k++;
    }
    uvgo__http_request_set_match(r, p->str, pv, npv);
    p->fn(w, r, p->arg);
}
