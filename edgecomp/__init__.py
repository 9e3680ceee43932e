"""edgecomp: compress a trained CNN into a packed sparse int8 model (.ecm) and run it on a
small C runtime. Kept import-light on purpose: `edgecomp --help` must not load numpy/onnx."""

__version__ = "0.1.0"
