/* CONV reference kernels (docs/format.md 5): units are output channels.
 * acc[c] = bias[c] + sum (x - zx) * w over the window; padding positions hold zx, i.e. add
 * nothing, so they are skipped. y = clamp(zy + rshift_round(acc * M[c], n[c]), act). */
#include "kernels.h"

typedef struct conv_geom {
    int32_t c, h, w, co, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw, cin_g, cout_g;
    int32_t zx, zy, lo, hi;
} conv_geom;

static conv_geom geom(const ert_kctx *k)
{
    const int32_t *p = k->node->params;
    const ert_tensor *x = ert_in_tensor(k, 0), *y = ert_out_tensor(k);
    conv_geom g = {x->dims[1], x->dims[2], x->dims[3], y->dims[1], y->dims[2], y->dims[3],
                   p[P_KH], p[P_KW], p[P_SH], p[P_SW], p[P_PT], p[P_PL], p[P_CONV_DH],
                   p[P_CONV_DW], x->dims[1] / p[P_CONV_GROUPS],
                   y->dims[1] / p[P_CONV_GROUPS], x->zero_point, y->zero_point,
                   p[P_CONV_ACT_MIN], p[P_CONV_ACT_MAX]};
    return g;
}

uint64_t ert_ref_conv_dense(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_node *n = k->node;
    const conv_geom g = geom(k);
    uint64_t macs = 0;
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *w = n->w.dense + (size_t)c * n->k;
        /* the input channels of this output channel's group */
        const int8_t *xg = k->in[0] + (size_t)(c / (uint32_t)g.cout_g) * g.cin_g * g.h * g.w;
        int8_t *y = k->out + (size_t)c * g.ho * g.wo;
        for (int32_t oy = 0; oy < g.ho; oy++) {
            for (int32_t ox = 0; ox < g.wo; ox++) {
                int32_t acc = n->bias[c];
                for (int32_t ci = 0; ci < g.cin_g; ci++) {
                    for (int32_t ky = 0; ky < g.kh; ky++) {
                        int32_t iy = oy * g.sh - g.pt + ky * g.dh;
                        if (iy < 0 || iy >= g.h)
                            continue;
                        for (int32_t kx = 0; kx < g.kw; kx++) {
                            int32_t ix = ox * g.sw - g.pl + kx * g.dw;
                            if (ix < 0 || ix >= g.w)
                                continue;
                            acc += ((int32_t)xg[((size_t)ci * g.h + iy) * g.w + ix] - g.zx) *
                                   w[(ci * g.kh + ky) * g.kw + kx];
                            macs++;
                        }
                    }
                }
                y[oy * g.wo + ox] = ert_requant(acc, n->multiplier[c], n->shift[c], g.zy, g.lo,
                                                g.hi);
            }
        }
    }
    return macs;
}

/* Walks the stored (value, step) pairs of each row; padding pairs (value 0) and pruned
 * weights are never multiplied. */
uint64_t ert_ref_conv_sparse(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_node *n = k->node;
    const conv_geom g = geom(k);
    const int32_t khw = g.kh * g.kw;
    uint64_t macs = 0;
    for (uint32_t c = begin; c < end; c++) {
        const uint32_t p0 = n->w.row_start[c], p1 = n->w.row_start[c + 1];
        const int8_t *xg = k->in[0] + (size_t)(c / (uint32_t)g.cout_g) * g.cin_g * g.h * g.w;
        int8_t *y = k->out + (size_t)c * g.ho * g.wo;
        for (int32_t oy = 0; oy < g.ho; oy++) {
            for (int32_t ox = 0; ox < g.wo; ox++) {
                int32_t acc = n->bias[c];
                int32_t pos = -1;
                for (uint32_t i = p0; i < p1; i++) {
                    pos += n->w.steps[i] + 1;
                    int32_t v = n->w.values[i];
                    if (v == 0)
                        continue;
                    int32_t ci = pos / khw, r = pos % khw;
                    int32_t iy = oy * g.sh - g.pt + (r / g.kw) * g.dh;
                    int32_t ix = ox * g.sw - g.pl + (r % g.kw) * g.dw;
                    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
                        continue;
                    acc += ((int32_t)xg[((size_t)ci * g.h + iy) * g.w + ix] - g.zx) * v;
                    macs++;
                }
                y[oy * g.wo + ox] = ert_requant(acc, n->multiplier[c], n->shift[c], g.zy, g.lo,
                                                g.hi);
            }
        }
    }
    return macs;
}
