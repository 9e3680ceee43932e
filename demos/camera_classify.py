"""Live classification of camera frames on the edgecomp C runtime or the FPGA board.

    python demos/camera_classify.py [model.ecm] [--camera N | --video FILE | --images DIR]
                                    [--fpga PORT] [--codec rle] [--out DIR] [--headless]

Without a model it compresses the bundled digits CNN; without a source it uses camera 0, or the
bundled clip (demos/media/digits_clip.avi) when there is no camera. Same as `edgecomp demo
camera` / `edgecomp demo-camera`; docs/camera_demo.md explains every figure.
"""
import sys
from pathlib import Path

try:
    import edgecomp  # noqa: F401  (the installed package, with its compiled runtime)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from edgecomp.camera.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
