/* uvgo/fs.h: files and directories for tasks (Go's os package, files part).
 *
 * The model.  Every call runs its system call on libuv's thread pool and
 * parks the calling task meanwhile: its worker keeps serving other tasks.
 * Errors are libuv's codes, which are the kernel's (UVGO_ENOENT, UVGO_EACCES,
 * UVGO_EISDIR, UVGO_ENOSPC...; uvgo_strerror names them).  A NULL path or
 * object is UVGO_EINVAL; an empty path reaches the kernel, which says
 * UVGO_ENOENT (as Go's os.Open("") does).  Calls need a task: UVGO_ENOTTASK
 * elsewhere.
 *
 * Contexts.  Each call has a *_ctx form taking a context last (NULL: the
 * plain form).  When the context ends first, the call returns its error
 * (UVGO_ECANCELED, UVGO_ETIMEDOUT) at once, but a request the pool has
 * already begun cannot be taken back: it runs to its end in the
 * background, and uvgo frees whatever it produces (a late descriptor is
 * closed, a late temporary file removed, late data dropped).  What it did
 * may stay done: a write may have written, a rename renamed.  Buffers:
 *
 *   - a *_ctx call never touches the caller's memory after it returned:
 *     data read arrives in a buffer of uvgo's and is copied out only on
 *     success, data to write is copied in before the request starts, and
 *     paths are copied.  The caller may free or reuse its buffers as soon
 *     as the call returns, whatever it returned;
 *   - a plain call reads and writes the caller's buffer in place.
 *
 * A request given up on can leave the file offset (uvgo_file_read/write)
 * or a directory stream (uvgo_dir_read) at an unspecified place: the
 * bytes or entries it took are dropped.  Use the *_at forms where that
 * matters.
 *
 * Cost.  A request holds one pool thread while it runs (libuv starts 4;
 * UV_THREADPOOL_SIZE sets more before the first request).  A read that may
 * wait indefinitely (a FIFO, a terminal) holds its thread that long even
 * if its context ends; read those through a connection (uvgo/io.h:
 * standard streams, process pipes) instead.
 *
 * Files and tasks.  A uvgo_file_t may be used by several tasks at once:
 * reads and writes at the current offset share the kernel's offset, as
 * with read(2).  Its descriptor is close-on-exec.  uvgo_file_close frees
 * the file: no call may start on it afterwards, but calls already in
 * progress (or given up on) keep the descriptor open until they end.
 */
#ifndef UVGO_FS_H
#define UVGO_FS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "context.h"
#include "errno.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvgo_file uvgo_file_t;
typedef struct uvgo_dir uvgo_dir_t;

/* File information: libuv's stat record (st_mode, st_size, st_mtim...). */
typedef uv_stat_t uvgo_stat_t;

/* Flags for uvgo_file_open, Go's os.O_*: exactly one of the first three,
 * or'd with any of the rest. */
#define UVGO_O_RDONLY UV_FS_O_RDONLY
#define UVGO_O_WRONLY UV_FS_O_WRONLY
#define UVGO_O_RDWR UV_FS_O_RDWR
#define UVGO_O_APPEND UV_FS_O_APPEND /* writes go to the end */
#define UVGO_O_CREATE UV_FS_O_CREAT  /* create it if it does not exist */
#define UVGO_O_EXCL UV_FS_O_EXCL     /* with CREATE: it must not exist */
#define UVGO_O_SYNC UV_FS_O_SYNC     /* writes reach the disk before return */
#define UVGO_O_TRUNC UV_FS_O_TRUNC   /* empty it on open */

/* The largest whole-file read that uvgo_read_file accepts with no smaller
 * limit given (limit 0). */
#define UVGO_READ_FILE_MAX ((size_t)1 << 30)

/* ------------------------------------------------------------------------ */
/* Files                                                                    */
/* ------------------------------------------------------------------------ */

/* Go's os.OpenFile: opens `path` with UVGO_O_* flags; `mode` (0644...)
 * applies when the file is created, less the umask.  Returns 0 with *f
 * set, UVGO_EINVAL (NULL f or path), or the kernel's error (UVGO_ENOENT,
 * UVGO_EACCES, UVGO_EISDIR for a directory opened for writing, UVGO_EEXIST with
 * EXCL...).  Owner: the caller owns *f until uvgo_file_close.
 * Thread: any task. */
UVGO_EXTERN int uvgo_file_open(uvgo_file_t **f, const char *path, int flags,
                               int mode);
UVGO_EXTERN int uvgo_file_open_ctx(uvgo_file_t **f, const char *path, int flags,
                                   int mode, uvgo_ctx_t *ctx);

/* Reads up to len bytes at the file's offset into buf and advances it.
 * Returns the count (at most INT_MAX; fewer than len is normal), 0 at the
 * end of the file, UVGO_EINVAL (NULL f, NULL buf with len > 0), UVGO_EBADF
 * (closed), or the kernel's error.  The _ctx form reads at most 1 MiB per
 * call (its bounce buffer).  Owner: buf is the caller's; see "Contexts".
 * Thread: any task. */
UVGO_EXTERN int uvgo_file_read(uvgo_file_t *f, void *buf, size_t len);
UVGO_EXTERN int uvgo_file_read_ctx(uvgo_file_t *f, void *buf, size_t len,
                                   uvgo_ctx_t *ctx);

/* Writes all len bytes at the file's offset (at the end with APPEND),
 * looping over short writes.  Returns 0 once all are written, or the
 * error that stopped it (UVGO_ENOSPC, UVGO_EFBIG past RLIMIT_FSIZE, UVGO_EBADF
 * for a file opened read-only...); a prefix may have been written then.
 * Owner: buf stays the caller's; see "Contexts".  Thread: any task. */
UVGO_EXTERN int uvgo_file_write(uvgo_file_t *f, const void *buf, size_t len);
UVGO_EXTERN int uvgo_file_write_ctx(uvgo_file_t *f, const void *buf, size_t len,
                                    uvgo_ctx_t *ctx);

/* Go's ReadAt and WriteAt (pread/pwrite): at offset `off`, leaving the
 * file's offset alone.  read_at reads until len bytes (at most INT_MAX)
 * or the end of the file and returns the count: fewer than len only at
 * the end.  write_at writes all len bytes and returns 0.  UVGO_EINVAL for
 * off < 0.  Owner: buf stays the caller's; see "Contexts".
 * Thread: any task. */
UVGO_EXTERN int uvgo_file_read_at(uvgo_file_t *f, void *buf, size_t len,
                                  int64_t off);
UVGO_EXTERN int uvgo_file_read_at_ctx(uvgo_file_t *f, void *buf, size_t len,
                                      int64_t off, uvgo_ctx_t *ctx);
UVGO_EXTERN int uvgo_file_write_at(uvgo_file_t *f, const void *buf, size_t len,
                                   int64_t off);
UVGO_EXTERN int uvgo_file_write_at_ctx(uvgo_file_t *f, const void *buf,
                                       size_t len, int64_t off,
                                       uvgo_ctx_t *ctx);

/* Go's Seek: sets the offset for the next read or write to `off` relative
 * to SEEK_SET, SEEK_CUR or SEEK_END; *pos (if not NULL) receives the new
 * offset.  Runs lseek(2) in place (it never waits, so it has no _ctx
 * form).  Returns 0, UVGO_EINVAL, UVGO_EBADF, or the kernel's error
 * (UVGO_ESPIPE on a pipe).  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_file_seek(uvgo_file_t *f, int64_t off, int whence,
                               int64_t *pos);

/* Go's Sync: fsync(2), the file's data and metadata on stable storage.
 * Returns 0, UVGO_EINVAL, UVGO_EBADF or the kernel's error.  Owner: none.
 * Thread: any task. */
UVGO_EXTERN int uvgo_file_sync(uvgo_file_t *f);
UVGO_EXTERN int uvgo_file_sync_ctx(uvgo_file_t *f, uvgo_ctx_t *ctx);

/* Go's File.Stat: fstat(2) into *st.  Returns 0, UVGO_EINVAL, UVGO_EBADF or
 * the kernel's error.  Owner: the caller's *st.  Thread: any task. */
UVGO_EXTERN int uvgo_file_stat(uvgo_file_t *f, uvgo_stat_t *st);
UVGO_EXTERN int uvgo_file_stat_ctx(uvgo_file_t *f, uvgo_stat_t *st,
                                   uvgo_ctx_t *ctx);

/* Go's Truncate: sets the file's size (ftruncate(2)); the offset stays.
 * Returns 0, UVGO_EINVAL (size < 0), UVGO_EBADF or the kernel's error.
 * Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_file_truncate(uvgo_file_t *f, int64_t size);
UVGO_EXTERN int uvgo_file_truncate_ctx(uvgo_file_t *f, int64_t size,
                                       uvgo_ctx_t *ctx);

/* Closes the file and frees f.  Returns close(2)'s result, UVGO_EINVAL
 * or UVGO_ENOTTASK (then f is untouched).  While other calls on f are
 * still in progress (or given up on), the descriptor closes when the last
 * of them ends (they return their results; calls that start later on f
 * are use after free) and this returns 0.  The _ctx form returns the
 * context's error if it ends while close runs: the descriptor is closed
 * in the background all the same.  Owner: consumes f.
 * Thread: any task. */
UVGO_EXTERN int uvgo_file_close(uvgo_file_t *f);
UVGO_EXTERN int uvgo_file_close_ctx(uvgo_file_t *f, uvgo_ctx_t *ctx);

/* Go's os.NewFile: a file of the open descriptor fd, named `name` (NULL:
 * "").  Returns 0, UVGO_EINVAL (NULL f, fd < 0) or UVGO_ENOMEM.  Owner:
 * *f owns fd from then on: uvgo_file_close closes it.  Thread: any. */
UVGO_EXTERN int uvgo_file_from_fd(uvgo_file_t **f, int fd, const char *name);

/* The descriptor (for uvgo_cmd_t's stdio, or fcntl), -1 for NULL.  Do not
 * close it yourself.  Owner: f's.  Thread: any. */
UVGO_EXTERN int uvgo_file_fd(const uvgo_file_t *f);

/* The name f was opened with ("|0" and "|1" for a pipe's ends).
 * Owner: f's, valid until it is closed.  Thread: any. */
UVGO_EXTERN const char *uvgo_file_name(const uvgo_file_t *f);

/* Go's os.CreateTemp: creates a new file in `dir` (NULL or "": $TMPDIR,
 * else /tmp) named by `pattern` with a random string replacing its last
 * '*', or appended when it has none, opened for reading and writing with
 * mode 0600; uvgo_file_name(*f) is its path.  Returns 0, UVGO_EINVAL (NULL
 * f, a pattern containing '/'), or the kernel's error.  Removing the file
 * is the caller's job.  Owner: the caller owns *f.  Thread: any task. */
UVGO_EXTERN int uvgo_file_create_temp(uvgo_file_t **f, const char *dir,
                                      const char *pattern);
UVGO_EXTERN int uvgo_file_create_temp_ctx(uvgo_file_t **f, const char *dir,
                                          const char *pattern, uvgo_ctx_t *ctx);

/* Go's os.Pipe: a pipe as two files, *r its read end and *w its write end,
 * both blocking and close-on-exec.  Made to be handed to child processes
 * (uvgo/process.h: one child's stdout, another's stdin); a task that
 * reads a pipe itself does better with a process pipe connection (see
 * "Cost").  Returns 0, UVGO_EINVAL, or the kernel's error (UVGO_EMFILE).
 * Owner: the caller owns both.  Thread: any. */
UVGO_EXTERN int uvgo_file_pipe(uvgo_file_t **r, uvgo_file_t **w);

/* ------------------------------------------------------------------------ */
/* Paths                                                                    */
/* ------------------------------------------------------------------------ */

/* Go's os.Stat (follows symbolic links) and os.Lstat (does not): fills
 * *st.  Returns 0, UVGO_EINVAL, or the kernel's error (UVGO_ENOENT).
 * Owner: the caller's *st.  Thread: any task. */
UVGO_EXTERN int uvgo_stat(const char *path, uvgo_stat_t *st);
UVGO_EXTERN int uvgo_stat_ctx(const char *path, uvgo_stat_t *st,
                              uvgo_ctx_t *ctx);
UVGO_EXTERN int uvgo_lstat(const char *path, uvgo_stat_t *st);
UVGO_EXTERN int uvgo_lstat_ctx(const char *path, uvgo_stat_t *st,
                               uvgo_ctx_t *ctx);

/* Go's os.Mkdir: creates a directory with `mode` (less the umask).
 * Returns 0, UVGO_EINVAL, or the kernel's error (UVGO_EEXIST, UVGO_ENOENT
 * for a missing parent).  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_mkdir(const char *path, int mode);
UVGO_EXTERN int uvgo_mkdir_ctx(const char *path, int mode, uvgo_ctx_t *ctx);

/* Go's os.MkdirAll (mkdir -p): creates `path` and every missing parent.
 * Returns 0 (also when it already is a directory), UVGO_EINVAL,
 * UVGO_ENOTDIR when it or a parent exists and is not a directory, or the
 * kernel's error.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_mkdir_all(const char *path, int mode);
UVGO_EXTERN int uvgo_mkdir_all_ctx(const char *path, int mode, uvgo_ctx_t *ctx);

/* Go's os.MkdirTemp: creates a new directory (mode 0700) in `dir` named
 * as uvgo_file_create_temp names files; *path receives its path.
 * Returns 0, UVGO_EINVAL, UVGO_ENOMEM or the kernel's error.  Owner: the
 * caller frees *path with free() (uvgo/alloc.h); removing the directory
 * is its job.
 * Thread: any task. */
UVGO_EXTERN int uvgo_mkdir_temp(const char *dir, const char *pattern,
                                char **path);
UVGO_EXTERN int uvgo_mkdir_temp_ctx(const char *dir, const char *pattern,
                                    char **path, uvgo_ctx_t *ctx);

/* Go's os.Remove: removes a file, a symbolic link or an empty directory.
 * Returns 0, UVGO_EINVAL, or the kernel's error (UVGO_ENOENT, UVGO_ENOTEMPTY).
 * Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_remove(const char *path);
UVGO_EXTERN int uvgo_remove_ctx(const char *path, uvgo_ctx_t *ctx);

/* Go's os.RemoveAll: removes `path` and everything below it, not
 * following symbolic links.  Returns 0 (also when nothing was there),
 * UVGO_EINVAL (NULL, "" or a path ending in "."), or the first error
 * that stopped it.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_remove_all(const char *path);
UVGO_EXTERN int uvgo_remove_all_ctx(const char *path, uvgo_ctx_t *ctx);

/* Go's os.Rename: rename(2), replacing `newpath` atomically if it exists.
 * Returns 0, UVGO_EINVAL, or the kernel's error (UVGO_EXDEV across file
 * systems).  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_rename(const char *oldpath, const char *newpath);
UVGO_EXTERN int uvgo_rename_ctx(const char *oldpath, const char *newpath,
                                uvgo_ctx_t *ctx);

/* Go's os.Readlink: *target receives the symbolic link's contents.
 * Returns 0, UVGO_EINVAL, UVGO_ENOMEM or the kernel's error (UVGO_EINVAL
 * for a path that is not a link).  Owner: the caller frees *target with
 * free() (uvgo/alloc.h).  Thread: any task. */
UVGO_EXTERN int uvgo_readlink(const char *path, char **target);
UVGO_EXTERN int uvgo_readlink_ctx(const char *path, char **target,
                                  uvgo_ctx_t *ctx);

/* Go's os.Symlink: creates `linkpath` as a symbolic link to `target`.
 * Returns 0, UVGO_EINVAL or the kernel's error.  Owner: none.
 * Thread: any task. */
UVGO_EXTERN int uvgo_symlink(const char *target, const char *linkpath);
UVGO_EXTERN int uvgo_symlink_ctx(const char *target, const char *linkpath,
                                 uvgo_ctx_t *ctx);

/* Go's os.Chmod: sets the permission bits (following links).  Returns 0,
 * UVGO_EINVAL or the kernel's error.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_chmod(const char *path, int mode);
UVGO_EXTERN int uvgo_chmod_ctx(const char *path, int mode, uvgo_ctx_t *ctx);

/* ------------------------------------------------------------------------ */
/* Directories, streamed                                                    */
/* ------------------------------------------------------------------------ */

/* One directory entry.  `type` is libuv's uv_dirent_type_t (UV_DIRENT_FILE,
 * UV_DIRENT_DIR, UV_DIRENT_LINK...; UV_DIRENT_UNKNOWN where the file
 * system does not say: stat it). */
typedef struct uvgo_dirent {
    char name[256];
    int type;
} uvgo_dirent_t;

/* Opens a directory for reading in batches.  Returns 0, UVGO_EINVAL, or
 * the kernel's error (UVGO_ENOENT, UVGO_ENOTDIR).  Owner: the caller owns *d
 * until uvgo_dir_close.  Thread: any task. */
UVGO_EXTERN int uvgo_dir_open(uvgo_dir_t **d, const char *path);
UVGO_EXTERN int uvgo_dir_open_ctx(uvgo_dir_t **d, const char *path,
                                  uvgo_ctx_t *ctx);

/* Reads the next entries ("." and ".." skipped) into ents[0..n) and
 * returns how many: up to n (at most 64 per call), 0 at the end.  Entries
 * come in the file system's order; memory stays bounded however large the
 * directory.  Calls on one directory take turns.  Returns UVGO_EINVAL
 * (NULL d or ents, n == 0) or the kernel's error too.  Owner: the
 * caller's ents.  Thread: any task. */
UVGO_EXTERN int uvgo_dir_read(uvgo_dir_t *d, uvgo_dirent_t *ents, size_t n);
UVGO_EXTERN int uvgo_dir_read_ctx(uvgo_dir_t *d, uvgo_dirent_t *ents, size_t n,
                                  uvgo_ctx_t *ctx);

/* Closes the directory and frees d, after any read in progress.  Returns
 * 0, UVGO_EINVAL or the kernel's error; the _ctx form returns the
 * context's error if it ends first (the directory then closes in the
 * background).  Owner: consumes d.  Thread: any task. */
UVGO_EXTERN int uvgo_dir_close(uvgo_dir_t *d);
UVGO_EXTERN int uvgo_dir_close_ctx(uvgo_dir_t *d, uvgo_ctx_t *ctx);

/* ------------------------------------------------------------------------ */
/* Whole files                                                              */
/* ------------------------------------------------------------------------ */

/* Go's os.ReadFile, bounded: reads the whole file into a new buffer.
 * *data receives it with a NUL byte after the last one (not counted in
 * *len).  A file longer than `limit` bytes (0: UVGO_READ_FILE_MAX) is
 * UVGO_EFBIG, and nothing is returned; memory use stays under about twice
 * the limit.  Returns 0, UVGO_EINVAL, UVGO_ENOMEM or the kernel's error.
 * Owner: the caller frees *data with free() (uvgo/alloc.h).  Thread: any
 * task. */
UVGO_EXTERN int uvgo_read_file(const char *path, size_t limit, char **data,
                               size_t *len);
UVGO_EXTERN int uvgo_read_file_ctx(const char *path, size_t limit, char **data,
                                   size_t *len, uvgo_ctx_t *ctx);

/* Go's os.WriteFile: opens `path` for writing (creating it with `mode`
 * less the umask, or truncating it), writes len bytes and closes it.  A
 * failure can leave the file empty or half written; see
 * uvgo_write_file_atomic.  Returns 0, UVGO_EINVAL or the kernel's error.
 * Owner: data stays the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_write_file(const char *path, const void *data, size_t len,
                                int mode);
UVGO_EXTERN int uvgo_write_file_ctx(const char *path, const void *data,
                                    size_t len, int mode, uvgo_ctx_t *ctx);

/* Replaces the file at `path` with `data` so that a crash at any moment
 * leaves either the old contents or the new, never a mix: writes a
 * temporary file next to it (".<name>.tmp<random>", `mode` less the
 * umask), fsyncs it, renames it over `path` and fsyncs the directory.
 * On failure the temporary file is removed and `path` is untouched (a
 * crash, or a context that ends after the rename was issued, can leave
 * the temporary file behind).  Returns 0, UVGO_EINVAL or the kernel's
 * error.  Owner: data stays the caller's.  Thread: any task. */
UVGO_EXTERN int uvgo_write_file_atomic(const char *path, const void *data,
                                       size_t len, int mode);
UVGO_EXTERN int uvgo_write_file_atomic_ctx(const char *path, const void *data,
                                           size_t len, int mode,
                                           uvgo_ctx_t *ctx);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_FS_H */
