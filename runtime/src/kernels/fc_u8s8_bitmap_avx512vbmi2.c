/* FC, x86 AVX-512 VNNI + VBMI2, fine-grained sparse weights as bitmaps (ert_fc_prepare_bitmap):
 * per output row and 64 inputs, a u64 mask of the non-zero weights and the non-zeros packed in
 * input order. For 4 rows at a time, per chunk of 64 inputs: one 64-byte load of the packed u8
 * input (x ^ 0x80, ert_fc_pack_u8), then per row vpexpandb rebuilds the 64 weights from the
 * mask and the next popcount(mask) bytes, and one vpdpbusd accumulates them. The weights
 * streamed are ~K/8 + nnz bytes a row instead of the dense kernel's K, and there is no
 * per-weight work of the CSC kernel (index loads, scattered accumulators).
 * vpexpandb (2 uops on the shuffle port) bounds it: ~1 ns per (row, chunk) on Sapphire Rapids,
 * whatever the chunk's density. acc = bias_corr + sum (x + 128) * w, as the dense VNNI kernel.
 * A chunk whose inputs are all the zero point (bit clear in fc_live, set by the pre-step) is
 * skipped (EIE's zero-activation skipping at chunk granularity): its weights count as skipped
 * MACs, and zoff * (the chunk's weight sum) is added back. */
#if defined(__x86_64__)
#include "avx512_vbmi2_begin.h"

#include "avx512_util.h"

/* Rows [c, c + NR), NR = 1 or 4 (unrolled by hand: accumulators and pointers stay in
 * registers); returns the non-zero weights of the chunks skipped. */
#define ROWS(NAME, NR, FOR_ROWS)                                                              \
    static uint64_t NAME(const ert_kctx *k, uint32_t c)                                       \
    {                                                                                         \
        const ert_opt_node *o = k->opt;                                                       \
        const uint32_t nch = o->bm_nch;                                                       \
        const uint8_t *x = o->fc_x;                                                           \
        const uint64_t *mk[NR];                                                               \
        const int8_t *p[NR];                                                                  \
        const int16_t *cs[NR];                                                                \
        __m512i acc[NR];                                                                      \
        int64_t corr[NR];                                                                     \
        uint64_t skipped = 0;                                                                 \
        FOR_ROWS({                                                                            \
            mk[r] = o->bm_mask + (size_t)(c + r) * nch;                                       \
            p[r] = o->bm_val + o->bm_start[c + r];                                            \
            cs[r] = o->bm_csum ? o->bm_csum + (size_t)(c + r) * nch : NULL;                   \
            acc[r] = _mm512_setzero_si512();                                                  \
            corr[r] = 0;                                                                      \
        })                                                                                    \
        for (uint32_t j = 0; j < nch; j++) {                                                  \
            const __m512i xv = _mm512_load_si512((const void *)(x + 64 * (size_t)j));         \
            if ((o->fc_live[j / 64] >> (j % 64)) & 1) {                                       \
                FOR_ROWS({                                                                    \
                    const uint64_t m = mk[r][j];                                              \
                    _mm_prefetch((const char *)(p[r] + 512), _MM_HINT_T0);                    \
                    _mm_prefetch((const char *)(mk[r] + j + 64), _MM_HINT_T0);                \
                    acc[r] = _mm512_dpbusd_epi32(acc[r], xv,                                  \
                                                 _mm512_maskz_expandloadu_epi8(m, p[r]));     \
                    p[r] += _mm_popcnt_u64(m);                                                \
                })                                                                            \
            } else { /* every input of the chunk is the zero point */                        \
                FOR_ROWS({                                                                    \
                    const uint64_t nz = (uint64_t)_mm_popcnt_u64(mk[r][j]);                   \
                    p[r] += nz;                                                               \
                    skipped += nz;                                                            \
                    if (cs[r])                                                                \
                        corr[r] += cs[r][j];                                                  \
                })                                                                            \
            }                                                                                 \
        }                                                                                     \
        FOR_ROWS({                                                                            \
            ert_fc_store(k, c + r, (int64_t)o->bias_corr[c + r] + _mm512_reduce_add_epi32(acc[r]) + \
                                (int64_t)o->bm_zoff * corr[r]);                               \
        })                                                                                    \
        return skipped;                                                                       \
    }

#define FOR_1(BODY) { const uint32_t r = 0; BODY }
#define FOR_4(BODY)                                                                          \
    { const uint32_t r = 0; BODY } { const uint32_t r = 1; BODY }                            \
    { const uint32_t r = 2; BODY } { const uint32_t r = 3; BODY }
ROWS(rows1, 1, FOR_1)
ROWS(rows4, 4, FOR_4)

uint64_t ert_fc_u8s8_bitmap_avx512vbmi2(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    uint64_t skipped = 0;
    uint32_t c = begin;
    for (; c + 4 <= end; c += 4)
        skipped += rows4(k, c);
    for (; c < end; c++)
        skipped += rows1(k, c);
    return ert_static_exec(k->opt, begin, end) - skipped;
}

#include "avx512_vnni_end.h"
#else
typedef int ert_no_avx512_fc_bitmap; /* not an x86-64 build */
#endif
