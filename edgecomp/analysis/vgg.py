"""An architecture-faithful VGG-16 as a packed QModel: random weights, pruned per layer, with
activation scales calibrated on real images by edgecomp's own quantizer.

Weights are He-normal (std = sqrt(2 / fan_in)), so activations keep their scale through the 13
ReLU convolutions; each layer is then magnitude-pruned to the density Han et al. report for
VGG-16 (seed 000's reference [1], Table 4: 7.5 % of the weights survive overall, close to
seed 000's %W_Z of 7.22), and the float graph is calibrated (min/max) and quantized like any
imported model. ``resolution`` and ``width`` shrink it for tests (the layer structure, kernel
sizes, pads and pools stay those of VGG-16; ``fc`` is the width of fc6 and fc7);
``resolution=224, width=1, fc=4096`` is the real size (138 M weights, 15.5 G MACs).
"""
from __future__ import annotations

import numpy as np

from ..errors import EdgecompError
from ..ir import Graph, Node, TensorInfo
from ..packed.model import QModel
from ..packed.stats import choose_encoding

CONV_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M")
CONV_NAMES = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3")
# Fraction of weights kept per layer after pruning (Han et al. 2015, Table 4, VGG-16).
HAN_DENSITY = {"conv1_1": 0.58, "conv1_2": 0.22, "conv2_1": 0.34, "conv2_2": 0.36,
               "conv3_1": 0.53, "conv3_2": 0.24, "conv3_3": 0.42, "conv4_1": 0.32,
               "conv4_2": 0.27, "conv4_3": 0.34, "conv5_1": 0.35, "conv5_2": 0.29,
               "conv5_3": 0.36, "fc6": 0.04, "fc7": 0.04, "fc8": 0.23}
IMAGENET_PREPROCESS = {"color": "rgb", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                       "std": [0.229, 0.224, 0.225]}


def vgg16_graph(resolution: int = 224, width: float = 1.0, fc: int = 4096,
                classes: int = 1000, density: dict[str, float] | None = None,
                seed: int = 0) -> Graph:
    """The float IR of a (pruned) VGG-16 with random weights."""
    if resolution < 32 or resolution % 32:
        raise EdgecompError(f"VGG-16 resolution must be a multiple of 32 (five 2x2 pools), "
                            f"got {resolution}")
    rng = np.random.default_rng(seed)
    density = HAN_DENSITY if density is None else density
    g = Graph("vgg16", ["input"], [], {"input": TensorInfo("input", (1, 3, resolution,
                                                                     resolution))}, [])
    x, c, h = "input", 3, resolution
    names = iter(CONV_NAMES)
    pool = 0
    for item in CONV_PLAN:
        if item == "M":
            pool += 1
            y = f"pool{pool}"
            h //= 2
            g.tensors[y] = TensorInfo(y, (1, c, h, h))
            g.nodes.append(Node("MaxPool", y, [x], [y], {"kernel": (2, 2), "strides": (2, 2),
                                                         "pads": (0, 0, 0, 0)}))
            x = y
            continue
        name = next(names)
        co = max(1, int(round(item * width)))
        w = _he(rng, (co, c, 3, 3), c * 9, density.get(name, 1.0))
        g.constants[name + ".w"] = w
        g.constants[name + ".b"] = (0.01 * rng.standard_normal(co)).astype(np.float32)
        g.tensors[name] = TensorInfo(name, (1, co, h, h))
        g.nodes.append(Node("Conv", name, [x], [name], {
            "weight": name + ".w", "bias": name + ".b", "strides": (1, 1), "pads": (1, 1, 1, 1),
            "dilations": (1, 1), "group": 1, "activation": "relu"}))
        x, c = name, co
    k = c * h * h
    g.tensors["flatten"] = TensorInfo("flatten", (1, k))
    g.nodes.append(Node("Reshape", "flatten", [x], ["flatten"]))
    x = "flatten"
    for name, co, act in (("fc6", fc, "relu"), ("fc7", fc, "relu"), ("fc8", classes, None)):
        g.constants[name + ".w"] = _he(rng, (co, k), k, density.get(name, 1.0))
        g.constants[name + ".b"] = (0.01 * rng.standard_normal(co)).astype(np.float32)
        g.tensors[name] = TensorInfo(name, (1, co))
        g.nodes.append(Node("Gemm", name, [x], [name], {
            "weight": name + ".w", "bias": name + ".b", "activation": act}))
        x, k = name, co
    g.tensors["prob"] = TensorInfo("prob", (1, classes))
    g.nodes.append(Node("Softmax", "prob", [x], ["prob"]))
    g.outputs = ["prob"]
    g.validate()
    return g


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
        density: float) -> np.ndarray:
    """He-normal weights with all but the largest-magnitude ``density`` fraction set to 0."""
    w = (rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in)))
    if density < 1.0:
        flat = np.abs(w).reshape(-1)
        keep = max(1, int(round(density * flat.size)))
        cut = np.partition(flat, flat.size - keep)[flat.size - keep]
        w[np.abs(w) < cut] = 0
    return w


def vgg16_qmodel(calibration: np.ndarray, resolution: int = 224, width: float = 1.0,
                 fc: int = 4096, classes: int = 1000, seed: int = 0,
                 density: dict[str, float] | None = None) -> QModel:
    """Quantize the pruned random VGG-16 with activation ranges from ``calibration`` images
    (float32 [N, 3, R, R], ImageNet-normalized). Weights are stored in the smaller of the
    dense and sparse encodings per layer, as the compressor does."""
    from ..packed.checks import check_model
    from ..quant import calibrate, quantize

    g = vgg16_graph(resolution, width, fc, classes, density, seed)
    ranges = calibrate(g, np.asarray(calibration, dtype=np.float32), show_progress=False,
                       batch=4)
    model = quantize(g, ranges, "affine")
    for node in model.nodes:
        if node.weights is not None:
            node.weight_encoding = choose_encoding(node)
    check_model(model)
    model.labels = []
    model.metadata = {
        "format": "ecm", "producer": "edgecomp.analysis.vgg",
        "source": {"path": f"vgg16-random-{resolution}px-w{width:g}", "format": "generated",
                   "seed": seed},
        "input": {**IMAGENET_PREPROCESS, "resize": [resolution, resolution], "name": "input",
                  "layout": "NCHW", "shape": [1, 3, resolution, resolution]},
        "quantization": {"mode": "affine", "calibration": "minmax",
                         "images": int(len(calibration))},
        "layers": {n.name: {"density_target": (density or HAN_DENSITY).get(n.name)}
                   for n in g.nodes if n.op in ("Conv", "Gemm")},
    }
    return model
