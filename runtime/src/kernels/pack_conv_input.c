/* Pre-steps of the optimized CONV kernels: copy the NCHW int8 input into the packed layout of
 * opt.h (padding materialised as the zero point, stride phases split into planes, optional
 * ^0x80 to u8, channel quads interleaved for q4), and count per plane row whether any input
 * there differs from the zero point (zero-activation skipping). Units: input channels
 * (planar) or packed quads (q4). */
#include "opt_kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* 16 bytes at a time with the compiler's generic vectors (SSE2 / NEON code, no flags) */
typedef uint8_t ert_u8x16 __attribute__((vector_size(16)));

/* dst[i] = src[i] ^ xr for i < n; returns whether some src[i] != zx. Rows of 16 bytes or
 * more end with an overlapping 16-byte step instead of a scalar tail. */
static inline uint8_t copy_xor(uint8_t *dst, const int8_t *src, size_t n, uint8_t xr,
                               int8_t zx)
{
    if (n < 16) {
        uint8_t nz = 0;
        for (size_t i = 0; i < n; i++) {
            dst[i] = (uint8_t)src[i] ^ xr;
            nz |= src[i] != zx;
        }
        return nz;
    }
    const ert_u8x16 vx = (ert_u8x16){0} + xr, vz = (ert_u8x16){0} + (uint8_t)zx;
    ert_u8x16 any = {0};
    for (size_t i = 0;; i += 16) {
        if (i + 16 > n)
            i = n - 16;
        ert_u8x16 v;
        memcpy(&v, src + i, 16);
        any |= (ert_u8x16)(v != vz);
        v ^= vx;
        memcpy(dst + i, &v, 16);
        if (i + 16 == n)
            break;
    }
    uint64_t lanes[2];
    memcpy(lanes, &any, 16);
    return (lanes[0] | lanes[1]) != 0;
}

/* memset for the few bytes of a padding edge */
static inline void pad_bytes(uint8_t *dst, uint8_t v, int32_t n)
{
    if (n > 32) {
        memset(dst, v, (size_t)n);
        return;
    }
    for (int32_t i = 0; i < n; i++)
        dst[i] = v;
}

/* Columns qx of plane column phase rx whose input column qx*sw + rx - pl lies in [0, w). */
static void column_range(const ert_conv_plan *cv, int32_t rx, int32_t *lo, int32_t *hi)
{
    int32_t a = cv->pl - rx; /* ix = qx*sw - a */
    int32_t l = a <= 0 ? 0 : (a + cv->sw - 1) / cv->sw;
    int32_t h = cv->w - 1 + a < 0 ? 0 : (cv->w - 1 + a) / cv->sw + 1;
    if (h > cv->wq)
        h = cv->wq;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

#define GATHER_CHUNK 256 /* columns gathered at a time for stride 2 */
#define FILL_MAX 4096    /* zero-point row for the missing channels of a quad (>= GATHER_CHUNK) */

static int plane_used(const ert_conv_plan *cv, int32_t ry, int32_t rx)
{
    int32_t p = ry * cv->sw + rx;
    return p >= 64 || (cv->planes_used >> p) & 1;
}

/* dst[i] = src[i * 2] for i < n (SSE2 for 16 at a time: even bytes of 32) */
static void gather2(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
#if defined(__SSE2__)
    const __m128i low = _mm_set1_epi16(0x00ff);
    for (; i + 16 <= n && 2 * i + 32 <= 2 * n - 1; i += 16) { /* src[2i, 2i + 32) only */
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i + 16));
        _mm_storeu_si128((__m128i *)(void *)(dst + i),
                         _mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low)));
    }
#endif
    for (; i < n; i++)
        dst[i] = src[2 * i];
}

/* dst[i] = src[2i] ^ xr for i < n (SSE2: the even bytes of 32 at a time, reading no further
 * than src[2n - 2]); returns whether some src[2i] != zx. */
static uint8_t gather2_xor(uint8_t *dst, const int8_t *src, int32_t n, uint8_t xr, int8_t zx)
{
    int32_t i = 0;
    uint8_t nz = 0;
#if defined(__SSE2__)
    const __m128i low = _mm_set1_epi16(0x00ff), vx = _mm_set1_epi8((char)xr);
    const __m128i vz = _mm_set1_epi8(zx);
    __m128i any = _mm_setzero_si128();
    for (; i + 16 <= n && 2 * i + 32 <= 2 * n - 1; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i + 16));
        __m128i v = _mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low));
        any = _mm_or_si128(any, _mm_andnot_si128(_mm_cmpeq_epi8(v, vz), _mm_set1_epi8(-1)));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(v, vx));
    }
    nz = _mm_movemask_epi8(any) != 0;
#endif
    for (; i < n; i++) {
        dst[i] = (uint8_t)src[2 * i] ^ xr;
        nz |= src[2 * i] != zx;
    }
    return nz;
}

/* Turn per-row flags in pref[1..hq] into prefix counts. */
static void prefix(uint32_t *pref, int32_t hq)
{
    pref[0] = 0;
    for (int32_t i = 1; i <= hq; i++)
        pref[i] = pref[i - 1] + (pref[i] != 0);
}

uint64_t ert_pack_planar(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_conv_plan *cv = &k->opt->cv;
    const uint8_t pad = (uint8_t)((uint8_t)cv->zx ^ cv->xor8), xr = cv->xor8;
    const int8_t zx = (int8_t)cv->zx;
    for (uint32_t ci = begin; ci < end; ci++) {
        const int8_t *src = k->in[0] + (size_t)ci * (size_t)cv->h * (size_t)cv->w;
        uint8_t *dst = cv->packed + (size_t)ci * cv->chan_stride;
        uint32_t *pref = cv->nzpref + (size_t)ci * ((size_t)cv->hq + 1);
        memset(pref, 0, sizeof *pref * ((size_t)cv->hq + 1));
        for (int32_t ry = 0; ry < cv->sh; ry++) {
            for (int32_t rx = 0; rx < cv->sw; rx++) {
                if (!plane_used(cv, ry, rx))
                    continue;
                uint8_t *plane = dst + (size_t)(ry * cv->sw + rx) * cv->plane_px;
                int32_t lo, hi;
                column_range(cv, rx, &lo, &hi);
                for (int32_t qy = 0; qy < cv->hq; qy++) {
                    uint8_t *row = plane + (size_t)qy * (size_t)cv->wq;
                    int32_t iy = qy * cv->sh + ry - cv->pt;
                    if (iy < 0 || iy >= cv->h || lo == hi) {
                        memset(row, pad, (size_t)cv->wq);
                        continue;
                    }
                    /* input column of plane column qx: qx*sw + rx - pl, >= 0 from lo on */
                    const int8_t *s = src + (size_t)iy * (size_t)cv->w;
                    const ptrdiff_t shift = rx - cv->pl;
                    pad_bytes(row, pad, lo);
                    uint8_t nz = 0;
                    if (cv->sw == 1) {
                        nz = copy_xor(row + lo, s + (lo + shift), (size_t)(hi - lo), xr, zx);
                    } else if (cv->sw == 2) { /* the phase's columns: every other input byte */
                        nz = gather2_xor(row + lo, s + (2 * (ptrdiff_t)lo + shift), hi - lo, xr,
                                         zx);
                    } else {
                        for (int32_t qx = lo; qx < hi; qx++) {
                            int8_t v = s[(ptrdiff_t)qx * cv->sw + shift];
                            row[qx] = (uint8_t)v ^ xr;
                            nz |= v != zx;
                        }
                    }
                    pad_bytes(row + hi, pad, cv->wq - hi);
                    pref[qy + 1] |= nz;
                }
            }
        }
        prefix(pref, cv->hq);
    }
    return 0;
}

#if defined(__SSE2__)
/* 16 positions of 4 channels -> 64 interleaved bytes; ORs the non-zero lanes into *any */
static inline void interleave16(uint8_t *out, const int8_t *const src[4], __m128i vx,
                                __m128i vz, __m128i *any)
{
    __m128i v[4];
    for (int j = 0; j < 4; j++) {
        __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)src[j]);
        *any = _mm_or_si128(*any, _mm_andnot_si128(_mm_cmpeq_epi8(raw, vz),
                                                    _mm_set1_epi8(-1)));
        v[j] = _mm_xor_si128(raw, vx);
    }
    __m128i ab_lo = _mm_unpacklo_epi8(v[0], v[1]), ab_hi = _mm_unpackhi_epi8(v[0], v[1]);
    __m128i cd_lo = _mm_unpacklo_epi8(v[2], v[3]), cd_hi = _mm_unpackhi_epi8(v[2], v[3]);
    __m128i *o = (__m128i *)(void *)out;
    _mm_storeu_si128(o, _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
}
#endif

/* n positions of a q4 row from 4 contiguous channel rows: x86 interleaves 16 positions of
 * the 4 channels with unpack instructions (a short tail through a zero-point-padded copy, so
 * narrow stride-2 planes stay vectorized); elsewhere byte by byte. Returns the non-zero
 * flag. */
static uint8_t interleave4(uint8_t *row, const int8_t *const src[4], int32_t n, uint8_t xr,
                           int8_t zx)
{
    int32_t qx = 0;
#if defined(__SSE2__)
    const __m128i vx = _mm_set1_epi8((char)xr), vz = _mm_set1_epi8(zx);
    __m128i any = _mm_setzero_si128();
    for (; qx + 16 <= n; qx += 16) {
        const int8_t *at[4] = {src[0] + qx, src[1] + qx, src[2] + qx, src[3] + qx};
        interleave16(row + 4 * (size_t)qx, at, vx, vz, &any);
    }
    if (qx < n) {
        int8_t tail[4][16];
        const int8_t *at[4] = {tail[0], tail[1], tail[2], tail[3]};
        uint8_t out[64];
        for (int j = 0; j < 4; j++) {
            memset(tail[j], zx, 16);
            memcpy(tail[j], src[j] + qx, (size_t)(n - qx));
        }
        interleave16(out, at, vx, vz, &any);
        memcpy(row + 4 * (size_t)qx, out, 4 * (size_t)(n - qx));
    }
    return _mm_movemask_epi8(any) != 0;
#else
    uint8_t nz = 0;
    for (; qx < n; qx++)
        for (int j = 0; j < 4; j++) {
            row[4 * qx + j] = (uint8_t)src[j][qx] ^ xr;
            nz |= src[j][qx] != zx;
        }
    return nz;
#endif
}

#if defined(__x86_64__)
/* The same with AVX-512BW, 64 positions at a time: only the VNNI kernels read q4 layouts, so
 * the hosts that pack one run it (the caller checks). Bytes are interleaved within 128-bit
 * lanes, then the lanes transposed 4 x 4 (vshufi64x2) into position order; a tail goes
 * through masked loads (zero point) and stores. */
__attribute__((target("avx512f,avx512bw"))) static uint8_t
interleave4_avx512(uint8_t *row, const int8_t *const src[4], int32_t n, uint8_t xr, int8_t zx)
{
    const __m512i vx = _mm512_set1_epi8((char)xr), vz = _mm512_set1_epi8(zx);
    __mmask64 any = 0;
    for (int32_t qx = 0; qx < n; qx += 64) {
        const int32_t left = n - qx;
        const __mmask64 m = left >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << left) - 1;
        __m512i v[4];
        for (int j = 0; j < 4; j++) {
            const __m512i raw = _mm512_mask_loadu_epi8(vz, m, src[j] + qx);
            any |= _mm512_cmpneq_epi8_mask(raw, vz);
            v[j] = _mm512_xor_si512(raw, vx);
        }
        const __m512i ab_lo = _mm512_unpacklo_epi8(v[0], v[1]);
        const __m512i ab_hi = _mm512_unpackhi_epi8(v[0], v[1]);
        const __m512i cd_lo = _mm512_unpacklo_epi8(v[2], v[3]);
        const __m512i cd_hi = _mm512_unpackhi_epi8(v[2], v[3]);
        /* r_i, 128-bit lane L: positions 16 L + 4 i .. + 3 */
        const __m512i r0 = _mm512_unpacklo_epi16(ab_lo, cd_lo);
        const __m512i r1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
        const __m512i r2 = _mm512_unpacklo_epi16(ab_hi, cd_hi);
        const __m512i r3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
        const __m512i t0 = _mm512_shuffle_i64x2(r0, r1, 0x44); /* r0.L0 r0.L1 r1.L0 r1.L1 */
        const __m512i t1 = _mm512_shuffle_i64x2(r2, r3, 0x44);
        const __m512i t2 = _mm512_shuffle_i64x2(r0, r1, 0xEE); /* r0.L2 r0.L3 r1.L2 r1.L3 */
        const __m512i t3 = _mm512_shuffle_i64x2(r2, r3, 0xEE);
        const __m512i out[4] = {_mm512_shuffle_i64x2(t0, t1, 0x88),
                                _mm512_shuffle_i64x2(t0, t1, 0xDD),
                                _mm512_shuffle_i64x2(t2, t3, 0x88),
                                _mm512_shuffle_i64x2(t2, t3, 0xDD)};
        uint8_t *dst = row + 4 * (size_t)qx;
        for (int i = 0; i < 4; i++) { /* output vector i: positions qx + 16 i .. + 15 */
            const int32_t bytes = 4 * (left - 16 * i);
            if (bytes <= 0)
                break;
            const __mmask64 sm = bytes >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << bytes) - 1;
            _mm512_mask_storeu_epi8(dst + 64 * i, sm, out[i]);
        }
    }
    return any != 0;
}
#endif

uint64_t ert_pack_q4(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_conv_plan *cv = &k->opt->cv;
    const uint8_t pad = (uint8_t)((uint8_t)cv->zx ^ cv->xor8), xr = cv->xor8;
    const int8_t zx = (int8_t)cv->zx;
    const size_t hw = (size_t)cv->h * (size_t)cv->w;
#if defined(__x86_64__)
    const int wide = ert_isa_supported(ERT_ISA_AVX512VNNI);
#define INTERLEAVE4(row, rows, n) \
    (wide ? interleave4_avx512(row, rows, n, xr, zx) : interleave4(row, rows, n, xr, zx))
#else
#define INTERLEAVE4(row, rows, n) interleave4(row, rows, n, xr, zx)
#endif
    int8_t fill[FILL_MAX]; /* zero points: the missing channels of a last quad */
    if (cv->cin_g % 4)
        memset(fill, zx, sizeof fill);
    for (uint32_t qi = begin; qi < end; qi++) {
        int32_t g = (int32_t)qi / cv->cq_g, cq = (int32_t)qi % cv->cq_g;
        int32_t nch = cv->cin_g - 4 * cq < 4 ? cv->cin_g - 4 * cq : 4;
        const int8_t *src = k->in[0] + (size_t)(g * cv->cin_g + 4 * cq) * hw;
        uint8_t *dst = cv->packed + (size_t)qi * cv->chan_stride;
        uint32_t *pref = cv->nzpref + (size_t)qi * ((size_t)cv->hq + 1);
        memset(pref, 0, sizeof *pref * ((size_t)cv->hq + 1));
        for (int32_t ry = 0; ry < cv->sh; ry++) {
            for (int32_t rx = 0; rx < cv->sw; rx++) {
                if (!plane_used(cv, ry, rx))
                    continue;
                uint8_t *plane = dst + (size_t)(ry * cv->sw + rx) * cv->plane_px * 4;
                int32_t lo, hi;
                column_range(cv, rx, &lo, &hi);
                for (int32_t qy = 0; qy < cv->hq; qy++) {
                    uint8_t *row = plane + (size_t)qy * (size_t)cv->wq * 4;
                    int32_t iy = qy * cv->sh + ry - cv->pt;
                    /* quads of fewer than 4 channels (3-channel images) interleave rows of
                       zero points in place of the missing channels */
                    const int fast = lo < hi && (cv->sw == 2 || (cv->sw == 1 &&
                                                 (nch == 4 || hi - lo <= FILL_MAX)));
                    if (iy < 0 || iy >= cv->h || !fast) {
                        memset(row, pad, (size_t)cv->wq * 4);
                        if (iy < 0 || iy >= cv->h)
                            continue;
                    } else { /* the interleave below writes columns [lo, hi) */
                        pad_bytes(row, pad, 4 * lo);
                        pad_bytes(row + 4 * (size_t)hi, pad, 4 * (cv->wq - hi));
                    }
                    uint8_t nz = 0;
                    if (fast && cv->sw == 1) {
                        /* channel rows, shifted so that index qx is input column qx + rx - pl */
                        const int8_t *rows[4];
                        for (int32_t j = 0; j < 4; j++)
                            rows[j] = j >= nch ? fill
                                               : src + (size_t)j * hw + (size_t)iy * (size_t)cv->w +
                                                     (size_t)(lo + rx - cv->pl);
                        nz = INTERLEAVE4(row + 4 * (size_t)lo, rows, hi - lo);
                    } else if (fast) { /* stride 2 */
                        int8_t tmp[4][GATHER_CHUNK];
                        for (int32_t q = lo; q < hi; q += GATHER_CHUNK) {
                            int32_t m = hi - q < GATHER_CHUNK ? hi - q : GATHER_CHUNK;
                            const int8_t *rows[4] = {fill, fill, fill, fill};
                            for (int32_t j = 0; j < nch; j++) {
                                gather2(tmp[j], src + (size_t)j * hw + (size_t)iy * (size_t)cv->w +
                                                    (size_t)(2 * q + rx - cv->pl), m);
                                rows[j] = tmp[j];
                            }
                            nz |= INTERLEAVE4(row + 4 * (size_t)q, rows, m);
                        }
                    } else {
                        for (int32_t j = 0; j < nch; j++) {
                            const int8_t *s = src + (size_t)j * hw + (size_t)iy * (size_t)cv->w;
                            for (int32_t qx = lo; qx < hi; qx++) {
                                int8_t v = s[(ptrdiff_t)qx * cv->sw + rx - cv->pl];
                                row[4 * qx + j] = (uint8_t)v ^ xr;
                                nz |= v != zx;
                            }
                        }
                    }
                    pref[qy + 1] |= nz;
                }
            }
        }
        prefix(pref, cv->hq);
        /* copy d holds this quad's positions shifted by d (q4 sparse, aligned loads); past
           its own region, padding: another unit may be writing the next quad */
        for (int32_t d = 1; d < cv->ncopies; d++) {
            uint8_t *cp = dst + (size_t)d * cv->copy_bytes;
            memcpy(cp, dst + 4 * (size_t)d, cv->chan_stride - 4 * (size_t)d);
            memset(cp + cv->chan_stride - 4 * (size_t)d, pad, 4 * (size_t)d);
        }
    }
    return 0;
}
#undef INTERLEAVE4
