"""Train the bundled digits CNN and write edgecomp/data/digits_cnn.onnx (+ its .json and images).

Needs torch (CPU is enough: `pip install torch==2.13.0`), scikit-learn, onnx, onnxruntime.
Runs in about a minute on 2 cores. It first (re)writes the split images with
make_digits_data.py, trains on the training part (inputs exactly as the PNGs give them:
pixel / 255), writes the ONNX graph with onnx.helper from the trained weights (no exporter
quirks, stable node names) and checks the file with onnxruntime against torch.

The architecture exercises the importer: Conv + BatchNormalization (unfused), Relu, a residual
Add, a Concat of two branches (1x1 conv | depthwise 3x3 conv), MaxPool, a grouped conv, Flatten,
Dropout, two Gemm and a final Softmax. Like LeNet, AlexNet and VGG (the seeds' subjects), most
of its weights (98k of 107k) are in the fully-connected head: a small convolutional trunk and
a large, prunable classifier.

Usage: python tools/train_digits.py [--epochs 60] [--out edgecomp/data]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling script, run from anywhere
from make_digits_data import DEFAULT_OUT, write_all  # noqa: E402

SEED = 0
OPSET = 13
BN_EPS = 1e-5
HIDDEN = 128


def conv_bn(c_in: int, c_out: int, k: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out, eps=BN_EPS))


class DigitsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(1, 16, 3)
        self.res_a = conv_bn(16, 16, 3)
        self.res_b = conv_bn(16, 16, 3)
        self.branch_1x1 = conv_bn(16, 16, 1)
        self.branch_dw = conv_bn(16, 16, 3, groups=16)
        self.grouped = conv_bn(32, 48, 3, groups=4)
        self.fc_hidden = nn.Linear(48 * 4 * 4, HIDDEN)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(HIDDEN, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # returns logits; Softmax is in ONNX
        s = torch.relu(self.stem(x))
        r = torch.relu(self.res_b(torch.relu(self.res_a(s))) + s)
        c = torch.cat([torch.relu(self.branch_1x1(r)), torch.relu(self.branch_dw(r))], dim=1)
        p = nn.functional.max_pool2d(c, 2)
        g = torch.relu(self.grouped(p))
        h = torch.relu(self.fc_hidden(torch.flatten(g, 1)))
        return self.fc(self.dropout(h))


def shift_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to one pixel (zero fill): the digits are not perfectly centred."""
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    dy, dx = torch.randint(0, 3, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + 8, dx:dx + 8]


def train(model: DigitsNet, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    batches_per_epoch = -(-len(x) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3,
                                                total_steps=epochs * batches_per_epoch)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            loss = nn.functional.cross_entropy(model(shift_augment(x[batch], gen)), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(batch)
        if epoch % 10 == 9 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / len(x):.4f}")


def conv_bn_nodes(name: str, block: nn.Sequential, x: str, inits: list) -> tuple[list, str]:
    conv, bn = block[0], block[1]
    w = f"{name}.weight"
    inits.append(numpy_helper.from_array(conv.weight.detach().numpy(), w))
    for field in ("weight", "bias", "running_mean", "running_var"):
        inits.append(numpy_helper.from_array(getattr(bn, field).detach().numpy(),
                                             f"{name}_bn.{field}"))
    k = conv.kernel_size[0]
    nodes = [
        helper.make_node("Conv", [x, w], [f"{name}_conv_out"], name=f"{name}_conv",
                         kernel_shape=[k, k], pads=[k // 2] * 4, strides=[1, 1],
                         group=conv.groups),
        helper.make_node("BatchNormalization",
                         [f"{name}_conv_out"] + [f"{name}_bn.{f}" for f in
                                                 ("weight", "bias", "running_mean",
                                                  "running_var")],
                         [f"{name}_bn_out"], name=f"{name}_bn", epsilon=bn.eps),
    ]
    return nodes, f"{name}_bn_out"


def relu(nodes: list, x: str, name: str) -> str:
    nodes.append(helper.make_node("Relu", [x], [name], name=name))
    return name


def to_onnx(model: DigitsNet) -> onnx.ModelProto:
    """The graph of DigitsNet.forward in ONNX, written op by op from the trained weights."""
    inits: list = []
    nodes: list = []

    def block(name: str, mod: nn.Sequential, x: str) -> str:
        new, out = conv_bn_nodes(name, mod, x, inits)
        nodes.extend(new)
        return out

    s = relu(nodes, block("stem", model.stem, "input"), "stem_relu")
    a = relu(nodes, block("res_a", model.res_a, s), "res_a_relu")
    b = block("res_b", model.res_b, a)
    nodes.append(helper.make_node("Add", [b, s], ["res_add"], name="res_add"))
    r = relu(nodes, "res_add", "res_relu")
    c1 = relu(nodes, block("branch_1x1", model.branch_1x1, r), "branch_1x1_relu")
    c2 = relu(nodes, block("branch_dw", model.branch_dw, r), "branch_dw_relu")
    nodes.append(helper.make_node("Concat", [c1, c2], ["concat"], name="concat", axis=1))
    nodes.append(helper.make_node("MaxPool", ["concat"], ["pool"], name="pool",
                                  kernel_shape=[2, 2], strides=[2, 2]))
    g = relu(nodes, block("grouped", model.grouped, "pool"), "grouped_relu")
    nodes.append(helper.make_node("Flatten", [g], ["flat"], name="flatten", axis=1))
    inits.append(numpy_helper.from_array(model.fc_hidden.weight.detach().numpy(),
                                         "fc_hidden.weight"))
    inits.append(numpy_helper.from_array(model.fc_hidden.bias.detach().numpy(), "fc_hidden.bias"))
    nodes.append(helper.make_node("Gemm", ["flat", "fc_hidden.weight", "fc_hidden.bias"],
                                  ["hidden"], name="fc_hidden", transB=1))
    h = relu(nodes, "hidden", "hidden_relu")
    nodes.append(helper.make_node("Dropout", [h], ["drop"], name="dropout"))
    inits.append(numpy_helper.from_array(model.fc.weight.detach().numpy(), "fc.weight"))
    inits.append(numpy_helper.from_array(model.fc.bias.detach().numpy(), "fc.bias"))
    nodes.append(helper.make_node("Gemm", ["drop", "fc.weight", "fc.bias"], ["logits"],
                                  name="fc", transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1))

    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])],
        initializer=inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="edgecomp tools/train_digits.py")
    onnx_model.ir_version = 8  # what opset 13 was released with; every onnxruntime reads it
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def metadata(accuracy: float, n_test: int) -> dict:
    # The preprocessing a caller applies (docs/format.md section 4 "input"), plus provenance.
    return {
        "model": "digits_cnn.onnx",
        "input": {"name": "input", "layout": "NCHW", "shape": [1, 1, 8, 8], "color": "gray",
                  "resize": [8, 8], "scale": 1.0 / 255.0, "mean": [0.0], "std": [1.0]},
        "output": "probs",
        "labels": "digits/labels.txt",
        "test_images": "digits/test",
        "calib_images": "digits/calib",
        "val_images": "digits/val",
        "float_top1_test": round(accuracy, 4),
        "test_count": n_test,
        "generated_by": "tools/train_digits.py (do not edit by hand)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    split = write_all(args.out)
    x_all = torch.from_numpy(split.pixels.astype(np.float32) / 255.0)[:, None]
    y_all = torch.from_numpy(split.labels)
    model = DigitsNet()
    train(model, x_all[split.train], y_all[split.train], args.epochs)
    model.eval()

    onnx_model = to_onnx(model)
    path = args.out / "digits_cnn.onnx"
    onnx.save(onnx_model, path)

    # Check the written file, not the torch module: same outputs, and the held-out accuracy.
    x_test = x_all[split.test].numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probs = sess.run(["probs"], {"input": x_test})[0]
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(x_test)), dim=1).numpy()
    diff = float(np.abs(probs - ref).max())
    if diff > 1e-4:
        raise SystemExit(f"ONNX graph disagrees with torch: max |diff| {diff:g}")
    accuracy = float((probs.argmax(1) == split.labels[split.test]).mean())
    (args.out / "digits_cnn.json").write_text(json.dumps(metadata(accuracy, len(split.test)),
                                                         indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes, opset {OPSET}, "
          f"{len(onnx_model.graph.node)} nodes); onnxruntime vs torch max |diff| {diff:.2e}")
    print(f"float top-1 on the held-out split: {accuracy:.4f} "
          f"({int(round(accuracy * len(split.test)))}/{len(split.test)})")
    if accuracy < 0.95:
        raise SystemExit("accuracy below the 95% the bundled model must reach")


if __name__ == "__main__":
    main()
