/* CONV, x86 AVX-512 VNNI, planar u8 layout (opt.h): each non-zero weight w multiplies a run of
 * 64 contiguous packed inputs. vpdpbusd sums 4 adjacent bytes, i.e. 4 adjacent *positions*
 * here, so the weight goes in as 4 "phase" words (w,0,0,0) (0,w,0,0) (0,0,w,0) (0,0,0,w):
 * accumulator j, lane i holds position 4i + j. No weight is ever multiplied unless non-zero,
 * which suits depthwise convolutions (one input channel per output) and very sparse layers.
 * The 4 phases are requantized separately and interleaved back into position order. */
#if defined(__x86_64__)
#include "avx512_vnni_begin.h"

#include "avx512_util.h"

/* The 4 phase patterns of a record, broadcast from memory by vpdpbusd itself */
static inline __m512i pattern(const uint64_t *rec, int j)
{
    int32_t w;
    memcpy(&w, (const uint8_t *)rec + 3 - j, 4);
    return _mm512_set1_epi32(w);
}

/* NG groups of 64 positions: 4 * NG accumulators, named (an array would live in memory) */
static inline __attribute__((always_inline)) uint64_t
channel_tile(const ert_kctx *k, ert_tile *t, const ert_vecpos *vp, uint32_t c, const int NG)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const int32_t g0 = (int32_t)(c / (uint32_t)cv->cout_g) * cv->cin_g;
    const uint8_t *base = cv->packed + (size_t)g0 * cv->chan_stride + t->p0;
    const uint32_t e0 = o->ph_start[c], e1 = o->ph_start[c + 1];
    __m512i a00 = _mm512_set1_epi32(o->bias_corr[c]), a01 = a00, a02 = a00, a03 = a00;
    __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00;
    __m512i a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
#define GROUP(g, xv, rec)                                                 \
    {                                                                     \
        a##g##0 = _mm512_dpbusd_epi32(a##g##0, xv, pattern(rec, 0));      \
        a##g##1 = _mm512_dpbusd_epi32(a##g##1, xv, pattern(rec, 1));      \
        a##g##2 = _mm512_dpbusd_epi32(a##g##2, xv, pattern(rec, 2));      \
        a##g##3 = _mm512_dpbusd_epi32(a##g##3, xv, pattern(rec, 3));      \
    }
#define ENTRY(i)                                                          \
    {                                                                     \
        const uint8_t *x = base + o->ph_off[i];                           \
        const uint64_t *rec = &o->ph_rec[i];                              \
        GROUP(0, _mm512_loadu_si512(x), rec)                              \
        if (NG > 1)                                                       \
            GROUP(1, _mm512_loadu_si512(x + 64), rec)                     \
        if (NG > 2)                                                       \
            GROUP(2, _mm512_loadu_si512(x + 128), rec)                    \
        if (NG > 3)                                                       \
            GROUP(3, _mm512_loadu_si512(x + 192), rec)                    \
    }
/* With one group, consecutive weights alternate between two banks of accumulators (groups 0
 * and 2): each vpdpbusd chain then waits one latency per two weights, not one per weight. */
#define ENTRY_B(i)                                                        \
    {                                                                     \
        const uint64_t *rec = &o->ph_rec[i];                              \
        GROUP(2, _mm512_loadu_si512(base + o->ph_off[i]), rec)            \
    }
    uint64_t skipped = 0;
    int32_t zsum = 0; /* weights skipped for all-zero inputs: add zoff * w back */
    if (!ert_tile_skips(t, (int32_t)(c / (uint32_t)cv->cout_g))) {
        uint32_t i = e0;
        if (NG == 1)
            for (; i + 1 < e1; i += 2) {
                ENTRY(i)
                ENTRY_B(i + 1)
            }
        for (; i < e1; i++)
            ENTRY(i)
    } else { /* drop the weights of all-zero input channels, chunk by chunk, then run */
        uint32_t keep[256];
        if (!t->inb_ready)
            ert_tile_inb_fill(t, cv);
        for (uint32_t i = e0; i < e1;) {
            uint32_t n = 0;
            for (; i < e1 && n < 256; i++) { /* branch-free: zero inputs are unpredictable */
                const uint32_t kk = o->ph_k[i], ci = o->kci[kk];
                const int32_t z = ert_tile_zero(t, g0 + (int32_t)ci);
                zsum += -z & (int8_t)(o->ph_rec[i] >> 24);
                skipped += (uint64_t)z * t->inb[kk - ci * (uint32_t)cv->taps];
                keep[n] = i;
                n += (uint32_t)(1 - z);
            }
            uint32_t j = 0;
            if (NG == 1)
                for (; j + 1 < n; j += 2) {
                    ENTRY(keep[j])
                    ENTRY_B(keep[j + 1])
                }
            for (; j < n; j++)
                ENTRY(keep[j])
        }
    }
#undef ENTRY
#undef ENTRY_B
#undef GROUP
    __m512i acc[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13},
                         {a20, a21, a22, a23}, {a30, a31, a32, a33}};
    ert_store_phase_groups(k, c, vp, NG, acc, zsum);
    return skipped;
}

static inline __attribute__((always_inline)) uint64_t
run(const ert_kctx *k, uint32_t begin, uint32_t end, const int NG)
{
    return ert_run_phase_tiles(k, begin, end, NG, channel_tile);
}

uint64_t ert_conv_u8s8_planar_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    switch (k->opt->cv.tile) { /* 64, 128, 192 or 256 positions (prepare.c) */
    case 64: return run(k, begin, end, 1);
    case 128: return run(k, begin, end, 2);
    case 192: return run(k, begin, end, 3);
    default: return run(k, begin, end, 4);
    }
}

#include "avx512_vnni_end.h"
#else
typedef int ert_no_avx512_planar; /* not an x86-64 build */
#endif
