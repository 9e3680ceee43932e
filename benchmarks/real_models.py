"""Top-1 of the real models in ../shared/data on its 100 ImageNet photos (not part of CI).

    python benchmarks/real_models.py [--data ../shared/data] [--calib 20]

SqueezeNet 1.1 (ONNX, float): onnxruntime, edgecomp's float executor, the int8 integer spec and
the C runtime (calibrated on the first --calib photos). MobileNet v2 (uint8 TFLite, its own
quantization): LiteRT and the C runtime, with their agreement. Preprocessing is the data
README's, done here with OpenCV.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def photos(data: Path):
    labels = [line.split()[0] for line in (data / "imagenet_labels.txt").read_text().splitlines()]
    files = sorted((data / "imagenet-dev").glob("*.JPEG"))
    return files, [labels.index(f.name.split("_")[0]) for f in files]


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def squeezenet_input(path: Path) -> np.ndarray:
    im = rgb(path)
    h, w = im.shape[:2]
    s = 256 / min(h, w)
    im = cv2.resize(im, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR)
    h, w = im.shape[:2]
    y, x = (h - 224) // 2, (w - 224) // 2
    im = (im[y:y + 224, x:x + 224] / 255.0 - MEAN) / STD
    return im.transpose(2, 0, 1)[None].astype(np.float32)


def mobilenet_input(path: Path) -> np.ndarray:
    im = rgb(path)
    h, w = im.shape[:2]
    ch, cw = round(h * 0.875), round(w * 0.875)
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(im[y:y + ch, x:x + cw], (224, 224), interpolation=cv2.INTER_LINEAR)


def squeezenet(data: Path, n_calib: int) -> None:
    import onnxruntime as ort

    from edgecomp.compress import CompressOptions, compress
    from edgecomp.exec_float import run_float
    from edgecomp.exec_int import quantize_input, run_int
    from edgecomp.importers import import_onnx
    from edgecomp.packed import write_ecm
    from edgecomp.runtime import Runtime

    path = data / "models" / "squeezenet1.1.onnx"
    files, truth = photos(data)
    x = np.concatenate([squeezenet_input(f) for f in files])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: x[i:i + 1]})[0]
                          for i in range(len(x))])
    graph = import_onnx(path)
    flt = np.concatenate([run_float(graph, x[i:i + 10])[graph.outputs[0]]
                          for i in range(0, len(x), 10)])
    t0 = time.time()
    q = compress(path, CompressOptions(show_progress=False), calibration_data=x[:n_calib]).qmodel
    print(f"squeezenet1.1: compressed in {time.time() - t0:.1f} s, {len(q.nodes)} nodes")
    rt = Runtime(write_ecm(q), num_threads=2)
    qx = quantize_input(q, x)
    spec = [run_int(q, qx[i:i + 1])[q.outputs[0]] for i in range(10)]
    c_out = [rt.run(qx[i:i + 1]) for i in range(len(qx))]
    assert all(np.array_equal(spec[i].ravel(), c_out[i].ravel()) for i in range(10))
    top1 = {name: float(np.mean([np.argmax(v.ravel()) == t for v, t in zip(vals, truth)]))
            for name, vals in (("onnxruntime fp32", ref), ("edgecomp float", flt),
                               ("edgecomp int8 (C runtime)", c_out))}
    print("  top-1: " + ", ".join(f"{k} {v:.2f}" for k, v in top1.items()))


def mobilenet(data: Path) -> None:
    from edgecomp.exec_int import run_int
    from edgecomp.importers import import_tflite
    from edgecomp.packed import write_ecm
    from edgecomp.passes.fuse import fuse_activations
    from edgecomp.quant import quantize
    from edgecomp.runtime import Runtime
    from edgecomp.testing.tflite_builder import reference_interpreter

    path = data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    files, truth = photos(data)
    graph = import_tflite(path)
    q = quantize(fuse_activations(graph), {})
    rt = Runtime(write_ecm(q), num_threads=2)
    it = reference_interpreter(path.read_bytes())
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    from edgecomp.exec_float import run_float

    ok_ref = ok_c = same = exact = ok_f = 0
    worst = 0
    for k, (f, t) in enumerate(zip(files, truth)):
        im = mobilenet_input(f)
        flt = run_float(graph, ((im - 128.0) / 128.0).transpose(2, 0, 1)[None])  # dequantized
        ok_f += int(np.argmax(flt[graph.outputs[0]].ravel()[1:]) == t)
        it.set_tensor(inp["index"], im[None])
        it.invoke()
        ref = it.get_tensor(out["index"])[0].astype(np.int64)
        x8 = (im.astype(np.int16) - 128).astype(np.int8).transpose(2, 0, 1)[None]
        got = rt.run(x8).ravel().astype(np.int64) + 128  # int8 back to the model's uint8
        if k < 5:
            assert np.array_equal(run_int(q, x8)[q.outputs[0]].ravel().astype(np.int64) + 128,
                                  got)
        ok_ref += int(np.argmax(ref[1:]) == t)
        ok_c += int(np.argmax(got[1:]) == t)
        same += int(np.argmax(ref) == np.argmax(got))
        exact += int(np.mean(ref == got) * 1000)
        worst = max(worst, int(np.abs(ref - got).max()))
    n = len(files)
    print(f"mobilenet_v2 (uint8 tflite): top-1 LiteRT {ok_ref / n:.2f}, edgecomp float "
          f"(dequantized weights) {ok_f / n:.2f}, edgecomp C runtime "
          f"{ok_c / n:.2f}; same top-1 on {same}/{n}; output bytes identical "
          f"{exact / n / 10:.1f}%, max difference {worst} LSB; "
          f"{graph.metadata['requantized_weight_channels']} uint8 weight channels re-scaled")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--calib", type=int, default=20)
    a = ap.parse_args()
    if not (a.data / "models").is_dir():
        print(f"no real models at {a.data}: nothing to do")
        return 0
    squeezenet(a.data, a.calib)
    mobilenet(a.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
