/* FC, x86 AVX-512 VNNI, dense weights in [C_out/16][K/4][16][4] (prepare_fc.c): one 64-byte
 * load of weights and one vpdpbusd advance 16 output features by 4 inputs (a broadcast u8
 * quad of the packed input). Four feature blocks share each broadcast. Requantization is per
 * lane (per-feature multiplier and shift). */
#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni")
#endif

#include "avx512_util.h"

/* 16 features at once: multiplier and shift differ per lane */
static __m128i requant_lanes(const ert_kctx *k, uint32_t c0, __mmask16 valid, __m512i acc)
{
    const ert_node *n = k->node;
    const int32_t zy = k->model->tensors[n->output].zero_point;
    const __m512i m = _mm512_maskz_loadu_epi32(valid, n->multiplier + c0);
    const __m512i sh = _mm512_mask_loadu_epi32(_mm512_set1_epi32(1), valid, n->shift + c0);
    const __m512i lo = _mm512_set1_epi64((int64_t)n->params[P_FC_ACT_MIN] - zy);
    const __m512i hi = _mm512_set1_epi64((int64_t)n->params[P_FC_ACT_MAX] - zy);
    const __m512i one = _mm512_set1_epi64(1), low32 = _mm512_set1_epi64(0xffffffff);
    __m512i half[2];
    for (int h = 0; h < 2; h++) {
        __m512i a = h ? _mm512_srli_epi64(acc, 32) : acc;
        __m512i mm = h ? _mm512_srli_epi64(m, 32) : m;
        __m512i s = h ? _mm512_srli_epi64(sh, 32) : _mm512_and_si512(sh, low32);
        __m512i v = _mm512_mul_epi32(a, mm);
        v = _mm512_add_epi64(v, _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one)));
        v = _mm512_srav_epi64(v, s);
        half[h] = _mm512_min_epi64(_mm512_max_epi64(v, lo), hi);
    }
    __m512i v = _mm512_mask_blend_epi32(0xAAAA, half[0], _mm512_slli_epi64(half[1], 32));
    return _mm512_cvtepi32_epi8(_mm512_add_epi32(v, _mm512_set1_epi32(zy)));
}

uint64_t ert_fc_u8s8_dense_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const uint32_t kq = o->k4 / 4, co = k->node->c_out;
    const int32_t *xq = (const int32_t *)(const void *)o->fc_x;
    uint32_t cb = begin / 16, cb_end = (end + 15) / 16;
    while (cb < cb_end) {
        int nb = cb_end - cb < 4 ? (int)(cb_end - cb) : 4;
        __m512i acc[4];
        __mmask16 valid[4];
        for (int j = 0; j < nb; j++) {
            uint32_t c0 = (cb + (uint32_t)j) * 16;
            valid[j] = co - c0 >= 16 ? 0xffff : (__mmask16)((1u << (co - c0)) - 1);
            acc[j] = _mm512_maskz_loadu_epi32(valid[j], o->bias_corr + c0);
        }
        const int8_t *w = o->fcw + (size_t)cb * kq * 64;
        for (uint32_t q = 0; q < kq; q++) {
            const __m512i x = _mm512_set1_epi32(xq[q]);
            for (int j = 0; j < nb; j++)
                acc[j] = _mm512_dpbusd_epi32(
                    acc[j], x, _mm512_loadu_si512(w + ((size_t)j * kq + q) * 64));
        }
        for (int j = 0; j < nb; j++) {
            uint32_t c0 = (cb + (uint32_t)j) * 16;
            __m128i r = requant_lanes(k, c0, valid[j], acc[j]);
            /* store only this call's features */
            uint32_t lo = begin > c0 ? begin - c0 : 0, hi = end - c0 < 16 ? end - c0 : 16;
            __mmask16 mask = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
            _mm_mask_storeu_epi8(k->out + c0, mask, r);
        }
        cb += (uint32_t)nb;
    }
    return ert_static_exec(o, begin, end);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int ert_no_avx512_fc; /* not an x86-64 build */
#endif
