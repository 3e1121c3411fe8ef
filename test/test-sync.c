/* test-sync.c: Go's sync package for tasks (Mutex, RWMutex, WaitGroup,
 * Once, Cond, Pool), rule by rule, plus stress across workers. */
#include <stdatomic.h>

#include "test.h"

#define MS UVGO_MILLISECOND

/* ---- Mutex --------------------------------------------------------------- */

static void mutex_zero_value_is_unlocked(void)
{
    static uvgo_mutex_t zero;
    uvgo_mutex_t init = UVGO_MUTEX_INIT;
    ASSERT_OK(uvgo_mutex_try_lock(&zero));
    ASSERT_OK(uvgo_mutex_unlock(&zero));
    ASSERT_OK(uvgo_mutex_lock(&init));
    ASSERT_OK(uvgo_mutex_unlock(&init));
}

static void mutex_try_lock_fails_while_held(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    ASSERT_OK(uvgo_mutex_lock(&m));
    ASSERT_ERR(uvgo_mutex_try_lock(&m), UVGO_EAGAIN);
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT_OK(uvgo_mutex_try_lock(&m));
    ASSERT_OK(uvgo_mutex_unlock(&m));
}

static atomic_int flag;

static void *lock_and_flag(void *arg)
{
    uvgo_mutex_t *m = arg;
    ASSERT_OK(uvgo_mutex_lock(m));
    atomic_store(&flag, 1);
    ASSERT_OK(uvgo_mutex_unlock(m));
    return NULL;
}

static void *set_flag_two(void *arg)
{
    (void)arg;
    atomic_store(&flag, 2);
    return NULL;
}

/* One worker: while a task waits for the lock, the worker runs others. */
static void mutex_lock_parks_the_task_not_the_worker(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    ASSERT_OK(uvgo_mutex_lock(&m));
    uvgo_task_t *a = test_spawn(lock_and_flag, &m);
    test_wait_blocked("sync.Mutex.Lock", 1);
    uvgo_task_t *b = test_spawn(set_flag_two, NULL);
    test_join(b);
    ASSERT_EQ(atomic_load(&flag), 2);
    ASSERT_OK(uvgo_mutex_unlock(&m));
    test_join(a);
    ASSERT_EQ(atomic_load(&flag), 1);
}

static void *unlock_it(void *arg)
{
    ASSERT_OK(uvgo_mutex_unlock(arg));
    return NULL;
}

static void mutex_may_be_unlocked_by_another_task(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    ASSERT_OK(uvgo_mutex_lock(&m));
    test_join(test_spawn(unlock_it, &m));
    ASSERT_OK(uvgo_mutex_try_lock(&m));
    ASSERT_OK(uvgo_mutex_unlock(&m));
}

static void mutex_is_not_reentrant(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_ctx_t *c = test_ctx_timeout(10 * MS);
    ASSERT_OK(uvgo_mutex_lock(&m));
    /* A second lock by the holder waits like anyone else's. */
    ASSERT_ERR(uvgo_mutex_lock_ctx(&m, c), UVGO_ETIMEDOUT);
    ASSERT_OK(uvgo_mutex_unlock(&m));
    test_ctx_done(c);
}

/* Go's "all goroutines are asleep": the dump names the wait. */
static void mutex_relocked_by_its_holder_is_reported_as_deadlock(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_mutex_lock(&m);
    uvgo_mutex_lock(&m);
}

static void mutex_unlock_of_unlocked_aborts(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_mutex_unlock(&m);
}

static void mutex_double_unlock_aborts(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_mutex_lock(&m);
    uvgo_mutex_unlock(&m);
    uvgo_mutex_unlock(&m);
}

struct lock_ctx_arg {
    uvgo_mutex_t *m;
    uvgo_ctx_t *ctx;
};

static void *lock_with_ctx(void *arg)
{
    struct lock_ctx_arg *a = arg;
    int err = uvgo_mutex_lock_ctx(a->m, a->ctx);
    if (!err)
        uvgo_mutex_unlock(a->m);
    return (void *)(intptr_t)err;
}

static void mutex_lock_ctx_returns_the_context_error_holding_nothing(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_ctx_t *c = test_ctx_cancel();
    struct lock_ctx_arg a = {&m, c}, b = {&m, NULL};
    ASSERT_OK(uvgo_mutex_lock(&m));
    uvgo_task_t *ta = test_spawn(lock_with_ctx, &a);
    test_wait_blocked("sync.Mutex.Lock", 1);
    uvgo_task_t *tb = test_spawn(lock_with_ctx, &b);
    test_wait_blocked("sync.Mutex.Lock", 2);
    uvgo_ctx_cancel(c);
    ASSERT_EQ((intptr_t)test_join(ta), UVGO_ECANCELED);
    /* The one that gave up is gone from the queue: unlock wakes the
     * other, and the mutex ends free. */
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT_EQ((intptr_t)test_join(tb), 0);
    ASSERT_OK(uvgo_mutex_try_lock(&m));
    ASSERT_OK(uvgo_mutex_unlock(&m));
    test_ctx_done(c);
}

static void mutex_lock_ctx_on_a_done_context_fails_even_if_free(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_ctx_t *c = test_ctx_cancel();
    uvgo_ctx_cancel(c);
    ASSERT_ERR(uvgo_mutex_lock_ctx(&m, c), UVGO_ECANCELED);
    ASSERT_OK(uvgo_mutex_try_lock(&m)); /* still free */
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT_OK(uvgo_mutex_lock_ctx(&m, NULL));
    ASSERT_OK(uvgo_mutex_unlock(&m));
    uvgo_ctx_release(c);
}

static int order[16], norder;

static void *lock_record_unlock(void *arg)
{
    uvgo_mutex_t **m = arg;
    ASSERT_OK(uvgo_mutex_lock(m[0]));
    order[norder++] = (int)(intptr_t)m[1];
    ASSERT_OK(uvgo_mutex_unlock(m[0]));
    return NULL;
}

/* One worker, so the order is deterministic: each unlock wakes the
 * longest-waiting locker. */
static void mutex_parked_lockers_are_woken_in_arrival_order(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    void *args[8][2];
    uvgo_task_t *t[8];
    ASSERT_OK(uvgo_mutex_lock(&m));
    for (int i = 0; i < 8; i++) {
        args[i][0] = &m;
        args[i][1] = (void *)(intptr_t)i;
        t[i] = test_spawn(lock_record_unlock, args[i]);
        test_wait_blocked("sync.Mutex.Lock", i + 1);
    }
    ASSERT_OK(uvgo_mutex_unlock(&m));
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    ASSERT_EQ(norder, 8);
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(order[i], i);
}

static void *lock_once(void *arg)
{
    ASSERT_OK(uvgo_mutex_lock(arg));
    ASSERT_OK(uvgo_mutex_unlock(arg));
    return NULL;
}

/* One worker, step by step.  A woken locker that loses to a barging holder
 * and has waited over 1 ms parks again and turns the mutex to hand-off
 * mode: the next unlock gives it the lock, and the holder can no longer
 * barge back in. */
static void mutex_starving_waiter_is_handed_the_lock(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    ASSERT_OK(uvgo_mutex_lock(&m));
    uvgo_task_t *w = test_spawn(lock_once, &m);
    test_wait_blocked("sync.Mutex.Lock", 1);
    uvgo_sleep(2 * MS);
    /* Normal mode: the unlock wakes the waiter, but we barge first. */
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT_OK(uvgo_mutex_try_lock(&m));
    /* While we sleep holding it, the waiter tries, loses, and parks again
     * starving. */
    uvgo_sleep(2 * MS);
    test_wait_blocked("sync.Mutex.Lock", 1);
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT_ERR(uvgo_mutex_try_lock(&m), UVGO_EAGAIN); /* handed off */
    test_join(w);
    /* The queue drained: back to normal mode. */
    ASSERT_OK(uvgo_mutex_try_lock(&m));
    ASSERT_OK(uvgo_mutex_unlock(&m));
}

static struct {
    uvgo_mutex_t m;
    atomic_int stop;
    atomic_long hog_rounds;
    int64_t waited;
} st;

static void *hog(void *arg)
{
    (void)arg;
    int64_t end = uvgo_now() + 5 * UVGO_SECOND;
    while (!atomic_load(&st.stop) && uvgo_now() < end) {
        uvgo_mutex_lock(&st.m);
        for (volatile int i = 0; i < 50; i++)
            ;
        uvgo_mutex_unlock(&st.m);
        atomic_fetch_add(&st.hog_rounds, 1);
    }
    return NULL;
}

static void *starving_locker(void *arg)
{
    (void)arg;
    while (atomic_load(&st.hog_rounds) < 1000)
        uvgo_task_yield();
    int64_t t0 = uvgo_now();
    uvgo_mutex_lock(&st.m);
    st.waited = uvgo_now() - t0;
    uvgo_mutex_unlock(&st.m);
    atomic_store(&st.stop, 1);
    return NULL;
}

/* A task that locks and unlocks in a tight loop on one worker cannot keep
 * a locker on another worker out for long: at worst, after 1 ms of
 * waiting, the mutex turns to hand-off mode and gives it the lock. */
static void mutex_tight_loop_on_another_worker_cannot_starve_a_locker(void)
{
    uvgo_task_opts_t w1 = {.worker = 1, .flags = UVGO_TASK_PINNED};
    uvgo_task_opts_t w2 = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *h, *s;
    ASSERT_OK(uvgo_task_spawn(&h, hog, NULL, &w1));
    ASSERT_OK(uvgo_task_spawn(&s, starving_locker, NULL, &w2));
    test_join(s);
    test_join(h);
    ASSERT_EQ(atomic_load(&st.stop), 1);
    ASSERT_IN_TIME(st.waited, test_scale(200, 1000) * MS);
}

static struct {
    uvgo_mutex_t m;
    long counter;
    long per;
} cnt;

static void *count_up(void *arg)
{
    (void)arg;
    for (long i = 0; i < cnt.per; i++) {
        uvgo_mutex_lock(&cnt.m);
        cnt.counter++;
        uvgo_mutex_unlock(&cnt.m);
    }
    return NULL;
}

static void mutex_counter_4_tasks_x_1000000_is_exact(void)
{
    uvgo_task_t *t[4];
    cnt.per = test_scale(1000000, 100000);
    for (int i = 0; i < 4; i++)
        t[i] = test_spawn(count_up, NULL);
    for (int i = 0; i < 4; i++)
        test_join(t[i]);
    ASSERT_EQ(cnt.counter, 4 * cnt.per);
}

static struct {
    uvgo_mutex_t m;
    atomic_int inside;
    long counter;
    atomic_long timeouts;
} mc;

static void *lock_ctx_churn(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    for (long i = 0; i < rounds; i++) {
        uvgo_ctx_t *c = NULL;
        if (i % 3 == 0)
            ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, (i % 7) * 20000));
        int err = uvgo_mutex_lock_ctx(&mc.m, c);
        if (err) {
            ASSERT_ERR(err, UVGO_ETIMEDOUT);
            atomic_fetch_add(&mc.timeouts, 1);
        } else {
            ASSERT_EQ(atomic_fetch_add(&mc.inside, 1), 0);
            mc.counter++;
            if (i % 5 == 0)
                uvgo_task_yield(); /* hold it across a switch */
            atomic_fetch_sub(&mc.inside, 1);
            uvgo_mutex_unlock(&mc.m);
        }
        if (c)
            test_ctx_done(c);
    }
    return NULL;
}

/* Lockers that give up (deadlines of 0-120 us) race with unlocks that hand
 * the mutex on: exclusion holds, nothing is lost, nobody hangs. */
static void mutex_lock_ctx_races_with_unlock_across_workers(void)
{
    long rounds = test_scale(20000, 2000);
    uvgo_task_t *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = test_spawn(lock_ctx_churn, (void *)(intptr_t)rounds);
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    ASSERT_EQ(mc.counter + atomic_load(&mc.timeouts), 8 * rounds);
    ASSERT_OK(uvgo_mutex_try_lock(&mc.m));
    ASSERT_OK(uvgo_mutex_unlock(&mc.m));
}

/* ---- RWMutex ------------------------------------------------------------- */

static void rwmutex_zero_value_is_unlocked(void)
{
    static uvgo_rwmutex_t zero;
    uvgo_rwmutex_t init = UVGO_RWMUTEX_INIT;
    ASSERT_OK(uvgo_rwmutex_try_lock(&zero));
    ASSERT_OK(uvgo_rwmutex_unlock(&zero));
    ASSERT_OK(uvgo_rwmutex_rlock(&init));
    ASSERT_OK(uvgo_rwmutex_runlock(&init));
}

static void rwmutex_readers_share_and_exclude_writers(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    for (int i = 0; i < 5; i++)
        ASSERT_OK(uvgo_rwmutex_try_rlock(&rw));
    ASSERT_OK(uvgo_rwmutex_rlock(&rw));
    ASSERT_ERR(uvgo_rwmutex_try_lock(&rw), UVGO_EAGAIN);
    for (int i = 0; i < 6; i++)
        ASSERT_OK(uvgo_rwmutex_runlock(&rw));
    ASSERT_OK(uvgo_rwmutex_lock(&rw));
    ASSERT_ERR(uvgo_rwmutex_try_rlock(&rw), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_rwmutex_try_lock(&rw), UVGO_EAGAIN);
    ASSERT_OK(uvgo_rwmutex_unlock(&rw));
    ASSERT_OK(uvgo_rwmutex_try_lock(&rw));
    ASSERT_OK(uvgo_rwmutex_unlock(&rw));
}

static atomic_int stage;

static void *rw_writer(void *arg)
{
    uvgo_rwmutex_t *rw = arg;
    ASSERT_OK(uvgo_rwmutex_lock(rw));
    atomic_store(&stage, 1);
    ASSERT_OK(uvgo_rwmutex_unlock(rw));
    return NULL;
}

static void *rw_reader(void *arg)
{
    uvgo_rwmutex_t *rw = arg;
    ASSERT_OK(uvgo_rwmutex_rlock(rw));
    int s = atomic_load(&stage);
    ASSERT_OK(uvgo_rwmutex_runlock(rw));
    return (void *)(intptr_t)s;
}

/* Writer preference: once a writer waits, a new reader waits behind it
 * (and sees the writer's work), though a reader still holds the lock. */
static void rwmutex_waiting_writer_blocks_new_readers(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    ASSERT_OK(uvgo_rwmutex_rlock(&rw));
    uvgo_task_t *w = test_spawn(rw_writer, &rw);
    test_wait_blocked("sync.RWMutex.Lock", 1);
    ASSERT_ERR(uvgo_rwmutex_try_rlock(&rw), UVGO_EAGAIN);
    uvgo_task_t *r = test_spawn(rw_reader, &rw);
    test_wait_blocked("sync.RWMutex.RLock", 1);
    ASSERT_EQ(atomic_load(&stage), 0);
    ASSERT_OK(uvgo_rwmutex_runlock(&rw));
    test_join(w);
    ASSERT_EQ((intptr_t)test_join(r), 1);
}

static void *rw_reader_holds(void *arg)
{
    uvgo_rwmutex_t *rw = arg;
    ASSERT_OK(uvgo_rwmutex_rlock(rw));
    atomic_fetch_add(&stage, 1);
    while (atomic_load(&stage) < 100)
        uvgo_task_yield();
    ASSERT_OK(uvgo_rwmutex_runlock(rw));
    return NULL;
}

/* A writer's unlock admits every reader that waited, at once, even with
 * another writer queued. */
static void rwmutex_writer_unlock_admits_all_waiting_readers(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    uvgo_task_t *r[5], *w;
    ASSERT_OK(uvgo_rwmutex_lock(&rw));
    for (int i = 0; i < 5; i++)
        r[i] = test_spawn(rw_reader_holds, &rw);
    test_wait_blocked("sync.RWMutex.RLock", 5);
    w = test_spawn(rw_writer, &rw);
    test_wait_blocked("sync.RWMutex.Lock", 1);
    ASSERT_OK(uvgo_rwmutex_unlock(&rw));
    /* All five get in together (each waits for the others in there). */
    while (atomic_load(&stage) < 5)
        uvgo_task_yield();
    ASSERT_ERR(uvgo_rwmutex_try_lock(&rw), UVGO_EAGAIN);
    atomic_store(&stage, 100);
    for (int i = 0; i < 5; i++)
        test_join(r[i]);
    test_join(w);
    ASSERT_EQ(atomic_load(&stage), 1);
}

static void rwmutex_runlock_of_unlocked_aborts(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    uvgo_rwmutex_runlock(&rw);
}

static void rwmutex_runlock_of_write_locked_aborts(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    uvgo_rwmutex_lock(&rw);
    uvgo_rwmutex_runlock(&rw);
}

static void rwmutex_unlock_of_unlocked_aborts(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    uvgo_rwmutex_rlock(&rw);
    uvgo_rwmutex_unlock(&rw);
}

struct rw_ctx_arg {
    uvgo_rwmutex_t *rw;
    uvgo_ctx_t *ctx;
};

static void *rw_lock_ctx(void *arg)
{
    struct rw_ctx_arg *a = arg;
    int err = uvgo_rwmutex_lock_ctx(a->rw, a->ctx);
    if (!err)
        uvgo_rwmutex_unlock(a->rw);
    return (void *)(intptr_t)err;
}

/* A queued writer that gives up lets the readers queued behind it in. */
static void rwmutex_writer_giving_up_admits_readers_queued_behind_it(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    uvgo_ctx_t *c = test_ctx_cancel();
    struct rw_ctx_arg a = {&rw, c};
    ASSERT_OK(uvgo_rwmutex_rlock(&rw));
    uvgo_task_t *w = test_spawn(rw_lock_ctx, &a);
    test_wait_blocked("sync.RWMutex.Lock", 1);
    uvgo_task_t *r = test_spawn(rw_reader, &rw);
    test_wait_blocked("sync.RWMutex.RLock", 1);
    uvgo_ctx_cancel(c);
    ASSERT_EQ((intptr_t)test_join(w), UVGO_ECANCELED);
    ASSERT_EQ((intptr_t)test_join(r), 0); /* got in beside our read lock */
    ASSERT_OK(uvgo_rwmutex_runlock(&rw));
    ASSERT_OK(uvgo_rwmutex_try_lock(&rw));
    ASSERT_OK(uvgo_rwmutex_unlock(&rw));
    test_ctx_done(c);
}

static void rwmutex_rlock_ctx_times_out_behind_a_writer(void)
{
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    int64_t t0 = uvgo_now();
    uvgo_ctx_t *c = test_ctx_timeout(5 * MS);
    ASSERT_OK(uvgo_rwmutex_lock(&rw));
    ASSERT_ERR(uvgo_rwmutex_rlock_ctx(&rw, c), UVGO_ETIMEDOUT);
    ASSERT_GE(uvgo_now() - t0, 5 * MS);
    ASSERT_ERR(uvgo_rwmutex_lock_ctx(&rw, c), UVGO_ETIMEDOUT);
    ASSERT_OK(uvgo_rwmutex_unlock(&rw));
    ASSERT_OK(uvgo_rwmutex_try_lock(&rw)); /* nothing left queued */
    ASSERT_OK(uvgo_rwmutex_unlock(&rw));
    test_ctx_done(c);
}

#define RW_CELLS 8

static struct {
    uvgo_rwmutex_t rw;
    long cells[RW_CELLS];
    atomic_int readers, writers;
    atomic_long reads, writes;
    long rounds;
} rws;

static void *rw_stress(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (long i = 0; i < rws.rounds; i++) {
        int write = (i + id) % 8 == 0;
        uvgo_ctx_t *c = NULL;
        if (i % 11 == 0)
            ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, 30000));
        if (write) {
            if (uvgo_rwmutex_lock_ctx(&rws.rw, c) == 0) {
                ASSERT_EQ(atomic_fetch_add(&rws.writers, 1), 0);
                ASSERT_EQ(atomic_load(&rws.readers), 0);
                for (int k = 0; k < RW_CELLS; k++)
                    rws.cells[k]++;
                if (i % 3 == 0)
                    uvgo_task_yield();
                atomic_fetch_sub(&rws.writers, 1);
                atomic_fetch_add(&rws.writes, 1);
                uvgo_rwmutex_unlock(&rws.rw);
            }
        } else if (uvgo_rwmutex_rlock_ctx(&rws.rw, c) == 0) {
            atomic_fetch_add(&rws.readers, 1);
            ASSERT_EQ(atomic_load(&rws.writers), 0);
            long v = rws.cells[0];
            if (i % 4 == 0)
                uvgo_task_yield();
            for (int k = 1; k < RW_CELLS; k++)
                ASSERT_EQ(rws.cells[k], v); /* never a half-done write */
            atomic_fetch_sub(&rws.readers, 1);
            atomic_fetch_add(&rws.reads, 1);
            uvgo_rwmutex_runlock(&rws.rw);
        }
        if (c)
            test_ctx_done(c);
    }
    return NULL;
}

static void rwmutex_readers_and_writers_keep_the_invariant(void)
{
    uvgo_task_t *t[12];
    rws.rounds = test_scale(40000, 4000);
    for (int i = 0; i < 12; i++)
        t[i] = test_spawn(rw_stress, (void *)(intptr_t)i);
    for (int i = 0; i < 12; i++)
        test_join(t[i]);
    ASSERT_EQ(rws.cells[0], atomic_load(&rws.writes));
    ASSERT_GT(atomic_load(&rws.reads), 0);
    ASSERT_OK(uvgo_rwmutex_try_lock(&rws.rw));
    ASSERT_OK(uvgo_rwmutex_unlock(&rws.rw));
}

/* ---- WaitGroup ----------------------------------------------------------- */

static void wg_wait_with_zero_counter_returns_at_once(void)
{
    static uvgo_wg_t zero;
    uvgo_wg_t wg = UVGO_WG_INIT;
    ASSERT_OK(uvgo_wg_wait(&zero));
    ASSERT_OK(uvgo_wg_add(&wg, 2));
    ASSERT_OK(uvgo_wg_add(&wg, -2));
    ASSERT_OK(uvgo_wg_wait(&wg));
}

static atomic_int finished;

static void *finish_later(void *arg)
{
    uvgo_sleep(2 * MS);
    atomic_fetch_add(&finished, 1);
    uvgo_wg_done(arg);
    return NULL;
}

static void *wait_wg(void *arg)
{
    ASSERT_OK(uvgo_wg_wait(arg));
    return (void *)(intptr_t)atomic_load(&finished);
}

static void wg_wait_returns_once_every_task_is_done(void)
{
    uvgo_wg_t wg = UVGO_WG_INIT;
    uvgo_task_t *w[3];
    ASSERT_OK(uvgo_wg_add(&wg, 10));
    for (int i = 0; i < 3; i++)
        w[i] = test_spawn(wait_wg, &wg);
    for (int i = 0; i < 10; i++)
        ASSERT_OK(uvgo_go(finish_later, &wg));
    ASSERT_OK(uvgo_wg_wait(&wg));
    ASSERT_EQ(atomic_load(&finished), 10);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ((intptr_t)test_join(w[i]), 10);
}

static void *bump(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return NULL;
}

static void wg_go_adds_spawns_and_calls_done(void)
{
    uvgo_wg_t wg = UVGO_WG_INIT;
    atomic_int n = 0;
    for (int i = 0; i < 100; i++)
        ASSERT_OK(uvgo_wg_go(&wg, bump, &n));
    ASSERT_OK(uvgo_wg_wait(&wg));
    ASSERT_EQ(atomic_load(&n), 100);
    ASSERT_ERR(uvgo_wg_go(&wg, NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_wg_go(NULL, bump, &n), UVGO_EINVAL);
}

static void wg_negative_counter_aborts(void)
{
    uvgo_wg_t wg = UVGO_WG_INIT;
    uvgo_wg_add(&wg, 1);
    uvgo_wg_done(&wg);
    uvgo_wg_done(&wg);
}

struct wg_ctx_arg {
    uvgo_wg_t *wg;
    uvgo_ctx_t *ctx;
};

static void *wait_wg_ctx(void *arg)
{
    struct wg_ctx_arg *a = arg;
    return (void *)(intptr_t)uvgo_wg_wait_ctx(a->wg, a->ctx);
}

static void wg_wait_ctx_gives_up_and_the_group_still_works(void)
{
    uvgo_wg_t wg = UVGO_WG_INIT;
    uvgo_ctx_t *c = test_ctx_cancel();
    struct wg_ctx_arg a = {&wg, c};
    ASSERT_OK(uvgo_wg_add(&wg, 1));
    uvgo_task_t *quitter = test_spawn(wait_wg_ctx, &a);
    uvgo_task_t *stayer = test_spawn(wait_wg, &wg);
    test_wait_blocked("sync.WaitGroup.Wait", 2);
    uvgo_ctx_cancel(c);
    ASSERT_EQ((intptr_t)test_join(quitter), UVGO_ECANCELED);
    ASSERT_ERR(uvgo_wg_wait_ctx(&wg, c), UVGO_ECANCELED); /* done on entry */
    ASSERT_OK(uvgo_wg_done(&wg));
    test_join(stayer);
    /* Its waiter count went back to zero: reuse is fine. */
    ASSERT_OK(uvgo_wg_add(&wg, 1));
    ASSERT_OK(uvgo_wg_done(&wg));
    ASSERT_OK(uvgo_wg_wait(&wg));
    test_ctx_done(c);
}

/* One worker: the woken waiter runs only after main has re-added. */
static void wg_reuse_before_wait_returned_aborts(void)
{
    uvgo_wg_t *wg = calloc(1, sizeof *wg);
    uvgo_wg_add(wg, 1);
    test_spawn(wait_wg, wg);
    test_wait_blocked("sync.WaitGroup.Wait", 1);
    uvgo_wg_done(wg);
    uvgo_wg_add(wg, 1);
    uvgo_sleep(UVGO_SECOND);
}

/* A wait_ctx that gives up just as the counter reaches zero: the Done
 * that brought it there saw a waiter and goes on to wake it, while the
 * waiter takes itself off, returns and its task Adds again.  That Done
 * must neither abort ("Add called concurrently with Wait": the Wait has
 * returned, so Go allows the Add) nor erase the new Add.  One waiter and
 * one doner, pinned to two workers; the doner cancels the waiter's context
 * and calls Done after a varying delay, so that both orders and every
 * interleaving in between come up. */
#define WG_RACE_MAX 30000
static struct {
    uvgo_wg_t wg;
    long n;
    uvgo_ctx_t *ctx[WG_RACE_MAX];
    uvgo_chan_t *go; /* the waiter to the doner: ctx[i] is set */
    atomic_long gave_up, waited;
} wr;

static void spin_for(uint64_t *seed, unsigned max)
{
    unsigned k = (unsigned)((*seed = *seed * 6364136223846793005ull +
                                     1442695040888963407ull) >>
                            33) %
                 max;
    for (volatile unsigned i = 0; i < k; i++)
        ;
}

static void *wg_race_waiter(void *arg)
{
    (void)arg;
    for (long i = 0; i < wr.n; i++) {
        uvgo_ctx_t *c;
        ASSERT_OK(uvgo_ctx_with_cancel(&c, NULL));
        wr.ctx[i] = uvgo_ctx_retain(c); /* the doner's reference */
        ASSERT_OK(uvgo_wg_add(&wr.wg, 1));
        ASSERT_OK(uvgo_chan_send(wr.go, &i, sizeof i));
        int r = uvgo_wg_wait_ctx(&wr.wg, c);
        if (r == UVGO_ECANCELED)
            atomic_fetch_add(&wr.gave_up, 1);
        else if (r == 0)
            atomic_fetch_add(&wr.waited, 1);
        else
            TEST_FAIL_("wait_ctx: %s", uvgo_err_name(r));
        uvgo_ctx_release(c);
    }
    /* Every Done matched its Add: this returns once the last has run. */
    ASSERT_OK(uvgo_wg_wait(&wr.wg));
    return NULL;
}

static void *wg_race_doner(void *arg)
{
    uint64_t seed = (uint64_t)uvgo_now();
    (void)arg;
    for (long i = 0, j; i < wr.n; i++) {
        ASSERT_OK(uvgo_chan_recv(wr.go, &j, sizeof j, NULL));
        ASSERT_EQ(j, i);
        spin_for(&seed, 2000);
        uvgo_ctx_cancel(wr.ctx[i]);
        spin_for(&seed, 2000);
        ASSERT_OK(uvgo_wg_done(&wr.wg));
        uvgo_ctx_release(wr.ctx[i]);
    }
    return NULL;
}

static void wg_wait_ctx_giving_up_races_done_without_false_misuse(void)
{
    uvgo_task_opts_t on0 = {.worker = 1, .flags = UVGO_TASK_PINNED};
    uvgo_task_opts_t on1 = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *w, *d;
    wr.n = test_scale(WG_RACE_MAX, 10000);
    ASSERT_OK(uvgo_chan_make(&wr.go, sizeof(long), 1));
    ASSERT_OK(uvgo_task_spawn(&w, wg_race_waiter, NULL, &on0));
    ASSERT_OK(uvgo_task_spawn(&d, wg_race_doner, NULL, &on1));
    test_join(w);
    test_join(d);
    ASSERT_EQ(atomic_load(&wr.gave_up) + atomic_load(&wr.waited), wr.n);
    printf("# %ld waits gave up, %ld returned 0\n", atomic_load(&wr.gave_up),
           atomic_load(&wr.waited));
    uvgo_chan_release(wr.go);
}

/* ---- Once ---------------------------------------------------------------- */

static atomic_int once_runs;

static void *once_fn(void *arg)
{
    atomic_fetch_add(&once_runs, 1);
    uvgo_sleep(5 * MS); /* callers arriving meanwhile must wait */
    return arg;
}

static uvgo_once_t once = UVGO_ONCE_INIT;

static void *call_once(void *arg)
{
    void *r = NULL;
    ASSERT_OK(uvgo_once_do(&once, once_fn, arg, &r));
    return r;
}

static void once_runs_fn_once_and_every_caller_gets_its_result(void)
{
    int n = (int)test_scale(1000, 200);
    uvgo_task_t **t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++)
        t[i] = test_spawn(call_once, (void *)(intptr_t)(i + 1));
    int64_t first = 0;
    for (int i = 0; i < n; i++) {
        intptr_t r = (intptr_t)test_join(t[i]);
        if (!first)
            first = r;
        ASSERT_EQ(r, first); /* all got the one run's result */
    }
    ASSERT_EQ(atomic_load(&once_runs), 1);
    /* Later calls neither run fn nor wait. */
    void *r;
    ASSERT_OK(uvgo_once_do(&once, once_fn, (void *)7, &r));
    ASSERT_EQ((intptr_t)r, first);
    ASSERT_EQ(atomic_load(&once_runs), 1);
    free(t);
}

static uvgo_once_t inner_once;

static void *calls_itself(void *arg)
{
    /* Go: calling Do from inside f deadlocks.  Here it waits, for its own
     * run, until the context gives up. */
    return (void *)(intptr_t)uvgo_once_do_ctx(&inner_once, calls_itself, NULL,
                                              NULL, arg);
}

static void once_do_from_inside_fn_waits_for_itself(void)
{
    uvgo_ctx_t *c = test_ctx_timeout(5 * MS);
    void *r;
    ASSERT_OK(uvgo_once_do(&inner_once, calls_itself, c, &r));
    ASSERT_EQ((intptr_t)r, UVGO_ETIMEDOUT);
    test_ctx_done(c);
}

static uvgo_once_t slow_once;

static void *slow_once_fn(void *arg)
{
    uvgo_sleep(30 * MS);
    return arg;
}

static void *do_slow_once(void *arg)
{
    void *r;
    ASSERT_OK(uvgo_once_do(&slow_once, slow_once_fn, arg, &r));
    return r;
}

static void once_do_ctx_gives_up_while_fn_runs(void)
{
    uvgo_ctx_t *c = test_ctx_timeout(5 * MS);
    uvgo_task_t *runner = test_spawn(do_slow_once, (void *)42);
    test_wait_blocked("sleep", 1);
    void *r = (void *)1;
    ASSERT_ERR(uvgo_once_do_ctx(&slow_once, slow_once_fn, NULL, &r, c),
               UVGO_ETIMEDOUT);
    ASSERT_EQ((intptr_t)r, 1);
    ASSERT_EQ((intptr_t)test_join(runner), 42);
    ASSERT_OK(uvgo_once_do_ctx(&slow_once, slow_once_fn, NULL, &r, NULL));
    ASSERT_EQ((intptr_t)r, 42);
    test_ctx_done(c);
}

/* ---- Cond ---------------------------------------------------------------- */

static struct {
    uvgo_mutex_t m;
    uvgo_cond_t c;
    int ready;
    int woke[8], nwoke;
} cv;

static void *cond_waiter(void *arg)
{
    uvgo_mutex_lock(&cv.m);
    while (!cv.ready)
        ASSERT_OK(uvgo_cond_wait(&cv.c, &cv.m));
    /* Wait returned with the mutex held. */
    ASSERT_ERR(uvgo_mutex_try_lock(&cv.m), UVGO_EAGAIN);
    cv.woke[cv.nwoke++] = (int)(intptr_t)arg;
    cv.ready--;
    uvgo_mutex_unlock(&cv.m);
    return NULL;
}

static void cond_signal_wakes_one_waiter_in_fifo_order(void)
{
    uvgo_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = test_spawn(cond_waiter, (void *)(intptr_t)i);
        test_wait_blocked("sync.Cond.Wait", i + 1);
    }
    for (int i = 0; i < 4; i++) {
        uvgo_mutex_lock(&cv.m);
        cv.ready++;
        uvgo_cond_signal(&cv.c);
        uvgo_mutex_unlock(&cv.m);
        test_join(t[i]); /* exactly the oldest woke */
        ASSERT_EQ(cv.nwoke, i + 1);
        ASSERT_EQ(cv.woke[i], i);
    }
}

static void cond_broadcast_wakes_every_waiter(void)
{
    uvgo_task_t *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = test_spawn(cond_waiter, (void *)(intptr_t)i);
    test_wait_blocked("sync.Cond.Wait", 6);
    uvgo_mutex_lock(&cv.m);
    cv.ready = 6;
    uvgo_mutex_unlock(&cv.m); /* signalling without the lock is fine */
    ASSERT_OK(uvgo_cond_broadcast(&cv.c));
    for (int i = 0; i < 6; i++)
        test_join(t[i]);
    ASSERT_EQ(cv.nwoke, 6);
}

static void cond_signal_with_no_waiter_is_not_remembered(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_cond_t c = UVGO_COND_INIT;
    uvgo_ctx_t *ctx = test_ctx_timeout(5 * MS);
    ASSERT_OK(uvgo_cond_signal(&c));
    ASSERT_OK(uvgo_cond_broadcast(&c));
    ASSERT_OK(uvgo_mutex_lock(&m));
    ASSERT_ERR(uvgo_cond_wait_ctx(&c, &m, ctx), UVGO_ETIMEDOUT);
    /* Back with the mutex held, and gone from the queue. */
    ASSERT_ERR(uvgo_mutex_try_lock(&m), UVGO_EAGAIN);
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT(c.q_.list_.first_ == NULL);
    test_ctx_done(ctx);
}

#define QCAP 4

static struct {
    uvgo_mutex_t m;
    uvgo_cond_t not_full, not_empty;
    long buf[QCAP];
    int n, head;
    long sum;
} bq;

static void *bq_producer(void *arg)
{
    long per = (long)(intptr_t)arg;
    for (long i = 1; i <= per; i++) {
        uvgo_mutex_lock(&bq.m);
        while (bq.n == QCAP)
            uvgo_cond_wait(&bq.not_full, &bq.m);
        bq.buf[(bq.head + bq.n++) % QCAP] = i;
        uvgo_cond_signal(&bq.not_empty);
        uvgo_mutex_unlock(&bq.m);
    }
    return NULL;
}

static void *bq_consumer(void *arg)
{
    long want = (long)(intptr_t)arg, s = 0;
    for (long i = 0; i < want; i++) {
        uvgo_mutex_lock(&bq.m);
        while (bq.n == 0)
            uvgo_cond_wait(&bq.not_empty, &bq.m);
        s += bq.buf[bq.head];
        bq.head = (bq.head + 1) % QCAP;
        bq.n--;
        uvgo_cond_signal(&bq.not_full);
        uvgo_mutex_unlock(&bq.m);
    }
    uvgo_mutex_lock(&bq.m);
    bq.sum += s;
    uvgo_mutex_unlock(&bq.m);
    return NULL;
}

/* A bounded queue built from a mutex and two conds, across workers. */
static void cond_bounded_queue_loses_and_duplicates_nothing(void)
{
    long per = test_scale(20000, 2000);
    uvgo_task_t *t[8];
    for (int i = 0; i < 4; i++)
        t[i] = test_spawn(bq_producer, (void *)(intptr_t)per);
    for (int i = 0; i < 4; i++)
        t[4 + i] = test_spawn(bq_consumer, (void *)(intptr_t)per);
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    ASSERT_EQ(bq.sum, 4 * per * (per + 1) / 2);
}

/* ---- Pool ---------------------------------------------------------------- */

static atomic_int pool_news, pool_frees;

static void *pool_new(void *arg)
{
    ASSERT_EQ((intptr_t)arg, 99);
    atomic_fetch_add(&pool_news, 1);
    return calloc(1, 64);
}

static void pool_free(void *obj, void *arg)
{
    ASSERT_EQ((intptr_t)arg, 99);
    atomic_fetch_add(&pool_frees, 1);
    free(obj);
}

static void pool_get_makes_new_objects_and_reuses_put_ones(void)
{
    uvgo_pool_t p = UVGO_POOL_INIT(pool_new, pool_free, (void *)99);
    void *a = uvgo_pool_get(&p), *b = uvgo_pool_get(&p);
    ASSERT(a && b && a != b);
    ASSERT_EQ(atomic_load(&pool_news), 2);
    uvgo_pool_put(&p, a);
    ASSERT_PTR_EQ(uvgo_pool_get(&p), a); /* same worker, no switch */
    ASSERT_EQ(atomic_load(&pool_news), 2);
    uvgo_pool_put(&p, a);
    uvgo_pool_put(&p, b);
    uvgo_pool_put(&p, NULL); /* ignored */
    uvgo_pool_drain(&p);
    ASSERT_EQ(atomic_load(&pool_frees), 2);
    void *c = uvgo_pool_get(&p); /* usable after a drain */
    ASSERT(c != NULL);
    uvgo_pool_put(&p, c);
    uvgo_pool_drain(&p);
    ASSERT_EQ(atomic_load(&pool_news), atomic_load(&pool_frees));
}

static void pool_without_new_returns_null_when_empty(void)
{
    static uvgo_pool_t zero;
    ASSERT(uvgo_pool_get(&zero) == NULL);
    ASSERT(uvgo_pool_get(NULL) == NULL);
    void *obj = malloc(16);
    uvgo_pool_put(&zero, obj); /* no free_fn: dropped with free() */
    ASSERT_PTR_EQ(uvgo_pool_get(&zero), obj);
    ASSERT(uvgo_pool_get(&zero) == NULL);
    free(obj);
    uvgo_pool_drain(&zero);
}

static void pool_drops_objects_beyond_its_capacity(void)
{
    uvgo_pool_t p = UVGO_POOL_INIT(pool_new, pool_free, (void *)99);
    void *objs[2000];
    for (int i = 0; i < 2000; i++)
        objs[i] = uvgo_pool_get(&p);
    for (int i = 0; i < 2000; i++)
        uvgo_pool_put(&p, objs[i]);
    ASSERT_GT(atomic_load(&pool_frees), 0); /* it did not keep them all */
    ASSERT_LT(atomic_load(&pool_frees), 2000);
    uvgo_pool_drain(&p);
    ASSERT_EQ(atomic_load(&pool_frees), 2000);
}

static uvgo_pool_t spool = UVGO_POOL_INIT(pool_new, pool_free, (void *)99);

static void *pool_churn(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    void *held[8];
    for (long i = 0; i < rounds; i++) {
        int k = (int)(i % 8) + 1;
        for (int j = 0; j < k; j++) {
            held[j] = uvgo_pool_get(&spool);
            /* Nobody else holds it. */
            ASSERT_EQ(atomic_exchange((atomic_int *)held[j], 1), 0);
        }
        if (i % 16 == 0)
            uvgo_task_yield(); /* maybe move to another worker */
        for (int j = 0; j < k; j++) {
            atomic_store((atomic_int *)held[j], 0);
            uvgo_pool_put(&spool, held[j]);
        }
    }
    return NULL;
}

static void pool_objects_are_never_shared_across_workers(void)
{
    long rounds = test_scale(20000, 2000);
    uvgo_task_t *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = test_spawn(pool_churn, (void *)(intptr_t)rounds);
    for (int i = 0; i < 8; i++)
        test_join(t[i]);
    uvgo_pool_drain(&spool);
    ASSERT_EQ(atomic_load(&pool_news), atomic_load(&pool_frees));
    /* The cache spared the allocator nearly every time. */
    ASSERT_LT(atomic_load(&pool_news), 8 * rounds / 10);
}

static void pool_works_outside_a_task(void)
{
    uvgo_pool_t p = UVGO_POOL_INIT(pool_new, pool_free, (void *)99);
    void *a = uvgo_pool_get(&p);
    ASSERT(a != NULL);
    uvgo_pool_put(&p, a);
    ASSERT_PTR_EQ(uvgo_pool_get(&p), a);
    uvgo_pool_put(&p, a);
    uvgo_pool_drain(&p);
    ASSERT_EQ(atomic_load(&pool_frees), 1);
}

/* ---- calls outside a task, bad arguments --------------------------------- */

static void *unused_fn(void *arg)
{
    return arg;
}

static void blocking_calls_outside_a_task_return_enottask(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_rwmutex_t rw = UVGO_RWMUTEX_INIT;
    uvgo_wg_t wg = UVGO_WG_INIT;
    uvgo_once_t o = UVGO_ONCE_INIT;
    uvgo_cond_t c = UVGO_COND_INIT;
    ASSERT_ERR(uvgo_mutex_lock(&m), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_mutex_lock_ctx(&m, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_rwmutex_lock(&rw), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_rwmutex_rlock(&rw), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_wg_wait(&wg), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_once_do(&o, unused_fn, NULL, NULL), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_cond_wait(&c, &m), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_wg_go(&wg, unused_fn, NULL), UVGO_ENOTTASK);
    /* Try forms and releases work anywhere. */
    ASSERT_OK(uvgo_mutex_try_lock(&m));
    ASSERT_OK(uvgo_mutex_unlock(&m));
    ASSERT_OK(uvgo_rwmutex_try_rlock(&rw));
    ASSERT_OK(uvgo_rwmutex_runlock(&rw));
    ASSERT_OK(uvgo_rwmutex_try_lock(&rw));
    ASSERT_OK(uvgo_rwmutex_unlock(&rw));
    ASSERT_OK(uvgo_wg_add(&wg, 1));
    ASSERT_OK(uvgo_wg_done(&wg));
    ASSERT_OK(uvgo_cond_signal(&c));
}

static void null_arguments_return_einval(void)
{
    uvgo_mutex_t m = UVGO_MUTEX_INIT;
    uvgo_once_t o = UVGO_ONCE_INIT;
    ASSERT_ERR(uvgo_mutex_lock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_mutex_lock_ctx(NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_mutex_try_lock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_mutex_unlock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rwmutex_lock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rwmutex_rlock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rwmutex_try_lock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rwmutex_try_rlock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rwmutex_unlock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_rwmutex_runlock(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_wg_add(NULL, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_wg_wait(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_once_do(NULL, unused_fn, NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_once_do(&o, NULL, NULL, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_cond_wait(NULL, &m), UVGO_EINVAL);
    ASSERT_ERR(uvgo_cond_signal(NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_cond_broadcast(NULL), UVGO_EINVAL);
}

static const test_case_t cases[] = {
    CASE(mutex_zero_value_is_unlocked),
    CASE(mutex_try_lock_fails_while_held),
    CASE_PROCS(mutex_lock_parks_the_task_not_the_worker, 1),
    CASE(mutex_may_be_unlocked_by_another_task),
    CASE(mutex_is_not_reentrant),
    CASE_ABORTS(mutex_relocked_by_its_holder_is_reported_as_deadlock,
                "all tasks are asleep - deadlock!|sync.Mutex.Lock"),
    CASE_ABORTS(mutex_unlock_of_unlocked_aborts,
                "sync: unlock of unlocked mutex|in task"),
    CASE_ABORTS(mutex_double_unlock_aborts,
                "sync: unlock of unlocked mutex|\"main\""),
    CASE(mutex_lock_ctx_returns_the_context_error_holding_nothing),
    CASE(mutex_lock_ctx_on_a_done_context_fails_even_if_free),
    CASE_PROCS(mutex_parked_lockers_are_woken_in_arrival_order, 1),
    CASE_PROCS(mutex_starving_waiter_is_handed_the_lock, 1),
    CASE(mutex_tight_loop_on_another_worker_cannot_starve_a_locker),
    CASE_PROCS(mutex_counter_4_tasks_x_1000000_is_exact, 4),
    CASE_PROCS(mutex_lock_ctx_races_with_unlock_across_workers, 4),
    CASE(rwmutex_zero_value_is_unlocked),
    CASE(rwmutex_readers_share_and_exclude_writers),
    CASE(rwmutex_waiting_writer_blocks_new_readers),
    CASE(rwmutex_writer_unlock_admits_all_waiting_readers),
    CASE_ABORTS(rwmutex_runlock_of_unlocked_aborts,
                "sync: RUnlock of unlocked RWMutex|in task"),
    CASE_ABORTS(rwmutex_runlock_of_write_locked_aborts,
                "sync: RUnlock of unlocked RWMutex"),
    CASE_ABORTS(rwmutex_unlock_of_unlocked_aborts,
                "sync: Unlock of unlocked RWMutex|in task"),
    CASE(rwmutex_writer_giving_up_admits_readers_queued_behind_it),
    CASE(rwmutex_rlock_ctx_times_out_behind_a_writer),
    CASE_PROCS(rwmutex_readers_and_writers_keep_the_invariant, 4),
    CASE(wg_wait_with_zero_counter_returns_at_once),
    CASE(wg_wait_returns_once_every_task_is_done),
    CASE(wg_go_adds_spawns_and_calls_done),
    CASE_ABORTS(wg_negative_counter_aborts,
                "sync: negative WaitGroup counter|in task"),
    CASE(wg_wait_ctx_gives_up_and_the_group_still_works),
    CASE(wg_wait_ctx_giving_up_races_done_without_false_misuse),
    CASE_ABORTS(wg_reuse_before_wait_returned_aborts,
                "sync: WaitGroup is reused before previous Wait has "
                "returned"),
    CASE(once_runs_fn_once_and_every_caller_gets_its_result),
    CASE(once_do_ctx_gives_up_while_fn_runs),
    CASE(once_do_from_inside_fn_waits_for_itself),
    CASE(cond_signal_wakes_one_waiter_in_fifo_order),
    CASE(cond_broadcast_wakes_every_waiter),
    CASE(cond_signal_with_no_waiter_is_not_remembered),
    CASE_PROCS(cond_bounded_queue_loses_and_duplicates_nothing, 4),
    CASE(pool_get_makes_new_objects_and_reuses_put_ones),
    CASE(pool_without_new_returns_null_when_empty),
    CASE(pool_drops_objects_beyond_its_capacity),
    CASE_PROCS(pool_objects_are_never_shared_across_workers, 4),
    CASE_PLAIN(pool_works_outside_a_task),
    CASE_PLAIN(blocking_calls_outside_a_task_return_enottask),
    CASE(null_arguments_return_einval),
};

TEST_MAIN(cases)
