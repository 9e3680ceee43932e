"""The end-of-run figures: latency percentiles per stage, mean FPS, bytes per frame; as a dict
(summary.json) and as the table printed at the end."""
from __future__ import annotations

from .timing import STAGES, latency_stats

BUS_ROWS = (("input (in)", "in_bytes", "in_coded"),
            ("output (out)", "out_bytes", "out_coded"),
            ("between layers", "intermediate_bytes", "intermediate_coded"))


class RunStats:
    """Accumulates per-frame records (see demo.frame_record)."""

    def __init__(self) -> None:
        self.stage_ms = {s: [] for s in STAGES}
        self.frame_ms: list[float] = []
        self.bus: dict[str, list[float]] = {}
        self.compute: dict[str, list[float]] = {}
        self.labeled = self.correct = 0
        self.first_t0 = self.last_t1 = None

    def add(self, rec: dict, t0_ns: int, t1_ns: int) -> None:
        for s in STAGES:
            self.stage_ms[s].append(rec["stages_ms"].get(s, 0.0))
        self.frame_ms.append(rec["frame_ms"])
        for key, v in rec["bus"].items():
            self.bus.setdefault(key, []).append(v)
        for key, v in rec["compute"].items():
            self.compute.setdefault(key, []).append(v)
        if rec["correct"] is not None:
            self.labeled += 1
            self.correct += int(rec["correct"])
        self.first_t0 = t0_ns if self.first_t0 is None else self.first_t0
        self.last_t1 = t1_ns

    @property
    def frames(self) -> int:
        return len(self.frame_ms)

    def result(self) -> dict:
        n = self.frames
        elapsed = (self.last_t1 - self.first_t0) / 1e9 if n else 0.0
        latency = {s: latency_stats(v) for s, v in self.stage_ms.items()}
        latency["frame"] = latency_stats(self.frame_ms)
        bus = {k: sum(v) / len(v) for k, v in self.bus.items()}
        raw = sum(bus.get(k, 0.0) for _, k, _ in BUS_ROWS)
        coded = sum(bus.get(c, 0.0) for _, _, c in BUS_ROWS)
        return {
            "frames": n,
            "elapsed_s": elapsed,
            # wall clock from the first capture to the last frame's end
            "fps_mean": n / elapsed if elapsed > 0 else 0.0,
            "latency_ms": latency,
            "bytes_per_frame": dict(bus, total_raw=raw, total_coded=coded),
            "compute_per_frame": {k: sum(v) / len(v) for k, v in self.compute.items()},
            "accuracy": ({"labeled_frames": self.labeled, "top1": self.correct / self.labeled}
                         if self.labeled else None),
        }


def _fmt_bytes(v: float | None) -> str:
    return "-" if v is None else (f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}")


def summary_table(s: dict) -> str:
    """The table printed at the end of a run."""
    r = s["results"]
    lines = [f"camera demo: {r['frames']} frames from {s['source']['description']}, "
             f"{s['model']['name']} on {s['backend']['label']}", "",
             f"{'stage':<13}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"]
    for stage, st in r["latency_ms"].items():
        lines.append(f"{stage:<13}{st['mean']:>10.3f}{st['p50']:>10.3f}{st['p95']:>10.3f}"
                     f"{st['max']:>10.3f}")
    lines.append(f"mean FPS {r['fps_mean']:.1f} ({r['frames']} frames in {r['elapsed_s']:.3f} s)")
    b = r["bytes_per_frame"]
    codec = s["codec"]
    lines += ["", f"{'bytes per frame':<24}{'raw':>10}{codec:>10}"]
    for label, raw_key, coded_key in BUS_ROWS:
        if raw_key in b:
            lines.append(f"{label:<24}{_fmt_bytes(b[raw_key]):>10}"
                         f"{_fmt_bytes(b.get(coded_key)):>10}")
    lines.append(f"{'total':<24}{_fmt_bytes(b['total_raw']):>10}"
                 f"{_fmt_bytes(b['total_coded']):>10}")
    if "wire_tx_bytes" in b:
        lines.append(f"serial line: {_fmt_bytes(b['wire_tx_bytes'])} bytes up, "
                     f"{_fmt_bytes(b['wire_rx_bytes'])} down (framing and protocol included); "
                     f"device memory bus: {_fmt_bytes(b['device_weight_bytes'])} weight + "
                     f"{_fmt_bytes(b['device_activation_bytes'])} activation bytes")
    w = s["weights_once"]
    how = "flashed" if w["event"] == "flash" else "loaded"
    lines.append(f"weights: {w['image_bytes']} bytes of model image ({w['weight_blob_bytes']} of "
                 f"weight blobs) {how} once, {w['sent_bytes']} bytes sent"
                 + (f" ({w['status']})" if w.get("status") else "") + ", not per frame")
    if r["accuracy"]:
        a = r["accuracy"]
        lines.append(f"top-1 accuracy on {a['labeled_frames']} labeled frames: "
                     f"{100 * a['top1']:.1f}%")
    if s.get("check"):
        c = s["check"]
        lines.append(f"check against the {c['reference']}: {c['frames'] - c['mismatches']} of "
                     f"{c['frames']} frames bit-identical")
    return "\n".join(lines)
