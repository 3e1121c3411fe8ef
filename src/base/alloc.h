/* alloc.h: the one way uvgo allocates heap memory.
 *
 * Every malloc, calloc, realloc and free in src/ goes through these, so a
 * program can supply its own allocator (uvgo_replace_allocator, libuv's
 * shape) and a test can make the Nth allocation fail.  What is not heap
 * memory stays outside: task stacks and task records are mmap'd slabs and
 * chunks (stack.c, task.c), and libuv allocates through its own
 * uv_replace_allocator.
 *
 * The functions are read without synchronisation: they change only while no
 * runtime runs (runtime.c checks), and the threads that read them are
 * started after the change.
 */
#ifndef UVGO_BASE_ALLOC_H
#define UVGO_BASE_ALLOC_H

#include <stddef.h>

#include "uvgo.h"

struct uvgo_allocator {
    uvgo_malloc_fn malloc;
    uvgo_realloc_fn realloc;
    uvgo_calloc_fn calloc;
    uvgo_free_fn free;
};

/* The allocator in use.  Defined in alloc.c. */
extern struct uvgo_allocator uvgo__allocator;

static inline void *uvgo__malloc(size_t size)
{
    return uvgo__allocator.malloc(size);
}

static inline void *uvgo__calloc(size_t n, size_t size)
{
    return uvgo__allocator.calloc(n, size);
}

static inline void *uvgo__realloc(void *p, size_t size)
{
    return uvgo__allocator.realloc(p, size);
}

static inline void uvgo__free(void *p)
{
    if (p)
        uvgo__allocator.free(p);
}

/* strdup through the allocator. */
char *uvgo__strdup(const char *s);

/* `size` bytes aligned to `align` (a power of two, at most 4096), zeroed,
 * carved from one uvgo__calloc block (the replaceable allocator has no
 * aligned form).  Free with uvgo__aligned_free. */
void *uvgo__aligned_calloc(size_t align, size_t size);
void uvgo__aligned_free(void *p);

/* Installs an allocator.  Returns 0 or UVGO_EINVAL.  The caller makes sure
 * no runtime runs (uvgo_replace_allocator in runtime.c). */
int uvgo__allocator_set(uvgo_malloc_fn m, uvgo_realloc_fn r, uvgo_calloc_fn c,
                        uvgo_free_fn f);

#endif /* UVGO_BASE_ALLOC_H */
