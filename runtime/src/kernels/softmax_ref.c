/* SOFTMAX reference kernel (docs/format.md 5) over the last axis: units are rows.
 * e_j = T[max - x_j]; y_j = clamp(rdiv(e_j * 256, sum e) - 128, -128, 127). */
#include "kernels.h"

uint64_t ert_ref_softmax(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_tensor *xt = ert_in_tensor(k, 0);
    const size_t row = (size_t)xt->dims[xt->rank - 1];
    const int32_t *t = k->node->exp_table;
    for (uint32_t r = begin; r < end; r++) {
        const int8_t *x = k->in[0] + r * row;
        int8_t *y = k->out + r * row;
        int32_t mx = INT8_MIN;
        for (size_t j = 0; j < row; j++)
            if (x[j] > mx)
                mx = x[j];
        int64_t sum = 0; /* <= 2^28 * 2^24 */
        for (size_t j = 0; j < row; j++)
            sum += t[mx - x[j]];
        for (size_t j = 0; j < row; j++)
            y[j] = (int8_t)ert_clamp(ert_rdiv((int64_t)t[mx - x[j]] * 256, sum) - 128, INT8_MIN,
                                     INT8_MAX);
    }
    return 0;
}
