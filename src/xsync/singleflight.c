/* singleflight.c: x/sync/singleflight.Group for tasks (see uvgo/xsync.h).
 *
 * A group is a chained hash table of calls in flight, keyed by string,
 * under g->lock_.  A call records its waiters (runtime/waiter.h: on their
 * tasks' stacks, each pointing `elem` at the frame's sf_result, which gets
 * the result copied in before the task is woken, so no waiter touches the
 * call afterwards), the channels of
 * do_chan callers, and the duplicate count behind `shared`.  The caller
 * that finds no call for its key becomes the leader: it inserts one, runs
 * fn outside the lock, then takes the call out of the table (unless
 * forgotten), hands the result to everyone and frees it.
 *
 * Memory.  Calls and channel nodes are allocated before the lock is taken
 * (with a second look after it, should another caller have inserted the
 * key meanwhile).  The bucket array grows when the table is fuller than
 * two calls a bucket (allocated outside the lock too), and is freed when
 * the last call leaves: an idle group holds nothing, so the zero value
 * needs no destroy call.
 *
 * A duplicate whose context wins leaves the call's queue under the lock
 * and is no longer counted; one that a finishing leader already dropped
 * (it lost the claim) finds itself unlinked and leaves the call alone, as
 * it may already be freed.
 */
#include <string.h>

#include "sync/wait.h"

#define MIN_BUCKETS 16

struct sf_chan {
    struct sf_chan *next;
    uvgo_chan_t *ch; /* a reference of its own */
};

/* Where a waiting duplicate's result goes, in its frame: written by the
 * leader before it readies the waiter. */
struct sf_result {
    void *val;
    int err;
};

struct sf_call {
    struct sf_call *next; /* bucket chain */
    uint64_t hash;
    int in_table;        /* not yet forgotten or finished */
    int dups;            /* callers sharing the run besides the first */
    uvgo_list_t waiters; /* uvgo_waiter_t; elem: a struct sf_result */
    struct sf_chan *chans;
    char key[];
};

static inline uvgo_spinlock_t *lock_of(uvgo_sflight_t *g)
{
    return (uvgo_spinlock_t *)&g->lock_;
}

static uint64_t hash_key(const char *k)
{
    /* FNV-1a, 64-bit. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 0x100000001b3ull;
    return h;
}

static struct sf_call **bucket(uvgo_sflight_t *g, uint64_t h)
{
    return (struct sf_call **)&g->buckets_[h & (g->nbuckets_ - 1)];
}

/* Caller holds the lock. */
static struct sf_call *find(uvgo_sflight_t *g, const char *key, uint64_t h)
{
    uvgo__assert(uvgo__spin_held(lock_of(g)));
    if (!g->buckets_)
        return NULL;
    for (struct sf_call *c = *bucket(g, h); c; c = c->next)
        if (c->hash == h && !strcmp(c->key, key))
            return c;
    return NULL;
}

/* Caller holds the lock. */
static void unlink_call(uvgo_sflight_t *g, struct sf_call *c)
{
    struct sf_call **pp = bucket(g, c->hash);
    uvgo__assert(uvgo__spin_held(lock_of(g)) && c->in_table);
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    c->in_table = 0;
    g->count_--;
}

/* Rehashes into `fresh` (nb buckets, zeroed).  Caller holds the lock. */
static void rehash(uvgo_sflight_t *g, void **fresh, unsigned nb)
{
    void **old = g->buckets_;
    unsigned onb = g->nbuckets_;
    uvgo__assert(uvgo__spin_held(lock_of(g)));
    g->buckets_ = fresh;
    g->nbuckets_ = nb;
    for (unsigned i = 0; i < onb; i++) {
        struct sf_call *c = old[i];
        while (c) {
            struct sf_call *next = c->next, **b = bucket(g, c->hash);
            c->next = *b;
            *b = c;
            c = next;
        }
    }
}

/* Inserts c, growing the table first if it is too full; may drop and
 * re-take the lock to allocate.  Returns 0 or UVGO_ENOMEM (lock held
 * either way; c not inserted on failure).  The caller must look up the
 * key again if this returns 1: another caller inserted it meanwhile. */
static int insert(uvgo_sflight_t *g, struct sf_call *c)
{
    while (!g->buckets_ || g->count_ + 1 > 2 * g->nbuckets_) {
        unsigned nb = g->buckets_ ? 2 * g->nbuckets_ : MIN_BUCKETS;
        void **fresh;
        uvgo__spin_unlock(lock_of(g));
        fresh = uvgo__calloc(nb, sizeof *fresh);
        uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
        if (!fresh)
            return UVGO_ENOMEM;
        if (g->buckets_ && nb <= g->nbuckets_) {
            uvgo__free(fresh); /* someone else grew it */
        } else {
            void **old = g->buckets_;
            rehash(g, fresh, nb);
            uvgo__free(old);
        }
        if (find(g, c->key, c->hash))
            return 1;
    }
    struct sf_call **b = bucket(g, c->hash);
    c->next = *b;
    *b = c;
    c->in_table = 1;
    g->count_++;
    return 0;
}

static struct sf_call *call_new(const char *key, uint64_t h)
{
    size_t n = strlen(key) + 1;
    struct sf_call *c = uvgo__calloc(1, sizeof *c + n);
    if (!c)
        return NULL;
    memcpy(c->key, key, n);
    c->hash = h;
    return c;
}

/* The leader's end: takes c out of the table, delivers (val, err) to every
 * waiter and channel and frees c.  Returns whether the result was
 * shared. */
static int finish(uvgo_sflight_t *g, struct sf_call *c, void *val, int err)
{
    uvgo_list_t w = {0};
    uvgo_waiter_t *p;
    struct sf_chan *chans;
    void **empty = NULL;
    int shared;

    uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
    if (c->in_table)
        unlink_call(g, c);
    if (!g->count_) {
        empty = g->buckets_;
        g->buckets_ = NULL;
        g->nbuckets_ = 0;
    }
    shared = c->dups > 0;
    while ((p = uvgo__waiter_take(&c->waiters))) {
        struct sf_result *res = p->elem;
        res->val = val;
        res->err = err;
        uvgo__list_push_back(&w, &p->link);
    }
    chans = c->chans;
    uvgo__spin_unlock(lock_of(g));
    uvgo__waiters_ready(&w);
    uvgo__free(empty);
    uvgo_sflight_result_t res = {val, err, shared};
    while (chans) {
        struct sf_chan *next = chans->next;
        /* Capacity 1 and one send: it never blocks. */
        uvgo_chan_try_send(chans->ch, &res, sizeof res);
        uvgo_chan_release(chans->ch);
        uvgo__free(chans);
        chans = next;
    }
    uvgo__free(c);
    return shared;
}

int uvgo_sflight_do_ctx(uvgo_sflight_t *g, const char *key, uvgo_sflight_fn fn,
                        void *arg, void **val, int *shared, uvgo_ctx_t *ctx)
{
    struct sf_call *c, *mine = NULL;
    struct sf_result res;
    uvgo_waiter_t sw;
    uvgo_chan_t *done;
    uint64_t h;
    void *v = NULL;
    int err, r;

    if (!g || !key || !fn)
        return UVGO_EINVAL;
    if ((err = uvgo__wait_begin(ctx, &done)))
        return err;
    h = hash_key(key);
    uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
    for (;;) {
        if ((c = find(g, key, h))) {
            /* A run is in flight: wait for its result. */
            uvgo__free(mine);
            c->dups++;
            uvgo__waiter_init(&sw, uvgo__task_self(), &res);
            uvgo__list_push_back(&c->waiters, &sw.link);
            /* The queue is c's, the lock g's: park by hand. */
            uvgo__spin_unlock(lock_of(g));
            uvgo__park_durable();
            if (uvgo__park_or_done(&sw, done, "singleflight.Do") != 1) {
                uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
                /* c is alive while we are on it. */
                if (uvgo__waiter_leave(&c->waiters, &sw))
                    c->dups--;
                uvgo__spin_unlock(lock_of(g));
                return uvgo_ctx_err(ctx);
            }
            if (val)
                *val = res.val;
            if (shared)
                *shared = 1;
            return res.err;
        }
        if (mine)
            break;
        uvgo__spin_unlock(lock_of(g));
        mine = call_new(key, h);
        if (!mine)
            return UVGO_ENOMEM;
        uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
    }
    r = insert(g, mine);
    if (r) {
        uvgo__spin_unlock(lock_of(g));
        uvgo__free(mine);
        if (r < 0)
            return r;
        /* Inserted by someone else meanwhile: join them. */
        return uvgo_sflight_do_ctx(g, key, fn, arg, val, shared, ctx);
    }
    uvgo__spin_unlock(lock_of(g));
    err = fn(arg, &v);
    r = finish(g, mine, v, err);
    if (val)
        *val = v;
    if (shared)
        *shared = r;
    return err;
}

int uvgo_sflight_do(uvgo_sflight_t *g, const char *key, uvgo_sflight_fn fn,
                    void *arg, void **val, int *shared)
{
    return uvgo_sflight_do_ctx(g, key, fn, arg, val, shared, NULL);
}

struct chan_run {
    uvgo_sflight_t *g;
    struct sf_call *c;
    uvgo_sflight_fn fn;
    void *arg;
};

static void *chan_run_main(void *arg)
{
    struct chan_run run = *(struct chan_run *)arg;
    void *v = NULL;
    int err;

    uvgo__free(arg);
    err = run.fn(run.arg, &v);
    finish(run.g, run.c, v, err);
    return NULL;
}

int uvgo_sflight_do_chan(uvgo_sflight_t *g, const char *key, uvgo_sflight_fn fn,
                         void *arg, uvgo_chan_t **ch)
{
    static const uvgo_task_opts_t opts = {.name = "singleflight"};
    struct sf_chan *node;
    struct sf_call *c, *mine;
    struct chan_run *run;
    uvgo_chan_t *out;
    uint64_t h;
    int err;

    if (!g || !key || !fn || !ch)
        return UVGO_EINVAL;
    if (!atomic_load(&uvgo__rt))
        return UVGO_ENOTTASK;
    h = hash_key(key);
    /* Everything a leader might need, before the lock. */
    node = uvgo__malloc(sizeof *node);
    mine = call_new(key, h);
    run = uvgo__malloc(sizeof *run);
    if (!node || !mine || !run ||
        uvgo_chan_make(&out, sizeof(uvgo_sflight_result_t), 1)) {
        uvgo__free(node);
        uvgo__free(mine);
        uvgo__free(run);
        return UVGO_ENOMEM;
    }
    node->ch = uvgo_chan_retain(out);
    uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
    for (;;) {
        if ((c = find(g, key, h))) {
            c->dups++;
            node->next = c->chans;
            c->chans = node;
            uvgo__spin_unlock(lock_of(g));
            uvgo__free(mine);
            uvgo__free(run);
            *ch = out;
            return 0;
        }
        err = insert(g, mine);
        if (err <= 0)
            break;
    }
    if (err) {
        uvgo__spin_unlock(lock_of(g));
        uvgo_chan_release(node->ch);
        uvgo_chan_release(out);
        uvgo__free(node);
        uvgo__free(mine);
        uvgo__free(run);
        return err;
    }
    node->next = NULL;
    mine->chans = node;
    uvgo__spin_unlock(lock_of(g));
    run->g = g;
    run->c = mine;
    run->fn = fn;
    run->arg = arg;
    err = uvgo_task_spawn(NULL, chan_run_main, run, &opts);
    if (err) {
        /* Duplicates may have joined already: they get the error. */
        uvgo__free(run);
        finish(g, mine, NULL, err);
        uvgo_chan_release(out);
        return err;
    }
    *ch = out;
    return 0;
}

int uvgo_sflight_forget(uvgo_sflight_t *g, const char *key)
{
    struct sf_call *c;
    void **empty = NULL;

    if (!g || !key)
        return UVGO_EINVAL;
    uvgo__spin_lock(lock_of(g), UVGO_RANK_XSYNC);
    if ((c = find(g, key, hash_key(key)))) {
        unlink_call(g, c);
        if (!g->count_) {
            empty = g->buckets_;
            g->buckets_ = NULL;
            g->nbuckets_ = 0;
        }
    }
    uvgo__spin_unlock(lock_of(g));
    uvgo__free(empty);
    return 0;
}
