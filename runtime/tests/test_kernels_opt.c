/* Every optimized kernel (src/opt.h, the list ert_variants) against the reference kernels, bit
 * for bit, on generated CONV and FC layers: channel counts and sizes around SIMD widths and
 * tiles, odd sizes, strides, asymmetric paddings, groups (depthwise included), dilations,
 * sparsities 0..100% at every granularity (element, vector, kernel, filter, N:M), dense and
 * rel8 encodings, extreme zero points, clamps, multipliers and biases, inputs with zero-point
 * channels and rows (zero-activation skipping), 1 and 3 threads. Also checks the MAC
 * accounting of each run against a brute-force count, and a digest of all reference outputs
 * that must be the same on every architecture (x86 here, aarch64 under qemu).
 *
 * EDGERT_OPT_CASES=n changes the number of generated cases per op (the digest then differs). */
#include <stdlib.h>

#include "../src/opt.h"
#include "check.h"
#include "test_models.h"

static uint32_t rng = 12345;

static int32_t rnd(int32_t lo, int32_t hi) { return tm_rand(&rng, lo, hi); }

static int32_t pick(const int32_t *v, int n) { return v[rnd(0, n - 1)]; }

#define PICK(...) pick((const int32_t[]){__VA_ARGS__}, \
                       (int)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))

/* FNV-1a over every reference output: equal on every architecture */
static uint64_t digest = 1469598103934665603ull;

static void digest_bytes(const int8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        digest = (digest ^ (uint8_t)p[i]) * 1099511628211ull;
}

enum gran { FINE, VECTOR, KERNEL, FILTER, NM, BLOCK8, N_GRAN };
static const char *const gran_name[N_GRAN] = {"fine", "vector", "kernel", "filter", "N:M",
                                              "block8x4"};

typedef struct layer {
    int fc;
    int32_t c, h, w, co, ho, wo, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups;
    int32_t zx, zy, lo, hi;
    uint32_t k;
    int8_t *wt;      /* [co][k] */
    int32_t *bias, *mult, *shift;
    int sparse_enc;
    char what[160];
} layer;

static int8_t nonzero_weight(void)
{
    switch (rnd(0, 9)) {
    case 0: return -128; /* the format allows it; NEON pairs must not overflow */
    case 1: return 127;
    default: {
        int8_t v = (int8_t)rnd(-127, 127);
        return v ? v : 1;
    }
    }
}

/* Zero out groups of weights with probability pct/100 at granularity g. w is [co][cg][kh][kw]. */
static void make_weights(layer *L, int g, int pct)
{
    const int32_t cg = L->fc ? (int32_t)L->k : L->c / L->groups, taps = L->kh * L->kw;
    for (uint32_t i = 0; i < (uint32_t)L->co * L->k; i++)
        L->wt[i] = nonzero_weight();
    for (int32_t o = 0; o < L->co; o++) {
        int8_t *row = L->wt + (size_t)o * L->k;
        if (g == FILTER) {
            if (rnd(0, 99) < pct)
                memset(row, 0, L->k);
            continue;
        }
        for (int32_t ci = 0; ci < cg; ci++)
            for (int32_t t = 0; t < taps; t++) {
                int8_t *w = row + ci * taps + t;
                int zero;
                if (g == FINE)
                    zero = rnd(0, 99) < pct;
                else if (g == VECTOR) /* one kernel row w[o, c, y, :], decided at x = 0 */
                    zero = t % L->kw == 0 ? rnd(0, 99) < pct : row[ci * taps + t - 1] == 0;
                else if (g == KERNEL)
                    zero = t == 0 ? rnd(0, 99) < pct : row[ci * taps] == 0;
                else if (g == BLOCK8) /* 8 output x 4 input channels at one tap, decided at
                                         the first of each (weights are never 0 unpruned) */
                    zero = o % 8 == 0 && ci % 4 == 0
                               ? rnd(0, 99) < pct
                               : L->wt[(size_t)(o - o % 8) * L->k +
                                       (size_t)((ci - ci % 4) * taps + t)] == 0;
                else
                    zero = 0;
                if (zero)
                    *w = 0;
            }
        if (g == NM) { /* keep N of every M consecutive input channels at each tap */
            int32_t n = PICK(1, 2), m = 4;
            for (int32_t t = 0; t < taps; t++)
                for (int32_t c0 = 0; c0 < cg; c0 += m) {
                    int32_t keep0 = rnd(0, m - 1);
                    for (int32_t j = 0; j < m && c0 + j < cg; j++)
                        if ((j - keep0 + m) % m >= n)
                            row[(c0 + j) * taps + t] = 0;
                }
        }
    }
}

static void make_requant(layer *L)
{
    uint64_t worst = 0;
    for (int32_t o = 0; o < L->co; o++) {
        uint64_t s = 0;
        for (uint32_t i = 0; i < L->k; i++)
            s += (uint64_t)abs(L->wt[(size_t)o * L->k + i]);
        if (s > worst)
            worst = s;
        /* |bias| + 255 sum|w| < 2^31: sometimes right at the limit */
        int64_t room = ((int64_t)1 << 31) - 1 - 255 * (int64_t)s;
        int32_t b = rnd(-5000, 5000);
        if (rnd(0, 19) == 0)
            b = (int32_t)(rnd(0, 1) ? room : -room);
        L->bias[o] = b;
        L->mult[o] = rnd(0, 29) == 0 ? rnd(0, 1000) : (1 << 30) + rnd(0, (1 << 30) - 1);
        /* shift scaled so outputs spread over int8, occasionally saturating or tiny */
        int32_t bits = 0;
        while (((uint64_t)1 << bits) < 64 * (s + 1))
            bits++;
        L->shift[o] = bits + 30 - 7 + rnd(-3, 3);
        if (rnd(0, 19) == 0)
            L->shift[o] = PICK(1, 2, 62);
        if (L->shift[o] < 1)
            L->shift[o] = 1;
        if (L->shift[o] > 62)
            L->shift[o] = 62;
    }
    (void)worst;
}

/* The model of one layer: x -> CONV/FC -> y. */
static uint8_t *build(const layer *L, size_t *len)
{
    eb b;
    eb_init(&b);
    int32_t dx[4] = {1, L->c, L->h, L->w}, dy[4] = {1, L->co, L->ho, L->wo};
    if (L->fc) {
        dx[1] = (int32_t)L->k;
        dx[2] = dx[3] = 1;
        dy[2] = dy[3] = 1;
    }
    b.input = eb_tensor(&b, "x", L->fc ? 2 : 4, dx, 0.1f, L->zx);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", L->fc ? 2 : 4, dy, 0.2f, L->zy);
    eb_blobref refs[4];
    if (L->sparse_enc) {
        uint32_t pairs;
        size_t size;
        uint8_t *blob = eb_rel8(L->wt, (uint32_t)L->co, L->k, &pairs, &size);
        refs[0] = eb_blob(&b, 2, pairs, blob, size);
        free(blob);
    } else {
        refs[0] = eb_blob(&b, 1, (uint32_t)L->co * L->k, L->wt, (size_t)L->co * L->k);
    }
    refs[1] = eb_blob(&b, 3, (uint32_t)L->co, L->bias, 4 * (size_t)L->co);
    refs[2] = eb_blob(&b, 4, (uint32_t)L->co, L->mult, 4 * (size_t)L->co);
    refs[3] = eb_blob(&b, 5, (uint32_t)L->co, L->shift, 4 * (size_t)L->co);
    uint32_t in = 0;
    if (L->fc) {
        const int32_t p[2] = {L->lo, L->hi};
        eb_node(&b, 2, "fc", &in, 1, 1, p, 2, refs, 4);
    } else {
        const int32_t p[13] = {L->kh, L->kw, L->sh, L->sw, L->pt, L->pl, L->pb, L->pr,
                               L->dh, L->dw, L->groups, L->lo, L->hi};
        eb_node(&b, 1, "conv", &in, 1, 1, p, 13, refs, 4);
    }
    uint8_t *f = eb_finish(&b, len);
    eb_free(&b);
    return f;
}

/* Brute-force MAC counts of one run: in-bounds, in-bounds with a non-zero weight, and with a
 * non-zero weight and a non-zero input. */
typedef struct counts {
    uint64_t dense, in_bounds, nz_w, both;
    uint64_t empty;  /* in-bounds MACs of output channels whose weights are all zero */
} counts;

static counts count_macs(const layer *L, const int8_t *x)
{
    counts n = {0, 0, 0, 0, 0};
    if (L->fc) {
        for (int32_t o = 0; o < L->co; o++)
            for (uint32_t i = 0; i < L->k; i++) {
                int nzw = L->wt[(size_t)o * L->k + i] != 0;
                n.nz_w += (uint64_t)nzw;
                n.both += (uint64_t)(nzw && x[i] != L->zx);
            }
        n.dense = n.in_bounds = (uint64_t)L->co * L->k;
        return n;
    }
    const int32_t cg = L->c / L->groups, og = L->co / L->groups;
    for (int32_t o = 0; o < L->co; o++) {
        const uint64_t before = n.in_bounds;
        int any = 0;
        for (uint32_t i = 0; i < L->k; i++)
            any |= L->wt[(size_t)o * L->k + i] != 0;
        for (int32_t oy = 0; oy < L->ho; oy++)
            for (int32_t ox = 0; ox < L->wo; ox++)
                for (int32_t ci = 0; ci < cg; ci++)
                    for (int32_t ky = 0; ky < L->kh; ky++)
                        for (int32_t kx = 0; kx < L->kw; kx++) {
                            n.dense++;
                            int32_t iy = oy * L->sh - L->pt + ky * L->dh;
                            int32_t ix = ox * L->sw - L->pl + kx * L->dw;
                            if (iy < 0 || iy >= L->h || ix < 0 || ix >= L->w)
                                continue;
                            n.in_bounds++;
                            if (!L->wt[(size_t)o * L->k + (size_t)(ci * L->kh + ky) * L->kw + kx])
                                continue;
                            n.nz_w++;
                            int32_t c = o / og * cg + ci;
                            n.both += x[((size_t)c * L->h + iy) * L->w + ix] != L->zx;
                        }
        if (!any)
            n.empty += n.in_bounds - before;
    }
    return n;
}

/* Inputs: random, whole channels at the zero point, zero-point rows, all zero point. */
static void make_input(const layer *L, int kind, int8_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (int8_t)rnd(-128, 127);
    const size_t plane = L->fc ? 1 : (size_t)L->h * L->w;
    const size_t chans = n / plane;
    if (kind == 1) {
        for (size_t c = 0; c < chans; c++)
            if (rnd(0, 1))
                memset(x + c * plane, L->zx, plane);
    } else if (kind == 2 && !L->fc) {
        for (size_t c = 0; c < chans; c++)
            for (int32_t r = 0; r < L->h; r++)
                if (rnd(0, 3))
                    memset(x + c * plane + (size_t)r * L->w, L->zx, (size_t)L->w);
    } else if (kind == 3) {
        memset(x, L->zx, n);
    }
}

static edgert_session *session(const edgert_model *m, int kernels, int threads)
{
    return tm_session(m, kernels, threads);
}

static int variants_run, cases_run;

/* In-bounds output positions of tap t (brute force). */
static uint64_t tap_inb(const layer *L, int32_t t)
{
    const int32_t ky = t / L->kw, kx = t % L->kw;
    uint64_t n = 0;
    for (int32_t oy = 0; oy < L->ho; oy++)
        for (int32_t ox = 0; ox < L->wo; ox++) {
            int32_t iy = oy * L->sh - L->pt + ky * L->dh, ix = ox * L->sw - L->pl + kx * L->dw;
            n += iy >= 0 && iy < L->h && ix >= 0 && ix < L->w;
        }
    return n;
}

/* MACs the q4 dense kernel multiplies without zero-point inputs: per group, its non-empty
 * output channels in blocks of 8, and of each block the (channel quad, tap) pairs where one of
 * its channels has a non-zero weight, whole (opt.h). */
static uint64_t q4_dense_static(const layer *L)
{
    const int32_t cg = L->c / L->groups, og = L->co / L->groups, taps = L->kh * L->kw;
    uint64_t total = 0;
    for (int32_t g = 0; g < L->groups; g++) {
        int32_t list[512], nl = 0;
        for (int32_t o = g * og; o < (g + 1) * og && nl < 512; o++) {
            int any = 0;
            for (uint32_t i = 0; i < L->k; i++)
                any |= L->wt[(size_t)o * L->k + i] != 0;
            if (any)
                list[nl++] = o;
        }
        for (int32_t b0 = 0; b0 < nl; b0 += 8) {
            const int32_t nr = nl - b0 < 8 ? nl - b0 : 8;
            for (int32_t cq = 0; cq * 4 < cg; cq++)
                for (int32_t t = 0; t < taps; t++) {
                    int live = 0;
                    for (int32_t r = 0; r < nr; r++)
                        for (int32_t j = 4 * cq; j < 4 * cq + 4 && j < cg; j++)
                            live |= L->wt[(size_t)list[b0 + r] * L->k + (size_t)(j * taps + t)];
                    const int32_t nch = cg - 4 * cq < 4 ? cg - 4 * cq : 4;
                    if (live)
                        total += (uint64_t)nr * (uint64_t)nch * tap_inb(L, t);
                }
        }
    }
    return total;
}

/* MACs fc_u8s8_blocks multiplies without zero-point inputs: per group of 8 rows, every block
 * of 4 inputs where one of its rows has a non-zero weight, whole. */
static uint64_t fc_blocks_static(const layer *L)
{
    uint64_t total = 0;
    for (int32_t g = 0; 8 * g < L->co; g++) {
        const int32_t rows = L->co - 8 * g < 8 ? L->co - 8 * g : 8;
        for (uint32_t j = 0; 4 * j < L->k; j++) {
            const uint32_t n = L->k - 4 * j < 4 ? L->k - 4 * j : 4;
            int live = 0;
            for (int32_t r = 0; r < rows; r++)
                for (uint32_t i = 0; i < n; i++)
                    live |= L->wt[(size_t)(8 * g + r) * L->k + 4 * j + i] != 0;
            if (live)
                total += (uint64_t)rows * n;
        }
    }
    return total;
}

static int tuned_runs;

/* Load-time tuning (tune_runs): the session keeps one of the layer's candidate kernels and
 * still gives the reference's outputs, with 1 and 2 threads. */
static void check_tuned(const edgert_model *m, int8_t *const *x, int8_t *const *want,
                        int kinds, size_t xn, int8_t *got, size_t yn)
{
    for (int threads = 1; threads <= 2; threads++) {
        edgert_session_options o;
        edgert_session_options_init(&o);
        o.num_threads = threads;
        o.tune_runs = 1;
        edgert_session *s = NULL;
        char err[256];
        CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_OK);
        if (!s)
            return;
        edgert_layer_stats st;
        CHECK(edgert_session_layer_stats(s, 0, &st) == EDGERT_OK);
        const ert_variant *cand[8];
        edgert_session *plain = session(m, EDGERT_KERNELS_DEFAULT, 1);
        int nc = plain ? ert_tune_candidates(m, ert_session_prepared(plain), 0, cand, 8) : 0;
        int found = nc == 0;
        for (int i = 0; i < nc; i++)
            found |= !strcmp(cand[i]->name, st.kernel);
        CHECK(found);
        for (int kind = 0; kind < kinds; kind++) {
            CHECK(edgert_session_run(s, x[kind], xn, got, yn) == EDGERT_OK);
            CHECK(memcmp(want[kind], got, yn) == 0);
        }
        tuned_runs++;
        edgert_session_free(plain);
        edgert_session_free(s);
    }
}

static void check_layer(layer *L)
{
    size_t len, xn = L->fc ? L->k : (size_t)L->c * L->h * L->w;
    size_t yn = L->fc ? (size_t)L->co : (size_t)L->co * L->ho * L->wo;
    uint8_t *f = build(L, &len);
    edgert_model *m = tm_load(f, len);
    edgert_session *ref = session(m, EDGERT_KERNELS_REFERENCE, 1);
    enum { KINDS = 4 };
    int8_t *x[KINDS], *want[KINDS], *got = malloc(yn);
    counts n[KINDS];
    for (int kind = 0; kind < KINDS; kind++) {
        x[kind] = malloc(xn);
        want[kind] = malloc(yn);
        make_input(L, kind, x[kind], xn);
        CHECK(edgert_session_run(ref, x[kind], xn, want[kind], yn) == EDGERT_OK);
        digest_bytes(want[kind], yn);
        n[kind] = count_macs(L, x[kind]);
    }
    cases_run++;
    for (size_t vi = 0; vi < ert_variant_count; vi++) {
        const ert_variant *v = &ert_variants[vi];
        if (v->op != (L->fc ? ERT_OP_FC : ERT_OP_CONV) || !ert_isa_supported(v->isa))
            continue;
        CHECK(ert_force_variant(v->name) == 0);
        edgert_session *s1 = session(m, EDGERT_KERNELS_DEFAULT, 1);
        edgert_session *s3 = session(m, EDGERT_KERNELS_DEFAULT, 3);
        ert_force_variant(NULL);
        CHECK(s1 && s3);
        edgert_layer_stats st, st3;
        if (!s1 || !s3 || edgert_session_layer_stats(s1, 0, &st) != EDGERT_OK ||
            strcmp(st.kernel, v->name)) { /* not a layer this variant runs */
            edgert_session_free(s1);
            edgert_session_free(s3);
            continue;
        }
        variants_run++;
        for (int kind = 0; kind < KINDS; kind++) {
            CHECK(edgert_session_run(s1, x[kind], xn, got, yn) == EDGERT_OK);
            int same = memcmp(want[kind], got, yn) == 0;
            CHECK(edgert_session_run(s3, x[kind], xn, got, yn) == EDGERT_OK);
            same = same && memcmp(want[kind], got, yn) == 0;
            edgert_session_layer_stats(s1, 0, &st);
            edgert_session_layer_stats(s3, 0, &st3);
            const counts c = n[kind];
            int ok = same && st.executed_macs == st3.executed_macs &&
                     st.skipped_zero_weight_macs == st3.skipped_zero_weight_macs &&
                     st.dense_macs == c.dense && st.padding_macs == c.dense - c.in_bounds &&
                     st.executed_macs + st.skipped_zero_weight_macs +
                             st.skipped_zero_activation_macs + st.padding_macs == c.dense &&
                     st.executed_macs >= c.both &&
                     st.skipped_zero_weight_macs <= c.in_bounds - c.nz_w;
            /* kernels that walk single weights skip every zero weight */
            if (v->algo == ERT_ALGO_CONV_PLANAR || v->algo == ERT_ALGO_FC_CSC ||
                v->algo == ERT_ALGO_FC_BITMAP)
                ok = ok && st.skipped_zero_weight_macs == c.in_bounds - c.nz_w;
            /* the dense kernels leave out only output channels without a non-zero weight
               (q4 dense also the 8 x 4 blocks without one, counted by q4_dense_static) */
            if (v->algo == ERT_ALGO_CONV_DW)
                ok = ok && st.skipped_zero_weight_macs == c.empty;
            if (v->algo == ERT_ALGO_CONV_Q4_DENSE)
                ok = ok && st.skipped_zero_weight_macs == c.in_bounds - q4_dense_static(L);
            if (v->algo == ERT_ALGO_FC_BLOCKS)
                ok = ok && st.skipped_zero_weight_macs == c.in_bounds - fc_blocks_static(L);
            if (v->algo == ERT_ALGO_FC_DENSE)
                ok = ok && st.skipped_zero_weight_macs == 0;
            /* an all-zero-point input skips every MAC it can */
            if (kind == 3 && v->algo != ERT_ALGO_FC_DENSE)
                ok = ok && st.executed_macs == 0;
            check_count++;
            if (!ok && ++check_failures <= 20) {
                size_t bad = 0;
                while (bad < yn && want[kind][bad] == got[bad])
                    bad++;
                fprintf(stderr,
                        "FAIL %s on %s, input kind %d: %s (first byte %zu: want %d got %d); "
                        "macs dense %llu exec %llu/%llu skipw %llu skipa %llu pad %llu; "
                        "brute in_bounds %llu nz_w %llu both %llu\n",
                        v->name, L->what, kind, same ? "MAC counts" : "output differs", bad,
                        bad < yn ? want[kind][bad] : 0, bad < yn ? got[bad] : 0,
                        (unsigned long long)st.dense_macs, (unsigned long long)st.executed_macs,
                        (unsigned long long)st3.executed_macs,
                        (unsigned long long)st.skipped_zero_weight_macs,
                        (unsigned long long)st.skipped_zero_activation_macs,
                        (unsigned long long)st.padding_macs, (unsigned long long)c.in_bounds,
                        (unsigned long long)c.nz_w, (unsigned long long)c.both);
            }
        }
        edgert_session_free(s1);
        edgert_session_free(s3);
    }
    if (cases_run % 4 == 0)
        check_tuned(m, x, want, KINDS, xn, got, yn);
    for (int kind = 0; kind < KINDS; kind++) {
        free(x[kind]);
        free(want[kind]);
    }
    free(got);
    edgert_session_free(ref);
    edgert_model_free(m);
    free(f);
}

static void finish_layer(layer *L, int gran, int pct)
{
    L->wt = malloc((size_t)L->co * L->k + 1);
    L->bias = malloc(4 * (size_t)L->co);
    L->mult = malloc(4 * (size_t)L->co);
    L->shift = malloc(4 * (size_t)L->co);
    make_weights(L, gran, pct);
    make_requant(L);
    L->zx = PICK(-128, 127, 0, -3, 5, rnd(-128, 127));
    L->zy = PICK(-128, 127, 0, rnd(-128, 127));
    L->lo = -128;
    L->hi = 127;
    switch (rnd(0, 3)) {
    case 0: L->lo = L->zy; break;                       /* ReLU */
    case 1: L->lo = L->zy; L->hi = L->zy + rnd(0, 127 - L->zy); break; /* ReLU6-like */
    default: break;
    }
    L->sparse_enc = rnd(0, 1);
    snprintf(L->what + strlen(L->what), sizeof L->what - strlen(L->what),
             " %s %d%% %s zx %d zy %d act [%d,%d]", gran_name[gran], pct,
             L->sparse_enc ? "rel8" : "dense", L->zx, L->zy, L->lo, L->hi);
    check_layer(L);
    free(L->wt);
    free(L->bias);
    free(L->mult);
    free(L->shift);
}

static int sparsity(void) { return PICK(0, 0, 30, 50, 70, 90, 95, 99, 100); }

/* Random paddings of up to max_pad per side (less than the dilated kernel), grown where the
 * padded input would be smaller than the kernel; then the output size. */
static void pad_and_shape(layer *L, int32_t max_pad)
{
    int32_t keh = L->dh * (L->kh - 1) + 1, kew = L->dw * (L->kw - 1) + 1;
    L->pt = rnd(0, keh - 1 < max_pad ? keh - 1 : max_pad);
    L->pb = rnd(0, keh - 1 < max_pad ? keh - 1 : max_pad);
    L->pl = rnd(0, kew - 1 < max_pad ? kew - 1 : max_pad);
    L->pr = rnd(0, kew - 1 < max_pad ? kew - 1 : max_pad);
    if (L->h + L->pt + L->pb < keh)
        L->pb += keh - (L->h + L->pt + L->pb);
    if (L->w + L->pl + L->pr < kew)
        L->pr += kew - (L->w + L->pl + L->pr);
    L->ho = (L->h + L->pt + L->pb - keh) / L->sh + 1;
    L->wo = (L->w + L->pl + L->pr - kew) / L->sw + 1;
}

/* The layer's geometry as the label failures print. */
static void describe(layer *L, const char *kind)
{
    snprintf(L->what, sizeof L->what, "%s %dx%dx%d -> %d k%dx%d s%dx%d d%dx%d p%d,%d,%d,%d g%d",
             kind, L->c, L->h, L->w, L->co, L->kh, L->kw, L->sh, L->sw, L->dh, L->dw, L->pt,
             L->pl, L->pb, L->pr, L->groups);
}

static void conv_case(int big)
{
    layer L;
    memset(&L, 0, sizeof L);
    L.groups = PICK(1, 1, 1, 2, 3, 0); /* 0: depthwise */
    int32_t cg = big ? PICK(16, 32, 64) : PICK(1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33);
    int32_t og = big ? PICK(16, 32, 40) : PICK(1, 2, 3, 5, 7, 8, 9, 16, 17);
    if (L.groups == 0) {
        L.groups = big ? 32 : PICK(3, 8, 17);
        cg = 1;
        og = PICK(1, 1, 2);
    }
    L.c = cg * L.groups;
    L.co = og * L.groups;
    L.kh = PICK(1, 1, 3, 3, 3, 5, 2, 7);
    L.kw = rnd(0, 3) ? L.kh : PICK(1, 3, 5);
    L.sh = PICK(1, 1, 1, 2, 2, 3);
    L.sw = rnd(0, 3) ? L.sh : PICK(1, 2);
    L.dh = PICK(1, 1, 1, 2);
    L.dw = rnd(0, 2) ? L.dh : PICK(1, 2, 3);
    L.h = big ? PICK(14, 28, 31) : rnd(1, 19);
    L.w = big ? PICK(14, 28, 35) : rnd(1, 23);
    pad_and_shape(&L, 3);
    L.k = (uint32_t)(cg * L.kh * L.kw);
    int gran = rnd(0, NM), pct = sparsity(); /* (block8x4: block8_case) */
    describe(&L, "conv");
    finish_layer(&L, gran, pct);
}

/* Block-sparse layers: whole 8 x 4 blocks (8 output channels, 4 input channels, one tap) pruned,
 * the structure the q4 dense kernel skips; channel counts off the multiples too. */
static void block8_case(void)
{
    layer L;
    memset(&L, 0, sizeof L);
    L.groups = PICK(1, 1, 2);
    const int32_t cg = PICK(4, 8, 16, 12, 33), og = PICK(8, 16, 24, 17);
    L.c = cg * L.groups;
    L.co = og * L.groups;
    L.kh = L.kw = PICK(3, 3, 1);
    L.sh = L.sw = PICK(1, 1, 2);
    L.dh = L.dw = 1;
    L.h = PICK(7, 14, 16, rnd(1, 20));
    L.w = PICK(7, 14, 16, rnd(1, 40));
    pad_and_shape(&L, 1);
    L.k = (uint32_t)(cg * L.kh * L.kw);
    describe(&L, "conv");
    finish_layer(&L, BLOCK8, PICK(0, 50, 90, 95, 100));
}

/* Depthwise layers (one input channel per group, multipliers 1-3) in the shapes the dedicated
 * kernels take - 3x3, stride 1 or 2, every padding 0..2 per side - and some they refuse, widths
 * around the 16-output vectors and beyond ERT_DW_MAX_W, planes up to 112 x 112. */
static void dw_case(void)
{
    layer L;
    memset(&L, 0, sizeof L);
    L.groups = PICK(1, 2, 3, 8, 17, 32, 96);
    const int32_t og = PICK(1, 1, 1, 2, 3);
    L.c = L.groups;
    L.co = og * L.groups;
    L.kh = L.kw = rnd(0, 5) ? 3 : PICK(1, 2, 5);
    if (rnd(0, 7) == 0)
        L.kw = PICK(1, 3, 5);
    L.sh = L.sw = PICK(1, 1, 2, 2, 3);
    if (rnd(0, 9) == 0)
        L.sw = PICK(1, 2);
    L.dh = L.dw = rnd(0, 9) ? 1 : 2;
    const int big = L.groups <= 8 && rnd(0, 3) == 0;
    L.h = big ? PICK(56, 112) : rnd(1, 20);
    L.w = big ? L.h : PICK(1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, rnd(1, 70), 1100);
    if (L.w > 1000) /* wider than the portable kernel's row buffers (ERT_DW_MAX_W) */
        L.h = rnd(1, 4);
    pad_and_shape(&L, 2);
    L.k = (uint32_t)(L.kh * L.kw);
    int gran = PICK(FINE, KERNEL, FILTER), pct = PICK(0, 0, 0, 30, 70, 100);
    describe(&L, "dw");
    finish_layer(&L, gran, pct);
}

/* Wide rows (64 positions and more per row, the packers' full vectors), few channels. */
static void wide_case(void)
{
    layer L;
    memset(&L, 0, sizeof L);
    L.groups = PICK(1, 1, 2);
    const int32_t cg = PICK(4, 8, 5), og = PICK(3, 8);
    L.c = cg * L.groups;
    L.co = og * L.groups;
    L.kh = L.kw = PICK(1, 3);
    L.sh = L.sw = PICK(1, 2);
    L.dh = L.dw = 1;
    L.h = rnd(1, 5);
    L.w = PICK(64, 65, 127, 128, 129, 200, rnd(60, 260));
    L.pt = L.pb = L.pl = L.pr = L.kh / 2;
    L.ho = (L.h + L.pt + L.pb - L.kh) / L.sh + 1;
    L.wo = (L.w + L.pl + L.pr - L.kw) / L.sw + 1;
    L.k = (uint32_t)(cg * L.kh * L.kw);
    int gran = PICK(FINE, KERNEL), pct = PICK(0, 0, 50, 90);
    snprintf(L.what, sizeof L.what, "wide %dx%dx%d -> %d k%dx%d s%d g%d", L.c, L.h, L.w, L.co,
             L.kh, L.kw, L.sh, L.groups);
    finish_layer(&L, gran, pct);
}

/* block8: weights pruned in blocks of 8 rows x 4 inputs (fc_u8s8_blocks' structure) */
static void fc_case(int block8)
{
    layer L;
    memset(&L, 0, sizeof L);
    L.fc = 1;
    L.k = (uint32_t)PICK(1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 255, 256, 257, 700, 1030);
    L.co = PICK(1, 2, 15, 16, 17, 33, 64, 65, 130, 257, 600); /* CSC slabs: 256 rows */
    L.c = (int32_t)L.k;
    L.kh = L.kw = L.groups = 1;
    int gran = block8 ? BLOCK8 : PICK(FINE, FILTER, NM), pct = sparsity();
    snprintf(L.what, sizeof L.what, "fc %u -> %d", L.k, L.co);
    finish_layer(&L, gran, pct);
}

/* ---- ops without weights: MAXPOOL, ADD, CONCAT ---- */

/* Every element-wise variant of op against the reference kernels on model f (input xn
 * bytes, output yn bytes): random inputs and all-extreme inputs, 1 and 3 threads. */
static void check_elementwise(uint32_t op, const uint8_t *f, size_t len, size_t xn, size_t yn,
                              const char *what)
{
    edgert_model *m = tm_load(f, len);
    edgert_session *ref = session(m, EDGERT_KERNELS_REFERENCE, 1);
    const size_t last = edgert_model_node_count(m) - 1;
    enum { KINDS = 3 }; /* random, all -128, all 127 */
    int8_t *x[KINDS], *want[KINDS], *got = malloc(yn);
    for (int kind = 0; kind < KINDS; kind++) {
        x[kind] = malloc(xn);
        want[kind] = malloc(yn);
        for (size_t i = 0; i < xn; i++)
            x[kind][i] = (int8_t)(kind == 0 ? rnd(-128, 127) : kind == 1 ? -128 : 127);
        CHECK(edgert_session_run(ref, x[kind], xn, want[kind], yn) == EDGERT_OK);
        digest_bytes(want[kind], yn);
    }
    cases_run++;
    for (size_t vi = 0; vi < ert_variant_count; vi++) {
        const ert_variant *v = &ert_variants[vi];
        if (v->op != op || !ert_isa_supported(v->isa))
            continue;
        ert_force_variant(v->name);
        edgert_session *s[2] = {session(m, EDGERT_KERNELS_DEFAULT, 1),
                                session(m, EDGERT_KERNELS_DEFAULT, 3)};
        ert_force_variant(NULL);
        variants_run++;
        for (int kind = 0; kind < KINDS; kind++) {
            for (int t = 0; t < 2; t++) {
                CHECK(s[t] && edgert_session_run(s[t], x[kind], xn, got, yn) == EDGERT_OK);
                edgert_layer_stats st;
                edgert_session_layer_stats(s[t], last, &st);
                check_count++;
                if ((memcmp(want[kind], got, yn) || strcmp(st.kernel, v->name)) &&
                    ++check_failures <= 20)
                    fprintf(stderr, "FAIL %s (ran %s) on %s, input kind %d, %d threads\n",
                            v->name, st.kernel, what, kind, t ? 3 : 1);
            }
        }
        edgert_session_free(s[0]);
        edgert_session_free(s[1]);
    }
    for (int kind = 0; kind < KINDS; kind++) {
        free(x[kind]);
        free(want[kind]);
    }
    free(got);
    edgert_session_free(ref);
    edgert_model_free(m);
}

static void maxpool_case(void)
{
    int32_t c = rnd(1, 20), h = rnd(1, 30), w = rnd(0, 9) ? rnd(1, 40) : rnd(1000, 1100);
    int32_t kh = rnd(1, 4), kw = rnd(1, 4), sh = rnd(1, 3), sw = rnd(1, 3);
    if (rnd(0, 4) == 0) { /* wide windows; strides narrowed by lane (4, 8) or picked (5, 13) */
        kw = rnd(1, 12);
        sw = PICK(4, 5, 8, 13);
    }
    if (rnd(0, 19) == 0) { /* rows too wide for the AVX-512 kernel's row buffer */
        c = rnd(1, 3);
        h = rnd(1, 4);
        w = rnd(4000, 4200);
        sw = 1;
    }
    if (kh > h)
        kh = h;
    if (kw > w)
        kw = w;
    int32_t pt = rnd(0, kh - 1), pl = rnd(0, kw - 1), pb = rnd(0, kh - 1), pr = rnd(0, kw - 1);
    const int shape = rnd(0, 5);
    if (shape == 0 && h >= 2 && w >= 2) { /* the 2x2 stride-2 pool of VGG-style networks */
        kh = kw = sh = sw = 2;
        pt = pl = pb = pr = 0;
        w = rnd(0, 1) ? w : rnd(60, 140);
    } else if (shape <= 2) { /* ResNet's 3x3 stride 2 (and 2x2): any pads, widths near SIMD */
        kh = PICK(2, 3, 3, 3);
        kw = rnd(0, 3) ? kh : 5 - kh;
        sh = sw = 2;
        h = h < 3 ? 3 : h;
        w = PICK(3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 66, 67, 112, 127, 128, 129, rnd(3, 300));
        pt = rnd(0, kh - 1), pl = rnd(0, kw - 1), pb = rnd(0, kh - 1), pr = rnd(0, kw - 1);
    }
    int32_t ho = (h + pt + pb - kh) / sh + 1, wo = (w + pl + pr - kw) / sw + 1;
    if (rnd(0, 1)) { /* ceil mode, while the last window starts inside the input */
        if ((ho * sh - pt < h) && (h + pt + pb - kh) % sh)
            ho++;
        if ((wo * sw - pl < w) && (w + pl + pr - kw) % sw)
            wo++;
    }
    eb b;
    eb_init(&b);
    const int32_t dx[4] = {1, c, h, w}, dy[4] = {1, c, ho, wo};
    b.input = eb_tensor(&b, "x", 4, dx, 1.0f, 3);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, dy, 1.0f, 3);
    const int32_t p[8] = {kh, kw, sh, sw, pt, pl, pb, pr};
    uint32_t in = 0;
    eb_node(&b, 3, "mp", &in, 1, 1, p, 8, NULL, 0);
    size_t len;
    uint8_t *f = eb_finish(&b, &len);
    eb_free(&b);
    char what[128];
    snprintf(what, sizeof what, "maxpool %dx%dx%d k%dx%d s%dx%d p%d,%d,%d,%d -> %dx%d", c, h, w,
             kh, kw, sh, sw, pt, pl, pb, pr, ho, wo);
    check_elementwise(ERT_OP_MAXPOOL, f, len, (size_t)c * h * w, (size_t)c * ho * wo, what);
    free(f);
}

/* x -> CLAMP -> c; ADD(x, c) or CONCAT(x, c, x) on axis 1 */
static void add_concat_case(int concat)
{
    int32_t c = rnd(1, 9), h = rnd(1, 9), w = rnd(1, 70);
    int32_t zx = PICK(-128, 0, 127, rnd(-128, 127)), zy = PICK(-128, 0, 127, rnd(-128, 127));
    eb b;
    eb_init(&b);
    const int32_t dx[4] = {1, c, h, w}, dcat[4] = {1, 3 * c, h, w};
    uint32_t x = eb_tensor(&b, "x", 4, dx, 1.0f, zx), cl = eb_tensor(&b, "c", 4, dx, 1.0f, zx);
    uint32_t y = eb_tensor(&b, "y", 4, concat ? dcat : dx, 1.0f, zy);
    b.input = x;
    b.outputs[b.n_outputs++] = y;
    const int32_t cp[2] = {rnd(-128, 0), rnd(0, 127)};
    eb_node(&b, 8, "clamp", &x, 1, cl, cp, 2, NULL, 0);
    char what[128];
    if (!concat) {
        int32_t s = PICK(1, 2, 16, 17, 20, 31, 40, 47, 48, 62, rnd(1, 62));
        int32_t ma = rnd(0, 3) ? rnd(0, 0x7ffffffe) : rnd(0, 300);
        int32_t mb = rnd(0, 3) ? rnd(0, 0x7ffffffe) : rnd(0, 300);
        if (rnd(0, 3) == 0) /* the split multipliers of add_s8_avx512 at their limits */
            ma = PICK(0x7fff7fff, 0x7fff8000, 0x7fffffff, 0x8000, 0x7fff, 0x18000);
        if (rnd(0, 3) == 0)
            mb = PICK(0x7fff7fff, 0x7fff8000, 0x7fffffff, 0x8000, 0x7fff, 0x18000);
        int32_t lo = rnd(0, 2) ? -128 : zy, hi = rnd(0, 2) ? 127 : rnd(zy, 127);
        const int32_t ap[5] = {ma, mb, s, lo, hi};
        const uint32_t ins[2] = {x, cl};
        eb_node(&b, 6, "add", ins, 2, y, ap, 5, NULL, 0);
        snprintf(what, sizeof what, "add %dx%dx%d M %d,%d S %d z %d,%d act [%d,%d]", c, h, w,
                 ma, mb, s, zx, zy, lo, hi);
    } else {
        int32_t p[7] = {1};
        for (int j = 0; j < 3; j++) { /* sometimes the identity, M = 2^S (a plain copy) */
            p[2 + 2 * j] = rnd(1, 30);
            p[1 + 2 * j] = rnd(0, 2) ? rnd(0, 0x7ffffffe) : 1 << p[2 + 2 * j];
        }
        const uint32_t ins[3] = {x, cl, x};
        eb_node(&b, 7, "concat", ins, 3, y, p, 7, NULL, 0);
        snprintf(what, sizeof what, "concat 3 x %dx%dx%d z %d -> %d", c, h, w, zx, zy);
    }
    size_t len;
    uint8_t *f = eb_finish(&b, &len);
    eb_free(&b);
    size_t n = (size_t)c * h * w;
    check_elementwise(concat ? ERT_OP_CONCAT : ERT_OP_ADD, f, len, n, concat ? 3 * n : n, what);
    free(f);
}

/* A model big enough for the optimized kernels, with its input and the reference kernels'
 * output, for the CLI test (make run-tests): in [1,16,20,20] -> CONV 3x3 (ReLU) -> CONV 3x3
 * stride 2, 90% of its kernels pruned -> MAXPOOL 2x2 -> RESHAPE -> FC 10. */
static int write_case(const char *dir)
{
    uint32_t st = 77;
    eb b;
    eb_init(&b);
    const int32_t dx[4] = {1, 16, 20, 20}, d1[4] = {1, 32, 20, 20}, d2[4] = {1, 32, 10, 10};
    const int32_t d3[4] = {1, 32, 5, 5}, d4[4] = {1, 800, 1, 1}, dy[4] = {1, 10, 1, 1};
    uint32_t x = eb_tensor(&b, "x", 4, dx, 0.05f, -3), t1 = eb_tensor(&b, "c1", 4, d1, 0.1f, -128);
    uint32_t t2 = eb_tensor(&b, "c2", 4, d2, 0.2f, 5), t3 = eb_tensor(&b, "mp", 4, d3, 0.2f, 5);
    uint32_t t4 = eb_tensor(&b, "flat", 2, d4, 0.2f, 5), y = eb_tensor(&b, "y", 2, dy, 0.5f, 0);
    b.input = x;
    b.outputs[b.n_outputs++] = y;
    int8_t *w1 = malloc(32 * 144), *w2 = malloc(32 * 288), *w3 = malloc(10 * 800);
    int32_t bias[32];
    for (int i = 0; i < 32 * 144; i++)
        w1[i] = (int8_t)tm_rand(&st, -60, 60);
    for (int o = 0; o < 32 * 32; o++) /* kernel granularity: whole 3x3 kernels */
        for (int t = 0, z = tm_rand(&st, 0, 9) != 0; t < 9; t++)
            w2[o * 9 + t] = z ? 0 : (int8_t)tm_rand(&st, -127, 127);
    for (int i = 0; i < 8000; i++)
        w3[i] = (int8_t)tm_rand(&st, -40, 40);
    for (int i = 0; i < 32; i++)
        bias[i] = tm_rand(&st, -2000, 2000);
    const int32_t p1[13] = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, -128, 127};
    const int32_t p2[13] = {3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1, -128, 127};
    const int32_t mp[8] = {2, 2, 2, 2, 0, 0, 0, 0}, fp[2] = {-128, 127};
    tm_weighted(&b, 1, "conv1", x, t1, p1, 13, w1, 32, 144, bias, 1 << 30, 43, 0);
    tm_weighted(&b, 1, "conv2", t1, t2, p2, 13, w2, 32, 288, bias, 1 << 30, 41, 1);
    eb_node(&b, 3, "pool", &t2, 1, t3, mp, 8, NULL, 0);
    eb_node(&b, 10, "flatten", &t3, 1, t4, NULL, 0, NULL, 0);
    tm_weighted(&b, 2, "fc", t4, y, fp, 2, w3, 10, 800, bias, 1 << 30, 38, 0);
    size_t len;
    uint8_t *f = eb_finish(&b, &len);
    eb_free(&b);
    edgert_model *m = tm_load(f, len);
    edgert_session *ref = session(m, EDGERT_KERNELS_REFERENCE, 1);
    int8_t in[16 * 400], out[10];
    for (int i = 0; i < 16 * 400; i++)
        in[i] = (int8_t)tm_rand(&st, -128, 127);
    int ok = ref && edgert_session_run(ref, in, sizeof in, out, sizeof out) == EDGERT_OK;
    const void *data[3] = {f, in, out};
    const size_t sizes[3] = {len, sizeof in, sizeof out};
    const char *names[3] = {"model.ecm", "input.bin", "expected.bin"};
    for (int i = 0; ok && i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp_ = fopen(path, "wb");
        ok = fp_ && fwrite(data[i], 1, sizes[i], fp_) == sizes[i];
        if (fp_)
            ok = fclose(fp_) == 0 && ok;
    }
    edgert_session_free(ref);
    edgert_model_free(m);
    free(f);
    free(w1);
    free(w2);
    free(w3);
    if (!ok)
        fprintf(stderr, "test_kernels_opt: cannot write the CLI case to %s\n", dir);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-case"))
        return write_case(argv[2]);
    const char *env = getenv("EDGERT_OPT_CASES");
    int cases = env ? atoi(env) : 400;
    for (int i = 0; i < cases; i++)
        conv_case(i % 16 == 15);
    for (int i = 0; i < cases / 2; i++)
        fc_case(0);
    for (int i = 0; i < cases / 4; i++) {
        maxpool_case();
        maxpool_case();
        add_concat_case(0);
        add_concat_case(1);
    }
    for (int i = 0; i < cases / 4; i++)
        dw_case();
    for (int i = 0; i < cases / 10; i++)
        wide_case();
    for (int i = 0; i < cases / 10; i++) {
        block8_case();
        fc_case(1);
    }
    printf("test_kernels_opt: %d layers, %d variant runs, %d tuned sessions; reference output "
           "digest %016llx\n", cases_run, variants_run, tuned_runs, (unsigned long long)digest);
    { /* tune_runs out of range: a clear error */
        size_t len;
        uint8_t *f = tm_small(0, &len);
        edgert_model *m = tm_load(f, len);
        edgert_session_options o;
        edgert_session_options_init(&o);
        char err[256];
        edgert_session *s = NULL;
        o.tune_runs = -1;
        CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
        CHECK(strstr(err, "tune_runs") != NULL);
        o.tune_runs = EDGERT_MAX_TUNE_RUNS + 1;
        CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
        edgert_model_free(m);
        free(f);
    }
    /* The reference outputs of the default sweep, the same on every architecture (x86-64
     * and aarch64): regenerate when the generator changes. */
    if (!env)
        CHECK_EQ_I(digest, 0x1bfd2ff418259ce6ull);
    return check_report("test_kernels_opt");
}
