/* bench.h: shared helpers of uvgo-bench (see ../../README and the project's
 * benchmark specification): scaling, result lines, checks, RSS. */
#ifndef UVGO_BENCH_H
#define UVGO_BENCH_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvgo.h"

/* Applies BENCH_SCALE (a float, default 1) to an op count; at least 1. */
static inline long bench_scale(long n)
{
    const char *e = getenv("BENCH_SCALE");
    double s = 1.0;
    if (e && *e) {
        char *end;
        s = strtod(e, &end);
        if (*end || s <= 0) {
            fprintf(stderr, "uvgo-bench: bad BENCH_SCALE \"%s\"\n", e);
            exit(1);
        }
    }
    long m = lround((double)n * s);
    return m > 1 ? m : 1;
}

/* A "VmXXX:" field of /proc/self/status, in KiB. */
static inline long bench_status_kb(const char *field)
{
    char line[256];
    size_t flen = strlen(field);
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Exits non-zero with a message when a benchmark's own result is wrong. */
#define bench_check(cond, ...)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "uvgo-bench: check failed: ");                     \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Prints the result line; `extra` is "key=value ..." or NULL. */
static inline void bench_report(const char *name, const char *variant, long ops,
                                int64_t elapsed_ns, const char *extra)
{
    printf("bench=%s variant=%s ops=%ld ns_per_op=%.2f rss_kb=%ld%s%s\n", name,
           variant, ops, (double)elapsed_ns / (double)ops,
           bench_status_kb("VmHWM"), extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

/* The network commands (echo.c): `echo-server [port]` and
 * `echo-client host:port [variant]`; argv as main's. */
int bench_echo_server(int argc, char **argv);
int bench_echo_client(int argc, char **argv);
/* httpd.c, built with the HTTP server (UVGO_BENCH_HTTP). */
int bench_httpd(int argc, char **argv);
/* `uvgo-bench fanout URL` (fanout.c, built with the HTTP client). */
int bench_fanout(const char *url);

#endif /* UVGO_BENCH_H */
