"""The model zoo: every family builds with its published size, and a small version of each
goes through import -> compress -> C runtime (float vs onnxruntime, integer spec vs C runtime
bit for bit, int8 close to float): edgecomp.testing.pipeline_check."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

from edgecomp.testing.model_zoo import FAMILIES
from edgecomp.testing.pipeline_check import check_onnx_pipeline

# Learned parameters (conv / FC weights and biases, BatchNorm scale and shift) of the full-size
# models with 1000 classes, as the papers and torchvision / Caffe count them.
PUBLISHED_PARAMS = {
    "squeezenet11": 1_235_496, "resnet18": 11_689_512, "resnet50": 25_557_032,
    "mobilenet_v1": 4_231_976, "mobilenet_v2": 3_504_872, "googlenet": 6_998_552,
}


def learned_params(proto) -> int:
    running_stats = {n.input[k] for n in proto.graph.node if n.op_type == "BatchNormalization"
                     for k in (3, 4)}
    shapes = {n.input[1] for n in proto.graph.node if n.op_type in ("Reshape", "Resize", "Clip")}
    shapes |= {n.input[k] for n in proto.graph.node if n.op_type in ("Resize", "Clip")
               for k in range(1, len(n.input))}
    return sum(int(np.prod(t.dims)) for t in proto.graph.initializer
               if t.name not in running_stats and t.name not in shapes)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_full_size_architecture_has_the_published_size(name):
    proto = FAMILIES[name](scale=0.15)  # resolution does not change the weights
    assert learned_params(proto) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_compresses_and_runs_bit_exact(name):
    proto = FAMILIES[name](scale=0.15, width=0.125, num_classes=10, seed=3)
    report = check_onnx_pipeline(proto, calib=4, int_tolerance=0.1)
    assert report.nodes > 20


def test_families_use_the_operators_they_are_known_for():
    def ops(name):
        return {n.op_type for n in FAMILIES[name](scale=0.15, width=0.125).graph.node}
    assert {"LRN", "Concat", "MaxPool"} <= ops("googlenet")
    assert {"HardSwish", "HardSigmoid", "Mul", "ReduceMean"} <= ops("mobilenet_v3_small")
    assert {"Transpose", "Resize", "Softmax", "Concat"} <= ops("ssd_mobilenet")
    assert {"Add", "BatchNormalization", "GlobalAveragePool"} <= ops("resnet50")


def test_scale_sets_the_input_resolution():
    proto = FAMILIES["resnet18"](scale=0.5, width=0.125)
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]]
    assert dims == [3, 128, 128]
    w = numpy_helper.to_array(proto.graph.initializer[0])
    assert w.shape == (8, 3, 7, 7)  # 64 * 0.125 channels, the 7x7 stem
