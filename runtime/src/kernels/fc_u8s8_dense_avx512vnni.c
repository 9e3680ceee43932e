/* FC, x86 AVX-512 VNNI, dense rows read in place (the model's, or decoded at prepare): for
 * 4 output features at a time, one 64-byte load of the packed u8 input (x ^ 0x80, zero past
 * K) feeds 4 vpdpbusd with 64 weights of each row; the 16 lanes are summed at the end. Memory
 * bound on big layers, and no copy of the weights. acc = bias_corr + sum (x + 128) * w. */
#if defined(__x86_64__)
#include "avx512_vnni_begin.h"

#include "avx512_util.h"

#define R 4 /* output features sharing each input load */

uint64_t ert_fc_u8s8_dense_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const uint32_t K = k->node->k, full = K / 64 * 64;
    const __mmask64 tail = K % 64 ? ((__mmask64)1 << (K % 64)) - 1 : 0;
    const uint8_t *x = o->fc_x;
    uint32_t c = begin;
    for (; c < end; c += R) {
        const uint32_t nr = end - c < R ? end - c : R;
        const int8_t *w[R];
        __m512i acc[R];
        for (uint32_t r = 0; r < R; r++) {
            w[r] = o->dense + (size_t)(c + (r < nr ? r : 0)) * K;
            acc[r] = _mm512_setzero_si512();
        }
        for (uint32_t kc = 0; kc < full; kc += 64) {
            const __m512i xv = _mm512_loadu_si512(x + kc);
            acc[0] = _mm512_dpbusd_epi32(acc[0], xv, _mm512_loadu_si512(w[0] + kc));
            acc[1] = _mm512_dpbusd_epi32(acc[1], xv, _mm512_loadu_si512(w[1] + kc));
            acc[2] = _mm512_dpbusd_epi32(acc[2], xv, _mm512_loadu_si512(w[2] + kc));
            acc[3] = _mm512_dpbusd_epi32(acc[3], xv, _mm512_loadu_si512(w[3] + kc));
        }
        if (tail) {
            const __m512i xv = _mm512_maskz_loadu_epi8(tail, x + full);
            for (uint32_t r = 0; r < R; r++)
                acc[r] = _mm512_dpbusd_epi32(acc[r], xv,
                                             _mm512_maskz_loadu_epi8(tail, w[r] + full));
        }
        for (uint32_t r = 0; r < nr; r++)
            ert_fc_store(k, c + r, (int64_t)o->bias_corr[c + r] + _mm512_reduce_add_epi32(acc[r]));
    }
    return ert_static_exec(o, begin, end);
}

#include "avx512_vnni_end.h"
#else
typedef int ert_no_avx512_fc; /* not an x86-64 build */
#endif
