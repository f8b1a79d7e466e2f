#!/usr/bin/env bash
# Install treediff into .venv and run the main job: solve the bundled targets with the shipped models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/treediff demo --out "${1:-demo-out}"
