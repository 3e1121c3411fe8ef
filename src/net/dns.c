/* dns.c: name and service lookups on libuv's thread pool (uvgo/net.h).
 *
 * Each lookup is a request of io.h on the heap, shared by the waiting task
 * and the callback: a task whose context ends returns at once (cancelling
 * the request if it has not started), and the callback frees the record
 * with its late result.  getaddrinfo's results are copied out into the
 * caller's array, so nothing of libuv's outlives the call.
 */
#include <string.h>
#include <strings.h>

#include "net/net.h"

struct lookup {
    uvgo__ioreq_t io;
    union {
        uv_getaddrinfo_t gai;
        uv_getnameinfo_t gni;
    } req;
    int status;
    struct addrinfo *res; /* getaddrinfo's, until freed */
};

static void lookup_free(uvgo__ioreq_t *io)
{
    struct lookup *l = uvgo__container_of(io, struct lookup, io);
    if (l->res)
        uv_freeaddrinfo(l->res);
    uvgo__free(l);
}

static void on_getaddrinfo(uv_getaddrinfo_t *req, int status,
                           struct addrinfo *res)
{
    struct lookup *l = req->data;
    l->status = status;
    l->res = res;
    uvgo__ioreq_complete(&l->io);
}

static void on_getnameinfo(uv_getnameinfo_t *req, int status, const char *host,
                           const char *service)
{
    struct lookup *l = req->data;
    (void)host; /* it is req->host, which lives as long as l */
    (void)service;
    l->status = status;
    uvgo__ioreq_complete(&l->io);
}

/* Starts the request with `start`, waits, and returns 0 with l still the
 * caller's (release it with uvgo__ioreq_release), or an error with l gone
 * (freed, or left to its callback). */
static int lookup_run(struct lookup *l, uvgo_ctx_t *ctx,
                      int (*start)(uv_loop_t *loop, struct lookup *l,
                                   const void *arg),
                      const void *arg)
{
    uv_loop_t *loop =
        uvgo__ioreq_init(&l->io, 1, (uv_req_t *)&l->req, lookup_free);
    int err;

    l->req.gai.data = l;
    if ((err = start(loop, l, arg))) {
        uvgo__free(l);
        return err;
    }
    if ((err = uvgo__ioreq_wait(&l->io, ctx, "dns lookup")))
        return err;
    if (l->status) {
        err = l->status;
        uvgo__ioreq_release(&l->io);
    }
    return err;
}

struct gai_args {
    const char *host, *service;
    struct addrinfo hints;
};

static int start_getaddrinfo(uv_loop_t *loop, struct lookup *l, const void *arg)
{
    const struct gai_args *a = arg;
    return uv_getaddrinfo(loop, &l->req.gai, on_getaddrinfo, a->host,
                          a->service, &a->hints);
}

/* 1 for "localhost" and names under ".localhost" (any case, an optional
 * final dot): RFC 6761's loopback names. */
static int is_localhost(const char *host)
{
    static const char lh[] = "localhost";
    size_t n = strlen(host), k = sizeof lh - 1;

    if (n > 0 && host[n - 1] == '.')
        n--;
    if (n < k || strncasecmp(host + n - k, lh, k) != 0)
        return 0;
    return n == k || host[n - k - 1] == '.';
}

/* The answer for a loopback name the system's resolver did not know (a
 * container without /etc/hosts): RFC 6761 6.3 says such names always mean
 * the loopback address, as curl and systemd-resolved answer them.  The
 * system's answer, when it has one, comes first and wins. */
static int localhost_fallback(int family, struct sockaddr_storage *out,
                              size_t max)
{
    size_t n = 0;

    if (family != AF_INET6 && n < max)
        uvgo__addr_empty_host(AF_INET, 0, &out[n++]);
    if (family != AF_INET && n < max)
        uvgo__addr_empty_host(AF_INET6, 0, &out[n++]);
    return (int)n;
}

/* Go's built-in services (net/lookup.go), for a system without
 * /etc/services (a minimal container): the system's database wins when it
 * has one. */
static const struct {
    const char *name;
    int socktype, port;
} known_services[] = {
    {"domain", SOCK_DGRAM, 53},        {"ftp", SOCK_STREAM, 21},
    {"ftps", SOCK_STREAM, 990},        {"gopher", SOCK_STREAM, 70},
    {"http", SOCK_STREAM, 80},         {"https", SOCK_STREAM, 443},
    {"imap2", SOCK_STREAM, 143},       {"imap3", SOCK_STREAM, 220},
    {"imaps", SOCK_STREAM, 993},       {"pop3", SOCK_STREAM, 110},
    {"pop3s", SOCK_STREAM, 995},       {"smtp", SOCK_STREAM, 25},
    {"submissions", SOCK_STREAM, 465}, {"ssh", SOCK_STREAM, 22},
    {"telnet", SOCK_STREAM, 23},
};

/* A passive address of `family` with the port of a known service, or 0. */
static int service_fallback(const char *service, int family, int socktype,
                            struct sockaddr_storage *out)
{
    for (size_t i = 0; i < sizeof known_services / sizeof known_services[0];
         i++) {
        if (known_services[i].socktype != socktype ||
            strcasecmp(known_services[i].name, service) != 0)
            continue;
        uvgo__addr_empty_host(family, 1, out);
        uvgo__addr_set_port(out, known_services[i].port);
        return 1;
    }
    return 0;
}

static int not_found(int err)
{
    return err == UVGO_EAI_NONAME || err == UVGO_EAI_SERVICE ||
           err == UVGO_EAI_NODATA || err == UVGO_EAI_AGAIN ||
           err == UVGO_EAI_FAIL || err == UVGO_EAI_ADDRFAMILY;
}

int uvgo__getaddrinfo(const char *host, const char *service, int family,
                      int socktype, struct sockaddr_storage *out, size_t max,
                      uvgo_ctx_t *ctx)
{
    struct gai_args a = {host, service, {0}};
    struct lookup *l;
    uvgo_chan_t *done;
    size_t n = 0;
    int err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    a.hints.ai_family =
        family == AF_INET || family == AF_INET6 ? family : AF_UNSPEC;
    a.hints.ai_socktype = socktype;
    a.hints.ai_flags = host ? AI_ADDRCONFIG : AI_PASSIVE;
    if (!(l = uvgo__calloc(1, sizeof *l)))
        return UVGO_ENOMEM;
    if ((err = lookup_run(l, ctx, start_getaddrinfo, &a))) {
        if (host && !service && not_found(err) && is_localhost(host))
            return localhost_fallback(family, out, max);
        if (!host && service && not_found(err) &&
            service_fallback(service, family, socktype, out))
            return 1;
        return err;
    }
    for (struct addrinfo *ai = l->res; ai && n < max; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof *out)
            continue;
        memset(&out[n], 0, sizeof out[n]);
        memcpy(&out[n], ai->ai_addr, ai->ai_addrlen);
        n++;
    }
    uvgo__ioreq_release(&l->io);
    if (n == 0 && host && !service && is_localhost(host))
        return localhost_fallback(family, out, max);
    return n ? (int)n : UVGO_EAI_NODATA;
}

int uvgo_lookup_host_ctx(const char *host, struct sockaddr_storage *out,
                         size_t max, uvgo_ctx_t *ctx)
{
    struct sockaddr_storage tmp;

    if (!host || !*host || !out || max == 0)
        return UVGO_EINVAL;
    /* A literal is its own answer. */
    memset(&tmp, 0, sizeof tmp);
    if (uv_ip4_addr(host, 0, (struct sockaddr_in *)&tmp) == 0 ||
        uv_ip6_addr(host, 0, (struct sockaddr_in6 *)&tmp) == 0) {
        if (!uvgo_task_self())
            return UVGO_ENOTTASK;
        out[0] = tmp;
        return 1;
    }
    return uvgo__getaddrinfo(host, NULL, AF_UNSPEC, SOCK_STREAM, out, max, ctx);
}

int uvgo_lookup_host(const char *host, struct sockaddr_storage *out, size_t max)
{
    return uvgo_lookup_host_ctx(host, out, max, NULL);
}

int uvgo_lookup_port_ctx(const char *network, const char *service,
                         uvgo_ctx_t *ctx)
{
    struct uvgo__net n;
    struct sockaddr_storage sa;
    int err;

    if (!service || uvgo__net_parse(network, &n) || n.kind == NET_UNIX)
        return UVGO_EINVAL;
    if ((err = uvgo__getaddrinfo(NULL, service, n.family,
                                 n.kind == NET_UDP ? SOCK_DGRAM : SOCK_STREAM,
                                 &sa, 1, ctx)) < 0)
        return err;
    return uvgo__addr_port(&sa);
}

int uvgo_lookup_port(const char *network, const char *service)
{
    return uvgo_lookup_port_ctx(network, service, NULL);
}

static int start_getnameinfo(uv_loop_t *loop, struct lookup *l, const void *arg)
{
    return uv_getnameinfo(loop, &l->req.gni, on_getnameinfo, arg, NI_NAMEREQD);
}

int uvgo_lookup_addr_ctx(const struct sockaddr *sa, char *host, size_t len,
                         uvgo_ctx_t *ctx)
{
    struct lookup *l;
    uvgo_chan_t *done;
    size_t n;
    int err;

    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    if (!sa || !host || len == 0 ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return UVGO_EINVAL;
    if (!(l = uvgo__calloc(1, sizeof *l)))
        return UVGO_ENOMEM;
    if ((err = lookup_run(l, ctx, start_getnameinfo, sa)))
        return err;
    n = strlen(l->req.gni.host);
    if (n < len)
        memcpy(host, l->req.gni.host, n + 1);
    else
        err = UVGO_ENOBUFS;
    uvgo__ioreq_release(&l->io);
    return err;
}

int uvgo_lookup_addr(const struct sockaddr *sa, char *host, size_t len)
{
    return uvgo_lookup_addr_ctx(sa, host, len, NULL);
}
