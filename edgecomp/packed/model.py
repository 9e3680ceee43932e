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
}

BLOB_KINDS = {"WEIGHTS_DENSE": 1, "WEIGHTS_SPARSE_REL8": 2, "BIAS": 3, "MULTIPLIER": 4,
              "SHIFT": 5, "EXP_TABLE": 6}
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
    # writer stores them ("dense" or "sparse_rel8").
    weights: np.ndarray | None = None
    weight_encoding: str = "dense"
    bias: np.ndarray | None = None        # int32 [C_out]
    multiplier: np.ndarray | None = None  # int32 [C_out]
    shift: np.ndarray | None = None       # int32 [C_out]
    exp_table: np.ndarray | None = None   # int32 [256]

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
