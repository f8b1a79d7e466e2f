#!/usr/bin/env bash
# On a machine WITH network: put every wheel that scripts/train-gpu.sh needs (all of treediff's dependencies
# except torch, plus treediff itself) into one folder, for the Python version of an air-gapped GPU machine.
# Usage: scripts/gpu-wheels.sh [OUT_DIR=wheels] [PYTHON_VERSION=3.12] [PLATFORM=manylinux2014_x86_64]
# Copy OUT_DIR to the GPU machine next to the repository, then run scripts/train-gpu.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-wheels}
pyver=${2:-3.12}
platform=${3:-manylinux2014_x86_64}
PYTHON=${PYTHON:-python3}
mkdir -p "$out"
"$PYTHON" -m pip wheel -q --no-deps -w "$out" .
# treediff's runtime requirements without torch (the GPU machine brings its own CUDA build).
reqs=$("$PYTHON" - <<'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not d.replace(" ", "").startswith("torch")))
PY
)
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --only-binary=:all: --python-version "$pyver" --platform "$platform" \
  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform any -d "$out" $reqs
echo "wheels for Python $pyver in $out:"; ls "$out"
