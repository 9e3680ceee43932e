"""`edgecomp analyze`: activation sparsity, activation codecs and the accelerator's bus time.

Seeds 000 and 002 are the specification; docs/analysis.md defines every figure. Modules:

- ``activations``: exact MAC counts per layer from one run's int8 tensors (activation %).
- ``engine``: the tensors from the C runtime (with its counters cross-checked) or the numpy
  integer reference.
- ``codecs``: run-length (Eyeriss), sparsity map (NullHop) and DCT pruning, real byte streams.
- ``layers``: the accelerator's layers and the tensors they move through memory.
- ``lossy``, ``adaptive``: running with lossy activations; per-layer DCT masks under a budget.
- ``accel_model``: bytes per layer and the transfer-dominated time (seed 000 Table IV).
- ``pipeline``: ``analyze()`` ties them together; ``report*`` render text, PNG and HTML.
- ``vgg``: an architecture-faithful, pruned VGG-16 QModel for tests and tools.
"""
from .pipeline import AnalyzeOptions, analyze

__all__ = ["AnalyzeOptions", "analyze"]
