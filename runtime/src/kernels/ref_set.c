/* The reference kernel set, generated from ops.def. */
#include "kernels.h"

const ert_kernel_set ert_reference_kernels = {
    "reference",
    {
#define ERT_OP(NAME, code, check, dense, sparse) [code] = dense,
#include "../ops.def"
#undef ERT_OP
    },
    {
#define ERT_OP(NAME, code, check, dense, sparse) [code] = sparse,
#include "../ops.def"
#undef ERT_OP
    },
};
