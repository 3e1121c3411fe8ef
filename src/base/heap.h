/* heap.h: an intrusive pairing heap keyed by int64 (timer deadlines).
 *
 * Insert is O(1); removing the minimum or any node is O(log n) amortised.
 * Nodes live inside their owners (a sleeping task's stack frame, a timer
 * object), so inserting never allocates and cannot fail.  Not thread-safe:
 * each heap belongs to one worker, or sits under its owner's lock.
 *
 * Links: `child` is the first child; `next` the next sibling; `prev` the
 * previous sibling, or the parent for a first child, or NULL for the root.
 * Equal keys pop in insertion order only by accident: callers that need
 * stable order add a sequence number to the key.
 */
#ifndef UVGO_HEAP_H
#define UVGO_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef struct uvgo_heap_node {
    struct uvgo_heap_node *child, *next, *prev;
    int64_t key;
} uvgo_heap_node_t;

typedef struct uvgo_heap {
    uvgo_heap_node_t *root;
    size_t count;
} uvgo_heap_t;

static inline uvgo_heap_node_t *uvgo__heap_meld(uvgo_heap_node_t *a,
                                                uvgo_heap_node_t *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (b->key < a->key) {
        uvgo_heap_node_t *t = a;
        a = b;
        b = t;
    }
    b->prev = a;
    b->next = a->child;
    if (a->child)
        a->child->prev = b;
    a->child = b;
    a->next = a->prev = NULL;
    return a;
}

/* Two-pass pairing of a sibling list: meld neighbours left to right, then
 * meld the results right to left.  Iterative: a list may be long. */
static inline uvgo_heap_node_t *uvgo__heap_pair(uvgo_heap_node_t *first)
{
    uvgo_heap_node_t *pairs = NULL; /* melded pairs, linked through next */
    uvgo_heap_node_t *r;

    while (first) {
        uvgo_heap_node_t *a = first, *b = first->next;
        if (!b) {
            a->prev = NULL;
            a->next = pairs;
            pairs = a;
            break;
        }
        first = b->next;
        a->next = a->prev = b->next = b->prev = NULL;
        a = uvgo__heap_meld(a, b);
        a->next = pairs;
        pairs = a;
    }
    r = NULL;
    while (pairs) {
        uvgo_heap_node_t *n = pairs->next;
        pairs->next = pairs->prev = NULL;
        r = uvgo__heap_meld(r, pairs);
        pairs = n;
    }
    return r;
}

static inline void uvgo__heap_insert(uvgo_heap_t *h, uvgo_heap_node_t *n,
                                     int64_t key)
{
    uvgo__assert(n != h->root);
    n->key = key;
    n->child = n->next = n->prev = NULL;
    h->root = uvgo__heap_meld(h->root, n);
    h->count++;
}

static inline uvgo_heap_node_t *uvgo__heap_min(const uvgo_heap_t *h)
{
    return h->root;
}

static inline void uvgo__heap_remove(uvgo_heap_t *h, uvgo_heap_node_t *n)
{
    uvgo_heap_node_t *sub;

    /* In this heap: the root, or linked below it. */
    uvgo__assert(h->count > 0 && (n == h->root || n->prev != NULL));
    if (n == h->root) {
        h->root = uvgo__heap_pair(n->child);
    } else {
        if (n->prev->child == n)
            n->prev->child = n->next;
        else
            n->prev->next = n->next;
        if (n->next)
            n->next->prev = n->prev;
        sub = uvgo__heap_pair(n->child);
        h->root = uvgo__heap_meld(h->root, sub);
    }
    n->child = n->next = n->prev = NULL;
    h->count--;
}

#endif /* UVGO_HEAP_H */
