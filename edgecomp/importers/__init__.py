"""Model importers: source formats -> edgecomp IR (``edgecomp.ir``)."""
from .onnx_importer import import_onnx


def import_tflite(src):
    """TFLite -> IR (``tflite_importer``); imported lazily: it needs the ``tflite`` package."""
    from .tflite_importer import import_tflite as _import

    return _import(src)


__all__ = ["import_onnx", "import_tflite"]
