/* FC, x86 AVX-512 VNNI (256-bit), 8 x 4 block-sparse weights (ert_fc_prepare_blocks): per
 * group of 8 output rows, only the blocks of 4 inputs where one of the 8 rows has a non-zero
 * weight are stored (32 bytes: each row's 4 weights as a dword) with their input index. One
 * block is one broadcast of the 4 packed u8 inputs (x ^ 0x80, ert_fc_pack_u8) and one
 * vpdpbusd on 8 lanes = 8 rows: no per-weight index work (CSC) and no expansion of masks
 * (bitmap), so a layer pruned in 8 x 4 blocks (block8x4) streams ~36 bytes per kept block.
 * Four accumulators in turn keep the vpdpbusd chains apart. A block whose 64-input chunk is
 * all zero point (bit clear in fc_live) is skipped and counted as such (zero-activation
 * skipping at chunk granularity); with a zero point other than -128 its rows' weight sums
 * times zoff are added back. acc = bias_corr + sum (x + 128) * w, as the dense VNNI kernel. */
#if defined(__x86_64__)
#include "avx512_vnni_begin.h"

#include "avx512_util.h"

/* Input chunk of block j (4 inputs) has a non-zero-point value. */
static inline int live(const ert_opt_node *o, uint32_t j)
{
    return (int)((o->fc_live[j / 1024] >> (j / 16 % 64)) & 1);
}

uint64_t ert_fc_u8s8_blocks_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const uint32_t K = k->node->k;
    const uint8_t *x = o->fc_x;
    uint64_t executed = 0;
    for (uint32_t g = begin / 8; 8 * g < end; g++) {
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, corr = a0;
        const uint32_t e1 = o->fcb_start[g + 1];
        uint64_t macs = 0; /* of the blocks run, per row */
        uint32_t e = o->fcb_start[g];
#define BLOCK(acc, i)                                                                     \
    {                                                                                     \
        const uint32_t j_ = o->fcb_idx[i];                                                \
        if (live(o, j_)) {                                                                \
            int32_t xw;                                                                   \
            memcpy(&xw, x + 4 * (size_t)j_, 4);                                           \
            acc = _mm256_dpbusd_epi32(acc, _mm256_set1_epi32(xw),                         \
                                      _mm256_loadu_si256((const void *)(o->fcb_w + 8 * (size_t)(i)))); \
            macs += K - 4 * j_ < 4 ? K - 4 * j_ : 4;                                      \
        } else if (o->fcb_csum) {                                                         \
            corr = _mm256_add_epi32(corr, _mm256_loadu_si256(                             \
                                              (const void *)(o->fcb_csum + 8 * (size_t)(i)))); \
        }                                                                                 \
    }
        for (; e + 4 <= e1; e += 4) {
            _mm_prefetch((const char *)(o->fcb_w + 8 * (size_t)e) + 1024, _MM_HINT_T0);
            _mm_prefetch((const char *)(o->fcb_idx + e) + 256, _MM_HINT_T0);
            BLOCK(a0, e)
            BLOCK(a1, e + 1)
            BLOCK(a2, e + 2)
            BLOCK(a3, e + 3)
        }
        for (; e < e1; e++)
            BLOCK(a0, e)
#undef BLOCK
        const __m256i zoff = _mm256_set1_epi32(o->bm_zoff);
        const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        int32_t lanes[8];
        _mm256_storeu_si256((void *)lanes, _mm256_add_epi32(sum, _mm256_mullo_epi32(corr, zoff)));
        for (uint32_t r = 0; r < 8; r++) {
            const uint32_t c = 8 * g + r;
            if (c < begin || c >= end)
                continue;
            ert_fc_store(k, c, o->bias_corr[c] + lanes[r]);
            executed += macs;
        }
    }
    return executed;
}

#include "avx512_vnni_end.h"
#else
typedef int ert_no_avx512_fc_blocks; /* not an x86-64 build */
#endif
