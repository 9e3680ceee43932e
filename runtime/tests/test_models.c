/* Small models built in C for the tests; see test_models.h. */
#include "test_models.h"

#include <stdio.h>
#include <stdlib.h>

int32_t tm_rand(uint32_t *s, int32_t lo, int32_t hi)
{
    *s = *s * 1664525u + 1013904223u;
    /* 64-bit span: hi - lo + 1 overflows int32 for ranges reaching INT32_MAX */
    uint64_t span = (uint64_t)((int64_t)hi - (int64_t)lo) + 1u;
    return (int32_t)((int64_t)lo + (int64_t)((*s >> 8) % span));
}

edgert_model *tm_load(const uint8_t *buf, size_t len)
{
    char err[512];
    edgert_model *m;
    if (edgert_model_load(buf, len, &m, err, sizeof err)) {
        fprintf(stderr, "test model does not load: %s\n", err);
        exit(1);
    }
    return m;
}

edgert_session *tm_session(const edgert_model *m, int kernels, int threads)
{
    edgert_session_options o;
    edgert_session_options_init(&o);
    o.kernels = kernels;
    o.num_threads = threads;
    edgert_session *s = NULL;
    char err[256];
    if (edgert_session_create(m, &o, &s, err, sizeof err) != EDGERT_OK) {
        fprintf(stderr, "session: %s\n", err);
        return NULL;
    }
    return s;
}

void tm_weighted(eb *b, uint16_t op, const char *name, uint32_t in, uint32_t out,
                 const int32_t *params, uint32_t n_params, const int8_t *w, uint32_t c_out,
                 uint32_t k, const int32_t *bias, int32_t mult, int32_t shift, int sparse)
{
    eb_blobref refs[4];
    if (sparse) {
        uint32_t pairs;
        size_t size;
        uint8_t *blob = eb_rel8(w, c_out, k, &pairs, &size);
        refs[0] = eb_blob(b, 2, pairs, blob, size);
        free(blob);
    } else {
        refs[0] = eb_blob(b, 1, c_out * k, w, (size_t)c_out * k);
    }
    int32_t *m = malloc(4 * c_out), *s = malloc(4 * c_out);
    for (uint32_t c = 0; c < c_out; c++) {
        m[c] = mult;
        s[c] = shift;
    }
    refs[1] = eb_blob(b, 3, c_out, bias, 4 * (size_t)c_out);
    refs[2] = eb_blob(b, 4, c_out, m, 4 * (size_t)c_out);
    refs[3] = eb_blob(b, 5, c_out, s, 4 * (size_t)c_out);
    free(m);
    free(s);
    eb_node(b, op, name, &in, 1, out, params, n_params, refs, 4);
}

static int8_t *rand_weights(uint32_t *st, size_t n, int zero_pct)
{
    int8_t *w = malloc(n);
    for (size_t i = 0; i < n; i++)
        w[i] = tm_rand(st, 0, 99) < zero_pct ? 0 : (int8_t)tm_rand(st, -127, 127);
    return w;
}

static int32_t *rand_bias(uint32_t *st, size_t n)
{
    int32_t *b = malloc(4 * n);
    for (size_t i = 0; i < n; i++)
        b[i] = tm_rand(st, -500, 500);
    return b;
}

static void softmax_node(eb *b, const char *name, uint32_t in, uint32_t out, double sx)
{
    int32_t table[256];
    for (int d = 0; d < 256; d++) { /* round(2^20 exp(-d sx)), computed without libm */
        double e = 1.0, term = 1.0, x = -d * sx;
        for (int i = 1; i < 60; i++) {
            term *= x / i;
            e += term;
        }
        table[d] = e <= 0 ? 0 : (int32_t)(e * 1048576.0 + 0.5);
    }
    eb_blobref r = eb_blob(b, 6, 256, table, sizeof table);
    eb_node(b, 9, name, &in, 1, out, NULL, 0, &r, 1);
}

uint8_t *tm_small(int sparse, size_t *len)
{
    eb b;
    eb_init(&b);
    uint32_t st = 1;
    const int32_t d_in[4] = {1, 3, 6, 6}, d_conv[4] = {1, 4, 3, 3}, d_flat[4] = {1, 36, 1, 1},
                  d_fc[4] = {1, 5, 1, 1};
    uint32_t t_in = eb_tensor(&b, "in", 4, d_in, 0.05f, -3);
    uint32_t t_conv = eb_tensor(&b, "conv", 4, d_conv, 0.1f, -128);
    uint32_t t_flat = eb_tensor(&b, "flat", 2, d_flat, 0.1f, -128);
    uint32_t t_fc = eb_tensor(&b, "fc", 2, d_fc, 0.2f, 10);
    uint32_t t_prob = eb_tensor(&b, "prob", 2, d_fc, 1.0f / 256, -128);
    b.input = t_in;
    b.outputs[0] = t_prob;
    b.n_outputs = 1;
    const int32_t conv_p[13] = {3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1, -128, 127};
    int8_t *w = rand_weights(&st, 4 * 27, 70);
    int32_t *bias = rand_bias(&st, 4);
    tm_weighted(&b, 1, "conv1", t_in, t_conv, conv_p, 13, w, 4, 27, bias, 1 << 30, 8, sparse);
    free(w);
    free(bias);
    eb_node(&b, 10, "flatten", &t_conv, 1, t_flat, NULL, 0, NULL, 0);
    const int32_t fc_p[2] = {-128, 127};
    const int32_t zero_bias[5] = {0};
    w = rand_weights(&st, 5 * 36, 0);
    tm_weighted(&b, 2, "fc", t_flat, t_fc, fc_p, 2, w, 5, 36, zero_bias, 1 << 30, 12, sparse);
    free(w);
    softmax_node(&b, "softmax", t_fc, t_prob, 0.2);
    b.labels = "a\nb\nc\nd\ne";
    b.metadata = "{\"producer\": \"test\"}";
    uint8_t *f = eb_finish(&b, len);
    eb_free(&b);
    return f;
}

uint8_t *tm_all_ops(int sparse, size_t *len)
{
    eb b;
    eb_init(&b);
    uint32_t st = 7;
    const int32_t d_in[4] = {1, 2, 5, 5}, d_c1[4] = {1, 4, 5, 5}, d_p[4] = {1, 4, 3, 3},
                  d_cat[4] = {1, 8, 3, 3}, d_c2[4] = {1, 4, 3, 3}, d_gap[4] = {1, 4, 1, 1},
                  d_flat[4] = {1, 4, 1, 1}, d_fc[4] = {1, 6, 1, 1};
    uint32_t x = eb_tensor(&b, "x", 4, d_in, 0.02f, 5);
    uint32_t c1 = eb_tensor(&b, "c1", 4, d_c1, 0.05f, -20);
    uint32_t mp = eb_tensor(&b, "mp", 4, d_p, 0.05f, -20);
    uint32_t ap = eb_tensor(&b, "ap", 4, d_p, 0.04f, 3);
    uint32_t ad = eb_tensor(&b, "add", 4, d_p, 0.08f, -7);
    uint32_t cl = eb_tensor(&b, "clamp", 4, d_p, 0.08f, -7);
    uint32_t cat = eb_tensor(&b, "cat", 4, d_cat, 0.06f, 1);
    uint32_t c2 = eb_tensor(&b, "c2", 4, d_c2, 0.1f, -4);
    uint32_t gap = eb_tensor(&b, "gap", 4, d_gap, 0.05f, 2);
    uint32_t fl = eb_tensor(&b, "flat", 2, d_flat, 0.05f, 2);
    uint32_t fc = eb_tensor(&b, "logits", 2, d_fc, 0.2f, 0);
    uint32_t sm = eb_tensor(&b, "prob", 2, d_fc, 1.0f / 256, -128);
    b.input = x;
    b.outputs[0] = sm;
    b.outputs[1] = fc;
    b.n_outputs = 2;

    const int32_t c1_p[13] = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, -20, 127}; /* fused relu */
    int8_t *w = rand_weights(&st, 4 * 9, 60);
    int32_t *bias = rand_bias(&st, 4);
    tm_weighted(&b, 1, "conv1", x, c1, c1_p, 13, w, 4, 9, bias, 1 << 30, 35, sparse);
    free(w);
    free(bias);
    const int32_t mp_p[8] = {2, 2, 2, 2, 0, 0, 0, 0}; /* 5 -> 3: ceil mode */
    eb_node(&b, 3, "maxpool", &c1, 1, mp, mp_p, 8, NULL, 0);
    const int32_t ap_p[11] = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1310720, 20}; /* incl. pad, 1.25 */
    eb_node(&b, 4, "avgpool", &mp, 1, ap, ap_p, 11, NULL, 0);
    const uint32_t add_in[2] = {mp, ap};
    const int32_t add_p[5] = {671088640, 536870912, 30, -128, 127}; /* 0.625, 0.5 */
    eb_node(&b, 6, "add", add_in, 2, ad, add_p, 5, NULL, 0);
    const int32_t cl_p[2] = {-7, 100};
    eb_node(&b, 8, "relu", &ad, 1, cl, cl_p, 2, NULL, 0);
    const uint32_t cat_in[2] = {cl, mp};
    const int32_t cat_p[5] = {1, 1431655765, 30, 894784853, 30}; /* 4/3, 5/6 */
    eb_node(&b, 7, "concat", cat_in, 2, cat, cat_p, 5, NULL, 0);
    const int32_t c2_p[13] = {3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, -128, 127}; /* dilation 2 */
    w = rand_weights(&st, 4 * 72, 80);
    bias = rand_bias(&st, 4);
    tm_weighted(&b, 1, "conv2", cat, c2, c2_p, 13, w, 4, 72, bias, 1 << 30, 37, sparse);
    free(w);
    free(bias);
    const int32_t gap_p[2] = {1 << 30, 30};
    eb_node(&b, 5, "gap", &c2, 1, gap, gap_p, 2, NULL, 0);
    eb_node(&b, 10, "flatten", &gap, 1, fl, NULL, 0, NULL, 0);
    const int32_t fc_p[2] = {-128, 127};
    w = rand_weights(&st, 6 * 4, 30);
    bias = rand_bias(&st, 6);
    tm_weighted(&b, 2, "fc", fl, fc, fc_p, 2, w, 6, 4, bias, 1 << 30, 33, sparse);
    free(w);
    free(bias);
    softmax_node(&b, "softmax", fc, sm, 0.2);
    uint8_t *f = eb_finish(&b, len);
    eb_free(&b);
    return f;
}
