"""Only here for what pyproject.toml cannot say: cffi's builder, and shipping the C runtime
sources inside the package (edgecomp/runtime_src) so that `edgecomp deploy` from an installed
edgecomp can build the standalone runtime on a board.

edgecomp/_build_runtime.py compiles the C runtime (runtime/src/*.c, runtime/include/) into the
extension module edgecomp._edgert; pip builds it on `pip install .`.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RUNTIME_PARTS = ("Makefile", "README.md", "include", "src", "cli", "tests")


class BuildPyWithRuntime(build_py):
    def run(self):
        super().run()
        src = Path(__file__).resolve().parent / "runtime"
        dst = Path(self.build_lib) / "edgecomp" / "runtime_src"
        if dst.exists():
            shutil.rmtree(dst)
        for part in RUNTIME_PARTS:
            p = src / part
            if p.is_dir():
                shutil.copytree(p, dst / part, ignore=shutil.ignore_patterns("build*", "*.o"))
            elif p.exists():
                dst.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, dst / part)


setup(cffi_modules=["edgecomp/_build_runtime.py:ffibuilder"],
      cmdclass={"build_py": BuildPyWithRuntime})
