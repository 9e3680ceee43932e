/* libFuzzer target: a .ecm file from anywhere -> load, plan, session, one inference.
 *
 * Build and run with `make fuzz` / `make fuzz-short` (clang, -fsanitize=fuzzer,address,undefined).
 *
 * Each input is tried twice:
 *   1. as given, so the header, SHA-256 and CRC checks themselves are fuzzed;
 *   2. "re-signed": header file_size set to the real size, every section CRC and the SHA-256
 *      trailer recomputed. Without this a random mutation almost never gets past the checksums
 *      and the graph reader, op checkers, planner and kernels would go unfuzzed.
 * A model that loads is described through every query of edgert.h, then run on an input made
 * from the file's bytes, on a planned arena and on a keep-intermediates arena (and, for some
 * inputs, with a second thread and with the reference kernel set). All runs must agree byte for
 * byte: a planner that lets a live tensor be overwritten, or a kernel set that differs from the
 * reference, aborts with the first differing tensor.
 *
 * Loading has no size limits besides the format's, but running a huge (valid) model is slow,
 * not wrong, so inference is skipped above FUZZ_MAX_ARENA bytes or FUZZ_MAX_WORK operations.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/hashes.h"
#include "edgert.h"

#define FUZZ_MAX_ARENA (8u << 20)
#define FUZZ_MAX_WORK 20000000ull

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* Make the checksums and the declared file size agree with the bytes (see the top comment).
 * Entries that point outside the file keep their CRC: the loader must reject them anyway. */
static void resign(uint8_t *f, size_t len)
{
    if (len < 128)
        return;
    wr64(f + 16, len);
    uint32_t ns = rd32(f + 24);
    for (uint32_t i = 0; i < ns && 64 + 32 * (uint64_t)(i + 1) <= len - 32; i++) {
        uint8_t *e = f + 64 + 32 * (size_t)i;
        uint64_t off = rd64(e + 8), size = rd64(e + 16);
        if (off <= len && size <= len - off)
            wr32(e + 24, ert_crc32(f + off, (size_t)size));
    }
    ert_sha256(f, len - 32, f + len - 32);
}

/* Everything the public API reports about a model; reads every pointer it hands out, so a
 * dangling or out-of-bounds one is caught by ASan here. */
static uint64_t describe(const edgert_model *m, uint64_t *work)
{
    uint64_t sink = 0;
    edgert_tensor_info t;
    size_t nt = edgert_model_tensor_count(m), nn = edgert_model_node_count(m);
    for (size_t i = 0; i < nt; i++) {
        if (edgert_model_tensor(m, i, &t) != EDGERT_OK)
            abort();
        for (size_t j = 0; j < t.name_len; j++)
            sink += (uint8_t)t.name[j];
        sink += t.size;
    }
    if (edgert_model_input(m, 0, &t) || edgert_model_input(m, 1, &t) != EDGERT_ERR_INVALID_ARG)
        abort();
    for (size_t i = 0; i < edgert_model_output_count(m); i++)
        if (edgert_model_output(m, i, &t))
            abort();
    *work = 0;
    for (size_t i = 0; i < nn; i++) {
        edgert_node_info n;
        if (edgert_model_node(m, i, &n) != EDGERT_OK || !n.op)
            abort();
        for (size_t j = 0; j < n.name_len; j++)
            sink += (uint8_t)n.name[j];
        for (uint32_t j = 0; j < n.n_inputs; j++)
            if (n.inputs[j] >= nt)
                abort();
        if (edgert_model_tensor(m, n.output, &t))
            abort();
        /* a rough cost: the MACs, a typical pool window (64 reads) per output element, and
         * one read per input element */
        *work += n.dense_macs + 64u * (uint64_t)t.size + (uint64_t)n.n_inputs * t.size;
    }
    for (size_t i = 0; i < edgert_model_label_count(m); i++) {
        size_t len = 0;
        const char *s = edgert_model_label(m, i, &len);
        if (!s)
            abort();
        for (size_t j = 0; j < len; j++)
            sink += (uint8_t)s[j];
    }
    if (edgert_model_label(m, edgert_model_label_count(m), NULL))
        abort();
    size_t mlen = 0;
    const char *md = edgert_model_metadata(m, &mlen);
    for (size_t j = 0; md && j < mlen; j++)
        sink += (uint8_t)md[j];
    return sink + (uint64_t)edgert_model_dynamic_fixed_point(m);
}

/* One run; returns a malloc'ed copy of every tensor the session keeps (NULL entries for the
 * ones whose bytes were reused), or NULL when the session cannot be created. */
static int8_t **run_once(const edgert_model *m, const edgert_session_options *o,
                         const int8_t *x, size_t xlen)
{
    char err[256];
    edgert_session *s = NULL;
    edgert_status st = edgert_session_create(m, o, &s, err, sizeof err);
    if (st == EDGERT_ERR_NO_MEMORY || st == EDGERT_ERR_THREAD)
        return NULL;
    if (st != EDGERT_OK) {
        fprintf(stderr, "session create failed on a loaded model: %s\n", err);
        abort();
    }
    edgert_tensor_info y;
    edgert_model_output(m, 0, &y);
    int8_t *out = malloc(y.size);
    if (edgert_session_run(s, x, xlen, out, y.size) != EDGERT_OK) {
        fprintf(stderr, "run failed on a loaded model: %s\n", edgert_session_error(s));
        abort();
    }
    size_t nt = edgert_model_tensor_count(m);
    int8_t **all = calloc(nt + 1, sizeof *all);
    for (size_t t = 0; t < nt; t++) {
        edgert_tensor_info ti;
        edgert_model_tensor(m, t, &ti);
        all[t] = malloc(ti.size ? ti.size : 1);
        st = edgert_session_tensor(s, t, all[t], ti.size);
        if (st == EDGERT_ERR_UNAVAILABLE && !o->keep_intermediates) {
            free(all[t]);
            all[t] = NULL;
        } else if (st != EDGERT_OK) {
            fprintf(stderr, "tensor %zu unreadable: %s\n", t, edgert_session_error(s));
            abort();
        }
    }
    for (size_t i = 0; i < edgert_model_output_count(m); i++) {
        edgert_model_output(m, i, &y);
        if (!all[y.index]) {
            fprintf(stderr, "graph output %zu was overwritten during the run\n", i);
            abort();
        }
    }
    /* output 0 through run() and through session_tensor() must agree */
    edgert_model_output(m, 0, &y);
    if (memcmp(out, all[y.index], y.size))
        abort();
    edgert_layer_stats ls;
    for (size_t i = 0; i < edgert_model_node_count(m); i++)
        if (edgert_session_layer_stats(s, i, &ls) || ls.executed_macs > ls.dense_macs)
            abort();
    free(out);
    edgert_session_free(s);
    return all;
}

static void free_all(int8_t **all, size_t nt)
{
    for (size_t t = 0; all && t < nt; t++)
        free(all[t]);
    free(all);
}

/* Every tensor both runs kept must be identical. */
static void compare(const edgert_model *m, int8_t **a, int8_t **b, const char *what)
{
    if (!a || !b)
        return;
    for (size_t t = 0; t < edgert_model_tensor_count(m); t++) {
        edgert_tensor_info ti;
        edgert_model_tensor(m, t, &ti);
        if (a[t] && b[t] && memcmp(a[t], b[t], ti.size)) {
            fprintf(stderr, "%s: tensor %zu '%.*s' differs\n", what, t, (int)ti.name_len,
                    ti.name);
            abort();
        }
    }
}

static void exercise(const edgert_model *m, const uint8_t *data, size_t size)
{
    uint64_t work;
    volatile uint64_t sink = describe(m, &work);
    (void)sink;
    if (edgert_model_arena_bytes(m) > FUZZ_MAX_ARENA || work > FUZZ_MAX_WORK)
        return;
    edgert_tensor_info x;
    edgert_model_input(m, 0, &x);
    size_t total = 0;
    for (size_t t = 0; t < edgert_model_tensor_count(m); t++) {
        edgert_tensor_info ti;
        edgert_model_tensor(m, t, &ti);
        total += ti.size;
    }
    if (total > 4 * (size_t)FUZZ_MAX_ARENA)
        return;
    /* the input: the file's bytes repeated (deterministic, and the fuzzer steers it) */
    int8_t *in = malloc(x.size);
    for (size_t i = 0; i < x.size; i++)
        in[i] = (int8_t)data[(i * 7919u) % size];
    size_t nt = edgert_model_tensor_count(m);
    uint32_t h = ert_crc32(data, size);
    edgert_session_options o;
    edgert_session_options_init(&o);
    int8_t **planned = run_once(m, &o, in, x.size);
    o.keep_intermediates = 1;
    int8_t **kept = run_once(m, &o, in, x.size);
    compare(m, planned, kept, "planned arena vs keep_intermediates");
    if (h % 4 == 0) { /* a quarter of the models: two threads, the reference kernel set */
        o.keep_intermediates = 0;
        o.num_threads = 2;
        int8_t **threaded = run_once(m, &o, in, x.size);
        compare(m, threaded, kept, "two threads vs one");
        free_all(threaded, nt);
        o.num_threads = 1;
        o.kernels = EDGERT_KERNELS_REFERENCE;
        o.keep_intermediates = 1;
        int8_t **ref = run_once(m, &o, in, x.size);
        compare(m, ref, kept, "reference kernels vs default kernels");
        free_all(ref, nt);
    }
    free_all(planned, nt);
    free_all(kept, nt);
    free(in);
}

static void try_load(const uint8_t *buf, size_t size, const uint8_t *data)
{
    char err[512];
    edgert_model *m = NULL;
    edgert_status st = edgert_model_load(buf, size, &m, err, sizeof err);
    if (st == EDGERT_OK) {
        exercise(m, data, size);
        edgert_model_free(m);
        return;
    }
    if (m || (st != EDGERT_ERR_FORMAT && st != EDGERT_ERR_NO_MEMORY) || !err[0] ||
        !memchr(err, 0, sizeof err)) {
        fprintf(stderr, "load failed without a clean FORMAT error: status %d \"%s\"\n", st,
                err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact size so ASan flags a read one byte past the end; 16-aligned as the API asks */
    void *p = NULL;
    if (posix_memalign(&p, EDGERT_BUFFER_ALIGN, size ? size : 1))
        return 0;
    uint8_t *buf = p;
    memcpy(buf, data, size);
    try_load(buf, size, data);
    if (size >= 128) {
        resign(buf, size);
        if (memcmp(buf, data, size)) /* else identical to the first try */
            try_load(buf, size, data);
    }
    free(buf);
    return 0;
}
