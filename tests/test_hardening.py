"""Regressions of the hardening work (docs/hardening.md): every input that once crashed, hung or
exhausted memory in a reader, a session, the frame decoder or the device emulator, replayed
from tests/fuzz_regressions/, plus the resource limits of docs/format.md 6.1.
"""
from __future__ import annotations

import gzip
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgecomp.errors import FormatError
from edgecomp.packed import QModel, QNode, QTensor, parse_ecm, write_ecm
from edgecomp.packed.checks import check_model
from edgecomp.packed.limits import MAX_TOTAL_ELEMENTS
from edgecomp.runtime import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import hostile_models  # noqa: E402
import targets  # noqa: E402

REGRESSIONS = Path(__file__).resolve().parent / "fuzz_regressions"


def stored(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def regression_files(target: str) -> list[Path]:
    d = REGRESSIONS / target
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


# ---- hostile models: what each one did, and what happens now --------------------------------

REFUSED = {
    "sparse_fc_bomb": "the CONV/FC weights of the model reach 17591917608960, more than the "
                      "limit 2^28",
    "conv_work_bomb": "one run of the model would take 4398046511104 MACs and window reads, more "
                      "than the limit 2^36",
    "arena_bomb": "the 7 tensors hold 1879048192 elements together, more than the limit 2^30",
    "deep_metadata": "METADATA section is not valid UTF-8 JSON",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_model_refused_by_both_readers(name):
    path = next(p for p in regression_files("model") if p.name.split(".")[0] == name)
    data = stored(path)
    assert data == hostile_models.HOSTILE[name](), "stored input and its generator differ"
    t0 = time.monotonic()
    for load in (parse_ecm, Runtime):
        with pytest.raises(FormatError) as e:
            load(data)
        assert REFUSED[name] in str(e.value)
    assert time.monotonic() - t0 < 5  # refused before anything big is allocated or scanned


def test_planner_bomb_loads_quickly():
    """16368 (stored) and 63457 (built here) tensors all alive at once: greedy-by-size took
    n^2 log n steps (4.5 s and 84 s); the step budget makes both well under a second. The
    plan still keeps every tensor that is alive at once apart, so runs agree."""
    small = stored(REGRESSIONS / "model" / "planner_bomb.ecm.gz")
    assert small == hostile_models.planner_bomb()
    big = hostile_models.planner_bomb(63457)
    for data in (small, big):
        t0 = time.monotonic()
        rt = Runtime(data)
        took = time.monotonic() - t0
        assert took < 10, f"loading took {took:.1f} s"
        n = len(rt.tensors)
        assert rt.arena_bytes == sum(-(-t.size // 64) * 64 for t in rt.tensors)
        x = np.array([[-7]], np.int8)
        out = rt.run_outputs(x)
        assert all((o == -7).all() for o in out) and len(out) == 16 and n > 16000
        rt.close()


def test_limits_are_enforced_by_the_compressor_checks_too():
    """check_model (run before writing) refuses what the readers refuse."""
    t = [QTensor("x", (1, 16, 4096, 4096), 1.0, 0)]
    nodes = []
    for i in range(4):
        t.append(QTensor(f"c{i}", (1, 16, 4096, 4096), 1.0, 0))
        nodes.append(QNode("CLAMP", f"c{i}", [0], [i + 1], [-128, 127]))
    model = QModel(t, nodes, [0], [4])
    assert sum(math.prod(x.shape) for x in t) > MAX_TOTAL_ELEMENTS
    with pytest.raises(FormatError, match="more than the limit 2\\^30"):
        check_model(model)
    with pytest.raises(FormatError, match="more than the limit 2\\^30"):
        parse_ecm(write_ecm(model))


def test_sparse_decoding_is_vectorized():
    """Sparse rows were decoded one Python loop iteration per row: 16 FC nodes of 65535 rows
    (sharing one 256 KB blob) took ~5 s to read. Vectorized: well under a second."""
    from edgecomp.packed.sparse import encode_rel8
    c_out = 65535
    w = np.zeros((c_out, 4), np.int8)
    w[::3, 1] = 5
    w[1::7, 3] = -9
    rs, vals, steps = encode_rel8(w)
    r = hostile_models.Raw()
    x = r.tensor("x", (1, 4))
    blobs = [r.blob(2, len(vals), rs.astype("<u4").tobytes() + vals.tobytes() + steps.tobytes()),
             r.blob(3, c_out, np.zeros(c_out, "<i4").tobytes()),
             r.blob(4, c_out, np.full(c_out, 1 << 30, "<i4").tobytes()),
             r.blob(5, c_out, np.full(c_out, 31, "<i4").tobytes())]
    for i in range(16):
        y = r.tensor(f"y{i}", (1, c_out))
        r.node(2, f"fc{i}", [x], y, [-128, 127], blobs)
        r.outputs.append(y)
    data = r.finish()
    t0 = time.monotonic()
    model = parse_ecm(data)
    assert time.monotonic() - t0 < 2
    for node in model.nodes:
        np.testing.assert_array_equal(node.weights, w)
    rt = Runtime(data)
    xq = np.array([[1, 2, 3, 4]], np.int8)
    np.testing.assert_array_equal(rt.run_outputs(xq)[15][0], (w.astype(np.int32) @ [1, 2, 3, 4]
                                                            + 1) // 2)
    rt.close()


# ---- every stored fuzz finding, through its target -------------------------------------------

@pytest.mark.parametrize("target", ["model", "reader", "frames", "device"])
def test_regression_corpus_replays_clean(target):
    files = regression_files(target)
    if target != "model":
        # also the targets' own seeds, so the invariants are exercised on real traffic
        inputs = [(f"seed{i}", s) for i, s in enumerate(targets.seeds(target))]
    else:
        inputs = []
    inputs += [(p.name, stored(p)) for p in files if not p.name.startswith("planner_bomb")]
    fn = targets.TARGETS["reader" if target == "model" else target]
    for name, data in inputs:
        try:
            fn(data)
        except Exception as e:  # pragma: no cover - the message names the input
            raise AssertionError(f"{target}/{name}: {type(e).__name__}: {e}") from e
    assert inputs
