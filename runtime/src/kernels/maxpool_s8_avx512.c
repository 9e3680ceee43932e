/* MAXPOOL, x86 AVX-512BW: the 2x2 stride-2 unpadded pool of VGG / ResNet-style networks, 32
 * outputs at a time (the byte maximum of two input rows, then of each even/odd byte pair, the
 * even bytes narrowed with vpmovwb); every other shape goes to the portable kernel. At 90-95%
 * sparsity these pools are a tenth of VGG-16's time. Units: channels. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "opt_kernels.h"

__attribute__((target("avx512f,avx512bw,avx512vl"))) uint64_t
ert_maxpool_s8_avx512(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    /* every window whole and inside the input (floor mode, no padding) */
    if (p[P_KH] != 2 || p[P_KW] != 2 || p[P_SH] != 2 || p[P_SW] != 2 || p[P_PT] || p[P_PL] ||
        ho != h / 2 || wo != w / 2)
        return ert_maxpool_s8_c(k, begin, end);
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * (size_t)h * (size_t)w;
        int8_t *y = k->out + (size_t)c * (size_t)ho * (size_t)wo;
        for (int32_t oy = 0; oy < ho; oy++) {
            const int8_t *r0 = x + (size_t)(2 * oy) * (size_t)w, *r1 = r0 + w;
            int8_t *yr = y + (size_t)oy * (size_t)wo;
            for (int32_t ox = 0; ox < wo; ox += 32) {
                const int32_t n = wo - ox < 32 ? wo - ox : 32;
                const __mmask64 in = n == 32 ? ~(__mmask64)0 : ((__mmask64)1 << (2 * n)) - 1;
                const __m512i a = _mm512_maskz_loadu_epi8(in, r0 + 2 * ox);
                const __m512i b = _mm512_maskz_loadu_epi8(in, r1 + 2 * ox);
                const __m512i v = _mm512_max_epi8(a, b);
                /* even byte of each pair: max with its odd neighbour shifted down */
                const __m512i m = _mm512_max_epi8(v, _mm512_srli_epi16(v, 8));
                _mm256_mask_storeu_epi8(yr + ox, (__mmask32)(((uint64_t)1 << n) - 1),
                                        _mm512_cvtepi16_epi8(m));
            }
        }
    }
    return 0;
}
#else
typedef int ert_no_avx512_maxpool; /* not an x86-64 build */
#endif
