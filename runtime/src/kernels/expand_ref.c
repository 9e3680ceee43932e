/* EXPAND reference kernel (docs/format.md 5): numpy broadcasting of x to y's shape (each input
 * dim is 1 or the output's). Units are output rows. */
#include "shape_ops.h"

uint64_t ert_ref_expand(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    size_t xs[4];
    ert_strides(xt->dims, xs);
    for (int d = 0; d < 4; d++)
        if (xt->dims[d] == 1)
            xs[d] = 0; /* a broadcast dim repeats the same input elements */
    const int32_t w = yt->dims[3];
    for (uint32_t r = begin; r < end; r++) {
        int32_t c[3];
        ert_row_coords(yt->dims, r, c);
        const int8_t *x = k->in[0] + (size_t)c[0] * xs[0] + (size_t)c[1] * xs[1] +
                          (size_t)c[2] * xs[2];
        int8_t *y = k->out + (size_t)r * (size_t)w;
        for (int32_t i = 0; i < w; i++)
            y[i] = x[(size_t)i * xs[3]];
    }
    return 0;
}
