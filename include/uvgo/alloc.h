/* uvgo/alloc.h: the allocator uvgo uses for its heap memory.
 *
 * Every heap allocation uvgo makes (channels, timers, contexts, select
 * arrays, the runtime's own records) goes through four functions that a
 * program may replace, as libuv's uv_replace_allocator allows.  Task stacks
 * and task records are not heap memory: uvgo maps them with mmap.  libuv's
 * own allocations go through libuv's allocator (uv_replace_allocator).
 *
 * Every uvgo call that allocates returns UVGO_ENOMEM when an allocation
 * fails, and the failed call has no effect.  A few allocations happen where
 * nobody can be told: they are listed in README.md ("Out of memory").
 *
 * Memory a call hands over for the caller to free (uvgo_read_file's data,
 * uvgo_readlink's target, a process's captured output...) comes from this
 * allocator too: the headers say "free()", which means the free function
 * installed here, free() itself unless replaced.
 */
#ifndef UVGO_ALLOC_H
#define UVGO_ALLOC_H

#include <stddef.h>

#include "errno.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*uvgo_malloc_fn)(size_t size);
typedef void *(*uvgo_realloc_fn)(void *ptr, size_t size);
typedef void *(*uvgo_calloc_fn)(size_t count, size_t size);
typedef void (*uvgo_free_fn)(void *ptr);

/* Makes uvgo allocate with the given functions, which must behave as C's
 * malloc, realloc, calloc and free (uvgo never calls realloc with size 0
 * and never frees NULL).  Call it while no runtime runs, and before uvgo
 * allocates anything you will later give back (a channel or context made
 * outside uvgo_main, a timer you still hold): memory is freed with the
 * allocator in place at the time, as with libuv.  Returns 0, UVGO_EINVAL if
 * a function is NULL, or UVGO_EBUSY (and changes nothing) while a runtime
 * runs (uvgo_main or uvgo_loop_attach).
 * Owner: the functions are the caller's; they must stay callable until
 * replaced.  Thread: any thread, no runtime running. */
UVGO_EXTERN int uvgo_replace_allocator(uvgo_malloc_fn malloc_fn,
                                       uvgo_realloc_fn realloc_fn,
                                       uvgo_calloc_fn calloc_fn,
                                       uvgo_free_fn free_fn);

#ifdef __cplusplus
}
#endif

#endif /* UVGO_ALLOC_H */
