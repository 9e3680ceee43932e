/* CLAMP reference kernel (docs/format.md 5): units are elements; y = clamp(x, lo, hi). */
#include "kernels.h"

uint64_t ert_ref_clamp(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t lo = k->node->params[P_CLAMP_LO], hi = k->node->params[P_CLAMP_HI];
    for (uint32_t i = begin; i < end; i++)
        k->out[i] = (int8_t)ert_clamp(k->in[0][i], lo, hi);
    return 0;
}
