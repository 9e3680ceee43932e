/* CONV, x86 AVX2 (no VNNI), planar s8 layout (opt.h): non-zero weights are taken in pairs;
 * the two weights' runs of 16 inputs are widened to int16 and interleaved, so one vpmaddwd
 * computes w1 * x1 + w2 * x2 per position, exactly (no int16 saturation, unlike vpmaddubsw).
 * The interleave permutes positions within 128-bit lanes; vpackssdw undoes it at the end.
 * Tile: 32 positions, 4 ymm accumulators. */
#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

#include "opt_kernels.h"

#define TILE 32

typedef struct acc2 {
    __m256i lo[2], hi[2]; /* group g: lo = positions {0-3, 8-11}, hi = {4-7, 12-15} + 16 g */
} acc2;

static inline void pair(acc2 *a, const int8_t *x1, int32_t w1, const int8_t *x2, int32_t w2)
{
    const __m256i w = _mm256_set1_epi32((int32_t)((uint32_t)w2 << 16 | (uint16_t)w1));
    for (int g = 0; g < 2; g++) {
        __m256i v1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x1 + 16 * g)));
        __m256i v2 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x2 + 16 * g)));
        a->lo[g] = _mm256_add_epi32(a->lo[g],
                                    _mm256_madd_epi16(_mm256_unpacklo_epi16(v1, v2), w));
        a->hi[g] = _mm256_add_epi32(a->hi[g],
                                    _mm256_madd_epi16(_mm256_unpackhi_epi16(v1, v2), w));
    }
}

/* rshift_round(acc * m, n) clamped to [lo - zy, hi - zy], + zy: 8 lanes. AVX2 has no 64-bit
 * arithmetic shift or min/max: shift logically and sign-extend from bit 63 - n, clamp with
 * compares. */
static inline __m256i requant8(__m256i acc, int32_t m, int32_t n, int32_t zy, int32_t lo,
                               int32_t hi)
{
    const __m256i mv = _mm256_set1_epi64x(m), round = _mm256_set1_epi64x((int64_t)1 << (n - 1));
    const __m256i sign = _mm256_set1_epi64x((int64_t)((uint64_t)1 << (63 - n)));
    const __m128i cnt = _mm_cvtsi32_si128(n);
    const __m256i lov = _mm256_set1_epi64x((int64_t)lo - zy), hiv = _mm256_set1_epi64x((int64_t)hi - zy);
    __m256i h[2];
    for (int i = 0; i < 2; i++) {
        __m256i v = _mm256_mul_epi32(i ? _mm256_srli_epi64(acc, 32) : acc, mv);
        v = _mm256_srl_epi64(_mm256_add_epi64(v, round), cnt);
        v = _mm256_sub_epi64(_mm256_xor_si256(v, sign), sign);
        v = _mm256_blendv_epi8(v, lov, _mm256_cmpgt_epi64(lov, v));
        h[i] = _mm256_blendv_epi8(v, hiv, _mm256_cmpgt_epi64(v, hiv));
    }
    __m256i r = _mm256_blend_epi32(h[0], _mm256_slli_epi64(h[1], 32), 0xAA);
    return _mm256_add_epi32(r, _mm256_set1_epi32(zy));
}

static void store(const ert_kctx *k, const ert_conv_plan *cv, const ert_tile *t, uint32_t c,
                  const acc2 *a, int32_t bc)
{
    const ert_node *n = k->node;
    const int32_t m = n->multiplier[c], sh = n->shift[c];
    const __m256i b = _mm256_set1_epi32(bc);
    int8_t bytes[TILE];
    for (int g = 0; g < 2; g++) {
        __m256i lo = requant8(_mm256_add_epi32(a->lo[g], b), m, sh, cv->zy, cv->lo, cv->hi);
        __m256i hi = requant8(_mm256_add_epi32(a->hi[g], b), m, sh, cv->zy, cv->lo, cv->hi);
        __m256i w16 = _mm256_packs_epi32(lo, hi); /* positions back in order per lane */
        __m256i w8 = _mm256_permute4x64_epi64(_mm256_packs_epi16(w16, w16), 0x08);
        _mm_storeu_si128((__m128i *)(bytes + 16 * g), _mm256_castsi256_si128(w8));
    }
    int8_t *y = k->out + (size_t)c * (size_t)cv->ho * (size_t)cv->wo;
    int32_t oy = t->oy0, ox = (int32_t)(t->p0 % (size_t)cv->wq);
    for (size_t i = 0; i < t->p1 - t->p0; i++) {
        if (ox < cv->wo)
            y[(size_t)oy * (size_t)cv->wo + (size_t)ox] = bytes[i];
        if (++ox == cv->wq) {
            ox = 0;
            oy++;
        }
    }
}

uint64_t ert_conv_s8_planar_avx2(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const uint32_t K = k->node->k;
    uint64_t skipped = 0;
    ert_tile t;
    for (size_t p0 = 0; p0 < cv->npos; p0 += TILE) {
        ert_tile_begin(&t, cv, p0, begin, end, 20);
        for (uint32_t c = begin; c < end; c++) {
            const int32_t g0 = (int32_t)(c / (uint32_t)cv->cout_g) * cv->cin_g;
            const int8_t *base = (const int8_t *)cv->packed + (size_t)g0 * cv->chan_stride + p0;
            acc2 a;
            for (int g = 0; g < 2; g++)
                a.lo[g] = a.hi[g] = _mm256_setzero_si256();
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
                if (px) {
                    pair(&a, px, pw, x, ww);
                    px = NULL;
                } else {
                    px = x;
                    pw = ww;
                }
            });
            if (px)
                pair(&a, px, pw, px, 0);
            store(k, cv, &t, c, &a, o->bias_corr[c] + cv->zoff * zsum);
        }
    }
    return ert_static_exec(o, begin, end) - skipped;
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int ert_no_avx2_planar; /* not an x86-64 build */
#endif
