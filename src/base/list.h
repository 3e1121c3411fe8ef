/* list.h: the intrusive doubly linked list every uvgo queue is made of.
 *
 * As in libuv's queue.h, the links live inside the element (a waiter on a
 * blocked task's stack, a context, a slab), so linking never allocates and
 * cannot fail, and one set of functions serves every kind of element; the
 * element is found again from its node with uvgo__container_of.  Unlike
 * queue.h's circular list, whose empty head points at itself, a head here
 * is two pointers that are NULL when the list is empty: all-zero bytes are
 * an empty list.  The public sync structs embed a head (uvgo/sync.h, which
 * declares it) and must work zero-initialised, as Go's zero values do.  The
 * price is a test for the ends in push and remove, where a circular list
 * has none.
 *
 *     head:  first ──► node ◄──► node ◄──► node ◄── last
 *                      prev NULL           next NULL
 *
 * Membership.  Every remove and pop clears the node's links, so a node in
 * no list has both links NULL, and a node that is in list l or in none is
 * in l exactly when it has a predecessor or is l's first
 * (uvgo__list_contains).  That is how a woken task learns whether its
 * waker unlinked its waiter, without a flag.  A node is never in two lists
 * at once.
 *
 * Not thread-safe: each list sits under its owner's lock or belongs to one
 * thread.  Debug builds check the links at every push and remove.
 */
#ifndef UVGO_BASE_LIST_H
#define UVGO_BASE_LIST_H

#include "base/common.h"

/* The head, uvgo__list_t, is declared by uvgo/sync.h, whose structs embed
 * one; its fields are first_ and last_. */
typedef uvgo__list_t uvgo_list_t;

typedef struct uvgo__list_node {
    struct uvgo__list_node *next, *prev;
} uvgo_list_node_t;

static inline void uvgo__list_init(uvgo_list_t *l)
{
    l->first_ = l->last_ = NULL;
}

static inline int uvgo__list_empty(const uvgo_list_t *l)
{
    return l->first_ == NULL;
}

static inline uvgo_list_node_t *uvgo__list_first(const uvgo_list_t *l)
{
    return l->first_;
}

/* Every element e (a `type *` whose node is `field`) from first to last:
 *     UVGO_LIST_FOREACH(c, &l, struct conn, link) { ... }
 * The body must not remove e. */
#define UVGO_LIST_FOREACH(e, l, type, field)                                   \
    for (uvgo_list_node_t *e##_node_ = (l)->first_;                            \
         e##_node_ && ((e) = uvgo__container_of(e##_node_, type, field), 1);   \
         e##_node_ = e##_node_->next)

/* Whether n, which is in l or in no list, is in l. */
static inline int uvgo__list_contains(const uvgo_list_t *l,
                                      const uvgo_list_node_t *n)
{
    return n->prev != NULL || l->first_ == n;
}

/* Whether n is in no list (and not l's first): true of a node about to be
 * linked. */
static inline int uvgo__list_unlinked(const uvgo_list_t *l,
                                      const uvgo_list_node_t *n)
{
    return !n->next && !n->prev && l->first_ != n;
}

/* Makes b follow a, where either may be NULL for an end of l: the one
 * step every change below is made of.  After inlining, the tests on a
 * constant NULL fold away. */
static inline void uvgo__list_join(uvgo_list_t *l, uvgo_list_node_t *a,
                                   uvgo_list_node_t *b)
{
    if (a)
        a->next = b;
    else
        l->first_ = b;
    if (b)
        b->prev = a;
    else
        l->last_ = a;
}

static inline void uvgo__list_push_back(uvgo_list_t *l, uvgo_list_node_t *n)
{
    uvgo__assert(uvgo__list_unlinked(l, n));
    uvgo__list_join(l, l->last_, n);
    uvgo__list_join(l, n, NULL);
}

static inline void uvgo__list_push_front(uvgo_list_t *l, uvgo_list_node_t *n)
{
    uvgo__assert(uvgo__list_unlinked(l, n));
    uvgo__list_join(l, n, l->first_);
    uvgo__list_join(l, NULL, n);
}

/* Unlinks n, which must be in l, and clears its links. */
static inline void uvgo__list_remove(uvgo_list_t *l, uvgo_list_node_t *n)
{
    uvgo__assert(n->prev ? n->prev->next == n : l->first_ == n);
    uvgo__assert(n->next ? n->next->prev == n : l->last_ == n);
    uvgo__list_join(l, n->prev, n->next);
    n->next = n->prev = NULL;
}

/* Unlinks and returns the first node, or NULL.  (uvgo__list_remove
 * without the test for a predecessor, which the first has not.) */
static inline uvgo_list_node_t *uvgo__list_pop_front(uvgo_list_t *l)
{
    uvgo_list_node_t *n = l->first_;
    if (n) {
        uvgo__assert(!n->prev &&
                     (n->next ? n->next->prev == n : l->last_ == n));
        uvgo__list_join(l, NULL, n->next);
        n->next = NULL;
    }
    return n;
}

/* Draining: takes every node off l at once, for a walk that unlinks each
 * node as it passes (cheaper than popping them one by one):
 *     for (n = uvgo__list_drain(&l); n; n = next) {
 *         next = uvgo__list_drain_next(n);   n is in no list now
 *         ...
 *     }
 * Until the walk has passed a node, it is in no list's head but still
 * linked to its neighbours: nobody else may look at them meanwhile. */
static inline uvgo_list_node_t *uvgo__list_drain(uvgo_list_t *l)
{
    uvgo_list_node_t *n = l->first_;
    l->first_ = l->last_ = NULL;
    return n;
}

static inline uvgo_list_node_t *uvgo__list_drain_next(uvgo_list_node_t *n)
{
    uvgo_list_node_t *next = n->next;
    n->next = n->prev = NULL;
    return next;
}

#endif /* UVGO_BASE_LIST_H */
