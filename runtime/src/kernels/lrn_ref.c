/* LRN reference kernel (docs/format.md 5), across channels: units are channels.
 * acc = sum of (x_i - zx)^2 over channels [c - (size-1)/2, c + size/2] inside [0, C);
 * t = min(acc >> acc_shift, count - 1); y = clamp(zy + rshift_round((x_c - zx) * T[t], S)). */
#include "kernels.h"

uint64_t ert_ref_lrn(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_node *n = k->node;
    const int32_t *p = n->params;
    const ert_tensor *xt = ert_in_tensor(k, 0);
    const int32_t c_all = xt->dims[1], zx = xt->zero_point, zy = ert_out_tensor(k)->zero_point;
    const size_t hw = (size_t)xt->dims[2] * (size_t)xt->dims[3];
    const int32_t size = p[P_LRN_SIZE], sh = p[P_LRN_ACC_SHIFT], s = p[P_LRN_S];
    const int64_t last = (int64_t)n->table_count - 1;
    for (uint32_t c = begin; c < end; c++) {
        int32_t lo = (int32_t)c - (size - 1) / 2, hi = (int32_t)c + size / 2;
        lo = lo < 0 ? 0 : lo;
        hi = hi > c_all - 1 ? c_all - 1 : hi;
        const int8_t *x = k->in[0] + c * hw;
        int8_t *y = k->out + c * hw;
        for (size_t i = 0; i < hw; i++) {
            int64_t acc = 0;
            for (int32_t j = lo; j <= hi; j++) {
                int64_t v = k->in[0][(size_t)j * hw + i] - zx;
                acc += v * v;
            }
            int64_t t = acc >> sh;
            t = t > last ? last : t;
            int64_t v = ((int64_t)x[i] - zx) * n->table[t];
            y[i] = (int8_t)ert_clamp(zy + ert_rshift_round(v, s), INT8_MIN, INT8_MAX);
        }
    }
    return 0;
}
