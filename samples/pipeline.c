/* pipeline.c: generator -> transform -> sink, connected by channels, and
 * stopped by cancelling one context.
 *
 * Each stage is a task that loops on *_ctx sends and receives, so however
 * it is blocked (a full channel ahead, an empty one behind) it returns as
 * soon as the context is cancelled: nobody has to close channels in the
 * right order or drain them.  Main lets the pipeline run for 50 ms,
 * cancels, waits for the stages with a WaitGroup and dumps the tasks left:
 * only itself.
 *
 *   run:    ./build/samples/pipeline
 *   prints: how many values went through each stage, why each stopped
 *           (ECANCELED), and a task dump listing main alone.
 */
#include <stdio.h>
#include <uvgo.h>

struct stage {
    const char *name;
    uvgo_chan_t *in, *out; /* NULL: none (generator / sink) */
    long count;            /* values handled */
    long sum;              /* the sink's total */
    int err;               /* why it stopped */
};

static uvgo_ctx_t *ctx;

/* Counts 1, 2, 3... into its output. */
static void *generate(void *arg)
{
    struct stage *s = arg;
    for (long v = 1;; v++) {
        if ((s->err = uvgo_chan_send_ctx(s->out, &v, sizeof v, ctx)))
            return NULL;
        s->count++;
    }
}

/* Squares what comes in, modulo 1000 to keep it small. */
static void *transform(void *arg)
{
    struct stage *s = arg;
    long v;
    for (;;) {
        if ((s->err = uvgo_chan_recv_ctx(s->in, &v, sizeof v, NULL, ctx)))
            return NULL;
        v = v * v % 1000;
        if ((s->err = uvgo_chan_send_ctx(s->out, &v, sizeof v, ctx)))
            return NULL;
        s->count++;
    }
}

/* Adds up what comes in, slowly enough that the stages before it fill
 * their channels and block. */
static void *sink(void *arg)
{
    struct stage *s = arg;
    long v;
    for (;;) {
        if ((s->err = uvgo_chan_recv_ctx(s->in, &v, sizeof v, NULL, ctx)))
            return NULL;
        s->sum += v;
        s->count++;
        if (s->count % 100 == 0)
            uvgo_sleep(UVGO_MILLISECOND);
    }
}

static void *main_task(void *arg)
{
    uvgo_chan_t *a, *b;
    uvgo_wg_t wg = UVGO_WG_INIT;
    (void)arg;

    uvgo_ctx_with_cancel(&ctx, NULL);
    uvgo_chan_make(&a, sizeof(long), 16);
    uvgo_chan_make(&b, sizeof(long), 16);
    struct stage stages[3] = {
        {"generator", NULL, a, 0, 0, 0},
        {"transform", a, b, 0, 0, 0},
        {"sink", b, NULL, 0, 0, 0},
    };
    uvgo_wg_go(&wg, generate, &stages[0]);
    uvgo_wg_go(&wg, transform, &stages[1]);
    uvgo_wg_go(&wg, sink, &stages[2]);

    uvgo_sleep(50 * UVGO_MILLISECOND);
    uvgo_ctx_cancel(ctx); /* every stage returns, wherever it waits */
    uvgo_wg_wait(&wg);
    /* A task is gone once its worker has switched away from it, a moment
     * after its last call to done. */
    for (int i = 0; i < 100 && uvgo_task_count() > 1; i++)
        uvgo_sleep(UVGO_MILLISECOND);

    for (int i = 0; i < 3; i++)
        printf("%-9s handled %5ld values, stopped: %s\n", stages[i].name,
               stages[i].count, uvgo_err_name(stages[i].err));
    printf("sink total %ld; tasks left: %d\n", stages[2].sum,
           uvgo_task_count());
    uvgo_dump(stdout);

    uvgo_chan_release(a);
    uvgo_chan_release(b);
    uvgo_ctx_release(ctx);
    return NULL;
}

int main(void)
{
    int err = uvgo_main(main_task, NULL, NULL);
    if (err < 0) {
        fprintf(stderr, "uvgo_main: %s\n", uvgo_strerror(err));
        return 1;
    }
    return 0;
}
