/* PAD reference kernel (docs/format.md 5): y[i] = x[i - begin] inside the input, else the pad
 * value (a stored byte). Units are output rows. */
#include <string.h>

#include "shape_ops.h"

uint64_t ert_ref_pad(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int8_t value = (int8_t)p[P_PAD_VALUE];
    size_t xs[4];
    ert_strides(xt->dims, xs);
    const int32_t w = yt->dims[3], b3 = p[P_PAD_BEGIN + 3], xw = xt->dims[3];
    for (uint32_t r = begin; r < end; r++) {
        int32_t c[3];
        ert_row_coords(yt->dims, r, c);
        int8_t *y = k->out + (size_t)r * (size_t)w;
        int inside = 1;
        size_t off = 0;
        for (int d = 0; d < 3; d++) {
            int32_t i = c[d] - p[P_PAD_BEGIN + d];
            inside = inside && i >= 0 && i < xt->dims[d];
            off += inside ? (size_t)i * xs[d] : 0;
        }
        if (!inside) {
            memset(y, value, (size_t)w);
            continue;
        }
        memset(y, value, (size_t)b3);
        memcpy(y + b3, k->in[0] + off, (size_t)xw);
        memset(y + b3 + xw, value, (size_t)(w - b3 - xw));
    }
    return 0;
}
