"""The camera classification demo loop: capture -> preprocess -> inference -> postprocess ->
output, for every frame, timed per stage, with the bus traffic the frame cost.

``run_demo(DemoOptions(...))`` returns the summary dict (also written to ``out/summary.json``,
with one JSON line per frame in ``out/frames.jsonl``).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..datasets import parse_preprocess, preprocess_image
from ..errors import DataError, EdgecompError
from ..exec_int import quantize_input
from ..packed.model import QModel
from .backends import FpgaBackend, Inference, LocalBackend
from .model import label_of, load_model, top_k
from .output import FrameWriter, Window, display_available
from .overlay import FrameView, picture_size, render
from .shadow import Shadow
from .sources import Frame, open_source
from .summary import RunStats
from .timing import FrameClock, RollingFps
from .traffic import TrafficMeter

DEFAULT_OUT = Path("out/camera_demo")


@dataclass
class DemoOptions:
    model: Path | None = None          # None: the bundled digits CNN, compressed at start
    camera: int | None = None
    video: Path | None = None
    images: Path | None = None
    fpga: str | None = None            # serial port of the board (or its emulator)
    baud: int = 921600
    flash: bool = True                 # flash the model when the board runs another one
    threads: int = 1
    top: int = 3
    codec: str = "spm"                 # raw | rle | spm | dct:K
    intermediates: bool = False        # also count the activations between layers
    check: bool = False                # compare each output with a reference run
    out: Path | None = None            # None: DEFAULT_OUT when headless
    save: str = "video"                # video | png | both | none
    window: str = "auto"               # auto | on | off
    max_frames: int | None = None
    repeat: int = 1
    verbose: bool = False


class Demo:
    """One run: a source, a backend, the meters and the outputs, opened together."""

    def __init__(self, opts: DemoOptions, log: Callable[[str], None]) -> None:
        self.opts, self.log = opts, log
        if opts.window == "on" and not display_available():
            raise DataError("--window: no display (OpenCV without a GUI backend, or no DISPLAY / "
                            "WAYLAND_DISPLAY): run headless, the annotated frames go to --out")
        if opts.top < 1:
            raise EdgecompError(f"--top must be >= 1, got {opts.top}")
        if opts.max_frames is not None and opts.max_frames < 1:
            raise EdgecompError(f"--max-frames must be >= 1, got {opts.max_frames}")
        self.lm = load_model(opts.model)
        m = self.lm.model
        self.pre = parse_preprocess(m.metadata["input"])
        self.meter = TrafficMeter(m, opts.codec, opts.intermediates)
        self._closers: list[Callable[[], None]] = []
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        o, m = self.opts, self.lm.model
        self.source = open_source(o.camera, o.video, o.images, m.labels, o.repeat,
                                  notify=self.log)
        self._closers.append(self.source.close)
        if o.fpga:
            self.backend = FpgaBackend(self.lm.image, m, o.fpga, o.baud, o.flash)
        else:
            self.backend = LocalBackend(self.lm.image, m, o.threads)
        self._closers.append(self.backend.close)
        local_rt = self.backend.runtime if isinstance(self.backend, LocalBackend) else None
        self.shadow = Shadow(m, self.lm.image, self.backend.name, check=o.check,
                             tensors=o.intermediates, runtime=local_rt)
        self._closers.append(self.shadow.close)
        self.window = None
        if o.window == "on" or (o.window == "auto" and display_available()):
            self.window = Window()
            self._closers.append(self.window.close)
        self.out_dir = o.out if o.out is not None else (None if self.window else DEFAULT_OUT)
        self.writer = None
        self.frames_log = None
        if self.out_dir is not None:
            self.writer = FrameWriter(self.out_dir, o.save, self.source.fps or 10.0)
            self._closers.append(self.writer.close)
            self.frames_log = open(self.out_dir / "frames.jsonl", "w", encoding="utf-8")
            self._closers.append(self.frames_log.close)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    # -- one frame --------------------------------------------------------------------------

    def step(self, clock: FrameClock, fps: RollingFps, last_ms: float | None,
             pic: list) -> tuple[dict, bool] | None:
        """Process one frame; None at the end of the source. Returns (record, keep going)."""
        m = self.lm.model
        with clock.stage("capture"):
            frame = self.source.read()
        if frame is None:
            return None
        with clock.stage("preprocess"):
            x = quantize_input(m, preprocess_image(frame.image, self.pre))
            if tuple(x.shape) != tuple(m.input.shape):
                raise DataError(f"{frame.name} preprocesses to {x.shape}, the model's input "
                                f"{m.input.name!r} is {tuple(m.input.shape)}")
        with clock.stage("inference"):
            inf = self.backend.infer(x)
        with clock.stage("postprocess"):
            top = top_k(m, inf.output, self.opts.top)
            tensors, same = self.shadow.run(x, inf.output)
            bus = self.meter.frame(x, inf.output, tensors)
            bus.update({k: v for k, v in inf.link.items() if k.endswith("_bytes")})
        rec = frame_record(frame, top, inf, bus, same, m)
        keep = True
        with clock.stage("output"):
            if pic[0] is None:
                pic[0] = picture_size(frame.image.shape)
            shown_name = frame.name if self.source.kind == "images" else ""
            total = self.source.total
            if self.opts.max_frames is not None:
                total = min(total or self.opts.max_frames, self.opts.max_frames)
            view = FrameView(frame.index, total, shown_name,
                             [(t["label"], t["score"]) for t in top], rec["truth"],
                             dict(clock.ms), fps.fps, last_ms, bus, self.meter.codec_name,
                             inf.compute, self.backend.describe()["label"], self.lm.name,
                             self.backend.load["image_bytes"], same)
            canvas = render(frame.image, view, pic[0])
            if self.writer is not None:
                self.writer.write(canvas)
            if self.window is not None:
                keep = self.window.show(canvas)
        return rec, keep


def frame_record(frame: Frame, top: list[dict], inf: Inference, bus: dict, same: bool | None,
                 model: QModel) -> dict:
    truth = label_of(model, frame.truth) if frame.truth is not None else None
    return {"index": frame.index, "name": frame.name, "top": top, "truth": truth,
            "correct": (top[0]["class"] == frame.truth) if frame.truth is not None else None,
            "output_crc32": inf.output_crc32, "bus": bus, "compute": inf.compute,
            "link": {k: v for k, v in inf.link.items() if not k.endswith("_bytes")},
            "checked": same}


def run_demo(opts: DemoOptions, log: Callable[[str], None] | None = None) -> dict:
    """Run the demo to the end of the source (or --max-frames, q in the window, Ctrl-C)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    demo = Demo(opts, log)
    stats, clock, fps = RunStats(), FrameClock(), RollingFps()
    interrupted, last_ms, pic = False, None, [None]
    try:
        try:
            while opts.max_frames is None or stats.frames < opts.max_frames:
                clock.start()
                got = demo.step(clock, fps, last_ms, pic)
                if got is None:
                    break
                rec, keep = got
                last_ms = clock.stop()
                rec["stages_ms"], rec["frame_ms"] = dict(clock.ms), last_ms
                stats.add(rec, clock.t0_ns, clock.t1_ns)
                fps.add(last_ms)
                if demo.frames_log is not None:
                    demo.frames_log.write(json.dumps(rec) + "\n")
                if opts.verbose:
                    log(f"frame {rec['index']}: {rec['top'][0]['label']} "
                        f"{rec['top'][0]['score']:.3f}, {last_ms:.2f} ms")
                if not keep:
                    break
        except KeyboardInterrupt:  # Ctrl-C ends a camera run: still write what was measured
            interrupted = True
        summary = {
            "model": demo.lm.describe(), "backend": demo.backend.describe(),
            "source": demo.source.describe(), "codec": demo.meter.codec_name,
            "intermediates": opts.intermediates, "stages": list(stats.stage_ms),
            "weights_once": demo.backend.load, "results": stats.result(),
            "check": demo.shadow.summary(), "interrupted": interrupted,
        }
    finally:
        demo.close()
    if stats.frames == 0:
        raise DataError(f"{demo.source.description} delivered no frame")
    if demo.writer is not None:
        summary["outputs"] = dict(demo.writer.describe(),
                                  summary=str(demo.out_dir / "summary.json"),
                                  frames_log=str(demo.out_dir / "frames.jsonl"))
        (demo.out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n",
                                                   encoding="utf-8")
    return summary
