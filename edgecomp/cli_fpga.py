"""`edgecomp flash | fpga-run | fpga-stats | fpga-sim`: the FPGA accelerator over a serial link.

register(subparsers) adds the four commands; each handler returns an exit code and raises
EdgecompError subclasses for user errors (edgecomp.cli prints them as one line, exit 2).
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path

from .errors import EdgecompError, RuntimeFailure

DEFAULT_BAUD = 921600
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)(i?[bB])?\s*$")


def parse_size(text: str) -> int:
    """'16M', '512k', '4096' -> bytes (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 4096, 512K, 16M)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def _offsets(text: str) -> tuple[int, ...]:
    return tuple(parse_size(t) for t in text.split(",") if t.strip())


def _link_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True,
                   help="serial port or pyserial URL: /dev/ttyUSB0, /dev/pts/3, socket://host:port")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help=f"default {DEFAULT_BAUD}")
    p.add_argument("--window", type=int, default=8, help="frames in flight (default 8)")
    p.add_argument("--chunk", type=int, default=1024, help="image bytes per frame (default 1024)")
    p.add_argument("--timeout", type=float, default=0.3,
                   help="seconds to wait for each HELLO before retrying (default 0.3)")


def _client(a):
    from firmware_io import FpgaClient

    if a.window < 1 or a.chunk < 16:
        raise EdgecompError(f"--window must be >= 1 and --chunk >= 16 (got {a.window}, "
                            f"{a.chunk})")
    return FpgaClient(a.port, a.baud, window=a.window, chunk=a.chunk, hello_timeout=a.timeout,
                      progress=not getattr(a, "json", False))


def register(sub) -> None:
    p = sub.add_parser("flash", help="stream a packed model to the FPGA board over serial")
    p.add_argument("model", type=Path)
    _link_args(p)
    p.add_argument("--force", action="store_true",
                   help="send every byte again even if the device holds or runs this image")
    p.add_argument("--json", action="store_true", help="print the transfer report as JSON")
    p.set_defaults(func=cmd_flash)

    p = sub.add_parser("fpga-run", help="classify one image on the FPGA board")
    p.add_argument("model", type=Path)
    p.add_argument("image", type=Path)
    _link_args(p)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--flash", action="store_true",
                   help="flash the model first if the device runs another one")
    p.add_argument("--check", action="store_true",
                   help="also run the local C runtime and require bit-identical output")
    p.set_defaults(func=cmd_fpga_run)

    p = sub.add_parser("fpga-stats", help="device counters and capabilities of the FPGA board")
    _link_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fpga_stats)

    p = sub.add_parser("fpga-sim", help="run the FPGA board emulator on a pseudo-terminal")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true",
                       help="create a pty and print its path (the default)")
    where.add_argument("--port", help="attach to an existing port or pyserial URL instead")
    p.add_argument("--link", help="also make this symlink to the pty (a stable device name)")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help="line rate the emulator paces bytes at; 0 = unpaced")
    p.add_argument("--memory", type=parse_size, default=16 << 20, help="image memory (16M)")
    p.add_argument("--io-size", type=parse_size, default=1 << 20,
                   help="input/output buffer (1M)")
    p.add_argument("--max-payload", type=int, default=4096)
    p.add_argument("--device-window", type=int, default=16)
    p.add_argument("--protocol-version", type=int, default=None,
                   help="pretend to speak another protocol major (to test hosts)")
    p.add_argument("--encodings", default=None,
                   help="weight encodings the device decodes, comma separated (default: all "
                   "of dense, sparse_rel8, rel4, bitmap, block, shared, huffman)")
    g = p.add_argument_group("fault injection")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--bit-error-rate", type=float, default=0.0, help="per byte, e.g. 1e-4")
    g.add_argument("--drop-rate", type=float, default=0.0, help="per byte")
    g.add_argument("--dup-rate", type=float, default=0.0, help="per byte")
    g.add_argument("--garbage-rate", type=float, default=0.0, help="per byte")
    g.add_argument("--frame-drop-rate", type=float, default=0.0, help="per frame")
    g.add_argument("--stall-every", type=parse_size, default=0, help="received bytes")
    g.add_argument("--stall-time", type=float, default=0.2)
    g.add_argument("--disconnect-at", type=_offsets, default=(),
                   help="received-byte counts, comma separated")
    g.add_argument("--disconnect-time", type=float, default=0.3)
    g.add_argument("--reset-at", type=_offsets, default=(), help="received-byte counts")
    g.add_argument("--memory-error-rate", type=float, default=0.0, help="per image WRITE")
    p.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    p.add_argument("--stats-json", type=Path, help="write counters and faults here on exit")
    p.set_defaults(func=cmd_fpga_sim)


def cmd_flash(a) -> int:
    from edgecomp.packed.reader import load_ecm  # validates before anything goes on the line

    load_ecm(a.model)
    image = a.model.read_bytes()
    with _client(a) as client:
        report = client.flash(image, force=a.force)
    if a.json:
        out = dict(report.__dict__, throughput=report.throughput, efficiency=report.efficiency)
        print(json.dumps(out, indent=1))
    else:
        for line in report.lines():
            print(line)
    return 0


def cmd_fpga_run(a) -> int:
    import hashlib

    import numpy as np

    from edgecomp.datasets import load_image
    from edgecomp.exec_int import dequantize, quantize_input
    from edgecomp.packed.reader import load_ecm

    model = load_ecm(a.model)
    image = a.model.read_bytes()
    pre = model.metadata.get("input")
    if not pre:
        raise EdgecompError(f"{a.model}: no input preprocessing in its metadata")
    x = quantize_input(model, load_image(a.image, pre))
    if tuple(x.shape) != tuple(model.input.shape):
        raise EdgecompError(f"{a.image} preprocesses to {x.shape}, the model takes "
                            f"{model.input.shape}")
    with _client(a) as client:
        info = client.connect()
        if info.active_sha256 != hashlib.sha256(image).digest():
            if not a.flash:
                what = (f"another model (SHA-256 {info.active_sha256.hex()[:16]}...)"
                        if info.active_size else "no model")
                raise EdgecompError(f"the device on {a.port} runs {what}: flash this one first "
                                    f"(edgecomp flash {a.model} --port {a.port}) or pass --flash")
            for line in client.flash(image).lines():
                print(line)
        result = client.run(x)
    q = np.frombuffer(result.output, dtype=np.int8).reshape(model.output.shape)
    if a.check:
        from .runtime import Runtime

        local = np.asarray(Runtime(image).run(x))
        if not np.array_equal(local, q):
            raise RuntimeFailure(f"the device's output differs from the local C runtime at "
                                 f"{int(np.count_nonzero(local != q))} of {q.size} positions")
    scores = dequantize(model.output, q).reshape(-1)
    order = np.argsort(-scores, kind="stable")[:max(1, a.top)]
    print(f"{a.image.name}: top-{len(order)} on the FPGA board ({a.port})")
    for rank, c in enumerate(order, 1):
        label = model.labels[c] if c < len(model.labels) else f"class {c}"
        print(f"  {rank}. {label:30s} {scores[c]:.4f}")
    c = result.counters
    skipped = 1 - c["executed_macs"] / c["dense_macs"] if c["dense_macs"] else 0.0
    print(f"device: {c['run_ns'] / 1e6:.3f} ms, {c['executed_macs']} of {c['dense_macs']} MACs "
          f"({100 * skipped:.1f}% skipped), bus {c['weight_bytes']} weight + "
          f"{c['activation_bytes']} activation bytes")
    print(f"link: {result.input_bytes} input bytes up, {len(result.output)} output bytes down, "
          f"{result.elapsed * 1000:.1f} ms round trip")
    if a.check:
        print("output is bit-identical to the local C runtime")
    return 0


def cmd_fpga_stats(a) -> int:
    with _client(a) as client:
        info = client.connect()
        counters = client.stats()
    caps = {"device": info.device_id, "protocol": f"{info.version[0]}.{info.version[1]}",
            "memory_size": info.memory_size, "io_size": info.io_size,
            "max_payload": info.max_payload, "window": info.window,
            "encodings": sorted(info.encodings), "ecm_major": info.ecm_major,
            "boot_count": info.boot_count, "active_size": info.active_size,
            "active_sha256": info.active_sha256.hex() if info.active_size else None}
    if a.json:
        print(json.dumps({"capabilities": caps, "counters": counters}, indent=1))
        return 0
    for k, v in caps.items():
        print(f"{k:14s} {v}")
    for k, v in counters.items():
        print(f"{k:18s} {v}")
    return 0


def cmd_fpga_sim(a) -> int:
    from firmware_io import DeviceConfig, Emulator, FaultConfig, PtyEndpoint, SerialEndpoint
    from firmware_io.messages import ENCODINGS, PROTOCOL_MAJOR

    encodings = (tuple(e.strip() for e in a.encodings.split(",") if e.strip())
                 if a.encodings else tuple(ENCODINGS))
    bad = [e for e in encodings if e not in ENCODINGS]
    if bad:
        raise EdgecompError(f"--encodings: unknown {', '.join(bad)} (known: "
                            f"{', '.join(ENCODINGS)})")
    if a.baud < 0 or a.max_payload < 64 or a.device_window < 1:
        raise EdgecompError("--baud must be >= 0, --max-payload >= 64, --device-window >= 1")
    config = DeviceConfig(memory_size=a.memory, io_size=a.io_size, max_payload=a.max_payload,
                          window=a.device_window, encodings=encodings,
                          version_major=a.protocol_version or PROTOCOL_MAJOR)
    faults = FaultConfig(seed=a.seed, bit_error_rate=a.bit_error_rate, drop_rate=a.drop_rate,
                         dup_rate=a.dup_rate, garbage_rate=a.garbage_rate,
                         frame_drop_rate=a.frame_drop_rate, stall_every=a.stall_every,
                         stall_time=a.stall_time, disconnect_at=a.disconnect_at,
                         disconnect_time=a.disconnect_time, reset_at=a.reset_at,
                         memory_error_rate=a.memory_error_rate)
    if a.port:
        endpoint = SerialEndpoint(a.port, a.baud or DEFAULT_BAUD)
    else:
        endpoint = PtyEndpoint(a.link)
    emu = Emulator(endpoint, baud=a.baud or None, faults=faults, config=config)
    print(emu.path, flush=True)  # first line: the device path a host opens
    pace = f"{a.baud} baud" if a.baud else "unpaced"
    print(f"fpga-sim: {emu.path} ({pace}, {a.memory} bytes of memory); "
          "Ctrl-C stops", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: emu.request_stop())
    if a.duration is not None:
        signal.signal(signal.SIGALRM, lambda *_: emu.request_stop())
        signal.setitimer(signal.ITIMER_REAL, a.duration)
    try:
        emu.run()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.close()
    summary = emu.summary()
    if a.stats_json:
        a.stats_json.write_text(json.dumps(summary, indent=1))
    d = summary["device"]
    print(f"fpga-sim: stopped; {d['rx_bytes']} bytes in, {d['tx_bytes']} out, "
          f"{d['frames_ok']} frames, {d['crc_errors']} CRC errors, {d['malformed']} malformed, "
          f"{summary['faults_total']} faults injected", file=sys.stderr)
    return 0
