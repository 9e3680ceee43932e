"""`edgecomp bench` and edgecomp.bench on a small model: every engine runs in its own process
and reports latency and peak memory; the source model is found next to the .ecm; clear errors
when it is not. Speed itself is measured by benchmarks/, never asserted here."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecomp.bench import find_source, measure, measure_isolated
from edgecomp.cli import main
from edgecomp.compress import CompressOptions, compress
from edgecomp.errors import EdgecompError
from edgecomp.packed import save_ecm


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32) * 0.2,
                                "w")
    b = numpy_helper.from_array(np.zeros(16, np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                              pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 32, 32])],
                          [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, d / "net.onnx")
    images = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    q = compress(d / "net.onnx", CompressOptions(prune=0.5, show_progress=False),
                 calibration_data=images).qmodel
    save_ecm(q, d / "net.ecm")
    return d


def test_measure_reports_latency_and_counters(model_dir):
    m = measure("edgecomp", model_dir / "net.ecm", reps=3, warmup=1)
    assert m.runs == 3 and 0 < m.min_ms <= m.median_ms <= m.p90_ms
    assert m.peak_rss_mb >= m.baseline_rss_mb > 0
    e = m.extra
    assert e["dense_macs"] == 16 * 32 * 32 * 27
    assert e["executed_macs"] + e["skipped_zero_weight_macs"] + \
        e["skipped_zero_activation_macs"] + e["padding_macs"] == e["dense_macs"]
    assert sum(e["kernels"].values()) == 1


def test_isolated_measurement_of_onnxruntime(model_dir):
    m = measure_isolated("onnxruntime", model_dir / "net.onnx", reps=2, warmup=0)
    assert m.engine == "onnxruntime" and m.median_ms > 0 and m.peak_rss_mb > 0


def test_cli_bench_vs_onnxruntime(model_dir, capsys):
    out = model_dir / "bench.json"
    rc = main(["bench", str(model_dir / "net.ecm"), "--vs", "onnxruntime", "--reps", "2",
               "--warmup", "0", "--layers", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "onnxruntime fp32" in text and "onnxruntime int8" in text and "CONV" in text
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["edgecomp", "onnxruntime fp32", "onnxruntime int8"]
    assert all(r["median_ms"] > 0 and r["peak_rss_mb"] > 0 for r in rows)


def test_cli_bench_errors(model_dir, tmp_path, capsys):
    lone = tmp_path / "lone.ecm"
    lone.write_bytes((model_dir / "net.ecm").read_bytes())
    assert main(["bench", str(lone), "--vs", "onnxruntime", "--reps", "1"]) == 2
    assert "cannot find the source model (net.onnx)" in capsys.readouterr().err
    assert main(["bench", str(lone), "--vs", "tflite", "--reps", "1"]) == 2
    assert "--tflite PATH" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "nope.ecm")]) == 2
    assert find_source(lone, {"source": {"path": "net.onnx"}}, ".onnx") is None
    with pytest.raises(EdgecompError, match="unknown engine"):
        measure("tensorrt", lone)
