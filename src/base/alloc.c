/* alloc.c: the replaceable allocator (see alloc.h). */
#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct uvgo_allocator uvgo__allocator = {malloc, realloc, calloc, free};

int uvgo__allocator_set(uvgo_malloc_fn m, uvgo_realloc_fn r, uvgo_calloc_fn c,
                        uvgo_free_fn f)
{
    if (!m || !r || !c || !f)
        return UVGO_EINVAL;
    uvgo__allocator.malloc = m;
    uvgo__allocator.realloc = r;
    uvgo__allocator.calloc = c;
    uvgo__allocator.free = f;
    return 0;
}

/* The block from uvgo__malloc sits below the aligned address; the word
 * right under that address points back to it. */
void *uvgo__aligned_calloc(size_t align, size_t size)
{
    size_t extra = align - 1 + sizeof(void *);
    char *raw;
    uintptr_t at;

    if (size > SIZE_MAX - extra)
        return NULL;
    /* calloc, not malloc and memset: a large block comes zeroed from the
     * kernel and costs no memory until touched (a worker's stack cache is
     * ~180 KiB, mostly never used). */
    raw = uvgo__calloc(1, size + extra);
    if (!raw)
        return NULL;
    at =
        ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    ((void **)at)[-1] = raw;
    return (void *)at;
}

void uvgo__aligned_free(void *p)
{
    if (p)
        uvgo__free(((void **)p)[-1]);
}

char *uvgo__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = uvgo__malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}
