/* CONV, x86 AVX-512 VNNI, planar u8 layout (opt.h), "rows": one entry holds the weights of up
 * to 4 taps that read consecutive input bytes (kernel-row neighbours: kx, kx + 1 at stride 1)
 * as one 4-byte word. vpdpbusd sums 4 adjacent bytes: loading the input shifted by j bytes for
 * accumulator j, lane i sums exactly the taps of output position 4i + j, so one broadcast word
 * and 4 vpdpbusd cover 3 taps of a 3x3 kernel row over 64 positions (the single-weight phase
 * kernel, conv_u8s8_planar_avx512vnni.c, needs 4 vpdpbusd per tap). A kernel row, or a whole
 * kernel, pruned away is simply absent (vector and kernel granularity). Accumulator j, lane i
 * holds position 4i + j; the 4 are requantized and interleaved as in the phase kernel. */
#if defined(__x86_64__)
#include "avx512_vnni_begin.h"

#include "avx512_util.h"

/* in-bounds MACs of the taps of an entry (up to 4 tap indices, 255: none) */
static inline uint64_t entry_inb(const ert_tile *t, uint32_t taps)
{
    uint64_t s = 0;
    for (int j = 0; j < 4; j++, taps >>= 8)
        if ((taps & 0xff) != 0xff)
            s += t->inb[taps & 0xff];
    return s;
}

/* NG groups of 64 positions: 4 * NG accumulators, named (an array would live in memory) */
static inline __attribute__((always_inline)) uint64_t
channel_tile(const ert_kctx *k, ert_tile *t, const ert_vecpos *vp, uint32_t c, const int NG)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const int32_t g0 = (int32_t)(c / (uint32_t)cv->cout_g) * cv->cin_g;
    const uint8_t *base = cv->packed + (size_t)g0 * cv->chan_stride + t->p0;
    const uint32_t e0 = o->rw_start[c], e1 = o->rw_start[c + 1];
    __m512i a00 = _mm512_set1_epi32(o->bias_corr[c]), a01 = a00, a02 = a00, a03 = a00;
    __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00;
    __m512i a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
/* The inputs shifted by 1, 2, 3 bytes come from two loads and in-register shifts
 * (vpalignr works within 128-bit lanes: t supplies each lane's next 16 bytes): 4 loads at
 * x + 0..3, each splitting a cache line, cost twice the load slots. */
#define GROUP(g, x, w)                                                                 \
    {                                                                                  \
        const __m512i c0_ = _mm512_loadu_si512(x);                                     \
        const __m512i t_ = _mm512_alignr_epi32(_mm512_loadu_si512((x) + 64), c0_, 4);  \
        a##g##0 = _mm512_dpbusd_epi32(a##g##0, c0_, w);                                \
        a##g##1 = _mm512_dpbusd_epi32(a##g##1, _mm512_alignr_epi8(t_, c0_, 1), w);     \
        a##g##2 = _mm512_dpbusd_epi32(a##g##2, _mm512_alignr_epi8(t_, c0_, 2), w);     \
        a##g##3 = _mm512_dpbusd_epi32(a##g##3, _mm512_alignr_epi8(t_, c0_, 3), w);     \
    }
#define ENTRY(i)                                                          \
    {                                                                     \
        const uint8_t *x = base + o->rw_off[i];                           \
        const __m512i w = _mm512_set1_epi32(o->rw_word[i]);               \
        GROUP(0, x, w)                                                    \
        if (NG > 1)                                                       \
            GROUP(1, (x + 64), w)                                         \
        if (NG > 2)                                                       \
            GROUP(2, (x + 128), w)                                        \
        if (NG > 3)                                                       \
            GROUP(3, (x + 192), w)                                        \
    }
/* With one group, consecutive entries alternate between two banks of accumulators (groups 0
 * and 2): each vpdpbusd chain then waits one latency per two entries, not one per entry. */
#define ENTRY_B(i)                                                        \
    {                                                                     \
        const __m512i w = _mm512_set1_epi32(o->rw_word[i]);               \
        GROUP(2, (base + o->rw_off[i]), w)                                \
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
    } else { /* drop the entries of all-zero input channels, chunk by chunk, then run */
        uint32_t keep[256];
        if (!t->inb_ready)
            ert_tile_inb_fill(t, cv);
        for (uint32_t i = e0; i < e1;) {
            uint32_t n = 0;
            for (; i < e1 && n < 256; i++) { /* branch-free: zero inputs are unpredictable */
                const int32_t z = ert_tile_zero(t, g0 + o->rw_ci[i]);
                zsum += -z & ert_word_sum(o->rw_word[i]);
                skipped += (uint64_t)z * entry_inb(t, o->rw_taps[i]);
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

uint64_t ert_conv_u8s8_rows_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
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
typedef int ert_no_avx512_rows; /* not an x86-64 build */
#endif
