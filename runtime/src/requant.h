/* The integer primitives of docs/format.md section 5: the ONE place where rounding happens.
 * Every kernel (reference or optimized) requantizes through these. */
#ifndef ERT_REQUANT_H
#define ERT_REQUANT_H

#include <stdint.h>

/* The spec's ">>" is a floor shift; C leaves >> of negatives implementation-defined, and every
 * compiler we build with (gcc, clang) defines it as arithmetic. Refuse to build otherwise. */
_Static_assert((-3 >> 1) == -2 && (-1 >> 5) == -1, "arithmetic right shift required");

/* (v + 2^(n-1)) >> n for n in [1, 62]: halves round towards +infinity. */
static inline int64_t ert_rshift_round(int64_t v, int n)
{
    return (v + ((int64_t)1 << (n - 1))) >> n;
}

/* floor((2v + d) / (2d)) for d > 0: halves round towards +infinity. C division truncates
 * towards zero, so step down once when the exact quotient is negative and not whole. */
static inline int64_t ert_rdiv(int64_t v, int64_t d)
{
    int64_t num = 2 * v + d, den = 2 * d;
    int64_t q = num / den;
    if (num % den != 0 && num < 0)
        q -= 1;
    return q;
}

static inline int64_t ert_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* CONV/FC output: clamp(zy + rshift_round(acc * M, n), lo, hi). |acc| < 2^31 and M < 2^31
 * (both checked at load), so the product and the rounding term fit in 63 bits. */
static inline int8_t ert_requant(int32_t acc, int32_t m, int32_t n, int32_t zy, int32_t lo,
                                 int32_t hi)
{
    return (int8_t)ert_clamp(zy + ert_rshift_round((int64_t)acc * m, n), lo, hi);
}

#endif
