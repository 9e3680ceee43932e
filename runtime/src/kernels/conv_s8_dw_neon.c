/* CONV, aarch64 NEON (Cortex-A57 class: no dot product), depthwise (one input channel per
 * group, any multiplier, kernel, stride and dilation): reads the NCHW input directly (no
 * pre-step), one output channel at a time, through zero-point-padded phase rows (dw_rows.h).
 * 16 outputs at a time: taps in pairs, smull + smlal of two taps' 16 inputs into int16 (exact
 * unless both weights are -128: that pair goes one tap at a time), saddw into 4 int32
 * accumulators; requantized as conv_s8_planar_neon.c does and stored 16 bytes at a time. Every
 * tap is multiplied (zero weights too), as the accounting of ERT_ALGO_CONV_DW counts.
 * acc = bias - zx * sum(w) + sum(x * w) over every tap, padding included (prepare_conv.c). */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "dw_rows.h"

static inline void single(int32x4_t acc[4], const int8_t *x, int8x16_t w)
{
    const int8x16_t v = vld1q_s8(x);
    const int16x8_t lo = vmull_s8(vget_low_s8(v), vget_low_s8(w));
    const int16x8_t hi = vmull_high_s8(v, w);
    acc[0] = vaddw_s16(acc[0], vget_low_s16(lo));
    acc[1] = vaddw_high_s16(acc[1], lo);
    acc[2] = vaddw_s16(acc[2], vget_low_s16(hi));
    acc[3] = vaddw_high_s16(acc[3], hi);
}

/* |x1 w1 + x2 w2| <= 128 * 128 + 128 * 127 < 2^15 unless w1 = w2 = -128 */
static inline void pair(int32x4_t acc[4], const int8_t *x1, int8x16_t w1, const int8_t *x2,
                        int8x16_t w2)
{
    const int8x16_t v1 = vld1q_s8(x1), v2 = vld1q_s8(x2);
    const int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(v1), vget_low_s8(w1)), vget_low_s8(v2),
                                  vget_low_s8(w2));
    const int16x8_t hi = vmlal_high_s8(vmull_high_s8(v1, w1), v2, w2);
    acc[0] = vaddw_s16(acc[0], vget_low_s16(lo));
    acc[1] = vaddw_high_s16(acc[1], lo);
    acc[2] = vaddw_s16(acc[2], vget_low_s16(hi));
    acc[3] = vaddw_high_s16(acc[3], hi);
}

/* docs/format.md 5: vrshl by -n is exactly rshift_round (computed without overflow) */
static inline int32x4_t requant4(int32x4_t acc, int32x4_t m, int64x2_t sh, int32x4_t zy,
                                 int32x4_t lo, int32x4_t hi)
{
    const int64x2_t a = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m)), sh);
    const int64x2_t b = vrshlq_s64(vmull_high_s32(acc, m), sh);
    const int32x4_t r = vqaddq_s32(vcombine_s32(vqmovn_s64(a), vqmovn_s64(b)), zy);
    return vminq_s32(vmaxq_s32(r, lo), hi);
}

uint64_t ert_conv_s8_dw_neon(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const ert_node *n = k->node;
    const size_t hw = (size_t)cv->h * (size_t)cv->w, plane = (size_t)cv->ho * (size_t)cv->wo;
    const int32_t wo = cv->wo, taps = cv->taps;
    const int32x4_t zy = vdupq_n_s32(cv->zy), lo = vdupq_n_s32(cv->lo), hi = vdupq_n_s32(cv->hi);
    ert_dw_ring ring;
    int8x16_t wv[ERT_ROW_MAX_TAPS];
    const int8_t *src[ERT_ROW_MAX_TAPS];
    uint8_t paired[ERT_ROW_MAX_TAPS]; /* taps t, t + 1 go as a pair */
    uint64_t skipped = 0;
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)(c / (uint32_t)cv->cout_g) * hw;
        int8_t *y = k->out + (size_t)c * plane;
        if (ert_dw_constant(o, c, x, hw)) {
            memset(y, ert_requant(n->bias[c], n->multiplier[c], n->shift[c], cv->zy, cv->lo,
                                  cv->hi), plane);
            skipped += o->exec_pref[c + 1] - o->exec_pref[c];
            continue;
        }
        const int32_t *wc = o->dw_w + (size_t)c * (size_t)taps;
        for (int32_t t = 0; t < taps; t++) {
            wv[t] = vdupq_n_s8((int8_t)wc[t]);
            paired[t] = t + 1 < taps && !(wc[t] == -128 && wc[t + 1] == -128);
        }
        const int32x4_t m = vdupq_n_s32(n->multiplier[c]), bias = vdupq_n_s32(o->bias_corr[c]);
        const int64x2_t sh = vdupq_n_s64(-(int64_t)n->shift[c]);
        ert_dw_ring_reset(&ring, cv, ert_dw_row_len(cv));
        for (int32_t oy = 0; oy < cv->ho; oy++) {
            for (int32_t ky = 0; ky < cv->kh; ky++) {
                const int8_t *row =
                    ert_dw_ring_row(&ring, x, cv, oy * cv->sh - cv->pt + ky * cv->dh);
                for (int32_t kx = 0; kx < cv->kw; kx++)
                    src[ky * cv->kw + kx] = row +
                                            (size_t)((kx * cv->dw) % cv->sw) * (size_t)ring.len +
                                            (kx * cv->dw) / cv->sw;
            }
            int8_t *yr = y + (size_t)oy * (size_t)wo;
            for (int32_t ox = 0; ox < wo; ox += 16) {
                int32x4_t acc[4] = {bias, bias, bias, bias};
                for (int32_t t = 0; t < taps;) {
                    if (paired[t]) {
                        pair(acc, src[t] + ox, wv[t], src[t + 1] + ox, wv[t + 1]);
                        t += 2;
                    } else {
                        single(acc, src[t] + ox, wv[t]);
                        t++;
                    }
                }
                int32x4_t r[4];
                for (int i = 0; i < 4; i++)
                    r[i] = requant4(acc[i], m, sh, zy, lo, hi);
                const int16x8_t h0 = vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]));
                const int16x8_t h1 = vcombine_s16(vqmovn_s32(r[2]), vqmovn_s32(r[3]));
                const int8x16_t bytes = vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
                if (wo - ox >= 16) {
                    vst1q_s8(yr + ox, bytes);
                } else {
                    int8_t tail[16];
                    vst1q_s8(tail, bytes);
                    memcpy(yr + ox, tail, (size_t)(wo - ox));
                }
            }
        }
    }
    return ert_static_exec(o, begin, end) - skipped;
}
#else
typedef int ert_no_neon_dw; /* not an aarch64 build */
#endif
