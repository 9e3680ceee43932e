/* Test-only .ecm writer; see ecm_builder.h. */
#include "ecm_builder.h"

#include <stdlib.h>
#include <string.h>

#include "../src/hashes.h"

void eb_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void eb_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

void eb_init(eb *b) { memset(b, 0, sizeof *b); }

void eb_free(eb *b)
{
    free(b->tensors.p);
    free(b->nodes.p);
    free(b->data.p);
    free(b->strings.p);
    memset(b, 0, sizeof *b);
}

void eb_put(eb_buf *buf, const void *p, size_t n)
{
    if (buf->len + n > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < buf->len + n)
            cap *= 2;
        uint8_t *q = realloc(buf->p, cap);
        if (!q)
            abort();
        buf->p = q;
        buf->cap = cap;
    }
    if (n)
        memcpy(buf->p + buf->len, p, n);
    buf->len += n;
}

static void put32(eb_buf *buf, uint32_t v)
{
    uint8_t t[4];
    eb_le32(t, v);
    eb_put(buf, t, 4);
}

static void put_name(eb *b, eb_buf *rec, const char *name)
{
    size_t n = strlen(name);
    put32(rec, (uint32_t)b->strings.len);
    put32(rec, (uint32_t)n);
    eb_put(&b->strings, name, n);
}

uint32_t eb_tensor(eb *b, const char *name, uint32_t rank, const int32_t dims[4], float scale,
                   int32_t zero_point)
{
    eb_buf *r = &b->tensors;
    put_name(b, r, name);
    uint8_t head[4] = {1, (uint8_t)rank, 0, 0};
    eb_put(r, head, 4);
    for (int d = 0; d < 4; d++)
        put32(r, (uint32_t)dims[d]);
    uint32_t bits;
    memcpy(&bits, &scale, 4);
    put32(r, bits);
    put32(r, (uint32_t)zero_point);
    return b->n_tensors++;
}

eb_blobref eb_blob(eb *b, uint32_t kind, uint32_t count, const void *data, size_t size)
{
    static const uint8_t zeros[16];
    eb_put(&b->data, zeros, (16 - b->data.len % 16) % 16);
    eb_blobref r = {kind, count, b->data.len, size};
    eb_put(&b->data, data, size);
    return r;
}

void eb_node(eb *b, uint16_t op, const char *name, const uint32_t *inputs, uint32_t n_inputs,
             uint32_t output, const int32_t *params, uint32_t n_params, const eb_blobref *blobs,
             uint32_t n_blobs)
{
    eb_buf *r = &b->nodes;
    uint8_t head[4] = {(uint8_t)op, (uint8_t)(op >> 8), 0, 0};
    eb_put(r, head, 4);
    put_name(b, r, name);
    put32(r, n_inputs);
    put32(r, 1);
    put32(r, n_params);
    put32(r, n_blobs);
    for (uint32_t i = 0; i < n_inputs; i++)
        put32(r, inputs[i]);
    put32(r, output);
    for (uint32_t i = 0; i < n_params; i++)
        put32(r, (uint32_t)params[i]);
    for (uint32_t i = 0; i < n_blobs; i++) {
        uint8_t ref[24];
        eb_le32(ref, blobs[i].kind);
        eb_le32(ref + 4, blobs[i].count);
        eb_le64(ref + 8, blobs[i].offset);
        eb_le64(ref + 16, blobs[i].size);
        eb_put(r, ref, 24);
    }
    b->n_nodes++;
}

static size_t align64(size_t v) { return (v + 63) / 64 * 64; }

uint8_t *eb_finish(const eb *b, size_t *len)
{
    eb_buf graph = {0};
    put32(&graph, b->n_tensors);
    put32(&graph, b->n_nodes);
    put32(&graph, 1);
    put32(&graph, b->n_outputs);
    put32(&graph, b->input);
    for (uint32_t i = 0; i < b->n_outputs; i++)
        put32(&graph, b->outputs[i]);
    eb_put(&graph, b->tensors.p, b->tensors.len);
    eb_put(&graph, b->nodes.p, b->nodes.len);

    struct sec { uint32_t type; const void *p; size_t n; } sec[5];
    uint32_t ns = 0;
    sec[ns++] = (struct sec){1, graph.p, graph.len};
    sec[ns++] = (struct sec){2, b->data.p, b->data.len};
    sec[ns++] = (struct sec){3, b->strings.p, b->strings.len};
    if (b->labels)
        sec[ns++] = (struct sec){4, b->labels, strlen(b->labels)};
    if (b->metadata)
        sec[ns++] = (struct sec){5, b->metadata, strlen(b->metadata)};
    size_t pos = align64(64 + 32 * ns), offs[5];
    for (uint32_t i = 0; i < ns; i++) {
        offs[i] = pos;
        pos = align64(pos + sec[i].n);
    }
    size_t total = pos + 32;
    uint8_t *f = aligned_alloc(16, (total + 15) / 16 * 16);
    if (!f)
        abort();
    memset(f, 0, total);
    memcpy(f, "EDGECMP\0", 8);
    f[8] = 1; /* version 1.0 */
    eb_le32(f + 12, 64);
    eb_le64(f + 16, total);
    eb_le32(f + 24, ns);
    eb_le32(f + 28, b->flags);
    eb_le64(f + 32, 64);
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t *e = f + 64 + 32 * i;
        eb_le32(e, sec[i].type);
        eb_le64(e + 8, offs[i]);
        eb_le64(e + 16, sec[i].n);
        if (sec[i].n)
            memcpy(f + offs[i], sec[i].p, sec[i].n);
    }
    free(graph.p);
    eb_resign(f, total);
    *len = total;
    return f;
}

void eb_resign(uint8_t *f, size_t len)
{
    if (len < 64 + 32)
        return;
    uint32_t ns = rd32(f + 24);
    for (uint32_t i = 0; i < ns && 64 + 32 * (size_t)(i + 1) <= len - 32; i++) {
        uint8_t *e = f + 64 + 32 * i;
        uint64_t off = rd64(e + 8), size = rd64(e + 16);
        if (off <= len && size <= len - off)
            eb_le32(e + 24, ert_crc32(f + off, (size_t)size));
    }
    ert_sha256(f, len - 32, f + len - 32);
}

size_t eb_section(const uint8_t *f, size_t len, uint32_t type, size_t *size)
{
    uint32_t ns = rd32(f + 24);
    for (uint32_t i = 0; i < ns && 64 + 32 * (size_t)(i + 1) <= len; i++) {
        const uint8_t *e = f + 64 + 32 * i;
        if (rd32(e) == type) {
            if (size)
                *size = (size_t)rd64(e + 16);
            return (size_t)rd64(e + 8);
        }
    }
    return 0;
}

uint8_t *eb_rel8(const int8_t *w, uint32_t c_out, uint32_t k, uint32_t *pairs, size_t *size)
{
    /* worst case per row: every position stored */
    uint32_t *rs = calloc(c_out + 1, 4);
    int8_t *vals = malloc((size_t)c_out * k + 1);
    uint8_t *steps = malloc((size_t)c_out * k + 1);
    uint32_t n = 0;
    for (uint32_t c = 0; c < c_out; c++) {
        int64_t last = -1;
        for (uint32_t i = 0; i < k; i++) {
            if (!w[(size_t)c * k + i])
                continue;
            int64_t gap = (int64_t)i - last - 1;
            while (gap > 255) { /* padding pair (0, 255) advances 256 */
                vals[n] = 0;
                steps[n++] = 255;
                gap -= 256;
            }
            vals[n] = w[(size_t)c * k + i];
            steps[n++] = (uint8_t)gap;
            last = i;
        }
        rs[c + 1] = n;
    }
    *pairs = n;
    *size = 4 * ((size_t)c_out + 1) + 2 * (size_t)n;
    uint8_t *blob = malloc(*size + 1);
    for (uint32_t c = 0; c <= c_out; c++)
        eb_le32(blob + 4 * c, rs[c]);
    memcpy(blob + 4 * ((size_t)c_out + 1), vals, n);
    memcpy(blob + 4 * ((size_t)c_out + 1) + n, steps, n);
    free(rs);
    free(vals);
    free(steps);
    return blob;
}
