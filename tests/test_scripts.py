"""The shell scripts users run: the GPU training script's logic, dry-run on the CPU with a tiny budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_train_gpu_script_trains_exports_and_evaluates_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "TREEDIFF_PYTHON": sys.executable, "DEVICE": "cpu", "PRESET": "tiny", "AMP": "off",
           "BATCH": "4", "EVAL_N": "1", "EVAL_BUDGET": "5", "OUT": str(out), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train-gpu.sh"), "csg2d", "0.02"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["domain"] == "csg2d" and meta["train_config"]["time_limit"] == 1.2
    assert (out / "model" / "model.safetensors").stat().st_size > 0
    assert json.loads((out / "edit-quality.json").read_text())
    assert (out / "eval" / "summary.md").exists()
    assert "exported:" in proc.stdout


def test_train_gpu_script_names_its_usage() -> None:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train-gpu.sh")], capture_output=True, text=True)
    assert proc.returncode != 0 and "usage: scripts/train-gpu.sh DOMAIN MINUTES" in proc.stderr
