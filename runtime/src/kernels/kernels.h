/* Kernel declarations. Every kernel has the uniform ert_kernel_fn signature (internal.h):
 * compute work units [begin, end) of one node and return the MACs performed. Reference
 * kernels are plain loops implementing docs/format.md section 5 literally; optimized sets must
 * produce the same bytes. */
#ifndef ERT_KERNELS_H
#define ERT_KERNELS_H

#include "../internal.h"
#include "../requant.h"

#define ERT_OP(NAME, code, check, dense, sparse)                     \
    uint64_t dense(const ert_kctx *k, uint32_t begin, uint32_t end); \
    uint64_t sparse(const ert_kctx *k, uint32_t begin, uint32_t end);
#include "../ops.def"
#undef ERT_OP

static inline const ert_tensor *ert_in_tensor(const ert_kctx *k, uint32_t j)
{
    return &k->model->tensors[k->node->inputs[j]];
}

static inline const ert_tensor *ert_out_tensor(const ert_kctx *k)
{
    return &k->model->tensors[k->node->output];
}

#endif
