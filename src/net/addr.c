/* addr.c: networks and addresses in Go's syntax (uvgo/net.h).
 *
 * "host:port" splits at the last colon; a host with colons (IPv6) must be
 * bracketed.  A numeric port must be 0-65535; anything else that is not
 * all digits is a service name for getaddrinfo.  Literal IPs never reach
 * the resolver, so dialing "127.0.0.1:80" costs no thread-pool round
 * trip.
 */
#include <string.h>
#include <sys/un.h>

#include "net/net.h"

int uvgo__net_parse(const char *network, struct uvgo__net *n)
{
    static const struct {
        const char *name;
        struct uvgo__net net;
    } known[] = {
        {"tcp", {NET_TCP, AF_UNSPEC}}, {"tcp4", {NET_TCP, AF_INET}},
        {"tcp6", {NET_TCP, AF_INET6}}, {"udp", {NET_UDP, AF_UNSPEC}},
        {"udp4", {NET_UDP, AF_INET}},  {"udp6", {NET_UDP, AF_INET6}},
        {"unix", {NET_UNIX, AF_UNIX}},
    };
    for (size_t i = 0; network && i < uvgo__countof(known); i++) {
        if (strcmp(network, known[i].name) == 0) {
            *n = known[i].net;
            return 0;
        }
    }
    return UVGO_EINVAL;
}

static int copy_part(const char *p, size_t n, char *out, size_t len)
{
    if (n >= len)
        return UVGO_ENOBUFS;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int uvgo_split_host_port(const char *hostport, char *host, size_t hostlen,
                         char *port, size_t portlen)
{
    const char *colon, *h = hostport, *hend;
    int err;

    if (!hostport || !host || !port)
        return UVGO_EINVAL;
    colon = strrchr(hostport, ':');
    if (!colon)
        return UVGO_EINVAL; /* missing port */
    hend = colon;
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        /* "[host]:port" exactly. */
        if (!close || close + 1 != colon)
            return UVGO_EINVAL;
        h = hostport + 1;
        hend = close;
    } else if (memchr(hostport, ':', (size_t)(colon - hostport)) ||
               memchr(hostport, '[', (size_t)(colon - hostport)) ||
               memchr(hostport, ']', (size_t)(colon - hostport))) {
        return UVGO_EINVAL; /* too many colons, or a stray bracket */
    }
    if (strchr(colon + 1, '[') || strchr(colon + 1, ']'))
        return UVGO_EINVAL;
    if ((err = copy_part(h, (size_t)(hend - h), host, hostlen)))
        return err;
    return copy_part(colon + 1, strlen(colon + 1), port, portlen);
}

/* A port that is all digits: its value, or UVGO_EINVAL out of range;
 * 1 in *named for a service name. */
static int numeric_port(const char *port, int *named)
{
    long v = 0;

    *named = 0;
    if (!*port)
        return 0;
    if ((*port == '-' || *port == '+') && port[1] >= '0' && port[1] <= '9')
        return UVGO_EINVAL; /* Go's "invalid port" */
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9') {
            *named = 1;
            return 0;
        }
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return UVGO_EINVAL;
    }
    return (int)v;
}

int uvgo__addr_port(const struct sockaddr_storage *sa)
{
    if (sa->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

void uvgo__addr_set_port(struct sockaddr_storage *sa, int port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    else if (sa->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

int uvgo__unix_addr(const char *path, struct sockaddr_storage *out)
{
    struct sockaddr_un *un = (struct sockaddr_un *)out;
    size_t n = path ? strlen(path) : 0;

    if (n == 0 || n >= sizeof un->sun_path)
        return UVGO_EINVAL;
    memset(out, 0, sizeof *out);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    return 0;
}

/* A literal IP of the allowed family into *out (port 0).  Returns 0,
 * UVGO_EINVAL (not a literal) or UVGO_EAFNOSUPPORT (the wrong family). */
static int parse_ip(const char *host, int family, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, 0, (struct sockaddr_in *)out) == 0)
        return family == AF_INET6 ? UVGO_EAFNOSUPPORT : 0;
    if (!strchr(host, '%') &&
        uv_ip6_addr(host, 0, (struct sockaddr_in6 *)out) == 0)
        return family == AF_INET ? UVGO_EAFNOSUPPORT : 0;
    return UVGO_EINVAL;
}

void uvgo__addr_empty_host(int family, int passive,
                           struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_family = AF_INET6;
        if (!passive)
            in6->sin6_addr = in6addr_loopback;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
    }
}

int uvgo_addr_parse(const char *network, const char *address,
                    struct sockaddr_storage *out)
{
    char host[256], port[64];
    struct uvgo__net n;
    int p, named, err;

    if (!address || !out || uvgo__net_parse(network, &n))
        return UVGO_EINVAL;
    if (n.kind == NET_UNIX)
        return uvgo__unix_addr(address, out);
    if (uvgo_split_host_port(address, host, sizeof host, port, sizeof port))
        return UVGO_EINVAL;
    if ((p = numeric_port(port, &named)) < 0 || named)
        return UVGO_EINVAL;
    if (!*host)
        uvgo__addr_empty_host(n.family, 1, out);
    else if ((err = parse_ip(host, n.family, out)))
        return err;
    uvgo__addr_set_port(out, p);
    return 0;
}

int uvgo__resolve(const struct uvgo__net *n, const char *address,
                  struct sockaddr_storage *out, size_t max, int passive,
                  uvgo_ctx_t *ctx)
{
    char host[256], port[64];
    int p, named, count, err;
    int socktype = n->kind == NET_UDP ? SOCK_DGRAM : SOCK_STREAM;

    if (!address || max == 0 ||
        uvgo_split_host_port(address, host, sizeof host, port, sizeof port))
        return UVGO_EINVAL;
    if ((p = numeric_port(port, &named)) < 0)
        return p;
    if (named) {
        struct sockaddr_storage svc;
        if ((err = uvgo__getaddrinfo(NULL, port, n->family, socktype, &svc, 1,
                                     ctx)) < 0)
            return err;
        p = uvgo__addr_port(&svc);
    }
    count = 1;
    if (!*host)
        uvgo__addr_empty_host(n->family, passive, out);
    else if ((err = parse_ip(host, n->family, out)) == UVGO_EINVAL)
        count =
            uvgo__getaddrinfo(host, NULL, n->family, socktype, out, max, ctx);
    else if (err)
        return err;
    for (int i = 0; i < count; i++)
        uvgo__addr_set_port(&out[i], p);
    return count;
}

int uvgo_resolve_ctx(const char *network, const char *address,
                     struct sockaddr_storage *out, size_t max, uvgo_ctx_t *ctx)
{
    struct uvgo__net n;

    if (!out || uvgo__net_parse(network, &n))
        return UVGO_EINVAL;
    if (n.kind == NET_UNIX)
        return max && uvgo__unix_addr(address, out) == 0 ? 1 : UVGO_EINVAL;
    return uvgo__resolve(&n, address, out, max, 0, ctx);
}

int uvgo_resolve(const char *network, const char *address,
                 struct sockaddr_storage *out, size_t max)
{
    return uvgo_resolve_ctx(network, address, out, max, NULL);
}

void uvgo__tcp_defaults(uv_tcp_t *tcp)
{
    uv_tcp_nodelay(tcp, 1);
    uv_tcp_keepalive(tcp, 1, 15);
}
