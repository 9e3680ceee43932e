"""Pruning recipes: a readable TOML file saying how to prune each layer, which
``edgecomp compress --recipe FILE`` replays exactly.

    version = 1
    norm = "l2"              # group saliency norm (prune.py)
    reconstruct = true       # least-squares refit after pruning (reconstruct.py)
    ridge = 0.001

    [layers.res_a_conv]      # one table per pruned layer; layers not listed stay dense
    granularity = "fine"     # fine | vector | kernel | filter | N:M
    sparsity = 0.7           # or threshold = 0.05, or std_ratio = 1.2; none for N:M

    [analysis]               # how the recipe was found: informative, not replayed
    [sensitivity.res_a_conv] # the sweep's curve: informative, not replayed

Reading uses tomllib; writing is done here (plain scalars, flat lists and tables are all a
recipe holds).
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EdgecompError
from .prune import NORMS, Granularity, LayerPrune, Rule
from .reconstruct import DEFAULT_RIDGE

VERSION = 1
_RULE_KEYS = {"sparsity": "sparsity", "threshold": "threshold", "std_ratio": "std"}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class Recipe:
    layers: dict[str, LayerPrune]
    norm: str = "l2"
    reconstruct: bool = False
    ridge: float = DEFAULT_RIDGE
    analysis: dict[str, Any] = field(default_factory=dict)
    sensitivity: dict[str, dict[str, list]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # per-layer comment line

    def to_toml(self) -> str:
        out = ["# edgecomp pruning recipe: `edgecomp compress MODEL --recipe FILE` replays it.",
               "# Per layer: granularity and one rule (sparsity | threshold | std_ratio; none "
               "for N:M).", "",
               f"version = {VERSION}", f"norm = {_value(self.norm)}",
               f"reconstruct = {_value(self.reconstruct)}", f"ridge = {_value(self.ridge)}"]
        for name, spec in self.layers.items():
            out += ["", f"[layers.{_key(name)}]"]
            if name in self.notes:
                out.append(f"# {self.notes[name]}")
            out.append(f"granularity = {_value(str(spec.granularity))}")
            if not spec.granularity.is_nm and spec.rule is not None:
                key = {v: k for k, v in _RULE_KEYS.items()}[spec.rule.kind]
                out.append(f"{key} = {_value(spec.rule.value)}")
        if self.analysis:
            out += ["", "[analysis]"] + [f"{_key(k)} = {_value(v)}"
                                         for k, v in self.analysis.items()]
        for name, curve in self.sensitivity.items():
            out += ["", f"[sensitivity.{_key(name)}]"] + [f"{_key(k)} = {_value(v)}"
                                                          for k, v in curve.items()]
        return "\n".join(out) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml(), encoding="utf-8")

    @staticmethod
    def load(path: str | Path) -> "Recipe":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise EdgecompError(f"recipe file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise EdgecompError(f"cannot read recipe {path}: {e}") from None
        return Recipe.loads(text, str(path))

    @staticmethod
    def loads(text: str, where: str = "recipe") -> "Recipe":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise EdgecompError(f"{where}: not valid TOML ({e})") from None
        if doc.get("version") != VERSION:
            raise EdgecompError(f"{where}: version {doc.get('version')!r} is not supported "
                                f"(this edgecomp reads version {VERSION})")
        unknown = set(doc) - {"version", "norm", "reconstruct", "ridge", "layers", "analysis",
                              "sensitivity"}
        if unknown:
            raise EdgecompError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        norm = doc.get("norm", "l2")
        if norm not in NORMS:
            raise EdgecompError(f"{where}: norm {norm!r} must be one of {', '.join(NORMS)}")
        reconstruct = doc.get("reconstruct", False)
        ridge = doc.get("ridge", DEFAULT_RIDGE)
        if not isinstance(reconstruct, bool):
            raise EdgecompError(f"{where}: reconstruct must be true or false")
        if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or not ridge >= 0:
            raise EdgecompError(f"{where}: ridge must be a number >= 0, got {ridge!r}")
        layers = {name: _layer(spec, f"{where}: layer {name!r}")
                  for name, spec in doc.get("layers", {}).items()}
        return Recipe(layers, norm, reconstruct, float(ridge), doc.get("analysis", {}),
                      doc.get("sensitivity", {}))


def _layer(spec: Any, where: str) -> LayerPrune:
    if not isinstance(spec, dict):
        raise EdgecompError(f"{where}: must be a table")
    unknown = set(spec) - {"granularity", *_RULE_KEYS}
    if unknown:
        raise EdgecompError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "granularity" not in spec:
        raise EdgecompError(f"{where}: missing granularity")
    try:
        g = Granularity.parse(spec["granularity"])
    except EdgecompError as e:
        raise EdgecompError(f"{where}: {e}") from None
    rules = [k for k in _RULE_KEYS if k in spec]
    if g.is_nm:
        if rules:
            raise EdgecompError(f"{where}: N:M granularity {g} takes no {rules[0]}")
        return LayerPrune(g)
    if len(rules) != 1:
        raise EdgecompError(f"{where}: give exactly one of {', '.join(_RULE_KEYS)} "
                            f"(found {', '.join(rules) or 'none'})")
    value = spec[rules[0]]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EdgecompError(f"{where}: {rules[0]} must be a number, got {value!r}")
    return LayerPrune(g, Rule(_RULE_KEYS[rules[0]], float(value)).check(where))


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    esc = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    return '"' + "".join(esc.get(c, c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}")
                         for c in s) + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(float(v))  # shortest text that reads back to the same float
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if hasattr(v, "item"):  # numpy scalar
        return _value(v.item())
    raise EdgecompError(f"recipe: cannot write a value of type {type(v).__name__}")
