"""One exception hierarchy. Each is also a builtin kind so callers can catch either."""


class EdgecompError(Exception):
    """Base of every error edgecomp raises on purpose."""


class UnsupportedOpError(EdgecompError, NotImplementedError):
    """The source model uses an operator (or an attribute of one) edgecomp cannot run."""


class ModelImportError(EdgecompError, ValueError):
    """The source model (ONNX/TFLite) is malformed or cannot be read."""


class GraphError(EdgecompError, ValueError):
    """The IR graph is inconsistent."""


class FormatError(EdgecompError, ValueError):
    """A packed .ecm file is truncated, corrupt or hostile."""


class ShapeError(EdgecompError, ValueError):
    """An input has the wrong shape or dtype."""


class RuntimeFailure(EdgecompError, RuntimeError):
    """The C runtime reported an error."""


class QuantizationError(EdgecompError, ValueError):
    """Quantization cannot represent the model (for example accumulator overflow)."""


class DataError(EdgecompError, ValueError):
    """An image, label file or image folder is missing, unreadable or does not fit."""
