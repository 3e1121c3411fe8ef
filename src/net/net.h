/* net.h: what the net layer's files share: networks, resolution
 * (addr.c, dns.c), and the connection internals of the io layer. */
#ifndef UVGO_NET_INTERNAL_H
#define UVGO_NET_INTERNAL_H

#include "io/stream.h"

/* A parsed network name. */
enum { NET_TCP = 1, NET_UDP, NET_UNIX };

struct uvgo__net {
    int kind;   /* NET_* */
    int family; /* AF_UNSPEC ("tcp", "udp"), AF_INET, AF_INET6, AF_UNIX */
};

/* Parses "tcp", "tcp4", ... "unix".  Returns 0 or UVGO_EINVAL. */
int uvgo__net_parse(const char *network, struct uvgo__net *n);

/* The most addresses a name resolves to for a dial or a listen. */
#define UVGO__ADDRS_MAX 16

/* Resolves "host:port" for n (not NET_UNIX) into at most max addresses:
 * literals without a lookup, names through getaddrinfo.  An empty host is
 * the unspecified address for a listener (`passive`), the loopback address
 * for a dial.  Returns the count (>= 1) or an error; a context that ends
 * first gives its error.  Thread: a task. */
int uvgo__resolve(const struct uvgo__net *n, const char *address,
                  struct sockaddr_storage *out, size_t max, int passive,
                  uvgo_ctx_t *ctx);

/* getaddrinfo for (host, service) on the thread pool, bounded by ctx.
 * Returns the count of addresses stored (>= 1) or an error.  With a NULL
 * host it looks up the service's port alone. */
int uvgo__getaddrinfo(const char *host, const char *service, int family,
                      int socktype, struct sockaddr_storage *out, size_t max,
                      uvgo_ctx_t *ctx);

/* Fills a Unix socket address from a path.  Returns 0 or UVGO_EINVAL (empty
 * or too long). */
int uvgo__unix_addr(const char *path, struct sockaddr_storage *out);

/* The port of an IPv4 or IPv6 address, and setting it. */
int uvgo__addr_port(const struct sockaddr_storage *sa);
void uvgo__addr_set_port(struct sockaddr_storage *sa, int port);
/* The address every empty host stands for, port 0: the unspecified address
 * to listen on (passive), loopback to dial; IPv4 unless family is
 * AF_INET6.  Also the loopback answer for "localhost" (dns.c). */
void uvgo__addr_empty_host(int family, int passive,
                           struct sockaddr_storage *out);

/* Go's defaults for a new TCP connection: Nagle off, keep-alive probes
 * every 15 s.  Loop thread. */
void uvgo__tcp_defaults(uv_tcp_t *tcp);

#endif /* UVGO_NET_INTERNAL_H */
