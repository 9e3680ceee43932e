/* Sessions and models through the public API: the arena plan, thread and kernel-set
 * invariance, reading outputs and intermediates, stats, queries, files and error paths. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "../src/internal.h"
#include "check.h"
#include "test_models.h"

static char err[512];

/* Tensors alive at the same time never share arena bytes. */
static void plan_is_sound(const edgert_model *m)
{
    size_t sum = 0;
    for (uint32_t t = 0; t < m->n_tensors; t++) {
        const ert_tensor *a = &m->tensors[t];
        int32_t a_end = a->last_use > a->producer ? a->last_use : a->producer;
        CHECK(m->offsets[t] % ERT_ARENA_ALIGN == 0);
        CHECK(m->offsets[t] + a->size <= m->arena_bytes);
        sum += (a->size + ERT_ARENA_ALIGN - 1) / ERT_ARENA_ALIGN * ERT_ARENA_ALIGN;
        for (uint32_t u = t + 1; u < m->n_tensors; u++) {
            const ert_tensor *b = &m->tensors[u];
            int32_t b_end = b->last_use > b->producer ? b->last_use : b->producer;
            int live_together = a->producer <= b_end && b->producer <= a_end;
            int share = m->offsets[t] < m->offsets[u] + b->size &&
                        m->offsets[u] < m->offsets[t] + a->size;
            CHECK(!(live_together && share));
        }
    }
    CHECK(m->arena_bytes < sum); /* these chains do reuse memory */
}

static edgert_session *session(const edgert_model *m, int threads, int keep)
{
    edgert_session_options o;
    edgert_session_options_init(&o);
    o.num_threads = threads;
    o.keep_intermediates = keep;
    edgert_session *s = NULL;
    CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_OK);
    return s;
}

static void invariance(int sparse)
{
    size_t len;
    uint8_t *f = tm_all_ops(sparse, &len);
    edgert_model *m = tm_load(f, len);
    plan_is_sound(m);
    edgert_session *ref = session(m, 1, 1), *alts[4] = {session(m, 1, 0), session(m, 2, 0),
                                                        session(m, 3, 1), session(m, 64, 0)};
    CHECK(edgert_session_arena_bytes(alts[0]) == edgert_model_arena_bytes(m));
    CHECK(edgert_session_arena_bytes(ref) > edgert_model_arena_bytes(m));
    uint32_t st = 99;
    int8_t x[50], y0[6], y1[6], logits0[6], logits1[6];
    for (int trial = 0; trial < 30; trial++) {
        for (int i = 0; i < 50; i++)
            x[i] = (int8_t)tm_rand(&st, -128, 127);
        CHECK(edgert_session_run(ref, x, 50, y0, 6) == EDGERT_OK);
        CHECK(edgert_session_output(ref, 1, logits0, 6) == EDGERT_OK);
        for (int a = 0; a < 4; a++) {
            CHECK(edgert_session_run(alts[a], x, 50, y1, 6) == EDGERT_OK);
            CHECK(memcmp(y0, y1, 6) == 0);
            CHECK(edgert_session_output(alts[a], 1, logits1, 6) == EDGERT_OK);
            CHECK(memcmp(logits0, logits1, 6) == 0);
        }
    }
    /* executed MACs do not depend on the thread count */
    for (size_t n = 0; n < edgert_model_node_count(m); n++) {
        edgert_layer_stats a, b;
        edgert_session_layer_stats(alts[0], n, &a);
        edgert_session_layer_stats(alts[3], n, &b);
        CHECK(a.executed_macs == b.executed_macs && a.dense_macs == b.dense_macs);
    }
    CHECK(edgert_session_last_run_ns(ref) > 0);
    /* the default session reuses bytes: the first conv output is gone, and says so */
    int8_t buf[128];
    edgert_status s = edgert_session_tensor(alts[0], 1, buf, 100);
    CHECK(s == EDGERT_ERR_UNAVAILABLE);
    CHECK_MSG(edgert_session_error(alts[0]), "tensor 1 'c1' was overwritten during the run");
    CHECK_MSG(edgert_session_error(alts[0]), "keep_intermediates");
    CHECK(edgert_session_tensor(ref, 1, buf, 100) == EDGERT_OK);
    CHECK(edgert_session_tensor(alts[0], 0, buf, 50) == EDGERT_ERR_UNAVAILABLE ||
          memcmp(buf, x, 50) == 0);
    edgert_session_free(ref);
    for (int a = 0; a < 4; a++)
        edgert_session_free(alts[a]);
    edgert_model_free(m);
    free(f);
}

static void errors(void)
{
    size_t len;
    uint8_t *f = tm_small(1, &len);
    edgert_model *m = tm_load(f, len);
    edgert_session *s = session(m, 1, 0);
    int8_t x[108] = {0}, y[5];
    CHECK(edgert_session_run(s, x, 107, y, 5) == EDGERT_ERR_SHAPE);
    CHECK_MSG(edgert_session_error(s), "input 'in': 107 bytes given, the model takes 108");
    CHECK(edgert_session_run(s, x, 108, y, 4) == EDGERT_ERR_SHAPE);
    CHECK_MSG(edgert_session_error(s), "output 'prob': buffer of 4 bytes given");
    CHECK(edgert_session_run(s, NULL, 108, y, 5) == EDGERT_ERR_INVALID_ARG);
    CHECK(edgert_session_output(s, 0, y, 5) == EDGERT_ERR_UNAVAILABLE);
    CHECK_MSG(edgert_session_error(s), "no run yet");
    CHECK(edgert_session_run(s, x, 108, NULL, 0) == EDGERT_OK);
    CHECK(edgert_session_error(s)[0] == '\0');
    CHECK(edgert_session_output(s, 0, y, 5) == EDGERT_OK);
    CHECK(edgert_session_output(s, 1, y, 5) == EDGERT_ERR_INVALID_ARG);
    CHECK_MSG(edgert_session_error(s), "output index 1 is out of range [0, 0]");
    CHECK(edgert_session_tensor(s, 5, y, 5) == EDGERT_ERR_INVALID_ARG);
    CHECK(edgert_session_tensor(s, 4, y, 3) == EDGERT_ERR_SHAPE);
    edgert_layer_stats ls;
    CHECK(edgert_session_layer_stats(s, 4, &ls) == EDGERT_ERR_INVALID_ARG);
    edgert_session_free(s);

    edgert_session_options o;
    edgert_session_options_init(&o);
    o.num_threads = 65;
    CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
    CHECK_MSG(err, "num_threads = 65 is out of range [0, 64]");
    CHECK(s == NULL);
    o.num_threads = -1;
    CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
    o.num_threads = 0;
    o.kernels = 9;
    CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
    CHECK_MSG(err, "unknown kernel set 9");
    o.kernels = EDGERT_KERNELS_REFERENCE;
    CHECK(edgert_session_create(m, &o, &s, err, sizeof err) == EDGERT_OK);
    edgert_session_free(s);
    CHECK(edgert_session_create(NULL, NULL, &s, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
    edgert_model_free(m);

    /* zero copy needs an aligned buffer */
    uint8_t *shifted = aligned_alloc(16, len + 16);
    memcpy(shifted + 1, f, len);
    CHECK(edgert_model_load(shifted + 1, len, &m, err, sizeof err) == EDGERT_ERR_ALIGNMENT);
    CHECK_MSG(err, "is not 16-byte aligned");
    free(shifted);
    /* a tiny err buffer is truncated, never overrun */
    char small[8];
    CHECK(edgert_model_load(f, 100, &m, small, sizeof small) == EDGERT_ERR_FORMAT);
    CHECK(strlen(small) == 7);
    CHECK(edgert_model_load(f, 100, &m, NULL, 0) == EDGERT_ERR_FORMAT);
    free(f);
    /* every status has its own sentence */
    for (int a = 0; a <= 9; a++)
        for (int b = a + 1; b <= 10; b++)
            CHECK(strcmp(edgert_status_str((edgert_status)a), edgert_status_str((edgert_status)b)));
}

static void queries_and_files(void)
{
    size_t len;
    uint8_t *f = tm_small(1, &len);
    char path[] = "/tmp/edgert_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, f, len) == (ssize_t)len);
    close(fd);
    edgert_model *m;
    CHECK(edgert_model_load_file(path, &m, err, sizeof err) == EDGERT_OK);
    edgert_tensor_info t;
    CHECK(edgert_model_input_count(m) == 1 && edgert_model_output_count(m) == 1);
    CHECK(edgert_model_input(m, 0, &t) == EDGERT_OK);
    CHECK(t.name_len == 2 && !memcmp(t.name, "in", 2) && t.rank == 4 && t.dims[1] == 3 &&
          t.size == 108 && t.scale == 0.05f && t.zero_point == -3 && t.index == 0);
    CHECK(edgert_model_input(m, 1, &t) == EDGERT_ERR_INVALID_ARG);
    CHECK(edgert_model_output(m, 0, &t) == EDGERT_OK && t.index == 4 && t.zero_point == -128);
    CHECK(edgert_model_tensor(m, 5, &t) == EDGERT_ERR_INVALID_ARG);
    CHECK(edgert_model_label_count(m) == 5);
    size_t n;
    const char *l = edgert_model_label(m, 4, &n);
    CHECK(l && n == 1 && l[0] == 'e');
    CHECK(edgert_model_label(m, 5, &n) == NULL);
    const char *md = edgert_model_metadata(m, &n);
    CHECK(md && n == strlen("{\"producer\": \"test\"}") && !memcmp(md, "{\"producer\"", 11));
    CHECK(edgert_model_node_count(m) == 4 && edgert_model_tensor_count(m) == 5);
    edgert_node_info ni;
    CHECK(edgert_model_node(m, 0, &ni) == EDGERT_OK);
    CHECK(!strcmp(ni.op, "CONV") && ni.op_code == 1 && ni.name_len == 5 &&
          ni.weights == EDGERT_WEIGHTS_SPARSE_REL8 && ni.weight_count == 4 * 27 &&
          ni.stored_weights < ni.weight_count && ni.dense_macs == 4 * 9 * 27 &&
          ni.n_inputs == 1 && ni.inputs[0] == 0 && ni.output == 1);
    CHECK(edgert_model_node(m, 1, &ni) == EDGERT_OK && !strcmp(ni.op, "RESHAPE") &&
          ni.weights == EDGERT_WEIGHTS_NONE && ni.dense_macs == 0);
    CHECK(edgert_model_node(m, 4, &ni) == EDGERT_ERR_INVALID_ARG);
    CHECK(!edgert_model_dynamic_fixed_point(m));
    edgert_model_free(m);

    /* corrupt file: the message starts with the path */
    f[len - 1] ^= 1;
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, f, len) == (ssize_t)len);
    close(fd);
    CHECK(edgert_model_load_file(path, &m, err, sizeof err) == EDGERT_ERR_FORMAT);
    CHECK(!strncmp(err, path, strlen(path)));
    CHECK_MSG(err, ": whole-file SHA-256 mismatch");
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    CHECK(edgert_model_load_file(path, &m, err, sizeof err) == EDGERT_ERR_FORMAT);
    CHECK_MSG(err, "file is 0 bytes, shorter than");
    unlink(path);
    CHECK(edgert_model_load_file(path, &m, err, sizeof err) == EDGERT_ERR_IO);
    CHECK_MSG(err, "cannot open: No such file or directory");
    CHECK(edgert_model_load_file("/tmp", &m, err, sizeof err) == EDGERT_ERR_IO);
    CHECK_MSG(err, "/tmp: not a regular file");
    CHECK(m == NULL);
    free(f);
}

int main(void)
{
    invariance(0);
    invariance(1);
    errors();
    queries_and_files();
    return check_report("test_session");
}
