/* CONV, aarch64 NEON (Cortex-A57 class: no dot-product instructions), planar s8 layout
 * (opt.h): non-zero weights in pairs, smull + smlal multiply two weights' runs of 16 inputs
 * into int16 (exact unless both weights are -128, which goes one at a time), saddw widens into
 * int32 accumulators. Tile: 32 positions, 8 accumulators. */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "opt_kernels.h"

#define TILE 32

static inline void single(int32x4_t *acc, const int8_t *x, int32_t w)
{
    const int8x16_t wv = vdupq_n_s8((int8_t)w);
    for (int g = 0; g < 2; g++) {
        int8x16_t v = vld1q_s8(x + 16 * g);
        int16x8_t lo = vmull_s8(vget_low_s8(v), vget_low_s8(wv));
        int16x8_t hi = vmull_high_s8(v, wv);
        acc[4 * g] = vaddw_s16(acc[4 * g], vget_low_s16(lo));
        acc[4 * g + 1] = vaddw_high_s16(acc[4 * g + 1], lo);
        acc[4 * g + 2] = vaddw_s16(acc[4 * g + 2], vget_low_s16(hi));
        acc[4 * g + 3] = vaddw_high_s16(acc[4 * g + 3], hi);
    }
}

/* |x1 w1 + x2 w2| <= 128 * 128 + 128 * 127 < 2^15 unless w1 = w2 = -128 */
static inline void pair(int32x4_t *acc, const int8_t *x1, int32_t w1, const int8_t *x2,
                        int32_t w2)
{
    const int8x16_t a = vdupq_n_s8((int8_t)w1), b = vdupq_n_s8((int8_t)w2);
    for (int g = 0; g < 2; g++) {
        int8x16_t v1 = vld1q_s8(x1 + 16 * g), v2 = vld1q_s8(x2 + 16 * g);
        int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(v1), vget_low_s8(a)), vget_low_s8(v2),
                                vget_low_s8(b));
        int16x8_t hi = vmlal_high_s8(vmull_high_s8(v1, a), v2, b);
        acc[4 * g] = vaddw_s16(acc[4 * g], vget_low_s16(lo));
        acc[4 * g + 1] = vaddw_high_s16(acc[4 * g + 1], lo);
        acc[4 * g + 2] = vaddw_s16(acc[4 * g + 2], vget_low_s16(hi));
        acc[4 * g + 3] = vaddw_high_s16(acc[4 * g + 3], hi);
    }
}

/* docs/format.md 5: vrshl by -n is exactly rshift_round (computed without overflow) */
static inline int32x4_t requant4(int32x4_t acc, int32_t m, int32_t n, int32x4_t zy,
                                 int32x4_t lo, int32x4_t hi)
{
    const int32x4_t mv = vdupq_n_s32(m);
    const int64x2_t sh = vdupq_n_s64(-(int64_t)n);
    int64x2_t a = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(mv)), sh);
    int64x2_t b = vrshlq_s64(vmull_high_s32(acc, mv), sh);
    int32x4_t r = vqaddq_s32(vcombine_s32(vqmovn_s64(a), vqmovn_s64(b)), zy);
    return vminq_s32(vmaxq_s32(r, lo), hi);
}

uint64_t ert_conv_s8_planar_neon(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const ert_node *n = k->node;
    const uint32_t K = n->k;
    const int32x4_t zy = vdupq_n_s32(cv->zy), lo = vdupq_n_s32(cv->lo), hi = vdupq_n_s32(cv->hi);
    uint64_t skipped = 0;
    ert_tile t;
    for (size_t p0 = 0; p0 < cv->npos; p0 += TILE) {
        ert_tile_begin(&t, cv, p0, begin, end, 20);
        for (uint32_t c = begin; c < end; c++) {
            const int32_t g0 = (int32_t)(c / (uint32_t)cv->cout_g) * cv->cin_g;
            const int8_t *base = (const int8_t *)cv->packed + (size_t)g0 * cv->chan_stride + p0;
            int32x4_t acc[8];
            for (int i = 0; i < 8; i++)
                acc[i] = vdupq_n_s32(0);
            const int8_t *px = NULL; /* a weight waiting for its pair */
            int32_t pw = 0, zsum = 0;
            const int check = ert_tile_skips(&t, (int32_t)(c / (uint32_t)cv->cout_g));
            ERT_FOR_EACH_WEIGHT(o, c, K, {
                if (check && ert_tile_zero(&t, g0 + o->kci[kk])) {
                    zsum += ww;
                    skipped += ert_tile_inb(&t, cv, (int32_t)kk - o->kci[kk] * cv->taps);
                    continue;
                }
                const int8_t *x = base + o->koff[kk];
                if (!px) {
                    px = x;
                    pw = ww;
                } else if (pw == -128 && ww == -128) {
                    single(acc, px, pw);
                    px = x;
                } else {
                    pair(acc, px, pw, x, ww);
                    px = NULL;
                }
            });
            if (px)
                single(acc, px, pw);
            const int32x4_t bc = vdupq_n_s32(o->bias_corr[c] + cv->zoff * zsum);
            int8_t bytes[TILE];
            for (int q = 0; q < 2; q++) {
                int32x4_t r[4];
                for (int i = 0; i < 4; i++)
                    r[i] = requant4(vaddq_s32(acc[4 * q + i], bc), n->multiplier[c],
                                    n->shift[c], zy, lo, hi);
                int16x8_t h0 = vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]));
                int16x8_t h1 = vcombine_s16(vqmovn_s32(r[2]), vqmovn_s32(r[3]));
                vst1q_s8(bytes + 16 * q, vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1)));
            }
            int8_t *y = k->out + (size_t)c * (size_t)cv->ho * (size_t)cv->wo;
            int32_t oy = t.oy0, ox = (int32_t)(p0 % (size_t)cv->wq);
            for (size_t i = 0; i < t.p1 - t.p0; i++) {
                if (ox < cv->wo)
                    y[(size_t)oy * (size_t)cv->wo + (size_t)ox] = bytes[i];
                if (++ox == cv->wq) {
                    ox = 0;
                    oy++;
                }
            }
        }
    }
    return ert_static_exec(o, begin, end) - skipped;
}
#else
typedef int ert_no_neon_planar; /* not an aarch64 build */
#endif
