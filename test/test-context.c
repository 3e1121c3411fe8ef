/* test-context.c: contexts (Go's context package) and the *_ctx waits. */
#include <stdatomic.h>

#include "test.h"

#define MS UVGO_MILLISECOND
#define SLACK TEST_SLACK

static int is_closed(uvgo_chan_t *ch)
{
    int ok = 1;
    return uvgo_chan_try_recv(ch, NULL, 0, &ok) == UVGO_ECLOSED && ok == 0;
}

/* An allocator that fails every allocation while fail_allocs is set
 * (installed with uvgo_replace_allocator by the cases that use it). */
static atomic_int fail_allocs;

static void *f_malloc(size_t n)
{
    return atomic_load(&fail_allocs) ? NULL : malloc(n);
}

static void *f_calloc(size_t n, size_t size)
{
    return atomic_load(&fail_allocs) ? NULL : calloc(n, size);
}

static void *f_realloc(void *p, size_t n)
{
    return atomic_load(&fail_allocs) ? NULL : realloc(p, n);
}

static uvgo_ctx_t *with_cancel(uvgo_ctx_t *parent)
{
    uvgo_ctx_t *c;
    ASSERT_OK(uvgo_ctx_with_cancel(&c, parent));
    return c;
}

static void done(uvgo_ctx_t *c)
{
    uvgo_ctx_cancel_release(c);
}

/* The owner's "defer cancel()": the context and its descendants end, and
 * a child that still holds the parent keeps it readable. */
static void cancel_release_cancels_and_drops_the_reference(void)
{
    uvgo_ctx_t *p = with_cancel(NULL), *c = with_cancel(p);
    uvgo_ctx_retain(p);
    uvgo_ctx_cancel_release(p);
    ASSERT_ERR(uvgo_ctx_err(p), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    uvgo_ctx_release(p);
    uvgo_ctx_release(c);
    uvgo_ctx_cancel_release(NULL);
}

static void background_is_never_done_and_has_nothing(void)
{
    uvgo_ctx_t *bg = uvgo_ctx_background();
    int64_t d;
    ASSERT(bg == NULL);
    ASSERT(uvgo_ctx_done(bg) == NULL);
    ASSERT_EQ(uvgo_ctx_err(bg), 0);
    ASSERT_EQ(uvgo_ctx_cause(bg), 0);
    ASSERT_EQ(uvgo_ctx_deadline(bg, &d), 0);
    ASSERT(uvgo_ctx_value(bg, &d) == NULL);
    uvgo_ctx_cancel(bg); /* ignored */
}

static void cancel_closes_done_once_and_is_idempotent(void)
{
    uvgo_ctx_t *c = with_cancel(NULL);
    uvgo_chan_t *d = uvgo_ctx_done(c);
    ASSERT(d != NULL);
    ASSERT(uvgo_ctx_done(c) == d); /* the same channel each time */
    ASSERT(!is_closed(d));
    ASSERT_EQ(uvgo_ctx_err(c), 0);
    uvgo_ctx_cancel(c);
    ASSERT(is_closed(d));
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_ctx_cause(c), UVGO_ECANCELED);
    uvgo_ctx_cancel(c); /* again: nothing changes, no double close */
    uvgo_ctx_cancel_cause(c, -999);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_ctx_cause(c), UVGO_ECANCELED);
    uvgo_ctx_release(c);
}

static void cancel_propagates_down_never_up(void)
{
    uvgo_ctx_t *root = with_cancel(NULL), *mid = with_cancel(root);
    uvgo_ctx_t *val, *leaf, *sib = with_cancel(root);
    static int key;
    ASSERT_OK(uvgo_ctx_with_value(&val, mid, &key, (void *)1));
    leaf = with_cancel(val);
    uvgo_ctx_cancel(mid);
    ASSERT_ERR(uvgo_ctx_err(mid), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_ctx_err(val), UVGO_ECANCELED); /* answers for its parent */
    ASSERT_ERR(uvgo_ctx_err(leaf), UVGO_ECANCELED);
    ASSERT(is_closed(uvgo_ctx_done(leaf)));
    ASSERT_EQ(uvgo_ctx_err(root), 0);
    ASSERT_EQ(uvgo_ctx_err(sib), 0);
    /* A child made under a cancelled parent is born cancelled. */
    uvgo_ctx_t *late = with_cancel(leaf);
    ASSERT_ERR(uvgo_ctx_err(late), UVGO_ECANCELED);
    ASSERT(is_closed(uvgo_ctx_done(late)));
    uvgo_ctx_cancel(root);
    ASSERT_ERR(uvgo_ctx_err(sib), UVGO_ECANCELED);
    done(late);
    done(leaf);
    uvgo_ctx_release(val);
    done(sib);
    done(mid);
    done(root);
}

static void deadline_fires_with_etimedout_and_err_never_changes(void)
{
    uvgo_ctx_t *c;
    int64_t t0 = uvgo_now(), d;
    ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, 20 * MS));
    ASSERT_EQ(uvgo_ctx_deadline(c, &d), 1);
    ASSERT_GE(d, t0 + 20 * MS);
    ASSERT_OK(uvgo_chan_recv(uvgo_ctx_done(c), NULL, 0, NULL) == UVGO_ECLOSED
                  ? 0
                  : -1);
    int64_t took = uvgo_now() - t0;
    ASSERT_GE(took, 20 * MS);
    ASSERT_IN_TIME(took, 20 * MS + SLACK);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ETIMEDOUT);
    uvgo_ctx_cancel(c);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ETIMEDOUT);
    uvgo_ctx_release(c);
}

static void child_deadline_is_never_later_than_parents(void)
{
    uvgo_ctx_t *p, *c, *early;
    int64_t now = uvgo_now(), d;
    ASSERT_OK(uvgo_ctx_with_deadline(&p, NULL, now + 30 * MS));
    ASSERT_OK(uvgo_ctx_with_deadline(&c, p, now + UVGO_HOUR));
    ASSERT_EQ(uvgo_ctx_deadline(c, &d), 1);
    ASSERT_EQ(d, now + 30 * MS); /* the parent's */
    ASSERT_OK(uvgo_ctx_with_deadline(&early, p, now + 10 * MS));
    ASSERT_EQ(uvgo_ctx_deadline(early, &d), 1);
    ASSERT_EQ(d, now + 10 * MS);
    uvgo_chan_recv(uvgo_ctx_done(c), NULL, 0, NULL);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ETIMEDOUT); /* via the parent */
    ASSERT_GE(uvgo_now() - now, 30 * MS);
    done(early);
    done(c);
    done(p);
}

static void deadline_already_passed_is_done_at_once(void)
{
    uvgo_ctx_t *c, *t;
    ASSERT_OK(uvgo_ctx_with_deadline(&c, NULL, uvgo_now() - MS));
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ETIMEDOUT);
    ASSERT(is_closed(uvgo_ctx_done(c)));
    ASSERT_OK(uvgo_ctx_with_timeout(&t, NULL, -5));
    ASSERT_ERR(uvgo_ctx_err(t), UVGO_ETIMEDOUT);
    done(c);
    done(t);
}

/* Done came from an allocation on first request, and a failed one read
 * as "never cancelled": every *_ctx wait then ignored its context. */
static void *done_never_fails_main(void *arg)
{
    (void)arg;
    uvgo_ctx_t *c = test_ctx_timeout(20 * MS), *k = with_cancel(NULL);
    uvgo_chan_t *ch, *dc, *dk;
    int r1, r2;
    int64_t t0, t1, t2;
    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 0));
    atomic_store(&fail_allocs, 1);
    dc = uvgo_ctx_done(c);
    dk = uvgo_ctx_done(k);
    t0 = uvgo_now();
    r1 = uvgo_sleep_ctx(UVGO_SECOND, c);
    t1 = uvgo_now();
    r2 = uvgo_chan_recv_ctx(ch, NULL, 0, NULL, c);
    t2 = uvgo_now();
    atomic_store(&fail_allocs, 0);
    ASSERT(dc != NULL);
    ASSERT(dk != NULL);
    ASSERT_ERR(r1, UVGO_ETIMEDOUT);
    ASSERT_IN_TIME(t1 - t0, 20 * MS + SLACK);
    ASSERT_ERR(r2, UVGO_ETIMEDOUT);
    ASSERT_IN_TIME(t2 - t1, SLACK);
    ASSERT(is_closed(dc));
    ASSERT(!is_closed(dk));
    uvgo_ctx_cancel(k);
    ASSERT(is_closed(dk));
    /* Made without memory to spare, a context fails whole. */
    uvgo_ctx_t *none = NULL;
    atomic_store(&fail_allocs, 1);
    r1 = uvgo_ctx_with_cancel(&none, k);
    atomic_store(&fail_allocs, 0);
    ASSERT_ERR(r1, UVGO_ENOMEM);
    ASSERT(none == NULL);
    uvgo_chan_release(ch);
    done(c);
    done(k);
    return NULL;
}

static void done_never_fails_once_the_context_exists(void)
{
    void *r = (void *)1;
    ASSERT_OK(uvgo_replace_allocator(f_malloc, f_realloc, f_calloc, free));
    ASSERT_OK(uvgo_main(done_never_fails_main, NULL, &r));
    ASSERT(r == NULL);
}

/* With no runtime there is no timer to run a deadline: UVGO_ENOTTASK, as
 * for every timer call, not UVGO_ENOMEM.  A deadline already past needs no
 * timer. */
static void timeout_without_a_runtime_is_enottask(void)
{
    uvgo_ctx_t *c = NULL, *p;
    ASSERT_ERR(uvgo_ctx_with_timeout(&c, NULL, UVGO_SECOND), UVGO_ENOTTASK);
    ASSERT(c == NULL);
    ASSERT_ERR(uvgo_ctx_with_deadline(&c, NULL, uvgo_now() + UVGO_SECOND),
               UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_ctx_with_timeout_cause(&c, NULL, UVGO_SECOND, -1),
               UVGO_ENOTTASK);
    ASSERT_OK(uvgo_ctx_with_cancel(&p, NULL));
    ASSERT_ERR(uvgo_ctx_with_timeout(&c, p, UVGO_SECOND), UVGO_ENOTTASK);
    ASSERT_OK(uvgo_ctx_with_timeout(&c, p, -1));
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ETIMEDOUT);
    ASSERT_EQ(uvgo_ctx_err(p), 0);
    done(c);
    done(p);
}

/* An hour: a deadline no run of the case reaches. */
static void *make_timed_context(void *arg)
{
    ASSERT_OK(uvgo_ctx_with_timeout((uvgo_ctx_t **)arg, NULL, UVGO_HOUR));
    return NULL;
}

static void *cancel_context(void *arg)
{
    uvgo_timer_t *fresh;
    /* A timer of this runtime's: records of the last one are gone. */
    ASSERT_OK(uvgo_timer_make(&fresh, UVGO_HOUR));
    uvgo_ctx_cancel(arg);
    ASSERT_ERR(uvgo_ctx_err(arg), UVGO_ECANCELED);
    uvgo_timer_free(fresh);
    return NULL;
}

/* A context whose deadline is still pending when uvgo_main returns drops
 * its timer with the runtime: cancelling it afterwards, with no runtime or
 * in the next one, reads no freed timer (ASan), and releasing it frees it
 * whether or not it was cancelled (LeakSanitizer).  It is no longer timed
 * but keeps its deadline. */
static void deadline_pending_when_the_runtime_ends_is_dropped(void)
{
    uvgo_ctx_t *after, *next, *released, *child;
    int64_t d;
    ASSERT_OK(uvgo_main(make_timed_context, &after, NULL));
    ASSERT_OK(uvgo_main(make_timed_context, &released, NULL));
    ASSERT_OK(uvgo_main(make_timed_context, &next, NULL));
    ASSERT_EQ(uvgo_ctx_err(after), 0);
    ASSERT(uvgo_ctx_deadline(after, &d));
    ASSERT_GT(d, uvgo_now());
    uvgo_ctx_cancel(after);
    ASSERT_ERR(uvgo_ctx_err(after), UVGO_ECANCELED);
    ASSERT(is_closed(uvgo_ctx_done(after)));
    uvgo_ctx_release(after);
    uvgo_ctx_release(released);
    /* Children still follow it. */
    ASSERT_OK(uvgo_ctx_with_cancel(&child, next));
    ASSERT_OK(uvgo_main(cancel_context, next, NULL));
    ASSERT_ERR(uvgo_ctx_err(child), UVGO_ECANCELED);
    done(child);
    uvgo_ctx_release(next);
}

static int key_a, key_b;

static void values_are_looked_up_through_the_parents(void)
{
    uvgo_ctx_t *a, *b, *shadow, *c, *nc;
    ASSERT_OK(uvgo_ctx_with_value(&a, NULL, &key_a, "a"));
    c = with_cancel(a);
    ASSERT_OK(uvgo_ctx_with_value(&b, c, &key_b, "b"));
    ASSERT_OK(uvgo_ctx_with_value(&shadow, b, &key_a, "A"));
    ASSERT_STR_EQ(uvgo_ctx_value(b, &key_a), "a");
    ASSERT_STR_EQ(uvgo_ctx_value(b, &key_b), "b");
    ASSERT_STR_EQ(uvgo_ctx_value(shadow, &key_a), "A");
    ASSERT(uvgo_ctx_value(a, &key_b) == NULL);
    ASSERT_ERR(uvgo_ctx_with_value(&nc, a, NULL, "x"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_ctx_with_value(NULL, a, &key_a, "x"), UVGO_EINVAL);
    ASSERT_ERR(uvgo_ctx_with_cancel(NULL, a), UVGO_EINVAL);
    /* Values survive WithoutCancel. */
    ASSERT_OK(uvgo_ctx_without_cancel(&nc, shadow));
    ASSERT_STR_EQ(uvgo_ctx_value(nc, &key_b), "b");
    uvgo_ctx_release(nc);
    uvgo_ctx_release(shadow);
    uvgo_ctx_release(b);
    done(c);
    uvgo_ctx_release(a);
}

static void cancel_cause_is_recorded_and_the_first_wins(void)
{
    uvgo_ctx_t *p = with_cancel(NULL), *c = with_cancel(p), *n = with_cancel(p);
    ASSERT_EQ(uvgo_ctx_cause(c), 0); /* not done: no cause */
    uvgo_ctx_cancel_cause(p, -4242);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    ASSERT_EQ(uvgo_ctx_cause(p), -4242);
    ASSERT_EQ(uvgo_ctx_cause(c), -4242); /* children get the ancestor's */
    uvgo_ctx_cancel_cause(c, -1);        /* too late */
    ASSERT_EQ(uvgo_ctx_cause(c), -4242);
    uvgo_ctx_t *z = with_cancel(NULL);
    uvgo_ctx_cancel_cause(z, 0); /* no cause: the error */
    ASSERT_ERR(uvgo_ctx_cause(z), UVGO_ECANCELED);
    done(z);
    done(n);
    done(c);
    done(p);
}

static void deadline_cause_is_set_only_by_the_deadline(void)
{
    uvgo_ctx_t *d, *x;
    ASSERT_OK(uvgo_ctx_with_timeout_cause(&d, NULL, 5 * MS, -777));
    uvgo_chan_recv(uvgo_ctx_done(d), NULL, 0, NULL);
    ASSERT_ERR(uvgo_ctx_err(d), UVGO_ETIMEDOUT);
    ASSERT_EQ(uvgo_ctx_cause(d), -777);
    ASSERT_OK(
        uvgo_ctx_with_deadline_cause(&x, NULL, uvgo_now() + UVGO_HOUR, -777));
    uvgo_ctx_cancel(x); /* its CancelFunc sets no cause */
    ASSERT_ERR(uvgo_ctx_cause(x), UVGO_ECANCELED);
    done(d);
    done(x);
}

static void without_cancel_is_not_cancelled_with_its_parent(void)
{
    uvgo_ctx_t *p, *w, *c;
    int64_t dl;
    ASSERT_OK(uvgo_ctx_with_timeout(&p, NULL, UVGO_HOUR));
    ASSERT_OK(uvgo_ctx_without_cancel(&w, p));
    c = with_cancel(w);
    uvgo_ctx_cancel(p);
    ASSERT_EQ(uvgo_ctx_err(w), 0);
    ASSERT(uvgo_ctx_done(w) == NULL);
    ASSERT_EQ(uvgo_ctx_cause(w), 0);
    ASSERT_EQ(uvgo_ctx_deadline(w, &dl), 0);
    ASSERT_EQ(uvgo_ctx_err(c), 0);
    done(c);
    uvgo_ctx_release(w);
    done(p);
}

static atomic_int after_runs;
static atomic_ullong after_task;

static void *after_fn(void *arg)
{
    (void)arg;
    atomic_store(&after_task, uvgo_task_id(NULL));
    atomic_fetch_add(&after_runs, 1);
    return NULL;
}

static void after_func_runs_once_done_and_stop_reports_prevention(void)
{
    uvgo_ctx_t *c = with_cancel(NULL);
    uvgo_ctx_after_t *a1, *a2, *a3;
    ASSERT_OK(uvgo_ctx_after_func(&a1, c, after_fn, NULL));
    ASSERT_OK(uvgo_ctx_after_func(&a2, c, after_fn, NULL));
    ASSERT_EQ(uvgo_ctx_after_stop(a2), 1); /* prevented */
    uvgo_sleep(5 * MS);
    ASSERT_EQ(atomic_load(&after_runs), 0);
    uvgo_ctx_cancel(c);
    while (atomic_load(&after_runs) < 1)
        uvgo_sleep(MS);
    ASSERT_NE(atomic_load(&after_task), uvgo_task_id(NULL)); /* own task */
    ASSERT_EQ(uvgo_ctx_after_stop(a1), 0); /* already started */
    /* On a done context: runs at once. */
    ASSERT_OK(uvgo_ctx_after_func(&a3, c, after_fn, NULL));
    while (atomic_load(&after_runs) < 2)
        uvgo_sleep(MS);
    ASSERT_EQ(uvgo_ctx_after_stop(a3), 0);
    uvgo_ctx_after_free(a3);
    ASSERT_ERR(uvgo_ctx_after_func(NULL, c, NULL, NULL), UVGO_EINVAL);
    /* On a context that can never be done: never runs; stop prevents it. */
    ASSERT_OK(uvgo_ctx_after_func(&a3, NULL, after_fn, NULL));
    ASSERT_EQ(uvgo_ctx_after_stop(a3), 1);
    ASSERT_EQ(uvgo_ctx_after_stop(a3), 0);
    uvgo_ctx_after_free(a3);
    ASSERT_OK(uvgo_ctx_after_func(NULL, NULL, after_fn, NULL));
    uvgo_sleep(5 * MS);
    ASSERT_EQ(atomic_load(&after_runs), 2);
    ASSERT_EQ(uvgo_ctx_after_stop(NULL), 0);
    uvgo_ctx_after_free(NULL);
    uvgo_ctx_after_free(a1);
    uvgo_ctx_after_free(a2);
    uvgo_ctx_release(c);
}

static void wait_after_runs(int n)
{
    while (atomic_load(&after_runs) < n)
        uvgo_sleep(MS);
}

/* Every path frees the record and the context reference it holds (the
 * ASan build's LeakSanitizer fails this case on a leak), and a handle can
 * be stopped any number of times before it is freed (it was freed by the
 * first stop: the second was a use after free). */
static void after_func_frees_everything_and_stops_twice(void)
{
    uvgo_ctx_t *c;
    uvgo_ctx_after_t *a;
    atomic_store(&after_runs, 0);

    /* No handle; the cancel starts it and drops the last reference. */
    c = with_cancel(NULL);
    ASSERT_OK(uvgo_ctx_after_func(NULL, c, after_fn, NULL));
    done(c);
    wait_after_runs(1);

    /* The handle freed before the cancel. */
    c = with_cancel(NULL);
    ASSERT_OK(uvgo_ctx_after_func(&a, c, after_fn, NULL));
    uvgo_ctx_after_free(a);
    done(c);
    wait_after_runs(2);

    /* The handle freed after the cancel, stopped twice first. */
    c = with_cancel(NULL);
    ASSERT_OK(uvgo_ctx_after_func(&a, c, after_fn, NULL));
    done(c);
    wait_after_runs(3);
    ASSERT_EQ(uvgo_ctx_after_stop(a), 0);
    ASSERT_EQ(uvgo_ctx_after_stop(a), 0);
    uvgo_ctx_after_free(a);

    /* Stopped twice, then cancelled: it never runs. */
    c = with_cancel(NULL);
    ASSERT_OK(uvgo_ctx_after_func(&a, c, after_fn, NULL));
    ASSERT_EQ(uvgo_ctx_after_stop(a), 1);
    ASSERT_EQ(uvgo_ctx_after_stop(a), 0);
    done(c);
    ASSERT_EQ(uvgo_ctx_after_stop(a), 0);
    uvgo_ctx_after_free(a);

    /* Registered on a context already done, through a value node. */
    uvgo_ctx_t *v;
    static int key;
    c = with_cancel(NULL);
    ASSERT_OK(uvgo_ctx_with_value(&v, c, &key, NULL));
    uvgo_ctx_cancel(c);
    ASSERT_OK(uvgo_ctx_after_func(&a, v, after_fn, NULL));
    ASSERT_OK(uvgo_ctx_after_func(NULL, v, after_fn, NULL));
    wait_after_runs(5);
    ASSERT_EQ(uvgo_ctx_after_stop(a), 0);
    uvgo_ctx_after_free(a);
    uvgo_ctx_release(v);
    uvgo_ctx_release(c);
    uvgo_sleep(5 * MS);
    ASSERT_EQ(atomic_load(&after_runs), 5);
}

/* ---- waiting bounded by a context ------------------------------------- */

static atomic_int woke;

static void *wait_done(void *arg)
{
    uvgo_ctx_t *c = arg;
    ASSERT_ERR(uvgo_chan_recv(uvgo_ctx_done(c), NULL, 0, NULL), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    atomic_fetch_add(&woke, 1);
    return NULL;
}

static void ten_thousand_tasks_waiting_on_one_context_all_wake(void)
{
    long n = test_scale(10000, 2000);
    uvgo_ctx_t *c = with_cancel(NULL);
    uvgo_task_t **t = malloc((size_t)n * sizeof *t);
    for (long i = 0; i < n; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], wait_done, c, NULL));
    uvgo_sleep(10 * MS);
    uvgo_ctx_cancel(c);
    for (long i = 0; i < n; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    ASSERT_EQ(atomic_load(&woke), n);
    free(t);
    uvgo_ctx_release(c);
}

static void waits_return_the_context_error_and_change_nothing(void)
{
    uvgo_chan_t *ch;
    uvgo_ctx_t *c;
    int v = 0, ok = 7;
    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 0));
    int64_t t0 = uvgo_now(); /* before the deadline is set: never late */
    ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, 5 * MS));
    ASSERT_ERR(uvgo_chan_recv_ctx(ch, &v, sizeof v, &ok, c), UVGO_ETIMEDOUT);
    ASSERT_GE(uvgo_now() - t0, 5 * MS);
    ASSERT_EQ(ok, 7);
    /* Nothing is left queued on the channel. */
    int one = 1;
    ASSERT_ERR(uvgo_chan_try_send(ch, &one, sizeof one), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_chan_send_ctx(ch, &one, sizeof one, c), UVGO_ETIMEDOUT);
    ASSERT_ERR(uvgo_chan_try_recv(ch, &v, sizeof v, NULL), UVGO_EAGAIN);
    uvgo_select_case_t cs[1] = {UVGO_CASE_RECV(ch, &v)};
    ASSERT_ERR(uvgo_select_ctx(cs, 1, c), UVGO_ETIMEDOUT);
    ASSERT_ERR(uvgo_sleep_ctx(UVGO_HOUR, c), UVGO_ETIMEDOUT);
    uvgo_event_t ev = UVGO_EVENT_INIT;
    ASSERT_ERR(uvgo_event_wait_ctx(&ev, "x", c), UVGO_ETIMEDOUT);
    ASSERT_EQ(ev.state_, 0); /* withdrawn */
    done(c);
    uvgo_chan_release(ch);
    /* A NULL context is the plain wait. */
    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 1));
    ASSERT_OK(uvgo_chan_send_ctx(ch, &one, sizeof one, NULL));
    ASSERT_OK(uvgo_chan_recv_ctx(ch, &v, sizeof v, &ok, NULL));
    ASSERT_OK(uvgo_sleep_ctx(MS, NULL));
    uvgo_chan_release(ch);
}

static atomic_int job_ran;

static void slow_job(void *arg)
{
    usleep(50000);
    atomic_store(&job_ran, (int)(intptr_t)arg);
}

static void offload_ctx_returns_at_deadline_and_the_job_still_finishes(void)
{
    uvgo_ctx_t *c;
    int64_t t0 = uvgo_now();
    ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, 10 * MS));
    ASSERT_ERR(uvgo_offload_ctx(slow_job, (void *)7, c), UVGO_ETIMEDOUT);
    ASSERT_IN_TIME(uvgo_now() - t0, 40 * MS + SLACK);
    ASSERT_ERR(uvgo_offload_ctx(slow_job, (void *)8, c), UVGO_ETIMEDOUT);
    while (atomic_load(&job_ran) != 7)
        uvgo_sleep(MS);
    done(c);
    ASSERT_OK(uvgo_offload_ctx(slow_job, (void *)9, NULL));
    ASSERT_EQ(atomic_load(&job_ran), 9);
    c = with_cancel(NULL);
    ASSERT_OK(uvgo_offload_ctx(slow_job, (void *)10, c));
    ASSERT_EQ(atomic_load(&job_ran), 10);
    ASSERT_ERR(uvgo_offload_ctx(NULL, NULL, c), UVGO_EINVAL);
    done(c);
}

static void *sleep_long(void *arg)
{
    return (void *)(intptr_t)uvgo_sleep_ctx(UVGO_HOUR, arg);
}

static void *wait_event(void *arg)
{
    uvgo_ctx_t *c = arg;
    uvgo_event_t ev = UVGO_EVENT_INIT;
    return (void *)(intptr_t)uvgo_event_wait_ctx(&ev, "never", c);
}

static void *slow_result(void *arg)
{
    uvgo_sleep(30 * MS);
    return arg;
}

static void cancel_from_another_worker_wakes_sleepers_and_joiners(void)
{
    uvgo_ctx_t *c = with_cancel(NULL);
    uvgo_task_opts_t far = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *s, *e, *slow;
    void *r;
    ASSERT_OK(uvgo_task_spawn(&s, sleep_long, c, &far));
    ASSERT_OK(uvgo_task_spawn(&e, wait_event, c, &far));
    ASSERT_OK(uvgo_task_spawn(&slow, slow_result, (void *)5, NULL));
    uvgo_sleep(5 * MS);
    uvgo_ctx_cancel(c);
    ASSERT_OK(uvgo_task_join(s, &r));
    ASSERT_EQ((intptr_t)r, UVGO_ECANCELED);
    ASSERT_OK(uvgo_task_join(e, &r));
    ASSERT_EQ((intptr_t)r, UVGO_ECANCELED);
    /* join_ctx fails with the context's error and keeps the handle. */
    ASSERT_ERR(uvgo_task_join_ctx(slow, &r, c), UVGO_ECANCELED);
    ASSERT_OK(uvgo_task_join(slow, &r));
    ASSERT_EQ((intptr_t)r, 5);
    done(c);
}

static void *select_until_cancelled(void *arg)
{
    uvgo_ctx_t *c = arg;
    uvgo_chan_t *ch;
    int v;
    uvgo_chan_make(&ch, sizeof(int), 0);
    uvgo_select_case_t cs[1] = {UVGO_CASE_RECV(ch, &v)};
    int r = uvgo_select_ctx(cs, 1, c);
    uvgo_chan_release(ch);
    return (void *)(intptr_t)r;
}

/* Trees built and cancelled from several workers at once: TSan checks the
 * races, ASan that nothing leaks or is used after release. */
static void *tree_worker(void *arg)
{
    uvgo_ctx_t *root = arg;
    for (int round = 0; round < (int)test_scale(200, 40); round++) {
        uvgo_ctx_t *a = with_cancel(root), *b, *c;
        ASSERT_OK(uvgo_ctx_with_timeout(&b, a, (round % 3) * MS / 2));
        c = with_cancel(b);
        uvgo_task_t *t;
        ASSERT_OK(uvgo_task_spawn(&t, select_until_cancelled, c, NULL));
        if (round % 2)
            uvgo_ctx_cancel(a);
        else
            uvgo_ctx_cancel(c);
        void *r;
        ASSERT_OK(uvgo_task_join(t, &r));
        ASSERT((intptr_t)r == UVGO_ECANCELED || (intptr_t)r == UVGO_ETIMEDOUT);
        done(c);
        done(b);
        done(a);
    }
    return NULL;
}

static void context_trees_cancelled_concurrently_across_workers(void)
{
    uvgo_ctx_t *root = with_cancel(NULL);
    uvgo_task_t *t[4];
    for (int i = 0; i < 4; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], tree_worker, root, NULL));
    for (int i = 0; i < 4; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    done(root);
}

static void cancelling_a_big_tree_frees_it_all(void)
{
    /* Fan-out 10, depth 3: 1,111 contexts; each leaf's Done made. */
    uvgo_ctx_t *root = with_cancel(NULL);
    uvgo_ctx_t **all = malloc(1111 * sizeof *all);
    int n = 0, level_start = 0, level_end = 0;
    all[n++] = root;
    level_end = n;
    for (int d = 0; d < 3; d++) {
        for (int i = level_start; i < level_end; i++)
            for (int k = 0; k < 10; k++) {
                all[n] = with_cancel(all[i]);
                if (d == 2)
                    uvgo_ctx_done(all[n]);
                n++;
            }
        level_start = level_end;
        level_end = n;
    }
    uvgo_ctx_cancel(root);
    for (int i = 0; i < n; i++) {
        ASSERT_ERR(uvgo_ctx_err(all[i]), UVGO_ECANCELED);
        uvgo_ctx_release(all[i]); /* cancelled: release alone frees it */
    }
    free(all);
}

static const test_case_t cases[] = {
    CASE(background_is_never_done_and_has_nothing),
    CASE(cancel_release_cancels_and_drops_the_reference),
    CASE(cancel_closes_done_once_and_is_idempotent),
    CASE(cancel_propagates_down_never_up),
    CASE(deadline_fires_with_etimedout_and_err_never_changes),
    CASE(child_deadline_is_never_later_than_parents),
    CASE(deadline_already_passed_is_done_at_once),
    CASE_PLAIN(done_never_fails_once_the_context_exists),
    CASE_PLAIN(timeout_without_a_runtime_is_enottask),
    CASE_PLAIN(deadline_pending_when_the_runtime_ends_is_dropped),
    CASE(values_are_looked_up_through_the_parents),
    CASE(cancel_cause_is_recorded_and_the_first_wins),
    CASE(deadline_cause_is_set_only_by_the_deadline),
    CASE(without_cancel_is_not_cancelled_with_its_parent),
    CASE(after_func_runs_once_done_and_stop_reports_prevention),
    CASE(after_func_frees_everything_and_stops_twice),
    CASE(ten_thousand_tasks_waiting_on_one_context_all_wake),
    CASE(waits_return_the_context_error_and_change_nothing),
    CASE(cancel_from_another_worker_wakes_sleepers_and_joiners),
    CASE(offload_ctx_returns_at_deadline_and_the_job_still_finishes),
    CASE_PROCS(context_trees_cancelled_concurrently_across_workers, 4),
    CASE(cancelling_a_big_tree_frees_it_all),
};

TEST_MAIN(cases)
