/* process.c: child processes on uv_spawn (uvgo/process.h).
 *
 * A process record is one io.h request that never gets cancelled: its
 * "completion" is the child's exit, once libuv has reaped it and both of
 * the record's handles have closed.  References (io.h counts them):
 *
 *     the owner's         from uvgo__ioreq_init, dropped by
 *                         uvgo_process_free
 *     the handles'        the callback's, dropped by uvgo__ioreq_complete
 *                         when the process and timer handles have closed
 *     one per wait        uvgo__ioreq_retain before uvgo__ioreq_wait
 *     the watcher's       while a command context may still fire
 *
 * so a waiter that gives up, an owner that frees early, and a context that
 * fires late all find the record alive, and the last of them frees it.
 *
 * Everything about the handles (exited, the timer, the watcher handle)
 * belongs to the loop the child was started on: callbacks run there, and
 * tasks that signal or free enter it first (uvgo_loop_enter), so a signal
 * is sent only while libuv has not reaped the child and can never reach a
 * process that reused its pid.
 *
 * The command context (Go's CommandContext) is watched with
 * uvgo_ctx_after_func: when it ends, a task enters the loop and, if the
 * child still runs, sends the cancel signal and arms the grace timer
 * (Go's WaitDelay) that sends SIGKILL.  The exit callback stops the
 * watcher; if that stop prevented it from ever running, the exit callback
 * drops the watcher's reference itself.
 *
 * Pipes are plain pipe(2)s made close-on-exec by uv_pipe: the child's end
 * blocks (as programs expect of their stdio), the parent's end becomes a
 * uvgo_conn_t, and the parent closes the child's end right after
 * uv_spawn, so EOF arrives when the child (and whatever inherited its
 * stdout) is done with it.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "io/io.h"

#include <pthread.h>

extern char **environ;

struct uvgo_process {
    uvgo__ioreq_t exit; /* completes when reaped and closed */

    /* Immutable once started. */
    int pid;
    int group;              /* signals go to its process group */
    int cancel_signal;      /* the command context's signal */
    uint64_t wait_delay_ms; /* then SIGKILL after this; 0: never */
    uvgo_ctx_t *ctx;        /* a reference to the command context */
    uvgo_conn_t *pipes[3];  /* the parent's ends, or NULL; the owner's */

    /* The loop's thread only. */
    uv_process_t handle;
    uv_timer_t grace; /* Go's WaitDelay */
#if defined(UVGO_TSAN)
    uv_timer_t nudge; /* see on_nudge */
#endif
    uvgo_ctx_after_t *watch; /* the context watcher, until the exit */
    int handles;             /* handles not yet closed */
    int exited;              /* libuv reaped the child */
    int signalled;           /* the command context sent its signal */

    /* Written on the loop before `exit` completes, read after it. */
    int64_t status;
    int term_signal;

    /* Any thread. */
    atomic_int waiting; /* a task is in uvgo_process_wait */
};

static void process_free_record(uvgo__ioreq_t *io)
{
    struct uvgo_process *p = uvgo__container_of(io, struct uvgo_process, exit);
    uvgo_ctx_release(p->ctx);
    uvgo__free(p);
}

static void on_closed(uv_handle_t *h)
{
    struct uvgo_process *p = h->data;
    if (--p->handles == 0)
        uvgo__ioreq_complete(&p->exit); /* may free p */
}

/* Sends sig to the child (or its group) while libuv has not reaped it, so
 * the pid, which leads the group, cannot have been reused.  Loop thread. */
static int send_signal(struct uvgo_process *p, int sig)
{
    if (p->exited)
        return UVGO_ESRCH;
    return p->group ? uv_kill(-p->pid, sig) : uv_process_kill(&p->handle, sig);
}

/* The handles a record owns: the process, the grace timer, and under
 * ThreadSanitizer the nudge timer. */
#if defined(UVGO_TSAN)
#define PROCESS_HANDLES 3

/* ThreadSanitizer runs a signal handler at the interrupted fiber's next
 * intercepted call, and with tasks as fibers it can lose a SIGCHLD: seen as
 * a child left a zombie, every loop idle in epoll, until some other SIGCHLD
 * arrived.  In TSan builds only, the loop of a running child sends the
 * process a SIGCHLD when, NUDGE_MS after NUDGE_MS, its child is found a
 * zombie that libuv has not reaped: libuv then looks for exited children
 * again on every loop.  Only then: a SIGCHLD sent on every tick (a
 * thousand a second with a hundred children) made TSan run libuv's handler
 * inside itself, which deadlocks on libuv's signal lock. */
#define NUDGE_MS 100

static pthread_mutex_t tsan_spawn_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_nudge(uv_timer_t *t)
{
    struct uvgo_process *p = t->data;
    siginfo_t si;

    if (p->exited)
        return;
    /* WNOWAIT: look, leave the reaping to libuv. */
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)p->handle.pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
            0 &&
        si.si_pid != 0)
        (void)kill(getpid(), SIGCHLD);
}
#else
#define PROCESS_HANDLES 2
#endif

static void close_handles(struct uvgo_process *p)
{
    uv_close((uv_handle_t *)&p->handle, on_closed);
    uv_close((uv_handle_t *)&p->grace, on_closed);
#if defined(UVGO_TSAN)
    uv_close((uv_handle_t *)&p->nudge, on_closed);
#endif
}

static void on_child_exit(uv_process_t *h, int64_t status, int term_signal)
{
    struct uvgo_process *p = h->data;

    p->exited = 1;
    p->status = status;
    p->term_signal = term_signal;
    if (p->watch) {
        /* 1: the watcher will never run, so its reference is ours to
         * drop (the handles' reference keeps p meanwhile). */
        if (uvgo_ctx_after_stop(p->watch))
            uvgo__ioreq_release(&p->exit);
        uvgo_ctx_after_free(p->watch);
        p->watch = NULL;
    }
    close_handles(p);
}

static void on_grace(uv_timer_t *t)
{
    (void)send_signal(t->data, SIGKILL);
}

/* Runs in a task of its own once the command context has ended. */
static void *on_ctx_done(void *arg)
{
    struct uvgo_process *p = arg;

    if (uvgo_loop_enter(p->exit.loop) == 0 && !p->exited) {
        p->signalled = 1;
        (void)send_signal(p, p->cancel_signal);
        /* libuv's clock is cached per iteration and counts whole
         * milliseconds: refresh it, and add one, so that the grace is
         * never cut short. */
        if (p->cancel_signal != SIGKILL && p->wait_delay_ms) {
            uv_update_time(p->exit.loop);
            (void)uv_timer_start(&p->grace, on_grace, p->wait_delay_ms + 1, 0);
        }
    }
    uvgo__ioreq_release(&p->exit);
    return NULL;
}

/* ---- starting ------------------------------------------------------------ */

static int cmd_check(uvgo_process_t **out, const uvgo_cmd_t *cmd)
{
    if (!out || !cmd || !cmd->argv || !cmd->argv[0] || !*cmd->argv[0])
        return UVGO_EINVAL;
    if (cmd->env_mode != UVGO_ENV_INHERIT && cmd->env_mode != UVGO_ENV_REPLACE)
        return UVGO_EINVAL;
    for (int i = 0; i < 3; i++) {
        const uvgo_stdio_t *s = &cmd->stdio[i];
        if (s->kind < UVGO_STDIO_INHERIT || s->kind > UVGO_STDIO_STDOUT ||
            (s->kind == UVGO_STDIO_STDOUT && i != 2) ||
            (s->kind == UVGO_STDIO_FD && s->fd < 0))
            return UVGO_EINVAL;
    }
    if (cmd->cancel_signal < 0 || cmd->cancel_signal >= NSIG ||
        cmd->wait_delay < 0)
        return UVGO_EINVAL;
    return 0;
}

/* Whether an entry of list, from index `from` on, sets kv's key. */
static int env_overridden(const char *kv, const char *const *list, size_t from)
{
    size_t klen = strcspn(kv, "=");
    for (size_t i = from; list && list[i]; i++)
        if (strncmp(list[i], kv, klen) == 0 &&
            (list[i][klen] == '=' || list[i][klen] == '\0'))
            return 1;
    return 0;
}

/* The child's environment, or NULL for the parent's as it is.  The
 * strings stay where they are; only the array is new. */
static int env_make(const uvgo_cmd_t *cmd, char ***out)
{
    size_t n = 0, m = 0, k = 0;
    int inherit = cmd->env_mode == UVGO_ENV_INHERIT;
    char **env;

    *out = NULL;
    if (inherit && !cmd->env)
        return 0;
    while (cmd->env && cmd->env[m])
        m++;
    while (inherit && environ[n])
        n++;
    if (!(env = uvgo__malloc((n + m + 1) * sizeof *env)))
        return UVGO_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!env_overridden(environ[i], cmd->env, 0))
            env[k++] = environ[i];
    for (size_t j = 0; j < m; j++)
        if (!env_overridden(cmd->env[j], cmd->env, j + 1))
            env[k++] = (char *)cmd->env[j];
    env[k] = NULL;
    *out = env;
    return 0;
}

/* Sets up the child's descriptor i; a pipe's parent end goes to
 * p->pipes[i] and its child end to *child (to close after the spawn). */
static int stdio_make(struct uvgo_process *p, const uvgo_cmd_t *cmd, int i,
                      uv_stdio_container_t *sc, int *child)
{
    const uvgo_stdio_t *s = &cmd->stdio[i];
    uv_file fds[2];
    int err, mine;

    switch (s->kind) {
    case UVGO_STDIO_INHERIT:
        sc->flags = UV_INHERIT_FD;
        sc->data.fd = i;
        return 0;
    case UVGO_STDIO_NULL:
        sc->flags = UV_IGNORE; /* libuv opens /dev/null in the child */
        return 0;
    case UVGO_STDIO_FD:
        sc->flags = UV_INHERIT_FD;
        sc->data.fd = s->fd;
        return 0;
    case UVGO_STDIO_STDOUT:
        sc[0] = sc[-1]; /* stderr: whatever stdout is */
        return 0;
    default: /* UVGO_STDIO_PIPE: the child's end blocks, ours does not */
        err = i == 0 ? uv_pipe(fds, 0, UV_NONBLOCK_PIPE)
                     : uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
        if (err)
            return err;
        mine = i == 0 ? fds[1] : fds[0];
        *child = i == 0 ? fds[0] : fds[1];
        if ((err = uvgo_conn_from_fd(&p->pipes[i], mine))) {
            close(mine);
            close(*child);
            *child = -1;
            return err;
        }
        sc->flags = UV_INHERIT_FD;
        sc->data.fd = *child;
        return 0;
    }
}

static void pipes_free(struct uvgo_process *p)
{
    for (int i = 0; i < 3; i++) {
        uvgo_conn_free(p->pipes[i]);
        p->pipes[i] = NULL;
    }
}

int uvgo_process_start(uvgo_process_t **out, const uvgo_cmd_t *cmd)
{
    uv_process_options_t o;
    uv_stdio_container_t sc[3];
    int child[3] = {-1, -1, -1};
    struct uvgo_process *p;
    char **env = NULL;
    uv_loop_t *loop;
    int err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if ((err = cmd_check(out, cmd)))
        return err;
    if (cmd->ctx && (err = uvgo_ctx_err(cmd->ctx)))
        return err; /* Go: a context already done starts nothing */
    if (!(p = uvgo__calloc(1, sizeof *p)))
        return UVGO_ENOMEM;
    err = env_make(cmd, &env);
    for (int i = 0; i < 3 && !err; i++)
        err = stdio_make(p, cmd, i, &sc[i], &child[i]);
    if (err) {
        for (int i = 0; i < 3; i++)
            if (child[i] >= 0)
                close(child[i]);
        pipes_free(p);
        uvgo__free(env);
        uvgo__free(p);
        return err;
    }

    /* From here to uv_spawn nothing may park: the handles belong to the
     * loop the task is on now. */
    loop = uvgo__ioreq_init(&p->exit, 1, NULL, process_free_record);
    p->handle.data = p;
    p->grace.data = p;
    (void)uv_timer_init(loop, &p->grace);
#if defined(UVGO_TSAN)
    p->nudge.data = p;
    (void)uv_timer_init(loop, &p->nudge);
#endif
    memset(&o, 0, sizeof o);
    o.exit_cb = on_child_exit;
    o.file = cmd->argv[0];
    o.args = (char **)cmd->argv;
    o.env = env;
    o.cwd = cmd->dir;
    o.stdio_count = 3;
    o.stdio = sc;
    if (cmd->new_process_group)
        o.flags |= UV_PROCESS_DETACHED; /* setsid() in the child */
#if defined(UVGO_TSAN)
    /* ThreadSanitizer's fork interceptor deadlocks when threads fork at
     * once (seen as every worker stuck in uv_spawn with its signals
     * blocked, the test hung for good): under TSan, one fork at a time.
     * uv_spawn never parks, so a mutex is safe here. */
    pthread_mutex_lock(&tsan_spawn_lock);
    err = uv_spawn(loop, &p->handle, &o);
    pthread_mutex_unlock(&tsan_spawn_lock);
#else
    err = uv_spawn(loop, &p->handle, &o);
#endif
    p->handles = PROCESS_HANDLES;
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0)
            close(child[i]); /* the child has its copies */
    uvgo__free(env);
    if (err) {
        /* The handle is initialised even so: close both; the record goes
         * with the owner's reference and the last close. */
        p->exited = 1;
        close_handles(p);
        pipes_free(p);
        uvgo__ioreq_release(&p->exit);
        return err;
    }
    p->pid = p->handle.pid;
    p->group = cmd->new_process_group != 0;
#if defined(UVGO_TSAN)
    (void)uv_timer_start(&p->nudge, on_nudge, NUDGE_MS, NUDGE_MS);
    uv_unref((uv_handle_t *)&p->nudge);
#endif
    if (cmd->ctx) {
        p->ctx = uvgo_ctx_retain(cmd->ctx);
        p->cancel_signal = cmd->cancel_signal ? cmd->cancel_signal : SIGKILL;
        p->wait_delay_ms = (uint64_t)((cmd->wait_delay + UVGO_MILLISECOND - 1) /
                                      UVGO_MILLISECOND);
        uvgo__ioreq_retain(&p->exit); /* the watcher's */
        if ((err = uvgo_ctx_after_func(&p->watch, cmd->ctx, on_ctx_done, p))) {
            /* Started but unwatched: end it, as Go's Start would fail. */
            p->watch = NULL;
            uvgo__ioreq_release(&p->exit);
            (void)send_signal(p, SIGKILL);
            uv_unref((uv_handle_t *)&p->handle);
            pipes_free(p);
            uvgo__ioreq_release(&p->exit);
            return err;
        }
    }
    *out = p;
    return 0;
}

/* ---- using --------------------------------------------------------------- */

int uvgo_process_pid(const uvgo_process_t *p)
{
    return p ? p->pid : 0;
}

uvgo_conn_t *uvgo_process_stdio(uvgo_process_t *p, int fd)
{
    return p && fd >= 0 && fd < 3 ? p->pipes[fd] : NULL;
}

int uvgo_process_wait_ctx(uvgo_process_t *p, uvgo_exit_t *st, uvgo_ctx_t *ctx)
{
    int zero = 0, err;

    if (!p)
        return UVGO_EINVAL;
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    /* acquire: pairs with the release store below, by the last waiter. */
    if (!atomic_compare_exchange_strong_explicit(
            &p->waiting, &zero, 1, memory_order_acquire, memory_order_relaxed))
        return UVGO_EBUSY;
    uvgo__ioreq_retain(&p->exit);
    err = uvgo__ioreq_wait(&p->exit, ctx, "process wait");
    if (err == 0) {
        if (st) {
            st->signal = p->term_signal;
            st->code = p->term_signal ? -1 : (int)p->status;
        }
        /* Go: the context asked it to stop and it exited cleanly. */
        if (p->signalled && !p->term_signal && p->status == 0)
            err = uvgo_ctx_err(p->ctx);
        uvgo__ioreq_release(&p->exit);
    }
    atomic_store_explicit(&p->waiting, 0, memory_order_release);
    return err;
}

int uvgo_process_wait(uvgo_process_t *p, uvgo_exit_t *st)
{
    return uvgo_process_wait_ctx(p, st, NULL);
}

int uvgo_process_signal(uvgo_process_t *p, int sig)
{
    int err;

    if (!p || sig < 0 || sig >= NSIG)
        return UVGO_EINVAL;
    if ((err = uvgo_loop_enter(p->exit.loop)))
        return err;
    return send_signal(p, sig);
}

int uvgo_process_kill(uvgo_process_t *p)
{
    return uvgo_process_signal(p, SIGKILL);
}

void uvgo_process_free(uvgo_process_t *p)
{
    if (!p)
        return;
    pipes_free(p);
    /* A child nobody waits for must not keep its loop alive, nor hide a
     * deadlock from uvgo's detector: it is reaped whenever it exits. */
    if (uvgo_loop_enter(p->exit.loop) == 0 && !p->exited)
        uv_unref((uv_handle_t *)&p->handle);
    uvgo__ioreq_release(&p->exit);
}

/* ---- helpers ------------------------------------------------------------- */

int uvgo_cmd_run(const uvgo_cmd_t *cmd, uvgo_exit_t *st)
{
    uvgo_process_t *p;
    int err = uvgo_process_start(&p, cmd);

    if (err)
        return err;
    err = uvgo_process_wait(p, st);
    uvgo_process_free(p);
    return err;
}

/* Runs cmd with stdout (and, combined, stderr) into one capture. */
static int capture(const uvgo_cmd_t *cmd, int combined, size_t limit,
                   char **out, size_t *len, uvgo_exit_t *st)
{
    uvgo_cmd_t c;
    uvgo_process_t *p;
    uvgo_conn_t *conn;
    size_t n = 0, cap = 0;
    char *buf = NULL, *grown;
    int err = 0, r;

    if (!cmd || !out || !len)
        return UVGO_EINVAL;
    *out = NULL;
    *len = 0;
    if (limit == 0 || limit > UVGO_READ_FILE_MAX)
        limit = UVGO_READ_FILE_MAX;
    c = *cmd;
    c.stdio[1] = (uvgo_stdio_t){UVGO_STDIO_PIPE, 0};
    if (combined)
        c.stdio[2] = (uvgo_stdio_t){UVGO_STDIO_STDOUT, 0};
    if ((err = uvgo_process_start(&p, &c)))
        return err;
    conn = uvgo_process_stdio(p, 1);
    for (;;) {
        if (n == cap) {
            /* Grow by doubling, to one byte past the limit at most: that
             * byte tells an output of exactly `limit` from a longer one. */
            cap = cap == 0 ? 4096 : cap > limit / 2 ? limit + 1 : cap * 2;
            if (cap > limit + 1)
                cap = limit + 1;
            if (!(grown = uvgo__realloc(buf, cap))) {
                err = UVGO_ENOMEM;
                break;
            }
            buf = grown;
        }
        r = uvgo_conn_read_ctx(conn, buf + n, cap - n, cmd->ctx);
        if (r == UVGO_EOF)
            break;
        if (r < 0) {
            /* A command context that ended stops the capture; its signal
             * ends the child, and the wait says how. */
            if (!cmd->ctx || r != uvgo_ctx_err(cmd->ctx))
                err = r;
            break;
        }
        n += (size_t)r;
        if (n > limit) {
            err = UVGO_ENOBUFS;
            break;
        }
    }
    if (err)
        (void)uvgo_process_kill(p);
    r = uvgo_process_wait(p, st);
    uvgo_process_free(p);
    if (!err)
        err = r;
    if (!err && n == cap && !(grown = uvgo__realloc(buf, n + 1)))
        err = UVGO_ENOMEM;
    else if (!err && n == cap)
        buf = grown;
    if (err) {
        uvgo__free(buf);
        return err;
    }
    if (!buf && !(buf = uvgo__malloc(1)))
        return UVGO_ENOMEM;
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int uvgo_cmd_output(const uvgo_cmd_t *cmd, size_t limit, char **out,
                    size_t *len, uvgo_exit_t *st)
{
    return capture(cmd, 0, limit, out, len, st);
}

int uvgo_cmd_combined_output(const uvgo_cmd_t *cmd, size_t limit, char **out,
                             size_t *len, uvgo_exit_t *st)
{
    return capture(cmd, 1, limit, out, len, st);
}
