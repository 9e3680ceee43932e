/* TRANSPOSE reference kernel (docs/format.md 5): y.dims[d] = x.dims[perm[d]]. Units are output
 * rows; along a row the input is read with the stride of axis perm[3]. */
#include "shape_ops.h"

uint64_t ert_ref_transpose(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *perm = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    size_t xs[4], ys[4];
    ert_strides(xt->dims, xs);
    for (int d = 0; d < 4; d++)
        ys[d] = xs[perm[d]]; /* input stride of output axis d */
    const int32_t w = yt->dims[3];
    for (uint32_t r = begin; r < end; r++) {
        int32_t c[3];
        ert_row_coords(yt->dims, r, c);
        const int8_t *x = k->in[0] + (size_t)c[0] * ys[0] + (size_t)c[1] * ys[1] +
                          (size_t)c[2] * ys[2];
        int8_t *y = k->out + (size_t)r * (size_t)w;
        for (int32_t i = 0; i < w; i++)
            y[i] = x[(size_t)i * ys[3]];
    }
    return 0;
}
