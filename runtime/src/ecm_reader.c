/* Parse and validate a .ecm buffer (docs/format.md sections 1-3 and 6) into an edgert_model.
 *
 * Order of checks: header fields, whole-file SHA-256, section table (bounds, CRC, overlaps,
 * required types), then the GRAPH records (counts, names, indices, topology) with each node
 * handed to its op checker (node_check.c), then LABELS, then the arena plan. Every offset,
 * length and count from the file is checked before it is used; nothing is read outside
 * [buf, buf + len). The rules and messages follow edgecomp/packed/reader.py so both readers
 * accept the same files.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashes.h"
#include "reader.h"

#define HEADER_SIZE 64u
#define ENTRY_SIZE 32u
#define TRAILER_SIZE 32u
#define MIN_FILE_SIZE (HEADER_SIZE + ENTRY_SIZE + TRAILER_SIZE)
#define MAX_SECTIONS 64u
#define SECTION_ALIGN 64u
#define BLOB_ALIGN 16u
#define TENSOR_RECORD 36u
#define NODE_HEAD 28u
#define BLOB_REF 24u
#define MAX_TENSORS 65535u
#define MAX_NODES 65535u
#define MAX_OUTPUTS 16u
#define MAX_NODE_INPUTS 64u
#define MAX_PARAMS 64u
#define MAX_BLOBS 8u
#define MAX_DIM 65535
#define MAX_ELEMENTS (1u << 28)
#define FLAG_DYNAMIC_FIXED_POINT 1u
#define NAME_SHOWN 64 /* name bytes quoted in messages */

edgert_status ert_charge(ert_loader *ld, const ert_node *n, uint32_t idx, uint64_t weights,
                         uint64_t work)
{
    /* the totals are <= their limits before this call and each term is < 2^57 (C_out, K,
     * elements and windows are bounded): no wrap-around */
    ld->weights += weights;
    ld->work += work;
    if (ld->weights > ERT_MAX_TOTAL_WEIGHTS)
        return ert_node_fail(ld, n, idx, "the CONV/FC weights of the model reach %llu, more than "
                             "the limit 2^28", (unsigned long long)ld->weights);
    if (ld->work > ERT_MAX_TOTAL_WORK)
        return ert_node_fail(ld, n, idx, "one run of the model would take %llu MACs and window "
                             "reads, more than the limit 2^36", (unsigned long long)ld->work);
    return EDGERT_OK;
}

static const char *section_name(uint32_t type)
{
    static const char *const names[] = {NULL, "GRAPH", "DATA", "STRINGS", "LABELS", "METADATA"};
    return type >= 1 && type <= 5 ? names[type] : NULL;
}

static edgert_status fail(ert_loader *ld, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static edgert_status fail(ert_loader *ld, const char *fmt, ...)
{
    if (ld->err && ld->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->err, ld->errlen, fmt, ap);
        va_end(ap);
    }
    return EDGERT_ERR_FORMAT;
}

edgert_status ert_node_fail(ert_loader *ld, const ert_node *n, uint32_t idx, const char *fmt,
                            ...)
{
    if (ld->err && ld->errlen) {
        int len = snprintf(ld->err, ld->errlen, "node %u '%.*s' (%s): ", idx,
                           n->name_len < NAME_SHOWN ? (int)n->name_len : NAME_SHOWN, n->name,
                           ert_op_name(n->op));
        if (len >= 0 && (size_t)len < ld->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ld->err + len, ld->errlen - (size_t)len, fmt, ap);
            va_end(ap);
        }
    }
    return EDGERT_ERR_FORMAT;
}

const char *ert_blob_kind_name(uint32_t kind)
{
    static const char *const names[] = {"?", "WEIGHTS_DENSE", "WEIGHTS_SPARSE_REL8", "BIAS",
                                        "MULTIPLIER", "SHIFT", "EXP_TABLE", "LUT",
                                        "TABLE_I32", "WEIGHTS_SPARSE_REL4", "WEIGHTS_BITMAP",
                                        "WEIGHTS_BLOCK", "WEIGHTS_SHARED", "WEIGHTS_HUFFMAN"};
    return kind < BLOB_KIND_LIMIT ? names[kind] : "?";
}

int ert_utf8_valid(const uint8_t *s, uint64_t len)
{
    uint64_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        uint64_t n;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1Fu; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0Fu; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07u; min = 0x10000; }
        else return 0;
        if (len - i - 1 < n)
            return 0;
        for (uint64_t j = 1; j <= n; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0; /* overlong, out of range, surrogate */
        i += n + 1;
    }
    return 1;
}

/* ---- container: header, SHA-256, section table ---- */

static edgert_status read_container(ert_loader *ld, const uint8_t *b, size_t len)
{
    if (len < MIN_FILE_SIZE)
        return fail(ld, "file is %zu bytes, shorter than the smallest valid .ecm (%u bytes): "
                        "truncated or not a model", len, MIN_FILE_SIZE);
    if (memcmp(b, "EDGECMP\0", 8) != 0)
        return fail(ld, "bad magic %02x %02x %02x %02x %02x %02x %02x %02x: not an edgecomp "
                        ".ecm file", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    uint16_t vmaj = ert_rd16(b + 8), vmin = ert_rd16(b + 10);
    if (vmaj != EDGERT_FORMAT_MAJOR)
        return fail(ld, "format version %u.%u is not supported by this reader (it reads %u.x)",
                    vmaj, vmin, EDGERT_FORMAT_MAJOR);
    uint32_t hsize = ert_rd32(b + 12);
    uint64_t fsize = ert_rd64(b + 16), table_off = ert_rd64(b + 32);
    uint32_t nsec = ert_rd32(b + 24), flags = ert_rd32(b + 28);
    if (hsize != HEADER_SIZE || table_off != HEADER_SIZE)
        return fail(ld, "header size %u / section table offset %llu: expected 64", hsize,
                    (unsigned long long)table_off);
    if (fsize != (uint64_t)len)
        return fail(ld, "header says the file is %llu bytes but it has %zu (truncated or "
                        "padded)", (unsigned long long)fsize, len);
    if (nsec < 1 || nsec > MAX_SECTIONS)
        return fail(ld, "section count = %u is out of range [1, %u]", nsec, MAX_SECTIONS);
    if (flags & ~FLAG_DYNAMIC_FIXED_POINT)
        return fail(ld, "unknown header flags 0x%x", flags);
    ld->m->flags = flags;

    const uint64_t body_end = len - TRAILER_SIZE;
    uint8_t digest[32];
    ert_sha256(b, (size_t)body_end, digest);
    if (memcmp(digest, b + body_end, 32) != 0)
        return fail(ld, "whole-file SHA-256 mismatch (stored %02x%02x%02x%02x..., computed "
                        "%02x%02x%02x%02x...): the file is corrupt", b[body_end],
                    b[body_end + 1], b[body_end + 2], b[body_end + 3], digest[0], digest[1],
                    digest[2], digest[3]);
    const uint64_t table_end = HEADER_SIZE + (uint64_t)nsec * ENTRY_SIZE;
    if (table_end > body_end)
        return fail(ld, "section table (%u entries) runs past the end of the file", nsec);

    uint64_t span_lo[MAX_SECTIONS], span_hi[MAX_SECTIONS];
    uint32_t span_id[MAX_SECTIONS], seen_types[MAX_SECTIONS];
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = b + HEADER_SIZE + i * ENTRY_SIZE;
        uint32_t type = ert_rd32(e), enc = ert_rd32(e + 4), crc = ert_rd32(e + 24);
        uint64_t off = ert_rd64(e + 8), size = ert_rd64(e + 16);
        const char *nm = section_name(type);
        char what[48];
        if (nm)
            snprintf(what, sizeof what, "section %u (%s)", i, nm);
        else
            snprintf(what, sizeof what, "section %u (type %u)", i, type);
        if (!nm && type < SEC_VENDOR_MIN)
            return fail(ld, "%s: unknown section type %u", what, type);
        if (enc != 0)
            return fail(ld, "%s: unknown encoding %u", what, enc);
        if (off % SECTION_ALIGN || off < table_end || off > body_end || size > body_end - off)
            return fail(ld, "%s: offset %llu size %llu is misaligned or outside the file body "
                            "[%llu, %llu)", what, (unsigned long long)off,
                        (unsigned long long)size, (unsigned long long)table_end,
                        (unsigned long long)body_end);
        uint32_t actual = ert_crc32(b + off, (size_t)size);
        if (actual != crc)
            return fail(ld, "%s: crc32 mismatch (stored 0x%08x, computed 0x%08x)", what, crc,
                        actual);
        for (uint32_t j = 0; j < i; j++)
            if (seen_types[j] == type)
                return fail(ld, "%s: duplicate section type", what);
        seen_types[i] = type;
        /* insertion sort by (start, end): adjacent spans then reveal every overlap */
        uint32_t k = i;
        while (k > 0 && (span_lo[k - 1] > off ||
                         (span_lo[k - 1] == off && span_hi[k - 1] > off + size))) {
            span_lo[k] = span_lo[k - 1];
            span_hi[k] = span_hi[k - 1];
            span_id[k] = span_id[k - 1];
            k--;
        }
        span_lo[k] = off;
        span_hi[k] = off + size;
        span_id[k] = i;
        if (type < SEC_VENDOR_MIN) {
            ld->sec[type].p = b + off;
            ld->sec[type].len = size;
            ld->sec[type].present = 1;
        }
    }
    for (uint32_t k = 1; k < nsec; k++)
        if (span_lo[k] < span_hi[k - 1])
            return fail(ld, "section %u overlaps section %u", span_id[k - 1], span_id[k]);
    static const uint32_t required[] = {SEC_GRAPH, SEC_DATA, SEC_STRINGS};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
        if (!ld->sec[required[r]].present)
            return fail(ld, "required section %s is missing", section_name(required[r]));
    return EDGERT_OK;
}

/* ---- GRAPH section ---- */

typedef struct cursor {
    const uint8_t *p;
    uint64_t len, pos;
} cursor;

/* Pointer to the next n bytes, or NULL (after setting the error) when the section ends. */
static const uint8_t *take(ert_loader *ld, cursor *c, uint64_t n)
{
    if (n > c->len - c->pos) {
        fail(ld, "GRAPH section: truncated (need %llu bytes at offset %llu, section has %llu)",
             (unsigned long long)n, (unsigned long long)c->pos, (unsigned long long)c->len);
        return NULL;
    }
    const uint8_t *r = c->p + c->pos;
    c->pos += n;
    return r;
}

static edgert_status check_name(ert_loader *ld, uint32_t off, uint32_t n, const char *kind,
                                uint32_t idx)
{
    const ert_section *s = &ld->sec[SEC_STRINGS];
    if ((uint64_t)off + n > s->len)
        return fail(ld, "%s %u: name [%u, %llu) lies outside STRINGS (%llu bytes)", kind, idx,
                    off, (unsigned long long)off + n, (unsigned long long)s->len);
    if (!ert_utf8_valid(s->p + off, n))
        return fail(ld, "%s %u: name is not UTF-8", kind, idx);
    return EDGERT_OK;
}

#define SHOWN(len) ((len) < NAME_SHOWN ? (int)(len) : NAME_SHOWN)

static edgert_status read_tensor(ert_loader *ld, const uint8_t *r, uint32_t i, ert_tensor *t)
{
    uint32_t noff = ert_rd32(r), nlen = ert_rd32(r + 4);
    edgert_status st = check_name(ld, noff, nlen, "tensor", i);
    if (st)
        return st;
    t->name = (const char *)ld->sec[SEC_STRINGS].p + noff;
    t->name_len = nlen;
    int nl = SHOWN(nlen);
    uint8_t dtype = r[8], rank = r[9];
    uint16_t tflags = ert_rd16(r + 10);
    if (dtype != 1)
        return fail(ld, "tensor %u '%.*s': dtype %u is not int8 (1)", i, nl, t->name, dtype);
    if (rank < 1 || rank > 4)
        return fail(ld, "tensor %u '%.*s': rank = %u is out of range [1, 4]", i, nl, t->name,
                    rank);
    if (tflags)
        return fail(ld, "tensor %u '%.*s': unknown flags 0x%x", i, nl, t->name, tflags);
    uint64_t elements = 1;
    for (int d = 0; d < 4; d++) {
        int32_t v = (int32_t)ert_rd32(r + 12 + 4 * d);
        if (v < 1 || v > MAX_DIM)
            return fail(ld, "tensor %u '%.*s': dimension %d = %d is out of range [1, %d]", i,
                        nl, t->name, d, v, MAX_DIM);
        if (d >= rank && v != 1)
            return fail(ld, "tensor %u '%.*s': dims past rank %u must be 1, dim %d is %d", i,
                        nl, t->name, rank, d, v);
        t->dims[d] = v;
        elements *= (uint64_t)v; /* <= 65535^4 < 2^64 */
    }
    if (elements > MAX_ELEMENTS)
        return fail(ld, "tensor %u '%.*s': %llu elements exceed the limit 2^28", i, nl, t->name,
                    (unsigned long long)elements);
    uint32_t sbits = ert_rd32(r + 28);
    float scale;
    memcpy(&scale, &sbits, sizeof scale);
    if (!(isfinite(scale) && scale > 0.0f))
        return fail(ld, "tensor %u '%.*s': scale %g is not a positive finite number", i, nl,
                    t->name, (double)scale);
    int32_t zp = (int32_t)ert_rd32(r + 32);
    if (zp < -128 || zp > 127)
        return fail(ld, "tensor %u '%.*s': zero_point = %d is out of range [-128, 127]", i, nl,
                    t->name, zp);
    t->rank = rank;
    t->size = (uint32_t)elements;
    t->scale = scale;
    t->zero_point = zp;
    t->producer = -2; /* not produced (yet) */
    t->last_use = -2;
    return EDGERT_OK;
}

static edgert_status read_blob(ert_loader *ld, const ert_node *n, uint32_t idx, uint32_t j,
                               const uint8_t *r, ert_blobref *out)
{
    const ert_section *d = &ld->sec[SEC_DATA];
    out->kind = ert_rd32(r);
    out->count = ert_rd32(r + 4);
    out->offset = ert_rd64(r + 8);
    out->size = ert_rd64(r + 16);
    if (out->kind < 1 || out->kind >= BLOB_KIND_LIMIT)
        return ert_node_fail(ld, n, idx, "blob %u: unknown blob kind %u", j, out->kind);
    if (out->offset % BLOB_ALIGN || out->offset > d->len || out->size > d->len - out->offset)
        return ert_node_fail(ld, n, idx, "blob %u: blob at %llu size %llu is misaligned or "
                             "outside DATA (%llu bytes)", j, (unsigned long long)out->offset,
                             (unsigned long long)out->size, (unsigned long long)d->len);
    out->p = d->p + out->offset;
    return EDGERT_OK;
}

static const ert_check_fn checkers[ERT_OP_LIMIT] = {
#define ERT_OP(NAME, code, check, dense, sparse) [code] = check,
#include "ops.def"
#undef ERT_OP
};

static edgert_status read_node(ert_loader *ld, cursor *c, uint32_t idx)
{
    edgert_model *m = ld->m;
    ert_node *n = &m->nodes[idx];
    const uint8_t *h = take(ld, c, NODE_HEAD);
    if (!h)
        return EDGERT_ERR_FORMAT;
    uint32_t op = ert_rd16(h), nflags = ert_rd16(h + 2), noff = ert_rd32(h + 4),
             nlen = ert_rd32(h + 8), nin = ert_rd32(h + 12), nout = ert_rd32(h + 16),
             npar = ert_rd32(h + 20), nblob = ert_rd32(h + 24);
    edgert_status st = check_name(ld, noff, nlen, "node", idx);
    if (st)
        return st;
    n->name = (const char *)ld->sec[SEC_STRINGS].p + noff;
    n->name_len = nlen;
    if (!ert_op_name(op))
        return fail(ld, "node %u '%.*s': unknown op code %u", idx, SHOWN(nlen), n->name, op);
    n->op = op;
    if (nflags)
        return ert_node_fail(ld, n, idx, "unknown flags 0x%x", nflags);
    if (nin < 1 || nin > MAX_NODE_INPUTS)
        return ert_node_fail(ld, n, idx, "input count = %u is out of range [1, %u]", nin,
                             MAX_NODE_INPUTS);
    if (nout != 1)
        return ert_node_fail(ld, n, idx, "output count = %u is out of range [1, 1]", nout);
    if (npar > MAX_PARAMS)
        return ert_node_fail(ld, n, idx, "param count = %u is out of range [0, %u]", npar,
                             MAX_PARAMS);
    if (nblob > MAX_BLOBS)
        return ert_node_fail(ld, n, idx, "blob count = %u is out of range [0, %u]", nblob,
                             MAX_BLOBS);
    /* Indices and params are little-endian 32-bit words on 4-byte boundaries of the 64-byte
     * aligned GRAPH section, so on a little-endian host they are used in place. */
    const uint8_t *ins = take(ld, c, 4ull * nin);
    const uint8_t *outs = ins ? take(ld, c, 4) : NULL;
    const uint8_t *pars = outs ? take(ld, c, 4ull * npar) : NULL;
    const uint8_t *refs = pars ? take(ld, c, (uint64_t)BLOB_REF * nblob) : NULL;
    if (!refs)
        return EDGERT_ERR_FORMAT;
    n->n_inputs = nin;
    n->inputs = (const uint32_t *)(const void *)ins;
    n->output = ert_rd32(outs);
    n->n_params = npar;
    n->params = (const int32_t *)(const void *)pars;
    for (uint32_t j = 0; j <= nin; j++) {
        uint32_t t = j < nin ? n->inputs[j] : n->output;
        if (t >= m->n_tensors)
            return ert_node_fail(ld, n, idx, "tensor index = %u is out of range [0, %u]", t,
                                 m->n_tensors - 1);
    }
    ert_blobref blobs[MAX_BLOBS];
    for (uint32_t j = 0; j < nblob; j++)
        if ((st = read_blob(ld, n, idx, j, refs + BLOB_REF * j, &blobs[j])))
            return st;
    int want = ert_op_param_count(op, nin);
    if ((int)npar != want)
        return ert_node_fail(ld, n, idx, "%u params, the op takes %d", npar, want);

    /* topology: inputs produced earlier, output produced here only */
    for (uint32_t j = 0; j < nin; j++) {
        ert_tensor *t = &m->tensors[n->inputs[j]];
        if (t->producer == -2)
            return ert_node_fail(ld, n, idx, "reads tensor %u ('%.*s') before it is produced: "
                                 "nodes are not in topological order (or the graph has a "
                                 "cycle)", n->inputs[j], SHOWN(t->name_len), t->name);
        t->last_use = (int32_t)idx;
    }
    ert_tensor *y = &m->tensors[n->output];
    if (y->producer != -2)
        return ert_node_fail(ld, n, idx, "tensor %u ('%.*s') is produced twice", n->output,
                             SHOWN(y->name_len), y->name);
    y->producer = (int32_t)idx;
    return checkers[op](ld, n, idx, blobs, nblob);
}

static edgert_status read_graph(ert_loader *ld)
{
    edgert_model *m = ld->m;
    cursor c = {ld->sec[SEC_GRAPH].p, ld->sec[SEC_GRAPH].len, 0};
    const uint8_t *h = take(ld, &c, 16);
    if (!h)
        return EDGERT_ERR_FORMAT;
    uint32_t nt = ert_rd32(h), nn = ert_rd32(h + 4), nin = ert_rd32(h + 8),
             nout = ert_rd32(h + 12);
    if (nt < 1 || nt > MAX_TENSORS)
        return fail(ld, "tensor count = %u is out of range [1, %u]", nt, MAX_TENSORS);
    if (nn < 1 || nn > MAX_NODES)
        return fail(ld, "node count = %u is out of range [1, %u]", nn, MAX_NODES);
    if (nin != 1)
        return fail(ld, "graph input count = %u is out of range [1, 1]", nin);
    if (nout < 1 || nout > MAX_OUTPUTS)
        return fail(ld, "graph output count = %u is out of range [1, %u]", nout, MAX_OUTPUTS);
    const uint8_t *io = take(ld, &c, 4ull * (nin + nout));
    if (!io)
        return EDGERT_ERR_FORMAT;
    for (uint32_t j = 0; j < nin + nout; j++)
        if (ert_rd32(io + 4 * j) >= nt)
            return fail(ld, "graph input/output tensor index = %u is out of range [0, %u]",
                        ert_rd32(io + 4 * j), nt - 1);
    m->input = ert_rd32(io);
    m->n_outputs = nout;
    for (uint32_t j = 0; j < nout; j++)
        m->outputs[j] = ert_rd32(io + 4 * (nin + j));

    /* Refuse counts the section cannot hold before allocating for them. */
    if ((uint64_t)nt * TENSOR_RECORD + (uint64_t)nn * NODE_HEAD > c.len - c.pos)
        return fail(ld, "GRAPH section: truncated (%u tensor and %u node records need at "
                        "least %llu bytes, %llu remain)", nt, nn,
                    (unsigned long long)nt * TENSOR_RECORD + (unsigned long long)nn * NODE_HEAD,
                    (unsigned long long)(c.len - c.pos));
    m->tensors = calloc(nt, sizeof *m->tensors);
    m->nodes = calloc(nn, sizeof *m->nodes);
    if (!m->tensors || !m->nodes)
        return ert_fail(ld->err, ld->errlen, EDGERT_ERR_NO_MEMORY,
                        "out of memory for %u tensors and %u nodes", nt, nn);
    m->n_tensors = nt;
    m->n_nodes = nn;
    edgert_status st;
    for (uint32_t i = 0; i < nt; i++) {
        const uint8_t *r = take(ld, &c, TENSOR_RECORD);
        if (!r)
            return EDGERT_ERR_FORMAT;
        if ((st = read_tensor(ld, r, i, &m->tensors[i])))
            return st;
    }
    uint64_t elements = 0;
    for (uint32_t i = 0; i < nt; i++)
        elements += m->tensors[i].size; /* <= 65535 * 2^28: no wrap */
    if (elements > ERT_MAX_TOTAL_ELEMENTS)
        return fail(ld, "the %u tensors hold %llu elements together, more than the limit 2^30",
                    nt, (unsigned long long)elements);
    m->tensors[m->input].producer = -1;
    for (uint32_t i = 0; i < nn; i++)
        if ((st = read_node(ld, &c, i)))
            return st;
    if (c.pos != c.len)
        return fail(ld, "GRAPH section: %llu unexpected bytes after the last node",
                    (unsigned long long)(c.len - c.pos));
    for (uint32_t j = 0; j < nout; j++) {
        ert_tensor *t = &m->tensors[m->outputs[j]];
        if (t->producer == -2)
            return fail(ld, "graph output tensor %u is never produced", m->outputs[j]);
        t->last_use = (int32_t)nn; /* live to the end of the run */
    }
    for (uint32_t i = 0; i < nt; i++)
        if (m->tensors[i].producer == -2)
            return fail(ld, "tensor %u '%.*s' is neither the graph input nor the output of a "
                            "node", i, SHOWN(m->tensors[i].name_len), m->tensors[i].name);
    return EDGERT_OK;
}

static edgert_status read_labels(ert_loader *ld)
{
    edgert_model *m = ld->m;
    const ert_section *s = &ld->sec[SEC_LABELS];
    if (ld->sec[SEC_METADATA].present) {
        const ert_section *md = &ld->sec[SEC_METADATA];
        if (!ert_utf8_valid(md->p, md->len))
            return fail(ld, "METADATA section is not UTF-8");
        m->metadata = (const char *)md->p;
        m->metadata_len = (size_t)md->len;
    }
    if (!s->present)
        return EDGERT_OK;
    if (!ert_utf8_valid(s->p, s->len))
        return fail(ld, "LABELS section is not UTF-8");
    /* One label per line; like the Python reader, n newlines make n + 1 labels. */
    size_t n = 1;
    for (uint64_t i = 0; i < s->len; i++)
        n += s->p[i] == '\n';
    if (s->len > UINT32_MAX - 1)
        return fail(ld, "LABELS section of %llu bytes is too large",
                    (unsigned long long)s->len);
    m->label_start = malloc((n + 1) * sizeof *m->label_start);
    if (!m->label_start)
        return ert_fail(ld->err, ld->errlen, EDGERT_ERR_NO_MEMORY, "out of memory for %zu labels",
                        n);
    size_t k = 0;
    m->label_start[k++] = 0;
    for (uint64_t i = 0; i < s->len; i++)
        if (s->p[i] == '\n')
            m->label_start[k++] = (uint32_t)i + 1;
    m->label_start[k] = (uint32_t)s->len + 1; /* as if a final '\n' followed */
    m->labels = (const char *)s->p;
    m->n_labels = n;
    return EDGERT_OK;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

edgert_status edgert_model_load(const void *buf, size_t len, edgert_model **out, char *err,
                                size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!buf)
        return ert_fail(err, errlen, EDGERT_ERR_INVALID_ARG, "model buffer is NULL");
    if (!host_is_little_endian())
        return ert_fail(err, errlen, EDGERT_ERR_UNSUPPORTED,
                        "big-endian hosts cannot use .ecm blobs in place");
    if ((uintptr_t)buf % EDGERT_BUFFER_ALIGN)
        return ert_fail(err, errlen, EDGERT_ERR_ALIGNMENT,
                        "model buffer at %p is not %d-byte aligned (weights are used in place)",
                        buf, EDGERT_BUFFER_ALIGN);
    edgert_model *m = calloc(1, sizeof *m);
    if (!m)
        return ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY, "out of memory for the model");
    m->buf = buf;
    m->len = len;
    ert_loader ld = {.m = m, .err = err, .errlen = errlen};
    edgert_status st = read_container(&ld, buf, len);
    if (!st)
        st = read_graph(&ld);
    if (!st)
        st = read_labels(&ld);
    if (!st) {
        m->offsets = malloc(m->n_tensors * sizeof *m->offsets);
        if (!m->offsets)
            st = ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY, "out of memory for the plan");
        else if (ert_plan(m, 0, m->offsets, &m->arena_bytes))
            st = ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY,
                          "activation arena exceeds the limit of %zu bytes (ERT_MAX_ARENA_BYTES)",
                          (size_t)ERT_MAX_ARENA_BYTES);
    }
    if (st) {
        edgert_model_free(m);
        return st;
    }
    *out = m;
    return EDGERT_OK;
}
