/* trace.h: call stacks of parked tasks and symbol names, for task dumps
 * and leak reports (trace.c). */
#ifndef UVGO_TRACE_H
#define UVGO_TRACE_H

#include "runtime/runtime.h"

/* Most frames a dump shows per task. */
#define UVGO_TRACE_FRAMES 32

/* Fills pcs with up to `max` return addresses of t's call stack, innermost
 * first, and returns how many.  0 for a task that is running, has never
 * run, or whose registers are not readable on this build.  Never reads
 * outside t's stack, however corrupt it is.  Thread: any; the result is
 * only as consistent as a task that may start running meanwhile allows. */
int uvgo__task_stack(uvgo_task_t *t, void **pcs, int max);

/* Writes "function+0xoff (module)" for code address pc into buf, or as
 * much as is known ("module+0xoff" without a symbol).  Thread: any; not
 * async-signal-safe. */
void uvgo__symbolize(const void *pc, char *buf, size_t n);

#endif /* UVGO_TRACE_H */
