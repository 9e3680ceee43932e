/* MAXPOOL, x86 AVX-512BW (no VBMI byte permutes: Skylake-X and Cascade Lake run it too), any
 * window, stride and padding, ceil mode included; windows are clipped to the input exactly as
 * the reference clips them (padding never wins: it reads as -128, the identity of max).
 *  - stride 2, windows 2 or 3 wide (VGG's 2x2, ResNet's 3x3 pad 1, any kh and pads): all in
 *    registers, 32 outputs per vector (pool_s2_regs); the unpadded 2x2 straight from its rows;
 *  - other shapes: the vertical maxima of a batch of output rows into a stack buffer of padded
 *    rows, then the maximum of kw shifted loads; strides 2/4/8 narrowed from 16/32/64-bit lanes
 *    (vpmovwb/db/qb), other strides picked from the stride-1 maxima. Rows wider than the buffer
 *    go to the portable kernel.
 * Units: channels. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "opt_kernels.h"

#define ROW_MAX 4096    /* bytes of a padded row (and of the stride-1 maxima) */
#define BUF_BYTES 16384 /* the rows of a batch (at least 3) */

#define MP_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#define MP_INLINE MP_TARGET __attribute__((always_inline)) static inline

MP_INLINE __mmask64 lanes(int32_t n) /* the first min(n, 64) byte lanes */
{
    return n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
}

/* vertical maximum of the n rows from r (row length w) at columns [c, c + 64), -128 at columns
 * from nx on (past the input, or read by no window) */
MP_INLINE __m512i vcols(const int8_t *r, int32_t w, int32_t n, int32_t c, int32_t nx)
{
    const __m512i lo = _mm512_set1_epi8(INT8_MIN);
    if (c >= nx)
        return lo;
    const __mmask64 m = lanes(nx - c);
    r += c;
    /* windows of 2 and 3 rows without a loop */
    __m512i v = _mm512_maskz_loadu_epi8(m, r);
    if (n > 1)
        v = _mm512_max_epi8(v, _mm512_maskz_loadu_epi8(m, r + w));
    if (n > 2)
        v = _mm512_max_epi8(v, _mm512_maskz_loadu_epi8(m, r + 2 * (size_t)w));
    for (int32_t i = 3; i < n; i++)
        v = _mm512_max_epi8(v, _mm512_maskz_loadu_epi8(m, r + (size_t)i * (size_t)w));
    return nx - c < 64 ? _mm512_mask_blend_epi8(m, lo, v) : v;
}

/* b[i] = max of input rows [y0, y1) at column i, for i < n (masked: b[n..] untouched) */
MP_INLINE void vmax_rows(int8_t *b, const int8_t *x, int32_t w, int32_t n, int32_t y0,
                         int32_t y1)
{
    for (int32_t i = 0; i < n; i += 64)
        _mm512_mask_storeu_epi8(b + i, lanes(n - i),
                                vcols(x + (size_t)y0 * (size_t)w, w, y1 - y0, i, n));
}

/* y[ox] = max(b[ox * sw .. ox * sw + kw)) for ox < wo, sw in {1, 2, 4, 8}: the maximum of kw
 * shifted loads has window ox in the low byte of lane ox (lanes of sw bytes); the lanes are
 * narrowed to bytes. Reads b[0 .. sw * roundup(wo, 64 / sw) + kw - 1). */
MP_INLINE void hmax_pow2(int8_t *y, const int8_t *b, int32_t wo, int32_t kw, int32_t sw)
{
    const int32_t step = 64 / sw;
    for (int32_t ox = 0; ox < wo; ox += step) {
        const int8_t *p = b + (size_t)ox * (size_t)sw;
        __m512i v = _mm512_loadu_si512(p);
        for (int32_t j = 1; j < kw; j++)
            v = _mm512_max_epi8(v, _mm512_loadu_si512(p + j));
        const int32_t n = wo - ox < step ? wo - ox : step;
        const __mmask64 m = lanes(n);
        if (sw == 1)
            _mm512_mask_storeu_epi8(y + ox, m, v);
        else if (sw == 2)
            _mm256_mask_storeu_epi8(y + ox, (__mmask32)m, _mm512_cvtepi16_epi8(v));
        else if (sw == 4)
            _mm_mask_storeu_epi8(y + ox, (__mmask16)m, _mm512_cvtepi32_epi8(v));
        else
            _mm_mask_storeu_epi8(y + ox, (__mmask16)m, _mm512_cvtepi64_epi8(v));
    }
}

/* Other strides: the stride-1 window maxima of positions [0, (wo - 1) * sw] into hm, then every
 * sw-th. Reads b[0 .. roundup((wo - 1) * sw + 1, 64) + kw - 1). */
MP_INLINE void hmax_any(int8_t *y, int8_t *hm, const int8_t *b, int32_t wo, int32_t kw,
                        int32_t sw)
{
    const int32_t np = (wo - 1) * sw + 1;
    for (int32_t i = 0; i < np; i += 64) {
        __m512i v = _mm512_loadu_si512(b + i);
        for (int32_t j = 1; j < kw; j++)
            v = _mm512_max_epi8(v, _mm512_loadu_si512(b + i + j));
        _mm512_storeu_si512(hm + i, v);
    }
    for (int32_t ox = 0; ox < wo; ox++)
        y[ox] = hm[(size_t)ox * (size_t)sw];
}

/* Output rows in batches of `rows`: first the vertical maxima of the whole batch into buf (one
 * padded row every rs bytes), then the horizontal pass over them. A horizontal load straddles
 * two of the vertical pass's stores, which the store buffer cannot forward: done row by row,
 * each row would wait for its stores to reach the cache (3x slower). */
MP_INLINE void pool_rows(const ert_kctx *k, uint32_t begin, uint32_t end, int8_t *buf,
                         int32_t rs, int32_t rows, int8_t *hm, int32_t kw, int32_t sw)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    const int32_t kh = p[P_KH], sh = p[P_SH], pt = p[P_PT], pl = p[P_PL];
    /* input columns some window reads (floor mode may leave the last ones out) */
    const int32_t last = (wo - 1) * sw - pl + kw, nx = last < w ? last : w;
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * (size_t)h * (size_t)w;
        int8_t *y = k->out + (size_t)c * (size_t)ho * (size_t)wo;
        for (int32_t oy0 = 0; oy0 < ho; oy0 += rows) {
            const int32_t oy1 = ho - oy0 < rows ? ho : oy0 + rows;
            for (int32_t oy = oy0; oy < oy1; oy++) {
                /* the loader keeps every window on at least one input row (y0 < y1) */
                int32_t y0 = oy * sh - pt, y1 = y0 + kh;
                y0 = y0 < 0 ? 0 : y0;
                y1 = y1 > h ? h : y1;
                vmax_rows(buf + (size_t)(oy - oy0) * (size_t)rs + 64, x, w, nx, y0, y1);
            }
            for (int32_t oy = oy0; oy < oy1; oy++) {
                const int8_t *b = buf + (size_t)(oy - oy0) * (size_t)rs + 64 - pl;
                int8_t *yr = y + (size_t)oy * (size_t)wo;
                if (sw == 1 || sw == 2 || sw == 4 || sw == 8)
                    hmax_pow2(yr, b, wo, kw, sw);
                else
                    hmax_any(yr, hm, b, wo, kw, sw);
            }
        }
    }
}

/* the same with kw and sw constants (the compiler unrolls the taps) */
static MP_TARGET void pool_3s1(const ert_kctx *k, uint32_t b, uint32_t e, int8_t *buf,
                               int32_t rs, int32_t rows)
{
    pool_rows(k, b, e, buf, rs, rows, NULL, 3, 1);
}

static MP_TARGET void pool_any(const ert_kctx *k, uint32_t b, uint32_t e, int8_t *buf,
                               int32_t rs, int32_t rows, int8_t *hm)
{
    pool_rows(k, b, e, buf, rs, rows, hm, k->node->params[P_KW], k->node->params[P_SW]);
}

/* Stride 2, windows 2 or 3 wide (any kh, sh and pads): no row buffer. The
 * vertical maxima of 64 input columns, V (and the vectors before and after it, P and N), hold
 * the windows of 32 outputs: output i of the vector starts at column 2i - pl, so its taps are
 * columns 2i + d, d in [-pl, kw - 1 - pl] within [-2, 2], each the low byte of 16-bit lane i of
 * V shifted by d bytes (within the lane for d = 1, across lanes with valignq + vpalignr
 * otherwise); vpmovwb keeps the low bytes. */

MP_INLINE void pool_s2_regs(const ert_kctx *k, uint32_t begin, uint32_t end, int32_t kw,
                            int32_t pl)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    const int32_t kh = p[P_KH], sh = p[P_SH], pt = p[P_PT];
    const int32_t last = (wo - 1) * 2 - pl + kw, nx = last < w ? last : w;
    const int32_t dmin = -pl, dmax = kw - 1 - pl;
    const __m512i lo = _mm512_set1_epi8(INT8_MIN);
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * (size_t)h * (size_t)w;
        int8_t *y = k->out + (size_t)c * (size_t)ho * (size_t)wo;
        for (int32_t oy = 0; oy < ho; oy++) {
            /* the loader keeps every window on at least one input row (y0 < y1) */
            int32_t y0 = oy * sh - pt, y1 = y0 + kh;
            y0 = y0 < 0 ? 0 : y0;
            y1 = y1 > h ? h : y1;
            const int8_t *r = x + (size_t)y0 * (size_t)w;
            int8_t *yr = y + (size_t)oy * (size_t)wo;
            __m512i pv = lo, v = vcols(r, w, y1 - y0, 0, nx);
            for (int32_t ox = 0;; ox += 32) {
                const int more = ox + 32 < wo;
                const __m512i nv = more || dmax >= 2 ? vcols(r, w, y1 - y0, 2 * ox + 64, nx) : lo;
                __m512i m = v;
                if (dmax >= 1) /* column 2i + 1: the high byte of lane i */
                    m = _mm512_max_epi8(m, _mm512_srli_epi16(v, 8));
                if (dmax >= 2) /* 2i + 2: v shifted down 2 bytes, nv's first bytes entering */
                    m = _mm512_max_epi8(
                        m, _mm512_alignr_epi8(_mm512_alignr_epi64(nv, v, 2), v, 2));
                if (dmin <= -1) { /* 2i - 1 and 2i - 2: v shifted up, pv's last bytes entering */
                    const __m512i u = _mm512_alignr_epi64(v, pv, 6);
                    m = _mm512_max_epi8(m, _mm512_alignr_epi8(v, u, 15));
                    if (dmin <= -2)
                        m = _mm512_max_epi8(m, _mm512_alignr_epi8(v, u, 14));
                }
                _mm256_mask_storeu_epi8(yr + ox, (__mmask32)lanes(wo - ox),
                                        _mm512_cvtepi16_epi8(m));
                if (!more)
                    break;
                pv = v;
                v = nv;
            }
        }
    }
}

/* VGG's 2x2 stride-2 unpadded pool, from the two input rows directly: the windows of 2 and 3
 * rows above cost a quarter more at 112 columns (their edge and mask handling per vector) */
static MP_TARGET void pool_2s2_direct(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * (size_t)h * (size_t)w;
        int8_t *y = k->out + (size_t)c * (size_t)ho * (size_t)wo;
        for (int32_t oy = 0; oy < ho; oy++) {
            const int8_t *r0 = x + (size_t)(2 * oy) * (size_t)w, *r1 = r0 + w;
            int8_t *yr = y + (size_t)oy * (size_t)wo;
            for (int32_t ox = 0; ox < wo; ox += 32) {
                const __mmask64 in = lanes(2 * (wo - ox));
                const __m512i v = _mm512_max_epi8(_mm512_maskz_loadu_epi8(in, r0 + 2 * ox),
                                                  _mm512_maskz_loadu_epi8(in, r1 + 2 * ox));
                const __m512i m = _mm512_max_epi8(v, _mm512_srli_epi16(v, 8));
                _mm256_mask_storeu_epi8(yr + ox, (__mmask32)lanes(wo - ox),
                                        _mm512_cvtepi16_epi8(m));
            }
        }
    }
}

#define POOL_S2(KW, PL)                                                                    \
    static MP_TARGET void pool_s2_k##KW##p##PL(const ert_kctx *k, uint32_t b, uint32_t e)  \
    {                                                                                      \
        pool_s2_regs(k, b, e, KW, PL);                                                     \
    }
POOL_S2(2, 0)
POOL_S2(2, 1)
POOL_S2(3, 0)
POOL_S2(3, 1)
POOL_S2(3, 2)

MP_TARGET uint64_t ert_maxpool_s8_avx512(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t ho = yt->dims[2], wo = yt->dims[3];
    const int32_t kw = p[P_KW], sw = p[P_SW], pl = p[P_PL];
    const int32_t h = xt->dims[2], w = xt->dims[3], kh = p[P_KH], sh = p[P_SH];
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && !p[P_PT] && !pl && ho == h / 2 &&
        wo == w / 2) {
        pool_2s2_direct(k, begin, end);
        return 0;
    }
    if (sw == 2 && kw == 2) { /* pl < kw (the loader) */
        (pl ? pool_s2_k2p1 : pool_s2_k2p0)(k, begin, end);
        return 0;
    }
    if (sw == 2 && kw == 3) {
        (pl == 0 ? pool_s2_k3p0 : pl == 1 ? pool_s2_k3p1 : pool_s2_k3p2)(k, begin, end);
        return 0;
    }
    /* bytes the horizontal pass reads of a row, a bound for both hmax_pow2 and hmax_any; it
     * covers the columns vmax_rows writes too (they end where the last window ends) */
    const int64_t need = (int64_t)sw * (((int64_t)wo + 63) / 64 * 64) + kw + 64;
    if (need > ROW_MAX)
        return ert_maxpool_s8_c(k, begin, end);
    /* a row: input column 0 at byte 64 (aligned stores), its padded row from 64 - pl */
    const int32_t rs = (int32_t)(need + 64 + 63) / 64 * 64;
    const int32_t rows = ho < BUF_BYTES / rs ? ho : BUF_BYTES / rs;
    _Alignas(64) int8_t buf[BUF_BYTES];
    /* left and right padding columns (and the slack the last vectors read): never the max;
     * vmax_rows writes only input columns, [64, 64 + nx) of each row */
    memset(buf, INT8_MIN, (size_t)rows * (size_t)rs);
    if (kw == 3 && sw == 1)
        pool_3s1(k, begin, end, buf, rs, rows);
    else if (sw == 1 || sw == 2 || sw == 4 || sw == 8)
        pool_any(k, begin, end, buf, rs, rows, NULL);
    else {
        _Alignas(64) int8_t hm[ROW_MAX];
        pool_any(k, begin, end, buf, rs, rows, hm);
    }
    return 0;
}
#else
typedef int ert_no_avx512_maxpool; /* not an x86-64 build */
#endif
