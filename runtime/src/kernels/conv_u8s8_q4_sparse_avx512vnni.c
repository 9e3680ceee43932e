/* CONV, x86 AVX-512 VNNI, q4 layout, sparse weights (opt.h): per output channel, only its
 * non-zero blocks (channel quad, tap) are visited; each is one vpdpbusd per 16 output
 * positions (u8 inputs of 4 channels x their 4 s8 weights, summed into int32). An all-zero
 * block - most of them in a pruned layer - costs nothing. Tiles of 16..256 positions keep up
 * to 16 accumulators in registers. */
#if defined(__x86_64__)
#include "avx512_vnni_begin.h"

#include "avx512_util.h"

/* in-bounds MACs of block b (its channels at its tap) */
static inline uint64_t block_inb(const ert_conv_plan *cv, const ert_tile *t, int32_t b)
{
    int32_t cq = b / cv->taps, nch = cv->cin_g - 4 * cq < 4 ? cv->cin_g - 4 * cq : 4;
    return (uint64_t)nch * t->inb[b - cq * cv->taps];
}

/* One output channel over one tile of NV vectors. Returns the MACs skipped for zero inputs. */
static inline __attribute__((always_inline)) uint64_t
channel_tile(const ert_kctx *k, ert_tile *t, const ert_vecpos *vp, uint32_t c, const int NV)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const int32_t g = (int32_t)(c / (uint32_t)cv->cout_g);
    const uint8_t *base = cv->packed + (size_t)g * (size_t)cv->cq_g * cv->chan_stride + t->p0 * 4;
    const uint32_t b0 = o->blk_start[c], b1 = o->blk_start[c + 1];
    /* named accumulators (an array would live in memory); NV is a constant, so the unused
     * ones and their branches disappear */
    __m512i a0 = _mm512_set1_epi32(o->bias_corr[c]), a1 = a0, a2 = a0, a3 = a0, a4 = a0,
            a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0,
            a13 = a0, a14 = a0, a15 = a0;
#define BLOCK(x, w)                                                           \
    {                                                                         \
        a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(x), w);               \
        if (NV > 1)                                                           \
            a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(x + 64), w);      \
        if (NV > 2) {                                                         \
            a2 = _mm512_dpbusd_epi32(a2, _mm512_loadu_si512(x + 128), w);     \
            a3 = _mm512_dpbusd_epi32(a3, _mm512_loadu_si512(x + 192), w);     \
        }                                                                     \
        if (NV > 4) {                                                         \
            a4 = _mm512_dpbusd_epi32(a4, _mm512_loadu_si512(x + 256), w);     \
            a5 = _mm512_dpbusd_epi32(a5, _mm512_loadu_si512(x + 320), w);     \
            a6 = _mm512_dpbusd_epi32(a6, _mm512_loadu_si512(x + 384), w);     \
            a7 = _mm512_dpbusd_epi32(a7, _mm512_loadu_si512(x + 448), w);     \
        }                                                                     \
        if (NV > 8) {                                                         \
            a8 = _mm512_dpbusd_epi32(a8, _mm512_loadu_si512(x + 512), w);     \
            a9 = _mm512_dpbusd_epi32(a9, _mm512_loadu_si512(x + 576), w);     \
            a10 = _mm512_dpbusd_epi32(a10, _mm512_loadu_si512(x + 640), w);   \
            a11 = _mm512_dpbusd_epi32(a11, _mm512_loadu_si512(x + 704), w);   \
            a12 = _mm512_dpbusd_epi32(a12, _mm512_loadu_si512(x + 768), w);   \
            a13 = _mm512_dpbusd_epi32(a13, _mm512_loadu_si512(x + 832), w);   \
            a14 = _mm512_dpbusd_epi32(a14, _mm512_loadu_si512(x + 896), w);   \
            a15 = _mm512_dpbusd_epi32(a15, _mm512_loadu_si512(x + 960), w);   \
        }                                                                     \
    }
/* With at most 4 vectors, consecutive blocks alternate between two banks of accumulators
 * (a0-a3, a8-a11), so each vpdpbusd chain waits one latency per two blocks. */
#define BLOCK_B(x, w)                                                         \
    {                                                                         \
        a8 = _mm512_dpbusd_epi32(a8, _mm512_loadu_si512(x), w);               \
        if (NV > 1)                                                           \
            a9 = _mm512_dpbusd_epi32(a9, _mm512_loadu_si512(x + 64), w);      \
        if (NV > 2) {                                                         \
            a10 = _mm512_dpbusd_epi32(a10, _mm512_loadu_si512(x + 128), w);   \
            a11 = _mm512_dpbusd_epi32(a11, _mm512_loadu_si512(x + 192), w);   \
        }                                                                     \
    }
    uint64_t skipped = 0;
    if (!ert_tile_skips(t, g)) {
        uint32_t i = b0;
        if (NV <= 4)
            for (; i + 1 < b1; i += 2) {
                BLOCK(base + o->boff[o->blk_idx[i]], _mm512_set1_epi32(o->blk_w[i]))
                BLOCK_B(base + o->boff[o->blk_idx[i + 1]], _mm512_set1_epi32(o->blk_w[i + 1]))
            }
        for (; i < b1; i++) {
            const uint8_t *x = base + o->boff[o->blk_idx[i]];
            const __m512i w = _mm512_set1_epi32(o->blk_w[i]);
            BLOCK(x, w)
        }
    } else { /* drop the blocks of all-zero input quads, chunk by chunk, then run */
        int32_t zsum = 0; /* weights skipped for all-zero inputs: add zoff * w back */
        uint32_t keep[256];
        if (!t->inb_ready)
            ert_tile_inb_fill(t, cv);
        for (uint32_t i = b0; i < b1;) {
            uint32_t n = 0;
            for (; i < b1 && n < 256; i++) { /* branch-free: zero inputs are unpredictable */
                const int32_t b = o->blk_idx[i];
                const int32_t z = ert_tile_zero(t, g * cv->cq_g + b / cv->taps);
                zsum += -z & ert_word_sum(o->blk_w[i]);
                skipped += (uint64_t)z * block_inb(cv, t, b);
                keep[n] = i;
                n += (uint32_t)(1 - z);
            }
            uint32_t j = 0;
            if (NV <= 4)
                for (; j + 1 < n; j += 2) {
                    BLOCK(base + o->boff[o->blk_idx[keep[j]]],
                          _mm512_set1_epi32(o->blk_w[keep[j]]))
                    BLOCK_B(base + o->boff[o->blk_idx[keep[j + 1]]],
                            _mm512_set1_epi32(o->blk_w[keep[j + 1]]))
                }
            for (; j < n; j++)
                BLOCK(base + o->boff[o->blk_idx[keep[j]]], _mm512_set1_epi32(o->blk_w[keep[j]]))
        }
        const __m512i add = _mm512_set1_epi32(cv->zoff * zsum);
        a0 = _mm512_add_epi32(a0, add);
        a1 = _mm512_add_epi32(a1, add);
        a2 = _mm512_add_epi32(a2, add);
        a3 = _mm512_add_epi32(a3, add);
        a4 = _mm512_add_epi32(a4, add);
        a5 = _mm512_add_epi32(a5, add);
        a6 = _mm512_add_epi32(a6, add);
        a7 = _mm512_add_epi32(a7, add);
        if (NV > 4) { /* (with at most 4 vectors a8-a11 are the second bank: no add there) */
            a8 = _mm512_add_epi32(a8, add);
            a9 = _mm512_add_epi32(a9, add);
            a10 = _mm512_add_epi32(a10, add);
            a11 = _mm512_add_epi32(a11, add);
            a12 = _mm512_add_epi32(a12, add);
            a13 = _mm512_add_epi32(a13, add);
            a14 = _mm512_add_epi32(a14, add);
            a15 = _mm512_add_epi32(a15, add);
        }
    }
#undef BLOCK
#undef BLOCK_B
    if (NV <= 4) { /* fold the second bank in (it started from the bias too) */
        const __m512i b = _mm512_set1_epi32(o->bias_corr[c]);
        a0 = _mm512_add_epi32(a0, _mm512_sub_epi32(a8, b));
        a1 = _mm512_add_epi32(a1, _mm512_sub_epi32(a9, b));
        a2 = _mm512_add_epi32(a2, _mm512_sub_epi32(a10, b));
        a3 = _mm512_add_epi32(a3, _mm512_sub_epi32(a11, b));
    }
    const __m512i acc[16] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13,
                             a14, a15};
    const ert_rq512 q = ert_rq512_channel(k, c);
    int8_t *yc = k->out + (size_t)c * (size_t)cv->ho * (size_t)cv->wo;
    for (int v = 0; v < NV && v < vp->nvec; v++)
        ert_store16(yc, ert_rq512_apply(&q, acc[v]), vp, v);
    return skipped;
}

static inline __attribute__((always_inline)) uint64_t
run(const ert_kctx *k, uint32_t begin, uint32_t end, const int NV)
{
    const ert_conv_plan *cv = &k->opt->cv;
    uint64_t skipped = 0;
    ert_tile t;
    ert_vecpos vp;
    for (size_t p0 = 0; p0 < cv->npos; p0 += (size_t)cv->tile) {
        ert_tile_begin(&t, cv, p0, begin, end, NV <= 4 ? 60 : 30);
        ert_vecpos_init(&vp, cv, &t);
        for (uint32_t c = begin; c < end; c++)
            skipped += channel_tile(k, &t, &vp, c, NV);
    }
    return ert_static_exec(k->opt, begin, end) - skipped;
}

uint64_t ert_conv_u8s8_q4_sparse_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    switch (k->opt->cv.tile) { /* a power of two in [16, 256] (prepare.c) */
    case 16: return run(k, begin, end, 1);
    case 32: return run(k, begin, end, 2);
    case 64: return run(k, begin, end, 4);
    case 128: return run(k, begin, end, 8);
    default: return run(k, begin, end, 16);
    }
}

#include "avx512_vnni_end.h"
#else
typedef int ert_no_avx512_q4_sparse; /* not an x86-64 build */
#endif
