"""Model importers: source formats -> edgecomp IR (``edgecomp.ir``)."""
from .onnx_importer import import_onnx

__all__ = ["import_onnx"]
