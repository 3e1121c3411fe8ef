/* bench.c: uvgo-bench, the C side of the benchmark specification.
 *
 *   uvgo-bench <name> [variant]   run one benchmark (all variants if none)
 *   uvgo-bench all                run every non-network one, each in a
 *                                 fresh process
 *
 * Each benchmark does the specified work, checks its own result and prints
 * one result line.  "all" variants use one worker per core, "1"/"local" one
 * worker, "cross" two. */
#include <stdatomic.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bench.h"

typedef void (*bench_fn)(const char *variant);

/* ---- spawn ----------------------------------------------------------------- */

static struct {
    long n;
    unsigned char *ran;
    atomic_long left;
    uvgo_event_t done;
} sp;

static void *spawn_child(void *arg)
{
    sp.ran[(uintptr_t)arg] = 1;
    if (atomic_fetch_sub_explicit(&sp.left, 1, memory_order_acq_rel) == 1)
        uvgo_event_set(&sp.done);
    return NULL;
}

static void *spawn_main(void *arg)
{
    const char *variant = arg;
    long n = sp.n, count = 0;
    int64_t t0 = uvgo_now();
    atomic_store(&sp.left, n);
    for (long i = 0; i < n; i++)
        bench_check(uvgo_go(spawn_child, (void *)(uintptr_t)i) == 0, "spawn");
    uvgo_event_wait(&sp.done, "bench wait");
    int64_t elapsed = uvgo_now() - t0;
    for (long i = 0; i < n; i++)
        count += sp.ran[i];
    bench_check(count == n, "spawn: %ld of %ld tasks ran", count, n);
    bench_report("spawn", variant, n, elapsed, NULL);
    return NULL;
}

static void bench_spawn(const char *variant)
{
    sp.n = bench_scale(1000000);
    sp.ran = calloc((size_t)sp.n, 1);
    uvgo_main(spawn_main, (void *)variant, NULL);
    free(sp.ran);
}

/* ---- yield ----------------------------------------------------------------- */

static atomic_long yield_total;

static void *yield_task(void *arg)
{
    long n = (long)(intptr_t)arg, done = 0;
    for (; done < n; done++)
        uvgo_task_yield();
    atomic_fetch_add(&yield_total, done);
    return NULL;
}

static void *yield_main(void *arg)
{
    const char *variant = arg;
    long n = bench_scale(10000000);
    uvgo_task_t *t[2];
    int64_t t0 = uvgo_now();
    for (int k = 0; k < 2; k++)
        uvgo_task_spawn(&t[k], yield_task,
                        (void *)(intptr_t)(n / 2 + k * (n % 2)), NULL);
    for (int k = 0; k < 2; k++)
        uvgo_task_join(t[k], NULL);
    int64_t elapsed = uvgo_now() - t0;
    bench_check(atomic_load(&yield_total) == n, "yield: %ld of %ld yields",
                atomic_load(&yield_total), n);
    bench_report("yield", variant, n, elapsed, NULL);
    return NULL;
}

static void bench_yield(const char *variant)
{
    uvgo_main(yield_main, (void *)variant, NULL);
}

/* ---- the table ----------------------------------------------------------- */

static const struct {
    const char *name, *variant;
    bench_fn fn;
} benches[] = {
    {"spawn", "all", bench_spawn},
    {"yield", "1", bench_yield},
};

static void set_procs(const char *variant)
{
    if (!strcmp(variant, "1") || !strcmp(variant, "local"))
        uvgo_procs(1);
    else if (!strcmp(variant, "cross"))
        uvgo_procs(2);
}

static int run_all(const char *self)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(self, self, benches[i].name, benches[i].variant, (char *)NULL);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "uvgo-bench: %s %s failed\n", benches[i].name,
                    benches[i].variant);
            failed++;
        }
    }
    return failed ? 1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: uvgo-bench all | <name> [variant]\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(stderr, "  %s %s\n", benches[i].name, benches[i].variant);
    exit(2);
}

int main(int argc, char **argv)
{
    int found = 0;
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "all"))
        return run_all(argv[0]);
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (strcmp(benches[i].name, argv[1]) ||
            (argc > 2 && strcmp(benches[i].variant, argv[2])))
            continue;
        found = 1;
        if (argc > 2) {
            set_procs(benches[i].variant);
            benches[i].fn(benches[i].variant);
        } else {
            /* Each variant in a process of its own: a clean heap and RSS. */
            pid_t pid = fork();
            if (pid == 0) {
                set_procs(benches[i].variant);
                benches[i].fn(benches[i].variant);
                exit(0);
            }
            int status;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status))
                return 1;
        }
    }
    if (!found)
        usage();
    return 0;
}
