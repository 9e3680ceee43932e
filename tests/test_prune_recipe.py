"""Pruning recipes: TOML round trip, clear errors, replay (API and CLI) giving the same model."""
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from edgecomp.compress import CompressOptions, compress, compress_to_file
from edgecomp.datasets import bundled_digits, load_labeled_folder, read_labels
from edgecomp.errors import EdgecompError
from edgecomp.evaluate import runtime_outputs
from edgecomp.packed import write_ecm
from edgecomp.packed.reader import load_ecm
from edgecomp.passes.prune import Granularity, LayerPrune, Rule
from edgecomp.passes.recipe import Recipe
from edgecomp.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


def sample_recipe():
    g = Granularity.parse
    return Recipe(
        layers={"conv1": LayerPrune(g("fine"), Rule("sparsity", 0.7)),
                "block.2/conv": LayerPrune(g("kernel"), Rule("std", 1.25)),
                'odd "name"\\ü': LayerPrune(g("filter"), Rule("threshold", 1e-05)),
                "fc": LayerPrune(g("2:4"))},
        norm="l1", reconstruct=True, ridge=0.003,
        analysis={"metric": "top1", "baseline": 0.9917, "search": ["a", 'b "q"'],
                  "weight_bytes": 5364},
        sensitivity={"conv1": {"sparsity": [0.1, 0.5], "snr_db": [math.inf, -3.5]}},
        notes={"conv1": "alone: drop 0.0"})


def test_toml_round_trip():
    r = sample_recipe()
    text = r.to_toml()
    doc = tomllib.loads(text)                                # plain TOML for any reader
    assert doc["layers"]["block.2/conv"] == {"granularity": "kernel", "std_ratio": 1.25}
    assert doc["layers"]["fc"] == {"granularity": "2:4"}
    back = Recipe.loads(text)
    assert back.layers == r.layers and list(back.layers) == list(r.layers)
    assert (back.norm, back.reconstruct, back.ridge) == ("l1", True, 0.003)
    assert back.analysis == r.analysis
    assert back.sensitivity["conv1"]["snr_db"] == [math.inf, -3.5]
    assert "# alone: drop 0.0" in text
    assert Recipe.loads(back.to_toml()).to_toml() == back.to_toml()


@pytest.mark.parametrize("text, message", [
    ("version = 2", "version 2 is not supported"),
    ("version = 1\nfoo = 1", "unknown key"),
    ("version = 1\nnorm = 'l3'", "norm 'l3'"),
    ("version = 1\n[layers.a]\ngranularity = 'fine'\nsparsity = 0.5\nstd_ratio = 1.0",
     "layer 'a': give exactly one of"),
    ("version = 1\n[layers.a]\ngranularity = '2:4'\nsparsity = 0.5", "takes no sparsity"),
    ("version = 1\n[layers.a]\ngranularity = 'blob'\nsparsity = 0.5", "layer 'a': unknown pruning"),
    ("version = 1\n[layers.a]\nsparsity = 0.5", "missing granularity"),
    ("version = 1\n[layers.a]\ngranularity = 'fine'\nsparsity = 1.5", r"layer 'a': sparsity 1.5"),
    ("version = 1\n[layers.a]\ngranularity = 'fine'\nsparsity = 'x'", "must be a number"),
    ("version = 1\n[layers", "not valid TOML"),
])
def test_bad_recipes_name_the_problem(text, message):
    with pytest.raises(EdgecompError, match=message):
        Recipe.loads(text, "r.toml")


def test_missing_recipe_file(tmp_path):
    with pytest.raises(EdgecompError, match="recipe file not found"):
        Recipe.load(tmp_path / "none.toml")


def blank(model):
    model.metadata = {}  # timings differ between runs; everything else must not
    return write_ecm(model)


def test_replaying_a_recipe_gives_the_same_model_bytes(tmp_path):
    b = bundled_digits()
    recipe = tmp_path / "r.toml"
    common = dict(calib_dir=b.calib_dir, preprocess=b.preprocess, show_progress=False)
    first = compress(b.onnx, CompressOptions(
        val_dir=b.test_dir, labels=read_labels(b.labels), sensitivity=True, max_drop=0.01,
        granularity="vector", sweep=(0.3, 0.6, 0.8), reconstruct=True, recipe=recipe, **common))
    assert recipe.exists() and first.pruning.recipe.layers
    again = compress(b.onnx, CompressOptions(recipe=recipe, **common))
    assert again.qmodel.metadata["pruning"] == first.qmodel.metadata["pruning"]
    assert blank(again.qmodel) == blank(first.qmodel)
    # and a recipe is not just ignored: another one gives another model
    other = Recipe.load(recipe)
    other.reconstruct = False
    other.save(tmp_path / "o.toml")
    plain = compress(b.onnx, CompressOptions(recipe=tmp_path / "o.toml", **common))
    assert blank(plain.qmodel) != blank(again.qmodel)


def test_conflicting_options_are_errors():
    b = bundled_digits()
    base = dict(calib_dir=b.calib_dir, preprocess=b.preprocess, show_progress=False)
    for kw, message in [(dict(prune=0.5, prune_rule="std:1"), "not both"),
                        (dict(prune=0.5, granularity="2:4"), "fixes the sparsity"),
                        (dict(sensitivity=True, prune=0.5), "chooses each layer"),
                        (dict(recipe=Path("r.toml"), prune=0.5), "fixes the pruning"),
                        (dict(granularity="kernel"), "needs something to prune")]:
        with pytest.raises(EdgecompError, match=message):
            compress(b.onnx, CompressOptions(**base, **kw))


def edgecomp(*args):
    return subprocess.run([sys.executable, "-P", "-m", "edgecomp", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_cli_sensitivity_report_and_replay(tmp_path):
    b = bundled_digits()
    out, recipe, report = tmp_path / "m.ecm", tmp_path / "r.toml", tmp_path / "rep"
    r = edgecomp("compress", b.onnx, "-o", out, "--calib", b.calib_dir, "--val", b.test_dir,
                 "--sensitivity", "--max-drop", "0.01", "--reconstruct", "--sweep",
                 "0.3,0.5,0.7,0.8", "--recipe", recipe, "--report", report)
    assert r.returncode == 0, r.stderr
    assert "sensitivity (sparsity sweep" in r.stdout and f"wrote recipe {recipe}" in r.stdout
    assert (report / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "pruning.json").exists() and (report / "sensitivity.json").exists()
    r = edgecomp("compress", b.onnx, "-o", tmp_path / "again.ecm", "--calib", b.calib_dir,
                 "--recipe", recipe)
    assert r.returncode == 0, r.stderr
    assert blank(load_ecm(out)) == blank(load_ecm(tmp_path / "again.ecm"))
    r = edgecomp("compress", b.onnx, "-o", tmp_path / "x.ecm", "--calib", b.calib_dir,
                 "--granularity", "3:2")
    assert r.returncode == 2 and "unknown pruning granularity '3:2'" in r.stderr


def test_cli_granularities_and_std_rule(tmp_path):
    b = bundled_digits()
    r = edgecomp("compress", b.onnx, "-o", tmp_path / "k.ecm", "--calib", b.calib_dir,
                 "--granularity", "kernel", "--threshold-rule", "std:0.8")
    assert r.returncode == 0, r.stderr
    model = load_ecm(tmp_path / "k.ecm")
    meta = model.metadata["pruning"]["layers"]
    assert {v[0] for v in meta.values()} == {"kernel"}            # [granularity, rule, sparsity]
    assert {v[1] for v in meta.values()} == {"std:0.8"}
    node = next(n for n in model.nodes if n.name == "res_a_conv")
    kernels = node.weights.reshape(16, 16, 9)
    # whole 3x3 kernels are zero (int8 rounding may zero a few more single weights)
    zero_kernels = (kernels == 0).all(axis=2).mean()
    assert 0 < zero_kernels == pytest.approx(meta["res_a_conv"][2], abs=1e-4)


def test_compress_is_deterministic_byte_for_byte(tmp_path):
    """The same model, images and options give the same file (timings stay out of it), so a
    deployed model can be identified by its hash."""
    b = bundled_digits()
    opts = CompressOptions(calib_dir=b.calib_dir, preprocess=b.preprocess, prune=0.5,
                           reconstruct=True, share_bits=5, huffman=True, show_progress=False)
    first = compress_to_file(b.onnx, tmp_path / "a.ecm", opts)
    compress_to_file(b.onnx, tmp_path / "b.ecm", opts)
    assert (tmp_path / "a.ecm").read_bytes() == (tmp_path / "b.ecm").read_bytes()
    assert all("seconds" in p for p in first.passes)          # the timings are still reported


def test_minimal_metadata_keeps_what_running_needs(tmp_path):
    """--metadata minimal drops the provenance (layers, passes, pruning, sharing) and keeps
    the preprocessing, the source hash and the quantization mode; the weights, graph and every
    output are those of the full file."""
    b = bundled_digits()
    common = dict(calib_dir=b.calib_dir, preprocess=b.preprocess, prune=0.5, share_bits=5,
                  show_progress=False)
    full = compress_to_file(b.onnx, tmp_path / "full.ecm", CompressOptions(**common))
    small = compress_to_file(b.onnx, tmp_path / "small.ecm",
                             CompressOptions(metadata="minimal", **common))
    meta = small.qmodel.metadata
    assert set(meta) == {"format", "producer", "input", "source", "quantization"}
    assert meta["input"] == full.qmodel.metadata["input"]
    assert meta["source"]["sha256"] == full.qmodel.metadata["source"]["sha256"]
    assert (tmp_path / "small.ecm").stat().st_size < (tmp_path / "full.ecm").stat().st_size - 1500
    x, _, _ = load_labeled_folder(b.test_dir, None, b.preprocess, limit=20)
    runs = [runtime_outputs(Runtime(tmp_path / f), load_ecm(tmp_path / f), x)
            for f in ("full.ecm", "small.ecm")]
    assert np.array_equal(runs[0], runs[1])
    with pytest.raises(EdgecompError, match="unknown metadata level 'some'"):
        compress(b.onnx, CompressOptions(metadata="some", **common))
