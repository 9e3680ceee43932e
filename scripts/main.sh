#!/usr/bin/env bash
# Set up the machine, then run the main job: `edgecomp demo` (compress the bundled digits CNN,
# report float vs int8 accuracy on the held-out images, run it on the C runtime).
# Extra arguments go to `edgecomp demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/edgecomp demo "$@"
