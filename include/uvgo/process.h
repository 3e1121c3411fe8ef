/* uvgo/process.h: running programs (Go's os/exec) and the standard streams
 * (Go's os.Stdin, os.Stdout, os.Stderr) for tasks.
 *
 * The model.  A uvgo_cmd_t describes a program to run, as Go's exec.Cmd
 * does: its argv, environment, working directory, what its stdin, stdout
 * and stderr are, and an optional context that ends it (Go's
 * CommandContext).  uvgo_process_start() starts it on libuv's uv_spawn and
 * returns a uvgo_process_t to wait for and signal.  A program that cannot
 * be started (missing, not executable, a bad directory) is an error from
 * start itself (UVGO_ENOENT, UVGO_EACCES...), never a child that exits 127.
 *
 * Standard streams of a child, each one of:
 *
 *   UVGO_STDIO_INHERIT  the parent's own descriptor (the default: all zero)
 *   UVGO_STDIO_NULL     /dev/null
 *   UVGO_STDIO_FD       a descriptor of the caller's (uvgo_file_fd() of a
 *                       file or of one end of uvgo_file_pipe(), a socket)
 *   UVGO_STDIO_PIPE     a pipe whose other end is a connection of the
 *                       parent (uvgo/io.h): uvgo_process_stdio(p, fd)
 *   UVGO_STDIO_STDOUT   (stderr only) wherever stdout goes: Go's
 *                       `cmd.Stderr = cmd.Stdout`, for combined output
 *
 * Two children are wired together (producer | consumer) with a pipe of
 * uvgo_file_pipe(): its write end as one's stdout, its read end as the
 * other's stdin; the parent closes both ends once both have started.
 *
 * Reaping.  Every child is reaped: by the time uvgo_process_wait returns
 * the kernel has forgotten it, and a process freed while its child still
 * runs reaps it in the background when it exits.  Children still running
 * when uvgo_main returns are left to themselves, as Go leaves them. Descriptors
 * uvgo makes are close-on-exec, so one child never inherits another's pipe.
 * uvgo ignores SIGPIPE for the whole process (unless the program installed its
 * own disposition before uvgo_main): a write to a child that closed its
 * stdin fails with UVGO_EPIPE instead of killing the parent.  Children
 * start with every signal at its default.
 *
 * Cost.  uv_spawn forks and waits for the child's exec on the calling
 * worker's thread, so a start holds that worker meanwhile: 5 to 6 ms per
 * start of /bin/true measured on a 2-core VM under load (300 starts in a
 * row; a shell's fork and exec took 4 ms there), more for a parent with a
 * large address space.  Other workers keep running.
 */
#ifndef UVGO_PROCESS_H
#define UVGO_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "errno.h"
#include "io.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvgo_process uvgo_process_t;

enum {
    UVGO_STDIO_INHERIT = 0,
    UVGO_STDIO_NULL,
    UVGO_STDIO_FD,
    UVGO_STDIO_PIPE,
    UVGO_STDIO_STDOUT
};

/* One standard stream of a child: a UVGO_STDIO_* kind, and the descriptor
 * for UVGO_STDIO_FD (it stays the caller's; the child gets a copy). */
typedef struct uvgo_stdio {
    int kind;
    int fd;
} uvgo_stdio_t;

/* How the child's environment is made from uvgo_cmd_t.env. */
enum {
    /* The parent's environment, with env's "KEY=value" entries added or
     * replacing the parent's (the last of duplicate keys wins); env NULL
     * is the parent's environment as it is. */
    UVGO_ENV_INHERIT = 0,
    /* Exactly env (NULL: an empty environment). */
    UVGO_ENV_REPLACE
};

/* A program to run (Go's exec.Cmd).  All-zero fields are the defaults;
 * the strings are read only during uvgo_process_start. */
typedef struct uvgo_cmd {
    /* The program and its arguments, NULL-terminated.  argv[0] names the
     * program: a path, or a name looked up in the PATH of the child's
     * environment (as execvp does). */
    const char *const *argv;
    /* "KEY=value" strings, NULL-terminated; see env_mode. */
    const char *const *env;
    int env_mode;          /* UVGO_ENV_INHERIT or UVGO_ENV_REPLACE */
    const char *dir;       /* working directory; NULL: the parent's */
    uvgo_stdio_t stdio[3]; /* stdin, stdout, stderr */
    /* Go's CommandContext: when ctx ends while the child runs, the child
     * gets cancel_signal (0: SIGKILL), and, if that was not SIGKILL and it
     * is still running wait_delay later, SIGKILL (Go's Cancel and
     * WaitDelay; wait_delay 0: no second signal).  The process holds a
     * reference to the context. */
    uvgo_ctx_t *ctx;
    int cancel_signal;
    uvgo_duration_t wait_delay;
    /* 1: the child leads a new session and process group (Go's
     * SysProcAttr Setsid), and every signal uvgo sends it (the command
     * context's, uvgo_process_signal) goes to the whole group, so a shell
     * and whatever it started end together.  Having no controlling
     * terminal then, it does not get the terminal's Ctrl-C either: the
     * parent decides. */
    int new_process_group;
} uvgo_cmd_t;

/* How a process ended (Go's ProcessState). */
typedef struct uvgo_exit {
    int code;   /* exit status 0-255, or -1 when a signal ended it */
    int signal; /* the signal that ended it, or 0 when it exited */
} uvgo_exit_t;

/* ------------------------------------------------------------------------ */
/* Processes                                                                */
/* ------------------------------------------------------------------------ */

/* Go's Cmd.Start: starts the program cmd describes.  Returns 0 with *p
 * set, UVGO_EINVAL (NULL or empty argv, a bad stdio kind, STDOUT for
 * other than stderr, a negative wait_delay, a bad signal), the context's
 * error if cmd->ctx is already done (nothing starts), UVGO_ENOMEM, or the
 * error that kept the program from running: UVGO_ENOENT (no such program
 * or directory), UVGO_EACCES (not executable), UVGO_EMFILE...  On failure
 * nothing is left behind.  Owner: the caller owns *p (uvgo_process_free).
 * Thread: any task. */
UVGO_EXTERN int uvgo_process_start(uvgo_process_t **p, const uvgo_cmd_t *cmd);

/* Go's Process.Pid.  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_process_pid(const uvgo_process_t *p);

/* The parent's end of the child's stdin (fd 0), stdout (1) or stderr (2)
 * when it was made UVGO_STDIO_PIPE, else NULL.  Read the child's output
 * from it, or write its input and uvgo_conn_close() it to send EOF.
 * Owner: the process's: do not free it; uvgo_process_free() does.
 * Thread: any. */
UVGO_EXTERN uvgo_conn_t *uvgo_process_stdio(uvgo_process_t *p, int fd);

/* Go's Cmd.Wait, without the copying: parks until the child has exited
 * and has been reaped, then fills *st (if not NULL).  Returns 0, or, as
 * Go does, the command context's error when that context sent its signal
 * and the child nonetheless exited with status 0 (*st is filled then
 * too).  Calling it again returns the same.  The _ctx form returns ctx's
 * error when ctx is done first, leaving the child running (wait again, or
 * kill it).  UVGO_EINVAL for NULL, UVGO_EBUSY while another task waits,
 * UVGO_ENOTTASK.  Owner: the caller's *st.  Thread: any task. */
UVGO_EXTERN int uvgo_process_wait(uvgo_process_t *p, uvgo_exit_t *st);
UVGO_EXTERN int uvgo_process_wait_ctx(uvgo_process_t *p, uvgo_exit_t *st,
                                      uvgo_ctx_t *ctx);

/* Go's Process.Signal: sends sig (SIGTERM, SIGINT...; 0 checks that the
 * child still runs) to the child, or to its whole process group with
 * new_process_group.  Returns 0, UVGO_ESRCH once it has
 * exited (a signal can never reach another process that reused the pid),
 * UVGO_EINVAL or UVGO_ENOTTASK.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_process_signal(uvgo_process_t *p, int sig);

/* Go's Process.Kill: uvgo_process_signal(p, SIGKILL).  Owner: none.
 * Thread: any task. */
UVGO_EXTERN int uvgo_process_kill(uvgo_process_t *p);

/* Frees p and the connections of its pipes (closing them).  A child still
 * running keeps running (its command context still applies) and is
 * reaped when it exits.  NULL is ignored.  Owner: consumes p.
 * Thread: any task. */
UVGO_EXTERN void uvgo_process_free(uvgo_process_t *p);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Go's Cmd.Run: start, wait, free.  Returns as uvgo_process_start, then
 * as uvgo_process_wait.  Owner: the caller's *st.  Thread: any task. */
UVGO_EXTERN int uvgo_cmd_run(const uvgo_cmd_t *cmd, uvgo_exit_t *st);

/* Go's Cmd.Output, bounded: runs cmd with its stdout captured (whatever
 * cmd->stdio[1] says) and returns it in *out, NUL-terminated, with its
 * length in *len, once the child has exited; *st (if not NULL) says how.
 * More than `limit` bytes of output is UVGO_ENOBUFS: the child is killed
 * and reaped, and memory never exceeded the limit.  When cmd->ctx ends,
 * the capture stops there and the child gets its signal.  Returns 0, the
 * errors of start and wait, UVGO_ENOBUFS or UVGO_EINVAL; on error *out is
 * NULL.  Owner: the caller frees *out with free() (uvgo/alloc.h).
 * Thread: any task. */
UVGO_EXTERN int uvgo_cmd_output(const uvgo_cmd_t *cmd, size_t limit, char **out,
                                size_t *len, uvgo_exit_t *st);

/* Go's Cmd.CombinedOutput: as uvgo_cmd_output, with stderr going into
 * the same capture as stdout, interleaved as the child wrote them.
 * Owner: the caller frees *out with free() (uvgo/alloc.h).  Thread: any
 * task. */
UVGO_EXTERN int uvgo_cmd_combined_output(const uvgo_cmd_t *cmd, size_t limit,
                                         char **out, size_t *len,
                                         uvgo_exit_t *st);

/* ------------------------------------------------------------------------ */
/* Standard streams                                                         */
/* ------------------------------------------------------------------------ */

/* Go's os.Stdin / os.Stdout / os.Stderr as a connection: fd is 0, 1 or 2,
 * whatever it is (a terminal, a pipe, a socket, a regular file,
 * /dev/null), and the calling task waits on it without stalling its
 * worker.  Read stdin line by line through a uvgo_reader_t (uvgo/io.h).
 * The connection works on a descriptor of its own (a reopened pipe or
 * terminal, or a duplicate): closing or freeing it leaves fd itself open,
 * and the process's fd 0-2 stay blocking, as children inheriting them
 * expect (a socket excepted: it is shared).  Regular files and character
 * devices: stdin is read through the pool by a helper task ("stdin
 * relay", which ends when the file does or the connection is freed);
 * stdout and stderr are written in place, which a local file system
 * completes at once, as Node does.  Each call makes a new connection;
 * keep one per stream.  Returns 0, UVGO_EINVAL (fd not 0-2), UVGO_EBADF
 * (fd closed), UVGO_ENOMEM or UVGO_ENOTTASK.  Owner: the caller frees it
 * with uvgo_conn_free.  Thread: any task. */
UVGO_EXTERN int uvgo_stdio_open(uvgo_conn_t **c, int fd);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_PROCESS_H */
