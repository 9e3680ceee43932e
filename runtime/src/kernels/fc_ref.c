/* FC reference kernels (docs/format.md 5): units are output features.
 * acc[c] = bias[c] + sum_k (x[k] - zx) * w[c][k]; y = clamp(zy + rshift_round(acc * M, n)). */
#include "kernels.h"

uint64_t ert_ref_fc_dense(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_node *n = k->node;
    const int32_t zx = ert_in_tensor(k, 0)->zero_point, zy = ert_out_tensor(k)->zero_point;
    const int32_t lo = n->params[P_FC_ACT_MIN], hi = n->params[P_FC_ACT_MAX];
    const int8_t *x = k->in[0];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *w = n->w.dense + (size_t)c * n->k;
        int32_t acc = n->bias[c];
        for (uint32_t i = 0; i < n->k; i++)
            acc += ((int32_t)x[i] - zx) * w[i];
        k->out[c] = ert_requant(acc, n->multiplier[c], n->shift[c], zy, lo, hi);
    }
    return (uint64_t)(end - begin) * n->k;
}

/* Walks the stored (value, step) pairs; padding pairs and pruned weights cost nothing. */
uint64_t ert_ref_fc_sparse(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_node *n = k->node;
    const int32_t zx = ert_in_tensor(k, 0)->zero_point, zy = ert_out_tensor(k)->zero_point;
    const int32_t lo = n->params[P_FC_ACT_MIN], hi = n->params[P_FC_ACT_MAX];
    const int8_t *x = k->in[0];
    uint64_t macs = 0;
    for (uint32_t c = begin; c < end; c++) {
        int32_t acc = n->bias[c];
        int64_t pos = -1;
        for (uint32_t i = n->w.row_start[c]; i < n->w.row_start[c + 1]; i++) {
            pos += n->w.steps[i] + 1;
            if (n->w.values[i] == 0)
                continue;
            acc += ((int32_t)x[pos] - zx) * n->w.values[i];
            macs++;
        }
        k->out[c] = ert_requant(acc, n->multiplier[c], n->shift[c], zy, lo, hi);
    }
    return macs;
}
