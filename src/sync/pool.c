/* pool.c: Go's sync.Pool for tasks (see uvgo/sync.h).
 *
 * Layout.  p->caches_ points to one cache per worker (made on first use,
 * sized for the running runtime), each a stack of LOCAL_MAX objects on its
 * own cache lines; behind them, one shared list of at most SHARED_MAX
 * objects under p->lock_:
 *
 *     caches_ -> [ nworkers | worker 0: n, objs[LOCAL_MAX] | worker 1 ... ]
 *     shared_ -> [ objs[SHARED_MAX] ]   (nshared_ of them in use)
 *
 * The fast path takes no lock and no atomic: a worker's cache is touched
 * only on that worker's thread, by a task (or loop callback) that does not
 * switch until it is done with it: tasks are not preempted, and nothing
 * between reading the worker id and the last touch of the cache can block.
 * new_fn and free_fn are called after that, since they may block.
 *
 * Overflow and refill move half a cache at a time to or from the shared
 * list, so a producer on one worker and a consumer on another share objects
 * in batches.  A put that finds both full drops the object (free_fn): that
 * is how a pool gives memory back after a burst, where Go's garbage
 * collector empties pools instead.  Calls from threads that are not
 * workers (or from a runtime with more workers than the caches were made
 * for) use the shared list alone.
 */
#include <string.h>

#include "sync/wait.h"

#define LOCAL_MAX 32   /* objects per worker cache */
#define SHARED_MAX 256 /* objects in the shared list */

struct pool_local {
    unsigned n;
    void *objs[LOCAL_MAX];
} UVGO_ALIGNED_CACHELINE;

struct pool_caches {
    int nworkers;
    struct pool_local local[];
};

static inline uvgo_spinlock_t *pool_lock(uvgo_pool_t *p)
{
    return (uvgo_spinlock_t *)&p->lock_;
}

/* The calling worker's cache, made on first use; NULL off the workers or
 * when it cannot be made. */
static struct pool_local *local_cache(uvgo_pool_t *p)
{
    struct uvgo_worker *w = uvgo__worker_self();
    struct pool_caches *c, *fresh;
    int n;

    if (!w)
        return NULL;
    /* acquire: pairs with the release CAS that published the caches. */
    c = __atomic_load_n(&p->caches_, __ATOMIC_ACQUIRE);
    if (UVGO_UNLIKELY(!c)) {
        n = w->rt->nworkers;
        fresh = uvgo__aligned_calloc(
            UVGO_CACHELINE, sizeof *c + (size_t)n * sizeof c->local[0]);
        if (!fresh)
            return NULL;
        memset(fresh, 0, sizeof *c + (size_t)n * sizeof c->local[0]);
        fresh->nworkers = n;
        c = NULL;
        if (__atomic_compare_exchange_n(&p->caches_, &c, fresh, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            c = fresh;
        else
            uvgo__aligned_free(fresh); /* another worker made them first */
    }
    return w->id < c->nworkers ? &c->local[w->id] : NULL;
}

/* Moves up to `want` objects from the shared list into dst (which has
 * room); returns how many. */
static unsigned shared_take(uvgo_pool_t *p, void **dst, unsigned want)
{
    unsigned n, have;

    /* nshared_ is written under the lock and read without it (relaxed)
     * as a hint: a stale zero only costs a call to new_fn. */
    if (!__atomic_load_n(&p->nshared_, __ATOMIC_RELAXED))
        return 0;
    uvgo__spin_lock(pool_lock(p), UVGO_RANK_POOL);
    have = (unsigned)__atomic_load_n(&p->nshared_, __ATOMIC_RELAXED);
    n = have < want ? have : want;
    memcpy(dst, p->shared_ + (have - n), n * sizeof *dst);
    __atomic_store_n(&p->nshared_, (int)(have - n), __ATOMIC_RELAXED);
    uvgo__spin_unlock(pool_lock(p));
    return n;
}

/* Moves up to n objects from src to the shared list; returns how many it
 * took (the rest are the caller's to drop). */
static unsigned shared_give(uvgo_pool_t *p, void **src, unsigned n)
{
    unsigned room, have;

    uvgo__spin_lock(pool_lock(p), UVGO_RANK_POOL);
    if (!p->shared_) {
        /* Allocation under a spinlock is avoided elsewhere; this one
         * happens once per pool. */
        p->shared_ = uvgo__malloc(SHARED_MAX * sizeof *p->shared_);
        if (!p->shared_) {
            uvgo__spin_unlock(pool_lock(p));
            return 0;
        }
    }
    have = (unsigned)__atomic_load_n(&p->nshared_, __ATOMIC_RELAXED);
    room = SHARED_MAX - have;
    if (n > room)
        n = room;
    memcpy(p->shared_ + have, src, n * sizeof *src);
    __atomic_store_n(&p->nshared_, (int)(have + n), __ATOMIC_RELAXED);
    uvgo__spin_unlock(pool_lock(p));
    return n;
}

static void drop(uvgo_pool_t *p, void *obj)
{
    if (p->free_fn)
        p->free_fn(obj, p->arg);
    else
        free(obj);
}

void *uvgo_pool_get(uvgo_pool_t *p)
{
    struct pool_local *l;
    void *obj = NULL;

    if (!p)
        return NULL;
    l = local_cache(p);
    if (UVGO_LIKELY(l && l->n))
        return l->objs[--l->n];
    if (l) {
        /* Refill half the cache; hand out the last one taken. */
        l->n = shared_take(p, l->objs, LOCAL_MAX / 2);
        if (l->n)
            return l->objs[--l->n];
    } else if (shared_take(p, &obj, 1)) {
        return obj;
    }
    return p->new_fn ? p->new_fn(p->arg) : NULL;
}

void uvgo_pool_put(uvgo_pool_t *p, void *obj)
{
    struct pool_local *l;
    void *spill[LOCAL_MAX / 2 + 1];
    unsigned n, kept;

    if (!p || !obj)
        return;
    l = local_cache(p);
    if (UVGO_LIKELY(l && l->n < LOCAL_MAX)) {
        l->objs[l->n++] = obj;
        return;
    }
    if (l) {
        /* Full: spill the older half (the newest stay warm here). */
        n = LOCAL_MAX / 2;
        memcpy(spill, l->objs, n * sizeof *spill);
        memmove(l->objs, l->objs + n, (LOCAL_MAX - n) * sizeof *l->objs);
        l->n = LOCAL_MAX - n;
        l->objs[l->n++] = obj;
    } else {
        n = 1;
        spill[0] = obj;
    }
    kept = shared_give(p, spill, n);
    while (kept < n)
        drop(p, spill[kept++]);
}

void uvgo_pool_drain(uvgo_pool_t *p)
{
    struct pool_caches *c;

    if (!p)
        return;
    c = __atomic_exchange_n(&p->caches_, NULL, __ATOMIC_ACQ_REL);
    if (c) {
        for (int i = 0; i < c->nworkers; i++)
            for (unsigned k = 0; k < c->local[i].n; k++)
                drop(p, c->local[i].objs[k]);
        uvgo__aligned_free(c);
    }
    uvgo__spin_lock(pool_lock(p), UVGO_RANK_POOL);
    void **shared = p->shared_;
    int n = __atomic_load_n(&p->nshared_, __ATOMIC_RELAXED);
    p->shared_ = NULL;
    __atomic_store_n(&p->nshared_, 0, __ATOMIC_RELAXED);
    uvgo__spin_unlock(pool_lock(p));
    for (int i = 0; i < n; i++)
        drop(p, shared[i]);
    uvgo__free(shared);
}
