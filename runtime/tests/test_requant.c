/* The rounding primitives against their definitions in docs/format.md 5, computed a second,
 * independent way (exact rational arithmetic on small values via long double floor). */
#include <math.h>

#include "../src/requant.h"
#include "check.h"

/* floor(a / b) for b > 0, the slow obvious way */
static int64_t floor_div_ref(int64_t a, int64_t b)
{
    return (int64_t)floorl((long double)a / (long double)b);
}

static void rshift_round_matches_definition(void)
{
    for (int n = 1; n <= 12; n++)
        for (int64_t v = -5000; v <= 5000; v++)
            CHECK_EQ_I(ert_rshift_round(v, n), floor_div_ref(2 * v + ((int64_t)1 << n),
                                                             (int64_t)2 << n));
    /* halves go towards +infinity, also for negatives */
    CHECK_EQ_I(ert_rshift_round(1, 1), 1);    /* 0.5 -> 1 */
    CHECK_EQ_I(ert_rshift_round(-1, 1), 0);   /* -0.5 -> 0 */
    CHECK_EQ_I(ert_rshift_round(-3, 1), -1);  /* -1.5 -> -1 */
    CHECK_EQ_I(ert_rshift_round(-5, 2), -1);  /* -1.25 -> -1 */
    CHECK_EQ_I(ert_rshift_round(-6, 2), -1);  /* -1.5 -> -1 */
    CHECK_EQ_I(ert_rshift_round(-7, 2), -2);  /* -1.75 -> -2 */
    /* the extremes the loader allows: |acc * M| < 2^62, n up to 62 */
    int64_t big = ((int64_t)1 << 62) - 1;
    CHECK_EQ_I(ert_rshift_round(big, 62), 1);
    CHECK_EQ_I(ert_rshift_round(-big, 62), -1);                   /* -0.99.. -> -1 */
    CHECK_EQ_I(ert_rshift_round(-big - 1, 62), -1);               /* -1.0 exactly */
    CHECK_EQ_I(ert_rshift_round(-((int64_t)1 << 61), 62), 0);     /* -0.5 -> 0 */
    CHECK_EQ_I(ert_rshift_round((int64_t)3 << 60, 61), 2);  /* 1.5 -> 2 */
}

static void rdiv_matches_definition(void)
{
    for (int64_t d = 1; d <= 40; d++)
        for (int64_t v = -3000; v <= 3000; v++)
            CHECK_EQ_I(ert_rdiv(v, d), floor_div_ref(2 * v + d, 2 * d));
    CHECK_EQ_I(ert_rdiv(5, 2), 3);    /* 2.5 -> 3 */
    CHECK_EQ_I(ert_rdiv(-5, 2), -2);  /* -2.5 -> -2 */
    CHECK_EQ_I(ert_rdiv(-7, 2), -3);  /* -3.5 -> -3 */
    CHECK_EQ_I(ert_rdiv(-1, 3), 0);   /* -0.33 -> 0 */
    CHECK_EQ_I(ert_rdiv(-2, 3), -1);  /* -0.67 -> -1 */
    /* pool extremes: |v| < 2^61, d < 2^61 */
    int64_t v = ((int64_t)1 << 61) - 1, d = (int64_t)1 << 60;
    CHECK_EQ_I(ert_rdiv(v, d), 2);
    CHECK_EQ_I(ert_rdiv(-v, d), -2);
}

static void clamp_and_requant(void)
{
    CHECK_EQ_I(ert_clamp(-200, -128, 127), -128);
    CHECK_EQ_I(ert_clamp(200, -128, 127), 127);
    CHECK_EQ_I(ert_clamp(5, -3, 9), 5);
    /* M = 2^30, n = 31: multiply by 0.5, halves up */
    CHECK_EQ_I(ert_requant(3, 1 << 30, 31, 0, -128, 127), 2);
    CHECK_EQ_I(ert_requant(-3, 1 << 30, 31, 0, -128, 127), -1);
    CHECK_EQ_I(ert_requant(-3, 1 << 30, 31, -10, -128, 127), -11);
    CHECK_EQ_I(ert_requant(1000, 1 << 30, 31, 0, -128, 127), 127);
    CHECK_EQ_I(ert_requant(-1000, 1 << 30, 31, 0, -20, 127), -20);  /* fused relu bound */
    /* the largest accumulator and multiplier the loader allows */
    CHECK_EQ_I(ert_requant(INT32_MAX, INT32_MAX, 62, 0, -128, 127), 1);
    CHECK_EQ_I(ert_requant(INT32_MIN + 1, INT32_MAX, 62, 0, -128, 127), -1);
    CHECK_EQ_I(ert_requant(12345, 0, 1, 7, -128, 127), 7);  /* M = 0 */
}

int main(void)
{
    rshift_round_matches_definition();
    rdiv_matches_definition();
    clamp_and_requant();
    return check_report("test_requant");
}
