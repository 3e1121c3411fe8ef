/* fs.c: files and directories on libuv's fs requests (uvgo/fs.h).
 *
 * Every call is one or more requests of one shape, struct fsop, run by
 * fs_call(): describe the request (struct fsargs), start it on the task's
 * loop, wait with io.h's helper, copy the result out.  The plain form keeps
 * the record on the task's stack and lets the pool read and write the
 * caller's buffer directly.  The _ctx form may return before the request
 * ends (io.h), so its record is on the heap and carries its own copy of
 * the data (the bounce buffer at its end); the last reference frees it and
 * undoes a result nobody took (fsop_drop): a late descriptor is closed, a
 * late temporary file or directory removed, a late opendir closed.
 *
 *     struct fsop (heap, _ctx form)
 *     +-----------+----------+------+-----+------------------------------+
 *     | ioreq     | uv_fs_t  | file | dir | bounce: data read/written,   |
 *     | (refs 2)  |          | ref  | ref | or the entries of a readdir  |
 *     +-----------+----------+------+-----+------------------------------+
 *
 * Files.  A uvgo_file_t counts references: its owner's, and one per request
 * in flight, so a request given up on never reads or writes a descriptor
 * that was closed (and maybe reused) under it.  uvgo_file_close sets
 * `closing` and, if it holds the only reference, closes through the pool;
 * otherwise it drops its reference and the last request's release closes
 * the descriptor (file_release).  This is Go's fdMutex in miniature.
 *
 * Directories.  libuv's uv_dir_t is one stream: two readdirs on it at once
 * would race on its entry array.  Requests take turns with `turn`, a uvgo
 * mutex locked by the task before it starts a request and unlocked by the
 * request's callback, so a request given up on still holds the turn until
 * the pool is done with the stream.  The callback also copies the names
 * out of libuv's entries (it frees them in uv_fs_req_cleanup, reading the
 * stream's entry array, which the next request repoints).
 *
 * Lock order: a directory's turn, then nothing.  Callbacks (fs_done, the
 * frees) run on the request's loop thread and never block.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

/* The most a _ctx request moves per trip to the pool: its bounce buffer.
 * Bounds the copy a cancelled request leaves behind; a larger read
 * returns short and a larger write loops. */
#define FS_CHUNK ((size_t)1 << 20)
/* Entries per readdir request: 64 names of up to 255 bytes. */
#define FS_DIRENTS 64
/* Tries at a fresh random temporary name before giving up (Go's 10000). */
#define TEMP_TRIES 10000

struct uvgo_file {
    atomic_int refs;    /* the owner's, plus one per request in flight */
    atomic_int closing; /* set once, by uvgo_file_close */
    uv_file fd;         /* immutable once opened */
    char name[];        /* immutable once opened */
};

struct uvgo_dir {
    atomic_int refs;   /* the owner's, plus one per request in flight */
    uvgo_mutex_t turn; /* held from a request's start to its callback */
    uv_dir_t *dir;     /* libuv's stream, under turn; freed by closedir */
};

/* What one request is to do, and where its results go. */
struct fsargs {
    uv_fs_type type;
    const char *path, *path2;
    int flags, mode;
    int64_t off;         /* READ/WRITE: -1 for the file's offset;
                            FTRUNCATE: the size */
    void *buf;           /* READ: destination; WRITE: source */
    size_t len;          /* READ/WRITE: at most INT_MAX (FS_CHUNK: _ctx) */
    uvgo_file_t *file;   /* held for the request's life */
    uv_file fd;          /* CLOSE: the descriptor close took over */
    uvgo_dir_t *dir;     /* READDIR/CLOSEDIR: held, and its turn */
    uvgo_dirent_t *ents; /* READDIR: destination */
    size_t nents;        /* READDIR: at most FS_DIRENTS */
    int temp;            /* OPEN/MKDIR of a temporary: undo if late */
    int must_run;        /* CLOSE/CLOSEDIR: start even if ctx is done */
    uvgo_stat_t *st;     /* STAT/LSTAT/FSTAT: destination */
    char **str;          /* READLINK: receives a malloc'd copy */
    uv_dir_t **out_dir;  /* OPENDIR: receives the stream */
};

struct fsop {
    uvgo__ioreq_t io;
    uv_fs_t req;
    uvgo_file_t *file;   /* a reference held while in flight, or NULL */
    uvgo_dir_t *dir;     /* ditto; its turn is unlocked by fs_done */
    int taken;           /* the waiter took the result: nothing to undo */
    int temp;            /* a late temporary is removed (fsop_drop) */
    char *data;          /* READ/WRITE: the caller's buffer, or bounce */
    uvgo_dirent_t *ents; /* READDIR: the caller's array, or bounce */
    uv_dirent_t dirents[FS_DIRENTS]; /* READDIR: libuv's entries */
    char bounce[];                   /* _ctx form only */
};

/* ---- references ---------------------------------------------------------- */

static int file_acquire(uvgo_file_t *f);

static void file_release(uvgo_file_t *f)
{
    /* acq_rel: the last one sees every request's effects before closing. */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        /* Only after uvgo_file_close handed over: see the file essay. */
        (void)close(f->fd);
        uvgo__free(f);
    }
}

static int file_acquire(uvgo_file_t *f)
{
    /* relaxed: the caller's own reference keeps refs above 0. */
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    /* acquire: pairs with the exchange in uvgo_file_close. */
    if (atomic_load_explicit(&f->closing, memory_order_acquire)) {
        file_release(f);
        return UVGO_EBADF;
    }
    return 0;
}

static void dir_release(uvgo_dir_t *d)
{
    /* acq_rel: as file_release.  The stream is gone by then (closedir). */
    if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1)
        uvgo__free(d);
}

/* ---- one request --------------------------------------------------------- */

static void fs_done(uv_fs_t *req)
{
    struct fsop *op = uvgo__container_of(req, struct fsop, req);

    if (req->fs_type == UV_FS_READDIR && req->result > 0) {
        for (ssize_t i = 0; i < req->result; i++) {
            uvgo_dirent_t *e = &op->ents[i];
            const char *name = op->dirents[i].name;
            size_t n = strlen(name);
            if (n >= sizeof e->name)
                n = sizeof e->name - 1; /* longer than any Linux name */
            memcpy(e->name, name, n);
            e->name[n] = '\0';
            e->type = (int)op->dirents[i].type;
        }
    }
    if (op->dir) {
        /* Free libuv's names while the stream still points at our array,
         * then let the next request in. */
        if (req->fs_type == UV_FS_READDIR)
            uv_fs_req_cleanup(req);
        uvgo_mutex_unlock(&op->dir->turn);
    }
    uvgo__ioreq_complete(&op->io);
}

/* Undoes a result nobody took and lets go of everything op holds. */
static void fsop_drop(struct fsop *op)
{
    uv_fs_t *r = &op->req;
    uv_fs_t close_req;

    if (!op->taken && r->result >= 0) {
        switch (r->fs_type) {
        case UV_FS_OPEN:
            (void)close((int)r->result);
            if (op->temp)
                (void)unlink(r->path);
            break;
        case UV_FS_MKDIR:
            if (op->temp)
                (void)rmdir(r->path);
            break;
        case UV_FS_OPENDIR:
            (void)uv_fs_closedir(NULL, &close_req, r->ptr, NULL);
            uv_fs_req_cleanup(&close_req);
            break;
        default:
            break;
        }
    }
    uv_fs_req_cleanup(r);
    if (op->file)
        file_release(op->file);
    if (op->dir)
        dir_release(op->dir);
}

static void fsop_free(uvgo__ioreq_t *io)
{
    struct fsop *op = uvgo__container_of(io, struct fsop, io);
    fsop_drop(op);
    uvgo__free(op);
}

static int fs_start(uv_loop_t *loop, struct fsop *op, const struct fsargs *a)
{
    uv_fs_t *r = &op->req;
    uv_file fd = a->file ? a->file->fd : a->fd;
    uv_buf_t b = uv_buf_init(op->data, (unsigned)a->len);

    switch (a->type) {
    case UV_FS_OPEN:
        return uv_fs_open(loop, r, a->path, a->flags, a->mode, fs_done);
    case UV_FS_CLOSE:
        return uv_fs_close(loop, r, fd, fs_done);
    case UV_FS_READ:
        return uv_fs_read(loop, r, fd, &b, 1, a->off, fs_done);
    case UV_FS_WRITE:
        return uv_fs_write(loop, r, fd, &b, 1, a->off, fs_done);
    case UV_FS_FSYNC:
        return uv_fs_fsync(loop, r, fd, fs_done);
    case UV_FS_FSTAT:
        return uv_fs_fstat(loop, r, fd, fs_done);
    case UV_FS_FTRUNCATE:
        return uv_fs_ftruncate(loop, r, fd, a->off, fs_done);
    case UV_FS_STAT:
        return uv_fs_stat(loop, r, a->path, fs_done);
    case UV_FS_LSTAT:
        return uv_fs_lstat(loop, r, a->path, fs_done);
    case UV_FS_MKDIR:
        return uv_fs_mkdir(loop, r, a->path, a->mode, fs_done);
    case UV_FS_RMDIR:
        return uv_fs_rmdir(loop, r, a->path, fs_done);
    case UV_FS_UNLINK:
        return uv_fs_unlink(loop, r, a->path, fs_done);
    case UV_FS_RENAME:
        return uv_fs_rename(loop, r, a->path, a->path2, fs_done);
    case UV_FS_READLINK:
        return uv_fs_readlink(loop, r, a->path, fs_done);
    case UV_FS_SYMLINK:
        return uv_fs_symlink(loop, r, a->path, a->path2, 0, fs_done);
    case UV_FS_CHMOD:
        return uv_fs_chmod(loop, r, a->path, a->mode, fs_done);
    case UV_FS_OPENDIR:
        return uv_fs_opendir(loop, r, a->path, fs_done);
    case UV_FS_READDIR:
        a->dir->dir->dirents = op->dirents;
        a->dir->dir->nentries = a->nents;
        return uv_fs_readdir(loop, r, a->dir->dir, fs_done);
    case UV_FS_CLOSEDIR:
        return uv_fs_closedir(loop, r, a->dir->dir, fs_done);
    default:
        return UVGO_EINVAL;
    }
}

/* What a task waiting on the request shows in dumps. */
static const char *fs_what(uv_fs_type t)
{
    switch (t) {
    case UV_FS_OPEN:
        return "fs open";
    case UV_FS_CLOSE:
        return "fs close";
    case UV_FS_READ:
        return "fs read";
    case UV_FS_WRITE:
        return "fs write";
    case UV_FS_FSYNC:
        return "fs sync";
    case UV_FS_READDIR:
        return "fs readdir";
    default:
        return "fs request";
    }
}

/* Takes the result of a request that completed for its waiter. */
static int fs_take(struct fsop *op, const struct fsargs *a, int bounced)
{
    ssize_t r = op->req.result;

    if (r < 0)
        return (int)r;
    switch (a->type) {
    case UV_FS_READ:
        if (bounced)
            memcpy(a->buf, op->data, (size_t)r);
        break;
    case UV_FS_READDIR:
        if (bounced)
            memcpy(a->ents, op->ents, (size_t)r * sizeof *a->ents);
        break;
    case UV_FS_STAT:
    case UV_FS_LSTAT:
    case UV_FS_FSTAT:
        *a->st = op->req.statbuf;
        break;
    case UV_FS_READLINK:
        *a->str = uvgo__strdup(op->req.ptr);
        if (!*a->str)
            r = UVGO_ENOMEM;
        break;
    case UV_FS_OPENDIR:
        *a->out_dir = op->req.ptr;
        break;
    default:
        break;
    }
    op->taken = 1;
    return r > INT_MAX ? INT_MAX : (int)r;
}

/* Runs one request described by a, bounded by ctx (NULL: the plain form),
 * and returns its result (a count, a descriptor, 0) or an error. */
static int fs_call(struct fsargs *a, uvgo_ctx_t *ctx)
{
    struct fsop stack_op, *op = &stack_op;
    size_t bounce = 0;
    uv_loop_t *loop;
    int err;

    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    if (ctx && !a->must_run && (err = uvgo_ctx_err(ctx)))
        return err;
    if (ctx) {
        if (a->type == UV_FS_READ || a->type == UV_FS_WRITE)
            bounce = a->len;
        else if (a->type == UV_FS_READDIR)
            bounce = a->nents * sizeof(uvgo_dirent_t);
        op = uvgo__malloc(sizeof *op + bounce);
        if (!op) {
            if (!a->must_run)
                return UVGO_ENOMEM;
            op = &stack_op; /* a close must happen: wait for it instead */
            ctx = NULL;
        }
    }
    memset(op, 0, sizeof *op);
    op->data = ctx ? op->bounce : a->buf;
    op->ents = ctx ? (uvgo_dirent_t *)op->bounce : a->ents;
    op->temp = a->temp;
    if (ctx && a->type == UV_FS_WRITE)
        memcpy(op->bounce, a->buf, a->len);
    if (a->file && (err = file_acquire(a->file)))
        goto fail;
    op->file = a->file;
    if (a->dir) {
        err = a->must_run ? uvgo_mutex_lock(&a->dir->turn)
                          : uvgo_mutex_lock_ctx(&a->dir->turn, ctx);
        if (err)
            goto fail;
        /* relaxed: the caller's reference keeps the directory alive. */
        atomic_fetch_add_explicit(&a->dir->refs, 1, memory_order_relaxed);
        op->dir = a->dir;
    }
    /* A close that must happen is never cancelled, only waited for. */
    loop =
        uvgo__ioreq_init(&op->io, ctx != NULL,
                         a->must_run ? NULL : (uv_req_t *)&op->req, fsop_free);
    err = fs_start(loop, op, a);
    if (err) {
        if (op->dir)
            uvgo_mutex_unlock(&op->dir->turn);
        goto fail;
    }
    err = uvgo__ioreq_wait(&op->io, ctx, fs_what(a->type));
    if (err)
        return err; /* the record finishes, and is freed, without us */
    err = fs_take(op, a, ctx != NULL);
    if (ctx)
        uvgo__ioreq_release(&op->io);
    else
        fsop_drop(op);
    return err;

fail:
    op->taken = 1;
    fsop_drop(op);
    if (op != &stack_op)
        uvgo__free(op);
    return err;
}

/* ---- files --------------------------------------------------------------- */

static uvgo_file_t *file_new(const char *name)
{
    size_t n = strlen(name) + 1;
    uvgo_file_t *f = uvgo__malloc(sizeof *f + n);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    atomic_init(&f->closing, 0);
    f->fd = -1;
    memcpy(f->name, name, n);
    return f;
}

/* Opens path into a new file; `temp` undoes a late creation. */
static int file_open(uvgo_file_t **out, const char *path, int flags, int mode,
                     int temp, uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = UV_FS_OPEN,
                       .path = path,
                       .flags = flags,
                       .mode = mode,
                       .temp = temp};
    uvgo_file_t *f = file_new(path);
    int fd;

    if (!f)
        return UVGO_ENOMEM;
    fd = fs_call(&a, ctx);
    if (fd < 0) {
        uvgo__free(f);
        return fd;
    }
    f->fd = fd;
    *out = f;
    return 0;
}

int uvgo_file_open_ctx(uvgo_file_t **f, const char *path, int flags, int mode,
                       uvgo_ctx_t *ctx)
{
    if (!f || !path)
        return UVGO_EINVAL;
    return file_open(f, path, flags, mode, 0, ctx);
}

int uvgo_file_open(uvgo_file_t **f, const char *path, int flags, int mode)
{
    return uvgo_file_open_ctx(f, path, flags, mode, NULL);
}

static size_t chunk(size_t len, uvgo_ctx_t *ctx)
{
    size_t max = ctx ? FS_CHUNK : (size_t)INT_MAX;
    return len < max ? len : max;
}

/* One read at `off` (-1: the file's offset). */
static int file_read(uvgo_file_t *f, void *buf, size_t len, int64_t off,
                     uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = UV_FS_READ,
                       .file = f,
                       .buf = buf,
                       .len = chunk(len, ctx),
                       .off = off};
    return fs_call(&a, ctx);
}

int uvgo_file_read_ctx(uvgo_file_t *f, void *buf, size_t len, uvgo_ctx_t *ctx)
{
    if (!f || (!buf && len))
        return UVGO_EINVAL;
    if (len == 0)
        return uvgo__task_self() ? 0 : UVGO_ENOTTASK;
    return file_read(f, buf, len, -1, ctx);
}

int uvgo_file_read(uvgo_file_t *f, void *buf, size_t len)
{
    return uvgo_file_read_ctx(f, buf, len, NULL);
}

int uvgo_file_read_at_ctx(uvgo_file_t *f, void *buf, size_t len, int64_t off,
                          uvgo_ctx_t *ctx)
{
    size_t done = 0;
    int r;

    if (!f || (!buf && len) || off < 0)
        return UVGO_EINVAL;
    if (len > INT_MAX)
        len = INT_MAX;
    while (done < len) {
        r = file_read(f, (char *)buf + done, len - done, off + (int64_t)done,
                      ctx);
        if (r < 0)
            return r;
        if (r == 0)
            break; /* the end of the file */
        done += (size_t)r;
    }
    return len ? (int)done : (uvgo__task_self() ? 0 : UVGO_ENOTTASK);
}

int uvgo_file_read_at(uvgo_file_t *f, void *buf, size_t len, int64_t off)
{
    return uvgo_file_read_at_ctx(f, buf, len, off, NULL);
}

/* Writes all of buf at `off` (-1: the file's offset), looping over short
 * writes as Go's File.Write does. */
static int file_write_all(uvgo_file_t *f, const void *buf, size_t len,
                          int64_t off, uvgo_ctx_t *ctx)
{
    size_t done = 0;
    int r;

    if (!f || (!buf && len))
        return UVGO_EINVAL;
    if (len == 0)
        return uvgo__task_self() ? 0 : UVGO_ENOTTASK;
    while (done < len) {
        struct fsargs a = {.type = UV_FS_WRITE,
                           .file = f,
                           .buf = (char *)buf + done,
                           .len = chunk(len - done, ctx),
                           .off = off < 0 ? -1 : off + (int64_t)done};
        r = fs_call(&a, ctx);
        if (r < 0)
            return r;
        if (r == 0)
            return UVGO_EIO; /* no progress: Go's io.ErrShortWrite */
        done += (size_t)r;
    }
    return 0;
}

int uvgo_file_write_ctx(uvgo_file_t *f, const void *buf, size_t len,
                        uvgo_ctx_t *ctx)
{
    return file_write_all(f, buf, len, -1, ctx);
}

int uvgo_file_write(uvgo_file_t *f, const void *buf, size_t len)
{
    return file_write_all(f, buf, len, -1, NULL);
}

int uvgo_file_write_at_ctx(uvgo_file_t *f, const void *buf, size_t len,
                           int64_t off, uvgo_ctx_t *ctx)
{
    if (off < 0)
        return UVGO_EINVAL;
    return file_write_all(f, buf, len, off, ctx);
}

int uvgo_file_write_at(uvgo_file_t *f, const void *buf, size_t len, int64_t off)
{
    return uvgo_file_write_at_ctx(f, buf, len, off, NULL);
}

int uvgo_file_seek(uvgo_file_t *f, int64_t off, int whence, int64_t *pos)
{
    off_t r;

    if (!f || (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END))
        return UVGO_EINVAL;
    if (atomic_load_explicit(&f->closing, memory_order_acquire))
        return UVGO_EBADF;
    r = lseek(f->fd, (off_t)off, whence);
    if (r < 0)
        return uv_translate_sys_error(errno); /* read at once, same thread */
    if (pos)
        *pos = (int64_t)r;
    return 0;
}

/* A request on f with no data: FSYNC, FSTAT, FTRUNCATE. */
static int file_simple(uv_fs_type type, uvgo_file_t *f, int64_t off,
                       uvgo_stat_t *st, uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = type, .file = f, .off = off, .st = st};
    if (!f)
        return UVGO_EINVAL;
    return fs_call(&a, ctx);
}

int uvgo_file_sync_ctx(uvgo_file_t *f, uvgo_ctx_t *ctx)
{
    return file_simple(UV_FS_FSYNC, f, 0, NULL, ctx);
}

int uvgo_file_sync(uvgo_file_t *f)
{
    return uvgo_file_sync_ctx(f, NULL);
}

int uvgo_file_stat_ctx(uvgo_file_t *f, uvgo_stat_t *st, uvgo_ctx_t *ctx)
{
    if (!st)
        return UVGO_EINVAL;
    return file_simple(UV_FS_FSTAT, f, 0, st, ctx);
}

int uvgo_file_stat(uvgo_file_t *f, uvgo_stat_t *st)
{
    return uvgo_file_stat_ctx(f, st, NULL);
}

int uvgo_file_truncate_ctx(uvgo_file_t *f, int64_t size, uvgo_ctx_t *ctx)
{
    if (size < 0)
        return UVGO_EINVAL;
    return file_simple(UV_FS_FTRUNCATE, f, size, NULL, ctx);
}

int uvgo_file_truncate(uvgo_file_t *f, int64_t size)
{
    return uvgo_file_truncate_ctx(f, size, NULL);
}

int uvgo_file_close_ctx(uvgo_file_t *f, uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = UV_FS_CLOSE, .must_run = 1};
    int one = 1;

    if (!f)
        return UVGO_EINVAL;
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    /* acq_rel: pairs with the load in file_acquire. */
    if (atomic_exchange_explicit(&f->closing, 1, memory_order_acq_rel))
        return UVGO_EBADF;
    /* Sole holder: close through the pool and report its result.  Else
     * the last request in flight closes the descriptor. */
    if (!atomic_compare_exchange_strong_explicit(
            &f->refs, &one, 0, memory_order_acq_rel, memory_order_acquire)) {
        file_release(f);
        return 0;
    }
    a.fd = f->fd;
    uvgo__free(f);
    return fs_call(&a, ctx);
}

int uvgo_file_close(uvgo_file_t *f)
{
    return uvgo_file_close_ctx(f, NULL);
}

int uvgo_file_from_fd(uvgo_file_t **out, int fd, const char *name)
{
    uvgo_file_t *f;

    if (!out || fd < 0)
        return UVGO_EINVAL;
    if (!(f = file_new(name ? name : "")))
        return UVGO_ENOMEM;
    f->fd = fd;
    *out = f;
    return 0;
}

int uvgo_file_fd(const uvgo_file_t *f)
{
    return f ? f->fd : -1;
}

const char *uvgo_file_name(const uvgo_file_t *f)
{
    return f ? f->name : "";
}

int uvgo_file_pipe(uvgo_file_t **r, uvgo_file_t **w)
{
    uv_file fds[2];
    uvgo_file_t *fr, *fw;
    int err;

    if (!r || !w)
        return UVGO_EINVAL;
    fr = file_new("|0");
    fw = file_new("|1");
    if (!fr || !fw) {
        uvgo__free(fr);
        uvgo__free(fw);
        return UVGO_ENOMEM;
    }
    /* Both ends blocking: they are meant for children's stdio. */
    if ((err = uv_pipe(fds, 0, 0))) {
        uvgo__free(fr);
        uvgo__free(fw);
        return err;
    }
    fr->fd = fds[0];
    fw->fd = fds[1];
    *r = fr;
    *w = fw;
    return 0;
}

/* ---- temporary names ----------------------------------------------------- */

/* A random 32-bit number for temporary names: splitmix64 over a counter
 * seeded from the clock and the pid, so processes and calls differ. */
static uint32_t temp_random(void)
{
    static atomic_uint_fast64_t state;
    /* relaxed: only uniqueness matters, and O_EXCL settles collisions. */
    uint64_t z = atomic_fetch_add_explicit(&state, 0x9e3779b97f4a7c15ULL,
                                           memory_order_relaxed);
    z += uv_hrtime() ^ ((uint64_t)getpid() << 32);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)(z ^ (z >> 31));
}

/* Go's prefixAndSuffix + joinPath: a new malloc'd name in dir (NULL or
 * "": $TMPDIR or /tmp) for pattern, or NULL with *err set. */
static char *temp_name(const char *dir, const char *pattern, int *err)
{
    const char *star, *sep;
    size_t plen, dlen, need;
    char *out;

    if (!pattern)
        pattern = "";
    if (strchr(pattern, '/')) {
        *err = UVGO_EINVAL;
        return NULL;
    }
    if (!dir || !*dir) {
        dir = getenv("TMPDIR");
        if (!dir || !*dir)
            dir = "/tmp";
    }
    star = strrchr(pattern, '*');
    plen = star ? (size_t)(star - pattern) : strlen(pattern);
    dlen = strlen(dir);
    sep = dir[dlen - 1] == '/' ? "" : "/";
    need = dlen + 1 + strlen(pattern) + 11;
    out = uvgo__malloc(need);
    if (!out) {
        *err = UVGO_ENOMEM;
        return NULL;
    }
    snprintf(out, need, "%s%s%.*s%u%s", dir, sep, (int)plen, pattern,
             (unsigned)temp_random(), star ? star + 1 : "");
    return out;
}

/* Creates a new file named after pattern in dir, opened read-write. */
static int create_temp(uvgo_file_t **f, const char *dir, const char *pattern,
                       int mode, uvgo_ctx_t *ctx)
{
    int err = UVGO_EEXIST;

    for (int i = 0; i < TEMP_TRIES && err == UVGO_EEXIST; i++) {
        char *name = temp_name(dir, pattern, &err);
        if (!name)
            return err;
        err = file_open(f, name, UVGO_O_RDWR | UVGO_O_CREATE | UVGO_O_EXCL,
                        mode, 1, ctx);
        uvgo__free(name);
    }
    return err;
}

int uvgo_file_create_temp_ctx(uvgo_file_t **f, const char *dir,
                              const char *pattern, uvgo_ctx_t *ctx)
{
    if (!f)
        return UVGO_EINVAL;
    return create_temp(f, dir, pattern, 0600, ctx);
}

int uvgo_file_create_temp(uvgo_file_t **f, const char *dir, const char *pattern)
{
    return uvgo_file_create_temp_ctx(f, dir, pattern, NULL);
}

int uvgo_mkdir_temp_ctx(const char *dir, const char *pattern, char **path,
                        uvgo_ctx_t *ctx)
{
    int err = UVGO_EEXIST;

    if (!path)
        return UVGO_EINVAL;
    for (int i = 0; i < TEMP_TRIES && err == UVGO_EEXIST; i++) {
        struct fsargs a = {.type = UV_FS_MKDIR, .mode = 0700, .temp = 1};
        char *name = temp_name(dir, pattern, &err);
        if (!name)
            return err;
        a.path = name;
        err = fs_call(&a, ctx);
        if (err == 0) {
            *path = name;
            return 0;
        }
        uvgo__free(name);
    }
    return err;
}

int uvgo_mkdir_temp(const char *dir, const char *pattern, char **path)
{
    return uvgo_mkdir_temp_ctx(dir, pattern, path, NULL);
}

/* ---- paths --------------------------------------------------------------- */

/* A request on one or two paths with no other result. */
static int path_call(uv_fs_type type, const char *path, const char *path2,
                     int mode, uvgo_ctx_t *ctx)
{
    struct fsargs a = {
        .type = type, .path = path, .path2 = path2, .mode = mode};
    if (!path || ((type == UV_FS_RENAME || type == UV_FS_SYMLINK) && !path2))
        return UVGO_EINVAL;
    return fs_call(&a, ctx);
}

static int stat_call(uv_fs_type type, const char *path, uvgo_stat_t *st,
                     uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = type, .path = path, .st = st};
    if (!path || !st)
        return UVGO_EINVAL;
    return fs_call(&a, ctx);
}

int uvgo_stat_ctx(const char *path, uvgo_stat_t *st, uvgo_ctx_t *ctx)
{
    return stat_call(UV_FS_STAT, path, st, ctx);
}

int uvgo_stat(const char *path, uvgo_stat_t *st)
{
    return stat_call(UV_FS_STAT, path, st, NULL);
}

int uvgo_lstat_ctx(const char *path, uvgo_stat_t *st, uvgo_ctx_t *ctx)
{
    return stat_call(UV_FS_LSTAT, path, st, ctx);
}

int uvgo_lstat(const char *path, uvgo_stat_t *st)
{
    return stat_call(UV_FS_LSTAT, path, st, NULL);
}

int uvgo_mkdir_ctx(const char *path, int mode, uvgo_ctx_t *ctx)
{
    return path_call(UV_FS_MKDIR, path, NULL, mode, ctx);
}

int uvgo_mkdir(const char *path, int mode)
{
    return uvgo_mkdir_ctx(path, mode, NULL);
}

/* Go's MkdirAll on the first `len` bytes of path (a writable copy). */
static int mkdir_all(char *path, size_t len, int mode, uvgo_ctx_t *ctx)
{
    uvgo_stat_t st;
    size_t i = len, j;
    char saved = path[len];
    int err;

    path[len] = '\0';
    err = uvgo_stat_ctx(path, &st, ctx);
    if (err == 0) {
        err = S_ISDIR(st.st_mode) ? 0 : UVGO_ENOTDIR;
        goto out;
    }
    /* Skip trailing slashes, then the last element: its parent first. */
    while (i > 0 && path[i - 1] == '/')
        i--;
    j = i;
    while (j > 0 && path[j - 1] != '/')
        j--;
    if (j > 1 && (err = mkdir_all(path, j - 1, mode, ctx)))
        goto out;
    err = uvgo_mkdir_ctx(path, mode, ctx);
    if (err && err != UVGO_ECANCELED && err != UVGO_ETIMEDOUT &&
        uvgo_lstat_ctx(path, &st, ctx) == 0 && S_ISDIR(st.st_mode))
        err = 0; /* made meanwhile by someone else */
out:
    path[len] = saved;
    return err;
}

int uvgo_mkdir_all_ctx(const char *path, int mode, uvgo_ctx_t *ctx)
{
    char *copy;
    int err;

    if (!path)
        return UVGO_EINVAL;
    if (!(copy = uvgo__strdup(path)))
        return UVGO_ENOMEM;
    err = mkdir_all(copy, strlen(copy), mode, ctx);
    uvgo__free(copy);
    return err;
}

int uvgo_mkdir_all(const char *path, int mode)
{
    return uvgo_mkdir_all_ctx(path, mode, NULL);
}

int uvgo_remove_ctx(const char *path, uvgo_ctx_t *ctx)
{
    int err, err2;

    err = path_call(UV_FS_UNLINK, path, NULL, 0, ctx);
    if (err == 0 || err == UVGO_EINVAL || err == UVGO_ENOTTASK ||
        err == UVGO_ECANCELED || err == UVGO_ETIMEDOUT)
        return err;
    err2 = path_call(UV_FS_RMDIR, path, NULL, 0, ctx);
    if (err2 == 0)
        return 0;
    /* Both failed.  rmdir of a non-directory says ENOTDIR everywhere, so
     * then unlink's error is the real one (Go's reasoning). */
    return err2 == UVGO_ENOTDIR ? err : err2;
}

int uvgo_remove(const char *path)
{
    return uvgo_remove_ctx(path, NULL);
}

/* Removes what is below the directory `path`, then it. */
static int remove_tree(const char *path, uvgo_ctx_t *ctx)
{
    uvgo_dir_t *d;
    uvgo_dirent_t *ents;
    size_t plen = strlen(path);
    int n, err, err2;

    if ((err = uvgo_dir_open_ctx(&d, path, ctx)))
        return err == UVGO_ENOENT ? 0 : err; /* gone meanwhile */
    if (!(ents = uvgo__malloc(16 * sizeof *ents))) {
        (void)uvgo_dir_close(d);
        return UVGO_ENOMEM;
    }
    /* Entries removed while the stream is open do not disturb it. */
    while (err == 0 && (n = uvgo_dir_read_ctx(d, ents, 16, ctx)) > 0) {
        for (int i = 0; i < n && err == 0; i++) {
            size_t need = plen + 2 + strlen(ents[i].name);
            char *child = uvgo__malloc(need);
            if (!child) {
                err = UVGO_ENOMEM;
                break;
            }
            snprintf(child, need, "%s/%s", path, ents[i].name);
            err = uvgo_remove_all_ctx(child, ctx);
            uvgo__free(child);
        }
    }
    if (err == 0 && n < 0)
        err = n;
    uvgo__free(ents);
    err2 = uvgo_dir_close_ctx(d, ctx);
    if (err == 0)
        err = err2;
    if (err == 0)
        err = path_call(UV_FS_RMDIR, path, NULL, 0, ctx);
    return err == UVGO_ENOENT ? 0 : err;
}

int uvgo_remove_all_ctx(const char *path, uvgo_ctx_t *ctx)
{
    uvgo_stat_t st;
    size_t n;
    int err;

    if (!path || !*path)
        return UVGO_EINVAL;
    n = strlen(path);
    if (path[n - 1] == '.' && (n == 1 || path[n - 2] == '/'))
        return UVGO_EINVAL;
    err = uvgo_remove_ctx(path, ctx);
    if (err == 0 || err == UVGO_ENOENT)
        return 0;
    if (uvgo_lstat_ctx(path, &st, ctx) != 0 || !S_ISDIR(st.st_mode))
        return err;
    return remove_tree(path, ctx);
}

int uvgo_remove_all(const char *path)
{
    return uvgo_remove_all_ctx(path, NULL);
}

int uvgo_rename_ctx(const char *oldpath, const char *newpath, uvgo_ctx_t *ctx)
{
    return path_call(UV_FS_RENAME, oldpath, newpath, 0, ctx);
}

int uvgo_rename(const char *oldpath, const char *newpath)
{
    return uvgo_rename_ctx(oldpath, newpath, NULL);
}

int uvgo_readlink_ctx(const char *path, char **target, uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = UV_FS_READLINK, .path = path, .str = target};
    if (!path || !target)
        return UVGO_EINVAL;
    return fs_call(&a, ctx);
}

int uvgo_readlink(const char *path, char **target)
{
    return uvgo_readlink_ctx(path, target, NULL);
}

int uvgo_symlink_ctx(const char *target, const char *linkpath, uvgo_ctx_t *ctx)
{
    return path_call(UV_FS_SYMLINK, target, linkpath, 0, ctx);
}

int uvgo_symlink(const char *target, const char *linkpath)
{
    return uvgo_symlink_ctx(target, linkpath, NULL);
}

int uvgo_chmod_ctx(const char *path, int mode, uvgo_ctx_t *ctx)
{
    return path_call(UV_FS_CHMOD, path, NULL, mode, ctx);
}

int uvgo_chmod(const char *path, int mode)
{
    return uvgo_chmod_ctx(path, mode, NULL);
}

/* ---- directories --------------------------------------------------------- */

int uvgo_dir_open_ctx(uvgo_dir_t **out, const char *path, uvgo_ctx_t *ctx)
{
    uvgo_dir_t *d;
    struct fsargs a = {.type = UV_FS_OPENDIR, .path = path};
    int err;

    if (!out || !path)
        return UVGO_EINVAL;
    if (!(d = uvgo__calloc(1, sizeof *d)))
        return UVGO_ENOMEM;
    atomic_init(&d->refs, 1);
    a.out_dir = &d->dir;
    err = fs_call(&a, ctx);
    if (err) {
        uvgo__free(d);
        return err;
    }
    *out = d;
    return 0;
}

int uvgo_dir_open(uvgo_dir_t **d, const char *path)
{
    return uvgo_dir_open_ctx(d, path, NULL);
}

int uvgo_dir_read_ctx(uvgo_dir_t *d, uvgo_dirent_t *ents, size_t n,
                      uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = UV_FS_READDIR,
                       .dir = d,
                       .ents = ents,
                       .nents = n < FS_DIRENTS ? n : FS_DIRENTS};
    if (!d || !ents || n == 0)
        return UVGO_EINVAL;
    return fs_call(&a, ctx);
}

int uvgo_dir_read(uvgo_dir_t *d, uvgo_dirent_t *ents, size_t n)
{
    return uvgo_dir_read_ctx(d, ents, n, NULL);
}

int uvgo_dir_close_ctx(uvgo_dir_t *d, uvgo_ctx_t *ctx)
{
    struct fsargs a = {.type = UV_FS_CLOSEDIR, .dir = d, .must_run = 1};
    int err;

    if (!d)
        return UVGO_EINVAL;
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    err = fs_call(&a, ctx);
    dir_release(d);
    return err;
}

int uvgo_dir_close(uvgo_dir_t *d)
{
    return uvgo_dir_close_ctx(d, NULL);
}

/* ---- whole files --------------------------------------------------------- */

int uvgo_read_file_ctx(const char *path, size_t limit, char **data, size_t *len,
                       uvgo_ctx_t *ctx)
{
    uvgo_file_t *f;
    uvgo_stat_t st;
    size_t n = 0, cap;
    char *buf = NULL, *grown;
    int err, r;

    if (!path || !data || !len)
        return UVGO_EINVAL;
    if (limit == 0 || limit > UVGO_READ_FILE_MAX)
        limit = UVGO_READ_FILE_MAX;
    if ((err = uvgo_file_open_ctx(&f, path, UVGO_O_RDONLY, 0, ctx)))
        return err;
    /* Start from the size the file claims (files in /proc say 0), plus
     * one byte to see the end or the limit crossed without a regrow. */
    cap = 512;
    if (uvgo_file_stat_ctx(f, &st, ctx) == 0 && st.st_size > 0)
        cap = st.st_size < limit ? (size_t)st.st_size + 1 : limit + 1;
    for (;;) {
        if (!buf || n == cap) {
            if (n > limit) {
                err = UVGO_EFBIG;
                break;
            }
            if (buf)
                cap = cap > limit / 2 ? limit + 1 : cap * 2;
            if (!(grown = uvgo__realloc(buf, cap))) {
                err = UVGO_ENOMEM;
                break;
            }
            buf = grown;
        }
        r = uvgo_file_read_ctx(f, buf + n, cap - n, ctx);
        if (r <= 0) {
            err = r;
            break;
        }
        n += (size_t)r;
    }
    if (err == 0 && n > limit)
        err = UVGO_EFBIG;
    /* A context that ended lets the close finish in the background. */
    r = uvgo_file_close_ctx(f, ctx);
    if (err == 0 && r != UVGO_ECANCELED && r != UVGO_ETIMEDOUT)
        err = r;
    if (err == 0 && n == cap) { /* room for the NUL */
        if (!(grown = uvgo__realloc(buf, n + 1)))
            err = UVGO_ENOMEM;
        else
            buf = grown;
    }
    if (err) {
        uvgo__free(buf);
        return err;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int uvgo_read_file(const char *path, size_t limit, char **data, size_t *len)
{
    return uvgo_read_file_ctx(path, limit, data, len, NULL);
}

/* Writes data to f and closes it; returns the first error. */
static int write_close(uvgo_file_t *f, const void *data, size_t len, int sync,
                       uvgo_ctx_t *ctx)
{
    int err = file_write_all(f, data, len, -1, ctx);
    int err2;

    if (err == 0 && sync)
        err = uvgo_file_sync_ctx(f, ctx);
    err2 = uvgo_file_close_ctx(f, ctx);
    return err ? err : err2;
}

int uvgo_write_file_ctx(const char *path, const void *data, size_t len,
                        int mode, uvgo_ctx_t *ctx)
{
    uvgo_file_t *f;
    int err;

    if (!path || (!data && len))
        return UVGO_EINVAL;
    err = uvgo_file_open_ctx(
        &f, path, UVGO_O_WRONLY | UVGO_O_CREATE | UVGO_O_TRUNC, mode, ctx);
    return err ? err : write_close(f, data, len, 0, ctx);
}

int uvgo_write_file(const char *path, const void *data, size_t len, int mode)
{
    return uvgo_write_file_ctx(path, data, len, mode, NULL);
}

/* fsync of the directory `dir`, which makes a rename in it durable.  File
 * systems that cannot sync a directory say UVGO_EINVAL: nothing to do. */
static int sync_dir(const char *dir, uvgo_ctx_t *ctx)
{
    uvgo_file_t *d;
    int err, err2;

    if ((err = uvgo_file_open_ctx(&d, dir, UVGO_O_RDONLY, 0, ctx)))
        return err;
    err = uvgo_file_sync_ctx(d, ctx);
    err2 = uvgo_file_close_ctx(d, ctx);
    if (err == UVGO_EINVAL)
        err = 0;
    return err ? err : err2;
}

int uvgo_write_file_atomic_ctx(const char *path, const void *data, size_t len,
                               int mode, uvgo_ctx_t *ctx)
{
    const char *slash, *base;
    char *dir, *pattern, *tmp = NULL;
    uvgo_file_t *f;
    size_t dlen;
    int err;

    if (!path || (!data && len))
        return UVGO_EINVAL;
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    if (!*base)
        return UVGO_EINVAL;
    dlen = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    dir = uvgo__malloc(dlen + 1);
    pattern = uvgo__malloc(strlen(base) + 7);
    if (!dir || !pattern) {
        err = UVGO_ENOMEM;
        goto out;
    }
    memcpy(dir, slash ? path : ".", dlen);
    dir[dlen] = '\0';
    sprintf(pattern, ".%s.tmp*", base);

    if ((err = create_temp(&f, dir, pattern, mode, ctx)))
        goto out;
    if (!(tmp = uvgo__strdup(uvgo_file_name(f)))) {
        (void)uvgo_remove(uvgo_file_name(f));
        (void)uvgo_file_close(f);
        err = UVGO_ENOMEM;
    } else {
        err = write_close(f, data, len, 1, ctx);
    }
    if (err == 0)
        err = uvgo_rename_ctx(tmp, path, ctx);
    if (err) {
        /* Without the context, which may be what ended: the old file must
         * stay and the temporary go.  A rename given up on may still land
         * after this: then the new file is whole, and this fails. */
        if (tmp)
            (void)uvgo_remove(tmp);
        goto out;
    }
    err = sync_dir(dir, ctx);
out:
    uvgo__free(tmp);
    uvgo__free(pattern);
    uvgo__free(dir);
    return err;
}

int uvgo_write_file_atomic(const char *path, const void *data, size_t len,
                           int mode)
{
    return uvgo_write_file_atomic_ctx(path, data, len, mode, NULL);
}
