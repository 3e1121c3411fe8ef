/* test-process.c: child processes (uvgo/process.h) and the standard
 * streams: argv, env, dir, each stdio kind, waits, signals, command
 * contexts, capture limits, SIGPIPE, no fd or zombie left behind.
 *
 * The program is also its own helper child: `test-process --NAME` runs
 * one of the helpers at the bottom instead of the cases. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "test.h"

#define MS UVGO_MILLISECOND

static const char *self_exe = "/proc/self/exe";

/* ---- helpers ------------------------------------------------------------- */

/* Open descriptors of this process, but for /dev/null: libuv opens one
 * per loop the first time a stream is made there (its reserve against
 * EMFILE), and keeps it. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[64], target[64];
    int n = 0;

    ASSERT(d != NULL);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name) >=
                (int)sizeof path)
            continue;
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len < 0)
            continue; /* the DIR's own descriptor, closed since */
        target[len] = '\0';
        n += strcmp(target, "/dev/null") != 0;
    }
    closedir(d);
    return n - 1; /* the DIR's own descriptor */
}

/* Children of this process, alive or zombie (*zombies counts the latter). */
static int count_children(int *zombies)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0, z = 0;
    char path[64], buf[512];

    ASSERT(d != NULL);
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (snprintf(path, sizeof path, "/proc/%s/stat", e->d_name) >=
            (int)sizeof path)
            continue;
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* gone meanwhile */
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *p = strrchr(buf, ')'), state;
        int ppid;
        if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 &&
            ppid == getpid()) {
            n++;
            z += state == 'Z';
        }
    }
    closedir(d);
    if (zombies)
        *zombies = z;
    return n;
}

/* Waits (up to 10 s) until no child of ours is left, dead or alive. */
static void wait_no_children(void)
{
    for (int i = 0; count_children(NULL) > 0; i++) {
        ASSERT(i < 10000);
        uvgo_sleep(MS);
    }
}

static uvgo_cmd_t cmd_of(const char *const *argv)
{
    uvgo_cmd_t c = {0};
    c.argv = argv;
    return c;
}

/* Runs cmd and returns its combined output (the caller frees it). */
static char *output_of(const uvgo_cmd_t *cmd, uvgo_exit_t *st)
{
    char *out;
    size_t len;
    ASSERT_OK(uvgo_cmd_combined_output(cmd, 1 << 20, &out, &len, st));
    ASSERT_EQ(strlen(out), len);
    return out;
}

/* ---- starting ------------------------------------------------------------ */

static void exit_status_comes_back(void)
{
    const char *t[] = {"true", NULL}, *f[] = {"false", NULL};
    const char *seven[] = {"sh", "-c", "exit 7", NULL};
    uvgo_cmd_t c = cmd_of(t);
    uvgo_process_t *p;
    uvgo_exit_t st;

    ASSERT_OK(uvgo_cmd_run(&c, &st));
    ASSERT_EQ(st.code, 0);
    ASSERT_EQ(st.signal, 0);
    c.argv = f;
    ASSERT_OK(uvgo_cmd_run(&c, &st));
    ASSERT_EQ(st.code, 1);
    c.argv = seven;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_GT(uvgo_process_pid(p), 0);
    ASSERT_PTR_EQ(uvgo_process_stdio(p, 0), NULL);
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.code, 7);
    /* Waiting again says the same; signalling is too late. */
    memset(&st, 0, sizeof st);
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.code, 7);
    ASSERT_ERR(uvgo_process_signal(p, SIGTERM), UVGO_ESRCH);
    ASSERT_ERR(uvgo_process_kill(p), UVGO_ESRCH);
    uvgo_process_free(p);
    ASSERT_EQ(count_children(NULL), 0);
}

static void a_program_that_cannot_run_fails_start(void)
{
    char dir[] = "/tmp/uvgo-test-process-XXXXXX", path[PATH_MAX];
    const char *missing[] = {"/nonexistent/program", NULL};
    const char *unknown[] = {"uvgo-no-such-program-anywhere", NULL};
    const char *noexec[] = {path, NULL};
    const char *t[] = {"true", NULL};
    uvgo_cmd_t c = cmd_of(missing);
    uvgo_process_t *p;
    uvgo_exit_t st;
    int fds;

    fds = count_fds();
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_ENOENT);
    c.argv = unknown;
    ASSERT_ERR(uvgo_cmd_run(&c, &st), UVGO_ENOENT);
    /* Not executable: EACCES, for root too (exec needs an x bit). */
    ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/script", dir);
    ASSERT_OK(uvgo_write_file(path, "#!/bin/sh\n", 10, 0644));
    c.argv = noexec;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EACCES);
    /* A working directory that does not exist. */
    c.argv = t;
    snprintf(path, sizeof path, "%s/none", dir);
    c.dir = path;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_ENOENT);
    /* Pipes made for it are gone too. */
    c.dir = NULL;
    c.argv = missing;
    c.stdio[0].kind = c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_ENOENT);
    ASSERT_OK(uvgo_remove_all(dir));
    ASSERT_EQ(count_children(NULL), 0);
    ASSERT_EQ(count_fds(), fds);
}

static void bad_commands_are_einval(void)
{
    const char *t[] = {"true", NULL}, *empty[] = {"", NULL}, *none[] = {NULL};
    uvgo_cmd_t c = cmd_of(t);
    uvgo_process_t *p;
    uvgo_exit_t st;
    char *out;
    size_t len;

    ASSERT_ERR(uvgo_process_start(NULL, &c), UVGO_EINVAL);
    ASSERT_ERR(uvgo_process_start(&p, NULL), UVGO_EINVAL);
    c.argv = NULL;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c.argv = none;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c.argv = empty;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c = cmd_of(t);
    c.stdio[0].kind = UVGO_STDIO_STDOUT;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c = cmd_of(t);
    c.stdio[1].kind = 42;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c = cmd_of(t);
    c.stdio[1] = (uvgo_stdio_t){UVGO_STDIO_FD, -1};
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c = cmd_of(t);
    c.env_mode = 7;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c = cmd_of(t);
    c.wait_delay = -1;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c = cmd_of(t);
    c.cancel_signal = -1;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_EINVAL);
    c = cmd_of(t);
    ASSERT_ERR(uvgo_cmd_output(&c, 0, NULL, &len, &st), UVGO_EINVAL);
    ASSERT_ERR(uvgo_cmd_output(NULL, 0, &out, &len, &st), UVGO_EINVAL);
    ASSERT_ERR(uvgo_process_wait(NULL, &st), UVGO_EINVAL);
    ASSERT_ERR(uvgo_process_signal(NULL, SIGTERM), UVGO_EINVAL);
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_ERR(uvgo_process_signal(p, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_process_signal(p, NSIG), UVGO_EINVAL);
    ASSERT_PTR_EQ(uvgo_process_stdio(p, 3), NULL);
    ASSERT_OK(uvgo_process_wait(p, NULL));
    uvgo_process_free(p);
    uvgo_process_free(NULL);
    ASSERT_EQ(uvgo_process_pid(NULL), 0);
}

static void calls_outside_a_task_return_enottask(void)
{
    const char *t[] = {"true", NULL};
    uvgo_cmd_t c = cmd_of(t);
    uvgo_process_t *p;
    uvgo_conn_t *conn;
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_cmd_run(&c, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_stdio_open(&conn, 0), UVGO_ENOTTASK);
}

static void argv_env_and_dir_reach_the_child(void)
{
    const char *show[] = {"sh",
                          "-c",
                          "printf '%s|%s|%s|%s|%s' \"$1\" \"$FOO\" "
                          "\"$UVGO_PARENT\" \"$A\" \"$(pwd)\"",
                          "sh",
                          "first arg",
                          NULL};
    const char *env1[] = {"FOO=bar", "A=1", "A=2", NULL};
    const char *envr[] = {"FOO=only", "PATH=/usr/bin:/bin", NULL};
    const char *bare[] = {"/usr/bin/env", NULL};
    uvgo_cmd_t c = cmd_of(show);
    char *out, *dir;
    uvgo_exit_t st;

    setenv("UVGO_PARENT", "p", 1);
    setenv("FOO", "parent's", 1);
    out = output_of(&c, &st);
    ASSERT(strncmp(out, "first arg|parent's|p||/", 23) == 0);
    free(out);
    c.env = env1; /* inherit, extended; the last A wins */
    out = output_of(&c, &st);
    ASSERT(strncmp(out, "first arg|bar|p|2|", 18) == 0);
    free(out);
    c.env = envr;
    c.env_mode = UVGO_ENV_REPLACE;
    ASSERT_OK(uvgo_mkdir_temp(NULL, "uvgo-test-process-*", &dir));
    c.dir = dir;
    out = output_of(&c, &st);
    char want[PATH_MAX + 32], real[PATH_MAX];
    ASSERT(realpath(dir, real) != NULL);
    snprintf(want, sizeof want, "first arg|only|||%s", real);
    ASSERT_STR_EQ(out, want);
    free(out);
    c = cmd_of(bare);
    c.env_mode = UVGO_ENV_REPLACE; /* and env NULL: nothing at all */
    out = output_of(&c, &st);
    ASSERT_STR_EQ(out, "");
    ASSERT_EQ(st.code, 0);
    free(out);
    ASSERT_OK(uvgo_remove_all(dir));
    free(dir);
}

static void each_stdio_kind_works(void)
{
    const char *both[] = {"sh", "-c", "echo out; echo err >&2", NULL};
    const char *cat[] = {"cat", NULL};
    uvgo_cmd_t c = cmd_of(both);
    uvgo_file_t *f;
    uvgo_exit_t st;
    char *out, *dir;
    size_t len;
    int fds;

    fds = count_fds();
    /* Output only: stderr to /dev/null. */
    c.stdio[2].kind = UVGO_STDIO_NULL;
    ASSERT_OK(uvgo_cmd_output(&c, 100, &out, &len, &st));
    ASSERT_STR_EQ(out, "out\n");
    free(out);
    /* Combined: both, in order. */
    out = output_of(&c, &st);
    ASSERT_STR_EQ(out, "out\nerr\n");
    free(out);
    /* stdin from /dev/null: cat sees EOF at once. */
    c = cmd_of(cat);
    c.stdio[0].kind = UVGO_STDIO_NULL;
    out = output_of(&c, &st);
    ASSERT_STR_EQ(out, "");
    free(out);
    /* stdout and stderr into a file, stdin from another. */
    ASSERT_OK(uvgo_mkdir_temp(NULL, "uvgo-test-process-*", &dir));
    char in[PATH_MAX], to[PATH_MAX];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(to, sizeof to, "%s/out", dir);
    ASSERT_OK(uvgo_write_file(in, "from a file\n", 12, 0600));
    uvgo_file_t *fin;
    ASSERT_OK(uvgo_file_open(&fin, in, UVGO_O_RDONLY, 0));
    ASSERT_OK(uvgo_file_open(&f, to, UVGO_O_WRONLY | UVGO_O_CREATE, 0600));
    c = cmd_of(both);
    c.stdio[1] = (uvgo_stdio_t){UVGO_STDIO_FD, uvgo_file_fd(f)};
    c.stdio[2].kind = UVGO_STDIO_STDOUT;
    ASSERT_OK(uvgo_cmd_run(&c, &st));
    c = cmd_of(cat);
    c.stdio[0] = (uvgo_stdio_t){UVGO_STDIO_FD, uvgo_file_fd(fin)};
    c.stdio[1] = (uvgo_stdio_t){UVGO_STDIO_FD, uvgo_file_fd(f)};
    ASSERT_OK(uvgo_cmd_run(&c, &st));
    ASSERT_OK(uvgo_file_close(f));
    ASSERT_OK(uvgo_file_close(fin));
    ASSERT_OK(uvgo_read_file(to, 0, &out, &len));
    ASSERT_STR_EQ(out, "out\nerr\nfrom a file\n");
    free(out);
    ASSERT_OK(uvgo_remove_all(dir));
    free(dir);
    ASSERT_EQ(count_fds(), fds);
}

static void pipes_carry_input_and_output(void)
{
    const char *cat[] = {"cat", NULL};
    uvgo_cmd_t c = cmd_of(cat);
    uvgo_process_t *p;
    uvgo_conn_t *in, *out;
    uvgo_exit_t st;
    char buf[64];
    size_t got = 0;
    int n, fds;

    fds = count_fds();
    c.stdio[0].kind = UVGO_STDIO_PIPE;
    c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&p, &c));
    in = uvgo_process_stdio(p, 0);
    out = uvgo_process_stdio(p, 1);
    ASSERT(in && out);
    ASSERT_PTR_EQ(uvgo_process_stdio(p, 2), NULL);
    ASSERT_OK(uvgo_conn_write(in, "hello\n", 6, NULL));
    ASSERT_EQ(uvgo_conn_read_full(out, buf, 6, NULL), 0);
    ASSERT(memcmp(buf, "hello\n", 6) == 0);
    ASSERT_OK(uvgo_conn_write(in, "bye", 3, NULL));
    ASSERT_OK(uvgo_conn_close(in)); /* EOF for cat */
    while ((n = uvgo_conn_read(out, buf + got, sizeof buf - got)) > 0)
        got += (size_t)n;
    ASSERT_ERR(n, UVGO_EOF);
    ASSERT_EQ(got, 3);
    ASSERT(memcmp(buf, "bye", 3) == 0);
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.code, 0);
    uvgo_process_free(p);
    ASSERT_EQ(count_fds(), fds);
}

/* producer | consumer, wired by the parent with a pipe of files. */
static void pipeline_wires_two_children(void)
{
    const char *seq[] = {"seq", "1", "5000", NULL};
    const char *wc[] = {"wc", "-l", NULL};
    uvgo_cmd_t prod = cmd_of(seq), cons = cmd_of(wc);
    uvgo_process_t *pp, *pc;
    uvgo_file_t *r, *w;
    uvgo_exit_t st;
    char buf[32] = {0};
    int fds;

    fds = count_fds();
    ASSERT_OK(uvgo_file_pipe(&r, &w));
    prod.stdio[1] = (uvgo_stdio_t){UVGO_STDIO_FD, uvgo_file_fd(w)};
    cons.stdio[0] = (uvgo_stdio_t){UVGO_STDIO_FD, uvgo_file_fd(r)};
    cons.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&pc, &cons));
    ASSERT_OK(uvgo_process_start(&pp, &prod));
    /* The children hold their copies; ours would keep wc from its EOF. */
    ASSERT_OK(uvgo_file_close(r));
    ASSERT_OK(uvgo_file_close(w));
    ASSERT_OK(uvgo_conn_read_full(uvgo_process_stdio(pc, 1), buf, 5, NULL));
    ASSERT_STR_EQ(buf, "5000\n");
    ASSERT_OK(uvgo_process_wait(pp, &st));
    ASSERT_EQ(st.code, 0);
    ASSERT_OK(uvgo_process_wait(pc, &st));
    ASSERT_EQ(st.code, 0);
    uvgo_process_free(pp);
    uvgo_process_free(pc);
    ASSERT_EQ(count_fds(), fds);
    ASSERT_EQ(count_children(NULL), 0);
}

/* ---- signals and contexts ------------------------------------------------ */

static void a_child_killed_by_a_signal_reports_it(void)
{
    const char *self_kill[] = {"sh", "-c", "kill -TERM $$", NULL};
    const char *sleeper[] = {"sleep", "30", NULL};
    uvgo_cmd_t c = cmd_of(self_kill);
    uvgo_process_t *p;
    uvgo_exit_t st;

    ASSERT_OK(uvgo_cmd_run(&c, &st));
    ASSERT_EQ(st.signal, SIGTERM);
    ASSERT_EQ(st.code, -1);
    c.argv = sleeper;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_OK(uvgo_process_signal(p, 0)); /* alive */
    ASSERT_OK(uvgo_process_signal(p, SIGINT));
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.signal, SIGINT);
    uvgo_process_free(p);
    ASSERT_EQ(count_children(NULL), 0);
}

static void wait_ctx_gives_up_and_leaves_the_child_running(void)
{
    const char *sleeper[] = {"sleep", "30", NULL};
    uvgo_cmd_t c = cmd_of(sleeper);
    uvgo_process_t *p;
    uvgo_exit_t st;
    uvgo_ctx_t *ctx;
    int64_t t0;

    ASSERT_OK(uvgo_process_start(&p, &c));
    ctx = test_ctx_timeout(20 * MS);
    t0 = uvgo_now();
    ASSERT_ERR(uvgo_process_wait_ctx(p, &st, ctx), UVGO_ETIMEDOUT);
    ASSERT_IN_TIME(uvgo_now() - t0, 20 * MS + TEST_SLACK);
    ASSERT_OK(uvgo_process_signal(p, 0)); /* still running */
    ASSERT_OK(uvgo_process_kill(p));
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.signal, SIGKILL);
    uvgo_process_free(p);
    test_ctx_done(ctx);
    ASSERT_EQ(count_children(NULL), 0);
}

static void *wait_task(void *arg)
{
    uvgo_exit_t st;
    ASSERT_OK(uvgo_process_wait(arg, &st));
    return (void *)(intptr_t)st.signal;
}

static void one_waiter_at_a_time(void)
{
    const char *sleeper[] = {"sleep", "30", NULL};
    uvgo_cmd_t c = cmd_of(sleeper);
    uvgo_process_t *p;
    uvgo_exit_t st;

    ASSERT_OK(uvgo_process_start(&p, &c));
    uvgo_task_t *t = test_spawn(wait_task, p);
    test_wait_blocked("process wait", 1);
    ASSERT_ERR(uvgo_process_wait(p, &st), UVGO_EBUSY);
    ASSERT_OK(uvgo_process_kill(p));
    ASSERT_EQ(test_join(t), SIGKILL);
    uvgo_process_free(p);
}

/* Cancelling a process wait: the command context kills the child, and the
 * wait returns once it is reaped. */
static void command_context_kills_and_reaps(void)
{
    const char *sleeper[] = {"sleep", "30", NULL};
    uvgo_cmd_t c = cmd_of(sleeper);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    uvgo_process_t *p;
    uvgo_exit_t st;
    int zombies;

    c.ctx = ctx;
    ASSERT_OK(uvgo_process_start(&p, &c));
    uvgo_task_t *t = test_spawn(wait_task, p);
    test_wait_blocked("process wait", 1);
    int64_t t0 = uvgo_now();
    uvgo_ctx_cancel(ctx);
    ASSERT_EQ(test_join(t), SIGKILL);
    ASSERT_IN_TIME(uvgo_now() - t0, TEST_SLACK * 10);
    ASSERT_EQ(count_children(&zombies), 0);
    ASSERT_EQ(zombies, 0);
    uvgo_process_free(p);
    /* A context already done starts nothing. */
    ASSERT_ERR(uvgo_process_start(&p, &c), UVGO_ECANCELED);
    test_ctx_done(ctx);
    /* A deadline works the same; the process outlives its context's
     * last reference. */
    c.ctx = test_ctx_timeout(30 * MS);
    ASSERT_OK(uvgo_process_start(&p, &c));
    uvgo_ctx_release(c.ctx);
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.signal, SIGKILL);
    uvgo_process_free(p);
    ASSERT_EQ(count_children(NULL), 0);
}

static void command_context_signal_then_sigkill_after_the_grace(void)
{
    const char *stubborn[] = {self_exe, "--ignore-term", NULL};
    const char *polite[] = {self_exe, "--exit-on-term", NULL};
    uvgo_cmd_t c = cmd_of(stubborn);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    uvgo_process_t *p;
    uvgo_exit_t st;

    /* It ignores SIGTERM: SIGKILL follows the grace period. */
    c.ctx = ctx;
    c.cancel_signal = SIGTERM;
    c.wait_delay = 100 * MS;
    c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&p, &c));
    char ready;
    ASSERT_EQ(uvgo_conn_read(uvgo_process_stdio(p, 1), &ready, 1), 1);
    int64_t t0 = uvgo_now();
    uvgo_ctx_cancel(ctx);
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.signal, SIGKILL);
    ASSERT_GE(uvgo_now() - t0, 100 * MS);
    ASSERT_IN_TIME(uvgo_now() - t0, 100 * MS + TEST_SLACK * 10);
    uvgo_process_free(p);
    test_ctx_done(ctx);

    /* It exits 0 on SIGTERM: Go's Wait reports the context's error. */
    ctx = test_ctx_cancel();
    c.argv = polite;
    c.ctx = ctx;
    /* A grace it cannot outlast on a loaded machine: SIGKILL must not
     * come first. */
    c.wait_delay = 30 * UVGO_SECOND;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_EQ(uvgo_conn_read(uvgo_process_stdio(p, 1), &ready, 1), 1);
    uvgo_ctx_cancel(ctx);
    ASSERT_ERR(uvgo_process_wait(p, &st), UVGO_ECANCELED);
    ASSERT_EQ(st.code, 0);
    ASSERT_EQ(st.signal, 0);
    uvgo_process_free(p);
    test_ctx_done(ctx);
    ASSERT_EQ(count_children(NULL), 0);
}

/* 1 while process pid exists and is not a zombie. */
static int alive(int pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z';
}

/* A shell and its background child end together when the signal goes to
 * the process group. */
static void new_process_group_takes_the_whole_tree(void)
{
    const char *tree[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
    uvgo_cmd_t c = cmd_of(tree);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    uvgo_process_t *p;
    uvgo_reader_t *r;
    uvgo_exit_t st;
    const char *line;
    size_t len;

    c.ctx = ctx;
    c.new_process_group = 1;
    c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_OK(uvgo_reader_new(&r, uvgo_process_stdio(p, 1), 0));
    ASSERT_OK(uvgo_reader_read_line(r, &line, &len));
    int grandchild = atoi(line);
    ASSERT_GT(grandchild, 0);
    ASSERT(alive(grandchild));
    ASSERT_EQ(getpgid(grandchild), uvgo_process_pid(p));
    uvgo_ctx_cancel(ctx);
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.signal, SIGKILL);
    for (int i = 0; alive(grandchild); i++) {
        ASSERT(i < 10000);
        uvgo_sleep(MS);
    }
    uvgo_reader_free(r);
    uvgo_process_free(p);
    test_ctx_done(ctx);
}

/* ---- output, limits, pipes that close ------------------------------------ */

static void huge_output_over_the_capture_limit_fails(void)
{
    const char *yes[] = {"yes", NULL};
    const char *spew[] = {self_exe, "--spew", "100000", NULL};
    uvgo_cmd_t c = cmd_of(yes);
    uvgo_exit_t st;
    char *out = (char *)1;
    size_t len;
    int fds;

    fds = count_fds();
    ASSERT_ERR(uvgo_cmd_output(&c, 1 << 20, &out, &len, &st), UVGO_ENOBUFS);
    ASSERT_PTR_EQ(out, NULL);
    ASSERT(st.signal == SIGKILL || st.signal == SIGPIPE);
    c.argv = spew;
    ASSERT_OK(uvgo_cmd_output(&c, 100000, &out, &len, &st));
    ASSERT_EQ(st.code, 0);
    ASSERT_EQ(len, 100000);
    ASSERT_EQ(out[99999], 'x');
    ASSERT_EQ(out[100000], '\0');
    free(out);
    ASSERT_ERR(uvgo_cmd_output(&c, 99999, &out, &len, &st), UVGO_ENOBUFS);
    ASSERT_EQ(count_fds(), fds);
    ASSERT_EQ(count_children(NULL), 0);
}

/* The parent writes to a child that has closed its stdin: EPIPE, and the
 * parent lives (uvgo ignores SIGPIPE). */
static void writing_to_a_child_that_closed_stdin_is_epipe(void)
{
    const char *t[] = {"sh", "-c", "exec 0<&-; echo closed", NULL};
    uvgo_cmd_t c = cmd_of(t);
    uvgo_process_t *p;
    uvgo_exit_t st;
    char buf[8], chunk[4096];
    struct sigaction sa;
    int err;

    ASSERT_EQ(sigaction(SIGPIPE, NULL, &sa), 0);
    ASSERT(sa.sa_handler == SIG_IGN);
    c.stdio[0].kind = UVGO_STDIO_PIPE;
    c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_OK(uvgo_conn_read_full(uvgo_process_stdio(p, 1), buf, 7, NULL));
    memset(chunk, 'z', sizeof chunk);
    do
        err = uvgo_conn_write(uvgo_process_stdio(p, 0), chunk, sizeof chunk,
                              NULL);
    while (err == 0);
    ASSERT_ERR(err, UVGO_EPIPE);
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.code, 0);
    uvgo_process_free(p);
}

/* The parent stops reading early: a plain child dies of SIGPIPE, as
 * `yes | head -1` does, and a uvgo child gets EPIPE instead. */
static void a_reader_that_closes_early_gives_the_writer_epipe(void)
{
    const char *yes[] = {"yes", NULL};
    const char *uvgo_child[] = {self_exe, "--write-until-epipe", NULL};
    uvgo_cmd_t c = cmd_of(yes);
    uvgo_process_t *p;
    uvgo_exit_t st;
    char b;

    c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_EQ(uvgo_conn_read(uvgo_process_stdio(p, 1), &b, 1), 1);
    ASSERT_OK(uvgo_conn_close(uvgo_process_stdio(p, 1)));
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.signal, SIGPIPE);
    uvgo_process_free(p);
    c.argv = uvgo_child;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_EQ(uvgo_conn_read(uvgo_process_stdio(p, 1), &b, 1), 1);
    ASSERT_OK(uvgo_conn_close(uvgo_process_stdio(p, 1)));
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.signal, 0);
    ASSERT_EQ(st.code, 0); /* it saw UVGO_EPIPE */
    uvgo_process_free(p);
}

static void free_while_running_reaps_in_the_background(void)
{
    const char *brief[] = {"sleep", "0.05", NULL};
    uvgo_cmd_t c = cmd_of(brief);
    uvgo_process_t *p;

    c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&p, &c));
    uvgo_process_free(p);
    ASSERT_EQ(count_children(NULL), 1);
    wait_no_children();
}

/* ---- many ---------------------------------------------------------------- */

static atomic_int started;

static int run_some(void *arg)
{
    const char *t[] = {"true", NULL};
    uvgo_cmd_t c = cmd_of(t);
    uvgo_exit_t st;
    int n = (int)(intptr_t)arg;

    for (int i = 0; i < n; i++) {
        int err = uvgo_cmd_run(&c, &st);
        if (err)
            return err;
        if (st.code != 0)
            return UVGO_EINVAL;
        atomic_fetch_add(&started, 1);
    }
    return 0;
}

static void a_thousand_processes_by_a_hundred_tasks_leave_nothing(void)
{
    int total = (int)test_scale(1000, 200), tasks = 100;
    int fds, zombies;
    uvgo_errgroup_t g = UVGO_ERRGROUP_INIT;
    int64_t t0;

    fds = count_fds();
    t0 = uvgo_now();
    ASSERT_EQ(count_children(NULL), 0);
    for (int i = 0; i < tasks; i++)
        ASSERT_OK(
            uvgo_errgroup_go(&g, run_some, (void *)(intptr_t)(total / tasks)));
    ASSERT_OK(uvgo_errgroup_wait(&g));
    ASSERT_EQ(atomic_load(&started), total);
    printf("# %d processes in %lld ms\n", total,
           (long long)((uvgo_now() - t0) / MS));
    ASSERT_EQ(count_children(&zombies), 0);
    ASSERT_EQ(zombies, 0);
    ASSERT_EQ(count_fds(), fds);
}

/* ---- standard streams ---------------------------------------------------- */

/* Points fd at `with` for the case, keeping the original in *saved. */
static void swap_fd(int fd, int with, int *saved)
{
    ASSERT((*saved = dup(fd)) >= 0);
    ASSERT_EQ(dup2(with, fd), fd);
    close(with);
}

static void restore_fd(int fd, int saved)
{
    ASSERT_EQ(dup2(saved, fd), fd);
    close(saved);
}

static void *feed_lines(void *arg)
{
    uvgo_file_t *w = arg;
    char line[32];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        ASSERT_OK(uvgo_file_write(w, line, (size_t)n));
    }
    ASSERT_OK(uvgo_file_write(w, "last, no newline", 16));
    ASSERT_OK(uvgo_file_close(w));
    return NULL;
}

/* Reads stdin line by line and checks what feed_lines wrote. */
static void read_fed_lines(void)
{
    uvgo_conn_t *in;
    uvgo_reader_t *r;
    const char *line;
    size_t len;
    char want[32];
    int i = 0, err;

    ASSERT_OK(uvgo_stdio_open(&in, 0));
    ASSERT_OK(uvgo_reader_new(&r, in, 0));
    while ((err = uvgo_reader_read_line(r, &line, &len)) == 0) {
        if (i < 100) {
            snprintf(want, sizeof want, "line %d", i);
            ASSERT_EQ(len, strlen(want));
            ASSERT(memcmp(line, want, len) == 0);
        } else {
            ASSERT_EQ(len, 16);
        }
        i++;
    }
    ASSERT_ERR(err, UVGO_EOF);
    ASSERT_EQ(i, 101);
    uvgo_reader_free(r);
    uvgo_conn_free(in);
}

static void stdin_reads_line_by_line_from_a_pipe(void)
{
    int p[2], saved, fds;
    uvgo_file_t *w;

    ASSERT_EQ(pipe(p), 0);
    swap_fd(0, p[0], &saved);
    fds = count_fds();
    ASSERT_OK(uvgo_file_from_fd(&w, p[1], "feeder"));
    uvgo_task_t *t = test_spawn(feed_lines, w);
    read_fed_lines();
    test_join(t);
    /* fd 0 itself is untouched: still open, still blocking. */
    ASSERT_EQ(fcntl(0, F_GETFL) & O_NONBLOCK, 0);
    ASSERT_EQ(count_fds(), fds - 1); /* the feeder's end is closed */
    restore_fd(0, saved);
}

static void stdin_reads_from_a_file_or_dev_null(void)
{
    char dir[] = "/tmp/uvgo-test-process-XXXXXX", path[PATH_MAX];
    uvgo_conn_t *in;
    char buf[8];
    int saved, fd;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/lines", dir);
    {
        uvgo_file_t *w;
        ASSERT_OK(
            uvgo_file_open(&w, path, UVGO_O_WRONLY | UVGO_O_CREATE, 0600));
        feed_lines(w);
    }
    ASSERT((fd = open(path, O_RDONLY)) >= 0);
    swap_fd(0, fd, &saved);
    read_fed_lines(); /* through the relay task */
    restore_fd(0, saved);
    ASSERT((fd = open("/dev/null", O_RDONLY)) >= 0);
    swap_fd(0, fd, &saved);
    ASSERT_OK(uvgo_stdio_open(&in, 0));
    ASSERT_ERR(uvgo_conn_read(in, buf, sizeof buf), UVGO_EOF);
    uvgo_conn_free(in);
    restore_fd(0, saved);
    /* Freed before the end: the relay stops too. */
    ASSERT((fd = open(path, O_RDONLY)) >= 0);
    swap_fd(0, fd, &saved);
    ASSERT_OK(uvgo_stdio_open(&in, 0));
    ASSERT_EQ(uvgo_conn_read(in, buf, 4), 4);
    uvgo_conn_free(in);
    restore_fd(0, saved);
    ASSERT_OK(uvgo_remove_all(dir));
}

static void stdout_writes_to_a_file_or_a_pipe(void)
{
    char dir[] = "/tmp/uvgo-test-process-XXXXXX", path[PATH_MAX];
    uvgo_conn_t *out;
    char *data;
    size_t len;
    int saved, fd, p[2];

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/out", dir);
    ASSERT((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
    fflush(stdout);
    swap_fd(1, fd, &saved);
    ASSERT_OK(uvgo_stdio_open(&out, 1));
    ASSERT_OK(uvgo_conn_write(out, "to the file\n", 12, NULL));
    uvgo_conn_free(out);
    restore_fd(1, saved);
    ASSERT_OK(uvgo_read_file(path, 0, &data, &len));
    ASSERT_STR_EQ(data, "to the file\n");
    free(data);

    ASSERT_EQ(pipe(p), 0);
    swap_fd(2, p[1], &saved);
    ASSERT_OK(uvgo_stdio_open(&out, 2));
    ASSERT_OK(uvgo_conn_write(out, "to the pipe", 11, NULL));
    uvgo_conn_free(out);
    ASSERT_EQ(fcntl(2, F_GETFL) & O_NONBLOCK, 0);
    restore_fd(2, saved);
    char buf[16] = {0};
    ASSERT_EQ(read(p[0], buf, sizeof buf), 11);
    ASSERT_STR_EQ(buf, "to the pipe");
    close(p[0]);
    ASSERT_OK(uvgo_remove_all(dir));

    ASSERT_ERR(uvgo_stdio_open(&out, 3), UVGO_EINVAL);
    ASSERT_ERR(uvgo_stdio_open(NULL, 1), UVGO_EINVAL);
    ASSERT((saved = dup(0)) >= 0);
    close(0);
    ASSERT_ERR(uvgo_stdio_open(&out, 0), UVGO_EBADF);
    restore_fd(0, saved);
}

/* A uvgo child reading its stdin line by line from a pipe and writing
 * through its stdout connection. */
static void a_uvgo_child_reads_stdin_lines(void)
{
    const char *lines[] = {self_exe, "--number-lines", NULL};
    uvgo_cmd_t c = cmd_of(lines);
    uvgo_process_t *p;
    uvgo_exit_t st;
    char buf[64] = {0};

    c.stdio[0].kind = UVGO_STDIO_PIPE;
    c.stdio[1].kind = UVGO_STDIO_PIPE;
    ASSERT_OK(uvgo_process_start(&p, &c));
    ASSERT_OK(uvgo_conn_write(uvgo_process_stdio(p, 0), "a\nbb\n", 5, NULL));
    /* It answers each line as it comes. */
    ASSERT_OK(uvgo_conn_read_full(uvgo_process_stdio(p, 1), buf, 9, NULL));
    ASSERT_STR_EQ(buf, "1 a\n2 bb\n");
    /* A last line without a newline, then EOF. */
    ASSERT_OK(uvgo_conn_write(uvgo_process_stdio(p, 0), "c", 1, NULL));
    ASSERT_OK(uvgo_conn_close(uvgo_process_stdio(p, 0)));
    memset(buf, 0, sizeof buf);
    ASSERT_OK(uvgo_conn_read_full(uvgo_process_stdio(p, 1), buf, 4, NULL));
    ASSERT_STR_EQ(buf, "3 c\n");
    ASSERT_OK(uvgo_process_wait(p, &st));
    ASSERT_EQ(st.code, 0);
    uvgo_process_free(p);
}

static const test_case_t cases[] = {
    CASE(exit_status_comes_back),
    CASE(a_program_that_cannot_run_fails_start),
    CASE(bad_commands_are_einval),
    CASE_PLAIN(calls_outside_a_task_return_enottask),
    CASE(argv_env_and_dir_reach_the_child),
    CASE(each_stdio_kind_works),
    CASE(pipes_carry_input_and_output),
    CASE(pipeline_wires_two_children),
    CASE(a_child_killed_by_a_signal_reports_it),
    CASE(wait_ctx_gives_up_and_leaves_the_child_running),
    CASE(one_waiter_at_a_time),
    CASE(command_context_kills_and_reaps),
    CASE(command_context_signal_then_sigkill_after_the_grace),
    CASE(new_process_group_takes_the_whole_tree),
    CASE(huge_output_over_the_capture_limit_fails),
    CASE(writing_to_a_child_that_closed_stdin_is_epipe),
    CASE(a_reader_that_closes_early_gives_the_writer_epipe),
    CASE(free_while_running_reaps_in_the_background),
    CASE_PROCS(a_thousand_processes_by_a_hundred_tasks_leave_nothing, 4),
    CASE(stdin_reads_line_by_line_from_a_pipe),
    CASE(stdin_reads_from_a_file_or_dev_null),
    CASE(stdout_writes_to_a_file_or_a_pipe),
    CASE(a_uvgo_child_reads_stdin_lines),
};

/* ---- helper children ----------------------------------------------------- */

static void on_term_exit(int sig)
{
    (void)sig;
    _exit(0);
}

static void *number_lines(void *arg)
{
    uvgo_conn_t *in, *out;
    uvgo_reader_t *r;
    uvgo_writer_t *w;
    const char *line;
    size_t len;
    int n = 0, err;

    (void)arg;
    ASSERT_OK(uvgo_stdio_open(&in, 0));
    ASSERT_OK(uvgo_stdio_open(&out, 1));
    ASSERT_OK(uvgo_reader_new(&r, in, 0));
    ASSERT_OK(uvgo_writer_new(&w, out, 0));
    while ((err = uvgo_reader_read_line(r, &line, &len)) == 0) {
        ASSERT_GE(uvgo_writer_printf(w, "%d %.*s\n", ++n, (int)len, line), 0);
        ASSERT_OK(uvgo_writer_flush(w));
    }
    ASSERT_ERR(err, UVGO_EOF);
    uvgo_writer_free(w);
    uvgo_reader_free(r);
    uvgo_conn_free(in);
    uvgo_conn_free(out);
    return NULL;
}

static void *write_until_epipe(void *arg)
{
    uvgo_conn_t *out;
    char chunk[4096];
    int err;

    (void)arg;
    memset(chunk, 'y', sizeof chunk);
    ASSERT_OK(uvgo_stdio_open(&out, 1));
    do
        err = uvgo_conn_write(out, chunk, sizeof chunk, NULL);
    while (err == 0);
    uvgo_conn_free(out);
    return (void *)(intptr_t)(err == UVGO_EPIPE ? 0 : 3);
}

static int helper_main(int argc, char **argv)
{
    void *r = NULL;

    if (!strcmp(argv[1], "--ignore-term") ||
        !strcmp(argv[1], "--exit-on-term")) {
        signal(SIGTERM, argv[1][2] == 'i' ? SIG_IGN : on_term_exit);
        ASSERT_EQ(write(1, "r", 1), 1); /* ready */
        for (;;)
            pause();
    }
    if (!strcmp(argv[1], "--spew") && argc == 3) {
        long n = atol(argv[2]);
        char *buf = malloc((size_t)n);
        memset(buf, 'x', (size_t)n);
        for (long off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            ASSERT(w > 0);
            off += w;
        }
        /* Not left to exit: LeakSanitizer reports it whenever the pointer
         * is not still in a register, and the exit status says so. */
        free(buf);
        return 0;
    }
    if (!strcmp(argv[1], "--number-lines"))
        return uvgo_main(number_lines, NULL, NULL) != 0;
    if (!strcmp(argv[1], "--write-until-epipe")) {
        if (uvgo_main(write_until_epipe, NULL, &r) != 0)
            return 2;
        return (int)(intptr_t)r;
    }
    return 64;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strncmp(argv[1], "--", 2))
        return helper_main(argc, argv);
    return test_run_(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
