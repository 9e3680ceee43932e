/* Golden runner: every <dir>/<case>/{model.ecm,input.bin,expected.bin} is run on the
 * standalone C runtime and compared bit for bit with the bytes the numpy integer executor
 * produced. Each case runs with 1 and with 3 threads. Exit 0 only if at least one case ran
 * and all matched.
 *
 *   golden_runner DIR [DIR...]
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edgert.h"

static int8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return NULL;
    }
    *len = (size_t)st.st_size;
    int8_t *buf = malloc(*len + 1);
    if (buf && fread(buf, 1, *len, f) != *len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* 0 pass, 1 fail */
static int run_case(const char *dir, const char *name)
{
    char path[4096], err[512];
    int rc = 1;
    size_t xlen = 0, elen = 0;
    snprintf(path, sizeof path, "%s/%s/input.bin", dir, name);
    int8_t *x = slurp(path, &xlen);
    snprintf(path, sizeof path, "%s/%s/expected.bin", dir, name);
    int8_t *e = slurp(path, &elen);
    int8_t *y = NULL;
    edgert_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s/model.ecm", dir, name);
    if (!x || !e) {
        printf("FAIL %s: input.bin or expected.bin missing\n", name);
        goto done;
    }
    if (edgert_model_load_file(path, &m, err, sizeof err)) {
        printf("FAIL %s: %s\n", name, err);
        goto done;
    }
    y = malloc(elen + 1);
    for (int threads = 1; threads <= 3; threads += 2) {
        edgert_session_options o;
        edgert_session_options_init(&o);
        o.num_threads = threads;
        edgert_session *s;
        if (edgert_session_create(m, &o, &s, err, sizeof err)) {
            printf("FAIL %s: %s\n", name, err);
            goto done;
        }
        edgert_status st = edgert_session_run(s, x, xlen, y, elen);
        if (st) {
            printf("FAIL %s: %s\n", name, edgert_session_error(s));
            edgert_session_free(s);
            goto done;
        }
        edgert_session_free(s);
        for (size_t i = 0; i < elen; i++)
            if (y[i] != e[i]) {
                size_t bad = 0;
                for (size_t j = i; j < elen; j++)
                    bad += y[j] != e[j];
                printf("FAIL %s (%d threads): %zu of %zu bytes differ; first at byte %zu: "
                       "got %d, expected %d\n", name, threads, bad, elen, i, y[i], e[i]);
                goto done;
            }
    }
    printf("ok   %s (%zu output bytes)\n", name, elen);
    rc = 0;
done:
    edgert_model_free(m);
    free(x);
    free(e);
    free(y);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: golden_runner DIR [DIR...]\n");
        return 2;
    }
    int cases = 0, failed = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "golden_runner: cannot open %s\n", argv[a]);
            return 2;
        }
        char *names[4096];
        int n = 0;
        struct dirent *ent;
        while ((ent = readdir(d)) && n < 4096) {
            char p[4096];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s/model.ecm", argv[a], ent->d_name);
            if (ent->d_name[0] != '.' && stat(p, &st) == 0)
                names[n++] = strdup(ent->d_name);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof names[0], by_name);
        for (int i = 0; i < n; i++) {
            failed += run_case(argv[a], names[i]);
            free(names[i]);
        }
        cases += n;
    }
    printf("golden: %d cases, %d failed\n", cases, failed);
    if (cases == 0)
        fprintf(stderr, "golden_runner: no cases found (each needs <case>/model.ecm)\n");
    return cases == 0 || failed ? 1 : 0;
}
