"""cffi (API mode, out of line) builder of ``edgecomp._edgert``: the C runtime of runtime/src
compiled into an extension module, with runtime/include/edgert.h as its interface.

Packaging: setup.py passes ``cffi_modules=["edgecomp/_build_runtime.py:ffibuilder"]``.
In place, from anywhere: ``python edgecomp/_build_runtime.py`` (writes edgecomp/_edgert*.so).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime"

# The public header's declarations, as cffi's cdef parser needs them (no preprocessor). The C
# compiler checks them against runtime/include/edgert.h when the module is built.
CDEF = """
#define EDGERT_FORMAT_MAJOR 1
#define EDGERT_BUFFER_ALIGN 16
#define EDGERT_MAX_RANK 4
#define EDGERT_MAX_THREADS 64
#define EDGERT_WEIGHTS_NONE 0
#define EDGERT_WEIGHTS_DENSE 1
#define EDGERT_WEIGHTS_SPARSE_REL8 2
#define EDGERT_KERNELS_DEFAULT 0
#define EDGERT_KERNELS_REFERENCE 1

typedef enum edgert_status {
    EDGERT_OK = 0,
    EDGERT_ERR_INVALID_ARG = 1,
    EDGERT_ERR_IO = 2,
    EDGERT_ERR_FORMAT = 3,
    EDGERT_ERR_ALIGNMENT = 4,
    EDGERT_ERR_NO_MEMORY = 5,
    EDGERT_ERR_SHAPE = 6,
    EDGERT_ERR_UNAVAILABLE = 7,
    EDGERT_ERR_UNSUPPORTED = 8,
    EDGERT_ERR_THREAD = 9
} edgert_status;

typedef struct edgert_model edgert_model;
typedef struct edgert_session edgert_session;

const char *edgert_status_str(edgert_status status);

edgert_status edgert_model_load(const void *buf, size_t len, edgert_model **out,
                                char *err, size_t errlen);
edgert_status edgert_model_load_file(const char *path, edgert_model **out,
                                     char *err, size_t errlen);
void edgert_model_free(edgert_model *model);

typedef struct edgert_tensor_info {
    const char *name;
    size_t name_len;
    uint32_t index;
    uint32_t rank;
    int32_t dims[4];
    size_t size;
    float scale;
    int32_t zero_point;
} edgert_tensor_info;

typedef struct edgert_node_info {
    const char *name;
    size_t name_len;
    const char *op;
    uint32_t op_code;
    uint32_t n_inputs;
    const uint32_t *inputs;
    uint32_t output;
    uint32_t weights;
    uint64_t weight_count;
    uint64_t stored_weights;
    uint64_t dense_macs;
} edgert_node_info;

size_t edgert_model_input_count(const edgert_model *model);
size_t edgert_model_output_count(const edgert_model *model);
size_t edgert_model_tensor_count(const edgert_model *model);
size_t edgert_model_node_count(const edgert_model *model);
edgert_status edgert_model_input(const edgert_model *model, size_t i, edgert_tensor_info *out);
edgert_status edgert_model_output(const edgert_model *model, size_t i, edgert_tensor_info *out);
edgert_status edgert_model_tensor(const edgert_model *model, size_t t, edgert_tensor_info *out);
edgert_status edgert_model_node(const edgert_model *model, size_t n, edgert_node_info *out);
size_t edgert_model_label_count(const edgert_model *model);
const char *edgert_model_label(const edgert_model *model, size_t i, size_t *len);
const char *edgert_model_metadata(const edgert_model *model, size_t *len);
int edgert_model_dynamic_fixed_point(const edgert_model *model);
size_t edgert_model_arena_bytes(const edgert_model *model);

typedef struct edgert_session_options {
    int num_threads;
    int keep_intermediates;
    int kernels;
} edgert_session_options;

void edgert_session_options_init(edgert_session_options *opts);
edgert_status edgert_session_create(const edgert_model *model,
                                    const edgert_session_options *opts,
                                    edgert_session **out, char *err, size_t errlen);
void edgert_session_free(edgert_session *session);
edgert_status edgert_session_run(edgert_session *session, const int8_t *input,
                                 size_t input_len, int8_t *output, size_t output_len);
edgert_status edgert_session_output(edgert_session *session, size_t i, int8_t *out,
                                    size_t len);
edgert_status edgert_session_tensor(edgert_session *session, size_t t, int8_t *out,
                                    size_t len);
const char *edgert_session_error(const edgert_session *session);
size_t edgert_session_arena_bytes(const edgert_session *session);

typedef struct edgert_layer_stats {
    uint64_t dense_macs;
    uint64_t executed_macs;
    uint64_t ns;
    uint64_t skipped_zero_weight_macs;
    uint64_t skipped_zero_activation_macs;
    uint64_t padding_macs;
    uint64_t weight_bytes;
    uint64_t act_bytes_read;
    uint64_t act_bytes_written;
    const char *kernel;
} edgert_layer_stats;

edgert_status edgert_session_layer_stats(const edgert_session *session, size_t node,
                                         edgert_layer_stats *out);
uint64_t edgert_session_last_run_ns(const edgert_session *session);
"""


def _relative(p: Path) -> str:
    """Relative to the working directory when below it (setuptools runs from the repo root and
    wants relative paths), else absolute."""
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def make_builder(path=_relative) -> FFI:
    ffi = FFI()
    ffi.cdef(CDEF)
    sources = sorted(RUNTIME.glob("src/*.c")) + sorted(RUNTIME.glob("src/kernels/*.c"))
    ffi.set_source(
        "edgecomp._edgert",
        '#include "edgert.h"',
        sources=[path(p) for p in sources],
        include_dirs=[path(RUNTIME / "include")],
        extra_compile_args=["-O2", "-std=c11", "-pthread"],
        extra_link_args=["-pthread"],
    )
    return ffi


ffibuilder = make_builder()


def build_inplace() -> Path:
    """Compile in a scratch directory (objects stay out of the tree) and copy the module to
    edgecomp/; returns its path."""
    with tempfile.TemporaryDirectory(prefix="edgert-build-") as tmp:
        built = Path(make_builder(str).compile(tmpdir=tmp, verbose=False))
        target = ROOT / "edgecomp" / built.name
        shutil.copyfile(built, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)  # atomic: a running import never
        return target                                   # sees half a file


if __name__ == "__main__":
    print(build_inplace())
