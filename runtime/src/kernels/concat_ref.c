/* CONCAT reference kernel (docs/format.md 5): units are the outer slices (the product of the
 * dims before the axis). Input i is requantized into the output's scale:
 * y = clamp(zy + rshift_round((x - z_i) * M_i, S_i), -128, 127). */
#include "kernels.h"

uint64_t ert_ref_concat(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_node *n = k->node;
    const ert_tensor *yt = ert_out_tensor(k);
    const int32_t axis = n->params[P_CONCAT_AXIS];
    const int64_t zy = yt->zero_point;
    size_t inner_y = 1;
    for (uint32_t d = (uint32_t)axis; d < yt->rank; d++)
        inner_y *= (size_t)yt->dims[d];
    for (uint32_t o = begin; o < end; o++) {
        int8_t *y = k->out + o * inner_y;
        for (uint32_t j = 0; j < n->n_inputs; j++) {
            const ert_tensor *xt = ert_in_tensor(k, j);
            /* inner size of input j = its axis extent times the (shared) trailing dims */
            size_t inner = inner_y / (size_t)yt->dims[axis] * (size_t)xt->dims[axis];
            const int8_t *x = k->in[j] + o * inner;
            const int64_t m = n->params[1 + 2 * j], zx = xt->zero_point;
            const int s = n->params[2 + 2 * j];
            for (size_t i = 0; i < inner; i++)
                y[i] = (int8_t)ert_clamp(zy + ert_rshift_round((x[i] - zx) * m, s), INT8_MIN,
                                         INT8_MAX);
            y += inner;
        }
    }
    return 0;
}
