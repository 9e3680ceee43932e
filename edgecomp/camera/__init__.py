"""The camera classification demo (issue 8, docs/camera_demo.md).

Frames from a camera, a video file, a folder of images or the bundled clip (``sources``) are
preprocessed as the model's metadata says, classified on the local C runtime or the FPGA board
(``backends``), timed per stage (``timing``), measured for bus traffic (``traffic``, with the
activation codecs of edgecomp.analysis), drawn (``overlay``) and shown or written (``output``);
``demo.run_demo`` is the loop and ``summary`` the end-of-run figures.
"""
from .demo import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
