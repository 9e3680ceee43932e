/* MAXPOOL, portable C: per output row, the element-wise maximum of the window's input rows,
 * then the running maximum over kw columns (both 16 bytes at a time with the compiler's generic
 * vectors), from which each output picks its window (stride 1 and 2: 16 at a time too);
 * windows clipped by the input edge are computed directly, exactly as the reference kernel
 * clips them. Units: channels. */
#include "opt_kernels.h"

typedef int8_t ert_i8x16 __attribute__((vector_size(16)));

#define ROW_CHUNK 1024 /* input columns per pass (stack buffer) */

static void vmax_rows(int8_t *v, const int8_t *x, int32_t w, int32_t y0, int32_t y1,
                      int32_t c0, int32_t n)
{
    memcpy(v, x + (size_t)y0 * w + c0, (size_t)n);
    for (int32_t iy = y0 + 1; iy < y1; iy++) {
        const int8_t *r = x + (size_t)iy * w + c0;
        int32_t i = 0;
        for (; i + 16 <= n; i += 16) {
            ert_i8x16 a, b;
            memcpy(&a, v + i, 16);
            memcpy(&b, r + i, 16);
            ert_i8x16 gt = (ert_i8x16)(b > a);
            a = (a & ~gt) | (b & gt);
            memcpy(v + i, &a, 16);
        }
        for (; i < n; i++)
            v[i] = r[i] > v[i] ? r[i] : v[i];
    }
}

static inline void vmax16(int8_t *dst, const int8_t *a, const int8_t *b)
{
    ert_i8x16 va, vb;
    memcpy(&va, a, 16);
    memcpy(&vb, b, 16);
    ert_i8x16 gt = (ert_i8x16)(vb > va);
    va = (va & ~gt) | (vb & gt);
    memcpy(dst, &va, 16);
}

static void hmax(int8_t *hm, const int8_t *v, int32_t n, int32_t kw)
{
    if (n <= 0)
        return;
    memcpy(hm, v, (size_t)n);
    for (int32_t j = 1; j < kw; j++) {
        int32_t i = 0;
        for (; i + 16 <= n; i += 16)
            vmax16(hm + i, hm + i, v + i + j);
        for (; i < n; i++)
            hm[i] = v[i + j] > hm[i] ? v[i + j] : hm[i];
    }
}

/* dst[i] = src[i * sw] for i < n; stride 2 takes the even bytes of 32 at a time, reading no
 * further than src[2n - 2] */
static void pick(int8_t *dst, const int8_t *src, int32_t n, int32_t sw)
{
    int32_t i = 0;
    if (sw == 1) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    if (sw == 2)
        for (; i + 17 <= n; i += 16) {
            ert_i8x16 a, b;
            memcpy(&a, src + 2 * i, 16);
            memcpy(&b, src + 2 * i + 16, 16);
            const ert_i8x16 e = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                                        20, 22, 24, 26, 28, 30);
            memcpy(dst + i, &e, 16);
        }
    for (; i < n; i++)
        dst[i] = src[(size_t)i * sw];
}

uint64_t ert_maxpool_s8_c(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const int32_t *p = k->node->params;
    const ert_tensor *xt = ert_in_tensor(k, 0), *yt = ert_out_tensor(k);
    const int32_t h = xt->dims[2], w = xt->dims[3], ho = yt->dims[2], wo = yt->dims[3];
    const int32_t kh = p[P_KH], kw = p[P_KW], sh = p[P_SH], sw = p[P_SW], pt = p[P_PT],
                  pl = p[P_PL];
    int8_t v[ROW_CHUNK], hm[ROW_CHUNK];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *x = k->in[0] + (size_t)c * h * w;
        int8_t *y = k->out + (size_t)c * ho * wo;
        for (int32_t oy = 0; oy < ho; oy++) {
            int32_t y0 = oy * sh - pt, y1 = y0 + kh;
            y0 = y0 < 0 ? 0 : y0;
            y1 = y1 > h ? h : y1;
            /* output columns in chunks whose input columns fit the buffer */
            for (int32_t ox0 = 0; ox0 < wo;) {
                int32_t c0 = ox0 * sw - pl;
                c0 = c0 < 0 ? 0 : c0;
                int32_t ox1 = ox0;
                while (ox1 < wo && ox1 * sw - pl + kw - c0 <= ROW_CHUNK)
                    ox1++;
                if (ox1 == ox0)
                    ox1 = ox0 + 1; /* a window wider than the buffer: clipped below */
                int32_t c1 = (ox1 - 1) * sw - pl + kw;
                c1 = c1 > w ? w : c1;
                if (c1 - c0 > ROW_CHUNK)
                    c1 = c0 + ROW_CHUNK;
                vmax_rows(v, x, w, y0, y1, c0, c1 - c0);
                /* hm[i] = max(v[i .. i + kw)): every full-width window at once */
                const int32_t nh = c1 - c0 - kw + 1;
                hmax(hm, v, nh, kw);
                /* outputs [oxa, oxb) have their window inside [c0, c1): straight from hm */
                int32_t oxa = (c0 + pl + sw - 1) / sw, oxb = ox1;
                if (c1 - kw + pl < 0)
                    oxb = oxa;
                else if ((c1 - kw + pl) / sw + 1 < oxb)
                    oxb = (c1 - kw + pl) / sw + 1;
                oxa = oxa < ox0 ? ox0 : oxa;
                if (oxa < oxb)
                    pick(y + (size_t)oy * wo + oxa, hm + (oxa * sw - pl - c0), oxb - oxa, sw);
                for (int32_t ox = ox0; ox < ox1; ox++) {
                    int32_t x0 = ox * sw - pl, x1 = x0 + kw;
                    if (ox == oxa && oxa < oxb) { /* done above */
                        ox = oxb - 1;
                        continue;
                    }
                    if (x0 >= c0 && x1 <= c1) {
                        y[(size_t)oy * wo + ox] = hm[x0 - c0];
                        continue;
                    }
                    x0 = x0 < 0 ? 0 : x0;
                    x1 = x1 > w ? w : x1;
                    int8_t m = INT8_MIN;
                    if (x1 <= c1) {
                        for (int32_t ix = x0; ix < x1; ix++)
                            m = v[ix - c0] > m ? v[ix - c0] : m;
                    } else { /* only for windows wider than the buffer */
                        for (int32_t iy = y0; iy < y1; iy++)
                            for (int32_t ix = x0; ix < x1; ix++)
                                m = x[(size_t)iy * w + ix] > m ? x[(size_t)iy * w + ix] : m;
                    }
                    y[(size_t)oy * wo + ox] = m;
                }
                ox0 = ox1;
            }
        }
    }
    return 0;
}
