/* context.c: Go's context package (see uvgo/context.h).
 *
 * Three kinds of node: CANCEL (with_cancel, with_deadline, with_timeout and
 * their cause forms), VALUE (with_value) and DETACHED (without_cancel).
 * NULL is the background context.  A VALUE node answers Done, Err, Cause and
 * Deadline from its parent; a DETACHED node stops that walk.
 *
 * A CANCEL node links itself into the children of its nearest CANCEL
 * ancestor (the "cancel parent"), which holds a reference on it until it is
 * unlinked.  Cancelling walks the subtree with an explicit work list (no
 * recursion, whatever the depth): each node gets the error and cause once
 * (an atomic error, set under its lock), closes its Done channel if it has
 * one, hands its children to the work list, stops its deadline timer and
 * starts its after-funcs.  The node where a cancel started unlinks itself
 * from its cancel parent.
 *
 * Locking: each CANCEL node's lock guards its children list, after-funcs
 * and its children's links in that list (base/list.h: a child is linked
 * until it is cancelled or released).  No code holds two node locks at
 * once, or any other lock under one (CTX is a leaf in base/lockrank.h,
 * which debug builds check).  A Done channel is closed after the node's
 * lock is released.
 *
 * Done channels come with the node, in the same allocation, so that asking
 * for one can never fail: a Done that could be NULL for want of memory
 * would read as "never cancelled" and every *_ctx wait would ignore its
 * context.  The channel heads the block, and uvgo_chan_release frees a
 * channel with uvgo__free(ch), so the block goes with the last of the node's
 * references (which hold one channel reference among them) and the
 * references of tasks still blocked on the channel:
 *
 *     +------------------------+-------------------------------+
 *     | struct uvgo_chan       | struct uvgo_ctx               |
 *     +------------------------+-------------------------------+
 *     ^ the block, c->done     ^ c = block + DONE_SPACE
 *
 * Rejected: making Done on first request (as Go does; most contexts are
 * never waited on).  It saves the channel's ~72 bytes on such nodes but
 * turns an allocation failure into a context that waits cannot see.
 */
#include "context/context.h"
#include "runtime/timer.h"

#include <string.h>

enum { CTX_CANCEL = 1, CTX_VALUE, CTX_DETACHED };

struct uvgo_ctx_after {
    uvgo_list_node_t link; /* in ctx->afters, under its lock */
    struct uvgo_ctx *ctx;  /* the CANCEL node it waits on */
    uvgo_task_fn fn;
    void *arg;
    int state;       /* AFTER_*, under ctx->lock (an
                        atomic if ctx is NULL) */
    atomic_int refs; /* handle + registration */
};
enum { AFTER_WAITING = 0, AFTER_STARTED, AFTER_STOPPED };

static void afters_start(uvgo_list_t *afters);

struct uvgo_ctx {
    atomic_int refs;
    int kind;
    struct uvgo_ctx *parent; /* retained; NULL: background */
    /* VALUE. */
    const void *key;
    void *value;
    /* CANCEL. */
    uvgo_spinlock_t lock;
    atomic_int err;    /* 0 until done; set once, under lock */
    int cause;         /* under lock; final once err is set */
    uvgo_chan_t *done; /* immutable: heads this node's block */
    int has_deadline;
    int64_t deadline;
    int deadline_cause;             /* the cause when the deadline fires */
    uvgo_timer_t *timer;            /* under lock */
    struct uvgo_ctx *cancel_parent; /* an ancestor: kept alive by parent */
    uvgo_list_t children;           /* under lock; CANCEL nodes, through sib */
    uvgo_list_node_t sib;           /* under cancel_parent's lock: linked while
                                       the parent holds a reference on it */
    uvgo_list_t afters;             /* under lock: struct uvgo_ctx_after */
    struct uvgo_ctx *work_next;     /* the cancel work list */
};

uvgo_ctx_t *uvgo_ctx_background(void)
{
    return NULL;
}

uvgo_ctx_t *uvgo_ctx_retain(uvgo_ctx_t *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void uvgo_ctx_release(uvgo_ctx_t *c)
{
    /* Iterative: releasing a node may release its parent. */
    while (c) {
        int old = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
        uvgo__assert(old > 0); /* not released more often than retained */
        if (old != 1)
            break;
        uvgo_ctx_t *parent = c->parent;
        /* Linked children and after-funcs hold references on c, and so
         * does its cancel parent while c is linked there (an unlinked
         * node's links are NULL: nobody else touches them). */
        uvgo__assert(uvgo__list_empty(&c->children) &&
                     uvgo__list_empty(&c->afters) && !c->sib.next &&
                     !c->sib.prev);
        if (c->kind == CTX_CANCEL)
            uvgo_chan_release(c->done); /* the block, once unreferenced */
        else
            uvgo__free(c);
        c = parent;
    }
}

/* The CANCEL node that answers for c (c itself, or through VALUE nodes),
 * or NULL if c can never be cancelled. */
static uvgo_ctx_t *cancel_node(uvgo_ctx_t *c)
{
    while (c && c->kind == CTX_VALUE)
        c = c->parent;
    return c && c->kind == CTX_CANCEL ? c : NULL;
}

int uvgo_ctx_err(uvgo_ctx_t *c)
{
    c = cancel_node(c);
    /* acquire: pairs with the release in cancel_one(). */
    return c ? atomic_load_explicit(&c->err, memory_order_acquire) : 0;
}

int uvgo_ctx_cause(uvgo_ctx_t *c)
{
    int cause;
    c = cancel_node(c);
    if (!c || !atomic_load_explicit(&c->err, memory_order_acquire))
        return 0;
    uvgo__spin_lock(&c->lock, UVGO_RANK_CTX);
    cause = c->cause;
    uvgo__spin_unlock(&c->lock);
    return cause;
}

int uvgo_ctx_deadline(uvgo_ctx_t *c, int64_t *deadline)
{
    for (; c && c->kind != CTX_DETACHED; c = c->parent) {
        if (c->kind == CTX_CANCEL && c->has_deadline) {
            if (deadline)
                *deadline = c->deadline;
            return 1;
        }
    }
    return 0;
}

void *uvgo_ctx_value(uvgo_ctx_t *c, const void *key)
{
    for (; c; c = c->parent)
        if (c->kind == CTX_VALUE && c->key == key)
            return c->value;
    return NULL;
}

uvgo_chan_t *uvgo_ctx_done(uvgo_ctx_t *c)
{
    c = cancel_node(c);
    return c ? c->done : NULL;
}

/* ---- cancelling ------------------------------------------------------------
 */

/* Cancels one node with (err, cause); hands its children to *work.
 * Returns 0 if it was already done. */
static int cancel_one(uvgo_ctx_t *c, int err, int cause, uvgo_ctx_t **work)
{
    uvgo_timer_t *timer;
    uvgo_list_t afters;
    uvgo_list_node_t *n, *next;
    struct uvgo_ctx_after *a;

    uvgo__spin_lock(&c->lock, UVGO_RANK_CTX);
    if (atomic_load_explicit(&c->err, memory_order_relaxed)) {
        uvgo__spin_unlock(&c->lock);
        return 0;
    }
    c->cause = cause ? cause : err;
    /* release: a reader that sees err sees the cause. */
    atomic_store_explicit(&c->err, err, memory_order_release);
    for (n = uvgo__list_drain(&c->children); n; n = next) {
        /* Unlinked: ours now, its reference with it. */
        uvgo_ctx_t *k = uvgo__container_of(n, uvgo_ctx_t, sib);
        next = uvgo__list_drain_next(n);
        k->work_next = *work;
        *work = k;
        __builtin_prefetch(&k->done->recvq); /* see "Prefetching the cancel
                                                walk" */
    }
    timer = c->timer;
    c->timer = NULL;
    afters = c->afters;
    uvgo__list_init(&c->afters);
    UVGO_LIST_FOREACH(a, &afters, struct uvgo_ctx_after, link)
    a->state = AFTER_STARTED;
    uvgo__spin_unlock(&c->lock);

    uvgo__chan_close(c->done);
    if (timer) {
        /* The deadline callback holds a reference on c; if this stop kept
         * it from running, that reference is ours to drop (c stays alive:
         * the caller holds one too). */
        if (uvgo_timer_stop(timer) == 1) {
            uvgo__assert(atomic_load(&c->refs) > 1);
            uvgo_ctx_release(c);
        }
        uvgo_timer_free(timer);
    }
    afters_start(&afters);
    return 1;
}

/* Removes c from its cancel parent's children, if still there. */
static void unlink_from_parent(uvgo_ctx_t *c)
{
    uvgo_ctx_t *p = c->cancel_parent;
    int mine = 0;
    if (!p)
        return;
    uvgo__spin_lock(&p->lock, UVGO_RANK_CTX);
    if (uvgo__list_contains(&p->children, &c->sib)) {
        uvgo__list_remove(&p->children, &c->sib);
        mine = 1;
    }
    uvgo__spin_unlock(&p->lock);
    if (mine)
        uvgo_ctx_release(c); /* the parent's reference */
}

/* Prefetching the cancel walk.  Cancelling a node whose Done channel has
 * waiters touches memory the walk has not seen: the channel's queue, the
 * waiter on its task's stack, and the task's record, which the wake-up
 * writes.  With thousands of waiting leaves (bench ctxtree: 10,000) those
 * misses were most of the walk, each waiting for the one before.  So a
 * node that hands its children to the work list starts loading their
 * channels (cancel_one), and the walk looks ahead along the list: the
 * first waiter of the node two ahead and the record of the next node's
 * waiter, so that several loads are in flight and the current node finds
 * its own at hand.  The looks are unlocked reads of pointers that may
 * change under us; they only ever feed a prefetch, which cannot fault.
 * Sanitizers would rightly flag those reads, so they go there. */
#if !defined(UVGO_TSAN) && !defined(UVGO_ASAN)
static inline void *peek_ptr(void *const *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void prefetch_walk(uvgo_ctx_t *k)
{
    uvgo_ctx_t *n1 = k->work_next, *n2;
    uvgo_list_node_t *n;
    uvgo_task_t *t;
    if (!n1)
        return;
    if ((n2 = n1->work_next) &&
        (n = peek_ptr((void *const *)&n2->done->recvq.first_)))
        __builtin_prefetch(uvgo__waiter_of(n));
    if ((n = peek_ptr((void *const *)&n1->done->recvq.first_)) &&
        (t = peek_ptr((void *const *)&uvgo__waiter_of(n)->task)))
        __builtin_prefetch(t);
}
#else
static inline void prefetch_walk(uvgo_ctx_t *k)
{
    (void)k;
}
#endif

static void cancel_tree(uvgo_ctx_t *c, int err, int cause)
{
    uvgo_ctx_t *work = NULL;
    uvgo_ctx_retain(c);
    if (cancel_one(c, err, cause, &work))
        unlink_from_parent(c);
    while (work) {
        uvgo_ctx_t *k = work;
        prefetch_walk(k);
        work = k->work_next;
        /* Children get the ancestor's error and cause. */
        cancel_one(k, err, cause, &work);
        uvgo_ctx_release(k); /* the reference its parent held */
    }
    uvgo_ctx_release(c);
}

void uvgo_ctx_cancel(uvgo_ctx_t *c)
{
    if (c && c->kind == CTX_CANCEL)
        cancel_tree(c, UVGO_ECANCELED, 0);
}

void uvgo_ctx_cancel_release(uvgo_ctx_t *c)
{
    uvgo_ctx_cancel(c);
    uvgo_ctx_release(c);
}

void uvgo_ctx_cancel_cause(uvgo_ctx_t *c, int cause)
{
    if (c && c->kind == CTX_CANCEL)
        cancel_tree(c, UVGO_ECANCELED, cause ? cause : UVGO_ECANCELED);
}

static void on_deadline(void *arg)
{
    uvgo_ctx_t *c = arg;
    cancel_tree(c, UVGO_ETIMEDOUT, c->deadline_cause);
    uvgo_ctx_release(c); /* the timer's reference */
}

/* The runtime ended before the deadline: its timer records are about to be
 * freed, and no worker is left to cancel c.  c forgets the timer (a later
 * cancel would otherwise stop a freed record) and keeps its deadline as a
 * value only (see uvgo_ctx_with_deadline).  Called from uvgo_main's thread
 * once every worker has stopped, so nothing in the runtime races us. */
static void on_deadline_dropped(void *arg)
{
    uvgo_ctx_t *c = arg;
    uvgo__spin_lock(&c->lock, UVGO_RANK_CTX);
    c->timer = NULL; /* this timer: a node arms one, once */
    uvgo__spin_unlock(&c->lock);
    uvgo_ctx_release(c); /* the timer's reference */
}

/* ---- making contexts ---------------------------------------------------- */

/* Where a CANCEL node starts in its block: after its Done channel. */
#define DONE_SPACE                                                             \
    ((sizeof(struct uvgo_chan) + _Alignof(uvgo_ctx_t) - 1) &                   \
     ~(_Alignof(uvgo_ctx_t) - 1))

static uvgo_ctx_t *ctx_alloc(int kind, uvgo_ctx_t *parent)
{
    uvgo_ctx_t *c;
    if (kind == CTX_CANCEL) {
        char *block = uvgo__calloc(1, DONE_SPACE + sizeof *c);
        if (!block)
            return NULL;
        c = (uvgo_ctx_t *)(block + DONE_SPACE);
        c->done = (uvgo_chan_t *)block;
        uvgo__chan_init(c->done, 0, 0); /* the node's reference */
        uvgo__chan_set_recv_only(c->done);
    } else if (!(c = uvgo__calloc(1, sizeof *c))) {
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->kind = kind;
    c->parent = uvgo_ctx_retain(parent);
    return c;
}

static int make_cancel(uvgo_ctx_t **out, uvgo_ctx_t *parent, int has_deadline,
                       int64_t deadline, int deadline_cause)
{
    uvgo_ctx_t *c, *p;
    int64_t pd;

    if (!out)
        return UVGO_EINVAL;
    c = ctx_alloc(CTX_CANCEL, parent);
    if (!c)
        return UVGO_ENOMEM;
    /* A deadline later than an ancestor's adds only a cancel scope. */
    if (has_deadline && !(uvgo_ctx_deadline(parent, &pd) && pd <= deadline)) {
        c->has_deadline = 1;
        c->deadline = deadline;
        c->deadline_cause = deadline_cause;
    }
    p = cancel_node(parent);
    if (p) {
        uvgo__spin_lock(&p->lock, UVGO_RANK_CTX);
        int perr = atomic_load_explicit(&p->err, memory_order_relaxed);
        if (perr) {
            /* Born done, with the parent's error and cause. */
            c->cause = p->cause;
            atomic_store_explicit(&c->err, perr, memory_order_release);
        } else {
            c->cancel_parent = p; /* alive as long as c: it is an ancestor */
            uvgo_ctx_retain(c);   /* the parent's reference */
            uvgo__list_push_front(&p->children, &c->sib);
        }
        uvgo__spin_unlock(&p->lock);
        if (atomic_load_explicit(&c->err, memory_order_relaxed))
            uvgo__chan_close(c->done); /* still ours alone */
    }
    if (c->has_deadline && !atomic_load(&c->err)) {
        if (deadline <= uvgo_now()) {
            cancel_tree(c, UVGO_ETIMEDOUT, deadline_cause);
        } else {
            uvgo_timer_t *t;
            /* The deadline callback's reference: dropped by the callback,
             * or by the cancel whose stop keeps it from running. */
            uvgo_ctx_retain(c);
            int err = uvgo__timer_callback(&t, deadline, on_deadline,
                                           on_deadline_dropped, c);
            if (err) { /* UVGO_ENOMEM, or UVGO_ENOTTASK: no runtime */
                uvgo_ctx_release(c);
                uvgo_ctx_cancel_release(c);
                return err;
            }
            uvgo__spin_lock(&c->lock, UVGO_RANK_CTX);
            if (!atomic_load(&c->err)) {
                c->timer = t;
                t = NULL;
            }
            uvgo__spin_unlock(&c->lock);
            if (t) { /* cancelled meanwhile */
                if (uvgo_timer_stop(t) == 1)
                    uvgo_ctx_release(c);
                uvgo_timer_free(t);
            }
        }
    }
    *out = c;
    return 0;
}

int uvgo_ctx_with_cancel(uvgo_ctx_t **out, uvgo_ctx_t *parent)
{
    return make_cancel(out, parent, 0, 0, 0);
}

int uvgo_ctx_with_deadline(uvgo_ctx_t **out, uvgo_ctx_t *parent,
                           int64_t deadline)
{
    return make_cancel(out, parent, 1, deadline, 0);
}

int uvgo_ctx_with_timeout(uvgo_ctx_t **out, uvgo_ctx_t *parent,
                          uvgo_duration_t d)
{
    return make_cancel(out, parent, 1, uvgo__time_add(uvgo_now(), d), 0);
}

int uvgo_ctx_with_deadline_cause(uvgo_ctx_t **out, uvgo_ctx_t *parent,
                                 int64_t deadline, int cause)
{
    return make_cancel(out, parent, 1, deadline, cause);
}

int uvgo_ctx_with_timeout_cause(uvgo_ctx_t **out, uvgo_ctx_t *parent,
                                uvgo_duration_t d, int cause)
{
    return make_cancel(out, parent, 1, uvgo__time_add(uvgo_now(), d), cause);
}

int uvgo_ctx_with_value(uvgo_ctx_t **out, uvgo_ctx_t *parent, const void *key,
                        void *value)
{
    uvgo_ctx_t *c;
    if (!out || !key)
        return UVGO_EINVAL;
    c = ctx_alloc(CTX_VALUE, parent);
    if (!c)
        return UVGO_ENOMEM;
    c->key = key;
    c->value = value;
    *out = c;
    return 0;
}

int uvgo_ctx_without_cancel(uvgo_ctx_t **out, uvgo_ctx_t *parent)
{
    uvgo_ctx_t *c;
    if (!out)
        return UVGO_EINVAL;
    c = ctx_alloc(CTX_DETACHED, parent);
    if (!c)
        return UVGO_ENOMEM;
    *out = c;
    return 0;
}

/* ---- after-funcs ------------------------------------------------------------
 *
 * A record holds a reference on its context (dropped with the record) and
 * has up to two references of its own: the caller's handle, until
 * uvgo_ctx_after_free, and the registration, from the moment it is linked
 * in ctx->afters until it is stopped or its function has been started.
 * Stopping never frees the handle (Go's stop may be called many times).
 */

static void after_unref(struct uvgo_ctx_after *a)
{
    int old = atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel);
    uvgo__assert(old > 0);
    if (old == 1) {
        uvgo_ctx_release(a->ctx);
        uvgo__free(a);
    }
}

/* The cancel path: starts every after-func of a node just cancelled (taken
 * off the node onto `afters`, marked started) and drops their
 * registrations. */
static void afters_start(uvgo_list_t *afters)
{
    uvgo_list_node_t *n;
    while ((n = uvgo__list_pop_front(afters))) {
        struct uvgo_ctx_after *a =
            uvgo__container_of(n, struct uvgo_ctx_after, link);
        uvgo__go_or_die(a->fn, a->arg, "uvgo_ctx_after_func");
        after_unref(a);
    }
}

int uvgo_ctx_after_func(uvgo_ctx_after_t **stop, uvgo_ctx_t *ctx,
                        uvgo_task_fn fn, void *arg)
{
    uvgo_ctx_t *c = cancel_node(ctx);
    struct uvgo_ctx_after *a;
    int run = 0;

    if (!fn)
        return UVGO_EINVAL;
    a = uvgo__calloc(1, sizeof *a);
    if (!a)
        return UVGO_ENOMEM;
    a->fn = fn;
    a->arg = arg;
    a->ctx = uvgo_ctx_retain(c);
    /* The handle's reference; the registration's is added if it is
     * linked or about to run. */
    atomic_init(&a->refs, stop ? 1 : 0);
    if (c) {
        atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
        uvgo__spin_lock(&c->lock, UVGO_RANK_CTX);
        if (atomic_load_explicit(&c->err, memory_order_relaxed)) {
            a->state = AFTER_STARTED;
            run = 1;
        } else {
            uvgo__list_push_front(&c->afters, &a->link);
        }
        uvgo__spin_unlock(&c->lock);
    }
    if (run) {
        int err = uvgo_go(fn, arg);
        if (err < 0) { /* nothing happened: no handle either */
            uvgo_ctx_release(a->ctx);
            uvgo__free(a);
            return err;
        }
        after_unref(a); /* the registration's */
    } else if (!stop && !c) {
        /* A context that can never be cancelled never runs it, and
         * nobody can stop it: nothing to keep. */
        uvgo__free(a);
        return 0;
    }
    if (stop)
        *stop = a;
    return 0;
}

int uvgo_ctx_after_stop(uvgo_ctx_after_t *a)
{
    uvgo_ctx_t *c;
    int prevented = 0;
    if (!a)
        return 0;
    c = a->ctx;
    if (!c) {
        /* Never cancellable: nothing races but other stops. */
        return __atomic_exchange_n(&a->state, AFTER_STOPPED,
                                   __ATOMIC_ACQ_REL) == AFTER_WAITING;
    }
    uvgo__spin_lock(&c->lock, UVGO_RANK_CTX);
    if (a->state == AFTER_WAITING) {
        uvgo__list_remove(&c->afters, &a->link);
        a->state = AFTER_STOPPED;
        prevented = 1;
    }
    uvgo__spin_unlock(&c->lock);
    if (prevented)
        after_unref(a); /* the registration's; the handle's remains */
    return prevented;
}

void uvgo_ctx_after_free(uvgo_ctx_after_t *a)
{
    if (a)
        after_unref(a);
}
