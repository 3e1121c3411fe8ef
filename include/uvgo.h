/* uvgo.h: Go's concurrency model for C, on libuv.  The one header to include.
 *
 *   uvgo/errno.h    error codes, uvgo_strerror()
 *   uvgo/alloc.h    the replaceable allocator
 *   uvgo/chan.h     channels and select
 *   uvgo/task.h     the runtime, tasks, task-local storage, events, offload,
 *                   dumps, affinity with libuv loops
 *   uvgo/time.h     durations, the clock, sleep, timers, tickers
 *   uvgo/context.h  contexts (cancel, deadline, values), *_ctx waits
 *   uvgo/signal.h   signals delivered into channels
 *   uvgo/fs.h       files, directories, whole-file reads and atomic writes
 *   uvgo/io.h       stream connections (Go's net.Conn) and bufio
 *   uvgo/net.h      addresses, DNS, dial, listen, serve, UDP
 *   uvgo/process.h  child processes (Go's os/exec), standard streams
 *   uvgo/sync.h     Mutex, RWMutex, WaitGroup, Once, Cond, Pool
 *   uvgo/xsync.h    semaphore, errgroup, singleflight, rate limiter
 *   uvgo/metrics.h  runtime metrics: per-worker counters, latency
 *   uvgo/synctest.h virtual time for tests (Go's testing/synctest)
 *   uvgo/http.h     HTTP/1.1 server: handlers, mux, header maps (built when
 *                   llhttp is found: meson option http); the client (also
 *                   needs libcurl: meson option curl)
 */
#ifndef UVGO_H
#define UVGO_H

#include "uvgo/alloc.h"
#include "uvgo/chan.h"
#include "uvgo/context.h"
#include "uvgo/errno.h"
#include "uvgo/fs.h"
#include "uvgo/http.h"
#include "uvgo/io.h"
#include "uvgo/metrics.h"
#include "uvgo/net.h"
#include "uvgo/process.h"
#include "uvgo/task.h"
#include "uvgo/signal.h"
#include "uvgo/sync.h"
#include "uvgo/synctest.h"
#include "uvgo/time.h"
#include "uvgo/xsync.h"

#define UVGO_VERSION_MAJOR 0
#define UVGO_VERSION_MINOR 1
#define UVGO_VERSION_PATCH 0

#endif /* UVGO_H */
