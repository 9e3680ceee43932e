/* MUL reference kernel (docs/format.md 5): units are elements.
 * y = clamp(zy + rshift_round((a - za) * (b - zb) * M, S), act). */
#include "kernels.h"

uint64_t ert_ref_mul(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    const int64_t za = ert_in_tensor(k, 0)->zero_point, zb = ert_in_tensor(k, 1)->zero_point;
    const int64_t zy = ert_out_tensor(k)->zero_point, m = p[P_MUL_M];
    const int s = p[P_MUL_S];
    const int8_t *a = k->in[0], *b = k->in[1];
    for (uint32_t i = begin; i < end; i++) {
        int64_t v = (a[i] - za) * (b[i] - zb) * m;
        k->out[i] = (int8_t)ert_clamp(zy + ert_rshift_round(v, s), p[P_MUL_ACT_MIN],
                                      p[P_MUL_ACT_MAX]);
    }
    return 0;
}
