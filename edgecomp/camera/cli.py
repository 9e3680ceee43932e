"""Command-line options of the camera demo, shared by `edgecomp demo-camera`, `edgecomp demo
camera` and demos/camera_classify.py."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import EdgecompError
from .demo import DEFAULT_OUT, DemoOptions, run_demo
from .output import SAVE_MODES
from .summary import summary_table

DESCRIPTION = ("Classify camera frames (or a video file, or a folder of images) on the local C "
               "runtime or the FPGA board, showing top-k labels, latency per stage, FPS and the "
               "bus traffic of every frame; headless runs write an annotated video and "
               "summary.json.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, nargs="?",
                   help="packed .ecm model (default: the bundled digits CNN, compressed at start)")
    src = p.add_argument_group("source (default: camera 0 if there is one, else the bundled "
                               "clip)").add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="camera index")
    src.add_argument("--video", type=Path, metavar="FILE", help="video file")
    src.add_argument("--images", type=Path, metavar="DIR", help="folder of images")
    p.add_argument("--repeat", type=int, default=1, help="play a file or folder N times")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    run = p.add_argument_group("inference")
    run.add_argument("--fpga", metavar="PORT",
                     help="run on the FPGA board on this serial port (or pyserial URL) instead "
                     "of the local C runtime; the model is flashed if the board runs another")
    run.add_argument("--baud", type=int, default=921600, help="FPGA line rate (921600)")
    run.add_argument("--no-flash", action="store_true",
                     help="fail instead of flashing when the board runs another model")
    run.add_argument("--threads", type=int, default=1, help="local runtime threads (1)")
    run.add_argument("--top", type=int, default=3, help="labels shown per frame (3)")
    run.add_argument("--check", action="store_true",
                     help="compare every output with a reference run (FPGA: the local C "
                     "runtime; local: the numpy integer reference)")
    bus = p.add_argument_group("bus traffic")
    bus.add_argument("--codec", default="spm",
                     help="activation codec for the coded byte counts: raw, rle, spm (default) "
                     "or dct:K")
    bus.add_argument("--intermediates", action="store_true",
                     help="also count the activations between layers (runs every frame a "
                     "second time locally, keeping every tensor)")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, help=f"write the annotated frames, summary.json and "
                     f"frames.jsonl here (default when headless: {DEFAULT_OUT})")
    out.add_argument("--save", choices=SAVE_MODES, default="video",
                     help="annotated video (annotated.avi), PNG frames, both, or none")
    win = out.add_mutually_exclusive_group()
    win.add_argument("--headless", action="store_true", help="never open a window")
    win.add_argument("--window", action="store_true",
                     help="require a window (default: one when a display exists)")
    out.add_argument("--json", action="store_true", help="print the summary as JSON")
    out.add_argument("-v", "--verbose", action="store_true", help="one line per frame")


def options(a: argparse.Namespace) -> DemoOptions:
    return DemoOptions(model=a.model, camera=a.camera, video=a.video, images=a.images,
                       fpga=a.fpga, baud=a.baud, flash=not a.no_flash, threads=a.threads,
                       top=a.top, codec=a.codec, intermediates=a.intermediates, check=a.check,
                       out=a.out, save=a.save,
                       window="off" if a.headless else ("on" if a.window else "auto"),
                       max_frames=a.max_frames, repeat=a.repeat, verbose=a.verbose)


def run(a: argparse.Namespace) -> int:
    """Run from parsed arguments; exit status 1 when --check found a mismatch."""
    summary = run_demo(options(a))
    print(json.dumps(summary, indent=1) if a.json else summary_table(summary))
    outs = summary.get("outputs")
    if outs and not a.json:
        wrote = [p for p in (outs["video"], outs["frames_dir"]) if p]
        print(f"wrote {', '.join(wrote + [outs['summary'], outs['frames_log']])} "
              f"({outs['frames_written']} annotated frames)")
    check = summary.get("check")
    return 1 if check and check["mismatches"] else 0


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(p)
    return p


def main(argv: list[str] | None = None, prog: str = "camera_classify.py") -> int:
    a = build_parser(prog).parse_args(argv)
    try:
        return run(a)
    except EdgecompError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
