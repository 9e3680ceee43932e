/* One CONV layer on every optimized conv kernel this host runs (forced with
 * ert_force_variant), best of N runs: what each kernel costs at a given shape, sparsity and
 * granularity, against edgecomp's own dense kernel and the ideal 1/(1-s).
 *
 *   cd runtime && make lib tests
 *   gcc -O2 -std=c11 -Iinclude -pthread ../benchmarks/conv_layer_bench.c tests/ecm_builder.c \
 *       tests/test_models.c build/native/libedgert.a -lm -o build/native/conv_layer_bench
 *   build/native/conv_layer_bench C HW C_OUT K STRIDE SPARSITY_PCT [GROUPS] [GRAN] [THREADS]
 *
 * GRAN: fine (each weight), kernel (whole kh x kw kernels), block (4 input channels at one
 * tap, the q4 kernels' vpdpbusd operand) or block8x4 (8 output x 4 input channels at one tap,
 * the q4 dense kernel's weight block). ZEROCH=n in the environment sets
 * every n-th input channel to the zero point (zero-activation skipping); ONLY=name runs that
 * variant alone and REPS=n times it n times (for a profiler). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/src/opt.h"
#include "../runtime/tests/test_models.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s C HW C_OUT K STRIDE SPARSITY_PCT [GROUPS] [fine|kernel] "
                        "[THREADS]\n", argv[0]);
        return 2;
    }
    const int C = atoi(argv[1]), H = atoi(argv[2]), CO = atoi(argv[3]), K = atoi(argv[4]);
    const int S = atoi(argv[5]), pct = atoi(argv[6]), G = argc > 7 ? atoi(argv[7]) : 1;
    const char *gran = argc > 8 ? argv[8] : "fine";
    const int kernel_gran = !strcmp(gran, "kernel"), block_gran = !strcmp(gran, "block");
    const int block8_gran = !strcmp(gran, "block8x4");
    const int threads = argc > 9 ? atoi(argv[9]) : 1;
    const int P = K / 2, HO = (H + 2 * P - K) / S + 1, cg = C / G;
    const uint32_t k = (uint32_t)(cg * K * K);
    uint32_t st = 1;
    int8_t *w = malloc((size_t)CO * k);
    for (size_t i = 0; i < (size_t)CO * k; i++) {
        w[i] = (int8_t)tm_rand(&st, -127, 127);
        if (!w[i])
            w[i] = 1;
    }
    for (int o = 0; o < CO; o++)
        for (int c0 = 0; c0 < cg; c0 += 4) {
            int block_zero[64]; /* per tap, shared by the 4 channels of a block */
            for (int t = 0; t < K * K && t < 64; t++)
                block_zero[t] = tm_rand(&st, 0, 99) < pct;
            for (int c = c0; c < c0 + 4 && c < cg; c++) {
                int zero = tm_rand(&st, 0, 99) < pct;
                for (int t = 0; t < K * K; t++) {
                    if (block8_gran) /* the decision of the block's first output channel */
                        zero = o % 8 ? w[(size_t)(o - o % 8) * k + (size_t)c * K * K + t] == 0
                                     : block_zero[t < 64 ? t : 63];
                    else if (block_gran)
                        zero = block_zero[t < 64 ? t : 63];
                    else if (!kernel_gran)
                        zero = tm_rand(&st, 0, 99) < pct;
                    if (zero)
                        w[(size_t)o * k + (size_t)c * K * K + t] = 0;
                }
            }
        }
    int32_t *bias = calloc((size_t)CO, 4);
    eb b;
    eb_init(&b);
    const int32_t dx[4] = {1, C, H, H}, dy[4] = {1, CO, HO, HO};
    b.input = eb_tensor(&b, "x", 4, dx, 1.0f, -128);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, dy, 1.0f, -128);
    const int32_t p[13] = {K, K, S, S, P, P, P, P, 1, 1, G, -128, 127};
    tm_weighted(&b, 1, "conv", 0, 1, p, 13, w, (uint32_t)CO, k, bias, 1 << 30, 40, 1);
    size_t len;
    uint8_t *f = eb_finish(&b, &len);
    edgert_model *m = tm_load(f, len);
    const size_t xn = (size_t)C * H * H, yn = (size_t)CO * HO * HO;
    int8_t *x = malloc(xn), *y = malloc(yn);
    for (size_t i = 0; i < xn; i++)
        x[i] = (int8_t)tm_rand(&st, -127, 127);
    const char *zc = getenv("ZEROCH");
    if (zc && atoi(zc) > 0)
        for (int c = 0; c < C; c += atoi(zc))
            memset(x + (size_t)c * H * H, -128, (size_t)H * H);
    const double macs = (double)CO * HO * HO * k;
    double dense_ms = 0;
    printf("conv %dx%dx%d -> %d, %dx%d stride %d, groups %d, %d%% %s sparse, %d thread(s): "
           "%.1f M dense MACs\n", C, H, H, CO, K, K, S, G, pct, gran,
           threads, macs / 1e6);
    for (size_t vi = 0; vi <= ert_variant_count; vi++) { /* the last: the session's choice */
        const ert_variant *v = vi < ert_variant_count ? &ert_variants[vi] : NULL;
        if (!v) {
            if (getenv("ONLY"))
                break;
            ert_force_variant(NULL);
            edgert_session *s = tm_session(m, EDGERT_KERNELS_DEFAULT, threads);
            if (!s)
                break;
            edgert_layer_stats ls;
            edgert_session_layer_stats(s, 0, &ls);
            printf("  automatic choice: %s\n", ls.kernel);
            edgert_session_free(s);
            break;
        }
        if (v->op != ERT_OP_CONV || !ert_isa_supported(v->isa) ||
            (getenv("ONLY") && strcmp(getenv("ONLY"), v->name)))
            continue;
        ert_force_variant(v->name);
        edgert_session *s = tm_session(m, EDGERT_KERNELS_DEFAULT, threads);
        if (!s)
            continue;
        edgert_layer_stats ls;
        edgert_session_layer_stats(s, 0, &ls);
        if (strcmp(ls.kernel, v->name)) { /* the variant does not run this layer */
            edgert_session_free(s);
            continue;
        }
        double best = 1e9;
        const int reps = getenv("REPS") ? atoi(getenv("REPS")) : macs > 5e8 ? 5 : 30;
        for (int r = 0; r < reps; r++) {
            double t = now();
            edgert_session_run(s, x, xn, y, yn);
            t = now() - t;
            best = t < best ? t : best;
        }
        edgert_session_layer_stats(s, 0, &ls);
        if (!strcmp(v->name, "conv_u8s8_q4_dense_avx512vnni") ||
            (!dense_ms && !strcmp(v->name, "conv_s8_planar_c")))
            dense_ms = best * 1e3;
        printf("  %-32s %8.3f ms %7.1f GMAC/s dense-equivalent, executed %5.1f%% of MACs\n",
               ls.kernel, best * 1e3, macs / best / 1e9, 100.0 * (double)ls.executed_macs / macs);
        edgert_session_free(s);
    }
    ert_force_variant(NULL);
    edgert_model_free(m);
    free(f);
    free(w);
    free(bias);
    free(x);
    free(y);
    return 0;
}
