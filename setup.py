"""Only here to hand cffi its builder: all other metadata lives in pyproject.toml.

edgecomp/_build_runtime.py compiles the C runtime (runtime/src/*.c, runtime/include/) into the
extension module edgecomp._edgert; pip builds it on `pip install .`.
"""
from setuptools import setup

setup(cffi_modules=["edgecomp/_build_runtime.py:ffibuilder"])
