/* ADD, x86 AVX-512: (a - za) * M_a + (b - zb) * M_b, rounding shift by S and clamp as
 * docs/format.md 5. Usually 32 elements at a time in 16/32-bit lanes (add32 below); otherwise
 * 16 at a time in 64-bit lanes (vpmuldq). Units: elements. */
#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl")
#endif

#include "opt_kernels.h"

static inline __m512i half(__m512i da, __m512i db, __m512i ma, __m512i mb, __m512i round,
                           __m128i s, __m512i lo, __m512i hi)
{
    __m512i v = _mm512_add_epi64(_mm512_mul_epi32(da, ma), _mm512_mul_epi32(db, mb));
    v = _mm512_sra_epi64(_mm512_add_epi64(v, round), s);
    return _mm512_min_epi64(_mm512_max_epi64(v, lo), hi);
}

/* Exact in 32 bits for 17 <= S <= 47 and M_a, M_b < 2^31 - 2^15: each M = Mh * 2^16 + Ml with
 * Ml in [-2^15, 2^15) and Mh in [0, 2^15), both int16, so with da = a - za, db = b - zb in
 * [-255, 255] one vpmaddwd each gives X = da * Mh_a + db * Mh_b and Y = da * Ml_a + db * Ml_b
 * (|X|, |Y| < 2^24), v = X * 2^16 + Y, and
 *   (v + 2^(S-1)) >> S = (X + 2^(S-17) + (Y >> 16)) >> (S - 16)
 * (a floor of a floor), below 2^31. The quotients saturate to int16 and zy is added saturating:
 * both monotonic, so the clamp to [act_min, act_max] (within int8) gives the same bytes. */
static void add32(const ert_kctx *k, uint32_t begin, uint32_t end, int32_t ma, int32_t mb)
{
    const int32_t *p = k->node->params;
    const int s = p[P_ADD_S];
    const int16_t mal = (int16_t)(uint16_t)ma, mbl = (int16_t)(uint16_t)mb;
    const int16_t mah = (int16_t)((ma - mal) >> 16), mbh = (int16_t)((mb - mbl) >> 16);
    /* int16 pairs (a's, b's) as vpmaddwd multiplies them with unpacked (da, db) pairs */
    const __m512i mh = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)mbh << 16 | (uint16_t)mah));
    const __m512i ml = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)mbl << 16 | (uint16_t)mal));
    const __m512i rnd = _mm512_set1_epi32(1 << (s - 17));
    const __m128i sh = _mm_cvtsi32_si128(s - 16);
    const __m512i za = _mm512_set1_epi16((int16_t)ert_in_tensor(k, 0)->zero_point);
    const __m512i zb = _mm512_set1_epi16((int16_t)ert_in_tensor(k, 1)->zero_point);
    const __m512i zy = _mm512_set1_epi16((int16_t)ert_out_tensor(k)->zero_point);
    const __m512i lo = _mm512_set1_epi16((int16_t)p[P_ADD_ACT_MIN]);
    const __m512i hi = _mm512_set1_epi16((int16_t)p[P_ADD_ACT_MAX]);
    const int8_t *a = k->in[0], *b = k->in[1];
    for (uint32_t i = begin; i < end; i += 32) {
        const uint32_t n = end - i < 32 ? end - i : 32;
        const __mmask32 m = n == 32 ? ~(__mmask32)0 : (__mmask32)((1u << n) - 1);
        const __m512i da = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a + i)), za);
        const __m512i db = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i)), zb);
        /* elements 0-3 and 4-7 of each 128-bit lane; packs restores the order */
        const __m512i l = _mm512_unpacklo_epi16(da, db), h = _mm512_unpackhi_epi16(da, db);
        __m512i ql = _mm512_add_epi32(_mm512_madd_epi16(l, mh), rnd);
        __m512i qh = _mm512_add_epi32(_mm512_madd_epi16(h, mh), rnd);
        ql = _mm512_add_epi32(ql, _mm512_srai_epi32(_mm512_madd_epi16(l, ml), 16));
        qh = _mm512_add_epi32(qh, _mm512_srai_epi32(_mm512_madd_epi16(h, ml), 16));
        __m512i y = _mm512_packs_epi32(_mm512_sra_epi32(ql, sh), _mm512_sra_epi32(qh, sh));
        y = _mm512_min_epi16(_mm512_max_epi16(_mm512_adds_epi16(y, zy), lo), hi);
        _mm256_mask_storeu_epi8(k->out + i, m, _mm512_cvtepi16_epi8(y));
    }
}

uint64_t ert_add_s8_avx512(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    if (p[P_ADD_S] >= 17 && p[P_ADD_S] <= 47 && p[P_ADD_MA] < 0x7fff8000 &&
        p[P_ADD_MB] < 0x7fff8000) {
        add32(k, begin, end, p[P_ADD_MA], p[P_ADD_MB]);
        return 0;
    }
    const int32_t za = ert_in_tensor(k, 0)->zero_point, zb = ert_in_tensor(k, 1)->zero_point;
    const int32_t zy = ert_out_tensor(k)->zero_point;
    const int s = p[P_ADD_S];
    const __m512i vza = _mm512_set1_epi32(za), vzb = _mm512_set1_epi32(zb);
    const __m512i ma = _mm512_set1_epi64(p[P_ADD_MA]), mb = _mm512_set1_epi64(p[P_ADD_MB]);
    const __m512i round = _mm512_set1_epi64((int64_t)1 << (s - 1));
    const __m512i lo = _mm512_set1_epi64((int64_t)p[P_ADD_ACT_MIN] - zy);
    const __m512i hi = _mm512_set1_epi64((int64_t)p[P_ADD_ACT_MAX] - zy);
    const __m512i vzy = _mm512_set1_epi32(zy);
    const __m128i sv = _mm_cvtsi32_si128(s);
    const int8_t *a = k->in[0], *b = k->in[1];
    for (uint32_t i = begin; i < end; i += 16) {
        const uint32_t n = end - i < 16 ? end - i : 16;
        const __mmask16 m = (__mmask16)((1u << n) - 1);
        __m512i da = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a + i)), vza);
        __m512i db = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b + i)), vzb);
        __m512i ev = half(da, db, ma, mb, round, sv, lo, hi);
        __m512i od = half(_mm512_srli_epi64(da, 32), _mm512_srli_epi64(db, 32), ma, mb, round,
                          sv, lo, hi);
        __m512i r = _mm512_mask_blend_epi32(0xAAAA, ev, _mm512_slli_epi64(od, 32));
        _mm_mask_storeu_epi8(k->out + i, m, _mm512_cvtepi32_epi8(_mm512_add_epi32(r, vzy)));
    }
    return 0;
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int ert_no_avx512_add; /* not an x86-64 build */
#endif
