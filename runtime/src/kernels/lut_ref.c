/* LUT reference kernel (docs/format.md 5): units are elements; y = T[x + 128]. Any elementwise
 * function of one quantized input (Sigmoid, HardSwish, ...) is exactly such a table. */
#include "kernels.h"

uint64_t ert_ref_lut(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int8_t *t = k->node->lut;
    for (uint32_t i = begin; i < end; i++)
        k->out[i] = t[(int32_t)k->in[0][i] + 128];
    return 0;
}
