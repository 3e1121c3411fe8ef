/* curlapi.c: opens libcurl on first use (see curlapi.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/curlapi.h"
#include "uvgo/errno.h"

uvgo__curl_api_t uvgo__curl_api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_result;
static char load_error[256];

/* The sonames libcurl's one ABI has carried since 7.16: the OpenSSL build,
 * then Debian's GnuTLS and NSS builds (whichever -dev package uvgo was
 * built against), then the development link. */
static const char *const names[] = {
#ifdef __APPLE__
    "libcurl.4.dylib",
    "libcurl.dylib",
#else
    "libcurl.so.4",
    "libcurl-gnutls.so.4",
    "libcurl-nss.so.4",
    "libcurl.so",
#endif
};

static void load(void)
{
    const char *env = getenv("UVGO_LIBCURL");
    int named = env && *env; /* the library the user names, and no other */
    size_t n = named ? 1 : sizeof names / sizeof names[0];
    curl_version_info_data *v;
    void *h = NULL;

    for (size_t i = 0; !h && i < n; i++) {
        /* RTLD_LOCAL: its symbols stay out of the program's namespace (a
         * program that links its own libcurl keeps calling that one). */
        h = dlopen(named ? env : names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h && i == 0) /* the first name's reason, copied at once */
            snprintf(load_error, sizeof load_error, "libcurl: %s", dlerror());
    }
    if (!h) {
        load_result = UVGO_ENOSYS;
        return;
    }
    load_error[0] = '\0';
#define UVGO__CURL_SYM(name)                                                   \
    if (!(*(void **)&uvgo__curl_api.name = dlsym(h, "curl_" #name))) {         \
        snprintf(load_error, sizeof load_error,                                \
                 "libcurl: no curl_" #name " (7.62 or later needed)");         \
        load_result = UVGO_ENOSYS;                                             \
        return;                                                                \
    }
    UVGO__CURL_FUNCS(UVGO__CURL_SYM)
#undef UVGO__CURL_SYM
    v = curl_version_info(CURLVERSION_NOW);
    if (!v || v->version_num < 0x073e00) {
        snprintf(load_error, sizeof load_error,
                 "libcurl %s: 7.62 or later needed",
                 v && v->version ? v->version : "?");
        load_result = UVGO_ENOSYS;
        return;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof load_error,
                 "libcurl: curl_global_init failed");
        load_result = UVGO_ENOMEM;
    }
    /* The handle stays open: curl's memory and threads live until exit. */
}

int uvgo__curl_load(void)
{
    pthread_once(&load_once, load);
    return load_result;
}

const char *uvgo__curl_load_error(void)
{
    pthread_once(&load_once, load);
    return load_error;
}
