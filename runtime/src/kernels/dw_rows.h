/* Input rows of the portable and NEON depthwise kernels (conv_s8_dw_c.c, conv_s8_dw_neon.c):
 * each input row is copied once into zero-point-padded rows split by column phase (column
 * ix = ox * sw + kx * dw - pl lands in phase (kx * dw) % sw at ox + (kx * dw) / sw), kept in a
 * ring of ERT_DW_SLOTS while the output rows that read it are computed, so every tap is a
 * contiguous run over the output row. */
#ifndef ERT_DW_ROWS_H
#define ERT_DW_ROWS_H

#include "opt_kernels.h"

typedef struct ert_dw_ring {
    int32_t slots, len;          /* (kh - 1) * dh + 1 rows; bytes per phase row */
    int32_t tag[ERT_DW_SLOTS];   /* input row held by each slot */
    int8_t row[ERT_DW_SLOTS][ERT_DW_MAX_W + 64];
} ert_dw_ring;

/* Phase rows of input row iy: ph[rx * len + j] = input column j * sw + rx - pl (zx outside). */
static inline void ert_dw_phase_rows(int8_t *ph, const int8_t *x, const ert_conv_plan *cv,
                                     int32_t iy, int32_t len)
{
    memset(ph, (int8_t)cv->zx, (size_t)cv->sw * (size_t)len);
    if (iy < 0 || iy >= cv->h)
        return;
    const int8_t *row = x + (size_t)iy * (size_t)cv->w;
    for (int32_t rx = 0; rx < cv->sw; rx++) {
        int8_t *dst = ph + (size_t)rx * (size_t)len;
        /* j with 0 <= j * sw + rx - pl < w */
        int32_t a = cv->pl - rx, j0 = a <= 0 ? 0 : (a + cv->sw - 1) / cv->sw;
        int32_t j1 = cv->w - 1 + a < 0 ? 0 : (cv->w - 1 + a) / cv->sw + 1;
        if (j1 > len)
            j1 = len;
        if (cv->sw == 1) {
            if (j1 > j0)
                memcpy(dst + j0, row + (j0 - a), (size_t)(j1 - j0));
        } else {
            for (int32_t j = j0; j < j1; j++)
                dst[j] = row[(ptrdiff_t)j * cv->sw - a];
        }
    }
}

/* Start a channel: phase rows of `len` bytes, the 16-output blocks' reads included. */
static inline void ert_dw_ring_reset(ert_dw_ring *r, const ert_conv_plan *cv, int32_t len)
{
    r->slots = (cv->kh - 1) * cv->dh + 1;
    r->len = len;
    for (int32_t i = 0; i < r->slots; i++)
        r->tag[i] = INT32_MIN;
}

/* The phase rows of input row iy of channel plane x (built on first use). */
static inline const int8_t *ert_dw_ring_row(ert_dw_ring *r, const int8_t *x,
                                            const ert_conv_plan *cv, int32_t iy)
{
    const int32_t slot = ((iy % r->slots) + r->slots) % r->slots;
    if (r->tag[slot] != iy) {
        ert_dw_phase_rows(r->row[slot], x, cv, iy, r->len);
        r->tag[slot] = iy;
    }
    return r->row[slot];
}

/* Phase row length for wo outputs in blocks of 16: the last block's reads at the farthest
 * tap. */
static inline int32_t ert_dw_row_len(const ert_conv_plan *cv)
{
    return (cv->wo + 15) / 16 * 16 + ((cv->kw - 1) * cv->dw) / cv->sw;
}

/* Whether the channel's output is the requantized bias: no non-zero weight, or an input plane
 * all at the zero point. */
static inline int ert_dw_constant(const ert_opt_node *o, uint32_t c, const int8_t *x, size_t hw)
{
    if (o->dw_empty[c])
        return 1;
    size_t i = 0;
    while (i < hw && x[i] == (int8_t)o->cv.zx)
        i++;
    return i == hw;
}

#endif
