"""The bus traffic one frame costs, raw and through an activation codec.

- ``in``: the input tensor sent to the accelerator; ``out``: the output tensor read back. Today
  both cross the link raw; the codec column is what they would cost encoded.
- ``intermediates`` (optional, needs every tensor of the run): the activations that cross the
  accelerator's memory bus between layers. Each *boundary* tensor (written by one accelerator
  layer and read by others, edgecomp.analysis.layers) is written once and read once per reading
  layer; the codec column stores it encoded. ``edgecomp analyze`` adds reloads and buffer sizes.

Codec sizes are the exact byte streams of edgecomp.analysis.codecs (rle, spm, dct:K; ``raw``
means none). DCT is lossy: its column is the cost, the demo's results stay exact.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import EdgecompError
from ..packed.model import QModel


def load_codec(spec: str):
    """The codec object for ``spec`` (None for "raw"), from the analysis package."""
    if str(spec).strip().lower() in ("raw", "none"):
        return None
    try:
        from ..analysis.codecs import parse_codec
    except ImportError as e:
        raise EdgecompError(f"--codec {spec}: the activation codecs (edgecomp.analysis.codecs) "
                            f"are not available in this install ({e}); use --codec raw") from None
    return parse_codec(spec)


class TrafficMeter:
    def __init__(self, model: QModel, codec_spec: str = "raw",
                 intermediates: bool = False) -> None:
        self.model = model
        self.codec = load_codec(codec_spec)
        self.codec_name = self.codec.name if self.codec is not None else "raw"
        self.boundary: list[tuple[int, int]] = []   # (tensor, layers reading it)
        if intermediates:
            try:
                from ..analysis.layers import accel_layers, boundary_tensors
            except ImportError as e:
                raise EdgecompError("--intermediates needs edgecomp.analysis (layers): not "
                                    f"available in this install ({e})") from None
            layers = accel_layers(model)
            for t in boundary_tensors(model, layers):
                self.boundary.append((t, sum(t in layer.inputs for layer in layers)))
        self.intermediates = intermediates

    def _coded(self, q: np.ndarray, t: int) -> int:
        if self.codec is None:
            return int(q.size)
        return self.codec.encode(np.ascontiguousarray(q), self.model.tensors[t].zero_point).nbytes

    def frame(self, x: np.ndarray, y: np.ndarray,
              tensors: dict[int, np.ndarray] | None = None) -> dict:
        """Bytes of one frame. ``tensors`` (tensor index -> int8 array) is needed for the
        intermediates."""
        m = self.model
        out = {"in_bytes": int(x.size), "out_bytes": int(y.size),
               "in_coded": self._coded(x, m.inputs[0]), "out_coded": self._coded(y, m.outputs[0])}
        if self.intermediates:
            if tensors is None:
                raise EdgecompError("intermediate traffic needs every tensor of the run")
            raw = coded = 0
            for t, reads in self.boundary:
                q = tensors[t].reshape(m.tensors[t].shape)
                raw += (1 + reads) * math.prod(q.shape)
                coded += (1 + reads) * self._coded(q, t)
            out["intermediate_bytes"], out["intermediate_coded"] = raw, coded
        return out
