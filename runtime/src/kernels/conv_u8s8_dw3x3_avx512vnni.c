/* CONV, x86 AVX-512 VNNI, depthwise 3x3 (one input channel per group, any multiplier),
 * stride 1 or 2, any padding: reads the NCHW input directly (no pre-step), one output channel
 * at a time, so the rows it touches stay in L1.
 *
 * vpdpbusd sums 4 adjacent bytes: here the 4 bytes of a lane are 4 consecutive input *rows*
 * at one column, (r0, r1, r2, r3)[x] ("row quads", u8 = x ^ 0x80, padding = the zero point),
 * so one vpdpbusd with the word (w[0][kx], w[1][kx], w[2][kx], 0) applies a whole kernel
 * column to 16 outputs: 3 per 16 outputs instead of 9. Stride 1: the same quads with the word
 * (0, w[0][kx], w[1][kx], w[2][kx]) give the next output row, so one quad row serves two
 * output rows. Stride 2: the quads are split into even and odd input columns, and kx = 0, 1, 2
 * read even[ox], odd[ox], even[ox + 1]. acc = bias - zoff * sum(w) + sum(u * w) is exact
 * (prepare_conv.c), requantized as every VNNI kernel (avx512_util.h). */
#if defined(__x86_64__)
#include "avx512_vnni_begin.h"

#include "avx512_util.h"

/* Lanes [lo, hi) of n, clipped to [0, n). */
static inline uint64_t lane_mask(int32_t lo, int32_t hi, int n)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > n ? n : hi;
    if (hi <= lo)
        return 0;
    const uint64_t upto = hi >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << hi) - 1;
    return upto & ~(((uint64_t)1 << lo) - 1);
}

/* The 4 row pointers of quad row iy0 .. iy0 + 3 (NULL: a padding row). */
static inline void quad_rows(const int8_t *r[4], const int8_t *x, const ert_conv_plan *cv,
                             int32_t iy0)
{
    for (int i = 0; i < 4; i++)
        r[i] = iy0 + i >= 0 && iy0 + i < cv->h ? x + (size_t)(iy0 + i) * (size_t)cv->w : NULL;
}

/* Bytes c0 .. c0 + 15 (31) of row r, zx in the lanes outside mask m or for a padding row
 * (NULL). Masked-off lanes are never read; the address is formed in uintptr_t, since the
 * first lane may precede the row. */
static inline __m128i load16(const int8_t *r, int32_t c0, __mmask16 m, __m128i zx)
{
    if (!r || !m)
        return zx;
    return _mm_mask_loadu_epi8(zx, m, (const void *)((uintptr_t)r + (uintptr_t)(intptr_t)c0));
}

static inline __m256i load32(const int8_t *r, int32_t c0, __mmask32 m, __m256i zx)
{
    if (!r || !m)
        return zx;
    return _mm256_mask_loadu_epi8(zx, m, (const void *)((uintptr_t)r + (uintptr_t)(intptr_t)c0));
}

/* Stride 1: quads of input columns c0 .. c0 + 15 (the zero point outside the input), as u8.
 * The loads are built straight from the input rows: a stored quad row read back at offsets
 * 4 and 8 would wait on store forwarding. */
static inline __m512i quads_s1(const int8_t *const r[4], int32_t c0, int32_t w, __m128i zx)
{
    const __mmask16 m = (__mmask16)lane_mask(-c0, w - c0, 16);
    const __m512i d[4] = {_mm512_cvtepu8_epi32(load16(r[0], c0, m, zx)),
                          _mm512_cvtepu8_epi32(load16(r[1], c0, m, zx)),
                          _mm512_cvtepu8_epi32(load16(r[2], c0, m, zx)),
                          _mm512_cvtepu8_epi32(load16(r[3], c0, m, zx))};
    const __m512i abc = _mm512_ternarylogic_epi32(d[0], _mm512_slli_epi32(d[1], 8),
                                                  _mm512_slli_epi32(d[2], 16), 0xFE);
    return _mm512_ternarylogic_epi32(abc, _mm512_slli_epi32(d[3], 24),
                                     _mm512_set1_epi32((int32_t)0x80808080), 0x56); /* (a|b)^c */
}

/* (A & mask) | (B & ~mask), bitwise */
#define SEL(mask, a, b) _mm512_ternarylogic_epi32(mask, a, b, 0xCA)

/* Stride 2: quads of the even input columns c0, c0 + 2, .., c0 + 30 and of the odd ones. */
static inline void quads_s2(const int8_t *const r[4], int32_t c0, int32_t w, __m256i zx,
                            __m512i *even, __m512i *odd)
{
    const __mmask32 m = (__mmask32)lane_mask(-c0, w - c0, 32);
    /* dword x = column c0 + 2x | column c0 + 2x + 1 << 8 */
    const __m512i d[4] = {_mm512_cvtepu16_epi32(load32(r[0], c0, m, zx)),
                          _mm512_cvtepu16_epi32(load32(r[1], c0, m, zx)),
                          _mm512_cvtepu16_epi32(load32(r[2], c0, m, zx)),
                          _mm512_cvtepu16_epi32(load32(r[3], c0, m, zx))};
    const __m512i m1 = _mm512_set1_epi32(0xff), m2 = _mm512_set1_epi32(0xffff);
    const __m512i m3 = _mm512_set1_epi32(0xffffff), flip = _mm512_set1_epi32((int32_t)0x80808080);
    __m512i e = SEL(m1, d[0], _mm512_slli_epi32(d[1], 8));
    e = SEL(m2, e, _mm512_slli_epi32(d[2], 16));
    e = SEL(m3, e, _mm512_slli_epi32(d[3], 24));
    __m512i o = SEL(m1, _mm512_srli_epi32(d[0], 8), d[1]);
    o = SEL(m2, o, _mm512_slli_epi32(d[2], 8));
    o = SEL(m3, o, _mm512_slli_epi32(d[3], 16));
    *even = _mm512_xor_si512(e, flip);
    *odd = _mm512_xor_si512(o, flip);
}

/* whether the n bytes at x all equal zx */
static inline int all_equal(const int8_t *x, size_t n, int8_t zx)
{
    const __m512i z = _mm512_set1_epi8(zx);
    for (size_t i = 0; i < n; i += 64) {
        const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
        if (_mm512_mask_cmpneq_epi8_mask(m, _mm512_maskz_loadu_epi8(m, x + i), z))
            return 0;
    }
    return 1;
}

static inline __mmask16 tail16(int32_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

uint64_t ert_conv_u8s8_dw3x3_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_conv_plan *cv = &o->cv;
    const ert_node *n = k->node;
    const size_t hw = (size_t)cv->h * (size_t)cv->w, plane = (size_t)cv->ho * (size_t)cv->wo;
    const int32_t s = cv->sh, wo = cv->wo, w = cv->w, pl = cv->pl;
    const __m128i zx16 = _mm_set1_epi8((char)cv->zx);
    const __m256i zx32 = _mm256_set1_epi8((char)cv->zx);
    uint64_t skipped = 0;
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)(c / (uint32_t)cv->cout_g) * hw;
        int8_t *y = k->out + (size_t)c * plane;
        /* an all-zero channel, or an input plane all at the zero point: acc = bias */
        if (o->dw_empty[c] || all_equal(x, hw, (int8_t)cv->zx)) {
            memset(y, ert_requant(n->bias[c], n->multiplier[c], n->shift[c], cv->zy, cv->lo,
                                  cv->hi), plane);
            skipped += o->exec_pref[c + 1] - o->exec_pref[c];
            continue;
        }
        const int32_t *wc = o->dw_w + (size_t)c * 8;
        const __m512i w00 = _mm512_set1_epi32(wc[0]), w01 = _mm512_set1_epi32(wc[1]);
        const __m512i w02 = _mm512_set1_epi32(wc[2]), w10 = _mm512_set1_epi32(wc[4]);
        const __m512i w11 = _mm512_set1_epi32(wc[5]), w12 = _mm512_set1_epi32(wc[6]);
        const __m512i bias = _mm512_set1_epi32(o->bias_corr[c]);
        const ert_rq512 q = ert_rq512_channel(k, c);
        const int8_t *r[4];
        if (s == 1) {
            for (int32_t oy = 0; oy < cv->ho; oy += 2) { /* one quad row, two output rows */
                quad_rows(r, x, cv, oy - cv->pt);
                int8_t *y0 = y + (size_t)oy * (size_t)wo;
                const int pair = oy + 1 < cv->ho;
                __m512i cur = quads_s1(r, -pl, w, zx16);
                for (int32_t ox = 0; ox < wo; ox += 16) {
                    /* the next block feeds lanes 14 and 15 of q2 (15 of q1): if they are
                       past the row, skip building it (narrow 7x7 and 14x14 layers) */
                    const __m512i next = ox + 15 <= wo ? quads_s1(r, ox + 16 - pl, w, zx16) : cur;
                    const __m512i q1 = _mm512_alignr_epi32(next, cur, 1);
                    const __m512i q2 = _mm512_alignr_epi32(next, cur, 2);
                    __m512i a = _mm512_dpbusd_epi32(bias, cur, w00);
                    __m512i b = _mm512_dpbusd_epi32(bias, cur, w10);
                    a = _mm512_dpbusd_epi32(a, q1, w01);
                    b = _mm512_dpbusd_epi32(b, q1, w11);
                    a = _mm512_dpbusd_epi32(a, q2, w02);
                    b = _mm512_dpbusd_epi32(b, q2, w12);
                    const __mmask16 m = tail16(wo - ox);
                    _mm_mask_storeu_epi8(y0 + ox, m, ert_rq512_apply(&q, a));
                    if (pair)
                        _mm_mask_storeu_epi8(y0 + wo + ox, m, ert_rq512_apply(&q, b));
                    cur = next;
                }
            }
        } else {
            for (int32_t oy = 0; oy < cv->ho; oy++) {
                quad_rows(r, x, cv, 2 * oy - cv->pt);
                int8_t *y0 = y + (size_t)oy * (size_t)wo;
                __m512i e, od, e_next, od_next;
                quads_s2(r, -pl, w, zx32, &e, &od);
                for (int32_t ox = 0; ox < wo; ox += 16) {
                    if (ox + 16 <= wo) /* lane 15 reads the next block's first even quad */
                        quads_s2(r, 2 * (ox + 16) - pl, w, zx32, &e_next, &od_next);
                    else
                        e_next = od_next = e;
                    __m512i a = _mm512_dpbusd_epi32(bias, e, w00);
                    a = _mm512_dpbusd_epi32(a, od, w01);
                    a = _mm512_dpbusd_epi32(a, _mm512_alignr_epi32(e_next, e, 1), w02);
                    _mm_mask_storeu_epi8(y0 + ox, tail16(wo - ox), ert_rq512_apply(&q, a));
                    e = e_next;
                    od = od_next;
                }
            }
        }
    }
    return ert_static_exec(o, begin, end) - skipped;
}

#include "avx512_vnni_end.h"
#else
typedef int ert_no_avx512_dw3x3; /* not an x86-64 build */
#endif
