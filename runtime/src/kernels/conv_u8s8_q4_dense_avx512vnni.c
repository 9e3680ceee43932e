/* CONV, x86 AVX-512 VNNI, q4 layout, dense weights (opt.h): a register-blocked direct
 * convolution, 8 output channels x 48 output positions (24 zmm accumulators; 4 x 64 for
 * small outputs). Each block
 * (channel quad, tap) loads 3 vectors of packed u8 inputs once and feeds 8 x 3 vpdpbusd with
 * the 8 channels' broadcast 4-weight words. Channels without a non-zero weight are left out
 * of the blocks (their output is constant); a channel quad whose input window is all zero
 * point skips its blocks for the tile (adding back zoff * its weights). */
#if defined(__x86_64__)
#include "avx512_vnni_begin.h"

#include "avx512_util.h"

#define R 8 /* output channels per weight block (prepare_conv.c packs the weights so) */

typedef struct block_args {
    const ert_kctx *k;
    ert_tile *t;
    const ert_vecpos *vp;
    uint32_t cb;               /* channel block */
    const uint32_t *ch;        /* its channels (q4_list) */
    int32_t g, nr;             /* group, channels in the block */
    uint32_t begin, end;       /* the call's channel range: only these are stored */
} block_args;

/* Rows [r0, r0 + RH) of a channel block over P vectors of 16 positions. The accumulators are
 * named variables, a<row><vector> (as an array, compilers keep them in memory and every
 * vpdpbusd becomes load + store); RH, P and r0 are constants, so the unused ones vanish.
 * Tiles of 48 positions run RH = 8, P = 3 (24 accumulators); tiles of 64 (small outputs such
 * as 7x7) run RH = 4, P = 4 twice. */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

static inline __attribute__((always_inline)) uint64_t
block_rows(const block_args *a, const int r0, const int RH, const int P)
{
    const ert_opt_node *o = a->k->opt;
    const ert_conv_plan *cv = &o->cv;
    const int32_t cq_g = cv->cq_g;
    const uint8_t *base = cv->packed + (size_t)a->g * (size_t)cq_g * cv->chan_stride +
                          a->t->p0 * 4;
    int32_t bias[R];
    for (int r = 0; r < R; r++)
        bias[r] = r < a->nr ? o->bias_corr[a->ch[r]] : 0;
#define INIT(r)                                                             \
    __m512i a##r##0 = _mm512_set1_epi32(bias[r]), a##r##1 = a##r##0, a##r##2 = a##r##0, \
            a##r##3 = a##r##0;
    ROWS(INIT)
#undef INIT
    uint64_t skipped = 0, in_range = 0;
    const int skips = ert_tile_skips(a->t, a->g);
    for (int32_t r = r0; r < r0 + RH && r < a->nr; r++)
        in_range += a->ch[r] >= a->begin && a->ch[r] < a->end;
#define LIVE(r) ((r) >= r0 && (r) < r0 + RH)
    /* the listed blocks (channel quad, tap) of this channel block, by quad then tap */
    const uint32_t e0 = o->q4_bstart[a->cb], e1 = o->q4_bstart[a->cb + 1];
    int32_t zero_cq = -1; /* the all-zero-point quad whose correction is already added */
    for (uint32_t e = e0; e < e1; e++) {
        const ert_q4blk *bl = &o->q4_blk[e];
        if (skips && ert_tile_zero(a->t, a->g * cq_g + bl->cq)) {
            if (bl->cq != zero_cq) { /* zoff * the quad's weights, once per quad */
                zero_cq = bl->cq;
                int32_t add[R];
                for (int r = 0; r < R; r++)
                    add[r] = r < a->nr ? o->q4corr[(size_t)a->ch[r] * cq_g + bl->cq] : 0;
#define ADD(r)                                                              \
    if (LIVE(r)) {                                                          \
        const __m512i v = _mm512_set1_epi32(add[r]);                        \
        a##r##0 = _mm512_add_epi32(a##r##0, v);                             \
        a##r##1 = _mm512_add_epi32(a##r##1, v);                             \
        a##r##2 = _mm512_add_epi32(a##r##2, v);                             \
        a##r##3 = _mm512_add_epi32(a##r##3, v);                             \
    }
                ROWS(ADD)
#undef ADD
            }
            int32_t nch = cv->cin_g - 4 * bl->cq < 4 ? cv->cin_g - 4 * bl->cq : 4;
            skipped += in_range * (uint64_t)nch * ert_tile_inb(a->t, cv, bl->tap);
            continue;
        }
        const int32_t *wt = (const int32_t *)(const void *)(o->q4w + (size_t)e * 32);
        const uint8_t *x = base + bl->xoff;
        {
            const __m512i x0 = _mm512_loadu_si512(x);
            const __m512i x1 = P > 1 ? _mm512_loadu_si512(x + 64) : x0;
            const __m512i x2 = P > 2 ? _mm512_loadu_si512(x + 128) : x0;
            const __m512i x3 = P > 3 ? _mm512_loadu_si512(x + 192) : x0;
#define STEP(r)                                                             \
    if (LIVE(r)) {                                                          \
        const __m512i wr = _mm512_set1_epi32(wt[r]);                        \
        a##r##0 = _mm512_dpbusd_epi32(a##r##0, x0, wr);                     \
        if (P > 1)                                                          \
            a##r##1 = _mm512_dpbusd_epi32(a##r##1, x1, wr);                 \
        if (P > 2)                                                          \
            a##r##2 = _mm512_dpbusd_epi32(a##r##2, x2, wr);                 \
        if (P > 3)                                                          \
            a##r##3 = _mm512_dpbusd_epi32(a##r##3, x3, wr);                 \
    }
            ROWS(STEP)
#undef STEP
        }
    }
#undef LIVE
    const __m512i acc[R][4] = {
#define SAVE(r) {a##r##0, a##r##1, a##r##2, a##r##3},
        ROWS(SAVE)
#undef SAVE
    };
    for (int r = r0; r < r0 + RH && r < a->nr; r++) {
        uint32_t c = a->ch[r];
        if (c < a->begin || c >= a->end)
            continue;
        const ert_rq512 q = ert_rq512_channel(a->k, c);
        int8_t *yc = a->k->out + (size_t)c * (size_t)cv->ho * (size_t)cv->wo;
        for (int v = 0; v < P && v < a->vp->nvec; v++)
            ert_store16(yc, ert_rq512_apply(&q, acc[r][v]), a->vp, v);
    }
    return skipped;
}

static uint64_t block48(const block_args *a)
{
    return block_rows(a, 0, 8, 3);
}

static uint64_t block64(const block_args *a)
{
    uint64_t s = block_rows(a, 0, 4, 4);
    return a->nr > 4 ? s + block_rows(a, 4, 4, 4) : s;
}

uint64_t ert_conv_u8s8_q4_dense_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const ert_node *n = k->node;
    const size_t plane = (size_t)cv->ho * (size_t)cv->wo;
    for (uint32_t c = begin; c < end; c++) /* all-zero channels: requantized bias */
        if (o->q4_empty[c])
            memset(k->out + c * plane, ert_requant(n->bias[c], n->multiplier[c], n->shift[c],
                                                   cv->zy, cv->lo, cv->hi), plane);
    /* the blocks holding channels in [begin, end): q4_list is sorted */
    uint32_t cb0 = 0, cb1 = o->n_cb;
    while (cb0 < cb1 && o->q4_list[o->q4_cb[cb0 + 1] - 1] < begin)
        cb0++;
    while (cb1 > cb0 && o->q4_list[o->q4_cb[cb1 - 1]] >= end)
        cb1--;
    uint64_t skipped = 0;
    ert_tile t;
    ert_vecpos vp;
    for (size_t p0 = 0; cb0 < cb1 && p0 < cv->npos; p0 += (size_t)cv->tile) {
        ert_tile_begin(&t, cv, p0, begin, end, 0);
        ert_vecpos_init(&vp, cv, &t);
        for (uint32_t cb = cb0; cb < cb1; cb++) {
            const uint32_t *ch = o->q4_list + o->q4_cb[cb];
            block_args a = {k, &t, &vp, cb, ch, (int32_t)(ch[0] / (uint32_t)cv->cout_g),
                            (int32_t)(o->q4_cb[cb + 1] - o->q4_cb[cb]), begin, end};
            skipped += cv->tile == 64 ? block64(&a) : block48(&a);
        }
    }
    return ert_static_exec(o, begin, end) - skipped;
}

#include "avx512_vnni_end.h"
#else
typedef int ert_no_avx512_q4_dense; /* not an x86-64 build */
#endif
