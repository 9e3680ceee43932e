"""Golden cases on disk (tests/golden/<case>/): the packed model, an input and the expected output
that the standalone C runtime checks on the host and under qemu-aarch64 (runtime/Makefile).

Here: every stored expected output is what the numpy integer reference computes today from the
stored model and input, and the format-level random cases regenerate to the same bytes, so a
change of format or semantics cannot slip by without regenerating them (tools/make_golden.py).
"""
from pathlib import Path

import numpy as np
import pytest

from edgecomp.exec_int import run_int
from edgecomp.packed import parse_ecm, write_ecm
from edgecomp.testing.random_qmodels import random_qmodel

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def test_golden_cases_exist():
    assert len(CASES) >= 14 and any(c.startswith("digits") for c in CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden_expected_output_matches_reference(case):
    d = GOLDEN / case
    model = parse_ecm((d / "model.ecm").read_bytes())
    x = np.frombuffer((d / "input.bin").read_bytes(), np.int8).reshape(model.input.shape)
    y = run_int(model, x)[model.outputs[0]]
    assert y.tobytes() == (d / "expected.bin").read_bytes()


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("random_")])
def test_random_golden_models_regenerate_byte_identical(case):
    seed = int(case.split("_")[1])
    assert write_ecm(random_qmodel(seed)) == (GOLDEN / case / "model.ecm").read_bytes()
