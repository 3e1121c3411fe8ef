/* test-chan.c: channels and select (Go's semantics, rule by rule). */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

static uvgo_chan_t *mk(size_t size, size_t cap)
{
    uvgo_chan_t *ch;
    ASSERT_OK(uvgo_chan_make(&ch, size, cap));
    return ch;
}

/* ---- basic semantics ------------------------------------------------------
 */

static atomic_int sent_done;

static void *send_one(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v = 42;
    int r = uvgo_chan_send(ch, &v, sizeof v);
    atomic_store(&sent_done, 1);
    return (void *)(intptr_t)r;
}

static void unbuffered_send_completes_only_when_received(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 0);
    uvgo_task_t *t;
    int v = 0;
    ASSERT_OK(uvgo_task_spawn(&t, send_one, ch, NULL));
    test_wait_blocked("chan send", 1);
    ASSERT_EQ(atomic_load(&sent_done), 0);
    ASSERT_EQ(uvgo_chan_len(ch), 0);
    ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, NULL));
    ASSERT_EQ(v, 42);
    void *r;
    ASSERT_OK(uvgo_task_join(t, &r));
    ASSERT_EQ((intptr_t)r, 0);
    ASSERT_EQ(atomic_load(&sent_done), 1);
    uvgo_chan_release(ch);
}

static void *send_four(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v = 4;
    return (void *)(intptr_t)uvgo_chan_send(ch, &v, sizeof v);
}

static void buffered_channel_is_fifo_and_blocks_only_when_full(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 3);
    uvgo_task_t *t;
    for (int i = 1; i <= 3; i++)
        ASSERT_OK(uvgo_chan_send(ch, &i, sizeof i)); /* never blocks */
    ASSERT_EQ(uvgo_chan_len(ch), 3);
    ASSERT_EQ(uvgo_chan_cap(ch), 3);
    int x = 9;
    ASSERT_ERR(uvgo_chan_try_send(ch, &x, sizeof x), UVGO_EAGAIN);
    ASSERT_OK(uvgo_task_spawn(&t, send_four, ch, NULL));
    test_wait_blocked("chan send", 1);
    for (int want = 1; want <= 4; want++) {
        int v = 0, ok = 0;
        ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, &ok));
        ASSERT_EQ(v, want);
        ASSERT_EQ(ok, 1);
    }
    ASSERT_OK(uvgo_task_join(t, NULL));
    int v;
    ASSERT_ERR(uvgo_chan_try_recv(ch, &v, sizeof v, NULL), UVGO_EAGAIN);
    uvgo_chan_release(ch);
}

static uvgo_chan_t *order_ch;

static void *send_id(void *arg)
{
    int v = (int)(intptr_t)arg;
    ASSERT_OK(uvgo_chan_send(order_ch, &v, sizeof v));
    return NULL;
}

static void *recv_into(void *arg)
{
    int v = -1;
    (void)arg;
    ASSERT_OK(uvgo_chan_recv(order_ch, &v, sizeof v, NULL));
    return (void *)(intptr_t)v;
}

static void waiting_senders_are_served_in_arrival_order(void)
{
    uvgo_task_t *t[6];
    order_ch = mk(sizeof(int), 0);
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(uvgo_task_spawn(&t[i], send_id, (void *)(intptr_t)i, NULL));
        test_wait_blocked("chan send", i + 1);
    }
    for (int i = 0; i < 6; i++) {
        int v = -1;
        ASSERT_OK(uvgo_chan_recv(order_ch, &v, sizeof v, NULL));
        ASSERT_EQ(v, i);
    }
    for (int i = 0; i < 6; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    uvgo_chan_release(order_ch);
}

static void waiting_receivers_are_served_in_arrival_order(void)
{
    uvgo_task_t *t[6];
    order_ch = mk(sizeof(int), 0);
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(uvgo_task_spawn(&t[i], recv_into, NULL, NULL));
        test_wait_blocked("chan receive", i + 1);
    }
    for (int i = 0; i < 6; i++)
        ASSERT_OK(uvgo_chan_send(order_ch, &i, sizeof i));
    for (int i = 0; i < 6; i++) {
        void *r;
        ASSERT_OK(uvgo_task_join(t[i], &r));
        ASSERT_EQ((intptr_t)r, i);
    }
    uvgo_chan_release(order_ch);
}

/* ---- closing ------------------------------------------------------------ */

static void *recv_expect_closed(void *arg)
{
    uvgo_chan_t *ch = arg;
    long v = -1;
    int ok = 7;
    ASSERT_ERR(uvgo_chan_recv(ch, &v, sizeof v, &ok), UVGO_ECLOSED);
    ASSERT_EQ(ok, 0);
    ASSERT_EQ(v, 0);
    return NULL;
}

static void close_wakes_every_blocked_receiver_with_zero_value(void)
{
    uvgo_chan_t *ch = mk(sizeof(long), 0);
    uvgo_task_t *t[5];
    for (int i = 0; i < 5; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], recv_expect_closed, ch, NULL));
    test_wait_blocked("chan receive", 5);
    ASSERT_OK(uvgo_chan_close(ch));
    for (int i = 0; i < 5; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    uvgo_chan_release(ch);
}

static void *send_expect_closed(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v = 99;
    ASSERT_ERR(uvgo_chan_send(ch, &v, sizeof v), UVGO_ECLOSED);
    return NULL;
}

static void close_fails_blocked_senders_and_loses_nothing(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 1);
    uvgo_task_t *t[3];
    int one = 1, v = 0, ok = 0;
    ASSERT_OK(uvgo_chan_send(ch, &one, sizeof one));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], send_expect_closed, ch, NULL));
    test_wait_blocked("chan send", 3);
    ASSERT_OK(uvgo_chan_close(ch));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    /* The value buffered before the close is still there; the blocked
     * senders' values never entered. */
    ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, &ok));
    ASSERT_EQ(v, 1);
    ASSERT_EQ(ok, 1);
    ASSERT_ERR(uvgo_chan_recv(ch, &v, sizeof v, &ok), UVGO_ECLOSED);
    ASSERT_EQ(ok, 0);
    uvgo_chan_release(ch);
}

static void recv_from_closed_chan_drains_then_returns_zero_value(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 4);
    for (int i = 1; i <= 3; i++)
        ASSERT_OK(uvgo_chan_send(ch, &i, sizeof i));
    ASSERT_OK(uvgo_chan_close(ch));
    for (int i = 1; i <= 3; i++) {
        int v = 0;
        ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, NULL));
        ASSERT_EQ(v, i);
    }
    for (int k = 0; k < 3; k++) { /* never blocks again */
        int v = 5, ok = 5;
        ASSERT_ERR(uvgo_chan_recv(ch, &v, sizeof v, &ok), UVGO_ECLOSED);
        ASSERT_EQ(v, 0);
        ASSERT_EQ(ok, 0);
        v = 5;
        ASSERT_ERR(uvgo_chan_try_recv(ch, &v, sizeof v, &ok), UVGO_ECLOSED);
        ASSERT_EQ(v, 0);
    }
    uvgo_chan_release(ch);
}

static void send_on_or_close_of_closed_chan_returns_eclosed(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 2);
    int v = 1;
    ASSERT_OK(uvgo_chan_close(ch));
    ASSERT_ERR(uvgo_chan_send(ch, &v, sizeof v), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_chan_try_send(ch, &v, sizeof v), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_chan_close(ch), UVGO_ECLOSED);
    ASSERT_EQ(uvgo_chan_len(ch), 0); /* nothing got in */
    ASSERT_ERR(uvgo_chan_close(NULL), UVGO_EINVAL);
    uvgo_chan_release(ch);
}

/* Go's Done and timer channels are receive-only (<-chan): closing or
 * sending is a compile error there, UVGO_EINVAL here, and changes nothing.
 * Closing a Done channel left its context "done" with no error. */
static void receive_only_channels_refuse_close_and_send(void)
{
    uvgo_ctx_t *c;
    uvgo_timer_t *t;
    uvgo_ticker_t *tk;
    uvgo_chan_t *after, *chans[4];
    int64_t v = 0;
    ASSERT_OK(uvgo_ctx_with_cancel(&c, NULL));
    ASSERT_OK(uvgo_timer_make(&t, UVGO_HOUR));
    ASSERT_OK(uvgo_ticker_make(&tk, UVGO_HOUR));
    ASSERT_OK(uvgo_after(&after, UVGO_HOUR));
    chans[0] = uvgo_ctx_done(c);
    chans[1] = uvgo_timer_chan(t);
    chans[2] = uvgo_ticker_chan(tk);
    chans[3] = after;
    for (int i = 0; i < 4; i++) {
        size_t size = i == 0 ? 0 : sizeof v;
        void *elem = i == 0 ? NULL : &v;
        uvgo_select_case_t sc[1] = {UVGO_CASE_SEND_N(chans[i], elem, size)};
        ASSERT_ERR(uvgo_chan_close(chans[i]), UVGO_EINVAL);
        ASSERT_ERR(uvgo_chan_try_send(chans[i], elem, size), UVGO_EINVAL);
        ASSERT_ERR(uvgo_chan_send(chans[i], elem, size), UVGO_EINVAL);
        ASSERT_ERR(uvgo_select_try(sc, 1), UVGO_EINVAL);
        ASSERT_ERR(uvgo_chan_try_recv(chans[i], elem, size, NULL), UVGO_EAGAIN);
    }
    ASSERT_EQ(uvgo_ctx_err(c), 0);
    uvgo_ctx_cancel(c);
    ASSERT_ERR(uvgo_chan_try_recv(chans[0], NULL, 0, NULL), UVGO_ECLOSED);
    ASSERT_ERR(uvgo_ctx_err(c), UVGO_ECANCELED);
    ASSERT_EQ(uvgo_timer_reset(t, 0), 1);
    ASSERT_OK(uvgo_chan_recv(chans[1], &v, sizeof v, NULL)); /* still works */
    uvgo_ctx_release(c);
    uvgo_timer_free(t);
    uvgo_ticker_free(tk);
    uvgo_chan_release(after);
}

static void range_loop_ends_when_closed_and_drained(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 10);
    int v, sum = 0, n = 0;
    for (int i = 1; i <= 10; i++)
        ASSERT_OK(uvgo_chan_send(ch, &i, sizeof i));
    uvgo_chan_close(ch);
    UVGO_CHAN_RANGE(ch, &v)
    {
        sum += v;
        n++;
    }
    ASSERT_EQ(n, 10);
    ASSERT_EQ(sum, 55);
    uvgo_chan_release(ch);
}

/* ---- nil channels, sizes, bad input ----------------------------------- */

static void nil_chan_is_never_ready_and_has_no_length(void)
{
    int v = 1;
    ASSERT_EQ(uvgo_chan_len(NULL), 0);
    ASSERT_EQ(uvgo_chan_cap(NULL), 0);
    ASSERT_ERR(uvgo_chan_try_send(NULL, &v, sizeof v), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_chan_try_recv(NULL, &v, sizeof v, NULL), UVGO_EAGAIN);
    ASSERT(uvgo_chan_retain(NULL) == NULL);
    uvgo_chan_release(NULL);
}

static void *recv_nil(void *arg)
{
    int v;
    (void)arg;
    uvgo_chan_recv(NULL, &v, sizeof v, NULL);
    return NULL;
}

static void nil_chan_send_and_receive_block_forever(void)
{
    int v = 1;
    uvgo_task_opts_t o = {.name = "nil-receiver"};
    ASSERT_OK(uvgo_task_spawn(NULL, recv_nil, NULL, &o));
    uvgo_chan_send(NULL, &v, sizeof v);
}

static void zero_size_and_large_elements_move_whole(void)
{
    uvgo_chan_t *sig = mk(0, 2), *big = mk(1000, 1);
    char out[1000], in[1000];
    ASSERT_OK(uvgo_chan_send(sig, NULL, 0));
    ASSERT_OK(uvgo_chan_send(sig, NULL, 0));
    ASSERT_EQ(uvgo_chan_len(sig), 2);
    ASSERT_OK(uvgo_chan_recv(sig, NULL, 0, NULL));
    for (int i = 0; i < 1000; i++)
        out[i] = (char)(i * 7);
    ASSERT_OK(uvgo_chan_send(big, out, sizeof out));
    memset(in, 0, sizeof in);
    ASSERT_OK(uvgo_chan_recv(big, in, sizeof in, NULL));
    ASSERT(memcmp(in, out, sizeof in) == 0);
    ASSERT_OK(uvgo_chan_send(big, out, sizeof out));
    ASSERT_OK(uvgo_chan_recv(big, NULL, 0, NULL)); /* discarded */
    uvgo_chan_release(sig);
    uvgo_chan_release(big);
}

static void channel_calls_reject_bad_arguments(void)
{
    uvgo_chan_t *ch;
    ASSERT_ERR(uvgo_chan_make(NULL, 4, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_make(&ch, UVGO_CHAN_ELEM_MAX + 1, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_make(&ch, 4, UVGO_CHAN_CAP_MAX + 1), UVGO_EINVAL);
    ch = mk(4, 1);
    ASSERT_ERR(uvgo_chan_send(ch, NULL, 0), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_try_send(ch, NULL, 0), UVGO_EINVAL);
    uvgo_chan_release(ch);
}

static void channel_calls_outside_a_task(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 1);
    int v = 3, out = 0, ok = 0;
    /* Blocking forms need a task; non-blocking ones work anywhere. */
    ASSERT_ERR(uvgo_chan_send(ch, &v, sizeof v), UVGO_ENOTTASK);
    ASSERT_ERR(uvgo_chan_recv(ch, &v, sizeof v, NULL), UVGO_ENOTTASK);
    uvgo_select_case_t c[1] = {UVGO_CASE_RECV(ch, &out)};
    ASSERT_ERR(uvgo_select(c, 1), UVGO_ENOTTASK);
    ASSERT_OK(uvgo_chan_try_send(ch, &v, sizeof v));
    ASSERT_ERR(uvgo_select_try(c, 1), 0);
    ASSERT_EQ(out, 3);
    ASSERT_EQ(c[0].ok, 1);
    ASSERT_ERR(uvgo_chan_try_recv(ch, &out, sizeof out, &ok), UVGO_EAGAIN);
    uvgo_chan_release(ch);
}

/* ---- ownership and threads ---------------------------------------------- */

static void *recv_then_release(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v = 0;
    ASSERT_OK(uvgo_chan_recv(ch, &v, sizeof v, NULL));
    return (void *)(intptr_t)v;
}

static void *send_late_and_close(void *arg)
{
    uvgo_chan_t *ch = arg; /* a reference of its own */
    int v = 17;
    uvgo_sleep(5 * UVGO_MILLISECOND);
    ASSERT_OK(uvgo_chan_send(ch, &v, sizeof v));
    uvgo_chan_close(ch);
    uvgo_chan_release(ch);
    return NULL;
}

static void releasing_a_channel_tasks_wait_on_does_not_free_it(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 0);
    uvgo_task_t *r, *s;
    ASSERT_OK(uvgo_task_spawn(&r, recv_then_release, ch, NULL));
    test_wait_blocked("chan receive", 1);
    ASSERT_OK(
        uvgo_task_spawn(&s, send_late_and_close, uvgo_chan_retain(ch), NULL));
    uvgo_chan_release(ch); /* ours is gone; the receiver's keeps it alive */
    void *v;
    ASSERT_OK(uvgo_task_join(r, &v));
    ASSERT_EQ((intptr_t)v, 17);
    ASSERT_OK(uvgo_task_join(s, NULL));
}

static void *foreign_sender(void *arg)
{
    uvgo_chan_t *ch = arg;
    for (int i = 0; i < 1000; i++) {
        while (uvgo_chan_try_send(ch, &i, sizeof i) == UVGO_EAGAIN)
            sched_yield();
    }
    uvgo_chan_close(ch);
    return NULL;
}

static void try_send_from_a_foreign_thread_wakes_a_task(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 0);
    pthread_t th;
    long sum = 0;
    int v;
    /* The thread is invisible to uvgo's deadlock check: say it exists. */
    ASSERT_OK(uvgo_ref());
    pthread_create(&th, NULL, foreign_sender, ch);
    /* A blocked receiver: the thread's try_send finds it waiting. */
    UVGO_CHAN_RANGE(ch, &v) sum += v;
    pthread_join(th, NULL);
    ASSERT_OK(uvgo_unref());
    ASSERT_ERR(uvgo_unref(), UVGO_EINVAL);
    ASSERT_EQ(sum, 999 * 1000 / 2);
    uvgo_chan_release(ch);
}

struct payload {
    long a[64];
};

static void *produce_payloads(void *arg)
{
    uvgo_chan_t *ch = arg;
    for (int i = 0; i < 200; i++) {
        struct payload *p = malloc(sizeof *p);
        for (int k = 0; k < 64; k++)
            p->a[k] = i * 64 + k; /* plain writes, published by the send */
        ASSERT_OK(uvgo_chan_send(ch, &p, sizeof p));
    }
    uvgo_chan_close(ch);
    return NULL;
}

/* Under TSan this is the memory-model check: the payload is written with
 * plain stores on one worker and read on another. */
static void send_happens_before_the_matching_receive(void)
{
    uvgo_chan_t *ch = mk(sizeof(struct payload *), 0);
    uvgo_task_opts_t o = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *t;
    struct payload *p;
    int i = 0;
    ASSERT_OK(uvgo_task_spawn(&t, produce_payloads, ch, &o));
    UVGO_CHAN_RANGE(ch, &p)
    {
        for (int k = 0; k < 64; k++)
            ASSERT_EQ(p->a[k], i * 64 + k);
        free(p);
        i++;
    }
    ASSERT_EQ(i, 200);
    ASSERT_OK(uvgo_task_join(t, NULL));
    uvgo_chan_release(ch);
}

/* One plain slot per message: the receiver writes slot i before it
 * receives message i and never again, so the sender's read after send i
 * races with nothing unless the receive fails to happen before the send
 * completes.  (One variable written on every round raced with the next
 * round's write, which the memory model does not order.) */
static char written_before_receive[201];

static void *write_then_receive(void *arg)
{
    uvgo_chan_t *ch = arg;
    for (int i = 1; i <= 200; i++) {
        written_before_receive[i] = 1; /* a plain write */
        ASSERT_OK(uvgo_chan_recv(ch, NULL, 0, NULL));
    }
    return NULL;
}

/* For an unbuffered channel the receive happens before the send completes:
 * what the receiver wrote first is visible to the sender afterwards (TSan
 * checks the ordering; the value checks the delivery). */
static void unbuffered_receive_happens_before_the_send_completes(void)
{
    uvgo_chan_t *ch = mk(0, 0);
    uvgo_task_opts_t o = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, write_then_receive, ch, &o));
    for (int i = 1; i <= 200; i++) {
        ASSERT_OK(uvgo_chan_send(ch, NULL, 0));
        ASSERT_EQ(written_before_receive[i], 1);
    }
    ASSERT_OK(uvgo_task_join(t, NULL));
    uvgo_chan_release(ch);
}

static atomic_int inside, max_inside;

static void *limited_worker(void *arg)
{
    uvgo_chan_t *sem = arg;
    int token = 0;
    ASSERT_OK(uvgo_chan_send(sem, &token, sizeof token)); /* acquire */
    int now = atomic_fetch_add(&inside, 1) + 1;
    int m = atomic_load(&max_inside);
    while (now > m && !atomic_compare_exchange_weak(&max_inside, &m, now))
        ;
    uvgo_sleep(UVGO_MILLISECOND);
    atomic_fetch_sub(&inside, 1);
    ASSERT_OK(uvgo_chan_recv(sem, NULL, 0, NULL)); /* release */
    return NULL;
}

static void buffered_channel_works_as_counting_semaphore(void)
{
    uvgo_chan_t *sem = mk(sizeof(int), 3);
    uvgo_task_t *t[30];
    for (int i = 0; i < 30; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], limited_worker, sem, NULL));
    for (int i = 0; i < 30; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    ASSERT_LE(atomic_load(&max_inside), 3);
    ASSERT_GE(atomic_load(&max_inside), 2);
    uvgo_chan_release(sem);
}

/* ---- select ---------------------------------------------------------------
 */

static void select_takes_a_ready_case_or_the_default(void)
{
    uvgo_chan_t *a = mk(sizeof(int), 1), *b = mk(sizeof(int), 1);
    int x = 0, y = 0, seven = 7;
    uvgo_select_case_t c[2] = {UVGO_CASE_RECV(a, &x), UVGO_CASE_RECV(b, &y)};
    ASSERT_ERR(uvgo_select_try(c, 2), UVGO_EAGAIN); /* default */
    ASSERT_OK(uvgo_chan_send(b, &seven, sizeof seven));
    ASSERT_EQ(uvgo_select(c, 2), 1);
    ASSERT_EQ(y, 7);
    ASSERT_EQ(c[1].ok, 1);
    ASSERT_EQ(x, 0);
    uvgo_chan_release(a);
    uvgo_chan_release(b);
}

static void *send_after(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v = 5;
    uvgo_sleep(3 * UVGO_MILLISECOND);
    ASSERT_OK(uvgo_chan_send(ch, &v, sizeof v));
    return NULL;
}

static void select_blocks_until_a_case_is_ready_and_losers_consume_nothing(void)
{
    uvgo_chan_t *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 0);
    uvgo_task_t *t;
    int x = 0, y = 0, v = 1;
    uvgo_select_case_t c[2] = {UVGO_CASE_RECV(a, &x), UVGO_CASE_RECV(b, &y)};
    ASSERT_OK(uvgo_task_spawn(&t, send_after, b, NULL));
    ASSERT_EQ(uvgo_select(c, 2), 1);
    ASSERT_EQ(y, 5);
    ASSERT_OK(uvgo_task_join(t, NULL));
    /* Our waiter on `a` is gone: nobody receives there now. */
    ASSERT_ERR(uvgo_chan_try_send(a, &v, sizeof v), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_chan_try_send(b, &v, sizeof v), UVGO_EAGAIN);
    uvgo_chan_release(a);
    uvgo_chan_release(b);
}

static void *send_value(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v = 1;
    return (void *)(intptr_t)uvgo_chan_send(ch, &v, sizeof v);
}

static void select_commits_exactly_one_of_several_ready_cases(void)
{
    uvgo_chan_t *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 0);
    uvgo_task_t *ta, *tb;
    int x = 0, y = 0;
    ASSERT_OK(uvgo_task_spawn(&ta, send_value, a, NULL));
    ASSERT_OK(uvgo_task_spawn(&tb, send_value, b, NULL));
    test_wait_blocked("chan send", 2);
    uvgo_select_case_t c[2] = {UVGO_CASE_RECV(a, &x), UVGO_CASE_RECV(b, &y)};
    int i = uvgo_select(c, 2);
    ASSERT(i == 0 || i == 1);
    ASSERT_EQ(x + y, 1);
    /* The other sender is still blocked, its value still there. */
    test_wait_blocked("chan send", 1);
    int v = 0;
    ASSERT_OK(uvgo_chan_recv(i == 0 ? b : a, &v, sizeof v, NULL));
    ASSERT_EQ(v, 1);
    ASSERT_OK(uvgo_task_join(ta, NULL));
    ASSERT_OK(uvgo_task_join(tb, NULL));
    uvgo_chan_release(a);
    uvgo_chan_release(b);
}

static void select_chooses_uniformly_among_ready_cases(void)
{
    uvgo_chan_t *ch[3];
    uvgo_select_case_t c[3];
    int counts[3] = {0, 0, 0}, v[3];
    const int rounds = 30000;
    for (int k = 0; k < 3; k++) {
        ch[k] = mk(sizeof(int), 1);
        ASSERT_OK(uvgo_chan_send(ch[k], &k, sizeof k));
        c[k] = (uvgo_select_case_t)UVGO_CASE_RECV(ch[k], &v[k]);
    }
    for (int r = 0; r < rounds; r++) {
        int i = uvgo_select(c, 3);
        ASSERT(i >= 0 && i < 3);
        ASSERT_EQ(v[i], i);
        counts[i]++;
        ASSERT_OK(
            uvgo_chan_send(ch[i], &i, sizeof i)); /* all three ready again */
    }
    /* Binomial(30000, 1/3): sd ~82; +-600 is over 7 sd. */
    for (int k = 0; k < 3; k++) {
        fprintf(stderr, "case %d chosen %d times\n", k, counts[k]);
        ASSERT_GT(counts[k], rounds / 3 - 600);
        ASSERT_LT(counts[k], rounds / 3 + 600);
    }
    for (int k = 0; k < 3; k++)
        uvgo_chan_release(ch[k]);
}

static void select_mixes_sends_receives_closed_and_nil_cases(void)
{
    uvgo_chan_t *full = mk(sizeof(int), 1), *empty = mk(sizeof(int), 1);
    uvgo_chan_t *closed = mk(sizeof(int), 0), *space = mk(sizeof(int), 1);
    int v = 0, one = 1, z = 5;
    ASSERT_OK(uvgo_chan_send(full, &one, sizeof one));
    ASSERT_OK(uvgo_chan_close(closed));

    /* Only the send into `space` and the receive from `closed` can go. */
    uvgo_select_case_t c[5] = {
        UVGO_CASE_SEND(full, &one), UVGO_CASE_RECV(empty, &v),
        UVGO_CASE_RECV(NULL, &v), UVGO_CASE_SEND(space, &one),
        UVGO_CASE_RECV(closed, &z)};
    int seen_send = 0, seen_closed = 0;
    for (int r = 0; r < 200; r++) {
        int i = uvgo_select(c, 5);
        ASSERT(i == 3 || i == 4);
        if (i == 3) {
            ASSERT_EQ(c[3].ok, 1);
            seen_send++;
            ASSERT_OK(uvgo_chan_recv(space, NULL, 0, NULL));
        } else {
            ASSERT_EQ(c[4].ok, 0);
            ASSERT_EQ(z, 0);
            z = 5;
            seen_closed++;
        }
    }
    ASSERT_GT(seen_send, 0);
    ASSERT_GT(seen_closed, 0);

    /* A send case on a closed channel commits with ok == 0 (Go panics). */
    uvgo_select_case_t s[2] = {UVGO_CASE_SEND(closed, &one),
                               UVGO_CASE_RECV(empty, &v)};
    ASSERT_EQ(uvgo_select(s, 2), 0);
    ASSERT_EQ(s[0].ok, 0);

    /* Only nil channels: never ready. */
    uvgo_select_case_t n[2] = {UVGO_CASE_RECV(NULL, &v),
                               UVGO_CASE_SEND(NULL, &one)};
    ASSERT_ERR(uvgo_select_try(n, 2), UVGO_EAGAIN);
    ASSERT_ERR(uvgo_select_try(NULL, 0), UVGO_EAGAIN);
    uvgo_chan_release(full);
    uvgo_chan_release(empty);
    uvgo_chan_release(closed);
    uvgo_chan_release(space);
}

static void *select_until_closed(void *arg)
{
    uvgo_chan_t **chs = arg;
    int v = 0;
    uvgo_select_case_t c[2] = {UVGO_CASE_RECV(chs[0], &v),
                               UVGO_CASE_RECV(chs[1], &v)};
    int i = uvgo_select(c, 2);
    ASSERT_EQ(c[i].ok, 0);
    return (void *)(intptr_t)i;
}

static void close_wakes_a_blocked_select(void)
{
    uvgo_chan_t *chs[2] = {mk(sizeof(int), 0), mk(sizeof(int), 0)};
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, select_until_closed, chs, NULL));
    test_wait_blocked("select", 1);
    uvgo_chan_close(chs[1]);
    void *r;
    ASSERT_OK(uvgo_task_join(t, &r));
    ASSERT_EQ((intptr_t)r, 1);
    int v = 1;
    ASSERT_ERR(uvgo_chan_try_send(chs[0], &v, sizeof v), UVGO_EAGAIN);
    uvgo_chan_release(chs[0]);
    uvgo_chan_release(chs[1]);
}

static void *sender_to(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v = 77;
    uvgo_sleep(2 * UVGO_MILLISECOND);
    ASSERT_OK(uvgo_chan_send(ch, &v, sizeof v));
    return NULL;
}

static void select_with_many_and_duplicate_cases(void)
{
    enum { N = 40 };
    uvgo_chan_t *ch[N];
    uvgo_select_case_t c[N + 1];
    int v[N + 1];
    uvgo_task_t *t;
    for (int i = 0; i < N; i++) {
        ch[i] = mk(sizeof(int), 0);
        c[i] = (uvgo_select_case_t)UVGO_CASE_RECV(ch[i], &v[i]);
    }
    c[N] = (uvgo_select_case_t)UVGO_CASE_RECV(ch[31], &v[N]); /* again */
    ASSERT_OK(uvgo_task_spawn(&t, sender_to, ch[31], NULL));
    int i = uvgo_select(c, N + 1);
    ASSERT(i == 31 || i == N);
    ASSERT_EQ(v[i], 77);
    ASSERT_OK(uvgo_task_join(t, NULL));
    int x = 1;
    for (int k = 0; k < N; k++) {
        ASSERT_ERR(uvgo_chan_try_send(ch[k], &x, sizeof x), UVGO_EAGAIN);
        uvgo_chan_release(ch[k]);
    }
}

/* A size that is not the element size never reaches the buffer: the call
 * fails before it reads or writes the caller's object, in every form. */
static void size_mismatch_is_einval_for_send_receive_and_select(void)
{
    uvgo_chan_t *ch = mk(sizeof(int64_t), 2);
    uvgo_ctx_t *ctx;
    int32_t small = 7;
    int64_t v = 9, got = 0;
    char big[16] = {0};
    int ok = -1;

    ASSERT_OK(uvgo_ctx_with_cancel(&ctx, NULL));
    ASSERT_ERR(uvgo_chan_send(ch, &small, sizeof small), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_try_send(ch, &small, sizeof small), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_send_ctx(ch, &small, sizeof small, ctx), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_send(ch, big, sizeof big), UVGO_EINVAL);
    ASSERT_EQ(uvgo_chan_len(ch), 0);
    ASSERT_OK(uvgo_chan_send(ch, &v, sizeof v));

    ASSERT_ERR(uvgo_chan_recv(ch, &small, sizeof small, &ok), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_try_recv(ch, big, sizeof big, NULL), UVGO_EINVAL);
    ASSERT_ERR(uvgo_chan_recv_ctx(ch, &small, sizeof small, NULL, ctx),
               UVGO_EINVAL);
    ASSERT_EQ(small, 7);
    ASSERT_EQ(big[0], 0);
    ASSERT_EQ(uvgo_chan_len(ch), 1); /* nothing was taken */

    uvgo_select_case_t r[1] = {UVGO_CASE_RECV(ch, &small)};
    ASSERT_ERR(uvgo_select(r, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_select_try(r, 1), UVGO_EINVAL);
    ASSERT_ERR(uvgo_select_ctx(r, 1, ctx), UVGO_EINVAL);
    uvgo_select_case_t s[1] = {UVGO_CASE_SEND(ch, &small)};
    ASSERT_ERR(uvgo_select(s, 1), UVGO_EINVAL);
    ASSERT_EQ(uvgo_chan_len(ch), 1);

    /* The right sizes still work, and a receive may discard. */
    uvgo_select_case_t good[1] = {UVGO_CASE_RECV(ch, &got)};
    ASSERT_EQ(uvgo_select(good, 1), 0);
    ASSERT_EQ(got, 9);
    ASSERT_OK(uvgo_chan_send(ch, &v, sizeof v));
    ASSERT_OK(uvgo_chan_recv(ch, NULL, 0, NULL));
    uvgo_ctx_cancel_release(ctx);
    uvgo_chan_release(ch);
}

static void select_rejects_bad_arguments(void)
{
    uvgo_chan_t *ch = mk(sizeof(int), 1);
    uvgo_select_case_t c[1] = {{ch, 3, NULL, 0, 0}};
    ASSERT_ERR(uvgo_select(NULL, 2), UVGO_EINVAL);
    ASSERT_ERR(uvgo_select(c, 1), UVGO_EINVAL); /* bad dir */
    c[0] = (uvgo_select_case_t)UVGO_CASE_SEND_N(ch, NULL, 0);
    ASSERT_ERR(uvgo_select(c, 1), UVGO_EINVAL); /* nothing to send */
    ASSERT_ERR(uvgo_select(c, UVGO_SELECT_MAX + 1), UVGO_EINVAL);
    uvgo_chan_release(ch);
}

static void empty_select_blocks_forever(void)
{
    uvgo_select(NULL, 0);
}

/* ---- stress ---------------------------------------------------------------
 */

struct stress {
    uvgo_chan_t *ch;
    long per_producer;
    int producers;
    atomic_long sum, xsum, count;
    atomic_int producers_left;
};

static void *stress_producer(void *arg)
{
    struct stress *s = arg;
    static atomic_int next_id;
    long id = atomic_fetch_add(&next_id, 1) % s->producers;
    for (long i = 0; i < s->per_producer; i++) {
        long v = id * s->per_producer + i + 1;
        ASSERT_OK(uvgo_chan_send(s->ch, &v, sizeof v));
    }
    if (atomic_fetch_sub(&s->producers_left, 1) == 1)
        uvgo_chan_close(s->ch);
    return NULL;
}

static void *stress_consumer(void *arg)
{
    struct stress *s = arg;
    long v, sum = 0, xs = 0, n = 0;
    UVGO_CHAN_RANGE(s->ch, &v)
    {
        sum += v;
        xs ^= v * 0x9E3779B97F4A7C15L;
        n++;
    }
    atomic_fetch_add(&s->sum, sum);
    atomic_fetch_xor(&s->xsum, xs);
    atomic_fetch_add(&s->count, n);
    return NULL;
}

static void run_stress(size_t cap)
{
    struct stress s;
    uvgo_task_t *t[16];
    long total = test_scale(1000000, 40000);
    memset(&s, 0, sizeof s);
    s.ch = mk(sizeof(long), cap);
    s.producers = 8;
    s.per_producer = total / 8;
    atomic_store(&s.producers_left, 8);
    for (int i = 0; i < 16; i++)
        ASSERT_OK(uvgo_task_spawn(
            &t[i], i < 8 ? stress_producer : stress_consumer, &s, NULL));
    for (int i = 0; i < 16; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    long n = s.per_producer * 8, xs = 0;
    for (long v = 1; v <= n; v++)
        xs ^= v * 0x9E3779B97F4A7C15L;
    ASSERT_EQ(atomic_load(&s.count), n);
    ASSERT_EQ(atomic_load(&s.sum), n * (n + 1) / 2);
    ASSERT_EQ(atomic_load(&s.xsum), xs);
    uvgo_chan_release(s.ch);
}

static void stress_8_producers_8_consumers_unbuffered(void)
{
    run_stress(0);
}

static void stress_8_producers_8_consumers_buffered(void)
{
    run_stress(64);
}

struct race {
    uvgo_chan_t *ch;
    atomic_long sent, received;
};

static void *race_sender(void *arg)
{
    struct race *r = arg;
    for (long i = 0;; i++) {
        long v = 1;
        int e = uvgo_chan_send(r->ch, &v, sizeof v);
        if (e == UVGO_ECLOSED)
            return NULL;
        ASSERT_OK(e);
        atomic_fetch_add(&r->sent, 1);
    }
}

static void *race_receiver(void *arg)
{
    struct race *r = arg;
    long v;
    UVGO_CHAN_RANGE(r->ch, &v) atomic_fetch_add(&r->received, v);
    return NULL;
}

static void close_races_with_blocked_senders_and_receivers(void)
{
    int rounds = (int)test_scale(200, 30);
    for (int round = 0; round < rounds; round++) {
        struct race r;
        uvgo_task_t *t[8];
        memset(&r, 0, sizeof r);
        r.ch = mk(sizeof(long), (size_t)(round % 3));
        for (int i = 0; i < 8; i++)
            ASSERT_OK(uvgo_task_spawn(
                &t[i], i % 2 ? race_sender : race_receiver, &r, NULL));
        for (int k = 0; k < round % 7; k++)
            uvgo_task_yield();
        ASSERT_OK(uvgo_chan_close(r.ch));
        for (int i = 0; i < 8; i++)
            ASSERT_OK(uvgo_task_join(t[i], NULL));
        /* Every send that reported success was received exactly once. */
        ASSERT_EQ(atomic_load(&r.sent), atomic_load(&r.received));
        uvgo_chan_release(r.ch);
    }
}

struct sel_stress {
    uvgo_chan_t *ch[4];
    long per;
    atomic_long sum;
};

static void *sel_sender(void *arg)
{
    struct sel_stress *s = arg;
    static atomic_int next;
    int k = atomic_fetch_add(&next, 1) % 4;
    for (long i = 0; i < s->per; i++) {
        long v = k * s->per + i;
        ASSERT_OK(uvgo_chan_send(s->ch[k], &v, sizeof v));
    }
    return NULL;
}

static void *sel_receiver(void *arg)
{
    struct sel_stress *s = arg;
    long v, sum = 0;
    uvgo_select_case_t c[4];
    for (int k = 0; k < 4; k++)
        c[k] = (uvgo_select_case_t)UVGO_CASE_RECV(s->ch[k], &v);
    for (long n = 0; n < 2 * s->per; n++) {
        int i = uvgo_select(c, 4);
        ASSERT(i >= 0);
        ASSERT_EQ(c[i].ok, 1);
        sum += v;
    }
    atomic_fetch_add(&s->sum, sum);
    return NULL;
}

/* A select with a default may report "none ready" only if that was true
 * at one instant.  Two tokens move over 50 buffered channels: a mover
 * always sends one ahead before it takes the one behind, so some channel
 * holds a token at every instant, and the tester, which puts back every
 * token it takes, must never see all 50 empty.  Checking one channel at a
 * time, it did (a token moved from a channel not yet visited to one
 * already visited), about once in 30 tries here. */
#define NTOK 50
static struct {
    uvgo_chan_t *ch[NTOK];
    atomic_int stop;
} tk;

static void *token_mover(void *arg)
{
    int token = 1;
    (void)arg;
    for (unsigned k = 0; !atomic_load_explicit(&tk.stop, memory_order_relaxed);
         k++) {
        ASSERT_OK(uvgo_chan_send(tk.ch[(k + 1) % NTOK], &token, sizeof token));
        ASSERT_OK(uvgo_chan_recv(tk.ch[k % NTOK], &token, sizeof token, NULL));
    }
    return NULL;
}

static void select_try_reports_none_ready_only_when_none_was(void)
{
    uvgo_task_opts_t on1 = {.worker = 2, .flags = UVGO_TASK_PINNED};
    uvgo_select_case_t c[NTOK];
    int got[NTOK], token = 1;
    long tries = test_scale(200000, 40000), none = 0;
    uvgo_task_t *m;
    for (int i = 0; i < NTOK; i++) {
        tk.ch[i] = mk(sizeof(int), 2);
        c[i] = (uvgo_select_case_t)UVGO_CASE_RECV(tk.ch[i], &got[i]);
    }
    ASSERT_OK(uvgo_chan_send(tk.ch[0], &token, sizeof token));
    ASSERT_OK(uvgo_task_spawn(&m, token_mover, NULL, &on1));
    for (long i = 0; i < tries; i++) {
        if ((i & 8191) == 8191)
            uvgo_sleep(UVGO_MICROSECOND); /* a switch now and then: no
                                             long-run report */
        int r = uvgo_select_try(c, NTOK);
        if (r == UVGO_EAGAIN) {
            none++;
            continue;
        }
        ASSERT_GE(r, 0);
        ASSERT_OK(uvgo_chan_try_send(tk.ch[r], &got[r], sizeof got[r]));
    }
    atomic_store(&tk.stop, 1);
    test_join(m);
    ASSERT_EQ(none, 0);
    for (int i = 0; i < NTOK; i++)
        uvgo_chan_release(tk.ch[i]);
}

static void selects_across_workers_lose_and_duplicate_nothing(void)
{
    struct sel_stress s;
    uvgo_task_t *t[6];
    memset(&s, 0, sizeof s);
    s.per = test_scale(100000, 5000);
    for (int k = 0; k < 4; k++)
        s.ch[k] = mk(sizeof(long), (size_t)(k % 2));
    for (int i = 0; i < 6; i++)
        ASSERT_OK(uvgo_task_spawn(&t[i], i < 4 ? sel_sender : sel_receiver, &s,
                                  NULL));
    for (int i = 0; i < 6; i++)
        ASSERT_OK(uvgo_task_join(t[i], NULL));
    long n = 4 * s.per;
    ASSERT_EQ(atomic_load(&s.sum), n * (n - 1) / 2);
    for (int k = 0; k < 4; k++)
        uvgo_chan_release(s.ch[k]);
}

static const test_case_t cases[] = {
    CASE(unbuffered_send_completes_only_when_received),
    CASE(buffered_channel_is_fifo_and_blocks_only_when_full),
    CASE(waiting_senders_are_served_in_arrival_order),
    CASE(waiting_receivers_are_served_in_arrival_order),
    CASE(close_wakes_every_blocked_receiver_with_zero_value),
    CASE(close_fails_blocked_senders_and_loses_nothing),
    CASE(recv_from_closed_chan_drains_then_returns_zero_value),
    CASE(send_on_or_close_of_closed_chan_returns_eclosed),
    CASE(receive_only_channels_refuse_close_and_send),
    CASE(range_loop_ends_when_closed_and_drained),
    CASE(nil_chan_is_never_ready_and_has_no_length),
    CASE_ABORTS(nil_chan_send_and_receive_block_forever,
                "deadlock|chan send (nil chan)|chan receive (nil chan)"),
    CASE(zero_size_and_large_elements_move_whole),
    CASE(channel_calls_reject_bad_arguments),
    CASE_PLAIN(channel_calls_outside_a_task),
    CASE(releasing_a_channel_tasks_wait_on_does_not_free_it),
    CASE(try_send_from_a_foreign_thread_wakes_a_task),
    CASE(send_happens_before_the_matching_receive),
    CASE(unbuffered_receive_happens_before_the_send_completes),
    CASE(buffered_channel_works_as_counting_semaphore),
    CASE(select_takes_a_ready_case_or_the_default),
    CASE(select_blocks_until_a_case_is_ready_and_losers_consume_nothing),
    CASE(select_commits_exactly_one_of_several_ready_cases),
    CASE(select_chooses_uniformly_among_ready_cases),
    CASE(select_mixes_sends_receives_closed_and_nil_cases),
    CASE(close_wakes_a_blocked_select),
    CASE(select_with_many_and_duplicate_cases),
    CASE(select_rejects_bad_arguments),
    CASE(size_mismatch_is_einval_for_send_receive_and_select),
    CASE_ABORTS(empty_select_blocks_forever, "deadlock|select (no cases)"),
    CASE_PROCS(stress_8_producers_8_consumers_unbuffered, 4),
    CASE_PROCS(stress_8_producers_8_consumers_buffered, 4),
    CASE_PROCS(close_races_with_blocked_senders_and_receivers, 4),
    CASE_PROCS(selects_across_workers_lose_and_duplicate_nothing, 4),
    CASE(select_try_reports_none_ready_only_when_none_was),
};

TEST_MAIN(cases)
