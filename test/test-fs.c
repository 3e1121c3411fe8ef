/* test-fs.c: files and directories (uvgo/fs.h): each call, bad input,
 * faults (permissions, a full disk), cancellation, atomic writes under a
 * crash, and no descriptor leaks. */
#define _GNU_SOURCE /* setresuid */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "test.h"

#define MS UVGO_MILLISECOND

/* ---- helpers ------------------------------------------------------------- */

/* Open descriptors of this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ASSERT(d != NULL);
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own descriptor */
}

/* Waits (up to 10 s) for the descriptor count to fall to `want`: requests
 * given up on release theirs when the pool gets to them. */
static void wait_fds(int want)
{
    for (int i = 0; count_fds() > want; i++) {
        ASSERT(i < 10000);
        uvgo_sleep(MS);
    }
    ASSERT_EQ(count_fds(), want);
}

/* A fresh directory for one case; rm_dir removes it and frees the name. */
static char *make_dir(void)
{
    char *dir;
    ASSERT_OK(uvgo_mkdir_temp(NULL, "uvgo-test-fs-*", &dir));
    return dir;
}

static void rm_dir(char *dir)
{
    ASSERT_OK(uvgo_remove_all(dir));
    uvgo_stat_t st;
    ASSERT_ERR(uvgo_stat(dir, &st), UVGO_ENOENT);
    free(dir);
}

/* dir/name in a static buffer per slot. */
static const char *path_in(const char *dir, const char *name, int slot)
{
    static char buf[4][PATH_MAX];
    int n = snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    ASSERT(n > 0 && (size_t)n < sizeof buf[slot]);
    return buf[slot];
}

static void put_file(const char *path, const char *text)
{
    ASSERT_OK(uvgo_write_file(path, text, strlen(text), 0644));
}

static void expect_file(const char *path, const char *text)
{
    char *data;
    size_t len;
    ASSERT_OK(uvgo_read_file(path, 0, &data, &len));
    ASSERT_EQ(len, strlen(text));
    ASSERT_STR_EQ(data, text);
    free(data);
}

/* ---- files --------------------------------------------------------------- */

static void file_write_seek_read_roundtrip(void)
{
    char *dir = make_dir();
    const char *p = path_in(dir, "a", 0);
    int fds = count_fds();
    uvgo_file_t *f;
    uvgo_stat_t st;
    char buf[64] = {0};
    int64_t pos;

    ASSERT_OK(uvgo_file_open(&f, p, UVGO_O_RDWR | UVGO_O_CREATE, 0640));
    ASSERT_STR_EQ(uvgo_file_name(f), p);
    ASSERT_GE(uvgo_file_fd(f), 0);
    ASSERT_EQ(fcntl(uvgo_file_fd(f), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ASSERT_OK(uvgo_file_write(f, "hello, world", 12));
    ASSERT_OK(uvgo_file_seek(f, 0, SEEK_CUR, &pos));
    ASSERT_EQ(pos, 12);
    ASSERT_OK(uvgo_file_seek(f, 0, SEEK_SET, NULL));
    ASSERT_EQ(uvgo_file_read(f, buf, sizeof buf), 12);
    ASSERT_STR_EQ(buf, "hello, world");
    ASSERT_EQ(uvgo_file_read(f, buf, sizeof buf), 0); /* the end */
    ASSERT_EQ(uvgo_file_read(f, buf, 0), 0);

    /* Positional calls leave the offset alone. */
    ASSERT_OK(uvgo_file_write_at(f, "W", 1, 7));
    memset(buf, 0, sizeof buf);
    ASSERT_EQ(uvgo_file_read_at(f, buf, 5, 7), 5);
    ASSERT_STR_EQ(buf, "World");
    ASSERT_EQ(uvgo_file_read_at(f, buf, sizeof buf, 10), 2); /* short: EOF */
    ASSERT_OK(uvgo_file_seek(f, 0, SEEK_CUR, &pos));
    ASSERT_EQ(pos, 12);
    ASSERT_OK(uvgo_file_seek(f, -5, SEEK_END, &pos));
    ASSERT_EQ(pos, 7);

    ASSERT_OK(uvgo_file_stat(f, &st));
    ASSERT_EQ(st.st_size, 12);
    ASSERT_EQ(st.st_mode & 0777, 0640 & ~umask(022));
    umask(022);
    ASSERT(S_ISREG(st.st_mode));
    ASSERT_OK(uvgo_file_truncate(f, 5));
    ASSERT_OK(uvgo_file_sync(f));
    ASSERT_OK(uvgo_file_stat(f, &st));
    ASSERT_EQ(st.st_size, 5);
    ASSERT_OK(uvgo_file_close(f));
    ASSERT_EQ(count_fds(), fds);
    expect_file(p, "hello");

    /* APPEND writes at the end whatever the offset. */
    ASSERT_OK(uvgo_file_open(&f, p, UVGO_O_WRONLY | UVGO_O_APPEND, 0));
    ASSERT_OK(uvgo_file_write(f, "!", 1));
    ASSERT_OK(uvgo_file_close(f));
    expect_file(p, "hello!");
    /* TRUNC empties it; EXCL refuses an existing file. */
    ASSERT_ERR(uvgo_file_open(
                   &f, p, UVGO_O_WRONLY | UVGO_O_CREATE | UVGO_O_EXCL, 0644),
               UVGO_EEXIST);
    ASSERT_OK(uvgo_file_open(&f, p, UVGO_O_WRONLY | UVGO_O_TRUNC, 0));
    ASSERT_OK(uvgo_file_close(f));
    expect_file(p, "");
    rm_dir(dir);
}

static void large_writes_and_reads_move_every_byte(void)
{
    char *dir = make_dir();
    const char *p = path_in(dir, "big", 0);
    size_t n = (size_t)test_scale(9, 3) << 20; /* several ctx chunks */
    char *out = malloc(n), *in = malloc(n);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    uvgo_file_t *f;
    size_t got = 0;
    int r;

    for (size_t i = 0; i < n; i++)
        out[i] = (char)('a' + (i * 7 + i / 4099) % 26);
    ASSERT_OK(
        uvgo_file_open_ctx(&f, p, UVGO_O_RDWR | UVGO_O_CREATE, 0600, ctx));
    ASSERT_OK(uvgo_file_write_ctx(f, out, n, ctx));
    ASSERT_EQ(uvgo_file_read_at_ctx(f, in, n, 0, ctx), (int)n);
    ASSERT(memcmp(in, out, n) == 0);
    memset(in, 0, n);
    ASSERT_OK(uvgo_file_seek(f, 0, SEEK_SET, NULL));
    /* The _ctx read moves at most its chunk per call. */
    while ((r = uvgo_file_read_ctx(f, in + got, n - got, ctx)) > 0) {
        ASSERT_LE(r, 1 << 20);
        got += (size_t)r;
    }
    ASSERT_EQ(r, 0);
    ASSERT_EQ(got, n);
    ASSERT(memcmp(in, out, n) == 0);
    ASSERT_OK(uvgo_file_write_at_ctx(f, "xy", 2, (int64_t)n, ctx));
    ASSERT_OK(uvgo_file_sync_ctx(f, ctx));
    uvgo_stat_t st;
    ASSERT_OK(uvgo_file_stat_ctx(f, &st, ctx));
    ASSERT_EQ(st.st_size, (int64_t)n + 2);
    ASSERT_OK(uvgo_file_truncate_ctx(f, 1, ctx));
    ASSERT_OK(uvgo_file_close_ctx(f, ctx));
    expect_file(p, (char[]){out[0], 0});
    free(out);
    free(in);
    test_ctx_done(ctx);
    rm_dir(dir);
}

static void bad_arguments_are_einval_and_empty_paths_enoent(void)
{
    uvgo_file_t *f;
    uvgo_dir_t *d;
    uvgo_stat_t st;
    uvgo_dirent_t e;
    char *s;
    size_t len;
    char buf[4];

    ASSERT_ERR(uvgo_file_open(NULL, "/x", UVGO_O_RDONLY, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_open(&f, NULL, UVGO_O_RDONLY, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_open(&f, "", UVGO_O_RDONLY, 0), UVGO_ENOENT);
    ASSERT_ERR(uvgo_file_read(NULL, buf, 4), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_write(NULL, buf, 4), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_read_at(NULL, buf, 4, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_write_at(NULL, buf, 4, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_seek(NULL, 0, SEEK_SET, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_sync(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_stat(NULL, &st), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_truncate(NULL, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_close(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_create_temp(NULL, NULL, "x"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_create_temp(&f, NULL, "a/b*"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_pipe(NULL, &f), UVGO_EINVAL);
    ASSERT_ERR(uvgo_stat(NULL, &st), UVGO_EINVAL);
    ASSERT_ERR(uvgo_stat("/", NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_stat("", &st), UVGO_ENOENT);
    ASSERT_ERR(uvgo_lstat(NULL, &st), UVGO_EINVAL);
    ASSERT_ERR(uvgo_mkdir(NULL, 0755), UVGO_EINVAL);
    ASSERT_ERR(uvgo_mkdir("", 0755), UVGO_ENOENT);
    ASSERT_ERR(uvgo_mkdir_all(NULL, 0755), UVGO_EINVAL);
    ASSERT_ERR(uvgo_mkdir_temp(NULL, "x", NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_remove(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_remove(""), UVGO_ENOENT);
    ASSERT_ERR(uvgo_remove_all(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_remove_all(""), UVGO_EINVAL);
    ASSERT_ERR(uvgo_remove_all("."), UVGO_EINVAL);
    ASSERT_ERR(uvgo_remove_all("/tmp/."), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rename(NULL, "/x"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rename("/x", NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_readlink(NULL, &s), UVGO_EINVAL);
    ASSERT_ERR(uvgo_readlink("/", NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_symlink(NULL, "/x"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_symlink("/x", NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chmod(NULL, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_dir_open(NULL, "/"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_dir_open(&d, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_dir_open(&d, ""), UVGO_ENOENT);
    ASSERT_ERR(uvgo_dir_read(NULL, &e, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_dir_close(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_read_file(NULL, 0, &s, &len), UVGO_EINVAL);
    ASSERT_ERR(uvgo_read_file("/", 0, NULL, &len), UVGO_EINVAL);
    ASSERT_ERR(uvgo_read_file("", 0, &s, &len), UVGO_ENOENT);
    ASSERT_ERR(uvgo_write_file(NULL, "x", 1, 0644), UVGO_EINVAL);
    ASSERT_ERR(uvgo_write_file("/x", NULL, 1, 0644), UVGO_EINVAL);
    ASSERT_ERR(uvgo_write_file_atomic(NULL, "x", 1, 0644), UVGO_EINVAL);
    ASSERT_ERR(uvgo_write_file_atomic("/tmp/", "x", 1, 0644), UVGO_EINVAL);

    /* Bad arguments to calls on an open file. */
    char *dir = make_dir();
    ASSERT_OK(uvgo_dir_open(&d, dir));
    ASSERT_ERR(uvgo_dir_read(d, NULL, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_dir_read(d, &e, 0), UVGO_EINVAL);
    ASSERT_OK(uvgo_dir_close(d));
    ASSERT_OK(uvgo_file_create_temp(&f, dir, "t"));
    ASSERT_ERR(uvgo_file_read(f, NULL, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_read_at(f, buf, 1, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_write_at(f, buf, 1, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_seek(f, 0, 42, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_seek(f, -1, SEEK_SET, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_truncate(f, -1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_file_stat(f, NULL), UVGO_EINVAL);
    ASSERT_OK(uvgo_file_close(f));
    rm_dir(dir);
}

static void calls_outside_a_task_return_enottask(void)
{
    uvgo_stat_t st;
    uvgo_file_t *f;
    ASSERT_ERR(uvgo_stat("/", &st), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_file_open(&f, "/", UVGO_O_RDONLY, 0), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_mkdir("/tmp/uvgo-never", 0700), UVGO_ENOTTASK);
}

static void kernel_errors_pass_through(void)
{
    char *dir = make_dir();
    const char *file = path_in(dir, "f", 0);
    uvgo_file_t *f;
    uvgo_stat_t st;
    char buf[8];

    ASSERT_ERR(uvgo_file_open(&f, path_in(dir, "missing", 1), UVGO_O_RDONLY, 0),
               UVGO_ENOENT);
    /* A directory opened for writing. */
    ASSERT_ERR(uvgo_file_open(&f, dir, UVGO_O_WRONLY, 0), UVGO_EISDIR);
    ASSERT_ERR(uvgo_file_open(&f, dir, UVGO_O_RDWR, 0), UVGO_EISDIR);
    put_file(file, "data");
    /* A file used as a directory. */
    ASSERT_ERR(uvgo_stat(path_in(file, "x", 1), &st), UVGO_ENOTDIR);
    ASSERT_ERR(uvgo_mkdir(file, 0755), UVGO_EEXIST);
    /* Writing a file opened read-only, reading one opened write-only. */
    ASSERT_OK(uvgo_file_open(&f, file, UVGO_O_RDONLY, 0));
    ASSERT_ERR(uvgo_file_write(f, "x", 1), UVGO_EBADF);
    ASSERT_ERR(uvgo_file_truncate(f, 0), UVGO_EINVAL);
    ASSERT_OK(uvgo_file_close(f));
    ASSERT_OK(uvgo_file_open(&f, file, UVGO_O_WRONLY, 0));
    ASSERT_ERR(uvgo_file_read(f, buf, sizeof buf), UVGO_EBADF);
    ASSERT_OK(uvgo_file_close(f));
    /* Reading a directory. */
    ASSERT_OK(uvgo_file_open(&f, dir, UVGO_O_RDONLY, 0));
    ASSERT_ERR(uvgo_file_read(f, buf, sizeof buf), UVGO_EISDIR);
    ASSERT_OK(uvgo_file_close(f));
    rm_dir(dir);
}

/* Permission denied.  As root the kernel grants everything, so this case
 * drops to an unprivileged user (keeping root as the saved user id, to
 * come back and clean up); without root, mode 0 bits are enough. */
static void *denied_task(void *arg)
{
    const char *dir = arg;
    uvgo_file_t *f;
    uvgo_dir_t *d;
    char *data;
    size_t len;
    ASSERT_ERR(uvgo_file_open(&f, path_in(dir, "secret", 0), UVGO_O_RDONLY, 0),
               UVGO_EACCES);
    ASSERT_ERR(uvgo_read_file(path_in(dir, "secret", 0), 0, &data, &len),
               UVGO_EACCES);
    ASSERT_ERR(uvgo_file_open(&f, path_in(dir, "locked/new", 0),
                              UVGO_O_WRONLY | UVGO_O_CREATE, 0644),
               UVGO_EACCES);
    ASSERT_ERR(uvgo_dir_open(&d, path_in(dir, "locked", 0)), UVGO_EACCES);
    ASSERT_ERR(uvgo_mkdir(path_in(dir, "locked/sub", 0), 0755), UVGO_EACCES);
    return (void *)(intptr_t)1;
}

static void permission_denied_is_eacces(void)
{
    char dir[] = "/tmp/uvgo-test-fs-XXXXXX";
    char p[PATH_MAX];
    void *result = NULL;
    int root = geteuid() == 0;

    ASSERT(mkdtemp(dir) != NULL);
    ASSERT_EQ(chmod(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/secret", dir);
    ASSERT_EQ(close(open(p, O_CREAT | O_WRONLY, 0)), 0);
    snprintf(p, sizeof p, "%s/locked", dir);
    ASSERT_EQ(mkdir(p, 0), 0);
    if (root && setresgid(65534, 65534, 0) + setresuid(65534, 65534, 0)) {
        printf("# SKIP running as root and cannot drop to uid 65534\n");
        result = (void *)(intptr_t)1;
    } else {
        uvgo_procs(2);
        ASSERT_OK(uvgo_main(denied_task, dir, &result));
    }
    if (root)
        ASSERT_EQ(setresuid(0, 0, 0) + setresgid(0, 0, 0), 0);
    ASSERT_EQ(result, (void *)(intptr_t)1);
    ASSERT_EQ(rmdir(p), 0);
    snprintf(p, sizeof p, "%s/secret", dir);
    ASSERT_EQ(unlink(p), 0);
    ASSERT_EQ(rmdir(dir), 0);
}

/* A full disk, made with RLIMIT_FSIZE: writes past the limit fail with
 * EFBIG (SIGXFSZ, whose default action kills, is ignored here). */
static void write_past_the_file_size_limit_is_efbig(void)
{
    char *dir = make_dir();
    const char *p = path_in(dir, "full", 0);
    struct rlimit rl = {4096, 4096};
    char block[5000];
    uvgo_file_t *f;
    uvgo_stat_t st;

    memset(block, 'z', sizeof block);
    signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ASSERT_OK(uvgo_file_open(&f, p, UVGO_O_WRONLY | UVGO_O_CREATE, 0600));
    ASSERT_OK(uvgo_file_write(f, block, 3000));
    /* The second block fits in part: the prefix lands, then EFBIG. */
    ASSERT_ERR(uvgo_file_write(f, block, 3000), UVGO_EFBIG);
    ASSERT_OK(uvgo_file_stat(f, &st));
    ASSERT_EQ(st.st_size, 4096);
    ASSERT_OK(uvgo_file_close(f));
    ASSERT_ERR(uvgo_write_file(p, block, 5000, 0600), UVGO_EFBIG);
    /* The atomic form leaves the old file alone and no temporary. */
    put_file(p, "old");
    char *big = calloc(1, 8192);
    ASSERT_ERR(uvgo_write_file_atomic(p, big, 8192, 0600), UVGO_EFBIG);
    free(big);
    expect_file(p, "old");
    uvgo_dir_t *d;
    uvgo_dirent_t e[4];
    ASSERT_OK(uvgo_dir_open(&d, dir));
    ASSERT_EQ(uvgo_dir_read(d, e, 4), 1);
    ASSERT_STR_EQ(e[0].name, "full");
    ASSERT_OK(uvgo_dir_close(d));
    rm_dir(dir);
}

/* Reads one byte from the file, plainly: such a read holds its reference
 * to the file until it returns, whenever the pool gets to it. */
static void *read_one(void *arg)
{
    char c;
    ASSERT_EQ(uvgo_file_read(arg, &c, 1), 1);
    return NULL;
}

/* Puts a byte into a FIFO without any fs request (the pool may be full). */
static void feed_fifo(const char *fifo, const char *bytes)
{
    int fd = open(fifo, O_RDWR | O_NONBLOCK);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
    ASSERT_EQ(close(fd), 0);
}

static void close_while_requests_are_in_flight_defers_the_descriptor(void)
{
    char *dir = make_dir();
    const char *fifo = path_in(dir, "fifo", 0);
    uvgo_file_t *r;
    int fds = count_fds();

    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    /* O_RDWR opens a FIFO without waiting for a writer. */
    ASSERT_OK(uvgo_file_open(&r, fifo, UVGO_O_RDWR, 0));
    uvgo_task_t *t = test_spawn(read_one, r);
    test_wait_blocked("fs read", 1);
    ASSERT_OK(uvgo_file_close(r));
    ASSERT_EQ(count_fds(), fds + 1); /* the read holds it */
    feed_fifo(fifo, "x");
    test_join(t);
    ASSERT_EQ(count_fds(), fds);
    rm_dir(dir);
}

/* ---- cancellation -------------------------------------------------------- */

static void *cancel_when_parked(void *arg)
{
    test_wait_blocked("fs read", 1);
    /* Not for ordering: a moment for the pool to start the read, so that
     * the cancel usually meets it in flight (the test holds either way,
     * and says which it saw). */
    uvgo_sleep(10 * MS);
    uvgo_ctx_cancel(arg);
    return NULL;
}

static void cancelled_blocked_read_returns_at_once_and_spares_the_buffer(void)
{
    char *dir = make_dir();
    const char *fifo = path_in(dir, "fifo", 0);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    uvgo_file_t *r;
    int fds = count_fds();
    char buf[16], rest[16];

    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    ASSERT_OK(uvgo_file_open(&r, fifo, UVGO_O_RDWR, 0));
    memset(buf, 'A', sizeof buf);
    uvgo_task_t *t = test_spawn(cancel_when_parked, ctx);
    int64_t t0 = uvgo_now();
    ASSERT_ERR(uvgo_file_read_ctx(r, buf, sizeof buf, ctx), UVGO_ECANCELED);
    ASSERT_IN_TIME(uvgo_now() - t0, 2 * UVGO_SECOND);
    test_join(t);
    /* Feed the FIFO through a descriptor of our own that stays open: an
     * abandoned read in flight takes the bytes into uvgo's buffer (freed
     * by its last reference, which also closes r's descriptor); a read
     * cancelled before it started leaves them in the FIFO. */
    int w = open(fifo, O_RDWR | O_NONBLOCK);
    ASSERT_GE(w, 0);
    ASSERT_EQ(write(w, "late data", 9), 9);
    ASSERT_OK(uvgo_file_close(r));
    wait_fds(fds + 1);
    ssize_t left = read(w, rest, sizeof rest);
    printf("# the read was %s when cancelled\n",
           left == 9 ? "still queued" : "in flight");
    ASSERT(left == 9 || (left < 0 && errno == EAGAIN));
    close(w);
    for (size_t i = 0; i < sizeof buf; i++)
        ASSERT_EQ(buf[i], 'A');
    test_ctx_done(ctx);
    rm_dir(dir);
}

/* With every pool thread stuck, a new request waits in libuv's queue; a
 * context that ends then takes it out, and it never runs. */
static void a_queued_request_is_cancelled_when_its_context_ends(void)
{
    char *dir = make_dir();
    uvgo_file_t *r[4];
    uvgo_task_t *t[4];
    char name[4][16];
    uvgo_stat_t st;

    /* libuv's pool (4 threads unless UV_THREADPOOL_SIZE) takes requests
     * in order: four reads that block fill it whenever they start. */
    ASSERT(getenv("UV_THREADPOOL_SIZE") == NULL ||
           atoi(getenv("UV_THREADPOOL_SIZE")) == 4);
    for (int i = 0; i < 4; i++) {
        snprintf(name[i], sizeof name[i], "fifo%d", i);
        ASSERT_EQ(mkfifo(path_in(dir, name[i], 0), 0600), 0);
        ASSERT_OK(
            uvgo_file_open(&r[i], path_in(dir, name[i], 0), UVGO_O_RDWR, 0));
        t[i] = test_spawn(read_one, r[i]);
    }
    test_wait_blocked("fs read", 4);
    uvgo_ctx_t *ctx = test_ctx_timeout(20 * MS);
    ASSERT_ERR(uvgo_mkdir_ctx(path_in(dir, "never", 1), 0700, ctx),
               UVGO_ETIMEDOUT);
    test_ctx_done(ctx);
    for (int i = 0; i < 4; i++) {
        feed_fifo(path_in(dir, name[i], 0), "x");
        test_join(t[i]);
        ASSERT_OK(uvgo_file_close(r[i]));
    }
    ASSERT_ERR(uvgo_stat(path_in(dir, "never", 1), &st), UVGO_ENOENT);
    rm_dir(dir);
}

/* Under ASan, a late write into a freed buffer is reported here. */
static void ctx_forms_never_touch_the_callers_buffer_after_return(void)
{
    char *dir = make_dir();
    const char *p = path_in(dir, "data", 0);
    int rounds = (int)test_scale(300, 60);
    uint64_t seed = (uint64_t)uvgo_now();
    size_t size = 256 << 10;
    uvgo_file_t *f;
    char *buf = calloc(1, size);
    int finished = 0, cancelled = 0;

    ASSERT_OK(uvgo_write_file(p, buf, size, 0600));
    free(buf);
    ASSERT_OK(uvgo_file_open(&f, p, UVGO_O_RDWR, 0));
    printf("# seed %llu\n", (unsigned long long)seed);
    for (int i = 0; i < rounds; i++) {
        uvgo_ctx_t *ctx;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ASSERT_OK(uvgo_ctx_with_timeout(
            &ctx, NULL, (int64_t)(seed >> 33) % test_scale(300000, 3000000)));
        buf = malloc(size);
        memset(buf, i, size);
        int r = (i & 1) ? uvgo_file_write_at_ctx(f, buf, size, 0, ctx)
                        : uvgo_file_read_at_ctx(f, buf, size, 0, ctx);
        free(buf);
        uvgo_stat_t *st = malloc(sizeof *st);
        int r2 = uvgo_stat_ctx(p, st, ctx);
        free(st);
        uvgo_dirent_t *ents = malloc(8 * sizeof *ents);
        uvgo_dir_t *d;
        if (uvgo_dir_open_ctx(&d, dir, ctx) == 0) {
            (void)uvgo_dir_read_ctx(d, ents, 8, ctx);
            ASSERT_OK(uvgo_dir_close(d));
        }
        free(ents);
        ASSERT(r >= 0 || r == UVGO_ETIMEDOUT);
        ASSERT(r2 >= 0 || r2 == UVGO_ETIMEDOUT);
        if (r == UVGO_ETIMEDOUT)
            cancelled++;
        else
            finished++;
        test_ctx_done(ctx);
    }
    printf("# %d finished, %d gave up\n", finished, cancelled);
    ASSERT_OK(uvgo_file_close(f));
    rm_dir(dir);
}

/* ---- directories --------------------------------------------------------- */

static void readdir_streams_every_entry_once(void)
{
    char *dir = make_dir();
    enum { N = 150 };
    char seen[N] = {0};
    uvgo_dirent_t ents[100];
    uvgo_dir_t *d;
    int n, total = 0, sub = 0, link = 0;
    char name[16];
    uvgo_ctx_t *ctx = test_ctx_cancel();

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "f%03d", i);
        put_file(path_in(dir, name, 0), "");
    }
    ASSERT_OK(uvgo_mkdir(path_in(dir, "sub", 0), 0755));
    ASSERT_OK(uvgo_symlink("f000", path_in(dir, "ln", 0)));
    ASSERT_OK(uvgo_dir_open(&d, dir));
    while ((n = uvgo_dir_read(d, ents, 7)) > 0) {
        ASSERT_LE(n, 7);
        for (int i = 0; i < n; i++, total++) {
            if (!strcmp(ents[i].name, "sub")) {
                ASSERT_EQ(ents[i].type, UV_DIRENT_DIR);
                sub++;
            } else if (!strcmp(ents[i].name, "ln")) {
                ASSERT_EQ(ents[i].type, UV_DIRENT_LINK);
                link++;
            } else {
                int k = atoi(ents[i].name + 1);
                ASSERT_EQ(ents[i].name[0], 'f');
                ASSERT(k >= 0 && k < N);
                ASSERT_EQ(seen[k], 0);
                seen[k] = 1;
                ASSERT_EQ(ents[i].type, UV_DIRENT_FILE);
            }
        }
    }
    ASSERT_EQ(n, 0);
    ASSERT_EQ(uvgo_dir_read(d, ents, 7), 0); /* stays at the end */
    ASSERT_EQ(total, N + 2);
    ASSERT_EQ(sub + link, 2);
    ASSERT_OK(uvgo_dir_close(d));

    /* The _ctx form, asking for more than a batch. */
    total = 0;
    ASSERT_OK(uvgo_dir_open_ctx(&d, dir, ctx));
    while ((n = uvgo_dir_read_ctx(d, ents, 100, ctx)) > 0) {
        ASSERT_LE(n, 64);
        total += n;
    }
    ASSERT_EQ(n, 0);
    ASSERT_EQ(total, N + 2);
    ASSERT_OK(uvgo_dir_close_ctx(d, ctx));

    /* Empty, missing, not a directory. */
    ASSERT_OK(uvgo_dir_open(&d, path_in(dir, "sub", 0)));
    ASSERT_EQ(uvgo_dir_read(d, ents, 7), 0);
    ASSERT_OK(uvgo_dir_close(d));
    ASSERT_ERR(uvgo_dir_open(&d, path_in(dir, "none", 0)), UVGO_ENOENT);
    ASSERT_ERR(uvgo_dir_open(&d, path_in(dir, "f001", 0)), UVGO_ENOTDIR);
    test_ctx_done(ctx);
    rm_dir(dir);
}

static void *read_dir_task(void *arg)
{
    uvgo_dir_t *d = arg;
    uvgo_dirent_t ents[3];
    int n, total = 0;
    while ((n = uvgo_dir_read(d, ents, 3)) > 0)
        total += n;
    ASSERT_EQ(n, 0);
    return (void *)(intptr_t)total;
}

static void readers_of_one_directory_take_turns(void)
{
    char *dir = make_dir();
    char name[16];
    uvgo_dir_t *d;
    uvgo_task_t *t[4];
    intptr_t total = 0;

    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "e%d", i);
        put_file(path_in(dir, name, 0), "");
    }
    ASSERT_OK(uvgo_dir_open(&d, dir));
    for (int i = 0; i < 4; i++)
        t[i] = test_spawn(read_dir_task, d);
    for (int i = 0; i < 4; i++)
        total += test_join(t[i]);
    ASSERT_EQ(total, 100); /* each entry went to exactly one reader */
    ASSERT_OK(uvgo_dir_close(d));
    rm_dir(dir);
}

static void path_calls_do_what_go_does(void)
{
    char *dir = make_dir();
    const char *a = path_in(dir, "a", 0), *b = path_in(dir, "b", 1);
    uvgo_stat_t st;
    char *target;

    /* mkdir and mkdir -p. */
    ASSERT_OK(uvgo_mkdir(path_in(dir, "d", 2), 0750));
    ASSERT_ERR(uvgo_mkdir(path_in(dir, "d", 2), 0750), UVGO_EEXIST);
    ASSERT_ERR(uvgo_mkdir(path_in(dir, "x/y", 2), 0750), UVGO_ENOENT);
    ASSERT_OK(uvgo_mkdir_all(path_in(dir, "p/q//r/", 2), 0750));
    ASSERT_OK(uvgo_stat(path_in(dir, "p/q/r", 2), &st));
    ASSERT(S_ISDIR(st.st_mode));
    ASSERT_EQ(st.st_mode & 0777, 0750);
    ASSERT_OK(uvgo_mkdir_all(path_in(dir, "p/q", 2), 0750)); /* exists */
    ASSERT_OK(uvgo_mkdir_all("/", 0750));

    /* rename, over an existing file too. */
    put_file(a, "A");
    ASSERT_OK(uvgo_rename(a, b));
    ASSERT_ERR(uvgo_stat(a, &st), UVGO_ENOENT);
    expect_file(b, "A");
    put_file(a, "A2");
    ASSERT_OK(uvgo_rename(a, b));
    expect_file(b, "A2");
    ASSERT_ERR(uvgo_rename(a, b), UVGO_ENOENT);
    ASSERT_ERR(uvgo_mkdir_all(path_in(dir, "b/c", 2), 0750), UVGO_ENOTDIR);
    ASSERT_ERR(uvgo_mkdir_all(b, 0750), UVGO_ENOTDIR);

    /* symlink, readlink, lstat against stat. */
    ASSERT_OK(uvgo_symlink("b", a));
    ASSERT_OK(uvgo_readlink(a, &target));
    ASSERT_STR_EQ(target, "b");
    free(target);
    ASSERT_OK(uvgo_lstat(a, &st));
    ASSERT(S_ISLNK(st.st_mode));
    ASSERT_OK(uvgo_stat(a, &st));
    ASSERT(S_ISREG(st.st_mode));
    ASSERT_EQ(st.st_size, 2);
    ASSERT_ERR(uvgo_readlink(b, &target), UVGO_EINVAL);
    ASSERT_ERR(uvgo_symlink("b", a), UVGO_EEXIST);

    /* chmod. */
    ASSERT_OK(uvgo_chmod(b, 0604));
    ASSERT_OK(uvgo_stat(b, &st));
    ASSERT_EQ(st.st_mode & 0777, 0604);
    ASSERT_ERR(uvgo_chmod(path_in(dir, "none", 2), 0604), UVGO_ENOENT);

    /* remove: a link (not its target), a file, an empty directory. */
    ASSERT_OK(uvgo_remove(a));
    ASSERT_OK(uvgo_stat(b, &st));
    ASSERT_OK(uvgo_remove(b));
    ASSERT_ERR(uvgo_remove(b), UVGO_ENOENT);
    ASSERT_OK(uvgo_remove(path_in(dir, "d", 2)));
    int err = uvgo_remove(path_in(dir, "p", 2));
    ASSERT(err == UVGO_ENOTEMPTY || err == UVGO_EEXIST);

    /* remove_all: a tree, through a link to a directory it keeps. */
    ASSERT_OK(uvgo_mkdir(path_in(dir, "keep", 2), 0755));
    put_file(path_in(dir, "keep/k", 2), "k");
    ASSERT_OK(
        uvgo_symlink(path_in(dir, "keep", 2), path_in(dir, "p/q/r/link", 3)));
    put_file(path_in(dir, "p/q/file", 2), "f");
    ASSERT_OK(uvgo_remove_all(path_in(dir, "p", 2)));
    ASSERT_ERR(uvgo_lstat(path_in(dir, "p", 2), &st), UVGO_ENOENT);
    expect_file(path_in(dir, "keep/k", 2), "k");
    ASSERT_OK(uvgo_remove_all(path_in(dir, "p", 2))); /* nothing there */
    put_file(a, "single");
    ASSERT_OK(uvgo_remove_all(a));
    ASSERT_ERR(uvgo_lstat(a, &st), UVGO_ENOENT);
    rm_dir(dir);
}

static void temp_names_follow_the_pattern(void)
{
    char *dir = make_dir(), *sub, *sub2;
    size_t dlen = strlen(dir);
    uvgo_file_t *f, *g;
    uvgo_stat_t st;
    const char *n;

    ASSERT_OK(uvgo_file_create_temp(&f, dir, "pre*.txt"));
    n = uvgo_file_name(f);
    ASSERT(strncmp(n, dir, dlen) == 0);
    ASSERT(strncmp(n + dlen, "/pre", 4) == 0);
    ASSERT_STR_EQ(n + strlen(n) - 4, ".txt");
    ASSERT_GT(strlen(n), dlen + 8);
    ASSERT_OK(uvgo_file_stat(f, &st));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ASSERT_OK(uvgo_file_create_temp(&g, dir, "pre*.txt"));
    ASSERT(strcmp(uvgo_file_name(f), uvgo_file_name(g)) != 0);
    ASSERT_OK(uvgo_file_write(g, "tmp", 3));
    ASSERT_OK(uvgo_file_close(g));
    ASSERT_OK(uvgo_file_close(f));
    /* No '*': the random part goes at the end.  A trailing '/' in dir. */
    char slashed[PATH_MAX];
    snprintf(slashed, sizeof slashed, "%s/", dir);
    ASSERT_OK(uvgo_file_create_temp(&f, slashed, "plain"));
    n = uvgo_file_name(f);
    ASSERT(strncmp(n + dlen, "/plain", 6) == 0);
    ASSERT(n[dlen + 6] >= '0' && n[dlen + 6] <= '9');
    ASSERT_OK(uvgo_file_close(f));
    /* A missing directory. */
    ASSERT_ERR(uvgo_file_create_temp(&f, path_in(dir, "none", 0), "x"),
               UVGO_ENOENT);
    /* Directories; dir NULL is $TMPDIR. */
    ASSERT_OK(uvgo_mkdir_temp(dir, "d*", &sub));
    ASSERT(strncmp(sub + dlen, "/d", 2) == 0);
    ASSERT_OK(uvgo_stat(sub, &st));
    ASSERT(S_ISDIR(st.st_mode));
    ASSERT_EQ(st.st_mode & 0777, 0700);
    setenv("TMPDIR", sub, 1);
    ASSERT_OK(uvgo_mkdir_temp(NULL, "", &sub2));
    ASSERT(strncmp(sub2, sub, strlen(sub)) == 0);
    ASSERT_OK(uvgo_file_create_temp(&f, "", "x*"));
    ASSERT(strncmp(uvgo_file_name(f), sub, strlen(sub)) == 0);
    ASSERT_OK(uvgo_file_close(f));
    unsetenv("TMPDIR");
    free(sub);
    free(sub2);
    rm_dir(dir);
}

static void pipe_files_connect_a_writer_and_a_reader(void)
{
    uvgo_file_t *r, *w;
    int fds = count_fds();
    char buf[16] = {0};
    int64_t pos;

    ASSERT_OK(uvgo_file_pipe(&r, &w));
    ASSERT_STR_EQ(uvgo_file_name(r), "|0");
    ASSERT_STR_EQ(uvgo_file_name(w), "|1");
    ASSERT_EQ(count_fds(), fds + 2);
    ASSERT_EQ(fcntl(uvgo_file_fd(r), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ASSERT_EQ(fcntl(uvgo_file_fd(w), F_GETFL) & O_NONBLOCK, 0);
    ASSERT_OK(uvgo_file_write(w, "ping", 4));
    ASSERT_EQ(uvgo_file_read(r, buf, sizeof buf), 4);
    ASSERT_STR_EQ(buf, "ping");
    ASSERT_ERR(uvgo_file_seek(r, 0, SEEK_SET, &pos), UVGO_ESPIPE);
    ASSERT_OK(uvgo_file_close(w));
    ASSERT_EQ(uvgo_file_read(r, buf, sizeof buf), 0);
    ASSERT_OK(uvgo_file_close(r));
    ASSERT_EQ(count_fds(), fds);
}

struct share {
    uvgo_file_t *f;
    int id;
};

static void *write_region(void *arg)
{
    struct share *s = arg;
    char block[4096];
    uvgo_ctx_t *ctx = (s->id & 1) ? test_ctx_cancel() : NULL;
    memset(block, 'a' + s->id, sizeof block);
    for (int i = 0; i < 16; i++)
        ASSERT_OK(uvgo_file_write_at_ctx(
            s->f, block, sizeof block,
            (int64_t)(s->id * 16 + i) * (int64_t)sizeof block, ctx));
    if (ctx)
        test_ctx_done(ctx);
    return NULL;
}

static void tasks_share_one_file(void)
{
    char *dir = make_dir();
    struct share s[8];
    uvgo_task_t *t[8];
    uvgo_file_t *f;
    char *data;
    size_t len;

    ASSERT_OK(uvgo_file_open(&f, path_in(dir, "shared", 0),
                             UVGO_O_RDWR | UVGO_O_CREATE, 0600));
    for (int i = 0; i < 8; i++) {
        s[i] = (struct share){f, i};
        t[i] = test_spawn(write_region, &s[i]);
    }
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    ASSERT_OK(uvgo_file_close(f));
    ASSERT_OK(uvgo_read_file(path_in(dir, "shared", 0), 0, &data, &len));
    ASSERT_EQ(len, 8 * 16 * 4096);
    for (size_t i = 0; i < len; i++)
        ASSERT_EQ(data[i], 'a' + (int)(i / (16 * 4096)));
    free(data);
    rm_dir(dir);
}

/* ---- whole files --------------------------------------------------------- */

static void read_file_honours_its_limit(void)
{
    char *dir = make_dir();
    const char *p = path_in(dir, "ten", 0);
    char *data = malloc(10000);
    size_t len;

    for (int i = 0; i < 10000; i++)
        data[i] = (char)('0' + i % 10);
    ASSERT_OK(uvgo_write_file(p, data, 10000, 0644));
    free(data);
    ASSERT_OK(uvgo_read_file(p, 10000, &data, &len));
    ASSERT_EQ(len, 10000);
    ASSERT_EQ(data[9999], '9');
    ASSERT_EQ(data[10000], '\0');
    free(data);
    ASSERT_ERR(uvgo_read_file(p, 9999, &data, &len), UVGO_EFBIG);
    ASSERT_ERR(uvgo_read_file(p, 1, &data, &len), UVGO_EFBIG);
    ASSERT_OK(uvgo_read_file(p, 0, &data, &len));
    ASSERT_EQ(len, 10000);
    free(data);
    /* Empty; a file whose size stat does not know; a directory. */
    put_file(p, "");
    ASSERT_OK(uvgo_read_file(p, 1, &data, &len));
    ASSERT_EQ(len, 0);
    ASSERT_STR_EQ(data, "");
    free(data);
    ASSERT_OK(uvgo_read_file("/proc/self/status", 1 << 20, &data, &len));
    ASSERT(strncmp(data, "Name:", 5) == 0);
    ASSERT_EQ(strlen(data), len);
    free(data);
    ASSERT_ERR(uvgo_read_file("/proc/self/status", 16, &data, &len),
               UVGO_EFBIG);
    ASSERT_ERR(uvgo_read_file(dir, 0, &data, &len), UVGO_EISDIR);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    put_file(p, "ctx");
    ASSERT_OK(uvgo_read_file_ctx(p, 3, &data, &len, ctx));
    ASSERT_STR_EQ(data, "ctx");
    free(data);
    test_ctx_done(ctx);
    rm_dir(dir);
}

static void atomic_write_replaces_the_file_whole(void)
{
    char *dir = make_dir();
    const char *p = path_in(dir, "conf", 0);
    uvgo_file_t *old;
    uvgo_dir_t *d;
    uvgo_dirent_t e[4];
    uvgo_stat_t st;
    char buf[8] = {0};
    int fds = count_fds();

    ASSERT_OK(uvgo_write_file_atomic(p, "v1", 2, 0640));
    expect_file(p, "v1");
    ASSERT_OK(uvgo_stat(p, &st));
    ASSERT_EQ(st.st_mode & 0777, 0640 & ~022);
    ASSERT_OK(uvgo_file_open(&old, p, UVGO_O_RDONLY, 0));
    ASSERT_OK(uvgo_write_file_atomic(p, "v2", 2, 0600));
    expect_file(p, "v2");
    /* A reader of the old file keeps seeing the old contents. */
    ASSERT_EQ(uvgo_file_read(old, buf, sizeof buf), 2);
    ASSERT_STR_EQ(buf, "v1");
    ASSERT_OK(uvgo_file_close(old));
    /* Relative path, in the current directory. */
    char cwd[PATH_MAX];
    ASSERT(getcwd(cwd, sizeof cwd) != NULL);
    ASSERT_EQ(chdir(dir), 0);
    ASSERT_OK(uvgo_write_file_atomic("rel", "r", 1, 0600));
    ASSERT_EQ(chdir(cwd), 0);
    expect_file(path_in(dir, "rel", 1), "r");
    /* Nothing else is left in the directory. */
    ASSERT_OK(uvgo_dir_open(&d, dir));
    ASSERT_EQ(uvgo_dir_read(d, e, 4), 2);
    ASSERT_OK(uvgo_dir_close(d));
    ASSERT_ERR(uvgo_write_file_atomic(path_in(dir, "none/x", 1), "x", 1, 0600),
               UVGO_ENOENT);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    ASSERT_OK(uvgo_write_file_atomic_ctx(p, "v3", 2, 0600, ctx));
    expect_file(p, "v3");
    test_ctx_done(ctx);
    ASSERT_EQ(count_fds(), fds);
    rm_dir(dir);
}

/* The writer of the crash test, run as its own process: replaces argv[2]
 * with `size` bytes of 'N' atomically. */
static size_t crash_size;

static void *atomic_writer(void *arg)
{
    char *data = malloc(crash_size);
    memset(data, 'N', crash_size);
    ASSERT_OK(uvgo_write_file_atomic(arg, data, crash_size, 0644));
    free(data);
    return NULL;
}

static int atomic_writer_main(char *path)
{
    crash_size = (size_t)test_scale(32, 16) << 20;
    return uvgo_main(atomic_writer, path, NULL) != 0;
}

/* Kills the writer as soon as its temporary file shows up: the file it
 * replaces must be whole, old (usually) or new (if the kill came late). */
static void atomic_write_killed_midway_leaves_the_old_file(void)
{
    int midway = 0;
    size_t size = (size_t)test_scale(32, 16) << 20;

    for (int trial = 0; trial < 3; trial++) {
        char dir[] = "/tmp/uvgo-test-fs-XXXXXX", p[PATH_MAX], q[PATH_MAX];
        int seen = 0, status, fd;
        struct stat st;
        pid_t pid;

        ASSERT(mkdtemp(dir) != NULL);
        snprintf(p, sizeof p, "%s/target", dir);
        fd = open(p, O_CREAT | O_WRONLY, 0644);
        ASSERT_EQ(write(fd, "OLD", 3), 3);
        ASSERT_EQ(close(fd), 0);
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            execl("/proc/self/exe", "test-fs", "--atomic-writer", p,
                  (char *)NULL);
            _exit(127);
        }
        while (!seen && waitpid(pid, &status, WNOHANG) == 0) {
            DIR *d = opendir(dir);
            struct dirent *e;
            while ((e = readdir(d)))
                if (!strncmp(e->d_name, ".target.tmp", 11))
                    seen = 1;
            closedir(d);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ASSERT_EQ(stat(p, &st), 0);
        fd = open(p, O_RDONLY);
        char head[4] = {0};
        ASSERT_GE(read(fd, head, 3), 0);
        close(fd);
        if (st.st_size == 3) {
            ASSERT_STR_EQ(head, "OLD");
            midway += seen;
        } else {
            ASSERT_EQ(st.st_size, (long long)size);
            ASSERT_STR_EQ(head, "NNN");
        }
        /* Clean up, the leftover temporary included. */
        DIR *d = opendir(dir);
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' || strncmp(e->d_name, ".target", 7) == 0) {
                snprintf(q, sizeof q, "%s/%s", dir, e->d_name);
                ASSERT_EQ(unlink(q), 0);
            }
        closedir(d);
        ASSERT_EQ(rmdir(dir), 0);
    }
    ASSERT_GE(midway, 1);
}

/* Every _ctx call returns at once with an ended context, and does
 * nothing, closing excepted (it still closes). */
static void already_cancelled_ctx_does_nothing(void)
{
    char *dir = make_dir();
    const char *p = path_in(dir, "f", 0), *q = path_in(dir, "g", 1);
    uvgo_ctx_t *ctx = test_ctx_cancel();
    uvgo_file_t *f;
    uvgo_dir_t *d;
    uvgo_stat_t st;
    uvgo_dirent_t e;
    char *s, buf[4];
    size_t len;
    int fds;

    uvgo_ctx_cancel(ctx);
    put_file(p, "keep");
    ASSERT_ERR(
        uvgo_file_open_ctx(&f, q, UVGO_O_WRONLY | UVGO_O_CREATE, 0600, ctx),
        UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_create_temp_ctx(&f, dir, "t", ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_mkdir_ctx(q, 0700, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_mkdir_all_ctx(q, 0700, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_mkdir_temp_ctx(dir, "t", &s, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_write_file_ctx(q, "x", 1, 0600, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_write_file_atomic_ctx(p, "x", 1, 0600, ctx),
               UVGO_ECANCELED);
    ASSERT_ERR(uvgo_symlink_ctx(p, q, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_rename_ctx(p, q, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_remove_ctx(p, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_remove_all_ctx(p, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_chmod_ctx(p, 0, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_stat_ctx(p, &st, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_lstat_ctx(p, &st, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_readlink_ctx(p, &s, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_read_file_ctx(p, 0, &s, &len, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_dir_open_ctx(&d, dir, ctx), UVGO_ECANCELED);
    ASSERT_OK(uvgo_stat(p, &st));
    ASSERT_EQ(st.st_mode & 0777, 0644 & ~022);
    ASSERT_ERR(uvgo_lstat(q, &st), UVGO_ENOENT);
    expect_file(p, "keep");

    fds = count_fds();
    ASSERT_OK(uvgo_file_open(&f, p, UVGO_O_RDWR, 0));
    ASSERT_ERR(uvgo_file_read_ctx(f, buf, 4, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_read_at_ctx(f, buf, 4, 0, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_write_ctx(f, "x", 1, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_write_at_ctx(f, "x", 1, 0, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_sync_ctx(f, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_stat_ctx(f, &st, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_truncate_ctx(f, 0, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_file_close_ctx(f, ctx), UVGO_ECANCELED);
    ASSERT_OK(uvgo_dir_open(&d, dir));
    ASSERT_ERR(uvgo_dir_read_ctx(d, &e, 1, ctx), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_dir_close_ctx(d, ctx), UVGO_ECANCELED);
    wait_fds(fds); /* both closed all the same */
    expect_file(p, "keep");
    test_ctx_done(ctx);
    rm_dir(dir);
}

static const test_case_t cases[] = {
    CASE(file_write_seek_read_roundtrip),
    CASE(large_writes_and_reads_move_every_byte),
    CASE(bad_arguments_are_einval_and_empty_paths_enoent),
    CASE_PLAIN(calls_outside_a_task_return_enottask),
    CASE(kernel_errors_pass_through),
    CASE_PLAIN(permission_denied_is_eacces),
    CASE(write_past_the_file_size_limit_is_efbig),
    CASE(close_while_requests_are_in_flight_defers_the_descriptor),
    CASE(cancelled_blocked_read_returns_at_once_and_spares_the_buffer),
    CASE(a_queued_request_is_cancelled_when_its_context_ends),
    CASE(ctx_forms_never_touch_the_callers_buffer_after_return),
    CASE(readdir_streams_every_entry_once),
    CASE(readers_of_one_directory_take_turns),
    CASE(path_calls_do_what_go_does),
    CASE(temp_names_follow_the_pattern),
    CASE(pipe_files_connect_a_writer_and_a_reader),
    CASE(tasks_share_one_file),
    CASE(read_file_honours_its_limit),
    CASE(atomic_write_replaces_the_file_whole),
    CASE_PLAIN(atomic_write_killed_midway_leaves_the_old_file),
    CASE(already_cancelled_ctx_does_nothing),
};

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--atomic-writer"))
        return atomic_writer_main(argv[2]);
    umask(022);
    return test_run_(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
