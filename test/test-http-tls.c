/* test-http-tls.c: the HTTP client's TLS against a local `openssl s_server`
 * whose certificate a test CA, made at test time, has signed.  Skipped
 * (with the reason) where the openssl program is missing. */
#define _GNU_SOURCE
#include <spawn.h>
#include <sys/stat.h>

#include "test.h"

extern char **environ;

static char dir[64] = "/tmp/uvgo-tls-XXXXXX";
static char ca[128], other_ca[128];
static int port;
static pid_t server;

static void run(const char *cmd)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "cd %s && %s >>log 2>&1", dir, cmd);
    if (system(buf) != 0) {
        fprintf(stderr, "test-http-tls: failed: %s (see %s/log)\n", cmd, dir);
        exit(1);
    }
}

/* A CA, a server key and certificate for 127.0.0.1 signed by it, and a
 * second CA that signed nothing. */
static void make_certs(void)
{
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    char cmd[1024];
    FILE *f;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(cmd, sizeof cmd, "%s/ext.cnf", dir);
    f = fopen(cmd, "w");
    fprintf(f, "basicConstraints=CA:FALSE\n"
               "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    fclose(f);
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 %s -keyout ca%d.key -out ca%d.pem -days 2 "
                 "-subj /CN=uvgo-test-ca-%d "
                 "-addext basicConstraints=critical,CA:TRUE "
                 "-addext keyUsage=critical,keyCertSign,cRLSign",
                 ec, i, i, i);
        run(cmd);
    }
    snprintf(cmd, sizeof cmd,
             "openssl req %s -keyout srv.key -out srv.csr -subj /CN=127.0.0.1",
             ec);
    run(cmd);
    run("openssl x509 -req -in srv.csr -CA ca0.pem -CAkey ca0.key "
        "-CAcreateserial -out srv.pem -days 2 -extfile ext.cnf");
    snprintf(ca, sizeof ca, "%s/ca0.pem", dir);
    snprintf(other_ca, sizeof other_ca, "%s/ca1.pem", dir);
}

/* Starts s_server on a free port and reads the port from its output. */
static void start_server(void)
{
    char out[128], cert[128], key[128], line[256];
    posix_spawn_file_actions_t fa;
    char *argv[] = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                    cert,      "-key",     key,       "-www",        NULL};

    snprintf(out, sizeof out, "%s/server.out", dir);
    snprintf(cert, sizeof cert, "%s/srv.pem", dir);
    snprintf(key, sizeof key, "%s/srv.key", dir);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&server, "openssl", &fa, NULL, argv, environ)) {
        perror("posix_spawnp openssl");
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    /* Waiting for a child process's output: nothing to synchronise on but
     * the file it writes. */
    for (int i = 0; i < 1000 && !port; i++) {
        FILE *f = fopen(out, "r");
        while (f && fgets(line, sizeof line, f))
            sscanf(line, "ACCEPT 127.0.0.1:%d", &port);
        if (f)
            fclose(f);
        if (!port)
            usleep(10000);
    }
    if (!port) {
        fprintf(stderr, "test-http-tls: s_server did not start\n");
        kill(server, SIGTERM);
        exit(1);
    }
}

static void cleanup(void)
{
    char cmd[128];
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test-http-tls: could not remove %s\n", dir);
}

/* GET https://127.0.0.1:port/ with these options; returns the error or the
 * status, and the error text in `text`. */
static int get(const uvgo_http_client_opts_t *o, char *text)
{
    uvgo_http_client_t *c;
    uvgo_http_response_t *r;
    char u[64], *body;
    size_t len;
    int result;

    snprintf(u, sizeof u, "https://127.0.0.1:%d/", port);
    ASSERT_OK(uvgo_http_client_make(&c, o));
    uvgo_http_client_request_t req = {.url = u};
    result = uvgo_http_do(c, &req, &r);
    if (text)
        strcpy(text, req.error);
    if (!result) {
        ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 1 << 20));
        ASSERT(strstr(body, "s_server"));
        ASSERT_STR_EQ(r->proto, "HTTP/1.0");
        result = r->status;
        uvgo_http_response_free(r);
    }
    ASSERT_OK(uvgo_http_client_free(c));
    return result;
}

static void verified_against_the_test_ca(void)
{
    uvgo_http_client_opts_t o = {.ca_file = ca};
    ASSERT_EQ(get(&o, NULL), 200);
}

static void certificate_of_another_ca_is_rejected(void)
{
    char text[UVGO_HTTP_ERROR_MAX];
    uvgo_http_client_opts_t o = {.ca_file = other_ca};
    ASSERT_ERR(get(&o, text), UVGO_ETLSVERIFY);
    ASSERT(strstr(text, "certificate"));
}

static void system_cas_do_not_trust_a_private_ca(void)
{
    ASSERT_ERR(get(NULL, NULL), UVGO_ETLSVERIFY);
}

static void insecure_skip_verify_accepts_any_certificate(void)
{
    uvgo_http_client_opts_t o = {.insecure_skip_verify = 1};
    ASSERT_EQ(get(&o, NULL), 200);
}

static void unreadable_ca_file_is_a_tls_error(void)
{
    uvgo_http_client_opts_t o = {.ca_file = "/nonexistent/ca.pem"};
    ASSERT_ERR(get(&o, NULL), UVGO_ETLS);
}

struct on_worker {
    uvgo_http_client_t *c;
    char line[16]; /* "New," or "Reused,": how s_server saw the session */
};

static void *get_here(void *arg)
{
    struct on_worker *w = arg;
    uvgo_http_response_t *r;
    char u[64], *body, *p;
    size_t len;
    snprintf(u, sizeof u, "https://127.0.0.1:%d/", port);
    ASSERT_OK(uvgo_http_get(w->c, u, &r));
    ASSERT_OK(uvgo_http_response_read_all(r, &body, &len, 1 << 20));
    p = strstr(body, "\nNew,")      ? "New,"
        : strstr(body, "\nReused,") ? "Reused,"
                                    : "?";
    strcpy(w->line, p);
    uvgo_http_response_free(r);
    return NULL;
}

/* A GET from worker `worker` (s_server -www closes each connection, so
 * every GET makes a new one and a TLS handshake). */
static const char *session_from(uvgo_http_client_t *c, int worker)
{
    static struct on_worker w;
    uvgo_task_t *t;
    uvgo_task_opts_t o = {.worker = worker + 1, .flags = UVGO_TASK_PINNED};
    w = (struct on_worker){c, ""};
    ASSERT_OK(uvgo_task_spawn(&t, get_here, &w, &o));
    ASSERT_OK(uvgo_task_join(t, NULL));
    return w.line;
}

static void tls_sessions_are_shared_between_workers(void)
{
    uvgo_http_client_opts_t o = {.ca_file = ca};
    uvgo_http_client_t *c, *other;
    ASSERT_OK(uvgo_http_client_make(&c, &o));
    ASSERT_OK(uvgo_http_client_make(&other, &o));
    ASSERT_STR_EQ(session_from(c, 0), "New,");
    /* Another worker's multi handle, another connection pool: the session
     * comes from the client's shared cache. */
    ASSERT_STR_EQ(session_from(c, 1), "Reused,");
    /* Another client shares nothing with the first. */
    ASSERT_STR_EQ(session_from(other, 1), "New,");
    ASSERT_OK(uvgo_http_client_free(c));
    ASSERT_OK(uvgo_http_client_free(other));
}

static const test_case_t cases[] = {
    CASE(verified_against_the_test_ca),
    CASE(certificate_of_another_ca_is_rejected),
    CASE(system_cas_do_not_trust_a_private_ca),
    CASE(insecure_skip_verify_accepts_any_certificate),
    CASE(unreadable_ca_file_is_a_tls_error),
    CASE_PROCS(tls_sessions_are_shared_between_workers, 2),
};

int main(int argc, char **argv)
{
    int failed;
    if (system("openssl version >/dev/null 2>&1") != 0) {
        printf("1..0 # SKIP the openssl program is missing\n");
        return 0;
    }
    make_certs();
    start_server();
    failed = test_run_(argc, argv, cases, sizeof cases / sizeof cases[0]);
    cleanup();
    return failed;
}
