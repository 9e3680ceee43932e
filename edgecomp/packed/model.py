"""QModel: the in-memory form of a packed `.ecm` model (docs/format.md).

The quantizer produces one, the writer serializes it, the reader returns one, and the numpy
integer executor (``edgecomp.exec_int``) runs it. Op codes, param order and blob kinds are those
of docs/format.md section 2.3 / 3.1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# docs/format.md 2.3: one table, the C side has the same list in runtime/src/ops.def
OP_CODES = {
    "CONV": 1, "FC": 2, "MAXPOOL": 3, "AVGPOOL": 4, "GLOBALAVGPOOL": 5, "ADD": 6,
    "CONCAT": 7, "CLAMP": 8, "SOFTMAX": 9, "RESHAPE": 10,
    # format 1.1
    "LUT": 11, "MUL": 12, "EXPAND": 13, "PAD": 14, "LRN": 15, "RESIZE": 16, "TRANSPOSE": 17,
}
OP_NAMES = {v: k for k, v in OP_CODES.items()}

# Params by name, in stored order (CONCAT's per-input pairs follow "axis").
OP_PARAMS = {
    "CONV": ("kh", "kw", "stride_h", "stride_w", "pad_top", "pad_left", "pad_bottom",
             "pad_right", "dil_h", "dil_w", "groups", "act_min", "act_max"),
    "FC": ("act_min", "act_max"),
    "MAXPOOL": ("kh", "kw", "stride_h", "stride_w", "pad_top", "pad_left", "pad_bottom",
                "pad_right"),
    "AVGPOOL": ("kh", "kw", "stride_h", "stride_w", "pad_top", "pad_left", "pad_bottom",
                "pad_right", "count_include_pad", "M", "S"),
    "GLOBALAVGPOOL": ("M", "S"),
    "ADD": ("M_a", "M_b", "S", "act_min", "act_max"),
    "CONCAT": ("axis",),
    "CLAMP": ("lo", "hi"),
    "SOFTMAX": (),
    "RESHAPE": (),
    "LUT": (),
    "MUL": ("M", "S", "act_min", "act_max"),
    "EXPAND": (),
    "PAD": ("begin0", "begin1", "begin2", "begin3", "end0", "end1", "end2", "end3", "value"),
    "LRN": ("size", "acc_shift", "S"),
    "RESIZE": ("mode", "M", "S"),
    "TRANSPOSE": ("perm0", "perm1", "perm2", "perm3"),
}

# Ops whose one blob is a table (QNode.table): int8[256] for LUT, i32[count] for the others.
TABLE_BLOBS = {"LUT": "LUT", "LRN": "TABLE_I32", "RESIZE": "TABLE_I32"}
RESIZE_NEAREST, RESIZE_BILINEAR = 0, 1
RESIZE_ONE = 1024  # bilinear tap weights are integers summing to this (docs/format.md 5)

BLOB_KINDS = {"WEIGHTS_DENSE": 1, "WEIGHTS_SPARSE_REL8": 2, "BIAS": 3, "MULTIPLIER": 4,
              "SHIFT": 5, "EXP_TABLE": 6, "LUT": 7, "TABLE_I32": 8,
              # format 1.2: weight encodings decoded at load (docs/format.md 3.3-3.8)
              "WEIGHTS_SPARSE_REL4": 9, "WEIGHTS_BITMAP": 10, "WEIGHTS_BLOCK": 11,
              "WEIGHTS_SHARED": 12, "WEIGHTS_HUFFMAN": 13}
BLOB_NAMES = {v: k for k, v in BLOB_KINDS.items()}

DTYPE_INT8 = 1


@dataclass
class QTensor:
    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int


@dataclass
class QNode:
    op: str                      # key of OP_CODES
    name: str
    inputs: list[int]            # tensor indices
    outputs: list[int]
    params: list[int]
    # Weights are always held decoded (dense int8 [C_out, K]); ``weight_encoding`` says how the
    # writer stores them ("dense", "sparse_rel8" or a name of packed/encodings, e.g.
    # "huffman+shared+rel4").
    weights: np.ndarray | None = None
    weight_encoding: str = "dense"
    bias: np.ndarray | None = None        # int32 [C_out]
    multiplier: np.ndarray | None = None  # int32 [C_out]
    shift: np.ndarray | None = None       # int32 [C_out]
    exp_table: np.ndarray | None = None   # int32 [256]
    table: np.ndarray | None = None       # LUT: int8 [256]; LRN, RESIZE: int32 [count]

    def param(self, key: str) -> int:
        return self.params[OP_PARAMS[self.op].index(key)]


@dataclass
class QModel:
    tensors: list[QTensor]
    nodes: list[QNode]
    inputs: list[int]
    outputs: list[int]
    labels: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    dynamic_fixed_point: bool = False

    def tensor_index(self, name: str) -> int:
        for i, t in enumerate(self.tensors):
            if t.name == name:
                return i
        raise KeyError(name)

    @property
    def input(self) -> QTensor:
        return self.tensors[self.inputs[0]]

    @property
    def output(self) -> QTensor:
        return self.tensors[self.outputs[0]]
