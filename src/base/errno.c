/* errno.c: names and descriptions of error codes (UVGO_ERRNO_MAP). */
#include <string.h>

#include "uvgo.h"

/* libuv knows a code when uv_err_name_r does not fall back to its
 * "Unknown system error" text (uv_strerror would leak a string for those). */
static int libuv_knows(int err)
{
    char buf[64];
    uv_err_name_r(err, buf, sizeof buf);
    return strncmp(buf, "Unknown system error", 20) != 0;
}

const char *uvgo_strerror(int err)
{
    switch (err) {
#define UVGO_STRERROR_CASE_(name, value, msg)                                  \
    case (value):                                                              \
        return msg;
        UVGO_ERRNO_MAP(UVGO_STRERROR_CASE_)
#undef UVGO_STRERROR_CASE_
    case 0:
        return "success";
    }
    return libuv_knows(err) ? uv_strerror(err) : "unknown error";
}

const char *uvgo_err_name(int err)
{
    switch (err) {
#define UVGO_ERR_NAME_CASE_(name, value, msg)                                  \
    case (value):                                                              \
        return #name;
        UVGO_ERRNO_MAP(UVGO_ERR_NAME_CASE_)
#undef UVGO_ERR_NAME_CASE_
    case 0:
        return "OK";
    }
    return libuv_knows(err) ? uv_err_name(err) : "UNKNOWN";
}
