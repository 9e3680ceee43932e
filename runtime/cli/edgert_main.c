/* edgert: run packed .ecm models on a board without Python.
 *
 *   edgert info MODEL
 *   edgert run MODEL INPUT [OUTPUT] [--expect EXPECTED] [--top K] [--threads N]
 *
 * Tensors are raw int8 files of exactly the tensor's size. Exit status: 0 success (and
 * outputs identical to --expect), 1 output differs from --expect, 2 usage or runtime error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgert.h"

#define EXIT_MISMATCH 1
#define EXIT_ERROR 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: edgert info MODEL\n"
            "       edgert run MODEL INPUT [OUTPUT] [--expect EXPECTED] [--top K] "
            "[--threads N]\n"
            "INPUT, OUTPUT and EXPECTED are raw int8 tensors (output 0 of the model).\n");
}

static int die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "edgert: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    return EXIT_ERROR;
}

/* Whole file into a fresh buffer; NULL (with a message printed) on failure. */
static int8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        die("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    int8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        int8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        die("%s: %s", path, buf ? "read error" : "out of memory");
        return NULL;
    }
    *len = n;
    return buf;
}

static void print_shape(const edgert_tensor_info *t)
{
    char s[64];
    int len = snprintf(s, sizeof s, "[");
    for (uint32_t d = 0; d < t->rank; d++)
        len += snprintf(s + len, sizeof s - (size_t)len, d ? ", %d" : "%d", t->dims[d]);
    snprintf(s + len, sizeof s - (size_t)len, "]");
    printf("%-18s", s);
}

static void print_tensor(const char *what, const edgert_tensor_info *t)
{
    printf("%-9s '%.*s' ", what, (int)t->name_len, t->name);
    print_shape(t);
    printf(" int8, scale %.6g, zero point %d\n", (double)t->scale, t->zero_point);
}

static int cmd_info(const char *path)
{
    char err[512];
    edgert_model *m;
    edgert_status st = edgert_model_load_file(path, &m, err, sizeof err);
    if (st)
        return die("%s", err, NULL);
    edgert_tensor_info t;
    printf("model     %s, %s\n", path,
           edgert_model_dynamic_fixed_point(m) ? "dynamic fixed point" : "affine int8");
    edgert_model_input(m, 0, &t);
    print_tensor("input", &t);
    for (size_t i = 0; i < edgert_model_output_count(m); i++) {
        char what[32];
        snprintf(what, sizeof what, "output %zu", i);
        edgert_model_output(m, i, &t);
        print_tensor(what, &t);
    }
    size_t all = 0;
    for (size_t i = 0; i < edgert_model_tensor_count(m); i++) {
        edgert_model_tensor(m, i, &t);
        all += t.size;
    }
    printf("labels    %zu\n", edgert_model_label_count(m));
    printf("arena     %zu bytes (all %zu tensors together: %zu bytes)\n",
           edgert_model_arena_bytes(m), edgert_model_tensor_count(m), all);
    printf("\n%4s  %-13s  %-20s  %-18s  %-26s  %12s\n", "node", "op", "name", "output",
           "weights (stored/dense)", "dense MACs");
    uint64_t total_macs = 0;
    for (size_t i = 0; i < edgert_model_node_count(m); i++) {
        edgert_node_info n;
        edgert_model_node(m, i, &n);
        edgert_model_tensor(m, n.output, &t);
        char w[40] = "-";
        if (n.weights)
            snprintf(w, sizeof w, "%s %llu/%llu (%.1f%%)",
                     n.weights == EDGERT_WEIGHTS_DENSE ? "dense" : "sparse",
                     (unsigned long long)n.stored_weights, (unsigned long long)n.weight_count,
                     n.weight_count ? 100.0 * (double)n.stored_weights / (double)n.weight_count
                                    : 0.0);
        printf("%4zu  %-13s  %-20.*s  ", i, n.op, (int)(n.name_len > 20 ? 20 : n.name_len),
               n.name);
        print_shape(&t);
        printf("  %-26s  %12llu\n", w, (unsigned long long)n.dense_macs);
        total_macs += n.dense_macs;
    }
    printf("%4s  %-13s  %-20s  %-18s  %-26s  %12llu\n", "", "total", "", "", "",
           (unsigned long long)total_macs);
    edgert_model_free(m);
    return 0;
}

typedef struct run_args {
    const char *model, *input, *output, *expect;
    int top, threads;
} run_args;

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_run(int argc, char **argv, run_args *a)
{
    int positional = 0;
    memset(a, 0, sizeof *a);
    a->threads = 1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--expect") || !strcmp(argv[i], "--top") ||
            !strcmp(argv[i], "--threads")) {
            if (i + 1 >= argc)
                return die("%s needs a value", argv[i], NULL), -1;
            const char *v = argv[++i];
            if (!strcmp(argv[i - 1], "--expect"))
                a->expect = v;
            else if (!strcmp(argv[i - 1], "--top") ? parse_int(v, 1, 1 << 20, &a->top)
                                                   : parse_int(v, 1, EDGERT_MAX_THREADS,
                                                               &a->threads))
                return die("bad value for %s: '%s'", argv[i - 1], v), -1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return die("unknown option %s", argv[i], NULL), -1;
        } else {
            const char **slot[] = {&a->model, &a->input, &a->output};
            if (positional >= 3)
                return die("unexpected argument '%s'", argv[i], NULL), -1;
            *slot[positional++] = argv[i];
        }
    }
    if (positional < 2)
        return usage(stderr), -1;
    return 0;
}

static void print_top(const edgert_model *m, const int8_t *y, const edgert_tensor_info *t,
                      int k)
{
    size_t n = t->size;
    if ((size_t)k > n)
        k = (int)n;
    char *taken = calloc(n, 1);
    if (!taken)
        return;
    printf("top %d of output '%.*s':\n", k, (int)t->name_len, t->name);
    for (int r = 0; r < k; r++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) /* highest value, lowest index first */
            if (!taken[i] && (best == n || y[i] > y[best]))
                best = i;
        taken[best] = 1;
        size_t llen = 0;
        const char *label = edgert_model_label(m, best, &llen);
        printf("%3d. class %-5zu %10.6f  (q %4d)  %.*s\n", r + 1, best,
               (double)t->scale * (y[best] - t->zero_point), y[best],
               label ? (int)llen : 0, label ? label : "");
    }
    free(taken);
}

static int compare(const int8_t *y, const int8_t *e, size_t n, const char *expect_path)
{
    size_t diff = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (y[i] != e[i]) {
            diff++;
            if (first == n)
                first = i;
        }
    if (!diff) {
        printf("output identical to %s (%zu bytes)\n", expect_path, n);
        return 0;
    }
    printf("MISMATCH: %zu of %zu bytes differ from %s; first at byte %zu: got %d, expected %d\n",
           diff, n, expect_path, first, y[first], e[first]);
    return EXIT_MISMATCH;
}

static int cmd_run(int argc, char **argv)
{
    run_args a;
    if (parse_run(argc, argv, &a))
        return EXIT_ERROR;
    char err[512];
    edgert_model *m = NULL;
    edgert_session *s = NULL;
    int8_t *x = NULL, *y = NULL, *e = NULL;
    size_t xlen = 0, elen = 0;
    int rc = EXIT_ERROR;
    edgert_tensor_info ti, to;
    if (edgert_model_load_file(a.model, &m, err, sizeof err)) {
        die("%s", err, NULL);
        goto done;
    }
    edgert_model_input(m, 0, &ti);
    edgert_model_output(m, 0, &to);
    if (!(x = read_file(a.input, &xlen)))
        goto done;
    if (xlen != ti.size) {
        fprintf(stderr, "edgert: %s: %zu bytes, the model input '%.*s' takes %zu (int8)\n",
                a.input, xlen, (int)ti.name_len, ti.name, ti.size);
        goto done;
    }
    if (a.expect) {
        if (!(e = read_file(a.expect, &elen)))
            goto done;
        if (elen != to.size) {
            fprintf(stderr, "edgert: %s: %zu bytes, the model output '%.*s' has %zu (int8)\n",
                    a.expect, elen, (int)to.name_len, to.name, to.size);
            goto done;
        }
    }
    edgert_session_options o;
    edgert_session_options_init(&o);
    o.num_threads = a.threads;
    if (edgert_session_create(m, &o, &s, err, sizeof err)) {
        die("%s", err, NULL);
        goto done;
    }
    if (!(y = malloc(to.size))) {
        die("out of memory%s%s", "", "");
        goto done;
    }
    if (edgert_session_run(s, x, xlen, y, to.size)) {
        die("run failed: %s", edgert_session_error(s), NULL);
        goto done;
    }
    rc = 0;
    if (a.output) {
        FILE *f = fopen(a.output, "wb");
        if (!f || fwrite(y, 1, to.size, f) != to.size) {
            die("%s: cannot write: %s", a.output, strerror(errno));
            rc = EXIT_ERROR;
        }
        if (f && fclose(f) != 0 && rc == 0)
            rc = die("%s: cannot write: %s", a.output, strerror(errno));
    }
    if (rc == 0 && a.top)
        print_top(m, y, &to, a.top);
    if (rc == 0 && e)
        rc = compare(y, e, to.size, a.expect);
    if (rc != EXIT_ERROR)
        printf("run: %.3f ms\n", (double)edgert_session_last_run_ns(s) / 1e6);
done:
    free(x);
    free(y);
    free(e);
    edgert_session_free(s);
    edgert_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "info"))
        return cmd_info(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "run"))
        return cmd_run(argc, argv);
    usage(stderr);
    return EXIT_ERROR;
}
