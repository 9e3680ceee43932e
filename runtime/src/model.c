/* Model life cycle around the reader: loading from a file (mmap), freeing, and the read-only
 * queries of edgert.h. */
#define _DEFAULT_SOURCE /* madvise */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The file pages of blobs decoded at load (rel4, bitmap, block, shared, Huffman) hold data
 * the model never reads again: drop them from the resident set (a later read would fault
 * them back from the file, unchanged). For VGG-16's bitmap-stored FC layers that is 75 MB. */
static void release_decoded_sources(const edgert_model *m)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        const ert_weights *w = &m->nodes[i].w;
        if (!w->owned || !w->src || w->src_len < 2 * page)
            continue;
        uintptr_t a = ((uintptr_t)w->src + page - 1) & ~(page - 1);
        uintptr_t b = ((uintptr_t)w->src + (uintptr_t)w->src_len) & ~(page - 1);
        if (b > a)
            madvise((void *)a, b - a, MADV_DONTNEED);
    }
}

edgert_status edgert_model_load_file(const char *path, edgert_model **out, char *err,
                                     size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!path)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG, "path is NULL");
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ert_fail(err, errlen, EDGERT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ert_fail(err, errlen, EDGERT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ert_fail(err, errlen, EDGERT_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return ert_fail(err, errlen, EDGERT_ERR_IO, "%s: too large to map", path);
    }
    size_t len = (size_t)st.st_size;
    /* mmap cannot map 0 bytes; an empty file goes to the loader as an empty aligned buffer so
     * the message is the usual "shorter than" one. */
    static const _Alignas(EDGERT_BUFFER_ALIGN) uint8_t empty[EDGERT_BUFFER_ALIGN];
    void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    int map_errno = errno;
    close(fd);
    if (len && map == MAP_FAILED)
        return ert_fail(err, errlen, EDGERT_ERR_IO, "%s: cannot map: %s", path,
                        strerror(map_errno));
    char msg[512];
    edgert_status s = edgert_model_load(len ? map : (const void *)empty, len, out, msg,
                                        sizeof msg);
    if (s != EDGERT_OK) {
        if (len)
            munmap(map, len);
        return ert_fail(err, errlen, s, "%s: %s", path, msg);
    }
    (*out)->mapping = map;
    release_decoded_sources(*out);
    return EDGERT_OK;
}

void edgert_model_free(edgert_model *m)
{
    if (!m)
        return;
    if (m->mapping)
        munmap(m->mapping, m->len);
    for (uint32_t i = 0; m->nodes && i < m->n_nodes; i++)
        free(m->nodes[i].w.owned);
    free(m->tensors);
    free(m->nodes);
    free(m->label_start);
    free(m->offsets);
    free(m);
}

size_t edgert_model_input_count(const edgert_model *m) { return m ? 1 : 0; }
size_t edgert_model_output_count(const edgert_model *m) { return m ? m->n_outputs : 0; }
size_t edgert_model_tensor_count(const edgert_model *m) { return m ? m->n_tensors : 0; }
size_t edgert_model_node_count(const edgert_model *m) { return m ? m->n_nodes : 0; }
size_t edgert_model_label_count(const edgert_model *m) { return m ? m->n_labels : 0; }
size_t edgert_model_arena_bytes(const edgert_model *m) { return m ? m->arena_bytes : 0; }

int edgert_model_dynamic_fixed_point(const edgert_model *m)
{
    return m && (m->flags & 1u);
}

edgert_status edgert_model_tensor(const edgert_model *m, size_t t, edgert_tensor_info *out)
{
    if (!m || !out || t >= m->n_tensors)
        return EDGERT_ERR_INVALID_ARG;
    const ert_tensor *x = &m->tensors[t];
    out->name = x->name;
    out->name_len = x->name_len;
    out->index = (uint32_t)t;
    out->rank = x->rank;
    memcpy(out->dims, x->dims, sizeof out->dims);
    out->size = x->size;
    out->scale = x->scale;
    out->zero_point = x->zero_point;
    return EDGERT_OK;
}

edgert_status edgert_model_input(const edgert_model *m, size_t i, edgert_tensor_info *out)
{
    if (!m || i != 0)
        return EDGERT_ERR_INVALID_ARG;
    return edgert_model_tensor(m, m->input, out);
}

edgert_status edgert_model_output(const edgert_model *m, size_t i, edgert_tensor_info *out)
{
    if (!m || i >= m->n_outputs)
        return EDGERT_ERR_INVALID_ARG;
    return edgert_model_tensor(m, m->outputs[i], out);
}

edgert_status edgert_model_node(const edgert_model *m, size_t i, edgert_node_info *out)
{
    if (!m || !out || i >= m->n_nodes)
        return EDGERT_ERR_INVALID_ARG;
    const ert_node *n = &m->nodes[i];
    out->name = n->name;
    out->name_len = n->name_len;
    out->op = ert_op_name(n->op);
    out->op_code = n->op;
    out->n_inputs = n->n_inputs;
    out->inputs = n->inputs;
    out->output = n->output;
    out->weights = (uint32_t)n->w.encoding;
    out->weight_count = (uint64_t)n->c_out * n->k;
    out->stored_weights = n->w.encoding == EDGERT_WEIGHTS_SPARSE_REL8 ? n->w.pairs
                                                                      : out->weight_count;
    out->dense_macs = n->dense_macs;
    return EDGERT_OK;
}

const char *edgert_model_label(const edgert_model *m, size_t i, size_t *len)
{
    if (!m || i >= m->n_labels)
        return NULL;
    if (len)
        *len = m->label_start[i + 1] - 1 - m->label_start[i];
    return m->labels + m->label_start[i];
}

const char *edgert_model_metadata(const edgert_model *m, size_t *len)
{
    if (!m || !m->metadata)
        return NULL;
    if (len)
        *len = m->metadata_len;
    return m->metadata;
}
