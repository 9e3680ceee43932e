/* CONV, portable C, depthwise (one input channel per group, any multiplier, kernel, stride
 * and dilation): reads the NCHW input directly (no pre-step), one output channel at a time,
 * through zero-point-padded phase rows (dw_rows.h), so every tap is a contiguous run over the
 * output row, in fixed blocks of 16 outputs the compiler vectorizes (SSE2 / NEON code, no
 * flags; products in int16, exact for int8 x int8). acc = bias - zx * sum(w) + sum(x * w)
 * over every tap, padding included (prepare_conv.c). */
#include "dw_rows.h"

#define ACC_MAX ((ERT_DW_MAX_W + 15) / 16 * 16)

uint64_t ert_conv_s8_dw_c(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const ert_node *n = k->node;
    const size_t hw = (size_t)cv->h * (size_t)cv->w, plane = (size_t)cv->ho * (size_t)cv->wo;
    const int32_t wo = cv->wo, nb = (wo + 15) / 16;
    ert_dw_ring ring;
    int32_t acc[ACC_MAX];
    uint64_t skipped = 0;
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)(c / (uint32_t)cv->cout_g) * hw;
        int8_t *y = k->out + (size_t)c * plane;
        const int32_t m = n->multiplier[c], sh = n->shift[c];
        if (ert_dw_constant(o, c, x, hw)) {
            memset(y, ert_requant(n->bias[c], m, sh, cv->zy, cv->lo, cv->hi), plane);
            skipped += o->exec_pref[c + 1] - o->exec_pref[c];
            continue;
        }
        ert_dw_ring_reset(&ring, cv, ert_dw_row_len(cv));
        const int32_t *wc = o->dw_w + (size_t)c * (size_t)cv->taps;
        for (int32_t oy = 0; oy < cv->ho; oy++) {
            for (int32_t i = 0; i < nb * 16; i++)
                acc[i] = o->bias_corr[c];
            for (int32_t ky = 0; ky < cv->kh; ky++) {
                const int8_t *row =
                    ert_dw_ring_row(&ring, x, cv, oy * cv->sh - cv->pt + ky * cv->dh);
                for (int32_t kx = 0; kx < cv->kw; kx++) {
                    const int16_t w = (int16_t)wc[ky * cv->kw + kx];
                    if (!w)
                        continue;
                    const int8_t *src = row + (size_t)((kx * cv->dw) % cv->sw) * (size_t)ring.len +
                                        (kx * cv->dw) / cv->sw;
                    for (int32_t b = 0; b < nb * 16; b += 16)
                        for (int32_t i = 0; i < 16; i++) /* fixed length: vectorized */
                            acc[b + i] += (int16_t)(w * src[b + i]);
                }
            }
            int8_t *yr = y + (size_t)oy * (size_t)wo;
            for (int32_t ox = 0; ox < wo; ox++)
                yr[ox] = ert_requant(acc[ox], m, sh, cv->zy, cv->lo, cv->hi);
        }
    }
    return ert_static_exec(o, begin, end) - skipped;
}
