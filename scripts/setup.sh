#!/usr/bin/env bash
# Set up a fresh Debian machine for edgecomp, idempotently (reruns take a second or two):
#   1. the Debian packages the build and the tests need (apt runs only when one is missing);
#   2. a virtual environment in .venv with edgecomp installed by `pip install .[test]`
#      (reinstalled only when the sources changed since the last install).
# Run as root, or as a user who may sudo. Works without a terminal (CI).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(build-essential gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user socat
              openssh-server openssh-client clang chromium-headless-shell valgrind libclang-rt-14-dev)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$pkg")
done
# Debian's own python3 needs python3-venv for `python3 -m venv`; other Pythons bring ensurepip.
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)

if ((${#missing[@]})); then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "setup: installing Debian packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
else
    echo "setup: Debian packages present"
fi

if ! .venv/bin/python -c 'import sys' 2>/dev/null; then
    echo "setup: creating .venv"
    python3 -m venv --clear .venv
fi

# Everything that goes into the installed package; a change to any of it means reinstall.
sources_hash() {
    local paths=() p
    for p in pyproject.toml setup.py MANIFEST.in README.md edgecomp firmware_io runtime/Makefile runtime/include runtime/src runtime/cli runtime/tests; do
        if [[ -e $p ]]; then paths+=("$p"); fi
    done
    find "${paths[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.py[cod]' ! -name '*.so' \
        -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1
}
stamp=.venv/.edgecomp-installed
want="$(sources_hash)"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && .venv/bin/python -c 'import edgecomp' \
        2>/dev/null; then
    echo "setup: edgecomp already installed in .venv and up to date"
else
    echo "setup: pip install .[test] into .venv"
    rm -f "$stamp"
    # pip builds in the source tree; drop setuptools' old objects so a changed C header
    # cannot leave a stale extension behind (build/ may also hold demo output: keep that).
    rm -rf build/lib.* build/temp.* build/bdist.* ./*.egg-info
    PIP_NO_INPUT=1 .venv/bin/python -m pip install --disable-pip-version-check \
        --progress-bar off -q ".[test]"
    echo "$want" > "$stamp"
fi
echo "setup: done ($(.venv/bin/python --version), edgecomp in .venv)"
