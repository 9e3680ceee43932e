"""Python binding of the C runtime (runtime/, built into ``edgecomp._edgert`` by cffi).

    rt = Runtime("model.ecm", num_threads=2)
    y = rt.run(x)                  # int8 [1, ...] of the input shape (or float: quantized)
    every = rt.run_all(x)          # {tensor index: int8 array}, for layer-by-layer comparison
    rt.layer_stats()               # MACs (dense, executed, skipped), bytes, kernel, time per node

kernels="reference" runs the plain reference kernels instead of the optimized ones (both give
identical bytes; the optimized set chooses a kernel per layer, see runtime/src/opt.h).

A path is mapped read-only (zero copy); bytes are copied once into an aligned buffer that the
Runtime keeps alive. Bad files raise FormatError, a wrong input ShapeError, anything else the C
side reports RuntimeFailure, each with the runtime's message naming the problem.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FormatError, RuntimeFailure, ShapeError

INT8_MIN, INT8_MAX = -128, 127
_ERRLEN = 1024
_WEIGHTS = {0: None, 1: "dense", 2: "sparse_rel8"}
KERNEL_SETS = ("default", "reference")
# edgert_layer_stats counters copied into layer_stats() rows (runtime/include/edgert.h)
_COUNTERS = ("dense_macs", "executed_macs", "skipped_zero_weight_macs",
             "skipped_zero_activation_macs", "padding_macs", "weight_bytes", "act_bytes_read",
             "act_bytes_written", "ns")


def _native():
    try:
        from . import _edgert
    except ImportError as e:
        raise ImportError("the C runtime extension edgecomp._edgert is not built: run "
                          "`python edgecomp/_build_runtime.py` (in place) or `pip install .` "
                          f"({e})") from None
    return _edgert.ffi, _edgert.lib


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class NodeInfo:
    index: int
    name: str
    op: str
    inputs: tuple[int, ...]
    output: int
    weights: str | None          # "dense", "sparse_rel8" or None
    weight_count: int            # C_out * K
    stored_weights: int          # stored pairs (padding included) for sparse_rel8
    dense_macs: int


class Runtime:
    """A model loaded into the C runtime plus one session (arena, optional worker threads)."""

    def __init__(self, model: str | os.PathLike | bytes | bytearray | memoryview, *,
                 num_threads: int = 1, keep_intermediates: bool = False,
                 kernels: str = "default", tune_runs: int = 0) -> None:
        """tune_runs > 0: at creation, time every candidate kernel of each CONV / FC layer
        (tune_runs + 1 runs each, pseudo-random input) and keep the fastest; 0: the per-layer
        cost model. Outputs are identical either way."""
        if kernels not in KERNEL_SETS:
            raise ValueError(f"kernels must be one of {KERNEL_SETS}, not {kernels!r}")
        self.kernels = kernels
        self.tune_runs = int(tune_runs)
        self._ffi, self._lib = _native()
        self._model = self._session = self._debug = None
        self._buffer = None  # keeps bytes given to the zero-copy loader alive
        self._lock = threading.Lock()
        self.num_threads = int(num_threads)
        ffi, lib = self._ffi, self._lib
        err = ffi.new("char[]", _ERRLEN)
        out = ffi.new("edgert_model **")
        if isinstance(model, (str, os.PathLike)):
            self.source = str(model)
            st = lib.edgert_model_load_file(os.fsencode(model), out, err, _ERRLEN)
        elif isinstance(model, (bytes, bytearray, memoryview)):
            self.source = "<bytes>"
            self._buffer = _aligned_copy(model, lib.EDGERT_BUFFER_ALIGN)
            st = lib.edgert_model_load(ffi.from_buffer(self._buffer), len(self._buffer), out,
                                       err, _ERRLEN)
        else:
            raise TypeError(f"model must be a path or bytes, not {type(model).__name__}")
        self._check(st, err)
        self._model = out[0]
        try:
            self._describe()
            self._session = self._new_session(keep_intermediates)
        except BaseException:
            self.close()
            raise

    def _describe(self) -> None:
        lib, m = self._lib, self._model
        self.tensors = [self._tensor(i) for i in range(lib.edgert_model_tensor_count(m))]
        self.input = self.tensors[self._io_index(lib.edgert_model_input, 0)]
        self.outputs = [self.tensors[self._io_index(lib.edgert_model_output, i)]
                        for i in range(lib.edgert_model_output_count(m))]
        self.nodes = [self._node(i) for i in range(lib.edgert_model_node_count(m))]
        self.labels = self._labels()
        self.metadata = self._metadata()
        self.dynamic_fixed_point = bool(lib.edgert_model_dynamic_fixed_point(m))

    # ---- status handling ----

    def _check(self, st: int, err=None, session=None) -> None:
        if st == self._lib.EDGERT_OK:
            return
        if session is not None:
            msg = self._ffi.string(self._lib.edgert_session_error(session)).decode("utf-8",
                                                                                  "replace")
        else:
            msg = self._ffi.string(err).decode("utf-8", "replace") if err is not None else ""
        what = self._ffi.string(self._lib.edgert_status_str(st)).decode()
        text = msg or what
        lib = self._lib
        if st in (lib.EDGERT_ERR_FORMAT, lib.EDGERT_ERR_IO):
            raise FormatError(text)
        if st == lib.EDGERT_ERR_SHAPE:
            raise ShapeError(text)
        raise RuntimeFailure(f"{text} ({what})" if msg else what)

    def _new_session(self, keep_intermediates: bool):
        ffi, lib = self._ffi, self._lib
        opts = ffi.new("edgert_session_options *")
        lib.edgert_session_options_init(opts)
        opts.num_threads = self.num_threads
        opts.tune_runs = self.tune_runs
        opts.keep_intermediates = int(bool(keep_intermediates))
        opts.kernels = (lib.EDGERT_KERNELS_REFERENCE if self.kernels == "reference"
                        else lib.EDGERT_KERNELS_DEFAULT)
        err = ffi.new("char[]", _ERRLEN)
        out = ffi.new("edgert_session **")
        self._check(lib.edgert_session_create(self._model, opts, out, err, _ERRLEN), err)
        return out[0]

    # ---- model description ----

    def _tensor(self, i: int) -> TensorInfo:
        info = self._ffi.new("edgert_tensor_info *")
        self._check(self._lib.edgert_model_tensor(self._model, i, info))
        return TensorInfo(int(info.index), self._text(info.name, info.name_len),
                          tuple(int(d) for d in info.dims[0:info.rank]), float(info.scale),
                          int(info.zero_point))

    def _io_index(self, fn, i: int) -> int:
        info = self._ffi.new("edgert_tensor_info *")
        self._check(fn(self._model, i, info))
        return int(info.index)

    def _node(self, i: int) -> NodeInfo:
        n = self._ffi.new("edgert_node_info *")
        self._check(self._lib.edgert_model_node(self._model, i, n))
        return NodeInfo(i, self._text(n.name, n.name_len), self._ffi.string(n.op).decode(),
                        tuple(int(n.inputs[j]) for j in range(n.n_inputs)), int(n.output),
                        _WEIGHTS.get(int(n.weights)), int(n.weight_count),
                        int(n.stored_weights), int(n.dense_macs))

    def _text(self, ptr, n: int) -> str:
        return self._ffi.unpack(ptr, n).decode("utf-8", "replace") if n else ""

    def _labels(self) -> list[str]:
        n = self._lib.edgert_model_label_count(self._model)
        size = self._ffi.new("size_t *")
        return [self._text(self._lib.edgert_model_label(self._model, i, size), size[0])
                for i in range(n)]

    def _metadata(self) -> dict[str, Any]:
        size = self._ffi.new("size_t *")
        ptr = self._lib.edgert_model_metadata(self._model, size)
        if ptr == self._ffi.NULL:
            return {}
        # only the Python side parses the JSON (docs/format.md 4): reject it like parse_ecm
        try:
            meta = json.loads(self._text(ptr, size[0]))
        except (json.JSONDecodeError, RecursionError) as e:
            raise FormatError(f"METADATA section is not valid UTF-8 JSON ({e})") from None
        if not isinstance(meta, dict):
            raise FormatError("METADATA section is not a JSON object")
        return meta

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.input.shape

    @property
    def input_scale(self) -> float:
        return self.input.scale

    @property
    def input_zero_point(self) -> int:
        return self.input.zero_point

    @property
    def output(self) -> TensorInfo:
        return self.outputs[0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.outputs[0].shape

    @property
    def output_scale(self) -> float:
        return self.outputs[0].scale

    @property
    def output_zero_point(self) -> int:
        return self.outputs[0].zero_point

    @property
    def arena_bytes(self) -> int:
        """Activation arena of this Runtime's session (liveness-planned unless
        keep_intermediates)."""
        return int(self._lib.edgert_session_arena_bytes(self._live()))

    @property
    def planned_arena_bytes(self) -> int:
        """Arena of a default session, as planned at load."""
        return int(self._lib.edgert_model_arena_bytes(self._model))

    # ---- running ----

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """float -> int8 with the input's scale and zero point: round half to even, saturate
        (the same arithmetic as edgecomp.exec_int.quantize_input)."""
        t = self.input
        q = np.round(np.asarray(x, dtype=np.float32) / np.float32(t.scale)) + t.zero_point
        return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)

    def dequantize(self, y: np.ndarray, output: int = 0) -> np.ndarray:
        """int8 of graph output ``output`` -> float32 real values."""
        t = self.outputs[output]
        return (np.asarray(y, np.float32) - t.zero_point) * np.float32(t.scale)

    def _prepare(self, x) -> np.ndarray:
        t = self.input
        x = np.asarray(x)
        if x.dtype.kind == "f":
            x = self.quantize(x)
        elif x.dtype != np.int8:
            raise ShapeError(f"input {t.name!r}: dtype {x.dtype} given, int8 (or float, to be "
                             "quantized) expected")
        if tuple(x.shape) != t.shape:
            raise ShapeError(f"input {t.name!r}: shape {tuple(x.shape)} given, {t.shape} "
                             "expected")
        return np.ascontiguousarray(x)

    def _run(self, session, x: np.ndarray) -> None:
        ffi = self._ffi
        self._check(self._lib.edgert_session_run(session, ffi.from_buffer("int8_t[]", x),
                                                 x.size, ffi.NULL, 0), session=session)

    def _read(self, session, t: TensorInfo, output: int | None = None) -> np.ndarray:
        y = np.empty(t.shape, np.int8)
        buf = self._ffi.from_buffer("int8_t[]", y)
        if output is None:
            st = self._lib.edgert_session_tensor(session, t.index, buf, y.size)
        else:
            st = self._lib.edgert_session_output(session, output, buf, y.size)
        self._check(st, session=session)
        return y

    def run(self, x: np.ndarray) -> np.ndarray:
        """Output 0 (int8, the output tensor's shape) for one input."""
        return self.run_outputs(x)[0]

    def run_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every graph output, in order."""
        x = self._prepare(x)
        with self._lock:
            s = self._live()
            self._run(s, x)
            return [self._read(s, t, i) for i, t in enumerate(self.outputs)]

    def run_all(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """Every tensor of one run, {tensor index: int8 array} (names in ``self.tensors``),
        from a second session that keeps all intermediates (created on first use)."""
        x = self._prepare(x)
        with self._lock:
            self._live()
            if self._debug is None:
                self._debug = self._new_session(keep_intermediates=True)
            self._run(self._debug, x)
            return {t.index: self._read(self._debug, t) for t in self.tensors}

    def layer_stats(self) -> list[dict[str, Any]]:
        """Per node, for the last ``run``: what the node is, the kernel that ran it, and the
        counters of edgert.h: dense_macs = executed_macs + skipped_zero_weight_macs +
        skipped_zero_activation_macs + padding_macs (executed: in-bounds MACs whose weight the
        kernel multiplied), weight_bytes, act_bytes_read / act_bytes_written, ns."""
        stats = self._ffi.new("edgert_layer_stats *")
        rows = []
        with self._lock:
            s = self._live()
            for n in self.nodes:
                self._check(self._lib.edgert_session_layer_stats(s, n.index, stats))
                row = {"index": n.index, "name": n.name, "op": n.op, "weights": n.weights,
                       "weight_count": n.weight_count, "stored_weights": n.stored_weights,
                       "kernel": (self._ffi.string(stats.kernel).decode()
                                  if stats.kernel != self._ffi.NULL else None)}
                row.update({k: int(getattr(stats, k)) for k in _COUNTERS})
                rows.append(row)
        return rows

    @property
    def last_run_ns(self) -> int:
        return int(self._lib.edgert_session_last_run_ns(self._live()))

    # ---- life cycle ----

    def _live(self):
        if self._session is None:
            raise RuntimeFailure("this Runtime is closed")
        return self._session

    def close(self) -> None:
        """Free the sessions, then the model (its weights are read from the buffer)."""
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        with self._lock:
            for name in ("_debug", "_session"):
                s = getattr(self, name, None)
                if s is not None:
                    lib.edgert_session_free(s)
                    setattr(self, name, None)
            if self._model is not None:
                lib.edgert_model_free(self._model)
                self._model = None
            self._buffer = None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self.close()

    def __repr__(self) -> str:
        return (f"Runtime({self.source!r}, input {self.input.shape}, "
                f"{len(self.nodes)} nodes, {self.num_threads} thread(s))")


def _aligned_copy(data, align: int) -> np.ndarray:
    """The bytes in a uint8 array whose first byte is ``align``-aligned (the loader uses the
    weights in place and requires it)."""
    raw = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    store = np.empty(raw.size + align, np.uint8)
    start = (-store.ctypes.data) % align
    out = store[start:start + raw.size]
    out[:] = raw
    return out


def load(model: str | Path | bytes, **kwargs) -> Runtime:
    return Runtime(model, **kwargs)
