/* RESIZE reference kernel (docs/format.md 5): units are channels. The table holds, per output
 * row, (i0, i1, w) and then, per output column, (j0, j1, w). Nearest copies x[i0][j0];
 * bilinear: acc = sum over the 4 taps of wy * wx * (x - zx) with wy, wx in {1024 - w, w},
 * y = clamp(zy + rshift_round(acc * M, S), -128, 127). */
#include "kernels.h"

uint64_t ert_ref_resize(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_node *n = k->node;
    const int32_t *p = n->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    const int32_t *rows = n->table, *cols = n->table + 3 * ho;
    const int64_t zx = xt->zero_point, zy = yt->zero_point, m = p[P_RESIZE_M];
    const int s = p[P_RESIZE_S];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * h * w;
        int8_t *y = k->out + (size_t)c * ho * wo;
        for (int32_t oy = 0; oy < ho; oy++) {
            const int32_t *r = rows + 3 * oy;
            for (int32_t ox = 0; ox < wo; ox++) {
                const int32_t *q = cols + 3 * ox;
                if (p[P_RESIZE_MODE] == ERT_RESIZE_NEAREST) {
                    y[oy * wo + ox] = x[r[0] * w + q[0]];
                    continue;
                }
                const int64_t wy[2] = {ERT_RESIZE_ONE - r[2], r[2]};
                const int64_t wx[2] = {ERT_RESIZE_ONE - q[2], q[2]};
                int64_t acc = 0;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        acc += wy[a] * wx[b] * (x[r[a] * w + q[b]] - zx);
                y[oy * wo + ox] =
                    (int8_t)ert_clamp(zy + ert_rshift_round(acc * m, s), INT8_MIN, INT8_MAX);
            }
        }
    }
    return 0;
}
