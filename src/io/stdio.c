/* stdio.c: the standard streams as connections (uvgo_stdio_open).
 *
 * libuv has a stream for every kind of descriptor but one: a terminal is a
 * uv_tty_t, a pipe or a Unix socket a uv_pipe_t, a TCP socket a uv_tcp_t;
 * a regular file (or a character device that is not a terminal, such as
 * /dev/null) cannot be polled, and epoll refuses it.  So:
 *
 *   terminal, pipe, socket   a connection of a descriptor of our own;
 *   file as stdin            a pipe whose read end is the connection, fed
 *                            by a task ("stdin relay") that reads the file
 *                            through the pool;
 *   file as stdout/stderr    a uv_pipe_t over a duplicate: uv_try_write on
 *                            a regular file always completes (it never says
 *                            EAGAIN), so the connection writes in place and
 *                            never polls.  Node writes files the same way.
 *
 * "Of our own": libuv makes its descriptors non-blocking, and O_NONBLOCK
 * belongs to the open file description, which fd 0-2 share with the
 * parent shell and with every child that inherits them.  A pipe is
 * therefore reopened through /proc/self/fd (a new description of the same
 * pipe); uv_tty_init reopens a terminal itself; a socket can only be
 * duplicated, and its flag is shared.  Files do not care.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "io/stream.h"

/* The relay's read size: one pipe buffer's worth (Linux's default). */
#define RELAY_CHUNK (64 * 1024)

/* A descriptor for standard stream fd that is the caller's to close. */
static int own_fd(int fd, uv_handle_type type)
{
    int nfd;

    if (type == UV_NAMED_PIPE) {
        char path[32];
        /* O_NONBLOCK: opening a FIFO must not wait for the other side. */
        int flags = (fd == 0 ? O_RDONLY : O_WRONLY) | O_NONBLOCK | O_CLOEXEC;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if ((nfd = open(path, flags)) >= 0)
            return nfd;
        /* A socket (ENXIO), or no /proc: share the description. */
    }
    nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return nfd >= 0 ? nfd : uv_translate_sys_error(errno);
}

/* A connection writing to the file (or device) fd, which it owns. */
static int file_conn(uvgo_conn_t **out, int fd)
{
    uvgo_conn_t *c = uvgo__conn_alloc();
    uv_loop_t *loop;
    int err;

    if (!c)
        return UVGO_ENOMEM;
    /* The handle belongs to this loop: stay on it until it is open. */
    loop = uvgo_loop();
    uvgo_loop_enter(loop);
    (void)uv_pipe_init(loop, &c->h.pipe, 0);
    err = uv_pipe_open(&c->h.pipe, fd);
    uvgo__conn_open(c, loop);
    if (err) {
        uvgo__conn_free_here(c); /* the handle never took fd */
        close(fd);
        return err;
    }
    *out = c;
    return 0;
}

struct relay {
    uvgo_file_t *file; /* stdin's file */
    uvgo_conn_t *pipe; /* the write end of the caller's pipe */
};

/* Copies the file into the pipe until the file ends, or the reader has
 * freed its connection (EPIPE), then closes both. */
static void *relay_run(void *arg)
{
    struct relay *r = arg;
    char *buf = malloc(RELAY_CHUNK);
    int n;

    while (buf && (n = uvgo_file_read(r->file, buf, RELAY_CHUNK)) > 0)
        if (uvgo_conn_write(r->pipe, buf, (size_t)n, NULL) != 0)
            break;
    free(buf);
    uvgo_conn_free(r->pipe); /* the reader sees EOF */
    (void)uvgo_file_close(r->file);
    free(r);
    return NULL;
}

static int relay_open(uvgo_conn_t **out, int fd)
{
    uvgo_task_opts_t opts = {.name = "stdin relay"};
    struct relay *r = calloc(1, sizeof *r);
    uvgo_conn_t *c = NULL;
    uv_file fds[2] = {-1, -1};
    int err;

    if (!r) {
        close(fd);
        return UVGO_ENOMEM;
    }
    if ((err = uvgo_file_from_fd(&r->file, fd, "stdin"))) {
        close(fd);
        goto fail;
    }
    if ((err = uv_pipe(fds, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE)))
        goto fail;
    if ((err = uvgo_conn_from_fd(&c, fds[0])))
        goto fail;
    fds[0] = -1;
    if ((err = uvgo_conn_from_fd(&r->pipe, fds[1])))
        goto fail;
    fds[1] = -1;
    if ((err = uvgo_task_spawn(NULL, relay_run, r, &opts)))
        goto fail;
    *out = c;
    return 0;

fail:
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    uvgo_conn_free(c);
    uvgo_conn_free(r->pipe);
    if (r->file)
        (void)uvgo_file_close(r->file);
    free(r);
    return err;
}

int uvgo_stdio_open(uvgo_conn_t **out, int fd)
{
    uv_handle_type type;
    int nfd, err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (!out || fd < 0 || fd > 2)
        return UVGO_EINVAL;
    if (fcntl(fd, F_GETFD) < 0)
        return UVGO_EBADF;
    type = uv_guess_handle(fd);
    if (type != UV_FILE && type != UV_TTY && type != UV_NAMED_PIPE &&
        type != UV_TCP)
        return UVGO_EINVAL; /* a UDP socket, an epoll descriptor... */
    if ((nfd = own_fd(fd, type)) < 0)
        return nfd;
    if (type == UV_FILE)
        return fd == 0 ? relay_open(out, nfd) : file_conn(out, nfd);
    if ((err = uvgo_conn_from_fd(out, nfd)))
        close(nfd);
    return err;
}
