"""Drawing one annotated frame: the picture with its top-1 label, and a side panel with top-k,
stage latencies, FPS and the bus traffic of the frame.

The panel sits beside the picture (not on it) and the picture is scaled to a fixed height, so
the text stays the same readable size whatever the camera's resolution (the bundled clip's
digits are 8x8 images upscaled to 256x256, here shown at 448x448).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import re

import cv2
import numpy as np

from .timing import SHOWN_STAGES

HEIGHT = 448                  # canvas height; the picture is scaled to it
PANEL_W = 392
MIN_PIC_W, MAX_PIC_W = 320, 800
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_SCALE, LINE_H, MARGIN = 0.5, 19, 12
WHITE, GREY, CYAN = (235, 235, 235), (150, 150, 150), (230, 200, 80)
GREEN, RED, YELLOW = (90, 220, 90), (80, 80, 240), (80, 220, 240)
PANEL_BG = (32, 32, 32)
_SYNSET = re.compile(r"n\d{8}")


@dataclass
class FrameView:
    """What the overlay shows for one frame."""
    index: int
    total: int | None
    name: str
    top: list[tuple[str, float]]            # (label, score), best first
    truth: str | None
    stages_ms: dict[str, float]
    fps: float | None                       # over the last completed frames
    last_frame_ms: float | None
    bus: dict                               # TrafficMeter.frame() + link bytes
    codec: str
    compute: dict
    backend: str
    model: str
    weights_once: int
    checked: bool | None = None
    notes: list[str] = field(default_factory=list)


def picture_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) of the picture area for frames of ``shape`` (fixed for a run)."""
    h, w = shape[:2]
    return int(np.clip(round(HEIGHT * w / h), MIN_PIC_W, MAX_PIC_W)), HEIGHT


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` into ``size`` keeping its aspect (letterboxed); nearest when enlarging
    so small images stay crisp."""
    w, h = size
    ih, iw = image.shape[:2]
    s = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
    interp = cv2.INTER_NEAREST if s >= 1 else cv2.INTER_AREA
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y:y + nh, x:x + nw] = small
    return out


def _kb(n: float | None) -> str:
    if n is None:
        return "-"
    if n < 10_000:
        return f"{n:.0f} B"
    return f"{n / 1024:.1f} KiB" if n < 10 << 20 else f"{n / (1 << 20):.1f} MiB"


def _duration(ns: float) -> str:
    return f"{ns / 1e3:.0f} us" if ns < 10_000_000 else f"{ns / 1e6:.1f} ms"


def short_label(label: str) -> str:
    """An ImageNet "n02123045 tabby, tabby cat" line without its WordNet id."""
    head, _, rest = label.partition(" ")
    return rest if rest and _SYNSET.fullmatch(head) else label


Line = tuple[str, str, tuple[int, int, int]]  # left text, right-aligned value, colour


def panel_lines(v: FrameView) -> list[Line]:
    of = f"/{v.total}" if v.total else ""
    lines: list[Line] = [(f"frame {v.index + 1}{of}", v.name, WHITE),
                         (f"{v.model}", "", GREY), (f"on {v.backend}", "", GREY),
                         (f"top-{len(v.top)}",
                          f"truth: {short_label(v.truth)}" if v.truth else "", CYAN)]
    for rank, (label, score) in enumerate(v.top, 1):
        color = WHITE if v.truth is None or rank > 1 else (GREEN if label == v.truth else RED)
        lines.append((f"{rank}. {short_label(label)}", f"{score:.3f}", color))
    lines.append(("latency", "ms", CYAN))
    for stage in SHOWN_STAGES:
        lines.append((stage, f"{v.stages_ms.get(stage, 0.0):.3f}", WHITE))
    last = f"{v.last_frame_ms:.2f} ms" if v.last_frame_ms else "-"
    lines.append((f"FPS {v.fps:.1f}" if v.fps else "FPS -", f"last frame {last}", YELLOW))
    b = v.bus
    lines.append(("bus per frame", f"raw / {v.codec}", CYAN))
    lines.append(("input (in)", f"{_kb(b.get('in_bytes'))} / {_kb(b.get('in_coded'))}", WHITE))
    lines.append(("output (out)", f"{_kb(b.get('out_bytes'))} / {_kb(b.get('out_coded'))}",
                  WHITE))
    if "intermediate_bytes" in b:
        lines.append(("between layers", f"{_kb(b['intermediate_bytes'])} / "
                      f"{_kb(b['intermediate_coded'])}", WHITE))
    if "wire_tx_bytes" in b:
        lines.append(("serial line", f"{_kb(b['wire_tx_bytes'])} up, "
                      f"{_kb(b['wire_rx_bytes'])} down", WHITE))
    lines.append(("weights: once, not per frame", _kb(v.weights_once), GREY))
    c = v.compute
    if c.get("dense_macs"):
        skipped = 100.0 * (1 - c["executed_macs"] / c["dense_macs"])
        lines.append((f"MACs {c['executed_macs']:,}", f"{skipped:.0f}% skipped, "
                      f"{_duration(c['run_ns'])}", GREY))
    if v.checked is not None:
        lines.append(("bit-identical to reference" if v.checked else "MISMATCH vs reference",
                      "", GREEN if v.checked else RED))
    lines.extend((n, "", GREY) for n in v.notes)
    return lines


def _label_box(pic: np.ndarray, v: FrameView) -> None:
    if not v.top:
        return
    label, score = v.top[0]
    scale, thick = 1.1, 2
    name = short_label(label)
    while len(name) > 1 and cv2.getTextSize(f"{name}..  {score:.2f}", FONT, scale,
                                            thick)[0][0] > pic.shape[1] - 20:
        name = name[:-1]
    text = f"{name}{'..' if name != short_label(label) else ''}  {score:.2f}"
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    cv2.rectangle(pic, (0, 0), (tw + 20, th + base + 16), (0, 0, 0), -1)
    color = WHITE if v.truth is None else (GREEN if label == v.truth else RED)
    cv2.putText(pic, text, (10, th + 8), FONT, scale, color, thick, cv2.LINE_AA)


def _text_w(text: str) -> int:
    return cv2.getTextSize(text, FONT, TEXT_SCALE, 1)[0][0]


def _fit_text(text: str, max_px: int) -> str:
    """``text`` cut (ending in "..") to at most ``max_px`` pixels wide."""
    if _text_w(text) <= max_px:
        return text
    while text and _text_w(text + "..") > max_px:
        text = text[:-1]
    return text + ".."


def render(image: np.ndarray, v: FrameView, pic_size: tuple[int, int]) -> np.ndarray:
    """The annotated canvas: the picture (``pic_size``) and the panel to its right."""
    pic = fit(image, pic_size)
    _label_box(pic, v)
    panel = np.full((HEIGHT, PANEL_W, 3), PANEL_BG, np.uint8)
    y = LINE_H + 4
    room = PANEL_W - 2 * MARGIN
    for left, right, color in panel_lines(v):
        if y > HEIGHT - 4:
            break
        right = _fit_text(right, room // 2) if right else ""
        right_w = _text_w(right) if right else 0
        left = _fit_text(left, room - right_w - (12 if right else 0))
        cv2.putText(panel, left, (MARGIN, y), FONT, TEXT_SCALE, color, 1, cv2.LINE_AA)
        if right:
            cv2.putText(panel, right, (PANEL_W - MARGIN - right_w, y), FONT, TEXT_SCALE, color,
                        1, cv2.LINE_AA)
        y += LINE_H
    return np.concatenate([pic, panel], axis=1)
