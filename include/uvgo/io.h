/* uvgo/io.h: stream connections and buffered I/O for tasks (Go's net.Conn
 * and bufio).
 *
 * The model.  A uvgo_conn_t is a byte stream over any libuv stream: a TCP
 * socket, a Unix domain socket, a pipe or a terminal.  Calls read like
 * Go's: a read returns what has arrived (at least one byte) or UVGO_EOF at
 * the end; a write returns once all of it is with the kernel.  uvgo_net.h
 * makes connections by dialing and accepting; uvgo_conn_from_fd() wraps a
 * descriptor you already have (stdin, a socketpair).
 *
 * Concurrency.  A connection is full duplex: one task may read while
 * another writes.  Two readers (or two writers) take turns: each call
 * completes before the next of its kind starts, so concurrent writes are
 * never interleaved mid-call.  Closing from any task wakes every blocked
 * call at once with UVGO_ECLOSED; every later call returns UVGO_ECLOSED.
 *
 * Deadlines and contexts.  Deadlines are Go's: absolute uvgo_now() times,
 * 0 for none, settable at any moment (also while a call is blocked, which
 * then sees the new one).  A call whose deadline passes returns
 * UVGO_ETIMEDOUT and leaves the connection usable: set a later deadline and
 * call again.  Every blocking call also has a _ctx form that gives up with
 * the context's error when it is done first.  A write that gives up reports
 * in *written the bytes the kernel took; none of the rest is sent.
 *
 * Affinity.  A connection lives on the loop it was made on; each call moves
 * the calling task there first (see "Affinity" in uvgo/task.h), so a task
 * serving a connection runs on its loop and a stolen one hops back.
 *
 * Speed.  No call allocates or copies on its way: a read hands the caller's
 * buffer to libuv while the task waits, and while no task waits at most
 * one byte is read ahead before reading stops, so the kernel applies
 * back-pressure to the peer; a write goes straight to the socket (one
 * write(2), as uv_try_write would make it) and waits only when the
 * kernel's buffer is full.
 */
#ifndef UVGO_IO_H
#define UVGO_IO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "context.h"
#include "errno.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvgo_conn uvgo_conn_t;

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/* Makes a connection of an open descriptor: a socket (TCP or Unix), a pipe
 * or a terminal, as uv_guess_handle() tells.  The connection lives on the
 * calling task's loop and owns fd from then on (closing the connection
 * closes it).  Returns 0, UVGO_EINVAL (a regular file, an unknown kind),
 * UVGO_ENOMEM or a libuv error (fd is left open on failure).
 * Owner: the caller, free with uvgo_conn_free().  Thread: any task. */
UVGO_EXTERN int uvgo_conn_from_fd(uvgo_conn_t **out, int fd);

/* Reads at most len bytes into buf.  Returns the count (> 0), UVGO_EOF once
 * the peer has finished sending (again on every later call),
 * UVGO_ETIMEDOUT (read deadline), UVGO_ECLOSED, UVGO_EINVAL (len 0 or NULL
 * arguments) or a libuv error such as UVGO_ECONNRESET.  len is capped at
 * INT_MAX.  Owner: buf stays the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_read(uvgo_conn_t *c, void *buf, size_t len);
UVGO_EXTERN int uvgo_conn_read_ctx(uvgo_conn_t *c, void *buf, size_t len,
                                   uvgo_ctx_t *ctx);

/* Go's io.ReadFull: reads exactly len bytes.  Returns 0, or an error with
 * *got (if not NULL) the bytes read before it; UVGO_EOF means the stream
 * ended before len bytes (Go's ErrUnexpectedEOF when *got > 0).
 * Owner: buf stays the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_read_full(uvgo_conn_t *c, void *buf, size_t len,
                                    size_t *got);
UVGO_EXTERN int uvgo_conn_read_full_ctx(uvgo_conn_t *c, void *buf, size_t len,
                                        size_t *got, uvgo_ctx_t *ctx);

/* Writes all of buf.  Returns 0, or an error (UVGO_ETIMEDOUT, UVGO_ECLOSED,
 * UVGO_EPIPE, UVGO_ECONNRESET...) with *written (if not NULL) the bytes
 * the kernel took before it; the rest is never sent.  Owner: buf stays the
 * caller's and is not referenced after the call.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_write(uvgo_conn_t *c, const void *buf, size_t len,
                                size_t *written);
UVGO_EXTERN int uvgo_conn_write_ctx(uvgo_conn_t *c, const void *buf, size_t len,
                                    size_t *written, uvgo_ctx_t *ctx);

/* Writes the n buffers in order, as one call (Go's net.Buffers).  As
 * uvgo_conn_write.
 * Owner: bufs stay the caller's, unreferenced after the call.
 * Thread: any task. */
UVGO_EXTERN int uvgo_conn_writev(uvgo_conn_t *c, const uv_buf_t *bufs, size_t n,
                                 size_t *written);
UVGO_EXTERN int uvgo_conn_writev_ctx(uvgo_conn_t *c, const uv_buf_t *bufs,
                                     size_t n, size_t *written,
                                     uvgo_ctx_t *ctx);

/* Half-close (Go's CloseWrite): waits for queued writes, then shuts the
 * sending side down; the peer reads UVGO_EOF, and this side can still
 * read.  Returns 0, UVGO_ECLOSED, or a libuv error; later writes return
 * UVGO_EPIPE.  Owner: no change.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_close_write(uvgo_conn_t *c);

/* Go's Close: closes the connection and its descriptor; every task blocked
 * on it returns UVGO_ECLOSED at once, and so does every later call.  The
 * object stays valid until uvgo_conn_free().  Returns 0, or UVGO_ECLOSED
 * when it was already closed.
 * Owner: no change; free with uvgo_conn_free().  Thread: any task. */
UVGO_EXTERN int uvgo_conn_close(uvgo_conn_t *c);

/* Closes c if it is open and gives up the caller's handle: its memory goes
 * once every call still running on it (woken with UVGO_ECLOSED) has
 * returned.  NULL is ignored.  Owner: consumes the handle.
 * Thread: any task. */
UVGO_EXTERN void uvgo_conn_free(uvgo_conn_t *c);

/* Go's SetDeadline / SetReadDeadline / SetWriteDeadline: `deadline` is a
 * uvgo_now() time, 0 for none.  A blocked call sees the new deadline at
 * once; one already past makes it return UVGO_ETIMEDOUT.  Returns 0 or
 * UVGO_ECLOSED.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_set_deadline(uvgo_conn_t *c, int64_t deadline);
UVGO_EXTERN int uvgo_conn_set_read_deadline(uvgo_conn_t *c, int64_t deadline);
UVGO_EXTERN int uvgo_conn_set_write_deadline(uvgo_conn_t *c, int64_t deadline);

/* The local / remote socket address.  Returns 0, UVGO_ENOTSUP for a pipe
 * or terminal, UVGO_ECLOSED, or a libuv error.  Owner: *sa is the
 * caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_local_addr(uvgo_conn_t *c,
                                     struct sockaddr_storage *sa);
UVGO_EXTERN int uvgo_conn_remote_addr(uvgo_conn_t *c,
                                      struct sockaddr_storage *sa);

/* The same as text, "127.0.0.1:80", "[::1]:80" or a Unix socket's path
 * ("" for an unnamed one), NUL-terminated in buf.  Returns the length, or
 * UVGO_ENOBUFS when it does not fit, or the errors above.
 * Owner: buf is the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_local_name(uvgo_conn_t *c, char *buf, size_t len);
UVGO_EXTERN int uvgo_conn_remote_name(uvgo_conn_t *c, char *buf, size_t len);

/* TCP options (UVGO_ENOTSUP on other streams): Nagle off (on = 1, the
 * default for dialed and accepted connections) or on; keep-alive probes
 * every `period` (<= 0 turns them off; whole seconds, at least one);
 * the kernel's send and receive buffer sizes (> 0).  Returns 0 or an error.
 * Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_conn_set_nodelay(uvgo_conn_t *c, int on);
UVGO_EXTERN int uvgo_conn_set_keepalive(uvgo_conn_t *c, uvgo_duration_t period);
UVGO_EXTERN int uvgo_conn_set_buffers(uvgo_conn_t *c, int send, int recv);

/* Formats a socket address as uvgo_conn_local_name() does.  Returns the
 * length, UVGO_ENOBUFS, or UVGO_EAFNOSUPPORT.  Owner: buf is the caller's.
 * Thread: any. */
UVGO_EXTERN int uvgo_sockaddr_format(const struct sockaddr *sa, char *buf,
                                     size_t len);

/* ------------------------------------------------------------------------ */
/* Buffered I/O (Go's bufio)                                                */
/* ------------------------------------------------------------------------ */

typedef struct uvgo_reader uvgo_reader_t;
typedef struct uvgo_writer uvgo_writer_t;

/* A reader with a size-byte buffer (0: 4096) over c, which stays the
 * caller's.  The buffer bounds every call that returns a view into it: a
 * line longer than the buffer is an error, never unbounded memory.  Bound
 * its calls with the connection's deadlines.  Returns 0, UVGO_EINVAL or
 * UVGO_ENOMEM.  Owner: the caller, free with uvgo_reader_free().
 * Thread: one task at a time. */
UVGO_EXTERN int uvgo_reader_new(uvgo_reader_t **out, uvgo_conn_t *c,
                                size_t size);
UVGO_EXTERN void uvgo_reader_free(uvgo_reader_t *r);

/* Go's Read: buffered bytes first, else one read of the connection (large
 * reads skip the buffer).  Returns the count or an error (UVGO_EOF).
 * Owner: buf is the caller's.  Thread: the reader's task. */
UVGO_EXTERN int uvgo_reader_read(uvgo_reader_t *r, void *buf, size_t len);

/* Go's io.ReadFull over the reader.  As uvgo_conn_read_full.
 * Owner: buf is the caller's.  Thread: the reader's task. */
UVGO_EXTERN int uvgo_reader_read_full(uvgo_reader_t *r, void *buf, size_t len,
                                      size_t *got);

/* Go's ReadSlice: *out points at the bytes up to and including the first
 * `delim`, inside the buffer (valid until the next call on r); *len their
 * count.  Returns 0; UVGO_ENOBUFS when the buffer fills without a delim
 * (Go's ErrBufferFull: *out and *len then hold the full buffer, consumed);
 * UVGO_EOF at the end with *len the bytes before it; or another error.
 * Owner: *out is borrowed from r.  Thread: the reader's task. */
UVGO_EXTERN int uvgo_reader_read_until(uvgo_reader_t *r, int delim,
                                       const char **out, size_t *len);

/* A line without its "\n" or "\r\n", as uvgo_reader_read_until(r, '\n'):
 * a line over the buffer's size returns UVGO_ENOBUFS; a last line without
 * a newline is returned with 0, then UVGO_EOF.
 * Owner: *out is borrowed from r.  Thread: the reader's task. */
UVGO_EXTERN int uvgo_reader_read_line(uvgo_reader_t *r, const char **out,
                                      size_t *len);

/* Go's Peek: waits until n bytes are buffered and points *out at them
 * without consuming them.  Returns 0, UVGO_ENOBUFS if n exceeds the
 * buffer, UVGO_EOF (fewer remain), or an error; *len (if not NULL) holds
 * what is buffered either way.
 * Owner: *out is borrowed from r.  Thread: the reader's task. */
UVGO_EXTERN int uvgo_reader_peek(uvgo_reader_t *r, size_t n, const char **out,
                                 size_t *len);

/* Go's Discard: skips n bytes.  Returns 0 or an error with *skipped (if
 * not NULL) the bytes skipped before it.
 * Owner: none.  Thread: the reader's task. */
UVGO_EXTERN int uvgo_reader_discard(uvgo_reader_t *r, size_t n,
                                    size_t *skipped);

/* Bytes buffered and not yet consumed.
 * Owner: none.  Thread: the reader's task. */
UVGO_EXTERN size_t uvgo_reader_buffered(const uvgo_reader_t *r);

/* A writer with a size-byte buffer (0: 4096) over c, which stays the
 * caller's.  Data reaches the connection when the buffer fills or on
 * uvgo_writer_flush(); the first write error sticks (Go's bufio.Writer).
 * Returns 0, UVGO_EINVAL or UVGO_ENOMEM.  Owner: the caller, free with
 * uvgo_writer_free() (which does not flush).  Thread: one task at a time. */
UVGO_EXTERN int uvgo_writer_new(uvgo_writer_t **out, uvgo_conn_t *c,
                                size_t size);
UVGO_EXTERN void uvgo_writer_free(uvgo_writer_t *w);

/* Buffers len bytes (writing through when they exceed the buffer).
 * Returns 0 or the sticky error.
 * Owner: buf stays the caller's (copied).  Thread: the writer's task. */
UVGO_EXTERN int uvgo_writer_write(uvgo_writer_t *w, const void *buf,
                                  size_t len);

/* Formats into the buffer (growing nothing: output over the buffer's free
 * space is formatted into a temporary and written through).  Returns the
 * length written or an error.  Owner: none.  Thread: the writer's task. */
UVGO_EXTERN int uvgo_writer_printf(uvgo_writer_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes out what is buffered.  Returns 0 or the sticky error.
 * Owner: none.  Thread: the writer's task. */
UVGO_EXTERN int uvgo_writer_flush(uvgo_writer_t *w);

/* Bytes buffered and not yet written.
 * Owner: none.  Thread: the writer's task. */
UVGO_EXTERN size_t uvgo_writer_buffered(const uvgo_writer_t *w);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_IO_H */
