/* uvgo/errno.h: error codes.
 *
 * Every uvgo call that can fail returns an int: 0 (or a count) on success and a
 * negative code on failure.  Where libuv has a code for the condition, ours is
 * the same number (UVGO_EINVAL == UV_EINVAL), so a libuv status passes straight
 * through a uvgo call and uv_strerror() and uvgo_strerror() agree.  uvgo adds
 * codes only for conditions Go distinguishes and libuv has no word for.
 *
 * uvgo never reports errors through errno: a task may resume on another thread,
 * and errno is per thread.
 */
#ifndef UVGO_ERRNO_H
#define UVGO_ERRNO_H

#include <uv.h>

/* Marks every public declaration: libuvgo is built with hidden visibility
 * and exports exactly these (libuv's UV_EXTERN). */
#if defined(__GNUC__) || defined(__clang__)
#define UVGO_EXTERN __attribute__((visibility("default")))
#else
#define UVGO_EXTERN /* nothing */
#endif

/* XX(name, value, message).  The one table behind the enum, uvgo_strerror()
 * and uvgo_err_name().  uvgo's own codes sit far from libuv's ranges
 * (-errno, -3000 for getaddrinfo, -4000 on Windows). */
#define UVGO_ERRNO_MAP(XX)                                                     \
    XX(EINVAL, UV_EINVAL, "invalid argument")                                  \
    XX(ENOMEM, UV_ENOMEM, "not enough memory")                                 \
    XX(EAGAIN, UV_EAGAIN, "resource temporarily unavailable")                  \
    XX(EBUSY, UV_EBUSY, "resource busy or locked")                             \
    XX(ECANCELED, UV_ECANCELED, "operation canceled")                          \
    XX(ETIMEDOUT, UV_ETIMEDOUT, "timed out (deadline exceeded)")               \
    XX(ENOSYS, UV_ENOSYS, "function not implemented")                          \
    XX(ENOENT, UV_ENOENT, "no such file or directory")                         \
    XX(EEXIST, UV_EEXIST, "file already exists")                               \
    XX(EPERM, UV_EPERM, "operation not permitted")                             \
    XX(EACCES, UV_EACCES, "permission denied")                                 \
    XX(EBADF, UV_EBADF, "bad file descriptor")                                 \
    XX(EISDIR, UV_EISDIR, "illegal operation on a directory")                  \
    XX(ENOTDIR, UV_ENOTDIR, "not a directory")                                 \
    XX(ENOTEMPTY, UV_ENOTEMPTY, "directory not empty")                         \
    XX(EFBIG, UV_EFBIG, "file too large")                                      \
    XX(ENOSPC, UV_ENOSPC, "no space left on device")                           \
    XX(ESPIPE, UV_ESPIPE, "invalid seek")                                      \
    XX(EXDEV, UV_EXDEV, "cross-device link not permitted")                     \
    XX(ELOOP, UV_ELOOP, "too many symbolic links encountered")                 \
    XX(ENAMETOOLONG, UV_ENAMETOOLONG, "name too long")                         \
    XX(EROFS, UV_EROFS, "read-only file system")                               \
    XX(EIO, UV_EIO, "i/o error")                                               \
    XX(ESRCH, UV_ESRCH, "no such process")                                     \
    XX(EOF, UV_EOF, "end of file")                                             \
    XX(ECONNREFUSED, UV_ECONNREFUSED, "connection refused")                    \
    XX(ECONNRESET, UV_ECONNRESET, "connection reset by peer")                  \
    XX(ECONNABORTED, UV_ECONNABORTED, "software caused connection abort")      \
    XX(EPIPE, UV_EPIPE, "broken pipe")                                         \
    XX(ENOTCONN, UV_ENOTCONN, "socket is not connected")                       \
    XX(EADDRINUSE, UV_EADDRINUSE, "address already in use")                    \
    XX(EADDRNOTAVAIL, UV_EADDRNOTAVAIL, "address not available")               \
    XX(EAFNOSUPPORT, UV_EAFNOSUPPORT, "address family not supported")          \
    XX(ENETUNREACH, UV_ENETUNREACH, "network is unreachable")                  \
    XX(EHOSTUNREACH, UV_EHOSTUNREACH, "host is unreachable")                   \
    XX(EMFILE, UV_EMFILE, "too many open files")                               \
    XX(ENFILE, UV_ENFILE, "file table overflow")                               \
    XX(ENOBUFS, UV_ENOBUFS, "no buffer space available")                       \
    XX(EMSGSIZE, UV_EMSGSIZE, "message too long")                              \
    XX(ENOTSUP, UV_ENOTSUP, "operation not supported on socket")               \
    XX(EAI_NONAME, UV_EAI_NONAME, "unknown node or service")                   \
    XX(EAI_AGAIN, UV_EAI_AGAIN, "temporary failure in name resolution")        \
    XX(EAI_FAIL, UV_EAI_FAIL, "permanent failure in name resolution")          \
    XX(EAI_NODATA, UV_EAI_NODATA, "no address for that name")                  \
    XX(EAI_FAMILY, UV_EAI_FAMILY, "address family not supported by lookup")    \
    XX(EAI_SERVICE, UV_EAI_SERVICE, "service not available for socket type")   \
    XX(EAI_ADDRFAMILY, UV_EAI_ADDRFAMILY, "no address in that family")         \
    XX(EAI_MEMORY, UV_EAI_MEMORY, "out of memory in name resolution")          \
    XX(EAI_CANCELED, UV_EAI_CANCELED, "name resolution canceled")              \
    XX(ECLOSED, -20001, "use of closed channel or connection")                 \
    XX(ENOTTASK, -20002, "operation must be called from a uvgo task")          \
    XX(ELEAK, -20003, "tasks are still running (leaked)")                      \
    XX(EBUBBLE, -20004, "crosses the boundary of a synctest bubble")           \
    XX(EDEADLOCK, -20005, "every task in the synctest bubble is blocked")      \
    XX(EPROTONOSUPPORT, UV_EPROTONOSUPPORT, "protocol not supported")          \
    XX(EBADURL, -20101, "malformed URL")                                       \
    XX(EREDIRECTS, -20102, "stopped after too many redirects")                 \
    XX(ESTALLED, -20103, "transfer stalled: no data for the stall timeout")    \
    XX(ETLSVERIFY, -20104, "TLS certificate verification failed")              \
    XX(ETLS, -20105, "TLS handshake or setup failed")                          \
    XX(EHTTP, -20106, "HTTP transfer failed")

typedef enum {
#define UVGO_ERRNO_ENUM_(name, value, msg) UVGO_##name = (value),
    UVGO_ERRNO_MAP(UVGO_ERRNO_ENUM_)
#undef UVGO_ERRNO_ENUM_
        UVGO_ERRNO_MAX_ = 0
} uvgo_errno_t;

/* A short English description of err.  Codes uvgo does not know are passed to
 * libuv.  Owner: static storage, never freed.  Thread: any. */
UVGO_EXTERN const char *uvgo_strerror(int err);

/* The symbolic name of err ("ECLOSED", "EINVAL").  Owner: static storage.
 * Thread: any. */
UVGO_EXTERN const char *uvgo_err_name(int err);

#endif /* UVGO_ERRNO_H */
