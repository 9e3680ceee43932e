"""Run one Python fuzz target (targets.py) for a while.

    python tests/fuzz/run.py {reader,frames,device} [--seconds N] [--corpus DIR]
                             [--artifacts DIR] [--engine auto|atheris|mutate] [--timeout S]

With atheris installed (``pip install atheris``; `make fuzz` uses it when the Python has it) the
run is coverage-guided libFuzzer; otherwise a plain mutation loop over the corpus (bit flips,
interesting values, insertions, deletions, splices). Either way: seeds from targets.seeds and
tests/fuzz_regressions/<target>/ start the corpus, an input that raises or runs longer than
--timeout seconds is saved under --artifacts and the run exits 1, and the last line reports
executions and time.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE.parent / "fuzz_regressions"


class Hang(Exception):
    pass


def _write_seeds(target: str, corpus: Path) -> None:
    import targets
    corpus.mkdir(parents=True, exist_ok=True)
    found = list(targets.seeds(target))
    reg = REGRESSIONS / target
    if reg.is_dir():
        found += [p.read_bytes() for p in sorted(reg.iterdir()) if p.is_file()]
    for data in found:
        (corpus / ("seed-" + hashlib.sha1(data).hexdigest())).write_bytes(data)


def _save(artifacts: Path, target: str, data: bytes, why: str) -> Path:
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / f"{target}-{why}-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    return path


INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff",
               b"\x40\x00\x00\x00", b"\x00\x00\x01\x00", b"\xff\xff\x00\x00", b"EDGECMP\x00"]


def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(1 + rng.randrange(4)):
        kind = rng.randrange(6)
        pos = rng.randrange(len(b) + 1)
        if kind == 0 and b:
            b[pos % len(b)] ^= 1 << rng.randrange(8)
        elif kind == 1 and b:
            v = rng.choice(INTERESTING)
            b[pos:pos + len(v)] = v
        elif kind == 2:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif kind == 3 and b:
            del b[pos:pos + rng.randrange(1, 64)]
        elif kind == 4 and pool:
            other = rng.choice(pool)
            at = rng.randrange(len(other) + 1)
            b[pos:] = other[at:at + rng.randrange(1, 256)] + b[pos:]
        elif b:
            b[pos % len(b)] = rng.randrange(256)
    return bytes(b)


def run_mutate(fn, target: str, corpus: Path, artifacts: Path, seconds: float,
               timeout: float) -> int:
    pool = [p.read_bytes() for p in sorted(corpus.iterdir()) if p.is_file()]
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))

    def alarm(signum, frame):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    start, execs = time.monotonic(), 0
    queue = list(pool)  # every corpus entry once as it is, then mutations
    while queue or time.monotonic() - start < seconds:
        data = queue.pop() if queue else _mutate(rng, rng.choice(pool), pool)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            fn(data)
        except Hang:
            path = _save(artifacts, target, data, "timeout")
            print(f"TIMEOUT: {target} ran longer than {timeout} s on {path}")
            return 1
        except Exception:
            signal.setitimer(signal.ITIMER_REAL, 0)
            path = _save(artifacts, target, data, "crash")
            traceback.print_exc()
            print(f"CRASH: {target} raised on {path}")
            return 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        execs += 1
    took = time.monotonic() - start
    print(f"{target}: mutate engine: {execs} executions in {took:.0f} s, no crash or timeout")
    return 0


def run_atheris(target: str, corpus: Path, artifacts: Path, seconds: float,
                timeout: float) -> int:
    import atheris
    import targets  # instrumented by main() before anything else imported it
    fn = targets.TARGETS[target]
    artifacts.mkdir(parents=True, exist_ok=True)
    args = [sys.argv[0], f"-max_total_time={int(seconds)}", f"-timeout={int(timeout)}",
            "-rss_limit_mb=3072", f"-artifact_prefix={artifacts}/{target}-",
            f"-max_len={65536 if target == 'reader' else 8192}",
            "-print_final_stats=1", str(corpus)]
    atheris.Setup(args, fn)
    atheris.Fuzz()  # exits the process: 0 clean, non-zero with a crash artifact
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", choices=["reader", "frames", "device"])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"))
    ap.add_argument("--engine", choices=["auto", "atheris", "mutate"], default="auto")
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    corpus = a.corpus or Path("fuzz-corpus") / a.target
    engine = a.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "mutate"
    if engine == "atheris":
        import atheris
        # coverage for the code under test: it must be imported first inside this block
        # only the code under test: instrumenting the rest just slows every execution
        code = ["edgecomp"] if a.target == "reader" else ["firmware_io"]
        with atheris.instrument_imports(include=code + ["targets"]):
            import targets  # noqa: F401
    _write_seeds(a.target, corpus)
    print(f"== {a.target}: {engine} engine, {a.seconds:.0f} s, corpus {corpus}", flush=True)
    if engine == "atheris":
        return run_atheris(a.target, corpus, a.artifacts, a.seconds, a.timeout)
    import targets  # noqa: F811  (the atheris branch above imported it instrumented)
    return run_mutate(targets.TARGETS[a.target], a.target, corpus, a.artifacts, a.seconds,
                      a.timeout)


if __name__ == "__main__":
    sys.exit(main())
