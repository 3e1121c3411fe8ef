/* test-switch.c: the context-switch layer alone (src/runtime/switch.h), with no
 * runtime, so it also runs for another architecture under an emulator
 * (CI cross-builds it for aarch64 and runs it under qemu-user).
 *
 * Two contexts ping-pong many times while each keeps values in callee-saved
 * integer and floating-point registers and changes the rounding mode; any
 * register the switch fails to save shows up as a wrong result. */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/switch.h"

static uvgo__exec_t main_ctx, a_ctx, b_ctx;
static long switches;
static double result_a, result_b;
static int fail;

#define N 100000

static void check(int cond, const char *what)
{
    if (!cond) {
        printf("# %s\n", what);
        fail = 1;
    }
}

static void task_a(void *arg)
{
    double x = 1.5;
    long keep = (long)(intptr_t)arg;
    for (long i = 0; i < N; i++) {
        x = x * 1.000001 + 0.5;
        switches++;
        uvgo__switch_to(&a_ctx, &b_ctx);
        if (keep != 12345)
            check(0, "a: callee-saved integer register lost");
    }
    result_a = x;
    uvgo__switch_to(&a_ctx, &main_ctx);
    abort(); /* never resumed */
}

static void task_b(void *arg)
{
    double y = 2.25;
    (void)arg;
    /* b rounds toward zero; a and main keep the default: the control word
     * is part of each context. */
    fesetround(FE_TOWARDZERO);
    for (long i = 0;; i++) {
        y = y * 0.999999 + 0.25;
        switches += 1000;
        check(fegetround() == FE_TOWARDZERO, "b: rounding mode lost");
        uvgo__switch_to(&b_ctx, &a_ctx);
        if (i + 1 >= N)
            break;
    }
    result_b = y;
    uvgo__switch_to(&b_ctx, &main_ctx);
    abort();
}

int main(void)
{
    size_t size = 64 * 1024;
    char *sa = malloc(size), *sb = malloc(size);
    double ex = 1.5, ey = 2.25, local = 3.0;

    printf("1..3\n");
    uvgo__switch_make(&a_ctx, sa, size, task_a, (void *)(intptr_t)12345);
    uvgo__switch_make(&b_ctx, sb, size, task_b, NULL);
    uvgo__switch_to(&main_ctx, &a_ctx);
    uvgo__switch_to(&main_ctx, &b_ctx); /* let b finish its loop */
    check(fegetround() == FE_TONEAREST, "main: rounding mode changed");
    printf("%s 1 - %ld switches delivered in order\n",
           switches == (long)N * 1001 ? "ok" : "not ok", switches);
    for (long i = 0; i < N; i++)
        ex = ex * 1.000001 + 0.5;
    fesetround(FE_TOWARDZERO);
    for (long i = 0; i < N; i++)
        ey = ey * 0.999999 + 0.25;
    fesetround(FE_TONEAREST);
    printf("%s 2 - floating-point state survives switches\n",
           result_a == ex && result_b == ey && local == 3.0 ? "ok" : "not ok");
    printf("%s 3 - registers and control words kept per context\n",
           fail ? "not ok" : "ok");
    free(sa);
    free(sb);
    return 0;
}
