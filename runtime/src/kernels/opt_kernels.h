/* Helpers shared by the optimized kernels (src/opt.h explains the data they read): tiles of
 * output positions with their zero-activation bitmap, the weight walkers, and the scalar
 * requantize-and-store of a tile. */
#ifndef ERT_OPT_KERNELS_H
#define ERT_OPT_KERNELS_H

#include <string.h>

#include "../opt.h"
#include "../requant.h"
#include "kernels.h"

/* Packed channels a tile can track as all-zero (more: no activation skipping). */
#define ERT_TILE_MAX_PACKED 16384
#define ERT_MAX_TAPS 255

/* One tile of output positions [p0, p1) for the output channels [begin, end) of a call. */
typedef struct ert_tile {
    size_t p0, p1;
    int32_t oy0, oy1;          /* first and last output row of the tile */
    int inb_ready;
    int tracked;               /* few enough packed channels for the bitmaps below */
    uint64_t zero[ERT_TILE_MAX_PACKED / 64];  /* packed channel's input window all zero point */
    uint64_t skips[ERT_TILE_MAX_PACKED / 64]; /* group takes the skipping path */
    uint32_t inb[ERT_MAX_TAPS];/* in-bounds positions of each tap inside the tile */
} ert_tile;

/* Prepare tile [p0, min(p0 + tile, npos)): which packed channels of the groups used by output
 * channels [begin, end) read only zero-point inputs. A group takes the skipping path when at
 * least min_zero_pct percent of its packed channels do: below that, checking each weight costs
 * the kernel more than it saves, and it multiplies the zero inputs instead (exact either way).
 * Decided per group, so the MACs executed do not depend on how threads split the channels. */
static inline void ert_tile_begin(ert_tile *t, const ert_conv_plan *cv, size_t p0,
                                  uint32_t begin, uint32_t end, int min_zero_pct)
{
    t->p0 = p0;
    t->p1 = p0 + (size_t)cv->tile < cv->npos ? p0 + (size_t)cv->tile : cv->npos;
    t->oy0 = (int32_t)(p0 / (size_t)cv->wq);
    t->oy1 = (int32_t)((t->p1 - 1) / (size_t)cv->wq);
    t->inb_ready = 0;
    t->tracked = cv->n_packed <= ERT_TILE_MAX_PACKED; /* (then groups are too) */
    if (!t->tracked)
        return;
    const int32_t per_g = cv->n_packed / cv->groups;
    const int32_t g0 = (int32_t)(begin / (uint32_t)cv->cout_g);
    const int32_t g1 = (int32_t)((end - 1) / (uint32_t)cv->cout_g + 1);
    for (int32_t w = g0 / 64; w <= (g1 - 1) / 64; w++)
        t->skips[w] = 0;
    const int32_t pc0 = g0 * per_g, pc1 = g1 * per_g;
    int32_t lo = t->oy0, hi = t->oy1 + 1 + cv->max_dy;
    if (hi > cv->hq)
        hi = cv->hq;
    const uint32_t stride = (uint32_t)cv->hq + 1;
    for (int32_t w = pc0 / 64; w <= (pc1 - 1) / 64; w++)
        t->zero[w] = 0;
    for (int32_t g = g0; g < g1; g++) {
        int32_t zeros = 0;
        for (int32_t pc = g * per_g; pc < (g + 1) * per_g; pc++) {
            const uint32_t *pref = cv->nzpref + (size_t)pc * stride;
            uint64_t z = pref[hi] == pref[lo];
            t->zero[pc / 64] |= z << (pc % 64);
            zeros += (int32_t)z;
        }
        if (zeros > 0 && 100 * zeros >= min_zero_pct * per_g)
            t->skips[g / 64] |= (uint64_t)1 << (g % 64);
    }
}

/* whether group g takes the skipping path in this tile */
static inline int ert_tile_skips(const ert_tile *t, int32_t g)
{
    return t->tracked && (int)((t->skips[g / 64] >> (g % 64)) & 1);
}

static inline int ert_tile_zero(const ert_tile *t, int32_t pc)
{
    return (int)((t->zero[pc / 64] >> (pc % 64)) & 1);
}

/* Output columns [a, b) of one row intersected with [lo, hi). */
static inline uint32_t ert_overlap(int32_t a, int32_t b, int32_t lo, int32_t hi)
{
    int32_t l = a > lo ? a : lo, h = b < hi ? b : hi;
    return h > l ? (uint32_t)(h - l) : 0;
}

/* Fill t->inb: the in-bounds output positions of each tap inside the tile. */
static inline void ert_tile_inb_fill(ert_tile *t, const ert_conv_plan *cv)
{
    {
        const int32_t wq = cv->wq;
        const int32_t oxa = (int32_t)(t->p0 % (size_t)wq);
        const int32_t oxb = (int32_t)((t->p1 - 1) % (size_t)wq) + 1;
        for (int32_t ky = 0; ky < cv->kh; ky++) {
            int32_t ylo = cv->oy_lo[ky], yhi = cv->oy_hi[ky];
            int first = t->oy0 >= ylo && t->oy0 < yhi;
            int last = t->oy1 != t->oy0 && t->oy1 >= ylo && t->oy1 < yhi;
            uint32_t mid = t->oy1 - t->oy0 >= 2 ? ert_overlap(t->oy0 + 1, t->oy1, ylo, yhi) : 0;
            for (int32_t kx = 0; kx < cv->kw; kx++) {
                int32_t xlo = cv->ox_lo[kx], xhi = cv->ox_hi[kx];
                uint32_t n;
                if (t->oy0 == t->oy1)
                    n = first ? ert_overlap(oxa, oxb, xlo, xhi) : 0;
                else
                    n = (first ? ert_overlap(oxa, wq, xlo, xhi) : 0) +
                        mid * ert_overlap(0, wq, xlo, xhi) +
                        (last ? ert_overlap(0, oxb, xlo, xhi) : 0);
                t->inb[ky * cv->kw + kx] = n;
            }
        }
        t->inb_ready = 1;
    }
}

/* In-bounds output positions of tap `tap` inside the tile (MACs one weight there costs). */
static inline uint32_t ert_tile_inb(ert_tile *t, const ert_conv_plan *cv, int32_t tap)
{
    if (!t->inb_ready)
        ert_tile_inb_fill(t, cv);
    return t->inb[tap];
}

/* Requantize acc[0, p1 - p0) (+ bc) of output channel c and store the valid positions. */
static inline void ert_store_tile_scalar(const ert_kctx *k, const ert_conv_plan *cv,
                                         const ert_tile *t, uint32_t c, int64_t bc,
                                         const int32_t *acc)
{
    const ert_node *n = k->node;
    const int32_t m = n->multiplier[c], sh = n->shift[c];
    int8_t *y = k->out + (size_t)c * (size_t)cv->ho * (size_t)cv->wo;
    int32_t oy = t->oy0, ox = (int32_t)(t->p0 % (size_t)cv->wq);
    for (size_t i = 0; i < t->p1 - t->p0; i++) {
        if (ox < cv->wo)
            y[(size_t)oy * (size_t)cv->wo + (size_t)ox] =
                ert_requant((int32_t)(bc + acc[i]), m, sh, cv->zy, cv->lo, cv->hi);
        if (++ox == cv->wq) {
            ox = 0;
            oy++;
        }
    }
}

/* Walk the weights of output channel c that are non-zero: BODY sees `kk` (position in the row)
 * and `ww` (int8 value). Dense rows and rel8 pairs (padding pairs hold 0 and are skipped). */
#define ERT_FOR_EACH_WEIGHT(o, c, K, BODY)                                         \
    do {                                                                           \
        if ((o)->dense) {                                                          \
            const int8_t *row_ = (o)->dense + (size_t)(c) * (K);                   \
            for (uint32_t kk = 0; kk < (K); kk++) {                                \
                const int32_t ww = row_[kk];                                       \
                if (ww == 0)                                                       \
                    continue;                                                      \
                BODY                                                               \
            }                                                                      \
        } else {                                                                   \
            uint32_t kk = (uint32_t)-1;                                            \
            for (uint32_t i_ = (o)->row_start[c]; i_ < (o)->row_start[(c) + 1]; i_++) { \
                kk += (uint32_t)(o)->steps[i_] + 1;                                \
                const int32_t ww = (o)->values[i_];                                \
                if (ww == 0)                                                       \
                    continue;                                                      \
                BODY                                                               \
            }                                                                      \
        }                                                                          \
    } while (0)

/* Executed MACs of output channels [begin, end) with nothing skipped. */
/* FC output c: the accumulator (bias included) requantized to the output tensor, clamped to
 * the node's activation range; acc is within int32 (docs/format.md 5). */
static inline void ert_fc_store(const ert_kctx *k, uint32_t c, int64_t acc)
{
    const ert_node *n = k->node;
    k->out[c] = ert_requant((int32_t)acc, n->multiplier[c], n->shift[c],
                            k->model->tensors[n->output].zero_point, n->params[P_FC_ACT_MIN],
                            n->params[P_FC_ACT_MAX]);
}

static inline uint64_t ert_static_exec(const ert_opt_node *o, uint32_t begin, uint32_t end)
{
    return o->exec_pref[end] - o->exec_pref[begin];
}

#endif
