/* debug.c: the observability handler (what Go users mount from
 * net/http/pprof): the task dump as text and JSON, and the runtime's
 * counters (uvgo/metrics.h) as JSON, under a prefix the user chooses.
 *
 * Pages are built in memory first (open_memstream), then written: the
 * task walk and the dump run while other tasks keep running, and nothing
 * that may block (a write to a slow client) runs inside them.
 */
#include <stdio.h>

#include "http/http.h"

static const char index_page[] =
    "uvgo debug pages\n"
    "\n"
    "tasks       every task: id, name, state, what it waits on, worker\n"
    "tasks.json  the same as JSON\n"
    "vars        runtime counters as JSON (uvgo_metrics_read)\n";

/* Writes s as a JSON string. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int task_json(const uvgo_task_info_t *t, void *arg)
{
    FILE *f = arg;
    long pos = ftell(f);
    fprintf(f, "%s\n  {\"id\": %llu, \"name\": ", pos > 2 ? "," : "",
            (unsigned long long)t->id);
    json_str(f, t->name);
    fprintf(f, ", \"state\": ");
    json_str(f, t->state);
    fprintf(f, ", \"wait\": ");
    json_str(f, t->wait);
    fprintf(f, ", \"worker\": %d, \"stack_size\": %zu}", t->worker,
            t->stack_size);
    return 0;
}

static void metrics_json(FILE *f, const uvgo_worker_metrics_t *m)
{
    fprintf(f,
            "{\"tasks_run\": %llu, \"parks\": %llu, \"yields\": %llu, "
            "\"steals\": %llu, \"tasks_stolen\": %llu, "
            "\"inbox_tasks\": %llu, \"doorbells\": %llu, \"polls\": %llu, "
            "\"spawned\": %llu, \"runnable\": %lld, \"timers\": %lld, "
            "\"busy_ns\": %lld, \"idle_ns\": %lld}",
            (unsigned long long)m->tasks_run, (unsigned long long)m->parks,
            (unsigned long long)m->yields, (unsigned long long)m->steals,
            (unsigned long long)m->tasks_stolen,
            (unsigned long long)m->inbox_tasks,
            (unsigned long long)m->doorbells, (unsigned long long)m->polls,
            (unsigned long long)m->spawned, (long long)m->runnable,
            (long long)m->timers, (long long)m->busy_ns, (long long)m->idle_ns);
}

static void vars_json(FILE *f)
{
    uvgo_metrics_t m;
    int workers = uvgo_worker_count();
    /* On the heap: a task's stack is small. */
    uvgo_worker_metrics_t *per =
        uvgo__calloc(workers > 0 ? (size_t)workers : 1, sizeof *per);
    int n = per ? uvgo_metrics_read(&m, per, workers) : UVGO_ENOMEM;
    if (n < 0) {
        uvgo__free(per);
        fprintf(f, "{\"error\": ");
        json_str(f, uvgo_strerror(n));
        fprintf(f, "}\n");
        return;
    }
    fprintf(f,
            "{\"workers\": %d, \"tasks_alive\": %lld, "
            "\"latency_p50_ns\": %lld, \"latency_p99_ns\": %lld,\n"
            " \"total\": ",
            m.workers, (long long)m.tasks_alive, (long long)m.latency_p50_ns,
            (long long)m.latency_p99_ns);
    metrics_json(f, &m.total);
    fprintf(f, ",\n \"per_worker\": [");
    for (int i = 0; i < n && i < workers; i++) {
        fprintf(f, "%s\n  ", i ? "," : "");
        metrics_json(f, &per[i]);
    }
    fprintf(f, "\n ]}\n");
    uvgo__free(per);
}

/* The page name: what follows the mount point (the path part of the
 * matched pattern), or else the last path segment. */
static const char *page_of(uvgo_http_request_t *r)
{
    const char *mount = strchr(r->pattern, '/');
    size_t mlen = mount ? strlen(mount) : 0;
    if (mount && mlen && mount[mlen - 1] == '/' &&
        !strncmp(r->path, mount, mlen))
        return r->path + mlen;
    const char *slash = strrchr(r->path, '/');
    return slash ? slash + 1 : r->path;
}

void uvgo_http_debug_serve(uvgo_http_writer_t *w, uvgo_http_request_t *r,
                           void *arg)
{
    uvgo_http_header_t *h = uvgo_http_writer_header(w);
    const char *page = page_of(r), *type = "application/json";
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    (void)arg;

    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
        uvgo_http_header_set(h, "Allow", "GET, HEAD");
        uvgo_http_writer_error(w, 405, uvgo_http_status_text(405));
        return;
    }
    if (!(f = open_memstream(&buf, &len))) {
        uvgo_http_writer_error(w, 500, "out of memory");
        return;
    }
    if (!*page) {
        fputs(index_page, f);
        type = "text/plain; charset=utf-8";
    } else if (!strcmp(page, "tasks")) {
        uvgo_dump(f);
        type = "text/plain; charset=utf-8";
    } else if (!strcmp(page, "tasks.json")) {
        fputc('[', f);
        uvgo_task_walk(task_json, f);
        fputs("\n]\n", f);
    } else if (!strcmp(page, "vars")) {
        vars_json(f);
    } else {
        fclose(f);
        free(buf); /* open_memstream's, from the C library */
        uvgo_http_writer_error(w, 404, "404 page not found");
        return;
    }
    fclose(f);
    uvgo_http_header_set(h, "Content-Type", type);
    uvgo_http_header_set(h, "Cache-Control", "no-store");
    uvgo_http_writer_write(w, buf, len);
    free(buf);
}
