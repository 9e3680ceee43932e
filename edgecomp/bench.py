"""Latency and peak memory of a model on edgecomp's C runtime and, side by side, on ONNX Runtime
(fp32, and int8 by its own ``quantize_static``) and LiteRT (TFLite), with the same thread count
and the same timing: wall time of one ``run`` call from Python, median over ``reps`` runs after
``warmup`` runs.

    m = measure("edgecomp", "model.ecm", threads=1)            # in this process
    m = measure_isolated("onnxruntime", "model.onnx")          # fresh process: clean peak RSS

Peak RSS is the process's maximum resident set (``ru_maxrss``) after the runs, so it includes
the interpreter and the engine's libraries; ``baseline_rss_mb`` is the same process just before
the model was loaded. Nothing here is a timed test: speed targets live in benchmarks/.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EdgecompError

ENGINES = ("edgecomp", "onnxruntime", "litert")


@dataclass
class Measurement:
    engine: str                  # edgecomp | onnxruntime | litert
    model: str
    threads: int
    runs: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    peak_rss_mb: float
    baseline_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _rss_mb() -> float:
    """Current resident set of this process."""
    v = _status_mb("VmRSS")
    return v if v is not None else _peak_rss_mb()


def _peak_rss_mb() -> float:
    """Peak resident set of this address space. Linux: VmHWM, which starts afresh at exec;
    ru_maxrss would carry the peak of the parent that forked a measuring process."""
    v = _status_mb("VmHWM")
    if v is not None:
        return v
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2 ** 20


def _timed(run, x, reps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        run(x)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def _stats(engine, model, threads, times, baseline, extra) -> Measurement:
    t = np.asarray(times)
    return Measurement(engine, str(model), threads, len(t), float(np.median(t)),
                       float(np.percentile(t, 10)), float(np.percentile(t, 90)), float(t.min()),
                       _peak_rss_mb(), baseline, extra)


def _edgecomp(path, threads, reps, warmup, kernels, tune_runs=0) -> Measurement:
    from .runtime import Runtime

    baseline = _rss_mb()
    t0 = time.perf_counter()
    rt = Runtime(path, num_threads=threads, kernels=kernels, tune_runs=tune_runs)
    create_s = time.perf_counter() - t0
    x = np.random.default_rng(0).integers(-128, 128, rt.input_shape).astype(np.int8)
    times = _timed(rt.run, x, reps, warmup)
    rows = rt.layer_stats()
    dense = sum(r["dense_macs"] for r in rows)
    kinds: dict[str, int] = {}
    for r in rows:
        if r["op"] in ("CONV", "FC"):
            kinds[r["kernel"]] = kinds.get(r["kernel"], 0) + 1
    extra = {"dense_macs": dense, "executed_macs": sum(r["executed_macs"] for r in rows),
             "skipped_zero_weight_macs": sum(r["skipped_zero_weight_macs"] for r in rows),
             "skipped_zero_activation_macs": sum(r["skipped_zero_activation_macs"]
                                                 for r in rows),
             "padding_macs": sum(r["padding_macs"] for r in rows),
             "weight_bytes": sum(r["weight_bytes"] for r in rows),
             "arena_bytes": rt.arena_bytes, "kernels": kinds, "kernel_set": kernels,
             "tune_runs": tune_runs, "session_create_s": create_s}
    return _stats("edgecomp", path, threads, times, baseline, extra)


def _ort_input(sess) -> dict[str, np.ndarray]:
    feeds = {}
    rng = np.random.default_rng(0)
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def _onnxruntime(path, threads, reps, warmup) -> Measurement:
    import onnxruntime as ort

    baseline = _rss_mb()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = _ort_input(sess)
    times = _timed(lambda f: sess.run(None, f), feeds, reps, warmup)
    extra = {"version": ort.__version__, "providers": sess.get_providers()}
    return _stats("onnxruntime", path, threads, times, baseline, extra)


def _litert(path, threads, reps, warmup) -> Measurement:
    from ai_edge_litert.interpreter import Interpreter

    baseline = _rss_mb()
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    rng = np.random.default_rng(0)
    dtype = np.dtype(inp["dtype"])
    if dtype.kind == "f":
        x = rng.standard_normal(inp["shape"]).astype(dtype)
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max + 1, inp["shape"]).astype(dtype)

    def run(v):
        it.set_tensor(inp["index"], v)
        it.invoke()

    times = _timed(run, x, reps, warmup)
    return _stats("litert", path, threads, times, baseline, {})


def measure(engine: str, path: str | os.PathLike, *, threads: int = 1, reps: int = 20,
            warmup: int = 3, kernels: str = "default", tune_runs: int = 0) -> Measurement:
    """Time one model in this process (edgecomp: a .ecm; onnxruntime: .onnx; litert:
    .tflite)."""
    if engine not in ENGINES:
        raise EdgecompError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if not Path(path).exists():
        raise EdgecompError(f"{path}: no such model file")
    if engine == "edgecomp":
        return _edgecomp(str(path), threads, reps, warmup, kernels, tune_runs)
    if engine == "onnxruntime":
        return _onnxruntime(path, threads, reps, warmup)
    return _litert(path, threads, reps, warmup)


def measure_isolated(engine: str, path: str | os.PathLike, *, threads: int = 1,
                     reps: int = 20, warmup: int = 3, kernels: str = "default",
                     tune_runs: int = 0, timeout: float = 1800) -> Measurement:
    """measure() in a fresh Python process, so that peak RSS belongs to this model alone. BLAS
    and OpenMP pools are held to one thread there: idle spinning threads would steal a core
    from the engine under test."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-P", "-m", "edgecomp.bench", engine, str(path), str(threads), str(reps),
           str(warmup), kernels, str(tune_runs)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if p.returncode != 0:
        raise EdgecompError(f"{engine} on {path} failed: {p.stderr.strip()[-2000:]}")
    return Measurement(**json.loads(p.stdout.strip().splitlines()[-1]))


def quantize_onnx_int8(src: str | os.PathLike, dst: str | os.PathLike, *,
                       calibration: np.ndarray | None = None, batches: int = 4,
                       seed: int = 0) -> Path:
    """ONNX Runtime's own static int8 quantization: QDQ, per-channel s8 weights, u8
    activations, calibrated on ``calibration`` ([N, ...] float32) or random normal inputs."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    model = onnx.load(str(src), load_external_data=False)
    inp = model.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    if calibration is None:
        rng = np.random.default_rng(seed)
        calibration = rng.standard_normal((batches, *shape[1:])).astype(np.float32)
    data = iter([{inp.name: calibration[i:i + 1]} for i in range(len(calibration))])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(data, None)

    quantize_static(str(src), str(dst), Reader(), per_channel=True,
                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    return Path(dst)


def find_source(ecm: str | os.PathLike, metadata: dict[str, Any], suffix: str) -> Path | None:
    """The model an .ecm was compressed from (metadata source.path), when it sits next to the
    .ecm (or in the working directory) and has this suffix."""
    name = (metadata.get("source") or {}).get("path")
    if not name or not name.lower().endswith(suffix):
        return None
    for cand in (Path(ecm).resolve().parent / Path(name).name, Path(name)):
        if cand.exists():
            return cand
    return None


def layer_rows(path: str | os.PathLike, *, threads: int = 1, reps: int = 5,
               tune_runs: int = 0) -> list[dict]:
    """Per node: op, kernel, median time and the MAC counters of edgecomp's runtime."""
    from .runtime import Runtime

    rt = Runtime(path, num_threads=threads, tune_runs=tune_runs)
    x = np.random.default_rng(0).integers(-128, 128, rt.input_shape).astype(np.int8)
    rt.run(x)
    times: dict[int, list[int]] = {}
    for _ in range(reps):
        rt.run(x)
        for r in rt.layer_stats():
            times.setdefault(r["index"], []).append(r["ns"])
    rows = rt.layer_stats()
    for r in rows:
        r["ms"] = float(np.median(times[r["index"]])) / 1e6
    return rows


def _worker(argv: list[str]) -> None:
    engine, path, threads, reps, warmup, kernels, tune_runs = argv
    m = measure(engine, path, threads=int(threads), reps=int(reps), warmup=int(warmup),
                kernels=kernels, tune_runs=int(tune_runs))
    print(json.dumps(m.as_dict()))


if __name__ == "__main__":
    _worker(sys.argv[1:])
