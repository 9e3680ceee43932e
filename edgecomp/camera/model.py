"""The model a demo runs: a .ecm file or the bundled digits CNN, and its top-k labels."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, FormatError
from ..exec_int import dequantize
from ..packed.model import QModel
from ..packed.reader import parse_ecm


@dataclass
class LoadedModel:
    name: str
    image: bytes
    model: QModel

    def describe(self) -> dict:
        m = self.model
        return {"name": self.name, "bytes": len(self.image),
                "sha256": hashlib.sha256(self.image).hexdigest(),
                "input": {"name": m.input.name, "shape": list(m.input.shape)},
                "output": {"name": m.output.name, "shape": list(m.output.shape)},
                "labels": len(m.labels)}


def load_model(path: Path | None) -> LoadedModel:
    """The .ecm file, or (None) the bundled digits CNN compressed in memory."""
    if path is not None:
        try:
            image = Path(path).read_bytes()
        except OSError as e:
            raise DataError(f"cannot read model {path}: {e.strerror or e}") from None
        name = Path(path).name
    else:
        from ..compress import CompressOptions, compress
        from ..datasets import bundled_digits, read_labels
        from ..packed.writer import write_ecm

        b = bundled_digits()
        opts = CompressOptions(calib_dir=b.calib_dir, preprocess=b.preprocess,
                               labels=read_labels(b.labels), show_progress=False)
        image = write_ecm(compress(b.onnx, opts).qmodel)
        name = f"bundled {b.onnx.stem} (int8)"
    try:
        model = parse_ecm(image)
    except FormatError as e:
        raise FormatError(f"{name}: {e}") from None
    if not model.metadata.get("input"):
        raise DataError(f"model {name} has no input preprocessing in its metadata (compress it "
                        "with --preprocess, see docs/format.md section 4)")
    return LoadedModel(name, image, model)


def top_k(model: QModel, y: np.ndarray, k: int) -> list[dict]:
    scores = dequantize(model.output, y).reshape(-1)
    order = np.argsort(-scores, kind="stable")[:max(1, k)]
    return [{"class": int(c), "label": label_of(model, int(c)), "score": float(scores[c])}
            for c in order]


def label_of(model: QModel, c: int) -> str:
    return model.labels[c] if c < len(model.labels) else f"class {c}"
