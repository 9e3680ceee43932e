/* FC, aarch64 NEON, dense rows: smull of 8 inputs by 8 weights into int16 (a single product
 * always fits), sadalp folds adjacent pairs into int32 lanes. Four output features share each
 * load of the input. acc = bias_corr + sum x * w (prepare_fc.c). */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "opt_kernels.h"

static inline int32x4_t dot16(int32x4_t s, int8x16_t x, int8x16_t w)
{
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(x), vget_low_s8(w)));
    return vpadalq_s16(s, vmull_high_s8(x, w));
}

uint64_t ert_fc_s8_dense_neon(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const uint32_t K = k->node->k;
    const int8_t *x = k->in[0];
    uint32_t c = begin;
    for (; c + 4 <= end; c += 4) {
        const int8_t *w = o->dense + (size_t)c * K;
        int32x4_t s[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
        uint32_t i = 0;
        for (; i + 16 <= K; i += 16) {
            int8x16_t xv = vld1q_s8(x + i);
            for (int r = 0; r < 4; r++)
                s[r] = dot16(s[r], xv, vld1q_s8(w + (size_t)r * K + i));
        }
        for (int r = 0; r < 4; r++) {
            int32_t tail = 0;
            for (uint32_t j = i; j < K; j++)
                tail += x[j] * w[(size_t)r * K + j];
            ert_fc_store(k, c + (uint32_t)r, (int64_t)o->bias_corr[c + (uint32_t)r] +
                                          vaddvq_s32(s[r]) + tail);
        }
    }
    for (; c < end; c++) {
        const int8_t *w = o->dense + (size_t)c * K;
        int32x4_t s = vdupq_n_s32(0);
        uint32_t i = 0;
        for (; i + 16 <= K; i += 16)
            s = dot16(s, vld1q_s8(x + i), vld1q_s8(w + i));
        int32_t tail = 0;
        for (; i < K; i++)
            tail += x[i] * w[i];
        ert_fc_store(k, c, (int64_t)o->bias_corr[c] + vaddvq_s32(s) + tail);
    }
    return ert_static_exec(o, begin, end);
}
#else
typedef int ert_no_neon_fc; /* not an aarch64 build */
#endif
