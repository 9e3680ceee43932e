"""cffi (API mode, out of line) builder of ``edgecomp._edgert``: the C runtime of runtime/src
compiled into an extension module, with runtime/include/edgert.h as its interface.

Packaging: setup.py passes ``cffi_modules=["edgecomp/_build_runtime.py:ffibuilder"]``.
In place, from anywhere: ``python edgecomp/_build_runtime.py`` (writes edgecomp/_edgert*.so).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime"

HEADER = RUNTIME / "include" / "edgert.h"


def header_cdef(text: str) -> str:
    """edgert.h as cffi's cdef parser takes it (it has no preprocessor): comments, the include
    guard, #includes and the C++ wrapper removed, integer #defines kept. Generated from the
    header so the two can never disagree."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    out, in_cplusplus = [], False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            if s.startswith("#ifdef __cplusplus"):
                in_cplusplus = True
            elif in_cplusplus and s.startswith("#endif"):
                in_cplusplus = False
            elif m := re.fullmatch(r"#define\s+(EDGERT_\w+)\s+(-?\d+)", s):
                out.append(f"#define {m[1]} {m[2]}")
            continue
        if not in_cplusplus and s:
            out.append(line)
    return "\n".join(out) + "\n"


def _relative(p: Path) -> str:
    """Relative to the working directory when below it (setuptools runs from the repo root and
    wants relative paths), else absolute."""
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def make_builder(path=_relative) -> FFI:
    ffi = FFI()
    ffi.cdef(header_cdef(HEADER.read_text(encoding="utf-8")))
    sources = sorted(RUNTIME.glob("src/*.c")) + sorted(RUNTIME.glob("src/kernels/*.c"))
    ffi.set_source(
        "edgecomp._edgert",
        '#include "edgert.h"',
        sources=[path(p) for p in sources],
        include_dirs=[path(RUNTIME / "include")],
        extra_compile_args=["-O2", "-std=c11", "-pthread"],
        extra_link_args=["-pthread"],
    )
    return ffi


ffibuilder = make_builder()


def build_inplace() -> Path:
    """Compile in a scratch directory (objects stay out of the tree) and copy the module to
    edgecomp/; returns its path."""
    with tempfile.TemporaryDirectory(prefix="edgert-build-") as tmp:
        built = Path(make_builder(str).compile(tmpdir=tmp, verbose=False))
        target = ROOT / "edgecomp" / built.name
        shutil.copyfile(built, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)  # atomic: a running import never
        return target                                   # sees half a file


def ensure_inplace_current() -> Path:
    """The in-tree module, rebuilt first when any runtime source or header is newer than it
    (or it is missing): a benchmark run from the source tree must not time a stale build."""
    found = sorted((ROOT / "edgecomp").glob("_edgert.*.so"))
    newest = max(p.stat().st_mtime for p in (RUNTIME / "src").rglob("*")
                 if p.suffix in (".c", ".h", ".def"))
    newest = max(newest, (RUNTIME / "include" / "edgert.h").stat().st_mtime)
    if found and found[-1].stat().st_mtime >= newest:
        return found[-1]
    return build_inplace()


if __name__ == "__main__":
    print(build_inplace())
