/* Writes the C test models (tests/test_models.c: every op, dense and sparse) as seed files for
 * the fuzz corpus: seed_models DIR. The Makefile adds the golden cases' model.ecm files. */
#include <stdio.h>
#include <stdlib.h>

#include "../tests/test_models.h"

static int save(const char *dir, const char *name, uint8_t *buf, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.ecm", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f)
        ok &= fclose(f) == 0;
    free(buf);
    if (!ok)
        fprintf(stderr, "seed_models: cannot write %s\n", path);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seed_models DIR\n");
        return 2;
    }
    size_t len;
    int ok = 1;
    for (int sparse = 0; sparse < 2; sparse++) {
        uint8_t *b = tm_small(sparse, &len);
        ok &= save(argv[1], sparse ? "small_sparse" : "small_dense", b, len);
        b = tm_all_ops(sparse, &len);
        ok &= save(argv[1], sparse ? "all_ops_sparse" : "all_ops_dense", b, len);
    }
    return ok ? 0 : 1;
}
