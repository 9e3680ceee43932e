/* MAXPOOL, AVGPOOL, GLOBALAVGPOOL reference kernels (docs/format.md 5): units are channels.
 * Windows are clipped to the input (the loader guarantees none is empty). */
#include "kernels.h"

typedef struct window {
    int32_t y0, y1, x0, x1; /* input rows/cols inside the window, [y0, y1) x [x0, x1) */
    int32_t count_padded;   /* positions of the window inside the padded input */
} window;

static window clip(const int32_t *p, int32_t h, int32_t w, int32_t oy, int32_t ox)
{
    int32_t ys = oy * p[P_SH] - p[P_PT], xs = ox * p[P_SW] - p[P_PL];
    int32_t ye = ys + p[P_KH], xe = xs + p[P_KW];
    window r;
    r.y0 = ys < 0 ? 0 : ys;
    r.y1 = ye > h ? h : ye;
    r.x0 = xs < 0 ? 0 : xs;
    r.x1 = xe > w ? w : xe;
    /* window starts are >= -pad, so only the far end can leave the padded input (ceil mode) */
    int32_t ph = (ye > h + p[P_PB] ? h + p[P_PB] : ye) - ys;
    int32_t pw = (xe > w + p[P_PR] ? w + p[P_PR] : xe) - xs;
    r.count_padded = ph * pw;
    return r;
}

uint64_t ert_ref_maxpool(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * h * w;
        int8_t *y = k->out + (size_t)c * ho * wo;
        for (int32_t oy = 0; oy < ho; oy++)
            for (int32_t ox = 0; ox < wo; ox++) {
                window r = clip(p, h, w, oy, ox);
                int8_t m = INT8_MIN;
                for (int32_t iy = r.y0; iy < r.y1; iy++)
                    for (int32_t ix = r.x0; ix < r.x1; ix++)
                        if (x[iy * w + ix] > m)
                            m = x[iy * w + ix];
                y[oy * wo + ox] = m;
            }
    }
    return 0;
}

uint64_t ert_ref_avgpool(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    const int32_t zx = xt->zero_point, zy = yt->zero_point;
    const int64_t m = p[P_AVG_M];
    const int s = p[P_AVG_S];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * h * w;
        int8_t *y = k->out + (size_t)c * ho * wo;
        for (int32_t oy = 0; oy < ho; oy++)
            for (int32_t ox = 0; ox < wo; ox++) {
                window r = clip(p, h, w, oy, ox);
                int64_t acc = 0;
                for (int32_t iy = r.y0; iy < r.y1; iy++)
                    for (int32_t ix = r.x0; ix < r.x1; ix++)
                        acc += x[iy * w + ix] - zx;
                int64_t count = p[P_AVG_INCLUDE_PAD] ? r.count_padded
                                                     : (int64_t)(r.y1 - r.y0) * (r.x1 - r.x0);
                y[oy * wo + ox] =
                    (int8_t)ert_clamp(zy + ert_rdiv(acc * m, count << s), INT8_MIN, INT8_MAX);
            }
    }
    return 0;
}

uint64_t ert_ref_globalavgpool(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_tensor *xt = ert_in_tensor(k, 0);
    const int32_t zx = xt->zero_point, zy = ert_out_tensor(k)->zero_point;
    const size_t hw = (size_t)xt->dims[2] * xt->dims[3];
    const int64_t m = k->node->params[P_GAP_M];
    const int s = k->node->params[P_GAP_S];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + c * hw;
        int64_t acc = 0;
        for (size_t i = 0; i < hw; i++)
            acc += x[i] - zx;
        k->out[c] = (int8_t)ert_clamp(zy + ert_rdiv(acc * m, (int64_t)hw << s), INT8_MIN,
                                      INT8_MAX);
    }
    return 0;
}
