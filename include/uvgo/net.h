/* uvgo/net.h: Go's net package for tasks: addresses, DNS, dialing,
 * listeners, a server loop and UDP.  Connections are uvgo_conn_t
 * (uvgo/io.h).
 *
 * Networks and addresses follow Go.  Networks: "tcp", "tcp4", "tcp6",
 * "unix" for streams; "udp", "udp4", "udp6" for datagrams.  Addresses:
 * "host:port", "[::1]:80", ":8080" (every local address), where host is a
 * literal IP or a name and port a number or a service name ("http"); for
 * "unix", a path.  Anything else is UVGO_EINVAL: "1.2.3.4" without a port,
 * port 70000, "[::1", "", an unknown network.
 *
 * Names resolve through libuv's getaddrinfo on the thread pool.  Failures
 * are libuv's UV_EAI_* codes (UVGO_EAI_NONAME...), which uvgo_strerror()
 * names.  Every call that waits has a _ctx form; a lookup abandoned by its
 * context returns at once and its late result is freed when it arrives.
 *
 * Dialing tries a name's addresses in order.  With both IPv4 and IPv6
 * addresses it races the families as Go does (RFC 8305 "happy eyeballs"):
 * the first family starts at once, the other 300 ms later or as soon as
 * the first has failed; the first connection made wins and the others are
 * closed.  Dialed and accepted TCP connections have Nagle off
 * (TCP_NODELAY) and keep-alive probes every 15 s, Go's defaults.
 *
 * Serving uses every worker: a listener's socket lives on the loop of the
 * task that made it, and uvgo_serve hands accepted TCP connections to the
 * workers in turn; each then lives on its worker's loop, in the task that
 * serves it (see listen.c for the measurement behind this choice against
 * one SO_REUSEPORT socket per worker).  Connections from
 * uvgo_listener_accept and from Unix listeners live on the listener's
 * loop.
 */
#ifndef UVGO_NET_H
#define UVGO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "context.h"
#include "errno.h"
#include "io.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Addresses and names                                                      */
/* ------------------------------------------------------------------------ */

/* Go's SplitHostPort: "host:port", "[host]:port" -> host and port, each
 * NUL-terminated.  Returns 0, UVGO_EINVAL (no port, a stray bracket or
 * colon) or UVGO_ENOBUFS (a buffer is too small).
 * Owner: host and port are the caller's.  Thread: any. */
UVGO_EXTERN int uvgo_split_host_port(const char *hostport, char *host,
                                     size_t hostlen, char *port,
                                     size_t portlen);

/* Parses a literal address of `network` ("tcp", "udp6", "unix"...) with no
 * name to look up: "127.0.0.1:80", "[::1]:0", ":80" (the unspecified
 * address of the network's family; IPv4 for "tcp").  Returns 0, UVGO_EINVAL
 * (malformed, a name, a port out of range) or UVGO_EAFNOSUPPORT (an IPv6
 * address for "tcp4"...).  Owner: *out is the caller's.  Thread: any. */
UVGO_EXTERN int uvgo_addr_parse(const char *network, const char *address,
                                struct sockaddr_storage *out);

/* Resolves `address` for `network` into at most max socket addresses, in
 * the order a dial tries them, names and service names included.  Returns
 * the count (>= 1), UVGO_EINVAL, a UVGO_EAI_* code, or the context's
 * error.  Owner: out is the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_resolve(const char *network, const char *address,
                             struct sockaddr_storage *out, size_t max);
UVGO_EXTERN int uvgo_resolve_ctx(const char *network, const char *address,
                                 struct sockaddr_storage *out, size_t max,
                                 uvgo_ctx_t *ctx);

/* Go's LookupHost/LookupIP: the IPv4 and IPv6 addresses of host (port 0),
 * at most max of them, from the system's resolver (getaddrinfo on libuv's
 * thread pool).  "localhost" and names under ".localhost" that the system
 * does not know (no /etc/hosts, as in a minimal container) are 127.0.0.1
 * and ::1 (RFC 6761); every lookup and dial does the same.  Returns the
 * count (>= 1), UVGO_EINVAL, a UVGO_EAI_* code or the context's error.
 * Owner: out is the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_lookup_host(const char *host, struct sockaddr_storage *out,
                                 size_t max);
UVGO_EXTERN int uvgo_lookup_host_ctx(const char *host,
                                     struct sockaddr_storage *out, size_t max,
                                     uvgo_ctx_t *ctx);

/* Go's LookupPort: the port of a number or service name ("http") for
 * "tcp" or "udp" networks, from the system's services database, else (no
 * /etc/services) Go's short built-in list: http, https, ssh, smtp, ftp,
 * domain (udp) and a few more.  Returns the port (0-65535), UVGO_EINVAL or a
 * UVGO_EAI_* code.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_lookup_port(const char *network, const char *service);
UVGO_EXTERN int uvgo_lookup_port_ctx(const char *network, const char *service,
                                     uvgo_ctx_t *ctx);

/* Go's LookupAddr: the name of an address (reverse lookup) in host, NUL-
 * terminated.  Returns 0, UVGO_EINVAL, a UVGO_EAI_* code (UVGO_EAI_NONAME
 * when it has none) or the context's error.
 * Owner: host is the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_lookup_addr(const struct sockaddr *sa, char *host,
                                 size_t len);
UVGO_EXTERN int uvgo_lookup_addr_ctx(const struct sockaddr *sa, char *host,
                                     size_t len, uvgo_ctx_t *ctx);

/* ------------------------------------------------------------------------ */
/* Dialing                                                                  */
/* ------------------------------------------------------------------------ */

/* Go's net.Dialer; all-zero means Go's defaults. */
typedef struct uvgo_dialer {
    uvgo_duration_t timeout;        /* whole dial, lookups included; 0: none */
    const struct sockaddr *local;   /* bind to this first; NULL: any */
    uvgo_duration_t keep_alive;     /* probe period; 0: 15 s; < 0: off */
    uvgo_duration_t fallback_delay; /* happy eyeballs; 0: 300 ms; < 0: one
                                       family after the other */
    int nagle;                      /* 1: leave Nagle's algorithm on */
} uvgo_dialer_t;

/* Connects to `address` on `network` ("tcp", "tcp4", "tcp6", "unix") with
 * the default dialer.  The connection lives on the calling task's loop.
 * Returns 0, UVGO_EINVAL (a bad network or address), a UVGO_EAI_* code,
 * UVGO_ECONNREFUSED, UVGO_ENETUNREACH, UVGO_EHOSTUNREACH, UVGO_ETIMEDOUT,
 * UVGO_ENOENT (no such Unix socket), the context's error or another libuv
 * error (the last address's when all fail).  Owner: the caller, free with
 * uvgo_conn_free().  Thread: any task. */
UVGO_EXTERN int uvgo_dial(uvgo_conn_t **out, const char *network,
                          const char *address);
UVGO_EXTERN int uvgo_dial_ctx(uvgo_conn_t **out, const char *network,
                              const char *address, uvgo_ctx_t *ctx);

/* The same with a dialer (NULL: the defaults).
 * Owner: *out is the caller's (uvgo_conn_free); d is read during the call only.
 * Thread: any task. */
UVGO_EXTERN int uvgo_dialer_dial_ctx(const uvgo_dialer_t *d, uvgo_conn_t **out,
                                     const char *network, const char *address,
                                     uvgo_ctx_t *ctx);

/* ------------------------------------------------------------------------ */
/* Listeners and servers                                                    */
/* ------------------------------------------------------------------------ */

typedef struct uvgo_listener uvgo_listener_t;

/* Listens on `address` ("tcp", "tcp4", "tcp6", "unix").  Port 0 picks a
 * free port (uvgo_listener_port tells which).  A Unix socket's path is
 * unlinked again when the listener closes.  Returns 0, UVGO_EINVAL,
 * UVGO_EADDRINUSE, a UVGO_EAI_* code or another libuv error.
 * Owner: the caller, free with uvgo_listener_free().  Thread: any task. */
UVGO_EXTERN int uvgo_listen(uvgo_listener_t **out, const char *network,
                            const char *address);

/* Waits for the next connection.  Returns 0 with *out set (the caller's,
 * free with uvgo_conn_free), UVGO_ECLOSED once the listener is closed
 * (also when that happens while waiting), or the context's error.  When
 * the process has no descriptor left, libuv sheds load: it accepts the
 * waiting connections with a reserve descriptor and closes them at once,
 * and the accept keeps waiting; only if it cannot do that does the accept
 * return UVGO_EMFILE or UVGO_ENFILE (try again later).
 * Owner: *out is the caller's (uvgo_conn_free).  Thread: any task. */
UVGO_EXTERN int uvgo_listener_accept(uvgo_listener_t *l, uvgo_conn_t **out);
UVGO_EXTERN int uvgo_listener_accept_ctx(uvgo_listener_t *l, uvgo_conn_t **out,
                                         uvgo_ctx_t *ctx);

/* The address it listens on, as a socket address or as text.  Returns 0 /
 * the text's length, UVGO_EINVAL or UVGO_ENOBUFS.
 * Owner: *sa / buf are the caller's.  Thread: any. */
UVGO_EXTERN int uvgo_listener_addr(uvgo_listener_t *l,
                                   struct sockaddr_storage *sa);
UVGO_EXTERN int uvgo_listener_name(uvgo_listener_t *l, char *buf, size_t len);

/* The TCP port it listens on, 0 for a Unix socket, or UVGO_EINVAL.
 * Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_listener_port(uvgo_listener_t *l);

/* Stops listening: tasks blocked in accept return UVGO_ECLOSED at once, so
 * does every later accept; connections accepted but not yet taken are
 * closed.  Returns 0 or UVGO_ECLOSED when already closed.  The object
 * stays valid until uvgo_listener_free().
 * Owner: no change; free with uvgo_listener_free().  Thread: any task. */
UVGO_EXTERN int uvgo_listener_close(uvgo_listener_t *l);

/* Closes l if open and frees it once nothing uses it.  NULL is ignored.
 * Owner: consumes the handle.  Thread: any task. */
UVGO_EXTERN void uvgo_listener_free(uvgo_listener_t *l);

/* Serves one connection.  The connection is the handler's for the call;
 * uvgo_serve closes and frees it after the handler returns. */
typedef void (*uvgo_conn_fn)(uvgo_conn_t *c, void *arg);

/* Go's Serve: accepts connections on l and runs fn(conn, arg) in a task of
 * its own per connection, on the workers in turn, until ctx is done
 * (or l is closed, or fails).  On EMFILE and other temporary accept errors
 * it backs off as Go does (5 ms doubling up to 1 s) instead of spinning.
 * Shutdown: it stops accepting and closes l, lets live connections run
 * for `grace` (< 0: as long as they take), then closes them (their
 * handlers see UVGO_ECLOSED) and returns once every handler has returned.
 * Returns the context's error, UVGO_ECLOSED (l was closed), UVGO_EBUSY
 * (l is served already) or an accept error.
 * Owner: l stays the caller's (closed, not freed); each connection is
 * the handler's during its call.
 * Thread: any task. */
UVGO_EXTERN int uvgo_serve(uvgo_listener_t *l, uvgo_conn_fn fn, void *arg,
                           uvgo_ctx_t *ctx, uvgo_duration_t grace);

/* ------------------------------------------------------------------------ */
/* UDP                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct uvgo_udp uvgo_udp_t;

/* Set in *flags by a receive whose datagram did not fit: the rest of it
 * was discarded. */
#define UVGO_UDP_TRUNCATED 1

/* Go's ListenUDP: a socket bound to `address` ("udp", "udp4", "udp6";
 * port 0 picks one).  Returns 0, UVGO_EINVAL, UVGO_EADDRINUSE or another
 * error.  Owner: the caller, free with uvgo_udp_free().  Thread: any
 * task; the socket lives on the calling task's loop. */
UVGO_EXTERN int uvgo_udp_bind(uvgo_udp_t **out, const char *network,
                              const char *address);

/* Go's DialUDP: a socket connected to `address` (names allowed), which
 * sends there with uvgo_udp_send and receives only from there.  Returns as
 * uvgo_udp_bind, or a lookup error.
 * Owner: the caller's, free with uvgo_udp_free().  Thread: any task. */
UVGO_EXTERN int uvgo_udp_dial(uvgo_udp_t **out, const char *network,
                              const char *address);

/* Sends one datagram to `to` (a connected socket: NULL).  Returns 0,
 * UVGO_EMSGSIZE, UVGO_ECLOSED, the context's error or another error.
 * Owner: buf stays the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_udp_send_to(uvgo_udp_t *u, const void *buf, size_t len,
                                 const struct sockaddr *to);
UVGO_EXTERN int uvgo_udp_send_to_ctx(uvgo_udp_t *u, const void *buf, size_t len,
                                     const struct sockaddr *to,
                                     uvgo_ctx_t *ctx);

/* Receives one datagram into buf: returns its length (0 for an empty one)
 * with *from (if not NULL) its sender and *flags (if not NULL)
 * UVGO_UDP_TRUNCATED when it was longer than len, or UVGO_ECLOSED, the
 * context's error or another error.
 * Owner: buf and *from are the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_udp_recv_from(uvgo_udp_t *u, void *buf, size_t len,
                                   struct sockaddr_storage *from, int *flags);
UVGO_EXTERN int uvgo_udp_recv_from_ctx(uvgo_udp_t *u, void *buf, size_t len,
                                       struct sockaddr_storage *from,
                                       int *flags, uvgo_ctx_t *ctx);

/* The local address.  Returns 0, UVGO_ECLOSED or an error.
 * Owner: *sa is the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_udp_local_addr(uvgo_udp_t *u, struct sockaddr_storage *sa);

/* Closes the socket: blocked calls return UVGO_ECLOSED at once, and so do
 * later ones.  Returns 0 or UVGO_ECLOSED.
 * Owner: no change; free with uvgo_udp_free().  Thread: any task. */
UVGO_EXTERN int uvgo_udp_close(uvgo_udp_t *u);

/* Closes u if open and frees it once nothing uses it.  NULL is ignored.
 * Owner: consumes the handle.  Thread: any task. */
UVGO_EXTERN void uvgo_udp_free(uvgo_udp_t *u);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_NET_H */
