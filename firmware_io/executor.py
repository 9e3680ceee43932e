"""What the emulated accelerator runs: a committed image, through the C runtime.

Besides the output bytes, a run reports the counters the FPGA would: time, MACs (dense and
actually executed, from the runtime's per-layer stats) and the memory-bus traffic of the
dataflow the accelerator uses (every layer reads its weight blobs and input activations from
DDR and writes its output back), which is what dominates its time (seed 000, Table IV).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from edgecomp.packed.reader import parse_ecm
from edgecomp.packed.stats import layer_stats


class ImageRejected(ValueError):
    """The runtime's loader refused the image."""


@dataclass
class RunCounters:
    run_ns: int
    dense_macs: int
    executed_macs: int
    weight_bytes: int
    activation_bytes: int


def bus_traffic(model) -> tuple[int, int]:
    """(weight bytes, activation bytes) one inference moves over the accelerator's memory bus."""
    weights = 0
    for node, row in zip(model.nodes, layer_stats(model)):
        weights += row.weight_bytes
        for arr in (node.bias, node.multiplier, node.shift, node.exp_table):
            weights += 0 if arr is None else 4 * int(arr.size)
    acts = 0
    for node in model.nodes:
        for t in list(node.inputs) + list(node.outputs):
            acts += math.prod(model.tensors[t].shape)
    return weights, acts


class RuntimeExecutor:
    """One loaded image on the C runtime (edgecomp.runtime.Runtime)."""

    def __init__(self, image: bytes):
        from edgecomp.errors import EdgecompError
        from edgecomp.runtime import Runtime

        try:
            self.model = parse_ecm(image)
            self.runtime = Runtime(bytes(image))
        except EdgecompError as e:
            raise ImageRejected(str(e)) from None
        self.input_shape = tuple(self.model.input.shape)
        self.input_size = math.prod(self.input_shape)
        self.output_size = math.prod(self.model.output.shape)
        self.weight_bytes, self.activation_bytes = bus_traffic(self.model)

    def run(self, x: bytes) -> tuple[bytes, RunCounters]:
        arr = np.frombuffer(x, dtype=np.int8).reshape(self.input_shape)
        t0 = time.perf_counter_ns()
        out = self.runtime.run(arr)
        wall = time.perf_counter_ns() - t0
        dense, executed, run_ns = self._runtime_counters(wall)
        out_bytes = np.ascontiguousarray(out, dtype=np.int8).tobytes()
        return out_bytes, RunCounters(run_ns, dense, executed, self.weight_bytes,
                                      self.activation_bytes)

    def _runtime_counters(self, wall_ns: int) -> tuple[int, int, int]:
        stats = self.runtime.layer_stats()
        dense = sum(int(s["dense_macs"]) for s in stats)
        executed = sum(int(s["executed_macs"]) for s in stats)
        run_ns = int(getattr(self.runtime, "last_run_ns", 0) or wall_ns)
        return dense, executed, run_ns
