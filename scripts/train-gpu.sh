#!/usr/bin/env bash
# Train a domain's model on one GPU for a fixed wall-clock budget, export it and print its evaluation, on a
# machine that has torch (with CUDA) but no network. Other dependencies come from a wheel folder made
# beforehand by scripts/gpu-wheels.sh on a connected machine.
# Usage: scripts/train-gpu.sh DOMAIN MINUTES [WHEELS_DIR=wheels]
# Environment: MODEL (diffusion, the default: denoiser + value network; or ar: the autoregressive model that
#   TinySVG's search samples start programs and subtree rewrites from), PRESET (default "default"), DEVICE
#   (default cuda), AMP (default on: bf16), BATCH (default 256),
#   OUT (default runs/gpu-DOMAIN), EVAL_N (default 64), EVAL_BUDGET (default 2000),
#   TREEDIFF_PYTHON (a Python that already has treediff installed: skips the venv, e.g. for a CPU dry run).
set -euo pipefail
cd "$(dirname "$0")/.."
domain=${1:?usage: scripts/train-gpu.sh DOMAIN MINUTES [WHEELS_DIR]}
minutes=${2:?usage: scripts/train-gpu.sh DOMAIN MINUTES [WHEELS_DIR]}
wheels=${3:-wheels}
preset=${PRESET:-default}
device=${DEVICE:-cuda}
out=${OUT:-runs/gpu-$domain}
if [ -n "${TREEDIFF_PYTHON:-}" ]; then
  py=$TREEDIFF_PYTHON
else
  # A venv that sees the machine's own torch, with everything else from the wheel folder only.
  [ -x .venv-gpu/bin/python ] || python3 -m venv --system-site-packages .venv-gpu
  py=.venv-gpu/bin/python
  "$py" -c "import torch" || { echo "train-gpu.sh: this machine's python3 has no torch; install a CUDA build first" >&2; exit 2; }
  "$py" -m pip install -q --no-index --find-links "$wheels" treediff
fi
seconds=$("$py" -c "print(max(1.0, float('$minutes') * 60))")
steps=${STEPS:-1000000}
model=${MODEL:-diffusion}
"$py" -m treediff.engine.cli train "$domain" --model "$model" --preset "$preset" --device "$device" \
  --amp "${AMP:-on}" --batch-size "${BATCH:-256}" --steps "$steps" --time-limit "$seconds" --out "$out" \
  --export "$out/model"
if [ "$model" = ar ]; then
  # the AR model in the shipped denoiser's search (AR starts and subtree rewrites where its search.yaml asks for
  # them) and on its own, the AR baseline
  "$py" -m treediff.engine.cli eval "$domain" --ar-checkpoint "$out/model" --device "$device" \
    --n "${EVAL_N:-64}" --budget "${EVAL_BUDGET:-2000}" --methods beam,ar --out "$out/eval"
  echo "exported: $out/model (copy it to plugins/$domain/model_ar/ if eval beats the shipped AR model)"
  exit 0
fi
"$py" bench/edit_quality.py --domain "$domain" --checkpoint "$out/model" --device "$device" \
  --out "$out/edit-quality.json"
"$py" -m treediff.engine.cli eval "$domain" --checkpoint "$out/model" --device "$device" \
  --n "${EVAL_N:-64}" --budget "${EVAL_BUDGET:-2000}" --methods beam,mutation --out "$out/eval"
echo "exported: $out/model (copy it to plugins/$domain/model/ if eval beats the shipped model)"
