"""Where a frame's inference runs: the local C runtime, or the FPGA board through firmware_io.

Both take the int8 input tensor and return the int8 output tensor (the same bytes, by the
integer-semantics contract) plus what the run cost: compute counters (device time, dense and
executed MACs) and, on the FPGA link, the bytes the frame put on the serial line. The model's
weights cross the bus once, when it is loaded (local) or flashed (FPGA), never per frame.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import EdgecompError, RuntimeFailure
from ..packed.model import QModel
from ..packed.stats import layer_stats


@dataclass
class Inference:
    output: np.ndarray                  # int8, the model's output 0 shape
    compute: dict                       # run_ns, dense_macs, executed_macs
    link: dict = field(default_factory=dict)  # FPGA: serial-line and device-bus bytes

    @property
    def output_crc32(self) -> int:
        return zlib.crc32(np.ascontiguousarray(self.output).tobytes())


def weight_blob_bytes(model: QModel) -> int:
    """Bytes of every weight blob as stored in the image (what the accelerator holds)."""
    return int(sum(r.weight_bytes for r in layer_stats(model)))


def local_runtime(image: bytes, threads: int = 1):
    """A Runtime on the image bytes, with a clear error when the C extension is not built."""
    try:
        from ..runtime import Runtime
        return Runtime(image, num_threads=threads)
    except ImportError as e:
        raise RuntimeFailure(str(e)) from None


class LocalBackend:
    name = "local"

    def __init__(self, image: bytes, model: QModel, threads: int = 1) -> None:
        if threads < 1:
            raise EdgecompError(f"--threads must be >= 1, got {threads}")
        self.model = model
        self.threads = threads
        self.runtime = local_runtime(image, threads)
        self.load = {"event": "load", "image_bytes": len(image),
                     "weight_blob_bytes": weight_blob_bytes(model), "sent_bytes": len(image)}

    def describe(self) -> dict:
        return {"name": self.name, "label": f"local C runtime ({self.threads} thread"
                f"{'s' if self.threads > 1 else ''})", "threads": self.threads}

    def infer(self, x: np.ndarray) -> Inference:
        y = self.runtime.run(x)
        stats = self.runtime.layer_stats()
        compute = {"run_ns": self.runtime.last_run_ns,
                   "dense_macs": sum(s["dense_macs"] for s in stats),
                   "executed_macs": sum(s["executed_macs"] for s in stats)}
        return Inference(y, compute)

    def close(self) -> None:
        self.runtime.close()


class FpgaBackend:
    """The board (or its emulator) on a serial port; flashes the model unless it already runs
    it (the flash is the one time the weights cross the link)."""
    name = "fpga"

    def __init__(self, image: bytes, model: QModel, port: str, baud: int,
                 flash: bool = True, client_factory=None) -> None:
        if client_factory is None:
            from firmware_io import FpgaClient as client_factory
        self.model, self.port, self.baud = model, port, baud
        self.client = client_factory(port, baud, progress=False)
        try:
            info = self.client.connect()
            sha = hashlib.sha256(image).digest()
            self.device = info.device_id
            self.load = {"event": "flash", "image_bytes": len(image),
                         "weight_blob_bytes": weight_blob_bytes(model), "sent_bytes": 0,
                         "status": "already active", "seconds": 0.0, "wire_tx_bytes": 0}
            if info.active_sha256 != sha:
                if not flash:
                    raise EdgecompError(f"the device on {port} runs another model: flash this "
                                        "one first (edgecomp flash) or drop --no-flash")
                report = self.client.flash(image)
                self.load.update(status=report.status, sent_bytes=report.sent_bytes,
                                 seconds=report.elapsed,
                                 wire_tx_bytes=report.link.get("wire_tx_bytes", 0))
        except BaseException:
            self.client.close()
            raise
        self.out_shape = tuple(model.output.shape)

    def describe(self) -> dict:
        return {"name": self.name, "label": f"FPGA on {self.port} ({self.baud} baud)",
                "port": self.port, "baud": self.baud, "device": self.device}

    def infer(self, x: np.ndarray) -> Inference:
        before = self.client.counters.snapshot()
        r = self.client.run(np.ascontiguousarray(x, dtype=np.int8))
        since = self.client.counters.since(before)
        expected = int(np.prod(self.out_shape))
        if len(r.output) != expected:
            raise RuntimeFailure(f"the device returned {len(r.output)} output bytes, the model's "
                                 f"output {self.model.output.name!r} has {expected}")
        y = np.frombuffer(r.output, dtype=np.int8).reshape(self.out_shape).copy()
        c = r.counters
        link = {"wire_tx_bytes": since["wire_tx_bytes"], "wire_rx_bytes": since["wire_rx_bytes"],
                "retransmissions": since["retransmissions"],
                "device_weight_bytes": c["weight_bytes"],
                "device_activation_bytes": c["activation_bytes"],
                "round_trip_ms": 1e3 * r.elapsed}
        compute = {k: int(c[k]) for k in ("run_ns", "dense_macs", "executed_macs")}
        return Inference(y, compute, link)

    def close(self) -> None:
        self.client.close()
