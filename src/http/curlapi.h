/* curlapi.h: libcurl, opened when the first HTTP client is made.
 *
 * Linking libcurl maps it and the thirty-odd libraries it links (OpenSSL,
 * Kerberos, LDAP, nghttp2...) into every program that links uvgo, which
 * binds their symbols at start: 5.7 MB more resident memory for an echo
 * server that never makes a request (8.4 MB against 2.7, measured with
 * uvgo-bench echo-server) and a few milliseconds of start-up.  So uvgo
 * compiles against curl's headers but opens the library with dlopen on
 * first use, as systemd does with its optional libraries, and calls it
 * through the table below.  src/http calls the usual curl_* names: the
 * macros at the end send them through the table.  Include this instead of
 * <curl/curl.h>.  UVGO_LIBCURL in the environment names the library to
 * open instead (a path, or a name the dynamic linker searches for).
 */
#ifndef UVGO_HTTP_CURLAPI_H
#define UVGO_HTTP_CURLAPI_H

/* curl's type-checking wrappers are function-like macros named like the
 * functions; ours replace the names. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

/* The functions uvgo calls, by their names without "curl_". */
#define UVGO__CURL_FUNCS(X)                                                    \
    X(global_init)                                                             \
    X(version_info)                                                            \
    X(free)                                                                    \
    X(slist_append)                                                            \
    X(slist_free_all)                                                          \
    X(easy_init)                                                               \
    X(easy_cleanup)                                                            \
    X(easy_reset)                                                              \
    X(easy_setopt)                                                             \
    X(easy_getinfo)                                                            \
    X(easy_pause)                                                              \
    X(multi_init)                                                              \
    X(multi_cleanup)                                                           \
    X(multi_setopt)                                                            \
    X(multi_add_handle)                                                        \
    X(multi_remove_handle)                                                     \
    X(multi_socket_action)                                                     \
    X(multi_info_read)                                                         \
    X(share_init)                                                              \
    X(share_cleanup)                                                           \
    X(share_setopt)                                                            \
    X(url)                                                                     \
    X(url_cleanup)                                                             \
    X(url_set)                                                                 \
    X(url_get)

/* Each member has the type curl's header gives the function. */
typedef struct uvgo__curl_api {
#define UVGO__CURL_MEMBER(name) __typeof__(curl_##name) *name;
    UVGO__CURL_FUNCS(UVGO__CURL_MEMBER)
#undef UVGO__CURL_MEMBER
} uvgo__curl_api_t;

/* Filled by uvgo__curl_load(); read-only afterwards. */
extern uvgo__curl_api_t uvgo__curl_api;

/* Opens libcurl (UVGO_LIBCURL if set, else libcurl.so.4 or libcurl.so),
 * checks it is 7.62 or later (parsed URLs), and calls
 * curl_global_init, once per process; later calls return the first
 * result.  Returns 0, or UVGO_ENOSYS (no usable libcurl: the reason is on
 * uvgo__curl_load_error()) or UVGO_ENOMEM (curl_global_init failed).
 * Thread: any. */
int uvgo__curl_load(void);

/* Why uvgo__curl_load() failed, for an error message; "" if it did not. */
const char *uvgo__curl_load_error(void);

/* curl.h defines these four as function-like macros of themselves (to
 * make callers pass exactly three arguments). */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#undef curl_share_setopt

#define curl_global_init uvgo__curl_api.global_init
#define curl_version_info uvgo__curl_api.version_info
#define curl_free uvgo__curl_api.free
#define curl_slist_append uvgo__curl_api.slist_append
#define curl_slist_free_all uvgo__curl_api.slist_free_all
#define curl_easy_init uvgo__curl_api.easy_init
#define curl_easy_cleanup uvgo__curl_api.easy_cleanup
#define curl_easy_reset uvgo__curl_api.easy_reset
#define curl_easy_setopt uvgo__curl_api.easy_setopt
#define curl_easy_getinfo uvgo__curl_api.easy_getinfo
#define curl_easy_pause uvgo__curl_api.easy_pause
#define curl_multi_init uvgo__curl_api.multi_init
#define curl_multi_cleanup uvgo__curl_api.multi_cleanup
#define curl_multi_setopt uvgo__curl_api.multi_setopt
#define curl_multi_add_handle uvgo__curl_api.multi_add_handle
#define curl_multi_remove_handle uvgo__curl_api.multi_remove_handle
#define curl_multi_socket_action uvgo__curl_api.multi_socket_action
#define curl_multi_info_read uvgo__curl_api.multi_info_read
#define curl_share_init uvgo__curl_api.share_init
#define curl_share_cleanup uvgo__curl_api.share_cleanup
#define curl_share_setopt uvgo__curl_api.share_setopt
#define curl_url uvgo__curl_api.url
#define curl_url_cleanup uvgo__curl_api.url_cleanup
#define curl_url_set uvgo__curl_api.url_set
#define curl_url_get uvgo__curl_api.url_get

#endif /* UVGO_HTTP_CURLAPI_H */
