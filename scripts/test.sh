#!/usr/bin/env bash
# Set up the machine, then run every test: the C runtime's tests (native, and cross-built for
# aarch64 under qemu) and the Python suite against the installed package. Every step runs even
# after a failure, so one run shows all of them; the exit status is non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

failed=()
step() {
    echo "=== $*"
    "$@" || failed+=("$*")
}
step make -C runtime test
step make -C runtime CROSS=aarch64-linux-gnu- qemu-test
# hardening (docs/hardening.md): ASan+UBSan tests, ~60 s per fuzz target, valgrind on the CLI
step make -C runtime sanitize-test
step make -C runtime fuzz-short
step make -C runtime valgrind-test
# -P: do not put the working directory on sys.path, so the tests import the installed edgecomp
# (with its compiled extension and package data), not the source tree.
step .venv/bin/python -P -m pytest -q tests

if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
