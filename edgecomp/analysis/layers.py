"""How a packed model maps onto the accelerator: layers, and the tensors that go to memory.

An accelerator *layer* is a head node (CONV, FC, or any other op) plus the single-consumer chain
of pooling / clamp / softmax nodes fused behind it, as accelerators compute pooling on the way
out: only the last tensor of the chain is written to external memory. RESHAPE is a view: it
moves no data, and whoever reads its output reads its input's bytes (its *storage* tensor).

A *boundary* tensor is a storage tensor written by one layer and read by another: the
intermediate data that seed 002 compresses and that the lossy execution encodes and decodes.
The graph input (the camera image) and pure graph outputs are transferred raw.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..packed.model import QModel, QNode

FUSABLE_TAIL = ("MAXPOOL", "AVGPOOL", "GLOBALAVGPOOL", "CLAMP", "SOFTMAX")
VIEW_OPS = ("RESHAPE",)


@dataclass
class AccelLayer:
    name: str              # the head node's name
    head: QNode
    nodes: list[int]       # node indices: head first, then the fused tail
    inputs: list[int]      # storage tensors read from memory
    output: int            # storage tensor written to memory
    conv_output: int       # output tensor of the head (before the fused tail)
    ops: str               # e.g. "CONV+MAXPOOL"


def storage_map(model: QModel) -> dict[int, int]:
    """Tensor index -> the tensor whose bytes hold it (itself, or through RESHAPE views)."""
    store = {i: i for i in range(len(model.tensors))}
    for node in model.nodes:
        if node.op in VIEW_OPS:
            store[node.outputs[0]] = store[node.inputs[0]]
    return store


def consumers(model: QModel) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {i: [] for i in range(len(model.tensors))}
    for k, node in enumerate(model.nodes):
        for t in node.inputs:
            out[t].append(k)
    return out


def accel_layers(model: QModel, fuse: bool = True) -> list[AccelLayer]:
    store = storage_map(model)
    cons = consumers(model)
    taken: set[int] = set()
    layers = []
    for k, node in enumerate(model.nodes):
        if k in taken or node.op in VIEW_OPS:
            continue
        chain = [k]
        cur = node
        while fuse:
            out = cur.outputs[0]
            nxt = cons[out]
            if (len(nxt) != 1 or out in model.outputs
                    or model.nodes[nxt[0]].op not in FUSABLE_TAIL):
                break
            chain.append(nxt[0])
            cur = model.nodes[nxt[0]]
        taken.update(chain)
        inputs = list(dict.fromkeys(store[t] for t in node.inputs))
        layers.append(AccelLayer(node.name, node, chain, inputs, cur.outputs[0],
                                 node.outputs[0],
                                 "+".join(model.nodes[i].op for i in chain)))
    return layers


def boundary_tensors(model: QModel, layers: list[AccelLayer]) -> list[int]:
    """Storage tensors written by a layer and read by another one, in production order."""
    read = {t for layer in layers for t in layer.inputs}
    return [layer.output for layer in layers if layer.output in read]
