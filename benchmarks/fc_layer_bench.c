/* One FC layer on every optimized FC kernel this host runs (forced with ert_force_variant):
 * best-of and median of N runs in one process, and the session's automatic choice. The input
 * is a ReLU's output (zero point -128) with ZERO_PCT% of it at the zero point; weights are
 * fine-grained sparse (each weight zero with probability SPARSITY_PCT%), rel8-encoded.
 *
 *   cd runtime && make lib tests
 *   gcc -O2 -std=c11 -Iinclude -pthread ../benchmarks/fc_layer_bench.c tests/ecm_builder.c \
 *       tests/test_models.c build/native/libedgert.a -lm -o build/native/fc_layer_bench
 *   build/native/fc_layer_bench K C_OUT SPARSITY_PCT [ZERO_PCT] [THREADS]
 *
 * e.g. VGG-16's first FC: fc_layer_bench 25088 4096 90 50. ZEROCHAN=n zeroes whole runs of n
 * inputs (a conv channel of the flattened input, 49 for 7x7) instead of single inputs;
 * CHOICE=1 prints only the automatic choice; ALL=1 also times fc_s8_dense_c on a VNNI host;
 * ONLY=name runs that variant alone and REPS=n
 * times it n times (for a profiler). */
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s K C_OUT SPARSITY_PCT [ZERO_PCT] [THREADS]\n", argv[0]);
        return 2;
    }
    const uint32_t K = (uint32_t)atoi(argv[1]), CO = (uint32_t)atoi(argv[2]);
    const int pct = atoi(argv[3]), zero_pct = argc > 4 ? atoi(argv[4]) : 50;
    const int threads = argc > 5 ? atoi(argv[5]) : 1;
    const int zchan = getenv("ZEROCHAN") ? atoi(getenv("ZEROCHAN")) : 0;
    uint32_t st = 1;
    int8_t *w = malloc((size_t)CO * K);
    for (size_t i = 0; i < (size_t)CO * K; i++) {
        w[i] = (int8_t)tm_rand(&st, -127, 127);
        if (!w[i])
            w[i] = 1;
        if (tm_rand(&st, 0, 99) < pct)
            w[i] = 0;
    }
    int32_t *bias = calloc(CO, 4);
    for (uint32_t i = 0; i < CO; i++)
        bias[i] = tm_rand(&st, -5000, 5000);
    eb b;
    eb_init(&b);
    const int32_t dx[4] = {1, (int32_t)K, 1, 1}, dy[4] = {1, (int32_t)CO, 1, 1};
    b.input = eb_tensor(&b, "x", 2, dx, 0.1f, -128);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 2, dy, 0.2f, -128);
    const int32_t p[2] = {-128, 127};
    tm_weighted(&b, 2, "fc", 0, 1, p, 2, w, CO, K, bias, 1 << 30, 44, 1);
    size_t len;
    uint8_t *f = eb_finish(&b, &len);
    eb_free(&b);
    edgert_model *m = tm_load(f, len);
    int8_t *x = malloc(K), *y = malloc(CO);
    for (uint32_t i = 0; i < K; i++)
        x[i] = (int8_t)tm_rand(&st, -127, 127);
    if (zchan > 0) {
        for (uint32_t c = 0; c < K; c += (uint32_t)zchan)
            if (tm_rand(&st, 0, 99) < zero_pct)
                memset(x + c, -128, K - c < (uint32_t)zchan ? K - c : (uint32_t)zchan);
    } else {
        for (uint32_t i = 0; i < K; i++)
            if (tm_rand(&st, 0, 99) < zero_pct)
                x[i] = -128;
    }
    edgert_session *s = tm_session(m, EDGERT_KERNELS_DEFAULT, threads);
    edgert_layer_stats ls;
    if (!s || edgert_session_layer_stats(s, 0, &ls) != EDGERT_OK)
        return 1;
    printf("fc %u -> %u, %d%% fine sparse, %d%% of the input at the zero point%s, %d thread(s):"
           " automatic choice %s\n", K, CO, pct, zero_pct, zchan ? " (in runs)" : "", threads,
           ls.kernel);
    edgert_session_free(s);
    if (getenv("CHOICE"))
        return 0;
    const int reps = getenv("REPS") ? atoi(getenv("REPS")) : 41;
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (size_t vi = 0; vi < ert_variant_count; vi++) {
        const ert_variant *v = &ert_variants[vi];
        if (v->op != ERT_OP_FC || !ert_isa_supported(v->isa) ||
            (getenv("ONLY") && strcmp(getenv("ONLY"), v->name)))
            continue;
        /* the portable dense kernel is an order of magnitude behind the VNNI one */
        if (v->fn == ert_fc_s8_dense_c && ert_isa_supported(ERT_ISA_AVX512VNNI) &&
            !getenv("ALL") && !getenv("ONLY"))
            continue;
        ert_force_variant(v->name);
        s = tm_session(m, EDGERT_KERNELS_DEFAULT, threads);
        ert_force_variant(NULL);
        if (!s)
            continue;
        edgert_session_run(s, x, K, y, CO); /* warm up */
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            edgert_session_run(s, x, K, y, CO);
            t[r] = now() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        edgert_session_layer_stats(s, 0, &ls);
        printf("  %-28s best %7.3f ms  median %7.3f ms  weights %6.1f MB  executed %5.1f%% of "
               "MACs\n", ls.kernel, t[0] * 1e3, t[reps / 2] * 1e3, (double)ls.weight_bytes / 1e6,
               100.0 * (double)ls.executed_macs / (double)ls.dense_macs);
        edgert_session_free(s);
    }
    free(t);
    edgert_model_free(m);
    free(f);
    free(w);
    free(bias);
    free(x);
    free(y);
    return 0;
}
