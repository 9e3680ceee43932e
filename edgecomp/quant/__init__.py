"""Post-training quantization: calibration, fixed-point encoding, IR -> QModel."""
from .calibrate import calibrate
from .quantize import quantize

__all__ = ["calibrate", "quantize"]
