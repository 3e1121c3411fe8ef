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
#define UVGO_ERRNO_MAP(XX)                                                    \
    XX(EINVAL, UV_EINVAL, "invalid argument")                                 \
    XX(ENOMEM, UV_ENOMEM, "not enough memory")                                \
    XX(EAGAIN, UV_EAGAIN, "resource temporarily unavailable")                 \
    XX(EBUSY, UV_EBUSY, "resource busy or locked")                            \
    XX(ECANCELED, UV_ECANCELED, "operation canceled")                         \
    XX(ETIMEDOUT, UV_ETIMEDOUT, "timed out (deadline exceeded)")              \
    XX(ENOSYS, UV_ENOSYS, "function not implemented")                         \
    XX(ENOENT, UV_ENOENT, "no such file or directory")                        \
    XX(EEXIST, UV_EEXIST, "file already exists")                              \
    XX(EPERM, UV_EPERM, "operation not permitted")                            \
    XX(ECLOSED, -20001, "use of closed channel")                              \
    XX(ENOTTASK, -20002, "operation must be called from a uvgo task")         \
    XX(EPROTONOSUPPORT, UV_EPROTONOSUPPORT, "protocol not supported")         \
    XX(EBADURL, -20101, "malformed URL")                                      \
    XX(EREDIRECTS, -20102, "stopped after too many redirects")                \
    XX(ESTALLED, -20103, "transfer stalled: no data for the stall timeout")   \
    XX(ETLSVERIFY, -20104, "TLS certificate verification failed")             \
    XX(ETLS, -20105, "TLS handshake or setup failed")                         \
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
