/* Sessions: one arena, per-node kernel contexts and stats, all allocated at creation, so that
 * edgert_session_run only copies the input in, calls one kernel per node and copies the
 * output out. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "opt.h"
#include "pool.h"

/* Nodes cheaper than this (rough operation count) run on the calling thread: waking the team
 * costs more than it saves. */
#define PARALLEL_MIN_COST 32768u
#define NAME_SHOWN 64

struct edgert_session {
    const edgert_model *m;
    int keep_all;
    int8_t *arena;
    size_t arena_bytes;
    size_t *own_offsets;        /* keep_all plan; NULL when the model's plan is used */
    const size_t *offsets;
    ert_kctx *ctx;              /* per node */
    const int8_t **in_ptrs;     /* all nodes' input pointers, ctx[i].in points in here */
    ert_kernel_fn *kernel;      /* per node, from the session's kernel set */
    edgert_layer_stats *stats;  /* per node */
    uint64_t run_ns;
    int has_run;
    ert_pool *pool;             /* NULL for one thread */
    ert_prepared *prep;         /* per-node kernel data and MAC accounting (opt.h) */
    char err[512];
};

static edgert_status sess_fail(edgert_session *s, edgert_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static edgert_status sess_fail(edgert_session *s, edgert_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return st;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void edgert_session_options_init(edgert_session_options *o)
{
    if (o) {
        o->num_threads = 1;
        o->keep_intermediates = 0;
        o->kernels = EDGERT_KERNELS_DEFAULT;
        o->tune_runs = 0;
    }
}

void edgert_session_free(edgert_session *s)
{
    if (!s)
        return;
    ert_pool_free(s->pool);
    ert_prepared_free(s->prep);
    free(s->arena);
    free(s->own_offsets);
    free(s->ctx);
    free(s->in_ptrs);
    free(s->kernel);
    free(s->stats);
    free(s);
}

/* The kernel of set that runs node n (by op and weight encoding). */
static ert_kernel_fn set_kernel(const ert_kernel_set *set, const ert_node *n)
{
    return n->w.encoding == EDGERT_WEIGHTS_SPARSE_REL8 ? set->sparse[n->op] : set->dense[n->op];
}

#define TUNE_MAX_CANDIDATES 8

/* Replace the session's kernel data by a preparation with the per-node choice `pick`. */
static edgert_status reprepare(edgert_session *s, const ert_kernel_set *set,
                               const ert_variant *const *pick, char *err, size_t errlen)
{
    const edgert_model *m = s->m;
    ert_prepared_free(s->prep); /* one set of kernel data at a time: no peak of two */
    s->prep = NULL;
    for (uint32_t i = 0; i < m->n_nodes; i++)
        s->kernel[i] = set_kernel(set, &m->nodes[i]);
    return ert_prepare_with(m, EDGERT_KERNELS_DEFAULT, pick, s->ctx, s->kernel, &s->prep, err,
                            errlen);
}

/* Load-time tuning: round k runs every layer's k-th candidate kernel (layers with fewer keep
 * their last), runs + 1 times on a pseudo-random input (the first warms caches and pages up),
 * and each layer keeps the kernel of its fastest time (pre-step included). Layers time
 * independently, so rounds = the largest candidate count, not their product. All kernels
 * give identical outputs: only speed depends on the outcome. */
static edgert_status tune(edgert_session *s, const ert_kernel_set *set, int runs, char *err,
                          size_t errlen)
{
    const edgert_model *m = s->m;
    const uint32_t nn = m->n_nodes;
    const ert_variant **cand = calloc((size_t)nn * TUNE_MAX_CANDIDATES, sizeof *cand);
    const ert_variant **pick = calloc(nn ? nn : 1, sizeof *pick);
    const ert_variant **best = calloc(nn ? nn : 1, sizeof *best);
    uint64_t *best_ns = malloc((nn ? nn : 1) * sizeof *best_ns);
    int *ncand = calloc(nn ? nn : 1, sizeof *ncand);
    const ert_tensor *xt = &m->tensors[m->input];
    int8_t *x = malloc(xt->size ? xt->size : 1);
    edgert_status st = EDGERT_OK;
    if (!cand || !pick || !best || !best_ns || !ncand || !x) {
        st = ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY, "out of memory tuning the kernels");
        goto done;
    }
    uint32_t lcg = 12345u;
    for (uint32_t i = 0; i < xt->size; i++) {
        lcg = lcg * 1664525u + 1013904223u;
        x[i] = (int8_t)(lcg >> 24);
    }
    int rounds = 0;
    for (uint32_t i = 0; i < nn; i++) {
        ncand[i] = ert_tune_candidates(m, s->prep, i, cand + (size_t)i * TUNE_MAX_CANDIDATES,
                                       TUNE_MAX_CANDIDATES);
        best_ns[i] = UINT64_MAX;
        rounds = ncand[i] > rounds ? ncand[i] : rounds;
    }
    if (rounds < 2)
        goto done; /* nothing to choose between */
    for (int k = 0; k < rounds; k++) {
        for (uint32_t i = 0; i < nn; i++)
            pick[i] = ncand[i] ? cand[(size_t)i * TUNE_MAX_CANDIDATES +
                                      (size_t)(k < ncand[i] ? k : ncand[i] - 1)]
                               : NULL;
        if ((st = reprepare(s, set, pick, err, errlen)) != EDGERT_OK)
            goto done;
        for (int r = 0; r <= runs; r++) {
            if ((st = edgert_session_run(s, x, xt->size, NULL, 0)) != EDGERT_OK) {
                st = ert_fail(err, errlen, st, "tuning run: %s", s->err);
                goto done;
            }
            for (uint32_t i = 0; r > 0 && i < nn; i++)
                if (k < ncand[i] && s->stats[i].ns < best_ns[i]) {
                    best_ns[i] = s->stats[i].ns;
                    best[i] = pick[i];
                }
        }
    }
    st = reprepare(s, set, best, err, errlen);
    s->has_run = 0;
    for (uint32_t i = 0; i < nn; i++) { /* the stats describe runs of the caller's, not ours */
        const uint64_t dense = s->stats[i].dense_macs;
        memset(&s->stats[i], 0, sizeof s->stats[i]);
        s->stats[i].dense_macs = dense;
    }
    s->run_ns = 0;
done:
    free(cand);
    free(pick);
    free(best);
    free(best_ns);
    free(ncand);
    free(x);
    return st;
}

edgert_status edgert_session_create(const edgert_model *m, const edgert_session_options *opts,
                                    edgert_session **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!m)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG, "model is NULL");
    edgert_session_options o;
    edgert_session_options_init(&o);
    if (opts)
        o = *opts;
    if (o.num_threads < 0 || o.num_threads > EDGERT_MAX_THREADS)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG,
                        "num_threads = %d is out of range [0, %d]", o.num_threads,
                        EDGERT_MAX_THREADS);
    if (o.tune_runs < 0 || o.tune_runs > EDGERT_MAX_TUNE_RUNS)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG,
                        "tune_runs = %d is out of range [0, %d]", o.tune_runs,
                        EDGERT_MAX_TUNE_RUNS);
    const ert_kernel_set *set;
    switch (o.kernels) {
    /* DEFAULT: ert_prepare replaces CONV / FC kernels with optimized ones */
    case EDGERT_KERNELS_DEFAULT:
    case EDGERT_KERNELS_REFERENCE: set = &ert_reference_kernels; break;
    default:
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG, "unknown kernel set %d",
                        o.kernels);
    }

    edgert_session *s = calloc(1, sizeof *s);
    if (!s)
        return ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY, "out of memory for the session");
    s->m = m;
    s->keep_all = o.keep_intermediates != 0;
    size_t total_inputs = 0;
    for (uint32_t i = 0; i < m->n_nodes; i++)
        total_inputs += m->nodes[i].n_inputs;
    s->ctx = calloc(m->n_nodes, sizeof *s->ctx);
    s->in_ptrs = calloc(total_inputs, sizeof *s->in_ptrs);
    s->kernel = calloc(m->n_nodes, sizeof *s->kernel);
    s->stats = calloc(m->n_nodes, sizeof *s->stats);
    if (!s->ctx || !s->in_ptrs || !s->kernel || !s->stats)
        goto nomem;
    if (s->keep_all) {
        s->own_offsets = malloc(m->n_tensors * sizeof *s->own_offsets);
        if (!s->own_offsets || ert_plan(m, 1, s->own_offsets, &s->arena_bytes))
            goto nomem;
        s->offsets = s->own_offsets;
    } else {
        s->offsets = m->offsets;
        s->arena_bytes = m->arena_bytes;
    }
    /* arena_bytes is a multiple of ERT_ARENA_ALIGN, as aligned_alloc wants */
    s->arena = aligned_alloc(ERT_ARENA_ALIGN, s->arena_bytes);
    if (!s->arena)
        goto nomem;
    memset(s->arena, 0, s->arena_bytes);

    const int8_t **in = s->in_ptrs;
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        const ert_node *n = &m->nodes[i];
        for (uint32_t j = 0; j < n->n_inputs; j++)
            in[j] = s->arena + s->offsets[n->inputs[j]];
        s->ctx[i] = (ert_kctx){m, n, in, s->arena + s->offsets[n->output], NULL};
        in += n->n_inputs;
        s->kernel[i] = set_kernel(set, n);
        s->stats[i].dense_macs = n->dense_macs;
    }
    edgert_status pst = ert_prepare(m, o.kernels, s->ctx, s->kernel, &s->prep, err, errlen);
    if (pst != EDGERT_OK) {
        edgert_session_free(s);
        return pst;
    }
    if (o.num_threads > 1) {
        s->pool = ert_pool_create(o.num_threads);
        if (!s->pool) {
            edgert_session_free(s);
            return ert_fail(err, errlen, EDGERT_ERR_THREAD, "cannot start %d worker threads",
                            o.num_threads - 1);
        }
    }
    if (o.tune_runs > 0 && o.kernels == EDGERT_KERNELS_DEFAULT) {
        edgert_status tst = tune(s, set, o.tune_runs, err, errlen);
        if (tst != EDGERT_OK) {
            edgert_session_free(s);
            return tst;
        }
    }
    for (uint32_t i = 0; i < m->n_nodes; i++)
        s->stats[i].kernel = ert_prepared_kernel(s->prep, i);
    *out = s;
    return EDGERT_OK;
nomem:
    edgert_session_free(s);
    return ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY,
                    "out of memory for a session (arena of %zu bytes, %u nodes)",
                    m->arena_bytes, m->n_nodes);
}

/* fn over work units [0, units), split across the pool when it is worth waking it */
static uint64_t run_units(edgert_session *s, ert_kernel_fn fn, const ert_kctx *ctx,
                          uint32_t units, uint64_t cost)
{
    if (s->pool && cost >= PARALLEL_MIN_COST && units >= 2)
        return ert_pool_run(s->pool, fn, ctx, units);
    return fn(ctx, 0, units);
}

edgert_status edgert_session_run(edgert_session *s, const int8_t *input, size_t input_len,
                                 int8_t *output, size_t output_len)
{
    if (!s)
        return EDGERT_ERR_INVALID_ARG;
    s->err[0] = '\0';
    const edgert_model *m = s->m;
    const ert_tensor *xt = &m->tensors[m->input];
    if (!input)
        return sess_fail(s, EDGERT_ERR_INVALID_ARG, "input is NULL");
    if (input_len != xt->size)
        return sess_fail(s, EDGERT_ERR_SHAPE, "input '%.*s': %zu bytes given, the model takes "
                         "%u (int8)", xt->name_len < NAME_SHOWN ? (int)xt->name_len : NAME_SHOWN,
                         xt->name, input_len, xt->size);
    const ert_tensor *yt = &m->tensors[m->outputs[0]];
    if (output && output_len != yt->size)
        return sess_fail(s, EDGERT_ERR_SHAPE, "output '%.*s': buffer of %zu bytes given, the "
                         "output has %u (int8)",
                         yt->name_len < NAME_SHOWN ? (int)yt->name_len : NAME_SHOWN, yt->name,
                         output_len, yt->size);
    if (!output && output_len)
        return sess_fail(s, EDGERT_ERR_INVALID_ARG, "output is NULL but output_len is %zu",
                         output_len);
    uint64_t t_start = now_ns();
    memcpy(s->arena + s->offsets[m->input], input, input_len);
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        const ert_node *n = &m->nodes[i];
        const struct ert_opt_node *on = s->ctx[i].opt;
        uint64_t t0 = now_ns();
        if (on && on->pre) /* packs the input for the kernel (opt.h) */
            run_units(s, on->pre, &s->ctx[i], on->pre_units, on->pre_cost);
        uint64_t macs = run_units(s, s->kernel[i], &s->ctx[i], n->units, n->cost);
        ert_prepared_stats(s->prep, i, macs, &s->stats[i]);
        s->stats[i].ns = now_ns() - t0;
    }
    if (output)
        memcpy(output, s->arena + s->offsets[m->outputs[0]], output_len);
    s->run_ns = now_ns() - t_start;
    s->has_run = 1;
    return EDGERT_OK;
}

/* The tensor produced latest whose arena bytes overlap tensor t's after t was produced, or
 * -1 if t survives the run. */
static int64_t overwriter(const edgert_session *s, uint32_t t)
{
    const edgert_model *m = s->m;
    if (s->keep_all)
        return -1;
    const ert_tensor *x = &m->tensors[t];
    size_t lo = s->offsets[t], hi = lo + x->size;
    for (uint32_t u = 0; u < m->n_tensors; u++) {
        const ert_tensor *y = &m->tensors[u];
        size_t ulo = s->offsets[u], uhi = ulo + y->size;
        if (u != t && y->producer > x->producer && ulo < hi && lo < uhi)
            return u;
    }
    return -1;
}

edgert_status edgert_session_tensor(edgert_session *s, size_t t, int8_t *out, size_t len)
{
    if (!s)
        return EDGERT_ERR_INVALID_ARG;
    s->err[0] = '\0';
    const edgert_model *m = s->m;
    if (t >= m->n_tensors)
        return sess_fail(s, EDGERT_ERR_INVALID_ARG, "tensor index %zu is out of range [0, %u]",
                         t, m->n_tensors - 1);
    const ert_tensor *x = &m->tensors[t];
    int nl = x->name_len < NAME_SHOWN ? (int)x->name_len : NAME_SHOWN;
    if (!out)
        return sess_fail(s, EDGERT_ERR_INVALID_ARG, "out is NULL");
    if (len != x->size)
        return sess_fail(s, EDGERT_ERR_SHAPE, "tensor %zu '%.*s': buffer of %zu bytes given, "
                         "the tensor has %u", t, nl, x->name, len, x->size);
    if (!s->has_run)
        return sess_fail(s, EDGERT_ERR_UNAVAILABLE, "tensor %zu '%.*s': no run yet", t, nl,
                         x->name);
    int64_t u = overwriter(s, (uint32_t)t);
    if (u >= 0) {
        const ert_tensor *y = &m->tensors[u];
        return sess_fail(s, EDGERT_ERR_UNAVAILABLE, "tensor %zu '%.*s' was overwritten during "
                         "the run (its arena bytes were reused by tensor %lld '%.*s'); create "
                         "the session with keep_intermediates to read it", t, nl, x->name,
                         (long long)u,
                         y->name_len < NAME_SHOWN ? (int)y->name_len : NAME_SHOWN, y->name);
    }
    memcpy(out, s->arena + s->offsets[t], len);
    return EDGERT_OK;
}

edgert_status edgert_session_output(edgert_session *s, size_t i, int8_t *out, size_t len)
{
    if (!s)
        return EDGERT_ERR_INVALID_ARG;
    if (i >= s->m->n_outputs)
        return sess_fail(s, EDGERT_ERR_INVALID_ARG, "output index %zu is out of range [0, %u]",
                         i, s->m->n_outputs - 1);
    return edgert_session_tensor(s, s->m->outputs[i], out, len);
}

const ert_prepared *ert_session_prepared(const edgert_session *s)
{
    return s ? s->prep : NULL;
}

const char *edgert_session_error(const edgert_session *s)
{
    return s ? s->err : "session is NULL";
}

size_t edgert_session_arena_bytes(const edgert_session *s)
{
    return s ? s->arena_bytes : 0;
}

edgert_status edgert_session_layer_stats(const edgert_session *s, size_t node,
                                         edgert_layer_stats *out)
{
    if (!s || !out || node >= s->m->n_nodes)
        return EDGERT_ERR_INVALID_ARG;
    *out = s->stats[node];
    return EDGERT_OK;
}

uint64_t edgert_session_last_run_ns(const edgert_session *s)
{
    return s ? s->run_ns : 0;
}
