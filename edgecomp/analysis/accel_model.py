"""Seed 000's accelerator model: bytes moved per layer and the transfer-dominated time.

The accelerator holds a weight buffer and a feature buffer on chip and talks to external memory
over one DMA link (default 2.5 Gbit/s). Per layer (``layers.AccelLayer``) it moves:

- configuration: a layer descriptor plus the per-output-channel bias / multiplier / shift words;
- weights: dense (C_out x K bytes), the packed sparse encoding (seed 000's 8-bit value + 8-bit
  relative index per stored weight, padding pairs included, plus the u32 row index), or as
  packed: the layer's blob in the encoding the file stores (rel4, bitmap, block, shared,
  Huffman: docs/format.md 3), split over the rows in proportion to their non-zeros; this
  assumes an accelerator that decodes that encoding as fast as it streams;
- input features: the storage tensors it reads, raw or through an activation codec, including
  reloads: a convolution's output channels are split into groups whose weights fit the weight
  buffer, its rows into bands whose input rows (with the kernel's halo) plus output rows fit
  the feature buffer; the schedule keeps either the weights (input bands are re-read for every
  weight group) or the input bands (weights re-read for every band) stationary, whichever moves
  fewer bytes. Halo rows are re-read by every band. A codec is fetched in whole chunks
  (``codecs.base``), plus a 4-byte offset per chunk for variable-size codecs (RLE, SPM);
- output features: the layer's output written once, raw or encoded (with its chunk offsets).

Time = bytes x 8 / link rate (transfers dominate and computation is pipelined behind them, as
seed 000 assumes); with ``mac_rate`` set, a layer takes max(transfer, MACs / mac_rate).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import EdgecompError
from ..packed.model import QModel, QNode
from ..packed.sparse import encode_rel8
from .codecs.base import chunk_rows, chunk_starts
from .layers import AccelLayer

WEIGHT_MODES = ("dense", "sparse", "packed")


@dataclass
class AccelConfig:
    link_rate: float = 2.5e9              # bit/s of the DMA link (seed 000: 2.5 Gbps)
    weight_buffer: int = 256 * 1024       # bytes on chip for weights
    feature_buffer: int = 512 * 1024      # bytes on chip for an input band + an output band
    descriptor_bytes: int = 64            # per-layer configuration record
    requant_bytes_per_channel: int = 12   # i32 bias, multiplier and shift per output channel
    chunk_index_bytes: int = 4            # offset of each chunk of a variable-size codec
    mac_rate: float = 0.0                 # MAC/s of the array; 0: transfer time only

    def check(self) -> "AccelConfig":
        for key in ("link_rate", "weight_buffer", "feature_buffer"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise EdgecompError(f"accelerator {key} must be a positive number, got {v!r}")
        if self.mac_rate < 0:
            raise EdgecompError(f"accelerator mac_rate must be >= 0, got {self.mac_rate}")
        return self

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Stored:
    """How one tensor lies in external memory. ``chunk_bytes`` may be a mean over images."""
    shape: tuple[int, ...]
    chunk_bytes: np.ndarray
    header: float = 0.0
    indexed: bool = False     # variable-size chunks: a chunk offset table is needed
    raw: bool = True

    @staticmethod
    def raw_tensor(shape) -> "Stored":
        return Stored(tuple(shape), np.diff(chunk_starts(shape)).astype(np.float64))

    def whole(self, cfg: AccelConfig) -> float:
        n = len(self.chunk_bytes)
        return self.header + float(self.chunk_bytes.sum()) + (cfg.chunk_index_bytes * n
                                                              if self.indexed else 0)

    def rows(self, a: int, b: int, cfg: AccelConfig) -> float:
        """Bytes fetched for input rows [a, b) of every channel (header not included)."""
        if len(self.shape) != 4:
            return self.whole(cfg) - self.header
        _, c, h, w = self.shape
        if self.raw:
            return float(c * (b - a) * w)
        r = chunk_rows(self.shape)
        per_band = self.chunk_bytes.reshape(c, -1)
        j0, j1 = a // r, (b - 1) // r + 1
        index = cfg.chunk_index_bytes * c * (j1 - j0) if self.indexed else 0
        return float(per_band[:, j0:j1].sum()) + index


@dataclass
class LayerTraffic:
    name: str
    ops: str
    config_bytes: float
    weight_bytes: float
    in_bytes: float
    out_bytes: float
    weight_groups: int = 1
    bands: int = 1
    order: str = "-"
    overflow: list[str] = field(default_factory=list)
    transfer_ms: float = 0.0
    compute_ms: float = 0.0

    @property
    def total_bytes(self) -> float:
        return self.config_bytes + self.weight_bytes + self.in_bytes + self.out_bytes

    @property
    def time_ms(self) -> float:
        return max(self.transfer_ms, self.compute_ms)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["total_bytes"] = self.total_bytes
        d["time_ms"] = self.time_ms
        return d


def weight_row_bytes(node: QNode, mode: str, cache: dict | None = None) -> np.ndarray:
    """Bytes of each output channel's weights (float array [C_out]) in the given encoding.
    ``cache`` (node name -> sparse row bytes) saves re-encoding big layers."""
    if mode not in WEIGHT_MODES:
        raise EdgecompError(f"unknown weight mode {mode!r}: use one of {WEIGHT_MODES}")
    c_out, k = node.weights.shape
    if mode == "packed":
        if node.weight_encoding not in ("dense", "sparse_rel8"):
            return _stored_row_bytes(node)
        mode = "sparse" if node.weight_encoding == "sparse_rel8" else "dense"
    if mode == "dense":
        return np.full(c_out, float(k))
    if cache is not None and node.name in cache:
        return cache[node.name]
    row_start = encode_rel8(node.weights)[0].astype(np.int64)
    # two bytes per stored pair plus the row's u32 entry of row_start[C_out + 1] (row 0 also
    # carries the extra entry), so the sum is packed.stats.sparse_bytes
    per_row = 2.0 * np.diff(row_start) + 4.0
    per_row[0] += 4.0
    if cache is not None:
        cache[node.name] = per_row
    return per_row


def _stored_row_bytes(node: QNode) -> np.ndarray:
    """The stored blob's bytes, split over the rows by their non-zeros (plus one, so that an
    empty row still carries its share of the index)."""
    from ..packed.stats import encoded_bytes

    weight = np.count_nonzero(node.weights, axis=1).astype(np.float64) + 1.0
    return encoded_bytes(node) * weight / weight.sum()


def _groups(row_bytes: np.ndarray, capacity: int) -> list[tuple[int, int]]:
    """Contiguous output-channel groups whose weights fit the buffer (one row at least)."""
    groups, start, acc = [], 0, 0.0
    for i, b in enumerate(row_bytes):
        if i > start and acc + b > capacity:
            groups.append((start, i))
            start, acc = i, 0.0
        acc += b
    groups.append((start, len(row_bytes)))
    return groups


def _conv_traffic(model: QModel, layer: AccelLayer, x: Stored, rows: np.ndarray,
                  cfg: AccelConfig) -> tuple[float, float, int, int, str, list[str]]:
    node = layer.head
    kh, _, sh, _, pt, _, _, _, dh = node.params[:9]
    _, c, h, w = model.tensors[node.inputs[0]].shape
    _, co, ho, wo = model.tensors[node.outputs[0]].shape
    groups = _groups(rows, cfg.weight_buffer)
    overflow = []
    if any(rows[a:b].sum() > cfg.weight_buffer for a, b in groups):
        overflow.append("weights")
    co_g = max(b - a for a, b in groups)

    def in_rows(o0: int, o1: int) -> tuple[int, int]:
        return max(0, o0 * sh - pt), min(h, (o1 - 1) * sh - pt + dh * (kh - 1) + 1)

    band = 1
    for b in range(ho, 0, -1):  # the tallest band whose input and output rows fit
        a0, a1 = in_rows(0, b)
        if (a1 - a0) * w * c + b * wo * co_g <= cfg.feature_buffer:
            band = b
            break
    else:
        overflow.append("features")
    bands = [(o, min(o + band, ho)) for o in range(0, ho, band)]
    fetch = x.header + sum(x.rows(*in_rows(o0, o1), cfg) for o0, o1 in bands)
    w_total = float(rows.sum())
    stationary_w = w_total + len(groups) * fetch
    stationary_x = fetch + (w_total if len(groups) == 1 else len(bands) * w_total)
    if len(groups) == 1 or stationary_w <= stationary_x:
        return w_total, len(groups) * fetch, len(groups), len(bands), "weights", overflow
    return len(bands) * w_total, fetch, len(groups), len(bands), "input", overflow


def layer_traffic(model: QModel, layer: AccelLayer, stored: dict[int, Stored], weights: str,
                  cfg: AccelConfig, cache: dict | None = None) -> LayerTraffic:
    node = layer.head
    get = (lambda t: stored.get(t) or Stored.raw_tensor(model.tensors[t].shape))
    out = get(layer.output)
    config = float(cfg.descriptor_bytes)
    if node.weights is None:
        return LayerTraffic(layer.name, layer.ops, config, 0.0,
                            sum(get(t).whole(cfg) for t in layer.inputs), out.whole(cfg))
    config += cfg.requant_bytes_per_channel * node.weights.shape[0]
    rows = weight_row_bytes(node, weights, cache)
    x = get(layer.inputs[0])
    if node.op == "CONV":
        wb, ib, g, nb, order, overflow = _conv_traffic(model, layer, x, rows, cfg)
        return LayerTraffic(layer.name, layer.ops, config, wb, ib, out.whole(cfg), g, nb, order,
                            overflow)
    groups = _groups(rows, cfg.weight_buffer)
    x_raw = int(np.prod(model.tensors[node.inputs[0]].shape))
    fits = x_raw + node.weights.shape[0] <= cfg.feature_buffer
    reads = 1 if fits else len(groups)  # an input that does not fit is streamed per group
    overflow = [] if fits else ["features"]
    return LayerTraffic(layer.name, layer.ops, config, float(rows.sum()), reads * x.whole(cfg),
                        out.whole(cfg), len(groups), 1, "weights", overflow)


@dataclass
class Schedule:
    weights: str
    features: str
    layers: list[LayerTraffic]

    @property
    def total_ms(self) -> float:
        return sum(l.time_ms for l in self.layers)

    @property
    def total_bytes(self) -> float:
        return sum(l.total_bytes for l in self.layers)

    def as_dict(self) -> dict:
        sums = {k: sum(getattr(l, k) for l in self.layers)
                for k in ("config_bytes", "weight_bytes", "in_bytes", "out_bytes")}
        return {"weights": self.weights, "features": self.features, "total_ms": self.total_ms,
                "total_bytes": self.total_bytes, **sums,
                "layers": [l.as_dict() for l in self.layers]}


def simulate(model: QModel, layers: list[AccelLayer], stored: dict[int, Stored], weights: str,
             features: str, cfg: AccelConfig, macs: dict[str, tuple[float, float]] | None = None,
             cache: dict | None = None) -> Schedule:
    """Traffic and time of every layer. ``stored``: boundary tensor -> how it is stored (others
    raw); ``macs``: layer name -> (dense MACs, non-zero-weight MACs) for the compute bound;
    ``cache``: a dict reused across calls for the sparse weight sizes."""
    cfg.check()
    rows = []
    for layer in layers:
        t = layer_traffic(model, layer, stored, weights, cfg, cache)
        t.transfer_ms = 1e3 * t.total_bytes * 8.0 / cfg.link_rate
        if cfg.mac_rate and macs and layer.name in macs:
            dense, nonzero = macs[layer.name]
            t.compute_ms = 1e3 * (dense if weights == "dense" else nonzero) / cfg.mac_rate
        rows.append(t)
    return Schedule(weights, features, rows)
