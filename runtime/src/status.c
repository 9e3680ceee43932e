/* Status sentences, error formatting and the op-name table. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

const char *edgert_status_str(edgert_status status)
{
    switch (status) {
    case EDGERT_OK: return "success";
    case EDGERT_ERR_INVALID_ARG: return "an argument is invalid (NULL pointer, index out of range "
                                        "or bad option)";
    case EDGERT_ERR_IO: return "the model file cannot be opened, read or mapped";
    case EDGERT_ERR_FORMAT: return "the model is truncated, corrupt or not a valid .ecm file";
    case EDGERT_ERR_ALIGNMENT: return "the model buffer is not 16-byte aligned (weights are used "
                                      "in place; copy it into an aligned buffer)";
    case EDGERT_ERR_NO_MEMORY: return "out of memory";
    case EDGERT_ERR_SHAPE: return "a tensor buffer has the wrong size for the model";
    case EDGERT_ERR_UNAVAILABLE: return "the tensor is not available (not kept by this session, "
                                        "or no run yet)";
    case EDGERT_ERR_UNSUPPORTED: return "the operation is not supported on this host or with "
                                        "these options";
    case EDGERT_ERR_THREAD: return "worker threads could not be started";
    }
    return "unknown status code";
}

edgert_status ert_fail(char *err, size_t errlen, edgert_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

const char *ert_op_name(uint32_t code)
{
    switch (code) {
#define ERT_OP(NAME, c, check, dense, sparse) case c: return #NAME;
#include "ops.def"
#undef ERT_OP
    }
    return NULL;
}
