/* test-diag.c: seeing inside: task dumps with call stacks, the stack walk on
 * corrupt stacks, leak checks, the opt-in SIGQUIT dump (issue 14), and the
 * debug builds' lock-order checks (issue 9). */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "test.h"
#include "base/common.h"
#include "runtime/trace.h"

/* ---- dumps ----------------------------------------------------------------
 */

static uvgo_event_t release_parked;
static atomic_int parked;

/* Kept out of line, so its frame is in the stack a dump shows. */
__attribute__((noinline)) static int park_in_a_named_frame(void)
{
    atomic_fetch_add(&parked, 1);
    int r = uvgo_event_wait(&release_parked, "a named frame");
    atomic_fetch_sub(&parked, 1); /* no tail call: keep this frame */
    return r;
}

static void *parker(void *arg)
{
    (void)arg;
    ASSERT_OK(park_in_a_named_frame());
    return NULL;
}

/* Runs uvgo_dump into a NUL-terminated heap string. */
static char *dump_to_string(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT(f != NULL);
    uvgo_dump(f);
    fclose(f);
    return text;
}

static void dump_shows_a_parked_tasks_frames_and_spawn_site(void)
{
    uvgo_task_opts_t o = {.name = "frames-please"};
    uvgo_task_t *t;
    release_parked = (uvgo_event_t)UVGO_EVENT_INIT;
    ASSERT_OK(uvgo_task_spawn(&t, parker, NULL, &o));
    while (atomic_load(&parked) < 1)
        uvgo_sleep(UVGO_MILLISECOND);
    /* Parked once its state says so: the dump reads the saved frame. */
    char *text = dump_to_string();
    while (!strstr(text, "\"frames-please\": waiting on a named frame")) {
        free(text);
        uvgo_sleep(UVGO_MILLISECOND);
        text = dump_to_string();
    }
    const char *task = strstr(text, "\"frames-please\"");
    ASSERT(strstr(task, "spawned at "));
#if defined(TEST_HAVE_SYMBOLS)
    ASSERT(strstr(task, "park_in_a_named_frame+0x"));
    ASSERT(strstr(task, "parker+0x"));
    ASSERT(strstr(task, "spawned at dump_shows_a_parked_tasks_frames"));
#else
    ASSERT(strstr(task, "test-diag+0x")); /* module + offset */
#endif
    free(text);
    uvgo_event_set(&release_parked);
    ASSERT_OK(uvgo_task_join(t, NULL));
}

/* The walk validates every frame before reading through it.  A fake task
 * whose "stack" is random words and pointers into itself, fenced by
 * inaccessible pages on both sides, must never make it read outside: a
 * stray read would fault here. */
static void stack_walk_never_leaves_a_corrupt_stack(void)
{
    const size_t page = 4096, size = 16 * page;
    char *map = mmap(NULL, size + 2 * page, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(map != MAP_FAILED);
    char *lo = map + page;
    ASSERT_OK(mprotect(lo, size, PROT_READ | PROT_WRITE));
    uvgo_task_t *t = calloc(1, sizeof *t);
    uintptr_t *words = (uintptr_t *)lo;
    size_t nwords = size / sizeof *words;
    uint64_t seed = 42;
    void *pcs[UVGO_TRACE_FRAMES];
    long frames = 0;

    t->stack.lo = lo;
    t->stack.size = size;
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < nwords; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            uint64_t r = seed >> 11;
            switch (r % 4) {
            case 0: /* a pointer into the stack, or just past either end */
                words[i] = (uintptr_t)lo - 64 + (r >> 8) % (size + 128);
                break;
            case 1: /* an ascending chain link */
                words[i] = (uintptr_t)&words[i] + 16 * (1 + (r >> 8) % 8);
                break;
            default:
                words[i] = (uintptr_t)r;
            }
        }
#if defined(UVGO_SWITCH_UCONTEXT)
        (void)frames;
        break; /* the saved registers are in the record: nothing to fake */
#else
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        t->ctx.sp = lo + ((seed >> 20) % size & ~(uintptr_t)15);
        int n = uvgo__task_stack(t, pcs, UVGO_TRACE_FRAMES);
        ASSERT(n >= 0 && n <= UVGO_TRACE_FRAMES);
        frames += n;
#endif
    }
    free(t);
    munmap(map, size + 2 * page);
}

/* ---- leak checks ----------------------------------------------------------
 */

static void *forgotten_receiver(void *arg)
{
    uvgo_chan_t *ch = arg;
    int v;
    uvgo_chan_recv(ch, &v, sizeof v, NULL); /* nobody ever sends */
    return NULL;
}

static void *quick_task(void *arg)
{
    uvgo_sleep(2 * UVGO_MILLISECOND);
    return arg;
}

static void leak_check_catches_a_task_blocked_on_a_forgotten_channel(void)
{
    uvgo_chan_t *ch;
    char *text = NULL;
    size_t len = 0;
    uvgo_task_opts_t o = {.name = "forgotten"};
    uvgo_leak_opts_t lo = {.wait = 20 * UVGO_MILLISECOND};

    ASSERT_OK(uvgo_chan_make(&ch, sizeof(int), 0));
    ASSERT_OK(uvgo_task_spawn(NULL, forgotten_receiver, ch, &o));
    lo.report = open_memstream(&text, &len);
    ASSERT_ERR(uvgo_leak_check(&lo), UVGO_ELEAK);
    fclose(lo.report);
    ASSERT(strstr(text, "\"forgotten\": waiting on chan receive"));
    ASSERT(strstr(text, "spawned at "));
    ASSERT(strstr(text, "1 task leaked"));
    free(text);
    /* Allowed by name, it passes; closing the channel ends it. */
    const char *const allow[] = {"forgotten", NULL};
    lo.ignore = allow;
    lo.report = NULL;
    ASSERT_OK(uvgo_leak_check(&lo));
    ASSERT_OK(uvgo_chan_close(ch));
    uvgo_chan_release(ch);
    ASSERT_OK(uvgo_leak_check(NULL));
}

static void leak_check_passes_on_clean_code_and_waits_for_ending_tasks(void)
{
    /* Detached tasks still finishing are waited for, not reported. */
    for (int i = 0; i < 20; i++)
        ASSERT_OK(uvgo_go(quick_task, NULL));
    ASSERT_OK(uvgo_leak_check(NULL));
    /* A joinable task that returned but was never joined leaked its
     * handle. */
    uvgo_task_t *t;
    uvgo_leak_opts_t lo = {.wait = 10 * UVGO_MILLISECOND};
    FILE *devnull = fopen("/dev/null", "w");
    lo.report = devnull;
    ASSERT_OK(uvgo_task_spawn(&t, quick_task, NULL, NULL));
    ASSERT_ERR(uvgo_leak_check(&lo), UVGO_ELEAK);
    fclose(devnull);
    ASSERT_OK(uvgo_task_join(t, NULL));
    ASSERT_OK(uvgo_leak_check(NULL));
}

static void leak_check_outside_a_task_is_enottask(void)
{
    ASSERT_ERR(uvgo_leak_check(NULL), UVGO_ENOTTASK);
}

/* Runs uvgo_main(fn) in a child process with `env` set; returns the exit
 * status and the child's stderr in buf. */
/* What a forked child runs: a runtime around fn (with env set), or, with
 * no fn, plain() on the child's thread. */
struct child {
    void *(*fn)(void *);
    const char *env;
    void (*plain)(void);
};

/* Runs the child in a process of its own whose stderr lands in buf;
 * returns its status.  A runtime's child exits 3 for a leak. */
static int fork_child(const struct child *c, char *buf, size_t size)
{
    int pipefd[2], status;
    size_t len = 0;
    ssize_t n;
    ASSERT_OK(pipe(pipefd));
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        if (c->env)
            putenv((char *)c->env);
        if (!c->fn) {
            c->plain();
            _exit(0);
        }
        _exit(uvgo_main(c->fn, NULL, NULL) == UVGO_ELEAK ? 3 : 0);
    }
    close(pipefd[1]);
    while (len + 1 < size &&
           (n = read(pipefd[0], buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(pipefd[0]);
    ASSERT(waitpid(pid, &status, 0) == pid);
    return status;
}

static int run_child(void *(*fn)(void *), const char *env, char *buf,
                     size_t size)
{
    struct child c = {fn, env, NULL};
    return fork_child(&c, buf, size);
}

static void *leave_one_behind(void *arg)
{
    uvgo_task_opts_t o = {.name = "left-here"};
    (void)arg;
    /* Receives on a nil channel: blocked for good. */
    ASSERT_OK(uvgo_task_spawn(NULL, forgotten_receiver, NULL, &o));
    uvgo_sleep(UVGO_MILLISECOND);
    return NULL;
}

static void leakcheck_environment_makes_main_fail(void)
{
    char buf[8192];
    int status =
        run_child(leave_one_behind, "UVGO_LEAKCHECK=1", buf, sizeof buf);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 3);
    ASSERT(strstr(buf, "\"left-here\""));
    status = run_child(leave_one_behind, NULL, buf, sizeof buf);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

/* ---- SIGQUIT
 * ----------------------------------------------------------------- */

static void *quit_on_request(void *arg)
{
    uvgo_task_opts_t o = {.name = "still-parked"};
    (void)arg;
    ASSERT_OK(uvgo_dump_on_sigquit());
    ASSERT_OK(uvgo_dump_on_sigquit()); /* twice is fine */
    ASSERT_OK(uvgo_task_spawn(NULL, forgotten_receiver, NULL, &o));
    uvgo_sleep(5 * UVGO_MILLISECOND);
    raise(SIGQUIT);
    for (;;)
        uvgo_sleep(UVGO_SECOND); /* the dump thread ends the process */
    return NULL;
}

static void sigquit_dumps_every_task_and_exits_2_when_asked(void)
{
    char buf[16384];
    int status = run_child(quit_on_request, NULL, buf, sizeof buf);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 2);
    ASSERT(strstr(buf, "SIGQUIT: quit"));
    ASSERT(strstr(buf, "\"still-parked\": waiting on chan receive (nil chan)"));
    ASSERT(strstr(buf, "\"main\""));
}

static void *raise_sigquit_unasked(void *arg)
{
    (void)arg;
    raise(SIGQUIT);
    return NULL;
}

static void sigquit_keeps_its_default_unless_asked(void)
{
    char buf[1024];
    /* The default is what this is about: a shell that starts the tests in
     * the background (`cmd &` without job control) has SIGQUIT ignored,
     * and children inherit that. */
    signal(SIGQUIT, SIG_DFL);
    int status = run_child(raise_sigquit_unasked, NULL, buf, sizeof buf);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGQUIT);
}

/* ---- lock order (base/lockrank.h) -------------------------------------------
 */

#if UVGO_CHECKS
static int run_plain_child(void (*fn)(void), char *buf, size_t size)
{
    struct child c = {NULL, NULL, fn};
    return fork_child(&c, buf, size);
}

static uvgo_spinlock_t lock_a, lock_b, lock_pair[2];

static void take_inner_then_outer(void)
{
    uvgo__spin_lock(&lock_a, UVGO_RANK_CHAN);
    uvgo__spin_lock(&lock_b, UVGO_RANK_TIMER); /* TIMER comes first */
}

static void take_two_leaves(void)
{
    uvgo__spin_lock(&lock_a, UVGO_RANK_PARKQ);
    uvgo__spin_lock(&lock_b, UVGO_RANK_HTTP); /* ranks higher, but PARKQ
                                                 is a leaf */
}

static void take_channels_downward(void)
{
    uvgo__spin_lock(&lock_pair[1], UVGO_RANK_CHAN);
    uvgo__spin_lock(&lock_pair[0], UVGO_RANK_CHAN);
}

static void release_unheld(void)
{
    atomic_store(&lock_a.locked, 1); /* taken, but not by this thread */
    uvgo__spin_unlock(&lock_a);
}

static void take_in_order(void)
{
    uvgo__spin_lock(&lock_a, UVGO_RANK_TIMER);
    uvgo__spin_lock(&lock_pair[0], UVGO_RANK_CHAN);
    uvgo__spin_lock(&lock_pair[1], UVGO_RANK_CHAN);
    if (!uvgo__spin_held(&lock_pair[0]) || uvgo__spin_held(&lock_b))
        abort();
    uvgo__spin_unlock(&lock_pair[1]);
    uvgo__spin_unlock(&lock_pair[0]);
    uvgo__spin_unlock(&lock_a);
    if (uvgo__spin_held(&lock_a))
        abort();
}

static void *park_holding_a_lock(void *arg)
{
    (void)arg;
    /* The outermost rank, so that the sleep's own locks pass. */
    uvgo__spin_lock(&lock_a, UVGO_RANK_START);
    uvgo_sleep(UVGO_MILLISECOND);
    return NULL;
}

static void lock_order_violations_abort_naming_both_locks(void)
{
    char buf[16384];
    int status;

    status = run_plain_child(take_in_order, buf, sizeof buf);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    status = run_plain_child(take_inner_then_outer, buf, sizeof buf);
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    ASSERT(strstr(buf, "lock order: taking TIMER lock"));
    ASSERT(strstr(buf, "while holding CHAN lock"));

    status = run_plain_child(take_two_leaves, buf, sizeof buf);
    ASSERT(WIFSIGNALED(status));
    ASSERT(strstr(buf, "taking HTTP lock"));
    ASSERT(strstr(buf, "PARKQ lock") && strstr(buf, "a leaf"));

    status = run_plain_child(take_channels_downward, buf, sizeof buf);
    ASSERT(WIFSIGNALED(status));
    ASSERT(strstr(buf, "out of address order"));

    status = run_plain_child(release_unheld, buf, sizeof buf);
    ASSERT(WIFSIGNALED(status));
    ASSERT(strstr(buf, "released by a thread that does not hold it"));

    status = run_child(park_holding_a_lock, NULL, buf, sizeof buf);
    ASSERT(WIFSIGNALED(status));
    ASSERT(strstr(buf, "uvgo__rank_count() == 0"));
}
#else
static void lock_order_violations_abort_naming_both_locks(void)
{
    TEST_SKIP("a release build: no debug checks");
}
#endif

static const test_case_t cases[] = {
    CASE(dump_shows_a_parked_tasks_frames_and_spawn_site),
    CASE_PLAIN(stack_walk_never_leaves_a_corrupt_stack),
    CASE(leak_check_catches_a_task_blocked_on_a_forgotten_channel),
    CASE(leak_check_passes_on_clean_code_and_waits_for_ending_tasks),
    CASE_PLAIN(leak_check_outside_a_task_is_enottask),
    CASE_PLAIN(leakcheck_environment_makes_main_fail),
    CASE_PLAIN(sigquit_dumps_every_task_and_exits_2_when_asked),
    CASE_PLAIN(sigquit_keeps_its_default_unless_asked),
    CASE_PLAIN(lock_order_violations_abort_naming_both_locks),
};

TEST_MAIN(cases)
