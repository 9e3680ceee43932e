"""`edgecomp demo-camera` (also `edgecomp demo camera ...`): the camera classification demo.

``edgecomp demo`` is the main job with its own flags (``--out``, ``--prune``), so the camera
demo is its own command, ``demo-camera``. ``register`` also teaches ``demo`` to hand
``edgecomp demo camera ARGS`` over to it: a hidden trailing argument collects whatever follows
``demo``'s own options, and an empty one runs the main job exactly as before.
"""
from __future__ import annotations

import argparse

from .errors import EdgecompError

CAMERA_PROG = "edgecomp demo camera"


def register(sub) -> None:
    from .camera.cli import DESCRIPTION, add_arguments

    p = sub.add_parser("demo-camera", help="camera classification demo: top-k, latency per "
                       "stage, FPS and bus traffic per frame (also: edgecomp demo camera)",
                       description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=cmd_demo_camera)
    _hook_demo(sub)


def cmd_demo_camera(a) -> int:
    from .camera.cli import run

    return run(a)


def _hook_demo(sub) -> None:
    demo = sub.choices.get("demo")
    if demo is None:
        return
    main_job = demo.get_default("func")
    defaults = {"out": demo.get_default("out"), "prune": demo.get_default("prune")}
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    demo.epilog = ((demo.epilog + "\n") if demo.epilog else "") + (
        "`edgecomp demo camera [options]` runs the camera demo (same as `edgecomp demo-camera`).")

    def dispatch(a) -> int:
        rest = list(a.demo_args or [])
        if not rest:
            return main_job(a)
        if rest[0] != "camera":
            raise EdgecompError(f"unknown demo {rest[0]!r}: `edgecomp demo` runs the main job, "
                                "`edgecomp demo camera ...` the camera demo")
        moved = [k for k, v in defaults.items() if getattr(a, k, v) != v]
        if moved:
            raise EdgecompError(f"{', '.join('--' + k for k in moved)}: option(s) of the main "
                                "demo; put camera demo options after `camera`")
        from .camera.cli import build_parser, run

        return run(build_parser(CAMERA_PROG).parse_args(rest[1:]))

    demo.set_defaults(func=dispatch)
