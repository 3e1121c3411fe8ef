/* client.c: the HTTP client API (Go's http.Client and Transport) on the
 * curl driver (curl.c).
 *
 * A client keeps one uvgo__curl_loop_t per worker, made the first time a
 * task on that worker sends a request (c->loops[i] is written once, by
 * worker i's thread, and published with release).  A request lives in one
 * allocation, struct exchange: the transfer, the response the caller
 * sees, and what curl borrows until the transfer is removed (the header
 * list); freed exchanges wait on their loop for the next request.  Its
 * task drives it; see curl.h for the thread rules.
 *
 * Go's defaults and where they come from here:
 *   redirects      up to max_redirects (10), http(s) only: curl follows
 *                  those of GET, HEAD and POST, uvgo_http_do_ctx the rest
 *                  (curl_follows)
 *   keep-alive     curl's connection cache, per worker (curl.c)
 *   TLS            verified against the system CAs (curl's build default)
 *   proxies        http_proxy, https_proxy, no_proxy, read when the client
 *                  is made; like Go, loopback hosts are never proxied
 *                  (NOPROXY, below)
 *   HTTP/2         over TLS when the server offers it (ALPN), streams
 *                  multiplexed on one connection; CURLOPT_PIPEWAIT makes a
 *                  second https request wait for the first connection to
 *                  say whether it multiplexes instead of opening another
 *                  (plain http:// is HTTP/1.1, as in Go: never held)
 *   compression    gzip asked for and decoded, as Go's transport does
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "http/curl.h"
#include "http/http.h"

#define DEFAULT_REDIRECTS 10
#define DEFAULT_BODY_BUFFER (64 * 1024)
#define DEFAULT_USER_AGENT "uvgo/0.1"

struct uvgo_http_client {
    /* Immutable after uvgo_http_client_make. */
    int max_redirects; /* < 0: redirects are not followed */
    int keep_alive;
    int compression;
    int http2;
    int insecure;
    long connect_ms;
    uint64_t stall_ms;
    size_t body_buffer;
    char *ca_file, *user_agent, *noproxy;
    int proxies;               /* a proxy variable is set (make_noproxy) */
    struct curl_slist *fields; /* the lines every request sends; curl
                                  only reads them */
    uvgo__curl_share_t share;
    uvgo__curl_conf_t conf;
    int nloops;
    int nused;       /* loops that take requests: [0, nused) (loop_pick) */
    long host_limit; /* max_conns_per_host, in all; 0: none */
    _Atomic(uvgo__curl_loop_t *) *loops; /* by worker; see top */
    atomic_int *load; /* by worker: exchanges not yet freed (loop_pick) */

    uvgo__curl_stats_t stats;
    atomic_int live; /* exchanges not yet freed */
};

/* One request and its response. */
struct exchange {
    uvgo__xfer_t x;
    uvgo_http_response_t resp;
    uvgo_http_client_t *client;
    uvgo_http_header_t header; /* the response being received; its
                                  memory stays with a cached exchange */
    struct exchange *next;     /* on a loop's spare list */
    struct curl_slist *fields; /* request header lines, borrowed by curl
                                  (NULL: the client's) */
    char *all;                 /* uvgo_http_response_read_all's buffer */
    int plain;                 /* a GET with no body nor fields of its own */
    int slot;                  /* the worker whose load counts it */
    int follow_here;           /* redirects followed by do_ctx, not curl */
    char *next_url;            /* the URL of a redirect followed here */
    uvgo_http_header_t *next_header; /* the fields it was sent with */
};

/* ---- errors
 * ------------------------------------------------------------------ */

int uvgo__xfer_error(uvgo__xfer_t *x, CURLcode code)
{
    long os = 0;

    if (x->abort_err)
        return x->abort_err;
    curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os);
    switch (code) {
    case CURLE_URL_MALFORMAT:
        return UVGO_EBADURL;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* We check the request's scheme first: this is a redirect to
         * another scheme, or (no status line) a reply that is not HTTP. */
        return x->status ? UVGO_EPROTONOSUPPORT : UV_EPROTO;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return UVGO_EAI_NONAME;
    case CURLE_COULDNT_CONNECT:
        return os > 0 ? uv_translate_sys_error((int)os) : UVGO_ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return UVGO_ETIMEDOUT; /* our only curl timeout: connecting */
    case CURLE_TOO_MANY_REDIRECTS:
        return UVGO_EREDIRECTS;
    case CURLE_PEER_FAILED_VERIFICATION:
        return UVGO_ETLSVERIFY;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return UVGO_ETLS;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return os > 0 ? uv_translate_sys_error((int)os) : UV_EPROTO;
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return UV_EPROTO;
    case CURLE_FILESIZE_EXCEEDED:
        return UVGO_EMSGSIZE;
    case CURLE_OUT_OF_MEMORY:
        return UVGO_ENOMEM;
    default:
        return UVGO_EHTTP;
    }
}

/* Fills a caller's error text: curl's words when it has some. */
static void error_text(char *dst, const uvgo__xfer_t *x, int err)
{
    const char *s = x && x->errbuf[0] && !x->abort_err && err == x->err
                        ? x->errbuf
                        : uvgo_strerror(err);
    snprintf(dst, UVGO_HTTP_ERROR_MAX, "%s", s);
}

/* ---- header hooks (on the transfer's loop)
 * ----------------------------------- */

static void on_reset(uvgo__xfer_t *x)
{
    struct exchange *t = x->data;
    uvgo__http_header_reset(&t->header);
    uvgo__http_arena_reset(&t->header.own);
}

static int on_field(uvgo__xfer_t *x, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
    struct exchange *t = x->data;
    int err = uvgo__http_header_add_n(&t->header, name, nlen, value, vlen);
    /* A field the map refuses (a name that is not a token) is dropped, as
     * Go's reader drops what it cannot parse. */
    return err == UVGO_ENOMEM ? err : 0;
}

static const uvgo__xfer_hooks_t hooks = {on_reset, on_field};

/* ---- the client
 * -------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? uvgo__strdup(s) : NULL;
}

/* Whether any of the variables curl takes a proxy from is set. */
static int proxies_set(void)
{
    static const char *const vars[] = {"http_proxy", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

/* Go never proxies loopback requests; curl would, from http_proxy.  With
 * no proxy variable set, "*": otherwise curl matches every request's host
 * against the list (1,400 instructions a request to 127.0.0.1, measured
 * with callgrind) and reads the environment for others.  The environment
 * is read once, as no_proxy already was here (Go reads it once per
 * process). */
static char *make_noproxy(int proxies)
{
    const char *env = getenv("no_proxy");
    const char *base = "localhost,127.0.0.1,::1";
    char *s;
    if (!proxies)
        return uvgo__strdup("*");
    if (!env || !*env)
        env = getenv("NO_PROXY");
    if (!env || !*env)
        return uvgo__strdup(base);
    if ((s = uvgo__malloc(strlen(base) + strlen(env) + 2)))
        sprintf(s, "%s,%s", base, env);
    return s;
}

static int add_line(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return UVGO_ENOMEM;
    *list = l;
    return 0;
}

/* Whether line ("Name: value", "Name;" or "Name:") names a field h has. */
static int has_field(const uvgo_http_header_t *h, const char *line)
{
    char name[64];
    size_t n = strcspn(line, ":;");
    if (!h || n >= sizeof name)
        return 0;
    memcpy(name, line, n);
    name[n] = '\0';
    return uvgo_http_header_get(h, name) != NULL;
}

/* The lines every request sends besides its own fields (which replace
 * them): as Go, no Accept ("Name:" removes curl's default one); the
 * User-Agent; "Connection: close" without keep-alive.  curl prints the
 * fixed part of a request a character at a time (see "URLs" in curl.c),
 * and a CURLOPT_USERAGENT twice, so the User-Agent is a line here, where
 * it costs half.  With a proxy it stays CURLOPT_USERAGENT, the only one a
 * CONNECT sends (lines here go to the server alone).  (curl checks the
 * lines against the fields it adds, on every request: keep the list
 * short.) */
static int default_fields(uvgo_http_client_t *c)
{
    char *ua;
    int err = 0;
    if (!c->proxies && *c->user_agent) {
        if (!(ua = uvgo__malloc(strlen(c->user_agent) + 13)))
            return UVGO_ENOMEM;
        sprintf(ua, "User-Agent: %s", c->user_agent);
        err = add_line(&c->fields, ua);
        uvgo__free(ua);
    }
    if (err || add_line(&c->fields, "Accept:") ||
        (!c->keep_alive && add_line(&c->fields, "Connection: close")))
        return UVGO_ENOMEM;
    return 0;
}

/* Frees the client record and what its fields own. */
static void client_free_fields(uvgo_http_client_t *c)
{
    curl_slist_free_all(c->fields);
    uvgo__free(c->ca_file);
    uvgo__free(c->user_agent);
    uvgo__free(c->noproxy);
    uvgo__free(c->loops);
    uvgo__free(c->load);
    uvgo__free(c);
}

int uvgo_http_client_make(uvgo_http_client_t **out,
                          const uvgo_http_client_opts_t *opts)
{
    static const uvgo_http_client_opts_t none;
    uvgo_http_client_t *c;
    int n = uvgo_worker_count(), err;

    if (!out)
        return UVGO_EINVAL;
    if (!opts)
        opts = &none;
    if (n <= 0)
        return UVGO_ENOTTASK;
    if ((err = uvgo__curl_load()))
        return err;
    if (!(c = uvgo__calloc(1, sizeof *c)))
        return UVGO_ENOMEM;
    c->max_redirects =
        opts->max_redirects ? opts->max_redirects : DEFAULT_REDIRECTS;
    c->keep_alive = !opts->disable_keep_alives;
    c->compression = !opts->disable_compression;
    c->http2 = !opts->disable_http2;
    c->insecure = opts->insecure_skip_verify;
    c->connect_ms =
        opts->connect_timeout > 0
            ? (long)((opts->connect_timeout + UVGO_MILLISECOND - 1) /
                     UVGO_MILLISECOND)
            : 0;
    c->stall_ms =
        opts->stall_timeout > 0
            ? (uint64_t)((opts->stall_timeout + UVGO_MILLISECOND - 1) /
                         UVGO_MILLISECOND)
            : 0;
    c->body_buffer =
        opts->body_buffer ? opts->body_buffer : DEFAULT_BODY_BUFFER;
    c->ca_file = dup_or_null(opts->ca_file);
    c->user_agent =
        uvgo__strdup(opts->user_agent ? opts->user_agent : DEFAULT_USER_AGENT);
    c->proxies = proxies_set();
    c->noproxy = make_noproxy(c->proxies);
    c->nloops = n;
    c->loops = uvgo__calloc((size_t)n, sizeof *c->loops);
    c->load = uvgo__calloc((size_t)n, sizeof *c->load);
    /* The per-host limit is per loop in curl: it is shared out exactly
     * (loop_for_self), over as many loops as it allows, at most one per
     * worker (see "Connections" in curl.c). */
    c->nused = n;
    if (opts->max_conns_per_host > 0) {
        c->host_limit = opts->max_conns_per_host;
        if (c->host_limit < n)
            c->nused = (int)c->host_limit;
    }
    c->conf.max_idle =
        opts->max_idle_conns > 0 ? (opts->max_idle_conns + n - 1) / n : 0;
    c->conf.stats = &c->stats;
    if ((opts->ca_file && !c->ca_file) || !c->user_agent || !c->noproxy ||
        !c->loops || !c->load || default_fields(c) ||
        uvgo__curl_share_init(&c->share)) {
        client_free_fields(c);
        return UVGO_ENOMEM;
    }
    *out = c;
    return 0;
}

static void exchange_destroy(struct exchange *t);

int uvgo_http_client_free(uvgo_http_client_t *c)
{
    if (!c)
        return 0;
    if (!uvgo_task_self())
        return UVGO_ENOTTASK;
    if (atomic_load_explicit(&c->live, memory_order_acquire) > 0)
        return UVGO_EBUSY;
    for (int i = 0; i < c->nloops; i++) {
        uvgo__curl_loop_t *cl =
            atomic_load_explicit(&c->loops[i], memory_order_acquire);
        if (!cl)
            continue;
        uvgo_loop_enter(cl->loop); /* its spares are its loop's */
        while (cl->exchanges) {
            struct exchange *t = cl->exchanges;
            cl->exchanges = t->next;
            exchange_destroy(t);
        }
        uvgo__curl_loop_close(cl);
    }
    uvgo__curl_share_close(&c->share);
    client_free_fields(c);
    return 0;
}

void uvgo_http_client_stats(uvgo_http_client_t *c, uvgo_http_client_stats_t *s)
{
    if (!c || !s)
        return;
    s->requests =
        atomic_load_explicit(&c->stats.requests, memory_order_relaxed);
    s->conns = atomic_load_explicit(&c->stats.conns, memory_order_relaxed);
    s->reused = atomic_load_explicit(&c->stats.reused, memory_order_relaxed);
}

/* The calling task's worker's multi handle, made on first use. */
static int loop_for_self(uvgo_http_client_t *c, uvgo__curl_loop_t **out)
{
    int w = uvgo_worker_id(), err;
    uvgo__curl_loop_t *cl;

    if (w < 0 || w >= c->nloops)
        return UVGO_ENOTTASK;
    /* acquire: pairs with the release below (another thread's free). */
    cl = atomic_load_explicit(&c->loops[w], memory_order_acquire);
    if (!cl) {
        /* Only worker w's thread gets here for slot w, and opening does
         * not block: no other task can race us for it. */
        uvgo__curl_conf_t conf = c->conf;
        /* Loop w's share of the per-host limit: the shares of the loops in
         * use add up to the limit.  A loop outside them (a task that could
         * not move: loop_pick) gets one connection. */
        if (c->host_limit > 0)
            conf.max_host_conns =
                w < c->nused ? c->host_limit / c->nused +
                                   (w < c->host_limit % c->nused ? 1 : 0)
                             : 1;
        if ((err = uvgo__curl_loop_open(&cl, &conf)))
            return err;
        atomic_store_explicit(&c->loops[w], cl, memory_order_release);
    }
    *out = cl;
    return 0;
}

/* The loop for the calling task's next request, and the worker whose load
 * now counts it (*slot; the caller gives it back with unload()).
 * Requests spread over the workers' loops by load (see "Connections" in
 * curl.c): each loop's pool holds only its share of the per-host limit,
 * so a burst of tasks that all started on one worker would otherwise queue
 * there for connections while the other loops' shares sat unused (and one
 * core did all of curl's work).  A task free to move whose worker carries
 * clearly more of this client's exchanges than the least loaded one moves
 * there first, as a stolen task would.  The count is taken before the
 * move, so a burst deciding faster than the moved tasks arrive sees them
 * already; uvgo_loop_enter binds the task to its new loop, so a task
 * moves at most once and loads cannot ping-pong.  Tasks that hold handles
 * of their own (bound) or were pinned stay where they are, except on a
 * worker whose loop is not in use: a per-host limit below the number of
 * workers uses that many loops only, one connection each at least. */
static int loop_pick(uvgo_http_client_t *c, uvgo__curl_loop_t **out, int *slot)
{
    int w = uvgo_worker_id(), err, moved;

    if (w < 0 || w >= c->nloops)
        return UVGO_ENOTTASK;
    int to = w, outside = w >= c->nused;
    if (c->nused > 1 || outside) {
        int mine =
            outside ? INT_MAX
                    : atomic_load_explicit(&c->load[w], memory_order_relaxed);
        int least = mine;
        for (int i = 0; i < c->nused && mine >= 2; i++) {
            int n = atomic_load_explicit(&c->load[i], memory_order_relaxed);
            if (n < least) {
                least = n;
                to = i;
            }
        }
        /* "Clearly": by two and an eighth, so that loads coming and going
         * between polls move nobody. */
        if (!outside && mine - least < 2 + mine / 8)
            to = w;
    }
    atomic_fetch_add_explicit(&c->load[to], 1, memory_order_relaxed);
    if (to != w) {
        /* Outside the loops in use, even a pinned or bound task moves (as
         * it may itself, uvgo_loop_enter): the per-host limit holds in all. */
        moved = uvgo__task_move_to(to, outside);
        if (moved) {
            atomic_fetch_add_explicit(&c->stats.spread, 1,
                                      memory_order_relaxed);
        } else {
            atomic_fetch_sub_explicit(&c->load[to], 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&c->load[w], 1, memory_order_relaxed);
            to = w;
        }
    }
    if ((err = loop_for_self(c, out)))
        atomic_fetch_sub_explicit(&c->load[to], 1, memory_order_relaxed);
    *slot = to;
    return err;
}

static void unload(uvgo_http_client_t *c, int slot)
{
    atomic_fetch_sub_explicit(&c->load[slot], 1, memory_order_relaxed);
}

/* ---- requests
 * ---------------------------------------------------------------- */

/* "http"/"https", compared without case, then "://".  Go refuses other
 * schemes (and none) before dialling; so do we, rather than let curl
 * guess "http://" for a bare host. */
static int check_scheme(const char *url)
{
    size_t n = 0;
    while ((url[n] >= 'a' && url[n] <= 'z') ||
           (url[n] >= 'A' && url[n] <= 'Z') ||
           (n > 0 && ((url[n] >= '0' && url[n] <= '9') || url[n] == '+' ||
                      url[n] == '-' || url[n] == '.')))
        n++;
    if (url[n] != ':')
        return UVGO_EPROTONOSUPPORT;
    if (!((n == 4 && strncasecmp(url, "http", 4) == 0) ||
          (n == 5 && strncasecmp(url, "https", 5) == 0)))
        return UVGO_EPROTONOSUPPORT;
    return strncmp(url + n, "://", 3) == 0 ? 0 : UVGO_EBADURL;
}

/* The request's header fields as curl lines.  curl frames the body
 * itself, so Content-Length and Transfer-Encoding are not passed on; an
 * empty value needs curl's "Name;" form ("Name:" would delete a field). */
static int build_fields(struct exchange *t, const uvgo_http_header_t *h)
{
    uvgo_http_client_t *c = t->client;
    int err;
    size_t n = h ? uvgo_http_header_len(h) : 0;

    for (size_t i = 0; i < n; i++) {
        const uvgo_http_field_t *f = uvgo_http_header_at(h, i);
        char small[512], *line = small;
        size_t len = f->name_len + f->value_len + 3;
        if (strcasecmp(f->name, "content-length") == 0 ||
            strcasecmp(f->name, "transfer-encoding") == 0)
            continue;
        if (len > sizeof small && !(line = uvgo__malloc(len)))
            return UVGO_ENOMEM;
        snprintf(line, len, f->value_len ? "%s: %s" : "%s;", f->name, f->value);
        err = add_line(&t->fields, line);
        if (line != small)
            uvgo__free(line);
        if (err)
            return err;
    }
    /* Go does not send "Expect: 100-continue" (curl does for large
     * bodies; "Name:" deletes a field in curl). */
    if ((err = add_line(&t->fields, "Expect:")))
        return err;
    for (struct curl_slist *l = c->fields; l; l = l->next)
        if (!has_field(h, l->data) && (err = add_line(&t->fields, l->data)))
            return err;
    return 0;
}

/* http and https only, for the request and its redirects.  libcurl 7.85
 * replaced the bitmask options with string ones. */
#if LIBCURL_VERSION_NUM < 0x075500
#define CURLOPT_PROTOCOLS_STR CURLOPT_PROTOCOLS
#define CURLOPT_REDIR_PROTOCOLS_STR CURLOPT_REDIR_PROTOCOLS
static void set_protocols(CURL *e, CURLoption opt)
{
    curl_easy_setopt(e, opt, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
}
#else
static void set_protocols(CURL *e, CURLoption opt)
{
    curl_easy_setopt(e, opt, "http,https");
}
#endif

/* Whether req is a GET with nothing of its own but the URL: such requests
 * reuse easy handles without resetting them. */
static int is_plain(const uvgo_http_client_request_t *req)
{
    return (!req->method || !strcmp(req->method, "GET") || !*req->method) &&
           !req->body && !req->body_fn &&
           (!req->header || uvgo_http_header_len(req->header) == 0);
}

/* The client's options, the same for every request. */
static void setup_client(uvgo_http_client_t *c, CURL *e)
{
    set_protocols(e, CURLOPT_PROTOCOLS_STR);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->fields);
    if (c->proxies)
        curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_SHARE, c->share.sh);
    curl_easy_setopt(e, CURLOPT_NOPROXY, c->noproxy);
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     c->http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    if (c->max_redirects >= 0) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        /* Go sends the page it was redirected from as Referer (curl
         * leaves out credentials and fragment, as Go does). */
        curl_easy_setopt(e, CURLOPT_AUTOREFERER, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)c->max_redirects);
        set_protocols(e, CURLOPT_REDIR_PROTOCOLS_STR);
    }
    if (c->compression)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    if (!c->keep_alive)
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->connect_ms)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
}

/* The easy handle's options for one request; a `ready` handle has the
 * client's options and a plain GET's already. */
static int setup(struct exchange *t, const uvgo_http_client_request_t *req,
                 int ready)
{
    CURL *e = t->x.easy;
    const char *method = req->method && *req->method ? req->method : "GET";
    int has_body = req->body || req->body_fn;
    int err;

    t->x.url = req->url; /* set by uvgo__xfer_start */
    /* Wait for a new host's first connection to say whether it multiplexes
     * only where it can: over TLS (ALPN).  curl 7.88 waits over plain HTTP
     * as well once HTTP/2 is allowed at all, which held a burst to a new
     * http:// host to one request per loop until the first answer.  Per
     * request, because a kept handle serves any URL. */
    curl_easy_setopt(
        e, CURLOPT_PIPEWAIT,
        t->client->http2 && strncasecmp(req->url, "https", 5) == 0 ? 1L : 0L);
    if (ready)
        return 0;
    setup_client(t->client, e);
    if (t->follow_here) /* uvgo_http_do_ctx follows them (curl_follows) */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (t->plain)
        return 0;
    if ((err = build_fields(t, req->header)))
        return err;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->fields);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (has_body || strcmp(method, "POST") == 0 ||
               strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
        /* A body goes as curl's POST; a method named otherwise is set on
         * top (and its redirects are followed by uvgo_http_do_ctx: see
         * curl_follows). */
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        if (req->body_fn) {
            t->x.upload = req->body_fn;
            t->x.upload_arg = req->body_arg;
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             req->content_length > 0
                                 ? (curl_off_t)req->content_length
                                 : (curl_off_t)-1);
        } else {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body ? req->body_len : 0));
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    return 0;
}

/* Fills the response the caller sees once the final headers are in. */
static int fill_response(struct exchange *t)
{
    uvgo_http_response_t *r = &t->resp;
    uvgo__xfer_t *x = &t->x;
    curl_off_t len = -1;
    long redirects = 0, conns = 1;
    char *url = NULL;
    const char *enc;

    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
    r->status = (int)x->status;
    r->proto = x->proto;
    r->header = &t->header;
    r->content_length = len;
    r->url = url ? url : "";
    r->redirects = (int)redirects;
    r->reused = conns == 0;
    /* As Go's transport: a body it asked to be compressed arrives decoded,
     * without its Content-Encoding and Content-Length. */
    enc = uvgo_http_header_get(&t->header, "Content-Encoding");
    if (t->client->compression && enc && strcasecmp(enc, "gzip") == 0) {
        uvgo_http_header_del(&t->header, "Content-Encoding");
        uvgo_http_header_del(&t->header, "Content-Length");
        r->content_length = -1;
    }
    r->private_ = t;
    return 0;
}

/* Spare exchanges a loop keeps: a request then allocates nothing for its
 * exchange, its header map or the map's first arena chunk. */
#define EXCHANGES_KEPT 256

/* A fresh exchange, from cl's spares if it has some.  Thread: cl's loop. */
static struct exchange *exchange_new(uvgo__curl_loop_t *cl)
{
    struct exchange *t = cl->exchanges;
    if (t) {
        cl->exchanges = t->next;
        cl->nexchanges--;
        return t;
    }
    if ((t = uvgo__calloc(1, sizeof *t)))
        uvgo__http_header_init(&t->header, &t->header.own);
    return t;
}

static void exchange_destroy(struct exchange *t)
{
    uvgo__http_header_destroy(&t->header);
    uvgo__http_arena_free(&t->header.own);
    uvgo__free(t);
}

static void exchange_free(struct exchange *t)
{
    uvgo_http_client_t *c = t->client;
    int w = uvgo_worker_id();
    uvgo__curl_loop_t *here =
        w >= 0 && w < c->nloops
            ? atomic_load_explicit(&c->loops[w], memory_order_acquire)
            : NULL;
    unload(c, t->slot);
    /* Removes the transfer if it runs: curl lets go of fields. */
    uvgo__xfer_free(&t->x, here, t->plain);
    curl_slist_free_all(t->fields);
    uvgo__free(t->all);
    uvgo__free(t->next_url);
    uvgo_http_header_free(t->next_header);
    if (here && uvgo_loop() == here->loop && !here->closing &&
        here->nexchanges < EXCHANGES_KEPT) {
        uvgo_http_header_t h = t->header;
        uvgo__http_header_reset(&h);
        uvgo__http_arena_reset(&h.own);
        memset(t, 0, sizeof *t);
        t->header = h;
        t->header.arena = &t->header.own;
        t->next = here->exchanges;
        here->exchanges = t;
        here->nexchanges++;
    } else {
        exchange_destroy(t);
    }
    /* release: the client's free, on another thread, sees our last use. */
    atomic_fetch_sub_explicit(&c->live, 1, memory_order_release);
}

/* Whether curl follows this method's redirects as Go's client does.  curl
 * turns a POST into a GET on 301, 302 and 303 and keeps it, with its body,
 * on 307 and 308, as Go does; but any other method (PUT, DELETE...) it
 * keeps across a 301-303 as well, without its body (7.88), where Go sends
 * a GET.  Requests with those methods follow their redirects here. */
static int curl_follows(const char *method)
{
    return !method || !*method || strcmp(method, "GET") == 0 ||
           strcmp(method, "HEAD") == 0 || strcmp(method, "POST") == 0;
}

/* One request, up to its final headers: *tp is its exchange, NULL if it
 * failed before it had one.  Returns 0 or the error. */
static int exchange_run(uvgo_http_client_t *c, uvgo_http_client_request_t *req,
                        uvgo_ctx_t *ctx, int follow_here, struct exchange **tp)
{
    struct exchange *t;
    uvgo__curl_loop_t *cl;
    int err, ready, slot;

    *tp = NULL;
    if ((err = check_scheme(req->url)) || (err = uvgo_ctx_err(ctx)) ||
        (err = loop_pick(c, &cl, &slot)))
        return err;
    if (!(t = exchange_new(cl))) {
        unload(c, slot);
        return UVGO_ENOMEM;
    }
    *tp = t;
    t->slot = slot;
    atomic_fetch_add_explicit(&c->live, 1, memory_order_relaxed);
    t->client = c;
    t->x.cl = cl;
    t->x.ctx = uvgo_ctx_retain(ctx);
    t->x.hooks = &hooks;
    t->x.data = t;
    t->x.follow = c->max_redirects >= 0 && !follow_here;
    t->follow_here = follow_here;
    t->x.body_cap = c->body_buffer;
    t->x.stall_ms = c->stall_ms;
    /* Still on cl's loop: nothing has blocked since loop_for_self. */
    t->plain = is_plain(req);
    if (!(t->x.easy = uvgo__curl_easy_get(cl, t->plain, &ready)))
        return UVGO_ENOMEM;
    t->x.ready = ready;
    if ((err = setup(t, req, ready)) || (err = uvgo__xfer_start(&t->x)) ||
        (err = uvgo__xfer_wait(&t->x, UVGO__XFER_HEADERS, "http request")))
        return err;
    if (t->x.err)
        return t->x.err;
    return fill_response(t);
}

/* Host and port of url (the scheme's port when it names none), as
 * "host:port" in buf; "" if url does not parse. */
static void host_port(const char *url, char *buf, size_t len)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    buf[0] = '\0';
    if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
        !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
        !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
        snprintf(buf, len, "%s:%s", host, port);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* Go's shouldCopyHeaderOnRedirect: credentials go on to the first
 * request's host and port, or to a subdomain of it on the same port
 * ("host:port" strings, compared as Go's isDomainOrSubdomain does). */
static int trusted_target(const char *first, const char *to)
{
    char a[300], b[300];
    size_t na, nb;
    host_port(first, a, sizeof a);
    host_port(to, b, sizeof b);
    na = strlen(a);
    nb = strlen(b);
    if (!na || !nb)
        return 0;
    return strcasecmp(a, b) == 0 || (nb > na + 1 && b[nb - na - 1] == '.' &&
                                     strcasecmp(b + nb - na, a) == 0);
}

/* Go's refererForURL: the page redirected from, without its credentials
 * and fragment, and none from https to http.  NULL for none. */
static char *referer_for(const char *from, const char *to)
{
    CURLU *u;
    char *ref = NULL, *out = NULL;
    if (strncasecmp(from, "https:", 6) == 0 && strncasecmp(to, "http:", 5) == 0)
        return NULL;
    u = curl_url();
    if (u && !curl_url_set(u, CURLUPART_URL, from, 0) &&
        !curl_url_set(u, CURLUPART_USER, NULL, 0) &&
        !curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) &&
        !curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) &&
        !curl_url_get(u, CURLUPART_URL, &ref, 0))
        out = uvgo__strdup(ref);
    curl_free(ref);
    curl_url_cleanup(u);
    return out;
}

/* The fields of a request redirected from `from` to `to` (the first
 * request went to `first`), as Go's client sends them: the request's own,
 * less Authorization, WWW-Authenticate and cookies unless `to` is trusted
 * (trusted_target), and a Referer unless the request set one.  *out gets
 * a new map.  Returns 0 or UVGO_ENOMEM. */
static int redirect_fields(const uvgo_http_header_t *h, const char *first,
                           const char *from, const char *to,
                           uvgo_http_header_t **out)
{
    static const char *const strip[] = {"Authorization", "Www-Authenticate",
                                        "Cookie", "Cookie2"};
    int trusted = trusted_target(first, to), err;
    size_t n = h ? uvgo_http_header_len(h) : 0;
    char *ref;

    if ((err = uvgo_http_header_make(out)))
        return err;
    for (size_t i = 0; i < n && !err; i++) {
        const uvgo_http_field_t *f = uvgo_http_header_at(h, i);
        int keep = 1;
        for (size_t k = 0; !trusted && k < sizeof strip / sizeof strip[0]; k++)
            keep = keep && strcasecmp(f->name, strip[k]) != 0;
        if (keep)
            err = uvgo_http_header_add(*out, f->name, f->value);
    }
    if (!err && !uvgo_http_header_get(*out, "Referer") &&
        (ref = referer_for(from, to))) {
        err = uvgo_http_header_add(*out, "Referer", ref);
        uvgo__free(ref);
    }
    if (err) {
        uvgo_http_header_free(*out);
        *out = NULL;
    }
    return err;
}

int uvgo_http_do_ctx(uvgo_http_client_t *c, uvgo_http_client_request_t *req,
                     uvgo_http_response_t **out, uvgo_ctx_t *ctx)
{
    uvgo_http_client_request_t cur;
    struct exchange *t = NULL;
    char *url = NULL;               /* a redirect's URL, ours */
    uvgo_http_header_t *hdr = NULL; /* fields left for another host, ours */
    int err, follow_here;

    if (!c || !req || !out)
        return UVGO_EINVAL;
    *out = NULL;
    req->error[0] = '\0';
    if (!req->url) {
        err = UVGO_EINVAL;
        goto fail;
    }
    if (!uvgo_task_self()) {
        err = UVGO_ENOTTASK;
        goto fail;
    }
    follow_here = c->max_redirects >= 0 && !curl_follows(req->method);
    cur = *req;
    for (int hops = 0;; hops++) {
        char *where = NULL, *next;
        uvgo_http_header_t *next_hdr = NULL;
        int st;

        if ((err = exchange_run(c, &cur, ctx, follow_here, &t)))
            goto fail;
        /* Go's client redirects on 301, 302 and 303 with a GET and no
         * body, on 307 and 308 as the request was, unless its body was a
         * stream (it cannot be sent again: the response is returned as
         * it is, as Go does without GetBody).  Any other status, or no
         * Location, is the response. */
        st = t->resp.status;
        if (follow_here)
            curl_easy_getinfo(t->x.easy, CURLINFO_REDIRECT_URL, &where);
        if (!where ||
            !(st == 301 || st == 302 || st == 303 || st == 307 || st == 308) ||
            ((st == 307 || st == 308) && cur.body_fn)) {
            t->resp.redirects += hops;
            /* The final exchange keeps what its request pointed to. */
            t->next_url = url;
            t->next_header = hdr;
            *out = &t->resp;
            return 0;
        }
        if (hops == c->max_redirects) {
            err = UVGO_EREDIRECTS;
            snprintf(req->error, UVGO_HTTP_ERROR_MAX,
                     "stopped after %d redirects", hops);
            goto done;
        }
        if (!(next = uvgo__strdup(where)) ||
            redirect_fields(cur.header, req->url, cur.url, next, &next_hdr)) {
            uvgo__free(next);
            err = UVGO_ENOMEM;
            goto fail;
        }
        exchange_free(t);
        t = NULL;
        uvgo__free(url);
        cur.url = url = next;
        uvgo_http_header_free(hdr);
        cur.header = hdr = next_hdr;
        if (st != 307 && st != 308) {
            cur.method = "GET";
            cur.body = NULL;
            cur.body_len = 0;
            cur.body_fn = NULL;
            cur.content_length = 0;
        }
    }
fail:
    error_text(req->error, t ? &t->x : NULL, err);
done:
    if (t)
        exchange_free(t);
    uvgo__free(url);
    uvgo_http_header_free(hdr);
    return err;
}

int uvgo_http_do(uvgo_http_client_t *c, uvgo_http_client_request_t *req,
                 uvgo_http_response_t **out)
{
    return uvgo_http_do_ctx(c, req, out, NULL);
}

int uvgo_http_get_ctx(uvgo_http_client_t *c, const char *url,
                      uvgo_http_response_t **out, uvgo_ctx_t *ctx)
{
    uvgo_http_client_request_t req = {.method = "GET", .url = url};
    return uvgo_http_do_ctx(c, &req, out, ctx);
}

int uvgo_http_get(uvgo_http_client_t *c, const char *url,
                  uvgo_http_response_t **out)
{
    return uvgo_http_get_ctx(c, url, out, NULL);
}

int uvgo_http_post_ctx(uvgo_http_client_t *c, const char *url,
                       const char *content_type, const void *body, size_t len,
                       uvgo_http_response_t **out, uvgo_ctx_t *ctx)
{
    uvgo_http_client_request_t req = {.method = "POST",
                                      .url = url,
                                      .body = body ? body : "",
                                      .body_len = len};
    uvgo_http_header_t *h = NULL;
    int err;

    if (content_type) {
        if ((err = uvgo_http_header_make(&h)))
            return err;
        if ((err = uvgo_http_header_set(h, "Content-Type", content_type))) {
            uvgo_http_header_free(h);
            return err;
        }
        req.header = h;
    }
    err = uvgo_http_do_ctx(c, &req, out, ctx);
    /* curl copied the lines: the map may go now. */
    uvgo_http_header_free(h);
    return err;
}

int uvgo_http_post(uvgo_http_client_t *c, const char *url,
                   const char *content_type, const void *body, size_t len,
                   uvgo_http_response_t **out)
{
    return uvgo_http_post_ctx(c, url, content_type, body, len, out, NULL);
}

/* ---- responses
 * --------------------------------------------------------------- */

/* The result of a body that has no more bytes buffered: 0 at its end or
 * its error (kept in r->error as text). */
static int body_end(struct exchange *t)
{
    if (t->x.err)
        error_text(t->resp.error, &t->x, t->x.err);
    return t->x.err;
}

int uvgo_http_response_read(uvgo_http_response_t *r, void *buf, size_t cap)
{
    struct exchange *t;
    int err;

    if (!r || !r->private_ || (!buf && cap))
        return UVGO_EINVAL;
    t = r->private_;
    if (cap == 0)
        return 0;
    if (cap > INT_MAX)
        cap = INT_MAX;
    if ((err = uvgo__xfer_wait_body(&t->x))) {
        error_text(r->error, &t->x, err);
        return err;
    }
    if (t->x.blen > t->x.boff)
        return (int)uvgo__xfer_take(&t->x, buf, cap);
    return body_end(t);
}

int uvgo_http_response_read_all(uvgo_http_response_t *r, char **data,
                                size_t *len, size_t limit)
{
    struct exchange *t;
    size_t have = 0, size = 0, n;
    char *b;
    int err;

    if (!r || !r->private_ || !data || !len)
        return UVGO_EINVAL;
    t = r->private_;
    *data = NULL;
    *len = 0;
    if (r->content_length > 0 && (uint64_t)r->content_length > limit) {
        err = UVGO_EMSGSIZE;
        uvgo__xfer_abort(&t->x, err);
        error_text(r->error, NULL, err);
        return err;
    }
    uvgo__free(t->all);
    t->all = NULL;
    /* The common case: the whole body came with the headers. */
    if (uvgo__xfer_done(&t->x) && !t->x.err &&
        (t->all = uvgo__xfer_steal_body(&t->x, &have))) {
        if (have > limit) {
            error_text(r->error, NULL, UVGO_EMSGSIZE);
            return UVGO_EMSGSIZE;
        }
        t->all[have] = '\0';
        *data = t->all;
        *len = have;
        return 0;
    }
    for (;;) {
        if ((err = uvgo__xfer_wait_body(&t->x))) {
            error_text(r->error, &t->x, err);
            return err;
        }
        n = t->x.blen - t->x.boff;
        if (n == 0) {
            if ((err = body_end(t)))
                return err;
            break;
        }
        if (have + n > limit) {
            err = UVGO_EMSGSIZE;
            uvgo__xfer_abort(&t->x, err);
            error_text(r->error, NULL, err);
            return err;
        }
        if (have + n + 1 > size) {
            size_t want = size ? size * 2 : 4096;
            while (want < have + n + 1)
                want *= 2;
            if (!(b = uvgo__realloc(t->all, want))) {
                uvgo__xfer_abort(&t->x, UVGO_ENOMEM);
                return UVGO_ENOMEM;
            }
            t->all = b;
            size = want;
        }
        have += uvgo__xfer_take(&t->x, t->all + have, n);
    }
    if (!t->all && !(t->all = uvgo__malloc(1)))
        return UVGO_ENOMEM;
    t->all[have] = '\0';
    *data = t->all;
    *len = have;
    return 0;
}

void uvgo_http_response_free(uvgo_http_response_t *r)
{
    if (r && r->private_)
        exchange_free(r->private_);
}

/* ---- white-box test hooks
 * ---------------------------------------------------- */

uvgo__curl_loop_t *uvgo__http_test_loop(uvgo_http_client_t *c)
{
    uvgo__curl_loop_t *cl;
    return loop_for_self(c, &cl) ? NULL : cl;
}

uvgo__curl_stats_t *uvgo__http_test_stats(uvgo_http_client_t *c)
{
    return &c->stats;
}

int uvgo__http_test_load(uvgo_http_client_t *c, int worker)
{
    return atomic_load_explicit(&c->load[worker], memory_order_relaxed);
}

size_t uvgo__http_test_buffer_size(uvgo_http_response_t *r)
{
    return ((struct exchange *)r->private_)->x.bsize;
}
