/* CONV, portable C, planar s8 layout (opt.h): per output channel, each non-zero weight adds
 * w * (a contiguous run of 64 packed inputs) to the tile's accumulators, so pruned weights
 * cost nothing. Weights are walked in place (dense rows or rel8 pairs). The fixed-length inner
 * loop is what compilers vectorize (SSE2 / NEON) without target flags. */
#include "opt_kernels.h"

#define TILE 64

uint64_t ert_conv_s8_planar_c(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const uint32_t K = k->node->k;
    const int32_t taps = cv->taps;
    uint64_t skipped = 0;
    ert_tile t;
    for (size_t p0 = 0; p0 < cv->npos; p0 += TILE) {
        ert_tile_begin(&t, cv, p0, begin, end, 10);
        for (uint32_t c = begin; c < end; c++) {
            const int32_t g0 = (int32_t)(c / (uint32_t)cv->cout_g) * cv->cin_g;
            const int8_t *base = (const int8_t *)cv->packed + (size_t)g0 * cv->chan_stride + p0;
            int32_t acc[TILE];
            memset(acc, 0, sizeof acc);
            int64_t zsum = 0; /* weights skipped for a zero input window: add zoff * w back */
            const int check = ert_tile_skips(&t, (int32_t)(c / (uint32_t)cv->cout_g));
            ERT_FOR_EACH_WEIGHT(o, c, K, {
                if (check && ert_tile_zero(&t, g0 + o->kci[kk])) {
                    zsum += ww;
                    skipped += ert_tile_inb(&t, cv, (int32_t)kk - o->kci[kk] * taps);
                    continue;
                }
                const int8_t *src = base + o->koff[kk];
                for (int i = 0; i < TILE; i++)
                    acc[i] += ww * src[i];
            });
            ert_store_tile_scalar(k, cv, &t, c, (int64_t)o->bias_corr[c] + cv->zoff * zsum,
                                  acc);
        }
    }
    return ert_static_exec(o, begin, end) - skipped;
}
