/* ADD, x86 AVX-512: 16 elements at a time, (a - za) * M_a + (b - zb) * M_b in 64-bit lanes
 * (vpmuldq), rounding shift by S and clamp as docs/format.md 5. Units: elements. */
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

uint64_t ert_add_s8_avx512(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
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
