/* uvgo/task.h: the runtime, tasks, and how tasks meet libuv.
 *
 * The model.  A task is a function running on its own stack, like a
 * goroutine.  It is written as straight-line code; when it waits (a channel, a
 * timer, I/O, a lock) it is suspended and its worker runs other tasks.  A
 * worker is one thread with one uv_loop_t.  uvgo_main() starts one worker per
 * core and runs the first task; uvgo_loop_attach() instead runs tasks on a
 * loop the host program already drives (single-loop mode).
 *
 * Scheduling.  Spawning queues the new task and the spawner keeps running
 * (a task whose worker's run queue is full yields once, so a spawn loop
 * cannot pile up an unbounded backlog).  A woken task runs next on the
 * waker's worker (runnext), as Go's scheduler does, which keeps a
 * conversation between two tasks on one warm core; pinned tasks and tasks
 * bound to a loop (uvgo_loop_enter) go back to their own worker instead.
 * Idle workers steal half of a long or stalled queue.  Tasks are not preempted:
 * a task that computes for a long time without waiting or calling
 * uvgo_task_yield() holds its worker (the loop is still polled between task
 * switches, never in the middle of one).
 *
 * Affinity.  libuv handles belong to the loop they were initialised on and
 * may be touched only from that loop's thread.  Because tasks migrate between
 * workers (stealing), a task that uses a libuv handle or request directly
 * calls uvgo_loop_enter(handle->loop) first: if the task runs elsewhere it
 * moves itself to the handle's worker and returns there.  uvgo's own objects
 * that wrap handles (timers, signals, sockets) do this for you.  A stolen task
 * pays one hop when it next touches its handle; tasks that hold no handles
 * migrate freely.
 *
 * Thread-local storage.  A task may resume on another thread after any call
 * that can block: never keep the address of a thread-local variable (errno
 * included) across such a call.  Use task-local storage instead.
 *
 * Stacks.  Task stacks are reserved with mmap when the task is spawned (a
 * spawn that cannot have one fails with UVGO_ENOMEM) and committed lazily: a
 * task pays for the pages it touches (4 KiB for a task that parks right
 * away).
 * An overflow the runtime sees aborts the process naming the task: stacks
 * have a guard page while the kernel's map-count budget allows, otherwise a
 * canary zone checked (with the stack pointer) each time the task switches
 * out.  README.md ("Stacks and what protects you") says exactly which
 * overflows each mode catches and which it cannot.
 */
#ifndef UVGO_TASK_H
#define UVGO_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "errno.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Runtime                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct uvgo_task uvgo_task_t;

/* A task's body.  Its return value is what uvgo_task_join() delivers. */
typedef void *(*uvgo_task_fn)(void *arg);

/* Starts the runtime: N worker threads, each with its own uv_loop_t, where N
 * is uvgo_procs() (the number of CPUs unless UVGO_PROCS or uvgo_procs() says
 * otherwise).  Runs fn(arg) as the first task, named "main", and returns once
 * it has returned and every worker has shut down cleanly; *result (if not
 * NULL) receives fn's return value.  As in Go, tasks still alive when fn
 * returns are abandoned: uvgo prints a dump of them to stderr and frees their
 * stacks.  If every task is blocked and nothing (a timer, I/O, a thread-pool
 * job) can wake one, uvgo prints the dump and aborts ("all tasks are asleep -
 * deadlock!"; see uvgo_ref()).  Returns 0, UVGO_EBUSY if a runtime is
 * already running, or, when it could not start (then fn did not run and
 * nothing is left behind): UVGO_ENOMEM (memory, or no stack for fn), or
 * libuv's error from creating a loop or a thread (UV_EAGAIN when the
 * address space or the thread limit cannot take another worker thread).
 * Owner: the runtime is created and destroyed inside the call.
 * Thread: any thread that is not a uvgo worker. */
UVGO_EXTERN int uvgo_main(uvgo_task_fn fn, void *arg, void **result);

/* Sets the number of workers for the next uvgo_main() when n > 0 and returns
 * the previous setting; n <= 0 only returns the current setting.  Overrides
 * the UVGO_PROCS environment variable.  Returns UVGO_EBUSY when n > 0 while a
 * runtime runs.  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_procs(int n);

/* uvgo aborts with a deadlock report when every task is blocked and nothing
 * it can see (a referenced libuv handle or request) could wake one.  A thread
 * of yours that will wake a task (uvgo_chan_try_send, uvgo_event_set...)
 * is invisible to it: take a reference with uvgo_ref() before handing the
 * thread its work and drop it with uvgo_unref() when it is done.  Returns 0
 * or UVGO_ENOTTASK when no runtime runs.  Owner: a count on the runtime.
 * Thread: any. */
UVGO_EXTERN int uvgo_ref(void);
UVGO_EXTERN int uvgo_unref(void);

/* The number of workers of the running runtime, or 0 when none runs.
 * Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_worker_count(void);

/* The index (0 .. count-1) of the worker the caller runs on, or UVGO_ENOTTASK
 * when the calling thread is not a worker.  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_worker_id(void);

/* The uv_loop_t of the worker the caller runs on, or NULL.  A task may
 * initialise libuv handles on it; see "Affinity" above.  Owner: the runtime
 * (do not close or free it).  Thread: any. */
UVGO_EXTERN uv_loop_t *uvgo_loop(void);

/* Moves the calling task onto the worker that runs `loop` and returns there.
 * Call it before touching a libuv handle or request from a task: afterwards
 * the task runs on the loop's thread until its next blocking call.  Returns 0,
 * UVGO_EINVAL if no worker runs `loop`, or UVGO_ENOTTASK outside a task.
 * Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_loop_enter(uv_loop_t *loop);

/* Single-loop mode: run tasks on a loop the host already drives.  Adds uvgo's
 * scheduler handles to `loop` (none of them keeps it alive on its own); tasks
 * spawned from the host's code or from other tasks run whenever the host runs
 * the loop.  Returns 0, UVGO_EBUSY if a runtime already runs, UVGO_EINVAL for
 * NULL, or UVGO_ENOMEM.  Owner: the host keeps `loop`; detach before closing
 * it.  Thread: the loop's thread. */
UVGO_EXTERN int uvgo_loop_attach(uv_loop_t *loop);

/* Ends single-loop mode.  Returns UVGO_EBUSY (and changes nothing) while
 * tasks are alive, so a host detaches after its tasks finished; then closes
 * uvgo's handles (run the loop once more to let them close) and frees the
 * runtime.  Returns UVGO_EINVAL if `loop` is not the attached loop.
 * Owner: see uvgo_loop_attach().  Thread: the loop's thread, outside tasks. */
UVGO_EXTERN int uvgo_loop_detach(uv_loop_t *loop);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

/* Longest task name kept, including the terminating NUL; longer names are
 * truncated. */
#define UVGO_TASK_NAME_MAX 32

/* Flags for uvgo_task_opts_t. */
enum {
    /* Never stolen: the task stays on the worker it was placed on (see
     * `worker`) unless it moves itself with uvgo_loop_enter(). */
    UVGO_TASK_PINNED = 1u << 0
};

/* Spawn options; all-zero means the defaults (a zero-initialised struct, or
 * NULL where a pointer is taken). */
typedef struct uvgo_task_opts {
    const char *name;  /* for dumps and fatal errors; copied; NULL: "task" */
    size_t stack_size; /* bytes, rounded up to pages; 0: the build default */
    int worker;        /* 1 + the worker to place it on; 0: the caller's */
    unsigned flags;    /* UVGO_TASK_* */
} uvgo_task_opts_t;

/* Spawns fn(arg) as a new task and queues it; the caller keeps running.  When
 * `task` is not NULL the task is joinable: *task receives a handle that must
 * be passed once to uvgo_task_join() or uvgo_task_detach() (its stack is kept
 * until then).  When `task` is NULL the task is detached.  `opts` may be
 * NULL.  The task's stack is reserved here (address space only: its memory
 * is committed as the task touches it), so a task that was spawned always
 * runs.  Returns 0, UVGO_EINVAL (NULL fn, a worker index out of range, a
 * stack size over 1 GiB), UVGO_ENOMEM (no record or no stack could be had:
 * memory, address space or the kernel's map count ran out; nothing was
 * queued), or UVGO_ENOTTASK when no runtime runs.
 * Owner: the runtime owns the task; a joinable handle is the caller's until it
 * joins or detaches.  Thread: any (from a task, a loop callback or another
 * thread) while a runtime runs. */
UVGO_EXTERN int uvgo_task_spawn(uvgo_task_t **task, uvgo_task_fn fn, void *arg,
                                const uvgo_task_opts_t *opts);

/* Go's `go fn(arg)`: uvgo_task_spawn(NULL, fn, arg, NULL).
 * Owner: the runtime.  Thread: any while a runtime runs. */
UVGO_EXTERN int uvgo_go(uvgo_task_fn fn, void *arg);

/* Waits until `task` has returned, stores its return value in *result (if not
 * NULL) and releases the handle.  Returns 0, UVGO_EINVAL for NULL, the
 * caller itself, a detached task or a stale handle (see below), or
 * UVGO_ENOTTASK outside a task.  Owner: consumes the handle.
 * Thread: any task, once per handle.
 *
 * Stale handles.  A handle carries the generation of the task record it
 * names, and records are reused but never unmapped while the runtime runs,
 * so joining or detaching a handle a second time, or after the other, is
 * refused with UVGO_EINVAL (uvgo_task_id gives 0, uvgo_task_name ""), even
 * after a new task took over the record.  What cannot be detected: a handle
 * whose record was reused a multiple of 32,768 times since (16-bit
 * generations; 32 on 32-bit systems), and a handle kept past the end of its
 * runtime (records go with it; calls then return UVGO_EINVAL only while no
 * runtime runs). */
UVGO_EXTERN int uvgo_task_join(uvgo_task_t *task, void **result);

/* Gives up a joinable handle: the task's stack is freed as soon as it
 * returns.  Returns 0 or UVGO_EINVAL (NULL, not joinable, or a stale
 * handle, as for uvgo_task_join).  Owner: consumes the handle.
 * Thread: any, once per handle, while the runtime runs. */
UVGO_EXTERN int uvgo_task_detach(uvgo_task_t *task);

/* The calling task's handle (the one its spawner got), or NULL outside a
 * task.  Owner: the runtime; valid while the task runs.  Thread: any. */
UVGO_EXTERN uvgo_task_t *uvgo_task_self(void);

/* The id of `task` (NULL: the calling task), unique for the process's life
 * and never 0; 0 when task is NULL outside a task.  Owner: none.
 * Thread: any, while the task is alive or its handle held. */
UVGO_EXTERN uint64_t uvgo_task_id(const uvgo_task_t *task);

/* The name of `task` (NULL: the calling task); "" when task is NULL outside a
 * task.  Owner: the task; valid while it is alive or its handle held.
 * Thread: any. */
UVGO_EXTERN const char *uvgo_task_name(const uvgo_task_t *task);

/* Lets other runnable tasks run, then continues (Go's runtime.Gosched).  The
 * caller goes to the back of its worker's queue.  Returns 0, or
 * UVGO_ENOTTASK outside a task.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_task_yield(void);

/* ------------------------------------------------------------------------ */
/* Task-local storage                                                       */
/* ------------------------------------------------------------------------ */

typedef unsigned uvgo_task_key_t;

/* Most keys a process may create. */
#define UVGO_TASK_KEYS_MAX 128

/* Creates a key for task-local values; every task starts with NULL for it.
 * When a task returns, `destructor` (if not NULL) runs in that task for each
 * non-NULL value it set.  Keys live as long as the process.  Returns 0,
 * UVGO_EINVAL for a NULL key, or UVGO_EAGAIN when all keys are used.
 * Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_task_key_create(uvgo_task_key_t *key,
                                     void (*destructor)(void *));

/* The calling task's value for `key`; NULL if unset, outside a task or for an
 * unknown key.  Owner: the caller's.  Thread: any task (its own values). */
UVGO_EXTERN void *uvgo_task_local_get(uvgo_task_key_t key);

/* Sets the calling task's value for `key`.  Returns 0, UVGO_EINVAL for an
 * unknown key, UVGO_ENOMEM, or UVGO_ENOTTASK.  Owner: the value stays the
 * caller's; the key's destructor receives it at task exit.
 * Thread: any task (its own values). */
UVGO_EXTERN int uvgo_task_local_set(uvgo_task_key_t key, void *value);

/* ------------------------------------------------------------------------ */
/* Waiting on libuv callbacks and blocking calls                            */
/* ------------------------------------------------------------------------ */

/* A one-shot wake-up, for a task that waits on a libuv callback:
 *
 *     uvgo_event_t done = UVGO_EVENT_INIT;
 *     req.data = &done;                   // the callback: uvgo_event_set()
 *     uv_fs_stat(uvgo_loop(), &req, path, on_stat);
 *     uvgo_event_wait(&done, "stat");
 *
 * All-zero is a valid, unset event.  Once set it stays set. */
typedef struct uvgo_event {
    uintptr_t state_; /* private: 0 unset, 1 set, else the waiting task */
} uvgo_event_t;

#define UVGO_EVENT_INIT                                                        \
    {                                                                          \
        0                                                                      \
    }

/* Parks the calling task until `ev` is set (returns at once if it is).
 * `what` names the wait in task dumps (a string literal).  At most one task
 * waits on an event.  Returns 0, UVGO_EINVAL for NULL or a second waiter, or
 * UVGO_ENOTTASK outside a task.  Owner: the caller's event.
 * Thread: any task. */
UVGO_EXTERN int uvgo_event_wait(uvgo_event_t *ev, const char *what);

/* Sets `ev`, waking its waiter.  Setting a set event does nothing.
 * Owner: the caller's event.  Thread: any (loop callbacks, other threads). */
UVGO_EXTERN void uvgo_event_set(uvgo_event_t *ev);

/* Runs fn(arg) on libuv's thread pool and parks the calling task until it has
 * returned; the task's worker keeps serving other tasks meanwhile.  Use it for
 * blocking C calls (getpwnam, a compression library, fsync).  Returns 0,
 * UVGO_EINVAL for NULL fn, or UVGO_ENOTTASK.  Owner: arg stays the caller's.
 * Thread: any task. */
UVGO_EXTERN int uvgo_offload(void (*fn)(void *arg), void *arg);

/* ------------------------------------------------------------------------ */
/* Introspection                                                            */
/* ------------------------------------------------------------------------ */

/* One task, as uvgo_task_walk() reports it. */
typedef struct uvgo_task_info {
    uint64_t id;
    const char *name;  /* valid during the callback only */
    const char *state; /* "runnable", "running", "waiting" or "exited" */
    const char *wait; /* what a waiting task waits on ("chan receive"), or "" */
    int worker;       /* the worker it runs or last ran on */
    size_t stack_size;      /* bytes reserved */
    const void *spawn_site; /* code address in its spawner; NULL for main */
} uvgo_task_info_t;

/* Calls cb for every task alive (spawned, not yet returned, or returned but
 * not joined) and returns how many there were, or cb's first non-zero return.
 * The snapshot is taken while tasks keep running: each record is consistent
 * enough for diagnostics, not for synchronisation.  Owner: none.
 * Thread: any. */
UVGO_EXTERN int
uvgo_task_walk(int (*cb)(const uvgo_task_info_t *info, void *arg), void *arg);

/* The number of tasks alive.  Owner: none.  Thread: any. */
UVGO_EXTERN int uvgo_task_count(void);

/* Prints every live task: a line with its id, name, state, what it waits
 * on and its worker; then, for a task that is not running, its call stack,
 * innermost frame first, and where it was spawned, as "function+offset
 * (module)" where the binary has symbols, "module+offset" otherwise (for
 * addr2line).  Stacks follow frame pointers: code built without them (gcc
 * and clang omit them at -O1 and above unless -fno-omit-frame-pointer)
 * ends a stack early; uvgo itself keeps them.  Callable at any time, from
 * any thread (a signal handler excepted); it never reads outside a task's
 * stack, however corrupt.  Owner: none.  Thread: any. */
UVGO_EXTERN void uvgo_dump(FILE *out);

/* Options for uvgo_leak_check(); all-zero (or NULL) means the defaults. */
typedef struct uvgo_leak_opts {
    int64_t wait;              /* ns the other tasks get to end; 0: 1 s */
    const char *const *ignore; /* NULL-terminated task names to allow */
    FILE *report;              /* where leaks are listed; NULL: stderr */
} uvgo_leak_opts_t;

/* Go's goleak.VerifyNone, for the end of a test: waits (polling, up to
 * opts->wait) until no task is alive but the caller and tasks whose names
 * are in opts->ignore, and returns 0; if some remain, lists each as
 * uvgo_dump() does (what it waits on, its stack, where it was spawned) and
 * returns UVGO_ELEAK.  A joinable task that returned but was never joined
 * or detached counts: its handle leaked.  The environment variable
 * UVGO_LEAKCHECK=1 makes uvgo_main() return UVGO_ELEAK when tasks are
 * still alive as the main task returns.  Returns UVGO_ENOTTASK outside a
 * task.  Owner: none.  Thread: any task. */
UVGO_EXTERN int uvgo_leak_check(const uvgo_leak_opts_t *opts);

/* Go's SIGQUIT behaviour, opted into: from now on a SIGQUIT prints every
 * task with its stack to stderr (uvgo_dump) and ends the process with exit
 * status 2.  uvgo never installs it unless asked, by this call or by
 * UVGO_SIGQUIT=1 in the environment of uvgo_main().  The dump runs on a
 * thread of its own, so it works while every worker is busy.  Returns 0
 * (also when already on), or a libuv error if that thread could not
 * start.  Owner: process-wide, until exit.  Thread: any. */
UVGO_EXTERN int uvgo_dump_on_sigquit(void);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_TASK_H */
