"""The installed package: console script, `python -m edgecomp`, compiled extension, package data.

These run in a scratch directory with PYTHONPATH cleared, so they see what `pip install .`
put in the environment of the running interpreter (scripts/setup.sh installs into .venv), never
the source tree. Nothing here is skipped: a missing install is a failure.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

COMMANDS = ("compress", "inspect", "run", "demo")


@pytest.fixture
def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def installed_python(code: str, cwd: Path, env: dict[str, str]) -> str:
    proc = run([sys.executable, "-c", code], cwd, env)
    assert proc.returncode == 0, f"{code!r} failed in the installed package:\n{proc.stderr}"
    return proc.stdout


def test_console_script_help(tmp_path, clean_env):
    script = Path(sysconfig.get_path("scripts")) / "edgecomp"
    assert script.is_file(), (f"no edgecomp console script in {script.parent}: install the "
                              f"package (bash scripts/setup.sh) and run the tests with its Python")
    proc = run([str(script), "--help"], tmp_path, clean_env)
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout.lower()
    for command in COMMANDS:
        assert command in proc.stdout, f"`edgecomp --help` does not mention {command}"


def test_python_dash_m_matches_console_script(tmp_path, clean_env):
    proc = run([sys.executable, "-m", "edgecomp", "--help"], tmp_path, clean_env)
    assert proc.returncode == 0, proc.stderr
    script = Path(sysconfig.get_path("scripts")) / "edgecomp"
    # Same parser, same program name ("edgecomp", not "__main__.py"), same text.
    assert proc.stdout == run([str(script), "--help"], tmp_path, clean_env).stdout


def test_installed_version_matches_package(tmp_path, clean_env):
    out = installed_python("import edgecomp, importlib.metadata as m; "
                           "print(edgecomp.__version__, m.version('edgecomp'))", tmp_path,
                           clean_env)
    package_version, dist_version = out.split()
    assert package_version == dist_version


def test_compiled_runtime_extension_is_installed(tmp_path, clean_env):
    out = installed_python("import edgecomp._edgert as m; print(m.__file__)", tmp_path,
                           clean_env)
    assert Path(out.strip()).suffix in (".so", ".pyd")


def test_bundled_data_is_installed(tmp_path, clean_env):
    out = installed_python(
        "from edgecomp.datasets import bundled_digits\n"
        "d = bundled_digits()\n"
        "print(d.onnx.is_file(), d.labels.is_file(), len(list(d.test_dir.glob('*.png'))),"
        " len(list(d.calib_dir.glob('*.png'))), len(list(d.val_dir.glob('*.png'))))",
        tmp_path, clean_env)
    assert out.split() == ["True", "True", "360", "500", "360"]


def test_extension_declares_every_function_of_the_public_header():
    """The cffi declarations are generated from runtime/include/edgert.h (_build_runtime.py):
    every function and constant of the header is reachable from Python, with its value."""
    import re

    from edgecomp import _edgert

    header = (Path(__file__).resolve().parent.parent / "runtime" / "include" /
              "edgert.h").read_text()
    functions = set(re.findall(r"\b(edgert_\w+)\s*\(", header))
    assert len(functions) >= 25
    assert functions <= set(dir(_edgert.lib)), functions - set(dir(_edgert.lib))
    for name, value in re.findall(r"#define\s+(EDGERT_\w+)\s+(\d+)\s", header):
        assert getattr(_edgert.lib, name) == int(value), name
