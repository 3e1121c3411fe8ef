/* test.h: the uvgo test harness.
 *
 * Each test program lists its cases in one table at the bottom and ends with
 * TEST_MAIN(cases).  Every case runs in a child process of its own (fork), so
 * a crash, a hang or an abort stays in that case, and every case starts with
 * a fresh runtime.  Output is TAP; `prog [filter]` runs the cases whose name
 * contains filter.
 *
 * Case kinds:
 *   CASE(fn)               fn runs as the main task of uvgo_main(); after it
 *                          returns, every other task must have ended too
 *                          (a leaked task fails the case, with a dump)
 *   CASE_PROCS(fn, n)      the same with n workers (default 2)
 *   CASE_PLAIN(fn)         fn runs in the child's main thread, no runtime
 *   CASE_ABORTS(fn, msg)   fn (as CASE) must abort, printing msg on stderr
 *                          (msg may list several parts: "a|b" needs both)
 *   CASE_PLAIN_ABORTS(fn, msg)  the same for fn as CASE_PLAIN
 *
 * Assertions print both sides (and error names) and fail the case;
 * TEST_SKIP(reason) ends it as skipped (TAP "# SKIP reason").  An upper
 * bound on time is ASSERT_IN_TIME: a case that misses one runs again, up
 * to TEST_TRIES times in all (see there).
 */
#ifndef UVGO_TEST_H
#define UVGO_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uvgo.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif

enum { TEST_TASK, TEST_PLAIN };

typedef struct test_case {
    const char *name;
    void (*fn)(void);
    int kind;
    int procs;
    const char *expect_abort;
} test_case_t;

#define CASE(fn)                                                               \
    {                                                                          \
#fn, fn, TEST_TASK, 0, NULL                                            \
    }
#define CASE_PROCS(fn, n)                                                      \
    {                                                                          \
#fn, fn, TEST_TASK, (n), NULL                                          \
    }
#define CASE_PLAIN(fn)                                                         \
    {                                                                          \
#fn, fn, TEST_PLAIN, 0, NULL                                           \
    }
#define CASE_ABORTS(fn, msg)                                                   \
    {                                                                          \
#fn, fn, TEST_TASK, 0, (msg)                                           \
    }
#define CASE_PLAIN_ABORTS(fn, msg)                                             \
    {                                                                          \
#fn, fn, TEST_PLAIN, 0, (msg)                                          \
    }

/* Scales a stress count down under sanitizers, which are 5-20x slower and
 * (TSan) keep per-task shadow state. */
static inline long test_scale(long n, long sanitized)
{
#ifdef TEST_SANITIZED
    (void)n;
    return sanitized;
#else
    (void)sanitized;
    return n;
#endif
}

/* How late a timer may fire in a test before the test calls it a failure,
 * in nanoseconds.  Every timing test reads uvgo_now() and compares against
 * this one margin.  It holds on a loaded CI machine: 8 workers and a CPU hog
 * on 2 cores, under TSan (5-20x slower), where a worker thread can wait
 * tens of milliseconds for a CPU.  An idle machine is late by tens of
 * microseconds (bench timers), so a bound this loose still catches a timer
 * that waits for the wrong deadline or for some unrelated event. */
#define TEST_SLACK (test_scale(60, 200) * UVGO_MILLISECOND)

/* An upper bound on time: took < bound (nanoseconds).  A loaded machine
 * breaks such a bound now and then (at load 10 on 2 cores a worker can
 * wait 150 ms for a CPU), where a timer that waits for the wrong deadline
 * or for some unrelated event breaks it every time.  So a case that misses
 * one ends as "late", and the runner runs it again in a fresh child, up to
 * TEST_TRIES times in all, before it reports it failed.  Every other
 * assertion fails the case at once: lower bounds (nothing happens early)
 * and results do not depend on load. */
#define TEST_TRIES 3
#define TEST_LATE_STATUS 75
#define ASSERT_IN_TIME(took, bound)                                            \
    do {                                                                       \
        long long t_ = (long long)(took), b_ = (long long)(bound);             \
        if (!(t_ < b_)) {                                                      \
            fprintf(stderr, "# %s:%d: late: %s < %s: %.1f ms vs %.1f ms\n",    \
                    __FILE__, __LINE__, #took, #bound, t_ / 1e6, b_ / 1e6);    \
            fflush(stderr);                                                    \
            _exit(TEST_LATE_STATUS);                                           \
        }                                                                      \
    } while (0)

static inline int64_t test_now_ms(void)
{
    return uvgo_now() / 1000000;
}

#define TEST_FAIL_(...)                                                        \
    do {                                                                       \
        fprintf(stderr, "# %s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        fflush(stderr);                                                        \
        _exit(1);                                                              \
    } while (0)

/* Ends the case as skipped; the reason goes into the TAP line. */
#define TEST_SKIP_STATUS 77
#define TEST_SKIP(reason)                                                      \
    do {                                                                       \
        fprintf(stderr, "SKIP %s\n", (reason));                                \
        fflush(stderr);                                                        \
        _exit(TEST_SKIP_STATUS);                                               \
    } while (0)

#define ASSERT(cond)                                                           \
    do {                                                                       \
        if (!(cond))                                                           \
            TEST_FAIL_("assertion failed: %s", #cond);                         \
    } while (0)

#define ASSERT_EQ(a, b)                                                        \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);              \
    } while (0)

#define ASSERT_NE(a, b)                                                        \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ == b_)                                                          \
            TEST_FAIL_("%s != %s: both %lld", #a, #b, a_);                     \
    } while (0)

#define ASSERT_CMP_(a, op, b)                                                  \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (!(a_ op b_))                                                       \
            TEST_FAIL_("%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);         \
    } while (0)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)

#define ASSERT_PTR_EQ(a, b)                                                    \
    do {                                                                       \
        const void *a_ = (const void *)(a), *b_ = (const void *)(b);           \
        if (a_ != b_)                                                          \
            TEST_FAIL_("%s == %s: %p != %p", #a, #b, a_, b_);                  \
    } while (0)

#define ASSERT_OK(expr)                                                        \
    do {                                                                       \
        int r_ = (expr);                                                       \
        if (r_ < 0)                                                            \
            TEST_FAIL_("%s: %s (%s)", #expr, uvgo_err_name(r_),                \
                       uvgo_strerror(r_));                                     \
    } while (0)

#define ASSERT_ERR(expr, code)                                                 \
    do {                                                                       \
        int r_ = (expr), c_ = (code);                                          \
        if (r_ != c_)                                                          \
            TEST_FAIL_("%s: got %s (%d), want %s (%d)", #expr,                 \
                       uvgo_err_name(r_), r_, uvgo_err_name(c_), c_);          \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (strcmp(a_, b_) != 0)                                               \
            TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_, b_);          \
    } while (0)

/* ---- ordering without sleeping ------------------------------------------ */

struct test_count_arg_ {
    const char *what;
    int n;
};

static int test_count_waiting_(const uvgo_task_info_t *info, void *arg)
{
    struct test_count_arg_ *c = arg;
    if (!strcmp(info->state, "waiting") && !strcmp(info->wait, c->what))
        c->n++;
    return 0;
}

/* Yields until at least `n` tasks are waiting on `what` (as task dumps show
 * it): a way to order events without sleeping. */
static inline void test_wait_blocked(const char *what, int n)
{
    for (int i = 0;; i++) {
        struct test_count_arg_ c = {what, 0};
        uvgo_task_walk(test_count_waiting_, &c);
        if (c.n >= n)
            return;
        ASSERT(i < 1000000);
        uvgo_task_yield();
        if (i > 1000)
            uvgo_sleep(UVGO_MILLISECOND);
    }
}

/* ---- tasks and contexts in one line ------------------------------------ */

static inline uvgo_task_t *test_spawn(uvgo_task_fn fn, void *arg)
{
    uvgo_task_t *t;
    ASSERT_OK(uvgo_task_spawn(&t, fn, arg, NULL));
    return t;
}

/* Joins t and returns its result as an integer. */
static inline intptr_t test_join(uvgo_task_t *t)
{
    void *r;
    ASSERT_OK(uvgo_task_join(t, &r));
    return (intptr_t)r;
}

static inline uvgo_ctx_t *test_ctx_cancel(void)
{
    uvgo_ctx_t *c;
    ASSERT_OK(uvgo_ctx_with_cancel(&c, NULL));
    return c;
}

static inline uvgo_ctx_t *test_ctx_timeout(int64_t d)
{
    uvgo_ctx_t *c;
    ASSERT_OK(uvgo_ctx_with_timeout(&c, NULL, d));
    return c;
}

/* Cancels and releases a context made by one of the two above. */
static inline void test_ctx_done(uvgo_ctx_t *c)
{
    uvgo_ctx_cancel(c);
    uvgo_ctx_release(c);
}

/* ---- running a case in a child ----------------------------------------- */

static const test_case_t *test_current_;

static void *test_task_main_(void *arg)
{
    const test_case_t *c = arg;
    int64_t deadline;

    c->fn();
    /* Every task the case started must be gone.  Tasks that already
     * returned may still be switching out: give them a moment. */
    deadline = test_now_ms() + 5000;
    while (uvgo_task_count() > 1 && test_now_ms() < deadline)
        uvgo_sleep(UVGO_MILLISECOND);
    if (uvgo_task_count() > 1) {
        uvgo_dump(stderr);
        TEST_FAIL_("%d task(s) still alive after the case returned",
                   uvgo_task_count() - 1);
    }
    return (void *)(uintptr_t)0x600dUL;
}

static void test_child_(const test_case_t *c)
{
    test_current_ = c;
    if (c->kind == TEST_PLAIN) {
        c->fn();
        exit(0);
    }
    void *result = NULL;
    uvgo_procs(c->procs ? c->procs : 2);
    int err = uvgo_main(test_task_main_, (void *)c, &result);
    if (err < 0)
        TEST_FAIL_("uvgo_main: %s", uvgo_strerror(err));
    if (result != (void *)(uintptr_t)0x600d)
        TEST_FAIL_("main task returned %p", result);
    exit(0);
}

static unsigned test_timeout_s_(void)
{
    const char *e = getenv("UVGO_TEST_TIMEOUT");
    if (e && atoi(e) > 0)
        return (unsigned)atoi(e);
#ifdef TEST_SANITIZED
    return 600;
#else
    return 120;
#endif
}

/* Runs one case; returns 1 when it passed (or skipped: then skip_reason
 * holds why), 0 when it failed, -1 when it was late (ASSERT_IN_TIME) and
 * `last` is 0.  Child stderr is relayed as TAP comments; for CASE_ABORTS
 * it must contain the expected message. */
static int test_run_one_(const test_case_t *c, char *skip_reason,
                         size_t skip_size, int last)
{
    int pipefd[2];
    char buf[4096];
    size_t cap = 1 << 16, len = 0;
    char *err_text = malloc(cap);
    pid_t pid;
    int status = 0, ok;
    ssize_t n;

    fflush(stdout);
    fflush(stderr);
    if (!err_text || pipe(pipefd) != 0) {
        perror("pipe");
        exit(2);
    }
    pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        close(pipefd[1]);
        alarm(test_timeout_s_());
        test_child_(c);
    }
    close(pipefd[1]);
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0) {
        if (len + (size_t)n + 1 > cap) {
            cap = (len + (size_t)n + 1) * 2;
            err_text = realloc(err_text, cap);
        }
        memcpy(err_text + len, buf, (size_t)n);
        len += (size_t)n;
    }
    err_text[len] = '\0';
    close(pipefd[0]);
    waitpid(pid, &status, 0);

    if (c->expect_abort) {
        /* Every '|'-separated part of the expectation must appear. */
        ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
        const char *p = c->expect_abort;
        while (ok && *p) {
            const char *bar = strchr(p, '|');
            size_t plen = bar ? (size_t)(bar - p) : strlen(p);
            char part[256];
            if (plen >= sizeof part)
                plen = sizeof part - 1;
            memcpy(part, p, plen);
            part[plen] = '\0';
            ok = strstr(err_text, part) != NULL;
            p += plen + (bar ? 1 : 0);
        }
    } else {
        ok = WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
                                   WEXITSTATUS(status) == TEST_SKIP_STATUS);
    }
    int late = !ok && !c->expect_abort && WIFEXITED(status) &&
               WEXITSTATUS(status) == TEST_LATE_STATUS;
    if (skip_reason && WIFEXITED(status) &&
        WEXITSTATUS(status) == TEST_SKIP_STATUS) {
        const char *at = strstr(err_text, "SKIP ");
        if (at) {
            size_t k = strcspn(at + 5, "\n");
            snprintf(skip_reason, skip_size, "%.*s", (int)k, at + 5);
        }
    }
    if (!ok || getenv("UVGO_TEST_VERBOSE")) {
        char *line = err_text;
        while (line && *line) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            printf("# %s\n", line);
            line = nl ? nl + 1 : NULL;
        }
        if (WIFSIGNALED(status))
            printf("# killed by signal %d%s\n", WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
        else if (WIFEXITED(status) && WEXITSTATUS(status))
            printf("# exit status %d\n", WEXITSTATUS(status));
        if (c->expect_abort && !ok)
            printf("# expected an abort with \"%s\"\n", c->expect_abort);
    }
    free(err_text);
    return late && !last ? -1 : ok;
}

static int test_run_(int argc, char **argv, const test_case_t *cases,
                     size_t ncases)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    size_t planned = 0, num = 0;
    int failed = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < ncases; i++)
        if (!filter || strstr(cases[i].name, filter))
            planned++;
    printf("1..%zu\n", planned);
    for (size_t i = 0; i < ncases; i++) {
        if (filter && !strstr(cases[i].name, filter))
            continue;
        num++;
        int64_t t0 = test_now_ms();
        char skip[256] = "";
        int ok, try = 1;
        while ((ok = test_run_one_(&cases[i], skip, sizeof skip,
                                   try == TEST_TRIES)) < 0)
            printf("# %s: late on try %d of %d, again\n", cases[i].name, try++,
                   TEST_TRIES);
        if (skip[0])
            printf("ok %zu - %s # SKIP %s\n", num, cases[i].name, skip);
        else
            printf("%s %zu - %s # %lld ms\n", ok ? "ok" : "not ok", num,
                   cases[i].name, (long long)(test_now_ms() - t0));
        if (!ok)
            failed++;
    }
    return failed ? 1 : 0;
}

#define TEST_MAIN(cases)                                                       \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        return test_run_(argc, argv, cases, sizeof(cases) / sizeof(cases[0])); \
    }

#endif /* UVGO_TEST_H */
