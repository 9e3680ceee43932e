/* AVX-512 helpers of the VNNI kernels. Include after the file's target pragma (the helpers
 * inherit it) and only on x86-64. */
#ifndef ERT_AVX512_UTIL_H
#define ERT_AVX512_UTIL_H

#include <immintrin.h>

#include "opt_kernels.h"

/* Requantization of 16 accumulators of one output channel: docs/format.md section 5,
 * clamp(zy + rshift_round(acc * M, n), lo, hi), in 64-bit lanes (even and odd halves).
 * When prepare found acc bounds (ert_requant_bounds), clamping acc to them first gives exactly
 * the clamped result in 32 bits (no 64-bit min/max). */
typedef struct ert_rq512 {
    __m512i m, round, lo, hi, zy, alo, ahi;
    __m128i n;
    int fast, add_zy;
} ert_rq512;

/* ... of output channel c of a conv node, from its prepared constants (opt.h: ert_rq_chan) */
static inline ert_rq512 ert_rq512_channel(const ert_kctx *k, uint32_t c)
{
    const ert_rq_chan *r = &k->opt->rq[c];
    ert_rq512 q;
    q.fast = r->fast;
    q.add_zy = r->zy != 0; /* 0 when prepare folded zy into the rounding term */
    q.m = _mm512_set1_epi64(r->m);
    q.round = _mm512_set1_epi64(r->round);
    q.n = _mm_loadl_epi64((const __m128i *)(const void *)&r->n);
    q.zy = _mm512_set1_epi32(r->zy);
    if (q.fast) { /* only the accumulator bounds are read */
        q.alo = _mm512_set1_epi32(r->alo);
        q.ahi = _mm512_set1_epi32(r->ahi);
        q.lo = q.hi = q.alo;
    } else {
        q.lo = _mm512_set1_epi64(r->lo);
        q.hi = _mm512_set1_epi64(r->hi);
        q.alo = q.ahi = q.zy;
    }
    return q;
}

static inline __m512i ert_rq512_half(const ert_rq512 *q, __m512i acc_low_dwords)
{
    __m512i v = _mm512_mul_epi32(acc_low_dwords, q->m);
    v = _mm512_sra_epi64(_mm512_add_epi64(v, q->round), q->n);
    return _mm512_min_epi64(_mm512_max_epi64(v, q->lo), q->hi);
}

static inline __m512i ert_rq512_half_fast(const ert_rq512 *q, __m512i acc_low_dwords)
{
    __m512i v = _mm512_mul_epi32(acc_low_dwords, q->m);
    return _mm512_sra_epi64(_mm512_add_epi64(v, q->round), q->n);
}

/* 16 int32 accumulators -> 16 int8 outputs in lane order. The low dwords of the even and
 * odd 64-bit results are merged by one vpermt2d. */
static inline __m128i ert_rq512_apply(const ert_rq512 *q, __m512i acc)
{
    const __m512i merge = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2,
                                           16, 0);
    __m512i ev, od;
    if (q->fast) {
        acc = _mm512_min_epi32(_mm512_max_epi32(acc, q->alo), q->ahi);
        ev = ert_rq512_half_fast(q, acc);
        od = ert_rq512_half_fast(q, _mm512_srli_epi64(acc, 32));
    } else {
        ev = ert_rq512_half(q, acc);
        od = ert_rq512_half(q, _mm512_srli_epi64(acc, 32));
    }
    __m512i v = _mm512_permutex2var_epi32(ev, merge, od);
    if (q->add_zy)
        v = _mm512_add_epi32(v, q->zy);
    return _mm512_cvtepi32_epi8(v);
}

/* Where the 16 lanes of each vector of a tile go in an output channel: runs of lanes that land
 * on consecutive output bytes (one per output row touched), as a lane mask and the offset of
 * lane 0 (the run's first lane minus its lane index). Computed once per tile, used by every
 * output channel. */
#define ERT_MAX_TILE_VECS 16
#define ERT_MAX_RUNS (ERT_MAX_TILE_VECS * 17)
typedef struct ert_vecpos {
    int nvec;
    int simple;                            /* one run per vector: run v is vector v's */
    uint16_t first[ERT_MAX_TILE_VECS + 1]; /* runs of vector v: [first[v], first[v + 1]) */
    __mmask16 mask[ERT_MAX_RUNS];
    ptrdiff_t at[ERT_MAX_RUNS];
} ert_vecpos;

static inline void ert_vecpos_init(ert_vecpos *vp, const ert_conv_plan *cv, const ert_tile *t)
{
    vp->nvec = (int)((t->p1 - t->p0 + 15) / 16);
    vp->simple = cv->wq == cv->wo;
    int nr = 0;
    for (int v = 0; v < vp->nvec; v++) {
        vp->first[v] = (uint16_t)nr;
        size_t p = t->p0 + 16 * (size_t)v;
        int n = t->p1 - p < 16 ? (int)(t->p1 - p) : 16;
        if (cv->wq == cv->wo) { /* no discarded columns: positions are output offsets */
            vp->mask[nr] = (__mmask16)((1u << n) - 1);
            vp->at[nr++] = (ptrdiff_t)p;
            continue;
        }
        int32_t oy = (int32_t)(p / (size_t)cv->wq), ox = (int32_t)(p % (size_t)cv->wq);
        for (int i = 0; i < n;) {
            int run = cv->wq - ox < n - i ? cv->wq - ox : n - i;
            if (ox < cv->wo) {
                int vis = cv->wo - ox < run ? cv->wo - ox : run;
                vp->mask[nr] = (__mmask16)(((1u << vis) - 1) << i);
                vp->at[nr++] = (ptrdiff_t)oy * cv->wo + ox - i;
            }
            i += run;
            ox = 0;
            oy++;
        }
    }
    vp->first[vp->nvec] = (uint16_t)nr;
}

/* Store the 16 results of vector v of the tile into output channel yc ([ho][wo]): lanes past
 * the tile end and in discarded columns are masked off. */
static inline void ert_store16(int8_t *yc, __m128i r, const ert_vecpos *vp, int v)
{
    if (vp->simple) { /* 1x1 layers and the like: no loop over runs */
        _mm_mask_storeu_epi8((void *)(yc + vp->at[v]), vp->mask[v], r);
        return;
    }
    for (int i = vp->first[v]; i < vp->first[v + 1]; i++) /* lane 0 address: may precede yc */
        _mm_mask_storeu_epi8((void *)((uintptr_t)yc + (uintptr_t)vp->at[i]), vp->mask[i], r);
}

/* Sum of the 4 int8 weights packed in a q4 block word. */
static inline int32_t ert_word_sum(int32_t word)
{
    return (int8_t)(word & 0xff) + (int8_t)((word >> 8) & 0xff) +
           (int8_t)((word >> 16) & 0xff) + (int8_t)((uint32_t)word >> 24);
}

/* Epilogue of the phase (planar) and rows kernels for output channel c: acc[g][j] holds, for
 * the g-th 64 positions of the tile, the sums of positions 64 g + 4 i + j in lane i. With
 * NG == 1 the kernel ran two banks (groups 0 and 2, both started from bias_corr), folded here.
 * Adds zoff * zsum (the zero-point correction of skipped inputs), requantizes, interleaves the
 * four phases back into position order and stores. */
static inline __attribute__((always_inline)) void
ert_store_phase_groups(const ert_kctx *k, uint32_t c, const ert_vecpos *vp, const int NG,
                       __m512i acc[4][4], int32_t zsum)
{
    const ert_conv_plan *cv = &k->opt->cv;
    if (NG == 1) { /* fold the second bank in */
        const __m512i bias = _mm512_set1_epi32(k->opt->bias_corr[c]);
        for (int j = 0; j < 4; j++)
            acc[0][j] = _mm512_add_epi32(acc[0][j], _mm512_sub_epi32(acc[2][j], bias));
    }
    const __m512i add = _mm512_set1_epi32(cv->zoff * zsum);
    const ert_rq512 q = ert_rq512_channel(k, c);
    int8_t *yc = k->out + (size_t)c * (size_t)cv->ho * (size_t)cv->wo;
    for (int gi = 0; gi < NG && 4 * gi < vp->nvec; gi++) {
        /* b_j byte i = position 64 gi + 4 i + j */
        __m128i b0 = ert_rq512_apply(&q, _mm512_add_epi32(acc[gi][0], add));
        __m128i b1 = ert_rq512_apply(&q, _mm512_add_epi32(acc[gi][1], add));
        __m128i b2 = ert_rq512_apply(&q, _mm512_add_epi32(acc[gi][2], add));
        __m128i b3 = ert_rq512_apply(&q, _mm512_add_epi32(acc[gi][3], add));
        __m128i lo01 = _mm_unpacklo_epi8(b0, b1), hi01 = _mm_unpackhi_epi8(b0, b1);
        __m128i lo23 = _mm_unpacklo_epi8(b2, b3), hi23 = _mm_unpackhi_epi8(b2, b3);
        __m128i r[4] = {_mm_unpacklo_epi16(lo01, lo23), _mm_unpackhi_epi16(lo01, lo23),
                        _mm_unpacklo_epi16(hi01, hi23), _mm_unpackhi_epi16(hi01, hi23)};
        for (int v = 0; v < 4 && 4 * gi + v < vp->nvec; v++)
            ert_store16(yc, r[v], vp, 4 * gi + v);
    }
}

/* One output channel over one tile, NG groups of 64 positions; returns the MACs skipped. */
typedef uint64_t (*ert_phase_tile_fn)(const ert_kctx *, ert_tile *, const ert_vecpos *, uint32_t,
                                      const int);

/* Tile loop of the phase and rows kernels: every tile of cv->tile = 64 NG positions, every
 * channel of [begin, end). Inlined with a constant tile_fn, so the channel code is too. */
static inline __attribute__((always_inline)) uint64_t
ert_run_phase_tiles(const ert_kctx *k, uint32_t begin, uint32_t end, const int NG,
                    ert_phase_tile_fn tile_fn)
{
    const ert_conv_plan *cv = &k->opt->cv;
    uint64_t skipped = 0;
    ert_tile t;
    ert_vecpos vp;
    for (size_t p0 = 0; p0 < cv->npos; p0 += (size_t)cv->tile) {
        ert_tile_begin(&t, cv, p0, begin, end, NG == 1 ? 90 : 50);
        ert_vecpos_init(&vp, cv, &t);
        for (uint32_t c = begin; c < end; c++)
            skipped += tile_fn(k, &t, &vp, c, NG);
    }
    return ert_static_exec(k->opt, begin, end) - skipped;
}

#endif
